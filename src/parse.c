/* parse.c — one firewall log line → one struct knock.
 *
 * A line passes three stages, cheapest first:
 *   1. pre-filter: memmem() for a configured prefix; most lines stop here.
 *   2. header: a PCRE2 (JIT) pattern per source format, anchored at the start,
 *      that accepts the timestamp, host and "kernel:" tag of syslog files and
 *      journalctl output (or none, as `journalctl -o cat` prints), an optional
 *      kernel "[uptime]" stamp, the knock prefix, and the "IN=" that the
 *      netfilter LOG, NFLOG and nft log formats all start with.
 *   3. fields: the kernel prints "KEY=VALUE" words in an order that depends on
 *      the protocol and the log options; a scanner takes them in any order,
 *      stops at the "[" that starts the quoted packet of an ICMP error, and
 *      checks every number and address.
 * Lines of formats we do not know are matched by the user's patterns, with
 * named groups. Nothing here allocates after parse_new().
 */
#include "parse.h"

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
	pcre2_code *header[2];	/* FORMAT_SYSLOG, FORMAT_ULOGD */
	pcre2_match_data *md[2];
	const char *prefix[PARSE_MAX_PREFIXES];
	size_t prefix_len[PARSE_MAX_PREFIXES];
	size_t nprefixes;
	struct user_pattern *user;
	size_t nuser;
	/* Local time of a year-less stamp: cached per hour of the log. */
	int64_t cache_key;
	int64_t cache_base_s;
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
	static const char months[] = "JanFebMarAprMayJunJulAugSepOctNovDec";
	const char *end = s + n;
	if (n < 15)
		return -1;
	unsigned mo = 0;
	for (unsigned i = 0; i < 12; i++)
		if (memcmp(s, months + 3 * i, 3) == 0)
			mo = i + 1;
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

/* ---- the netfilter fields ------------------------------------------------ */

enum { F_SRC, F_DST, F_PROTO, F_SPT, F_DPT, F_TYPE, F_CODE, F_N };

static int field_index(const char *k, size_t n)
{
	switch (n) {
	case 3:
		if (!memcmp(k, "SRC", 3)) return F_SRC;
		if (!memcmp(k, "DST", 3)) return F_DST;
		if (!memcmp(k, "SPT", 3)) return F_SPT;
		if (!memcmp(k, "DPT", 3)) return F_DPT;
		return -1;
	case 4:
		if (!memcmp(k, "TYPE", 4)) return F_TYPE;
		if (!memcmp(k, "CODE", 4)) return F_CODE;
		return -1;
	case 5:
		return memcmp(k, "PROTO", 5) ? -1 : F_PROTO;
	default:
		return -1;
	}
}

/* S points at "IN=". */
static enum parse_result parse_fields(const char *s, const char *end, struct knock *k, const char **why)
{
	const char *val[F_N] = {0};
	size_t vlen[F_N] = {0};
	uint8_t flags = 0;

	while (s < end) {
		while (s < end && *s == ' ')
			s++;
		if (s == end || *s == '[')
			break;	/* "[SRC=... ]": the packet quoted by an ICMP error */
		const char *w = s, *eq = NULL;
		for (; s < end && *s != ' '; s++)
			if (*s == '=' && !eq)
				eq = s;
		size_t wn = (size_t)(s - w);
		if (wn == 3 && !memcmp(w, "OPT", 3) && s + 1 < end && s[1] == '(') {
			const char *close = memchr(s, ')', (size_t)(end - s));
			if (!close) {
				*why = "unterminated OPT (";
				return PARSE_BAD;
			}
			s = close + 1;
			continue;
		}
		if (!eq) {
			flags |= (uint8_t)scan_flag(w, wn);
			continue;
		}
		int f = field_index(w, (size_t)(eq - w));
		if (f < 0)
			continue;
		if (val[f]) {
			*why = "a field appears twice";
			return PARSE_BAD;
		}
		val[f] = eq + 1;
		vlen[f] = (size_t)(s - eq - 1);
	}

