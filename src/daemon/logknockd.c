/* logknockd.c — command line, start-up, replay, shutdown. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "config.h"
#include "daemon.h"
#include "engine.h"
#include "scan.h"
#include "knockd_import.h"
#include "log.h"

#ifndef LOGKNOCK_STATEDIR
#define LOGKNOCK_STATEDIR "/var/lib/logknock"
#endif
#ifndef LOGKNOCK_SYSCONFDIR
#define LOGKNOCK_SYSCONFDIR "/etc/logknock"
#endif
#ifndef LOGKNOCK_RUNDIR
#define LOGKNOCK_RUNDIR "/run/logknock"
#endif
#ifndef LOGKNOCK_LIBEXECDIR
#define LOGKNOCK_LIBEXECDIR "/usr/libexec/logknock"
#endif

#define EXIT_RUNTIME 1
#define EXIT_USAGE 2

/* A log line longer than this is skipped with a warning. */
#define LINE_MAX_LEN 8192
#define READ_BUF (1 << 20)
/* Replay warns about this many skipped lines, then only counts them. */
#define REPLAY_WARN_MAX 50

struct options {
	const char *config;
	const char *replay;
	const char *state_dir;
	const char *control;	/* --control PATH ("" none); NULL: the configuration's */
	enum source_format format;
	int check_config;
	int print_events;
};

#define TRY_HELP "Try 'logknockd --help' for more information.\n"

static void usage(FILE *f)
{
	fprintf(f,
		"Usage: logknockd [-c FILE] [--state-dir DIR] [--control PATH] [-v] [-q]\n"
		"       logknockd [-c FILE] --check-config\n"
		"       logknockd [-c FILE] --replay FILE|- [--print-events] [--format syslog|ulogd]\n"
		"       logknockd --import-knockd /etc/knockd.conf > logknockd.yaml\n"
		"\n"
		"Without --replay or --check-config, follows the configured sources in the\n"
		"foreground until SIGTERM or SIGINT; SIGHUP reloads the configuration.\n"
		"\n"
		"  -c, --config FILE   configuration (default %s/logknockd.yaml)\n"
		"      --state-dir DIR where positions in the logs are kept (default: state_dir\n"
		"                      of the configuration, or %s)\n"
		"      --control PATH  the control socket logknockctl talks to (default: control.socket\n"
		"                      of the configuration, or %s/control); \"\" for none\n"
		"      --check-config  load the configuration, report errors, exit\n"
		"      --replay FILE   read FILE (or - for stdin) from start to end, take the clock\n"
		"                      from its timestamps, apply nothing, print decisions as JSON lines\n"
		"      --print-events  with --replay: also print every knock parsed\n"
		"      --format FMT    with --replay: how lines are laid out: syslog (default; also\n"
		"                      journalctl output) or ulogd (ulogd2 LOGEMU, no kernel tag)\n"
		"      --import-knockd FILE  print a configuration equivalent to knockd's FILE;\n"
		"                      what cannot be carried over is named on stderr\n"
		"  -v, --verbose       more messages (repeat for debug)\n"
		"  -q, --quiet         warnings and errors only\n"
		"  -h, --help          this text\n"
		"      --version       print the version\n",
		LOGKNOCK_SYSCONFDIR, LOGKNOCK_STATEDIR, LOGKNOCK_RUNDIR);
}

static int64_t now_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static double mono_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* The applier: the configured program, $LOGKNOCK_APPLY, the one next to this
 * binary (a build tree), or the installed one. */
static const char *applier_path(const struct config *cfg, char *buf, size_t len)
{
	/* A copy: the configuration is freed by a reload, the path is not. */
	if (cfg->applier.program) {
		snprintf(buf, len, "%s", cfg->applier.program);
		return buf;
	}
	const char *env = getenv("LOGKNOCK_APPLY");
	if (env && *env == '/')
		return env;
	ssize_t n = readlink("/proc/self/exe", buf, len - 1);
	if (n > 0) {
		buf[n] = '\0';
		char *slash = strrchr(buf, '/');
		if (slash && (size_t)(slash - buf) + sizeof "/logknock-apply" <= len) {
			strcpy(slash, "/logknock-apply");
			if (access(buf, X_OK) == 0)
				return buf;
		}
	}
	return LOGKNOCK_LIBEXECDIR "/logknock-apply";
}

