#!/bin/sh
# End to end, every part real: a client namespace knocks on a server
# namespace whose firewall (the admin's ruleset) logs and drops the knocks;
# the kernel's log lines reach logknockd in the host namespace through a real
# systemd-journald (source "journal: kernel") or a real rsyslogd (imklog ->
# a file, source "file:"); the daemon's applier, started through
# "nsenter --net=/run/netns/SERVER", opens the protected port in the server
# namespace with the backend under test (nft, iptables, ipset), for the
# knocking address only and for the door's duration. The daemon runs with
# "user: nobody": the process that reads the logs has no capability, the
# applier stays root inside the server namespace. Lines forged with
# logger -t kernel open nothing.
#
# The knock log prefix is "KNOCK-<run id> ", not "KNOCK ": the host's kernel
# log is shared with every other test and benchmark on the machine, and
# imklog hands our rsyslogd the whole backlog.
#
# journald as "user: nobody": nobody is in no group that may read the
# journal (/run/log/journal/ID is root:root 0750 here); the daemon opens its
# sources as root before it drops its privileges, so the journal files open
# at start stay readable. Files journald creates later (rotation, or a new
# journald) would not be: the test starts the daemon after making sure a
# journald runs, and says so when the journald it relied on went away.
#
# Root only. Everything it starts is stopped by its PID on exit; the
# namespaces (and their rulesets) are removed; nf_log_all_netns restored.
. "${top_srcdir:-$(dirname "$0")/..}/t/lib.sh"
. "$top_srcdir/t/netns.sh"

NSENTER=/usr/bin/nsenter
DURATION=3			# seconds a door stays open
BACKENDS="nft iptables ipset"

daemon_pid=
rsyslogd_pid=

cleanup() {
	stop_pid "$daemon_pid"
	daemon_pid=
	stop_pid "$rsyslogd_pid"
	rsyslogd_pid=
	netns_cleanup			# the listener, our journald; the namespaces take their rulesets and sets with them
	rm -rf "$TMP"
}
trap cleanup EXIT

[ "$(id -u)" = 0 ] || skip_all "not root"
need_binaries
command -v python3 >/dev/null 2>&1 || skip_all "no python3 (listener and client)"
for c in knock logger journalctl rsyslogd setpriv; do
	command -v $c >/dev/null 2>&1 || skip_all "no $c"
done
[ -x "$NSENTER" ] || skip_all "no $NSENTER"
id nobody >/dev/null 2>&1 || skip_all "no user nobody"
NOBODY=$(id -u nobody)

# Copies: another session may rebuild /tmp/b during the run.
chmod 755 "$TMP"		# the daemon becomes nobody: its state dir and the log file are under here
mkdir "$TMP/bin"
cp "$LOGKNOCKD" "$LOGKNOCK_APPLY" "$TMP/bin/" || skip_all "cannot copy the binaries"
D=$TMP/bin/logknockd
APPLY=$TMP/bin/logknock-apply

kernel_log_lock -x	# journald: ours to start and stop, no one else's meanwhile
netns_setup || skip_all "$netns_error"
S=$NETNS_SERVER
C=$NETNS_CLIENT
# The prefix is unique to the run: the host's kernel log is shared with
# whatever else runs on this machine, and imklog reads the whole backlog.
PFX=KNOCK-$netns_id

# A second client address on the same link: "someone else".
netns_add_other_client || skip_all "cannot add a second client address"

# ---- the listener on the protected port, and the client ---------------------

netns_start_server || skip_all "$netns_error"

dst_of() { if [ "$1" = 6 ]; then echo 2001:db8::1; else echo 192.0.2.1; fi; }
me_of() { if [ "$1" = 6 ]; then echo 2001:db8::2; else echo 192.0.2.2; fi; }
other_of() { if [ "$1" = 6 ]; then echo 2001:db8::3; else echo 192.0.2.3; fi; }
# client MODE FAMILY SRC SECONDS: netns_try MODE to the server's address of FAMILY.
client() { netns_try "$1" "$(dst_of "$2")" "$3" "$4"; }

