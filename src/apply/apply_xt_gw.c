/* apply_xt_gw.c — forward and dnat grants for the iptables backend (issue 15),
 * in chains of their own, for IPv4 and IPv6 (CHAIN is --name uppercased):
 *
 *   filter  FORWARD (DOCKER-USER when it exists) -j CHAIN-FWD      (position 1)
 *           CHAIN-FWD  grants, newest first ("logknock:ID:DOOR"):
 *                        -s SRC -d TO -p tcp --dport N -j CONNMARK --or-mark 0x800000   (keep only)
 *                        -s SRC -d TO -p tcp --dport N -j RETURN
 *                        (dnat grants: TOPORT, and -m conntrack --ctstate DNAT)
 *                      -m conntrack --ctdir REPLY -j RETURN                    "logknock-reply"
 *                      -m connmark --mark 0x800000/0x800000 -j RETURN          "logknock-keep"
 *                      -d NET -p tcp --dport N -j DROP, per --gateway entry    "logknock-gwguard"
 *   nat     PREROUTING  -j CHAIN-DNAT:  -s SRC -p tcp --dport LISTEN -j DNAT --to-destination TO:TOPORT
 *           POSTROUTING -j CHAIN-MASQ:  -s SRC -d TO -p tcp --dport TOPORT -m conntrack --ctstate DNAT -j MASQUERADE
 *
 * As for the input side, a grant RETURNs to the admin's chain rather than
 * ACCEPTing: the admin's (or Docker's) own FORWARD rules still decide after
 * it, and this chain only takes away what no grant allows. With Docker,
 * whose FORWARD jumps to DOCKER-USER first, the guard goes there: Docker's
 * published ports (DNAT to a container, then FORWARD) are guarded by the
 * container's address and port.
 *
 * keep (default): a connection a grant let in carries conntrack mark bit
 * 0x800000 and passes after the grant is gone; keep=0: it does not get the
 * bit, and every packet needs the grant rule. The bit is this backend's;
 * an admin using connmark bit 23 for something else must not use keep.
 *
 * At start the structure is appended anew and the old copy deleted after,
 * so no moment lacks a guard; grants a previous run left stay.
 *
 * The ipset backend keeps its forward grants as entries of its own sets
 * (NAMEfk4/6, NAMEfx4/6: hash:ip,port,ip, with timeouts the kernel keeps),
 * matched here ahead of the guard; its dnat grants are rules as above.
 *
 * iptables rules have no timeout: the daemon's close ends a grant. Every
 * word of a rule is a parsed field or fixed text; argument vectors, no shell. */
#include "apply_xt_gw.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "apply_xt.h"
#include "log.h"

#define GW_MARK "0x800000"
#define GW_SUFFIX_MAX 5		/* "-DNAT" */

struct xt_gw {
	char fwd[XT_CHAIN_MAX + 1], dnat[XT_CHAIN_MAX + 1], masq[XT_CHAIN_MAX + 1];
	char fwset[32];		/* the ipset backend's forward sets' prefix; "" for none */
	int timeout_ms;
};


/* -N CHAIN in TABLE, where missing; 0, or -1 with msg. */
static int make_chain(int family, const char *table, const char *chain, int tmo, char *msg, size_t msglen)
{
	char *prog = (char *)xt_program(family);
	char *mk[] = {prog, "-w", "-t", (char *)table, "-N", (char *)chain, NULL};
	char nmsg[256];
	if (apply_xt_run(mk, tmo, nmsg, sizeof nmsg) == 0)
		return 0;
	char *ls[] = {prog, "-w", "-t", (char *)table, "-S", (char *)chain, NULL};
	if (apply_run_output(ls, tmo, NULL, msg, msglen) == 0)
		return 0;
	snprintf(msg, msglen, "%s", nmsg);
	return -1;
}

