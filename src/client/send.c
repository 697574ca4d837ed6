/* send.c — logknock on the network: the host resolved, each knock sent
 * (a TCP knock is one non-blocking connect() closed once the SYN is out, a
 * UDP knock one datagram of one byte), --wait's connection attempts, and
 * the time-based and encrypted knocks made by knockcode.c. */
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

/* ---- network ---------------------------------------------------------- */

void sleep_ms(long ms)
{
	struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000L};
	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

static int64_t now_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

int resolve(const char *host, int family, struct sockaddr_storage *out, socklen_t *outlen)
{
	struct addrinfo hints = {.ai_family = family, .ai_socktype = SOCK_STREAM}, *res;
	show_buf shown;
	int r = getaddrinfo(host, NULL, &hints, &res);

	if (r != 0) {
		cli_err("cannot resolve %s%s: %s", show(host, shown),
		       family == AF_INET ? " (IPv4)" : family == AF_INET6 ? " (IPv6)" : "",
		       r == EAI_SYSTEM ? strerror(errno) : gai_strerror(r));
		return -1;
	}
	memcpy(out, res->ai_addr, res->ai_addrlen);
	*outlen = res->ai_addrlen;
	freeaddrinfo(res);
	return 0;
}

static void set_port(struct sockaddr_storage *sa, uint16_t port)
{
	if (sa->ss_family == AF_INET)
		((struct sockaddr_in *)sa)->sin_port = htons(port);
	else
		((struct sockaddr_in6 *)sa)->sin6_port = htons(port);
}

void addr_string(const struct sockaddr_storage *sa, char *buf, size_t len)
{
	const void *a = sa->ss_family == AF_INET ? (const void *)&((const struct sockaddr_in *)sa)->sin_addr
						 : (const void *)&((const struct sockaddr_in6 *)sa)->sin6_addr;
	if (!inet_ntop(sa->ss_family, a, buf, (socklen_t)len))
		snprintf(buf, len, "?");
}

/* One knock: a SYN (the socket is closed at once, so it is never sent
 * again) or a one-byte datagram. */
