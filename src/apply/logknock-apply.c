/* logknock-apply.c — the privileged helper, where the firewall is touched:
 * reads requests of the applier protocol (apply_proto.h) on stdin, applies
 * each with one backend (apply_backend.h), answers "ok ID" or "error ID
 * message" on stdout, one line per request, in order.
 *
 *   logknock-apply [--config FILE]          settings from apply.yaml (apply_conf.h)
 *   logknock-apply --backend log --guard tcp/22 ...
 *   logknock-apply --backend command [--timeout MS] --guard ... --open ARG... --close ARG...
 *
 * Started with more privilege than its caller (through sudo: see
 * elevated()), it takes orders from root alone: its settings come only from
 * a root-owned file nobody else may change, and the command line may name
 * nothing but that file. The caller keeps what the protocol gives it and no
 * more: open and close for the guarded ports (the doors' open: ports) only.
 *
 * It keeps the set of IDs it has opened: an open for an ID already open only
 * refreshes its time (that is how the daemon extends a grant), and a flush
 * removes what is open. */
#include "apply_backend.h"
#include "apply_conf.h"
#include "apply_proto.h"
#include "knock.h"
#include "log.h"
#include "perm.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdio_ext.h>
#include <stdlib.h>
#include <string.h>
#include <sys/pidfd.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/auxv.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#ifndef PACKAGE_VERSION
#define PACKAGE_VERSION "unknown"
#endif

#define ARG_MAX_LEN APPLY_ARG_MAX_LEN	/* one template argument, without its NUL */
#define OPEN_MAX_IDS 65536		/* IDs remembered as open */
#define TIMEOUT_DEFAULT_MS 5000
#define KEEPER_BACKOFF_MIN_MS 200	/* a crashed worker is replaced after this, */
#define KEEPER_BACKOFF_MAX_MS 30000	/* doubling up to this */
#define KEEPER_STABLE_MS 60000		/* a worker that lived this long resets it */
#define TIMEOUT_MAX_MS APPLY_TIMEOUT_MAX_MS

struct app {
	const struct apply_backend *be;
	void *st;			/* the backend's state */
	struct apply_options o;
	/* IDs open: a dense array with a hash index (linear probing). */
	struct apply_cmd *ents;
	size_t n, cap;
	uint32_t *slots;		/* index + 1; 0 is empty */
	size_t nslots;			/* power of two, > 2 * n */
};


/* ---- the set of open IDs ------------------------------------------------ */

static size_t id_hash(uint64_t id, size_t mask)
{
	id ^= id >> 33;
	id *= UINT64_C(0xff51afd7ed558ccd);
	id ^= id >> 33;
	return (size_t)id & mask;
}

/* Index of id in ents, or -1; *slotp is its slot or the empty slot ending the probe. */
static long set_find(const struct app *a, uint64_t id, size_t *slotp)
{
	if (a->nslots == 0)
		return -1;
	size_t mask = a->nslots - 1;
	for (size_t s = id_hash(id, mask);; s = (s + 1) & mask) {
		uint32_t v = a->slots[s];
		if (slotp)
			*slotp = s;
		if (v == 0)
			return -1;
		if (a->ents[v - 1].id == id)
			return (long)(v - 1);
	}
}

/* Makes room for K more entries. 0, or -1 when full or out of memory. */
static int set_reserve(struct app *a, size_t k)
{
	if (a->n + k > OPEN_MAX_IDS)
		return -1;
	if (a->n + k > a->cap) {
		size_t ncap = a->cap ? a->cap * 2 : 64;
		while (ncap < a->n + k)
			ncap *= 2;
		if (ncap > OPEN_MAX_IDS)
			ncap = OPEN_MAX_IDS;
		struct apply_cmd *e = realloc(a->ents, ncap * sizeof *e);
		if (!e)
			return -1;
		a->ents = e;
		a->cap = ncap;
	}
	if ((a->n + k) * 2 >= a->nslots) {
		size_t nslots = a->nslots ? a->nslots * 2 : 128;
		while ((a->n + k) * 2 >= nslots)
			nslots *= 2;
		uint32_t *s = calloc(nslots, sizeof *s);
		if (!s)
			return -1;
		free(a->slots);
		a->slots = s;
		a->nslots = nslots;
		for (size_t i = 0; i < a->n; i++) {
			size_t slot;
			set_find(a, a->ents[i].id, &slot);
			a->slots[slot] = (uint32_t)(i + 1);
		}
	}
	return 0;
}

/* Adds cmd; set_reserve() must have succeeded and cmd->id must be absent. */
static void set_add(struct app *a, const struct apply_cmd *cmd)
{
	size_t slot = 0;
	set_find(a, cmd->id, &slot);
	a->ents[a->n] = *cmd;
	a->slots[slot] = (uint32_t)(a->n + 1);
	a->n++;
}

static void set_remove(struct app *a, uint64_t id)
{
	size_t slot;
	long idx = set_find(a, id, &slot);
	if (idx < 0)
		return;
	size_t mask = a->nslots - 1;
	/* Backward-shift deletion keeps every probe sequence unbroken. */
	a->slots[slot] = 0;
	for (size_t i = slot, j = slot;;) {
		j = (j + 1) & mask;
		if (a->slots[j] == 0)
			break;
		size_t k = id_hash(a->ents[a->slots[j] - 1].id, mask);
		if (i <= j ? (i < k && k <= j) : (i < k || k <= j))
			continue;
		a->slots[i] = a->slots[j];
		a->slots[j] = 0;
		i = j;
	}
	size_t last = a->n - 1;
	if ((size_t)idx != last) {
		size_t lslot;
		set_find(a, a->ents[last].id, &lslot);
		a->ents[idx] = a->ents[last];
		a->slots[lslot] = (uint32_t)(idx + 1);
	}
	a->n--;
}

/* ---- small helpers ------------------------------------------------------ */

static int write_all(int fd, const char *buf, size_t len)
{
	while (len > 0) {
		ssize_t w = write(fd, buf, len);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		buf += w;
		len -= (size_t)w;
	}
	return 0;
}

/* "ok ID\n" or "error ID message\n", cut to fit one protocol line, into
 * LINE (APPLY_LINE_MAX + 1 bytes). Its length. */
