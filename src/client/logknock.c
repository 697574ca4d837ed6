/* logknock.c — the client: sends a knock sequence, needs no privileges.
 *
 *   logknock [options] HOST SEQUENCE...
 *   logknock [options] --totp KEY|--encrypted KEY --door NAME ... HOST
 *   logknock [options] PROFILE
 *   logknock keygen FILE
 *
 * Time-based and encrypted knocks are made by knockcode.c, the code the
 * daemon checks them with.
 * Each TCP knock is one non-blocking connect() on a new socket, closed as
 * soon as the SYN is out (so no retransmitted SYN follows it); each UDP
 * knock is one datagram of one byte from a new socket. Profiles come from a
 * YAML file read with libyaml; its errors are "FILE:LINE:COL: message".
 * Exit status: 0 fine, 1 runtime failure, 2 usage or profile error. */
#include "cli.h"
#include "config.h"
#include "knockcode.h"
#include "apply_proto.h"

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
#define WAIT_INTERVAL_MS 100	/* --wait: a new connection attempt this often */
#define WAIT_ATTEMPT_MS 1000	/* how long one attempt may take */
#define WAIT_INFLIGHT (WAIT_ATTEMPT_MS / WAIT_INTERVAL_MS)	/* attempts at once, at most */
#define SHOW_MAX 64

enum { OPT_TOTP = 256, OPT_ENCRYPTED, OPT_TIME, OPT_NO_BIND, OPT_CODE };

struct step {
	uint8_t proto;		/* IPPROTO_TCP or IPPROTO_UDP */
	uint16_t port;
};

enum kind { KIND_SEQUENCE, KIND_TOTP, KIND_ENCRYPTED };

/* totp and encrypted: how the door in logknockd.yaml is set */
struct code {
	enum kind kind;
	char *key_path, *door, *address;
	uint8_t proto;		/* the knocks' protocol (default tcp) */
	uint16_t lo, hi;	/* totp: range; encrypted: base */
	long knocks;		/* totp */
	int64_t step_us;
	bool bind_source;
	struct kc_request req;	/* encrypted: what it asks for */
	bool have_range, have_base, have_request, have_knocks, have_step, have_proto, have_duration;
};

struct settings {
	char *host;
	struct step steps[MAX_STEPS];
	size_t nsteps;
	struct code code;
	int family;		/* AF_UNSPEC, AF_INET, AF_INET6 */
	long delay_ms;
	uint16_t wait_port;	/* 0: no --wait */
	long timeout_s;
	bool have_family, have_delay, have_wait, have_timeout;
};

/* ---- messages --------------------------------------------------------- */


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
	       "       " PROG " [OPTION]... --totp KEY --door NAME --range LOW-HIGH HOST\n"
	       "       " PROG " [OPTION]... --encrypted KEY --door NAME --base PORT --request tcp/N HOST\n"
	       "       " PROG " [OPTION]... PROFILE\n"
	       "       " PROG " keygen FILE\n"
	       "Send a port-knocking sequence to HOST, or the one of PROFILE; keygen writes\n"
	       "a new key for a time-based or encrypted door (FILE - : standard output).\n"
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
	       "\n"
	       "Time-based and encrypted doors (settings as in the door's block of logknockd.yaml):\n"
	       "      --totp KEY        knock the ports of a totp door, made with the key file KEY\n"
	       "      --encrypted KEY   knock a request to an encrypted door\n"
	       "      --door NAME       the door's name\n"
	       "      --range LOW-HIGH  totp: the door's range\n"
	       "      --knocks N        totp: knocks in a sequence (default 4)\n"
	       "      --base PORT       encrypted: the door's base port\n"
	       "      --request tcp/N   encrypted: the port to open (one of the door's open:)\n"
	       "      --duration D      encrypted: for how long, like 1h (default and most: the door's)\n"
	       "      --proto tcp|udp   the knocks' protocol (default tcp)\n"
	       "      --step D          the door's time step (default 30s)\n"
	       "      --address ADDR    the address the server sees this host as (behind NAT)\n"
	       "      --no-bind         the door has bind_source: false\n"
	       "      --time SECONDS    make the knocks of this time (seconds since 1970), not now\n"
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

static int parse_bool(const char *v, bool *out)
{
	static const char *const yes[] = {"true", "yes", "on"}, *const no[] = {"false", "no", "off"};
	for (size_t i = 0; i < 3; i++) {
		if (strcasecmp(v, yes[i]) == 0)
			return *out = true, 0;
		if (strcasecmp(v, no[i]) == 0)
			return *out = false, 0;
	}
	return -1;
}

static const char *set_string(char **slot, const char *v)
{
	char *copy = strdup(v);
	if (!copy)
		return "out of memory";
	free(*slot);
	*slot = copy;
	return NULL;
}

/* One setting of a time-based or encrypted knock, from a profile (the
 * names of a door's totp:/encrypted: block, so that it can be copied, and
 * door, request, duration, address) or from the command line (--NAME).
 * NULL, or why VALUE is wrong. */
