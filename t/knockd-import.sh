#!/bin/sh
# Migration from knockd: logknockd --import-knockd FILE prints a logknockd
# configuration on stdout and what it could not carry over on stderr. The
# proof of each import is a replay: the door opens for its knock sequence
# and for nothing else.
. "${top_srcdir:-$(dirname "$0")/..}/t/lib.sh"
need_binaries
"$LOGKNOCKD" --help 2>&1 | grep -q -- '--import-knockd' || skip_all "logknockd has no --import-knockd"
F=$top_srcdir/t/fixtures/knockd
plan 50

# import NAME [FILE]: imports FILE (default $F/NAME.conf) into $TMP/NAME.yaml
# (stderr: NAME.err, status: NAME.rc).
import() {
	"$LOGKNOCKD" --import-knockd "${2:-$F/$1.conf}" >"$TMP/$1.yaml" 2>"$TMP/$1.err"
	echo $? >"$TMP/$1.rc"
}

# knocks SRC STEP...: kernel log lines (RFC 3339 stamps, "kernel:" tag, the
# "KNOCK " prefix) for one knock per STEP (tcp/N, udp/N, or tcp/N/FLAGS with
# FLAGS like SYN or ACK_SYN), one second apart from 2026-11-26T14:47:30Z.
knocks() {
	src=$1
	shift
	s=30
	spt=40000
	for step in "$@"; do
		proto=${step%%/*}
		rest=${step#*/}
		port=${rest%%/*}
		flags=SYN
		[ "$rest" != "$port" ] && flags=$(echo "${rest#*/}" | tr _ ' ')
		s=$((s + 1))
		spt=$((spt + 1))
		if [ "$proto" = udp ]; then
			tail="PROTO=UDP SPT=$spt DPT=$port LEN=8"
		else
			tail="PROTO=TCP SPT=$spt DPT=$port WINDOW=64240 RES=0x00 $flags URGP=0"
		fi
		echo "2026-11-26T14:47:$s.000000+00:00 vm kernel: [  396.377863] KNOCK IN=eth0 OUT= MAC=4a:14:fe:f4:b7:53:5a:0c:c5:36:61:de:08:00 SRC=$src DST=192.0.2.1 LEN=60 TOS=0x00 PREC=0x00 TTL=64 ID=21867 DF $tail"
	done
}

# replay NAME LOGNAME: replays $TMP/LOGNAME.log through $TMP/NAME.yaml into $TMP/LOGNAME.out.
replay() {
	"$LOGKNOCKD" -q -c "$TMP/$1.yaml" --replay "$TMP/$2.log" >"$TMP/$2.out" 2>"$TMP/$2.rerr"
}

# opens LOGNAME DOOR SRC: the replay printed an open of DOOR for SRC.
opens() {
	grep -q "\"event\":\"open\",.*\"door\":\"$2\",\"src\":\"$3\"" "$TMP/$1.out"
}

# door NAME DOOR RIGHT WRONG: the imported config passes --check-config, and
# replays open DOOR for the RIGHT sequence and open nothing for the WRONG one.
door() {
	name=$1 d=$2 right=$3 wrong=$4
	"$LOGKNOCKD" -c "$TMP/$name.yaml" --check-config >"$TMP/$name.chk" 2>&1
	if [ $? -eq 0 ]; then ok "$name: --check-config accepts the import"; else
		fail "$name: --check-config accepts the import"
		diag "$TMP/$name.chk"
	fi
	# shellcheck disable=SC2086
	knocks 192.0.2.2 $right >"$TMP/$name-right.log"
	replay "$name" "$name-right"
	if opens "$name-right" "$d" 192.0.2.2; then ok "$name: door $d opens for its sequence"; else
		fail "$name: door $d opens for its sequence"
		diag "$TMP/$name-right.out" "$TMP/$name-right.rerr"
	fi
	# shellcheck disable=SC2086
	knocks 192.0.2.3 $wrong >"$TMP/$name-wrong.log"
	replay "$name" "$name-wrong"
	if grep -q '"event":"open"' "$TMP/$name-wrong.out"; then
		fail "$name: a wrong sequence opens nothing"
		diag "$TMP/$name-wrong.out"
	else
		ok "$name: a wrong sequence opens nothing"
	fi
}

# 1. Debian's own /etc/knockd.conf: openSSH and closeSSH become one door that
#    opens with "-A" and closes with "-D"; openHTTPS runs another program.
import debian
check "debian: exit 0" [ "$(cat "$TMP/debian.rc")" -eq 0 ]
door debian openSSH "tcp/7000 tcp/8000 tcp/9000" "tcp/9000 tcp/8000 tcp/7000"
check "debian: the applier opens with -A and closes with -D, port and protocol as placeholders" \
	sh -c "grep -q '^  open: *\[\"/sbin/iptables\", \"-A\", \"INPUT\", \"-s\", \"%IP%\", \"-p\", \"%PROTO%\", \"--dport\", \"%PORT%\", \"-j\", \"ACCEPT\"\]' '$TMP/debian.yaml' &&
	       grep -q '^  close: *\[\"/sbin/iptables\", \"-D\", ' '$TMP/debian.yaml'"
