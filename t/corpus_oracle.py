#!/usr/bin/env python3
"""Reads every corpus line a second, independent way and compares the knocks
with what logknockd --replay --print-events prints. Speaks TAP."""
import calendar
import datetime
import ipaddress
import json
import os
import re
import subprocess
import sys
import tempfile

LOGKNOCKD = os.environ.get("LOGKNOCKD", "src/logknockd")
FLAGS = ["CWR", "ECE", "URG", "ACK", "PSH", "RST", "SYN", "FIN"]
MONTHS = "Jan Feb Mar Apr May Jun Jul Aug Sep Oct Nov Dec".split()
TS = r"(?:[A-Z][a-z]{2} +\d{1,2} \d\d:\d\d:\d\d(?:\.\d+)?|\d{4}-\d\d-\d\dT[\d:.]+(?:Z|[+-]\d\d:?\d\d)?)"
SYSLOG = re.compile(r"^(" + TS + r") +\S+ kernel: +(?:\[ *\d+\.\d+\] ?)?(.*)$")
ULOGD = re.compile(r"^(" + TS + r") +\S+ +(.*)$")


def fmt_time(us):
    d = datetime.datetime(1970, 1, 1) + datetime.timedelta(microseconds=us)
    return d.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def stamp(ts, ref_us):
    """Seconds of a syslog stamp as UTC microseconds (TZ=UTC in tests)."""
    m = re.match(r"(\d{4})-(\d\d)-(\d\d)T(\d\d):(\d\d):(\d\d)(?:\.(\d+))?(Z|[+-]\d\d:?\d\d)?$", ts)
    if m:
        y, mo, d, h, mi, s = (int(x) for x in m.groups()[:6])
        frac = int((m.group(7) or "0")[:6].ljust(6, "0"))
        off = 0
        tz = m.group(8)
        if tz and tz != "Z":
            off = (int(tz[1:3]) * 3600 + int(tz[-2:]) * 60) * (-1 if tz[0] == "-" else 1)
        secs = calendar.timegm((y, mo, d, h, mi, s)) - off
        return secs * 1000000 + frac
    m = re.match(r"([A-Z][a-z]{2}) +(\d+) (\d\d):(\d\d):(\d\d)(?:\.(\d+))?$", ts)
    mo, d, h, mi, s = MONTHS.index(m.group(1)) + 1, int(m.group(2)), *(int(x) for x in m.groups()[2:5])
    frac = int((m.group(6) or "0")[:6].ljust(6, "0"))
    ref_s = ref_us // 1000000
    ref_year = datetime.datetime.utcfromtimestamp(ref_s).year
    for y in (ref_year + 1, ref_year, ref_year - 1):
        try:
            t = calendar.timegm(datetime.datetime(y, mo, d, h, mi, s).timetuple())
        except ValueError:
            continue
        if t <= ref_s + 86400:
            return t * 1000000 + frac
    return None


def fields(msg):
    """KEY=VALUE words before the quoted packet of an ICMP error."""
    msg = re.sub(r"OPT \([0-9A-Fa-f]*\)", "", msg)
    msg = msg.split("[", 1)[0]
    kv, flags = {}, []
    for w in msg.split():
        if "=" in w:
            k, v = w.split("=", 1)
            kv.setdefault(k, v)
        elif w in FLAGS:
            flags.append(w)
    return kv, flags


def expected_knock(msg, time_us):
    kv, flags = fields(msg)
    proto = {"TCP": "tcp", "UDP": "udp", "ICMP": "icmp", "ICMPv6": "icmpv6"}.get(kv.get("PROTO"))
    if proto is None:
        return None
    src, dst = ipaddress.ip_address(kv["SRC"]), ipaddress.ip_address(kv["DST"])
    e = {"event": "knock", "time": fmt_time(time_us), "src": str(src), "dst": str(dst), "proto": proto}
    if proto in ("icmp", "icmpv6"):
        e["type"], e["code"] = int(kv["TYPE"]), int(kv["CODE"])
    else:
        e["sport"], e["dport"] = int(kv["SPT"]), int(kv["DPT"])
        if proto == "tcp":
            e["flags"] = " ".join(flags)
    return e


def read_file(path):
    """Yields (message, time_us) of each kernel line as the file's pipeline stored it."""
    st = os.stat(path)
    ref = st.st_mtime_ns // 1000
    name = os.path.basename(path)
    with open(path, encoding="utf-8", errors="replace") as f:
        for line in f:
            line = line.rstrip("\n")
            if name.endswith("json.txt"):
                j = json.loads(line)
                if j.get("_TRANSPORT") == "kernel" and isinstance(j.get("MESSAGE"), str):
                    yield j["MESSAGE"], int(j["__REALTIME_TIMESTAMP"])
            elif name.endswith("cat.txt"):
                yield line, ref
            else:
                m = (ULOGD if "ulogd" in name else SYSLOG).match(line)
                if m:
                    yield m.group(2), stamp(m.group(1), ref)


def prefix_of(msg):
    i = msg.find("IN=")
    if i <= 0 or "=" in msg[:i]:
        return None
    return msg[:i]


def main():
    corpus = sys.argv[1]
    files = []
    for sub in ("kernel-formats", "psad-scans"):
        d = os.path.join(corpus, sub)
        if os.path.isdir(d):
            files += [os.path.join(d, f) for f in sorted(os.listdir(d)) if not f.startswith("LICENSE")]
    print("1..%d" % len(files))
    total = 0
    failed = 0
    with tempfile.TemporaryDirectory() as tmp:
        for n, path in enumerate(files, 1):
            lines = list(read_file(path))
            prefixes = sorted({p for p in (prefix_of(m) for m, _ in lines) if p})
            want = [k for k in (expected_knock(m, t) for m, t in lines if prefix_of(m)) if k]
            conf = os.path.join(tmp, "c.yaml")
            with open(conf, "w") as c:
                c.write("prefix: %s\n" % json.dumps(prefixes or ["NO-PREFIX-IN-THIS-FILE "]))
                c.write("doors:\n  - name: d\n    sequence: [tcp/1]\n    open: [tcp/2]\n")
            cmd = [LOGKNOCKD, "-q", "-c", conf, "--replay", path, "--print-events"]
            if "ulogd" in path:
                cmd += ["--format", "ulogd"]
            r = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
            got = [json.loads(l) for l in r.stdout.splitlines()]
            got = [g for g in got if g["event"] == "knock"]
            total += len(want)
            name = os.path.relpath(path, corpus)
            if r.returncode != 0:
                failed += 1
                print("not ok %d - %s: exit %d: %s" % (n, name, r.returncode, r.stderr.strip()[:300]))
            elif got != want:
                failed += 1
                print("not ok %d - %s: %d knocks expected, %d parsed" % (n, name, len(want), len(got)))
                for i, (w, g) in enumerate(zip(want, got)):
                    if w != g:
                        print("#   knock %d: expected %s\n#   got      %s" % (i + 1, w, g))
                        break
            else:
                print("ok %d - %s: %d knocks, every field as the oracle reads it" % (n, name, len(want)))
    print("# %d knock lines compared" % total)
    return 0


if __name__ == "__main__":
    sys.exit(main())
