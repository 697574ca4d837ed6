/* knockd_import.c — a knockd.conf in, an equivalent logknockd YAML out.
 *
 * knockd.conf, as knockd 0.8 reads it: "[options]" with UseSyslog, LogFile,
 * PidFile, Interface; then one "[name]" section per door with
 *
 *   sequence       = 7000,8000:udp,9000        (protocol tcp unless given)
 *   one_time_sequences = /path                  (a sequence file)
 *   seq_timeout    = 5   (also "timeout")      (seconds, default 25)
 *   tcpflags       = syn,!ack                  (no condition when absent)
 *   start_command  = ... (also "command")      (run through /bin/sh -c)
 *   start_command_6, command_6, stop_command_6 (the same for IPv6 knockers)
 *   cmd_timeout    = 10                        (seconds to stop_command)
 *   stop_command   = ...
 *   target         = ADDRESS
 *
 * Keys are case-insensitive; lines whose first non-blank is '#' are comments.
 *
 * The mapping:
 *   sequence      → sequence: [tcp/N, udp/N]
 *   one_time_sequences → one_time: PATH (the same file format; the path
 *                   must be absolute); a sequence given as well is unused,
 *                   as in knockd
 *   seq_timeout   → window: Ns (at most 1h)
 *   tcpflags      → tcp_flags: "SYN,!ACK"; none → "any" (knockd's default)
 *   start_command → applier open: an argument vector, with the port after
 *                   --dport and the protocol after -p turned into %PORT% and
 *                   %PROTO% so that doors differing only there share it;
 *                   the door's open: lists the ports the command named
 *   stop_command  → applier close:; cmd_timeout → duration: (default 10s)
 *   a door whose command is "... -A|-I CHAIN ..." and another whose command
 *   is the same with "-D CHAIN" (knockd's openSSH/closeSSH pair) → one door
 *   that opens with the first and closes with the second; the closing door
 *   is not carried over (a grant ends when its duration does)
 *   a command and no stop_command → close: [/bin/true]: knockd never undid it
 *
 * logknock has one applier for all doors: the template shared by most doors
 * is used, and doors whose commands differ are written commented out.
 * Commands with shell syntax, placeholders other than %IP%, relative
 * programs not found in the usual directories, or bytes outside printable
 * ASCII cannot be carried over safely: their door is commented out too.
 *
 * Input is hostile: lines are bounded (KNOCKD_IMPORT_LINE_MAX), every copy
 * is allocated to size, every array has a checked bound. */
#include "knockd_import.h"

#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "onetime.h"

#include "knockd_import_int.h"

/* ---- small helpers ---------------------------------------------------- */

/* Warnings are kept and printed sorted by line when the import ends. */
__attribute__((format(printf, 3, 4)))
static void warnl(struct imp *im, int line, const char *fmt, ...)
{
	va_list ap;
	char *text = NULL;

	va_start(ap, fmt);
	int n = vasprintf(&text, fmt, ap);
	va_end(ap);
	if (n < 0)
		text = NULL;
	if (im->nwarn == im->capwarn) {
		size_t ncap = im->capwarn ? im->capwarn * 2 : 16;
		struct warning *nw = realloc(im->warns, ncap * sizeof *nw);
		if (!nw) {
			free(text);
			im->lost++;
			return;
		}
		im->warns = nw;
		im->capwarn = ncap;
	}
	size_t k = im->nwarn++;
	im->warns[k] = (struct warning){.line = line, .seq = k, .text = text};
}

static int warning_cmp(const void *a, const void *b)
{
	const struct warning *x = a, *y = b;
	if (x->line != y->line)
		return x->line < y->line ? -1 : 1;
	return x->seq < y->seq ? -1 : x->seq > y->seq;
}

static void warnings_flush(struct imp *im)
{
	if (im->nwarn)
		qsort(im->warns, im->nwarn, sizeof *im->warns, warning_cmp);
	for (size_t i = 0; i < im->nwarn; i++) {
		if (im->warns[i].line > 0)
			fprintf(im->warn, "%s:%d: %s\n", im->path, im->warns[i].line,
				im->warns[i].text ? im->warns[i].text : "(out of memory)");
		else
			fprintf(im->warn, "%s: %s\n", im->path, im->warns[i].text ? im->warns[i].text : "(out of memory)");
		free(im->warns[i].text);
	}
	if (im->lost)
		fprintf(im->warn, "%s: %zu more warnings lost (out of memory)\n", im->path, im->lost);
	free(im->warns);
	im->warns = NULL;
	im->nwarn = im->capwarn = 0;
}

/* A copy of S safe for a message or a YAML comment: printable ASCII only,
 * at most MAX bytes shown. Never NULL unless out of memory. */
char *knockd_import_printable(const char *s, size_t max)
{
	size_t n = strlen(s);
	size_t shown = n < max ? n : max;
	char *p = malloc(shown + 4);
	if (!p)
		return NULL;
	for (size_t i = 0; i < shown; i++)
		p[i] = (unsigned char)s[i] >= 0x20 && (unsigned char)s[i] < 0x7f ? s[i] : '?';
	strcpy(p + shown, n > max ? "..." : "");
	return p;
}

