#!/bin/sh
# kernel-grammar.sh — the parser against lines today's kernel writes, fresh.
#
# In two network namespaces of its own, the test makes the kernel log real
# packets with every logger and option a knock line can come from:
# iptables and ip6tables LOG with --log-tcp-sequence --log-tcp-options
# --log-ip-options --log-uid (incoming, and outgoing for UID=/GID=), nft
# "log" with "flags all" and without, and NFLOG through ulogd2's LOGEMU;
# IPv4 and IPv6; TCP, UDP, ICMP and ICMPv6 echo requests, ICMP errors that
# quote a packet, IPv4 options, an IPv6 destination-options header, and
# fragments of large datagrams. Each rule has a prefix of its own, unique
# to this run, so that every line the kernel wrote (read back from
# /dev/kmsg, or from ulogd's file) is known to come from one probe, whose
# fields the test knows because it sent it. Each line is replayed through
# `logknockd --replay --print-events`: a line is the knock of its probe,
# field by field, and the later fragments (no ports) are no knock at all.
. "${top_srcdir:-$(cd "$(dirname "$0")/.." && pwd)}/t/lib.sh"
. "$top_srcdir/t/netns.sh"

[ -x "$LOGKNOCKD" ] || skip_all "logknockd not built ($LOGKNOCKD)"
command -v python3 >/dev/null 2>&1 || skip_all "python3 is needed to send the probes"
[ -r /dev/kmsg ] || skip_all "no readable /dev/kmsg"
ulogd_pid=
cleanup() {
	stop_pid "$ulogd_pid"
	netns_cleanup
	rm -rf "$TMP"
}
trap cleanup EXIT
netns_setup || skip_all "$netns_error"
for t in "$IPT" "$IP6T"; do
	[ -x "$t" ] || skip_all "no $t"
done

# The probes: NAME FAMILY PROTO DPORT WHAT. TCP probes bind source port
# 40000 + the probe's number, UDP ones 41000 + it; ICMP echo requests are
# type 8 (128) code 0. Every prefix is "$P-NAME " (nft, iptables) or
# "$P-NAME" (NFLOG: ulogd adds the space).
P=kg$(printf %x $$)$(od -An -N2 -tx1 /dev/urandom | tr -d ' \n')
G=$((1000 + $$ % 30000))	# NFLOG group (per namespace)
cat >"$TMP/probes" <<EOF
x4t 4 tcp 7101 iptables LOG, every option: IPv4 TCP
x4u 4 udp 7102 iptables LOG, every option: IPv4 UDP
x4i 4 icmp 8 iptables LOG, every option: IPv4 ICMP echo request
x4o 4 udp 7104 iptables LOG, every option: IPv4 UDP with IP options
x4f 4 frag 7105 iptables LOG, every option: IPv4 UDP fragments
x4e 4 err 3 iptables LOG, every option: ICMP port unreachable quoting the UDP datagram
x4w 4 out 7106 iptables LOG --log-uid, outgoing: IPv4 TCP
x6t 6 tcp 7151 ip6tables LOG, every option: IPv6 TCP
x6u 6 udp 7152 ip6tables LOG, every option: IPv6 UDP
x6i 6 icmp 128 ip6tables LOG, every option: ICMPv6 echo request
x6x 6 dopt 7157 ip6tables LOG, every option: IPv6 UDP with a destination-options header
x6f 6 frag 7155 ip6tables LOG, every option: IPv6 UDP fragments
x6e 6 err 1 ip6tables LOG, every option: ICMPv6 port unreachable quoting the UDP datagram
x6w 6 out 7156 ip6tables LOG --log-uid, outgoing: IPv6 TCP
na4t 4 tcp 7201 nft log flags all: IPv4 TCP
na4u 4 udp 7202 nft log flags all: IPv4 UDP
na4i 4 icmp 8 nft log flags all: IPv4 ICMP echo request
na4f 4 frag 7205 nft log flags all: IPv4 UDP fragments
na6t 6 tcp 7251 nft log flags all: IPv6 TCP
na6u 6 udp 7252 nft log flags all: IPv6 UDP
na6i 6 icmp 128 nft log flags all: ICMPv6 echo request
na6f 6 frag 7255 nft log flags all: IPv6 UDP fragments
nn4t 4 tcp 7211 nft log: IPv4 TCP
nn4u 4 udp 7212 nft log: IPv4 UDP
nn6t 6 tcp 7261 nft log: IPv6 TCP
nn6u 6 udp 7262 nft log: IPv6 UDP
u4t 4 tcp 7301 NFLOG through ulogd2 LOGEMU: IPv4 TCP
u4u 4 udp 7302 NFLOG through ulogd2 LOGEMU: IPv4 UDP
u4i 4 icmp 8 NFLOG through ulogd2 LOGEMU: IPv4 ICMP echo request
u4f 4 frag 7305 NFLOG through ulogd2 LOGEMU: IPv4 UDP fragments
u6t 6 tcp 7351 NFLOG through ulogd2 LOGEMU: IPv6 TCP
u6u 6 udp 7352 NFLOG through ulogd2 LOGEMU: IPv6 UDP
u6i 6 icmp 128 NFLOG through ulogd2 LOGEMU: ICMPv6 echo request
u6f 6 frag 7355 NFLOG through ulogd2 LOGEMU: IPv6 UDP fragments
EOF
nprobes=$(wc -l <"$TMP/probes")
plan $((nprobes + 2))

