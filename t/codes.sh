#!/bin/sh
# codes.sh — time-based (totp), encrypted and one-time doors end to end: the
# real client makes the knocks (logknock --dry-run --time T --address A), the
# real daemon decides (logknockd --replay, and live on a followed file with a
# state directory). Also the key and configuration errors of those doors, and
# the known answers of t/fixtures/knock-codes.kat.
. "${top_srcdir:-$(dirname "$0")/..}/t/lib.sh"
need_binaries
: "${LOGKNOCK:=$top_builddir/src/logknock}"
[ -x "$LOGKNOCK" ] || skip_all "logknock not built ($LOGKNOCK)"

KAT=$top_srcdir/t/fixtures/knock-codes.kat
nkat=0
[ -f "$KAT" ] && nkat=$(grep -c '^\(totp\|enc\) ' "$KAT")
plan $((77 + 2 * nkat))

PID=
trap '[ -n "$PID" ] && kill -KILL "$PID" 2>/dev/null; rm -rf "$TMP"' EXIT

H=192.0.2.1		# the server, as the client knocks it
C=192.0.2.2		# the client
O=192.0.2.3		# another source
T=1764165615		# 2025-11-26T14:00:15Z, the middle of a 30 s step
umask 077

# ---- helpers -----------------------------------------------------------------

# iso SECONDS [MICRO]: the daemon's way of writing a time.
iso() { printf '%s.%06dZ' "$(date -u -d "@$1" +%Y-%m-%dT%H:%M:%S)" "${2:-0}"; }

# line STAMP SRC DST PROTO PORT: the line the kernel's LOG target writes for a
# knock (a SYN, or a datagram), as rsyslog stores it.
sport=33000
# full6 ADDR: an IPv6 address as the kernel writes it (%pI6: eight groups of four digits).
full6() {
	case $1 in
	*:*:*:*:*:*:*:* | *::*) python3 -c 'import ipaddress, sys; print(ipaddress.ip_address(sys.argv[1]).exploded)' "$1" ;;
	*) echo "$1" ;;
	esac
}
line() {
	sport=$((sport + 1))
	case $2 in
	*:*) ip="MAC=8e:30:48:74:7b:47:82:18:e1:2b:82:62:86:dd SRC=$(full6 "$2") DST=$(full6 "$3") LEN=80 TC=0 HOPLIMIT=64 FLOWLBL=0" ;;
	*) ip="MAC=8e:30:48:74:7b:47:82:18:e1:2b:82:62:08:00 SRC=$2 DST=$3 LEN=60 TOS=0x00 PREC=0x00 TTL=64 ID=1 DF" ;;
	esac
	case $4 in
	udp) l4="PROTO=UDP SPT=$sport DPT=$5 LEN=9" ;;
	*) l4="PROTO=TCP SPT=$sport DPT=$5 WINDOW=64240 RES=0x00 SYN URGP=0" ;;
	esac
	printf '%s vm kernel: KNOCK IN=veth1 OUT= %s %s \n' "$1" "$ip" "$l4"
}

# lines_at T SRC KNOCKS: the knocks of KNOCKS (the client's dry run, "PROTO
# HOST PORT" lines) logged from SRC, 0.1 s apart from T on.
lines_at() {
	la_i=0
	while read -r la_p la_h la_port; do
		line "$(date -u -d "@$(($1 + la_i / 10))" +%Y-%m-%dT%H:%M:%S).$(printf %06d $((la_i % 10 * 100000)))+00:00" \
			"$2" "$la_h" "$la_p" "$la_port"
		la_i=$((la_i + 1))
	done <"$3"
}

# lines_now SRC KNOCKS: the same, stamped now.
lines_now() {
	while read -r la_p la_h la_port; do
		line "$(date -u +%Y-%m-%dT%H:%M:%S.%6N+00:00)" "$1" "$la_h" "$la_p" "$la_port"
	done <"$2"
}

# mk N OUT ARGS...: the client's dry run (logknock -n ARGS) into OUT; it must
# exit 0 with N knocks, or $client_err says what went wrong (and the next
# expectation fails).
client_err=
mk() {
	mk_n=$1 mk_out=$2
	shift 2
	"$LOGKNOCK" -n "$@" >"$mk_out" 2>"$mk_out.err"
	mk_rc=$?
	if [ $mk_rc -ne 0 ] || [ "$(grep -c '^\(tcp\|udp\) [0-9a-f.:]* [0-9][0-9]*$' "$mk_out")" -ne "$mk_n" ] ||
		[ "$(grep -c . "$mk_out")" -ne "$mk_n" ]; then
		client_err="${client_err}logknock -n $* (exit $mk_rc): $(cat "$mk_out" "$mk_out.err" | tr '\n' '|')
"
	fi
}

# decide NAME [CFG]: logknockd --replay $TMP/NAME.log on CFG ($CFG); the grants
# it opened or extended, as "EVENT DOOR SRC PROTO PORT TIME EXPIRES", in
# $TMP/NAME.got.
decide() {
	"$LOGKNOCKD" -q -c "${2:-$CFG}" --replay "$TMP/$1.log" >"$TMP/$1.out" 2>"$TMP/$1.err"
	dec_rc=$?
	sed -n 's/^{"event":"\(open\|extend\)","time":"\([^"]*\)","door":"\([^"]*\)","src":"\([^"]*\)","proto":"\([a-z]*\)","port":\([0-9]*\),"expires":"\([^"]*\)"}$/\1 \3 \4 \5 \6 \2 \7/p' \
		"$TMP/$1.out" >"$TMP/$1.got"
}

