#!/bin/sh
# debian-package.sh — the Debian package (debian/) as an admin meets it: built
# with dpkg-buildpackage (once per content of the tree, t/deb.sh), checked
# with lintian, then installed with apt into a Debian bookworm booted with
# systemd-nspawn (t/container.sh) in a network namespace of its own:
# the user exists, nothing is enabled or started, the unit refuses the
# example configuration there (net.netfilter.nf_log_all_netns cannot be
# read) and starts with it once that is accepted; with the nft backend a
# knock is granted; an upgrade restarts it; "apt remove" stops it and leaves
# no table of the applier's; "apt purge" removes the configuration and
# /var/lib/logknock. And, outside the container (which
# has no iptables or ipset): the package's prerm, run in a network namespace,
# deletes every object the applier builds and nothing else.
#
#   LOGKNOCK_DEB=FILE      test this .deb instead of building one
#   LOGKNOCK_TEST_CACHE    see t/container.sh and t/deb.sh
#
# Needs root, dpkg-buildpackage and debhelper (or LOGKNOCK_DEB), debootstrap,
# systemd-nspawn (Debian: systemd-container), overlayfs; lintian for its check.
. "$(dirname "$0")/lib.sh"
. "$top_srcdir/t/container.sh"
. "$top_srcdir/t/deb.sh"

cleanup() {
	ct_cleanup
	rm -rf "$TMP"
}
trap cleanup EXIT

ct_require
deb_get
ct_cache_root

plan 27

# ---- the package itself ---------------------------------------------------------
if ! command -v lintian >/dev/null 2>&1; then
	ok "# SKIP no lintian (apt-get install lintian)"
elif [ -z "$DEB_CHANGES" ]; then
	ok "# SKIP lintian: LOGKNOCK_DEB given without its .changes"
elif lintian --fail-on error "$DEB_CHANGES" >"$TMP/lintian.out" 2>&1; then
	ok "lintian: no error"
	grep -v '^running with root' "$TMP/lintian.out" | diag
else
	fail "lintian: no error"
	diag "$TMP/lintian.out"
fi
dpkg-deb -c "$DEB" | awk '{ print $6 }' | sed 's|^\./|/|' >"$TMP/contents"
missing=
for f in /usr/sbin/logknockd /usr/libexec/logknock/logknock-apply /usr/bin/logknock \
	/lib/systemd/system/logknockd.service /usr/lib/sysusers.d/logknock.conf \
	/usr/lib/tmpfiles.d/logknock.conf /etc/logknock/logknockd.yaml /etc/logknock/apply.yaml \
	/usr/share/man/man8/logknockd.8.gz /usr/share/man/man5/logknockd.yaml.5.gz \
	/usr/share/man/man1/logknock.1.gz /usr/share/bash-completion/completions/logknockd \
	/usr/share/bash-completion/completions/logknock /usr/share/doc/logknock/README.Debian \
	/usr/sbin/logknockctl /usr/share/man/man8/logknockctl.8.gz /usr/share/bash-completion/completions/logknockctl \
	/usr/lib/systemd/catalog/logknock.catalog; do
	grep -qx -e "$f" -e "$f.gz" "$TMP/contents" || missing="$missing $f"
done
if [ -z "$missing" ]; then ok "the package holds the programs, unit, sysusers/tmpfiles, man pages, completion"
else fail "the package lacks:$missing"; fi
dpkg-deb --ctrl-tarfile "$DEB" | tar -xO ./conffiles >"$TMP/conffiles" 2>&1
check "/etc/logknock/logknockd.yaml and apply.yaml are conffiles" \
	sh -c "grep -qx /etc/logknock/logknockd.yaml '$TMP/conffiles' && grep -qx /etc/logknock/apply.yaml '$TMP/conffiles'"

