/* grants.h — open grants: one per (source, protocol, port[, via, to, toport]), with expiry.
 * A repeat success extends a grant; it never opens a second one. */
#ifndef LOGKNOCK_GRANTS_H
#define LOGKNOCK_GRANTS_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "config.h"

#define GRANT_DOOR_MAX 64
#define GRANT_HOST_MAX 63

struct grant {
	uint64_t id;
	char door[GRANT_DOOR_MAX + 1];	/* name of the door that opened it (a copy:
					   grants outlive a reloaded configuration) */
	uint8_t family;
	uint8_t proto;
	uint16_t port;
	uint8_t src[16];
	/* forward: and dnat: grants (issue 15); all zero for a port of this
	 * host. Part of the key: the same source may reach two hosts. */
	uint8_t via;		/* APPLY_VIA_LOCAL, APPLY_VIA_FORWARD, APPLY_VIA_DNAT */
	uint8_t masq;		/* dnat: masquerade */
	uint8_t nokeep;		/* established connections end with the grant */
	uint16_t toport;	/* dnat: the port on TO (port: the one listened on here) */
	uint8_t to[16];		/* the internal host, of FAMILY */
	/* fleet (issue 16): the appliers: host that holds it; "" for the
	 * local applier. Part of the key: one rule per host. */
	char host[GRANT_HOST_MAX + 1];
	int64_t opened_us;
	int64_t expires_us;
	uint32_t extended;	/* times its expiry was moved later (not persisted: 0 after a restart) */
};

enum grant_event { GRANT_OPEN, GRANT_EXTEND, GRANT_CLOSE };

/* Called for every change; NOW is the time of the change. */
typedef void (*grants_fn)(void *ctx, enum grant_event ev, const struct grant *g, int64_t now);

struct grants *grants_new(size_t max_grants, grants_fn cb, void *ctx);
void grants_free(struct grants *g);

/* Opens (or extends) the NPORTS PORTS for SRC until now + duration_us, in
 * the name of DOOR. Returns the number of ports refused because the table
 * is full. */
size_t grants_open(struct grants *g, const char *door, const struct port_spec *ports, size_t nports,
		   int64_t duration_us, int family, const uint8_t *src, int64_t now);
/* The same for a door's forward: and dnat: entries: those of FAMILY only
 * (an IPv4 source reaches IPv4 hosts). KEEP: established connections
 * outlive the grant. Returns the number refused because the table is full. */
size_t grants_open_gw(struct grants *g, const char *door, const struct gw_target *gw, size_t n, bool keep,
		      int64_t duration_us, int family, const uint8_t *src, int64_t now);
/* The host (an appliers: name; NULL or "" the local applier) that the
 * grants grants_open and grants_open_gw make from now on are for. */
void grants_set_host(struct grants *g, const char *host);
/* Closes grants whose time has come, in order of expiry. */
void grants_expire(struct grants *g, int64_t now);
/* Closes every grant now (the daemon stops). */
void grants_close_all(struct grants *g, int64_t now);
int64_t grants_next_deadline(const struct grants *g);
size_t grants_count(const struct grants *g);
/* The I-th open grant (0 <= i < grants_count), e.g. to send them again to a
 * restarted applier. */
const struct grant *grants_at(const struct grants *g, size_t i);
/* Closes now, through the callback as an expiry does, every grant of SRC
 * (of DOOR only, unless NULL). Returns how many. */
size_t grants_revoke(struct grants *g, int family, const uint8_t *src, const char *door, int64_t now);
/* Forgets grant ID without a close event (the firewall refused it). */
void grants_drop(struct grants *g, uint64_t id);

/* Persistence: the table as text, one grant a line:
 *   ID FAMILY ADDRESS PROTO PORT OPENED_US EXPIRES_US DOOR [to=ADDR [toport=N] [masq=1] [keep=0]] [host=NAME]
 * (the bracketed fields as the applier protocol spells them, for forward
 * and dnat grants only: a file of an older version reads as before)
 * grants_dump writes it into BUF (returns the length, or -1 if it does not
 * fit); grants_restore reads such text back, taking every grant whatever its
 * expiry (the caller closes the expired ones), and returns how many, or -1
 * with a message in err for a malformed line, an ID that repeats or a
 * second grant of the same source, protocol and port; then the table is
 * left as it was (all or nothing). IDs continue after the largest restored. */
ssize_t grants_dump(const struct grants *g, char *buf, size_t len);
int grants_restore(struct grants *g, const char *text, char *err, size_t errlen);
/* A text grants_restore refused (a repeated ID, a grant twice, a malformed
 * line: it was not written by grants_dump): FN is called with each
 * well-formed line of it, and the IDs of new grants continue after them,
 * so that the caller can close what the firewall may still hold from it
 * without ever confusing those with new grants. */
void grants_each_saved(struct grants *g, const char *text, void (*fn)(void *ctx, const struct grant *g),
		       void *ctx);

#endif
