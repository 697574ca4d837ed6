/* onetime.h — one-time sequences, in knockd's file format: one sequence a
 * line ("7000,8000:udp,9000"), lines starting with '#' used (or comments).
 * The first unused line is the door's sequence; once it opens, a '#' is
 * written over the line's first character (as knockd does: start lines
 * with a space to keep the first digit) and synced before the door opens,
 * so that a crash can never enable a used sequence again. */
#ifndef LOGKNOCK_ONETIME_H
#define LOGKNOCK_ONETIME_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "config.h"

#define ONETIME_MAX_STEPS 32
#define ONETIME_MAX_BYTES (1024 * 1024)

struct onetime;

/* "7000, 8000:udp" (knockd's syntax, protocol tcp unless named) into at
 * most MAX steps. 0, or -1 with *why and the 0-based offset of the bad
 * item in *at. */
int onetime_parse_sequence(const char *s, size_t len, struct port_spec *out, size_t max, size_t *n,
			   size_t *at, const char **why);

/* Reads PATH. NULL with err as "PATH:LINE:COL: message" or "PATH: message". */
struct onetime *onetime_load(const char *path, char *err, size_t errlen);
void onetime_free(struct onetime *ot);

/* The sequence to knock now: its steps and count, and an index that
 * changes each time a sequence is used. NULL when all are used. */
const struct port_spec *onetime_current(const struct onetime *ot, size_t *n, uint32_t *index);
size_t onetime_left(const struct onetime *ot);
/* Steps of the longest sequence not used yet (0: none left). */
size_t onetime_longest(const struct onetime *ot);
const char *onetime_path(const struct onetime *ot);

/* Marks sequence INDEX used: in the file (persist != 0) and in memory.
 * -1 with err set if the file could not be written and synced; the
 * sequence is then not used (the door must not open). */
int onetime_use(struct onetime *ot, uint32_t index, int persist, char *err, size_t errlen);

#endif
