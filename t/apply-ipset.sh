#!/bin/sh
# apply-ipset.sh — logknock-apply --backend ipset against a real kernel: two
# network namespaces, an admin ruleset that lets everyone reach port 22, and
# real TCP connections showing that the guard closes the port to everyone but
# the addresses in the sets, over IPv4 and IPv6; the kernel expires an entry
# by itself, a refresh extends it, starts and flush keep the structure once.
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
IPSET=/usr/sbin/ipset
[ -x "$IPT" ] && [ -x "$IP6T" ] || skip_all "no $IPT or $IP6T"
[ -x "$IPSET" ] || skip_all "no $IPSET (apt-get install ipset)"
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

has_rule() { rules "$1" "$2" | grep -qFx -e "$3"; }
jump_first() {
	for f in 4 6; do
		[ "$(rules $f INPUT | grep -m1 -e '^-A')" = "-A INPUT -j LOGKNOCK" ] || return 1
	done
}
set_rule4='-A LOGKNOCK -m set --match-set logknock4 src,dst -m comment --comment logknock-set -j ACCEPT'
set_rule6='-A LOGKNOCK -m set --match-set logknock6 src,dst -m comment --comment logknock-set -j ACCEPT'
# The chain is exactly: the set rule, then the guard (IPv4 and IPv6), and
# INPUT jumps to it once.
structure_once() {
	printf '%s\n%s\n%s\n' "-N LOGKNOCK" "$set_rule4" "$guard_rule" >"$TMP/want4"
	printf '%s\n%s\n%s\n' "-N LOGKNOCK" "$set_rule6" "$guard_rule" >"$TMP/want6"
	for f in 4 6; do
		rules $f LOGKNOCK >"$TMP/got$f"
		cmp -s "$TMP/want$f" "$TMP/got$f" || { diff "$TMP/want$f" "$TMP/got$f" | diag; return 1; }
		is_count 1 $f INPUT "-j LOGKNOCK" || return 1
	done
}
# in_set SET ENTRY: the kernel has ENTRY in SET.
in_set() { S "$IPSET" test "$1" "$2" 2>/dev/null; }
not_in_set() { ! in_set "$@"; }
# entries SET: how many entries SET holds.
entries() { S "$IPSET" list "$1" | sed -n 's/^Number of entries: //p'; }
# timeout_of SET ENTRY-AS-LISTED: the seconds left of an entry.
timeout_of() { S "$IPSET" list "$1" | sed -n "s/^$2 timeout \([0-9]*\)\$/\1/p"; }

# ---- without logknock, the admin's ruleset lets everyone in ---------------
check "without logknock, 192.0.2.2 reaches port 22 (the test network works)" connects 192.0.2.1 192.0.2.2
check "without logknock, 2001:db8::2 reaches port 22" connects 2001:db8::1 2001:db8::2

# ---- one applier, requests in order ---------------------------------------
start_applier --backend ipset --guard tcp/22
check "the applier answers its first request: close of an entry never added is ok" \
	is_ok "close 1 inet 192.0.2.250 tcp 22 none"
sets_exist() {
	S "$IPSET" list -n >"$TMP/sets" && grep -qx logknock4 "$TMP/sets" && grep -qx logknock6 "$TMP/sets" &&
		S "$IPSET" list logknock4 | grep -q '^Header: family inet .*timeout 0' &&
		S "$IPSET" list logknock6 | grep -q '^Header: family inet6 .*timeout 0'
}
check "sets logknock4 (inet) and logknock6 (inet6), hash:ip,port with timeouts" sets_exist
check "the jump to LOGKNOCK is the first rule of INPUT (IPv4, IPv6)" jump_first
check "LOGKNOCK: the set rule, then the guard; jumped to once (IPv4, IPv6)" structure_once
check "before a grant, 192.0.2.2 cannot connect" refused 192.0.2.1 192.0.2.2
check "before a grant, 2001:db8::2 cannot connect" refused 2001:db8::1 2001:db8::2

