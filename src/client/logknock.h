/* logknock.h — what the client's files share: its settings (from the
 * command line and the profile file) and the functions one file calls in
 * another. logknock.c: options, messages, main; profile.c: the profile file;
 * send.c: the network and the codes. */
#ifndef LOGKNOCK_CLIENT_H
#define LOGKNOCK_CLIENT_H

#include "cli.h"
#include "config.h"
#include "knockcode.h"
#include "apply_proto.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#ifndef PACKAGE_VERSION
#define PACKAGE_VERSION "unknown"
#endif

#define PROG "logknock"
#define EXIT_RUNTIME 1
#define EXIT_USAGE 2

#define MAX_STEPS 32		/* as a door's sequence in logknockd.yaml */
#define DEFAULT_DELAY_MS 100
#define MAX_DELAY_MS 60000
#define DEFAULT_TIMEOUT_S 10
#define MAX_TIMEOUT_S 3600
#define WAIT_INTERVAL_MS 100	/* --wait: a new connection attempt this often */
#define WAIT_ATTEMPT_MS 1000	/* how long one attempt may take */
#define WAIT_INFLIGHT (WAIT_ATTEMPT_MS / WAIT_INTERVAL_MS)	/* attempts at once, at most */
#define SHOW_MAX 64

enum { OPT_TOTP = 256, OPT_ENCRYPTED, OPT_TIME, OPT_NO_BIND, OPT_CODE };

struct step {
	uint8_t proto;		/* IPPROTO_TCP or IPPROTO_UDP */
	uint16_t port;
};

enum kind { KIND_SEQUENCE, KIND_TOTP, KIND_ENCRYPTED };

/* totp and encrypted: how the door in logknockd.yaml is set */
struct code {
	enum kind kind;
	char *key_path, *door, *address;
	uint8_t proto;		/* the knocks' protocol (default tcp) */
	uint16_t lo, hi;	/* totp: range; encrypted: base */
	long knocks;		/* totp */
	int64_t step_us;
	bool bind_source;
	struct kc_request req;	/* encrypted: what it asks for */
	bool have_range, have_base, have_request, have_knocks, have_step, have_proto, have_duration;
};

struct settings {
	char *host;
	struct step steps[MAX_STEPS];
	size_t nsteps;
	struct code code;
	int family;		/* AF_UNSPEC, AF_INET, AF_INET6 */
	long delay_ms;
	uint16_t wait_port;	/* 0: no --wait */
	long timeout_s;
	bool have_family, have_delay, have_wait, have_timeout;
};

/* A user's string made safe to quote in a one-line message. */
typedef char show_buf[SHOW_MAX + 4];

const char *show(const char *s, show_buf buf);
long parse_delay(const char *s);
const char *parse_step(const char *s, struct step *out);
int parse_wait_port(const char *s, uint16_t *out);
const char *set_code(struct settings *s, const char *name, const char *v);
void settings_free_code(struct settings *s);
int profile_load(const char *path, const char *name, struct settings *s, char *err, size_t errlen);
char *default_profile_path(void);
void sleep_ms(long ms);
int resolve(const char *host, int family, struct sockaddr_storage *out, socklen_t *outlen);
void addr_string(const struct sockaddr_storage *sa, char *buf, size_t len);
int send_knock(struct sockaddr_storage *sa, socklen_t salen, const struct step *st, const char *addr);
int wait_open(struct sockaddr_storage *sa, socklen_t salen, const struct settings *s);
int make_code(struct settings *s, const struct sockaddr_storage *sa, socklen_t salen, int64_t t, bool verbose);

#endif
