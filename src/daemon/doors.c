/* doors.c — where a door decides.
 *
 * Per source (address) we keep, in a slot of a pool sized at start (and
 * touched only as sources arrive):
 *   - for every door, the attempt in progress: next step and start time;
 *   - the last few knocks, to count a retransmitted SYN once.
 * Sources are found through a hash table with a secret seed (sources are
 * chosen by strangers), ordered by their next deadline in a min-heap (the
 * expiry timer) and, for eviction, in two lists by their last knock.
 *
 * List 1 holds the sources with proven progress: an attempt past a step a
 * spoofer cannot make without the door's secret (the second step of a
 * sequence or one_time door, the second port of a live totp code). List 0
 * holds the others, among them every encrypted attempt: its knocks prove
 * nothing before the tenth, and a spoofer can put any number of sources at
 * any step. When the pool is full, the source of list 0 that knocked least
 * recently makes room (one of list 1 only when list 0 is empty). Every knock
 * that starts or advances an attempt moves its source to the front, so a
 * client is pushed out only if, between two of its own knocks, other sources
 * make at least max_sources - (sources in list 1) such knocks: what bounds
 * a client under a flood is the longest gap between two of its knocks,
 * whatever the door and however many knocks it needs.
 */
#include "doors.h"

#include "log.h"
#include "onetime.h"

#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

/* Knocks remembered per source for de-duplication: enough for two attempts
 * at the longest sequence (a mistyped one and its retry), so that the
 * retransmission of any step is still known (at least 8, at most 33). */
#define RECENT_MIN 8
#define RECENT_MAX 33

/* The most steps of clock difference a time-based attempt follows either
 * way: the bits of attempt.u.steps (the configuration allows 5). */
#define TOTP_TOLERANCE_MAX 7

struct attempt {
	int64_t start;
	uint16_t step;		/* knocks made so far (the next step expected); 0: no attempt */
	uint16_t have;		/* encrypted: the positions held (bit i: knock i) */
	union {
		uint32_t seq;	/* one_time: the index of the sequence knocked */
		uint16_t steps;	/* totp: the steps whose ports it matched so far (bit TOTP_TOLERANCE_MAX + dt:
				 * the start's step + dt) */
		uint8_t byte[KC_ENC_KNOCKS];	/* encrypted: the bytes */
	} u;
};

struct recent {
	int64_t time;
	uint16_t port, sport;
	uint8_t proto;
};

