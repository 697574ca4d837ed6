# netns.sh — real kernel log lines for tests: two network namespaces joined
# by a veth pair, an nftables rule in the server namespace that logs and
# drops probes, and a client that sends them. Source it (POSIX sh), then:
#
#   netns_setup                    || skip_all "..."   (0, or 1 with $netns_error)
#   netns_log_rule PREFIX PORT...  log TCP and UDP packets to PORTs as "PREFIX IN=..." and drop them
#   netns_knock tcp|udp PORT [4|6] one SYN / one datagram from the client
#   netns_cleanup                  stop what the helpers below started, remove everything
#                                  netns_setup made (call it from the EXIT trap)
#
# and, for tests of the firewall and of the log pipelines (they need t/lib.sh):
#   in_server / in_client CMD...   run CMD in a namespace
#   netns_add_other_client         192.0.2.3 and 2001:db8::3 on the client: "someone else"
#   netns_admin_iptables           the admin's iptables ruleset: policy DROP, tcp/22 accepted
#   netns_start_server [PORT...]   a TCP server on PORTs (default 22); connects / refused / netns_try use it
#   netns_start_daemon NAME        logknockd $D with $TMP/NAME.yaml, until it follows its source
#   start_applier ... stop_applier logknock-apply in the server namespace, fed through a FIFO
#   xt_rules, xt_is_count ...      what iptables -S lists
#   journald_alive, start_journald, ensure_journald   a systemd-journald to rely on
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
netns_sysctl_orig=${TMPDIR:-/tmp}/logknock-nf_log_all_netns.orig
netns_error=
netns_server_pid=	# the test server's own PID (it writes it: python3 may be a wrapper that forks)
netns_server_launcher=
netns_py=		# the Python interpreter itself (netns_start_server), not a wrapper such as pyenv's shim
applier_pid=
journald_pid=		# set only when this test started a systemd-journald
jd_pid=			# the systemd-journald relied on (ours or another one)
JOURNALD=/lib/systemd/systemd-journald
JSOCK=/run/systemd/journal/socket
IPT=/usr/sbin/iptables
IP6T=/usr/sbin/ip6tables

# The kernel log and journald are shared by the tests that run at once: a
# flood (t/flood.sh) could overrun /dev/kmsg under another test's feet, and a
# test that starts, stops or restarts journald pulls it away from the others.
# Tests that send packets into the kernel log hold this lock shared; those
# that flood it or handle journald hold it alone (fd 9, until they exit).
kernel_log_lock_mode=
kernel_log_lock_pid=
kernel_log_lock_file=${TMPDIR:-/tmp}/logknock-kernel-log.lock
# The lock is held by a small process of its own, not by the test's shell:
# a descriptor of the shell would be inherited by every process the test
# starts in the background, and one of them outliving the test would keep
# the lock forever. The holder lets go within half a second of the test.
kernel_log_lock() { # kernel_log_lock -s|-x
	command -v flock >/dev/null 2>&1 || return 0
	[ "$kernel_log_lock_mode" = -x ] && return 0	# never downgraded
	if [ -n "$kernel_log_lock_pid" ]; then	# upgrading: let go first
		kill "$kernel_log_lock_pid" 2>/dev/null
		wait "$kernel_log_lock_pid" 2>/dev/null
	fi
	kl_me=$$
	kl_ready=$TMP/kernel-log.locked
	rm -f "$kl_ready"
	(
		flock "$1" 9 || exit 1
		: >"$kl_ready"
		while kill -0 "$kl_me" 2>/dev/null; do sleep 0.5; done
	) 9>>"$kernel_log_lock_file" </dev/null >/dev/null 2>&1 &
	kernel_log_lock_pid=$!
	while [ ! -e "$kl_ready" ]; do
		kill -0 "$kernel_log_lock_pid" 2>/dev/null || return 1
		sleep 0.05
	done
	kernel_log_lock_mode=$1
	# What the test runs (bench/flood from t/flood.sh) knows it holds it.
	LOGKNOCK_KERNEL_LOG_LOCK=$1
	export LOGKNOCK_KERNEL_LOG_LOCK
}

