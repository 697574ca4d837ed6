/* source_journal.c — follow journald's kernel-transport entries (sd_journal).
 *
 * Only entries with _TRANSPORT=kernel and SYSLOG_FACILITY=0 are read.
 * journald sets _TRANSPORT itself (fields starting with "_" cannot be sent
 * by clients), so logger -t kernel and systemd-cat -t kernel (transports
 * syslog and stdout) are not read. _TRANSPORT=kernel alone is not enough:
 * it marks everything journald read from /dev/kmsg, including records that
 * user space wrote there (systemd-journald's own messages, anything root
 * echoes into it); the kernel gives those a facility other than 0, as in
 * source_kmsg.c. An extra match from the configuration ("FIELD=value")
 * narrows this further, never widens it.
 *
 * Position: the cursor and realtime stamp of the last entry handed out, in
 * the state directory (see source.h). All reading happens from the event
 * loop, never inside source_journal_new(). */
#include "source.h"

#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <systemd/sd-journal.h>

#include "knock.h"
#include "log.h"
#include "state.h"

#define JOURNAL_LINE_MAX 8192
#define JOURNAL_BATCH 4096	/* entries per wakeup; the rest on the next turn of the loop */
#define JOURNAL_KERNEL_MATCH "_TRANSPORT=kernel"
#define JOURNAL_FACILITY_MATCH "SYSLOG_FACILITY=0"

struct journal_source {
	struct source base;
	sd_event *ev;
	sd_journal *j;
	sd_event_source *io;	/* the journal's inotify descriptor */
	sd_event_source *wake;	/* sd_journal_get_timeout(), when it asks for one */
	sd_event_source *more;	/* defer: first read, and batches cut at JOURNAL_BATCH */
	source_line_fn cb;
	void *ctx;
	char *key;		/* the match as configured, for messages */
	bool remote;		/* a journal-remote directory: entries name their host */

	struct state_file state;
	char *cursor;		/* last entry handed out (or skipped) */
	uint64_t cursor_rt;
	bool dirty;		/* position changed since the last save */

	/* Warm phase after a restart: entries are handed out with warm=1
	 * until the saved cursor has been passed (warm_cursor), or, if that
	 * cursor is gone, until an entry newer than warm_rt appears. */
	bool warm;
	char *warm_cursor;
	uint64_t warm_rt;
};

static int journal_on_time(sd_event_source *s, uint64_t usec, void *userdata);

static int journal_format_state(void *ctx, char *buf, size_t len)
{
	struct journal_source *js = ctx;
	if (!js->cursor)
		return -1;
	return snprintf(buf, len, "%s\n%" PRIu64 "\n", js->cursor, js->cursor_rt);
}

/* After a batch: saved within a second (state.h). */
static void journal_batch_done(struct journal_source *js)
{
	if (!js->dirty)
		return;
	js->dirty = false;
	state_file_changed(&js->state);
}

/* Remembers the current entry as the position. */
static void journal_mark(struct journal_source *js, uint64_t rt)
{
	if (!js->state.dir)
		return;
	char *c = NULL;
	int r = sd_journal_get_cursor(js->j, &c);
	if (r < 0) {
		log_debug("journal %s: no cursor for an entry: %s", js->key, strerror(-r));
		return;
	}
	free(js->cursor);
	js->cursor = c;
	js->cursor_rt = rt;
	js->dirty = true;
}

/* The current entry: hand it out, or say why not. */
static void journal_entry(struct journal_source *js)
{
	uint64_t rt = 0;
	int r = sd_journal_get_realtime_usec(js->j, &rt);
	if (r < 0) {
		log_debug("journal %s: entry without a realtime stamp: %s", js->key, strerror(-r));
		rt = 0;
	}
	int warm = 0;
	if (js->warm) {
		warm = 1;
		if (js->warm_cursor) {
			if (sd_journal_test_cursor(js->j, js->warm_cursor) > 0) {
				/* the last entry handed out before: still warm, the next ones are new */
				js->warm = false;
				free(js->warm_cursor);
				js->warm_cursor = NULL;
			}
		} else if (rt > js->warm_rt) {
			js->warm = false;
			warm = 0;
		}
	}

	const void *d;
	size_t l;
	r = sd_journal_get_data(js->j, "MESSAGE", &d, &l);
	if (r < 0) {
		if (r != -ENOENT)
			log_debug("journal %s: cannot read MESSAGE: %s", js->key, strerror(-r));
	} else if (l < 8 || memcmp(d, "MESSAGE=", 8) != 0) {
		log_debug("journal %s: malformed MESSAGE field", js->key);
	} else {
		const char *m = (const char *)d + 8;
		size_t len = l - 8;
		const char *nl = memchr(m, '\n', len);
		if (nl)
			len = (size_t)(nl - m);
		if (len > JOURNAL_LINE_MAX) {
			js->base.too_long++;
			log_debug("journal %s: skipped a message of %zu bytes", js->key, len);
		} else if (memchr(m, '\0', len)) {
			log_debug("journal %s: skipped a binary message", js->key);
		} else {
			char line[JOURNAL_LINE_MAX + 1];
			memcpy(line, m, len);
			line[len] = '\0';
			/* journal-remote (fleet): the host that sent the entry,
			 * as its journald stamped it; the engine checks it */
			char host[KNOCK_HOST_MAX + 1];
			const void *hd;
			size_t hl;
			js->base.host = NULL;
			if (js->remote && sd_journal_get_data(js->j, "_HOSTNAME", &hd, &hl) >= 0 && hl > 10 &&
			    hl - 10 <= KNOCK_HOST_MAX) {
				memcpy(host, (const char *)hd + 10, hl - 10);
				host[hl - 10] = '\0';
				js->base.host = host;
				js->base.hostlen = hl - 10;
			}
			js->cb(js->ctx, line, len, FORMAT_SYSLOG, (int64_t)rt, warm);
			js->base.host = NULL;
		}
	}
	journal_mark(js, rt);
}

