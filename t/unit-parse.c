/* unit-parse.c — the log-line parser, case by case. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include "parse.h"

/* 2026-11-26T15:00:00Z: the reference time of most cases. */
#define REF ((int64_t)1795705200 * 1000000)

static struct parser *mk(const char *const *prefixes, size_t n, const char *const *patterns, size_t np)
{
	static char *pre[16];
	static struct pattern_conf pat[4];
	struct config cfg = {.path = "test.yaml"};
	for (size_t i = 0; i < n; i++)
		pre[i] = (char *)prefixes[i];
	for (size_t i = 0; i < np; i++)
		pat[i] = (struct pattern_conf){.regex = (char *)patterns[i], .line = 3, .col = 5};
	cfg.prefixes = pre;
	cfg.nprefixes = n;
	cfg.patterns = pat;
	cfg.npatterns = np;
	char err[512];
	struct parser *p = parse_new(&cfg, err, sizeof err);
	if (!p)
		fail_msg("parse_new: %s", err);
	return p;
}

static struct parser *knock_parser(void)
{
	static const char *const pre[] = {"KNOCK "};
	return mk(pre, 1, NULL, 0);
}

static enum parse_result run(struct parser *p, enum source_format f, const char *line, struct knock *k)
{
	const char *why;
	memset(k, 0xa5, sizeof *k);
	return parse_line(p, f, line, strlen(line), REF, k, &why);
}

static void assert_addr(const struct knock *k, const uint8_t *a, const char *text)
{
	char buf[KNOCK_ADDRSTRLEN];
	assert_string_equal(knock_addr_str(k->family, a, buf), text);
}

static void assert_time(int64_t t, const char *text)
{
	char buf[KNOCK_TIMESTRLEN];
	assert_string_equal(knock_time_str(t, buf), text);
}

#define TCP_LINE                                                                                   \
	"KNOCK IN=kn-s OUT= MAC=62:92:44:cb:fb:5c:fe:65:11:35:87:ec:08:00 SRC=192.0.2.2 DST=192.0.2.1 " \
	"LEN=60 TOS=0x00 PREC=0x00 TTL=64 ID=36861 DF PROTO=TCP SPT=36504 DPT=7000 WINDOW=64240 "      \
	"RES=0x00 SYN URGP=0 "

static void rsyslog_3164_with_uptime(void **st)
{
	struct parser *p = knock_parser();
	struct knock k;
	assert_int_equal(run(p, FORMAT_SYSLOG, "Nov 26 14:47:33 vm kernel: [   93.717774] " TCP_LINE, &k), PARSE_KNOCK);
	assert_int_equal(k.family, AF_INET);
	assert_addr(&k, k.src, "192.0.2.2");
	assert_addr(&k, k.dst, "192.0.2.1");
	assert_int_equal(k.proto, IPPROTO_TCP);
	assert_int_equal(k.sport, 36504);
	assert_int_equal(k.port, 7000);
	assert_int_equal(k.flags, KNOCK_SYN);
	assert_time(k.time_us, "2026-11-26T14:47:33.000000Z");
	parse_free(p);
}

static void journal_formats(void **st)
{
	struct parser *p = knock_parser();
	struct knock k;
	assert_int_equal(run(p, FORMAT_SYSLOG, "Nov 26 14:47:33.785725 vm kernel: " TCP_LINE, &k), PARSE_KNOCK);
	assert_time(k.time_us, "2026-11-26T14:47:33.785725Z");
	assert_int_equal(run(p, FORMAT_SYSLOG, "2026-11-26T14:47:33+0000 vm kernel: " TCP_LINE, &k), PARSE_KNOCK);
	assert_time(k.time_us, "2026-11-26T14:47:33.000000Z");
	assert_int_equal(run(p, FORMAT_SYSLOG, "2026-11-26T14:47:33.785725+0000 vm kernel: " TCP_LINE, &k),
			 PARSE_KNOCK);
	assert_time(k.time_us, "2026-11-26T14:47:33.785725Z");
	/* -o cat: no stamp at all; the knock takes the reference time. */
	assert_int_equal(run(p, FORMAT_SYSLOG, TCP_LINE, &k), PARSE_KNOCK);
	assert_int_equal(k.time_us, REF);
	assert_int_equal(k.port, 7000);
	parse_free(p);
}

