#!/bin/sh
# apply-iptables.sh — logknock-apply --backend iptables against a real kernel:
# two network namespaces, an admin ruleset that lets everyone reach port 22,
# and real TCP connections showing that the guard closes the port to everyone
# but the addresses granted, over IPv4 and IPv6; starts, re-sent requests,
# close and flush leave exactly the rules they should.
#
# Root only. LOGKNOCK_APPLY_WRAPPER (e.g. "valgrind -q --leak-check=full
# --error-exitcode=99") runs the applier under a tool; its exit status counts.
. "${top_srcdir:-$(dirname "$0")/..}/t/lib.sh"
. "$top_srcdir/t/netns.sh"

IPT=/usr/sbin/iptables
IP6T=/usr/sbin/ip6tables
WRAP=${LOGKNOCK_APPLY_WRAPPER:-}
pids=
apid=
cleanup() {
	exec 3>&- 2>/dev/null
	for p in $pids; do
		kill "$p" 2>/dev/null
	done
	netns_cleanup
	rm -rf "$TMP"
}
trap cleanup EXIT

[ "$(id -u)" = 0 ] || skip_all "not root"
[ -x "$LOGKNOCK_APPLY" ] || skip_all "logknock-apply not built ($LOGKNOCK_APPLY)"
[ -x "$IPT" ] && [ -x "$IP6T" ] || skip_all "no $IPT or $IP6T"
command -v python3 >/dev/null 2>&1 || skip_all "no python3 (test server and client)"
netns_setup || skip_all "$netns_error"

S() { ip netns exec "$NETNS_SERVER" "$@"; }
C() { ip netns exec "$NETNS_CLIENT" "$@"; }

# The admin's own ruleset: policy DROP, and port 22 simply allowed.
admin_rules() {
	for t in "$IPT" "$IP6T"; do
		S "$t" -w -P INPUT DROP &&
			S "$t" -w -A INPUT -m conntrack --ctstate ESTABLISHED,RELATED -j ACCEPT &&
			S "$t" -w -A INPUT -i lo -j ACCEPT || return 1
	done
	S "$IPT" -w -A INPUT -p icmp -j ACCEPT &&
		S "$IP6T" -w -A INPUT -p ipv6-icmp -j ACCEPT &&
		S "$IPT" -w -A INPUT -p tcp --dport 22 -j ACCEPT &&
		S "$IP6T" -w -A INPUT -p tcp --dport 22 -j ACCEPT
}
admin_rules 2>"$TMP/admin.err" || skip_all "iptables does not work in a network namespace here: $(head -1 "$TMP/admin.err")"

# Second client addresses, for "someone else".
ip -n "$NETNS_CLIENT" addr add 192.0.2.3/24 dev "$netns_veth_c" &&
	ip -n "$NETNS_CLIENT" addr add 2001:db8::3/64 dev "$netns_veth_c" nodad ||
	skip_all "cannot add a second client address"

