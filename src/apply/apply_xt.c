/* apply_xt.c — the iptables chain shared by the iptables and ipset backends
 * (layout in apply_xt.h). Every change goes through apply_run(); only the
 * two questions whose answer is more than "it worked" — the listing of a
 * chain (-S) and whether a rule exists (-C, exit status 1 when not) — go
 * through apply_run_output(), which also keeps the command's stdout. */
#include "apply_xt.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/pidfd.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "log.h"

#define RULE_TOKENS_MAX 64		/* words of one rule in `iptables -S` */


const char *xt_program(int family)
{
	return family == AF_INET6 ? XT_IP6TABLES : XT_IPTABLES;
}

int xt_chain_name(const char *name, char *buf, size_t buflen)
{
	size_t n = strlen(name);
	if (n < 1 || n > XT_CHAIN_MAX || n >= buflen)
		return -1;
	for (size_t i = 0; i <= n; i++)
		buf[i] = (name[i] >= 'a' && name[i] <= 'z') ? (char)(name[i] - 'a' + 'A') : name[i];
	return 0;
}

/* ---- the listing of a chain -------------------------------------------------- */

/* Splits one line of `iptables -S` into words, in place: "..." quoting (as
 * iptables writes comments) removed, \" and \\ unescaped. The count, or -1. */
static int split_rule(char *line, char **tok, int max)
{
	int n = 0;
	char *p = line;
	for (;;) {
		while (*p == ' ')
			p++;
		if (!*p)
			return n;
		if (n == max)
			return -1;
		char *w = p, *d = p;
		tok[n++] = w;
		if (*p == '"') {
			p++;
			for (;;) {
				if (!*p)
					return -1;	/* unterminated */
				if (*p == '\\' && (p[1] == '"' || p[1] == '\\')) {
					*d++ = p[1];
					p += 2;
				} else if (*p == '"') {
					p++;
					break;
				} else {
					*d++ = *p++;
				}
			}
			if (*p && *p != ' ')
				return -1;
		} else {
			while (*p && *p != ' ')
				*d++ = *p++;
		}
		bool end = !*p;
		if (!end)
			p++;
		*d = '\0';
		if (end)
			return n;
	}
}

/* The comment of a rule's words, or NULL. */
static const char *rule_comment(char **tok, int n)
{
	for (int i = 0; i + 1 < n; i++)
		if (strcmp(tok[i], "--comment") == 0)
			return tok[i + 1];
	return NULL;
}

/* `iptables -S CHAIN` into *out (free it). 0, or -1 with msg. */
static int list_chain(int family, const char *chain, int timeout_ms, char **out, char *msg, size_t msglen)
{
	char *argv[] = {(char *)xt_program(family), "-w", "-S", (char *)chain, NULL};
	return apply_run_output(argv, timeout_ms, out, msg, msglen) == 0 ? 0 : -1;
}

/* Calls fn for every rule ("-A CHAIN ...") of the listing whose comment
 * starts with prefix, with its words; stops at the first failure. The number
 * of calls, or -1. */
static long each_rule(char *listing, const char *chain, const char *prefix,
		      int (*fn)(void *ctx, char **tok, int n, char *msg, size_t msglen), void *ctx, char *msg,
		      size_t msglen)
{
	long count = 0;
	size_t plen = strlen(prefix);
	for (char *line = listing, *next; line && *line; line = next) {
		next = strchr(line, '\n');
		if (next)
			*next++ = '\0';
		char *tok[RULE_TOKENS_MAX];
		int n = split_rule(line, tok, RULE_TOKENS_MAX);
		if (n < 2 || strcmp(tok[0], "-A") != 0 || strcmp(tok[1], chain) != 0)
			continue;
		const char *cm = rule_comment(tok, n);
		if (!cm || strncmp(cm, prefix, plen) != 0)
			continue;
		if (fn(ctx, tok, n, msg, msglen) < 0)
			return -1;
		count++;
	}
	return count;
}

struct del_ctx {
	int family, timeout_ms;
};

/* Deletes the rule of a listing by its specification: "-A CHAIN spec" →
 * "-D CHAIN spec", which removes the first rule that matches it. */
static int delete_rule(void *vctx, char **tok, int n, char *msg, size_t msglen)
{
	struct del_ctx *d = vctx;
	char *argv[RULE_TOKENS_MAX + 3];
	argv[0] = (char *)xt_program(d->family);
	argv[1] = "-w";
	argv[2] = "-D";
	for (int i = 1; i < n; i++)
		argv[i + 2] = tok[i];
	argv[n + 2] = NULL;
	return apply_run(argv, d->timeout_ms, msg, msglen);
}

