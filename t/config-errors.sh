#!/bin/sh
# config-errors.sh — `logknockd -c FILE --check-config` accepts a good
# configuration (exit 0) and rejects bad ones with exit status 2 and, as the
# first line on stderr, exactly "FILE:LINE:COL: message" pointing at the
# offending node (1-based line and column).
#
# Needs $LOGKNOCKD (set by `make check`); skips when it is not built.

if [ -z "${LOGKNOCKD:-}" ] || [ ! -x "$LOGKNOCKD" ]; then
	echo "1..0 # SKIP logknockd not built"
	exit 0
fi

tmp=$(mktemp -d "${TMPDIR:-/tmp}/config-errors.XXXXXX") || {
	echo "Bail out! mktemp -d failed"
	exit 1
}
trap 'rm -rf "$tmp"' EXIT
trap 'exit 1' HUP INT PIPE TERM

n=0
failed=0

# run_check NAME FILE WANT_STATUS WANT_FIRST_LINE
# Runs the check on FILE; WANT_FIRST_LINE "" means stderr is not examined.
run_check () {
	name=$1 file=$2 want_rc=$3 want=$4
	n=$((n + 1))
	"$LOGKNOCKD" -c "$file" --check-config >"$tmp/stdout" 2>"$tmp/stderr"
	rc=$?
	first=$(sed -n 1p "$tmp/stderr")
	if [ "$rc" -eq "$want_rc" ] && { [ -z "$want" ] || [ "$first" = "$want" ]; }; then
		echo "ok $n - $name"
	else
		echo "not ok $n - $name"
		echo "#   exit status: $rc (want $want_rc)"
		echo "#   stderr:      $first"
		[ -z "$want" ] || echo "#   want:        $want"
		failed=$((failed + 1))
	fi
}

# check_error NAME "LINE:COL: message" < config
check_error () {
	file=$tmp/case$((n + 1)).yaml
	cat >"$file"
	run_check "$1" "$file" 2 "$file:$2"
}

: >"$tmp/kern.log"

# ---- a good configuration ---------------------------------------------------

cat >"$tmp/good.yaml" <<EOF
sources:
  - file: $tmp/kern.log
    format: syslog
prefix: "KNOCK "
applier:
  backend: log
doors:
  - name: ssh
    sequence: [tcp/7000, udp/8000, tcp/9000]
    window: 10s
    open: [tcp/22]
    duration: 30s
    dedup: 2s
    tcp_flags: "SYN,!ACK"
EOF
run_check "good configuration passes" "$tmp/good.yaml" 0 ""

# ---- bad ones: exit 2, FILE:LINE:COL: message ------------------------------

check_error "unknown top-level key, at the key" \
	"2:1: unknown key 'sources_'" <<'EOF'
prefix: "KNOCK "
sources_: []
doors:
  - {name: ssh, sequence: [tcp/7000], open: [tcp/22]}
EOF

check_error "unknown key in a door, at the key" \
	"6:5: door 'ssh': unknown key 'timeout'" <<'EOF'
prefix: "KNOCK "
doors:
  - name: ssh
    sequence: [tcp/7000]
    open: [tcp/22]
    timeout: 5s
EOF

check_error "doors is not a list, at the value" \
	"2:8: doors: expected a list of doors" <<'EOF'
prefix: "KNOCK "
doors: ssh
EOF

check_error "port out of range, at the list item" \
	"5:26: door 'ssh': sequence: bad port 'tcp/70000': expected tcp/N or udp/N with N 1-65535, or icmp/T, icmpv6/T" <<'EOF'
# knock doors
prefix: "KNOCK "
doors:
  - name: ssh
    sequence: [tcp/7000, tcp/70000]
    open: [tcp/22]
EOF

check_error "port 0 in a block list" \
	"6:9: door 'ssh': open: bad port 'tcp/0': expected tcp/N or udp/N with N 1-65535, or icmp/T, icmpv6/T" <<'EOF'
