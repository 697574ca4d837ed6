/* fleet.c — appliers on other hosts over ssh (issue 16).
 *
 * A host's link is an applier (applier.c) whose program is the ssh binary:
 * ssh's stdin and stdout carry the applier protocol to the remote
 * logknock-apply, which the host's authorized_keys runs as a forced
 * command (contrib/fleet/). Nothing here is a transport of its own.
 *
 *  - One ssh process per host, started at once and never waited for: a
 *    host that is down or slow to answer delays no other (each has its own
 *    pipes, written without blocking) and is tried again with back-off
 *    (1 s doubling to FLEET_BACKOFF_MAX_US).
 *  - A request for a host whose link is down is not sent; the grant stays
 *    in the engine's table. So does one whose link went away before the
 *    answer. When the link is up again, the host gets a flush and then its
 *    grants that are still open, each for the time it has left.
 *  - A request the remote applier refused (it answered "error") is
 *    logged; a refused open drops that host's grant (as the local one's).
 */
#include "fleet.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "applier.h"
#include "engine.h"
#include "log.h"

#define FLEET_BACKOFF_MAX_US (10 * 1000000ULL)
#define FLEET_FLUSH_ID (UINT64_MAX >> 1)
#define FLEET_SSH "/usr/bin/ssh"

struct link {
	struct fleet *f;
	char name[CONFIG_HOST_MAX + 1];
	struct applier *ap;
	uint64_t ups;
	int lost;		/* requests not carried since the last time it was up */
	int64_t last_up_us;
};

struct fleet {
	struct link *l;
	size_t n;
	struct engine *e;
};

static int64_t now_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

void fleet_argv_free(char **argv)
{
	for (char **p = argv; p && *p; p++)
		free(*p);
	free(argv);
}

char **fleet_ssh_argv(const char *ssh, const struct fleet_host_conf *h)
{
	/* Every option ours: no ssh_config (-F none), no agent, X11, tty or
	 * forwarding; the host key checked, never learnt; a dead peer noticed
	 * in 15 s. The command is the forced command's business: the one
	 * given here is ignored by a host set up as contrib/fleet/ says. */
	enum { MAX = 48 };
	char **v = calloc(MAX, sizeof *v);
	size_t n = 0;
	char buf[CONFIG_HOST_MAX + 4200];
	if (!v)
		return NULL;
#define ADD(s)                                         \
	do {                                           \
		if (n + 1 >= MAX || !(v[n++] = strdup(s))) \
			goto oom;                      \
	} while (0)
	ADD(ssh);
	ADD("-F");
	ADD("none");
	ADD("-T");
	ADD("-x");
	ADD("-a");
	ADD("-o");
	ADD("BatchMode=yes");
	ADD("-o");
	ADD("StrictHostKeyChecking=yes");
	ADD("-o");
	ADD("UpdateHostKeys=no");
	ADD("-o");
	ADD("ClearAllForwardings=yes");
	ADD("-o");
	ADD("ConnectTimeout=5");
	ADD("-o");
	ADD("ServerAliveInterval=5");
	ADD("-o");
	ADD("ServerAliveCountMax=3");
	ADD("-o");
	ADD("LogLevel=ERROR");
	if (h->key) {
		ADD("-o");
		ADD("IdentitiesOnly=yes");
		ADD("-i");
		ADD(h->key);
	}
	if (h->known_hosts) {
		snprintf(buf, sizeof buf, "UserKnownHostsFile=%s", h->known_hosts);
		ADD("-o");
		ADD(buf);
		ADD("-o");
		ADD("GlobalKnownHostsFile=none");
	}
	if (h->port) {
		snprintf(buf, sizeof buf, "%u", (unsigned)h->port);
		ADD("-p");
		ADD(buf);
	}
	if (h->user) {
		ADD("-l");
		ADD(h->user);
	}
	ADD("--");
	ADD(h->host);
	ADD("logknock-apply");
#undef ADD
	v[n] = NULL;
	return v;
oom:
	fleet_argv_free(v);
	return NULL;
}

static struct link *find(const struct fleet *f, const char *host)
{
	for (size_t i = 0; f && i < f->n; i++)
		if (strcmp(f->l[i].name, host) == 0)
			return &f->l[i];
	return NULL;
}

static void send_flush(struct link *l)
{
	struct apply_cmd flush = {.op = APPLY_FLUSH, .id = FLEET_FLUSH_ID};
	if (applier_send(l->ap, &flush) < 0)
		l->lost = 1;
}

static void on_ready(void *ctx)
{
	struct link *l = ctx;
	l->ups++;
	l->last_up_us = now_us();
	if (l->ups == 1 && !l->lost) {
		log_info("fleet: %s: link up", l->name);
		return;	/* what was sent meanwhile waited in ssh's pipe: nothing lost */
	}
	/* A new remote applier: it holds nothing we know of. Whatever the old
	 * one left goes (a close missed while down among it), then every grant
	 * of this host still open comes back for the time it has left. */
	l->lost = 0;
	send_flush(l);
	size_t n = l->f->e ? engine_resend_host(l->f->e, l->name, now_us()) : 0;
	log_info("fleet: %s: link up again; its %zu open grant(s) sent again", l->name, n);
}

