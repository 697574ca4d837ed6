#!/bin/sh
# fleet-host-setup.sh — contrib/fleet/logknock-fleet-host, run for real.
#
# In a private mount namespace with overlays (on a tmpfs) over /etc, /home
# and /var, so that the user it makes, its sudoers file, apply.yaml and the
# user's home vanish with the namespace, the script sets up a host with a
# key the test made. Then an sshd of the test's own (default
# AuthorizedKeysFile, so the script's file is the one used) on 127.0.0.1
# takes that key: protocol lines get ok answers through sudo, another
# command still runs only the forced one, a port forward is refused; the
# script run again with a second key replaces the first. It refuses a
# non-key argument and a key with a quote. Root only.
. "${top_srcdir:-$(dirname "$0")/..}/t/lib.sh"
SCRIPT=$top_srcdir/contrib/fleet/logknock-fleet-host
SSHD=/usr/sbin/sshd
if [ "${1:-}" != --inside ]; then
	need_binaries
	[ "$(id -u)" -eq 0 ] || skip_all "needs root"
	[ -x "$SSHD" ] || skip_all "no $SSHD (apt-get install openssh-server)"
	for b in unshare sudo visudo ssh ssh-keygen useradd; do
		command -v $b >/dev/null 2>&1 || skip_all "$b is not installed"
	done
	grep -qw overlay /proc/filesystems || modprobe overlay 2>/dev/null
	grep -qw overlay /proc/filesystems || skip_all "no overlayfs"
	unshare -m --propagation private true 2>/dev/null || skip_all "cannot unshare a mount namespace"
	rm -rf "$TMP"	# exec skips the trap; the inside makes a TMP of its own
	exec unshare -m --propagation private sh "$0" --inside
fi

# ---- inside the private mount namespace ------------------------------------
sshd_pid=
cleanup() {
	if [ -n "$sshd_pid" ]; then
		for c in $(ps -o pid= --ppid "$sshd_pid" 2>/dev/null); do
			for g in $(ps -o pid= --ppid "$c" 2>/dev/null); do kill -TERM "$g" 2>/dev/null; done
			kill -TERM "$c" 2>/dev/null
		done
		stop_pid "$sshd_pid"
	fi
	for d in /var /home /etc; do umount "$d" 2>/dev/null; done
	umount "$TMP/ov" 2>/dev/null
	rm -rf "$TMP"
}
trap cleanup EXIT
chmod 755 "$TMP"
mkdir "$TMP/ov" && mount -t tmpfs -o mode=755 lkfh "$TMP/ov" || { echo "1..0 # SKIP cannot mount a tmpfs"; exit 0; }
for d in /etc /home /var; do
	n=$(basename "$d")
	mkdir -p "$TMP/ov/$n.up" "$TMP/ov/$n.work"
	chmod --reference="$d" "$TMP/ov/$n.up"
	mount -t overlay overlay -o "lowerdir=$d,upperdir=$TMP/ov/$n.up,workdir=$TMP/ov/$n.work" "$d" ||
		skip_all "cannot put an overlay over $d"
done
# from here on, /etc, /home and /var are private to this test
mkdir -p /run/sshd	# sshd's privilege separation directory (as t/fleet.sh)
mkdir "$TMP/bin" && cp "$LOGKNOCK_APPLY" "$TMP/bin/" && chmod 755 "$TMP/bin" "$TMP/bin/logknock-apply"
APPLY=$TMP/bin/logknock-apply
U=lkfh$$
rm -rf /etc/logknock /etc/sudoers.d/logknock-fleet
! id "$U" >/dev/null 2>&1 || skip_all "user $U exists already"

ssh-keygen -q -t ed25519 -N '' -C fleet1 -f "$TMP/key1" || skip_all "ssh-keygen fails"
ssh-keygen -q -t ed25519 -N '' -C fleet2 -f "$TMP/key2"
ssh-keygen -q -t ed25519 -N '' -f "$TMP/host_key"

