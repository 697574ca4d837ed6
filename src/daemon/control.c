/* control.c — the control socket server (control.h).
 *
 * A connection goes READ (the request line, within CONTROL_REQUEST_US) →
 * REPLY (its output drains, then it is closed; within CONTROL_REPLY_US) or
 * WATCH (decisions appended as the engine makes them, until the client
 * closes). Output goes through a per-connection buffer of at most
 * CONTROL_OUT_MAX bytes written when the socket is writable; long lists
 * (grants, attempts) are formatted a piece at a time as it drains. A
 * watcher whose buffer would overflow is cut off: the engine never waits. */
#include "control.h"
#include "fleet.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "control_proto.h"
#include "engine.h"
#include "grants.h"
#include "knock.h"
#include "log.h"

#define CHUNK (64 * 1024)	/* a list is formatted up to this much pending output at a time */
#define PEER_GROUPS_MAX 256		/* on the stack; more (up to the kernel's NGROUPS_MAX) allocated */
#define PEER_GROUPS_LIMIT 65536
#define DENIED "error denied not root, not the daemon's user, not a member of control.group or control.read_group\n"

enum access { ACC_NONE, ACC_READ, ACC_FULL };
enum conn_state { C_READ, C_REPLY, C_WATCH };

struct conn {
	struct control *c;
	struct conn *next, **pprev;
	int fd;
	sd_event_source *io, *timer;
	enum conn_state state;
	enum access acc;
	uid_t uid;
	pid_t pid;
	char in[CONTROL_LINE_MAX];
	size_t inlen;
	struct mbuf out;
	size_t sent;		/* out.p[sent..len) is pending */
	/* a list formatted piece by piece */
	struct control_req req;
	int listing;		/* 0: done */
	size_t cursor;		/* items already formatted */
	int w_door, w_src, w_port;	/* text column widths */
	int in_list;		/* a JSON array item was written */
	int knocks;		/* watch: knock lines too */
	int eof;		/* the client shut its side: nothing more to read */
};

struct control {
	sd_event *ev;
	int fd;
	char path[sizeof ((struct sockaddr_un *)0)->sun_path];
	sd_event_source *io;
	sd_event_source *reaper;	/* frees watchers cut off from the engine's callback */
	struct control_host host;
	struct conn *conns;
	size_t nconns;
	size_t nstrangers;	/* connections of peers who may do nothing */
	size_t nwatch, nwatch_knocks;
	int sink_knocks;	/* what the engine was last told */
	int sink_set;
	int has_group, has_read_group;
	gid_t group, read_group;
	uint64_t dropped;
	int busy_said;
};

static void conn_free(struct conn *k);
static void update_sink(struct control *c);

static int64_t realtime_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* ---- output ----------------------------------------------------------------- */

static size_t pending(const struct conn *k)
{
	return k->out.len - k->sent;
}

/* Moves the pending bytes to the front of the buffer. */
static void compact(struct conn *k)
{
	if (k->sent == 0)
		return;
	memmove(k->out.p, k->out.p + k->sent, pending(k));
	k->out.len -= k->sent;
	k->sent = 0;
	k->out.full = 0;
}

static void want_write(struct conn *k, int on)
{
	sd_event_source_set_io_events(k->io, (k->eof ? 0 : EPOLLIN) | (on ? EPOLLOUT : 0));
}

/* What a reply still has to format, then: done (0) or not (1). */
static int produce(struct conn *k);

/* Writes what it can. -1: the connection is gone (freed). */
static int flush(struct conn *k)
{
	for (;;) {
		while (pending(k)) {
			ssize_t n = send(k->fd, k->out.p + k->sent, pending(k), MSG_NOSIGNAL | MSG_DONTWAIT);
			if (n < 0 && errno == EINTR)
				continue;
			if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
				want_write(k, 1);
				return 0;
			}
			if (n <= 0) {
				conn_free(k);
				return -1;
			}
			k->sent += (size_t)n;
		}
		k->out.len = k->sent = 0;
		k->out.full = 0;
		if (k->state == C_REPLY && k->listing && produce(k))
			continue;
		break;
	}
	want_write(k, 0);
	if (k->state == C_REPLY && !k->listing) {
		conn_free(k);
		return -1;
	}
	return 0;
}

/* ---- formatting -------------------------------------------------------------- */

static const char *door_kind_name(const char *kind)
{
	return kind ? kind : "?";
}

/* "3h 12m", "2d 4h", "45s" into BUF */
static const char *age_str(int64_t us, char buf[32])
{
	int64_t s = us / 1000000;
	if (s < 0)
		s = 0;
	if (s < 60)
		snprintf(buf, 32, "%llds", (long long)s);
	else if (s < 3600)
		snprintf(buf, 32, "%lldm %llds", (long long)(s / 60), (long long)(s % 60));
	else if (s < 86400)
		snprintf(buf, 32, "%lldh %lldm", (long long)(s / 3600), (long long)(s % 3600 / 60));
	else
		snprintf(buf, 32, "%lldd %lldh", (long long)(s / 86400), (long long)(s % 86400 / 3600));
	return buf;
}

/* Local time for people: "2026-12-02 15:00:01". */
static const char *local_time(int64_t us, char buf[32])
{
	time_t t = (time_t)(us / 1000000);
	struct tm tm;
	if (!localtime_r(&t, &tm) || !strftime(buf, 32, "%Y-%m-%d %H:%M:%S", &tm))
		snprintf(buf, 32, "%lld", (long long)(us / 1000000));
	return buf;
}

