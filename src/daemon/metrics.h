/* metrics.h — the daemon's counters in Prometheus text exposition format
 * 0.0.4 (what node_exporter's textfile collector reads): one formatter for
 * `logknockctl metrics` (the control socket) and for the file the daemon
 * writes every metrics.interval (metrics.file). */
#ifndef LOGKNOCK_METRICS_H
#define LOGKNOCK_METRICS_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <systemd/sd-event.h>

#include "applier.h"
#include "source.h"

struct engine;

/* A growing text buffer of at most MAX bytes: once full, further output is
 * dropped and FULL set (the caller decides what a cut reply means). */
struct mbuf {
	char *p;
	size_t len, cap, max;
	int full;
};
void mbuf_init(struct mbuf *b, size_t max);
void mbuf_free(struct mbuf *b);
void mbuf_add(struct mbuf *b, const char *s, size_t n);
void mbuf_printf(struct mbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* S as the inside of a JSON string (control_json_escape). */
void mbuf_json(struct mbuf *b, const char *s);

/* One source as the daemon sees it. */
struct metrics_source {
	const char *name;	/* "kmsg", "journal:kernel", "file:/var/log/kern.log" */
	struct source_status st;
	uint64_t lines;		/* handed to the engine */
	uint64_t malformed;	/* knock lines refused as malformed (but for a future time) */
	uint64_t future;	/* knock lines refused for a time ahead of the clock */
	uint64_t too_long;	/* lines skipped unread, too long */
	uint64_t lost;		/* records the source knows it missed */
};

/* Everything status and metrics show, gathered by the daemon when asked. */
struct metrics_snapshot {
	const struct engine *engine;
	const char *version;
	long pid;
	const char *config_path;
	int64_t start_us, loaded_us, now_us;	/* CLOCK_REALTIME */
	const char *backend;	/* "nft", ... */
	struct applier_info applier;
	size_t max_sources;
	const struct metrics_source *sources;
	size_t nsources;
	uint64_t control_dropped;	/* watch clients cut off, their buffer full */
	const struct fleet *fleet;	/* appliers: over ssh; NULL: none (no hosts section) */
};
typedef void (*metrics_snapshot_fn)(void *ctx, struct metrics_snapshot *out);

/* The exposition text of S appended to B. */
void metrics_format(const struct metrics_snapshot *s, struct mbuf *b);

/* Writes metrics_format's text to PATH every INTERVAL_US (tmp file in the
 * same directory, then rename: a reader sees the old file or the new one).
 * A failure is logged once, until a write succeeds again. NULL on a
 * setup failure (logged). */
struct metrics_writer;
struct metrics_writer *metrics_writer_new(sd_event *ev, const char *path, int64_t interval_us,
					  metrics_snapshot_fn fn, void *ctx);
void metrics_writer_free(struct metrics_writer *w);

#endif