# expect DESC NAME [GRANT...]: decide NAME; ok when the client made its knocks,
# the replay exited 0 and the grants opened or extended are exactly GRANT...
# (each "open DOOR SRC PROTO PORT TIME EXPIRES"), in order.
expect() {
	ex_desc=$1 ex_name=$2
	shift 2
	decide "$ex_name"
	: >"$TMP/$ex_name.want"
	for g in "$@"; do printf '%s\n' "$g" >>"$TMP/$ex_name.want"; done
	if [ -z "$client_err" ] && [ $dec_rc -eq 0 ] && cmp -s "$TMP/$ex_name.want" "$TMP/$ex_name.got"; then
		ok "$ex_desc"
	else
		fail "$ex_desc"
		[ -z "$client_err" ] || printf '%s' "$client_err" | diag
		[ $dec_rc -eq 0 ] || echo "replay exit status $dec_rc" | diag
		diff -u "$TMP/$ex_name.want" "$TMP/$ex_name.got" | diag
		diag "$TMP/$ex_name.err"
	fi
	client_err=
}

# err_has NAME TEXT: the replay's stderr has TEXT (fixed string).
err_has() { grep -qF -- "$2" "$TMP/$1.err"; }

# ---- keys ----------------------------------------------------------------------

K=$TMP/door.key
(umask 000 && exec "$LOGKNOCK" keygen "$K") >"$TMP/kg.out" 2>"$TMP/kg.err"
check "keygen (umask 000): exit 0, a key of 64 hex digits, mode 600" \
	sh -c '[ $0 -eq 0 ] && [ "$(stat -c %a "$1")" = 600 ] && grep -Eqx "[0-9a-f]{64}" "$1" && [ "$(wc -l <"$1")" -eq 1 ]' $? "$K"
cp "$K" "$TMP/door.key.copy"
"$LOGKNOCK" keygen "$K" >/dev/null 2>"$TMP/kg2.err"
rc=$?
check "keygen refuses to overwrite a key: exit 1, says so, the key unchanged" \
	sh -c '[ $0 -eq 1 ] && grep -q "exists already" "$1" && cmp -s "$2" "$3"' $rc "$TMP/kg2.err" "$K" "$TMP/door.key.copy"
K2=$TMP/other.key
"$LOGKNOCK" keygen "$K2" 2>/dev/null
check "keygen: a second key is another key" sh -c '! cmp -s "$0" "$1"' "$K" "$K2"

cp "$K" "$TMP/open.key"
chmod 644 "$TMP/open.key"
"$LOGKNOCK" -n --totp "$TMP/open.key" --door tt --range 20000-29999 --address $C --time $T $H \
	>"$TMP/k644.out" 2>"$TMP/k644.err"
rc=$?
check "client refuses a key of mode 0644: exit 2, chmod 600, no knocks" \
	sh -c '[ $0 -eq 2 ] && grep -q "chmod 600 $1" "$2" && [ ! -s "$3" ]' $rc "$TMP/open.key" "$TMP/k644.err" "$TMP/k644.out"

# usage_2 DESC MESSAGE ARGS...: logknock ARGS exits 2 with MESSAGE on stderr, nothing on stdout.
usage_2() {
	u_desc=$1 u_msg=$2
	shift 2
	"$LOGKNOCK" "$@" >"$TMP/u.out" 2>"$TMP/u.err"
	u_rc=$?
	if [ $u_rc -eq 2 ] && grep -qF -- "$u_msg" "$TMP/u.err" && [ ! -s "$TMP/u.out" ]; then
		ok "client usage error: $u_desc"
	else
		fail "client usage error: $u_desc (exit $u_rc)"
		diag "$TMP/u.err"
	fi
}
usage_2 "totp without --door" "missing --door" -n --totp "$K" --range 20000-29999 --time $T $H
usage_2 "totp without --range" "missing --range" -n --totp "$K" --door tt --time $T $H
usage_2 "encrypted without --base" "missing --base" -n --encrypted "$K" --door ee --request tcp/443 $H
usage_2 "encrypted without --request" "missing --request" -n --encrypted "$K" --door ee --base 40000 $H
usage_2 "encrypted without --door" "missing --door" -n --encrypted "$K" --base 40000 --request tcp/443 $H

# ---- the doors of the replays ---------------------------------------------------

printf ' 7100,7200:udp,7300\n 7400,7500\n 7600\n' >"$TMP/once.seq"
cp "$TMP/once.seq" "$TMP/once.seq.orig"
# knockd's way: the first character of a used line overwritten with '#'.
printf '#100,8200:udp,8300\n8400,8500\n' >"$TMP/knockd.seq"
cp "$TMP/knockd.seq" "$TMP/knockd.seq.orig"
chmod 600 "$TMP/once.seq" "$TMP/knockd.seq"

CFG=$TMP/codes.yaml
cat >"$CFG" <<EOF
prefix: "KNOCK "
applier: {backend: log}
doors:
  - name: tt
    totp: {key: $K, range: 20000-29999}
    open: [tcp/2201]
    duration: 5s
  - name: tu
    totp: {key: $K, range: 30000-39999, bind_source: false}
    open: [tcp/2202]
    duration: 5s
  - name: tudp
    totp: {key: $K, range: 20000-29999, proto: udp}
    open: [tcp/2203]
    duration: 5s
  - name: ee
    encrypted: {key: $K, base: 40000}
    open: [tcp/443, tcp/8443, udp/51820]
    duration: 1h
  - name: once
    one_time: $TMP/once.seq
    open: [tcp/2204]
    duration: 5s
  - name: oncek
    one_time: $TMP/knockd.seq
    open: [tcp/2205]
    duration: 5s