netns_setup() {
	if [ "$(id -u)" != 0 ]; then
		netns_error="not root"
		return 1
	fi
	kernel_log_lock -s
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
	# Tests that run at once share the sysctl: the first to set it writes
	# the value it found into a file beside the lock, and whoever is last
	# to leave (alone with the lock, see netns_cleanup) puts it back. A
	# test that restored its own "old" value would turn logging off under
	# another test that is still running.
	if [ "$old" != 1 ]; then
		[ -e "$netns_sysctl_orig" ] || echo "$old" >"$netns_sysctl_orig"
		if ! sysctl -q -w net.netfilter.nf_log_all_netns=1 >/dev/null 2>&1; then
			netns_error="cannot set net.netfilter.nf_log_all_netns"
			return 1
		fi
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
	if [ -n "$applier_pid" ]; then
		{ exec 3>&-; } 2>/dev/null
		stop_pid "$applier_pid"
		applier_pid=
	fi
	stop_pid "$netns_server_pid"
	stop_pid "$netns_server_launcher"
	netns_server_pid= netns_server_launcher=
	stop_pid "$journald_pid"	# set only when this test started it
	journald_pid=
	for ns in $netns_made; do
		ip netns del "$ns" 2>/dev/null	# takes its end of the veth pair (and the pair) with it
	done
	netns_made=
	# Any test leaving puts it back when it is the last holder: also one
	# that never set it (t/flood.sh, whose benchmark finds it at 1).
	if [ -e "$netns_sysctl_orig" ]; then
		# Let go of our hold, then restore only if nobody else holds the
		# lock now (they will, when they leave).
		if [ -n "$kernel_log_lock_pid" ]; then
			kill "$kernel_log_lock_pid" 2>/dev/null
			wait "$kernel_log_lock_pid" 2>/dev/null
			kernel_log_lock_pid= kernel_log_lock_mode=
		fi
		if command -v flock >/dev/null 2>&1; then
			(
				# Up to 2 s: a holder's "sleep 0.5" keeps the lock a
				# moment after the holder is gone.
				flock -x -w 2 9 || exit 0
				v=$(cat "$netns_sysctl_orig" 2>/dev/null)
				case $v in 0|1) sysctl -q -w net.netfilter.nf_log_all_netns="$v" >/dev/null 2>&1 ;; esac
				rm -f "$netns_sysctl_orig"
			) 9>>"$kernel_log_lock_file"
		fi
	fi
}

# in_server CMD...: runs CMD in the server namespace.
in_server() { ip netns exec "$NETNS_SERVER" "$@"; }
# in_client CMD...: runs CMD in the client namespace.
in_client() { ip netns exec "$NETNS_CLIENT" "$@"; }

# netns_add_other_client: 192.0.2.3 and 2001:db8::3 on the client's link, "someone else" (the IPv6 one deprecated: never picked as a source, usable when bound).
netns_add_other_client() {
	ip -n "$NETNS_CLIENT" addr add 192.0.2.3/24 dev "$netns_veth_c" &&
		ip -n "$NETNS_CLIENT" addr add 2001:db8::3/64 dev "$netns_veth_c" nodad preferred_lft 0
}

# netns_admin_iptables: the admin's own ruleset in the server namespace (iptables and ip6tables): policy DROP, established, lo, ICMP and tcp/22 accepted.
netns_admin_iptables() {
	for t in "$IPT" "$IP6T"; do
		in_server "$t" -w -P INPUT DROP &&
			in_server "$t" -w -A INPUT -m conntrack --ctstate ESTABLISHED,RELATED -j ACCEPT &&
			in_server "$t" -w -A INPUT -i lo -j ACCEPT || return 1
		if [ "$t" = "$IPT" ]; then
			in_server "$t" -w -A INPUT -p icmp -j ACCEPT || return 1
		else
			in_server "$t" -w -A INPUT -p ipv6-icmp -j ACCEPT || return 1
		fi
		in_server "$t" -w -A INPUT -p tcp --dport 22 -j ACCEPT || return 1
	done
}