# ---- the rules -----------------------------------------------------------------
# Fragments are seen before the kernel reassembles them: in PREROUTING,
# with no connection tracking in these namespaces (the raw table, and an
# nft chain ahead of defragmentation's priority).
LOGALL="--log-tcp-sequence --log-tcp-options --log-ip-options --log-uid"
xt() { # xt 4|6 NS ARGS...: one rule
	f=$1 ns=$2
	shift 2
	if [ "$f" = 6 ]; then t=$IP6T; else t=$IPT; fi
	ip netns exec "$ns" "$t" -w "$@"
}
rules_ok=1
# shellcheck disable=SC2086 # $LOGALL is words
{
	xt 4 "$NETNS_SERVER" -t raw -A PREROUTING -p tcp --dport 7101 -j LOG --log-prefix "$P-x4t " $LOGALL &&
		xt 4 "$NETNS_SERVER" -t raw -A PREROUTING -p udp --dport 7102 -j LOG --log-prefix "$P-x4u " $LOGALL &&
		xt 4 "$NETNS_SERVER" -t raw -A PREROUTING -p icmp --icmp-type echo-request -j LOG --log-prefix "$P-x4i " $LOGALL &&
		xt 4 "$NETNS_SERVER" -t raw -A PREROUTING -p udp --dport 7104 -j LOG --log-prefix "$P-x4o " $LOGALL &&
		xt 4 "$NETNS_SERVER" -t raw -A PREROUTING -p udp --dport 7105 -j LOG --log-prefix "$P-x4f " $LOGALL &&
		xt 4 "$NETNS_SERVER" -t raw -A PREROUTING -p udp -f -j LOG --log-prefix "$P-x4f " $LOGALL &&
		xt 4 "$NETNS_CLIENT" -t raw -A PREROUTING -p icmp --icmp-type port-unreachable -j LOG --log-prefix "$P-x4e " $LOGALL &&
		xt 4 "$NETNS_CLIENT" -A OUTPUT -p tcp --dport 7106 -j LOG --log-prefix "$P-x4w " $LOGALL &&
		xt 6 "$NETNS_SERVER" -t raw -A PREROUTING -p tcp --dport 7151 -j LOG --log-prefix "$P-x6t " $LOGALL &&
		xt 6 "$NETNS_SERVER" -t raw -A PREROUTING -p udp --dport 7152 -j LOG --log-prefix "$P-x6u " $LOGALL &&
		xt 6 "$NETNS_SERVER" -t raw -A PREROUTING -p ipv6-icmp --icmpv6-type echo-request -j LOG --log-prefix "$P-x6i " $LOGALL &&
		xt 6 "$NETNS_SERVER" -t raw -A PREROUTING -p udp --dport 7157 -j LOG --log-prefix "$P-x6x " $LOGALL &&
		xt 6 "$NETNS_SERVER" -t raw -A PREROUTING -m frag --fragid 7155 -j LOG --log-prefix "$P-x6f " $LOGALL &&
		xt 6 "$NETNS_CLIENT" -t raw -A PREROUTING -p ipv6-icmp --icmpv6-type port-unreachable -j LOG --log-prefix "$P-x6e " $LOGALL &&
		xt 6 "$NETNS_CLIENT" -A OUTPUT -p tcp --dport 7156 -j LOG --log-prefix "$P-x6w " $LOGALL
} 2>"$TMP/rules.err" || rules_ok=0
in_server nft -f - <<EOF 2>>"$TMP/rules.err" || rules_ok=0
add table inet $P
add chain inet $P pre { type filter hook prerouting priority -450; policy accept; }
add rule inet $P pre ip protocol tcp tcp dport 7201 log prefix "$P-na4t " flags all
add rule inet $P pre ip protocol udp udp dport 7202 log prefix "$P-na4u " flags all
add rule inet $P pre icmp type echo-request log prefix "$P-na4i " flags all
add rule inet $P pre ip protocol udp ip frag-off & 0x3fff != 0 ip id 7205 log prefix "$P-na4f " flags all
add rule inet $P pre meta nfproto ipv6 tcp dport 7251 log prefix "$P-na6t " flags all
add rule inet $P pre meta nfproto ipv6 udp dport 7252 log prefix "$P-na6u " flags all
add rule inet $P pre icmpv6 type echo-request log prefix "$P-na6i " flags all
add rule inet $P pre frag id 7255 log prefix "$P-na6f " flags all
add rule inet $P pre ip protocol tcp tcp dport 7211 log prefix "$P-nn4t "
add rule inet $P pre ip protocol udp udp dport 7212 log prefix "$P-nn4u "
add rule inet $P pre meta nfproto ipv6 tcp dport 7261 log prefix "$P-nn6t "
add rule inet $P pre meta nfproto ipv6 udp dport 7262 log prefix "$P-nn6u "
add rule inet $P pre ip protocol udp udp dport 7399 log group $G prefix "$P-ready"
add rule inet $P pre ip protocol tcp tcp dport 7301 log group $G prefix "$P-u4t"
add rule inet $P pre ip protocol udp udp dport 7302 log group $G prefix "$P-u4u"
add rule inet $P pre icmp type echo-request log group $G prefix "$P-u4i"
add rule inet $P pre ip protocol udp ip frag-off & 0x3fff != 0 ip id 7305 log group $G prefix "$P-u4f"
add rule inet $P pre meta nfproto ipv6 tcp dport 7351 log group $G prefix "$P-u6t"
add rule inet $P pre meta nfproto ipv6 udp dport 7352 log group $G prefix "$P-u6u"
add rule inet $P pre icmpv6 type echo-request log group $G prefix "$P-u6i"
add rule inet $P pre frag id 7355 log group $G prefix "$P-u6f"
EOF
if [ $rules_ok = 1 ]; then ok "the logging rules are in place"; else fail "the logging rules are in place"; diag "$TMP/rules.err"; fi

