#!/bin/sh
# Replay: logs in, JSON decisions out, exactly as the fixtures say.
. "${top_srcdir:-$(dirname "$0")/..}/t/lib.sh"
need_binaries
F=$top_srcdir/t/fixtures/replay
fixtures=$(cd "$F" && ls *.yaml | sed 's/\.yaml$//')
plan $(($(echo "$fixtures" | wc -w) + 17))

# 1. Every fixture: NAME.log through NAME.yaml gives exactly NAME.expected.
for name in $fixtures; do
	fixed_copy "$F/$name.log" "$TMP/$name.log"
	args=$(cat "$F/$name.args" 2>/dev/null)
	# shellcheck disable=SC2086
	"$LOGKNOCKD" -q -c "$F/$name.yaml" --replay "$TMP/$name.log" $args >"$TMP/$name.out" 2>"$TMP/$name.err"
	rc=$?
	if [ $rc -ne 0 ]; then
		fail "fixture $name: exit $rc"
		diag "$TMP/$name.err"
	else
		same "fixture $name: output as expected" "$F/$name.expected" "$TMP/$name.out"
	fi
done

# 2. The shipped configuration and sample log: knocks recognised, doors opened and closed.
fixed_copy "$top_srcdir/conf/sample-kern.log" "$TMP/sample.log"
"$LOGKNOCKD" -c "$top_srcdir/conf/logknockd.yaml" --replay "$TMP/sample.log" --print-events \
	>"$TMP/sample.out" 2>"$TMP/sample.err"
check "sample: exit 0" [ $? -eq 0 ]
same "sample: output as expected" "$F/../sample.expected" "$TMP/sample.out"
check "sample: summary line on stderr" \
	grep -Eq '^logknockd: replay: 18 lines, 14 knocks, 0 skipped, 2 opened, 0 extended, 2 closed in [0-9.]+ s \([0-9]+ lines/s\)$' "$TMP/sample.err"
# The applier subprocess (log backend) saw every change, in order.
grep '^logknock-apply: log: ' "$TMP/sample.err" | sed 's/^logknock-apply: log: //' >"$TMP/apply.out"
printf '%s\n' 'open 1 inet 192.0.2.2 tcp 22 30 ssh' 'open 2 inet6 2001:db8::2 tcp 443 60 web' \
	'close 1 inet 192.0.2.2 tcp 22 ssh' 'close 2 inet6 2001:db8::2 tcp 443 web' >"$TMP/apply.want"
same "sample: the applier got open and close requests" "$TMP/apply.want" "$TMP/apply.out"

# 3. Without --print-events only decisions are printed.
"$LOGKNOCKD" -q -c "$top_srcdir/conf/logknockd.yaml" --replay "$TMP/sample.log" >"$TMP/dec.out" 2>/dev/null
grep -v '"event":"knock"' "$TMP/sample.out" >"$TMP/dec.want"
same "decisions only without --print-events" "$TMP/dec.want" "$TMP/dec.out"

# 4. stdin: same decisions (the clock comes from the lines).
"$LOGKNOCKD" -q -c "$top_srcdir/conf/logknockd.yaml" --replay - <"$TMP/sample.log" >"$TMP/stdin.out" 2>/dev/null
same "replay from stdin" "$TMP/dec.want" "$TMP/stdin.out"

# 4b. -v: every knock and decision, no steps; -v -v: the steps as well.
"$LOGKNOCKD" -v -c "$top_srcdir/conf/logknockd.yaml" --replay "$TMP/sample.log" >/dev/null 2>"$TMP/v1.err"
"$LOGKNOCKD" -v -v -c "$top_srcdir/conf/logknockd.yaml" --replay "$TMP/sample.log" >/dev/null 2>"$TMP/v2.err"
check "-v shows knocks and opens but no steps; -v -v adds the steps" sh -c "
	grep -q '^logknockd: knock .* tcp/7000 from 192.0.2.2' '$TMP/v1.err' &&
	grep -q '^logknockd: door ssh: opened tcp/22 for 192.0.2.2' '$TMP/v1.err' &&
	! grep -q '(step [0-9]* of' '$TMP/v1.err' &&
	grep -q '^logknockd: door ssh: 192.0.2.2 advanced (step 2 of 3)' '$TMP/v2.err'"

