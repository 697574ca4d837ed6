#!/bin/sh
# The nft backend of logknock-apply against a real kernel: in a server
# namespace whose admin ruleset simply accepts tcp/22, the applier's guard
# chain refuses new connections to the guarded ports from every source
# without a grant; a grant is a set element the kernel expires by itself.
# Every check is a real connection from the client namespace; nothing here
# touches the host's ruleset.
. "${top_srcdir:-$(dirname "$0")/..}/t/lib.sh"
. "$top_srcdir/t/netns.sh"

APPLY=$LOGKNOCK_APPLY
applier_pid=
server_pid=
hold_pid=
nreq=0

cleanup() {
	exec 3>&-
	for pid in $applier_pid $server_pid $hold_pid; do
		kill "$pid" 2>/dev/null
		wait "$pid" 2>/dev/null
	done
	applier_pid=
	server_pid=
	netns_cleanup		# the namespaces take their rulesets with them
	rm -rf "$TMP"
}
trap cleanup EXIT
trap '' PIPE			# a dead applier makes a write fail, not the test die

[ "$(id -u)" = 0 ] || skip_all "not root"
[ -x "$APPLY" ] || skip_all "logknock-apply not built ($APPLY)"
# Asks for the backend without creating it: --open is refused before any set-up,
# and an unknown backend is refused first.
if "$APPLY" --backend nft --open /bin/true </dev/null 2>&1 | grep -q "unknown backend"; then
	skip_all "logknock-apply has no nft backend"
fi
PY=$(python3 -c 'import sys; print(sys.executable)' 2>/dev/null)
[ -n "$PY" ] && [ -x "$PY" ] || skip_all "no python3 (for listeners and clients)"
netns_setup || skip_all "$netns_error"
S=$NETNS_SERVER
C=$NETNS_CLIENT

# ---- the server: the admin's own ruleset and listeners -------------------

in_server nft -f - <<'EOF' || skip_all "cannot load an nftables ruleset in the namespace"
table inet admin {
	chain input {
		type filter hook input priority filter; policy drop;
		ct state established,related accept
		iif lo accept
		meta l4proto { icmp, ipv6-icmp } accept
		tcp dport { 22, 443 } accept
		udp dport 5353 accept
	}
}
EOF

# TCP 22 and 443 answer "pong" to whatever comes, until the client closes;
# UDP 5353 answers "pong" to each datagram.
cat >"$TMP/server.py" <<'EOF'
import selectors, socket, sys
sel = selectors.DefaultSelector()
for fam, addr in ((socket.AF_INET, "192.0.2.1"), (socket.AF_INET6, "2001:db8::1")):
    for port in (22, 443):
        s = socket.socket(fam, socket.SOCK_STREAM)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind((addr, port))
        s.listen(64)
        sel.register(s, selectors.EVENT_READ, "tcp")
    u = socket.socket(fam, socket.SOCK_DGRAM)
    u.bind((addr, 5353))
    sel.register(u, selectors.EVENT_READ, "udp")
with open(sys.argv[1], "w") as f:
    f.write("ready\n")
while True:
    for key, _ in sel.select():
        if key.data == "tcp":
            c, _ = key.fileobj.accept()
            sel.register(c, selectors.EVENT_READ, "conn")
        elif key.data == "conn":
            try:
                data = key.fileobj.recv(64)
            except OSError:
                data = b""
            if data:
                key.fileobj.send(b"pong")
            else:
                sel.unregister(key.fileobj)
                key.fileobj.close()
        else:
            data, peer = key.fileobj.recvfrom(64)
            key.fileobj.sendto(b"pong", peer)
EOF
# conn.py tcp|udp SRC DST PORT: exit 0 when a connection (an answer) comes within 1 s.
cat >"$TMP/conn.py" <<'EOF'
import socket, sys
proto, src, dst, port = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
fam = socket.AF_INET6 if ":" in dst else socket.AF_INET
s = socket.socket(fam, socket.SOCK_STREAM if proto == "tcp" else socket.SOCK_DGRAM)
s.settimeout(1.0)
s.bind((src, 0))
if proto == "tcp":
    s.connect((dst, port))
else:
    s.sendto(b"ping", (dst, port))
    if s.recvfrom(64)[0] != b"pong":
        sys.exit(1)
EOF