static void rfc3339_offsets(void **st)
{
	struct parser *p = knock_parser();
	struct knock k;
	assert_int_equal(run(p, FORMAT_SYSLOG, "2026-11-26T16:47:33.786873+02:00 vm kernel: " TCP_LINE, &k),
			 PARSE_KNOCK);
	assert_time(k.time_us, "2026-11-26T14:47:33.786873Z");
	assert_int_equal(run(p, FORMAT_SYSLOG, "2026-11-26T09:17:33.5-05:30 vm kernel: " TCP_LINE, &k), PARSE_KNOCK);
	assert_time(k.time_us, "2026-11-26T14:47:33.500000Z");
	assert_int_equal(run(p, FORMAT_SYSLOG, "2026-11-26T14:47:33.123456789Z vm kernel: " TCP_LINE, &k),
			 PARSE_KNOCK);
	assert_time(k.time_us, "2026-11-26T14:47:33.123456Z");
	/* Across midnight and a leap day. */
	assert_int_equal(run(p, FORMAT_SYSLOG, "2028-03-01T00:30:00+01:00 vm kernel: " TCP_LINE, &k), PARSE_KNOCK);
	assert_time(k.time_us, "2028-02-29T23:30:00.000000Z");
	/* Impossible dates are not silently normalised. */
	assert_int_equal(run(p, FORMAT_SYSLOG, "2026-02-30T10:00:00Z vm kernel: " TCP_LINE, &k), PARSE_BAD);
	assert_int_equal(run(p, FORMAT_SYSLOG, "2026-13-01T10:00:00Z vm kernel: " TCP_LINE, &k), PARSE_BAD);
	assert_int_equal(run(p, FORMAT_SYSLOG, "2026-11-26T24:00:00Z vm kernel: " TCP_LINE, &k), PARSE_BAD);
	parse_free(p);
}

static void rfc3164_year_and_tz(void **st)
{
	setenv("TZ", "Europe/Berlin", 1);
	tzset();
	struct parser *p = knock_parser();
	struct knock k;
	const char *why;
	/* Reference: 2027-01-02 12:00 UTC. "Dec 31" is the year before. */
	int64_t ref = (int64_t)1798891200 * 1000000;
	const char *l = "Dec 31 23:59:59 vm kernel: " TCP_LINE;
	assert_int_equal(parse_line(p, FORMAT_SYSLOG, l, strlen(l), ref, &k, &why), PARSE_KNOCK);
	assert_time(k.time_us, "2026-12-31T22:59:59.000000Z");	/* CET is UTC+1 */
	/* Summer time applies in July. */
	l = "Jul  4 12:00:00 vm kernel: " TCP_LINE;
	assert_int_equal(parse_line(p, FORMAT_SYSLOG, l, strlen(l), ref, &k, &why), PARSE_KNOCK);
	assert_time(k.time_us, "2026-07-04T10:00:00.000000Z");
	/* "Jan  2" after the reference's hour still belongs to this year (a day of slack). */
	l = "Jan  2 13:00:00 vm kernel: " TCP_LINE;
	assert_int_equal(parse_line(p, FORMAT_SYSLOG, l, strlen(l), ref, &k, &why), PARSE_KNOCK);
	assert_time(k.time_us, "2027-01-02T12:00:00.000000Z");
	/* Feb 29 with no leap year within a year of the reference is refused. */
	l = "Feb 29 10:00:00 vm kernel: " TCP_LINE;
	assert_int_equal(parse_line(p, FORMAT_SYSLOG, l, strlen(l), ref, &k, &why), PARSE_BAD);
	setenv("TZ", "UTC", 1);
	tzset();
	parse_free(p);
}