long xt_delete_by_comment(int family, const char *chain, const char *prefix, int timeout_ms, char *msg,
			  size_t msglen)
{
	char *listing;
	if (list_chain(family, chain, timeout_ms, &listing, msg, msglen) < 0)
		return -1;
	struct del_ctx d = {.family = family, .timeout_ms = timeout_ms};
	long r = each_rule(listing, chain, prefix, delete_rule, &d, msg, msglen);
	free(listing);
	return r;
}

/* ---- setting the chain up ----------------------------------------------------- */

int apply_xt_run(char *const argv[], int timeout_ms, char *msg, size_t msglen)
{
	char desc[512];
	apply_describe_argv(argv, desc, sizeof desc);
	int r = apply_run(argv, timeout_ms, msg, msglen);
	if (r == 0)
		log_debug("ran %s", desc);
	return r;
}

int xt_setup(int family, const char *chain, const char *set, const struct apply_options *o, char *msg,
	     size_t msglen)
{
	char *prog = (char *)xt_program(family);
	char *ch = (char *)chain;
	int tmo = o->timeout_ms;

	/* The chain: -N fails when it exists, and then the listing works. */
	char nmsg[256];
	char *mk[] = {prog, "-w", "-N", ch, NULL};
	bool made = apply_xt_run(mk, tmo, nmsg, sizeof nmsg) == 0;
	char *listing;
	if (list_chain(family, chain, tmo, &listing, msg, msglen) < 0) {
		if (!made)
			snprintf(msg, msglen, "%s", nmsg);
		return -1;
	}
	if (made)
		log_info("%s: created chain %s", prog, chain);

	/* The chain's own rules, appended after whatever is there... */
	if (set) {
		char *sr[] = {prog, "-w", "-A", ch, "-m", "set", "--match-set", (char *)set, "src,dst",
			      "-m", "comment", "--comment", XT_OWN_PREFIX "set", "-j", "ACCEPT", NULL};
		if (apply_xt_run(sr, tmo, msg, msglen) < 0)
			goto fail;
	}
	/* Loopback is left to the admin's INPUT rules ("-i lo -j ACCEPT"),
	 * which come after our jump: see apply_nft.c. */
	if (!o->guard_loopback) {
		char *lr[] = {prog, "-w", "-A", ch, "-i", "lo", "-m", "comment", "--comment",
			      XT_OWN_PREFIX "loopback", "-j", "RETURN", NULL};
		if (apply_xt_run(lr, tmo, msg, msglen) < 0)
			goto fail;
	}
	size_t nguard = 0;
	for (size_t i = 0; i < o->nguard; i++) {
		if (o->guard[i].proto != IPPROTO_TCP && o->guard[i].proto != IPPROTO_UDP)
			continue;	/* an ICMP type: a permitted grant, no port to guard */
		nguard++;
		char port[8];
		snprintf(port, sizeof port, "%u", (unsigned)o->guard[i].port);
		char *proto = o->guard[i].proto == IPPROTO_UDP ? "udp" : "tcp";
		char *gr[] = {prog, "-w", "-A", ch, "-p", proto, "--dport", port, "-m", "conntrack",
			      "--ctstate", "NEW", "-m", "comment", "--comment", XT_OWN_PREFIX "guard",
			      "-j", "DROP", NULL};
		if (apply_xt_run(gr, tmo, msg, msglen) < 0)
			goto fail;
	}
	/* ...then those of the listing taken before, the old ones, deleted:
	 * "-D spec" removes the first match, which is the old copy. Grants stay,
	 * and at no moment is a guard missing. */
	struct del_ctx d = {.family = family, .timeout_ms = tmo};
	long old = each_rule(listing, chain, XT_OWN_PREFIX, delete_rule, &d, msg, msglen);
	if (old < 0)
		goto fail;
	free(listing);
	log_info("%s: chain %s: %s%s%zu guard rule%s (%ld old rule%s replaced)", prog, chain,
		 set ? "set rule, " : "", o->guard_loopback ? "" : "loopback return, ", nguard,
		 nguard == 1 ? "" : "s", old, old == 1 ? "" : "s");

	/* The jump from INPUT, where the admin may have moved it: left there. */
	char *chk[] = {prog, "-w", "-C", "INPUT", "-j", ch, NULL};
	int st = apply_run_output(chk, tmo, NULL, msg, msglen);
	if (st == 1) {
		char *ins[] = {prog, "-w", "-I", "INPUT", "1", "-j", ch, NULL};
		if (apply_xt_run(ins, tmo, msg, msglen) < 0)
			return -1;
		log_info("%s: inserted -j %s at the top of INPUT", prog, chain);
	} else if (st != 0) {
		return -1;
	}
	return 0;
fail:
	free(listing);
	return -1;
}
