#!/bin/sh
# Privilege separation: the process that reads logs runs as a non-root user
# with no capability at all, while the applier keeps what it needs and the
# firewall (here: a recording command) still changes. Three ways to start:
# (a) as root with 'user:', (b) as a user holding only CAP_NET_ADMIN as an
# ambient capability (as a systemd unit grants it), (c) unprivileged with the
# applier started through sudo -n, with the documented sudoers line (no
# arguments) and the applier's settings in its own root-owned apply.yaml.
. "${top_srcdir:-$(dirname "$0")/..}/t/lib.sh"
need_binaries
[ "$(id -u)" -eq 0 ] || skip_all "needs root"
command -v setpriv >/dev/null 2>&1 || skip_all "setpriv (util-linux) missing"
id nobody >/dev/null 2>&1 || skip_all "no user nobody"
plan 16

NOBODY=$(id -u nobody)
chmod 755 "$TMP"
LOG=$TMP/kern.log
CMDS=$TMP/cmds
: >"$LOG"
: >"$CMDS"
chmod 644 "$LOG"
chmod 666 "$CMDS"
cat >"$TMP/rec.sh" <<EOF
#!/bin/sh
printf '%s uid=%s\n' "\$*" "\$(id -u)" >>"$CMDS"
EOF
chmod 755 "$TMP/rec.sh"

conf() { # conf NAME [extra top-level lines on stdin]
	{
		cat
		cat <<EOF
# net.netfilter.nf_log_all_netns is the host's: another test may hold it at 1 meanwhile
accept_nf_log_all_netns: true
sources:
  - file: $LOG
$SOURCE_EXTRA
prefix: "KNOCK "
applier:
  program: $LOGKNOCK_APPLY
$APPLIER
doors:
  - name: ssh
    sequence: [tcp/7000]
    open: [tcp/22]
    duration: 30s
EOF
	} >"$TMP/$1.yaml"
}

