/* fuzz-knockcode.c — the authenticated knocks: the decoder of encrypted
 * knocks, the time-based ports, and both kinds of door fed a stream of
 * knocks.
 *
 * Input (a byte past the end reads as 0):
 *   0..9    BYTES: ten knock bytes
 *   10..17  STEP: a time step, big-endian
 *   18      WHO: bit 0 IPv6, bit 1 the code is bound to ADDR
 *   19..34  ADDR
 *   35..38  LO, HI (big-endian): a range for kc_totp_ports
 *   39      KNOCKS for kc_totp_ports (0..255; it clamps to 16)
 *   40      DOORS: bits 0-3 the totp door's knocks - 1, bit 4 it binds the
 *           source, bit 5 the encrypted door binds, bit 6 its knocks are
 *           UDP (else TCP, like the totp door's), bit 7 the clock starts 45 s
 *           before 1970 (floor division of negative times) instead of 2026
 *   41..    knocks, 5 bytes each: TIME SRC P1 P2 SPORT
 *     TIME  bits 0-5 N, bits 6-7 the unit: 1 ms (N - 8: up to 8 ms back,
 *           as when two logs merge), 100 ms, 1 s, 15 s (half a step)
 *     SRC   bits 0-2 which of 8 addresses, bit 3 IPv6; bits 4-5: TCP SYN,
 *           TCP SYN+ACK (every door ignores it), UDP, ICMP; bits 6-7 the
 *           port: P1P2 as is; in the totp range; the encrypted door's byte
 *           P2 at place P1 % 10; or the right knock, made here (below)
 *     right knock: P1 bit 7 clear: the totp door's port number (P1 & 15) %
 *           knocks; set: the encrypted door's byte at place (P1 & 15) % 10
 *           of a request for P2 bits 0-1 {tcp/22, udp/53, tcp/443, tcp/8080
 *           (not in open:)}, P2 bits 2-3 {0, 10, 60, 32767} seconds; for
 *           both, P2 bits 4-5 the time step {0, -1, +1, +2 (outside the
 *           tolerance)} from the knock's own, and P2 bit 6 the code made for
 *           the next address instead of the knocker's (a bound door must not
 *           open for it)
 *
 * Checked:
 *   (a) BYTES decoded at STEP for ADDR: a request that decodes names a
 *       port, tcp or udp, at most KC_MAX_SECONDS, and encodes back to the
 *       same bytes (SIV is deterministic). BYTES read as a request (port,
 *       seconds, protocol): it encodes exactly when it is valid; the code
 *       decodes to it, and no longer once a byte, the step, the door or the
 *       bind changes (a 48-bit tag: a false alarm is a 2^-48 event).
 *   (b) the knocks through a struct doors with a totp door and an encrypted
 *       door (tolerance 1, 8 sources for 16 addresses: eviction is reached).
 *       Every open is for the knock being fed; a totp door opens for the
 *       knock of the last port of its code, and the knocker sent every port
 *       of that code, in order, within the window; an encrypted door opens
 *       only for a code made here, at that step, for that source (when
 *       bound), grants the one port asked for, which is in its open: list,
 *       for the time asked (never more than its duration), and the knocker
 *       sent all ten bytes within the window. When the knocks are plain
 *       enough for the answer to be known (a clean run, below), a door opens
 *       exactly when it must, with the code it must. Sources tracked stay
 *       within the limit; once time passes, none is left.
 *   (c) kc_totp_ports on LO..HI (made 1 <= LO < HI), KNOCKS, STEP, ADDR:
 *       every port in the range, no two in a row alike, and the first ports
 *       the same whatever the number asked for. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "config.h"
#include "doors.h"
#include "fuzz.h"
#include "knock.h"
#include "knockcode.h"
#include "log.h"

#define SEC INT64_C(1000000)
#define MAX_SOURCES 8
#define NADDR 8
#define BACK_MAX_US (8 * 1000)	/* the furthest a knock goes back in time */
#define HISTORY 64		/* knocks remembered per address */
#define CODES 64		/* encrypted codes made here, remembered */
#define ENC_BASE 40000
#define TOTP_LO 42000		/* inside the encrypted door's ports: a knock there concerns both */
#define TOTP_HI 42015		/* 16 ports: a knock in the range is right one time in 16 */
#define HEADER 41

