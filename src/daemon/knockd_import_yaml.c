/* knockd_import_yaml.c — the second half of knockd_import(): the doors read
 * from a knockd.conf and mapped (knockd_import.c) written out as a logknockd
 * YAML configuration, with the doors that could not be carried over
 * commented out and the firewall rules the applier needs as a hint. */
#include "knockd_import.h"

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "knockd_import_int.h"

/* ---- writing the YAML ------------------------------------------------------ */

static void yaml_str(FILE *out, const char *s)
{
	fputc('"', out);
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;
		if (c == '"' || c == '\\')
			fprintf(out, "\\%c", c);
		else if (c < 0x20 || c >= 0x7f)
			fprintf(out, "\\x%02X", c);
		else
			fputc(c, out);
	}
	fputc('"', out);
}

static void yaml_argv(FILE *out, const struct cmd *c)
{
	fputc('[', out);
	for (size_t i = 0; i < c->argc; i++) {
		if (i)
			fputs(", ", out);
		yaml_str(out, c->argv[i]);
	}
	fputc(']', out);
}

static const char *proto_name(uint8_t p)
{
	return p == P_UDP ? "udp" : "tcp";
}

static void flags_string(const struct door *d, char *buf, size_t len)
{
	size_t at = 0;
	buf[0] = '\0';
	for (int pass = 0; pass < 2; pass++)
		for (size_t i = 0; i < sizeof kflags / sizeof kflags[0]; i++)
			if ((pass ? d->fclear : d->fset) & kflags[i].bit) {
				int n = snprintf(buf + at, len - at, "%s%s%s", at ? "," : "", pass ? "!" : "",
						 kflags[i].name);
				if (n < 0 || (size_t)n >= len - at)
					return;
				at += (size_t)n;
			}
}

/* A bounded line being built. */
struct linebuf {
	char s[1024];
	size_t n;
};

__attribute__((format(printf, 2, 3)))
static void lb_add(struct linebuf *b, const char *fmt, ...)
{
	va_list ap;
	if (b->n >= sizeof b->s - 1)
		return;
	va_start(ap, fmt);
	int r = vsnprintf(b->s + b->n, sizeof b->s - b->n, fmt, ap);
	va_end(ap);
	if (r > 0)
		b->n += (size_t)r < sizeof b->s - b->n ? (size_t)r : sizeof b->s - 1 - b->n;
}

/* PFX, the line, and COMMENT (if any) in the comment column. */
static void lb_emit(FILE *out, const char *pfx, struct linebuf *b, const char *comment)
{
	if (comment)
		fprintf(out, "%s%-30s # %s\n", pfx, b->s, comment);
	else
		fprintf(out, "%s%s\n", pfx, b->s);
	b->n = 0;
	b->s[0] = '\0';
}

