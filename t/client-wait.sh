#!/bin/sh
# logknock --wait against a real nft guard: logknock-apply's nft backend
# guards tcp/2222 in a server namespace, so the SYNs of the waiting client
# are dropped (not refused) until the test grants its address at a known
# moment. The client must connect within one attempt interval (100 ms, as
# logknock(1) says) of the grant being in place, in IPv4 and IPv6, at five
# moments spread over a second (a client that waits for one attempt to time
# out before the next is far too late at most of them). And when the port
# never opens: exit 1 after --timeout with the documented message, no more
# sockets than attempts in flight at any time, none left behind.
#
# Delay: from the applier's "ok" to the open request (the set element is in
# the kernel) to the listener's accept(), both stamped with CLOCK_MONOTONIC
# by one driver in the server namespace. LOGKNOCK_PEER=BINARY interleaves
# rounds of another client (the one of an older commit, say) and prints its
# figures beside, without judging them.
. "${top_srcdir:-$(dirname "$0")/..}/t/lib.sh"
. "$top_srcdir/t/netns.sh"

: "${LOGKNOCK:=$top_builddir/src/logknock}"
INTERVAL_MS=100		# logknock(1): an attempt every 100 ms
# Margin over the interval: on this 2-core machine, with the other sessions'
# builds running and, for a third of the runs, three busy loops of ours on
# top (load 2.7-4.1), 90 rounds of the overlapping client measured median
# 53 ms, at most 105.1 ms: the interval and 5 ms of wake-ups (the client's
# timer, the listener's accept) under load. 50 ms leaves ten times that room
# and still fails a client that waits out a whole second per attempt (its
# delays fall over the whole second: median 560 ms in the same runs).
MARGIN_MS=50
PORT=2222

driver_pid=

cleanup() {
	stop_pid "$driver_pid"
	netns_cleanup		# the namespaces take the applier's table with them
	rm -rf "$TMP"
}
trap cleanup EXIT

[ "$(id -u)" = 0 ] || skip_all "not root"
[ -x "$LOGKNOCK" ] || skip_all "logknock not built ($LOGKNOCK)"
[ -x "$LOGKNOCK_APPLY" ] || skip_all "logknock-apply not built ($LOGKNOCK_APPLY)"
if "$LOGKNOCK_APPLY" --backend nft --open /bin/true </dev/null 2>&1 | grep -q "unknown backend"; then
	skip_all "logknock-apply has no nft backend"
fi
PY=$(python3 -c 'import sys; print(sys.executable)' 2>/dev/null)
[ -n "$PY" ] && [ -x "$PY" ] || skip_all "no python3 (for the driver)"
netns_setup || skip_all "$netns_error"

plan 13

# driver.py: in the server namespace. Starts the applier (nft guard on
# tcp/PORT) and a listener on PORT of both server addresses that stamps each
# accept; then runs the cases given as arguments, one result line each:
#   open FAMILY PHASE_S BINARY: the client knocks and waits; PHASE_S after it
#     started, the grant for its address; prints
#     "open FAMILY PHASE RC DELAY_MS SEND_TO_OK_MS MAX_SOCKETS LEFT OUTPUT"
#   closed FAMILY TIMEOUT_S BINARY: no grant; prints
#     "closed FAMILY - RC ELAPSED_MS - MAX_SOCKETS LEFT STDERR"
# MAX_SOCKETS: the most sockets the client held at once (/proc/PID/fd every
# 5 ms); LEFT: TCP sockets to PORT left in the client namespace after it
# exited that are not closing down normally (SYN-SENT, ESTAB). Overlap is
# judged by at least 5 sockets at once: "ip netns exec" holds one of its own
# before it execs the client, so 2 would not prove it.
cat >"$TMP/driver.py" <<'EOF'
import os, select, socket, subprocess, sys, threading, time
apply, client_ns, port = sys.argv[1], sys.argv[2], int(sys.argv[3])
cases = [a.split(",") for a in sys.argv[4:]]
server = {"4": "192.0.2.1", "6": "2001:db8::1"}
me = {"4": ("inet", "192.0.2.2"), "6": ("inet6", "2001:db8::2")}

ap = subprocess.Popen([apply, "--backend", "nft", "--guard", "tcp/%d" % port],
                      stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, bufsize=1)
