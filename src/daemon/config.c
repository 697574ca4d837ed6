/* config.c — the YAML configuration (libyaml's document API) as plain structs.
 *
 * The file is read whole (at most CONFIG_MAX_BYTES), loaded as one YAML
 * document, then walked section by section. Every node keeps its mark, so
 * each error names the node that is wrong: "FILE:LINE:COL: message", with
 * LINE and COL 1-based. The first error stops the load; config_load then
 * frees whatever it had built. Reading the file and the errors' format are
 * config_yaml.c's. */
#include "config.h"
#include "config_yaml.h"

#include "apply_proto.h"
#include "knock.h"
#include "onetime.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <sys/socket.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>
#include <yaml.h>

#ifndef LOGKNOCK_STATEDIR
#define LOGKNOCK_STATEDIR "/var/lib/logknock"
#endif
#ifndef LOGKNOCK_SYSCONFDIR	/* set by Makefile.am; a build without it (fuzz/) */
#define LOGKNOCK_SYSCONFDIR "/etc/logknock"
#endif

/* Limits against hostile or runaway configurations. */
#define CONFIG_MAX_DOORS 256
#define CONFIG_MAX_SOURCES 64
#define CONFIG_MAX_PATTERNS 64
#define CONFIG_MAX_PREFIXES 16
#define CONFIG_MAX_PREFIX_LEN 64
#define CONFIG_MAX_PORTS 32	/* steps of a sequence; ports a door opens */
#define CONFIG_MAX_ARGV 64
#define CONFIG_MAX_ARG_LEN 1024

#define DEFAULT_WINDOW_US (10 * US_PER_S)
#define DEFAULT_DURATION_US (30 * US_PER_S)
#define DEFAULT_DEDUP_US (2 * US_PER_S)
#define DEFAULT_TIMEOUT_US (5 * US_PER_S)
#define DEFAULT_MAX_SOURCES 65536
#define DEFAULT_MAX_GRANTS 4096
#define DEFAULT_METRICS_INTERVAL_US (15 * US_PER_S)

#define MSG_BAD_PORT "expected tcp/N or udp/N with N 1-65535, or icmp/T, icmpv6/T"
#define MSG_BAD_DURATION "expected a number with ms, s, m or h"

/* "SYN,!ACK" → flags that must be set and flags that must be clear; "any"
 * → no condition. On error, the offending token is copied into BAD. */
static int parse_tcp_flags(const char *s, uint8_t *set, uint8_t *clear, show_buf bad)
{
	static const struct {
		const char *name;
		uint8_t bit;
	} flags[] = {
		{"FIN", KNOCK_FIN}, {"SYN", KNOCK_SYN}, {"RST", KNOCK_RST}, {"PSH", KNOCK_PSH},
		{"ACK", KNOCK_ACK}, {"URG", KNOCK_URG}, {"ECE", KNOCK_ECE}, {"CWR", KNOCK_CWR},
	};
	static const char space[] = " \t";
	uint8_t want_set = 0, want_clear = 0;
	const char *p = s + strspn(s, space);

	if (strncasecmp(p, "any", 3) == 0 && p[3 + strspn(p + 3, space)] == '\0') {
		*set = *clear = 0;
		return 0;
	}
	for (;;) {
		size_t len = strcspn(p, ",");
		const char *next = p + len;
		while (len > 0 && strchr(space, p[len - 1]))
			len--;
		bool neg = len > 0 && p[0] == '!';
		const char *name = p + neg;
		size_t nlen = len - neg;
		size_t i;

		for (i = 0; i < sizeof flags / sizeof flags[0]; i++)
			if (nlen == 3 && strncasecmp(name, flags[i].name, 3) == 0)
				break;
		if (i == sizeof flags / sizeof flags[0] ||
		    ((neg ? want_set : want_clear) & flags[i].bit)) {
			size_t n = len < SHOW_MAX ? len : SHOW_MAX;
			memcpy(bad, p, n);
			bad[n] = '\0';
			return -1;
		}
		*(neg ? &want_clear : &want_set) |= flags[i].bit;
		if (*next == '\0')
			break;
		p = next + 1 + strspn(next + 1, space);
	}
	*set = want_set;
	*clear = want_clear;
	return 0;
}

/* ---- YAML nodes ------------------------------------------------------- */

static yaml_node_t *node_at(struct ctx *c, int index)
{
	return yaml_document_get_node(c->doc, index);
}

static bool is_string(const yaml_node_t *n)
{
	return config_yaml_is_string(n);
}

static bool is_abs_path(const yaml_node_t *n)
{
	return is_string(n) && config_yaml_scalar(n)[0] == '/';
}

static size_t seq_len(const yaml_node_t *n)
{
	return (size_t)(n->data.sequence.items.top - n->data.sequence.items.start);
}

static yaml_node_t *seq_item(struct ctx *c, const yaml_node_t *n, size_t i)
{
	return node_at(c, n->data.sequence.items.start[i]);
}

/* The value of KEY in mapping MAP (and its key node in *KEYNODE), or NULL. */
static yaml_node_t *map_get(struct ctx *c, const yaml_node_t *map, const char *key,
			    yaml_node_t **keynode)
{
	for (yaml_node_pair_t *p = map->data.mapping.pairs.start; p < map->data.mapping.pairs.top; p++) {
		yaml_node_t *k = node_at(c, p->key);
		if (is_string(k) && strcmp(config_yaml_scalar(k), key) == 0) {
			if (keynode)
				*keynode = k;
			return node_at(c, p->value);
		}
	}
	return NULL;
}

static bool in_list(const char *s, const char *const *list)
{
	for (; *list; list++)
		if (strcmp(s, *list) == 0)
			return true;
	return false;
}

/* Every key of MAP is a string from KEYS, and none appears twice. As all
 * earlier keys are known and distinct, the duplicate search stays short. */
static int check_keys(struct ctx *c, const yaml_node_t *map, const char *const *keys, const char *where)
{
	yaml_node_pair_t *start = map->data.mapping.pairs.start;
	show_buf shown;

	for (yaml_node_pair_t *p = start; p < map->data.mapping.pairs.top; p++) {
		yaml_node_t *k = node_at(c, p->key);
		if (!is_string(k))
			return config_yaml_fail(c, k, "%sexpected a key name", where);
		if (!in_list(config_yaml_scalar(k), keys))
			return config_yaml_fail(c, k, "%sunknown key '%s'", where, config_yaml_show(config_yaml_scalar(k), shown));
		for (yaml_node_pair_t *q = start; q < p; q++) {
			yaml_node_t *prev = node_at(c, q->key);
			if (strcmp(config_yaml_scalar(prev), config_yaml_scalar(k)) == 0)
				return config_yaml_fail(c, k, "%sduplicate key '%s' (first at %zu:%zu)", where, config_yaml_scalar(k),
					    prev->start_mark.line + 1, prev->start_mark.column + 1);
		}
	}
	return 0;
}

static int get_bool(const yaml_node_t *n, bool *out)
{
	static const char *const yes[] = {"true", "yes", "on"}, *const no[] = {"false", "no", "off"};
	if (!is_string(n))
		return -1;
	for (size_t i = 0; i < 3; i++) {
		if (strcasecmp(config_yaml_scalar(n), yes[i]) == 0)
			return *out = true, 0;
		if (strcasecmp(config_yaml_scalar(n), no[i]) == 0)
			return *out = false, 0;
	}
	return -1;
}

/* A duration value; WHERE and KEY name it in messages. */
static int get_duration(struct ctx *c, const yaml_node_t *n, const char *where, const char *key,
			int64_t *out)
{
	show_buf shown;
	if (!is_string(n))
		return config_yaml_fail(c, n, "%s%s: expected a duration like 10s", where, key);
	*out = config_parse_duration(config_yaml_scalar(n));
	if (*out >= 0)
		return 0;
	size_t ndigits = strspn(config_yaml_scalar(n), "0123456789");
	if (ndigits > 0 && config_yaml_duration_unit(config_yaml_scalar(n) + ndigits) != 0)
		return config_yaml_fail(c, n, "%s%s: bad duration '%s': more than 365 days", where, key,
			    config_yaml_show(config_yaml_scalar(n), shown));
	return config_yaml_fail(c, n, "%s%s: bad duration '%s': " MSG_BAD_DURATION, where, key, config_yaml_show(config_yaml_scalar(n), shown));
}

