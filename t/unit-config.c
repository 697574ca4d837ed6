/* unit-config.c — config_load() and its parsers: good files, defaults, and
 * every kind of error with its exact message and LINE:COL. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <limits.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config.h"
#include "knock.h"

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

/* ---- helpers ---------------------------------------------------------- */

/* Writes LEN bytes of TEXT to a new temporary file; its name goes to PATH. */
static void write_temp(const void *text, size_t len, char path[PATH_MAX])
{
	const char *dir = getenv("TMPDIR");
	if (!dir || !*dir)
		dir = "/tmp";
	snprintf(path, PATH_MAX, "%s/unit-config-XXXXXX", dir);
	int fd = mkstemp(path);
	assert_true(fd >= 0);
	const char *p = text;
	while (len > 0) {
		ssize_t w = write(fd, p, len);
		assert_true(w > 0);
		p += w;
		len -= (size_t)w;
	}
	assert_int_equal(close(fd), 0);
}

/* Loads YAML text; the temporary file is gone when this returns. */
static int load_len(const char *yaml, size_t len, struct config *cfg, char *err, size_t errlen,
		    char path[PATH_MAX])
{
	write_temp(yaml, len, path);
	int rc = config_load(path, cfg, err, errlen);
	unlink(path);
	return rc;
}

static void load_ok(const char *yaml, struct config *cfg)
{
	char path[PATH_MAX], err[1024];
	int rc = load_len(yaml, strlen(yaml), cfg, err, sizeof err, path);
	if (rc != 0)
		print_error("unexpected error: %s\n", err);
	assert_int_equal(rc, 0);
	assert_string_equal(err, "");
	assert_string_equal(cfg->path, path);
}

static void assert_zeroed(const struct config *cfg)
{
	static const struct config zero;
	assert_memory_equal(cfg, &zero, sizeof zero);
}

/* Loading LEN bytes of YAML fails with "PATH" WANT, and leaves *cfg zeroed. */
static void expect_error_len(const char *yaml, size_t len, const char *want)
{
	char path[PATH_MAX], err[1024], full[PATH_MAX + 1024];
	struct config cfg;
	memset(&cfg, 0xa5, sizeof cfg);
	assert_int_equal(load_len(yaml, len, &cfg, err, sizeof err, path), -1);
	snprintf(full, sizeof full, "%s%s", path, want);
	assert_string_equal(err, full);
	assert_zeroed(&cfg);
}

static void expect_error(const char *yaml, const char *want)
{
	expect_error_len(yaml, strlen(yaml), want);
}

/* A growing text buffer for generated configurations. */
struct text {
	char *s;
	size_t len;
};

__attribute__((format(printf, 2, 3)))
static void text_add(struct text *t, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	assert_true(n >= 0);
	t->s = realloc(t->s, t->len + (size_t)n + 1);
	assert_non_null(t->s);
	va_start(ap, fmt);
	vsnprintf(t->s + t->len, (size_t)n + 1, fmt, ap);
	va_end(ap);
	t->len += (size_t)n;
}

#define PREFIX "prefix: \"KNOCK \"\n"
#define DOOR_HEAD "doors:\n  - name: ssh\n    sequence: [tcp/7000]\n    open: [tcp/22]\n"
#define DOOR DOOR_HEAD

/* ---- parsers ---------------------------------------------------------- */

static void test_duration(void **state)
{
	(void)state;
	assert_int_equal(config_parse_duration("0s"), 0);
	assert_int_equal(config_parse_duration("0ms"), 0);
	assert_int_equal(config_parse_duration("250ms"), 250000);
	assert_int_equal(config_parse_duration("1s"), 1000000);
	assert_int_equal(config_parse_duration("10s"), 10000000);
	assert_int_equal(config_parse_duration("5m"), INT64_C(300000000));
	assert_int_equal(config_parse_duration("1h"), INT64_C(3600000000));
	assert_int_equal(config_parse_duration("8760h"), INT64_C(31536000000000));	/* 365 days */
	assert_int_equal(config_parse_duration("525600m"), INT64_C(31536000000000));
	assert_int_equal(config_parse_duration("31536000000ms"), INT64_C(31536000000000));
	assert_int_equal(config_parse_duration("8761h"), -1);
	assert_int_equal(config_parse_duration("31536001s"), -1);
	assert_int_equal(config_parse_duration("99999999999999999999s"), -1);
	assert_int_equal(config_parse_duration("18446744073709551617ms"), -1);	/* 2^64 + 1 */
	assert_int_equal(config_parse_duration("10"), -1);
	assert_int_equal(config_parse_duration("10x"), -1);
	assert_int_equal(config_parse_duration("10sec"), -1);
	assert_int_equal(config_parse_duration("10ss"), -1);
	assert_int_equal(config_parse_duration("10S"), -1);
	assert_int_equal(config_parse_duration("s"), -1);
	assert_int_equal(config_parse_duration(""), -1);
	assert_int_equal(config_parse_duration("-1s"), -1);
	assert_int_equal(config_parse_duration("+1s"), -1);
	assert_int_equal(config_parse_duration(" 1s"), -1);
	assert_int_equal(config_parse_duration("1s "), -1);
	assert_int_equal(config_parse_duration("1 s"), -1);
	assert_int_equal(config_parse_duration("1.5s"), -1);
	assert_int_equal(config_parse_duration("1h30m"), -1);
	assert_int_equal(config_parse_duration(NULL), -1);
}

static void expect_port(const char *s, int proto, int port)
{
	struct port_spec ps = {0, 0};
	if (config_parse_port_spec(s, &ps) != 0)
		print_error("'%s' was rejected\n", s);
	assert_int_equal(config_parse_port_spec(s, &ps), 0);
	assert_int_equal(ps.proto, proto);
	assert_int_equal(ps.port, port);
}

static void expect_bad_port(const char *s)
{
	struct port_spec ps = {0, 0};
	if (config_parse_port_spec(s, &ps) != -1)
		print_error("'%s' was accepted\n", s);
	assert_int_equal(config_parse_port_spec(s, &ps), -1);
}

static void test_port_spec(void **state)
{
	(void)state;
	expect_port("tcp/22", IPPROTO_TCP, 22);
	expect_port("tcp/1", IPPROTO_TCP, 1);
	expect_port("tcp/65535", IPPROTO_TCP, 65535);
	expect_port("udp/8000", IPPROTO_UDP, 8000);
	expect_port("icmp/0", IPPROTO_ICMP, 0);
	expect_port("icmp/8", IPPROTO_ICMP, 8);
	expect_port("icmp/255", IPPROTO_ICMP, 255);
	expect_port("icmpv6/128", IPPROTO_ICMPV6, 128);
	expect_port("icmpv6/0", IPPROTO_ICMPV6, 0);

	expect_bad_port("tcp/0");
	expect_bad_port("udp/0");
	expect_bad_port("tcp/65536");
	expect_bad_port("tcp/70000");
	expect_bad_port("tcp/4294967318");	/* 2^32 + 22 */
	expect_bad_port("tcp/99999999999999999999999");
	expect_bad_port("icmp/256");
	expect_bad_port("icmpv6/256");
	expect_bad_port("tcp/");
	expect_bad_port("tcp");
	expect_bad_port("/22");
	expect_bad_port("22");
	expect_bad_port("tcp/-1");
	expect_bad_port("tcp/+22");
	expect_bad_port("tcp/ 22");
	expect_bad_port("tcp/22 ");
	expect_bad_port(" tcp/22");
	expect_bad_port("tcp /22");
	expect_bad_port("tcp/22/1");
	expect_bad_port("tcp/0x16");
	expect_bad_port("TCP/22");
	expect_bad_port("Tcp/22");
	expect_bad_port("sctp/22");
	expect_bad_port("tc/22");
	expect_bad_port("icmpv/8");
	expect_bad_port("");
	expect_bad_port(NULL);
}

/* ---- good configurations ---------------------------------------------- */

