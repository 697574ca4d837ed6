#!/bin/sh
# systemd-nspawn.sh — logknockd.service under a real systemd: a minimal
# Debian bookworm booted with systemd-nspawn in a network namespace of its
# own, logknock installed into it with "make install DESTDIR=" from a build
# configured with --prefix=/usr (or the Debian package, with apt), the unit
# started, reloaded and stopped with systemctl inside, knock lines appended
# to a log bound into the container, and a real TCP connection refused
# before the knock and let through after.
#
#   LOGKNOCK_DESTDIR_BUILD  a build directory configured with
#                           --prefix=/usr --sysconfdir=/etc --localstatedir=/var
#                           (required without LOGKNOCK_DEB; SKIP without either)
#   LOGKNOCK_DEB            FILE: install this .deb with apt instead;
#                           "build": build it first (t/deb.sh, cached per tree)
#   LOGKNOCK_TEST_CACHE     where the debootstrapped root is kept between runs
#                           (default /var/cache/logknock-test); a root that is
#                           present and complete is reused, never modified:
#                           each run boots an overlay of it.
#
# Needs root, debootstrap, systemd-nspawn (Debian: systemd-container),
# nsenter, overlayfs, ip and nft; the first run fetches about 40 MB from the
# Debian archive. Every wait is bounded; namespaces, mounts and the container
# are removed on exit, also on failure.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/netns.sh"
. "$top_srcdir/t/container.sh"
. "$top_srcdir/t/deb.sh"

ct_require ip nft
srcdir=$top_srcdir
[ -f "$srcdir/systemd/logknockd.service.in" ] || skip_all "no systemd/logknockd.service.in under $srcdir"
deb=0
if [ -n "${LOGKNOCK_DEB:-}" ]; then
	deb=1
	deb_get
else
	build=${LOGKNOCK_DESTDIR_BUILD:-}
	[ -n "$build" ] && [ -f "$build/Makefile" ] ||
		skip_all "set LOGKNOCK_DESTDIR_BUILD to a build configured with --prefix=/usr (or LOGKNOCK_DEB)"
fi
ct_cache_root

# ---- per-run things, removed on exit -------------------------------------------
LISTENER=
cleanup() {
	ct_cleanup
	[ -n "$LISTENER" ] && kill "$LISTENER" 2>/dev/null
	netns_cleanup
	rm -rf "$TMP"
}
trap cleanup EXIT

mkdir -p "$TMP/log" || exit 1
ct_mount

# ---- logknock into the root ----------------------------------------------------
if [ $deb = 1 ]; then
	# Installed with apt once the container runs, as an admin would.
	cp "$DEB" "$ROOT/root/logknock.deb" || exit 1
# AUTO*=: : the test installs what is built; it never regenerates the build
# system of the source tree.
elif ! make -C "$build" install DESTDIR="$ROOT" ACLOCAL=: AUTOCONF=: AUTOMAKE=: AUTOHEADER=: \
	>"$TMP/install.log" 2>&1; then
	tail -20 "$TMP/install.log" | diag
	echo "1..1"
	fail "make install DESTDIR= from $build"
	done_testing
elif ! [ -x "$ROOT/usr/sbin/logknockd" ] || ! [ -x "$ROOT/usr/libexec/logknock/logknock-apply" ]; then
	skip_all "set LOGKNOCK_DESTDIR_BUILD to a build configured with --prefix=/usr (and --libexecdir=/usr/libexec)"
fi

# The unit, sysusers.d and tmpfiles.d files: the installed ones when the
# build installs them, else from the source tree, substituted as Makefile.am
# does. The package puts the unit where Debian 12 keeps units.
unit=
if [ $deb = 1 ]; then
	unit=/lib/systemd/system/logknockd.service