ids = iter(range(1, 1 << 30))
def request(line):
    """Sends LINE (with a fresh ID); the times of the send and of the ok."""
    i = next(ids)
    line = line % i
    t0 = time.monotonic()
    ap.stdin.write(line + "\n")
    reply = ""
    while not reply.startswith(("ok ", "error ")):	# not a "ready" line
        reply = ap.stdout.readline()
        if not reply:
            sys.exit("applier: no reply to %r" % line)
        reply = reply.strip()
    t1 = time.monotonic()
    if reply != "ok %d" % i:
        sys.exit("applier: %r -> %r" % (line, reply))
    return t0, t1
request("close %d inet 198.51.100.99 tcp " + str(port))	# answered once the guard is set up (a guarded port: others are refused)

accepts, lock = [], threading.Lock()
socks = []
for fam, addr in ((socket.AF_INET, server["4"]), (socket.AF_INET6, server["6"])):
    s = socket.socket(fam, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind((addr, port))
    s.listen(64)
    socks.append(s)
def listen():
    while True:
        for s in select.select(socks, [], [])[0]:
            c = s.accept()[0]
            t = time.monotonic()
            with lock:
                accepts.append(t)
            c.close()
threading.Thread(target=listen, daemon=True).start()
print("ready", flush=True)

def sockets_of(pid):
    n = 0
    try:
        for fd in os.listdir("/proc/%d/fd" % pid):
            try:
                if os.readlink("/proc/%d/fd/%s" % (pid, fd)).startswith("socket:"):
                    n += 1
            except OSError:
                pass
    except OSError:
        pass
    return n

def left():
    """TCP sockets to PORT in the client namespace still connecting or connected."""
    out = subprocess.run(["ip", "netns", "exec", client_ns, "ss", "-Htn", "state", "syn-sent",
                          "state", "established", "dport", "= :%d" % port],
                         capture_output=True, text=True).stdout
    return len([l for l in out.splitlines() if l.strip()])

for kind, fam, arg, binary in cases:
    # "ip netns exec" execs the client: the PID is the client's.
    argv = ["ip", "netns", "exec", client_ns, binary, "-" + fam, "--wait", str(port)]
    argv += ["--timeout", arg if kind == "closed" else "10", server[fam], "tcp/7000"]
    with lock:
        del accepts[:]
    t_start = time.monotonic()
    p = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    most, t_open, opened = 0, None, None
    while p.poll() is None:
        most = max(most, sockets_of(p.pid))
        if kind == "open" and opened is None and time.monotonic() - t_start >= float(arg):
            opened = request("open %%d %s %s tcp %d 60" % (me[fam][0], me[fam][1], port))
        time.sleep(0.005)
    out, err = p.communicate()
    elapsed = (time.monotonic() - t_start) * 1000
    n_left = left()
    if kind == "open":
        with lock:
            first = accepts[0] if accepts else None
        delay = "%.1f" % ((first - opened[1]) * 1000) if first is not None and opened else "none"
        s2ok = "%.1f" % ((opened[1] - opened[0]) * 1000) if opened else "none"
        if opened:
            request("close %%d %s %s tcp %d" % (me[fam][0], me[fam][1], port))
        print("open", fam, arg, p.returncode, delay, s2ok, most, n_left, out.strip().replace(" ", "_") or "-",
              flush=True)
    else:
        print("closed", fam, "-", p.returncode, "%.0f" % elapsed, "-", most, n_left,
              err.strip().replace(" ", "_") or "-", flush=True)
ap.stdin.close()
ap.wait()
EOF

# Cases: the grant comes 1.2 s after the client started (it is waiting by
# then) and later, 0.22 s apart: spread over a second, and over the
# interval too (at 0, 20, 40, 60, 80 ms into it for IPv4, 50, 70, 90, 10,
# 30 ms for IPv6). A peer client's rounds are interleaved.
cases=
for ph in 1.20 1.42 1.64 1.86 2.08; do
	for fam in 4 6; do
		[ $fam = 4 ] || ph=$(echo "$ph" | awk '{ printf "%.2f", $1 + 0.05 }')
		cases="$cases open,$fam,$ph,$LOGKNOCK"
		[ -z "${LOGKNOCK_PEER:-}" ] || cases="$cases open,$fam,$ph,$LOGKNOCK_PEER"
	done
done
cases="$cases closed,4,2,$LOGKNOCK closed,6,2,$LOGKNOCK"

# shellcheck disable=SC2086 # the cases are words
in_server "$PY" "$TMP/driver.py" "$LOGKNOCK_APPLY" "$NETNS_CLIENT" $PORT $cases \
	>"$TMP/driver.out" 2>"$TMP/driver.err" &
driver_pid=$!
if ! wait_for "$TMP/driver.out" '^ready$' 20; then
	fail "the driver, the applier's nft guard and the listener start"
	diag "$TMP/driver.err"
	skip_n 12 "no driver"
	exit 1
fi
ok "the driver, the applier's nft guard and the listener start"
wait "$driver_pid"
driver_rc=$?
driver_pid=
check "the driver ran every case (exit $driver_rc)" [ $driver_rc -eq 0 ]
[ $driver_rc -eq 0 ] || diag "$TMP/driver.err"

# The driver's lines do not name the binary: rounds alternate, ours first.
awk '$1 == "open"' "$TMP/driver.out" >"$TMP/open.all"
if [ -n "${LOGKNOCK_PEER:-}" ]; then
	awk 'NR % 2 == 1' "$TMP/open.all" >"$TMP/open.mine"
	awk 'NR % 2 == 0' "$TMP/open.all" >"$TMP/open.peer"
else
	cp "$TMP/open.all" "$TMP/open.mine"
fi

limit=$((INTERVAL_MS + MARGIN_MS))
for fam in 4 6; do
	awk -v f=$fam '$2 == f' "$TMP/open.mine" >"$TMP/open$fam"
	n=$(grep -c . "$TMP/open$fam")
	check "IPv$fam: 5 rounds of the guard opening while the client waits ($n)" [ "$n" = 5 ]
	check "IPv$fam: the client exits 0 and says the port is open, every round" \
		awk -v want="192.0.2.1_port_${PORT}_is_open" -v want6="2001:db8::1_port_${PORT}_is_open" \
		'$4 != 0 || ($9 != want && $9 != want6) { bad = 1 } END { exit bad }' "$TMP/open$fam"
	delays=$(awk '{ printf "%s%s", sep, $5; sep = " " }' "$TMP/open$fam")
	check "IPv$fam: connected within ${INTERVAL_MS} + ${MARGIN_MS} ms of the grant, every round (ms: $delays)" \
		awk -v l=$limit '$5 == "none" || $5 + 0 > l { bad = 1 } END { exit bad || NR == 0 }' "$TMP/open$fam"
	check "IPv$fam: at most 10 sockets at once, nothing connecting or connected left after the client" \
		awk '$7 > 10 || $8 != 0 { bad = 1 } END { exit bad || NR == 0 }' "$TMP/open$fam"
done
# median FILE: the median of column 5.
median() { awk '{ print $5 }' "$1" | sort -n | awk '{ v[NR] = $1 } END { if (NR % 2) print v[(NR + 1) / 2]; else printf "%.1f\n", (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
echo "# delay from grant to accept, median of $(grep -c . "$TMP/open.mine") rounds: $(median "$TMP/open.mine") ms ($LOGKNOCK)"
echo "# applier send -> ok: $(awk '{ printf "%s ", $6 }' "$TMP/open.mine")ms"
if [ -n "${LOGKNOCK_PEER:-}" ]; then
	echo "# peer's delays: $(awk '{ printf "%s ", $5 }' "$TMP/open.peer")ms"
	echo "# peer's median of $(grep -c . "$TMP/open.peer") rounds: $(median "$TMP/open.peer") ms ($LOGKNOCK_PEER)"
fi

# The port never opens.
awk '$1 == "closed"' "$TMP/driver.out" >"$TMP/closed"
msg="logknock:_port_${PORT}_did_not_open_within_2_s:_check_the_sequence,_the_window_and_that_the_firewall_logs_the_knock_ports"
check "never open: exit 1 after --timeout 2 (2.0-3.5 s: $(awk '{ printf "%s ", $5 }' "$TMP/closed")ms), IPv4 and IPv6" \
	awk '$4 != 1 || $5 < 2000 || $5 > 3500 { bad = 1 } END { exit bad || NR != 2 }' "$TMP/closed"
check "never open: the documented message" \
	awk -v m="$msg" '$9 != m { bad = 1 } END { exit bad || NR != 2 }' "$TMP/closed"
check "never open: attempts overlap, at most 10 sockets at once, none left behind (most: $(awk '{ printf "%s ", $7 }' "$TMP/closed"))" \
	awk '$7 < 5 || $7 > 10 || $8 != 0 { bad = 1 } END { exit bad || NR != 2 }' "$TMP/closed"
[ "$tap_failed" = 0 ] || diag "$TMP/driver.out" "$TMP/driver.err"
done_testing