static const uint8_t key[KC_KEY_BYTES] = {
	0x00, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, 0x09, 0x0a, 0x0b, 0x0c, 0x0d, 0x0e, 0x0f,
	0x10, 0x11, 0x12, 0x13, 0x14, 0x15, 0x16, 0x17, 0x18, 0x19, 0x1a, 0x1b, 0x1c, 0x1d, 0x1e, 0x1f,
};

static struct port_spec open_totp[] = {{IPPROTO_TCP, 22}};
static struct port_spec open_enc[] = {{IPPROTO_TCP, 22}, {IPPROTO_UDP, 53}, {IPPROTO_TCP, 443}};
/* What a right encrypted knock asks for: the last is not in open_enc. */
static const struct port_spec asks[] = {{IPPROTO_TCP, 22}, {IPPROTO_UDP, 53}, {IPPROTO_TCP, 443}, {IPPROTO_TCP, 8080}};
static const uint16_t asks_seconds[] = {0, 10, 60, KC_MAX_SECONDS};
static const int dsteps[] = {0, -1, 1, 2};

enum { D_TOTP, D_ENC, NDOORS };

/* Input bytes, 0 past the end. */
struct in {
	const uint8_t *p;
	size_t n, at;
};

static uint8_t next(struct in *in)
{
	return in->at < in->n ? in->p[in->at++] : 0;
}

struct hist {
	int64_t time;
	uint64_t evicted;	/* the doors' evictions before it was fed */
	uint16_t port, sport;
	uint8_t proto, flags;
};

/* An encrypted code made for a right knock. */
struct code {
	uint8_t bytes[KC_ENC_KNOCKS];
	int64_t step;
	struct kc_bind bind;
	struct kc_request req;
};

struct run {
	struct door_conf door[NDOORS];
	const struct knock *cur;	/* the knock being fed */
	struct hist hist[2 * NADDR][HISTORY];
	size_t nhist[2 * NADDR];	/* knocks ever recorded for the address */
	struct code codes[CODES];
	size_t ncodes;
	uint64_t opened;
	bool opened_now[NDOORS];	/* by the knock being fed */
	int64_t code_now[NDOORS];	/* ... with this code */
};

static void addr_of(int v6, unsigned i, uint8_t out[16])
{
	memset(out, 0, 16);
	if (v6) {
		static const uint8_t p[] = {0x20, 0x01, 0x0d, 0xb8};
		memcpy(out, p, sizeof p);
		out[15] = (uint8_t)(1 + i);
	} else {
		out[0] = 192, out[1] = 0, out[2] = 2, out[3] = (uint8_t)(1 + i);
	}
}

static unsigned addr_index(const struct knock *k)
{
	return (k->family == AF_INET6 ? NADDR : 0) + (unsigned)(k->family == AF_INET6 ? k->src[15] : k->src[3]) - 1;
}

/* ---- (a) the decoder ---------------------------------------------------------- */

static bool request_valid(const struct kc_request *r)
{
	return (r->proto == IPPROTO_TCP || r->proto == IPPROTO_UDP) && r->port != 0 && r->seconds <= KC_MAX_SECONDS;
}

