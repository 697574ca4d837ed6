/* doors.c — where a door decides.
 *
 * Per source (address) we keep, in a slot of a pool fixed at start:
 *   - for every door, the attempt in progress: next step and start time;
 *   - the last few knocks, to count a retransmitted SYN once.
 * Sources are found through a hash table with a secret seed (sources are
 * chosen by strangers) and ordered by their next deadline in two min-heaps,
 * which serve both the expiry timer and eviction. Heap 0 holds the sources
 * that have done no more than a first step (what a flood of spoofed
 * addresses creates), heap 1 those that got further. When the pool is
 * full, the fresh source closest to expiring makes room; a source that has
 * progressed is dropped only when no fresh one is left, so a flood of first
 * steps cannot push out a client in the middle of its sequence.
 */
#include "doors.h"

#include "log.h"

#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

/* Knocks remembered per source for de-duplication: enough for two attempts
 * at the longest sequence (a mistyped one and its retry), so that the
 * retransmission of any step is still known (at least 8, at most 33). */
#define RECENT_MIN 8
#define RECENT_MAX 33

struct attempt {
	int64_t start;
	uint16_t step;		/* next step expected; 0: no attempt */
};

struct recent {
	int64_t time;
	uint16_t port, sport;
	uint8_t proto;
};

struct src {
	int32_t hnext;		/* hash chain, or free list */
	int32_t heap_pos;	/* -1: slot free */
	uint8_t tier;		/* the heap it is in: 1 when an attempt is past its first step */
	int64_t deadline;
	int64_t last;		/* time of the last knock recorded */
	uint8_t family;
	uint8_t nrecent;
	uint8_t addr[16];
	struct attempt att[];	/* one per door, then nrecent_max struct recent */
};

struct doors {
	const struct door_conf *door;
	size_t ndoors;
	int64_t max_dedup;
	size_t max, stride, recent_off;
	unsigned nrecent_max;
	unsigned char *pool;
	int32_t *bucket;
	uint32_t bucket_mask;
	int32_t *heap[2];
	size_t heap_n[2];
	int32_t free_head;
	uint64_t seed[2];
	doors_open_fn cb;
	void *ctx;
	struct doors_stats stats;
};

static struct src *slot(const struct doors *d, int32_t i)
{
	return (struct src *)(d->pool + (size_t)i * d->stride);
}

static struct recent *recents(const struct doors *d, struct src *s)
{
	return (struct recent *)((unsigned char *)s + d->recent_off);
}

/* ---- hash ----------------------------------------------------------------- */

static uint64_t mix(uint64_t h)
{
	h ^= h >> 33;
	h *= 0xff51afd7ed558ccdULL;
	h ^= h >> 33;
	h *= 0xc4ceb9fe1a85ec53ULL;
	h ^= h >> 33;
	return h;
}

static uint32_t hash(const struct doors *d, int family, const uint8_t *addr)
{
	uint64_t w0, w1;
	memcpy(&w0, addr, 8);
	memcpy(&w1, addr + 8, 8);
	uint64_t h = mix(d->seed[0] ^ w0 ^ (uint64_t)family);
	h = mix(h ^ w1 ^ d->seed[1]);
	return (uint32_t)h & d->bucket_mask;
}

static int32_t lookup(const struct doors *d, int family, const uint8_t *addr)
{
	for (int32_t i = d->bucket[hash(d, family, addr)]; i >= 0; i = slot(d, i)->hnext) {
		struct src *s = slot(d, i);
		if (s->family == family && memcmp(s->addr, addr, 16) == 0)
			return i;
	}
	return -1;
}

/* ---- heap by deadline ------------------------------------------------------ */

static void heap_set(struct doors *d, int t, size_t pos, int32_t i)
{
	d->heap[t][pos] = i;
	slot(d, i)->heap_pos = (int32_t)pos;
}

static void heap_fix(struct doors *d, int t, size_t pos)
{
	int32_t *h = d->heap[t];
	int32_t i = h[pos];
	int64_t key = slot(d, i)->deadline;
	while (pos > 0 && slot(d, h[(pos - 1) / 2])->deadline > key) {
		heap_set(d, t, pos, h[(pos - 1) / 2]);
		pos = (pos - 1) / 2;
	}
	for (;;) {
		size_t c = 2 * pos + 1;
		if (c >= d->heap_n[t])
			break;
		if (c + 1 < d->heap_n[t] && slot(d, h[c + 1])->deadline < slot(d, h[c])->deadline)
			c++;
		if (slot(d, h[c])->deadline >= key)
			break;
		heap_set(d, t, pos, h[c]);
		pos = c;
	}
	heap_set(d, t, pos, i);
}