# ---- prerm "remove" against what the applier builds, in a network namespace -------
# Every backend's objects at once (nft table; iptables and ip6tables chain and
# jump; ipset sets), made by the package's own applier, beside rules of the
# admin's own that must stay. The container below has no iptables or ipset.
NS=lkdeb$$
ns_made=
cleanup() {
	ct_cleanup
	[ -n "$ns_made" ] && ip netns del "$NS" 2>/dev/null
	rm -rf "$TMP"
}
in_ns() { ip netns exec "$NS" "$@"; }
prerm_objects() { # what of ours is there, one word per object
	in_ns nft list table inet logknock >/dev/null 2>&1 && echo nft-table
	for xt in iptables ip6tables; do
		in_ns "$xt" -w -S LOGKNOCK >/dev/null 2>&1 && echo "$xt-chain"
		in_ns "$xt" -w -S INPUT 2>/dev/null | grep -q -- '-j LOGKNOCK' && echo "$xt-jump"
	done
	in_ns ipset list -n 2>/dev/null | grep -x 'logknock[46]'
}
if ! command -v ip >/dev/null 2>&1 || ! command -v nft >/dev/null 2>&1 ||
	! command -v iptables >/dev/null 2>&1 || ! command -v ip6tables >/dev/null 2>&1 ||
	! command -v ipset >/dev/null 2>&1 || ! command -v unshare >/dev/null 2>&1; then
	skip_n 2 "prerm: needs ip, nft, iptables, ip6tables, ipset and unshare on this machine"
elif ! ip netns add "$NS" 2>/dev/null; then
	skip_n 2 "prerm: cannot make a network namespace"
else
	ns_made=1
	mkdir -p "$TMP/pkg"
	dpkg-deb -x "$DEB" "$TMP/pkg" && dpkg-deb --ctrl-tarfile "$DEB" | tar -xO ./prerm >"$TMP/prerm"
	in_ns nft add table inet filter
	in_ns nft add chain inet filter input '{ type filter hook input priority filter; policy accept; }'
	in_ns nft add rule inet filter input tcp dport 22 accept
	in_ns iptables -w -A INPUT -p tcp --dport 22 -j ACCEPT
	for b in nft iptables ipset; do
		in_ns timeout 20 "$TMP/pkg/usr/libexec/logknock/logknock-apply" --backend $b --guard tcp/22 \
			</dev/null >"$TMP/apply-$b.out" 2>&1
	done
	before=$(prerm_objects | tr '\n' ' ')
	# A mount namespace of its own, /run/systemd hidden: the prerm's
	# "systemctl stop" part must not reach a systemd of this machine.
	in_ns unshare -m --propagation private sh -c \
		'[ -d /run/systemd ] && mount -t tmpfs logknock-test /run/systemd; exec sh "$1" remove' \
		sh "$TMP/prerm" >"$TMP/prerm.out" 2>&1
	rc=$?
	after=$(prerm_objects | tr '\n' ' ')
	if [ "$before" = "nft-table iptables-chain iptables-jump ip6tables-chain ip6tables-jump logknock4 logknock6 " ] &&
		[ $rc = 0 ] && [ -z "$after" ]; then
		ok "prerm remove deletes the applier's nft table, iptables/ip6tables chains and jumps, ipset sets"
	else
		fail "prerm remove deletes what the applier built (before: $before; prerm exit $rc; after: $after)"
		cat "$TMP"/apply-*.out "$TMP/prerm.out" | diag
	fi
	if in_ns nft list chain inet filter input 2>/dev/null | grep -q 'tcp dport 22 accept' &&
		in_ns iptables -w -S INPUT | grep -q -- '-A INPUT -p tcp -m tcp --dport 22 -j ACCEPT'; then
		ok "prerm remove keeps the admin's own rules"
	else
		fail "prerm remove keeps the admin's own rules"
		{ in_ns nft list ruleset; in_ns iptables -w -S; } 2>&1 | diag
	fi
fi

