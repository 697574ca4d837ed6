/* config_yaml.c — reading a YAML file of logknock, bounded and checked for its
 * shape (config_yaml_load: the daemon's logknockd.yaml, the applier's
 * apply.yaml, the client's profiles), the errors that name a node
 * ("FILE:LINE:COL: message"), and the numbers every file shares: durations,
 * port ranges, tcp/N. What the keys mean is config.c's: the applier and the
 * client link this file without it (t/layout.sh). */
#include "config.h"
#include "config_yaml.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>
#include <yaml.h>

/* Limits against hostile or runaway files. */
#define CONFIG_MAX_BYTES (1024 * 1024)
#define CONFIG_MAX_DEPTH 16	/* a real configuration needs 4 */
#define CONFIG_MAX_ANCHORS 256	/* anchors and aliases together */

/* ---- numbers ---------------------------------------------------------- */

/* S[0..LEN) as a decimal number of digits only, at most MAX. */
int config_yaml_parse_decimal(const char *s, size_t len, uint64_t max, uint64_t *out)
{
	uint64_t v = 0;

	if (len == 0)
		return -1;
	for (size_t i = 0; i < len; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		uint64_t d = (uint64_t)(s[i] - '0');
		if (d > max || v > (max - d) / 10)
			return -1;
		v = v * 10 + d;
	}
	*out = v;
	return 0;
}

/* The unit of a duration, as microseconds; 0 if UNIT is none of ours. */
int64_t config_yaml_duration_unit(const char *unit)
{
	if (strcmp(unit, "ms") == 0)
		return US_PER_MS;
	if (strcmp(unit, "s") == 0)
		return US_PER_S;
	if (strcmp(unit, "m") == 0)
		return US_PER_M;
	if (strcmp(unit, "h") == 0)
		return US_PER_H;
	return 0;
}

int64_t config_parse_duration(const char *s)
{
	if (!s)
		return -1;
	size_t ndigits = strspn(s, "0123456789");
	int64_t unit = config_yaml_duration_unit(s + ndigits);
	uint64_t v;

	if (unit == 0)
		return -1;
	/* Bounding the number by max/unit keeps the product in range. */
	if (config_yaml_parse_decimal(s, ndigits, (uint64_t)(US_MAX_DURATION / unit), &v) < 0)
		return -1;
	return (int64_t)v * unit;
}

int config_parse_range(const char *s, uint16_t *lo, uint16_t *hi)
{
	const char *dash = s ? strchr(s, '-') : NULL;
	uint64_t a, b;
	if (!dash || config_yaml_parse_decimal(s, (size_t)(dash - s), 65535, &a) < 0 ||
	    config_yaml_parse_decimal(dash + 1, strlen(dash + 1), 65535, &b) < 0 || a == 0 || a >= b)
		return -1;
	*lo = (uint16_t)a;
	*hi = (uint16_t)b;
	return 0;
}

int config_parse_port_spec(const char *s, struct port_spec *out)
{
	static const struct {
		const char *name;
		uint8_t proto;
		uint64_t min, max;
	} protos[] = {
		{"tcp", IPPROTO_TCP, 1, 65535},
		{"udp", IPPROTO_UDP, 1, 65535},
		{"icmp", IPPROTO_ICMP, 0, 255},
		{"icmpv6", IPPROTO_ICMPV6, 0, 255},
	};
	const char *slash;
	uint64_t v;

	if (!s || !out || !(slash = strchr(s, '/')))
		return -1;
	for (size_t i = 0; i < sizeof protos / sizeof protos[0]; i++) {
		size_t len = strlen(protos[i].name);
		if ((size_t)(slash - s) != len || memcmp(s, protos[i].name, len) != 0)
			continue;
		if (config_yaml_parse_decimal(slash + 1, strlen(slash + 1), protos[i].max, &v) < 0 ||
		    v < protos[i].min)
			return -1;
		out->proto = protos[i].proto;
		out->port = (uint16_t)v;
		return 0;
	}
	return -1;
}

/* ---- errors ----------------------------------------------------------- */

__attribute__((format(printf, 3, 0)))
static int vfail_at(struct ctx *c, yaml_mark_t m, const char *fmt, va_list ap)
{
	int n = snprintf(c->err, c->errlen, "%s:%zu:%zu: ", c->path, m.line + 1, m.column + 1);
	if (n >= 0 && (size_t)n < c->errlen)
		vsnprintf(c->err + n, c->errlen - (size_t)n, fmt, ap);
	return -1;
}

