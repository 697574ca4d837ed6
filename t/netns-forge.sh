#!/bin/sh
# netns-forge.sh — two ways an unprivileged local user writes knock lines
# into what logknockd reads (issue 11, sections 3 and 4), done for real:
#
#  1. With net.netfilter.nf_log_all_netns=1 the kernel logs the packets of
#     every network namespace. As nobody: unshare -Urn, an nft "log prefix"
#     rule in that namespace of one's own, and SYNs from 203.0.113.9 to the
#     knock ports: real kernel knock lines, with IN=, SRC= and DST= chosen.
#     We measure that they reach the kernel's log; that logknockd refuses to
#     start (and a reload refuses a configuration) without
#     accept_nf_log_all_netns while the sysctl is 1 or cannot be read; and
#     that with the key such lines open a door: the accepted risk.
#  2. /dev/log: as nobody, a datagram "<4>kernel: PREFIX IN=... SRC=..." to
#     a private rsyslogd's socket lands under kern (Debian's kern.log rule),
#     and a daemon following that file opens for it and warns at start; a
#     file written by the rule of contrib/rsyslog-logknock.conf (imkmsg, the
#     kernel facility only) never gets it, while a real knock gets through.
#
# The sysctl's values 0 and 1 are also shown to the daemon through a bind
# mount in a private mount namespace (deterministic, the host's sysctl
# untouched), and "cannot be read" by running it in a network namespace.
# Needs root, ip, nft, setpriv, unshare, mount, rsyslogd (part 2), and a
# python3 that nobody may run. Everything made is removed on exit.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/netns.sh"

[ "$(id -u)" = 0 ] || skip_all "not root"
need_binaries
for c in setpriv unshare mount; do
	command -v "$c" >/dev/null 2>&1 || skip_all "no $c"
done
NF=/proc/sys/net/netfilter/nf_log_all_netns
[ -e "$NF" ] || skip_all "no $NF (not the initial network namespace, or no netfilter)"
# A python3 that nobody can run (a pyenv shim under /root cannot be).
PY=
for p in /usr/bin/python3 /usr/local/bin/python3; do
	if [ -x "$p" ] && setpriv --reuid=nobody --regid=nogroup --clear-groups "$p" -c pass 2>/dev/null; then
		PY=$p
		break
	fi
done
[ -n "$PY" ] || skip_all "no python3 that the user nobody may run"
NOBODY="setpriv --reuid=nobody --regid=nogroup --clear-groups"

D=$LOGKNOCKD
PFX="LKF$netns_id"
DPIDS=
RSPID=
trap 'for p in $DPIDS $RSPID; do stop_pid "$p"; done; netns_cleanup; rm -rf "$TMP"' EXIT
chmod 711 "$TMP"	# the private syslog socket and the files below are reached by nobody

plan 38

cat >"$TMP/rec.sh" <<EOF
#!/bin/sh
f=\$1
shift
printf '%s\n' "\$*" >>"\$f"
EOF
chmod 755 "$TMP/rec.sh"

# conf NAME SOURCE-YAML [TOP-LINES]: $TMP/NAME.yaml, a door with the knocks
# tcp/7000, 8000, 9000 of $PFX; opens recorded in $TMP/NAME.cmds.
conf() {
	{
		[ -n "$3" ] && printf '%s\n' "$3"
		cat <<EOF
sources:
  - $2
prefix: "$PFX "
state_dir: $TMP/state-$1
applier:
  backend: command
  open: [$TMP/rec.sh, $TMP/$1.cmds, open, "%DOOR%", "%IP%", "%PROTO%", "%PORT%"]
  close: [$TMP/rec.sh, $TMP/$1.cmds, close, "%DOOR%", "%IP%", "%PROTO%", "%PORT%"]
doors:
  - name: ssh
    sequence: [tcp/7000, tcp/8000, tcp/9000]
    window: 30s
    open: [tcp/22]
    duration: 60s
EOF
	} >"$TMP/$1.yaml"
	: >>"$TMP/$1.cmds"
}
ACCEPT="accept_nf_log_all_netns: true"

