/* unit-engine.c — the engine's API for the control socket and metrics
 * (src/daemon/engine.h, "for the control socket and metrics"): the event sink gets
 * the bytes replay prints, revoke closes through the path of an expiry,
 * grants opened by hand, per-door counts across a reload, the attempts in
 * progress, and the applier's latency histogram.
 *
 * Each test loads a configuration from YAML text (as the daemon does) and
 * feeds the engine kernel log lines with explicit RFC 3339 stamps. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <arpa/inet.h>
#include <limits.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "applier.h"
#include "config.h"
#include "daemon.h"
#include "engine.h"
#include "grants.h"
#include "log.h"

#define SEC 1000000LL
/* 2026-11-26T14:47:35Z */
#define T0 (1795704455LL * SEC)

static const char conf_text[] = "sources:\n"
				"  - file: /nonexistent/kern.log\n"
				"prefix: \"KNOCK \"\n"
				"applier:\n"
				"  backend: log\n"
				"max_grants: 4\n"
				"doors:\n"
				"  - name: ssh\n"
				"    sequence: [tcp/7000, tcp/8000, tcp/9000]\n"
				"    open: [tcp/22]\n"
				"  - name: web\n"
				"    sequence: [tcp/7000, udp/8001]\n"
				"    open: [tcp/80, tcp/443]\n"
				"    duration: 1m\n";

/* The same doors, ssh's sequence changed, web gone, a new door. */
static const char conf2_text[] = "sources:\n"
				 "  - file: /nonexistent/kern.log\n"
				 "prefix: \"KNOCK \"\n"
				 "applier:\n"
				 "  backend: log\n"
				 "doors:\n"
				 "  - name: new\n"
				 "    sequence: [tcp/6000, tcp/6001]\n"
				 "    open: [tcp/25]\n"
				 "  - name: ssh\n"
				 "    sequence: [tcp/7000, tcp/8000, tcp/9001]\n"
				 "    open: [tcp/22]\n";

static void load(const char *text, struct config *cfg)
{
	char path[PATH_MAX], err[1024];
	const char *dir = getenv("TMPDIR");
	snprintf(path, sizeof path, "%s/unit-engine-XXXXXX", dir && *dir ? dir : "/tmp");
	int fd = mkstemp(path);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	assert_int_equal(close(fd), 0);
	int rc = config_load(path, cfg, err, sizeof err);
	unlink(path);
	if (rc)
		print_error("%s\n", err);
	assert_int_equal(rc, 0);
}

/* ---- a fixture: configuration, engine writing to memory, sink recording -- */

struct fx {
	struct config cfg, cfg2;
	struct engine *e;
	FILE *out;
	char *outbuf;
	size_t outlen;
	char sink[1 << 16];
	size_t sinklen;
	unsigned sinkcalls;
};

static void sink(void *ctx, const char *json, size_t len)
{
	struct fx *f = ctx;
	assert_true(len > 0 && json[len - 1] == '\n');
	assert_null(memchr(json, '\n', len - 1));	/* one line per call */
	assert_true(f->sinklen + len <= sizeof f->sink);
	memcpy(f->sink + f->sinklen, json, len);
	f->sinklen += len;
	f->sinkcalls++;
}

static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof *f);
	assert_non_null(f);
	load(conf_text, &f->cfg);
	f->out = open_memstream(&f->outbuf, &f->outlen);
	assert_non_null(f->out);
	char err[256];
	f->e = engine_new(&f->cfg, NULL, f->out, 1, err, sizeof err);
	assert_non_null(f->e);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;
	engine_free(f->e);
	fclose(f->out);
	free(f->outbuf);
	config_free(&f->cfg);
	config_free(&f->cfg2);
	free(f);
	return 0;
}

/* The line the kernel's LOG target writes (as rsyslog stores it, RFC 3339
 * stamp) for a SYN from SRC to DPORT (tcp), or a datagram (udp), at US. */