static void on_reply(void *ctx, const struct apply_cmd *cmd, int ok, const char *msg)
{
	unsigned *failed = ctx;
	if (!ok) {
		(*failed)++;
		log_err("applier: request %llu failed: %s", (unsigned long long)cmd->id, msg);
	}
}

/* Reads FD to the end, one line at a time, without allocating per line. */
static int replay_fd(struct engine *e, int fd, const char *name, enum source_format fmt, int64_t ref_us,
		     uint64_t *lines, uint64_t *skipped)
{
	char *buf = malloc(READ_BUF);
	if (!buf) {
		log_err("out of memory");
		return -1;
	}
	size_t have = 0, needle_len = 0;
	const char *needle = engine_needle(e, &needle_len);
	unsigned long lineno = 0;
	int overlong = 0, eof = 0;
	while (!eof) {
		ssize_t n = read(fd, buf + have, READ_BUF - have);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			log_err("%s: read: %s", name, strerror(errno));
			free(buf);
			return -1;
		}
		if (n == 0) {
			eof = 1;
			if (have || overlong)
				buf[have++] = '\n';	/* a last line without newline */
		}
		have += (size_t)n;
		char *p = buf, *end = buf + have, *nl;
		/* Lines without the prefix are only counted: all at once up to
		 * the line where it next appears (or the last whole line), one
		 * by one where one of them might be too long. */
		char *cand = NULL, *cand_line = NULL;
		while (p < end) {
			if (needle && !overlong) {
				if (!cand || cand < p) {
					cand = (char *)scan_find(p, (size_t)(end - p), needle, needle_len);
					if (!cand)
						cand = end;
					cand_line = memrchr(p, '\n', (size_t)(cand - p));
					cand_line = cand_line ? cand_line + 1 : p;
				}
				if (cand_line > p && cand_line - p <= LINE_MAX_LEN) {
					uint64_t c = scan_count_nl(p, (size_t)(cand_line - p));
					lineno += c;
					engine_skip_lines(e, c);
					p = cand_line;
				} else if (cand_line > p) {
					nl = memchr(p, '\n', (size_t)(cand_line - p));
					if (nl - p <= LINE_MAX_LEN) {
						lineno++;
						engine_skip_lines(e, 1);
						p = nl + 1;
						continue;
					}
				}
			}
			/* The line's end: no newline before the prefix found in
			 * it, so from there. */
			const char *from = cand && p == cand_line && cand < end ? cand : p;
			if (!(nl = memchr(from, '\n', (size_t)(end - from))))
				break;
			lineno++;
			size_t len = (size_t)(nl - p);
			if (overlong || len > LINE_MAX_LEN) {
				if (++*skipped <= REPLAY_WARN_MAX)
					log_warn("%s:%lu: skipped: line longer than %d bytes", name, lineno, LINE_MAX_LEN);
				overlong = 0;
			} else {
				const char *why;
				if (engine_line(e, fmt, p, len, ref_us, &why) == PARSE_BAD &&
				    ++*skipped <= REPLAY_WARN_MAX)
					log_warn("%s:%lu: skipped: %s", name, lineno, why);
			}
			p = nl + 1;
		}
		have = (size_t)(end - p);
		if (have == READ_BUF) {
			/* No newline in a full buffer: drop it, skip to the next newline. */
			overlong = 1;
			have = 0;
		} else if (have && p != buf) {
			memmove(buf, p, have);
		}
	}
	free(buf);
	*lines = lineno;
	return 0;
}