# fk LOG SRC DPORT: a kernel knock line with our prefix, as rsyslog files it, appended to LOG.
fk_sport=40000
fk() {
	fk_sport=$((fk_sport + 1))
	printf '%s vm kernel: %s IN=kn-s OUT= MAC=62:92:44:cb:fb:5c:fe:65:11:35:87:ec:08:00 SRC=%s DST=192.0.2.1 LEN=60 TOS=0x00 PREC=0x00 TTL=64 ID=36861 DF PROTO=TCP SPT=%d DPT=%d WINDOW=64240 RES=0x00 SYN URGP=0 \n' \
		"$(date -u +%Y-%m-%dT%H:%M:%S.%6N+00:00)" "$PFX" "$2" "$fk_sport" "$3" >>"$1"
}

# sysctl_shown VALUE CMD...: becomes CMD (exec: call it in the background
# or in a subshell) in a private mount namespace where $NF shows VALUE (a
# bind mount over it): what the daemon reads there.
sysctl_shown() {
	printf '%s\n' "$1" >"$TMP/nf.$1"
	v=$1
	shift
	exec unshare -m --propagation private sh -c 'mount --bind "$0" '"$NF"' && exec "$@"' "$TMP/nf.$v" "$@"
}

# run_until NAME SECONDS CMD...: CMD in the background (stderr in $TMP/NAME.err),
# stopped with SIGTERM once it follows its source, or when SECONDS pass;
# its exit status in $rc; true when it followed its source.
run_until() {
	n=$1 s=$2
	shift 2
	: >"$TMP/$n.err"
	"$@" >"$TMP/$n.out" 2>"$TMP/$n.err" &
	ru_pid=$!
	ru_i=0 ru_ok=1
	while [ $ru_i -lt $((s * 20)) ]; do
		grep -q "following 1 sources" "$TMP/$n.err" && { ru_ok=0; break; }
		alive "$ru_pid" || break
		sleep 0.05
		ru_i=$((ru_i + 1))
	done
	kill -TERM "$ru_pid" 2>/dev/null
	wait "$ru_pid"
	rc=$?
	return $ru_ok
}

# start NAME CMD...: a daemon left running (DPIDS); true once it follows its source.
start() {
	n=$1
	shift
	"$@" >"$TMP/$n.out" 2>"$TMP/$n.err" &
	DPIDS="$DPIDS $!"
	last_pid=$!
	wait_for "$TMP/$n.err" "following 1 sources" 10
}

: >"$TMP/kern.file"
: >"$TMP/ulogd.file"

# ---- 1a. the check, with the sysctl shown as 0 or 1 -------------------------------
if ! (sysctl_shown 1 sh -c "[ \"\$(cat $NF)\" = 1 ]") 2>"$TMP/bind.err"; then
	skip_n 19 "cannot bind a file over $NF in a private mount namespace: $(head -1 "$TMP/bind.err")"
