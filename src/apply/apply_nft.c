/* apply_nft.c — the nft backend: grants as elements of nftables sets, which
 * the kernel expires by itself, changed in process with libnftables (no nft
 * command per change).
 *
 * create() makes, idempotently, its own table (NAME is --name, default
 * "logknock"):
 *
 *   table inet NAME {
 *     set allow4 { type ipv4_addr . inet_proto . inet_service; flags timeout; }
 *     set allow6 { type ipv6_addr . inet_proto . inet_service; flags timeout; }
 *     chain guard {
 *       type filter hook input priority filter - 1; policy accept;
 *       ct state established,related accept
 *       iif lo accept                                           # unless --guard-loopback
 *       meta l4proto . th dport != { tcp . 22, ... } accept      # the --guard ports
 *       ip saddr . meta l4proto . th dport @allow4 accept
 *       ip6 saddr . meta l4proto . th dport @allow6 accept
 *       counter drop comment "..."
 *     }
 *   }
 *
 * A packet to a guarded port that starts something new is dropped unless
 * (source . protocol . port) is in a set. The drop must sit in this chain:
 * in nftables an accept ends only the base chain it is in, the packet then
 * traverses the other base chains of the hook, and a drop anywhere is final.
 * So the admin's own ruleset simply accepts the guarded ports, and this
 * chain takes that away from everyone without a grant.
 *
 * Loopback: an admin's "iif lo accept" is the usual first rule of an input
 * chain, and local programs (a monitoring check, a tunnel's local end, the
 * admin's own ssh to localhost) rely on it. Since a drop here is final, the
 * guard would take that away; so packets that came in on lo are left to
 * the admin's ruleset ("accept" here decides nothing for the other base
 * chains), unless the settings ask to guard loopback too (guard_loopback).
 * Only a local process can send on lo: a remote source cannot use it.
 *
 * Priority filter - 1: after conntrack (-200), so that ct state is known;
 * just before the admin's chains at the usual priority filter (0), so that
 * a refused packet never shows in the admin's counters or logs as accepted.
 * Correctness does not depend on the order: a drop is final whichever base
 * chain runs first.
 *
 * open: "add element X timeout T; delete element X; add element X timeout T"
 * in one transaction. The first add makes sure X exists (a no-op when it
 * does), the delete then cannot fail, and the last add sets the new timeout:
 * a plain add of an existing element keeps its old timeout on the kernels
 * Debian 12 ships, and nft 1.0.6 has neither "destroy" nor a working
 * "update" for this. The same text serves a first open (an element a crashed
 * run left gets the requested time, not the old one) and a refresh.
 * close: "add element X timeout 1s; delete element X" in one transaction, so
 * that closing an element the kernel has already expired is not an error —
 * atomically, without matching libnftables' message text.
 *
 * Every command is built with snprintf from parsed fields only: the address
 * through inet_ntop of its bytes, the protocol from a fixed table, numbers.
 * Failures are not logged here: the protocol loop logs msg once.
 * The table is left in place on exit: grants must outlive a restart of the
 * applier; emptying the sets is the daemon's decision (flush). */
#include "apply_backend.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <nftables/libnftables.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "apply_nft_gw.h"
#include "log.h"

#define NFT_NAME_MAX 32		/* --name is at most 28 characters */
#define NFT_CREATE_MAX 8192	/* 64 guard ports take ~1 KB */
#define NFT_CMD_MAX 512		/* one open or close */
#define NFT_ELEM_MAX 96		/* "ADDR . udp . 65535" */
#define NFT_BATCH_MAX (APPLY_BATCH_MAX * NFT_CMD_MAX)	/* one transaction of a batch */

struct nft_state {
	struct nft_ctx *nft;
	char name[NFT_NAME_MAX];
	struct {
		uint8_t proto;
		uint16_t port;
	} guard[APPLY_GUARD_MAX];
	size_t nguard;
	struct nft_gw *gw;	/* forward and dnat grants (apply_nft_gw.c); NULL without --gateway */
	bool guard_loopback;
	char *batch;		/* NFT_BATCH_MAX bytes: one transaction of a batch */
};

/* The protocols a set element may carry: a fixed table, never request text. */
static const char *nft_proto_name(uint8_t proto)
{
	switch (proto) {
	case IPPROTO_TCP: return "tcp";
	case IPPROTO_UDP: return "udp";
	default: return NULL;
	}
}

