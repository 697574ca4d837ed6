#!/bin/sh
# Journal fields: with stderr on a journal stream (as under systemd), each
# decision of the live daemon is a journal entry of its own with MESSAGE_ID,
# LOGKNOCK_DOOR, LOGKNOCK_SRC, LOGKNOCK_PORT, PRIORITY and
# SYSLOG_IDENTIFIER=logknockd, its MESSAGE the text stderr had before; and
# systemd/logknock.catalog explains each kind under journalctl -x.
. "${top_srcdir:-$(dirname "$0")/..}/t/lib.sh"
. "$top_srcdir/t/netns.sh"	# kernel_log_lock, ensure_journald (no namespace is made)
need_binaries

PID=
cleanup() {
	stop_pid "$PID"
	netns_cleanup		# the journald, when this test started it
	rm -rf "$TMP"
}
trap cleanup EXIT

[ "$(id -u)" = 0 ] || skip_all "not root (a systemd-journald may have to be started)"
for c in journalctl systemd-cat stat; do
	command -v $c >/dev/null 2>&1 || skip_all "no $c"
done
journalctl --version >/dev/null 2>&1 || skip_all "journalctl does not run"

kernel_log_lock -x	# journald: ours to start and stop, no one else's meanwhile
ensure_journald || skip_all "$journald_error"

plan 14

# The ids of src/common/log.c (and systemd/logknock.catalog).
ID_OPEN=a901cf0091b542ebb09a14512bd88a8c
ID_CLOSE=55a2bfc6a2f84297afac343964066a51
DOOR=jf$netns_id	# this run's: the journal keeps earlier runs' entries
SRC=192.0.2.77
LOG=$TMP/kern.log
: >"$LOG"
mkdir -m 700 "$TMP/s1" "$TMP/s2"
cat >"$TMP/conf.yaml" <<EOF
# net.netfilter.nf_log_all_netns is the host's: another test may hold it at 1 meanwhile
accept_nf_log_all_netns: true
sources:
  - file: $LOG
prefix: "KNOCK "
applier:
  backend: log
doors:
  - name: $DOOR
    sequence: [tcp/7000, tcp/8000]
    open: [tcp/22]
    duration: 1s
EOF

# j ARGS...: journalctl ARGS, quietly.
j() { journalctl --no-pager -q "$@" 2>/dev/null; }
# wait_journal ARGS...: until journalctl ARGS finds an entry (10 s).
wait_journal() {
	wj_i=0
	while [ $wj_i -lt 500 ]; do
		[ -n "$(j -o cat "$@")" ] && return 0
		sleep 0.02
		wj_i=$((wj_i + 1))
	done
	return 1
}

# stderr on a stream of journald (systemd-cat), and JOURNAL_STREAM naming
# it as systemd does for a service: DEVICE:INODE of that socket.
systemd-cat -t "logknockd-$DOOR" sh -c 'JOURNAL_STREAM=$(stat -L -c %d:%i /proc/self/fd/2) && export JOURNAL_STREAM &&
	exec "$0" -c "$1" --state-dir "$2"' "$LOGKNOCKD" "$TMP/conf.yaml" "$TMP/s1" &
PID=$!	# sh execs logknockd, systemd-cat execs sh
started() { j -o cat -t "logknockd-$DOOR" | grep -q "following 1 sources"; }
i=0
while [ $i -lt 500 ] && ! started; do sleep 0.02; i=$((i + 1)); done
if started; then
	ok "the daemon logs to the journal's stream"
else
	fail "the daemon logs to the journal's stream"
	j -t "logknockd-$DOOR" | diag
fi

knock_line "$LOG" $SRC 7000
knock_line "$LOG" $SRC 8000

if wait_journal LOGKNOCK_DOOR="$DOOR" MESSAGE_ID=$ID_OPEN; then
	ok "journalctl LOGKNOCK_DOOR=$DOOR MESSAGE_ID=<open> finds the open"
else
	fail "journalctl LOGKNOCK_DOOR=$DOOR MESSAGE_ID=<open> finds the open"
	j -t "logknockd-$DOOR" | diag
