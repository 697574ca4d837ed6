#!/bin/sh
# Gateway doors (issue 15), end to end with real namespaces:
#
#   client A 192.0.2.2 2001:db8::2 ─┐                 ┌─ internal host 198.51.100.2, 2001:db8:9::2
#   client B 192.0.2.3 2001:db8::3 ─┴── gateway ──────┘  (a listener on 22 and 80 that greets
#                                      192.0.2.1          with the address it sees, then echoes)
#                                      198.51.100.1
#
# The gateway forwards (its admin's forward policy accepts), logs and drops
# the knocks; logknockd reads them from /dev/kmsg in the host namespace and
# its applier, started through nsenter, changes the gateway's firewall with
# the backend under test. For each family: a forward door (A reaches the
# internal host's tcp/22 through the gateway) and a dnat door (A's
# connections to the gateway's tcp/2222 go to the internal tcp/22): before
# the knock A cannot, after it A can and B still cannot, after the door's
# duration A cannot again. keep_established both ways: a connection made
# under the grant survives its expiry (forward door, default) or does not
# (keep_established: false). masquerade: the internal host sees the
# gateway's address. Records that user space writes into /dev/kmsg (B's
# whole sequence, at any priority) open nothing. The applier refuses a
# forward or dnat request to a host or port its --gateway list lacks, and
# with a root-owned apply.yaml a door leading elsewhere gets nothing.
#
# Root only. Everything it starts is stopped by its PID on exit; the
# namespaces (and their rulesets) are removed; nf_log_all_netns restored.
. "${top_srcdir:-$(dirname "$0")/..}/t/lib.sh"
. "$top_srcdir/t/netns.sh"

NSENTER=/usr/bin/nsenter
DURATION=3
BACKENDS=${GATEWAY_BACKENDS:-nft iptables ipset}

daemon_pid=
inner_pid=
cleanup() {
	stop_pid "$daemon_pid"
	daemon_pid=
	stop_pid "$inner_pid"
	inner_pid=
	netns_cleanup
	rm -rf "$TMP"
}
trap cleanup EXIT

[ "$(id -u)" = 0 ] || skip_all "not root"
need_binaries
command -v python3 >/dev/null 2>&1 || skip_all "no python3 (listener and client)"
[ -x "$NSENTER" ] || skip_all "no $NSENTER"
[ -r /dev/kmsg ] && [ -w /dev/kmsg ] || skip_all "no /dev/kmsg"

mkdir "$TMP/bin"
cp "$LOGKNOCKD" "$LOGKNOCK_APPLY" "$TMP/bin/" || skip_all "cannot copy the binaries"
D=$TMP/bin/logknockd
APPLY=$TMP/bin/logknock-apply

netns_setup || skip_all "$netns_error"
S=$NETNS_SERVER
C=$NETNS_CLIENT
PFX=KNOCK-$netns_id
netns_add_other_client || skip_all "cannot add a second client address"

# ---- the internal host behind the gateway ----------------------------------
I=lk${netns_id}i
ip netns add "$I" 2>/dev/null || skip_all "cannot create a third namespace"
netns_made="$netns_made $I"
vi_g=lk${netns_id}g vi_i=lk${netns_id}h
{
	ip link add "$vi_g" netns "$S" type veth peer name "$vi_i" netns "$I" &&
		ip -n "$I" link set lo up &&
		ip -n "$S" addr add 198.51.100.1/24 dev "$vi_g" &&
		ip -n "$I" addr add 198.51.100.2/24 dev "$vi_i" &&
		ip -n "$S" addr add 2001:db8:9::1/64 dev "$vi_g" nodad &&
		ip -n "$I" addr add 2001:db8:9::2/64 dev "$vi_i" nodad &&
		ip -n "$S" link set "$vi_g" up && ip -n "$I" link set "$vi_i" up &&
		ip -n "$I" route add default via 198.51.100.1 &&
		ip -n "$I" -6 route add default via 2001:db8:9::1 &&
		ip -n "$C" route add 198.51.100.0/24 via 192.0.2.1 &&
		ip -n "$C" -6 route add 2001:db8:9::/64 via 2001:db8::1 &&
		ip netns exec "$S" sysctl -q -w net.ipv4.ip_forward=1 net.ipv6.conf.all.forwarding=1
} >"$TMP/topo.err" 2>&1 || skip_all "cannot build the gateway topology: $(head -1 "$TMP/topo.err")"

