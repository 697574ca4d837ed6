#!/bin/sh
# A flood of spoofed first knocks (random IPv6 sources, 20,000 SYNs a
# second, long enough to fill max_sources and force evictions) while a
# legitimate client knocks over and over: every legitimate knock must open
# its port, and the daemon's memory stays bounded. The measuring harness is
# bench/flood (figures for knockd next to logknockd live in bench/README.md);
# here it runs short and for logknockd only, and only correctness is judged.
. "${top_srcdir:-$(dirname "$0")/..}/t/lib.sh"
need_binaries
[ "$(id -u)" -eq 0 ] || skip_all "needs root (network namespaces, nftables, /dev/kmsg)"
command -v python3 >/dev/null 2>&1 || skip_all "python3 is needed by bench/flood"
command -v cc >/dev/null 2>&1 || skip_all "cc is needed to build the packet sender"
plan 3
. "$top_srcdir/t/netns.sh"
kernel_log_lock -x

"$top_srcdir/bench/flood" --seconds 8 --contenders logknockd --no-meter >"$TMP/out" 2>"$TMP/err"
rc=$?
if [ $rc -eq 2 ] || grep -q "^SKIP" "$TMP/err"; then
	skip_all "bench/flood could not set up: $(tail -1 "$TMP/err")"
fi
check "the flood ran (exit 0)" [ $rc -eq 0 ]
row=$(grep '| logknockd |' "$TMP/out" | head -1)
opened=$(echo "$row" | sed -n 's/^| logknockd | \([0-9][0-9]*\) of \([0-9][0-9]*\) .*/\1 \2/p')
set -- $opened
check "every legitimate knock opened its port under the flood (${1:-?} of ${2:-?})" \
	sh -c "[ -n '${1:-}' ] && [ '${1:-}' -ge 3 ] && [ '${1:-}' = '${2:-}' ]"
rss=$(echo "$row" | sed -n 's/.*| \([0-9.]*\) MB + .*/\1/p')
if nm "$LOGKNOCKD" 2>/dev/null | grep -q __asan_init; then
	ok "the daemon's memory stayed bounded # SKIP an AddressSanitizer build's RSS says nothing"
else
	check "the daemon's memory stayed bounded (max RSS ${rss:-?} MB, under 64 MB)" \
		sh -c "[ -n '$rss' ] && awk 'BEGIN { exit !($rss < 64) }'"
fi
if [ $tap_failed -gt 0 ]; then
	diag "$TMP/out"
	tail -20 "$TMP/err" | diag
fi
done_testing
