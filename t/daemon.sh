#!/bin/sh
# The live daemon on a followed file: knocks appended to the log open a door
# through the command backend, grants close on time, forged lines open
# nothing, reloads keep a running configuration, a restart after kill -9
# loses and repeats nothing, and SIGTERM closes what is open.
. "${top_srcdir:-$(dirname "$0")/..}/t/lib.sh"
need_binaries
plan 31

LOG=$TMP/kern.log
STATE=$TMP/state
CMDS=$TMP/cmds
: >"$LOG"
: >"$CMDS"
mkdir "$STATE"
cat >"$TMP/rec.sh" <<EOF
#!/bin/sh
printf '%s\n' "\$*" >>"$CMDS"
EOF
chmod 755 "$TMP/rec.sh"

write_conf() { # extra doors on stdin
	cat >"$TMP/conf.yaml" <<EOF
# net.netfilter.nf_log_all_netns is the host's: another test may hold it at 1 meanwhile
accept_nf_log_all_netns: true
sources:
  - file: $LOG
prefix: "KNOCK "
applier:
  backend: command
  open: [$TMP/rec.sh, open, "%DOOR%", "%FAMILY%", "%IP%", "%PROTO%", "%PORT%", "%SECONDS%"]
  close: [$TMP/rec.sh, close, "%DOOR%", "%IP%", "%PROTO%", "%PORT%"]
  timeout: 2s
doors:
  - name: ssh
    sequence: [tcp/7000, tcp/8000, tcp/9000]
    window: 20s
    open: [tcp/22]
    duration: 2s
EOF
	cat >>"$TMP/conf.yaml"
}

# knock SRC DPORT [TAG]: a kernel knock line (knock_line) appended to the followed log.
knock() { knock_line "$LOG" "$@"; }

PID=
start() {
	"$LOGKNOCKD" -v -v -c "$TMP/conf.yaml" --state-dir "$STATE" >>"$TMP/d.out" 2>>"$TMP/d.err" &
	PID=$!
	wait_for "$TMP/d.err" "following 1 sources" 5
}
stop_daemon() { # stop_daemon SIGNAL: the daemon we started, and its exit status
	kill "-$1" "$PID" 2>/dev/null
	wait "$PID"
	st=$?
	PID=
	return $st
}
# saved: until the state directory holds the position at the log's end and
# the grants file names every source in "$@" (the state is saved at most a
# second after it changes: logknockd(8), THE STATE DIRECTORY); at most 3 s.
saved() {
	i=0
	while [ $i -lt 150 ]; do
		f=$(ls "$STATE"/file-* 2>/dev/null | head -n 1)
		if [ -n "$f" ] && read -r _dev _ino off _warm <"$f" && [ "$off" = "$(wc -c <"$LOG" | tr -d ' ')" ]; then
			all=1
			for ip in "$@"; do grep -q " $ip " "$STATE/grants" 2>/dev/null || all=0; done
			[ $all = 1 ] && return 0
		fi
		sleep 0.02
		i=$((i + 1))
	done
	return 1
}
# one_rule: never two rules for the same source and port at once in the
# commands run so far (an open while the same one is open is a duplicate).
one_rule() {
	awk '$1 == "open" { k = $4 " " $5 " " $6; if (++n[k] > 1) { print "twice: " $0; bad = 1 } }
	     $1 == "close" { k = $3 " " $4 " " $5; if (n[k] > 0) n[k]-- }
	     END { exit bad }' "$CMDS"
}
trap '[ -n "$PID" ] && kill -KILL "$PID" 2>/dev/null; rm -rf "$TMP"' EXIT

# The applier opens only the ports the doors open when it starts: "spare"
# makes room for the doors a reload below brings.
write_conf <<EOF
  - name: spare
    sequence: [tcp/7009]
    open: [tcp/443, tcp/8443]
    duration: 2s
EOF
check "daemon starts and follows the file" start

knock 192.0.2.2 7000
knock 192.0.2.2 8000
knock 192.0.2.2 9000
check "a sequence runs the open command with its arguments" \
	wait_for "$CMDS" "^open ssh inet 192.0.2.2 tcp 22 2$"
check "the grant closes on time (2 s)" wait_for "$CMDS" "^close ssh 192.0.2.2 tcp 22$" 5

knock 192.0.2.66 7000 evil
knock 192.0.2.66 8000 evil
knock 192.0.2.66 9000 evil
knock 192.0.2.3 7000
knock 192.0.2.3 8000
knock 192.0.2.3 9000
wait_for "$CMDS" "^open ssh inet 192.0.2.3 " >/dev/null
check "lines of another program (a forgery) open nothing; a real sequence after them does" \
	sh -c "grep -q '^open ssh inet 192.0.2.3 ' '$CMDS' && ! grep -q 192.0.2.66 '$CMDS'"