# netns_start_server [PORT...]: a TCP server on each PORT (default 22) of 192.0.2.1 and 2001:db8::1 that greets with "logknock-test PORT", and its client $TMP/client.py; true once it wrote its own PID (10 s), else $netns_error.
netns_start_server() {
	[ $# -gt 0 ] || set -- 22
	# The interpreter itself: a wrapper (pyenv's shim takes half a second
	# to start) would eat into the short grants the clients measure.
	netns_py=$(python3 -c 'import sys; print(sys.executable)' 2>/dev/null)
	[ -x "$netns_py" ] || netns_py=python3
	cat >"$TMP/server.py" <<'EOF'
import os, select, socket, sys
socks = []
for port in (int(p) for p in sys.argv[2:]):
    for fam, addr in ((socket.AF_INET, "192.0.2.1"), (socket.AF_INET6, "2001:db8::1")):
        s = socket.socket(fam, socket.SOCK_STREAM)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if fam == socket.AF_INET6:
            s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
        s.bind((addr, port))
        s.listen(64)
        socks.append(s)
with open(sys.argv[1] + ".tmp", "w") as f:
    f.write("%d\n" % os.getpid())
os.rename(sys.argv[1] + ".tmp", sys.argv[1])
while True:
    for s in select.select(socks, [], [])[0]:
        c = s.accept()[0]
        try:
            c.sendall(b"logknock-test %d\n" % s.getsockname()[1])
        except OSError:
            pass
        c.close()
EOF
	# client.py MODE DST SRC SECONDS [ATTEMPT_S [PORT]]: connection attempts
	# from SRC to DST port PORT (default 22), each given ATTEMPT_S (default
	# 0.5 s) to be greeted with "logknock-test PORT";
	#   once:   one attempt; 0 when greeted
	#   open:   attempts until one is greeted, at most SECONDS; 0 when it was
	#   closed: attempts until one is not greeted, at most SECONDS; 0 when so
	# Prints the seconds it took on stdout.
	cat >"$TMP/client.py" <<'EOF'
import socket, sys, time
mode, dst, src, limit = sys.argv[1], sys.argv[2], sys.argv[3], float(sys.argv[4])
each = float(sys.argv[5]) if len(sys.argv) > 5 else 0.5
port = int(sys.argv[6]) if len(sys.argv) > 6 else 22
fam = socket.AF_INET6 if ":" in dst else socket.AF_INET
def attempt():
    s = socket.socket(fam, socket.SOCK_STREAM)
    s.settimeout(each)
    try:
        s.bind((src, 0))
        s.connect((dst, port))
        return s.recv(64).startswith(b"logknock-test %d\n" % port)
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
        r = attempt()
        if r == want or time.monotonic() - t0 >= limit:
            break
        time.sleep(0.02)
    r = r == want
print("%.2f" % (time.monotonic() - t0))
sys.exit(0 if r else 1)
EOF
	rm -f "$TMP/server.pid"
	in_server "$netns_py" "$TMP/server.py" "$TMP/server.pid" "$@" </dev/null >/dev/null 2>"$TMP/server.err" &
	netns_server_launcher=$!
	ss_i=0
	while [ ! -s "$TMP/server.pid" ]; do
		ss_i=$((ss_i + 1))
		if [ $ss_i -gt 100 ]; then
			netns_error="test server did not start: $(head -1 "$TMP/server.err")"
			return 1
		fi
		sleep 0.1
	done
	netns_server_pid=$(cat "$TMP/server.pid")
}

# netns_try MODE DST SRC SECONDS [ATTEMPT_S [PORT]]: $TMP/client.py in the client namespace (see netns_start_server), its output in $TMP/client.out.
netns_try() {
	in_client timeout $(($4 + 3)) "${netns_py:-python3}" "$TMP/client.py" "$@" >"$TMP/client.out" 2>&1
}
# connects DST SRC: a TCP connection from SRC to DST port 22 is greeted (one attempt, 1 s).
connects() { netns_try once "$1" "$2" 0 1; }
# refused DST SRC: that connection is not greeted.
refused() { ! connects "$@"; }

# netns_start_daemon NAME: logknockd $D (-v) with $TMP/NAME.yaml in the background (daemon_pid; stdout in $TMP/NAME.out, stderr in $TMP/NAME.err); true once it says it follows its source (at most 10 s).
netns_start_daemon() {
	: >"$TMP/$1.err"
	"$D" -v -c "$TMP/$1.yaml" >"$TMP/$1.out" 2>"$TMP/$1.err" &
	daemon_pid=$!
	sd_i=0
	while [ $sd_i -lt 200 ]; do
		grep -q "following 1 sources" "$TMP/$1.err" && return 0
		kill -0 "$daemon_pid" 2>/dev/null || break
		sleep 0.05
		sd_i=$((sd_i + 1))
	done
	return 1
}

# start_applier OPTIONS...: logknock-apply (under $LOGKNOCK_APPLY_WRAPPER) in the server namespace; requests through a FIFO on fd 3, replies in $TMP/out, stderr appended to $TMP/apply.err.
start_applier() {
	rm -f "$TMP/in"
	mkfifo "$TMP/in" || return 1
	: >"$TMP/out"
	nreq=0
	# shellcheck disable=SC2086 # the wrapper is words
	in_server ${LOGKNOCK_APPLY_WRAPPER:-} "$LOGKNOCK_APPLY" "$@" <"$TMP/in" >"$TMP/out" 2>>"$TMP/apply.err" &
	applier_pid=$!
	exec 3>"$TMP/in"
}
# send_request LINE: one request to the applier (counted in nreq).
send_request() {
	echo "$1" >&3
	nreq=$((nreq + 1))
}
# last_reply: prints the reply to the last request sent (the nreq-th "ok"/"error" line) within 30 s; "no reply" and false otherwise.
last_reply() {
	lr_i=0
	while [ "$(grep -cE '^(ok|error) ' "$TMP/out")" -lt $nreq ]; do
		lr_i=$((lr_i + 1))
		if [ $lr_i -gt 300 ] || ! kill -0 "$applier_pid" 2>/dev/null; then
			echo "no reply"
			return 1
		fi
		sleep 0.1
	done
	grep -E '^(ok|error) ' "$TMP/out" | sed -n "${nreq}p"
}
# request_ok LINE: sends LINE; true when its reply is "ok ID" (a comment with the reply otherwise).
request_ok() {
	send_request "$1"
	r=$(last_reply)
	id=$(echo "$1" | cut -d' ' -f2)
	[ "$r" = "ok $id" ] || { echo "# $1 -> $r"; return 1; }
}
# request_refused LINE: sends LINE; true when its reply is "error ID refused: PROTO/PORT is not a guarded port ...".
request_refused() {
	send_request "$1"
	r=$(last_reply)
	id=$(echo "$1" | cut -d' ' -f2)
	case "$r" in
	"error $id refused: "*" is not a guarded port"*) return 0 ;;
	esac
	echo "# $1 -> $r"
	return 1
}
# stop_applier: EOF on its requests; true when the applier exits 0 within 30 s.
stop_applier() {
	exec 3>&-
	sa_i=0
	while kill -0 "$applier_pid" 2>/dev/null; do
		sa_i=$((sa_i + 1))
		if [ $sa_i -gt 300 ]; then
			kill "$applier_pid"
			return 1
		fi
		sleep 0.1
	done
	wait "$applier_pid"
}
# apply_once OPTIONS... <REQUESTS: a whole applier run in the server namespace (start, requests, EOF), replies in $TMP/once.out.
apply_once() {
	# shellcheck disable=SC2086
	in_server timeout 60 ${LOGKNOCK_APPLY_WRAPPER:-} "$LOGKNOCK_APPLY" "$@" >"$TMP/once.out" 2>>"$TMP/apply.err"
}
# apply_once_ok REQUEST OPTIONS...: one run with one request, answered ok.
apply_once_ok() {
	line=$1
	shift
	echo "$line" | apply_once "$@" && grep -qx "ok $(echo "$line" | cut -d' ' -f2)" "$TMP/once.out"
}
# apply_start_only OPTIONS...: one run without a request (the set-up alone) exits 0.
apply_start_only() { apply_once "$@" </dev/null; }

