#!/bin/sh
# Reading and deciding never wait for the state directory: with every fsync
# and rename of the daemon slowed to a second (strace fault injection), a
# sequence still opens its door at once, while the writer thread takes its
# time; and when the kernel log buffer overruns (the daemon stopped with
# SIGSTOP while records pile up) the records lost are counted exactly (the
# kernel's sequence gap), said once per 10 s, in the STATUS line and at
# shutdown.
. "${top_srcdir:-$(dirname "$0")/..}/t/lib.sh"
need_binaries
[ "$(id -u)" = 0 ] || skip_all "not root"
command -v python3 >/dev/null 2>&1 || skip_all "python3 is needed to listen on the notify socket"
plan 9

CMDS=$TMP/cmds
LOG=$TMP/kern.log
: >"$CMDS"
: >"$LOG"
cat >"$TMP/rec.sh" <<EOF
#!/bin/sh
printf '%s\n' "\$*" >>"$CMDS"
EOF
chmod 755 "$TMP/rec.sh"
PID= TRACER= LISTENER=
cleanup() {
	[ -n "$PID" ] && kill -CONT "$PID" 2>/dev/null
	[ -n "$PID" ] && kill -KILL "$PID" 2>/dev/null
	[ -n "$TRACER" ] && kill -KILL "$TRACER" 2>/dev/null
	[ -n "$LISTENER" ] && kill "$LISTENER" 2>/dev/null
	wait 2>/dev/null
	rm -rf "$TMP"
}
trap cleanup EXIT

now_ms() { echo $(($(date +%s%N) / 1000000)); }

# ---- (a) a slow state directory does not delay a knock's open --------------
if ! command -v strace >/dev/null 2>&1 ||
	! strace -f --seccomp-bpf -qq -o /dev/null -e trace=fsync -e inject=fsync:delay_enter=1000 true 2>/dev/null; then
	skip_n 5 "strace with --seccomp-bpf and delay injection is needed (contrib/debian-deps.sh)"
else
	cat >"$TMP/slow.yaml" <<EOF
accept_nf_log_all_netns: true	# other tests running at once may set it (t/netns.sh)
sources:
  - file: $LOG
prefix: "KNOCK "
applier:
  backend: command
  open: [$TMP/rec.sh, open, "%DOOR%", "%IP%", "%PORT%"]
  close: [$TMP/rec.sh, close, "%DOOR%", "%IP%", "%PORT%"]
doors:
  - name: ssh
    sequence: [tcp/7000, tcp/8000]
    window: 20s
    open: [tcp/22]
    duration: 60s
EOF
	# Every fsync and rename of the daemon (any thread) waits 1 s first.
	strace -f --seccomp-bpf -qq -T -o "$TMP/strace" -e trace=fsync,rename -e signal=none \
		-e inject=fsync,rename:delay_enter=1000000 \
		"$LOGKNOCKD" -c "$TMP/slow.yaml" --state-dir "$TMP/slow" 2>"$TMP/slow.err" &
	TRACER=$!
	wait_for "$TMP/slow.err" "following 1 sources" 10
	PID=$(pgrep -P "$TRACER" -x logknockd)
	check "daemon started under strace" [ -n "$PID" ]
	# Five sequences 0.6 s apart: the writer is inside a slowed write
	# for most of them (each snapshot: two files, three slowed calls each).
	slowest=0 opened=0
	for i in 1 2 3 4 5; do
		knock_line "$LOG" 192.0.2.$((20 + i)) 7000
		t0=$(now_ms)
		knock_line "$LOG" 192.0.2.$((20 + i)) 8000
		if wait_for "$CMDS" "^open ssh 192.0.2.$((20 + i)) 22$" 5; then
			opened=$((opened + 1))
			dt=$(($(now_ms) - t0))
			[ $dt -le $slowest ] || slowest=$dt
		fi
		sleep 0.6
	done
	check "five sequences opened while the state directory was slow" [ $opened = 5 ]
	check "each opened within 0.8 s of its last knock though every fsync and rename took 1 s (slowest: $slowest ms)" \
		[ $slowest -lt 800 ]
	kill -TERM "$PID"
	wait "$TRACER"
	PID= TRACER=
	read -r _dev _ino off _warm <"$(ls "$TMP"/slow/file-* | head -n 1)"
	check "on SIGTERM the position is saved before the daemon exits, slowed as it is" \
		[ "$off" = "$(wc -c <"$LOG" | tr -d ' ')" ]
	# what strace saw: the slowed calls, and when they were made
	slow=$(grep -Ec '^[0-9]+ +(fsync|rename)\(.*<[1-9][0-9]*\.[0-9]+>$' "$TMP/strace")
	check "fsyncs and renames were slowed to 1 s each meanwhile ($slow calls)" [ "$slow" -ge 3 ]
fi

# ---- (b) overruns of the kernel log buffer are counted ---------------------
if ! [ -r /dev/kmsg ] || ! [ -w /dev/kmsg ]; then
	skip_n 4 "no /dev/kmsg"
	done_testing