# A forged line stamped in the future must not move the clock: the open
# grant of .3 (2 s) is not closed by it.
printf '9999-12-31T23:59:59.000000+00:00 vm kernel: [ 93.717774] KNOCK IN=kn-s OUT= MAC= SRC=192.0.2.67 DST=192.0.2.1 LEN=60 TOS=0x00 PREC=0x00 TTL=64 ID=1 DF PROTO=TCP SPT=1 DPT=7000 WINDOW=64240 RES=0x00 SYN URGP=0 \n' >>"$LOG"
wait_for "$TMP/d.err" "timestamp in the future" >/dev/null
check "a line stamped in the future is refused and closes nothing" \
	sh -c "grep -q 'skipped: timestamp in the future' '$TMP/d.err' && ! grep -q '^close ssh 192.0.2.3 ' '$CMDS'"

# A partial sequence and a wrong knock.
knock 192.0.2.5 7000
knock 192.0.2.5 8000
knock 192.0.2.5 8001
knock 192.0.2.5 9000
sleep 0.3
check "a wrong knock resets the attempt" sh -c "! grep -q 192.0.2.5 '$CMDS'"

# Reload with a bad configuration: reported, the running one kept.
printf 'doors: [\n' >"$TMP/conf.yaml"
kill -HUP "$PID"
check "reload with a bad configuration is reported as FILE:LINE:COL" \
	wait_for "$TMP/d.err" "reload: $TMP/conf.yaml:[0-9]*:[0-9]*: .*keeping the running configuration"
knock 192.0.2.6 7000
knock 192.0.2.6 8000
knock 192.0.2.6 9000
check "after a bad reload the running doors still open" wait_for "$CMDS" "^open ssh inet 192.0.2.6 "

# Reload with a good configuration: a new door; an attempt in progress at
# the unchanged door survives.
knock 192.0.2.7 7000
knock 192.0.2.7 8000
wait_for "$TMP/d.err" "knock .* tcp/8000 from 192.0.2.7" >/dev/null
write_conf <<EOF
  - name: web
    sequence: [tcp/7004]
    open: [tcp/443]
    duration: 2s
  - name: long
    sequence: [tcp/7005]
    open: [tcp/8443]
    duration: 60s
EOF
kill -HUP "$PID"
check "reload with a good configuration" wait_for "$TMP/d.err" "reloaded $TMP/conf.yaml: 3 doors"
knock 192.0.2.8 7004
check "a door added by the reload opens" wait_for "$CMDS" "^open web inet 192.0.2.8 tcp 443 2$"
knock 192.0.2.7 9000
check "an attempt begun before the reload completes after it" wait_for "$CMDS" "^open ssh inet 192.0.2.7 "

# A door whose port the running applier was not started with: a warning at
# the reload, and its grants refused until a restart.
cp "$TMP/conf.yaml" "$TMP/conf.before"
cat >>"$TMP/conf.yaml" <<EOF
  - name: newport
    sequence: [tcp/7006]
    open: [tcp/2222]
    duration: 2s
EOF
kill -HUP "$PID"
check "reload adding a port the applier does not guard: a warning names it" \
	wait_for "$TMP/d.err" "reload: a door opens tcp/2222, which the running applier does not guard"
knock 192.0.2.13 7006
check "... and the applier refuses that door's grant" wait_for "$TMP/d.err" "refused: tcp/2222 is not a guarded port"
check "... nothing ran for it" sh -c "! grep -q '^open newport' '$CMDS'"
cp "$TMP/conf.before" "$TMP/conf.yaml"
kill -HUP "$PID"
wait_count "$TMP/d.err" "reloaded $TMP/conf.yaml: 3 doors" 2 >/dev/null

# kill -9 in the middle of a sequence; the last knock arrives while down.
knock 192.0.2.12 7005
wait_for "$CMDS" "^open long inet 192.0.2.12 tcp 8443 60$" >/dev/null
knock 192.0.2.9 7000
knock 192.0.2.9 8000
wait_for "$TMP/d.err" "knock .* tcp/8000 from 192.0.2.9" >/dev/null
check "the position and the grants are saved within the staleness" saved 192.0.2.12
stop_daemon KILL
knock 192.0.2.9 9000
check "restart after kill -9" start
check "a knock logged while the daemon was down completes the sequence" \
	wait_for "$CMDS" "^open ssh inet 192.0.2.9 "
sleep 0.5
check "no line is processed twice: every sequence was recognised once" \
	sh -c "[ \$(grep -c 'door [a-z]*: opened' '$TMP/d.err') -eq \$(grep -o 'door [a-z]*: opened .* for [0-9.]*' '$TMP/d.err' | sort -u | wc -l) ]"
check "grants open at the kill are taken over: closed, then opened again for the time left" \
	sh -c "grep -q 'grants saved by the previous run' '$TMP/d.err' && grep -A1 '^close long 192.0.2.12 tcp 8443$' '$CMDS' | grep -q '^open long inet 192.0.2.12 tcp 8443 [0-9]*$' && [ \$(grep -c '^open long inet 192.0.2.12 ' '$CMDS') -eq 2 ]"

