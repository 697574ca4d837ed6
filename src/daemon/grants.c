/* grants.c — open grants and their expiry.
 * A grant is keyed by (source, protocol, port): whichever door opens a port
 * for a source, the firewall holds one rule for it, and a repeat success
 * only moves its expiry later. The table is small and changes only when a
 * sequence completes or a grant expires, so it is an array; the earliest
 * expiry is cached for the per-line check. */
#include "grants.h"

#include <arpa/inet.h>
#include <limits.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "apply_proto.h"
#include "knock.h"

/* A saved line: 8 fields, and a gateway grant's 4 more (some 280 bytes at most). */
#define GRANTS_LINE_MAX 384

struct grants {
	struct grant *g;
	size_t n, max;
	uint64_t next_id;
	int64_t next_deadline;
	grants_fn cb;
	void *ctx;
	char host[GRANT_HOST_MAX + 1];	/* grants_set_host */
};

struct grants *grants_new(size_t max_grants, grants_fn cb, void *ctx)
{
	struct grants *t = calloc(1, sizeof *t);
	if (!t || !(t->g = calloc(max_grants ? max_grants : 1, sizeof *t->g))) {
		free(t);
		return NULL;
	}
	t->max = max_grants;
	t->next_id = 1;
	t->next_deadline = INT64_MAX;
	t->cb = cb;
	t->ctx = ctx;
	return t;
}

void grants_free(struct grants *t)
{
	if (t) {
		free(t->g);
		free(t);
	}
}

static void recompute(struct grants *t)
{
	t->next_deadline = INT64_MAX;
	for (size_t i = 0; i < t->n; i++)
		if (t->g[i].expires_us < t->next_deadline)
			t->next_deadline = t->g[i].expires_us;
}

/* Whether A and B are the same rule: source, protocol, port and, beyond
 * this host, the path and target (masq and keep are how, not what). */
static int same_key(const struct grant *a, const struct grant *b)
{
	return a->family == b->family && a->proto == b->proto && a->port == b->port &&
	       memcmp(a->src, b->src, 16) == 0 && a->via == b->via && strcmp(a->host, b->host) == 0 &&
	       (a->via == APPLY_VIA_LOCAL || (memcmp(a->to, b->to, 16) == 0 && a->toport == b->toport));
}

/* Opens or extends the grant K (its key fields set) until UNTIL. 1 when the
 * table is full, else 0. */
static int open_one(struct grants *t, const char *door, const struct grant *k, int64_t until, int64_t now)
{
	struct grant *g = NULL;
	for (size_t i = 0; i < t->n && !g; i++)
		if (same_key(&t->g[i], k))
			g = &t->g[i];
	if (g) {
		if (until > g->expires_us) {
			g->expires_us = until;
			if (g->extended < UINT32_MAX)
				g->extended++;
			t->cb(t->ctx, GRANT_EXTEND, g, now);
		}
		return 0;
	}
	if (t->n == t->max)
		return 1;
	g = &t->g[t->n++];
	*g = *k;
	g->id = t->next_id++;
	g->opened_us = now;
	g->expires_us = until;
	g->extended = 0;
	snprintf(g->door, sizeof g->door, "%s", door);
	memcpy(g->host, t->host, sizeof g->host);
	t->cb(t->ctx, GRANT_OPEN, g, now);
	return 0;
}

size_t grants_open(struct grants *t, const char *door, const struct port_spec *ports, size_t nports,
		   int64_t duration_us, int family, const uint8_t *src, int64_t now)
{
	size_t refused = 0;
	for (size_t p = 0; p < nports; p++) {
		struct grant k = {.family = (uint8_t)family, .proto = ports[p].proto, .port = ports[p].port};
		memcpy(k.src, src, 16);
		refused += (size_t)open_one(t, door, &k, now + duration_us, now);
	}
	recompute(t);
	return refused;
}