# xt_rules 4|6 CHAIN: the chain as iptables -S (ip6tables -S) prints it in the server namespace.
xt_rules() {
	if [ "$1" = 6 ]; then in_server "$IP6T" -w -S "$2"; else in_server "$IPT" -w -S "$2"; fi
}
# xt_count 4|6 CHAIN FIXED-STRING: how many rules of CHAIN contain it.
xt_count() { xt_rules "$1" "$2" | grep -cF -e "$3"; }
# xt_is_count N 4|6 CHAIN FIXED-STRING: exactly N rules of CHAIN contain it (a comment otherwise).
xt_is_count() {
	c=$(xt_count "$2" "$3" "$4")
	[ "$c" = "$1" ] || { echo "# $2 $3 '$4': $c rules, want $1"; return 1; }
}
# xt_has_rule 4|6 CHAIN LINE: CHAIN holds exactly LINE.
xt_has_rule() { xt_rules "$1" "$2" | grep -qFx -e "$3"; }
# xt_jump_first: the jump to LOGKNOCK is the first rule of INPUT, in both families.
xt_jump_first() {
	for f in 4 6; do
		[ "$(xt_rules $f INPUT | grep -m1 -e '^-A')" = "-A INPUT -j LOGKNOCK" ] || return 1
	done
}