/* The jump PARENT -> CHAIN in TABLE at position 1, unless there already. */
static int jump(int family, const char *table, const char *parent, const char *chain, int tmo, char *msg,
		size_t msglen)
{
	char *prog = (char *)xt_program(family);
	char *chk[] = {prog, "-w", "-t", (char *)table, "-C", (char *)parent, "-j", (char *)chain, NULL};
	int st = apply_run_output(chk, tmo, NULL, msg, msglen);
	if (st == 0)
		return 0;
	if (st != 1)
		return -1;
	char *ins[] = {prog, "-w", "-t", (char *)table, "-I", (char *)parent, "1", "-j", (char *)chain, NULL};
	return apply_xt_run(ins, tmo, msg, msglen);
}

static int append_structure(struct xt_gw *g, int family, const struct apply_options *o, char *msg, size_t msglen);
static int delete_old(int family, char *listing, int tmo, char *msg, size_t msglen);

static int setup_family(struct xt_gw *g, int family, const struct apply_options *o, char *msg, size_t msglen)
{
	char *prog = (char *)xt_program(family);
	int tmo = g->timeout_ms;
	if (make_chain(family, "filter", g->fwd, tmo, msg, msglen) < 0 ||
	    make_chain(family, "nat", g->dnat, tmo, msg, msglen) < 0 ||
	    make_chain(family, "nat", g->masq, tmo, msg, msglen) < 0)
		return -1;
	/* The structure is rebuilt, grants stay (the daemon re-sends or closes
	 * them): the new rules are appended, then the old ones, listed before,
	 * deleted ("-D spec" removes the first match: the old copy), so that
	 * at no moment is a guard missing. */
	char *listing = NULL;
	char *ls[] = {prog, "-w", "-S", g->fwd, NULL};
	if (apply_run_output(ls, tmo, &listing, msg, msglen) != 0)
		return -1;
	int r = append_structure(g, family, o, msg, msglen);
	if (r == 0)
		r = delete_old(family, listing, tmo, msg, msglen);
	free(listing);
	if (r < 0)
		return -1;
	/* Docker's FORWARD sends everything through DOCKER-USER first. */
	char *du[] = {prog, "-w", "-S", "DOCKER-USER", NULL};
	char dmsg[128];
	const char *parent = apply_run_output(du, tmo, NULL, dmsg, sizeof dmsg) == 0 ? "DOCKER-USER" : "FORWARD";
	if (jump(family, "filter", parent, g->fwd, tmo, msg, msglen) < 0 ||
	    jump(family, "nat", "PREROUTING", g->dnat, tmo, msg, msglen) < 0 ||
	    jump(family, "nat", "POSTROUTING", g->masq, tmo, msg, msglen) < 0)
		return -1;
	log_info("%s: chains %s (from %s), %s and %s ready", prog, g->fwd, parent, g->dnat, g->masq);
	return 0;
}

/* The chain's own rules (reply, keep, one guard per --gateway entry of
 * FAMILY), appended. 0, or -1 with msg. */
