/* unit-apply-proto.c — the applier protocol: requests, their formatting,
 * replies. Every line the daemon can send must round-trip; everything else
 * must be refused.
 *
 * Decided here (and in apply_proto.c): numbers are canonical decimal, so a
 * leading zero ("022"), a sign ("+1", "-1") or hex ("0x10") is refused;
 * tcp/udp port 0 is refused, ICMP type 0 is fine. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

#include "apply_proto.h"

static int parse(const char *line, struct apply_cmd *c, char *err, size_t errlen)
{
	return apply_parse(line, strlen(line), c, err, errlen);
}

static void test_open_inet(void **state)
{
	(void)state;
	struct apply_cmd c;
	char err[256] = "";
	assert_int_equal(parse("open 17 inet 192.0.2.2 tcp 22 30 ssh", &c, err, sizeof err), 0);
	assert_int_equal(c.op, APPLY_OPEN);
	assert_int_equal(c.id, 17);
	assert_int_equal(c.family, AF_INET);
	assert_int_equal(c.proto, IPPROTO_TCP);
	assert_int_equal(c.port, 22);
	assert_int_equal(c.seconds, 30);
	uint8_t want[4] = {192, 0, 2, 2};
	assert_memory_equal(c.addr, want, 4);
	assert_string_equal(c.door, "ssh");

	assert_int_equal(parse("open 1 inet 10.0.0.1 udp 65535 31536000", &c, err, sizeof err), 0);
	assert_int_equal(c.proto, IPPROTO_UDP);
	assert_int_equal(c.port, 65535);
	assert_int_equal(c.seconds, 31536000);
	assert_string_equal(c.door, "");

	assert_int_equal(parse("open 9223372036854775807 inet 0.0.0.0 icmp 0 1", &c, err, sizeof err), 0);
	assert_true(c.id == UINT64_C(9223372036854775807));
	assert_int_equal(c.proto, IPPROTO_ICMP);
	assert_int_equal(c.port, 0);
	assert_int_equal(c.seconds, 1);

	assert_int_equal(parse("open 2 inet 255.255.255.255 icmp 255 5 a", &c, err, sizeof err), 0);
	assert_int_equal(c.port, 255);
	assert_string_equal(c.door, "a");
}

static void test_open_inet6(void **state)
{
	(void)state;
	struct apply_cmd c, d;
	char err[256] = "";
	uint8_t want[16];
	inet_pton(AF_INET6, "2001:db8::2", want);

	assert_int_equal(parse("open 3 inet6 2001:db8::2 tcp 443 60 web-1.x_y", &c, err, sizeof err), 0);
	assert_int_equal(c.family, AF_INET6);
	assert_memory_equal(c.addr, want, 16);
	assert_string_equal(c.door, "web-1.x_y");

	/* The expanded form is the same address. */
	assert_int_equal(parse("open 3 inet6 2001:0db8:0000:0000:0000:0000:0000:0002 tcp 443 60 web-1.x_y", &d, err,
			       sizeof err), 0);
	assert_memory_equal(&c, &d, sizeof c);

	assert_int_equal(parse("open 4 inet6 ::1 icmpv6 128 10", &c, err, sizeof err), 0);
	assert_int_equal(c.proto, IPPROTO_ICMPV6);
	assert_int_equal(c.port, 128);

	assert_int_equal(parse("open 5 inet6 ::ffff:192.0.2.2 udp 53 10", &c, err, sizeof err), 0);
	/* 45 characters, the longest address text there is */
	assert_int_equal(parse("open 6 inet6 0000:0000:0000:0000:0000:ffff:192.168.100.200 tcp 1 1", &c, err, sizeof err),
			 0);
}

