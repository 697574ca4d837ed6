/* unit-knockcode.c — knock codes (knockcode.h), one-time sequence files
 * (onetime.h) and the table of used codes (spent.h).
 *
 * The constructions are checked against t/fixtures/knock-codes.kat: known
 * answers computed by a second, independent implementation
 * (t/knock_codes_ref.py, which documents the format). The file is found
 * under $top_srcdir, which the test harness exports (AM_TESTS_ENVIRONMENT);
 * run by hand from the source tree it defaults to ".". Everything else is
 * checked case by case, with exact messages and file bytes. Files go to a
 * fresh directory under $TMPDIR (default /tmp), removed at the end. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "knockcode.h"
#include "onetime.h"
#include "spent.h"

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

#define SEC 1000000LL
/* 2026-11-26T14:47:35Z, as in unit-doors.c; its 30 s step is 59856815. */
#define T0 (1795704455LL * SEC)
#define T0_STEP 59856815LL

/* The key of most vectors: 00 01 02 ... 1f. */
static uint8_t KEY[KC_KEY_BYTES];
static const char KEY_HEX[] = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f";

static char tmpdir[PATH_MAX];

/* ---- helpers ----------------------------------------------------------------- */

static int rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void)sb;
	(void)flag;
	(void)ftw;
	return remove(path);
}

static int group_setup(void **state)
{
	(void)state;
	for (int i = 0; i < KC_KEY_BYTES; i++)
		KEY[i] = (uint8_t)i;
	const char *dir = getenv("TMPDIR");
	if (!dir || !*dir)
		dir = "/tmp";
	snprintf(tmpdir, sizeof tmpdir, "%s/unit-knockcode-XXXXXX", dir);
	return mkdtemp(tmpdir) ? 0 : -1;
}

static int group_teardown(void **state)
{
	(void)state;
	return nftw(tmpdir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

/* PATH is NAME in the test's directory. */
static void tpath(char path[PATH_MAX], const char *name)
{
	int n = snprintf(path, PATH_MAX, "%s/%s", tmpdir, name);
	assert_true(n > 0 && n < PATH_MAX);
}

/* Writes LEN bytes of DATA to PATH (replaced) with MODE exactly. */
static void put_file(const char *path, const void *data, size_t len, mode_t mode)
{
	unlink(path);
	int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, data, len), (ssize_t)len);
	assert_int_equal(fchmod(fd, mode), 0);
	assert_int_equal(close(fd), 0);
}

static void put_str(const char *path, const char *text, mode_t mode)
{
	put_file(path, text, strlen(text), mode);
}

/* The bytes of PATH into BUF (at most CAP); their number. */
static size_t get_file(const char *path, char *buf, size_t cap)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	assert_true(fd >= 0);
	ssize_t n = read(fd, buf, cap);
	assert_true(n >= 0);
	close(fd);
	return (size_t)n;
}

static void assert_file_is(const char *path, const void *want, size_t len)
{
	char buf[4096];
	assert_true(len < sizeof buf);
	assert_int_equal(get_file(path, buf, sizeof buf), len);
	assert_memory_equal(buf, want, len);
}

