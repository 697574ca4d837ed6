/* daemon.c — the live daemon: one sd-event loop holding the sources, the
 * applier, one timer for the engine's next deadline, and the signals.
 * Nothing polls and nothing sleeps: every input is a descriptor in the loop.
 *
 *   SIGHUP           reload the configuration (a bad one is reported and the
 *                    running one kept; attempts at unchanged doors survive)
 *   SIGTERM, SIGINT  stop: positions saved, open grants closed (unless
 *                    keep_open_on_exit: true)
 */
#include "daemon.h"
#include "daemon_trust.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <linux/capability.h>
#include <netinet/in.h>
#include <pwd.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <systemd/sd-daemon.h>
#include <systemd/sd-event.h>
#include <time.h>
#include <unistd.h>

#include "apply_conf.h"
#include "applier.h"
#include "fleet.h"
#include "control.h"
#include "engine.h"
#include "knock.h"
#include "log.h"
#include "metrics.h"
#include "onetime.h"
#include "perm.h"
#include "source.h"
#include "state.h"

#define MAX_SOURCES 64
/* Requests the firewall refused are tried again this often, this many times. */
#define RETRY_US (2 * 1000000ULL)
#define RETRY_OPEN_MAX 3
#define RETRY_CLOSE_MAX 5
#define RETRY_QUEUE 256
#define GRANTS_STATE "grants"
#define GRANTS_STATE_MAX (1 << 20)
/* Malformed lines: at most this many warnings a minute, then a count. */
#define BAD_WARN_PER_MIN 10
#ifndef LOGKNOCK_RUNDIR
#define LOGKNOCK_RUNDIR "/run/logknock"
#endif
#ifndef PACKAGE_VERSION
#define PACKAGE_VERSION "unknown"
#endif
#define CONTROL_DEFAULT LOGKNOCK_RUNDIR "/control"

struct daemon;

/* What a source's lines are handed to. */
struct source_ctx {
	struct daemon *d;
	int skip_warm;	/* started by a reload: the engine kept its attempts */
	/* for status and metrics (warm lines, read again, are not counted) */
	char name[PATH_MAX + 8];	/* "kmsg", "journal:kernel", "file:/var/log/kern.log" */
	uint64_t lines, malformed, future;
	struct source *src;	/* the source itself (its host of the line, fleet) */
};

typedef char guard_set[APPLY_GUARD_MAX][12];	/* "tcp/22", "icmpv6/128" */
typedef char gateway_set[APPLY_GW_MAX][64];	/* "tcp/22,2001:db8::2" (--gateway) */

struct daemon {
	sd_event *ev;
	const struct daemon_opts *o;
	struct config cfg;
	const char *state_dir;	/* NULL: positions are not kept; else state_dir_buf */
	char state_dir_buf[PATH_MAX];
	struct state_store *store;	/* its writer; NULL with state_dir */
	struct state_file grants_state;	/* registered first: written before the positions */
	uint64_t lost_gone;	/* records lost by sources stopped since (reloads) */
	int lock_fd;		/* STATE_LOCK, held for the daemon's life; -1: none */
	struct engine *engine;
	struct applier *ap;
	struct fleet *fleet;	/* appliers: over ssh (issue 16); NULL: none */
	guard_set guards;	/* the ports the applier was started to guard (none with applier.config) */
	size_t nguards;
	gateway_set gws;	/* the forward and dnat targets it was started with (none with applier.config) */
	size_t ngws;
	struct source *src[MAX_SOURCES];
	struct source_ctx src_ctx[MAX_SOURCES];
	size_t nsrc;
	sd_event_source *timer;
	uint64_t timer_at;
	/* Requests to try again: a refused open (while its grant is open) or
	 * a refused close (the rule may still be in the firewall). */
	struct retry {
		struct apply_cmd cmd;
		unsigned attempts;
		uint64_t due;	/* CLOCK_MONOTONIC */
	} retry[RETRY_QUEUE];
	size_t nretry;
	sd_event_source *retry_timer;
	uint64_t bad_window, bad_in_window, bad_hidden;
	unsigned failed;
	int64_t start_us, loaded_us;	/* CLOCK_REALTIME */
	struct control *ctl;	/* NULL: no control socket */
	struct metrics_writer *mw;	/* NULL: no metrics file */
	struct metrics_source msrc[MAX_SOURCES];	/* filled in for a snapshot */
};


static int64_t realtime_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* ---- lines ----------------------------------------------------------------- */

static void warn_bad(struct daemon *d, const char *why, const char *line, size_t len)
{
	uint64_t minute = (uint64_t)realtime_us() / 60000000;
	if (minute != d->bad_window) {
		if (d->bad_hidden)
			log_warn("%llu more malformed knock lines skipped in the last minute",
				 (unsigned long long)d->bad_hidden);
		d->bad_window = minute;
		d->bad_in_window = d->bad_hidden = 0;
	}
	if (++d->bad_in_window > BAD_WARN_PER_MIN) {
		d->bad_hidden++;
		return;
	}
	/* The line is attacker-shaped: print a bounded, printable excerpt. */
	char ex[121];
	size_t n = len < sizeof ex - 1 ? len : sizeof ex - 1;
	for (size_t i = 0; i < n; i++)
		ex[i] = line[i] >= 0x20 && line[i] < 0x7f ? line[i] : '?';
	ex[n] = '\0';
	log_warn("skipped: %s: %s%s", why, ex, len > n ? "..." : "");
}

