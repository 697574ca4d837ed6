/* control_proto.h — the control socket's request grammar (doc/logknockd.8,
 * "CONTROL SOCKET"): one line, parsed by a pure function so that it can be
 * fuzzed (fuzz/fuzz-control.c), and the JSON string escaping the replies use.
 *
 *   FORMAT SP COMMAND *(SP KEY=VALUE) LF
 *   FORMAT  = "text" / "json"
 *   COMMAND = status / grants / attempts / close / open / reload / watch / metrics
 *
 * At most CONTROL_LINE_MAX bytes including the LF; bytes 0x21-0x7e and single
 * spaces only; VALUE 1..CONTROL_VALUE_MAX bytes of [A-Za-z0-9._:/@+-]; each
 * key at most once, unknown keys refused. */
#ifndef LOGKNOCK_CONTROL_PROTO_H
#define LOGKNOCK_CONTROL_PROTO_H

#include <stddef.h>
#include <stdint.h>

#define CONTROL_LINE_MAX 1024
#define CONTROL_VALUE_MAX 255
/* open for=: at least a second, at most a day */
#define CONTROL_FOR_MIN_US INT64_C(1000000)
#define CONTROL_FOR_MAX_US (INT64_C(86400) * 1000000)

enum control_cmd {
	CTL_STATUS,
	CTL_GRANTS,
	CTL_ATTEMPTS,
	CTL_CLOSE,
	CTL_OPEN,
	CTL_RELOAD,
	CTL_WATCH,
	CTL_METRICS,
};

struct control_req {
	int json;		/* FORMAT is json */
	enum control_cmd cmd;
	char door[CONTROL_VALUE_MAX + 1];	/* door=; "" when not given */
	int family;		/* addr=: AF_INET or AF_INET6; 0 when not given */
	uint8_t addr[16];
	int64_t for_us;		/* for=; 0 when not given (the door's duration) */
	int knocks;		/* watch knocks=1 */
};

/* The command's name ("status", ...). */
const char *control_cmd_name(enum control_cmd c);
/* Whether a read-only client (control.read_group) may run C. */
int control_cmd_read_only(enum control_cmd c);

/* BUF[0..LEN): the bytes received, up to and including the first '\n' (which
 * must be the last byte). 0 and *out filled in; or -1 with a message in ERR
 * (NUL-terminated, printable ASCII, never empty when errlen > 1), the reply
 * then being "error usage MESSAGE". Reads nothing outside BUF[0..LEN). */
int control_parse(const char *buf, size_t len, struct control_req *out, char *err, size_t errlen);

/* "for=" durations: digits and one of ms, s, m, h (as the configuration's),
 * d; microseconds, or -1. */
int64_t control_parse_duration(const char *s, size_t len);

/* S[0..LEN) as the inside of a JSON string (quotes not included) into
 * DST, NUL-terminated: the quote and the backslash escaped, control bytes
 * and 0x7f as \u00XX, valid UTF-8 kept, any other byte as \ufffd (paths
 * are not trusted to be UTF-8). Returns the length it needs (without the
 * NUL); the output is cut short when that is >= dstlen, as snprintf's. */
size_t control_json_escape(char *dst, size_t dstlen, const char *s, size_t len);

#endif
