/* logknockctl.c — asks the running logknockd what it holds, and tells it
 * what to do, over its control socket.
 *
 *   logknockctl [--json] [--socket PATH] COMMAND [ARGUMENTS]
 *
 * One request line, one answer: a header ("ok", or "error CODE MESSAGE")
 * and a body that this program copies to standard output unchanged (but for
 * control characters when the output is a terminal). The protocol is in
 * logknockctl(8); the daemon formats the text; this program only checks
 * the arguments, so that a typing error is told here, in one line, and
 * never costs the daemon a connection.
 * Exit status: 0 fine; 1 the daemon answered an error (notfound, failed);
 * 2 usage; 3 cannot connect; 4 denied. */
#include "cli.h"
#include "apply_proto.h"

#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#ifndef PACKAGE_VERSION
#define PACKAGE_VERSION "unknown"
#endif
#ifndef LOGKNOCK_RUNDIR
#define LOGKNOCK_RUNDIR "/run/logknock"
#endif
/* The daemon's default control.socket. */
#define LOGKNOCK_CONTROL_SOCKET LOGKNOCK_RUNDIR "/control"

#define PROG "logknockctl"
#define EXIT_FAILED 1		/* the daemon answered notfound or failed, or broke the protocol */
#define EXIT_USAGE 2
#define EXIT_CONNECT 3
#define EXIT_DENIED 4

#define REQUEST_MAX 1024	/* the request line with its '\n' (the daemon's limit) */
#define VALUE_MAX 255
#define HEADER_MAX 4096		/* an answer's first line, ours to bound */
#define ANSWER_TIMEOUT_MS 30000	/* but for watch: between two reads of an answer */
#define DURATION_MAX_S 86400	/* open --for: at most a day, as the daemon */
#define SHOW_MAX 64

enum { OPT_JSON = 256, OPT_SOCKET, OPT_DOOR, OPT_FOR, OPT_KNOCKS, OPT_VERSION };

/* ---- messages --------------------------------------------------------- */

/* A string from the user or the daemon made safe to quote in a one-line
 * message: control characters and bytes outside ASCII as '?', cut. */
typedef char show_buf[SHOW_MAX + 4];
static const char *show(const char *s, show_buf buf)
{
	size_t i;
	if (!s)
		s = "";
	for (i = 0; i < SHOW_MAX && s[i]; i++)
		buf[i] = ((unsigned char)s[i] < 0x20 || (unsigned char)s[i] >= 0x7f) ? '?' : s[i];
	strcpy(buf + i, i == SHOW_MAX && s[i] ? "..." : "");
	return buf;
}


static void usage(void)
{
	printf("Usage: " PROG " [OPTION]... COMMAND [ARGUMENT]...\n"
	       "Ask the running logknockd what it holds, or tell it what to do.\n"
	       "\n"
	       "Commands:\n"
	       "  status                      uptime, configuration, sources, doors, applier\n"
	       "  grants [--door D]           the open grants: door, source, port, expiry\n"
	       "  close ADDR [--door D]       close now every grant of ADDR (of door D only)\n"
	       "  open DOOR ADDR [--for DUR]  open DOOR's ports for ADDR by hand (break-glass),\n"
	       "                              for DUR (like 10m; at most 1d; default: the door's)\n"
	       "  attempts [--door D]         sources part-way through a door's sequence\n"
	       "  reload                      read the configuration again (as SIGHUP)\n"
	       "  watch [--knocks]            the decisions as JSON lines as they happen (with\n"
	       "                              --knocks, every knock too), until interrupted\n"
	       "  metrics                     the counters in Prometheus text format\n"
	       "\n"
	       "Options:\n"
	       "      --json          JSON instead of aligned columns (watch: always JSON)\n"
	       "      --socket PATH   the daemon's control socket (default: $LOGKNOCK_CONTROL,\n"
	       "                      or %s)\n"
	       "  -h, --help          show this help and exit\n"
	       "      --version       show the version and exit\n"
	       "\n"
	       "Exit status: 0 fine, 1 the daemon answered an error (not found, failed),\n"
	       "2 usage error, 3 cannot connect to the daemon, 4 permission denied.\n",
	       LOGKNOCK_CONTROL_SOCKET);
}

/* ---- arguments -------------------------------------------------------- */

