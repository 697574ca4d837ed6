# netns.sh — real kernel log lines for tests: two network namespaces joined
# by a veth pair, an nftables rule in the server namespace that logs and
# drops probes, and a client that sends them. Source it (POSIX sh), then:
#
#   netns_setup                    || skip_all "..."   (0, or 1 with $netns_error)
#   netns_log_rule PREFIX PORT...  log TCP and UDP packets to PORTs as "PREFIX IN=..." and drop them
#   netns_knock tcp|udp PORT [4|6] one SYN / one datagram from the client
#   netns_cleanup                  remove everything netns_setup made (call it from the EXIT trap)
#
# Names carry this shell's PID and a random suffix, so that two runs (even
# of the same test at once) never share a namespace or an interface.
# Addresses are documentation ones: 192.0.2.1 and 2001:db8::1 (server),
# 192.0.2.2 and 2001:db8::2 (client).

netns_id=$$$(od -An -N2 -tx1 /dev/urandom 2>/dev/null | tr -d ' \n')
NETNS_SERVER=lk${netns_id}s
NETNS_CLIENT=lk${netns_id}c
netns_veth_s=lk${netns_id}a	# at most 2 + 7 + 4 + 1 = 14 characters (IFNAMSIZ - 1 = 15)
netns_veth_c=lk${netns_id}b
NETNS_SERVER4=192.0.2.1
NETNS_SERVER6=2001:db8::1
netns_made=
netns_sysctl_old=
netns_error=

netns_setup() {
	if [ "$(id -u)" != 0 ]; then
		netns_error="not root"
		return 1
	fi
	command -v ip >/dev/null 2>&1 || { netns_error="no ip command"; return 1; }
	command -v nft >/dev/null 2>&1 || { netns_error="no nft command"; return 1; }
	command -v bash >/dev/null 2>&1 || { netns_error="no bash (for /dev/tcp and /dev/udp)"; return 1; }
	command -v timeout >/dev/null 2>&1 || { netns_error="no timeout command"; return 1; }
	if ! ip netns add "$NETNS_SERVER" 2>/dev/null; then
		netns_error="ip netns does not work here"
		return 1
	fi
	netns_made=$NETNS_SERVER
	if ! ip netns add "$NETNS_CLIENT" 2>/dev/null; then
		netns_error="cannot create a second network namespace"
		return 1
	fi
	netns_made="$netns_made $NETNS_CLIENT"
	if ! ip link add "$netns_veth_s" netns "$NETNS_SERVER" type veth peer name "$netns_veth_c" \
		netns "$NETNS_CLIENT" 2>/dev/null; then
		netns_error="cannot create a veth pair"
		return 1
	fi
	if ! { ip -n "$NETNS_SERVER" link set lo up &&
		ip -n "$NETNS_CLIENT" link set lo up &&
		ip -n "$NETNS_SERVER" addr add 192.0.2.1/24 dev "$netns_veth_s" &&
		ip -n "$NETNS_CLIENT" addr add 192.0.2.2/24 dev "$netns_veth_c" &&
		ip -n "$NETNS_SERVER" addr add 2001:db8::1/64 dev "$netns_veth_s" nodad &&
		ip -n "$NETNS_CLIENT" addr add 2001:db8::2/64 dev "$netns_veth_c" nodad &&
		ip -n "$NETNS_SERVER" link set "$netns_veth_s" up &&
		ip -n "$NETNS_CLIENT" link set "$netns_veth_c" up; } 2>/dev/null; then
		netns_error="cannot configure the veth pair"
		return 1
	fi
	# Without this the kernel does not log packets of namespaces other
	# than the initial one.
	old=$(sysctl -n net.netfilter.nf_log_all_netns 2>/dev/null)
	if [ -z "$old" ]; then
		netns_error="no net.netfilter.nf_log_all_netns (nf_log_syslog missing?)"
		return 1
	fi
	if [ "$old" != 1 ]; then
		if ! sysctl -q -w net.netfilter.nf_log_all_netns=1 >/dev/null 2>&1; then
			netns_error="cannot set net.netfilter.nf_log_all_netns"
			return 1
		fi
		netns_sysctl_old=$old
	fi
	return 0
}

# netns_log_rule PREFIX PORT...: log and drop TCP and UDP to each PORT.
netns_log_rule() {
	prefix=$1
	shift
	case $prefix in *'"'* | *'\'*) echo "netns_log_rule: bad prefix" >&2; return 1 ;; esac
	ports=$(echo "$*" | tr ' ' ',')
	ip netns exec "$NETNS_SERVER" nft -f - <<EOF
add table inet logknock_test
add chain inet logknock_test input { type filter hook input priority 0; policy accept; }
add rule inet logknock_test input tcp dport { $ports } log prefix "$prefix " drop
add rule inet logknock_test input udp dport { $ports } log prefix "$prefix " drop
EOF
}

# netns_knock tcp|udp PORT [4|6]: one probe from the client. The TCP
# connect is cut after half a second, before the SYN would be retransmitted
# (one line per knock).
netns_knock() {
	case ${3:-4} in
	4) dst=$NETNS_SERVER4 ;;
	6) dst=$NETNS_SERVER6 ;;
	*) echo "netns_knock: family 4 or 6" >&2; return 1 ;;
	esac
	case $1 in
	tcp) ip netns exec "$NETNS_CLIENT" timeout 0.5 bash -c 'exec 3<>"/dev/tcp/$0/$1"' "$dst" "$2" \
		>/dev/null 2>&1 ;;
	udp) ip netns exec "$NETNS_CLIENT" bash -c 'printf x >"/dev/udp/$0/$1"' "$dst" "$2" ;;
	*) echo "netns_knock: tcp or udp" >&2; return 1 ;;
	esac
	return 0
}

netns_cleanup() {
	for ns in $netns_made; do
		ip netns del "$ns" 2>/dev/null	# takes its end of the veth pair (and the pair) with it
	done
	netns_made=
	if [ -n "$netns_sysctl_old" ]; then
		sysctl -q -w net.netfilter.nf_log_all_netns="$netns_sysctl_old" >/dev/null 2>&1
		netns_sysctl_old=
	fi
}
