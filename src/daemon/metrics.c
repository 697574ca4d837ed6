/* metrics.c — Prometheus text exposition (format 0.0.4) of the daemon's
 * counters, and the periodic file. Names follow Prometheus' conventions:
 * logknock_ prefix, _total for counters, base units (seconds). */
#include "metrics.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "control_proto.h"
#include "engine.h"
#include "log.h"

/* ---- buffers ----------------------------------------------------------- */

void mbuf_init(struct mbuf *b, size_t max)
{
	*b = (struct mbuf){.max = max};
}

void mbuf_free(struct mbuf *b)
{
	free(b->p);
	b->p = NULL;
	b->len = b->cap = 0;
}

/* Room for N more bytes (and a NUL); 0, or -1 (full, or out of memory). */
static int mbuf_reserve(struct mbuf *b, size_t n)
{
	if (b->full || n > b->max - b->len) {
		b->full = 1;
		return -1;
	}
	if (b->len + n + 1 <= b->cap)
		return 0;
	size_t cap = b->cap ? b->cap : 4096;
	while (cap < b->len + n + 1)
		cap *= 2;
	if (cap > b->max + 1)
		cap = b->max + 1;
	char *p = realloc(b->p, cap);
	if (!p) {
		b->full = 1;
		return -1;
	}
	b->p = p;
	b->cap = cap;
	return 0;
}

void mbuf_add(struct mbuf *b, const char *s, size_t n)
{
	if (mbuf_reserve(b, n) < 0)
		return;
	memcpy(b->p + b->len, s, n);
	b->len += n;
	b->p[b->len] = '\0';
}

