#!/bin/sh
# fleet-replay.sh — the fleet's keys seen through --replay (issue 16): a
# knock's host (syslog HOSTNAME, RFC 5424 lines) only when the
# configuration asks for hosts, at: per door, on: per door (one grant per
# host), host names that are not taken from a line, and the configuration's
# errors. Without the fleet's keys the output is byte for byte what it was.
. "${top_srcdir:-$(dirname "$0")/..}/t/lib.sh"
need_binaries
plan 11

L='IN=eth0 OUT= MAC=00:00:00:00:00:00:00:00:00:00:00:00:08:00 SRC=192.0.2.2 DST=192.0.2.1 LEN=60 TOS=0x00 PREC=0x00 TTL=64 ID=1 DF PROTO=TCP SPT=40000 DPT=%d WINDOW=64240 RES=0x00 SYN URGP=0'
{
	printf "2026-12-02T10:00:00.000000+00:00 gw1 kernel: KNOCK $L\n" 7000
	printf "2026-12-02T10:00:01.000000+00:00 gw2 kernel: KNOCK $L\n" 8000
	printf "<4>1 2026-12-02T10:00:02.500000Z gw1 kernel - - - KNOCK $L\n" 8000
	printf "2026-12-02T10:00:40.000000+00:00 gw\"1 kernel: KNOCK $L\n" 7000
	printf "2026-12-02T10:00:41.000000+00:00 gw\"1 kernel: KNOCK $L\n" 8000
} >"$TMP/in.log"

cat >"$TMP/plain.yaml" <<'EOF2'
prefix: "KNOCK "
doors:
  - {name: ssh, sequence: [tcp/7000, tcp/8000], open: [tcp/22]}
EOF2
"$LOGKNOCKD" -c "$TMP/plain.yaml" --replay "$TMP/in.log" --print-events >"$TMP/plain.out" 2>/dev/null
if ! grep -q '"host"' "$TMP/plain.out" && [ "$(grep -c '"event":"knock"' "$TMP/plain.out")" = 4 ]; then
	ok "without the fleet's keys: no host, RFC 5424 lines are not read (output as before)"
else
	fail "without the fleet's keys: no host, RFC 5424 lines are not read (output as before)"
	diag "$TMP/plain.out"
fi

cat >"$TMP/at.yaml" <<'EOF2'
prefix: "KNOCK "
doors:
  - {name: ssh, sequence: [tcp/7000, tcp/8000], open: [tcp/22], at: [GW1]}
EOF2
"$LOGKNOCKD" -c "$TMP/at.yaml" --replay "$TMP/in.log" --print-events >"$TMP/at.out" 2>/dev/null
check() { if grep -q -- "$2" "$3"; then ok "$1"; else fail "$1"; diag "$3"; fi; }
check "a knock carries its line's host" \
	'^{"event":"knock","time":"2026-12-02T10:00:00.000000Z","host":"gw1","src":"192.0.2.2","dst":"192.0.2.1","proto":"tcp","sport":40000,"dport":7000,"flags":"SYN"}$' "$TMP/at.out"
check "an RFC 5424 line is read, with its host" '"time":"2026-12-02T10:00:02.500000Z","host":"gw1"' "$TMP/at.out"
check "at: [GW1] ignores gw2's knock and opens on gw1's (case does not matter)" \
	'^{"event":"open","time":"2026-12-02T10:00:02.500000Z","door":"ssh","src":"192.0.2.2","proto":"tcp","port":22,' "$TMP/at.out"
if grep '"time":"2026-12-02T10:00:4' "$TMP/at.out" | grep -q '"host"' ||
	grep -q '"event":"open","time":"2026-12-02T10:00:41' "$TMP/at.out"; then
	fail "a HOSTNAME that is no host name is not taken, and at: does not see the knock"
	diag "$TMP/at.out"
else
	ok "a HOSTNAME that is no host name is not taken, and at: does not see the knock"
fi

cat >"$TMP/on.yaml" <<'EOF2'
prefix: "KNOCK "
appliers:
  here: local
  web1: {ssh: {host: 198.51.100.1, user: logknock, key: /etc/logknock/fleet_key, port: 2222}}
  web2: {ssh: {host: web2.example.org}}
doors:
  - {name: ssh, sequence: [tcp/7000, tcp/8000], open: [tcp/22], on: [web1, web2, here]}
EOF2
"$LOGKNOCKD" -c "$TMP/on.yaml" --replay "$TMP/in.log" >"$TMP/on.out" 2>/dev/null
if [ "$(grep -c '"event":"open"' "$TMP/on.out")" = 6 ] && [ "$(grep -c '"event":"close"' "$TMP/on.out")" = 6 ] &&
	grep -q '"event":"open","time":"2026-12-02T10:00:01.000000Z","door":"ssh","host":"web1","src":"192.0.2.2"' "$TMP/on.out" &&
	grep -q '"door":"ssh","host":"web2"' "$TMP/on.out" &&
	grep -q '"event":"open","time":"2026-12-02T10:00:01.000000Z","door":"ssh","src":"192.0.2.2"' "$TMP/on.out"; then
	ok "on: [web1, web2, here]: a grant per host, the local one without a host"
else
	fail "on: [web1, web2, here]: a grant per host, the local one without a host"
	diag "$TMP/on.out"
fi

# errors: FILE:LINE:COL: message, exit 2
err() { # err NAME EXPECTED YAML
	printf '%s\n' "$3" >"$TMP/e.yaml"
	out=$("$LOGKNOCKD" -c "$TMP/e.yaml" --check-config 2>&1)
	st=$?
	if [ $st = 2 ] && echo "$out" | grep -q -- "$2"; then ok "error: $1"; else fail "error: $1"; echo "# $st $out"; fi
}
D='doors: [{name: d, sequence: [tcp/7000], open: [tcp/22]'
err "on: an unknown host" "on: 'web3' is not a name of appliers" "prefix: K
$D, on: [web3]}]"
err "an ssh host that would be an option" "ssh: host: expected a host name or address" "prefix: K
appliers: {w: {ssh: {host: -oProxyCommand=x}}}
$D}]"
err "a relative key" "ssh: key: expected an absolute path" "prefix: K
appliers: {w: {ssh: {host: w, key: k}}}
$D}]"
err "forwarded: on a kmsg source" "forwarded: only file sources" "prefix: K
sources: [{kmsg: true, forwarded: true}]
$D}]"
err "at: a host twice" "at: 'A' twice" "prefix: K
$D, at: [a, A]}]"
done_testing
