/* apply_iptables.c — the iptables backend: one ACCEPT rule per grant in the
 * chain LOGKNOCK (--name, uppercased) of the filter table, for IPv4
 * (/usr/sbin/iptables) and IPv6 (/usr/sbin/ip6tables), always with -w.
 *
 *   INPUT     -j LOGKNOCK                                          (position 1)
 *   LOGKNOCK  -s 192.0.2.2 -p tcp --dport 22 -m comment --comment "logknock:17:ssh" -j ACCEPT
 *             ...                                                  (grants, newest first)
 *             -p tcp --dport 22 -m conntrack --ctstate NEW -m comment --comment logknock-guard -j DROP
 *
 * iptables rules have no timeout: the daemon's close ends a grant, so a
 * refresh changes nothing. Each grant is one rule, whatever is re-sent: an
 * open looks (-C) before it inserts. At start the chain is not flushed — the
 * grants a previous run left stay, the daemon re-sends or closes them — only
 * the guard rules are replaced (apply_xt.c). */
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

struct ipt {
	char chain[XT_CHAIN_MAX + 1];
	int timeout_ms;
	struct xt_gw *gw;	/* forward and dnat grants (apply_xt_gw.c); NULL without --gateway */
};

/* The argument vector of a grant's rule for OP (-I, -C, -D); every word
 * comes from a parsed field or is fixed text. */
struct grant_rule {
	char *argv[24];
	char addr[INET6_ADDRSTRLEN], port[8], comment[96];
};

static int grant_argv(struct grant_rule *r, const char *op, const char *chain, const struct apply_cmd *c,
		      char *msg, size_t msglen)
{
	if (!inet_ntop(c->family, c->addr, r->addr, sizeof r->addr)) {
		snprintf(msg, msglen, "cannot format address");
		return -1;
	}
	snprintf(r->port, sizeof r->port, "%u", (unsigned)c->port);
	int n = snprintf(r->comment, sizeof r->comment, XT_GRANT_PREFIX "%llu:%s", (unsigned long long)c->id,
			 c->door);
	if (n < 0 || (size_t)n >= sizeof r->comment) {
		snprintf(msg, msglen, "comment too long");
		return -1;
	}
	size_t i = 0;
	char **v = r->argv;
	v[i++] = (char *)xt_program(c->family);
	v[i++] = "-w";
	v[i++] = (char *)op;
	v[i++] = (char *)chain;
	if (strcmp(op, "-I") == 0)
		v[i++] = "1";
	v[i++] = "-s";
	v[i++] = r->addr;
	v[i++] = "-p";
	switch (c->proto) {
	case IPPROTO_TCP:
	case IPPROTO_UDP:
		v[i++] = c->proto == IPPROTO_TCP ? "tcp" : "udp";
		v[i++] = "--dport";
		break;
	case IPPROTO_ICMP:
		v[i++] = "icmp";
		v[i++] = "--icmp-type";
		break;
	case IPPROTO_ICMPV6:
		v[i++] = "ipv6-icmp";
		v[i++] = "--icmpv6-type";
		break;
	default:
		snprintf(msg, msglen, "unsupported protocol %u", (unsigned)c->proto);
		return -1;
	}
	v[i++] = r->port;
	v[i++] = "-m";
	v[i++] = "comment";
	v[i++] = "--comment";
	v[i++] = r->comment;
	v[i++] = "-j";
	v[i++] = "ACCEPT";
	v[i] = NULL;
	return 0;
}

static void *ipt_create(const struct apply_options *o, char *err, size_t errlen)
{
	struct ipt *t = calloc(1, sizeof *t);
	if (!t) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	t->timeout_ms = o->timeout_ms;
	if (xt_chain_name(o->name, t->chain, sizeof t->chain) < 0) {
		snprintf(err, errlen, "bad chain name '%s'", o->name);
		free(t);
		return NULL;
	}
	static const int fams[] = {AF_INET, AF_INET6};
	for (size_t f = 0; f < 2; f++) {
		char msg[512];
		if (xt_setup(fams[f], t->chain, NULL, o, msg, sizeof msg) < 0) {
			snprintf(err, errlen, "iptables: cannot set up chain %s: %s", t->chain, msg);
			free(t);
			return NULL;
		}
	}
	if (o->ngw && !(t->gw = xt_gw_create(o, t->chain, NULL, err, errlen))) {
		free(t);
		return NULL;
	}
	return t;
}