else
	for src in "kmsg: true" "journal: kernel" "file: $TMP/kern.file"; do
		conf refuse "$src"
		sysctl_shown 1 "$D" -c "$TMP/refuse.yaml" >"$TMP/refuse.out" 2>"$TMP/refuse.err" </dev/null &
		p=$!
		i=0
		while alive $p && [ $i -lt 200 ]; do sleep 0.05; i=$((i + 1)); done
		alive $p && { stop_pid $p; rc=running; } || { wait $p; rc=$?; }
		if [ "$rc" = 2 ] && grep -q "reads the kernel's log, and net.netfilter.nf_log_all_netns is 1" "$TMP/refuse.err" &&
			grep -q "unshare -Urn" "$TMP/refuse.err" && grep -q "sysctl -w net.netfilter.nf_log_all_netns=0" "$TMP/refuse.err" &&
			grep -q "NFLOG through ulogd2" "$TMP/refuse.err" && grep -q "'accept_nf_log_all_netns: true'" "$TMP/refuse.err" &&
			grep -q "^logknockd: error: $TMP/refuse.yaml:[0-9]*:[0-9]*: " "$TMP/refuse.err"; then
			ok "shown 1, $src, no key: exit 2, the sysctl, why and the ways out named"
		else
			fail "shown 1, $src, no key: exit 2, the sysctl, why and the ways out named (exit $rc)"
			diag "$TMP/refuse.err"
		fi
	done
	check "... and nothing was opened or started: no applier request" [ ! -s "$TMP/refuse.cmds" ]

	conf ulogd "file: $TMP/ulogd.file
    format: ulogd"
	if run_until ulogd 10 sysctl_shown 1 "$D" -c "$TMP/ulogd.yaml" && ! grep -q nf_log_all_netns "$TMP/ulogd.err"; then
		ok "shown 1, a ulogd file (NFLOG is per namespace), no key: starts, nothing said"
	else
		fail "shown 1, a ulogd file (NFLOG is per namespace), no key: starts, nothing said"
		diag "$TMP/ulogd.err"
	fi

	conf accept "kmsg: true" "$ACCEPT"
	if run_until accept 10 sysctl_shown 1 "$D" -c "$TMP/accept.yaml" &&
		grep -q "^logknockd: warning: net.netfilter.nf_log_all_netns is 1 and kmsg reads the kernel's log: any local user can log knock lines .*accepted by 'accept_nf_log_all_netns: true'" "$TMP/accept.err"; then
		ok "shown 1, kmsg, accept_nf_log_all_netns: true: starts, with the warning"
	else
		fail "shown 1, kmsg, accept_nf_log_all_netns: true: starts, with the warning"
		diag "$TMP/accept.err"
	fi
	if run_until accept2 10 sysctl_shown 1 "$D" -c "$TMP/accept.yaml" &&
		grep -q "accepted by 'accept_nf_log_all_netns: true'" "$TMP/accept2.err"; then
		ok "... the warning at every start: a second start warns again"
	else
		fail "... the warning at every start: a second start warns again"
	fi

	conf zero "kmsg: true"
	if run_until zero 10 sysctl_shown 0 "$D" -c "$TMP/zero.yaml" && ! grep -q "nf_log_all_netns\|warning: .*kernel_only" "$TMP/zero.err"; then
		ok "shown 0, kmsg, no key: starts, nothing said"
	else
		fail "shown 0, kmsg, no key: starts, nothing said"
		diag "$TMP/zero.err"
	fi

	# kernel_only: a syslog file without it is warned about, with it not.
	conf plain "file: $TMP/kern.file"
	if run_until plain 10 sysctl_shown 0 "$D" -c "$TMP/plain.yaml" &&
		grep -q "^logknockd: warning: $TMP/plain.yaml:[0-9]*:[0-9]*: file: $TMP/kern.file: a syslog file not stated kernel_only: any local user can send .*/dev/log.*'kernel_only: true'" "$TMP/plain.err"; then
		ok "a syslog file without kernel_only: starts, warns about /dev/log, names the way out"
	else
		fail "a syslog file without kernel_only: starts, warns about /dev/log, names the way out"
		diag "$TMP/plain.err"
	fi
	conf konly "file: $TMP/kern.file
    kernel_only: true"
	if run_until konly 10 sysctl_shown 0 "$D" -c "$TMP/konly.yaml" && ! grep -q "warning: .*\(kernel_only\|nf_log_all_netns\)" "$TMP/konly.err"; then
		ok "the same file, kernel_only: true: starts, nothing said"
	else
		fail "the same file, kernel_only: true: starts, nothing said"
		diag "$TMP/konly.err"
	fi
	check "a ulogd file is not warned about (ulogd alone writes it)" \
		sh -c "! grep -q 'kernel_only' '$TMP/ulogd.err'"

	# Reload: a configuration without the key is refused while the sysctl shows 1.
	conf reload "file: $TMP/kern.file
    kernel_only: true" "$ACCEPT"
	if start reload sysctl_shown 1 "$D" -v -c "$TMP/reload.yaml"; then
		ok "reload: started with the key (shown 1)"
	else
		fail "reload: started with the key (shown 1)"
		diag "$TMP/reload.err"
	fi
	RPID=$last_pid
	# The next configuration: no key, and its door knocks 7100 instead.
	sed -e '/^accept_nf_log_all_netns/d' -e 's#tcp/7000, #tcp/7100, #' "$TMP/reload.yaml" >"$TMP/reload.next"
	cp "$TMP/reload.next" "$TMP/reload.yaml"
	kill -HUP "$RPID"
	if wait_for "$TMP/reload.err" "reload: refused (above); keeping the running configuration" 10 &&
		grep -q "^logknockd: error: reload: $TMP/reload.yaml:[0-9]*:[0-9]*: file: $TMP/kern.file reads the kernel's log, and net.netfilter.nf_log_all_netns is 1" "$TMP/reload.err"; then
		ok "SIGHUP to a configuration without the key: refused with the message, the running one kept"
	else
		fail "SIGHUP to a configuration without the key: refused with the message, the running one kept"
		diag "$TMP/reload.err"
	fi
	check "... the daemon still runs" alive "$RPID"
	for p in 7000 8000 9000; do fk "$TMP/kern.file" 192.0.2.70 $p; done
	for p in 7100 8000 9000; do fk "$TMP/kern.file" 192.0.2.71 $p; done
	check "... the running door (7000 first) opens" wait_for "$TMP/reload.cmds" "^open ssh 192.0.2.70 tcp 22$" 10
	sleep 1
	check "... the refused door (7100 first) does not" sh -c "! grep -q 192.0.2.71 '$TMP/reload.cmds'"
	# With the key again, the same change is taken.
	{ echo "$ACCEPT"; cat "$TMP/reload.next"; } >"$TMP/reload.yaml"
	kill -HUP "$RPID"
	check "SIGHUP with the key again: reloaded" wait_for "$TMP/reload.err" "reloaded $TMP/reload.yaml" 10
	for p in 7100 8000 9000; do fk "$TMP/kern.file" 192.0.2.72 $p; done
	check "... now the 7100 door opens" wait_for "$TMP/reload.cmds" "^open ssh 192.0.2.72 tcp 22$" 10
	stop_pid "$RPID"

	conf replay "kmsg: true"
	for p in 7000 8000 9000; do fk "$TMP/replay.log" 192.0.2.73 $p; done
	(sysctl_shown 1 "$D" -c "$TMP/replay.yaml" --replay "$TMP/replay.log") >"$TMP/replay.out" 2>"$TMP/replay.err"
	rc=$?
	check "--replay does not look at the sysctl (shown 1, no key): exit 0, the door opens" \
		sh -c "[ $rc = 0 ] && grep -q '\"event\":\"open\".*\"src\":\"192.0.2.73\"' '$TMP/replay.out'"