EOF
"$LOGKNOCKD" -c "$CFG" --check-config >/dev/null 2>"$TMP/cc.err"
check "the test's configuration is valid" [ $? -eq 0 ]

# ---- totp ------------------------------------------------------------------------

totp() { mk 4 "$@"; }	# totp OUT ARGS...: the 4 knocks of a totp door
totp "$TMP/tt.k" --totp "$K" --door tt --range 20000-29999 --address $C --time $T $H
check "totp: 4 tcp knocks in the range, to the host" \
	sh -c '[ -z "$1" ] && [ "$(awk "\$1 == \"tcp\" && \$2 == \"$2\" && \$3 >= 20000 && \$3 <= 29999" "$0" | wc -l)" -eq 4 ]' \
	"$TMP/tt.k" "$client_err" $H

lines_at $T $C "$TMP/tt.k" >"$TMP/tt-ok.log"
expect "totp: opens from the bound source" tt-ok \
	"open tt $C tcp 2201 $(iso $T 300000) $(iso $((T + 5)) 300000)"

lines_at $T $O "$TMP/tt.k" >"$TMP/tt-other.log"
expect "totp: the same ports from another source open nothing" tt-other

totp "$TMP/tt-2.k" --totp "$K" --door tt --range 20000-29999 --address $C --time $((T - 60)) $H
totp "$TMP/tt+2.k" --totp "$K" --door tt --range 20000-29999 --address $C --time $((T + 60)) $H
lines_at $T $C "$TMP/tt-2.k" >"$TMP/tt-far.log"
lines_at $((T + 2)) $C "$TMP/tt+2.k" >>"$TMP/tt-far.log"
expect "totp: codes 2 steps old or ahead (tolerance 1) open nothing" tt-far

totp "$TMP/tt-3.k" --totp "$K" --door tt --range 20000-29999 --address $C --time $((T - 90)) $H
lines_at $T $C "$TMP/tt-3.k" >"$TMP/tt-old.log"
expect "totp: a code 3 steps old opens nothing" tt-old

totp "$TMP/tt-1.k" --totp "$K" --door tt --range 20000-29999 --address $C --time $((T - 30)) $H
lines_at $T $C "$TMP/tt-1.k" >"$TMP/tt-prev.log"
expect "totp: a code one step old (within the tolerance) opens" tt-prev \
	"open tt $C tcp 2201 $(iso $T 300000) $(iso $((T + 5)) 300000)"
totp "$TMP/tt+1.k" --totp "$K" --door tt --range 20000-29999 --address $C --time $((T + 30)) $H
lines_at $T $C "$TMP/tt+1.k" >"$TMP/tt-next.log"
expect "totp: a code one step ahead (within the tolerance) opens" tt-next \
	"open tt $C tcp 2201 $(iso $T 300000) $(iso $((T + 5)) 300000)"

totp "$TMP/tt-k2.k" --totp "$K2" --door tt --range 20000-29999 --address $C --time $T $H
lines_at $T $C "$TMP/tt-k2.k" >"$TMP/tt-key.log"
expect "totp: a code made with another key opens nothing" tt-key
check "totp: another key makes other ports" sh -c '! cmp -s "$0" "$1"' "$TMP/tt.k" "$TMP/tt-k2.k"

# The same code twice in its step: the second is a replay. A new step opens again.
totp "$TMP/tt-s1.k" --totp "$K" --door tt --range 20000-29999 --address $C --time $((T + 30)) $H
{
	lines_at $T $C "$TMP/tt.k"
	lines_at $((T + 2)) $C "$TMP/tt.k"
	lines_at $((T + 30)) $C "$TMP/tt-s1.k"
} >"$TMP/tt-replay.log"
expect "totp: the same code again in its step opens nothing; the next step's opens" tt-replay \
	"open tt $C tcp 2201 $(iso $T 300000) $(iso $((T + 5)) 300000)" \
	"open tt $C tcp 2201 $(iso $((T + 30)) 300000) $(iso $((T + 35)) 300000)"
check "totp: the replay is reported" err_has tt-replay "door tt: $C knocked a code that was used already (a replay?): not opened"
check "totp: no replay reported when there is none" sh -c '! grep -q "used already" "$0"' "$TMP/tt-ok.err"

# bind_source: false — any source, once per source and step.
totp "$TMP/tu.k" --totp "$K" --door tu --range 30000-39999 --no-bind --time $T $H
totp "$TMP/tu1.k" --totp "$K" --door tu --range 30000-39999 --no-bind --time $((T + 30)) $H
totp "$TMP/tu-a.k" --totp "$K" --door tu --range 30000-39999 --address 203.0.113.5 --time $T $H
check "totp, bind_source false: the code does not depend on the client's address" \
	sh -c '"$0" -n --totp "$1" --door tu --range 30000-39999 --no-bind --address 203.0.113.5 --time "$2" "$3" | cmp -s - "$4"' \
	"$LOGKNOCK" "$K" $T $H "$TMP/tu.k"
{
	lines_at $T $C "$TMP/tu.k"
	lines_at $((T + 1)) $O "$TMP/tu.k"
	lines_at $((T + 2)) $C "$TMP/tu.k"
	lines_at $((T + 30)) $C "$TMP/tu1.k"
} >"$TMP/tu.log"
expect "totp, bind_source false: opens from any source, once per source and step" tu \
	"open tu $C tcp 2202 $(iso $T 300000) $(iso $((T + 5)) 300000)" \
	"open tu $O tcp 2202 $(iso $((T + 1)) 300000) $(iso $((T + 6)) 300000)" \
	"open tu $C tcp 2202 $(iso $((T + 30)) 300000) $(iso $((T + 35)) 300000)"
