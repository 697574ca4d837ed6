#!/bin/sh
# applier.sh — logknock-apply as a whole program: requests on stdin, one reply
# per request on stdout, the log backend's lines on stderr, and the command
# backend running argument templates with execve (never a shell).

. "${top_srcdir:-$(dirname "$0")/..}/t/lib.sh"
APPLY=$LOGKNOCK_APPLY
[ -x "$APPLY" ] || skip_all "logknock-apply not built"
tmp=$(cd "$TMP" && pwd -P) || exit 1	# absolute, no symlinks

# Nothing may hang: every run is bounded.
if command -v timeout >/dev/null 2>&1; then
	bound="timeout 30"
else
	bound=
fi
# Each worker first says "ready" (checked below); the other tests look at
# the replies after it.
apply() {
	{
		$bound "$APPLY" "$@"
		echo $? >"$tmp/rc"
	} | sed '1{/^ready$/d;}'
	return "$(cat "$tmp/rc")"
}

# The ports the doors open: the applier refuses every other one.
G="--guard tcp/22 --guard udp/53 --guard tcp/443 --guard icmp/8 --guard icmpv6/128"

# has_line FILE LINE: FILE holds LINE exactly
has_line() {
	grep -Fxq -e "$2" "$1"
}

# ---- log backend ----------------------------------------------------------

cat >"$tmp/in" <<'EOF'
open 17 inet 192.0.2.2 tcp 22 30 ssh
close 17 inet 192.0.2.2 tcp 22 ssh
open 18 inet6 2001:0db8:0000:0000:0000:0000:0000:0002 udp 53 60
open 19 inet 192.0.2.2 icmp 8 5 ping
flush 20
this is not a request
open 21 inet6 192.0.2.2 tcp 22 30
open 22 inet 192.0.2.2 tcp 70000 30
open  23 inet 192.0.2.2 tcp 22 30

close 24 inet6 ::1 icmpv6 128
EOF
cat >"$tmp/want" <<'EOF'
ok 17
ok 17
ok 18
ok 19
ok 20
error 0 unknown request 'this' (open, close or flush)
error 21 bad inet6 address '192.0.2.2'
error 22 bad port '70000' (1..65535)
error 0 empty field at offset 5 (fields are separated by one space)
error 0 empty line
ok 24
EOF
apply --backend log $G <"$tmp/in" >"$tmp/out" 2>"$tmp/err"
check "log backend exits 0 at end of input" test $? -eq 0
same "log backend: one reply per line, in order" "$tmp/want" "$tmp/out"
check "log backend logs an open" has_line "$tmp/err" "logknock-apply: log: open 17 inet 192.0.2.2 tcp 22 30 ssh"
check "log backend logs a close" has_line "$tmp/err" "logknock-apply: log: close 17 inet 192.0.2.2 tcp 22 ssh"
check "log backend logs IPv6 in RFC 5952 form" \
	has_line "$tmp/err" "logknock-apply: log: open 18 inet6 2001:db8::2 udp 53 60"
check "log backend logs icmp" has_line "$tmp/err" "logknock-apply: log: open 19 inet 192.0.2.2 icmp 8 5 ping"
check "log backend logs a flush" has_line "$tmp/err" "logknock-apply: log: flush (every rule a previous run opened would be removed)"
check "log backend logs icmpv6 close" has_line "$tmp/err" "logknock-apply: log: close 24 inet6 ::1 icmpv6 128"
check "log backend logs nothing for rejected lines" \
	test "$(grep -c '^logknock-apply: log:' "$tmp/err")" -eq 6

# A last line without its newline still counts; an overlong line is skipped
# up to its newline and the next line works.
long=$(printf '%300s' '' | tr ' ' 9)
printf 'open %s inet 192.0.2.2 tcp 22 30\nflush 5\nflush 6' "$long" |
	apply --backend log $G >"$tmp/out" 2>/dev/null
printf 'error 0 line too long\nok 5\nok 6\n' >"$tmp/want"
same "overlong line refused, the rest answered, last line without newline" "$tmp/want" "$tmp/out"

# Input that is empty gives no output and exit 0.
apply --backend log $G </dev/null >"$tmp/out" 2>/dev/null
check "empty input: exit 0" test $? -eq 0
check "empty input: no output" test ! -s "$tmp/out"

# ---- usage ------------------------------------------------------------------

