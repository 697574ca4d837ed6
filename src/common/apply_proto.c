/* apply_proto.c — the one parser and formatter of the applier protocol.
 *
 * Strictness, beyond what apply_proto.h states:
 *  - numbers are canonical decimal: digits only, no sign, no leading zero
 *    (only "0" itself), so "022", "+1", "-1", "0x10" and " 1" are rejected.
 *    With this, a valid line has exactly one spelling of each number and
 *    format(parse(line)) == line for every line whose address is in the
 *    form inet_ntop prints;
 *  - tcp/udp PORT is 1..65535 (port 0 cannot be opened); an ICMP type is
 *    0..255; icmp only with inet, icmpv6 only with inet6;
 *  - the address is at most 45 characters and must be accepted by
 *    inet_pton of the named family (IPv6 may be expanded or compressed;
 *    IPv4 with leading zeros is refused by glibc's inet_pton);
 *  - a line holds printable ASCII only: NUL, control characters (tab, CR,
 *    newline) and bytes >= 0x7f are rejected;
 *  - on failure, out->op and out->id are set when the op and the ID fields
 *    were themselves valid (else out->id is 0), so that the applier can
 *    answer "error ID message" to a request it can attribute.
 *
 * Replies: "ok ID" or "error ID MESSAGE"; ID is 0..2^63-1 (0: the line could
 * not be attributed), MESSAGE is non-empty printable text (bytes >= 0x80
 * allowed, control characters not). */
#include "apply_proto.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

#define APPLY_ADDR_MAX 45	/* INET6_ADDRSTRLEN - 1 */
#define APPLY_ID_MAX UINT64_C(9223372036854775807)
#define APPLY_SECONDS_MAX 31536000u
#define APPLY_FIELDS_MAX 13	/* open with DOOR and every GATEWAY key */

static void seterr(char *err, size_t errlen, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static void seterr(char *err, size_t errlen, const char *fmt, ...)
{
	if (!err || errlen == 0)
		return;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
}

struct field {
	const char *s;
	size_t len;
};

/* Canonical unsigned decimal, at most max. 0 or -1. */
static int parse_num(struct field f, uint64_t max, uint64_t *out)
{
	if (f.len == 0 || f.len > 20)
		return -1;
	if (f.s[0] == '0' && f.len > 1)
		return -1;
	uint64_t v = 0;
	for (size_t i = 0; i < f.len; i++) {
		unsigned char c = (unsigned char)f.s[i];
		if (c < '0' || c > '9')
			return -1;
		unsigned d = c - '0';
		if (v > (UINT64_MAX - d) / 10)
			return -1;
		v = v * 10 + d;
	}
	if (v > max)
		return -1;
	*out = v;
	return 0;
}

static int field_is(struct field f, const char *word)
{
	size_t n = strlen(word);
	return f.len == n && memcmp(f.s, word, n) == 0;
}

/* Field text for messages: at most 48 characters, marked when cut. */
#define FQ(f) (int)((f).len > 48 ? 48 : (f).len), (f).s, ((f).len > 48 ? "..." : "")

int apply_door_name_valid(const char *name)
{
	if (!name)
		return 0;
	size_t n = 0;
	for (; name[n]; n++) {
		unsigned char c = (unsigned char)name[n];
		if (n >= APPLY_DOOR_MAX)
			return 0;
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '_' || (n > 0 && (c == '.' || c == '-'))))
			return 0;
	}
	return n >= 1;
}

static int door_field_valid(struct field f)
{
	char buf[APPLY_DOOR_MAX + 1];
	if (f.len == 0 || f.len > APPLY_DOOR_MAX)
		return 0;
	memcpy(buf, f.s, f.len);
	buf[f.len] = '\0';
	return apply_door_name_valid(buf);
}

/* Checks the characters of a line and splits it on single spaces.
 * Returns the number of fields, or -1 with err set. */