static void json_str(struct mbuf *b, const char *key, const char *val, int comma)
{
	mbuf_printf(b, "%s\"%s\":\"", comma ? "," : "", key);
	mbuf_json(b, val);
	mbuf_add(b, "\"", 1);
}

static void fmt_status(struct conn *k)
{
	struct control *c = k->c;
	struct metrics_snapshot s;
	struct mbuf *b = &k->out;
	const struct engine *e = c->host.engine;
	const struct engine_stats *st = engine_stats(e);
	char t1[KNOCK_TIMESTRLEN], t2[KNOCK_TIMESTRLEN], lt[32];
	c->host.snapshot(c->host.ctx, &s);

	if (k->req.json) {
		mbuf_printf(b, "{\"version\":\"%s\",\"pid\":%ld,\"uptime\":%lld", s.version, s.pid,
			    (long long)((s.now_us - s.start_us) / 1000000));
		json_str(b, "started", knock_time_str(s.start_us, t1), 1);
		json_str(b, "config", s.config_path, 1);
		json_str(b, "loaded", knock_time_str(s.loaded_us, t2), 1);
		mbuf_add(b, ",\"sources\":[", 12);
		for (size_t i = 0; i < s.nsources; i++) {
			const struct metrics_source *ms = &s.sources[i];
			mbuf_printf(b, "%s{", i ? "," : "");
			json_str(b, "source", ms->name, 0);
			json_str(b, "position", ms->st.pos, 1);
			if (ms->st.lag < 0)
				mbuf_printf(b, ",\"lag\":null");
			else
				mbuf_printf(b, ",\"%s\":%lld", ms->st.lag_is_time ? "lag_us" : "lag_bytes",
					    (long long)ms->st.lag);
			mbuf_printf(b, ",\"lines\":%llu,\"skipped\":{\"malformed\":%llu,\"future\":%llu,\"too_long\":%llu},"
				    "\"lost\":%llu}", (unsigned long long)ms->lines, (unsigned long long)ms->malformed,
				    (unsigned long long)ms->future, (unsigned long long)ms->too_long,
				    (unsigned long long)ms->lost);
		}
		mbuf_add(b, "],\"doors\":[", 11);
		for (size_t i = 0, n = engine_ndoors(e); i < n; i++) {
			struct engine_door_stats ds;
			engine_door_stats(e, i, &ds);
			mbuf_printf(b, "%s{", i ? "," : "");
			json_str(b, "door", ds.name, 0);
			json_str(b, "kind", door_kind_name(ds.kind), 1);
			mbuf_printf(b, ",\"knocks\":%llu,\"attempts\":%llu,\"in_progress\":%llu,\"opens\":%llu,"
				    "\"extends\":%llu,\"closes\":%llu,\"replays\":%llu,\"rejected\":%llu,\"by_hand\":%llu,"
				    "\"revoked\":%llu}", (unsigned long long)ds.knocks, (unsigned long long)ds.attempts,
				    (unsigned long long)ds.in_progress, (unsigned long long)ds.opens,
				    (unsigned long long)ds.extends, (unsigned long long)ds.closes,
				    (unsigned long long)ds.replays, (unsigned long long)ds.rejected,
				    (unsigned long long)ds.by_hand, (unsigned long long)ds.revoked);
		}
		mbuf_add(b, "],\"applier\":{", 13);
		json_str(b, "backend", s.backend, 0);
		mbuf_printf(b, ",\"pid\":%ld,\"restarts\":%u,\"requests\":%llu,\"errors\":%llu,\"pending\":%u}",
			    s.applier.pid, s.applier.restarts, (unsigned long long)s.applier.requests,
			    (unsigned long long)s.applier.errors, s.applier.pending);
		if (s.fleet) {
			/* fleet (issue 16): each appliers: host's link */
			mbuf_add(b, ",\"hosts\":[", 10);
			for (size_t i = 0, n = fleet_nhosts(s.fleet); i < n; i++) {
				struct fleet_link_info li;
				fleet_link_info(s.fleet, i, &li);
				mbuf_printf(b, "%s{", i ? "," : "");
				json_str(b, "host", li.name, 0);
				json_str(b, "link", li.state, 1);
				mbuf_printf(b, ",\"pid\":%ld,\"ups\":%llu,\"requests\":%llu,\"errors\":%llu,\"pending\":%u}",
					    li.pid, (unsigned long long)li.ups, (unsigned long long)li.requests,
					    (unsigned long long)li.errors, li.pending);
			}
			mbuf_add(b, "]", 1);
		}
		mbuf_printf(b, ",\"tracked\":%zu,\"max_sources\":%zu,\"evictions\":%llu,\"grants\":%zu,\"lines\":%llu,"
			    "\"knocks\":%llu,\"watch_dropped\":%llu}\n", engine_tracked_sources(e), s.max_sources,
			    (unsigned long long)st->evicted, engine_open_grants(e), (unsigned long long)st->lines,
			    (unsigned long long)st->knocks, (unsigned long long)s.control_dropped);
		return;
	}

	char age[32];
	mbuf_printf(b, "logknockd %s, pid %ld, up %s", s.version, s.pid, age_str(s.now_us - s.start_us, age));
	mbuf_printf(b, "\nconfig    %s, loaded %s\n", s.config_path, local_time(s.loaded_us, lt));
	int wn = 6;	/* "SOURCE" */
	for (size_t i = 0; i < s.nsources; i++)
		if ((int)strlen(s.sources[i].name) > wn)
			wn = (int)strlen(s.sources[i].name);
	mbuf_printf(b, "sources   %-*s  %-20s  %-9s  %10s  %8s  %8s\n", wn, "SOURCE", "POSITION", "LAG", "LINES", "SKIPPED",
		    "LOST");
	for (size_t i = 0; i < s.nsources; i++) {
		const struct metrics_source *ms = &s.sources[i];
		char lag[32];
		if (ms->st.lag < 0)
			snprintf(lag, sizeof lag, "-");
		else if (ms->st.lag_is_time)
			snprintf(lag, sizeof lag, "%lld ms", (long long)(ms->st.lag / 1000));
		else
			snprintf(lag, sizeof lag, "%lld B", (long long)ms->st.lag);
		/* LOST: records the source knows it missed (the kernel's ring overran) */
		mbuf_printf(b, "          %-*s  %-20s  %-9s  %10llu  %8llu  %8llu\n", wn, ms->name,
			    ms->st.pos[0] ? ms->st.pos : "-", lag, (unsigned long long)ms->lines,
			    (unsigned long long)ms->malformed + ms->future + ms->too_long, (unsigned long long)ms->lost);
	}
	int wd = 4;	/* "DOOR" */
	for (size_t i = 0, n = engine_ndoors(e); i < n; i++) {
		struct engine_door_stats ds;
		engine_door_stats(e, i, &ds);
		if ((int)strlen(ds.name) > wd)
			wd = (int)strlen(ds.name);
	}
	mbuf_printf(b, "doors     %-*s  %-9s  %8s  %8s  %6s  %7s\n", wd, "DOOR", "KIND", "KNOCKS", "ATTEMPTS", "OPENS",
		    "REPLAYS");
	for (size_t i = 0, n = engine_ndoors(e); i < n; i++) {
		struct engine_door_stats ds;
		engine_door_stats(e, i, &ds);
		mbuf_printf(b, "          %-*s  %-9s  %8llu  %8llu  %6llu  %7llu\n", wd, ds.name, door_kind_name(ds.kind),
			    (unsigned long long)ds.knocks, (unsigned long long)ds.in_progress,
			    (unsigned long long)ds.opens, (unsigned long long)ds.replays);
	}
	mbuf_printf(b, "applier   %s, ", s.backend);
	if (s.applier.pid)
		mbuf_printf(b, "pid %ld", s.applier.pid);
	else
		mbuf_printf(b, "not running");
	mbuf_printf(b, ", %u restarts, %llu requests, %llu errors\n", s.applier.restarts,
		    (unsigned long long)s.applier.requests, (unsigned long long)s.applier.errors);
	for (size_t i = 0, n = fleet_nhosts(s.fleet); i < n; i++) {
		struct fleet_link_info li;
		fleet_link_info(s.fleet, i, &li);
		mbuf_printf(b, "%s%s %s", i ? "          " : "hosts     ", li.name, li.state);
		if (li.pid)
			mbuf_printf(b, ", ssh pid %ld", li.pid);
		mbuf_printf(b, ", up %llu times, %llu requests, %llu errors\n", (unsigned long long)li.ups,
			    (unsigned long long)li.requests, (unsigned long long)li.errors);
	}
	mbuf_printf(b, "tracked   %zu / %zu sources, %llu evictions\n", engine_tracked_sources(e), s.max_sources,
		    (unsigned long long)st->evicted);
	mbuf_printf(b, "grants    %zu open\n", engine_open_grants(e));
}