__attribute__((format(printf, 3, 4)))
int config_yaml_fail_at(struct ctx *c, yaml_mark_t m, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vfail_at(c, m, fmt, ap);
	va_end(ap);
	return -1;
}

/* Reports an error at NODE's first character; returns -1. */
__attribute__((format(printf, 3, 4)))
int config_yaml_fail(struct ctx *c, const yaml_node_t *node, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vfail_at(c, node->start_mark, fmt, ap);
	va_end(ap);
	return -1;
}

/* Errors that have no position in the file. */
__attribute__((format(printf, 2, 3)))
int config_yaml_fail_file(struct ctx *c, const char *fmt, ...)
{
	va_list ap;
	int n = snprintf(c->err, c->errlen, "%s: ", c->path);
	if (n >= 0 && (size_t)n < c->errlen) {
		va_start(ap, fmt);
		vsnprintf(c->err + n, c->errlen - (size_t)n, fmt, ap);
		va_end(ap);
	}
	return -1;
}

int config_yaml_fail_oom(struct ctx *c)
{
	return config_yaml_fail_file(c, "out of memory");
}

/* A user's string made safe to quote in a one-line message: control bytes
 * become '?', and long values are cut with "...". */
const char *config_yaml_show(const char *s, show_buf buf)
{
	size_t i;
	for (i = 0; i < SHOW_MAX && s[i]; i++)
		buf[i] = ((unsigned char)s[i] < 0x20 || s[i] == 0x7f) ? '?' : s[i];
	strcpy(buf + i, i == SHOW_MAX && s[i] ? "..." : "");
	return buf;
}

const char *config_yaml_scalar(const yaml_node_t *n)
{
	return (const char *)n->data.scalar.value;
}

bool config_yaml_is_string(const yaml_node_t *n)
{
	if (!n || n->type != YAML_SCALAR_NODE || strlen(config_yaml_scalar(n)) != n->data.scalar.length)
		return false;
	if (n->data.scalar.style != YAML_PLAIN_SCALAR_STYLE)
		return true;
	static const char *const nulls[] = {"", "~", "null", "Null", "NULL"};
	for (size_t i = 0; i < sizeof nulls / sizeof nulls[0]; i++)
		if (strcmp(config_yaml_scalar(n), nulls[i]) == 0)
			return false;
	return true;
}

/* libyaml's reader errors carry a byte offset instead of a mark. */
static yaml_mark_t mark_of_offset(const unsigned char *buf, size_t len, size_t offset)
{
	yaml_mark_t m = {0};
	for (size_t i = 0; i < offset && i < len; i++) {
		if (buf[i] == '\n') {
			m.line++;
			m.column = 0;
		} else if ((buf[i] & 0xc0) != 0x80) {
			m.column++;
		}
	}
	return m;
}

static int fail_yaml(struct ctx *c, const yaml_parser_t *p, const unsigned char *buf, size_t len)
{
	const char *problem = p->problem ? p->problem : "syntax error";

	/* libyaml's loader leaves error unset when some allocations fail. */
	if (p->error == YAML_MEMORY_ERROR || p->error == YAML_NO_ERROR)
		return config_yaml_fail_oom(c);
	if (p->error == YAML_READER_ERROR)
		return config_yaml_fail_at(c, mark_of_offset(buf, len, p->problem_offset), "%s (byte 0x%X)", problem,
			       (unsigned)p->problem_value & 0xff);
	if (p->context)
		return config_yaml_fail_at(c, p->problem_mark, "%s (%s at %zu:%zu)", problem, p->context,
			       p->context_mark.line + 1, p->context_mark.column + 1);
	return config_yaml_fail_at(c, p->problem_mark, "%s", problem);
}

/* The whole file, at most CONFIG_MAX_BYTES, in a buffer that grows as it
 * fills (a configuration is a few KiB: no MiB allocated for it). */
