/* parse.c — one firewall log line → one struct knock.
 *
 * A line passes three stages, cheapest first:
 *   1. header, checked by hand for the built-in formats, anchored at the
 *      start: the timestamp, host and "kernel:" tag of syslog files and
 *      journalctl output (or none, as `journalctl -o cat` prints), an optional
 *      kernel "[uptime]" stamp, the knock prefix, and the "IN=" that the
 *      netfilter LOG, NFLOG and nft log formats all start with (see "the
 *      header" below: exactly the language of the PCRE2 patterns it
 *      replaced). Most lines stop at their first bytes here.
 *   2. fields: the kernel's own grammar (see "the netfilter grammar" below):
 *      every field in the order nf_log_syslog.c or ulogd's LOGEMU writes it,
 *      each value well-formed, nothing else between or after.
 *   (journalctl -o json: the prefix is looked for in the whole entry before
 *   any field of it is.)
 * Lines of formats we do not know are matched by the user's patterns
 * (PCRE2, JIT), with named groups. Nothing here allocates after parse_new().
 */
#include "parse.h"
#include "scan.h"

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include <arpa/inet.h>
#include <ctype.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#define PARSE_MAX_PREFIXES 16

enum { UG_SRC, UG_DST, UG_PROTO, UG_SPORT, UG_DPORT, UG_TIME, UG_FLAGS, UG_N };
static const char *const user_group_names[UG_N] = {"src", "dst", "proto", "sport", "dport", "time", "flags"};

struct user_pattern {
	pcre2_code *re;
	pcre2_match_data *md;
	int group[UG_N];	/* group number, or -1 */
};

struct parser {
	const char *prefix[PARSE_MAX_PREFIXES];
	size_t prefix_len[PARSE_MAX_PREFIXES];
	size_t nprefixes;
	struct user_pattern *user;
	size_t nuser;
	/* Local time of a year-less stamp: cached per hour of the log. */
	int64_t cache_key;
	int64_t cache_base_s;
	char why[128];		/* where a line left the kernel's grammar */
	size_t header_len;	/* of the last line parse_builtin took apart: up to "IN=" */
	/* Fleet (issue 16): knocks carry the host of their line, and RFC 5424
	 * lines (forwarded syslog) are read. Off unless the configuration
	 * asks (config_wants_hosts): then today's output is unchanged. */
	int want_host;
};

/* ---- small checked scanners ------------------------------------------- */

/* Decimal digits only, at most maxdigits, value <= max. */
static int scan_uint(const char *s, size_t n, unsigned maxdigits, unsigned long max, unsigned long *out)
{
	if (n == 0 || n > maxdigits)
		return -1;
	unsigned long v = 0;
	for (size_t i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		v = v * 10 + (unsigned long)(s[i] - '0');
	}
	if (v > max)
		return -1;
	*out = v;
	return 0;
}

static int scan_addr(const char *s, size_t n, uint8_t *family, uint8_t out[16])
{
	char buf[KNOCK_ADDRSTRLEN];
	if (n == 0 || n >= sizeof buf)
		return -1;
	memcpy(buf, s, n);
	buf[n] = '\0';
	int af = memchr(buf, ':', n) ? AF_INET6 : AF_INET;
	memset(out, 0, 16);
	if (inet_pton(af, buf, out) != 1)
		return -1;
	*family = (uint8_t)af;
	return 0;
}

static int scan_proto(const char *s, size_t n)
{
	/* The kernel prints TCP, UDP, ICMP, ICMPv6; user patterns may say tcp. */
	if (n == 3 && strncasecmp(s, "tcp", 3) == 0)
		return IPPROTO_TCP;
	if (n == 3 && strncasecmp(s, "udp", 3) == 0)
		return IPPROTO_UDP;
	if (n == 4 && strncasecmp(s, "icmp", 4) == 0)
		return IPPROTO_ICMP;
	if ((n == 6 && strncasecmp(s, "icmpv6", 6) == 0) || (n == 9 && strncasecmp(s, "ipv6-icmp", 9) == 0))
		return IPPROTO_ICMPV6;
	return -1;
}

static int scan_flag(const char *s, size_t n)
{
	if (n != 3)
		return 0;
	uint32_t w = (uint32_t)toupper((unsigned char)s[0]) << 16 | (uint32_t)toupper((unsigned char)s[1]) << 8 |
		     (uint32_t)toupper((unsigned char)s[2]);
#define W(a, b, c) ((uint32_t)(a) << 16 | (uint32_t)(b) << 8 | (uint32_t)(c))
	switch (w) {
	case W('F', 'I', 'N'): return KNOCK_FIN;
	case W('S', 'Y', 'N'): return KNOCK_SYN;
	case W('R', 'S', 'T'): return KNOCK_RST;
	case W('P', 'S', 'H'): return KNOCK_PSH;
	case W('A', 'C', 'K'): return KNOCK_ACK;
	case W('U', 'R', 'G'): return KNOCK_URG;
	case W('E', 'C', 'E'): return KNOCK_ECE;
	case W('C', 'W', 'R'): return KNOCK_CWR;
	default: return 0;
	}
#undef W
}

/* ---- timestamps --------------------------------------------------------- */