static void on_line(void *ctx, const char *line, size_t len, enum source_format fmt, int64_t ref_us, int warm)
{
	struct source_ctx *sctx = ctx;
	struct daemon *d = sctx->d;
	const char *why;
	if (warm && sctx->skip_warm)
		return;
	engine_set_warm(d->engine, warm);
	if (sctx->src && sctx->src->host)
		engine_set_line_host(d->engine, sctx->src->host, sctx->src->hostlen);
	uint64_t future = engine_stats(d->engine)->skipped_future;
	if (engine_line(d->engine, fmt, line, len, ref_us, &why) == PARSE_BAD && !warm) {
		if (engine_stats(d->engine)->skipped_future != future)
			sctx->future++;
		else
			sctx->malformed++;
		warn_bad(d, why, line, len);
	}
	if (!warm)
		sctx->lines++;
	engine_set_warm(d->engine, 0);
	engine_set_line_host(d->engine, NULL, 0);
}

/* ---- time ------------------------------------------------------------------ */

static int on_timer(sd_event_source *s, uint64_t usec, void *userdata)
{
	struct daemon *d = userdata;
	d->timer_at = 0;
	engine_advance(d->engine, (int64_t)usec);
	return 0;
}

/* After every dispatch: the timer follows the engine's next deadline. */
static int on_post(sd_event_source *s, void *userdata)
{
	struct daemon *d = userdata;
	switch (engine_grants_dirty(d->engine)) {
	case 0: break;
	case 1: state_file_changed(&d->grants_state); break;
	default:	/* opened by a used code: on disk as soon as the writer can */
		state_file_changed(&d->grants_state);
		state_store_save_now(d->store);
		break;
	}
	int64_t next = engine_next_deadline(d->engine);
	if (next == INT64_MAX) {
		if (d->timer_at) {
			sd_event_source_set_enabled(d->timer, SD_EVENT_OFF);
			d->timer_at = 0;
		}
		return 0;
	}
	uint64_t at = next < 0 ? 1 : (uint64_t)next;
	if (at != d->timer_at) {
		sd_event_source_set_time(d->timer, at);
		sd_event_source_set_enabled(d->timer, SD_EVENT_ONESHOT);
		d->timer_at = at;
	}
	return 0;
}

/* ---- the applier ------------------------------------------------------------- */

static uint64_t monotonic_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000 + (uint64_t)ts.tv_nsec / 1000;
}

static void retry_arm(struct daemon *d)
{
	uint64_t first = UINT64_MAX;
	for (size_t i = 0; i < d->nretry; i++)
		if (d->retry[i].due < first)
			first = d->retry[i].due;
	if (first == UINT64_MAX) {
		sd_event_source_set_enabled(d->retry_timer, SD_EVENT_OFF);
		return;
	}
	sd_event_source_set_time(d->retry_timer, first);
	sd_event_source_set_enabled(d->retry_timer, SD_EVENT_ONESHOT);
}

static int on_retry(sd_event_source *s, uint64_t usec, void *userdata)
{
	struct daemon *d = userdata;
	for (size_t i = 0; i < d->nretry;) {
		struct retry *r = &d->retry[i];
		if (r->due > usec) {
			i++;
			continue;
		}
		struct apply_cmd cmd = r->cmd;
		d->retry[i] = d->retry[--d->nretry];
		if (cmd.op == APPLY_OPEN)
			engine_resend_grant(d->engine, cmd.id, realtime_us());	/* nothing if it closed meanwhile */
		else
			applier_send(d->ap, &cmd);
	}
	retry_arm(d);
	return 0;
}

static void on_reply(void *ctx, const struct apply_cmd *cmd, int ok, const char *msg)
{
	struct daemon *d = ctx;
	if (ok || cmd->op == APPLY_FLUSH) {
		if (!ok)
			log_err("applier: flush failed: %s", msg);
		for (size_t i = 0; i < d->nretry; i++)
			if (d->retry[i].cmd.id == cmd->id && d->retry[i].cmd.op == cmd->op)
				d->retry[i] = d->retry[--d->nretry];
		return;
	}
	int open = cmd->op == APPLY_OPEN;
	if (open && !engine_grant_open(d->engine, cmd->id))
		return;	/* closed meanwhile */
	size_t i = 0;
	while (i < d->nretry && !(d->retry[i].cmd.id == cmd->id && d->retry[i].cmd.op == cmd->op))
		i++;
	if (i == d->nretry) {
		if (d->nretry == RETRY_QUEUE) {
			log_err("applier: %s %llu failed (%s) and too many requests wait for a retry: given up",
				open ? "open" : "close", (unsigned long long)cmd->id, msg);
			if (open)
				engine_grant_failed(d->engine, cmd->id);
			return;
		}
		d->retry[d->nretry++] = (struct retry){.cmd = *cmd};
	}
	struct retry *r = &d->retry[i];
	unsigned max = open ? RETRY_OPEN_MAX : RETRY_CLOSE_MAX;
	if (++r->attempts > max) {
		log_err("applier: %s %llu failed %u times (%s): given up%s", open ? "open" : "close",
			(unsigned long long)cmd->id, max, msg,
			open ? "" : "; the rule may still be in the firewall");
		if (open)
			engine_grant_failed(d->engine, cmd->id);
		d->retry[i] = d->retry[--d->nretry];
		retry_arm(d);
		return;
	}
	log_warn("applier: %s %llu failed (%s); trying again in %llu s", open ? "open" : "close",
		 (unsigned long long)cmd->id, msg, (unsigned long long)(RETRY_US / 1000000));
	r->due = monotonic_us() + RETRY_US;
	retry_arm(d);
}

