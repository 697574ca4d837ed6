#!/bin/sh
# layout.sh — each program holds only its own folder's code and common/'s
# (src/README.md). With nm, on the built binaries: logknock-apply (root)
# defines nothing of libdaemon.a (no parser, doors, engine, sources) and
# calls no PCRE2, no journal reader, no event loop; the client and
# logknockctl define nothing of libdaemon.a nor of libapply.a (no firewall
# backend), and logknockd nothing of libapply.a. With ldd: logknock-apply
# loads no libpcre2 and no libsodium (the knock codes are the daemon's and
# the client's). A static library brings in only the objects a program
# calls, so a wrong call or a wrong LDADD line in Makefile.am shows here.
. "${top_srcdir:-$(dirname "$0")/..}/t/lib.sh"
: "${LOGKNOCKCTL:=$top_builddir/src/logknockctl}"
: "${LOGKNOCK:=$top_builddir/src/logknock}"
LIBDAEMON=$top_builddir/src/daemon/libdaemon.a
LIBAPPLY=$top_builddir/src/apply/libapply.a

command -v nm >/dev/null 2>&1 || skip_all "no nm (Debian package binutils)"
for f in "$LOGKNOCKD" "$LOGKNOCK_APPLY" "$LOGKNOCK" "$LOGKNOCKCTL" "$LIBDAEMON" "$LIBAPPLY"; do
	[ -r "$f" ] || skip_all "$f not built"
done
plan 11

# defined FILE: the global symbols FILE defines (functions and data), sorted.
defined() {
	nm -g --defined-only "$1" 2>/dev/null | awk 'NF == 3 && $2 ~ /^[TDBRCV]$/ {print $3}' | sort -u
}
# undefined FILE: the symbols FILE takes from shared libraries, without @version.
undefined() {
	nm -u "$1" 2>/dev/null | awk '{print $NF}' | sed 's/@.*//' | sort -u
}
defined "$LIBDAEMON" >"$TMP/daemon.syms"
defined "$LIBAPPLY" >"$TMP/apply.syms"
# nm that reads nothing would pass every check below.
if [ "$(wc -l <"$TMP/daemon.syms")" -gt 50 ] && grep -qx parse_line "$TMP/daemon.syms" &&
	grep -qx apply_backend_nft "$TMP/apply.syms"; then
	ok "nm reads libdaemon.a and libapply.a ($(wc -l <"$TMP/daemon.syms") and $(wc -l <"$TMP/apply.syms") symbols)"
else
	fail "nm reads libdaemon.a and libapply.a"
fi

# none_of DESC BINARY SYMS: ok when BINARY defines none of the symbols in SYMS.
none_of() {
	defined "$2" >"$TMP/bin.syms"
	comm -12 "$TMP/bin.syms" "$3" >"$TMP/both"
	if [ -s "$TMP/bin.syms" ] && [ ! -s "$TMP/both" ]; then
		ok "$1"
	else
		fail "$1"
		[ -s "$TMP/bin.syms" ] || echo "# nm found no symbol in $2"
		head -20 "$TMP/both" | diag
	fi
}
none_of "logknock-apply holds no daemon code (libdaemon.a)" "$LOGKNOCK_APPLY" "$TMP/daemon.syms"
none_of "logknock holds no daemon code" "$LOGKNOCK" "$TMP/daemon.syms"
none_of "logknock holds no applier backend (libapply.a)" "$LOGKNOCK" "$TMP/apply.syms"
none_of "logknockctl holds no daemon code" "$LOGKNOCKCTL" "$TMP/daemon.syms"
none_of "logknockctl holds no applier backend" "$LOGKNOCKCTL" "$TMP/apply.syms"
none_of "logknockd holds no applier backend" "$LOGKNOCKD" "$TMP/apply.syms"

# Names, besides the libraries' own: what the daemon's jobs call in
# shared libraries (PCRE2 for patterns, sd_journal_* but the send/print
# calls of log.c for the journal source, sd_event_* for the loop) and the
# prefixes of the daemon's files.
undefined "$LOGKNOCK_APPLY" >"$TMP/apply.u"
defined "$LOGKNOCK_APPLY" >"$TMP/apply.d"
grep -E '^(pcre2_|sd_event_|sd_journal_)' "$TMP/apply.u" | grep -vE '^sd_journal_(send|print)' >"$TMP/bad.u"
if [ ! -s "$TMP/bad.u" ]; then
	ok "logknock-apply calls no PCRE2, sd-event or journal reader"
else
	fail "logknock-apply calls no PCRE2, sd-event or journal reader"
	head -20 "$TMP/bad.u" | diag
fi
grep -E '^(parse_|doors?_|engine_|source_|grants_|spent_|applier_|fleet_|control_|metrics_|state_|daemon_|knockd_import|kc_|onetime_)' \
	"$TMP/apply.d" >"$TMP/bad.d"
if [ ! -s "$TMP/bad.d" ]; then
	ok "logknock-apply defines no parse_, doors_, engine_, source_, grants_, kc_... function"
else
	fail "logknock-apply defines no parse_, doors_, engine_, source_, grants_, kc_... function"
	head -20 "$TMP/bad.d" | diag
fi
undefined "$LOGKNOCKCTL" >"$TMP/ctl.u"
if ! grep -qE '^(pcre2_|sd_|yaml_|crypto_|sodium_|nft_)' "$TMP/ctl.u"; then
	ok "logknockctl calls no PCRE2, systemd, libyaml, libsodium or libnftables"
else
	fail "logknockctl calls no PCRE2, systemd, libyaml, libsodium or libnftables"
	grep -E '^(pcre2_|sd_|yaml_|crypto_|sodium_|nft_)' "$TMP/ctl.u" | head | diag
fi

# ldd: what the dynamic loader maps, the link line's --as-needed included.
if command -v ldd >/dev/null 2>&1 && ldd "$LOGKNOCK_APPLY" >"$TMP/ldd" 2>&1 && grep -q 'libc\.so' "$TMP/ldd"; then
	if ! grep -qE 'libpcre2|libsodium' "$TMP/ldd"; then
		ok "ldd: logknock-apply loads no libpcre2 and no libsodium"
	else
		fail "ldd: logknock-apply loads no libpcre2 and no libsodium"
		diag "$TMP/ldd"
	fi
else
	ok "# SKIP ldd cannot read $LOGKNOCK_APPLY (no ldd, or a static or foreign binary)"
fi
done_testing
