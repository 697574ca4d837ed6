#!/usr/bin/env python3
"""Turns a kern.log from gen-log.py into what `journalctl -o json` prints for
the same messages: one JSON object per line, its fields in a shuffled order
(journald's order varies), kernel messages with _TRANSPORT "kernel" and
SYSLOG_FACILITY "0" and no "[uptime]" in MESSAGE, the others as syslog
entries of their program. Fixed seed.
Usage: gen-json.py IN OUT"""
import json
import random
import re
import sys

src, out = sys.argv[1], sys.argv[2]
rnd = random.Random(7)
BOOT = "8f62e4713594483987f39ff1dcb81ba1"
MACHINE = "3d1219c7c4c5404aaa1f6d2a48adfda4"
SEQ = "eb58a5c80aa344ed838e3749c901e646"
MON = {m: i for i, m in enumerate("Jan Feb Mar Apr May Jun Jul Aug Sep Oct Nov Dec".split())}
T0 = 1795704453000000
head = re.compile(r"^(\w{3}) +(\d+) (\d\d):(\d\d):(\d\d) (\S+) (.*)$")
with open(src) as f, open(out, "w") as o:
    for i, line in enumerate(f):
        m = head.match(line.rstrip("\n"))
        h, rest = m.group(6), m.group(7)
        rt = T0 + i * 1000 + rnd.randrange(1000)
        mono = 395319636 + i * 1000
        e = {
            "__CURSOR": "s=%s;i=%x;b=%s;m=%x;t=%x;x=%016x" % (SEQ, i + 1, BOOT, mono, rt, rnd.getrandbits(64)),
            "__REALTIME_TIMESTAMP": str(rt),
            "__MONOTONIC_TIMESTAMP": str(mono),
            "_BOOT_ID": BOOT,
            "_MACHINE_ID": MACHINE,
            "_HOSTNAME": h,
            "_RUNTIME_SCOPE": "system",
        }
        if rest.startswith("kernel: "):
            msg = re.sub(r"^\[ *\d+\.\d+\] ", "", rest[len("kernel: "):])
            e.update({"_TRANSPORT": "kernel", "SYSLOG_FACILITY": "0", "SYSLOG_IDENTIFIER": "kernel",
                      "PRIORITY": "4", "_SOURCE_MONOTONIC_TIMESTAMP": str(mono - 1000), "MESSAGE": msg})
        else:
            ident, _, msg = rest.partition(": ")
            name, _, pid = ident.partition("[")
            e.update({"_TRANSPORT": "syslog", "SYSLOG_FACILITY": "4" if name == "sshd" else "3",
                      "SYSLOG_IDENTIFIER": name, "PRIORITY": "6", "MESSAGE": msg})
            if pid:
                e.update({"SYSLOG_PID": pid.rstrip("]"), "_PID": pid.rstrip("]"), "_UID": "0", "_GID": "0",
                          "_COMM": name.split("/")[-1], "_SYSTEMD_UNIT": name.split("/")[0] + ".service"})
        items = list(e.items())
        rnd.shuffle(items)
        o.write(json.dumps(dict(items), separators=(",", ":")) + "\n")
