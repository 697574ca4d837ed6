#!/bin/sh
# A port published the way Docker publishes it, guarded by a logknock door
# (doc/gateway.md, "Containers"), with plain namespaces and a bridge, no
# Docker daemon:
#
#   client A 192.0.2.2, B 192.0.2.3 ── host 192.0.2.1 ── bridge lkbr… 203.0.113.1 ── container 203.0.113.2:80
#
# The host holds Docker's own rules, as `docker run -p 8080:80` leaves them:
#   nat    PREROUTING -m addrtype --dst-type LOCAL -j DOCKER
#          DOCKER -p tcp --dport 8080 -j DNAT --to-destination 203.0.113.2:80
#   filter FORWARD policy DROP; FORWARD -j DOCKER-USER; FORWARD -o BRIDGE -j DOCKER;
#          FORWARD -o BRIDGE -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT
#          FORWARD -i BRIDGE -j ACCEPT; DOCKER -d 203.0.113.2 -p tcp --dport 80 -j ACCEPT
#          DOCKER-USER -j RETURN
# Published ports bypass INPUT: a guard there would not see them. The door
# names the container (forward: [{to: 203.0.113.2, port: tcp/80}]); the
# iptables and ipset backends put their guard in DOCKER-USER, the nft backend in its own
# forward chain. Before the knock the published port is unreachable from
# outside, after it A reaches the container and B still does not, and after
# the door's duration A does not again.
. "${top_srcdir:-$(dirname "$0")/..}/t/lib.sh"
. "$top_srcdir/t/netns.sh"

NSENTER=/usr/bin/nsenter
DURATION=3
BACKENDS=${GATEWAY_BACKENDS:-nft iptables ipset}

daemon_pid=
inner_pid=
cleanup() {
	stop_pid "$daemon_pid"
	stop_pid "$inner_pid"
	netns_cleanup
	rm -rf "$TMP"
}
trap cleanup EXIT

[ "$(id -u)" = 0 ] || skip_all "not root"
need_binaries
command -v python3 >/dev/null 2>&1 || skip_all "no python3 (listener and client)"
[ -x "$NSENTER" ] || skip_all "no $NSENTER"
[ -r /dev/kmsg ] || skip_all "no /dev/kmsg"
[ -x "$IPT" ] || skip_all "no $IPT (Docker's rules are iptables rules)"

mkdir "$TMP/bin"
cp "$LOGKNOCKD" "$LOGKNOCK_APPLY" "$TMP/bin/" || skip_all "cannot copy the binaries"
D=$TMP/bin/logknockd
APPLY=$TMP/bin/logknock-apply

netns_setup || skip_all "$netns_error"
S=$NETNS_SERVER
PFX=KNOCK-$netns_id
netns_add_other_client || skip_all "cannot add a second client address"

# ---- the container on a bridge of the host ---------------------------------
K=lk${netns_id}k
BR=lk${netns_id}r
ip netns add "$K" 2>/dev/null || skip_all "cannot create the container's namespace"
netns_made="$netns_made $K"
vk_h=lk${netns_id}x vk_c=lk${netns_id}y
{
	ip -n "$S" link add "$BR" type bridge &&
		ip -n "$S" addr add 203.0.113.1/24 dev "$BR" &&
		ip -n "$S" link set "$BR" up &&
		ip link add "$vk_h" netns "$S" type veth peer name "$vk_c" netns "$K" &&
		ip -n "$S" link set "$vk_h" master "$BR" &&
		ip -n "$S" link set "$vk_h" up &&
		ip -n "$K" link set lo up &&
		ip -n "$K" addr add 203.0.113.2/24 dev "$vk_c" &&
		ip -n "$K" link set "$vk_c" up &&
		ip -n "$K" route add default via 203.0.113.1 &&
		ip netns exec "$S" sysctl -q -w net.ipv4.ip_forward=1
} >"$TMP/topo.err" 2>&1 || skip_all "cannot build the bridge and the container: $(head -1 "$TMP/topo.err")"

netns_py=$(python3 -c 'import sys; print(sys.executable)' 2>/dev/null)
[ -x "$netns_py" ] || netns_py=python3
cat >"$TMP/web.py" <<'EOF'
import os, socket, sys
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("0.0.0.0", 80))
s.listen(64)
with open(sys.argv[1] + ".tmp", "w") as f:
    f.write("%d\n" % os.getpid())
os.rename(sys.argv[1] + ".tmp", sys.argv[1])
while True:
    c = s.accept()[0]
    try:
        c.sendall(b"logknock-container\n")
    except OSError:
        pass
    c.close()
EOF
cat >"$TMP/try.py" <<'EOF'
import socket, sys, time
mode, src, limit = sys.argv[1], sys.argv[2], float(sys.argv[3])
def attempt():
    s = socket.socket()
    s.settimeout(0.5)
    try:
        s.bind((src, 0))
        s.connect(("192.0.2.1", 8080))
        return s.recv(64).startswith(b"logknock-container")
    except OSError:
        return False
    finally:
        s.close()
t0 = time.monotonic()
if mode == "once":
    r = attempt()
else:
    want = mode == "open"
    while True:
        r = attempt() == want
        if r or time.monotonic() - t0 >= limit:
            break
        time.sleep(0.02)