void mbuf_printf(struct mbuf *b, const char *fmt, ...)
{
	char small[512];
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(small, sizeof small, fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	if ((size_t)n < sizeof small) {
		mbuf_add(b, small, (size_t)n);
		return;
	}
	if (mbuf_reserve(b, (size_t)n) < 0)
		return;
	va_start(ap, fmt);
	vsnprintf(b->p + b->len, (size_t)n + 1, fmt, ap);
	va_end(ap);
	b->len += (size_t)n;
}

void mbuf_json(struct mbuf *b, const char *s)
{
	size_t len = strlen(s);
	size_t need = control_json_escape(NULL, 0, s, len);
	if (mbuf_reserve(b, need) < 0)
		return;
	control_json_escape(b->p + b->len, need + 1, s, len);
	b->len += need;
}

/* ---- exposition ---------------------------------------------------------- */

/* A label value: backslash, double quote and newline escaped. */
static void label(struct mbuf *b, const char *s)
{
	for (const char *p = s; *p;) {
		size_t n = strcspn(p, "\\\"\n");
		mbuf_add(b, p, n);
		p += n;
		if (!*p)
			break;
		mbuf_add(b, *p == '\\' ? "\\\\" : *p == '"' ? "\\\"" : "\\n", 2);
		p++;
	}
}

static void head(struct mbuf *b, const char *name, const char *type, const char *help)
{
	mbuf_printf(b, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static void plain(struct mbuf *b, const char *name, const char *type, const char *help, uint64_t v)
{
	head(b, name, type, help);
	mbuf_printf(b, "%s %llu\n", name, (unsigned long long)v);
}

/* One sample NAME{KEY="VAL"} V. */
static void sample1(struct mbuf *b, const char *name, const char *key, const char *val, uint64_t v)
{
	mbuf_printf(b, "%s{%s=\"", name, key);
	label(b, val);
	mbuf_printf(b, "\"} %llu\n", (unsigned long long)v);
}

enum door_field { DF_KNOCKS, DF_ATTEMPTS, DF_IN_PROGRESS, DF_OPENS, DF_EXTENDS, DF_CLOSES, DF_REPLAYS, DF_REJECTED };

static uint64_t door_field(const struct engine_door_stats *d, enum door_field f)
{
	switch (f) {
	case DF_KNOCKS: return d->knocks;
	case DF_ATTEMPTS: return d->attempts;
	case DF_IN_PROGRESS: return d->in_progress;
	case DF_OPENS: return d->opens;
	case DF_EXTENDS: return d->extends;
	case DF_CLOSES: return d->closes;
	case DF_REPLAYS: return d->replays;
	case DF_REJECTED: return d->rejected;
	}
	return 0;
}

static void per_door(struct mbuf *b, const struct engine *e, const char *name, const char *type, const char *help,
		     enum door_field f)
{
	head(b, name, type, help);
	for (size_t i = 0, n = engine_ndoors(e); i < n; i++) {
		struct engine_door_stats ds;
		engine_door_stats(e, i, &ds);
		sample1(b, name, "door", ds.name, door_field(&ds, f));
	}
}

static void seconds(struct mbuf *b, const char *name, const char *help, int64_t us)
{
	head(b, name, "gauge", help);
	mbuf_printf(b, "%s %lld.%06lld\n", name, (long long)(us / 1000000), (long long)(us % 1000000));
}

void metrics_format(const struct metrics_snapshot *s, struct mbuf *b)
{
	const struct engine *e = s->engine;
	const struct engine_stats *st = engine_stats(e);

	head(b, "logknock_lines_read_total", "counter", "Lines read from each source.");
	for (size_t i = 0; i < s->nsources; i++)
		sample1(b, "logknock_lines_read_total", "source", s->sources[i].name, s->sources[i].lines);
	head(b, "logknock_lines_skipped_total", "counter",
	     "Lines skipped, by reason: malformed knock lines, knocks stamped in the future, lines too long to read.");
	for (size_t i = 0; i < s->nsources; i++) {
		const struct metrics_source *ms = &s->sources[i];
		static const char *const reasons[] = {"malformed", "future", "too_long"};
		uint64_t v[] = {ms->malformed, ms->future, ms->too_long};
		for (size_t r = 0; r < 3; r++) {
			mbuf_add(b, "logknock_lines_skipped_total{source=\"", 37);
			label(b, ms->name);
			mbuf_printf(b, "\",reason=\"%s\"} %llu\n", reasons[r], (unsigned long long)v[r]);
		}
	}
	head(b, "logknock_records_lost_total", "counter",
	     "Records a source knows it missed (the kernel log buffer overran).");
	for (size_t i = 0; i < s->nsources; i++)
		sample1(b, "logknock_records_lost_total", "source", s->sources[i].name, s->sources[i].lost);

	plain(b, "logknock_knocks_total", "counter", "Knocks parsed (any door, any source).", st->knocks);
	per_door(b, e, "logknock_door_knocks_total", "counter", "Knocks that started or advanced an attempt at a door.",
		 DF_KNOCKS);
	per_door(b, e, "logknock_attempts_started_total", "counter", "Attempts started at a door.", DF_ATTEMPTS);
	per_door(b, e, "logknock_attempts_in_progress", "gauge", "Attempts in progress at a door.", DF_IN_PROGRESS);
	per_door(b, e, "logknock_opens_total", "counter", "Grants opened by a door.", DF_OPENS);
	per_door(b, e, "logknock_extends_total", "counter", "Open grants extended by a repeat success.", DF_EXTENDS);
	per_door(b, e, "logknock_closes_total", "counter", "Grants closed (expired or revoked).", DF_CLOSES);
	per_door(b, e, "logknock_replays_refused_total", "counter", "Codes refused: used already or past their time.",
		 DF_REPLAYS);
	per_door(b, e, "logknock_rejected_total", "counter", "Encrypted knocks that did not verify.", DF_REJECTED);
	head(b, "logknock_opens_by_hand_total", "counter", "Grants opened by hand (logknockctl open).");
	for (size_t i = 0, n = engine_ndoors(e); i < n; i++) {
		struct engine_door_stats ds;
		engine_door_stats(e, i, &ds);
		sample1(b, "logknock_opens_by_hand_total", "door", ds.name, ds.by_hand);
	}
	head(b, "logknock_revoked_total", "counter", "Grants closed by hand (logknockctl close).");
	for (size_t i = 0, n = engine_ndoors(e); i < n; i++) {
		struct engine_door_stats ds;
		engine_door_stats(e, i, &ds);
		sample1(b, "logknock_revoked_total", "door", ds.name, ds.revoked);
	}
	plain(b, "logknock_evictions_total", "counter",
	      "Tracked sources evicted to make room (max_sources reached).", st->evicted);
	plain(b, "logknock_grants_refused_total", "counter", "Grants refused: the table was full.", st->refused);

	plain(b, "logknock_applier_requests_total", "counter", "Requests sent to the applier.", s->applier.requests);
	plain(b, "logknock_applier_errors_total", "counter", "Applier requests answered with an error or timed out.",
	      s->applier.errors);
	plain(b, "logknock_applier_restarts_total", "counter", "Times the applier was started again.",
	      s->applier.restarts);
	plain(b, "logknock_applier_pending", "gauge", "Applier requests waiting for their answer.", s->applier.pending);

	plain(b, "logknock_grants_open", "gauge", "Grants open now.", engine_open_grants(e));
	plain(b, "logknock_sources_tracked", "gauge", "Source addresses with an attempt in progress.",
	      engine_tracked_sources(e));
	plain(b, "logknock_sources_tracked_max", "gauge", "Source addresses tracked at most (max_sources).",
	      s->max_sources);
	plain(b, "logknock_control_watch_dropped_total", "counter",
	      "Watch clients disconnected because they did not read fast enough.", s->control_dropped);

	const char *h = "logknock_decision_latency_seconds";
	head(b, h, "histogram", "From the knock line read to the applier's answer.");
	for (size_t i = 0; i < APPLIER_LAT_BUCKETS; i++) {
		if (i + 1 < APPLIER_LAT_BUCKETS)
			mbuf_printf(b, "%s_bucket{le=\"%g\"} %llu\n", h, applier_lat_le[i],
				    (unsigned long long)s->applier.lat_bucket[i]);
		else
			mbuf_printf(b, "%s_bucket{le=\"+Inf\"} %llu\n", h, (unsigned long long)s->applier.lat_bucket[i]);
	}
	mbuf_printf(b, "%s_sum %llu.%06llu\n%s_count %llu\n", h, (unsigned long long)(s->applier.lat_sum_us / 1000000),
		    (unsigned long long)(s->applier.lat_sum_us % 1000000), h, (unsigned long long)s->applier.lat_count);

	seconds(b, "logknock_start_time_seconds", "When the daemon started, seconds since the epoch.", s->start_us);
	seconds(b, "logknock_config_load_time_seconds", "When the configuration was last loaded, seconds since the epoch.",
		s->loaded_us);
}

/* ---- the file ------------------------------------------------------------- */

/* The file's largest size: 256 doors and 64 sources take some 150 KiB. */
#define METRICS_FILE_MAX (4 * 1024 * 1024)

struct metrics_writer {
	sd_event_source *timer;
	char *path;
	uint64_t interval_us;
	metrics_snapshot_fn fn;
	void *ctx;
	int failing;	/* the last write failed (and was said) */
};

static int write_file(struct metrics_writer *w, const struct mbuf *b, char *err, size_t errlen)
{
	char tmp[PATH_MAX];
	if ((size_t)snprintf(tmp, sizeof tmp, "%s.XXXXXX", w->path) >= sizeof tmp) {
		snprintf(err, errlen, "path too long");
		return -1;
	}
	int fd = mkostemp(tmp, O_CLOEXEC);
	if (fd < 0) {
		snprintf(err, errlen, "cannot create a file next to it: %s", strerror(errno));
		return -1;
	}
	/* mkostemp makes it 0600; node_exporter runs as another user */
	size_t off = 0;
	int e = 0;
	if (fchmod(fd, 0644) < 0)
		e = errno;
	while (!e && off < b->len) {
		ssize_t n = write(fd, b->p + off, b->len - off);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			e = n < 0 ? errno : EIO;
			break;
		}
		off += (size_t)n;
	}
	if (close(fd) < 0 && !e)
		e = errno;
	if (!e && rename(tmp, w->path) < 0)
		e = errno;
	if (e) {
		unlink(tmp);
		snprintf(err, errlen, "%s", strerror(e));
		return -1;
	}
	return 0;
}

static int on_metrics_timer(sd_event_source *s, uint64_t usec, void *userdata)
{
	struct metrics_writer *w = userdata;
	struct metrics_snapshot snap;
	struct mbuf b;
	char err[256];
	w->fn(w->ctx, &snap);
	mbuf_init(&b, METRICS_FILE_MAX);
	metrics_format(&snap, &b);
	if (b.full)
		snprintf(err, sizeof err, "more than %d bytes, or out of memory", METRICS_FILE_MAX);
	if (b.full || write_file(w, &b, err, sizeof err) < 0) {
		if (!w->failing)
			log_warn("metrics: cannot write %s: %s (said once; tried again every %llu s)", w->path, err,
				 (unsigned long long)(w->interval_us / 1000000));
		w->failing = 1;
	} else if (w->failing) {
		log_info("metrics: %s written again", w->path);
		w->failing = 0;
	}
	mbuf_free(&b);
	sd_event_source_set_time(s, usec + w->interval_us);
	return 0;
}

struct metrics_writer *metrics_writer_new(sd_event *ev, const char *path, int64_t interval_us,
					  metrics_snapshot_fn fn, void *ctx)
{
	struct metrics_writer *w = calloc(1, sizeof *w);
	if (!w || !(w->path = strdup(path))) {
		free(w);
		log_err("metrics: out of memory");
		return NULL;
	}
	w->interval_us = interval_us > 0 ? (uint64_t)interval_us : 15000000;
	w->fn = fn;
	w->ctx = ctx;
	uint64_t now;
	sd_event_now(ev, CLOCK_MONOTONIC, &now);
	/* the first file soon after the start, once the sources ran */
	int r = sd_event_add_time(ev, &w->timer, CLOCK_MONOTONIC, now + 1000000, 0, on_metrics_timer, w);
	if (r < 0) {
		log_err("metrics: sd-event: %s", strerror(-r));
		metrics_writer_free(w);
		return NULL;
	}
	sd_event_source_set_enabled(w->timer, SD_EVENT_ON);
	return w;
}

void metrics_writer_free(struct metrics_writer *w)
{
	if (!w)
		return;
	sd_event_source_disable_unref(w->timer);
	free(w->path);
	free(w);
}