static void test_close_flush(void **state)
{
	(void)state;
	struct apply_cmd c;
	char err[256] = "";
	assert_int_equal(parse("close 17 inet 192.0.2.2 tcp 22 ssh", &c, err, sizeof err), 0);
	assert_int_equal(c.op, APPLY_CLOSE);
	assert_int_equal(c.id, 17);
	assert_int_equal(c.port, 22);
	assert_int_equal(c.seconds, 0);
	assert_string_equal(c.door, "ssh");

	assert_int_equal(parse("close 18 inet6 2001:db8::2 udp 53", &c, err, sizeof err), 0);
	assert_int_equal(c.proto, IPPROTO_UDP);
	assert_string_equal(c.door, "");

	assert_int_equal(parse("close 19 inet 192.0.2.2 icmp 8", &c, err, sizeof err), 0);
	assert_int_equal(parse("close 19 inet6 2001:db8::2 icmpv6 128", &c, err, sizeof err), 0);

	assert_int_equal(parse("flush 1", &c, err, sizeof err), 0);
	assert_int_equal(c.op, APPLY_FLUSH);
	assert_int_equal(c.id, 1);
}

static void test_door_names(void **state)
{
	(void)state;
	char d64[65], d65[66];
	memset(d64, 'd', 64);
	d64[64] = '\0';
	memset(d65, 'd', 65);
	d65[65] = '\0';
	assert_true(apply_door_name_valid("ssh"));
	assert_true(apply_door_name_valid("A-Z_a.z-09"));
	assert_true(apply_door_name_valid(d64));
	assert_false(apply_door_name_valid(d65));
	assert_false(apply_door_name_valid(""));
	assert_false(apply_door_name_valid(NULL));
	assert_false(apply_door_name_valid("a/b"));
	assert_false(apply_door_name_valid("a b"));
	assert_false(apply_door_name_valid("a;b"));
	assert_false(apply_door_name_valid("d\xc3\xbcr"));
	/* like an option of the admin's command, or a directory */
	assert_false(apply_door_name_valid("-rf"));
	assert_false(apply_door_name_valid("--open"));
	assert_false(apply_door_name_valid("."));
	assert_false(apply_door_name_valid(".."));
	assert_false(apply_door_name_valid(".x"));
	assert_true(apply_door_name_valid("_x"));
	assert_true(apply_door_name_valid("9-a.b"));

	char line[128];
	struct apply_cmd c;
	snprintf(line, sizeof line, "open 1 inet 192.0.2.2 tcp 22 30 %s", d64);
	assert_int_equal(apply_parse(line, strlen(line), &c, NULL, 0), 0);
	assert_string_equal(c.door, d64);
	snprintf(line, sizeof line, "open 1 inet 192.0.2.2 tcp 22 30 -rf");
	assert_int_equal(apply_parse(line, strlen(line), &c, NULL, 0), -1);
	snprintf(line, sizeof line, "close 1 inet 192.0.2.2 tcp 22 ..");
	assert_int_equal(apply_parse(line, strlen(line), &c, NULL, 0), -1);
}

/* Canonical lines: parse, format, and get the same bytes back. */
static const char *const canonical[] = {
	"open 17 inet 192.0.2.2 tcp 22 30 ssh",
	"open 17 inet 192.0.2.2 tcp 22 30",
	"open 9223372036854775807 inet6 2001:db8::2 udp 65535 31536000 a.b-c_d",
	"open 1 inet 192.0.2.2 icmp 0 1",
	"open 1 inet6 ::1 icmpv6 255 1",
	"open 1 inet6 :: tcp 1 1",
	"open 1 inet6 ::ffff:192.0.2.2 tcp 1 1",
	"open 1 inet6 fe80::1:2:3:4 tcp 1 1",
	"close 17 inet 192.0.2.2 tcp 22 ssh",
	"close 17 inet6 2001:db8::2 udp 53",
	"close 17 inet 192.0.2.2 icmp 8",
	"flush 1",
	"flush 9223372036854775807",
};

static void test_round_trip_lines(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof canonical / sizeof canonical[0]; i++) {
		struct apply_cmd c, d;
		char err[256] = "", buf[APPLY_LINE_MAX + 1], want[APPLY_LINE_MAX + 2];
		if (parse(canonical[i], &c, err, sizeof err) != 0)
			fail_msg("'%s' refused: %s", canonical[i], err);
		int n = apply_format(&c, buf, sizeof buf);
		snprintf(want, sizeof want, "%s\n", canonical[i]);
		assert_int_equal(n, (int)strlen(want));
		assert_string_equal(buf, want);
		/* and the formatted line parses to the same request */
		assert_int_equal(apply_parse(buf, (size_t)n - 1, &d, err, sizeof err), 0);
		assert_memory_equal(&c, &d, sizeof c);
	}
}