/* ---- lists ---------------------------------------------------------------------- */

static int door_known(const struct engine *e, const char *door)
{
	for (size_t i = 0, n = engine_ndoors(e); i < n; i++) {
		struct engine_door_stats ds;
		engine_door_stats(e, i, &ds);
		if (strcmp(ds.name, door) == 0)
			return 1;
	}
	return 0;
}

static void list_item_start(struct conn *k)
{
	if (k->req.json && k->in_list)
		mbuf_add(&k->out, ",", 1);
	k->in_list = 1;
}

/* A grant's PORT column: "tcp/22", "tcp/22->10.0.0.2" (forward),
 * "tcp/2222->10.0.0.2:22" or "tcp/22->[2001:db8::2]:22" (dnat); a fleet
 * grant's with "@HOST". LEN: GRANT_PORT_STR bytes. */
#define GRANT_PORT_STR (80 + 1 + GRANT_HOST_MAX)
static const char *grant_port_str(const struct grant *g, char *port, size_t len)
{
	char to[KNOCK_ADDRSTRLEN];
	if (g->via == APPLY_VIA_DNAT)
		snprintf(port, len, g->family == AF_INET6 ? "%s/%u->[%s]:%u" : "%s/%u->%s:%u",
			 knock_proto_str(g->proto), (unsigned)g->port, knock_addr_str(g->family, g->to, to),
			 (unsigned)g->toport);
	else if (g->via == APPLY_VIA_FORWARD)
		snprintf(port, len, "%s/%u->%s", knock_proto_str(g->proto), (unsigned)g->port,
			 knock_addr_str(g->family, g->to, to));
	else
		snprintf(port, len, "%s/%u", knock_proto_str(g->proto), (unsigned)g->port);
	if (g->host[0]) {	/* fleet: "tcp/22@web1" */
		size_t l = strlen(port);
		snprintf(port + l, len - l, "@%s", g->host);
	}
	return port;
}

