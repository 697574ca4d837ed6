# lib.sh — TAP helpers for the shell tests. Source it; call plan, then ok/fail.
# Every test gets its own temporary directory, removed on exit.
: "${top_srcdir:=$(cd "$(dirname "$0")/.." && pwd)}"
: "${top_builddir:=$top_srcdir}"
: "${LOGKNOCKD:=$top_builddir/src/logknockd}"
: "${LOGKNOCK_APPLY:=$top_builddir/src/logknock-apply}"
export LOGKNOCKD LOGKNOCK_APPLY TZ=UTC LC_ALL=C

tap_n=0
tap_failed=0
TMP=$(mktemp -d "${TMPDIR:-/tmp}/logknock-t.XXXXXX") || exit 1
trap 'rm -rf "$TMP"' EXIT
trap 'exit 1' INT TERM HUP

plan() { echo "1..$1"; }
skip_all() { echo "1..0 # SKIP $*"; exit 0; }
ok() { tap_n=$((tap_n + 1)); echo "ok $tap_n - $*"; }
fail() { tap_n=$((tap_n + 1)); tap_failed=$((tap_failed + 1)); echo "not ok $tap_n - $*"; }
diag() { sed 's/^/# /' "$@"; }

# check DESC COMMAND...: ok when COMMAND succeeds.
check() {
	desc=$1
	shift
	if "$@"; then ok "$desc"; else fail "$desc"; fi
}

# same DESC EXPECTED-FILE ACTUAL-FILE: ok when the files are identical; the diff otherwise.
same() {
	if cmp -s "$2" "$3"; then
		ok "$1"
	else
		fail "$1"
		diff -u "$2" "$3" | head -40 | diag
	fi
}

# A copy of a log whose mtime (the reference time of year-less stamps) is fixed.
fixed_copy() {
	cp "$1" "$2" && touch -d '2026-11-27 00:00:00 UTC' "$2"
}

need_binaries() {
	[ -x "$LOGKNOCKD" ] || skip_all "logknockd not built ($LOGKNOCKD)"
	[ -x "$LOGKNOCK_APPLY" ] || skip_all "logknock-apply not built ($LOGKNOCK_APPLY)"
}

done_testing() { exit $((tap_failed > 0)); }
