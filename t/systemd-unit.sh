#!/bin/sh
# systemd-unit.sh — the systemd files in systemd/ are valid, and the unit's
# sandbox keeps "systemd-analyze security" at an exposure of 2.0 or less.
# Needs systemd-analyze (Debian: systemd); no systemd as PID 1, no root.
. "$(dirname "$0")/lib.sh"

SD=$top_srcdir/systemd
MAX_EXPOSURE=2.0
command -v systemd-analyze >/dev/null 2>&1 || skip_all "no systemd-analyze (Debian package systemd)"
[ -f "$SD/logknockd.service.in" ] || skip_all "no $SD/logknockd.service.in"

plan 11

# The substitution Makefile.am makes (the same sed, other values).
subst() { # subst SBINDIR SYSCONFDIR < logknockd.service.in
	sed -e "s|@sbindir[@]|$1|g" -e "s|@sysconfdir[@]|$2|g"
}
mkdir -p "$TMP/unit" "$TMP/verify"
subst /usr/sbin /etc <"$SD/logknockd.service.in" >"$TMP/unit/logknockd.service"
if grep -n '@[a-z_]*@' "$TMP/unit/logknockd.service" >"$TMP/left" 2>&1; then
	fail "every @placeholder@ of the unit is substituted"
	diag "$TMP/left"
else
	ok "every @placeholder@ of the unit is substituted"
fi

# verify checks that the programs exist: point @sbindir@ at the build tree.
# A unit that make built (systemd/logknockd.service) is checked as well.
LOGKNOCKD_DIR=$(dirname "$LOGKNOCKD")
if [ -x "$LOGKNOCKD" ] && [ -x /bin/kill ]; then
	subst "$LOGKNOCKD_DIR" "$TMP" <"$SD/logknockd.service.in" >"$TMP/verify/logknockd.service"
	out=$(systemd-analyze verify --man=no "$TMP/verify/logknockd.service" 2>&1)
	rc=$?
	if [ $rc = 0 ] && [ -z "$out" ]; then
		ok "systemd-analyze verify: no error, no warning"
	else
		fail "systemd-analyze verify (exit $rc)"
		echo "$out" | diag
	fi
else
	ok "# SKIP systemd-analyze verify: $LOGKNOCKD or /bin/kill missing"
fi
built=$top_builddir/systemd/logknockd.service
if [ -f "$built" ]; then
	if grep -q '@[a-z_]*@' "$built"; then fail "the unit make built has no placeholder left"
	else ok "the unit make built has no placeholder left"; fi
else
	ok "# SKIP no unit built by make ($built)"
fi

# Exposure: "→ Overall exposure level for logknockd.service: 1.2 OK 🙂"
systemd-analyze security --offline=true --no-pager "$TMP/unit/logknockd.service" >"$TMP/security" 2>&1
exposure=$(sed -n 's/.*Overall exposure level for logknockd\.service: \([0-9][0-9]*\.[0-9]\).*/\1/p' "$TMP/security")
if [ -z "$exposure" ]; then
	fail "systemd-analyze security --offline=true prints an exposure"
	tail -5 "$TMP/security" | diag
elif awk -v e="$exposure" -v m="$MAX_EXPOSURE" 'BEGIN { exit !(e + 0 <= m + 0) }'; then
	ok "security exposure $exposure <= $MAX_EXPOSURE"
else
	fail "security exposure $exposure <= $MAX_EXPOSURE"
	grep '✗' "$TMP/security" | diag
fi
# The choices that matter most for this daemon, spelled out.
unit=$TMP/unit/logknockd.service
check "Type=notify with NotifyAccess=main" \
	sh -c "grep -qx 'Type=notify' '$unit' && grep -qx 'NotifyAccess=main' '$unit'"
check "only CAP_NET_ADMIN, ambient and bounding" \
	sh -c "grep -qx 'AmbientCapabilities=CAP_NET_ADMIN' '$unit' && grep -qx 'CapabilityBoundingSet=CAP_NET_ADMIN' '$unit'"
check "User=logknock, never root" grep -qx 'User=logknock' "$unit"

# sysusers.d and tmpfiles.d: parsed and applied to an empty root.
ROOT=$TMP/root
mkdir -p "$ROOT/etc"
if command -v systemd-sysusers >/dev/null 2>&1; then
	if systemd-sysusers --dry-run --root="$ROOT" "$SD/logknock.sysusers" >"$TMP/sysusers.out" 2>&1; then
		ok "systemd-sysusers --dry-run accepts logknock.sysusers"
	else
		fail "systemd-sysusers --dry-run accepts logknock.sysusers"
		diag "$TMP/sysusers.out"
	fi
	systemd-sysusers --root="$ROOT" "$SD/logknock.sysusers" >"$TMP/sysusers.out" 2>&1
	pw=$(grep '^logknock:' "$ROOT/etc/passwd" 2>/dev/null)
	case $pw in
	logknock:x:*:*:*:/var/lib/logknock:*nologin) ok "user logknock: home /var/lib/logknock, no login shell" ;;
	*) fail "user logknock: home /var/lib/logknock, no login shell ($pw)"; diag "$TMP/sysusers.out" ;;
	esac
	if grep -q '^systemd-journal:.*[:,]logknock\(,\|$\)' "$ROOT/etc/group" &&
		grep -q '^adm:.*[:,]logknock\(,\|$\)' "$ROOT/etc/group"; then
		ok "logknock is a member of systemd-journal and adm"
	else
		fail "logknock is a member of systemd-journal and adm"
		diag "$ROOT/etc/group"
	fi
else
	ok "# SKIP no systemd-sysusers"
	ok "# SKIP no systemd-sysusers"
	ok "# SKIP no systemd-sysusers"
fi
# systemd-tmpfiles 252 has no --dry-run: --create into the root, whose
# passwd and group files sysusers just wrote (names resolve there).
if command -v systemd-tmpfiles >/dev/null 2>&1 && [ -f "$ROOT/etc/passwd" ]; then
	if systemd-tmpfiles --root="$ROOT" --create "$SD/logknock.tmpfiles" >"$TMP/tmpfiles.out" 2>&1; then
		uid=$(sed -n 's/^logknock:x:\([0-9]*\):.*/\1/p' "$ROOT/etc/passwd")
		adm=$(sed -n 's/^adm:x:\([0-9]*\):.*/\1/p' "$ROOT/etc/group")
		got="$(stat -c '%a %u:%g' "$ROOT/var/lib/logknock") $(stat -c '%a %u:%g' "$ROOT/var/log/logknock")"
		check "tmpfiles.d: /var/lib/logknock 700 logknock, /var/log/logknock 750 root:adm ($got)" \
			test "$got" = "700 $uid:$uid 750 0:$adm"
	else
		fail "systemd-tmpfiles --create accepts logknock.tmpfiles"
		diag "$TMP/tmpfiles.out"
	fi
else
	ok "# SKIP no systemd-tmpfiles, or no root from systemd-sysusers"
fi
done_testing
