#!/usr/bin/env python3
"""bench/knock-to-open.py -- time from a client's LAST knock to a successful
TCP connection to the protected port, for logknockd through each live source
(kmsg, an rsyslog file, journald) next to Debian's knockd (libpcap) on the
same sequence, the same namespaces and the same machine, and a bare
sd_journal reader (journalctl -f) for the journald comparison
(see bench/README.md, section knock-to-open).

Run it through bench/knock-to-open (as root).

Set-up: two network namespaces joined by a veth pair (client 192.0.2.2 ->
server 192.0.2.1, static neighbour entries), nf_log_all_netns=1 (restored),
in the server namespace an nftables "admin" ruleset with policy drop that
logs and drops TCP to the knock ports 7000, 8000, 9000 (prefix unique to the
run), a TCP listener on 192.0.2.1:22.

Contenders, one after the other, each with its own ruleset variant:
  knockd       knockd -i VETH in the server namespace; sequence
               7000,8000,9000 (tcpflags syn); start_command adds
               "ip saddr %IP% tcp dport 22 accept" to a chain the admin's
               input chain jumps to; stop_command (cmd_timeout 1 s) flushes it
  logknockd    the daemon in the host namespace, door [tcp/7000, tcp/8000,
               tcp/9000] -> tcp/22 for 1 s, applier backend nft started
               through nsenter --net into the server namespace (the admin's
               ruleset accepts tcp/22; the applier's guard chain takes that
               away from everyone without a grant); sources in turn:
               kmsg: true / file: (our own rsyslogd, imklog only) /
               journal: kernel (systemd-journald, started if none runs)
  forward      logknockd (kmsg) with a gateway door instead (issue 15): the
               knock lets the client reach 198.51.100.2:22, an internal host
               in a third namespace behind the server, through the server's
               forward path (the applier's nft forward guard and a per-source
               set element); same rounds, target 198.51.100.2:22
  dnat         the same with a dnat door: the client's connections to the
               server's tcp/2222 are translated to 198.51.100.2:22 (a
               per-source map element); target 192.0.2.1:2222
  journalctl   during the journal rounds, journalctl -f -k -n 0 -o cat in
               the host: the arrival of the round's last knock line, read
               from its pipe (CLOCK_MONOTONIC), minus the knock's send time

The client (started once in the client namespace) runs a round on request:
three TCP SYNs (non-blocking connect, 10 ms apart, from source ports the
harness chooses), then a connect() to 192.0.2.1:22 every 1 ms (each attempt
a fresh non-blocking socket given 1 ms to complete; a dropped SYN never
completes) until one succeeds (at most 5 s, 15 s for journald), then attempts
every 20 ms until one fails again (the grant has closed; at most 6 s). It
reports CLOCK_MONOTONIC stamps: just before the last knock's connect(), and
when the successful attempt completed. Latency = the difference; the 1 ms
attempt period adds 0 to 1 ms (0.5 ms on average) to every contender alike.

Internal modes:
  knock-to-open.py --client     the client (reads "round SPORT0 LIMIT_S" lines)
"""
import argparse
import datetime
import os
import random
import select
import shlex
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time

sys.dont_write_bytecode = True	# no __pycache__ in the tree for lknet
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from lknet import (CLIENT4, JOURNALD, SERVER4, Cleanups, Missing, NetNS, copy_binaries, cpu_times,  # noqa: E402
                   exit_on_signals, kmsg_proc_readers, log, pct, procs_named, run, start_journald,
                   start_rsyslogd, stop_popen, tree_binaries)

PROG = "knock-to-open"
NFT = "/usr/sbin/nft"
NSENTER = "/usr/bin/nsenter"
KNOCKS = [7000, 8000, 9000]
OPEN_PORT = 22
GAP_S = 0.010


# ---- the client (in the client namespace) --------------------------------------

TARGET = [SERVER4, OPEN_PORT]	# the round's protected host and port (forward, dnat: another)
INNER4 = "198.51.100.2"		# the internal host behind the server (forward, dnat)
INNER_GW4 = "198.51.100.1"
DNAT_PORT = 2222