# ---- ulogd2 (NFLOG is per namespace: it runs in the server's) ------------------
ULOGD=$(command -v ulogd || echo /usr/sbin/ulogd)
ulogd_why=
for d in /usr/lib/x86_64-linux-gnu/ulogd /usr/lib/*/ulogd /usr/lib/ulogd /usr/lib64/ulogd; do
	[ -f "$d/ulogd_output_LOGEMU.so" ] && { ULOGD_LIB=$d; break; }
done
if [ ! -x "$ULOGD" ]; then
	ulogd_why="ulogd2 is not installed (contrib/debian-deps.sh --test installs it)"
elif [ -z "${ULOGD_LIB:-}" ]; then
	ulogd_why="ulogd2's plugins (ulogd_output_LOGEMU.so) not found"
else
	cat >"$TMP/ulogd.conf" <<EOF
[global]
logfile="$TMP/ulogd.log"
loglevel=3
plugin="$ULOGD_LIB/ulogd_inppkt_NFLOG.so"
plugin="$ULOGD_LIB/ulogd_filter_IFINDEX.so"
plugin="$ULOGD_LIB/ulogd_filter_IP2STR.so"
plugin="$ULOGD_LIB/ulogd_filter_PRINTPKT.so"
plugin="$ULOGD_LIB/ulogd_output_LOGEMU.so"
plugin="$ULOGD_LIB/ulogd_raw2packet_BASE.so"
stack=log1:NFLOG,base1:BASE,ifi1:IFINDEX,ip2str1:IP2STR,print1:PRINTPKT,emu1:LOGEMU

[log1]
group=$G

[emu1]
file="$TMP/logemu.log"
sync=1
EOF
	: >"$TMP/logemu.log"
	# Not through the in_server function: a function in the background is a
	# subshell of its own, and its pid would not be ulogd's ("ip netns exec"
	# execs the program in place).
	ip netns exec "$NETNS_SERVER" "$ULOGD" -c "$TMP/ulogd.conf" -p "$TMP/ulogd.pid" </dev/null >"$TMP/ulogd.out" 2>&1 &
	ulogd_pid=$!
	# Ready once a datagram to the "ready" rule comes out in its file.
	i=0
	until grep -q "$P-ready IN=" "$TMP/logemu.log"; do
		i=$((i + 1))
		if [ $i -gt 100 ] || ! alive "$ulogd_pid"; then
			ulogd_why="ulogd2 did not start or log: $(cat "$TMP/ulogd.out" "$TMP/ulogd.log" 2>/dev/null | head -3 | tr '\n' ' ')"
			break
		fi
		in_client bash -c 'printf x >/dev/udp/192.0.2.1/7399' 2>/dev/null
		sleep 0.1
	done
fi

# ---- the probes ------------------------------------------------------------------
kmsg_before=$(python3 -c 'import os,time; print(int(time.clock_gettime(time.CLOCK_MONOTONIC)*1e6))')
cat >"$TMP/send.py" <<'EOF'
import socket, struct, subprocess, sys, time
mode = sys.argv[1]
probes = [l.split(None, 4) for l in open(sys.argv[2])]
S4, C4, S6, C6 = "192.0.2.1", "192.0.2.2", "2001:db8::1", "2001:db8::2"

def csum(b):
    if len(b) % 2:
        b += b"\0"
    s = sum(struct.unpack("!%dH" % (len(b) // 2), b))
    s = (s >> 16) + (s & 0xffff)
    s += s >> 16
    return ~s & 0xffff

def tcp(fam, dport, sport):
    s = socket.socket(fam, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind((C6 if fam == socket.AF_INET6 else C4, sport))
    s.settimeout(2)
    try:
        s.connect((S6 if fam == socket.AF_INET6 else S4, dport))
    except OSError:
        pass  # refused (RST): one SYN, one line
    s.close()

def udp(fam, dport, sport, size=9, opts=None, dstopts=None, ident=None):
    s = socket.socket(fam, socket.SOCK_DGRAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind((C6 if fam == socket.AF_INET6 else C4, sport))
    if fam == socket.AF_INET:
        s.setsockopt(socket.IPPROTO_IP, 10, 0)  # IP_MTU_DISCOVER: IP_PMTUDISC_DONT (fragment here)
        if opts:
            s.setsockopt(socket.IPPROTO_IP, socket.IP_OPTIONS, opts)
    if dstopts:
        s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_DSTOPTS, dstopts)
    s.sendto(b"x" * size, (S6 if fam == socket.AF_INET6 else S4, dport))
    s.close()

def frag4(dport, sport, ident):
    # A datagram cut by hand into fragments with a chosen IP ID (the nft
    # rules match it): first fragment with the UDP header, two more.
    payload = struct.pack("!HHHH", sport, dport, 8 + 2400, 0) + b"f" * 2400
    r = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_RAW)
    chunks = [payload[i:i + 1000] for i in range(0, len(payload), 1000)]
    off = 0
    for i, c in enumerate(chunks):
        flags = 0x2000 if i < len(chunks) - 1 else 0
        hdr = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(c), ident, flags | (off // 8), 64, 17, 0,
                          socket.inet_aton(C4), socket.inet_aton(S4))
        hdr = hdr[:10] + struct.pack("!H", csum(hdr)) + hdr[12:]
        r.sendto(hdr + c, (S4, 0))
        off += len(c)
    r.close()

def frag6(dport, sport, ident):
    # The same for IPv6: a fragment header with a chosen identification.
    payload = struct.pack("!HHHH", sport, dport, 8 + 2400, 0) + b"f" * 2400
    r = socket.socket(socket.AF_INET6, socket.SOCK_RAW, socket.IPPROTO_RAW)
    chunks = [payload[i:i + 1000] for i in range(0, len(payload), 1000)]
    off = 0
    for i, c in enumerate(chunks):
        more = 1 if i < len(chunks) - 1 else 0
        fh = struct.pack("!BBHI", 17, 0, off | more, ident)
        ip6 = struct.pack("!IHBB16s16s", 6 << 28, len(fh) + len(c), 44, 64,
                          socket.inet_pton(socket.AF_INET6, C6), socket.inet_pton(socket.AF_INET6, S6))
        r.sendto(ip6 + fh + c, (S6, 0))
        off += len(c)
    r.close()

def echo(fam, ident):
    if fam == socket.AF_INET:
        s = socket.socket(fam, socket.SOCK_RAW, socket.IPPROTO_ICMP)
        pkt = struct.pack("!BBHHH", 8, 0, 0, ident, 1) + b"knock"
        pkt = pkt[:2] + struct.pack("!H", csum(pkt)) + pkt[4:]
        s.bind((C4, 0))
        s.sendto(pkt, (S4, 0))
    else:
        s = socket.socket(fam, socket.SOCK_RAW, socket.IPPROTO_ICMPV6)
        s.bind((C6, 0))
        s.sendto(struct.pack("!BBHHH", 128, 0, 0, ident, 1) + b"knock", (S6, 0))  # the kernel sums it
    s.close()

def unreach_sent(fam):
    """Port (or address) unreachables the server has sent, from its namespace's counters."""
    six = fam == socket.AF_INET6
    text = subprocess.run(["ip", "netns", "exec", sys.argv[4], "cat", "/proc/net/snmp6" if six else "/proc/net/snmp"],
                          capture_output=True, text=True).stdout.split("\n")
    if six:
        return int(next((l.split()[1] for l in text if l.startswith("Icmp6OutDestUnreachs ")), "0"))
    head, vals = [l.split() for l in text if l.startswith("Icmp: ")][:2]
    return int(vals[head.index("OutDestUnreachs")])

echoed = set()
for n, (name, fam, kind, port, _) in enumerate(probes):
    f = socket.AF_INET6 if fam == "6" else socket.AF_INET
    port = int(port)
    if kind in ("tcp", "out"):
        tcp(f, port, 40000 + n)
    elif kind == "udp":
        udp(f, port, 41000 + n, opts=b"\x01\x01\x01\x00" if name == "x4o" else None)
    elif kind == "dopt":
        udp(f, port, 41000 + n, dstopts=b"\x00\x00\x01\x04\x00\x00\x00\x00")
    elif kind == "frag":
        (frag6 if fam == "6" else frag4)(port, 41000 + n, port)
    elif kind == "icmp":
        if fam not in echoed:  # one echo request: every echo rule of the family logs it
            echo(f, 4242)
            echoed.add(fam)
    elif kind == "err":
        # Nothing listens on 9: the server answers port unreachable, unless
        # the kernel's ICMP rate limits (shared with whatever else runs on
        # the machine) hold the answer back: the server's own counter of
        # port unreachables sent says which. Sent again (a second apart, the
        # per-host limit) up to 5 times; never sent, the probe is reported.
        got = False
        for attempt in range(5):
            before = unreach_sent(f)
            udp(f, 9, 42000 + n)
            time.sleep(0.2)
            if unreach_sent(f) > before:
                got = True
                break
            time.sleep(1)
        if not got:
            with open(sys.argv[3], "a") as nf:
                nf.write(name + "\n")
    time.sleep(0.02)
EOF
: >"$TMP/not-sent"
if in_client python3 "$TMP/send.py" send "$TMP/probes" "$TMP/not-sent" "$NETNS_SERVER" 2>"$TMP/send.err"; then
	:
else
	diag "$TMP/send.err"
fi

# ---- what the kernel wrote -------------------------------------------------------
# Every /dev/kmsg record of this run's prefix (the message after ';').
cat >"$TMP/kmsg.py" <<'EOF'
import os, sys
pre, since = sys.argv[1].encode(), int(sys.argv[2])
fd = os.open("/dev/kmsg", os.O_RDONLY | os.O_NONBLOCK)
out = sys.stdout.buffer
while True:
    try:
        rec = os.read(fd, 8192)
    except BlockingIOError:
        break
    except OSError:  # EPIPE: records overwritten under us; read on
        continue
    head, _, msg = rec.partition(b";")
    fields = head.split(b",")
    if len(fields) < 3 or int(fields[2]) < since:
        continue
    msg = msg.split(b"\n", 1)[0]
    if msg.startswith(pre):
        out.write(msg + b"\n")
EOF
# Wait (10 s at most) until every kernel rule and every NFLOG rule logged.
nk=$(($(grep -cv '^u' "$TMP/probes") - $(grep -cv '^u' "$TMP/not-sent")))
nu=$(grep -c '^u' "$TMP/probes")
i=0
while :; do
	python3 "$TMP/kmsg.py" "$P-" "$kmsg_before" >"$TMP/kmsg.lines"
	have_k=$(sed 's/ IN=.*//' "$TMP/kmsg.lines" | sort -u | wc -l)
	have_u=$(grep -o "$P-u[0-9a-z]* IN=" "$TMP/logemu.log" 2>/dev/null | sort -u | wc -l)
	[ "$have_k" -ge "$nk" ] && { [ -n "$ulogd_why" ] || [ "$have_u" -ge "$nu" ]; } && break
	i=$((i + 1))
	[ $i -gt 50 ] && break
	sleep 0.2
