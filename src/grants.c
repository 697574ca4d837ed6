/* grants.c — open grants and their expiry.
 * A grant is keyed by (source, protocol, port): whichever door opens a port
 * for a source, the firewall holds one rule for it, and a repeat success
 * only moves its expiry later. The table is small and changes only when a
 * sequence completes or a grant expires, so it is an array; the earliest
 * expiry is cached for the per-line check. */
#include "grants.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

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

size_t grants_open(struct grants *t, const struct door_conf *door, int family, const uint8_t *src, int64_t now)
{
	size_t refused = 0;
	int64_t until = now + door->duration_us;
	for (size_t p = 0; p < door->nopen; p++) {
		const struct port_spec *ps = &door->open[p];
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
		snprintf(g->door, sizeof g->door, "%s", door->name);
		memcpy(g->src, src, 16);
		t->cb(t->ctx, GRANT_OPEN, g, now);
	}
	recompute(t);
	return refused;
}

void grants_expire(struct grants *t, int64_t now)
{
	while (t->next_deadline <= now) {
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
		unsigned long long id;
		char fam[8], addr[64], proto[8], door[GRANT_DOOR_MAX + 1];
		unsigned port;
		long long opened, expires;
		int end = 0;
		struct grant g = {0};
		if (sscanf(line, "%llu %7s %63s %7s %u %lld %lld %64s%n", &id, fam, addr, proto, &port, &opened,
			   &expires, door, &end) != 8 || line[end] != '\0' || id == 0 || port > 65535) {
			snprintf(err, errlen, "line %d: malformed", lineno);
			return -1;
		}
		g.family = strcmp(fam, "inet") == 0 ? AF_INET : strcmp(fam, "inet6") == 0 ? AF_INET6 : 0;
		g.proto = strcmp(proto, "tcp") == 0 ? IPPROTO_TCP : strcmp(proto, "udp") == 0 ? IPPROTO_UDP
			  : strcmp(proto, "icmp") == 0 ? IPPROTO_ICMP : strcmp(proto, "icmpv6") == 0 ? IPPROTO_ICMPV6 : 0;
		if (!g.family || !g.proto || inet_pton(g.family, addr, g.src) != 1) {
			snprintf(err, errlen, "line %d: malformed", lineno);
			return -1;
		}
		if (t->n == t->max) {
			snprintf(err, errlen, "more grants than max_grants");
			return -1;
		}
		g.id = id;
		g.port = (uint16_t)port;
		g.opened_us = opened;
		g.expires_us = expires;
		snprintf(g.door, sizeof g.door, "%s", door);
		t->g[t->n++] = g;
		if (id >= t->next_id)
			t->next_id = id + 1;
		count++;
	}
	recompute(t);
	return count;
}
