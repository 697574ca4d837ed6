# deb.sh — the Debian package of this source tree, for the container tests.
# Source it after lib.sh.
#
#   deb_get    sets DEB (the .deb) and DEB_CHANGES (its .changes, empty when
#              not known): $LOGKNOCK_DEB when it names a file; otherwise
#              (unset, or "build") built with "dpkg-buildpackage -us -uc -b"
#              from a copy of the tree, once per content of the tree: the
#              result is kept in $LOGKNOCK_TEST_CACHE/deb/KEY (default
#              /var/cache/logknock-test), KEY the SHA-256 of a tar of the
#              tree's files (git's tracked and new unignored files in a git
#              checkout; elsewhere, with LOGKNOCK_DEB=build only, every file
#              under $top_srcdir). skip_all when dpkg-buildpackage or
#              debhelper is missing; a failed build is a failed test.

deb_get() {
	DEB=
	DEB_CHANGES=
	if [ -n "${LOGKNOCK_DEB:-}" ] && [ "$LOGKNOCK_DEB" != build ]; then
		[ -f "$LOGKNOCK_DEB" ] || skip_all "LOGKNOCK_DEB=$LOGKNOCK_DEB: no such file"
		DEB=$LOGKNOCK_DEB
		return 0
	fi
	for c in dpkg-buildpackage dh dh_installsysusers dh_autoreconf tar sha256sum; do
		command -v "$c" >/dev/null 2>&1 ||
			skip_all "no $c to build the package (apt-get install dpkg-dev debhelper; or set LOGKNOCK_DEB=FILE)"
	done
	[ -f "$top_srcdir/debian/control" ] || skip_all "no debian/ in $top_srcdir"
	dpkg-checkbuilddeps "$top_srcdir/debian/control" >"$TMP/builddeps.out" 2>&1 ||
		skip_all "build dependencies missing: $(tail -1 "$TMP/builddeps.out")"

	# The same bytes for the same files: names sorted, times and owners fixed.
	deb_tar="tar --sort=name --mtime=@0 --owner=0 --group=0 --numeric-owner"
	if git -C "$top_srcdir" rev-parse --show-toplevel >/dev/null 2>&1 &&
		[ "$(cd "$top_srcdir" && pwd -P)" = "$(git -C "$top_srcdir" rev-parse --show-toplevel)" ]; then
		(cd "$top_srcdir" && git ls-files -z -c -o --exclude-standard |
			$deb_tar --null --ignore-failed-read -T - -cf "$TMP/deb-src.tar" 2>/dev/null)
	elif [ "${LOGKNOCK_DEB:-}" = build ]; then
		# An unpacked tarball; _build and _inst are make distcheck's.
		$deb_tar -C "$top_srcdir" --exclude=./_build --exclude=./_inst -cf "$TMP/deb-src.tar" .
	else
		skip_all "$top_srcdir is not a git checkout (make distcheck?): set LOGKNOCK_DEB=build to build the package from it, or LOGKNOCK_DEB=FILE"
	fi || { echo "1..1"; fail "a copy of $top_srcdir to build the package from"; done_testing; }
	deb_key=$(sha256sum <"$TMP/deb-src.tar" | cut -c1-16)
	deb_cache=${LOGKNOCK_TEST_CACHE:-/var/cache/logknock-test}/deb
	deb_dir=$deb_cache/$deb_key
	if ! ls "$deb_dir"/logknock_*.changes >/dev/null 2>&1; then
		mkdir -p "$deb_cache" || skip_all "cannot create $deb_cache"
		deb_new=$deb_dir.new.$$
		rm -rf "$deb_new"
		# -m: the files get the time of now, not the tar's fixed one (lintian
		# refuses files older than 1975 in a package).
		mkdir -p "$deb_new/src" && tar -C "$deb_new/src" -m -xf "$TMP/deb-src.tar" || {
			rm -rf "$deb_new"
			skip_all "cannot unpack the tree into $deb_new"
		}
		echo "# building the package in $deb_new (once for this tree; later runs reuse it)"
		# Not the make of "make check" that runs this test: its MAKEFLAGS
		# carry the suite's own TEST_LOGS, and the package's build would
		# run the whole suite instead of its two tests.
		if ! (cd "$deb_new/src" && env -u MAKEFLAGS -u MFLAGS -u MAKELEVEL -u MAKEOVERRIDES \
			DEB_BUILD_OPTIONS="parallel=2" timeout 1800 \
			dpkg-buildpackage -us -uc -b) >"$TMP/deb-build.log" 2>&1; then
			echo "1..1"
			fail "dpkg-buildpackage -us -uc -b"
			tail -30 "$TMP/deb-build.log" | diag
			rm -rf "$deb_new"
			done_testing
		fi
		rm -rf "$deb_new/src"
		# Another run may have finished the same key meanwhile: the same bytes.
		mv -T "$deb_new" "$deb_dir" 2>/dev/null || rm -rf "$deb_new"
		# Packages of older trees, a day old and more.
		find "$deb_cache" -mindepth 1 -maxdepth 1 -type d ! -name "$deb_key" ! -name '*.new.*' \
			-mtime +0 -exec rm -rf {} + 2>/dev/null
	fi
	DEB_CHANGES=$(ls "$deb_dir"/logknock_*.changes 2>/dev/null | head -1)
	DEB=$(ls "$deb_dir"/logknock_*.deb 2>/dev/null | head -1)
	[ -f "$DEB" ] || { echo "1..1"; fail "a logknock_*.deb in $deb_dir"; done_testing; }
}