check "open 17 (192.0.2.2 tcp/22): ok" is_ok "open 17 inet 192.0.2.2 tcp 22 30 ssh"
check "the entry 192.0.2.2,tcp:22 is in logknock4" in_set logknock4 192.0.2.2,tcp:22
check "after open, 192.0.2.2 connects" connects 192.0.2.1 192.0.2.2
check "after open, 192.0.2.3 still cannot connect" refused 192.0.2.1 192.0.2.3
resent_one() { is_ok "open 17 inet 192.0.2.2 tcp 22 30 ssh" && [ "$(entries logknock4)" = 1 ]; }
check "open 17 re-sent: ok, still one entry" resent_one
check "close 17: ok" is_ok "close 17 inet 192.0.2.2 tcp 22 ssh"
check "close 17: the entry is gone" not_in_set logknock4 192.0.2.2,tcp:22
check "after close, 192.0.2.2 cannot connect" refused 192.0.2.1 192.0.2.2
check "close 17 again (no such entry): ok" is_ok "close 17 inet 192.0.2.2 tcp 22 ssh"

check "open 18 (2001:db8::2 tcp/22): ok" is_ok "open 18 inet6 2001:db8::2 tcp 22 30 ssh"
check "the entry 2001:db8::2,tcp:22 is in logknock6" in_set logknock6 2001:db8::2,tcp:22
check "after open, 2001:db8::2 connects" connects 2001:db8::1 2001:db8::2
check "after open, 2001:db8::3 still cannot connect" refused 2001:db8::1 2001:db8::3
check "after open of an IPv6 grant, 192.0.2.2 still cannot connect" refused 192.0.2.1 192.0.2.2
check "close 18: ok" is_ok "close 18 inet6 2001:db8::2 tcp 22 ssh"
check "after close, 2001:db8::2 cannot connect" refused 2001:db8::1 2001:db8::2

# ---- the kernel's own timeouts ------------------------------------------------
# expires_alone SET ENTRY: gone within 2..8 s of its open, with no close.
t_open=0
expires_alone() {
	i=0
	while in_set "$1" "$2"; do
		i=$((i + 1))
		[ $i -le 80 ] || { echo "# $2 still in $1 after 8 s"; return 1; }
		sleep 0.1
	done
	[ $(($(date +%s) - t_open)) -ge 1 ] || { echo "# $2 left $1 too early"; return 1; }
}
t_open=$(date +%s)
check "open 19 for 2 s: ok" is_ok "open 19 inet 192.0.2.2 tcp 22 2 ssh"
check "open 19: 192.0.2.2 connects at once" connects 192.0.2.1 192.0.2.2
check "the kernel removes the entry by itself after 2 s (no close sent)" expires_alone logknock4 192.0.2.2,tcp:22
check "after the kernel's expiry, 192.0.2.2 cannot connect" refused 192.0.2.1 192.0.2.2

check "open 20 for 2 s: ok" is_ok "open 20 inet 192.0.2.2 tcp 22 2 ssh"
check "open 20 again for 60 s (a refresh): ok" is_ok "open 20 inet 192.0.2.2 tcp 22 60 ssh"
long_timeout() {
	t=$(timeout_of logknock4 192.0.2.2,tcp:22)
	[ -n "$t" ] && [ "$t" -ge 50 ] || { echo "# timeout left: '$t'"; return 1; }
}
check "the refresh replaced the entry's timeout (more than 50 s left)" long_timeout
sleep 3
check "3 s later (past the first 2 s), 192.0.2.2 still connects" connects 192.0.2.1 192.0.2.2
check "3 s later, the entry is still there" in_set logknock4 192.0.2.2,tcp:22
check "close 20: ok" is_ok "close 20 inet 192.0.2.2 tcp 22 ssh"

