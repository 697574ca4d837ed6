/* engine.h — the pipeline: line → parse → doors → grants → applier.
 * The one place that joins the modules; it owns no I/O loop, so the same
 * engine serves replay (clock from the log) and the live daemon (clock from
 * the system, timers in sd-event). */
#ifndef LOGKNOCK_ENGINE_H
#define LOGKNOCK_ENGINE_H

#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>

#include "applier.h"
#include "config.h"
#include "grants.h"
#include "parse.h"

struct engine_stats {
	uint64_t lines;
	uint64_t knocks;
	uint64_t bad;		/* knock lines skipped as malformed */
	uint64_t opened;	/* grants opened */
	uint64_t extended;
	uint64_t closed;
	uint64_t refused;	/* grants refused: table full */
	uint64_t replayed;	/* codes knocked again after they opened */
	uint64_t evicted;	/* sources dropped to make room (max_sources) */
	uint64_t evicted_progressed;	/* ... of them with proven progress */
	uint64_t rejected;	/* encrypted knocks that did not verify or asked for a port not allowed */
	uint64_t revoked;	/* grants closed with engine_revoke */
	uint64_t by_hand;	/* grants opened or extended with engine_open_by_hand */
	uint64_t skipped_future;	/* knocks refused for a timestamp in the future (live); counted in bad too */
};

struct engine;

/* JSON decisions go to OUT (NULL: none); with print_events every knock too.
 * AP may be NULL (nothing is applied). Returns NULL with err set. */
struct engine *engine_new(const struct config *cfg, struct applier *ap, FILE *out, int print_events, char *err,
			  size_t errlen);
void engine_free(struct engine *e);

/* One line. Returns the parser's verdict; *why says why a line was skipped. */
enum parse_result engine_line(struct engine *e, enum source_format fmt, const char *line, size_t len,
			      int64_t ref_us, const char **why);
/* Lines that the reader skipped unparsed, because they do not contain
 * engine_needle(): counted as read. */
void engine_skip_lines(struct engine *e, uint64_t n);
/* parse_needle() of the engine's parser. */
const char *engine_needle(const struct engine *e, size_t *len);
/* The daemon's clock is the system's (live != 0): a knock stamped more than
 * two seconds ahead of it is refused as malformed, and a used one-time
 * sequence is marked in its file (in replay, only in memory). */
void engine_set_live(struct engine *e, int live);
/* The daemon's state directory: used codes are read from it and written
 * to it (synced) before the door they open opens. Without it they are
 * remembered in memory only. 0, or -1 (logged). */
int engine_set_state_dir(struct engine *e, const char *dir);
/* Lines that follow are read again after a restart (warm != 0): they
 * rebuild door attempts and open nothing. */
void engine_set_warm(struct engine *e, int warm);
/* The previous run was killed: its last saved grants and positions may be
 * up to STATE_SAVE_US older than what it had acted on, so lines up to
 * UNTIL_US (the start) are read again as new. A grant they open may still
 * be in the firewall from that run (a command backend is not flushed): it
 * is closed before it is opened, as a restored grant is. */
void engine_set_catchup(struct engine *e, int64_t until_us);
/* Takes a new configuration's prefixes, patterns and doors; attempts at
 * unchanged doors and open grants survive. -1 with err set: nothing changed.
 * CFG must outlive the engine or the next reload. */
int engine_reload(struct engine *e, const struct config *cfg, char *err, size_t errlen);
/* Lets time pass up to NOW: expires attempts, closes grants. */
void engine_advance(struct engine *e, int64_t now);
/* The next time engine_advance has work; INT64_MAX if none. */
int64_t engine_next_deadline(const struct engine *e);
/* Lets all remaining time pass (end of a replay): every grant closes. */
void engine_finish(struct engine *e);
/* The latest time seen in the log or passed to engine_advance. */
int64_t engine_clock(const struct engine *e);

/* Grants and the firewall. Whether the table changed since the last call
 * (then the daemon saves it): 0 no, 1 yes, 2 yes and a door opened by a
 * used code (one-time, totp, encrypted): to be saved at once. */
int engine_grants_dirty(struct engine *e);
ssize_t engine_dump_grants(const struct engine *e, char *buf, size_t len);
/* Takes the grants a previous run saved: each is closed in the firewall and
 * opened again for the time it has left; expired ones stay closed. Returns
 * how many were read, or -1 with err set. */
int engine_restore_grants(struct engine *e, const char *text, int64_t now, char *err, size_t errlen);
/* Sends every open grant to the applier again (it restarted): close, then
 * open for the time it has left. */
void engine_resend_grants(struct engine *e, int64_t now);
/* Fleet (issue 16). Requests for grants of an appliers: host (the door's
 * on:) go to FN with the host's name; without FN they are not sent. */
