/* engine.c — joins parser, doors, grants and applier; writes the JSON lines. */
#include "engine.h"

#include <errno.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/socket.h>

#include "doors.h"
#include "grants.h"
#include "log.h"
#include "onetime.h"
#include "spent.h"
#include "state.h"

#define SPENT_STATE "spent"

/* Live: how far a knock's stamp may be ahead of the system clock. */
#define LIVE_SKEW_US (2 * 1000000)

struct engine {
	struct parser *parser;
	struct doors *doors;
	struct grants *grants;
	struct applier *ap;
	struct spent *spent;	/* codes used: outlives reloads */
	char *state_dir;	/* the daemon's: used codes and sequences are written there first */
	char *spent_buf;
	size_t spent_buflen;
	FILE *out;
	int print_events;
	int warm;		/* lines read again after a restart: rebuild, never open */
	int64_t catchup_until;	/* grants opened by knocks up to this time: closed first */
	int live;		/* the clock is the system's: no knock from the future */
	int grants_dirty;	/* the table changed since engine_grants_dirty(); 2: by a used code */
	int spent_save_failed;
	size_t spent_max;
	int64_t clock;
	struct engine_stats stats;
	/* The configuration's doors (heap arrays that outlive the struct
	 * config passed in: the daemon copies that struct on reload). */
	const struct door_conf *door;
	size_t ndoors;
	struct door_count *dcount;	/* per door, counts the engine makes */
	struct doors_stats dbase;	/* of the door tables replaced by reloads */
	engine_event_fn sink;
	void *sink_ctx;
	int sink_knocks;
	const char *by_hand;	/* during engine_open_by_hand: who */
	int revoking;		/* during engine_revoke */
	/* fleet (issue 16) */
	engine_host_send_fn host_send;	/* grants of appliers: hosts go here */
	void *host_ctx;
	const char *line_host;	/* engine_set_line_host: the host of the lines that follow */
	size_t line_hostlen;
};

/* Per door: the engine's side of engine_door_stats. */
struct door_count {
	uint64_t opens, extends, closes, replays, by_hand, revoked;
};

/* The door named NAME in the running configuration: its index, or -1 (a
 * grant of a door a reload removed). */
static ssize_t door_index(const struct engine *e, const char *name)
{
	for (size_t j = 0; j < e->ndoors; j++)
		if (strcmp(e->door[j].name, name) == 0)
			return (ssize_t)j;
	return -1;
}

/* Hands a JSON line to OUT (if PRINT) and to the sink (if SINK). */
static void emit(struct engine *e, const char *buf, size_t len, int print, int sink)
{
	if (print && e->out)
		fwrite(buf, 1, len, e->out);
	if (sink && e->sink)
		e->sink(e->sink_ctx, buf, len);
}

/* Copies S without its NUL; the end of the copy. */
static char *put_str(char *p, const char *s)
{
	while (*s)
		*p++ = *s++;
	return p;
}

/* A string literal: its length is known, the copy is a few moves. */
#define PUT_LIT(p, s) (memcpy((p), (s), sizeof(s) - 1), (p) + sizeof(s) - 1)

static char *put_uint(char *p, unsigned v)
{
	char t[10];
	int n = 0;
	do
		t[n++] = (char)('0' + v % 10);
	while ((v /= 10) && n < 10);
	while (n)
		*p++ = t[--n];
	return p;
}

/* --print-events: one JSON line per knock, formatted by hand (replay spends
 * most of its output time here). Every string written is our own: a time,
 * addresses, a protocol and flag names. */