static void heap_remove(struct doors *d, int32_t i)
{
	struct src *s = slot(d, i);
	int t = s->tier;
	size_t pos = (size_t)s->heap_pos;
	d->heap_n[t]--;
	if (pos != d->heap_n[t]) {
		heap_set(d, t, pos, d->heap[t][d->heap_n[t]]);
		heap_fix(d, t, pos);
	}
	s->heap_pos = -1;
}

static void heap_add(struct doors *d, int t, int32_t i)
{
	slot(d, i)->tier = (uint8_t)t;
	heap_set(d, t, d->heap_n[t]++, i);
	heap_fix(d, t, d->heap_n[t] - 1);
}

/* The source with the earliest deadline of both heaps, or -1. */
static int32_t heap_first(const struct doors *d)
{
	int32_t a = d->heap_n[0] ? d->heap[0][0] : -1, b = d->heap_n[1] ? d->heap[1][0] : -1;
	if (a < 0 || (b >= 0 && slot(d, b)->deadline < slot(d, a)->deadline))
		return b;
	return a;
}

/* ---- slots ------------------------------------------------------------------ */

static void release(struct doors *d, int32_t i)
{
	struct src *s = slot(d, i);
	int32_t *pp = &d->bucket[hash(d, s->family, s->addr)];
	while (*pp != i)
		pp = &slot(d, *pp)->hnext;
	*pp = s->hnext;
	heap_remove(d, i);
	s->hnext = d->free_head;
	d->free_head = i;
}

static int32_t acquire(struct doors *d, int family, const uint8_t *addr, int64_t now)
{
	if (d->free_head < 0) {
		/* Full: the fresh source closest to its deadline makes room. */
		int t = d->heap_n[0] ? 0 : 1;
		release(d, d->heap[t][0]);
		d->stats.evicted++;
		d->stats.evicted_progressed += (uint64_t)t;
	}
	int32_t i = d->free_head;
	struct src *s = slot(d, i);
	d->free_head = s->hnext;
	memset(s, 0, d->stride);
	s->family = (uint8_t)family;
	memcpy(s->addr, addr, 16);
	s->last = now;
	s->deadline = now;
	uint32_t b = hash(d, family, addr);
	s->hnext = d->bucket[b];
	d->bucket[b] = i;
	heap_add(d, 0, i);
	return i;
}

/* Recomputes a source's deadline; frees it when nothing is left to wait for. */
static void settle(struct doors *d, int32_t i)
{
	struct src *s = slot(d, i);
	int64_t dl = INT64_MAX;
	int tier = 0;
	for (size_t j = 0; j < d->ndoors; j++) {
		if (s->att[j].step && s->att[j].start + d->door[j].window_us < dl)
			dl = s->att[j].start + d->door[j].window_us;
		if (s->att[j].step >= 2)
			tier = 1;
	}
	if (dl == INT64_MAX) {
		if (d->max_dedup == 0 || s->nrecent == 0) {
			release(d, i);
			return;
		}
		dl = s->last + d->max_dedup;
	}
	s->deadline = dl;
	if (tier != s->tier) {
		heap_remove(d, i);
		heap_add(d, tier, i);
	} else {
		heap_fix(d, tier, (size_t)s->heap_pos);
	}
}

/* ---- public ------------------------------------------------------------------ */