	if (!val[F_SRC] || !val[F_DST] || !val[F_PROTO]) {
		*why = "missing SRC=, DST= or PROTO=";
		return PARSE_BAD;
	}
	int proto = scan_proto(val[F_PROTO], vlen[F_PROTO]);
	if (proto < 0) {
		*why = "protocol cannot knock";
		return PARSE_NONE;
	}
	uint8_t fam_dst;
	if (scan_addr(val[F_SRC], vlen[F_SRC], &k->family, k->src) ||
	    scan_addr(val[F_DST], vlen[F_DST], &fam_dst, k->dst) || fam_dst != k->family) {
		*why = "bad SRC= or DST= address";
		return PARSE_BAD;
	}
	unsigned long a, b;
	k->proto = (uint8_t)proto;
	k->flags = 0;
	k->icmp_code = 0;
	if (proto == IPPROTO_TCP || proto == IPPROTO_UDP) {
		if (!val[F_SPT] || !val[F_DPT]) {
			*why = "missing SPT= or DPT=";
			return PARSE_BAD;
		}
		if (scan_uint(val[F_SPT], vlen[F_SPT], 5, 65535, &a) || scan_uint(val[F_DPT], vlen[F_DPT], 5, 65535, &b)) {
			*why = "bad SPT= or DPT=";
			return PARSE_BAD;
		}
		k->sport = (uint16_t)a;
		k->port = (uint16_t)b;
		if (proto == IPPROTO_TCP)
			k->flags = flags;
	} else {
		if ((proto == IPPROTO_ICMP) != (k->family == AF_INET)) {
			*why = "ICMP version does not match the address family";
			return PARSE_BAD;
		}
		if (!val[F_TYPE] || !val[F_CODE] || scan_uint(val[F_TYPE], vlen[F_TYPE], 3, 255, &a) ||
		    scan_uint(val[F_CODE], vlen[F_CODE], 3, 255, &b)) {
			*why = "missing or bad TYPE= or CODE=";
			return PARSE_BAD;
		}
		k->sport = 0;
		k->port = (uint16_t)a;
		k->icmp_code = (uint8_t)b;
	}
	return PARSE_KNOCK;
}

/* ---- patterns ----------------------------------------------------------- */

#define TS_RE                                                                                  \
	"[A-Z][a-z]{2} {1,2}\\d{1,2} \\d\\d:\\d\\d:\\d\\d(?:\\.\\d{1,9})?"                     \
	"|\\d{4}-\\d\\d-\\d\\dT\\d\\d:\\d\\d:\\d\\d(?:\\.\\d{1,9})?(?:Z|[+-]\\d\\d:?\\d\\d)?"

/* Appends the prefixes as a regex alternation, every non-alphanumeric byte
 * escaped, so that a prefix is always a literal. */
static int append_prefixes(char *re, size_t cap, size_t *len, const struct parser *p)
{
	for (size_t i = 0; i < p->nprefixes; i++) {
		if (i && *len + 1 < cap)
			re[(*len)++] = '|';
		for (size_t j = 0; j < p->prefix_len[i]; j++) {
			unsigned char c = (unsigned char)p->prefix[i][j];
			if (*len + 5 >= cap)
				return -1;
			if (isalnum(c)) {
				re[(*len)++] = (char)c;
			} else if (c >= 0x20 && c < 0x7f) {
				re[(*len)++] = '\\';
				re[(*len)++] = (char)c;
			} else {
				*len += (size_t)snprintf(re + *len, cap - *len, "\\x%02x", c);
			}
		}
	}
	re[*len] = '\0';
	return 0;
}

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
	if (cfg->nprefixes > PARSE_MAX_PREFIXES) {
		snprintf(err, errlen, "%s: too many prefixes (at most %d)", cfg->path, PARSE_MAX_PREFIXES);
		goto fail;
	}
	for (size_t i = 0; i < cfg->nprefixes; i++) {
		p->prefix[i] = cfg->prefixes[i];
		p->prefix_len[i] = strlen(cfg->prefixes[i]);
	}
	p->nprefixes = cfg->nprefixes;

	if (p->nprefixes) {
		char alt[PARSE_MAX_PREFIXES * 64 * 4 + 64];
		size_t n = 0;
		if (append_prefixes(alt, sizeof alt, &n, p)) {
			snprintf(err, errlen, "%s: prefixes too long", cfg->path);
			goto fail;
		}
		char re[sizeof alt + 512];
		snprintf(re, sizeof re, "^(?:(" TS_RE ") +\\S+ kernel: +)?(?:\\[ *\\d+\\.\\d+\\] ?)?(?:%s) *IN=", alt);
		if (!(p->header[FORMAT_SYSLOG] = compile(re, err, errlen, "built-in syslog pattern")))
			goto fail;
		snprintf(re, sizeof re, "^(" TS_RE ") +\\S+ +(?:%s) *IN=", alt);
		if (!(p->header[FORMAT_ULOGD] = compile(re, err, errlen, "built-in ulogd pattern")))
			goto fail;
		for (int f = 0; f < 2; f++)
			if (!(p->md[f] = pcre2_match_data_create_from_pattern(p->header[f], NULL)))
				goto oom;
	}

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
	for (int f = 0; f < 2; f++) {
		pcre2_match_data_free(p->md[f]);
		pcre2_code_free(p->header[f]);
	}
	for (size_t i = 0; i < p->nuser; i++) {
		pcre2_match_data_free(p->user[i].md);
		pcre2_code_free(p->user[i].re);
	}
	free(p->user);
	free(p);
}