static int hexval(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

/* ---- known answers ------------------------------------------------------------ */

/* "none", "4:192.0.2.7", "6:2001:db8::7" → *b; -1 if malformed. */
static int kat_bind(const char *s, struct kc_bind *b)
{
	uint8_t a[16] = {0};
	if (strcmp(s, "none") == 0) {
		*b = kc_bind_make(0, AF_INET, a);
		return 0;
	}
	if (s[0] == '4' && s[1] == ':' && inet_pton(AF_INET, s + 2, a) == 1) {
		*b = kc_bind_make(1, AF_INET, a);
		return 0;
	}
	if (s[0] == '6' && s[1] == ':' && inet_pton(AF_INET6, s + 2, a) == 1) {
		*b = kc_bind_make(1, AF_INET6, a);
		return 0;
	}
	return -1;
}

/* "1,2,3" → out; the count, or -1 if malformed or above MAX values or MAXV. */
static int kat_list(const char *s, unsigned long *out, int max, unsigned long maxv)
{
	int n = 0;
	for (;;) {
		char *end;
		errno = 0;
		unsigned long v = strtoul(s, &end, 10);
		if (end == s || errno || v > maxv || n == max)
			return -1;
		out[n++] = v;
		if (*end == '\0')
			return n;
		if (*end != ',')
			return -1;
		s = end + 1;
	}
}

#define KAT_CHECK(cond, lineno, what)                                                      \
	do {                                                                               \
		if (!(cond)) {                                                             \
			print_error("knock-codes.kat:%u: %s\n", (lineno), (what));        \
			fail();                                                            \
		}                                                                          \
	} while (0)

static void test_kat_vectors(void **state)
{
	(void)state;
	char path[PATH_MAX];
	const char *top = getenv("top_srcdir");
	snprintf(path, sizeof path, "%s/t/fixtures/knock-codes.kat", top && *top ? top : ".");
	FILE *fp = fopen(path, "r");
	if (!fp)
		print_error("%s: %s\n", path, strerror(errno));
	assert_non_null(fp);

	char *line = NULL;
	size_t cap = 0;
	ssize_t len;
	unsigned lineno = 0, ntotp = 0, nenc = 0, nfixed = 0;
	while ((len = getline(&line, &cap, fp)) >= 0) {
		lineno++;
		if (len > 0 && line[len - 1] == '\n')
			line[--len] = '\0';
		if (len == 0 || line[0] == '#')
			continue;
		char *f[10], *save = NULL;
		int nf = 0;
		for (char *t = strtok_r(line, " ", &save); t; t = strtok_r(NULL, " ", &save)) {
			KAT_CHECK(nf < 10, lineno, "too many fields");
			f[nf++] = t;
		}
		KAT_CHECK(nf == 9 && strcmp(f[7], "->") == 0, lineno, "expected 9 fields with '->' as the 8th");

		uint8_t key[KC_KEY_BYTES];
		KAT_CHECK(strlen(f[1]) == 2 * KC_KEY_BYTES, lineno, "key: expected 64 hex digits");
		for (int i = 0; i < KC_KEY_BYTES; i++) {
			int hi = hexval(f[1][2 * i]), lo = hexval(f[1][2 * i + 1]);
			KAT_CHECK(hi >= 0 && lo >= 0, lineno, "key: expected lowercase hex");
			key[i] = (uint8_t)(hi << 4 | lo);
		}
		nfixed += strcmp(f[1], KEY_HEX) == 0;
		const char *door = f[2];
		char *end;
		errno = 0;
		long long step = strtoll(f[3], &end, 10);
		KAT_CHECK(*end == '\0' && end != f[3] && errno == 0, lineno, "step: expected a signed integer");
		struct kc_bind b;
		KAT_CHECK(kat_bind(f[4], &b) == 0, lineno, "bind: expected none, 4:IPV4 or 6:IPV6");

		if (strcmp(f[0], "totp") == 0) {
			unsigned lo, hi, knocks;
			char c;
			KAT_CHECK(sscanf(f[5], "%u-%u%c", &lo, &hi, &c) == 2 && lo >= 1 && lo < hi && hi <= 65535,
				  lineno, "range: expected LO-HI");
			KAT_CHECK(sscanf(f[6], "%u%c", &knocks, &c) == 1 && knocks >= 1 &&
					  knocks <= KC_TOTP_MAX_KNOCKS,
				  lineno, "knocks: expected 1..16");
			unsigned long want[KC_TOTP_MAX_KNOCKS];
			KAT_CHECK(kat_list(f[8], want, KC_TOTP_MAX_KNOCKS, 65535) == (int)knocks, lineno,
				  "expected KNOCKS ports");
			/* A canary after the last port: nothing is written beyond it. */
			uint16_t got[KC_TOTP_MAX_KNOCKS + 1];
			for (size_t i = 0; i < ARRAY_SIZE(got); i++)
				got[i] = 0xbeef;
			kc_totp_ports(key, door, step, &b, (uint16_t)lo, (uint16_t)hi, knocks, got);
			for (unsigned i = 0; i < knocks; i++) {
				if (got[i] != want[i])
					print_error("knock-codes.kat:%u: knock %u is %u, expected %lu\n", lineno, i + 1,
						    got[i], want[i]);
				assert_int_equal(got[i], want[i]);
			}
			if (knocks < KC_TOTP_MAX_KNOCKS)
				assert_int_equal(got[knocks], 0xbeef);
			ntotp++;
		} else if (strcmp(f[0], "enc") == 0) {
			char proto[8];
			unsigned port, seconds;
			char c;
			KAT_CHECK(sscanf(f[5], "%7[a-z]/%u%c", proto, &port, &c) == 2 &&
					  (strcmp(proto, "tcp") == 0 || strcmp(proto, "udp") == 0) && port >= 1 &&
					  port <= 65535,
				  lineno, "expected tcp/PORT or udp/PORT");
			KAT_CHECK(sscanf(f[6], "%u%c", &seconds, &c) == 1 && seconds <= KC_MAX_SECONDS, lineno,
				  "seconds: expected 0..32767");
			unsigned long want[KC_ENC_KNOCKS];
			KAT_CHECK(kat_list(f[8], want, KC_ENC_KNOCKS, 255) == KC_ENC_KNOCKS, lineno,
				  "expected 10 bytes");
			struct kc_request req = {
				.proto = strcmp(proto, "udp") == 0 ? IPPROTO_UDP : IPPROTO_TCP,
				.port = (uint16_t)port,
				.seconds = (uint16_t)seconds,
			};
			uint8_t got[KC_ENC_KNOCKS];
			assert_int_equal(kc_enc_encode(key, door, step, &b, &req, got), 0);
			for (unsigned i = 0; i < KC_ENC_KNOCKS; i++) {
				if (got[i] != want[i])
					print_error("knock-codes.kat:%u: byte %u is %u, expected %lu\n", lineno, i,
						    got[i], want[i]);
				assert_int_equal(got[i], want[i]);
			}
			/* And back, from the file's bytes. */
			uint8_t bytes[KC_ENC_KNOCKS];
			for (unsigned i = 0; i < KC_ENC_KNOCKS; i++)
				bytes[i] = (uint8_t)want[i];
			struct kc_request back;
			memset(&back, 0xa5, sizeof back);
			KAT_CHECK(kc_enc_decode(key, door, step, &b, bytes, &back) == 0, lineno, "does not decode");
			assert_int_equal(back.proto, req.proto);
			assert_int_equal(back.port, req.port);
			assert_int_equal(back.seconds, req.seconds);
			nenc++;
		} else {
			KAT_CHECK(0, lineno, "expected totp or enc");
		}
	}
	free(line);
	fclose(fp);
	print_message("# %s: %u totp and %u enc vectors\n", path, ntotp, nenc);
	assert_true(ntotp >= 6);
	assert_true(nenc >= 6);
	assert_true(nfixed >= ntotp + nenc - 2);
}

/* ---- encrypted knocks ------------------------------------------------------------ */

static const uint8_t SRC4[4] = {192, 0, 2, 7};
static const uint8_t OTHER4[4] = {192, 0, 2, 8};
/* c000:207:: — the bytes of 192.0.2.7, then zeros. */
static const uint8_t SRC6_LIKE4[16] = {192, 0, 2, 7};

static void assert_decodes(const uint8_t *key, const char *door, int64_t step, const struct kc_bind *b,
			   const uint8_t bytes[KC_ENC_KNOCKS], const struct kc_request *want)
{
	struct kc_request got;
	memset(&got, 0xa5, sizeof got);
	assert_int_equal(kc_enc_decode(key, door, step, b, bytes, &got), 0);
	assert_int_equal(got.proto, want->proto);
	assert_int_equal(got.port, want->port);
	assert_int_equal(got.seconds, want->seconds);
}

static void assert_rejected(const uint8_t *key, const char *door, int64_t step, const struct kc_bind *b,
			    const uint8_t bytes[KC_ENC_KNOCKS])
{
	struct kc_request got;
	assert_int_equal(kc_enc_decode(key, door, step, b, bytes, &got), -1);
}

static void test_enc_decode_rejects(void **state)
{
	(void)state;
	struct kc_bind b = kc_bind_make(1, AF_INET, SRC4), other = kc_bind_make(1, AF_INET, OTHER4),
		       like6 = kc_bind_make(1, AF_INET6, SRC6_LIKE4), none = kc_bind_make(0, AF_INET, SRC4);
	assert_int_equal(b.version, 4);
	assert_int_equal(like6.version, 6);
	assert_int_equal(none.version, 0);
	static const uint8_t zero[16];
	assert_memory_equal(none.addr, zero, 16);
	assert_memory_equal(b.addr + 4, zero, 12);

	struct kc_request req = {.proto = IPPROTO_TCP, .port = 22, .seconds = 60};
	uint8_t bytes[KC_ENC_KNOCKS];
	assert_int_equal(kc_enc_encode(KEY, "ssh", T0_STEP, &b, &req, bytes), 0);
	assert_decodes(KEY, "ssh", T0_STEP, &b, bytes, &req);

	/* Another key: every bit of it counts. */
	uint8_t key[KC_KEY_BYTES];
	for (int i = 0; i < 8 * KC_KEY_BYTES; i += 37) {
		memcpy(key, KEY, sizeof key);
		key[i / 8] ^= (uint8_t)(1u << (i % 8));
		assert_rejected(key, "ssh", T0_STEP, &b, bytes);
	}
	/* Another door. */
	assert_rejected(KEY, "ssh2", T0_STEP, &b, bytes);
	assert_rejected(KEY, "ss", T0_STEP, &b, bytes);
	assert_rejected(KEY, "SSH", T0_STEP, &b, bytes);
	assert_rejected(KEY, "", T0_STEP, &b, bytes);
	/* A step either side. */
	assert_rejected(KEY, "ssh", T0_STEP - 1, &b, bytes);
	assert_rejected(KEY, "ssh", T0_STEP + 1, &b, bytes);
	/* Another source, the same bytes as an IPv6 address, or no source. */
	assert_rejected(KEY, "ssh", T0_STEP, &other, bytes);
	assert_rejected(KEY, "ssh", T0_STEP, &like6, bytes);
	assert_rejected(KEY, "ssh", T0_STEP, &none, bytes);

	/* An unbound code is refused by a door that binds. */
	assert_int_equal(kc_enc_encode(KEY, "ssh", T0_STEP, &none, &req, bytes), 0);
	assert_decodes(KEY, "ssh", T0_STEP, &none, bytes, &req);
	assert_rejected(KEY, "ssh", T0_STEP, &b, bytes);
	assert_rejected(KEY, "ssh", T0_STEP, &like6, bytes);
}

/* Flipping any one bit of the ten bytes (ciphertext or tag) is caught. */
static void test_enc_decode_bit_flips(void **state)
{
	(void)state;
	static const struct kc_request reqs[] = {
		{.proto = IPPROTO_TCP, .port = 22, .seconds = 0},
		{.proto = IPPROTO_UDP, .port = 51820, .seconds = KC_MAX_SECONDS},
	};
	struct kc_bind b = kc_bind_make(1, AF_INET, SRC4);
	unsigned caught = 0;
	for (size_t r = 0; r < ARRAY_SIZE(reqs); r++) {
		uint8_t bytes[KC_ENC_KNOCKS], bad[KC_ENC_KNOCKS];
		assert_int_equal(kc_enc_encode(KEY, "ssh", T0_STEP, &b, &reqs[r], bytes), 0);
		for (unsigned bit = 0; bit < 8 * KC_ENC_KNOCKS; bit++) {
			memcpy(bad, bytes, sizeof bad);
			bad[bit / 8] ^= (uint8_t)(1u << (bit % 8));
			struct kc_request got;
			if (kc_enc_decode(KEY, "ssh", T0_STEP, &b, bad, &got) == 0)
				print_error("request %zu: bit %u flipped still decodes\n", r, bit);
			else
				caught++;
		}
		assert_decodes(KEY, "ssh", T0_STEP, &b, bytes, &reqs[r]);
	}
	assert_int_equal(caught, 2 * 8 * KC_ENC_KNOCKS);
}

static void test_enc_encode_refuses(void **state)
{
	(void)state;
	struct kc_bind b = kc_bind_make(1, AF_INET, SRC4);
	uint8_t bytes[KC_ENC_KNOCKS];
	static const struct kc_request bad[] = {
		{.proto = IPPROTO_TCP, .port = 0, .seconds = 0},
		{.proto = IPPROTO_UDP, .port = 0, .seconds = 30},
		{.proto = IPPROTO_TCP, .port = 22, .seconds = KC_MAX_SECONDS + 1},
		{.proto = IPPROTO_UDP, .port = 22, .seconds = 65535},
		{.proto = IPPROTO_ICMP, .port = 8, .seconds = 0},
		{.proto = IPPROTO_ICMPV6, .port = 128, .seconds = 0},
		{.proto = 0, .port = 22, .seconds = 0},
		{.proto = 255, .port = 22, .seconds = 0},
	};
	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		if (kc_enc_encode(KEY, "ssh", T0_STEP, &b, &bad[i], bytes) != -1)
			print_error("request %zu was encoded\n", i);
		assert_int_equal(kc_enc_encode(KEY, "ssh", T0_STEP, &b, &bad[i], bytes), -1);
	}
	/* The limits themselves are fine. */
	static const struct kc_request good[] = {
		{.proto = IPPROTO_TCP, .port = 1, .seconds = KC_MAX_SECONDS},
		{.proto = IPPROTO_UDP, .port = 65535, .seconds = 0},
	};
	for (size_t i = 0; i < ARRAY_SIZE(good); i++) {
		assert_int_equal(kc_enc_encode(KEY, "ssh", T0_STEP, &b, &good[i], bytes), 0);
		assert_decodes(KEY, "ssh", T0_STEP, &b, bytes, &good[i]);
	}
}