static void print_knock(struct engine *e, const struct knock *k, int print)
{
	/* The time and the addresses are written in place (at most
	 * KNOCK_TIMESTRLEN and KNOCK_ADDRSTRLEN bytes each): 25 + 48 + 9 +
	 * 46 + 9 + 46 + 11 + 6 + 29 + 40 bytes at most. */
	char buf[320 + 10 + KNOCK_HOST_MAX], f[40];
	char *p = PUT_LIT(buf, "{\"event\":\"knock\",\"time\":\"");
	p = knock_time_put(p, k->time_us);
	if (k->host) {
		/* fleet: a host name as knock_host_valid() passed it (no
		 * quote, no backslash), at most KNOCK_HOST_MAX bytes */
		p = PUT_LIT(p, "\",\"host\":\"");
		memcpy(p, k->host, k->hostlen);
		p += k->hostlen;
	}
	p = PUT_LIT(p, "\",\"src\":\"");
	p = knock_addr_put(p, k->family, k->src);
	p = PUT_LIT(p, "\",\"dst\":\"");
	p = knock_addr_put(p, k->family, k->dst);
	p = PUT_LIT(p, "\",\"proto\":\"");
	p = put_str(p, knock_proto_str(k->proto));
	if (k->proto == IPPROTO_ICMP || k->proto == IPPROTO_ICMPV6) {
		p = PUT_LIT(p, "\",\"type\":");
		p = put_uint(p, k->port);
		p = PUT_LIT(p, ",\"code\":");
		p = put_uint(p, k->icmp_code);
	} else {
		p = PUT_LIT(p, "\",\"sport\":");
		p = put_uint(p, k->sport);
		p = PUT_LIT(p, ",\"dport\":");
		p = put_uint(p, k->port);
		if (k->proto == IPPROTO_TCP) {
			p = PUT_LIT(p, ",\"flags\":\"");
			p = put_str(p, knock_flags_str(k->flags, f));
			*p++ = '"';
		}
	}
	p = PUT_LIT(p, "}\n");
	emit(e, buf, (size_t)(p - buf), print, e->sink_knocks);
}

static void send_cmd(struct engine *e, enum apply_op op, const struct grant *g, int64_t now)
{
	if (g->host[0] ? !e->host_send : !e->ap)
		return;
	struct apply_cmd cmd = {.op = op, .id = g->id, .family = g->family, .proto = g->proto, .port = g->port,
				.via = g->via, .toport = g->toport, .masq = g->masq, .nokeep = g->nokeep};
	memcpy(cmd.addr, g->src, sizeof cmd.addr);
	if (g->via != APPLY_VIA_LOCAL)
		memcpy(cmd.to, g->to, sizeof cmd.to);
	snprintf(cmd.door, sizeof cmd.door, "%s", g->door);
	if (op == APPLY_OPEN) {
		/* Seconds left, rounded up: the firewall may keep it a little
		 * longer, the daemon's own close ends it on time. */
		int64_t left = (g->expires_us - now + 999999) / 1000000;
		cmd.seconds = (uint32_t)(left < 1 ? 1 : left > 31536000 ? 31536000 : left);
	}
	if (g->host[0])
		e->host_send(e->host_ctx, g->host, &cmd);
	else
		applier_send(e->ap, &cmd);
}

/* A decision as replay prints it, formatted by hand as the knocks are
 * (one buffer, handed to OUT and the sink alike). The door's name is
 * [A-Za-z0-9_.-] (config.c), the rest our own formatting. */
static size_t format_grant(char *buf, enum grant_event ev, const struct grant *g, const char *src, int64_t now)
{
	static const char *const name[] = {"open", "extend", "close"};
	char t[KNOCK_TIMESTRLEN];
	char *p = PUT_LIT(buf, "{\"event\":\"");
	p = put_str(p, name[ev]);
	p = PUT_LIT(p, "\",\"time\":\"");
	p = put_str(p, knock_time_str(now, t));
	p = PUT_LIT(p, "\",\"door\":\"");
	p = put_str(p, g->door);
	if (g->host[0]) {
		/* fleet: the appliers: name (config.c: a host name) */
		p = PUT_LIT(p, "\",\"host\":\"");
		p = put_str(p, g->host);
	}
	p = PUT_LIT(p, "\",\"src\":\"");
	p = put_str(p, src);
	p = PUT_LIT(p, "\",\"proto\":\"");
	p = put_str(p, knock_proto_str(g->proto));
	p = PUT_LIT(p, "\",\"port\":");
	p = put_uint(p, g->port);
	if (g->via != APPLY_VIA_LOCAL) {
		/* forward and dnat grants (issue 15): where the source may go */
		char to[KNOCK_ADDRSTRLEN];
		p = PUT_LIT(p, ",\"via\":\"");
		p = put_str(p, g->via == APPLY_VIA_DNAT ? "dnat" : "forward");
		p = PUT_LIT(p, "\",\"to\":\"");
		p = put_str(p, knock_addr_str(g->family, g->to, to));
		*p++ = '"';
		if (g->via == APPLY_VIA_DNAT) {
			p = PUT_LIT(p, ",\"toport\":");
			p = put_uint(p, g->toport);
		}
	}
	if (ev != GRANT_CLOSE) {
		p = PUT_LIT(p, ",\"expires\":\"");
		p = put_str(p, knock_time_str(g->expires_us, t));
		*p++ = '"';
	}
	p = PUT_LIT(p, "}\n");
	return (size_t)(p - buf);
}