static size_t reply_format(char *line, uint64_t id, int ok, const char *msg)
{
	int n;
	if (ok) {
		n = snprintf(line, APPLY_LINE_MAX + 1, "ok %llu\n", (unsigned long long)id);
		return n > 0 ? (size_t)n : 0;
	}
	n = snprintf(line, APPLY_LINE_MAX + 1, "error %llu ", (unsigned long long)id);
	if (n < 0 || n >= APPLY_LINE_MAX - 2)
		return 0;
	if (!msg || !*msg || *msg == ' ')
		msg = "failed";
	size_t room = (size_t)(APPLY_LINE_MAX - 1 - n);	/* bytes before the newline */
	size_t mlen = strnlen(msg, room);
	memcpy(line + n, msg, mlen);
	line[n + mlen] = '\0';
	apply_sanitize(line + n);
	line[n + mlen] = '\n';
	line[n + mlen + 1] = '\0';
	return (size_t)n + mlen + 1;
}

/* ---- the worker's output ------------------------------------------------------
 *
 * Replies are gathered and written together: when no request is left to
 * read, and before any backend call that may take time (so that no answer
 * waits behind a slow command). The log lines of the requests answered go
 * out first, so that whoever reads a reply finds its log line already
 * written. With a fast backend (log, nft) stderr is buffered the same way
 * (out_fast); it is flushed while far from full, so that a line is never
 * cut in two writes (lines from the daemon and the applier share stderr). */
#define OUT_MAX (64 * 1024)
static char out_buf[OUT_MAX];
static size_t out_len;
static bool out_fast;			/* stderr is buffered (out_err) */
static char out_err[OUT_MAX];
#define ERR_ROOM 8192			/* more than any one request logs */

static void out_flush(void)
{
	if (out_fast)
		fflush(stderr);
	if (out_len && write_all(STDOUT_FILENO, out_buf, out_len) < 0) {
		log_err("cannot write reply: %s", strerror(errno));
		exit(1);
	}
	out_len = 0;
}

/* Before a request: room for what it logs and its reply. */
static void out_room(void)
{
	if ((out_fast && __fpending(stderr) > OUT_MAX - ERR_ROOM) || out_len > OUT_MAX - (APPLY_LINE_MAX + 1))
		out_flush();
}

/* One reply, written with the next out_flush(). */
static void reply(uint64_t id, int ok, const char *msg)
{
	if (out_len > OUT_MAX - (APPLY_LINE_MAX + 1))
		out_flush();
	out_len += reply_format(out_buf + out_len, id, ok, msg);
}

/* Before a backend call: what waits goes out, unless the backend is fast. */
static void out_before_call(void)
{
	if (!out_fast)
		out_flush();
}

static bool same_rule(const struct apply_cmd *x, const struct apply_cmd *y)
{
	return x->family == y->family && x->proto == y->proto && x->port == y->port &&
	       memcmp(x->addr, y->addr, x->family == AF_INET ? 4 : 16) == 0 && x->via == y->via &&
	       (x->via == APPLY_VIA_LOCAL ||
		(memcmp(x->to, y->to, x->family == AF_INET ? 4 : 16) == 0 && x->toport == y->toport &&
		 x->masq == y->masq && x->nokeep == y->nokeep));
}

/* ---- the log backend: says what it would do, changes nothing ---------------- */

static void *log_create(const struct apply_options *o, char *err, size_t errlen)
{
	return (void *)o;
}

static int log_request(const struct apply_cmd *c, const char *prefix)
{
	char buf[APPLY_LINE_MAX + 1];
	int n = apply_format(c, buf, sizeof buf);
	if (n > 0)
		log_info("log: %s%.*s", prefix, n - 1, buf);
	return 0;
}

static int log_open(void *st, const struct apply_cmd *c, int refresh, char *msg, size_t msglen)
{
	return log_request(c, "");
}

static int log_close(void *st, const struct apply_cmd *c, char *msg, size_t msglen)
{
	return log_request(c, "");
}

static int log_flush(void *st, const struct apply_cmd *c, char *msg, size_t msglen)
{
	/* The daemon flushes at every start, with an ID of its own far above
	 * its requests': the ID says nothing to a reader. */
	log_info("log: flush (every rule a previous run opened would be removed)");
	return 0;
}

static void log_destroy(void *st)
{
}

const struct apply_backend apply_backend_log = {
	.name = "log",
	.create = log_create,
	.open = log_open,
	.close = log_close,
	.flush = log_flush,
	.destroy = log_destroy,
	.gateway = 1,
};

static const struct apply_backend *const backends[] = {
	&apply_backend_log,
	&apply_backend_command,
	&apply_backend_nft,
	&apply_backend_iptables,
	&apply_backend_ipset,
};

/* ---- requests ------------------------------------------------------------ */

static void do_open(struct app *a, const struct apply_cmd *c)
{
	char msg[512] = "";
	unsigned long long id = (unsigned long long)c->id;
	long idx = set_find(a, c->id, NULL);
	if (idx >= 0) {
		struct apply_cmd *e = &a->ents[idx];
		if (!same_rule(e, c)) {
			log_err("open %llu: id already open for another rule", id);
			reply(c->id, 0, "id already open for another rule");
			return;
		}
		out_before_call();
		if (a->be->open(a->st, c, 1, msg, sizeof msg) < 0) {
			log_err("open %llu: refresh failed: %s", id, msg);
			reply(c->id, 0, msg);
			return;
		}
		e->seconds = c->seconds;
		reply(c->id, 1, NULL);
		return;
	}
	if (set_reserve(a, 1) < 0) {
		snprintf(msg, sizeof msg, "too many open rules (at most %d)", OPEN_MAX_IDS);
		log_err("open %llu: %s", id, msg);
		reply(c->id, 0, msg);
		return;
	}
	out_before_call();
	if (a->be->open(a->st, c, 0, msg, sizeof msg) < 0) {
		log_err("open %llu: %s", id, msg);
		reply(c->id, 0, msg);
		return;
	}
	set_add(a, c);
	reply(c->id, 1, NULL);
}

static void do_close(struct app *a, const struct apply_cmd *c)
{
	char msg[512] = "";
	/* Even for an ID we do not know: the daemon may have restarted. */
	out_before_call();
	if (a->be->close(a->st, c, msg, sizeof msg) < 0) {
		log_err("close %llu: %s", (unsigned long long)c->id, msg);
		reply(c->id, 0, msg);
		return;
	}
	set_remove(a, c->id);
	reply(c->id, 1, NULL);
}

