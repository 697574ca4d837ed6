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

WRAP=${LOGKNOCK_APPLY_WRAPPER:-}
trap 'netns_cleanup; rm -rf "$TMP"' EXIT

[ "$(id -u)" = 0 ] || skip_all "not root"
[ -x "$LOGKNOCK_APPLY" ] || skip_all "logknock-apply not built ($LOGKNOCK_APPLY)"
[ -x "$IPT" ] && [ -x "$IP6T" ] || skip_all "no $IPT or $IP6T"
command -v python3 >/dev/null 2>&1 || skip_all "no python3 (test server and client)"
netns_setup || skip_all "$netns_error"

# The admin's own ruleset: policy DROP, and port 22 simply allowed.
netns_admin_iptables 2>"$TMP/admin.err" ||
	skip_all "iptables does not work in a network namespace here: $(head -1 "$TMP/admin.err")"
netns_add_other_client || skip_all "cannot add a second client address"
netns_start_server || skip_all "$netns_error"

guard_rule='-A LOGKNOCK -p tcp -m tcp --dport 22 -m conntrack --ctstate NEW -m comment --comment logknock-guard -j DROP'

# Jump and guard each once, in both families.
structure_once() {
	for f in 4 6; do
		xt_is_count 1 $f INPUT "-j LOGKNOCK" && xt_is_count 1 $f LOGKNOCK "$guard_rule" || return 1
	done
}
no_grants() {
	for f in 4 6; do
		xt_is_count 0 $f LOGKNOCK '--comment "logknock:' || return 1
	done
}
# connects_lo DST: the server connects to its own DST port 22: over lo.
connects_lo() {
	in_server timeout 4 "${netns_py:-python3}" "$TMP/client.py" once "$1" "$1" 0 1 >"$TMP/client.out" 2>&1
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
# The doors open tcp/22, udp/53, ping and ping6: the applier opens nothing else.
start_applier --backend iptables --guard tcp/22 --guard udp/53 --guard icmp/8 --guard icmpv6/128
check "the applier answers its first request: close of a rule never opened is ok" \
	request_ok "close 1 inet 192.0.2.250 tcp 22 none"
check "the jump to LOGKNOCK is the first rule of INPUT (IPv4, IPv6)" xt_jump_first
check "jump and guard are there once each (IPv4, IPv6)" structure_once
check "before a grant, 192.0.2.2 cannot connect" refused 192.0.2.1 192.0.2.2
check "before a grant, 2001:db8::2 cannot connect" refused 2001:db8::1 2001:db8::2
check "loopback: the server reaches its own port 22 over lo (left to the admin's -i lo -j ACCEPT)" \
	connects_lo 192.0.2.1
check "loopback: over IPv6 too" connects_lo 2001:db8::1

check "open 17 (192.0.2.2 tcp/22): ok" request_ok "open 17 inet 192.0.2.2 tcp 22 30 ssh"
check "after open, 192.0.2.2 connects" connects 192.0.2.1 192.0.2.2
check "after open, 192.0.2.3 still cannot connect" refused 192.0.2.1 192.0.2.3
check "the rule names its grant: comment logknock:17:ssh" xt_has_rule 4 LOGKNOCK "$g17"
check "open 17 re-sent: ok" request_ok "open 17 inet 192.0.2.2 tcp 22 60 ssh"
check "open 17 re-sent: still one rule" xt_is_count 1 4 LOGKNOCK '"logknock:17:'
check "close 17: ok" request_ok "close 17 inet 192.0.2.2 tcp 22 ssh"
check "close 17: its rule is gone" xt_is_count 0 4 LOGKNOCK '"logknock:17:'
check "after close, 192.0.2.2 cannot connect" refused 192.0.2.1 192.0.2.2
check "close 17 again (no such rule): ok" request_ok "close 17 inet 192.0.2.2 tcp 22 ssh"

check "open 18 (2001:db8::2 tcp/22): ok" request_ok "open 18 inet6 2001:db8::2 tcp 22 30 ssh"
check "after open, 2001:db8::2 connects" connects 2001:db8::1 2001:db8::2
check "after open, 2001:db8::3 still cannot connect" refused 2001:db8::1 2001:db8::3
check "after open of an IPv6 grant, 192.0.2.2 still cannot connect" refused 192.0.2.1 192.0.2.2
check "the IPv6 rule names its grant: logknock:18:ssh" xt_has_rule 6 LOGKNOCK "$g18"
check "close 18: ok" request_ok "close 18 inet6 2001:db8::2 tcp 22 ssh"
check "after close, 2001:db8::2 cannot connect" refused 2001:db8::1 2001:db8::2

check "open 19 (icmp echo-request): ok" request_ok "open 19 inet 192.0.2.2 icmp 8 30 ping"
check "ICMP rule: -p icmp --icmp-type 8, logknock:19:ping" xt_has_rule 4 LOGKNOCK "$g19"
check "open 20 (icmpv6 echo-request): ok" request_ok "open 20 inet6 2001:db8::2 icmpv6 128 30 ping6"
check "ICMPv6 rule: -p ipv6-icmp --icmpv6-type 128, logknock:20:ping6" xt_has_rule 6 LOGKNOCK "$g20"
check "open 21 (udp/53): ok" request_ok "open 21 inet 192.0.2.2 udp 53 30 dns"
check "UDP rule: -p udp --dport 53, logknock:21:dns" xt_has_rule 4 LOGKNOCK "$g21"
check "open 25 for tcp/3306 (guard tcp/22, udp/53, icmp): refused with an error" \
	request_refused "open 25 inet 192.0.2.2 tcp 3306 30 ssh"
check "... no rule for port 3306 in LOGKNOCK (IPv4)" xt_is_count 0 4 LOGKNOCK "--dport 3306"
check "open 26 for tcp/3306 in IPv6: refused" request_refused "open 26 inet6 2001:db8::2 tcp 3306 30 ssh"
check "open 27 for udp/22: refused" request_refused "open 27 inet 192.0.2.2 udp 22 30 ssh"
check "open 28 for icmp/0 (not icmp/8): refused" request_refused "open 28 inet 192.0.2.2 icmp 0 30 ping"
check "close 29 for tcp/3306: refused" request_refused "close 29 inet 192.0.2.2 tcp 3306 ssh"
check "no rule for port 3306 in LOGKNOCK (IPv6)" xt_is_count 0 6 LOGKNOCK "--dport 3306"
check "the IPv4 grant rules are those asked for (19, 21), none more" xt_is_count 2 4 LOGKNOCK '--comment "logknock:'
open_two() { request_ok "open 22 inet 192.0.2.2 tcp 22 30 ssh" && request_ok "open 23 inet6 2001:db8::2 tcp 22 30 ssh"; }
check "open 22 and 23 (tcp/22, both families): ok" open_two
check "before the flush, 192.0.2.2 connects" connects 192.0.2.1 192.0.2.2
check "flush 24: ok" request_ok "flush 24"
check "flush removed every grant (IPv4, IPv6)" no_grants
check "flush kept the jump and the guard, once each" structure_once
check "after flush, 192.0.2.2 cannot connect" refused 192.0.2.1 192.0.2.2
check "after flush, 2001:db8::2 cannot connect" refused 2001:db8::1 2001:db8::2
check "the applier exits 0 at the end of its input${WRAP:+ (under $WRAP)}" stop_applier

# ---- starts: what a previous run left ------------------------------------
check "a run that opens 30 and ends without closing it" apply_once_ok "open 30 inet 192.0.2.2 tcp 22 30 ssh" \
	--backend iptables --guard tcp/22
check "another start (no request) exits 0" apply_start_only --backend iptables --guard tcp/22
check "after restarts, jump and guard are there once each (IPv4, IPv6)" structure_once
check "a start keeps the grants a previous run left: 192.0.2.2 connects" connects 192.0.2.1 192.0.2.2
check "open 30 re-sent by a new run: ok" apply_once_ok "open 30 inet 192.0.2.2 tcp 22 30 ssh" --backend iptables --guard tcp/22
check "open 30 re-sent by a new run: still one rule" xt_is_count 1 4 LOGKNOCK '"logknock:30:'
check "close 30 without its door (another run): ok" apply_once_ok "close 30 inet 192.0.2.2 tcp 22" \
	--backend iptables --guard tcp/22
check "close 30 without its door removed the rule named logknock:30:ssh" xt_is_count 0 4 LOGKNOCK '"logknock:30:'
check "after close 30, 192.0.2.2 cannot connect" refused 192.0.2.1 192.0.2.2

lo_rule='-A LOGKNOCK -i lo -m comment --comment logknock-loopback -j RETURN'
no_lo_rule() { xt_is_count 0 4 LOGKNOCK "$lo_rule" && xt_is_count 0 6 LOGKNOCK "$lo_rule"; }
one_lo_rule() { xt_is_count 1 4 LOGKNOCK "$lo_rule" && xt_is_count 1 6 LOGKNOCK "$lo_rule"; }
refused_lo() { ! connects_lo "$@"; }
check "by default, one loopback rule (IPv4, IPv6)" one_lo_rule
check "--guard-loopback: a start with it exits 0" apply_start_only --backend iptables --guard tcp/22 --guard-loopback
check "--guard-loopback: the chain holds no loopback rule (IPv4, IPv6)" no_lo_rule
check "--guard-loopback: a connection over lo to port 22 is dropped" refused_lo 192.0.2.1
check "--guard-loopback: over IPv6 too" refused_lo 2001:db8::1
check "a start without it exits 0" apply_start_only --backend iptables --guard tcp/22
lo_back() { one_lo_rule && connects_lo 192.0.2.1; }
check "without it again: one loopback rule, and lo connects" lo_back
udp_guard='-A LOGKNOCK -p udp -m udp --dport 53 -m conntrack --ctstate NEW -m comment --comment logknock-guard -j DROP'
udp_guard_added() {
	apply_start_only --backend iptables --guard tcp/22 --guard udp/53 &&
		xt_is_count 1 4 LOGKNOCK "$udp_guard" && xt_is_count 1 6 LOGKNOCK "$udp_guard" && structure_once
}
udp_guard_removed() {
	apply_start_only --backend iptables --guard tcp/22 &&
		xt_is_count 0 4 LOGKNOCK "$udp_guard" && xt_is_count 0 6 LOGKNOCK "$udp_guard" && structure_once
}
other_name() {
	apply_start_only --backend iptables --name knock2 --guard tcp/22 &&
		xt_is_count 1 4 INPUT "-j KNOCK2" && xt_is_count 1 6 INPUT "-j KNOCK2" &&
		xt_is_count 1 4 KNOCK2 "-A KNOCK2 -p tcp -m tcp --dport 22 -m conntrack --ctstate NEW"
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
