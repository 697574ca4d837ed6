#!/bin/sh
# logknockctl, the control client: first against a stand-in server (the
# request line each command sends, the exit status of each answer, bodies
# copied byte for byte, control characters kept off a terminal, watch ended
# by SIGINT and by its reader), then every command against a live logknockd
# with the log applier and a followed file: status, grants, attempts after a
# partial sequence, close (the applier is told, grants and the state file
# agree), open by hand, reload, watch (the very JSON lines --replay
# --print-events prints for the same log lines), metrics, and the exit
# status of each kind of answer.
. "${top_srcdir:-$(dirname "$0")/..}/t/lib.sh"
: "${LOGKNOCKCTL:=$top_builddir/src/logknockctl}"
CTL=$LOGKNOCKCTL

PID=
fake_pid=
bg_pid=
cleanup() {
	stop_pid "$bg_pid"
	stop_pid "$fake_pid"
	stop_pid "$PID"
	rm -rf "$TMP"
}
trap cleanup EXIT

[ -x "$CTL" ] || skip_all "logknockctl not built ($CTL)"
need_binaries
command -v python3 >/dev/null 2>&1 || skip_all "no python3 (the stand-in server, JSON checks)"

plan 63

# ---- usage: one line and the hint, exit 2, nothing sent -----------------------

# usage_case DESC ARGS...: exit 2, two lines on stderr ending in the hint, no connection.
usage_case() {
	desc=$1
	shift
	LOGKNOCK_CONTROL=$TMP/none "$CTL" "$@" >"$TMP/u.out" 2>"$TMP/u.err"
	rc=$?
	if [ $rc -eq 2 ] && [ "$(wc -l <"$TMP/u.err")" -eq 2 ] && [ ! -s "$TMP/u.out" ] &&
		tail -1 "$TMP/u.err" | grep -qx "Try 'logknockctl --help' for more information." &&
		head -1 "$TMP/u.err" | grep -q "^logknockctl: "; then
		ok "usage: $desc ($(head -1 "$TMP/u.err"))"
	else
		fail "usage: $desc (exit $rc)"
		diag "$TMP/u.err"
	fi
}
usage_case "no command"
usage_case "unknown command" frobnicate
usage_case "unknown option" --bogus status
usage_case "bad address" close 192.0.2.300
usage_case "a host name is no address" close localhost
usage_case "bad door name" grants --door 'a;b'
usage_case "door name starting with -" open -- -ssh 192.0.2.2
usage_case "bad duration" open ssh 192.0.2.2 --for 10x
usage_case "duration over a day" open ssh 192.0.2.2 --for 25h
usage_case "duration under a second" open ssh 192.0.2.2 --for 500ms
usage_case "open without ADDR" open ssh
usage_case "an argument too many" status now
usage_case "--door with a command that takes none" status --door ssh
usage_case "--knocks without watch" grants --knocks
usage_case "--json with metrics" metrics --json
usage_case "--socket without its argument" status --socket

"$CTL" --version >"$TMP/v.out" 2>&1
check "--version prints 'logknockctl VERSION', exit 0" sh -c "[ $? -eq 0 ] && grep -qx 'logknockctl [0-9][0-9.]*' '$TMP/v.out'"
"$CTL" --help >"$TMP/h.out" 2>&1
check "--help names every command, exit 0" sh -c "[ $? -eq 0 ] && for c in status grants close open attempts reload watch metrics; do grep -q \"^  \$c\" '$TMP/h.out' || exit 1; done"

"$CTL" --socket "$TMP/nothing-here" status >"$TMP/c.out" 2>"$TMP/c.err"
rc=$?
check "no socket: exit 3, says so" sh -c "[ $rc -eq 3 ] && grep -q 'cannot connect to $TMP/nothing-here' '$TMP/c.err'"