def attempt(timeout_s):
    """One connection attempt to the protected port: True when it completes
    within TIMEOUT_S. Returns (ok, t_done_ns)."""
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.setblocking(False)
    try:
        s.connect((TARGET[0], TARGET[1]))
        return True, time.monotonic_ns()
    except BlockingIOError:
        pass
    except OSError:
        s.close()
        return False, time.monotonic_ns()
    try:
        _, w, _ = select.select([], [s], [], timeout_s)
        t = time.monotonic_ns()
        if w and s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR) == 0:
            return True, t
        return False, t
    finally:
        s.close()


def client_main():
    out = sys.stdout
    for line in sys.stdin:
        f = line.split()
        if len(f) not in (3, 5) or f[0] != "round":
            out.write("error bad request\n")
            out.flush()
            continue
        sport0, limit = int(f[1]), float(f[2])
        TARGET[:] = [f[3], int(f[4])] if len(f) == 5 else [SERVER4, OPEN_PORT]
        try:
            t_last = None
            for k, port in enumerate(KNOCKS):
                s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
                s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                s.bind((CLIENT4, sport0 + k))
                s.setblocking(False)
                if k == len(KNOCKS) - 1:
                    t_last = time.monotonic_ns()
                try:
                    s.connect((SERVER4, port))
                except BlockingIOError:
                    pass
                s.close()	# SYN_SENT aborted: no RST, no retransmission
                if k < len(KNOCKS) - 1:
                    time.sleep(GAP_S)
            deadline = t_last + int(limit * 1e9)
            t_open = None
            while time.monotonic_ns() < deadline:
                ok, t = attempt(0.001)
                if ok:
                    t_open = t
                    break
            if t_open is None:
                out.write("timeout %d\n" % t_last)
                out.flush()
                continue
            # wait for the grant to close: attempts every 20 ms until one fails
            closed = None
            end = time.monotonic() + 6.0
            while time.monotonic() < end:
                ok, t = attempt(0.05)
                if not ok:
                    closed = t
                    break
                time.sleep(0.02)
            out.write("ok %d %d %s\n" % (t_last, t_open, closed if closed is not None else "-"))
        except OSError as e:
            out.write("error %s\n" % str(e).replace("\n", " "))
        out.flush()
    return 0


# ---- the harness (host namespace) ----------------------------------------------

class LineReader(threading.Thread):
    """Reads a child's pipe; calls on_line(bytes, t_ns) with the arrival time."""

    def __init__(self, f, on_line):
        super().__init__(daemon=True)
        self.f, self.on_line = f, on_line
        self.tail = []

    def run(self):
        fd = self.f.fileno()
        buf = b""
        while True:
            try:
                data = os.read(fd, 65536)
            except OSError:
                return
            t = time.monotonic_ns()
            if not data:
                return
            buf += data
            *lines, buf = buf.split(b"\n")
            for ln in lines:
                self.tail = (self.tail + [ln])[-20:]
                if self.on_line:
                    self.on_line(ln, t)


