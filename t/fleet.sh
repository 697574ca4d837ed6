#!/bin/sh
# Fleet (issue 16), every part real, network namespaces standing for hosts:
#
#   client (192.0.2.2, and 192.0.2.3: "another client")
#     | veth
#   gateway (192.0.2.1; routes to 198.51.100.16/28, .32/28, .48/28): its nft logs and drops
#     | knocks; its own rsyslogd (imkmsg, hostname gw-ID) forwards them over
#     | RELP (TCP when rsyslog-relp is missing) to
#   collector (198.51.100.18): rsyslogd writes them to a file; logknockd reads
#     | it (forwarded: true, at: [gw-ID]) and drives, through the ssh binary,
#   web1 (198.51.100.34), web2 (198.51.100.50): each runs its own sshd on port
#     2222 with host keys made here, whose authorized_keys runs
#     logknock-apply (nft, guard tcp/22) as a forced command; a listener on
#     tcp/22.
#
# Knock at the gateway -> the client reaches tcp/22 on both servers; the
# other client does not; expiry closes on both; sshd of web2 stopped -> web1
# still opens as fast, web2 catches up when its sshd is back; the forced
# command refuses anything but the protocol; logknockctl status shows both
# links. Root only; the machine's own sshd and /etc/ssh are not touched
# (sshd runs with -f our config, -D, stopped by its PID). /run/sshd, sshd's
# privilege separation directory, is made if missing (empty, and left).
. "${top_srcdir:-$(dirname "$0")/..}/t/lib.sh"
. "$top_srcdir/t/netns.sh"

SSHD=/usr/sbin/sshd
SSH=/usr/bin/ssh
LOGKNOCKCTL=${LOGKNOCKCTL:-$top_builddir/src/logknockctl}

fid=$(printf %x $(($$ % 65536)))$(od -An -N2 -tx1 /dev/urandom | tr -d ' \n')	# <= 8 characters
GW=$NETNS_SERVER CL=$NETNS_CLIENT
COL=fl${fid}c W1=fl${fid}1 W2=fl${fid}2
GWNAME=gw-$fid
PREFIX="FK$fid"
gwd_pid= lisg_pid= daemon_pid= rs_gw_pid= rs_col_pid= sshd1_pid= sshd2_pid= lis1_pid= lis2_pid=

cleanup() {
	stop_pid "$daemon_pid"
	for p in $gwd_pid $lisg_pid $rs_gw_pid $rs_col_pid $lis1_pid $lis2_pid; do stop_pid "$p"; done
	stop_sshd 1
	stop_sshd 2
	for ns in $COL $W1 $W2; do ip netns del "$ns" 2>/dev/null; done
	netns_cleanup
	rm -rf "$TMP"
}
trap cleanup EXIT

[ "$(id -u)" = 0 ] || skip_all "not root"
need_binaries
for c in python3 rsyslogd ssh-keygen nft; do
	command -v $c >/dev/null 2>&1 || skip_all "no $c"
done
[ -x "$SSHD" ] || skip_all "no $SSHD (apt-get install openssh-server)"
[ -x "$SSH" ] || skip_all "no $SSH"
netns_setup || skip_all "$netns_error"
RSMOD=$(dirname "$(find /usr/lib -name imkmsg.so 2>/dev/null | head -1)")
[ -n "$RSMOD" ] && [ -f "$RSMOD/imkmsg.so" ] || skip_all "no rsyslog imkmsg module"
if [ -f "$RSMOD/omrelp.so" ] && [ -f "$RSMOD/imrelp.so" ]; then TRANSPORT=relp; else TRANSPORT=tcp; fi

plan 16

# ---- the network ----------------------------------------------------------
link() { # link NS_A ADDR_A NS_B ADDR_B NAME: a veth pair, a /28 each side
	ip link add "$5a" netns "$1" type veth peer name "$5b" netns "$3" &&
		ip -n "$1" addr add "$2/28" dev "$5a" && ip -n "$3" addr add "$4/28" dev "$5b" &&
		ip -n "$1" link set "$5a" up && ip -n "$3" link set "$5b" up
}
for ns in $COL $W1 $W2; do
	ip netns add "$ns" && ip -n "$ns" link set lo up || skip_all "cannot make namespace $ns"
done
n=1
for ns in $COL $W1 $W2; do
	link "$GW" "198.51.100.$((16 * n + 1))" "$ns" "198.51.100.$((16 * n + 2))" "fl${fid}$n" || skip_all "cannot link $ns"
	ip -n "$ns" route add default via "198.51.100.$((16 * n + 1))" || skip_all "no route in $ns"
	n=$((n + 1))
