/* logknock.c — the client: sends a knock sequence, needs no privileges.
 *
 *   logknock [options] HOST SEQUENCE...
 *   logknock [options] PROFILE
 *
 * Each TCP knock is one non-blocking connect() on a new socket, closed as
 * soon as the SYN is out (so no retransmitted SYN follows it); each UDP
 * knock is one datagram of one byte from a new socket. Profiles come from a
 * YAML file read with libyaml; its errors are "FILE:LINE:COL: message".
 * Exit status: 0 fine, 1 runtime failure, 2 usage or profile error. */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <netdb.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <poll.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include <yaml.h>

#ifndef PACKAGE_VERSION
#define PACKAGE_VERSION "unknown"
#endif

#define PROG "logknock"
#define EXIT_RUNTIME 1
#define EXIT_USAGE 2

#define MAX_STEPS 32		/* as a door's sequence in logknockd.yaml */
#define DEFAULT_DELAY_MS 100
#define MAX_DELAY_MS 60000
#define DEFAULT_TIMEOUT_S 10
#define MAX_TIMEOUT_S 3600
#define WAIT_INTERVAL_MS 100
#define WAIT_ATTEMPT_MS 1000	/* how long one --wait attempt may take */
#define SHOW_MAX 64

struct step {
	uint8_t proto;		/* IPPROTO_TCP or IPPROTO_UDP */
	uint16_t port;
};

struct settings {
	char *host;
	struct step steps[MAX_STEPS];
	size_t nsteps;
	int family;		/* AF_UNSPEC, AF_INET, AF_INET6 */
	long delay_ms;
	uint16_t wait_port;	/* 0: no --wait */
	long timeout_s;
	bool have_family, have_delay, have_wait, have_timeout;
};

/* ---- messages --------------------------------------------------------- */

__attribute__((format(printf, 1, 2)))
static void errmsg(const char *fmt, ...)
{
	char buf[1024];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(buf, sizeof buf, fmt, ap);
	va_end(ap);
	fprintf(stderr, PROG ": %s\n", buf);
}

__attribute__((format(printf, 1, 2), noreturn))
static void usage_error(const char *fmt, ...)
{
	char buf[1024];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(buf, sizeof buf, fmt, ap);
	va_end(ap);
	fprintf(stderr, PROG ": %s\nTry '" PROG " --help' for more information.\n", buf);
	exit(EXIT_USAGE);
}

/* A user's string made safe to quote in a one-line message. */
typedef char show_buf[SHOW_MAX + 4];
static const char *show(const char *s, show_buf buf)
{
	size_t i;
	if (!s)
		s = "";
	for (i = 0; i < SHOW_MAX && s[i]; i++)
		buf[i] = ((unsigned char)s[i] < 0x20 || s[i] == 0x7f) ? '?' : s[i];
	strcpy(buf + i, i == SHOW_MAX && s[i] ? "..." : "");
	return buf;
}

static void usage(void)
{
	printf("Usage: " PROG " [OPTION]... HOST SEQUENCE...\n"
	       "       " PROG " [OPTION]... PROFILE\n"
	       "Send a port-knocking sequence to HOST, or the one of PROFILE.\n"
	       "\n"
	       "SEQUENCE is a list of knocks like tcp/7000 udp/8000 tcp/9000 (a bare\n"
	       "number is a TCP port). Each TCP knock is one SYN, each UDP knock one datagram.\n"
	       "\n"
	       "  -4, --ipv4            use an IPv4 address of HOST\n"
	       "  -6, --ipv6            use an IPv6 address of HOST\n"
	       "  -d, --delay MS        milliseconds between knocks (default %d, at most %d)\n"
	       "  -n, --dry-run         print the knocks it would send, send nothing\n"
	       "  -w, --wait PORT       after the knocks, wait until HOST accepts TCP on PORT\n"
	       "  -t, --timeout S       give up waiting after S seconds (default %d, at most %d)\n"
	       "  -p, --profile FILE    profiles (default $XDG_CONFIG_HOME/logknock/client.yaml\n"
	       "                        or ~/.config/logknock/client.yaml)\n"
	       "  -v, --verbose         print each knock as it is sent\n"
	       "  -h, --help            show this help and exit\n"
	       "      --version         show the version and exit\n"
	       "\n"
	       "Exit status: 0 fine, 1 runtime failure (cannot resolve, cannot send, the\n"
	       "port did not open), 2 usage or profile error.\n",
	       DEFAULT_DELAY_MS, MAX_DELAY_MS, DEFAULT_TIMEOUT_S, MAX_TIMEOUT_S);
}

