/* applier.c — the daemon's side of the applier: starts logknock-apply with
 * two pipes, writes requests, reads replies, restarts it when it dies.
 *
 * Behaviour the caller relies on:
 *  - argv is copied; argv[0] must be an absolute path (execv, no PATH search,
 *    no shell). The child inherits the daemon's environment and stderr; its
 *    stdin and stdout are the protocol pipes; every other descriptor is
 *    closed; its signal mask is emptied and SIGPIPE reset to default.
 *  - applier_new ignores SIGPIPE in the whole process and, with ev, blocks
 *    SIGCHLD (sd_event_add_child requires it).
 *  - Replies are matched to requests by ID; "error 0 ..." and garbled reply
 *    lines are charged to the oldest pending request (the applier answers in
 *    order). When the applier goes away, every pending request gets
 *    cb(ctx, id, 0, "applier ...") at once.
 *  - With ev, a dead applier is restarted after 1 s, then 2, 4, ... up to 30 s;
 *    the back-off starts again at 1 s once an applier has lived 60 s. While it
 *    is down, applier_send returns -1. Without ev there is no restart.
 *  - Requests are pipelined: applier_send queues the request's line and
 *    returns; the lines queued go out together, in one write — with ev,
 *    once the current event is dispatched (a defer source of high priority,
 *    so before the loop waits again), and, when the pipe is full, as it
 *    drains (the loop never blocks on it); without ev, once WBUF_FLUSH
 *    bytes wait, and in applier_drain/applier_wait_ready/applier_free.
 *    The applier gets requests that arrive together in one read: it applies
 *    them as one firewall change where it can (logknock-apply.c).
 *  - cb may call applier_send, but not applier_free. Without ev, cb may run
 *    from inside applier_send when the request pipe is full (replies are
 *    read meanwhile, so that daemon and applier can never block each other).
 *  - applier_free writes what is queued, then drops pending requests without
 *    calling cb. */
#include "applier.h"

#include "log.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define BACKOFF_MIN_US (1 * 1000000ULL)
#define BACKOFF_MAX_US (30 * 1000000ULL)
#define STABLE_US (60 * 1000000ULL)	/* an applier that lived this long resets the back-off */
#define SEND_WAIT_MS 10000		/* without ev: longest wait for room in a full request pipe */
#define WBUF_FLUSH 16384		/* without ev: queued bytes written at once */
#define WBUF_MAX (16 * 1024 * 1024)	/* queued bytes: an applier that reads nothing for this long is stuck */
#define FREE_WAIT_MS 5000		/* applier_free: wait this long before SIGKILL */

struct applier {
	sd_event *ev;
	char **argv;
	applier_reply_fn cb;
	void *ctx;

	pid_t pid;		/* 0: not running (or already reaped) */
	int wfd, rfd;		/* -1: closed */
	uint64_t started_us;	/* CLOCK_MONOTONIC */

	/* Pending requests in the order sent: ids[head .. head+count). */
	struct pending *ids;
	size_t head, count, cap;
	unsigned readies;	/* "ready" lines seen: each after the first is a restart */
	applier_restart_fn restart_cb;
	applier_restart_fn ready_cb;	/* every "ready", the first too (fleet) */
	bool is_ready;		/* the running process said "ready" */
	char name[80];		/* in messages: "applier", or a fleet host's link */

	char line[APPLY_LINE_MAX];
	size_t linelen;
	bool skipping;		/* inside an overlong reply line */

	sd_event_source *io, *child, *timer;
	sd_event_source *wio, *flush;	/* ev: the request pipe has room; write what is queued */

	/* Request lines queued, not yet written: wbuf[woff .. wlen). */
	char *wbuf;
	size_t woff, wlen, wcap;
	uint64_t backoff_us;
	uint64_t backoff_max_us;	/* 0: BACKOFF_MAX_US */

	/* applier_info */
	uint64_t requests, errors;
	uint64_t lat[APPLIER_LAT_BUCKETS], lat_count, lat_sum_us;	/* lat: per bucket, not cumulative */
	uint64_t read_us;	/* CLOCK_MONOTONIC when the replies being dispatched were read */
};

/* A request sent and not answered yet, with when it was sent. */
struct pending {
	struct apply_cmd cmd;
	uint64_t sent_us;	/* CLOCK_MONOTONIC */
};