/* An address as the daemon takes it: IPv4 or IPv6, no name, no scope. */
static bool addr_valid(const char *s)
{
	unsigned char buf[16];
	return inet_pton(AF_INET, s, buf) == 1 || inet_pton(AF_INET6, s, buf) == 1;
}

/* A duration as logknockd.yaml writes them (digits, then ms, s, m or h;
 * or d), from 1 s to DURATION_MAX_S. */
static bool duration_valid(const char *s)
{
	static const struct {
		const char *unit;
		uint64_t ms;
	} units[] = {{"ms", 1}, {"s", 1000}, {"m", 60000}, {"h", 3600000}, {"d", 86400000}};
	size_t n = strspn(s, "0123456789");
	uint64_t v = 0;

	if (n == 0)
		return false;
	for (size_t i = 0; i < n; i++) {
		v = v * 10 + (uint64_t)(s[i] - '0');
		if (v > (uint64_t)DURATION_MAX_S * 1000)
			return false;	/* before it could overflow */
	}
	for (size_t i = 0; i < sizeof units / sizeof units[0]; i++) {
		if (strcmp(s + n, units[i].unit) != 0)
			continue;
		if (v > (uint64_t)DURATION_MAX_S * 1000 / units[i].ms)
			return false;
		v *= units[i].ms;
		return v >= 1000;
	}
	return false;
}

/* ---- the request ------------------------------------------------------ */

struct request {
	char line[REQUEST_MAX + 1];
	size_t len;
};

/* Appends " KEY=VALUE" (or the first word when KEY is NULL). VALUE was
 * checked already; this only guards the length. */
static void req_add(struct request *r, const char *key, const char *value)
{
	int n = snprintf(r->line + r->len, sizeof r->line - r->len, "%s%s%s%s", r->len ? " " : "",
			 key ? key : "", key ? "=" : "", value);
	if (n < 0 || (size_t)n >= sizeof r->line - r->len || strlen(value) > VALUE_MAX)
		cli_usage_error("the request is too long");
	r->len += (size_t)n;
}

/* ---- the answer ------------------------------------------------------- */

static volatile sig_atomic_t interrupted;

static void on_signal(int sig)
{
	interrupted = sig;
}

/* Bytes of the daemon's body for a terminal: everything but printable
 * ASCII, tab and newline as '?' (an escape sequence of a forged or broken
 * answer never reaches the terminal). Elsewhere: unchanged. */
static bool to_terminal;

/* Writes LEN bytes to standard output; false when it is closed (EPIPE:
 * the reader is gone, which is fine) or fails (*failed set). */
static bool out_write(const char *buf, size_t len, bool *failed)
{
	char clean[8192];
	while (len > 0) {
		size_t n = len;
		const char *p = buf;
		if (to_terminal) {
			n = len < sizeof clean ? len : sizeof clean;
			for (size_t i = 0; i < n; i++) {
				unsigned char c = (unsigned char)buf[i];
				clean[i] = (c == '\n' || c == '\t' || (c >= 0x20 && c < 0x7f)) ? (char)c : '?';
			}
			p = clean;
		}
		size_t done = 0;
		while (done < n) {
			ssize_t w = write(STDOUT_FILENO, p + done, n - done);
			if (w < 0 && errno == EINTR)
				continue;
			if (w < 0) {
				if (errno != EPIPE) {
					cli_err("cannot write to standard output: %s", strerror(errno));
					*failed = true;
				}
				return false;
			}
			done += (size_t)w;
		}
		buf += n;
		len -= n;
	}
	return true;
}

/* Waits until FD can be read; TIMEOUT_MS < 0: for ever. SIGINT, SIGTERM
 * and SIGHUP are blocked but while waiting here (ppoll), so that one that
 * comes at any moment ends the wait. 1 readable, 0 timed out, -1 interrupted. */
static int wait_readable(int fd, int timeout_ms, const sigset_t *waitmask)
{
	struct pollfd pfd = {.fd = fd, .events = POLLIN};
	struct timespec ts = {.tv_sec = timeout_ms / 1000, .tv_nsec = (long)(timeout_ms % 1000) * 1000000L};
	for (;;) {
		if (interrupted)
			return -1;
		int r = ppoll(&pfd, 1, timeout_ms < 0 ? NULL : &ts, waitmask);
		if (r > 0)
			return 1;
		if (r == 0)
			return 0;
		if (errno != EINTR)
			return 1;	/* read() will say what is wrong */
	}
}

