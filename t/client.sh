#!/bin/sh
# logknock, the client: --dry-run output, usage and profile errors, --wait,
# and real knocks between two network namespaces, read back from the
# kernel's log and replayed through logknockd until the door opens.
. "${top_srcdir:-$(dirname "$0")/..}/t/lib.sh"
. "$top_srcdir/t/netns.sh"

: "${LOGKNOCK:=$top_builddir/src/logknock}"
PREFIX=LKC$netns_id
lpid=

cleanup() {
	stop_pid "$lpid"
	netns_cleanup
	rm -rf "$TMP"
}
trap cleanup EXIT

[ -x "$LOGKNOCK" ] || skip_all "logknock not built ($LOGKNOCK)"
command -v python3 >/dev/null 2>&1 || skip_all "no python3 (for the --wait listener)"

plan 39

# ---- dry runs ----------------------------------------------------------------

"$LOGKNOCK" --dry-run 192.0.2.1 tcp/7000 udp/8000 9000 >"$TMP/dry.out" 2>"$TMP/dry.err"
check "dry run of a sequence: exit 0" [ $? -eq 0 ]
printf '%s\n' 'tcp 192.0.2.1 7000' 'udp 192.0.2.1 8000' 'tcp 192.0.2.1 9000' >"$TMP/dry.want"
same "dry run of a sequence: one line per knock, a bare number is tcp" "$TMP/dry.want" "$TMP/dry.out"

"$LOGKNOCK" -n -6 2001:db8::1 udp/1 tcp/65535 >"$TMP/dry6.out" 2>&1
printf '%s\n' 'udp 2001:db8::1 1' 'tcp 2001:db8::1 65535' >"$TMP/dry6.want"
same "dry run of an IPv6 sequence (ports 1 and 65535)" "$TMP/dry6.want" "$TMP/dry6.out"

cat >"$TMP/client.yaml" <<'EOF'
# profiles for tests
myserver:
  host: 192.0.2.1
  sequence: [tcp/7000, udp/8000, tcp/9000]
  delay: 100ms
  wait: 22
other:
  host: 2001:db8::1
  sequence: [udp/7100]
  family: 6
EOF
"$LOGKNOCK" --profile "$TMP/client.yaml" --dry-run myserver >"$TMP/prof.out" 2>&1
check "dry run of a profile: exit 0" [ $? -eq 0 ]
same "dry run of a profile: its knocks" "$TMP/dry.want" "$TMP/prof.out"

mkdir -p "$TMP/xdg/logknock"
cp "$TMP/client.yaml" "$TMP/xdg/logknock/client.yaml"
XDG_CONFIG_HOME=$TMP/xdg "$LOGKNOCK" -n other >"$TMP/xdg.out" 2>&1
printf '%s\n' 'udp 2001:db8::1 7100' >"$TMP/xdg.want"
same "profile from \$XDG_CONFIG_HOME/logknock/client.yaml" "$TMP/xdg.want" "$TMP/xdg.out"
mkdir -p "$TMP/home/.config/logknock"
cp "$TMP/client.yaml" "$TMP/home/.config/logknock/client.yaml"
env -u XDG_CONFIG_HOME HOME="$TMP/home" "$LOGKNOCK" -n other >"$TMP/home.out" 2>&1
same "profile from ~/.config/logknock/client.yaml" "$TMP/xdg.want" "$TMP/home.out"

# ---- usage errors: exit 2 ------------------------------------------------------

