#!/bin/sh
# Privilege separation: the process that reads logs runs as a non-root user
# with no capability at all, while the applier keeps what it needs and the
# firewall (here: a recording command) still changes. Three ways to start:
# (a) as root with 'user:', (b) as a user holding only CAP_NET_ADMIN as an
# ambient capability (as a systemd unit grants it), (c) unprivileged with the
# applier started through sudo -n.
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
sources:
  - file: $LOG
$SOURCE_EXTRA
prefix: "KNOCK "
applier:
  backend: command
  program: $LOGKNOCK_APPLY
  open: [$TMP/rec.sh, open, "%IP%"]
  close: [$TMP/rec.sh, close, "%IP%"]
$APPLIER_EXTRA
doors:
  - name: ssh
    sequence: [tcp/7000]
    open: [tcp/22]
    duration: 30s
EOF
	} >"$TMP/$1.yaml"
}

# knock SRC DPORT: a kernel knock line (knock_line) appended to the followed log.
knock() { knock_line "$LOG" "$@"; }
status_field() { # status_field PID FIELD: the value of FIELD in /proc/PID/status
	awk -v f="$2:" '$1 == f { print $2 }' "/proc/$1/status"
}
applier_of() { # the applier process started by daemon PID (the first child named logknock-apply)
	pgrep -P "$1" -x logknock-apply | head -1
}

PID=
SUDOERS=
cleanup() {
	[ -n "$PID" ] && kill -KILL "$PID" 2>/dev/null
	[ -n "$SUDOERS" ] && rm -f "$SUDOERS"
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
APPLIER_EXTRA=
SOURCE_EXTRA="  - kmsg: true"
conf root <<EOF
user: nobody
EOF
check "(a) root start: the daemon switches to the user" start root
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

# (c) Unprivileged, the applier started through sudo -n.
if command -v sudo >/dev/null 2>&1 && [ -d /etc/sudoers.d ]; then
	SUDOERS=/etc/sudoers.d/logknock-test-$$
	printf 'nobody ALL=(root) NOPASSWD: %s\n' "$LOGKNOCK_APPLY" >"$SUDOERS"
	chmod 440 "$SUDOERS"
	APPLIER_EXTRA="  command: [$(command -v sudo), -n]"
	conf sudo </dev/null
	mkdir "$TMP/state-sudo" && chown nobody "$TMP/state-sudo"
	check "(c) applier through sudo -n: the daemon starts unprivileged" \
		start sudo setpriv --reuid=nobody --regid=nogroup --clear-groups
	check "(c) the daemon is uid $NOBODY with no capability" \
		sh -c "[ '$(status_field "$PID" Uid)' = $NOBODY ] && [ '$(status_field "$PID" CapEff)' = 0000000000000000 ]"
	knock 192.0.2.4 7000
	check "(c) a knock changes the firewall as root through sudo" wait_for "$CMDS" "^open 192.0.2.4 uid=0$"
	stop
else
	ok "# SKIP sudo is not installed: (c) not tested"
	ok "# SKIP sudo is not installed: (c) not tested"
	ok "# SKIP sudo is not installed: (c) not tested"
fi

# A user that does not exist is an error at start, not a silent root daemon.
conf nouser <<EOF
user: no-such-user-here
EOF
"$LOGKNOCKD" -c "$TMP/nouser.yaml" --state-dir "$TMP/state-nouser" 2>"$TMP/nu.err"
check "an unknown user: exit 1 with a message" sh -c "[ $? -eq 1 ] && grep -q 'no-such-user-here: no such user' '$TMP/nu.err'"
done_testing