static void on_applier_restart(void *ctx)
{
	struct daemon *d = ctx;
	log_info("sending the %zu open grants to the new applier", engine_open_grants(d->engine));
	engine_resend_grants(d->engine, realtime_us());
}

/* A key the daemon cannot read once it runs as its user fails the next
 * reload; a one-time file it cannot write keeps its door shut. Said now,
 * while the admin is looking. */
static void check_door_files(const struct config *cfg)
{
	for (size_t i = 0; i < cfg->ndoors; i++) {
		const struct door_conf *dc = &cfg->doors[i];
		if ((dc->kind == DOOR_TOTP || dc->kind == DOOR_ENCRYPTED) && access(dc->code.key_path, R_OK) < 0)
			log_warn("door %s: key %s: %s as uid %u: a reload will fail; give the file to that user (mode 600)",
				 dc->name, dc->code.key_path, strerror(errno), (unsigned)getuid());
		if (dc->kind == DOOR_ONE_TIME && access(onetime_path(dc->one_time), W_OK) < 0)
			log_warn("door %s: %s: %s as uid %u: used sequences cannot be marked, so the door will not open",
				 dc->name, onetime_path(dc->one_time), strerror(errno), (unsigned)getuid());
		else if (dc->kind == DOOR_ONE_TIME && onetime_left(dc->one_time) == 0)
			log_warn("door %s: every sequence of %s is used: the door will not open", dc->name,
				 onetime_path(dc->one_time));
	}
}

/* ---- grants on disk ----------------------------------------------------------- */

static int grants_format(void *ctx, char *buf, size_t len)
{
	struct daemon *d = ctx;
	ssize_t n = engine_dump_grants(d->engine, buf, len);
	return n < 0 ? (int)len : (int)n;	/* too many: said by the store */
}

/* The grants a previous run left: closed in the firewall, and opened again
 * for the time they have left. Before that, flush removes whatever else
 * the firewall still holds from that run. */
static void grants_load(struct daemon *d)
{
	struct apply_cmd flush = {.op = APPLY_FLUSH, .id = UINT64_MAX >> 1};
	applier_send(d->ap, &flush);
	if (!d->state_dir)
		return;
	static char buf[GRANTS_STATE_MAX];
	char err[256];
	if (state_read(d->state_dir, GRANTS_STATE, buf, sizeof buf) < 0) {
		if (errno != ENOENT)
			log_warn("cannot read the saved grants: %s", strerror(errno));
		return;
	}
	int n = engine_restore_grants(d->engine, buf, realtime_us(), err, sizeof err);
	if (n < 0) {
		/* Not a file this daemon wrote: kept for the admin to look at,
		 * out of the way of the next save. */
		char from[PATH_MAX], to[PATH_MAX];
		snprintf(from, sizeof from, "%s/%s", d->state_dir, GRANTS_STATE);
		snprintf(to, sizeof to, "%s/%s.refused", d->state_dir, GRANTS_STATE);
		int kept = rename(from, to) == 0;
		log_err("%s: refused: %s; it was not written by logknockd (edited or forged?)%s%s", from, err,
			kept ? ": moved to " : "", kept ? to : "");
	} else if (n > 0)
		log_info("%d grants saved by the previous run, %zu still open", n, engine_open_grants(d->engine));
}

/* The doors' open: ports as the applier names them ("tcp/22"), each once,
 * into OUT; how many. Beyond APPLY_GUARD_MAX, said when WARN. */
static size_t door_guards(const struct config *cfg, guard_set out, int warn)
{
	size_t ng = 0;
	for (size_t d = 0; d < cfg->ndoors; d++) {
		for (size_t p = 0; p < cfg->doors[d].nopen; p++) {
			const struct port_spec *ps = &cfg->doors[d].open[p];
			char g[sizeof out[0]];
			snprintf(g, sizeof g, "%s/%u", knock_proto_str(ps->proto), ps->port);
			size_t k = 0;
			while (k < ng && strcmp(out[k], g) != 0)
				k++;
			if (k < ng)
				continue;
			if (ng == APPLY_GUARD_MAX) {
				if (warn)
					log_warn("more than %d ports opened by doors: %s and later ones will be refused "
						 "by the applier", APPLY_GUARD_MAX, g);
				return ng;
			}
			memcpy(out[ng++], g, sizeof g);
		}
	}
	return ng;
}

/* The doors' forward: and dnat: targets as --gateway takes them
 * ("tcp/22,10.0.0.2"), each once, into OUT; how many (at most APPLY_GW_MAX). */
static size_t door_gateways(const struct config *cfg, gateway_set out, int warn)
{
	size_t ng = 0;
	for (size_t d = 0; d < cfg->ndoors; d++) {
		for (size_t p = 0; p < cfg->doors[d].ngw; p++) {
			const struct gw_target *t = &cfg->doors[d].gw[p];
			char a[KNOCK_ADDRSTRLEN], g[sizeof out[0]];
			snprintf(g, sizeof g, "%s/%u,%s", knock_proto_str(t->proto),
				 (unsigned)(t->via == APPLY_VIA_DNAT ? t->toport : t->port), knock_addr_str(t->family, t->to, a));
			size_t k = 0;
			while (k < ng && strcmp(out[k], g) != 0)
				k++;
			if (k < ng)
				continue;
			if (ng == APPLY_GW_MAX) {
				if (warn)
					log_warn("more than %d forward and dnat targets: %s and later ones will be refused "
						 "by the applier", APPLY_GW_MAX, g);
				return ng;
			}
			memcpy(out[ng++], g, sizeof g);
		}
	}
	return ng;
}

