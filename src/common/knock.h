/* knock.h — the one event that crosses from the parser to the doors. */
#ifndef LOGKNOCK_KNOCK_H
#define LOGKNOCK_KNOCK_H

#include <stddef.h>
#include <stdint.h>

/* TCP flags as the kernel's LOG target names them; bit order is the order
 * in which nf_log prints them, so printing walks the bits high to low. */
enum {
	KNOCK_FIN = 1 << 0,
	KNOCK_SYN = 1 << 1,
	KNOCK_RST = 1 << 2,
	KNOCK_PSH = 1 << 3,
	KNOCK_ACK = 1 << 4,
	KNOCK_URG = 1 << 5,
	KNOCK_ECE = 1 << 6,
	KNOCK_CWR = 1 << 7,
};

struct knock {
	int64_t time_us;	/* UTC, microseconds since the epoch */
	uint8_t family;		/* AF_INET or AF_INET6 */
	uint8_t proto;		/* IPPROTO_TCP, IPPROTO_UDP, IPPROTO_ICMP, IPPROTO_ICMPV6 */
	uint8_t flags;		/* KNOCK_* (TCP only) */
	uint8_t icmp_code;	/* ICMP only */
	uint16_t sport;		/* TCP/UDP source port; 0 for ICMP */
	uint16_t port;		/* TCP/UDP destination port, or ICMP type */
	uint8_t src[16];	/* network order; IPv4 uses the first 4 bytes */
	uint8_t dst[16];
	/* The host that logged it (fleet, issue 16): the syslog HOSTNAME of a
	 * forwarded line or a remote journal entry's _HOSTNAME; NULL when
	 * unknown or when the configuration asks for none (no at:, no
	 * forwarded source). Not NUL-terminated; valid while the line is. */
	const char *host;
	uint8_t hostlen;
};

/* Longest host name a knock carries (a DNS label's 63 bytes). */
#define KNOCK_HOST_MAX 63
/* Whether S (N bytes) may be a knock's host: 1 to KNOCK_HOST_MAX of
 * letters, digits, '.', '-', '_', ':' (an IPv6 literal). Anything else
 * (quotes, controls) is not taken from a log line. */
int knock_host_valid(const char *s, size_t n);

/* Address of a knock as text: "192.0.2.2", "2001:db8::2" (RFC 5952). */
#define KNOCK_ADDRSTRLEN 46
const char *knock_addr_str(int family, const uint8_t *addr, char buf[KNOCK_ADDRSTRLEN]);
/* The same text at BUF (room for KNOCK_ADDRSTRLEN bytes); its end (the NUL). */
char *knock_addr_put(char *buf, int family, const uint8_t *addr);

/* RFC 3339 UTC with microseconds: "2026-11-26T14:47:35.758063Z". */
#define KNOCK_TIMESTRLEN 48
const char *knock_time_str(int64_t time_us, char buf[KNOCK_TIMESTRLEN]);
/* The same text at BUF (room for KNOCK_TIMESTRLEN bytes); its end (the NUL). */
char *knock_time_put(char *buf, int64_t time_us);

/* "tcp", "udp", "icmp", "icmpv6" */
const char *knock_proto_str(int proto);

/* "SYN", "ACK PSH", ... in the kernel's order; "" when none. */
const char *knock_flags_str(uint8_t flags, char buf[40]);

/* Days since 1970-01-01 of a proleptic Gregorian date (no time zone). */
int64_t knock_days_from_civil(int64_t y, unsigned m, unsigned d);

#endif
