/* apply_nft_gw.c — forward and dnat grants for the nft backend (issue 15).
 *
 * create() makes, idempotently, table inet NAME_gw (only when --gateway /
 * gateway: lists something):
 *
 *   set guard4, guard6    the --gateway networks and ports, interval sets:
 *                         "10.0.0.0/24 . tcp . 22"
 *   set fwd4, fwd6        forward grants that keep their connections:   src . to . proto . port
 *   set fwx4, fwx6        forward grants whose connections end with them (keep=0)
 *   set dnk4, dnk6        dnat grants, the translated connection:       src . to . proto . toport
 *   set dnx4, dnx6        ... with keep=0
 *   set masq4, masq6      dnat grants with masq=1:                      src . to . proto . toport
 *   map dnat4, dnat6      src . proto . listen port : to . toport
 *   set flow4, flow6      connections let in by a grant with keep (dynamic, the packet path fills it)
 *
 *   chain forward { type filter hook forward priority filter - 1; policy accept;
 *     ct direction reply accept
 *     ip saddr . ip daddr . meta l4proto . th dport @fwd4 update @flow4 { FLOW } accept
 *     ip saddr . ip daddr . meta l4proto . th dport @fwx4 accept
 *     ct status dnat ip saddr . ip daddr . meta l4proto . th dport @dnk4 update @flow4 { FLOW } accept
 *     ct status dnat ip saddr . ip daddr . meta l4proto . th dport @dnx4 accept
 *     ip saddr . ip daddr . meta l4proto . th sport . th dport @flow4 update @flow4 { FLOW } accept
 *     (the same for ip6)
 *     ip daddr . meta l4proto . th dport @guard4 counter drop
 *     ip6 daddr . meta l4proto . th dport @guard6 counter drop
 *   }
 *   chain prerouting  { type nat hook prerouting priority dstnat - 1; dnat ip to ip saddr . meta l4proto . th dport map @dnat4; ... }
 *   chain postrouting { type nat hook postrouting priority srcnat - 1; ct status dnat ip saddr . ip daddr . meta l4proto . th dport @masq4 masquerade; ... }
 *
 * As on the input side, the admin's ruleset forwards the guarded hosts and
 * ports (or the forward policy accepts), and this chain takes that away
 * from every packet to them that no grant lets through: a drop in any base
 * chain of the hook is final, an accept here ends only this chain. The
 * Docker way of publishing a port (DNAT in prerouting, then FORWARD to the
 * container) is guarded the same way: the guard names the container's
 * address and port, which is what the forward hook sees.
 *
 * keep (the default): a connection begun under a grant is remembered in
 * flow4/flow6 (source, destination, protocol, both ports; refreshed by every
 * packet, forgotten after a day of silence) and outlives the grant, as
 * conntrack's "established" would. keep=0: every packet needs the grant, so
 * its expiry stops established connections too. Replies are never guarded.
 *
 * dnat: the map translates only sources with a grant; others reach this
 * host's own port (closed, or guarded by the input table). The kernel
 * expires the map's elements itself, so a dead daemon opens nothing for
 * long. A translated connection keeps its translation (conntrack) after the
 * grant; whether it may still pass is keep's decision, in the forward chain.
 *
 * Every command is built with snprintf from parsed fields only, as in
 * apply_nft.c; open, close and flush use the same "add, delete, add" and
 * "add 1s, delete" transactions for the same reasons (see there). */
#include "apply_nft_gw.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <nftables/libnftables.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "log.h"

#define GW_TABLE_MAX 40
#define GW_CREATE_MAX 16384
#define GW_CMD_MAX 2048
#define GW_ELEM_MAX 160

struct nft_gw {
	struct nft_ctx *nft;	/* the backend's */
	char table[GW_TABLE_MAX];
};

static const char *gw_proto(uint8_t proto)
{
	switch (proto) {
	case IPPROTO_TCP: return "tcp";
	case IPPROTO_UDP: return "udp";
	default: return NULL;
	}
}

static int gw_exec(struct nft_gw *g, const char *cmds, char *msg, size_t msglen)
{
	int r = nft_run_cmd_from_buffer(g->nft, cmds);
	(void)nft_ctx_get_output_buffer(g->nft);	/* read, so that it is reset */
	const char *err = nft_ctx_get_error_buffer(g->nft);
	if (r == 0)
		return 0;
	if (!err || !*err) {
		snprintf(msg, msglen, "nft: command failed (no message from libnftables)");
		return -1;
	}
	while (*err == '\n')
		err++;
	if (strncmp(err, "Error: ", 7) == 0)
		err += 7;
	size_t n = strcspn(err, "\n");
	snprintf(msg, msglen, "nft: %.*s", (int)(n > 400 ? 400 : n), err);
	apply_sanitize(msg);
	return -1;
}