/* The applier's command line for the configured backend (REPLAY: the log
 * backend, directly): one allocation (free() it), its strings pointing into
 * CFG or into the block itself. Every backend gets the doors' open: ports
 * as --guard and refuses any other; with applier.config the applier gets
 * nothing but that file's name (none for the default: a sudoers rule can
 * then allow no argument at all). */
char **daemon_applier_argv(const struct config *cfg, const char *path, int replay)
{
	static const char *const names[] = {"log", "command", "nft", "iptables", "ipset"};
	const struct applier_conf *a = &cfg->applier;
	size_t n = 0;
	for (char **p = a->open_argv; p && *p; p++)
		n += 2;
	for (char **p = a->close_argv; p && *p; p++)
		n += 2;
	size_t nprefix = 0;
	for (char **p = a->command_argv; p && *p; p++)
		nprefix++;
	size_t nptr = nprefix + n + 2 * APPLY_GUARD_MAX + 2 * APPLY_GW_MAX + 8;
	char **argv = calloc(1, nptr * sizeof *argv + 24 + sizeof(guard_set) + sizeof(gateway_set));
	if (!argv)
		return NULL;
	char *timeout = (char *)(argv + nptr), (*guard)[12] = (char (*)[12])(timeout + 24);
	char (*gw)[64] = (char (*)[64])((char *)guard + sizeof(guard_set));
	size_t i = 0;
	if (!replay)
		for (char **p = a->command_argv; p && *p; p++)
			argv[i++] = *p;	/* e.g. /usr/bin/sudo -n */
	argv[i++] = (char *)path;
	if (!replay && a->config) {
		if (strcmp(a->config, APPLY_CONF_DEFAULT) != 0) {
			argv[i++] = "--config";
			argv[i++] = a->config;
		}
		return argv;
	}
	enum applier_backend be = replay ? BACKEND_LOG : a->backend;
	argv[i++] = "--backend";
	argv[i++] = (char *)names[be];
	/* The ports the doors open: the only ones the applier may open. */
	for (size_t g = 0, ng = door_guards(cfg, guard, 1); g < ng; g++) {
		argv[i++] = "--guard";
		argv[i++] = guard[g];
	}
	/* The hosts and ports the doors' forward: and dnat: lead to. */
	for (size_t g = 0, ng = door_gateways(cfg, gw, 1); g < ng; g++) {
		argv[i++] = "--gateway";
		argv[i++] = gw[g];
	}
	if (be == BACKEND_LOG)
		return argv;
	snprintf(timeout, 24, "%lld", (long long)(a->timeout_us / 1000));
	argv[i++] = "--timeout";
	argv[i++] = timeout;
	if (a->guard_loopback && be != BACKEND_COMMAND)
		argv[i++] = "--guard-loopback";
	if (be == BACKEND_COMMAND) {
		for (char **p = a->open_argv; p && *p; p++) {
			argv[i++] = "--open";
			argv[i++] = *p;
		}
		for (char **p = a->close_argv; p && *p; p++) {
			argv[i++] = "--close";
			argv[i++] = *p;
		}
	}
	return argv;
}

void daemon_check_applier_conf(const struct config *cfg)
{
	const char *path = cfg->applier.config;
	if (!path)
		return;
	if (access(path, R_OK) < 0) {
		log_info("%s: %s: its guarded ports are not compared with the doors'", path, strerror(errno));
		return;
	}
	struct apply_conf ac;
	char err[PATH_MAX + 256];
	if (apply_conf_load(path, &ac, err, sizeof err) < 0) {
		log_warn("the applier's settings: %s", err);
		return;
	}
	for (size_t d = 0; d < cfg->ndoors; d++) {
		for (size_t p = 0; p < cfg->doors[d].nopen; p++) {
			const struct port_spec *ps = &cfg->doors[d].open[p];
			struct apply_cmd c = {.proto = ps->proto, .port = ps->port};
			if (!apply_guarded(&ac.o, &c))
				log_warn("door %s opens %s/%u, which %s does not list in guard: the applier will "
					 "refuse those grants", cfg->doors[d].name, knock_proto_str(ps->proto),
					 (unsigned)ps->port, path);
		}
		for (size_t p = 0; p < cfg->doors[d].ngw; p++) {
			const struct gw_target *t = &cfg->doors[d].gw[p];
			struct apply_cmd c = {.family = t->family, .proto = t->proto, .port = t->port, .via = t->via,
					      .toport = t->toport};
			memcpy(c.to, t->to, sizeof c.to);
			char a[KNOCK_ADDRSTRLEN];
			if (!apply_gateway_allowed(&ac.o, &c))
				log_warn("door %s leads to %s port %s/%u, which %s does not list in gateway: the "
					 "applier will refuse those grants", cfg->doors[d].name,
					 knock_addr_str(t->family, t->to, a), knock_proto_str(t->proto),
					 (unsigned)(t->via == APPLY_VIA_DNAT ? t->toport : t->port), path);
		}
	}
	apply_conf_free(&ac);
}

/* ---- sources ------------------------------------------------------------------- */

