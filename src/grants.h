/* grants.h — open grants: one per (source, protocol, port), with expiry.
 * A repeat success extends a grant; it never opens a second one. */
#ifndef LOGKNOCK_GRANTS_H
#define LOGKNOCK_GRANTS_H

#include <stddef.h>
#include <stdint.h>

#include "config.h"

#define GRANT_DOOR_MAX 64

struct grant {
	uint64_t id;
	char door[GRANT_DOOR_MAX + 1];	/* name of the door that opened it (a copy:
					   grants outlive a reloaded configuration) */
	uint8_t family;
	uint8_t proto;
	uint16_t port;
	uint8_t src[16];
	int64_t opened_us;
	int64_t expires_us;
};

enum grant_event { GRANT_OPEN, GRANT_EXTEND, GRANT_CLOSE };

/* Called for every change; NOW is the time of the change. */
typedef void (*grants_fn)(void *ctx, enum grant_event ev, const struct grant *g, int64_t now);

struct grants *grants_new(size_t max_grants, grants_fn cb, void *ctx);
void grants_free(struct grants *g);

/* Opens (or extends) every port of DOOR for SRC until now + door->duration_us.
 * Returns the number of ports refused because the table is full. */
size_t grants_open(struct grants *g, const struct door_conf *door, int family, const uint8_t *src,
		   int64_t now);
/* Closes grants whose time has come, in order of expiry. */
void grants_expire(struct grants *g, int64_t now);
/* Closes every grant now (the daemon stops). */
void grants_close_all(struct grants *g, int64_t now);
int64_t grants_next_deadline(const struct grants *g);
size_t grants_count(const struct grants *g);

#endif
