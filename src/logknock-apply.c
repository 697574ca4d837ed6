/* logknock-apply.c — the privileged helper: reads requests of the applier
 * protocol (apply_proto.h) on stdin, applies each with one backend, answers
 * "ok ID" or "error ID message" on stdout, one line per request, in order.
 *
 *   logknock-apply --backend log
 *   logknock-apply --backend command [--timeout MS] --open ARG... --close ARG...
 *
 * The command backend runs knockd-style argument templates with fork and
 * execve, never a shell. Placeholders inside each ARG: %IP% %PROTO% %PORT%
 * %DOOR% %FAMILY% %SECONDS% (%SECONDS% is 0 for close, %DOOR% may be empty);
 * any other text, '%' included, is copied as it is. */
#include "apply_proto.h"
#include "log.h"

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
#include <stdlib.h>
#include <string.h>
#include <sys/pidfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define ARG_MAX_LEN 4096		/* one substituted argument, without its NUL */
#define OPEN_MAX_IDS 65536		/* IDs remembered as open */
#define STDERR_KEEP 200			/* bytes of a command's stderr kept */
#define KILL_GRACE_MS 1000		/* SIGTERM → SIGKILL */
#define TIMEOUT_DEFAULT_MS 5000
#define TIMEOUT_MAX_MS 600000

enum backend { BACKEND_LOG, BACKEND_COMMAND };

struct app {
	enum backend backend;
	char **open_t, **close_t;	/* templates from the command line (not owned) */
	size_t nopen, nclose;
	int timeout_ms;
	/* IDs open: a dense array with a hash index (linear probing). */
	struct apply_cmd *ents;
	size_t n, cap;
	uint32_t *slots;		/* index + 1; 0 is empty */
	size_t nslots;			/* power of two, > 2 * n */
};

static char *const child_env[] = {"PATH=/usr/sbin:/usr/bin:/sbin:/bin", NULL};

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