static int kernel_line(char *line, size_t size, const char *src, const char *proto, unsigned dport, int64_t us)
{
	static unsigned sport = 40000;
	char t[KNOCK_TIMESTRLEN], ip[16], head[256];
	/* knock_time_str: 2026-11-26T14:47:35.000000Z; rsyslog writes +00:00 */
	knock_time_str(us, t);
	t[strlen(t) - 1] = '\0';
	int udp = strcmp(proto, "udp") == 0;
	if (strchr(src, ':')) {
		/* IPv6: the kernel writes every group, four digits each */
		assert_int_equal(inet_pton(AF_INET6, src, ip), 1);
		char a[40];
		for (int i = 0; i < 8; i++)
			snprintf(a + 5 * i, sizeof a - 5 * (size_t)i, "%02x%02x%s", (uint8_t)ip[2 * i],
				 (uint8_t)ip[2 * i + 1], i < 7 ? ":" : "");
		snprintf(head, sizeof head,
			 "MAC=4a:14:fe:f4:b7:53:5a:0c:c5:36:61:de:86:dd SRC=%s "
			 "DST=2001:0db8:0000:0000:0000:0000:0000:0001 LEN=80 TC=0 HOPLIMIT=64 FLOWLBL=592020",
			 a);
	} else {
		snprintf(head, sizeof head,
			 "MAC=62:92:44:cb:fb:5c:fe:65:11:35:87:ec:08:00 SRC=%s DST=192.0.2.1 LEN=60 TOS=0x00 PREC=0x00 "
			 "TTL=64 ID=36861 DF",
			 src);
	}
	int n = snprintf(line, size, "%s+00:00 vm kernel: [   93.717774] KNOCK IN=kn-s OUT= %s PROTO=%s SPT=%u DPT=%u %s",
			 t, head, udp ? "UDP" : "TCP", ++sport, dport,
			 udp ? "LEN=10 " : "WINDOW=64240 RES=0x00 SYN URGP=0 ");
	assert_true(n > 0 && (size_t)n < size);
	return n;
}

/* A knock at T0 + MS_OFF ms (kernel_line). */
static void knock(struct fx *f, const char *src, const char *proto, unsigned dport, int64_t ms_off)
{
	char line[512];
	int64_t us = T0 + ms_off * 1000;
	int n = kernel_line(line, sizeof line, src, proto, dport, us);
	const char *why = NULL;
	enum parse_result r = engine_line(f->e, FORMAT_SYSLOG, line, (size_t)n, us, &why);
	if (r != PARSE_KNOCK)
		print_error("not a knock (%s): %s\n", why ? why : "?", line);
	assert_int_equal(r, PARSE_KNOCK);
}

static void ssh_sequence(struct fx *f, const char *src, int64_t ms)
{
	knock(f, src, "tcp", 7000, ms);
	knock(f, src, "tcp", 8000, ms + 100);
	knock(f, src, "tcp", 9000, ms + 200);
}

static void addr(const char *s, int *family, uint8_t a[16])
{
	memset(a, 0, 16);
	*family = strchr(s, ':') ? AF_INET6 : AF_INET;
	assert_int_equal(inet_pton(*family, s, a), 1);
}

static size_t count(const char *buf, size_t len, const char *needle)
{
	size_t n = 0, nl = strlen(needle);
	for (const char *p = buf; (p = memmem(p, len - (size_t)(p - buf), needle, nl)); p += nl)
		n++;
	return n;
}

static ssize_t door_no(const struct engine *e, const char *name)
{
	for (size_t i = 0; i < engine_ndoors(e); i++) {
		struct engine_door_stats ds;
		engine_door_stats(e, i, &ds);
		if (strcmp(ds.name, name) == 0)
			return (ssize_t)i;
	}
	return -1;
}

static struct engine_door_stats door(const struct engine *e, const char *name)
{
	struct engine_door_stats ds;
	ssize_t i = door_no(e, name);
	assert_true(i >= 0);
	engine_door_stats(e, (size_t)i, &ds);
	return ds;
}

/* ---- the event sink ------------------------------------------------------ */

static void test_sink_bytes_are_replay_output(void **state)
{
	struct fx *f = *state;
	engine_set_event_sink(f->e, sink, f, 1);
	ssh_sequence(f, "192.0.2.2", 0);
	knock(f, "2001:db8::2", "tcp", 7000, 500);
	knock(f, "2001:db8::2", "udp", 8001, 600);
	ssh_sequence(f, "192.0.2.2", 1000);	/* extends */
	engine_finish(f->e);	/* closes */
	fflush(f->out);
	assert_true(f->outlen > 0);
	assert_int_equal(f->sinklen, f->outlen);
	assert_memory_equal(f->sink, f->outbuf, f->outlen);
	assert_int_equal(f->sinkcalls, count(f->outbuf, f->outlen, "\n"));
	assert_int_equal(count(f->sink, f->sinklen, "{\"event\":\"knock\""), 8);
	assert_int_equal(count(f->sink, f->sinklen, "{\"event\":\"open\""), 3);
	assert_int_equal(count(f->sink, f->sinklen, "{\"event\":\"extend\""), 1);
	assert_int_equal(count(f->sink, f->sinklen, "{\"event\":\"close\""), 3);
	/* The line replay has always printed (DESIGN.md, "Replay output"). */
	static const char open_line[] = "{\"event\":\"open\",\"time\":\"2026-11-26T14:47:35.200000Z\",\"door\":\"ssh\","
					"\"src\":\"192.0.2.2\",\"proto\":\"tcp\",\"port\":22,"
					"\"expires\":\"2026-11-26T14:48:05.200000Z\"}\n";
	assert_non_null(memmem(f->sink, f->sinklen, open_line, sizeof open_line - 1));
	static const char close_line[] = "{\"event\":\"close\",\"time\":\"2026-11-26T14:48:35.600000Z\",\"door\":\"web\","
					 "\"src\":\"2001:db8::2\",\"proto\":\"tcp\",\"port\":443}\n";
	assert_non_null(memmem(f->sink, f->sinklen, close_line, sizeof close_line - 1));
}