/* The header's code as our exit status. */
static int code_status(const char *code, size_t len)
{
	if (len == 5 && memcmp(code, "usage", 5) == 0)
		return EXIT_USAGE;
	if (len == 6 && memcmp(code, "denied", 6) == 0)
		return EXIT_DENIED;
	return EXIT_FAILED;	/* notfound, failed, and any code a newer daemon has */
}

/* Reads the answer on FD: the header, then the body copied to stdout until
 * the daemon closes (or, for watch, until interrupted or the reader of our
 * output is gone). Returns the exit status. */
static int read_answer(int fd, const char *sock_path, bool stream, const sigset_t *waitmask)
{
	char buf[HEADER_MAX + 8192];
	size_t have = 0;
	int timeout = stream ? -1 : ANSWER_TIMEOUT_MS;
	char *nl = NULL;
	show_buf shown;

	/* The header. */
	while (!nl) {
		int w = wait_readable(fd, ANSWER_TIMEOUT_MS, waitmask);
		if (w < 0)
			return 0;	/* interrupted before the answer: nothing to say */
		if (w == 0) {
			cli_err("no answer from logknockd on %s within %d s", show(sock_path, shown),
			       ANSWER_TIMEOUT_MS / 1000);
			return EXIT_FAILED;
		}
		ssize_t r = read(fd, buf + have, HEADER_MAX - have);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			cli_err("cannot read the answer of logknockd on %s: %s", show(sock_path, shown), strerror(errno));
			return EXIT_FAILED;
		}
		if (r == 0) {
			cli_err("logknockd on %s closed the connection without an answer", show(sock_path, shown));
			return EXIT_FAILED;
		}
		have += (size_t)r;
		nl = memchr(buf, '\n', have);
		if (!nl && have == HEADER_MAX) {
			cli_err("the answer of %s is not logknockd's: no header line in %d bytes",
			       show(sock_path, shown), HEADER_MAX);
			return EXIT_FAILED;
		}
	}
	size_t hlen = (size_t)(nl - buf);
	if (hlen > 0 && buf[hlen - 1] == '\r')
		hlen--;
	if (!(hlen == 2 && memcmp(buf, "ok", 2) == 0)) {
		*nl = '\0';
		buf[hlen] = '\0';
		if (hlen > 6 && memcmp(buf, "error ", 6) == 0) {
			const char *code = buf + 6, *sp = strchr(code, ' ');
			size_t clen = sp ? (size_t)(sp - code) : strlen(code);
			const char *msg = sp ? sp + 1 : code;
			/* The message as it came (the daemon's text, not ours
			 * to cut), but for control characters and bytes outside
			 * ASCII (0x9b is CSI to some terminals): stderr is most
			 * often one. */
			for (char *p = buf; *p; p++)
				if ((unsigned char)*p < 0x20 || (unsigned char)*p >= 0x7f)
					*p = '?';
			cli_err("%s", msg);
			int st = code_status(code, clen);
			if (st == EXIT_USAGE)
				fputs("Try '" PROG " --help' for more information.\n", stderr);
			return st;
		}
		cli_err("the answer of %s is not logknockd's: '%s'", show(sock_path, shown), show(buf, shown));
		return EXIT_FAILED;
	}

	/* The body: what followed the header in the same read, then the rest.
	 * A watch is written out in whole lines only: when the daemon drops
	 * a slow watcher in the middle of an event, the reader (jq) gets no
	 * half a JSON object. */
	bool failed = false;
	size_t off = (size_t)(nl - buf) + 1;
	have -= off;
	memmove(buf, buf + off, have);
	for (;;) {
		size_t n = have;
		if (stream) {
			const char *last = memrchr(buf, '\n', have);
			n = last ? (size_t)(last - buf) + 1 : have == sizeof buf ? have : 0;
		}
		if (n > 0) {
			if (!out_write(buf, n, &failed))
				return failed ? EXIT_FAILED : 0;
			memmove(buf, buf + n, have - n);
			have -= n;
		}
		int w = wait_readable(fd, timeout, waitmask);
		if (w < 0)
			return 0;	/* SIGINT, SIGTERM: the user has seen enough */
		if (w == 0) {
			cli_err("logknockd on %s stopped answering (nothing for %d s)", show(sock_path, shown),
			       ANSWER_TIMEOUT_MS / 1000);
			return EXIT_FAILED;
		}
		ssize_t r = read(fd, buf + have, sizeof buf - have);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			cli_err("cannot read the answer of logknockd on %s: %s", show(sock_path, shown), strerror(errno));
			return EXIT_FAILED;
		}
		if (r == 0)
			break;
		have += (size_t)r;
	}
	if (stream) {
		/* The daemon ends a watch only when it stops, or when this
		 * client did not keep up with its events. */
		if (have > 0)
			cli_err("the last event was cut off (%zu bytes): left out", have);
		cli_err("logknockd ended the watch (it stopped, or this client read too slowly)");
		return EXIT_FAILED;
	}
	return 0;
}

