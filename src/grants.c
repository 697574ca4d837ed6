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

int grants_restore(struct grants *t, const char *text, char *err, size_t errlen)
{
	int count = 0, lineno = 0;
	const char *p = text;
	while (*p) {
		const char *nl = strchr(p, '\n');
		size_t len = nl ? (size_t)(nl - p) : strlen(p);
		char line[256];
		lineno++;
		if (len >= sizeof line) {
			snprintf(err, errlen, "line %d: too long", lineno);
			return -1;
		}
		memcpy(line, p, len);
		line[len] = '\0';
		p += len + (nl ? 1 : 0);
		if (!len)
			continue;
		/* Eight fields, each checked as strictly as the applier protocol
		 * checks them: this file feeds the firewall. */
		char *f[9], *save = NULL;
		int nf = 0;
		for (char *w = strtok_r(line, " ", &save); w && nf < 9; w = strtok_r(NULL, " ", &save))
			f[nf++] = w;
		struct grant g = {0};
		unsigned long long id = 0, opened = 0, expires = 0;
		unsigned long port = 0;
		if (nf != 8 || scan_ull(f[0], 19, &id) || id == 0 ||
		    id > (unsigned long long)INT64_MAX || scan_ull(f[5], 19, &opened) || scan_ull(f[6], 19, &expires) ||
		    opened > (unsigned long long)INT64_MAX || expires > (unsigned long long)INT64_MAX || expires < opened ||
		    !apply_door_name_valid(f[7])) {
			snprintf(err, errlen, "line %d: malformed", lineno);
			return -1;
		}
		g.family = strcmp(f[1], "inet") == 0 ? AF_INET : strcmp(f[1], "inet6") == 0 ? AF_INET6 : 0;
		g.proto = strcmp(f[3], "tcp") == 0 ? IPPROTO_TCP : strcmp(f[3], "udp") == 0 ? IPPROTO_UDP
			  : strcmp(f[3], "icmp") == 0 && g.family == AF_INET ? IPPROTO_ICMP
			  : strcmp(f[3], "icmpv6") == 0 && g.family == AF_INET6 ? IPPROTO_ICMPV6 : 0;
		int icmp = g.proto == IPPROTO_ICMP || g.proto == IPPROTO_ICMPV6;
		unsigned long long pn;
		if (!g.family || !g.proto || strlen(f[2]) >= KNOCK_ADDRSTRLEN || inet_pton(g.family, f[2], g.src) != 1 ||
		    scan_ull(f[4], 5, &pn) || pn > (icmp ? 255u : 65535u) || (!icmp && pn == 0)) {
			snprintf(err, errlen, "line %d: malformed", lineno);
			return -1;
		}
		port = (unsigned long)pn;
		if (t->n == t->max) {
			snprintf(err, errlen, "more grants than max_grants");
			return -1;
		}
		g.id = id;
		g.port = (uint16_t)port;
		g.opened_us = (int64_t)opened;
		g.expires_us = (int64_t)expires;
		snprintf(g.door, sizeof g.door, "%s", f[7]);
		t->g[t->n++] = g;
		if (id >= t->next_id)
			t->next_id = id + 1;
		count++;
	}
	recompute(t);
	return count;
}