/* ---- time steps and time-based ports ------------------------------------------------ */

static void test_step_floor(void **state)
{
	(void)state;
	const int64_t S = 30 * SEC;
	assert_int_equal(kc_step(0, S), 0);
	assert_int_equal(kc_step(S - 1, S), 0);
	assert_int_equal(kc_step(S, S), 1);
	assert_int_equal(kc_step(T0, S), T0_STEP);
	/* Before 1970, floor and not truncation: -1 µs is in step -1, not 0. */
	assert_int_equal(kc_step(-1, S), -1);
	assert_int_equal(kc_step(-S + 1, S), -1);
	assert_int_equal(kc_step(-S, S), -1);
	assert_int_equal(kc_step(-S - 1, S), -2);
	/* T0 is 5 s into its step; -T0 is 25 s into the step before -T0_STEP. */
	assert_int_equal(kc_step(-T0, S), -T0_STEP - 1);
	assert_int_equal(kc_step(-T0_STEP * S, S), -T0_STEP);
	assert_int_equal(kc_step(-T0_STEP * S - 1, S), -T0_STEP - 1);
	assert_int_equal(kc_step(-5, 1), -5);
	assert_int_equal(kc_step(INT64_MIN, S), INT64_MIN / S - 1);
	assert_int_equal(kc_step(INT64_MAX, S), INT64_MAX / S);
}

static void test_totp_properties(void **state)
{
	(void)state;
	struct kc_bind b = kc_bind_make(1, AF_INET, SRC4), none = kc_bind_make(0, AF_INET, SRC4);
	uint16_t all[KC_TOTP_MAX_KNOCKS], some[KC_TOTP_MAX_KNOCKS], other[KC_TOTP_MAX_KNOCKS];
	for (int64_t step = T0_STEP - 50; step < T0_STEP + 50; step++) {
		kc_totp_ports(KEY, "ssh", step, &b, 20000, 20009, KC_TOTP_MAX_KNOCKS, all);
		for (unsigned i = 0; i < KC_TOTP_MAX_KNOCKS; i++) {
			assert_in_range(all[i], 20000, 20009);
			if (i > 0)
				assert_int_not_equal(all[i], all[i - 1]);
		}
		/* A door's first ports do not depend on how many it has. */
		kc_totp_ports(KEY, "ssh", step, &b, 20000, 20009, 3, some);
		assert_memory_equal(some, all, 3 * sizeof *some);
	}
	/* More than the most knocks: the most. */
	uint16_t big[KC_TOTP_MAX_KNOCKS + 4];
	for (size_t i = 0; i < ARRAY_SIZE(big); i++)
		big[i] = 0xbeef;
	kc_totp_ports(KEY, "ssh", T0_STEP, &b, 20000, 29999, KC_TOTP_MAX_KNOCKS + 4, big);
	assert_int_equal(big[KC_TOTP_MAX_KNOCKS], 0xbeef);
	/* Bound and unbound codes differ. */
	kc_totp_ports(KEY, "ssh", T0_STEP, &b, 20000, 29999, 4, all);
	kc_totp_ports(KEY, "ssh", T0_STEP, &none, 20000, 29999, 4, other);
	assert_memory_not_equal(all, other, 4 * sizeof *all);
}