/* ---- numbers and knocks ----------------------------------------------- */

/* S as a decimal number of digits only, MIN..MAX. */
static int parse_number(const char *s, long min, long max, long *out)
{
	long v = 0;
	if (!s || !*s)
		return -1;
	for (const char *p = s; *p; p++) {
		if (*p < '0' || *p > '9')
			return -1;
		int d = *p - '0';
		if (v > (max - d) / 10)
			return -1;
		v = v * 10 + d;
	}
	if (v < min)
		return -1;
	*out = v;
	return 0;
}

/* "100" (milliseconds) or a duration like "100ms", "1s"; -1 if bad or out of range. */
static long parse_delay(const char *s)
{
	long v;
	if (parse_number(s, 0, MAX_DELAY_MS, &v) == 0)
		return v;
	int64_t us = config_parse_duration(s);
	if (us < 0 || us % 1000 != 0 || us / 1000 > MAX_DELAY_MS)
		return -1;
	return (long)(us / 1000);
}

/* "tcp/7000", "udp/8000" or "7000" (tcp). Returns NULL, or why it is wrong. */
static const char *parse_step(const char *s, struct step *out)
{
	struct port_spec ps;
	long v;

	if (parse_number(s, 1, 65535, &v) == 0) {
		out->proto = IPPROTO_TCP;
		out->port = (uint16_t)v;
		return NULL;
	}
	if (config_parse_port_spec(s, &ps) < 0)
		return "expected tcp/N, udp/N or N with N 1-65535";
	if (ps.proto != IPPROTO_TCP && ps.proto != IPPROTO_UDP)
		return "only tcp/N and udp/N knocks can be sent by this client";
	out->proto = ps.proto;
	out->port = ps.port;
	return NULL;
}

/* "22" or "tcp/22". */
static int parse_wait_port(const char *s, uint16_t *out)
{
	long v;
	if (strncmp(s, "tcp/", 4) == 0)
		s += 4;
	if (parse_number(s, 1, 65535, &v) < 0)
		return -1;
	*out = (uint16_t)v;
	return 0;
}

static const char *proto_name(uint8_t proto)
{
	return proto == IPPROTO_UDP ? "udp" : "tcp";
}

/* ---- the profile file (libyaml) --------------------------------------- */

struct pctx {
	const char *path;
	yaml_document_t *doc;
	char err[1024];
};

__attribute__((format(printf, 3, 4)))
static int pfail_at(struct pctx *c, yaml_mark_t m, const char *fmt, ...)
{
	va_list ap;
	int n = snprintf(c->err, sizeof c->err, "%s:%zu:%zu: ", c->path, m.line + 1, m.column + 1);
	if (n >= 0 && (size_t)n < sizeof c->err) {
		va_start(ap, fmt);
		vsnprintf(c->err + n, sizeof c->err - (size_t)n, fmt, ap);
		va_end(ap);
	}
	return -1;
}

#define pfail(c, node, ...) pfail_at((c), (node)->start_mark, __VA_ARGS__)

__attribute__((format(printf, 2, 3)))
static int pfail_file(struct pctx *c, const char *fmt, ...)
{
	va_list ap;
	int n = snprintf(c->err, sizeof c->err, "%s: ", c->path);
	if (n >= 0 && (size_t)n < sizeof c->err) {
		va_start(ap, fmt);
		vsnprintf(c->err + n, sizeof c->err - (size_t)n, fmt, ap);
		va_end(ap);
	}
	return -1;
}

static yaml_node_t *pnode(struct pctx *c, int i)
{
	return yaml_document_get_node(c->doc, i);
}

static const char *pscalar(const yaml_node_t *n)
{
	return (const char *)n->data.scalar.value;
}

/* A scalar that is not a YAML null and holds no NUL byte. */
static bool pis_string(const yaml_node_t *n)
{
	if (!n || n->type != YAML_SCALAR_NODE || strlen(pscalar(n)) != n->data.scalar.length)
		return false;
	if (n->data.scalar.style != YAML_PLAIN_SCALAR_STYLE)
		return true;
	static const char *const nulls[] = {"", "~", "null", "Null", "NULL"};
	for (size_t i = 0; i < sizeof nulls / sizeof nulls[0]; i++)
		if (strcmp(pscalar(n), nulls[i]) == 0)
			return false;
	return true;
}