const double applier_lat_le[APPLIER_LAT_BUCKETS - 1] = {
	0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1,
};
/* The same bounds in microseconds: no floating point per reply. */
static const uint64_t lat_le_us[APPLIER_LAT_BUCKETS - 1] = {
	100, 250, 500, 1000, 2500, 5000, 10000, 25000, 50000, 100000, 250000, 500000, 1000000,
};

static int spawn(struct applier *a);

static uint64_t mono_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000ULL + (uint64_t)ts.tv_nsec / 1000;
}

/* ---- pending requests ----------------------------------------------------- */

static int pending_reserve(struct applier *a)
{
	if (a->head + a->count < a->cap)
		return 0;
	if (a->head > 0) {
		memmove(a->ids, a->ids + a->head, a->count * sizeof *a->ids);
		a->head = 0;
		if (a->count < a->cap)
			return 0;
	}
	size_t ncap = a->cap ? a->cap * 2 : 64;
	struct pending *n = realloc(a->ids, ncap * sizeof *n);
	if (!n)
		return -1;
	a->ids = n;
	a->cap = ncap;
	return 0;
}

/* Removes and returns the pending request at position k (0 is the oldest). */
static struct pending pending_take(struct applier *a, size_t k)
{
	struct pending id = a->ids[a->head + k];
	if (k == 0) {
		a->head++;
	} else {
		memmove(a->ids + a->head + k, a->ids + a->head + k + 1, (a->count - k - 1) * sizeof *a->ids);
	}
	a->count--;
	if (a->count == 0)
		a->head = 0;
	return id;
}

/* Every pending request fails with msg. */
static void pending_fail_all(struct applier *a, const char *msg)
{
	while (a->count > 0) {
		struct pending p = pending_take(a, 0);
		a->errors++;
		if (a->cb)
			a->cb(a->ctx, &p.cmd, 0, msg);
	}
}

/* ---- replies ---------------------------------------------------------------- */

/* P was answered (OK or not): its latency, from its send to the read of
 * its reply, into the histogram. */
static void answered(struct applier *a, const struct pending *p, int ok)
{
	if (!ok)
		a->errors++;
	uint64_t us = a->read_us > p->sent_us ? a->read_us - p->sent_us : 0;
	size_t b = 0;
	while (b < APPLIER_LAT_BUCKETS - 1 && us > lat_le_us[b])
		b++;
	a->lat[b]++;
	a->lat_count++;
	a->lat_sum_us += us;
}

static void sanitize(char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s < 0x20 || (unsigned char)*s == 0x7f)
			*s = '?';
}

static void dispatch_line(struct applier *a, const char *line, size_t len, bool overlong)
{
	struct apply_reply r;
	if (!overlong && len == 5 && memcmp(line, "ready", 5) == 0) {
		/* A new applier process: the first at start, any later one after
		 * a crash (its keeper replaced the worker, or we restarted the
		 * keeper). Requests still pending are answered all the same —
		 * by the new worker, or with an error by the keeper (a request
		 * the old worker died on), or by mark_down() when the keeper
		 * itself died — so they stay pending; the daemon sends the
		 * grants that should be open again. */
		a->is_ready = true;
		if (a->ready_cb)
			a->ready_cb(a->ctx);
		if (a->readies++ == 0)
			return;
		log_warn("the %s restarted", a->name);
		if (a->restart_cb)
			a->restart_cb(a->ctx);
		return;
	}
	if (overlong || apply_parse_reply(line, len, &r) < 0) {
		char shown[64];
		snprintf(shown, sizeof shown, "%.*s", (int)(len < 48 ? len : 48), line);
		sanitize(shown);
		log_err("garbled reply from the applier: '%s%s'", shown, overlong || len > 48 ? "..." : "");
		if (a->count == 0)
			return;
		struct pending p = pending_take(a, 0);
		answered(a, &p, 0);
		if (a->cb)
			a->cb(a->ctx, &p.cmd, 0, "garbled reply from the applier");
		return;
	}
	if (r.id == 0) {
		/* The applier could not attribute a request: it is the oldest one. */
		if (a->count == 0) {
			log_err("applier: %s", r.msg);
			return;
		}
		struct pending p = pending_take(a, 0);
		answered(a, &p, 0);
		if (a->cb)
			a->cb(a->ctx, &p.cmd, 0, r.msg);
		return;
	}
	for (size_t k = 0; k < a->count; k++) {
		if (a->ids[a->head + k].cmd.id != r.id)
			continue;
		struct pending p = pending_take(a, k);
		answered(a, &p, r.ok);
		if (a->cb)
			a->cb(a->ctx, &p.cmd, r.ok, r.ok ? NULL : r.msg);
		return;
	}
	log_warn("applier answered request %llu, which is not pending", (unsigned long long)r.id);
}

