"""bench/lknet.py -- what bench/follow-latency.py and bench/knock-to-open.py
share: two network namespaces joined by a veth pair with nf_log_all_netns=1,
the helper started in the client namespace, our own rsyslogd (imklog -> a
file) and systemd-journald when none runs, and cleanup in reverse order.

A harness using it has at_exit(what, fn) (from Cleanups), spawn(name, argv,
stdin=False, out=None, err=None) and wait_until(cond, timeout, what).
"""
import fcntl
import math
import os
import random
import shutil
import signal
import subprocess
import sys

JOURNALD = "/lib/systemd/systemd-journald"
JSOCK = "/run/systemd/journal/socket"
SERVER4, CLIENT4 = "192.0.2.1", "192.0.2.2"


def kernel_log_lock():
    """Holds the lock t/netns.sh's tests share (kernel_log_lock) alone, until
    this process exits: a benchmark floods the kernel's log and may start
    and stop systemd-journald, which would pull it away from a test running
    at the same time (and the test's journald from under the benchmark)."""
    if os.environ.get("LOGKNOCK_KERNEL_LOG_LOCK") == "-x":
        return None	# a test (t/flood.sh) holds it alone for us
    path = os.path.join(os.environ.get("TMPDIR", "/tmp"), "logknock-kernel-log.lock")
    f = open(path, "a")
    try:
        fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        log("waiting for the kernel-log lock (%s): a test or another benchmark holds it" % path)
        fcntl.flock(f, fcntl.LOCK_EX)
    return f


class Missing(Exception):
    """A tool or a permission the benchmark needs is not there."""


def log(msg):
    """A progress line on stderr, as a comment."""
    print("# " + msg, file=sys.stderr, flush=True)


def run(argv, ok_codes=(0,), timeout=30, **kw):
    """Runs ARGV to its end; its stdout, or RuntimeError with its stderr."""
    r = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=timeout, **kw)
    if r.returncode not in ok_codes:
        raise RuntimeError("%s: exit %d: %s" % (" ".join(argv), r.returncode,
                                                 r.stderr.decode(errors="replace").strip()))
    return r.stdout.decode(errors="replace")


def procs_named(comm):
    """PIDs of the live (not zombie) processes called COMM."""
    out = []
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            c = open("/proc/%s/comm" % d).read().strip()
            st = open("/proc/%s/stat" % d).read().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if c == comm and st not in ("Z", "X"):
            out.append(int(d))
    return out


def kmsg_proc_readers():
    """Other processes holding /proc/kmsg open ("comm (pid N)"): imklog would lose lines to them."""
    out = []
    for d in os.listdir("/proc"):
        if not d.isdigit() or int(d) == os.getpid():
            continue
        try:
            for fd in os.listdir("/proc/%s/fd" % d):
                if os.readlink("/proc/%s/fd/%s" % (d, fd)) == "/proc/kmsg":
                    out.append("%s (pid %s)" % (open("/proc/%s/comm" % d).read().strip(), d))
                    break
        except OSError:
            continue
    return out


def sock_id(path):
    """Inode and ctime of PATH (a socket bound anew differs), None when absent."""
    try:
        st = os.stat(path)
        return (st.st_ino, st.st_ctime_ns)
    except OSError:
        return None


def pct(xs, p):
    """The P-th percentile of XS (nearest rank)."""
    s = sorted(xs)
    return s[max(0, math.ceil(p / 100 * len(s)) - 1)]


def cpu_times():
    """(all, idle) jiffies of the machine, from /proc/stat."""
    v = [int(x) for x in open("/proc/stat").readline().split()[1:]]
    return sum(v[:8]), v[3] + v[4]


def stop_popen(p, sig=signal.SIGTERM, wait=5.0):
    """Stops exactly the process P (by its PID): SIG, WAIT s, then SIGKILL; closes its pipes; its exit status."""
    if p.poll() is None:
        try:
            os.kill(p.pid, sig)
        except ProcessLookupError:
            pass
        try:
            p.wait(wait)
        except subprocess.TimeoutExpired:
            os.kill(p.pid, signal.SIGKILL)
            p.wait(5)
    for f in (p.stdin, p.stdout, p.stderr):
        if f:
            try:
                f.close()
            except OSError:
                pass
    return p.returncode