static int split_line(const char *line, size_t len, struct field *fields, size_t maxf, char *err, size_t errlen)
{
	if (!line || len == 0) {
		seterr(err, errlen, "empty line");
		return -1;
	}
	if (len >= APPLY_LINE_MAX) {
		seterr(err, errlen, "line too long (%zu bytes, at most %d)", len, APPLY_LINE_MAX - 1);
		return -1;
	}
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)line[i];
		if (c == '\0') {
			seterr(err, errlen, "NUL byte at offset %zu", i);
			return -1;
		}
		if (c < 0x20 || c == 0x7f) {
			seterr(err, errlen, "control character 0x%02x at offset %zu", c, i);
			return -1;
		}
		if (c >= 0x80) {
			seterr(err, errlen, "non-ASCII byte 0x%02x at offset %zu", c, i);
			return -1;
		}
	}
	if (line[0] == ' ') {
		seterr(err, errlen, "leading space");
		return -1;
	}
	if (line[len - 1] == ' ') {
		seterr(err, errlen, "trailing space");
		return -1;
	}
	size_t n = 0, start = 0;
	for (size_t i = 0; i <= len; i++) {
		if (i < len && line[i] != ' ')
			continue;
		if (i == start) {
			seterr(err, errlen, "empty field at offset %zu (fields are separated by one space)", i);
			return -1;
		}
		if (n == maxf) {
			seterr(err, errlen, "too many fields");
			return -1;
		}
		fields[n].s = line + start;
		fields[n].len = i - start;
		n++;
		start = i + 1;
	}
	return (int)n;
}

/* Whether F is "KEY=..."; its value into *val. */
static int field_key(struct field f, const char *key, struct field *val)
{
	size_t n = strlen(key);
	if (f.len <= n || memcmp(f.s, key, n) != 0 || f.s[n] != '=')
		return 0;
	val->s = f.s + n + 1;
	val->len = f.len - n - 1;
	return 1;
}

/* The GATEWAY keys, in their one order, each at most once (apply_proto.h). */
static int parse_gateway(struct apply_cmd *c, const struct field *f, size_t n, char *err, size_t errlen)
{
	size_t i = 0;
	struct field v;
	uint64_t num;
	if (n == 0)
		return 0;
	if (!field_key(f[0], "to", &v)) {
		seterr(err, errlen, "extra field '%.*s%s' (after DOOR: to=, toport=, masq=, keep=)", FQ(f[0]));
		return -1;
	}
	char addr[APPLY_ADDR_MAX + 1];
	if (v.len == 0 || v.len > APPLY_ADDR_MAX) {
		seterr(err, errlen, "bad to= address '%.*s%s'", FQ(v));
		return -1;
	}
	memcpy(addr, v.s, v.len);
	addr[v.len] = '\0';
	if (inet_pton(c->family, addr, c->to) != 1) {
		seterr(err, errlen, "bad to= address '%s' (an %s address, as SRC)", addr,
		       c->family == AF_INET ? "inet" : "inet6");
		return -1;
	}
	if (c->proto != IPPROTO_TCP && c->proto != IPPROTO_UDP) {
		seterr(err, errlen, "to= needs protocol tcp or udp");
		return -1;
	}
	c->via = APPLY_VIA_FORWARD;
	i = 1;
	if (i < n && field_key(f[i], "toport", &v)) {
		if (parse_num(v, 65535, &num) < 0 || num == 0) {
			seterr(err, errlen, "bad toport '%.*s%s' (1..65535)", FQ(v));
			return -1;
		}
		c->toport = (uint16_t)num;
		c->via = APPLY_VIA_DNAT;
		i++;
	}
	if (i < n && field_key(f[i], "masq", &v)) {
		if (!field_is(v, "1") || c->via != APPLY_VIA_DNAT) {
			seterr(err, errlen, "bad masq (masq=1, after toport= only)");
			return -1;
		}
		c->masq = 1;
		i++;
	}
	if (i < n && field_key(f[i], "keep", &v)) {
		if (!field_is(v, "0")) {
			seterr(err, errlen, "bad keep (keep=0, or no keep= at all)");
			return -1;
		}
		c->nokeep = 1;
		i++;
	}
	if (i < n) {
		seterr(err, errlen, "extra field '%.*s%s' (to=, toport=, masq=, keep= in this order, once each)",
		       FQ(f[i]));
		return -1;
	}
	return 0;
}