fi

# ---- 1b. cannot be read: in another network namespace ------------------------------
netns_setup || { skip_n $((38 - tap_n)) "$netns_error"; done_testing; }

# What the kernel's log delivered from here on, measured by a reader of
# /dev/kmsg of our own: the records with our prefix ($TMP/kmsg.seen), and
# "lost N" for records overwritten before anyone could read them (a flood
# elsewhere on this machine). A check of what depends on those lines is
# skipped, not failed, when they were lost on the way.
cat >"$TMP/kmsgwatch.py" <<'EOF'
import errno, os, select, sys
pfx, out = sys.argv[1].encode(), open(sys.argv[2], "ab", buffering=0)
fd = os.open("/dev/kmsg", os.O_RDONLY | os.O_NONBLOCK)
os.lseek(fd, 0, os.SEEK_END)
out.write(b"ready\n")
while True:
    select.select([fd], [], [])
    try:
        rec = os.read(fd, 8192)
    except OSError as e:
        if e.errno == errno.EPIPE:
            out.write(b"lost\n")
            continue
        if e.errno == errno.EAGAIN:
            continue
        raise
    msg = rec.split(b";", 1)[-1].split(b"\n", 1)[0]
    if msg.startswith(pfx):
        out.write(msg + b"\n")
EOF
: >"$TMP/kmsg.seen"
KPY=$(python3 -c 'import sys; print(sys.executable)' 2>/dev/null)
"${KPY:-python3}" "$TMP/kmsgwatch.py" "$PFX " "$TMP/kmsg.seen" </dev/null >/dev/null 2>"$TMP/kmsgwatch.err" &
KWPID=$!
DPIDS="$DPIDS $KWPID"
wait_for "$TMP/kmsg.seen" "^ready$" 10 || diag "$TMP/kmsgwatch.err"
# lost_on_the_way: true when the kernel's log overran since the watcher started.
lost_on_the_way() { grep -q '^lost$' "$TMP/kmsg.seen"; }
# judge DESC COMMAND...: ok when COMMAND succeeds; else a skip when records
# of the kernel's log were lost meanwhile, a failure when none were.
judge() {
	jd=$1
	shift
	if "$@"; then ok "$jd"
	elif lost_on_the_way; then ok "$jd # SKIP the kernel's log overran meanwhile ($(grep -c '^lost$' "$TMP/kmsg.seen") times): a flood elsewhere on this machine"
	else fail "$jd"; fi
}
conf other "file: $TMP/kern.file
    kernel_only: true"