lines_at $T $C "$TMP/tu-a.k" >"$TMP/tu-bound.log"
expect "totp, bind_source false: a code bound to an address opens nothing" tu-bound

# proto: udp
totp "$TMP/tudp.k" --totp "$K" --door tudp --range 20000-29999 --proto udp --address $C --time $T $H
check "totp, proto udp: the client knocks udp" \
	sh -c '[ "$(grep -c "^udp $1 " "$0")" -eq 4 ]' "$TMP/tudp.k" $H
lines_at $T $C "$TMP/tudp.k" >"$TMP/tudp.log"
expect "totp, proto udp: udp knocks open" tudp \
	"open tudp $C tcp 2203 $(iso $T 300000) $(iso $((T + 5)) 300000)"
sed 's/^udp /tcp /' "$TMP/tudp.k" >"$TMP/tudp-tcp.k"
lines_at $T $C "$TMP/tudp-tcp.k" >"$TMP/tudp-tcp.log"
expect "totp, proto udp: the same ports knocked with tcp open nothing" tudp-tcp

# IPv6, the addresses written in full as the kernel does.
totp "$TMP/tt6.k" --totp "$K" --door tt --range 20000-29999 --address 2001:db8::2 --time $T 2001:db8::1
lines_at $T 2001:db8::2 "$TMP/tt6.k" |
	sed 's/SRC=2001:db8::2 DST=2001:db8::1 /SRC=2001:0db8:0000:0000:0000:0000:0000:0002 DST=2001:0db8:0000:0000:0000:0000:0000:0001 /' \
	>"$TMP/tt6.log"
expect "totp, IPv6: opens for the bound source, written in full in the log" tt6 \
	"open tt 2001:db8::2 tcp 2201 $(iso $T 300000) $(iso $((T + 5)) 300000)"

# ---- encrypted -----------------------------------------------------------------

enc() { mk 10 "$@"; }	# enc OUT ARGS...: the 10 knocks of an encrypted door
EE="--encrypted $K --door ee --base 40000"
# shellcheck disable=SC2086
enc "$TMP/ee.k" $EE --request tcp/443 --duration 10m --address $C --time $T $H
check "encrypted: 10 tcp knocks, knock i in base + 256*i .. base + 256*i + 255" \
	sh -c '[ -z "$1" ] && [ "$(awk "\$1 == \"tcp\" && \$3 >= 40000 + 256 * (NR - 1) && \$3 <= 40255 + 256 * (NR - 1)" "$0" | wc -l)" -eq 10 ]' \
	"$TMP/ee.k" "$client_err"
lines_at $T $C "$TMP/ee.k" >"$TMP/ee-ok.log"
expect "encrypted: opens exactly the port asked for, for the time asked for" ee-ok \
	"open ee $C tcp 443 $(iso $T 900000) $(iso $((T + 600)) 900000)"

# shellcheck disable=SC2086
enc "$TMP/ee-long.k" $EE --request tcp/8443 --duration 2h --address $C --time $T $H
lines_at $T $C "$TMP/ee-long.k" >"$TMP/ee-long.log"
expect "encrypted: a duration beyond the door's is cut to the door's (1h)" ee-long \
	"open ee $C tcp 8443 $(iso $T 900000) $(iso $((T + 3600)) 900000)"

# shellcheck disable=SC2086
enc "$TMP/ee-udp.k" $EE --request udp/51820 --address $C --time $T $H
lines_at $T $C "$TMP/ee-udp.k" >"$TMP/ee-udp.log"
expect "encrypted: a udp port without a duration opens for the door's duration" ee-udp \
	"open ee $C udp 51820 $(iso $T 900000) $(iso $((T + 3600)) 900000)"

for i in 6 3 10 1 8 2 9 4 7 5; do sed -n "${i}p" "$TMP/ee.k"; done >"$TMP/ee-shuf.k"
lines_at $T $C "$TMP/ee-shuf.k" >"$TMP/ee-shuf.log"
expect "encrypted: the knocks in another order open all the same" ee-shuf \
	"open ee $C tcp 443 $(iso $T 900000) $(iso $((T + 600)) 900000)"

{
	lines_at $T $C "$TMP/ee.k"
	lines_at $((T + 5)) $C "$TMP/ee.k"
} >"$TMP/ee-replay.log"
expect "encrypted: the same 10 knocks again later in the step open nothing" ee-replay \
	"open ee $C tcp 443 $(iso $T 900000) $(iso $((T + 600)) 900000)"
check "encrypted: the replay is reported" \
	err_has ee-replay "door ee: $C knocked a code that was used already (a replay?): not opened"

# Old lines written again once the code's time is past by the log's clock
# (a knock from elsewhere at T + 120 s moves it): refused, though their own
# stamps are within the step.
printf 'tcp %s 9\n' $H >"$TMP/clock.k"
{
	lines_at $T $C "$TMP/ee.k"
	lines_at $((T + 120)) $O "$TMP/clock.k"
	lines_at $((T + 1)) $C "$TMP/ee.k"
} >"$TMP/ee-past.log"
expect "encrypted: its lines written again after the code's time open nothing" ee-past \
	"open ee $C tcp 443 $(iso $T 900000) $(iso $((T + 600)) 900000)"
check "encrypted: ... and the daemon says the code's time is past" \
	err_has ee-past "door ee: $C knocked a code whose time is past (old lines written again?): not opened"
{
	lines_at $T $C "$TMP/tt.k"
	lines_at $((T + 120)) $O "$TMP/clock.k"
	lines_at $((T + 1)) $C "$TMP/tt.k"
} >"$TMP/tt-past.log"
expect "totp: its lines written again after the code's time open nothing" tt-past \
	"open tt $C tcp 2201 $(iso $T 300000) $(iso $((T + 5)) 300000)"