struct doors *doors_new(const struct door_conf *door, size_t ndoors, size_t max_sources, doors_open_fn cb,
			void *ctx)
{
	if (max_sources < 1 || max_sources > (1u << 30))
		return NULL;
	struct doors *d = calloc(1, sizeof *d);
	if (!d)
		return NULL;
	d->door = door;
	d->ndoors = ndoors;
	d->max = max_sources;
	d->cb = cb;
	d->ctx = ctx;
	size_t longest = 0;
	for (size_t j = 0; j < ndoors; j++) {
		if (door[j].dedup_us > d->max_dedup)
			d->max_dedup = door[j].dedup_us;
		if (door[j].nseq > longest)
			longest = door[j].nseq;
	}
	size_t want = 2 * longest + 2;
	d->nrecent_max = want < RECENT_MIN ? RECENT_MIN : want > RECENT_MAX ? RECENT_MAX : (unsigned)want;
	d->recent_off = (sizeof(struct src) + ndoors * sizeof(struct attempt) + 7) & ~(size_t)7;
	d->stride = (d->recent_off + d->nrecent_max * sizeof(struct recent) + 15) & ~(size_t)15;
	size_t nb = 16;
	while (nb < 2 * max_sources)
		nb *= 2;
	d->bucket_mask = (uint32_t)(nb - 1);
	d->pool = calloc(max_sources, d->stride);
	d->bucket = malloc(nb * sizeof *d->bucket);
	d->heap[0] = malloc(max_sources * sizeof *d->heap[0]);
	d->heap[1] = malloc(max_sources * sizeof *d->heap[1]);
	if (!d->pool || !d->bucket || !d->heap[0] || !d->heap[1]) {
		doors_free(d);
		return NULL;
	}
	memset(d->bucket, 0xff, nb * sizeof *d->bucket);
	for (size_t i = 0; i < max_sources; i++) {
		slot(d, (int32_t)i)->hnext = i + 1 < max_sources ? (int32_t)i + 1 : -1;
		slot(d, (int32_t)i)->heap_pos = -1;
	}
	d->free_head = 0;
	if (getrandom(d->seed, sizeof d->seed, 0) != sizeof d->seed) {
		d->seed[0] = (uint64_t)time(NULL);
		d->seed[1] = (uint64_t)(uintptr_t)d;
	}
	return d;
}

void doors_free(struct doors *d)
{
	if (!d)
		return;
	free(d->pool);
	free(d->bucket);
	free(d->heap[0]);
	free(d->heap[1]);
	free(d);
}

/* -v -v: every change of an attempt, for an admin finding out why a door
 * did not open. */
static void trace(const struct door_conf *dc, int family, const uint8_t *addr, const char *what, unsigned step)
{
	if (log_verbosity < LOG_LVL_DEBUG)
		return;
	char s[KNOCK_ADDRSTRLEN];
	log_debug("door %s: %s %s (step %u of %zu)", dc->name, knock_addr_str(family, addr, s), what, step, dc->nseq);
}

static int step_is(const struct port_spec *step, const struct knock *k)
{
	return step->proto == k->proto && step->port == k->port;
}

void doors_feed(struct doors *d, const struct knock *k)
{
	int64_t now = k->time_us;
	d->stats.knocks++;
	int32_t i = lookup(d, k->family, k->src);
	struct src *s = i >= 0 ? slot(d, i) : NULL;

	/* How long ago the same knock (proto, port, source port) was seen. */
	int64_t age = INT64_MAX;
	for (unsigned r = 0; s && r < s->nrecent; r++) {
		const struct recent *rc = &recents(d, s)[r];
		if (rc->proto == k->proto && rc->port == k->port && rc->sport == k->sport && now - rc->time < age)
			age = now - rc->time;
	}

	int touched = 0, dup = 0, ignored = 0;
	for (size_t j = 0; j < d->ndoors; j++) {
		const struct door_conf *dc = &d->door[j];
		if (age < INT64_MAX && age >= 0 && age <= dc->dedup_us) {
			dup = 1;
			continue;
		}
		if (k->proto == IPPROTO_TCP &&
		    ((k->flags & dc->flags_set) != dc->flags_set || (k->flags & dc->flags_clear))) {
			ignored = 1;
			continue;
		}
		struct attempt *a = s ? &s->att[j] : NULL;
		if (a && a->step && now - a->start >= dc->window_us) {
			trace(dc, k->family, k->src, "ran out of time", a->step);
			a->step = 0;	/* its timer has not run yet: expired all the same */
			d->stats.expired++;
		}
		if (a && a->step) {
			touched = 1;
			if (step_is(&dc->seq[a->step], k)) {
				if (++a->step == dc->nseq) {
					trace(dc, k->family, k->src, "completed the sequence", a->step);
					a->step = 0;
					d->stats.opened++;
					d->cb(d->ctx, dc, k);
				} else {
					trace(dc, k->family, k->src, "advanced", a->step);
				}
				continue;
			}
			trace(dc, k->family, k->src, "knocked on a wrong port: reset", a->step);
			a->step = 0;
			d->stats.resets++;
		}
		if (step_is(&dc->seq[0], k)) {
			touched = 1;
			if (dc->nseq == 1) {
				trace(dc, k->family, k->src, "completed the sequence", 1);
				d->stats.opened++;
				d->cb(d->ctx, dc, k);
				continue;
			}
			trace(dc, k->family, k->src, "started", 1);
			if (!s) {
				i = acquire(d, k->family, k->src, now);
				s = slot(d, i);
			}
			s->att[j].step = 1;
			s->att[j].start = now;
		}
	}
	d->stats.duplicates += (uint64_t)dup;
	d->stats.ignored += (uint64_t)(ignored && !dup);

	if (!s && touched && d->max_dedup) {
		/* A one-step door opened: remember the knock so that its
		 * retransmission does not open it again. */
		i = acquire(d, k->family, k->src, now);
		s = slot(d, i);
	}
	if (!s)
		return;
	if (touched && !dup) {
		struct recent *rc = recents(d, s);
		unsigned r = s->nrecent;
		if (r < d->nrecent_max) {
			s->nrecent++;
		} else {
			/* Full: the oldest gives way. */
			r = 0;
			for (unsigned q = 1; q < d->nrecent_max; q++)
				if (rc[q].time < rc[r].time)
					r = q;
		}
		rc[r] = (struct recent){.time = now, .port = k->port, .sport = k->sport, .proto = k->proto};
		if (now > s->last)
			s->last = now;
	}
	settle(d, i);
}