static void do_flush(struct app *a, const struct apply_cmd *c)
{
	char msg[512] = "";
	unsigned long long id = (unsigned long long)c->id;
	out_flush();	/* a flush may log a line per rule: from an empty buffer */
	if (a->be->flush) {
		if (a->be->flush(a->st, c, msg, sizeof msg) < 0) {
			log_err("flush %llu: %s", id, msg);
			reply(c->id, 0, msg);
			return;
		}
		while (a->n)
			set_remove(a, a->ents[a->n - 1].id);
		reply(c->id, 1, NULL);
		return;
	}
	size_t total = a->n, failed = 0;
	log_info("flush %llu: closing %zu rule%s", id, total, total == 1 ? "" : "s");
	/* Backwards: a removal moves the last entry, already done, into the hole. */
	for (size_t i = a->n; i-- > 0;) {
		struct apply_cmd e = a->ents[i];
		e.op = APPLY_CLOSE;
		out_room();
		if (a->be->close(a->st, &e, msg, sizeof msg) < 0)
			failed++;
		else
			set_remove(a, e.id);
	}
	if (failed) {
		snprintf(msg, sizeof msg, "flush: close failed for %zu of %zu rules", failed, total);
		log_err("flush %llu: %s", id, msg);
		reply(c->id, 0, msg);
	} else {
		reply(c->id, 1, NULL);
	}
}

/* ---- batches --------------------------------------------------------------------
 *
 * Opens and closes that arrive together (read in one go) are handed to a
 * backend that can apply several at once (apply_backend.batch) as one
 * change. A batch never holds two requests for the same ID, so what the set
 * of open IDs says about each request does not depend on the others; their
 * order is kept. When the batch fails, each request is applied alone, so
 * that each gets its own true answer. */

struct run {
	struct apply_cmd c[APPLY_BATCH_MAX];
	int refresh[APPLY_BATCH_MAX];
	size_t n, nnew;		/* requests; opens of IDs not yet open (room reserved) */
};

static void dispatch(struct app *a, const struct apply_cmd *c)
{
	switch (c->op) {
	case APPLY_OPEN: do_open(a, c); break;
	case APPLY_CLOSE: do_close(a, c); break;
	case APPLY_FLUSH: do_flush(a, c); break;
	}
}

/* Applies what the run holds and answers each, in order. */
static void run_flush(struct app *a, struct run *r)
{
	size_t n = r->n;
	r->n = r->nnew = 0;
	if (n == 0)
		return;
	if (n == 1 || !a->be->batch) {	/* a run without batch holds one at most */
		for (size_t i = 0; i < n; i++)
			dispatch(a, &r->c[i]);
		return;
	}
	const struct apply_cmd *cp[APPLY_BATCH_MAX];
	for (size_t i = 0; i < n; i++)
		cp[i] = &r->c[i];
	char msg[512] = "";
	out_before_call();
	if (a->be->batch(a->st, cp, r->refresh, n, msg, sizeof msg) < 0) {
		log_info("a batch of %zu changes failed (%s): applying them one at a time", n, msg);
		for (size_t i = 0; i < n; i++) {
			out_room();
			dispatch(a, &r->c[i]);
		}
		return;
	}
	for (size_t i = 0; i < n; i++) {
		const struct apply_cmd *c = &r->c[i];
		if (c->op == APPLY_CLOSE) {
			set_remove(a, c->id);
		} else if (r->refresh[i]) {
			long idx = set_find(a, c->id, NULL);
			if (idx >= 0)
				a->ents[idx].seconds = c->seconds;
		} else {
			set_add(a, c);	/* room reserved when it joined */
		}
		reply(c->id, 1, NULL);
	}
}

/* A valid request for a guarded port: joins the run, or is applied now. */
static void serve_cmd(struct app *a, struct run *r, const struct apply_cmd *c)
{
	/* forward and dnat requests go alone (apply_nft_gw.c, apply_xt_gw.c) */
	if (!a->be->batch || c->op == APPLY_FLUSH || c->via != APPLY_VIA_LOCAL) {
		run_flush(a, r);
		dispatch(a, c);
		return;
	}
	for (size_t i = 0; i < r->n; i++) {
		if (r->c[i].id == c->id) {
			run_flush(a, r);
			break;
		}
	}
	int refresh = 0;
	if (c->op == APPLY_OPEN) {
		long idx = set_find(a, c->id, NULL);
		if ((idx >= 0 && !same_rule(&a->ents[idx], c)) || (idx < 0 && set_reserve(a, r->nnew + 1) < 0)) {
			/* Refused, or no room: answered alone, in its turn. */
			run_flush(a, r);
			dispatch(a, c);
			return;
		}
		refresh = idx >= 0;
		if (!refresh)
			r->nnew++;
	}
	r->c[r->n] = *c;
	r->refresh[r->n++] = refresh;
	if (r->n == APPLY_BATCH_MAX)
		run_flush(a, r);
}

struct serve_ctx {
	struct app *a;
	struct run run;
};

static void handle_line(struct serve_ctx *sc, const char *line, size_t len)
{
	struct app *a = sc->a;
	struct apply_cmd c;
	char err[256];
	out_room();
	if (apply_parse(line, len, &c, err, sizeof err) < 0) {
		/* c.id is set when the ID itself could be read. */
		run_flush(a, &sc->run);
		log_err("rejected request: %s", err);
		reply(c.id, 0, err);
		return;
	}
	/* Only the ports the doors open, for every backend: an ACCEPT for
	 * another port would override the admin's own rules. */
	if (c.op != APPLY_FLUSH && c.via != APPLY_VIA_LOCAL) {
		/* forward and dnat (issue 15): only to the hosts and ports the
		 * settings allow, and only by a backend that knows them (any
		 * other would open this host's own port instead). */
		const char *why = NULL;
		char to[INET6_ADDRSTRLEN] = "?";
		inet_ntop(c.family, c.to, to, sizeof to);
		if (!a->be->gateway)
			why = "this backend opens no forward or dnat grants";
		else if (!apply_gateway_allowed(&a->o, &c))
			why = "not an address and port of --gateway (the doors' forward: and dnat: targets)";
		if (why) {
			run_flush(a, &sc->run);
			snprintf(err, sizeof err, "refused: %s %s/%u to %s: %s",
				 c.via == APPLY_VIA_DNAT ? "dnat" : "forward", knock_proto_str(c.proto),
				 (unsigned)(c.via == APPLY_VIA_DNAT ? c.toport : c.port), to, why);
			log_err("%s %llu: %s", c.op == APPLY_OPEN ? "open" : "close", (unsigned long long)c.id, err);
			reply(c.id, 0, err);
			return;
		}
	} else if (c.op != APPLY_FLUSH && !apply_guarded(&a->o, &c)) {
		run_flush(a, &sc->run);
		snprintf(err, sizeof err, "refused: %s/%u is not a guarded port (the doors' open: ports)",
			 knock_proto_str(c.proto), (unsigned)c.port);
		log_err("%s %llu: %s", c.op == APPLY_OPEN ? "open" : "close", (unsigned long long)c.id, err);
		reply(c.id, 0, err);
		return;
	}
	serve_cmd(a, &sc->run, &c);
}

/* Request lines out of what is read: each whole line goes to FN; an
 * overlong one is answered by LONG_FN and skipped to its newline. */
