/* log.c — one place that writes messages: stderr in the foreground; under
 * systemd, when stderr is the journal's stream, each line carries its level
 * as a "<N>" prefix (sd-daemon(3)) so that journalctl -p works. */
#include "log.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>

int log_verbosity = LOG_LVL_INFO;
static const char *log_prog = "logknock";
static int log_to_journal;

void log_init(const char *progname)
{
	log_prog = progname;
	/* JOURNAL_STREAM is "DEVICE:INODE" of the journal's stream on stderr. */
	const char *js = getenv("JOURNAL_STREAM");
	struct stat st;
	char *end;
	log_to_journal = 0;
	if (!js || *js < '0' || *js > '9' || fstat(2, &st) < 0)
		return;
	errno = 0;
	unsigned long long dev = strtoull(js, &end, 10);
	if (errno || *end != ':' || end[1] < '0' || end[1] > '9')
		return;
	unsigned long long ino = strtoull(end + 1, &end, 10);
	log_to_journal = !errno && !*end && (unsigned long long)st.st_dev == dev && (unsigned long long)st.st_ino == ino;
}

void log_msg(int level, const char *fmt, ...)
{
	static const char *const tag[] = {"error: ", "warning: ", "", "", ""};
	static const char *const prio[] = {"<3>", "<4>", "<6>", "<7>", "<7>"};
	if (level > log_verbosity)
		return;
	char buf[1024];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(buf, sizeof buf, fmt, ap);
	va_end(ap);
	/* One write per message, so that lines from the daemon and the
	 * applier sharing stderr never interleave. */
	if (log_to_journal)
		fprintf(stderr, "%s%s%s\n", prio[level], tag[level], buf);
	else
		fprintf(stderr, "%s: %s%s\n", log_prog, tag[level], buf);
}
