/* log.c — one place that writes messages: stderr in the foreground; under
 * systemd, when stderr is the journal's stream, each line carries its level
 * as a "<N>" prefix (sd-daemon(3)) so that journalctl -p works, and the
 * daemon's decisions (log_event) go to the journal with fields of their own
 * (sd_journal_send) so that journalctl LOGKNOCK_DOOR=ssh finds them. */
#include "log.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <systemd/sd-journal.h>

int log_verbosity = LOG_LVL_INFO;
static const char *log_prog = "logknock";
static int log_to_journal;

static const char *const tag[] = {"error: ", "warning: ", "", "", ""};
static const char *const prio[] = {"<3>", "<4>", "<6>", "<7>", "<7>"};

/* Fixed for ever (generated once with systemd-id128 new): journalctl
 * MESSAGE_ID=... and the catalog (systemd/logknock.catalog) know them. */
static const char *const event_id[LOGEV_COUNT] = {
	[LOGEV_OPEN] = "a901cf0091b542ebb09a14512bd88a8c",
	[LOGEV_EXTEND] = "ed2830704f884a29b593a7617a1ebeb4",
	[LOGEV_CLOSE] = "55a2bfc6a2f84297afac343964066a51",
	[LOGEV_REPLAY] = "0fb07b170f8d45ad89a616b1289643f8",
	[LOGEV_WRONG_KEY] = "d316277404c842ffb961ff2d0d0e6b0a",
	[LOGEV_EVICT] = "a548b116a27047c19d766685cfc81338",
	[LOGEV_APPLIER_ERROR] = "58fde380fa13427a9d25b9c7e0cfb959",
	[LOGEV_BY_HAND] = "a3527bc19118478da0ec24b9a6252176",
	[LOGEV_REVOKE] = "35423a3092f04ae597d1f454d5d0d8bf",
};

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

/* One write per message, so that lines from the daemon and the applier
 * sharing stderr never interleave. */
static void put(int level, const char *msg)
{
	if (log_to_journal)
		fprintf(stderr, "%s%s%s\n", prio[level], tag[level], msg);
	else
		fprintf(stderr, "%s: %s%s\n", log_prog, tag[level], msg);
}

void log_msg(int level, const char *fmt, ...)
{
	if (level > log_verbosity)
		return;
	char buf[1024];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(buf, sizeof buf, fmt, ap);
	va_end(ap);
	put(level, buf);
}

const char *log_event_id(enum log_event kind)
{
	return (unsigned)kind < LOGEV_COUNT ? event_id[kind] : event_id[LOGEV_APPLIER_ERROR];
}

/* "NAME=VALUE" into B (bounded: a longer value is cut), as an iovec. */
static void field(struct iovec *v, size_t *n, char *b, size_t blen, const char *name, const char *a, const char *c)
{
	int w = snprintf(b, blen, "%s=%s%s", name, a, c ? c : "");
	if (w < 0)
		return;
	v[*n].iov_base = b;
	v[(*n)++].iov_len = (size_t)w < blen ? (size_t)w : blen - 1;
}

void log_event(int level, enum log_event kind, const char *door, const char *src, const char *port, const char *fmt, ...)
{
	if (level > log_verbosity)
		return;
	if (level < LOG_LVL_ERR)
		level = LOG_LVL_ERR;
	else if (level > LOG_LVL_DEBUG)
		level = LOG_LVL_DEBUG;
	char buf[1024];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(buf, sizeof buf, fmt, ap);
	va_end(ap);
	if (log_to_journal) {
		/* Every value is ours: a door name from the configuration, an
		 * address we formatted, a protocol and a number. Each is bounded. */
		char msg[1100], id[64], pr[16], ident[80], fd[96], fs[80], fp[48];
		struct iovec v[7];
		size_t n = 0;
		field(v, &n, msg, sizeof msg, "MESSAGE", tag[level], buf);
		field(v, &n, id, sizeof id, "MESSAGE_ID", log_event_id(kind), NULL);
		char digit[2] = {prio[level][1], '\0'};	/* "<6>" -> "6" */
		field(v, &n, pr, sizeof pr, "PRIORITY", digit, NULL);
		field(v, &n, ident, sizeof ident, "SYSLOG_IDENTIFIER", log_prog, NULL);
		if (door && *door)
			field(v, &n, fd, sizeof fd, "LOGKNOCK_DOOR", door, NULL);
		if (src && *src)
			field(v, &n, fs, sizeof fs, "LOGKNOCK_SRC", src, NULL);
		if (port && *port)
			field(v, &n, fp, sizeof fp, "LOGKNOCK_PORT", port, NULL);
		/* The journal's socket may be out of reach (a sandbox, journald
		 * restarting): then the stream has it, without its fields. */
		if (sd_journal_sendv(v, (int)n) >= 0)
			return;
	}
	put(level, buf);
}