static void check_decoder(const uint8_t bytes[KC_ENC_KNOCKS], int64_t step, const struct kc_bind *b)
{
	static const char door[] = "enc";
	struct kc_request req;
	uint8_t again[KC_ENC_KNOCKS];

	/* Whatever the bytes, a request that decodes is one the encoder makes,
	 * and it makes exactly these bytes. */
	memset(&req, 0xa5, sizeof req);
	if (kc_enc_decode(key, door, step, b, bytes, &req) == 0) {
		FUZZ_CHECK(req.port != 0);
		FUZZ_CHECK(req.seconds <= KC_MAX_SECONDS);
		FUZZ_CHECK(req.proto == IPPROTO_TCP || req.proto == IPPROTO_UDP);
		FUZZ_CHECK(kc_enc_encode(key, door, step, b, &req, again) == 0);
		FUZZ_CHECK(memcmp(again, bytes, KC_ENC_KNOCKS) == 0);
	}

	/* The bytes as a request: port, seconds (any 16 bits), protocol. */
	struct kc_request want = {
		.port = (uint16_t)(bytes[0] << 8 | bytes[1]),
		.seconds = (uint16_t)(bytes[2] << 8 | bytes[3]),
		.proto = (bytes[4] & 2) ? IPPROTO_ICMP : (bytes[4] & 1) ? IPPROTO_UDP : IPPROTO_TCP,
	};
	uint8_t code[KC_ENC_KNOCKS], bad[KC_ENC_KNOCKS];
	int rc = kc_enc_encode(key, door, step, b, &want, code);
	FUZZ_CHECK((rc == 0) == request_valid(&want));
	if (rc != 0)
		return;
	FUZZ_CHECK(kc_enc_encode(key, door, step, b, &want, again) == 0 && memcmp(again, code, sizeof code) == 0);
	memset(&req, 0xa5, sizeof req);
	FUZZ_CHECK(kc_enc_decode(key, door, step, b, code, &req) == 0);
	FUZZ_CHECK(req.port == want.port && req.seconds == want.seconds && req.proto == want.proto);

	/* One byte changed, anywhere (ciphertext or tag): refused. */
	memcpy(bad, code, sizeof bad);
	bad[bytes[5] % KC_ENC_KNOCKS] ^= (uint8_t)(bytes[6] | 1);
	FUZZ_CHECK(kc_enc_decode(key, door, step, b, bad, &req) < 0);
	/* Another step, door or bind: refused. */
	FUZZ_CHECK(kc_enc_decode(key, door, (int64_t)((uint64_t)step + 1), b, code, &req) < 0);
	FUZZ_CHECK(kc_enc_decode(key, door, (int64_t)((uint64_t)step - 1), b, code, &req) < 0);
	FUZZ_CHECK(kc_enc_decode(key, "enc2", step, b, code, &req) < 0);
	struct kc_bind other = *b;
	if (other.version == 0) {
		other.version = 4;	/* the same code, now bound to 0.0.0.0 */
	} else {
		other.addr[bytes[7] % (other.version == 6 ? 16 : 4)] ^= (uint8_t)(bytes[8] | 1);
	}
	FUZZ_CHECK(kc_enc_decode(key, door, step, &other, code, &req) < 0);
}

/* ---- (c) the time-based ports ----------------------------------------------- */

static void check_totp_ports(uint16_t lo, uint16_t hi, unsigned knocks, int64_t step, const struct kc_bind *b)
{
	/* The domain the configuration allows: 1 <= LO < HI. */
	if (lo > hi) {
		uint16_t t = lo;
		lo = hi;
		hi = t;
	}
	if (lo == 0)
		lo = 1;
	if (hi <= lo) {
		if (lo < 65535)
			hi = (uint16_t)(lo + 1);
		else
			lo = 65534;
	}
	uint16_t out[KC_TOTP_MAX_KNOCKS], all[KC_TOTP_MAX_KNOCKS];
	unsigned n = knocks < KC_TOTP_MAX_KNOCKS ? knocks : KC_TOTP_MAX_KNOCKS;
	kc_totp_ports(key, "totp", step, b, lo, hi, knocks, out);
	kc_totp_ports(key, "totp", step, b, lo, hi, KC_TOTP_MAX_KNOCKS, all);
	for (unsigned i = 0; i < n; i++) {
		FUZZ_CHECK(out[i] >= lo && out[i] <= hi);
		FUZZ_CHECK(i == 0 || out[i] != out[i - 1]);
		FUZZ_CHECK(out[i] == all[i]);
	}
}

/* ---- (b) the doors ------------------------------------------------------------ */

/* HIST (knocks ever recorded N) holds every knock of the address after
 * SINCE: false when one may have fallen out of the ring. A knock is at
 * most BACK_MAX_US older than any knock fed before it. */
static bool history_covers(const struct hist *h, size_t n, int64_t since)
{
	if (n <= HISTORY)
		return true;
	return h[n % HISTORY].time + BACK_MAX_US <= since;	/* the oldest kept */
}

/* The address knocked PORTS[0..N-1] in that order after SINCE, with the
 * door's protocol (and TCP flags: a knock the door ignores does not count). */