/* Closes both pipes and fails what is pending. Idempotent. */
static void mark_down(struct applier *a, const char *why)
{
	a->io = sd_event_source_disable_unref(a->io);
	a->wio = sd_event_source_disable_unref(a->wio);
	if (a->flush)
		sd_event_source_set_enabled(a->flush, SD_EVENT_OFF);
	a->woff = a->wlen = 0;
	if (a->wfd >= 0) {
		close(a->wfd);
		a->wfd = -1;
	}
	if (a->rfd >= 0) {
		close(a->rfd);
		a->rfd = -1;
	}
	a->linelen = 0;
	a->skipping = false;
	a->is_ready = false;
	pending_fail_all(a, why);
}

/* Reads and dispatches what the applier wrote. 1 while the pipe is open,
 * 0 once it is closed (the applier is then marked down). */
static int read_replies(struct applier *a)
{
	char chunk[4096];
	while (a->rfd >= 0) {
		ssize_t n = read(a->rfd, chunk, sizeof chunk);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				return 1;
			log_err("cannot read from the applier: %s", strerror(errno));
			n = 0;
		}
		if (n == 0) {
			if (a->pid > 0 && a->ev)
				kill(a->pid, SIGTERM);	/* of no use without its output; the restart follows */
			mark_down(a, "applier stopped");
			return 0;
		}
		a->read_us = mono_us();
		for (ssize_t i = 0; i < n; i++) {
			char c = chunk[i];
			if (c == '\n') {
				dispatch_line(a, a->line, a->linelen, a->skipping);
				a->linelen = 0;
				a->skipping = false;
			} else if (a->skipping) {
				continue;
			} else if (a->linelen < sizeof a->line) {
				a->line[a->linelen++] = c;
			} else {
				a->skipping = true;
			}
		}
	}
	return 0;
}

/* ---- requests out ------------------------------------------------------------ */

/* Writes what is queued, as much as the pipe takes now. 1 when all of it is
 * written, 0 when the pipe is full, -1 when the applier is gone (marked
 * down: every pending request failed through cb). A partial write is fine:
 * the rest follows from where it stopped. */
static int write_queued(struct applier *a)
{
	while (a->woff < a->wlen) {
		if (a->wfd < 0)
			return -1;
		ssize_t w = write(a->wfd, a->wbuf + a->woff, a->wlen - a->woff);
		if (w > 0) {
			a->woff += (size_t)w;
			continue;
		}
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return 0;
		log_err("cannot write to the applier: %s", w < 0 ? strerror(errno) : "short write");
		if (a->pid > 0 && a->ev)
			kill(a->pid, SIGTERM);
		mark_down(a, "applier stopped");
		return -1;
	}
	a->woff = a->wlen = 0;
	return 1;
}

/* Writes what is queued, reading replies while the pipe is full (so that
 * the applier is never stuck writing to us), for at most timeout_ms.
 * 0 when all is written, -1 otherwise (what is left stays queued). */
static int write_wait(struct applier *a, int timeout_ms)
{
	uint64_t deadline = mono_us() + (uint64_t)(timeout_ms > 0 ? timeout_ms : 0) * 1000ULL;
	for (;;) {
		int r = write_queued(a);
		if (r != 0)
			return r > 0 ? 0 : -1;
		uint64_t now = mono_us();
		if (now >= deadline)
			return -1;
		struct pollfd pfd[2] = {{.fd = a->wfd, .events = POLLOUT}, {.fd = a->rfd, .events = POLLIN}};
		int n = poll(pfd, a->rfd >= 0 ? 2 : 1, (int)((deadline - now + 999) / 1000));
		if (n > 0 && a->rfd >= 0 && pfd[1].revents)
			read_replies(a);
	}
}

/* ---- event loop ------------------------------------------------------------- */

