/* knock.c — formatting of knock fields, shared by replay output, logs and the applier. */
#include "knock.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>

/* Decimal digits of V (at most 999) at P, no leading zeros. */
static char *put_u8(char *p, unsigned v)
{
	if (v >= 100)
		*p++ = (char)('0' + v / 100);
	if (v >= 10)
		*p++ = (char)('0' + v / 10 % 10);
	*p++ = (char)('0' + v % 10);
	return p;
}

char *knock_addr_put(char *buf, int family, const uint8_t *addr)
{
	if (family == AF_INET) {
		/* By hand: replay's --print-events writes two per knock. */
		char *p = buf;
		for (int i = 0; i < 4; i++) {
			if (i)
				*p++ = '.';
			p = put_u8(p, addr[i]);
		}
		*p = '\0';
		return p;
	}
	if (family == AF_INET6) {
		/* glibc's inet_ntop (RFC 5952 form), by hand: it formats each
		 * group with sprintf. The same steps: the longest run of two or
		 * more zero groups (the first of equals) becomes "::", an
		 * IPv4-compatible or -mapped address ends in dotted quad. */
		static const char hex[] = "0123456789abcdef";
		unsigned w[8];
		int best = -1, best_len = 0, cur = -1, cur_len = 0;
		for (int i = 0; i < 8; i++) {
			w[i] = (unsigned)addr[2 * i] << 8 | addr[2 * i + 1];
			if (w[i] == 0) {
				if (cur < 0)
					cur = i, cur_len = 1;
				else
					cur_len++;
			} else if (cur >= 0) {
				if (best < 0 || cur_len > best_len)
					best = cur, best_len = cur_len;
				cur = -1;
			}
		}
		if (cur >= 0 && (best < 0 || cur_len > best_len))
			best = cur, best_len = cur_len;
		if (best >= 0 && best_len < 2)
			best = -1;
		char *p = buf;
		for (int i = 0; i < 8; i++) {
			if (best >= 0 && i >= best && i < best + best_len) {
				if (i == best)
					*p++ = ':';
				continue;
			}
			if (i)
				*p++ = ':';
			if (i == 6 && best == 0 && (best_len == 6 || (best_len == 5 && w[5] == 0xffff))) {
				for (int j = 12; j < 16; j++) {
					if (j > 12)
						*p++ = '.';
					p = put_u8(p, addr[j]);
				}
				*p = '\0';
				return p;
			}
			/* %x: as many digits as the group needs, at least one. */
			unsigned v = w[i];
			int nd = v >= 0x1000 ? 4 : v >= 0x100 ? 3 : v >= 0x10 ? 2 : 1;
			for (int j = nd - 1; j >= 0; j--, v >>= 4)
				p[j] = hex[v & 15];
			p += nd;
		}
		if (best >= 0 && best + best_len == 8)
			*p++ = ':';
		*p = '\0';
		return p;
	}
	if (!inet_ntop(family, addr, buf, KNOCK_ADDRSTRLEN))
		snprintf(buf, KNOCK_ADDRSTRLEN, "?");
	return buf + strlen(buf);
}

const char *knock_addr_str(int family, const uint8_t *addr, char buf[KNOCK_ADDRSTRLEN])
{
	knock_addr_put(buf, family, addr);
	return buf;
}

int64_t knock_days_from_civil(int64_t y, unsigned m, unsigned d)
{
	/* Howard Hinnant's days_from_civil. */
	y -= m <= 2;
	int64_t era = (y >= 0 ? y : y - 399) / 400;
	unsigned yoe = (unsigned)(y - era * 400);
	unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
	unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + (int64_t)doe - 719468;
}

static void civil_from_days(int64_t z, int64_t *y, unsigned *m, unsigned *d)
{
	z += 719468;
	int64_t era = (z >= 0 ? z : z - 146096) / 146097;
	unsigned doe = (unsigned)(z - era * 146097);
	unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
	unsigned mp = (5 * doy + 2) / 153;
	*d = doy - (153 * mp + 2) / 5 + 1;
	*m = mp < 10 ? mp + 3 : mp - 9;
	*y = (int64_t)yoe + era * 400 + (*m <= 2);
}

