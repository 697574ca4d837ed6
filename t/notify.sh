#!/bin/sh
# The daemon speaks sd_notify as a Type=notify service must: READY=1 once it
# follows its sources, STATUS= with live counts, WATCHDOG=1 from the event
# loop when the unit sets WatchdogSec=, RELOADING=1 around a reload and
# STOPPING=1 on the way out. A python3 datagram socket stands in for systemd.
. "${top_srcdir:-$(dirname "$0")/..}/t/lib.sh"
need_binaries
command -v python3 >/dev/null 2>&1 || skip_all "python3 is needed to listen on the notify socket"
plan 6

cat >"$TMP/listen.py" <<'PY'
import socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(sys.argv[1])
s.settimeout(30)
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
PID=
trap '[ -n "$PID" ] && kill -KILL $PID 2>/dev/null; kill $LISTENER 2>/dev/null; rm -rf "$TMP"' EXIT
: >"$TMP/kern.log"
cat >"$TMP/conf.yaml" <<CONF
# net.netfilter.nf_log_all_netns is the host's: another test may hold it at 1 meanwhile
accept_nf_log_all_netns: true
sources:
  - file: $TMP/kern.log
prefix: "KNOCK "
doors:
  - name: ssh
    sequence: [tcp/7000]
    open: [tcp/22]
CONF
wait_for "$TMP/msgs" "^listening$" 8
NOTIFY_SOCKET=$TMP/notify WATCHDOG_USEC=400000 "$LOGKNOCKD" -c "$TMP/conf.yaml" --state-dir "$TMP/state" \
	2>"$TMP/d.err" &
PID=$!
check "READY=1 once the sources are followed" wait_for "$TMP/msgs" "^READY=1$" 8
check "STATUS= with live counts" wait_for "$TMP/msgs" "^STATUS=following 1 sources: [0-9]* lines, [0-9]* knocks" 8
check "WATCHDOG=1 pings from the event loop" wait_for "$TMP/msgs" "^WATCHDOG=1$" 8
kill -HUP $PID
check "RELOADING=1 on SIGHUP" wait_for "$TMP/msgs" "^RELOADING=1$" 8
kill -TERM $PID
wait $PID
st=$?
PID=
check "STOPPING=1 on SIGTERM" wait_for "$TMP/msgs" "^STOPPING=1$" 8
check "exit status 0" [ $st -eq 0 ]
done_testing