static void test_round_trip_structs(void **state)
{
	(void)state;
	static const uint8_t protos[] = {IPPROTO_TCP, IPPROTO_UDP, IPPROTO_ICMP, IPPROTO_ICMPV6};
	static const char *const addrs4[] = {"192.0.2.2", "0.0.0.0", "255.255.255.255"};
	static const char *const addrs6[] = {"2001:db8::2", "::", "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff",
					     "::ffff:10.1.2.3"};
	int count = 0;
	for (int op = APPLY_OPEN; op <= APPLY_CLOSE; op++)
		for (int fam = 0; fam < 2; fam++)
			for (size_t p = 0; p < sizeof protos; p++)
				for (size_t ai = 0; ai < (fam ? 4u : 3u); ai++)
					for (int variant = 0; variant < 2; variant++) {
						struct apply_cmd c, d;
						memset(&c, 0, sizeof c);
						c.op = (enum apply_op)op;
						c.id = variant ? UINT64_C(9223372036854775807) : 1;
						c.family = fam ? AF_INET6 : AF_INET;
						c.proto = protos[p];
						if ((c.proto == IPPROTO_ICMP && fam) || (c.proto == IPPROTO_ICMPV6 && !fam))
							continue;
						int icmp = c.proto == IPPROTO_ICMP || c.proto == IPPROTO_ICMPV6;
						c.port = variant ? (icmp ? 255 : 65535) : (icmp ? 0 : 1);
						c.seconds = op == APPLY_OPEN ? (variant ? 31536000 : 1) : 0;
						inet_pton(c.family, fam ? addrs6[ai] : addrs4[ai], c.addr);
						if (variant)
							memset(c.door, 'z', APPLY_DOOR_MAX);
						char buf[APPLY_LINE_MAX + 1], err[256] = "";
						int n = apply_format(&c, buf, sizeof buf);
						assert_true(n > 0 && n <= APPLY_LINE_MAX);
						assert_int_equal(buf[n - 1], '\n');
						if (apply_parse(buf, (size_t)n - 1, &d, err, sizeof err) != 0)
							fail_msg("'%s' refused: %s", buf, err);
						assert_memory_equal(&c, &d, sizeof c);
						count++;
					}
	assert_true(count > 40);

	struct apply_cmd f = {.op = APPLY_FLUSH, .id = 42}, g;
	char buf[APPLY_LINE_MAX + 1];
	assert_int_equal(apply_format(&f, buf, sizeof buf), 9);
	assert_string_equal(buf, "flush 42\n");
	assert_int_equal(apply_parse(buf, 8, &g, NULL, 0), 0);
	assert_memory_equal(&f, &g, sizeof f);
}

/* apply_format refuses what apply_parse would refuse. */
static void test_format_refuses(void **state)
{
	(void)state;
	struct apply_cmd good, c;
	char buf[APPLY_LINE_MAX + 1];
	assert_int_equal(parse("open 17 inet 192.0.2.2 tcp 22 30 ssh", &good, NULL, 0), 0);
	assert_true(apply_format(&good, buf, sizeof buf) > 0);

	c = good, c.id = 0;
	assert_int_equal(apply_format(&c, buf, sizeof buf), -1);
	c = good, c.id = UINT64_C(9223372036854775808);
	assert_int_equal(apply_format(&c, buf, sizeof buf), -1);
	c = good, c.port = 0;
	assert_int_equal(apply_format(&c, buf, sizeof buf), -1);
	c = good, c.seconds = 0;
	assert_int_equal(apply_format(&c, buf, sizeof buf), -1);
	c = good, c.seconds = 31536001;
	assert_int_equal(apply_format(&c, buf, sizeof buf), -1);
	c = good, c.family = 99;
	assert_int_equal(apply_format(&c, buf, sizeof buf), -1);
	c = good, c.proto = 132;	/* SCTP */
	assert_int_equal(apply_format(&c, buf, sizeof buf), -1);
	c = good, c.proto = IPPROTO_ICMPV6;	/* with inet */
	assert_int_equal(apply_format(&c, buf, sizeof buf), -1);
	c = good, c.proto = IPPROTO_ICMP, c.port = 256;
	assert_int_equal(apply_format(&c, buf, sizeof buf), -1);
	c = good, strcpy(c.door, "a b");
	assert_int_equal(apply_format(&c, buf, sizeof buf), -1);
	c = good, memset(c.door, 'x', sizeof c.door);	/* not terminated */
	assert_int_equal(apply_format(&c, buf, sizeof buf), -1);
	c = good, c.op = (enum apply_op)7;
	assert_int_equal(apply_format(&c, buf, sizeof buf), -1);
	/* too small a buffer */
	assert_int_equal(apply_format(&good, buf, 10), -1);
	assert_int_equal(apply_format(&good, buf, 0), -1);
	/* exactly enough: the line, its newline and the NUL */
	assert_int_equal(apply_format(&good, buf, 38), 37);
	assert_int_equal(apply_format(&good, buf, 37), -1);
}