/* ---- key files -------------------------------------------------------------------- */

static void expect_key_error(const char *path, const char *want)
{
	uint8_t key[KC_KEY_BYTES];
	char err[PATH_MAX * 2 + 256], full[PATH_MAX * 2 + 256];
	memset(key, 0xa5, sizeof key);
	err[0] = '\0';
	assert_int_equal(kc_key_load(path, key, err, sizeof err), -1);
	snprintf(full, sizeof full, "%s%s", path, want);
	assert_string_equal(err, full);
}

static void test_key_load_good(void **state)
{
	(void)state;
	char path[PATH_MAX], err[512] = "";
	uint8_t key[KC_KEY_BYTES];
	static const char *const texts[] = {
		"000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f\n",
		"000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f",
		"000102030405060708090A0B0C0D0E0F101112131415161718191A1B1C1D1E1F\n",
	};
	tpath(path, "good.key");
	for (size_t i = 0; i < ARRAY_SIZE(texts); i++) {
		put_str(path, texts[i], 0600);
		memset(key, 0xa5, sizeof key);
		assert_int_equal(kc_key_load(path, key, err, sizeof err), 0);
		assert_memory_equal(key, KEY, sizeof key);
	}
	/* Read-only for its owner is as good. */
	put_str(path, texts[0], 0400);
	assert_int_equal(kc_key_load(path, key, err, sizeof err), 0);
	assert_memory_equal(key, KEY, sizeof key);
	unlink(path);
}

static void test_key_load_mode(void **state)
{
	(void)state;
	static const mode_t modes[] = {0640, 0604, 0620, 0602, 0660, 0644, 0610};
	char path[PATH_MAX], want[PATH_MAX + 128];
	tpath(path, "open.key");
	for (size_t i = 0; i < ARRAY_SIZE(modes); i++) {
		put_str(path, KEY_HEX, modes[i]);
		snprintf(want, sizeof want, ": the key may be read or written by others (mode %04o): chmod 600 %s",
			 (unsigned)modes[i], path);
		expect_key_error(path, want);
	}
	unlink(path);
}

static void test_key_load_bad_content(void **state)
{
	(void)state;
	static const char *const texts[] = {
		"",
		"\n",
		"000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1\n",	/* 63 digits */
		"000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f0\n",	/* 65 */
		"000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f\n\n",
		"000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f\r\n",
		" 000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f\n",
		"000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1g\n",	/* not hex */
		"00010203040506070809 a0b0c0d0e0f101112131415161718191a1b1c1d1e1f\n",
		"0x0102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f\n",
		"000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f\n"
		"000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f\n",	/* two keys */
	};
	char path[PATH_MAX];
	tpath(path, "bad.key");
	for (size_t i = 0; i < ARRAY_SIZE(texts); i++) {
		put_str(path, texts[i], 0600);
		uint8_t key[KC_KEY_BYTES];
		char err[PATH_MAX + 256];
		static const uint8_t zero[KC_KEY_BYTES];
		memset(key, 0xa5, sizeof key);
		if (kc_key_load(path, key, err, sizeof err) != -1)
			print_error("text %zu was taken as a key\n", i);
		/* No half-read key is left behind. */
		assert_memory_equal(key, zero, sizeof key);
		expect_key_error(path, ": expected 64 hex digits on one line (make a key with: logknock keygen FILE)");
	}
	unlink(path);
}

static void test_key_load_not_a_file(void **state)
{
	(void)state;
	char path[PATH_MAX], want[PATH_MAX + 128];
	/* A directory, a FIFO (opened without blocking), a device. */
	tpath(path, "dir.key");
	assert_int_equal(mkdir(path, 0700), 0);
	expect_key_error(path, ": the key is not a regular file");
	rmdir(path);
	tpath(path, "fifo.key");
	assert_int_equal(mkfifo(path, 0600), 0);
	expect_key_error(path, ": the key is not a regular file");
	unlink(path);
	expect_key_error("/dev/null", ": the key is not a regular file");
	/* Missing. */
	tpath(path, "missing.key");
	snprintf(want, sizeof want, ": cannot open the key: %s", strerror(ENOENT));
	expect_key_error(path, want);
}

static void test_key_generate(void **state)
{
	(void)state;
	char path[PATH_MAX], path2[PATH_MAX], err[PATH_MAX + 256], text[128], want[PATH_MAX + 128];
	uint8_t key[KC_KEY_BYTES], key2[KC_KEY_BYTES];
	struct stat st;

	/* Mode 0600 whatever the umask. */
	tpath(path, "gen.key");
	mode_t old = umask(0);
	int rc = kc_key_generate(path, err, sizeof err);
	umask(old);
	if (rc != 0)
		print_error("%s\n", err);
	assert_int_equal(rc, 0);
	assert_int_equal(lstat(path, &st), 0);
	assert_true(S_ISREG(st.st_mode));
	assert_int_equal(st.st_mode & 07777, 0600);
	assert_int_equal(st.st_size, 2 * KC_KEY_BYTES + 1);
	size_t n = get_file(path, text, sizeof text);
	assert_int_equal(n, 2 * KC_KEY_BYTES + 1);
	assert_int_equal(text[2 * KC_KEY_BYTES], '\n');
	for (int i = 0; i < 2 * KC_KEY_BYTES; i++)
		assert_true(hexval(text[i]) >= 0);
	assert_int_equal(kc_key_load(path, key, err, sizeof err), 0);

	/* Never overwritten. */
	assert_int_equal(kc_key_generate(path, err, sizeof err), -1);
	snprintf(want, sizeof want, "%s: exists already (a key is never overwritten)", path);
	assert_string_equal(err, want);
	assert_file_is(path, text, n);
	assert_int_equal(kc_key_load(path, key2, err, sizeof err), 0);
	assert_memory_equal(key, key2, sizeof key);

	/* Nor is a file a symbolic link points to, even one yet to be made. */
	tpath(path2, "gen-target.key");
	char lnk[PATH_MAX];
	tpath(lnk, "gen-link.key");
	assert_int_equal(symlink(path2, lnk), 0);
	assert_int_equal(kc_key_generate(lnk, err, sizeof err), -1);
	assert_int_equal(access(path2, F_OK), -1);
	unlink(lnk);

	/* A second key is another key. */
	assert_int_equal(kc_key_generate(path2, err, sizeof err), 0);
	assert_int_equal(kc_key_load(path2, key2, err, sizeof err), 0);
	assert_memory_not_equal(key, key2, sizeof key);

	/* Where it cannot be made. */
	tpath(path, "no-such-dir/gen.key");
	assert_int_equal(kc_key_generate(path, err, sizeof err), -1);
	snprintf(want, sizeof want, "%s: %s", path, strerror(ENOENT));
	assert_string_equal(err, want);

	/* "-": standard output. */
	tpath(path, "gen-stdout");
	fflush(stdout);
	int saved = dup(STDOUT_FILENO), fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	assert_true(saved >= 0 && fd >= 0);
	assert_int_equal(dup2(fd, STDOUT_FILENO), STDOUT_FILENO);
	rc = kc_key_generate("-", err, sizeof err);
	dup2(saved, STDOUT_FILENO);
	close(saved);
	close(fd);
	assert_int_equal(rc, 0);
	assert_int_equal(kc_key_load(path, key2, err, sizeof err), 0);
	assert_memory_not_equal(key, key2, sizeof key);
}

