#!/bin/sh
# The file source (src/daemon/source_file.c) through t/source-driver: it starts at
# the end, hands out whole lines only, skips overlong ones, survives rotation
# (the real logrotate, create and copytruncate), deletion, a file or a
# directory that appears late, and restarts (SIGTERM and kill -9) without
# losing or repeating a line; it warns about a writable log; it reads stdin;
# a file that appears unreadable (logrotate: 0600, chmod a moment later) is
# read once it can be, without an error, and a warning after 10 s.
# The driver prints "L<TAB>line" or "W<TAB>line" (warm) for every line.
. "${top_srcdir:-$(dirname "$0")/..}/t/lib.sh"
DRIVER=$top_builddir/t/source-driver
[ -x "$DRIVER" ] || skip_all "source-driver not built ($DRIVER)"
command -v logrotate >/dev/null 2>&1 || PATH=$PATH:/usr/sbin:/sbin

DPID='' BROKEN=''
cleanup() {
	if [ -n "$DPID" ]; then kill -KILL "$DPID" 2>/dev/null; fi
	rm -rf "$TMP"
}
trap cleanup EXIT
TAB=$(printf '\t')

# wait_for FILE LINE: until FILE has exactly that line; at most 5 s, less if
# the driver died or never got ready.
wait_for() {
	[ -z "$BROKEN" ] || return 1
	i=0
	while [ $i -lt 250 ]; do
		grep -qxF -e "$2" "$1" 2>/dev/null && return 0
		if [ -n "$DPID" ] && ! kill -0 "$DPID" 2>/dev/null; then
			grep -qxF -e "$2" "$1" 2>/dev/null
			return
		fi
		sleep 0.02
		i=$((i + 1))
	done
	return 1
}

# start FILE STATE_DIR WARM_MS NAME: the driver in the background, output in
# $TMP/NAME.out and .err ($OUT, $ERR); returns once the source exists.
start() {
	OUT=$TMP/$4.out ERR=$TMP/$4.err
	"$DRIVER" "$1" "$2" "$3" >"$OUT" 2>"$ERR" &
	DPID=$! BROKEN=
	wait_for "$ERR" "source-driver: ready" || { BROKEN=1; diag "$ERR"; return 1; }
}

# stop [SIGNAL]: stops the driver (default TERM), at most 5 s; exit status in $STATUS.
stop() {
	[ -z "$BROKEN" ] || set -- KILL
	kill -"${1:-TERM}" "$DPID" 2>/dev/null
	i=0
	while kill -0 "$DPID" 2>/dev/null && [ $i -lt 250 ]; do
		sleep 0.02
		i=$((i + 1))
	done
	kill -0 "$DPID" 2>/dev/null && kill -KILL "$DPID" 2>/dev/null
	wait "$DPID" 2>/dev/null
	STATUS=$?
	DPID='' BROKEN=''
}

# mark LOG N: appends MARK-N to LOG and waits until the driver hands it out.
# Lines come in order, so everything before it has been handed out by then.
mark() {
	printf 'MARK-%s\n' "$2" >>"$1"
	wait_for "$OUT" "L${TAB}MARK-$2"
}

# want FILE LINE...: FILE gets the expected lines, one per argument.
want() {
	f=$1
	shift
	printf '%s\n' "$@" >"$f"
}

# saved STATE_DIR LOG: until the saved offset is LOG's size (the position is
# saved at most a second after the lines are handed out, by the state
# store's writer thread: src/daemon/state.h). At most 3 s, room for a loaded machine.
saved() {
	i=0
	while [ $i -lt 150 ]; do
		for f in "$1"/file-*; do
			[ -f "$f" ] || continue
			read -r _dev _ino off _warm <"$f" && [ "$off" = "$(wc -c <"$2" | tr -d ' ')" ] && return 0
		done
		sleep 0.02
		i=$((i + 1))
	done
	return 1
}

