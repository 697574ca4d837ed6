/* fuzz-control.c — the control socket's request parser (control_parse) and
 * the JSON string escaping of its replies (control_json_escape), as the
 * daemon runs them on what any local user sends.
 *
 * Input: bytes; parsed whole (as the daemon would if they were one line),
 * then each line with its LF, and escaped whole. Checked: a refused
 * request has a printable, non-empty message; an accepted one is at most
 * 1024 bytes ending in its only LF, only printable ASCII and single spaces,
 * and its fields hold what the grammar allows (a known command, a family
 * with an address that formats back, for= in 1 s .. 1 d, the keys a command
 * takes, watch only as json); parsing is deterministic. Escaped text is
 * exactly the length announced, NUL-terminated, valid JSON string content
 * (no raw quote, backslash only before an escape, no control byte), and a
 * short buffer cuts it without writing past its end. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "control_proto.h"
#include "fuzz.h"

static void one_request(const char *line, size_t len)
{
	struct control_req r, again;
	char err[160], err2[160];
	memset(err, 'x', sizeof err);
	memset(&r, 0x5a, sizeof r);
	int rc = control_parse(line, len, &r, err, sizeof err);
	int rc2 = control_parse(line, len, &again, err2, sizeof err2);
	FUZZ_CHECK(rc == rc2);
	if (rc < 0) {
		FUZZ_CHECK(rc == -1);
		FUZZ_CHECK(memchr(err, '\0', sizeof err) != NULL && err[0] != '\0');
		for (const char *p = err; *p; p++)
			FUZZ_CHECK(*p >= 0x20 && *p < 0x7f);
		FUZZ_CHECK(strcmp(err, err2) == 0);
		return;
	}
	FUZZ_CHECK(rc == 0);
	FUZZ_CHECK(memcmp(&r, &again, sizeof r) == 0);
	FUZZ_CHECK(len >= 2 && len <= CONTROL_LINE_MAX && line[len - 1] == '\n');
	FUZZ_CHECK(memchr(line, '\n', len - 1) == NULL);
	for (size_t i = 0; i + 1 < len; i++) {
		unsigned char ch = (unsigned char)line[i];
		FUZZ_CHECK((ch >= 0x21 && ch <= 0x7e) || (ch == ' ' && i > 0 && i + 2 < len && line[i + 1] != ' '));
	}
	FUZZ_CHECK(r.json == 0 || r.json == 1);
	FUZZ_CHECK(memcmp(line, r.json ? "json " : "text ", 5) == 0);
	FUZZ_CHECK((unsigned)r.cmd <= CTL_METRICS);
	FUZZ_CHECK(strcmp(control_cmd_name(r.cmd), "?") != 0);
	FUZZ_CHECK(memchr(r.door, '\0', sizeof r.door) != NULL);
	FUZZ_CHECK(r.knocks == 0 || r.knocks == 1);
	FUZZ_CHECK(r.for_us == 0 || (r.for_us >= CONTROL_FOR_MIN_US && r.for_us <= CONTROL_FOR_MAX_US));
	if (r.family) {
		char a[INET6_ADDRSTRLEN];
		FUZZ_CHECK(r.family == AF_INET || r.family == AF_INET6);
		FUZZ_CHECK(inet_ntop(r.family, r.addr, a, sizeof a) != NULL);
	}
	/* the keys each command takes */
	switch (r.cmd) {
	case CTL_CLOSE: FUZZ_CHECK(r.family && !r.for_us && !r.knocks); break;
	case CTL_OPEN: FUZZ_CHECK(r.family && r.door[0] && !r.knocks); break;
	case CTL_GRANTS:
	case CTL_ATTEMPTS: FUZZ_CHECK(!r.family && !r.for_us && !r.knocks); break;
	case CTL_WATCH: FUZZ_CHECK(r.json && !r.family && !r.for_us && !r.door[0]); break;
	default: FUZZ_CHECK(!r.family && !r.for_us && !r.knocks && !r.door[0]); break;
	}
	/* a door value is VALUE characters only */
	for (const char *p = r.door; *p; p++)
		FUZZ_CHECK(strchr("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._:/@+-", *p));
}

static void check_escaped(const char *out, size_t n)
{
	FUZZ_CHECK(strlen(out) == n);
	for (size_t i = 0; i < n; i++) {
		unsigned char ch = (unsigned char)out[i];
		FUZZ_CHECK(ch >= 0x20 && ch != 0x7f && ch != '"');
		if (ch == '\\') {
			FUZZ_CHECK(i + 1 < n);
			char e = out[++i];
			FUZZ_CHECK(e == '"' || e == '\\' || e == 'u');
			if (e == 'u') {
				FUZZ_CHECK(i + 4 < n);
				for (int k = 1; k <= 4; k++)
					FUZZ_CHECK(strchr("0123456789abcdef", out[i + k]) != NULL);
				i += 4;
			}
		}
	}
}

static void one_escape(const char *s, size_t len)
{
	size_t need = control_json_escape(NULL, 0, s, len);
	FUZZ_CHECK(need >= len && need <= 6 * len);
	char *out = malloc(need + 1);
	FUZZ_CHECK(out);
	FUZZ_CHECK(control_json_escape(out, need + 1, s, len) == need);
	check_escaped(out, need);
	/* cut short: the same prefix, NUL-terminated, nothing written past */
	size_t cut = need / 2 + 1;
	char *small = malloc(cut);
	FUZZ_CHECK(small);
	FUZZ_CHECK(control_json_escape(small, cut, s, len) == need);
	FUZZ_CHECK(small[cut - 1] == '\0' && memcmp(small, out, cut - 1) == 0);
	free(small);
	free(out);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	/* Exact-size copies: ASan sees any read past the end. */
	char *copy = malloc(size ? size : 1);
	FUZZ_CHECK(copy);
	memcpy(copy, data, size);
	one_request(copy, size);
	one_escape(copy, size);
	for (size_t i = 0; i < size;) {
		const char *nl = memchr(copy + i, '\n', size - i);
		size_t n = nl ? (size_t)(nl - (copy + i)) + 1 : size - i;
		char *line = malloc(n);
		FUZZ_CHECK(line);
		memcpy(line, copy + i, n);
		one_request(line, n);
		free(line);
		i += n;
	}
	free(copy);
	return 0;
}
