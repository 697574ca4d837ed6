#!/bin/sh
# Faults under a live daemon: nothing lost, nothing doubled, no door left
# open past its time.
#
#  (a) kill -9 of the applier's worker, then of its keeper, in the middle of
#      a burst of grants (command backend recording open/close): after the
#      dust settles the rules held (the recorded commands replayed: open
#      adds, close removes) are exactly the daemon's open grants
#      (STATE_DIR/grants), no rule was opened twice, and after the grants'
#      duration nothing is held;
#  (b) a full, then a read-only state directory (a small tmpfs): one clear
#      message, not one per batch, and knocks still open;
#  (c) journald stopped and started again under the daemon (journal source,
#      real kernel lines from a network namespace): knocks after the
#      restart open, the daemon neither dies nor spins;
#  (d) the followed file's directory removed and created again: lines in
#      the new file are read;
#  (e) a hundred SIGHUPs while knocks arrive: every complete sequence opens
#      exactly once, the daemon stays up and its memory does not grow.
#
# FAULTS_KEEP=1 keeps the temporary directory (logs, recorded commands).
# Everything started here is stopped by its PID; namespaces and mounts are
# removed on exit, also on failure. Every wait is bounded.
. "${top_srcdir:-$(dirname "$0")/..}/t/lib.sh"
. "$top_srcdir/t/netns.sh"

DPIDS=		# daemons started here
MOUNTS=		# tmpfs mounted here

cleanup() {
	for p in $DPIDS; do
		kill -TERM "$p" 2>/dev/null
	done
	for p in $DPIDS; do
		i=0
		while kill -0 "$p" 2>/dev/null && [ $i -lt 100 ]; do sleep 0.05; i=$((i + 1)); done
		kill -KILL "$p" 2>/dev/null
		wait "$p" 2>/dev/null
	done
	netns_cleanup		# and the journald this test started
	for m in $MOUNTS; do
		umount "$m" 2>/dev/null || umount -l "$m" 2>/dev/null
	done
	if [ -n "$FAULTS_KEEP" ]; then echo "# kept $TMP"; else rm -rf "$TMP"; fi
}
trap cleanup EXIT

[ "$(id -u)" = 0 ] || skip_all "not root (mounts, namespaces, journald)"
need_binaries
command -v mount >/dev/null 2>&1 || skip_all "no mount command"

# The build is shared and rebuilt by others: run copies.
cp "$LOGKNOCKD" "$TMP/logknockd" && cp "$LOGKNOCK_APPLY" "$TMP/logknock-apply" || skip_all "cannot copy the binaries"
D=$TMP/logknockd
APPLY=$TMP/logknock-apply

# ---- helpers ------------------------------------------------------------------

# wait_gone PID [SECONDS]
wait_gone() {
	i=0
	while [ $i -lt $((${2:-5} * 50)) ]; do
		alive "$1" || return 0
		sleep 0.02
		i=$((i + 1))
	done
	return 1
}
# cpu_ticks PID: user + system time of PID, in clock ticks.
cpu_ticks() { sed 's/.*) //' "/proc/$1/stat" | awk '{print $12 + $13}'; }
rss_kb() { awk '/^VmRSS:/ {print $2}' "/proc/$1/status"; }
# child_named PPID NAME: the live children of PPID called NAME.
child_named() {
	for d in /proc/[0-9]*; do
		{ read -r c <"$d/comm"; } 2>/dev/null || continue
		[ "$c" = "$2" ] || continue
		pp=$(sed 's/.*) //' "$d/stat" 2>/dev/null | cut -d' ' -f2)
		[ "$pp" = "$1" ] && alive "${d#/proc/}" && echo "${d#/proc/}"
	done
}

# knock_lines LOG: what knock_line appends, for many (SRC DPORT pairs on
# stdin) in one write.
knock_lines() {
	awk -v now="$(date -u +%Y-%m-%dT%H:%M:%S.%6N+00:00)" -v sp="$sport" '{
		sp++
		printf "%s vm kernel: [ 93.717774] KNOCK IN=kn-s OUT= MAC=62:92:44:cb:fb:5c:fe:65:11:35:87:ec:08:00 SRC=%s DST=192.0.2.1 LEN=60 TOS=0x00 PREC=0x00 TTL=64 ID=36861 DF PROTO=TCP SPT=%d DPT=%d WINDOW=64240 RES=0x00 SYN URGP=0 \n", now, $1, sp, $2
	}' >>"$1"
	sport=$((sport + 1000))
}