static char *trim(char *s)
{
	while (*s == ' ' || *s == '\t' || *s == '\r')
		s++;
	size_t n = strlen(s);
	while (n > 0 && (s[n - 1] == ' ' || s[n - 1] == '\t' || s[n - 1] == '\r'))
		s[--n] = '\0';
	return s;
}

/* A decimal number of digits only, at most MAX; -1 otherwise. */
static long number(const char *s, long max)
{
	long v = 0;
	if (!*s)
		return -1;
	for (; *s; s++) {
		if (*s < '0' || *s > '9')
			return -1;
		if (v > (max - (*s - '0')) / 10)
			return -1;
		v = v * 10 + (*s - '0');
	}
	return v;
}

static void free_argv(char **argv)
{
	for (char **p = argv; p && *p; p++)
		free(*p);
	free(argv);
}

static void cmd_free(struct cmd *c)
{
	free_argv(c->argv);
	free(c->key);
	memset(c, 0, sizeof *c);
}

static void door_free(struct door *d)
{
	struct kv *kvs[] = {&d->sequence, &d->one_time, &d->seq_timeout, &d->tcpflags, &d->start,
			    &d->start6, &d->stop, &d->stop6, &d->cmd_timeout, &d->target};
	free(d->name);
	free(d->orig);
	for (size_t i = 0; i < sizeof kvs / sizeof kvs[0]; i++)
		free(kvs[i]->s);
	cmd_free(&d->open);
	cmd_free(&d->close);
	free(d->skip);
}

/* Marks D as not carried over, for WHY (the first reason wins). */
__attribute__((format(printf, 3, 4)))
static void skip(struct door *d, int line, const char *fmt, ...)
{
	va_list ap;
	if (d->skip)
		return;
	char buf[512];
	va_start(ap, fmt);
	vsnprintf(buf, sizeof buf, fmt, ap);
	va_end(ap);
	d->skip = strdup(buf);
	d->skip_line = line ? line : d->line;	/* marks the door even if strdup failed */
}

bool knockd_import_skipped(const struct door *d)
{
	return d->skip != NULL || d->skip_line != 0;
}

/* ---- reading knockd.conf ---------------------------------------------- */

/* One line of F into BUF (at most KNOCKD_IMPORT_LINE_MAX bytes and a NUL).
 * 1: a line; 0: end of file; -1: too long; -2: a NUL byte; -3: read error. */
static int read_line(FILE *f, char *buf, size_t *len)
{
	size_t n = 0;
	int c;
	bool any = false;

	while ((c = getc(f)) != EOF) {
		any = true;
		if (c == '\n')
			break;
		if (c == '\0')
			return -2;
		if (n >= KNOCKD_IMPORT_LINE_MAX)
			return -1;
		buf[n++] = (char)c;
	}
	if (c == EOF && ferror(f))
		return -3;
	buf[n] = '\0';
	*len = n;
	return any ? 1 : 0;
}

static struct door *new_door(struct imp *im, const char *section, int line)
{
	if (im->ndoors == im->cap) {
		size_t ncap = im->cap ? im->cap * 2 : 8;
		struct door *nd = realloc(im->doors, ncap * sizeof *nd);
		if (!nd)
			return NULL;
		im->doors = nd;
		im->cap = ncap;
	}
	struct door *d = &im->doors[im->ndoors];
	memset(d, 0, sizeof *d);
	if (!(d->orig = knockd_import_printable(section, 80)))
		return NULL;
	d->line = line;
	im->ndoors++;
	return d;
}

static int set_kv(struct imp *im, struct kv *kv, const char *key, const char *val, int line)
{
	if (kv->s) {
		char *k = knockd_import_printable(key, 40);
		warnl(im, line, "'%s' given again (first at line %d): the last one counts, as in knockd", k ? k : "?",
		      kv->line);
		free(k);
		free(kv->s);
	}
	if (!(kv->s = strdup(val)))
		return -1;
	kv->line = line;
	return 0;
}

/* A door directive. Returns -1 only when out of memory. */
static int door_key(struct imp *im, struct door *d, const char *key, const char *val, int line)
{
	static const struct {
		const char *name;
		size_t off;
	} keys[] = {
		{"SEQUENCE", offsetof(struct door, sequence)},
		{"ONE_TIME_SEQUENCES", offsetof(struct door, one_time)},
		{"SEQ_TIMEOUT", offsetof(struct door, seq_timeout)},
		{"TIMEOUT", offsetof(struct door, seq_timeout)},
		{"TCPFLAGS", offsetof(struct door, tcpflags)},
		{"START_COMMAND", offsetof(struct door, start)},
		{"COMMAND", offsetof(struct door, start)},
		{"START_COMMAND_6", offsetof(struct door, start6)},
		{"COMMAND_6", offsetof(struct door, start6)},
		{"STOP_COMMAND", offsetof(struct door, stop)},
		{"STOP_COMMAND_6", offsetof(struct door, stop6)},
		{"CMD_TIMEOUT", offsetof(struct door, cmd_timeout)},
		{"TARGET", offsetof(struct door, target)},
	};
	for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++)
		if (strcasecmp(key, keys[i].name) == 0)
			return set_kv(im, (struct kv *)((char *)d + keys[i].off), key, val, line);
	char *k = knockd_import_printable(key, 40);
	warnl(im, line, "door '%s': unknown directive '%s' (knockd refuses it too): ignored", d->orig,
	      k ? k : "?");
	free(k);
	return 0;
}