static bool knocked_in_order(const struct hist *h, size_t nh, int64_t since, const struct door_conf *dc,
			     const uint16_t *ports, size_t n)
{
	size_t first = nh > HISTORY ? nh - HISTORY : 0, want = 0;
	for (size_t i = first; i < nh && want < n; i++) {
		const struct hist *e = &h[i % HISTORY];
		if (e->proto == IPPROTO_TCP &&
		    ((e->flags & dc->flags_set) != dc->flags_set || (e->flags & dc->flags_clear)))
			continue;
		if (e->time > since && e->proto == dc->code.proto && e->port == ports[want])
			want++;
	}
	return want == n;
}

static void check_totp_open(struct run *r, const struct door_conf *dc, const struct knock *k,
			    const struct door_request *q)
{
	const struct door_code *c = &dc->code;
	FUZZ_CHECK(q->ports == dc->open && q->nports == dc->nopen && q->duration_us == dc->duration_us);
	/* The code is that of the first knock's step, within the tolerance; the
	 * first knock was less than a window ago. */
	int64_t now = kc_step(k->time_us + BACK_MAX_US, c->step_us);
	int64_t oldest = kc_step(k->time_us - dc->window_us - BACK_MAX_US, c->step_us);
	FUZZ_CHECK(q->code <= now + (int64_t)c->tolerance && q->code >= oldest - (int64_t)c->tolerance);

	uint16_t ports[KC_TOTP_MAX_KNOCKS];
	struct kc_bind b = kc_bind_make(c->bind_source, k->family, k->src);
	kc_totp_ports(c->key, dc->name, q->code, &b, c->lo, c->hi, c->knocks, ports);
	FUZZ_CHECK(k->proto == c->proto && k->port == ports[c->knocks - 1]);
	unsigned a = addr_index(k);
	int64_t since = k->time_us - dc->window_us - BACK_MAX_US;
	if (history_covers(r->hist[a], r->nhist[a], since))
		FUZZ_CHECK(knocked_in_order(r->hist[a], r->nhist[a], since, dc, ports, c->knocks));
}

static void check_enc_open(struct run *r, const struct door_conf *dc, const struct knock *k,
			   const struct door_request *q)
{
	const struct door_code *c = &dc->code;
	struct kc_bind b = kc_bind_make(c->bind_source, k->family, k->src);
	const struct code *made = NULL;
	for (size_t i = 0; i < r->ncodes && i < CODES && !made; i++) {
		const struct code *m = &r->codes[i];
		if (memcmp(m->bytes + KC_ENC_KNOCKS - KC_ENC_TAG, q->tag, KC_ENC_TAG) == 0 && m->step == q->code &&
		    m->bind.version == b.version && memcmp(m->bind.addr, b.addr, sizeof b.addr) == 0)
			made = m;
	}
	/* Nobody else holds the key: a code that opens was made here, for this
	 * source (when the door binds) and this step. */
	FUZZ_CHECK(made != NULL);
	FUZZ_CHECK(q->nports == 1 && q->ports >= dc->open && q->ports < dc->open + dc->nopen);
	FUZZ_CHECK(q->ports->proto == made->req.proto && q->ports->port == made->req.port);
	int64_t asked = (int64_t)made->req.seconds * SEC;
	int64_t want = made->req.seconds == 0 || asked > dc->duration_us ? dc->duration_us : asked;
	FUZZ_CHECK(q->duration_us == want && q->duration_us > 0 && q->duration_us <= dc->duration_us);
	int64_t first = kc_step(k->time_us - dc->window_us - BACK_MAX_US, c->step_us);
	int64_t last = kc_step(k->time_us + BACK_MAX_US, c->step_us);
	FUZZ_CHECK(q->code >= first - (int64_t)c->tolerance && q->code <= last + (int64_t)c->tolerance);

	/* All ten bytes came from this source within the window. */
	unsigned a = addr_index(k);
	int64_t since = k->time_us - dc->window_us - BACK_MAX_US;
	if (!history_covers(r->hist[a], r->nhist[a], since))
		return;
	for (unsigned i = 0; i < KC_ENC_KNOCKS; i++) {
		uint16_t port = (uint16_t)(c->lo + 256 * i + made->bytes[i]);
		FUZZ_CHECK(knocked_in_order(r->hist[a], r->nhist[a], since, dc, &port, 1));
	}
}