static int run_replay(const struct config *cfg, const struct options *o)
{
	int fd = 0;
	const char *name = "-";
	int64_t ref = now_us();
	if (strcmp(o->replay, "-") != 0) {
		name = o->replay;
		fd = open(name, O_RDONLY | O_CLOEXEC);
		struct stat st;
		if (fd < 0 || fstat(fd, &st) < 0) {
			log_err("%s: cannot open: %s", name, strerror(errno));
			return EXIT_RUNTIME;
		}
		/* Year-less stamps are placed before the file's last change. */
		ref = (int64_t)st.st_mtim.tv_sec * 1000000 + st.st_mtim.tv_nsec / 1000;
		/* Read once, front to back: no reason to promote its pages in
		 * the page cache's lists (a hint; errors do not matter). */
		(void)posix_fadvise(fd, 0, 0, POSIX_FADV_SEQUENTIAL);
		(void)posix_fadvise(fd, 0, 0, POSIX_FADV_NOREUSE);
	}

	char pathbuf[PATH_MAX];
	char **argv = daemon_applier_argv(cfg, applier_path(cfg, pathbuf, sizeof pathbuf), 1);
	unsigned failed = 0;
	struct applier *ap = argv ? applier_new(NULL, argv, on_reply, &failed) : NULL;
	free(argv);	/* applier_new copied it */
	if (!ap) {
		if (fd)
			close(fd);
		return EXIT_RUNTIME;
	}

	/* Into a file or a pipe, the JSON lines go out 64 KiB at a time (stdio
	 * would write every 4 KiB); a terminal keeps its lines. */
	static char outbuf[1 << 16];
	if (!isatty(STDOUT_FILENO))
		setvbuf(stdout, outbuf, _IOFBF, sizeof outbuf);
	char err[1024];
	struct engine *e = engine_new(cfg, ap, stdout, o->print_events, err, sizeof err);
	if (!e) {
		log_err("%s", err);
		applier_free(ap);
		if (fd)
			close(fd);
		return EXIT_USAGE;
	}
	uint64_t lines = 0, skipped = 0;
	double t0 = mono_s();
	int rc = replay_fd(e, fd, name, o->format, ref, &lines, &skipped);
	engine_finish(e);
	double secs = mono_s() - t0;
	fflush(stdout);
	unsigned unanswered = (unsigned)applier_drain(ap, 10000);

	const struct engine_stats *s = engine_stats(e);
	if (skipped > REPLAY_WARN_MAX)
		log_warn("%llu more lines skipped", (unsigned long long)(skipped - REPLAY_WARN_MAX));
	fprintf(stderr,
		"logknockd: replay: %llu lines, %llu knocks, %llu skipped, %llu opened, %llu extended, "
		"%llu closed in %.3f s (%.0f lines/s)\n",
		(unsigned long long)lines, (unsigned long long)s->knocks, (unsigned long long)skipped,
		(unsigned long long)s->opened, (unsigned long long)s->extended, (unsigned long long)s->closed, secs,
		secs > 0 ? (double)lines / secs : 0.0);
	if (unanswered || failed) {
		log_err("applier: %u requests unanswered, %u failed", unanswered, failed);
		rc = -1;
	}
	engine_free(e);
	applier_free(ap);
	if (fd)
		close(fd);
	return rc ? EXIT_RUNTIME : 0;
}