# Every program answers --help and --version (exit 0, on stdout), the
# applier also when it counts as more privileged than its caller.
for prog in "$LOGKNOCKD" "$LOGKNOCK_APPLY" "${LOGKNOCK:-$top_builddir/src/logknock}"; do
	name=${prog##*/}
	"$prog" --version >"$tmp/v.out" 2>"$tmp/v.err"
	check "$name --version: exit 0, '$name VERSION' on stdout" \
		sh -c "[ $? -eq 0 ] && grep -qx '$name [0-9][0-9.a-z~-]*' '$tmp/v.out' && [ ! -s '$tmp/v.err' ]"
	"$prog" --help >"$tmp/h.out" 2>"$tmp/h.err"
	check "$name --help: exit 0, usage on stdout" sh -c "[ $? -eq 0 ] && grep -qi 'usage' '$tmp/h.out'"
done
SUDO_UID=65534 "$LOGKNOCK_APPLY" --version >"$tmp/v.out" 2>&1
check "logknock-apply --version under sudo's marks: answered, exit 0" \
	sh -c "[ $? -eq 0 ] && grep -qx 'logknock-apply [0-9][0-9.a-z~-]*' '$tmp/v.out'"

apply --config "$tmp/no-such.yaml" </dev/null >/dev/null 2>"$tmp/err"
check "no settings file: exit 2" test $? -eq 2
apply --timeout 300 </dev/null >/dev/null 2>"$tmp/err"
check "no --backend: exit 2" test $? -eq 2
apply --backend pf $G </dev/null >/dev/null 2>"$tmp/err"
check "unknown backend: exit 2" test $? -eq 2
check "unknown backend: says which" grep -q "unknown backend 'pf'" "$tmp/err"
apply --backend command $G --open /bin/true </dev/null >/dev/null 2>&1
check "command backend without --close: exit 2" test $? -eq 2
apply --backend command $G --open true --close /bin/true </dev/null >/dev/null 2>&1
check "command backend with a relative command: exit 2" test $? -eq 2
apply --backend command $G --timeout 0 --open /bin/true --close /bin/true </dev/null >/dev/null 2>&1
check "--timeout 0: exit 2" test $? -eq 2
apply --backend command $G --timeout 5s --open /bin/true --close /bin/true </dev/null >/dev/null 2>&1
check "--timeout 5s: exit 2" test $? -eq 2
apply --backend log $G --open /bin/true </dev/null >/dev/null 2>&1
check "--open with the log backend: exit 2" test $? -eq 2
apply --backend log $G extra </dev/null >/dev/null 2>&1
check "extra argument: exit 2" test $? -eq 2

# ---- the keeper: a crashed worker is replaced ---------------------------------

printf 'open 1 inet 192.0.2.2 tcp 22 30\n' | $bound "$APPLY" --backend log $G >"$tmp/out" 2>/dev/null
printf 'ready\nok 1\n' >"$tmp/want"
same "a worker says ready before its first reply" "$tmp/want" "$tmp/out"

if command -v pgrep >/dev/null 2>&1; then
	mkfifo "$tmp/fifo"
	$bound "$APPLY" --backend log $G <"$tmp/fifo" >"$tmp/kout" 2>"$tmp/kerr" &
	keeper=$!
	exec 7>"$tmp/fifo"
	printf 'open 1 inet 192.0.2.2 tcp 22 30\n' >&7
	i=0
	while [ $i -lt 250 ] && ! grep -q '^ok 1$' "$tmp/kout"; do sleep 0.02; i=$((i + 1)); done
	worker=$(pgrep -P "$(pgrep -P "$keeper" -x logknock-apply || echo "$keeper")" -x logknock-apply || pgrep -P "$keeper" -x logknock-apply)
	[ -n "$worker" ] && kill -KILL $worker
	i=0
	while [ $i -lt 250 ] && [ "$(grep -c '^ready$' "$tmp/kout")" -lt 2 ]; do sleep 0.02; i=$((i + 1)); done
	printf 'open 2 inet 192.0.2.3 tcp 22 30\n' >&7
	i=0
	while [ $i -lt 250 ] && ! grep -q '^ok 2$' "$tmp/kout"; do sleep 0.02; i=$((i + 1)); done
	exec 7>&-
	wait $keeper
	printf 'ready\nok 1\nready\nok 2\n' >"$tmp/want"
	same "a killed worker is replaced: ready again, later requests answered" "$tmp/want" "$tmp/kout"
	check "the keeper says the worker was killed" grep -q "worker killed by signal 9" "$tmp/kerr"
else
	ok "# SKIP pgrep missing: keeper restart not tested"
fi

# Pipelined: ten requests sent at once, the worker killed while it runs the
# second one's command. That one is answered with an error, once; a new
# worker gets the eight it never reached; every ID is answered exactly
# once, in order.
if command -v pgrep >/dev/null 2>&1; then
	cat >"$tmp/slow" <<'EOF'
#!/bin/sh
printf '%s\n' "$2" >>"$1"
[ "$2" = d2 ] && echo $$ >"$1.pid" && exec sleep 20
exit 0
EOF
	chmod +x "$tmp/slow"
	: >"$tmp/scalls"
	rm -f "$tmp/fifo2"
	mkfifo "$tmp/fifo2"
	$bound "$APPLY" --backend command $G --open "$tmp/slow" --open "$tmp/scalls" --open "%DOOR%" \
		--close /bin/true <"$tmp/fifo2" >"$tmp/kout" 2>"$tmp/kerr" &
	keeper=$!
	exec 7>"$tmp/fifo2"
	i=1
	reqs=
	while [ $i -le 10 ]; do
		reqs="${reqs}open $i inet 192.0.2.$i tcp 22 30 d$i
"
		i=$((i + 1))
	done
	printf '%s' "$reqs" >&7
	i=0
	while [ $i -lt 250 ] && ! grep -qx d2 "$tmp/scalls"; do sleep 0.02; i=$((i + 1)); done
	worker=$(pgrep -P "$(pgrep -P "$keeper" -x logknock-apply || echo "$keeper")" -x logknock-apply)
	[ -n "$worker" ] && kill -KILL $worker
	# Well before the command it was running ends (20 s).
	i=0
	while [ $i -lt 250 ] && ! grep -q '^ok 10$' "$tmp/kout"; do sleep 0.02; i=$((i + 1)); done
	exec 7>&-
	wait $keeper
	[ -s "$tmp/scalls.pid" ] && kill "$(cat "$tmp/scalls.pid")" 2>/dev/null
	{
		printf 'ready\nok 1\nerror 2 applier worker crashed\nready\n'
		i=3
		while [ $i -le 10 ]; do echo "ok $i"; i=$((i + 1)); done
	} >"$tmp/want"
	same "pipelined: the worker killed on request 2 of 10: 2 fails once, the rest are answered by a new worker" \
		"$tmp/want" "$tmp/kout"
	check "pipelined: requests 3 to 10 ran once each, after the restart" \
		test "$(tr '\n' ' ' <"$tmp/scalls")" = "d1 d2 d3 d4 d5 d6 d7 d8 d9 d10 "
else
	ok "# SKIP pgrep missing: pipelined crash not tested"
	ok "# SKIP pgrep missing: pipelined crash not tested"
fi

# ---- command backend ------------------------------------------------------

# The helper appends its arguments, each in brackets, to a file; the door
# name picks a behaviour.
cat >"$tmp/helper" <<'EOF'
#!/bin/sh
log=$1
shift
line=
for a in "$@"; do line="$line[$a]"; done
printf '%s\n' "$line" >>"$log"
case "$*" in
*door=fail*) echo "helper: refusing to do it" >&2; echo "second line" >&2; exit 3 ;;
*door=sleep*) sleep 30; exit 0 ;;
*door=kill*) kill -9 $$ ;;
*door=env*) env >"$log.env" ;;
*door=stdin*) cat >"$log.stdin" ;;
esac
exit 0
EOF
chmod +x "$tmp/helper"

