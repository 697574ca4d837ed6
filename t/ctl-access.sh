#!/bin/sh
# The control socket as an attacker on the same host meets it: a live daemon
# (log applier, file source) with control.group and control.read_group, and
# clients run for real as `nobody` (setpriv): without a group every command
# is denied, a read_group member may look but not change, a group member
# (primary or supplementary) may change; garbage, a 2000-byte line, a
# sender that stalls and 100 idle connections get an error or a close, and
# the daemon keeps opening doors for real knocks meanwhile. A stale socket
# is replaced; a file or a symbolic link at its path is refused, untouched.
# The metrics file and `metrics` are valid exposition text (a parser of the
# format here: promtool is not packaged for the test machines).
. "${top_srcdir:-$(dirname "$0")/..}/t/lib.sh"
need_binaries
[ "$(id -u)" = 0 ] || skip_all "needs root: clients run as nobody through setpriv"
command -v setpriv >/dev/null || skip_all "setpriv (util-linux) not installed"
# A python3 that nobody can run (a pyenv shim under /root is not one).
PY=
for cand in /usr/bin/python3 /usr/local/bin/python3 "$(command -v python3)"; do
	[ -x "$cand" ] && setpriv --reuid="$(id -u nobody)" --regid="$(id -g nobody)" --clear-groups "$cand" -c pass \
		2>/dev/null && { PY=$cand; break; }
done
[ -n "$PY" ] || skip_all "no python3 that user nobody can run: it is the test's socket client"
# Two groups that exist on every Debian system and that nobody is in.
FULL_GROUP=fax
READ_GROUP=voice
FULL_GID=$(getent group $FULL_GROUP | cut -d: -f3)
READ_GID=$(getent group $READ_GROUP | cut -d: -f3)
[ -n "$FULL_GID" ] && [ -n "$READ_GID" ] || skip_all "groups $FULL_GROUP and $READ_GROUP do not exist here"
NOBODY=$(id -u nobody 2>/dev/null) || skip_all "no user nobody"
NOGROUP=$(id -g nobody)
plan 31

# nobody must reach the socket and the client: a world-traversable directory.
chmod 711 "$TMP"
RUN=$TMP/run
mkdir -m 755 "$RUN"
SOCK=$RUN/control
LOG=$TMP/kern.log
STATE=$TMP/state
: >"$LOG"
mkdir "$STATE" "$TMP/metrics"

cat >"$RUN/client.py" <<'EOF'
# client.py SOCK MODE ARG: the control protocol by hand.
#   req LINE      send LINE + LF, print everything until the daemon closes
#   raw HEX       send these bytes as they are, print the reply
#   long N        a request line of N bytes (with its LF)
#   slow SECONDS  send "text sta" and nothing more; print when the daemon closed and what it said
#   idle N SECONDS  hold N connections that send nothing; print "ready" once they are all
#                 connected, then how many were answered "error failed busy" and "error denied"
import socket, sys, time, os

def conn(path):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.connect(path)
    return s

def read_all(s, limit=10.0):
    s.settimeout(limit)
    out = b""
    try:
        while True:
            d = s.recv(65536)
            if not d:
                break
            out += d
    except (socket.timeout, ConnectionResetError):
        pass
    return out

path, mode = sys.argv[1], sys.argv[2]
if mode == "req":
    s = conn(path)
    s.sendall(sys.argv[3].encode() + b"\n")
    sys.stdout.write(read_all(s).decode(errors="replace"))
elif mode == "raw":
    s = conn(path)
    s.sendall(bytes.fromhex(sys.argv[3]))
    sys.stdout.write(read_all(s).decode(errors="replace"))
elif mode == "long":
    s = conn(path)
    try:
        s.sendall(b"text status" + b"a" * (int(sys.argv[3]) - 12) + b"\n")
    except BrokenPipeError:
        pass
    sys.stdout.write(read_all(s).decode(errors="replace"))
elif mode == "slow":
    s = conn(path)
    s.sendall(b"text sta")
    t0 = time.monotonic()
    out = read_all(s, float(sys.argv[3]) + 5)
    print("closed after %.1f s: %s" % (time.monotonic() - t0, out.decode(errors="replace").strip()))
