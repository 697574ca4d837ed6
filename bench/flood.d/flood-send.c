/* flood-send.c — the helpers of bench/flood, compiled at run time (cc -O2).
 *
 *   flood-send send IFNAME DST-MAC SRC-MAC DST6 PORTS RATE SECONDS [PER-SOURCE]
 *       TCP SYNs to [DST6] from random IPv6 sources inside 2001:db8::/32
 *       (never 2001:db8::/64, where the real hosts live), as whole
 *       Ethernet frames on IFNAME (AF_PACKET), RATE a second for SECONDS
 *       (both bounded), paced every millisecond. PORTS: a port or ranges,
 *       "17100" or "40000-42559,17100" (at most 16); each source picks one
 *       of them and sends PER-SOURCE SYNs (1 to 16, default 1) in a row to
 *       random ports in it. Prints "sent N in S s" at the end.
 *
 *   flood-send kmsg PREFIX
 *       reads /dev/kmsg from its end until SIGTERM/SIGINT; prints the
 *       records read, those containing PREFIX, the records lost (sequence
 *       gaps and EPIPE overruns) and "callbacks suppressed" records.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/if_packet.h>
#include <net/ethernet.h>
#include <net/if.h>
#include <netinet/ip6.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static volatile sig_atomic_t stop;
static void on_sig(int s) { (void)s; stop = 1; }

static uint64_t rng = 0x9e3779b97f4a7c15ULL;
static uint64_t rnd(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return rng;
}

static int parse_mac(const char *s, uint8_t *m)
{
	return sscanf(s, "%hhx:%hhx:%hhx:%hhx:%hhx:%hhx", &m[0], &m[1], &m[2], &m[3], &m[4], &m[5]) == 6 ? 0 : -1;
}

static uint32_t sum16(const void *p, size_t n, uint32_t s)
{
	const uint8_t *b = p;
	for (size_t i = 0; i + 1 < n; i += 2)
		s += (uint32_t)b[i] << 8 | b[i + 1];
	if (n & 1)
		s += (uint32_t)b[n - 1] << 8;
	return s;
}

#define MAX_RANGES 16

/* "LO-HI,N,...": 0 and the ranges, or -1. */
static int parse_ports(const char *s, long lo[MAX_RANGES], long hi[MAX_RANGES], unsigned *n)
{
	*n = 0;
	while (*s) {
		char *end;
		if (*n == MAX_RANGES)
			return -1;
		lo[*n] = hi[*n] = strtol(s, &end, 10);
		if (*end == '-')
			hi[*n] = strtol(end + 1, &end, 10);
		if (end == s || (*end && *end != ',') || lo[*n] < 1 || hi[*n] > 65535 || lo[*n] > hi[*n])
			return -1;
		(*n)++;
		s = *end ? end + 1 : end;
	}
	return *n ? 0 : -1;
}

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static int do_send(char **av)
{
	uint8_t dmac[6], smac[6];
	struct in6_addr dst;
	unsigned ifidx = if_nametoindex(av[0]);
	long lo[MAX_RANGES], hi[MAX_RANGES], rate = atol(av[5]), per = av[7] ? atol(av[7]) : 1;
	unsigned nranges;
	double secs = atof(av[6]);
	if (!ifidx || parse_mac(av[1], dmac) || parse_mac(av[2], smac) || inet_pton(AF_INET6, av[3], &dst) != 1 ||
	    parse_ports(av[4], lo, hi, &nranges) || rate < 1 || rate > 1000000 || !(secs > 0 && secs <= 600) ||
	    per < 1 || per > 16) {
		fprintf(stderr, "flood-send: bad arguments\n");
		return 2;
	}
	int fd = socket(AF_PACKET, SOCK_RAW, 0);
	if (fd < 0) {
		perror("flood-send: socket(AF_PACKET)");
		return 1;
	}
	struct sockaddr_ll sll = {.sll_family = AF_PACKET, .sll_ifindex = (int)ifidx, .sll_halen = 6};
	memcpy(sll.sll_addr, dmac, 6);
	rng ^= (uint64_t)getpid() << 32 ^ (uint64_t)time(NULL);

	uint8_t f[14 + 40 + 20];
	memcpy(f, dmac, 6);
	memcpy(f + 6, smac, 6);
	f[12] = 0x86, f[13] = 0xdd;
	struct ip6_hdr *ip = (struct ip6_hdr *)(f + 14);
	struct tcphdr *th = (struct tcphdr *)(f + 14 + 40);

	unsigned long long sent = 0, total = (unsigned long long)(rate * secs);
	uint8_t src[16];
	unsigned range = 0;
	double t0 = now_s();
	signal(SIGTERM, on_sig);
	signal(SIGINT, on_sig);
	while (!stop && sent < total) {
		double el = now_s() - t0;
		if (el > secs + 5)
			break;	/* never longer than asked, give or take the pacing */
		unsigned long long due = (unsigned long long)(el * rate) + 1;
		if (due > total)
			due = total;
		while (sent < due) {
			memset(ip, 0, 40);
			ip->ip6_flow = htonl(6u << 28);
			ip->ip6_plen = htons(20);
			ip->ip6_nxt = IPPROTO_TCP;
			ip->ip6_hlim = 64;
			if (sent % (unsigned long long)per == 0) {	/* a new source */
				uint64_t r1 = rnd(), r2 = rnd();
				src[0] = 0x20, src[1] = 0x01, src[2] = 0x0d, src[3] = 0xb8;
				memcpy(src + 4, &r1, 4);
				memcpy(src + 8, &r2, 8);
				if (!src[4] && !src[5] && !src[6] && !src[7])
					src[7] = 1;	/* keep out of 2001:db8::/64 */
				range = (unsigned)(rnd() % nranges);
			}
			memcpy(ip->ip6_src.s6_addr, src, 16);
			ip->ip6_dst = dst;
			memset(th, 0, 20);
			th->th_sport = htons((uint16_t)(1024 + rnd() % 64000));
			th->th_dport = htons((uint16_t)(lo[range] + (long)(rnd() % (uint64_t)(hi[range] - lo[range] + 1))));
			th->th_seq = (uint32_t)rnd();
			th->th_off = 5;
			th->th_flags = TH_SYN;
			th->th_win = htons(64240);
			uint32_t c = sum16(&ip->ip6_src, 32, 0);
			c += 20 + IPPROTO_TCP;
			c = sum16(th, 20, c);
			while (c >> 16)
				c = (c & 0xffff) + (c >> 16);
			th->th_sum = htons((uint16_t)~c);
			if (sendto(fd, f, sizeof f, 0, (struct sockaddr *)&sll, sizeof sll) < 0) {
				if (errno == ENOBUFS || errno == EAGAIN)
					break;
				perror("flood-send: sendto");
				return 1;
			}
			sent++;
		}
		struct timespec ts = {0, 1000000};
		nanosleep(&ts, NULL);
	}
	printf("sent %llu in %.3f s\n", sent, now_s() - t0);
	return 0;
}