done
ip netns exec "$GW" sysctl -q -w net.ipv4.ip_forward=1 >/dev/null
ip -n "$CL" route add 198.51.100.0/24 via 192.0.2.1
ip -n "$CL" addr add 192.0.2.3/24 dev "$netns_veth_c"	# the other client

# ---- the servers: sshd, logknock-apply, a listener ------------------------
mkdir -p /run/sshd
chmod 755 "$TMP"
mkdir "$TMP/bin" && cp "$LOGKNOCKD" "$LOGKNOCK_APPLY" "$TMP/bin/" || skip_all "cannot copy the binaries"
ssh-keygen -q -t ed25519 -N '' -C fleet -f "$TMP/fleet_key" || skip_all "ssh-keygen"
: >"$TMP/known_hosts"
for i in 1 2; do
	d=$TMP/web$i
	mkdir "$d"
	ssh-keygen -q -t ed25519 -N '' -f "$d/host_key"
	echo "[198.51.100.$((16 * (i + 1) + 2))]:2222 $(cut -d' ' -f1-2 "$d/host_key.pub")" >>"$TMP/known_hosts"
	cat >"$d/apply.yaml" <<EOF
backend: nft
guard: [tcp/22]
name: logknock_f$fid
EOF
	# contrib/fleet/authorized_keys's line, with this run's paths
	echo "restrict,command=\"$TMP/bin/logknock-apply --config $d/apply.yaml\" $(cat "$TMP/fleet_key.pub")" \
		>"$d/authorized_keys"
	cat >"$d/sshd_config" <<EOF
Port 2222
ListenAddress 198.51.100.$((16 * (i + 1) + 2))
HostKey $d/host_key
PidFile $d/sshd.pid
AuthorizedKeysFile $d/authorized_keys
PermitRootLogin forced-commands-only
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
StrictModes no
AllowTcpForwarding no
X11Forwarding no
PermitTTY no
LogLevel ERROR
EOF
done
start_sshd() { # start_sshd N
	ip netns exec "$(eval echo \$W$1)" "$SSHD" -D -e -f "$TMP/web$1/sshd_config" 2>>"$TMP/web$1/sshd.log" &
	eval "sshd$1_pid=$!"
	for _ in $(seq 50); do
		ip netns exec "$(eval echo \$W$1)" bash -c 'exec 3<>/dev/tcp/$0/2222' "198.51.100.$((16 * ($1 + 1) + 2))" 2>/dev/null && return 0
		sleep 0.1
	done
	return 1
}
stop_sshd() { # stop_sshd N: the listener and its sessions (children), by PID
	p=$(eval echo \$sshd$1_pid)
	[ -n "$p" ] || return 0
	for c in $(ps -o pid= --ppid "$p" 2>/dev/null); do
		for g in $(ps -o pid= --ppid "$c" 2>/dev/null); do kill -TERM "$g" 2>/dev/null; done
		kill -TERM "$c" 2>/dev/null
	done
	stop_pid "$p"
	eval "sshd$1_pid="
}
start_sshd 1 && start_sshd 2 || { diag "$TMP/web1/sshd.log" "$TMP/web2/sshd.log"; skip_all "sshd does not start"; }
listener() { # listener NS ADDR: accepts on tcp/22 (and says nothing)
	ip netns exec "$1" python3 -c '
import socket, sys
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind((sys.argv[1], 22)); s.listen(64)
while True:
    c, _ = s.accept(); c.close()' "$2" &
}
listener "$W1" 198.51.100.34
lis1_pid=$!
listener "$W2" 198.51.100.50
lis2_pid=$!
# reach FROM ADDR [SECONDS]: whether FROM (192.0.2.2 or .3) can connect to ADDR:22 (1 s)
reach() {
	ip netns exec "$CL" python3 -c '
import socket, sys
s = socket.socket(); s.settimeout(float(sys.argv[3])); s.bind((sys.argv[1], 0))
try:
    s.connect((sys.argv[2], 22))
except OSError:
    sys.exit(1)' "$1" "$2" "${3:-1}"
}
# reach_within SECONDS FROM ADDR
reach_within() {
	rw_end=$(($(date +%s) + $1))
	while [ "$(date +%s)" -le $rw_end ]; do
		reach "$2" "$3" 0.1 && return 0
	done
	return 1
}

