/* source-jdriver — runs one journal or kmsg source in an sd-event loop and
 * prints what it hands out, for t/source-journal.sh and t/source-kmsg.sh.
 *
 *   source-jdriver journal|kmsg STATE_DIR WARM_MS
 *
 * STATE_DIR "-": no persistence. Each line is printed as "W<TAB>line" (warm)
 * or "L<TAB>line" (live). "READY" goes to stderr once the source exists.
 * SIGTERM/SIGINT: source_free() (which saves the position) and exit 0.
 * SOURCE_JDRIVER_DEBUG=1 in the environment turns on debug messages. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "log.h"
#include "source.h"

static void on_line(void *ctx, const char *line, size_t len, enum source_format fmt, int64_t ref_us, int warm)
{
	(void)ctx;
	(void)fmt;
	(void)ref_us;
	fputs(warm ? "W\t" : "L\t", stdout);
	fwrite(line, 1, len, stdout);
	fputc('\n', stdout);
	fflush(stdout);
}

static int on_signal(sd_event_source *s, const struct signalfd_siginfo *si, void *userdata)
{
	return sd_event_exit(sd_event_source_get_event(s), 0);
}

static int usage(void)
{
	fprintf(stderr, "usage: source-jdriver journal|kmsg STATE_DIR|- WARM_MS\n");
	return 2;
}

int main(int argc, char **argv)
{
	log_init("source-jdriver");
	if (getenv("SOURCE_JDRIVER_DEBUG"))
		log_verbosity = LOG_LVL_DEBUG;
	if (argc != 4)
		return usage();
	char *end;
	errno = 0;
	long long warm_ms = strtoll(argv[3], &end, 10);
	if (errno || end == argv[3] || *end || warm_ms < 0 || warm_ms > 86400000LL)
		return usage();
	const char *state_dir = strcmp(argv[2], "-") == 0 ? NULL : argv[2];

	sigset_t ss;
	sigemptyset(&ss);
	sigaddset(&ss, SIGTERM);
	sigaddset(&ss, SIGINT);
	if (sigprocmask(SIG_BLOCK, &ss, NULL) < 0) {
		perror("sigprocmask");
		return 1;
	}
	sd_event *ev = NULL;
	int r = sd_event_default(&ev);
	if (r < 0) {
		fprintf(stderr, "sd_event_default: %s\n", strerror(-r));
		return 1;
	}
	if (sd_event_add_signal(ev, NULL, SIGTERM, on_signal, NULL) < 0 ||
	    sd_event_add_signal(ev, NULL, SIGINT, on_signal, NULL) < 0) {
		fprintf(stderr, "sd_event_add_signal failed\n");
		sd_event_unref(ev);
		return 1;
	}

	struct source_conf sc = {0};
	struct source *src;
	struct state_store *store = state_dir ? state_store_new(ev, state_dir) : NULL;
	if (state_dir && !store) {
		sd_event_unref(ev);
		return 1;
	}
	if (strcmp(argv[1], "journal") == 0) {
		sc.kind = SOURCE_JOURNAL;
		sc.arg = (char *)"kernel";
		src = source_journal_new(ev, &sc, store, warm_ms * 1000, on_line, NULL);
	} else if (strcmp(argv[1], "kmsg") == 0) {
		sc.kind = SOURCE_KMSG;
		src = source_kmsg_new(ev, &sc, store, warm_ms * 1000, on_line, NULL);
	} else {
		state_store_free(store);
		sd_event_unref(ev);
		return usage();
	}
	if (!src) {
		state_store_free(store);
		sd_event_unref(ev);
		return 1;
	}
	fprintf(stderr, "READY\n");
	r = sd_event_loop(ev);
	source_free(src);
	state_store_free(store);
	sd_event_unref(ev);
	if (r < 0) {
		fprintf(stderr, "sd_event_loop: %s\n", strerror(-r));
		return 1;
	}
	return 0;
}
