#!/bin/sh
# fuzz-regressions.sh — every input under fuzz/regressions/TARGET/ and
# fuzz/seeds/TARGET/ through the fuzz target's entry point, built without
# libFuzzer (fuzz/standalone.c supplies main()). A crash, a sanitizer
# report or a broken invariant (abort) fails the target's test point.
#
# The replay programs are $top_builddir/fuzz/replay-TARGET when the build
# made them (check_PROGRAMS); otherwise this test compiles them itself with
# $CC (default cc) into its temporary directory, with ASan and UBSan when
# the compiler has them, and SKIPs when it cannot compile.
. "${top_srcdir:-$(cd "$(dirname "$0")/.." && pwd)}/t/lib.sh"

fz=$top_srcdir/fuzz
[ -f "$fz/standalone.c" ] || skip_all "no fuzz/ directory"

. "$fz/sources.sh"
targets=$fuzz_targets

need_build=
for t in $targets; do
	[ -x "$top_builddir/fuzz/replay-$t" ] || need_build=1
done

bin=$top_builddir/fuzz
if [ -n "$need_build" ]; then
	bin=$TMP/bin
	mkdir -p "$bin" "$TMP/obj/common" "$TMP/obj/daemon" "$TMP/obj/apply"
	cc=${CC:-cc}
	pc=$(pkg-config --cflags --libs yaml-0.1 libpcre2-8 libsystemd libsodium 2>/dev/null) ||
		skip_all "pkg-config cannot find yaml-0.1, libpcre2-8, libsystemd, libsodium"
	base="-g -O1 -std=c11 -D_GNU_SOURCE $(fuzz_includes "$top_srcdir") -I$fz"
	san="-fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer"
	echo 'int main(void){return 0;}' >"$TMP/probe.c"
	# shellcheck disable=SC2086
	$cc $base $san -o "$TMP/probe" "$TMP/probe.c" 2>/dev/null && "$TMP/probe" 2>/dev/null || san=
	[ -n "$san" ] || echo "# no ASan/UBSan with $cc: replaying without sanitizers"
	# Each source once, then one link per target.
	for s in $(for t in $targets; do fuzz_sources "$t"; done | tr ' ' '\n' | sort -u) standalone.c; do
		src=$top_srcdir/src/$s
		[ "$s" = standalone.c ] && src=$fz/$s
		# shellcheck disable=SC2086
		$cc $base $san $pc -c -o "$TMP/obj/$s.o" "$src" 2>"$TMP/cc.err" ||
			{ diag "$TMP/cc.err"; skip_all "$cc cannot compile $s"; }
	done
	for t in $targets; do
		objs="$TMP/obj/standalone.c.o"
		for s in $(fuzz_sources "$t"); do objs="$objs $TMP/obj/$s.o"; done
		# shellcheck disable=SC2086
		$cc $base $san -o "$bin/replay-$t" "$fz/fuzz-$t.c" $objs $pc 2>"$TMP/cc.err" ||
			{ diag "$TMP/cc.err"; skip_all "$cc cannot build fuzz-$t"; }
	done
fi

set -- $targets
plan $#
export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1}:abort_on_error=1"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1}:halt_on_error=1"
for t in $targets; do
	n=0 bad=
	for f in "$fz/regressions/$t"/* "$fz/seeds/$t"/*; do
		[ -f "$f" ] || continue
		n=$((n + 1))
		if ! "$bin/replay-$t" "$f" >"$TMP/out" 2>&1; then
			bad="$bad ${f#"$top_srcdir"/}"
			sed -n '1,30p' "$TMP/out" | diag
		fi
	done
	if [ -z "$bad" ]; then ok "fuzz-$t: $n inputs replayed"; else
		fail "fuzz-$t: crashed on$bad"
	fi
done
done_testing
