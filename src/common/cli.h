/* cli.h — the messages of the two command-line clients (logknock,
 * logknockctl): "PROG: message" on stderr, and a usage error as one line
 * and where to read more, as coreutils do. */
#ifndef LOGKNOCK_CLI_H
#define LOGKNOCK_CLI_H

/* The program's name in every message (set once in main). */
extern const char *cli_prog;

void cli_err(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* "PROG: message", then "Try 'PROG --help' for more information.", and
 * exit(2). */
void cli_usage_error(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));

#endif