static void test_sink_decisions_only(void **state)
{
	struct fx *f = *state;
	engine_set_event_sink(f->e, sink, f, 0);
	ssh_sequence(f, "192.0.2.2", 0);
	engine_finish(f->e);
	fflush(f->out);
	/* The decisions replay printed, in order, and no knock. */
	assert_int_equal(f->sinkcalls, 2);
	assert_int_equal(count(f->sink, f->sinklen, "\"knock\""), 0);
	const char *open = memmem(f->outbuf, f->outlen, "{\"event\":\"open\"", 15);
	assert_non_null(open);
	assert_int_equal(f->sinklen, f->outlen - (size_t)(open - f->outbuf));
	assert_memory_equal(f->sink, open, f->sinklen);

	/* Removed: nothing more. */
	engine_set_event_sink(f->e, NULL, NULL, 1);
	ssh_sequence(f, "192.0.2.3", 60000);
	assert_int_equal(f->sinkcalls, 2);
}

static void test_sink_without_out(void **state)
{
	struct fx *f = *state;
	char err[256];
	engine_free(f->e);
	f->e = engine_new(&f->cfg, NULL, NULL, 0, err, sizeof err);	/* the daemon's */
	assert_non_null(f->e);
	engine_set_event_sink(f->e, sink, f, 1);
	ssh_sequence(f, "192.0.2.2", 0);
	assert_int_equal(f->sinkcalls, 4);	/* three knocks, an open */
	assert_int_equal(count(f->sink, f->sinklen, "{\"event\":\"knock\""), 3);
	assert_int_equal(count(f->sink, f->sinklen, "{\"event\":\"open\""), 1);
}

/* ---- grants: extended, revoke, by hand ----------------------------------- */

static void test_grant_at_and_extended(void **state)
{
	struct fx *f = *state;
	ssh_sequence(f, "192.0.2.2", 0);
	ssh_sequence(f, "192.0.2.2", 1000);
	ssh_sequence(f, "192.0.2.2", 2000);
	assert_int_equal(engine_open_grants(f->e), 1);
	const struct grant *g = engine_grant_at(f->e, 0);
	assert_non_null(g);
	assert_string_equal(g->door, "ssh");
	assert_int_equal(g->port, 22);
	assert_int_equal(g->extended, 2);
	assert_int_equal(g->expires_us, T0 + 2200 * 1000 + 30 * SEC);
	assert_null(engine_grant_at(f->e, 1));
	assert_int_equal(door(f->e, "ssh").extends, 2);
	assert_int_equal(door(f->e, "ssh").opens, 1);
}