static void options_key(struct imp *im, const char *key, int line)
{
	if (strcasecmp(key, "UseSyslog") == 0)
		warnl(im, line, "UseSyslog: not carried over: logknockd logs to stderr (the journal under systemd)");
	else if (strcasecmp(key, "LogFile") == 0)
		warnl(im, line, "LogFile: not carried over: logknockd logs to stderr (the journal under systemd); "
		      "redirect it if you need a file");
	else if (strcasecmp(key, "PidFile") == 0)
		warnl(im, line, "PidFile: not carried over: logknockd runs in the foreground (systemd tracks it)");
	else if (strcasecmp(key, "Interface") == 0)
		warnl(im, line, "Interface: not carried over: logknockd reads the firewall's log, not an interface; "
		      "restrict the firewall's knock log rule to that interface instead (iifname/-i)");
	else {
		char *k = knockd_import_printable(key, 40);
		warnl(im, line, "[options]: unknown directive '%s': ignored", k ? k : "?");
		free(k);
	}
}

static int parse_file(struct imp *im, FILE *f)
{
	char *buf = malloc(KNOCKD_IMPORT_LINE_MAX + 1);
	struct door *d = NULL;
	bool in_options = false, in_section = false;
	int line = 0, rc = 0;
	size_t len;

	if (!buf)
		return -1;
	for (;;) {
		int r = read_line(f, buf, &len);
		if (r == 0)
			break;
		line++;
		if (r == -1) {
			warnl(im, line, "line longer than %d bytes: not a knockd configuration", KNOCKD_IMPORT_LINE_MAX);
			rc = -2;
			break;
		}
		if (r == -2) {
			warnl(im, line, "NUL byte: not a knockd configuration");
			rc = -2;
			break;
		}
		if (r == -3) {
			fprintf(im->warn, "%s: cannot read: %s\n", im->path, strerror(errno));
			rc = -2;
			break;
		}
		char *s = trim(buf);
		if (*s == '\0' || *s == '#')
			continue;
		if (*s == '[') {
			char *end = strchr(s, ']');
			if (!end || end == s + 1) {
				warnl(im, line, "malformed section header: ignored");
				continue;
			}
			*end = '\0';
			if (*trim(end + 1))
				warnl(im, line, "text after the section header: ignored");
			char *name = s + 1;
			in_section = true;
			d = NULL;
			in_options = strcmp(name, "options") == 0;
			if (in_options)
				continue;
			if (im->ndoors == KI_MAX_DOORS) {
				char *p = knockd_import_printable(name, 40);
				warnl(im, line, "door '%s': more than %d doors: not carried over", p ? p : "?",
				      KI_MAX_DOORS);
				free(p);
				continue;
			}
			if (!(d = new_door(im, name, line))) {
				rc = -1;
				break;
			}
			continue;
		}
		if (!in_section) {
			warnl(im, line, "directive outside any section (knockd refuses it): ignored");
			continue;
		}
		char *eq = strchr(s, '=');
		char *key = s, *val = NULL;
		if (eq) {
			*eq = '\0';
			key = trim(s);
			val = trim(eq + 1);
		}
		if (in_options) {
			options_key(im, key, line);
			continue;
		}
		if (!d)
			continue;	/* a door beyond the limit: already reported */
		if (!val) {
			if (strcasecmp(key, "UseSyslog") == 0)
				warnl(im, line, "UseSyslog: not carried over: logknockd logs to stderr");
			else
				warnl(im, line, "door '%s': expected KEY = VALUE: ignored", d->orig);
			continue;
		}
		if (door_key(im, d, key, val, line) < 0) {
			rc = -1;
			break;
		}
	}
	free(buf);
	return rc;
}

/* ---- doors: sequence, times, flags -------------------------------------- */

static int name_door(struct imp *im, struct door *d)
{
	size_t n = strlen(d->orig);
	bool changed = false;

	if (n > KI_MAX_NAME - 4) {
		n = KI_MAX_NAME - 4;
		changed = true;
	}
	if (!(d->name = malloc(KI_MAX_NAME + 1)))
		return -1;
	for (size_t i = 0; i < n; i++) {
		char c = d->orig[i];
		/* as apply_door_name_valid(): not "-x", ".", ".." */
		bool okc = isalnum((unsigned char)c) || c == '_' || (i > 0 && (c == '.' || c == '-'));
		d->name[i] = okc ? c : '_';
		changed |= !okc;
	}
	if (n == 0) {	/* "[]" */
		n = strlen(strcpy(d->name, "door"));
		changed = true;
	}
	d->name[n] = '\0';
	/* Unique among the doors named before. */
	for (int k = 2; k < 1000; k++) {
		bool dup = false;
		for (struct door *o = im->doors; o < d; o++)
			if (o->name && strcmp(o->name, d->name) == 0)
				dup = true;
		if (!dup)
			break;
		snprintf(d->name + n, KI_MAX_NAME + 1 - n, "-%d", k);
		changed = true;
	}
	if (changed)
		warnl(im, d->line, "door '%s': named '%s' (logknock names: letters, digits, '_', '.', '-', not first, unique)",
		      d->orig, d->name);
	return 0;
}