# ---- against a stand-in server --------------------------------------------------
# It logs each request line to $TMP/fake.req and answers with the bytes of
# $TMP/fake.ans; an answer "STREAM" is "ok" and a JSON line every 10 ms
# until the client goes.
cat >"$TMP/fake.py" <<'EOF'
import os, socket, sys, time
path, reqlog, ans = sys.argv[1:4]
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.bind(path)
s.listen(8)
with open(path + ".pid", "w") as f:
    f.write("%d\n" % os.getpid())
while True:
    c = s.accept()[0]
    data = b""
    while not data.endswith(b"\n") and len(data) < 4096:
        d = c.recv(4096)
        if not d:
            break
        data += d
    with open(reqlog, "ab") as f:
        f.write(data)
    a = open(ans, "rb").read()
    try:
        if a == b"STREAM":
            c.sendall(b"ok\n")
            n = 0
            while True:
                n += 1
                c.sendall(b'{"event":"knock","n":%d}\n' % n)
                time.sleep(0.01)
        else:
            c.sendall(a)
    except OSError:
        pass
    c.close()
EOF
FAKE=$TMP/fake.sock
python3 "$TMP/fake.py" "$FAKE" "$TMP/fake.req" "$TMP/fake.ans" 2>"$TMP/fake.err" &
fake_pid=$!
i=0
while [ ! -s "$FAKE.pid" ] && [ $i -lt 100 ]; do sleep 0.05; i=$((i + 1)); done

# request ARGS...: the line the client sent for logknockctl --socket $FAKE ARGS (answer "ok").
request() {
	printf 'ok\n' >"$TMP/fake.ans"
	: >"$TMP/fake.req"
	"$CTL" --socket "$FAKE" "$@" >/dev/null 2>&1
	cat "$TMP/fake.req"
}
: >"$TMP/req.want"
: >"$TMP/req.got"
while IFS='|' read -r args want; do
	# shellcheck disable=SC2086 # the arguments are words
	request $args >>"$TMP/req.got"
	echo "$want" >>"$TMP/req.want"
done <<'EOF'
status|text status
--json status|json status
grants|text grants
grants --door ssh --json|json grants door=ssh
close 192.0.2.2|text close addr=192.0.2.2
--door ssh close 2001:db8::2|text close addr=2001:db8::2 door=ssh
open ssh 192.0.2.2|text open door=ssh addr=192.0.2.2
open web.v2 192.0.2.2 --for 10m --json|json open door=web.v2 addr=192.0.2.2 for=10m
attempts --door ssh|text attempts door=ssh
reload|text reload
watch|json watch
watch --knocks|json watch knocks=1
metrics|text metrics
EOF
same "each command sends the one request line of the protocol" "$TMP/req.want" "$TMP/req.got"

printf 'ok\n' >"$TMP/fake.ans"
: >"$TMP/fake.req"
LOGKNOCK_CONTROL=$FAKE "$CTL" status >/dev/null 2>&1
check "LOGKNOCK_CONTROL names the socket" grep -qx "text status" "$TMP/fake.req"
: >"$TMP/fake.req"
LOGKNOCK_CONTROL=$TMP/nothing-here "$CTL" --socket "$FAKE" status >/dev/null 2>&1
check "--socket wins over LOGKNOCK_CONTROL" grep -qx "text status" "$TMP/fake.req"

# Bodies: copied byte for byte, a last line without newline and 300 KiB included.
python3 -c 'import sys; sys.stdout.buffer.write(b"ok\n" + bytes(range(256)) * 1200 + b"no newline")' >"$TMP/fake.ans"
"$CTL" --socket "$FAKE" status >"$TMP/body.out" 2>"$TMP/body.err"
rc=$?
tail -c +4 "$TMP/fake.ans" >"$TMP/body.want"
check "the body reaches a file byte for byte (300 KiB, every byte value, no final newline), exit 0" \
	sh -c "[ $rc -eq 0 ] && cmp -s '$TMP/body.want' '$TMP/body.out' && [ ! -s '$TMP/body.err' ]"

