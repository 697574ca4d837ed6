#!/usr/bin/env python3
"""bench/follow-latency.py -- time from a knock packet to logknockd's decision,
through each live source, next to a bare reader of the same source in the
same run (see bench/README.md, section follow-latency).

Run it through bench/follow-latency (as root). For each source in turn:

  kmsg     logknockd (sources: [kmsg: true])          vs  python reading /dev/kmsg
  file     logknockd (sources: [file: F]) on a file   vs  tail -F F
           written by our own rsyslogd (imklog)
  journal  logknockd (sources: [journal: kernel])     vs  journalctl -f -k -o cat
           fed by systemd-journald (started if none runs)

A sender started once in the client namespace sends one UDP datagram per
round on request and reports its CLOCK_MONOTONIC send time; the harness
reads the daemon's stderr and the bare reader's stdout through pipes and
stamps every line with CLOCK_MONOTONIC on arrival (the same clock in every
network namespace). Latency = arrival - send.

Rounds are told apart by the UDP source port (the bare reader's line carries
SPT=) and by the door: four one-step doors (udp/P0..P3) opening four
different ports are used in turn, so the daemon's "door rK: opened|extended"
line names the round's destination port.

Internal modes (used by the harness itself):
  follow-latency.py --sender          read "SPORT DPORT DST" lines, send, print "ok SPORT T_NS"
  follow-latency.py --kmsg-reader P   bare /dev/kmsg reader: kernel records containing P
"""
import argparse
import datetime
import os
import random
import re
import selectors
import shlex
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time

sys.dont_write_bytecode = True	# no __pycache__ in the tree for lknet
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from lknet import (CLIENT4, JOURNALD, SERVER4, Cleanups, Missing, NetNS, copy_binaries, cpu_times,  # noqa: E402
                   exit_on_signals, kmsg_proc_readers, log, pct, procs_named, run, start_journald,
                   start_rsyslogd, stop_popen, tree_binaries)

PROG = "follow-latency"
PORTS = [47100, 47101, 47102, 47103]	# one door each, used in turn
OPEN_BASE = 2200			# door rK opens tcp/(OPEN_BASE + K)


# ---- internal modes ------------------------------------------------------------

def sender_main():
    """In the client namespace: one datagram per request line, from a fresh
    socket bound to the requested source port; report the send time."""
    out = sys.stdout
    for line in sys.stdin:
        try:
            sport, dport, dst = line.split()
            s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            s.bind((CLIENT4, int(sport)))
            t = time.monotonic_ns()
            s.sendto(b"x", (dst, int(dport)))
            s.close()
            out.write("ok %s %d\n" % (sport, t))
        except (OSError, ValueError) as e:
            out.write("error %s\n" % str(e).replace("\n", " "))
        out.flush()
    return 0


def kmsg_reader_main(prefix):
    """The bare /dev/kmsg reader: blocking read() of one record at a time,
    kernel facility only, records containing PREFIX written to stdout."""
    pat = prefix.encode()
    fd = os.open("/dev/kmsg", os.O_RDONLY)
    os.lseek(fd, 0, os.SEEK_END)
    os.write(1, b"READY\n")
    while True:
        try:
            rec = os.read(fd, 16384)
        except InterruptedError:
            continue
        except BrokenPipeError:
            return 0
        except OSError as e:
            if e.errno == 32:	# EPIPE: overrun, we were moved on
                continue
            raise
        head, _, rest = rec.partition(b";")
        try:
            pri = int(head.split(b",", 1)[0])
        except ValueError:
            continue
        if pri >> 3 != 0:
            continue
        msg = rest.split(b"\n", 1)[0]
        if pat in msg:
            os.write(1, msg + b"\n")


# ---- the harness -----------------------------------------------------------------

def die(msg):
    print("%s: %s" % (PROG, msg), file=sys.stderr)
    sys.exit(1)


class Stream:
    """A pipe from a child, read without blocking; complete lines handed to
    on_line(line_bytes, t_ns) with the time the bytes were read."""

    def __init__(self, name, fd, on_line=None):
        self.name, self.fd, self.on_line = name, fd, on_line
        self.buf = b""
        self.eof = False
        self.tail = []	# the last lines, for error messages
        os.set_blocking(fd, False)