bool knockd_import_all_printable(const char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s < 0x20 || (unsigned char)*s >= 0x7f)
			return false;
	return true;
}

/* one_time_sequences = PATH: logknock reads knockd's file as it is, from an
 * absolute path (a relative one depends on knockd's working directory,
 * which the import cannot know). */
static void parse_one_time(struct imp *im, struct door *d)
{
	const char *path = d->one_time.s;
	char *shown = knockd_import_printable(path, 200), err[512];
	const char *p = shown ? shown : "?";

	if (d->sequence.s)
		warnl(im, d->sequence.line, "door '%s': sequence and one_time_sequences: a logknock door has one or "
		      "the other: the file is carried over, this sequence is not", d->orig);
	if (path[0] != '/') {
		skip(d, d->one_time.line, "one_time_sequences '%s' is not an absolute path, which logknock's "
		     "one_time: needs: give the file's absolute path", p);
	} else if (!knockd_import_all_printable(path)) {
		/* A YAML string is text: other bytes would name another file. */
		skip(d, d->one_time.line, "one_time_sequences: the path has bytes that are not printable ASCII");
	} else {
		struct onetime *ot = onetime_load(path, err, sizeof err);
		char *e = knockd_import_printable(err, 300);
		/* Carried over all the same: the file may be made or fixed later
		 * (or on another machine), but the configuration will not load
		 * until then. */
		if (!ot)
			warnl(im, d->one_time.line, "door '%s': one_time_sequences: %s: logknockd refuses the "
			      "configuration until that is fixed", d->orig, e ? e : "?");
		else if (onetime_left(ot) == 0)
			warnl(im, d->one_time.line, "door '%s': one_time_sequences: every sequence in %s is used: the "
			      "door opens only once new ones are added", d->orig, p);
		onetime_free(ot);
		free(e);
	}
	free(shown);
}

/* sequence = 7000,8000:udp,9000 (knockd's syntax, which one-time sequence
 * files share). */
static void parse_sequence(struct imp *im, struct door *d)
{
	if (d->one_time.s) {
		parse_one_time(im, d);
		return;
	}
	if (!d->sequence.s) {
		skip(d, d->line, "no sequence");
		return;
	}
	const char *s = d->sequence.s, *why = "";
	size_t len = strlen(s), at = 0;
	if (len == 0) {
		skip(d, d->sequence.line, "empty sequence");
		return;
	}
	if (onetime_parse_sequence(s, len, d->seq, KI_MAX_STEPS, &d->nseq, &at, &why) == 0)
		return;
	/* The step is the item the bad byte is in: steps are between commas. */
	size_t step = 1, from = 0;
	for (size_t i = 0; i < at && i < len; i++) {
		if (s[i] == ',') {
			step++;
			from = i + 1;
		}
	}
	char item[64];
	size_t n = strcspn(s + from, ",");
	snprintf(item, sizeof item, "%.*s", (int)(n < sizeof item - 1 ? n : sizeof item - 1), s + from);
	char *p = knockd_import_printable(trim(item), 40);
	skip(d, d->sequence.line, "sequence: step %zu ('%s'): %s", step, p ? p : "?", why);
	free(p);
	d->nseq = 0;
}

static void parse_times(struct imp *im, struct door *d)
{
	d->window = KI_SEQ_TIMEOUT;
	if (d->seq_timeout.s) {
		long v = number(d->seq_timeout.s, 1000000000L);
		if (v < 1)
			warnl(im, d->seq_timeout.line, "door '%s': seq_timeout: expected seconds (at least 1): "
			      "knockd's default %ds used", d->orig, KI_SEQ_TIMEOUT);
		else if (v > KI_MAX_WINDOW)
			warnl(im, d->seq_timeout.line, "door '%s': seq_timeout %ld: logknock's window is at most 1h: "
			      "1h used", d->orig, v);
		else
			d->window = v;
		if (v > KI_MAX_WINDOW)
			d->window = KI_MAX_WINDOW;
	}
	d->duration = 0;
	if (d->cmd_timeout.s) {
		long v = number(d->cmd_timeout.s, 1000000000L);
		if (!d->stop.s)
			;	/* reported with the commands */
		else if (v < 1)
			warnl(im, d->cmd_timeout.line, "door '%s': cmd_timeout: expected seconds (at least 1): "
			      "knockd's default %ds used", d->orig, KI_CMD_TIMEOUT);
		else if (v > KI_MAX_DURATION)
			warnl(im, d->cmd_timeout.line, "door '%s': cmd_timeout: more than 365 days: 365 days used", d->orig);
		d->duration = v < 1 ? KI_CMD_TIMEOUT : v > KI_MAX_DURATION ? KI_MAX_DURATION : v;
	} else if (d->stop.s) {
		d->duration = KI_CMD_TIMEOUT;
	}
}