static void journal_rearm_timeout(struct journal_source *js)
{
	uint64_t t = (uint64_t)-1;
	if (sd_journal_get_timeout(js->j, &t) < 0)
		t = (uint64_t)-1;
	if (t == (uint64_t)-1) {
		if (js->wake)
			sd_event_source_set_enabled(js->wake, SD_EVENT_OFF);
		return;
	}
	if (!js->wake) {
		int r = sd_event_add_time(js->ev, &js->wake, CLOCK_MONOTONIC, t, 0, journal_on_time, js);
		if (r < 0) {
			log_warn("journal %s: cannot add a wakeup timer: %s", js->key, strerror(-r));
			return;
		}
		sd_event_source_set_description(js->wake, "journal-timeout");
	} else {
		sd_event_source_set_time(js->wake, t);
	}
	sd_event_source_set_enabled(js->wake, SD_EVENT_ONESHOT);
}

static void journal_read(struct journal_source *js)
{
	int n = 0, r;
	while ((r = sd_journal_next(js->j)) > 0) {
		journal_entry(js);
		if (++n >= JOURNAL_BATCH) {
			/* let the rest of the loop run; come back on the next turn */
			sd_event_source_set_enabled(js->more, SD_EVENT_ONESHOT);
			break;
		}
	}
	if (r < 0)
		log_warn("journal %s: reading failed: %s", js->key, strerror(-r));
	journal_batch_done(js);
	journal_rearm_timeout(js);
}

static int journal_on_io(sd_event_source *s, int fd, uint32_t revents, void *userdata)
{
	struct journal_source *js = userdata;
	int r = sd_journal_process(js->j);
	if (r < 0)
		log_warn("journal %s: sd_journal_process: %s", js->key, strerror(-r));
	journal_read(js);
	return 0;
}

static int journal_on_time(sd_event_source *s, uint64_t usec, void *userdata)
{
	return journal_on_io(s, -1, 0, userdata);
}

static int journal_on_more(sd_event_source *s, void *userdata)
{
	journal_read(userdata);
	return 0;
}

static void journal_free(struct source *s)
{
	struct journal_source *js = (struct journal_source *)s;
	if (!js)
		return;
	state_file_close(&js->state);
	sd_event_source_disable_unref(js->io);
	sd_event_source_disable_unref(js->wake);
	sd_event_source_disable_unref(js->more);
	if (js->j)
		sd_journal_close(js->j);
	sd_event_unref(js->ev);
	free(js->cursor);
	free(js->warm_cursor);
	free(js->key);
	free(js);
}