static int append_structure(struct xt_gw *g, int family, const struct apply_options *o, char *msg, size_t msglen)
{
	char *prog = (char *)xt_program(family);
	int tmo = g->timeout_ms;
	char *reply[] = {prog, "-w", "-A", g->fwd, "-m", "conntrack", "--ctdir", "REPLY", "-m", "comment",
			 "--comment", XT_OWN_PREFIX "reply", "-j", "RETURN", NULL};
	char *keep[] = {prog, "-w", "-A", g->fwd, "-m", "connmark", "--mark", GW_MARK "/" GW_MARK, "-m", "comment",
			"--comment", XT_OWN_PREFIX "keep", "-j", "RETURN", NULL};
	if (apply_xt_run(reply, tmo, msg, msglen) < 0 || apply_xt_run(keep, tmo, msg, msglen) < 0)
		return -1;
	if (g->fwset[0]) {
		/* the ipset backend's forward grants: entries SRC,PROTO:PORT,TO */
		char keepset[40], nokeepset[40];
		snprintf(keepset, sizeof keepset, "%sfk%c", g->fwset, family == AF_INET ? '4' : '6');
		snprintf(nokeepset, sizeof nokeepset, "%sfx%c", g->fwset, family == AF_INET ? '4' : '6');
		char *mark[] = {prog, "-w", "-A", g->fwd, "-m", "set", "--match-set", keepset, "src,dst,dst", "-m",
				"comment", "--comment", XT_OWN_PREFIX "fwset", "-j", "CONNMARK", "--or-mark", GW_MARK, NULL};
		char *ret[] = {prog, "-w", "-A", g->fwd, "-m", "set", "--match-set", keepset, "src,dst,dst", "-m",
			       "comment", "--comment", XT_OWN_PREFIX "fwset", "-j", "RETURN", NULL};
		char *retx[] = {prog, "-w", "-A", g->fwd, "-m", "set", "--match-set", nokeepset, "src,dst,dst", "-m",
				"comment", "--comment", XT_OWN_PREFIX "fwset", "-j", "RETURN", NULL};
		if (apply_xt_run(mark, tmo, msg, msglen) < 0 || apply_xt_run(ret, tmo, msg, msglen) < 0 ||
		    apply_xt_run(retx, tmo, msg, msglen) < 0)
			return -1;
	}
	size_t n = 0;
	for (size_t i = 0; i < o->ngw; i++) {
		const struct apply_gw_allow *e = &o->gw[i];
		if (e->family != family)
			continue;
		char addr[INET6_ADDRSTRLEN + 5], a[INET6_ADDRSTRLEN], port[8];
		if (!inet_ntop(family, e->addr, a, sizeof a))
			continue;
		snprintf(addr, sizeof addr, "%s/%u", a, (unsigned)e->prefix);
		snprintf(port, sizeof port, "%u", (unsigned)e->port);
		char *gr[] = {prog, "-w", "-A", g->fwd, "-d", addr, "-p", e->proto == IPPROTO_UDP ? "udp" : "tcp",
			      "--dport", port, "-m", "comment", "--comment", XT_OWN_PREFIX "gwguard", "-j", "DROP", NULL};
		if (apply_xt_run(gr, tmo, msg, msglen) < 0)
			return -1;
		n++;
	}
	log_info("%s: chain %s: %zu guard rule%s", prog, g->fwd, n, n == 1 ? "" : "s");
	return 0;
}

/* Deletes the rules of LISTING (`iptables -S CHAIN`) that carry our own
 * comment: their words have no quotes and no spaces (we wrote them). */
static int delete_old(int family, char *listing, int tmo, char *msg, size_t msglen)
{
	for (char *line = listing, *next; line && *line; line = next) {
		next = strchr(line, '\n');
		if (next)
			*next++ = '\0';
		if (strncmp(line, "-A ", 3) != 0 || !strstr(line, "--comment " XT_OWN_PREFIX) || strchr(line, '"'))
			continue;
		char *argv[48], *save = NULL;
		size_t n = 0;
		argv[n++] = (char *)xt_program(family);
		argv[n++] = "-w";
		argv[n++] = "-D";
		strtok_r(line, " ", &save);	/* "-A" */
		for (char *w = strtok_r(NULL, " ", &save); w && n < sizeof argv / sizeof *argv - 1;
		     w = strtok_r(NULL, " ", &save))
			argv[n++] = w;
		argv[n] = NULL;
		if (apply_xt_run(argv, tmo, msg, msglen) < 0)
			return -1;
	}
	return 0;
}

struct xt_gw *xt_gw_create(const struct apply_options *o, const char *chain, const char *fwset, char *err,
			   size_t errlen)
{
	struct xt_gw *g = calloc(1, sizeof *g);
	if (!g) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	if (fwset && (size_t)snprintf(g->fwset, sizeof g->fwset, "%s", fwset) >= sizeof g->fwset - 3) {
		snprintf(err, errlen, "set name '%s' too long for its forward sets", fwset);
		free(g);
		return NULL;
	}
	g->timeout_ms = o->timeout_ms;
	if (strlen(chain) + GW_SUFFIX_MAX > XT_CHAIN_MAX) {
		snprintf(err, errlen, "iptables: chain name '%s' too long for its -FWD, -DNAT and -MASQ chains (at most %d)",
			 chain, XT_CHAIN_MAX - GW_SUFFIX_MAX);
		free(g);
		return NULL;
	}
	snprintf(g->fwd, sizeof g->fwd, "%s-FWD", chain);
	snprintf(g->dnat, sizeof g->dnat, "%s-DNAT", chain);
	snprintf(g->masq, sizeof g->masq, "%s-MASQ", chain);
	static const int fams[] = {AF_INET, AF_INET6};
	for (size_t f = 0; f < 2; f++) {
		char msg[512];
		if (setup_family(g, fams[f], o, msg, sizeof msg) < 0) {
			snprintf(err, errlen, "iptables: cannot set up the gateway chains: %s", msg);
			free(g);
			return NULL;
		}
	}
	return g;
}

