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

IPSET=/usr/sbin/ipset
WRAP=${LOGKNOCK_APPLY_WRAPPER:-}
trap 'netns_cleanup; rm -rf "$TMP"' EXIT

[ "$(id -u)" = 0 ] || skip_all "not root"
[ -x "$LOGKNOCK_APPLY" ] || skip_all "logknock-apply not built ($LOGKNOCK_APPLY)"
[ -x "$IPT" ] && [ -x "$IP6T" ] || skip_all "no $IPT or $IP6T"
[ -x "$IPSET" ] || skip_all "no $IPSET (apt-get install ipset)"
command -v python3 >/dev/null 2>&1 || skip_all "no python3 (test server and client)"
netns_setup || skip_all "$netns_error"

# The admin's own ruleset: policy DROP, and port 22 simply allowed.
netns_admin_iptables 2>"$TMP/admin.err" ||
	skip_all "iptables does not work in a network namespace here: $(head -1 "$TMP/admin.err")"
netns_add_other_client || skip_all "cannot add a second client address"
netns_start_server || skip_all "$netns_error"

guard_rule='-A LOGKNOCK -p tcp -m tcp --dport 22 -m conntrack --ctstate NEW -m comment --comment logknock-guard -j DROP'

set_rule4='-A LOGKNOCK -m set --match-set logknock4 src,dst -m comment --comment logknock-set -j ACCEPT'
set_rule6='-A LOGKNOCK -m set --match-set logknock6 src,dst -m comment --comment logknock-set -j ACCEPT'
# The chain is exactly: the set rule, the loopback return, then the guard (IPv4 and IPv6), and
# INPUT jumps to it once.
# $extra_guard: a second guard rule, after the first, when the run has one.
extra_guard=
structure_once() {
	lo_rule='-A LOGKNOCK -i lo -m comment --comment logknock-loopback -j RETURN'
	printf '%s\n%s\n%s\n%s\n' "-N LOGKNOCK" "$set_rule4" "$lo_rule" "$guard_rule" >"$TMP/want4"
	printf '%s\n%s\n%s\n%s\n' "-N LOGKNOCK" "$set_rule6" "$lo_rule" "$guard_rule" >"$TMP/want6"
	[ -z "$extra_guard" ] || { echo "$extra_guard" >>"$TMP/want4" && echo "$extra_guard" >>"$TMP/want6"; }
	for f in 4 6; do
		xt_rules $f LOGKNOCK >"$TMP/got$f"
		cmp -s "$TMP/want$f" "$TMP/got$f" || { diff "$TMP/want$f" "$TMP/got$f" | diag; return 1; }
		xt_is_count 1 $f INPUT "-j LOGKNOCK" || return 1
	done
}
empty_sets_now() { [ "$(entries logknock4)" = 0 ] && [ "$(entries logknock6)" = 0 ]; }
# in_set SET ENTRY: the kernel has ENTRY in SET.
in_set() { in_server "$IPSET" test "$1" "$2" 2>/dev/null; }
not_in_set() { ! in_set "$@"; }
# entries SET: how many entries SET holds.
entries() { in_server "$IPSET" list "$1" | sed -n 's/^Number of entries: //p'; }
# timeout_of SET ENTRY-AS-LISTED: the seconds left of an entry.
timeout_of() { in_server "$IPSET" list "$1" | sed -n "s/^$2 timeout \([0-9]*\)\$/\1/p"; }

# ---- without logknock, the admin's ruleset lets everyone in ---------------
check "without logknock, 192.0.2.2 reaches port 22 (the test network works)" connects 192.0.2.1 192.0.2.2
check "without logknock, 2001:db8::2 reaches port 22" connects 2001:db8::1 2001:db8::2

