/* source-driver.c — runs one file source and prints what it hands out.
 *
 *   source-driver FILE [STATE_DIR [WARM_MS]]
 *
 * FILE is followed (or stdin if "-"); STATE_DIR holds the position ("-" or
 * absent: no state); lines read less than WARM_MS (default 0) ago before a
 * restart come again as warm lines. Every line is printed as "W<TAB>line" (warm) or "L<TAB>line",
 * flushed at once. "source-driver: ready" goes to stderr once the source
 * exists (lines appended after it are new). SIGTERM or SIGINT: the source is
 * freed (its position saved) and the driver exits 0. SOURCE_DRIVER_DEBUG in
 * the environment: debug messages too. Used by t/source-file.sh. */
#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <systemd/sd-event.h>

#include "log.h"
#include "source.h"

static int print_failed;

static void on_line(void *ctx, const char *line, size_t len, enum source_format fmt, int64_t ref_us, int warm)
{
	if (printf("%c\t", warm ? 'W' : 'L') < 0 || fwrite(line, 1, len, stdout) != len || putchar('\n') == EOF ||
	    fflush(stdout) == EOF)
		print_failed = 1;
}

static int on_signal(sd_event_source *s, const struct signalfd_siginfo *si, void *userdata)
{
	return sd_event_exit(sd_event_source_get_event(s), 0);
}

int main(int argc, char **argv)
{
	log_init("source-driver");
	if (getenv("SOURCE_DRIVER_DEBUG"))
		log_verbosity = LOG_LVL_DEBUG;
	if (argc < 2 || argc > 4) {
		fprintf(stderr, "usage: source-driver FILE|- [STATE_DIR|- [WARM_MS]]\n");
		return 2;
	}
	const char *warm_arg = argc > 3 ? argv[3] : "0";
	char *end;
	errno = 0;
	long long warm_ms = strtoll(warm_arg, &end, 10);
	if (errno || end == warm_arg || *end || warm_ms < 0 || warm_ms > INT64_MAX / 1000) {
		fprintf(stderr, "source-driver: bad WARM_MS: %s\n", warm_arg);
		return 2;
	}
	const char *state_dir = argc > 2 && strcmp(argv[2], "-") != 0 ? argv[2] : NULL;

	sigset_t mask;
	sigemptyset(&mask);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGINT);
	if (sigprocmask(SIG_BLOCK, &mask, NULL) < 0) {
		perror("source-driver: sigprocmask");
		return 1;
	}
	sd_event *ev = NULL;
	int r = sd_event_new(&ev);
	if (r >= 0)
		r = sd_event_add_signal(ev, NULL, SIGTERM, on_signal, NULL);
	if (r >= 0)
		r = sd_event_add_signal(ev, NULL, SIGINT, on_signal, NULL);
	if (r < 0) {
		fprintf(stderr, "source-driver: sd-event: %s\n", strerror(-r));
		sd_event_unref(ev);
		return 1;
	}

	struct source_conf sc = {.kind = SOURCE_FILE, .arg = argv[1], .format = FORMAT_SYSLOG};
	struct state_store *store = state_dir ? state_store_new(ev, state_dir) : NULL;
	struct source *s = state_dir && !store ? NULL : source_file_new(ev, &sc, store, (int64_t)warm_ms * 1000, on_line, NULL);
	if (!s) {
		state_store_free(store);
		sd_event_unref(ev);
		return 1;
	}
	log_info("ready");
	r = sd_event_loop(ev);
	source_free(s);
	state_store_free(store);
	sd_event_unref(ev);
	if (r < 0) {
		fprintf(stderr, "source-driver: event loop: %s\n", strerror(-r));
		return 1;
	}
	return print_failed ? 1 : 0;
}