static void test_revoke(void **state)
{
	struct fx *f = *state;
	int fam;
	uint8_t a[16], b[16];
	ssh_sequence(f, "192.0.2.2", 0);
	knock(f, "192.0.2.2", "tcp", 7000, 500);
	knock(f, "192.0.2.2", "udp", 8001, 600);	/* web: 80 and 443 */
	ssh_sequence(f, "192.0.2.3", 700);
	assert_int_equal(engine_open_grants(f->e), 4);
	engine_grants_dirty(f->e);
	engine_set_event_sink(f->e, sink, f, 0);

	addr("192.0.2.2", &fam, a);
	addr("2001:db8::2", &fam, b);
	assert_int_equal(engine_revoke(f->e, AF_INET6, b, NULL, T0 + 2 * SEC), 0);
	assert_int_equal(engine_revoke(f->e, AF_INET, a, "nodoor", T0 + 2 * SEC), 0);
	assert_int_equal(engine_grants_dirty(f->e), 0);
	assert_int_equal(f->sinkcalls, 0);

	/* One door's grants of the source. */
	assert_int_equal(engine_revoke(f->e, AF_INET, a, "web", T0 + 2 * SEC), 2);
	assert_int_equal(engine_open_grants(f->e), 2);
	assert_int_equal(engine_grants_dirty(f->e), 1);
	assert_int_equal(count(f->sink, f->sinklen, "{\"event\":\"close\",\"time\":\"2026-11-26T14:47:37.000000Z\","
						    "\"door\":\"web\",\"src\":\"192.0.2.2\",\"proto\":\"tcp\",\"port\":"),
			 2);
	/* The rest of it; the other source keeps its grant. */
	assert_int_equal(engine_revoke(f->e, AF_INET, a, NULL, T0 + 3 * SEC), 1);
	assert_int_equal(engine_open_grants(f->e), 1);
	assert_string_equal(engine_grant_at(f->e, 0)->door, "ssh");
	char s[KNOCK_ADDRSTRLEN];
	const struct grant *g = engine_grant_at(f->e, 0);
	assert_string_equal(knock_addr_str(g->family, g->src, s), "192.0.2.3");

	const struct engine_stats *st = engine_stats(f->e);
	assert_int_equal(st->revoked, 3);
	assert_int_equal(st->closed, 3);
	assert_int_equal(door(f->e, "web").revoked, 2);
	assert_int_equal(door(f->e, "web").closes, 2);
	assert_int_equal(door(f->e, "ssh").revoked, 1);
	/* An expiry afterwards is a plain close, not a revoke. */
	engine_finish(f->e);
	assert_int_equal(engine_stats(f->e)->revoked, 3);
	assert_int_equal(engine_stats(f->e)->closed, 4);
}

static void test_open_by_hand(void **state)
{
	struct fx *f = *state;
	int fam;
	uint8_t a[16];
	char err[256] = "";
	addr("2001:db8::7", &fam, a);
	engine_set_event_sink(f->e, sink, f, 0);

	assert_int_equal(engine_open_by_hand(f->e, "nodoor", fam, a, 0, T0, "uid 0", err, sizeof err), -1);
	assert_non_null(strstr(err, "nodoor"));
	assert_int_equal(engine_open_by_hand(f->e, NULL, fam, a, 0, T0, "uid 0", err, sizeof err), -1);
	assert_int_equal(engine_open_grants(f->e), 0);

	/* The door's ports for its duration (web: 1 minute). */
	assert_int_equal(engine_open_by_hand(f->e, "web", fam, a, 0, T0, "uid 0", err, sizeof err), 2);
	assert_int_equal(engine_open_grants(f->e), 2);
	assert_int_equal(engine_grant_at(f->e, 0)->expires_us, T0 + 60 * SEC);
	assert_int_equal(engine_grants_dirty(f->e), 1);
	assert_int_equal(count(f->sink, f->sinklen, "{\"event\":\"open\",\"time\":\"2026-11-26T14:47:35.000000Z\","
						    "\"door\":\"web\",\"src\":\"2001:db8::7\""),
			 2);
	/* Longer: extended; shorter: left as it is, not counted. */
	assert_int_equal(engine_open_by_hand(f->e, "web", fam, a, 3600 * SEC, T0 + SEC, "uid 1000", err, sizeof err), 2);
	assert_int_equal(engine_grant_at(f->e, 0)->expires_us, T0 + 3601 * SEC);
	assert_int_equal(engine_grant_at(f->e, 0)->extended, 1);
	assert_int_equal(engine_open_by_hand(f->e, "web", fam, a, 10 * SEC, T0 + 2 * SEC, "uid 0", err, sizeof err), 0);

	const struct engine_stats *st = engine_stats(f->e);
	assert_int_equal(st->by_hand, 4);
	assert_int_equal(st->opened, 2);
	assert_int_equal(st->extended, 2);
	assert_int_equal(door(f->e, "web").by_hand, 4);
	assert_int_equal(door(f->e, "web").opens, 2);
	assert_int_equal(door(f->e, "ssh").by_hand, 0);

	/* max_grants 4: two more ports; then of web's two, one fits. */
	uint8_t b[16], c[16];
	addr("192.0.2.9", &fam, b);
	addr("192.0.2.10", &fam, c);
	assert_int_equal(engine_open_by_hand(f->e, "ssh", fam, b, 0, T0 + 3 * SEC, "uid 0", err, sizeof err), 1);
	assert_int_equal(engine_open_by_hand(f->e, "web", fam, b, 0, T0 + 3 * SEC, "uid 0", err, sizeof err), 1);
	assert_int_equal(engine_open_grants(f->e), 4);
	assert_int_equal(engine_stats(f->e)->refused, 1);
	/* Full: nothing opened, an error. */
	err[0] = '\0';
	assert_int_equal(engine_open_by_hand(f->e, "ssh", fam, c, 0, T0 + 3 * SEC, "uid 0", err, sizeof err), -1);
	assert_non_null(strstr(err, "full"));

	/* Grants by hand close on time, as others do. */
	engine_advance(f->e, T0 + 64 * SEC);
	assert_int_equal(engine_open_grants(f->e), 2);
}

