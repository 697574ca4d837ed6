#!/bin/sh
# sudo-applier.sh — the applier behind sudo takes no orders from its caller.
#
# With the documented sudoers line (the applier, no arguments allowed) in a
# private mount namespace over /etc/sudoers, and apply.yaml at the build's
# default path, the daemon's user (nobody here) tries to make the applier
# run a program or write a file of its choosing: through arguments, a
# settings file of its own, a settings file in a directory others may
# write, the environment, and ports the doors do not open. Each attempt is
# made for real through sudo, and also with the old, permissive line (any
# arguments) to show that the applier refuses by itself. Then the
# documented mode opens and closes real nft rules in a network namespace of
# its own.
. "${top_srcdir:-$(dirname "$0")/..}/t/lib.sh"
need_binaries
[ "$(id -u)" -eq 0 ] || skip_all "needs root"
for b in sudo unshare setpriv nft ip; do
	command -v $b >/dev/null 2>&1 || skip_all "$b is not installed"
done
id nobody >/dev/null 2>&1 || skip_all "no user nobody"
NOGROUP=$(id -gn nobody)
PRIVNS=$top_srcdir/t/privns.sh
APPLY=$LOGKNOCK_APPLY
case "$APPLY" in /*) ;; *) skip_all "LOGKNOCK_APPLY is not an absolute path" ;; esac

NS=lksudo$$
TABLE=lksudo$$
cleanup() {
	ip netns del "$NS" 2>/dev/null
	rm -rf "$TMP"
}
trap cleanup EXIT
ip netns add "$NS" || skip_all "cannot create a network namespace"

F=$TMP/pwned			# what the attacks try to create (as root)
CONF=$TMP/conf			# appears as the applier's default settings directory
mkdir "$CONF" && chmod 755 "$CONF"

sudoers() { # sudoers doc|old [extra Defaults line]
	{
		echo 'Defaults env_reset'
		echo 'Defaults secure_path="/usr/sbin:/usr/bin:/sbin:/bin"'
		[ -n "${2:-}" ] && echo "$2"
		echo 'root ALL=(ALL:ALL) ALL'
		if [ "$1" = doc ]; then
			echo "nobody ALL=(root) NOPASSWD: $APPLY \"\""	# the documented line
		else
			echo "nobody ALL=(root) NOPASSWD: $APPLY"	# the old one: any arguments
		fi
	} >"$TMP/sudoers"
	chmod 440 "$TMP/sudoers"
}
nft_conf() {
	printf 'backend: nft\nname: %s\nguard: [tcp/22]\n' "$TABLE" >"$CONF/apply.yaml"
	chmod 644 "$CONF/apply.yaml"
}
evil_yaml() { # evil_yaml FILE: settings that would run a shell writing $F
	cat >"$1" <<EOF
backend: command
guard: [tcp/22]
open: [/bin/sh, -c, "id > $F"]
close: [/bin/true]
EOF
}
# as_user ARG...: in the test's network namespace and private mounts, as
# nobody with a plain environment, run sudo -n ARG...; a request for tcp/22 on
# its stdin. Exit status in $rc, stdout in $TMP/out, stderr in $TMP/err.
as_user() {
	printf 'open 1 inet 192.0.2.9 tcp 22 30 ssh\n' |
		ip netns exec "$NS" "$PRIVNS" "$TMP/sudoers" "$CONF" \
			setpriv --reuid=nobody --regid="$NOGROUP" --clear-groups \
			env -i PATH=/usr/bin:/bin HOME=/ LOGKNOCK_TEST_SECRET=1 "$@" >"$TMP/out" 2>"$TMP/err"
	rc=$?
	[ "$rc" -ne 77 ] || skip_all "$(cat "$TMP/err")"
}
no_file() { [ ! -e "$F" ] || { echo "# $F was written: $(cat "$F")"; rm -f "$F"; return 1; }; }
said() { grep -q "$1" "$TMP/err" || { sed 's/^/# stderr: /' "$TMP/err"; return 1; }; }
attack="--backend command --open /bin/sh --open -c --open id>$F --close /bin/true"

# ---- the documented line -----------------------------------------------------
sudoers doc
nft_conf
# shellcheck disable=SC2086 # words on purpose
as_user sudo -n "$APPLY" $attack
check "documented line: the issue's attack (--backend command --open /bin/sh ...) fails" [ "$rc" -ne 0 ]
check "... and writes no file" no_file
check "... sudo itself refuses the arguments" said "sudo"
as_user sudo -n "$APPLY" --config "$TMP/anything.yaml"
check "documented line: --config is refused too, nothing written" sh -c '[ $1 -ne 0 ] && [ ! -e "$2" ]' sh $rc "$F"
as_user sudo -n -E "$APPLY"
check "documented line: sudo -E (keep the caller's environment) is refused" [ "$rc" -ne 0 ]
as_user sudo -n LD_PRELOAD=/nonexistent.so "$APPLY"
check "documented line: setting a variable (LD_PRELOAD=...) is refused" [ "$rc" -ne 0 ]

# The settings file at the default path, made unsafe.
evil_yaml "$CONF/apply.yaml"
chgrp "$NOGROUP" "$CONF" && chmod 775 "$CONF"
as_user sudo -n "$APPLY"
check "documented line, apply.yaml in a group-writable directory: refused (exit 2, says why)" \
	sh -c '[ $1 -eq 2 ] && grep -q "can be changed by any member of group" "$2"' sh $rc "$TMP/err"
check "... no request answered, no file written" sh -c '[ ! -s "$1" ] && [ ! -e "$2" ]' sh "$TMP/out" "$F"
chgrp root "$CONF" && chmod 755 "$CONF"
chown nobody "$CONF/apply.yaml"
as_user sudo -n "$APPLY"
check "documented line, apply.yaml owned by the daemon's user: refused, no file written" \
	sh -c '[ $1 -eq 2 ] && grep -q "user [0-9]* (its owner)" "$2" && [ ! -e "$3" ]' sh $rc "$TMP/err" "$F"
chown root "$CONF/apply.yaml" && chmod 664 "$CONF/apply.yaml"
as_user sudo -n "$APPLY"
check "documented line, apply.yaml group-writable: refused, no file written" \
	sh -c '[ $1 -eq 2 ] && grep -q "refused" "$2" && [ ! -e "$3" ]' sh $rc "$TMP/err" "$F"

# Root's own settings, with env_keep letting a variable through sudo: the
# applier still passes none of the caller's environment to a command.
cat >"$TMP/envdump" <<EOF
#!/bin/sh
env >"$TMP/env.out"
EOF
chmod 755 "$TMP/envdump"
printf 'backend: command\nguard: [tcp/22]\nopen: [%s]\nclose: [/bin/true]\n' "$TMP/envdump" >"$CONF/apply.yaml"
chmod 644 "$CONF/apply.yaml"
sudoers doc 'Defaults env_keep += "LOGKNOCK_TEST_SECRET"'
as_user sudo -n "$APPLY"
check "root's command settings run through sudo (ok 1)" grep -qx "ok 1" "$TMP/out"
check "... the command sees none of the caller's environment (sudo kept LOGKNOCK_TEST_SECRET)" \
	sh -c '[ -s "$1" ] && ! grep -q LOGKNOCK_TEST_SECRET "$1"' sh "$TMP/env.out"

# ---- the old, permissive line: the applier refuses by itself -------------------
sudoers old
nft_conf
# shellcheck disable=SC2086
as_user sudo -n "$APPLY" $attack
check "any-arguments line: the attack reaches the applier, which refuses it (exit 2)" \
	sh -c '[ $1 -eq 2 ] && grep -q "refused: .--backend. on the command line.*SUDO_" "$2"' sh $rc "$TMP/err"
check "... and no file is written" no_file
mkdir "$TMP/user" && evil_yaml "$TMP/user/evil.yaml" && chown -R nobody "$TMP/user"
as_user sudo -n "$APPLY" --config "$TMP/user/evil.yaml"
check "any-arguments line: --config naming the user's own file is refused, no file written" \
	sh -c '[ $1 -eq 2 ] && grep -q "can be changed by" "$2" && [ ! -e "$3" ]' sh $rc "$TMP/err" "$F"
mkdir "$TMP/gw" && evil_yaml "$TMP/gw/evil.yaml" && chgrp "$NOGROUP" "$TMP/gw" && chmod 775 "$TMP/gw"
as_user sudo -n "$APPLY" --config "$TMP/gw/evil.yaml"
check "any-arguments line: --config naming a root file in a group-writable directory is refused" \
	sh -c '[ $1 -eq 2 ] && grep -q "any member of group" "$2" && [ ! -e "$3" ]' sh $rc "$TMP/err" "$F"
ln -s "$TMP/user/evil.yaml" "$TMP/link.yaml"
as_user sudo -n "$APPLY" --config "$TMP/link.yaml"
check "any-arguments line: --config through a link to the user's file is refused" \
	sh -c '[ $1 -eq 2 ] && [ ! -e "$2" ]' sh $rc "$F"
as_user sudo -n "$APPLY" --guard tcp/3306
check "any-arguments line: --guard on the command line is refused" \
	sh -c '[ $1 -eq 2 ] && grep -q "refused: .--guard" "$2"' sh $rc "$TMP/err"
as_user sudo -n "$APPLY" --name other
check "any-arguments line: --name on the command line is refused" \
	sh -c '[ $1 -eq 2 ] && grep -q "refused: .--name" "$2"' sh $rc "$TMP/err"

# ---- the documented mode works: real nft rules ----------------------------------
sudoers doc
nft_conf
session() { # session REQUESTS: one applier run through sudo, as nobody
	printf '%b' "$1" |
		ip netns exec "$NS" "$PRIVNS" "$TMP/sudoers" "$CONF" \
			setpriv --reuid=nobody --regid="$NOGROUP" --clear-groups \
			env -i PATH=/usr/bin:/bin HOME=/ sudo -n "$APPLY" >"$TMP/out" 2>"$TMP/err"
}
session 'open 2 inet 192.0.2.9 tcp 3306 30 ssh\nopen 3 inet 192.0.2.9 tcp 22 30 ssh\n'
check "documented mode: an open for tcp/3306 (not a guarded port) is refused" \
	grep -q "^error 2 refused: tcp/3306 is not a guarded port" "$TMP/out"
check "documented mode: an open for tcp/22 is ok" grep -qx "ok 3" "$TMP/out"
check "documented mode: the element 192.0.2.9 . tcp . 22 is in the table's set" \
	sh -c '"$@" | grep -q "192.0.2.9 . tcp . 22 timeout"' sh ip netns exec "$NS" nft list set inet "$TABLE" allow4
check "documented mode: nothing for tcp/3306 in it" sh -c '! "$@" | grep -q 3306' sh ip netns exec "$NS" nft list set inet "$TABLE" allow4
check "documented mode: the guard chain drops tcp/22 without a grant" \
	sh -c '"$@" | grep -q "tcp . 22"' sh ip netns exec "$NS" nft list chain inet "$TABLE" guard
session 'close 3 inet 192.0.2.9 tcp 22 ssh\n'
check "documented mode: close is ok" grep -qx "ok 3" "$TMP/out"
check "documented mode: the element is gone" sh -c '! "$@" | grep -q "192.0.2.9"' sh ip netns exec "$NS" nft list set inet "$TABLE" allow4
check "nothing the attacks tried was written, ever" no_file

plan "$tap_n"
done_testing