static void test_full_config(void **state)
{
	(void)state;
	static const char yaml[] =
		"sources:\n"
		"  - journal: kernel\n"
		"  - file: /var/log/kern.log\n"
		"    format: ulogd\n"
		"  - kmsg: true\n"
		"  - file: /var/log/syslog\n"
		"prefix: \"KNOCK \"\n"
		"patterns:\n"
		"  - '^(?<time>\\S+) fw: DROP src=(?<src>\\S+) dst=(?<dst>\\S+) proto=(?<proto>\\w+)'\n"
		"applier:\n"
		"  backend: command\n"
		"  program: /usr/libexec/logknock/logknock-apply\n"
		"  open:  [/usr/sbin/iptables, -I, INPUT, -s, \"%IP%\", -p, \"%PROTO%\", --dport, \"%PORT%\", -j, ACCEPT]\n"
		"  close: [/usr/sbin/iptables, -D, INPUT, -m, comment, --comment, \"%DOOR%/%FAMILY%/%SECONDS%s 100%\"]\n"
		"  timeout: 1500ms\n"
		"state_dir: /run/logknock\n"
		"max_sources: 10000000\n"
		"max_grants: 1\n"
		"doors:\n"
		"  - name: ssh\n"
		"    sequence: [tcp/7000, udp/8000, tcp/9000]\n"
		"    window: 10s\n"
		"    open: [tcp/22]\n"
		"    duration: 30s\n"
		"    dedup: 2s\n"
		"    tcp_flags: \"SYN,!ACK\"\n"
		"  - name: web.v6-1_x\n"
		"    sequence:\n"
		"      - icmp/8\n"
		"      - icmpv6/128\n"
		"    window: 1h\n"
		"    open: [tcp/80, tcp/443, udp/443]\n"
		"    duration: 8760h\n"
		"    dedup: 0s\n"
		"    tcp_flags: \"fin, !rst,Psh\"\n";
	struct config cfg;

	load_ok(yaml, &cfg);

	assert_int_equal(cfg.nsources, 4);
	assert_int_equal(cfg.sources[0].kind, SOURCE_JOURNAL);
	assert_string_equal(cfg.sources[0].arg, "kernel");
	assert_int_equal(cfg.sources[0].format, FORMAT_SYSLOG);
	assert_int_equal(cfg.sources[0].line, 2);
	assert_int_equal(cfg.sources[0].col, 5);
	assert_int_equal(cfg.sources[1].kind, SOURCE_FILE);
	assert_string_equal(cfg.sources[1].arg, "/var/log/kern.log");
	assert_int_equal(cfg.sources[1].format, FORMAT_ULOGD);
	assert_int_equal(cfg.sources[1].line, 3);
	assert_int_equal(cfg.sources[1].col, 5);
	assert_int_equal(cfg.sources[2].kind, SOURCE_KMSG);
	assert_null(cfg.sources[2].arg);
	assert_int_equal(cfg.sources[2].line, 5);
	assert_int_equal(cfg.sources[3].kind, SOURCE_FILE);
	assert_string_equal(cfg.sources[3].arg, "/var/log/syslog");
	assert_int_equal(cfg.sources[3].format, FORMAT_SYSLOG);

	assert_int_equal(cfg.nprefixes, 1);
	assert_string_equal(cfg.prefixes[0], "KNOCK ");

	assert_int_equal(cfg.npatterns, 1);
	assert_string_equal(cfg.patterns[0].regex,
			    "^(?<time>\\S+) fw: DROP src=(?<src>\\S+) dst=(?<dst>\\S+) proto=(?<proto>\\w+)");
	assert_int_equal(cfg.patterns[0].line, 9);
	assert_int_equal(cfg.patterns[0].col, 5);

	assert_int_equal(cfg.applier.backend, BACKEND_COMMAND);
	assert_string_equal(cfg.applier.program, "/usr/libexec/logknock/logknock-apply");
	static const char *const open_argv[] = {"/usr/sbin/iptables", "-I", "INPUT", "-s", "%IP%", "-p",
						"%PROTO%", "--dport", "%PORT%", "-j", "ACCEPT"};
	for (size_t i = 0; i < ARRAY_SIZE(open_argv); i++)
		assert_string_equal(cfg.applier.open_argv[i], open_argv[i]);
	assert_null(cfg.applier.open_argv[ARRAY_SIZE(open_argv)]);
	static const char *const close_argv[] = {"/usr/sbin/iptables", "-D", "INPUT", "-m", "comment",
						 "--comment", "%DOOR%/%FAMILY%/%SECONDS%s 100%"};
	for (size_t i = 0; i < ARRAY_SIZE(close_argv); i++)
		assert_string_equal(cfg.applier.close_argv[i], close_argv[i]);
	assert_null(cfg.applier.close_argv[ARRAY_SIZE(close_argv)]);
	assert_int_equal(cfg.applier.timeout_us, 1500000);

	assert_string_equal(cfg.state_dir, "/run/logknock");
	assert_int_equal(cfg.max_sources, 10000000);
	assert_int_equal(cfg.max_grants, 1);

	assert_int_equal(cfg.ndoors, 2);
	const struct door_conf *d = &cfg.doors[0];
	assert_string_equal(d->name, "ssh");
	assert_int_equal(d->line, 20);
	assert_int_equal(d->col, 5);
	assert_int_equal(d->nseq, 3);
	assert_int_equal(d->seq[0].proto, IPPROTO_TCP);
	assert_int_equal(d->seq[0].port, 7000);
	assert_int_equal(d->seq[1].proto, IPPROTO_UDP);
	assert_int_equal(d->seq[1].port, 8000);
	assert_int_equal(d->seq[2].proto, IPPROTO_TCP);
	assert_int_equal(d->seq[2].port, 9000);
	assert_int_equal(d->nopen, 1);
	assert_int_equal(d->open[0].proto, IPPROTO_TCP);
	assert_int_equal(d->open[0].port, 22);
	assert_int_equal(d->window_us, 10000000);
	assert_int_equal(d->duration_us, 30000000);
	assert_int_equal(d->dedup_us, 2000000);
	assert_int_equal(d->flags_set, KNOCK_SYN);
	assert_int_equal(d->flags_clear, KNOCK_ACK);

	d = &cfg.doors[1];
	assert_string_equal(d->name, "web.v6-1_x");
	assert_int_equal(d->line, 27);
	assert_int_equal(d->col, 5);
	assert_int_equal(d->nseq, 2);
	assert_int_equal(d->seq[0].proto, IPPROTO_ICMP);
	assert_int_equal(d->seq[0].port, 8);
	assert_int_equal(d->seq[1].proto, IPPROTO_ICMPV6);
	assert_int_equal(d->seq[1].port, 128);
	assert_int_equal(d->nopen, 3);
	assert_int_equal(d->open[0].port, 80);
	assert_int_equal(d->open[1].port, 443);
	assert_int_equal(d->open[1].proto, IPPROTO_TCP);
	assert_int_equal(d->open[2].port, 443);
	assert_int_equal(d->open[2].proto, IPPROTO_UDP);
	assert_int_equal(d->window_us, INT64_C(3600000000));
	assert_int_equal(d->duration_us, INT64_C(31536000000000));
	assert_int_equal(d->dedup_us, 0);
	assert_int_equal(d->flags_set, KNOCK_FIN | KNOCK_PSH);
	assert_int_equal(d->flags_clear, KNOCK_RST);

	config_free(&cfg);
	assert_zeroed(&cfg);
	config_free(&cfg);	/* a freed config frees again harmlessly */
	assert_zeroed(&cfg);
}