static void on_grant(void *ctx, enum grant_event ev, const struct grant *g, int64_t now)
{
	struct engine *e = ctx;
	char x[KNOCK_TIMESTRLEN], s[KNOCK_ADDRSTRLEN], port[24];
	knock_addr_str(g->family, g->src, s);
	if (e->out || e->sink) {
		/* 40 + 6 + 27 + 64 + 46 + 6 + 5 + 40 bytes at most, and 90 more for a gateway grant */
		char buf[384 + 10 + GRANT_HOST_MAX];
		emit(e, buf, format_grant(buf, ev, g, s, now), 1, 1);
	}
	ssize_t j = door_index(e, g->door);
	struct door_count none = {0}, *dc = j >= 0 ? &e->dcount[j] : &none;	/* a door a reload removed: not counted */
	if (ev == GRANT_OPEN) {
		e->stats.opened++;
		dc->opens++;
	} else if (ev == GRANT_EXTEND) {
		e->stats.extended++;
		dc->extends++;
	} else {
		e->stats.closed++;
		dc->closes++;
	}
	if (ev != GRANT_CLOSE && e->by_hand) {
		e->stats.by_hand++;
		dc->by_hand++;
	} else if (ev == GRANT_CLOSE && e->revoking) {
		e->stats.revoked++;
		dc->revoked++;
	}
	/* Replay prints decisions as JSON; the daemon says them in its log. */
	int level = e->out ? LOG_LVL_VERBOSE : LOG_LVL_INFO;
	snprintf(port, sizeof port, "%s/%u", knock_proto_str(g->proto), g->port);
	char on[8 + GRANT_HOST_MAX] = "";
	if (g->host[0])
		snprintf(on, sizeof on, " on %s", g->host);
	if (ev == GRANT_CLOSE)
		log_event(level, e->revoking ? LOGEV_REVOKE : LOGEV_CLOSE, g->door, s, port, "door %s: closed %s for %s%s%s",
			  g->door, port, s, on, e->revoking ? " (revoked)" : "");
	else
		log_event(level, e->by_hand ? LOGEV_BY_HAND : ev == GRANT_OPEN ? LOGEV_OPEN : LOGEV_EXTEND, g->door, s,
			  port, "door %s: %s %s for %s%s until %s%s%s%s", g->door, ev == GRANT_OPEN ? "opened" : "extended",
			  port, s, on, knock_time_str(g->expires_us, x), e->by_hand ? " (by hand, " : "",
			  e->by_hand ? e->by_hand : "", e->by_hand ? ")" : "");

	if (!e->grants_dirty)
		e->grants_dirty = 1;
	if (ev == GRANT_OPEN && g->opened_us <= e->catchup_until)
		send_cmd(e, APPLY_CLOSE, g, now);
	send_cmd(e, ev == GRANT_CLOSE ? APPLY_CLOSE : APPLY_OPEN, g, now);
}

/* Writes the used codes before the door they open opens. 0, or -1 (said
 * once until it works again). */
static int spent_save(struct engine *e)
{
	if (!e->state_dir)
		return 0;
	ssize_t n = spent_dump(e->spent, e->spent_buf, e->spent_buflen);
	if (n < 0 || state_write(e->state_dir, SPENT_STATE, e->spent_buf, (size_t)n, 1) < 0) {
		if (!e->spent_save_failed)
			log_err("cannot save the used codes in %s: %s; time-based and encrypted doors stay shut "
				"until it works again", e->state_dir, n < 0 ? "too many" : strerror(errno));
		e->spent_save_failed = 1;
		return -1;
	}
	if (e->spent_save_failed)
		log_info("the used codes are saved again in %s", e->state_dir);
	e->spent_save_failed = 0;
	return 0;
}