elif mode == "idle":
    n, secs = int(sys.argv[3]), float(sys.argv[4])
    socks = []
    for i in range(n):
        socks.append(conn(path))
    time.sleep(0.5)
    busy = denied = 0
    for s in socks:
        s.setblocking(False)
        try:
            d = s.recv(4096)
            busy += d.startswith(b"error failed busy")
            denied += d.startswith(b"error denied")
        except BlockingIOError:
            pass
    print("ready", flush=True)
    time.sleep(secs)
    print("busy %d denied %d" % (busy, denied))
EOF
chmod 644 "$RUN/client.py"

cat >"$TMP/conf.yaml" <<EOF
# net.netfilter.nf_log_all_netns is the host's: another test may hold it at 1 meanwhile
accept_nf_log_all_netns: true
sources:
  - file: $LOG
    kernel_only: true
prefix: "KNOCK "
applier:
  backend: log
control:
  socket: $SOCK
  group: $FULL_GROUP
  read_group: $READ_GROUP
metrics:
  file: $TMP/metrics/logknock.prom
  interval: 1s
doors:
  - name: ssh
    sequence: [tcp/7000, tcp/8000, tcp/9000]
    window: 20s
    open: [tcp/22]
    duration: 60s
EOF

knock() { knock_line "$LOG" "$@"; }
# opened SRC: the daemon opened the door for SRC (the log applier says so)
opened() { wait_for "$TMP/d.err" "log: open [0-9]* inet $1 tcp 22" "${2:-5}"; }

PID=
starts=0
start() {
	"$LOGKNOCKD" -v -c "$TMP/conf.yaml" --state-dir "$STATE" >>"$TMP/d.out" 2>>"$TMP/d.err" &
	PID=$!
	starts=$((starts + 1))
	wait_count "$TMP/d.err" "following 1 sources" $starts 5
}
trap 'stop_pid "$PID"; rm -rf "$TMP"' EXIT

# as WHO...: the client as nobody: no groups; read (supplementary read_group);
# full (supplementary group); primary (the group as its primary gid).
as() {
	who=$1
	shift
	case $who in
	root) "$PY" "$RUN/client.py" "$SOCK" "$@" ;;
	none) setpriv --reuid="$NOBODY" --regid="$NOGROUP" --clear-groups "$PY" "$RUN/client.py" "$SOCK" "$@" ;;
	read) setpriv --reuid="$NOBODY" --regid="$NOGROUP" --groups="$READ_GID" "$PY" "$RUN/client.py" "$SOCK" "$@" ;;
	full) setpriv --reuid="$NOBODY" --regid="$NOGROUP" --groups="$FULL_GID" "$PY" "$RUN/client.py" "$SOCK" "$@" ;;
	primary) setpriv --reuid="$NOBODY" --regid="$FULL_GID" --clear-groups "$PY" "$RUN/client.py" "$SOCK" "$@" ;;
	esac
}

start || { diag "$TMP/d.err"; fail "the daemon starts"; done_testing; }
ok "the daemon starts with a control socket"
mode=$(stat -c %a "$SOCK" 2>/dev/null)
check "the socket is mode 666 (access is per connection): $mode" [ "$mode" = 666 ]

knock 192.0.2.10 7000; knock 192.0.2.10 8000; knock 192.0.2.10 9000
opened 192.0.2.10 || diag "$TMP/d.err"

# ---- who may do what ----------------------------------------------------------
bad=
for req in "text status" "json status" "text grants" "json attempts" "text close addr=192.0.2.10" \
	"text open door=ssh addr=192.0.2.99" "text reload" "json watch" "text metrics" "garbage !"; do
	r=$(as none req "$req")
	case $r in "error denied "*) ;; *) bad="$bad [$req: $r]" ;; esac
done
check "nobody without a group: 'error denied' for every command, garbage too${bad:+: $bad}" [ -z "$bad" ]
r=$(as none long 2000)
case $r in "error denied "*) ok "nobody without a group: a 2000-byte line is denied too" ;;
*) fail "nobody without a group, 2000 bytes: $r" ;; esac

r=$(as read req "text status")
case $r in "ok
logknockd "*) ok "read_group member: status" ;; *) fail "read_group member: status: $r" ;; esac
r=$(as read req "json grants")
case $r in *'"src":"192.0.2.10"'*) ok "read_group member: grants lists the open grant" ;;
*) fail "read_group member: grants: $r" ;; esac
r=$(as read req "text metrics")
case $r in *"logknock_opens_total{door=\"ssh\"} 1"*) ok "read_group member: metrics" ;;
*) fail "read_group member: metrics: $(echo "$r" | head -3)" ;; esac
bad=
for req in "text close addr=192.0.2.10" "text open door=ssh addr=192.0.2.99" "text reload"; do
	r=$(as read req "$req")
	case $r in "error denied "*) ;; *) bad="$bad [$req: $r]" ;; esac