void xt_gw_free(struct xt_gw *g)
{
	free(g);	/* the rules stay, as the input side's */
}

/* The rules of C, in the order they are inserted at position 1 (so the
 * last inserted comes first). */
#define GW_RULES_MAX 4
struct gw_rule {
	char *argv[40];
};
struct gw_rules {
	struct gw_rule r[GW_RULES_MAX];
	size_t n;
	char src[INET6_ADDRSTRLEN], to[INET6_ADDRSTRLEN], todest[INET6_ADDRSTRLEN + 10], port[8], toport[8],
		comment[96];
};

static void add_rule(struct xt_gw *g, struct gw_rules *rs, const struct apply_cmd *c, const char *op, int kind)
{
	/* kind: 0 forward/dnat RETURN, 1 CONNMARK, 2 DNAT, 3 MASQUERADE */
	char **v = rs->r[rs->n++].argv;
	size_t i = 0;
	int dnat = c->via == APPLY_VIA_DNAT;
	v[i++] = (char *)xt_program(c->family);
	v[i++] = "-w";
	v[i++] = "-t";
	v[i++] = kind >= 2 ? "nat" : "filter";
	v[i++] = (char *)op;
	v[i++] = kind == 2 ? g->dnat : kind == 3 ? g->masq : g->fwd;
	if (strcmp(op, "-I") == 0)
		v[i++] = "1";
	v[i++] = "-s";
	v[i++] = rs->src;
	if (kind != 2) {
		v[i++] = "-d";
		v[i++] = rs->to;
	}
	v[i++] = "-p";
	v[i++] = c->proto == IPPROTO_UDP ? "udp" : "tcp";
	v[i++] = "--dport";
	v[i++] = kind == 2 || !dnat ? rs->port : rs->toport;
	if (dnat && kind != 2) {
		v[i++] = "-m";
		v[i++] = "conntrack";
		v[i++] = "--ctstate";
		v[i++] = "DNAT";
	}
	v[i++] = "-m";
	v[i++] = "comment";
	v[i++] = "--comment";
	v[i++] = rs->comment;
	v[i++] = "-j";
	switch (kind) {
	case 0:
		v[i++] = "RETURN";
		break;
	case 1:
		v[i++] = "CONNMARK";
		v[i++] = "--or-mark";
		v[i++] = GW_MARK;
		break;
	case 2:
		v[i++] = "DNAT";
		v[i++] = "--to-destination";
		v[i++] = rs->todest;
		break;
	default:
		v[i++] = "MASQUERADE";
		break;
	}
	v[i] = NULL;
}

static int gw_rules(struct xt_gw *g, struct gw_rules *rs, const struct apply_cmd *c, const char *op, char *msg,
		    size_t msglen)
{
	memset(rs, 0, sizeof *rs);
	if ((c->family != AF_INET && c->family != AF_INET6) || (c->proto != IPPROTO_TCP && c->proto != IPPROTO_UDP) ||
	    !inet_ntop(c->family, c->addr, rs->src, sizeof rs->src) || !inet_ntop(c->family, c->to, rs->to, sizeof rs->to)) {
		snprintf(msg, msglen, "iptables: bad forward or dnat request");
		return -1;
	}
	snprintf(rs->port, sizeof rs->port, "%u", (unsigned)c->port);
	snprintf(rs->toport, sizeof rs->toport, "%u", (unsigned)c->toport);
	snprintf(rs->todest, sizeof rs->todest, c->family == AF_INET6 ? "[%s]:%u" : "%s:%u", rs->to,
		 (unsigned)c->toport);
	int n = snprintf(rs->comment, sizeof rs->comment, XT_GRANT_PREFIX "%llu:%s", (unsigned long long)c->id,
			 c->door);
	if (n < 0 || (size_t)n >= sizeof rs->comment) {
		snprintf(msg, msglen, "comment too long");
		return -1;
	}
	/* the forward chain's RETURN before its CONNMARK: inserted at 1, the
	 * mark then comes first */
	add_rule(g, rs, c, op, 0);
	if (!c->nokeep)
		add_rule(g, rs, c, op, 1);
	if (c->via == APPLY_VIA_DNAT) {
		if (c->masq)
			add_rule(g, rs, c, op, 3);
		add_rule(g, rs, c, op, 2);	/* the translation last: the path is ready when it starts */
	}
	return 0;
}

