#!/usr/bin/env python3
"""bench/flood.d/flood.py -- logknockd and knockd under a spoofed-source SYN
flood, in two network namespaces (run it through bench/flood, as root; see
bench/README.md, section "flood").

Set-up: namespaces SERVER and CLIENT joined by a veth pair (192.0.2.1 /
2001:db8::1 server, 192.0.2.2 / 2001:db8::2 client, static neighbours),
nf_log_all_netns=1 (restored). In SERVER an nftables "admin" ruleset, policy
drop: established accepted; TCP to the knock ports counted, logged with the
prefix (by default through contrib/nftables-knock.nft's per-source meter:
20/s, burst 40, sets of 65536 sources, 1 min timeout) and dropped; tcp/22
accepted (logknock: the applier's guard takes it away from every source
without a grant) or left to a chain knockd fills. A listener on [::]:22.

Contenders, one after the other, each under the same flood:
  logknockd  `kmsg: true`, a 3-step door (window 5s, duration 1s), the nft
             backend started through nsenter --net into SERVER; with
             --doors all also a one_time, a totp and an encrypted door
             (keys made by `logknock keygen`), each opening its own port,
             and the rounds take the four doors in turn (totp and
             encrypted knocked by the `logknock` client).
  knockd     knockd -i VETH in SERVER (pcap), the same sequence, start_command
             (and start_command_6) adding an accept rule for %IP%,
             cmd_timeout 1 and a stop_command flushing it.

During each contender's run: the flood (flood-send, AF_PACKET in CLIENT:
TCP SYNs to the first knock port from random sources in 2001:db8::/32), a
bare /dev/kmsg reader counting records, gaps and "callbacks suppressed"
(flood-send kmsg), and the legitimate client in CLIENT: a round about every
second, alternately from 2001:db8::2 and 192.0.2.2: three SYNs (the
sequence, 10 ms apart), then a connect() to port 22 every 2 ms (up to 3 s);
after an open, attempts every 50 ms until the grant has closed again (up to
4 s), so that every round measures a fresh open.
"""
import argparse, datetime, json, os, random, select, shlex, shutil, signal, socket, statistics
import subprocess, sys, tempfile, threading, time

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from lknet import Cleanups  # noqa: E402  (bench/lknet.py: the undo steps every bench shares)

NSENTER = "/usr/bin/nsenter"
NFT = "/usr/sbin/nft"
S4, C4, S6, C6 = "192.0.2.1", "192.0.2.2", "2001:db8::1", "2001:db8::2"
KNOCKS = [17100, 17200, 17300]
OPEN_PORT = 22
# --doors all: the door kinds, the port each opens, and where they listen.
KINDS_ALL = ["sequence", "one_time", "totp", "encrypted"]
OPEN = {"sequence": OPEN_PORT, "one_time": 2201, "totp": 2202, "encrypted": 2203}
ONCE_FIRST = 17400		# every line of the one_time file starts there: 17400,17401+i,17450+i
TOTP_RANGE = "30000-31999"	# 4 knocks: 2000 * 1999^3 sequences
ENC_BASE = 40000		# 40000-42559
HZ = os.sysconf("SC_CLK_TCK")


# ---- the legitimate client (in CLIENT) -------------------------------------------
def attempt(fam, dst, port, timeout):
    s = socket.socket(fam, socket.SOCK_STREAM)
    s.setblocking(False)
    try:
        try:
            s.connect((dst, port))
            return True
        except BlockingIOError:
            pass
        except OSError:
            return False
        _, w, _ = select.select([], [s], [], timeout)
        return bool(w) and s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR) == 0
    finally:
        s.close()


