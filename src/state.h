/* state.h — small files under the state directory, written atomically
 * (write a temporary file, optionally fsync it, rename it over the old one),
 * so that a crash at any point leaves either the old or the new content. */
#ifndef LOGKNOCK_STATE_H
#define LOGKNOCK_STATE_H

#include <stddef.h>
#include <sys/types.h>

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

#endif