struct lines {
	char line[APPLY_LINE_MAX];	/* without newline: at most APPLY_LINE_MAX - 1 */
	size_t len;
	bool skipping;
};
typedef void (*line_fn)(void *ctx, const char *line, size_t len);

/* Feeds N bytes. */
static void lines_feed(struct lines *l, const char *chunk, size_t n, line_fn fn, line_fn long_fn, void *ctx)
{
	for (size_t i = 0; i < n; i++) {
		char ch = chunk[i];
		if (ch == '\n') {
			if (l->skipping)
				long_fn(ctx, NULL, 0);
			else
				fn(ctx, l->line, l->len);
			l->skipping = false;
			l->len = 0;
		} else if (l->skipping) {
			continue;
		} else if (l->len < sizeof l->line - 1) {
			l->line[l->len++] = ch;
		} else {
			l->skipping = true;
			l->len = 0;
		}
	}
}

/* End of input: a last line without its newline still counts. */
static void lines_end(struct lines *l, line_fn fn, line_fn long_fn, void *ctx)
{
	if (l->skipping)
		long_fn(ctx, NULL, 0);
	else if (l->len)
		fn(ctx, l->line, l->len);
	l->skipping = false;
	l->len = 0;
}

static void serve_line(void *ctx, const char *line, size_t len)
{
	handle_line(ctx, line, len);
}

static void serve_long(void *ctx, const char *line, size_t len)
{
	struct serve_ctx *sc = ctx;
	(void)line;
	(void)len;
	run_flush(sc->a, &sc->run);
	log_err("rejected request: line too long");
	reply(0, 0, "line too long");
}

/* Serves requests until stdin ends: what one read brings is handled as
 * a whole (one batch where the backend can), then answered. */
static void serve(struct app *a)
{
	static struct serve_ctx sc;
	static char chunk[64 * 1024];
	struct lines l = {.len = 0};
	sc.a = a;
	for (;;) {
		ssize_t r = read(STDIN_FILENO, chunk, sizeof chunk);
		if (r < 0) {
			if (errno == EINTR)
				continue;
			log_err("cannot read requests: %s", strerror(errno));
			exit(1);
		}
		if (r == 0)
			break;
		lines_feed(&l, chunk, (size_t)r, serve_line, serve_long, &sc);
		run_flush(a, &sc.run);
		out_flush();
	}
	lines_end(&l, serve_line, serve_long, &sc);
	run_flush(a, &sc.run);
	out_flush();
}

/* ---- start-up ------------------------------------------------------------ */

static void usage(FILE *f)
{
	fprintf(f, "usage: logknock-apply [--config FILE]\n"
		   "       logknock-apply --backend log --guard PORT [--guard PORT...]\n"
		   "       logknock-apply --backend command [--timeout MS] --guard PORT [--guard PORT...]\n"
		   "                      --open ARG [--open ARG...] --close ARG [--close ARG...]\n"
		   "       logknock-apply --backend nft|iptables|ipset [--timeout MS] [--name NAME]\n"
		   "                      [--guard-loopback] --guard PORT [--guard PORT...]\n"
		   "       (each: [--gateway tcp/N,ADDRESS[/PREFIX]...] for forward and dnat grants)\n"
		   "       logknock-apply --help | --version\n"
		   "Reads requests (open/close/flush) on stdin and answers each on stdout; opens and\n"
		   "closes only the --guard ports (tcp/N, udp/N, icmp/TYPE, icmpv6/TYPE).\n"
		   "The guard leaves packets that came in on loopback to the rest of the ruleset,\n"
		   "unless --guard-loopback.\n"
		   "Without options, or with --config, the settings come from a file (default %s).\n"
		   "Started with more privilege than its caller (sudo), it takes them from that file only.\n"
		   "Placeholders in ARG: %%IP%% %%PROTO%% %%PORT%% %%DOOR%% %%FAMILY%% %%SECONDS%%\n",
		APPLY_CONF_DEFAULT);
}

/* A message and exit status 2; a usage error adds the hint to --help. */
static void vfatal(int hint, const char *fmt, va_list ap) __attribute__((format(printf, 2, 0), noreturn));

static void vfatal(int hint, const char *fmt, va_list ap)
{
	fprintf(stderr, "logknock-apply: ");
	vfprintf(stderr, fmt, ap);
	fprintf(stderr, hint ? "\nTry 'logknock-apply --help' for more information.\n" : "\n");
	exit(2);
}

static void fatal_usage(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));

static void fatal_usage(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vfatal(1, fmt, ap);
	va_end(ap);
}

static void fatal(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));

static void fatal(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vfatal(0, fmt, ap);
	va_end(ap);
}

/* The --open and --close templates: pointers into argv, never more than
 * argc of them, so room for them is taken once at start. */
static char **open_v, **close_v;

static void push(char **v, size_t *n, char *arg)
{
	v[(*n)++] = arg;
	v[*n] = NULL;
}

/* ---- who started us ----------------------------------------------------------
 *
 * Whether this process holds more privilege than the one that started it,
 * and why (into buf), or NULL. Any one of these counts; a false alarm only
 * makes the applier stricter, a miss would hand root to its caller:
 *  - a secure exec (AT_SECURE: set-user-ID, set-group-ID, file capabilities)
 *    or real and effective IDs that differ;
 *  - the mark a privilege tool leaves in the environment, which its caller
 *    cannot remove: sudo and run0 set SUDO_UID, SUDO_USER and SUDO_COMMAND,
 *    doas DOAS_USER, pkexec PKEXEC_UID (logknockd removes these from its
 *    own environment, so that the applier it starts itself is never
 *    mistaken: it gets the daemon's own privileges, no more);
 *  - a parent (the process that exec'd us, for a tool that execs in place)
 *    whose effective uid is neither root nor ours, or that does not hold in
 *    its permitted set every capability we have; or a parent we cannot
 *    examine, or none (we were orphaned: the caller is unknown).
 * What it cannot see: a privilege tool that stays running as root as our
 * parent and sets none of those variables. */
static int status_field(const char *path, const char *field, char *out, size_t outlen)
{
	FILE *f = fopen(path, "re");
	if (!f)
		return -1;
	char line[256];
	size_t fl = strlen(field);
	int found = -1;
	while (found < 0 && fgets(line, sizeof line, f)) {
		if (strncmp(line, field, fl) == 0 && line[fl] == ':') {
			snprintf(out, outlen, "%s", line + fl + 1);
			found = 0;
		}
	}
	fclose(f);
	return found;
}

