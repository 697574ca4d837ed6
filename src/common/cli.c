/* cli.c — see cli.h. */
#include "cli.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

const char *cli_prog = "logknock";

static void say(const char *fmt, va_list ap, const char *after)
{
	char buf[1024];
	vsnprintf(buf, sizeof buf, fmt, ap);
	fprintf(stderr, "%s: %s\n%s", cli_prog, buf, after);
}

void cli_err(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	say(fmt, ap, "");
	va_end(ap);
}

void cli_usage_error(const char *fmt, ...)
{
	char try[96];
	snprintf(try, sizeof try, "Try '%s --help' for more information.\n", cli_prog);
	va_list ap;
	va_start(ap, fmt);
	say(fmt, ap, try);
	va_end(ap);
	exit(2);
}