# result DESC EXPECTED-FILE [CONDITION...]: ok when $OUT is as expected and the condition holds.
result() {
	desc=$1 exp=$2
	shift 2
	if cmp -s "$exp" "$OUT" && { [ $# -eq 0 ] || "$@"; }; then
		ok "$desc"
	else
		fail "$desc"
		diff -u "$exp" "$OUT" | head -40 | diag
		diag "$ERR"
	fi
}

plan 19

# 1. Start at the end: what is there is history; appended lines come, in order.
D=$TMP/end && mkdir "$D" && printf 'h1\nh2\n' >"$D/log"
start "$D/log" "$D" 0 end
printf 'a1\na2\n' >>"$D/log"
printf 'a3\n' >>"$D/log"
mark "$D/log" 1
want "$D/want" "L${TAB}a1" "L${TAB}a2" "L${TAB}a3" "L${TAB}MARK-1"
result "start at the end: existing lines skipped, appended ones in order" "$D/want"

# 2. A partial line waits for its newline.
cp "$OUT" "$D/before"
printf 'abc' >>"$D/log"
sleep 0.2
cp "$OUT" "$D/partial"
printf 'def\n' >>"$D/log"
mark "$D/log" 2
printf 'L\tabcdef\nL\tMARK-2\n' >>"$D/want"
result "partial line: nothing for 200 ms, then exactly abcdef" "$D/want" cmp -s "$D/before" "$D/partial"
stop

# 3. A 20000-byte line is skipped with one warning; the next line comes. So
# does a line longer than the read buffer (100000 bytes).
D=$TMP/long && mkdir "$D" && : >"$D/log"
start "$D/log" "$D" 0 long
head -c 20000 /dev/zero | tr '\0' 'A' >>"$D/log"
printf '\nafter\n' >>"$D/log"
head -c 100000 /dev/zero | tr '\0' 'B' >>"$D/log"
printf '\nafter2\n' >>"$D/log"
mark "$D/log" 3
want "$D/want" "L${TAB}after" "L${TAB}after2" "L${TAB}MARK-3"
one_warning_each() {
	[ "$(grep -c "^source-driver: warning: $D/log: line at offset 0 is longer than 8192 bytes" "$ERR")" = 1 ] &&
		[ "$(grep -c "^source-driver: warning: $D/log: line at offset 20007 is longer than 8192 bytes" "$ERR")" = 1 ] &&
		[ "$(grep -c warning "$ERR")" = 2 ]
}
result "overlong lines skipped with one warning each naming the file; the next lines delivered" "$D/want" \
	one_warning_each
stop

# 4. logrotate "create": lines written to the old file through a descriptor
# still open (rsyslog before its HUP) and lines of the new file all come, once.
D=$TMP/create && mkdir "$D" && printf 'h1\n' >"$D/log"
printf '%s {\n\trotate 2\n\tcreate\n\tmissingok\n}\n' "$D/log" >"$D/rot.conf"
start "$D/log" "$D" 0 create
printf 'a1\n' >>"$D/log"
wait_for "$OUT" "L${TAB}a1"
exec 3>>"$D/log"
logrotate -f -s "$D/rot.state" "$D/rot.conf" >"$D/rot.err" 2>&1
rot=$?
printf 'b1\nb2\n' >&3
printf 'c1\n' >>"$D/log"
printf 'b3\n' >&3
mark "$D/log" 4
wait_for "$OUT" "L${TAB}b3"
exec 3>&-
# Each file's lines in order, each line once; how the two files' lines
# interleave depends on when the driver reads which.
want "$D/want" "L${TAB}a1" "L${TAB}c1" "L${TAB}MARK-4" "L${TAB}b1" "L${TAB}b2" "L${TAB}b3"
OUT_ALL=$OUT
{ grep -v "${TAB}b" "$OUT_ALL"; grep "${TAB}b" "$OUT_ALL"; } >"$D/got"
OUT=$D/got
rotated() { [ $rot -eq 0 ] && [ -f "$D/log.1" ] && grep -q '^h1$' "$D/log.1"; }
result "logrotate create: old file read to its end (and while written), new file from its start" "$D/want" rotated
OUT=$OUT_ALL
[ $rot -eq 0 ] || diag "$D/rot.err"
stop

# 5. logrotate "copytruncate": lines after the truncation come, nothing twice.
D=$TMP/copytruncate && mkdir "$D"
i=0
while [ $i -lt 50 ]; do printf 'history line %s\n' $i; i=$((i + 1)); done >"$D/log"
printf '%s {\n\trotate 2\n\tcopytruncate\n\tmissingok\n}\n' "$D/log" >"$D/rot.conf"
start "$D/log" "$D" 0 copytruncate
printf 'a1\na2\n' >>"$D/log"
wait_for "$OUT" "L${TAB}a2"
logrotate -f -s "$D/rot.state" "$D/rot.conf" >"$D/rot.err" 2>&1
rot=$?
printf 'c1\n' >>"$D/log"
mark "$D/log" 5
want "$D/want" "L${TAB}a1" "L${TAB}a2" "L${TAB}c1" "L${TAB}MARK-5"
truncated() { [ $rot -eq 0 ] && [ -f "$D/log.1" ] && grep -q "$D/log: truncated" "$ERR"; }
result "logrotate copytruncate: truncation noticed, lines after it delivered once" "$D/want" truncated
[ $rot -eq 0 ] || diag "$D/rot.err"
stop

# 6. Deleted and created again.
D=$TMP/delete && mkdir "$D" && printf 'h1\n' >"$D/log"
start "$D/log" "$D" 0 delete
printf 'a1\n' >>"$D/log"
wait_for "$OUT" "L${TAB}a1"
rm "$D/log"
printf 'n1\n' >"$D/log"
printf 'n2\n' >>"$D/log"
mark "$D/log" 6
want "$D/want" "L${TAB}a1" "L${TAB}n1" "L${TAB}n2" "L${TAB}MARK-6"
result "deleted and created again: the new file read from its start" "$D/want"
stop

# 7. The file does not exist at start: when it appears, it is read from its start.
D=$TMP/late && mkdir "$D"
start "$D/log" "$D" 0 late
printf 'x1\nx2\n' >"$D/log"
mark "$D/log" 7
want "$D/want" "L${TAB}x1" "L${TAB}x2" "L${TAB}MARK-7"
result "file created after start: all its lines" "$D/want"
stop

# 8. Neither the file nor its directories exist at start.
D=$TMP/latedir && mkdir "$D"
start "$D/a/b/log" "$D" 0 latedir
mkdir -p "$D/a/b"
printf 'y1\n' >"$D/a/b/log"
mark "$D/a/b/log" 8
want "$D/want" "L${TAB}y1" "L${TAB}MARK-8"
result "directory created after start (mkdir -p), then the file: its lines" "$D/want"
stop

# 9. Restart after SIGTERM: the lines written while down come once, as L; with
# a large warm time, the lines of the previous run come first as W.
D=$TMP/restart && mkdir "$D" "$D/state" && printf 'h1\n' >"$D/log"
start "$D/log" "$D/state" 60000 restart1
printf 'r1\nr2\n' >>"$D/log"
wait_for "$OUT" "L${TAB}r2"
stop TERM
status1=$STATUS
printf 'n1\nn2\nn3\n' >>"$D/log"
start "$D/log" "$D/state" 60000 restart2
mark "$D/log" 9
want "$D/want" "W${TAB}r1" "W${TAB}r2" "L${TAB}n1" "L${TAB}n2" "L${TAB}n3" "L${TAB}MARK-9"
result "restart after SIGTERM (exit 0): warm lines as W, then exactly the new lines as L" "$D/want" \
	[ "$status1" -eq 0 ]
stop TERM

# 9b. The same without warm time: only the new lines.
printf 'm1\n' >>"$D/log"
start "$D/log" "$D/state" 0 restart3
mark "$D/log" 9b
want "$D/want" "L${TAB}m1" "L${TAB}MARK-9b"
result "restart with no warm time: only the lines written while down" "$D/want"
stop

# 10. kill -9 once the position is saved: nothing lost, nothing repeated.
D=$TMP/kill9 && mkdir "$D" "$D/state" && printf 'h1\n' >"$D/log"
start "$D/log" "$D/state" 60000 kill1
printf 'k1\nk2\n' >>"$D/log"
wait_for "$OUT" "L${TAB}k2"
saved "$D/state" "$D/log"
saved_ok=$?
stop KILL
printf 'k3\nk4\nk5\n' >>"$D/log"
start "$D/log" "$D/state" 60000 kill2
mark "$D/log" 10
want "$D/want" "W${TAB}k1" "W${TAB}k2" "L${TAB}k3" "L${TAB}k4" "L${TAB}k5" "L${TAB}MARK-10"
result "restart after kill -9 (position saved after the batch): no line lost or repeated" "$D/want" \
	[ $saved_ok -eq 0 ]
stop

# 10b. kill -9 before the position of the last lines is saved: those lines
# (at most a second's worth) are read again as new, nothing is lost, and
# nothing older than the last save comes again.
D=$TMP/kill9b && mkdir "$D" "$D/state" && printf 'h1\n' >"$D/log"
start "$D/log" "$D/state" 0 kill3
printf 'j1\n' >>"$D/log"
wait_for "$OUT" "L${TAB}j1"
saved "$D/state" "$D/log"
saved_ok=$?
printf 'j2\nj3\n' >>"$D/log"
wait_for "$OUT" "L${TAB}j3"
stop KILL
printf 'j4\n' >>"$D/log"
start "$D/log" "$D/state" 0 kill4
mark "$D/log" 10b
# j2 and j3 may or may not have been saved (the writer may have run in between)
if [ $saved_ok -eq 0 ] && ! grep -q "j1" "$OUT" && [ "$(grep -c "^L${TAB}j4$" "$OUT")" = 1 ] &&
	[ "$(grep -c "^L${TAB}j[23]$" "$OUT")" -le 2 ] && [ "$(grep -c . "$OUT")" -ge 2 ]; then
	ok "kill -9 within a second of the last lines: at most those read again, nothing older, nothing lost"
else
	fail "kill -9 within a second of the last lines: at most those read again, nothing older, nothing lost"
	diag "$OUT" "$ERR"
fi
stop

# 10c. While lines keep coming, the saved position follows within the
# documented staleness (1 s): 3 s of lines every 50 ms; at each second the
# position saved 1.5 s later covers everything written by then.
D=$TMP/fresh && mkdir "$D" "$D/state" && : >"$D/log"
start "$D/log" "$D/state" 0 fresh
# lines N: N lines, 50 ms apart
lines() { for _ in $(seq "$1"); do printf 'f\n' >>"$D/log"; sleep 0.05; done; }
behind=0
for _ in 1 2 3; do
	lines 10
	size=$(wc -c <"$D/log" | tr -d ' ')
	lines 30
	read -r _dev _ino off _warm <"$(ls "$D"/state/file-* | head -n 1)"
	[ "${off:-0}" -ge "$size" ] || behind=$((behind + 1))
done
check "the position is saved within 1.5 s while reading goes on ($behind of 3 checks behind)" [ $behind = 0 ]
stop

# 11. Rotated while the driver was down: the new file is read from its start.
D=$TMP/downrot && mkdir "$D" "$D/state" && printf 'h1\n' >"$D/log"
start "$D/log" "$D/state" 60000 downrot1
printf 'p1\n' >>"$D/log"
wait_for "$OUT" "L${TAB}p1"
stop
mv "$D/log" "$D/log.1"
printf 'q1\nq2\n' >"$D/log"
start "$D/log" "$D/state" 60000 downrot2
mark "$D/log" 11
want "$D/want" "L${TAB}q1" "L${TAB}q2" "L${TAB}MARK-11"
said_replaced() { grep -q "$D/log: replaced while we were not running" "$ERR"; }
result "rotated while down: the new file from its start, and a warning" "$D/want" said_replaced
stop

# 12. A log any user can write is a way to forge knocks: warned about.
D=$TMP/perm && mkdir "$D" && : >"$D/log" && chmod 666 "$D/log"
start "$D/log" - 0 perm
stop
if grep -q "^source-driver: warning: $D/log: writable by any local user .*contrib/rsyslog-logknock.conf" "$ERR"; then
	ok "world-writable log: warning"
else
	fail "world-writable log: warning"
	diag "$ERR"
fi

# 13. stdin.
OUT=$TMP/stdin.out ERR=$TMP/stdin.err
printf 'x\ny\n' | "$DRIVER" - >"$OUT" 2>"$ERR" &
DPID=$!
wait_for "$ERR" "source-driver: warning: stdin: end of input: stopping" || true
want "$TMP/stdin.want" "L${TAB}x" "L${TAB}y"
i=0
while kill -0 "$DPID" 2>/dev/null && [ $i -lt 100 ]; do sleep 0.05; i=$((i + 1)); done
result "stdin: x and y, then end of input stops the loop" "$TMP/stdin.want" sh -c "! kill -0 $DPID 2>/dev/null"
stop

# 14. logrotate's "create": the new file appears 0600 owned by root and is
# chmodded a moment later, while the reader runs unprivileged. It is read
# from its start once readable, and nothing is logged above debug; one that
# stays unreadable is warned about after 10 s (EACCES_GRACE_US), once.
if [ "$(id -u)" != 0 ] || ! command -v setpriv >/dev/null 2>&1 || ! id nobody >/dev/null 2>&1; then
	skip_n 3 "needs root, setpriv and the user nobody"
else
	chmod 755 "$TMP"
	D=$TMP/eacces && mkdir -m 755 "$D"
	# setpriv execs the driver: $! is the driver itself, stopped by its pid
	# (through a shell function, $! would be a subshell and the driver outlive it)
	NOBODY_GID=$(id -g nobody)
	# the one that stays unreadable, first: its 10 s run while the other is tried
	SOURCE_DRIVER_DEBUG=1 setpriv --reuid=nobody --regid="$NOBODY_GID" --clear-groups "$DRIVER" "$D/stays" >"$TMP/stays.out" 2>"$TMP/stays.err" &
	SPID=$!
	OUT=$TMP/eacces.out ERR=$TMP/eacces.err
	SOURCE_DRIVER_DEBUG=1 setpriv --reuid=nobody --regid="$NOBODY_GID" --clear-groups "$DRIVER" "$D/log" >"$OUT" 2>"$ERR" &
	DPID=$! BROKEN=
	wait_for "$ERR" "source-driver: ready" && wait_for "$TMP/stays.err" "source-driver: ready" || BROKEN=1
	t0=$(date +%s)
	(umask 077 && printf 'kept\n' >"$D/stays" && printf 'early\n' >"$D/log")
	# the reader saw it and could not open it (said at debug level only)
	grep_wait() { # FILE PATTERN [SECONDS]
		i=0
		while [ $i -lt $((${3:-5} * 50)) ] && ! grep -q "$2" "$1"; do sleep 0.02; i=$((i + 1)); done
		grep -q "$2" "$1"
	}
	tried=0
	grep_wait "$ERR" "$D/log: appeared but not readable yet" && tried=1
	printf 'late1\n' >>"$D/log"
	sleep 0.3
	chmod 644 "$D/log"
	printf 'late2\n' >>"$D/log"
	want "$TMP/eacces.want" "L${TAB}early" "L${TAB}late1" "L${TAB}late2"
	wait_for "$OUT" "L${TAB}late2"
	result "created 0600 by root, chmodded 0.3 s later: read from its start once readable" "$TMP/eacces.want" \
		[ $tried = 1 ]
	stop
	if grep -q "error\|warning" "$ERR"; then
		fail "... and no error or warning was logged"
		diag "$ERR"
	else
		ok "... and no error or warning was logged"
	fi
	grep_wait "$TMP/stays.err" "$D/stays: still not readable 10 s after it appeared" 15
	t1=$(date +%s)
	if [ "$(grep -c "warning: $D/stays: still not readable 10 s after it appeared" "$TMP/stays.err")" = 1 ] &&
		[ $((t1 - t0)) -ge 10 ] && ! grep -q "error" "$TMP/stays.err" && [ ! -s "$TMP/stays.out" ]; then
		ok "one that stays unreadable: one warning after 10 s ($((t1 - t0)) s), nothing read"
	else
		fail "one that stays unreadable: one warning after 10 s ($((t1 - t0)) s), nothing read"
		diag "$TMP/stays.err"
	fi
	stop_pid "$SPID"
fi

done_testing