/* Whether the code of R may open DOOR: each is used once. */
static int code_unused(struct engine *e, const struct door_conf *door, const struct knock *k,
		       const struct door_request *r)
{
	char s[KNOCK_ADDRSTRLEN], err[512];
	knock_addr_str(k->family, k->src, s);
	if (door->kind == DOOR_ONE_TIME) {
		if (onetime_use(door->one_time, (uint32_t)r->code, e->live, err, sizeof err) < 0) {
			log_err("door %s: not opened for %s: %s", door->name, s, err);
			return 0;
		}
		size_t left = onetime_left(door->one_time);
		if (left < 10)
			log_warn("door %s: %zu one-time sequence(s) left in %s", door->name, left,
				 onetime_path(door->one_time));
		return 1;
	}
	if (door->kind != DOOR_TOTP && door->kind != DOOR_ENCRYPTED)
		return 1;
	const struct door_code *c = &door->code;
	uint8_t id[SPENT_ID_BYTES];
	spent_id(id, door->name, r->code, k->family, k->src, door->kind == DOOR_ENCRYPTED ? r->tag : NULL);
	/* No knock can verify the code once every step it may start in is
	 * past and its window has run out: then it is forgotten. So a code
	 * whose time is past by the log's clock is refused, whatever the
	 * stamps of its own lines say (anyone who may write to a followed
	 * file can write old lines again). */
	int64_t until;
	if (__builtin_add_overflow(r->code, (int64_t)c->tolerance + 1, &until) ||
	    __builtin_mul_overflow(until, c->step_us, &until) || __builtin_add_overflow(until, door->window_us, &until))
		until = INT64_MAX;	/* a stamp near the end of time: kept for ever */
	if (until <= e->clock) {
		e->stats.replayed++;
		e->dcount[door - e->door].replays++;
		log_event(LOG_LVL_WARN, LOGEV_REPLAY, door->name, s, NULL,
			  "door %s: %s knocked a code whose time is past (old lines written again?): not opened",
			  door->name, s);
		return 0;
	}
	switch (spent_use(e->spent, id, until, e->clock)) {
	case 0:
		/* Not saved, not opened: a restart must not let it in again.
		 * It stays used in memory all the same. */
		if (spent_save(e) < 0) {
			log_err("door %s: not opened for %s: the used codes cannot be saved", door->name, s);
			return 0;
		}
		return 1;
	case 1:
		e->stats.replayed++;
		e->dcount[door - e->door].replays++;
		log_event(LOG_LVL_WARN, LOGEV_REPLAY, door->name, s, NULL,
			  "door %s: %s knocked a code that was used already (a replay?): not opened", door->name, s);
		return 0;
	default:
		log_err("door %s: not opened for %s: %zu codes used in the last steps, the most kept", door->name, s,
			spent_count(e->spent));
		return 0;
	}
}

static void on_open(void *ctx, const struct door_conf *door, const struct knock *k, const struct door_request *r)
{
	struct engine *e = ctx;
	char s[KNOCK_ADDRSTRLEN];
	if (e->warm) {
		/* This success was acted on before the restart. */
		log_debug("door %s: sequence of %s seen again while catching up", door->name,
			  knock_addr_str(k->family, k->src, s));
		return;
	}
	if (!code_unused(e, door, k, r))
		return;
	uint64_t changes = e->stats.opened + e->stats.extended;
	size_t refused = 0;
	/* on: one grant per host (fleet); without it the local applier's only */
	for (size_t h = 0; h < (door->non ? door->non : 1); h++) {
		grants_set_host(e->grants, door->non ? door->on[h] : NULL);
		refused += grants_open(e->grants, door->name, r->ports, r->nports, r->duration_us, k->family, k->src,
				       k->time_us);
		/* forward: and dnat: with every success of the door, whatever port
		 * an encrypted request named of its open: list */
		refused += grants_open_gw(e->grants, door->name, door->gw, door->ngw, door->keep_established,
					  r->duration_us, k->family, k->src, k->time_us);
	}
	grants_set_host(e->grants, NULL);
	/* The code is spent on disk: a grant a kill -9 lost before it was
	 * saved could not be opened again by reading its lines again. */
	if (door->kind != DOOR_SEQUENCE && e->stats.opened + e->stats.extended != changes)
		e->grants_dirty = 2;
	if (refused) {
		e->stats.refused += refused;
		log_warn("door %s: %zu port(s) not opened for %s: max_grants grants are open already", door->name,
			 refused, knock_addr_str(k->family, k->src, s));
	}
}