# usage_2 DESC ARGS...: logknock ARGS exits 2 with a message and prints nothing on stdout.
usage_2() {
	desc=$1
	shift
	"$LOGKNOCK" "$@" >"$TMP/u.out" 2>"$TMP/u.err"
	rc=$?
	if [ $rc -eq 2 ] && [ -s "$TMP/u.err" ] && [ ! -s "$TMP/u.out" ]; then
		ok "usage error exits 2: $desc"
	else
		fail "usage error exits 2: $desc (exit $rc)"
		diag "$TMP/u.err"
	fi
}
usage_2 "no arguments"
usage_2 "unknown option" --bogus 192.0.2.1 tcp/7000
usage_2 "port 0" -n 192.0.2.1 tcp/0
usage_2 "port 65536" -n 192.0.2.1 udp/65536
usage_2 "icmp knock" -n 192.0.2.1 icmp/8
usage_2 "junk after a port" -n 192.0.2.1 tcp/70x
usage_2 "bad --delay" -n --delay 1e3 192.0.2.1 tcp/7000
usage_2 "--delay above 60000" -n --delay 60001 192.0.2.1 tcp/7000
usage_2 "--timeout 0" -n --wait 22 --timeout 0 192.0.2.1 tcp/7000
usage_2 "bad --wait" -n --wait 22x 192.0.2.1 tcp/7000
usage_2 "unknown profile" -n --profile "$TMP/client.yaml" nosuch
# A HOST without a SEQUENCE, and no profile file: say that, not "no such file".
HOME=$TMP/nohome XDG_CONFIG_HOME= "$LOGKNOCK" -n 192.0.2.1 >"$TMP/u.out" 2>"$TMP/u.err"
rc=$?
check "a HOST without a SEQUENCE (no profile file): exit 2, 'no SEQUENCE after' and one hint line" \
	sh -c "[ $rc -eq 2 ] && grep -q \"no SEQUENCE after '192.0.2.1'\" '$TMP/u.err' && [ \$(wc -l <'$TMP/u.err') -eq 2 ]"

# ---- profile errors: FILE:LINE:COL, exit 2 ----------------------------------------

# profile_error DESC FILE-CONTENT EXPECTED-MESSAGE-START: the error names FILE:LINE:COL.
profile_error() {
	printf '%s\n' "$2" >"$TMP/bad.yaml"
	"$LOGKNOCK" -n --profile "$TMP/bad.yaml" p >"$TMP/pe.out" 2>"$TMP/pe.err"
	rc=$?
	if [ $rc -eq 2 ] && grep -qF "logknock: $TMP/bad.yaml:$3" "$TMP/pe.err"; then
		ok "profile error: $1"
	else
		fail "profile error: $1 (exit $rc)"
		diag "$TMP/pe.err"
	fi
}
profile_error "bad port named at its position" \
	"p:
  host: 192.0.2.1
  sequence: [tcp/7000, udp/99999]" "3:24: profile 'p': sequence: bad knock 'udp/99999'"
profile_error "unknown key" \
	"p:
  host: 192.0.2.1
  sequence: [tcp/7000]
  dealy: 100ms" "4:3: profile 'p': unknown key 'dealy'"
