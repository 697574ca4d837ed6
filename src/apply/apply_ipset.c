/* apply_ipset.c — the ipset backend: a grant is an entry of a set with its
 * own timeout, and the kernel removes it when the time is up, even if the
 * daemon is gone.
 *
 *   ipset create logknock4 hash:ip,port family inet timeout 0 -exist   (logknock6: inet6)
 *   ipset add logknock4 192.0.2.2,tcp:22 timeout 30 -exist            open, and refresh
 *   ipset del logknock4 192.0.2.2,tcp:22 -exist                       close
 *   ipset flush logknock4                                             flush
 *
 * `-exist` makes an add of an entry already there replace its timeout, which
 * is what a refresh (and an open re-sent after a restart) needs.
 * Requests that arrive together are one `ipset restore` (the same add and
 * del lines on its stdin): one program run instead of one each. ipset
 * restore is not atomic, but every line is idempotent (-exist), so after a
 * failed batch the protocol loop applies each request alone again. The sets are
 * used by the chain LOGKNOCK of iptables/ip6tables (apply_xt.c):
 *
 *   INPUT     -j LOGKNOCK                                           (position 1)
 *   LOGKNOCK  -m set --match-set logknock4 src,dst -m comment --comment logknock-set -j ACCEPT
 *             -p tcp --dport 22 -m conntrack --ctstate NEW -m comment --comment logknock-guard -j DROP
 *
 * ICMP grants are entries icmp:TYPE/0 (ipv6-icmp:TYPE/0): ipset matches the
 * code too, and the protocol carries only the type, so only code 0 is let
 * through (echo request: 8/0, 128/0). */
#include "apply_backend.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "apply_xt.h"
#include "apply_xt_gw.h"
#include "log.h"

#define IPSET "/usr/sbin/ipset"
#define IPSET_NAME_MAX 31		/* IPSET_MAXNAMELEN - 1 */
#define IPSET_TIMEOUT_MAX 2147483	/* seconds; the kernel refuses more */

struct ips {
	char chain[XT_CHAIN_MAX + 1];
	char set4[IPSET_NAME_MAX + 1], set6[IPSET_NAME_MAX + 1];
	int timeout_ms;
	/* forward and dnat grants: iptables rules (apply_xt_gw.c), as a DNAT
	 * needs its own target anyway; NULL without --gateway */
	struct xt_gw *gw;
	char name[IPSET_NAME_MAX + 1];	/* the forward sets' prefix (o->name) */
};

/* The forward grants' sets after the name: keep 4, 6, then keep=0 4, 6. */
static const char *const fwsets[] = {"fk4", "fk6", "fx4", "fx6"};

/* The forward set of C and its entry "192.0.2.2,tcp:22,10.0.0.2". */
static int fw_entry(const struct ips *s, const struct apply_cmd *c, char *set, size_t setlen, char *ent,
		    size_t entlen, char *msg, size_t msglen)
{
	char src[INET6_ADDRSTRLEN], to[INET6_ADDRSTRLEN];
	if (!inet_ntop(c->family, c->addr, src, sizeof src) || !inet_ntop(c->family, c->to, to, sizeof to) ||
	    (c->proto != IPPROTO_TCP && c->proto != IPPROTO_UDP)) {
		snprintf(msg, msglen, "ipset: bad forward request");
		return -1;
	}
	snprintf(set, setlen, "%s%s", s->name, fwsets[(c->nokeep ? 2 : 0) + (c->family == AF_INET6)]);
	snprintf(ent, entlen, "%s,%s:%u,%s", src, c->proto == IPPROTO_TCP ? "tcp" : "udp", (unsigned)c->port, to);
	return 0;
}

static const char *set_of(const struct ips *s, int family)
{
	return family == AF_INET6 ? s->set6 : s->set4;
}

