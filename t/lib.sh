# lib.sh — TAP helpers for the shell tests. Source it; call plan, then ok/fail.
# Every test gets its own temporary directory, removed on exit.
: "${top_srcdir:=$(cd "$(dirname "$0")/.." && pwd)}"
: "${top_builddir:=$top_srcdir}"
: "${LOGKNOCKD:=$top_builddir/src/logknockd}"
: "${LOGKNOCK_APPLY:=$top_builddir/src/logknock-apply}"
export LOGKNOCKD LOGKNOCK_APPLY TZ=UTC LC_ALL=C
# Tests run as root; from a shell that sudo started, these marks would make
# every logknock-apply a test starts believe its caller has less privilege.
unset SUDO_UID SUDO_GID SUDO_USER SUDO_COMMAND DOAS_USER PKEXEC_UID

tap_n=0
tap_failed=0
TMP=$(mktemp -d "${TMPDIR:-/tmp}/logknock-t.XXXXXX") || exit 1
trap 'rm -rf "$TMP"' EXIT
trap 'exit 1' INT TERM HUP

plan() { echo "1..$1"; }
skip_all() { echo "1..0 # SKIP $*"; exit 0; }
ok() { tap_n=$((tap_n + 1)); echo "ok $tap_n - $*"; }
fail() { tap_n=$((tap_n + 1)); tap_failed=$((tap_failed + 1)); echo "not ok $tap_n - $*"; }
# skip_n N REASON: N tests skipped, each saying why.
skip_n() {
	skip_k=0
	while [ $skip_k -lt "$1" ]; do
		ok "# SKIP $2"
		skip_k=$((skip_k + 1))
	done
}
diag() { sed 's/^/# /' "$@"; }

# check DESC COMMAND...: ok when COMMAND succeeds.
check() {
	desc=$1
	shift
	if "$@"; then ok "$desc"; else fail "$desc"; fi
}

# same DESC EXPECTED-FILE ACTUAL-FILE: ok when the files are identical; the diff otherwise.
same() {
	if cmp -s "$2" "$3"; then
		ok "$1"
	else
		fail "$1"
		diff -u "$2" "$3" | head -40 | diag
	fi
}

# wait_for FILE PATTERN [SECONDS]: true as soon as a line of FILE matches the basic regex PATTERN (at most SECONDS, default 5).
wait_for() {
	wf_i=0
	while [ $wf_i -lt $((${3:-5} * 50)) ]; do
		grep -q -- "$2" "$1" 2>/dev/null && return 0
		sleep 0.02
		wf_i=$((wf_i + 1))
	done
	grep -q -- "$2" "$1" 2>/dev/null
}

# wait_count FILE PATTERN N [SECONDS]: true as soon as N lines of FILE match PATTERN (at most SECONDS, default 5).
wait_count() {
	wc_i=0
	while [ $wc_i -lt $((${4:-5} * 50)) ]; do
		[ "$(grep -c -- "$2" "$1" 2>/dev/null)" -ge "$3" ] && return 0
		sleep 0.02
		wc_i=$((wc_i + 1))
	done
	return 1
}

# alive PID: the process exists and is not a zombie.
alive() {
	al_st=$(sed 's/.*) //' "/proc/$1/stat" 2>/dev/null | cut -d' ' -f1)
	[ -n "$al_st" ] && [ "$al_st" != Z ] && [ "$al_st" != X ]
}

# stop_pid PID: SIGTERM, at most 5 s, then SIGKILL; reaps it when it is a child of this shell. Empty PID: nothing.
stop_pid() {
	[ -n "$1" ] || return 0
	kill -TERM "$1" 2>/dev/null || { wait "$1" 2>/dev/null; return 0; }
	sp_i=0
	while alive "$1" && [ $sp_i -lt 50 ]; do
		sleep 0.1
		sp_i=$((sp_i + 1))
	done
	[ $sp_i -lt 50 ] || kill -KILL "$1" 2>/dev/null
	wait "$1" 2>/dev/null
	return 0
}

# knock_line LOG SRC DPORT [TAG]: appends the line the kernel's LOG target writes for a SYN from SRC (as rsyslog stores it, stamped now) to LOG.
sport=40000
knock_line() {
	sport=$((sport + 1))
	printf '%s vm %s: [ 93.717774] KNOCK IN=kn-s OUT= MAC=62:92:44:cb:fb:5c:fe:65:11:35:87:ec:08:00 SRC=%s DST=192.0.2.1 LEN=60 TOS=0x00 PREC=0x00 TTL=64 ID=36861 DF PROTO=TCP SPT=%d DPT=%d WINDOW=64240 RES=0x00 SYN URGP=0 \n' \
		"$(date -u +%Y-%m-%dT%H:%M:%S.%6N+00:00)" "${4:-kernel}" "$2" "$sport" "$3" >>"$1"
}

# start_driver SOURCE OUT WARM_MS: $DRIVER (t/source-jdriver) on SOURCE (journal, kmsg) with state in $STATE, lines to OUT; true once READY (5 s).
driver_pid=
start_driver() {
	: >"$2"
	"$DRIVER" "$1" "$STATE" "$3" >"$2" 2>"$2.err" &
	driver_pid=$!
	wait_for "$2.err" '^READY$' 5
}

# stop_driver [SIGNAL]: sends SIGNAL (TERM by default) to the driver and reaps it; its exit status in driver_rc.
stop_driver() {
	kill -"${1:-TERM}" "$driver_pid" 2>/dev/null
	wait "$driver_pid" 2>/dev/null
	driver_rc=$?
	driver_pid=
}

# knock_count FILE KIND PORT: how many lines of FILE are of KIND (L or W) for a knock with $PREFIX to PORT.
knock_count() { grep -c "^$2$(printf '\t')$PREFIX .*DPT=$3 " "$1"; }

# A copy of a log whose mtime (the reference time of year-less stamps) is fixed.
fixed_copy() {
	cp "$1" "$2" && touch -d '2026-11-27 00:00:00 UTC' "$2"
}

need_binaries() {
	[ -x "$LOGKNOCKD" ] || skip_all "logknockd not built ($LOGKNOCKD)"
	[ -x "$LOGKNOCK_APPLY" ] || skip_all "logknock-apply not built ($LOGKNOCK_APPLY)"
}

# kmsg_dump: every record of the kernel's log buffer, raw
# ("PRI,SEQ,TS,FLAGS;MESSAGE" and its continuation lines). A read of
# /dev/kmsg fails with EPIPE when the record it was at has been overwritten
# (other tests log at the same time); dd would stop there with half a dump,
# this goes on from the oldest record still there.
kmsg_dump() {
	python3 -c '
import errno, os, sys
fd = os.open("/dev/kmsg", os.O_RDONLY | os.O_NONBLOCK)
out = sys.stdout.buffer
while True:
    try:
        r = os.read(fd, 16384)
    except OSError as e:
        if e.errno == errno.EPIPE:
            continue
        if e.errno == errno.EAGAIN:
            break
        raise
    out.write(r)
'
}
done_testing() { exit $((tap_failed > 0)); }