static const char *set_code(struct settings *s, const char *name, const char *v)
{
	long n;
	int64_t us;
	struct port_spec ps;
	unsigned char a[16];

	if (strcmp(name, "key") == 0)
		return v[0] ? set_string(&s->code.key_path, v) : "expected the path of a key file";
	if (strcmp(name, "door") == 0)
		return apply_door_name_valid(v) ? set_string(&s->code.door, v)
						: "expected the door's name as in logknockd.yaml";
	if (strcmp(name, "address") == 0)
		return inet_pton(AF_INET, v, a) == 1 || inet_pton(AF_INET6, v, a) == 1
			       ? set_string(&s->code.address, v)
			       : "expected an IPv4 or IPv6 address";
	if (strcmp(name, "knocks") == 0) {
		if (parse_number(v, 1, KC_TOTP_MAX_KNOCKS, &n) < 0)
			return "expected a number from 1 to 16";
		s->code.knocks = n;
		s->code.have_knocks = true;
		return NULL;
	}
	if (strcmp(name, "range") == 0) {
		if (config_parse_range(v, &s->code.lo, &s->code.hi) < 0)
			return "expected LOW-HIGH, ports from 1 to 65535, LOW below HIGH";
		s->code.have_range = true;
		return NULL;
	}
	if (strcmp(name, "base") == 0) {
		if (parse_number(v, 1, 65535 - (KC_ENC_SPAN - 1), &n) < 0)
			return "expected a port from 1 to 62976 (knocks go to base .. base + 2559)";
		s->code.lo = (uint16_t)n;
		s->code.have_base = true;
		return NULL;
	}
	if (strcmp(name, "proto") == 0) {
		if (strcmp(v, "tcp") != 0 && strcmp(v, "udp") != 0)
			return "expected tcp or udp";
		s->code.proto = strcmp(v, "udp") == 0 ? IPPROTO_UDP : IPPROTO_TCP;
		s->code.have_proto = true;
		return NULL;
	}
	if (strcmp(name, "step") == 0) {
		us = config_parse_duration(v);
		if (us < 1000000 || us > 3600 * INT64_C(1000000))
			return "expected a duration from 1s to 1h, like 30s";
		s->code.step_us = us;
		s->code.have_step = true;
		return NULL;
	}
	if (strcmp(name, "tolerance") == 0)	/* the server's business: accepted, not used */
		return parse_number(v, 0, 5, &n) < 0 ? "expected a number of steps from 0 to 5" : NULL;
	if (strcmp(name, "bind_source") == 0)
		return parse_bool(v, &s->code.bind_source) < 0 ? "expected true or false" : NULL;
	if (strcmp(name, "request") == 0) {
		if (parse_number(v, 1, 65535, &n) == 0) {
			ps.proto = IPPROTO_TCP;
			ps.port = (uint16_t)n;
		} else if (config_parse_port_spec(v, &ps) < 0 || (ps.proto != IPPROTO_TCP && ps.proto != IPPROTO_UDP)) {
			return "expected the port to open, like tcp/22";
		}
		s->code.req.proto = ps.proto;
		s->code.req.port = ps.port;
		s->code.have_request = true;
		return NULL;
	}
	if (strcmp(name, "duration") == 0) {
		us = config_parse_duration(v);
		if (us < 1000000 || us % 1000000 != 0 || us / 1000000 > KC_MAX_SECONDS)
			return "expected whole seconds from 1s to 32767s (9h 6m 7s), like 1h";
		s->code.req.seconds = (uint16_t)(us / 1000000);
		s->code.have_duration = true;
		return NULL;
	}
	return "unknown setting";
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


static void settings_free_code(struct settings *s)
{
	free(s->code.key_path);
	free(s->code.door);
	free(s->code.address);
	s->code.key_path = s->code.door = s->code.address = NULL;
}

/* A key path of a profile: "~/" is the home directory, and a relative
 * path is taken from the profile's directory. NULL: out of memory. */
static char *profile_key_path(const char *profile, const char *v)
{
	const char *home = getenv("HOME");
	char *p = NULL;
	if (v[0] == '~' && v[1] == '/' && home && home[0]) {
		if (asprintf(&p, "%s%s", home, v + 1) < 0)
			return NULL;
	} else if (v[0] != '/' && strrchr(profile, '/')) {
		int dir = (int)(strrchr(profile, '/') - profile);
		if (asprintf(&p, "%.*s/%s", dir, profile, v) < 0)
			return NULL;
	} else {
		p = strdup(v);
	}
	return p;
}

/* A profile's totp: or encrypted: mapping: the door's block of
 * logknockd.yaml, copied. */
static int load_code(struct pctx *c, const char *pn, const yaml_node_t *m, const char *what, struct settings *t)
{
	static const char *const totp_keys[] = {"key", "knocks", "range", "proto", "step", "tolerance", "bind_source",
						NULL};
	static const char *const enc_keys[] = {"key", "base", "proto", "step", "tolerance", "bind_source", NULL};
	const char *const *keys = t->code.kind == KIND_TOTP ? totp_keys : enc_keys;
	show_buf shown, shown2;
	if (m->type != YAML_MAPPING_NODE)
		return pfail(c, m, "profile '%s': %s: expected a mapping like {key: FILE, ...}", show(pn, shown), what);
	for (yaml_node_pair_t *p = m->data.mapping.pairs.start; p < m->data.mapping.pairs.top; p++) {
		yaml_node_t *k = pnode(c, p->key), *v = pnode(c, p->value);
		const char *why;
		size_t ki;
		if (!config_yaml_is_string(k))
			return pfail(c, k, "profile '%s': %s: expected a key name", show(pn, shown), what);
		for (ki = 0; keys[ki] && strcmp(keys[ki], pscalar(k)) != 0; ki++)
			;
		if (!keys[ki]) {
			bool outer = strcmp(pscalar(k), "door") == 0 || strcmp(pscalar(k), "request") == 0 ||
				     strcmp(pscalar(k), "duration") == 0 || strcmp(pscalar(k), "address") == 0;
			return pfail(c, k, "profile '%s': %s: %s '%s'%s", show(pn, shown), what,
				     outer ? "misplaced key" : "unknown key", show(pscalar(k), shown2),
				     outer ? ": it belongs to the profile, next to host" : "");
		}
		if (!config_yaml_is_string(v))
			return pfail(c, v, "profile '%s': %s: %s: expected a value", show(pn, shown), what, keys[ki]);
		if (ki == 0) {
			char *path = profile_key_path(c->path, pscalar(v));
			if (!path)
				return pfail_file(c, "out of memory");
			why = set_code(t, "key", path);
			free(path);
		} else {
			why = set_code(t, keys[ki], pscalar(v));
		}
		if (why)
			return pfail(c, v, "profile '%s': %s: %s: %s", show(pn, shown), what, keys[ki], why);
	}
	if (!t->code.key_path)
		return pfail(c, m, "profile '%s': %s: missing 'key'", show(pn, shown), what);
	if (t->code.kind == KIND_TOTP && !t->code.have_range)
		return pfail(c, m, "profile '%s': totp: missing 'range' (the door's)", show(pn, shown));
	if (t->code.kind == KIND_ENCRYPTED && !t->code.have_base)
		return pfail(c, m, "profile '%s': encrypted: missing 'base' (the door's)", show(pn, shown));
	return 0;
}

/* One profile's mapping into *S (only when STORE). */
static int load_profile(struct pctx *c, const yaml_node_t *name, const yaml_node_t *m, bool store,
			struct settings *s)
{
	static const char *const keys[] = {"host", "sequence", "delay", "wait", "family", "totp", "encrypted",
					   "door", "request", "duration", "address", NULL};
	struct settings tmp = {.code.bind_source = true};
	bool have_host = false, have_seq = false;
	show_buf shown;
	const char *pn = pscalar(name);
	int rc = -1;

	if (m->type != YAML_MAPPING_NODE)
		return pfail(c, m, "profile '%s': expected a mapping with host and sequence", show(pn, shown));
	for (yaml_node_pair_t *p = m->data.mapping.pairs.start; p < m->data.mapping.pairs.top; p++) {
		yaml_node_t *k = pnode(c, p->key), *v = pnode(c, p->value);
		size_t ki;

		if (!config_yaml_is_string(k)) {
			pfail(c, k, "profile '%s': expected a key name", show(pn, shown));
			goto out;
		}
		for (ki = 0; keys[ki] && strcmp(keys[ki], pscalar(k)) != 0; ki++)
			;
		if (!keys[ki]) {
			show_buf shown2;
			pfail(c, k, "profile '%s': unknown key '%s' (expected host, sequence or totp or encrypted, door, "
			      "request, duration, address, delay, wait, family)", show(pn, shown), show(pscalar(k), shown2));
			goto out;
		}
		for (yaml_node_pair_t *q = m->data.mapping.pairs.start; q < p; q++) {
			yaml_node_t *prev = pnode(c, q->key);
			if (strcmp(pscalar(prev), pscalar(k)) == 0) {
				pfail(c, k, "profile '%s': duplicate key '%s' (first at %zu:%zu)", show(pn, shown), keys[ki],
				      prev->start_mark.line + 1, prev->start_mark.column + 1);
				goto out;
			}
		}
		const char *why = NULL;
		switch (ki) {
		case 0:	/* host */
			if (!config_yaml_is_string(v) || pscalar(v)[0] == '\0' || pscalar(v)[0] == '-') {
				pfail(c, v, "profile '%s': host: expected a host name or address", show(pn, shown));
				goto out;
			}
			tmp.host = (char *)pscalar(v);
			have_host = true;
			break;
		case 1:	/* sequence */
			if (v->type != YAML_SEQUENCE_NODE) {
				pfail(c, v, "profile '%s': sequence: expected a list like [tcp/7000, udp/8000]",
				      show(pn, shown));
				goto out;
			}
			tmp.nsteps = 0;
			for (yaml_node_item_t *it = v->data.sequence.items.start; it < v->data.sequence.items.top; it++) {
				yaml_node_t *e = pnode(c, *it);
				if (!config_yaml_is_string(e)) {
					pfail(c, e, "profile '%s': sequence: expected tcp/N or udp/N", show(pn, shown));
					goto out;
				}
				if (tmp.nsteps == MAX_STEPS) {
					pfail(c, e, "profile '%s': sequence: at most %d knocks", show(pn, shown), MAX_STEPS);
					goto out;
				}
				if ((why = parse_step(pscalar(e), &tmp.steps[tmp.nsteps])) != NULL) {
					show_buf shown2;
					pfail(c, e, "profile '%s': sequence: bad knock '%s': %s", show(pn, shown),
					      show(pscalar(e), shown2), why);
					goto out;
				}
				tmp.nsteps++;
			}
			if (tmp.nsteps == 0) {
				pfail(c, v, "profile '%s': sequence: empty", show(pn, shown));
				goto out;
			}
			have_seq = true;
			break;
		case 2:	/* delay */
			if (!config_yaml_is_string(v) || (tmp.delay_ms = parse_delay(pscalar(v))) < 0) {
				pfail(c, v, "profile '%s': delay: expected milliseconds or a duration like 100ms, at most 60s",
				      show(pn, shown));
				goto out;
			}
			tmp.have_delay = true;
			break;
		case 3:	/* wait */
			if (!config_yaml_is_string(v) || parse_wait_port(pscalar(v), &tmp.wait_port) < 0) {
				pfail(c, v, "profile '%s': wait: expected a TCP port 1-65535", show(pn, shown));
				goto out;
			}
			tmp.have_wait = true;
			break;
		case 4:	/* family */
			if (config_yaml_is_string(v) && strcmp(pscalar(v), "4") == 0) {
				tmp.family = AF_INET;
			} else if (config_yaml_is_string(v) && strcmp(pscalar(v), "6") == 0) {
				tmp.family = AF_INET6;
			} else {
				pfail(c, v, "profile '%s': family: expected 4 or 6", show(pn, shown));
				goto out;
			}
			tmp.have_family = true;
			break;
		case 5:	/* totp */
		case 6:	/* encrypted */
			if (tmp.code.kind != KIND_SEQUENCE) {
				pfail(c, k, "profile '%s': totp and encrypted: a profile has one of them", show(pn, shown));
				goto out;
			}
			tmp.code.kind = ki == 5 ? KIND_TOTP : KIND_ENCRYPTED;
			if (load_code(c, pn, v, keys[ki], &tmp) < 0)
				goto out;
			break;
		default:	/* door, request, duration, address */
			if (!config_yaml_is_string(v) || (why = set_code(&tmp, keys[ki], pscalar(v))) != NULL) {
				pfail(c, v, "profile '%s': %s: %s", show(pn, shown), keys[ki], why ? why : "expected a value");
				goto out;
			}
			break;
		}
	}
	if (!have_host) {
		pfail(c, m, "profile '%s': missing 'host'", show(pn, shown));
		goto out;
	}
	if (have_seq == (tmp.code.kind != KIND_SEQUENCE)) {
		pfail(c, m, "profile '%s': %s", show(pn, shown),
		      have_seq ? "'sequence' and a totp or encrypted knock: a profile has one of them"
			       : "missing 'sequence' (or totp, encrypted)");
		goto out;
	}
	if (tmp.code.kind != KIND_SEQUENCE && !tmp.code.door) {
		pfail(c, m, "profile '%s': missing 'door' (the door's name in logknockd.yaml)", show(pn, shown));
		goto out;
	}
	if (tmp.code.kind == KIND_ENCRYPTED && !tmp.code.have_request) {
		pfail(c, m, "profile '%s': missing 'request' (the port to open, like tcp/22)", show(pn, shown));
		goto out;
	}
	if (tmp.code.kind != KIND_ENCRYPTED && (tmp.code.have_request || tmp.code.have_duration)) {
		pfail(c, m, "profile '%s': request and duration go with an encrypted knock", show(pn, shown));
		goto out;
	}
	if (tmp.code.kind == KIND_SEQUENCE && (tmp.code.door || tmp.code.address)) {
		pfail(c, m, "profile '%s': door and address go with a totp or encrypted knock", show(pn, shown));
		goto out;
	}
	rc = 0;
	if (!store)
		goto out;
	/* Options given on the command line win (code settings are applied
	 * after the profile). */
	if (!(s->host = strdup(tmp.host))) {
		rc = pfail_file(c, "out of memory");
		goto out;
	}
	memcpy(s->steps, tmp.steps, sizeof tmp.steps);
	s->nsteps = tmp.nsteps;
	if (tmp.have_delay && !s->have_delay)
		s->delay_ms = tmp.delay_ms;
	if (tmp.have_wait && !s->have_wait)
		s->wait_port = tmp.wait_port;
	if (tmp.have_family && !s->have_family)
		s->family = tmp.family;
	settings_free_code(s);
	s->code = tmp.code;
	memset(&tmp.code, 0, sizeof tmp.code);	/* the strings are s's now */
	return 0;
out:
	settings_free_code(&tmp);
	return rc;
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
		if (!config_yaml_is_string(k))
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

static int64_t now_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static int resolve(const char *host, int family, struct sockaddr_storage *out, socklen_t *outlen)
{
	struct addrinfo hints = {.ai_family = family, .ai_socktype = SOCK_STREAM}, *res;
	show_buf shown;
	int r = getaddrinfo(host, NULL, &hints, &res);

	if (r != 0) {
		cli_err("cannot resolve %s%s: %s", show(host, shown),
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
		cli_err("socket: %s", strerror(errno));
		return -1;
	}
	set_port(sa, st->port);
	if (st->proto == IPPROTO_UDP) {
		if (sendto(fd, "k", 1, 0, (struct sockaddr *)sa, salen) != 1) {
			cli_err("udp %s %u: cannot send: %s", addr, (unsigned)st->port, strerror(errno));
			rc = -1;
		}
	} else if (connect(fd, (struct sockaddr *)sa, salen) < 0 && errno != EINPROGRESS &&
		   errno != ECONNREFUSED) {
		cli_err("tcp %s %u: cannot send: %s", addr, (unsigned)st->port, strerror(errno));
		rc = -1;
	}
	close(fd);
	return rc;
}

/* --wait. A firewall that drops (rather than rejects) SYNs leaves a
 * connection attempt unanswered until the kernel retransmits its SYN, a
 * second later: so attempts overlap. A new one starts every
 * WAIT_INTERVAL_MS, each is given WAIT_ATTEMPT_MS, and the first that
 * connects wins: the client connects within one interval of the port
 * opening. At most WAIT_INFLIGHT sockets are open at once (when the loop
 * ran late and all are busy, the oldest is closed); every socket is closed
 * before returning, the winner too (the port is only tested). */
struct attempt {
	int fd;			/* -1: a free slot */
	int64_t start, end;	/* when it started, when it is given up (µs) */
};

static void attempt_close(struct attempt *a)
{
	if (a->fd >= 0)
		close(a->fd);
	a->fd = -1;
}

/* A new attempt in a free slot (the oldest one's, if none is free):
 * 1 connected at once, 0 under way or failed, -1 no socket. */
static int attempt_start(struct attempt at[WAIT_INFLIGHT], const struct sockaddr_storage *sa, socklen_t salen,
			 int64_t now, int64_t end)
{
	struct attempt *a = &at[0];
	for (size_t i = 1; i < WAIT_INFLIGHT && a->fd >= 0; i++)
		if (at[i].fd < 0 || at[i].start < a->start)
			a = &at[i];
	attempt_close(a);
	a->fd = socket(sa->ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (a->fd < 0) {
		cli_err("socket: %s", strerror(errno));
		return -1;
	}
	a->start = now;
	a->end = end;
	if (connect(a->fd, (const struct sockaddr *)sa, salen) == 0)
		return 1;
	if (errno != EINPROGRESS)	/* refused, unreachable...: the next attempt may do better */
		attempt_close(a);
	return 0;
}

static int wait_open(struct sockaddr_storage *sa, socklen_t salen, const struct settings *s)
{
	struct attempt at[WAIT_INFLIGHT];
	struct pollfd pfd[WAIT_INFLIGHT];
	struct attempt *polled[WAIT_INFLIGHT];
	int64_t now = now_us(), deadline = now + s->timeout_s * INT64_C(1000000), next = now;
	int rc = -1;

	set_port(sa, s->wait_port);
	for (size_t i = 0; i < WAIT_INFLIGHT; i++)
		at[i].fd = -1;
	while (rc < 0 && (now = now_us()) < deadline) {
		if (now >= next) {
			int64_t end = now + WAIT_ATTEMPT_MS * 1000;
			int r = attempt_start(at, sa, salen, now, end < deadline ? end : deadline);
			if (r != 0) {
				rc = r > 0 ? 0 : EXIT_RUNTIME;
				break;
			}
			/* On schedule; never two at once after the loop ran late. */
			next += WAIT_INTERVAL_MS * 1000;
			if (next <= now)
				next = now + WAIT_INTERVAL_MS * 1000;
		}
		/* Sleep until an answer, the next attempt, an attempt's end or the deadline. */
		int64_t wake = next < deadline ? next : deadline;
		nfds_t n = 0;
		for (size_t i = 0; i < WAIT_INFLIGHT; i++) {
			if (at[i].fd < 0)
				continue;
			if (at[i].end <= now) {
				attempt_close(&at[i]);
				continue;
			}
			if (at[i].end < wake)
				wake = at[i].end;
			pfd[n] = (struct pollfd){.fd = at[i].fd, .events = POLLOUT};
			polled[n++] = &at[i];
		}
		int r = poll(pfd, n, (int)((wake - now + 999) / 1000));
		if (r < 0 && errno != EINTR) {
			cli_err("poll: %s", strerror(errno));
			rc = EXIT_RUNTIME;
		}
		for (nfds_t i = 0; r > 0 && i < n; i++) {
			int soerr = 0;
			socklen_t l = sizeof soerr;
			if (!pfd[i].revents)
				continue;
			if (getsockopt(pfd[i].fd, SOL_SOCKET, SO_ERROR, &soerr, &l) == 0 && soerr == 0 &&
			    !(pfd[i].revents & (POLLERR | POLLHUP))) {
				rc = 0;
				break;
			}
			attempt_close(polled[i]);	/* refused or unreachable */
		}
	}
	for (size_t i = 0; i < WAIT_INFLIGHT; i++)
		attempt_close(&at[i]);
	if (rc == 0) {
		printf("%s port %u is open\n", s->host, (unsigned)s->wait_port);
		return 0;
	}
	if (rc < 0)
		cli_err("port %u did not open within %ld s: check the sequence, the window and that the firewall logs "
		       "the knock ports", (unsigned)s->wait_port, s->timeout_s);
	return EXIT_RUNTIME;
}

/* ---- time-based and encrypted knocks ------------------------------------ */

/* The address the server sees the knocks come from: --address, or the one
 * the route to it starts from (behind NAT, the public one must be given). */
static int bind_address(const struct settings *s, const struct sockaddr_storage *sa, socklen_t salen,
			uint8_t out[16])
{
	char buf[INET6_ADDRSTRLEN];
	show_buf shown;
	memset(out, 0, 16);
	if (s->code.address) {
		if (inet_pton(sa->ss_family, s->code.address, out) != 1) {
			cli_err("address %s is not an IPv%d address, as %s is", show(s->code.address, shown),
			       sa->ss_family == AF_INET ? 4 : 6, s->host);
			return -1;
		}
		return 0;
	}
	/* A connected UDP socket sends nothing, but has the source address
	 * the kernel chose for that destination. */
	struct sockaddr_storage to = *sa, me = {0};
	socklen_t len = sizeof me;
	set_port(&to, 9);
	int fd = socket(sa->ss_family, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || connect(fd, (struct sockaddr *)&to, salen) < 0 || getsockname(fd, (struct sockaddr *)&me, &len) < 0) {
		addr_string(sa, buf, sizeof buf);
		cli_err("cannot find this host's address towards %s: %s", buf, strerror(errno));
		if (fd >= 0)
			close(fd);
		return -1;
	}
	close(fd);
	if (me.ss_family == AF_INET)
		memcpy(out, &((struct sockaddr_in *)&me)->sin_addr, 4);
	else
		memcpy(out, &((struct sockaddr_in6 *)&me)->sin6_addr, 16);
	return 0;
}

/* Fills S's steps with the knocks of its time-based or encrypted door at
 * time T. Returns 0, or an exit status. */
static int make_code(struct settings *s, const struct sockaddr_storage *sa, socklen_t salen, int64_t t, bool verbose)
{
	uint8_t key[KC_KEY_BYTES], a[16], bytes[KC_ENC_KNOCKS];
	uint16_t ports[KC_TOTP_MAX_KNOCKS];
	char err[1024];
	struct kc_bind b = {0};

	if (kc_key_load(s->code.key_path, key, err, sizeof err) < 0) {
		cli_err("%s", err);
		return EXIT_USAGE;
	}
	if (s->code.bind_source) {
		if (bind_address(s, sa, salen, a) < 0) {
			explicit_bzero(key, sizeof key);
			return EXIT_RUNTIME;
		}
		b = kc_bind_make(1, sa->ss_family, a);
	}
	int64_t step = kc_step(t, s->code.have_step ? s->code.step_us : 30 * INT64_C(1000000));
	uint8_t proto = s->code.have_proto ? s->code.proto : IPPROTO_TCP;
	if (s->code.kind == KIND_TOTP) {
		s->nsteps = s->code.have_knocks ? (size_t)s->code.knocks : 4;
		kc_totp_ports(key, s->code.door, step, &b, s->code.lo, s->code.hi, (unsigned)s->nsteps, ports);
		for (size_t i = 0; i < s->nsteps; i++)
			s->steps[i] = (struct step){.proto = proto, .port = ports[i]};
	} else {
		if (kc_enc_encode(key, s->code.door, step, &b, &s->code.req, bytes) < 0) {
			explicit_bzero(key, sizeof key);
			cli_err("the request cannot be encrypted");
			return EXIT_USAGE;
		}
		s->nsteps = KC_ENC_KNOCKS;
		for (size_t i = 0; i < KC_ENC_KNOCKS; i++)
			s->steps[i] = (struct step){.proto = proto, .port = (uint16_t)(s->code.lo + 256 * i + bytes[i])};
	}
	explicit_bzero(key, sizeof key);
	if (verbose) {
		char as[INET6_ADDRSTRLEN] = "nobody";
		if (b.version)
			inet_ntop(sa->ss_family, a, as, sizeof as);
		printf("door %s, time step %" PRId64 ", bound to %s\n", s->code.door, step, as);
	}
	return 0;
}

/* ---- main: the command line, the settings, the knock -------------------- */

/* The command line beyond what goes straight into the settings. */
struct cmdline {
	const char *profile_path;
	bool dry_run, verbose, have_time, no_bind;
	int64_t time_us;
	enum kind cli_kind;
	const char *cli_key;
	/* Code settings of the command line, applied over the profile's. */
	struct {
		const char *name, *value;
	} code_opts[16];
	size_t ncode_opts;
};

/* The options, into S and O (optind then at the first argument). -1 to go
 * on, else the exit status (--help, --version). */
static int parse_options(int argc, char **argv, struct settings *s, struct cmdline *o)
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
		{"totp", required_argument, NULL, OPT_TOTP},
		{"encrypted", required_argument, NULL, OPT_ENCRYPTED},
		{"time", required_argument, NULL, OPT_TIME},
		{"no-bind", no_argument, NULL, OPT_NO_BIND},
		/* the settings of set_code(): --door, --range... */
		{"door", required_argument, NULL, OPT_CODE},
		{"range", required_argument, NULL, OPT_CODE},
		{"knocks", required_argument, NULL, OPT_CODE},
		{"base", required_argument, NULL, OPT_CODE},
		{"proto", required_argument, NULL, OPT_CODE},
		{"step", required_argument, NULL, OPT_CODE},
		{"request", required_argument, NULL, OPT_CODE},
		{"duration", required_argument, NULL, OPT_CODE},
		{"address", required_argument, NULL, OPT_CODE},
		{NULL, 0, NULL, 0},
	};
	show_buf shown;
	int opt, li;

	opterr = 0;
	while ((opt = getopt_long(argc, argv, ":46d:nw:t:p:vh", longopts, &li)) != -1) {
		switch (opt) {
		case OPT_TOTP:
		case OPT_ENCRYPTED:
			if (o->cli_kind != KIND_SEQUENCE)
				cli_usage_error("--totp and --encrypted: one of them");
			o->cli_kind = opt == OPT_TOTP ? KIND_TOTP : KIND_ENCRYPTED;
			o->cli_key = optarg;
			break;
		case OPT_TIME: {
			long t;
			if (parse_number(optarg, 0, INT32_MAX * 4L, &t) < 0)
				cli_usage_error("bad --time '%s': expected seconds since 1970", show(optarg, shown));
			o->time_us = (int64_t)t * 1000000;
			o->have_time = true;
			break;
		}
		case OPT_NO_BIND:
			o->no_bind = true;
			break;
		case OPT_CODE:
			if (o->ncode_opts == sizeof o->code_opts / sizeof o->code_opts[0])
				cli_usage_error("too many options");
			o->code_opts[o->ncode_opts].name = longopts[li].name;
			o->code_opts[o->ncode_opts++].value = optarg;
			break;
		case '4':
		case '6':
			s->family = opt == '4' ? AF_INET : AF_INET6;
			s->have_family = true;
			break;
		case 'd':
			if ((s->delay_ms = parse_delay(optarg)) < 0)
				cli_usage_error("bad --delay '%s': expected milliseconds 0-%d", show(optarg, shown), MAX_DELAY_MS);
			s->have_delay = true;
			break;
		case 'n':
			o->dry_run = true;
			break;
		case 'w':
			if (parse_wait_port(optarg, &s->wait_port) < 0)
				cli_usage_error("bad --wait '%s': expected a TCP port 1-65535", show(optarg, shown));
			s->have_wait = true;
			break;
		case 't':
			if (parse_number(optarg, 1, MAX_TIMEOUT_S, &s->timeout_s) < 0)
				cli_usage_error("bad --timeout '%s': expected seconds 1-%d", show(optarg, shown), MAX_TIMEOUT_S);
			s->have_timeout = true;
			break;
		case 'p':
			o->profile_path = optarg;
			break;
		case 'v':
			o->verbose = true;
			break;
		case 'h':
			usage();
			return 0;
		case 'V':
			printf(PROG " " PACKAGE_VERSION "\n");
			return 0;
		case ':':
			cli_usage_error("option '%s' needs an argument", show(argv[optind - 1], shown));
		default:
			if (optopt)
				cli_usage_error("unknown option '-%c'", optopt);
			cli_usage_error("unknown option '%s'", show(argv[optind - 1], shown));
		}
	}
	return -1;
}

/* The arguments after the options: keygen FILE, HOST SEQUENCE..., HOST with
 * --totp or --encrypted, or PROFILE (from the profile file); then the code
 * options over the profile's, and what goes with what. -1 to go on, else
 * the exit status. */
static int settings_from_args(int argc, char **argv, struct settings *s, const struct cmdline *o)
{
	show_buf shown;
	const char *profile_path = o->profile_path;

	int nargs = argc - optind;
	if (nargs >= 1 && strcmp(argv[optind], "keygen") == 0) {
		char err[1024];
		if (nargs != 2)
			cli_usage_error("keygen takes one FILE (or - for standard output)");
		if (kc_key_generate(argv[optind + 1], err, sizeof err) < 0) {
			cli_err("%s", err);
			return EXIT_RUNTIME;
		}
		if (strcmp(argv[optind + 1], "-") != 0)
			fprintf(stderr, PROG ": new key in %s (mode 600); the server's door needs the same file\n",
				argv[optind + 1]);
		return 0;
	}
	if (nargs == 0)
		cli_usage_error("expected HOST SEQUENCE... or PROFILE");
	if (nargs == 1 && o->cli_kind != KIND_SEQUENCE) {
		if (argv[optind][0] == '\0')
			cli_usage_error("empty HOST");
		if (!(s->host = strdup(argv[optind])))
			return EXIT_RUNTIME;
		s->code.kind = o->cli_kind;
	} else if (nargs == 1) {
		char *def = NULL, err[1024];
		if (!profile_path && !(profile_path = def = default_profile_path()))
			cli_usage_error("no SEQUENCE after '%s', and no profile file to look it up in "
				    "(set HOME or XDG_CONFIG_HOME, or give --profile FILE)", show(argv[optind], shown));
		/* One word and no profile file at the default place: most likely
		 * a HOST whose sequence was forgotten, not a profile name. */
		if (def && access(def, F_OK) != 0 && errno == ENOENT) {
			show_buf shown_path;
			cli_usage_error("no SEQUENCE after '%s' (and no profile file %s to find a profile '%s' in): "
				    "expected HOST SEQUENCE... or PROFILE", show(argv[optind], shown),
				    show(def, shown_path), show(argv[optind], shown));
		}
		if (profile_load(profile_path, argv[optind], s, err, sizeof err) < 0) {
			cli_err("%s", err);
			free(def);
			return EXIT_USAGE;
		}
		free(def);
	} else {
		if (o->cli_kind != KIND_SEQUENCE)
			cli_usage_error("a time-based or encrypted knock takes HOST only, no SEQUENCE");
		if (argv[optind][0] == '\0')
			cli_usage_error("empty HOST");
		if (!(s->host = strdup(argv[optind])))
			return EXIT_RUNTIME;
		for (int i = optind + 1; i < argc; i++) {
			const char *why;
			if (s->nsteps == MAX_STEPS)
				cli_usage_error("at most %d knocks in a sequence", MAX_STEPS);
			if ((why = parse_step(argv[i], &s->steps[s->nsteps])) != NULL)
				cli_usage_error("bad knock '%s': %s", show(argv[i], shown), why);
			s->nsteps++;
		}
	}
	if (o->cli_key && set_code(s, "key", o->cli_key))
		cli_usage_error("bad key '%s'", show(o->cli_key, shown));
	for (size_t i = 0; i < o->ncode_opts; i++) {
		const char *why = set_code(s, o->code_opts[i].name, o->code_opts[i].value);
		if (why)
			cli_usage_error("bad --%s '%s': %s", o->code_opts[i].name, show(o->code_opts[i].value, shown), why);
	}
	if (o->no_bind)
		s->code.bind_source = false;
	if (s->code.kind == KIND_SEQUENCE && (o->ncode_opts || o->no_bind || o->have_time))
		cli_usage_error("--%s goes with --totp or --encrypted", o->ncode_opts ? o->code_opts[0].name
								   : o->no_bind ? "no-bind" : "time");
	if (s->code.kind != KIND_SEQUENCE) {
		const char *miss = !s->code.door ? "--door (the door's name in logknockd.yaml)"
				   : s->code.kind == KIND_TOTP && !s->code.have_range ? "--range (the door's totp range)"
				   : s->code.kind == KIND_ENCRYPTED && !s->code.have_base ? "--base (the door's encrypted base)"
				   : s->code.kind == KIND_ENCRYPTED && !s->code.have_request ? "--request (the port to open, like tcp/22)"
										 : NULL;
		if (miss)
			cli_usage_error("missing %s", miss);
		if (s->code.kind == KIND_TOTP && (s->code.have_base || s->code.have_request || s->code.have_duration))
			cli_usage_error("--base, --request and --duration go with --encrypted");
		if (s->code.kind == KIND_ENCRYPTED && (s->code.have_range || s->code.have_knocks))
			cli_usage_error("--range and --knocks go with --totp");
	}
	if (s->have_timeout && !s->wait_port)
		cli_usage_error("--timeout goes with --wait");
	return -1;
}

/* Resolves the host, sends the knocks (or prints them: --dry-run), then
 * waits for the port (--wait). The exit status. */
static int knock(struct settings *s, const struct cmdline *o)
{
	struct sockaddr_storage sa;
	socklen_t salen;
	char addr[INET6_ADDRSTRLEN];
	if (resolve(s->host, s->family, &sa, &salen) < 0) {
		free(s->host);
		return EXIT_RUNTIME;
	}
	addr_string(&sa, addr, sizeof addr);

	int rc = 0;
	if (s->code.kind != KIND_SEQUENCE) {
		struct timespec ts;
		clock_gettime(CLOCK_REALTIME, &ts);
		rc = make_code(s, &sa, salen,
			       o->have_time ? o->time_us : (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000, o->verbose);
		if (rc) {
			free(s->host);
			settings_free_code(s);
			return rc;
		}
	}
	for (size_t i = 0; i < s->nsteps; i++) {
		if (o->dry_run) {
			printf("%s %s %u\n", proto_name(s->steps[i].proto), addr, (unsigned)s->steps[i].port);
			continue;
		}
		if (i > 0 && s->delay_ms > 0)
			sleep_ms(s->delay_ms);
		if (send_knock(&sa, salen, &s->steps[i], addr) < 0) {
			rc = EXIT_RUNTIME;
			break;
		}
		if (o->verbose) {
			printf("%s %s %u\n", proto_name(s->steps[i].proto), addr, (unsigned)s->steps[i].port);
			fflush(stdout);
		}
	}
	if (rc == 0 && !o->dry_run && s->wait_port)
		rc = wait_open(&sa, salen, s);
	free(s->host);
	settings_free_code(s);
	if (fflush(stdout) != 0 || ferror(stdout)) {
		cli_err("cannot write to standard output");
		rc = EXIT_RUNTIME;
	}
	return rc;
}

int main(int argc, char **argv)
{
	cli_prog = PROG;
	struct settings s = {.family = AF_UNSPEC, .delay_ms = DEFAULT_DELAY_MS, .timeout_s = DEFAULT_TIMEOUT_S,
			     .code.bind_source = true};
	struct cmdline o = {.cli_kind = KIND_SEQUENCE};
	int rc = parse_options(argc, argv, &s, &o);
	if (rc < 0)
		rc = settings_from_args(argc, argv, &s, &o);
	if (rc < 0)
		rc = knock(&s, &o);
	return rc;
}