static void grant_line(struct conn *k, const struct grant *g, int64_t now)
{
	struct mbuf *b = &k->out;
	char a[KNOCK_ADDRSTRLEN], t1[KNOCK_TIMESTRLEN], t2[KNOCK_TIMESTRLEN], lt[32];
	knock_addr_str(g->family, g->src, a);
	list_item_start(k);
	if (k->req.json) {
		mbuf_add(b, "{", 1);
		json_str(b, "door", g->door, 0);
		if (g->host[0])	/* fleet: the appliers: host that holds it, as replay says */
			json_str(b, "host", g->host, 1);
		mbuf_printf(b, ",\"src\":\"%s\",\"proto\":\"%s\",\"port\":%u", a, knock_proto_str(g->proto),
			    (unsigned)g->port);
		if (g->via != APPLY_VIA_LOCAL) {	/* forward and dnat grants: where to, as replay says */
			char to[KNOCK_ADDRSTRLEN];
			mbuf_printf(b, ",\"via\":\"%s\",\"to\":\"%s\"", g->via == APPLY_VIA_DNAT ? "dnat" : "forward",
				    knock_addr_str(g->family, g->to, to));
			if (g->via == APPLY_VIA_DNAT)
				mbuf_printf(b, ",\"toport\":%u", (unsigned)g->toport);
		}
		mbuf_printf(b, ",\"opened\":\"%s\",\"expires\":\"%s\",\"extended\":%u}", knock_time_str(g->opened_us, t1),
			    knock_time_str(g->expires_us, t2), (unsigned)g->extended);
		return;
	}
	char port[GRANT_PORT_STR];
	grant_port_str(g, port, sizeof port);
	mbuf_printf(b, "%-*s  %-*s  %-*s  %-19s  ", k->w_door, g->door, k->w_src, a, k->w_port, port,
		    local_time(g->opened_us, lt));
	char left[32];
	mbuf_printf(b, "%-19s  %-7s  %u\n", local_time(g->expires_us, lt), age_str(g->expires_us - now, left),
		    (unsigned)g->extended);
}

static int grant_match(const struct conn *k, const struct grant *g)
{
	return !k->req.door[0] || strcmp(g->door, k->req.door) == 0;
}

/* Attempts: each pass skips the CURSOR first ones (an attempt has no
 * index), formats the next until the chunk is full. */
struct each_ctx {
	struct conn *k;
	size_t seen, written;
	int64_t now;
	int measure;
};

static int attempt_cb(void *ctx, const struct engine_attempt *at)
{
	struct each_ctx *x = ctx;
	struct conn *k = x->k;
	char a[KNOCK_ADDRSTRLEN];
	if (k->req.door[0] && strcmp(at->door, k->req.door) != 0)
		return 0;
	knock_addr_str(at->family, at->src, a);
	if (x->measure) {
		if ((int)strlen(at->door) > k->w_door)
			k->w_door = (int)strlen(at->door);
		if ((int)strlen(a) > k->w_src)
			k->w_src = (int)strlen(a);
		return 0;
	}
	if (x->seen++ < k->cursor)
		return 0;
	struct mbuf *b = &k->out;
	char t1[KNOCK_TIMESTRLEN], t2[KNOCK_TIMESTRLEN];
	list_item_start(k);
	if (k->req.json) {
		mbuf_add(b, "{", 1);
		json_str(b, "door", at->door, 0);
		mbuf_printf(b, ",\"src\":\"%s\",\"step\":%u,\"steps\":%u,\"started\":\"%s\",\"last\":\"%s\"}", a, at->step,
			    at->steps, knock_time_str(at->started_us, t1), knock_time_str(at->last_us, t2));
	} else {
		char step[24];
		snprintf(step, sizeof step, "%u/%u", at->step, at->steps);
		char age[32], last[32];
		mbuf_printf(b, "%-*s  %-*s  %-7s  %-7s  %s\n", k->w_door, at->door, k->w_src, a, step,
			    age_str(x->now - at->started_us, age), age_str(x->now - at->last_us, last));
	}
	x->written++;
	return pending(k) >= CHUNK;	/* the rest when this has drained */
}

static int produce(struct conn *k)
{
	const struct engine *e = k->c->host.engine;
	int64_t now = realtime_us();
	compact(k);
	if (k->req.cmd == CTL_GRANTS) {
		size_t n = engine_open_grants(e);
		while (k->cursor < n && pending(k) < CHUNK) {
			const struct grant *g = engine_grant_at(e, k->cursor++);
			if (g && grant_match(k, g))
				grant_line(k, g, now);
		}
		if (k->cursor < n)
			return 1;
	} else {
		struct each_ctx x = {.k = k, .now = now};
		engine_each_attempt(e, attempt_cb, &x);
		k->cursor += x.written;
		if (pending(k) >= CHUNK && x.written)
			return 1;
	}
	if (k->req.json)
		mbuf_add(&k->out, "]\n", 2);
	else if (!k->in_list)
		mbuf_printf(&k->out, "(none)\n");
	k->listing = 0;
	return 1;
}

static void start_list(struct conn *k)
{
	const struct engine *e = k->c->host.engine;
	k->listing = 1;
	k->cursor = 0;
	k->w_door = 4;	/* DOOR */
	k->w_src = 6;	/* SOURCE */
	k->w_port = 10;	/* tcp/65535 */
	if (k->req.cmd == CTL_GRANTS) {
		char a[KNOCK_ADDRSTRLEN], port[GRANT_PORT_STR];
		for (size_t i = 0, n = engine_open_grants(e); i < n; i++) {
			const struct grant *g = engine_grant_at(e, i);
			if (!g || !grant_match(k, g))
				continue;
			if ((int)strlen(g->door) > k->w_door)
				k->w_door = (int)strlen(g->door);
			if ((int)strlen(knock_addr_str(g->family, g->src, a)) > k->w_src)
				k->w_src = (int)strlen(a);
			if ((int)strlen(grant_port_str(g, port, sizeof port)) > k->w_port)
				k->w_port = (int)strlen(port);
		}
	} else {
		struct each_ctx x = {.k = k, .measure = 1};
		engine_each_attempt(e, attempt_cb, &x);
	}
	if (k->req.json)
		mbuf_add(&k->out, "[", 1);
	else if (k->req.cmd == CTL_GRANTS)
		mbuf_printf(&k->out, "%-*s  %-*s  %-*s  %-19s  %-19s  %-7s  %s\n", k->w_door, "DOOR", k->w_src, "SOURCE",
			    k->w_port, "PORT", "OPENED", "EXPIRES", "LEFT", "EXTENDED");
	else
		mbuf_printf(&k->out, "%-*s  %-*s  %-7s  %-7s  %s\n", k->w_door, "DOOR", k->w_src, "SOURCE", "STEP", "AGE",
			    "LAST");
}