struct bad {
	const char *line;
	size_t len;		/* 0: strlen(line) */
	const char *why;	/* substring expected in the message */
};

static const struct bad bad_lines[] = {
	{"", 0, "empty line"},
	{"open  17 inet 192.0.2.2 tcp 22 30", 0, "empty field"},		/* double space */
	{"open 17 inet 192.0.2.2 tcp 22 30 ", 0, "trailing space"},
	{" open 17 inet 192.0.2.2 tcp 22 30", 0, "leading space"},
	{"open 17 inet 192.0.2.2  tcp 22 30", 0, "empty field"},
	{"open\t17 inet 192.0.2.2 tcp 22 30", 0, "control character"},
	{"open 17 inet 192.0.2.2 tcp 22 30\n", 0, "control character"},
	{"open 17 inet 192.0.2.2 tcp 22 30\r", 0, "control character"},
	{"open 17 inet 192.0.2.2 tcp 22 30\0ssh", 36, "NUL"},		/* embedded NUL */
	{"open 17 inet 192.0.2.2 tcp 22 30 d\xc3\xbcr", 0, "non-ASCII"},
	{"open 17 inet 192.0.2.2 tcp 22", 0, "missing SECONDS"},
	{"open 17 inet 192.0.2.2", 0, "missing PROTO"},
	{"open 17", 0, "missing FAMILY"},
	{"open", 0, "missing ID"},
	{"close 17 inet 192.0.2.2 tcp", 0, "missing PORT"},
	{"flush", 0, "missing ID"},
	{"open 17 inet 192.0.2.2 tcp 22 30 ssh extra", 0, "extra field 'extra'"},
	{"close 17 inet 192.0.2.2 tcp 22 ssh extra", 0, "extra field"},
	{"flush 17 x", 0, "extra field 'x'"},
	{"open 17 inet 192.0.2.2 tcp 22 30 ssh a b c d e f", 0, "too many fields"},
	{"open 17 inet 192.0.2.2 tcp 0 30", 0, "bad port '0'"},
	{"open 17 inet 192.0.2.2 tcp 65536 30", 0, "bad port '65536'"},
	{"open 17 inet 192.0.2.2 udp 70000 30", 0, "bad port '70000'"},
	{"open 17 inet 192.0.2.2 tcp 022 30", 0, "bad port '022'"},		/* leading zero */
	{"open 17 inet 192.0.2.2 tcp 0x10 30", 0, "bad port '0x10'"},
	{"open 17 inet 192.0.2.2 tcp -22 30", 0, "bad port"},
	{"open 17 inet 192.0.2.2 tcp +22 30", 0, "bad port"},
	{"open 17 inet 192.0.2.2 tcp 22.0 30", 0, "bad port"},
	{"open 17 inet 192.0.2.2 icmp 256 30", 0, "bad icmp type '256'"},
	{"open 17 inet6 2001:db8::2 icmp 8 30", 0, "icmp needs family inet"},
	{"open 17 inet 192.0.2.2 icmpv6 128 30", 0, "icmpv6 needs family inet6"},
	{"open 17 inet6 192.0.2.2 tcp 22 30", 0, "bad inet6 address '192.0.2.2'"},
	{"open 17 inet 2001:db8::2 tcp 22 30", 0, "bad inet address"},
	{"open 17 inet 192.0.2.256 tcp 22 30", 0, "bad inet address '192.0.2.256'"},
	{"open 17 inet 192.0.2.02 tcp 22 30", 0, "bad inet address"},
	{"open 17 inet 1.2.3 tcp 22 30", 0, "bad inet address"},
	{"open 17 inet 0x7f.0.0.1 tcp 22 30", 0, "bad inet address"},
	{"open 17 inet6 fe80::1%eth0 tcp 22 30", 0, "bad inet6 address"},
	{"open 17 inet6 1111:2222:3333:4444:5555:6666:7777:8888:9999:aaaa tcp 22 30", 0, "too long"},
	{"open 17 inet localhost tcp 22 30", 0, "bad inet address"},
	{"open -1 inet 192.0.2.2 tcp 22 30", 0, "bad id '-1'"},
	{"open +1 inet 192.0.2.2 tcp 22 30", 0, "bad id '+1'"},
	{"open 0 inet 192.0.2.2 tcp 22 30", 0, "bad id '0'"},
	{"open 017 inet 192.0.2.2 tcp 22 30", 0, "bad id '017'"},
	{"open 12345678901234567890 inet 192.0.2.2 tcp 22 30", 0, "bad id"},	/* 20 digits */
	{"open 123456789012345678901 inet 192.0.2.2 tcp 22 30", 0, "bad id"},	/* 21 digits */
	{"open 9223372036854775808 inet 192.0.2.2 tcp 22 30", 0, "bad id"},	/* 2^63 */
	{"open 18446744073709551616 inet 192.0.2.2 tcp 22 30", 0, "bad id"},	/* 2^64 */
	{"open 17 inet 192.0.2.2 tcp 22 0", 0, "bad seconds '0'"},
	{"open 17 inet 192.0.2.2 tcp 22 31536001", 0, "bad seconds '31536001'"},
	{"open 17 inet 192.0.2.2 tcp 22 1e3", 0, "bad seconds"},
	{"open 17 inet 192.0.2.2 tcp 22 30 ss/h", 0, "bad door name 'ss/h'"},
	{"open 17 inet 192.0.2.2 tcp 22 30 ssh;rm", 0, "bad door name"},
	{"open 17 inet 192.0.2.2 tcp 22 30 $(id)", 0, "bad door name"},
	{"close 17 inet 192.0.2.2 tcp 22 a*b", 0, "bad door name"},
	{"open 17 inet 192.0.2.2 tcp 22 30 "
	 "ddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddd", 0, "bad door name"},	/* 65 */
	{"OPEN 17 inet 192.0.2.2 tcp 22 30", 0, "unknown request 'OPEN'"},
	{"Open 17 inet 192.0.2.2 tcp 22 30", 0, "unknown request"},
	{"delete 17 inet 192.0.2.2 tcp 22", 0, "unknown request 'delete'"},
	{"open 17 INET 192.0.2.2 tcp 22 30", 0, "bad family 'INET'"},
	{"open 17 inet4 192.0.2.2 tcp 22 30", 0, "bad family"},
	{"open 17 inet 192.0.2.2 TCP 22 30", 0, "bad protocol 'TCP'"},
	{"open 17 inet 192.0.2.2 sctp 22 30", 0, "bad protocol"},
	{"open 17 inet 192.0.2.2 tcp 22 30 ssh", 20, "missing"},		/* cut by len */
};