# ---- ICMP, UDP, flush ---------------------------------------------------------
check "open 21 (icmp echo-request): ok" is_ok "open 21 inet 192.0.2.2 icmp 8 30 ping"
check "the entry 192.0.2.2,icmp:8/0 is in logknock4" in_set logknock4 192.0.2.2,icmp:8/0
check "open 22 (icmpv6 echo-request): ok" is_ok "open 22 inet6 2001:db8::2 icmpv6 128 30 ping6"
check "the entry 2001:db8::2,ipv6-icmp:128/0 is in logknock6" in_set logknock6 2001:db8::2,ipv6-icmp:128/0
check "open 23 (udp/53): ok" is_ok "open 23 inet 192.0.2.2 udp 53 30 dns"
check "the entry 192.0.2.2,udp:53 is in logknock4" in_set logknock4 192.0.2.2,udp:53
open_two() { is_ok "open 24 inet 192.0.2.2 tcp 22 30 ssh" && is_ok "open 25 inet6 2001:db8::2 tcp 22 30 ssh"; }
check "open 24 and 25 (tcp/22, both families): ok" open_two
check "before the flush, 192.0.2.2 connects" connects 192.0.2.1 192.0.2.2
check "flush 26: ok" is_ok "flush 26"
empty_sets() { [ "$(entries logknock4)" = 0 ] && [ "$(entries logknock6)" = 0 ]; }
check "flush emptied both sets" empty_sets
check "flush kept the set rule and the guard, once each" structure_once
check "after flush, 192.0.2.2 cannot connect" refused 192.0.2.1 192.0.2.2
check "after flush, 2001:db8::2 cannot connect" refused 2001:db8::1 2001:db8::2
check "the applier exits 0 at the end of its input${WRAP:+ (under $WRAP)}" stop_applier

# ---- starts: what a previous run left ------------------------------------
once_ok() { # once_ok REQUEST OPTIONS...: one run with one request, answered ok
	line=$1
	shift
	echo "$line" | once "$@" && grep -qx "ok $(echo "$line" | cut -d' ' -f2)" "$TMP/once.out"
}
start_only() { once "$@" </dev/null; }
check "a run that opens 30 and ends without closing it" once_ok "open 30 inet 192.0.2.2 tcp 22 30 ssh" \
	--backend ipset --guard tcp/22
check "another start (no request) exits 0" start_only --backend ipset --guard tcp/22
check "after restarts, set rule, guard and jump are there once each (IPv4, IPv6)" structure_once
check "a start keeps the entries a previous run left: 192.0.2.2 connects" connects 192.0.2.1 192.0.2.2
check "open 30 re-sent by a new run (for 90 s): ok" once_ok "open 30 inet 192.0.2.2 tcp 22 90 ssh" \
	--backend ipset --guard tcp/22
resent_new_run() {
	t=$(timeout_of logknock4 192.0.2.2,tcp:22)
	[ "$(entries logknock4)" = 1 ] && [ -n "$t" ] && [ "$t" -gt 60 ] || { echo "# timeout left: '$t'"; return 1; }
}
check "open 30 re-sent by a new run: one entry, its timeout renewed" resent_new_run
check "close 30 (another run): ok" once_ok "close 30 inet 192.0.2.2 tcp 22 ssh" --backend ipset --guard tcp/22
check "after close 30, 192.0.2.2 cannot connect" refused 192.0.2.1 192.0.2.2
udp_guard='-A LOGKNOCK -p udp -m udp --dport 53 -m conntrack --ctstate NEW -m comment --comment logknock-guard -j DROP'
udp_guard_cycle() {
	start_only --backend ipset --guard tcp/22 --guard udp/53 &&
		is_count 1 4 LOGKNOCK "$udp_guard" && is_count 1 6 LOGKNOCK "$udp_guard" &&
		start_only --backend ipset --guard tcp/22 && structure_once
}
check "a guard added by one start is removed by the next start without it" udp_guard_cycle
switch_from_iptables() {
	echo "open 40 inet 192.0.2.2 tcp 22 30 ssh" | once --backend iptables --guard tcp/22 &&
		is_count 1 4 LOGKNOCK '"logknock:40:' && start_only --backend ipset --guard tcp/22 &&
		is_count 0 4 LOGKNOCK '"logknock:40:' && structure_once
}
check "switching from the iptables backend: its grant rules go, the set rule comes back" switch_from_iptables
check "an open for more than ipset's 2147483 s is clamped, not refused" \
	once_ok "open 31 inet 192.0.2.2 tcp 22 31536000 ssh" --backend ipset --guard tcp/22

if [ "$tap_failed" -gt 0 ] && [ -s "$TMP/apply.err" ]; then
	echo "# applier's stderr:"
	tail -40 "$TMP/apply.err" | diag
fi
echo "1..$tap_n"
done_testing