/* ---- watch ------------------------------------------------------------------------ */

/* The engine's callback: every decision (and with knocks, every knock)
 * copied into each watcher's buffer. Nothing here blocks or allocates
 * beyond a watcher's bounded buffer. */
static void on_event(void *ctx, const char *json, size_t len)
{
	struct control *c = ctx;
	int is_knock = len > 17 && memcmp(json, "{\"event\":\"knock\"", 16) == 0;
	for (struct conn *k = c->conns; k; k = k->next) {
		if (k->state != C_WATCH || k->fd < 0 || (is_knock && !k->knocks))
			continue;
		if (pending(k) + len > CONTROL_OUT_MAX) {
			/* Cut off; freed from the loop, not under the engine. */
			c->dropped++;
			log_warn("control: watch client uid %u pid %ld does not read fast enough (%d KiB waiting): "
				 "disconnected", (unsigned)k->uid, (long)k->pid, CONTROL_OUT_MAX / 1024);
			sd_event_source_set_enabled(k->io, SD_EVENT_OFF);
			shutdown(k->fd, SHUT_RDWR);
			close(k->fd);
			k->fd = -1;
			sd_event_source_set_enabled(c->reaper, SD_EVENT_ONESHOT);
			continue;
		}
		if (k->out.len + len > CONTROL_OUT_MAX)
			compact(k);
		int was_empty = pending(k) == 0;
		mbuf_add(&k->out, json, len);
		if (was_empty)
			want_write(k, 1);
	}
}

static int on_reap(sd_event_source *s, void *userdata)
{
	struct control *c = userdata;
	for (struct conn *k = c->conns, *next; k; k = next) {
		next = k->next;
		if (k->fd < 0)
			conn_free(k);
	}
	return 0;
}

static void update_sink(struct control *c)
{
	if (!c->host.engine)
		return;
	if (c->nwatch == 0) {
		if (c->sink_set)
			engine_set_event_sink(c->host.engine, NULL, NULL, 0);
		c->sink_set = 0;
		return;
	}
	int knocks = c->nwatch_knocks > 0;
	if (!c->sink_set || knocks != c->sink_knocks)
		engine_set_event_sink(c->host.engine, on_event, c, knocks);
	c->sink_set = 1;
	c->sink_knocks = knocks;
}

/* ---- requests ------------------------------------------------------------------------ */

static void reply_error(struct conn *k, const char *code, const char *msg)
{
	k->out.len = k->sent = 0;
	k->out.full = 0;
	mbuf_printf(&k->out, "error %s %s\n", code, msg);
	k->listing = 0;
}

static void do_close(struct conn *k)
{
	struct control *c = k->c;
	char a[KNOCK_ADDRSTRLEN];
	knock_addr_str(k->req.family, k->req.addr, a);
	char msg[340];
	if (k->req.door[0] && !door_known(c->host.engine, k->req.door)) {
		snprintf(msg, sizeof msg, "no such door: %s", k->req.door);
		reply_error(k, "notfound", msg);
		return;
	}
	size_t n = engine_revoke(c->host.engine, k->req.family, k->req.addr, k->req.door[0] ? k->req.door : NULL,
				 realtime_us());
	if (n == 0) {
		snprintf(msg, sizeof msg, "no open grant for %s%s%s", a, k->req.door[0] ? " at door " : "", k->req.door);
		reply_error(k, "notfound", msg);
		return;
	}
	if (c->host.grants_save)
		c->host.grants_save(c->host.ctx);
	log_info("control: uid %u closed %zu grant%s of %s%s%s", (unsigned)k->uid, n, n == 1 ? "" : "s", a,
		 k->req.door[0] ? " at door " : "", k->req.door);
	mbuf_add(&k->out, "ok\n", 3);
	if (k->req.json)
		mbuf_printf(&k->out, "{\"closed\":%zu,\"src\":\"%s\"}\n", n, a);
	else
		mbuf_printf(&k->out, "closed %zu grant%s of %s\n", n, n == 1 ? "" : "s", a);
}

static void do_open(struct conn *k)
{
	struct control *c = k->c;
	char a[KNOCK_ADDRSTRLEN], who[32], err[256];
	knock_addr_str(k->req.family, k->req.addr, a);
	if (!door_known(c->host.engine, k->req.door)) {
		char msg[300];
		snprintf(msg, sizeof msg, "no such door: %s", k->req.door);
		reply_error(k, "notfound", msg);
		return;
	}
	snprintf(who, sizeof who, "uid %u", (unsigned)k->uid);
	int n = engine_open_by_hand(c->host.engine, k->req.door, k->req.family, k->req.addr, k->req.for_us,
				    realtime_us(), who, err, sizeof err);
	if (n < 0) {
		/* the message as one printable line */
		for (char *p = err; *p; p++)
			if (*p < 0x20 || *p > 0x7e)
				*p = '?';
		reply_error(k, "failed", err[0] ? err : "cannot open");
		return;
	}
	if (c->host.grants_save)
		c->host.grants_save(c->host.ctx);
	mbuf_add(&k->out, "ok\n", 3);
	if (k->req.json) {
		mbuf_printf(&k->out, "{\"opened\":%d,", n);
		json_str(&k->out, "door", k->req.door, 0);
		mbuf_printf(&k->out, ",\"src\":\"%s\",\"for\":%lld}\n", a, (long long)(k->req.for_us / 1000000));
	} else {
		mbuf_printf(&k->out, "opened door %s for %s: %d port%s", k->req.door, a, n, n == 1 ? "" : "s");
		if (k->req.for_us)
			mbuf_printf(&k->out, " for %llds", (long long)(k->req.for_us / 1000000));
		mbuf_add(&k->out, "\n", 1);
	}
}