struct engine *engine_new(const struct config *cfg, struct applier *ap, FILE *out, int print_events, char *err,
			  size_t errlen)
{
	struct engine *e = calloc(1, sizeof *e);
	if (!e) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	e->ap = ap;
	e->out = out;
	e->print_events = print_events;
	e->clock = INT64_MIN;
	e->catchup_until = INT64_MIN;
	if (!(e->parser = parse_new(cfg, err, errlen)))
		goto fail;
	e->doors = doors_new(cfg->doors, cfg->ndoors, cfg->max_sources, on_open, e);
	e->grants = grants_new(cfg->max_grants, on_grant, e);
	e->spent_max = cfg->max_grants;
	e->spent = spent_new(e->spent_max);
	e->door = cfg->doors;
	e->ndoors = cfg->ndoors;
	e->dcount = calloc(cfg->ndoors ? cfg->ndoors : 1, sizeof *e->dcount);
	if (!e->doors || !e->grants || !e->spent || !e->dcount) {
		snprintf(err, errlen, "out of memory for %zu sources", cfg->max_sources);
		goto fail;
	}
	return e;
fail:
	engine_free(e);
	return NULL;
}

void engine_free(struct engine *e)
{
	if (!e)
		return;
	parse_free(e->parser);
	doors_free(e->doors);
	grants_free(e->grants);
	spent_free(e->spent);
	free(e->dcount);
	free(e->state_dir);
	free(e->spent_buf);
	free(e);
}

