/* apply_conf.c — logknock-apply's settings file (apply_conf.h). */
#include "apply_conf.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <yaml.h>

#include "config.h"

#define APPLY_MAX_ARGV 64

struct actx {
	const char *path;
	yaml_document_t *doc;
	char *err;
	size_t errlen;
};

static int afail(struct actx *c, const yaml_node_t *n, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* "PATH:LINE:COL: message"; never any of the file's text. */
static int afail(struct actx *c, const yaml_node_t *n, const char *fmt, ...)
{
	if (!c->errlen)
		return -1;
	int k = snprintf(c->err, c->errlen, "%s:%zu:%zu: ", c->path, n ? n->start_mark.line + 1 : 1,
			 n ? n->start_mark.column + 1 : 1);
	if (k >= 0 && (size_t)k < c->errlen) {
		va_list ap;
		va_start(ap, fmt);
		vsnprintf(c->err + k, c->errlen - (size_t)k, fmt, ap);
		va_end(ap);
	}
	return -1;
}

static const char *sval(const yaml_node_t *n)
{
	return (const char *)n->data.scalar.value;
}

static yaml_node_t *node(struct actx *c, int i)
{
	return yaml_document_get_node(c->doc, i);
}

static int load_argv(struct actx *c, const yaml_node_t *list, const char *key, char ***out, size_t *nout)
{
	size_t n = list->type == YAML_SEQUENCE_NODE
			   ? (size_t)(list->data.sequence.items.top - list->data.sequence.items.start) : 0;
	if (n == 0)
		return afail(c, list, "%s: expected a list like [/usr/sbin/program, ARG, \"%%IP%%\", ...]", key);
	if (n > APPLY_MAX_ARGV)
		return afail(c, list, "%s: too many arguments (at most %d)", key, APPLY_MAX_ARGV);
	char **v = calloc(n + 1, sizeof *v);
	if (!v)
		return afail(c, list, "out of memory");
	*out = v;	/* owned by the caller from here, even half-filled */
	for (size_t i = 0; i < n; i++) {
		const yaml_node_t *it = node(c, list->data.sequence.items.start[i]);
		if (!config_yaml_is_string(it))
			return afail(c, it, "%s: expected a string", key);
		if (it->data.scalar.length > APPLY_ARG_MAX_LEN)
			return afail(c, it, "%s: argument longer than %d bytes", key, APPLY_ARG_MAX_LEN);
		if (i == 0 && sval(it)[0] != '/')
			return afail(c, it, "%s: the program must be an absolute path", key);
		if (!(v[i] = strdup(sval(it))))
			return afail(c, it, "out of memory");
	}
	*nout = n;
	return 0;
}

/* gateway: [{to: 10.0.0.0/24, port: tcp/22}, ...] */
static int load_gateway(struct actx *c, const yaml_node_t *list, struct apply_options *o)
{
	if (list->type != YAML_SEQUENCE_NODE)
		return afail(c, list, "gateway: expected a list like [{to: 10.0.0.0/24, port: tcp/22}]");
	for (yaml_node_item_t *it = list->data.sequence.items.start; it < list->data.sequence.items.top; it++) {
		const yaml_node_t *m = node(c, *it), *to = NULL, *port = NULL;
		if (m->type != YAML_MAPPING_NODE)
			return afail(c, m, "gateway: expected {to: ADDRESS[/PREFIX], port: tcp/N}");
		for (yaml_node_pair_t *p = m->data.mapping.pairs.start; p < m->data.mapping.pairs.top; p++) {
			const yaml_node_t *k = node(c, p->key);
			const char *key = config_yaml_is_string(k) ? sval(k) : "";
			if (strcmp(key, "to") == 0 && !to)
				to = node(c, p->value);
			else if (strcmp(key, "port") == 0 && !port)
				port = node(c, p->value);
			else
				return afail(c, k, "gateway: unknown or repeated key (known: to, port)");
		}
		if (!to || !port || !config_yaml_is_string(to) || !config_yaml_is_string(port))
			return afail(c, m, "gateway: each entry needs to: ADDRESS[/PREFIX] and port: tcp/N or udp/N");
		char spec[128];
		int n = snprintf(spec, sizeof spec, "%s,%s", sval(port), sval(to));
		if (n < 0 || (size_t)n >= sizeof spec || apply_gateway_add(o, spec) < 0)
			return afail(c, m, "gateway: expected to: an address or network (host bits clear) and port: "
				     "tcp/N or udp/N (at most %d entries)", APPLY_GW_MAX);
	}
	return 0;
}

static int load_root(struct actx *c, const yaml_node_t *root, struct apply_conf *ac)
{
	static const char *const backends[] = {"log", "command", "nft", "iptables", "ipset", NULL};
	const yaml_node_t *open = NULL, *close = NULL, *guard = NULL, *loopback = NULL;

	if (!root || root->type != YAML_MAPPING_NODE)
		return afail(c, root, "expected a mapping like {backend: nft, guard: [tcp/22]}");
	for (yaml_node_pair_t *p = root->data.mapping.pairs.start; p < root->data.mapping.pairs.top; p++) {
		const yaml_node_t *k = node(c, p->key), *v = node(c, p->value);
		const char *key = config_yaml_is_string(k) ? sval(k) : "";
		if (strcmp(key, "backend") == 0) {
			size_t i = 0;
			while (backends[i] && !(config_yaml_is_string(v) && strcmp(sval(v), backends[i]) == 0))
				i++;
			if (!backends[i])
				return afail(c, v, "backend: expected log, command, nft, iptables or ipset");
			snprintf(ac->backend, sizeof ac->backend, "%s", backends[i]);
		} else if (strcmp(key, "name") == 0) {
			if (!config_yaml_is_string(v) || !apply_name_ok(sval(v)))
				return afail(c, v, "name: letters, digits, _ and -, at most %d", APPLY_NAME_MAX);
			snprintf(ac->name, sizeof ac->name, "%s", sval(v));
		} else if (strcmp(key, "timeout") == 0) {
			int64_t us = config_yaml_is_string(v) ? config_parse_duration(sval(v)) : -1;
			if (us < 1000 || us > (int64_t)APPLY_TIMEOUT_MAX_MS * 1000)
				return afail(c, v, "timeout: expected a duration from 1ms to 10m, like 5s");
			ac->o.timeout_ms = (int)(us / 1000);
			ac->timeout_set = true;
		} else if (strcmp(key, "guard") == 0) {
			guard = v;
		} else if (strcmp(key, "gateway") == 0) {
			if (load_gateway(c, v, &ac->o) < 0)
				return -1;
		} else if (strcmp(key, "guard_loopback") == 0) {
			static const char *const yes[] = {"true", "yes", "on"}, *const no[] = {"false", "no", "off"};
			int b = -1;
			for (size_t i = 0; i < 3 && b < 0 && config_yaml_is_string(v); i++)
				b = strcasecmp(sval(v), yes[i]) == 0 ? 1 : strcasecmp(sval(v), no[i]) == 0 ? 0 : -1;
			if (b < 0)
				return afail(c, v, "guard_loopback: expected true or false");
			ac->o.guard_loopback = b;
			loopback = v;
		} else if (strcmp(key, "open") == 0) {
			open = v;
		} else if (strcmp(key, "close") == 0) {
			close = v;
		} else {
			return afail(c, k, "unknown key (known: backend, guard, guard_loopback, gateway, name, timeout, open, "
				     "close)");
		}
	}
	if (!ac->backend[0])
		return afail(c, root, "backend: missing");
	if (guard) {
		size_t n = guard->type == YAML_SEQUENCE_NODE
				   ? (size_t)(guard->data.sequence.items.top - guard->data.sequence.items.start) : 0;
		if (guard->type != YAML_SEQUENCE_NODE)
			return afail(c, guard, "guard: expected a list like [tcp/22, udp/1194]");
		for (size_t i = 0; i < n; i++) {
			const yaml_node_t *it = node(c, guard->data.sequence.items.start[i]);
			if (!config_yaml_is_string(it) || apply_guard_add(&ac->o, sval(it)) < 0)
				return afail(c, it, "guard: expected tcp/PORT, udp/PORT, icmp/TYPE or icmpv6/TYPE "
					     "(at most %d)", APPLY_GUARD_MAX);
		}
	}
	bool command = strcmp(ac->backend, "command") == 0;
	if ((open || close) && !command)
		return afail(c, open ? open : close, "open and close: only for backend: command");
	if (command && (!open || !close))
		return afail(c, root, "backend command needs both 'open' and 'close'");
	if (open && load_argv(c, open, "open", &ac->o.open_t, &ac->o.nopen) < 0)
		return -1;
	if (close && load_argv(c, close, "close", &ac->o.close_t, &ac->o.nclose) < 0)
		return -1;
	if (loopback && ac->o.guard_loopback && strcmp(ac->backend, "nft") != 0 &&
	    strcmp(ac->backend, "iptables") != 0 && strcmp(ac->backend, "ipset") != 0)
		return afail(c, loopback, "guard_loopback: only for backend nft, iptables or ipset");
	if (ac->timeout_set && strcmp(ac->backend, "log") == 0)
		return afail(c, root, "timeout: does not apply to backend: log");
	return 0;
}

int apply_conf_load(const char *path, struct apply_conf *ac, char *err, size_t errlen)
{
	yaml_document_t doc;
	struct actx c = {.path = path, .doc = &doc, .err = err, .errlen = err ? errlen : 0};

	memset(ac, 0, sizeof *ac);
	snprintf(ac->name, sizeof ac->name, "logknock");
	ac->o.name = ac->name;
	ac->o.timeout_ms = 5000;
	if (config_yaml_load(path, &doc, err, errlen) < 0)
		return -1;
	int rc = load_root(&c, yaml_document_get_root_node(&doc), ac);
	yaml_document_delete(&doc);
	if (rc < 0)
		apply_conf_free(ac);
	return rc;
}

static void free_argv(char **v)
{
	for (char **p = v; p && *p; p++)
		free(*p);
	free(v);
}

void apply_conf_free(struct apply_conf *ac)
{
	free_argv(ac->o.open_t);
	free_argv(ac->o.close_t);
	ac->o.open_t = ac->o.close_t = NULL;
	ac->o.nopen = ac->o.nclose = 0;
}

int apply_guard_add(struct apply_options *o, const char *spec)
{
	struct port_spec ps;
	if (config_parse_port_spec(spec, &ps) < 0)
		return -1;
	for (size_t i = 0; i < o->nguard; i++)
		if (o->guard[i].proto == ps.proto && o->guard[i].port == ps.port)
			return 0;
	if (o->nguard == APPLY_GUARD_MAX)
		return -1;
	o->guard[o->nguard].proto = ps.proto;
	o->guard[o->nguard++].port = ps.port;
	return 0;
}

bool apply_guarded(const struct apply_options *o, const struct apply_cmd *c)
{
	for (size_t i = 0; i < o->nguard; i++)
		if (o->guard[i].proto == c->proto && o->guard[i].port == c->port)
			return true;
	return false;
}

bool apply_name_ok(const char *name)
{
	size_t n = strlen(name);
	return n >= 1 && n <= APPLY_NAME_MAX &&
	       strspn(name, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-") == n;
}

int apply_gateway_add(struct apply_options *o, const char *spec)
{
	char buf[96];
	struct port_spec ps;
	size_t n = strlen(spec);
	const char *comma = strchr(spec, ',');
	if (!comma || n >= sizeof buf || (size_t)(comma - spec) >= 16)
		return -1;
	memcpy(buf, spec, (size_t)(comma - spec));
	buf[comma - spec] = '\0';
	if (config_parse_port_spec(buf, &ps) < 0 || (ps.proto != IPPROTO_TCP && ps.proto != IPPROTO_UDP))
		return -1;
	struct apply_gw_allow g;
	memset(&g, 0, sizeof g);
	g.proto = ps.proto;
	g.port = ps.port;
	snprintf(buf, sizeof buf, "%s", comma + 1);
	char *slash = strchr(buf, '/');
	if (slash)
		*slash = '\0';
	if (inet_pton(AF_INET, buf, g.addr) == 1)
		g.family = AF_INET;
	else if (inet_pton(AF_INET6, buf, g.addr) == 1)
		g.family = AF_INET6;
	else
		return -1;
	unsigned max = g.family == AF_INET ? 32 : 128, bits = max;
	if (slash) {
		const char *d = slash + 1;
		size_t dl = strlen(d);
		if (dl == 0 || dl > 3 || strspn(d, "0123456789") != dl || (d[0] == '0' && dl > 1))
			return -1;
		bits = 0;
		for (size_t i = 0; i < dl; i++)	/* at most 3 digits, checked above */
			bits = bits * 10 + (unsigned)(d[i] - '0');
		if (bits > max)
			return -1;
	}
	/* host bits set: a typo for another network, refused rather than guessed */
	for (unsigned b = bits; b < max; b++)
		if (g.addr[b / 8] & (0x80 >> (b % 8)))
			return -1;
	g.prefix = (uint8_t)bits;
	for (size_t i = 0; i < o->ngw; i++)
		if (o->gw[i].family == g.family && o->gw[i].prefix == g.prefix && o->gw[i].proto == g.proto &&
		    o->gw[i].port == g.port && memcmp(o->gw[i].addr, g.addr, sizeof g.addr) == 0)
			return 0;
	if (o->ngw == APPLY_GW_MAX)
		return -1;
	o->gw[o->ngw++] = g;
	return 0;
}

bool apply_gateway_allowed(const struct apply_options *o, const struct apply_cmd *c)
{
	uint16_t port = c->via == APPLY_VIA_DNAT ? c->toport : c->port;
	if (c->via != APPLY_VIA_FORWARD && c->via != APPLY_VIA_DNAT)
		return false;
	for (size_t i = 0; i < o->ngw; i++) {
		const struct apply_gw_allow *g = &o->gw[i];
		if (g->family != c->family || g->proto != c->proto || g->port != port)
			continue;
		unsigned b = 0;
		while (b < g->prefix && ((g->addr[b / 8] ^ c->to[b / 8]) & (0x80 >> (b % 8))) == 0)
			b++;
		if (b == g->prefix)
			return true;
	}
	return false;
}