static void do_reload(struct conn *k)
{
	struct control *c = k->c;
	char err[1024] = "reload is not available";
	log_info("control: reload asked by uid %u", (unsigned)k->uid);
	if (!c->host.reload || c->host.reload(c->host.ctx, err, sizeof err) < 0) {
		for (char *p = err; *p; p++)
			if (*p < 0x20 || *p > 0x7e)
				*p = '?';
		reply_error(k, "failed", err);
		return;
	}
	mbuf_add(&k->out, "ok\n", 3);
	if (k->req.json)
		mbuf_printf(&k->out, "{\"reloaded\":true,\"doors\":%zu}\n", engine_ndoors(c->host.engine));
	else
		mbuf_printf(&k->out, "reloaded: %zu doors\n", engine_ndoors(c->host.engine));
}

static void do_metrics(struct conn *k)
{
	struct control *c = k->c;
	struct metrics_snapshot s;
	c->host.snapshot(c->host.ctx, &s);
	mbuf_add(&k->out, "ok\n", 3);
	/* bounded by the configuration (256 doors, 64 sources): well under
	 * a few hundred KiB, allowed past CONTROL_OUT_MAX for this once */
	size_t max = k->out.max;
	k->out.max = 4 * 1024 * 1024;
	metrics_format(&s, &k->out);
	k->out.max = max;
	if (k->out.full)
		reply_error(k, "failed", "metrics too large, or out of memory");
}

static void handle(struct conn *k, const char *line, size_t len)
{
	struct control *c = k->c;
	char err[160];
	sd_event_source_set_enabled(k->timer, SD_EVENT_OFF);
	int bad = control_parse(line, len, &k->req, err, sizeof err);
	k->state = C_REPLY;
	uint64_t now;
	sd_event_now(c->ev, CLOCK_MONOTONIC, &now);
	sd_event_source_set_time(k->timer, now + CONTROL_REPLY_US);
	sd_event_source_set_enabled(k->timer, SD_EVENT_ONESHOT);
	/* Whoever may not use the socket learns nothing, not even whether
	 * the request was well formed. */
	if (k->acc == ACC_NONE) {
		k->out.len = k->sent = 0;
		mbuf_add(&k->out, DENIED, strlen(DENIED));
		log_debug("control: uid %u pid %ld denied", (unsigned)k->uid, (long)k->pid);
		return;
	}
	if (bad) {
		reply_error(k, "usage", err);
		return;
	}
	if (k->acc == ACC_READ && !control_cmd_read_only(k->req.cmd)) {
		char msg[300];
		snprintf(msg, sizeof msg, "%s needs root or a member of control.group", control_cmd_name(k->req.cmd));
		reply_error(k, "denied", msg);
		return;
	}
	switch (k->req.cmd) {
	case CTL_STATUS:
		mbuf_add(&k->out, "ok\n", 3);
		fmt_status(k);
		break;
	case CTL_GRANTS:
	case CTL_ATTEMPTS:
		if (k->req.door[0] && !door_known(c->host.engine, k->req.door)) {
			char msg[300];
			snprintf(msg, sizeof msg, "no such door: %s", k->req.door);
			reply_error(k, "notfound", msg);
			break;
		}
		mbuf_add(&k->out, "ok\n", 3);
		start_list(k);
		produce(k);
		break;
	case CTL_CLOSE: do_close(k); break;
	case CTL_OPEN: do_open(k); break;
	case CTL_RELOAD: do_reload(k); break;
	case CTL_METRICS: do_metrics(k); break;
	case CTL_WATCH:
		mbuf_add(&k->out, "ok\n", 3);
		k->state = C_WATCH;
		k->knocks = k->req.knocks;
		sd_event_source_set_enabled(k->timer, SD_EVENT_OFF);
		c->nwatch++;
		c->nwatch_knocks += k->knocks;
		update_sink(c);
		log_info("control: uid %u pid %ld watches", (unsigned)k->uid, (long)k->pid);
		break;
	}
}

/* ---- connections ---------------------------------------------------------------------- */

static void conn_free(struct conn *k)
{
	struct control *c = k->c;
	if (k->state == C_WATCH) {
		c->nwatch--;
		c->nwatch_knocks -= k->knocks;
		update_sink(c);
	}
	*k->pprev = k->next;
	if (k->next)
		k->next->pprev = k->pprev;
	c->nconns--;
	c->nstrangers -= k->acc == ACC_NONE;
	sd_event_source_disable_unref(k->io);
	sd_event_source_disable_unref(k->timer);
	if (k->fd >= 0)
		close(k->fd);
	mbuf_free(&k->out);
	free(k);
}