prefix: "KNOCK "
doors:
  - name: ssh
    sequence: [tcp/7000]
    open:
      - tcp/0
EOF

check_error "bad duration, at the value" \
	"6:13: door 'ssh': window: bad duration '10x': expected a number with ms, s, m or h" <<'EOF'
prefix: "KNOCK "
doors:
  - name: ssh
    sequence: [tcp/7000]
    open: [tcp/22]
    window: 10x
EOF

check_error "door without a name, at the door's mapping" \
	"4:5: door #2: missing 'name'" <<'EOF'
prefix: "KNOCK "
doors:
  - {name: web, sequence: [tcp/1], open: [tcp/80]}
  - sequence: [tcp/7000]
    open: [tcp/22]
EOF

check_error "duplicate door name, at the second name" \
	"4:11: door 'ssh': duplicate door name (first at 3:5)" <<'EOF'
prefix: "KNOCK "
doors:
  - {name: ssh, sequence: [tcp/1], open: [tcp/22]}
  - name: ssh
    sequence: [tcp/2]
    open: [tcp/22]
EOF

check_error "bad tcp_flags" \
	"6:16: door 'ssh': tcp_flags: bad flag 'BOGUS': expected any, or FIN SYN RST PSH ACK URG ECE CWR separated by commas, '!' before a flag that must be clear, each flag once" <<'EOF'
prefix: "KNOCK "
doors:
  - name: ssh
    sequence: [tcp/7000]
    open: [tcp/22]
    tcp_flags: BOGUS
EOF

check_error "unknown placeholder in a command template" \
	"4:28: applier: close: unknown placeholder '%HOST%' (known: %IP% %PROTO% %PORT% %DOOR% %FAMILY% %SECONDS% %VIA% %TO% %TOPORT% %MASQ% %KEEP%)" <<'EOF'
applier:
  backend: command
  open: [/sbin/x, "%IP%"]
  close: [/sbin/x, "%IP%", "%HOST%"]
prefix: "KNOCK "
doors:
  - {name: ssh, sequence: [tcp/7000], open: [tcp/22]}
EOF

check_error "relative file source" \
	"2:11: source #1: file: expected an absolute path, or \"-\" (quoted) for standard input" <<'EOF'
sources:
  - file: kern.log
prefix: "KNOCK "
doors:
  - {name: ssh, sequence: [tcp/7000], open: [tcp/22]}
EOF

check_error "a user that does not exist here (the start would stop)" \
	"5:7: user: no such user on this machine" <<'EOF'
sources:
  - file: /var/log/kern.log
prefix: "KNOCK "
applier: {backend: log}
user: nobody-xyz-logknock
doors:
  - {name: ssh, sequence: [tcp/7000], open: [tcp/22]}
EOF

check_error "user: root" "1:7: user: is root; name an unprivileged user" <<'EOF'
user: root
sources:
  - file: /var/log/kern.log
prefix: "KNOCK "
doors:
  - {name: ssh, sequence: [tcp/7000], open: [tcp/22]}
EOF

# printf, so that the tab cannot be lost to an editor; no pipe, as the right
# side of one would count its test in a subshell
printf 'prefix: "KNOCK "\ndoors:\n\t- {name: ssh, sequence: [tcp/7000], open: [tcp/22]}\n' >"$tmp/tab.yaml"
check_error "YAML syntax error (a tab), from libyaml" \
	"3:1: found character that cannot start any token (while scanning for the next token at 3:1)" \
	<"$tmp/tab.yaml"

check_error "empty file" "1:1: expected a mapping at the top level" </dev/null

check_error "missing doors, at the top-level mapping" "1:1: missing 'doors'" <<'EOF'
prefix: "KNOCK "
EOF

run_check "missing file: FILE: cannot open" "$tmp/nonexistent.yaml" 2 \
	"$tmp/nonexistent.yaml: cannot open: No such file or directory"

echo "1..$n"
[ "$failed" -eq 0 ]