static int64_t longest_window(const struct config *cfg)
{
	int64_t w = 0;
	for (size_t i = 0; i < cfg->ndoors; i++)
		if (cfg->doors[i].window_us > w)
			w = cfg->doors[i].window_us;
	return w;
}

static void sources_free(struct daemon *d)
{
	for (size_t i = 0; i < d->nsrc; i++) {
		d->lost_gone += d->src[i]->lost;
		source_free(d->src[i]);
	}
	d->nsrc = 0;
}

/* A restarted source reads the lines of the longest window before its saved
 * position again, to rebuild door attempts; after a reload (skip_warm) the
 * engine still has them, so those lines are dropped. */
static int sources_start(struct daemon *d, int skip_warm)
{
	int failed = 0;
	int64_t warm_us = longest_window(&d->cfg);
	for (size_t i = 0; i < d->cfg.nsources && d->nsrc < MAX_SOURCES; i++) {
		const struct source_conf *sc = &d->cfg.sources[i];
		struct source_ctx *ctx = &d->src_ctx[d->nsrc];
		*ctx = (struct source_ctx){.d = d, .skip_warm = skip_warm};
		switch (sc->kind) {
		case SOURCE_KMSG: snprintf(ctx->name, sizeof ctx->name, "kmsg"); break;
		case SOURCE_JOURNAL:
			snprintf(ctx->name, sizeof ctx->name, "journal:%s%s%s", sc->arg ? sc->arg : "kernel",
				 sc->directory ? "@" : "", sc->directory ? sc->directory : "");
			break;
		case SOURCE_FILE: snprintf(ctx->name, sizeof ctx->name, "file:%s", sc->arg); break;
		}
		struct source *s = NULL;
		switch (sc->kind) {
		case SOURCE_FILE: s = source_file_new(d->ev, sc, d->store, warm_us, on_line, ctx); break;
		case SOURCE_JOURNAL: s = source_journal_new(d->ev, sc, d->store, warm_us, on_line, ctx); break;
		case SOURCE_KMSG: s = source_kmsg_new(d->ev, sc, d->store, warm_us, on_line, ctx); break;
		}
		if (s) {
			ctx->src = s;
			d->src[d->nsrc++] = s;
		} else {
			failed++;
		}
	}
	return failed ? -1 : 0;
}

/* ---- signals --------------------------------------------------------------------- */

/* Records the sources know they missed since the start (kernel log
 * buffer overruns). */
static uint64_t lost_records(const struct daemon *d)
{
	uint64_t n = d->lost_gone;
	for (size_t i = 0; i < d->nsrc; i++)
		n += d->src[i]->lost;
	return n;
}

static void notify_status(struct daemon *d, const char *what)
{
	const struct engine_stats *st = engine_stats(d->engine);
	char links[512] = "";
	if (d->fleet) {
		/* fleet: each host's link */
		int w = snprintf(links, sizeof links, "; hosts: ");
		fleet_summary(d->fleet, links + w, sizeof links - (size_t)w);
	}
	sd_notifyf(0, "%sSTATUS=following %zu sources: %llu lines, %llu knocks, %llu skipped, %zu attempts, "
		   "%llu opened, %zu grants open, %llu records lost%s",
		   what, d->nsrc, (unsigned long long)st->lines, (unsigned long long)st->knocks,
		   (unsigned long long)st->bad, engine_tracked_sources(d->engine), (unsigned long long)st->opened,
		   engine_open_grants(d->engine), (unsigned long long)lost_records(d), links);
}

/* Under systemd: the counts in `systemctl status`, every few seconds. */
static int on_status(sd_event_source *s, uint64_t usec, void *userdata)
{
	notify_status(userdata, "");
	sd_event_source_set_time(s, usec + 5000000);
	return 0;
}

static void metrics_start(struct daemon *d);

/* Reloads the configuration file: SIGHUP and the control socket's reload
 * take this one path. 0; or -1 with ERR saying why (also logged), the
 * running configuration kept. */