# On a terminal: escape sequences become '?'.
printf 'ok\nA\033]0;owned\007B\tC\n' >"$TMP/fake.ans"
python3 - "$CTL" "$FAKE" >"$TMP/tty.out" 2>&1 <<'EOF'
import os, pty, sys
pid, fd = pty.fork()
if pid == 0:
    os.execv(sys.argv[1], [sys.argv[1], "--socket", sys.argv[2], "status"])
out = b""
while True:
    try:
        d = os.read(fd, 4096)
    except OSError:
        break
    if not d:
        break
    out += d
os.waitpid(pid, 0)
sys.stdout.buffer.write(out.replace(b"\r\n", b"\n"))
EOF
printf 'A?]0;owned?B\tC\n' >"$TMP/tty.want"
same "on a terminal, control characters of the answer are shown as '?'" "$TMP/tty.want" "$TMP/tty.out"

# answer_case DESC ANSWER WANT-STATUS WANT-STDERR-REGEX
answer_case() {
	printf '%b' "$2" >"$TMP/fake.ans"
	"$CTL" --socket "$FAKE" grants >"$TMP/a.out" 2>"$TMP/a.err"
	rc=$?
	if [ $rc -eq "$3" ] && grep -q -- "$4" "$TMP/a.err" && [ ! -s "$TMP/a.out" ]; then
		ok "answer $1: exit $3"
	else
		fail "answer $1: exit $3 (got $rc)"
		diag "$TMP/a.err"
	fi
}
answer_case "error notfound" 'error notfound no grant of 192.0.2.2\n' 1 '^logknockctl: no grant of 192.0.2.2$'
answer_case "error failed" 'error failed the grants table is full\n' 1 '^logknockctl: the grants table is full$'
answer_case "error usage" 'error usage unknown key x\n' 2 "^Try 'logknockctl --help'"
answer_case "error denied" 'error denied uid 1000 is in neither control group\n' 4 '^logknockctl: uid 1000 is in neither'
answer_case "error with an escape sequence in it" 'error failed a\033[2Jb\233c\n' 1 '^logknockctl: a?\[2Jb?c$'
answer_case "that is not the protocol" 'HTTP/1.0 200 OK\n' 1 "is not logknockd's"
answer_case "none (closed at once)" '' 1 'closed the connection without an answer'

# watch, ended by the daemon in the middle of an event: whole lines only.
printf 'ok\n{"event":"knock","n":1}\n{"event":"kno' >"$TMP/fake.ans"
"$CTL" --socket "$FAKE" watch >"$TMP/cut.out" 2>"$TMP/cut.err"
rc=$?
printf '{"event":"knock","n":1}\n' >"$TMP/cut.want"
check "watch ended by the daemon mid-event: the whole lines, the cut one left out and said, exit 1" \
	sh -c "[ $rc -eq 1 ] && cmp -s '$TMP/cut.want' '$TMP/cut.out' && grep -q 'cut off (13 bytes)' '$TMP/cut.err' && grep -q 'logknockd ended the watch' '$TMP/cut.err'"

# watch: SIGINT ends it with status 0; so does the end of its reader.
printf 'STREAM' >"$TMP/fake.ans"
"$CTL" --socket "$FAKE" watch >"$TMP/w.out" 2>"$TMP/w.err" &
bg_pid=$!
wait_count "$TMP/w.out" '"event":"knock"' 5 5 >/dev/null
kill -INT "$bg_pid"
i=0
while alive "$bg_pid" && [ $i -lt 50 ]; do sleep 0.02; i=$((i + 1)); done
wait "$bg_pid"
rc=$?
bg_pid=
check "watch: SIGINT ends it within a second, exit 0, nothing on stderr" \
	sh -c "[ $i -lt 50 ] && [ $rc -eq 0 ] && [ ! -s '$TMP/w.err' ]"