lines_at $T $O "$TMP/ee.k" >"$TMP/ee-other.log"
expect "encrypted: the knocks from another source open nothing" ee-other

# One knock one port up (down at the top) within its block of 256, then the real ones.
awk 'NR == 4 { $3 = ($3 - 40000) % 256 == 255 ? $3 - 1 : $3 + 1 } { print }' "$TMP/ee.k" >"$TMP/ee-bad.k"
check "encrypted: the tampered knock differs in one port, in its block" \
	sh -c '[ "$(diff "$0" "$1" | grep -c "^>")" -eq 1 ]' "$TMP/ee.k" "$TMP/ee-bad.k"
{
	lines_at $T $C "$TMP/ee-bad.k"
	lines_at $((T + 5)) $C "$TMP/ee.k"
} >"$TMP/ee-bad.log"
expect "encrypted: a tampered knock opens nothing (the real ones after it do)" ee-bad \
	"open ee $C tcp 443 $(iso $((T + 5)) 900000) $(iso $((T + 605)) 900000)"

# shellcheck disable=SC2086
enc "$TMP/ee-23.k" $EE --request tcp/23 --address $C --time $T $H
lines_at $T $C "$TMP/ee-23.k" >"$TMP/ee-23.log"
expect "encrypted: a port the door does not open opens nothing" ee-23
check "encrypted: ... and the daemon says so" \
	err_has ee-23 "door ee: $C asked for tcp/23, which the door does not open"

# shellcheck disable=SC2086
enc "$TMP/ee-old.k" $EE --request tcp/443 --address $C --time $((T - 60)) $H
lines_at $T $C "$TMP/ee-old.k" >"$TMP/ee-old.log"
expect "encrypted: a code 2 steps old opens nothing" ee-old
# shellcheck disable=SC2086
enc "$TMP/ee-prev.k" $EE --request tcp/443 --address $C --time $((T - 30)) $H
lines_at $T $C "$TMP/ee-prev.k" >"$TMP/ee-prev.log"
expect "encrypted: a code one step old (within the tolerance) opens" ee-prev \
	"open ee $C tcp 443 $(iso $T 900000) $(iso $((T + 3600)) 900000)"

# Behind NAT: the client names the address the server sees.
N=198.51.100.7
# shellcheck disable=SC2086
enc "$TMP/ee-nat.k" $EE --request tcp/443 --duration 60s --address $N --time $T $H
{
	lines_at $T $C "$TMP/ee-nat.k"
	lines_at $((T + 2)) $N "$TMP/ee-nat.k"
} >"$TMP/ee-nat.log"
expect "encrypted, --address $N: opens for $N only, not for the client's own address" ee-nat \
	"open ee $N tcp 443 $(iso $((T + 2)) 900000) $(iso $((T + 62)) 900000)"

# Without --address the client binds the code to its address towards the host.
# shellcheck disable=SC2086
enc "$TMP/ee-lo.k" $EE --request tcp/443 --time $T 127.0.0.1
# shellcheck disable=SC2086
enc "$TMP/ee-lo2.k" $EE --request tcp/443 --address 127.0.0.1 --time $T 127.0.0.1
# shellcheck disable=SC2086
enc "$TMP/ee-lo3.k" $EE --request tcp/443 --address 127.0.0.2 --time $T 127.0.0.1
check "encrypted: without --address, the code is bound to the address the route starts from" \
	sh -c '[ -z "$3" ] && cmp -s "$0" "$1" && ! cmp -s "$0" "$2"' "$TMP/ee-lo.k" "$TMP/ee-lo2.k" "$TMP/ee-lo3.k" "$client_err"
client_err=

# ---- one_time ---------------------------------------------------------------------

mk 3 "$TMP/seq1.k" $H tcp/7100 udp/7200 tcp/7300
mk 2 "$TMP/seq2.k" $H tcp/7400 tcp/7500
{
	lines_at $T $C "$TMP/seq1.k"
	lines_at $((T + 10)) $C "$TMP/seq1.k"
	lines_at $((T + 20)) $C "$TMP/seq2.k"
} >"$TMP/once.log"
expect "one_time: the first sequence opens, the same again nothing, the next opens" once \
	"open once $C tcp 2204 $(iso $T 200000) $(iso $((T + 5)) 200000)" \
	"open once $C tcp 2204 $(iso $((T + 20)) 100000) $(iso $((T + 25)) 100000)"
check "one_time: a replay leaves the sequence file as it was" cmp -s "$TMP/once.seq.orig" "$TMP/once.seq"

mk 3 "$TMP/kseq1.k" $H tcp/8100 udp/8200 tcp/8300
mk 3 "$TMP/kseq1b.k" $H tcp/100 udp/8200 tcp/8300
mk 2 "$TMP/kseq2.k" $H tcp/8400 tcp/8500
{
	lines_at $T $C "$TMP/kseq1.k"
	lines_at $((T + 10)) $C "$TMP/kseq1b.k"
	lines_at $((T + 20)) $C "$TMP/kseq2.k"
} >"$TMP/oncek.log"
expect "one_time, knockd's file: a line whose first character is '#' is used; the next opens" oncek \
	"open oncek $C tcp 2205 $(iso $((T + 20)) 100000) $(iso $((T + 25)) 100000)"
check "one_time, knockd's file: unchanged by a replay" cmp -s "$TMP/knockd.seq.orig" "$TMP/knockd.seq"