static int daemon_reload(struct daemon *d, char *err, size_t errlen)
{
	sd_notify(0, "RELOADING=1\nSTATUS=reloading");
	struct config next;
	char why[1024];
	if (config_load(d->o->config, &next, why, sizeof why) < 0) {
		log_err("reload: %s; keeping the running configuration", why);
		snprintf(err, errlen, "%s; keeping the running configuration", why);
		notify_status(d, "READY=1\n");
		return -1;
	}
	if (daemon_sources_trusted(&next, "reload: ") < 0) {
		log_err("reload: refused (above); keeping the running configuration");
		snprintf(err, errlen, "a source reads the kernel's log and net.netfilter.nf_log_all_netns is 1 (see "
			 "the daemon's log); keeping the running configuration");
		config_free(&next);
		notify_status(d, "READY=1\n");
		return -1;
	}
	/* Changed since the start (a chmod, a file put there): said again,
	 * and nothing of the new configuration taken until it is mended. */
	if (d->state_dir && daemon_state_dir_trusted(d->state_dir, geteuid()) < 0) {
		log_err("reload: the state directory is not safe (above); keeping the running configuration");
		snprintf(err, errlen, "the state directory %s is not safe (see the daemon's log); keeping the running "
			 "configuration", d->state_dir);
		config_free(&next);
		notify_status(d, "READY=1\n");
		return -1;
	}
	if (engine_reload(d->engine, &next, why, sizeof why) < 0) {
		log_err("reload: %s; keeping the running configuration", why);
		snprintf(err, errlen, "%s; keeping the running configuration", why);
		config_free(&next);
		notify_status(d, "READY=1\n");
		return -1;
	}
	/* appliers: (fleet) are read at start only: the links stay as they are */
	int hosts_differ = d->cfg.nhosts != next.nhosts;
	for (size_t i = 0; !hosts_differ && i < next.nhosts; i++) {
		char **x = fleet_ssh_argv("ssh", &d->cfg.hosts[i]), **y = fleet_ssh_argv("ssh", &next.hosts[i]);
		hosts_differ = !x || !y || strcmp(d->cfg.hosts[i].name, next.hosts[i].name) != 0;
		for (size_t k = 0; !hosts_differ && (x[k] || y[k]); k++)
			hosts_differ = !x[k] || !y[k] || strcmp(x[k], y[k]) != 0;
		fleet_argv_free(x);
		fleet_argv_free(y);
	}
	if (hosts_differ)
		log_warn("reload: appliers: changed; the links take the change at the next restart (a door's on: "
			 "naming a host without a link opens nothing there)");
	/* The applier keeps running as it was started. */
	char **was = daemon_applier_argv(&d->cfg, d->o->applier_path, 0), **now = daemon_applier_argv(&next, d->o->applier_path, 0);
	int differ = !was || !now;
	for (size_t i = 0; !differ && (was[i] || now[i]); i++)
		differ = !was[i] || !now[i] || strcmp(was[i], now[i]) != 0;
	if (differ)
		log_warn("reload: the applier's settings (backend, commands, guarded ports) take effect at the "
			 "next restart");
	/* The applier opens only the ports it was started with: a door's new
	 * port waits for a restart (a daemon that could widen that set could
	 * be made to by whoever takes it over). */
	guard_set next_guards;
	size_t nnext = next.applier.config ? 0 : door_guards(&next, next_guards, 0);
	for (size_t i = 0; i < nnext; i++) {
		size_t k = 0;
		while (k < d->nguards && strcmp(d->guards[k], next_guards[i]) != 0)
			k++;
		if (k == d->nguards)
			log_warn("reload: a door opens %s, which the running applier does not guard: it refuses "
				 "those grants until logknockd restarts", next_guards[i]);
	}
	static gateway_set next_gws;
	size_t nngw = next.applier.config ? 0 : door_gateways(&next, next_gws, 0);
	for (size_t i = 0; i < nngw; i++) {
		size_t k = 0;
		while (k < d->ngws && strcmp(d->gws[k], next_gws[i]) != 0)
			k++;
		if (k == d->ngws)
			log_warn("reload: a door leads to %s, which the running applier was not given: it refuses "
				 "those grants until logknockd restarts", next_gws[i]);
	}
	free(was);
	free(now);
	/* Unchanged sources go on as they are (a source keeps nothing of the
	 * configuration, and /dev/kmsg could not be opened again once the
	 * privileges are gone); changed ones start again from their saved
	 * positions. */
	int same = next.nsources == d->cfg.nsources;
	for (size_t i = 0; same && i < next.nsources; i++) {
		const struct source_conf *a = &next.sources[i], *b = &d->cfg.sources[i];
		same = a->kind == b->kind && a->format == b->format &&
		       (a->arg == b->arg || (a->arg && b->arg && strcmp(a->arg, b->arg) == 0));
	}
	if (!same) {
		/* Grants and positions on disk together before the stopped
		 * sources save theirs and the new ones read them. */
		state_store_flush(d->store);
		sources_free(d);
	}
	int same_control = (!next.control.socket && !d->cfg.control.socket) ||
			   (next.control.socket && d->cfg.control.socket &&
			    strcmp(next.control.socket, d->cfg.control.socket) == 0);
	if (!same_control && !d->o->control)
		log_warn("reload: control.socket takes effect at the next restart");
	int same_metrics = next.metrics.interval_us == d->cfg.metrics.interval_us &&
			   ((!next.metrics.file && !d->cfg.metrics.file) ||
			    (next.metrics.file && d->cfg.metrics.file && strcmp(next.metrics.file, d->cfg.metrics.file) == 0));
	config_free(&d->cfg);
	d->cfg = next;
	d->loaded_us = realtime_us();
	check_door_files(&d->cfg);
	control_set_access(d->ctl, &d->cfg.control);
	if (!same_metrics) {
		metrics_writer_free(d->mw);
		d->mw = NULL;
		metrics_start(d);
	}
	if (!same && sources_start(d, 1) < 0)
		log_err("reload: some sources could not be started; following the others");
	log_info("reloaded %s: %zu doors, %zu sources", d->o->config, d->cfg.ndoors, d->nsrc);
	notify_status(d, "READY=1\n");
	return 0;
}

static int on_hup(sd_event_source *s, const struct signalfd_siginfo *si, void *userdata)
{
	char err[1024];
	daemon_reload(userdata, err, sizeof err);	/* said in the log */
	return 0;
}

/* ---- control socket and metrics --------------------------------------------------- */

static const char *backend_name(enum applier_backend b)
{
	static const char *const names[] = {"log", "command", "nft", "iptables", "ipset"};
	return (unsigned)b < sizeof names / sizeof names[0] ? names[b] : "?";
}