# hold.py SRC DST PORT DIR: connects, creates DIR/connected, waits (at most
# 10 s) for DIR/go, then needs an answer on that same connection.
cat >"$TMP/hold.py" <<'EOF'
import os, socket, sys, time
src, dst, port, d = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
s = socket.socket(socket.AF_INET6 if ":" in dst else socket.AF_INET, socket.SOCK_STREAM)
s.settimeout(1.0)
s.bind((src, 0))
s.connect((dst, port))
open(os.path.join(d, "connected"), "w").close()
for _ in range(200):
    if os.path.exists(os.path.join(d, "go")):
        break
    time.sleep(0.05)
s.send(b"ping")
sys.exit(0 if s.recv(64) == b"pong" else 1)
EOF

netns_add_other_client || skip_all "cannot add a second client address"

# Not through a shell function: ip netns exec execs python, so $! is its PID.
ip netns exec "$S" "$PY" "$TMP/server.py" "$TMP/ready" 2>"$TMP/server.err" &
server_pid=$!

# wait_until MS COMMAND...: until COMMAND succeeds, at most about MS.
wait_until() {
	wu_end=$(($1 / 50))
	shift
	wu_i=0
	until "$@"; do
		wu_i=$((wu_i + 1))
		[ $wu_i -le $wu_end ] || return 1
		sleep 0.05
	done
	return 0
}
wait_until 5000 test -s "$TMP/ready" || skip_all "the test server did not start: $(head -1 "$TMP/server.err")"

# conn tcp|udp SRC DST PORT: one bounded connection attempt from the client.
conn() { in_client timeout 3 "$PY" "$TMP/conn.py" "$@" 2>/dev/null; }
no_conn() { ! conn "$@"; }
# conn_lo DST PORT: a TCP connection from the server to its own address: over lo.
conn_lo() { in_server timeout 3 "$PY" "$TMP/conn.py" tcp "$1" "$1" "$2" 2>/dev/null; }
no_conn_lo() { ! conn_lo "$@"; }

# ---- the applier, a coprocess fed through a FIFO -------------------------

GUARD="--guard tcp/22 --guard udp/5353 --guard icmp/8"
start_applier() {
	: >"$TMP/rep"
	nreq=0
	# ip netns exec execs the applier: $! is its PID.
	# shellcheck disable=SC2086
	ip netns exec "$S" "$APPLY" ${APPLY_ARGS:---backend nft $GUARD --timeout 5000} \
		<"$TMP/req" >"$TMP/rep" 2>>"$TMP/apply.err" &
	applier_pid=$!
	exec 3>"$TMP/req"	# blocks until the applier opens its end
	# Ready once it answers (its set-up comes first): a close of nothing.
	req "close 99 inet 198.51.100.99 tcp 22" && [ "$got" = "ok 99" ]
}
stop_applier() {
	exec 3>&-
	st=0
	wait "$applier_pid" || st=$?
	applier_pid=
	return $st
}
# Replies only: other lines (a "ready" line, say) are not counted.
replies() { grep -E '^(ok|error) ' "$TMP/rep"; }
have_replies() { [ "$(replies | wc -l)" -ge "$nreq" ]; }
# req LINE: sends one request; its reply in $got (empty after 5 s without one).
# Not to be called in a subshell: it counts requests in $nreq.
req() {
	got=
	nreq=$((nreq + 1))
	printf '%s\n' "$1" >&3 || return 1
	wait_until 5000 have_replies || return 1
	got=$(replies | sed -n "${nreq}p")
}
# reply DESC LINE WANT: the reply to LINE is exactly WANT.
reply() {
	req "$2"
	if [ "$got" = "$3" ]; then
		ok "$1"
	else
		fail "$1"
		echo "# sent '$2', want '$3', got '$got'"
	fi
}
set4() { in_server nft list set inet logknock allow4; }
set6() { in_server nft list set inet logknock allow6; }
# in_set 4|6 ELEMENT: the set lists ELEMENT ("192.0.2.2 . tcp . 22") with a timeout.
in_set() { set"$1" 2>/dev/null | grep -qF "$2 timeout "; }
not_in_set() { set"$1" >"$TMP/set" 2>&1 && ! grep -qF "$2 " "$TMP/set"; }
set_empty() { set"$1" >"$TMP/set" 2>&1 && ! grep -q 'elements =' "$TMP/set"; }
# expires_ms 4|6 ELEMENT: the element's remaining time in ms ("expires 5s980ms").
expires_ms() {
	set"$1" 2>/dev/null | tr ',{}' '\n\n\n' | grep -F "$2 timeout " |
		sed -n 's/.* expires \([0-9dhms]*\).*/\1/p' | awk '
		{ t = $0; ms = 0
		  while (match(t, /^[0-9]+(ms|d|h|m|s)/)) {
			u = substr(t, 1, RLENGTH); t = substr(t, RLENGTH + 1)
			n = u + 0; sub(/^[0-9]+/, "", u)
			ms += n * (u == "ms" ? 1 : u == "s" ? 1000 : u == "m" ? 60000 : u == "h" ? 3600000 : 86400000)
		  }
		  print ms }'
}
# guard_rules: how many rules the guard chain holds.
guard_rules() {
	in_server nft -a list chain inet logknock guard | grep -v '^[[:space:]]*chain ' | grep -c '^[[:space:]].*# handle'
}