# knock_client FAMILY: the knock client of Debian's knockd package, door ssh.
knock_client() {
	if [ "$1" = 6 ]; then
		in_client knock -6 -d 200 2001:db8::1 7000 8000 9000
	else
		in_client knock -d 200 192.0.2.1 7000 8000 9000
	fi >/dev/null 2>&1
}
# knock_plain FAMILY: bash /dev/tcp and /dev/udp, door mixed (tcp/7000 udp/7004 tcp/9000).
knock_plain() {
	dst=$(dst_of "$1")
	in_client timeout 0.3 bash -c 'exec 3<>"/dev/tcp/$0/7000"' "$dst" >/dev/null 2>&1
	in_client bash -c 'printf x >"/dev/udp/$0/7004"' "$dst" 2>/dev/null
	in_client timeout 0.3 bash -c 'exec 3<>"/dev/tcp/$0/9000"' "$dst" >/dev/null 2>&1
	return 0
}

# ---- the admin's rulesets in the server namespace ---------------------------

server_reset() {
	in_server nft flush ruleset 2>/dev/null
	for set in logknock4 logknock6; do in_server ipset destroy "$set" 2>/dev/null; done
	return 0
}
admin_nft() {
	in_server nft -f - <<EOF
table inet admin {
	chain input {
		type filter hook input priority filter; policy drop;
		ct state established,related accept
		iif lo accept
		meta l4proto icmp accept
		icmpv6 type { nd-neighbor-solicit, nd-neighbor-advert, nd-router-solicit, nd-router-advert, echo-request } accept
		tcp dport 22 accept
		tcp dport { 7000, 8000, 9000 } log prefix "$PFX " drop
		udp dport 7004 log prefix "$PFX " drop
	}
}
EOF
}
admin_xt() {
	netns_admin_iptables || return 1
	for t in "$IPT" "$IP6T"; do
		in_server "$t" -w -A INPUT -p tcp -m multiport --dports 7000,8000,9000 -j LOG --log-prefix "$PFX " &&
			in_server "$t" -w -A INPUT -p tcp -m multiport --dports 7000,8000,9000 -j DROP &&
			in_server "$t" -w -A INPUT -p udp --dport 7004 -j LOG --log-prefix "$PFX " &&
			in_server "$t" -w -A INPUT -p udp --dport 7004 -j DROP || return 1
	done
}

# ---- the pipelines: journald and rsyslogd ------------------------------------

# journald_note: a comment when the journald relied on has gone away.
journald_note() {
	[ -n "$jd_pid" ] || return 0
	alive "$jd_pid" && return 0
	if [ "$jd_pid" = "$journald_pid" ]; then
		echo "# systemd-journald $jd_pid (started by this test) is gone"
	else
		echo "# systemd-journald $jd_pid (not started by this test: another session's) went away during the case"
	fi
}