# ---- forwarding: gateway -> collector --------------------------------------
mkdir "$TMP/rsgw" "$TMP/rscol"
fwdmod=
if [ $TRANSPORT = relp ]; then
	fwdmod='module(load="omrelp")'
	fwd="action(type=\"omrelp\" target=\"198.51.100.18\" port=\"20514\" template=\"RSYSLOG_ForwardFormat\")"
	inp="module(load=\"imrelp\") input(type=\"imrelp\" port=\"20514\")"
else
	fwd="action(type=\"omfwd\" target=\"198.51.100.18\" port=\"20514\" protocol=\"tcp\" template=\"RSYSLOG_ForwardFormat\")"
	inp="module(load=\"imtcp\") input(type=\"imtcp\" port=\"20514\")"
fi
cat >"$TMP/rsgw/rsyslog.conf" <<EOF
global(workDirectory="$TMP/rsgw" localHostname="$GWNAME")
module(load="imkmsg")
$fwdmod
if \$syslogfacility-text == "kern" and \$msg contains "$PREFIX " then { $fwd }
EOF
# The collector stamps each line with the time it received it
# (TIMEGENERATED), not the sender's stamp: imkmsg's conversion of the
# kernel's monotonic stamp to a time of day ran a second behind here (a 1 s
# grant then closed as it opened), and senders' clocks differ. A grant's
# time counts from its knock's stamp.
cat >"$TMP/rscol/rsyslog.conf" <<EOF
global(workDirectory="$TMP/rscol")
template(name="LKFile" type="string" string="%TIMEGENERATED:::date-rfc3339% %HOSTNAME% %syslogtag%%msg:::sp-if-no-1st-sp%%msg:::drop-last-lf%\n")
$inp
if \$fromhost-ip != "127.0.0.1" then { action(type="omfile" file="$TMP/remote.log" template="LKFile") }
EOF
: >"$TMP/remote.log"
ip netns exec "$COL" rsyslogd -n -f "$TMP/rscol/rsyslog.conf" -i "$TMP/rscol/pid" -M "$RSMOD" 2>"$TMP/rscol/err" &
rs_col_pid=$!
sleep 0.5
ip netns exec "$GW" rsyslogd -n -f "$TMP/rsgw/rsyslog.conf" -i "$TMP/rsgw/pid" -M "$RSMOD" 2>"$TMP/rsgw/err" &
rs_gw_pid=$!
netns_log_rule "$PREFIX" 7101 7102 7201 7202 7301 7302

# ---- the collector's daemon -------------------------------------------------
cat >"$TMP/d.yaml" <<EOF
sources:
  - file: $TMP/remote.log
    forwarded: true
    kernel_only: true
prefix: "$PREFIX "
accept_nf_log_all_netns: true
state_dir: $TMP/state
control: {socket: $TMP/ctl}
applier: {backend: log}
appliers:
  web1: {ssh: {host: 198.51.100.34, port: 2222, user: root, key: $TMP/fleet_key, known_hosts: $TMP/known_hosts}}
  web2: {ssh: {host: 198.51.100.50, port: 2222, user: root, key: $TMP/fleet_key, known_hosts: $TMP/known_hosts}}
doors:
  - name: short
    sequence: [tcp/7101, tcp/7102]
    duration: 4s
    at: [$GWNAME]
    open: [tcp/22]
    on: [web1, web2]
  - name: bench          # bench/fleet-knock-to-open (FLEET_BENCH_ROUNDS)
    sequence: [tcp/7301, tcp/7302]
    duration: 1s
    open: [tcp/22]
    at: [$GWNAME]
    on: [web1, web2]
  - name: long
    sequence: [tcp/7201, tcp/7202]
    duration: 60s
    at: [$GWNAME]
    open: [tcp/22]
    on: [web1, web2]
EOF
mkdir "$TMP/state"
ip netns exec "$COL" "$TMP/bin/logknockd" -c "$TMP/d.yaml" -v >"$TMP/d.out" 2>"$TMP/d.log" &
daemon_pid=$!
if wait_for "$TMP/d.log" "fleet: web1: link up" 10 && wait_for "$TMP/d.log" "fleet: web2: link up" 10; then
	ok "the collector's daemon links to web1 and web2 over ssh"
else
	fail "the collector's daemon links to web1 and web2 over ssh"
	diag "$TMP/d.log" "$TMP/web1/sshd.log"
fi
st=$(ip netns exec "$COL" "$LOGKNOCKCTL" --socket "$TMP/ctl" status 2>&1)
if echo "$st" | grep -q "^hosts     web1 up" && echo "$st" | grep -q "web2 up"; then
	ok "logknockctl status shows each host's link"