static void test_malformed(void **state)
{
	(void)state;
	size_t n = sizeof bad_lines / sizeof bad_lines[0];
	assert_true(n >= 30);
	for (size_t i = 0; i < n; i++) {
		const struct bad *b = &bad_lines[i];
		size_t len = b->len ? b->len : strlen(b->line);
		struct apply_cmd c;
		char err[256] = "";
		if (apply_parse(b->line, len, &c, err, sizeof err) != -1)
			fail_msg("line %zu accepted: '%.*s'", i, (int)len, b->line);
		if (!strstr(err, b->why))
			fail_msg("line %zu: message '%s' lacks '%s'", i, err, b->why);
		/* The message itself fits an "error ID message" reply and is one line. */
		assert_true(strlen(err) > 0 && strlen(err) < 160);
		for (const char *p = err; *p; p++)
			assert_true((unsigned char)*p >= 0x20 && (unsigned char)*p < 0x7f);
	}
}

static void test_overlong(void **state)
{
	(void)state;
	char line[APPLY_LINE_MAX + 16];
	struct apply_cmd c;
	char err[256];
	/* 255 characters is the longest line; 256 is too long. */
	memset(line, '1', sizeof line);
	memcpy(line, "flush ", 6);
	assert_int_equal(apply_parse(line, APPLY_LINE_MAX, &c, err, sizeof err), -1);
	assert_non_null(strstr(err, "line too long"));
	assert_int_equal(apply_parse(line, APPLY_LINE_MAX + 10, &c, err, sizeof err), -1);
	assert_non_null(strstr(err, "line too long"));
	/* Shorter, it fails for its content, not its length. */
	assert_int_equal(apply_parse(line, APPLY_LINE_MAX - 1, &c, err, sizeof err), -1);
	assert_null(strstr(err, "line too long"));
	/* A NULL err and a NULL line are fine. */
	assert_int_equal(apply_parse(line, APPLY_LINE_MAX, &c, NULL, 0), -1);
	assert_int_equal(apply_parse(NULL, 0, &c, err, sizeof err), -1);
}

