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
 * Exit status: 0 fine, 1 runtime failure, 2 usage or profile error.
 * This file: the options and main; profile.c the profile file; send.c the
 * network and the codes; logknock.h what they share. */
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

#include "logknock.h"

/* ---- messages --------------------------------------------------------- */


const char *show(const char *s, show_buf buf)
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
long parse_delay(const char *s)
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
const char *parse_step(const char *s, struct step *out)
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
int parse_wait_port(const char *s, uint16_t *out)
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
const char *set_code(struct settings *s, const char *name, const char *v)
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