static int get_count(struct ctx *c, const yaml_node_t *n, const char *key, uint64_t max, size_t *out)
{
	uint64_t v;
	if (!is_string(n) || config_yaml_parse_decimal(config_yaml_scalar(n), strlen(config_yaml_scalar(n)), max, &v) < 0 || v == 0)
		return config_yaml_fail(c, n, "%s: expected a number from 1 to %" PRIu64, key, max);
	*out = (size_t)v;
	return 0;
}

static int dup_string(struct ctx *c, const yaml_node_t *n, char **out)
{
	if (!(*out = strdup(config_yaml_scalar(n))))
		return config_yaml_fail_oom(c);
	return 0;
}

/* ---- sources ---------------------------------------------------------- */

bool config_source_reads_kernel_log(const struct source_conf *s)
{
	return s->kind != SOURCE_FILE || s->format == FORMAT_SYSLOG;
}

bool config_source_forgeable(const struct source_conf *s)
{
	return s->kind == SOURCE_FILE && s->format == FORMAT_SYSLOG && !s->kernel_only;
}

static int load_source(struct ctx *c, const yaml_node_t *m, size_t index)
{
	static const char *const keys[] = {"file", "journal", "kmsg", "format", "kernel_only", "forwarded", NULL};
	static const char *const kinds[] = {"file", "journal", "kmsg"};	/* enum source_kind order */
	struct config *cfg = c->cfg;
	struct source_conf s = {.format = FORMAT_SYSLOG};
	yaml_node_t *kind_val = NULL, *v, *k;
	const char *arg = NULL, *dir = NULL;
	bool enabled = true;
	char where[32];

	snprintf(where, sizeof where, "source #%zu: ", index + 1);
	if (m->type != YAML_MAPPING_NODE)
		return config_yaml_fail(c, m, "%sexpected a mapping like {file: /var/log/kern.log}", where);
	if (check_keys(c, m, keys, where) < 0)
		return -1;
	for (yaml_node_pair_t *p = m->data.mapping.pairs.start; p < m->data.mapping.pairs.top; p++) {
		k = node_at(c, p->key);
		for (size_t i = 0; i < 3; i++) {
			if (strcmp(config_yaml_scalar(k), kinds[i]) != 0)
				continue;
			if (kind_val)
				return config_yaml_fail(c, k, "%sexpected exactly one of file, journal or kmsg", where);
			kind_val = node_at(c, p->value);
			s.kind = (enum source_kind)i;
		}
	}
	if (!kind_val)
		return config_yaml_fail(c, m, "%sexpected exactly one of file, journal or kmsg", where);
	s.line = (int)m->start_mark.line + 1;
	s.col = (int)m->start_mark.column + 1;

	switch (s.kind) {
	case SOURCE_FILE:
		/* "-" is standard input: for pipes such as tail -F or journalctl -f. */
		if (!is_abs_path(kind_val) && !(is_string(kind_val) && strcmp(config_yaml_scalar(kind_val), "-") == 0))
			return config_yaml_fail(c, kind_val, "%sfile: expected an absolute path, or \"-\" (quoted) for standard input", where);
		arg = config_yaml_scalar(kind_val);
		break;
	case SOURCE_JOURNAL:
		if (kind_val->type == YAML_MAPPING_NODE) {
			/* fleet: {directory: /var/log/journal/remote, transport: kernel} */
			static const char *const jkeys[] = {"directory", "transport", NULL};
			char jwhere[48];
			snprintf(jwhere, sizeof jwhere, "%sjournal: ", where);
			if (check_keys(c, kind_val, jkeys, jwhere) < 0)
				return -1;
			if (!(v = map_get(c, kind_val, "directory", NULL)) || !is_abs_path(v))
				return config_yaml_fail(c, v ? v : kind_val, "%sdirectory: expected an absolute path", jwhere);
			dir = config_yaml_scalar(v);
			if ((v = map_get(c, kind_val, "transport", NULL)) &&
			    (!is_string(v) || strcmp(config_yaml_scalar(v), "kernel") != 0))
				return config_yaml_fail(c, v, "%stransport: expected kernel", jwhere);
			s.forwarded = true;	/* journal-remote's: every entry names its host */
			arg = "kernel";
			break;
		}
		if (!is_string(kind_val) || strcmp(config_yaml_scalar(kind_val), "kernel") != 0)
			return config_yaml_fail(c, kind_val, "%sjournal: expected kernel", where);
		arg = "kernel";
		break;
	case SOURCE_KMSG:
		if (get_bool(kind_val, &enabled) < 0)
			return config_yaml_fail(c, kind_val, "%skmsg: expected true or false", where);
		break;
	}

	if ((v = map_get(c, m, "format", &k))) {
		if (s.kind != SOURCE_FILE)
			return config_yaml_fail(c, k, "%sformat: only file sources have a format", where);
		if (is_string(v) && strcmp(config_yaml_scalar(v), "syslog") == 0)
			s.format = FORMAT_SYSLOG;
		else if (is_string(v) && strcmp(config_yaml_scalar(v), "ulogd") == 0)
			s.format = FORMAT_ULOGD;
		else
			return config_yaml_fail(c, v, "%sformat: expected syslog or ulogd", where);
	}
	if ((v = map_get(c, m, "kernel_only", &k))) {
		if (s.kind != SOURCE_FILE)
			return config_yaml_fail(c, k, "%skernel_only: only file sources have it (journal and kmsg read the "
				    "kernel's own log)", where);
		if (s.format == FORMAT_ULOGD)
			return config_yaml_fail(c, k, "%skernel_only: a ulogd file is written by ulogd alone; the key is for "
				    "syslog files", where);
		if (get_bool(v, &s.kernel_only) < 0)
			return config_yaml_fail(c, v, "%skernel_only: expected true or false", where);
	}

	if ((v = map_get(c, m, "forwarded", &k))) {
		bool fw;
		if (s.kind != SOURCE_FILE || get_bool(v, &fw) < 0)
			return config_yaml_fail(c, s.kind != SOURCE_FILE ? k : v, "%sforwarded: %s", where,
				    s.kind != SOURCE_FILE ? "only file sources have it (a journal-remote directory is "
							    "forwarded by itself)" : "expected true or false");
		s.forwarded = fw;
	}

	for (size_t i = 0; i < cfg->nsources; i++) {
		const struct source_conf *o = &cfg->sources[i];
		if (o->kind == s.kind && (o->arg == arg || (o->arg && arg && strcmp(o->arg, arg) == 0)) &&
		    ((!o->directory && !dir) || (o->directory && dir && strcmp(o->directory, dir) == 0)))
			return config_yaml_fail(c, m, "%sthe same source as at %d:%d", where, o->line, o->col);
	}
	if (!enabled)
		return 0;	/* kmsg: false */
	if (arg && !(s.arg = strdup(arg)))
		return config_yaml_fail_oom(c);
	if (dir && !(s.directory = strdup(dir))) {
		free(s.arg);
		return config_yaml_fail_oom(c);
	}
	cfg->sources[cfg->nsources++] = s;
	return 0;
}

static int load_sources(struct ctx *c, const yaml_node_t *list)
{
	struct config *cfg = c->cfg;

	if (list->type != YAML_SEQUENCE_NODE)
		return config_yaml_fail(c, list, "sources: expected a list of sources");
	size_t n = seq_len(list);
	if (n > CONFIG_MAX_SOURCES)
		return config_yaml_fail(c, list, "sources: too many sources (at most %d)", CONFIG_MAX_SOURCES);
	if (n == 0)
		return 0;
	if (!(cfg->sources = calloc(n, sizeof *cfg->sources)))
		return config_yaml_fail_oom(c);
	for (size_t i = 0; i < n; i++)
		if (load_source(c, seq_item(c, list, i), i) < 0)
			return -1;
	return 0;
}

/* ---- prefix, patterns ------------------------------------------------- */