/* The request pipe has room again. */
static int on_writable(sd_event_source *s, int fd, uint32_t revents, void *userdata)
{
	(void)s;
	(void)fd;
	(void)revents;
	struct applier *a = userdata;
	if (write_queued(a) != 0 && a->wio)
		sd_event_source_set_enabled(a->wio, SD_EVENT_OFF);
	return 0;
}

/* After the event that sent requests: they go out together. */
static int on_flush(sd_event_source *s, void *userdata)
{
	(void)s;
	struct applier *a = userdata;
	if (write_queued(a) == 0 && a->wio)
		sd_event_source_set_enabled(a->wio, SD_EVENT_ON);
	return 0;
}

static int on_io(sd_event_source *s, int fd, uint32_t revents, void *userdata)
{
	(void)s;
	(void)fd;
	(void)revents;
	read_replies(userdata);
	return 0;
}

static void describe_status(const struct applier *a, char *buf, size_t len, int code, int status)
{
	if (code == CLD_EXITED)
		snprintf(buf, len, "%s exited with status %d", a->name, status);
	else if (code == CLD_KILLED || code == CLD_DUMPED)
		snprintf(buf, len, "%s killed by signal %d", a->name, status);
	else
		snprintf(buf, len, "%s stopped", a->name);
}

static int on_timer(sd_event_source *s, uint64_t usec, void *userdata)
{
	(void)s;
	(void)usec;
	struct applier *a = userdata;
	a->timer = sd_event_source_disable_unref(a->timer);
	if (spawn(a) == 0)
		return 0;
	/* Could not start it: try again later. */
	uint64_t now;
	sd_event_now(a->ev, CLOCK_MONOTONIC, &now);
	int r = sd_event_add_time(a->ev, &a->timer, CLOCK_MONOTONIC, now + a->backoff_us, 0, on_timer, a);
	if (r < 0)
		log_err("cannot schedule the applier's restart: %s", strerror(-r));
	else
		log_err("applier restart failed; trying again in %llu s", (unsigned long long)(a->backoff_us / 1000000));
	a->backoff_us = a->backoff_us * 2 > BACKOFF_MAX_US ? BACKOFF_MAX_US : a->backoff_us * 2;
	return 0;
}

static int on_child(sd_event_source *s, const siginfo_t *si, void *userdata)
{
	(void)s;
	struct applier *a = userdata;
	char why[160];
	describe_status(a, why, sizeof why, si->si_code, si->si_status);
	log_err("%s (pid %d)", why, (int)a->pid);
	a->pid = 0;	/* sd-event reaps it when we return */
	if (a->rfd >= 0)
		read_replies(a);	/* replies written before it died */
	mark_down(a, why);

	uint64_t now;
	sd_event_now(a->ev, CLOCK_MONOTONIC, &now);
	if (now - a->started_us >= STABLE_US)
		a->backoff_us = BACKOFF_MIN_US;
	uint64_t delay = a->backoff_us, max = a->backoff_max_us ? a->backoff_max_us : BACKOFF_MAX_US;
	if (delay > max)
		delay = max;
	a->backoff_us = delay * 2 > max ? max : delay * 2;
	a->timer = sd_event_source_disable_unref(a->timer);
	int r = sd_event_add_time(a->ev, &a->timer, CLOCK_MONOTONIC, now + delay, 0, on_timer, a);
	if (r < 0)
		log_err("cannot schedule the applier's restart: %s", strerror(-r));
	else
		log_info("restarting the %s in %llu s", a->name, (unsigned long long)(delay / 1000000));
	return 0;
}

/* ---- process ---------------------------------------------------------------- */