int main(int argc, char **argv)
{
	enum { OPT_CHECK = 256, OPT_REPLAY, OPT_EVENTS, OPT_FORMAT, OPT_VERSION, OPT_STATE, OPT_IMPORT, OPT_CONTROL };
	static const struct option longopts[] = {
		{"config", required_argument, NULL, 'c'},
		{"check-config", no_argument, NULL, OPT_CHECK},
		{"replay", required_argument, NULL, OPT_REPLAY},
		{"print-events", no_argument, NULL, OPT_EVENTS},
		{"format", required_argument, NULL, OPT_FORMAT},
		{"state-dir", required_argument, NULL, OPT_STATE},
		{"control", required_argument, NULL, OPT_CONTROL},
		{"import-knockd", required_argument, NULL, OPT_IMPORT},
		{"verbose", no_argument, NULL, 'v'},
		{"quiet", no_argument, NULL, 'q'},
		{"help", no_argument, NULL, 'h'},
		{"version", no_argument, NULL, OPT_VERSION},
		{0},
	};
	struct options o = {.config = LOGKNOCK_SYSCONFDIR "/logknockd.yaml", .format = FORMAT_SYSLOG};
	log_init("logknockd");
	/* The marks of a privilege tool (an admin's "sudo logknockd") tell
	 * logknock-apply that its caller has less privilege than it: not so
	 * for the applier we start ourselves, which gets ours. A tool in
	 * applier.command sets them again. */
	static const char *const marks[] = {"SUDO_UID", "SUDO_GID", "SUDO_USER", "SUDO_COMMAND", "DOAS_USER",
					    "PKEXEC_UID"};
	for (size_t i = 0; i < sizeof marks / sizeof *marks; i++)
		unsetenv(marks[i]);
	int c;
	while ((c = getopt_long(argc, argv, "c:vqh", longopts, NULL)) != -1) {
		switch (c) {
		case 'c': o.config = optarg; break;
		case OPT_CHECK: o.check_config = 1; break;
		case OPT_REPLAY: o.replay = optarg; break;
		case OPT_EVENTS: o.print_events = 1; break;
		case OPT_STATE: o.state_dir = optarg; break;
		case OPT_CONTROL:
			if (*optarg && (optarg[0] != '/' || strlen(optarg) > 107)) {
				fprintf(stderr, "logknockd: --control: expected an absolute path of at most 107 bytes, "
					"or \"\" for none\n" TRY_HELP);
				return EXIT_USAGE;
			}
			o.control = optarg;
			break;
		case OPT_IMPORT:
			/* Migration: print an equivalent configuration, say what
			 * could not be carried over. */
			return knockd_import(optarg, stdout, stderr);
		case OPT_FORMAT:
			if (strcmp(optarg, "syslog") == 0)
				o.format = FORMAT_SYSLOG;
			else if (strcmp(optarg, "ulogd") == 0)
				o.format = FORMAT_ULOGD;
			else {
				fprintf(stderr, "logknockd: --format: expected syslog or ulogd, not '%s'\n", optarg);
				return EXIT_USAGE;
			}
			break;
		case 'v': if (log_verbosity < LOG_LVL_DEBUG) log_verbosity++; break;
		case 'q': log_verbosity = LOG_LVL_WARN; break;
		case 'h': usage(stdout); return 0;
		case OPT_VERSION: puts("logknockd " PACKAGE_VERSION); return 0;
		default: /* getopt said what was wrong */
			fputs(TRY_HELP, stderr);
			return EXIT_USAGE;
		}
	}
	if (optind != argc) {
		fprintf(stderr, "logknockd: unexpected argument '%s'\n" TRY_HELP, argv[optind]);
		return EXIT_USAGE;
	}
	if (o.print_events && !o.replay) {
		fprintf(stderr, "logknockd: --print-events goes with --replay\n");
		return EXIT_USAGE;
	}

	struct config cfg;
	char err[1024];
	if (config_load(o.config, &cfg, err, sizeof err) < 0) {
		fprintf(stderr, "%s\n", err);
		return EXIT_USAGE;
	}
	int rc;
	if (o.check_config) {
		/* Compile the patterns too: a bad regex is a config error. */
		struct parser *p = parse_new(&cfg, err, sizeof err);
		struct passwd *pw = NULL;
		/* The user must exist here, or the start would stop (a reload
		 * loads a config without that check: it cannot change users). */
		if (p && cfg.user && (!(pw = getpwnam(cfg.user)) || pw->pw_uid == 0)) {
			fprintf(stderr, "%s:%u:%u: user: %s\n", o.config, cfg.user_line, cfg.user_col,
				pw ? "is root; name an unprivileged user" : "no such user on this machine");
			rc = EXIT_USAGE;
		} else if (p) {
			daemon_check_applier_conf(&cfg);
			printf("%s: ok (%zu door%s, %zu source%s)\n", o.config, cfg.ndoors, cfg.ndoors == 1 ? "" : "s",
			       cfg.nsources, cfg.nsources == 1 ? "" : "s");
			rc = 0;
		} else {
			fprintf(stderr, "%s\n", err);
			rc = EXIT_USAGE;
		}
		parse_free(p);
	} else if (o.replay) {
		rc = run_replay(&cfg, &o);
	} else {
		char pathbuf[PATH_MAX];
		struct daemon_opts d = {.config = o.config, .state_dir = o.state_dir, .control = o.control,
					.applier_path = applier_path(&cfg, pathbuf, sizeof pathbuf)};
		rc = daemon_run(&cfg, &d);
	}
	config_free(&cfg);
	return rc;
}