# The command backend's recorder: one line per command, appended (atomic).
cat >"$TMP/rec.sh" <<'EOF'
#!/bin/sh
f=$1
shift
printf '%s\n' "$*" >>"$f"
EOF
chmod 755 "$TMP/rec.sh"

# conf FILE CMDS SOURCE-LINE [STATE_DIR]; doors on stdin.
conf() {
	{
		# net.netfilter.nf_log_all_netns is the host's: another test may hold it at 1 meanwhile
		printf 'accept_nf_log_all_netns: true\nsources:\n  - %s\nprefix: "%s"\n' "$3" "${PREFIX:-KNOCK }"
		[ -n "$4" ] && printf 'state_dir: %s\n' "$4"
		cat <<EOF
applier:
  backend: command
  program: $APPLY
  open: [$TMP/rec.sh, $2, open, "%DOOR%", "%FAMILY%", "%IP%", "%PROTO%", "%PORT%", "%SECONDS%"]
  close: [$TMP/rec.sh, $2, close, "%DOOR%", "%IP%", "%PROTO%", "%PORT%"]
  timeout: 3s
doors:
EOF
		cat
	} >"$1"
}

# start NAME CONF STATE_DIR: the daemon in the background; sets PID; true once it follows.
PID=
start() {
	"$D" -c "$2" --state-dir "$3" >"$TMP/$1.out" 2>"$TMP/$1.err" &
	PID=$!
	DPIDS="$DPIDS $PID"
	wait_for "$TMP/$1.err" "following 1 sources" 10
}
# stop PID: SIGTERM, bounded wait; the exit status.
stop() {
	kill -TERM "$1" 2>/dev/null
	i=0
	while alive "$1" && [ $i -lt 250 ]; do sleep 0.02; i=$((i + 1)); done
	alive "$1" && kill -KILL "$1" 2>/dev/null
	wait "$1" 2>/dev/null
	rc=$?
	DPIDS=$(echo " $DPIDS " | sed "s/ $1 / /")
	return $rc
}

# held CMDS: replays the recorded commands (open adds DOOR IP PROTO PORT,
# close removes it) and prints what is held, sorted; an open of something
# already held is written to CMDS.double.
held() {
	awk -v dbl="$1.double" '
		$1 == "open"  { k = $2 " " $4 " " $5 " " $6; if (k in h) print NR ": " $0 >dbl; h[k] = 1 }
		$1 == "close" { delete h[$2 " " $3 " " $4 " " $5] }
		END { for (k in h) print k }' "$1" | sort
}
# granted STATE_DIR: the daemon's open grants as DOOR ADDR PROTO PORT, sorted.
granted() { awk 'NF >= 8 { print $8 " " $3 " " $4 " " $5 }' "$1/grants" 2>/dev/null | sort; }
# settle FILE...: until none of the FILEs changed for a second (at most 30 s).
settle() {
	prev= i=0
	while [ $i -lt 60 ]; do
		cur=$(cat "$@" 2>/dev/null | cksum)
		if [ "$cur" = "$prev" ]; then
			sleep 0.5
			[ "$(cat "$@" 2>/dev/null | cksum)" = "$cur" ] && return 0
		fi
		prev=$cur
		sleep 0.5
		i=$((i + 1))
	done
	return 1
}

# ---- (a) the applier's worker and keeper killed during a burst ---------------

A=$TMP/a
mkdir "$A" "$A/state"
: >"$A/kern.log"
: >"$A/cmds"
NDOORS=10
{
	i=0
	while [ $i -lt $NDOORS ]; do
		printf '  - name: d%d\n    sequence: [tcp/%d]\n    window: 5s\n    dedup: 0s\n    open: [tcp/%d]\n    duration: 15s\n' \
			$i $((7100 + i)) $((2200 + i))
		i=$((i + 1))
	done
} | conf "$A/conf.yaml" "$A/cmds" "file: $A/kern.log"

# burst_pairs NET FIRST LAST: "SRC DPORT" for hosts FIRST..LAST of NET and every door.
burst_pairs() {
	awk -v net="$1" -v a="$2" -v b="$3" -v n=$NDOORS \
		'BEGIN { for (h = a; h <= b; h++) for (d = 0; d < n; d++) print net "." h, 7100 + d }'
}