static void snapshot(void *ctx, struct metrics_snapshot *out)
{
	struct daemon *d = ctx;
	for (size_t i = 0; i < d->nsrc; i++) {
		struct metrics_source *m = &d->msrc[i];
		const struct source_ctx *sc = &d->src_ctx[i];
		m->name = sc->name;
		source_status(d->src[i], &m->st);
		m->lines = sc->lines;
		m->malformed = sc->malformed;
		m->future = sc->future;
		m->too_long = d->src[i]->too_long;
		m->lost = d->src[i]->lost;
	}
	*out = (struct metrics_snapshot){
		.engine = d->engine,
		.version = PACKAGE_VERSION,
		.pid = (long)getpid(),
		.config_path = d->o->config,
		.start_us = d->start_us,
		.loaded_us = d->loaded_us,
		.now_us = realtime_us(),
		.backend = d->cfg.applier.config ? "apply.yaml" : backend_name(d->cfg.applier.backend),
		.max_sources = d->cfg.max_sources,
		.sources = d->msrc,
		.nsources = d->nsrc,
		.control_dropped = control_dropped(d->ctl),
		.fleet = d->fleet,
	};
	applier_info(d->ap, &out->applier);
}

static int control_reload(void *ctx, char *err, size_t errlen)
{
	return daemon_reload(ctx, err, errlen);
}

/* A grant opened or closed by hand goes to the state writer at once, as a
 * door opened by a used code does (the loop does not wait for the disk). */
static void control_grants_save(void *ctx)
{
	struct daemon *d = ctx;
	if (!d->store)
		return;
	engine_grants_dirty(d->engine);	/* taken here, so on_post does not save it twice */
	state_file_changed(&d->grants_state);
	state_store_save_now(d->store);
}

/* The socket: --control, else control.socket, else the default; "" none.
 * A socket asked for by name that cannot be made stops the start (-1);
 * the default one is only warned about (a daemon run by hand, outside the
 * unit's RuntimeDirectory=). */
static int control_start_checked(struct daemon *d)
{
	const char *path = d->o->control ? d->o->control : d->cfg.control.socket;
	int named = path != NULL;
	if (!path) {
		path = CONTROL_DEFAULT;
		/* Run by hand, without the unit's RuntimeDirectory=: said, not warned. */
		if (access(LOGKNOCK_RUNDIR, W_OK) < 0) {
			log_info("no control socket: %s: %s (the unit's RuntimeDirectory= makes it; or set "
				 "control.socket, or --control PATH)", LOGKNOCK_RUNDIR, strerror(errno));
			return 0;
		}
	}
	if (!*path)
		return 0;
	struct control_host host = {
		.ctx = d,
		.engine = d->engine,
		.snapshot = snapshot,
		.reload = control_reload,
		.grants_save = control_grants_save,
	};
	d->ctl = control_new(d->ev, path, &host);
	if (!d->ctl) {
		if (named)
			return -1;
		log_warn("no control socket (logknockctl will not reach this daemon); set control.socket, or "
			 "--control \"\" to say none");
		return 0;
	}
	control_set_access(d->ctl, &d->cfg.control);
	return 0;
}

static void metrics_start(struct daemon *d)
{
	if (d->cfg.metrics.file)
		d->mw = metrics_writer_new(d->ev, d->cfg.metrics.file, d->cfg.metrics.interval_us, snapshot, d);
}

static int on_stop(sd_event_source *s, const struct signalfd_siginfo *si, void *userdata)
{
	struct daemon *d = userdata;
	log_info("stopping on signal %u", si->ssi_signo);
	return sd_event_exit(d->ev, 0);
}

/* ---- start and stop ----------------------------------------------------------------- */