# ---- boot, install ------------------------------------------------------------------
ct_mount
cp "$DEB" "$ROOT/root/logknock.deb" || exit 1
# --private-network: the container's firewall is its own (nspawn keeps
# CAP_NET_ADMIN in the bounding set of a network namespace it made).
if ct_boot --private-network --machine="lkdeb$$"; then
	ok "the container booted (system $ct_state)"
else
	fail "the container booted (state '$ct_state', leader '$LEADER')"
	tail -30 "$TMP/nspawn.log" | diag
	done_testing
fi

if CT_TIMEOUT=180 in_ct apt-get install -y --no-install-recommends /root/logknock.deb >"$TMP/install.out" 2>&1; then
	ok "apt-get install ./logknock.deb"
else
	fail "apt-get install ./logknock.deb"
	tail -20 "$TMP/install.out" | diag
fi
groups=$(in_ct id -nG logknock 2>&1)
case " $groups " in
*" systemd-journal "*) case " $groups " in
	*" adm "*) ok "user logknock, in systemd-journal and adm" ;;
	*) fail "user logknock, in systemd-journal and adm ($groups)" ;;
	esac ;;
*) fail "user logknock, in systemd-journal and adm ($groups)" ;;
esac
check "/var/lib/logknock is 0700 logknock:logknock" \
	test "$(in_ct stat -c '%a %U:%G' /var/lib/logknock 2>&1)" = "700 logknock:logknock"
en=$(in_ct systemctl is-enabled logknockd 2>&1)
act=$(in_ct systemctl is-active logknockd 2>&1)
check "installing enables and starts nothing (is-enabled $en, is-active $act)" \
	test "$en" = disabled -a "$act" = inactive

# ---- the example configuration --------------------------------------------------
# It reads "journal: kernel". In a network namespace of its own the kernel
# hides net.netfilter.nf_log_all_netns, so the daemon cannot tell whether
# other namespaces write into the kernel's log, and refuses to start until
# the admin accepts that (README.md, "Other network namespaces"). On a host
# with the sysctl at 0 the example starts as it is.
if in_ct systemctl start logknockd >"$TMP/start0.out" 2>&1; then
	fail "example configuration, in the container's own network namespace: the start is refused"
	in_ct systemctl stop logknockd >/dev/null 2>&1
else
	i=0
	while [ $i -lt 25 ] && ! in_ct journalctl -u logknockd --no-pager -o cat 2>/dev/null | grep -q 'nf_log_all_netns'; do
		sleep 0.2
		i=$((i + 1))
	done
	if [ $i -lt 25 ]; then
		ok "example configuration, in the container's own network namespace: the start is refused, the journal says why"
	else
		fail "example configuration refused, but the journal does not name nf_log_all_netns"
		in_ct journalctl -u logknockd --no-pager -o cat 2>&1 | tail -10 | diag
	fi
fi
in_ct systemctl reset-failed logknockd >/dev/null 2>&1
# The example itself, with that acceptance added, starts as it is.
{ echo "accept_nf_log_all_netns: true"; cat "$ROOT/etc/logknock/logknockd.yaml"; } >"$TMP/example.yaml" &&
	cp "$TMP/example.yaml" "$ROOT/etc/logknock/logknockd.yaml"
if in_ct systemctl start logknockd >"$TMP/start.out" 2>&1; then
	ok "systemctl start logknockd, with the example configuration (and accept_nf_log_all_netns)"
else
	fail "systemctl start logknockd, with the example configuration (and accept_nf_log_all_netns)"
	diag "$TMP/start.out"
	in_ct journalctl -u logknockd --no-pager -o cat 2>&1 | tail -20 | diag
fi
status=$(in_ct systemctl show -P StatusText logknockd)
act=$(in_ct systemctl is-active logknockd)
case "$act $status" in
"active following"*) ok "active, $status" ;;
*) fail "active and following its sources (is-active '$act', status '$status')" ;;
esac
in_ct systemctl stop logknockd >/dev/null 2>&1
check "systemctl stop: Result=success" test "$(in_ct systemctl show -P Result logknockd)" = success

