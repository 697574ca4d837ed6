/* apply_xt.h — the iptables chain that the iptables and ipset backends of
 * logknock-apply share (apply_iptables.c, apply_ipset.c).
 *
 * Layout, in the filter table of both families (iptables and ip6tables):
 *
 *   INPUT:     -j CHAIN                         inserted at position 1, once
 *   CHAIN:     grant ACCEPT rules               "logknock:ID:DOOR"  (iptables backend)
 *              -m set --match-set SET src,dst   "logknock-set"      (ipset backend)
 *              -i lo -j RETURN                  "logknock-loopback" (unless --guard-loopback)
 *              guard DROP rules, one per port   "logknock-guard"
 *
 * Comments tell the parts apart: "logknock:" names a grant, "logknock-" a
 * rule of the chain's own structure, rebuilt at every start. */
#ifndef LOGKNOCK_APPLY_XT_H
#define LOGKNOCK_APPLY_XT_H

#include <stddef.h>

#include "apply_backend.h"

#define XT_IPTABLES "/usr/sbin/iptables"
#define XT_IP6TABLES "/usr/sbin/ip6tables"
#define XT_CHAIN_MAX 28			/* iptables' limit on a chain name */
#define XT_GRANT_PREFIX "logknock:"	/* comment of a grant: logknock:ID:DOOR */
#define XT_OWN_PREFIX "logknock-"	/* comment of the chain's own rules */

/* iptables or ip6tables for AF_INET or AF_INET6. */
const char *xt_program(int family);

/* NAME uppercased into buf (the chain of --name). 0, or -1 if it does not fit. */
int xt_chain_name(const char *name, char *buf, size_t buflen);


/* Sets up CHAIN in FAMILY, idempotently: creates it if missing, replaces its
 * own rules (XT_OWN_PREFIX: the set rule when SET is not NULL, then one guard
 * per o->guard port) by the current ones without a moment with no guard,
 * keeps every grant, and inserts the jump from INPUT if it is missing.
 * 0, or -1 with msg. */
int xt_setup(int family, const char *chain, const char *set, const struct apply_options *o, char *msg,
	     size_t msglen);

/* Deletes every rule of CHAIN whose comment starts with PREFIX. Returns the
 * number deleted, or -1 with msg. */
long xt_delete_by_comment(int family, const char *chain, const char *prefix, int timeout_ms, char *msg,
			  size_t msglen);

/* Runs ARGV (iptables, ip6tables, ipset) with apply_run(), said at -v -v
 * when it worked. */
int apply_xt_run(char *const argv[], int timeout_ms, char *msg, size_t msglen);

#endif