int daemon_run(struct config *cfg, const struct daemon_opts *o)
{
	struct daemon d = {.o = o, .cfg = *cfg, .lock_fd = -1, .start_us = realtime_us()};
	d.loaded_us = d.start_us;
	memset(cfg, 0, sizeof *cfg);	/* the daemon owns it now */
	int rc = 1;
	char **argv = NULL;
	sd_event_source *post = NULL, *status_timer = NULL;

	if (d.cfg.nsources == 0) {
		log_err("%s: no sources to follow (sources:)", o->config);
		config_free(&d.cfg);
		return 2;
	}
	if (daemon_sources_trusted(&d.cfg, "") < 0) {
		config_free(&d.cfg);
		return 2;
	}
	/* A copy: the configuration it may come from is replaced by a reload. */
	snprintf(d.state_dir_buf, sizeof d.state_dir_buf, "%s", o->state_dir ? o->state_dir : d.cfg.state_dir);
	int unclean = 0;
	switch (daemon_prepare_state_dir(d.state_dir_buf, d.cfg.user, &d.lock_fd, &unclean)) {
	case 1: d.state_dir = d.state_dir_buf; break;
	case 0: break;
	case -1:	/* as a configuration error: a restart does not fix it */
		config_free(&d.cfg);
		return 2;
	default:	/* the other daemon may stop */
		config_free(&d.cfg);
		return 1;
	}

	sigset_t mask;
	sigemptyset(&mask);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGHUP);
	sigprocmask(SIG_BLOCK, &mask, NULL);
	int r = sd_event_default(&d.ev);
	if (r < 0) {
		log_err("sd_event: %s", strerror(-r));
		goto out;
	}
	if (sd_event_add_signal(d.ev, NULL, SIGTERM, on_stop, &d) < 0 ||
	    sd_event_add_signal(d.ev, NULL, SIGINT, on_stop, &d) < 0 ||
	    sd_event_add_signal(d.ev, NULL, SIGHUP, on_hup, &d) < 0 ||
	    sd_event_add_time(d.ev, &d.timer, CLOCK_REALTIME, UINT64_MAX, 0, on_timer, &d) < 0 ||
	    sd_event_add_time(d.ev, &d.retry_timer, CLOCK_MONOTONIC, UINT64_MAX, 0, on_retry, &d) < 0 ||
	    sd_event_add_post(d.ev, &post, on_post, &d) < 0) {
		log_err("cannot set up the event loop");
		goto out;
	}
	sd_event_source_set_enabled(d.timer, SD_EVENT_OFF);
	sd_event_source_set_enabled(d.retry_timer, SD_EVENT_OFF);
	/* WatchdogSec= in the unit: sd-event pings the watchdog from the loop. */
	sd_event_set_watchdog(d.ev, 1);
	if (getenv("NOTIFY_SOCKET")) {
		uint64_t now;
		sd_event_now(d.ev, CLOCK_MONOTONIC, &now);
		if (sd_event_add_time(d.ev, &status_timer, CLOCK_MONOTONIC, now + 5000000, 0, on_status, &d) >= 0)
			sd_event_source_set_enabled(status_timer, SD_EVENT_ON);
	}

	daemon_check_applier_conf(&d.cfg);
	if (!(argv = daemon_applier_argv(&d.cfg, o->applier_path, 0)) ||
	    !(d.ap = applier_new(d.ev, argv, on_reply, &d)))
		goto out;
	if (!d.cfg.applier.config) {
		d.nguards = door_guards(&d.cfg, d.guards, 0);
		d.ngws = door_gateways(&d.cfg, d.gws, 0);
	}
	/* READY=1 means the firewall can be changed: wait for the applier's. */
	if (applier_wait_ready(d.ap, 10000) < 0) {
		log_err("the applier did not start (see its messages above)");
		goto out;
	}
	char err[1024];
	applier_on_restart(d.ap, on_applier_restart);
	if (!(d.engine = engine_new(&d.cfg, d.ap, NULL, 0, err, sizeof err))) {
		log_err("%s", err);
		rc = 2;
		goto out;
	}
	engine_set_live(d.engine, 1);
	/* appliers: over ssh: started, never waited for (a host that is down
	 * delays nothing); before the saved grants, which may be theirs */
	int fleet_err;
	if (!(d.fleet = fleet_new(d.ev, &d.cfg, &fleet_err)) && fleet_err)
		goto out;
	if (d.fleet) {
		engine_set_host_sender(d.engine, fleet_send, d.fleet);
		fleet_set_engine(d.fleet, d.engine);
	}
	if (unclean) {
		log_info("the previous run did not stop (kill -9?): lines it read in its last second are read again");
		engine_set_catchup(d.engine, realtime_us());
	}
	if (d.state_dir && (engine_set_state_dir(d.engine, d.state_dir) < 0 ||
			    !(d.store = state_store_new(d.ev, d.state_dir)) ||
			    state_file_init(&d.grants_state, d.store, GRANTS_STATE, NULL, "grants", GRANTS_STATE_MAX,
					    grants_format, &d) < 0))
		goto out;
	grants_load(&d);
	if (sources_start(&d, 0) < 0 || daemon_drop_privileges(&d.cfg) < 0)
		goto out;
	check_door_files(&d.cfg);
	/* As the daemon's user: the socket is its own, removed at the end. */
	if (control_start_checked(&d) < 0)
		goto out;
	metrics_start(&d);

	log_info("following %zu sources with %zu doors (state in %s)", d.nsrc, d.cfg.ndoors,
		 d.state_dir ? d.state_dir : "nowhere");
	notify_status(&d, "READY=1\n");
	r = sd_event_loop(d.ev);
	sd_notify(0, "STOPPING=1\nSTATUS=stopping");
	rc = r < 0 ? 1 : 0;
	if (r < 0)
		log_err("event loop: %s", strerror(-r));

out:
	control_free(d.ctl);	/* before the engine: it holds the engine's event sink */
	metrics_writer_free(d.mw);
	sources_free(&d);
	if (lost_records(&d))
		log_warn("%llu kernel log records were lost in this run (the kernel log buffer overran; see "
			 "log_buf_len in README)", (unsigned long long)lost_records(&d));
	if (d.engine && !d.cfg.keep_open_on_exit && engine_open_grants(d.engine)) {
		log_info("closing %zu open grants", engine_open_grants(d.engine));
		engine_close_all(d.engine, realtime_us());
	}
	if (d.ap) {
		if (applier_drain(d.ap, 5000))
			log_warn("the applier did not answer every request before stopping");
		applier_free(d.ap);
	}
	fleet_drain(d.fleet, 2000);
	fleet_free(d.fleet);
	if (d.engine)
		state_file_close(&d.grants_state);	/* written and fsynced now */
	state_store_free(d.store);
	engine_free(d.engine);
	free(argv);
	sd_event_source_disable_unref(post);
	sd_event_source_disable_unref(status_timer);
	sd_event_source_disable_unref(d.timer);
	sd_event_source_disable_unref(d.retry_timer);
	sd_event_unref(d.ev);
	config_free(&d.cfg);
	if (d.lock_fd >= 0) {
		if (ftruncate(d.lock_fd, 0) < 0)	/* no pid left: this run stopped */
			log_warn("state directory %s: cannot empty %s: %s", d.state_dir_buf, STATE_LOCK, strerror(errno));
		close(d.lock_fd);	/* the last thing: the state is saved */
	}
	return rc;
}