ip netns exec "$NETNS_SERVER" "$D" -c "$TMP/other.yaml" >"$TMP/other.out" 2>"$TMP/other.err" </dev/null &
p=$!
i=0
while alive $p && [ $i -lt 200 ]; do sleep 0.05; i=$((i + 1)); done
alive $p && { stop_pid $p; rc=running; } || { wait $p; rc=$?; }
if [ "$rc" = 2 ] && grep -q "cannot be read (No such file or directory): it exists in the initial network namespace only" "$TMP/other.err"; then
	ok "in another network namespace (the sysctl not shown), no key: exit 2, said why"
else
	fail "in another network namespace (the sysctl not shown), no key: exit 2, said why (exit $rc)"
	diag "$TMP/other.err"
fi
conf other2 "file: $TMP/kern.file
    kernel_only: true" "$ACCEPT"
if run_until other2 10 ip netns exec "$NETNS_SERVER" "$D" -c "$TMP/other2.yaml" &&
	grep -q "^logknockd: warning: cannot read $NF (No such file or directory; .*accepted by 'accept_nf_log_all_netns: true'" "$TMP/other2.err"; then
	ok "... with the key: starts, with the warning"
else
	fail "... with the key: starts, with the warning"
	diag "$TMP/other2.err"
fi

# ---- 1c. the real sysctl at 1 and a user's own network namespace --------------------
# netns_setup set it to 1 (restored on exit), as hosts that log containers do.
check "the host's net.netfilter.nf_log_all_netns is 1 now" [ "$(cat $NF)" = 1 ]
conf real "kmsg: true"
"$D" -c "$TMP/real.yaml" >"$TMP/real.out" 2>"$TMP/real.err" </dev/null &
p=$!
i=0
while alive $p && [ $i -lt 200 ]; do sleep 0.05; i=$((i + 1)); done
alive $p && { stop_pid $p; rc=running; } || { wait $p; rc=$?; }
check "no key, kmsg, the real sysctl at 1: refused, exit 2" \
	sh -c "[ '$rc' = 2 ] && grep -q 'nf_log_all_netns is 1' '$TMP/real.err'"

conf risk "kmsg: true" "$ACCEPT"
if start risk "$D" -v -c "$TMP/risk.yaml"; then ok "with the key: the daemon follows kmsg"
else fail "with the key: the daemon follows kmsg"; diag "$TMP/risk.err"; fi

if $NOBODY unshare -Urn true 2>"$TMP/userns.err"; then
	# The attacker: nobody, in a user and network namespace of its own. Its
	# loopback is renamed like the server's interface, and holds the server's
	# address and the chosen source; one SYN to each knock port (cut before
	# a retransmission).
	cat >"$TMP/attack.sh" <<EOF
set -e
ip link set lo name $netns_veth_s
ip link set $netns_veth_s up
ip addr add 203.0.113.9/32 dev $netns_veth_s
ip addr add 192.0.2.1/32 dev $netns_veth_s
nft -f - <<NFT
table inet forge {
	chain input {
		type filter hook input priority 0; policy accept;
		tcp dport { 7000, 8000, 9000 } log prefix "$PFX " drop
	}
}
NFT
exec $PY -c '
import socket, time
for port in (7000, 8000, 9000):
    s = socket.socket()
    s.settimeout(0.3)
    s.bind(("203.0.113.9", 0))
    try:
        s.connect(("192.0.2.1", port))
    except OSError:
        pass
    s.close()
    time.sleep(0.1)