check "debian: tcpflags = syn becomes SYN" grep -q '^    tcp_flags: "SYN" ' "$TMP/debian.yaml"
check "debian: seq_timeout = 5 becomes window: 5s" grep -q '^    window: 5s ' "$TMP/debian.yaml"
check "debian: the prefix, with a comment on logging the knock ports" \
	sh -c "grep -q '^prefix: \"KNOCK \"' '$TMP/debian.yaml' && grep -q 'tcp dport { 7000, 8000, 9000 } log prefix \"KNOCK \" drop' '$TMP/debian.yaml'"
check "debian: closeSSH folded into openSSH, named on stderr with its line" \
	grep -q "debian.conf:13: door 'closeSSH': its command undoes that of door 'openSSH'" "$TMP/debian.err"
check "debian: openHTTPS not carried over, commented out, named on stderr with its line" \
	sh -c "grep -q \"debian.conf:19: door 'openHTTPS': not carried over: its commands differ\" '$TMP/debian.err' &&
	       grep -q '^  # - name: openHTTPS' '$TMP/debian.yaml' && ! grep -q '^  - name: openHTTPS' '$TMP/debian.yaml'"
check "debian: UseSyslog reported as not carried over" grep -q 'debian.conf:2: UseSyslog: not carried over' "$TMP/debian.err"

# 2. knockd(1), Example #1: the same pair, --dport without -p.
import man-example1
check "man-example1: exit 0" [ "$(cat "$TMP/man-example1.rc")" -eq 0 ]
door man-example1 openSSH "tcp/7000 tcp/8000 tcp/9000" "tcp/7000 tcp/9000 tcp/8000"
check "man-example1: a port without -p is reported (tcp assumed)" \
	grep -q "man-example1.conf:9: door 'openSSH': the command names a port but no protocol" "$TMP/man-example1.err"

# 3. knockd(1), Example #2: UDP and TCP steps, SYN+ACK knocks, start and stop
#    commands with cmd_timeout.
import man-example2
check "man-example2: exit 0" [ "$(cat "$TMP/man-example2.rc")" -eq 0 ]
door man-example2 opencloseSSH "udp/2222 tcp/3333/ACK_SYN udp/4444" "udp/2222 tcp/3333/SYN udp/4444"
check "man-example2: mixed protocols, flags, window and duration carried over" \
	sh -c "grep -q '^    sequence: \[udp/2222, tcp/3333, udp/4444\]' '$TMP/man-example2.yaml' &&
	       grep -q '^    tcp_flags: \"SYN,ACK\" ' '$TMP/man-example2.yaml' &&
	       grep -q '^    window: 15s ' '$TMP/man-example2.yaml' && grep -q '^    duration: 5s ' '$TMP/man-example2.yaml'"

# 4. knockd(1), Example #3: one time sequences, from knockd's file as it is.
#    Its file is not here: the door is carried over, and the import says
#    the configuration will not load until the file is there.
import man-example3
check "man-example3: exit 0" [ "$(cat "$TMP/man-example3.rc")" -eq 0 ]
check "man-example3: one_time_sequences becomes one_time: with knockd's path" \
	grep -q '^    one_time: "/etc/knockd/smtp_sequences" ' "$TMP/man-example3.yaml"
check "man-example3: the missing sequence file named on stderr with its line" \
	grep -q "man-example3.conf:6: door 'opencloseSMTP': one_time_sequences: /etc/knockd/smtp_sequences: cannot open" \
	"$TMP/man-example3.err"

#    The same with a sequence file (mode 0600, as logknockd wants): a used
#    line (knockd's '#') opens nothing, the first unused one opens.
printf '# SMTP, one-time\n#2001,2002:udp,2003\n 2101,2102:udp,2103\n 2201, 2202 ,2203:tcp\n' >"$TMP/smtp.seq"
chmod 600 "$TMP/smtp.seq"
sed "s|/etc/knockd/smtp_sequences|$TMP/smtp.seq|" "$F/man-example3.conf" >"$TMP/smtp.conf"
import smtp "$TMP/smtp.conf"
check "smtp: exit 0, no warning about the file" \
	sh -c "[ $(cat "$TMP/smtp.rc") -eq 0 ] && ! grep -q one_time_sequences '$TMP/smtp.err'"
door smtp opencloseSMTP "tcp/2101/FIN udp/2102 tcp/2103/FIN" "tcp/2001/FIN udp/2002 tcp/2003/FIN"
knocks 192.0.2.4 tcp/2101/FIN udp/2102 tcp/2103/FIN tcp/2101/FIN udp/2102 tcp/2103/FIN \
	tcp/2201/FIN tcp/2202/FIN tcp/2203/FIN >"$TMP/smtp-twice.log"
