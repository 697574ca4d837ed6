/* config_yaml.h — what config.c (the keys of logknockd.yaml) and
 * config_yaml.c (reading any YAML file of logknock, its errors, its
 * numbers) share. Internal to those two files: the public API is config.h. */
#ifndef LOGKNOCK_CONFIG_YAML_H
#define LOGKNOCK_CONFIG_YAML_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <yaml.h>

#include "config.h"

#define CONFIG_MAX_HOSTS 64	/* appliers:, and the hosts of at: and on: */

#define US_PER_MS INT64_C(1000)
#define US_PER_S (1000 * US_PER_MS)
#define US_PER_M (60 * US_PER_S)
#define US_PER_H (60 * US_PER_M)
#define US_MAX_DURATION (365 * 24 * US_PER_H)

/* Room for a user's value quoted in a message (see config_yaml_show()). */
#define SHOW_MAX 64
typedef char show_buf[SHOW_MAX + 4];

struct ctx {
	const char *path;
	yaml_document_t *doc;
	struct config *cfg;
	char *err;
	size_t errlen;
	const char *local_alias[CONFIG_MAX_HOSTS];	/* appliers: NAME: local (the document's strings) */
	size_t nlocal;
};

/* The helpers config.c and config_yaml.c share, named for where they live. */

/* S[0..LEN) as a decimal number of digits only, at most MAX. */
int config_yaml_parse_decimal(const char *s, size_t len, uint64_t max, uint64_t *out);
/* "ms", "s", "m", "h" in microseconds; -1 for anything else. */
int64_t config_yaml_duration_unit(const char *unit);

/* Report an error ("FILE:LINE:COL: message" or "FILE: message"); -1. */
__attribute__((format(printf, 3, 4)))
int config_yaml_fail_at(struct ctx *c, yaml_mark_t m, const char *fmt, ...);
__attribute__((format(printf, 3, 4)))
int config_yaml_fail(struct ctx *c, const yaml_node_t *node, const char *fmt, ...);
__attribute__((format(printf, 2, 3)))
int config_yaml_fail_file(struct ctx *c, const char *fmt, ...);
int config_yaml_fail_oom(struct ctx *c);
/* A user's string made safe to quote in a one-line message. */
const char *config_yaml_show(const char *s, show_buf buf);
const char *config_yaml_scalar(const yaml_node_t *n);
/* Read, bounded, checked for its shape and loaded. */
int config_yaml_read_document(struct ctx *c, yaml_document_t *doc);

#endif