static int spawn(struct applier *a)
{
	int in[2], out[2];
	if (pipe2(in, O_CLOEXEC) < 0) {
		log_err("cannot create a pipe for the applier: %s", strerror(errno));
		return -1;
	}
	if (pipe2(out, O_CLOEXEC) < 0) {
		log_err("cannot create a pipe for the applier: %s", strerror(errno));
		close(in[0]);
		close(in[1]);
		return -1;
	}
	/* The child reports a failed exec through this pipe; a successful
	 * exec closes it (close-on-exec), so the parent reads nothing. */
	int ep[2];
	if (pipe2(ep, O_CLOEXEC) < 0) {
		log_err("cannot create a pipe for the applier: %s", strerror(errno));
		close(in[0]);
		close(in[1]);
		close(out[0]);
		close(out[1]);
		return -1;
	}
	pid_t pid = fork();
	if (pid < 0) {
		log_err("cannot start the applier: fork: %s", strerror(errno));
		close(in[0]);
		close(in[1]);
		close(out[0]);
		close(out[1]);
		close(ep[0]);
		close(ep[1]);
		return -1;
	}
	if (pid == 0) {
		sigset_t none;
		sigemptyset(&none);
		sigprocmask(SIG_SETMASK, &none, NULL);
		signal(SIGPIPE, SIG_DFL);
		/* Move the child's ends above 2 first, so that dup2 never lands
		 * a descriptor on itself (which would keep it close-on-exec). */
		int cin = fcntl(in[0], F_DUPFD_CLOEXEC, 3);
		int cout = fcntl(out[1], F_DUPFD_CLOEXEC, 3);
		if (cin < 0 || cout < 0 || dup2(cin, STDIN_FILENO) < 0 || dup2(cout, STDOUT_FILENO) < 0)
			_exit(127);
		close_range(3, ~0U, CLOSE_RANGE_CLOEXEC);
		execv(a->argv[0], a->argv);
		/* No stdio here: the parent's unflushed buffers would go out twice. */
		int e = errno;
		static const char pre[] = "error: cannot execute the applier ";
		const char *es = strerror(e);
		(void)!write(STDERR_FILENO, pre, sizeof pre - 1);
		(void)!write(STDERR_FILENO, a->argv[0], strlen(a->argv[0]));
		(void)!write(STDERR_FILENO, ": ", 2);
		(void)!write(STDERR_FILENO, es, strlen(es));
		(void)!write(STDERR_FILENO, "\n", 1);
		(void)!write(ep[1], &e, sizeof e);
		_exit(127);
	}
	close(in[0]);
	close(out[1]);
	close(ep[1]);
	int child_errno = 0;
	ssize_t got;
	while ((got = read(ep[0], &child_errno, sizeof child_errno)) < 0 && errno == EINTR)
		;
	close(ep[0]);
	if (got > 0) {
		/* The child said why on stderr already. */
		while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
			;
		close(in[1]);
		close(out[0]);
		return -1;
	}
	a->pid = pid;
	a->is_ready = false;
	a->wfd = in[1];
	a->rfd = out[0];
	a->woff = a->wlen = 0;
	a->linelen = 0;
	a->skipping = false;
	/* Non-blocking both ways: a request (<= PIPE_BUF) is then written whole
	 * or not at all, and a full pipe never blocks the loop unnoticed. */
	fcntl(a->wfd, F_SETFL, fcntl(a->wfd, F_GETFL) | O_NONBLOCK);
	fcntl(a->rfd, F_SETFL, fcntl(a->rfd, F_GETFL) | O_NONBLOCK);
	a->started_us = mono_us();

	if (a->ev) {
		sd_event_now(a->ev, CLOCK_MONOTONIC, &a->started_us);
		a->child = sd_event_source_unref(a->child);	/* the previous, already fired */
		int r = sd_event_add_io(a->ev, &a->io, a->rfd, EPOLLIN, on_io, a);
		if (r >= 0)
			r = sd_event_add_io(a->ev, &a->wio, a->wfd, EPOLLOUT, on_writable, a);
		if (r >= 0)
			r = sd_event_source_set_enabled(a->wio, SD_EVENT_OFF);
		if (r >= 0)
			r = sd_event_add_child(a->ev, &a->child, pid, WEXITED, on_child, a);
		if (r < 0) {
			log_err("cannot watch the applier: %s", strerror(-r));
			mark_down(a, "applier not watched");
			a->child = sd_event_source_disable_unref(a->child);
			kill(pid, SIGKILL);
			while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
				;
			a->pid = 0;
			return -1;
		}
	}
	log_debug("applier %s started (pid %d)", a->argv[0], (int)pid);
	return 0;
}

struct applier *applier_new(sd_event *ev, char *const argv[], applier_reply_fn cb, void *ctx)
{
	if (!argv || !argv[0] || argv[0][0] != '/') {
		log_err("the applier must be given as an absolute path");
		return NULL;
	}
	struct applier *a = calloc(1, sizeof *a);
	if (!a) {
		log_err("out of memory");
		return NULL;
	}
	a->ev = ev ? sd_event_ref(ev) : NULL;
	a->cb = cb;
	a->ctx = ctx;
	a->wfd = a->rfd = -1;
	a->backoff_us = BACKOFF_MIN_US;
	snprintf(a->name, sizeof a->name, "applier");
	size_t n = 0;
	while (argv[n])
		n++;
	a->argv = calloc(n + 1, sizeof *a->argv);
	if (!a->argv)
		goto oom;
	for (size_t i = 0; i < n; i++)
		if (!(a->argv[i] = strdup(argv[i])))
			goto oom;