# check_burst WHAT N: after the dust settled, held == granted, no double
# open, and the daemon holds the N grants it opened less those it has closed
# since (the first burst's grants expire 15 s after they opened: on a loaded
# machine the settling may outlast them). The counts come from the daemon's
# own log and are taken around the snapshot, which is retaken until no grant
# closed while it was made.
check_burst() {
	settle "$A/cmds" "$A/state/grants" || diag_msg "(a) $1: still changing after 30 s"
	t=0
	while :; do
		c0=$(grep -c 'door d[0-9]*: closed' "$TMP/a.err")
		g0=$(cksum <"$A/state/grants" 2>/dev/null)
		held "$A/cmds" >"$A/held"
		granted "$A/state" >"$A/granted"
		sleep 0.2
		c1=$(grep -c 'door d[0-9]*: closed' "$TMP/a.err")
		[ "$c0" = "$c1" ] && [ "$g0" = "$(cksum <"$A/state/grants" 2>/dev/null)" ] && break
		t=$((t + 1))
		[ $t -lt 50 ] || break
	done
	opened=$(grep -c 'door d[0-9]*: opened' "$TMP/a.err")
	want=$((opened - c1))
	n=$(wc -l <"$A/granted")
	if [ "$opened" -eq "$2" ] && [ "$n" -eq "$want" ] && cmp -s "$A/held" "$A/granted"; then
		ok "(a) $1: the rules held are exactly the daemon's open grants ($2 opened, $c1 expired since)"
	else
		fail "(a) $1: the rules held are exactly the daemon's open grants ($opened opened of $2, $c1 closed, granted $n, held $(wc -l <"$A/held"))"
		diff "$A/granted" "$A/held" | head -20 | diag
	fi
	if [ -s "$A/cmds.double" ]; then
		fail "(a) $1: no rule opened twice"
		head -20 "$A/cmds.double" | diag
	else
		ok "(a) $1: no rule opened twice (a close came before every re-open)"
	fi
}
diag_msg() { echo "# $*"; }

if start a "$A/conf.yaml" "$A/state"; then
	ok "(a) daemon started (10 one-step doors, command backend)"
else
	fail "(a) daemon started"
	diag "$TMP/a.err"
fi
APID=$PID

# The worker: burst of 30 sources x 10 doors, killed after 40 opens.
keeper=$(child_named "$APID" logknock-apply)
worker=$(child_named "$keeper" logknock-apply)
burst_pairs 198.51.100 1 15 | knock_lines "$A/kern.log"
wait_count "$A/cmds" "^open " 40 10
kill -KILL $worker 2>/dev/null
burst_pairs 198.51.100 16 30 | knock_lines "$A/kern.log"
if wait_for "$TMP/a.err" "the applier restarted" 10 && wait_count "$TMP/a.err" "door d[0-9]*: opened" 300 15; then
	ok "(a) worker killed during the burst: a new worker took over, 300 doors opened"
else
	fail "(a) worker killed during the burst: a new worker took over, 300 doors opened ($(grep -c 'door d[0-9]*: opened' "$TMP/a.err"))"
	tail -20 "$TMP/a.err" | diag
fi
check_burst "worker killed" 300
new_keeper=$(child_named "$APID" logknock-apply)
check "(a) the keeper survived the worker's death" [ "$new_keeper" = "$keeper" ]

# The keeper: a second burst (other sources), the keeper killed after 40 more opens.
n0=$(grep -c "^open " "$A/cmds")
burst_pairs 203.0.113 1 15 | knock_lines "$A/kern.log"
wait_count "$A/cmds" "^open " $((n0 + 40)) 10
worker=$(child_named "$keeper" logknock-apply)
kill -KILL "$keeper" 2>/dev/null
burst_pairs 203.0.113 16 30 | knock_lines "$A/kern.log"
i=0
new_keeper=
while [ $i -lt 250 ]; do
	new_keeper=$(child_named "$APID" logknock-apply)
	[ -n "$new_keeper" ] && [ "$new_keeper" != "$keeper" ] && break
	sleep 0.02
	i=$((i + 1))
done
if [ -n "$new_keeper" ] && [ "$new_keeper" != "$keeper" ] &&
	wait_count "$TMP/a.err" "door d[0-9]*: opened" 600 15; then
	ok "(a) keeper killed during the burst: the daemon started a new one, 600 doors opened in all"