# kill -9 right after a door opened, before the grant and the position are
# saved: the lines of that last second are read again as new, the grant is
# opened again for its time left, after a close (the previous run's rule may
# still be there: a command backend is not flushed); never two rules.
knock 192.0.2.13 7005
wait_for "$CMDS" "^open long inet 192.0.2.13 tcp 8443 60$" >/dev/null
stop_daemon KILL
knock 192.0.2.14 7005
check "restart after kill -9 within a second of an open" start
wait_for "$CMDS" "^open long inet 192.0.2.14 " >/dev/null
check "the grant opened just before the kill is open again, closed first, and the knock sent while down opened" \
	sh -c "[ \$(grep -c '^open long inet 192.0.2.13 ' '$CMDS') -eq 2 ] && grep -A1 '^close long 192.0.2.13 tcp 8443$' '$CMDS' | grep -q '^open long inet 192.0.2.13 ' && [ \$(grep -c '^open long inet 192.0.2.14 ' '$CMDS') -eq 1 ]"
check "never two rules for the same source and port at once" one_rule

# The applier's worker crashes: a new one takes over the open grants.
worker=$(pgrep -P "$(pgrep -P "$PID" -x logknock-apply)" -x logknock-apply)
kill -KILL $worker
check "a crashed applier is replaced and the open grants are sent to it again" \
	wait_count "$CMDS" "^open long inet 192.0.2.12 " 3

# SIGTERM with a grant open: it is closed before the daemon exits.
knock 192.0.2.10 7004
wait_for "$CMDS" "^open web inet 192.0.2.10 " >/dev/null
stop_daemon TERM
check "SIGTERM: exit status 0" [ $? -eq 0 ]
check "SIGTERM closes the open grants" grep -q "^close web 192.0.2.10 tcp 443$" "$CMDS"

# Standard input as a source (file: -), as with journalctl -f | logknockd.
sed -e "s#- file: $LOG#- file: \"-\"#" "$TMP/conf.yaml" >"$TMP/stdin.yaml"
LOG=$TMP/pipe.log
: >"$LOG"
knock 192.0.2.11 7000
knock 192.0.2.11 8000
knock 192.0.2.11 9000
(cat "$LOG"; sleep 2) | "$LOGKNOCKD" -c "$TMP/stdin.yaml" --state-dir "$STATE" 2>"$TMP/stdin.err" &
PID=$!
check "standard input as a source" wait_for "$CMDS" "^open ssh inet 192.0.2.11 " 5
# At the end of its input the daemon stops as on SIGTERM (the grant closed).
i=0
while kill -0 "$PID" 2>/dev/null && [ $i -lt 100 ]; do sleep 0.1; i=$((i + 1)); done
stop_daemon TERM
check "end of standard input: the daemon says so and stops, exit 0, grants closed" \
	sh -c "[ $? -eq 0 ] && grep -q 'stdin: end of input: stopping' '$TMP/stdin.err' && grep -q '^close ssh 192.0.2.11 ' '$CMDS'"

# An applier that never becomes ready: the daemon does not claim to serve.
sed -e "s#^  timeout: 2s#  timeout: 2s\n  program: /bin/false#" "$TMP/conf.yaml" >"$TMP/false.yaml"
"$LOGKNOCKD" -c "$TMP/false.yaml" --state-dir "$STATE" 2>"$TMP/false.err"
check "an applier that fails at start: exit 1, never ready" \
	sh -c "[ $? -eq 1 ] && grep -q 'the applier did not start' '$TMP/false.err'"

# No sources: a configuration error.
sed -i '/^sources:/,/^prefix/{/^prefix/!d}' "$TMP/conf.yaml"
"$LOGKNOCKD" -c "$TMP/conf.yaml" --state-dir "$STATE" 2>"$TMP/ns.err"
check "no sources: exit 2 with a message" sh -c "[ $? -eq 2 ] && grep -q 'no sources' '$TMP/ns.err'"

# A usage error: exit 2, what was wrong and a hint, not the whole --help.
for args in "--bogus" "extra-argument"; do
	"$LOGKNOCKD" $args >"$TMP/us.out" 2>"$TMP/us.err"
	rc=$?
	check "usage error '$args': exit 2, two lines on stderr ending in the --help hint" \
		sh -c "[ $rc -eq 2 ] && [ \$(wc -l <'$TMP/us.err') -eq 2 ] && tail -1 '$TMP/us.err' | grep -q \"^Try 'logknockd --help'\" && [ ! -s '$TMP/us.out' ]"
done

if [ $tap_failed -gt 0 ]; then
	echo "# daemon stderr:"
	tail -40 "$TMP/d.err" | diag
	echo "# commands:"
	diag "$CMDS"
fi
done_testing