# ---- a real backend, then remove ------------------------------------------------------
# The file is this test's knock log, as the kernel's log would fill it
# (kernel_only), read in the container's own network namespace (accept_...).
cat >"$TMP/nft.yaml" <<'EOF'
accept_nf_log_all_netns: true
sources:
  - file: /var/log/knock.log
    kernel_only: true
prefix: "KNOCK "
applier:
  backend: nft
doors:
  - name: ssh
    sequence: [tcp/7000, tcp/8000, tcp/9000]
    window: 10s
    open: [tcp/22]
    duration: 5m
EOF
cp "$TMP/nft.yaml" "$ROOT/etc/logknock/logknockd.yaml" && : >"$ROOT/var/log/knock.log" &&
	chmod 644 "$ROOT/etc/logknock/logknockd.yaml" "$ROOT/var/log/knock.log"
in_ct systemctl start logknockd >"$TMP/start2.out" 2>&1
i=0
while [ $i -lt 50 ] && ! in_ct nft list chain inet logknock guard >/dev/null 2>&1; do sleep 0.2; i=$((i + 1)); done
if [ $i -lt 50 ]; then ok "backend nft: the applier made table inet logknock"
else
	fail "backend nft: the applier made table inet logknock"
	diag "$TMP/start2.out"
	in_ct journalctl -u logknockd --no-pager -o cat 2>&1 | tail -20 | diag
fi
# The container has no /etc/protocols (no netbase): nft prints tcp as 6.
sport=41000
for port in 7000 8000 9000; do
	sport=$((sport + 1))
	line=$(printf '%s vm kernel: [ 93.717774] KNOCK IN=host0 OUT= MAC=62:92:44:cb:fb:5c:fe:65:11:35:87:ec:08:00 SRC=192.0.2.2 DST=192.0.2.1 LEN=60 TOS=0x00 PREC=0x00 TTL=64 ID=36861 DF PROTO=TCP SPT=%d DPT=%d WINDOW=64240 RES=0x00 SYN URGP=0 ' \
		"$(date -u +%Y-%m-%dT%H:%M:%S.%6N+00:00)" "$sport" "$port")
	in_ct sh -c 'printf "%s\n" "$1" >>/var/log/knock.log' sh "$line"
done
i=0
while [ $i -lt 100 ] && ! in_ct nft list set inet logknock allow4 2>/dev/null | grep -Eq '192\.0\.2\.2 \. (tcp|6) \. 22'; do
	sleep 0.1
	i=$((i + 1))
done
if [ $i -lt 100 ]; then ok "a knock: allow4 holds 192.0.2.2 . tcp . 22"
else
	fail "a knock: allow4 holds 192.0.2.2 . tcp . 22"
	in_ct journalctl -u logknockd --no-pager -o cat 2>&1 | tail -20 | diag
	in_ct nft list table inet logknock 2>&1 | diag
fi

# logknockctl of the package, as root in the container: the unit's socket
# (/run/logknock/control, RuntimeDirectory=) is its default; close takes
# the element out of the set now, not in 5 minutes.
in_ct logknockctl grants >"$TMP/ctl-grants.out" 2>&1
rc=$?
if [ $rc = 0 ] && grep -q '^ssh  *192\.0\.2\.2  *tcp/22 ' "$TMP/ctl-grants.out"; then
	ok "logknockctl grants (default socket /run/logknock/control): the grant of 192.0.2.2"
else
	fail "logknockctl grants (default socket /run/logknock/control): the grant of 192.0.2.2 (exit $rc)"
	diag "$TMP/ctl-grants.out"
fi
in_ct logknockctl close 192.0.2.2 >"$TMP/ctl-close.out" 2>&1
rc=$?
i=0
while [ $i -lt 50 ] && in_ct nft list set inet logknock allow4 2>/dev/null | grep -Eq '192\.0\.2\.2 \. (tcp|6) \. 22'; do
	sleep 0.1
	i=$((i + 1))