struct src {
	int32_t hnext;		/* hash chain, or free list */
	int32_t heap_pos;	/* -1: slot free */
	int32_t lprev, lnext;	/* its eviction list: towards the front (more recent), the back */
	uint8_t tier;		/* the list it is in: 1 with proven progress */
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
	size_t bucket_max;	/* buckets at most: the table doubles up to it as slots are taken */
	int32_t *heap;
	size_t heap_n;
	int32_t front[2], back[2];	/* eviction lists: the last knocked, the first to go */
	int32_t free_head;	/* slots released, chained by hnext */
	size_t used;		/* slots ever taken: those above were never touched */
	uint64_t seed[2];
	doors_open_fn cb;
	void *ctx;
	struct doors_stats stats;
	struct doors_door_stats *ds;	/* per door */
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

static void heap_set(struct doors *d, size_t pos, int32_t i)
{
	d->heap[pos] = i;
	slot(d, i)->heap_pos = (int32_t)pos;
}

static void heap_fix(struct doors *d, size_t pos)
{
	int32_t *h = d->heap;
	int32_t i = h[pos];
	int64_t key = slot(d, i)->deadline;
	while (pos > 0 && slot(d, h[(pos - 1) / 2])->deadline > key) {
		heap_set(d, pos, h[(pos - 1) / 2]);
		pos = (pos - 1) / 2;
	}
	for (;;) {
		size_t c = 2 * pos + 1;
		if (c >= d->heap_n)
			break;
		if (c + 1 < d->heap_n && slot(d, h[c + 1])->deadline < slot(d, h[c])->deadline)
			c++;
		if (slot(d, h[c])->deadline >= key)
			break;
		heap_set(d, pos, h[c]);
		pos = c;
	}
	heap_set(d, pos, i);
}

static void heap_remove(struct doors *d, int32_t i)
{
	struct src *s = slot(d, i);
	size_t pos = (size_t)s->heap_pos;
	d->heap_n--;
	if (pos != d->heap_n) {
		heap_set(d, pos, d->heap[d->heap_n]);
		heap_fix(d, pos);
	}
	s->heap_pos = -1;
}

static void heap_add(struct doors *d, int32_t i)
{
	heap_set(d, d->heap_n++, i);
	heap_fix(d, d->heap_n - 1);
}

/* ---- eviction lists ------------------------------------------------------------ */

static void list_unlink(struct doors *d, int32_t i)
{
	struct src *s = slot(d, i);
	if (s->lprev >= 0)
		slot(d, s->lprev)->lnext = s->lnext;
	else
		d->front[s->tier] = s->lnext;
	if (s->lnext >= 0)
		slot(d, s->lnext)->lprev = s->lprev;
	else
		d->back[s->tier] = s->lprev;
}

/* Puts source I at the front of list T: it knocked last. */
static void list_push(struct doors *d, int t, int32_t i)
{
	struct src *s = slot(d, i);
	s->tier = (uint8_t)t;
	s->lprev = -1;
	s->lnext = d->front[t];
	if (s->lnext >= 0)
		slot(d, s->lnext)->lprev = i;
	else
		d->back[t] = i;
	d->front[t] = i;
}

/* ---- slots ------------------------------------------------------------------ */

/* Ends attempt A at door J, if it is in progress. */
static void att_stop(struct doors *d, size_t j, struct attempt *a)
{
	if (a->step) {
		a->step = 0;
		d->ds[j].in_progress--;
	}
}

static void release(struct doors *d, int32_t i)
{
	struct src *s = slot(d, i);
	for (size_t j = 0; j < d->ndoors; j++)
		att_stop(d, j, &s->att[j]);	/* evicted: its attempts are lost */
	int32_t *pp = &d->bucket[hash(d, s->family, s->addr)];
	while (*pp != i)
		pp = &slot(d, *pp)->hnext;
	*pp = s->hnext;
	heap_remove(d, i);
	list_unlink(d, i);
	s->hnext = d->free_head;
	d->free_head = i;
}

/* Doubles the hash table once slots in use reach half its buckets, so that
 * it stays small (and in cache) while few sources are tracked. Without
 * memory the table stays as it is: chains only grow longer. */
static void grow(struct doors *d)
{
	size_t nb = (size_t)d->bucket_mask + 1;
	if ((d->used + 1) * 2 <= nb || nb >= d->bucket_max)
		return;
	int32_t *b = malloc(2 * nb * sizeof *b);
	if (!b)
		return;
	free(d->bucket);
	d->bucket = b;
	d->bucket_mask = (uint32_t)(2 * nb - 1);
	memset(b, 0xff, 2 * nb * sizeof *b);
	for (size_t i = 0; i < d->used; i++) {
		struct src *s = slot(d, (int32_t)i);
		if (s->heap_pos < 0)
			continue;	/* free */
		uint32_t h = hash(d, s->family, s->addr);
		s->hnext = b[h];
		b[h] = (int32_t)i;
	}
}

/* A source with proven progress dropped is a client who lost its attempt
 * to a flood: said as a warning (it needs the doors' secrets to be in that
 * list, so strangers cannot make many of these). Others only at -v -v: a
 * flood of spoofed sources makes one for every new source. */
static void say_evicted(const struct doors *d, int32_t i, int progressed)
{
	int level = progressed ? LOG_LVL_WARN : LOG_LVL_DEBUG;
	if (log_verbosity < level)
		return;
	const struct src *s = slot(d, i);
	char a[KNOCK_ADDRSTRLEN];
	knock_addr_str(s->family, s->addr, a);
	for (size_t j = 0; j < d->ndoors; j++) {
		if (!s->att[j].step)
			continue;
		log_event(level, LOGEV_EVICT, d->door[j].name, a, NULL,
			  "door %s: %s dropped at step %u to make room for a new source (max_sources %zu reached)%s",
			  d->door[j].name, a, s->att[j].step, d->max,
			  progressed ? ": every tracked source had made progress" : "");
		return;
	}
	log_event(level, LOGEV_EVICT, NULL, a, NULL, "%s forgotten to make room for a new source (max_sources %zu reached)",
		  a, d->max);
}

static int32_t acquire(struct doors *d, int family, const uint8_t *addr, int64_t now)
{
	int32_t i;
	if (d->free_head < 0 && d->used < d->max) {
		grow(d);
		/* A slot never used: its memory is touched for the first time. */
		i = (int32_t)d->used++;
	} else {
		if (d->free_head < 0) {
			/* Full: the source without proven progress that knocked
			 * least recently makes room. */
			int t = d->back[0] >= 0 ? 0 : 1;
			say_evicted(d, d->back[t], t);
			release(d, d->back[t]);
			d->stats.evicted++;
			d->stats.evicted_progressed += (uint64_t)t;
		}
		i = d->free_head;
		d->free_head = slot(d, i)->hnext;
	}
	struct src *s = slot(d, i);
	memset(s, 0, d->stride);
	s->family = (uint8_t)family;
	memcpy(s->addr, addr, 16);
	s->last = now;
	s->deadline = now;
	uint32_t b = hash(d, family, addr);
	s->hnext = d->bucket[b];
	d->bucket[b] = i;
	heap_add(d, i);
	list_push(d, 0, i);
	return i;
}

/* Whether attempt A at door DC got past a step that a spoofer who does not
 * know the door's secret can only guess: the second step of a sequence
 * (one chance in 2 * 65536 per guess when the first is known), two ports
 * of a live totp code (at most (2 * tolerance + 1) / (span * (span - 1))
 * per pair). An encrypted attempt proves nothing before it completes. */
static int proven(const struct door_conf *dc, const struct attempt *a)
{
	return a->step >= 2 && dc->kind != DOOR_ENCRYPTED;
}

/* Recomputes a source's deadline and list, to the front of it when it
 * KNOCKED; frees it when nothing is left to wait for. */
static void settle(struct doors *d, int32_t i, int knocked)
{
	struct src *s = slot(d, i);
	int64_t dl = INT64_MAX;
	int tier = 0;
	for (size_t j = 0; j < d->ndoors; j++) {
		if (s->att[j].step && s->att[j].start + d->door[j].window_us < dl)
			dl = s->att[j].start + d->door[j].window_us;
		if (s->att[j].step && proven(&d->door[j], &s->att[j]))
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
	heap_fix(d, (size_t)s->heap_pos);
	/* A source that changes lists without a knock (an attempt expired)
	 * goes to the front as well: it was the last to prove progress. */
	if (knocked || tier != s->tier) {
		list_unlink(d, i);
		list_push(d, tier, i);
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
		/* A one-time door's later sequences may be longer than its first. */
		size_t n = door[j].kind == DOOR_ONE_TIME ? onetime_longest(door[j].one_time) : door[j].nseq;
		if (n > longest)
			longest = n;
	}
	size_t want = 2 * longest + 2;
	d->nrecent_max = want < RECENT_MIN ? RECENT_MIN : want > RECENT_MAX ? RECENT_MAX : (unsigned)want;
	d->recent_off = (sizeof(struct src) + ndoors * sizeof(struct attempt) + 7) & ~(size_t)7;
	d->stride = (d->recent_off + d->nrecent_max * sizeof(struct recent) + 15) & ~(size_t)15;
	size_t nb = 16;
	while (nb < 2 * max_sources)
		nb *= 2;
	d->bucket_max = nb;
	nb = 16;
	d->bucket_mask = (uint32_t)(nb - 1);
	d->ds = calloc(ndoors ? ndoors : 1, sizeof *d->ds);
	d->pool = calloc(max_sources, d->stride);
	d->bucket = malloc(nb * sizeof *d->bucket);
	d->heap = malloc(max_sources * sizeof *d->heap);
	if (!d->pool || !d->bucket || !d->heap || !d->ds) {
		doors_free(d);
		return NULL;
	}
	/* The pool is taken slot by slot as sources come (acquire): calloc's
	 * fresh pages cost no memory until then, so a daemon that sees few
	 * sources starts fast and small. */
	memset(d->bucket, 0xff, nb * sizeof *d->bucket);
	d->free_head = -1;
	d->used = 0;
	d->front[0] = d->front[1] = d->back[0] = d->back[1] = -1;
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
	free(d->heap);
	free(d->ds);
	free(d);
}

/* -v -v: every change of an attempt, for an admin finding out why a door
 * did not open. */
static void trace(const struct door_conf *dc, int family, const uint8_t *addr, const char *what, unsigned step,
		  size_t of)
{
	if (log_verbosity < LOG_LVL_DEBUG)
		return;
	char s[KNOCK_ADDRSTRLEN];
	log_debug("door %s: %s %s (step %u of %zu)", dc->name, knock_addr_str(family, addr, s), what, step, of);
}

static int step_is(const struct port_spec *step, const struct knock *k)
{
	return step->proto == k->proto && step->port == k->port;
}

/* One knock on its way through the doors: the source's slot is taken only
 * when an attempt starts. */
struct feed {
	struct doors *d;
	const struct knock *k;
	int32_t i;
	struct src *s;
};

static struct attempt *attempt_new(struct feed *f, size_t j)
{
	if (!f->s) {
		f->i = acquire(f->d, f->k->family, f->k->src, f->k->time_us);
		f->s = slot(f->d, f->i);
	}
	struct attempt *a = &f->s->att[j];
	memset(a, 0, sizeof *a);	/* never one in progress: the caller ended it */
	a->start = f->k->time_us;
	f->d->ds[j].attempts++;
	f->d->ds[j].in_progress++;	/* the caller sets its step */
	return a;
}

static void open_door(struct feed *f, const struct door_conf *dc, const struct door_request *r)
{
	f->d->stats.opened++;
	f->d->cb(f->d->ctx, dc, f->k, r);
}

static void open_default(struct feed *f, const struct door_conf *dc, int64_t code)
{
	struct door_request r = {.ports = dc->open, .nports = dc->nopen, .duration_us = dc->duration_us,
				 .code = code};
	open_door(f, dc, &r);
}

/* sequence: and one_time: a list of ports in order; a wrong knock resets. */
static int feed_sequence(struct feed *f, size_t j, struct attempt *a)
{
	const struct door_conf *dc = &f->d->door[j];
	const struct knock *k = f->k;
	const struct port_spec *seq = dc->seq;
	size_t n = dc->nseq;
	uint32_t index = 0;
	if (dc->kind == DOOR_ONE_TIME && !(seq = onetime_current(dc->one_time, &n, &index)))
		return 0;	/* every sequence is used */
	if (a && a->step && dc->kind == DOOR_ONE_TIME && a->u.seq != index)
		att_stop(f->d, j, a);	/* the sequence it followed was used meanwhile */
	int touched = 0;
	if (a && a->step) {
		touched = 1;
		if (step_is(&seq[a->step], k)) {
			f->d->ds[j].knocks++;
			if (++a->step == n) {
				trace(dc, k->family, k->src, "completed the sequence", a->step, n);
				att_stop(f->d, j, a);
				open_default(f, dc, index);
			} else {
				trace(dc, k->family, k->src, "advanced", a->step, n);
			}
			return 1;
		}
		trace(dc, k->family, k->src, "knocked on a wrong port: reset", a->step, n);
		att_stop(f->d, j, a);
		f->d->stats.resets++;
	}
	if (!step_is(&seq[0], k))
		return touched;
	f->d->ds[j].knocks++;
	if (n == 1) {
		trace(dc, k->family, k->src, "completed the sequence", 1, n);
		open_default(f, dc, index);
		return 1;
	}
	trace(dc, k->family, k->src, "started", 1, n);
	a = attempt_new(f, j);
	a->step = 1;
	a->u.seq = index;
	return 1;
}

/* Of the steps in CAND (bit TOTP_TOLERANCE_MAX + dt: step BASE + dt), those
 * whose knock number N is PORT. */
static uint16_t totp_match(const struct door_conf *dc, const struct kc_bind *b, int64_t base, uint16_t cand,
			   unsigned n, uint16_t port)
{
	const struct door_code *c = &dc->code;
	uint16_t ports[KC_TOTP_MAX_KNOCKS], left = 0;
	for (int dt = -TOTP_TOLERANCE_MAX; dt <= TOTP_TOLERANCE_MAX; dt++) {
		uint16_t bit = (uint16_t)(1u << (TOTP_TOLERANCE_MAX + dt));
		if (!(cand & bit))
			continue;
		kc_totp_ports(c->key, dc->name, base + dt, b, c->lo, c->hi, c->knocks, ports);
		if (ports[n] == port)
			left |= bit;
	}
	return left;
}

/* The step of STEPS (as above) closest to BASE, the earlier on a tie: the
 * code a completed attempt is known by. */
static int64_t totp_pick(uint16_t steps, int64_t base)
{
	for (int d = 0; d <= TOTP_TOLERANCE_MAX; d++) {
		if (steps & (1u << (TOTP_TOLERANCE_MAX - d)))
			return base - d;
		if (steps & (1u << (TOTP_TOLERANCE_MAX + d)))
			return base + d;
	}
	return base;	/* not reached: STEPS is never empty */
}

/* totp: the ports of a time step within the tolerance either side of the
 * first knock's. Two steps may share their first ports (with a narrow
 * range, often): an attempt follows every step its knocks match so far,
 * and a wrong knock resets it only when none is left. */
static int feed_totp(struct feed *f, size_t j, struct attempt *a)
{
	const struct door_conf *dc = &f->d->door[j];
	const struct door_code *c = &dc->code;
	const struct knock *k = f->k;
	struct kc_bind b = kc_bind_make(c->bind_source, k->family, k->src);
	int in = k->proto == c->proto && k->port >= c->lo && k->port <= c->hi, touched = 0;

	if (a && a->step) {
		touched = 1;
		int64_t base = kc_step(a->start, c->step_us);
		uint16_t left = in ? totp_match(dc, &b, base, a->u.steps, a->step, k->port) : 0;
		if (left) {
			f->d->ds[j].knocks++;
			a->u.steps = left;
			if (++a->step == c->knocks) {
				trace(dc, k->family, k->src, "completed the sequence", a->step, c->knocks);
				att_stop(f->d, j, a);
				open_default(f, dc, totp_pick(left, base));
			} else {
				trace(dc, k->family, k->src, "advanced", a->step, c->knocks);
			}
			return 1;
		}
		trace(dc, k->family, k->src, "knocked on a wrong port: reset", a->step, c->knocks);
		att_stop(f->d, j, a);
		f->d->stats.resets++;
	}
	if (!in)
		return touched;
	int64_t now = kc_step(k->time_us, c->step_us);
	unsigned tol = c->tolerance < TOTP_TOLERANCE_MAX ? c->tolerance : TOTP_TOLERANCE_MAX;
	uint16_t all = (uint16_t)(((1u << (2 * tol + 1)) - 1) << (TOTP_TOLERANCE_MAX - tol));
	uint16_t left = totp_match(dc, &b, now, all, 0, k->port);
	if (!left)
		return touched;
	f->d->ds[j].knocks++;
	if (c->knocks == 1) {
		trace(dc, k->family, k->src, "completed the sequence", 1, 1);
		open_default(f, dc, totp_pick(left, now));
		return 1;
	}
	trace(dc, k->family, k->src, "started", 1, c->knocks);
	a = attempt_new(f, j);
	a->step = 1;
	a->u.steps = left;
	return 1;
}

/* encrypted: knock i carries byte b at port base + 256*i + b, in any order;
 * knocks elsewhere do not concern the door. */
static int feed_encrypted(struct feed *f, size_t j, struct attempt *a)
{
	const struct door_conf *dc = &f->d->door[j];
	const struct door_code *c = &dc->code;
	const struct knock *k = f->k;
	if (k->proto != c->proto || k->port < c->lo || k->port > c->hi)
		return 0;
	unsigned off = (unsigned)(k->port - c->lo), pos = off / 256;
	uint8_t byte = (uint8_t)(off % 256);

	if (a && a->step && (a->have & (1u << pos))) {
		if (a->u.byte[pos] == byte)
			return 1;	/* the same knock again */
		trace(dc, k->family, k->src, "knocked another byte at a place held: starting over", a->step,
		      KC_ENC_KNOCKS);
		att_stop(f->d, j, a);
		f->d->stats.resets++;
	}
	f->d->ds[j].knocks++;
	if (!a || !a->step)
		a = attempt_new(f, j);
	a->have |= (uint16_t)(1u << pos);
	a->u.byte[pos] = byte;
	if (++a->step < KC_ENC_KNOCKS) {
		trace(dc, k->family, k->src, a->step == 1 ? "started" : "advanced", a->step, KC_ENC_KNOCKS);
		return 1;
	}
	att_stop(f->d, j, a);

	struct kc_bind b = kc_bind_make(c->bind_source, k->family, k->src);
	struct kc_request req;
	int64_t first = kc_step(a->start, c->step_us);
	for (int dt = -(int)c->tolerance; dt <= (int)c->tolerance; dt++) {
		if (kc_enc_decode(c->key, dc->name, first + dt, &b, a->u.byte, &req) < 0)
			continue;
		const struct port_spec *allowed = NULL;
		for (size_t p = 0; p < dc->nopen && !allowed; p++)
			if (dc->open[p].proto == req.proto && dc->open[p].port == req.port)
				allowed = &dc->open[p];
		char s[KNOCK_ADDRSTRLEN], p[24];
		if (!allowed) {
			/* Only a holder of the key gets here: say it plainly. */
			snprintf(p, sizeof p, "%s/%u", knock_proto_str(req.proto), req.port);
			log_event(LOG_LVL_WARN, LOGEV_WRONG_KEY, dc->name, knock_addr_str(k->family, k->src, s), p,
				  "door %s: %s asked for %s, which the door does not open", dc->name, s, p);
			f->d->stats.rejected++;
			f->d->ds[j].rejected++;
			return 1;
		}
		int64_t want = (int64_t)req.seconds * 1000000;
		struct door_request r = {
			.ports = allowed,
			.nports = 1,
			.duration_us = req.seconds == 0 || want > dc->duration_us ? dc->duration_us : want,
			.code = first + dt,
		};
		memcpy(r.tag, a->u.byte + KC_ENC_KNOCKS - KC_ENC_TAG, KC_ENC_TAG);
		trace(dc, k->family, k->src, "sent a code that verifies", KC_ENC_KNOCKS, KC_ENC_KNOCKS);
		open_door(f, dc, &r);
		return 1;
	}
	/* At -v -v only, as trace() says it: a spoofer makes one with every
	 * ten knocks, and journald's rate limit would then hide the opens. */
	if (log_verbosity >= LOG_LVL_DEBUG) {
		char s[KNOCK_ADDRSTRLEN];
		knock_addr_str(k->family, k->src, s);
		log_event(LOG_LVL_DEBUG, LOGEV_WRONG_KEY, dc->name, s, NULL,
			  "door %s: %s sent a code that does not verify (step %u of %u)", dc->name, s, KC_ENC_KNOCKS,
			  KC_ENC_KNOCKS);
	}
	f->d->stats.rejected++;
	f->d->ds[j].rejected++;
	return 1;
}

void doors_feed(struct doors *d, const struct knock *k)
{
	int64_t now = k->time_us;
	d->stats.knocks++;
	struct feed f = {.d = d, .k = k, .i = lookup(d, k->family, k->src)};
	f.s = f.i >= 0 ? slot(d, f.i) : NULL;

	/* How long ago the same knock (proto, port, source port) was seen. */
	int64_t age = INT64_MAX;
	for (unsigned r = 0; f.s && r < f.s->nrecent; r++) {
		const struct recent *rc = &recents(d, f.s)[r];
		if (rc->proto == k->proto && rc->port == k->port && rc->sport == k->sport && now - rc->time < age)
			age = now - rc->time;
	}

	int touched = 0, dup = 0, ignored = 0;
	for (size_t j = 0; j < d->ndoors; j++) {
		const struct door_conf *dc = &d->door[j];
		/* at: knocks logged by other hosts do not exist for this door
		 * (a knock of unknown host neither) */
		if (dc->nat && !(k->host && config_host_in(dc->at, dc->nat, k->host, k->hostlen)))
			continue;
		if (age < INT64_MAX && age >= 0 && age <= dc->dedup_us) {
			dup = 1;
			continue;
		}
		if (k->proto == IPPROTO_TCP &&
		    ((k->flags & dc->flags_set) != dc->flags_set || (k->flags & dc->flags_clear))) {
			ignored = 1;
			continue;
		}
		struct attempt *a = f.s ? &f.s->att[j] : NULL;
		if (a && a->step && now - a->start >= dc->window_us) {
			trace(dc, k->family, k->src, "ran out of time", a->step, dc->nseq);
			att_stop(d, j, a);	/* its timer has not run yet: expired all the same */
			d->stats.expired++;
		}
		switch (dc->kind) {
		case DOOR_SEQUENCE:
		case DOOR_ONE_TIME:
			touched |= feed_sequence(&f, j, a);
			break;
		case DOOR_TOTP:
			touched |= feed_totp(&f, j, a);
			break;
		case DOOR_ENCRYPTED:
			touched |= feed_encrypted(&f, j, a);
			break;
		}
	}
	d->stats.duplicates += (uint64_t)dup;
	d->stats.ignored += (uint64_t)(ignored && !dup);

	if (!f.s && touched && d->max_dedup) {
		/* A one-step door opened: remember the knock so that its
		 * retransmission does not open it again. */
		f.i = acquire(d, k->family, k->src, now);
		f.s = slot(d, f.i);
	}
	if (!f.s)
		return;
	struct src *s = f.s;
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
	settle(d, f.i, touched && !dup);
}

void doors_expire(struct doors *d, int64_t now)
{
	int32_t i;
	while (d->heap_n && slot(d, i = d->heap[0])->deadline <= now) {
		struct src *s = slot(d, i);
		for (size_t j = 0; j < d->ndoors; j++) {
			if (s->att[j].step && s->att[j].start + d->door[j].window_us <= now) {
				trace(&d->door[j], s->family, s->addr, "ran out of time", s->att[j].step,
				      d->door[j].nseq);
				att_stop(d, j, &s->att[j]);
				d->stats.expired++;
			}
		}
		if (s->last + d->max_dedup <= now)
			s->nrecent = 0;
		settle(d, i, 0);
	}
}

int64_t doors_next_deadline(const struct doors *d)
{
	return d->heap_n ? slot(d, d->heap[0])->deadline : INT64_MAX;
}

size_t doors_tracked(const struct doors *d)
{
	return d->heap_n;
}

const struct doors_stats *doors_stats(const struct doors *d)
{
	return &d->stats;
}

static int same_code(const struct door_code *a, const struct door_code *b)
{
	return memcmp(a->key, b->key, sizeof a->key) == 0 && a->proto == b->proto && a->lo == b->lo &&
	       a->hi == b->hi && a->knocks == b->knocks && a->step_us == b->step_us &&
	       a->tolerance == b->tolerance && a->bind_source == b->bind_source;
}

static int same_door(const struct door_conf *a, const struct door_conf *b)
{
	if (strcmp(a->name, b->name) != 0 || a->kind != b->kind || a->window_us != b->window_us ||
	    a->dedup_us != b->dedup_us || a->flags_set != b->flags_set || a->flags_clear != b->flags_clear)
		return 0;
	switch (a->kind) {
	case DOOR_SEQUENCE:
		return a->nseq == b->nseq && memcmp(a->seq, b->seq, a->nseq * sizeof *a->seq) == 0;
	case DOOR_ONE_TIME:
		/* Attempts hold the index of their sequence: one used meanwhile
		 * resets them. */
		return strcmp(onetime_path(a->one_time), onetime_path(b->one_time)) == 0;
	default:
		return same_code(&a->code, &b->code);
	}
}

void doors_migrate(struct doors *to, const struct doors *from)
{
	/* The counts follow a door's name, whatever its new definition. */
	for (size_t j = 0; j < to->ndoors; j++) {
		for (size_t k = 0; k < from->ndoors; k++) {
			if (strcmp(to->door[j].name, from->door[k].name) != 0)
				continue;
			to->ds[j].knocks = from->ds[k].knocks;
			to->ds[j].attempts = from->ds[k].attempts;
			to->ds[j].rejected = from->ds[k].rejected;
			break;
		}
	}
	/* Least recent first, so that the new lists keep the order of the old
	 * (and a smaller pool drops the least recent); for each new door, the
	 * old door with the same definition, if any. */
	for (int32_t o = from->back[0] >= 0 ? from->back[0] : from->back[1]; o >= 0;) {
		struct src *os = slot(from, o);
		o = os->lprev >= 0 || os->tier ? os->lprev : from->back[1];
		int32_t i = -1;
		for (size_t j = 0; j < to->ndoors; j++) {
			for (size_t k = 0; k < from->ndoors; k++) {
				if (!os->att[k].step || !same_door(&to->door[j], &from->door[k]))
					continue;
				if (i < 0 && (i = lookup(to, os->family, os->addr)) < 0)
					i = acquire(to, os->family, os->addr, os->last);
				att_stop(to, j, &slot(to, i)->att[j]);	/* names are unique: never, but kept exact */
				slot(to, i)->att[j] = os->att[k];
				to->ds[j].in_progress++;
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
		settle(to, i, 1);
	}
}

const struct doors_door_stats *doors_door_stats(const struct doors *d, size_t j)
{
	static const struct doors_door_stats none;
	return j < d->ndoors ? &d->ds[j] : &none;
}

int doors_each_attempt(const struct doors *d, int (*fn)(void *ctx, const struct doors_attempt *a), void *ctx)
{
	for (size_t i = 0; i < d->used; i++) {
		const struct src *s = slot(d, (int32_t)i);
		if (s->heap_pos < 0)
			continue;	/* free */
		for (size_t j = 0; j < d->ndoors; j++) {
			const struct attempt *at = &s->att[j];
			if (!at->step)
				continue;
			const struct door_conf *dc = &d->door[j];
			size_t steps = dc->kind == DOOR_ENCRYPTED ? KC_ENC_KNOCKS : dc->nseq;
			if (dc->kind == DOOR_ONE_TIME) {
				uint32_t index;
				if (!onetime_current(dc->one_time, &steps, &index))
					steps = at->step;
			}
			struct doors_attempt a = {.door = dc, .family = s->family, .src = s->addr, .step = at->step,
						  .steps = (unsigned)steps, .started_us = at->start, .last_us = s->last};
			int r = fn(ctx, &a);
			if (r)
				return r;
		}
	}
	return 0;
}
