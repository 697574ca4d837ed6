/* knockcode.c — time-based and encrypted knocks (see knockcode.h and
 * doc/knock-codes.md). No allocation; sodium_init() once, lazily. */
#include "knockcode.h"

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sodium.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#define LABEL_TOTP "logknock totp v1"
#define LABEL_MAC "logknock mac v1"
#define LABEL_ENC "logknock enc v1"
#define DOOR_MAX 255

static void init(void)
{
	static int done;
	if (!done) {
		/* Fails only without a random source; hashing works anyway
		 * and keygen's randombytes_buf aborts rather than return junk. */
		int r = sodium_init();
		(void)r;
		done = 1;
	}
}

struct kc_bind kc_bind_make(int bind, int family, const uint8_t *addr)
{
	struct kc_bind b = {0};
	if (!bind)
		return b;
	b.version = family == AF_INET6 ? 6 : 4;
	memcpy(b.addr, addr, b.version == 6 ? 16 : 4);
	return b;
}

int64_t kc_step(int64_t time_us, int64_t step_us)
{
	int64_t q = time_us / step_us;
	return (time_us % step_us < 0) ? q - 1 : q;
}

/* BLAKE2b keyed with KEY over LABEL NUL | len(door) door | step (64-bit
 * big-endian) | version addr | extra: OUTLEN bytes into OUT. */
static void prf(const uint8_t key[KC_KEY_BYTES], const char *label, const char *door, int64_t step,
		const struct kc_bind *b, const uint8_t *extra, size_t nextra, uint8_t *out, size_t outlen)
{
	crypto_generichash_state st;
	uint8_t head[1 + 8 + 1];
	size_t dlen = strlen(door);
	if (dlen > DOOR_MAX)
		dlen = DOOR_MAX;

	init();
	crypto_generichash_init(&st, key, KC_KEY_BYTES, outlen);
	crypto_generichash_update(&st, (const uint8_t *)label, strlen(label) + 1);
	head[0] = (uint8_t)dlen;
	crypto_generichash_update(&st, head, 1);
	crypto_generichash_update(&st, (const uint8_t *)door, dlen);
	uint64_t s = (uint64_t)step;
	for (int i = 0; i < 8; i++)
		head[i] = (uint8_t)(s >> (56 - 8 * i));
	head[8] = b->version;
	crypto_generichash_update(&st, head, 9);
	crypto_generichash_update(&st, b->addr, b->version == 6 ? 16 : b->version == 4 ? 4 : 0);
	if (nextra)
		crypto_generichash_update(&st, extra, nextra);
	crypto_generichash_final(&st, out, outlen);
	sodium_memzero(&st, sizeof st);
}

void kc_totp_ports(const uint8_t key[KC_KEY_BYTES], const char *door, int64_t step, const struct kc_bind *b,
		   uint16_t lo, uint16_t hi, unsigned knocks, uint16_t *out)
{
	uint8_t h[4 * KC_TOTP_MAX_KNOCKS];
	uint32_t span = (uint32_t)hi - lo + 1;
	if (knocks > KC_TOTP_MAX_KNOCKS)
		knocks = KC_TOTP_MAX_KNOCKS;
	/* BLAKE2b's output length is part of its parameters: always 64 bytes,
	 * so that a door's first ports do not depend on how many it has. */
	prf(key, LABEL_TOTP, door, step, b, NULL, 0, h, sizeof h);
	uint32_t off = 0;
	for (unsigned i = 0; i < knocks; i++) {
		uint32_t v = (uint32_t)h[4 * i] << 24 | (uint32_t)h[4 * i + 1] << 16 | (uint32_t)h[4 * i + 2] << 8 |
			     h[4 * i + 3];
		/* The same port twice in a row would read as a retransmission:
		 * each knock after the first is one of the span - 1 others,
		 * evenly, so that no port is likelier than another. */
		off = i == 0 ? v % span : (off + 1 + v % (span - 1)) % span;
		out[i] = (uint16_t)(lo + off);
	}
	sodium_memzero(h, sizeof h);
}

static void pack(const struct kc_request *req, uint8_t p[4])
{
	uint16_t second = (uint16_t)((req->proto == IPPROTO_UDP ? 0x8000 : 0) | req->seconds);
	p[0] = (uint8_t)(req->port >> 8);
	p[1] = (uint8_t)req->port;
	p[2] = (uint8_t)(second >> 8);
	p[3] = (uint8_t)second;
}