# ---- configuration errors: exit 2, FILE:LINE:COL: message ----------------------------

: >"$TMP/empty.log"
# cfg_error DESC "LINE:COL: message" < config: --check-config exits 2, the first line of stderr is FILE:LINE:COL: message.
ncfg=0
cfg_error() {
	ncfg=$((ncfg + 1))
	ce_f=$TMP/bad$ncfg.yaml
	cat >"$ce_f"
	"$LOGKNOCKD" -c "$ce_f" --check-config >/dev/null 2>"$ce_f.err"
	ce_rc=$?
	if [ $ce_rc -eq 2 ] && [ "$(sed -n 1p "$ce_f.err")" = "$ce_f:$2" ]; then
		ok "config error: $1"
	else
		fail "config error: $1 (exit $ce_rc)"
		echo "want: $ce_f:$2" | diag
		diag "$ce_f.err"
	fi
}
# cfg_good DESC < config: --check-config exits 0.
cfg_good() {
	cat >"$TMP/good.yaml"
	"$LOGKNOCKD" -c "$TMP/good.yaml" --check-config >/dev/null 2>"$TMP/good.err"
	cg_rc=$?
	if [ $cg_rc -eq 0 ]; then ok "config accepted: $1"; else fail "config accepted: $1 (exit $cg_rc)"; diag "$TMP/good.err"; fi
}
# totp_door KEY RANGE [KNOCKS]: a configuration with one totp door (key on line 7, range on line 8).
totp_door() {
	cat <<EOF
sources: [{file: $TMP/empty.log}]
prefix: "KNOCK "
applier: {backend: log}
doors:
  - name: t
    totp:
      key: $1
      range: $2
      knocks: ${3:-4}
    open: [tcp/22]
EOF
}

totp_door "$TMP/open.key" 20000-29999 >"$TMP/in.yaml"
cfg_error "a key of mode 0644" \
	"7:12: door 't': totp: key: $TMP/open.key: the key may be read or written by others (mode 0644): chmod 600 $TMP/open.key" <"$TMP/in.yaml"
printf 'not a key\n' >"$TMP/junk.key"
totp_door "$TMP/junk.key" 20000-29999 >"$TMP/in.yaml"
cfg_error "a key file without a key" \
	"7:12: door 't': totp: key: $TMP/junk.key: expected 64 hex digits on one line (make a key with: logknock keygen FILE)" <"$TMP/in.yaml"
printf '%s\n' "$(cut -c2- "$K")" >"$TMP/short.key"
totp_door "$TMP/short.key" 20000-29999 >"$TMP/in.yaml"
cfg_error "a key of 63 hex digits" \
	"7:12: door 't': totp: key: $TMP/short.key: expected 64 hex digits on one line (make a key with: logknock keygen FILE)" <"$TMP/in.yaml"
totp_door "$TMP/nosuch.key" 20000-29999 >"$TMP/in.yaml"
cfg_error "a missing key file" \
	"7:12: door 't': totp: key: $TMP/nosuch.key: cannot open the key: No such file or directory" <"$TMP/in.yaml"
# span * (span - 1)^(knocks - 1) sequences (no port twice in a row), at least 2^40
totp_door "$K" 20000-21023 >"$TMP/in.yaml"
cfg_error "totp: 4 knocks in 1024 ports (fewer than 2^40 sequences)" \
	"8:14: door 't': totp: 4 knocks in 1024 ports make 1096293547008 sequences, too few to stop guessing: use more knocks or a wider range (at least 2^40 sequences)" <"$TMP/in.yaml"
totp_door "$K" 20000-21024 >"$TMP/in.yaml"
cfg_good "totp: 4 knocks in 1025 ports (2^40 sequences or more)" <"$TMP/in.yaml"
totp_door "$K" 40000-40001 16 >"$TMP/in.yaml"
cfg_error "totp: 16 knocks in 2 ports" \
	"8:14: door 't': totp: 16 knocks in 2 ports make 2 sequences, too few to stop guessing: use more knocks or a wider range (at least 2^40 sequences)" <"$TMP/in.yaml"

enc_door() {
	cat <<EOF
sources: [{file: $TMP/empty.log}]
prefix: "KNOCK "
applier: {backend: log}
doors:
  - name: e
    encrypted: {key: $K, base: $1}
    open: [tcp/22]
EOF
}
enc_door 62977 >"$TMP/in.yaml"
cfg_error "encrypted: base too high (the 10 blocks of 256 ports past 65535)" \
	"6:$((30 + ${#K})): door 'e': encrypted: base: expected a port from 1 to 62976 (knocks go to base .. base + 2559)" <"$TMP/in.yaml"
enc_door 62976 >"$TMP/in.yaml"
cfg_good "encrypted: base 62976 (the last knock on 65535)" <"$TMP/in.yaml"

cfg_error "a door with both sequence and totp" \
	"7:5: door 't': 'sequence' and 'totp': a door has only one of them" <<EOF
sources: [{file: $TMP/empty.log}]
prefix: "KNOCK "
applier: {backend: log}
doors:
  - name: t
    sequence: [tcp/7000]
    totp: {key: $K, range: 20000-29999}
    open: [tcp/22]
EOF

# once_door FILE: a configuration with one one_time door (the file on line 6, column 15).
once_door() {
	cat <<EOF
sources: [{file: $TMP/empty.log}]
prefix: "KNOCK "
applier: {backend: log}
doors:
  - name: o
    one_time: $1
    open: [tcp/22]
EOF
}
cp "$TMP/once.seq.orig" "$TMP/group.seq"
chmod 640 "$TMP/group.seq"
once_door "$TMP/group.seq" >"$TMP/in.yaml"
cfg_error "one_time: a sequence file its group may read" \
	"6:15: door 'o': one_time: $TMP/group.seq: the sequences may be read or written by others (mode 0640): chmod 600 $TMP/group.seq" <"$TMP/in.yaml"