# ---- one applier, requests in order ---------------------------------------
# The doors open tcp/22, udp/53, ping and ping6: the applier opens nothing else.
udp_guard='-A LOGKNOCK -p udp -m udp --dport 53 -m conntrack --ctstate NEW -m comment --comment logknock-guard -j DROP'
extra_guard=$udp_guard
start_applier --backend ipset --guard tcp/22 --guard udp/53 --guard icmp/8 --guard icmpv6/128
check "the applier answers its first request: close of an entry never added is ok" \
	request_ok "close 1 inet 192.0.2.250 tcp 22 none"
sets_exist() {
	in_server "$IPSET" list -n >"$TMP/sets" && grep -qx logknock4 "$TMP/sets" && grep -qx logknock6 "$TMP/sets" &&
		in_server "$IPSET" list logknock4 | grep -q '^Header: family inet .*timeout 0' &&
		in_server "$IPSET" list logknock6 | grep -q '^Header: family inet6 .*timeout 0'
}
check "sets logknock4 (inet) and logknock6 (inet6), hash:ip,port with timeouts" sets_exist
check "the jump to LOGKNOCK is the first rule of INPUT (IPv4, IPv6)" xt_jump_first
check "LOGKNOCK: the set rule, then the guard; jumped to once (IPv4, IPv6)" structure_once
check "before a grant, 192.0.2.2 cannot connect" refused 192.0.2.1 192.0.2.2
check "before a grant, 2001:db8::2 cannot connect" refused 2001:db8::1 2001:db8::2
connects_lo() {
	in_server timeout 4 "${netns_py:-python3}" "$TMP/client.py" once "$1" "$1" 0 1 >"$TMP/client.out" 2>&1
}
check "loopback: the server reaches its own port 22 over lo (left to the admin's -i lo -j ACCEPT)" \
	connects_lo 192.0.2.1

check "open 17 (192.0.2.2 tcp/22): ok" request_ok "open 17 inet 192.0.2.2 tcp 22 30 ssh"
check "the entry 192.0.2.2,tcp:22 is in logknock4" in_set logknock4 192.0.2.2,tcp:22
check "after open, 192.0.2.2 connects" connects 192.0.2.1 192.0.2.2
check "after open, 192.0.2.3 still cannot connect" refused 192.0.2.1 192.0.2.3
resent_one() { request_ok "open 17 inet 192.0.2.2 tcp 22 30 ssh" && [ "$(entries logknock4)" = 1 ]; }
check "open 17 re-sent: ok, still one entry" resent_one
check "close 17: ok" request_ok "close 17 inet 192.0.2.2 tcp 22 ssh"
check "close 17: the entry is gone" not_in_set logknock4 192.0.2.2,tcp:22
check "after close, 192.0.2.2 cannot connect" refused 192.0.2.1 192.0.2.2
check "close 17 again (no such entry): ok" request_ok "close 17 inet 192.0.2.2 tcp 22 ssh"

check "open 18 (2001:db8::2 tcp/22): ok" request_ok "open 18 inet6 2001:db8::2 tcp 22 30 ssh"
check "the entry 2001:db8::2,tcp:22 is in logknock6" in_set logknock6 2001:db8::2,tcp:22
check "after open, 2001:db8::2 connects" connects 2001:db8::1 2001:db8::2
check "after open, 2001:db8::3 still cannot connect" refused 2001:db8::1 2001:db8::3
check "after open of an IPv6 grant, 192.0.2.2 still cannot connect" refused 192.0.2.1 192.0.2.2
check "close 18: ok" request_ok "close 18 inet6 2001:db8::2 tcp 22 ssh"
check "after close, 2001:db8::2 cannot connect" refused 2001:db8::1 2001:db8::2

# ---- ports the doors do not open are refused ------------------------------------
check "open 40 for tcp/3306 (guard tcp/22, udp/53, icmp): refused with an error" \
	request_refused "open 40 inet 192.0.2.2 tcp 3306 30 ssh"