static int load_prefix(struct ctx *c, const yaml_node_t *v)
{
	static const char expected[] = "prefix: expected a string or a list of them";
	struct config *cfg = c->cfg;
	size_t n = 1;

	if (v->type == YAML_SEQUENCE_NODE) {
		n = seq_len(v);
		if (n == 0)
			return config_yaml_fail(c, v, "%s", expected);
		if (n > CONFIG_MAX_PREFIXES)
			return config_yaml_fail(c, v, "prefix: too many prefixes (at most %d)", CONFIG_MAX_PREFIXES);
	} else if (v->type != YAML_SCALAR_NODE) {
		return config_yaml_fail(c, v, "%s", expected);
	}
	if (!(cfg->prefixes = calloc(n + 1, sizeof *cfg->prefixes)))
		return config_yaml_fail_oom(c);
	for (size_t i = 0; i < n; i++) {
		const yaml_node_t *item = v->type == YAML_SEQUENCE_NODE ? seq_item(c, v, i) : v;
		/* "" is allowed: LOG rules without --log-prefix (psad's, many
		 * others) write "IN=" first, and every logged packet knocks. */
		if (!is_string(item))
			return config_yaml_fail(c, item, "%s", expected);
		if (item->data.scalar.length > CONFIG_MAX_PREFIX_LEN)
			return config_yaml_fail(c, item, "prefix: longer than %d bytes", CONFIG_MAX_PREFIX_LEN);
		if (strpbrk(config_yaml_scalar(item), "\r\n"))
			return config_yaml_fail(c, item, "prefix: must not contain a line break");
		if (dup_string(c, item, &cfg->prefixes[i]) < 0)
			return -1;
		cfg->nprefixes++;
	}
	return 0;
}

static int load_patterns(struct ctx *c, const yaml_node_t *list)
{
	struct config *cfg = c->cfg;

	if (list->type != YAML_SEQUENCE_NODE)
		return config_yaml_fail(c, list, "patterns: expected a list of regular expressions");
	size_t n = seq_len(list);
	if (n > CONFIG_MAX_PATTERNS)
		return config_yaml_fail(c, list, "patterns: too many patterns (at most %d)", CONFIG_MAX_PATTERNS);
	if (n == 0)
		return 0;
	if (!(cfg->patterns = calloc(n, sizeof *cfg->patterns)))
		return config_yaml_fail_oom(c);
	for (size_t i = 0; i < n; i++) {
		const yaml_node_t *item = seq_item(c, list, i);
		struct pattern_conf *p = &cfg->patterns[i];
		if (!is_string(item) || config_yaml_scalar(item)[0] == '\0')
			return config_yaml_fail(c, item, "patterns: expected a non-empty regular expression");
		if (dup_string(c, item, &p->regex) < 0)
			return -1;
		p->line = (int)item->start_mark.line + 1;
		p->col = (int)item->start_mark.column + 1;
		cfg->npatterns++;
	}
	return 0;
}

/* ---- applier ---------------------------------------------------------- */

