/* doors.h — door definitions and the per-source sequence state.
 * Doors know nothing of where a knock came from; they are fed knocks with
 * their times and told when time passes. Memory is fixed at creation:
 * at most max_sources sources are tracked, and when a new source needs a
 * slot the one that knocked least recently is dropped — among those with
 * no proven progress (past the second step of a sequence, one_time or totp
 * door), as long as there are any. */
#ifndef LOGKNOCK_DOORS_H
#define LOGKNOCK_DOORS_H

#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "knock.h"

struct doors;

/* What a door grants once its knocks are right. */
struct door_request {
	const struct port_spec *ports;	/* the door's open: list, or the one port an encrypted knock asked for */
	size_t nports;
	int64_t duration_us;
	int64_t code;		/* totp, encrypted: the time step of the code; one_time: the sequence's index */
	uint8_t tag[KC_ENC_TAG];	/* encrypted: the code's tag; zero otherwise */
};

/* A source completed DOOR's sequence with knock K (K->time_us is the time).
 * Codes (one_time, totp, encrypted) are checked here; whether one was used
 * before is for the callback to say. */
typedef void (*doors_open_fn)(void *ctx, const struct door_conf *door, const struct knock *k,
			      const struct door_request *r);

struct doors_stats {
	uint64_t knocks;	/* knocks fed */
	uint64_t duplicates;	/* repeated knocks counted once */
	uint64_t ignored;	/* TCP knocks with the wrong flags */
	uint64_t resets;	/* attempts reset by a wrong knock */
	uint64_t expired;	/* attempts whose window ran out */
	uint64_t evicted;	/* sources dropped to make room */
	uint64_t evicted_progressed;	/* ... of them with proven progress (none without was left) */
	uint64_t rejected;	/* encrypted knocks that did not verify or asked for a port not allowed */
	uint64_t opened;	/* sequences completed */
};

struct doors *doors_new(const struct door_conf *doors, size_t ndoors, size_t max_sources,
			doors_open_fn cb, void *ctx);
void doors_free(struct doors *d);

/* Feeds one knock. The caller runs doors_expire(k->time_us) first so that
 * timers fire in order; an attempt whose window has passed is treated as
 * expired here all the same. */
void doors_feed(struct doors *d, const struct knock *k);
/* Ends attempts whose window has passed at NOW and forgets idle sources. */
void doors_expire(struct doors *d, int64_t now);
/* Earliest time at which doors_expire has work; INT64_MAX if none. */
int64_t doors_next_deadline(const struct doors *d);

/* After a reload: carries the attempts at doors whose definition did not
 * change (same name, sequence, window, dedup and flags) and the recent
 * knocks of every source from FROM into TO (a new, empty table). */
void doors_migrate(struct doors *to, const struct doors *from);

size_t doors_tracked(const struct doors *d);
const struct doors_stats *doors_stats(const struct doors *d);

/* Per door J (< ndoors): counts since the door was first defined; carried
 * across doors_migrate by the door's name, whatever else changed. */
struct doors_door_stats {
	uint64_t knocks;	/* knocks that started or advanced an attempt (or opened a one-step door) */
	uint64_t attempts;	/* attempts started */
	uint64_t in_progress;	/* attempts in progress now */
	uint64_t rejected;	/* encrypted knocks that did not verify or asked for a port not allowed */
};
const struct doors_door_stats *doors_door_stats(const struct doors *d, size_t j);

/* An attempt in progress, as doors_each_attempt shows it. */
struct doors_attempt {
	const struct door_conf *door;
	int family;
	const uint8_t *src;	/* 16 bytes */
	unsigned step, steps;	/* knocks right so far, knocks the sequence has */
	int64_t started_us, last_us;	/* its first knock; the source's last knock */
};
/* Calls FN for every attempt in progress (sources in no particular order)
 * until it returns nonzero; returns that, or 0. FN must not change D. */
int doors_each_attempt(const struct doors *d, int (*fn)(void *ctx, const struct doors_attempt *a), void *ctx);

#endif