/* ---- matching ------------------------------------------------------------ */

static enum parse_result parse_builtin(struct parser *p, enum source_format fmt, const char *line, size_t len,
				       int64_t ref_us, struct knock *k, const char **why)
{
	int found = 0;
	for (size_t i = 0; i < p->nprefixes && !found; i++)
		found = memmem(line, len, p->prefix[i], p->prefix_len[i]) != NULL;
	if (!found)
		return PARSE_NONE;

	pcre2_match_data *md = p->md[fmt];
	int rc = pcre2_match(p->header[fmt], (PCRE2_SPTR)line, len, 0, 0, md, NULL);
	if (rc < 0)
		return PARSE_NONE;
	PCRE2_SIZE *ov = pcre2_get_ovector_pointer(md);
	k->time_us = ref_us;
	if (rc > 1 && ov[2] != PCRE2_UNSET &&
	    parse_time(p, line + ov[2], ov[3] - ov[2], ref_us, &k->time_us)) {
		*why = "bad timestamp";
		return PARSE_BAD;
	}
	return parse_fields(line + ov[1] - 3, line + len, k, why);
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

/* journalctl -o json: take MESSAGE, the kernel transport and the realtime stamp. */
static const char *json_string(const char *line, size_t len, const char *key, size_t *n)
{
	const char *v = memmem(line, len, key, strlen(key));
	if (!v)
		return NULL;
	v += strlen(key);
	const char *e = memchr(v, '"', (size_t)(line + len - v));
	if (!e)
		return NULL;
	*n = (size_t)(e - v);
	return v;
}

static enum parse_result parse_json(struct parser *p, const char *line, size_t len, int64_t ref_us,
				    struct knock *k, const char **why)
{
	size_t tn, mn, rn;
	const char *t = json_string(line, len, "\"_TRANSPORT\":\"", &tn);
	if (!t || tn != 6 || memcmp(t, "kernel", 6) != 0)
		return PARSE_NONE;
	/* The message ends at the first quote; a message with escapes (a
	 * backslash) is not one the kernel's LOG target writes for a knock. */
	const char *m = json_string(line, len, "\"MESSAGE\":\"", &mn);
	if (!m || memchr(m, '\\', mn))
		return PARSE_NONE;
	const char *r = json_string(line, len, "\"__REALTIME_TIMESTAMP\":\"", &rn);
	unsigned long long rt = 0;
	if (r) {
		char buf[24];
		char *endp;
		if (rn == 0 || rn >= sizeof buf || r[0] < '0' || r[0] > '9')
			goto bad;
		memcpy(buf, r, rn);
		buf[rn] = '\0';
		rt = strtoull(buf, &endp, 10);
		/* No later than the year 9999, like every other stamp: times
		 * stay far from overflowing when windows are added to them. */
		if (*endp || rt > 253402300799999999ULL)
			goto bad;
		ref_us = (int64_t)rt;
	}
	return parse_builtin(p, FORMAT_SYSLOG, m, mn, ref_us, k, why);
bad:
	*why = "bad __REALTIME_TIMESTAMP";
	return PARSE_BAD;
}

enum parse_result parse_line(struct parser *p, enum source_format fmt, const char *line, size_t len,
			     int64_t ref_us, struct knock *out, const char **why)
{
	static const char *none = "not a knock line";
	*why = none;
	if (len && line[len - 1] == '\r')
		len--;
	enum parse_result r = PARSE_NONE;
	if (p->nprefixes) {
		if (len && line[0] == '{' && fmt == FORMAT_SYSLOG)
			r = parse_json(p, line, len, ref_us, out, why);
		else
			r = parse_builtin(p, fmt, line, len, ref_us, out, why);
	}
	if (r == PARSE_NONE && *why == none && p->nuser)
		r = parse_user(p, line, len, ref_us, out, why);
	return r;
}
