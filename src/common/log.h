/* log.h — messages for the admin, on stderr (journald adds the time). */
#ifndef LOGKNOCK_LOG_H
#define LOGKNOCK_LOG_H

#include <stdarg.h>

/* -v shows VERBOSE (every knock), -v -v DEBUG as well (every step). */
enum { LOG_LVL_ERR, LOG_LVL_WARN, LOG_LVL_INFO, LOG_LVL_VERBOSE, LOG_LVL_DEBUG };

extern int log_verbosity;	/* messages above this level are dropped (default INFO) */

void log_msg(int level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
#define log_err(...) log_msg(LOG_LVL_ERR, __VA_ARGS__)
#define log_warn(...) log_msg(LOG_LVL_WARN, __VA_ARGS__)
#define log_info(...) log_msg(LOG_LVL_INFO, __VA_ARGS__)
#define log_debug(...) log_msg(LOG_LVL_DEBUG, __VA_ARGS__)

/* A decision, with journal fields when stderr is the journal's stream:
 * MESSAGE_ID=<the kind's id>, LOGKNOCK_DOOR=, LOGKNOCK_SRC=, LOGKNOCK_PORT= (proto/port, e.g. tcp/22),
 * PRIORITY, SYSLOG_IDENTIFIER=logknockd, MESSAGE=<as today>. Else the same text to stderr as log_msg.
 * DOOR, SRC, PORT: NULL or "" leaves the field out. The ids are listed, with
 * what each kind means, in systemd/logknock.catalog (journalctl -x). */
enum log_event { LOGEV_OPEN, LOGEV_EXTEND, LOGEV_CLOSE, LOGEV_REPLAY, LOGEV_WRONG_KEY, LOGEV_EVICT, LOGEV_APPLIER_ERROR, LOGEV_BY_HAND, LOGEV_REVOKE };
#define LOGEV_COUNT 9
void log_event(int level, enum log_event kind, const char *door, const char *src, const char *port, const char *fmt, ...)
	__attribute__((format(printf, 6, 7)));
/* The MESSAGE_ID of KIND: 32 lowercase hex digits. */
const char *log_event_id(enum log_event kind);

/* Sets the program name that prefixes every message. */
void log_init(const char *progname);

#endif