# journald_alive: prints the PID of a live (not zombie) systemd-journald (comm is cut to 15 characters); false when there is none.
journald_alive() {
	for d in /proc/[0-9]*; do
		{ read -r comm <"$d/comm"; } 2>/dev/null || continue
		[ "$comm" = systemd-journal ] || continue
		alive "${d#/proc/}" || continue
		echo "${d#/proc/}"
		return 0
	done
	return 1
}
# start_journald: our own systemd-journald (journald_pid; output appended to $TMP/journald.log); true once it bound a new $JSOCK, within 5 s.
start_journald() {
	old_sock=$(stat -c '%i %z' "$JSOCK" 2>/dev/null)
	"$JOURNALD" </dev/null >>"$TMP/journald.log" 2>&1 &
	journald_pid=$!
	sj_i=0
	while [ $sj_i -lt 250 ]; do
		new_sock=$(stat -c '%i %z' "$JSOCK" 2>/dev/null)
		[ -n "$new_sock" ] && [ "$new_sock" != "$old_sock" ] && return 0
		alive "$journald_pid" || return 1
		sj_i=$((sj_i + 1))
		sleep 0.02
	done
	return 1
}
# ensure_journald: a systemd-journald runs (another one, or ours started now); jd_pid is the one relied on; false with $journald_error.
ensure_journald() {
	journald_error=
	if [ -S "$JSOCK" ] && jd_pid=$(journald_alive); then
		return 0
	fi
	if [ ! -x "$JOURNALD" ]; then
		journald_error="no systemd-journald running and no $JOURNALD"
		return 1
	fi
	stop_pid "$journald_pid"	# ours, if it died
	if start_journald; then
		jd_pid=$journald_pid
		return 0
	fi
	journald_error="cannot start $JOURNALD: $(head -1 "$TMP/journald.log")"
	stop_pid "$journald_pid"
	journald_pid=
	return 1
}
