/* fuzz-parse.c — log lines through the parser, the knocks through the doors
 * and the grants they open through the applier protocol's formatter.
 *
 * Input: text; every line ('\n'-separated, copied to an exact-size buffer so
 * that ASan sees a read past its end) is parsed as FORMAT_SYSLOG and as
 * FORMAT_ULOGD with a fixed reference time. Parsed knocks are fed, in input
 * order, to a small doors table (max_sources 4: eviction is reached) after
 * expiring it at the engine's clock (the largest time seen so far, as
 * engine.c does), and successes open grants in a small grants table. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "apply_proto.h"
#include "config.h"
#include "doors.h"
#include "fuzz.h"
#include "grants.h"
#include "knock.h"
#include "parse.h"

static char *prefixes[] = {"KNOCK ", "DROP "};
/* One user pattern with every named group, for a format the built-in
 * patterns do not know:
 *   "1700000000.5 fw drop tcp 192.0.2.2:5555 -> 192.0.2.1:7000 [SYN ACK]" */
static struct pattern_conf patterns[] = {{
	.regex = "^(?<time>\\S+) fw drop (?<proto>[a-zA-Z0-9-]+) (?<src>[0-9a-fA-F.:]+?)(?::(?<sport>\\d+))? -> "
		 "(?<dst>[0-9a-fA-F.:]+?):(?<dport>\\d+)(?: \\[(?<flags>[A-Za-z ]*)\\])?$",
	.line = 1,
	.col = 1,
}};
static struct port_spec seq_ssh[] = {{IPPROTO_TCP, 7000}, {IPPROTO_UDP, 8000}, {IPPROTO_TCP, 9000}};
static struct port_spec seq_web[] = {{IPPROTO_TCP, 7000}, {IPPROTO_ICMP, 8}};
static struct port_spec seq_one[] = {{IPPROTO_UDP, 7004}};
static struct port_spec open_ssh[] = {{IPPROTO_TCP, 22}};
static struct port_spec open_web[] = {{IPPROTO_TCP, 80}, {IPPROTO_TCP, 443}};
static struct port_spec open_one[] = {{IPPROTO_UDP, 53}};
/* Two doors sharing a first step (they advance independently), and a
 * one-step door (its retransmission must not open it twice). */
static struct door_conf doors_conf[] = {
	{.name = "ssh", .seq = seq_ssh, .nseq = 3, .open = open_ssh, .nopen = 1, .window_us = 10000000,
	 .duration_us = 30000000, .dedup_us = 2000000, .flags_set = KNOCK_SYN, .flags_clear = KNOCK_ACK},
	{.name = "web", .seq = seq_web, .nseq = 2, .open = open_web, .nopen = 2, .window_us = 5000000,
	 .duration_us = 3600000000, .dedup_us = 0, .flags_set = 0, .flags_clear = 0},
	{.name = "one", .seq = seq_one, .nseq = 1, .open = open_one, .nopen = 1, .window_us = 1000000,
	 .duration_us = 1000000, .dedup_us = 500000, .flags_set = KNOCK_SYN, .flags_clear = KNOCK_ACK},
};
#define NDOORS (sizeof doors_conf / sizeof doors_conf[0])
#define MAX_SOURCES 4
#define MAX_GRANTS 3

static struct parser *parser;
static int64_t ref_us;

static void init(void)
{
	/* A zone with daylight saving time, for the year-less stamps. */
	setenv("TZ", "Europe/Berlin", 1);
	struct config cfg = {.path = "fuzz.yaml", .prefixes = prefixes, .nprefixes = 2, .patterns = patterns,
			     .npatterns = 1};
	char err[512];
	parser = parse_new(&cfg, err, sizeof err);
	if (!parser) {
		fprintf(stderr, "parse_new: %s\n", err);
		abort();
	}
	ref_us = (knock_days_from_civil(2026, 11, 26) * 86400 + 15 * 3600) * INT64_C(1000000);
}

struct run {
	struct grants *grants;
	int64_t now;
};

static void on_grant(void *ctx, enum grant_event ev, const struct grant *g, int64_t now)
{
	FUZZ_CHECK(g->family == AF_INET || g->family == AF_INET6);
	FUZZ_CHECK(g->id != 0);
	FUZZ_CHECK(memchr(g->door, '\0', sizeof g->door) != NULL);
	/* What the engine sends the applier must be a valid request. */
	struct apply_cmd c = {.op = ev == GRANT_CLOSE ? APPLY_CLOSE : APPLY_OPEN, .id = g->id, .family = g->family,
			      .proto = g->proto, .port = g->port, .seconds = 30};
	memcpy(c.addr, g->src, 16);
	snprintf(c.door, sizeof c.door, "%s", g->door);
	char line[APPLY_LINE_MAX + 1], err[256];
	int n = apply_format(&c, line, sizeof line);
	FUZZ_CHECK(n > 0);
	struct apply_cmd back;
	FUZZ_CHECK(apply_parse(line, (size_t)n - 1, &back, err, sizeof err) == 0);
	FUZZ_CHECK(back.id == c.id && back.family == c.family && back.proto == c.proto && back.port == c.port);
	FUZZ_CHECK(memcmp(back.addr, c.addr, g->family == AF_INET ? 4 : 16) == 0);
}