else
	fail "(a) keeper killed during the burst: the daemon started a new one (keeper '$new_keeper'), 600 doors opened ($(grep -c 'door d[0-9]*: opened' "$TMP/a.err"))"
	tail -20 "$TMP/a.err" | diag
fi
if [ -z "$worker" ] || wait_gone "$worker" 5; then
	ok "(a) the old keeper's worker did not outlive it"
else
	fail "(a) the old keeper's worker (pid $worker) did not outlive it"
fi
check_burst "keeper killed" 600
check "(a) the daemon is still running" alive "$APID"

# After the grants' duration (15 s from the last open), everything is closed.
i=0
while [ $i -lt 40 ] && [ -s "$A/state/grants" ]; do sleep 0.5; i=$((i + 1)); done
settle "$A/cmds" >/dev/null
held "$A/cmds" >"$A/held"
if [ ! -s "$A/held" ] && [ -z "$(granted "$A/state")" ]; then
	ok "(a) after the grants' duration nothing is held and no grant is open"
else
	fail "(a) after the grants' duration nothing is held ($(wc -l <"$A/held") held) and no grant is open ($(granted "$A/state" | wc -l))"
	head -10 "$A/held" | diag
fi
stop "$APID"
check "(a) SIGTERM: exit status 0" [ $? -eq 0 ]

# ---- (b) a full and a read-only state directory -----------------------------

B=$TMP/b
mkdir "$B" "$B/state"
: >"$B/kern.log"
: >"$B/cmds"
if mount -t tmpfs -o size=256k,mode=0700 logknock-faults "$B/state" 2>/dev/null; then
	MOUNTS="$MOUNTS $B/state"
	conf "$B/conf.yaml" "$B/cmds" "file: $B/kern.log" <<'EOF'
  - name: ssh
    sequence: [tcp/7000, tcp/8000, tcp/9000]
    window: 10s
    open: [tcp/22]
    duration: 2s
EOF
	start b "$B/conf.yaml" "$B/state" || { fail "(b) daemon started"; diag "$TMP/b.err"; }
	BPID=$PID
	# seq3 N SRC: a complete sequence from SRC, one line per batch.
	seq3() {
		for p in 7000 8000 9000; do
			knock_line "$B/kern.log" "$1" $p
			sleep 0.1
		done
	}
	seq3 192.0.2.20
	wait_for "$B/cmds" "^open ssh inet 192.0.2.20 " 5 >/dev/null
	# Full: fill the tmpfs to its last byte.
	dd if=/dev/zero of="$B/state/filler" bs=4k 2>/dev/null
	before=$(wc -l <"$TMP/b.err")
	for h in 21 22 23 24 25; do seq3 192.0.2.$h; done
	if wait_for "$B/cmds" "^open ssh inet 192.0.2.25 " 5 &&
		[ "$(grep -c '^open ssh inet 192.0.2.2[1-5] ' "$B/cmds")" -eq 5 ]; then
		ok "(b) full state directory: every knock sequence still opens"
	else
		fail "(b) full state directory: every knock sequence still opens"
		diag "$B/cmds"
	fi
	# the state is saved at most a second after it changes (state writer)
	wait_for "$TMP/b.err" "No space left on device" 5 >/dev/null
	sleep 0.5
	tail -n +$((before + 1)) "$TMP/b.err" | grep -i "$B/state" >"$B/full.msgs"
	nmsg=$(grep -ci "no space left on device" "$B/full.msgs")
	# One message per thing that cannot be saved (the position, the grants), not one per batch (15 here).
	if [ "$nmsg" -ge 1 ] && [ "$nmsg" -le 2 ] && [ "$(wc -l <"$B/full.msgs")" -le 2 ]; then
		ok "(b) full state directory: one clear message ($nmsg), not one per batch"
	else
		fail "(b) full state directory: one clear message (naming $B/state and 'No space left on device'; got $nmsg of $(wc -l <"$B/full.msgs") lines)"
		head -20 "$B/full.msgs" | diag
		tail -n +$((before + 1)) "$TMP/b.err" | head -20 | diag
	fi
	check "(b) full state directory: the daemon keeps running" alive "$BPID"
	# Read-only: free the space, let one batch save, then remount read-only.
	rm -f "$B/state/filler"
	seq3 192.0.2.30
	sleep 0.5
	before=$(wc -l <"$TMP/b.err")
	if mount -o remount,ro "$B/state" 2>/dev/null; then
		for h in 31 32 33 34 35; do seq3 192.0.2.$h; done
		if wait_for "$B/cmds" "^open ssh inet 192.0.2.35 " 5 &&
			[ "$(grep -c '^open ssh inet 192.0.2.3[1-5] ' "$B/cmds")" -eq 5 ]; then
			ok "(b) read-only state directory: every knock sequence still opens"
		else
			fail "(b) read-only state directory: every knock sequence still opens"
			diag "$B/cmds"
		fi
		sleep 2.5	# the grants close (a batch of their own) while read-only
		tail -n +$((before + 1)) "$TMP/b.err" | grep -i "$B/state" >"$B/ro.msgs"
		nmsg=$(grep -ci "read-only file system" "$B/ro.msgs")
		if [ "$nmsg" -ge 1 ] && [ "$nmsg" -le 2 ] && [ "$(wc -l <"$B/ro.msgs")" -le 2 ]; then
			ok "(b) read-only state directory: one clear message ($nmsg), not one per batch"
		else
			fail "(b) read-only state directory: one clear message (naming $B/state and 'Read-only file system'; got $nmsg of $(wc -l <"$B/ro.msgs") lines)"
			head -20 "$B/ro.msgs" | diag
			tail -n +$((before + 1)) "$TMP/b.err" | head -20 | diag
		fi
		check "(b) read-only state directory: grants still close on time" \
			grep -q "^close ssh 192.0.2.35 tcp 22$" "$B/cmds"
		check "(b) read-only state directory: the daemon keeps running" alive "$BPID"
	else
		for k in 1 2 3 4; do ok "(b) read-only state directory # SKIP cannot remount the tmpfs read-only"; done
	fi
	stop "$BPID"
	check "(b) SIGTERM: exit status 0" [ $? -eq 0 ]
	umount "$B/state" 2>/dev/null && MOUNTS=$(echo " $MOUNTS " | sed "s# $B/state # #")