/* "192.0.2.2,tcp:22", "2001:db8::2,ipv6-icmp:128/0" */
static int entry(const struct apply_cmd *c, char *buf, size_t buflen, char *msg, size_t msglen)
{
	char addr[INET6_ADDRSTRLEN];
	if (!inet_ntop(c->family, c->addr, addr, sizeof addr)) {
		snprintf(msg, msglen, "cannot format address");
		return -1;
	}
	const char *proto, *code = "";
	switch (c->proto) {
	case IPPROTO_TCP: proto = "tcp"; break;
	case IPPROTO_UDP: proto = "udp"; break;
	case IPPROTO_ICMP: proto = "icmp"; code = "/0"; break;
	case IPPROTO_ICMPV6: proto = "ipv6-icmp"; code = "/0"; break;
	default:
		snprintf(msg, msglen, "unsupported protocol %u", (unsigned)c->proto);
		return -1;
	}
	int n = snprintf(buf, buflen, "%s,%s:%u%s", addr, proto, (unsigned)c->port, code);
	if (n < 0 || (size_t)n >= buflen) {
		snprintf(msg, msglen, "entry too long");
		return -1;
	}
	return 0;
}

static int run(char *const argv[], int timeout_ms, const char *what, unsigned long long id, char *msg,
	       size_t msglen)
{
	char desc[512];
	apply_describe_argv(argv, desc, sizeof desc);
	if (apply_run(argv, timeout_ms, msg, msglen) < 0)
		return -1;
	if (what)
		log_info("%s %llu: %s", what, id, desc);
	else
		log_info("%s", desc);
	return 0;
}

static void *ips_create(const struct apply_options *o, char *err, size_t errlen)
{
	struct ips *s = calloc(1, sizeof *s);
	if (!s) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	s->timeout_ms = o->timeout_ms;
	int n4 = snprintf(s->set4, sizeof s->set4, "%s4", o->name);
	int n6 = snprintf(s->set6, sizeof s->set6, "%s6", o->name);
	if (n4 < 0 || (size_t)n4 >= sizeof s->set4 || n6 < 0 || (size_t)n6 >= sizeof s->set6 ||
	    xt_chain_name(o->name, s->chain, sizeof s->chain) < 0) {
		snprintf(err, errlen, "bad set name '%s'", o->name);
		free(s);
		return NULL;
	}
	char msg[512];
	static const int fams[] = {AF_INET, AF_INET6};
	for (size_t f = 0; f < 2; f++) {
		/* The sets first: the rules refer to them. */
		char *mk[] = {IPSET, "create", (char *)set_of(s, fams[f]), "hash:ip,port", "family",
			      fams[f] == AF_INET ? "inet" : "inet6", "timeout", "0", "-exist", NULL};
		if (run(mk, s->timeout_ms, NULL, 0, msg, sizeof msg) < 0) {
			snprintf(err, errlen, "ipset: cannot create set %s: %s", set_of(s, fams[f]), msg);
			free(s);
			return NULL;
		}
	}
	for (size_t f = 0; f < 2; f++) {
		if (xt_setup(fams[f], s->chain, set_of(s, fams[f]), o, msg, sizeof msg) < 0) {
			snprintf(err, errlen, "ipset: cannot set up chain %s: %s", s->chain, msg);
			free(s);
			return NULL;
		}
		/* Grant rules in the chain were left by the iptables backend
		 * (the same chain, before a switch of backend): nothing would
		 * ever close them. */
		long n = xt_delete_by_comment(fams[f], s->chain, XT_GRANT_PREFIX, s->timeout_ms, msg, sizeof msg);
		if (n < 0) {
			snprintf(err, errlen, "ipset: cannot clean chain %s: %s", s->chain, msg);
			free(s);
			return NULL;
		}
		if (n > 0)
			log_warn("%s: removed %ld grant rule%s of the iptables backend from %s", xt_program(fams[f]),
				 n, n == 1 ? "" : "s", s->chain);
	}
	if (o->ngw) {
		/* forward grants: entries of sets of their own (dnat: iptables rules) */
		for (size_t i = 0; i < 4; i++) {
			char set[IPSET_NAME_MAX + 8];
			int n = snprintf(set, sizeof set, "%s%s", o->name, fwsets[i]);
			if (n < 0 || n > IPSET_NAME_MAX) {
				snprintf(err, errlen, "ipset: set name '%s%s' too long", o->name, fwsets[i]);
				free(s);
				return NULL;
			}
			char *mk[] = {IPSET, "create", set, "hash:ip,port,ip", "family", i % 2 ? "inet6" : "inet",
				      "timeout", "0", "-exist", NULL};
			if (run(mk, s->timeout_ms, NULL, 0, msg, sizeof msg) < 0) {
				snprintf(err, errlen, "ipset: cannot create set %s: %s", set, msg);
				free(s);
				return NULL;
			}
		}
		snprintf(s->name, sizeof s->name, "%s", o->name);
		if (!(s->gw = xt_gw_create(o, s->chain, s->name, err, errlen))) {
			free(s);
			return NULL;
		}
	}
	return s;
}