printf ' 7100,7200\n 7300;7400\n' >"$TMP/badline.seq"	# mode 600 (umask 077)
once_door "$TMP/badline.seq" >"$TMP/in.yaml"
cfg_error "one_time: a bad line, named by the sequence file's LINE:COL" \
	"6:15: door 'o': one_time: $TMP/badline.seq:2:6: expected ',' between steps" <"$TMP/in.yaml"
printf ' 7100,7200\n 7300,7400:icmp\n' >"$TMP/badproto.seq"
once_door "$TMP/badproto.seq" >"$TMP/in.yaml"
cfg_error "one_time: a bad protocol, named by the sequence file's LINE:COL" \
	"6:15: door 'o': one_time: $TMP/badproto.seq:2:12: expected tcp or udp after ':'" <"$TMP/in.yaml"

# ---- live: a followed file, a state directory, restarts ----------------------------

LOG=$TMP/live.log
STATE=$TMP/state
: >"$LOG"
mkdir "$STATE"
printf ' 7100,7200:udp,7300\n 7400,7500\n 7600\n' >"$TMP/live.seq"
chmod 600 "$TMP/live.seq"
cat >"$TMP/live.yaml" <<EOF
# net.netfilter.nf_log_all_netns is the host's: another test may hold it at 1 meanwhile
accept_nf_log_all_netns: true
sources:
  - file: $LOG
prefix: "KNOCK "
applier: {backend: log}
doors:
  - name: once
    one_time: $TMP/live.seq
    open: [tcp/2204]
    duration: 5s
  - name: ee
    encrypted: {key: $K, base: 40000}
    open: [tcp/443, tcp/22]
    duration: 1h
EOF
# start ERR: the daemon on live.yaml, its messages in ERR; true once it follows the file.
start() {
	"$LOGKNOCKD" -v -v -c "$TMP/live.yaml" --state-dir "$STATE" >"$1.out" 2>"$1" &
	PID=$!
	wait_for "$1" "following 1 sources" 5
}
# stop_daemon: SIGTERM to the daemon we started; its exit status.
stop_daemon() {
	kill -TERM "$PID" 2>/dev/null
	wait "$PID"
	st=$?
	PID=
	return $st
}
opened() { grep -c "door $2: opened " "$1"; }	# opened ERR DOOR: how many times DOOR opened

D1=$TMP/d1.err
check "live: the daemon starts and follows the file" start "$D1"
lines_now $C "$TMP/seq1.k" >>"$LOG"
check "live, one_time: the first sequence opens" wait_for "$D1" "door once: opened tcp/2204 for $C until "
printf '#7100,7200:udp,7300\n 7400,7500\n 7600\n' >"$TMP/live.seq.want"
same "live, one_time: the used line gets its '#', before the door opens" "$TMP/live.seq.want" "$TMP/live.seq"

now=$(date +%s)
# shellcheck disable=SC2086
enc "$TMP/live-ee.k" $EE --request tcp/443 --address $C --time $now $H
lines_now $C "$TMP/live-ee.k" >>"$LOG"
check "live, encrypted: opens (client --time now, lines stamped now)" \
	wait_for "$D1" "door ee: opened tcp/443 for $C until "
stop_daemon
check "live: SIGTERM, exit status 0" [ $? -eq 0 ]
check "live: the state directory holds the used codes (spent)" test -s "$STATE/spent"

D2=$TMP/d2.err
check "live: the daemon starts again on the same state directory" start "$D2"
lines_now $C "$TMP/seq1.k" >>"$LOG"
lines_now $C "$TMP/live-ee.k" >>"$LOG"
check "live, encrypted: the same 10 knocks after the restart are a replay, and said so" \
	wait_for "$D2" "door ee: $C knocked a code that was used already (a replay?): not opened"
# What follows opens: what came before it was decided by then.
lines_now $C "$TMP/seq2.k" >>"$LOG"
# shellcheck disable=SC2086
enc "$TMP/live-ee22.k" $EE --request tcp/22 --address $C --time "$(date +%s)" $H
lines_now $C "$TMP/live-ee22.k" >>"$LOG"
wait_for "$D2" "door once: opened tcp/2204 for $C " >/dev/null
wait_for "$D2" "door ee: opened tcp/22 for $C " >/dev/null
check "live, one_time: after the restart the used sequence opens nothing, the next one opens once" \
	sh -c '[ "$(grep -c "door once: opened " "$0")" -eq 1 ] && [ -z "$1" ]' "$D2" "$client_err"
check "live, encrypted: after the restart the used code opens nothing; a new one opens" \
	sh -c '[ "$(grep -c "door ee: opened " "$0")" -eq 1 ] && grep -q "door ee: opened tcp/22 for $1 " "$0"' "$D2" $C
printf '#7100,7200:udp,7300\n#7400,7500\n 7600\n' >"$TMP/live.seq.want"
same "live, one_time: the second sequence is marked used too" "$TMP/live.seq.want" "$TMP/live.seq"
stop_daemon
if [ $tap_failed -gt 0 ]; then
	echo "# first run:"
	tail -30 "$D1" | diag
	echo "# second run:"
	tail -30 "$D2" | diag
fi
client_err=