/* ---- (b) what a door must do: a clean run ------------------------------------
 *
 * When the knocks that matter to a door are few and plain enough, what it
 * does is known exactly: a clean run is the source's last knocks that reach
 * the door (not ignored for their TCP flags), each in its range, none a
 * possible duplicate, none in its range in the window before them, all
 * within the window, and no source evicted meanwhile. A totp door then
 * opens iff they are the ports of a step within the tolerance of the first
 * knock's (two steps may share first ports: a door must not settle for the
 * first that matches), with the matching step closest to the first knock's
 * (the earlier on a tie) as its code; an encrypted door opens iff the ten
 * bytes (one a place) decode at a step within the tolerance, for a port in
 * its open: list. */

static bool reaches(const struct door_conf *dc, const struct hist *e)
{
	return e->proto != IPPROTO_TCP ||
	       ((e->flags & dc->flags_set) == dc->flags_set && !(e->flags & dc->flags_clear));
}

static bool in_range(const struct door_conf *dc, const struct hist *e)
{
	return e->proto == dc->code.proto && e->port >= dc->code.lo && e->port <= dc->code.hi;
}

/* The oldest index of the ring: older entries are gone. */
static size_t oldest(size_t nh)
{
	return nh > HISTORY ? nh - HISTORY : 0;
}

/* Entry I of H may be a duplicate: the same knock before it within DEDUP. */
static bool maybe_dup(const struct hist *h, size_t nh, size_t i, int64_t dedup)
{
	const struct hist *e = &h[i % HISTORY];
	for (size_t j = i; j-- > oldest(nh);) {
		const struct hist *o = &h[j % HISTORY];
		if (o->time + BACK_MAX_US < e->time - dedup)
			return false;	/* and every one before it */
		if (o->proto == e->proto && o->port == e->port && o->sport == e->sport && o->time <= e->time &&
		    o->time >= e->time - dedup)
			return true;
	}
	return oldest(nh) > 0;	/* it may have left the ring */
}

/* The last N entries of H that reach DC, oldest first, into RUN, when they
 * make a clean run; the last entry must be one of them. Any knock that
 * reaches a totp door resets it when it is not the next port; an encrypted
 * door minds only its own ports. */
static bool clean_run(const struct hist *h, size_t nh, const struct door_conf *dc, uint64_t evicted, int64_t clock,
		      size_t n, size_t *run)
{
	size_t got = 0, i = nh;
	if (n == 0)
		return false;
	while (got < n && i-- > oldest(nh)) {
		if (!reaches(dc, &h[i % HISTORY]))
			continue;
		if (!in_range(dc, &h[i % HISTORY]) && dc->kind == DOOR_ENCRYPTED)
			continue;
		if (!in_range(dc, &h[i % HISTORY]) || maybe_dup(h, nh, i, dc->dedup_us))
			return false;
		run[n - 1 - got++] = i;
	}
	if (got < n || run[n - 1] != nh - 1)
		return false;
	const struct hist *first = &h[run[0] % HISTORY];
	if (clock - first->time >= dc->window_us || first->evicted != evicted)
		return false;
	/* Nothing in range within a window before it: no attempt in progress. */
	int64_t since = first->time - dc->window_us - BACK_MAX_US;
	while (i-- > oldest(nh)) {
		const struct hist *e = &h[i % HISTORY];
		if (e->time + BACK_MAX_US <= since)
			return true;
		if (e->time > since && reaches(dc, e) && in_range(dc, e))
			return false;
	}
	return oldest(nh) == 0;
}

static bool totp_expected(const struct door_conf *dc, const struct hist *h, const size_t *run,
			  const struct kc_bind *b, int64_t *code)
{
	const struct door_code *c = &dc->code;
	uint16_t ports[KC_TOTP_MAX_KNOCKS];
	int64_t s0 = kc_step(h[run[0] % HISTORY].time, c->step_us);
	/* Nearest first, the earlier on a tie: 0, -1, +1, -2, ... */
	for (int i = 0; i <= 2 * (int)c->tolerance; i++) {
		int dt = (i + 1) / 2 * (i % 2 ? -1 : 1);
		kc_totp_ports(c->key, dc->name, s0 + dt, b, c->lo, c->hi, c->knocks, ports);
		unsigned n = 0;
		while (n < c->knocks && ports[n] == h[run[n] % HISTORY].port)
			n++;
		if (n == c->knocks) {
			*code = s0 + dt;
			return true;
		}
	}
	return false;
}