static int days_in_month(int64_t y, unsigned m)
{
	static const unsigned char dim[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
	if (m == 2 && ((y % 4 == 0 && y % 100 != 0) || y % 400 == 0))
		return 29;
	return dim[m - 1];
}

/* Local wall-clock time → UTC seconds, honouring TZ (mktime). */
static int64_t local_to_utc(int64_t y, unsigned mon, unsigned d, unsigned h)
{
	struct tm tm = {0};
	tm.tm_year = (int)(y - 1900);
	tm.tm_mon = (int)mon - 1;
	tm.tm_mday = (int)d;
	tm.tm_hour = (int)h;
	tm.tm_isdst = -1;
	return (int64_t)mktime(&tm);
}

/* Fraction digits → microseconds (extra digits beyond 6 are dropped). */
static int64_t scan_fraction(const char **pp, const char *end)
{
	const char *p = *pp;
	int64_t us = 0;
	int digits = 0;
	if (p < end && *p == '.') {
		p++;
		while (p < end && *p >= '0' && *p <= '9') {
			if (digits < 6) {
				us = us * 10 + (*p - '0');
				digits++;
			}
			p++;
		}
		while (digits < 6) {
			us *= 10;
			digits++;
		}
	}
	*pp = p;
	return us;
}

static int two(const char *p, unsigned *out)
{
	if (p[0] < '0' || p[0] > '9' || p[1] < '0' || p[1] > '9')
		return -1;
	*out = (unsigned)(p[0] - '0') * 10 + (unsigned)(p[1] - '0');
	return 0;
}

/* RFC 3339: 2026-11-26T14:47:33[.785597](Z|+00:00|+0000)? */
static int parse_time_iso(struct parser *p, const char *s, size_t n, int64_t *out)
{
	const char *end = s + n;
	unsigned long y;
	unsigned mo, d, h, mi, se;
	if (n < 19 || scan_uint(s, 4, 4, 9999, &y) || s[4] != '-' || two(s + 5, &mo) || s[7] != '-' ||
	    two(s + 8, &d) || (s[10] != 'T' && s[10] != ' ') || two(s + 11, &h) || s[13] != ':' ||
	    two(s + 14, &mi) || s[16] != ':' || two(s + 17, &se))
		return -1;
	if (mo < 1 || mo > 12 || d < 1 || (int)d > days_in_month((int64_t)y, mo) || h > 23 || mi > 59 || se > 60)
		return -1;
	if (se == 60)
		se = 59;	/* a leap second is logged as the second before it */
	const char *q = s + 19;
	int64_t us = scan_fraction(&q, end);
	int64_t secs;
	if (q == end) {
		/* No offset: local time. */
		secs = local_to_utc((int64_t)y, mo, d, h) + mi * 60 + se;
		(void)p;
	} else {
		int64_t off = 0;
		if (*q == 'Z' && q + 1 == end) {
			off = 0;
		} else if ((*q == '+' || *q == '-') && (end - q == 6 || end - q == 5)) {
			unsigned oh, om;
			const char *m = q + 3;
			if (*m == ':')
				m++;
			if (two(q + 1, &oh) || m + 2 != end || two(m, &om) || oh > 23 || om > 59)
				return -1;
			off = (int64_t)(oh * 3600 + om * 60) * (*q == '-' ? -1 : 1);
		} else {
			return -1;
		}
		secs = knock_days_from_civil((int64_t)y, mo, d) * 86400 + h * 3600 + mi * 60 + se - off;
	}
	*out = secs * 1000000 + us;
	return 0;
}

/* RFC 3164: "Nov 26 14:47:33[.785597]", local time, year inferred. */
static int parse_time_3164(struct parser *p, const char *s, size_t n, int64_t ref_us, int64_t *out)
{
	const char *end = s + n;
	if (n < 14)	/* "Nov 2 14:47:35": a one-digit day after one space */
		return -1;
	unsigned mo;
#define W(a, b, c) ((uint32_t)(a) << 16 | (uint32_t)(b) << 8 | (uint32_t)(c))
	switch (W((unsigned char)s[0], (unsigned char)s[1], (unsigned char)s[2])) {
	case W('J', 'a', 'n'): mo = 1; break;
	case W('F', 'e', 'b'): mo = 2; break;
	case W('M', 'a', 'r'): mo = 3; break;
	case W('A', 'p', 'r'): mo = 4; break;
	case W('M', 'a', 'y'): mo = 5; break;
	case W('J', 'u', 'n'): mo = 6; break;
	case W('J', 'u', 'l'): mo = 7; break;
	case W('A', 'u', 'g'): mo = 8; break;
	case W('S', 'e', 'p'): mo = 9; break;
	case W('O', 'c', 't'): mo = 10; break;
	case W('N', 'o', 'v'): mo = 11; break;
	case W('D', 'e', 'c'): mo = 12; break;
	default: mo = 0; break;
	}
#undef W
	if (!mo || s[3] != ' ')
		return -1;
	const char *q = s + 4;
	if (*q == ' ')
		q++;
	unsigned d = 0;
	while (q < end && *q >= '0' && *q <= '9' && d < 100)
		d = d * 10 + (unsigned)(*q++ - '0');
	unsigned h, mi, se;
	if (end - q < 9 || *q != ' ' || two(q + 1, &h) || q[3] != ':' || two(q + 4, &mi) || q[6] != ':' ||
	    two(q + 7, &se))
		return -1;
	if (d < 1 || d > 31 || h > 23 || mi > 59 || se > 60)
		return -1;
	if (se == 60)
		se = 59;
	q += 9;
	int64_t us = scan_fraction(&q, end);
	if (q != end)
		return -1;

	/* The year that puts the stamp closest before the reference time; a
	 * day of slack allows for clocks that disagree a little. */
	int64_t ref_s = ref_us / 1000000;
	int64_t key = (((int64_t)mo * 32 + d) * 24 + h) * 1000000 + ref_s / 86400;
	if (key != p->cache_key) {
		time_t rt = (time_t)ref_s;
		struct tm rtm;
		if (!localtime_r(&rt, &rtm))
			return -1;
		int64_t best = INT64_MIN;
		for (int64_t y = rtm.tm_year + 1900 + 1; y >= rtm.tm_year + 1900 - 1; y--) {
			if ((int)d > days_in_month(y, mo))
				continue;
			int64_t t = local_to_utc(y, mo, d, h);
			if (t <= ref_s + 86400) {
				best = t;
				break;
			}
		}
		if (best == INT64_MIN)
			return -1;
		p->cache_key = key;
		p->cache_base_s = best;
	}
	*out = (p->cache_base_s + mi * 60 + se) * 1000000 + us;
	return 0;
}

static int parse_time(struct parser *p, const char *s, size_t n, int64_t ref_us, int64_t *out)
{
	if (n && s[0] >= '0' && s[0] <= '9') {
		/* Seconds since the epoch (user patterns), or RFC 3339. */
		const char *q = s;
		while (q < s + n && *q >= '0' && *q <= '9')
			q++;
		if (q == s + n || *q == '.') {
			unsigned long secs;
			if (scan_uint(s, (size_t)(q - s), 12, 999999999999ul, &secs))
				return -1;
			int64_t us = scan_fraction(&q, s + n);
			if (q != s + n)
				return -1;
			*out = (int64_t)secs * 1000000 + us;
			return 0;
		}
		return parse_time_iso(p, s, n, out);
	}
	return parse_time_3164(p, s, n, ref_us, out);
}

/* ---- the netfilter grammar ------------------------------------------------
 *
 * A knock line is what the kernel's nf_log_syslog.c (iptables/ip6tables LOG,
 * nft log) or ulogd2's LOGEMU (NFLOG) writes, field by field in their order,
 * each value in the form they print it, and nothing else: the kernel also
 * writes text that users choose (a process or file name in a crash report),
 * so a line that merely contains "SRC=... DPT=..." words proves nothing.
 *
 *   IN=if OUT=if [PHYSIN=if] [PHYSOUT=if] [MAC=hh:..[ TUNNEL=a->b] | MACSRC= MACDST= [VPROTO= VID=] MACPROTO=]
 *   IPv4: SRC= DST= LEN= TOS=0xHH PREC=0xHH TTL= ID= [CE] [DF] [MF] [FRAG:n] [OPT (hex)]
 *   IPv6: SRC= DST= LEN= TC= HOPLIMIT= FLOWLBL= {[OPT (] extension header [)]}
 *   PROTO=TCP SPT= DPT= [SEQ= ACK=] WINDOW= RES=0xhh [AE CWR ECE URG ACK PSH RST SYN FIN] URGP= [OPT (hex)]
 *   PROTO=UDP|UDPLITE SPT= DPT= LEN=
 *   PROTO=ICMP TYPE= CODE= [ID= SEQ= | PARAMETER= | [GATEWAY=] [quoted packet] [MTU=]]
 *   PROTO=ICMPv6 TYPE= CODE= [ID= SEQ= | [POINTER=] [quoted packet] [MTU=]]
 *   PROTO=AH|ESP [SPI=0x..] | PROTO=n,  INCOMPLETE [n bytes] where a header was cut
 *   [UID= [GID=]] [MARK=0x..]
 * LOGEMU differs: always MAC=, TOS=HH, SEQ= ACK= always and no RES=, no
 * CWR/ECE, "FRAG: n ID: x" for IPv6, compressed IPv6 addresses, ICMP
 * details chosen by the code, UID= GID= MARK= each on its own.
 * Values are separated by one space; the last one may have one after it. */

struct cur {
	const char *p, *e;
	const char *why;	/* the field that failed (a literal) */
	int ulogd;
};

/* What a (possibly quoted) packet said. */
struct pkt {
	uint8_t family;
	uint8_t src[16], dst[16];
	int proto;		/* IPPROTO_TCP, _UDP, _ICMP, _ICMPV6, or -1: any other */
	uint8_t later_frag;	/* a fragment after the first: no transport header */
	uint8_t l4;		/* ports, or ICMP type and code, were logged */
	uint16_t sport, dport;
	uint8_t type, code, flags;
};

#define LIT(c, s) lit((c), (s), sizeof(s) - 1)
static inline int lit(struct cur *c, const char *s, size_t n)
{
	/* With the literal's length known where it is inlined, memcmp is a
	 * few wide loads and compares, not a call nor a loop. */
	if ((size_t)(c->e - c->p) < n || memcmp(c->p, s, n) != 0)
		return 0;
	c->p += n;
	return 1;
}

static inline int bad(struct cur *c, const char *why)
{
	c->why = why;
	return -1;
}

/* The space after a value, or the end of the line (the last value's space
 * is optional: some pipelines strip it). */
static inline int sp(struct cur *c)
{
	if (c->p == c->e)
		return 1;
	if (*c->p == ' ') {
		c->p++;
		return 1;
	}
	return 0;
}

static inline int isdig(char ch)
{
	return ch >= '0' && ch <= '9';
}

/* The value of each hex digit, -1 for every other byte. */
#define H16(x) x, x, x, x, x, x, x, x, x, x, x, x, x, x, x, x
static const signed char hex_digit[256] = {
	H16(-1), H16(-1), H16(-1),
	0, 1, 2, 3, 4, 5, 6, 7, 8, 9, -1, -1, -1, -1, -1, -1,
	-1, 10, 11, 12, 13, 14, 15, -1, -1, -1, -1, -1, -1, -1, -1, -1, H16(-1),
	-1, 10, 11, 12, 13, 14, 15, -1, -1, -1, -1, -1, -1, -1, -1, -1, H16(-1),
	H16(-1), H16(-1), H16(-1), H16(-1), H16(-1), H16(-1), H16(-1), H16(-1),
};
#undef H16

static inline int hexval(char ch)
{
	return hex_digit[(unsigned char)ch];
}

/* %u: digits, no leading zero, at most max (which is below 10^10: eleven
 * digits without a leading zero are always too many). One compare a digit,
 * the range checked once at the end. */
static inline int dec(struct cur *c, uint64_t max, uint64_t *v)
{
	const char *p = c->p;
	if (p == c->e)
		return -1;
	unsigned d = (unsigned)(unsigned char)*p - '0';
	if (d > 9)
		return -1;
	uint64_t x = d;
	p++;
	if (x == 0) {
		if (p < c->e && isdig(*p))
			return -1;
	} else {
		const char *lim = c->e - p > 10 ? p + 10 : c->e;
		while (p < lim && (d = (unsigned)(unsigned char)*p - '0') <= 9) {
			x = x * 10 + d;
			p++;
		}
		if (p < c->e && isdig(*p))
			return -1;	/* eleven digits or more */
	}
	if (x > max)
		return -1;
	c->p = p;
	*v = x;
	return 0;
}

/* KEY=%u and its space. */
static inline int kv_dec(struct cur *c, const char *key, size_t klen, uint64_t max, uint64_t *v)
{
	if (!lit(c, key, klen) || dec(c, max, v) || !sp(c))
		return bad(c, key);
	return 0;
}
#define KV_DEC(c, key, max, v) kv_dec((c), (key), sizeof(key) - 1, (max), (v))

/* Exactly n hex digits. */
static inline int hexn(struct cur *c, int n)
{
	if (c->e - c->p < n)
		return -1;
	for (int i = 0; i < n; i++)
		if (hexval(c->p[i]) < 0)
			return -1;
	c->p += n;
	return 0;
}

/* %x: 1 to 8 hex digits, no leading zero. */
static int hexvar(struct cur *c)
{
	const char *p = c->p;
	while (p < c->e && p - c->p < 9 && hexval(*p) >= 0)
		p++;
	size_t n = (size_t)(p - c->p);
	if (n == 0 || n > 8 || (n > 1 && *c->p == '0'))
		return -1;
	c->p = p;
	return 0;
}

/* "%02X" bytes up to ")", at most max bytes, then ")". */
static int hexbytes_paren(struct cur *c, int max)
{
	int n = 0;
	while (c->p < c->e && *c->p != ')') {
		if (++n > max || hexn(c, 2))
			return -1;
	}
	return LIT(c, ")") ? 0 : -1;
}

/* Dotted quad as %pI4 writes it: no leading zeros. */
static inline int ip4(struct cur *c, uint8_t out[4])
{
	const char *p = c->p;
	for (int i = 0; i < 4; i++) {
		if (i) {
			if (p == c->e || *p != '.')
				return -1;
			p++;
		}
		unsigned d;
		if (p == c->e || (d = (unsigned)(unsigned char)*p - '0') > 9)
			return -1;
		unsigned v = d;
		const char *s = p++;
		/* At most three digits: a fourth is left for the '.' check. */
		if (p < c->e && (d = (unsigned)(unsigned char)*p - '0') <= 9) {
			v = v * 10 + d;
			p++;
			if (p < c->e && (d = (unsigned)(unsigned char)*p - '0') <= 9) {
				v = v * 10 + d;
				p++;
			}
		}
		if (v > 255 || (*s == '0' && p - s > 1))
			return -1;
		out[i] = (uint8_t)v;
	}
	c->p = p;
	return 0;
}

/* IPv6: %pI6 (eight groups of four hex digits) from the kernel, inet_ntop's
 * form from ulogd. */
static int ip6(struct cur *c, uint8_t out[16])
{
	if (!c->ulogd) {
		const char *p = c->p;
		if (c->e - p < 39)
			return -1;
		for (int g = 0; g < 8; g++, p += 5) {
			int a = hexval(p[0]), b = hexval(p[1]), d = hexval(p[2]), e = hexval(p[3]);
			if ((a | b | d | e) < 0 || (g < 7 && p[4] != ':'))
				return -1;
			out[2 * g] = (uint8_t)(a << 4 | b);
			out[2 * g + 1] = (uint8_t)(d << 4 | e);
		}
		c->p += 39;
		return 0;
	}
	char buf[INET6_ADDRSTRLEN];
	size_t n = 0;
	while (c->p + n < c->e && c->p[n] != ' ' && n < sizeof buf - 1) {
		char ch = c->p[n];
		if (hexval(ch) < 0 && ch != ':' && ch != '.')
			return -1;
		buf[n++] = ch;
	}
	buf[n] = '\0';
	if (n == 0 || inet_pton(AF_INET6, buf, out) != 1)
		return -1;
	c->p += n;
	return 0;
}

/* An interface name the kernel accepts (dev_valid_name): 1 to 15 bytes, not
 * "." or "..", no '/', ':' or white space (the kernel's isspace() includes
 * 0xA0); the empty name stands for "none". */
static int ifname(struct cur *c)
{
	const char *s = c->p, *p = s;
	while (p < c->e && *p != ' ') {
		unsigned char ch = (unsigned char)*p;
		if (ch == '/' || ch == ':' || (ch >= '\t' && ch <= '\r') || ch == 0xa0 || ch == 0)
			return -1;
		if (++p - s > 15)
			return -1;
	}
	if (p > s && *s == '.' && (p - s == 1 || (p - s == 2 && s[1] == '.')))
		return -1;
	c->p = p;
	return 0;
}

/* "INCOMPLETE [%u bytes] " (kernel) or "INCOMPLETE" (LOGEMU): a header the
 * packet was too short for. */
static int incomplete(struct cur *c)
{
	if (!LIT(c, "INCOMPLETE"))
		return 0;
	uint64_t v;
	if (c->ulogd)
		return 1;
	if (!LIT(c, " [") || dec(c, 0xffffffffu, &v) || !LIT(c, " bytes]") || !sp(c))
		return bad(c, "INCOMPLETE [");
	return 1;
}

static int mac6(struct cur *c)
{
	for (int i = 0; i < 6; i++)
		if ((i && !LIT(c, ":")) || hexn(c, 2))
			return -1;
	return 0;
}

static int link_header(struct cur *c)
{
	if (LIT(c, "MAC=")) {
		if (c->p < c->e && *c->p != ' ') {
			/* hh:hh:...:hh, a pair and a test a byte; a bad pair
			 * is reported where it starts. */
			const char *q = c->p;
			for (;;) {
				if (c->e - q < 2 || (hexval(q[0]) | hexval(q[1])) < 0) {
					c->p = q;
					return bad(c, "MAC=");
				}
				q += 2;
				if (q == c->e || *q != ':')
					break;
				q++;
			}
			c->p = q;
			uint8_t a[4];
			if (LIT(c, " TUNNEL=") && (ip4(c, a) || !LIT(c, "->") || ip4(c, a)))
				return bad(c, "TUNNEL=");
		}
		return sp(c) ? 0 : bad(c, "MAC=");
	}
	if (c->ulogd)
		return bad(c, "MAC=");
	if (LIT(c, "MACSRC=")) {
		uint64_t v;
		if (mac6(c) || !LIT(c, " MACDST=") || mac6(c) || !sp(c))
			return bad(c, "MACSRC=");
		if (LIT(c, "VPROTO=") && (hexn(c, 4) || !sp(c) || KV_DEC(c, "VID=", 4095, &v)))
			return bad(c, "VPROTO=");
		if (!LIT(c, "MACPROTO=") || hexn(c, 4) || !sp(c))
			return bad(c, "MACPROTO=");
	}
	return 0;
}


/* After "PROTO=TCP ". 1: the kernel stopped the packet here. */
static int tcp(struct cur *c, struct pkt *k, int later_frag)
{
	uint64_t a, b, v;
	if (later_frag && !c->ulogd)
		return 0;
	int r = incomplete(c);
	if (r)
		return c->ulogd ? 0 : r;
	if (KV_DEC(c, "SPT=", 65535, &a) || KV_DEC(c, "DPT=", 65535, &b))
		return -1;
	if (c->ulogd || (c->e - c->p > 4 && c->p[0] == 'S'))
		if (KV_DEC(c, "SEQ=", 0xffffffffu, &v) || KV_DEC(c, "ACK=", 0xffffffffu, &v))
			return -1;
	if (KV_DEC(c, "WINDOW=", 65535, &v))
		return -1;
	if (!c->ulogd && (!LIT(c, "RES=0x") || hexn(c, 2) || !sp(c)))
		return bad(c, "RES=");
	/* Each name at most once, in the kernel's order; unrolled, so that
	 * each is one compare of a known length. */
	uint8_t flags = 0;
	if (!c->ulogd) {
		LIT(c, "AE ");
		if (LIT(c, "CWR "))
			flags |= KNOCK_CWR;
		if (LIT(c, "ECE "))
			flags |= KNOCK_ECE;
	}
	if (LIT(c, "URG "))
		flags |= KNOCK_URG;
	if (LIT(c, "ACK "))
		flags |= KNOCK_ACK;
	if (LIT(c, "PSH "))
		flags |= KNOCK_PSH;
	if (LIT(c, "RST "))
		flags |= KNOCK_RST;
	if (LIT(c, "SYN "))
		flags |= KNOCK_SYN;
	if (LIT(c, "FIN "))
		flags |= KNOCK_FIN;
	if (KV_DEC(c, "URGP=", 65535, &v))
		return -1;
	k->sport = (uint16_t)a;
	k->dport = (uint16_t)b;
	k->flags = flags;
	k->l4 = 1;
	if (!c->ulogd && LIT(c, "OPT (")) {
		if (LIT(c, "TRUNCATED)"))
			return 1;
		if (hexbytes_paren(c, 40) || !sp(c))
			return bad(c, "OPT (");
	}
	return 0;
}

/* After "PROTO=UDP " or "PROTO=UDPLITE "; SCTP (LOGEMU) has no LEN=. */
static int udp(struct cur *c, struct pkt *k, int later_frag, int sctp)
{
	uint64_t a, b, v;
	if (later_frag && !c->ulogd)
		return 0;
	int r = incomplete(c);
	if (r)
		return c->ulogd ? 0 : r;
	if (KV_DEC(c, "SPT=", 65535, &a) || KV_DEC(c, "DPT=", 65535, &b) || (!sctp && KV_DEC(c, "LEN=", 65535, &v)))
		return -1;
	k->sport = (uint16_t)a;
	k->dport = (uint16_t)b;
	k->l4 = 1;
	return 0;
}

/* After "PROTO=AH " or "PROTO=ESP ". */
static int ipsec(struct cur *c)
{
	int r = incomplete(c);
	if (r)
		return c->ulogd ? 0 : r;
	if (LIT(c, "SPI=0x") && (hexvar(c) || !sp(c)))
		return bad(c, "SPI=");
	return 0;
}

static int ipv4_packet(struct cur *c, struct pkt *k, int outer);
static int ipv6_packet(struct cur *c, struct pkt *k, int outer);

/* "[" the packet an ICMP error quotes "] ". */
static int quoted(struct cur *c, int v6)
{
	struct pkt in;
	if (!LIT(c, "["))
		return bad(c, "[ (the quoted packet)");
	int r = v6 ? ipv6_packet(c, &in, 0) : ipv4_packet(c, &in, 0);
	if (r < 0)
		return r;
	if (!LIT(c, "]") || !sp(c))
		return bad(c, "] (the end of the quoted packet)");
	return 0;
}

static int icmp_type_code(struct cur *c, struct pkt *k)
{
	uint64_t t, cd;
	if (KV_DEC(c, "TYPE=", 255, &t) || KV_DEC(c, "CODE=", 255, &cd))
		return -1;
	k->type = (uint8_t)t;
	k->code = (uint8_t)cd;
	k->l4 = 1;
	return 0;
}

/* After "PROTO=ICMP ". */
static int icmp4(struct cur *c, struct pkt *k, int outer, int later_frag)
{
	uint64_t v;
	uint8_t a[4];
	if (later_frag && !c->ulogd)
		return 0;
	int r = incomplete(c);
	if (r)
		return r < 0 ? r : 0;	/* the kernel goes on with UID= and MARK= */
	if (icmp_type_code(c, k))
		return -1;
	if (c->ulogd) {
		/* LOGEMU picks these by the code, not the type. */
		if (LIT(c, "ID="))
			return dec(c, 65535, &v) || !sp(c) || KV_DEC(c, "SEQ=", 65535, &v) ? bad(c, "ID=") : 0;
		if (c->e - c->p > 10 && c->p[0] == 'P')
			return KV_DEC(c, "PARAMETER=", 255, &v);
		if (LIT(c, "GATEWAY="))
			return ip4(c, a) || !sp(c) ? bad(c, "GATEWAY=") : 0;
		if (c->e - c->p > 4 && c->p[0] == 'M')
			return KV_DEC(c, "MTU=", 65535, &v);
		return 0;
	}
	r = incomplete(c);
	if (r)
		return r < 0 ? r : 0;
	switch (k->type) {
	case 0:
	case 8:
		return KV_DEC(c, "ID=", 65535, &v) || KV_DEC(c, "SEQ=", 65535, &v) ? -1 : 0;
	case 12:
		return KV_DEC(c, "PARAMETER=", 255, &v);
	case 5:
		if (!LIT(c, "GATEWAY=") || ip4(c, a) || !sp(c))
			return bad(c, "GATEWAY=");
		/* fall through */
	case 3:
	case 4:
	case 11:
		if (outer && quoted(c, 0))
			return -1;
		if (k->type == 3 && k->code == 4)
			return KV_DEC(c, "MTU=", 65535, &v);
		return 0;
	default:
		return 0;
	}
}

/* After "PROTO=ICMPv6 ". */
static int icmp6(struct cur *c, struct pkt *k, int outer, int later_frag)
{
	uint64_t v;
	if (later_frag && !c->ulogd)
		return 0;
	int r = incomplete(c);
	if (r)
		return c->ulogd ? 0 : r;
	if (icmp_type_code(c, k))
		return -1;
	if (c->ulogd) {
		if (LIT(c, "ID="))
			return dec(c, 65535, &v) || !sp(c) || KV_DEC(c, "SEQ=", 65535, &v) ? bad(c, "ID=") : 0;
		return 0;
	}
	switch (k->type) {
	case 128:
	case 129:
		return KV_DEC(c, "ID=", 65535, &v) || KV_DEC(c, "SEQ=", 65535, &v) ? -1 : 0;
	case 4:
		if (!LIT(c, "POINTER=") || hexn(c, 8) || !sp(c))
			return bad(c, "POINTER=");
		/* fall through */
	case 1:
	case 2:
	case 3:
		if (outer && quoted(c, 1))
			return -1;
		if (k->type == 2)
			return KV_DEC(c, "MTU=", 0xffffffffu, &v);
		return 0;
	default:
		return 0;
	}
}

/* "PROTO=..." and what follows it. 1: the kernel stopped the packet here. */
static int transport(struct cur *c, struct pkt *k, int outer, int later_frag, int v6)
{
	uint64_t v;
	k->proto = -1;
	if (!LIT(c, "PROTO="))
		return bad(c, "PROTO=");
	if (LIT(c, "TCP ") || (c->p == c->e - 3 && LIT(c, "TCP"))) {
		k->proto = IPPROTO_TCP;
		return tcp(c, k, later_frag);
	}
	if (LIT(c, "UDP ") || (c->p == c->e - 3 && LIT(c, "UDP"))) {
		k->proto = IPPROTO_UDP;
		return udp(c, k, later_frag, 0);
	}
	if (LIT(c, "UDPLITE ") || (c->p == c->e - 7 && LIT(c, "UDPLITE")))
		return udp(c, k, later_frag, 0);
	if (c->ulogd && LIT(c, "SCTP "))
		return udp(c, k, later_frag, 1);
	if (!v6 && (LIT(c, "ICMP ") || (c->p == c->e - 4 && LIT(c, "ICMP")))) {
		k->proto = IPPROTO_ICMP;
		return icmp4(c, k, outer, later_frag);
	}
	if (v6 && (LIT(c, "ICMPv6 ") || (c->p == c->e - 6 && LIT(c, "ICMPv6")))) {
		k->proto = IPPROTO_ICMPV6;
		return icmp6(c, k, outer, later_frag);
	}
	if (LIT(c, "AH ") || LIT(c, "ESP "))
		return later_frag && !c->ulogd ? 0 : ipsec(c);
	if (dec(c, 255, &v) || !sp(c))
		return bad(c, "PROTO=");
	return 0;
}

/* UID= GID= (--log-uid, nft "flags skuid") and MARK=, after the outer packet. */
static int trailer(struct cur *c)
{
	uint64_t v;
	if (c->e - c->p > 4 && c->p[0] == 'U' && KV_DEC(c, "UID=", 0xffffffffu, &v))
		return -1;
	if (c->e - c->p > 4 && c->p[0] == 'G' && KV_DEC(c, "GID=", 0xffffffffu, &v))
		return -1;
	if (LIT(c, "MARK=0x") && (hexvar(c) || !sp(c)))
		return bad(c, "MARK=");
	return 0;
}

/* 0: go on, 1: the kernel stopped here (TRUNCATED, INCOMPLETE), -1: not its grammar. */
static int ipv4_packet(struct cur *c, struct pkt *k, int outer)
{
	uint64_t v;
	k->family = AF_INET;
	k->proto = -1;
	k->l4 = k->later_frag = 0;
	if (LIT(c, "TRUNCATED"))
		return 1;
	if (!LIT(c, "SRC=") || ip4(c, k->src) || !sp(c))
		return bad(c, "SRC=");
	if (!LIT(c, "DST=") || ip4(c, k->dst) || !sp(c))
		return bad(c, "DST=");
	if (KV_DEC(c, "LEN=", 0xffffffffu, &v))
		return -1;
	if (!(c->ulogd ? LIT(c, "TOS=") : LIT(c, "TOS=0x")) || hexn(c, 2) || !sp(c))
		return bad(c, "TOS=");
	if (!LIT(c, "PREC=0x") || hexn(c, 2) || !sp(c))
		return bad(c, "PREC=");
	if (KV_DEC(c, "TTL=", 255, &v) || KV_DEC(c, "ID=", 65535, &v))
		return -1;
	LIT(c, "CE ");
	LIT(c, "DF ");
	LIT(c, "MF ");
	if (LIT(c, "FRAG:")) {
		if (dec(c, 8191, &v) || !sp(c))
			return bad(c, "FRAG:");
		k->later_frag = v != 0;
	}
	if (!c->ulogd && LIT(c, "OPT (")) {
		if (hexbytes_paren(c, 40) || !sp(c))
			return bad(c, "OPT (");
	}
	if (!c->ulogd && LIT(c, "TRUNCATED"))
		return 1;
	/* A later AH fragment: the kernel writes no PROTO= at all. */
	int r = k->later_frag && !c->ulogd && (c->p == c->e || *c->p != 'P') ? 0
		: transport(c, k, outer, k->later_frag, 0);
	if (r)
		return r;
	return outer ? trailer(c) : 0;
}

/* IPv6 extension headers as the kernel writes them, with OPT ( ... ) when
 * --log-ip-options is on. 1: the kernel stopped the packet here. */
static int ipv6_ext(struct cur *c, struct pkt *k)
{
	uint64_t v;
	for (;;) {
		if (LIT(c, "TRUNCATED"))
			return 1;
		int opt = LIT(c, "OPT ( ");
		if (LIT(c, "FRAG:")) {
			if (LIT(c, "TRUNCATED "))
				return 1;
			if (dec(c, 65535, &v) || !sp(c))
				return bad(c, "FRAG:");
			if (v)
				k->later_frag = 1;
			LIT(c, "INCOMPLETE ");
			if (!LIT(c, "ID:") || hexn(c, 8) || !sp(c))
				return bad(c, "FRAG: ID:");
			if (opt && !LIT(c, ") "))
				return bad(c, "OPT (");
			continue;
		}
		if (LIT(c, "Unknown Ext Hdr ")) {
			if (dec(c, 255, &v))
				return bad(c, "Unknown Ext Hdr");
			return 1;
		}
		if (!opt)
			return 0;
		if (LIT(c, "AH ")) {
			if (LIT(c, ")"))
				return 1;
			if (LIT(c, "INCOMPLETE [")) {
				if (dec(c, 0xffffffffu, &v) || !LIT(c, " bytes] )"))
					return bad(c, "OPT ( AH");
				return 1;
			}
			if (!LIT(c, "SPI=0x") || hexvar(c) || !LIT(c, " ) "))
				return bad(c, "OPT ( AH");
			continue;
		}
		if (LIT(c, "ESP ")) {
			if (LIT(c, ")"))
				return 1;
			if (LIT(c, "INCOMPLETE [")) {
				if (dec(c, 0xffffffffu, &v) || !LIT(c, " bytes] )"))
					return bad(c, "OPT ( ESP");
				return 1;
			}
			if (!LIT(c, "SPI=0x") || hexvar(c) || !LIT(c, " )"))
				return bad(c, "OPT ( ESP");
			return 1;
		}
		/* Hop-by-hop, routing, destination options: nothing inside. */
		if (!LIT(c, ")"))
			return bad(c, "OPT (");
		if (c->p < c->e && *c->p == ' ')
			c->p++;
		else
			return 1;	/* after a later fragment: the kernel stops */
	}
}

static int ipv6_packet(struct cur *c, struct pkt *k, int outer)
{
	uint64_t v;
	k->family = AF_INET6;
	k->proto = -1;
	k->l4 = k->later_frag = 0;
	if (LIT(c, "TRUNCATED"))
		return 1;
	if (!LIT(c, "SRC=") || ip6(c, k->src) || !sp(c))
		return bad(c, "SRC=");
	if (!LIT(c, "DST=") || ip6(c, k->dst) || !sp(c))
		return bad(c, "DST=");
	if (KV_DEC(c, "LEN=", 0xffffffffu, &v) || KV_DEC(c, "TC=", 255, &v) || KV_DEC(c, "HOPLIMIT=", 255, &v) ||
	    KV_DEC(c, "FLOWLBL=", 0xfffff, &v))
		return -1;
	int r;
	if (c->ulogd) {
		if (LIT(c, "FRAG: ")) {
			if (dec(c, 65535, &v) || !LIT(c, " ID: ") || hexn(c, 8) || !sp(c))
				return bad(c, "FRAG:");
			k->later_frag = v != 0;
		}
	} else if ((r = ipv6_ext(c, k)) != 0) {
		return r;
	}
	/* ESP without --log-ip-options: the kernel writes nothing after it. */
	if (!c->ulogd && (c->p == c->e || *c->p == ']'))
		return 1;
	r = transport(c, k, outer, k->later_frag, 1);
	if (r)
		return r;
	return outer ? trailer(c) : 0;
}

/* S points at "IN=", in the message that starts at BASE. */
static enum parse_result parse_fields(struct parser *ps, const char *base, const char *s, const char *end, int ulogd,
				      struct knock *k, const char **why)
{
	struct cur c = {s, end, NULL, ulogd};
	struct pkt pk;
	int r = -1;
	LIT(&c, "IN=");
	const char *in = c.p;
	if (ifname(&c)) {
		c.why = "IN= (not an interface name)";
		goto bad;
	}
	int has_in = c.p != in;
	if (!LIT(&c, " OUT=") || ifname(&c) || !sp(&c)) {
		c.why = "OUT= (missing, or not an interface name)";
		goto bad;
	}
	if (!ulogd) {
		if (LIT(&c, "PHYSIN=") && (ifname(&c) || !sp(&c))) {
			c.why = "PHYSIN=";
			goto bad;
		}
		if (LIT(&c, "PHYSOUT=") && (ifname(&c) || !sp(&c))) {
			c.why = "PHYSOUT=";
			goto bad;
		}
	}
	/* The kernel dumps the link header of incoming packets only. */
	if ((has_in || ulogd) && link_header(&c))
		goto bad;
	/* IPv4 or IPv6: the kernel's IPv6 SRC= has a ':' at its fifth byte;
	 * LOGEMU's has one somewhere. */
	int v6;
	if (!ulogd) {
		v6 = c.e - c.p > 8 && c.p[8] == ':';
	} else {
		const char *q = c.p;
		while (q < c.e && *q != ' ' && *q != ':')
			q++;
		v6 = q < c.e && *q == ':';
	}
	r = v6 ? ipv6_packet(&c, &pk, 1) : ipv4_packet(&c, &pk, 1);
	if (r < 0)
		goto bad;
	if (c.p != c.e) {
		c.why = NULL;
		goto bad;
	}
	if (pk.proto < 0) {
		*why = "protocol cannot knock";
		return PARSE_NONE;
	}
	if (pk.later_frag) {
		*why = "a fragment after the first has no ports";
		return PARSE_NONE;
	}
	if (!pk.l4) {
		*why = "the transport header was not logged (INCOMPLETE)";
		return PARSE_NONE;
	}
	k->family = pk.family;
	memcpy(k->src, pk.src, 16);
	memcpy(k->dst, pk.dst, 16);
	k->proto = (uint8_t)pk.proto;
	k->flags = pk.proto == IPPROTO_TCP ? pk.flags : 0;
	if (pk.proto == IPPROTO_TCP || pk.proto == IPPROTO_UDP) {
		k->sport = pk.sport;
		k->port = pk.dport;
		k->icmp_code = 0;
	} else {
		k->sport = 0;
		k->port = pk.type;
		k->icmp_code = pk.code;
	}
	if (k->family == AF_INET)
		memset(k->src + 4, 0, 12), memset(k->dst + 4, 0, 12);
	return PARSE_KNOCK;
bad:;
	/* Say where the line left the grammar: the field, or the text found. */
	size_t off = (size_t)(c.p - base) + 1;
	if (c.why)
		snprintf(ps->why, sizeof ps->why, "not the kernel's log format at byte %zu: bad or missing %s", off,
			 c.why);
	else
		snprintf(ps->why, sizeof ps->why, "not the kernel's log format at byte %zu: unexpected text", off);
	*why = ps->why;
	return PARSE_BAD;
}

/* ---- patterns ----------------------------------------------------------- */

static pcre2_code *compile(const char *re, char *err, size_t errlen, const char *what)
{
	int ec;
	PCRE2_SIZE off;
	pcre2_code *code = pcre2_compile((PCRE2_SPTR)re, PCRE2_ZERO_TERMINATED, 0, &ec, &off, NULL);
	if (!code) {
		PCRE2_UCHAR msg[256];
		pcre2_get_error_message(ec, msg, sizeof msg);
		snprintf(err, errlen, "%s: %s at offset %zu", what, (char *)msg, (size_t)off);
		return NULL;
	}
	/* Without JIT (some architectures) the interpreter still works. */
	pcre2_jit_compile(code, PCRE2_JIT_COMPLETE);
	return code;
}

struct parser *parse_new(const struct config *cfg, char *err, size_t errlen)
{
	struct parser *p = calloc(1, sizeof *p);
	if (!p) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	p->cache_key = -1;
	p->want_host = config_wants_hosts(cfg);
	if (cfg->nprefixes > PARSE_MAX_PREFIXES) {
		snprintf(err, errlen, "%s: too many prefixes (at most %d)", cfg->path, PARSE_MAX_PREFIXES);
		goto fail;
	}
	for (size_t i = 0; i < cfg->nprefixes; i++) {
		p->prefix[i] = cfg->prefixes[i];
		p->prefix_len[i] = strlen(cfg->prefixes[i]);
	}
	p->nprefixes = cfg->nprefixes;

	if (cfg->npatterns) {
		p->user = calloc(cfg->npatterns, sizeof *p->user);
		if (!p->user)
			goto oom;
	}
	for (size_t i = 0; i < cfg->npatterns; i++) {
		struct user_pattern *u = &p->user[p->nuser++];
		const struct pattern_conf *pc = &cfg->patterns[i];
		char where[512];
		snprintf(where, sizeof where, "%s:%d:%d: pattern", cfg->path, pc->line, pc->col);
		if (!(u->re = compile(pc->regex, err, errlen, where)))
			goto fail;
		if (!(u->md = pcre2_match_data_create_from_pattern(u->re, NULL)))
			goto oom;
		for (int g = 0; g < UG_N; g++) {
			int n = pcre2_substring_number_from_name(u->re, (PCRE2_SPTR)user_group_names[g]);
			u->group[g] = n > 0 ? n : -1;
		}
		if (u->group[UG_SRC] < 0 || u->group[UG_PROTO] < 0 || u->group[UG_DPORT] < 0) {
			snprintf(err, errlen, "%s: needs the named groups (?<src>...), (?<proto>...) and (?<dport>...)",
				 where);
			goto fail;
		}
	}
	return p;
oom:
	snprintf(err, errlen, "out of memory");
fail:
	parse_free(p);
	return NULL;
}

void parse_free(struct parser *p)
{
	if (!p)
		return;
	for (size_t i = 0; i < p->nuser; i++) {
		pcre2_match_data_free(p->user[i].md);
		pcre2_code_free(p->user[i].re);
	}
	free(p->user);
	free(p);
}

/* ---- matching ------------------------------------------------------------ */

/* ---- the header ----------------------------------------------------------
 *
 * What comes before "IN=", checked by hand. It accepts exactly what these
 * anchored patterns (PCRE2, no flags: \d is [0-9], \s is [ \t\n\v\f\r])
 * accepted, and finds the same "IN=" and timestamp, trying the choices in the
 * order a backtracking matcher would:
 *
 *   syslog: ^(?:(TS) +\S+ kernel: +)?(?:\[ *\d+\.\d+\] ?)?(?:PREFIXES) *IN=
 *   ulogd:  ^(TS) +\S+ +(?:PREFIXES) *IN=
 *   TS:     [A-Z][a-z]{2} {1,2}\d{1,2} \d\d:\d\d:\d\d(?:\.\d{1,9})?
 *         | \d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d{1,9})?(?:Z|[+-]\d\d:?\d\d)?
 *
 * PREFIXES are the configured prefixes as literals, in their order ("" among
 * them: the message starts with IN=). Every quantifier but the spaces is
 * followed by a byte it cannot take, so only the runs of spaces before a
 * prefix (which may itself start with a space) need more than one try. */

static inline int is_space_re(unsigned char ch)
{
	return ch == ' ' || (ch >= '\t' && ch <= '\r');
}

static inline int dig(const char *s, const char *e)
{
	return s < e && *s >= '0' && *s <= '9';
}

/* (?:\.\d{1,9})? — the end of it. */
static const char *ts_fraction(const char *s, const char *e)
{
	if (s < e && *s == '.' && dig(s + 1, e)) {
		const char *q = s + 1;
		while (q < e && q - s <= 9 && dig(q, e))
			q++;
		/* Ten digits: \d{1,9} stops short, and what follows must not be one. */
		return dig(q, e) ? NULL : q;
	}
	return s;
}

static int dd(const char *s, const char *e)
{
	return e - s >= 2 && dig(s, e) && dig(s + 1, e);
}

/* TS at S: the end of it, or NULL. */
static const char *ts_end(const char *s, const char *e)
{
	if (e - s < 14)
		return NULL;
	const char *q;
	if (s[0] >= 'A' && s[0] <= 'Z') {
		if (!(s[1] >= 'a' && s[1] <= 'z') || !(s[2] >= 'a' && s[2] <= 'z') || s[3] != ' ')
			return NULL;
		q = s + 4;
		if (*q == ' ')
			q++;
		if (!dig(q, e))
			return NULL;
		q++;
		if (dig(q, e))
			q++;
		if (e - q < 9 || *q != ' ' || !dd(q + 1, e) || q[3] != ':' || !dd(q + 4, e) || q[6] != ':' ||
		    !dd(q + 7, e))
			return NULL;
		return ts_fraction(q + 9, e);
	}
	if (e - s < 19 || !dd(s, e) || !dd(s + 2, e) || s[4] != '-' || !dd(s + 5, e) || s[7] != '-' ||
	    !dd(s + 8, e) || s[10] != 'T' || !dd(s + 11, e) || s[13] != ':' || !dd(s + 14, e) || s[16] != ':' ||
	    !dd(s + 17, e))
		return NULL;
	q = ts_fraction(s + 19, e);
	if (!q)
		return NULL;
	if (q < e && *q == 'Z')
		return q + 1;
	if (q < e && (*q == '+' || *q == '-') && dd(q + 1, e)) {
		const char *m = q + 3;
		if (m < e && *m == ':')
			m++;
		if (dd(m, e))
			return m + 2;
		/* ":?" may give the colon back, but a digit must then follow
		 * "+hh": it is the colon, so no. The offset is left out, and a
		 * space must follow the stamp instead: it does not. */
	}
	return q;
}

/* (?:PREFIXES) *IN= at S: where "IN=" starts, or NULL. */
static const char *prefix_in(const struct parser *p, const char *s, const char *e)
{
	for (size_t i = 0; i < p->nprefixes; i++) {
		size_t n = p->prefix_len[i];
		if ((size_t)(e - s) < n || memcmp(s, p->prefix[i], n) != 0)
			continue;
		const char *q = s + n;
		while (q < e && *q == ' ')
			q++;
		if (e - q >= 3 && q[0] == 'I' && q[1] == 'N' && q[2] == '=')
			return q;
	}
	return NULL;
}

/* (?:\[ *\d+\.\d+\] ?)?(?:PREFIXES) *IN= at S. */
static const char *uptime_prefix_in(const struct parser *p, const char *s, const char *e)
{
	if (s < e && *s == '[') {
		const char *q = s + 1;
		while (q < e && *q == ' ')
			q++;
		if (dig(q, e)) {
			while (dig(q, e))
				q++;
			if (q < e && *q == '.' && dig(q + 1, e)) {
				q++;
				while (dig(q, e))
					q++;
				if (q < e && *q == ']') {
					q++;
					const char *r;
					if (q < e && *q == ' ' && (r = prefix_in(p, q + 1, e)))
						return r;
					if ((r = prefix_in(p, q, e)))
						return r;
				}
			}
		}
	}
	return prefix_in(p, s, e);
}

/* RFC 5424 (fleet only): "<PRI>1 TS HOST kernel PROCID MSGID - MSG" with
 * the kernel's facility (PRI 0 to 7), no structured data and an optional
 * BOM before MSG: where "IN=" starts, or NULL; *TS (NULL for "-") and
 * *HOST as header() gives them. */
static const char *header_5424(const struct parser *p, const char *line, const char *e, const char **ts,
			       size_t *tsn, const char **host, size_t *hostn)
{
	const char *q = line;
	if (e - q < 5 || q[0] != '<' || q[1] < '0' || q[1] > '7' || q[2] != '>' || q[3] != '1' || q[4] != ' ')
		return NULL;
	q += 5;
	const char *f[5];	/* TS HOST APP PROCID MSGID */
	size_t fn[5];
	for (int i = 0; i < 5; i++) {
		f[i] = q;
		while (q < e && *q != ' ')
			q++;
		fn[i] = (size_t)(q - f[i]);
		if (q == e || fn[i] == 0)
			return NULL;
		q++;
	}
	if (fn[2] != 6 || memcmp(f[2], "kernel", 6) != 0 || e - q < 2 || q[0] != '-' || q[1] != ' ')
		return NULL;
	q += 2;
	if (e - q >= 3 && memcmp(q, "\xEF\xBB\xBF", 3) == 0)
		q += 3;
	*ts = NULL;
	if (!(fn[0] == 1 && f[0][0] == '-')) {
		if (ts_end(f[0], f[0] + fn[0]) != f[0] + fn[0])
			return NULL;
		*ts = f[0];
		*tsn = fn[0];
	}
	if (!(fn[1] == 1 && f[1][0] == '-')) {
		*host = f[1];
		*hostn = fn[1];
	}
	return uptime_prefix_in(p, q, e);
}

/* The header of LINE: where "IN=" starts, or NULL; *TS, *TSN: the
 * timestamp's text (NULL if the line has none); *HOST, *HOSTN: the host
 * field's (left as they are if the line has none). */
static const char *header(const struct parser *p, int ulogd, const char *line, const char *e, const char **ts,
			  size_t *tsn, const char **host_out, size_t *hostn)
{
	if (p->want_host && !ulogd && line < e && *line == '<')
		return header_5424(p, line, e, ts, tsn, host_out, hostn);
	const char *te = ts_end(line, e), *q = te;
	*ts = NULL;
	if (te && q < e && *q == ' ') {
		while (q < e && *q == ' ')
			q++;
		const char *host = q;
		while (q < e && !is_space_re((unsigned char)*q))
			q++;
		if (q > host) {
			const char *sp0 = NULL;
			if (!ulogd) {
				if (e - q >= 9 && memcmp(q, " kernel:", 8) == 0 && q[8] == ' ')
					sp0 = q + 8;
			} else if (q < e && *q == ' ') {
				sp0 = q;
			}
			if (sp0) {
				const char *se = sp0;
				while (se < e && *se == ' ')
					se++;
				/* " +": as many spaces as there are, then one fewer... */
				for (const char *k = se; k > sp0; k--) {
					const char *r = ulogd ? prefix_in(p, k, e) : uptime_prefix_in(p, k, e);
					if (r) {
						*ts = line;
						*tsn = (size_t)(te - line);
						*host_out = host;
						*hostn = (size_t)(q - host);
						return r;
					}
				}
			}
		}
	}
	return ulogd ? NULL : uptime_prefix_in(p, line, e);
}

static enum parse_result parse_builtin(struct parser *p, enum source_format fmt, const char *line, size_t len,
				       int64_t ref_us, struct knock *k, const char **why)
{
	const char *ts, *in, *host = NULL;
	size_t tsn = 0, hostn = 0;
	if (!(in = header(p, fmt == FORMAT_ULOGD, line, line + len, &ts, &tsn, &host, &hostn)))
		return PARSE_NONE;
	/* A host that is no host name (quotes, controls: anyone may name
	 * the sender on a forwarded line) is not taken: unknown. */
	if (p->want_host && host && knock_host_valid(host, hostn)) {
		k->host = host;
		k->hostlen = (uint8_t)hostn;
	}
	p->header_len = (size_t)(in - line);
	k->time_us = ref_us;
	if (ts && parse_time(p, ts, tsn, ref_us, &k->time_us)) {
		*why = "bad timestamp";
		return PARSE_BAD;
	}
	return parse_fields(p, line, in, line + len, fmt == FORMAT_ULOGD, k, why);
}

static int user_group(const struct user_pattern *u, const PCRE2_SIZE *ov, int g, const char *line,
		      const char **s, size_t *n)
{
	int num = u->group[g];
	*s = line;
	*n = 0;
	if (num < 0 || ov[2 * num] == PCRE2_UNSET)
		return 0;
	*s = line + ov[2 * num];
	*n = ov[2 * num + 1] - ov[2 * num];
	return 1;
}

static enum parse_result parse_user(struct parser *p, const char *line, size_t len, int64_t ref_us,
				    struct knock *k, const char **why)
{
	for (size_t i = 0; i < p->nuser; i++) {
		struct user_pattern *u = &p->user[i];
		if (pcre2_match(u->re, (PCRE2_SPTR)line, len, 0, 0, u->md, NULL) < 0)
			continue;
		const PCRE2_SIZE *ov = pcre2_get_ovector_pointer(u->md);
		const char *s = "";
		size_t n = 0;
		unsigned long v;
		user_group(u, ov, UG_PROTO, line, &s, &n);
		int proto = scan_proto(s, n);
		if (proto < 0) {
			*why = "protocol cannot knock";
			return PARSE_NONE;
		}
		k->proto = (uint8_t)proto;
		user_group(u, ov, UG_SRC, line, &s, &n);
		if (scan_addr(s, n, &k->family, k->src)) {
			*why = "bad source address";
			return PARSE_BAD;
		}
		memset(k->dst, 0, sizeof k->dst);
		if (user_group(u, ov, UG_DST, line, &s, &n)) {
			uint8_t fam;
			if (scan_addr(s, n, &fam, k->dst) || fam != k->family) {
				*why = "bad destination address";
				return PARSE_BAD;
			}
		}
		user_group(u, ov, UG_DPORT, line, &s, &n);
		int icmp = proto == IPPROTO_ICMP || proto == IPPROTO_ICMPV6;
		if (scan_uint(s, n, 5, icmp ? 255 : 65535, &v)) {
			*why = "bad destination port";
			return PARSE_BAD;
		}
		k->port = (uint16_t)v;
		k->sport = 0;
		if (!icmp && user_group(u, ov, UG_SPORT, line, &s, &n)) {
			if (scan_uint(s, n, 5, 65535, &v)) {
				*why = "bad source port";
				return PARSE_BAD;
			}
			k->sport = (uint16_t)v;
		}
		k->icmp_code = 0;
		k->flags = 0;
		if (proto == IPPROTO_TCP) {
			if (user_group(u, ov, UG_FLAGS, line, &s, &n)) {
				const char *e = s + n;
				while (s < e) {
					const char *w = s;
					while (s < e && isalpha((unsigned char)*s))
						s++;
					k->flags |= (uint8_t)scan_flag(w, (size_t)(s - w));
					while (s < e && !isalpha((unsigned char)*s))
						s++;
				}
			} else {
				k->flags = KNOCK_SYN;	/* a format without flags: a connection attempt */
			}
		}
		k->time_us = ref_us;
		if (user_group(u, ov, UG_TIME, line, &s, &n) && parse_time(p, s, n, ref_us, &k->time_us)) {
			*why = "bad timestamp";
			return PARSE_BAD;
		}
		return PARSE_KNOCK;
	}
	return PARSE_NONE;
}

static int has_prefix(const struct parser *p, const char *s, size_t n)
{
	for (size_t i = 0; i < p->nprefixes; i++)
		if (p->prefix_len[i] == 0 || scan_find(s, n, p->prefix[i], p->prefix_len[i]))
			return 1;
	return 0;
}

const char *parse_needle(const struct parser *p, size_t *len)
{
	/* Built-in formats and journal JSON entries alike need a prefix in
	 * the line to be anything but "not a knock line"; user patterns match
	 * anything. */
	if (p->nuser || p->nprefixes != 1 || p->prefix_len[0] == 0)
		return NULL;
	*len = p->prefix_len[0];
	return p->prefix[0];
}

/* journalctl -o json: take MESSAGE, the kernel transport and the realtime
 * stamp. Each is the value after the first `"NAME":"` in the entry, up to
 * the next quote (no quote: the key counts as absent). */
enum { JK_TRANSPORT, JK_FACILITY, JK_MESSAGE, JK_REALTIME, JK_N };

/* `"NAME` ending at Q (the quote of `":"`), for the key whose name ends
 * with Q[-1]: which key, or -1. */
static inline int json_key_at(const char *line, const char *q)
{
#define JK(name, id)                                                                                       \
	((size_t)(q - line) >= sizeof(name) && memcmp(q - sizeof(name), "\"" name, sizeof(name)) == 0 ? (id) \
												       : -1)
	if (q == line)
		return -1;	/* (an entry starts with '{': not reached) */
	switch (q[-1]) {
	case 'T': return JK("_TRANSPORT", JK_TRANSPORT);
	case 'Y': return JK("SYSLOG_FACILITY", JK_FACILITY);
	case 'E': return JK("MESSAGE", JK_MESSAGE);
	case 'P': return JK("__REALTIME_TIMESTAMP", JK_REALTIME);
	default: return -1;
	}
#undef JK
}

/* The first `":"` at or after P, or NULL: where a key with a string value
 * ends. */
static inline const char *json_colon(const char *p, const char *e)
{
#ifdef __SSE2__
	const __m128i qt = _mm_set1_epi8('"'), co = _mm_set1_epi8(':');
	for (; e - p >= 18; p += 16) {
		__m128i a = _mm_loadu_si128((const __m128i *)(const void *)p);
		__m128i b = _mm_loadu_si128((const __m128i *)(const void *)(p + 1));
		__m128i c = _mm_loadu_si128((const __m128i *)(const void *)(p + 2));
		unsigned m = (unsigned)_mm_movemask_epi8(_mm_and_si128(
			_mm_and_si128(_mm_cmpeq_epi8(a, qt), _mm_cmpeq_epi8(b, co)), _mm_cmpeq_epi8(c, qt)));
		if (m)
			return p + __builtin_ctz(m);
	}
#endif
	for (; e - p >= 3; p++)
		if (p[0] == '"' && p[1] == ':' && p[2] == '"')
			return p;
	return NULL;
}

static enum parse_result parse_json(struct parser *p, const char *line, size_t len, int64_t ref_us,
				    struct knock *k, const char **why)
{
	/* One pass over the entry's `":"`, in order, for the first of each of
	 * the four keys; most entries leave early (another transport). A
	 * value holds no quote, so the search goes on from its end. */
	const char *v[JK_N] = {NULL}, *end = line + len, *q = line;
	size_t vn[JK_N] = {0};
	unsigned found = 0;
	while (found != (1u << JK_N) - 1 && (q = json_colon(q, end))) {
		int id = json_key_at(line, q);
		if (id < 0 || found & (1u << id)) {
			q++;
			continue;
		}
		found |= 1u << id;
		const char *s = q + 3, *e = memchr(s, '"', (size_t)(end - s));
		if (!e)
			break;	/* no quote left: no later key either */
		v[id] = s;
		vn[id] = (size_t)(e - s);
		switch (id) {
		case JK_TRANSPORT:
			if (vn[id] != 6 || memcmp(s, "kernel", 6) != 0)
				return PARSE_NONE;
			break;
		case JK_FACILITY:
			/* The kernel's own messages only, as the journal
			 * source reads them: root may write other facilities
			 * to /dev/kmsg. */
			if (vn[id] != 1 || s[0] != '0')
				return PARSE_NONE;
			break;
		case JK_MESSAGE:
			/* The message ends at the first quote; a message with
			 * escapes (a backslash) is not one the kernel's LOG
			 * target writes for a knock. Most entries are not
			 * knocks: no prefix in the message. */
			if (memchr(s, '\\', vn[id]) || !has_prefix(p, s, vn[id]))
				return PARSE_NONE;
			break;
		}
		q = e;
	}
	if (!v[JK_TRANSPORT] || !v[JK_FACILITY] || !v[JK_MESSAGE])
		return PARSE_NONE;
	const char *r = v[JK_REALTIME];
	size_t rn = vn[JK_REALTIME];
	unsigned long long rt = 0;
	if (r) {
		/* Digits only (up to a NUL byte, as strtoull read them before),
		 * 1 to 23 bytes, and no later than the year 9999, like every
		 * other stamp: times stay far from overflowing when windows are
		 * added to them. */
		if (rn == 0 || rn >= 24 || r[0] < '0' || r[0] > '9')
			goto bad;
		for (size_t i = 0; i < rn && r[i]; i++) {
			if (r[i] < '0' || r[i] > '9')
				goto bad;
			rt = rt * 10 + (unsigned long long)(r[i] - '0');
			if (rt > 253402300799999999ULL)
				goto bad;
		}
		ref_us = (int64_t)rt;
	}
	return parse_builtin(p, FORMAT_SYSLOG, v[JK_MESSAGE], vn[JK_MESSAGE], ref_us, k, why);
bad:
	*why = "bad __REALTIME_TIMESTAMP";
	return PARSE_BAD;
}

enum parse_result parse_line(struct parser *p, enum source_format fmt, const char *line, size_t len,
			     int64_t ref_us, struct knock *out, const char **why)
{
	static const char *none = "not a knock line";
	*why = none;
	out->host = NULL;
	out->hostlen = 0;
	if (len && line[len - 1] == '\r')
		len--;
	enum parse_result r = PARSE_NONE;
	size_t scan = len;	/* where a NUL byte may be in a knock line */
	if (p->nprefixes) {
		if (len && line[0] == '{' && fmt == FORMAT_SYSLOG) {
			r = parse_json(p, line, len, ref_us, out, why);
		} else {
			r = parse_builtin(p, fmt, line, len, ref_us, out, why);
			/* The kernel's fields take no NUL byte (ifname
			 * refuses it, every other field is digits, hex or
			 * literals): only the header may hold one, its host. */
			scan = p->header_len;
		}
	}
	if (r == PARSE_NONE && *why == none && p->nuser) {
		r = parse_user(p, line, len, ref_us, out, why);
		scan = len;
	}
	/* A NUL byte: whatever a pipeline made of the line, it is not one the
	 * kernel wrote (checked for knocks only: the rest need no scan). */
	if (r == PARSE_KNOCK && memchr(line, '\0', scan)) {
		*why = "a NUL byte in the line";
		r = PARSE_BAD;
	}
	return r;
}
