#!/bin/sh
# The /dev/kmsg source: real kernel knock lines arrive at once, records that
# user space wrote into /dev/kmsg never do (whatever priority they claim),
# and a restart (clean or kill -9) resumes after the last record handed out;
# a position beyond the kernel's last record is dropped.
. "${top_srcdir:-$(dirname "$0")/..}/t/lib.sh"
. "$top_srcdir/t/netns.sh"

DRIVER=$top_builddir/t/source-jdriver
TAB=$(printf '\t')
PREFIX=LKK$netns_id
STATE=$TMP/state

cleanup() {
	stop_pid "$driver_pid"
	netns_cleanup
	rm -rf "$TMP"
}
trap cleanup EXIT

[ "$(id -u)" = 0 ] || skip_all "not root"
[ -x "$DRIVER" ] || skip_all "source-jdriver not built ($DRIVER)"
[ -r /dev/kmsg ] && [ -w /dev/kmsg ] || skip_all "no /dev/kmsg"
netns_setup || skip_all "$netns_error"
netns_log_rule "$PREFIX" 7001 7002 7003 7004 7005 7006 7007 7008 7009 ||
	skip_all "cannot add an nftables log rule"

plan 18

# in_kmsg PATTERN: a record of the kernel log buffer (any facility) matches.
in_kmsg() { kmsg_dump | grep -q "$1"; }

mkdir "$STATE"

# seq_of PATTERN: the sequence number of the last kernel record matching PATTERN.
seq_of() { kmsg_dump | grep "$1" | sed -n '$s/^[0-9]*,\([0-9]*\),.*/\1/p'; }
# saved_seq: the sequence number in the saved position (empty: none yet).
saved_seq() { f=$(ls "$STATE"/kmsg-kmsg-* 2>/dev/null | head -n 1) && [ -n "$f" ] && sed -n 2p "$f" | cut -d' ' -f1; }
# kmsg_saved SEQ: until the saved position is at SEQ or beyond; at most 3 s
# (it is saved at most a second after the record is handed out).
kmsg_saved() {
	i=0
	while [ $i -lt 150 ]; do
		s=$(saved_seq)
		[ -n "$s" ] && [ "$s" -ge "$1" ] && return 0
		sleep 0.02
		i=$((i + 1))
	done
	return 1
}

# (a) A knock logged by the kernel arrives within a second.
check "driver started" start_driver kmsg "$TMP/out1" 0
netns_knock tcp 7001
if wait_for "$TMP/out1" "^L$TAB$PREFIX IN=.*DPT=7001 " 1; then
	ok "(a) real kernel knock line delivered as L within 1 s"
else
	fail "(a) real kernel knock line delivered as L within 1 s"
	diag "$TMP/out1" "$TMP/out1.err"
fi
netns_knock udp 7002 6
if wait_for "$TMP/out1" "^L$TAB$PREFIX IN=.*SRC=2001:0db8:0000:0000:0000:0000:0000:0002 .*DPT=7002 " 1; then
	ok "(a) IPv6 UDP knock delivered as L within 1 s"
else
	fail "(a) IPv6 UDP knock delivered as L within 1 s"
fi

# (b) Records written into /dev/kmsg by user space: without a priority
# (LOG_USER), with "<0>" (kern.emerg, which the kernel turns into
# facility 1) and with an explicit facility. They are in the buffer, but
# never handed out.
forged="$PREFIX IN=x OUT= SRC=192.0.2.66 DST=192.0.2.1 PROTO=TCP SPT=1 DPT=7000 SYN"
echo "$forged" >/dev/kmsg
echo "<0>$forged" >/dev/kmsg
echo "<4>$forged" >/dev/kmsg
echo "<28>$forged" >/dev/kmsg
kmsg_dump | grep ";$PREFIX IN=x .*SRC=192.0.2.66" >"$TMP/forged"
check "(b) the four forgeries are in the kernel log buffer (found $(grep -c . "$TMP/forged"))" \
	[ "$(grep -c . "$TMP/forged")" = 4 ]