mkfifo "$TMP/req" || skip_all "cannot make a FIFO"

# ---- the checks -------------------------------------------------------------

# 0: the control: without the guard, the admin's ruleset lets tcp/22 in.
check "without the guard, the admin ruleset accepts 192.0.2.1:22" conn tcp 192.0.2.2 192.0.2.1 22

check "the applier starts and answers" start_applier
# 1
check "guard: a new connection to 192.0.2.1:22 without a grant is dropped" \
	no_conn tcp 192.0.2.2 192.0.2.1 22
check "guard: an unguarded port (443) is left to the admin's ruleset" conn tcp 192.0.2.2 192.0.2.1 443
check "loopback: a connection over lo to a guarded port (22) is left to the admin's 'iif lo accept'" \
	conn_lo 192.0.2.1 22
check "loopback: over IPv6 too" conn_lo 2001:db8::1 22

reply "a port the doors do not open (tcp/3306) is refused" "open 97 inet 192.0.2.2 tcp 3306 30 ssh" \
	"error 97 refused: tcp/3306 is not a guarded port (the doors' open: ports)"
no_3306() { set4 >"$TMP/set4" && ! grep -q 3306 "$TMP/set4"; }
check "... and allow4 holds nothing for it" no_3306
# 2
reply "open: ok" "open 1 inet 192.0.2.2 tcp 22 3 ssh" "ok 1"
check "open: allow4 lists the element with a timeout" in_set 4 "192.0.2.2 . tcp . 22"
check "open: a connection from 192.0.2.2 now succeeds" conn tcp 192.0.2.2 192.0.2.1 22
# 3
check "open: from another address (192.0.2.3) it still fails" no_conn tcp 192.0.2.3 192.0.2.1 22
# 4: no close sent; the kernel ends the grant 3 s after the open.
check "expiry: the kernel removes the element by itself" wait_until 6000 not_in_set 4 "192.0.2.2 . tcp . 22"
check "expiry: the connection fails again, without a close" no_conn tcp 192.0.2.2 192.0.2.1 22

# 5
reply "refresh: open 2 for 2 s" "open 2 inet 192.0.2.2 tcp 22 2 ssh" "ok 2"
reply "refresh: open 2 again for 6 s" "open 2 inet 192.0.2.2 tcp 22 6 ssh" "ok 2"
ms=$(expires_ms 4 "192.0.2.2 . tcp . 22")
if [ -n "$ms" ] && [ "$ms" -gt 4000 ] && set4 | grep -qF "192.0.2.2 . tcp . 22 timeout 6s "; then
	ok "refresh: the element's timeout is 6 s (expires in ${ms} ms)"
else
	fail "refresh: the element's timeout is 6 s"
	set4 2>&1 | diag
fi
sleep 3		# past the first 2 s, inside the new 6 s
check "refresh: 3 s later the connection still works" conn tcp 192.0.2.2 192.0.2.1 22
# 6, with a connection made while the grant was open
mkdir "$TMP/hold"
ip netns exec "$C" timeout 15 "$PY" "$TMP/hold.py" 192.0.2.2 192.0.2.1 22 "$TMP/hold" 2>/dev/null &
hold_pid=$!
wait_until 5000 test -e "$TMP/hold/connected"
reply "close: ok" "close 2 inet 192.0.2.2 tcp 22 ssh" "ok 2"
check "close: the connection fails at once" no_conn tcp 192.0.2.2 192.0.2.1 22
check "close: the element is gone" not_in_set 4 "192.0.2.2 . tcp . 22"
: >"$TMP/hold/go"
st=0
wait "$hold_pid" || st=$?
hold_pid=
check "close: a connection made during the grant goes on after it" test "$st" = 0
# 7
reply "expired close: open 3 for 1 s" "open 3 inet 192.0.2.2 tcp 22 1 ssh" "ok 3"
wait_until 4000 not_in_set 4 "192.0.2.2 . tcp . 22"
reply "expired close: closing what the kernel expired is ok" "close 3 inet 192.0.2.2 tcp 22 ssh" "ok 3"
reply "close of an element that never existed is ok" "close 30 inet 198.51.100.7 udp 5353" "ok 30"