else
	for k in 1 2 3 4 5 6 7 8; do ok "(b) # SKIP cannot mount a tmpfs"; done
fi

# ---- (c) journald restarted under the daemon ----------------------------------

C=$TMP/c
mkdir "$C" "$C/state"
: >"$C/cmds"
NC=8
why_c=
kernel_log_lock -x	# restarting journald must not pull it away from another test
if journald_alive >/dev/null; then
	why_c="a systemd-journald not started by this test runs: not ours to restart"
elif [ ! -x "$JOURNALD" ]; then
	why_c="no $JOURNALD"
elif ! command -v journalctl >/dev/null 2>&1; then
	why_c="no journalctl"
elif ! netns_setup; then
	why_c=$netns_error
elif ! netns_log_rule "LKF$netns_id" 7201 7202 7203 7204 7205 7206; then
	why_c="cannot add an nftables log rule"
elif ! start_journald; then
	why_c="cannot start $JOURNALD: $(tr '\n' ' ' <"$TMP/journald.log")"
fi
if [ -n "$why_c" ]; then
	i=0
	while [ $i -lt $NC ]; do ok "(c) journald restarted # SKIP $why_c"; i=$((i + 1)); done
else
	PREFIX="LKF$netns_id "
	i=1
	while [ $i -le 6 ]; do
		printf '  - name: j%d\n    sequence: [tcp/%d]\n    open: [tcp/%d]\n    duration: 60s\n' $i $((7200 + i)) $((2300 + i))
		i=$((i + 1))
	done | conf "$C/conf.yaml" "$C/cmds" "journal: kernel"
	PREFIX=
	if start c "$C/conf.yaml" "$C/state"; then
		ok "(c) daemon started on the journal"
	else
		fail "(c) daemon started on the journal"
		diag "$TMP/c.err"
	fi
	CPID=$PID
	t0=$(cpu_ticks "$CPID")
	netns_knock tcp 7201
	check "(c) a kernel knock before the restart opens" wait_for "$C/cmds" "^open j1 inet 192.0.2.2 tcp 2301 " 10
	kill -TERM "$journald_pid" 2>/dev/null
	wait "$journald_pid" 2>/dev/null
	journald_pid=
	netns_knock tcp 7202	# journald is down: it may catch up on it from /dev/kmsg, or not
	sleep 1
	netns_knock tcp 7203
	sleep 1
	if start_journald; then
		netns_knock tcp 7204
		sleep 2
		netns_knock tcp 7205
		if wait_for "$C/cmds" "^open j4 inet 192.0.2.2 tcp 2304 " 10 && wait_for "$C/cmds" "^open j5 inet 192.0.2.2 tcp 2305 " 10; then
			ok "(c) kernel knocks after journald's restart open"
		else
			fail "(c) kernel knocks after journald's restart open"
			diag "$C/cmds"
			tail -20 "$TMP/c.err" | diag
			journalctl --no-pager -q -o cat -k --since=-2min 2>/dev/null | grep "LKF$netns_id" | tail -5 | diag
		fi
		# Once more, to see that it keeps following the files of the new journald.
		kill -TERM "$journald_pid" 2>/dev/null
		wait "$journald_pid" 2>/dev/null
		journald_pid=
		start_journald
		netns_knock tcp 7206
		check "(c) and after a second restart" wait_for "$C/cmds" "^open j6 inet 192.0.2.2 tcp 2306 " 10
	else
		fail "(c) kernel knocks after journald's restart open (journald did not start again)"
		fail "(c) and after a second restart"
	fi
	check "(c) the daemon is alive" alive "$CPID"
	# Idle for 3 s: the daemon must not spin.
	ta=$(cpu_ticks "$CPID")
	sleep 3
	tb=$(cpu_ticks "$CPID")
	hz=$(getconf CLK_TCK)
	if [ $((tb - ta)) -le $((hz / 10)) ] && [ $((tb - t0)) -le $((hz * 2)) ]; then
		ok "(c) no spinning: $((tb - ta)) ticks in 3 idle s, $((tb - t0)) in the whole case (HZ $hz)"
	else
		fail "(c) no spinning: $((tb - ta)) ticks in 3 idle s (at most $((hz / 10))), $((tb - t0)) in the whole case (at most $((hz * 2)))"
		tail -20 "$TMP/c.err" | diag
	fi
	if [ "$(grep -c "^open j[1-6] " "$C/cmds")" = "$(grep "^open j[1-6] " "$C/cmds" | sort -u | wc -l)" ]; then
		ok "(c) no door opened twice"
	else
		fail "(c) no door opened twice"
		diag "$C/cmds"
	fi
	stop "$CPID"
	check "(c) SIGTERM: exit status 0" [ $? -eq 0 ]
	kill -TERM "$journald_pid" 2>/dev/null
	wait "$journald_pid" 2>/dev/null
	journald_pid=
	netns_cleanup