/* One door, each line after PFX ("  " or "  # "). */
static void write_door(FILE *out, const struct imp *im, const struct door *d, const char *pfx)
{
	struct linebuf b = {.n = 0};
	char fl[64], cmdbuf[256], where[160];
	bool tcp = false;
	uint8_t oproto = d->open.proto ? d->open.proto : P_TCP;

	snprintf(where, sizeof where, "[%s], %s:%d", d->orig, im->path, d->line);
	/* A name YAML reads as null ([NULL] in knockd.conf) is quoted; the
	 * others are letters, digits, '_', '.' and '-', plain strings. */
	const char *name = d->name ? d->name : "imported";
	bool null_word = !strcmp(name, "null") || !strcmp(name, "Null") || !strcmp(name, "NULL");
	lb_add(&b, null_word ? "- name: \"%s\"" : "- name: %s", name);
	lb_emit(out, pfx, &b, where);
	if (d->one_time.s) {
		/* Its own line, unbounded: a path cut short would name another file. */
		const char *why = "one_time_sequences: knockd's file, as it is";
		if (d->one_time.s[0] != '/')
			why = "TODO: the file's absolute path";
		else if (!knockd_import_all_printable(d->one_time.s))
			why = "TODO: a path of printable ASCII";
		fprintf(out, "%s  one_time: ", pfx);
		yaml_str(out, d->one_time.s);
		fprintf(out, "  # %s\n", why);
		tcp = true;	/* the file's sequences may have TCP steps */
	} else if (d->nseq) {
		lb_add(&b, "  sequence: [");
		for (size_t i = 0; i < d->nseq; i++) {
			lb_add(&b, "%s%s/%u", i ? ", " : "", proto_name(d->seq[i].proto), d->seq[i].port);
			tcp |= d->seq[i].proto == P_TCP;
		}
		lb_add(&b, "]");
		lb_emit(out, pfx, &b, NULL);
	} else {
		lb_add(&b, "  sequence: []");
		lb_emit(out, pfx, &b, d->sequence.s ? "TODO: see the warning" : "TODO: knockd.conf gives none");
	}
	lb_add(&b, "  window: %lds", d->window);
	lb_emit(out, pfx, &b, d->seq_timeout.s ? "seq_timeout" : "knockd's default seq_timeout");
	if (d->open.argv && d->open.nports) {
		lb_add(&b, "  open: [");
		for (size_t i = 0; i < d->open.nports; i++)
			lb_add(&b, "%s%s/%u", i ? ", " : "", proto_name(oproto), d->open.ports[i]);
		lb_add(&b, "]");
		lb_emit(out, pfx, &b, "the port(s) of the command");
	} else {
		lb_add(&b, "  open: [%s/1]", proto_name(oproto));
		lb_emit(out, pfx, &b, "TODO: the command names no port; this entry only makes it run once");
	}
	if (d->has_close) {
		lb_add(&b, "  duration: %lds", d->duration);
		lb_emit(out, pfx, &b, d->cmd_timeout.s ? "cmd_timeout" : "knockd's default cmd_timeout");
	} else if (d->closer) {
		snprintf(where, sizeof where, "knockd: until the [%s] knock", d->closer->orig);
		lb_add(&b, "  duration: 30s");
		lb_emit(out, pfx, &b, where);
	} else {
		lb_add(&b, "  duration: 30s");
		lb_emit(out, pfx, &b, "knockd ran no stop_command: close does nothing");
	}
	if (tcp) {
		if (d->fset | d->fclear) {
			flags_string(d, fl, sizeof fl);
			lb_add(&b, "  tcp_flags: \"%s\"", fl);
			lb_emit(out, pfx, &b, "tcpflags");
		} else {
			lb_add(&b, "  tcp_flags: any");
			lb_emit(out, pfx, &b, "knockd had no tcpflags: any TCP packet counts");
		}
	}
	if (pfx[2] == '#') {
		/* A door not carried over: knockd's commands, for reference. */
		const struct kv *kvs[] = {&d->start, &d->stop};
		const char *names[] = {"start_command", "stop_command"};
		for (size_t i = 0; i < 2; i++) {
			if (!kvs[i]->s)
				continue;
			char *p = knockd_import_printable(kvs[i]->s, 200);
			fprintf(out, "%s  # knockd %s = %s\n", pfx, names[i], p ? p : "?");
			free(p);
		}
	} else if (d->open.argv && !d->open.nports) {
		knockd_import_describe(&d->open, cmdbuf, sizeof cmdbuf);
		char *p = knockd_import_printable(cmdbuf, 200);
		fprintf(out, "%s  # runs: %s\n", pfx, p ? p : "?");
		free(p);
	}
}