profile_error "YAML syntax" \
	"p:
  host: [192.0.2.1" "3:1: "
profile_error "bad family" \
	"p:
  host: h
  sequence: [7000]
  family: 5" "4:11: profile 'p': family: expected 4 or 6"

# ---- --wait on the loopback (no privileges needed) ----------------------------------

cat >"$TMP/listen.py" <<'EOF'
import os, socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
s.bind((sys.argv[1], int(sys.argv[2])))
s.listen(16)
with open(sys.argv[3] + ".tmp", "w") as f:
    f.write("%d %d\n" % (os.getpid(), s.getsockname()[1]))
os.rename(sys.argv[3] + ".tmp", sys.argv[3])
while True:
    s.accept()[0].close()
EOF
# start_listener ADDR PORT [CMD...]: python3 listening (PORT 0: any); its port in $lport, true once it listens.
start_listener() {
	la=$1 lp=$2
	shift 2
	rm -f "$TMP/listen.pid"
	"$@" python3 "$TMP/listen.py" "$la" "$lp" "$TMP/listen.pid" </dev/null >/dev/null 2>"$TMP/listen.err" &
	lpid=$!
	wait_for "$TMP/listen.pid" . 10 || return 1
	lport=$(cut -d' ' -f2 "$TMP/listen.pid")
}
stop_listener() {
	[ -s "$TMP/listen.pid" ] && kill "$(cut -d' ' -f1 "$TMP/listen.pid")" 2>/dev/null
	stop_pid "$lpid"
	lpid=
}

if start_listener 127.0.0.1 0; then
	t0=$(date +%s)
	"$LOGKNOCK" --wait "$lport" --timeout 5 127.0.0.1 tcp/1 udp/1 >"$TMP/w.out" 2>"$TMP/w.err"
	rc=$? t1=$(date +%s)
	check "--wait on an open port: exit 0 within 2 s" [ $rc -eq 0 -a $((t1 - t0)) -le 2 ]
	check "--wait says the port is open" grep -qx "127.0.0.1 port $lport is open" "$TMP/w.out"
	stop_listener
	# The port is free now: nothing listens there.
	t0=$(date +%s)
	"$LOGKNOCK" --wait "$lport" --timeout 1 127.0.0.1 tcp/1 >"$TMP/w2.out" 2>"$TMP/w2.err"
	rc=$? t1=$(date +%s)
	check "--wait on a closed port: exit 1 after --timeout 1 (took $((t1 - t0)) s)" \
		[ $rc -eq 1 -a $((t1 - t0)) -ge 1 -a $((t1 - t0)) -le 3 ]
	check "--wait timeout message" grep -qF \
		"logknock: port $lport did not open within 1 s: check the sequence, the window and that the firewall logs the knock ports" \
		"$TMP/w2.err"
else
	for i in 1 2 3 4; do ok "# SKIP cannot start a listener on 127.0.0.1: $(head -1 "$TMP/listen.err")"; done
fi

"$LOGKNOCK" -n no-such-host.invalid tcp/7000 >/dev/null 2>"$TMP/r.err"
rc=$?
check "unresolvable host: exit 1 with a message" sh -c '[ "$1" -eq 1 ] && grep -q "cannot resolve no-such-host.invalid" "$2"' - $rc "$TMP/r.err"

# ---- real knocks between namespaces ---------------------------------------------------

# kmsg_lines: the kernel's (facility 0) records with this run's prefix, as
# "SECONDS.MICRO;MESSAGE", seconds since boot.
kmsg_lines() {
	kmsg_dump |
		awk -F';' -v p="$PREFIX " 'index($2, p) == 1 { split($1, h, ","); if (h[1] < 8) { t = sprintf("%07s", h[3]); gsub(/ /, "0", t); printf "%s.%s;%s\n", substr(t, 1, length(t) - 6), substr(t, length(t) - 5), substr($0, length($1) + 2) } }'
}
# wait_kmsg PATTERN N: at most 3 s until N records match PATTERN; the records in $TMP/kmsg.
wait_kmsg() {
	wk_i=0
	while [ $wk_i -lt 150 ]; do
		kmsg_lines | grep -- "$1" >"$TMP/kmsg"
		[ "$(grep -c . "$TMP/kmsg")" -ge "$2" ] && return 0
		sleep 0.02
		wk_i=$((wk_i + 1))
	done
	return 1
}
# as_syslog: kmsg_lines records as a kernel syslog line with an RFC 3339 stamp (boot time + timestamp).
as_syslog() {
	boot=$(($(date +%s) - $(cut -d. -f1 /proc/uptime)))
	while IFS= read -r rec; do
		ts=${rec%%;*}
		msg=${rec#*;}
		sec=${ts%.*}
		printf '%s.%s+00:00 vm kernel: %s\n' "$(date -u -d "@$((boot + sec))" +%Y-%m-%dT%H:%M:%S)" "${ts#*.}" "$msg"
	done
}

# real_run FAMILY DST P1 P2 P3: knocks tcp/P1 udp/P2 tcp/P3 from the client namespace, then checks the kernel's lines and replays them.
real_run() {
	fam=$1 dst=$2
	in_client "$LOGKNOCK" -"$fam" -v "$dst" "tcp/$3" "udp/$4" "$5" >"$TMP/real$fam.out" 2>"$TMP/real$fam.err"
	check "IPv$fam: the client sends 3 knocks to $dst (exit 0)" [ $? -eq 0 ]
	wait_kmsg "DPT=\(${3}\|${4}\|${5}\) " 3
	sleep 1.5	# a retransmitted SYN would come 1 s after the first one
	wait_kmsg "DPT=\(${3}\|${4}\|${5}\) " 3
	cut -d';' -f2- "$TMP/kmsg" >"$TMP/kmsg$fam"
	if [ "$(grep -c . "$TMP/kmsg$fam")" = 3 ]; then
		ok "IPv$fam: exactly one kernel log line per knock"
	else
		fail "IPv$fam: exactly one kernel log line per knock ($(grep -c . "$TMP/kmsg$fam") lines)"
		diag "$TMP/kmsg$fam" "$TMP/real$fam.err"
	fi
	sed -n 's/.* PROTO=\([A-Z]*\) .* DPT=\([0-9]*\) .*/\1 \2/p' "$TMP/kmsg$fam" >"$TMP/order$fam"
	printf '%s\n' "TCP $3" "UDP $4" "TCP $5" >"$TMP/order$fam.want"
	same "IPv$fam: in order, TCP, UDP, TCP" "$TMP/order$fam.want" "$TMP/order$fam"
	if [ "$(grep -c 'PROTO=TCP .* RES=0x00 SYN URGP=' "$TMP/kmsg$fam")" = 2 ]; then
		ok "IPv$fam: the TCP knocks carry the SYN flag alone"
	else
		fail "IPv$fam: the TCP knocks carry the SYN flag alone"
		diag "$TMP/kmsg$fam"
	fi
	cat >"$TMP/door$fam.yaml" <<EOF
prefix: "$PREFIX "
applier:
  backend: log
doors:
  - name: client
    sequence: [tcp/$3, udp/$4, tcp/$5]
    open: [tcp/22]
EOF
	grep . "$TMP/kmsg" | as_syslog >"$TMP/replay$fam.log"
	"$LOGKNOCKD" -q -c "$TMP/door$fam.yaml" --replay - <"$TMP/replay$fam.log" >"$TMP/replay$fam.out" 2>"$TMP/replay$fam.err"
	if grep -q '"event":"open".*"door":"client"' "$TMP/replay$fam.out"; then
		ok "IPv$fam: the kernel's lines open the door in logknockd --replay"
	else
		fail "IPv$fam: the kernel's lines open the door in logknockd --replay"
		diag "$TMP/replay$fam.log" "$TMP/replay$fam.out" "$TMP/replay$fam.err"
	fi
}

skip_real() {
	for i in 1 2 3 4 5 6 7 8 9 10 11; do ok "# SKIP $1"; done
}
if [ "$(id -u)" != 0 ]; then
	skip_real "not root"
elif [ ! -x "$LOGKNOCKD" ] || [ ! -x "$LOGKNOCK_APPLY" ]; then
	skip_real "logknockd or logknock-apply not built"
elif ! [ -r /dev/kmsg ]; then
	skip_real "no /dev/kmsg"
elif ! netns_setup; then
	skip_real "$netns_error"
elif ! netns_log_rule "$PREFIX" 7101 7102 7103 7201 7202 7203; then
	skip_real "cannot add an nftables log rule"
else
	real_run 4 "$NETNS_SERVER4" 7101 7102 7103
	real_run 6 "$NETNS_SERVER6" 7201 7202 7203
	if start_listener 192.0.2.1 2222 in_server; then
		in_client "$LOGKNOCK" --wait 2222 --timeout 5 192.0.2.1 tcp/7101 >"$TMP/nw.out" 2>"$TMP/nw.err"
		rc=$?
		check "namespaces: --wait on the server's open port exits 0 and says so" \
			sh -c '[ "$1" -eq 0 ] && grep -qx "192.0.2.1 port 2222 is open" "$2"' - $rc "$TMP/nw.out"
		stop_listener
	else
		ok "# SKIP cannot start a listener in the server namespace"
	fi
fi
done_testing
