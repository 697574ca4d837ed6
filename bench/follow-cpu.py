#!/usr/bin/env python3
"""bench/follow-cpu.py [--rate N] [--seconds S] [--grants-per-s G] [--state-dir DIR]

The live daemon's CPU while it follows a file that grows by N knock lines a
second (default 100,000) for S seconds (default 10), of which about G a
second (default 870) complete a two-step sequence from a new source, so
that the grants table keeps changing (each grant lasts 4 s: about 3,500 open,
under max_grants, 4096). The lines go to a file under --state-dir's parent (default
/var/tmp: a disk, not a tmpfs), written in slices every 10 ms, stamped now.
logknockd ($LOGKNOCKD, default src/logknockd; $LOGKNOCK_APPLY) runs with the
log backend, its state directory next to the file. Prints the daemon's CPU
(utime + stime over the writing, in % of one core), the lines it counted
and the grants it opened (its last STATUS before the stop). Run as any user;
nothing outside a temporary directory is touched."""
import argparse, os, random, shutil, signal, socket, subprocess, sys, tempfile, threading, time

HZ = os.sysconf("SC_CLK_TCK")


def ticks(pid):
    f = open("/proc/%d/stat" % pid).read().rsplit(")", 1)[1].split()
    return int(f[11]) + int(f[12])


def main():
    ap = argparse.ArgumentParser(prog="follow-cpu")
    ap.add_argument("--rate", type=int, default=100000)
    ap.add_argument("--seconds", type=float, default=10.0)
    ap.add_argument("--grants-per-s", type=int, default=870)
    ap.add_argument("--state-dir", default="/var/tmp")
    a = ap.parse_args()
    top = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    daemon = os.environ.get("LOGKNOCKD") or os.path.join(top, "src", "logknockd")
    apply = os.environ.get("LOGKNOCK_APPLY") or os.path.join(top, "src", "logknock-apply")
    tmp = tempfile.mkdtemp(prefix="logknock-follow-cpu.", dir=a.state_dir)
    p = None
    try:
        log = os.path.join(tmp, "kern.log")
        open(log, "w").close()
        conf = os.path.join(tmp, "c.yaml")
        open(conf, "w").write(
            "accept_nf_log_all_netns: true\nsources:\n  - file: %s\n    kernel_only: true\nprefix: \"KNOCK \"\napplier:\n  backend: log\n  program: %s\n"
            "doors:\n  - name: seq\n    sequence: [tcp/7000, tcp/8000]\n    window: 5s\n    open: [tcp/22]\n"
            "    duration: 4s\n" % (log, apply))
        nsock_path = os.path.join(tmp, "notify")
        nsock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        nsock.bind(nsock_path)
        status = []

        def drain():
            nsock.settimeout(0.5)
            while True:
                try:
                    m = nsock.recv(4096).decode(errors="replace")
                except socket.timeout:
                    continue
                except OSError:
                    return
                status.extend(ln[7:] for ln in m.splitlines() if ln.startswith("STATUS="))
        threading.Thread(target=drain, daemon=True).start()
        err = open(os.path.join(tmp, "err"), "w")
        p = subprocess.Popen([daemon, "-q", "-c", conf, "--state-dir", os.path.join(tmp, "state")],
                             stderr=err, env=dict(os.environ, NOTIFY_SOCKET=nsock_path))
        t_end = time.monotonic() + 10
        while not status and time.monotonic() < t_end:
            time.sleep(0.05)
        if not status:
            print("follow-cpu: logknockd did not start: " + open(os.path.join(tmp, "err")).read(), file=sys.stderr)
            return 1
        rnd = random.Random(7)
        p_full = a.grants_per_s / float(a.rate)
        slice_lines = a.rate // 100
        sport = 1024
        out = open(log, "ab", buffering=0)
        t0 = ticks(p.pid)
        w0 = time.monotonic()
        n = 0
        k = 0
        while time.monotonic() - w0 < a.seconds:
            stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime()) + ".000000+00:00"
            buf = []
            for _ in range(slice_lines):
                k += 1
                src = "10.%d.%d.%d" % ((k >> 16) & 255, (k >> 8) & 255, k & 255)
                ports = (7000, 8000) if rnd.random() < p_full else (7000,)
                for dpt in ports:
                    sport = sport + 1 if sport < 65535 else 1024
                    buf.append("%s vm kernel: KNOCK IN=eth0 OUT= MAC=62:92:44:cb:fb:5c:fe:65:11:35:87:ec:08:00 "
                               "SRC=%s DST=192.0.2.1 LEN=60 TOS=0x00 PREC=0x00 TTL=64 ID=1 DF PROTO=TCP SPT=%d "
                               "DPT=%d WINDOW=64240 RES=0x00 SYN URGP=0 \n" % (stamp, src, sport, dpt))
            out.write("".join(buf).encode())
            n += len(buf)
            due = w0 + (n / float(a.rate))
            d = due - time.monotonic()
            if d > 0:
                time.sleep(d)
        w1 = time.monotonic()
        time.sleep(0.5)	# the daemon reads what is left
        seen = len(status)
        t1 = ticks(p.pid)
        w2 = time.monotonic()
        p.send_signal(signal.SIGTERM)
        p.wait(30)
        last = [x for x in status[:seen] if " lines" in x]
        print("lines written %d in %.2f s (%.0f/s); daemon CPU %.1f %% of a core over %.2f s; its last STATUS "
              "(every 5 s): %s" % (n, w1 - w0, n / (w1 - w0), 100.0 * (t1 - t0) / HZ / (w2 - w0), w2 - w0,
                                   last[-1] if last else "?"))
        return 0
    finally:
        if p and p.poll() is None:
            p.kill()
            p.wait()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