static void write_rules_hint(FILE *out, const struct imp *im)
{
	/* The knock ports of the doors carried over, for the firewall's log rule. */
	for (int pass = 0; pass < 2; pass++) {
		uint8_t proto = pass ? P_UDP : P_TCP;
		unsigned ports[KI_MAX_DOORS * KI_MAX_STEPS];
		size_t n = 0;
		for (size_t i = 0; i < im->ndoors; i++) {
			const struct door *d = &im->doors[i];
			if (knockd_import_skipped(d))
				continue;
			for (size_t k = 0; k < d->nseq; k++) {
				if (d->seq[k].proto != proto)
					continue;
				size_t j = 0;
				while (j < n && ports[j] != d->seq[k].port)
					j++;
				if (j == n && n < sizeof ports / sizeof ports[0])
					ports[n++] = d->seq[k].port;
			}
		}
		if (n == 0)
			continue;
		fprintf(out, "#   %s dport { ", proto_name(proto));
		for (size_t j = 0; j < n; j++)
			fprintf(out, "%s%u", j ? ", " : "", ports[j]);
		fprintf(out, " } log prefix \"KNOCK \" drop\n");
	}
	for (size_t i = 0; i < im->ndoors; i++) {
		const struct door *d = &im->doors[i];
		if (!knockd_import_skipped(d) && d->one_time.s)
			fprintf(out, "#   (door %s: every port of its one-time sequences, in %s)\n", d->name,
				d->one_time.s);
	}
}

void knockd_import_write_config(FILE *out, struct imp *im, const struct door *tmpl, size_t nactive)
{
	fprintf(out,
		"# logknockd.yaml, imported from %s by logknockd --import-knockd.\n"
		"# Review it (see the TODO lines and the warnings the import printed), then\n"
		"# check it:  logknockd -c FILE --check-config\n"
		"# and try it on a log:  logknockd -c FILE --replay /var/log/kern.log --print-events\n"
		"\n"
		"# knockd watched an interface; logknockd reads the firewall's log. The live\n"
		"# daemon follows the kernel's messages in the journal (or a file, or kmsg):\n"
		"sources:\n"
		"  - journal: kernel\n"
		"\n"
		"# knockd has no log prefix: make the firewall drop AND log every packet to\n"
		"# the knock ports with this prefix, e.g. in an nftables input chain:\n",
		im->path);
	write_rules_hint(out, im);
	fprintf(out,
		"# or with iptables: -p tcp --dport PORT -j LOG --log-prefix \"KNOCK \", then -j DROP.\n"
		"prefix: \"KNOCK \"\n"
		"\n");
	if (tmpl) {
		fprintf(out,
			"# knockd ran each door's command line through /bin/sh; logknock runs one\n"
			"# applier for all doors, as argument vectors with execve and no shell.\n"
			"# %%IP%% is the knocker's address, %%PROTO%% and %%PORT%% each entry of a\n"
			"# door's open: list.\n"
			"applier:\n"
			"  backend: command\n"
			"  open:  ");
		yaml_argv(out, &tmpl->open);
		fprintf(out, "\n  close: ");
		if (tmpl->closer)
			yaml_argv(out, &tmpl->closer->open);
		else if (tmpl->has_close)
			yaml_argv(out, &tmpl->close);
		else
			fprintf(out, "[\"/bin/true\"]   # knockd ran no stop_command: nothing is undone");
		fprintf(out, "\n");
	} else {
		fprintf(out, "applier:\n  backend: log                   # TODO: no door's command could be carried over\n");
	}
	fprintf(out, "\ndoors:%s\n", nactive ? "" : "                           # TODO: no door could be carried over");
	for (size_t i = 0; i < im->ndoors; i++) {
		const struct door *d = &im->doors[i];
		if (d->closes)
			continue;	/* folded into the door it closes */
		if (!knockd_import_skipped(d)) {
			write_door(out, im, d, "  ");
			continue;
		}
		fprintf(out, "  # TODO (%s:%d): not carried over: %s\n", im->path, d->skip_line,
			d->skip ? d->skip : "see the warnings");
		write_door(out, im, d, "  # ");
	}
	for (size_t i = 0; i < im->ndoors; i++)
		if (im->doors[i].closes)
			fprintf(out, "  # [%s] (%s:%d): its command is the close command of door '%s'\n",
				im->doors[i].orig, im->path, im->doors[i].line, im->doors[i].closes->name);
}