calls=$tmp/calls
# shellcheck disable=SC2016 # literal on purpose: it must never be expanded
evil='$(touch '"$tmp"'/pwned); rm -rf '"$tmp"' ; `touch '"$tmp"'/pwned2` | true'
set -- --backend command $G \
	--open "$tmp/helper" --open "$calls" --open open --open "%FAMILY%" --open "%IP%" \
	--open "%PROTO%/%PORT%" --open "for=%SECONDS%s" --open "door=%DOOR%" --open "$evil" \
	--open "%UNKNOWN% 100%" --open "" \
	--close "$tmp/helper" --close "$calls" --close close --close "%IP%" --close "%PROTO%/%PORT%" \
	--close "door=%DOOR%" --close "s=%SECONDS%"

cat >"$tmp/in" <<'EOF'
open 1 inet 192.0.2.2 tcp 22 30 ssh
open 1 inet 192.0.2.2 tcp 22 60 ssh
open 2 inet6 2001:db8::2 udp 53 45
close 3 inet 198.51.100.7 tcp 443 web
open 4 inet 192.0.2.3 tcp 22 30 fail
garbage
open 5 inet 192.0.2.4 tcp 22 30 kill
open 6 inet 192.0.2.5 icmp 8 10 env
open 7 inet 192.0.2.6 tcp 22 10 stdin
close 2 inet6 2001:db8::2 udp 53
flush 9
EOF
LOGKNOCK_TEST_SECRET=1 apply "$@" <"$tmp/in" >"$tmp/out" 2>"$tmp/err"
check "command backend exits 0 at end of input" test $? -eq 0
cat >"$tmp/want" <<EOF
ok 1
ok 1
ok 2
ok 3
error 4 $tmp/helper exited with status 3: helper: refusing to do it
error 0 unknown request 'garbage' (open, close or flush)
error 5 $tmp/helper killed by signal 9
ok 6
ok 7
ok 2
ok 9
EOF
same "command backend: replies" "$tmp/want" "$tmp/out"