static void parse_flags(struct imp *im, struct door *d)
{
	if (!d->tcpflags.s)
		return;
	const char *p = d->tcpflags.s;
	while (*p) {
		size_t len = strcspn(p, ",");
		char item[16];
		bool okf = false;
		if (len < sizeof item) {
			memcpy(item, p, len);
			item[len] = '\0';
			char *t = trim(item);
			bool neg = *t == '!';
			for (size_t i = 0; i < sizeof kflags / sizeof kflags[0]; i++) {
				if (strcasecmp(t + neg, kflags[i].name) != 0)
					continue;
				/* knockd: the last mention of a flag counts. */
				d->fset &= (uint8_t)~kflags[i].bit;
				d->fclear &= (uint8_t)~kflags[i].bit;
				*(neg ? &d->fclear : &d->fset) |= kflags[i].bit;
				okf = true;
			}
		}
		if (!okf) {
			d->flags_bad = true;
			skip(d, d->tcpflags.line, "tcpflags: unknown flag (knockd knows fin syn rst psh ack urg, "
			     "with '!' for must-be-clear; it refuses others)");
			return;
		}
		p += len + (p[len] == ',');
	}
	(void)im;
}

/* ---- commands ------------------------------------------------------------ */

/* knockd's command line as an argument vector, with the quoting a simple
 * sh command line uses. NULL with *why set when it needs a shell. */
static char **split_command(const char *s, size_t *argc, char *why, size_t whylen)
{
	size_t cap = KI_MAX_ARGV + 1, n = 0;
	char **argv = calloc(cap, sizeof *argv);
	char *tok = malloc(strlen(s) + 1);
	size_t tl = 0;
	bool in_tok = false;

	if (!argv || !tok) {
		snprintf(why, whylen, "out of memory");
		goto fail;
	}
	for (const char *p = s;; p++) {
		unsigned char c = (unsigned char)*p;
		if (c == '\0' || c == ' ' || c == '\t') {
			if (in_tok) {
				if (n == KI_MAX_ARGV) {
					snprintf(why, whylen, "more than %d arguments", KI_MAX_ARGV);
					goto fail;
				}
				if (tl > KI_MAX_ARG_LEN) {
					snprintf(why, whylen, "an argument longer than %d bytes", KI_MAX_ARG_LEN);
					goto fail;
				}
				tok[tl] = '\0';
				if (!(argv[n++] = strdup(tok))) {
					snprintf(why, whylen, "out of memory");
					goto fail;
				}
				tl = 0;
				in_tok = false;
			}
			if (c == '\0')
				break;
			continue;
		}
		if (c < 0x20 || c >= 0x7f) {
			snprintf(why, whylen, "a byte that is not printable ASCII (0x%02X)", c);
			goto fail;
		}
		if (c == '\'' || c == '"') {
			const char *q = strchr(p + 1, (char)c);
			if (!q) {
				snprintf(why, whylen, "an unterminated %s quote", c == '\'' ? "single" : "double");
				goto fail;
			}
			for (const char *r = p + 1; r < q; r++) {
				if (c == '"' && (*r == '$' || *r == '`' || *r == '\\')) {
					snprintf(why, whylen, "shell syntax '%c' inside double quotes", *r);
					goto fail;
				}
				if ((unsigned char)*r < 0x20 || (unsigned char)*r >= 0x7f) {
					snprintf(why, whylen, "a byte that is not printable ASCII");
					goto fail;
				}
				tok[tl++] = *r;
			}
			in_tok = true;
			p = q;
			continue;
		}
		/* Outside quotes: what only a shell understands. Braces and '!'
		 * inside a word are literal to /bin/sh (dash), as for nft sets. */
		if (strchr(";&|<>()$`\\*?[]", c)) {
			static const char *const names[][2] = {
				{";", "a command separator ';'"}, {"&", "'&' (background or &&)"},
				{"|", "a pipe or '||'"},          {"<", "a redirection '<'"},
				{">", "a redirection '>'"},       {"(", "a subshell or $( )"},
				{")", "a subshell or $( )"},      {"$", "a variable or $( ) expansion"},
				{"`", "a backtick substitution"}, {"\\", "a backslash escape"},
				{"*", "a glob '*'"},              {"?", "a glob '?'"},
				{"[", "a glob '[...]'"},          {"]", "a glob '[...]'"},
			};
			const char *name = "shell syntax";
			for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
				if (names[i][0][0] == (char)c)
					name = names[i][1];
			snprintf(why, whylen, "shell syntax: %s", name);
			goto fail;
		}
		if (!in_tok && (c == '#' || c == '~')) {
			snprintf(why, whylen, "shell syntax: %s", c == '#' ? "a comment '#'" : "a tilde expansion '~'");
			goto fail;
		}
		tok[tl++] = (char)c;
		in_tok = true;
	}
	if (n == 0) {
		snprintf(why, whylen, "an empty command");
		goto fail;
	}
	if (strcmp(argv[0], "!") == 0 || (strchr(argv[0], '=') && argv[0][0] != '/')) {
		snprintf(why, whylen, "shell syntax: %s", argv[0][0] == '!' ? "'!' negation" : "a variable assignment");
		goto fail;
	}
	free(tok);
	*argc = n;
	return argv;
fail:
	free(tok);
	free_argv(argv);
	return NULL;
}

/* The placeholders knockd expands: %IP% only. Any other %WORD% would be
 * expanded (or refused) by logknock, unlike knockd: not carried over. */