static const char *elevated(char *buf, size_t len)
{
	if (getauxval(AT_SECURE) || getuid() != geteuid() || getgid() != getegid())
		return "set-user-ID, set-group-ID or file capabilities";
	static const char *const marks[] = {"SUDO_UID", "SUDO_USER", "SUDO_COMMAND", "DOAS_USER", "PKEXEC_UID", NULL};
	for (size_t i = 0; marks[i]; i++) {
		if (getenv(marks[i])) {
			snprintf(buf, len, "%s is set: started through sudo, run0, doas or pkexec", marks[i]);
			return buf;
		}
	}
	pid_t pp = getppid();
	if (pp <= 1)
		return "its parent is gone: the caller cannot be told";
	char path[64], uids[128], prm[64], eff[64];
	snprintf(path, sizeof path, "/proc/%d/status", (int)pp);
	if (status_field(path, "Uid", uids, sizeof uids) < 0 || status_field(path, "CapPrm", prm, sizeof prm) < 0 ||
	    status_field("/proc/self/status", "CapEff", eff, sizeof eff) < 0 || getppid() != pp)
		return "its parent's credentials cannot be read";
	/* "Uid:\tREAL\tEFFECTIVE\t...", "CapPrm:\tHEX"; anything else counts as unreadable. */
	char *end1, *end2, *end3, *end4;
	errno = 0;
	unsigned long long pcap = strtoull(prm, &end1, 16), mycap = strtoull(eff, &end2, 16);
	(void)strtoull(uids, &end3, 10);
	unsigned long long e = strtoull(end3, &end4, 10);
	if (errno || end1 == prm || end2 == eff || end3 == uids || end4 == end3 || (*end4 != '\t' && *end4 != ' '))
		return "its parent's credentials cannot be read";
	if (e != 0 && e != (unsigned long long)geteuid()) {
		snprintf(buf, len, "its parent runs as uid %llu", e);
		return buf;
	}
	if (mycap & ~pcap)
		return "it holds capabilities its parent does not";
	return NULL;
}

/* Loads the settings file into *ac. ELEVATED: the file, and every directory
 * above it, must be root's alone; else the caller could write our orders. */
static void load_conf(const char *path, const char *why, struct apply_conf *ac)
{
	char real[PATH_MAX], err[PATH_MAX + 256];
	if (why) {
		struct stat st;
		struct perm_report r;
		if (!realpath(path, real))
			fatal("%s: %s", path, strerror(errno));
		if (stat(real, &st) < 0 || !S_ISREG(st.st_mode))
			fatal("%s: not a regular file", path);
		int rc = perm_others_may_write(real, 1, 1, (uid_t)-1, &r);
		if (rc < 0)
			fatal("%s: %s", path, strerror(errno));
		if (rc == 1)
			fatal("%s: refused: %s can be changed by %s (mode %04o, owner %u). Started with more privilege "
			      "than its caller (%s), the applier takes its settings only from a file that root alone "
			      "may change: owned by root, not writable by group or others, in directories the same",
			      path, r.path, r.who, r.mode, r.uid, why);
		path = real;	/* no link in it can change any more: root's directories */
	}
	if (apply_conf_load(path, ac, err, sizeof err) < 0)
		fatal("%s", err);
}

/* Makes sure fds 0, 1, 2 exist, so that no pipe of ours ends up there. */
static void sane_fds(void)
{
	for (int fd = 0; fd <= 2; fd++) {
		if (fcntl(fd, F_GETFD) >= 0 || errno != EBADF)
			continue;
		int nul = open("/dev/null", O_RDWR);
		if (nul < 0)
			exit(1);
		if (nul != fd) {
			/* Lower fds are open, so open() returns fd itself. */
			close(nul);
			exit(1);
		}
	}
}

static int64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* One worker: sets the backend up, says "ready", serves until stdin ends.
 * Exit status 0 at the end of input, 2 when the backend cannot be set up. */
static int work(struct app *a)
{
	prctl(PR_SET_PDEATHSIG, SIGTERM);
	char err[512];
	if (!(a->st = a->be->create(&a->o, err, sizeof err))) {
		fprintf(stderr, "logknock-apply: %s\n", err);
		return 2;
	}
	if (write_all(STDOUT_FILENO, "ready\n", 6) < 0)
		return 1;
	/* The fast backends log into a buffer, written with the replies. */
	if (a->be == &apply_backend_log || a->be == &apply_backend_nft) {
		out_fast = true;
		setvbuf(stderr, out_err, _IOFBF, sizeof out_err);
	}
	serve(a);
	if (a->n)
		log_info("exiting with %zu rule%s still open", a->n, a->n == 1 ? "" : "s");
	free(a->ents);
	free(a->slots);
	a->be->destroy(a->st);
	fflush(stderr);		/* _exit() follows */
	return 0;
}

/* ---- the keeper ------------------------------------------------------------
 *
 * This process keeps the privileges the daemon gave up and replaces a worker
 * that crashed, so that a restarted applier can still change the firewall.
 *
 * It relays requests to the worker as they come, up to KEEPER_WINDOW of
 * them unanswered, and the worker's replies back, in order: the worker
 * answers every line it is given exactly once, in order, so the Nth reply is
 * the Nth request's. Every request relayed stays in the keeper's queue until
 * its reply came. When the worker dies, the oldest unanswered request is the
 * one it died on (it works in order): the keeper answers that one with an
 * error, starts a new worker, passes its "ready" on, and sends it the rest
 * of the queue again — requests the old worker never got to, or whose
 * change (idempotent: open, close and flush all are) is simply made again.
 * So each request is answered exactly once — by a worker, or by the keeper
 * with an error — and nothing is left half-read. An overlong line is
 * answered by the keeper itself, in its turn. The daemon sends the grants
 * that should be open again when it sees "ready". */

#define KEEPER_WINDOW 128		/* requests relayed and not yet answered */
#define KEEPER_IN_MAX (64 * 1024)	/* one read of requests */
#define KEEPER_OUT_MAX ((KEEPER_WINDOW + 4) * (APPLY_LINE_MAX + 1))

struct worker {
	pid_t pid;
	int in, out;		/* its stdin (we write), its stdout (we read) */
	char buf[8192];		/* its output not yet split into lines */
	size_t len;
	bool in_broken;		/* its stdin is gone (EPIPE): it is dying */
};

/* Reads one line of the worker's (without newline) into w->buf, waiting at
 * most timeout_ms (-1: forever). 1, 0 at EOF (it died), -1 on timeout. */