check "... nothing added for it in logknock4" not_in_set logknock4 192.0.2.2,tcp:3306
check "open 41 for udp/22: refused" request_refused "open 41 inet 192.0.2.2 udp 22 30 ssh"
check "open 42 for icmp/0 (not icmp/8): refused" request_refused "open 42 inet 192.0.2.2 icmp 0 30 ping"
check "open 43 for tcp/3306 in IPv6: refused" request_refused "open 43 inet6 2001:db8::2 tcp 3306 30 ssh"
check "close 44 for tcp/3306: refused" request_refused "close 44 inet 192.0.2.2 tcp 3306 ssh"
check "after the refusals, both sets are empty" empty_sets_now
check "after the refusals, 192.0.2.2 still cannot connect to tcp/22" refused 192.0.2.1 192.0.2.2

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
check "open 19 for 2 s: ok" request_ok "open 19 inet 192.0.2.2 tcp 22 2 ssh"
check "open 19: 192.0.2.2 connects at once" connects 192.0.2.1 192.0.2.2
check "the kernel removes the entry by itself after 2 s (no close sent)" expires_alone logknock4 192.0.2.2,tcp:22
check "after the kernel's expiry, 192.0.2.2 cannot connect" refused 192.0.2.1 192.0.2.2

check "open 20 for 2 s: ok" request_ok "open 20 inet 192.0.2.2 tcp 22 2 ssh"
check "open 20 again for 60 s (a refresh): ok" request_ok "open 20 inet 192.0.2.2 tcp 22 60 ssh"
long_timeout() {
	t=$(timeout_of logknock4 192.0.2.2,tcp:22)
	[ -n "$t" ] && [ "$t" -ge 50 ] || { echo "# timeout left: '$t'"; return 1; }
}
check "the refresh replaced the entry's timeout (more than 50 s left)" long_timeout
sleep 3
check "3 s later (past the first 2 s), 192.0.2.2 still connects" connects 192.0.2.1 192.0.2.2
check "3 s later, the entry is still there" in_set logknock4 192.0.2.2,tcp:22
check "close 20: ok" request_ok "close 20 inet 192.0.2.2 tcp 22 ssh"

# ---- ICMP, UDP, flush ---------------------------------------------------------
check "open 21 (icmp echo-request): ok" request_ok "open 21 inet 192.0.2.2 icmp 8 30 ping"
check "the entry 192.0.2.2,icmp:8/0 is in logknock4" in_set logknock4 192.0.2.2,icmp:8/0
check "open 22 (icmpv6 echo-request): ok" request_ok "open 22 inet6 2001:db8::2 icmpv6 128 30 ping6"
check "the entry 2001:db8::2,ipv6-icmp:128/0 is in logknock6" in_set logknock6 2001:db8::2,ipv6-icmp:128/0
check "open 23 (udp/53): ok" request_ok "open 23 inet 192.0.2.2 udp 53 30 dns"
check "the entry 192.0.2.2,udp:53 is in logknock4" in_set logknock4 192.0.2.2,udp:53
open_two() { request_ok "open 24 inet 192.0.2.2 tcp 22 30 ssh" && request_ok "open 25 inet6 2001:db8::2 tcp 22 30 ssh"; }
check "open 24 and 25 (tcp/22, both families): ok" open_two
check "before the flush, 192.0.2.2 connects" connects 192.0.2.1 192.0.2.2
check "flush 26: ok" request_ok "flush 26"
empty_sets() { [ "$(entries logknock4)" = 0 ] && [ "$(entries logknock6)" = 0 ]; }
check "flush emptied both sets" empty_sets
check "flush kept the set rule and the guard, once each" structure_once
check "after flush, 192.0.2.2 cannot connect" refused 192.0.2.1 192.0.2.2
check "after flush, 2001:db8::2 cannot connect" refused 2001:db8::1 2001:db8::2
check "the applier exits 0 at the end of its input${WRAP:+ (under $WRAP)}" stop_applier

# ---- starts: what a previous run left ------------------------------------
extra_guard=
check "a run that opens 30 and ends without closing it" apply_once_ok "open 30 inet 192.0.2.2 tcp 22 30 ssh" \
	--backend ipset --guard tcp/22