static void test_defaults(void **state)
{
	(void)state;
	struct config cfg;

	load_ok(PREFIX DOOR, &cfg);
	assert_int_equal(cfg.nsources, 0);
	assert_null(cfg.sources);
	assert_int_equal(cfg.npatterns, 0);
	assert_null(cfg.patterns);
	assert_int_equal(cfg.nprefixes, 1);
	assert_int_equal(cfg.applier.backend, BACKEND_LOG);
	assert_null(cfg.applier.program);
	assert_null(cfg.applier.open_argv);
	assert_null(cfg.applier.close_argv);
	assert_int_equal(cfg.applier.timeout_us, 5000000);
	assert_non_null(cfg.state_dir);
#ifdef LOGKNOCK_STATEDIR
	assert_string_equal(cfg.state_dir, LOGKNOCK_STATEDIR);
#else
	assert_string_equal(cfg.state_dir, "/var/lib/logknock");
#endif
	assert_int_equal(cfg.max_sources, 65536);
	assert_int_equal(cfg.max_grants, 4096);
	assert_int_equal(cfg.ndoors, 1);
	assert_int_equal(cfg.doors[0].window_us, 10000000);
	assert_int_equal(cfg.doors[0].duration_us, 30000000);
	assert_int_equal(cfg.doors[0].dedup_us, 2000000);
	assert_int_equal(cfg.doors[0].flags_set, KNOCK_SYN);
	assert_int_equal(cfg.doors[0].flags_clear, KNOCK_ACK);
	assert_int_equal(cfg.doors[0].line, 3);
	assert_int_equal(cfg.doors[0].col, 5);
	config_free(&cfg);
	assert_zeroed(&cfg);
}

/* The default dedup (2 s) never exceeds a shorter window. */
static void test_dedup_default_short_window(void **state)
{
	(void)state;
	struct config cfg;
	load_ok(PREFIX DOOR_HEAD "    window: 1s\n", &cfg);
	assert_int_equal(cfg.doors[0].window_us, 1000000);
	assert_int_equal(cfg.doors[0].dedup_us, 1000000);
	config_free(&cfg);
}

static void test_prefix_list(void **state)
{
	(void)state;
	struct config cfg;
	load_ok("prefix:\n  - \"KNOCK \"\n  - 'fw-knock: '\n  - x\n" DOOR, &cfg);
	assert_int_equal(cfg.nprefixes, 3);
	assert_string_equal(cfg.prefixes[0], "KNOCK ");
	assert_string_equal(cfg.prefixes[1], "fw-knock: ");
	assert_string_equal(cfg.prefixes[2], "x");
	config_free(&cfg);

	/* 16 prefixes of 64 bytes each are the limits. */
	struct text t = {0};
	text_add(&t, "prefix:\n");
	for (int i = 0; i < 16; i++)
		text_add(&t, "  - %c%063d\n", 'a' + i, i);
	text_add(&t, DOOR);
	load_ok(t.s, &cfg);
	assert_int_equal(cfg.nprefixes, 16);
	assert_int_equal(strlen(cfg.prefixes[15]), 64);
	assert_int_equal(cfg.prefixes[15][0], 'p');
	config_free(&cfg);
	free(t.s);

	/* An empty prefix: LOG rules without --log-prefix. */
	load_ok("prefix: \"\"\n" DOOR, &cfg);
	assert_int_equal(cfg.nprefixes, 1);
	assert_string_equal(cfg.prefixes[0], "");
	config_free(&cfg);
}

/* patterns: make prefix optional. */
static void test_patterns_without_prefix(void **state)
{
	(void)state;
	struct config cfg;
	load_ok("patterns: ['src=(?<src>\\S+) dst=(?<dst>\\S+)', \"b\"]\n" DOOR, &cfg);
	assert_int_equal(cfg.nprefixes, 0);
	assert_null(cfg.prefixes);
	assert_int_equal(cfg.npatterns, 2);
	assert_string_equal(cfg.patterns[0].regex, "src=(?<src>\\S+) dst=(?<dst>\\S+)");
	assert_int_equal(cfg.patterns[0].line, 1);
	assert_int_equal(cfg.patterns[0].col, 12);
	assert_string_equal(cfg.patterns[1].regex, "b");
	assert_int_equal(cfg.patterns[1].col, 47);
	config_free(&cfg);
}

static void test_tcp_flags(void **state)
{
	(void)state;
	static const struct {
		const char *flags;
		uint8_t set, clear;
	} cases[] = {
		{"\"SYN,!ACK\"", KNOCK_SYN, KNOCK_ACK},
		{"any", 0, 0},
		{"ANY", 0, 0},
		{"syn", KNOCK_SYN, 0},
		{"\"!syn\"", 0, KNOCK_SYN},
		{"\"SYN, !ACK, !RST\"", KNOCK_SYN, KNOCK_ACK | KNOCK_RST},
		{"FIN,SYN,RST,PSH,ACK,URG,ECE,CWR", 0xff, 0},
		{"\"!fin,!syn,!rst,!psh,!ack,!urg,!ece,!cwr\"", 0, 0xff},
		{"SYN,SYN", KNOCK_SYN, 0},
	};
	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		char yaml[512];
		struct config cfg;
		snprintf(yaml, sizeof yaml, PREFIX DOOR_HEAD "    tcp_flags: %s\n", cases[i].flags);
		load_ok(yaml, &cfg);
		assert_int_equal(cfg.doors[0].flags_set, cases[i].set);
		assert_int_equal(cfg.doors[0].flags_clear, cases[i].clear);
		config_free(&cfg);
	}
}

static void test_privileges_and_stop(void **state)
{
	(void)state;
	struct config cfg;
	load_ok("user: logknock\nkeep_open_on_exit: yes\nsources:\n  - file: \"-\"\n"
		"applier:\n  command: [/usr/bin/sudo, -n]\n  config: /etc/logknock/apply.yaml\n" PREFIX DOOR, &cfg);
	assert_string_equal(cfg.user, "logknock");
	assert_true(cfg.keep_open_on_exit);
	assert_int_equal(cfg.nsources, 1);
	assert_string_equal(cfg.sources[0].arg, "-");
	assert_string_equal(cfg.applier.config, "/etc/logknock/apply.yaml");
	assert_string_equal(cfg.applier.command_argv[0], "/usr/bin/sudo");
	assert_string_equal(cfg.applier.command_argv[1], "-n");
	assert_null(cfg.applier.command_argv[2]);
	config_free(&cfg);
	/* A prefix that is no privilege tool (another network namespace) keeps the settings here. */
	load_ok("applier:\n  backend: nft\n  command: [/usr/bin/nsenter, --net=/run/netns/x]\n" PREFIX DOOR, &cfg);
	assert_int_equal(cfg.applier.backend, BACKEND_NFT);
	assert_null(cfg.applier.config);
	config_free(&cfg);

	load_ok(PREFIX DOOR, &cfg);
	assert_null(cfg.user);
	assert_false(cfg.keep_open_on_exit);
	assert_null(cfg.applier.command_argv);
	config_free(&cfg);
}

static void test_kmsg_false_omitted(void **state)
{
	(void)state;
	struct config cfg;
	load_ok("sources:\n  - kmsg: false\n  - file: /var/log/kern.log\n" PREFIX DOOR, &cfg);
	assert_int_equal(cfg.nsources, 1);
	assert_int_equal(cfg.sources[0].kind, SOURCE_FILE);
	assert_int_equal(cfg.sources[0].line, 3);
	config_free(&cfg);

	load_ok("sources: []\n" PREFIX DOOR, &cfg);
	assert_int_equal(cfg.nsources, 0);
	config_free(&cfg);
}

/* kernel_only (file sources) and accept_nf_log_all_netns: both default
 * false; which sources read the kernel's log, which may be forged. */
