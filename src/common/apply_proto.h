/* apply_proto.h — the line protocol between logknockd and logknock-apply.
 *
 *   open  ID FAMILY SRC PROTO PORT SECONDS [DOOR] [GATEWAY]   e.g. open 17 inet 192.0.2.2 tcp 22 30 ssh
 *   close ID FAMILY SRC PROTO PORT [DOOR] [GATEWAY]
 *   flush ID
 *   → ok ID | error ID message
 *
 * ID is a decimal 1..2^63-1, FAMILY inet|inet6, SRC an address of that family
 * (inet_pton), PROTO tcp|udp|icmp|icmpv6, PORT 1..65535 (ICMP type 0..255),
 * SECONDS 1..31536000, DOOR [A-Za-z0-9_.-]{1,64}. Fields are separated by one
 * space; a line is at most APPLY_LINE_MAX bytes with its newline. Anything
 * else is rejected. Both sides use this one parser and formatter.
 *
 * GATEWAY (doors with forward: or dnat:, issue 15) is, in this order:
 *   to=ADDR            the internal host, an address of FAMILY: with it alone
 *                      SRC may reach ADDR:PORT through this host (forward)
 *   toport=N           1..65535: connections from SRC to this host's PORT are
 *                      translated to ADDR:N (dnat); tcp and udp only
 *   masq=1             dnat only: the translated connection leaves with this
 *                      host's address (the internal host need not route back)
 *   keep=0             established connections end with the grant (default:
 *                      they outlive it, as conntrack does)
 * Keys contain '=', which no door name does, so a line without DOOR stays
 * unambiguous. A line without them is what it always was: old lines parse
 * and format exactly as before. */
#ifndef LOGKNOCK_APPLY_PROTO_H
#define LOGKNOCK_APPLY_PROTO_H

#include <stddef.h>
#include <stdint.h>

#define APPLY_LINE_MAX 256
#define APPLY_DOOR_MAX 64

enum apply_op { APPLY_OPEN, APPLY_CLOSE, APPLY_FLUSH };
/* Where a grant lets SRC go. */
enum apply_via { APPLY_VIA_LOCAL = 0, APPLY_VIA_FORWARD, APPLY_VIA_DNAT };

struct apply_cmd {
	enum apply_op op;
	uint64_t id;
	uint8_t family;		/* AF_INET, AF_INET6 */
	uint8_t proto;		/* IPPROTO_TCP, IPPROTO_UDP, IPPROTO_ICMP, IPPROTO_ICMPV6 */
	uint16_t port;
	uint32_t seconds;	/* open only */
	uint8_t addr[16];
	char door[APPLY_DOOR_MAX + 1];	/* "" when absent */
	uint8_t via;		/* APPLY_VIA_*: local (no GATEWAY fields), forward or dnat */
	uint8_t masq;		/* dnat: masquerade (1) */
	uint8_t nokeep;		/* forward, dnat: established connections end with the grant (1) */
	uint16_t toport;	/* dnat: the port on TO */
	uint8_t to[16];		/* forward, dnat: the internal host, of FAMILY */
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
