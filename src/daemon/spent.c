/* spent.c — the table of used codes (see spent.h): a plain array, searched
 * only when a door opens. */
#include "spent.h"

#include <inttypes.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

struct entry {
	uint8_t id[SPENT_ID_BYTES];
	int64_t expires_us;
};

struct spent {
	struct entry *e;
	size_t n, max;
};

struct spent *spent_new(size_t max)
{
	struct spent *s = calloc(1, sizeof *s);
	if (!s || !(s->e = calloc(max ? max : 1, sizeof *s->e))) {
		free(s);
		return NULL;
	}
	s->max = max ? max : 1;
	return s;
}

void spent_free(struct spent *s)
{
	if (s)
		free(s->e);
	free(s);
}

void spent_id(uint8_t id[SPENT_ID_BYTES], const char *door, int64_t code, int family, const uint8_t *addr,
	      const uint8_t *tag)
{
	crypto_generichash_state st;
	uint8_t c[8], v = family == AF_INET6 ? 6 : 4;
	for (int i = 0; i < 8; i++)
		c[i] = (uint8_t)((uint64_t)code >> (56 - 8 * i));
	crypto_generichash_init(&st, NULL, 0, SPENT_ID_BYTES);
	crypto_generichash_update(&st, (const uint8_t *)door, strlen(door) + 1);
	crypto_generichash_update(&st, c, sizeof c);
	crypto_generichash_update(&st, &v, 1);
	crypto_generichash_update(&st, addr, v == 6 ? 16 : 4);
	if (tag)
		crypto_generichash_update(&st, tag, KC_ENC_TAG);
	crypto_generichash_final(&st, id, SPENT_ID_BYTES);
}

static void expire(struct spent *s, int64_t now)
{
	for (size_t i = 0; i < s->n;)
		if (s->e[i].expires_us <= now)
			s->e[i] = s->e[--s->n];
		else
			i++;
}

int spent_use(struct spent *s, const uint8_t id[SPENT_ID_BYTES], int64_t expires_us, int64_t now)
{
	expire(s, now);
	for (size_t i = 0; i < s->n; i++)
		if (memcmp(s->e[i].id, id, SPENT_ID_BYTES) == 0)
			return 1;
	if (s->n == s->max)
		return -1;
	memcpy(s->e[s->n].id, id, SPENT_ID_BYTES);
	s->e[s->n++].expires_us = expires_us;
	return 0;
}

size_t spent_count(const struct spent *s)
{
	return s->n;
}

ssize_t spent_dump(const struct spent *s, char *buf, size_t len)
{
	size_t off = 0;
	for (size_t i = 0; i < s->n; i++) {
		char hex[2 * SPENT_ID_BYTES + 1];
		sodium_bin2hex(hex, sizeof hex, s->e[i].id, SPENT_ID_BYTES);
		int w = snprintf(buf + off, len - off, "%s %" PRId64 "\n", hex, s->e[i].expires_us);
		if (w < 0 || (size_t)w >= len - off)
			return -1;
		off += (size_t)w;
	}
	if (off == 0 && len > 0)
		buf[0] = '\0';
	return (ssize_t)off;
}

int spent_restore(struct spent *s, const char *text, int64_t now, char *err, size_t errlen)
{
	size_t line = 1;
	for (const char *p = text; *p; line++) {
		const char *nl = strchr(p, '\n');
		size_t len = nl ? (size_t)(nl - p) : strlen(p);
		uint8_t id[SPENT_ID_BYTES];
		size_t got = 0;
		const char *end = NULL;
		char num[21];
		size_t nlen = len > 2 * SPENT_ID_BYTES + 1 ? len - (2 * SPENT_ID_BYTES + 1) : 0;
		int ok = len > 2 * SPENT_ID_BYTES + 1 && p[2 * SPENT_ID_BYTES] == ' ' && nlen >= 1 && nlen <= 18 &&
			 sodium_hex2bin(id, sizeof id, p, 2 * SPENT_ID_BYTES, NULL, &got, &end) == 0 &&
			 got == SPENT_ID_BYTES && end == p + 2 * SPENT_ID_BYTES;
		int64_t exp = 0;
		if (ok) {
			memcpy(num, p + 2 * SPENT_ID_BYTES + 1, nlen);
			num[nlen] = '\0';
			ok = strspn(num, "0123456789") == nlen;
			for (size_t i = 0; ok && i < nlen; i++)
				exp = exp * 10 + (num[i] - '0');	/* 18 digits fit in int64 */
		}
		if (!ok) {
			snprintf(err, errlen, "line %zu: expected a %d-digit hex id and a time", line,
				 2 * SPENT_ID_BYTES);
			return -1;
		}
		if (exp > now && spent_use(s, id, exp, now) < 0) {
			snprintf(err, errlen, "line %zu: more entries than the table holds", line);
			return -1;
		}
		p += len + (nl != NULL);
	}
	return 0;
}
