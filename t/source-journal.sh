#!/bin/sh
# The journal source: real kernel knock lines arrive, lines forged by local
# users (logger -t kernel, systemd-cat -t kernel) never do, and a restart
# (clean or kill -9) resumes after the last line handed out.
. "${top_srcdir:-$(dirname "$0")/..}/t/lib.sh"
. "$top_srcdir/t/netns.sh"

DRIVER=$top_builddir/t/source-jdriver
TAB=$(printf '\t')
PREFIX=LKJ$netns_id
STATE=$TMP/state

cleanup() {
	stop_pid "$driver_pid"
	netns_cleanup		# and the journald, when this test started it
	rm -rf "$TMP"
}
trap cleanup EXIT

[ "$(id -u)" = 0 ] || skip_all "not root"
[ -x "$DRIVER" ] || skip_all "source-jdriver not built ($DRIVER)"
command -v journalctl >/dev/null 2>&1 || skip_all "no journalctl"
journalctl --version >/dev/null 2>&1 || skip_all "journalctl does not run"
command -v logger >/dev/null 2>&1 || skip_all "no logger"
command -v systemd-cat >/dev/null 2>&1 || skip_all "no systemd-cat"

# sleep_step: 20 ms.
sleep_step() { sleep 0.02; }

kernel_log_lock -x	# journald: ours to start and stop, no one else's meanwhile
ensure_journald || skip_all "$journald_error"

netns_setup || skip_all "$netns_error"
netns_log_rule "$PREFIX" 7001 7002 7003 7004 7005 7006 7007 7008 7009 ||
	skip_all "cannot add an nftables log rule"

plan 15

# in_journal PATTERN: the kernel-transport or any entry is in the journal, within 5 s.
in_journal() {
	i=0
	while [ $i -lt 250 ]; do
		journalctl --no-pager -q -o cat --since=-5min 2>/dev/null | grep -q "$1" && return 0
		i=$((i + 1))
		sleep_step
	done
	return 1
}

mkdir "$STATE"

# (a) A knock logged by the kernel itself arrives through journald.
check "driver started" start_driver journal "$TMP/out1" 0
netns_knock tcp 7001
if wait_for "$TMP/out1" "^L$TAB$PREFIX IN=.*DPT=7001 " 5; then
	ok "(a) real kernel knock line delivered as L"
else
	fail "(a) real kernel knock line delivered as L"
	diag "$TMP/out1" "$TMP/out1.err"
fi

# (b) Lines forged by local users under the tag "kernel" are in the
# journal, but never handed out: through the syslog socket, through stdout,
# and through the native protocol claiming _TRANSPORT=kernel itself. And
# one written into /dev/kmsg by root, which journald does file under
# _TRANSPORT=kernel (with the facility the kernel forced on it: not 0).
forged="$PREFIX IN=x OUT= SRC=192.0.2.66 DST=192.0.2.1 PROTO=TCP SPT=1 DPT=7000 SYN"
if [ -S /dev/log ]; then logger -t kernel "$forged"; else logger -u /run/systemd/journal/dev-log -t kernel "$forged"; fi
echo "$forged" | systemd-cat -t kernel
printf 'MESSAGE=%s\nSYSLOG_IDENTIFIER=kernel\n_TRANSPORT=kernel\nSYSLOG_FACILITY=0\n' "$forged" | logger --journald
echo "<0>$forged" >/dev/kmsg
nforged=0 nkmsg=0
i=0
while [ $i -lt 250 ]; do
	nforged=$(journalctl --no-pager -q -o cat -t kernel --since=-5min | grep -c "^$PREFIX IN=x .*SRC=192.0.2.66")
	nkmsg=$(journalctl --no-pager -q -o cat _TRANSPORT=kernel --since=-5min | grep -c "^$PREFIX IN=x .*SRC=192.0.2.66")
	[ "$nforged" -ge 3 ] && [ "$nkmsg" -ge 1 ] && break
	i=$((i + 1))
	sleep_step
done
if [ "$nforged" -ge 3 ] && [ "$nkmsg" -ge 1 ]; then
	ok "(b) the forgeries are in the journal (3 tagged kernel, 1 with _TRANSPORT=kernel)"
else
	fail "(b) the forgeries are in the journal (found $nforged tagged kernel, $nkmsg with _TRANSPORT=kernel)"
fi
netns_knock udp 7002
if wait_for "$TMP/out1" "^L$TAB$PREFIX IN=.*DPT=7002 " 5; then
	ok "(b) a real knock sent after the forgeries arrived"
else
	fail "(b) a real knock sent after the forgeries arrived"
fi
if grep -q "192.0.2.66" "$TMP/out1"; then
	fail "(b) forged lines were not delivered"
	diag "$TMP/out1"
else
	ok "(b) forged lines were not delivered"
fi

# (c) Clean stop, a knock while down, start again: that knock once as L,
# nothing before it again as L.
stop_driver TERM
netns_knock udp 7003
in_journal "$PREFIX IN=.*DPT=7003 " || diag "$TMP/out1.err"
start_driver journal "$TMP/out2" 0
netns_knock udp 7004	# proves the driver is live; everything before it has been read by then
wait_for "$TMP/out2" "^L$TAB$PREFIX IN=.*DPT=7004 " 5
if [ "$(knock_count "$TMP/out2" L 7003)" = 1 ] && [ "$(knock_count "$TMP/out2" L 7004)" = 1 ]; then
	ok "(c) knock sent while stopped delivered once as L after the restart"
else
	fail "(c) knock sent while stopped delivered once as L after the restart"
	diag "$TMP/out2" "$TMP/out2.err"