static void prefixes_and_tags(void **st)
{
	struct parser *p = knock_parser();
	struct knock k;
	/* Another prefix that starts the same way is not ours. */
	assert_int_equal(run(p, FORMAT_SYSLOG, "Nov 26 14:47:35 vm kernel: KNOCK-SEQ IN=kn-s OUT= SRC=192.0.2.2 "
						"DST=192.0.2.1 PROTO=TCP SPT=1 DPT=7100 SYN",
			     &k),
			 PARSE_NONE);
	/* A line from a program other than the kernel is never a knock. */
	assert_int_equal(run(p, FORMAT_SYSLOG, "Nov 26 14:47:33 vm myapp: " TCP_LINE, &k), PARSE_NONE);
	assert_int_equal(run(p, FORMAT_SYSLOG, "Nov 26 14:47:33 vm kernel[12]: " TCP_LINE, &k), PARSE_NONE);
	assert_int_equal(run(p, FORMAT_SYSLOG, "Nov 26 14:47:33 vm sshd[99]: Invalid user KNOCK IN= SRC=1.2.3.4", &k),
			 PARSE_NONE);
	/* The prefix must come right where the kernel puts it. */
	assert_int_equal(run(p, FORMAT_SYSLOG, "Nov 26 14:47:33 vm kernel: OTHER KNOCK IN=x SRC=192.0.2.2 "
						"DST=192.0.2.1 PROTO=UDP SPT=1 DPT=2",
			     &k),
			 PARSE_NONE);
	/* Noise. */
	assert_int_equal(run(p, FORMAT_SYSLOG, "", &k), PARSE_NONE);
	assert_int_equal(run(p, FORMAT_SYSLOG, "Nov 26 14:47:33 vm kernel: usb 1-1: new device", &k), PARSE_NONE);
	parse_free(p);

	/* Prefixes with regex metacharacters are literals. */
	static const char *const meta[] = {"Shorewall:net(1)*DROP:", "[fw] "};
	p = mk(meta, 2, NULL, 0);
	assert_int_equal(run(p, FORMAT_SYSLOG, "Apr 24 12:06:50 h kernel: [ 3445.031964] Shorewall:net(1)*DROP:IN=w "
						"SRC=192.0.2.9 DST=192.0.2.1 PROTO=UDP SPT=5 DPT=53",
			     &k),
			 PARSE_KNOCK);
	assert_int_equal(k.port, 53);
	assert_int_equal(run(p, FORMAT_SYSLOG, "Apr 24 12:06:50 h kernel: Shorewall:net1DROP:IN=w SRC=192.0.2.9 "
						"DST=192.0.2.1 PROTO=UDP SPT=5 DPT=53",
			     &k),
			 PARSE_NONE);
	assert_int_equal(run(p, FORMAT_SYSLOG, "[fw] IN=w SRC=192.0.2.9 DST=192.0.2.1 PROTO=UDP SPT=5 DPT=54", &k),
			 PARSE_KNOCK);
	parse_free(p);
}

static void ulogd_format(void **st)
{
	static const char *const pre[] = {"KNOCK"};
	struct parser *p = mk(pre, 1, NULL, 0);
	struct knock k;
	const char *l = "Nov 26 14:47:36 vm KNOCK IN=kn-s OUT= MAC=4a:14:fe:f4:b7:53:5a:0c:c5:36:61:de:08:00 "
			"SRC=192.0.2.2 DST=192.0.2.1 LEN=30 TOS=00 PREC=0x00 TTL=64 ID=38027 DF PROTO=UDP SPT=42252 "
			"DPT=7502 LEN=10 MARK=0x0 ";
	assert_int_equal(run(p, FORMAT_ULOGD, l, &k), PARSE_KNOCK);
	assert_int_equal(k.proto, IPPROTO_UDP);
	assert_int_equal(k.sport, 42252);
	assert_int_equal(k.port, 7502);
	assert_int_equal(k.flags, 0);
	/* Without a tag, such a line is accepted only from a ulogd source. */
	assert_int_equal(run(p, FORMAT_SYSLOG, l, &k), PARSE_NONE);
	/* And a ulogd source takes no kernel-tagged or stamp-less lines. */
	assert_int_equal(run(p, FORMAT_ULOGD, "KNOCK IN=kn-s SRC=192.0.2.2 DST=192.0.2.1 PROTO=UDP SPT=1 DPT=2", &k),
			 PARSE_NONE);
	parse_free(p);
}