static void test_kernel_log_keys(void **state)
{
	(void)state;
	struct config cfg;
	load_ok("accept_nf_log_all_netns: true\nsources:\n"
		"  - file: /var/log/logknock.log\n    kernel_only: true\n"
		"  - file: /var/log/kern.log\n    kernel_only: false\n"
		"  - file: /var/log/ulog/logknock.log\n    format: ulogd\n"
		"  - kmsg: true\n  - journal: kernel\n"
		"  - file: \"-\"\n    kernel_only: yes\n" PREFIX DOOR, &cfg);
	assert_true(cfg.accept_nf_log_all_netns);
	assert_int_equal(cfg.nsources, 6);
	assert_true(cfg.sources[0].kernel_only);
	assert_false(cfg.sources[1].kernel_only);
	assert_false(cfg.sources[2].kernel_only);
	assert_true(cfg.sources[5].kernel_only);
	/* Every source but the ulogd file reads the kernel's log. */
	assert_true(config_source_reads_kernel_log(&cfg.sources[0]));
	assert_true(config_source_reads_kernel_log(&cfg.sources[1]));
	assert_false(config_source_reads_kernel_log(&cfg.sources[2]));
	assert_true(config_source_reads_kernel_log(&cfg.sources[3]));
	assert_true(config_source_reads_kernel_log(&cfg.sources[4]));
	assert_true(config_source_reads_kernel_log(&cfg.sources[5]));
	/* Only the syslog file not stated kernel_only takes /dev/log's lines. */
	assert_false(config_source_forgeable(&cfg.sources[0]));
	assert_true(config_source_forgeable(&cfg.sources[1]));
	assert_false(config_source_forgeable(&cfg.sources[2]));
	assert_false(config_source_forgeable(&cfg.sources[3]));
	assert_false(config_source_forgeable(&cfg.sources[4]));
	assert_false(config_source_forgeable(&cfg.sources[5]));
	config_free(&cfg);

	load_ok("sources:\n  - file: /var/log/kern.log\n" PREFIX DOOR, &cfg);
	assert_false(cfg.accept_nf_log_all_netns);
	assert_false(cfg.sources[0].kernel_only);
	assert_true(config_source_forgeable(&cfg.sources[0]));
	config_free(&cfg);

	load_ok("accept_nf_log_all_netns: off\n" PREFIX DOOR, &cfg);
	assert_false(cfg.accept_nf_log_all_netns);
	config_free(&cfg);
}

/* Anchors and aliases are plain YAML: a shared list works for two doors. */
static void test_aliases(void **state)
{
	(void)state;
	struct config cfg;
	load_ok(PREFIX "doors:\n"
		"  - name: a\n    sequence: &seq [tcp/1, tcp/2]\n    open: &open [tcp/22]\n"
		"  - name: b\n    sequence: *seq\n    open: *open\n", &cfg);
	assert_int_equal(cfg.ndoors, 2);
	assert_int_equal(cfg.doors[1].nseq, 2);
	assert_int_equal(cfg.doors[1].seq[1].port, 2);
	assert_int_equal(cfg.doors[1].open[0].port, 22);
	config_free(&cfg);
}

/* The most doors, sources and patterns, and the longest sequence, load. */
static void test_limits_ok(void **state)
{
	(void)state;
	struct text t = {0};
	struct config cfg;

	text_add(&t, "sources:\n");
	for (int i = 0; i < 64; i++)
		text_add(&t, "  - file: /var/log/k%d\n", i);
	text_add(&t, "patterns:\n");
	for (int i = 0; i < 64; i++)
		text_add(&t, "  - 'p%d'\n", i);
	text_add(&t, "doors:\n");
	for (int i = 0; i < 256; i++) {
		text_add(&t, "  - {name: d%d, open: [tcp/22], sequence: [", i);
		for (int j = 0; j < 32; j++)
			text_add(&t, "%stcp/%d", j ? ", " : "", 1000 + j);
		text_add(&t, "]}\n");
	}
	load_ok(t.s, &cfg);
	assert_int_equal(cfg.nsources, 64);
	assert_int_equal(cfg.npatterns, 64);
	assert_int_equal(cfg.ndoors, 256);
	assert_string_equal(cfg.doors[255].name, "d255");
	assert_int_equal(cfg.doors[255].nseq, 32);
	assert_int_equal(cfg.doors[255].seq[31].port, 1031);
	config_free(&cfg);
	free(t.s);
}

/* control: and metrics: (doc/logknockd.yaml.5) */
static void test_control_metrics(void **state)
{
	(void)state;
	struct config cfg;

	load_ok(PREFIX DOOR, &cfg);
	assert_null(cfg.control.socket);	/* the default path */
	assert_null(cfg.control.group);
	assert_null(cfg.control.read_group);
	assert_null(cfg.metrics.file);
	assert_int_equal(cfg.metrics.interval_us, 15000000);
	config_free(&cfg);

	load_ok("control:\n  socket: /run/lk/control\n  group: root\n  read_group: root\n"
		"metrics:\n  file: /var/lib/node/logknock.prom\n  interval: 1s\n" PREFIX DOOR, &cfg);
	assert_string_equal(cfg.control.socket, "/run/lk/control");
	assert_string_equal(cfg.control.group, "root");
	assert_int_equal(cfg.control.group_gid, 0);
	assert_string_equal(cfg.control.read_group, "root");
	assert_int_equal(cfg.control.read_group_gid, 0);
	assert_string_equal(cfg.metrics.file, "/var/lib/node/logknock.prom");
	assert_int_equal(cfg.metrics.interval_us, 1000000);
	config_free(&cfg);
	assert_zeroed(&cfg);

	/* "" and null: no socket at all */
	load_ok("control:\n  socket: \"\"\n" PREFIX DOOR, &cfg);
	assert_string_equal(cfg.control.socket, "");
	config_free(&cfg);
	load_ok("control:\n  socket:\n" PREFIX DOOR, &cfg);
	assert_string_equal(cfg.control.socket, "");
	config_free(&cfg);
	load_ok("control: {}\n" PREFIX DOOR, &cfg);
	assert_null(cfg.control.socket);
	config_free(&cfg);
}

/* ---- errors ----------------------------------------------------------- */

#define BAD_PORT "expected tcp/N or udp/N with N 1-65535, or icmp/T, icmpv6/T"
#define BAD_DURATION "expected a number with ms, s, m or h"
#define BAD_FLAG "expected any, or FIN SYN RST PSH ACK URG ECE CWR separated by commas, " \
	"'!' before a flag that must be clear, each flag once"

struct error_case {
	const char *name;
	const char *yaml;
	const char *want;	/* the message after the file name */
};

