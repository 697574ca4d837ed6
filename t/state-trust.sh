#!/bin/sh
# The state directory is trusted (its grants open again at start, its
# positions say where reading resumes), so it is guarded, and each attack
# is made for real: a state directory others may write, or under a
# directory others may change, or holding a file another user put there, is
# refused (at start, exit 2; at a reload, which keeps the running
# configuration); a second daemon on the same state directory exits 1
# naming the first one's pid, whose lock survives its privilege drop; a
# grants file with a repeated ID, or a grant twice, written by hand opens
# nothing and closes what it names; --replay touches no state directory.
# In the same runs a real knock still opens.
. "${top_srcdir:-$(dirname "$0")/..}/t/lib.sh"
need_binaries
[ "$(id -u)" -eq 0 ] || skip_all "needs root (chown, a second user)"
id nobody >/dev/null 2>&1 || skip_all "no user nobody"
plan 27

NOBODY=$(id -u nobody)
chmod 755 "$TMP"
LOG=$TMP/kern.log
CMDS=$TMP/cmds
STATE=$TMP/state
: >"$LOG"
: >"$CMDS"
chmod 644 "$LOG"
chmod 666 "$CMDS"
printf '#!/bin/sh\nprintf "%%s\\n" "$*" >>"%s"\n' "$CMDS" >"$TMP/rec.sh"
chmod 755 "$TMP/rec.sh"

conf() { # conf [extra doors on stdin]
	cat >"$TMP/conf.yaml" <<EOF
# net.netfilter.nf_log_all_netns is the host's: another test may hold it at 1 meanwhile
accept_nf_log_all_netns: true
sources:
  - file: $LOG
prefix: "KNOCK "
user: nobody
state_dir: $STATE
applier:
  backend: command
  open: [$TMP/rec.sh, open, "%DOOR%", "%IP%", "%PROTO%", "%PORT%"]
  close: [$TMP/rec.sh, close, "%DOOR%", "%IP%", "%PROTO%", "%PORT%"]
doors:
  - name: ssh
    sequence: [tcp/7000]
    open: [tcp/22]
    duration: 60s
EOF
	cat >>"$TMP/conf.yaml"
}
conf </dev/null

knock() { knock_line "$LOG" "$@"; }

PID=
# start NAME [DIR]: the daemon in the background (state in DIR, default the
# configuration's), stderr in $TMP/NAME.err; true once it follows its source.
start() {
	ERR=$TMP/$1.err
	"$LOGKNOCKD" -v -v -c "$TMP/conf.yaml" ${2:+--state-dir "$2"} 2>"$ERR" &
	PID=$!
	wait_for "$ERR" "following 1 sources" 5
}
stop() { stop_pid "$PID"; PID=; }
# refused NAME DIR: the daemon run in the foreground on DIR; its exit status in $rc.
refused() {
	ERR=$TMP/$1.err
	"$LOGKNOCKD" -c "$TMP/conf.yaml" --state-dir "$2" 2>"$ERR"
	rc=$?
}
trap 'stop_pid "$PID"; rm -rf "$TMP"' EXIT

# 1. A state directory any local user may write.
mkdir "$TMP/ww" && chmod 777 "$TMP/ww"
refused ww "$TMP/ww"
check "a world-writable state directory: exit 2" [ $rc -eq 2 ]
check "... saying who can change it, and what to do" \
	grep -q "state directory $TMP/ww: $TMP/ww can be changed by any local user (mode 0777, owner 0): .*refusing it. Make it owned by the daemon's user (uid $NOBODY) with mode 0700" "$ERR"
check "... before the applier started (nothing flushed, no lock taken)" \
	sh -c "! grep -q 'logknock-apply' '$ERR' && [ ! -e '$TMP/ww/lock' ]"