static void ipv6_and_icmp(void **st)
{
	struct parser *p = knock_parser();
	struct knock k;
	assert_int_equal(run(p, FORMAT_SYSLOG,
			     "Nov 26 14:47:36 vm kernel: [  398.213078] KNOCK IN=kn-s OUT= "
			     "MAC=4a:14:fe:f4:b7:53:5a:0c:c5:36:61:de:86:dd SRC=2001:0db8:0000:0000:0000:0000:0000:0002 "
			     "DST=2001:0db8:0000:0000:0000:0000:0000:0001 LEN=80 TC=0 HOPLIMIT=64 FLOWLBL=592020 PROTO=TCP "
			     "SPT=58844 DPT=7003 WINDOW=64800 RES=0x00 SYN URGP=0 ",
			     &k),
			 PARSE_KNOCK);
	assert_int_equal(k.family, AF_INET6);
	assert_addr(&k, k.src, "2001:db8::2");
	assert_addr(&k, k.dst, "2001:db8::1");
	assert_int_equal(k.port, 7003);

	assert_int_equal(run(p, FORMAT_SYSLOG,
			     "KNOCK IN=eth0 OUT= SRC=2001:db8::5 DST=2001:db8::1 LEN=104 TC=0 HOPLIMIT=64 FLOWLBL=0 "
			     "PROTO=ICMPv6 TYPE=128 CODE=0 ID=7 SEQ=1 ",
			     &k),
			 PARSE_KNOCK);
	assert_int_equal(k.proto, IPPROTO_ICMPV6);
	assert_int_equal(k.port, 128);
	assert_int_equal(k.icmp_code, 0);

	/* An ICMP error quotes the packet that caused it in brackets: the
	 * fields that count are the outer ones. */
	assert_int_equal(run(p, FORMAT_SYSLOG,
			     "KNOCK IN=eth0 OUT= SRC=192.0.2.7 DST=192.0.2.1 LEN=56 TOS=0x00 PREC=0xC0 TTL=64 ID=1 "
			     "PROTO=ICMP TYPE=3 CODE=3 [SRC=192.0.2.1 DST=192.0.2.7 LEN=28 TOS=0x00 PREC=0x00 TTL=64 "
			     "ID=2 PROTO=UDP SPT=53 DPT=4444 LEN=8 ] ",
			     &k),
			 PARSE_KNOCK);
	assert_int_equal(k.proto, IPPROTO_ICMP);
	assert_addr(&k, k.src, "192.0.2.7");
	assert_int_equal(k.port, 3);
	assert_int_equal(k.icmp_code, 3);

	/* ICMPv6 from an IPv4 address is a forgery. */
	assert_int_equal(run(p, FORMAT_SYSLOG,
			     "KNOCK IN=eth0 SRC=192.0.2.7 DST=192.0.2.1 PROTO=ICMPv6 TYPE=128 CODE=0", &k),
			 PARSE_BAD);
	/* Protocols that cannot knock are not knocks. */
	assert_int_equal(run(p, FORMAT_SYSLOG, "KNOCK IN=eth0 SRC=192.0.2.7 DST=192.0.2.1 LEN=20 PROTO=47", &k),
			 PARSE_NONE);
	assert_int_equal(run(p, FORMAT_SYSLOG, "KNOCK IN=eth0 SRC=192.0.2.7 DST=192.0.2.1 PROTO=UDPLITE SPT=1 DPT=2",
			     &k),
			 PARSE_NONE);
	parse_free(p);
}

static void field_order_and_options(void **st)
{
	struct parser *p = knock_parser();
	struct knock k;
	/* nft "flags all": MACSRC/MACDST/MACPROTO; MACPROTO is not PROTO. */
	assert_int_equal(run(p, FORMAT_SYSLOG,
			     "KNOCK IN=kn-s OUT= MACSRC=5a:0c:c5:36:61:de MACDST=4a:14:fe:f4:b7:53 MACPROTO=0800 "
			     "SRC=192.0.2.2 DST=192.0.2.1 LEN=60 TOS=0x00 PREC=0x00 TTL=64 ID=15240 DF PROTO=TCP "
			     "SPT=50172 DPT=8800 SEQ=3243194069 ACK=0 WINDOW=64240 RES=0x00 SYN URGP=0 "
			     "OPT (020405B40402080A3BF25BA2000000000103030A) ",
			     &k),
			 PARSE_KNOCK);
	assert_int_equal(k.port, 8800);
	assert_int_equal(k.flags, KNOCK_SYN);	/* ACK=0 is the ack number, not the flag */
	/* Any order, no OUT=, flags in the kernel's order. */
	assert_int_equal(run(p, FORMAT_SYSLOG,
			     "KNOCK IN=eth0 DPT=443 SPT=999 PROTO=TCP DST=192.0.2.1 SRC=198.51.100.4 ACK PSH FIN", &k),
			 PARSE_KNOCK);
	assert_int_equal(k.port, 443);
	assert_int_equal(k.sport, 999);
	assert_addr(&k, k.src, "198.51.100.4");
	char f[40];
	assert_string_equal(knock_flags_str(k.flags, f), "ACK PSH FIN");
	/* CRLF line ends. */
	assert_int_equal(run(p, FORMAT_SYSLOG, "KNOCK IN=e SRC=192.0.2.2 DST=192.0.2.1 PROTO=UDP SPT=1 DPT=9\r", &k),
			 PARSE_KNOCK);
	assert_int_equal(k.port, 9);
	parse_free(p);
}