/* Appends to BUF (LEN used of SIZE); -1 when it does not fit. */
static int gw_put(char *buf, size_t size, size_t *len, const char *fmt, ...) __attribute__((format(printf, 4, 5)));
static int gw_put(char *buf, size_t size, size_t *len, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(buf + *len, size - *len, fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= size - *len)
		return -1;
	*len += (size_t)n;
	return 0;
}

/* Whether entry I of o->gw lies inside another entry (kept once: the
 * interval sets refuse overlaps). */
static int gw_covered(const struct apply_options *o, size_t i)
{
	const struct apply_gw_allow *a = &o->gw[i];
	for (size_t j = 0; j < o->ngw; j++) {
		const struct apply_gw_allow *b = &o->gw[j];
		if (j == i || b->family != a->family || b->proto != a->proto || b->port != a->port ||
		    b->prefix > a->prefix || (b->prefix == a->prefix && j > i))
			continue;
		unsigned k = 0;
		while (k < b->prefix && ((a->addr[k / 8] ^ b->addr[k / 8]) & (0x80 >> (k % 8))) == 0)
			k++;
		if (k == b->prefix)
			return 1;
	}
	return 0;
}

void nft_gw_free(struct nft_gw *g)
{
	free(g);
}

struct nft_gw *nft_gw_create(struct nft_ctx *nft, const char *name, const struct apply_options *o, char *err,
			     size_t errlen)
{
	struct nft_gw *g = calloc(1, sizeof *g);
	char *cmd = malloc(GW_CREATE_MAX);
	size_t len = 0;
	if (!g || !cmd) {
		snprintf(err, errlen, "out of memory");
		goto fail;
	}
	g->nft = nft;
	if ((size_t)snprintf(g->table, sizeof g->table, "%s_gw", name) >= sizeof g->table) {
		snprintf(err, errlen, "table name too long");
		goto fail;
	}
	const char *t = g->table;
	static const char flow[] = "meta l4proto . th sport . th dport";
	if (gw_put(cmd, GW_CREATE_MAX, &len, "add table inet %s\n", t) < 0)
		goto too_long;
	for (int v6 = 0; v6 < 2; v6++) {
		const char *a = v6 ? "ipv6_addr" : "ipv4_addr";
		char f = v6 ? '6' : '4';
		if (gw_put(cmd, GW_CREATE_MAX, &len,
			   "add set inet %s guard%c { type %s . inet_proto . inet_service; flags interval; }\n"
			   "flush set inet %s guard%c\n"
			   "add set inet %s fwd%c { type %s . %s . inet_proto . inet_service; flags timeout; }\n"
			   "add set inet %s fwx%c { type %s . %s . inet_proto . inet_service; flags timeout; }\n"
			   "add set inet %s dnk%c { type %s . %s . inet_proto . inet_service; flags timeout; }\n"
			   "add set inet %s dnx%c { type %s . %s . inet_proto . inet_service; flags timeout; }\n"
			   "add set inet %s masq%c { type %s . %s . inet_proto . inet_service; flags timeout; }\n"
			   "add map inet %s dnat%c { type %s . inet_proto . inet_service : %s . inet_service; flags timeout; }\n"
			   "add set inet %s flow%c { type %s . %s . inet_proto . inet_service . inet_service; "
			   "flags dynamic,timeout; timeout 1d; size 65536; }\n",
			   t, f, a, t, f, t, f, a, a, t, f, a, a, t, f, a, a, t, f, a, a, t, f, a, a, t, f, a, a, t, f,
			   a, a) < 0)
			goto too_long;
	}
	/* the guard's elements: each network and port once */
	for (size_t i = 0; i < o->ngw; i++) {
		const struct apply_gw_allow *e = &o->gw[i];
		char addr[INET6_ADDRSTRLEN];
		if (gw_covered(o, i) || !gw_proto(e->proto) || !inet_ntop(e->family, e->addr, addr, sizeof addr))
			continue;
		if (gw_put(cmd, GW_CREATE_MAX, &len, "add element inet %s guard%c { %s/%u . %s . %u }\n", t,
			   e->family == AF_INET ? '4' : '6', addr, (unsigned)e->prefix, gw_proto(e->proto),
			   (unsigned)e->port) < 0)
			goto too_long;
	}
	if (gw_put(cmd, GW_CREATE_MAX, &len,
		   "add chain inet %s forward { type filter hook forward priority filter - 1; policy accept; }\n"
		   "flush chain inet %s forward\n"
		   "add chain inet %s prerouting { type nat hook prerouting priority dstnat - 1; policy accept; }\n"
		   "flush chain inet %s prerouting\n"
		   "add chain inet %s postrouting { type nat hook postrouting priority srcnat - 1; policy accept; }\n"
		   "flush chain inet %s postrouting\n"
		   "add rule inet %s forward ct direction reply accept\n",
		   t, t, t, t, t, t, t) < 0)
		goto too_long;
	for (int v6 = 0; v6 < 2; v6++) {
		const char *ip = v6 ? "ip6" : "ip";
		char f = v6 ? '6' : '4';
		char key[64], fl[96];
		snprintf(key, sizeof key, "%s saddr . %s daddr . meta l4proto . th dport", ip, ip);
		snprintf(fl, sizeof fl, "%s saddr . %s daddr . %s", ip, ip, flow);
		if (gw_put(cmd, GW_CREATE_MAX, &len,
			   "add rule inet %s forward %s @fwd%c update @flow%c { %s } accept\n"
			   "add rule inet %s forward %s @fwx%c accept\n"
			   "add rule inet %s forward ct status dnat %s @dnk%c update @flow%c { %s } accept\n"
			   "add rule inet %s forward ct status dnat %s @dnx%c accept\n"
			   "add rule inet %s forward %s @flow%c update @flow%c { %s } accept\n"
			   "add rule inet %s prerouting dnat %s to %s saddr . meta l4proto . th dport map @dnat%c\n"
			   "add rule inet %s postrouting ct status dnat %s @masq%c masquerade\n",
			   t, key, f, f, fl, t, key, f, t, key, f, f, fl, t, key, f, t, fl, f, f, fl, t, ip, ip, f, t,
			   key, f) < 0)
			goto too_long;
	}
	if (gw_put(cmd, GW_CREATE_MAX, &len,
		   "add rule inet %s forward ip daddr . meta l4proto . th dport @guard4 counter drop comment "
		   "\"guarded host and port, no logknock grant\"\n"
		   "add rule inet %s forward ip6 daddr . meta l4proto . th dport @guard6 counter drop comment "
		   "\"guarded host and port, no logknock grant\"\n",
		   t, t) < 0)
		goto too_long;
	char msg[512];
	if (gw_exec(g, cmd, msg, sizeof msg) < 0) {
		snprintf(err, errlen, "cannot set up table inet %s: %s", t, msg);
		goto fail;
	}
	log_info("nft: table inet %s ready, guarding %zu forward and dnat destinations", t, o->ngw);
	free(cmd);
	return g;

too_long:
	snprintf(err, errlen, "nft: gateway set-up commands too long");
fail:
	free(cmd);
	free(g);
	return NULL;
}