def client_main():
    """One round per line of standard input, a JSON object: fam (4 or 6), open
    (the port to connect to), and either ports and sport (TCP SYNs 10 ms apart
    from source ports sport, sport + 1, ...) or argv (a command that knocks,
    the server's address appended)."""
    for line in sys.stdin:
        r = json.loads(line)
        fam, src, dst = (socket.AF_INET6, C6, S6) if r["fam"] == 6 else (socket.AF_INET, C4, S4)
        port_open = r["open"]
        try:
            if "argv" in r:
                p = subprocess.run(r["argv"] + [dst], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, timeout=20)
                t_last = time.monotonic_ns()
                if p.returncode != 0:
                    print("error %s: exit %d: %s" % (r["argv"][0], p.returncode,
                                                    p.stderr.decode(errors="replace").strip().replace("\n", " ")),
                          flush=True)
                    continue
            ports, sport0 = r.get("ports", []), r.get("sport", 0)
            for k, port in enumerate(ports):
                s = socket.socket(fam, socket.SOCK_STREAM)
                s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                s.bind((src, sport0 + k))
                s.setblocking(False)
                t_last = time.monotonic_ns()
                try:
                    s.connect((dst, port))
                except BlockingIOError:
                    pass
                s.close()
                if k < len(ports) - 1:
                    time.sleep(0.010)
            t_open = None
            end = t_last + 3_000_000_000
            while time.monotonic_ns() < end:
                if attempt(fam, dst, port_open, 0.002):
                    t_open = time.monotonic_ns()
                    break
            closed = "-"
            if t_open:
                end = time.monotonic() + 4.0
                while time.monotonic() < end:
                    if not attempt(fam, dst, port_open, 0.05):
                        closed = "1"
                        break
                    time.sleep(0.05)
                print("ok %d %d %s" % (t_last, t_open, closed), flush=True)
            else:
                print("timeout %d" % t_last, flush=True)
        except (OSError, subprocess.SubprocessError) as e:
            print("error %s" % e, flush=True)
    return 0


# ---- the harness ----------------------------------------------------------------------
def log(m):
    print("# " + m, file=sys.stderr, flush=True)


def run(argv, ok=(0,), **kw):
    r = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=30, **kw)
    if r.returncode not in ok:
        raise RuntimeError("%s: exit %d: %s" % (" ".join(argv), r.returncode, r.stderr.decode(errors="replace")))
    return r.stdout.decode(errors="replace")


def stat_ticks(pid):
    try:
        f = open("/proc/%d/stat" % pid).read().rsplit(")", 1)[1].split()
        return int(f[11]) + int(f[12])
    except (OSError, IndexError, ValueError):
        return None


def rss_kb(pid):
    try:
        for ln in open("/proc/%d/status" % pid):
            if ln.startswith("VmRSS:"):
                return int(ln.split()[1])
    except OSError:
        pass
    return None


def children(pid):
    out = []
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                if int(open("/proc/%s/stat" % d).read().rsplit(")", 1)[1].split()[1]) == pid:
                    out.append(int(d))
            except (OSError, IndexError, ValueError):
                pass
    return out