else
	for d in usr/lib/systemd/system lib/systemd/system etc/systemd/system; do
		[ -f "$ROOT/$d/logknockd.service" ] && unit=/$d/logknockd.service
	done
	if [ -z "$unit" ]; then
		unit=/usr/lib/systemd/system/logknockd.service
		sed -e 's|@sbindir[@]|/usr/sbin|g' -e 's|@sysconfdir[@]|/etc|g' \
			"$srcdir/systemd/logknockd.service.in" >"$ROOT$unit"
	fi
	[ -f "$ROOT/usr/lib/sysusers.d/logknock.conf" ] ||
		cp "$srcdir/systemd/logknock.sysusers" "$ROOT/usr/lib/sysusers.d/logknock.conf"
	[ -f "$ROOT/usr/lib/tmpfiles.d/logknock.conf" ] ||
		cp "$srcdir/systemd/logknock.tmpfiles" "$ROOT/usr/lib/tmpfiles.d/logknock.conf"
fi

# The test's configuration: over the package's conffile once it is installed.
mkdir -p "$ROOT/var/log/knock"
# The container has a network namespace of its own, where the kernel does not
# show net.netfilter.nf_log_all_netns: the daemon cannot tell whether other
# namespaces log into the kernel's log, and starts only when told to accept
# that (one warning, expected below). The log is this test's (kernel_only:
# the statement an admin makes for a file only the kernel's log writes).
cat >"$TMP/logknockd.yaml" <<'EOF'
accept_nf_log_all_netns: true
sources:
  - file: /var/log/knock/kern.log
    kernel_only: true
prefix: "KNOCK "
user: logknock
applier:
  backend: nft
doors:
  - name: ssh
    sequence: [tcp/7000, tcp/8000, tcp/9000]
    window: 10s
    open: [tcp/22]
    duration: 2m
EOF
if [ $deb = 0 ]; then
	mkdir -p "$ROOT/etc/logknock" && cp "$TMP/logknockd.yaml" "$ROOT/etc/logknock/logknockd.yaml" || exit 1
fi
LOG=$TMP/log/kern.log
: >"$LOG"
chmod 0755 "$TMP" "$TMP/log"
chmod 0644 "$LOG"

# ---- network namespaces: the container's nft changes stay in SERVER ------------
netns_setup || skip_all "$netns_error"

plan $((21 + deb))
host_table=$(nft list table inet logknock 2>/dev/null | head -1)	# one made by something else

# ---- boot -----------------------------------------------------------------------
# --capability=CAP_NET_ADMIN: nspawn leaves it out of the container's bounding
# set unless it makes the network namespace itself; without it the unit's
# AmbientCapabilities= is silently empty and the applier gets EPERM from netlink.
in_server() { ip netns exec "$NETNS_SERVER" "$@"; }
if ct_boot --capability=CAP_NET_ADMIN --machine="lk$netns_id" \
	--network-namespace-path="/run/netns/$NETNS_SERVER" \
	--bind-ro="$TMP/log:/var/log/knock"; then
	ok "the container booted (system $ct_state)"
else
	fail "the container booted (state '$ct_state', leader '$LEADER')"
	tail -30 "$TMP/nspawn.log" | diag
	[ -n "$LEADER" ] && in_ct systemctl --failed --no-legend 2>&1 | diag
	done_testing
fi
[ "$ct_state" = degraded ] && in_ct systemctl --failed --no-legend 2>&1 | diag

if [ $deb = 1 ]; then
	if CT_TIMEOUT=180 in_ct apt-get install -y --no-install-recommends /root/logknock.deb \
		>"$TMP/install.out" 2>&1; then
		ok "apt-get install ./logknock.deb ($(basename "$DEB"))"
	else
		fail "apt-get install ./logknock.deb ($(basename "$DEB"))"
		tail -20 "$TMP/install.out" | diag
	fi
	cp "$TMP/logknockd.yaml" "$ROOT/etc/logknock/logknockd.yaml" && chmod 644 "$ROOT/etc/logknock/logknockd.yaml"
fi

# ---- the files systemd installed from sysusers.d and tmpfiles.d ------------------
out=$(in_ct systemd-analyze verify --man=no "$unit" 2>&1)
if [ $? = 0 ] && [ -z "$out" ]; then ok "systemd-analyze verify $unit: clean"
else fail "systemd-analyze verify $unit"; echo "$out" | diag; fi
groups=$(in_ct id -nG logknock 2>&1)
case " $groups " in
*" systemd-journal "*) case " $groups " in
	*" adm "*) ok "sysusers.d: user logknock, in systemd-journal and adm" ;;
	*) fail "sysusers.d: user logknock, in systemd-journal and adm ($groups)" ;;
	esac ;;
