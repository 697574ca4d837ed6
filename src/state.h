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

/* A source's position, kept the same way by every source: written (without
 * fsync) each time it changes, fsynced within a second by a timer and when
 * the source stops. A failure to write is said once, and once more when
 * writing works again; reading goes on either way. */
struct state_file {
	char *dir;		/* a copy; NULL: nothing is kept */
	char name[STATE_NAME_MAX];
	char what[128];		/* whose position, for messages */
	/* Formats the state into BUF; its length, or -1 if there is none yet. */
	int (*format)(void *ctx, char *buf, size_t len);
	void *ctx;
	sd_event_source *timer;
	int failed;
};

/* The file is DIR/state_name(PREFIX, KEY). 0, or -1 (logged). */
int state_file_init(struct state_file *f, sd_event *ev, const char *dir, const char *prefix, const char *key,
		    const char *what, int (*format)(void *ctx, char *buf, size_t len), void *ctx);
/* The position changed: written now, fsynced within a second. */
void state_file_changed(struct state_file *f);
/* Written and fsynced now; everything is freed (the source stops). */
void state_file_close(struct state_file *f);

#endif