char *knock_time_put(char *buf, int64_t t)
{
	int64_t secs = t / 1000000, us = t % 1000000;
	if (us < 0) {
		us += 1000000;
		secs--;
	}
	/* Replay's --print-events formats many stamps of one second in a
	 * row: the text up to the fraction is kept, per thread. */
	static _Thread_local int64_t last_secs = INT64_MIN;
	static _Thread_local char last[19];
	if (secs == last_secs) {
		memcpy(buf, last, sizeof last);
		char *p = buf + sizeof last;
		*p++ = '.';
		unsigned u = (unsigned)us;
		for (int i = 5; i >= 0; i--, u /= 10)
			p[i] = (char)('0' + u % 10);
		p[6] = 'Z';
		p[7] = '\0';
		return p + 7;
	}
	int64_t days = secs / 86400, sod = secs % 86400;
	if (sod < 0) {
		sod += 86400;
		days--;
	}
	int64_t y;
	unsigned m, d;
	civil_from_days(days, &y, &m, &d);
	if (y >= 0 && y <= 9999) {
		/* By hand, the same text as below: this is on replay's path. */
		unsigned f[6] = {(unsigned)y, m, d, (unsigned)(sod / 3600), (unsigned)(sod / 60 % 60), (unsigned)(sod % 60)};
		static const char sep[] = "--T::";
		char *p = buf;
		p[0] = (char)('0' + f[0] / 1000);
		p[1] = (char)('0' + f[0] / 100 % 10);
		p[2] = (char)('0' + f[0] / 10 % 10);
		p[3] = (char)('0' + f[0] % 10);
		p += 4;
		for (int i = 1; i < 6; i++) {
			*p++ = sep[i - 1];
			*p++ = (char)('0' + f[i] / 10);
			*p++ = (char)('0' + f[i] % 10);
		}
		memcpy(last, buf, sizeof last);
		last_secs = secs;
		*p++ = '.';
		unsigned u = (unsigned)us;
		for (int i = 5; i >= 0; i--, u /= 10)
			p[i] = (char)('0' + u % 10);
		p[6] = 'Z';
		p[7] = '\0';
		return p + 7;
	}
	snprintf(buf, KNOCK_TIMESTRLEN, "%04lld-%02u-%02uT%02u:%02u:%02u.%06uZ", (long long)y, m, d,
		 (unsigned)(sod / 3600), (unsigned)(sod / 60 % 60), (unsigned)(sod % 60), (unsigned)us);
	return buf + strlen(buf);
}

const char *knock_time_str(int64_t t, char buf[KNOCK_TIMESTRLEN])
{
	knock_time_put(buf, t);
	return buf;
}

const char *knock_proto_str(int proto)
{
	switch (proto) {
	case IPPROTO_TCP: return "tcp";
	case IPPROTO_UDP: return "udp";
	case IPPROTO_ICMP: return "icmp";
	case IPPROTO_ICMPV6: return "icmpv6";
	default: return "?";
	}
}

const char *knock_flags_str(uint8_t flags, char buf[40])
{
	static const char *const names[8] = {"FIN", "SYN", "RST", "PSH", "ACK", "URG", "ECE", "CWR"};
	size_t n = 0;
	buf[0] = '\0';
	for (int bit = 7; bit >= 0; bit--) {
		if (!(flags & (1u << bit)))
			continue;
		if (n)
			buf[n++] = ' ';
		memcpy(buf + n, names[bit], 3);
		n += 3;
		buf[n] = '\0';
	}
	return buf;
}

int knock_host_valid(const char *s, size_t n)
{
	if (n < 1 || n > KNOCK_HOST_MAX)
		return 0;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
		      c == '-' || c == '_' || c == ':'))
			return 0;
	}
	return 1;
}
