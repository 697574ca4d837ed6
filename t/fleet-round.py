#!/usr/bin/env python3
# fleet-round.py — one round of bench/fleet-knock-to-open (t/fleet.sh):
#   fleet-round.py SRC GW TARGET...   two SYNs from SRC to GW tcp/7301 and
#       tcp/7302, then a fresh connect every 1 ms to TARGET:22 until each
#       answers (5 s at most); prints the milliseconds from the last SYN, one
#       column per TARGET ("-": none).
#   fleet-round.py --table FILE       those lines as a Markdown table.
import select, socket, statistics, sys, time

STEP = 0.001  # a fresh SYN this often: the resolution of the figures
NAMES = ["single host (gateway: kmsg, nft)", "fleet web1 (gateway rsyslog, RELP, collector, ssh)",
         "fleet web2 (gateway rsyslog, RELP, collector, ssh)"]


def table(path):
    rows = [l.split() for l in open(path) if l.strip()]
    print("| path | median ms | p90 ms | rounds |")
    print("| --- | --- | --- | --- |")
    for i, n in enumerate(NAMES):
        v = sorted(float(r[i]) for r in rows if len(r) > i and r[i] != "-")
        if not v:
            print("| %s | - | - | 0/%d |" % (n, len(rows)))
            continue
        p90 = v[min(len(v) - 1, int(round(0.9 * (len(v) - 1))))]
        print("| %s | %.1f | %.1f | %d/%d |" % (n, statistics.median(v), p90, len(v), len(rows)))


def one(src, gw, addrs):
    targets = [(a, 22) for a in addrs]
    t_last = 0.0
    for port in (7301, 7302):
        s = socket.socket()
        s.setblocking(False)
        s.bind((src, 0))
        try:
            s.connect((gw, port))
        except BlockingIOError:
            pass
        time.sleep(0.002)  # the SYN is out; a close in SYN_SENT sends nothing more
        t_last = time.monotonic()
        s.close()
    res = {}
    while len(res) < len(targets) and time.monotonic() < t_last + 5:
        socks = {}
        for t in targets:
            if t in res:
                continue
            s = socket.socket()
            s.setblocking(False)
            s.bind((src, 0))
            try:
                s.connect(t)
            except (BlockingIOError, OSError):
                pass
            socks[s] = t
        end = time.monotonic() + STEP
        while socks and time.monotonic() < end:
            _, w, _ = select.select([], list(socks), [], max(0, end - time.monotonic()))
            for s in w:
                t = socks.pop(s)
                if s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR) == 0 and t not in res:
                    res[t] = (time.monotonic() - t_last) * 1000
                s.close()
        for s in socks:
            s.close()
        time.sleep(max(0, end - time.monotonic()))
    # and the wall clock of the last SYN: to find a round that missed in the logs
    print(" ".join("%.1f" % res[t] if t in res else "-" for t in targets), "%.6f" % (time.time() - (time.monotonic() - t_last)))


if sys.argv[1] == "--table":
    table(sys.argv[2])
else:
    one(sys.argv[1], sys.argv[2], sys.argv[3:])