# The applier's settings, given by the daemon (a and b).
APPLIER_OWN="  backend: command
  open: [$TMP/rec.sh, open, \"%IP%\"]
  close: [$TMP/rec.sh, close, \"%IP%\"]"
APPLIER=$APPLIER_OWN

# knock SRC DPORT: a kernel knock line (knock_line) appended to the followed log.
knock() { knock_line "$LOG" "$@"; }
status_field() { # status_field PID FIELD: the value of FIELD in /proc/PID/status
	awk -v f="$2:" '$1 == f { print $2 }' "/proc/$1/status"
}
applier_of() { # the applier process started by daemon PID (the first child named logknock-apply)
	pgrep -P "$1" -x logknock-apply | head -1
}

PID=
cleanup() {
	[ -n "$PID" ] && kill -KILL "$PID" 2>/dev/null
	rm -rf "$TMP"
}
trap cleanup EXIT
start() { # start CONF [COMMAND PREFIX...]
	c=$1
	shift
	: >"$TMP/d.err"
	"$@" "$LOGKNOCKD" -c "$TMP/$c.yaml" --state-dir "$TMP/state-$c" 2>"$TMP/d.err" &
	PID=$!
	wait_for "$TMP/d.err" "reading logs as uid"
}
stop() {
	kill -TERM "$PID" 2>/dev/null
	wait "$PID"
	PID=
}

# (a) Started as root with user: nobody; /dev/kmsg too, which only root may
# open when kernel.dmesg_restrict=1.
SOURCE_EXTRA="  - kmsg: true"
conf root <<EOF
user: nobody
EOF
# As an admin's "sudo logknockd" starts it: the applier it starts itself
# (root, like the daemon) still takes its settings from the daemon.
check "(a) root start (through sudo: SUDO_* set): the daemon switches to the user" \
	start root env SUDO_UID=1000 SUDO_USER=admin SUDO_COMMAND=/usr/sbin/logknockd
check "(a) the log-reading process has uid $NOBODY" [ "$(status_field "$PID" Uid)" = "$NOBODY" ]
check "(a) ... and no capability: CapEff, CapPrm, CapInh, CapAmb all zero" \
	sh -c "[ '$(status_field "$PID" CapEff)$(status_field "$PID" CapPrm)$(status_field "$PID" CapInh)$(status_field "$PID" CapAmb)' = 0000000000000000000000000000000000000000000000000000000000000000 ]"
check "(a) ... and no new privileges" [ "$(status_field "$PID" NoNewPrivs)" = 1 ]
ap=$(applier_of "$PID")
check "(a) the applier stays root with its capabilities" \
	sh -c "[ -n '$ap' ] && [ \"\$(awk '\$1 == \"Uid:\" { print \$2 }' /proc/$ap/status)\" = 0 ] && [ \"\$(awk '\$1 == \"CapEff:\" { print \$2 }' /proc/$ap/status)\" != 0000000000000000 ]"
knock 192.0.2.2 7000
check "(a) a knock still changes the firewall (as root)" wait_for "$CMDS" "^open 192.0.2.2 uid=0$"
# (saved at most a second after they change, by the state writer)
check "(a) positions are saved by the unprivileged daemon" \
	sh -c "i=0; while ! ls '$TMP/state-root'/file-* >/dev/null 2>&1 && [ \$i -lt 150 ]; do sleep 0.02; i=\$((i + 1)); done
		ls '$TMP/state-root'/file-* >/dev/null 2>&1 && [ \"\$(stat -c %u '$TMP/state-root')\" = $NOBODY ]"
kill -HUP "$PID"
wait_for "$TMP/d.err" "reloaded " >/dev/null
knock 192.0.2.5 7000
wait_for "$CMDS" "^open 192.0.2.5 uid=0" >/dev/null
check "(a) a reload keeps every source, /dev/kmsg too, although the daemon could not open it again" \
	sh -c "grep -q 'reloaded .*2 sources' '$TMP/d.err' && ! grep -q 'could not be started' '$TMP/d.err' && grep -q '^open 192.0.2.5 uid=0' '$CMDS'"
stop
SOURCE_EXTRA=

# (b) No root at all: a user with CAP_NET_ADMIN as its only (ambient) capability.
conf ambient </dev/null
mkdir "$TMP/state-ambient" && chown nobody "$TMP/state-ambient"
check "(b) ambient CAP_NET_ADMIN: the daemon starts" \
	start ambient setpriv --reuid=nobody --regid=nogroup --clear-groups --inh-caps=+net_admin --ambient-caps=+net_admin
check "(b) the log-reading process has dropped CAP_NET_ADMIN (CapEff and CapAmb zero)" \
	sh -c "[ '$(status_field "$PID" CapEff)$(status_field "$PID" CapAmb)' = 00000000000000000000000000000000 ]"
ap=$(applier_of "$PID")
check "(b) the applier holds exactly CAP_NET_ADMIN" \
	sh -c "[ -n '$ap' ] && [ \"\$(awk '\$1 == \"CapEff:\" { print \$2 }' /proc/$ap/status)\" = 0000000000001000 ]"
knock 192.0.2.3 7000
check "(b) a knock still changes the firewall" wait_for "$CMDS" "^open 192.0.2.3 uid=$NOBODY$"
stop

# (c) Unprivileged, the applier started through sudo -n, as documented: a
# sudoers line that allows no argument, the applier's settings in its own
# root-owned file (apply.yaml at the build's default path). Both are put in
# place in a private mount namespace (t/privns.sh), over /etc/sudoers and the
# default settings directory; the daemon runs in it.
default_conf=$("$LOGKNOCK_APPLY" --help | sed -n 's/.*(default \([^)]*\)).*/\1/p')
conf_dir=$(dirname "${default_conf:-/nonexistent/x}")
# t/privns.sh can put the settings over the build's directory, or over its
# parent; not when neither exists (make distcheck's staging prefix).
if [ ! -d "$conf_dir" ] && [ ! -d "$(dirname "$conf_dir")" ]; then
	why="neither $conf_dir nor its parent exists (a staging prefix, as make distcheck's): (c) not tested"
	ok "# SKIP $why"
	ok "# SKIP $why"
	ok "# SKIP $why"
elif command -v sudo >/dev/null 2>&1 && command -v unshare >/dev/null 2>&1; then
	printf 'Defaults env_reset\nroot ALL=(ALL:ALL) ALL\nnobody ALL=(root) NOPASSWD: %s ""\n' "$LOGKNOCK_APPLY" \
		>"$TMP/sudoers"
	chmod 440 "$TMP/sudoers"
	mkdir "$TMP/conf" && chmod 755 "$TMP/conf"
	printf 'backend: command\nguard: [tcp/22]\nopen: [%s, open, "%%IP%%"]\nclose: [%s, close, "%%IP%%"]\n' \
		"$TMP/rec.sh" "$TMP/rec.sh" >"$TMP/conf/apply.yaml"
	APPLIER="  command: [$(command -v sudo), -n]
  config: $default_conf"
	conf sudo </dev/null
	mkdir "$TMP/state-sudo" && chown nobody "$TMP/state-sudo"
	check "(c) applier through sudo -n (the documented line, no arguments): the daemon starts unprivileged" \
		start sudo "$top_srcdir/t/privns.sh" "$TMP/sudoers" "$TMP/conf" setpriv --reuid=nobody --regid=nogroup --clear-groups
	check "(c) the daemon is uid $NOBODY with no capability" \
		sh -c "[ '$(status_field "$PID" Uid)' = $NOBODY ] && [ '$(status_field "$PID" CapEff)' = 0000000000000000 ]"
	knock 192.0.2.4 7000
	check "(c) a knock changes the firewall as root through sudo, with root's settings" wait_for "$CMDS" "^open 192.0.2.4 uid=0$"
	stop
	APPLIER=$APPLIER_OWN
else
	ok "# SKIP sudo or unshare is not installed: (c) not tested"
	ok "# SKIP sudo or unshare is not installed: (c) not tested"
	ok "# SKIP sudo or unshare is not installed: (c) not tested"
fi

# A user that does not exist is an error at start, not a silent root daemon.
conf nouser <<EOF
user: no-such-user-here
EOF
"$LOGKNOCKD" -c "$TMP/nouser.yaml" --state-dir "$TMP/state-nouser" 2>"$TMP/nu.err"
check "an unknown user: exit 1 with a message" sh -c "[ $? -eq 1 ] && grep -q 'no-such-user-here: no such user' '$TMP/nu.err'"
done_testing