'
EOF
	chmod 644 "$TMP/attack.sh"
	if $NOBODY unshare -Urn sh "$TMP/attack.sh" >"$TMP/attack.out" 2>&1; then
		ok "as nobody: unshare -Urn, an nft log rule and SYNs from 203.0.113.9 in a namespace of its own"
	else
		fail "as nobody: unshare -Urn, an nft log rule and SYNs from 203.0.113.9 in a namespace of its own"
		diag "$TMP/attack.out"
	fi
	# What the kernel's log got (measured, not assumed).
	forged() {
		grep "^$PFX IN=$netns_veth_s OUT= .*SRC=203\.0\.113\.9 DST=192\.0\.2\.1 .*PROTO=TCP .*DPT=[789]000 " \
			"$TMP/kmsg.seen" >"$TMP/forged.kmsg"
		[ "$(wc -l <"$TMP/forged.kmsg")" -ge 3 ]
	}
	i=0
	while [ $i -lt 50 ] && ! forged; do
		sleep 0.1
		i=$((i + 1))
	done
	judge "the kernel's log delivered the 3 lines (IN=, SRC=, DST= all the attacker's choice)" forged
	sed 's/^/# kernel: /' "$TMP/forged.kmsg" | head -3
	# With the key, such lines are knocks like any other: the accepted risk.
	judge "with accept_nf_log_all_netns: true they open the door for 203.0.113.9 (the accepted risk)" \
		wait_for "$TMP/risk.cmds" "^open ssh 203.0.113.9 tcp 22$" 10
else
	skip_n 3 "nobody cannot make a user namespace here: $(head -1 "$TMP/userns.err")"
fi

# ---- 2. /dev/log: a private rsyslogd -------------------------------------------------
if ! command -v rsyslogd >/dev/null 2>&1; then
	skip_n $((38 - tap_n)) "no rsyslogd"
	done_testing
fi
RS=$TMP/rsyslog
mkdir "$RS" && chmod 755 "$RS"
# Its own socket instead of /dev/log (any user may send to it, as to
# /dev/log), and /dev/kmsg read with imkmsg (each reader gets every record:
# nothing is taken from the system's logger). Two rules:
#   kern.log:  Debian's "kern.* -/var/log/kern.log" (here only our prefix)
#   knock.log: contrib/rsyslog-logknock.conf itself (its file and prefix
#              adapted): records that imkmsg read from the kernel's log,
#              kernel facility
CONTRIB=$top_srcdir/contrib/rsyslog-logknock.conf
sed -e "s|/var/log/logknock/knock.log|$RS/knock.log|" -e "s|\"KNOCK \"|\"$PFX \"|" \
	-e 's|fileCreateMode="0640"|fileCreateMode="0644"|' "$CONTRIB" >"$RS/30-logknock.conf"
if ! grep -q "$RS/knock.log" "$RS/30-logknock.conf" || ! grep -q "\"$PFX \"" "$RS/30-logknock.conf"; then
	skip_n $((38 - tap_n)) "cannot adapt $CONTRIB (file or prefix not found in it)"
	done_testing
fi
cat >"$RS/rsyslog.conf" <<EOF
global(workDirectory="$RS")
module(load="imuxsock" SysSock.Use="off")
input(type="imuxsock" Socket="$RS/devlog")
include(file="$RS/30-logknock.conf")
if \$msg contains "$PFX " then {
  kern.* action(type="omfile" file="$RS/kern.log" template="RSYSLOG_FileFormat" fileCreateMode="0644")
  stop
}
*.* stop
EOF
: >"$RS/kern.log"
: >"$RS/knock.log"
chmod 644 "$RS/kern.log" "$RS/knock.log"
if ! rsyslogd -N1 -f "$RS/rsyslog.conf" >"$RS/check.out" 2>&1; then
	skip_n $((38 - tap_n)) "rsyslogd -N1 refuses the configuration: $(tail -1 "$RS/check.out")"
	done_testing