static bool enc_expected(const struct door_conf *dc, const struct hist *h, const size_t *run,
			 const struct kc_bind *b, bool *complete)
{
	const struct door_code *c = &dc->code;
	uint8_t bytes[KC_ENC_KNOCKS];
	unsigned have = 0;
	for (size_t i = 0; i < KC_ENC_KNOCKS; i++) {
		unsigned off = (unsigned)(h[run[i] % HISTORY].port - c->lo);
		have |= 1u << (off / 256);
		bytes[off / 256] = (uint8_t)(off % 256);
	}
	*complete = have == (1u << KC_ENC_KNOCKS) - 1;	/* else a place came twice: not a clean run */
	if (!*complete)
		return false;
	int64_t s0 = kc_step(h[run[0] % HISTORY].time, c->step_us);
	for (int dt = -(int)c->tolerance; dt <= (int)c->tolerance; dt++) {
		struct kc_request req;
		if (kc_enc_decode(c->key, dc->name, s0 + dt, b, bytes, &req) < 0)
			continue;
		for (size_t p = 0; p < dc->nopen; p++)
			if (dc->open[p].proto == req.proto && dc->open[p].port == req.port)
				return true;
		return false;
	}
	return false;
}

/* After K was fed at CLOCK: what each door did is what it must do, when
 * that is known. */
static void check_outcome(struct run *r, const struct doors *d, const struct knock *k, int64_t clock)
{
	unsigned a = addr_index(k);
	const struct hist *h = r->hist[a];
	size_t nh = r->nhist[a], run[KC_ENC_KNOCKS > KC_TOTP_MAX_KNOCKS ? KC_ENC_KNOCKS : KC_TOTP_MAX_KNOCKS];
	const struct hist *last = &h[(nh - 1) % HISTORY];
	uint64_t evicted = doors_stats(d)->evicted;
	for (int j = 0; j < NDOORS; j++) {
		const struct door_conf *dc = &r->door[j];
		/* A knock a door ignores, or one outside its ports, opens nothing. */
		if (!reaches(dc, last) || !in_range(dc, last)) {
			FUZZ_CHECK(!r->opened_now[j]);
			continue;
		}
		if (!clean_run(h, nh, dc, evicted, clock, dc->code.knocks, run))
			continue;
		struct kc_bind b = kc_bind_make(dc->code.bind_source, k->family, k->src);
		bool complete = true;
		int64_t code = 0;
		bool want = j == D_TOTP ? totp_expected(dc, h, run, &b, &code)
					: enc_expected(dc, h, run, &b, &complete);
		if (complete)
			FUZZ_CHECK(r->opened_now[j] == want);
		if (want && j == D_TOTP)
			FUZZ_CHECK(r->code_now[j] == code);
	}
}

static void on_open(void *ctx, const struct door_conf *door, const struct knock *k, const struct door_request *q)
{
	struct run *r = ctx;
	r->opened++;
	r->opened_now[door - r->door] = true;
	r->code_now[door - r->door] = q->code;
	/* Only the knock being fed completes a door, for its own source. */
	FUZZ_CHECK(k == r->cur);
	FUZZ_CHECK(door == &r->door[D_TOTP] || door == &r->door[D_ENC]);
	if (door == &r->door[D_TOTP])
		check_totp_open(r, door, k, q);
	else
		check_enc_open(r, door, k, q);
}