netns_py=$(python3 -c 'import sys; print(sys.executable)' 2>/dev/null)
[ -x "$netns_py" ] || netns_py=python3
cat >"$TMP/inner.py" <<'EOF'
import os, select, socket, sys
socks = []
for port in (22, 80):
    for fam, addr in ((socket.AF_INET, "0.0.0.0"), (socket.AF_INET6, "::")):
        s = socket.socket(fam, socket.SOCK_STREAM)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if fam == socket.AF_INET6:
            s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
        s.bind((addr, port))
        s.listen(64)
        socks.append(s)
conns = []
with open(sys.argv[1] + ".tmp", "w") as f:
    f.write("%d\n" % os.getpid())
os.rename(sys.argv[1] + ".tmp", sys.argv[1])
while True:
    for s in select.select(socks + conns, [], [])[0]:
        if s in socks:
            c, peer = s.accept()
            try:
                c.sendall(b"logknock-gw %d %s\n" % (s.getsockname()[1], peer[0].encode()))
                conns.append(c)
            except OSError:
                c.close()
        else:
            try:
                d = s.recv(256)
            except OSError:
                d = b""
            if d:
                try:
                    s.sendall(d)
                except OSError:
                    pass
            else:
                conns.remove(s)
                s.close()
EOF
# gwclient.py MODE DST SRC SECONDS PORT: from SRC to DST:PORT, greeted by the internal host?
#   once: one attempt (0.5 s); open: until greeted; closed: until not greeted (at most SECONDS)
#   hold: greeted, then SECONDS later an echo on the same connection (2 s)
# Prints the seconds taken and the address the internal host saw.
cat >"$TMP/gwclient.py" <<'EOF'
import socket, sys, time
mode, dst, src, limit, port = sys.argv[1], sys.argv[2], sys.argv[3], float(sys.argv[4]), int(sys.argv[5])
fam = socket.AF_INET6 if ":" in dst else socket.AF_INET
seen = "-"
def attempt(keep=False):
    global seen
    s = socket.socket(fam, socket.SOCK_STREAM)
    s.settimeout(0.5)
    try:
        s.bind((src, 0))
        s.connect((dst, port))
        g = s.recv(128)
        if not g.startswith(b"logknock-gw "):
            s.close()
            return None
        seen = g.split()[2].decode()
        if keep:
            return s
        s.close()
        return True
    except OSError:
        s.close()
        return None
t0 = time.monotonic()
if mode == "once":
    r = attempt() is not None
elif mode == "hold":
    s = attempt(True)
    r = False
    if s:
        time.sleep(limit)
        s.settimeout(2)
        try:
            s.sendall(b"ping\n")
            r = s.recv(16) == b"ping\n"
        except OSError:
            r = False
        s.close()
else:
    want = mode == "open"
    while True:
        r = (attempt() is not None) == want
        if r or time.monotonic() - t0 >= limit:
            break
        time.sleep(0.02)
print("%.2f %s" % (time.monotonic() - t0, seen))
sys.exit(0 if r else 1)
EOF
rm -f "$TMP/inner.pid"
ip netns exec "$I" "$netns_py" "$TMP/inner.py" "$TMP/inner.pid" </dev/null >/dev/null 2>"$TMP/inner.err" &
inner_launcher=$!
i=0
while [ ! -s "$TMP/inner.pid" ]; do
	i=$((i + 1))
	[ $i -gt 100 ] && skip_all "internal listener did not start: $(head -1 "$TMP/inner.err")"
	sleep 0.1
done
inner_pid=$(cat "$TMP/inner.pid")

# try MODE DST SRC SECONDS PORT
try() { in_client timeout $(($4 + 4)) "$netns_py" "$TMP/gwclient.py" "$@" >"$TMP/client.out" 2>&1; }

inner_of() { if [ "$1" = 6 ]; then echo 2001:db8:9::2; else echo 198.51.100.2; fi; }
gw_of() { if [ "$1" = 6 ]; then echo 2001:db8::1; else echo 192.0.2.1; fi; }
me_of() { if [ "$1" = 6 ]; then echo 2001:db8::2; else echo 192.0.2.2; fi; }
other_of() { if [ "$1" = 6 ]; then echo 2001:db8::3; else echo 192.0.2.3; fi; }