/* The elements of C: up to three (set, key, value) in ELS, how many; or -1 with msg. */
struct gw_elem {
	char set[8];
	char key[GW_ELEM_MAX];
	char val[GW_ELEM_MAX];	/* "" for a set */
};

static int gw_elems(const struct apply_cmd *c, struct gw_elem els[3], char *msg, size_t msglen)
{
	const char *proto = gw_proto(c->proto);
	char src[INET6_ADDRSTRLEN], to[INET6_ADDRSTRLEN];
	if (!proto || (c->family != AF_INET && c->family != AF_INET6) || !inet_ntop(c->family, c->addr, src, sizeof src) ||
	    !inet_ntop(c->family, c->to, to, sizeof to)) {
		snprintf(msg, msglen, "nft: bad forward or dnat request");
		return -1;
	}
	char f = c->family == AF_INET ? '4' : '6';
	int n = 0;
	memset(els, 0, 3 * sizeof *els);
	if (c->via == APPLY_VIA_FORWARD) {
		snprintf(els[n].set, sizeof els[n].set, "%s%c", c->nokeep ? "fwx" : "fwd", f);
		snprintf(els[n++].key, sizeof els[0].key, "%s . %s . %s . %u", src, to, proto, (unsigned)c->port);
		return n;
	}
	if (c->via != APPLY_VIA_DNAT) {
		snprintf(msg, msglen, "nft: not a forward or dnat request");
		return -1;
	}
	snprintf(els[n].set, sizeof els[n].set, "dnat%c", f);
	snprintf(els[n].key, sizeof els[0].key, "%s . %s . %u", src, proto, (unsigned)c->port);
	snprintf(els[n++].val, sizeof els[0].val, "%s . %u", to, (unsigned)c->toport);
	snprintf(els[n].set, sizeof els[n].set, "%s%c", c->nokeep ? "dnx" : "dnk", f);
	snprintf(els[n++].key, sizeof els[0].key, "%s . %s . %s . %u", src, to, proto, (unsigned)c->toport);
	if (c->masq) {
		snprintf(els[n].set, sizeof els[n].set, "masq%c", f);
		snprintf(els[n++].key, sizeof els[0].key, "%s . %s . %s . %u", src, to, proto, (unsigned)c->toport);
	}
	return n;
}

