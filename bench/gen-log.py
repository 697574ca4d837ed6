#!/usr/bin/env python3
"""Writes a realistic kern.log-style file: knock lines from many sources
(some completing sequences, most not), other kernel lines (other netfilter
prefixes, drivers), and non-kernel noise, in rsyslog's RFC 3164 format.
Usage: gen-log.py LINES OUT"""
import random
import sys

n, out = int(sys.argv[1]), sys.argv[2]
rnd = random.Random(42)
T0 = 1795704453  # 2026-11-26 14:47:33 UTC
MON = "Jan Feb Mar Apr May Jun Jul Aug Sep Oct Nov Dec".split()


def stamp(t):
    import time
    tm = time.gmtime(t)
    return "%s %2d %02d:%02d:%02d" % (MON[tm.tm_mon - 1], tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec)


def v4():
    return "%d.%d.%d.%d" % (rnd.choice([192, 198, 203]), rnd.randrange(256), rnd.randrange(256), rnd.randrange(1, 255))


def v6():
    return "2001:0db8:%04x:0000:0000:0000:0000:%04x" % (rnd.randrange(65536), rnd.randrange(1, 65536))


def knock(up, src, dport, proto="TCP"):
    six = ":" in src
    mac = "4a:14:fe:f4:b7:53:5a:0c:c5:36:61:de:" + ("86:dd" if six else "08:00")
    dst = "2001:0db8:0000:0000:0000:0000:0000:0001" if six else "192.0.2.1"
    ip = ("LEN=80 TC=0 HOPLIMIT=64 FLOWLBL=%d" % rnd.randrange(1 << 20)) if six else \
        ("LEN=60 TOS=0x00 PREC=0x00 TTL=64 ID=%d DF" % rnd.randrange(65536))
    tail = ("SPT=%d DPT=%d WINDOW=64240 RES=0x00 SYN URGP=0 " % (rnd.randrange(1024, 65536), dport)) \
        if proto == "TCP" else ("SPT=%d DPT=%d LEN=10 " % (rnd.randrange(1024, 65536), dport))
    return "kernel: [%12.6f] KNOCK IN=eth0 OUT= MAC=%s SRC=%s DST=%s %s PROTO=%s %s" % (
        up, mac, src, dst, ip, proto, tail)


OTHER_KERNEL = [
    "kernel: [%12.6f] DROP IN=eth0 OUT= MAC=4a:14:fe:f4:b7:53:5a:0c:c5:36:61:de:08:00 SRC=%s DST=192.0.2.1 LEN=44 TOS=0x00 PREC=0x00 TTL=53 ID=15270 PROTO=TCP SPT=56247 DPT=23 WINDOW=3072 RES=0x00 SYN URGP=0 ",
    "kernel: [%12.6f] usb 1-1: new high-speed USB device number %d using xhci_hcd",
    "kernel: [%12.6f] audit: type=1400 audit(%d.123:45): apparmor=\"DENIED\" operation=\"open\" profile=\"/usr/sbin/cupsd\"",
    "kernel: [%12.6f] EXT4-fs (sda1): re-mounted. Opts: errors=remount-ro. Quota mode: none.",
]
NOISE = [
    "sshd[%d]: Failed password for invalid user admin from %s port 40022 ssh2",
    "CRON[%d]: (root) CMD (command -v debian-sa1 > /dev/null && debian-sa1 1 1)",
    "systemd[1]: Started session-%d.scope - Session of User admin.",
    "postfix/smtpd[%d]: connect from unknown[%s]",
]

with open(out, "w") as f:
    t = T0
    up = 1000.0
    pending = []
    for i in range(n):
        if i % 1000 == 0:
            t += 1
        up += 0.001
        head = "%s vm " % stamp(t)
        r = rnd.random()
        if pending and r < 0.05:
            line = pending.pop(0)
            line = knock(up, *line)
        elif r < 0.45:
            if rnd.random() < 0.02:
                src = v6() if rnd.random() < 0.3 else v4()
                line = knock(up, src, 7000)
                pending += [(src, 8000), (src, 9000)]
            else:
                line = knock(up, v6() if rnd.random() < 0.3 else v4(), rnd.choice([7000, 8000, 9000, 22, 443, 3389]),
                             rnd.choice(["TCP", "TCP", "UDP"]))
        elif r < 0.70:
            k = rnd.randrange(len(OTHER_KERNEL))
            line = OTHER_KERNEL[k] % ((up, v4()) if k == 0 else (up, i) if k in (1, 2) else (up,))
        else:
            k = rnd.randrange(len(NOISE))
            line = NOISE[k] % ((i % 30000, v4()) if k in (0, 3) else (i % 30000,))
        f.write(head + line + "\n")