size_t grants_open_gw(struct grants *t, const char *door, const struct gw_target *gw, size_t n, bool keep,
		      int64_t duration_us, int family, const uint8_t *src, int64_t now)
{
	size_t refused = 0;
	for (size_t p = 0; p < n; p++) {
		if (gw[p].family != family)
			continue;
		struct grant k = {.family = (uint8_t)family, .proto = gw[p].proto, .port = gw[p].port,
				  .via = gw[p].via, .toport = gw[p].via == APPLY_VIA_DNAT ? gw[p].toport : 0,
				  .masq = gw[p].via == APPLY_VIA_DNAT && gw[p].masq, .nokeep = !keep};
		memcpy(k.src, src, 16);
		memcpy(k.to, gw[p].to, 16);
		refused += (size_t)open_one(t, door, &k, now + duration_us, now);
	}
	recompute(t);
	return refused;
}

void grants_set_host(struct grants *t, const char *host)
{
	snprintf(t->host, sizeof t->host, "%s", host ? host : "");
}

void grants_expire(struct grants *t, int64_t now)
{
	while (t->n && t->next_deadline <= now) {
		size_t first = 0;
		for (size_t i = 1; i < t->n; i++)
			if (t->g[i].expires_us < t->g[first].expires_us)
				first = i;
		struct grant g = t->g[first];
		t->g[first] = t->g[--t->n];
		recompute(t);
		t->cb(t->ctx, GRANT_CLOSE, &g, g.expires_us);
	}
}

void grants_close_all(struct grants *t, int64_t now)
{
	while (t->n) {
		struct grant g = t->g[--t->n];
		t->cb(t->ctx, GRANT_CLOSE, &g, now);
	}
	recompute(t);
}

size_t grants_revoke(struct grants *t, int family, const uint8_t *src, const char *door, int64_t now)
{
	size_t n = 0;
	for (size_t i = 0; i < t->n;) {
		struct grant *g = &t->g[i];
		if (g->family != family || memcmp(g->src, src, 16) != 0 || (door && strcmp(g->door, door) != 0)) {
			i++;
			continue;
		}
		/* Out of the table before the callback, as on expiry: it sees
		 * the table as it will be. */
		struct grant c = *g;
		t->g[i] = t->g[--t->n];
		recompute(t);
		t->cb(t->ctx, GRANT_CLOSE, &c, now);
		n++;
	}
	return n;
}

int64_t grants_next_deadline(const struct grants *t)
{
	return t->next_deadline;
}

size_t grants_count(const struct grants *t)
{
	return t->n;
}

const struct grant *grants_at(const struct grants *t, size_t i)
{
	return i < t->n ? &t->g[i] : NULL;
}

void grants_drop(struct grants *t, uint64_t id)
{
	for (size_t i = 0; i < t->n; i++) {
		if (t->g[i].id == id) {
			t->g[i] = t->g[--t->n];
			recompute(t);
			return;
		}
	}
}

ssize_t grants_dump(const struct grants *t, char *buf, size_t len)
{
	size_t n = 0;
	for (size_t i = 0; i < t->n; i++) {
		const struct grant *g = &t->g[i];
		char a[KNOCK_ADDRSTRLEN];
		char gw[96 + 6 + GRANT_HOST_MAX] = "", to[KNOCK_ADDRSTRLEN];
		if (g->via != APPLY_VIA_LOCAL) {
			knock_addr_str(g->family, g->to, to);
			if (g->via == APPLY_VIA_DNAT)
				snprintf(gw, sizeof gw, " to=%s toport=%u%s%s", to, (unsigned)g->toport,
					 g->masq ? " masq=1" : "", g->nokeep ? " keep=0" : "");
			else
				snprintf(gw, sizeof gw, " to=%s%s", to, g->nokeep ? " keep=0" : "");
		}
		if (g->host[0]) {
			size_t l = strlen(gw);
			snprintf(gw + l, sizeof gw - l, " host=%s", g->host);
		}
		int w = snprintf(buf + n, len - n, "%llu %s %s %s %u %lld %lld %s%s\n", (unsigned long long)g->id,
				 g->family == AF_INET ? "inet" : "inet6", knock_addr_str(g->family, g->src, a),
				 knock_proto_str(g->proto), g->port, (long long)g->opened_us, (long long)g->expires_us,
				 g->door, gw);
		if (w < 0 || (size_t)w >= len - n)
			return -1;
		n += (size_t)w;
	}
	if (n < len)
		buf[n] = '\0';
	return (ssize_t)n;
}