check "(b) the kernel gave none of them facility 0" sh -c '! grep -q "^[0-7]," "$1"' - "$TMP/forged"
netns_knock udp 7003
wait_for "$TMP/out1" "^L$TAB$PREFIX IN=.*DPT=7003 " 1
check "(b) a real knock sent after the forgeries arrived" [ "$(knock_count "$TMP/out1" L 7003)" = 1 ]
if grep -q "192.0.2.66" "$TMP/out1"; then
	fail "(b) forged records were not delivered"
	diag "$TMP/out1"
else
	ok "(b) forged records were not delivered"
fi

# (c) Clean stop, knocks while down, start again: those once as L, nothing
# before them again.
stop_driver TERM
netns_knock udp 7004
netns_knock tcp 7005
in_kmsg "$PREFIX IN=.*DPT=7005 " || diag "$TMP/out1.err"
start_driver kmsg "$TMP/out2" 0
netns_knock udp 7006
wait_for "$TMP/out2" "^L$TAB$PREFIX IN=.*DPT=7006 " 1
if [ "$(knock_count "$TMP/out2" L 7004)" = 1 ] && [ "$(knock_count "$TMP/out2" L 7005)" = 1 ] &&
	[ "$(knock_count "$TMP/out2" L 7006)" = 1 ]; then
	ok "(c) knocks sent while stopped delivered once as L after the restart"
else
	fail "(c) knocks sent while stopped delivered once as L after the restart"
	diag "$TMP/out2" "$TMP/out2.err"
fi
if [ "$(grep -c "^[LW]$TAB$PREFIX .*DPT=700[1-3] " "$TMP/out2")" = 0 ]; then
	ok "(c) earlier knocks not repeated (no warm period asked for)"
else
	fail "(c) earlier knocks not repeated (no warm period asked for)"
	diag "$TMP/out2"
fi

# (c') With a warm period: earlier records again as W, in order, before the new ones.
stop_driver TERM
netns_knock udp 7007
in_kmsg "$PREFIX IN=.*DPT=7007 " || :
start_driver kmsg "$TMP/out3" 60000
netns_knock udp 7008
wait_for "$TMP/out3" "^L$TAB$PREFIX IN=.*DPT=7008 " 1
if [ "$(knock_count "$TMP/out3" L 7007)" = 1 ] && [ "$(knock_count "$TMP/out3" W 7001)" = 1 ] &&
	[ "$(knock_count "$TMP/out3" W 7006)" = 1 ] && [ "$(grep -c "^L$TAB$PREFIX .*DPT=700[1-6] " "$TMP/out3")" = 0 ] &&
	[ "$(grep -c "192.0.2.66" "$TMP/out3")" = 0 ] &&
	[ "$(grep -n "^W$TAB$PREFIX .*DPT=7006 " "$TMP/out3" | cut -d: -f1)" -lt \
		"$(grep -n "^L$TAB$PREFIX .*DPT=7007 " "$TMP/out3" | cut -d: -f1)" ]; then
	ok "(c') warm records again as W (never forged ones), new ones once as L"
else
	fail "(c') warm records again as W (never forged ones), new ones once as L"
	diag "$TMP/out3" "$TMP/out3.err"
fi

# (d) kill -9 once the position is saved.
s8=$(seq_of "$PREFIX IN=.*DPT=7008 ")
# (An empty s8 would let the check pass at once and the kill come before
# the save: the record must be found.)
s8_saved() { [ -n "$s8" ] && kmsg_saved "$s8"; }
check "(d) the position is saved within the staleness (record $s8)" s8_saved
stop_driver KILL
netns_knock udp 7009
in_kmsg "$PREFIX IN=.*DPT=7009 " || :
start_driver kmsg "$TMP/out4" 0
wait_for "$TMP/out4" "^L$TAB$PREFIX IN=.*DPT=7009 " 1
# a marker from the kernel itself, to know everything before it was read
netns_knock tcp 7001
wait_for "$TMP/out4" "^L$TAB$PREFIX IN=.*DPT=7001 " 1
if [ "$(knock_count "$TMP/out4" L 7009)" = 1 ] && [ "$(grep -c "^L$TAB$PREFIX .*DPT=700[2-8] " "$TMP/out4")" = 0 ]; then
	ok "(d) after kill -9: the knock sent while down once as L, nothing repeated"
else
	fail "(d) after kill -9: the knock sent while down once as L, nothing repeated"
	diag "$TMP/out4" "$TMP/out4.err"