	signal(SIGPIPE, SIG_IGN);
	if (ev) {
		/* Before other pending sources, so that requests leave before
		 * the loop does anything else. */
		int r = sd_event_add_defer(ev, &a->flush, on_flush, a);
		if (r >= 0)
			r = sd_event_source_set_priority(a->flush, SD_EVENT_PRIORITY_IMPORTANT);
		if (r >= 0)
			r = sd_event_source_set_enabled(a->flush, SD_EVENT_OFF);
		if (r < 0) {
			log_err("cannot watch the applier: %s", strerror(-r));
			applier_free(a);
			return NULL;
		}
		sigset_t ss;
		sigemptyset(&ss);
		sigaddset(&ss, SIGCHLD);
		sigprocmask(SIG_BLOCK, &ss, NULL);
	}
	if (spawn(a) < 0) {
		applier_free(a);
		return NULL;
	}
	return a;
oom:
	log_err("out of memory");
	applier_free(a);
	return NULL;
}

int applier_send(struct applier *a, const struct apply_cmd *cmd)
{
	static const char *const ops[] = {"open", "close", "flush"};
	unsigned long long id = cmd ? (unsigned long long)cmd->id : 0;
	const char *op = cmd && (unsigned)cmd->op < 3 ? ops[cmd->op] : "request";
	if (!a || !cmd)
		return -1;
	char buf[APPLY_LINE_MAX + 1];
	int n = apply_format(cmd, buf, sizeof buf);
	if (n < 0) {
		log_err("applier: cannot send %s %llu: invalid request", op, id);
		return -1;
	}
	if (a->wfd < 0) {
		log_err("applier is not running: %s %llu not sent", op, id);
		return -1;
	}
	if (pending_reserve(a) < 0) {
		log_err("applier: out of memory: %s %llu not sent", op, id);
		return -1;
	}
	if (a->wlen - a->woff + (size_t)n > WBUF_MAX) {
		log_err("applier is not reading its requests: %s %llu not sent", op, id);
		return -1;
	}
	if (a->wlen + (size_t)n > a->wcap) {
		if (a->woff > 0) {
			memmove(a->wbuf, a->wbuf + a->woff, a->wlen - a->woff);
			a->wlen -= a->woff;
			a->woff = 0;
		}
		if (a->wlen + (size_t)n > a->wcap) {
			size_t ncap = a->wcap ? a->wcap * 2 : WBUF_FLUSH * 2;
			while (ncap < a->wlen + (size_t)n)
				ncap *= 2;
			char *nb = realloc(a->wbuf, ncap);
			if (!nb) {
				log_err("applier: out of memory: %s %llu not sent", op, id);
				return -1;
			}
			a->wbuf = nb;
			a->wcap = ncap;
		}
	}
	memcpy(a->wbuf + a->wlen, buf, (size_t)n);
	a->wlen += (size_t)n;
	a->ids[a->head + a->count++] = (struct pending){.cmd = *cmd, .sent_us = mono_us()};
	a->requests++;
	if (a->ev) {
		if (a->flush)
			sd_event_source_set_enabled(a->flush, SD_EVENT_ONESHOT);
	} else if (a->wlen - a->woff >= WBUF_FLUSH) {
		/* What it cannot write now stays queued; if the applier is
		 * gone, every pending request (this one too) failed through cb. */
		write_wait(a, SEND_WAIT_MS);
	}
	return 0;
}

int applier_drain(struct applier *a, int timeout_ms)
{
	if (!a)
		return 0;
	uint64_t deadline = mono_us() + (uint64_t)(timeout_ms > 0 ? timeout_ms : 0) * 1000ULL;
	write_wait(a, timeout_ms);
	while (a->count > 0 && a->rfd >= 0) {
		if (read_replies(a) == 0 || a->count == 0)
			break;
		uint64_t now = mono_us();
		if (now >= deadline)
			break;
		struct pollfd pfd = {.fd = a->rfd, .events = POLLIN};
		int r = poll(&pfd, 1, (int)((deadline - now + 999) / 1000));
		if (r < 0 && errno != EINTR) {
			log_err("applier: poll: %s", strerror(errno));
			break;
		}
	}
	return (int)a->count;
}