static const struct error_case error_cases[] = {
	/* the top level */
	{"empty file", "", ":1:1: expected a mapping at the top level"},
	{"user not a name", "user: \"root; rm\"\n" PREFIX DOOR, ":1:7: user: expected a user name"},
	{"keep_open_on_exit not a boolean", "keep_open_on_exit: maybe\n" PREFIX DOOR,
	 ":1:20: keep_open_on_exit: expected true or false"},
	{"applier command relative", "applier:\n  command: [sudo, -n]\n" PREFIX DOOR,
	 ":2:13: applier: command: the program must be an absolute path"},
	{"applier through sudo with its settings here", "applier:\n  backend: nft\n  command: [/usr/bin/sudo, -n]\n" PREFIX DOOR,
	 ":3:12: applier: command: through sudo the applier takes no settings from logknockd: put them in its own "
	 "root-owned file and name it with 'config: " LOGKNOCK_SYSCONFDIR "/apply.yaml'"},
	{"applier config with a backend", "applier:\n  config: /etc/logknock/apply.yaml\n  backend: nft\n" PREFIX DOOR,
	 ":3:3: applier: backend: not with 'config': the applier takes its settings from that file only (put backend there)"},
	{"applier config with templates", "applier:\n  config: /etc/logknock/apply.yaml\n  open: [/bin/true]\n" PREFIX DOOR,
	 ":3:3: applier: open: not with 'config': the applier takes its settings from that file only (put open there)"},
	{"applier config relative", "applier:\n  config: apply.yaml\n" PREFIX DOOR,
	 ":2:11: applier: config: expected an absolute path, like " LOGKNOCK_SYSCONFDIR "/apply.yaml"},
	{"only a comment", "# nothing here\n", ":1:1: expected a mapping at the top level"},
	{"scalar document", "hello\n", ":1:1: expected a mapping at the top level"},
	{"list document", "- a\n- b\n", ":1:1: expected a mapping at the top level"},
	{"two documents", PREFIX DOOR "---\nfoo: 1\n", ":6:1: expected a single YAML document"},
	{"unknown top key", PREFIX "foo: 1\n" DOOR, ":2:1: unknown key 'foo'"},
	{"unknown key with a line break", PREFIX "\"a\\nb\": 1\n" DOOR, ":2:1: unknown key 'a?b'"},
	{"duplicate top key", PREFIX PREFIX DOOR, ":2:1: duplicate key 'prefix' (first at 1:1)"},
	{"key that is not a string", "? [a]\n: b\n", ":1:3: expected a key name"},
	{"missing doors", PREFIX, ":1:1: missing 'doors'"},
	{"missing prefix", DOOR, ":1:1: missing 'prefix' (needed unless 'patterns' is given)"},
	{"missing prefix, empty patterns", "patterns: []\n" DOOR,
	 ":1:1: missing 'prefix' (needed unless 'patterns' is given)"},

	/* YAML syntax */
	{"unclosed flow sequence", PREFIX "doors: [\n",
	 ":3:1: did not find expected node content (while parsing a flow node at 3:1)"},
	{"bad indentation", "prefix: a\n  b: c\n",
	 ":2:4: mapping values are not allowed in this context"},
	{"invalid UTF-8", "prefix: \xff\n", ":1:9: invalid leading UTF-8 octet (byte 0xFF)"},
	{"undefined alias", PREFIX "doors: *nothing\n", ":2:8: found undefined alias"},
	{"nested too deeply", PREFIX "doors: [[[[[[[[[[[[[[[[[[[[[[[[\n", ":2:23: nested more than 16 levels deep"},

	/* doors */
	{"doors is a scalar", PREFIX "doors: ssh\n", ":2:8: doors: expected a list of doors"},
	{"doors is a mapping", PREFIX "doors:\n  name: ssh\n", ":3:3: doors: expected a list of doors"},
	{"doors is empty", PREFIX "doors: []\n", ":2:8: doors: expected at least one door"},
	{"door is a scalar", PREFIX "doors:\n  - ssh\n",
	 ":3:5: door #1: expected a mapping with name, sequence and open"},
	{"door without a name", PREFIX "doors:\n  - sequence: [tcp/7000]\n    open: [tcp/22]\n",
	 ":3:5: door #1: missing 'name'"},
	{"door name with a space", PREFIX "doors:\n  - name: \"bad name\"\n    sequence: [tcp/7000]\n    open: [tcp/22]\n",
	 ":3:11: door #1: name: expected 1 to 64 letters, digits, '_', '.' or '-', beginning with a letter, a digit or '_'"},
	{"door name too long", PREFIX "doors:\n  - name: "
	 "a2345678901234567890123456789012345678901234567890123456789012345\n"
	 "    sequence: [tcp/7000]\n    open: [tcp/22]\n",
	 ":3:11: door #1: name: expected 1 to 64 letters, digits, '_', '.' or '-', beginning with a letter, a digit or '_'"},
	{"door name like an option", PREFIX "doors:\n  - name: -rf\n    sequence: [tcp/7000]\n    open: [tcp/22]\n",
	 ":3:11: door #1: name: expected 1 to 64 letters, digits, '_', '.' or '-', beginning with a letter, a digit or '_'"},
	{"door name .", PREFIX "doors:\n  - name: .\n    sequence: [tcp/7000]\n    open: [tcp/22]\n",
	 ":3:11: door #1: name: expected 1 to 64 letters, digits, '_', '.' or '-', beginning with a letter, a digit or '_'"},
	{"door name ..", PREFIX "doors:\n  - name: \"..\"\n    sequence: [tcp/7000]\n    open: [tcp/22]\n",
	 ":3:11: door #1: name: expected 1 to 64 letters, digits, '_', '.' or '-', beginning with a letter, a digit or '_'"},
	{"door name beginning with a dot", PREFIX "doors:\n  - name: .ssh\n    sequence: [tcp/7000]\n    open: [tcp/22]\n",
	 ":3:11: door #1: name: expected 1 to 64 letters, digits, '_', '.' or '-', beginning with a letter, a digit or '_'"},
	{"door name is a list", PREFIX "doors:\n  - name: [ssh]\n    sequence: [tcp/7000]\n    open: [tcp/22]\n",
	 ":3:11: door #1: name: expected 1 to 64 letters, digits, '_', '.' or '-', beginning with a letter, a digit or '_'"},
	{"duplicate door name", PREFIX DOOR "  - name: ssh\n    sequence: [tcp/7001]\n    open: [tcp/22]\n",
	 ":6:11: door 'ssh': duplicate door name (first at 3:5)"},
	{"door without a sequence", PREFIX "doors:\n  - name: ssh\n    open: [tcp/22]\n",
	 ":3:5: door 'ssh': missing 'sequence' (or one_time, totp, encrypted)"},
	{"door without open", PREFIX "doors:\n  - name: ssh\n    sequence: [tcp/7000]\n",
	 ":3:5: door 'ssh': missing 'open' (or forward, dnat)"},
	{"forward not a list", PREFIX DOOR_HEAD "    forward: 10.0.0.2\n",
	 ":6:14: door 'ssh': forward: expected a list of 1 to 32 entries like [{to: 10.0.0.2, port: tcp/22}]"},
	{"forward without port", PREFIX DOOR_HEAD "    forward: [{to: 10.0.0.2}]\n",
	 ":6:15: door 'ssh': forward: missing 'port'"},
	{"forward icmp", PREFIX DOOR_HEAD "    forward: [{to: 10.0.0.2, port: icmp/8}]\n",
	 ":6:36: door 'ssh': forward: port: expected tcp/PORT or udp/PORT, not 'icmp/8'"},
	{"forward bad address", PREFIX DOOR_HEAD "    forward: [{to: 10.0.0.256, port: tcp/22}]\n",
	 ":6:20: door 'ssh': forward: to: expected an IPv4 or IPv6 address, not '10.0.0.256'"},
	{"forward twice", PREFIX DOOR_HEAD "    forward: [{to: 10.0.0.2, port: tcp/22}, {to: 10.0.0.2, port: tcp/22}]\n",
	 ":6:45: door 'ssh': forward: this entry is listed twice"},
	{"forward unknown key", PREFIX DOOR_HEAD "    forward: [{to: 10.0.0.2, port: tcp/22, via: x}]\n",
	 ":6:44: door 'ssh': forward: unknown key 'via'"},
	{"dnat without port", PREFIX DOOR_HEAD "    dnat: [{listen: tcp/2222, to: 10.0.0.2}]\n",
	 ":6:35: door 'ssh': dnat: to: expected ADDRESS:PORT, like 10.0.0.2:22 or [2001:db8::2]:22, not '10.0.0.2'"},
	{"dnat bare IPv6", PREFIX DOOR_HEAD "    dnat: [{listen: tcp/2222, to: \"2001:db8::2:22\"}]\n",
	 ":6:35: door 'ssh': dnat: to: expected ADDRESS:PORT, like 10.0.0.2:22 or [2001:db8::2]:22, not '2001:db8::2:22'"},
	{"dnat port 0", PREFIX DOOR_HEAD "    dnat: [{listen: tcp/2222, to: \"[2001:db8::2]:0\"}]\n",
	 ":6:35: door 'ssh': dnat: to: expected ADDRESS:PORT, like 10.0.0.2:22 or [2001:db8::2]:22, not '[2001:db8::2]:0'"},
	{"dnat one listen twice", PREFIX DOOR_HEAD
	 "    dnat: [{listen: tcp/2222, to: \"10.0.0.2:22\"}, {listen: tcp/2222, to: \"10.0.0.3:22\"}]\n",
	 ":6:51: door 'ssh': dnat: this listen: port is listed twice"},
	{"dnat masquerade not a bool", PREFIX DOOR_HEAD
	 "    dnat: [{listen: tcp/2222, to: \"10.0.0.2:22\", masquerade: maybe}]\n",
	 ":6:62: door 'ssh': dnat: masquerade: expected true or false"},
	{"keep_established without gateway", PREFIX DOOR_HEAD "    keep_established: false\n",
	 ":6:23: door 'ssh': keep_established: only for doors with forward or dnat"},
	{"encrypted door needs open", PREFIX "doors:\n  - name: e\n    encrypted: {key: /nonexistent}\n"
	 "    forward: [{to: 10.0.0.2, port: tcp/22}]\n",
	 ":3:5: door 'e': missing 'open'"},
	{"unknown door key", PREFIX DOOR_HEAD "    windo: 5s\n", ":6:5: door 'ssh': unknown key 'windo'"},
	{"unknown key in a nameless door", PREFIX "doors:\n  - {nme: ssh}\n", ":3:6: door #1: unknown key 'nme'"},
	{"duplicate door key", PREFIX DOOR_HEAD "    open: [tcp/23]\n",
	 ":6:5: door 'ssh': duplicate key 'open' (first at 5:5)"},
	{"sequence is a scalar", PREFIX "doors:\n  - name: ssh\n    sequence: tcp/7000\n    open: [tcp/22]\n",
	 ":4:15: door 'ssh': sequence: expected a list like [tcp/7000, udp/8000]"},
	{"sequence is empty", PREFIX "doors:\n  - name: ssh\n    sequence: []\n    open: [tcp/22]\n",
	 ":4:15: door 'ssh': sequence: expected 1 to 32 entries"},
	{"sequence step is a list", PREFIX "doors:\n  - name: ssh\n    sequence: [[tcp/1]]\n    open: [tcp/22]\n",
	 ":4:16: door 'ssh': sequence: expected a port like tcp/22"},
	{"port out of range", PREFIX "doors:\n  - name: ssh\n    sequence: [tcp/7000, tcp/70000]\n    open: [tcp/22]\n",
	 ":4:26: door 'ssh': sequence: bad port 'tcp/70000': " BAD_PORT},
	{"port with a space", PREFIX "doors:\n  - name: ssh\n    sequence:\n      - tcp/7000\n      - \"tcp/ 22\"\n    open: [tcp/22]\n",
	 ":6:9: door 'ssh': sequence: bad port 'tcp/ 22': " BAD_PORT},
	{"port 0", PREFIX "doors:\n  - name: ssh\n    sequence: [tcp/7000]\n    open: [tcp/0]\n",
	 ":5:12: door 'ssh': open: bad port 'tcp/0': " BAD_PORT},
	{"port with a sign", PREFIX "doors:\n  - name: ssh\n    sequence: [tcp/7000]\n    open: [tcp/-1]\n",
	 ":5:12: door 'ssh': open: bad port 'tcp/-1': " BAD_PORT},
	{"open is a scalar", PREFIX "doors:\n  - name: ssh\n    sequence: [tcp/7000]\n    open: tcp/22\n",
	 ":5:11: door 'ssh': open: expected a list like [tcp/22]"},
	{"open twice the same port", PREFIX "doors:\n  - name: ssh\n    sequence: [tcp/7000]\n    open: [tcp/22, tcp/22]\n",
	 ":5:20: door 'ssh': open: 'tcp/22' is listed twice"},
	{"bad window", PREFIX DOOR_HEAD "    window: 10x\n",
	 ":6:13: door 'ssh': window: bad duration '10x': " BAD_DURATION},
	{"window without a unit", PREFIX DOOR_HEAD "    window: 10\n",
	 ":6:13: door 'ssh': window: bad duration '10': " BAD_DURATION},
	{"window is a list", PREFIX DOOR_HEAD "    window: [10s]\n",
	 ":6:13: door 'ssh': window: expected a duration like 10s"},
	{"window 0", PREFIX DOOR_HEAD "    window: 0s\n",
	 ":6:13: door 'ssh': window: must be more than 0 and at most 1h"},
	{"window over 1h", PREFIX DOOR_HEAD "    window: 61m\n",
	 ":6:13: door 'ssh': window: must be more than 0 and at most 1h"},
	{"duration 0", PREFIX DOOR_HEAD "    duration: 0s\n", ":6:15: door 'ssh': duration: must be more than 0"},
	{"duration over a year", PREFIX DOOR_HEAD "    duration: 8761h\n",
	 ":6:15: door 'ssh': duration: bad duration '8761h': more than 365 days"},
	{"duration overflows", PREFIX DOOR_HEAD "    duration: 99999999999999999999s\n",
	 ":6:15: door 'ssh': duration: bad duration '99999999999999999999s': more than 365 days"},
	{"negative duration", PREFIX DOOR_HEAD "    duration: -5s\n",
	 ":6:15: door 'ssh': duration: bad duration '-5s': " BAD_DURATION},
	{"dedup longer than window", PREFIX DOOR_HEAD "    window: 5s\n    dedup: 6s\n",
	 ":7:12: door 'ssh': dedup: must not be longer than the window"},
	{"tcp_flags BOGUS", PREFIX DOOR_HEAD "    tcp_flags: BOGUS\n",
	 ":6:16: door 'ssh': tcp_flags: bad flag 'BOGUS': " BAD_FLAG},
	{"tcp_flags set and clear", PREFIX DOOR_HEAD "    tcp_flags: \"SYN,!SYN\"\n",
	 ":6:16: door 'ssh': tcp_flags: bad flag '!SYN': " BAD_FLAG},
	{"tcp_flags empty item", PREFIX DOOR_HEAD "    tcp_flags: \"SYN,,ACK\"\n",
	 ":6:16: door 'ssh': tcp_flags: bad flag '': " BAD_FLAG},
	{"tcp_flags any with more", PREFIX DOOR_HEAD "    tcp_flags: \"any,SYN\"\n",
	 ":6:16: door 'ssh': tcp_flags: bad flag 'any': " BAD_FLAG},
	{"tcp_flags empty", PREFIX DOOR_HEAD "    tcp_flags: \"\"\n",
	 ":6:16: door 'ssh': tcp_flags: bad flag '': " BAD_FLAG},

	/* sources */
	{"sources is a scalar", "sources: /var/log/kern.log\n" PREFIX DOOR,
	 ":1:10: sources: expected a list of sources"},
	{"source is a scalar", "sources:\n  - /var/log/kern.log\n" PREFIX DOOR,
	 ":2:5: source #1: expected a mapping like {file: /var/log/kern.log}"},
	{"source of two kinds", "sources:\n  - file: /var/log/kern.log\n    journal: kernel\n" PREFIX DOOR,
	 ":3:5: source #1: expected exactly one of file, journal or kmsg"},
	{"source of no kind", "sources:\n  - format: ulogd\n" PREFIX DOOR,
	 ":2:5: source #1: expected exactly one of file, journal or kmsg"},
	{"unknown source key", "sources:\n  - file: /var/log/kern.log\n    formt: ulogd\n" PREFIX DOOR,
	 ":3:5: source #1: unknown key 'formt'"},
	{"relative file", "sources:\n  - journal: kernel\n  - file: kern.log\n" PREFIX DOOR,
	 ":3:11: source #2: file: expected an absolute path, or \"-\" (quoted) for standard input"},
	{"journal other than kernel", "sources:\n  - journal: all\n" PREFIX DOOR,
	 ":2:14: source #1: journal: expected kernel"},
	{"kmsg not a boolean", "sources:\n  - kmsg: maybe\n" PREFIX DOOR,
	 ":2:11: source #1: kmsg: expected true or false"},
	{"bad format", "sources:\n  - file: /var/log/kern.log\n    format: json\n" PREFIX DOOR,
	 ":3:13: source #1: format: expected syslog or ulogd"},
	{"format on a journal source", "sources:\n  - journal: kernel\n    format: ulogd\n" PREFIX DOOR,
	 ":3:5: source #1: format: only file sources have a format"},
	{"kernel_only on a journal source", "sources:\n  - journal: kernel\n    kernel_only: true\n" PREFIX DOOR,
	 ":3:5: source #1: kernel_only: only file sources have it (journal and kmsg read the kernel's own log)"},
	{"kernel_only on a kmsg source", "sources:\n  - kmsg: true\n    kernel_only: false\n" PREFIX DOOR,
	 ":3:5: source #1: kernel_only: only file sources have it (journal and kmsg read the kernel's own log)"},
	{"kernel_only on a ulogd file", "sources:\n  - file: /var/log/ulog/x.log\n    kernel_only: true\n"
	 "    format: ulogd\n" PREFIX DOOR,
	 ":3:5: source #1: kernel_only: a ulogd file is written by ulogd alone; the key is for syslog files"},
	{"kernel_only not a boolean", "sources:\n  - file: /var/log/kern.log\n    kernel_only: imkmsg\n" PREFIX DOOR,
	 ":3:18: source #1: kernel_only: expected true or false"},
	{"accept_nf_log_all_netns not a boolean", "accept_nf_log_all_netns: 1\n" PREFIX DOOR,
	 ":1:26: accept_nf_log_all_netns: expected true or false"},
	{"accept_nf_log_all_netns misspelt", "accept_nf_log_all_netn: true\n" PREFIX DOOR,
	 ":1:1: unknown key 'accept_nf_log_all_netn'"},
	{"same source twice", "sources:\n  - file: /var/log/kern.log\n  - file: /var/log/kern.log\n" PREFIX DOOR,
	 ":3:5: source #2: the same source as at 2:5"},

	/* prefix, patterns */
	{"null prefix", "prefix: ~\n" DOOR, ":1:9: prefix: expected a string or a list of them"},
	{"prefix mapping", "prefix: {a: b}\n" DOOR, ":1:9: prefix: expected a string or a list of them"},
	{"prefix empty list", "prefix: []\n" DOOR, ":1:9: prefix: expected a string or a list of them"},
	{"prefix too long", "prefix: a2345678901234567890123456789012345678901234567890123456789012345\n" DOOR,
	 ":1:9: prefix: longer than 64 bytes"},
	{"prefix with a newline", "prefix: \"a\\nb\"\n" DOOR, ":1:9: prefix: must not contain a line break"},
	{"prefix with a NUL byte", "prefix: \"a\\0b\"\n" DOOR,
	 ":1:9: prefix: expected a string or a list of them"},
	{"patterns is a scalar", "patterns: foo\n" DOOR, ":1:11: patterns: expected a list of regular expressions"},
	{"empty pattern", "patterns: ['']\n" DOOR, ":1:12: patterns: expected a non-empty regular expression"},

	/* applier */
	{"applier is a scalar", PREFIX "applier: nft\n" DOOR, ":2:10: applier: expected a mapping like {backend: nft}"},
	{"unknown applier key", PREFIX "applier:\n  backend: nft\n  tmeout: 5s\n" DOOR,
	 ":4:3: applier: unknown key 'tmeout'"},
	{"unknown backend", PREFIX "applier:\n  backend: pf\n" DOOR,
	 ":3:12: applier: backend: expected log, command, nft, iptables or ipset"},
	{"relative program", PREFIX "applier:\n  program: logknock-apply\n" DOOR,
	 ":3:12: applier: program: expected an absolute path"},
	{"timeout 0", PREFIX "applier:\n  timeout: 0s\n" DOOR,
	 ":3:12: applier: timeout: must be more than 0 and at most 1h"},
	{"bad timeout", PREFIX "applier:\n  timeout: 5\n" DOOR,
	 ":3:12: applier: timeout: bad duration '5': " BAD_DURATION},
	{"command without close", PREFIX "applier:\n  backend: command\n  open: [/sbin/x]\n" DOOR,
	 ":3:3: applier: backend command needs both 'open' and 'close'"},
	{"open with backend nft", PREFIX "applier:\n  backend: nft\n  open: [/sbin/x]\n" DOOR,
	 ":4:3: applier: open: only for backend: command"},
	{"close with the default backend", PREFIX "applier:\n  close: [/sbin/x]\n" DOOR,
	 ":3:3: applier: close: only for backend: command"},
	{"open is empty", PREFIX "applier:\n  backend: command\n  open: []\n  close: [/sbin/x]\n" DOOR,
	 ":4:9: applier: open: expected a list like [/usr/sbin/iptables, -I, INPUT, -s, %IP%, ...]"},
	{"open is a string", PREFIX "applier:\n  backend: command\n  open: /sbin/x %IP%\n  close: [/sbin/x]\n" DOOR,
	 ":4:9: applier: open: expected a list like [/usr/sbin/iptables, -I, INPUT, -s, %IP%, ...]"},
	{"open with a relative program", PREFIX "applier:\n  backend: command\n  open: [iptables, -I]\n  close: [/sbin/x]\n" DOOR,
	 ":4:10: applier: open: the program must be an absolute path"},
	{"open with a list item", PREFIX "applier:\n  backend: command\n  open: [/sbin/x, [a]]\n  close: [/sbin/x]\n" DOOR,
	 ":4:19: applier: open: expected a string"},
	{"unknown placeholder", PREFIX "applier:\n  backend: command\n  open: [/sbin/x]\n  close: [/sbin/x, \"%IP%\", \"%HOST%\"]\n" DOOR,
	 ":5:28: applier: close: unknown placeholder '%HOST%' (known: %IP% %PROTO% %PORT% %DOOR% %FAMILY% %SECONDS% %VIA% %TO% %TOPORT% %MASQ% %KEEP%)"},
	{"lower-case placeholder", PREFIX "applier:\n  backend: command\n  open: [/sbin/x, \"-s%ip%\"]\n  close: [/sbin/x]\n" DOOR,
	 ":4:19: applier: open: unknown placeholder '%ip%' (known: %IP% %PROTO% %PORT% %DOOR% %FAMILY% %SECONDS% %VIA% %TO% %TOPORT% %MASQ% %KEEP%)"},

	/* the rest */
	{"relative state_dir", PREFIX "state_dir: var/lib\n" DOOR, ":2:12: state_dir: expected an absolute path"},
	{"max_sources 0", PREFIX "max_sources: 0\n" DOOR, ":2:14: max_sources: expected a number from 1 to 10000000"},
	{"max_sources too big", PREFIX "max_sources: 10000001\n" DOOR,
	 ":2:14: max_sources: expected a number from 1 to 10000000"},
	{"max_grants negative", PREFIX "max_grants: -1\n" DOOR, ":2:13: max_grants: expected a number from 1 to 1000000"},
	{"max_grants overflows", PREFIX "max_grants: 18446744073709551617\n" DOOR,
	 ":2:13: max_grants: expected a number from 1 to 1000000"},
	{"max_grants not a number", PREFIX "max_grants: lots\n" DOOR,
	 ":2:13: max_grants: expected a number from 1 to 1000000"},
	/* control: and metrics: */
	{"control not a mapping", "control: yes\n" PREFIX DOOR,
	 ":1:10: control: expected a mapping with socket, group, read_group"},
	{"control unknown key", "control:\n  sock: /run/x\n" PREFIX DOOR, ":2:3: control: unknown key 'sock'"},
	{"control socket relative", "control:\n  socket: run/x\n" PREFIX DOOR,
	 ":2:11: control: socket: expected an absolute path, or \"\" for none"},
	{"control socket a list", "control:\n  socket: [/a]\n" PREFIX DOOR,
	 ":2:11: control: socket: expected an absolute path, or \"\" for none"},
	{"control socket too long", "control:\n  socket: /aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\n" PREFIX DOOR,
	 ":2:11: control: socket: longer than 107 bytes, the most a socket's path holds"},
	{"control unknown group", "control:\n  group: no-such-group-lk\n" PREFIX DOOR,
	 ":2:10: control: group: no such group 'no-such-group-lk'"},
	{"control unknown read_group", "control:\n  read_group: no-such-group-lk\n" PREFIX DOOR,
	 ":2:15: control: read_group: no such group 'no-such-group-lk'"},
	{"control group not a name", "control:\n  group: \"adm; x\"\n" PREFIX DOOR,
	 ":2:10: control: group: expected a group name"},
	{"control duplicate key", "control:\n  group: root\n  group: root\n" PREFIX DOOR,
	 ":3:3: control: duplicate key 'group' (first at 2:3)"},
	{"metrics not a mapping", "metrics: /x.prom\n" PREFIX DOOR, ":1:10: metrics: expected a mapping with file and interval"},
	{"metrics without file", "metrics:\n  interval: 5s\n" PREFIX DOOR,
	 ":2:3: metrics: missing 'file' (where the metrics are written)"},
	{"metrics file relative", "metrics:\n  file: x.prom\n" PREFIX DOOR, ":2:9: metrics: file: expected an absolute path"},
	{"metrics interval below 1s", "metrics:\n  file: /x.prom\n  interval: 500ms\n" PREFIX DOOR,
	 ":3:13: metrics: interval: at least 1s"},
	{"metrics interval malformed", "metrics:\n  file: /x.prom\n  interval: often\n" PREFIX DOOR,
	 ":3:13: metrics: interval: bad duration 'often': " BAD_DURATION},
	{"metrics unknown key", "metrics:\n  file: /x.prom\n  every: 5s\n" PREFIX DOOR, ":3:3: metrics: unknown key 'every'"},
};