class Bench(Cleanups):
    prog = PROG

    def __init__(self, args):
        super().__init__()
        self.a = args
        self.procs = {}
        self.tmp = None

    def spawn(self, name, argv, stdin=False, out=None, err=None):
        """Start ARGV; out/err: a file path, "pipe", or None (/dev/null)."""
        def tgt(x):
            if x == "pipe":
                return subprocess.PIPE
            if x:
                return open(x, "ab")
            return subprocess.DEVNULL
        so, se = tgt(out), tgt(err)
        try:
            p = subprocess.Popen(argv, stdin=subprocess.PIPE if stdin else subprocess.DEVNULL,
                                 stdout=so, stderr=se, close_fds=True)
        finally:
            for f in (so, se):
                if hasattr(f, "close"):
                    f.close()
        self.procs[name] = p
        self.at_exit("stop " + name, lambda: self.stop(name))
        return p

    def stop(self, name, wait=5.0):
        """Stop exactly the process started under NAME, by its PID."""
        p = self.procs.pop(name, None)
        if p is None:
            return None
        return stop_popen(p, wait=wait)

    def wait_until(self, cond, timeout, what):
        deadline = time.monotonic() + timeout
        while not cond():
            if time.monotonic() > deadline:
                raise RuntimeError("timed out after %.0f s waiting for %s" % (timeout, what))
            time.sleep(0.02)

    # -- set-up --
    def check_tools(self):
        a, missing = self.a, []
        if os.geteuid() != 0:
            missing.append("root")
        for tool in ("ip", "nft", "sysctl", "knockd", "rsyslogd", "journalctl"):
            if not shutil.which(tool):
                missing.append("the %s command" % tool)
        if not os.access(NSENTER, os.X_OK):
            missing.append(NSENTER)
        for path in (a.logknockd, a.apply):
            if not os.access(path, os.X_OK):
                missing.append(path + " (set LOGKNOCKD / LOGKNOCK_APPLY)")
        if not procs_named("systemd-journal") and not os.access(JOURNALD, os.X_OK):
            missing.append("a running systemd-journald or " + JOURNALD)
        if not os.path.exists("/proc/sys/net/netfilter/nf_log_all_netns"):
            missing.append("net.netfilter.nf_log_all_netns (nf_log_syslog)")
        if missing:
            raise Missing("missing: " + "; ".join(missing))
        holders = kmsg_proc_readers()
        if holders:
            raise Missing("another process reads /proc/kmsg (%s): our rsyslogd's imklog would lose lines to it"
                          % ", ".join(holders))

    def setup_netns(self):
        self.net = NetNS("lko", self.at_exit)
        rid = self.net.rid
        self.ns_s, self.ns_c, self.veth_s = self.net.ns_s, self.net.ns_c, self.net.veth_s
        self.prefix = "KNOCK-%s" % rid
        # the listener on the protected port
        lst = os.path.join(self.tmp, "listener.py")
        with open(lst, "w") as f:
            f.write("import socket, sys\n"
                    "s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)\n"
                    "s.bind(('%s', %d)); s.listen(512)\n"
                    "open(sys.argv[1], 'w').write('ready\\n')\n"
                    "while True:\n    s.accept()[0].close()\n" % (SERVER4, OPEN_PORT))
        ready = os.path.join(self.tmp, "listener.ready")
        p = self.spawn("listener", self.net.in_server([sys.executable, lst, ready]),
                       err=os.path.join(self.tmp, "listener.err"))
        self.wait_until(lambda: os.path.exists(ready) or p.poll() is not None, 10, "the listener")
        if p.poll() is not None:
            raise RuntimeError("the listener exited: " + open(os.path.join(self.tmp, "listener.err")).read())

    def ruleset(self, mode):
        """The admin's ruleset: MODE knockd (port 22 closed, a chain knockd
        fills) or logknock (port 22 accepted; the applier's guard closes it)."""
        in_s = self.net.in_server([])
        run(in_s + [NFT, "flush", "ruleset"])
        rules = ("table inet admin {\n"
                 " chain knockd {\n }\n"
                 " chain input {\n"
                 "  type filter hook input priority filter; policy drop;\n"
                 "  ct state established,related accept\n"
                 "  iif lo accept\n"
                 "  meta l4proto icmp accept\n"
                 "  %s\n"
                 "  tcp dport { 7000, 8000, 9000 } log prefix \"%s \" drop\n"
                 " }\n}\n" % ("jump knockd" if mode == "knockd" else "tcp dport %d accept" % OPEN_PORT,
                              self.prefix))
        run(in_s + [NFT, "-f", "-"], input=rules.encode())

    def start_client(self):
        self.client = self.spawn("client", self.net.helper(__file__, "--client"),
                                 stdin=True, out="pipe", err=os.path.join(self.tmp, "client.err"))
        self.sport = 20000

    def round(self, limit):
        self.sport += len(KNOCKS)
        if self.sport > 60000:
            self.sport = 20000
        sport0 = self.sport
        tgt = getattr(self, "target", None)
        self.client.stdin.write(b"round %d %g%s\n" % (sport0, limit,
                                                        (" %s %d" % tgt).encode() if tgt else b""))
        self.client.stdin.flush()
        r, _, _ = select.select([self.client.stdout], [], [], limit + 15)
        if not r:
            raise RuntimeError("the client did not answer")
        line = self.client.stdout.readline().decode().split()
        if not line:
            raise RuntimeError("the client exited: " + open(os.path.join(self.tmp, "client.err")).read())
        if line[0] == "ok":
            return sport0 + len(KNOCKS) - 1, int(line[1]), int(line[2]), line[3] != "-"
        if line[0] == "timeout":
            return sport0 + len(KNOCKS) - 1, int(line[1]), None, True
        raise RuntimeError("client: " + " ".join(line))

    def rounds(self, name, n, limit, on_round=None):
        res, missed, unclosed = [], 0, 0
        for i in range(self.a.warmup + n):
            spt, t_last, t_open, closed = self.round(limit)
            warm = i < self.a.warmup
            if on_round:
                on_round(spt, t_last, t_open, warm)
            if not closed:
                unclosed += 1
            if warm:
                continue
            if t_open is None:
                missed += 1
                log("%s: round %d: no connection within %.0f s" % (name, i - self.a.warmup + 1, limit))
            else:
                res.append(t_open - t_last)
            time.sleep(random.uniform(0.05, 0.15))
        if unclosed:
            log("%s: %d rounds where the grant was still open 6 s later" % (name, unclosed))
        return res, missed

    # -- knockd --
    def run_knockd(self, n):
        self.ruleset("knockd")
        conf = os.path.join(self.tmp, "knockd.conf")
        logf = os.path.join(self.tmp, "knockd.log")
        with open(conf, "w") as f:
            f.write("[options]\n"
                    "  LogFile = %s\n"
                    "  Interface = %s\n"
                    "[open]\n"
                    "  sequence = %s\n"
                    "  seq_timeout = 5\n"
                    "  tcpflags = syn\n"
                    "  start_command = %s add rule inet admin knockd ip saddr %%IP%% tcp dport %d accept\n"
                    "  cmd_timeout = 1\n"
                    "  stop_command = %s flush chain inet admin knockd\n" % (
                        logf, self.veth_s, ",".join("%d:tcp" % p for p in KNOCKS), NFT, OPEN_PORT, NFT))
        p = self.spawn("knockd", self.net.in_server(["knockd", "-c", conf, "-i", self.veth_s]),
                       out=os.path.join(self.tmp, "knockd.out"), err=os.path.join(self.tmp, "knockd.out"))
        self.wait_until(lambda: (os.path.exists(logf) and "listening" in open(logf).read()) or p.poll() is not None,
                        10, "knockd to start")
        if p.poll() is not None:
            raise RuntimeError("knockd exited: " + open(os.path.join(self.tmp, "knockd.out")).read())
        try:
            return self.rounds("knockd", n, 5.0)
        finally:
            self.stop("knockd")

    # -- the internal host behind the server (forward, dnat) --
    def setup_inner(self):
        if getattr(self, "ns_i", None):
            return
        rid = self.net.rid
        self.ns_i, vs, vi = "lko%si" % rid, "lko%sg" % rid, "lko%sh" % rid
        run(["ip", "netns", "add", self.ns_i])
        self.at_exit("netns " + self.ns_i, lambda: run(["ip", "netns", "del", self.ns_i]))
        run(["ip", "link", "add", vs, "netns", self.ns_s, "type", "veth", "peer", "name", vi, "netns", self.ns_i])
        for argv in (["-n", self.ns_i, "link", "set", "lo", "up"],
                     ["-n", self.ns_s, "addr", "add", INNER_GW4 + "/24", "dev", vs],
                     ["-n", self.ns_i, "addr", "add", INNER4 + "/24", "dev", vi],
                     ["-n", self.ns_s, "link", "set", vs, "up"],
                     ["-n", self.ns_i, "link", "set", vi, "up"],
                     ["-n", self.ns_i, "route", "add", "default", "via", INNER_GW4],
                     ["-n", self.ns_c, "route", "add", "198.51.100.0/24", "via", SERVER4]):
            run(["ip"] + argv)
        # no neighbour resolution inside a timed round, on this link either
        run(["ip", "-n", self.ns_s, "neigh", "replace", INNER4, "lladdr", NetNS.mac(self.ns_i, vi), "dev", vs,
             "nud", "permanent"])
        run(["ip", "-n", self.ns_i, "neigh", "replace", INNER_GW4, "lladdr", NetNS.mac(self.ns_s, vs), "dev", vi,
             "nud", "permanent"])
        run(["ip", "netns", "exec", self.ns_s, "sysctl", "-q", "-w", "net.ipv4.ip_forward=1"])
        lst = os.path.join(self.tmp, "inner.py")
        with open(lst, "w") as f:
            f.write("import socket, sys\n"
                    "s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)\n"
                    "s.bind(('%s', %d)); s.listen(512)\n"
                    "open(sys.argv[1], 'w').write('ready\\n')\n"
                    "while True:\n    s.accept()[0].close()\n" % (INNER4, OPEN_PORT))
        ready = os.path.join(self.tmp, "inner.ready")
        p = self.spawn("inner", ["ip", "netns", "exec", self.ns_i, sys.executable, lst, ready],
                       err=os.path.join(self.tmp, "inner.err"))
        self.wait_until(lambda: os.path.exists(ready) or p.poll() is not None, 10, "the internal listener")
        if p.poll() is not None:
            raise RuntimeError("the internal listener exited: " + open(os.path.join(self.tmp, "inner.err")).read())

    def run_gateway(self, name, door, target, n):
        self.setup_inner()
        self.ruleset("logknock")
        self.start_daemon(name, "kmsg: true", door)
        self.target = target
        try:
            return self.rounds("logknockd " + name, n, 5.0)
        finally:
            self.target = None
            self.stop("logknockd-" + name)

    def run_forward(self, n):
        return self.run_gateway("forward", "forward: [{to: %s, port: tcp/%d}]" % (INNER4, OPEN_PORT),
                                (INNER4, OPEN_PORT), n)

    def run_dnat(self, n):
        return self.run_gateway("dnat", "dnat: [{listen: tcp/%d, to: \"%s:%d\"}]" % (DNAT_PORT, INNER4, OPEN_PORT),
                                (SERVER4, DNAT_PORT), n)

    # -- logknockd --
    def start_daemon(self, name, source, door=None):
        conf = os.path.join(self.tmp, name + ".yaml")
        with open(conf, "w") as f:
            # nf_log_all_netns=1 (set above) lets our namespaces log: accepted
            f.write("accept_nf_log_all_netns: true\n"
                    "sources:\n  - %s\nprefix: \"%s \"\nstate_dir: %s\n"
                    "applier:\n  backend: nft\n  program: %s\n  command: [%s, --net=/run/netns/%s]\n"
                    "doors:\n  - name: ssh\n    sequence: [%s]\n    window: 5s\n    %s\n"
                    "    duration: 1s\n" % (source, self.prefix, os.path.join(self.tmp, "state-" + name),
                                          self.a.apply, NSENTER, self.ns_s,
                                          ", ".join("tcp/%d" % p for p in KNOCKS),
                                          door or "open: [tcp/%d]" % OPEN_PORT))
        err = os.path.join(self.tmp, name + ".err")
        p = self.spawn("logknockd-" + name, [self.a.logknockd, "-c", conf], err=err)
        self.wait_until(lambda: "following 1 sources" in open(err).read() or p.poll() is not None, 10,
                        "logknockd (%s) to start" % name)
        if p.poll() is not None:
            raise RuntimeError("logknockd (%s) exited: %s" % (name, open(err).read().strip()))

    def run_kmsg(self, n):
        self.ruleset("logknock")
        self.start_daemon("kmsg", "kmsg: true")
        try:
            return self.rounds("logknockd kmsg", n, 5.0)
        finally:
            self.stop("logknockd-kmsg")

    def run_file(self, n):
        self.ruleset("logknock")
        logf = start_rsyslogd(self, os.path.join(self.tmp, "rsyslog"), self.prefix)
        try:
            self.start_daemon("file", "file: " + logf)
            try:
                return self.rounds("logknockd file", n, 5.0)
            finally:
                self.stop("logknockd-file")
        finally:
            self.stop("rsyslogd")

    def run_journal(self, n):
        self.ruleset("logknock")
        started = start_journald(self, self.tmp)
        self.journald_started = started
        seen = {}	# SPT -> arrival of the line at journalctl's pipe
        pfx = (self.prefix + " ").encode()

        def on_line(ln, t):
            if pfx in ln and b"DPT=%d " % KNOCKS[-1] in ln:
                i = ln.find(b"SPT=")
                if i >= 0:
                    spt = ln[i + 4:].split(b" ", 1)[0]
                    if spt.isdigit():
                        seen.setdefault(int(spt), t)
        try:
            jc = self.spawn("journalctl", ["journalctl", "-f", "-k", "-n", "0", "-o", "cat", "--no-pager"],
                            out="pipe", err=os.path.join(self.tmp, "journalctl.err"))
            LineReader(jc.stdout, on_line).start()
            self.start_daemon("journal", "journal: kernel")
            bare = []
            pending = []

            def on_round(spt, t_last, t_open, warm):
                if not warm:
                    pending.append((spt, t_last, t_open))
            try:
                res, missed = self.rounds("logknockd journal", n, 15.0, on_round)
            finally:
                self.stop("logknockd-journal")
            time.sleep(1.0)
            paired = []	# per round: logknockd's open minus journalctl's arrival
            for spt, t_last, t_open in pending:
                if spt in seen:
                    bare.append(seen[spt] - t_last)
                    if t_open is not None:
                        paired.append(t_open - seen[spt])
            self.stop("journalctl")
            return res, missed, (bare, len(pending) - len(bare), paired)
        finally:
            if started:
                self.stop("journald")


