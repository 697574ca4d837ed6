/* knockcode.h — knocks an eavesdropper cannot replay: the constructions
 * shared by the client (which makes them) and the daemon (which checks
 * them). doc/knock-codes.md explains them; t/fixtures/knock-codes.kat holds
 * known answers both sides must reproduce.
 *
 * Every value is a keyed BLAKE2b (libsodium crypto_generichash) of a label
 * and a context: the door's name, the time step and, when the door binds
 * its knocks to the source, the client's address.
 *
 *   time-based (totp):  KNOCKS ports in a range, new every STEP seconds;
 *   encrypted:          10 knocks, one byte each at BASE + 256*i + byte,
 *                       carrying the port the client asks for and for how
 *                       long, encrypted and authenticated (a 48-bit tag). */
#ifndef LOGKNOCK_KNOCKCODE_H
#define LOGKNOCK_KNOCKCODE_H

#include <stddef.h>
#include <stdint.h>

#define KC_KEY_BYTES 32
#define KC_TOTP_MAX_KNOCKS 16
#define KC_ENC_KNOCKS 10		/* bytes of an encrypted knock: 4 ciphertext + 6 tag */
#define KC_ENC_TAG 6
#define KC_ENC_SPAN (256 * KC_ENC_KNOCKS)	/* ports from BASE an encrypted door listens on */
#define KC_MAX_SECONDS 32767		/* the longest duration a request can carry */

/* Who a code is bound to: the address the server sees the knocks come
 * from, or nobody (version 0: the door does not bind). */
struct kc_bind {
	uint8_t version;	/* 4, 6, or 0 */
	uint8_t addr[16];	/* 4 or 16 bytes used, network order */
};

/* What an encrypted knock asks for. */
struct kc_request {
	uint8_t proto;		/* IPPROTO_TCP or IPPROTO_UDP */
	uint16_t port;
	uint16_t seconds;	/* 0: the door's own duration; at most KC_MAX_SECONDS */
};

/* A bind for FAMILY (AF_INET, AF_INET6) and ADDR; bind == 0: unbound. */
struct kc_bind kc_bind_make(int bind, int family, const uint8_t *addr);

/* The time step of TIME_US (microseconds since the epoch): floor division,
 * so that times before 1970 do not share step 0. */
int64_t kc_step(int64_t time_us, int64_t step_us);

/* Reads a key file: 64 hex digits and an optional newline. The file must
 * be a regular file that neither its group nor others may read or write.
 * 0, or -1 with err as "PATH: message". */
int kc_key_load(const char *path, uint8_t key[KC_KEY_BYTES], char *err, size_t errlen);
/* Writes a new random key to PATH (created, mode 0600; never overwritten),
 * or to standard output when PATH is "-". 0, or -1 with err set. */
int kc_key_generate(const char *path, char *err, size_t errlen);

/* The KNOCKS ports (1..KC_TOTP_MAX_KNOCKS) of a time-based door at STEP, in
 * the range LO..HI (LO < HI); two knocks in a row never share a port, so
 * there are span * (span - 1)^(KNOCKS - 1) sequences, all as likely. */
void kc_totp_ports(const uint8_t key[KC_KEY_BYTES], const char *door, int64_t step, const struct kc_bind *b,
		   uint16_t lo, uint16_t hi, unsigned knocks, uint16_t *out);

/* An encrypted knock: the KC_ENC_KNOCKS bytes for REQ (port knock i is
 * BASE + 256*i + bytes[i]). -1 if REQ cannot be carried. */
int kc_enc_encode(const uint8_t key[KC_KEY_BYTES], const char *door, int64_t step, const struct kc_bind *b,
		  const struct kc_request *req, uint8_t bytes[KC_ENC_KNOCKS]);
/* Checks and decrypts BYTES made at STEP: 0 and *req, or -1 (not made with
 * this key, door, step and bind). Constant time in the tag. */
int kc_enc_decode(const uint8_t key[KC_KEY_BYTES], const char *door, int64_t step, const struct kc_bind *b,
		  const uint8_t bytes[KC_ENC_KNOCKS], struct kc_request *req);

#endif
