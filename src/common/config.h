/* config.h — the YAML configuration (libyaml) as plain structs.
 * Every error is reported once as "FILE:LINE:COL: message". */
#ifndef LOGKNOCK_CONFIG_H
#define LOGKNOCK_CONFIG_H

#include <stddef.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "apply_proto.h"
#include "knockcode.h"

/* A port specification: "tcp/22", "udp/8000", "icmp/8", "icmpv6/128". */
struct port_spec {
	uint8_t proto;		/* IPPROTO_TCP, IPPROTO_UDP, IPPROTO_ICMP, IPPROTO_ICMPV6 */
	uint16_t port;		/* port, or ICMP type */
};

enum source_kind { SOURCE_FILE, SOURCE_JOURNAL, SOURCE_KMSG };

/* How lines of a source are laid out (see parse.h). */
enum source_format {
	FORMAT_SYSLOG,		/* syslog files and journalctl output: tag must be "kernel" */
	FORMAT_ULOGD,		/* ulogd2 LOGEMU: "TIME HOST PREFIX IN=..." with no tag */
};

struct source_conf {
	enum source_kind kind;
	char *arg;		/* file path; journal match ("kernel"); NULL for kmsg */
	enum source_format format;
	/* file, syslog format: the admin states that only the kernel's log
	 * writes it (rsyslog's imkmsg, as contrib/rsyslog-logknock.conf), not
	 * the /dev/log socket any user may send to (default false: warned) */
	bool kernel_only;
	/* fleet (issue 16): the source carries other hosts' lines (rsyslog
	 * or journal-remote on a collector): their host is part of each knock */
	bool forwarded;
	char *directory;	/* journal: the journal files of this directory (journal-remote's); NULL: the local journal */
	int line, col;
};

/* A user-defined PCRE2 pattern with named groups src, dst, proto, sport,
 * dport (and optionally time). */
struct pattern_conf {
	char *regex;
	int line, col;
};

enum applier_backend {
	BACKEND_LOG,		/* write each command, change nothing */
	BACKEND_COMMAND,	/* run argument templates with execve */
	BACKEND_NFT,
	BACKEND_IPTABLES,
	BACKEND_IPSET,
};

struct applier_conf {
	enum applier_backend backend;
	char *program;		/* path of logknock-apply; NULL: the built-in default */
	char **open_argv;	/* command backend: NULL-terminated template */
	char **close_argv;
	char **command_argv;	/* run the applier through this, e.g. [/usr/bin/sudo, -n]; NULL: directly */
	char *config;		/* the applier's own settings file (apply.yaml): passed no settings */
	int64_t timeout_us;	/* time limit for one command (default 5 s) */
	bool guard_loopback;	/* nft, iptables, ipset: guard packets that came in on lo too */
};

/* How a door's knocks are made (see doc/knock-codes.md). */
enum door_kind {
	DOOR_SEQUENCE,		/* sequence: a fixed list of ports */
	DOOR_ONE_TIME,		/* one_time: the next unused line of a sequence file */
	DOOR_TOTP,		/* totp: ports derived from a key and the time */
	DOOR_ENCRYPTED,		/* encrypted: a request encrypted with a key */
};

/* totp: and encrypted: */
struct door_code {
	char *key_path;
	uint8_t key[KC_KEY_BYTES];
	uint8_t proto;		/* knocks are IPPROTO_TCP (default) or IPPROTO_UDP */
	uint16_t lo, hi;	/* the ports knocked: totp's range; base .. base + KC_ENC_SPAN - 1 */
	unsigned knocks;	/* totp: knocks a sequence (default 4) */
	int64_t step_us;	/* a code lasts this long (default 30 s) */
	unsigned tolerance;	/* steps of clock difference accepted either way (default 1) */
	bool bind_source;	/* the code holds the client's address (default true) */
};

struct onetime;

/* A forward: or dnat: entry of a door (issue 15): where a knock at this
 * host lets the source go beyond it. */
struct gw_target {
	uint8_t via;		/* APPLY_VIA_FORWARD or APPLY_VIA_DNAT */
	uint8_t family;		/* of TO: opened for sources of this family only */
	uint8_t proto;		/* IPPROTO_TCP, IPPROTO_UDP */
	uint16_t port;		/* forward: the port on TO; dnat: the port listened on here */
	uint16_t toport;	/* dnat: the port on TO */
	uint8_t to[16];
	bool masq;		/* dnat: masquerade (the internal host does not route back through us) */
};

struct door_conf {
	char *name;
	enum door_kind kind;
	struct port_spec *seq;	/* DOOR_SEQUENCE */
	size_t nseq;		/* DOOR_SEQUENCE; the others: knocks a sequence */
	struct door_code code;	/* DOOR_TOTP, DOOR_ENCRYPTED */
	struct onetime *one_time;	/* DOOR_ONE_TIME */
	struct port_spec *open;	/* NULL when the door opens only forward: or dnat: */
	size_t nopen;
	struct gw_target *gw;	/* forward: then dnat: entries */
	size_t ngw;
	bool keep_established;	/* connections outlive the grant (default true, as conntrack does) */
	int64_t window_us;	/* whole sequence, from its first knock (default 10 s) */
	int64_t duration_us;	/* how long the ports stay open (default 30 s) */
	/* fleet (issue 16): at: the hosts whose knocks count (NULL: any);
	 * on: the appliers: hosts the door opens on, "" for the local applier
	 * (NULL: the local applier only) */
	char **at;
	size_t nat;
	char **on;
	size_t non;
	int64_t dedup_us;	/* same knock repeated within this counts once (default 2 s) */
	uint8_t flags_set;	/* TCP knocks must have these flags (KNOCK_*; default SYN) */
	uint8_t flags_clear;	/* ... and not these (default ACK) */
	int line, col;
};