class Cleanups:
    """Undo steps registered with at_exit, run in reverse order by cleanup()."""

    prog = "bench"

    def __init__(self):
        self.cleanups = []	# (description, fn)
        self.lock = kernel_log_lock()

    def at_exit(self, what, fn):
        """Registers FN (described as WHAT) to run at cleanup."""
        self.cleanups.append((what, fn))

    def cleanup(self):
        """Runs every registered step, newest first, going on past failures."""
        while self.cleanups:
            what, fn = self.cleanups.pop()
            try:
                fn()
            except Exception as e:	# keep cleaning up
                print("%s: cleanup (%s): %s" % (self.prog, what, e), file=sys.stderr)


class NetNS:
    """Server and client namespaces joined by a veth pair (SERVER4 <-> CLIENT4),
    static neighbour entries, nf_log_all_netns=1; all undone through AT_EXIT.
    Names carry TAG, the PID and a random part: rid, ns_s, ns_c, veth_s, veth_c."""

    def __init__(self, tag, at_exit):
        self.rid = "%04x%04x" % (os.getpid() & 0xffff, random.getrandbits(16))
        self.ns_s, self.ns_c = "%s%ss" % (tag, self.rid), "%s%sc" % (tag, self.rid)
        self.veth_s, self.veth_c = "%s%sa" % (tag, self.rid), "%s%sb" % (tag, self.rid)	# 3 + 8 + 1 < IFNAMSIZ
        for ns in (self.ns_s, self.ns_c):
            run(["ip", "netns", "add", ns])
            at_exit("netns " + ns, lambda ns=ns: run(["ip", "netns", "del", ns]))
        run(["ip", "link", "add", self.veth_s, "netns", self.ns_s, "type", "veth",
             "peer", "name", self.veth_c, "netns", self.ns_c])
        for argv in (["-n", self.ns_s, "link", "set", "lo", "up"],
                     ["-n", self.ns_c, "link", "set", "lo", "up"],
                     ["-n", self.ns_s, "addr", "add", SERVER4 + "/24", "dev", self.veth_s],
                     ["-n", self.ns_c, "addr", "add", CLIENT4 + "/24", "dev", self.veth_c],
                     ["-n", self.ns_s, "link", "set", self.veth_s, "up"],
                     ["-n", self.ns_c, "link", "set", self.veth_c, "up"]):
            run(["ip"] + argv)
        # No neighbour resolution inside a timed round.
        mac_s = self.mac(self.ns_s, self.veth_s)
        mac_c = self.mac(self.ns_c, self.veth_c)
        run(["ip", "-n", self.ns_c, "neigh", "replace", SERVER4, "lladdr", mac_s, "dev", self.veth_c,
             "nud", "permanent"])
        run(["ip", "-n", self.ns_s, "neigh", "replace", CLIENT4, "lladdr", mac_c, "dev", self.veth_s,
             "nud", "permanent"])
        # Without it the kernel logs no packet of a namespace but the first.
        old = open("/proc/sys/net/netfilter/nf_log_all_netns").read().strip()
        if old != "1":
            run(["sysctl", "-q", "-w", "net.netfilter.nf_log_all_netns=1"])
            at_exit("sysctl", lambda: run(["sysctl", "-q", "-w", "net.netfilter.nf_log_all_netns=" + old]))

    @staticmethod
    def mac(ns, dev):
        """The link-layer address of DEV in namespace NS."""
        return run(["ip", "-n", ns, "-o", "link", "show", dev]).split("link/ether ")[1].split()[0]

    def in_server(self, argv):
        """ARGV to run in the server namespace."""
        return ["ip", "netns", "exec", self.ns_s] + list(argv)

    def in_client(self, argv):
        """ARGV to run in the client namespace."""
        return ["ip", "netns", "exec", self.ns_c] + list(argv)

    def helper(self, script, mode):
        """ARGV of SCRIPT's internal MODE (the sender, the client) in the client namespace, unbuffered."""
        return self.in_client([sys.executable, "-u", os.path.abspath(script), mode])