rc=$( { "$CTL" --socket "$FAKE" watch 2>"$TMP/w.err"; echo $? >"$TMP/w.rc"; } | head -n 3 >"$TMP/w3.out"; cat "$TMP/w.rc")
check "watch | head -n 3: stops when its reader goes (EPIPE), exit 0, quietly" \
	sh -c "[ '$rc' = 0 ] && [ \$(wc -l <'$TMP/w3.out') -eq 3 ] && [ ! -s '$TMP/w.err' ]"
stop_pid "$fake_pid"
fake_pid=

# ---- against a live logknockd ------------------------------------------------
LOG=$TMP/kern.log
STATE=$TMP/state
SOCK=$TMP/control
: >"$LOG"
mkdir "$STATE"
write_conf() { # extra doors on stdin
	cat >"$TMP/conf.yaml" <<EOF
# net.netfilter.nf_log_all_netns is the host's: another test may hold it at 1 meanwhile
accept_nf_log_all_netns: true
sources:
  - file: $LOG
prefix: "KNOCK "
control:
  socket: $SOCK
applier:
  backend: log
doors:
  - name: ssh
    sequence: [tcp/7000, tcp/8000, tcp/9000]
    window: 30s
    open: [tcp/22]
    duration: 60s
  - name: web
    sequence: [tcp/7100]
    open: [tcp/443]
    duration: 60s
EOF
	cat >>"$TMP/conf.yaml"
}
write_conf </dev/null
knock() { knock_line "$LOG" "$@"; }
ctl() { "$CTL" --socket "$SOCK" "$@"; }

if ! "$LOGKNOCKD" -c "$TMP/conf.yaml" --check-config >"$TMP/cc.out" 2>&1; then
	skip_n $((63 - tap_n)) "this logknockd has no control socket: $(head -1 "$TMP/cc.out")"
	done_testing
fi
"$LOGKNOCKD" -v -c "$TMP/conf.yaml" --state-dir "$STATE" >"$TMP/d.out" 2>"$TMP/d.err" &
PID=$!
if wait_for "$TMP/d.err" "following 1 sources" 5 && [ -S "$SOCK" ]; then
	ok "logknockd starts with its control socket"
else
	fail "logknockd starts with its control socket"
	diag "$TMP/d.err"
fi

# status
ctl status >"$TMP/st.out" 2>"$TMP/st.err"
rc=$?
check "status: exit 0; its pid, the config, both doors, the applier" \
	sh -c "[ $rc -eq 0 ] && grep -q '^logknockd .*pid $PID' '$TMP/st.out' && grep -q '$TMP/conf.yaml' '$TMP/st.out' &&
		grep -q ' ssh  *sequence ' '$TMP/st.out' && grep -q ' web  *sequence ' '$TMP/st.out' && grep -q '^applier  *log' '$TMP/st.out'"
ctl --json status >"$TMP/st.json" 2>>"$TMP/st.err"
rc=$?
check "status --json: one JSON object, its pid and both doors" \
	sh -c "[ $rc -eq 0 ] && python3 -c '