void doors_expire(struct doors *d, int64_t now)
{
	int32_t i;
	while ((i = heap_first(d)) >= 0 && slot(d, i)->deadline <= now) {
		struct src *s = slot(d, i);
		for (size_t j = 0; j < d->ndoors; j++) {
			if (s->att[j].step && s->att[j].start + d->door[j].window_us <= now) {
				trace(&d->door[j], s->family, s->addr, "ran out of time", s->att[j].step);
				s->att[j].step = 0;
				d->stats.expired++;
			}
		}
		if (s->last + d->max_dedup <= now)
			s->nrecent = 0;
		settle(d, i);
	}
}

int64_t doors_next_deadline(const struct doors *d)
{
	int32_t i = heap_first(d);
	return i >= 0 ? slot(d, i)->deadline : INT64_MAX;
}

size_t doors_tracked(const struct doors *d)
{
	return d->heap_n[0] + d->heap_n[1];
}

const struct doors_stats *doors_stats(const struct doors *d)
{
	return &d->stats;
}

static int same_door(const struct door_conf *a, const struct door_conf *b)
{
	return strcmp(a->name, b->name) == 0 && a->nseq == b->nseq &&
	       memcmp(a->seq, b->seq, a->nseq * sizeof *a->seq) == 0 && a->window_us == b->window_us &&
	       a->dedup_us == b->dedup_us && a->flags_set == b->flags_set && a->flags_clear == b->flags_clear;
}

void doors_migrate(struct doors *to, const struct doors *from)
{
	/* For each new door, the old door with the same definition, if any. */
	for (size_t h = 0; h < from->heap_n[0] + from->heap_n[1]; h++) {
		struct src *os = slot(from, h < from->heap_n[0] ? from->heap[0][h] : from->heap[1][h - from->heap_n[0]]);
		int32_t i = -1;
		for (size_t j = 0; j < to->ndoors; j++) {
			for (size_t k = 0; k < from->ndoors; k++) {
				if (!os->att[k].step || !same_door(&to->door[j], &from->door[k]))
					continue;
				if (i < 0 && (i = lookup(to, os->family, os->addr)) < 0)
					i = acquire(to, os->family, os->addr, os->last);
				slot(to, i)->att[j] = os->att[k];
			}
		}
		if (i < 0 && os->nrecent)
			i = acquire(to, os->family, os->addr, os->last);
		if (i < 0)
			continue;
		struct src *ns = slot(to, i);
		unsigned n = os->nrecent < to->nrecent_max ? os->nrecent : to->nrecent_max;
		memcpy(recents(to, ns), recents(from, os), n * sizeof(struct recent));
		ns->nrecent = (uint8_t)n;
		ns->last = os->last;
		settle(to, i);
	}
}
