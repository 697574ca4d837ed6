/* source.h — where lines come from: files (inotify), journald, /dev/kmsg.
 * A source reads its lines inside the daemon's sd-event loop and hands each
 * one to a callback; it knows nothing of what a line means. It remembers
 * its position under the state directory, so that after a restart (even
 * after kill -9) reading resumes after the last line handed out, and lines
 * of the last warm_us before that are read again with warm=1: only to
 * rebuild door attempts, never to open anything. */
#ifndef LOGKNOCK_SOURCE_H
#define LOGKNOCK_SOURCE_H

#include <stddef.h>
#include <stdint.h>
#include <systemd/sd-event.h>

#include "config.h"
#include "state.h"

/* One line (without its newline). ref_us: the time a line without a stamp
 * of its own gets (the journal's realtime stamp, or the time it was read). */
typedef void (*source_line_fn)(void *ctx, const char *line, size_t len, enum source_format fmt, int64_t ref_us,
			       int warm);

/* Where a source is, for `logknockctl status`. */
struct source_status {
	char pos[64];		/* "INODE:OFFSET" (file), "seq N" (kmsg), the last entry's time (journal); "" unknown */
	int64_t lag;		/* behind the end: bytes (file) or microseconds (journal); -1 unknown */
	int lag_is_time;	/* lag is microseconds */
};

struct source;
struct source_ops {
	/* Saves the position now (written and fsynced) and frees everything. */
	void (*free)(struct source *s);
	/* Fills *out in; cheap (a stat at most), called by the control socket. */
	void (*status)(struct source *s, struct source_status *out);
};
struct source {
	const struct source_ops *ops;
	uint64_t lost;
	uint64_t too_long;	/* lines skipped because they were longer than a source reads */
	/* fleet: the host of the line being handed out, when the source
	 * knows it apart from the line (a journal-remote entry's
	 * _HOSTNAME); NULL otherwise. Valid during the callback only. */
	const char *host;
	size_t hostlen;
};

/* Each returns NULL after logging why (the daemon then exits 1).
 * store may be NULL: positions are neither read nor saved. lost counts
 * the records a source knows it missed (the kernel log buffer overran). */
struct source *source_file_new(sd_event *ev, const struct source_conf *sc, struct state_store *store, int64_t warm_us,
			       source_line_fn cb, void *ctx);
struct source *source_journal_new(sd_event *ev, const struct source_conf *sc, struct state_store *store,
				  int64_t warm_us, source_line_fn cb, void *ctx);
struct source *source_kmsg_new(sd_event *ev, const struct source_conf *sc, struct state_store *store, int64_t warm_us,
			       source_line_fn cb, void *ctx);

static inline void source_status(struct source *s, struct source_status *out)
{
	out->pos[0] = '\0';
	out->lag = -1;
	out->lag_is_time = 0;
	if (s && s->ops->status)
		s->ops->status(s, out);
}

static inline void source_free(struct source *s)
{
	if (s)
		s->ops->free(s);
}

#endif