static int on_conn(sd_event_source *s, int fd, uint32_t revents, void *userdata)
{
	struct conn *k = userdata;
	if (revents & EPOLLIN) {
		if (k->state == C_READ) {
			ssize_t n = recv(fd, k->in + k->inlen, sizeof k->in - k->inlen, MSG_DONTWAIT);
			if (n < 0 && (errno == EAGAIN || errno == EINTR))
				return 0;
			if (n <= 0) {	/* gone before a whole line */
				conn_free(k);
				return 0;
			}
			size_t was = k->inlen;
			k->inlen += (size_t)n;
			char *nl = memchr(k->in + was, '\n', k->inlen - was);
			if (nl) {
				handle(k, k->in, (size_t)(nl - k->in) + 1);
			} else if (k->inlen == sizeof k->in) {
				k->state = C_REPLY;
				reply_error(k, k->acc == ACC_NONE ? "denied" : "usage",
					    k->acc == ACC_NONE ? "not allowed" : "request longer than 1024 bytes");
			} else {
				return 0;
			}
			flush(k);	/* may free k */
			return 0;
		}
		/* After the request: anything more is ignored; the end of it
		 * (the client closed) ends a watch. */
		char sink[512];
		ssize_t n = recv(fd, sink, sizeof sink, MSG_DONTWAIT);
		if (n < 0 && errno != EAGAIN && errno != EINTR) {
			conn_free(k);
			return 0;
		}
		if (n == 0) {
			/* A watcher that closed is gone; a reply still goes
			 * to a client that only shut its writing side. */
			if (k->state == C_WATCH) {
				conn_free(k);
				return 0;
			}
			k->eof = 1;
			want_write(k, pending(k) > 0);
		}
	}
	if ((revents & EPOLLERR) || ((revents & EPOLLHUP) && !(revents & EPOLLOUT))) {
		conn_free(k);
		return 0;
	}
	if (revents & EPOLLOUT)
		flush(k);
	return 0;
}

static int on_conn_timer(sd_event_source *s, uint64_t usec, void *userdata)
{
	struct conn *k = userdata;
	if (k->state == C_READ) {
		/* one try to say why, then gone (a stranger learns only "denied") */
		const char *msg = k->acc == ACC_NONE ? DENIED : "error usage no request line within 5 s\n";
		if (send(k->fd, msg, strlen(msg), MSG_NOSIGNAL | MSG_DONTWAIT) < 0)
			log_debug("control: %s", strerror(errno));
	}
	conn_free(k);
	return 0;
}

static enum access peer_access(struct control *c, int fd, uid_t uid, gid_t gid)
{
	if (uid == 0 || uid == geteuid())
		return ACC_FULL;
	if (!c->has_group && !c->has_read_group)
		return ACC_NONE;
	gid_t small[PEER_GROUPS_MAX + 1], *groups = small;
	socklen_t len = PEER_GROUPS_MAX * sizeof(gid_t);
	size_t n = 0;
	int r = getsockopt(fd, SOL_SOCKET, SO_PEERGROUPS, groups, &len);
	if (r < 0 && errno == ERANGE && len <= PEER_GROUPS_LIMIT * sizeof(gid_t)) {
		/* a member of very many groups: len says how many */
		groups = malloc(len + sizeof(gid_t));
		r = groups ? getsockopt(fd, SOL_SOCKET, SO_PEERGROUPS, groups, &len) : -1;
		if (!groups)
			groups = small;
	}
	if (r == 0)
		n = len / sizeof(gid_t);
	else
		log_debug("control: SO_PEERGROUPS: %s; the primary group alone counts", strerror(errno));
	groups[n++] = gid;
	enum access acc = ACC_NONE;
	for (size_t i = 0; i < n && acc != ACC_FULL; i++) {
		if (c->has_group && groups[i] == c->group)
			acc = ACC_FULL;
		else if (c->has_read_group && groups[i] == c->read_group)
			acc = ACC_READ;
	}
	if (groups != small)
		free(groups);
	return acc;
}

/* One try to say MSG on FD (nonblocking), then close it. */
static void say_and_close(int fd, const char *msg)
{
	if (fd < 0)
		return;
	if (send(fd, msg, strlen(msg), MSG_NOSIGNAL | MSG_DONTWAIT) < 0)
		log_debug("control: %s", strerror(errno));
	close(fd);
}

