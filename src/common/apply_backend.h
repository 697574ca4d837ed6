/* apply_backend.h — how logknock-apply changes the firewall. The protocol
 * loop (logknock-apply.c) keeps the set of IDs it has opened and calls one
 * backend; a backend only knows how to add and remove one rule. */
#ifndef LOGKNOCK_APPLY_BACKEND_H
#define LOGKNOCK_APPLY_BACKEND_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "apply_proto.h"

#define APPLY_GUARD_MAX 64
#define APPLY_GW_MAX 64			/* --gateway entries */
#define APPLY_BATCH_MAX 64		/* requests in one batch (apply_backend.batch) */

/* The applier's command line, as the daemon builds it from the config. */
struct apply_options {
	int timeout_ms;			/* --timeout: one external command */
	char **open_t, **close_t;	/* --open/--close: command templates */
	size_t nopen, nclose;
	struct {
		uint8_t proto;		/* IPPROTO_TCP, IPPROTO_UDP */
		uint16_t port;
	} guard[APPLY_GUARD_MAX];	/* --guard tcp/22: ports the doors open, */
	size_t nguard;			/* closed to everyone without a grant */
	const char *name;		/* --name: table, chain or set name (default "logknock") */
	struct apply_gw_allow {
		uint8_t family;		/* AF_INET, AF_INET6 */
		uint8_t prefix;		/* bits of addr that must match */
		uint8_t proto;		/* IPPROTO_TCP, IPPROTO_UDP */
		uint16_t port;
		uint8_t addr[16];
	} gw[APPLY_GW_MAX];		/* --gateway tcp/22,10.0.0.0/24: the hosts and ports */
	size_t ngw;			/* forward and dnat grants may reach; any other is refused */
	bool guard_loopback;		/* --guard-loopback: guard packets that came in on lo too */
};

struct apply_backend {
	const char *name;
	/* Sets up (idempotently: a previous run may have left its table or
	 * chain). NULL with err set on failure. */
	void *(*create)(const struct apply_options *o, char *err, size_t errlen);
	/* Adds the rule of C for c->seconds. refresh: the ID is open already
	 * and only its time is new (firewalls that expire rules themselves
	 * need the new timeout). 0, or -1 with the firewall's message. */
	int (*open)(void *st, const struct apply_cmd *c, int refresh, char *msg, size_t msglen);
	int (*close)(void *st, const struct apply_cmd *c, char *msg, size_t msglen);
	/* Removes every rule this backend ever added, known to this process or
	 * not (what a crashed run left). NULL: close each known ID instead. */
	int (*flush)(void *st, const struct apply_cmd *c, char *msg, size_t msglen);
	/* Applies N opens and closes (no two of the same ID; refresh[i] as for
	 * open), in order, as one change. 0 when every one is done (each
	 * logged as open and close log it); -1 with msg when the batch failed:
	 * the caller then applies each alone for its own answer, so a change
	 * a failed batch left half done must be one that is harmless to apply
	 * again. NULL: one at a time. N is 2..APPLY_BATCH_MAX. */
	int (*batch)(void *st, const struct apply_cmd *const *c, const int *refresh, size_t n, char *msg,
		     size_t msglen);
	void (*destroy)(void *st);
	/* open and close also take forward and dnat requests (c->via, issue
	 * 15); 0: the protocol loop refuses them for this backend. */
	int gateway;
};

extern const struct apply_backend apply_backend_log;
extern const struct apply_backend apply_backend_command;
extern const struct apply_backend apply_backend_nft;
extern const struct apply_backend apply_backend_iptables;
extern const struct apply_backend apply_backend_ipset;

/* Runs ARGV (argv[0] an absolute path) with execve — never a shell — a
 * minimal environment, stdin and stdout on /dev/null, its stderr captured,
 * under a time limit (SIGTERM, then SIGKILL to its process group).
 * 0 on exit status 0; else -1 with msg: the status and its stderr's first line. */
int apply_run(char *const argv[], int timeout_ms, char *msg, size_t msglen);
/* The same, keeping the command's stdout (when OUT is not NULL, a string the
 * caller frees, at most 64 MiB). Returns 0 on exit status 0, the exit status
 * when it is another (e.g. 1 from iptables -C: no such rule), or -1 on any
 * other failure; msg says what happened when not 0. */
int apply_run_output(char *const argv[], int timeout_ms, char **out, char *msg, size_t msglen);
/* apply_run() with IN (INLEN bytes) as the command's stdin (ipset restore). */
int apply_run_input(char *const argv[], const char *in, size_t inlen, int timeout_ms, char *msg, size_t msglen);
/* ARGV as one line for the log, quoted where it helps reading. */
void apply_describe_argv(char *const *argv, char *buf, size_t buflen);
/* Replaces control characters so that a message stays one line. */
void apply_sanitize(char *s);

#endif