int apply_parse(const char *line, size_t len, struct apply_cmd *out, char *err, size_t errlen)
{
	struct field f[APPLY_FIELDS_MAX];
	struct apply_cmd c;
	memset(&c, 0, sizeof c);
	if (out)
		memset(out, 0, sizeof *out);
	if (!out) {
		seterr(err, errlen, "no output");
		return -1;
	}
	int nf = split_line(line, len, f, APPLY_FIELDS_MAX, err, errlen);
	if (nf < 0)
		return -1;

	size_t minf, maxf;
	if (field_is(f[0], "open")) {
		c.op = APPLY_OPEN;
		minf = 7, maxf = 8;
	} else if (field_is(f[0], "close")) {
		c.op = APPLY_CLOSE;
		minf = 6, maxf = 7;
	} else if (field_is(f[0], "flush")) {
		c.op = APPLY_FLUSH;
		minf = 2, maxf = 2;
	} else {
		seterr(err, errlen, "unknown request '%.*s%s' (open, close or flush)", FQ(f[0]));
		return -1;
	}
	out->op = c.op;
	if (nf < 2) {
		seterr(err, errlen, "missing ID");
		return -1;
	}
	uint64_t v;
	if (parse_num(f[1], APPLY_ID_MAX, &v) < 0 || v == 0) {
		seterr(err, errlen, "bad id '%.*s%s' (1..9223372036854775807)", FQ(f[1]));
		return -1;
	}
	c.id = v;
	out->id = v;
	if ((size_t)nf < minf) {
		static const char *const names[] = {"", "", "FAMILY", "SRC", "PROTO", "PORT", "SECONDS"};
		seterr(err, errlen, "missing %s", names[nf]);
		return -1;
	}
	if (c.op == APPLY_FLUSH && (size_t)nf > maxf) {
		seterr(err, errlen, "extra field '%.*s%s'", FQ(f[maxf]));
		return -1;
	}
	if (c.op == APPLY_FLUSH) {
		*out = c;
		return 0;
	}

	if (field_is(f[2], "inet"))
		c.family = AF_INET;
	else if (field_is(f[2], "inet6"))
		c.family = AF_INET6;
	else {
		seterr(err, errlen, "bad family '%.*s%s' (inet or inet6)", FQ(f[2]));
		return -1;
	}

	char addr[APPLY_ADDR_MAX + 1];
	if (f[3].len > APPLY_ADDR_MAX) {
		seterr(err, errlen, "bad address '%.*s%s' (too long)", FQ(f[3]));
		return -1;
	}
	memcpy(addr, f[3].s, f[3].len);
	addr[f[3].len] = '\0';
	if (inet_pton(c.family, addr, c.addr) != 1) {
		seterr(err, errlen, "bad %s address '%s'", c.family == AF_INET ? "inet" : "inet6", addr);
		return -1;
	}

	if (field_is(f[4], "tcp"))
		c.proto = IPPROTO_TCP;
	else if (field_is(f[4], "udp"))
		c.proto = IPPROTO_UDP;
	else if (field_is(f[4], "icmp"))
		c.proto = IPPROTO_ICMP;
	else if (field_is(f[4], "icmpv6"))
		c.proto = IPPROTO_ICMPV6;
	else {
		seterr(err, errlen, "bad protocol '%.*s%s' (tcp, udp, icmp or icmpv6)", FQ(f[4]));
		return -1;
	}
	if (c.proto == IPPROTO_ICMP && c.family != AF_INET) {
		seterr(err, errlen, "protocol icmp needs family inet (use icmpv6)");
		return -1;
	}
	if (c.proto == IPPROTO_ICMPV6 && c.family != AF_INET6) {
		seterr(err, errlen, "protocol icmpv6 needs family inet6 (use icmp)");
		return -1;
	}

	int icmp = c.proto == IPPROTO_ICMP || c.proto == IPPROTO_ICMPV6;
	if (parse_num(f[5], icmp ? 255 : 65535, &v) < 0 || (!icmp && v == 0)) {
		if (icmp)
			seterr(err, errlen, "bad icmp type '%.*s%s' (0..255)", FQ(f[5]));
		else
			seterr(err, errlen, "bad port '%.*s%s' (1..65535)", FQ(f[5]));
		return -1;
	}
	c.port = (uint16_t)v;

	size_t next = 6;
	if (c.op == APPLY_OPEN) {
		if (parse_num(f[6], APPLY_SECONDS_MAX, &v) < 0 || v == 0) {
			seterr(err, errlen, "bad seconds '%.*s%s' (1..%u)", FQ(f[6]), APPLY_SECONDS_MAX);
			return -1;
		}
		c.seconds = (uint32_t)v;
		next = 7;
	}
	if ((size_t)nf > next && !memchr(f[next].s, '=', f[next].len)) {
		if (!door_field_valid(f[next])) {
			seterr(err, errlen, "bad door name '%.*s%s' ([A-Za-z0-9_.-], 1..%d characters)", FQ(f[next]),
			       APPLY_DOOR_MAX);
			return -1;
		}
		memcpy(c.door, f[next].s, f[next].len);
		c.door[f[next].len] = '\0';
		next++;
	}
	if (parse_gateway(&c, f + next, (size_t)nf - next, err, errlen) < 0)
		return -1;
	*out = c;
	return 0;
}

