#!/bin/sh
# doc-snippets.sh — every YAML example in README.md and the man pages is
# valid YAML and is accepted by the program it is written for: server
# configurations by `logknockd --check-config`, client profiles by
# `logknock --dry-run --profile`. A documented snippet that fails is a
# stumble for the reader who copies it (as '- file: -' was).
#
# Fragments (a doors: list alone, an applier: section) are completed with
# what they lack (a prefix, a door); paths under /etc/logknock are moved to
# a temporary directory holding keys and a one-time file made for the test.
. "${top_srcdir:-$(dirname "$0")/..}/t/lib.sh"
need_binaries
command -v python3 >/dev/null 2>&1 || skip_all "python3 not installed (it extracts the snippets)"
trap 'rm -rf "$TMP"' EXIT

ETC=$TMP/etc
mkdir -p "$ETC" "$TMP/snip"
for k in ssh door; do "$LOGKNOCK" keygen "$ETC/$k.key" 2>/dev/null || skip_all "logknock keygen failed"; done
"$LOGKNOCK" keygen "$TMP/snip/server.key" 2>/dev/null
printf '7000,8000:udp,9000\n7001,8001,9001\n' >"$ETC/once.seq" && chmod 600 "$ETC/once.seq"

# The extractor: one file per snippet, NAME.yaml, with its origin on the
# first line as a comment; man page escapes undone.
python3 - "$TMP/snip" "$top_srcdir/README.md" "$top_srcdir/doc/logknockd.yaml.5" \
	"$top_srcdir/doc/logknockd.8" "$top_srcdir/doc/logknock.1" <<'PYEOF' || skip_all "cannot extract the snippets"
import re, sys
out = sys.argv[1]
n = 0
def emit(origin, lines):
    global n
    text = "\n".join(lines) + "\n"
    first = next((l for l in lines if l.strip() and not l.lstrip().startswith("#")), "")
    if not re.match(r"^[A-Za-z_][A-Za-z0-9_-]*:( |$)", first) or \
       re.match(r"^(logknockd|logknock|logknock-apply): ", first):
        return                      # a command, a program's output, a unit file
    n += 1
    with open("%s/%02d.yaml" % (out, n), "w") as f:
        f.write("# %s\n%s" % (origin, text))
def unroff(l):
    for a, b in (("\\-", "-"), ("\\(aq", "'"), ("\\(dq", '"'), ("\\e", "\\"), ("\\(rq", '"'), ("\\(lq", '"')):
        l = l.replace(a, b)
    return l
for path in sys.argv[2:]:
    lines = open(path).read().split("\n")
    block, start = None, 0
    for i, l in enumerate(lines, 1):
        if path.endswith(".md"):
            if block is None and l.strip() == "```yaml":
                block, start = [], i
            elif block is not None and l.strip() == "```":
                emit("%s:%d" % (path.split("/")[-1], start), block)
                block = None
            elif block is not None:
                block.append(l)
        else:
            if l.startswith(".EX"):
                block, start = [], i
            elif l.startswith(".EE") and block is not None:
                emit("%s:%d" % (path.split("/")[-1], start), [unroff(x) for x in block])
                block = None
            elif block is not None:
                block.append(l)
PYEOF

set -- "$TMP"/snip/*.yaml
[ -e "$1" ] || skip_all "no YAML snippet found"
plan $(($# * 2))

for f in "$@"; do
	origin=$(sed -n '1s/^# //p' "$f")
	# 1. valid YAML (the stumble this test was written for)
	if python3 -c 'import sys, yaml; yaml.safe_load(open(sys.argv[1]))' "$f" 2>"$TMP/y.err"; then
		ok "$origin: valid YAML"
	elif python3 -c 'import yaml' 2>/dev/null; then
		fail "$origin: valid YAML"
		tail -3 "$TMP/y.err" | diag
	else
		ok "$origin: valid YAML # SKIP python3-yaml is not installed"
	fi
	# 2. accepted by its program
	# Paths to the test's own files; host names to a documentation address
	# (a dry run resolves the host and sends nothing; a test machine may
	# resolve no name), IPv6 where the profile asks for family 6.
	addr=192.0.2.1
	grep -q '^ *family: *6' "$f" && addr=2001:db8::1
	sed -e "s#/etc/logknock/#$ETC/#g" -e 's#/var/lib/logknock#'"$TMP"'/state#g' \
		-e 's#\(host: *\)[a-z][a-z.-]*\.example\.org#\1'"$addr"'#' "$f" >"$TMP/c.yaml"
	if grep -q '^ *host:' "$TMP/c.yaml"; then
		# A client profile: every top-level name is dry-run.
		cp "$TMP/c.yaml" "$TMP/snip/profile.yml"
		bad=
		for name in $(sed -n 's/^\([A-Za-z0-9_-]*\):.*/\1/p' "$TMP/c.yaml"); do
			"$LOGKNOCK" -n --profile "$TMP/snip/profile.yml" "$name" >/dev/null 2>"$TMP/p.err" || {
				bad="$bad $name"
				cat "$TMP/p.err" >>"$TMP/p.all"
			}
		done
		if [ -z "$bad" ]; then
			ok "$origin: every profile dry-runs"
		else
			fail "$origin: every profile dry-runs (failed:$bad)"
			diag "$TMP/p.all"
		fi
		continue
	fi
	grep -q '^prefix:' "$TMP/c.yaml" || grep -q '^patterns:' "$TMP/c.yaml" || echo 'prefix: "KNOCK "' >>"$TMP/c.yaml"
	grep -q '^doors:' "$TMP/c.yaml" || printf 'doors:\n  - {name: snippet, sequence: [tcp/7000], open: [tcp/22]}\n' >>"$TMP/c.yaml"
	# user: names a user of the machine it is written for.
	sed -i 's/^user: logknock /user: nobody /' "$TMP/c.yaml"
	if "$LOGKNOCKD" -c "$TMP/c.yaml" --check-config >/dev/null 2>"$TMP/c.err"; then
		ok "$origin: logknockd --check-config accepts it"
	else
		fail "$origin: logknockd --check-config accepts it"
		diag "$TMP/c.err"
	fi
done
done_testing