# rsyslogd's imklog reads /proc/kmsg, which hands each record to one reader only.
kmsg_holders() {
	for d in /proc/[0-9]*; do
		for f in "$d"/fd/*; do
			[ "$(readlink "$f" 2>/dev/null)" = /proc/kmsg ] && { cat "$d/comm"; break; }
		done
	done 2>/dev/null
}
rsyslog_skip=
RLOG=$TMP/rsyslog/kern-knock.log
h=$(kmsg_holders | tr '\n' ' ')
if [ -n "$h" ]; then
	rsyslog_skip="another process reads /proc/kmsg ($h): imklog would lose lines to it"
else
	mkdir "$TMP/rsyslog" && chmod 755 "$TMP/rsyslog"
	: >"$RLOG" && chmod 644 "$RLOG"
	cat >"$TMP/rsyslog/rsyslog.conf" <<EOF
\$WorkDirectory $TMP/rsyslog
module(load="imklog")
:msg, contains, "$PFX " action(type="omfile" file="$RLOG" template="RSYSLOG_FileFormat" fileCreateMode="0644")
& stop
EOF
	if ! rsyslogd -N1 -f "$TMP/rsyslog/rsyslog.conf" >"$TMP/rsyslog/check.out" 2>&1; then
		rsyslog_skip="rsyslogd -N1 refuses the configuration: $(tail -1 "$TMP/rsyslog/check.out")"
	else
		rsyslogd -n -f "$TMP/rsyslog/rsyslog.conf" -i "$TMP/rsyslog/rsyslogd.pid" \
			</dev/null >"$TMP/rsyslog/rsyslogd.out" 2>&1 &
		rsyslogd_pid=$!
		i=0
		while [ ! -s "$TMP/rsyslog/rsyslogd.pid" ]; do
			i=$((i + 1))
			if [ $i -gt 100 ] || ! kill -0 "$rsyslogd_pid" 2>/dev/null; then
				rsyslog_skip="rsyslogd did not start: $(head -1 "$TMP/rsyslog/rsyslogd.out")"
				stop_pid "$rsyslogd_pid"
				rsyslogd_pid=
				break
			fi
			sleep 0.05
		done
	fi
fi

# ---- the daemon ---------------------------------------------------------------

# write_conf NAME BACKEND SOURCE-YAML
write_conf() {
	mkdir -p "$TMP/state-$1"
	cat >"$TMP/$1.yaml" <<EOF
# netns_setup holds net.netfilter.nf_log_all_netns at 1: knock lines of our namespaces reach
# the kernel's log, and so could any user's (t/netns-forge.sh); accepted here
accept_nf_log_all_netns: true
sources:
  - $3
prefix: "$PFX "
state_dir: $TMP/state-$1
user: nobody
applier:
  backend: $2
  program: $APPLY
  command: [$NSENTER, --net=/run/netns/$S]
  timeout: 5s
doors:
  - name: ssh
    sequence: [tcp/7000, tcp/8000, tcp/9000]
    window: 10s
    open: [tcp/22]
    duration: ${DURATION}s
  - name: mixed
    sequence: [tcp/7000, udp/7004, tcp/9000]
    window: 10s
    open: [tcp/22]
    duration: ${DURATION}s
EOF
}
status_field() { awk -v f="$2:" '$1 == f { print $2 }' "/proc/$1/status" 2>/dev/null; }
status_uids() { awk '$1 == "Uid:" { print $2, $3, $4, $5 }' "/proc/$1/status" 2>/dev/null; }

# one_case LABEL FAMILY METHOD: before, knock, open for us only, closed again.
one_case() {
	label=$1 fam=$2 how=$3
	me=$(me_of "$fam")
	other=$(other_of "$fam")
	if client once "$fam" "$me" 0; then
		fail "$label: before the knock, $me cannot connect to port 22"
	else
		ok "$label: before the knock, $me cannot connect to port 22"
	fi
	"knock_$how" "$fam"
	if client open "$fam" "$me" "$wait_open"; then
		ok "$label: after the knock ($how), $me connects (in $(cat "$TMP/client.out") s)"
		if client once "$fam" "$other" 0; then
			fail "$label: ... and $other, which did not knock, still cannot"
		else
			ok "$label: ... and $other, which did not knock, still cannot"
		fi
		if client closed "$fam" "$me" $((DURATION + 4)); then
			ok "$label: after the door's ${DURATION} s, $me cannot connect again"
			echo "# $label: closed $(cat "$TMP/client.out") s after the first connection"
		else
			fail "$label: after the door's ${DURATION} s, $me cannot connect again"
		fi
	else
		fail "$label: after the knock ($how), $me connects (waited $wait_open s)"
		diag "$TMP/$cur.err" | tail -20
		journald_note
		fail "$label: ... and $other, which did not knock, still cannot (not reached)"
		fail "$label: after the door's ${DURATION} s, $me cannot connect again (not reached)"
	fi
}

# privileges LABEL: the log reader is nobody without capabilities; the
# applier is root in the server namespace.
privileges() {
	uids=$(status_uids "$daemon_pid")
	capeff=$(status_field "$daemon_pid" CapEff)
	if [ "$uids" = "$NOBODY $NOBODY $NOBODY $NOBODY" ] && [ "$capeff" = 0000000000000000 ]; then
		ok "$1: the log-reading process runs as uid $NOBODY with CapEff 0"
	else
		fail "$1: the log-reading process runs as uid $NOBODY with CapEff 0 (Uid: $uids, CapEff: $capeff)"
	fi
	ap=$(pgrep -P "$daemon_pid" -x logknock-apply | head -1)
	apns=$(readlink "/proc/$ap/ns/net" 2>/dev/null)
	sns=net:[$(stat -L -c %i "/run/netns/$S" 2>/dev/null)]
	if [ -n "$ap" ] && [ "$(status_uids "$ap")" = "0 0 0 0" ] &&
		[ "$(status_field "$ap" CapEff)" != 0000000000000000 ] && [ "$apns" = "$sns" ]; then
		ok "$1: the applier is root, with capabilities, in the server namespace"
	else
		fail "$1: the applier is root, with capabilities, in the server namespace (pid '$ap', $apns vs $sns)"
	fi
}

# forged LABEL: the whole sequence for 192.0.2.3 written with logger -t
# kernel reaches the journal but opens nothing.
forged() {
	for port in 7000 8000 9000; do
		line="$PFX IN=$netns_veth_s OUT= MAC=00:00:00:00:00:01:00:00:00:00:00:02:08:00 SRC=192.0.2.3 DST=192.0.2.1 LEN=60 TOS=0x00 PREC=0x00 TTL=64 ID=1 DF PROTO=TCP SPT=$((41000 + port / 1000)) DPT=$port WINDOW=64240 RES=0x00 SYN URGP=0 "
		if [ -S /dev/log ]; then logger -t kernel "$line"; else logger -u /run/systemd/journal/dev-log -t kernel "$line"; fi
	done
	i=0 n=0
	while [ $i -lt 100 ]; do
		n=$(journalctl --no-pager -q -o cat -t kernel --since=-2min 2>/dev/null | grep -c "^$PFX .*SRC=192.0.2.3 .*DPT=9000 ")
		[ "$n" -ge 1 ] && break
		sleep 0.05
		i=$((i + 1))
	done
	sleep 1	# journald notifies its readers in batches (~0.45 s)
	if [ "$n" -lt 1 ]; then
		fail "$1: forged kernel lines for 192.0.2.3 open nothing (the forgery never reached the journal)"
		journald_note
	elif client once 4 192.0.2.3 0 || grep -q "192.0.2.3" "$TMP/$cur.err"; then
		fail "$1: forged kernel lines for 192.0.2.3 (in the journal) open nothing"
		diag "$TMP/$cur.err" | tail -10
	else
		ok "$1: forged kernel lines for 192.0.2.3 (in the journal) open nothing"
	fi
}

N_PIPE=11	# tests of one pipeline, not counting forged
plan $((3 * (2 * N_PIPE + 1)))

for be in $BACKENDS; do
	# Asks for the backend without creating anything: --open is refused
	# after an unknown backend, before any set-up.
	if "$APPLY" --backend "$be" --open /bin/true </dev/null 2>&1 | grep -q "unknown backend"; then
		skip_n $((2 * N_PIPE + 1)) "$be: logknock-apply has no $be backend yet"
		continue
	fi
	server_reset
	case $be in
	nft) admin_nft 2>"$TMP/admin.err" ;;
	*) admin_xt 2>"$TMP/admin.err" ;;
	esac || {
		skip_n $((2 * N_PIPE + 1)) "$be: cannot load the admin's ruleset: $(head -1 "$TMP/admin.err")"
		continue
	}
	for pipe in journald rsyslog; do
		cur=$be-$pipe
		n=$N_PIPE
		[ $pipe = journald ] && n=$((n + 1))
		if [ $pipe = journald ]; then
			ensure_journald || { skip_n $n "$cur: $journald_error"; continue; }
			write_conf "$cur" "$be" "journal: kernel"
			wait_open=5	# journald hands entries to readers in ~450 ms batches
			first=client second=plain
		else
			[ -z "$rsyslog_skip" ] || { skip_n $n "$cur: $rsyslog_skip"; continue; }
			# our rsyslogd has no input but the kernel's log: kernel_only
			write_conf "$cur" "$be" "file: $RLOG
    kernel_only: true"
			wait_open=3
			first=plain second=client
		fi
		if netns_start_daemon "$cur"; then
			ok "$cur: logknockd starts, applier through nsenter into the server namespace"
		else
			fail "$cur: logknockd starts, applier through nsenter into the server namespace"
			diag "$TMP/$cur.err" | tail -20
			stop_pid "$daemon_pid"
			daemon_pid=
			skip_n $((n - 1)) "$cur: the daemon did not start"
			continue
		fi
		one_case "$cur IPv4" 4 "$first"
		one_case "$cur IPv6" 6 "$second"
		privileges "$cur"
		[ $pipe = journald ] && forged "$cur"
		stop_pid "$daemon_pid"
		daemon_pid=
	done
done
done_testing