typedef int (*engine_host_send_fn)(void *ctx, const char *host, const struct apply_cmd *cmd);
void engine_set_host_sender(struct engine *e, engine_host_send_fn fn, void *ctx);
/* Sends every open grant of HOST again (its link came back, and the
 * caller flushed it): an open for the time it has left. Returns how many.
 * engine_resend_grants sends the local applier's only. */
size_t engine_resend_host(struct engine *e, const char *host, int64_t now);
/* The host of the lines that follow (a journal-remote entry's _HOSTNAME);
 * NULL: the line's own (syslog HOSTNAME) if any. Must stay valid while used. */
void engine_set_line_host(struct engine *e, const char *host, size_t len);
/* Sends the open request of grant ID again; 0 if it is no longer open. */
int engine_resend_grant(struct engine *e, uint64_t id, int64_t now);
/* The applier could not open grant ID: forget it (with an error message). */
void engine_grant_failed(struct engine *e, uint64_t id);
/* Whether grant ID is open. */
int engine_grant_open(const struct engine *e, uint64_t id);
/* Closes every open grant now (the daemon stops). */
void engine_close_all(struct engine *e, int64_t now);
size_t engine_open_grants(const struct engine *e);

const struct engine_stats *engine_stats(const struct engine *e);
size_t engine_tracked_sources(const struct engine *e);

/* ---- for the control socket and metrics (all on the event loop's thread) ---- */

/* Every decision (open, extend, close) as the JSON line replay prints
 * (with its '\n'), and with want_knocks each knock's line as well, is
 * handed to FN, besides going to OUT. FN NULL: none. Called on the hot
 * path: FN must not block. The bytes are valid only during the call.
 * FN runs inside whichever engine call made the decision (engine_line,
 * engine_advance, engine_revoke, engine_open_by_hand, engine_close_all,
 * ...): it may queue the bytes, not call back into the engine. Lines of
 * knocks read again after a restart (engine_set_warm) are not handed on. */
typedef void (*engine_event_fn)(void *ctx, const char *json, size_t len);
void engine_set_event_sink(struct engine *e, engine_event_fn fn, void *ctx, int want_knocks);

/* Per door (index i < engine_ndoors), counts since the start; kept across a
 * reload for a door of the same name. */
struct engine_door_stats {
	const char *name;
	const char *kind;	/* "sequence", "one_time", "totp", "encrypted" */
	uint64_t knocks;	/* knocks that started or advanced an attempt at this door */
	uint64_t attempts;	/* attempts started */
	uint64_t in_progress;	/* attempts in progress now (gauge) */
	uint64_t opens, extends, closes;
	uint64_t replays;	/* codes refused: used already or past their time */
	uint64_t rejected;	/* encrypted knocks that did not verify */
	uint64_t by_hand;	/* grants opened (or extended) with engine_open_by_hand */
	uint64_t revoked;	/* grants closed with engine_revoke */
};
size_t engine_ndoors(const struct engine *e);
void engine_door_stats(const struct engine *e, size_t i, struct engine_door_stats *out);

/* Open grants, in no particular order: i < engine_open_grants(). The grant's
 * `extended` field counts its extensions (new field in struct grant; not
 * persisted: 0 after a restart). NULL for i out of range. */
const struct grant *engine_grant_at(const struct engine *e, size_t i);

/* Sources part-way through a door's sequence. */
struct engine_attempt {
	const char *door;
	int family;
	uint8_t src[16];
	unsigned step, steps;	/* knocks right so far, knocks the sequence has */
	int64_t started_us, last_us;	/* the attempt's first knock; the source's last knock */
};
/* Calls FN for every attempt in progress; stops early when FN returns nonzero.
 * FN must not call back into the engine. */
void engine_each_attempt(const struct engine *e, int (*fn)(void *ctx, const struct engine_attempt *a), void *ctx);

/* Closes now every open grant of SRC (of DOOR only, unless NULL): the
 * applier closes the rule, the table forgets it, it is logged and printed
 * as a close (same path as expiry), grants_dirty is set. Returns how many. */
size_t engine_revoke(struct engine *e, int family, const uint8_t *src, const char *door, int64_t now);

/* Opens DOOR's open: ports for SRC for DURATION_US (0: the door's duration),
 * as if its knocks had been right, logged as made by hand by WHO (e.g.
 * "uid 0"). Returns the number of ports opened or extended (a port open
 * already for longer is left as it is and not counted); -1 with err: no
 * such door, or the grants table is full. The grants' next deadline may
 * have changed: the caller re-arms its timer (engine_next_deadline). */
int engine_open_by_hand(struct engine *e, const char *door, int family, const uint8_t *src, int64_t duration_us,
			int64_t now, const char *who, char *err, size_t errlen);

#endif