/* Digits only, at most maxdigits, no sign: a number as we write it. */
static int scan_ull(const char *s, size_t maxdigits, unsigned long long *out)
{
	size_t n = strlen(s);
	if (n == 0 || n > maxdigits || strspn(s, "0123456789") != n)
		return -1;
	unsigned long long v = 0;
	for (size_t i = 0; i < n; i++) {
		if (v > (ULLONG_MAX - (unsigned)(s[i] - '0')) / 10)
			return -1;
		v = v * 10 + (unsigned)(s[i] - '0');
	}
	*out = v;
	return 0;
}

/* "to=ADDR [toport=N] [masq=1] [keep=0]", in this order, into *g (its
 * family and protocol set): as the applier protocol checks them. */
static int parse_gw_fields(struct grant *g, char **f, size_t n)
{
	size_t i = 0;
	unsigned long long v;
	if (strncmp(f[0], "to=", 3) != 0 || strlen(f[0] + 3) >= KNOCK_ADDRSTRLEN ||
	    inet_pton(g->family, f[0] + 3, g->to) != 1 || (g->proto != IPPROTO_TCP && g->proto != IPPROTO_UDP))
		return -1;
	g->via = APPLY_VIA_FORWARD;
	i = 1;
	if (i < n && strncmp(f[i], "toport=", 7) == 0) {
		if (scan_ull(f[i] + 7, 5, &v) || v == 0 || v > 65535 || f[i][7] == '0')
			return -1;
		g->toport = (uint16_t)v;
		g->via = APPLY_VIA_DNAT;
		i++;
	}
	if (i < n && strcmp(f[i], "masq=1") == 0 && g->via == APPLY_VIA_DNAT) {
		g->masq = 1;
		i++;
	}
	if (i < n && strcmp(f[i], "keep=0") == 0) {
		g->nokeep = 1;
		i++;
	}
	return i == n ? 0 : -1;
}

/* One line of the saved table (NUL-terminated, changed by strtok) into *g.
 * 0, or -1 if malformed. */
static int parse_grant(char *line, struct grant *g)
{
	/* Eight fields, each checked as strictly as the applier protocol
	 * checks them: this file feeds the firewall. */
	char *f[14], *save = NULL;
	int nf = 0;
	for (char *w = strtok_r(line, " ", &save); w && nf < 14; w = strtok_r(NULL, " ", &save))
		f[nf++] = w;
	*g = (struct grant){0};
	/* host=NAME last (fleet): a file without it is the local applier's */
	if (nf > 8 && strncmp(f[nf - 1], "host=", 5) == 0) {
		const char *h = f[nf - 1] + 5;
		if (!knock_host_valid(h, strlen(h)))
			return -1;
		snprintf(g->host, sizeof g->host, "%s", h);
		nf--;
	}
	unsigned long long id = 0, opened = 0, expires = 0, pn = 0;
	if (nf < 8 || nf > 12 || scan_ull(f[0], 19, &id) || id == 0 || id > (unsigned long long)INT64_MAX ||
	    scan_ull(f[5], 19, &opened) || scan_ull(f[6], 19, &expires) || opened > (unsigned long long)INT64_MAX ||
	    expires > (unsigned long long)INT64_MAX || expires < opened || !apply_door_name_valid(f[7]))
		return -1;
	g->family = strcmp(f[1], "inet") == 0 ? AF_INET : strcmp(f[1], "inet6") == 0 ? AF_INET6 : 0;
	g->proto = strcmp(f[3], "tcp") == 0 ? IPPROTO_TCP : strcmp(f[3], "udp") == 0 ? IPPROTO_UDP
		   : strcmp(f[3], "icmp") == 0 && g->family == AF_INET ? IPPROTO_ICMP
		   : strcmp(f[3], "icmpv6") == 0 && g->family == AF_INET6 ? IPPROTO_ICMPV6 : 0;
	int icmp = g->proto == IPPROTO_ICMP || g->proto == IPPROTO_ICMPV6;
	if (!g->family || !g->proto || strlen(f[2]) >= KNOCK_ADDRSTRLEN || inet_pton(g->family, f[2], g->src) != 1 ||
	    scan_ull(f[4], 5, &pn) || pn > (icmp ? 255u : 65535u) || (!icmp && pn == 0))
		return -1;
	if (nf > 8 && parse_gw_fields(g, f + 8, (size_t)nf - 8) < 0)
		return -1;
	g->id = id;
	g->port = (uint16_t)pn;	/* g->host: set above */
	g->opened_us = (int64_t)opened;
	g->expires_us = (int64_t)expires;
	snprintf(g->door, sizeof g->door, "%s", f[7]);
	return 0;
}