*) fail "sysusers.d: user logknock, in systemd-journal and adm ($groups)" ;;
esac
lk_uid=$(in_ct id -u logknock)
check "tmpfiles.d: /var/log/logknock is 0750 root:adm" \
	test "$(in_ct stat -c '%a %U:%G' /var/log/logknock)" = "750 root:adm"

# ---- a listener on the guarded port, on the host, in the server namespace ---------
if command -v python3 >/dev/null 2>&1; then
	# The interpreter itself, not a wrapper that forks (pyenv): the PID
	# recorded below must be the listener's, or it outlives the test.
	py=$(python3 -c 'import sys; print(sys.executable)')
	in_server "$py" -c '
import socket, sys
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("0.0.0.0", 22)); s.listen(16); print("listening", flush=True)
while True:
    c, _ = s.accept(); c.sendall(b"SSH-2.0-logknock-test\r\n"); c.close()
' >"$TMP/listener.out" 2>&1 &
	LISTENER=$!
fi
connect22() { # true when the client gets a TCP connection to 192.0.2.1:22
	ip netns exec "$NETNS_CLIENT" timeout 2 bash -c 'exec 3<>/dev/tcp/192.0.2.1/22' 2>/dev/null
}

# ---- start ----------------------------------------------------------------------
if in_ct systemctl start logknockd >"$TMP/start.out" 2>&1; then ok "systemctl start logknockd"
else fail "systemctl start logknockd"; diag "$TMP/start.out"; fi
check "is-active: active" test "$(in_ct systemctl is-active logknockd)" = active
status=$(in_ct systemctl show -P StatusText logknockd)
case $status in following*) ok "STATUS= from sd_notify: $status" ;; *) fail "STATUS= from sd_notify: '$status'" ;; esac

MAIN=$(in_ct systemctl show -P MainPID logknockd)
st=$(in_ct cat "/proc/$MAIN/status" 2>/dev/null)
uid=$(echo "$st" | sed -n 's/^Uid:[[:space:]]*\([0-9]*\).*/\1/p')
capeff=$(echo "$st" | sed -n 's/^CapEff:[[:space:]]*//p')
capprm=$(echo "$st" | sed -n 's/^CapPrm:[[:space:]]*//p')
capamb=$(echo "$st" | sed -n 's/^CapAmb:[[:space:]]*//p')
nnp=$(echo "$st" | sed -n 's/^NoNewPrivs:[[:space:]]*//p')
if [ -n "$uid" ] && [ "$uid" = "$lk_uid" ] && [ "$capeff" = 0000000000000000 ] &&
	[ "$capprm" = 0000000000000000 ] && [ "$capamb" = 0000000000000000 ] && [ "$nnp" = 1 ]; then
	ok "the daemon (pid $MAIN) runs as logknock ($uid) with no capability at all"
else
	fail "the daemon runs as logknock with no capability (uid '$uid' want '$lk_uid', eff $capeff prm $capprm amb $capamb nnp $nnp)"
fi
# The applier: the daemon's child, CAP_NET_ADMIN (bit 12) and nothing else.
ap=$(in_ct sh -c "for s in /proc/[0-9]*/status; do grep -q '^PPid:[[:space:]]*$MAIN\$' \$s && grep -q '^Name:.*logknock-apply' \$s && { echo \${s%/status}; break; }; done")
apcap=$(in_ct sed -n 's/^CapEff:[[:space:]]*//p' "$ap/status" 2>/dev/null)
check "the applier keeps CAP_NET_ADMIN only (CapEff $apcap)" test "$apcap" = 0000000000001000

i=0
while [ $i -lt 50 ] && ! in_server nft list chain inet logknock guard >/dev/null 2>&1; do sleep 0.1; i=$((i + 1)); done
check "the applier made table inet logknock in the container's network namespace" \
	sh -c "ip netns exec $NETNS_SERVER nft list chain inet logknock guard >/dev/null"
if [ -n "$host_table" ] || ! nft list table inet logknock >/dev/null 2>&1; then
	ok "the host's own network namespace got no table inet logknock"
else
	fail "the host's own network namespace got no table inet logknock"
