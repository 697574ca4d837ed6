#!/bin/sh
# static-analysis.sh — cppcheck and clang-tidy over src/*/*.c, one TAP point
# each; a tool that is missing is a SKIP. Configuration: .clang-tidy (checks
# and why some are off) and t/cppcheck-suppressions.txt (false positives).
# LOGKNOCK_STATIC_ANALYSIS=0 skips both (e.g. for a quick make check);
# CPPCHECK and CLANG_TIDY name the programs.
. "${top_srcdir:-$(cd "$(dirname "$0")/.." && pwd)}/t/lib.sh"

[ "${LOGKNOCK_STATIC_ANALYSIS:-1}" = 0 ] && skip_all "LOGKNOCK_STATIC_ANALYSIS=0"
plan 2
cd "$top_srcdir" || exit 1

# The project's flags (Makefile.am's AM_CPPFLAGS, configure's pkg-config),
# one argument a line.
{
	echo -std=c11
	echo -D_GNU_SOURCE
	for d in common daemon apply; do echo "-Isrc/$d"; done
	echo '-DPACKAGE_VERSION="0"'
	echo '-DLOGKNOCK_SYSCONFDIR="/etc/logknock"'
	echo '-DLOGKNOCK_LIBEXECDIR="/usr/libexec/logknock"'
	echo '-DLOGKNOCK_STATEDIR="/var/lib/logknock"'
	for m in yaml-0.1 libpcre2-8 libsystemd libnftables; do
		pkg-config --cflags "$m" 2>/dev/null | tr ' ' '\n'
	done
} | grep -v '^$' >"$TMP/flags"

find_tool() {
	for t in "$@"; do
		command -v "$t" >/dev/null 2>&1 && { command -v "$t"; return 0; }
	done
	return 1
}

# ---- cppcheck ---------------------------------------------------------------
if cppcheck=$(find_tool ${CPPCHECK:-cppcheck}); then
	# (cppcheck takes -D and -I; the others are for the compiler)
	grep -E '^-[DI]' "$TMP/flags" | tr '\n' '\0' |
		xargs -0 "$cppcheck" --quiet --enable=warning,performance,portability --error-exitcode=1 \
			--inline-suppr --suppressions-list=t/cppcheck-suppressions.txt --std=c11 src/ \
			>"$TMP/cppcheck" 2>&1
	if [ $? -eq 0 ]; then ok "cppcheck: no findings"; else
		fail "cppcheck: no findings"
		diag "$TMP/cppcheck"
	fi
else
	ok "# SKIP cppcheck not found (Debian package cppcheck)"
fi

# ---- clang-tidy ---------------------------------------------------------------
if tidy=$(find_tool ${CLANG_TIDY:-clang-tidy clang-tidy-16 clang-tidy-15 clang-tidy-14}); then
	jobs=$(nproc 2>/dev/null || echo 1)
	# One file per process, in parallel; .clang-tidy is found from each
	# file's directory. The wrapper passes the flags file's lines as arguments.
	mkdir "$TMP/tidy.d"
	cat >"$TMP/tidy1" <<'EOS'
#!/bin/sh
# tidy1 CLANG-TIDY FLAGS-FILE OUT-DIR SOURCE
tidy=$1 flags=$2 out=$3/$(basename "$4").out file=$4
set --
while IFS= read -r a; do set -- "$@" "$a"; done <"$flags"
"$tidy" --quiet "$file" -- "$@" >"$out" 2>&1
EOS
	ls src/*/*.c | xargs -n 1 -P "$jobs" sh "$TMP/tidy1" "$tidy" "$TMP/flags" "$TMP/tidy.d"
	cat "$TMP"/tidy.d/*.out >"$TMP/tidy"
	if grep -q -E ': (warning|error): ' "$TMP/tidy"; then
		fail "clang-tidy: no findings"
		grep -E ': (warning|error): ' "$TMP/tidy" | sed "s|$top_srcdir/||" >"$TMP/tidy.short"
		diag "$TMP/tidy.short"
	else
		ok "clang-tidy: no findings"
	fi
else
	ok "# SKIP clang-tidy not found (Debian package clang-tidy)"
fi
done_testing