/* ---- one-time sequence files ----------------------------------------------------------- */

static void test_onetime_parse_sequence(void **state)
{
	(void)state;
	struct port_spec out[ONETIME_MAX_STEPS];
	size_t n = 99, at = 99;
	const char *why = NULL;
	const char *s = " 7000,8000:udp, 9000:TCP";
	assert_int_equal(onetime_parse_sequence(s, strlen(s), out, ONETIME_MAX_STEPS, &n, &at, &why), 0);
	assert_int_equal(n, 3);
	assert_int_equal(out[0].proto, IPPROTO_TCP);
	assert_int_equal(out[0].port, 7000);
	assert_int_equal(out[1].proto, IPPROTO_UDP);
	assert_int_equal(out[1].port, 8000);
	assert_int_equal(out[2].proto, IPPROTO_TCP);
	assert_int_equal(out[2].port, 9000);

	s = "1 : Udp ,\t65535:tcp\t";
	assert_int_equal(onetime_parse_sequence(s, strlen(s), out, ONETIME_MAX_STEPS, &n, &at, &why), 0);
	assert_int_equal(n, 2);
	assert_int_equal(out[0].proto, IPPROTO_UDP);
	assert_int_equal(out[0].port, 1);
	assert_int_equal(out[1].proto, IPPROTO_TCP);
	assert_int_equal(out[1].port, 65535);

	/* The length bounds the text: "7000,8000" cut after "7000". */
	assert_int_equal(onetime_parse_sequence("7000,8000", 4, out, ONETIME_MAX_STEPS, &n, &at, &why), 0);
	assert_int_equal(n, 1);
	assert_int_equal(out[0].port, 7000);

	static const char PORT[] = "expected a port from 1 to 65535", PROTO[] = "expected tcp or udp after ':'",
			  COMMA[] = "expected ',' between steps";
	static const struct {
		const char *s;
		size_t at;
		const char *why;
	} bad[] = {
		{"", 0, PORT},        {"0", 0, PORT},          {"65536", 0, PORT},        {"1234567", 0, PORT},
		{"-7000", 0, PORT},   {"7000,,8000", 5, PORT}, {"7000,", 5, PORT},        {"7000,  x", 7, PORT},
		{"7000:icmp", 5, PROTO}, {"7000: ud", 6, PROTO}, {"7000:", 5, PROTO},
		{"7000 8000", 5, COMMA}, {"7000:udpx", 8, COMMA}, {"7000;8000", 4, COMMA},
	};
	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		at = 99;
		why = NULL;
		if (onetime_parse_sequence(bad[i].s, strlen(bad[i].s), out, ONETIME_MAX_STEPS, &n, &at, &why) != -1)
			print_error("'%s' was accepted\n", bad[i].s);
		assert_int_equal(onetime_parse_sequence(bad[i].s, strlen(bad[i].s), out, ONETIME_MAX_STEPS, &n, &at,
							&why),
				 -1);
		if (at != bad[i].at)
			print_error("'%s': at %zu\n", bad[i].s, at);
		assert_int_equal(at, bad[i].at);
		assert_string_equal(why, bad[i].why);
	}

	/* Too many steps: the first one too many is pointed at. */
	s = "1,2,3";
	assert_int_equal(onetime_parse_sequence(s, strlen(s), out, 2, &n, &at, &why), -1);
	assert_int_equal(at, 4);
	assert_string_equal(why, "too many steps (at most 32)");
	char many[256];
	size_t len = 0, last = 0;
	for (unsigned i = 1; i <= ONETIME_MAX_STEPS + 1; i++) {
		last = len;
		len += (size_t)snprintf(many + len, sizeof many - len, "%s%u", i > 1 ? ", " : "", 7000 + i);
	}
	last += 2;	/* past ", " */
	assert_int_equal(onetime_parse_sequence(many, len, out, ONETIME_MAX_STEPS, &n, &at, &why), -1);
	assert_int_equal(at, last);
	assert_string_equal(why, "too many steps (at most 32)");
	/* One fewer is fine. */
	assert_int_equal(onetime_parse_sequence(many, last - 2, out, ONETIME_MAX_STEPS, &n, &at, &why), 0);
	assert_int_equal(n, ONETIME_MAX_STEPS);
	assert_int_equal(out[ONETIME_MAX_STEPS - 1].port, 7000 + ONETIME_MAX_STEPS);
}

/* Loading LEN bytes of TEXT (mode 0600) fails with "PATH" WANT. */
static void expect_onetime_error_len(const char *text, size_t len, mode_t mode, const char *want)
{
	char path[PATH_MAX], err[PATH_MAX * 2 + 256], full[PATH_MAX * 2 + 256];
	tpath(path, "bad.seq");
	put_file(path, text, len, mode);
	err[0] = '\0';
	struct onetime *ot = onetime_load(path, err, sizeof err);
	if (ot)
		onetime_free(ot);
	assert_null(ot);
	snprintf(full, sizeof full, "%s%s", path, want);
	assert_string_equal(err, full);
	unlink(path);
}

static void expect_onetime_error(const char *text, const char *want)
{
	expect_onetime_error_len(text, strlen(text), 0600, want);
}