static int on_accept(sd_event_source *s, int fd, uint32_t revents, void *userdata)
{
	struct control *c = userdata;
	for (int i = 0; i < 16; i++) {	/* a few per turn of the loop: the knocks come first */
		int cfd = accept4(fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (cfd < 0) {
			if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR && errno != ECONNABORTED)
				log_debug("control: accept: %s", strerror(errno));
			return 0;
		}
		struct ucred cred;
		socklen_t clen = sizeof cred;
		if (getsockopt(cfd, SOL_SOCKET, SO_PEERCRED, &cred, &clen) < 0) {
			log_warn("control: SO_PEERCRED: %s", strerror(errno));
			close(cfd);
			continue;
		}
		enum access acc = peer_access(c, cfd, cred.uid, cred.gid);
		/* Strangers hold at most a few slots, and give theirs up to
		 * anyone allowed: a local user who keeps connecting cannot
		 * lock the admins out. */
		if (acc == ACC_NONE && c->nstrangers >= CONTROL_MAX_STRANGERS) {
			say_and_close(cfd, DENIED);
			continue;
		}
		if (c->nconns >= CONTROL_MAX_CONNS && acc != ACC_NONE) {
			struct conn *victim = c->conns;
			while (victim && victim->acc != ACC_NONE)
				victim = victim->next;
			if (victim) {
				if (victim->fd >= 0 && victim->state == C_READ &&
				    send(victim->fd, DENIED, strlen(DENIED), MSG_NOSIGNAL | MSG_DONTWAIT) < 0)
					log_debug("control: %s", strerror(errno));
				conn_free(victim);
			}
		}
		if (c->nconns >= CONTROL_MAX_CONNS) {
			say_and_close(cfd, "error failed busy: too many connections\n");
			if (!c->busy_said)
				log_warn("control: more than %d connections at once: refused (said once)",
					 CONTROL_MAX_CONNS);
			c->busy_said = 1;
			continue;
		}
		struct conn *k = calloc(1, sizeof *k);
		if (!k) {
			close(cfd);
			continue;
		}
		k->c = c;
		k->fd = cfd;
		k->uid = cred.uid;
		k->pid = cred.pid;
		k->acc = acc;
		c->nstrangers += acc == ACC_NONE;
		mbuf_init(&k->out, CONTROL_OUT_MAX);
		uint64_t now;
		sd_event_now(c->ev, CLOCK_MONOTONIC, &now);
		if (sd_event_add_io(c->ev, &k->io, cfd, EPOLLIN, on_conn, k) < 0 ||
		    sd_event_add_time(c->ev, &k->timer, CLOCK_MONOTONIC, now + CONTROL_REQUEST_US, 0, on_conn_timer,
				      k) < 0) {
			sd_event_source_disable_unref(k->io);
			close(cfd);
			free(k);
			continue;
		}
		k->next = c->conns;
		if (c->conns)
			c->conns->pprev = &k->next;
		k->pprev = &c->conns;
		c->conns = k;
		c->nconns++;
	}
	return 0;
}

/* ---- the socket -------------------------------------------------------------------------- */

struct control *control_new(sd_event *ev, const char *path, const struct control_host *host)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	if (!path || path[0] != '/' || strlen(path) >= sizeof sa.sun_path) {
		log_err("control socket %s: expected an absolute path of at most %zu bytes", path ? path : "(none)",
			sizeof sa.sun_path - 1);
		return NULL;
	}
	memcpy(sa.sun_path, path, strlen(path) + 1);

	/* Something there: a socket left by a daemon that died is replaced;
	 * a live daemon's is not; anything else (a file, a symbolic link
	 * someone planted) is refused, never removed or followed. */
	struct stat st;
	if (lstat(path, &st) == 0) {
		if (!S_ISSOCK(st.st_mode)) {
			log_err("control socket %s: exists and is not a socket; refusing to replace it", path);
			return NULL;
		}
		int probe = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (probe >= 0 && connect(probe, (struct sockaddr *)&sa, sizeof sa) == 0) {
			close(probe);
			log_err("control socket %s: another daemon listens on it", path);
			return NULL;
		}
		if (probe >= 0)
			close(probe);
		if (unlink(path) < 0 && errno != ENOENT) {
			log_err("control socket %s: cannot remove the stale one: %s", path, strerror(errno));
			return NULL;
		}
	} else if (errno != ENOENT) {
		log_err("control socket %s: %s", path, strerror(errno));
		return NULL;
	}

	struct control *c = calloc(1, sizeof *c);
	if (!c) {
		log_err("control socket: out of memory");
		return NULL;
	}
	c->fd = -1;
	c->ev = sd_event_ref(ev);
	c->host = *host;
	c->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (c->fd < 0) {
		log_err("control socket: %s", strerror(errno));
		goto fail;
	}
	/* 0666: access is decided per connection from the peer's
	 * credentials. umask, not chmod after bind: no moment when the path
	 * is another mode, and nothing to follow. */
	mode_t old = umask(0111);
	int r = bind(c->fd, (struct sockaddr *)&sa, sizeof sa);
	int e = errno;
	umask(old);
	if (r < 0) {
		log_err("control socket %s: bind: %s", path, strerror(e));
		goto fail;
	}
	snprintf(c->path, sizeof c->path, "%s", path);
	if (listen(c->fd, 64) < 0) {
		log_err("control socket %s: listen: %s", path, strerror(errno));
		goto fail;
	}
	if ((r = sd_event_add_io(ev, &c->io, c->fd, EPOLLIN, on_accept, c)) < 0 ||
	    (r = sd_event_add_defer(ev, &c->reaper, on_reap, c)) < 0) {
		log_err("control socket: sd-event: %s", strerror(-r));
		goto fail;
	}
	sd_event_source_set_enabled(c->reaper, SD_EVENT_OFF);
	/* after the sources and timers: knocks first */
	sd_event_source_set_priority(c->io, SD_EVENT_PRIORITY_IDLE);
	log_info("control socket %s", path);
	return c;
fail:
	control_free(c);
	return NULL;
}

void control_set_access(struct control *c, const struct control_conf *cc)
{
	if (!c)
		return;
	c->has_group = cc->group != NULL;
	c->group = cc->group_gid;
	c->has_read_group = cc->read_group != NULL;
	c->read_group = cc->read_group_gid;
}

uint64_t control_dropped(const struct control *c)
{
	return c ? c->dropped : 0;
}

void control_free(struct control *c)
{
	if (!c)
		return;
	for (struct conn *k = c->conns, *next; k; k = next) {
		next = k->next;
		conn_free(k);
	}
	update_sink(c);
	sd_event_source_disable_unref(c->io);
	sd_event_source_disable_unref(c->reaper);
	if (c->fd >= 0) {
		close(c->fd);
		/* ours only if it is still the socket we made */
		if (c->path[0] && unlink(c->path) < 0 && errno != ENOENT)
			log_debug("control socket %s: %s", c->path, strerror(errno));
	}
	sd_event_unref(c->ev);
	free(c);
}