/* When the ID could be read, the failure carries it, so that the applier
 * can answer "error ID ..." rather than "error 0 ...". */
static void test_failure_keeps_id(void **state)
{
	(void)state;
	struct apply_cmd c;
	char err[256];
	assert_int_equal(parse("open 5 inet6 192.0.2.2 tcp 22 30", &c, err, sizeof err), -1);
	assert_int_equal(c.id, 5);
	assert_int_equal(c.op, APPLY_OPEN);
	assert_int_equal(parse("close 6 inet 192.0.2.2 tcp 0", &c, err, sizeof err), -1);
	assert_int_equal(c.id, 6);
	assert_int_equal(parse("open 0 inet 192.0.2.2 tcp 22 30", &c, err, sizeof err), -1);
	assert_int_equal(c.id, 0);
	assert_int_equal(parse("bogus 7", &c, err, sizeof err), -1);
	assert_int_equal(c.id, 0);
	assert_int_equal(parse("open  7 inet 192.0.2.2 tcp 22 30", &c, err, sizeof err), -1);
	assert_int_equal(c.id, 0);
}

static int reply(const char *line, struct apply_reply *r)
{
	return apply_parse_reply(line, strlen(line), r);
}

/* Forward and dnat requests (issue 15): the GATEWAY keys after DOOR. */
static const char *const gateway_good[] = {
	"open 3 inet 192.0.2.2 tcp 22 30 gw to=10.0.0.2",
	"open 3 inet 192.0.2.2 tcp 22 30 to=10.0.0.2",
	"open 3 inet 192.0.2.2 udp 2222 30 gw to=10.0.0.2 toport=22",
	"open 3 inet 192.0.2.2 tcp 2222 30 gw to=10.0.0.2 toport=22 masq=1",
	"open 3 inet 192.0.2.2 tcp 2222 30 gw to=10.0.0.2 toport=22 masq=1 keep=0",
	"open 3 inet 192.0.2.2 tcp 22 30 gw to=10.0.0.2 keep=0",
	"open 3 inet6 2001:db8::2 tcp 22 30 gw to=2001:db8:9::2",
	"close 3 inet6 2001:db8::2 tcp 2222 gw to=2001:db8:9::2 toport=22 keep=0",
	"close 3 inet 192.0.2.2 tcp 22 to=10.0.0.2",
};
static const char *const gateway_bad[] = {
	"open 3 inet 192.0.2.2 tcp 22 30 gw to=2001:db8::2",		/* family of SRC */
	"open 3 inet6 2001:db8::2 tcp 22 30 gw to=10.0.0.2",
	"open 3 inet 192.0.2.2 icmp 8 30 gw to=10.0.0.2",		/* tcp and udp only */
	"open 3 inet 192.0.2.2 tcp 22 30 gw toport=22",			/* to= first */
	"open 3 inet 192.0.2.2 tcp 22 30 gw to=10.0.0.2 masq=1",		/* masq: dnat only */
	"open 3 inet 192.0.2.2 tcp 22 30 gw to=10.0.0.2 toport=0",
	"open 3 inet 192.0.2.2 tcp 22 30 gw to=10.0.0.2 toport=022",
	"open 3 inet 192.0.2.2 tcp 22 30 gw to=10.0.0.2 toport=65536",
	"open 3 inet 192.0.2.2 tcp 22 30 gw to=10.0.0.2 keep=1",		/* keep=0 or nothing */
	"open 3 inet 192.0.2.2 tcp 22 30 gw to=10.0.0.2 keep=0 toport=22",	/* order */
	"open 3 inet 192.0.2.2 tcp 22 30 gw to=10.0.0.2 to=10.0.0.3",
	"open 3 inet 192.0.2.2 tcp 22 30 gw to=",
	"open 3 inet 192.0.2.2 tcp 22 30 gw to=010.0.0.2",
	"open 3 inet 192.0.2.2 tcp 22 30 gw ssh",
	"open 3 inet 192.0.2.2 tcp 22 30 gw to=10.0.0.2 x=1",
	"open 3 inet 192.0.2.2 tcp 22 30 gw to=10.0.0.2 toport=22 masq=0",
	"flush 3 to=10.0.0.2",
};

