#!/bin/sh
# End to end for the doors whose knocks cannot be replayed, every part
# real: a time-based (totp) door and an encrypted door of one logknockd,
# both with a key made by "logknock keygen" (mode 600, in the test's
# directory). The client namespace knocks with the real client
# ("ip netns exec CLIENT logknock --totp|--encrypted ... --wait PORT"); the
# server namespace's own ruleset (the admin's) logs the knock ranges
# (totp 20000-29999, encrypted 30000-32559 = base .. base + 2559) with a
# run-specific prefix and drops them; the kernel's lines reach the daemon
# through a real systemd-journald ("journal: kernel"); the daemon's applier,
# started through "nsenter --net=/run/netns/SERVER", opens the port in the
# server namespace with the backend under test (nft; iptables for a part).
#
# For each door, family (IPv4, IPv6) and backend case:
#   - before the knock the protected port does not connect;
#   - the client's dry run (-n) at a fixed --time shows the knocks, and the
#     real run at the same --time sends exactly those (-v); its --wait exits
#     0 (it connected), and the test's own connection helper agrees;
#   - the second client address (192.0.2.3, 2001:db8::3) cannot connect;
#   - encrypted: of the two ports in the door's open:, only the requested
#     one opens, and for the requested duration (3 s of the door's 8 s);
#   - the captured knocks re-sent from the second address (a plain sender
#     bound to it) reach the daemon and open nothing;
#   - after the grant closed, the same knocks re-sent from the client's own
#     address open nothing: the daemon says it refused a code used already.
#
# Root only. Everything it starts is stopped by its PID on exit; the
# namespaces (and their rulesets) are removed; nf_log_all_netns restored.
. "${top_srcdir:-$(dirname "$0")/..}/t/lib.sh"
. "$top_srcdir/t/netns.sh"

: "${LOGKNOCK:=$top_builddir/src/logknock}"
NSENTER=/usr/bin/nsenter
TOTP_RANGE=20000-29999
TOTP_LO=20000 TOTP_HI=29999
ENC_BASE=30000
ENC_HI=$((ENC_BASE + 2559))
STEP=60s		# the doors' time step: a code of the test stays valid for the whole case
TOTP_PORT=22		# the totp door opens tcp/22
TOTP_DURATION=3
ENC_PORT=2201		# the encrypted door opens tcp/2201 and tcp/2202; the client asks for 2201
ENC_NOT=2202
ENC_DURATION=8		# the door's duration ...
ENC_REQUEST=3		# ... and the one the client asks for

daemon_pid=
watch_pid=		# a connection loop in the background (code_case)

cleanup() {
	stop_pid "$watch_pid"
	stop_pid "$daemon_pid"
	daemon_pid=
	netns_cleanup			# the listener, our journald; the namespaces take their rulesets with them
	rm -rf "$TMP"
}
trap cleanup EXIT

[ "$(id -u)" = 0 ] || skip_all "not root"
need_binaries
[ -x "$LOGKNOCK" ] || skip_all "logknock not built ($LOGKNOCK)"
# The interpreter itself, not a wrapper (pyenv's shim takes half a second
# to start, a good part of a short grant).
PY=$(python3 -c 'import sys; print(sys.executable)' 2>/dev/null)
[ -x "$PY" ] || skip_all "no python3 (listener, connection helper, replay sender)"
[ -x "$NSENTER" ] || skip_all "no $NSENTER"
id nobody >/dev/null 2>&1 || skip_all "no user nobody"

# Copies: another session may rebuild the binaries during the run.
chmod 755 "$TMP"		# the daemon becomes nobody: its state dirs are under here
mkdir "$TMP/bin"
cp "$LOGKNOCKD" "$LOGKNOCK_APPLY" "$LOGKNOCK" "$TMP/bin/" || skip_all "cannot copy the binaries"
D=$TMP/bin/logknockd
APPLY=$TMP/bin/logknock-apply
LK=$TMP/bin/logknock