# knock FAMILY P1 P2 P3: a SYN to each port of the gateway, from A.
knock() {
	kn_dst=$(gw_of "$1")
	for kn_p in "$2" "$3" "$4"; do
		in_client timeout 0.3 bash -c 'exec 3<>"/dev/tcp/$0/$1"' "$kn_dst" "$kn_p" >/dev/null 2>&1
	done
	return 0
}

# ---- the admin's rulesets on the gateway --------------------------------------
gw_reset() {
	in_server nft flush ruleset 2>/dev/null
	for t in "$IPT" "$IP6T"; do
		for tb in filter nat; do
			in_server "$t" -w -t $tb -F 2>/dev/null
			in_server "$t" -w -t $tb -X 2>/dev/null
		done
	done
	return 0
}
admin_nft() {
	in_server nft -f - <<EOF
table inet admin {
	chain input {
		type filter hook input priority filter; policy accept;
		tcp dport { 7000, 8000, 9000, 7100, 7200, 7300, 7400, 7500, 7600, 7700, 7800, 7900 } log prefix "$PFX " drop
	}
	chain forward {
		type filter hook forward priority filter; policy accept;
	}
}
EOF
}
admin_xt() {
	for t in "$IPT" "$IP6T"; do
		in_server "$t" -w -P FORWARD ACCEPT &&
			in_server "$t" -w -A INPUT -p tcp -m multiport --dports 7000,8000,9000,7100,7200,7300,7400,7500,7600,7700,7800,7900 -j LOG --log-prefix "$PFX " &&
			in_server "$t" -w -A INPUT -p tcp -m multiport --dports 7000,8000,9000,7100,7200,7300,7400,7500,7600,7700,7800,7900 -j DROP || return 1
	done
}

write_conf() { # NAME BACKEND
	mkdir -p "$TMP/state-$1"
	cat >"$TMP/$1.yaml" <<EOF
accept_nf_log_all_netns: true
sources:
  - kmsg: true
prefix: "$PFX "
state_dir: $TMP/state-$1
applier:
  backend: $2
  program: $APPLY
  command: [$NSENTER, --net=/run/netns/$S]
  timeout: 5s
doors:
  - name: fwd
    sequence: [tcp/7000, tcp/8000, tcp/9000]
    forward: [{to: 198.51.100.2, port: tcp/22}, {to: "2001:db8:9::2", port: tcp/22}]
    duration: ${DURATION}s
  - name: nat
    sequence: [tcp/7100, tcp/7200, tcp/7300]
    dnat: [{listen: tcp/2222, to: "198.51.100.2:22"}, {listen: tcp/2222, to: "[2001:db8:9::2]:22"}]
    duration: ${DURATION}s
  - name: fwd-nokeep
    sequence: [tcp/7400, tcp/7500, tcp/7600]
    forward: [{to: 198.51.100.2, port: tcp/80}]
    keep_established: false
    duration: ${DURATION}s
  - name: nat-masq
    sequence: [tcp/7700, tcp/7800, tcp/7900]
    dnat: [{listen: tcp/8080, to: "198.51.100.2:80", masquerade: true}]
    duration: ${DURATION}s
EOF
}

# gw_case LABEL FAMILY forward|dnat: before, knock, A only, closed again.
gw_case() {
	label=$1 fam=$2 via=$3
	me=$(me_of "$fam") other=$(other_of "$fam")
	if [ "$via" = forward ]; then
		dst=$(inner_of "$fam") port=22 seq="7000 8000 9000" what="$(inner_of "$fam") port 22"
	else
		dst=$(gw_of "$fam") port=2222 seq="7100 7200 7300" what="the gateway's port 2222"
	fi
	if try once "$dst" "$me" 0 "$port"; then
		fail "$label: before the knock, A ($me) cannot reach $what"
	else
		ok "$label: before the knock, A ($me) cannot reach $what"
	fi
	# shellcheck disable=SC2086
	knock "$fam" $seq
	if try open "$dst" "$me" 3 "$port"; then
		ok "$label: after the knock, A reaches $what (in $(cut -d' ' -f1 "$TMP/client.out") s)"
		if try once "$dst" "$other" 0 "$port"; then
			fail "$label: ... and B ($other), which did not knock, still cannot"
		else
			ok "$label: ... and B ($other), which did not knock, still cannot"
		fi
		if try closed "$dst" "$me" $((DURATION + 4)) "$port"; then
			ok "$label: after the door's ${DURATION} s, A cannot again"
		else
			fail "$label: after the door's ${DURATION} s, A cannot again"
		fi
	else
		fail "$label: after the knock, A reaches $what"
		tail -8 "$TMP/$cur.err" | diag
		{ in_server nft list ruleset; cat "$TMP/client.out"; } 2>&1 | grep -v "^\s*$" | tail -60 | diag
		skip_n 2 "$label: not reached"
	fi
}