static void test_error_case(void **state)
{
	const struct error_case *c = *state;
	expect_error(c->yaml, c->want);
}

/* Lists one past each limit. */
static void test_limits_exceeded(void **state)
{
	(void)state;
	struct text t = {0};

	text_add(&t, PREFIX "doors:\n");
	for (int i = 0; i < 257; i++)
		text_add(&t, "  - {name: d%d, sequence: [tcp/1], open: [tcp/22]}\n", i);
	expect_error(t.s, ":3:3: doors: too many doors (at most 256)");
	free(t.s);

	t = (struct text){0};
	text_add(&t, PREFIX "sources:\n");
	for (int i = 0; i < 65; i++)
		text_add(&t, "  - file: /var/log/k%d\n", i);
	text_add(&t, DOOR);
	expect_error(t.s, ":3:3: sources: too many sources (at most 64)");
	free(t.s);

	t = (struct text){0};
	text_add(&t, "patterns:\n");
	for (int i = 0; i < 65; i++)
		text_add(&t, "  - p%d\n", i);
	text_add(&t, DOOR);
	expect_error(t.s, ":2:3: patterns: too many patterns (at most 64)");
	free(t.s);

	t = (struct text){0};
	text_add(&t, "prefix: [");
	for (int i = 0; i < 17; i++)
		text_add(&t, "%sp%d", i ? ", " : "", i);
	text_add(&t, "]\n" DOOR);
	expect_error(t.s, ":1:9: prefix: too many prefixes (at most 16)");
	free(t.s);

	t = (struct text){0};
	text_add(&t, PREFIX "doors:\n  - name: ssh\n    open: [tcp/22]\n    sequence: [");
	for (int i = 0; i < 33; i++)
		text_add(&t, "%stcp/%d", i ? ", " : "", 1000 + i);
	text_add(&t, "]\n");
	expect_error(t.s, ":5:15: door 'ssh': sequence: expected 1 to 32 entries");
	free(t.s);

	t = (struct text){0};
	text_add(&t, PREFIX "applier:\n  backend: command\n  close: [/sbin/x]\n  open: [/sbin/x");
	for (int i = 1; i < 65; i++)
		text_add(&t, ", a%d", i);
	text_add(&t, "]\n" DOOR);
	expect_error(t.s, ":5:9: applier: open: too many arguments (at most 64)");
	free(t.s);

	t = (struct text){0};
	text_add(&t, PREFIX "applier:\n  backend: command\n  close: [/sbin/x]\n  open: [/sbin/x, %01025d]\n" DOOR, 7);
	expect_error(t.s, ":5:19: applier: open: argument longer than 1024 bytes");
	free(t.s);

	t = (struct text){0};
	text_add(&t, "x:\n");
	for (int i = 0; i < 257; i++)
		text_add(&t, "  - &a%d 1\n", i);
	expect_error(t.s, ":258:5: too many anchors and aliases (at most 256)");
	free(t.s);

	/* 1024 bytes is fine. */
	t = (struct text){0};
	struct config cfg;
	text_add(&t, PREFIX "applier:\n  backend: command\n  close: [/sbin/x]\n  open: [/sbin/x, %01024d]\n" DOOR, 7);
	load_ok(t.s, &cfg);
	assert_int_equal(strlen(cfg.applier.open_argv[1]), 1024);
	config_free(&cfg);
	free(t.s);
}