static void on_open(void *ctx, const struct door_conf *door, const struct knock *k, const struct door_request *q)
{
	struct run *r = ctx;
	FUZZ_CHECK(door >= doors_conf && door < doors_conf + NDOORS);
	grants_open(r->grants, door->name, q->ports, q->nports, q->duration_us, k->family, k->src, k->time_us);
	FUZZ_CHECK(grants_count(r->grants) <= MAX_GRANTS);
}

static void check_knock(const struct knock *k)
{
	FUZZ_CHECK(k->family == AF_INET || k->family == AF_INET6);
	FUZZ_CHECK(k->proto == IPPROTO_TCP || k->proto == IPPROTO_UDP || k->proto == IPPROTO_ICMP ||
		   k->proto == IPPROTO_ICMPV6);
	if (k->proto != IPPROTO_TCP)
		FUZZ_CHECK(k->flags == 0);
	if (k->proto == IPPROTO_ICMP || k->proto == IPPROTO_ICMPV6)
		FUZZ_CHECK(k->sport == 0 && k->port <= 255);
	else
		FUZZ_CHECK(k->icmp_code == 0);
	if (k->family == AF_INET) {
		static const uint8_t zero[12];
		FUZZ_CHECK(memcmp(k->src + 4, zero, 12) == 0 && memcmp(k->dst + 4, zero, 12) == 0);
	}
	char a[KNOCK_ADDRSTRLEN], t[KNOCK_TIMESTRLEN], f[40];
	uint8_t back[16] = {0};
	knock_addr_str(k->family, k->src, a);
	FUZZ_CHECK(inet_pton(k->family, a, back) == 1 && memcmp(back, k->src, 16) == 0);
	knock_addr_str(k->family, k->dst, a);
	FUZZ_CHECK(strlen(a) < KNOCK_ADDRSTRLEN);
	knock_time_str(k->time_us, t);
	FUZZ_CHECK(strlen(t) < KNOCK_TIMESTRLEN && t[strlen(t) - 1] == 'Z');
	knock_flags_str(k->flags, f);
	FUZZ_CHECK(strlen(f) <= 31);
	knock_proto_str(k->proto);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (!parser)
		init();
	struct run r = {.now = INT64_MIN};
	r.grants = grants_new(MAX_GRANTS, on_grant, &r);
	struct doors *d = doors_new(doors_conf, NDOORS, MAX_SOURCES, on_open, &r);
	FUZZ_CHECK(r.grants && d);

	const char *p = (const char *)data, *end = p + size;
	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		size_t len = (size_t)((nl ? nl : end) - p);
		char *line = malloc(len ? len : 1);
		FUZZ_CHECK(line);
		memcpy(line, p, len);
		p += len + (nl != NULL);
		for (int fmt = FORMAT_SYSLOG; fmt <= FORMAT_ULOGD; fmt++) {
			struct knock k;
			const char *why = NULL;
			memset(&k, 0xa5, sizeof k);
			enum parse_result pr = parse_line(parser, (enum source_format)fmt, line, len, ref_us, &k, &why);
			FUZZ_CHECK(pr == PARSE_NONE || pr == PARSE_KNOCK || pr == PARSE_BAD);
			FUZZ_CHECK(why != NULL && strlen(why) < 200);
			if (pr != PARSE_KNOCK || fmt != FORMAT_SYSLOG) {
				if (pr == PARSE_KNOCK)
					check_knock(&k);
				continue;
			}
			check_knock(&k);
			/* The engine's clock: never goes back. */
			if (k.time_us > r.now) {
				r.now = k.time_us;
				grants_expire(r.grants, r.now);
				doors_expire(d, r.now);
				FUZZ_CHECK(doors_next_deadline(d) > r.now);
				FUZZ_CHECK(grants_next_deadline(r.grants) > r.now);
			}
			doors_feed(d, &k);
			FUZZ_CHECK(doors_tracked(d) <= MAX_SOURCES);
		}
		free(line);
	}
	/* Let time pass: everything expires in order. */
	for (int64_t step = 1000000; r.now != INT64_MIN && step <= INT64_C(10000000000); step *= 10) {
		if (r.now > INT64_MAX - step)
			break;
		r.now += step;
		doors_expire(d, r.now);
		grants_expire(r.grants, r.now);
	}
	if (r.now != INT64_MIN && r.now < INT64_MAX - INT64_C(20000000000)) {
		FUZZ_CHECK(grants_count(r.grants) == 0);
		FUZZ_CHECK(doors_tracked(d) == 0);
	}
	const struct doors_stats *st = doors_stats(d);
	FUZZ_CHECK(st->duplicates <= st->knocks);
	grants_close_all(r.grants, r.now);
	doors_free(d);
	grants_free(r.grants);
	return 0;
}