static int do_kmsg(char **av)
{
	const char *prefix = av[0];
	int fd = open("/dev/kmsg", O_RDONLY | O_NONBLOCK);
	if (fd < 0) {
		perror("flood-send: /dev/kmsg");
		return 1;
	}
	lseek(fd, 0, SEEK_END);
	int fl = fcntl(fd, F_GETFL);
	fcntl(fd, F_SETFL, fl & ~O_NONBLOCK);
	struct sigaction sa = {.sa_handler = on_sig};	/* no SA_RESTART: read() returns EINTR */
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	printf("ready\n");
	fflush(stdout);
	char buf[8192];
	unsigned long long records = 0, ours = 0, gaps = 0, epipe = 0, suppressed = 0, last = 0;
	int have_last = 0;
	while (!stop) {
		ssize_t n = read(fd, buf, sizeof buf - 1);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EPIPE) {
				epipe++;	/* overrun: the next read gives the oldest record left; the gap counts it */
				continue;
			}
			perror("flood-send: read /dev/kmsg");
			break;
		}
		buf[n] = 0;
		records++;
		char *semi = strchr(buf, ';');
		unsigned long long seq = 0;
		if (semi && sscanf(buf, "%*u,%llu,", &seq) == 1) {
			if (have_last && seq > last + 1)
				gaps += seq - last - 1;
			last = seq, have_last = 1;
			if (strstr(semi + 1, prefix))
				ours++;
			if (strstr(semi + 1, "callbacks suppressed"))
				suppressed++;
		}
	}
	printf("records %llu ours %llu lost %llu overruns %llu suppressed %llu\n", records, ours, gaps, epipe,
	       suppressed);
	return 0;
}

int main(int argc, char **argv)
{
	if ((argc == 9 || argc == 10) && strcmp(argv[1], "send") == 0)
		return do_send(argv + 2);
	if (argc == 3 && strcmp(argv[1], "kmsg") == 0)
		return do_kmsg(argv + 2);
	fprintf(stderr, "usage: flood-send send IFNAME DST-MAC SRC-MAC DST6 PORTS RATE SECONDS [PER-SOURCE] | "
			"kmsg PREFIX\n");
	return 2;
}