/* Calls fn for each line of TEXT (fn's line is a NUL-terminated copy,
 * its number from 1, empty lines left out) until fn returns non-zero;
 * returns that, or 0. */
static int each_line(const char *text, int (*fn)(void *ctx, char *line, size_t len, int lineno), void *ctx)
{
	int lineno = 0;
	for (const char *p = text; *p;) {
		const char *nl = strchr(p, '\n');
		size_t len = nl ? (size_t)(nl - p) : strlen(p);
		char line[GRANTS_LINE_MAX];
		lineno++;
		size_t keep = len < sizeof line ? len : sizeof line - 1;
		memcpy(line, p, keep);
		line[keep] = '\0';
		p += len + (nl ? 1 : 0);
		int r = len ? fn(ctx, line, len, lineno) : 0;
		if (r)
			return r;
	}
	return 0;
}

struct restore {
	struct grants *t;
	char *err;
	size_t errlen;
	int count;
};

static int restore_line(void *ctx, char *line, size_t len, int lineno)
{
	struct restore *rs = ctx;
	struct grants *t = rs->t;
	struct grant g;
	if (len >= GRANTS_LINE_MAX) {
		snprintf(rs->err, rs->errlen, "line %d: too long", lineno);
		return -1;
	}
	if (parse_grant(line, &g) < 0) {
		snprintf(rs->err, rs->errlen, "line %d: malformed", lineno);
		return -1;
	}
	/* One grant per ID (the applier knows rules by it: a close would
	 * leave the other rule open) and per source, protocol and port
	 * (never a rule twice). */
	for (size_t i = 0; i < t->n; i++) {
		const struct grant *o = &t->g[i];
		char a[KNOCK_ADDRSTRLEN];
		if (o->id == g.id) {
			snprintf(rs->err, rs->errlen, "line %d: grant ID %llu a second time", lineno,
				 (unsigned long long)g.id);
			return -1;
		}
		if (same_key(o, &g)) {
			snprintf(rs->err, rs->errlen, "line %d: a second grant of %s/%u to %s (IDs %llu and %llu)",
				 lineno, knock_proto_str(g.proto), g.port, knock_addr_str(g.family, g.src, a),
				 (unsigned long long)o->id, (unsigned long long)g.id);
			return -1;
		}
	}
	if (t->n == t->max) {
		snprintf(rs->err, rs->errlen, "more grants than max_grants");
		return -1;
	}
	t->g[t->n++] = g;
	if (g.id >= t->next_id)
		t->next_id = g.id + 1;
	rs->count++;
	return 0;
}

int grants_restore(struct grants *t, const char *text, char *err, size_t errlen)
{
	size_t n = t->n;
	uint64_t next_id = t->next_id;
	struct restore rs = {.t = t, .err = err, .errlen = errlen};
	if (each_line(text, restore_line, &rs)) {
		t->n = n;	/* all or nothing */
		t->next_id = next_id;
		return -1;
	}
	recompute(t);
	return rs.count;
}

struct each {
	void (*fn)(void *ctx, const struct grant *g);
	void *ctx;
	uint64_t max_id;
};

static int each_grant_line(void *ctx, char *line, size_t len, int lineno)
{
	struct each *ea = ctx;
	struct grant g;
	if (len < GRANTS_LINE_MAX && parse_grant(line, &g) == 0) {
		ea->fn(ea->ctx, &g);
		if (g.id > ea->max_id)
			ea->max_id = g.id;
	}
	return 0;
}

void grants_each_saved(struct grants *t, const char *text, void (*fn)(void *ctx, const struct grant *g), void *ctx)
{
	struct each ea = {.fn = fn, .ctx = ctx};
	each_line(text, each_grant_line, &ea);
	if (ea.max_id >= t->next_id)
		t->next_id = ea.max_id + 1;
}