/* ---- per-door counts ------------------------------------------------------ */

static void test_door_stats(void **state)
{
	struct fx *f = *state;
	assert_int_equal(engine_ndoors(f->e), 2);
	struct engine_door_stats ds;
	engine_door_stats(f->e, 0, &ds);
	assert_string_equal(ds.name, "ssh");
	assert_string_equal(ds.kind, "sequence");
	assert_int_equal(ds.knocks + ds.attempts + ds.in_progress + ds.opens, 0);
	engine_door_stats(f->e, 2, &ds);	/* out of range: zeros */
	assert_null(ds.name);

	knock(f, "192.0.2.2", "tcp", 7000, 0);	/* starts ssh and web */
	knock(f, "192.0.2.2", "tcp", 8000, 100);	/* ssh on; web reset */
	knock(f, "192.0.2.3", "tcp", 7000, 200);	/* starts both */
	knock(f, "192.0.2.4", "tcp", 1234, 300);	/* nothing */
	struct engine_door_stats ssh = door(f->e, "ssh"), web = door(f->e, "web");
	assert_int_equal(ssh.knocks, 3);
	assert_int_equal(ssh.attempts, 2);
	assert_int_equal(ssh.in_progress, 2);
	assert_int_equal(web.knocks, 2);
	assert_int_equal(web.attempts, 2);
	assert_int_equal(web.in_progress, 1);

	knock(f, "192.0.2.2", "tcp", 9000, 400);	/* ssh opens */
	ssh = door(f->e, "ssh");
	assert_int_equal(ssh.knocks, 4);
	assert_int_equal(ssh.in_progress, 1);
	assert_int_equal(ssh.opens, 1);
	/* The windows run out: no attempt left. */
	engine_advance(f->e, T0 + 11 * SEC);
	assert_int_equal(door(f->e, "ssh").in_progress, 0);
	assert_int_equal(door(f->e, "web").in_progress, 0);
	assert_int_equal(door(f->e, "ssh").attempts, 2);
}

static void test_door_stats_across_reload(void **state)
{
	struct fx *f = *state;
	ssh_sequence(f, "192.0.2.2", 0);
	knock(f, "192.0.2.3", "tcp", 7000, 500);
	knock(f, "192.0.2.3", "tcp", 8000, 600);	/* in progress at ssh */
	struct engine_door_stats before = door(f->e, "ssh");
	assert_int_equal(before.knocks, 5);
	assert_int_equal(before.opens, 1);
	assert_int_equal(before.in_progress, 1);

	char err[256];
	load(conf2_text, &f->cfg2);
	assert_int_equal(engine_reload(f->e, &f->cfg2, err, sizeof err), 0);
	assert_int_equal(engine_ndoors(f->e), 2);
	assert_int_equal(door_no(f->e, "web"), -1);
	struct engine_door_stats ssh = door(f->e, "ssh"), nw = door(f->e, "new");
	/* Same name: the counts go on (the sequence changed: its attempt does not). */
	assert_int_equal(ssh.knocks, 5);
	assert_int_equal(ssh.attempts, 2);
	assert_int_equal(ssh.opens, 1);
	assert_int_equal(ssh.in_progress, 0);
	assert_int_equal(nw.knocks + nw.attempts + nw.opens + nw.closes, 0);
	assert_string_equal(nw.kind, "sequence");

	knock(f, "192.0.2.3", "tcp", 7000, 5000);
	assert_int_equal(door(f->e, "ssh").knocks, 6);
	assert_int_equal(door(f->e, "ssh").in_progress, 1);
	/* The grant of before the reload closes as ssh's. */
	engine_advance(f->e, T0 + 40 * SEC);
	assert_int_equal(door(f->e, "ssh").closes, 1);

	/* An unchanged door keeps its attempts, and their count. */
	knock(f, "192.0.2.5", "tcp", 6000, 41000);
	assert_int_equal(door(f->e, "new").in_progress, 1);
	struct config cfg3;
	load(conf2_text, &cfg3);
	assert_int_equal(engine_reload(f->e, &cfg3, err, sizeof err), 0);
	assert_int_equal(door(f->e, "new").in_progress, 1);
	assert_int_equal(door(f->e, "new").knocks, 1);
	knock(f, "192.0.2.5", "tcp", 6001, 42000);
	assert_int_equal(door(f->e, "new").opens, 1);
	assert_int_equal(door(f->e, "new").in_progress, 0);
	engine_free(f->e);
	f->e = NULL;
	config_free(&cfg3);
}