done
stop_pid "$ulogd_pid"
ulogd_pid=
check "the kernel wrote lines with this run's prefix" test -s "$TMP/kmsg.lines"

# ---- each probe's lines through logknockd --replay -----------------------------
cat >"$TMP/check.py" <<'EOF'
import json, os, subprocess, sys
P, probes_file, kmsg, logemu, ulogd_why, tmp, not_sent = sys.argv[1:8]
not_sent = set(open(not_sent).read().split())
LOGKNOCKD = os.environ["LOGKNOCKD"]
C4, S4 = "192.0.2.2", "192.0.2.1"
C6, S6 = "2001:db8::2", "2001:db8::1"
klines = open(kmsg, encoding="utf-8", errors="replace").read().splitlines()
ulines = open(logemu, encoding="utf-8", errors="replace").read().splitlines() if os.path.exists(logemu) else []

def replay(prefix, lines, ulogd):
    """Knock events of each line, replayed one at a time."""
    conf = os.path.join(tmp, "c.yaml")
    with open(conf, "w") as c:
        c.write("prefix: %s\ndoors:\n  - name: d\n    sequence: [tcp/1]\n    open: [tcp/2]\n" % json.dumps(prefix))
    res = []
    for l in lines:
        path = os.path.join(tmp, "one.log")
        with open(path, "w") as f:
            f.write(l + "\n")
        cmd = [LOGKNOCKD, "-q", "-c", conf, "--replay", path, "--print-events"] + (["--format", "ulogd"] if ulogd else [])
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
        ev = [json.loads(x) for x in r.stdout.splitlines()]
        res.append(([e for e in ev if e["event"] == "knock"], r.stderr.strip()))
    return res

