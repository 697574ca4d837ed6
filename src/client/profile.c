/* profile.c — logknock's profile file (libyaml, read with config_yaml_load):
 * a named profile gives the host, the sequence or the code settings, and the
 * options; its errors are "FILE:LINE:COL: message". */
#include "logknock.h"

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


void settings_free_code(struct settings *s)
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

int profile_load(const char *path, const char *name, struct settings *s, char *err, size_t errlen)
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
char *default_profile_path(void)
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