static void test_gateway(void **state)
{
	(void)state;
	struct apply_cmd c, d;
	char err[256] = "", buf[APPLY_LINE_MAX + 1], want[APPLY_LINE_MAX + 2];
	assert_int_equal(parse("open 3 inet 192.0.2.2 tcp 2222 30 gw to=10.0.0.2 toport=22 masq=1 keep=0", &c, err,
			       sizeof err), 0);
	assert_int_equal(c.via, APPLY_VIA_DNAT);
	assert_int_equal(c.port, 2222);
	assert_int_equal(c.toport, 22);
	assert_int_equal(c.masq, 1);
	assert_int_equal(c.nokeep, 1);
	uint8_t to[4] = {10, 0, 0, 2};
	assert_memory_equal(c.to, to, 4);
	assert_string_equal(c.door, "gw");
	assert_int_equal(parse("open 3 inet 192.0.2.2 tcp 22 30 gw to=10.0.0.2", &c, err, sizeof err), 0);
	assert_int_equal(c.via, APPLY_VIA_FORWARD);
	assert_int_equal(c.nokeep, 0);
	/* a line of before stays local */
	assert_int_equal(parse("open 3 inet 192.0.2.2 tcp 22 30 gw", &c, err, sizeof err), 0);
	assert_int_equal(c.via, APPLY_VIA_LOCAL);

	for (size_t i = 0; i < sizeof gateway_good / sizeof *gateway_good; i++) {
		if (parse(gateway_good[i], &c, err, sizeof err) != 0)
			fail_msg("'%s' refused: %s", gateway_good[i], err);
		int n = apply_format(&c, buf, sizeof buf);
		snprintf(want, sizeof want, "%s\n", gateway_good[i]);
		assert_string_equal(buf, want);
		assert_int_equal(apply_parse(buf, (size_t)n - 1, &d, err, sizeof err), 0);
		assert_memory_equal(&c, &d, sizeof c);
	}
	for (size_t i = 0; i < sizeof gateway_bad / sizeof *gateway_bad; i++) {
		err[0] = '\0';
		if (parse(gateway_bad[i], &c, err, sizeof err) == 0)
			fail_msg("'%s' accepted", gateway_bad[i]);
		assert_true(err[0] != '\0');
	}

	/* The longest request fits the line: IDs, addresses and door at their
	 * widest, every key. */
	memset(&c, 0, sizeof c);
	c.op = APPLY_OPEN;
	c.id = UINT64_C(9223372036854775807);
	c.family = AF_INET6;
	c.proto = IPPROTO_TCP;
	c.port = 65535;
	c.seconds = 31536000;
	memset(c.door, 'z', APPLY_DOOR_MAX);
	inet_pton(AF_INET6, "ffff:ffff:ffff:ffff:ffff:ffff:255.255.255.255", c.addr);
	memcpy(c.to, c.addr, 16);
	c.via = APPLY_VIA_DNAT;
	c.toport = 65535;
	c.masq = 1;
	c.nokeep = 1;
	int n = apply_format(&c, buf, sizeof buf);
	assert_true(n > 0 && n <= APPLY_LINE_MAX);
	assert_int_equal(apply_parse(buf, (size_t)n - 1, &d, err, sizeof err), 0);
	assert_memory_equal(&c, &d, sizeof c);

	/* format refuses what parse refuses */
	d = c, d.via = APPLY_VIA_FORWARD;	/* forward with a toport */
	assert_int_equal(apply_format(&d, buf, sizeof buf), -1);
	d = c, d.via = APPLY_VIA_LOCAL;		/* local with gateway fields */
	assert_int_equal(apply_format(&d, buf, sizeof buf), -1);
	d = c, d.via = 7;
	assert_int_equal(apply_format(&d, buf, sizeof buf), -1);
	d = c, d.toport = 0;
	assert_int_equal(apply_format(&d, buf, sizeof buf), -1);
	d = c, d.proto = IPPROTO_ICMPV6, d.port = 1;
	assert_int_equal(apply_format(&d, buf, sizeof buf), -1);
}