# 8: IPv6
check "ipv6: without a grant [2001:db8::1]:22 is dropped" no_conn tcp 2001:db8::2 2001:db8::1 22
reply "ipv6: open" "open 4 inet6 2001:db8::2 tcp 22 30 ssh" "ok 4"
check "ipv6: allow6 lists the element" in_set 6 "2001:db8::2 . tcp . 22"
check "ipv6: a connection from 2001:db8::2 succeeds" conn tcp 2001:db8::2 2001:db8::1 22
check "ipv6: from 2001:db8::3 it still fails" no_conn tcp 2001:db8::3 2001:db8::1 22
check "ipv6: the IPv4 grant set is not involved" not_in_set 4 "192.0.2.2"
reply "ipv6: close" "close 4 inet6 2001:db8::2 tcp 22 ssh" "ok 4"
check "ipv6: after close the connection fails" no_conn tcp 2001:db8::2 2001:db8::1 22

# 12: a udp guard port
check "udp: without a grant 192.0.2.1:5353 gets no answer" no_conn udp 192.0.2.2 192.0.2.1 5353
reply "udp: open" "open 5 inet 192.0.2.2 udp 5353 30 mdns" "ok 5"
check "udp: allow4 lists the udp element" in_set 4 "192.0.2.2 . udp . 5353"
check "udp: an answer comes now" conn udp 192.0.2.2 192.0.2.1 5353
check "udp: not from 192.0.2.3" no_conn udp 192.0.2.3 192.0.2.1 5353

# 11
req "open 6 inet 192.0.2.2 icmp 8 30 ping"
case $got in
"error 6 "*icmp*) ok "icmp: refused with a clear message ($got)" ;;
*) fail "icmp: refused with a clear message"; echo "# got '$got'" ;;
esac

# 9: flush empties both sets, keeps the guard.
rules_before=$(guard_rules)
reply "flush: open 7 (ipv4)" "open 7 inet 192.0.2.2 tcp 22 60 ssh" "ok 7"
reply "flush: open 8 (ipv6)" "open 8 inet6 2001:db8::2 udp 5353 60 mdns" "ok 8"
reply "flush: ok" "flush 9" "ok 9"
check "flush: allow4 is empty" set_empty 4
check "flush: allow6 is empty" set_empty 6
check "flush: the guard rules remain" test "$(guard_rules)" = "$rules_before"
check "flush: a connection fails again" no_conn tcp 192.0.2.2 192.0.2.1 22
check "flush: udp gets no answer again" no_conn udp 2001:db8::2 2001:db8::1 5353

# 10: idempotent set-up; grants survive a restart of the applier.
reply "restart: open 10 before the restart" "open 10 inet 192.0.2.2 tcp 22 60 ssh" "ok 10"
check "applier exits 0 at the end of its input" stop_applier
start_applier
reply "restart: the second applier answers" "close 31 inet 192.0.2.9 tcp 22" "ok 31"
check "applier exits 0 again" stop_applier
start_applier
stop_applier
check "restart: exactly one table inet logknock" \
	test "$(in_server nft list tables | grep -cx 'table inet logknock')" = 1
check "restart: the guard chain holds exactly its 6 rules after 3 set-ups" test "$(guard_rules)" = 6
check "restart: exactly one drop rule" \
	test "$(in_server nft list chain inet logknock guard | grep -c ' drop')" = 1
check "restart: the grant survived the restarts" in_set 4 "192.0.2.2 . tcp . 22"
check "restart: and still lets the connection in" conn tcp 192.0.2.2 192.0.2.1 22
GUARD="--guard tcp/443"
start_applier
stop_applier
check "restart: new --guard ports replace the old ones (443 now guarded)" \
	no_conn tcp 192.0.2.2 192.0.2.1 443