/* The entry of C and its time for an add, clamped to what ipset allows. */
static int entry_time(const struct apply_cmd *c, char *ent, size_t entlen, uint32_t *t, char *msg, size_t msglen)
{
	if (entry(c, ent, entlen, msg, msglen) < 0)
		return -1;
	*t = c->seconds;
	if (c->op == APPLY_OPEN && *t > IPSET_TIMEOUT_MAX) {
		/* The daemon's close still comes on time; the kernel's end is earlier. */
		log_warn("open %llu: %lu s is more than ipset allows; the entry expires after %d s unless refreshed",
			 (unsigned long long)c->id, (unsigned long)*t, IPSET_TIMEOUT_MAX);
		*t = IPSET_TIMEOUT_MAX;
	}
	return 0;
}

static int ips_open(void *st, const struct apply_cmd *c, int refresh, char *msg, size_t msglen)
{
	struct ips *s = st;
	unsigned long long id = (unsigned long long)c->id;
	char ent[96], secs[16];
	uint32_t t;
	struct apply_cmd o = *c;
	o.op = APPLY_OPEN;
	if (c->via == APPLY_VIA_FORWARD && s->gw) {
		char set[IPSET_NAME_MAX + 8], fe[128];
		if (fw_entry(s, c, set, sizeof set, fe, sizeof fe, msg, msglen) < 0)
			return -1;
		snprintf(secs, sizeof secs, "%lu",
			 (unsigned long)(c->seconds > IPSET_TIMEOUT_MAX ? IPSET_TIMEOUT_MAX : c->seconds));
		char *argv[] = {IPSET, "add", set, fe, "timeout", secs, "-exist", NULL};
		return run(argv, s->timeout_ms, refresh ? "open (refresh)" : "open", id, msg, msglen);
	}
	if (c->via != APPLY_VIA_LOCAL)
		return xt_gw_open(s->gw, c, refresh, msg, msglen);
	if (entry_time(&o, ent, sizeof ent, &t, msg, msglen) < 0)
		return -1;
	snprintf(secs, sizeof secs, "%lu", (unsigned long)t);
	char *argv[] = {IPSET, "add", (char *)set_of(s, c->family), ent, "timeout", secs, "-exist", NULL};
	return run(argv, s->timeout_ms, refresh ? "open (refresh)" : "open", id, msg, msglen);
}

static int ips_close(void *st, const struct apply_cmd *c, char *msg, size_t msglen)
{
	struct ips *s = st;
	char ent[96];
	if (c->via == APPLY_VIA_FORWARD && s->gw) {
		char set[IPSET_NAME_MAX + 8], fe[128];
		if (fw_entry(s, c, set, sizeof set, fe, sizeof fe, msg, msglen) < 0)
			return -1;
		char *argv[] = {IPSET, "del", set, fe, "-exist", NULL};
		return run(argv, s->timeout_ms, "close", (unsigned long long)c->id, msg, msglen);
	}
	if (c->via != APPLY_VIA_LOCAL)
		return xt_gw_close(s->gw, c, msg, msglen);
	if (entry(c, ent, sizeof ent, msg, msglen) < 0)
		return -1;
	/* -exist: an entry the kernel has already expired is no error. */
	char *argv[] = {IPSET, "del", (char *)set_of(s, c->family), ent, "-exist", NULL};
	return run(argv, s->timeout_ms, "close", (unsigned long long)c->id, msg, msglen);
}