fi

if [ -n "$LISTENER" ]; then
	if connect22; then fail "before the knock: the client cannot connect to port 22"
	else ok "before the knock: the client cannot connect to port 22"; fi
else
	ok "# SKIP no python3 for the listener"
fi

# ---- knock ------------------------------------------------------------------------
sport=41000
knock() { # knock DPORT: the line the kernel's LOG target writes for a SYN from the client
	sport=$((sport + 1))
	printf '%s vm kernel: [ 93.717774] KNOCK IN=veth0 OUT= MAC=62:92:44:cb:fb:5c:fe:65:11:35:87:ec:08:00 SRC=192.0.2.2 DST=192.0.2.1 LEN=60 TOS=0x00 PREC=0x00 TTL=64 ID=36861 DF PROTO=TCP SPT=%d DPT=%d WINDOW=64240 RES=0x00 SYN URGP=0 \n' \
		"$(date -u +%Y-%m-%dT%H:%M:%S.%6N+00:00)" "$sport" "$1" >>"$LOG"
}
knock 7000
knock 8000
knock 9000
i=0
while [ $i -lt 100 ]; do
	in_server nft list set inet logknock allow4 2>/dev/null | grep -q '192\.0\.2\.2 \. tcp \. 22' && break
	sleep 0.1
	i=$((i + 1))
done
check "after the knock: allow4 holds 192.0.2.2 . tcp . 22" test $i -lt 100
if [ -n "$LISTENER" ]; then
	check "after the knock: the client connects to port 22" connect22
else
	ok "# SKIP no python3 for the listener"
fi

# ---- reload -------------------------------------------------------------------------
in_ct systemctl reload logknockd >"$TMP/reload.out" 2>&1
i=0
while [ $i -lt 50 ]; do
	in_ct journalctl -u logknockd --no-pager -o cat 2>/dev/null | grep -q 'reloaded' && break
	sleep 0.2
	i=$((i + 1))
done
if [ $i -lt 50 ] && [ "$(in_ct systemctl is-active logknockd)" = active ]; then
	ok "systemctl reload: the journal says reloaded, the unit stays active"
else
	fail "systemctl reload"
	diag "$TMP/reload.out"
	in_ct journalctl -u logknockd --no-pager -o cat 2>&1 | tail -20 | diag
fi
check "the grant survives the reload" \
	sh -c "ip netns exec $NETNS_SERVER nft list set inet logknock allow4 | grep -q '192\\.0\\.2\\.2 \\. tcp \\. 22'"

# ---- stop ---------------------------------------------------------------------------
in_ct systemctl stop logknockd >"$TMP/stop.out" 2>&1
res=$(in_ct systemctl show -P Result logknockd)
act=$(in_ct systemctl is-active logknockd)
if [ "$act" = inactive ] && [ "$res" = success ]; then ok "systemctl stop: inactive, Result=success"
else fail "systemctl stop: is-active '$act', Result '$res'"; fi
check "stop closed the grant: allow4 is empty" \
	sh -c "! ip netns exec $NETNS_SERVER nft list set inet logknock allow4 | grep -q 'elements'"
all_warn=$(in_ct journalctl -u logknockd --no-pager -o cat -p warning 2>/dev/null)
warn=$(printf '%s\n' "$all_warn" | grep -v -F "accepted by 'accept_nf_log_all_netns: true'" | grep . | head -5)
if [ -z "$warn" ]; then ok "no warning or error in the unit's journal (but the accepted nf_log_all_netns)"
else fail "no warning or error in the unit's journal (but the accepted nf_log_all_netns)"; echo "$warn" | diag; fi
if printf '%s\n' "$all_warn" | grep -q "cannot read /proc/sys/net/netfilter/nf_log_all_netns .*accepted by 'accept_nf_log_all_netns: true'"; then
	ok "in the container's network namespace: nf_log_all_netns unreadable, the acceptance warned about"
else
	fail "in the container's network namespace: nf_log_all_netns unreadable, the acceptance warned about"
fi

# ---- power off ------------------------------------------------------------------------
check "the container powered off on SIGRTMIN+4" ct_poweroff
in_ct true >/dev/null 2>&1 || LEADER=
done_testing