kernel_log_lock -x	# journald: ours to start and stop, no one else's meanwhile
netns_setup || skip_all "$netns_error"
S=$NETNS_SERVER
PFX=KNOCK-$netns_id	# unique to the run: the host's kernel log is shared
netns_add_other_client || skip_all "cannot add a second client address"
ensure_journald || skip_all "$journald_error"

dst_of() { if [ "$1" = 6 ]; then echo 2001:db8::1; else echo 192.0.2.1; fi; }
me_of() { if [ "$1" = 6 ]; then echo 2001:db8::2; else echo 192.0.2.2; fi; }
other_of() { if [ "$1" = 6 ]; then echo 2001:db8::3; else echo 192.0.2.3; fi; }

# ---- the listener on the protected ports, the connection helper, the sender ---

netns_start_server $TOTP_PORT $ENC_PORT $ENC_NOT || skip_all "$netns_error"

# send.py SRC DST PORT...: the plain sender of the replays: one SYN per port
# from SRC (a non-blocking connect on a new socket, closed at once, as the
# client does), 100 ms apart.
cat >"$TMP/send.py" <<'EOF'
import socket, sys, time
src, dst = sys.argv[1], sys.argv[2]
fam = socket.AF_INET6 if ":" in dst else socket.AF_INET
for i, port in enumerate(sys.argv[3:]):
    if i:
        time.sleep(0.1)
    s = socket.socket(fam, socket.SOCK_STREAM)
    s.bind((src, 0))
    s.setblocking(False)
    try:
        s.connect((dst, int(port)))
    except BlockingIOError:
        pass
    s.close()
EOF

# try MODE FAMILY SRC PORT SECONDS [ATTEMPT_S]: netns_try MODE to PORT of the server's address of FAMILY (its output in $TMP/client.out).
try() { netns_try "$1" "$(dst_of "$2")" "$3" "$5" "${6:-0.5}" "$4"; }
# conn FAMILY SRC PORT: one connection attempt (1 s) is greeted.
conn() { try once "$1" "$2" "$3" 0 1; }
# replay FAMILY SRC PORT...: the knocks again, from SRC.
replay() {
	r_fam=$1 r_src=$2
	shift 2
	in_client "$PY" "$TMP/send.py" "$r_src" "$(dst_of "$r_fam")" "$@"
}
# re_quote TEXT: TEXT as a basic regular expression matching itself (addresses).
re_quote() { printf '%s\n' "$1" | sed 's/[].[*^$\\]/\\&/g'; }

# ---- the key, the admin's rulesets --------------------------------------------

KEY=$TMP/door.key
"$LK" keygen "$KEY" 2>"$TMP/keygen.err"
kg=$?
mode=$(stat -c %a "$KEY" 2>/dev/null)
if [ $kg = 0 ] && [ "$mode" = 600 ] && grep -qxE '[0-9a-f]{64}' "$KEY"; then
	keygen_ok=1
else
	keygen_ok=
	diag "$TMP/keygen.err"
fi
# The daemon reads it again as nobody on a reload: its own, as it asks.
chown nobody "$KEY" 2>/dev/null

server_reset() {
	in_server nft flush ruleset 2>/dev/null
	return 0
}
admin_nft() {
	in_server nft -f - <<EOF
table inet admin {
	chain input {
		type filter hook input priority filter; policy drop;
		ct state established,related accept
		iif lo accept
		meta l4proto icmp accept
		icmpv6 type { nd-neighbor-solicit, nd-neighbor-advert, nd-router-solicit, nd-router-advert, echo-request } accept
		tcp dport { $TOTP_PORT, $ENC_PORT, $ENC_NOT } accept
		tcp dport $TOTP_LO-$TOTP_HI log prefix "$PFX " drop
		tcp dport $ENC_BASE-$ENC_HI log prefix "$PFX " drop
	}
}
EOF
}
admin_xt() {
	netns_admin_iptables || return 1	# accepts tcp/22 ($TOTP_PORT)
	for t in "$IPT" "$IP6T"; do
		in_server "$t" -w -A INPUT -p tcp -m multiport --dports $ENC_PORT,$ENC_NOT -j ACCEPT &&
			in_server "$t" -w -A INPUT -p tcp --dport $TOTP_LO:$TOTP_HI -j LOG --log-prefix "$PFX " &&
			in_server "$t" -w -A INPUT -p tcp --dport $TOTP_LO:$TOTP_HI -j DROP &&
			in_server "$t" -w -A INPUT -p tcp --dport $ENC_BASE:$ENC_HI -j LOG --log-prefix "$PFX " &&
			in_server "$t" -w -A INPUT -p tcp --dport $ENC_BASE:$ENC_HI -j DROP || return 1
	done
}