/* Each %WORD% in a template must be one we expand; a lone % is literal. */
static int check_placeholders(struct ctx *c, const yaml_node_t *n, const char *where)
{
	static const char *const known[] = {"IP", "PROTO", "PORT", "DOOR", "FAMILY", "SECONDS",
					    "VIA", "TO", "TOPORT", "MASQ", "KEEP", NULL};	/* apply_command.c */
	static const char word[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_";
	const char *p = config_yaml_scalar(n);

	while ((p = strchr(p, '%'))) {
		size_t len = strspn(p + 1, word);
		if (len == 0 || p[1 + len] != '%') {
			p++;
			continue;
		}
		char name[16];
		if (len >= sizeof name || (memcpy(name, p + 1, len), name[len] = '\0', !in_list(name, known)))
			return config_yaml_fail(c, n, "%sunknown placeholder '%.*s' (known: %%IP%% %%PROTO%% %%PORT%% "
				    "%%DOOR%% %%FAMILY%% %%SECONDS%% %%VIA%% %%TO%% %%TOPORT%% %%MASQ%% %%KEEP%%)", where,
				    (int)(len < SHOW_MAX ? len + 2 : SHOW_MAX), p);
		p += len + 2;
	}
	return 0;
}

/* A command template: a list of strings, the first an absolute path. */
static int load_argv(struct ctx *c, const yaml_node_t *list, const char *where, char ***out)
{
	if (list->type != YAML_SEQUENCE_NODE || seq_len(list) == 0)
		return config_yaml_fail(c, list, "%sexpected a list like [/usr/sbin/iptables, -I, INPUT, -s, %%IP%%, ...]",
			    where);
	size_t n = seq_len(list);
	if (n > CONFIG_MAX_ARGV)
		return config_yaml_fail(c, list, "%stoo many arguments (at most %d)", where, CONFIG_MAX_ARGV);
	char **argv = calloc(n + 1, sizeof *argv);
	if (!argv)
		return config_yaml_fail_oom(c);
	*out = argv;	/* the config owns it from here, even half-filled */
	for (size_t i = 0; i < n; i++) {
		const yaml_node_t *item = seq_item(c, list, i);
		if (!is_string(item))
			return config_yaml_fail(c, item, "%sexpected a string", where);
		if (item->data.scalar.length > CONFIG_MAX_ARG_LEN)
			return config_yaml_fail(c, item, "%sargument longer than %d bytes", where, CONFIG_MAX_ARG_LEN);
		if (i == 0 && config_yaml_scalar(item)[0] != '/')
			return config_yaml_fail(c, item, "%sthe program must be an absolute path", where);
		if (check_placeholders(c, item, where) < 0 || dup_string(c, item, &argv[i]) < 0)
			return -1;
	}
	return 0;
}

static int load_applier(struct ctx *c, const yaml_node_t *m)
{
	static const char *const keys[] = {"backend", "program", "command", "config", "open", "close", "timeout",
					   "guard_loopback", NULL};
	static const char *const backends[] = {"log", "command", "nft", "iptables", "ipset", NULL};	/* enum order */
	struct applier_conf *a = &c->cfg->applier;
	yaml_node_t *v, *k, *open, *close;

	if (m->type != YAML_MAPPING_NODE)
		return config_yaml_fail(c, m, "applier: expected a mapping like {backend: nft}");
	if (check_keys(c, m, keys, "applier: ") < 0)
		return -1;
	/* config: the applier reads its settings from its own file (root's,
	 * when sudo gives it more privilege than the daemon): none here. */
	if ((v = map_get(c, m, "config", NULL))) {
		static const char *const own[] = {"backend", "open", "close", "timeout", "guard_loopback", NULL};
		if (!is_abs_path(v))
			return config_yaml_fail(c, v, "applier: config: expected an absolute path, like %s/apply.yaml",
				    LOGKNOCK_SYSCONFDIR);
		for (size_t i = 0; own[i]; i++)
			if (map_get(c, m, own[i], &k))
				return config_yaml_fail(c, k, "applier: %s: not with 'config': the applier takes its settings "
					    "from that file only (put %s there)", own[i], own[i]);
		if (dup_string(c, v, &a->config) < 0)
			return -1;
	}
	if ((v = map_get(c, m, "backend", NULL))) {
		size_t i;
		for (i = 0; backends[i]; i++)
			if (is_string(v) && strcmp(config_yaml_scalar(v), backends[i]) == 0)
				break;
		if (!backends[i])
			return config_yaml_fail(c, v, "applier: backend: expected log, command, nft, iptables or ipset");
		a->backend = (enum applier_backend)i;
	}
	if ((v = map_get(c, m, "program", NULL))) {
		if (!is_abs_path(v))
			return config_yaml_fail(c, v, "applier: program: expected an absolute path");
		if (dup_string(c, v, &a->program) < 0)
			return -1;
	}
	if ((v = map_get(c, m, "timeout", NULL))) {
		if (get_duration(c, v, "applier: ", "timeout", &a->timeout_us) < 0)
			return -1;
		if (a->timeout_us <= 0 || a->timeout_us > US_PER_H)
			return config_yaml_fail(c, v, "applier: timeout: must be more than 0 and at most 1h");
	}
	/* guard_loopback: the guard drops packets that came in on lo too
	 * (by default they are left to the admin's "iif lo accept"). */
	if ((v = map_get(c, m, "guard_loopback", NULL))) {
		if (get_bool(v, &a->guard_loopback) < 0)
			return config_yaml_fail(c, v, "applier: guard_loopback: expected true or false");
		if (a->guard_loopback && a->backend != BACKEND_NFT && a->backend != BACKEND_IPTABLES &&
		    a->backend != BACKEND_IPSET)
			return config_yaml_fail(c, v, "applier: guard_loopback: only for backend nft, iptables or ipset");
	}
	/* command: how to start the applier without root, e.g. through sudo -n;
	 * the applier's own arguments follow. */
	if ((v = map_get(c, m, "command", NULL)) && load_argv(c, v, "applier: command: ", &a->command_argv) < 0)
		return -1;
	if (a->command_argv && a->command_argv[0] && !a->config) {
		/* A privilege tool: the applier refuses settings from us. */
		static const char *const tools[] = {"sudo", "doas", "pkexec", "run0", NULL};
		const char *slash = strrchr(a->command_argv[0], '/');
		const char *base = slash ? slash + 1 : a->command_argv[0];
		if (in_list(base, tools))
			return config_yaml_fail(c, v, "applier: command: through %s the applier takes no settings from "
				    "logknockd: put them in its own root-owned file and name it with "
				    "'config: %s/apply.yaml'", base, LOGKNOCK_SYSCONFDIR);
	}
	if ((open = map_get(c, m, "open", &k)) && a->backend != BACKEND_COMMAND)
		return config_yaml_fail(c, k, "applier: open: only for backend: command");
	if ((close = map_get(c, m, "close", &k)) && a->backend != BACKEND_COMMAND)
		return config_yaml_fail(c, k, "applier: close: only for backend: command");
	if (a->backend == BACKEND_COMMAND && (!open || !close))
		return config_yaml_fail(c, m, "applier: backend command needs both 'open' and 'close'");
	if (open && load_argv(c, open, "applier: open: ", &a->open_argv) < 0)
		return -1;
	if (close && load_argv(c, close, "applier: close: ", &a->close_argv) < 0)
		return -1;
	return 0;
}

/* ---- doors ------------------------------------------------------------ */

/* A list of port specs: a door's sequence (steps may repeat) or the ports
 * it opens (each once). */
static int load_ports(struct ctx *c, const yaml_node_t *list, const char *where, const char *key,
		      const char *example, bool unique, struct port_spec **out, size_t *nout)
{
	show_buf shown;

	if (list->type != YAML_SEQUENCE_NODE)
		return config_yaml_fail(c, list, "%s%s: expected a list like %s", where, key, example);
	size_t n = seq_len(list);
	if (n == 0 || n > CONFIG_MAX_PORTS)
		return config_yaml_fail(c, list, "%s%s: expected 1 to %d entries", where, key, CONFIG_MAX_PORTS);
	if (!(*out = calloc(n, sizeof **out)))
		return config_yaml_fail_oom(c);
	for (size_t i = 0; i < n; i++) {
		const yaml_node_t *item = seq_item(c, list, i);
		struct port_spec *ps = &(*out)[i];
		if (!is_string(item))
			return config_yaml_fail(c, item, "%s%s: expected a port like tcp/22", where, key);
		if (config_parse_port_spec(config_yaml_scalar(item), ps) < 0)
			return config_yaml_fail(c, item, "%s%s: bad port '%s': " MSG_BAD_PORT, where, key,
				    config_yaml_show(config_yaml_scalar(item), shown));
		for (size_t j = 0; unique && j < i; j++)
			if ((*out)[j].proto == ps->proto && (*out)[j].port == ps->port)
				return config_yaml_fail(c, item, "%s%s: '%s' is listed twice", where, key, config_yaml_scalar(item));
	}
	*nout = n;
	return 0;
}

/* A port from 1 to 65535 (a number in YAML or a string). */
static int get_port(const yaml_node_t *n, uint16_t *out)
{
	uint64_t v;
	if (!is_string(n) || config_yaml_parse_decimal(config_yaml_scalar(n), strlen(config_yaml_scalar(n)), 65535, &v) < 0 || v == 0)
		return -1;
	*out = (uint16_t)v;
	return 0;
}

/* totp: or encrypted: — the door's key and how its knocks are laid out. */
static int load_code(struct ctx *c, const yaml_node_t *m, const char *where, struct door_conf *d)
{
	static const char *const totp_keys[] = {"key", "knocks", "range", "proto", "step", "tolerance",
						"bind_source", NULL};
	static const char *const enc_keys[] = {"key", "base", "proto", "step", "tolerance", "bind_source", NULL};
	const char *kind = d->kind == DOOR_TOTP ? "totp" : "encrypted";
	struct door_code *dc = &d->code;
	char w[128], kerr[512];
	yaml_node_t *v;
	show_buf shown;

	snprintf(w, sizeof w, "%s%s: ", where, kind);
	if (m->type != YAML_MAPPING_NODE)
		return config_yaml_fail(c, m, "%sexpected a mapping like {key: /etc/logknock/door.key}", w);
	if (check_keys(c, m, d->kind == DOOR_TOTP ? totp_keys : enc_keys, w) < 0)
		return -1;
	if (!(v = map_get(c, m, "key", NULL)))
		return config_yaml_fail(c, m, "%smissing 'key' (make one with: logknock keygen FILE)", w);
	if (!is_abs_path(v))
		return config_yaml_fail(c, v, "%skey: expected an absolute path", w);
	if (dup_string(c, v, &dc->key_path) < 0)
		return -1;
	if (kc_key_load(dc->key_path, dc->key, kerr, sizeof kerr) < 0)
		return config_yaml_fail(c, v, "%skey: %s", w, kerr);

	dc->proto = IPPROTO_TCP;
	if ((v = map_get(c, m, "proto", NULL))) {
		if (!is_string(v) || (strcmp(config_yaml_scalar(v), "tcp") != 0 && strcmp(config_yaml_scalar(v), "udp") != 0))
			return config_yaml_fail(c, v, "%sproto: expected tcp or udp", w);
		dc->proto = strcmp(config_yaml_scalar(v), "udp") == 0 ? IPPROTO_UDP : IPPROTO_TCP;
	}
	dc->step_us = 30 * US_PER_S;
	if ((v = map_get(c, m, "step", NULL))) {
		if (get_duration(c, v, w, "step", &dc->step_us) < 0)
			return -1;
		if (dc->step_us < US_PER_S || dc->step_us > US_PER_H)
			return config_yaml_fail(c, v, "%sstep: must be from 1s to 1h", w);
	}
	dc->tolerance = 1;
	if ((v = map_get(c, m, "tolerance", NULL))) {
		uint64_t t;
		if (!is_string(v) || config_yaml_parse_decimal(config_yaml_scalar(v), strlen(config_yaml_scalar(v)), 5, &t) < 0)
			return config_yaml_fail(c, v, "%stolerance: expected a number of steps from 0 to 5", w);
		dc->tolerance = (unsigned)t;
	}
	dc->bind_source = true;
	if ((v = map_get(c, m, "bind_source", NULL)) && get_bool(v, &dc->bind_source) < 0)
		return config_yaml_fail(c, v, "%sbind_source: expected true or false", w);

	if (d->kind == DOOR_ENCRYPTED) {
		if (!(v = map_get(c, m, "base", NULL)))
			return config_yaml_fail(c, m, "%smissing 'base' (the first of the %d ports knocked)", w, KC_ENC_SPAN);
		if (get_port(v, &dc->lo) < 0 || dc->lo > 65535 - (KC_ENC_SPAN - 1))
			return config_yaml_fail(c, v, "%sbase: expected a port from 1 to %d (knocks go to base .. base + %d)", w,
				    65535 - (KC_ENC_SPAN - 1), KC_ENC_SPAN - 1);
		dc->hi = (uint16_t)(dc->lo + KC_ENC_SPAN - 1);
		dc->knocks = KC_ENC_KNOCKS;
		for (size_t i = 0; i < d->nopen; i++)
			if (d->open[i].proto != IPPROTO_TCP && d->open[i].proto != IPPROTO_UDP)
				return config_yaml_fail(c, m, "%sa request names a tcp or udp port: open: has %s", w,
					    knock_proto_str(d->open[i].proto));
		return 0;
	}

	dc->knocks = 4;
	if ((v = map_get(c, m, "knocks", NULL))) {
		size_t k = 0;
		char key[160];
		snprintf(key, sizeof key, "%sknocks", w);
		if (get_count(c, v, key, KC_TOTP_MAX_KNOCKS, &k) < 0)
			return -1;
		dc->knocks = (unsigned)k;
	}
	if (!(v = map_get(c, m, "range", NULL)))
		return config_yaml_fail(c, m, "%smissing 'range' (the ports knocked, like 20000-29999)", w);
	const char *r = is_string(v) ? config_yaml_scalar(v) : "";
	if (config_parse_range(r, &dc->lo, &dc->hi) < 0)
		return config_yaml_fail(c, v, "%srange: bad range '%s': expected LOW-HIGH, ports from 1 to 65535, LOW below HIGH",
			    w, config_yaml_show(r, shown));
	uint64_t lo = dc->lo, hi = dc->hi;
	/* Guessing must stay out of reach: each wrong guess is KNOCKS packets. */
	/* Each knock after the first is one of the span - 1 other ports. A
	 * guess costs about one packet (the knock ending a wrong attempt is a
	 * new first knock): 2^40 is some 200 days at 20,000 packets a second. */
	uint64_t span = hi - lo + 1, combinations = span;
	for (unsigned i = 1; i < dc->knocks && combinations < (UINT64_C(1) << 40); i++)
		combinations *= span - 1;
	if (combinations < (UINT64_C(1) << 40))
		return config_yaml_fail(c, v, "%s%u knocks in %" PRIu64 " ports make %" PRIu64 " sequences, too few to stop "
			    "guessing: use more knocks or a wider range (at least 2^40 sequences)", w, dc->knocks,
			    span, combinations);
	return 0;
}

/* "10.0.0.2", "2001:db8::2": an address of either family into *t. */
static int get_addr(const yaml_node_t *n, struct gw_target *t)
{
	const char *s = is_string(n) ? config_yaml_scalar(n) : "";
	if (strlen(s) >= INET6_ADDRSTRLEN)
		return -1;
	if (inet_pton(AF_INET, s, t->to) == 1)
		t->family = AF_INET;
	else if (inet_pton(AF_INET6, s, t->to) == 1)
		t->family = AF_INET6;
	else
		return -1;
	return 0;
}

/* "10.0.0.2:22", "[2001:db8::2]:22" into *t. */
static int get_addr_port(const yaml_node_t *n, struct gw_target *t)
{
	const char *s = is_string(n) ? config_yaml_scalar(n) : "";
	char a[INET6_ADDRSTRLEN + 2];
	const char *colon;
	size_t alen;
	uint64_t v;
	if (s[0] == '[') {
		const char *end = strchr(s, ']');
		if (!end || end[1] != ':')
			return -1;
		alen = (size_t)(end - s - 1);
		colon = end + 1;
		if (alen >= sizeof a)
			return -1;
		memcpy(a, s + 1, alen);
		a[alen] = '\0';
		if (inet_pton(AF_INET6, a, t->to) != 1)
			return -1;
		t->family = AF_INET6;
	} else {
		colon = strchr(s, ':');
		if (!colon || strchr(colon + 1, ':'))
			return -1;
		alen = (size_t)(colon - s);
		if (alen >= sizeof a)
			return -1;
		memcpy(a, s, alen);
		a[alen] = '\0';
		if (inet_pton(AF_INET, a, t->to) != 1)
			return -1;
		t->family = AF_INET;
	}
	if (config_yaml_parse_decimal(colon + 1, strlen(colon + 1), 65535, &v) < 0 || v == 0)
		return -1;
	t->toport = (uint16_t)v;
	return 0;
}

/* forward: [{to: ADDR, port: tcp/N}] and dnat: [{listen: tcp/N, to: ADDR:M,
 * masquerade: BOOL}] into d->gw, forward entries first. */
static int load_gateway(struct ctx *c, const yaml_node_t *fwd, const yaml_node_t *dnat, const char *where,
			struct door_conf *d)
{
	static const char *const fkeys[] = {"to", "port", NULL};
	static const char *const dkeys[] = {"to", "listen", "masquerade", NULL};
	show_buf shown;
	size_t nf = 0, nd = 0;
	if (fwd && (fwd->type != YAML_SEQUENCE_NODE || (nf = seq_len(fwd)) == 0 || nf > CONFIG_MAX_PORTS))
		return config_yaml_fail(c, fwd, "%sforward: expected a list of 1 to %d entries like [{to: 10.0.0.2, port: tcp/22}]",
			    where, CONFIG_MAX_PORTS);
	if (dnat && (dnat->type != YAML_SEQUENCE_NODE || (nd = seq_len(dnat)) == 0 || nd > CONFIG_MAX_PORTS))
		return config_yaml_fail(c, dnat, "%sdnat: expected a list of 1 to %d entries like "
			    "[{listen: tcp/2222, to: \"10.0.0.2:22\"}]", where, CONFIG_MAX_PORTS);
	if (nf + nd == 0)
		return 0;
	if (!(d->gw = calloc(nf + nd, sizeof *d->gw)))
		return config_yaml_fail_oom(c);
	for (size_t i = 0; i < nf + nd; i++) {
		int isf = i < nf;
		const yaml_node_t *it = seq_item(c, isf ? fwd : dnat, isf ? i : i - nf), *v;
		const char *key = isf ? "forward" : "dnat";
		char w[160];
		snprintf(w, sizeof w, "%s%s: ", where, key);
		struct gw_target *t = &d->gw[i];
		struct port_spec ps;
		if (it->type != YAML_MAPPING_NODE)
			return config_yaml_fail(c, it, "%sexpected a mapping like %s", w,
				    isf ? "{to: 10.0.0.2, port: tcp/22}" : "{listen: tcp/2222, to: \"10.0.0.2:22\"}");
		if (check_keys(c, it, isf ? fkeys : dkeys, w) < 0)
			return -1;
		t->via = isf ? APPLY_VIA_FORWARD : APPLY_VIA_DNAT;
		const char *pkey = isf ? "port" : "listen";
		if (!(v = map_get(c, it, pkey, NULL)))
			return config_yaml_fail(c, it, "%smissing '%s'", w, pkey);
		if (!is_string(v) || config_parse_port_spec(config_yaml_scalar(v), &ps) < 0 ||
		    (ps.proto != IPPROTO_TCP && ps.proto != IPPROTO_UDP))
			return config_yaml_fail(c, v, "%s%s: expected tcp/PORT or udp/PORT, not '%s'", w, pkey,
				    config_yaml_show(is_string(v) ? config_yaml_scalar(v) : "", shown));
		t->proto = ps.proto;
		t->port = ps.port;
		if (!(v = map_get(c, it, "to", NULL)))
			return config_yaml_fail(c, it, "%smissing 'to'", w);
		if (isf ? get_addr(v, t) < 0 : get_addr_port(v, t) < 0)
			return config_yaml_fail(c, v, "%sto: expected %s, not '%s'", w,
				    isf ? "an IPv4 or IPv6 address" : "ADDRESS:PORT, like 10.0.0.2:22 or [2001:db8::2]:22",
				    config_yaml_show(is_string(v) ? config_yaml_scalar(v) : "", shown));
		if ((v = map_get(c, it, "masquerade", NULL)) && get_bool(v, &t->masq) < 0)
			return config_yaml_fail(c, v, "%smasquerade: expected true or false", w);
		for (size_t j = 0; j < i; j++) {
			const struct gw_target *o = &d->gw[j];
			/* dnat: one translation per listened port and family (the
			 * firewall maps a source and port to one target). */
			if (o->via == t->via && o->family == t->family && o->proto == t->proto && o->port == t->port &&
			    (t->via == APPLY_VIA_DNAT || memcmp(o->to, t->to, 16) == 0))
				return config_yaml_fail(c, it, "%s%s is listed twice", w,
					    t->via == APPLY_VIA_DNAT ? "this listen: port" : "this entry");
		}
	}
	d->ngw = nf + nd;
	return 0;
}

/* ---- fleet (issue 16) ---------------------------------------------------- */

static bool is_local_alias(struct ctx *c, const char *name);

static bool host_name_ok(const char *s)
{
	return knock_host_valid(s, strlen(s));
}

/* at: or on: a list of host names, each once. ON: each is "local" or a
 * name of appliers:, stored as "" for the local applier. */
static int load_hosts(struct ctx *c, const yaml_node_t *list, const char *where, const char *key, bool on,
		      char ***out, size_t *nout)
{
	show_buf shown;
	if (list->type != YAML_SEQUENCE_NODE || seq_len(list) == 0)
		return config_yaml_fail(c, list, "%s%s: expected a list of host names like [web1, web2]", where, key);
	size_t n = seq_len(list);
	if (n > CONFIG_MAX_HOSTS)
		return config_yaml_fail(c, list, "%s%s: too many hosts (at most %d)", where, key, CONFIG_MAX_HOSTS);
	if (!(*out = calloc(n + 1, sizeof **out)))
		return config_yaml_fail_oom(c);
	for (size_t i = 0; i < n; i++) {
		const yaml_node_t *it = seq_item(c, list, i);
		const char *name = is_string(it) ? config_yaml_scalar(it) : "";
		if (!host_name_ok(name))
			return config_yaml_fail(c, it, "%s%s: expected a host name (1 to %d letters, digits, '.', '-', '_', ':')",
				    where, key, KNOCK_HOST_MAX);
		const char *stored = name;
		if (on) {
			size_t h = 0;
			while (h < c->cfg->nhosts && strcmp(c->cfg->hosts[h].name, name) != 0)
				h++;
			if (strcmp(name, "local") == 0 || is_local_alias(c, name))
				stored = "";
			else if (h == c->cfg->nhosts)
				return config_yaml_fail(c, it, "%son: '%s' is not a name of appliers: (nor local)", where,
					    config_yaml_show(name, shown));
		}
		for (size_t j = 0; j < *nout; j++)
			if ((*out)[j] && strcasecmp((*out)[j], stored) == 0)
				return config_yaml_fail(c, it, "%s%s: '%s' twice", where, key, config_yaml_show(name, shown));
		if (!((*out)[(*nout)++] = strdup(stored)))
			return config_yaml_fail_oom(c);
	}
	return 0;
}

/* Names given as `NAME: local` in appliers:, kept to tell on: about them. */
static bool is_local_alias(struct ctx *c, const char *name)
{
	for (size_t i = 0; i < c->nlocal; i++)
		if (strcmp(c->local_alias[i], name) == 0)
			return true;
	return false;
}

/* appliers: {NAME: local | {ssh: {host, user, key, known_hosts, port}}, ...} */
static int load_appliers(struct ctx *c, const yaml_node_t *m)
{
	static const char *const hkeys[] = {"ssh", NULL};
	static const char *const skeys[] = {"host", "user", "key", "known_hosts", "port", NULL};
	struct config *cfg = c->cfg;
	show_buf shown;
	if (m->type != YAML_MAPPING_NODE)
		return config_yaml_fail(c, m, "appliers: expected a mapping like {web1: {ssh: {host: web1.example.org}}}");
	size_t n = (size_t)(m->data.mapping.pairs.top - m->data.mapping.pairs.start);
	if (n > CONFIG_MAX_HOSTS)
		return config_yaml_fail(c, m, "appliers: too many hosts (at most %d)", CONFIG_MAX_HOSTS);
	if (!(cfg->hosts = calloc(n ? n : 1, sizeof *cfg->hosts)))
		return config_yaml_fail_oom(c);
	for (yaml_node_pair_t *p = m->data.mapping.pairs.start; p < m->data.mapping.pairs.top; p++) {
		yaml_node_t *k = node_at(c, p->key), *v = node_at(c, p->value), *x;
		const char *name = is_string(k) ? config_yaml_scalar(k) : "";
		char where[96];
		if (!host_name_ok(name))
			return config_yaml_fail(c, k, "appliers: expected a host name (1 to %d letters, digits, '.', '-', '_', ':')",
				    KNOCK_HOST_MAX);
		snprintf(where, sizeof where, "appliers: %s: ", name);
		for (size_t j = 0; j < cfg->nhosts; j++)
			if (cfg->hosts[j].name && strcmp(cfg->hosts[j].name, name) == 0)
				return config_yaml_fail(c, k, "%sgiven twice", where);
		if (is_string(v) && strcmp(config_yaml_scalar(v), "local") == 0) {
			if (is_local_alias(c, name) || c->nlocal == CONFIG_MAX_HOSTS)
				return config_yaml_fail(c, k, "%sgiven twice", where);
			c->local_alias[c->nlocal++] = config_yaml_scalar(k);
			continue;
		}
		if (strcmp(name, "local") == 0)
			return config_yaml_fail(c, v, "%sthe name local is the local applier's (local: local)", where);
		if (v->type != YAML_MAPPING_NODE)
			return config_yaml_fail(c, v, "%sexpected local or {ssh: {host: ..., user: ..., key: ...}}", where);
		if (check_keys(c, v, hkeys, where) < 0)
			return -1;
		if (!(x = map_get(c, v, "ssh", NULL)) || x->type != YAML_MAPPING_NODE)
			return config_yaml_fail(c, x ? x : v, "%sexpected {ssh: {host: ..., user: ..., key: ...}}", where);
		if (check_keys(c, x, skeys, where) < 0)
			return -1;
		struct fleet_host_conf *h = &cfg->hosts[cfg->nhosts++];
		h->line = (int)k->start_mark.line + 1;
		h->col = (int)k->start_mark.column + 1;
		if (dup_string(c, k, &h->name) < 0)
			return -1;
		yaml_node_t *y;
		/* ssh's destination: never an option (no leading '-') and no
		 * user@ (user: says it), so the argument vector means one thing. */
		if (!(y = map_get(c, x, "host", NULL)) || !is_string(y) || !host_name_ok(config_yaml_scalar(y)) ||
		    config_yaml_scalar(y)[0] == '-')
			return config_yaml_fail(c, y ? y : x, "%sssh: host: expected a host name or address", where);
		if (dup_string(c, y, &h->host) < 0)
			return -1;
		if ((y = map_get(c, x, "user", NULL))) {
			const char *u = is_string(y) ? config_yaml_scalar(y) : "";
			size_t un = strlen(u);
			if (un < 1 || un > 32 || strspn(u, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-") != un ||
			    u[0] == '-')
				return config_yaml_fail(c, y, "%sssh: user: expected a user name", where);
			if (dup_string(c, y, &h->user) < 0)
				return -1;
		}
		if ((y = map_get(c, x, "key", NULL))) {
			if (!is_abs_path(y))
				return config_yaml_fail(c, y, "%sssh: key: expected an absolute path", where);
			if (dup_string(c, y, &h->key) < 0)
				return -1;
		}
		if ((y = map_get(c, x, "known_hosts", NULL))) {
			if (!is_abs_path(y))
				return config_yaml_fail(c, y, "%sssh: known_hosts: expected an absolute path", where);
			if (dup_string(c, y, &h->known_hosts) < 0)
				return -1;
		}
		if ((y = map_get(c, x, "port", NULL)) && get_port(y, &h->port) < 0)
			return config_yaml_fail(c, y, "%sssh: port: expected a port from 1 to 65535", where);
	}
	(void)shown;
	return 0;
}

bool config_host_in(char *const *at, size_t nat, const char *name, size_t n)
{
	for (size_t i = 0; i < nat; i++)
		if (strlen(at[i]) == n && strncasecmp(at[i], name, n) == 0)
			return true;
	return false;
}

bool config_wants_hosts(const struct config *cfg)
{
	for (size_t i = 0; i < cfg->nsources; i++)
		if (cfg->sources[i].forwarded)
			return true;
	for (size_t i = 0; i < cfg->ndoors; i++)
		if (cfg->doors[i].nat)
			return true;
	return false;
}

static int load_door(struct ctx *c, const yaml_node_t *m, size_t index)
{
	static const char *const keys[] = {"name", "sequence", "one_time", "totp", "encrypted", "window",
					   "open", "forward", "dnat", "keep_established", "duration", "dedup",
					   "tcp_flags", "at", "on", NULL};
	static const char *const kinds[] = {"sequence", "one_time", "totp", "encrypted"};	/* enum door_kind */
	struct door_conf *d = &c->cfg->doors[index];
	yaml_node_t *name, *v;
	char where[96];
	show_buf bad, shown;

	snprintf(where, sizeof where, "door #%zu: ", index + 1);
	if (m->type != YAML_MAPPING_NODE)
		return config_yaml_fail(c, m, "%sexpected a mapping with name, sequence and open", where);
	name = map_get(c, m, "name", NULL);
	if (is_string(name) && apply_door_name_valid(config_yaml_scalar(name)))
		snprintf(where, sizeof where, "door '%s': ", config_yaml_scalar(name));
	if (check_keys(c, m, keys, where) < 0)
		return -1;

	if (!name)
		return config_yaml_fail(c, m, "%smissing 'name'", where);
	if (!is_string(name) || !apply_door_name_valid(config_yaml_scalar(name)))
		return config_yaml_fail(c, name, "%sname: expected 1 to %d letters, digits, '_', '.' or '-', beginning with a "
			    "letter, a digit or '_'", where, APPLY_DOOR_MAX);
	for (size_t j = 0; j < index; j++)
		if (strcmp(c->cfg->doors[j].name, config_yaml_scalar(name)) == 0)
			return config_yaml_fail(c, name, "%sduplicate door name (first at %d:%d)", where,
				    c->cfg->doors[j].line, c->cfg->doors[j].col);
	if (dup_string(c, name, &d->name) < 0)
		return -1;
	d->line = (int)m->start_mark.line + 1;
	d->col = (int)m->start_mark.column + 1;

	yaml_node_t *how = NULL, *howkey = NULL, *k;
	for (size_t i = 0; i < 4; i++) {
		if (!(v = map_get(c, m, kinds[i], &k)))
			continue;
		if (how)
			return config_yaml_fail(c, k, "%s'%s' and '%s': a door has only one of them", where, config_yaml_scalar(howkey),
				    kinds[i]);
		how = v;
		howkey = k;
		d->kind = (enum door_kind)i;
	}
	if (!how)
		return config_yaml_fail(c, m, "%smissing 'sequence' (or one_time, totp, encrypted)", where);
	yaml_node_t *fwd = map_get(c, m, "forward", NULL), *dnat = map_get(c, m, "dnat", NULL);
	if (!(v = map_get(c, m, "open", NULL)) && ((!fwd && !dnat) || d->kind == DOOR_ENCRYPTED))
		return config_yaml_fail(c, m, "%smissing 'open'%s", where,
			    d->kind == DOOR_ENCRYPTED ? "" : " (or forward, dnat)");
	if (v && load_ports(c, v, where, "open", "[tcp/22]", true, &d->open, &d->nopen) < 0)
		return -1;
	if ((fwd || dnat) && load_gateway(c, fwd, dnat, where, d) < 0)
		return -1;
	d->keep_established = true;
	if ((v = map_get(c, m, "keep_established", NULL))) {
		if (get_bool(v, &d->keep_established) < 0)
			return config_yaml_fail(c, v, "%skeep_established: expected true or false", where);
		if (!d->ngw)
			return config_yaml_fail(c, v, "%skeep_established: only for doors with forward or dnat", where);
	}
	if (d->kind == DOOR_SEQUENCE &&
	    load_ports(c, how, where, "sequence", "[tcp/7000, udp/8000]", false, &d->seq, &d->nseq) < 0)
		return -1;
	if (d->kind == DOOR_ONE_TIME) {
		char oerr[512];
		if (!is_abs_path(how))
			return config_yaml_fail(c, how, "%sone_time: expected the absolute path of a sequence file", where);
		if (!(d->one_time = onetime_load(config_yaml_scalar(how), oerr, sizeof oerr)))
			return config_yaml_fail(c, how, "%sone_time: %s", where, oerr);
	}
	if ((d->kind == DOOR_TOTP || d->kind == DOOR_ENCRYPTED) && load_code(c, how, where, d) < 0)
		return -1;
	if (d->kind == DOOR_TOTP || d->kind == DOOR_ENCRYPTED)
		d->nseq = d->code.knocks;

	d->window_us = DEFAULT_WINDOW_US;
	if ((v = map_get(c, m, "window", NULL))) {
		if (get_duration(c, v, where, "window", &d->window_us) < 0)
			return -1;
		if (d->window_us <= 0 || d->window_us > US_PER_H)
			return config_yaml_fail(c, v, "%swindow: must be more than 0 and at most 1h", where);
	}
	d->duration_us = DEFAULT_DURATION_US;
	if ((v = map_get(c, m, "duration", NULL))) {
		if (get_duration(c, v, where, "duration", &d->duration_us) < 0)
			return -1;
		if (d->duration_us <= 0)
			return config_yaml_fail(c, v, "%sduration: must be more than 0", where);
	}
	/* The default never exceeds a short window; an explicit value must not. */
	d->dedup_us = DEFAULT_DEDUP_US < d->window_us ? DEFAULT_DEDUP_US : d->window_us;
	if ((v = map_get(c, m, "dedup", NULL))) {
		if (get_duration(c, v, where, "dedup", &d->dedup_us) < 0)
			return -1;
		if (d->dedup_us > d->window_us)
			return config_yaml_fail(c, v, "%sdedup: must not be longer than the window", where);
	}
	d->flags_set = KNOCK_SYN;
	d->flags_clear = KNOCK_ACK;
	if ((v = map_get(c, m, "tcp_flags", NULL))) {
		if (!is_string(v))
			return config_yaml_fail(c, v, "%stcp_flags: expected flags like \"SYN,!ACK\", or any", where);
		if (parse_tcp_flags(config_yaml_scalar(v), &d->flags_set, &d->flags_clear, bad) < 0)
			return config_yaml_fail(c, v, "%stcp_flags: bad flag '%s': expected any, or FIN SYN RST PSH ACK URG ECE "
				    "CWR separated by commas, '!' before a flag that must be clear, each flag once",
				    where, config_yaml_show(bad, shown));
	}
	if ((v = map_get(c, m, "at", NULL)) && load_hosts(c, v, where, "at", false, &d->at, &d->nat) < 0)
		return -1;
	if ((v = map_get(c, m, "on", NULL)) && load_hosts(c, v, where, "on", true, &d->on, &d->non) < 0)
		return -1;
	return 0;
}

static int load_doors(struct ctx *c, const yaml_node_t *list)
{
	struct config *cfg = c->cfg;

	if (list->type != YAML_SEQUENCE_NODE)
		return config_yaml_fail(c, list, "doors: expected a list of doors");
	size_t n = seq_len(list);
	if (n == 0)
		return config_yaml_fail(c, list, "doors: expected at least one door");
	if (n > CONFIG_MAX_DOORS)
		return config_yaml_fail(c, list, "doors: too many doors (at most %d)", CONFIG_MAX_DOORS);
	if (!(cfg->doors = calloc(n, sizeof *cfg->doors)))
		return config_yaml_fail_oom(c);
	cfg->ndoors = n;	/* zeroed entries free cleanly if we stop early */
	for (size_t i = 0; i < n; i++)
		if (load_door(c, seq_item(c, list, i), i) < 0)
			return -1;
	return 0;
}

/* ---- control and metrics ---------------------------------------------- */

/* A group that must exist now: a typo would otherwise lock out the admins
 * it was meant for, silently. */
static int get_group(struct ctx *c, const yaml_node_t *n, const char *key, char **name, gid_t *gid)
{
	show_buf shown;
	const char *g = is_string(n) ? config_yaml_scalar(n) : "";
	size_t len = strlen(g);
	if (len < 1 || len > 32 || strspn(g, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-") != len ||
	    g[0] == '-')
		return config_yaml_fail(c, n, "control: %s: expected a group name", key);
	errno = 0;
	struct group *gr = getgrnam(g);
	if (!gr)
		return config_yaml_fail(c, n, "control: %s: no such group '%s'%s%s", key, config_yaml_show(g, shown), errno ? ": " : "",
			    errno ? strerror(errno) : "");
	*gid = gr->gr_gid;
	return dup_string(c, n, name);
}

static int load_control(struct ctx *c, const yaml_node_t *m)
{
	static const char *const keys[] = {"socket", "group", "read_group", NULL};
	struct control_conf *cc = &c->cfg->control;
	yaml_node_t *v;

	if (m->type != YAML_MAPPING_NODE)
		return config_yaml_fail(c, m, "control: expected a mapping with socket, group, read_group");
	if (check_keys(c, m, keys, "control: ") < 0)
		return -1;
	if ((v = map_get(c, m, "socket", NULL))) {
		/* "" (or null) is "no control socket" */
		const char *s = "";
		if (v->type != YAML_SCALAR_NODE || strlen(config_yaml_scalar(v)) != v->data.scalar.length ||
		    (is_string(v) && *config_yaml_scalar(v) && !is_abs_path(v)))
			return config_yaml_fail(c, v, "control: socket: expected an absolute path, or \"\" for none");
		if (is_string(v))
			s = config_yaml_scalar(v);
		if (strlen(s) >= 108)	/* sun_path */
			return config_yaml_fail(c, v, "control: socket: longer than 107 bytes, the most a socket's path holds");
		if (!(cc->socket = strdup(s)))
			return config_yaml_fail_oom(c);
	}
	if ((v = map_get(c, m, "group", NULL)) && get_group(c, v, "group", &cc->group, &cc->group_gid) < 0)
		return -1;
	if ((v = map_get(c, m, "read_group", NULL)) &&
	    get_group(c, v, "read_group", &cc->read_group, &cc->read_group_gid) < 0)
		return -1;
	return 0;
}

static int load_metrics(struct ctx *c, const yaml_node_t *m)
{
	static const char *const keys[] = {"file", "interval", NULL};
	struct metrics_conf *mc = &c->cfg->metrics;
	yaml_node_t *v;

	if (m->type != YAML_MAPPING_NODE)
		return config_yaml_fail(c, m, "metrics: expected a mapping with file and interval");
	if (check_keys(c, m, keys, "metrics: ") < 0)
		return -1;
	if (!(v = map_get(c, m, "file", NULL)))
		return config_yaml_fail(c, m, "metrics: missing 'file' (where the metrics are written)");
	if (!is_abs_path(v))
		return config_yaml_fail(c, v, "metrics: file: expected an absolute path");
	if (dup_string(c, v, &mc->file) < 0)
		return -1;
	if ((v = map_get(c, m, "interval", NULL))) {
		if (get_duration(c, v, "metrics: ", "interval", &mc->interval_us) < 0)
			return -1;
		if (mc->interval_us < US_PER_S)
			return config_yaml_fail(c, v, "metrics: interval: at least 1s");
	}
	return 0;
}

/* ---- the whole file --------------------------------------------------- */

static int load_root(struct ctx *c, const yaml_node_t *root)
{
	static const char *const keys[] = {"sources", "prefix", "patterns", "applier", "state_dir",
					   "max_sources", "max_grants", "keep_open_on_exit", "user", "doors",
					   "accept_nf_log_all_netns", "control", "metrics", "appliers", NULL};
	struct config *cfg = c->cfg;
	yaml_node_t *v;

	if (!root || root->type != YAML_MAPPING_NODE)
		return config_yaml_fail_at(c, (yaml_mark_t){0}, "expected a mapping at the top level");
	if (check_keys(c, root, keys, "") < 0)
		return -1;

	cfg->applier.backend = BACKEND_LOG;
	cfg->applier.timeout_us = DEFAULT_TIMEOUT_US;
	cfg->max_sources = DEFAULT_MAX_SOURCES;
	cfg->max_grants = DEFAULT_MAX_GRANTS;
	cfg->metrics.interval_us = DEFAULT_METRICS_INTERVAL_US;

	if ((v = map_get(c, root, "sources", NULL)) && load_sources(c, v) < 0)
		return -1;
	if ((v = map_get(c, root, "prefix", NULL)) && load_prefix(c, v) < 0)
		return -1;
	if ((v = map_get(c, root, "patterns", NULL)) && load_patterns(c, v) < 0)
		return -1;
	if ((v = map_get(c, root, "applier", NULL)) && load_applier(c, v) < 0)
		return -1;
	if ((v = map_get(c, root, "state_dir", NULL))) {
		if (!is_abs_path(v))
			return config_yaml_fail(c, v, "state_dir: expected an absolute path");
		if (dup_string(c, v, &cfg->state_dir) < 0)
			return -1;
	}
	if ((v = map_get(c, root, "max_sources", NULL)) &&
	    get_count(c, v, "max_sources", 10000000, &cfg->max_sources) < 0)
		return -1;
	if ((v = map_get(c, root, "max_grants", NULL)) &&
	    get_count(c, v, "max_grants", 1000000, &cfg->max_grants) < 0)
		return -1;
	if ((v = map_get(c, root, "user", NULL))) {
		const char *u = is_string(v) ? config_yaml_scalar(v) : "";
		size_t n = strlen(u);
		if (n < 1 || n > 32 || strspn(u, "abcdefghijklmnopqrstuvwxyz0123456789_-") != n || u[0] == '-')
			return config_yaml_fail(c, v, "user: expected a user name");
		if (dup_string(c, v, &cfg->user) < 0)
			return -1;
		cfg->user_line = (unsigned)v->start_mark.line + 1;
		cfg->user_col = (unsigned)v->start_mark.column + 1;
	}
	if ((v = map_get(c, root, "keep_open_on_exit", NULL))) {
		bool b;
		if (get_bool(v, &b) < 0)
			return config_yaml_fail(c, v, "keep_open_on_exit: expected true or false");
		cfg->keep_open_on_exit = b;
	}
	if ((v = map_get(c, root, "accept_nf_log_all_netns", NULL)) &&
	    get_bool(v, &cfg->accept_nf_log_all_netns) < 0)
		return config_yaml_fail(c, v, "accept_nf_log_all_netns: expected true or false");
	if ((v = map_get(c, root, "control", NULL)) && load_control(c, v) < 0)
		return -1;
	if ((v = map_get(c, root, "metrics", NULL)) && load_metrics(c, v) < 0)
		return -1;
	if ((v = map_get(c, root, "appliers", NULL)) && load_appliers(c, v) < 0)
		return -1;
	if (!(v = map_get(c, root, "doors", NULL)))
		return config_yaml_fail(c, root, "missing 'doors'");
	if (load_doors(c, v) < 0)
		return -1;
	if (cfg->nprefixes == 0 && cfg->npatterns == 0)
		return config_yaml_fail(c, root, "missing 'prefix' (needed unless 'patterns' is given)");
	if (!cfg->state_dir && !(cfg->state_dir = strdup(LOGKNOCK_STATEDIR)))
		return config_yaml_fail_oom(c);
	return 0;
}

int config_load(const char *path, struct config *cfg, char *err, size_t errlen)
{
	struct ctx c = {
		.path = path ? path : "(null)",
		.cfg = cfg,
		.err = err,
		.errlen = err ? errlen : 0,
	};
	yaml_document_t doc;
	int rc;

	if (c.errlen)
		err[0] = '\0';
	memset(cfg, 0, sizeof *cfg);
	if (!(cfg->path = strdup(c.path)))
		return config_yaml_fail_oom(&c);
	rc = config_yaml_read_document(&c, &doc);
	if (rc == 0) {
		c.doc = &doc;
		rc = load_root(&c, yaml_document_get_root_node(&doc));
		c.doc = NULL;
		yaml_document_delete(&doc);
	}
	if (rc < 0)
		config_free(cfg);
	return rc;
}

static void free_argv(char **argv)
{
	for (char **p = argv; p && *p; p++)
		free(*p);
	free(argv);
}

void config_free(struct config *cfg)
{
	if (!cfg)
		return;
	free(cfg->path);
	for (size_t i = 0; i < cfg->nsources; i++) {
		free(cfg->sources[i].arg);
		free(cfg->sources[i].directory);
	}
	for (size_t i = 0; i < cfg->nhosts; i++) {
		free(cfg->hosts[i].name);
		free(cfg->hosts[i].host);
		free(cfg->hosts[i].user);
		free(cfg->hosts[i].key);
		free(cfg->hosts[i].known_hosts);
	}
	free(cfg->hosts);
	free(cfg->ssh_program);
	free(cfg->sources);
	for (size_t i = 0; i < cfg->nprefixes; i++)
		free(cfg->prefixes[i]);
	free(cfg->prefixes);
	for (size_t i = 0; i < cfg->npatterns; i++)
		free(cfg->patterns[i].regex);
	free(cfg->patterns);
	free(cfg->applier.program);
	free(cfg->applier.config);
	free_argv(cfg->applier.open_argv);
	free_argv(cfg->applier.close_argv);
	free_argv(cfg->applier.command_argv);
	for (size_t i = 0; i < cfg->ndoors; i++) {
		free(cfg->doors[i].name);
		free(cfg->doors[i].seq);
		free(cfg->doors[i].open);
		free(cfg->doors[i].gw);
		free_argv(cfg->doors[i].at);
		free_argv(cfg->doors[i].on);
		free(cfg->doors[i].code.key_path);
		onetime_free(cfg->doors[i].one_time);
		explicit_bzero(cfg->doors[i].code.key, sizeof cfg->doors[i].code.key);
	}
	free(cfg->doors);
	free(cfg->state_dir);
	free(cfg->user);
	free(cfg->control.socket);
	free(cfg->control.group);
	free(cfg->control.read_group);
	free(cfg->metrics.file);
	memset(cfg, 0, sizeof *cfg);
}