check "restart: and 5353 is no longer guarded" conn udp 192.0.2.3 192.0.2.1 5353

# 13: requests that arrive together are one transaction, answered one by one.
GUARD="--guard tcp/22 --guard udp/5353 --guard icmp/8"
start_applier
burst=
i=1
while [ $i -le 40 ]; do
	burst="${burst}open $((100 + i)) inet 198.51.100.$i tcp 22 60 b
"
	i=$((i + 1))
done
printf '%s' "$burst" >&3
nreq=$((nreq + 40))
wait_until 10000 have_replies
check "batch: 40 opens written at once, 40 replies, all ok" \
	test "$(replies | tail -n 40 | grep -c '^ok 1[0-9][0-9]$')" = 40
check "batch: allow4 holds the 40 elements" test "$(set4 | grep -o '198\.51\.100\.[0-9]* \. tcp \. 22' | sort -u | wc -l)" = 40
burst=
i=1
while [ $i -le 40 ]; do
	burst="${burst}close $((100 + i)) inet 198.51.100.$i tcp 22 b
"
	i=$((i + 1))
done
printf '%s' "$burst" >&3
nreq=$((nreq + 40))
wait_until 10000 have_replies
check "batch: 40 closes at once, all ok" test "$(replies | tail -n 40 | grep -c '^ok 1[0-9][0-9]$')" = 40
set4 >"$TMP/set4b" 2>&1
check "batch: allow4 holds none of them any more" sh -c '! grep -q "198\.51\.100\." "$1"' sh "$TMP/set4b"
# One request the set cannot hold fails the batch: each is then applied
# alone, and gets its own answer.
printf 'open 201 inet 192.0.2.2 tcp 22 60 a\nopen 202 inet 192.0.2.2 icmp 8 60 b\nopen 203 inet 192.0.2.3 udp 5353 60 c\n' >&3
nreq=$((nreq + 3))
wait_until 5000 have_replies
replies | tail -n 3 >"$TMP/got"
if sed -n 1p "$TMP/got" | grep -qx 'ok 201' && sed -n 2p "$TMP/got" | grep -q '^error 202 .*icmp' &&
	sed -n 3p "$TMP/got" | grep -qx 'ok 203'; then
	ok "batch failed: each request applied alone, with its own answer (ok, error, ok)"
else
	fail "batch failed: each request applied alone, with its own answer (ok, error, ok)"
	diag "$TMP/got"
fi
check "batch failed: the two good ones are in allow4" \
	sh -c 'in_set() { ip netns exec "$1" nft list set inet logknock allow4 | grep -qF "$2 timeout "; }
		in_set "$0" "192.0.2.2 . tcp . 22" && in_set "$0" "192.0.2.3 . udp . 5353"' "$S"
reply "batch: flush" "flush 204" "ok 204"
stop_applier

# 14: guard_loopback: true (apply.yaml) guards packets that came in on lo too.
cat >"$TMP/apply.yaml" <<EOF
backend: nft
guard: [tcp/22]
guard_loopback: true
EOF
APPLY_ARGS="--config $TMP/apply.yaml"
start_applier
check "guard_loopback: true: a connection over lo to 22 is dropped" no_conn_lo 192.0.2.1 22
check "guard_loopback: true: no lo rule in the guard chain" \
	sh -c '! ip netns exec "$1" nft list chain inet logknock guard | grep -q "iif \"lo\""' sh "$S"
reply "guard_loopback: a grant for 192.0.2.1 itself" "open 300 inet 192.0.2.1 tcp 22 30 lo" "ok 300"
check "guard_loopback: with a grant for the source, it connects over lo" conn_lo 192.0.2.1 22
stop_applier
APPLY_ARGS=
start_applier
check "default again: a connection over lo to 22 works without a grant" \
	sh -c 'ip netns exec "$1" nft delete element inet logknock allow4 "{ 192.0.2.1 . tcp . 22 }" &&
		ip netns exec "$1" timeout 3 "$2" "$3" tcp 192.0.2.1 192.0.2.1 22' sh "$S" "$PY" "$TMP/conn.py"
stop_applier

if [ "$tap_failed" -gt 0 ] && [ -s "$TMP/apply.err" ]; then
	echo "# applier stderr:"
	diag "$TMP/apply.err"
fi
plan "$tap_n"
done_testing
