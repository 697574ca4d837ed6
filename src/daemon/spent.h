/* spent.h — codes already used. A time-based code opens once for each
 * (door, time step, source); an encrypted knock opens once. An entry is
 * kept until its code could not verify any more, and the daemon saves the
 * table (state directory, file "spent") before the door opens, so that a
 * restart does not let a captured code in again. Fixed size: when it is
 * full of live entries a code is refused rather than forgotten. */
#ifndef LOGKNOCK_SPENT_H
#define LOGKNOCK_SPENT_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "knockcode.h"

#define SPENT_ID_BYTES 16
#define SPENT_LINE_MAX (2 * SPENT_ID_BYTES + 1 + 20 + 1)

struct spent;

struct spent *spent_new(size_t max);
void spent_free(struct spent *s);

/* The identity of a code: a hash of DOOR, CODE (its time step), the
 * source's address and TAG (encrypted knocks; NULL for time-based ones). */
void spent_id(uint8_t id[SPENT_ID_BYTES], const char *door, int64_t code, int family, const uint8_t *addr,
	      const uint8_t *tag);

/* Uses ID until EXPIRES_US; entries expired at NOW are dropped first.
 * 0: first use; 1: used already; -1: the table is full. */
int spent_use(struct spent *s, const uint8_t id[SPENT_ID_BYTES], int64_t expires_us, int64_t now);
size_t spent_count(const struct spent *s);

/* As text, one entry a line: ID (hex) EXPIRES_US. dump: the length, or -1
 * if BUF is too small (max * SPENT_LINE_MAX always fits). restore: entries
 * still live at NOW are taken; -1 with err set on a malformed line. */
ssize_t spent_dump(const struct spent *s, char *buf, size_t len);
int spent_restore(struct spent *s, const char *text, int64_t now, char *err, size_t errlen);

#endif