static int ips_flush(void *st, const struct apply_cmd *c, char *msg, size_t msglen)
{
	struct ips *s = st;
	static const int fams[] = {AF_INET, AF_INET6};
	for (size_t f = 0; f < 2; f++) {
		char *argv[] = {IPSET, "flush", (char *)set_of(s, fams[f]), NULL};
		if (run(argv, s->timeout_ms, "flush", (unsigned long long)c->id, msg, msglen) < 0)
			return -1;
	}
	for (size_t i = 0; s->gw && i < 4; i++) {
		char set[IPSET_NAME_MAX + 8];
		snprintf(set, sizeof set, "%s%s", s->name, fwsets[i]);
		char *argv[] = {IPSET, "flush", set, NULL};
		if (run(argv, s->timeout_ms, "flush", (unsigned long long)c->id, msg, msglen) < 0)
			return -1;
	}
	return xt_gw_flush(s->gw, msg, msglen);
}

#define IPS_LINE_MAX 160	/* "add logknock4 ADDR,ipv6-icmp:255/0 timeout 2147483 -exist" */

/* Opens and closes that came together: their add and del lines, one
 * `ipset restore`. */
static int ips_batch(void *st, const struct apply_cmd *const *c, const int *refresh, size_t n, char *msg,
		     size_t msglen)
{
	struct ips *s = st;
	static char buf[APPLY_BATCH_MAX * IPS_LINE_MAX];
	char ents[APPLY_BATCH_MAX][96];
	size_t len = 0;
	if (n > APPLY_BATCH_MAX) {
		snprintf(msg, msglen, "ipset: batch too large");
		return -1;
	}
	for (size_t i = 0; i < n; i++) {
		uint32_t t;
		if (entry_time(c[i], ents[i], sizeof ents[i], &t, msg, msglen) < 0)
			return -1;
		int k = c[i]->op == APPLY_OPEN
				? snprintf(buf + len, sizeof buf - len, "add %s %s timeout %lu -exist\n",
					   set_of(s, c[i]->family), ents[i], (unsigned long)t)
				: snprintf(buf + len, sizeof buf - len, "del %s %s -exist\n", set_of(s, c[i]->family),
					   ents[i]);
		if (k < 0 || (size_t)k >= sizeof buf - len) {
			snprintf(msg, msglen, "ipset: batch too long");
			return -1;
		}
		len += (size_t)k;
	}
	char *argv[] = {IPSET, "restore", NULL};
	if (apply_run_input(argv, buf, len, s->timeout_ms, msg, msglen) < 0)
		return -1;
	for (size_t i = 0; i < n; i++) {
		unsigned long long id = (unsigned long long)c[i]->id;
		if (c[i]->op == APPLY_OPEN)
			log_info("%s %llu: ipset restore: add %s %s", refresh[i] ? "open (refresh)" : "open", id,
				 set_of(s, c[i]->family), ents[i]);
		else
			log_info("close %llu: ipset restore: del %s %s", id, set_of(s, c[i]->family), ents[i]);
	}
	return 0;
}

static void ips_destroy(void *st)
{
	struct ips *s = st;
	if (s)
		xt_gw_free(s->gw);
	free(st);	/* the sets and rules stay; the kernel expires the entries */
}

const struct apply_backend apply_backend_ipset = {
	.name = "ipset",
	.create = ips_create,
	.open = ips_open,
	.close = ips_close,
	.flush = ips_flush,
	.batch = ips_batch,
	.gateway = 1,
	.destroy = ips_destroy,
};