static int worker_line(struct worker *w, int timeout_ms)
{
	for (;;) {
		char *nl = memchr(w->buf, '\n', w->len);
		if (nl) {
			*nl = '\0';
			return 1;
		}
		if (w->len >= sizeof w->buf - 1)
			w->len = 0;	/* cannot happen: replies are short; drop it */
		struct pollfd p = {.fd = w->out, .events = POLLIN};
		int r = poll(&p, 1, timeout_ms);
		if (r < 0 && errno == EINTR)
			continue;
		if (r == 0)
			return -1;
		ssize_t n = read(w->out, w->buf + w->len, sizeof w->buf - 1 - w->len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return 0;
		w->len += (size_t)n;
	}
}

/* Drops the line worker_line() returned. */
static void worker_consume(struct worker *w)
{
	size_t used = strlen(w->buf) + 1;
	memmove(w->buf, w->buf + used, w->len - used);
	w->len -= used;
}

/* Reaps a worker whose output ended; its exit status as keep() returns it,
 * or -1 if it crashed (a signal). */
static int worker_reap(struct worker *w)
{
	int status = 0;
	close(w->in);
	close(w->out);
	while (waitpid(w->pid, &status, 0) < 0 && errno == EINTR)
		;
	w->pid = 0;
	if (WIFSIGNALED(status)) {
		log_err("worker killed by signal %d", WTERMSIG(status));
		return -1;
	}
	return WIFEXITED(status) ? WEXITSTATUS(status) : 1;
}

/* A request in the keeper's queue: the line with its newline, or (own) the
 * keeper's own reply to a line it did not relay. */
struct queued {
	bool own;
	uint16_t len;
	char line[APPLY_LINE_MAX + 1];
};

struct keeper {
	struct app *a;
	struct worker w;
	unsigned delay_ms;	/* before replacing a worker that crashed */
	int64_t started;	/* when the current worker started */
	/* Unanswered, in order: q[(head + i) % KEEPER_WINDOW], i < n. The
	 * first nsent relayed ones (own ones skipped) are written to the
	 * worker, and off bytes of the next one. */
	struct queued q[KEEPER_WINDOW];
	size_t head, n, nsent, off;
	/* Requests read, not yet queued (the queue was full). */
	char in[KEEPER_IN_MAX];
	size_t inlen;
	bool skipping;		/* inside an overlong request line */
	bool eof;		/* stdin ended */
	/* Replies for the daemon, written once per round. */
	char out[KEEPER_OUT_MAX];
	size_t outlen;
};

static struct queued *kq(struct keeper *k, size_t i)
{
	return &k->q[(k->head + i) % KEEPER_WINDOW];
}

static int keeper_flush(struct keeper *k)
{
	int r = k->outlen ? write_all(STDOUT_FILENO, k->out, k->outlen) : 0;
	k->outlen = 0;
	return r;
}

/* LINE (with its newline) for the daemon. */
static int keeper_put(struct keeper *k, const char *line, size_t len)
{
	if (k->outlen + len > sizeof k->out && keeper_flush(k) < 0)
		return -1;
	memcpy(k->out + k->outlen, line, len);
	k->outlen += len;
	return 0;
}

/* Pops the head of the queue, then the keeper's own replies now first. */
static int keeper_pop(struct keeper *k)
{
	k->head = (k->head + 1) % KEEPER_WINDOW;
	k->n--;
	while (k->n && kq(k, 0)->own) {
		struct queued *e = kq(k, 0);
		if (keeper_put(k, e->line, e->len) < 0)
			return -1;
		k->head = (k->head + 1) % KEEPER_WINDOW;
		k->n--;
	}
	if (k->n == 0)
		k->head = 0;
	return 0;
}

/* A line read from the daemon into the queue (OWN: the keeper's answer). */
static int keeper_queue(struct keeper *k, const char *line, size_t len, bool own)
{
	if (own && k->n == 0)
		return keeper_put(k, line, len);
	struct queued *e = kq(k, k->n++);
	e->own = own;
	e->len = (uint16_t)len;
	memcpy(e->line, line, len);
	return 0;
}

/* Splits what was read into queued requests while the queue has room. */
static int keeper_take(struct keeper *k)
{
	size_t pos = 0;
	while (k->n < KEEPER_WINDOW && pos < k->inlen) {
		char *start = k->in + pos;
		char *nl = memchr(start, '\n', k->inlen - pos);
		size_t len = nl ? (size_t)(nl - start) : k->inlen - pos;
		if (!nl && !(k->eof && len > 0)) {
			/* No newline yet: an overlong line is dropped as it comes. */
			if (len >= APPLY_LINE_MAX) {
				k->skipping = true;
				pos = k->inlen;
			}
			break;
		}
		pos += len + (nl ? 1 : 0);
		if (k->skipping || len >= APPLY_LINE_MAX) {
			k->skipping = false;
			char line[APPLY_LINE_MAX + 1];
			log_err("rejected request: line too long");
			size_t m = reply_format(line, 0, 0, "line too long");
			if (keeper_queue(k, line, m, true) < 0)
				return -1;
			continue;
		}
		char line[APPLY_LINE_MAX + 1];
		memcpy(line, start, len);
		line[len] = '\n';
		if (keeper_queue(k, line, len + 1, false) < 0)
			return -1;
	}
	memmove(k->in, k->in + pos, k->inlen - pos);
	k->inlen -= pos;
	/* At the end of input, a last overlong line without its newline. */
	if (k->eof && k->skipping && k->inlen == 0 && k->n < KEEPER_WINDOW) {
		k->skipping = false;
		char line[APPLY_LINE_MAX + 1];
		log_err("rejected request: line too long");
		size_t m = reply_format(line, 0, 0, "line too long");
		if (keeper_queue(k, line, m, true) < 0)
			return -1;
	}
	return 0;
}

/* Writes what the worker has not been given yet, as much as its pipe takes. */
static void keeper_send(struct keeper *k)
{
	while (!k->w.in_broken) {
		struct iovec iov[64];
		int niov = 0;
		size_t skip = k->off;
		for (size_t i = 0, relayed = 0; i < k->n && niov < 64; i++) {
			struct queued *e = kq(k, i);
			if (e->own)
				continue;
			if (relayed++ < k->nsent)
				continue;
			iov[niov].iov_base = e->line + skip;
			iov[niov++].iov_len = e->len - skip;
			skip = 0;
		}
		if (niov == 0)
			return;
		ssize_t w = writev(k->w.in, iov, niov);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			if (errno != EAGAIN && errno != EWOULDBLOCK)
				k->w.in_broken = true;	/* it died: its output ends next */
			return;
		}
		/* Advance nsent/off over W bytes. */
		size_t left = (size_t)w;
		for (int j = 0; j < niov && left; j++) {
			if (left >= iov[j].iov_len) {
				left -= iov[j].iov_len;
				k->nsent++;
				k->off = 0;
			} else {
				k->off += left;
				left = 0;
			}
		}
	}
}