# ---- the daemon ---------------------------------------------------------------

# write_conf NAME BACKEND
write_conf() {
	mkdir -p "$TMP/state-$1"
	cat >"$TMP/$1.yaml" <<EOF
# netns_setup holds net.netfilter.nf_log_all_netns at 1: knock lines of our namespaces reach
# the kernel's log, and so could any user's (t/netns-forge.sh); accepted here
accept_nf_log_all_netns: true
sources:
  - journal: kernel
prefix: "$PFX "
state_dir: $TMP/state-$1
user: nobody
applier:
  backend: $2
  program: $APPLY
  command: [$NSENTER, --net=/run/netns/$S]
  timeout: 5s
doors:
  - name: ssh-totp
    totp:
      key: $KEY
      range: $TOTP_RANGE
      step: $STEP
    window: 10s
    open: [tcp/$TOTP_PORT]
    duration: ${TOTP_DURATION}s
  - name: enc
    encrypted:
      key: $KEY
      base: $ENC_BASE
      step: $STEP
    window: 10s
    open: [tcp/$ENC_PORT, tcp/$ENC_NOT]
    duration: ${ENC_DURATION}s
EOF
}
# journald_note: a comment when the journald relied on has gone away.
journald_note() {
	alive "$jd_pid" || echo "# systemd-journald $jd_pid went away during the case"
}

# ---- one case -------------------------------------------------------------------

# watch_closed FAMILY SRC PORT SECONDS: in the background, connections from
# SRC until one is not greeted (at most SECONDS); watch_pid, $TMP/closed.out.
watch_closed() {
	in_client timeout $(($4 + 3)) "$netns_py" "$TMP/client.py" closed "$(dst_of "$1")" "$2" "$4" 0.5 "$3" \
		>"$TMP/closed.out" 2>&1 &
	watch_pid=$!
}