/* One profile's mapping into *S (only when STORE). */
static int load_profile(struct pctx *c, const yaml_node_t *name, const yaml_node_t *m, bool store,
			struct settings *s)
{
	static const char *const keys[] = {"host", "sequence", "delay", "wait", "family", NULL};
	struct settings tmp = {0};
	bool have_host = false, have_seq = false;
	show_buf shown;
	const char *pn = pscalar(name);

	if (m->type != YAML_MAPPING_NODE)
		return pfail(c, m, "profile '%s': expected a mapping with host and sequence", show(pn, shown));
	for (yaml_node_pair_t *p = m->data.mapping.pairs.start; p < m->data.mapping.pairs.top; p++) {
		yaml_node_t *k = pnode(c, p->key), *v = pnode(c, p->value);
		size_t ki;

		if (!pis_string(k))
			return pfail(c, k, "profile '%s': expected a key name", show(pn, shown));
		for (ki = 0; keys[ki] && strcmp(keys[ki], pscalar(k)) != 0; ki++)
			;
		if (!keys[ki]) {
			show_buf shown2;
			return pfail(c, k, "profile '%s': unknown key '%s' (expected host, sequence, delay, wait, family)",
				     show(pn, shown), show(pscalar(k), shown2));
		}
		for (yaml_node_pair_t *q = m->data.mapping.pairs.start; q < p; q++) {
			yaml_node_t *prev = pnode(c, q->key);
			if (strcmp(pscalar(prev), pscalar(k)) == 0)
				return pfail(c, k, "profile '%s': duplicate key '%s' (first at %zu:%zu)",
					     show(pn, shown), keys[ki], prev->start_mark.line + 1,
					     prev->start_mark.column + 1);
		}
		switch (ki) {
		case 0:	/* host */
			if (!pis_string(v) || pscalar(v)[0] == '\0' || pscalar(v)[0] == '-')
				return pfail(c, v, "profile '%s': host: expected a host name or address", show(pn, shown));
			tmp.host = (char *)pscalar(v);
			have_host = true;
			break;
		case 1:	/* sequence */
			if (v->type != YAML_SEQUENCE_NODE)
				return pfail(c, v, "profile '%s': sequence: expected a list like [tcp/7000, udp/8000]",
					     show(pn, shown));
			tmp.nsteps = 0;
			for (yaml_node_item_t *it = v->data.sequence.items.start; it < v->data.sequence.items.top; it++) {
				yaml_node_t *e = pnode(c, *it);
				const char *why;
				if (!pis_string(e))
					return pfail(c, e, "profile '%s': sequence: expected tcp/N or udp/N", show(pn, shown));
				if (tmp.nsteps == MAX_STEPS)
					return pfail(c, e, "profile '%s': sequence: at most %d knocks", show(pn, shown), MAX_STEPS);
				if ((why = parse_step(pscalar(e), &tmp.steps[tmp.nsteps])) != NULL) {
					show_buf shown2;
					return pfail(c, e, "profile '%s': sequence: bad knock '%s': %s", show(pn, shown),
						     show(pscalar(e), shown2), why);
				}
				tmp.nsteps++;
			}
			if (tmp.nsteps == 0)
				return pfail(c, v, "profile '%s': sequence: empty", show(pn, shown));
			have_seq = true;
			break;
		case 2:	/* delay */
			if (!pis_string(v) || (tmp.delay_ms = parse_delay(pscalar(v))) < 0)
				return pfail(c, v, "profile '%s': delay: expected milliseconds or a duration like 100ms, at most 60s",
					     show(pn, shown));
			tmp.have_delay = true;
			break;
		case 3:	/* wait */
			if (!pis_string(v) || parse_wait_port(pscalar(v), &tmp.wait_port) < 0)
				return pfail(c, v, "profile '%s': wait: expected a TCP port 1-65535", show(pn, shown));
			tmp.have_wait = true;
			break;
		case 4:	/* family */
			if (pis_string(v) && strcmp(pscalar(v), "4") == 0)
				tmp.family = AF_INET;
			else if (pis_string(v) && strcmp(pscalar(v), "6") == 0)
				tmp.family = AF_INET6;
			else
				return pfail(c, v, "profile '%s': family: expected 4 or 6", show(pn, shown));
			tmp.have_family = true;
			break;
		}
	}
	if (!have_host)
		return pfail(c, m, "profile '%s': missing 'host'", show(pn, shown));
	if (!have_seq)
		return pfail(c, m, "profile '%s': missing 'sequence'", show(pn, shown));
	if (!store)
		return 0;
	/* Options given on the command line win. */
	if (!(s->host = strdup(tmp.host)))
		return pfail_file(c, "out of memory");
	memcpy(s->steps, tmp.steps, sizeof tmp.steps);
	s->nsteps = tmp.nsteps;
	if (tmp.have_delay && !s->have_delay)
		s->delay_ms = tmp.delay_ms;
	if (tmp.have_wait && !s->have_wait)
		s->wait_port = tmp.wait_port;
	if (tmp.have_family && !s->have_family)
		s->family = tmp.family;
	return 0;
}

