/* apply_proto.h — the line protocol between logknockd and logknock-apply.
 *
 *   open  ID FAMILY SRC PROTO PORT SECONDS [DOOR]    e.g. open 17 inet 192.0.2.2 tcp 22 30 ssh
 *   close ID FAMILY SRC PROTO PORT [DOOR]
 *   flush ID
 *   → ok ID | error ID message
 *
 * ID is a decimal 1..2^63-1, FAMILY inet|inet6, SRC an address of that family
 * (inet_pton), PROTO tcp|udp|icmp|icmpv6, PORT 1..65535 (ICMP type 0..255),
 * SECONDS 1..31536000, DOOR [A-Za-z0-9_.-]{1,64}. Fields are separated by one
 * space; a line is at most APPLY_LINE_MAX bytes with its newline. Anything
 * else is rejected. Both sides use this one parser and formatter. */
#ifndef LOGKNOCK_APPLY_PROTO_H
#define LOGKNOCK_APPLY_PROTO_H

#include <stddef.h>
#include <stdint.h>

#define APPLY_LINE_MAX 256
#define APPLY_DOOR_MAX 64

enum apply_op { APPLY_OPEN, APPLY_CLOSE, APPLY_FLUSH };

struct apply_cmd {
	enum apply_op op;
	uint64_t id;
	uint8_t family;		/* AF_INET, AF_INET6 */
	uint8_t proto;		/* IPPROTO_TCP, IPPROTO_UDP, IPPROTO_ICMP, IPPROTO_ICMPV6 */
	uint16_t port;
	uint32_t seconds;	/* open only */
	uint8_t addr[16];
	char door[APPLY_DOOR_MAX + 1];	/* "" when absent */
};

/* Parses one request line (without newline). 0, or -1 with a message in err. */
int apply_parse(const char *line, size_t len, struct apply_cmd *out, char *err, size_t errlen);
/* Formats a request with its newline; returns its length, or -1 if it does not fit. */
int apply_format(const struct apply_cmd *cmd, char *buf, size_t buflen);

/* Replies: "ok ID" or "error ID message". */
struct apply_reply {
	uint64_t id;
	int ok;
	char msg[APPLY_LINE_MAX];
};
int apply_parse_reply(const char *line, size_t len, struct apply_reply *out);

/* A door name as the protocol and the config accept it: 1 to APPLY_DOOR_MAX
 * letters, digits, '_', '.' and '-', the first a letter, a digit or '_'.
 * It becomes an argument of the admin's commands (%DOOR%) and a field of
 * this protocol: it never starts like an option ("-x"), never names a
 * directory (".", ".."), holds no space, slash, quote or shell character. */
int apply_door_name_valid(const char *name);

#endif