/* Copies the first line of S, without a leading "Error: ", into MSG. */
static void nft_first_line(const char *s, char *msg, size_t msglen)
{
	if (!msglen)
		return;
	if (!s || !*s) {
		snprintf(msg, msglen, "nft: command failed (no message from libnftables)");
		return;
	}
	while (*s == '\n')
		s++;
	if (strncmp(s, "Error: ", 7) == 0)
		s += 7;
	size_t n = strcspn(s, "\n");
	snprintf(msg, msglen, "nft: %.*s", (int)(n > 400 ? 400 : n), s);
	apply_sanitize(msg);
}

/* Runs CMDS (one or more commands: one transaction). 0, or -1 with the first
 * line of libnftables' message in msg. */
static int nft_exec(struct nft_state *s, const char *cmds, char *msg, size_t msglen)
{
	int r = nft_run_cmd_from_buffer(s->nft, cmds);
	const char *out = nft_ctx_get_output_buffer(s->nft);	/* read, so that it is reset */
	const char *err = nft_ctx_get_error_buffer(s->nft);
	(void)out;
	if (r != 0) {
		nft_first_line(err, msg, msglen);
		return -1;
	}
	if (err && *err) {
		char warn[512];
		nft_first_line(err, warn, sizeof warn);
		log_debug("%s", warn);
	}
	return 0;
}

/* "192.0.2.2 . tcp . 22" and its set, or -1 with msg for what the sets
 * cannot hold (ICMP). */
static int nft_elem(const struct nft_state *s, const struct apply_cmd *c, char *buf, size_t buflen,
		    const char **set, char *msg, size_t msglen)
{
	const char *proto = nft_proto_name(c->proto);
	if (!proto) {
		snprintf(msg, msglen, "the nft backend opens tcp and udp ports only, not %s",
			 c->proto == IPPROTO_ICMP ? "icmp" : c->proto == IPPROTO_ICMPV6 ? "icmpv6" : "this protocol");
		return -1;
	}
	if (c->family != AF_INET && c->family != AF_INET6) {
		snprintf(msg, msglen, "unknown address family");
		return -1;
	}
	char addr[INET6_ADDRSTRLEN];
	if (!inet_ntop(c->family, c->addr, addr, sizeof addr)) {
		snprintf(msg, msglen, "cannot format address");
		return -1;
	}
	int n = snprintf(buf, buflen, "%s . %s . %u", addr, proto, (unsigned)c->port);
	if (n < 0 || (size_t)n >= buflen) {
		snprintf(msg, msglen, "element too long");
		return -1;
	}
	*set = c->family == AF_INET ? "allow4" : "allow6";
	return 0;
}

/* ---- the backend ------------------------------------------------------------ */

static void nft_destroy(void *st)
{
	struct nft_state *s = st;
	if (!s)
		return;
	nft_gw_free(s->gw);
	if (s->nft)
		nft_ctx_free(s->nft);
	free(s->batch);
	free(s);
}