done
check "read_group member: close, open and reload denied${bad:+: $bad}" [ -z "$bad" ]
r=$(as root req "json grants")
case $r in *'"src":"192.0.2.10"'*) ok "the read_group member's close changed nothing" ;;
*) fail "grant gone after a denied close: $r" ;; esac

r=$(as full req "text open door=ssh addr=192.0.2.99 for=2m")
case $r in "ok
opened door ssh for 192.0.2.99"*) ok "group member (supplementary): open" ;;
*) fail "group member: open: $r" ;; esac
check "the open by hand went to the applier" opened 192.0.2.99 2
check "... and is logged as made by uid $NOBODY" wait_for "$TMP/d.err" "uid $NOBODY" 2
r=$(as primary req "json close addr=192.0.2.99")
case $r in 'ok
{"closed":1,'*) ok "group as the primary gid: close" ;; *) fail "primary group: close: $r" ;; esac
check "the close went to the applier" wait_for "$TMP/d.err" "log: close [0-9]* inet 192.0.2.99 tcp 22" 2

# ---- malformed and hostile requests ---------------------------------------------
r=$(as root raw "0001ff7465787420737461747573200a")
case $r in "error usage "*) ok "control bytes and non-ASCII: error usage" ;; *) fail "garbage bytes: $r" ;; esac
r=$(as root long 2000)
case $r in "error usage request longer than 1024 bytes") ok "a 2000-byte line: error usage" ;;
*) fail "2000 bytes: $r" ;; esac
r=$(as root req "text  status")
case $r in "error usage "*) ok "two spaces: error usage" ;; *) fail "two spaces: $r" ;; esac

# A sender that stalls, and 100 idle connections, while knocks come in.
as read slow 6 >"$TMP/slow.out" &
slow=$!
sleep 0.5	# connected before the 100 others
as read idle 100 4 >"$TMP/idle.out" &
idle=$!
wait_for "$TMP/idle.out" "^ready" 10
knock 192.0.2.20 7000; knock 192.0.2.20 8000; knock 192.0.2.20 9000
check "the door opens for real knocks while 100 idle connections are held" opened 192.0.2.20 3
wait "$idle"
busy=$(sed -n 's/^busy \([0-9]*\) .*/\1/p' "$TMP/idle.out")
check "connections beyond 32 are answered 'error failed busy' ($busy of 100)" [ "${busy:-0}" -ge 60 ]
wait "$slow"
r=$(cat "$TMP/slow.out")
case $r in "closed after "[45].*) ok "a request line not finished in 5 s: closed ($r)" ;;
*) fail "slow sender: $r" ;; esac

# A stranger's connections cannot lock the admins out.
as none idle 100 3 >"$TMP/idle2.out" &
idle=$!
wait_for "$TMP/idle2.out" "^ready" 10
r=$(as read req "text status")
case $r in "ok
"*) ok "a read_group member is served while a stranger holds 100 connections" ;;
*) fail "status while a stranger holds connections: $r" ;; esac
knock 192.0.2.21 7000; knock 192.0.2.21 8000; knock 192.0.2.21 9000
check "... and the door opens for real knocks" opened 192.0.2.21 3
wait "$idle"
denied=$(sed -n 's/^busy [0-9]* denied \([0-9]*\)/\1/p' "$TMP/idle2.out")
check "a stranger holds at most 8 connections: the others are denied at once ($denied of 100)" [ "${denied:-0}" -ge 90 ]
sleep 1	# the idle ones are closed at their 5 s too
r=$(as root req "text status")
case $r in "ok
"*) ok "after all that, status answers" ;; *) fail "status after the attacks: $r" ;; esac
check "the daemon is still running" alive "$PID"