# keep_case LABEL SEQ PORT DST WANT: a connection made under the grant, used again after it expired.
keep_case() {
	# shellcheck disable=SC2086
	knock 4 $2
	try open "$4" 192.0.2.2 3 "$3" >/dev/null
	if try hold "$4" 192.0.2.2 $((DURATION + 2)) "$3"; then got=alive; else got=cut; fi
	if [ "$got" = "$5" ]; then ok "$1 ($got)"; else fail "$1 (it was $got)"; fi
	try closed "$4" 192.0.2.2 $((DURATION + 4)) "$3"
}

# forged: B's whole sequence written into /dev/kmsg by user space, at several priorities.
forged() {
	for p in 7000 8000 9000 7100 7200 7300; do
		line="$PFX IN=$netns_veth_s OUT= MAC=00:00:00:00:00:01:00:00:00:00:00:02:08:00 SRC=192.0.2.3 DST=192.0.2.1 LEN=60 TOS=0x00 PREC=0x00 TTL=64 ID=1 DF PROTO=TCP SPT=$((41000 + p % 1000)) DPT=$p WINDOW=64240 RES=0x00 SYN URGP=0 "
		for pri in "" "<0>" "<4>"; do echo "$pri$line" >/dev/kmsg; done
	done
	sleep 1
	if try once 198.51.100.2 192.0.2.3 0 22 || try once 192.0.2.1 192.0.2.3 0 2222 ||
		grep -q "192.0.2.3" "$TMP/$cur.err"; then
		fail "$1: B's sequence forged into /dev/kmsg by user space opens nothing"
		tail -10 "$TMP/$cur.err" | diag
	else
		ok "$1: B's sequence forged into /dev/kmsg by user space opens nothing"
	fi
}

N_BE=21
plan $(($(echo $BACKENDS | wc -w) * N_BE + 6))

# ---- the applier's own refusals (nft; what a compromised daemon could ask) ---
# Malformed --gateway specifications stop the applier at its start (exit 2).
bad=
for spec in tcp/22,10.0.0.1/24 icmp/8,10.0.0.2 tcp/22,10.0.0.0/33 tcp/22,2001:db8::/129 tcp/22,10.0.0.0/024 \
	tcp/0,10.0.0.2 tcp/22 tcp/22,10.0.0.2,x; do
	"$APPLY" --backend log --gateway "$spec" </dev/null >/dev/null 2>&1
	[ $? = 2 ] || bad="$bad $spec"
done
"$APPLY" --backend log --gateway tcp/22,10.0.0.0/24 --gateway udp/53,2001:db8::/64 </dev/null >/dev/null 2>&1 || bad="$bad (the good ones)"
if [ -z "$bad" ]; then
	ok "applier: --gateway with host bits past the prefix, icmp, a bad prefix or port is a usage error"
else
	fail "applier: --gateway with host bits past the prefix, icmp, a bad prefix or port is a usage error:$bad"
fi
gw_reset
start_applier --backend nft --name lkgwt --gateway tcp/22,198.51.100.2 --gateway tcp/22,2001:db8:9::/64
check "applier: a forward to a listed host and port is applied" \
	request_ok "open 1 inet 192.0.2.2 tcp 22 30 fwd to=198.51.100.2"