# ---- refusals ----------------------------------------------------------------
LOGKNOCK_APPLY=$APPLY sh "$SCRIPT" 'not a key' "$U" >"$TMP/out" 2>&1
rc=$?
check "a non-key argument is refused (exit 1)" sh -c '[ $1 -eq 1 ] && grep -q "not a public key" "$2"' sh $rc "$TMP/out"
LOGKNOCK_APPLY=$APPLY sh "$SCRIPT" "$(cut -d' ' -f1-2 "$TMP/key1.pub") x\"y" "$U" >"$TMP/out" 2>&1
rc=$?
check "a key with a quote is refused (exit 1)" sh -c '[ $1 -eq 1 ] && grep -q "quote" "$2"' sh $rc "$TMP/out"
check "... and nothing was made (no user, no sudoers file)" \
	sh -c '! id "$1" >/dev/null 2>&1 && [ ! -e /etc/sudoers.d/logknock-fleet ]' sh "$U"

# ---- the set-up ----------------------------------------------------------------
LOGKNOCK_APPLY=$APPLY sh "$SCRIPT" "$(cat "$TMP/key1.pub")" "$U" >"$TMP/setup.out" 2>&1
rc=$?
check "the script sets up the host (exit 0)" [ $rc -eq 0 ]
[ $rc -eq 0 ] || diag "$TMP/setup.out"
check "the user $U exists" sh -c 'id "$1" >/dev/null' sh "$U"
H=$(getent passwd "$U" | cut -d: -f6)
AK=$H/.ssh/authorized_keys
check "authorized_keys is 0600, owned by $U" \
	sh -c '[ "$(stat -c %a:%U "$1")" = "600:$2" ]' sh "$AK" "$U"
check "authorized_keys: restrict and the forced sudo command, with the key" \
	grep -qxF "restrict,command=\"/usr/bin/sudo -n $APPLY --config /etc/logknock/apply.yaml\" $(cat "$TMP/key1.pub")" "$AK"
check "/etc/sudoers.d/logknock-fleet passes visudo -c" sh -c 'visudo -c -f /etc/sudoers.d/logknock-fleet >/dev/null'
check "... and the whole sudoers too" sh -c 'visudo -c >/dev/null'
check "apply.yaml was written (backend: nft)" grep -q "^backend: nft" /etc/logknock/apply.yaml
check "the script's output names the apply.yaml it wrote" grep -q "wrote /etc/logknock/apply.yaml" "$TMP/setup.out"
# the log backend: no firewall touched
printf 'backend: log\nguard: [tcp/22]\n' >/etc/logknock/apply.yaml
chmod 644 /etc/logknock/apply.yaml

# ---- an sshd of the test's own ------------------------------------------------
PORT=$((20000 + $$ % 20000))
# UsePAM no: PAM in a test namespace is unreliable (pam_loginuid); it is also
# the stricter case, where sshd refuses a locked ("!") account
cat >"$TMP/sshd_config" <<EOF
ListenAddress 127.0.0.1
HostKey $TMP/host_key
PidFile none
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
PermitRootLogin no
LogLevel VERBOSE
EOF
"$SSHD" -D -e -f "$TMP/sshd_config" -p "$PORT" -h "$TMP/host_key" 2>>"$TMP/sshd.log" &
sshd_pid=$!
up=
for _ in $(seq 50); do
	bash -c 'exec 3<>/dev/tcp/127.0.0.1/$0' "$PORT" 2>/dev/null && { up=1; break; }
	alive "$sshd_pid" || break
	sleep 0.1
done
[ -n "$up" ] || { diag "$TMP/sshd.log"; skip_all "sshd does not start on 127.0.0.1:$PORT"; }
echo "[127.0.0.1]:$PORT $(cut -d' ' -f1-2 "$TMP/host_key.pub")" >"$TMP/known_hosts"
sshc() { # sshc KEY [ARGS...]
	k=$1
	shift
	timeout 20 ssh -F none -T -o BatchMode=yes -o StrictHostKeyChecking=yes -o UserKnownHostsFile="$TMP/known_hosts" \
		-o IdentitiesOnly=yes -o ConnectTimeout=5 -i "$TMP/$k" -p "$PORT" "$@"
}