# ---- the metrics file ----------------------------------------------------------------
# A parser of the text exposition format 0.0.4: every sample belongs to a
# family with HELP and TYPE given once before it, names and labels are
# well formed, counters end in _total, values are numbers, a histogram's
# buckets are cumulative and its +Inf bucket is its count.
cat >"$TMP/promcheck.py" <<'PYEOF'
import re, sys
name_re = r"[a-zA-Z_:][a-zA-Z0-9_:]*"
label_re = r'[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\\n]|\\[\\"n])*"'
sample = re.compile(r"^(%s)(\{(?:%s)(?:,%s)*\})? (\S+)$" % (name_re, label_re, label_re))
types, helps, errors, buckets, counts = {}, {}, [], {}, {}
for n, line in enumerate(open(sys.argv[1]).read().split("\n")[:-1], 1):
    if line.startswith("# HELP "):
        f = line.split(" ")[2]
        if f in helps:
            errors.append("%d: HELP twice" % n)
        helps[f] = 1
    elif line.startswith("# TYPE "):
        _, _, f, t = line.split(" ", 3)
        if f in types or t not in ("counter", "gauge", "histogram", "summary", "untyped"):
            errors.append("%d: bad TYPE" % n)
        types[f] = t
    else:
        m = sample.match(line)
        if not m:
            errors.append("%d: not a sample: %s" % (n, line))
            continue
        name, value = m.group(1), m.group(3)
        base = re.sub(r"_(bucket|sum|count)$", "", name)
        fam = base if types.get(base) == "histogram" else name
        if fam not in types or fam not in helps:
            errors.append("%d: %s has no TYPE or HELP before it" % (n, name))
        if types.get(fam) == "counter" and not name.endswith("_total"):
            errors.append("%d: counter %s without _total" % (n, name))
        try:
            v = float(value)
        except ValueError:
            errors.append("%d: value %s" % (n, value))
            continue
        if fam != name and name.endswith("_bucket"):
            buckets.setdefault(fam, []).append(v)
        if fam != name and name.endswith("_count"):
            counts[fam] = v
for fam, b in buckets.items():
    if b != sorted(b) or b[-1] != counts.get(fam):
        errors.append("%s: buckets not cumulative, or +Inf is not the count" % fam)
if not types:
    errors.append("empty")
print("\n".join(errors) if errors else "ok")
PYEOF
P=$TMP/metrics/logknock.prom
wait_for "$P" "logknock_opens_total" 3
r=$("$PY" "$TMP/promcheck.py" "$P" 2>&1)
check "the metrics file is valid exposition text${r:+: $r}" [ "$r" = ok ]
mode=$(stat -c %a "$P" 2>/dev/null)
tmps=0
for f in "$TMP/metrics"/*; do [ "$f" = "$P" ] || tmps=$((tmps + 1)); done
if [ "$mode" = 644 ] && [ "$tmps" = 0 ]; then ok "... mode 644, no temporary file left"
else fail "metrics file: mode $mode, $tmps other files"; fi
as root req "text metrics" | tail -n +2 >"$TMP/m.txt"
r=$("$PY" "$TMP/promcheck.py" "$TMP/m.txt" 2>&1)
check "logknockctl metrics' text is valid too${r:+: $r}" [ "$r" = ok ]

# ---- the socket's path ------------------------------------------------------------
kill -KILL "$PID"
wait "$PID" 2>/dev/null
PID=
r=stopped
[ -S "$SOCK" ] && start && r=$(as root req "text status")
case $r in "ok
"*) ok "after kill -9, the stale socket left behind is replaced" ;;
*) fail "after kill -9: $r"; diag "$TMP/d.err" ;; esac
stop_pid "$PID"
PID=
echo precious >"$TMP/target"
ln -s "$TMP/target" "$SOCK"
"$LOGKNOCKD" -c "$TMP/conf.yaml" --state-dir "$STATE" >/dev/null 2>"$TMP/link.err"
st=$?
if [ $st = 1 ] && grep -q "not a socket" "$TMP/link.err" && [ -L "$SOCK" ] && [ "$(cat "$TMP/target")" = precious ]; then
	ok "a symbolic link at the socket's path: refused (exit 1), link and target untouched"
else
	fail "symbolic link at the path: exit $st"
	diag "$TMP/link.err"
fi
rm -f "$SOCK"
echo data >"$SOCK"
"$LOGKNOCKD" -c "$TMP/conf.yaml" --state-dir "$STATE" >/dev/null 2>"$TMP/file.err"
st=$?
if [ $st = 1 ] && grep -q "not a socket" "$TMP/file.err" && [ "$(cat "$SOCK")" = data ]; then
	ok "a plain file at the socket's path: refused (exit 1), left as it was"
else
	fail "plain file at the path: exit $st"
	diag "$TMP/file.err"
fi
done_testing