static void test_onetime_load_errors(void **state)
{
	(void)state;
	expect_onetime_error("7000,8000\n7000, 8000, 70000\n", ":2:13: expected a port from 1 to 65535");
	expect_onetime_error("\n  7000:icmp\n", ":2:8: expected tcp or udp after ':'");
	expect_onetime_error("7000 8000", ":1:6: expected ',' between steps");
	expect_onetime_error("\t7000, 8000 9000\n", ":1:13: expected ',' between steps");
	/* Columns count from the line's first byte, CR or not. */
	expect_onetime_error("7000,8000\r\n9000:udp \r\n7000;\r\n", ":3:5: expected ',' between steps");
	/* A used line is not read; a comment neither, but the next one is. */
	expect_onetime_error("#7000,x\n  # 7000 x\n 0\n", ":3:2: expected a port from 1 to 65535");

	static const char nul[] = "# fine\n\t7000,80\0" "00\n";
	expect_onetime_error_len(nul, sizeof nul - 1, 0600, ":2:9: NUL byte");

	char many[512];
	size_t len = (size_t)snprintf(many, sizeof many, "7000\n");
	size_t col = 0;
	for (unsigned i = 1; i <= ONETIME_MAX_STEPS + 1; i++) {
		if (i == ONETIME_MAX_STEPS + 1)
			col = len - 5 + 1 + 1;	/* 1-based, past the ',' */
		len += (size_t)snprintf(many + len, sizeof many - len, "%s%u", i > 1 ? "," : "", 7000 + i);
	}
	char want[64];
	snprintf(want, sizeof want, ":2:%zu: too many steps (at most 32)", col);
	expect_onetime_error(many, want);

	/* Others may not read it. */
	char path[PATH_MAX], w[PATH_MAX + 128];
	tpath(path, "bad.seq");
	static const mode_t modes[] = {0640, 0604, 0660, 0602};
	for (size_t i = 0; i < ARRAY_SIZE(modes); i++) {
		snprintf(w, sizeof w, ": the sequences may be read or written by others (mode %04o): chmod 600 %s",
			 (unsigned)modes[i], path);
		expect_onetime_error_len("7000\n", 5, modes[i], w);
	}
	/* Not a file; no file. */
	char err[PATH_MAX + 256];
	assert_int_equal(mkdir(path, 0700), 0);
	assert_null(onetime_load(path, err, sizeof err));
	snprintf(w, sizeof w, "%s: not a regular file", path);
	assert_string_equal(err, w);
	rmdir(path);
	assert_null(onetime_load(path, err, sizeof err));
	snprintf(w, sizeof w, "%s: cannot open: %s", path, strerror(ENOENT));
	assert_string_equal(err, w);
}

/* The sequences of the tests below: 0 used, a comment, 1, 2, 3 used, 4. */
static const char SEQ_FILE[] = "#7000,8000\n"
			       "  # a comment: 1, 2, x\n"
			       "\n"
			       " 7100,8100:udp, 9100:TCP\r\n"
			       "7200\n"
			       "#\n"
			       "7300:udp";
#define SEQ1_AT 35	/* offset of " 7100..." */

static struct onetime *load_seq(char path[PATH_MAX], const char *name)
{
	char err[PATH_MAX + 256];
	tpath(path, name);
	put_str(path, SEQ_FILE, 0600);
	struct onetime *ot = onetime_load(path, err, sizeof err);
	if (!ot)
		print_error("%s\n", err);
	assert_non_null(ot);
	assert_string_equal(onetime_path(ot), path);
	return ot;
}

static void assert_current(const struct onetime *ot, uint32_t index, const struct port_spec *want, size_t nwant)
{
	size_t n = 99;
	uint32_t i = 99;
	const struct port_spec *p = onetime_current(ot, &n, &i);
	assert_non_null(p);
	assert_int_equal(i, index);
	assert_int_equal(n, nwant);
	for (size_t j = 0; j < n; j++) {
		assert_int_equal(p[j].proto, want[j].proto);
		assert_int_equal(p[j].port, want[j].port);
	}
}

static const struct port_spec SEQ1[] = {{IPPROTO_TCP, 7100}, {IPPROTO_UDP, 8100}, {IPPROTO_TCP, 9100}};
static const struct port_spec SEQ2[] = {{IPPROTO_TCP, 7200}};
static const struct port_spec SEQ4[] = {{IPPROTO_UDP, 7300}};

static void test_onetime_lines(void **state)
{
	(void)state;
	char path[PATH_MAX];
	assert_int_equal(SEQ_FILE[SEQ1_AT], ' ');
	assert_int_equal(SEQ_FILE[SEQ1_AT + 1], '7');
	struct onetime *ot = load_seq(path, "lines.seq");
	assert_current(ot, 1, SEQ1, 3);
	assert_int_equal(onetime_left(ot), 3);
	onetime_free(ot);

	/* All used: nothing to knock. */
	char err[PATH_MAX + 256];
	put_str(path, "#7000\n# comment\n#8000\n", 0600);
	assert_non_null(ot = onetime_load(path, err, sizeof err));
	size_t n;
	uint32_t index;
	assert_null(onetime_current(ot, &n, &index));
	assert_int_equal(onetime_left(ot), 0);
	onetime_free(ot);
	/* Empty. */
	put_str(path, "", 0600);
	assert_non_null(ot = onetime_load(path, err, sizeof err));
	assert_null(onetime_current(ot, &n, &index));
	onetime_free(ot);
	unlink(path);
}

static void test_onetime_use(void **state)
{
	(void)state;
	char path[PATH_MAX], err[PATH_MAX + 256], want[PATH_MAX + 128], marked[sizeof SEQ_FILE];
	struct onetime *ot = load_seq(path, "use.seq");

	/* Used and saved: '#' over the line's first byte, nothing else. */
	assert_int_equal(onetime_use(ot, 1, 1, err, sizeof err), 0);
	memcpy(marked, SEQ_FILE, sizeof marked);
	marked[SEQ1_AT] = '#';
	assert_file_is(path, marked, sizeof SEQ_FILE - 1);
	assert_current(ot, 2, SEQ2, 1);
	assert_int_equal(onetime_left(ot), 2);

	/* Used already, or no such sequence: refused, file untouched. */
	assert_int_equal(onetime_use(ot, 1, 1, err, sizeof err), -1);
	snprintf(want, sizeof want, "%s: sequence 2 was used already", path);
	assert_string_equal(err, want);
	assert_int_equal(onetime_use(ot, 0, 1, err, sizeof err), -1);
	assert_int_equal(onetime_use(ot, 3, 0, err, sizeof err), -1);
	assert_int_equal(onetime_use(ot, 5, 1, err, sizeof err), -1);
	assert_int_equal(onetime_use(ot, UINT32_MAX, 1, err, sizeof err), -1);
	assert_file_is(path, marked, sizeof SEQ_FILE - 1);
	assert_current(ot, 2, SEQ2, 1);

	/* The file read again agrees. */
	struct onetime *again = onetime_load(path, err, sizeof err);
	assert_non_null(again);
	assert_current(again, 2, SEQ2, 1);
	assert_int_equal(onetime_left(again), 2);
	onetime_free(again);

	/* persist = 0 (replay): in memory only. */
	assert_int_equal(onetime_use(ot, 2, 0, err, sizeof err), 0);
	assert_file_is(path, marked, sizeof SEQ_FILE - 1);
	assert_current(ot, 4, SEQ4, 1);
	assert_int_equal(onetime_left(ot), 1);
	assert_int_equal(onetime_use(ot, 2, 0, err, sizeof err), -1);

	/* The last one, on a line of its own with no newline. */
	assert_int_equal(onetime_use(ot, 4, 1, err, sizeof err), 0);
	marked[sizeof SEQ_FILE - 1 - 8] = '#';
	assert_file_is(path, marked, sizeof SEQ_FILE - 1);
	size_t n;
	uint32_t index;
	assert_null(onetime_current(ot, &n, &index));
	assert_int_equal(onetime_left(ot), 0);
	onetime_free(ot);
	unlink(path);
}

