/* knockd_import_int.h — what knockd_import.c (reading and mapping a
 * knockd.conf) and knockd_import_yaml.c (writing the YAML) share: the doors
 * as read, and a few helpers. Internal to those two files. */
#ifndef LOGKNOCK_KNOCKD_IMPORT_INT_H
#define LOGKNOCK_KNOCKD_IMPORT_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "onetime.h"

#define KI_MAX_DOORS 256	/* logknock's limit (config.c) */
#define KI_MAX_STEPS ONETIME_MAX_STEPS	/* knockd's SEQ_MAX, logknock's CONFIG_MAX_PORTS */
#define KI_MAX_ARGV 64		/* logknock's CONFIG_MAX_ARGV */
#define KI_MAX_ARG_LEN 1024	/* logknock's CONFIG_MAX_ARG_LEN */
#define KI_MAX_NAME 64		/* logknock's door names */
#define KI_SEQ_TIMEOUT 25	/* knockd's defaults, seconds */
#define KI_CMD_TIMEOUT 10
#define KI_MAX_WINDOW 3600	/* logknock's window: at most 1h */
#define KI_MAX_DURATION (365L * 24 * 3600)

enum { P_TCP = 6, P_UDP = 17 };

/* A knockd value and the line it came from (0: absent). */
struct kv {
	char *s;
	int line;
};

struct cmd {
	char **argv;		/* NULL-terminated */
	size_t argc;
	uint8_t proto;		/* from -p; 0 if none */
	uint16_t ports[KI_MAX_STEPS];
	size_t nports;
	char *key;		/* the template, joined: for comparison */
};

struct door {
	char *name;		/* logknock name */
	char *orig;		/* knockd's section name, printable */
	int line;
	struct port_spec seq[KI_MAX_STEPS];
	size_t nseq;
	struct kv sequence, one_time, seq_timeout, tcpflags, start, start6, stop, stop6, cmd_timeout, target;
	uint8_t fset, fclear;	/* tcp flags, KF_* */
	bool flags_bad;

	/* Set while mapping. */
	struct cmd open, close;
	bool has_close;
	long window, duration;	/* seconds; duration 0: logknock's default */
	struct door *closer;	/* the door whose command undoes ours */
	struct door *closes;	/* we are the closing door of this one */
	char *skip;		/* why not carried over (NULL: carried over) */
	int skip_line;
	int group;
};

struct warning {
	int line;
	size_t seq;
	char *text;
};

struct imp {
	const char *path;
	FILE *warn;
	struct door *doors;
	size_t ndoors, cap;
	struct warning *warns;
	size_t nwarn, capwarn, lost;
};

enum { KF_FIN = 1, KF_SYN = 2, KF_RST = 4, KF_PSH = 8, KF_ACK = 16, KF_URG = 32 };
static const struct {
	const char *name;
	uint8_t bit;
} kflags[] = {
	{"FIN", KF_FIN}, {"SYN", KF_SYN}, {"RST", KF_RST}, {"PSH", KF_PSH}, {"ACK", KF_ACK}, {"URG", KF_URG},
};

/* The helpers both halves of the import share. */

bool knockd_import_all_printable(const char *s);
void knockd_import_describe(const struct cmd *c, char *buf, size_t len);
char *knockd_import_printable(const char *s, size_t max);
bool knockd_import_skipped(const struct door *d);
void knockd_import_write_config(FILE *out, struct imp *im, const struct door *tmpl, size_t nactive);

#endif