int send_knock(struct sockaddr_storage *sa, socklen_t salen, const struct step *st, const char *addr)
{
	int type = st->proto == IPPROTO_UDP ? SOCK_DGRAM : SOCK_STREAM;
	int fd = socket(sa->ss_family, type | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	int rc = 0;

	if (fd < 0) {
		cli_err("socket: %s", strerror(errno));
		return -1;
	}
	set_port(sa, st->port);
	if (st->proto == IPPROTO_UDP) {
		if (sendto(fd, "k", 1, 0, (struct sockaddr *)sa, salen) != 1) {
			cli_err("udp %s %u: cannot send: %s", addr, (unsigned)st->port, strerror(errno));
			rc = -1;
		}
	} else if (connect(fd, (struct sockaddr *)sa, salen) < 0 && errno != EINPROGRESS &&
		   errno != ECONNREFUSED) {
		cli_err("tcp %s %u: cannot send: %s", addr, (unsigned)st->port, strerror(errno));
		rc = -1;
	}
	close(fd);
	return rc;
}

/* --wait. A firewall that drops (rather than rejects) SYNs leaves a
 * connection attempt unanswered until the kernel retransmits its SYN, a
 * second later: so attempts overlap. A new one starts every
 * WAIT_INTERVAL_MS, each is given WAIT_ATTEMPT_MS, and the first that
 * connects wins: the client connects within one interval of the port
 * opening. At most WAIT_INFLIGHT sockets are open at once (when the loop
 * ran late and all are busy, the oldest is closed); every socket is closed
 * before returning, the winner too (the port is only tested). */
struct attempt {
	int fd;			/* -1: a free slot */
	int64_t start, end;	/* when it started, when it is given up (µs) */
};

static void attempt_close(struct attempt *a)
{
	if (a->fd >= 0)
		close(a->fd);
	a->fd = -1;
}

/* A new attempt in a free slot (the oldest one's, if none is free):
 * 1 connected at once, 0 under way or failed, -1 no socket. */
static int attempt_start(struct attempt at[WAIT_INFLIGHT], const struct sockaddr_storage *sa, socklen_t salen,
			 int64_t now, int64_t end)
{
	struct attempt *a = &at[0];
	for (size_t i = 1; i < WAIT_INFLIGHT && a->fd >= 0; i++)
		if (at[i].fd < 0 || at[i].start < a->start)
			a = &at[i];
	attempt_close(a);
	a->fd = socket(sa->ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (a->fd < 0) {
		cli_err("socket: %s", strerror(errno));
		return -1;
	}
	a->start = now;
	a->end = end;
	if (connect(a->fd, (const struct sockaddr *)sa, salen) == 0)
		return 1;
	if (errno != EINPROGRESS)	/* refused, unreachable...: the next attempt may do better */
		attempt_close(a);
	return 0;
}

int wait_open(struct sockaddr_storage *sa, socklen_t salen, const struct settings *s)
{
	struct attempt at[WAIT_INFLIGHT];
	struct pollfd pfd[WAIT_INFLIGHT];
	struct attempt *polled[WAIT_INFLIGHT];
	int64_t now = now_us(), deadline = now + s->timeout_s * INT64_C(1000000), next = now;
	int rc = -1;

	set_port(sa, s->wait_port);
	for (size_t i = 0; i < WAIT_INFLIGHT; i++)
		at[i].fd = -1;
	while (rc < 0 && (now = now_us()) < deadline) {
		if (now >= next) {
			int64_t end = now + WAIT_ATTEMPT_MS * 1000;
			int r = attempt_start(at, sa, salen, now, end < deadline ? end : deadline);
			if (r != 0) {
				rc = r > 0 ? 0 : EXIT_RUNTIME;
				break;
			}
			/* On schedule; never two at once after the loop ran late. */
			next += WAIT_INTERVAL_MS * 1000;
			if (next <= now)
				next = now + WAIT_INTERVAL_MS * 1000;
		}
		/* Sleep until an answer, the next attempt, an attempt's end or the deadline. */
		int64_t wake = next < deadline ? next : deadline;
		nfds_t n = 0;
		for (size_t i = 0; i < WAIT_INFLIGHT; i++) {
			if (at[i].fd < 0)
				continue;
			if (at[i].end <= now) {
				attempt_close(&at[i]);
				continue;
			}
			if (at[i].end < wake)
				wake = at[i].end;
			pfd[n] = (struct pollfd){.fd = at[i].fd, .events = POLLOUT};
			polled[n++] = &at[i];
		}
		int r = poll(pfd, n, (int)((wake - now + 999) / 1000));
		if (r < 0 && errno != EINTR) {
			cli_err("poll: %s", strerror(errno));
			rc = EXIT_RUNTIME;
		}
		for (nfds_t i = 0; r > 0 && i < n; i++) {
			int soerr = 0;
			socklen_t l = sizeof soerr;
			if (!pfd[i].revents)
				continue;
			if (getsockopt(pfd[i].fd, SOL_SOCKET, SO_ERROR, &soerr, &l) == 0 && soerr == 0 &&
			    !(pfd[i].revents & (POLLERR | POLLHUP))) {
				rc = 0;
				break;
			}
			attempt_close(polled[i]);	/* refused or unreachable */
		}
	}
	for (size_t i = 0; i < WAIT_INFLIGHT; i++)
		attempt_close(&at[i]);
	if (rc == 0) {
		printf("%s port %u is open\n", s->host, (unsigned)s->wait_port);
		return 0;
	}
	if (rc < 0)
		cli_err("port %u did not open within %ld s: check the sequence, the window and that the firewall logs "
		       "the knock ports", (unsigned)s->wait_port, s->timeout_s);
	return EXIT_RUNTIME;
}

/* ---- time-based and encrypted knocks ------------------------------------ */

/* The address the server sees the knocks come from: --address, or the one
 * the route to it starts from (behind NAT, the public one must be given). */
static int bind_address(const struct settings *s, const struct sockaddr_storage *sa, socklen_t salen,
			uint8_t out[16])
{
	char buf[INET6_ADDRSTRLEN];
	show_buf shown;
	memset(out, 0, 16);
	if (s->code.address) {
		if (inet_pton(sa->ss_family, s->code.address, out) != 1) {
			cli_err("address %s is not an IPv%d address, as %s is", show(s->code.address, shown),
			       sa->ss_family == AF_INET ? 4 : 6, s->host);
			return -1;
		}
		return 0;
	}
	/* A connected UDP socket sends nothing, but has the source address
	 * the kernel chose for that destination. */
	struct sockaddr_storage to = *sa, me = {0};
	socklen_t len = sizeof me;
	set_port(&to, 9);
	int fd = socket(sa->ss_family, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || connect(fd, (struct sockaddr *)&to, salen) < 0 || getsockname(fd, (struct sockaddr *)&me, &len) < 0) {
		addr_string(sa, buf, sizeof buf);
		cli_err("cannot find this host's address towards %s: %s", buf, strerror(errno));
		if (fd >= 0)
			close(fd);
		return -1;
	}
	close(fd);
	if (me.ss_family == AF_INET)
		memcpy(out, &((struct sockaddr_in *)&me)->sin_addr, 4);
	else
		memcpy(out, &((struct sockaddr_in6 *)&me)->sin6_addr, 16);
	return 0;
}

/* Fills S's steps with the knocks of its time-based or encrypted door at
 * time T. Returns 0, or an exit status. */
int make_code(struct settings *s, const struct sockaddr_storage *sa, socklen_t salen, int64_t t, bool verbose)
{
	uint8_t key[KC_KEY_BYTES], a[16], bytes[KC_ENC_KNOCKS];
	uint16_t ports[KC_TOTP_MAX_KNOCKS];
	char err[1024];
	struct kc_bind b = {0};

	if (kc_key_load(s->code.key_path, key, err, sizeof err) < 0) {
		cli_err("%s", err);
		return EXIT_USAGE;
	}
	if (s->code.bind_source) {
		if (bind_address(s, sa, salen, a) < 0) {
			explicit_bzero(key, sizeof key);
			return EXIT_RUNTIME;
		}
		b = kc_bind_make(1, sa->ss_family, a);
	}
	int64_t step = kc_step(t, s->code.have_step ? s->code.step_us : 30 * INT64_C(1000000));
	uint8_t proto = s->code.have_proto ? s->code.proto : IPPROTO_TCP;
	if (s->code.kind == KIND_TOTP) {
		s->nsteps = s->code.have_knocks ? (size_t)s->code.knocks : 4;
		kc_totp_ports(key, s->code.door, step, &b, s->code.lo, s->code.hi, (unsigned)s->nsteps, ports);
		for (size_t i = 0; i < s->nsteps; i++)
			s->steps[i] = (struct step){.proto = proto, .port = ports[i]};
	} else {
		if (kc_enc_encode(key, s->code.door, step, &b, &s->code.req, bytes) < 0) {
			explicit_bzero(key, sizeof key);
			cli_err("the request cannot be encrypted");
			return EXIT_USAGE;
		}
		s->nsteps = KC_ENC_KNOCKS;
		for (size_t i = 0; i < KC_ENC_KNOCKS; i++)
			s->steps[i] = (struct step){.proto = proto, .port = (uint16_t)(s->code.lo + 256 * i + bytes[i])};
	}
	explicit_bzero(key, sizeof key);
	if (verbose) {
		char as[INET6_ADDRSTRLEN] = "nobody";
		if (b.version)
			inet_ntop(sa->ss_family, a, as, sizeof as);
		printf("door %s, time step %" PRId64 ", bound to %s\n", s->code.door, step, as);
	}
	return 0;
}