import json, sys
s = json.loads(open(sys.argv[1]).read())
assert isinstance(s, dict), s
assert s[\"pid\"] == $PID, s
names = sorted(d[\"door\"] for d in s[\"doors\"])
assert names == [\"ssh\", \"web\"], names
' '$TMP/st.json'"

# a grant by knocks
knock 192.0.2.2 7000
knock 192.0.2.2 8000
knock 192.0.2.2 9000
wait_for "$TMP/d.err" "log: open .* 192.0.2.2 tcp 22 " >/dev/null
ctl grants >"$TMP/g.out" 2>"$TMP/g.err"
rc=$?
check "grants: lists the grant (door, source, tcp/22)" \
	sh -c "[ $rc -eq 0 ] && grep -q '^ssh  *192.0.2.2  *tcp/22 ' '$TMP/g.out'"
ctl --json grants >"$TMP/g.json" 2>>"$TMP/g.err"
check "grants --json: an array with that grant" python3 -c '
import json, sys
g = json.loads(open(sys.argv[1]).read())
assert isinstance(g, list)
m = [x for x in g if x["door"] == "ssh" and x["src"] == "192.0.2.2" and x["proto"] == "tcp" and x["port"] == 22]
assert len(m) == 1, g
' "$TMP/g.json"
ctl grants --door web >"$TMP/gw.out" 2>&1
check "grants --door web: not the ssh grant" sh -c "! grep -q 192.0.2.2 '$TMP/gw.out'"

# attempts after a partial sequence
knock 192.0.2.5 7000
knock 192.0.2.5 8000
wait_for "$TMP/d.err" "knock .* tcp/8000 from 192.0.2.5" >/dev/null
ctl attempts >"$TMP/at.out" 2>&1
check "attempts: 192.0.2.5 at ssh, 2 of 3" \
	sh -c "grep -q '^ssh  *192.0.2.5  *2/3 ' '$TMP/at.out'"
ctl --json attempts >"$TMP/at.json" 2>&1
check "attempts --json: the same" python3 -c '
import json, sys
a = json.loads(open(sys.argv[1]).read())
m = [x for x in a if x["door"] == "ssh" and x["src"] == "192.0.2.5"]
assert len(m) == 1 and m[0]["step"] == 2 and m[0]["steps"] == 3, a
' "$TMP/at.json"

# close
ctl close 192.0.2.2 >"$TMP/cl.out" 2>"$TMP/cl.err"
rc=$?
check "close 192.0.2.2: exit 0" [ $rc -eq 0 ]
check "close: the applier is told (log: close ... 192.0.2.2 tcp 22)" \
	wait_for "$TMP/d.err" "log: close .* 192.0.2.2 tcp 22"
ctl grants >"$TMP/g2.out" 2>&1
check "close: grants lists it no more" sh -c "! grep -q 192.0.2.2 '$TMP/g2.out'"
i=0
while grep -q " 192.0.2.2 " "$STATE/grants" 2>/dev/null && [ $i -lt 150 ]; do sleep 0.02; i=$((i + 1)); done
check "close: the state directory's grants file agrees (within the 1 s save)" \
	sh -c "[ -e '$STATE/grants' ] && ! grep -q ' 192.0.2.2 ' '$STATE/grants'"
ctl close 192.0.2.2 >"$TMP/cl2.out" 2>"$TMP/cl2.err"
rc=$?
check "close again: nothing to close, exit 1 with the daemon's message" \
	sh -c "[ $rc -eq 1 ] && grep -q '^logknockctl: ' '$TMP/cl2.err'"

# open by hand
ctl open ssh 198.51.100.7 --for 10m >"$TMP/op.out" 2>"$TMP/op.err"
rc=$?
if [ $rc -eq 0 ] && wait_for "$TMP/d.err" "log: open .* 198.51.100.7 tcp 22 600"; then
	ok "open ssh 198.51.100.7 --for 10m: exit 0, the applier opens it for 600 s"
else
	fail "open ssh 198.51.100.7 --for 10m: exit 0, the applier opens it for 600 s (exit $rc)"
	diag "$TMP/op.err"
fi
check "open by hand: logged as made by hand" grep -q "198.51.100.7.*by hand\|by hand.*198.51.100.7" "$TMP/d.err"
ctl --json grants >"$TMP/g3.json" 2>&1
check "open by hand: grants lists it, expiring in 10 minutes" python3 -c '
import json, sys, datetime
g = json.loads(open(sys.argv[1]).read())
m = [x for x in g if x["src"] == "198.51.100.7"]
assert len(m) == 1 and m[0]["door"] == "ssh" and m[0]["port"] == 22, g
exp = datetime.datetime.strptime(m[0]["expires"], "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=datetime.timezone.utc)
left = (exp - datetime.datetime.now(datetime.timezone.utc)).total_seconds()
assert 590 < left <= 600, left
' "$TMP/g3.json"
# bash completion: commands, options, the daemon's doors, the addresses to close
comp() {
	bash -c '. "$1"; shift; COMP_WORDS=("$@"); COMP_CWORD=$((${#COMP_WORDS[@]} - 1)); _logknockctl; echo "${COMPREPLY[*]}"' \
		comp "$top_srcdir/contrib/bash-completion/logknockctl" "$CTL" --socket "$SOCK" "$@" 2>&1
}
if command -v bash >/dev/null 2>&1; then
	c1=$(comp "") c2=$(comp grants --door "") c3=$(comp close "") c4=$(comp watch --k)
	if [ "$c1" = "status grants close open attempts reload watch metrics" ] && [ "$c2" = "ssh web" ] &&
		[ "$c3" = "198.51.100.7" ] && [ "$c4" = "--knocks" ]; then
		ok "bash completion: commands, the live daemon's doors and grants' addresses, options"
	else
		fail "bash completion: commands ($c1), doors ($c2), addresses ($c3), options ($c4)"
	fi
else
	ok "# SKIP bash completion: no bash"
fi
ctl open nosuch 198.51.100.7 >"$TMP/op2.out" 2>"$TMP/op2.err"
rc=$?
check "open at a door that does not exist: exit 1, says so" sh -c "[ $rc -eq 1 ] && grep -q '^logknockctl: no such door: ' '$TMP/op2.err'"
ctl --json close 198.51.100.7 >"$TMP/cl3.json" 2>&1
check "close --json: {\"closed\":1,...}" python3 -c '
import json, sys
c = json.loads(open(sys.argv[1]).read())
assert c["closed"] == 1, c
' "$TMP/cl3.json"

# reload
write_conf <<EOF
  - name: extra
    sequence: [tcp/7200]
    open: [tcp/22]
    duration: 60s
EOF
ctl reload >"$TMP/rl.out" 2>"$TMP/rl.err"
rc=$?
ctl status >"$TMP/st2.out" 2>&1
check "reload: exit 0; status lists the new door" sh -c "[ $rc -eq 0 ] && grep -q ' extra  *sequence ' '$TMP/st2.out'"
cp "$TMP/conf.yaml" "$TMP/conf.good"
printf 'doors: [\n' >"$TMP/conf.yaml"
ctl reload >"$TMP/rl2.out" 2>"$TMP/rl2.err"
rc=$?
check "reload of a bad configuration: exit 1, FILE:LINE:COL, the running one kept" \
	sh -c "[ $rc -eq 1 ] && grep -q '$TMP/conf.yaml:[0-9]*:[0-9]*: ' '$TMP/rl2.err' && '$CTL' --socket '$SOCK' status | grep -q ' extra  *sequence '"
cp "$TMP/conf.good" "$TMP/conf.yaml"

# watch: the lines --replay --print-events prints for the same log lines
: >"$TMP/w.out"
"$CTL" --socket "$SOCK" watch --knocks >"$TMP/w.out" 2>"$TMP/w.err" &
bg_pid=$!
sleep 0.3	# connected and subscribed (the header is read before any event)
: >"$TMP/seq.log"
knock_line "$TMP/seq.log" 192.0.2.9 7000
knock_line "$TMP/seq.log" 192.0.2.9 8000
knock_line "$TMP/seq.log" 192.0.2.9 9000
cat "$TMP/seq.log" >>"$LOG"
wait_for "$TMP/w.out" '"event":"open".*"src":"192.0.2.9"' 5
kill -INT "$bg_pid"
wait "$bg_pid"
rc=$?
bg_pid=
"$LOGKNOCKD" -c "$TMP/conf.yaml" --replay "$TMP/seq.log" --print-events >"$TMP/replay.out" 2>"$TMP/replay.err"
grep '"src":"192.0.2.9"' "$TMP/replay.out" | grep -v '"event":"close"' >"$TMP/replay.want"
grep '"src":"192.0.2.9"' "$TMP/w.out" | grep -v '"event":"close"' >"$TMP/watch.got"
same "watch --knocks: the knocks and the open, as --replay --print-events prints them" "$TMP/replay.want" "$TMP/watch.got"
check "watch: SIGINT ends it, exit 0" [ $rc -eq 0 ]
"$CTL" --socket "$SOCK" watch >"$TMP/w2.out" 2>&1 &
bg_pid=$!
sleep 0.3
knock 192.0.2.10 7100
wait_for "$TMP/w2.out" '"event":"open".*"src":"192.0.2.10"' 5 >/dev/null
stop_pid "$bg_pid"
bg_pid=
check "watch without --knocks: the open, no knock" \
	sh -c "grep -q '\"event\":\"open\".*\"src\":\"192.0.2.10\"' '$TMP/w2.out' && ! grep -q '\"event\":\"knock\"' '$TMP/w2.out'"

# metrics
ctl metrics >"$TMP/m.out" 2>"$TMP/m.err"
rc=$?
check "metrics: exit 0, opens and knocks by door" \
	sh -c "[ $rc -eq 0 ] && grep -q '^# TYPE logknock_opens_total counter$' '$TMP/m.out' && grep -q '^logknock_opens_total{door=\"ssh\"} [1-9]' '$TMP/m.out'"
check "metrics: every line is a comment or a sample of the text format, each family typed once" python3 -c '
import re, sys
typed = {}
sample = re.compile(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{([a-zA-Z_][a-zA-Z0-9_]*=\"([^\"\\\n]|\\[\\\"n])*\",?)*\})? (-?[0-9.e+-]+|[+-]Inf|NaN)( -?[0-9]+)?$")
for n, l in enumerate(open(sys.argv[1]).read().split("\n")[:-1], 1):
    if l.startswith("# TYPE "):
        name, kind = l.split()[2:4]
        assert name not in typed, "%d: %s typed twice" % (n, name)
        assert kind in ("counter", "gauge", "histogram", "summary", "untyped"), l
        typed[name] = kind
    elif l.startswith("# HELP ") or l == "":
        pass
    else:
        m = sample.match(l)
        assert m, "%d: not a sample: %r" % (n, l)
        base = re.sub(r"_(bucket|sum|count)$", "", m.group(1))
        assert m.group(1) in typed or base in typed, "%d: %s not typed" % (n, m.group(1))
' "$TMP/m.out"
if command -v promtool >/dev/null 2>&1; then
	check "metrics: promtool check metrics" sh -c "promtool check metrics <'$TMP/m.out' >'$TMP/promtool.out' 2>&1"
else
	ok "# SKIP metrics: no promtool (the parser above checked the format)"
fi

# a caller the daemon refuses: exit 4
if id nobody >/dev/null 2>&1 && command -v setpriv >/dev/null 2>&1; then
	chmod 755 "$TMP"
	cp "$CTL" "$TMP/logknockctl-copy" && chmod 755 "$TMP/logknockctl-copy"
	setpriv --reuid=nobody --regid="$(id -g nobody)" --clear-groups "$TMP/logknockctl-copy" --socket "$SOCK" status \
		>"$TMP/den.out" 2>"$TMP/den.err"
	rc=$?
	check "a user in neither control group: exit 4, the daemon's reason" \
		sh -c "[ $rc -eq 4 ] && grep -q '^logknockctl: ' '$TMP/den.err' && [ ! -s '$TMP/den.out' ]"
else
	ok "# SKIP denied: no user nobody or no setpriv"
fi

stop_pid "$PID"
PID=
ctl status >/dev/null 2>"$TMP/gone.err"
rc=$?
check "daemon stopped: exit 3" [ $rc -eq 3 ]

if [ $tap_failed -gt 0 ]; then
	echo "# daemon stderr:"
	tail -40 "$TMP/d.err" | diag
fi
done_testing