fi
j -o export LOGKNOCK_DOOR="$DOOR" MESSAGE_ID=$ID_OPEN >"$TMP/open.export"
field() { grep -qx "$1" "$TMP/open.export"; }
check "... with LOGKNOCK_SRC=$SRC" field "LOGKNOCK_SRC=$SRC"
check "... with LOGKNOCK_PORT=tcp/22" field "LOGKNOCK_PORT=tcp/22"
check "... with PRIORITY=6 (info)" field "PRIORITY=6"
check "... with SYSLOG_IDENTIFIER=logknockd" field "SYSLOG_IDENTIFIER=logknockd"
check "... its MESSAGE the text of stderr" grep -q "^MESSAGE=door $DOOR: opened tcp/22 for $SRC until [0-9TZ:.-]*\$" "$TMP/open.export"
check "journalctl MESSAGE_ID=<open> LOGKNOCK_SRC=$SRC finds it" \
	sh -c '[ "$(journalctl --no-pager -q -o cat MESSAGE_ID=$0 LOGKNOCK_SRC=$1 LOGKNOCK_DOOR=$2 | wc -l)" -eq 1 ]' \
	$ID_OPEN $SRC "$DOOR"
# The decision is not in the stream a second time (without its fields).
check "the open is not in the stream as well" \
	sh -c '! journalctl --no-pager -q -o cat -t "$0" | grep -q ": opened tcp/22"' "logknockd-$DOOR"

if wait_journal LOGKNOCK_DOOR="$DOOR" MESSAGE_ID=$ID_CLOSE; then
	ok "the close after a second: MESSAGE_ID=<close>, its fields"
	j -o export LOGKNOCK_DOOR="$DOOR" MESSAGE_ID=$ID_CLOSE >"$TMP/close.export"
	check "... LOGKNOCK_SRC and LOGKNOCK_PORT of the grant" \
		sh -c 'grep -qx "LOGKNOCK_SRC=$1" "$0" && grep -qx "LOGKNOCK_PORT=tcp/22" "$0"' "$TMP/close.export" $SRC
else
	fail "the close after a second: MESSAGE_ID=<close>, its fields"
	fail "... LOGKNOCK_SRC and LOGKNOCK_PORT of the grant"
fi
stop_pid "$PID"
PID=

# Outside the journal: the same text as before on stderr.
: >"$LOG.2"
sed "s|$LOG|$LOG.2|" "$TMP/conf.yaml" >"$TMP/conf2.yaml"
JOURNAL_STREAM= "$LOGKNOCKD" -c "$TMP/conf2.yaml" --state-dir "$TMP/s2" 2>"$TMP/d2.err" &
PID=$!
wait_for "$TMP/d2.err" "following 1 sources" 5
knock_line "$LOG.2" $SRC 7000
knock_line "$LOG.2" $SRC 8000
check "without the journal: 'logknockd: door $DOOR: opened tcp/22 for $SRC until ...' on stderr" \
	wait_for "$TMP/d2.err" "^logknockd: door $DOOR: opened tcp/22 for $SRC until " 5
stop_pid "$PID"
PID=

# The catalog: journalctl -x explains the entry once the catalog is in
# the database. Not the host's own database: one of our own, built with
# --root, and put over the host's in a mount namespace of journalctl -x
# alone (journalctl -x reads /var/lib/systemd/catalog/database, --root or not).
CAT=$top_srcdir/systemd/logknock.catalog
ROOT=$TMP/root
mkdir -p "$ROOT/usr/lib/systemd/catalog"
cp "$CAT" "$ROOT/usr/lib/systemd/catalog/"
if journalctl --root="$ROOT" --update-catalog 2>"$TMP/cat.err" &&
	journalctl --root="$ROOT" --list-catalog 2>/dev/null | grep -q "^$ID_OPEN logknock: "; then
	ok "journalctl --update-catalog takes systemd/logknock.catalog ($(journalctl --root="$ROOT" --list-catalog | grep -c ' logknock: ') kinds)"
else
	fail "journalctl --update-catalog takes systemd/logknock.catalog"
	diag "$TMP/cat.err"
fi
if ! command -v unshare >/dev/null 2>&1 || [ ! -d /var/lib/systemd/catalog ] || ! unshare -m true 2>/dev/null; then
	ok "# SKIP journalctl -x: no unshare -m, or no /var/lib/systemd/catalog to put our database over"
elif unshare -m --propagation private sh -c 'mount --bind "$0" /var/lib/systemd/catalog &&
		journalctl --no-pager -q -x LOGKNOCK_DOOR="$1" MESSAGE_ID="$2"' \
		"$ROOT/var/lib/systemd/catalog" "$DOOR" $ID_OPEN >"$TMP/x.out" 2>&1 &&
	grep -q "^-- Subject: logknockd opened tcp/22 for $SRC (door $DOOR)" "$TMP/x.out"; then
	ok "journalctl -x shows the catalog's text, its fields filled in"
else
	fail "journalctl -x shows the catalog's text, its fields filled in"
	diag "$TMP/x.out"
fi

done_testing
