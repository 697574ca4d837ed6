/* applier.h — the daemon's side of the applier: starts logknock-apply,
 * writes requests, reads replies, restarts it when it dies.
 * It knows nothing of logs; it is told what to open and close. */
#ifndef LOGKNOCK_APPLIER_H
#define LOGKNOCK_APPLIER_H

#include <stdint.h>
#include <systemd/sd-event.h>

#include "apply_proto.h"

struct applier;

/* Called for each reply to request CMD: ok != 0, or the applier's error
 * message. */
typedef void (*applier_reply_fn)(void *ctx, const struct apply_cmd *cmd, int ok, const char *msg);
/* Called when a new applier process announced itself ("ready") after the
 * first: the rules it should hold must be sent again. */
typedef void (*applier_restart_fn)(void *ctx);

/* Starts argv[0] (an absolute path) with argv, its stdin and stdout as the
 * protocol pipes, its stderr inherited. With ev, replies are read as they
 * come and a dead applier is restarted (with back-off); without ev, replies
 * are read by applier_drain(). NULL on failure (message already logged). */
struct applier *applier_new(sd_event *ev, char *const argv[], applier_reply_fn cb, void *ctx);

/* Queues one request; requests queued together are written together
 * (applier.c). 0: its reply comes through cb (an error one if the applier
 * goes away first); -1: not sent (applier gone, or not reading; logged). */
int applier_send(struct applier *a, const struct apply_cmd *cmd);

/* Blocks until every request sent has its reply or timeout_ms passes.
 * Returns the number still unanswered. */
int applier_drain(struct applier *a, int timeout_ms);

void applier_on_restart(struct applier *a, applier_restart_fn fn);
/* FN is called on every "ready", the first one too (an applier reached
 * over ssh, fleet: the link is up, its grants are sent). */
void applier_on_ready(struct applier *a, applier_restart_fn fn);
/* 0: not running (or its pipes closed: it is going away), 1: started, not
 * ready yet (ssh connecting), 2: ready. */
int applier_link(const struct applier *a);
/* The longest wait between restarts (default 30 s). */
void applier_set_backoff_max(struct applier *a, uint64_t us);
/* What messages call it (default "applier"). */
void applier_set_name(struct applier *a, const char *name);

/* Waits until the applier said "ready" (its backend is set up): 0, or -1
 * when it did not within timeout_ms or stopped. */
int applier_wait_ready(struct applier *a, int timeout_ms);

/* Requests sent and not yet answered. */
unsigned applier_pending(const struct applier *a);

struct applier_info {
	long pid;		/* 0: not running */
	unsigned restarts;	/* applier processes that announced themselves after the first */
	uint64_t requests, errors;	/* sent; answered with an error, garbled, or failed when it stopped */
	unsigned pending;
	/* decision latency: request sent -> reply read, microseconds, in buckets
	 * of le 100us, 250us, 500us, 1ms, 2.5ms, 5ms, 10ms, 25ms, 50ms, 100ms, 250ms, 500ms, 1s, +Inf
	 * (cumulative counts as Prometheus wants them), with sum and count */
	uint64_t lat_bucket[14], lat_count, lat_sum_us;
};
#define APPLIER_LAT_BUCKETS 14
extern const double applier_lat_le[APPLIER_LAT_BUCKETS - 1];	/* seconds: 0.0001 ... 1 */
/* A (NULL: all zero). */
void applier_info(const struct applier *a, struct applier_info *out);

/* Closes the applier's stdin, waits for it to exit (up to 5 s, then SIGKILL). */
void applier_free(struct applier *a);

#endif
