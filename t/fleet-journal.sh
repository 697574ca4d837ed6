#!/bin/sh
# fleet-journal.sh — a collector's journal-remote directory as a source
# (issue 16): journal: {directory: DIR, transport: kernel}. Entries are
# written with systemd-journal-remote from journal export format, as a
# sender's systemd-journal-upload would deliver them; each knock's host is
# the entry's _HOSTNAME (at: filters on it); entries of another transport
# are not read, whatever host they name. The directory is empty when the
# daemon starts: the first file to appear is read from its first entry.
. "${top_srcdir:-$(dirname "$0")/..}/t/lib.sh"
need_binaries
JR=/lib/systemd/systemd-journal-remote
[ -x "$JR" ] || JR=/usr/lib/systemd/systemd-journal-remote
[ -x "$JR" ] || skip_all "no systemd-journal-remote (apt-get install systemd-journal-remote)"
plan 3
daemon_pid=
trap 'stop_pid "$daemon_pid"; rm -rf "$TMP"' EXIT

mkdir "$TMP/remote" "$TMP/state"
cat >"$TMP/c.yaml" <<EOF
sources:
  - journal: {directory: $TMP/remote, transport: kernel}
prefix: "KNOCK "
accept_nf_log_all_netns: true
state_dir: $TMP/state
control: {socket: ""}
applier: {backend: log}
doors:
  - {name: j, sequence: [tcp/7000, tcp/8000], open: [tcp/22], at: [gwj]}
EOF
"$LOGKNOCKD" -c "$TMP/c.yaml" -v >/dev/null 2>"$TMP/err" &
daemon_pid=$!
wait_for "$TMP/err" "following 1 sources" 10 || { diag "$TMP/err"; echo "Bail out! the daemon did not start"; exit 1; }

L='IN=eth0 OUT= MAC=00:00:00:00:00:00:00:00:00:00:00:00:08:00 SRC=%s DST=192.0.2.1 LEN=60 TOS=0x00 PREC=0x00 TTL=64 ID=1 DF PROTO=TCP SPT=40000 DPT=%d WINDOW=64240 RES=0x00 SYN URGP=0'
bid=$(tr -d - </proc/sys/kernel/random/boot_id)
now=$(date +%s%6N)
entry() { # entry TRANSPORT HOST SRC DPORT
	now=$((now + 1000))
	printf "__REALTIME_TIMESTAMP=%s\n__MONOTONIC_TIMESTAMP=%s\n_BOOT_ID=%s\n_TRANSPORT=%s\nSYSLOG_FACILITY=0\n_HOSTNAME=%s\nMESSAGE=KNOCK $L\n\n" \
		"$now" 1000 "$bid" "$1" "$2" "$3" "$4"
}
{
	entry kernel gwj 192.0.2.2 7000
	entry kernel gwj 192.0.2.2 8000
	entry kernel other 192.0.2.5 7000
	entry kernel other 192.0.2.5 8000
	entry syslog gwj 192.0.2.6 7000
	entry syslog gwj 192.0.2.6 8000
	entry kernel gwj 192.0.2.9 9999	# the last: when it is read, every other one was
} >"$TMP/export"
"$JR" -o "$TMP/remote/remote-gwj.journal" "$TMP/export" 2>"$TMP/jr.err" || diag "$TMP/jr.err"
wait_for "$TMP/err" "knock .* tcp/9999 from 192.0.2.9" 10

check() { if eval "$2"; then ok "$1"; else fail "$1"; diag "$TMP/err"; fi; }
check "a knock at host gwj (_HOSTNAME) opens a door at: [gwj], from the directory's first entry on" \
	'grep -q "door j: opened tcp/22 for 192.0.2.2" "$TMP/err"'
check "the same knock from host other does not" '! grep -q "for 192.0.2.5" "$TMP/err"'
check "an entry of another transport naming gwj is not read" '! grep -q "from 192.0.2.6" "$TMP/err"'
done_testing