static int read_file(struct ctx *c, unsigned char **out, size_t *outlen)
{
	int fd = open(c->path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (fd < 0)
		return config_yaml_fail_file(c, "cannot open: %s", strerror(errno));
	size_t len = 0, cap = 0;
	unsigned char *buf = NULL;
	for (;;) {
		if (len == cap) {
			if (cap > CONFIG_MAX_BYTES)
				break;
			size_t want = cap ? 2 * cap : 16384;
			if (want > CONFIG_MAX_BYTES + 1)
				want = CONFIG_MAX_BYTES + 1;
			unsigned char *b = realloc(buf, want + 1);	/* + 1: room for a NUL */
			if (!b) {
				close(fd);
				free(buf);
				return config_yaml_fail_oom(c);
			}
			buf = b;
			cap = want;
		}
		ssize_t r = read(fd, buf + len, cap - len);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			int e = errno;
			close(fd);
			free(buf);
			return config_yaml_fail_file(c, "cannot read: %s", strerror(e));
		}
		if (r == 0)
			break;
		len += (size_t)r;
	}
	close(fd);
	if (len > CONFIG_MAX_BYTES) {
		free(buf);
		return config_yaml_fail_file(c, "too large (more than %d bytes)", CONFIG_MAX_BYTES);
	}
	*out = buf;
	*outlen = len;
	return 0;
}

/* libyaml's scanner slows down quadratically with nesting, and its loader
 * with the number of anchors and aliases. A first pass over the events
 * bounds both, stopping early, before the document is loaded. */
static int check_shape(struct ctx *c, const unsigned char *buf, size_t len)
{
	yaml_parser_t parser;
	yaml_event_t ev;
	int depth = 0, anchors = 0, rc = 0;
	bool done = false;

	if (!yaml_parser_initialize(&parser))
		return config_yaml_fail_oom(c);
	yaml_parser_set_input_string(&parser, buf, len);
	do {
		if (!yaml_parser_parse(&parser, &ev)) {
			rc = fail_yaml(c, &parser, buf, len);
			break;
		}
		switch (ev.type) {
		case YAML_SEQUENCE_START_EVENT:
		case YAML_MAPPING_START_EVENT:
			if (++depth > CONFIG_MAX_DEPTH)
				rc = config_yaml_fail_at(c, ev.start_mark, "nested more than %d levels deep", CONFIG_MAX_DEPTH);
			anchors += (ev.type == YAML_SEQUENCE_START_EVENT ? ev.data.sequence_start.anchor
					: ev.data.mapping_start.anchor) != NULL;
			break;
		case YAML_SEQUENCE_END_EVENT:
		case YAML_MAPPING_END_EVENT:
			depth--;
			break;
		case YAML_SCALAR_EVENT:
			anchors += ev.data.scalar.anchor != NULL;
			break;
		case YAML_ALIAS_EVENT:
			anchors++;
			break;
		default:
			break;
		}
		if (rc == 0 && anchors > CONFIG_MAX_ANCHORS)
			rc = config_yaml_fail_at(c, ev.start_mark, "too many anchors and aliases (at most %d)",
				     CONFIG_MAX_ANCHORS);
		done = ev.type == YAML_STREAM_END_EVENT;
		yaml_event_delete(&ev);
	} while (rc == 0 && !done);
	yaml_parser_delete(&parser);
	return rc;
}

/* Loads the one document of BUF into *DOC, refusing a second one. */
static int load_document(struct ctx *c, const unsigned char *buf, size_t len, yaml_document_t *doc)
{
	yaml_parser_t parser;
	yaml_document_t extra;
	int rc = -1;

	if (!yaml_parser_initialize(&parser))
		return config_yaml_fail_oom(c);
	yaml_parser_set_input_string(&parser, buf, len);
	if (!yaml_parser_load(&parser, doc)) {
		fail_yaml(c, &parser, buf, len);
		goto out_parser;
	}
	if (!yaml_parser_load(&parser, &extra)) {
		fail_yaml(c, &parser, buf, len);
		yaml_document_delete(doc);
		goto out_parser;
	}
	if (yaml_document_get_root_node(&extra)) {
		config_yaml_fail_at(c, extra.start_mark, "expected a single YAML document");
		yaml_document_delete(doc);
	} else {
		rc = 0;
	}
	yaml_document_delete(&extra);
out_parser:
	yaml_parser_delete(&parser);
	return rc;
}

/* Read, bounded, checked for its shape and loaded: the one way every YAML
 * file of logknock is read. */
int config_yaml_read_document(struct ctx *c, yaml_document_t *doc)
{
	unsigned char *buf = NULL;
	size_t len = 0;
	int rc = read_file(c, &buf, &len);
	if (rc == 0)
		rc = check_shape(c, buf, len);
	if (rc == 0)
		rc = load_document(c, buf, len, doc);
	free(buf);
	return rc;
}

int config_yaml_load(const char *path, struct yaml_document_s *doc, char *err, size_t errlen)
{
	struct ctx c = {.path = path, .err = err, .errlen = err ? errlen : 0};
	if (c.errlen)
		err[0] = '\0';
	return config_yaml_read_document(&c, doc);
}