/* Makes room for one more entry. 0, or -1 when full or out of memory. */
static int set_reserve(struct app *a)
{
	if (a->n >= OPEN_MAX_IDS)
		return -1;
	if (a->n + 1 > a->cap) {
		size_t ncap = a->cap ? a->cap * 2 : 64;
		if (ncap > OPEN_MAX_IDS)
			ncap = OPEN_MAX_IDS;
		struct apply_cmd *e = realloc(a->ents, ncap * sizeof *e);
		if (!e)
			return -1;
		a->ents = e;
		a->cap = ncap;
	}
	if ((a->n + 1) * 2 >= a->nslots) {
		size_t nslots = a->nslots ? a->nslots * 2 : 128;
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
	size_t slot;
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

static int64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

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

/* Replaces control characters, so that a message stays one protocol line. */
static void sanitize(char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s < 0x20 || (unsigned char)*s == 0x7f)
			*s = '?';
}

/* Writes "ok ID" or "error ID message", cut to fit one protocol line. */
static void reply(uint64_t id, int ok, const char *msg)
{
	char line[APPLY_LINE_MAX + 1];
	int n;
	if (ok) {
		n = snprintf(line, sizeof line, "ok %llu\n", (unsigned long long)id);
	} else {
		n = snprintf(line, sizeof line, "error %llu ", (unsigned long long)id);
		if (n < 0 || n >= APPLY_LINE_MAX - 2)
			return;
		if (!msg || !*msg || *msg == ' ')
			msg = "failed";
		size_t room = (size_t)(APPLY_LINE_MAX - 1 - n);	/* bytes before the newline */
		size_t mlen = strnlen(msg, room);
		memcpy(line + n, msg, mlen);
		line[n + mlen] = '\0';
		sanitize(line + n);
		line[n + mlen] = '\n';
		line[n + mlen + 1] = '\0';
		n += (int)mlen + 1;
	}
	if (write_all(STDOUT_FILENO, line, (size_t)n) < 0) {
		log_err("cannot write reply: %s", strerror(errno));
		exit(1);
	}
}

static const char *proto_name(uint8_t proto)
{
	switch (proto) {
	case IPPROTO_TCP:
		return "tcp";
	case IPPROTO_UDP:
		return "udp";
	case IPPROTO_ICMP:
		return "icmp";
	default:
		return "icmpv6";
	}
}

/* ---- templates ---------------------------------------------------------- */

/* Substitutes the placeholders of one template argument. A new string, or
 * NULL with err set. */
static char *subst(const char *t, const struct apply_cmd *c, char *err, size_t errlen)
{
	char addr[INET6_ADDRSTRLEN], port[8], secs[16];
	if (!inet_ntop(c->family, c->addr, addr, sizeof addr)) {
		snprintf(err, errlen, "cannot format address");
		return NULL;
	}
	snprintf(port, sizeof port, "%u", (unsigned)c->port);
	snprintf(secs, sizeof secs, "%lu", (unsigned long)(c->op == APPLY_OPEN ? c->seconds : 0));
	const struct {
		const char *name, *value;
	} ph[] = {
		{"%IP%", addr},
		{"%PROTO%", proto_name(c->proto)},
		{"%PORT%", port},
		{"%DOOR%", c->door},
		{"%FAMILY%", c->family == AF_INET ? "inet" : "inet6"},
		{"%SECONDS%", secs},
	};
	char buf[ARG_MAX_LEN + 1];
	size_t len = 0;
	while (*t) {
		const char *val = NULL;
		size_t skip = 1;
		if (*t == '%') {
			for (size_t i = 0; i < sizeof ph / sizeof ph[0]; i++) {
				size_t nl = strlen(ph[i].name);
				if (strncmp(t, ph[i].name, nl) == 0) {
					val = ph[i].value;
					skip = nl;
					break;
				}
			}
		}
		size_t vlen = val ? strlen(val) : 1;
		if (len + vlen > ARG_MAX_LEN) {
			snprintf(err, errlen, "argument longer than %d bytes after substitution", ARG_MAX_LEN);
			return NULL;
		}
		memcpy(buf + len, val ? val : t, vlen);
		len += vlen;
		t += skip;
	}
	buf[len] = '\0';
	char *s = strdup(buf);
	if (!s)
		snprintf(err, errlen, "out of memory");
	return s;
}

static void free_argv(char **argv)
{
	if (!argv)
		return;
	for (char **p = argv; *p; p++)
		free(*p);
	free(argv);
}

static char **build_argv(char **tmpl, size_t n, const struct apply_cmd *c, char *err, size_t errlen)
{
	char **argv = calloc(n + 1, sizeof *argv);
	if (!argv) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	for (size_t i = 0; i < n; i++) {
		argv[i] = subst(tmpl[i], c, err, errlen);
		if (!argv[i]) {
			free_argv(argv);
			return NULL;
		}
	}
	if (argv[0][0] != '/') {
		snprintf(err, errlen, "command is not an absolute path");
		free_argv(argv);
		return NULL;
	}
	return argv;
}

/* The command line for the log, shell-like quoting only for readability. */
static void describe_argv(char *const *argv, char *buf, size_t buflen)
{
	size_t len = 0;
	buf[0] = '\0';
	for (size_t i = 0; argv[i]; i++) {
		const char *a = argv[i];
		bool quote = !*a || strpbrk(a, " \t'\"\\$;&|<>()`*?~") != NULL;
		int n = snprintf(buf + len, buflen - len, "%s%s%s%s", i ? " " : "", quote ? "'" : "", a,
				 quote ? "'" : "");
		if (n < 0 || (size_t)n >= buflen - len) {
			if (buflen >= 4)
				memcpy(buf + buflen - 4, "...", 4);
			break;
		}
		len += (size_t)n;
	}
	sanitize(buf);
}

/* ---- running a command -------------------------------------------------- */

struct capture {
	char buf[STDERR_KEEP + 1];
	size_t len;
};

/* Reads what is there; returns 0 at EOF or on error, 1 if the pipe stays open. */
static int capture_read(int fd, struct capture *cap)
{
	char chunk[1024];
	for (;;) {
		ssize_t r = read(fd, chunk, sizeof chunk);
		if (r < 0) {
			if (errno == EINTR)
				continue;
			return errno == EAGAIN || errno == EWOULDBLOCK;
		}
		if (r == 0)
			return 0;
		size_t keep = STDERR_KEEP - cap->len;
		if ((size_t)r < keep)
			keep = (size_t)r;
		memcpy(cap->buf + cap->len, chunk, keep);
		cap->len += keep;
		cap->buf[cap->len] = '\0';
	}
}

/* Waits for pid until deadline (ms, monotonic). 1 when reaped, 0 at the
 * deadline. Reads errfd meanwhile while *errfd >= 0. */
static int wait_child(pid_t pid, int pidfd, int *errfd, struct capture *cap, int64_t deadline, int *status)
{
	for (;;) {
		pid_t w = waitpid(pid, status, WNOHANG);
		if (w == pid)
			return 1;
		if (w < 0 && errno != EINTR) {
			*status = 0;
			return 1;	/* cannot happen for our own child */
		}
		int64_t left = deadline - now_ms();
		if (left <= 0)
			return 0;
		struct pollfd pfd[2];
		nfds_t nfd = 0;
		if (*errfd >= 0)
			pfd[nfd++] = (struct pollfd){.fd = *errfd, .events = POLLIN};
		if (pidfd >= 0)
			pfd[nfd++] = (struct pollfd){.fd = pidfd, .events = POLLIN};
		int slice = (int)(left > INT_MAX ? INT_MAX : left);
		if (pidfd < 0 && slice > 10)
			slice = 10;	/* no pidfd: look at the child every 10 ms */
		int r = poll(pfd, nfd, slice);
		if (r < 0 && errno != EINTR)
			return 0;
		if (r > 0 && *errfd >= 0 && pfd[0].revents) {
			if (!capture_read(*errfd, cap)) {
				close(*errfd);
				*errfd = -1;
			}
		}
	}
}

/* Runs argv; 0 on exit status 0, else -1 with msg set. */
static int run_argv(const struct app *a, char *const argv[], char *msg, size_t msglen)
{
	int errp[2];
	if (pipe2(errp, O_CLOEXEC) < 0) {
		snprintf(msg, msglen, "cannot create pipe: %s", strerror(errno));
		return -1;
	}
	pid_t pid = fork();
	if (pid < 0) {
		snprintf(msg, msglen, "cannot fork: %s", strerror(errno));
		close(errp[0]);
		close(errp[1]);
		return -1;
	}
	if (pid == 0) {
		/* Its own process group, so that a timeout kills what it started too. */
		setpgid(0, 0);
		sigset_t none;
		sigemptyset(&none);
		sigprocmask(SIG_SETMASK, &none, NULL);
		signal(SIGPIPE, SIG_DFL);
		int nul = open("/dev/null", O_RDWR);
		if (nul < 0 || dup2(nul, STDIN_FILENO) < 0 || dup2(nul, STDOUT_FILENO) < 0 ||
		    dup2(errp[1], STDERR_FILENO) < 0)
			_exit(127);
		close_range(3, ~0U, 0);
		execve(argv[0], argv, child_env);
		int e = errno;
		static const char pre[] = "cannot execute: ";
		const char *es = strerror(e);
		(void)!write(STDERR_FILENO, pre, sizeof pre - 1);
		(void)!write(STDERR_FILENO, es, strlen(es));
		_exit(127);
	}
	setpgid(pid, pid);	/* also here, against the race; may fail after exec */
	close(errp[1]);
	int errfd = errp[0];
	fcntl(errfd, F_SETFL, fcntl(errfd, F_GETFL) | O_NONBLOCK);
	int pidfd = pidfd_open(pid, 0);

	struct capture cap = {.len = 0};
	cap.buf[0] = '\0';
	int status = 0;
	bool timed_out = false;
	if (!wait_child(pid, pidfd, &errfd, &cap, now_ms() + a->timeout_ms, &status)) {
		timed_out = true;
		if (kill(-pid, SIGTERM) < 0)
			kill(pid, SIGTERM);
		if (!wait_child(pid, pidfd, &errfd, &cap, now_ms() + KILL_GRACE_MS, &status)) {
			if (kill(-pid, SIGKILL) < 0)
				kill(pid, SIGKILL);
			while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
				;
		}
		kill(-pid, SIGKILL);	/* whatever else is left of its group */
	}
	if (errfd >= 0) {
		capture_read(errfd, &cap);	/* what is left; never blocks */
		close(errfd);
	}
	if (pidfd >= 0)
		close(pidfd);

	if (timed_out) {
		snprintf(msg, msglen, "command timed out after %d ms", a->timeout_ms);
		return -1;
	}
	if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
		return 0;

	/* First line of stderr, trimmed. */
	char *nl = strchr(cap.buf, '\n');
	if (nl)
		*nl = '\0';
	size_t l = strlen(cap.buf);
	while (l > 0 && (cap.buf[l - 1] == ' ' || cap.buf[l - 1] == '\r' || cap.buf[l - 1] == '\t'))
		cap.buf[--l] = '\0';
	sanitize(cap.buf);
	const char *sep = l ? ": " : "";
	if (WIFEXITED(status))
		snprintf(msg, msglen, "%s exited with status %d%s%s", argv[0], WEXITSTATUS(status), sep, cap.buf);
	else if (WIFSIGNALED(status))
		snprintf(msg, msglen, "%s killed by signal %d%s%s", argv[0], WTERMSIG(status), sep, cap.buf);
	else
		snprintf(msg, msglen, "%s failed%s%s", argv[0], sep, cap.buf);
	return -1;
}

/* Runs the open or close templates for c; logs the command and its outcome. */
static int run_templates(const struct app *a, bool open, const struct apply_cmd *c, char *msg, size_t msglen)
{
	const char *what = open ? "open" : "close";
	char **argv = build_argv(open ? a->open_t : a->close_t, open ? a->nopen : a->nclose, c, msg, msglen);
	if (!argv) {
		log_err("%s %llu: %s", what, (unsigned long long)c->id, msg);
		return -1;
	}
	char desc[900];
	describe_argv(argv, desc, sizeof desc);
	log_info("%s %llu: running %s", what, (unsigned long long)c->id, desc);
	int r = run_argv(a, argv, msg, msglen);
	if (r == 0)
		log_info("%s %llu: ok", what, (unsigned long long)c->id);
	else
		log_err("%s %llu: %s", what, (unsigned long long)c->id, msg);
	free_argv(argv);
	return r;
}

static bool same_rule(const struct apply_cmd *x, const struct apply_cmd *y)
{
	return x->family == y->family && x->proto == y->proto && x->port == y->port &&
	       memcmp(x->addr, y->addr, x->family == AF_INET ? 4 : 16) == 0;
}

/* ---- requests ------------------------------------------------------------ */

static void handle_command(struct app *a, const struct apply_cmd *c)
{
	char msg[512];
	unsigned long long id = (unsigned long long)c->id;
	switch (c->op) {
	case APPLY_OPEN: {
		long idx = set_find(a, c->id, NULL);
		if (idx >= 0) {
			struct apply_cmd *e = &a->ents[idx];
			if (!same_rule(e, c)) {
				log_err("open %llu: id already open for another rule", id);
				reply(c->id, 0, "id already open for another rule");
				return;
			}
			e->seconds = c->seconds;
			log_info("open %llu: already open, nothing to run", id);
			reply(c->id, 1, NULL);
			return;
		}
		if (set_reserve(a) < 0) {
			snprintf(msg, sizeof msg, "too many open rules (at most %d)", OPEN_MAX_IDS);
			log_err("open %llu: %s", id, msg);
			reply(c->id, 0, msg);
			return;
		}
		if (run_templates(a, true, c, msg, sizeof msg) < 0) {
			reply(c->id, 0, msg);
			return;
		}
		set_add(a, c);
		reply(c->id, 1, NULL);
		return;
	}
	case APPLY_CLOSE:
		/* Run even for an ID we do not know: the daemon may have restarted. */
		if (run_templates(a, false, c, msg, sizeof msg) < 0) {
			reply(c->id, 0, msg);
			return;
		}
		set_remove(a, c->id);
		reply(c->id, 1, NULL);
		return;
	case APPLY_FLUSH: {
		size_t total = a->n, failed = 0;
		log_info("flush %llu: closing %zu rule%s", id, total, total == 1 ? "" : "s");
		/* Backwards: a removal moves the last entry, already done, into the hole. */
		for (size_t i = a->n; i-- > 0;) {
			struct apply_cmd e = a->ents[i];
			e.op = APPLY_CLOSE;
			if (run_templates(a, false, &e, msg, sizeof msg) < 0)
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
		return;
	}
	}
}

static void handle_line(struct app *a, const char *line, size_t len)
{
	struct apply_cmd c;
	char err[256];
	if (apply_parse(line, len, &c, err, sizeof err) < 0) {
		/* c.id is set when the ID itself could be read. */
		log_err("rejected request: %s", err);
		reply(c.id, 0, err);
		return;
	}
	if (a->backend == BACKEND_LOG) {
		char buf[APPLY_LINE_MAX + 1];
		int n = apply_format(&c, buf, sizeof buf);
		if (n <= 0) {
			reply(c.id, 0, "cannot format request");
			return;
		}
		log_info("log: %.*s", n - 1, buf);
		reply(c.id, 1, NULL);
		return;
	}
	handle_command(a, &c);
}

static void serve(struct app *a)
{
	char line[APPLY_LINE_MAX];	/* without newline: at most APPLY_LINE_MAX - 1 */
	size_t len = 0;
	bool skipping = false;
	char chunk[4096];
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
		for (ssize_t i = 0; i < r; i++) {
			char ch = chunk[i];
			if (ch == '\n') {
				if (skipping) {
					log_err("rejected request: line too long");
					reply(0, 0, "line too long");
				} else {
					handle_line(a, line, len);
				}
				skipping = false;
				len = 0;
			} else if (skipping) {
				continue;
			} else if (len < sizeof line - 1) {
				line[len++] = ch;
			} else {
				skipping = true;
				len = 0;
			}
		}
	}
	/* A last line without its newline still counts. */
	if (skipping) {
		log_err("rejected request: line too long");
		reply(0, 0, "line too long");
	} else if (len > 0) {
		handle_line(a, line, len);
	}
}

/* ---- start-up ------------------------------------------------------------ */

static void usage(FILE *f)
{
	fprintf(f, "usage: logknock-apply --backend log\n"
		   "       logknock-apply --backend command [--timeout MS] --open ARG [--open ARG...]\n"
		   "                      --close ARG [--close ARG...]\n"
		   "Reads requests (open/close/flush) on stdin and answers each on stdout.\n"
		   "Placeholders in ARG: %%IP%% %%PROTO%% %%PORT%% %%DOOR%% %%FAMILY%% %%SECONDS%%\n");
}

static void fatal_usage(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));