fi

# ---- (d) the followed file's directory removed and created again ------------

E=$TMP/d
mkdir "$E" "$E/state" "$E/log"
: >"$E/log/kern.log"
: >"$E/cmds"
conf "$E/conf.yaml" "$E/cmds" "file: $E/log/kern.log" <<'EOF'
  - name: ssh
    sequence: [tcp/7000, tcp/8000, tcp/9000]
    window: 10s
    open: [tcp/22]
    duration: 30s
EOF
if start d "$E/conf.yaml" "$E/state"; then ok "(d) daemon started"; else fail "(d) daemon started"; diag "$TMP/d.err"; fi
DPID=$PID
for p in 7000 8000 9000; do knock_line "$E/log/kern.log" 192.0.2.40 $p; done
check "(d) a sequence in the file opens" wait_for "$E/cmds" "^open ssh inet 192.0.2.40 " 5
for round in 1 2; do
	rm -rf "$E/log"
	sleep 0.3
	mkdir "$E/log"
	sleep 0.2
	src=192.0.2.4$round
	for p in 7000 8000 9000; do knock_line "$E/log/kern.log" $src $p; done
	if wait_for "$E/cmds" "^open ssh inet $src " 5; then
		ok "(d) directory removed and created again ($round): lines of the new file are read"
	else
		fail "(d) directory removed and created again ($round): lines of the new file are read"
		tail -20 "$TMP/d.err" | diag
	fi
done
# A sequence split across the removal: the attempt itself is the daemon's, not the file's.
knock_line "$E/log/kern.log" 192.0.2.49 7000
knock_line "$E/log/kern.log" 192.0.2.49 8000
sleep 0.3
rm -rf "$E/log"
mkdir "$E/log"
sleep 0.2
knock_line "$E/log/kern.log" 192.0.2.49 9000
check "(d) a sequence begun before the removal completes in the new file" wait_for "$E/cmds" "^open ssh inet 192.0.2.49 " 5
check "(d) nothing opened twice" sh -c "[ \$(grep -c '^open ' '$E/cmds') -eq 4 ]"
check "(d) the daemon is alive" alive "$DPID"
stop "$DPID"