# code_case LABEL FAMILY totp|enc: the checks of the header, N_TOTP or N_ENC of them.
N_TOTP=10
N_ENC=11
code_case() {
	label=$1 fam=$2 kind=$3
	me=$(me_of "$fam") other=$(other_of "$fam") dst=$(dst_of "$fam")
	re_me=$(re_quote "$me") re_other=$(re_quote "$other")
	log=$TMP/$cur.err
	if [ "$kind" = totp ]; then
		door=ssh-totp port=$TOTP_PORT lo=$TOTP_LO hi=$TOTP_HI nk=4 dur=$TOTP_DURATION
		set -- --totp "$KEY" --door $door --range $TOTP_RANGE --step $STEP
	else
		door=enc port=$ENC_PORT lo=$ENC_BASE hi=$ENC_HI nk=10 dur=$ENC_REQUEST
		set -- --encrypted "$KEY" --door $door --base $ENC_BASE --step $STEP \
			--request tcp/$ENC_PORT --duration ${ENC_REQUEST}s
	fi
	label="$label $door IPv$fam"

	# closed before
	if conn "$fam" "$me" $port; then
		fail "$label: before the knock, $me cannot connect to port $port"
	else
		ok "$label: before the knock, $me cannot connect to port $port"
	fi

	# the dry run at a fixed time: the knocks to capture
	T=$(date +%s)
	in_client "$LK" -n -v --time "$T" "$@" "$dst" >"$TMP/dry.out" 2>"$TMP/dry.err"
	rc=$?
	grep -E '^(tcp|udp) ' "$TMP/dry.out" >"$TMP/dry.knocks"
	ports=$(awk '{ print $3 }' "$TMP/dry.knocks" | tr '\n' ' ')
	bad=$(awk -v d="$dst" -v lo="$lo" -v hi="$hi" \
		'$1 != "tcp" || $2 != d || $3 + 0 < lo || $3 + 0 > hi' "$TMP/dry.knocks")
	if [ $rc = 0 ] && [ "$(wc -l <"$TMP/dry.knocks")" = $nk ] && [ -z "$bad" ] &&
		grep -q "^door $door, time step [0-9]*, bound to $re_me\$" "$TMP/dry.out"; then
		ok "$label: dry run at --time $T: $nk knocks in $lo-$hi, bound to $me ($ports)"
	else
		fail "$label: dry run at --time $T: $nk knocks in $lo-$hi, bound to $me (exit $rc)"
		diag "$TMP/dry.out" "$TMP/dry.err"
	fi

	# the knock and the client's --wait; the same knocks as the dry run
	in_client timeout 20 "$LK" -v --time "$T" "$@" --wait $port --timeout 8 "$dst" \
		>"$TMP/knock.out" 2>"$TMP/knock.err"
	rc=$?
	opened=
	if [ $rc = 0 ] && grep -qx "$dst port $port is open" "$TMP/knock.out"; then
		opened=1
		watch_closed "$fam" "$me" $port $((dur + 6))	# from now on: when does it close?
		ok "$label: the client knocks from its namespace; its --wait $port exits 0 (connected)"
	else
		fail "$label: the client knocks from its namespace; its --wait $port exits 0 (exit $rc)"
		diag "$TMP/knock.out" "$TMP/knock.err"
		tail -15 "$log" | diag
		journald_note
	fi
	grep -E '^(tcp|udp) ' "$TMP/knock.out" >"$TMP/knock.knocks"
	same "$label: the knocks sent are those of the dry run" "$TMP/dry.knocks" "$TMP/knock.knocks"

	# our own helper agrees; someone else does not get in
	if try open "$fam" "$me" $port 1 && grep -q "door $door: opened tcp/$port for $re_me until " "$log"; then
		ok "$label: the test's own connection from $me to port $port is greeted; the daemon says it opened it"
	else
		fail "$label: the test's own connection from $me to port $port is greeted; the daemon says it opened it"
		grep "door $door:" "$log" | tail -5 | diag
	fi
	if conn "$fam" "$other" $port; then
		fail "$label: $other, which did not knock, cannot connect to port $port"
	else
		ok "$label: $other, which did not knock, cannot connect to port $port"
	fi

	# encrypted: only the port asked for
	if [ "$kind" = enc ]; then
		if conn "$fam" "$me" $ENC_NOT || grep -q "door $door: opened tcp/$ENC_NOT " "$log"; then
			fail "$label: tcp/$ENC_NOT (in open: too, not asked for) stays closed for $me"
		else
			ok "$label: tcp/$ENC_NOT (in open: too, not asked for) stays closed for $me"
		fi
	fi

	# the captured knocks from the other address, at once
	from=$(wc -l <"$log")
	# shellcheck disable=SC2086 # the ports are words
	replay "$fam" "$other" $ports
	last=${ports% }
	last=${last##* }
	wait_for "$log" "knock .* tcp/$last from $re_other\$" 5
	[ "$kind" = enc ] && wait_for "$log" "door $door: $re_other sent a code that does not verify" 2
	sleep 0.2
	seen=$(tail -n +$((from + 1)) "$log" | grep -c "knock .* from $re_other\$")
	if [ "$seen" -lt $nk ]; then
		fail "$label: the knocks replayed from $other reach the daemon and open nothing (it saw $seen of $nk)"
		journald_note
	elif conn "$fam" "$other" $port || grep -q "opened .* for $re_other " "$log"; then
		fail "$label: the knocks replayed from $other reach the daemon and open nothing"
		grep "$re_other" "$log" | tail -5 | diag
	else
		ok "$label: the knocks replayed from $other reach the daemon and open nothing"
	fi

	# closed again after the duration (encrypted: the one asked for)
	if [ -z "$opened" ]; then
		fail "$label: closed again after $dur s (not reached)"
	elif wait "$watch_pid"; then
		took=$(cat "$TMP/closed.out")
		if [ "$kind" = totp ]; then
			ok "$label: after the door's $dur s, $me cannot connect again (closed $took s after the client's --wait)"
		# the 3 s asked for, not the door's 8 s, counted from the client's --wait (after the grant)
		elif awk -v t="$took" -v lim=$((ENC_REQUEST + 2)) 'BEGIN { exit !(t < lim) }'; then
			ok "$label: closed after the ${ENC_REQUEST} s asked for, not the door's ${ENC_DURATION} s (closed $took s after the client's --wait)"
		else
			fail "$label: closed after the ${ENC_REQUEST} s asked for, not the door's ${ENC_DURATION} s (closed $took s after the client's --wait)"
		fi
	else
		fail "$label: closed again after $dur s ($me still connects $((dur + 6)) s after the client's --wait)"
	fi
	watch_pid=

	# the same knocks from our own address once more: a replay
	# shellcheck disable=SC2086
	replay "$fam" "$me" $ports
	if wait_for "$log" "door $door: $re_me knocked a code that was used already (a replay?): not opened" 5; then
		ok "$label: the knocks re-sent from $me: the daemon refuses a code used already"
	else
		fail "$label: the knocks re-sent from $me: the daemon refuses a code used already"
		tail -15 "$log" | diag
	fi
	if conn "$fam" "$me" $port || [ "$(grep -c "door $door: opened .* for $re_me " "$log")" != 1 ]; then
		fail "$label: ... and $me cannot connect to port $port (opened once in all)"
		grep "door $door: opened" "$log" | diag
	else
		ok "$label: ... and $me cannot connect to port $port (opened once in all)"
	fi
}

# The backends and their cases: nft all four; iptables (what opens the port
# is the backend's business, checked at length by t/e2e.sh) two of them.
CASES_nft="4:totp 4:enc 6:totp 6:enc"
CASES_iptables="4:totp 6:enc"
# n_of CASES: the tests of a backend: the daemon starts, then its cases.
n_of() {
	no_n=1
	for no_c in $1; do
		case $no_c in
		*:totp) no_n=$((no_n + N_TOTP)) ;;
		*) no_n=$((no_n + N_ENC)) ;;
		esac
	done
	echo $no_n
}
plan $((1 + $(n_of "$CASES_nft") + $(n_of "$CASES_iptables")))

