#!/bin/sh
# Installs what logknock needs to build and test on Debian 12 (as root).
# Does nothing when everything is there already.
set -e
# Test-only: knockd (t/knockd-import.sh), ulogd2 (t/kernel-grammar.sh: NFLOG through LOGEMU),
# python3-yaml (t/doc-snippets.sh), ...
pkgs="build-essential autoconf automake pkg-config ca-certificates
libyaml-dev libpcre2-dev libsystemd-dev libinotifytools0-dev libcmocka-dev libnftables-dev libsodium-dev
python3 clang iproute2 nftables iptables ipset logrotate systemd bsdutils sudo knockd rsyslog debootstrap systemd-container
ulogd2 python3-yaml"
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