void applier_on_ready(struct applier *a, applier_restart_fn fn)
{
	a->ready_cb = fn;
}

void applier_set_name(struct applier *a, const char *name)
{
	snprintf(a->name, sizeof a->name, "%s", name);
}

void applier_set_backoff_max(struct applier *a, uint64_t us)
{
	a->backoff_max_us = us;
}

int applier_link(const struct applier *a)
{
	return !a || a->wfd < 0 ? 0 : a->is_ready ? 2 : 1;
}

void applier_on_restart(struct applier *a, applier_restart_fn fn)
{
	a->restart_cb = fn;
}

int applier_wait_ready(struct applier *a, int timeout_ms)
{
	uint64_t deadline = mono_us() + (uint64_t)timeout_ms * 1000ULL;
	write_queued(a);
	while (a->readies == 0 && a->rfd >= 0) {
		if (read_replies(a) == 0 || a->readies)
			break;
		uint64_t now = mono_us();
		if (now >= deadline)
			break;
		struct pollfd pfd = {.fd = a->rfd, .events = POLLIN};
		if (poll(&pfd, 1, (int)((deadline - now + 999) / 1000)) < 0 && errno != EINTR)
			break;
	}
	return a->readies ? 0 : -1;
}

void applier_info(const struct applier *a, struct applier_info *out)
{
	*out = (struct applier_info){0};
	if (!a)
		return;
	out->pid = a->pid > 0 ? (long)a->pid : 0;
	out->restarts = a->readies > 1 ? a->readies - 1 : 0;
	out->requests = a->requests;
	out->errors = a->errors;
	out->pending = (unsigned)a->count;
	uint64_t sum = 0;
	for (size_t b = 0; b < APPLIER_LAT_BUCKETS; b++) {
		sum += a->lat[b];
		out->lat_bucket[b] = sum;	/* cumulative: le bounds[b] */
	}
	out->lat_count = a->lat_count;
	out->lat_sum_us = a->lat_sum_us;
}

unsigned applier_pending(const struct applier *a)
{
	return a ? (unsigned)a->count : 0;
}

void applier_free(struct applier *a)
{
	if (!a)
		return;
	a->timer = sd_event_source_disable_unref(a->timer);
	a->flush = sd_event_source_disable_unref(a->flush);
	a->wio = sd_event_source_disable_unref(a->wio);
	/* What is queued still goes out (its replies are dropped). */
	a->cb = NULL;
	a->restart_cb = NULL;
	if (a->wfd >= 0 && a->wlen > a->woff)
		write_wait(a, FREE_WAIT_MS);
	a->io = sd_event_source_disable_unref(a->io);
	/* Before we reap it ourselves: the child source must not. */
	a->child = sd_event_source_disable_unref(a->child);
	if (a->wfd >= 0) {
		close(a->wfd);	/* EOF: the applier finishes and exits */
		a->wfd = -1;
	}
	if (a->pid > 0) {
		int status = 0;
		pid_t w = 0;
		for (int waited = 0; waited < FREE_WAIT_MS; waited += 10) {
			w = waitpid(a->pid, &status, WNOHANG);
			if (w != 0)
				break;
			struct timespec ts = {0, 10 * 1000000L};
			nanosleep(&ts, NULL);
		}
		if (w == 0) {
			log_warn("applier (pid %d) did not exit; killing it", (int)a->pid);
			kill(a->pid, SIGKILL);
			while ((w = waitpid(a->pid, &status, 0)) < 0 && errno == EINTR)
				;
		}
		if (w == a->pid) {
			if (WIFEXITED(status) && WEXITSTATUS(status) != 0)
				log_warn("applier exited with status %d", WEXITSTATUS(status));
			else if (WIFSIGNALED(status) && WTERMSIG(status) != SIGKILL)
				log_warn("applier killed by signal %d", WTERMSIG(status));
		}
		a->pid = 0;
	}
	if (a->rfd >= 0)
		close(a->rfd);
	free(a->ids);
	free(a->wbuf);
	if (a->argv) {
		for (char **p = a->argv; *p; p++)
			free(*p);
		free(a->argv);
	}
	sd_event_unref(a->ev);
	free(a);
}