/* Every profile of the file is checked; NAME's is stored into *S. */
static int load_profiles(struct pctx *c, const char *name, struct settings *s)
{
	const yaml_node_t *root = yaml_document_get_root_node(c->doc);
	bool found = false;
	show_buf shown;

	if (!root)
		return pfail_file(c, "empty: expected a mapping of profile names");
	if (root->type != YAML_MAPPING_NODE)
		return pfail(c, root, "expected a mapping of profile names like 'myserver: {host: ..., sequence: [...]}'");
	for (yaml_node_pair_t *p = root->data.mapping.pairs.start; p < root->data.mapping.pairs.top; p++) {
		yaml_node_t *k = pnode(c, p->key);
		if (!pis_string(k))
			return pfail(c, k, "expected a profile name");
		for (yaml_node_pair_t *q = root->data.mapping.pairs.start; q < p; q++) {
			yaml_node_t *prev = pnode(c, q->key);
			if (strcmp(pscalar(prev), pscalar(k)) == 0)
				return pfail(c, k, "duplicate profile '%s' (first at %zu:%zu)", show(pscalar(k), shown),
					     prev->start_mark.line + 1, prev->start_mark.column + 1);
		}
		bool mine = name && strcmp(pscalar(k), name) == 0;
		if (load_profile(c, k, pnode(c, p->value), mine, s) < 0)
			return -1;
		found |= mine;
	}
	if (name && !found)
		return pfail_file(c, "no profile '%s'", show(name, shown));
	return 0;
}

static int profile_load(const char *path, const char *name, struct settings *s, char *err, size_t errlen)
{
	struct pctx c = {.path = path};
	yaml_document_t doc;
	/* Read and bounded the way the daemon reads its configuration. */
	if (config_yaml_load(path, &doc, err, errlen) < 0)
		return -1;
	c.doc = &doc;
	int rc = load_profiles(&c, name, s);
	yaml_document_delete(&doc);
	if (rc < 0)
		snprintf(err, errlen, "%s", c.err);
	return rc;
}

/* $XDG_CONFIG_HOME/logknock/client.yaml or ~/.config/logknock/client.yaml. */
static char *default_profile_path(void)
{
	const char *xdg = getenv("XDG_CONFIG_HOME"), *home = getenv("HOME");
	char *p = NULL;
	int n;

	if (xdg && xdg[0] == '/')
		n = asprintf(&p, "%s/logknock/client.yaml", xdg);
	else if (home && home[0])
		n = asprintf(&p, "%s/.config/logknock/client.yaml", home);
	else
		return NULL;
	return n < 0 ? NULL : p;
}

/* ---- network ---------------------------------------------------------- */

static void sleep_ms(long ms)
{
	struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000L};
	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

static int64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int resolve(const char *host, int family, struct sockaddr_storage *out, socklen_t *outlen)
{
	struct addrinfo hints = {.ai_family = family, .ai_socktype = SOCK_STREAM}, *res;
	show_buf shown;
	int r = getaddrinfo(host, NULL, &hints, &res);

	if (r != 0) {
		errmsg("cannot resolve %s%s: %s", show(host, shown),
		       family == AF_INET ? " (IPv4)" : family == AF_INET6 ? " (IPv6)" : "",
		       r == EAI_SYSTEM ? strerror(errno) : gai_strerror(r));
		return -1;
	}
	memcpy(out, res->ai_addr, res->ai_addrlen);
	*outlen = res->ai_addrlen;
	freeaddrinfo(res);
	return 0;
}