/* The position: the realtime stamp of the last entry read, in UTC. */
static void journal_status(struct source *s, struct source_status *out)
{
	struct journal_source *js = (struct journal_source *)s;
	if (!js->cursor)
		return;
	time_t t = (time_t)(js->cursor_rt / 1000000);
	struct tm tm;
	if (gmtime_r(&t, &tm))
		strftime(out->pos, sizeof out->pos, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

static const struct source_ops journal_ops = {.free = journal_free, .status = journal_status};

/* "FIELD=value" with FIELD in [A-Z0-9_]+. */
static bool journal_match_valid(const char *m)
{
	const char *eq = strchr(m, '=');
	if (!eq || eq == m)
		return false;
	for (const char *p = m; p < eq; p++)
		if (!((*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') || *p == '_'))
			return false;
	return true;
}

/* Parses "CURSOR\nREALTIME\n". Returns 0, or -1 if malformed. */
static int journal_parse_state(char *buf, char **cursor, uint64_t *rt)
{
	char *nl = strchr(buf, '\n');
	if (!nl || nl == buf)
		return -1;
	*nl = '\0';
	for (const char *p = buf; *p; p++)
		if ((unsigned char)*p <= ' ' || (unsigned char)*p >= 0x7f)
			return -1;
	const char *num = nl + 1;
	uint64_t v = 0;
	const char *p = num;
	if (*p < '0' || *p > '9')
		return -1;
	for (; *p >= '0' && *p <= '9'; p++) {
		unsigned dgt = (unsigned)(*p - '0');
		if (v > (UINT64_MAX - dgt) / 10)
			return -1;
		v = v * 10 + dgt;
	}
	if (*p != '\0' && !(*p == '\n' && p[1] == '\0'))
		return -1;
	*cursor = buf;
	*rt = v;
	return 0;
}

/* Where to start: the tail, or after the saved position. */
static int journal_position(struct journal_source *js, int64_t warm_us)
{
	char buf[1024];
	char *cursor = NULL;
	uint64_t saved_rt = 0;
	int r;

	if (js->state.dir) {
		ssize_t n = state_read(js->state.dir, js->state.name, buf, sizeof buf);
		if (n < 0 && errno != ENOENT)
			log_warn("journal %s: cannot read the saved position %s/%s: %s; starting at the end",
				 js->key, js->state.dir, js->state.name, strerror(errno));
		else if (n >= 0 && journal_parse_state(buf, &cursor, &saved_rt) < 0) {
			log_warn("journal %s: malformed saved position in %s/%s; starting at the end", js->key,
				 js->state.dir, js->state.name);
			cursor = NULL;
		}
	}

	if (!cursor) {
		/* No state: only entries from now on. */
		r = sd_journal_seek_tail(js->j);
		if (r < 0) {
			log_err("journal %s: cannot seek to the end: %s", js->key, strerror(-r));
			return -1;
		}
		r = sd_journal_previous(js->j);
		if (r > 0) {
			uint64_t rt = 0;
			sd_journal_get_realtime_usec(js->j, &rt);
			journal_mark(js, rt);	/* saved on the first batch: a restart resumes from here */
		} else if (r == 0) {
			/* No entry yet (a journal-remote directory before its
			 * first sender): whatever comes is new, from its first
			 * entry on; from the tail, sd_journal_next would give the
			 * last entry of the first file to appear. */
			sd_journal_seek_head(js->j);
		}
		return 0;
	}

	if (warm_us < 0)
		warm_us = 0;
	uint64_t from = saved_rt > (uint64_t)warm_us ? saved_rt - (uint64_t)warm_us : 0;

	/* Is the saved entry still there? */
	bool found = false;
	r = sd_journal_seek_cursor(js->j, cursor);
	if (r >= 0 && sd_journal_next(js->j) > 0 && sd_journal_test_cursor(js->j, cursor) > 0)
		found = true;

	/* Keep the saved position until something newer is handed out. */
	js->cursor = strdup(cursor);
	js->cursor_rt = saved_rt;
	if (!js->cursor) {
		log_err("journal %s: out of memory", js->key);
		return -1;
	}

	if (found && warm_us == 0)
		return 0;	/* on the saved entry: sd_journal_next() gives the one after it */

	if (found) {
		/* Walk back from the saved entry to the first of the warm
		 * period. Walking (rather than seeking by time) always ends at
		 * the saved entry, even if the clock was stepped meanwhile. */
		char *first = NULL;
		for (;;) {
			uint64_t rt = 0;
			if (sd_journal_get_realtime_usec(js->j, &rt) < 0 || rt < from)
				break;
			char *c = NULL;
			if (sd_journal_get_cursor(js->j, &c) < 0)
				break;
			free(first);
			first = c;
			if (sd_journal_previous(js->j) <= 0)
				break;
		}
		js->warm = true;
		js->warm_cursor = js->cursor ? strdup(js->cursor) : NULL;
		if (!first || !js->warm_cursor || sd_journal_seek_cursor(js->j, first) < 0) {
			/* cannot happen in practice: the saved entry itself qualifies */
			free(first);
			js->warm = false;
			free(js->warm_cursor);
			js->warm_cursor = NULL;
			r = sd_journal_seek_cursor(js->j, cursor);
			if (r >= 0)
				r = sd_journal_next(js->j);
			if (r < 0) {
				log_err("journal %s: cannot seek: %s", js->key, strerror(-r));
				return -1;
			}
			return 0;
		}
		free(first);
		return 0;
	}

	/* Gone (rotated, vacuumed, another machine's journal): go by time. */
	log_warn("journal %s: the saved position is no longer in the journal; resuming after its time "
		 "(entries may have been lost)",
		 js->key);
	r = sd_journal_seek_realtime_usec(js->j, from);
	if (r < 0) {
		log_err("journal %s: cannot seek: %s", js->key, strerror(-r));
		return -1;
	}
	js->warm = true;	/* entries up to saved_rt again as warm, newer ones as new */
	js->warm_rt = saved_rt;
	return 0;
}

struct source *source_journal_new(sd_event *ev, const struct source_conf *sc, struct state_store *store,
				  int64_t warm_us, source_line_fn cb, void *ctx)
{
	const char *arg = sc && sc->arg ? sc->arg : "kernel";
	const char *match = NULL;	/* extra match, besides the kernel transport */
	if (strcmp(arg, "kernel") != 0) {
		if (!journal_match_valid(arg)) {
			log_err("journal: \"%s\" is neither \"kernel\" nor a match of the form FIELD=value", arg);
			return NULL;
		}
		if (strncmp(arg, "_TRANSPORT=", 11) == 0 || strncmp(arg, "SYSLOG_FACILITY=", 16) == 0) {
			/* Matches on one field are ORed: any other transport or
			 * facility would let forged entries in. */
			if (strcmp(arg, JOURNAL_KERNEL_MATCH) != 0 && strcmp(arg, JOURNAL_FACILITY_MATCH) != 0) {
				log_err("journal: \"%s\": only entries of the kernel itself are read (%s %s); "
					"others can be written by user space",
					arg, JOURNAL_KERNEL_MATCH, JOURNAL_FACILITY_MATCH);
				return NULL;
			}
		} else {
			match = arg;
		}
	}

	struct journal_source *js = calloc(1, sizeof *js);
	if (!js) {
		log_err("journal %s: out of memory", arg);
		return NULL;
	}
	js->base.ops = &journal_ops;
	js->ev = sd_event_ref(ev);
	js->cb = cb;
	js->ctx = ctx;
	if (sc && sc->directory) {
		/* its own position: "kernel@/var/log/journal/remote" */
		size_t kl = strlen(arg) + strlen(sc->directory) + 2;
		if ((js->key = malloc(kl)))
			snprintf(js->key, kl, "%s@%s", arg, sc->directory);
		js->remote = true;
		arg = js->key ? js->key : arg;
	} else {
		js->key = strdup(arg);
	}
	if (!js->key)
		goto oom;
	char what[160];
	snprintf(what, sizeof what, "journal %s", arg);
	if (state_file_init(&js->state, store, "journal", arg, what, 0, journal_format_state, js) < 0)
		goto fail;

	int r = js->remote && sc ? sd_journal_open_directory(&js->j, sc->directory, 0)
			   : sd_journal_open(&js->j, SD_JOURNAL_LOCAL_ONLY | SD_JOURNAL_SYSTEM);
	if (r < 0) {
		js->j = NULL;
		log_err("journal %s: cannot open the journal: %s", arg, strerror(-r));
		goto fail;
	}
	/* The descriptor first, so that no file appearing from now on is missed. */
	int fd = sd_journal_get_fd(js->j);
	if (fd < 0) {
		log_err("journal %s: cannot watch the journal: %s", arg, strerror(-fd));
		goto fail;
	}
	/* different fields: ANDed */
	r = sd_journal_add_match(js->j, JOURNAL_KERNEL_MATCH, 0);
	if (r >= 0)
		r = sd_journal_add_match(js->j, JOURNAL_FACILITY_MATCH, 0);
	if (r >= 0 && match)
		r = sd_journal_add_match(js->j, match, 0);
	if (r < 0) {
		log_err("journal %s: cannot add the match: %s", arg, strerror(-r));
		goto fail;
	}
	int events = sd_journal_get_events(js->j);
	if (events < 0) {
		log_err("journal %s: sd_journal_get_events: %s", arg, strerror(-events));
		goto fail;
	}
	r = sd_event_add_io(ev, &js->io, fd, (uint32_t)events, journal_on_io, js);
	if (r >= 0)
		r = sd_event_add_defer(ev, &js->more, journal_on_more, js);
	if (r < 0) {
		log_err("journal %s: cannot add event sources: %s", arg, strerror(-r));
		goto fail;
	}
	sd_event_source_set_description(js->io, "journal");
	sd_event_source_set_description(js->more, "journal-more");
	if (journal_position(js, warm_us) < 0)
		goto fail;
	/* The first read happens in the loop, not here. */
	sd_event_source_set_enabled(js->more, SD_EVENT_ONESHOT);
	return &js->base;

oom:
	log_err("journal %s: out of memory", arg);
fail:
	/* Nothing was read: the saved state stays as it is. */
	free(js->cursor);
	js->cursor = NULL;
	journal_free(&js->base);
	return NULL;
}