# 2. A directory above it that its group may write (not sticky).
mkdir "$TMP/grp" && chmod 770 "$TMP/grp" && mkdir -m 700 "$TMP/grp/state"
refused grp "$TMP/grp/state"
check "a group-writable directory above it: exit 2, naming that directory" \
	sh -c "[ $rc -eq 2 ] && grep -q 'state directory $TMP/grp/state: $TMP/grp can be changed by any member of group 0 (mode 0770' '$ERR'"

# 3. A directory above it owned by another user (who could chmod it).
mkdir -m 755 "$TMP/other" && chown 4242 "$TMP/other" && mkdir -m 700 "$TMP/other/state"
refused other "$TMP/other/state"
check "a directory above it owned by another user: exit 2" \
	sh -c "[ $rc -eq 2 ] && grep -q '$TMP/other can be changed by user 4242 (its owner)' '$ERR'"

# 4. A file another user put in it (a grants file of their own).
mkdir -m 700 "$TMP/planted"
printf '1 inet 192.0.2.66 tcp 22 1 9999999999999999 ssh\n' >"$TMP/planted/grants"
chown 4242 "$TMP/planted/grants"
refused planted "$TMP/planted"
check "a file of another user in it: exit 2, naming the file" \
	sh -c "[ $rc -eq 2 ] && grep -q 'state directory $TMP/planted: grants is owned by uid 4242, neither root nor the daemon.s user' '$ERR'"
check "... and nothing of it opened" sh -c "! grep -q 192.0.2.66 '$CMDS'"

# 5. Under a sticky directory owned by root (as /tmp): accepted; a knock opens.
mkdir "$TMP/sticky" && chmod 1777 "$TMP/sticky"
check "under a root-owned sticky directory (as /tmp): starts" start sticky "$TMP/sticky/state"
knock 192.0.2.5 7000
check "... and a knock opens" wait_for "$CMDS" "^open ssh 192.0.2.5 tcp 22$"
stop