static void set_port(struct sockaddr_storage *sa, uint16_t port)
{
	if (sa->ss_family == AF_INET)
		((struct sockaddr_in *)sa)->sin_port = htons(port);
	else
		((struct sockaddr_in6 *)sa)->sin6_port = htons(port);
}

static void addr_string(const struct sockaddr_storage *sa, char *buf, size_t len)
{
	const void *a = sa->ss_family == AF_INET ? (const void *)&((const struct sockaddr_in *)sa)->sin_addr
						 : (const void *)&((const struct sockaddr_in6 *)sa)->sin6_addr;
	if (!inet_ntop(sa->ss_family, a, buf, (socklen_t)len))
		snprintf(buf, len, "?");
}

/* One knock: a SYN (the socket is closed at once, so it is never sent
 * again) or a one-byte datagram. */
static int send_knock(struct sockaddr_storage *sa, socklen_t salen, const struct step *st, const char *addr)
{
	int type = st->proto == IPPROTO_UDP ? SOCK_DGRAM : SOCK_STREAM;
	int fd = socket(sa->ss_family, type | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	int rc = 0;

	if (fd < 0) {
		errmsg("socket: %s", strerror(errno));
		return -1;
	}
	set_port(sa, st->port);
	if (st->proto == IPPROTO_UDP) {
		if (sendto(fd, "k", 1, 0, (struct sockaddr *)sa, salen) != 1) {
			errmsg("udp %s %u: cannot send: %s", addr, (unsigned)st->port, strerror(errno));
			rc = -1;
		}
	} else if (connect(fd, (struct sockaddr *)sa, salen) < 0 && errno != EINPROGRESS &&
		   errno != ECONNREFUSED) {
		errmsg("tcp %s %u: cannot send: %s", addr, (unsigned)st->port, strerror(errno));
		rc = -1;
	}
	close(fd);
	return rc;
}

/* One TCP connection attempt of at most MS milliseconds: 1 connected, 0 not, -1 error. */
static int try_connect(struct sockaddr_storage *sa, socklen_t salen, long ms)
{
	int fd = socket(sa->ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	int ok = 0;

	if (fd < 0) {
		errmsg("socket: %s", strerror(errno));
		return -1;
	}
	if (connect(fd, (struct sockaddr *)sa, salen) == 0) {
		ok = 1;
	} else if (errno == EINPROGRESS) {
		struct pollfd pfd = {.fd = fd, .events = POLLOUT};
		int soerr = 0;
		socklen_t l = sizeof soerr;
		int r;
		while ((r = poll(&pfd, 1, (int)ms)) < 0 && errno == EINTR)
			;
		if (r > 0 && getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &l) == 0 && soerr == 0)
			ok = 1;
	}
	close(fd);
	return ok;
}

static int wait_open(struct sockaddr_storage *sa, socklen_t salen, const struct settings *s)
{
	int64_t deadline = now_ms() + s->timeout_s * 1000;

	set_port(sa, s->wait_port);
	for (;;) {
		int64_t start = now_ms(), left = deadline - start;
		if (left <= 0)
			break;
		int r = try_connect(sa, salen, left < WAIT_ATTEMPT_MS ? (long)left : WAIT_ATTEMPT_MS);
		if (r < 0)
			return EXIT_RUNTIME;
		if (r > 0) {
			printf("%s port %u is open\n", s->host, (unsigned)s->wait_port);
			return 0;
		}
		int64_t next = start + WAIT_INTERVAL_MS, now = now_ms();
		if (next > deadline)
			next = deadline;
		if (next > now)
			sleep_ms((long)(next - now));
	}
	errmsg("port %u did not open within %ld s: check the sequence, the window and that the firewall logs "
	       "the knock ports", (unsigned)s->wait_port, s->timeout_s);
	return EXIT_RUNTIME;
}

/* ---- main ------------------------------------------------------------- */

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{"ipv4", no_argument, NULL, '4'},
		{"ipv6", no_argument, NULL, '6'},
		{"delay", required_argument, NULL, 'd'},
		{"dry-run", no_argument, NULL, 'n'},
		{"wait", required_argument, NULL, 'w'},
		{"timeout", required_argument, NULL, 't'},
		{"profile", required_argument, NULL, 'p'},
		{"verbose", no_argument, NULL, 'v'},
		{"help", no_argument, NULL, 'h'},
		{"version", no_argument, NULL, 'V'},
		{NULL, 0, NULL, 0},
	};
	struct settings s = {.family = AF_UNSPEC, .delay_ms = DEFAULT_DELAY_MS, .timeout_s = DEFAULT_TIMEOUT_S};
	const char *profile_path = NULL;
	bool dry_run = false, verbose = false;
	show_buf shown;
	int opt;

	opterr = 0;
	while ((opt = getopt_long(argc, argv, ":46d:nw:t:p:vh", longopts, NULL)) != -1) {
		switch (opt) {
		case '4':
		case '6':
			s.family = opt == '4' ? AF_INET : AF_INET6;
			s.have_family = true;
			break;
		case 'd':
			if ((s.delay_ms = parse_delay(optarg)) < 0)
				usage_error("bad --delay '%s': expected milliseconds 0-%d", show(optarg, shown), MAX_DELAY_MS);
			s.have_delay = true;
			break;
		case 'n':
			dry_run = true;
			break;
		case 'w':
			if (parse_wait_port(optarg, &s.wait_port) < 0)
				usage_error("bad --wait '%s': expected a TCP port 1-65535", show(optarg, shown));
			s.have_wait = true;
			break;
		case 't':
			if (parse_number(optarg, 1, MAX_TIMEOUT_S, &s.timeout_s) < 0)
				usage_error("bad --timeout '%s': expected seconds 1-%d", show(optarg, shown), MAX_TIMEOUT_S);
			s.have_timeout = true;
			break;
		case 'p':
			profile_path = optarg;
			break;
		case 'v':
			verbose = true;
			break;
		case 'h':
			usage();
			return 0;
		case 'V':
			printf(PROG " " PACKAGE_VERSION "\n");
			return 0;
		case ':':
			usage_error("option '%s' needs an argument", show(argv[optind - 1], shown));
		default:
			if (optopt)
				usage_error("unknown option '-%c'", optopt);
			usage_error("unknown option '%s'", show(argv[optind - 1], shown));
		}
	}

	int nargs = argc - optind;
	if (nargs == 0)
		usage_error("expected HOST SEQUENCE... or PROFILE");
	if (nargs == 1) {
		char *def = NULL, err[1024];
		if (!profile_path && !(profile_path = def = default_profile_path()))
			usage_error("no profile file: set HOME or XDG_CONFIG_HOME, or give --profile FILE");
		if (profile_load(profile_path, argv[optind], &s, err, sizeof err) < 0) {
			errmsg("%s", err);
			free(def);
			return EXIT_USAGE;
		}
		free(def);
	} else {
		if (argv[optind][0] == '\0')
			usage_error("empty HOST");
		if (!(s.host = strdup(argv[optind])))
			return EXIT_RUNTIME;
		for (int i = optind + 1; i < argc; i++) {
			const char *why;
			if (s.nsteps == MAX_STEPS)
				usage_error("at most %d knocks in a sequence", MAX_STEPS);
			if ((why = parse_step(argv[i], &s.steps[s.nsteps])) != NULL)
				usage_error("bad knock '%s': %s", show(argv[i], shown), why);
			s.nsteps++;
		}
	}
	if (s.have_timeout && !s.wait_port)
		usage_error("--timeout goes with --wait");

	struct sockaddr_storage sa;
	socklen_t salen;
	char addr[INET6_ADDRSTRLEN];
	if (resolve(s.host, s.family, &sa, &salen) < 0) {
		free(s.host);
		return EXIT_RUNTIME;
	}
	addr_string(&sa, addr, sizeof addr);

	int rc = 0;
	for (size_t i = 0; i < s.nsteps; i++) {
		if (dry_run) {
			printf("%s %s %u\n", proto_name(s.steps[i].proto), addr, (unsigned)s.steps[i].port);
			continue;
		}
		if (i > 0 && s.delay_ms > 0)
			sleep_ms(s.delay_ms);
		if (send_knock(&sa, salen, &s.steps[i], addr) < 0) {
			rc = EXIT_RUNTIME;
			break;
		}
		if (verbose) {
			printf("%s %s %u\n", proto_name(s.steps[i].proto), addr, (unsigned)s.steps[i].port);
			fflush(stdout);
		}
	}
	if (rc == 0 && !dry_run && s.wait_port)
		rc = wait_open(&sa, salen, &s);
	free(s.host);
	if (fflush(stdout) != 0 || ferror(stdout)) {
		errmsg("cannot write to standard output");
		rc = EXIT_RUNTIME;
	}
	return rc;
}