static void test_replies(void **state)
{
	(void)state;
	struct apply_reply r;
	assert_int_equal(reply("ok 17", &r), 0);
	assert_int_equal(r.id, 17);
	assert_int_equal(r.ok, 1);
	assert_string_equal(r.msg, "");
	assert_int_equal(reply("ok 9223372036854775807", &r), 0);
	assert_true(r.id == UINT64_C(9223372036854775807));

	assert_int_equal(reply("error 17 /usr/sbin/nft exited with status 1: Error: No such file", &r), 0);
	assert_int_equal(r.id, 17);
	assert_int_equal(r.ok, 0);
	assert_string_equal(r.msg, "/usr/sbin/nft exited with status 1: Error: No such file");
	assert_int_equal(reply("error 0 line too long", &r), 0);
	assert_int_equal(r.id, 0);
	assert_string_equal(r.msg, "line too long");
	assert_int_equal(reply("error 3 x", &r), 0);
	assert_string_equal(r.msg, "x");

	/* the longest reply fits msg */
	char line[APPLY_LINE_MAX + 8];
	memset(line, 'm', sizeof line);
	memcpy(line, "error 1 ", 8);
	assert_int_equal(apply_parse_reply(line, APPLY_LINE_MAX - 1, &r), 0);
	assert_int_equal(strlen(r.msg), APPLY_LINE_MAX - 1 - 8);
	assert_int_equal(apply_parse_reply(line, APPLY_LINE_MAX, &r), -1);

	static const char *const bad[] = {
		"", "ok", "ok ", "ok 0", "ok 17 extra", "ok  17", "ok -1", "ok +1", "ok 017", "ok 9223372036854775808",
		"OK 17", "okay 17", "error", "error 17", "error 17 ", "error 17  two spaces", "error x msg",
		"error -1 msg", "error 17\tmsg", "fail 17 msg", " ok 17",
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
		if (reply(bad[i], &r) != -1)
			fail_msg("reply '%s' accepted", bad[i]);
	assert_int_equal(apply_parse_reply("error 1 a\nb", 11, &r), -1);
	assert_int_equal(apply_parse_reply("error 1 a\0b", 11, &r), -1);
	assert_int_equal(apply_parse_reply("ok 17\n", 6, &r), -1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_open_inet),
		cmocka_unit_test(test_open_inet6),
		cmocka_unit_test(test_close_flush),
		cmocka_unit_test(test_door_names),
		cmocka_unit_test(test_round_trip_lines),
		cmocka_unit_test(test_round_trip_structs),
		cmocka_unit_test(test_format_refuses),
		cmocka_unit_test(test_malformed),
		cmocka_unit_test(test_overlong),
		cmocka_unit_test(test_failure_keeps_id),
		cmocka_unit_test(test_gateway),
		cmocka_unit_test(test_replies),
	};
	cmocka_set_message_output(CM_OUTPUT_TAP);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