check "another start (no request) exits 0" apply_start_only --backend ipset --guard tcp/22
check "after restarts, set rule, guard and jump are there once each (IPv4, IPv6)" structure_once
check "a start keeps the entries a previous run left: 192.0.2.2 connects" connects 192.0.2.1 192.0.2.2
check "open 30 re-sent by a new run (for 90 s): ok" apply_once_ok "open 30 inet 192.0.2.2 tcp 22 90 ssh" \
	--backend ipset --guard tcp/22
resent_new_run() {
	t=$(timeout_of logknock4 192.0.2.2,tcp:22)
	[ "$(entries logknock4)" = 1 ] && [ -n "$t" ] && [ "$t" -gt 60 ] || { echo "# timeout left: '$t'"; return 1; }
}
check "open 30 re-sent by a new run: one entry, its timeout renewed" resent_new_run
check "close 30 (another run): ok" apply_once_ok "close 30 inet 192.0.2.2 tcp 22 ssh" --backend ipset --guard tcp/22
check "after close 30, 192.0.2.2 cannot connect" refused 192.0.2.1 192.0.2.2
udp_guard='-A LOGKNOCK -p udp -m udp --dport 53 -m conntrack --ctstate NEW -m comment --comment logknock-guard -j DROP'
udp_guard_cycle() {
	apply_start_only --backend ipset --guard tcp/22 --guard udp/53 &&
		xt_is_count 1 4 LOGKNOCK "$udp_guard" && xt_is_count 1 6 LOGKNOCK "$udp_guard" &&
		apply_start_only --backend ipset --guard tcp/22 && structure_once
}
check "a guard added by one start is removed by the next start without it" udp_guard_cycle
switch_from_iptables() {
	echo "open 40 inet 192.0.2.2 tcp 22 30 ssh" | apply_once --backend iptables --guard tcp/22 &&
		xt_is_count 1 4 LOGKNOCK '"logknock:40:' && apply_start_only --backend ipset --guard tcp/22 &&
		xt_is_count 0 4 LOGKNOCK '"logknock:40:' && structure_once
}
check "switching from the iptables backend: its grant rules go, the set rule comes back" switch_from_iptables
check "an open for more than ipset's 2147483 s is clamped, not refused" \
	apply_once_ok "open 31 inet 192.0.2.2 tcp 22 31536000 ssh" --backend ipset --guard tcp/22

# Requests that arrive together: one `ipset restore`, answered one by one.
burst() { # burst open|close FIRST LAST
	i=$2
	while [ "$i" -le "$3" ]; do
		if [ "$1" = open ]; then echo "open $((500 + i)) inet 198.51.100.$i tcp 22 60 b"; else echo "close $((500 + i)) inet 198.51.100.$i tcp 22 b"; fi
		i=$((i + 1))
	done
}
in_server "$IPSET" flush logknock4
batch_opens() {
	burst open 1 30 | apply_once --backend ipset --guard tcp/22 &&
		[ "$(grep -c '^ok 5[0-9][0-9]$' "$TMP/once.out")" = 30 ] && [ "$(entries logknock4)" = 30 ]
}
check "batch: 30 opens at once: 30 ok, 30 entries" batch_opens
check "batch: they went through ipset restore" grep -q "open 5[0-9]*: ipset restore: add logknock4 198.51.100" "$TMP/apply.err"
batch_closes() {
	burst close 1 30 | apply_once --backend ipset --guard tcp/22 &&
		[ "$(grep -c '^ok 5[0-9][0-9]$' "$TMP/once.out")" = 30 ] && [ "$(entries logknock4)" = 0 ]
}
check "batch: 30 closes at once: 30 ok, no entry left" batch_closes

if [ "$tap_failed" -gt 0 ] && [ -s "$TMP/apply.err" ]; then
	echo "# applier's stderr:"
	tail -40 "$TMP/apply.err" | diag
fi
echo "1..$tap_n"
done_testing