static void test_file_too_large(void **state)
{
	(void)state;
	size_t len = 1024 * 1024 + 1;
	char *yaml = malloc(len);
	char path[PATH_MAX], err[256], want[PATH_MAX + 64];
	struct config cfg;

	assert_non_null(yaml);
	/* A valid config padded with a comment to just over 1 MiB. */
	memset(yaml, '#', len);
	memcpy(yaml, PREFIX DOOR, strlen(PREFIX DOOR));
	yaml[len - 1] = '\n';
	assert_int_equal(load_len(yaml, len, &cfg, err, sizeof err, path), -1);
	snprintf(want, sizeof want, "%s: too large (more than 1048576 bytes)", path);
	assert_string_equal(err, want);
	assert_zeroed(&cfg);

	/* Exactly 1 MiB loads. */
	yaml[len - 2] = '\n';
	assert_int_equal(load_len(yaml, len - 1, &cfg, err, sizeof err, path), 0);
	assert_int_equal(cfg.ndoors, 1);
	config_free(&cfg);
	free(yaml);
}

static void test_cannot_open(void **state)
{
	(void)state;
	char err[256];
	struct config cfg;

	memset(&cfg, 0xa5, sizeof cfg);
	assert_int_equal(config_load("/nonexistent/logknockd.yaml", &cfg, err, sizeof err), -1);
	assert_string_equal(err, "/nonexistent/logknockd.yaml: cannot open: No such file or directory");
	assert_zeroed(&cfg);

	assert_int_equal(config_load("/", &cfg, err, sizeof err), -1);
	assert_string_equal(err, "/: cannot read: Is a directory");
	assert_zeroed(&cfg);
}