else
	fail "logknockctl status shows each host's link"
	echo "$st" | sed 's/^/# /'
fi

if ! reach 192.0.2.2 198.51.100.34 && ! reach 192.0.2.2 198.51.100.50; then
	ok "before a knock the client reaches neither server"
else
	fail "before a knock the client reaches neither server"
fi

# ---- knock -> both ------------------------------------------------------------
netns_knock tcp 7101
netns_knock tcp 7102
if reach_within 5 192.0.2.2 198.51.100.34 && reach_within 5 192.0.2.2 198.51.100.50; then
	ok "a knock at the gateway opens tcp/22 on web1 and web2"
else
	fail "a knock at the gateway opens tcp/22 on web1 and web2"
	diag "$TMP/d.log" "$TMP/remote.log"
fi
gr=$(ip netns exec "$COL" "$LOGKNOCKCTL" --socket "$TMP/ctl" --json grants 2>&1)
if echo "$gr" | grep -q '"door":"short","host":"web1","src":"192.0.2.2"' &&
	echo "$gr" | grep -q '"door":"short","host":"web2","src":"192.0.2.2"'; then
	ok "logknockctl grants lists one grant per host"
else
	fail "logknockctl grants lists one grant per host"
	echo "$gr" | sed 's/^/# /'
fi
if grep -q "host $GWNAME\|$GWNAME kernel: $PREFIX" "$TMP/remote.log"; then
	ok "the forwarded lines carry the gateway's name ($TRANSPORT)"
else
	fail "the forwarded lines carry the gateway's name ($TRANSPORT)"
	diag "$TMP/remote.log" "$TMP/rsgw/err" "$TMP/rscol/err"
fi
if ! reach 192.0.2.3 198.51.100.34 && ! reach 192.0.2.3 198.51.100.50; then
	ok "another client reaches neither server"
else
	fail "another client reaches neither server"
fi
if wait_for "$TMP/d.log" "door short: closed tcp/22 for 192.0.2.2 on web2" 8 &&
	wait_for "$TMP/d.log" "door short: closed tcp/22 for 192.0.2.2 on web1" 2 &&
	! reach 192.0.2.2 198.51.100.34 && ! reach 192.0.2.2 198.51.100.50; then
	ok "expiry closes on both"
else
	fail "expiry closes on both"
	diag "$TMP/d.log"
fi

# ---- bench/fleet-knock-to-open: FLEET_BENCH_ROUNDS=N -----------------------------
# Each round: two SYNs from the client to the gateway, then connects every
# 1 ms (a fresh SYN each) to tcp/22 of the gateway itself (a logknockd of
# its own on kmsg with nft: the single-host figure, same knocks, same run),
# web1 and web2 (the fleet: imkmsg, RELP, the collector's file, ssh), until
# each answers; milliseconds from the last knock's SYN. Then the 1 s grants
# close. Figures as diagnostics ("# bench ..."), no test of their own.
if [ -n "${FLEET_BENCH_ROUNDS:-}" ]; then
	cat >"$TMP/gw.yaml" <<EOF
sources: [{kmsg: true}]
prefix: "$PREFIX "
accept_nf_log_all_netns: true
state_dir: $TMP/gwstate
control: {socket: ""}
applier: {backend: nft}
doors:
  - {name: bench, sequence: [tcp/7301, tcp/7302], open: [tcp/22], duration: 1s}
EOF
	mkdir "$TMP/gwstate"
	ip netns exec "$GW" "$TMP/bin/logknockd" -c "$TMP/gw.yaml" >/dev/null 2>"$TMP/gw.log" &
	gwd_pid=$!
	listener "$GW" 192.0.2.1
	lisg_pid=$!
	wait_for "$TMP/gw.log" "following 1 sources" 10 || diag "$TMP/gw.log"
	cp "$top_srcdir/t/fleet-round.py" "$TMP/round.py"
	: >"$TMP/bench.txt"
	r=0
	while [ $r -lt "$FLEET_BENCH_ROUNDS" ]; do
		ip netns exec "$CL" python3 "$TMP/round.py" 192.0.2.2 192.0.2.1 192.0.2.1 198.51.100.34 198.51.100.50 >>"$TMP/bench.txt"
		sleep 2.5	# the grants (1 s) close everywhere
		r=$((r + 1))
	done
	python3 "$top_srcdir/t/fleet-round.py" --table "$TMP/bench.txt" | sed 's/^/# bench /'
	if grep -q -- '-' "$TMP/bench.txt"; then	# a round that did not open somewhere: what happened
		diag "$TMP/bench.txt"
		grep -c "$PREFIX" "$TMP/remote.log" | sed 's/^/# forwarded lines: /'
		for w in $(awk '$2 == "-" || $3 == "-" { print $NF }' "$TMP/bench.txt"); do
			s=$(date -u -d "@$w" +%Y-%m-%dT%H:%M:%S)
			echo "# missed round at $s ($w): its forwarded lines and the daemon's words"
			grep -- "$s" "$TMP/remote.log" | cut -c1-120 | sed 's/^/#   /'
			grep -- "${s%?}" "$TMP/d.log" | sed 's/^/#   /'
		done
	fi
	stop_pid "$gwd_pid"
	stop_pid "$lisg_pid"
	gwd_pid= lisg_pid=