replay smtp smtp-twice
check "smtp: a sequence opens once, then the next line's opens (at the 3rd and the 9th knock)" \
	[ "$(grep '"event":"open",.*"door":"opencloseSMTP"' "$TMP/smtp-twice.out" | cut -d, -f2 | tr -d '\n')" = \
	  '"time":"2026-11-26T14:47:33.000000Z""time":"2026-11-26T14:47:39.000000Z"' ]
chmod 644 "$TMP/smtp.seq"
import smtp-644 "$TMP/smtp.conf"
check "smtp: a sequence file others may read: carried over, the warning says how to fix it" \
	sh -c "[ $(cat "$TMP/smtp-644.rc") -eq 0 ] && grep -q 'smtp.conf:6: .*may be read or written by others.*chmod 600' '$TMP/smtp-644.err'"
sed "s|/etc/knockd/smtp_sequences|smtp.seq|" "$F/man-example3.conf" >"$TMP/smtp-rel.conf"
import smtp-rel "$TMP/smtp-rel.conf"
check "smtp: a relative path is not carried over, and named on stderr" \
	sh -c "[ $(cat "$TMP/smtp-rel.rc") -eq 2 ] &&
	       grep -q \"smtp-rel.conf:6: door 'opencloseSMTP': not carried over: one_time_sequences 'smtp.seq' is not an absolute path\" '$TMP/smtp-rel.err' &&
	       grep -q '^  #   one_time: \"smtp.seq\" ' '$TMP/smtp-rel.yaml'"
sed "s|one_time_sequences *= .*|sequence = 2101,2102:icmp,2103|" "$F/man-example3.conf" >"$TMP/badstep.conf"
import badstep "$TMP/badstep.conf"
check "a malformed step is named by its number and text" \
	grep -q "badstep.conf:6: door 'opencloseSMTP': not carried over: sequence: step 2 ('2102:icmp'): expected tcp or udp" \
	"$TMP/badstep.err"

# 5. knockd(1), Example #4 (with a fixed sequence): an IPv6 command.
import man-example4
check "man-example4: exit 0" [ "$(cat "$TMP/man-example4.rc")" -eq 0 ]
door man-example4 opencloseSMTP "tcp/6001/FIN udp/6002 tcp/6003/FIN" "tcp/6001/ACK_FIN udp/6002 tcp/6003/ACK_FIN"
check "man-example4: start_command_6 reported as not carried over" \
	grep -q "man-example4.conf:11: door 'opencloseSMTP': start_command_6/stop_command_6 not carried over" \
	"$TMP/man-example4.err"

# 6. Doors whose commands differ only in port and protocol share one template.
import ports
check "ports: exit 0" [ "$(cat "$TMP/ports.rc")" -eq 0 ]
door ports dns "udp/5353 udp/5354 udp/5355" "udp/5353 udp/5355 udp/5354"
check "ports: each door opens the port of its command" \
	sh -c "grep -q '^    open: \[tcp/22\]' '$TMP/ports.yaml' && grep -q '^    open: \[udp/53\]' '$TMP/ports.yaml' &&
	       grep -q '^    open: \[tcp/443\]' '$TMP/ports.yaml'"

# 7. Shell syntax in start_command: that door is commented out and named.
import shell
check "shell: exit 0 (another door is carried over)" [ "$(cat "$TMP/shell.rc")" -eq 0 ]
check "shell: the warning names the line of the command" \
	grep -q "shell.conf:15: door 'logged': not carried over: start_command cannot be carried over safely: shell syntax" \
	"$TMP/shell.err"
check "shell: that door is commented out" \
	sh -c "grep -q '^  # - name: logged' '$TMP/shell.yaml' && ! grep -q '^  - name: logged' '$TMP/shell.yaml'"
door shell good "tcp/7000 tcp/8000 tcp/9000" "tcp/1111 tcp/2222 tcp/3333"

# 8. Errors: a missing file, a file with no door, an overlong line.
"$LOGKNOCKD" --import-knockd "$TMP/nonexistent.conf" >/dev/null 2>"$TMP/nf.err"
check "missing file: exit 2 with its name" sh -c "[ $? -eq 2 ] && grep -q 'nonexistent.conf: cannot open' '$TMP/nf.err'"
{ head -c 5000 /dev/zero | tr '\0' 'x'; echo; } >"$TMP/long.conf"
printf '[options]\n\tUseSyslog\n' >>"$TMP/long.conf"
"$LOGKNOCKD" --import-knockd "$TMP/long.conf" >/dev/null 2>"$TMP/long.err"
check "overlong line: exit 2 naming the line" sh -c "[ $? -eq 2 ] && grep -q 'long.conf:1: line longer than 4096 bytes' '$TMP/long.err'"
done_testing