cat >"$TMP/server.py" <<'EOF'
import os, select, socket, sys
socks = []
for fam, addr in ((socket.AF_INET, "192.0.2.1"), (socket.AF_INET6, "2001:db8::1")):
    s = socket.socket(fam, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    if fam == socket.AF_INET6:
        s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
    s.bind((addr, 22))
    s.listen(64)
    socks.append(s)
with open(sys.argv[1] + ".tmp", "w") as f:
    f.write("%d\n" % os.getpid())
os.rename(sys.argv[1] + ".tmp", sys.argv[1])
while True:
    for s in select.select(socks, [], [])[0]:
        c = s.accept()[0]
        try:
            c.sendall(b"logknock-test\n")
        except OSError:
            pass
        c.close()
EOF
cat >"$TMP/client.py" <<'EOF'
import socket, sys
dst = sys.argv[1]
s = socket.socket(socket.AF_INET6 if ":" in dst else socket.AF_INET, socket.SOCK_STREAM)
s.settimeout(1)
try:
    if len(sys.argv) > 2:
        s.bind((sys.argv[2], 0))
    s.connect((dst, 22))
    data = s.recv(64)
except OSError:
    sys.exit(1)
sys.exit(0 if data.startswith(b"logknock-test") else 1)
EOF

# python3 may be a wrapper (pyenv) that forks: the server writes its own PID.
S python3 "$TMP/server.py" "$TMP/server.pid" </dev/null >/dev/null 2>"$TMP/server.err" &
pids="$pids $!"
i=0
while [ ! -s "$TMP/server.pid" ]; do
	i=$((i + 1))
	[ $i -le 100 ] || skip_all "test server did not start: $(head -1 "$TMP/server.err")"
	sleep 0.1
done
pids="$pids $(cat "$TMP/server.pid")"

# connects DST [SRC]: a TCP connection to DST port 22 is answered.
connects() { C timeout 3 python3 "$TMP/client.py" "$@"; }
refused() { ! connects "$@"; }

# The long-running applier: requests through a FIFO on fd 3, replies in out.
nreq=0
start_applier() {
	rm -f "$TMP/in"
	mkfifo "$TMP/in" || return 1
	: >"$TMP/out"
	nreq=0
	# shellcheck disable=SC2086 # WRAP is words
	S $WRAP "$LOGKNOCK_APPLY" "$@" <"$TMP/in" >"$TMP/out" 2>>"$TMP/apply.err" &
	apid=$!
	pids="$pids $apid"
	exec 3>"$TMP/in"
}
# send LINE, then reply: prints the reply to the last request sent (the
# nreq-th "ok"/"error" line), waiting for it within a bound.
send() {
	echo "$1" >&3
	nreq=$((nreq + 1))
}
reply() {
	i=0
	while [ "$(grep -cE '^(ok|error) ' "$TMP/out")" -lt $nreq ]; do
		i=$((i + 1))
		if [ $i -gt 300 ] || ! kill -0 "$apid" 2>/dev/null; then
			echo "no reply"
			return 1
		fi
		sleep 0.1
	done
	grep -E '^(ok|error) ' "$TMP/out" | sed -n "${nreq}p"
}
# is_ok LINE: the reply to LINE is "ok ID".
is_ok() {
	send "$1"
	r=$(reply)
	id=$(echo "$1" | cut -d' ' -f2)
	[ "$r" = "ok $id" ] || { echo "# $1 -> $r"; return 1; }
}
# stop_applier: EOF; the applier must exit 0 within the bound.
stop_applier() {
	exec 3>&-
	i=0
	while kill -0 "$apid" 2>/dev/null; do
		i=$((i + 1))
		if [ $i -gt 300 ]; then
			kill "$apid"
			return 1
		fi
		sleep 0.1
	done
	wait "$apid"
}
# once OPTIONS... < requests: a whole applier run (start, requests, EOF).
once() {
	# shellcheck disable=SC2086
	S timeout 60 $WRAP "$LOGKNOCK_APPLY" "$@" >"$TMP/once.out" 2>>"$TMP/apply.err"
}
# rules 4|6 CHAIN: the chain as iptables -S prints it.
rules() {
	if [ "$1" = 6 ]; then S "$IP6T" -w -S "$2"; else S "$IPT" -w -S "$2"; fi
}
# count 4|6 CHAIN FIXED-STRING: how many rules of CHAIN contain it.
count() { rules "$1" "$2" | grep -cF -e "$3"; }
is_count() {
	c=$(count "$2" "$3" "$4")
	[ "$c" = "$1" ] || { echo "# $2 $3 '$4': $c rules, want $1"; return 1; }
}
guard_rule='-A LOGKNOCK -p tcp -m tcp --dport 22 -m conntrack --ctstate NEW -m comment --comment logknock-guard -j DROP'

# has_rule 4|6 CHAIN LINE: CHAIN holds exactly LINE.
has_rule() { rules "$1" "$2" | grep -qFx -e "$3"; }
jump_first() {
	for f in 4 6; do
		[ "$(rules $f INPUT | grep -m1 -e '^-A')" = "-A INPUT -j LOGKNOCK" ] || return 1
	done
}
# Jump and guard each once, in both families.
structure_once() {
	for f in 4 6; do
		is_count 1 $f INPUT "-j LOGKNOCK" && is_count 1 $f LOGKNOCK "$guard_rule" || return 1
	done
}
no_grants() {
	for f in 4 6; do
		is_count 0 $f LOGKNOCK '--comment "logknock:' || return 1
	done
}
g17='-A LOGKNOCK -s 192.0.2.2/32 -p tcp -m tcp --dport 22 -m comment --comment "logknock:17:ssh" -j ACCEPT'
g18='-A LOGKNOCK -s 2001:db8::2/128 -p tcp -m tcp --dport 22 -m comment --comment "logknock:18:ssh" -j ACCEPT'
g19='-A LOGKNOCK -s 192.0.2.2/32 -p icmp -m icmp --icmp-type 8 -m comment --comment "logknock:19:ping" -j ACCEPT'
g20='-A LOGKNOCK -s 2001:db8::2/128 -p ipv6-icmp -m icmp6 --icmpv6-type 128 -m comment --comment "logknock:20:ping6" -j ACCEPT'
g21='-A LOGKNOCK -s 192.0.2.2/32 -p udp -m udp --dport 53 -m comment --comment "logknock:21:dns" -j ACCEPT'

# ---- without logknock, the admin's ruleset lets everyone in ---------------
check "without logknock, 192.0.2.2 reaches port 22 (the test network works)" connects 192.0.2.1 192.0.2.2
check "without logknock, 2001:db8::2 reaches port 22" connects 2001:db8::1 2001:db8::2

# ---- one applier, requests in order ---------------------------------------
start_applier --backend iptables --guard tcp/22
check "the applier answers its first request: close of a rule never opened is ok" \
	is_ok "close 1 inet 192.0.2.250 tcp 22 none"
check "the jump to LOGKNOCK is the first rule of INPUT (IPv4, IPv6)" jump_first
check "jump and guard are there once each (IPv4, IPv6)" structure_once
check "before a grant, 192.0.2.2 cannot connect" refused 192.0.2.1 192.0.2.2
check "before a grant, 2001:db8::2 cannot connect" refused 2001:db8::1 2001:db8::2

check "open 17 (192.0.2.2 tcp/22): ok" is_ok "open 17 inet 192.0.2.2 tcp 22 30 ssh"
check "after open, 192.0.2.2 connects" connects 192.0.2.1 192.0.2.2
check "after open, 192.0.2.3 still cannot connect" refused 192.0.2.1 192.0.2.3
check "the rule names its grant: comment logknock:17:ssh" has_rule 4 LOGKNOCK "$g17"
check "open 17 re-sent: ok" is_ok "open 17 inet 192.0.2.2 tcp 22 60 ssh"
check "open 17 re-sent: still one rule" is_count 1 4 LOGKNOCK '"logknock:17:'
check "close 17: ok" is_ok "close 17 inet 192.0.2.2 tcp 22 ssh"
check "close 17: its rule is gone" is_count 0 4 LOGKNOCK '"logknock:17:'
check "after close, 192.0.2.2 cannot connect" refused 192.0.2.1 192.0.2.2
check "close 17 again (no such rule): ok" is_ok "close 17 inet 192.0.2.2 tcp 22 ssh"

check "open 18 (2001:db8::2 tcp/22): ok" is_ok "open 18 inet6 2001:db8::2 tcp 22 30 ssh"
check "after open, 2001:db8::2 connects" connects 2001:db8::1 2001:db8::2
check "after open, 2001:db8::3 still cannot connect" refused 2001:db8::1 2001:db8::3
check "after open of an IPv6 grant, 192.0.2.2 still cannot connect" refused 192.0.2.1 192.0.2.2
check "the IPv6 rule names its grant: logknock:18:ssh" has_rule 6 LOGKNOCK "$g18"
check "close 18: ok" is_ok "close 18 inet6 2001:db8::2 tcp 22 ssh"
check "after close, 2001:db8::2 cannot connect" refused 2001:db8::1 2001:db8::2

check "open 19 (icmp echo-request): ok" is_ok "open 19 inet 192.0.2.2 icmp 8 30 ping"
check "ICMP rule: -p icmp --icmp-type 8, logknock:19:ping" has_rule 4 LOGKNOCK "$g19"
check "open 20 (icmpv6 echo-request): ok" is_ok "open 20 inet6 2001:db8::2 icmpv6 128 30 ping6"
check "ICMPv6 rule: -p ipv6-icmp --icmpv6-type 128, logknock:20:ping6" has_rule 6 LOGKNOCK "$g20"
check "open 21 (udp/53): ok" is_ok "open 21 inet 192.0.2.2 udp 53 30 dns"
check "UDP rule: -p udp --dport 53, logknock:21:dns" has_rule 4 LOGKNOCK "$g21"
open_two() { is_ok "open 22 inet 192.0.2.2 tcp 22 30 ssh" && is_ok "open 23 inet6 2001:db8::2 tcp 22 30 ssh"; }
check "open 22 and 23 (tcp/22, both families): ok" open_two
check "before the flush, 192.0.2.2 connects" connects 192.0.2.1 192.0.2.2
check "flush 24: ok" is_ok "flush 24"
check "flush removed every grant (IPv4, IPv6)" no_grants
check "flush kept the jump and the guard, once each" structure_once
check "after flush, 192.0.2.2 cannot connect" refused 192.0.2.1 192.0.2.2
check "after flush, 2001:db8::2 cannot connect" refused 2001:db8::1 2001:db8::2
check "the applier exits 0 at the end of its input${WRAP:+ (under $WRAP)}" stop_applier

# ---- starts: what a previous run left ------------------------------------
once_ok() { # once_ok REQUEST OPTIONS...: one run with one request, answered ok
	line=$1
	shift
	echo "$line" | once "$@" && grep -qx "ok $(echo "$line" | cut -d' ' -f2)" "$TMP/once.out"
}
check "a run that opens 30 and ends without closing it" once_ok "open 30 inet 192.0.2.2 tcp 22 30 ssh" \
	--backend iptables --guard tcp/22
start_only() { once "$@" </dev/null; }
check "another start (no request) exits 0" start_only --backend iptables --guard tcp/22
check "after restarts, jump and guard are there once each (IPv4, IPv6)" structure_once
check "a start keeps the grants a previous run left: 192.0.2.2 connects" connects 192.0.2.1 192.0.2.2
check "open 30 re-sent by a new run: ok" once_ok "open 30 inet 192.0.2.2 tcp 22 30 ssh" --backend iptables --guard tcp/22
check "open 30 re-sent by a new run: still one rule" is_count 1 4 LOGKNOCK '"logknock:30:'
check "close 30 without its door (another run): ok" once_ok "close 30 inet 192.0.2.2 tcp 22" \
	--backend iptables --guard tcp/22
check "close 30 without its door removed the rule named logknock:30:ssh" is_count 0 4 LOGKNOCK '"logknock:30:'
check "after close 30, 192.0.2.2 cannot connect" refused 192.0.2.1 192.0.2.2

udp_guard='-A LOGKNOCK -p udp -m udp --dport 53 -m conntrack --ctstate NEW -m comment --comment logknock-guard -j DROP'
udp_guard_added() {
	start_only --backend iptables --guard tcp/22 --guard udp/53 &&
		is_count 1 4 LOGKNOCK "$udp_guard" && is_count 1 6 LOGKNOCK "$udp_guard" && structure_once
}
udp_guard_removed() {
	start_only --backend iptables --guard tcp/22 &&
		is_count 0 4 LOGKNOCK "$udp_guard" && is_count 0 6 LOGKNOCK "$udp_guard" && structure_once
}
other_name() {
	start_only --backend iptables --name knock2 --guard tcp/22 &&
		is_count 1 4 INPUT "-j KNOCK2" && is_count 1 6 INPUT "-j KNOCK2" &&
		is_count 1 4 KNOCK2 "-A KNOCK2 -p tcp -m tcp --dport 22 -m conntrack --ctstate NEW"
}
check "a start with --guard udp/53 too adds that guard, in both families" udp_guard_added
check "a start without it removes that guard again, keeps tcp/22 once" udp_guard_removed
check "--name knock2: chain KNOCK2 with its guard and its jump" other_name

if [ "$tap_failed" -gt 0 ] && [ -s "$TMP/apply.err" ]; then
	echo "# applier's stderr:"
	tail -40 "$TMP/apply.err" | diag
fi
echo "1..$tap_n"
done_testing
