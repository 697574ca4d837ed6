/* grants.c — open grants and their expiry.
 * A grant is keyed by (source, protocol, port): whichever door opens a port
 * for a source, the firewall holds one rule for it, and a repeat success
 * only moves its expiry later. The table is small and changes only when a
 * sequence completes or a grant expires, so it is an array; the earliest
 * expiry is cached for the per-line check. */
#include "grants.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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