fi
rsyslogd -n -f "$RS/rsyslog.conf" -i "$RS/rsyslogd.pid" </dev/null >"$RS/rsyslogd.out" 2>&1 &
RSPID=$!
i=0
while [ ! -S "$RS/devlog" ] || [ ! -s "$RS/rsyslogd.pid" ]; do
	i=$((i + 1))
	if [ $i -gt 100 ] || ! alive "$RSPID"; then
		skip_n $((38 - tap_n)) "rsyslogd did not start: $(head -1 "$RS/rsyslogd.out")"
		done_testing
	fi
	sleep 0.1
done

conf debian "file: $RS/kern.log" "$ACCEPT"
conf contrib "file: $RS/knock.log
    kernel_only: true" "$ACCEPT"
check "a daemon on the kern.log file starts" start debian "$D" -v -c "$TMP/debian.yaml"
check "... and warns at start: any user can send to /dev/log, kernel_only is not stated" \
	grep -q "warning: $TMP/debian.yaml:[0-9]*:[0-9]*: file: $RS/kern.log: a syslog file not stated kernel_only: any local user can send" "$TMP/debian.err"
check "a daemon on the contrib rule's file (kernel_only: true) starts" start contrib "$D" -v -c "$TMP/contrib.yaml"
check "... without that warning" sh -c "! grep -q 'not stated kernel_only' '$TMP/contrib.err'"

# The forgery: nobody sends three datagrams to the socket, from 203.0.113.77
# (203.0.113.9 of part 1 is in the kernel's log, which imkmsg reads whole).
cat >"$TMP/forge.py" <<EOF
import socket, sys, time
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
for sport, dport in ((41001, 7000), (41002, 8000), (41003, 9000)):
    line = ("<4>kernel: $PFX IN=$netns_veth_s OUT= MAC=00:00:00:00:00:01:00:00:00:00:00:02:08:00 "
            "SRC=203.0.113.77 DST=192.0.2.1 LEN=60 TOS=0x00 PREC=0x00 TTL=64 ID=1 DF PROTO=TCP "
            "SPT=%d DPT=%d WINDOW=64240 RES=0x00 SYN URGP=0 " % (sport, dport))
    s.sendto(line.encode(), sys.argv[1])
    time.sleep(0.1)
EOF
chmod 644 "$TMP/forge.py"
if $NOBODY "$PY" "$TMP/forge.py" "$RS/devlog" 2>"$TMP/forge.err"; then
	ok "as nobody: three <4>kernel: datagrams sent to the syslog socket"
else
	fail "as nobody: three <4>kernel: datagrams sent to the syslog socket"
	diag "$TMP/forge.err"
fi
# And a real knock from the client namespace, logged by the kernel.
netns_log_rule "$PFX" 7000 8000 9000
for p in 7000 8000 9000; do netns_knock tcp $p; done

check "rsyslog filed the 3 forged lines under kern (kern.log)" \
	wait_count "$RS/kern.log" " kernel: $PFX .*SRC=203\.0\.113\.77 " 3 10
both_files() {
	wait_count "$RS/knock.log" " kernel: $PFX .*SRC=192\.0\.2\.2 .*DPT=9000 " 1 10 &&
		wait_count "$RS/kern.log" " kernel: $PFX .*SRC=192\.0\.2\.2 .*DPT=9000 " 1 10
}
judge "the real knock reached both files through imkmsg" both_files
check "the contrib rule's file holds no forged line" sh -c "! grep -q 'SRC=203\.0\.113\.77' '$RS/knock.log'"
check "the kern.log daemon opened for the forged 203.0.113.77" \
	wait_for "$TMP/debian.cmds" "^open ssh 203.0.113.77 tcp 22$" 10
judge "the contrib daemon opened for the real 192.0.2.2" \
	wait_for "$TMP/contrib.cmds" "^open ssh 192.0.2.2 tcp 22$" 10
check "... and not for the forged 203.0.113.77" sh -c "! grep -q 203.0.113.77 '$TMP/contrib.cmds'"

if [ $tap_failed -gt 0 ]; then
	for f in debian contrib risk; do echo "# $f:"; tail -15 "$TMP/$f.err" | diag; done
	echo "# kern.log:"; diag "$RS/kern.log"
	echo "# knock.log:"; diag "$RS/knock.log"
fi
done_testing