/* control: the control socket (doc/logknockd.8, "CONTROL SOCKET"). */
struct control_conf {
	char *socket;		/* NULL: not given (the default path); "": no socket */
	char *group;		/* full use; NULL: none */
	char *read_group;	/* status, grants, attempts, watch, metrics; NULL: none */
	gid_t group_gid, read_group_gid;	/* resolved when loaded: an unknown group is an error */
};

/* metrics: Prometheus text written every interval (src/daemon/metrics.h). */
struct metrics_conf {
	char *file;		/* NULL: none */
	int64_t interval_us;	/* default 15 s, at least 1 s */
};

/* appliers: (fleet, issue 16): a host the doors open on, reached with
 * the ssh binary, its logknock-apply a forced command there. */
#define CONFIG_HOST_MAX 63
struct fleet_host_conf {
	char *name;		/* as on: names it */
	char *host;		/* ssh's destination (a name or an address) */
	char *user;		/* NULL: ssh's default */
	char *key;		/* identity file; NULL: ssh's default */
	char *known_hosts;	/* NULL: ssh's default */
	uint16_t port;		/* 0: ssh's default */
	int line, col;
};

struct config {
	char *path;
	struct fleet_host_conf *hosts;	/* appliers: reached over ssh (local ones are not listed) */
	size_t nhosts;
	char *ssh_program;	/* ssh: the ssh binary (default /usr/bin/ssh) */
	struct source_conf *sources;
	size_t nsources;
	char **prefixes;	/* "prefix:" (a string or a list of strings) */
	size_t nprefixes;
	struct pattern_conf *patterns;
	size_t npatterns;
	struct applier_conf applier;
	struct door_conf *doors;
	size_t ndoors;
	size_t max_sources;	/* sources tracked at once (default 65536) */
	size_t max_grants;	/* grants open at once (default 4096) */
	char *state_dir;	/* default LOGKNOCK_STATEDIR */
	int keep_open_on_exit;	/* leave grants open when the daemon stops (default: close them) */
	char *user;		/* started as root: run as this user once the applier runs */
	unsigned user_line, user_col;	/* where user: was given, for --check-config */
	/* start although net.netfilter.nf_log_all_netns is 1, so that any
	 * user's own network namespace can write knock lines into the
	 * kernel's log (default false: refused; see
	 * config_source_reads_kernel_log) */
	bool accept_nf_log_all_netns;
	struct control_conf control;
	struct metrics_conf metrics;
};

/* Loads PATH into *cfg (zeroed first). Returns 0, or -1 with err holding
 * "PATH:LINE:COL: message" (NUL-terminated, truncated to errlen). */
int config_load(const char *path, struct config *cfg, char *err, size_t errlen);
void config_free(struct config *cfg);

/* Any YAML file of logknock (the client's profiles too), read the way
 * config_load reads its own: at most 1 MiB, nesting and anchors bounded
 * before libyaml loads it, one document only. The caller walks *DOC (a
 * yaml_document_t) and frees it with yaml_document_delete(). 0, or -1 with
 * err as "PATH:LINE:COL: message" or "PATH: message". */
struct yaml_document_s;
int config_yaml_load(const char *path, struct yaml_document_s *doc, char *err, size_t errlen);
/* Whether node N of such a document is a string: a scalar that is not a
 * YAML null and holds no NUL byte. */
struct yaml_node_s;
bool config_yaml_is_string(const struct yaml_node_s *n);

/* Whether source S reads the kernel's log (its netfilter lines from every
 * network namespace when net.netfilter.nf_log_all_netns is 1): kmsg, the
 * journal's kernel transport, a syslog-format file. A ulogd file is
 * written by ulogd2 from NFLOG, which is per namespace. */
bool config_source_reads_kernel_log(const struct source_conf *s);
/* Whether source S is a syslog-format file whose writer is unknown: not
 * stated kernel_only, so lines sent to /dev/log may be filed into it. */
bool config_source_forgeable(const struct source_conf *s);

/* Whether knocks carry their host (fleet): a door has at:, or a source
 * is forwarded. Otherwise the parser leaves hosts out and replay's output
 * is what it was before the fleet. */
bool config_wants_hosts(const struct config *cfg);
/* Whether NAME (N bytes) is the host name of a knock in AT (case does not matter). */
bool config_host_in(char *const *at, size_t nat, const char *name, size_t n);

/* "10s", "250ms", "5m", "1h" → microseconds; -1 if malformed or out of range. */
int64_t config_parse_duration(const char *s);
/* "20000-29999" → 20000, 29999 (1 <= LO < HI <= 65535); -1 if malformed. */
int config_parse_range(const char *s, uint16_t *lo, uint16_t *hi);
/* "tcp/22" → spec; -1 if malformed. */
int config_parse_port_spec(const char *s, struct port_spec *out);

#endif