int kc_enc_encode(const uint8_t key[KC_KEY_BYTES], const char *door, int64_t step, const struct kc_bind *b,
		  const struct kc_request *req, uint8_t bytes[KC_ENC_KNOCKS])
{
	uint8_t p[4], ks[4];
	if ((req->proto != IPPROTO_TCP && req->proto != IPPROTO_UDP) || req->port == 0 ||
	    req->seconds > KC_MAX_SECONDS)
		return -1;
	pack(req, p);
	/* Deterministic authenticated encryption (SIV): the tag is a MAC of
	 * the plaintext, and the keystream is drawn from the tag. */
	prf(key, LABEL_MAC, door, step, b, p, sizeof p, bytes + 4, KC_ENC_TAG);
	prf(key, LABEL_ENC, door, step, b, bytes + 4, KC_ENC_TAG, ks, sizeof ks);
	for (int i = 0; i < 4; i++)
		bytes[i] = p[i] ^ ks[i];
	return 0;
}

int kc_enc_decode(const uint8_t key[KC_KEY_BYTES], const char *door, int64_t step, const struct kc_bind *b,
		  const uint8_t bytes[KC_ENC_KNOCKS], struct kc_request *req)
{
	uint8_t p[4], ks[4], tag[KC_ENC_TAG];
	prf(key, LABEL_ENC, door, step, b, bytes + 4, KC_ENC_TAG, ks, sizeof ks);
	for (int i = 0; i < 4; i++)
		p[i] = bytes[i] ^ ks[i];
	prf(key, LABEL_MAC, door, step, b, p, sizeof p, tag, sizeof tag);
	if (sodium_memcmp(tag, bytes + 4, KC_ENC_TAG) != 0)
		return -1;
	uint16_t second = (uint16_t)(p[2] << 8 | p[3]);
	req->port = (uint16_t)(p[0] << 8 | p[1]);
	req->proto = (second & 0x8000) ? IPPROTO_UDP : IPPROTO_TCP;
	req->seconds = second & 0x7fff;
	return req->port ? 0 : -1;
}

/* ---- key files ------------------------------------------------------------ */

static int hexval(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

int kc_key_load(const char *path, uint8_t key[KC_KEY_BYTES], char *err, size_t errlen)
{
	char buf[2 * KC_KEY_BYTES + 3];
	struct stat st;
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	if (fd < 0) {
		snprintf(err, errlen, "%s: cannot open the key: %s", path, strerror(errno));
		return -1;
	}
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		snprintf(err, errlen, "%s: the key is not a regular file", path);
		close(fd);
		return -1;
	}
	if (st.st_mode & 077) {
		snprintf(err, errlen, "%s: the key may be read or written by others (mode %04o): chmod 600 %s", path,
			 (unsigned)(st.st_mode & 07777), path);
		close(fd);
		return -1;
	}
	ssize_t n = read(fd, buf, sizeof buf);
	close(fd);
	if (n > 0 && buf[n - 1] == '\n')
		n--;
	int ok = n == 2 * KC_KEY_BYTES;
	for (int i = 0; ok && i < KC_KEY_BYTES; i++) {
		int hi = hexval((unsigned char)buf[2 * i]), lo = hexval((unsigned char)buf[2 * i + 1]);
		if (hi < 0 || lo < 0)
			ok = 0;
		else
			key[i] = (uint8_t)(hi << 4 | lo);
	}
	sodium_memzero(buf, sizeof buf);
	if (!ok) {
		sodium_memzero(key, KC_KEY_BYTES);
		snprintf(err, errlen, "%s: expected %d hex digits on one line (make a key with: logknock keygen FILE)",
			 path, 2 * KC_KEY_BYTES);
		return -1;
	}
	return 0;
}

int kc_key_generate(const char *path, char *err, size_t errlen)
{
	uint8_t key[KC_KEY_BYTES];
	char hex[2 * KC_KEY_BYTES + 2];
	init();
	randombytes_buf(key, sizeof key);
	sodium_bin2hex(hex, sizeof hex - 1, key, sizeof key);
	sodium_memzero(key, sizeof key);
	size_t len = strlen(hex);
	hex[len++] = '\n';

	int to_stdout = strcmp(path, "-") == 0;
	int fd = to_stdout ? STDOUT_FILENO : open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd < 0) {
		snprintf(err, errlen, "%s: %s", path,
			 errno == EEXIST ? "exists already (a key is never overwritten)" : strerror(errno));
		sodium_memzero(hex, sizeof hex);
		return -1;
	}
	int rc = 0;
	if (!to_stdout && fchmod(fd, 0600) < 0)
		rc = -1;
	if (rc == 0 && write(fd, hex, len) != (ssize_t)len)
		rc = -1;
	if (rc == 0 && !to_stdout && fsync(fd) < 0)
		rc = -1;
	if (rc < 0)
		snprintf(err, errlen, "%s: %s", path, strerror(errno ? errno : EIO));
	sodium_memzero(hex, sizeof hex);
	if (!to_stdout && close(fd) < 0 && rc == 0) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		rc = -1;
	}
	if (rc < 0 && !to_stdout)
		unlink(path);
	return rc;
}