fi

# (d') kill -9 right after a record is handed out, before its position is
# saved: it may come again once (as new: at most the last second's
# records), nothing older does, the record sent while down comes once.
kmsg_saved "$(seq_of "$PREFIX IN=.*DPT=7001 ")" || diag "$TMP/out4.err"
netns_knock udp 7002
wait_for "$TMP/out4" "^L$TAB$PREFIX IN=.*DPT=7002 " 1
stop_driver KILL
netns_knock udp 7003
in_kmsg "$PREFIX IN=.*DPT=7003 " || :
start_driver kmsg "$TMP/out4b" 0
wait_for "$TMP/out4b" "^L$TAB$PREFIX IN=.*DPT=7003 " 1
netns_knock tcp 7004
wait_for "$TMP/out4b" "^L$TAB$PREFIX IN=.*DPT=7004 " 1
if [ "$(knock_count "$TMP/out4b" L 7003)" = 1 ] && [ "$(knock_count "$TMP/out4b" L 7002)" -le 1 ] &&
	[ "$(grep -c "^L$TAB$PREFIX .*DPT=700[15-9] " "$TMP/out4b")" = 0 ]; then
	ok "(d') kill -9 before the save: at most the last record again, nothing older, the new one once"
else
	fail "(d') kill -9 before the save: at most the last record again, nothing older, the new one once"
	diag "$TMP/out4b" "$TMP/out4b.err"
fi
stop_driver TERM
start_driver kmsg "$TMP/out4c" 0

# The state file: boot id, then sequence number and realtime stamp.
f=$(ls "$STATE"/kmsg-kmsg-* 2>/dev/null | head -n 1)
if [ -n "$f" ] && [ "$(sed -n 1p "$f")" = "$(cat /proc/sys/kernel/random/boot_id)" ] &&
	sed -n 2p "$f" | grep -Eq '^[0-9]+ [0-9]{16}$'; then
	ok "state file holds the boot id, a sequence number and a realtime stamp"
else
	fail "state file holds the boot id, a sequence number and a realtime stamp"
fi

# Another boot's position: start at the end, nothing old handed out.
stop_driver TERM
printf '00000000-0000-0000-0000-000000000000\n1 1\n' >"$f"
start_driver kmsg "$TMP/out5" 60000
netns_knock udp 7002
wait_for "$TMP/out5" "^L$TAB$PREFIX IN=.*DPT=7002 " 1
if [ "$(grep -c "^[LW]$TAB$PREFIX " "$TMP/out5")" = 1 ] && [ "$(knock_count "$TMP/out5" L 7002)" = 1 ]; then
	ok "position of another boot: starts at the end"
else
	fail "position of another boot: starts at the end"
	diag "$TMP/out5"
fi

# A position of this boot far beyond the kernel's last record (a forged or
# copied file): kept, it would pass over every knock until the kernel's
# count got there. Dropped with a warning; a knock sent now arrives.
stop_driver TERM
last=$(kmsg_dump | sed -n '$s/^[0-9]*,\([0-9]*\),.*/\1/p')
future=$((last + 1000000000000))
printf '%s\n%s %s\n' "$(cat /proc/sys/kernel/random/boot_id)" "$future" "$(date +%s)000000" >"$f"
start_driver kmsg "$TMP/out6" 0
netns_knock tcp 7003
if wait_for "$TMP/out6" "^L$TAB$PREFIX IN=.*DPT=7003 " 2 &&
	grep -q "kmsg: the saved position (record $future) is beyond the kernel's last record" "$TMP/out6.err"; then
	ok "a saved position beyond the kernel's sequence is dropped with a warning; a knock after it arrives"
else
	fail "a saved position beyond the kernel's sequence is dropped with a warning; a knock after it arrives"
	diag "$TMP/out6" "$TMP/out6.err"
fi
stop_driver TERM
saved=$(sed -n 2p "$f" | cut -d' ' -f1)
kernel_own() { [ "${saved:-0}" -gt "$last" ] && [ "$saved" -lt "$future" ]; }
check "the position saved then is the kernel's own (${saved:-none}, after $last)" kernel_own
check "driver exits 0 on SIGTERM" [ "$driver_rc" = 0 ]
done_testing