static const char *proto_name(uint8_t proto)
{
	switch (proto) {
	case IPPROTO_TCP:
		return "tcp";
	case IPPROTO_UDP:
		return "udp";
	case IPPROTO_ICMP:
		return "icmp";
	case IPPROTO_ICMPV6:
		return "icmpv6";
	default:
		return NULL;
	}
}

/* " to=ADDR[ toport=N][ masq=1][ keep=0]" for a forward or dnat request,
 * "" for a local one; -1 for fields that do not go together. */
static int format_gateway(const struct apply_cmd *cmd, char *buf, size_t buflen)
{
	buf[0] = '\0';
	if (cmd->via == APPLY_VIA_LOCAL)
		return cmd->toport || cmd->masq || cmd->nokeep ? -1 : 0;
	if (cmd->via != APPLY_VIA_FORWARD && cmd->via != APPLY_VIA_DNAT)
		return -1;
	if (cmd->proto != IPPROTO_TCP && cmd->proto != IPPROTO_UDP)
		return -1;
	if (cmd->via == APPLY_VIA_DNAT ? cmd->toport == 0 : (cmd->toport != 0 || cmd->masq))
		return -1;
	char to[INET6_ADDRSTRLEN];
	if (!inet_ntop(cmd->family, cmd->to, to, sizeof to))
		return -1;
	int n;
	if (cmd->via == APPLY_VIA_DNAT)
		n = snprintf(buf, buflen, " to=%s toport=%u%s%s", to, (unsigned)cmd->toport, cmd->masq ? " masq=1" : "",
			     cmd->nokeep ? " keep=0" : "");
	else
		n = snprintf(buf, buflen, " to=%s%s", to, cmd->nokeep ? " keep=0" : "");
	return n < 0 || (size_t)n >= buflen ? -1 : 0;
}