/* When the mark cannot be written the sequence stays unused (the door must
 * not open). Tests run as root, whom mode 0400 does not stop: the file is
 * taken away instead, or replaced by a symbolic link (never followed). */
static void test_onetime_use_cannot_write(void **state)
{
	(void)state;
	char path[PATH_MAX], other[PATH_MAX], err[PATH_MAX + 256], want[PATH_MAX + 128];
	struct onetime *ot = load_seq(path, "gone.seq");

	assert_int_equal(unlink(path), 0);
	assert_int_equal(onetime_use(ot, 1, 1, err, sizeof err), -1);
	snprintf(want, sizeof want, "%s: cannot mark the used sequence: %s", path, strerror(ENOENT));
	assert_string_equal(err, want);
	assert_current(ot, 1, SEQ1, 3);
	assert_int_equal(access(path, F_OK), -1);	/* not created either */

	tpath(other, "other.seq");
	put_str(other, SEQ_FILE, 0600);
	assert_int_equal(symlink(other, path), 0);
	assert_int_equal(onetime_use(ot, 1, 1, err, sizeof err), -1);
	snprintf(want, sizeof want, "%s: cannot mark the used sequence: %s", path, strerror(ELOOP));
	assert_string_equal(err, want);
	assert_file_is(other, SEQ_FILE, sizeof SEQ_FILE - 1);
	assert_current(ot, 1, SEQ1, 3);
	unlink(path);

	if (geteuid() != 0) {
		put_str(path, SEQ_FILE, 0400);
		assert_int_equal(onetime_use(ot, 1, 1, err, sizeof err), -1);
		snprintf(want, sizeof want, "%s: cannot mark the used sequence: %s", path, strerror(EACCES));
		assert_string_equal(err, want);
		assert_file_is(path, SEQ_FILE, sizeof SEQ_FILE - 1);
		assert_current(ot, 1, SEQ1, 3);
		unlink(path);
	}

	/* In memory only it still works. */
	assert_int_equal(onetime_use(ot, 1, 0, err, sizeof err), 0);
	assert_current(ot, 2, SEQ2, 1);
	onetime_free(ot);
	unlink(other);
}

/* ---- used codes ------------------------------------------------------------------------ */

static void id_of(uint8_t id[SPENT_ID_BYTES], const char *door, int64_t code, const char *src, const uint8_t *tag)
{
	uint8_t a[16] = {0};
	int family = strchr(src, ':') ? AF_INET6 : AF_INET;
	assert_int_equal(inet_pton(family, src, a), 1);
	spent_id(id, door, code, family, a, tag);
}

static void test_spent_use(void **state)
{
	(void)state;
	struct spent *s = spent_new(3);
	assert_non_null(s);
	uint8_t a[SPENT_ID_BYTES], b[SPENT_ID_BYTES], c[SPENT_ID_BYTES], d[SPENT_ID_BYTES];
	id_of(a, "ssh", T0_STEP, "192.0.2.7", NULL);
	id_of(b, "ssh", T0_STEP + 1, "192.0.2.7", NULL);
	id_of(c, "ssh", T0_STEP + 2, "192.0.2.7", NULL);
	id_of(d, "ssh", T0_STEP + 3, "192.0.2.7", NULL);

	assert_int_equal(spent_use(s, a, T0 + 60 * SEC, T0), 0);
	assert_int_equal(spent_use(s, a, T0 + 60 * SEC, T0 + 1 * SEC), 1);
	assert_int_equal(spent_use(s, a, T0 + 90 * SEC, T0 + 2 * SEC), 1);
	assert_int_equal(spent_count(s), 1);
	assert_int_equal(spent_use(s, b, T0 + 70 * SEC, T0), 0);
	assert_int_equal(spent_use(s, c, T0 + 80 * SEC, T0), 0);
	assert_int_equal(spent_count(s), 3);
	/* Full of live entries: refused rather than forgotten. */
	assert_int_equal(spent_use(s, d, T0 + 90 * SEC, T0 + 59 * SEC), -1);
	assert_int_equal(spent_use(s, d, T0 + 90 * SEC, T0 + 60 * SEC - 1), -1);
	assert_int_equal(spent_count(s), 3);
	assert_int_equal(spent_use(s, a, T0 + 90 * SEC, T0 + 60 * SEC - 1), 1);
	/* A's time is up: its room is free, and A would be new. */
	assert_int_equal(spent_use(s, d, T0 + 90 * SEC, T0 + 60 * SEC), 0);
	assert_int_equal(spent_count(s), 3);
	assert_int_equal(spent_use(s, b, T0 + 90 * SEC, T0 + 60 * SEC), 1);
	assert_int_equal(spent_use(s, c, T0 + 90 * SEC, T0 + 60 * SEC), 1);
	assert_int_equal(spent_use(s, a, T0 + 120 * SEC, T0 + 60 * SEC), -1);
	assert_int_equal(spent_use(s, a, T0 + 120 * SEC, T0 + 80 * SEC), 0);
	assert_int_equal(spent_count(s), 2);	/* b and c expired, a and d live */
	spent_free(s);
	spent_free(NULL);
}