# 4c. The counts: every line is a line, an overlong one is skipped too.
{ head -c 10000000 /dev/zero | tr '\0' a; echo; echo "not a knock"; head -c 9000 /dev/zero | tr '\0' b; } >"$TMP/long.log"
"$LOGKNOCKD" -c "$top_srcdir/conf/logknockd.yaml" --replay "$TMP/long.log" >/dev/null 2>"$TMP/long.err"
check "counts: a 10 MB line, an other line and an overlong last line are 3 lines, 2 skipped" \
	grep -q '^logknockd: replay: 3 lines, 0 knocks, 2 skipped,' "$TMP/long.err"

# 5. Hostile and broken lines: a clear message each, skipped, the rest still counts.
{
	printf 'Nov 26 14:47:30 vm kernel: KNOCK IN=e OUT= MAC= SRC=192.0.2.9 DST=192.0.2.1 LEN=60 TOS=0x00 PREC=0x00 TTL=64 ID=1 DF PROTO=TCP SPT=1 DPT=99999 WINDOW=64240 RES=0x00 SYN URGP=0 \n'
	printf 'Nov 26 14:47:30 vm kernel: KNOCK IN=e OUT= MAC= SRC=192.0.2.300 DST=192.0.2.1 LEN=60 TOS=0x00 PREC=0x00 TTL=64 ID=1 DF PROTO=TCP SPT=1 DPT=7000 WINDOW=64240 RES=0x00 SYN URGP=0 \n'
	printf 'Nov 26 14:47:30 vm evil: KNOCK IN=e OUT= MAC= SRC=192.0.2.66 DST=192.0.2.1 LEN=60 TOS=0x00 PREC=0x00 TTL=64 ID=1 DF PROTO=TCP SPT=1 DPT=7000 WINDOW=64240 RES=0x00 SYN URGP=0 \n'
	head -c 20000 /dev/zero | tr '\0' 'A'; printf '\n'
	printf '\001\002\377\376 binary junk \033[31m\n'
	sed -n '4,6p' "$TMP/sample.log"
} >"$TMP/bad.log"
fixed_copy "$TMP/bad.log" "$TMP/bad2.log"
"$LOGKNOCKD" -c "$top_srcdir/conf/logknockd.yaml" --replay "$TMP/bad2.log" >"$TMP/bad.out" 2>"$TMP/bad.err"
check "hostile lines: exit 0" [ $? -eq 0 ]
check "hostile lines: port out of range named with FILE:LINE" \
	grep -q "^logknockd: warning: $TMP/bad2.log:1: skipped: not the kernel's log format at byte [0-9]*: bad or missing DPT=" "$TMP/bad.err"
check "hostile lines: bad address named with FILE:LINE" \
	grep -q "^logknockd: warning: $TMP/bad2.log:2: skipped: not the kernel's log format at byte [0-9]*: bad or missing SRC=" "$TMP/bad.err"
check "hostile lines: overlong line skipped with a warning" \
	grep -q "^logknockd: warning: $TMP/bad2.log:4: skipped: line longer than 8192 bytes" "$TMP/bad.err"
check "hostile lines: a non-kernel tag opens nothing; the real sequence opens once" \
	sh -c "grep -c '\"event\":\"open\"' '$TMP/bad.out' | grep -qx 1 && ! grep -q 192.0.2.66 '$TMP/bad.out'"

# 6. Errors: a missing file and a bad option.
"$LOGKNOCKD" -q -c "$top_srcdir/conf/logknockd.yaml" --replay "$TMP/nonexistent" >/dev/null 2>"$TMP/nf.err"
check "missing replay file: exit 1 with its name" sh -c "[ $? -eq 1 ] && grep -q 'nonexistent: cannot open' '$TMP/nf.err'"
"$LOGKNOCKD" --bogus >/dev/null 2>&1
check "unknown option: exit 2" [ $? -eq 2 ]
"$LOGKNOCKD" -c "$top_srcdir/conf/logknockd.yaml" --replay "$TMP/sample.log" --format xml >/dev/null 2>&1
check "bad --format: exit 2" [ $? -eq 2 ]

# 7. The applier must be there: a replay whose applier cannot start fails loudly.
LOGKNOCK_APPLY=/nonexistent/logknock-apply "$LOGKNOCKD" -q -c "$F/dedup.yaml" --replay "$TMP/sample.log" \
	>/dev/null 2>"$TMP/na.err"
check "missing applier: exit 1 naming it" \
	sh -c "[ $? -eq 1 ] && grep -q '/nonexistent/logknock-apply' '$TMP/na.err'"
done_testing