int xt_gw_open(struct xt_gw *g, const struct apply_cmd *c, int refresh, char *msg, size_t msglen)
{
	unsigned long long id = (unsigned long long)c->id;
	if (!g) {
		snprintf(msg, msglen, "iptables: no gateway chains (no --gateway destinations)");
		return -1;
	}
	if (refresh) {
		log_info("open %llu: rules in place; iptables rules have no timeout, the close ends them", id);
		return 0;
	}
	struct gw_rules chk, ins;
	if (gw_rules(g, &chk, c, "-C", msg, msglen) < 0 || gw_rules(g, &ins, c, "-I", msg, msglen) < 0)
		return -1;
	for (size_t i = 0; i < ins.n; i++) {
		int present = apply_run_output(chk.r[i].argv, g->timeout_ms, NULL, msg, msglen);
		if (present == 0)
			continue;
		if (present != 1)
			return -1;
		char desc[512];
		apply_describe_argv(ins.r[i].argv, desc, sizeof desc);
		if (apply_run(ins.r[i].argv, g->timeout_ms, msg, msglen) < 0)
			return -1;
		log_info("open %llu: %s", id, desc);
	}
	return 0;
}

int xt_gw_close(struct xt_gw *g, const struct apply_cmd *c, char *msg, size_t msglen)
{
	unsigned long long id = (unsigned long long)c->id;
	if (!g) {
		snprintf(msg, msglen, "iptables: no gateway chains (no --gateway destinations)");
		return -1;
	}
	struct gw_rules del, chk;
	if (gw_rules(g, &del, c, "-D", msg, msglen) < 0 || gw_rules(g, &chk, c, "-C", msg, msglen) < 0)
		return -1;
	/* the translation first, the path last: the reverse of open */
	for (size_t k = del.n; k-- > 0;) {
		char desc[512], dmsg[512];
		apply_describe_argv(del.r[k].argv, desc, sizeof desc);
		if (apply_run(del.r[k].argv, g->timeout_ms, dmsg, sizeof dmsg) == 0) {
			log_info("close %llu: %s", id, desc);
			continue;
		}
		/* not there (-C: status 1) is what a close wants */
		if (apply_run_output(chk.r[k].argv, g->timeout_ms, NULL, msg, msglen) != 1) {
			snprintf(msg, msglen, "%s", dmsg);
			return -1;
		}
	}
	return 0;
}

int xt_gw_flush(struct xt_gw *g, char *msg, size_t msglen)
{
	if (!g)
		return 0;
	static const int fams[] = {AF_INET, AF_INET6};
	long total = 0;
	for (size_t f = 0; f < 2; f++) {
		char *prog = (char *)xt_program(fams[f]);
		long n = xt_delete_by_comment(fams[f], g->fwd, XT_GRANT_PREFIX, g->timeout_ms, msg, msglen);
		if (n < 0)
			return -1;
		total += n;
		char *fd[] = {prog, "-w", "-t", "nat", "-F", g->dnat, NULL};
		char *fm[] = {prog, "-w", "-t", "nat", "-F", g->masq, NULL};
		if (apply_xt_run(fd, g->timeout_ms, msg, msglen) < 0 || apply_xt_run(fm, g->timeout_ms, msg, msglen) < 0)
			return -1;
	}
	log_info("flush: removed %ld forward grant rule%s from %s, emptied %s and %s", total, total == 1 ? "" : "s",
		 g->fwd, g->dnat, g->masq);
	return 0;
}