static void hostile_lines(void **st)
{
	struct parser *p = knock_parser();
	struct knock k;
	static const char *const bad[] = {
		"KNOCK IN=e SRC=192.0.2.2 DST=192.0.2.1 PROTO=TCP SPT=1 DPT=65536 SYN",
		"KNOCK IN=e SRC=192.0.2.2 DST=192.0.2.1 PROTO=TCP SPT=1 DPT=-1 SYN",
		"KNOCK IN=e SRC=192.0.2.2 DST=192.0.2.1 PROTO=TCP SPT=1 DPT=1e3 SYN",
		"KNOCK IN=e SRC=192.0.2.2 DST=192.0.2.1 PROTO=TCP SPT=1 DPT=0000022 SYN",
		"KNOCK IN=e SRC=192.0.2.2 DST=192.0.2.1 PROTO=TCP SPT=1 DPT= SYN",
		"KNOCK IN=e SRC=192.0.2.2 DST=192.0.2.1 PROTO=TCP SPT=1 SYN",
		"KNOCK IN=e SRC=192.0.2.256 DST=192.0.2.1 PROTO=UDP SPT=1 DPT=2",
		"KNOCK IN=e SRC=192.0.2 DST=192.0.2.1 PROTO=UDP SPT=1 DPT=2",
		"KNOCK IN=e SRC=2001:db8::1::2 DST=2001:db8::1 PROTO=UDP SPT=1 DPT=2",
		"KNOCK IN=e SRC=2001:db8::2 DST=192.0.2.1 PROTO=UDP SPT=1 DPT=2",
		"KNOCK IN=e SRC=192.0.2.2 SRC=198.51.100.1 DST=192.0.2.1 PROTO=UDP SPT=1 DPT=2",
		"KNOCK IN=e SRC=192.0.2.2 DST=192.0.2.1 PROTO=UDP SPT=1 DPT=2 DPT=3",
		"KNOCK IN=e SRC=192.0.2.2 DST=192.0.2.1 PROTO=ICMP TYPE=256 CODE=0",
		"KNOCK IN=e SRC=192.0.2.2 DST=192.0.2.1 PROTO=ICMP TYPE=8",
		"KNOCK IN=e SRC=192.0.2.2 DST=192.0.2.1 PROTO=TCP SPT=1 DPT=2 OPT (0204",
		"KNOCK IN=e SRC=1922222222222222222222222222222222222222222222222222222222.0.2.2 DST=192.0.2.1 "
		"PROTO=UDP SPT=1 DPT=2",
		"KNOCK IN=e DST=192.0.2.1 PROTO=UDP SPT=1 DPT=2",
		"Xyz 26 14:47:33 vm kernel: KNOCK IN=e SRC=192.0.2.2 DST=192.0.2.1 PROTO=UDP SPT=1 DPT=2",
	};
	for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
		enum parse_result r = run(p, FORMAT_SYSLOG, bad[i], &k);
		if (r == PARSE_KNOCK)
			fail_msg("accepted: %s", bad[i]);
	}
	/* Embedded NUL bytes: the line is what its length says. */
	const char nul[] = "KNOCK IN=e SRC=192.0.2.2 DST=192.0.2.1 PROTO=UDP SPT=1 DPT=2\0 DPT=3";
	const char *why;
	assert_int_equal(parse_line(p, FORMAT_SYSLOG, nul, sizeof nul - 1, REF, &k, &why), PARSE_BAD);
	/* A very long line of junk after a valid start is bounded work and still one knock. */
	size_t n = 200000;
	char *big = malloc(n + 1);
	assert_non_null(big);
	strcpy(big, "KNOCK IN=e SRC=192.0.2.2 DST=192.0.2.1 PROTO=UDP SPT=1 DPT=2 ");
	for (size_t i = strlen(big); i < n; i++)
		big[i] = (i % 7) ? 'A' : ' ';
	big[n] = '\0';
	assert_int_equal(run(p, FORMAT_SYSLOG, big, &k), PARSE_KNOCK);
	assert_int_equal(k.port, 2);
	free(big);
	parse_free(p);
}