/* A short buffer gets a truncated, terminated message; none at all is fine. */
static void test_short_error_buffer(void **state)
{
	(void)state;
	char path[PATH_MAX], err[8];
	struct config cfg;

	memset(err, 'x', sizeof err);
	assert_int_equal(load_len("foo: 1\n", 7, &cfg, err, sizeof err, path), -1);
	assert_memory_equal(err, path, 7);
	assert_int_equal(err[7], '\0');
	assert_int_equal(load_len("foo: 1\n", 7, &cfg, NULL, 0, path), -1);
	assert_zeroed(&cfg);
}

int main(void)
{
	static const struct CMUnitTest fixed[] = {
		cmocka_unit_test(test_duration),
		cmocka_unit_test(test_port_spec),
		cmocka_unit_test(test_full_config),
		cmocka_unit_test(test_defaults),
		cmocka_unit_test(test_dedup_default_short_window),
		cmocka_unit_test(test_prefix_list),
		cmocka_unit_test(test_patterns_without_prefix),
		cmocka_unit_test(test_tcp_flags),
		cmocka_unit_test(test_privileges_and_stop),
		cmocka_unit_test(test_kmsg_false_omitted),
		cmocka_unit_test(test_kernel_log_keys),
		cmocka_unit_test(test_aliases),
		cmocka_unit_test(test_limits_ok),
		cmocka_unit_test(test_limits_exceeded),
		cmocka_unit_test(test_file_too_large),
		cmocka_unit_test(test_cannot_open),
		cmocka_unit_test(test_short_error_buffer),
		cmocka_unit_test(test_control_metrics),
	};
	/* One test per error case, named after it. */
	struct CMUnitTest tests[ARRAY_SIZE(fixed) + ARRAY_SIZE(error_cases)];

	memcpy(tests, fixed, sizeof fixed);
	for (size_t i = 0; i < ARRAY_SIZE(error_cases); i++)
		tests[ARRAY_SIZE(fixed) + i] = (struct CMUnitTest){
			.name = error_cases[i].name,
			.test_func = test_error_case,
			.initial_state = (void *)&error_cases[i],
		};
	cmocka_set_message_output(CM_OUTPUT_TAP);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