def start_rsyslogd(h, d, prefix):
    """Our own rsyslogd (imklog only) writing kernel lines that contain PREFIX + " " to DIR/kern-knock.log;
    started through harness H under the name "rsyslogd" (stop it with H); returns that file."""
    os.mkdir(d)
    logf = os.path.join(d, "kern-knock.log")
    open(logf, "w").close()
    conf = os.path.join(d, "rsyslog.conf")
    pidfile = os.path.join(d, "rsyslogd.pid")
    out = os.path.join(d, "rsyslogd.out")
    with open(conf, "w") as f:
        f.write('$WorkDirectory %s\n'
                'module(load="imklog")\n'
                ':msg, contains, "%s " action(type="omfile" file="%s" template="RSYSLOG_FileFormat")\n'
                '& stop\n' % (d, prefix, logf))
    r = subprocess.run(["rsyslogd", "-N1", "-f", conf], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                       timeout=20)
    if r.returncode != 0:
        raise RuntimeError("rsyslogd -N1 -f %s: %s" % (conf, r.stdout.decode(errors="replace").strip()))
    p = h.spawn("rsyslogd", ["rsyslogd", "-n", "-f", conf, "-i", pidfile], out=out, err=out)
    h.wait_until(lambda: os.path.exists(pidfile) or p.poll() is not None, 10, "rsyslogd to start")
    if p.poll() is not None:
        raise RuntimeError("rsyslogd exited: %s" % open(out).read().strip())
    return logf


def start_journald(h, tmp):
    """A systemd-journald of our own through harness H (name "journald") when none runs;
    True when it started one (stop it with H), False when another one runs."""
    if os.path.exists(JSOCK) and procs_named("systemd-journal"):
        return False
    old = sock_id(JSOCK)
    out = os.path.join(tmp, "journald.out")
    p = h.spawn("journald", [JOURNALD], out=out, err=out)
    h.wait_until(lambda: sock_id(JSOCK) not in (None, old) or p.poll() is not None, 10,
                 "systemd-journald to bind " + JSOCK)
    if p.poll() is not None:
        raise RuntimeError("systemd-journald exited: %s" % open(out).read().strip())
    return True


def tree_binaries(script):
    """(logknockd, logknock-apply): $LOGKNOCKD and $LOGKNOCK_APPLY, else those in src/ of the tree holding SCRIPT; absolute."""
    top = os.path.dirname(os.path.dirname(os.path.abspath(script)))
    return (os.path.abspath(os.environ.get("LOGKNOCKD") or os.path.join(top, "src", "logknockd")),
            os.path.abspath(os.environ.get("LOGKNOCK_APPLY") or os.path.join(top, "src", "logknock-apply")))


def copy_binaries(a, tmp):
    """Points a.logknockd and a.apply at copies in TMP (a rebuild of the tree during the run must not pull
    them from under the daemon, or mix two builds); the original daemon's path stays in a.logknockd_orig."""
    a.logknockd_orig = a.logknockd
    for attr, base in (("logknockd", "logknockd"), ("apply", "logknock-apply")):
        dst = os.path.join(tmp, base)
        try:
            shutil.copy2(getattr(a, attr), dst)
        except OSError as e:
            raise Missing("cannot copy %s: %s" % (getattr(a, attr), e))
        setattr(a, attr, dst)


def exit_on_signals(*sigs):
    """Makes each of SIGS end the run through SystemExit (128 + signal), so the same clean-up as an error runs."""
    def on_signal(sig, frame):
        raise SystemExit(128 + sig)
    for sig in sigs:
        signal.signal(sig, on_signal)