def fmt(ns):
    return "%.2f" % (ns / 1e6)


def main():
    ap = argparse.ArgumentParser(prog=PROG, description="last knock to open port: logknockd (kmsg, rsyslog "
                                 "file, journald) next to knockd and a bare journald reader")
    ap.add_argument("--rounds", type=int, default=30, help="rounds for knockd, kmsg and file (default 30)")
    ap.add_argument("--journal-rounds", type=int, default=15, help="rounds for journald (default 15)")
    ap.add_argument("--warmup", type=int, default=2, help="uncounted rounds first (default 2)")
    ap.add_argument("--contenders", default="knockd,kmsg,forward,dnat,file,journal",
                    help="comma-separated subset of knockd,kmsg,forward,dnat,file,journal")
    ap.add_argument("--client", action="store_true", help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.client:
        return client_main()
    a.logknockd, a.apply = tree_binaries(__file__)
    a.contenders = [c.strip() for c in a.contenders.split(",") if c.strip()]
    for c in a.contenders:
        if c not in ("knockd", "kmsg", "forward", "dnat", "file", "journal"):
            print("%s: unknown contender %r" % (PROG, c), file=sys.stderr)
            return 2

    exit_on_signals(signal.SIGTERM, signal.SIGHUP, signal.SIGINT)

    b = Bench(a)
    cmdline = " ".join(shlex.quote(x) for x in ["bench/knock-to-open"] + sys.argv[1:])
    results = {}
    busy = {}
    started = datetime.datetime.now(datetime.timezone.utc)
    try:
        b.check_tools()
        b.tmp = tempfile.mkdtemp(prefix="logknock-k2o.")
        b.at_exit("temporary directory", lambda: shutil.rmtree(b.tmp))
        copy_binaries(a, b.tmp)
        b.setup_netns()
        b.start_client()
        load0 = open("/proc/loadavg").read().split()[:3]
        for c in a.contenders:
            n = a.journal_rounds if c == "journal" else a.rounds
            log("%s: %d rounds (+%d warm-up)" % (c, n, a.warmup))
            t = time.monotonic()
            c0 = cpu_times()
            results[c] = getattr(b, "run_" + c)(n)
            c1 = cpu_times()
            busy[c] = 100.0 * (1 - (c1[1] - c0[1]) / max(1, c1[0] - c0[0]))
            log("%s: done in %.1f s" % (c, time.monotonic() - t))
        load1 = open("/proc/loadavg").read().split()[:3]
    except Missing as e:
        b.cleanup()
        print("%s: %s" % (PROG, e), file=sys.stderr)
        return 1
    except (RuntimeError, subprocess.SubprocessError, OSError) as e:
        b.cleanup()
        print("%s: %s" % (PROG, e), file=sys.stderr)
        return 1
    except SystemExit:
        b.cleanup()
        raise
    b.cleanup()

    names = {"knockd": "knockd 0.8 (libpcap on the server's veth, nft rule via start_command)",
             "kmsg": "logknockd, `kmsg: true`",
             "forward": "logknockd, `kmsg: true`, forward door (internal host behind the server, nft forward set)",
             "dnat": "logknockd, `kmsg: true`, dnat door (server's tcp/2222 → internal tcp/22, nft map)",
             "file": "logknockd, `file:` (rsyslogd imklog → file)",
             "journal": "logknockd, `journal: kernel` (systemd-journald)"}
    print("# knock-to-open %s UTC; %s" % (started.strftime("%Y-%m-%d %H:%M"), cmdline))
    print("# logknockd: %s; kernel %s; %d CPUs; load average %s before, %s after" % (
        a.logknockd_orig, os.uname().release, os.cpu_count(), " ".join(load0), " ".join(load1)))
    print("# latency: last knock's connect() -> a connect() to tcp/22 completed (attempts every 1 ms); ms;")
    print("# forward, dnat: to 198.51.100.2:22 behind the server, directly or through the server's tcp/2222")
    print("# CPUs busy: all processes on the machine, this harness included, during that contender's rounds")
    print()
    print("| contender | median | p90 | rounds | CPUs busy |")
    print("| --- | --- | --- | --- | --- |")
    med = {}
    for c in a.contenders:
        res, missed = results[c][0], results[c][1]
        n = len(res) + missed
        if not res:
            print("| %s | – | – | 0 of %d | %.0f %% |" % (names[c], n, busy[c]))
            continue
        med[c] = statistics.median(res)
        print("| %s | %s | %s | %d of %d | %.0f %% |" % (names[c], fmt(med[c]), fmt(pct(res, 90)), len(res), n,
                                                       busy[c]))
        if c == "journal":
            bare, bmissed, paired = results[c][2]
            if bare:
                med["bare"] = statistics.median(bare)
                print("| bare sd_journal reader: `journalctl -f -k` line arrival (same rounds) | %s | %s | "
                      "%d of %d | %.0f %% |" % (fmt(med["bare"]), fmt(pct(bare, 90)), len(bare), len(bare) + bmissed,
                                                busy[c]))
    print()
    for c in ("kmsg", "forward", "dnat", "file"):
        if c in med:
            v = "# %s: median below 5 ms: %s" % (c, "yes" if med[c] < 5e6 else "NO")
            if "knockd" in med:
                v += "; below knockd's (%s ms): %s" % (fmt(med["knockd"]), "yes" if med[c] < med["knockd"] else "NO")
            print(v)
    if "journal" in med and "bare" in med:
        d = med["journal"] - med["bare"]
        print("# journal: median %+.2f ms from journalctl's delivery delay: within 5 ms: %s" % (
            d / 1e6, "yes" if abs(d) <= 5e6 else "NO"))
        paired = results["journal"][2][2]
        if paired:
            print("# journal, per round (port open minus journalctl's line): median %+.2f ms, p90 %+.2f ms, "
                  "%d rounds" % (statistics.median(paired) / 1e6, pct(paired, 90) / 1e6, len(paired)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