fi
if [ "$(knock_count "$TMP/out2" L 7001)" = 0 ] && [ "$(knock_count "$TMP/out2" L 7002)" = 0 ] &&
	[ "$(knock_count "$TMP/out2" W 7001)" = 0 ]; then
	ok "(c) earlier knocks not repeated (no warm period asked for)"
else
	fail "(c) earlier knocks not repeated (no warm period asked for)"
	diag "$TMP/out2"
fi

# (c') The same with a warm period of a minute: earlier knocks again, as W only.
stop_driver TERM
netns_knock udp 7005
in_journal "$PREFIX IN=.*DPT=7005 " || :
start_driver journal "$TMP/out3" 60000
netns_knock udp 7006
wait_for "$TMP/out3" "^L$TAB$PREFIX IN=.*DPT=7006 " 5
if [ "$(knock_count "$TMP/out3" L 7005)" = 1 ] && [ "$(knock_count "$TMP/out3" L 7006)" = 1 ] &&
	[ "$(knock_count "$TMP/out3" W 7005)" = 0 ]; then
	ok "(c') knock sent while stopped delivered once as L"
else
	fail "(c') knock sent while stopped delivered once as L"
	diag "$TMP/out3" "$TMP/out3.err"
fi
if [ "$(knock_count "$TMP/out3" W 7001)" = 1 ] && [ "$(knock_count "$TMP/out3" W 7004)" = 1 ] &&
	[ "$(grep -c "^L$TAB$PREFIX .*DPT=700[1-4] " "$TMP/out3")" = 0 ] &&
	[ "$(grep -n "^W$TAB$PREFIX .*DPT=7004 " "$TMP/out3" | cut -d: -f1)" -lt \
		"$(grep -n "^L$TAB$PREFIX .*DPT=7005 " "$TMP/out3" | cut -d: -f1)" ]; then
	ok "(c') knocks of the warm period again as W, before the new ones, never as L"
else
	fail "(c') knocks of the warm period again as W, before the new ones, never as L"
	diag "$TMP/out3"
fi

# (d) kill -9 once the position is saved (at most a second after the
# entry is handed out): the position of the last batch survives.
netns_knock udp 7007
wait_for "$TMP/out3" "^L$TAB$PREFIX IN=.*DPT=7007 " 5
# journal_saved PATTERN: until the saved realtime stamp reaches that of the
# kernel entry matching PATTERN; at most 3 s.
journal_saved() {
	t=$(journalctl -k -q -o short-unix --no-pager 2>/dev/null | grep "$1" | tail -n 1 | cut -d' ' -f1 | tr -d .)
	i=0
	while [ -n "$t" ] && [ $i -lt 150 ]; do
		f=$(ls "$STATE"/journal-kernel-* 2>/dev/null | head -n 1)
		[ -n "$f" ] && [ "$(sed -n 2p "$f")" -ge "$t" ] 2>/dev/null && return 0
		sleep 0.02
		i=$((i + 1))
	done
	return 1
}
journal_saved "$PREFIX IN=.*DPT=7007 " || diag "$TMP/out3.err"
stop_driver KILL
netns_knock udp 7008
in_journal "$PREFIX IN=.*DPT=7008 " || :
start_driver journal "$TMP/out4" 0
netns_knock udp 7009
wait_for "$TMP/out4" "^L$TAB$PREFIX IN=.*DPT=7009 " 5
if [ "$(knock_count "$TMP/out4" L 7008)" = 1 ] && [ "$(knock_count "$TMP/out4" L 7009)" = 1 ]; then
	ok "(d) after kill -9, the knock sent while down delivered once as L"
else
	fail "(d) after kill -9, the knock sent while down delivered once as L"
	diag "$TMP/out4" "$TMP/out4.err"
fi
if [ "$(grep -c "^L$TAB$PREFIX .*DPT=700[1-7] " "$TMP/out4")" = 0 ]; then
	ok "(d) after kill -9, nothing before it repeated"
else
	fail "(d) after kill -9, nothing before it repeated"
	diag "$TMP/out4"
fi

# The state file: cursor, newline, realtime.
f=$(ls "$STATE"/journal-kernel-* 2>/dev/null | head -n 1)
if [ -n "$f" ] && sed -n 1p "$f" | grep -q '^s=[0-9a-f]*;i=' && sed -n 2p "$f" | grep -Eq '^[0-9]{16}$'; then
	ok "state file holds a cursor and a realtime stamp"
else
	fail "state file holds a cursor and a realtime stamp"
fi

# (e) A saved cursor that is no longer in the journal (rotated, vacuumed):
# a warning, then entries newer than the saved time as L, older ones not.
stop_driver TERM
printf 's=00000000000000000000000000000000;i=1;b=00000000000000000000000000000000;m=1;t=1;x=1\n%s\n' \
	"$(date +%s%6N)" >"$f"
netns_knock udp 7003
in_journal "$PREFIX IN=.*DPT=7003 .*" || :
start_driver journal "$TMP/out5" 0
netns_knock tcp 7001
wait_for "$TMP/out5" "^L$TAB$PREFIX IN=.*DPT=7001 " 5
check "(e) a lost cursor is reported" grep -q 'no longer in the journal' "$TMP/out5.err"
if [ "$(knock_count "$TMP/out5" L 7003)" = 1 ] && [ "$(knock_count "$TMP/out5" L 7001)" = 1 ] &&
	[ "$(grep -c "^[LW]$TAB$PREFIX .*DPT=700[2-9] " "$TMP/out5")" = 1 ]; then
	ok "(e) after a lost cursor: resumes after the saved time"
else
	fail "(e) after a lost cursor: resumes after the saved time"
	diag "$TMP/out5" "$TMP/out5.err"
fi

stop_driver TERM
check "driver exits 0 on SIGTERM" [ "$driver_rc" = 0 ]
done_testing
