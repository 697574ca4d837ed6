#!/bin/sh
# privns.sh SUDOERS CONFDIR COMMAND... — runs COMMAND in a private mount
# namespace where SUDOERS is /etc/sudoers and CONFDIR is the directory of
# the settings file logknock-apply reads by default (the build's
# sysconfdir/logknock), so that a test can give sudo and the applier their
# documented set-up without touching the machine's own files. Root only.
# COMMAND keeps this process (no fork): a caller's $! is COMMAND's PID.
#
# When that directory does not exist, a directory holding only CONFDIR as
# "logknock" is put over its parent (hiding the parent's other files in
# this namespace only); when the parent is /etc or /, nothing is done and
# the exit status is 77.
set -u
if [ "${1:-}" != --inside ]; then
	exec unshare -m --propagation private sh "$0" --inside "$@"
fi
shift
sudoers=$1 confdir=$2
shift 2
: "${LOGKNOCK_APPLY:?}"
conf=$("$LOGKNOCK_APPLY" --help | sed -n 's/.*(default \([^)]*\)).*/\1/p')
target=$(dirname "$conf")
[ -n "$conf" ] || { echo "privns: cannot tell the applier's default settings file" >&2; exit 1; }
mount --bind "$sudoers" /etc/sudoers || exit 1
if [ -d "$target" ]; then
	mount --bind "$confdir" "$target" || exit 1
else
	parent=$(dirname "$target")
	case "$parent" in
	/ | /etc) echo "privns: $target does not exist, and $parent cannot be covered" >&2; exit 77 ;;
	esac
	[ -d "$parent" ] || { echo "privns: $parent does not exist" >&2; exit 77; }
	up="$confdir.up"
	mkdir -p "$up/$(basename "$target")" && chmod 755 "$up" || exit 1
	mount --bind "$confdir" "$up/$(basename "$target")" && mount --rbind "$up" "$parent" || exit 1
fi
exec "$@"