E=$evil
cat >"$tmp/want" <<EOF
[open][inet][192.0.2.2][tcp/22][for=30s][door=ssh][$E][%UNKNOWN% 100%][]
[open][inet6][2001:db8::2][udp/53][for=45s][door=][$E][%UNKNOWN% 100%][]
[close][198.51.100.7][tcp/443][door=web][s=0]
[open][inet][192.0.2.3][tcp/22][for=30s][door=fail][$E][%UNKNOWN% 100%][]
[open][inet][192.0.2.4][tcp/22][for=30s][door=kill][$E][%UNKNOWN% 100%][]
[open][inet][192.0.2.5][icmp/8][for=10s][door=env][$E][%UNKNOWN% 100%][]
[open][inet][192.0.2.6][tcp/22][for=10s][door=stdin][$E][%UNKNOWN% 100%][]
[close][2001:db8::2][udp/53][door=][s=0]
EOF
# flush closes what is still open (1, 6, 7), in no particular order
head -n 8 "$calls" >"$tmp/got"
same "templates substituted exactly, second open of an ID runs nothing" "$tmp/want" "$tmp/got"
cat >"$tmp/want" <<'EOF'
[close][192.0.2.2][tcp/22][door=ssh][s=0]
[close][192.0.2.5][icmp/8][door=env][s=0]
[close][192.0.2.6][tcp/22][door=stdin][s=0]
EOF
tail -n +9 "$calls" | sort >"$tmp/got"
same "flush closes every ID still open, and only those" "$tmp/want" "$tmp/got"
check "shell metacharacters are passed literally, never run" \
	test ! -e "$tmp/pwned" -a ! -e "$tmp/pwned2" -a -x "$tmp/helper"
check "environment is PATH only" has_line "$calls.env" "PATH=/usr/sbin:/usr/bin:/sbin:/bin"
# shellcheck disable=SC2016
check "the applier's environment does not leak" \
	sh -c '! grep -q LOGKNOCK_TEST_SECRET "$1"' sh "$calls.env"
check "stdin of a command is /dev/null" test -f "$calls.stdin" -a ! -s "$calls.stdin"
check "each command run is logged" \
	test "$(grep -Ec '^logknock-apply: (open|close) [0-9]+: running ' "$tmp/err")" -eq 11
check "a failure is logged with its message" \
	has_line "$tmp/err" "logknock-apply: error: open 4: $tmp/helper exited with status 3: helper: refusing to do it"

# After flush nothing is open: a flush runs nothing, a close still runs.
: >"$calls"
printf 'open 1 inet 192.0.2.2 tcp 22 30 a\nflush 2\nflush 3\nclose 1 inet 192.0.2.2 tcp 22 a\n' |
	apply "$@" >"$tmp/out" 2>/dev/null
printf 'ok 1\nok 2\nok 3\nok 1\n' >"$tmp/want"
same "flush twice, close after flush: replies" "$tmp/want" "$tmp/out"
check "flush twice, close after flush: open, close, close" \
	test "$(cut -c1-7 "$calls" | tr '\n' ' ')" = "[open][ [close] [close] "

# A failed close makes flush fail, naming how many.
: >"$calls"
printf 'open 1 inet 192.0.2.2 tcp 22 30 x\nopen 2 inet 192.0.2.3 tcp 22 30 fail\nopen 3 inet 192.0.2.4 tcp 22 30 y\nflush 4\n' |
	apply --backend command $G --open "$tmp/helper" --open "$calls" --open "door=x" \
		--close "$tmp/helper" --close "$calls" --close "door=%DOOR%" >"$tmp/out" 2>/dev/null
printf 'ok 1\nok 2\nok 3\nerror 4 flush: close failed for 1 of 3 rules\n' >"$tmp/want"
same "flush reports failed closes" "$tmp/want" "$tmp/out"