static void journal_json(void **st)
{
	struct parser *p = knock_parser();
	struct knock k;
	assert_int_equal(run(p, FORMAT_SYSLOG,
			     "{\"__REALTIME_TIMESTAMP\":\"1795704453785725\",\"_TRANSPORT\":\"kernel\",\"MESSAGE\":\"" TCP_LINE
			     "\",\"PRIORITY\":\"4\"}",
			     &k),
			 PARSE_KNOCK);
	assert_time(k.time_us, "2026-11-26T14:47:33.785725Z");
	assert_int_equal(k.port, 7000);
	/* Not the kernel's transport: a program wrote it. */
	assert_int_equal(run(p, FORMAT_SYSLOG,
			     "{\"__REALTIME_TIMESTAMP\":\"1795704453785725\",\"_TRANSPORT\":\"syslog\",\"MESSAGE\":\"" TCP_LINE
			     "\"}",
			     &k),
			 PARSE_NONE);
	assert_int_equal(run(p, FORMAT_SYSLOG,
			     "{\"__REALTIME_TIMESTAMP\":\"17x\",\"_TRANSPORT\":\"kernel\",\"MESSAGE\":\"" TCP_LINE "\"}",
			     &k),
			 PARSE_BAD);
	parse_free(p);
}

static void user_patterns(void **st)
{
	static const char *const pre[] = {"KNOCK "};
	static const char *const pats[] = {
		"^(?<time>\\S+) fw: DROP src=(?<src>\\S+) dst=(?<dst>\\S+) proto=(?<proto>\\w+) "
		"sport=(?<sport>\\d+) dport=(?<dport>\\d+)(?: flags=(?<flags>\\S+))?"};
	struct parser *p = mk(pre, 1, pats, 1);
	struct knock k;
	assert_int_equal(run(p, FORMAT_SYSLOG,
			     "2026-11-26T14:00:00Z fw: DROP src=2001:db8::9 dst=2001:db8::1 proto=tcp sport=5 dport=7000",
			     &k),
			 PARSE_KNOCK);
	assert_addr(&k, k.src, "2001:db8::9");
	assert_int_equal(k.port, 7000);
	assert_int_equal(k.flags, KNOCK_SYN);
	assert_time(k.time_us, "2026-11-26T14:00:00.000000Z");
	assert_int_equal(run(p, FORMAT_SYSLOG,
			     "1795704453.25 fw: DROP src=192.0.2.3 dst=192.0.2.1 proto=TCP sport=5 dport=7000 flags=SYN,ACK",
			     &k),
			 PARSE_KNOCK);
	assert_int_equal(k.flags, KNOCK_SYN | KNOCK_ACK);
	assert_time(k.time_us, "2026-11-26T14:47:33.250000Z");
	assert_int_equal(run(p, FORMAT_SYSLOG,
			     "2026-11-26T14:00:00Z fw: DROP src=192.0.2.3 dst=192.0.2.1 proto=tcp sport=5 dport=99999", &k),
			 PARSE_BAD);
	/* Built-in lines still parse with patterns present. */
	assert_int_equal(run(p, FORMAT_SYSLOG, TCP_LINE, &k), PARSE_KNOCK);
	parse_free(p);

	/* A pattern without the required groups is a config error at its position. */
	static const char *const nogroups[] = {"^(?<src>\\S+) (?<dport>\\d+)"};
	struct config cfg = {.path = "c.yaml", .npatterns = 1,
			     .patterns = &(struct pattern_conf){.regex = (char *)nogroups[0], .line = 7, .col = 5}};
	char err[512];
	assert_null(parse_new(&cfg, err, sizeof err));
	assert_true(strncmp(err, "c.yaml:7:5: pattern", 19) == 0);
	cfg.patterns->regex = "(unclosed";
	assert_null(parse_new(&cfg, err, sizeof err));
	assert_true(strncmp(err, "c.yaml:7:5: pattern", 19) == 0);
}

int main(void)
{
	setenv("TZ", "UTC", 1);
	tzset();
	cmocka_set_message_output(CM_OUTPUT_TAP);
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(rsyslog_3164_with_uptime),
		cmocka_unit_test(journal_formats),
		cmocka_unit_test(rfc3339_offsets),
		cmocka_unit_test(rfc3164_year_and_tz),
		cmocka_unit_test(prefixes_and_tags),
		cmocka_unit_test(ulogd_format),
		cmocka_unit_test(ipv6_and_icmp),
		cmocka_unit_test(field_order_and_options),
		cmocka_unit_test(hostile_lines),
		cmocka_unit_test(journal_json),
		cmocka_unit_test(user_patterns),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