/* Starts a worker and passes its "ready" on. 0, or the exit status the
 * keeper must end with (the backend cannot be set up). */
static int worker_start(struct keeper *k)
{
	struct app *a = k->a;
	struct worker *w = &k->w;
	for (;;) {
		int in[2], out[2];
		if (pipe2(in, O_CLOEXEC) < 0 || pipe2(out, O_CLOEXEC) < 0) {
			log_err("cannot start a worker: %s", strerror(errno));
			return 1;
		}
		k->started = now_ms();
		pid_t pid = fork();
		if (pid < 0) {
			log_err("cannot start a worker: %s", strerror(errno));
			return 1;
		}
		if (pid == 0) {
			/* Our ends of its pipes must not stay open in it, or it
			 * never sees the end of its input. */
			close(in[1]);
			close(out[0]);
			if (dup2(in[0], STDIN_FILENO) < 0 || dup2(out[1], STDOUT_FILENO) < 0)
				_exit(1);
			close(in[0]);
			close(out[1]);
			_exit(work(a));
		}
		close(in[0]);
		close(out[1]);
		*w = (struct worker){.pid = pid, .in = in[1], .out = out[0]};
		int r = worker_line(w, -1);
		if (r == 1 && strcmp(w->buf, "ready") == 0) {
			worker_consume(w);
			/* Never blocked on it: the keeper reads its replies meanwhile. */
			fcntl(w->in, F_SETFL, fcntl(w->in, F_GETFL) | O_NONBLOCK);
			k->nsent = k->off = 0;	/* the queue goes to it again */
			return keeper_put(k, "ready\n", 6) < 0 ? 1 : 0;
		}
		int st = worker_reap(w);
		if (st >= 0)
			return st ? st : 1;	/* it could not set the backend up */
		/* Crashed before it was ready: try again, slower each time. */
		keeper_flush(k);
		struct timespec ts = {.tv_sec = k->delay_ms / 1000, .tv_nsec = (long)(k->delay_ms % 1000) * 1000000};
		while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
			;
		k->delay_ms = k->delay_ms * 2 > KEEPER_BACKOFF_MAX_MS ? KEEPER_BACKOFF_MAX_MS : k->delay_ms * 2;
	}
}

/* The worker's output ended: it died. The request it died on (the oldest
 * one it was given) is answered with an error; a new worker gets the rest.
 * 0, or the exit status the keeper must end with. */
static int worker_died(struct keeper *k)
{
	bool given = k->n > 0 && (k->nsent > 0 || k->off > 0);
	int st = worker_reap(&k->w);
	if (given) {
		struct queued *e = kq(k, 0);	/* not own: those are popped at once */
		struct apply_cmd c = {0};
		char err[256], line[APPLY_LINE_MAX + 1];
		apply_parse(e->line, e->len - 1, &c, err, sizeof err);
		size_t m = reply_format(line, c.id, 0, st < 0 ? "applier worker crashed" : "applier worker stopped");
		if (keeper_put(k, line, m) < 0 || keeper_pop(k) < 0)
			return 1;
	}
	if (st >= 0)
		return st ? st : 1;
	if (now_ms() - k->started > KEEPER_STABLE_MS)
		k->delay_ms = KEEPER_BACKOFF_MIN_MS;
	return worker_start(k);
}

/* Reads what the worker wrote: each line is the oldest request's reply.
 * 1 while it lives, 0 once its output ended. */
static int worker_replies(struct keeper *k)
{
	struct worker *w = &k->w;
	ssize_t r = read(w->out, w->buf + w->len, sizeof w->buf - w->len);
	if (r < 0)
		return errno == EINTR || errno == EAGAIN ? 1 : 0;
	if (r == 0)
		return 0;
	w->len += (size_t)r;
	size_t pos = 0;
	for (char *nl; (nl = memchr(w->buf + pos, '\n', w->len - pos));) {
		size_t len = (size_t)(nl - (w->buf + pos)) + 1;
		if (keeper_put(k, w->buf + pos, len) < 0)
			return -1;
		pos += len;
		if (k->n == 0)
			continue;	/* cannot happen: one reply per request */
		if (k->nsent > 0)
			k->nsent--;
		else
			k->off = 0;
		if (keeper_pop(k) < 0)
			return -1;
	}
	memmove(w->buf, w->buf + pos, w->len - pos);
	w->len -= pos;
	if (w->len == sizeof w->buf)
		w->len = 0;	/* cannot happen: replies are short; drop it */
	return 1;
}

static int keep_run(struct keeper *k);

/* The keeper's state is large (the queue and its buffers): static, not on
 * the stack. */
static int keep(struct app *a)
{
	static struct keeper k;
	k.a = a;
	k.delay_ms = KEEPER_BACKOFF_MIN_MS;
	int st = keep_run(&k);
	k.a = NULL;	/* the caller's, on its stack */
	return st;
}

static int keep_run(struct keeper *k)
{
	signal(SIGPIPE, SIG_IGN);
	int st = worker_start(k);
	if (st)
		return st;
	for (;;) {
		if (keeper_take(k) < 0)
			return 1;
		if (k->eof && k->inlen == 0 && !k->skipping && k->n == 0)
			break;
		keeper_send(k);
		if (keeper_flush(k) < 0)
			return 1;
		bool unsent = false;
		for (size_t i = 0, relayed = 0; i < k->n && !unsent; i++)
			if (!kq(k, i)->own && relayed++ >= k->nsent)
				unsent = true;
		/* Idle, the worker is watched too: one that dies between
		 * requests is replaced at once. */
		struct pollfd p[3] = {
			{.fd = k->w.out, .events = POLLIN},
			{.fd = unsent && !k->w.in_broken ? k->w.in : -1, .events = POLLOUT},
			{.fd = !k->eof && k->n < KEEPER_WINDOW && k->inlen < sizeof k->in ? STDIN_FILENO : -1,
			 .events = POLLIN},
		};
		if (poll(p, 3, -1) < 0) {
			if (errno == EINTR)
				continue;
			log_err("poll: %s", strerror(errno));
			return 1;
		}
		if (p[0].revents) {
			int r = worker_replies(k);
			if (r < 0)
				return 1;
			if (r == 0 && (st = worker_died(k)))
				return st;
		}
		if (p[2].revents) {
			ssize_t r = read(STDIN_FILENO, k->in + k->inlen, sizeof k->in - k->inlen);
			if (r < 0 && errno != EINTR && errno != EAGAIN) {
				log_err("cannot read requests: %s", strerror(errno));
				r = 0;
			}
			if (r == 0)
				k->eof = true;
			else if (r > 0)
				k->inlen += (size_t)r;
		}
	}
	if (keeper_flush(k) < 0)
		return 1;
	/* End of input, every request answered: the worker ends too. */
	close(k->w.in);
	int status = 0;
	while (waitpid(k->w.pid, &status, 0) < 0 && errno == EINTR)
		;
	close(k->w.out);
	return WIFEXITED(status) ? WEXITSTATUS(status) : 1;
}

