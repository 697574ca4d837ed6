#!/bin/sh
# Installs what logknock needs on Debian 12 (as root): to build it, and with
# --test also what the test suite uses. Does nothing when everything is
# there already.
#   sh contrib/debian-deps.sh          build: compiler, autotools, libraries
#   sh contrib/debian-deps.sh --test   build + test: cmocka, firewall tools,
#                                      log daemons, sudo, knockd, clang, ...
set -e
pkgs="build-essential autoconf automake pkg-config ca-certificates
libyaml-dev libpcre2-dev libsystemd-dev libinotifytools0-dev libnftables-dev libsodium-dev"
# Test-only: cmocka (unit tests), clang (fuzzing, static analysis), the
# firewall tools and log daemons of the end-to-end tests, knockd
# (t/knockd-import.sh), ulogd2 (t/kernel-grammar.sh: NFLOG through LOGEMU),
# python3-yaml (t/doc-snippets.sh), debootstrap and systemd-container (the
# unit in a container), sudo (t/privsep.sh), dpkg-dev, debhelper and lintian
# (t/debian-package.sh builds and checks the Debian package; fakeroot is not
# needed: debian/control says Rules-Requires-Root: no), openssh-server,
# rsyslog-relp and systemd-journal-remote (t/fleet.sh: a private sshd per
# server, RELP forwarding; t/fleet-journal.sh: journal-remote files).
test_pkgs="libcmocka-dev python3 python3-yaml clang iproute2 nftables iptables ipset logrotate systemd bsdutils
sudo knockd rsyslog ulogd2 debootstrap systemd-container strace dpkg-dev debhelper lintian
openssh-server openssh-client rsyslog-relp systemd-journal-remote"
case "${1:-}" in
--test) pkgs="$pkgs $test_pkgs" ;;
"") ;;
*) echo "usage: sh contrib/debian-deps.sh [--test]" >&2; exit 2 ;;
esac
missing=
for p in $pkgs; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing="$missing $p"
done
[ -z "$missing" ] && exit 0
if [ "$(id -u)" -ne 0 ]; then
	echo "debian-deps.sh: missing packages:$missing (run as root, or install them)" >&2
	exit 1
fi
export DEBIAN_FRONTEND=noninteractive
# On a fresh machine another apt (unattended-upgrades, cloud-init) often holds
# the lock for a few minutes: wait for it rather than fail at once.
lock="-o DPkg::Lock::Timeout=600"
# shellcheck disable=SC2086
apt-get $lock update -qq
# shellcheck disable=SC2086
apt-get $lock install -y -qq --no-install-recommends $missing >/dev/null
