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

struct grants {
	struct grant *g;
	size_t n, max;
	uint64_t next_id;
	int64_t next_deadline;
	grants_fn cb;
	void *ctx;
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

size_t grants_open(struct grants *t, const char *door, const struct port_spec *ports, size_t nports,
		   int64_t duration_us, int family, const uint8_t *src, int64_t now)
{
	size_t refused = 0;
	int64_t until = now + duration_us;
	for (size_t p = 0; p < nports; p++) {
		const struct port_spec *ps = &ports[p];
		struct grant *g = NULL;
		for (size_t i = 0; i < t->n && !g; i++)
			if (t->g[i].family == family && t->g[i].proto == ps->proto && t->g[i].port == ps->port &&
			    memcmp(t->g[i].src, src, 16) == 0)
				g = &t->g[i];
		if (g) {
			if (until > g->expires_us) {
				g->expires_us = until;
				if (g->extended < UINT32_MAX)
					g->extended++;
				t->cb(t->ctx, GRANT_EXTEND, g, now);
			}
			continue;
		}
		if (t->n == t->max) {
			refused++;
			continue;
		}
		g = &t->g[t->n++];
		*g = (struct grant){.id = t->next_id++, .family = (uint8_t)family, .proto = ps->proto,
				    .port = ps->port, .opened_us = now, .expires_us = until};
		snprintf(g->door, sizeof g->door, "%s", door);
		memcpy(g->src, src, 16);
		t->cb(t->ctx, GRANT_OPEN, g, now);
	}
	recompute(t);
	return refused;
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
		int w = snprintf(buf + n, len - n, "%llu %s %s %s %u %lld %lld %s\n", (unsigned long long)g->id,
				 g->family == AF_INET ? "inet" : "inet6", knock_addr_str(g->family, g->src, a),
				 knock_proto_str(g->proto), g->port, (long long)g->opened_us, (long long)g->expires_us,
				 g->door);
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

/* One line of the saved table (NUL-terminated, changed by strtok) into *g.
 * 0, or -1 if malformed. */
static int parse_grant(char *line, struct grant *g)
{
	/* Eight fields, each checked as strictly as the applier protocol
	 * checks them: this file feeds the firewall. */
	char *f[9], *save = NULL;
	int nf = 0;
	for (char *w = strtok_r(line, " ", &save); w && nf < 9; w = strtok_r(NULL, " ", &save))
		f[nf++] = w;
	*g = (struct grant){0};
	unsigned long long id = 0, opened = 0, expires = 0, pn = 0;
	if (nf != 8 || scan_ull(f[0], 19, &id) || id == 0 || id > (unsigned long long)INT64_MAX ||
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
	g->id = id;
	g->port = (uint16_t)pn;
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
		char line[256];
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
	if (len >= 256) {
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
		if (o->family == g.family && o->proto == g.proto && o->port == g.port && memcmp(o->src, g.src, 16) == 0) {
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
	if (len < 256 && parse_grant(line, &g) == 0) {
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