# ---- (e) a hundred reloads while knocks arrive --------------------------------

F=$TMP/e
mkdir "$F" "$F/state"
: >"$F/kern.log"
: >"$F/cmds"
conf "$F/conf.yaml" "$F/cmds" "file: $F/kern.log" <<'EOF'
  - name: ssh
    sequence: [tcp/7000, tcp/8000, tcp/9000]
    window: 20s
    open: [tcp/22]
    duration: 60s
EOF
if start e "$F/conf.yaml" "$F/state"; then ok "(e) daemon started"; else fail "(e) daemon started"; diag "$TMP/e.err"; fi
EPID=$PID
# reload: one SIGHUP, and (bounded) until the daemon said it reloaded.
nrel=0
reload() {
	nrel=$((nrel + 1))
	kill -HUP "$EPID" 2>/dev/null
	wait_count "$TMP/e.err" "reloaded $F/conf.yaml" $nrel 5
}
# 100 sources; each sequence spread over reloads: step 1, reload, step 2,
# reload (sometimes), step 3. 100 reloads in all.
rss10= h=0 lost_reload=0
while [ $h -lt 100 ]; do
	src=10.$((h / 250)).$((h % 250)).$((h % 7 + 1))
	knock_line "$F/kern.log" "$src" 7000
	[ $((h % 2)) -eq 0 ] && { reload || lost_reload=$((lost_reload + 1)); }
	knock_line "$F/kern.log" "$src" 8000
	[ $((h % 2)) -eq 1 ] && { reload || lost_reload=$((lost_reload + 1)); }
	knock_line "$F/kern.log" "$src" 9000
	h=$((h + 1))
	[ $nrel -eq 10 ] && [ -z "$rss10" ] && rss10=$(rss_kb "$EPID")
done
wait_count "$F/cmds" "^open ssh " 100 10
sleep 0.5
rss100=$(rss_kb "$EPID")
check "(e) the daemon is alive after $nrel reloads" alive "$EPID"
check "(e) every reload was reported ($lost_reload not within 5 s)" [ $lost_reload -eq 0 ]
nopen=$(grep -c "^open ssh " "$F/cmds")
nuniq=$(grep "^open ssh " "$F/cmds" | cut -d' ' -f4 | sort -u | wc -l)
if [ "$nopen" -eq 100 ] && [ "$nuniq" -eq 100 ]; then
	ok "(e) each of the 100 complete sequences opened exactly once"
else
	fail "(e) each of the 100 complete sequences opened exactly once ($nopen opens, $nuniq sources)"
	grep "^open ssh " "$F/cmds" | cut -d' ' -f4 | sort | uniq -c | awk '$1 != 1' | head | diag
fi
check "(e) no sequence was recognised twice (no 'extended')" sh -c "! grep -q 'door ssh: extended' '$TMP/e.err'"
if nm "$LOGKNOCKD" 2>/dev/null | grep -q __asan_init; then
	# AddressSanitizer keeps freed memory in quarantine: RSS says nothing.
	ok "(e) VmRSS bounded # SKIP an AddressSanitizer build holds freed memory back"
elif [ -n "$rss10" ] && [ -n "$rss100" ] && [ "$rss100" -le $((rss10 + 1024)) ]; then
	ok "(e) VmRSS bounded: $rss10 kB after 10 reloads, $rss100 kB after 100"
else
	fail "(e) VmRSS bounded: $rss10 kB after 10 reloads, $rss100 kB after 100 (allowed +1024 kB)"
fi
stop "$EPID"
check "(e) SIGTERM: exit status 0 and the 100 grants closed" \
	sh -c "[ $? -eq 0 ] && [ \$(grep -c '^close ssh ' '$F/cmds') -eq 100 ]"

if [ $tap_failed -gt 0 ]; then
	for f in a b c d e; do
		[ -s "$TMP/$f.err" ] || continue
		echo "# daemon ($f) stderr, last lines:"
		tail -15 "$TMP/$f.err" | diag
	done
fi
plan $tap_n
done_testing