static void test_spent_id(void **state)
{
	(void)state;
	static const uint8_t tag1[KC_ENC_TAG] = {1, 2, 3, 4, 5, 6}, tag2[KC_ENC_TAG] = {1, 2, 3, 4, 5, 7},
			     zero[KC_ENC_TAG];
	uint8_t id[10][SPENT_ID_BYTES];
	id_of(id[0], "ssh", T0_STEP, "192.0.2.7", NULL);
	id_of(id[1], "ssh2", T0_STEP, "192.0.2.7", NULL);
	id_of(id[2], "ss", T0_STEP, "192.0.2.7", NULL);
	id_of(id[3], "ssh", T0_STEP + 1, "192.0.2.7", NULL);
	id_of(id[4], "ssh", -T0_STEP, "192.0.2.7", NULL);
	id_of(id[5], "ssh", T0_STEP, "192.0.2.8", NULL);
	id_of(id[6], "ssh", T0_STEP, "c000:207::", NULL);
	id_of(id[7], "ssh", T0_STEP, "192.0.2.7", tag1);
	id_of(id[8], "ssh", T0_STEP, "192.0.2.7", tag2);
	id_of(id[9], "ssh", T0_STEP, "192.0.2.7", zero);
	for (size_t i = 0; i < ARRAY_SIZE(id); i++)
		for (size_t j = i + 1; j < ARRAY_SIZE(id); j++) {
			if (memcmp(id[i], id[j], SPENT_ID_BYTES) == 0)
				print_error("ids %zu and %zu are the same\n", i, j);
			assert_memory_not_equal(id[i], id[j], SPENT_ID_BYTES);
		}
	/* The same code, the same id. */
	uint8_t again[SPENT_ID_BYTES];
	id_of(again, "ssh", T0_STEP, "192.0.2.7", tag1);
	assert_memory_equal(again, id[7], SPENT_ID_BYTES);
	id_of(again, "ssh", T0_STEP, "c000:207::", NULL);
	assert_memory_equal(again, id[6], SPENT_ID_BYTES);
}

static void test_spent_dump_restore(void **state)
{
	(void)state;
	struct spent *s = spent_new(8), *r = spent_new(8), *small = spent_new(1);
	assert_true(s && r && small);
	uint8_t id[3][SPENT_ID_BYTES];
	char buf[8 * SPENT_LINE_MAX + 1], err[256];
	for (int i = 0; i < 3; i++) {
		id_of(id[i], "ssh", T0_STEP + i, "2001:db8::7", NULL);
		assert_int_equal(spent_use(s, id[i], T0 + (i + 1) * 10 * SEC, T0), 0);
	}

	ssize_t n = spent_dump(s, buf, sizeof buf);
	assert_int_equal(n, 3 * (2 * SPENT_ID_BYTES + 1 + 16 + 1));
	assert_int_equal(strlen(buf), (size_t)n);
	/* One line an entry: 32 hex digits, a space, the expiry in µs. */
	char hex[2 * SPENT_ID_BYTES + 1], line[128];
	for (int j = 0; j < SPENT_ID_BYTES; j++)
		snprintf(hex + 2 * j, 3, "%02x", id[0][j]);
	snprintf(line, sizeof line, "%s %lld\n", hex, (long long)(T0 + 10 * SEC));
	assert_non_null(strstr(buf, line));
	assert_int_equal(spent_dump(s, buf, (size_t)n), -1);	/* no room for the NUL */
	assert_int_equal(spent_dump(s, buf, 10), -1);

	/* Restored at T0 + 20 s: the first two have expired. */
	n = spent_dump(s, buf, sizeof buf);
	assert_true(n > 0);
	assert_int_equal(spent_restore(r, buf, T0 + 20 * SEC, err, sizeof err), 0);
	assert_int_equal(spent_count(r), 1);
	assert_int_equal(spent_use(r, id[2], T0 + 90 * SEC, T0 + 20 * SEC), 1);
	assert_int_equal(spent_use(r, id[1], T0 + 90 * SEC, T0 + 20 * SEC), 0);
	/* Restored early: all three, to a table with room for one: refused. */
	assert_int_equal(spent_restore(small, buf, T0, err, sizeof err), -1);
	assert_string_equal(err, "line 2: more entries than the table holds");

	/* Empty. */
	struct spent *e = spent_new(2);
	assert_non_null(e);
	memset(buf, 'x', sizeof buf);
	assert_int_equal(spent_dump(e, buf, sizeof buf), 0);
	assert_string_equal(buf, "");
	assert_int_equal(spent_restore(e, "", T0, err, sizeof err), 0);
	assert_int_equal(spent_count(e), 0);

	/* Malformed lines, after a good one: the line is named. */
	static const char *const bad[] = {
		"00112233445566778899aabbccddeeff",
		"00112233445566778899aabbccddeeff ",
		"00112233445566778899aabbccddeeff 12x",
		"00112233445566778899aabbccddeeff -5",
		"00112233445566778899aabbccddeeff +5",
		"00112233445566778899aabbccddeeff 1234567890123456789",
		"00112233445566778899aabbccddeeff 123 ",
		"00112233445566778899aabbccddeeff 123\r",
		"00112233445566778899aabbccddeeff  123",
		"00112233445566778899aabbccddee 1795704515000000",
		"00112233445566778899aabbccddeeffaa 1795704515000000",
		"0011223344556677889gaabbccddeeff 1795704515000000",
		"00112233445566778899aabbccddeeff\t1795704515000000",
		"",
		"x",
	};
	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		char text[256];
		snprintf(text, sizeof text, "ffeeddccbbaa99887766554433221100 1795704515000000\n%s\n", bad[i]);
		if (spent_restore(e, text, T0, err, sizeof err) != -1)
			print_error("'%s' was accepted\n", bad[i]);
		assert_int_equal(spent_restore(e, text, T0, err, sizeof err), -1);
		assert_string_equal(err, "line 2: expected a 32-digit hex id and a time");
	}
	/* ... and well-formed ones, upper case and without the final newline. */
	assert_int_equal(spent_restore(e, "00112233445566778899AABBCCDDEEFF 1795704515000000", T0, err, sizeof err), 0);
	spent_free(e);
	spent_free(s);
	spent_free(r);
	spent_free(small);
}

/* ---- main -------------------------------------------------------------------------------- */

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_kat_vectors),
		cmocka_unit_test(test_enc_decode_rejects),
		cmocka_unit_test(test_enc_decode_bit_flips),
		cmocka_unit_test(test_enc_encode_refuses),
		cmocka_unit_test(test_step_floor),
		cmocka_unit_test(test_totp_properties),
		cmocka_unit_test(test_key_load_good),
		cmocka_unit_test(test_key_load_mode),
		cmocka_unit_test(test_key_load_bad_content),
		cmocka_unit_test(test_key_load_not_a_file),
		cmocka_unit_test(test_key_generate),
		cmocka_unit_test(test_onetime_parse_sequence),
		cmocka_unit_test(test_onetime_load_errors),
		cmocka_unit_test(test_onetime_lines),
		cmocka_unit_test(test_onetime_use),
		cmocka_unit_test(test_onetime_use_cannot_write),
		cmocka_unit_test(test_spent_use),
		cmocka_unit_test(test_spent_id),
		cmocka_unit_test(test_spent_dump_restore),
	};
	cmocka_set_message_output(CM_OUTPUT_TAP);
	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