/* ---- the connection --------------------------------------------------- */

static int connect_to(const char *path)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	show_buf shown;
	int fd;

	if (strlen(path) >= sizeof sa.sun_path)
		cli_usage_error("socket path '%s' is too long (at most %zu bytes)", show(path, shown),
			    sizeof sa.sun_path - 1);
	memcpy(sa.sun_path, path, strlen(path) + 1);
	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) < 0) {
		cli_err("socket: %s", strerror(errno));
		return -1;
	}
	while (connect(fd, (struct sockaddr *)&sa, sizeof sa) < 0) {
		if (errno == EINTR)
			continue;
		int e = errno;
		if (e == ENOENT || e == ECONNREFUSED)
			cli_err("cannot connect to %s: %s (is logknockd running, with its control socket there?)",
			       show(path, shown), strerror(e));
		else
			cli_err("cannot connect to %s: %s", show(path, shown), strerror(e));
		close(fd);
		return -1;
	}
	return fd;
}

static bool send_all(int fd, const char *buf, size_t len)
{
	while (len > 0) {
		ssize_t w = send(fd, buf, len, MSG_NOSIGNAL);
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0)
			return false;
		buf += w;
		len -= (size_t)w;
	}
	return true;
}

/* ---- main ------------------------------------------------------------- */

static const char *const commands[] = {"status", "grants", "close", "open", "attempts", "reload", "watch", "metrics"};

