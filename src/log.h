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

/* Sets the program name that prefixes every message. */
void log_init(const char *progname);

#endif