static bool foreign_placeholder(const char *arg)
{
	for (const char *p = strchr(arg, '%'); p; p = strchr(p + 1, '%')) {
		size_t len = strspn(p + 1, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_");
		if (len == 0 || p[1 + len] != '%')
			continue;
		if (!(len == 2 && strncmp(p + 1, "IP", 2) == 0))
			return true;
		p += len + 1;
	}
	return false;
}

/* A program named without a path: where knockd's PATH would have found it. */
static char *resolve_program(const char *prog)
{
	static const char *const dirs[] = {"/usr/local/sbin", "/usr/local/bin", "/usr/sbin",
					   "/usr/bin", "/sbin", "/bin"};
	if (strchr(prog, '/'))
		return NULL;
	for (size_t i = 0; i < sizeof dirs / sizeof dirs[0]; i++) {
		size_t n = strlen(dirs[i]) + 1 + strlen(prog) + 1;
		char *path = malloc(n);
		if (!path)
			return NULL;
		snprintf(path, n, "%s/%s", dirs[i], prog);
		if (access(path, X_OK) == 0)
			return path;
		free(path);
	}
	return NULL;
}

static bool is_opt(const char *a, const char *const *names)
{
	for (; *names; names++)
		if (strcmp(a, *names) == 0)
			return true;
	return false;
}

/* "22" or "22,443": ports into C; false if anything else. */
static bool parse_ports(const char *s, struct cmd *c)
{
	size_t n = 0;
	uint16_t ports[KI_MAX_STEPS];
	while (*s) {
		size_t len = strcspn(s, ",");
		char item[8];
		if (len == 0 || len >= sizeof item || n == KI_MAX_STEPS)
			return false;
		memcpy(item, s, len);
		item[len] = '\0';
		long v = number(item, 65535);
		if (v < 1)
			return false;
		for (size_t i = 0; i < n; i++)
			if (ports[i] == v)
				return false;
		ports[n++] = (uint16_t)v;
		s += len + (s[len] == ',');
	}
	if (n == 0)
		return false;
	memcpy(c->ports, ports, n * sizeof ports[0]);
	c->nports = n;
	return true;
}

static int replace_arg(char **slot, const char *with)
{
	char *s = strdup(with);
	if (!s)
		return -1;
	free(*slot);
	*slot = s;
	return 0;
}

/* Turns the port after --dport (iptables) or dport (nft) into %PORT%, and
 * the protocol after -p (or before nft's dport) into %PROTO%. */
static int templatize(struct cmd *c)
{
	static const char *const dport[] = {"--dport", "--destination-port", "--dports", "--destination-ports", NULL};
	static const char *const popt[] = {"-p", "--protocol", "--proto", NULL};
	long proto_at = -1, port_at = -1;

	for (size_t i = 0; i + 1 < c->argc; i++) {
		const char *a = c->argv[i], *v = c->argv[i + 1];
		if (proto_at < 0 && is_opt(a, popt) && (strcasecmp(v, "tcp") == 0 || strcasecmp(v, "udp") == 0))
			proto_at = (long)i + 1;
		else if (port_at < 0 && (is_opt(a, dport) || strcmp(a, "dport") == 0) && parse_ports(v, c)) {
			port_at = (long)i + 1;
			/* nft: "tcp dport 22" */
			if (strcmp(a, "dport") == 0 && i > 0 && proto_at < 0 &&
			    (strcmp(c->argv[i - 1], "tcp") == 0 || strcmp(c->argv[i - 1], "udp") == 0))
				proto_at = (long)i - 1;
		}
	}
	if (proto_at >= 0)
		c->proto = strcasecmp(c->argv[proto_at], "udp") == 0 ? P_UDP : P_TCP;
	if (port_at < 0)
		return 0;	/* no port: the command stays as it is */
	if (replace_arg(&c->argv[port_at], "%PORT%") < 0)
		return -1;
	if (proto_at >= 0 && replace_arg(&c->argv[proto_at], "%PROTO%") < 0)
		return -1;
	return 0;
}

static int make_key(struct cmd *c)
{
	size_t n = 1;
	for (size_t i = 0; i < c->argc; i++)
		n += strlen(c->argv[i]) + 1;
	if (!(c->key = malloc(n)))
		return -1;
	char *p = c->key;
	for (size_t i = 0; i < c->argc; i++) {
		size_t l = strlen(c->argv[i]);
		memcpy(p, c->argv[i], l);
		p += l;
		*p++ = '\x1f';
	}
	*p = '\0';
	return 0;
}

/* Builds C from knockd's command KV of door D; false (D skipped) when it
 * cannot be carried over. -1 when out of memory. */
static int load_command(struct imp *im, struct door *d, const struct kv *kv, const char *what, struct cmd *c)
{
	char why[160];
	c->argv = split_command(kv->s, &c->argc, why, sizeof why);
	if (!c->argv) {
		skip(d, kv->line, "%s cannot be carried over safely: %s; logknock runs commands with execve, "
		     "never a shell (wrap it in a script and name the script)", what, why);
		return 0;
	}
	for (size_t i = 0; i < c->argc; i++) {
		if (foreign_placeholder(c->argv[i])) {
			skip(d, kv->line, "%s: a %%WORD%% placeholder other than %%IP%%: knockd passed it literally, "
			     "logknock would expand or refuse it", what);
			return 0;
		}
	}
	if (c->argv[0][0] != '/') {
		char *abs = resolve_program(c->argv[0]);
		if (!abs) {
			char *p = knockd_import_printable(c->argv[0], 60);
			skip(d, kv->line, "%s: program '%s' not found in /usr/local/sbin /usr/local/bin /usr/sbin "
			     "/usr/bin /sbin /bin; logknock needs an absolute path", what, p ? p : "?");
			free(p);
			return 0;
		}
		char *p = knockd_import_printable(abs, 100);
		warnl(im, kv->line, "door '%s': %s: program '%s' is written as %s (logknock needs an absolute path)",
		      d->orig, what, c->argv[0], p ? p : "?");
		free(p);
		free(c->argv[0]);
		c->argv[0] = abs;
	}
	if (templatize(c) < 0 || make_key(c) < 0)
		return -1;
	return 1;
}

void knockd_import_describe(const struct cmd *c, char *buf, size_t len)
{
	size_t at = 0;
	buf[0] = '\0';
	for (size_t i = 0; i < c->argc && at + 1 < len; i++) {
		int n = snprintf(buf + at, len - at, "%s%s", i ? " " : "", c->argv[i]);
		if (n < 0)
			break;
		at += (size_t)n;
	}
	if (at >= len && len > 4)
		strcpy(buf + len - 4, "...");
}

/* -A/--append/-I/--insert CHAIN [N] in C at *at; false if none. */
static bool add_op(const struct cmd *c, size_t *at)
{
	for (size_t i = 0; i + 1 < c->argc; i++)
		if (strcmp(c->argv[i], "-A") == 0 || strcmp(c->argv[i], "--append") == 0 ||
		    strcmp(c->argv[i], "-I") == 0 || strcmp(c->argv[i], "--insert") == 0) {
			*at = i;
			return true;
		}
	return false;
}

/* Whether DEL is ADD with its -A/-I CHAIN [N] turned into -D CHAIN. */
static bool undoes(const struct cmd *add, const struct cmd *del)
{
	size_t i;
	if (!add_op(add, &i))
		return false;
	bool insert = add->argv[i][1] == 'I' || strcmp(add->argv[i], "--insert") == 0;
	size_t skip_num = insert && i + 2 < add->argc && number(add->argv[i + 2], 1000000) >= 0 ? 1 : 0;
	if (del->argc + skip_num != add->argc || i + 1 >= del->argc)
		return false;
	for (size_t k = 0; k < i; k++)
		if (strcmp(add->argv[k], del->argv[k]) != 0)
			return false;
	if (strcmp(del->argv[i], "-D") != 0 && strcmp(del->argv[i], "--delete") != 0)
		return false;
	if (strcmp(add->argv[i + 1], del->argv[i + 1]) != 0)
		return false;
	for (size_t k = i + 2; k < del->argc; k++)
		if (strcmp(add->argv[k + skip_num], del->argv[k]) != 0)
			return false;
	return add->proto == del->proto && add->nports == del->nports &&
	       memcmp(add->ports, del->ports, add->nports * sizeof add->ports[0]) == 0;
}

static int map_commands(struct imp *im, struct door *d)
{
	int r;
	if (!d->start.s) {
		skip(d, d->line, "no start_command (or command): nothing to run");
		return 0;
	}
	if ((r = load_command(im, d, &d->start, "start_command", &d->open)) <= 0)
		return r;
	if (d->stop.s) {
		if ((r = load_command(im, d, &d->stop, "stop_command", &d->close)) <= 0)
			return r;
		d->has_close = true;
		if (d->close.nports && (d->close.nports != d->open.nports ||
					memcmp(d->close.ports, d->open.ports, d->open.nports * sizeof d->open.ports[0]) != 0)) {
			skip(d, d->stop.line, "stop_command names other ports than start_command: logknock closes "
			     "what it opened");
			return 0;
		}
	} else if (d->cmd_timeout.s) {
		warnl(im, d->cmd_timeout.line, "door '%s': cmd_timeout without stop_command: ignored (as by knockd)",
		      d->orig);
	}
	if (d->start6.s || d->stop6.s) {
		const struct kv *kv = d->start6.s ? &d->start6 : &d->stop6;
		bool same = (!d->start6.s || strcmp(d->start6.s, d->start.s) == 0) &&
			    (!d->stop6.s || (d->stop.s && strcmp(d->stop6.s, d->stop.s) == 0));
		if (!same)
			warnl(im, kv->line, "door '%s': start_command_6/stop_command_6 not carried over: logknock runs "
			      "the same open/close for IPv4 and IPv6 sources (%%FAMILY%% is inet or inet6), so IPv6 "
			      "knockers will get the IPv4 command; use a backend (nft) or a wrapper that looks at "
			      "%%FAMILY%%", d->orig);
	}
	if (d->target.s)
		warnl(im, d->target.line, "door '%s': Target not carried over: a logknock door matches knocks to "
		      "any address the firewall logs; restrict the log rule to that destination instead", d->orig);
	return 1;
}

/* knockd's openSSH/closeSSH: a door adding a rule and a door deleting it. */
static void pair_doors(struct imp *im)
{
	for (size_t i = 0; i < im->ndoors; i++) {
		struct door *a = &im->doors[i];
		size_t at;
		if (knockd_import_skipped(a) || a->has_close || a->closes || !add_op(&a->open, &at))
			continue;
		for (size_t j = 0; j < im->ndoors; j++) {
			struct door *b = &im->doors[j];
			if (j == i || knockd_import_skipped(b) || b->has_close || b->closer || b->closes || !undoes(&a->open, &b->open))
				continue;
			a->closer = b;
			b->closes = a;
			warnl(im, b->start.line, "door '%s': its command undoes that of door '%s': it becomes the "
			      "applier's close command; knockd kept the port open until this sequence, logknock closes "
			      "it when the grant's duration ends, so this door is not carried over (set the duration "
			      "of '%s' to how long a session needs to start)", b->orig, a->orig, a->name);
			break;
		}
	}
}

/* The key of a door's (open, close) pair. */
static int same_group(const struct door *a, const struct door *b)
{
	const struct cmd *ca = a->closer ? &a->closer->open : a->has_close ? &a->close : NULL;
	const struct cmd *cb = b->closer ? &b->closer->open : b->has_close ? &b->close : NULL;
	if (strcmp(a->open.key, b->open.key) != 0)
		return 0;
	if (!ca || !cb)
		return !ca && !cb;
	return strcmp(ca->key, cb->key) == 0;
}

/* ---- the whole import ------------------------------------------------------ */

int knockd_import(const char *path, FILE *out, FILE *warn)
{
	char *shown = knockd_import_printable(path, 200);	/* the name in messages and comments */
	struct imp im = {.path = shown ? shown : "knockd.conf", .warn = warn};
	int rc = 2;

	FILE *f = fopen(path, "r");
	if (!f) {
		fprintf(warn, "%s: cannot open: %s\n", im.path, strerror(errno));
		free(shown);
		return 2;
	}
	int pr = parse_file(&im, f);
	fclose(f);
	if (pr == -1)
		fprintf(warn, "%s: out of memory\n", im.path);
	if (pr < 0)
		goto out;
	if (im.ndoors == 0) {
		fprintf(warn, "%s: no door: a knockd.conf defines doors as [name] sections with a sequence\n", im.path);
		goto out;
	}

	for (size_t i = 0; i < im.ndoors; i++) {
		struct door *d = &im.doors[i];
		if (name_door(&im, d) < 0)
			goto oom;
		parse_sequence(&im, d);
		parse_times(&im, d);
		parse_flags(&im, d);
		if (!knockd_import_skipped(d) && map_commands(&im, d) < 0)
			goto oom;
	}
	pair_doors(&im);

	/* The applier: the (open, close) pair most doors share; the first on a tie. */
	struct door *tmpl = NULL;
	size_t best = 0;
	for (size_t i = 0; i < im.ndoors; i++) {
		struct door *d = &im.doors[i];
		if (knockd_import_skipped(d) || d->closes)
			continue;
		size_t n = 0;
		for (size_t j = 0; j < im.ndoors; j++)
			if (!knockd_import_skipped(&im.doors[j]) && !im.doors[j].closes && same_group(d, &im.doors[j]))
				n++;
		if (n > best) {
			best = n;
			tmpl = d;
		}
	}
	size_t nactive = 0;
	char a[200], b[200];
	for (size_t i = 0; i < im.ndoors; i++) {
		struct door *d = &im.doors[i];
		if (knockd_import_skipped(d) || d->closes)
			continue;
		if (!same_group(d, tmpl)) {
			knockd_import_describe(&tmpl->open, a, sizeof a);
			knockd_import_describe(&d->open, b, sizeof b);
			char *pa = knockd_import_printable(a, 120), *pb = knockd_import_printable(b, 120);
			skip(d, d->start.line, "its commands differ from the applier's (those of door '%s': %s; this "
			     "door: %s), and logknock runs one applier for all doors; write a wrapper program that "
			     "chooses by %%DOOR%%", tmpl->name, pa ? pa : "?", pb ? pb : "?");
			free(pa);
			free(pb);
			continue;
		}
		if (d->open.nports && !d->open.proto)
			warnl(&im, d->start.line, "door '%s': the command names a port but no protocol (-p): tcp assumed",
			      d->orig);
		if (!d->open.nports)
			warnl(&im, d->start.line, "door '%s': the command names no port (--dport): its open: entry "
			      "is a placeholder that makes it run once", d->orig);
		if (!d->has_close && !d->closer)
			warnl(&im, d->start.line, "door '%s': knockd ran the command once and never undid it: the "
			      "applier's close is /bin/true, so the rule stays after the grant ends, as with knockd",
			      d->orig);
		nactive++;
	}
	for (size_t i = 0; i < im.ndoors; i++) {
		struct door *d = &im.doors[i];
		if (knockd_import_skipped(d))
			warnl(&im, d->skip_line, "door '%s': not carried over: %s", d->orig,
			      d->skip ? d->skip : "out of memory");
	}
	warnings_flush(&im);
	knockd_import_write_config(out, &im, nactive ? tmpl : NULL, nactive);
	if (fflush(out) != 0 || ferror(out)) {
		fprintf(warn, "%s: cannot write the configuration: %s\n", im.path, strerror(errno));
		goto out;
	}
	if (nactive == 0)
		fprintf(warn, "%s: no door could be carried over\n", im.path);
	rc = nactive ? 0 : 2;
	goto out;
oom:
	fprintf(warn, "%s: out of memory\n", im.path);
out:
	warnings_flush(&im);
	for (size_t i = 0; i < im.ndoors; i++)
		door_free(&im.doors[i]);
	free(im.doors);
	free(shown);
	return rc;
}
