/* fuzz-apply-proto.c — the applier protocol: requests (apply_parse) and
 * replies (apply_parse_reply), as the daemon and logknock-apply read them.
 *
 * Input: bytes; parsed whole, then line by line. Checked: a parsed request
 * formats (apply_format) and parses back to the same command; a line the
 * parser accepts with its address in inet_ntop form comes back byte for
 * byte (format(parse(line)) == line, apply_proto.c's promise); an error
 * message is NUL-terminated; a reply's message has no control character. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "apply_proto.h"
#include "fuzz.h"

static void one_request(const char *line, size_t len)
{
	struct apply_cmd c, back;
	char err[128], err2[128];
	memset(err, 'x', sizeof err);
	memset(&c, 0x5a, sizeof c);
	if (apply_parse(line, len, &c, err, sizeof err) < 0) {
		FUZZ_CHECK(memchr(err, '\0', sizeof err) != NULL && err[0] != '\0');
		FUZZ_CHECK(c.id <= UINT64_C(9223372036854775807));
		return;
	}
	FUZZ_CHECK(len < APPLY_LINE_MAX);
	FUZZ_CHECK(c.op == APPLY_OPEN || c.op == APPLY_CLOSE || c.op == APPLY_FLUSH);
	FUZZ_CHECK(c.id >= 1 && c.id <= UINT64_C(9223372036854775807));
	if (c.op != APPLY_FLUSH) {
		FUZZ_CHECK(c.family == AF_INET || c.family == AF_INET6);
		FUZZ_CHECK(c.proto == IPPROTO_TCP || c.proto == IPPROTO_UDP || c.proto == IPPROTO_ICMP ||
			   c.proto == IPPROTO_ICMPV6);
		FUZZ_CHECK(memchr(c.door, '\0', sizeof c.door) != NULL);
		FUZZ_CHECK(c.door[0] == '\0' || apply_door_name_valid(c.door));
	}
	if (c.op == APPLY_OPEN)
		FUZZ_CHECK(c.seconds >= 1 && c.seconds <= 31536000);

	char buf[APPLY_LINE_MAX + 1];
	int n = apply_format(&c, buf, sizeof buf);
	FUZZ_CHECK(n > 0 && buf[n - 1] == '\n' && (size_t)n == strlen(buf));
	memset(&back, 0, sizeof back);
	FUZZ_CHECK(apply_parse(buf, (size_t)n - 1, &back, err2, sizeof err2) == 0);
	FUZZ_CHECK(back.op == c.op && back.id == c.id);
	if (c.op != APPLY_FLUSH) {
		FUZZ_CHECK(back.family == c.family && back.proto == c.proto && back.port == c.port &&
			   back.seconds == c.seconds && strcmp(back.door, c.door) == 0);
		FUZZ_CHECK(memcmp(back.addr, c.addr, c.family == AF_INET ? 4 : 16) == 0);
		/* forward and dnat keys (issue 15) */
		FUZZ_CHECK(back.via == c.via && back.toport == c.toport && back.masq == c.masq &&
			   back.nokeep == c.nokeep);
		FUZZ_CHECK(c.via <= APPLY_VIA_DNAT && (c.via == APPLY_VIA_DNAT) == (c.toport != 0));
		FUZZ_CHECK(c.via == APPLY_VIA_LOCAL || memcmp(back.to, c.to, c.family == AF_INET ? 4 : 16) == 0);
	}
	/* Canonical spelling: the line itself, when its address is how
	 * inet_ntop prints it. */
	if (c.op != APPLY_FLUSH) {
		char a[INET6_ADDRSTRLEN];
		FUZZ_CHECK(inet_ntop(c.family, c.addr, a, sizeof a));
		char t[INET6_ADDRSTRLEN + 3] = "to=";
		FUZZ_CHECK(c.via == APPLY_VIA_LOCAL || inet_ntop(c.family, c.to, t + 3, sizeof t - 3));
		if (memmem(line, len, a, strlen(a)) && (c.via == APPLY_VIA_LOCAL || memmem(line, len, t, strlen(t))) &&
		    (size_t)n - 1 == len)
			FUZZ_CHECK(memcmp(buf, line, len) == 0);
	} else {
		FUZZ_CHECK((size_t)n - 1 == len && memcmp(buf, line, len) == 0);
	}
}

static void one_reply(const char *line, size_t len)
{
	struct apply_reply r;
	memset(&r, 0x5a, sizeof r);
	if (apply_parse_reply(line, len, &r) < 0)
		return;
	FUZZ_CHECK(len < APPLY_LINE_MAX);
	FUZZ_CHECK(r.id <= UINT64_C(9223372036854775807));
	FUZZ_CHECK(r.ok == 0 || r.ok == 1);
	FUZZ_CHECK(memchr(r.msg, '\0', sizeof r.msg) != NULL);
	if (r.ok) {
		FUZZ_CHECK(r.id >= 1 && r.msg[0] == '\0');
	} else {
		size_t m = strlen(r.msg);
		FUZZ_CHECK(m >= 1);
		for (size_t i = 0; i < m; i++)
			FUZZ_CHECK((unsigned char)r.msg[i] >= 0x20 && r.msg[i] != 0x7f);
	}
}

static void one(const char *line, size_t len)
{
	/* An exact-size copy: ASan sees any read past the end. */
	char *copy = malloc(len ? len : 1);
	FUZZ_CHECK(copy);
	memcpy(copy, line, len);
	one_request(copy, len);
	one_reply(copy, len);
	free(copy);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *p = (const char *)data, *end = p + size;
	one(p, size);
	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		if (!nl)
			break;	/* the last line was the whole input's tail: done above when alone */
		one(p, (size_t)(nl - p));
		p = nl + 1;
	}
	if (p != (const char *)data && p < end)
		one(p, (size_t)(end - p));
	return 0;
}