printf 'open 1 inet 192.0.2.9 tcp 22 30 ssh\nclose 2 inet 192.0.2.9 tcp 22 ssh\n' |
	sshc key1 "$U@127.0.0.1" >"$TMP/out" 2>"$TMP/err"
if grep -qx "ok 1" "$TMP/out" && grep -qx "ok 2" "$TMP/out"; then
	ok "through ssh and sudo, open and close get ok answers"
else
	fail "through ssh and sudo, open and close get ok answers"
	diag "$TMP/out" "$TMP/err" "$TMP/sshd.log"
fi
printf 'open 3 inet 192.0.2.9 tcp 3306 30 ssh\n' | sshc key1 "$U@127.0.0.1" >"$TMP/out" 2>/dev/null
check "an open for a port apply.yaml does not guard is refused by the applier" grep -q "^error 3 " "$TMP/out"
printf 'id\n' | sshc key1 "$U@127.0.0.1" "id; touch $TMP/pwned" >"$TMP/out" 2>/dev/null
check "asking for another command (ssh ... id) still runs only the forced one" \
	sh -c '! grep -q "uid=" "$1" && [ ! -e "$2" ] && grep -q "^error 0" "$1"' sh "$TMP/out" "$TMP/pwned"
FWD=$((PORT + 1))
timeout 10 ssh -F none -o BatchMode=yes -o UserKnownHostsFile="$TMP/known_hosts" -o IdentitiesOnly=yes \
	-i "$TMP/key1" -p "$PORT" -o ExitOnForwardFailure=yes -N -L "127.0.0.1:$FWD:127.0.0.1:$PORT" \
	"$U@127.0.0.1" >/dev/null 2>"$TMP/err" &
fwd_pid=$!
sleep 1
# a refused -L is refused when used: connect through it; nothing answers with sshd's banner
banner=$(timeout 3 bash -c 'exec 3<>/dev/tcp/127.0.0.1/$0; head -c 7 <&3' "$FWD" 2>/dev/null)
stop_pid "$fwd_pid"
check "a port forward (-L) is refused by the server (administratively prohibited), nothing goes through" \
	sh -c '[ "$1" != SSH-2.0 ] && grep -q "administratively prohibited" "$2"' sh "$banner" "$TMP/err"
grep -q "administratively prohibited" "$TMP/err" || diag "$TMP/err"

# ---- again, with a second key -------------------------------------------------
LOGKNOCK_APPLY=$APPLY sh "$SCRIPT" "$(cat "$TMP/key2.pub")" "$U" >"$TMP/setup2.out" 2>&1
rc=$?
check "run again with a second key (exit 0)" [ $rc -eq 0 ]
[ $rc -eq 0 ] || diag "$TMP/setup2.out"
check "... apply.yaml is left as it was" grep -q "^backend: log" /etc/logknock/apply.yaml
check "... authorized_keys holds one line, the second key, still 0600 owned by $U" \
	sh -c '[ "$(wc -l <"$1")" -eq 1 ] && grep -qF "$2" "$1" && [ "$(stat -c %a:%U "$1")" = "600:$3" ]' \
	sh "$AK" "$(cut -d' ' -f2 "$TMP/key2.pub")" "$U"
printf 'open 4 inet 192.0.2.9 tcp 22 30 ssh\n' | sshc key2 "$U@127.0.0.1" >"$TMP/out" 2>"$TMP/err"
check "the second key logs in and gets ok" grep -qx "ok 4" "$TMP/out"
printf 'open 5 inet 192.0.2.9 tcp 22 30 ssh\n' | sshc key1 "$U@127.0.0.1" >"$TMP/out" 2>"$TMP/err"
rc=$?
check "the first key no longer logs in (ssh exits 255, Permission denied)" \
	sh -c '[ $1 -eq 255 ] && ! grep -q "^ok" "$2" && grep -q "Permission denied" "$3"' sh $rc "$TMP/out" "$TMP/err"
check "no file written by the forced-command attempt, ever" [ ! -e "$TMP/pwned" ]

plan "$tap_n"
done_testing