def pct(xs, p):
    s = sorted(xs)
    return s[max(0, -(-len(s) * p // 100) - 1)]


class Bench(Cleanups):
    prog = "flood"

    def __init__(self, a):
        super().__init__()
        self.a, self.procs = a, {}
        self.kinds = KINDS_ALL if a.doors == "all" else ["sequence"]
        self.used_steps = {}

    def spawn(self, name, argv, stdin=False, stdout=None, env=None):
        so = subprocess.PIPE if stdout == "pipe" else (open(stdout, "ab") if stdout else subprocess.DEVNULL)
        p = subprocess.Popen(argv, stdin=subprocess.PIPE if stdin else subprocess.DEVNULL, stdout=so,
                             stderr=subprocess.STDOUT if stdout and stdout != "pipe" else subprocess.DEVNULL,
                             env=env, close_fds=True)
        if hasattr(so, "close"):
            so.close()
        self.procs[name] = p
        self.at_exit("stop " + name, lambda: self.stop(name))
        return p

    def stop(self, name, sig=signal.SIGTERM):
        p = self.procs.pop(name, None)
        if p is None:
            return None
        if p.poll() is None:
            try:
                os.kill(p.pid, sig)
            except ProcessLookupError:
                pass
            try:
                p.wait(10)
            except subprocess.TimeoutExpired:
                os.kill(p.pid, signal.SIGKILL)
                p.wait(5)
        return p

    def wait_until(self, cond, timeout, what):
        end = time.monotonic() + timeout
        while not cond():
            if time.monotonic() > end:
                raise RuntimeError("timed out waiting for " + what)
            time.sleep(0.02)

    def setup(self):
        a = self.a
        self.tmp = tempfile.mkdtemp(prefix="logknock-flood.")
        self.at_exit("tmp", lambda: shutil.rmtree(self.tmp))
        for src, base in ((a.logknockd, "logknockd"), (a.apply, "logknock-apply"), (a.logknock, "logknock")):
            shutil.copy2(src, os.path.join(self.tmp, base))
        a.logknockd, a.apply = os.path.join(self.tmp, "logknockd"), os.path.join(self.tmp, "logknock-apply")
        a.logknock = os.path.join(self.tmp, "logknock")
        if a.doors == "all":
            self.key = os.path.join(self.tmp, "door.key")
            run([a.logknock, "keygen", self.key])
            self.once = os.path.join(self.tmp, "once")
            fd = os.open(self.once, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            os.write(fd, "".join(" %d,%d,%d\n" % (ONCE_FIRST, ONCE_FIRST + 1 + i, ONCE_FIRST + 50 + i)
                                 for i in range(40)).encode())
            os.close(fd)
        self.sender = os.path.join(self.tmp, "flood-send")
        run([a.cc, "-O2", "-o", self.sender, os.path.join(os.path.dirname(os.path.abspath(__file__)), "flood-send.c")])
        rid = "%04x%04x" % (os.getpid() & 0xffff, random.getrandbits(16))
        self.ns_s, self.ns_c = "lkf%ss" % rid, "lkf%sc" % rid
        self.veth_s, self.veth_c = "lkf%sa" % rid, "lkf%sb" % rid
        for ns in (self.ns_s, self.ns_c):
            run(["ip", "netns", "add", ns])
            self.at_exit("netns " + ns, lambda ns=ns: run(["ip", "netns", "del", ns]))
        run(["ip", "link", "add", self.veth_s, "netns", self.ns_s, "type", "veth", "peer", "name", self.veth_c,
             "netns", self.ns_c])
        for argv in (["-n", self.ns_s, "link", "set", "lo", "up"], ["-n", self.ns_c, "link", "set", "lo", "up"],
                     ["-n", self.ns_s, "addr", "add", S4 + "/24", "dev", self.veth_s],
                     ["-n", self.ns_c, "addr", "add", C4 + "/24", "dev", self.veth_c],
                     ["-n", self.ns_s, "addr", "add", S6 + "/64", "dev", self.veth_s, "nodad"],
                     ["-n", self.ns_c, "addr", "add", C6 + "/64", "dev", self.veth_c, "nodad"],
                     ["-n", self.ns_s, "link", "set", self.veth_s, "up"],
                     ["-n", self.ns_c, "link", "set", self.veth_c, "up"]):
            run(["ip"] + argv)
        mac = lambda ns, dev: run(["ip", "-n", ns, "-o", "link", "show", dev]).split("link/ether ")[1].split()[0]
        self.mac_s, self.mac_c = mac(self.ns_s, self.veth_s), mac(self.ns_c, self.veth_c)
        for ns, dev, addr, m in ((self.ns_c, self.veth_c, S4, self.mac_s), (self.ns_c, self.veth_c, S6, self.mac_s),
                                 (self.ns_s, self.veth_s, C4, self.mac_c), (self.ns_s, self.veth_s, C6, self.mac_c)):
            run(["ip", "-n", ns, "neigh", "replace", addr, "lladdr", m, "dev", dev, "nud", "permanent"])
        old = open("/proc/sys/net/netfilter/nf_log_all_netns").read().strip()
        if old != "1":
            run(["sysctl", "-q", "-w", "net.netfilter.nf_log_all_netns=1"])
            self.at_exit("sysctl", lambda: run(["sysctl", "-q", "-w", "net.netfilter.nf_log_all_netns=" + old]))
        lst = os.path.join(self.tmp, "listener.py")
        open(lst, "w").write(
            "import select, socket, sys\nss = []\nfor p in sys.argv[2].split(','):\n"
            "    s = socket.socket(socket.AF_INET6); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)\n"
            "    s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)\n    s.bind(('::', int(p))); s.listen(1024)\n"
            "    ss.append(s)\nopen(sys.argv[1], 'w').write('ready')\nwhile True:\n"
            "    for s in select.select(ss, [], [])[0]:\n        s.accept()[0].close()\n")
        ready = os.path.join(self.tmp, "listener.ready")
        p = self.spawn("listener", ["ip", "netns", "exec", self.ns_s, sys.executable, lst, ready,
                                    ",".join(str(OPEN[k]) for k in self.kinds)])
        self.wait_until(lambda: os.path.exists(ready) or p.poll() is not None, 10, "the listener")
        self.client = self.spawn("client", ["ip", "netns", "exec", self.ns_c, sys.executable, "-u",
                                            os.path.abspath(__file__), "--client"], stdin=True, stdout="pipe")
        self.sport = 20000

    def ruleset(self, mode):
        a = self.a
        knocks = ", ".join(str(p) for p in KNOCKS)
        if a.doors == "all":
            knocks += ", %d-%d, %s, %d-%d" % (ONCE_FIRST, ONCE_FIRST + 99, TOTP_RANGE, ENC_BASE, ENC_BASE + 2559)
        opened = ", ".join(str(OPEN[k]) for k in self.kinds)
        if a.meter:
            logr = ("  tcp dport { %s } update @knocklog4 { ip saddr limit rate 20/second burst 40 packets } counter log prefix \"%s\"\n"
                    "  tcp dport { %s } update @knocklog6 { ip6 saddr limit rate 20/second burst 40 packets } counter log prefix \"%s\"\n"
                    % (knocks, a.prefix, knocks, a.prefix))
        else:
            logr = "  tcp dport { %s } counter log prefix \"%s\"\n" % (knocks, a.prefix)
        rules = ("table inet admin {\n"
                 " set knocklog4 { type ipv4_addr; size 65536; flags dynamic, timeout; timeout 1m; }\n"
                 " set knocklog6 { type ipv6_addr; size 65536; flags dynamic, timeout; timeout 1m; }\n"
                 " chain knockd {\n }\n"
                 " chain input {\n  type filter hook input priority filter; policy drop;\n"
                 "  ct state established,related accept\n  ct state invalid drop\n  iif lo accept\n"
                 "  meta l4proto { icmp, ipv6-icmp } accept\n"
                 "  tcp dport { %s } counter\n%s  tcp dport { %s } drop\n  %s\n }\n}\n"
                 % (knocks, logr, knocks, "jump knockd" if mode == "knockd" else "tcp dport { %s } accept" % opened))
        in_s = ["ip", "netns", "exec", self.ns_s]
        run(in_s + [NFT, "flush", "ruleset"])
        run(in_s + [NFT, "-f", "-"], input=rules.encode())

    def counters(self):
        """packets counted arriving at the knock ports, and logged."""
        out = run(["ip", "netns", "exec", self.ns_s, NFT, "list", "chain", "inet", "admin", "input"])
        arrived = logged = 0
        for ln in out.splitlines():
            if "counter packets" not in ln:
                continue
            n = int(ln.split("counter packets ")[1].split()[0])
            if " log prefix" in ln:
                logged += n
            else:
                arrived += n
        return arrived, logged

    def once_line(self):
        """the ports of the one_time file's first unused line (the daemon marks a used one with #)."""
        for ln in open(self.once):
            if ln.strip() and not ln.startswith("#"):
                return [int(x) for x in ln.split(",")]
        raise RuntimeError("the one_time file is used up")

    def round(self, kind, fam):
        a = self.a
        self.sport = 20000 if self.sport > 60000 else self.sport + 3
        r = {"fam": fam, "open": OPEN[kind]}
        if kind == "sequence":
            r.update(ports=KNOCKS, sport=self.sport)
        elif kind == "one_time":
            r.update(ports=self.once_line(), sport=self.sport)
        else:
            # a code opens once per time step (30 s) and address: a step of the
            # tolerance (one either way) this family has not used yet
            now = int(time.time())
            used = self.used_steps.setdefault((kind, fam), set())
            t = next((now + d for d in (0, 30, -30) if (now + d) // 30 not in used), now)
            used.add(t // 30)
            if kind == "totp":
                r["argv"] = [a.logknock, "--totp", self.key, "--door", "totp", "--range", TOTP_RANGE]
            else:
                r["argv"] = [a.logknock, "--encrypted", self.key, "--door", "enc", "--base", str(ENC_BASE),
                             "--request", "tcp/%d" % OPEN[kind]]
            r["argv"] += ["--time", str(t)]
        self.client.stdin.write((json.dumps(r) + "\n").encode())
        self.client.stdin.flush()
        r, _, _ = select.select([self.client.stdout], [], [], 25)
        if not r:
            raise RuntimeError("the legitimate client did not answer")
        f = self.client.stdout.readline().decode().split()
        if not f or f[0] == "error":
            raise RuntimeError("client: %s" % " ".join(f))
        return (int(f[2]) - int(f[1])) if f[0] == "ok" else None

    def run_contender(self, name, pids_fn):
        """The flood, the bare kmsg reader and the legitimate rounds; PIDS_FN() names the processes to measure."""
        a = self.a
        kw = self.spawn("kmsgwatch-" + name, [self.sender, "kmsg", a.prefix.strip()], stdout="pipe")
        if kw.stdout.readline().strip() != b"ready":
            raise RuntimeError("the kmsg reader did not start")
        time.sleep(1.0)
        c0 = self.counters()
        pids = pids_fn()
        t0 = {p: stat_ticks(p) for p in pids}
        rss = {p: 0 for p in pids}
        w0 = time.monotonic()
        fl = self.spawn("flood-" + name, ["ip", "netns", "exec", self.ns_c, self.sender, "send", self.veth_c,
                                          self.mac_s, self.mac_c, S6, a.flood_ports, str(a.rate), str(a.seconds),
                                          str(a.per_source)],
                        stdout=os.path.join(self.tmp, "flood-%s.out" % name))
        stop_rss = threading.Event()

        def sample():
            while not stop_rss.is_set():
                for p in list(rss):
                    v = rss_kb(p)
                    if v and v > rss[p]:
                        rss[p] = v
                stop_rss.wait(0.25)
        th = threading.Thread(target=sample, daemon=True)
        th.start()
        time.sleep(0.5)
        res = {4: [], 6: []}
        miss = {4: 0, 6: 0}
        kinds = self.kinds if name == "logknockd" else ["sequence"]
        per_kind = {k: [0, 0] for k in kinds}	# opened, rounds
        n = 0
        while fl.poll() is None:
            # every kind in turn; the family alternates with each round (with
            # an even number of kinds, with each pass over them)
            kind = kinds[n % len(kinds)]
            fam = 6 if (n // (len(kinds) if len(kinds) % 2 == 0 else 1)) % 2 == 0 else 4
            n += 1
            lat = self.round(kind, fam)
            per_kind[kind][1] += 1
            if lat is None:
                miss[fam] += 1
            else:
                res[fam].append(lat)
                per_kind[kind][0] += 1
            time.sleep(random.uniform(0.0, 0.1))
        w1 = time.monotonic()
        t1 = {p: stat_ticks(p) for p in pids}
        stop_rss.set()
        th.join()
        time.sleep(1.0)
        c1 = self.counters()
        self.stop("flood-" + name)
        p = self.stop("kmsgwatch-" + name)
        kmsg = p.stdout.read().decode().split() if p else []
        kmsg = dict(zip(kmsg[0::2], kmsg[1::2])) if kmsg and kmsg[0] == "records" else {}
        sent = open(os.path.join(self.tmp, "flood-%s.out" % name)).read().strip()
        cpu = {p: (100.0 * (t1[p] - t0[p]) / HZ / (w1 - w0)) if t0[p] is not None and t1[p] is not None else None
               for p in pids}
        return dict(res=res, miss=miss, cpu=cpu, rss=rss, kmsg=kmsg, sent=sent, wall=w1 - w0,
                    arrived=c1[0] - c0[0], logged=c1[1] - c0[1], per_kind=per_kind)

    def state_dir(self):
        """A fresh state directory under --state-dir (default: the run's temporary directory)."""
        parent = self.a.state_dir or self.tmp
        d = tempfile.mkdtemp(prefix="logknock-flood-state.", dir=parent)
        self.at_exit("state " + d, lambda: shutil.rmtree(d, ignore_errors=True))
        return d

    def run_logknockd(self):
        a = self.a
        self.ruleset("logknock")
        conf = os.path.join(self.tmp, "logknockd.yaml")
        open(conf, "w").write(
            # nf_log_all_netns=1 (set above) lets our namespaces log: accepted
            "accept_nf_log_all_netns: true\n"
            "sources:\n  - kmsg: true\nprefix: \"%s\"\nstate_dir: %s\nmax_sources: %d\n"
            "applier:\n  backend: nft\n  program: %s\n  command: [%s, --net=/run/netns/%s]\n"
            "doors:\n  - name: flood\n    sequence: [%s]\n    window: 5s\n    open: [tcp/%d]\n    duration: 1s\n"
            % (a.prefix, self.state_dir(), a.max_sources, a.apply, NSENTER, self.ns_s,
               ", ".join("tcp/%d" % p for p in KNOCKS), OPEN_PORT))
        if a.doors == "all":
            open(conf, "a").write(
                "  - name: once\n    one_time: %s\n    window: 5s\n    open: [tcp/%d]\n    duration: 1s\n"
                "  - name: totp\n    totp: {key: %s, range: %s}\n    window: 5s\n    open: [tcp/%d]\n    duration: 1s\n"
                "  - name: enc\n    encrypted: {key: %s, base: %d}\n    window: 5s\n    open: [tcp/%d]\n"
                "    duration: 1s\n"
                % (self.once, OPEN["one_time"], self.key, TOTP_RANGE, OPEN["totp"], self.key, ENC_BASE,
                   OPEN["encrypted"]))
        nsock_path = os.path.join(self.tmp, "notify.sock")
        nsock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        nsock.bind(nsock_path)
        self.at_exit("notify socket", nsock.close)
        env = dict(os.environ, NOTIFY_SOCKET=nsock_path)
        err = os.path.join(self.tmp, "logknockd.err")
        p = self.spawn("logknockd", [a.logknockd, "-c", conf], stdout=err, env=env)
        self.wait_until(lambda: "following 1 sources" in open(err).read() or p.poll() is not None, 10, "logknockd")
        if p.poll() is not None:
            raise RuntimeError("logknockd exited: " + open(err).read())

        def pids():
            keeper = children(p.pid)
            return [p.pid] + keeper + [w for k in keeper for w in children(k)]
        self.wait_until(lambda: len(pids()) >= 3, 10, "the applier's keeper and worker")
        status = []	# (arrival, STATUS text): the daemon announces its counts every 5 s
        done = threading.Event()

        def drain():
            nsock.settimeout(0.2)
            while not done.is_set():
                try:
                    m = nsock.recv(4096).decode(errors="replace")
                except socket.timeout:
                    continue
                except OSError:
                    return
                for ln in m.splitlines():
                    if ln.startswith("STATUS="):
                        status.append((time.monotonic(), ln[7:]))
        th = threading.Thread(target=drain, daemon=True)
        th.start()
        r = self.run_contender("logknockd", pids)
        t_end = time.monotonic()
        self.wait_until(lambda: any(t > t_end + 0.5 for t, _ in status) or p.poll() is not None, 8,
                        "logknockd's next STATUS")
        done.set()
        th.join()
        alive = p.poll() is None
        self.stop("logknockd")
        text = open(err).read()
        r["status"] = [st for _, st in status]
        r["fs"] = fstype(self.a.state_dir or self.tmp)
        r["opened"] = text.count(": opened ")
        r["lost_lines"] = [ln for ln in text.splitlines() if "lost" in ln or "overr" in ln][:5]
        # records the daemon says the kernel overwrote before it read them
        r["daemon_lost"] = sum(lost_in(ln) for ln in text.splitlines() if "overran:" in ln and " records lost" in ln)
        r["daemon_lost_unknown"] = sum(1 for ln in text.splitlines() if "overran: records lost" in ln)
        # a daemon that counts them says the total in its STATUS
        st = [x for x in r.get("status", []) if " records lost" in x]
        if st:
            r["daemon_lost"] = int(st[-1].split(" records lost")[0].rsplit(" ", 1)[1])
            r["daemon_lost_unknown"] = 0
        r["warnings"] = [ln for ln in text.splitlines() if "warning" in ln or "error" in ln][:8]
        r["alive"] = alive
        r["names"] = {p.pid: "logknockd"}
        return r

    def run_knockd(self):
        self.ruleset("knockd")
        conf = os.path.join(self.tmp, "knockd.conf")
        logf = os.path.join(self.tmp, "knockd.log")
        seq = ",".join("%d:tcp" % k for k in KNOCKS)
        open(conf, "w").write(
            "[options]\n  LogFile = %s\n  Interface = %s\n[open]\n  sequence = %s\n  seq_timeout = 5\n"
            "  tcpflags = syn\n"
            "  start_command = %s add rule inet admin knockd ip saddr %%IP%% tcp dport %d accept\n"
            "  start_command_6 = %s add rule inet admin knockd ip6 saddr %%IP%% tcp dport %d accept\n"
            "  cmd_timeout = 1\n  stop_command = %s flush chain inet admin knockd\n"
            "  stop_command_6 = %s flush chain inet admin knockd\n"
            % (logf, self.veth_s, seq, NFT, OPEN_PORT, NFT, OPEN_PORT, NFT, NFT))
        out = os.path.join(self.tmp, "knockd.out")
        p = self.spawn("knockd", ["ip", "netns", "exec", self.ns_s, "knockd", "-c", conf, "-i", self.veth_s],
                       stdout=out)
        self.wait_until(lambda: (os.path.exists(logf) and "listening" in open(logf).read()) or p.poll() is not None,
                        10, "knockd")
        if p.poll() is not None:
            raise RuntimeError("knockd exited: " + open(out).read())
        r = self.run_contender("knockd", lambda: [p.pid])
        r["alive"] = p.poll() is None
        self.stop("knockd")
        r["opened"] = open(logf).read().count("OPEN SESAME")
        return r


def lost_in(line):
    """N of a warning "... overran: N [more ]records lost ..."."""
    words = line.split(" records lost")[0].split()
    words = words[:-1] if words and words[-1] == "more" else words
    try:
        return int(words[-1])
    except (ValueError, IndexError):
        return 0


def fstype(path):
    """The file system type of PATH, from /proc/self/mounts (the longest mount point above it)."""
    path, best, kind = os.path.realpath(path), "", "?"
    for ln in open("/proc/self/mounts"):
        f = ln.split()
        mp = f[1].replace("\\040", " ")
        if (path == mp or path.startswith(mp.rstrip("/") + "/")) and len(mp) >= len(best):
            best, kind = mp, f[2]
    return "%s (%s)" % (kind, best)


def fmt_ms(ns):
    return "%.1f" % (ns / 1e6)


def main():
    ap = argparse.ArgumentParser(prog="flood")
    ap.add_argument("--rate", type=int, default=20000, help="spoofed SYNs a second (default 20000; at most 200000)")
    ap.add_argument("--seconds", type=float, default=20.0, help="flood duration per contender (default 20; at most 120)")
    ap.add_argument("--no-meter", dest="meter", action="store_false",
                    help="log every knock packet (no per-source meter of contrib/nftables-knock.nft)")
    ap.add_argument("--prefix", default="KNOCK ", help='log prefix (default "KNOCK ")')
    ap.add_argument("--max-sources", type=int, default=65536, help="logknockd's max_sources (default 65536)")
    ap.add_argument("--contenders", default="logknockd,knockd")
    ap.add_argument("--doors", choices=("sequence", "all"), default="sequence",
                    help="all: logknockd also gets a one_time, a totp and an encrypted door, knocked in turn "
                         "(logknockd only)")
    ap.add_argument("--flood-ports", help="ports the flood aims at: N or LO-HI, comma-separated; each source "
                    "picks one (default: the first knock port; with --doors all the encrypted door's 2560 ports)")
    ap.add_argument("--per-source", type=int, help="SYNs each spoofed source sends in a row (1 to 16; "
                    "default 1, with --doors all 2)")
    ap.add_argument("--state-dir", help="directory in which logknockd's state directory is made (default: the "
                    "run's temporary directory); put it on the file system under test, not a tmpfs")
    ap.add_argument("--client", action="store_true", help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.client:
        return client_main()
    if not (1 <= a.rate <= 200000 and 0 < a.seconds <= 120):
        print("flood: --rate 1..200000, --seconds up to 120", file=sys.stderr)
        return 2
    if a.doors == "all" and a.contenders != "logknockd":
        print("flood: --doors all is for --contenders logknockd (knockd has no such doors)", file=sys.stderr)
        return 2
    if a.flood_ports is None:
        a.flood_ports = "%d-%d" % (ENC_BASE, ENC_BASE + 2559) if a.doors == "all" else str(KNOCKS[0])
    if a.per_source is None:
        a.per_source = 2 if a.doors == "all" else 1
    if not 1 <= a.per_source <= 16:
        print("flood: --per-source 1..16", file=sys.stderr)
        return 2
    top = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    a.logknockd = os.path.abspath(os.environ.get("LOGKNOCKD") or os.path.join(top, "src", "logknockd"))
    a.apply = os.path.abspath(os.environ.get("LOGKNOCK_APPLY") or os.path.join(top, "src", "logknock-apply"))
    a.logknock = os.path.abspath(os.environ.get("LOGKNOCK") or os.path.join(top, "src", "logknock"))
    a.cc = os.environ.get("CC") or shutil.which("cc") or "cc"
    missing = [x for x in ("ip", "nft", "knockd", "sysctl") if not shutil.which(x)]
    missing += [x for x in (a.logknockd, a.apply, a.logknock, NSENTER) if not os.access(x, os.X_OK)]
    if os.geteuid() != 0:
        missing.append("root")
    if missing:
        print("flood: missing: " + ", ".join(missing), file=sys.stderr)
        return 1

    def on_signal(sig, frame):
        raise SystemExit(128 + sig)
    for sig in (signal.SIGTERM, signal.SIGHUP, signal.SIGINT):
        signal.signal(sig, on_signal)
    b = Bench(a)
    started = datetime.datetime.now(datetime.timezone.utc)
    cmdline = " ".join(shlex.quote(x) for x in ["bench/flood"] + sys.argv[1:])
    results = {}
    try:
        b.setup()
        load0 = open("/proc/loadavg").read().split()[:3]
        for c in a.contenders.split(","):
            log("%s: %d SYN/s for %g s" % (c, a.rate, a.seconds))
            results[c] = getattr(b, "run_" + c)()
            time.sleep(2)
        load1 = open("/proc/loadavg").read().split()[:3]
    except (RuntimeError, OSError, subprocess.SubprocessError) as e:
        b.cleanup()
        print("flood: %s" % e, file=sys.stderr)
        return 1
    except BaseException:	# a bug in the harness too: nothing of the set-up may stay behind
        b.cleanup()
        raise
    b.cleanup()

    print("# flood %s UTC; %s" % (started.strftime("%Y-%m-%d %H:%M"), cmdline))
    print("# %s; kernel %s; %d CPUs; load average %s before, %s after; log rule: %s" % (
        a.logknockd, os.uname().release, os.cpu_count(), " ".join(load0), " ".join(load1),
        "per-source meter (contrib/nftables-knock.nft)" if a.meter else "every packet"))
    print()
    print("| contender | legitimate knocks opened (IPv6 / IPv4) | knock-to-open median / p90 ms | CPU % of a core | max VmRSS | flood sent | knock packets arrived / logged (nft) | bare kmsg reader: records with the prefix / lost (seq gaps) / callbacks suppressed |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- |")
    for c, r in results.items():
        allr = r["res"][4] + r["res"][6]
        n6, n4 = len(r["res"][6]) + r["miss"][6], len(r["res"][4]) + r["miss"][4]
        lat = "%s / %s" % (fmt_ms(statistics.median(allr)), fmt_ms(pct(allr, 90))) if allr else "–"
        cpu = " + ".join("%.1f" % v for v in r["cpu"].values() if v is not None)
        rss = " + ".join("%.1f MB" % (v / 1024) for v in r["rss"].values())
        k = r["kmsg"]
        print("| %s | %d of %d (%d/%d, %d/%d) | %s | %s | %s | %s | %d / %d | %s / %s / %s |" % (
            c, len(allr), n4 + n6, len(r["res"][6]), n6, len(r["res"][4]), n4, lat, cpu, rss, r["sent"],
            r["arrived"], r["logged"], k.get("ours", "?"), k.get("lost", "?"), k.get("suppressed", "?")))
    print()
    for c, r in results.items():
        print("# %s: alive at the end: %s; grants opened (its own log): %d; CPU per process: %s" % (
            c, r["alive"], r["opened"], ", ".join("pid %d %.1f %%" % (p, v) for p, v in r["cpu"].items() if v is not None)))
        if c == "logknockd":
            print("# logknockd STATUS every 5 s: %s" % " | ".join(x.split(": ", 1)[-1] for x in r["status"]))
            print("# logknockd rounds opened: %s" % " ".join("%s %d/%d" % (k, v[0], v[1])
                                                           for k, v in r["per_kind"].items()))
            # what the kernel delivered against what the daemon read: the knocks
            # of its last STATUS (after the flood) and the packets the log rule
            # logged; a bare reader's gaps are its own lag, shown for reference
            st = r["status"][-1] if r["status"] else ""
            knocks = int(st.split(" knocks")[0].rsplit(" ", 1)[1]) if " knocks" in st else -1
            print("# state directory on %s" % r["fs"])
            print("# records: logged (nft) %d, read by logknockd %d, its overruns %d records (+%d of unknown size);"
                  " bare kmsg reader lost %s" % (r["logged"], knocks, r["daemon_lost"], r["daemon_lost_unknown"],
                                                 r["kmsg"].get("lost", "?")))
            for ln in r["lost_lines"] + r["warnings"]:
                print("# logknockd: %s" % ln)
    return 0


if __name__ == "__main__":
    sys.exit(main())
