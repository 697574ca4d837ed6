/* apply_nft_gw.h — the nft backend's forward and dnat grants (issue 15), in
 * a table of their own beside the backend's input table. */
#ifndef LOGKNOCK_APPLY_NFT_GW_H
#define LOGKNOCK_APPLY_NFT_GW_H

#include <stddef.h>

#include "apply_backend.h"

struct nft_ctx;
struct nft_gw;

/* Sets up table inet NAME_gw for o->gw (idempotently); NFT is the backend's
 * libnftables context (buffered output). NULL with err set on failure. */
struct nft_gw *nft_gw_create(struct nft_ctx *nft, const char *name, const struct apply_options *o, char *err,
			     size_t errlen);
/* A forward or dnat request (c->via): 0, or -1 with msg. */
int nft_gw_open(struct nft_gw *g, const struct apply_cmd *c, int refresh, char *msg, size_t msglen);
int nft_gw_close(struct nft_gw *g, const struct apply_cmd *c, char *msg, size_t msglen);
/* Empties the grant sets and maps (not the guard, not the flows a grant
 * with keep let in: established connections outlive a restart). */
int nft_gw_flush(struct nft_gw *g, char *msg, size_t msglen);
void nft_gw_free(struct nft_gw *g);

#endif