print("%.2f" % (time.monotonic() - t0))
sys.exit(0 if r else 1)
EOF
rm -f "$TMP/web.pid"
ip netns exec "$K" "$netns_py" "$TMP/web.py" "$TMP/web.pid" </dev/null >/dev/null 2>"$TMP/web.err" &
i=0
while [ ! -s "$TMP/web.pid" ]; do
	i=$((i + 1))
	[ $i -gt 100 ] && skip_all "the container's listener did not start: $(head -1 "$TMP/web.err")"
	sleep 0.1
done
inner_pid=$(cat "$TMP/web.pid")
try() { in_client timeout $(($3 + 4)) "$netns_py" "$TMP/try.py" "$@" >"$TMP/client.out" 2>&1; }

# Docker's rules for `docker run -p 8080:80`, and the knock log rule.
docker_rules() {
	in_server nft flush ruleset 2>/dev/null
	for tb in filter nat; do
		in_server "$IPT" -w -t $tb -F 2>/dev/null
		in_server "$IPT" -w -t $tb -X 2>/dev/null
	done
	x() { in_server "$IPT" -w "$@"; }
	x -t nat -N DOCKER && x -t nat -A PREROUTING -m addrtype --dst-type LOCAL -j DOCKER &&
		x -t nat -A DOCKER -p tcp --dport 8080 -j DNAT --to-destination 203.0.113.2:80 &&
		x -t nat -A POSTROUTING -s 203.0.113.0/24 ! -o "$BR" -j MASQUERADE &&
		x -N DOCKER && x -N DOCKER-USER && x -A DOCKER-USER -j RETURN &&
		x -P FORWARD DROP && x -A FORWARD -j DOCKER-USER &&
		x -A FORWARD -o "$BR" -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT &&
		x -A FORWARD -o "$BR" -j DOCKER && x -A FORWARD -i "$BR" -j ACCEPT &&
		x -A DOCKER -d 203.0.113.2/32 ! -i "$BR" -o "$BR" -p tcp --dport 80 -j ACCEPT &&
		x -A INPUT -p tcp -m multiport --dports 7000,8000,9000 -j LOG --log-prefix "$PFX " &&
		x -A INPUT -p tcp -m multiport --dports 7000,8000,9000 -j DROP
}

N_BE=5
plan $(($(echo $BACKENDS | wc -w) * N_BE + 1))

docker_rules 2>"$TMP/docker.err" || skip_all "cannot load Docker's rules: $(head -1 "$TMP/docker.err")"
if try once 192.0.2.2 0; then
	ok "without logknock, Docker's published port 8080 is open to everyone (the rules work)"
else
	fail "without logknock, Docker's published port 8080 is open to everyone (the rules work)"
fi

for be in $BACKENDS; do
	docker_rules 2>"$TMP/docker.err" || { skip_n $N_BE "$be: cannot load Docker's rules"; continue; }
	mkdir -p "$TMP/state-$be"
	cat >"$TMP/$be.yaml" <<EOF
accept_nf_log_all_netns: true
sources:
  - kmsg: true
prefix: "$PFX "
state_dir: $TMP/state-$be
applier:
  backend: $be
  program: $APPLY
  command: [$NSENTER, --net=/run/netns/$S]
doors:
  - name: web
    sequence: [tcp/7000, tcp/8000, tcp/9000]
    forward: [{to: 203.0.113.2, port: tcp/80}]
    duration: ${DURATION}s
EOF
	if ! netns_start_daemon "$be"; then
		fail "$be: logknockd starts"
		tail -20 "$TMP/$be.err" | diag
		stop_pid "$daemon_pid"
		daemon_pid=
		skip_n $((N_BE - 1)) "$be: the daemon did not start"
		continue
	fi
	if [ "$be" != nft ] && in_server "$IPT" -w -S DOCKER-USER | grep -q -- "-A DOCKER-USER -j LOGKNOCK-FWD"; then
		ok "$be: the guard is in DOCKER-USER"
	elif [ "$be" = nft ] && in_server nft list chain inet logknock_gw forward >/dev/null 2>&1; then
		ok "$be: the guard is in its own forward chain"
	else
		fail "$be: the guard is where Docker's FORWARD sees it"
	fi
	if try once 192.0.2.2 0; then
		fail "$be: before the knock, A cannot reach the published port"
	else
		ok "$be: before the knock, A cannot reach the published port"
	fi
	for p in 7000 8000 9000; do
		in_client timeout 0.3 bash -c 'exec 3<>"/dev/tcp/192.0.2.1/$0"' "$p" >/dev/null 2>&1
	done
	if try open 192.0.2.2 3; then
		ok "$be: after the knock, A reaches the container (in $(cat "$TMP/client.out") s)"
	else
		fail "$be: after the knock, A reaches the container"
		tail -10 "$TMP/$be.err" | diag
	fi
	if try once 192.0.2.3 0; then
		fail "$be: ... and B, which did not knock, still cannot"
	else
		ok "$be: ... and B, which did not knock, still cannot"
	fi
	if try closed 192.0.2.2 $((DURATION + 4)); then
		ok "$be: after the door's ${DURATION} s, A cannot again"
	else
		fail "$be: after the door's ${DURATION} s, A cannot again"
	fi
	stop_pid "$daemon_pid"
	daemon_pid=
done
done_testing