int main(int argc, char **argv)
{
	sane_fds();
	log_init("logknock-apply");
	/* What the daemon blocked or ignored must not leak into us. */
	sigset_t none;
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	signal(SIGCHLD, SIG_DFL);
	signal(SIGPIPE, SIG_IGN);

	char whybuf[128];
	const char *why = elevated(whybuf, sizeof whybuf);
	if (why) {
		/* Nothing of the caller's environment reaches a backend. */
		clearenv();
		setenv("PATH", "/usr/sbin:/usr/bin:/sbin:/bin", 1);
	}

	static const struct option opts[] = {
		{"backend", required_argument, NULL, 'b'},
		{"timeout", required_argument, NULL, 't'},
		{"open", required_argument, NULL, 'o'},
		{"close", required_argument, NULL, 'c'},
		{"guard", required_argument, NULL, 'g'},
		{"gateway", required_argument, NULL, 'G'},
		{"guard-loopback", no_argument, NULL, 'L'},
		{"name", required_argument, NULL, 'n'},
		{"config", required_argument, NULL, 'C'},
		{"help", no_argument, NULL, 'h'},
		{"version", no_argument, NULL, 'V'},
		{NULL, 0, NULL, 0},
	};
	open_v = calloc((size_t)argc + 1, sizeof *open_v);
	close_v = calloc((size_t)argc + 1, sizeof *close_v);
	if (!open_v || !close_v) {
		log_err("out of memory");
		return 1;
	}
	struct app a = {.o = {.timeout_ms = TIMEOUT_DEFAULT_MS, .name = "logknock"}};
	a.o.open_t = open_v;
	a.o.close_t = close_v;
	const char *backend = NULL, *config = NULL, *cli = NULL;
	bool timeout_set = false;
	int opt, at = 1;
	opterr = 0;
	while ((at = optind, opt = getopt_long(argc, argv, "+", opts, NULL)) != -1) {
		if (opt != 'C' && opt != 'h' && opt != 'V' && !cli)
			cli = at < argc ? argv[at] : "an option";
		if (why && opt != 'C' && opt != 'h' && opt != 'V')
			fatal("refused: '%.60s' on the command line. This applier runs with more privilege than its caller "
			      "(%s): it takes its backend, commands, guarded ports, names and time limits only from "
			      "%s, a file root alone may change (or from --config FILE, such a file too)",
			      cli, why, APPLY_CONF_DEFAULT);
		switch (opt) {
		case 'b':
			backend = optarg;
			break;
		case 't': {
			char *end;
			errno = 0;
			long v = (optarg[0] >= '0' && optarg[0] <= '9') ? strtol(optarg, &end, 10) : -1;
			if (v < 1 || v > TIMEOUT_MAX_MS || errno || *end)
				fatal_usage("bad --timeout '%s' (milliseconds, 1..600000)", optarg);
			a.o.timeout_ms = (int)v;
			timeout_set = true;
			break;
		}
		case 'o':
		case 'c':
			if (strlen(optarg) > ARG_MAX_LEN)
				fatal_usage("argument template longer than 4096 bytes: '%.40s...'", optarg);
			push(opt == 'o' ? a.o.open_t : a.o.close_t, opt == 'o' ? &a.o.nopen : &a.o.nclose, optarg);
			break;
		case 'g':
			if (apply_guard_add(&a.o, optarg) < 0)
				fatal_usage("bad --guard '%s' (tcp/N, udp/N, icmp/TYPE or icmpv6/TYPE; at most %d)",
					    optarg, APPLY_GUARD_MAX);
			break;
		case 'G':
			if (apply_gateway_add(&a.o, optarg) < 0)
				fatal_usage("bad --gateway '%s' (tcp/N,ADDRESS or udp/N,ADDRESS/PREFIX; at most %d)", optarg,
					    APPLY_GW_MAX);
			break;
		case 'L':
			a.o.guard_loopback = true;
			break;
		case 'n':
			if (!apply_name_ok(optarg))
				fatal_usage("bad --name '%s' (letters, digits, _ and -, at most 28)", optarg);
			a.o.name = optarg;
			break;
		case 'C':
			if (config)
				fatal_usage("--config given twice");
			config = optarg;
			break;
		case 'h':
			usage(stdout);
			return 0;
		case 'V':
			puts("logknock-apply " PACKAGE_VERSION);
			return 0;
		default:
			if (why)
				fatal("refused: '%.60s' on the command line (only --config FILE is taken: started with "
				      "more privilege than the caller, %s)", at < argc ? argv[at] : "?", why);
			fatal_usage("unknown option, or one without its value: '%s'", at < argc ? argv[at] : "?");
		}
	}
	if (optind < argc) {
		if (why)
			fatal("refused: '%.60s' on the command line (only --config FILE is taken: started with more "
			      "privilege than the caller, %s)", argv[optind], why);
		fatal_usage("unexpected argument '%s'", argv[optind]);
	}
	struct apply_conf ac;
	if (config || !cli) {
		if (config && cli)
			fatal_usage("--config and '%s' exclude each other: the settings come from one place", cli);
		load_conf(config ? config : APPLY_CONF_DEFAULT, why, &ac);
		a.o = ac.o;
		backend = ac.backend;
		timeout_set = ac.timeout_set;
	}
	if (!backend)
		fatal_usage("--backend is required");
	for (size_t i = 0; i < sizeof backends / sizeof *backends && !a.be; i++)  // NOLINT(bugprone-sizeof-expression)
		if (strcmp(backends[i]->name, backend) == 0)
			a.be = backends[i];
	if (!a.be)
		fatal_usage("unknown backend '%s'", backend);
	if (a.be != &apply_backend_command && (a.o.nopen || a.o.nclose))
		fatal_usage("--open and --close belong to --backend command");
	if (a.be == &apply_backend_log && timeout_set)
		fatal_usage("--timeout does not apply to --backend log");
	if (a.o.guard_loopback && a.be != &apply_backend_nft && a.be != &apply_backend_iptables &&
	    a.be != &apply_backend_ipset)
		fatal_usage("--guard-loopback belongs to --backend nft, iptables and ipset");
	if (a.o.nguard == 0 && a.o.ngw == 0)
		log_warn("no guarded ports (--guard, or guard: in the settings file): every open and close will be refused");
	int st = keep(&a);
	if (config || !cli)
		apply_conf_free(&ac);
	free(open_v);
	free(close_v);
	return st;
}
