#!/bin/sh
# logknockctl close against a real firewall: a client namespace knocks on a
# server namespace whose nftables ruleset logs and drops the knocks; the
# kernel's log lines reach logknockd through /dev/kmsg; its applier (the nft
# backend, started in the server namespace through nsenter) opens tcp/22
# for the knocking address. A TCP connection from it is greeted; after
# "logknockctl close ADDR" the applier's element is gone and a new
# connection is not greeted, long before the door's duration. The same for
# IPv6, and for a grant opened by hand with "logknockctl open".
#
# Root only. Everything it starts is stopped by its PID on exit; the
# namespaces (and their rulesets) are removed; nf_log_all_netns restored.
. "${top_srcdir:-$(dirname "$0")/..}/t/lib.sh"
. "$top_srcdir/t/netns.sh"
: "${LOGKNOCKCTL:=$top_builddir/src/logknockctl}"

NSENTER=/usr/bin/nsenter
daemon_pid=
cleanup() {
	stop_pid "$daemon_pid"
	daemon_pid=
	netns_cleanup
	rm -rf "$TMP"
}
trap cleanup EXIT

[ "$(id -u)" = 0 ] || skip_all "not root"
need_binaries
[ -x "$LOGKNOCKCTL" ] || skip_all "logknockctl not built ($LOGKNOCKCTL)"
command -v python3 >/dev/null 2>&1 || skip_all "no python3 (listener and client)"
[ -x "$NSENTER" ] || skip_all "no $NSENTER"
[ -r /dev/kmsg ] || skip_all "cannot read /dev/kmsg"
D=$LOGKNOCKD
APPLY=$LOGKNOCK_APPLY

netns_setup || skip_all "$netns_error"
S=$NETNS_SERVER
PFX=LKCTL-$netns_id	# the kernel's log is shared with every other test: ours alone

netns_start_server || skip_all "$netns_error"
in_server nft -f - <<EOF || skip_all "cannot load the admin's nft ruleset"
table inet admin {
	chain input {
		type filter hook input priority filter; policy drop;
		ct state established,related accept
		iif lo accept
		meta l4proto { icmp, ipv6-icmp } accept
		tcp dport 22 accept
		tcp dport { 7000, 8000, 9000 } log prefix "$PFX " drop
	}
}
EOF

SOCK=$TMP/control
mkdir "$TMP/state"
cat >"$TMP/nft.yaml" <<EOF
# netns_setup holds net.netfilter.nf_log_all_netns at 1: knock lines of our namespaces reach
# the kernel's log, and so could any user's; accepted here
accept_nf_log_all_netns: true
sources:
  - kmsg: true
prefix: "$PFX "
state_dir: $TMP/state
control:
  socket: $SOCK
applier:
  backend: nft
  program: $APPLY
  command: [$NSENTER, --net=/run/netns/$S]
  timeout: 5s
doors:
  - name: ssh
    sequence: [tcp/7000, tcp/8000, tcp/9000]
    window: 10s
    open: [tcp/22]
    duration: 10m
EOF
if ! "$D" -c "$TMP/nft.yaml" --check-config >"$TMP/cc.out" 2>&1; then
	echo "Bail out! the test's configuration does not load: $(head -1 "$TMP/cc.out")"
	exit 1
fi

plan 15

if netns_start_daemon nft && [ -S "$SOCK" ]; then
	ok "logknockd starts: kmsg, the nft backend in the server namespace, its control socket"
else
	fail "logknockd starts: kmsg, the nft backend in the server namespace, its control socket"
	diag "$TMP/nft.err" | tail -20
	done_testing
fi
ctl() { "$LOGKNOCKCTL" --socket "$SOCK" "$@"; }
dst_of() { if [ "$1" = 6 ]; then echo 2001:db8::1; else echo 192.0.2.1; fi; }
me_of() { if [ "$1" = 6 ]; then echo 2001:db8::2; else echo 192.0.2.2; fi; }
# element_of ADDR: the applier's nft table holds an element for ADDR.
element_of() { in_server nft list table inet logknock 2>/dev/null | grep -qF -e "$1 "; }

# close_case FAMILY HOW: HOW (knock or open) lets the client in; close shuts it out.
close_case() {
	fam=$1 how=$2
	me=$(me_of "$fam")
	dst=$(dst_of "$fam")
	label="IPv$fam, $how"
	if [ "$how" = knock ]; then
		netns_knock tcp 7000 "$fam"
		netns_knock tcp 8000 "$fam"
		netns_knock tcp 9000 "$fam"
	else
		ctl open ssh "$me" >"$TMP/open.out" 2>&1 || { echo "# open: $(cat "$TMP/open.out")"; }
	fi
	if netns_try open "$dst" "$me" 5; then
		ok "$label: $me connects to port 22 (in $(cat "$TMP/client.out") s)"
	else
		fail "$label: $me connects to port 22"
		diag "$TMP/nft.err" | tail -20
		skip_n 3 "$label: the door did not open"
		return
	fi
	ctl grants >"$TMP/grants.out" 2>&1
	had=no
	element_of "$me" && had=yes
	ctl close "$me" >"$TMP/close.out" 2>"$TMP/close.err"
	rc=$?
	if [ $rc -eq 0 ] && grep -qF " $me " "$TMP/grants.out" && [ $had = yes ]; then
		ok "$label: grants and the nft table list it; logknockctl close $me: exit 0 ($(cat "$TMP/close.out"))"
	else
		fail "$label: grants and the nft table list it; logknockctl close $me: exit 0 (exit $rc, element: $had)"
		diag "$TMP/grants.out" "$TMP/close.err"
	fi
	# The close is applied before the answer? Not promised: a moment for
	# the applier, then the firewall is asked.
	i=0
	while element_of "$me" && [ $i -lt 100 ]; do sleep 0.02; i=$((i + 1)); done
	if ! element_of "$me"; then
		ok "$label: the applier's nft table holds no element for $me any more"
	else
		fail "$label: the applier's nft table holds no element for $me any more"
		in_server nft list table inet logknock 2>&1 | diag
	fi
	if netns_try once "$dst" "$me" 0 1; then
		fail "$label: a new connection from $me is not greeted any more (door duration: 10 min)"
	else
		ok "$label: a new connection from $me is not greeted any more (door duration: 10 min)"
	fi
}
if netns_try once 192.0.2.1 192.0.2.2 0 1 || netns_try once 2001:db8::1 2001:db8::2 0 1; then
	fail "before any knock, the client cannot connect to port 22"
else
	ok "before any knock, the client cannot connect to port 22"
fi
close_case 4 knock
close_case 6 knock
close_case 4 open

ctl grants --json >"$TMP/g.json" 2>&1
check "no grant left open" python3 -c 'import json, sys; g = json.load(open(sys.argv[1])); assert g == [], g' "$TMP/g.json"
done_testing