/* The right knock for P1, P2 (see the top): its port. */
static uint16_t right_knock(struct run *r, const struct knock *k, uint8_t p1, uint8_t p2)
{
	int64_t dt = dsteps[(p2 >> 4) & 3];
	uint8_t addr[16];
	const uint8_t *who = k->src;
	if (p2 & 0x40) {
		addr_of(k->family == AF_INET6, (addr_index(k) + 1) % NADDR, addr);
		who = addr;
	}
	if (!(p1 & 0x80)) {
		const struct door_conf *dc = &r->door[D_TOTP];
		const struct door_code *c = &dc->code;
		struct kc_bind b = kc_bind_make(c->bind_source, k->family, who);
		uint16_t ports[KC_TOTP_MAX_KNOCKS];
		kc_totp_ports(c->key, dc->name, kc_step(k->time_us, c->step_us) + dt, &b, c->lo, c->hi, c->knocks,
			      ports);
		return ports[(p1 & 15) % c->knocks];
	}
	const struct door_conf *dc = &r->door[D_ENC];
	const struct door_code *c = &dc->code;
	struct code m = {
		.step = kc_step(k->time_us, c->step_us) + dt,
		.bind = kc_bind_make(c->bind_source, k->family, who),
		.req = {.proto = asks[p2 & 3].proto, .port = asks[p2 & 3].port, .seconds = asks_seconds[(p2 >> 2) & 3]},
	};
	FUZZ_CHECK(kc_enc_encode(c->key, dc->name, m.step, &m.bind, &m.req, m.bytes) == 0);
	bool known = false;
	for (size_t i = 0; i < r->ncodes && i < CODES && !known; i++)
		known = memcmp(r->codes[i].bytes, m.bytes, sizeof m.bytes) == 0 && r->codes[i].step == m.step &&
			r->codes[i].bind.version == m.bind.version &&
			memcmp(r->codes[i].bind.addr, m.bind.addr, sizeof m.bind.addr) == 0;
	if (!known)
		r->codes[r->ncodes++ % CODES] = m;
	unsigned place = (p1 & 15) % KC_ENC_KNOCKS;
	return (uint16_t)(c->lo + 256 * place + m.bytes[place]);
}

static void build_doors(struct run *r, uint8_t conf)
{
	struct door_conf *t = &r->door[D_TOTP], *e = &r->door[D_ENC];
	*t = (struct door_conf){
		.name = "totp", .kind = DOOR_TOTP, .nseq = (conf & 15) + 1u, .open = open_totp, .nopen = 1,
		.window_us = 10 * SEC, .duration_us = 30 * SEC, .dedup_us = 2 * SEC,
		.flags_set = KNOCK_SYN, .flags_clear = KNOCK_ACK,
		.code = {.proto = IPPROTO_TCP, .lo = TOTP_LO, .hi = TOTP_HI, .knocks = (conf & 15) + 1u,
			 .step_us = 30 * SEC, .tolerance = 1, .bind_source = (conf & 0x10) != 0},
	};
	*e = (struct door_conf){
		.name = "enc", .kind = DOOR_ENCRYPTED, .nseq = KC_ENC_KNOCKS, .open = open_enc, .nopen = 3,
		.window_us = 10 * SEC, .duration_us = 60 * SEC, .dedup_us = 2 * SEC,
		.flags_set = KNOCK_SYN, .flags_clear = KNOCK_ACK,
		.code = {.proto = (conf & 0x40) ? IPPROTO_UDP : IPPROTO_TCP, .lo = ENC_BASE,
			 .hi = ENC_BASE + KC_ENC_SPAN - 1, .knocks = KC_ENC_KNOCKS, .step_us = 30 * SEC,
			 .tolerance = 1, .bind_source = (conf & 0x20) != 0},
	};
	memcpy(t->code.key, key, sizeof key);
	memcpy(e->code.key, key, sizeof key);
}