static int ipt_open(void *st, const struct apply_cmd *c, int refresh, char *msg, size_t msglen)
{
	struct ipt *t = st;
	unsigned long long id = (unsigned long long)c->id;
	if (c->via != APPLY_VIA_LOCAL)
		return xt_gw_open(t->gw, c, refresh, msg, msglen);
	if (refresh) {
		log_info("open %llu: rule in place; iptables rules have no timeout, the close ends it", id);
		return 0;
	}
	struct grant_rule r;
	if (grant_argv(&r, "-C", t->chain, c, msg, msglen) < 0)
		return -1;
	int present = apply_run_output(r.argv, t->timeout_ms, NULL, msg, msglen);
	if (present == 0) {
		log_info("open %llu: rule %s already in %s, not added again", id, r.comment, t->chain);
		return 0;
	}
	if (present != 1)
		return -1;
	if (grant_argv(&r, "-I", t->chain, c, msg, msglen) < 0)
		return -1;
	char desc[512];
	apply_describe_argv(r.argv, desc, sizeof desc);
	if (apply_run(r.argv, t->timeout_ms, msg, msglen) < 0)
		return -1;
	log_info("open %llu: %s", id, desc);
	return 0;
}

static int ipt_close(void *st, const struct apply_cmd *c, char *msg, size_t msglen)
{
	struct ipt *t = st;
	unsigned long long id = (unsigned long long)c->id;
	struct grant_rule r;
	if (c->via != APPLY_VIA_LOCAL)
		return xt_gw_close(t->gw, c, msg, msglen);
	if (grant_argv(&r, "-D", t->chain, c, msg, msglen) < 0)
		return -1;
	char desc[512];
	apply_describe_argv(r.argv, desc, sizeof desc);
	char dmsg[512];
	if (apply_run(r.argv, t->timeout_ms, dmsg, sizeof dmsg) == 0) {
		log_info("close %llu: %s", id, desc);
		return 0;
	}
	/* Did it fail because the rule is not there (-C: status 1)? */
	if (grant_argv(&r, "-C", t->chain, c, msg, msglen) < 0)
		return -1;
	if (apply_run_output(r.argv, t->timeout_ms, NULL, msg, msglen) != 1) {
		snprintf(msg, msglen, "%s", dmsg);
		return -1;
	}
	/* Not there as described; a rule of this ID with another door (a close
	 * sent without its door) is still this grant. */
	char prefix[40];
	snprintf(prefix, sizeof prefix, XT_GRANT_PREFIX "%llu:", id);
	long n = xt_delete_by_comment(c->family, t->chain, prefix, t->timeout_ms, msg, msglen);
	if (n < 0)
		return -1;
	if (n > 0)
		log_warn("close %llu: removed %ld rule%s of this id that differed from the request", id, n,
			 n == 1 ? "" : "s");
	else
		log_info("close %llu: no rule %s in %s, nothing to remove", id, r.comment, t->chain);
	return 0;
}

/* Every grant rule of the chain, in both families, whoever opened it; the
 * guard rules stay, so that the ports stay closed throughout. */
static int ipt_flush(void *st, const struct apply_cmd *c, char *msg, size_t msglen)
{
	struct ipt *t = st;
	static const int fams[] = {AF_INET, AF_INET6};
	long total = 0;
	for (size_t f = 0; f < 2; f++) {
		long n = xt_delete_by_comment(fams[f], t->chain, XT_GRANT_PREFIX, t->timeout_ms, msg, msglen);
		if (n < 0)
			return -1;
		total += n;
	}
	log_info("flush %llu: removed %ld grant rule%s from %s", (unsigned long long)c->id, total,
		 total == 1 ? "" : "s", t->chain);
	return xt_gw_flush(t->gw, msg, msglen);
}

static void ipt_destroy(void *st)
{
	struct ipt *t = st;
	if (t)
		xt_gw_free(t->gw);
	free(st);	/* the rules stay: grants outlive the applier until closed or flushed */
}

const struct apply_backend apply_backend_iptables = {
	.name = "iptables",
	.create = ipt_create,
	.open = ipt_open,
	.close = ipt_close,
	.flush = ipt_flush,
	.destroy = ipt_destroy,
	.gateway = 1,
};