fi

# ---- one host down ---------------------------------------------------------------
stop_sshd 2
wait_for "$TMP/d.log" "fleet: web2: link down\|ssh link to web2 exited" 5 >/dev/null
netns_knock tcp 7201
netns_knock tcp 7202
if reach_within 2 192.0.2.2 198.51.100.34; then
	ok "web2's sshd stopped: web1 still opens"
else
	fail "web2's sshd stopped: web1 still opens"
	diag "$TMP/d.log"
fi
if ! reach 192.0.2.2 198.51.100.50; then
	ok "web2 stays closed while its link is down"
else
	fail "web2 stays closed while its link is down"
fi
st=$(ip netns exec "$COL" "$LOGKNOCKCTL" --socket "$TMP/ctl" status 2>&1)
if echo "$st" | grep -q "web2 \(down\|connecting\)"; then
	ok "status shows web2's link down"
else
	fail "status shows web2's link down"
	echo "$st" | sed 's/^/# /'
fi
start_sshd 2 || fail "sshd of web2 restarts"
if wait_for "$TMP/d.log" "fleet: web2: link up again" 15 && reach_within 5 192.0.2.2 198.51.100.50; then
	ok "web2 catches up when its sshd is back"
else
	fail "web2 catches up when its sshd is back"
	diag "$TMP/d.log"
fi
if reach 192.0.2.2 198.51.100.34 && ! reach 192.0.2.3 198.51.100.50; then
	ok "after the catch-up: web1 still open, web2 open for the knocker only"
else
	fail "after the catch-up: web1 still open, web2 open for the knocker only"
fi

# ---- the key can do nothing but the protocol -----------------------------------
sshc() { ip netns exec "$COL" "$SSH" -F none -T -o BatchMode=yes -o StrictHostKeyChecking=yes \
	-o UserKnownHostsFile="$TMP/known_hosts" -o IdentitiesOnly=yes -i "$TMP/fleet_key" -p 2222 -l root 198.51.100.34 "$@"; }
# stdout only: the applier's messages on stderr would interleave with its answers
out=$(printf 'id\ntouch %s/pwned\n' "$TMP" | sshc "id; touch $TMP/pwned" 2>/dev/null)
if ! echo "$out" | grep -q "uid=" && [ ! -e "$TMP/pwned" ] && echo "$out" | grep -q "^error 0"; then
	ok "the forced command runs logknock-apply whatever is asked, and it refuses anything but the protocol"
else
	fail "the forced command runs logknock-apply whatever is asked, and it refuses anything but the protocol"
	echo "$out" | sed 's/^/# /'
fi
out=$(echo 'open 9 inet 192.0.2.9 tcp 22 30 x' | sshc 2>/dev/null)
if echo "$out" | grep -q "^ok 9"; then
	ok "the protocol itself is answered"
else
	fail "the protocol itself is answered"
	echo "$out" | sed 's/^/# /'
fi
timeout 5 ip netns exec "$COL" "$SSH" -F none -o BatchMode=yes -o UserKnownHostsFile="$TMP/known_hosts" \
	-o IdentitiesOnly=yes -i "$TMP/fleet_key" -p 2222 -l root -o ExitOnForwardFailure=yes \
	-N -R 127.0.0.1:2999:127.0.0.1:22 198.51.100.34 >/dev/null 2>&1
fw=$?
if [ $fw = 255 ]; then	# refused by the server: ssh gives up at once (124 would be a timeout)
	ok "the key cannot forward ports"
else
	fail "the key cannot forward ports (ssh -N -L exited $fw)"
fi
done_testing