if [ -n "$keygen_ok" ]; then
	ok "logknock keygen: a new key file, mode 600, 64 hex digits"
else
	fail "logknock keygen: a new key file, mode 600, 64 hex digits (exit $kg, mode $mode)"
fi

for be in nft iptables; do
	case $be in
	nft) cases=$CASES_nft ;;
	*) cases=$CASES_iptables ;;
	esac
	n=$(n_of "$cases")
	if "$APPLY" --backend "$be" --open /bin/true </dev/null 2>&1 | grep -q "unknown backend"; then
		skip_n "$n" "$be: logknock-apply has no $be backend"
		continue
	fi
	if [ -z "$keygen_ok" ]; then
		skip_n "$n" "$be: no key"
		continue
	fi
	server_reset
	case $be in
	nft) admin_nft 2>"$TMP/admin.err" ;;
	*) admin_xt 2>"$TMP/admin.err" ;;
	esac || {
		skip_n "$n" "$be: cannot load the admin's ruleset: $(head -1 "$TMP/admin.err")"
		continue
	}
	cur=$be
	write_conf "$cur" "$be"
	if netns_start_daemon "$cur"; then
		ok "$cur: logknockd starts with a totp and an encrypted door, applier in the server namespace"
	else
		fail "$cur: logknockd starts with a totp and an encrypted door, applier in the server namespace"
		diag "$TMP/$cur.err" | tail -20
		stop_pid "$daemon_pid"
		daemon_pid=
		skip_n $((n - 1)) "$cur: the daemon did not start"
		continue
	fi
	for c in $cases; do
		code_case "$cur" "${c%%:*}" "${c#*:}"
	done
	stop_pid "$daemon_pid"
	daemon_pid=
done
done_testing
