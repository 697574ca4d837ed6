/* control_proto.c — the control socket's request grammar and JSON strings.
 * Pure functions: no allocation, no I/O, nothing read outside the buffer
 * given (fuzz/fuzz-control.c holds them to that). */
#include "control_proto.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

static const char *const cmd_names[] = {"status", "grants", "attempts", "close",
					"open", "reload", "watch", "metrics"};	/* enum control_cmd order */
#define NCMDS (sizeof cmd_names / sizeof cmd_names[0])

const char *control_cmd_name(enum control_cmd c)
{
	return (unsigned)c < NCMDS ? cmd_names[c] : "?";
}

int control_cmd_read_only(enum control_cmd c)
{
	return c == CTL_STATUS || c == CTL_GRANTS || c == CTL_ATTEMPTS || c == CTL_WATCH || c == CTL_METRICS;
}

static int fail(char *err, size_t errlen, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int fail(char *err, size_t errlen, const char *fmt, ...)
{
	if (errlen) {
		va_list ap;
		va_start(ap, fmt);
		vsnprintf(err, errlen, fmt, ap);
		va_end(ap);
	}
	return -1;
}

static int word_is(const char *w, size_t n, const char *lit)
{
	return strlen(lit) == n && memcmp(w, lit, n) == 0;
}

static int value_char(unsigned char ch)
{
	return (ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') ||
	       (ch && strchr("._:/@+-", ch));
}

int64_t control_parse_duration(const char *s, size_t len)
{
	static const struct {
		const char *unit;
		int64_t us;
	} units[] = {{"ms", 1000}, {"s", 1000000}, {"m", INT64_C(60000000)}, {"h", INT64_C(3600000000)},
		     {"d", INT64_C(86400000000)}};
	size_t nd = 0;
	while (nd < len && s[nd] >= '0' && s[nd] <= '9')
		nd++;
	if (nd == 0 || nd > 12)	/* 12 digits of days are far beyond any limit, and fit */
		return -1;
	for (size_t i = 0; i < sizeof units / sizeof units[0]; i++) {
		if (!word_is(s + nd, len - nd, units[i].unit))
			continue;
		int64_t v = 0;
		for (size_t k = 0; k < nd; k++)
			v = v * 10 + (s[k] - '0');
		if (v > INT64_MAX / units[i].us)
			return -1;
		return v * units[i].us;
	}
	return -1;
}

int control_parse(const char *buf, size_t len, struct control_req *out, char *err, size_t errlen)
{
	memset(out, 0, sizeof *out);
	if (errlen)
		err[0] = '\0';
	if (len == 0 || buf[len - 1] != '\n')
		return fail(err, errlen, "a request is one line ending in a newline");
	if (len > CONTROL_LINE_MAX)
		return fail(err, errlen, "request longer than %d bytes", CONTROL_LINE_MAX);
	len--;	/* the LF */
	for (size_t i = 0; i < len; i++) {
		unsigned char ch = (unsigned char)buf[i];
		if (ch == ' ') {
			if (i == 0 || i + 1 == len || buf[i + 1] == ' ')
				return fail(err, errlen, "words are separated by single spaces");
		} else if (ch < 0x21 || ch > 0x7e) {
			return fail(err, errlen, "byte 0x%02x at %zu: only printable ASCII and spaces", ch, i);
		}
	}
	if (len == 0)
		return fail(err, errlen, "empty request: expected FORMAT COMMAND [KEY=VALUE...]");

	/* Words, in order: format, command, keys. */
	const char *p = buf, *end = buf + len;
	size_t nword = 0;
	unsigned seen = 0;	/* bit per key */
	enum { K_DOOR = 1, K_ADDR = 2, K_FOR = 4, K_KNOCKS = 8 };
	while (p < end) {
		const char *sp = memchr(p, ' ', (size_t)(end - p));
		const char *w = p, *we = sp ? sp : end;
		size_t wn = (size_t)(we - w);
		p = sp ? sp + 1 : end;
		if (nword == 0) {
			if (word_is(w, wn, "text"))
				out->json = 0;
			else if (word_is(w, wn, "json"))
				out->json = 1;
			else
				return fail(err, errlen, "unknown format: expected text or json");
			nword++;
			continue;
		}
		if (nword == 1) {
			size_t i = 0;
			while (i < NCMDS && !word_is(w, wn, cmd_names[i]))
				i++;
			if (i == NCMDS)
				return fail(err, errlen, "unknown command: expected status, grants, attempts, close, open, "
					    "reload, watch or metrics");
			out->cmd = (enum control_cmd)i;
			nword++;
			continue;
		}
		nword++;
		const char *eq = memchr(w, '=', wn);
		if (!eq)
			return fail(err, errlen, "expected KEY=VALUE");
		size_t kn = (size_t)(eq - w), vn = wn - kn - 1;
		const char *v = eq + 1;
		if (vn < 1 || vn > CONTROL_VALUE_MAX)
			return fail(err, errlen, "a value is 1 to %d bytes", CONTROL_VALUE_MAX);
		for (size_t i = 0; i < vn; i++)
			if (!value_char((unsigned char)v[i]))
				return fail(err, errlen, "a value is letters, digits and . _ : / @ + -");
		unsigned bit;
		if (word_is(w, kn, "door"))
			bit = K_DOOR;
		else if (word_is(w, kn, "addr"))
			bit = K_ADDR;
		else if (word_is(w, kn, "for"))
			bit = K_FOR;
		else if (word_is(w, kn, "knocks"))
			bit = K_KNOCKS;
		else
			return fail(err, errlen, "unknown key: expected door, addr, for or knocks");
		if (seen & bit)
			return fail(err, errlen, "a key is given at most once");
		seen |= bit;
		switch (bit) {
		case K_DOOR:
			memcpy(out->door, v, vn);
			out->door[vn] = '\0';
			break;
		case K_ADDR: {
			char a[CONTROL_VALUE_MAX + 1];
			memcpy(a, v, vn);
			a[vn] = '\0';
			if (inet_pton(AF_INET, a, out->addr) == 1)
				out->family = AF_INET;
			else if (inet_pton(AF_INET6, a, out->addr) == 1)
				out->family = AF_INET6;
			else
				return fail(err, errlen, "addr: expected an IPv4 or IPv6 address");
			break;
		}
		case K_FOR:
			out->for_us = control_parse_duration(v, vn);
			if (out->for_us < CONTROL_FOR_MIN_US || out->for_us > CONTROL_FOR_MAX_US)
				return fail(err, errlen, "for: expected a duration from 1s to 1d (ms, s, m, h, d)");
			break;
		case K_KNOCKS:
			if (word_is(v, vn, "1"))
				out->knocks = 1;
			else if (!word_is(v, vn, "0"))
				return fail(err, errlen, "knocks: expected 0 or 1");
			break;
		}
	}
	if (nword < 2)
		return fail(err, errlen, "expected FORMAT COMMAND [KEY=VALUE...]");

	/* The keys each command takes. */
	unsigned allowed = 0, required = 0;
	switch (out->cmd) {
	case CTL_GRANTS:
	case CTL_ATTEMPTS: allowed = K_DOOR; break;
	case CTL_CLOSE: allowed = K_ADDR | K_DOOR; required = K_ADDR; break;
	case CTL_OPEN: allowed = K_DOOR | K_ADDR | K_FOR; required = K_DOOR | K_ADDR; break;
	case CTL_WATCH: allowed = K_KNOCKS; break;
	case CTL_STATUS:
	case CTL_RELOAD:
	case CTL_METRICS: break;
	}
	const char *name = control_cmd_name(out->cmd);
	if (seen & ~allowed)
		return fail(err, errlen, "%s: takes %s", name,
			    out->cmd == CTL_GRANTS || out->cmd == CTL_ATTEMPTS ? "door= only" :
			    out->cmd == CTL_CLOSE ? "addr= and door= only" :
			    out->cmd == CTL_OPEN ? "door=, addr= and for= only" :
			    out->cmd == CTL_WATCH ? "knocks= only" : "no keys");
	if ((seen & required) != required)
		return fail(err, errlen, "%s: needs %s", name, out->cmd == CTL_OPEN ? "door= and addr=" : "addr=");
	if (out->cmd == CTL_WATCH && !out->json)
		return fail(err, errlen, "watch: the format is json");
	return 0;
}

/* Length of the valid UTF-8 sequence at S (at most N bytes), or 0. */
static size_t utf8_len(const unsigned char *s, size_t n)
{
	size_t need;
	uint32_t cp;
	if (s[0] >= 0xc2 && s[0] <= 0xdf) {
		need = 2;
		cp = s[0] & 0x1f;
	} else if (s[0] >= 0xe0 && s[0] <= 0xef) {
		need = 3;
		cp = s[0] & 0x0f;
	} else if (s[0] >= 0xf0 && s[0] <= 0xf4) {
		need = 4;
		cp = s[0] & 0x07;
	} else {
		return 0;
	}
	if (n < need)
		return 0;
	for (size_t i = 1; i < need; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		cp = cp << 6 | (s[i] & 0x3f);
	}
	/* overlong forms, surrogates, beyond U+10FFFF */
	if ((need == 3 && cp < 0x800) || (need == 4 && (cp < 0x10000 || cp > 0x10ffff)) ||
	    (cp >= 0xd800 && cp <= 0xdfff))
		return 0;
	return need;
}

size_t control_json_escape(char *dst, size_t dstlen, const char *s, size_t len)
{
	static const char hex[] = "0123456789abcdef";
	const unsigned char *u = (const unsigned char *)s;
	size_t o = 0;
#define PUT(ch)                              \
	do {                                 \
		if (o + 1 < dstlen)          \
			dst[o] = (char)(ch); \
		o++;                         \
	} while (0)
	for (size_t i = 0; i < len;) {
		unsigned char ch = u[i];
		if (ch == '"' || ch == '\\') {
			PUT('\\');
			PUT(ch);
			i++;
		} else if (ch < 0x20 || ch == 0x7f) {
			PUT('\\');
			PUT('u');
			PUT('0');
			PUT('0');
			PUT(hex[ch >> 4]);
			PUT(hex[ch & 15]);
			i++;
		} else if (ch < 0x80) {
			PUT(ch);
			i++;
		} else {
			size_t n = utf8_len(u + i, len - i);
			if (n == 0) {
				static const char repl[] = "\\ufffd";
				for (size_t k = 0; k < sizeof repl - 1; k++)
					PUT(repl[k]);
				i++;
			} else {
				for (size_t k = 0; k < n; k++)
					PUT(u[i + k]);
				i += n;
			}
		}
	}
#undef PUT
	if (dstlen)
		dst[o < dstlen ? o : dstlen - 1] = '\0';
	return o;
}