# ---- known answers (t/fixtures/knock-codes.kat, made by t/knock_codes_ref.py) --------
# Each vector twice: the client makes its ports, and the daemon opens for
# lines of the vector's own ports at its time from its address. Vectors
# outside what the client's --time (0 .. 2^33 s) or a door (a name of at most
# 64 characters, totp: 2^40 sequences or more) can hold are skipped.

# kat_skip WHY: both checks of a vector skipped.
kat_skip() { ok "# SKIP $kat_what: $1"; ok "# SKIP $kat_what (daemon): $1"; }

kat_n=0
if [ "$nkat" -gt 0 ]; then
	grep '^\(totp\|enc\) ' "$KAT" >"$TMP/kat.list"
	while read -r kind key door step bind a b arrow want; do
		kat_n=$((kat_n + 1))
		kat_what="known answer $kat_n ($kind, step $step, bind $bind, $a $b)"
		if [ "$arrow" != "->" ] || [ -z "$want" ]; then
			fail "$kat_what: cannot read the vector"
			fail "$kat_what (daemon): cannot read the vector"
			continue
		fi
		case $step in
		-* | ?????????????*) kat_skip "step $step is before 1970 or past --time"; continue ;;
		esac
		if [ "$step" -gt 286331153 ]; then
			kat_skip "step $step is past --time (2^33 s)"
			continue
		fi
		if [ ${#door} -gt 64 ]; then
			kat_skip "a door name of ${#door} characters (64 at most)"
			continue
		fi
		printf '%s\n' "$key" >"$TMP/kat.key" && chmod 600 "$TMP/kat.key"
		t=$((step * 30 + 15))
		case $bind in
		4:*) host=$H src=${bind#4:} bindopt="--address ${bind#4:}" ;;
		6:*) host=2001:db8::1 src=${bind#6:} bindopt="--address ${bind#6:}" ;;
		*) host=$H src=203.0.113.9 bindopt=--no-bind ;;
		esac
		if [ "$kind" = totp ]; then
			# shellcheck disable=SC2086
			"$LOGKNOCK" -n --time $t --totp "$TMP/kat.key" --door "$door" --range "$a" --knocks "$b" $bindopt $host \
				>"$TMP/kat.k" 2>"$TMP/kat.err"
			kat_rc=$?
			got=$(awk '{ printf "%s%s", (NR > 1 ? "," : ""), $3 }' "$TMP/kat.k")
			ports=$want
			open=tcp/22 expires=$((t + 36000))
		else
			dur=
			[ "$b" -gt 0 ] && dur="--duration ${b}s"
			# shellcheck disable=SC2086
			"$LOGKNOCK" -n --time $t --encrypted "$TMP/kat.key" --door "$door" --base 40000 --request "$a" $dur \
				$bindopt $host >"$TMP/kat.k" 2>"$TMP/kat.err"
			kat_rc=$?
			got=$(awk '{ printf "%s%s", (NR > 1 ? "," : ""), $3 }' "$TMP/kat.k")
			ports=$(echo "$want" | tr ',' '\n' | awk '{ printf "%s%d", (NR > 1 ? "," : ""), 40000 + 256 * (NR - 1) + $1 }')
			open=$a expires=$((t + b))
			[ "$b" -eq 0 ] && expires=$((t + 36000))	# 0: the door's duration
		fi
		if [ $kat_rc -eq 0 ] && [ -n "$ports" ] && [ "$got" = "$ports" ] && ! grep -qv "^tcp $host " "$TMP/kat.k"; then
			ok "$kat_what: the client knocks $ports"
		else
			fail "$kat_what: the client knocks $ports"
			echo "got (exit $kat_rc): $got" | diag
			diag "$TMP/kat.err"
		fi

		# The daemon, on the vector's ports.
		if [ "$kind" = totp ]; then
			span=$((${a#*-} - ${a%-*} + 1))
			combos=$span i=1
			while [ $i -lt "$b" ] && [ $combos -lt 1099511627776 ]; do combos=$((combos * (span - 1))) i=$((i + 1)); done
			if [ $combos -lt 1099511627776 ]; then
				ok "# SKIP $kat_what (daemon): $b knocks in $span ports are too few for a door"
				continue
			fi
			code="totp: {key: $TMP/kat.key, range: $a, knocks: $b"
		else
			code="encrypted: {key: $TMP/kat.key, base: 40000"
		fi
		[ "$bind" = none ] && code="$code, bind_source: false"
		cat >"$TMP/kat.yaml" <<EOF
prefix: "KNOCK "
applier: {backend: log}
doors:
  - name: $door
    $code}
    open: [$open]
    duration: 10h
EOF
		echo "$ports" | tr ',' '\n' | sed "s/^/tcp $host /" >"$TMP/katv.k"
		last=$(($(grep -c . "$TMP/katv.k") - 1))
		lines_at $t "$src" "$TMP/katv.k" >"$TMP/kat.log"
		decide kat "$TMP/kat.yaml"
		printf 'open %s %s %s %s %s %s\n' "$door" "$src" "${open%/*}" "${open#*/}" \
			"$(iso $((t + last / 10)) $((last % 10 * 100000)))" "$(iso $((expires + last / 10)) $((last % 10 * 100000)))" \
			>"$TMP/kat.want"
		if [ $dec_rc -eq 0 ] && cmp -s "$TMP/kat.want" "$TMP/kat.got"; then
			ok "$kat_what (daemon): opens ${open} for $src"
		else
			fail "$kat_what (daemon): opens ${open} for $src (exit $dec_rc)"
			diff -u "$TMP/kat.want" "$TMP/kat.got" | diag
			diag "$TMP/kat.err"
		fi
	done <"$TMP/kat.list"
fi
check "known answers: every vector of the file was read" [ "$kat_n" -eq "$nkat" ]

done_testing