/* ---- attempts ---------------------------------------------------------------- */

struct seen {
	unsigned n, stop_after;
	struct engine_attempt a[8];
};

static int on_attempt(void *ctx, const struct engine_attempt *a)
{
	struct seen *s = ctx;
	if (s->n < 8)
		s->a[s->n] = *a;
	s->n++;
	return s->stop_after && s->n >= s->stop_after;
}

static const struct engine_attempt *find(const struct seen *s, const char *door, const char *src)
{
	char b[KNOCK_ADDRSTRLEN];
	for (unsigned i = 0; i < s->n && i < 8; i++)
		if (strcmp(s->a[i].door, door) == 0 && strcmp(knock_addr_str(s->a[i].family, s->a[i].src, b), src) == 0)
			return &s->a[i];
	return NULL;
}

static void test_each_attempt(void **state)
{
	struct fx *f = *state;
	struct seen s = {0};
	engine_each_attempt(f->e, on_attempt, &s);
	assert_int_equal(s.n, 0);

	knock(f, "192.0.2.2", "tcp", 7000, 0);
	knock(f, "192.0.2.2", "tcp", 8000, 100);
	knock(f, "2001:db8::2", "tcp", 7000, 300);
	engine_each_attempt(f->e, on_attempt, &s);
	assert_int_equal(s.n, 3);	/* 192.0.2.2 at ssh; 2001:db8::2 at ssh and web */
	const struct engine_attempt *a = find(&s, "ssh", "192.0.2.2");
	assert_non_null(a);
	assert_int_equal(a->step, 2);
	assert_int_equal(a->steps, 3);
	assert_int_equal(a->family, AF_INET);
	assert_int_equal(a->started_us, T0);
	assert_int_equal(a->last_us, T0 + 100 * 1000);
	a = find(&s, "web", "2001:db8::2");
	assert_non_null(a);
	assert_int_equal(a->step, 1);
	assert_int_equal(a->steps, 2);
	assert_int_equal(a->family, AF_INET6);
	assert_non_null(find(&s, "ssh", "2001:db8::2"));
	assert_null(find(&s, "web", "192.0.2.2"));

	/* Stops when told. */
	struct seen one = {.stop_after = 1};
	engine_each_attempt(f->e, on_attempt, &one);
	assert_int_equal(one.n, 1);

	/* Completed and expired attempts are gone. */
	knock(f, "192.0.2.2", "tcp", 9000, 400);
	engine_advance(f->e, T0 + 10 * SEC + 300 * 1000);
	struct seen after = {0};
	engine_each_attempt(f->e, on_attempt, &after);
	assert_int_equal(after.n, 0);
}

/* ---- stats ---------------------------------------------------------------------- */

static void test_stats_future_and_eviction(void **state)
{
	struct fx *f = *state;
	engine_set_live(f->e, 1);
	/* A stamp an hour ahead of the system clock: refused, counted twice. */
	const char *why = NULL;
	char line[512];
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	int64_t future = ((int64_t)ts.tv_sec + 3600) * SEC;
	int n = kernel_line(line, sizeof line, "192.0.2.2", "tcp", 7000, future);
	assert_int_equal(engine_line(f->e, FORMAT_SYSLOG, line, (size_t)n, future, &why), PARSE_BAD);
	assert_string_equal(why, "timestamp in the future");
	assert_int_equal(engine_stats(f->e)->skipped_future, 1);
	assert_int_equal(engine_stats(f->e)->bad, 1);
	assert_int_equal(engine_stats(f->e)->evicted, 0);
	assert_int_equal(engine_stats(f->e)->rejected, 0);
}