for n, line in enumerate(open(probes_file)):
    name, fam, kind, port, what = line.rstrip("\n").split(None, 4)
    port = int(port)
    ulogd = name.startswith("u")
    if ulogd and ulogd_why:
        print("SKIP %s: %s" % (what, ulogd_why))
        continue
    if name in not_sent:
        print("SKIP %s: the kernel sent no port unreachable in 5 tries (its ICMP rate limits)" % what)
        continue
    if ulogd:
        mine = [l for l in ulines if (" %s-%s IN=" % (P, name)) in l]
        prefix = "%s-%s" % (P, name)
    else:
        mine = [l for l in klines if l.startswith("%s-%s IN=" % (P, name))]
        prefix = "%s-%s " % (P, name)
    six = fam == "6"
    cli, srv = (C6, S6) if six else (C4, S4)
    if kind in ("tcp", "out"):
        want = {"src": cli, "dst": srv, "proto": "tcp", "sport": 40000 + n, "dport": port, "flags": "SYN"}
    elif kind in ("udp", "dopt", "frag"):
        want = {"src": cli, "dst": srv, "proto": "udp", "sport": 41000 + n, "dport": port}
    elif kind == "icmp":
        want = {"src": cli, "dst": srv, "proto": "icmpv6" if six else "icmp", "type": port, "code": 0}
    else:  # err: the server's port unreachable, to the client
        want = {"src": srv, "dst": cli, "proto": "icmpv6" if six else "icmp", "type": port, "code": 4 if six else 3}
    got = replay(prefix, mine, ulogd)
    knocks = [k for ks, _ in got for k in ks]
    problems = []
    if not mine:
        problems.append("no line logged")
    for k in knocks:
        k = {x: y for x, y in k.items() if x not in ("event", "time")}
        if k != want:
            problems.append("knock %s, want %s" % (k, want))
    if kind == "frag":
        # The first fragment carries the ports, the later ones none: one knock.
        if len(mine) < 2 or len(knocks) != 1:
            problems.append("%d lines, %d knocks; want 2 or more lines and 1 knock" % (len(mine), len(knocks)))
    elif len(knocks) != len(mine):
        problems.append("%d lines, %d knocks" % (len(mine), len(knocks)))
    for (ks, err), l in zip(got, mine):
        if "skipped:" in err:
            problems.append("skipped: %s" % err)
    print("%s %s (%d lines)" % ("FAIL" if problems else "PASS", what, len(mine)))
    for p in problems[:3]:
        print("#   " + p)
    if problems:
        for l in mine[:4]:
            print("#   line: " + l)
EOF
python3 "$TMP/check.py" "$P" "$TMP/probes" "$TMP/kmsg.lines" "$TMP/logemu.log" "$ulogd_why" "$TMP" "$TMP/not-sent" >"$TMP/check.out" 2>&1
while IFS= read -r l; do
	case $l in
	PASS\ *) ok "${l#PASS }" ;;
	FAIL\ *) fail "${l#FAIL }" ;;
	SKIP\ *) ok "# SKIP ${l#SKIP }" ;;
	*) echo "$l" ;;
	esac
done <"$TMP/check.out"
done_testing
