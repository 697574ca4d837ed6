/* apply_conf.h — logknock-apply's own settings file (apply.yaml): what the
 * applier takes from root alone when it runs with more privilege than its
 * caller (through sudo), and what `--config FILE` names otherwise.
 *
 *   backend: nft                    # nft | iptables | ipset | command | log
 *   guard: [tcp/22, udp/1194]       # the doors' open: ports; any other is refused
 *   gateway:                        # where forward: and dnat: doors may lead; any other is refused
 *     - {to: 10.0.0.0/24, port: tcp/22}
 *   guard_loopback: false           # true: guard packets that came in on lo too
 *   name: logknock                  # table, chain and set name
 *   timeout: 5s                     # one external command (ms, s, m)
 *   open: [/usr/local/sbin/fw, open, "%IP%", "%PROTO%", "%PORT%"]    # backend command
 *   close: [/usr/local/sbin/fw, close, "%IP%", "%PROTO%", "%PORT%"]
 */
#ifndef LOGKNOCK_APPLY_CONF_H
#define LOGKNOCK_APPLY_CONF_H

#include <stdbool.h>
#include <stddef.h>

#include "apply_backend.h"

#ifndef LOGKNOCK_SYSCONFDIR	/* set by Makefile.am; a build without it (fuzz/) */
#define LOGKNOCK_SYSCONFDIR "/etc/logknock"
#endif
#define APPLY_CONF_DEFAULT LOGKNOCK_SYSCONFDIR "/apply.yaml"
#define APPLY_NAME_MAX 28		/* --name / name: letters, digits, _ and - */
#define APPLY_TIMEOUT_MAX_MS 600000
#define APPLY_ARG_MAX_LEN 4096		/* one template argument */

struct apply_conf {
	char backend[16];
	char name[APPLY_NAME_MAX + 1];
	bool timeout_set;
	struct apply_options o;		/* open_t, close_t and name point into this struct's allocations */
};

/* Loads PATH. Messages never quote the file's text (only its path, line and
 * column): a caller that may name the file must learn nothing of a file it
 * could not read. 0, or -1 with err as "PATH:LINE:COL: message". */
int apply_conf_load(const char *path, struct apply_conf *ac, char *err, size_t errlen);
void apply_conf_free(struct apply_conf *ac);

/* "tcp/22", "udp/53", "icmp/8", "icmpv6/128" added to o->guard (each once).
 * 0, or -1 when malformed or when the set is full. */
int apply_guard_add(struct apply_options *o, const char *spec);
/* Whether C's protocol and port are in o->guard. */
bool apply_guarded(const struct apply_options *o, const struct apply_cmd *c);
/* "tcp/22,10.0.0.2", "udp/53,10.0.0.0/24", "tcp/22,2001:db8::/64" added to
 * o->gw (each once): where forward and dnat grants may lead. 0, or -1 when
 * malformed (host bits set beyond the prefix too) or when the list is full. */
int apply_gateway_add(struct apply_options *o, const char *spec);
/* Whether C (a forward or dnat request) leads to an address and port that
 * o->gw allows: forward to:PORT, dnat to:TOPORT. */
bool apply_gateway_allowed(const struct apply_options *o, const struct apply_cmd *c);
/* Whether NAME is a valid table/chain/set name. */
bool apply_name_ok(const char *name);

#endif