static void test_evictions_counted_across_reload(void **state)
{
	struct fx *f = *state;
	static const char small[] = "sources:\n"
				    "  - file: /nonexistent/kern.log\n"
				    "prefix: \"KNOCK \"\n"
				    "applier:\n"
				    "  backend: log\n"
				    "max_sources: 2\n"
				    "doors:\n"
				    "  - name: ssh\n"
				    "    sequence: [tcp/7000, tcp/8000, tcp/9000]\n"
				    "    open: [tcp/22]\n";
	char err[256];
	config_free(&f->cfg2);
	load(small, &f->cfg2);
	assert_int_equal(engine_reload(f->e, &f->cfg2, err, sizeof err), 0);
	knock(f, "192.0.2.2", "tcp", 7000, 0);
	knock(f, "192.0.2.3", "tcp", 7000, 100);
	knock(f, "192.0.2.4", "tcp", 7000, 200);	/* 192.0.2.2 makes room */
	assert_int_equal(engine_stats(f->e)->evicted, 1);
	assert_int_equal(engine_stats(f->e)->evicted_progressed, 0);
	assert_int_equal(door(f->e, "ssh").in_progress, 2);
	assert_int_equal(door(f->e, "ssh").attempts, 3);
	struct config again;
	load(small, &again);
	assert_int_equal(engine_reload(f->e, &again, err, sizeof err), 0);
	assert_int_equal(engine_stats(f->e)->evicted, 1);
	assert_int_equal(door(f->e, "ssh").in_progress, 2);
	knock(f, "192.0.2.5", "tcp", 7000, 300);
	assert_int_equal(engine_stats(f->e)->evicted, 2);
	assert_int_equal(door(f->e, "ssh").in_progress, 2);
	engine_free(f->e);
	f->e = NULL;
	config_free(&again);
}

/* ---- the gauge agrees with the attempts, whatever happens ------------------------- */

struct per_door {
	const struct engine *e;
	uint64_t n[4];
};

static int count_attempt(void *ctx, const struct engine_attempt *a)
{
	struct per_door *pd = ctx;
	ssize_t i = door_no(pd->e, a->door);
	assert_true(i >= 0 && i < 4);
	assert_true(a->step >= 1 && a->step < a->steps);
	pd->n[i]++;
	return 0;
}

static void gauge_agrees(const struct engine *e)
{
	struct per_door pd = {.e = e};
	engine_each_attempt(e, count_attempt, &pd);
	for (size_t i = 0; i < engine_ndoors(e); i++) {
		struct engine_door_stats ds;
		engine_door_stats(e, i, &ds);
		assert_int_equal(ds.in_progress, pd.n[i]);
	}
}

static void test_in_progress_random(void **state)
{
	struct fx *f = *state;
	static const char small[] = "sources:\n"
				    "  - file: /nonexistent/kern.log\n"
				    "prefix: \"KNOCK \"\n"
				    "applier:\n"
				    "  backend: log\n"
				    "max_sources: 6\n"
				    "doors:\n"
				    "  - name: ssh\n"
				    "    sequence: [tcp/7000, tcp/8000, tcp/9000]\n"
				    "    open: [tcp/22]\n"
				    "  - name: web\n"
				    "    sequence: [tcp/7000, udp/8001]\n"
				    "    window: 3s\n"
				    "    open: [tcp/80]\n";
	struct config cfg[3];
	char err[256];
	memset(cfg, 0, sizeof cfg);
	static const struct {
		const char *proto;
		unsigned port;
	} ports[] = {{"tcp", 7000}, {"tcp", 8000}, {"tcp", 9000}, {"udp", 8001}, {"tcp", 1}};
	unsigned seed = 12345;
	int64_t ms = 0;
	for (int round = 0; round < 3; round++) {
		load(round == 1 ? conf_text : small, &cfg[round]);
		assert_int_equal(engine_reload(f->e, &cfg[round], err, sizeof err), 0);
		gauge_agrees(f->e);
		for (int i = 0; i < 3000; i++) {
			seed = seed * 1103515245 + 12345;
			char src[32];
			snprintf(src, sizeof src, "192.0.2.%u", 1 + (seed >> 8) % 12);
			unsigned p = (seed >> 16) % 5;
			ms += (seed >> 20) % 700;
			knock(f, src, ports[p].proto, ports[p].port, ms);
			if (i % 97 == 0)
				engine_advance(f->e, T0 + (ms + 5000) * 1000);
			gauge_agrees(f->e);
		}
	}
	assert_true(engine_stats(f->e)->evicted > 0);
	engine_free(f->e);
	f->e = NULL;
	for (int round = 0; round < 3; round++)
		config_free(&cfg[round]);
}

/* ---- the applier's counts ------------------------------------------------------ */