# 5b. Missing parents (a /usr/local build's /usr/local/var/lib): made 0755,
# the state directory itself 0700.
check "missing parents of the state directory: starts" start deep "$TMP/deep/var/lib/logknock"
knock 192.0.2.6 7000
wait_for "$CMDS" "^open ssh 192.0.2.6 tcp 22$" 10
check "... a knock opens; parents 755, the state directory 700" \
	sh -c "grep -q '^open ssh 192.0.2.6 tcp 22\$' '$CMDS' &&
		[ \"\$(stat -c %a '$TMP/deep' '$TMP/deep/var' '$TMP/deep/var/lib' '$TMP/deep/var/lib/logknock' | tr '\n' ' ')\" = '755 755 755 700 ' ]"
stop

# 6. One daemon per state directory. The first drops its privileges to
# nobody; its lock stays.
check "the daemon starts (as root, then user nobody)" start first
FIRST=$PID
uid_of() { awk '$1 == "Uid:" { print $2 }' "/proc/$1/status"; }
check "... and runs as nobody, holding $STATE/lock with its pid" \
	sh -c "[ '$(uid_of "$FIRST")' = $NOBODY ] && [ \"\$(cat '$STATE/lock')\" = $FIRST ]"
"$LOGKNOCKD" -c "$TMP/conf.yaml" 2>"$TMP/second.err"
rc=$?
check "a second daemon on the same state directory: exit 1" [ $rc -eq 1 ]
check "... naming the pid of the first" \
	grep -q "state directory $STATE is in use by another logknockd (pid $FIRST, holding $STATE/lock)" "$TMP/second.err"
check "... without starting an applier (which would flush the first one's grants)" \
	sh -c "! grep -q 'logknock-apply' '$TMP/second.err'"
knock 192.0.2.6 7000
check "the first one still opens doors" wait_for "$CMDS" "^open ssh 192.0.2.6 tcp 22$"

# 7. --replay uses no state directory: it runs while the daemon holds the
# lock, and changes nothing in it.
ls -A "$STATE" >"$TMP/before"
knock_line "$TMP/replay.log" 192.0.2.7 7000
"$LOGKNOCKD" -c "$TMP/conf.yaml" --replay "$TMP/replay.log" >"$TMP/replay.out" 2>"$TMP/replay.err"
rc=$?
ls -A "$STATE" >"$TMP/after"
check "--replay runs beside the daemon (exit 0, the door opens in its output)" \
	sh -c "[ $rc -eq 0 ] && grep -q '\"event\":\"open\".*\"src\":\"192.0.2.7\"' '$TMP/replay.out'"
same "... and adds nothing to the state directory" "$TMP/before" "$TMP/after"

# 8. A reload after the state directory became world-writable: refused,
# the running configuration kept; once mended, the reload goes through.
conf <<EOF
  - name: web
    sequence: [tcp/7004]
    open: [tcp/443]
EOF
chmod 777 "$STATE"
kill -HUP "$FIRST"
check "reload with a world-writable state directory: refused" \
	wait_for "$ERR" "reload: the state directory is not safe (above); keeping the running configuration"
knock 192.0.2.8 7004
knock 192.0.2.8 7000
wait_for "$CMDS" "^open ssh 192.0.2.8 " >/dev/null
check "... the running configuration kept: the new door does not open, the old one does" \
	sh -c "grep -q '^open ssh 192.0.2.8 tcp 22$' '$CMDS' && ! grep -q '^open web ' '$CMDS'"
chmod 700 "$STATE"
kill -HUP "$FIRST"
check "mended, the reload goes through" wait_for "$ERR" "reloaded $TMP/conf.yaml: 2 doors"
stop
conf </dev/null

# 9. A grants file written by hand with one ID twice (two rules, one of
# which no close would ever remove), then one with a grant twice.
now=$(($(date +%s) * 1000000))
until=$((now + 600000000))
printf '7 inet 192.0.2.50 tcp 22 %s %s ssh\n7 inet 192.0.2.51 tcp 22 %s %s ssh\n' \
	$now $until $now $until >"$STATE/grants"
: >"$CMDS"
check "a grants file with a repeated ID: the daemon starts" start dupid
check "... says so as an error, naming the line" \
	grep -q "error: $STATE/grants: refused: line 2: grant ID 7 a second time (2 well-formed grants in it closed, none opened again).*moved to $STATE/grants.refused" "$ERR"
wait_for "$CMDS" "^close ssh 192.0.2.51 " >/dev/null
check "... opens none of its grants, and closes both" \
	sh -c "! grep -q '^open' '$CMDS' && grep -q '^close ssh 192.0.2.50 tcp 22$' '$CMDS' && grep -q '^close ssh 192.0.2.51 tcp 22$' '$CMDS'"
knock 192.0.2.9 7000
wait_for "$CMDS" "^open ssh 192.0.2.9 tcp 22$" >/dev/null
check "... a real knock opens (once), and the refused file is kept aside" \
	sh -c "[ \$(grep -c '^open ssh 192.0.2.9 ' '$CMDS') = 1 ] && [ -f '$STATE/grants.refused' ]"
stop
printf '8 inet 192.0.2.52 tcp 22 %s %s ssh\n9 inet 192.0.2.52 tcp 22 %s %s ssh\n' \
	$now $until $now $until >"$STATE/grants"
: >"$CMDS"
start doubled
wait_count "$CMDS" "^close ssh 192.0.2.52 tcp 22$" 2 >/dev/null
check "a grants file with a grant twice: refused, nothing opened, closed" \
	sh -c "grep -q 'refused: line 2: a second grant of tcp/22 to 192.0.2.52 (IDs 8 and 9)' '$ERR' && ! grep -q '^open' '$CMDS' && [ \$(grep -c '^close ssh 192.0.2.52 tcp 22$' '$CMDS') = 2 ]"
stop

if [ $tap_failed -gt 0 ]; then
	for f in "$TMP"/*.err; do
		echo "# $f:"
		tail -20 "$f" | diag
	done
	echo "# commands:"
	diag "$CMDS"
fi
done_testing
