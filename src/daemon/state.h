/* state.h — small files under the state directory, written atomically
 * (write a temporary file, optionally fsync it, rename it over the old one),
 * so that a crash at any point leaves either the old or the new content. */
#ifndef LOGKNOCK_STATE_H
#define LOGKNOCK_STATE_H

#include <stddef.h>
#include <sys/types.h>
#include <systemd/sd-event.h>

#define STATE_NAME_MAX 160

/* Writes DATA as DIR/NAME. sync: fsync the file and the directory.
 * 0, or -1 with errno set (the caller says what failed, once). */
int state_write(const char *dir, const char *name, const void *data, size_t len, int sync);

/* Reads DIR/NAME into BUF (at most len - 1 bytes, NUL-terminated).
 * Returns the length, or -1 with errno set (ENOENT: no such state yet). */
ssize_t state_read(const char *dir, const char *name, char *buf, size_t len);

/* A file name for the state of KEY (a path, a journal match...): PREFIX, a
 * readable form of KEY, and a hash of it, e.g. "file-var_log_kern.log-3f2a9c1d". */
void state_name(char out[STATE_NAME_MAX], const char *prefix, const char *key);

/* A source's position, the daemon's grants: kept the same way. The reading
 * loop never writes them: state_file_changed() only marks the state as
 * changed. A timer of the state store takes a snapshot of every changed
 * state at most once a second (STATE_SAVE_US), all at the same moment, and
 * hands them to the store's writer thread, which writes and fsyncs each
 * file (atomically: temporary file, rename) off the loop, in the order
 * they were registered (the grants first, then the positions: a kill -9
 * between two of them leaves grants at least as new as the positions, so
 * lines read again after it never find a grant missing). The loop and the
 * writer swap buffers under a mutex held for a few pointer moves, never
 * across a write. A failure to write is said once, and once more when
 * writing works again; reading goes on either way. */
#define STATE_SAVE_US 1000000ULL

struct state_store;
struct state_file {
	struct state_store *store;	/* NULL: nothing is kept */
	const char *dir;		/* the store's directory, or NULL */
	char name[STATE_NAME_MAX];
	char what[128];			/* whose state, for messages */
	/* Formats the state into BUF; its length, or -1 if there is none yet. */
	int (*format)(void *ctx, char *buf, size_t len);
	void *ctx;
	size_t max;			/* room for the formatted state */
	/* fill: the loop's; pending: handed over, not yet taken; writing:
	 * the writer's. Swapped under the store's mutex. */
	char *fill, *pending, *writing;
	size_t fill_len, pending_len, writing_len;
	int has_pending, busy;		/* under the mutex */
	int dirty;			/* the loop's: changed since the last snapshot */
	int filled;			/* the loop's: fill holds a snapshot to hand over */
	int too_large;			/* the loop's: said once until it fits again */
	int failed;			/* the writer's */
	struct state_file *next;
};

/* A state directory and its writer thread. NULL after logging why. */
struct state_store *state_store_new(sd_event *ev, const char *dir);
const char *state_store_dir(const struct state_store *st);
/* Takes a snapshot of every changed state now, for the writer: without
 * waiting (a door opened by a used code: its grant on disk as soon as the
 * disk allows, not a second later). */
void state_store_save_now(struct state_store *st);
/* The same, and waits until the writer has written it (a reload). */
void state_store_flush(struct state_store *st);
/* Flushes, stops the writer, frees. Every state_file must be closed first. */
void state_store_free(struct state_store *st);

/* The file is DIR/state_name(PREFIX, KEY), or DIR/PREFIX when KEY is NULL;
 * MAX: room for the formatted state (0: 1 KiB). STORE may be NULL (nothing
 * is kept). 0, or -1 (logged). */
int state_file_init(struct state_file *f, struct state_store *store, const char *prefix, const char *key,
		    const char *what, size_t max, int (*format)(void *ctx, char *buf, size_t len), void *ctx);
/* The state changed: in the next snapshot, within STATE_SAVE_US. Cheap. */
void state_file_changed(struct state_file *f);
/* Written and fsynced now, on the calling thread (after any write of it
 * the writer has in hand); everything is freed (the source stops). */
void state_file_close(struct state_file *f);

#endif