static void run_doors(struct in *in, uint8_t conf)
{
	static const int64_t units[] = {1000, 100 * 1000, SEC, 15 * SEC};
	struct run *r = calloc(1, sizeof *r);
	FUZZ_CHECK(r);
	build_doors(r, conf);
	struct doors *d = doors_new(r->door, NDOORS, MAX_SOURCES, on_open, r);
	FUZZ_CHECK(d);
	/* 2026-11-26T15:00:00Z, or 45 s before the epoch. */
	int64_t clock = (conf & 0x80) ? -45 * SEC : INT64_C(1795705200) * SEC;
	int64_t now = clock;

	while (in->at < in->n) {
		uint8_t t = next(in), s = next(in), p1 = next(in), p2 = next(in), sport = next(in);
		int64_t n = t & 63, dt = (t >> 6) == 0 ? (n - 8) * units[0] : n * units[t >> 6];
		struct knock k = {.family = (s & 8) ? AF_INET6 : AF_INET, .sport = (uint16_t)(40000 + sport)};
		/* The engine's clock never goes back; a knock may be a little
		 * older than the last one. */
		if (dt > 0)
			clock += dt;
		k.time_us = clock + (dt < 0 ? dt : 0);
		addr_of(k.family == AF_INET6, s & 7, k.src);
		addr_of(k.family == AF_INET6, NADDR, k.dst);
		switch ((s >> 4) & 3) {
		case 0:
			k.proto = IPPROTO_TCP, k.flags = KNOCK_SYN;
			break;
		case 1:
			k.proto = IPPROTO_TCP, k.flags = KNOCK_SYN | KNOCK_ACK;
			break;
		case 2:
			k.proto = IPPROTO_UDP;
			break;
		default:
			k.proto = k.family == AF_INET6 ? IPPROTO_ICMPV6 : IPPROTO_ICMP;
			k.sport = 0;
			break;
		}
		uint16_t v = (uint16_t)(p1 << 8 | p2);
		switch (s >> 6) {
		case 0:
			k.port = v;
			break;
		case 1:
			k.port = (uint16_t)(TOTP_LO + v % (TOTP_HI - TOTP_LO + 1));
			break;
		case 2:
			k.port = (uint16_t)(ENC_BASE + 256 * (p1 % KC_ENC_KNOCKS) + p2);
			break;
		default:
			/* Knocked the way a client does: the door's protocol. */
			k.proto = (p1 & 0x80) ? r->door[D_ENC].code.proto : r->door[D_TOTP].code.proto;
			if (k.proto != IPPROTO_TCP)
				k.flags = 0;
			else if (k.flags == 0)
				k.flags = KNOCK_SYN;	/* SYN+ACK stays: the door must ignore it */
			k.sport = (uint16_t)(40000 + sport);
			k.port = right_knock(r, &k, p1, p2);
			break;
		}
		if (k.proto == IPPROTO_ICMP || k.proto == IPPROTO_ICMPV6)
			k.port &= 0xff;

		unsigned a = addr_index(&k);
		r->hist[a][r->nhist[a]++ % HISTORY] = (struct hist){
			.time = k.time_us,
			.evicted = doors_stats(d)->evicted,
			.port = k.port,
			.sport = k.sport,
			.proto = k.proto,
			.flags = k.flags,
		};
		if (clock > now) {
			now = clock;
			doors_expire(d, now);
			FUZZ_CHECK(doors_next_deadline(d) > now);
		}
		uint64_t before = r->opened;
		memset(r->opened_now, 0, sizeof r->opened_now);
		r->cur = &k;
		doors_feed(d, &k);
		r->cur = NULL;
		check_outcome(r, d, &k, clock);
		FUZZ_CHECK(doors_tracked(d) <= MAX_SOURCES);
		FUZZ_CHECK(doors_stats(d)->opened == r->opened && r->opened - before <= NDOORS);
	}
	/* Time passes: every attempt and every remembered knock goes. */
	now += 11 * SEC;
	doors_expire(d, now);
	FUZZ_CHECK(doors_tracked(d) == 0 && doors_next_deadline(d) == INT64_MAX);
	const struct doors_stats *st = doors_stats(d);
	FUZZ_CHECK(st->duplicates <= st->knocks && st->rejected <= st->knocks && st->opened <= NDOORS * st->knocks);
	doors_free(d);
	free(r);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	log_verbosity = LOG_LVL_ERR;	/* a door refusing a port says so on WARN: not here, a million times */
	struct in in = {.p = data, .n = size};
	uint8_t bytes[KC_ENC_KNOCKS], addr[16];
	for (size_t i = 0; i < sizeof bytes; i++)
		bytes[i] = next(&in);
	uint64_t step = 0;
	for (int i = 0; i < 8; i++)
		step = step << 8 | next(&in);
	uint8_t who = next(&in);
	for (size_t i = 0; i < sizeof addr; i++)
		addr[i] = next(&in);
	struct kc_bind b = kc_bind_make(who & 2, (who & 1) ? AF_INET6 : AF_INET, addr);
	check_decoder(bytes, (int64_t)step, &b);

	uint16_t lo = (uint16_t)(next(&in) << 8), hi;
	lo |= next(&in);
	hi = (uint16_t)(next(&in) << 8);
	hi |= next(&in);
	check_totp_ports(lo, hi, next(&in), (int64_t)step, &b);

	uint8_t conf = next(&in);
	if (size > HEADER)
		run_doors(&in, conf);
	return 0;
}
