/* log.c — one place that writes messages. */
#include "log.h"

#include <stdio.h>

int log_verbosity = LOG_LVL_INFO;
static const char *log_prog = "logknock";

void log_init(const char *progname)
{
	log_prog = progname;
}

void log_msg(int level, const char *fmt, ...)
{
	static const char *const tag[] = {"error: ", "warning: ", "", ""};
	if (level > log_verbosity)
		return;
	char buf[1024];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(buf, sizeof buf, fmt, ap);
	va_end(ap);
	/* One write per message, so that lines from the daemon and the
	 * applier sharing stderr never interleave. */
	fprintf(stderr, "%s: %s%s\n", log_prog, tag[level], buf);
}
