# container.sh — a Debian bookworm booted with systemd-nspawn, for the tests
# of the unit and of the Debian package (t/systemd-nspawn.sh,
# t/debian-package.sh). Source it after lib.sh.
#
#   ct_require              skip_all unless root and the tools are there
#   ct_cache_root           the cached debootstrapped root (built once; skip_all
#                           when that fails)
#   ct_mount                an overlay of it on $ROOT: each run writes only there
#   ct_boot ARG...          boot $ROOT (ARG: more systemd-nspawn options); sets
#                           NSPAWN, LEADER and ct_state (running|degraded|...)
#   in_ct COMMAND...        run COMMAND inside the container, bounded
#   ct_poweroff             SIGRTMIN+4 to its systemd; true once nspawn is gone
#   ct_cleanup              power off (kill after 30 s) and unmount; call it
#                           from the test's EXIT trap
#
#   LOGKNOCK_TEST_CACHE     where the root is kept between runs (default
#                           /var/cache/logknock-test); a root that is present
#                           and complete is reused, never modified.
# The first run fetches about 40 MB from the Debian archive.

ct_require() {
	[ "$(id -u)" = 0 ] || skip_all "not root"
	for c in debootstrap systemd-nspawn nsenter mount umount timeout "$@"; do
		command -v "$c" >/dev/null 2>&1 || skip_all "no $c (apt-get install debootstrap systemd-container)"
	done
}

# procps: /bin/kill, which ExecReload= runs (every real Debian system has it).
CT_INCLUDE=systemd,systemd-sysv,dbus,nftables,iproute2,procps,libyaml-0-2,libpcre2-8-0,libnftables1,libsystemd0,libsodium23
CT_CACHE=${LOGKNOCK_TEST_CACHE:-/var/cache/logknock-test}/bookworm
CT_MARK=.logknock-test-root	# written last: its content says what the root holds
ct_cache_valid() {
	[ "$(cat "$CT_CACHE/$CT_MARK" 2>/dev/null)" = "bookworm minbase $CT_INCLUDE" ] &&
		[ -x "$CT_CACHE/usr/lib/systemd/systemd" ] && [ -x "$CT_CACHE/usr/sbin/nft" ]
}
ct_cache_root() {
	ct_cache_valid && return 0
	mkdir -p "${CT_CACHE%/*}" || skip_all "cannot create ${CT_CACHE%/*}"
	ct_new=$CT_CACHE.new.$$
	echo "# building $CT_CACHE with debootstrap (once; later runs reuse it)"
	if ! timeout 900 debootstrap --variant=minbase --include="$CT_INCLUDE" bookworm "$ct_new" \
		>"$TMP/debootstrap.log" 2>&1; then
		tail -5 "$TMP/debootstrap.log" | diag
		rm -rf "$ct_new"
		skip_all "debootstrap failed (is the Debian archive reachable?)"
	fi
	echo "bookworm minbase $CT_INCLUDE" >"$ct_new/$CT_MARK"
	rm -rf "$CT_CACHE.old.$$"
	[ -e "$CT_CACHE" ] && mv "$CT_CACHE" "$CT_CACHE.old.$$"
	mv "$ct_new" "$CT_CACHE" || { rm -rf "$ct_new"; skip_all "cannot move the new root to $CT_CACHE"; }
	rm -rf "$CT_CACHE.old.$$"
}

ROOT=$TMP/root
NSPAWN=
LEADER=
ct_state=
ct_mounted=
ct_mount() {
	mkdir -p "$ROOT" "$TMP/upper" "$TMP/work" || exit 1
	mount -t overlay logknock-test -o "lowerdir=$CT_CACHE,upperdir=$TMP/upper,workdir=$TMP/work" "$ROOT" ||
		skip_all "overlayfs does not work here"
	ct_mounted=1
}

ct_cleanup() {
	if [ -n "$LEADER" ] && kill -0 "$LEADER" 2>/dev/null; then
		kill -s RTMIN+4 "$LEADER" 2>/dev/null || kill -38 "$LEADER" 2>/dev/null	# systemd: poweroff
	fi
	if [ -n "$NSPAWN" ]; then
		ct_i=0
		while kill -0 "$NSPAWN" 2>/dev/null && [ $ct_i -lt 150 ]; do sleep 0.2; ct_i=$((ct_i + 1)); done
		if kill -0 "$NSPAWN" 2>/dev/null; then
			echo "# the container did not power off in 30 s: killed"
			[ -n "$LEADER" ] && kill -KILL "$LEADER" 2>/dev/null
			kill -KILL "$NSPAWN" 2>/dev/null
			sleep 0.5
		fi
	fi
	if [ -n "$ct_mounted" ]; then
		umount "$ROOT" 2>/dev/null || umount -l "$ROOT" 2>/dev/null
	fi
}

# The container's PID 1 as the host sees it: a descendant of nspawn whose
# PID in its own namespace is 1.
ct_find_leader() {
	for st in /proc/[0-9]*/status; do
		p=${st#/proc/}
		p=${p%/status}
		ns=$(sed -n 's/^NSpid:[[:space:]]*//p' "$st" 2>/dev/null)
		case $ns in *[[:space:]]1) ;; *) continue ;; esac
		a=$p
		for _ in 1 2 3 4; do
			a=$(sed -n 's/^PPid:[[:space:]]*//p' "/proc/$a/status" 2>/dev/null)
			[ -z "$a" ] && break
			[ "$a" = "$NSPAWN" ] && { echo "$p"; return 0; }
		done
	done
	return 1
}
in_ct() { # in_ct COMMAND...: run COMMAND inside the container, bounded
	timeout "${CT_TIMEOUT:-30}" nsenter -t "$LEADER" -m -u -i -n -p -C -r -w -- \
		env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin LC_ALL=C SYSTEMD_PAGER= SYSTEMD_COLORS=0 \
		DEBIAN_FRONTEND=noninteractive "$@"
}

# --register=no --keep-unit: no machined and no host systemd are needed.
# --console=read-only: the boot messages go to nspawn.log.
ct_boot() {
	setsid systemd-nspawn --boot --register=no --keep-unit --quiet --console=read-only \
		-D "$ROOT" "$@" </dev/null >"$TMP/nspawn.log" 2>&1 &
	NSPAWN=$!
	ct_i=0
	while [ $ct_i -lt 100 ] && kill -0 "$NSPAWN" 2>/dev/null; do
		LEADER=$(ct_find_leader) && break
		sleep 0.2
		ct_i=$((ct_i + 1))
	done
	ct_state=
	[ -n "$LEADER" ] || return 1
	ct_i=0
	while [ $ct_i -lt 120 ]; do
		ct_state=$(in_ct systemctl is-system-running 2>/dev/null)
		case $ct_state in running | degraded) return 0 ;; esac
		kill -0 "$NSPAWN" 2>/dev/null || break
		sleep 0.5
		ct_i=$((ct_i + 1))
	done
	return 1
}

ct_poweroff() {
	kill -s RTMIN+4 "$LEADER" 2>/dev/null || kill -38 "$LEADER" 2>/dev/null
	ct_i=0
	while kill -0 "$NSPAWN" 2>/dev/null && [ $ct_i -lt 150 ]; do sleep 0.2; ct_i=$((ct_i + 1)); done
	! kill -0 "$NSPAWN" 2>/dev/null
}
