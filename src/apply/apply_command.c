/* apply_command.c — the command backend: knockd-style argument templates.
 * Placeholders inside each argument: %IP% %PROTO% %PORT% %DOOR% %FAMILY%
 * %SECONDS% (%SECONDS% is 0 for close, %DOOR% may be empty); for forward and
 * dnat grants (issue 15) also %VIA% (local, forward, dnat), %TO% (the
 * internal host; empty for a local grant) and %TOPORT% (dnat: the port on
 * %TO%; forward: %PORT%; local: empty), %MASQ% and %KEEP% (1 or 0). Any
 * other text, '%' included, is copied as it is. Forward and dnat requests
 * are refused unless a template names %TO%: commands written for this
 * host's ports would open the listen port here instead. Each command runs
 * through apply_run(). */
#include "apply_backend.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "knock.h"
#include "log.h"

#define ARG_MAX_LEN 4096	/* one substituted argument, without its NUL */

/* ---- templates ------------------------------------------------------------ */

/* Substitutes the placeholders of one template argument. A new string, or
 * NULL with err set. */
static char *subst(const char *t, const struct apply_cmd *c, char *err, size_t errlen)
{
	char addr[INET6_ADDRSTRLEN], port[8], secs[16];
	if (!inet_ntop(c->family, c->addr, addr, sizeof addr)) {
		snprintf(err, errlen, "cannot format address");
		return NULL;
	}
	snprintf(port, sizeof port, "%u", (unsigned)c->port);
	snprintf(secs, sizeof secs, "%lu", (unsigned long)(c->op == APPLY_OPEN ? c->seconds : 0));
	char to[INET6_ADDRSTRLEN] = "", toport[8] = "";
	if (c->via != APPLY_VIA_LOCAL) {
		if (!inet_ntop(c->family, c->to, to, sizeof to)) {
			snprintf(err, errlen, "cannot format address");
			return NULL;
		}
		snprintf(toport, sizeof toport, "%u", (unsigned)(c->via == APPLY_VIA_DNAT ? c->toport : c->port));
	}
	const struct {
		const char *name, *value;
	} ph[] = {
		{"%IP%", addr},
		{"%PROTO%", knock_proto_str(c->proto)},
		{"%PORT%", port},
		{"%DOOR%", c->door},
		{"%FAMILY%", c->family == AF_INET ? "inet" : "inet6"},
		{"%SECONDS%", secs},
		{"%VIA%", c->via == APPLY_VIA_DNAT ? "dnat" : c->via == APPLY_VIA_FORWARD ? "forward" : "local"},
		{"%TOPORT%", toport},	/* before %TO%, which it begins with */
		{"%TO%", to},
		{"%MASQ%", c->masq ? "1" : "0"},
		{"%KEEP%", c->nokeep ? "0" : "1"},
	};
	char buf[ARG_MAX_LEN + 1];
	size_t len = 0;
	while (*t) {
		const char *val = NULL;
		size_t skip = 1;
		if (*t == '%') {
			for (size_t i = 0; i < sizeof ph / sizeof ph[0]; i++) {
				size_t nl = strlen(ph[i].name);
				if (strncmp(t, ph[i].name, nl) == 0) {
					val = ph[i].value;
					skip = nl;
					break;
				}
			}
		}
		size_t vlen = val ? strlen(val) : 1;
		if (len + vlen > ARG_MAX_LEN) {
			snprintf(err, errlen, "argument longer than %d bytes after substitution", ARG_MAX_LEN);
			return NULL;
		}
		memcpy(buf + len, val ? val : t, vlen);
		len += vlen;
		t += skip;
	}
	buf[len] = '\0';
	char *s = strdup(buf);
	if (!s)
		snprintf(err, errlen, "out of memory");
	return s;
}

static void free_argv(char **argv)
{
	if (!argv)
		return;
	for (char **p = argv; *p; p++)
		free(*p);
	free(argv);
}

static char **build_argv(char **tmpl, size_t n, const struct apply_cmd *c, char *err, size_t errlen)
{
	char **argv = calloc(n + 1, sizeof *argv);
	if (!argv) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	for (size_t i = 0; i < n; i++) {
		argv[i] = subst(tmpl[i], c, err, errlen);
		if (!argv[i]) {
			free_argv(argv);
			return NULL;
		}
	}
	if (n == 0 || argv[0][0] != '/') {
		snprintf(err, errlen, "command is not an absolute path");
		free_argv(argv);
		return NULL;
	}
	return argv;
}

/* Runs the open or close templates for c; logs the command and its outcome. */
static int run_templates(const struct apply_options *a, bool open, const struct apply_cmd *c, char *msg, size_t msglen)
{
	const char *what = open ? "open" : "close";
	if (c->via != APPLY_VIA_LOCAL) {
		char **t = open ? a->open_t : a->close_t;
		size_t n = open ? a->nopen : a->nclose, i = 0;
		while (i < n && !strstr(t[i], "%TO%"))
			i++;
		if (i == n) {
			snprintf(msg, msglen, "refused: a %s grant, and the --%s template has no %%TO%%",
				 c->via == APPLY_VIA_DNAT ? "dnat" : "forward", what);
			log_err("%s %llu: %s", what, (unsigned long long)c->id, msg);
			return -1;
		}
	}
	char **argv = build_argv(open ? a->open_t : a->close_t, open ? a->nopen : a->nclose, c, msg, msglen);
	if (!argv) {
		log_err("%s %llu: %s", what, (unsigned long long)c->id, msg);
		return -1;
	}
	char desc[900];
	apply_describe_argv(argv, desc, sizeof desc);
	log_info("%s %llu: running %s", what, (unsigned long long)c->id, desc);
	int r = apply_run(argv, a->timeout_ms, msg, msglen);
	if (r == 0)
		log_info("%s %llu: ok", what, (unsigned long long)c->id);
	else
		log_err("%s %llu: %s", what, (unsigned long long)c->id, msg);
	free_argv(argv);
	return r;
}


static void *command_create(const struct apply_options *o, char *err, size_t errlen)
{
	if (!o->nopen || !o->nclose) {
		snprintf(err, errlen, "--backend command needs --open and --close templates");
		return NULL;
	}
	if (o->open_t[0][0] != '/' || o->close_t[0][0] != '/') {
		snprintf(err, errlen, "the commands of --open and --close must be absolute paths");
		return NULL;
	}
	return (void *)o;
}

static int command_open(void *st, const struct apply_cmd *c, int refresh, char *msg, size_t msglen)
{
	if (refresh) {
		/* The rule is there; the daemon's own close ends it on time. */
		log_info("open %llu: already open, nothing to run", (unsigned long long)c->id);
		return 0;
	}
	return run_templates(st, true, c, msg, msglen);
}

static int command_close(void *st, const struct apply_cmd *c, char *msg, size_t msglen)
{
	return run_templates(st, false, c, msg, msglen);
}

static void command_destroy(void *st)
{
}

const struct apply_backend apply_backend_command = {
	.name = "command",
	.create = command_create,
	.open = command_open,
	.close = command_close,
	.flush = NULL,	/* commands cannot list what they added: close each known ID */
	.destroy = command_destroy,
	.gateway = 1,	/* when a template names %TO% (run_templates) */
};