class Harness(Cleanups):
    prog = PROG

    def __init__(self, args):
        super().__init__()
        self.args = args
        self.sel = selectors.DefaultSelector()
        self.procs = {}	# name -> Popen of the processes we started
        self.preempted = {}	# source -> involuntary context switches (daemon, bare) in the counted rounds
        self.tmp = None

    def stop_proc(self, name, sig=signal.SIGTERM, wait=5.0):
        """Stop exactly the process we started under NAME (by its PID)."""
        p = self.procs.pop(name, None)
        if p is None:
            return None
        for s in self.streams_of(p):
            self.drop_stream(s)
        return stop_popen(p, sig, wait)

    # -- processes and streams --
    def spawn(self, name, argv, stdin=False, out=None, err=None, **kw):
        """Start ARGV; OUT/ERR: a line callback to read that pipe through the
        selector, or a file path, or None for /dev/null."""
        def target(x):
            if callable(x):
                return subprocess.PIPE
            if isinstance(x, str):
                return open(x, "ab")
            return subprocess.DEVNULL
        so, se = target(out), target(err)
        try:
            p = subprocess.Popen(argv, stdin=subprocess.PIPE if stdin else subprocess.DEVNULL,
                                 stdout=so, stderr=se, close_fds=True, **kw)
        finally:
            for f in (so, se):
                if hasattr(f, "close"):
                    f.close()
        self.procs[name] = p
        self.at_exit("stop " + name, lambda: self.stop_proc(name))
        p.streams = []
        if callable(out):
            p.streams.append(self.add_stream(name + ".stdout", p.stdout.fileno(), out))
        if callable(err):
            p.streams.append(self.add_stream(name + ".stderr", p.stderr.fileno(), err))
        return p

    def streams_of(self, p):
        return list(getattr(p, "streams", []))

    def add_stream(self, name, fd, on_line):
        s = Stream(name, fd, on_line)
        self.sel.register(fd, selectors.EVENT_READ, s)
        return s

    def drop_stream(self, s):
        try:
            self.sel.unregister(s.fd)
        except (KeyError, ValueError):
            pass

    def pump(self, timeout):
        """Wait at most TIMEOUT seconds for input; dispatch every line."""
        if not self.sel.get_map():
            time.sleep(max(0.0, timeout))
            return
        for key, _ in self.sel.select(max(0.0, timeout)):
            s = key.data
            t = time.monotonic_ns()	# stamped before the read: arrival
            try:
                data = os.read(s.fd, 65536)
            except BlockingIOError:
                continue
            if not data:
                s.eof = True
                self.drop_stream(s)
                continue
            s.buf += data
            *lines, s.buf = s.buf.split(b"\n")
            for ln in lines:
                s.tail = (s.tail + [ln])[-20:]
                if s.on_line:
                    s.on_line(ln, t)

    def wait_until(self, cond, timeout, what):
        deadline = time.monotonic() + timeout
        while not cond():
            left = deadline - time.monotonic()
            if left <= 0:
                raise RuntimeError("timed out after %.1f s waiting for %s" % (timeout, what))
            self.pump(min(left, 0.05))

    # -- set-up --
    def check_tools(self):
        a = self.args
        missing = []
        if os.geteuid() != 0:
            missing.append("root (network namespaces, nftables, /dev/kmsg, rsyslogd, journald)")
        for tool in ("ip", "nft", "sysctl"):
            if not shutil.which(tool):
                missing.append("the %s command" % tool)
        if not (os.access(a.logknockd, os.X_OK)):
            missing.append("logknockd at %s (set LOGKNOCKD)" % a.logknockd)
        if not (os.access(a.apply, os.X_OK)):
            missing.append("logknock-apply at %s (set LOGKNOCK_APPLY)" % a.apply)
        if "kmsg" in a.sources and not os.access("/dev/kmsg", os.R_OK):
            missing.append("a readable /dev/kmsg")
        if "file" in a.sources:
            if not shutil.which("rsyslogd"):
                missing.append("rsyslogd (source file)")
            if not shutil.which("tail"):
                missing.append("tail (source file)")
        if "journal" in a.sources:
            if not shutil.which("journalctl"):
                missing.append("journalctl (source journal)")
            if not procs_named("systemd-journal") and not os.access(JOURNALD, os.X_OK):
                missing.append("a running systemd-journald or %s (source journal)" % JOURNALD)
        if not os.path.exists("/proc/sys/net/netfilter/nf_log_all_netns"):
            try:
                run(["modprobe", "nf_log_syslog"])
            except Exception:
                pass
            if not os.path.exists("/proc/sys/net/netfilter/nf_log_all_netns"):
                missing.append("net.netfilter.nf_log_all_netns (nf_log_syslog)")
        if missing:
            raise Missing("missing: " + "; ".join(missing))

    def setup_netns(self):
        self.net = NetNS("lkf", self.at_exit)
        rid = self.rid = self.net.rid
        self.ns_s, self.ns_c = self.net.ns_s, self.net.ns_c

        self.prefix = "LKF%s" % rid
        ports = ", ".join(str(p) for p in PORTS)
        rules = ("add table inet lkfollow\n"
                 "add chain inet lkfollow input { type filter hook input priority 0; policy accept; }\n"
                 'add rule inet lkfollow input udp dport { %s } log prefix "%s " drop\n' % (ports, self.prefix))
        run(self.net.in_server(["nft", "-f", "-"]), input=rules.encode())

    def start_sender(self):
        self.sent = {}	# sport -> send time

        def on_sender(line, t):
            f = line.split()
            if len(f) == 3 and f[0] == b"ok":
                self.sent[int(f[1])] = int(f[2])
            else:
                raise RuntimeError("sender: " + line.decode(errors="replace"))
        self.sender = self.spawn("sender", self.net.helper(__file__, "--sender"),
                                 stdin=True, out=on_sender, err=os.path.join(self.tmp, "sender.err"))

    def send(self, sport, dport):
        self.sender.stdin.write(b"%d %d %s\n" % (sport, dport, SERVER4.encode()))
        self.sender.stdin.flush()

    # -- the daemon --
    def write_conf(self, name, source_yaml):
        path = os.path.join(self.tmp, name + ".yaml")
        doors = "".join(
            "  - name: r%d\n"
            "    sequence: [udp/%d]\n"
            "    open: [tcp/%d]\n"
            "    duration: 1s\n"
            "    dedup: 0s\n" % (k, p, OPEN_BASE + k) for k, p in enumerate(PORTS))
        with open(path, "w") as f:
            # nf_log_all_netns=1 (set above) lets our namespaces log: accepted
            f.write("accept_nf_log_all_netns: true\n"
                    "sources:\n  - %s\nprefix: \"%s \"\napplier:\n  backend: log\n  program: %s\n"
                    "state_dir: %s\ndoors:\n%s" % (source_yaml, self.prefix, self.args.apply,
                                                   os.path.join(self.tmp, "state-" + name), doors))
        r = subprocess.run([self.args.logknockd, "-c", path, "--check-config"],
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=20)
        if r.returncode != 0:
            raise RuntimeError("logknockd --check-config: " + r.stdout.decode(errors="replace").strip())
        return path

    def start_daemon(self, name, conf, cur):
        ready = []
        door_re = re.compile(rb"door (r\d+): (opened|extended) ")
        knock_re = re.compile(rb"knock \S+ udp/(\d+) from ")

        def on_err(line, t):
            if b"following 1 sources" in line:
                ready.append(t)
            m = door_re.search(line)
            if m and cur.get("door") == m.group(1).decode() and "daemon" not in cur and "sport" in cur:
                cur["daemon"] = t
                return
            m = knock_re.search(line)
            if m and cur.get("dport") == int(m.group(1)) and "knock" not in cur and "sport" in cur:
                cur["knock"] = t
        argv = [self.args.logknockd] + (["-v"] if self.args.verbose else []) + ["-c", conf]
        p = self.spawn("logknockd-" + name, argv, err=on_err)
        self.wait_until(lambda: ready or p.poll() is not None, 10, "logknockd (%s) to start" % name)
        if p.poll() is not None or not ready:
            raise RuntimeError("logknockd (%s) did not start: %s" % (
                name, b" | ".join(p.streams[0].tail).decode(errors="replace")))
        return p

    # -- one source --
    def measure(self, name, rounds, timeout, gap, bare_argv, bare_ready, daemon_conf):
        cur = {}
        spt_re = re.compile(rb"SPT=(\d+) DPT=(\d+)")
        pfx = (self.prefix + " ").encode()

        def on_bare(line, t):
            if pfx not in line:
                return
            m = spt_re.search(line)
            if m and "sport" in cur and int(m.group(1)) == cur["sport"] and "bare" not in cur:
                cur["bare"] = t
        bare = self.spawn("bare-" + name, bare_argv, out=on_bare, err=os.path.join(self.tmp, "bare-%s.err" % name))
        if bare_ready:
            bare_ready(bare)
        if self.args.control:
            # A/A: a second copy of the bare reader in the daemon's place,
            # started at the same point: what the set-up itself adds.
            def on_second(line, t):
                if pfx not in line:
                    return
                m = spt_re.search(line)
                if m and "sport" in cur and int(m.group(1)) == cur["sport"] and "daemon" not in cur:
                    cur["daemon"] = t
            daemon = self.spawn("logknockd-" + name, bare_argv, out=on_second,
                                err=os.path.join(self.tmp, "bare2-%s.err" % name))
            if bare_ready:
                bare_ready(daemon)
        else:
            daemon = self.start_daemon(name, daemon_conf, cur)

        results, missed = [], 0
        def nivcsw(p):
            try:
                for ln in open("/proc/%d/status" % p.pid):
                    if ln.startswith("nonvoluntary_ctxt_switches:"):
                        return int(ln.split()[1])
            except OSError:
                pass
            return 0
        csw0 = None
        # Warm-up: rounds until both have shown WARMUP knocks (a reader that
        # came up late may miss the first ones); then ROUNDS counted rounds.
        warm_ok = warm_tries = counted = i = 0
        while counted < rounds:
            warm = warm_ok < self.args.warmup
            self.sport += 1
            k = i % len(PORTS)
            i += 1
            cur.clear()
            cur.update(sport=self.sport, dport=PORTS[k], door="r%d" % k)
            self.send(self.sport, PORTS[k])
            deadline = time.monotonic() + (timeout * (2 if warm else 1))
            while not ("bare" in cur and "daemon" in cur and self.sport in self.sent):
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                self.pump(left)
                for p, what in ((daemon, "logknockd"), (bare, "bare reader")):
                    if p.poll() is not None:
                        raise RuntimeError("%s (%s) exited with %s: %s" % (
                            what, name, p.returncode,
                            b" | ".join(p.streams[0].tail if p.streams else []).decode(errors="replace")))
            t0 = self.sent.get(self.sport)
            if t0 is None:
                raise RuntimeError("the sender did not answer within %.1f s" % timeout)
            complete = "bare" in cur and "daemon" in cur
            notseen = " and ".join(w for w in ("bare", "daemon") if w not in cur)
            if warm or csw0 is None:
                csw0 = (nivcsw(daemon), nivcsw(bare))
            if warm:
                warm_tries += 1
                if complete:
                    warm_ok += 1
                else:
                    log("%s: warm-up knock not seen within %.1f s by %s" % (name, timeout * 2, notseen))
                    if warm_tries >= self.args.warmup + 10:
                        raise RuntimeError("%s: %d warm-up knocks, only %d seen by both readers" % (
                            name, warm_tries, warm_ok))
            elif not complete:
                missed += 1
                counted += 1
                log("%s: round %d: not seen within %.1f s by %s" % (name, counted, timeout, notseen))
            else:
                counted += 1
                results.append((t0, cur["bare"] - t0, cur["daemon"] - t0,
                                cur["knock"] - t0 if "knock" in cur else None))
            # let the late ones of this round arrive, then a random pause
            # so that rounds do not lock onto a periodic timer
            pause = random.uniform(*gap)
            end = time.monotonic() + pause
            while time.monotonic() < end:
                self.pump(end - time.monotonic())
            if missed > max(5, rounds // 10):
                raise RuntimeError("%s: %d rounds lost; giving up" % (name, missed))
        self.preempted[name] = (nivcsw(daemon) - csw0[0], nivcsw(bare) - csw0[1])
        self.stop_proc("logknockd-" + name)
        self.stop_proc("bare-" + name)
        return results, missed

    # -- the three sources --
    def run_kmsg(self, rounds):
        conf = self.write_conf("kmsg", "kmsg: true")

        def ready(p):
            self.wait_until(lambda: p.streams[0].tail or p.poll() is not None, 10, "the kmsg reader")
            if p.poll() is not None:
                raise RuntimeError("the bare kmsg reader exited: see %s" % os.path.join(self.tmp, "bare-kmsg.err"))
        return self.measure("kmsg", rounds, 2.0, (0.01, 0.03),
                            [sys.executable, "-u", os.path.abspath(__file__), "--kmsg-reader", self.prefix + " "],
                            ready, conf)

    def run_file(self, rounds):
        holders = kmsg_proc_readers()
        if holders:
            raise RuntimeError("another process reads /proc/kmsg (%s): imklog of our rsyslogd would lose "
                               "lines to it" % ", ".join(holders))
        logf = start_rsyslogd(self, os.path.join(self.tmp, "rsyslog"), self.prefix)
        dconf = self.write_conf("file", "file: " + logf)
        try:
            return self.measure("file", rounds, 2.0, (0.01, 0.03),
                                ["tail", "-F", "-n", "0", logf], None, dconf)
        finally:
            self.stop_proc("rsyslogd")

    def run_journal(self, rounds):
        started = start_journald(self, self.tmp)
        self.journald_started = started
        dconf = self.write_conf("journal", "journal: kernel")
        try:
            return self.measure("journal", rounds, 5.0, (0.05, 0.3),
                                ["journalctl", "-f", "-k", "-n", "0", "-o", "cat", "--no-pager"], None, dconf)
        finally:
            if started:
                self.stop_proc("journald")


def ms(ns):
    return "%.3f" % (ns / 1e6)


def main():
    ap = argparse.ArgumentParser(prog=PROG, description="knock-to-decision latency of logknockd per source, "
                                 "next to a bare reader of the same source")
    ap.add_argument("--rounds", type=int, default=200, help="rounds for kmsg and file (default 200)")
    ap.add_argument("--journal-rounds", type=int, default=50, help="rounds for journal (default 50)")
    ap.add_argument("--warmup", type=int, default=4, help="uncounted rounds first (default 4)")
    ap.add_argument("--sources", default="kmsg,file,journal", help="comma-separated subset (default all)")
    ap.add_argument("--no-verbose", dest="verbose", action="store_false",
                    help="run logknockd without -v: only the decision line per knock, no 'knock' debug line")
    ap.add_argument("--control", action="store_true",
                    help="A/A run: a second bare reader in logknockd's place (what the set-up itself adds)")
    ap.add_argument("--raw", metavar="FILE", help="also write every round as CSV to FILE")
    ap.add_argument("--sender", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--kmsg-reader", metavar="PREFIX", help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.sender:
        return sender_main()
    if a.kmsg_reader:
        return kmsg_reader_main(a.kmsg_reader)

    top = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    a.logknockd, a.apply = tree_binaries(__file__)
    a.sources = [s.strip() for s in a.sources.split(",") if s.strip()]
    for s in a.sources:
        if s not in ("kmsg", "file", "journal"):
            die("unknown source %r (kmsg, file, journal)" % s)
    if a.rounds < 1 or a.journal_rounds < 1 or a.warmup < 1:
        die("--rounds, --journal-rounds and --warmup must be at least 1")

    exit_on_signals(signal.SIGTERM, signal.SIGHUP)

    h = Harness(a)
    cmdline = " ".join(shlex.quote(x) for x in ["bench/follow-latency"] + sys.argv[1:])
    results = {}
    busy_by = {}
    try:
        h.check_tools()
        h.tmp = tempfile.mkdtemp(prefix="logknock-follow.")
        h.at_exit("temporary directory", lambda: shutil.rmtree(h.tmp))
        copy_binaries(a, h.tmp)
        h.setup_netns()
        h.start_sender()
        h.sport = 20000
        load0 = open("/proc/loadavg").read().split()[:3]
        c0 = cpu_times()
        started = datetime.datetime.now(datetime.timezone.utc)
        for s in a.sources:
            n = a.journal_rounds if s == "journal" else a.rounds
            log("%s: %d rounds (+%d warm-up)" % (s, n, a.warmup))
            t = time.monotonic()
            cs = cpu_times()
            results[s] = getattr(h, "run_" + s)(n)
            ce = cpu_times()
            busy_by[s] = 100.0 * (1 - (ce[1] - cs[1]) / max(1, ce[0] - cs[0]))
            log("%s: done in %.1f s" % (s, time.monotonic() - t))
        c1 = cpu_times()
        load1 = open("/proc/loadavg").read().split()[:3]
    except Missing as e:
        h.cleanup()
        die(str(e))
    except (RuntimeError, subprocess.SubprocessError, OSError) as e:
        h.cleanup()
        die(str(e))
    except KeyboardInterrupt:
        h.cleanup()
        die("interrupted")
    except SystemExit:
        h.cleanup()
        raise
    h.cleanup()

    busy = 100.0 * (1 - (c1[1] - c0[1]) / max(1, c1[0] - c0[0]))
    names = {"kmsg": ("kmsg", "python read(/dev/kmsg)"),
             "file": ("file (rsyslogd imklog → file)", "tail -F"),
             "journal": ("journal (systemd-journald)", "journalctl -f -k -o cat")}
    print("# follow-latency %s UTC; %s" % (started.strftime("%Y-%m-%d %H:%M"), cmdline))
    try:
        rev = subprocess.run(["git", "-C", top, "rev-parse", "--short", "HEAD"], stdout=subprocess.PIPE,
                             stderr=subprocess.DEVNULL, timeout=10).stdout.decode().strip() or "?"
    except (OSError, subprocess.SubprocessError):
        rev = "?"
    print("# tree %s (HEAD %s)" % (top, rev))
    print("# logknockd: %s; kernel %s; %d CPUs; load average %s before, %s after; CPUs %.0f %% busy during "
          "the run (all processes, this one included)" % (a.logknockd_orig, os.uname().release, os.cpu_count(),
                                                          " ".join(load0), " ".join(load1), busy))
    if a.control:
        print("# CONTROL RUN (--control): the logknockd column is a second copy of the bare reader")
    print("# latency: knock sent (sender, CLOCK_MONOTONIC) -> line read from the reader's pipe; ms")
    print()
    print("| source | bare reader | bare median / p90 | logknockd median / p90 | difference median / p90 "
          "(per round) | rounds |")
    print("| --- | --- | --- | --- | --- | --- |")
    verdict = []
    for s in a.sources:
        res, missed = results[s]
        asked = a.journal_rounds if s == "journal" else a.rounds
        if not res:
            print("| %s | %s | – | – | – | 0 of %d |" % (names[s][0], names[s][1], asked))
            verdict.append("%s: no complete round" % s)
            continue
        bare = [r[1] for r in res]
        dae = [r[2] for r in res]
        diff = [r[2] - r[1] for r in res]
        print("| %s | %s | %s / %s | %s / %s | %+.3f / %+.3f | %d of %d |" % (
            names[s][0], names[s][1], ms(statistics.median(bare)), ms(pct(bare, 90)),
            ms(statistics.median(dae)), ms(pct(dae, 90)),
            statistics.median(diff) / 1e6, pct(diff, 90) / 1e6, len(res), asked))
        within = statistics.median(diff) <= 500000 and pct(diff, 90) <= 500000
        verdict.append("%s: CPUs %.0f %% busy during this source's rounds (every process on the machine)" % (
            s, busy_by[s]))
        verdict.append("%s: daemon within 0.5 ms of the bare reader (median and p90 of the per-round "
                       "difference): %s" % (s, "yes" if within else "NO"))
        if s == "kmsg":
            verdict.append("kmsg: logknockd under 1 ms end to end: median %s, p90 %s" % (
                "yes" if statistics.median(dae) < 1e6 else "NO", "yes" if pct(dae, 90) < 1e6 else "NO"))
        if s in h.preempted:
            verdict.append("%s: involuntary context switches during the counted rounds: logknockd %d, bare reader "
                           "%d" % ((s,) + h.preempted[s]))
        kn = [r[3] for r in res if r[3] is not None]
        if kn:
            verdict.append("%s: logknockd's own 'knock' debug line (parse done) arrives at median %s ms, "
                           "the decision line %s ms after it" % (
                               s, ms(statistics.median(kn)),
                               ms(statistics.median([r[2] - r[3] for r in res if r[3] is not None]))))
    print()
    for v in verdict:
        print("# " + v)
    if a.raw:
        with open(a.raw, "w") as f:
            f.write("source,round,send_ns,bare_ns,logknockd_ns,knock_line_ns\n")
            for s in a.sources:
                for i, r in enumerate(results[s][0]):
                    f.write("%s,%d,%d,%d,%d,%s\n" % (s, i, r[0], r[1], r[2], "" if r[3] is None else r[3]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