# An ID open for one rule cannot be reused for another.
printf 'open 1 inet 192.0.2.2 tcp 22 30\nopen 1 inet 192.0.2.9 tcp 22 30\n' |
	apply "$@" >"$tmp/out" 2>/dev/null
printf 'ok 1\nerror 1 id already open for another rule\n' >"$tmp/want"
same "an open ID is not reused for another rule" "$tmp/want" "$tmp/out"

# A substituted argument longer than 4096 bytes is refused.
big=$(printf '%4090s' '' | tr ' ' a)
printf 'open 1 inet 192.0.2.2 tcp 22 30\nopen 2 inet 192.0.2.3 tcp 22 30\n' |
	apply --backend command $G --open "$tmp/helper" --open "$calls" --open "$big%DOOR%" \
		--close /bin/true >"$tmp/out" 2>/dev/null
printf 'ok 1\nok 2\n' >"$tmp/want"
same "an argument of 4090 bytes is fine" "$tmp/want" "$tmp/out"
printf 'open 1 inet 192.0.2.2 tcp 22 30\n' |
	apply --backend command $G --open "$tmp/helper" --open "$calls" --open "$big%IP%" \
		--close /bin/true >"$tmp/out" 2>/dev/null
printf 'error 1 argument longer than 4096 bytes after substitution\n' >"$tmp/want"
same "an argument over 4096 bytes after substitution is refused" "$tmp/want" "$tmp/out"

# A program that does not exist.
printf 'open 1 inet 192.0.2.2 tcp 22 30\n' |
	apply --backend command $G --open "$tmp/nonexistent" --close /bin/true >"$tmp/out" 2>/dev/null
printf 'error 1 %s/nonexistent exited with status 127: cannot execute: No such file or directory\n' "$tmp" >"$tmp/want"
same "a missing program is an error, not a crash" "$tmp/want" "$tmp/out"

# /usr/bin/env as the command: runs and succeeds.
if [ -x /usr/bin/env ]; then
	printf 'open 1 inet 192.0.2.2 tcp 22 30\nclose 1 inet 192.0.2.2 tcp 22\n' |
		apply --backend command $G --open /usr/bin/env --open "IP=%IP%" --close /usr/bin/env \
			>"$tmp/out" 2>/dev/null
	printf 'ok 1\nok 1\n' >"$tmp/want"
	same "/usr/bin/env as the command" "$tmp/want" "$tmp/out"
else
	ok "/usr/bin/env as the command # SKIP no /usr/bin/env"
fi

# A command that outlives --timeout is killed and reported, quickly.
: >"$calls"
start=$(date +%s)
printf 'open 1 inet 192.0.2.2 tcp 22 30 sleep\nopen 2 inet 192.0.2.3 tcp 22 30 ok\n' |
	apply --backend command $G --timeout 300 --open "$tmp/helper" --open "$calls" --open "door=%DOOR%" \
		--close /bin/true >"$tmp/out" 2>"$tmp/err"
end=$(date +%s)
printf 'error 1 command timed out after 300 ms\nok 2\n' >"$tmp/want"
same "a command past --timeout is killed and reported" "$tmp/want" "$tmp/out"
check "the timeout does not hang the applier (took $((end - start)) s)" test $((end - start)) -lt 10
check "the timeout is logged" has_line "$tmp/err" "logknock-apply: error: open 1: command timed out after 300 ms"
check "the next request still runs after a timeout" test "$(wc -l <"$calls")" -eq 2

# ---- the guard set: only the ports the doors open ------------------------------

: >"$calls"
printf 'open 1 inet 192.0.2.2 tcp 3306 30 ssh\nclose 2 inet 192.0.2.2 udp 22 ssh\nopen 3 inet 192.0.2.2 icmp 0 5\nopen 4 inet 192.0.2.2 tcp 22 30 ssh\nclose 4 inet 192.0.2.2 tcp 22 ssh\n' |
	apply --backend command --guard tcp/22 --open "$tmp/helper" --open "$calls" --open "door=%DOOR%" \
		--close "$tmp/helper" --close "$calls" --close "door=%DOOR%" >"$tmp/out" 2>"$tmp/err"