static void on_reply(void *ctx, const struct apply_cmd *cmd, int ok, const char *msg)
{
	struct link *l = ctx;
	if (ok)
		return;
	if (applier_link(l->ap) == 0) {
		/* The link went away first: not the host's answer. The grant
		 * stays and is sent again when the link is back. */
		if (!l->lost)
			log_warn("fleet: %s: link down (%s); its grants are sent again when it is back", l->name, msg);
		l->lost = 1;
		return;
	}
	static const char *const ops[] = {"open", "close", "flush"};
	log_err("fleet: %s: %s %llu refused: %s", l->name, (unsigned)cmd->op < 3 ? ops[cmd->op] : "request",
		(unsigned long long)cmd->id, msg);
	if (cmd->op == APPLY_OPEN && l->f->e)
		engine_grant_failed(l->f->e, cmd->id);
}

int fleet_send(void *ctx, const char *host, const struct apply_cmd *cmd)
{
	struct link *l = find(ctx, host);
	if (!l) {
		/* a grant of a host a reload removed from appliers: */
		log_debug("fleet: no applier %s: request %llu not sent", host, (unsigned long long)cmd->id);
		return -1;
	}
	if (applier_link(l->ap) == 0 || applier_send(l->ap, cmd) < 0) {
		l->lost = 1;
		return -1;
	}
	return 0;
}

struct fleet *fleet_new(sd_event *ev, const struct config *cfg, int *err)
{
	*err = 0;
	if (!cfg->nhosts)
		return NULL;
	struct fleet *f = calloc(1, sizeof *f);
	if (!f || !(f->l = calloc(cfg->nhosts, sizeof *f->l))) {
		free(f);
		log_err("out of memory");
		*err = 1;
		return NULL;
	}
	const char *ssh = cfg->ssh_program ? cfg->ssh_program : FLEET_SSH;
	for (size_t i = 0; i < cfg->nhosts; i++) {
		struct link *l = &f->l[f->n];
		char **argv = fleet_ssh_argv(ssh, &cfg->hosts[i]);
		l->f = f;
		snprintf(l->name, sizeof l->name, "%s", cfg->hosts[i].name);
		if (!argv || !(l->ap = applier_new(ev, argv, on_reply, l))) {
			fleet_argv_free(argv);
			log_err("fleet: %s: cannot start %s", l->name, ssh);
			fleet_free(f);
			*err = 1;
			return NULL;
		}
		fleet_argv_free(argv);
		f->n++;
		applier_set_backoff_max(l->ap, FLEET_BACKOFF_MAX_US);
		char what[CONFIG_HOST_MAX + 32];
		snprintf(what, sizeof what, "ssh link to %s", l->name);
		applier_set_name(l->ap, what);
		applier_on_ready(l->ap, on_ready);
		send_flush(l);
		log_info("fleet: %s: connecting to %s%s%s", l->name, cfg->hosts[i].user ? cfg->hosts[i].user : "",
			 cfg->hosts[i].user ? "@" : "", cfg->hosts[i].host);
	}
	return f;
}

void fleet_set_engine(struct fleet *f, struct engine *e)
{
	if (f)
		f->e = e;
}

size_t fleet_nhosts(const struct fleet *f)
{
	return f ? f->n : 0;
}

void fleet_link_info(const struct fleet *f, size_t i, struct fleet_link_info *out)
{
	static const char *const states[] = {"down", "connecting", "up"};
	const struct link *l = &f->l[i];
	struct applier_info ai;
	applier_info(l->ap, &ai);
	int st = applier_link(l->ap);
	*out = (struct fleet_link_info){.name = l->name, .state = states[st < 0 || st > 2 ? 0 : st],
					.pid = ai.pid, .ups = l->ups, .requests = ai.requests,
					.errors = ai.errors, .pending = ai.pending, .last_up_us = l->last_up_us};
}

void fleet_summary(const struct fleet *f, char *buf, size_t len)
{
	size_t n = 0;
	if (len)
		buf[0] = '\0';
	for (size_t i = 0; f && i < f->n && n < len; i++) {
		struct fleet_link_info li;
		fleet_link_info(f, i, &li);
		int w = snprintf(buf + n, len - n, "%s%s %s", i ? ", " : "", li.name, li.state);
		if (w < 0)
			break;
		n += (size_t)w;
	}
}

void fleet_drain(struct fleet *f, int timeout_ms)
{
	for (size_t i = 0; f && i < f->n; i++)
		if (applier_link(f->l[i].ap) == 2 && applier_drain(f->l[i].ap, timeout_ms))
			log_warn("fleet: %s did not answer every request before stopping", f->l[i].name);
}

void fleet_free(struct fleet *f)
{
	if (!f)
		return;
	for (size_t i = 0; i < f->n; i++)
		applier_free(f->l[i].ap);
	free(f->l);
	free(f);
}