int apply_format(const struct apply_cmd *cmd, char *buf, size_t buflen)
{
	if (!cmd || !buf || buflen == 0)
		return -1;
	buf[0] = '\0';
	if (cmd->id == 0 || cmd->id > APPLY_ID_MAX)
		return -1;
	int n;
	if (cmd->op == APPLY_FLUSH) {
		n = snprintf(buf, buflen, "flush %llu\n", (unsigned long long)cmd->id);
	} else if (cmd->op == APPLY_OPEN || cmd->op == APPLY_CLOSE) {
		const char *fam;
		if (cmd->family == AF_INET)
			fam = "inet";
		else if (cmd->family == AF_INET6)
			fam = "inet6";
		else
			return -1;
		const char *proto = proto_name(cmd->proto);
		if (!proto)
			return -1;
		if ((cmd->proto == IPPROTO_ICMP && cmd->family != AF_INET) ||
		    (cmd->proto == IPPROTO_ICMPV6 && cmd->family != AF_INET6))
			return -1;
		int icmp = cmd->proto == IPPROTO_ICMP || cmd->proto == IPPROTO_ICMPV6;
		if (icmp ? cmd->port > 255 : cmd->port == 0)
			return -1;
		if (cmd->op == APPLY_OPEN && (cmd->seconds == 0 || cmd->seconds > APPLY_SECONDS_MAX))
			return -1;
		/* The door must be terminated within its array and valid. */
		if (!memchr(cmd->door, '\0', sizeof cmd->door))
			return -1;
		if (cmd->door[0] && !apply_door_name_valid(cmd->door))
			return -1;
		char addr[INET6_ADDRSTRLEN];
		if (!inet_ntop(cmd->family, cmd->addr, addr, sizeof addr))
			return -1;
		char gw[96] = "";
		if (format_gateway(cmd, gw, sizeof gw) < 0)
			return -1;
		if (cmd->op == APPLY_OPEN)
			n = snprintf(buf, buflen, "open %llu %s %s %s %u %lu%s%s%s\n", (unsigned long long)cmd->id, fam,
				     addr, proto, (unsigned)cmd->port, (unsigned long)cmd->seconds,
				     cmd->door[0] ? " " : "", cmd->door, gw);
		else
			n = snprintf(buf, buflen, "close %llu %s %s %s %u%s%s%s\n", (unsigned long long)cmd->id, fam,
				     addr, proto, (unsigned)cmd->port, cmd->door[0] ? " " : "", cmd->door, gw);
	} else {
		return -1;
	}
	if (n < 0 || (size_t)n >= buflen || n > APPLY_LINE_MAX) {
		buf[0] = '\0';
		return -1;
	}
	return n;
}

int apply_parse_reply(const char *line, size_t len, struct apply_reply *out)
{
	if (!out)
		return -1;
	memset(out, 0, sizeof *out);
	if (!line || len == 0 || len >= APPLY_LINE_MAX)
		return -1;
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)line[i];
		if (c < 0x20 || c == 0x7f)
			return -1;
	}
	struct field op = {line, 0};
	while (op.len < len && line[op.len] != ' ')
		op.len++;
	if (op.len == len)
		return -1;	/* no ID */
	struct field id = {line + op.len + 1, 0};
	size_t rest = len - op.len - 1;
	while (id.len < rest && id.s[id.len] != ' ')
		id.len++;
	uint64_t v;
	if (parse_num(id, APPLY_ID_MAX, &v) < 0)
		return -1;
	if (field_is(op, "ok")) {
		if (id.len != rest || v == 0)
			return -1;
		out->id = v;
		out->ok = 1;
		return 0;
	}
	if (!field_is(op, "error"))
		return -1;
	if (id.len == rest)
		return -1;	/* no message */
	const char *msg = id.s + id.len + 1;
	size_t mlen = rest - id.len - 1;
	if (mlen == 0 || msg[0] == ' ')
		return -1;
	memcpy(out->msg, msg, mlen);	/* mlen < APPLY_LINE_MAX */
	out->msg[mlen] = '\0';
	out->id = v;
	out->ok = 0;
	return 0;
}