send_request "open 2 inet 192.0.2.3 tcp 22 30 fwd to=198.51.100.3"
r=$(last_reply)
case $r in
"error 2 refused: forward tcp/22 to 198.51.100.3: not an address and port of --gateway"*) ok "applier: a forward to another host is refused" ;;
*) fail "applier: a forward to another host is refused ($r)" ;;
esac
send_request "open 3 inet 192.0.2.3 tcp 2222 30 nat to=198.51.100.2 toport=80"
r=$(last_reply)
case $r in
"error 3 refused: dnat tcp/80 to 198.51.100.2: not an address and port"*) ok "applier: a dnat to another port of a listed host is refused" ;;
*) fail "applier: a dnat to another port of a listed host is refused ($r)" ;;
esac
if request_ok "open 4 inet6 2001:db8::3 tcp 2222 30 nat to=2001:db8:9::77 toport=22" &&
	in_server nft list map inet lkgwt_gw dnat6 | grep -q "2001:db8::3 . tcp . 2222 .*: 2001:db8:9::77 . 22"; then
	ok "applier: a dnat into a listed IPv6 network is applied, a per-source map element"
else
	fail "applier: a dnat into a listed IPv6 network is applied, a per-source map element"
fi
stop_applier
gw_reset
# With root's apply.yaml (what a sudo applier reads): a door leading elsewhere gets nothing.
cat >"$TMP/apply.yaml" <<EOF
backend: nft
name: lkgwc
gateway:
  - {to: 198.51.100.0/30, port: tcp/22}
EOF
chmod 600 "$TMP/apply.yaml"
printf '%s\n' "open 5 inet 192.0.2.2 tcp 22 30 fwd to=198.51.100.2" "open 6 inet 192.0.2.2 tcp 22 30 evil to=198.51.100.5" \
	"open 7 inet 192.0.2.2 tcp 2222 30 evil to=198.51.100.1 toport=23" | apply_once --config "$TMP/apply.yaml"
if grep -qx "ok 5" "$TMP/once.out" && grep -q "^error 6 refused: forward tcp/22 to 198.51.100.5" "$TMP/once.out" &&
	grep -q "^error 7 refused: dnat tcp/23 to 198.51.100.1" "$TMP/once.out"; then
	ok "applier: with apply.yaml's gateway: [198.51.100.0/30 tcp/22], a forward inside is applied, others refused"
else
	fail "applier: with apply.yaml's gateway: [198.51.100.0/30 tcp/22], a forward inside is applied, others refused"
	diag "$TMP/once.out"
fi
gw_reset

for be in $BACKENDS; do
	# The probe sets the backend up: in the gateway's namespace (gw_reset
	# below clears it), never in this machine's own.
	if ip netns exec "$S" "$APPLY" --backend "$be" --gateway tcp/22,198.51.100.2 </dev/null 2>&1 |
		grep -q "unknown backend"; then
		skip_n $N_BE "$be: no $be backend"
		continue
	fi
	gw_reset
	case $be in
	nft) admin_nft 2>"$TMP/admin.err" ;;
	*) admin_xt 2>"$TMP/admin.err" ;;
	esac || { skip_n $N_BE "$be: cannot load the admin's ruleset: $(head -1 "$TMP/admin.err")"; continue; }
	cur=$be
	write_conf "$cur" "$be"
	if netns_start_daemon "$cur"; then
		ok "$cur: logknockd starts on kmsg, applier through nsenter into the gateway"
	else
		fail "$cur: logknockd starts on kmsg, applier through nsenter into the gateway"
		tail -20 "$TMP/$cur.err" | diag
		stop_pid "$daemon_pid"
		daemon_pid=
		skip_n $((N_BE - 1)) "$cur: the daemon did not start"
		continue
	fi
	gw_case "$cur forward IPv4" 4 forward
	gw_case "$cur forward IPv6" 6 forward
	gw_case "$cur dnat IPv4" 4 dnat
	gw_case "$cur dnat IPv6" 6 dnat
	keep_case "$cur: keep_established true (default): a connection made under the grant outlives it" \
		"7000 8000 9000" 22 198.51.100.2 alive
	keep_case "$cur: keep_established false: a connection made under the grant ends with it" \
		"7400 7500 7600" 80 198.51.100.2 cut
	knock 4 7700 7800 7900
	if try open 192.0.2.1 192.0.2.2 3 8080 && [ "$(cut -d' ' -f2 "$TMP/client.out")" = 198.51.100.1 ]; then
		ok "$cur: dnat with masquerade: the internal host sees the gateway's address"
	else
		fail "$cur: dnat with masquerade: the internal host sees the gateway's address ($(cat "$TMP/client.out"))"
	fi
	forged "$cur"
	stop_pid "$daemon_pid"
	daemon_pid=
	gw_reset
done
done_testing