int engine_set_state_dir(struct engine *e, const char *dir)
{
	free(e->state_dir);
	free(e->spent_buf);
	e->state_dir = NULL;
	e->spent_buflen = SPENT_LINE_MAX * e->spent_max + 1;
	if (!(e->spent_buf = malloc(e->spent_buflen)) || !(e->state_dir = strdup(dir))) {
		log_err("out of memory");
		return -1;
	}
	char err[256];
	if (state_read(e->state_dir, SPENT_STATE, e->spent_buf, e->spent_buflen) < 0) {
		if (errno != ENOENT)
			log_warn("cannot read the used codes in %s: %s", dir, strerror(errno));
		return 0;
	}
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	if (spent_restore(e->spent, e->spent_buf, (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000, err,
			  sizeof err) < 0)
		log_warn("%s/%s: %s: the rest is ignored", dir, SPENT_STATE, err);
	return 0;
}

void engine_advance(struct engine *e, int64_t now)
{
	if (now > e->clock)
		e->clock = now;
	/* Grants and attempts expire in time order; only grants say so. */
	grants_expire(e->grants, e->clock);
	doors_expire(e->doors, e->clock);
}

/* The doors' counts that engine_stats shows, over every reload. */
static void sync_doors_stats(struct engine *e)
{
	const struct doors_stats *ds = doors_stats(e->doors);
	e->stats.evicted = e->dbase.evicted + ds->evicted;
	e->stats.evicted_progressed = e->dbase.evicted_progressed + ds->evicted_progressed;
	e->stats.rejected = e->dbase.rejected + ds->rejected;
}

enum parse_result engine_line(struct engine *e, enum source_format fmt, const char *line, size_t len,
			      int64_t ref_us, const char **why)
{
	struct knock k;
	e->stats.lines++;
	enum parse_result r = parse_line(e->parser, fmt, line, len, ref_us, &k, why);
	if (r == PARSE_BAD)
		e->stats.bad++;
	if (r != PARSE_KNOCK)
		return r;
	if (e->line_host) {
		/* a journal-remote entry: its _HOSTNAME, not the message's */
		k.host = e->line_host;
		k.hostlen = (uint8_t)e->line_hostlen;
	}
	if (e->live) {
		/* A line stamped in the future (forged, on a file any local user
		 * can write to) must not move the clock: that would close every
		 * grant and end every attempt at once. */
		struct timespec ts;
		clock_gettime(CLOCK_REALTIME, &ts);
		if (k.time_us > (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000 + LIVE_SKEW_US) {
			*why = "timestamp in the future";
			e->stats.bad++;
			e->stats.skipped_future++;
			return PARSE_BAD;
		}
	}
	e->stats.knocks++;
	if (k.time_us > e->clock)
		engine_advance(e, k.time_us);
	int print = e->print_events && e->out;
	if ((print || (e->sink && e->sink_knocks)) && !e->warm)
		print_knock(e, &k, print);
	if (log_verbosity >= LOG_LVL_VERBOSE) {
		char s[KNOCK_ADDRSTRLEN], t[KNOCK_TIMESTRLEN];
		log_msg(LOG_LVL_VERBOSE, "knock %s %s/%u from %s%s", knock_time_str(k.time_us, t), knock_proto_str(k.proto), k.port,
			  knock_addr_str(k.family, k.src, s), e->warm ? " (catching up)" : "");
	}
	doors_feed(e->doors, &k);
	sync_doors_stats(e);
	return r;
}

void engine_skip_lines(struct engine *e, uint64_t n)
{
	e->stats.lines += n;
}

const char *engine_needle(const struct engine *e, size_t *len)
{
	return parse_needle(e->parser, len);
}

void engine_close_all(struct engine *e, int64_t now)
{
	grants_close_all(e->grants, now);
}

size_t engine_open_grants(const struct engine *e)
{
	return grants_count(e->grants);
}

int engine_grants_dirty(struct engine *e)
{
	int d = e->grants_dirty;
	e->grants_dirty = 0;
	return d;
}

ssize_t engine_dump_grants(const struct engine *e, char *buf, size_t len)
{
	return grants_dump(e->grants, buf, len);
}

struct close_saved {
	struct engine *e;
	int64_t now;
	int n;
};

static void close_saved(void *ctx, const struct grant *g)
{
	struct close_saved *cs = ctx;
	send_cmd(cs->e, APPLY_CLOSE, g, cs->now);
	cs->n++;
}

int engine_restore_grants(struct engine *e, const char *text, int64_t now, char *err, size_t errlen)
{
	size_t before = grants_count(e->grants);
	int n = grants_restore(e->grants, text, err, errlen);
	if (n < 0) {
		/* Refused: nothing of it opens again. What the firewall may
		 * still hold of its well-formed lines is closed (a flush does
		 * not reach a command backend's rules of a previous run). */
		struct close_saved cs = {.e = e, .now = now};
		grants_each_saved(e->grants, text, close_saved, &cs);
		size_t len = strlen(err);
		if (len + 1 < errlen)
			snprintf(err + len, errlen - len, " (%d well-formed grant%s in it closed, none opened again)",
				 cs.n, cs.n == 1 ? "" : "s");
		return -1;
	}
	/* Each restored grant is closed first (the firewall may hold it from
	 * the previous run, and commands are not idempotent), then opened
	 * again for the time it has left. */
	for (size_t i = before; i < grants_count(e->grants);) {
		const struct grant *g = grants_at(e->grants, i);
		send_cmd(e, APPLY_CLOSE, g, now);
		if (g->expires_us > now) {
			send_cmd(e, APPLY_OPEN, g, now);
			i++;
		} else {
			grants_drop(e->grants, g->id);
		}
	}
	e->grants_dirty = 1;
	return n;
}

void engine_resend_grants(struct engine *e, int64_t now)
{
	/* Close first: a new applier does not know what the old one added,
	 * and a command backend's open is not idempotent. */
	for (size_t i = 0; i < grants_count(e->grants); i++) {
		if (grants_at(e->grants, i)->host[0])
			continue;	/* an appliers: host's: engine_resend_host */
		send_cmd(e, APPLY_CLOSE, grants_at(e->grants, i), now);
		send_cmd(e, APPLY_OPEN, grants_at(e->grants, i), now);
	}
}

size_t engine_resend_host(struct engine *e, const char *host, int64_t now)
{
	size_t n = 0;
	for (size_t i = 0; i < grants_count(e->grants); i++) {
		const struct grant *g = grants_at(e->grants, i);
		if (strcmp(g->host, host) != 0)
			continue;
		send_cmd(e, APPLY_OPEN, g, now);	/* after the caller's flush: no close first */
		n++;
	}
	return n;
}

void engine_set_host_sender(struct engine *e, engine_host_send_fn fn, void *ctx)
{
	e->host_send = fn;
	e->host_ctx = ctx;
}

void engine_set_line_host(struct engine *e, const char *host, size_t len)
{
	e->line_host = host && knock_host_valid(host, len) ? host : NULL;
	e->line_hostlen = e->line_host ? len : 0;
}

int engine_resend_grant(struct engine *e, uint64_t id, int64_t now)
{
	for (size_t i = 0; i < grants_count(e->grants); i++) {
		if (grants_at(e->grants, i)->id == id) {
			send_cmd(e, APPLY_OPEN, grants_at(e->grants, i), now);
			return 1;
		}
	}
	return 0;
}

void engine_grant_failed(struct engine *e, uint64_t id)
{
	for (size_t i = 0; i < grants_count(e->grants); i++) {
		const struct grant *g = grants_at(e->grants, i);
		if (g->id != id)
			continue;
		char s[KNOCK_ADDRSTRLEN], port[24];
		snprintf(port, sizeof port, "%s/%u", knock_proto_str(g->proto), g->port);
		knock_addr_str(g->family, g->src, s);
		log_event(LOG_LVL_ERR, LOGEV_APPLIER_ERROR, g->door, s, port,
			  "door %s: %s for %s could not be opened; the grant is dropped", g->door, port, s);
		grants_drop(e->grants, id);
		e->grants_dirty = 1;
		return;
	}
}

int engine_grant_open(const struct engine *e, uint64_t id)
{
	for (size_t i = 0; i < grants_count(e->grants); i++)
		if (grants_at(e->grants, i)->id == id)
			return 1;
	return 0;
}

void engine_set_live(struct engine *e, int live)
{
	e->live = live;
}

void engine_set_warm(struct engine *e, int warm)
{
	e->warm = warm;
}

void engine_set_catchup(struct engine *e, int64_t until_us)
{
	e->catchup_until = until_us;
}

int engine_reload(struct engine *e, const struct config *cfg, char *err, size_t errlen)
{
	struct parser *p = parse_new(cfg, err, errlen);
	if (!p)
		return -1;
	struct doors *d = doors_new(cfg->doors, cfg->ndoors, cfg->max_sources, on_open, e);
	struct door_count *dc = calloc(cfg->ndoors ? cfg->ndoors : 1, sizeof *dc);
	if (!d || !dc) {
		parse_free(p);
		doors_free(d);
		free(dc);
		snprintf(err, errlen, "out of memory for %zu sources", cfg->max_sources);
		return -1;
	}
	/* A door's counts follow its name. */
	for (size_t j = 0; j < cfg->ndoors; j++) {
		ssize_t o = door_index(e, cfg->doors[j].name);
		if (o >= 0)
			dc[j] = e->dcount[o];
	}
	/* The new table starts its own counts: the old one's are kept
	 * (before the migration, whose evictions the new one counts). */
	const struct doors_stats *os = doors_stats(e->doors);
	e->dbase.evicted += os->evicted;
	e->dbase.evicted_progressed += os->evicted_progressed;
	e->dbase.rejected += os->rejected;
	doors_migrate(d, e->doors);
	parse_free(e->parser);
	doors_free(e->doors);
	free(e->dcount);
	e->parser = p;
	e->doors = d;
	e->dcount = dc;
	e->door = cfg->doors;
	e->ndoors = cfg->ndoors;
	sync_doors_stats(e);
	return 0;
}

int64_t engine_next_deadline(const struct engine *e)
{
	int64_t a = doors_next_deadline(e->doors), b = grants_next_deadline(e->grants);
	return a < b ? a : b;
}

void engine_finish(struct engine *e)
{
	int64_t t;
	while ((t = engine_next_deadline(e)) != INT64_MAX)
		engine_advance(e, t);
}

int64_t engine_clock(const struct engine *e)
{
	return e->clock;
}

const struct engine_stats *engine_stats(const struct engine *e)
{
	return &e->stats;
}

size_t engine_tracked_sources(const struct engine *e)
{
	return doors_tracked(e->doors);
}

/* ---- for the control socket and metrics -------------------------------------- */

void engine_set_event_sink(struct engine *e, engine_event_fn fn, void *ctx, int want_knocks)
{
	e->sink = fn;
	e->sink_ctx = fn ? ctx : NULL;
	e->sink_knocks = fn && want_knocks;
}

size_t engine_ndoors(const struct engine *e)
{
	return e->ndoors;
}

void engine_door_stats(const struct engine *e, size_t i, struct engine_door_stats *out)
{
	static const char *const kind[] = {
		[DOOR_SEQUENCE] = "sequence", [DOOR_ONE_TIME] = "one_time", [DOOR_TOTP] = "totp",
		[DOOR_ENCRYPTED] = "encrypted"};
	*out = (struct engine_door_stats){0};
	if (i >= e->ndoors)
		return;
	const struct door_conf *dc = &e->door[i];
	const struct doors_door_stats *ds = doors_door_stats(e->doors, i);
	const struct door_count *c = &e->dcount[i];
	out->name = dc->name;
	out->kind = (unsigned)dc->kind < sizeof kind / sizeof *kind ? kind[dc->kind] : "sequence";
	out->knocks = ds->knocks;
	out->attempts = ds->attempts;
	out->in_progress = ds->in_progress;
	out->opens = c->opens;
	out->extends = c->extends;
	out->closes = c->closes;
	out->replays = c->replays;
	out->rejected = ds->rejected;
	out->by_hand = c->by_hand;
	out->revoked = c->revoked;
}

const struct grant *engine_grant_at(const struct engine *e, size_t i)
{
	return grants_at(e->grants, i);
}

struct each_attempt {
	int (*fn)(void *ctx, const struct engine_attempt *a);
	void *ctx;
};

static int each_attempt(void *ctx, const struct doors_attempt *da)
{
	struct each_attempt *ea = ctx;
	struct engine_attempt a = {.door = da->door->name, .family = da->family, .step = da->step, .steps = da->steps,
				   .started_us = da->started_us, .last_us = da->last_us};
	memcpy(a.src, da->src, sizeof a.src);
	return ea->fn(ea->ctx, &a);
}

void engine_each_attempt(const struct engine *e, int (*fn)(void *ctx, const struct engine_attempt *a), void *ctx)
{
	struct each_attempt ea = {.fn = fn, .ctx = ctx};
	doors_each_attempt(e->doors, each_attempt, &ea);
}

size_t engine_revoke(struct engine *e, int family, const uint8_t *src, const char *door, int64_t now)
{
	if (family != AF_INET && family != AF_INET6)
		return 0;
	e->revoking = 1;
	size_t n = grants_revoke(e->grants, family, src, door, now);
	e->revoking = 0;
	return n;
}

int engine_open_by_hand(struct engine *e, const char *door, int family, const uint8_t *src, int64_t duration_us,
			int64_t now, const char *who, char *err, size_t errlen)
{
	ssize_t j = door ? door_index(e, door) : -1;
	if (j < 0) {
		snprintf(err, errlen, "no door named %s", door ? door : "(none)");
		return -1;
	}
	if (family != AF_INET && family != AF_INET6) {
		snprintf(err, errlen, "not an IPv4 or IPv6 address");
		return -1;
	}
	if (duration_us < 0) {
		snprintf(err, errlen, "a negative duration");
		return -1;
	}
	const struct door_conf *dc = &e->door[j];
	uint64_t changes = e->stats.opened + e->stats.extended;
	e->by_hand = who && *who ? who : "unknown";
	size_t refused = 0;
	for (size_t h = 0; h < (dc->non ? dc->non : 1); h++) {	/* on: every host, as a knock does */
		grants_set_host(e->grants, dc->non ? dc->on[h] : NULL);
		refused += grants_open(e->grants, dc->name, dc->open, dc->nopen,
				       duration_us ? duration_us : dc->duration_us, family, src, now);
		refused += grants_open_gw(e->grants, dc->name, dc->gw, dc->ngw, dc->keep_established,
					  duration_us ? duration_us : dc->duration_us, family, src, now);
	}
	grants_set_host(e->grants, NULL);
	e->by_hand = NULL;
	int done = (int)(e->stats.opened + e->stats.extended - changes);
	if (refused) {
		char s[KNOCK_ADDRSTRLEN];
		e->stats.refused += refused;
		log_warn("door %s: %zu port(s) not opened by hand for %s: max_grants grants are open already", dc->name,
			 refused, knock_addr_str(family, src, s));
		if (!done) {
			snprintf(err, errlen, "the grants table is full (max_grants)");
			return -1;
		}
	}
	return done;
}