int main(int argc, char **argv)
{
	cli_prog = PROG;
	static const struct option longopts[] = {
		{"json", no_argument, NULL, OPT_JSON},
		{"socket", required_argument, NULL, OPT_SOCKET},
		{"door", required_argument, NULL, OPT_DOOR},
		{"for", required_argument, NULL, OPT_FOR},
		{"knocks", no_argument, NULL, OPT_KNOCKS},
		{"help", no_argument, NULL, 'h'},
		{"version", no_argument, NULL, OPT_VERSION},
		{NULL, 0, NULL, 0},
	};
	const char *sock_path = NULL, *door = NULL, *dur = NULL;
	bool json = false, knocks = false;
	show_buf shown;
	int opt;

	opterr = 0;
	while ((opt = getopt_long(argc, argv, ":h", longopts, NULL)) != -1) {
		switch (opt) {
		case OPT_JSON:
			json = true;
			break;
		case OPT_SOCKET:
			if (!*optarg)
				cli_usage_error("empty --socket");
			sock_path = optarg;
			break;
		case OPT_DOOR:
			if (!apply_door_name_valid(optarg))
				cli_usage_error("bad --door '%s': a door name is 1 to %d letters, digits, '_', '.' "
					    "and '-', the first not '.' or '-'", show(optarg, shown), APPLY_DOOR_MAX);
			door = optarg;
			break;
		case OPT_FOR:
			if (!duration_valid(optarg))
				cli_usage_error("bad --for '%s': expected a duration like 90s, 10m or 2h, "
					    "from 1s to 1d", show(optarg, shown));
			dur = optarg;
			break;
		case OPT_KNOCKS:
			knocks = true;
			break;
		case 'h':
			usage();
			return fflush(stdout) == 0 ? 0 : EXIT_FAILED;
		case OPT_VERSION:
			printf(PROG " " PACKAGE_VERSION "\n");
			return fflush(stdout) == 0 ? 0 : EXIT_FAILED;
		case ':':
			cli_usage_error("option '%s' needs an argument", show(argv[optind - 1], shown));
		default:
			if (optopt)
				cli_usage_error("unknown option '-%c'", optopt);
			cli_usage_error("unknown option '%s'", show(argv[optind - 1], shown));
		}
	}

	if (optind == argc)
		cli_usage_error("expected a command: status, grants, close, open, attempts, reload, watch or metrics");
	const char *cmd = argv[optind++];
	char **args = argv + optind;
	int nargs = argc - optind;
	bool known = false;
	for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
		known |= strcmp(cmd, commands[i]) == 0;
	if (!known)
		cli_usage_error("unknown command '%s'", show(cmd, shown));

	bool is_open = strcmp(cmd, "open") == 0, is_close = strcmp(cmd, "close") == 0;
	bool is_watch = strcmp(cmd, "watch") == 0, is_metrics = strcmp(cmd, "metrics") == 0;
	int want_args = is_open ? 2 : is_close ? 1 : 0;
	if (nargs != want_args) {
		if (is_open)
			cli_usage_error("open takes DOOR and ADDR");
		if (is_close)
			cli_usage_error("close takes one ADDR");
		cli_usage_error("%s takes no argument ('%s')", cmd, show(args[0], shown));
	}
	if (door && !(is_close || strcmp(cmd, "grants") == 0 || strcmp(cmd, "attempts") == 0))
		cli_usage_error("--door goes with grants, close and attempts");
	if (dur && !is_open)
		cli_usage_error("--for goes with open");
	if (knocks && !is_watch)
		cli_usage_error("--knocks goes with watch");
	if (json && is_metrics)
		cli_usage_error("metrics are in the Prometheus text format only: --json does not apply");

	/* FORMAT COMMAND *(KEY=VALUE): watch is JSON lines whatever the
	 * format, metrics the exposition format. */
	struct request r = {.len = 0};
	req_add(&r, NULL, json || is_watch ? "json" : "text");
	req_add(&r, NULL, cmd);
	if (is_open) {
		if (!apply_door_name_valid(args[0]))
			cli_usage_error("bad DOOR '%s': a door name is 1 to %d letters, digits, '_', '.' and '-', "
				    "the first not '.' or '-'", show(args[0], shown), APPLY_DOOR_MAX);
		if (!addr_valid(args[1]))
			cli_usage_error("bad ADDR '%s': expected an IPv4 or IPv6 address", show(args[1], shown));
		req_add(&r, "door", args[0]);
		req_add(&r, "addr", args[1]);
		if (dur)
			req_add(&r, "for", dur);
	}
	if (is_close) {
		if (!addr_valid(args[0]))
			cli_usage_error("bad ADDR '%s': expected an IPv4 or IPv6 address", show(args[0], shown));
		req_add(&r, "addr", args[0]);
	}
	if (door && !is_open)
		req_add(&r, "door", door);
	if (knocks)
		req_add(&r, "knocks", "1");
	req_add(&r, NULL, "");	/* room for the '\n' */
	r.line[r.len - 1] = '\n';

	if (!sock_path) {
		const char *env = getenv("LOGKNOCK_CONTROL");
		sock_path = env && *env ? env : LOGKNOCK_CONTROL_SOCKET;
	}

	/* SIGPIPE: a closed output is an EPIPE to handle, not a death.
	 * SIGINT, SIGTERM, SIGHUP: delivered only inside ppoll(), where they
	 * end the wait (wait_readable). */
	signal(SIGPIPE, SIG_IGN);
	struct sigaction sa = {.sa_handler = on_signal};
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
	sigset_t block, waitmask;
	sigemptyset(&block);
	sigaddset(&block, SIGINT);
	sigaddset(&block, SIGTERM);
	sigaddset(&block, SIGHUP);
	sigprocmask(SIG_BLOCK, &block, &waitmask);
	sigdelset(&waitmask, SIGINT);
	sigdelset(&waitmask, SIGTERM);
	sigdelset(&waitmask, SIGHUP);
	to_terminal = isatty(STDOUT_FILENO) == 1;

	int fd = connect_to(sock_path);
	if (fd < 0)
		return EXIT_CONNECT;
	if (!send_all(fd, r.line, r.len)) {
		/* The daemon may have refused us already (busy, denied):
		 * its answer says why better than EPIPE would. */
		if (errno != EPIPE && errno != ECONNRESET) {
			cli_err("cannot send to %s: %s", show(sock_path, shown), strerror(errno));
			close(fd);
			return EXIT_CONNECT;
		}
	}
	/* No shutdown(SHUT_WR) after the line: a daemon may take the end of
	 * a watch client's input for the client leaving. */
	int st = read_answer(fd, sock_path, is_watch, &waitmask);
	close(fd);
	return st;
}