fi
cat >"$TMP/listen.py" <<'PY'
import socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(sys.argv[1])
s.settimeout(60)
with open(sys.argv[2], "a", buffering=1) as out:
    print("listening", file=out)
    while True:
        try:
            m = s.recv(4096).decode(errors="replace")
        except socket.timeout:
            break
        for line in m.split("\n"):
            print(line, file=out)
PY
python3 "$TMP/listen.py" "$TMP/notify" "$TMP/msgs" &
LISTENER=$!
wait_for "$TMP/msgs" "^listening$" 8
cat >"$TMP/kmsg.yaml" <<EOF
# Other tests running at once set nf_log_all_netns (t/netns.sh).
accept_nf_log_all_netns: true
sources:
  - kmsg: true
prefix: "LKW$$ "
applier:
  backend: log
doors:
  - name: ssh
    sequence: [tcp/7000]
    open: [tcp/22]
EOF
set -- $(seqs)
start_seq=$2
NOTIFY_SOCKET=$TMP/notify "$LOGKNOCKD" -c "$TMP/kmsg.yaml" --state-dir "$TMP/kstate" 2>"$TMP/k.err" &
PID=$!
wait_for "$TMP/k.err" "following 1 sources" 10

# seqs: the first and last sequence numbers of the kernel log buffer (read
# through to its end, going on past records overwritten meanwhile).
seqs() {
	python3 -c '
import errno, os
fd = os.open("/dev/kmsg", os.O_RDONLY | os.O_NONBLOCK)
first = last = None
while True:
    try:
        r = os.read(fd, 16384)
    except OSError as e:
        if e.errno == errno.EPIPE:
            continue
        break
    seq = int(r.split(b",", 2)[1])
    first = seq if first is None else first
    last = seq
print(first, last)'
}
# fill N: N records of about 200 bytes from user space (a new open every
# record: the kernel rate-limits writes per open file).
FILL=$(printf '%0180d' 0)
fill() {
	fi_i=0
	while [ $fi_i -lt "$1" ]; do
		printf 'lkw%s %s %s\n' $$ $fi_i "$FILL" >/dev/kmsg
		fi_i=$((fi_i + 1))
	done
}
# overrun: stop the daemon, write more than the buffer holds, go on.
# Sets lo: the records the daemon must have lost, at least: from the last
# record when it stopped to the first one left once the buffer is full;
# and hi: the records written since the daemon started, a bound it cannot
# pass (other kernel messages on this machine may overrun it too: the exact
# figure is not known from outside).
overrun() {
	sleep 1	# the daemon has read what came before
	kill -STOP "$PID"
	set -- $(seqs)
	at_stop=$2
	fill 1500
	set -- $(seqs)
	lo=$(($1 - at_stop - 1))
	kill -CONT "$PID"
	sleep 0.5
	set -- $(seqs)
	hi=$(($2 - start_seq))
}
# within N LO HI: LO <= N <= HI and LO > 0
within() { [ -n "$1" ] && [ "$2" -gt 0 ] && [ "$1" -ge "$2" ] && [ "$1" -le "$3" ]; }
overrun
lost1=$(sed -n 's/.*kmsg: kernel log buffer overran: \([0-9]*\) records lost.*/\1/p' "$TMP/k.err" | head -n 1)
check "an overrun is said with the records lost: ${lost1:-none}, the kernel's gap $lo..$hi" \
	within "$lost1" "$lo" "$hi"
lo1=$lo
overrun
warnings=$(grep -c "kernel log buffer overran" "$TMP/k.err")
check "a second overrun within 10 s is counted but not said again ($warnings warning)" [ "$warnings" = 1 ]
# STATUS every 5 s: the sum of both
wait_for "$TMP/msgs" "^STATUS=.* records lost$" 8
sleep 5.5
total=$(sed -n 's/^STATUS=.*, \([0-9]*\) records lost$/\1/p' "$TMP/msgs" | tail -n 1)
check "STATUS= counts both: ${total:-none} records lost, the kernel's gaps $((lo1 + lo))..$hi" \
	within "$total" $((lo1 + lo)) "$hi"
kill -TERM "$PID"
wait "$PID"
st=$?
PID=
check "at shutdown the rest is said and the total (exit $st)" \
	sh -c "[ $st = 0 ] && grep -q 'kmsg: kernel log buffer overran: [0-9]* more records lost ([0-9]* in all' '$TMP/k.err' &&
		n=\$(sed -n 's/^logknockd: warning: \([0-9]*\) kernel log records were lost in this run.*/\1/p' '$TMP/k.err') &&
		[ \"\$n\" -ge $total ] && grep -q \"(\$n in all since the start)\" '$TMP/k.err'"

if [ $tap_failed -gt 0 ]; then
	diag "$TMP/k.err" 2>/dev/null
	tail -5 "$TMP/msgs" | diag
fi
done_testing