static void fatal_usage(const char *fmt, ...)
{
	va_list ap;
	fprintf(stderr, "logknock-apply: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\n");
	usage(stderr);
	exit(2);
}

static int push(char ***v, size_t *n, char *arg)
{
	char **nv = realloc(*v, (*n + 2) * sizeof *nv);
	if (!nv)
		return -1;
	nv[(*n)++] = arg;
	nv[*n] = NULL;
	*v = nv;
	return 0;
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

	static const struct option opts[] = {
		{"backend", required_argument, NULL, 'b'},
		{"timeout", required_argument, NULL, 't'},
		{"open", required_argument, NULL, 'o'},
		{"close", required_argument, NULL, 'c'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	struct app a = {.timeout_ms = TIMEOUT_DEFAULT_MS};
	const char *backend = NULL;
	bool timeout_set = false;
	int opt;
	while ((opt = getopt_long(argc, argv, "+", opts, NULL)) != -1) {
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
			a.timeout_ms = (int)v;
			timeout_set = true;
			break;
		}
		case 'o':
		case 'c':
			if (strlen(optarg) > ARG_MAX_LEN)
				fatal_usage("argument template longer than 4096 bytes: '%.40s...'", optarg);
			if (push(opt == 'o' ? &a.open_t : &a.close_t, opt == 'o' ? &a.nopen : &a.nclose, optarg) < 0) {
				log_err("out of memory");
				return 1;
			}
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind < argc)
		fatal_usage("unexpected argument '%s'", argv[optind]);
	if (!backend)
		fatal_usage("--backend is required");
	if (strcmp(backend, "log") == 0) {
		a.backend = BACKEND_LOG;
		if (a.nopen || a.nclose || timeout_set)
			fatal_usage("--open, --close and --timeout belong to --backend command");
	} else if (strcmp(backend, "command") == 0) {
		a.backend = BACKEND_COMMAND;
		if (!a.nopen || !a.nclose)
			fatal_usage("--backend command needs --open and --close templates");
		if (a.open_t[0][0] != '/')
			fatal_usage("--open: the command '%s' must be an absolute path", a.open_t[0]);
		if (a.close_t[0][0] != '/')
			fatal_usage("--close: the command '%s' must be an absolute path", a.close_t[0]);
	} else if (strcmp(backend, "nft") == 0 || strcmp(backend, "iptables") == 0 || strcmp(backend, "ipset") == 0) {
		fprintf(stderr, "logknock-apply: backend %s is not built into this applier yet\n", backend);
		return 2;
	} else {
		fatal_usage("unknown backend '%s' (log, command, nft, iptables, ipset)", backend);
	}

	serve(&a);

	if (a.n)
		log_info("exiting with %zu rule%s still open", a.n, a.n == 1 ? "" : "s");
	free(a.ents);
	free(a.slots);
	free(a.open_t);
	free(a.close_t);
	return 0;
}