done
if [ $rc = 0 ] && [ $i -lt 50 ]; then
	ok "logknockctl close 192.0.2.2: allow4 holds it no more"
else
	fail "logknockctl close 192.0.2.2: allow4 holds it no more (exit $rc)"
	diag "$TMP/ctl-close.out"
	in_ct nft list set inet logknock allow4 2>&1 | diag
fi

# An upgrade (here: the same version again) restarts a running daemon and
# keeps the admin's changed conffile.
pid1=$(in_ct systemctl show -P MainPID logknockd)
CT_TIMEOUT=120 in_ct dpkg -i /root/logknock.deb >"$TMP/reinstall.out" 2>&1
rc=$?
pid2=$(in_ct systemctl show -P MainPID logknockd)
if [ $rc = 0 ] && [ "$(in_ct systemctl is-active logknockd)" = active ] && [ "$pid1" != "$pid2" ] &&
	cmp -s "$TMP/nft.yaml" "$ROOT/etc/logknock/logknockd.yaml"; then
	ok "dpkg -i again (an upgrade): the daemon restarted (pid $pid1 -> $pid2), the changed conffile kept"
else
	fail "dpkg -i again: exit $rc, pid $pid1 -> $pid2, is-active $(in_ct systemctl is-active logknockd)"
	tail -20 "$TMP/reinstall.out" | diag
fi

# The applier's own settings (the sudo set-up) may name its objects: a
# table made under that name must go too.
printf 'backend: nft\nguard: [tcp/22]\nname: "lkother"   # the test\n' >"$ROOT/etc/logknock/apply.yaml"
# Without arguments the applier reads apply.yaml; sh stays its parent (an
# applier whose parent is outside its PID namespace counts as privileged).
in_ct sh -c '/usr/libexec/logknock/logknock-apply </dev/null; true' >"$TMP/apply-other.out" 2>&1
has_table() { in_ct nft list table inet "$1" >/dev/null 2>&1; }
if has_table lkother; then ok "a table inet lkother, as apply.yaml's name: would make it"
else fail "a table inet lkother, as apply.yaml's name: would make it"; diag "$TMP/apply-other.out"; fi

if CT_TIMEOUT=120 in_ct apt-get remove -y logknock >"$TMP/remove.out" 2>&1; then ok "apt-get remove logknock"
else fail "apt-get remove logknock"; tail -20 "$TMP/remove.out" | diag; fi
check "after remove: the daemon is stopped" test "$(in_ct systemctl is-active logknockd)" != active
if in_ct nft list tables 2>&1 | grep -q 'inet \(logknock\|lkother\)$'; then
	fail "after remove: no table inet logknock or inet lkother left"
	in_ct nft list tables 2>&1 | diag
else
	ok "after remove: no table inet logknock or inet lkother left"
fi
check "after remove: the configuration and the state are kept" \
	in_ct test -f /etc/logknock/logknockd.yaml -a -d /var/lib/logknock

# ---- purge -----------------------------------------------------------------------------
if CT_TIMEOUT=120 in_ct apt-get purge -y logknock >"$TMP/purge.out" 2>&1; then ok "apt-get purge logknock"
else fail "apt-get purge logknock"; tail -20 "$TMP/purge.out" | diag; fi
left=$(in_ct sh -c 'for f in /var/lib/logknock /etc/logknock /var/log/logknock /lib/systemd/system/logknockd.service; do [ -e "$f" ] && echo "$f"; done')
if [ -z "$left" ]; then ok "after purge: no /var/lib/logknock, /etc/logknock, /var/log/logknock, unit"
else fail "after purge, left: $left"; fi

check "the container powered off on SIGRTMIN+4" ct_poweroff
in_ct true >/dev/null 2>&1 || LEADER=
done_testing