static void test_applier_info(void **state)
{
	struct fx *f = *state;
	struct applier_info ai;
	applier_info(NULL, &ai);
	assert_int_equal(ai.pid, 0);
	assert_int_equal(ai.requests + ai.lat_count, 0);
	assert_true(applier_lat_le[0] == 0.0001 && applier_lat_le[APPLIER_LAT_BUCKETS - 2] == 1.0);

	const char *path = getenv("LOGKNOCK_APPLY");
	if (!path || access(path, X_OK) != 0) {
		skip();	/* make check sets it */
		return;
	}
	char **argv = daemon_applier_argv(&f->cfg, path, 1);
	assert_non_null(argv);
	struct applier *ap = applier_new(NULL, argv, NULL, NULL);
	free(argv);
	assert_non_null(ap);
	char err[256];
	engine_free(f->e);
	f->e = engine_new(&f->cfg, ap, NULL, 0, err, sizeof err);
	assert_non_null(f->e);
	ssh_sequence(f, "192.0.2.2", 0);	/* open */
	engine_finish(f->e);	/* close */
	assert_int_equal(applier_drain(ap, 5000), 0);
	applier_info(ap, &ai);
	assert_true(ai.pid > 0);
	assert_int_equal(ai.restarts, 0);
	assert_int_equal(ai.requests, 2);
	assert_int_equal(ai.errors, 0);
	assert_int_equal(ai.pending, 0);
	assert_int_equal(ai.lat_count, 2);
	assert_int_equal(ai.lat_bucket[APPLIER_LAT_BUCKETS - 1], 2);	/* +Inf: all */
	for (size_t b = 1; b < APPLIER_LAT_BUCKETS; b++)
		assert_true(ai.lat_bucket[b] >= ai.lat_bucket[b - 1]);	/* cumulative */
	assert_true(ai.lat_sum_us < 10 * SEC);
	engine_free(f->e);
	f->e = NULL;
	applier_free(ap);
}

static void nop_grant(void *ctx, enum grant_event ev, const struct grant *g, int64_t now)
{
	(void)ctx, (void)ev, (void)g, (void)now;
}

/* Fleet (issue 16): the host is part of a grant's key and of its saved
 * line; a file of an older version (no host=) loads as the local applier's. */
static void test_fleet_grants_saved(void **state)
{
	(void)state;
	struct grants *t = grants_new(16, nop_grant, NULL), *u = grants_new(16, nop_grant, NULL);
	assert_non_null(t);
	assert_non_null(u);
	struct port_spec p = {.proto = IPPROTO_TCP, .port = 22};
	uint8_t src[16] = {192, 0, 2, 2};
	grants_set_host(t, "web1");
	grants_open(t, "ssh", &p, 1, 30 * SEC, AF_INET, src, T0);
	grants_set_host(t, NULL);
	grants_open(t, "ssh", &p, 1, 30 * SEC, AF_INET, src, T0);
	assert_int_equal(grants_count(t), 2);
	char buf[1024], err[256];
	ssize_t n = grants_dump(t, buf, sizeof buf);
	assert_true(n > 0);
	assert_non_null(strstr(buf, " ssh host=web1\n"));
	assert_int_equal(grants_restore(u, buf, err, sizeof err), 2);
	int hosted = 0;
	for (size_t i = 0; i < grants_count(u); i++)
		hosted += strcmp(grants_at(u, i)->host, "web1") == 0;
	assert_int_equal(hosted, 1);
	grants_free(u);
	u = grants_new(16, nop_grant, NULL);
	assert_int_equal(grants_restore(u, "7 inet 192.0.2.2 tcp 22 1 2 ssh\n", err, sizeof err), 1);
	assert_string_equal(grants_at(u, 0)->host, "");
	assert_int_equal(grants_restore(u, "8 inet 192.0.2.3 tcp 22 1 2 ssh host=a\"b\n", err, sizeof err), -1);
	grants_free(t);
	grants_free(u);
}

int main(void)
{
	log_verbosity = LOG_LVL_ERR;	/* the engine's messages are not the subject here */
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
	const struct CMUnitTest tests[] = {
		T(test_sink_bytes_are_replay_output),
		T(test_sink_decisions_only),
		T(test_sink_without_out),
		T(test_grant_at_and_extended),
		T(test_revoke),
		T(test_open_by_hand),
		T(test_door_stats),
		T(test_door_stats_across_reload),
		T(test_each_attempt),
		T(test_stats_future_and_eviction),
		T(test_evictions_counted_across_reload),
		T(test_in_progress_random),
		T(test_applier_info),
		cmocka_unit_test(test_fleet_grants_saved),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
