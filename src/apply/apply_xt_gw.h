/* apply_xt_gw.h — forward and dnat grants with iptables (issue 15), for the
 * iptables and ipset backends: chains NAME-FWD, NAME-DNAT and NAME-MASQ. */
#ifndef LOGKNOCK_APPLY_XT_GW_H
#define LOGKNOCK_APPLY_XT_GW_H

#include <stddef.h>

#include "apply_backend.h"

struct xt_gw;

/* Sets up the chains (CHAIN is the backend's, uppercased) for o->gw, in
 * both families, idempotently: grants a previous run left stay. FWSET (the
 * ipset backend; NULL: none) names the ipset sets of forward grants, FWSET
 * + fk4, fk6 (keep) and fx4, fx6 (keep=0), which the forward chain then
 * matches ahead of its guard. NULL with err. */
struct xt_gw *xt_gw_create(const struct apply_options *o, const char *chain, const char *fwset, char *err,
			   size_t errlen);
/* A forward or dnat request (c->via): 0, or -1 with msg. */
int xt_gw_open(struct xt_gw *g, const struct apply_cmd *c, int refresh, char *msg, size_t msglen);
int xt_gw_close(struct xt_gw *g, const struct apply_cmd *c, char *msg, size_t msglen);
/* Every forward and dnat grant rule, whoever opened it; the guard stays. */
int xt_gw_flush(struct xt_gw *g, char *msg, size_t msglen);
void xt_gw_free(struct xt_gw *g);

#endif