cat >"$tmp/want" <<'WANT'
error 1 refused: tcp/3306 is not a guarded port (the doors' open: ports)
error 2 refused: udp/22 is not a guarded port (the doors' open: ports)
error 3 refused: icmp/0 is not a guarded port (the doors' open: ports)
ok 4
ok 4
WANT
same "command backend: open/close outside --guard tcp/22 refused (tcp/3306, udp/22, icmp/0)" "$tmp/want" "$tmp/out"
printf '[door=ssh]\n[door=ssh]\n' >"$tmp/want"
same "... and no command ran for them" "$tmp/want" "$calls"
check "... each refusal is logged" test "$(grep -c 'is not a guarded port' "$tmp/err")" -eq 3
printf 'open 1 inet 192.0.2.2 tcp 3306 30 ssh\n' | apply --backend log --guard tcp/22 >"$tmp/out" 2>"$tmp/err"
check "log backend: tcp/3306 with --guard tcp/22 refused, nothing logged as done" \
	sh -c 'grep -q "^error 1 refused: tcp/3306" "$1" && ! grep -q "log: open" "$2"' sh "$tmp/out" "$tmp/err"
printf 'open 1 inet 192.0.2.2 tcp 22 30 ssh\n' | apply --backend log >"$tmp/out" 2>"$tmp/err"
check "no --guard at all: every open refused, with a warning at start" \
	sh -c 'grep -q "^error 1 refused: tcp/22" "$1" && grep -q "no guarded ports" "$2"' sh "$tmp/out" "$tmp/err"
for g in tcp/0 udp/65536 sctp/22 tcp/ icmp/256 tcp/22x; do
	apply --backend log --guard "$g" </dev/null >/dev/null 2>&1
	check "bad --guard $g: exit 2" test $? -eq 2
done

# ---- the settings file (--config) ------------------------------------------------

cfg=$tmp/apply.yaml
cat >"$cfg" <<CFG
# a comment
backend: command
guard: [tcp/22, icmp/8]
timeout: 2s
name: test_1
open: [$tmp/helper, $calls, "door=%DOOR%", "%PROTO%/%PORT%"]
close: [$tmp/helper, $calls, "door=%DOOR%"]
CFG
: >"$calls"
printf 'open 1 inet 192.0.2.2 tcp 22 30 a\nopen 2 inet 192.0.2.2 tcp 23 30 b\nopen 3 inet 192.0.2.2 icmp 8 30 c\n' |
	apply --config "$cfg" >"$tmp/out" 2>/dev/null
printf 'ok 1\nerror 2 refused: tcp/23 is not a guarded port (the doors'"'"' open: ports)\nok 3\n' >"$tmp/want"
same "--config: backend, templates and guard ports from the file" "$tmp/want" "$tmp/out"
printf '[door=a][tcp/22]\n[door=c][icmp/8]\n' >"$tmp/want"
same "--config: the file's templates ran" "$tmp/want" "$calls"
# The example shipped in conf/: it loads (with the log backend, not to touch this machine's firewall).
sed -e 's/^backend: nft$/backend: log/' -e '/^timeout:/d' "$top_srcdir/conf/apply.yaml" >"$tmp/shipped.yaml"
printf 'open 1 inet 192.0.2.2 tcp 22 30\n' | apply --config "$tmp/shipped.yaml" >"$tmp/out" 2>"$tmp/err"
check "conf/apply.yaml loads and guards tcp/22" sh -c 'grep -qx "ok 1" "$1"' sh "$tmp/out"
apply --config "$cfg" --backend log </dev/null >/dev/null 2>"$tmp/err"
check "--config with --backend: exit 2 (one place for the settings)" \
	sh -c '[ $1 -eq 2 ] && grep -q "exclude each other" "$2"' sh $? "$tmp/err"
# logknockd --check-config compares the doors' ports with the guard list of applier.config.
cat >"$tmp/d.yaml" <<DCONF
sources:
  - file: "-"
prefix: "KNOCK "
applier:
  command: [/usr/bin/sudo, -n]
  config: $cfg
doors:
  - name: db
    sequence: [tcp/7000]
    open: [tcp/22, tcp/5432]
DCONF
"$LOGKNOCKD" -c "$tmp/d.yaml" --check-config >/dev/null 2>"$tmp/err"
check "logknockd --check-config: ok, and a door's port missing from apply.yaml's guard is named" \
	sh -c '[ $1 -eq 0 ] && grep -q "door db opens tcp/5432, which .* does not list in guard" "$2" && ! grep -q "tcp/22," "$2"' \
	sh $? "$tmp/err"
# applier.guard_loopback: for the firewall backends only; never with applier.config.
for be in log nft; do
	cat >"$tmp/lo-$be.yaml" <<DCONF
sources:
  - file: "-"
prefix: "KNOCK "
applier:
  backend: $be
  guard_loopback: true
doors:
  - name: db
    sequence: [tcp/7000]
    open: [tcp/22]
DCONF
done
"$LOGKNOCKD" -c "$tmp/lo-nft.yaml" --check-config >/dev/null 2>&1
check "logknockd.yaml applier.guard_loopback: true with backend nft: ok" test $? -eq 0
"$LOGKNOCKD" -c "$tmp/lo-log.yaml" --check-config >/dev/null 2>"$tmp/err"
check "applier.guard_loopback: true with backend log: exit 2, says where" \
	sh -c '[ $1 -eq 2 ] && grep -q "lo-log.yaml:6:19: applier: guard_loopback: only for backend nft" "$2"' sh $? "$tmp/err"
printf 'open 1 inet 192.0.2.2 tcp 22 30\n' | apply --backend log --guard tcp/22 --guard-loopback >/dev/null 2>"$tmp/err"
check "--guard-loopback with --backend log: exit 2" sh -c '[ $1 -eq 2 ] && grep -q "guard-loopback belongs to" "$2"' sh $? "$tmp/err"
sed 's|^  config: .*|&\n  guard_loopback: true|' "$tmp/d.yaml" >"$tmp/d-lo.yaml"
"$LOGKNOCKD" -c "$tmp/d-lo.yaml" --check-config >/dev/null 2>"$tmp/err"
check "applier.guard_loopback with applier.config: exit 2 (apply.yaml has it)" \
	sh -c '[ $1 -eq 2 ] && grep -q "guard_loopback: not with .config." "$2"' sh $? "$tmp/err"

# Errors name the place, never the file's text (a caller may name a file it cannot read).
bad() { # bad NAME WHAT TEXT: a settings file with TEXT gives "FILE:LINE:COL: WHAT", exit 2
	printf '%s\n' "$3" >"$tmp/$1.yaml"
	apply --config "$tmp/$1.yaml" </dev/null >/dev/null 2>"$tmp/err"
	rc=$?
	check "settings file with $1: exit 2, '$2' at its place, no text of the file" \
		sh -c '[ $1 -eq 2 ] && grep -q "$2[0-9]*:[0-9]*: $3" "$4" && ! grep -q SECRETWORD "$4"' \
		sh $rc "$tmp/$1.yaml:" "$2" "$tmp/err"
}
bad unknown-key "unknown key" "backend: log
SECRETWORD: 1"
bad bad-backend "backend: expected" "backend: SECRETWORD"
bad bad-guard "guard: expected" "backend: log
guard: [tcp/SECRETWORD]"
bad open-for-nft "open and close: only for backend: command" "backend: nft
open: [/bin/SECRETWORD]"
bad relative "open: the program must be an absolute path" "backend: command
open: [SECRETWORD]
close: [/bin/true]"
bad no-backend "backend: missing" "guard: [tcp/22]"
bad bad-name "name: letters" "backend: nft
name: SECRETWORD.x"
bad bad-timeout "timeout: expected" "backend: nft
timeout: SECRETWORD"
bad not-a-map "expected a mapping" "SECRETWORD"
bad bad-loopback "guard_loopback: expected true or false" "backend: nft
guard_loopback: SECRETWORD"
bad loopback-for-log "guard_loopback: only for backend nft" "backend: log
guard_loopback: true"

# ---- more privilege than the caller: orders from root's file only -------------
#
# Each mark a privilege tool leaves (sudo's SUDO_*, doas, pkexec) makes the
# applier refuse settings on its command line. t/sudo-applier.sh does the
# same through the real sudo, as another user.

for mark in SUDO_UID SUDO_USER SUDO_COMMAND DOAS_USER PKEXEC_UID; do
	printf 'open 1 inet 192.0.2.2 tcp 22 30\n' |
		env "$mark=x" $bound "$APPLY" --backend command --guard tcp/22 --open /bin/sh --open -c \
			--open "touch $tmp/pwned-$mark" --close /bin/true >"$tmp/out" 2>"$tmp/err"
	rc=$?
	check "$mark set: the command line is refused (exit 2, says why), nothing runs" \
		sh -c '[ $1 -eq 2 ] && [ ! -s "$2" ] && grep -q "refused: .--backend. on the command line.*$3 is set" "$4" && [ ! -e "$5" ]' \
		sh $rc "$tmp/out" "$mark" "$tmp/err" "$tmp/pwned-$mark"
done
printf 'open 1 inet 192.0.2.2 tcp 22 30 a\n' | SUDO_UID=65534 $bound "$APPLY" --config "$cfg" >"$tmp/out" 2>"$tmp/err"
check "SUDO_UID set: --config naming a file only root may change is taken" grep -q '^ok 1$' "$tmp/out"
rm -f "$calls.env"
sed 's/door=%DOOR%", "%PROTO%/door=env", "%PROTO%/' "$cfg" >"$tmp/env.yaml"
printf 'open 1 inet 192.0.2.2 tcp 22 30 a\n' |
	SUDO_UID=65534 LOGKNOCK_TEST_SECRET=1 $bound "$APPLY" --config "$tmp/env.yaml" >/dev/null 2>&1
check "SUDO_UID set: the caller's environment reaches no command" \
	sh -c '[ -s "$1" ] && ! grep -q LOGKNOCK_TEST_SECRET "$1"' sh "$calls.env"
refused() { # refused WHAT PATH: SUDO_UID set, --config PATH is refused and nothing runs
	: >"$calls"
	printf 'open 1 inet 192.0.2.2 tcp 22 30 a\n' |
		SUDO_UID=65534 $bound "$APPLY" --config "$2" >"$tmp/out" 2>"$tmp/err"
	rc=$?
	check "SUDO_UID set: --config $1 refused (exit 2, names who could change it), nothing runs" \
		sh -c '[ $1 -eq 2 ] && [ ! -s "$2" ] && [ ! -s "$3" ] && grep -q "refused: .* can be changed by" "$4"' \
		sh $rc "$tmp/out" "$calls" "$tmp/err"
}
cp "$cfg" "$tmp/gw.yaml" && chmod 664 "$tmp/gw.yaml"
refused "a group-writable file" "$tmp/gw.yaml"
cp "$cfg" "$tmp/ow.yaml" && chmod 646 "$tmp/ow.yaml"
refused "a file anyone may write" "$tmp/ow.yaml"
if id nobody >/dev/null 2>&1; then
	cp "$cfg" "$tmp/user.yaml" && chown nobody "$tmp/user.yaml"
	refused "a file another user owns" "$tmp/user.yaml"
	mkdir "$tmp/udir" && chown nobody "$tmp/udir" && cp "$cfg" "$tmp/udir/apply.yaml"
	refused "a root file in a directory another user owns" "$tmp/udir/apply.yaml"
else
	ok "# SKIP no user nobody"
	ok "# SKIP no user nobody"
fi
mkdir -p "$tmp/gwdir/sub" && chmod 775 "$tmp/gwdir" && cp "$cfg" "$tmp/gwdir/sub/apply.yaml"
refused "a root file under a group-writable directory" "$tmp/gwdir/sub/apply.yaml"
ln -s "$tmp/gw.yaml" "$tmp/link.yaml"
refused "a link to a group-writable file" "$tmp/link.yaml"
if [ -r /etc/shadow ]; then
	SUDO_UID=65534 $bound "$APPLY" --config /etc/shadow </dev/null >/dev/null 2>"$tmp/err"
	check "SUDO_UID set: --config /etc/shadow fails and shows none of its text" \
		sh -c '[ -s "$1" ] && ! grep -q "root:" "$1" && ! grep -qF "\$" "$1"' sh "$tmp/err"
else
	ok "# SKIP no /etc/shadow"
fi
SUDO_UID=65534 $bound "$APPLY" --config "$cfg" extra </dev/null >/dev/null 2>"$tmp/err"
check "SUDO_UID set: a word after --config is refused" sh -c '[ $1 -eq 2 ] && grep -q "refused: .extra." "$2"' sh $? "$tmp/err"

# A set-user-ID copy, run by another user: the same refusal.
if command -v setpriv >/dev/null 2>&1 && id nobody >/dev/null 2>&1 && [ "$(id -u)" -eq 0 ]; then
	mkdir "$tmp/suid" && cp "$APPLY" "$tmp/suid/logknock-apply" && chmod 4755 "$tmp/suid/logknock-apply" &&
		chmod 755 "$tmp" "$tmp/suid"
	printf 'open 1 inet 192.0.2.2 tcp 22 30\n' |
		setpriv --reuid=nobody --regid=nogroup --clear-groups "$tmp/suid/logknock-apply" --backend log \
			--guard tcp/22 >"$tmp/out" 2>"$tmp/err"
	rc=$?
	chmod 700 "$tmp"
	if grep -q "ok 1" "$tmp/out" && awk '$5 == "/" || $5 == "'"$tmp"'"' /proc/self/mountinfo | grep -q nosuid; then
		ok "# SKIP set-user-ID is not honoured here (nosuid)"
	else
		check "set-user-ID root, run by nobody: the command line is refused" \
			sh -c '[ $1 -eq 2 ] && grep -q "refused: .--backend.*set-user-ID" "$2"' sh $rc "$tmp/err"
	fi
else
	ok "# SKIP needs root, setpriv and user nobody"
fi

plan "$tap_n"
done_testing