static void *nft_create(const struct apply_options *o, char *err, size_t errlen)
{
	const char *name = o->name && *o->name ? o->name : "logknock";
	if (strlen(name) >= NFT_NAME_MAX || strspn(name, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-") != strlen(name)) {
		snprintf(err, errlen, "bad table name '%.40s'", name);
		return NULL;
	}
	struct nft_state *s = calloc(1, sizeof *s);
	if (!s) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	memcpy(s->name, name, strlen(name) + 1);
	if (!(s->batch = malloc(NFT_BATCH_MAX))) {
		snprintf(err, errlen, "out of memory");
		free(s);
		return NULL;
	}
	s->guard_loopback = o->guard_loopback;
	/* The guard ports, each once; ICMP types are permitted grants for
	 * other backends, not ports this chain could guard. */
	for (size_t i = 0; i < o->nguard && i < APPLY_GUARD_MAX; i++) {
		if (!nft_proto_name(o->guard[i].proto))
			continue;
		if (o->guard[i].port == 0) {
			snprintf(err, errlen, "bad guard port");
			nft_destroy(s);
			return NULL;
		}
		size_t j;
		for (j = 0; j < s->nguard; j++)
			if (s->guard[j].proto == o->guard[i].proto && s->guard[j].port == o->guard[i].port)
				break;
		if (j == s->nguard) {
			s->guard[s->nguard].proto = o->guard[i].proto;
			s->guard[s->nguard++].port = o->guard[i].port;
		}
	}

	s->nft = nft_ctx_new(NFT_CTX_DEFAULT);
	if (!s->nft) {
		snprintf(err, errlen, "nft: cannot create a libnftables context");
		nft_destroy(s);
		return NULL;
	}
	if (nft_ctx_buffer_output(s->nft) != 0 || nft_ctx_buffer_error(s->nft) != 0) {
		snprintf(err, errlen, "nft: cannot buffer libnftables output");
		nft_destroy(s);
		return NULL;
	}

	/* One transaction: the table and sets if missing, the chain if
	 * missing, and its rules replaced (never duplicated). */
	char cmd[NFT_CREATE_MAX];
	size_t len = 0;
	int n = snprintf(cmd, sizeof cmd,
			 "add table inet %s\n"
			 "add set inet %s allow4 { type ipv4_addr . inet_proto . inet_service; flags timeout; }\n"
			 "add set inet %s allow6 { type ipv6_addr . inet_proto . inet_service; flags timeout; }\n"
			 "add chain inet %s guard { type filter hook input priority filter - 1; policy accept; }\n"
			 "flush chain inet %s guard\n",
			 s->name, s->name, s->name, s->name, s->name);
	if (n < 0 || (size_t)n >= sizeof cmd)
		goto too_long;
	len = (size_t)n;
	if (s->nguard) {
		n = snprintf(cmd + len, sizeof cmd - len,
			     "add rule inet %s guard ct state established,related accept\n"
			     "%s%s%s"
			     "add rule inet %s guard meta l4proto . th dport != {",
			     s->name, s->guard_loopback ? "" : "add rule inet ", s->guard_loopback ? "" : s->name,
			     s->guard_loopback ? "" : " guard iif lo accept\n", s->name);
		if (n < 0 || (size_t)n >= sizeof cmd - len)
			goto too_long;
		len += (size_t)n;
		for (size_t i = 0; i < s->nguard; i++) {
			n = snprintf(cmd + len, sizeof cmd - len, "%s %s . %u", i ? "," : "",
				     nft_proto_name(s->guard[i].proto), (unsigned)s->guard[i].port);
			if (n < 0 || (size_t)n >= sizeof cmd - len)
				goto too_long;
			len += (size_t)n;
		}
		n = snprintf(cmd + len, sizeof cmd - len,
			     " } accept\n"
			     "add rule inet %s guard ip saddr . meta l4proto . th dport @allow4 accept\n"
			     "add rule inet %s guard ip6 saddr . meta l4proto . th dport @allow6 accept\n"
			     "add rule inet %s guard counter drop comment \"guarded port, no logknock grant\"\n",
			     s->name, s->name, s->name);
		if (n < 0 || (size_t)n >= sizeof cmd - len)
			goto too_long;
	}
	char msg[512];
	if (nft_exec(s, cmd, msg, sizeof msg) < 0) {
		snprintf(err, errlen, "cannot set up table inet %s: %s", s->name, msg);
		nft_destroy(s);
		return NULL;
	}
	if (s->nguard) {
		char ports[APPLY_GUARD_MAX * 10 + 1];
		size_t pl = 0;
		ports[0] = '\0';
		for (size_t i = 0; i < s->nguard; i++) {
			n = snprintf(ports + pl, sizeof ports - pl, "%s%s/%u", i ? " " : "",
				     nft_proto_name(s->guard[i].proto), (unsigned)s->guard[i].port);
			if (n < 0 || (size_t)n >= sizeof ports - pl)
				break;
			pl += (size_t)n;
		}
		log_info("nft: table inet %s ready, guarding %s%s", s->name, ports,
			 s->guard_loopback ? ", loopback too" : " (not on loopback)");
	} else {
		log_warn("nft: table inet %s ready, but no --guard ports: its chain drops nothing, "
			 "and the ports stay as open as the rest of the ruleset leaves them", s->name);
	}
	if (o->ngw && !(s->gw = nft_gw_create(s->nft, s->name, o, err, errlen))) {
		nft_destroy(s);
		return NULL;
	}
	return s;

too_long:
	snprintf(err, errlen, "nft: set-up commands too long");
	nft_destroy(s);
	return NULL;
}

/* The commands of an open or a close of C, appended to buf at *len (one
 * transaction: see the top of this file); its set and element for the log.
 * 0, or -1 with msg. */
static int nft_cmd(const struct nft_state *s, const struct apply_cmd *c, char *buf, size_t buflen, size_t *len,
		   char *elem, const char **set, char *msg, size_t msglen)
{
	if (nft_elem(s, c, elem, NFT_ELEM_MAX, set, msg, msglen) < 0)
		return -1;
	int n;
	if (c->op == APPLY_OPEN)
		/* Make sure it exists, remove it, add it with the new timeout. */
		n = snprintf(buf + *len, buflen - *len,
			     "add element inet %s %s { %s timeout %lus }\n"
			     "delete element inet %s %s { %s }\n"
			     "add element inet %s %s { %s timeout %lus }\n",
			     s->name, *set, elem, (unsigned long)c->seconds,
			     s->name, *set, elem,
			     s->name, *set, elem, (unsigned long)c->seconds);
	else
		/* The add makes the delete succeed when the kernel has expired
		 * the element already; together they leave it absent either way. */
		n = snprintf(buf + *len, buflen - *len,
			     "add element inet %s %s { %s timeout 1s }\n"
			     "delete element inet %s %s { %s }\n",
			     s->name, *set, elem, s->name, *set, elem);
	if (n < 0 || (size_t)n >= buflen - *len) {
		snprintf(msg, msglen, "nft: command too long");
		return -1;
	}
	*len += (size_t)n;
	return 0;
}

static void nft_log_done(const struct nft_state *s, const struct apply_cmd *c, int refresh, const char *set,
			 const char *elem)
{
	unsigned long long id = (unsigned long long)c->id;
	if (c->op == APPLY_OPEN)
		log_info("open %llu: %s inet %s %s { %s timeout %lus }", id, refresh ? "refreshed" : "added",
			 s->name, set, elem, (unsigned long)c->seconds);
	else
		log_info("close %llu: removed inet %s %s { %s }", id, s->name, set, elem);
}

static int nft_open(void *st, const struct apply_cmd *c, int refresh, char *msg, size_t msglen)
{
	struct nft_state *s = st;
	char elem[NFT_ELEM_MAX], cmd[NFT_CMD_MAX];
	const char *set;
	size_t len = 0;
	if (c->via != APPLY_VIA_LOCAL)
		return nft_gw_open(s->gw, c, refresh, msg, msglen);
	struct apply_cmd o = *c;
	o.op = APPLY_OPEN;
	if (nft_cmd(s, &o, cmd, sizeof cmd, &len, elem, &set, msg, msglen) < 0 || nft_exec(s, cmd, msg, msglen) < 0)
		return -1;
	nft_log_done(s, &o, refresh, set, elem);
	return 0;
}

static int nft_close(void *st, const struct apply_cmd *c, char *msg, size_t msglen)
{
	struct nft_state *s = st;
	char elem[NFT_ELEM_MAX], cmd[NFT_CMD_MAX];
	const char *set;
	if (c->via != APPLY_VIA_LOCAL)
		return nft_gw_close(s->gw, c, msg, msglen);
	size_t len = 0;
	struct apply_cmd o = *c;
	o.op = APPLY_CLOSE;	/* flush of the protocol loop closes with its own copies */
	if (nft_cmd(s, &o, cmd, sizeof cmd, &len, elem, &set, msg, msglen) < 0 || nft_exec(s, cmd, msg, msglen) < 0)
		return -1;
	nft_log_done(s, &o, 0, set, elem);
	return 0;
}

/* Opens and closes that came together: one buffer, one transaction, one
 * netlink round trip and one cache fetch of libnftables instead of N.
 * All or nothing: the kernel commits a transaction whole or not at all. */
static int nft_batch(void *st, const struct apply_cmd *const *c, const int *refresh, size_t n, char *msg,
		     size_t msglen)
{
	struct nft_state *s = st;
	char elem[NFT_ELEM_MAX];
	const char *set;
	size_t len = 0;
	if (n > APPLY_BATCH_MAX) {
		snprintf(msg, msglen, "nft: batch too large");
		return -1;
	}
	for (size_t i = 0; i < n; i++)
		if (nft_cmd(s, c[i], s->batch, NFT_BATCH_MAX, &len, elem, &set, msg, msglen) < 0)
			return -1;
	if (nft_exec(s, s->batch, msg, msglen) < 0)
		return -1;
	for (size_t i = 0; i < n; i++) {
		char m[64];
		if (nft_elem(s, c[i], elem, sizeof elem, &set, m, sizeof m) == 0)
			nft_log_done(s, c[i], refresh[i], set, elem);
	}
	return 0;
}

static int nft_flush(void *st, const struct apply_cmd *c, char *msg, size_t msglen)
{
	struct nft_state *s = st;
	unsigned long long id = (unsigned long long)c->id;
	char cmd[NFT_CMD_MAX];
	int n = snprintf(cmd, sizeof cmd, "flush set inet %s allow4\nflush set inet %s allow6\n", s->name,
			 s->name);
	if (n < 0 || (size_t)n >= sizeof cmd) {
		snprintf(msg, msglen, "nft: command too long");
		return -1;
	}
	if (nft_exec(s, cmd, msg, msglen) < 0)
		return -1;
	log_info("flush %llu: emptied sets allow4 and allow6 of inet %s", id, s->name);
	return nft_gw_flush(s->gw, msg, msglen);
}

const struct apply_backend apply_backend_nft = {
	.name = "nft",
	.create = nft_create,
	.open = nft_open,
	.close = nft_close,
	.flush = nft_flush,
	.batch = nft_batch,
	.destroy = nft_destroy,
	.gateway = 1,
};