int nft_gw_open(struct nft_gw *g, const struct apply_cmd *c, int refresh, char *msg, size_t msglen)
{
	struct gw_elem e[3];
	char cmd[GW_CMD_MAX];
	size_t len = 0;
	if (!g) {
		snprintf(msg, msglen, "nft: no gateway table (no --gateway destinations)");
		return -1;
	}
	int n = gw_elems(c, e, msg, msglen);
	if (n < 0)
		return -1;
	unsigned long s = (unsigned long)c->seconds;
	/* as nft_open: make sure each exists, remove it, add it with the new timeout */
	for (int i = 0; i < n; i++) {
		const char *colon = e[i].val[0] ? " : " : "";
		if (gw_put(cmd, sizeof cmd, &len,
			   "add element inet %s %s { %s timeout %lus%s%s }\n"
			   "delete element inet %s %s { %s }\n"
			   "add element inet %s %s { %s timeout %lus%s%s }\n",
			   g->table, e[i].set, e[i].key, s, colon, e[i].val, g->table, e[i].set, e[i].key, g->table,
			   e[i].set, e[i].key, s, colon, e[i].val) < 0) {
			snprintf(msg, msglen, "nft: command too long");
			return -1;
		}
	}
	if (gw_exec(g, cmd, msg, msglen) < 0)
		return -1;
	for (int i = 0; i < n; i++)
		log_info("open %llu: %s inet %s %s { %s%s%s timeout %lus }", (unsigned long long)c->id,
			 refresh ? "refreshed" : "added", g->table, e[i].set, e[i].key, e[i].val[0] ? " : " : "",
			 e[i].val, s);
	return 0;
}

int nft_gw_close(struct nft_gw *g, const struct apply_cmd *c, char *msg, size_t msglen)
{
	struct gw_elem e[3];
	char cmd[GW_CMD_MAX];
	size_t len = 0;
	if (!g) {
		snprintf(msg, msglen, "nft: no gateway table (no --gateway destinations)");
		return -1;
	}
	int n = gw_elems(c, e, msg, msglen);
	if (n < 0)
		return -1;
	for (int i = 0; i < n; i++) {
		const char *colon = e[i].val[0] ? " : " : "";
		if (gw_put(cmd, sizeof cmd, &len,
			   "add element inet %s %s { %s timeout 1s%s%s }\n"
			   "delete element inet %s %s { %s }\n",
			   g->table, e[i].set, e[i].key, colon, e[i].val, g->table, e[i].set, e[i].key) < 0) {
			snprintf(msg, msglen, "nft: command too long");
			return -1;
		}
	}
	if (gw_exec(g, cmd, msg, msglen) < 0)
		return -1;
	for (int i = 0; i < n; i++)
		log_info("close %llu: removed inet %s %s { %s }", (unsigned long long)c->id, g->table, e[i].set,
			 e[i].key);
	return 0;
}

int nft_gw_flush(struct nft_gw *g, char *msg, size_t msglen)
{
	if (!g)
		return 0;
	char cmd[GW_CMD_MAX];
	size_t len = 0;
	static const char *const sets[] = {"fwd", "fwx", "dnk", "dnx", "masq", "dnat"};
	for (size_t i = 0; i < sizeof sets / sizeof *sets; i++)
		for (int v6 = 0; v6 < 2; v6++)
			if (gw_put(cmd, sizeof cmd, &len, "flush %s inet %s %s%c\n", i == 5 ? "map" : "set", g->table,
				   sets[i], v6 ? '6' : '4') < 0) {
				snprintf(msg, msglen, "nft: command too long");
				return -1;
			}
	if (gw_exec(g, cmd, msg, msglen) < 0)
		return -1;
	log_info("flush: emptied the grant sets and maps of inet %s", g->table);
	return 0;
}
