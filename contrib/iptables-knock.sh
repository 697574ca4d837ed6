#!/bin/sh
# iptables-knock.sh — example iptables/ip6tables rules for logknock.
#
#   sh contrib/iptables-knock.sh          (as root; safe to run again)
#
# For each family:
#   - packets of connections already set up pass (conntrack ESTABLISHED);
#   - every packet to a knock port (tcp 7000, 8000, 9000: the steps of your
#     doors' sequences) is LOGGED with the prefix "KNOCK " (the "prefix:" of
#     logknockd.yaml), at most 20 a second per source (hashlimit), and
#     DROPPED: the port stays closed and the knock reaches logknockd only
#     through the kernel's log;
#   - the protected port 22 is ACCEPTED after the jump to LOGKNOCK.
#
# The chain LOGKNOCK belongs to logknock-apply's iptables and ipset backends
# (applier: {backend: iptables} or {backend: ipset}). They fill it with one
# ACCEPT per grant (iptables) or a rule matching their ipset (ipset), then
# "-p tcp --dport 22 -m conntrack --ctstate NEW -j DROP" for every guarded
# port: a source without a grant never reaches the ACCEPT of port 22 below.
# This script creates the chain (empty) and the jump from INPUT where it must
# be, before that ACCEPT; the backend finds both and keeps them there. With
# another backend (log, command) nothing guards port 22: remove its ACCEPT.
#
# hashlimit's cost: one hash entry (a few hundred bytes) per source seen in
# the last minute, at most --hashlimit-htable-max (65536 here, some 10 to 20
# MB at worst); each packet is one hash lookup. When the table is full (a
# spoofed flood from many addresses) packets from new sources are not
# logged, and so cannot knock, until entries expire; they are dropped all
# the same. A limit on all sources together would let one flooder lock
# everyone out; per source it cannot.
set -e

KNOCK_TCP=7000,8000,9000	# the knock ports (multiport: at most 15)
PROTECTED=22
RATE=20/second
BURST=40

for ipt in iptables ip6tables; do
	# Our own chain of knock rules, emptied and refilled on every run.
	$ipt -w -N KNOCKS 2>/dev/null || $ipt -w -F KNOCKS
	$ipt -w -A KNOCKS -m hashlimit --hashlimit-name "knock-$ipt" --hashlimit-mode srcip \
		--hashlimit-upto "$RATE" --hashlimit-burst "$BURST" \
		--hashlimit-htable-max 65536 --hashlimit-htable-expire 60000 \
		-j LOG --log-prefix "KNOCK "
	$ipt -w -A KNOCKS -j DROP

	# logknock's chain: created if missing; its rules are the backend's.
	$ipt -w -N LOGKNOCK 2>/dev/null || true

	# INPUT, in this order (each rule added once).
	add() {
		$ipt -w -C INPUT "$@" 2>/dev/null || $ipt -w -A INPUT "$@"
	}
	add -m conntrack --ctstate ESTABLISHED,RELATED -j ACCEPT
	add -i lo -j ACCEPT
	add -p tcp -m multiport --dports "$KNOCK_TCP" -j KNOCKS
	# A UDP step: add -p udp --dport 8004 -j KNOCKS
	add -j LOGKNOCK
	add -p tcp --dport "$PROTECTED" -j ACCEPT
done

# Everything else is dropped. ICMP (and ICMPv6, which IPv6 needs to work)
# is let through first.
iptables -w -C INPUT -p icmp -j ACCEPT 2>/dev/null || iptables -w -I INPUT 3 -p icmp -j ACCEPT
ip6tables -w -C INPUT -p ipv6-icmp -j ACCEPT 2>/dev/null || ip6tables -w -I INPUT 3 -p ipv6-icmp -j ACCEPT
iptables -w -P INPUT DROP
ip6tables -w -P INPUT DROP
