#!/bin/sh
# The whole corpus replayed under valgrind (memcheck, the applier included):
# no error and no leak in any of the real kernel lines.
. "${top_srcdir:-$(dirname "$0")/..}/t/lib.sh"
need_binaries
corpus=${LOGKNOCK_CORPUS:-$top_srcdir/../shared/corpus}
[ -d "$corpus" ] || skip_all "corpus not found at $corpus (set LOGKNOCK_CORPUS)"
command -v valgrind >/dev/null 2>&1 || skip_all "valgrind is not installed"
# A sanitizer build cannot run under valgrind.
if nm "$LOGKNOCKD" 2>/dev/null | grep -q __asan_init; then
	skip_all "this build uses AddressSanitizer, which valgrind cannot run"
fi
plan 4

# Every corpus line in one log, with the prefixes its files use.
find "$corpus" -type f ! -name 'LICENSE*' ! -name '*.md' ! -name '*json*' -exec cat {} + >"$TMP/all.log"
cat >"$TMP/conf.yaml" <<EOF
prefix: ["KNOCK ", "KNOCK-SEQ ", "nft-knock ", "KNOCK", "DROP ", "DROP INVALID ", "DROP: ", "ICMP "]
doors:
  - name: ssh
    sequence: [tcp/7000, tcp/8000, tcp/9000]
    open: [tcp/22]
  - name: scan
    sequence: [tcp/1025]
    open: [tcp/2222]
EOF
vg() { # vg LOG: replays LOG under valgrind; its report in $TMP/vg.*
	valgrind -q --trace-children=yes --leak-check=full --show-leak-kinds=definite,indirect \
		--errors-for-leak-kinds=definite,indirect --error-exitcode=99 --log-file="$TMP/vg.%p" \
		"$LOGKNOCKD" -q -c "$TMP/conf.yaml" --replay "$1" >"$TMP/out" 2>"$TMP/err"
}
vg "$TMP/all.log"
rc=$?
check "replay of $(wc -l <"$TMP/all.log") corpus lines under valgrind: exit 0" [ $rc -eq 0 ]
check "no memory error or leak in logknockd or logknock-apply" sh -c "! grep -l . '$TMP'/vg.* >/dev/null 2>&1"
check "the replay found knocks and opened doors" grep -q '"event":"open"' "$TMP/out"
# The journal's JSON form too (its own parser path).
vg "$corpus/kernel-formats/journal-json.txt"
check "journalctl -o json replay under valgrind: exit 0, no error or leak" \
	sh -c "[ $? -eq 0 ] && ! grep -l . '$TMP'/vg.* >/dev/null 2>&1"
if [ $tap_failed -gt 0 ]; then
	cat "$TMP"/vg.* 2>/dev/null | head -40 | diag
	diag "$TMP/err"
fi
done_testing
