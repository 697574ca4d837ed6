/* fuzz-kmsg.c — the /dev/kmsg record reader.
 *
 * source_kmsg.c keeps its parsers static, so this target includes the .c
 * file. Input: bytes. The whole input goes through kmsg_parse (one record:
 * "PRI,SEQ,TSUSEC,FLAGS[,...];MESSAGE\n" + dictionary lines) and
 * kmsg_parse_state (the saved position "BOOTID\nSEQ RT\n"); then the input
 * split on 0x1e (ASCII record separator) is sent record by record through a
 * SOCK_SEQPACKET socket pair, which keeps record boundaries as /dev/kmsg
 * does, to kmsg_on_io, the function that reads and hands out lines. The
 * first byte's low bit makes it resume after a saved position (warm lines). */
#include "../src/daemon/source_kmsg.c"

#include <sys/socket.h>

#include "fuzz.h"

static int sv[2] = {-1, -1};
static unsigned long lines_out;

static void on_line(void *ctx, const char *line, size_t len, enum source_format fmt, int64_t time_us, int warm)
{
	FUZZ_CHECK(len <= KMSG_LINE_MAX);
	FUZZ_CHECK(line[len] == '\0');
	FUZZ_CHECK(memchr(line, '\0', len) == NULL);
	FUZZ_CHECK(memchr(line, '\n', len) == NULL);
	FUZZ_CHECK(fmt == FORMAT_SYSLOG);
	FUZZ_CHECK(warm == 0 || warm == 1);
	lines_out++;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	/* One record, in an exact-size buffer. */
	char *copy = malloc(size ? size : 1);
	FUZZ_CHECK(copy);
	memcpy(copy, data, size);
	struct kmsg_record rec;
	if (kmsg_parse(copy, size, &rec) == 0) {
		FUZZ_CHECK(rec.msg >= copy && rec.msg + rec.len <= copy + size);
		FUZZ_CHECK(rec.facility <= 255 && rec.level <= 7);
		FUZZ_CHECK(memchr(rec.msg, '\n', rec.len) == NULL);
	}
	char boot[KMSG_BOOT_ID_LEN + 1];
	uint64_t seq, rt;
	if (kmsg_parse_state(copy, size, boot, &seq, &rt) == 0)
		FUZZ_CHECK(boot[KMSG_BOOT_ID_LEN] == '\0');	/* a NUL inside is harmless: it never equals the real id */
	free(copy);

	/* The reader, record by record. */
	if (sv[0] < 0) {
		FUZZ_CHECK(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv) == 0);
		int sz = 1 << 20;
		setsockopt(sv[1], SOL_SOCKET, SO_SNDBUF, &sz, sizeof sz);
	}
	struct kmsg_source *ks = calloc(1, sizeof *ks);
	FUZZ_CHECK(ks);
	ks->fd = sv[0];
	ks->cb = on_line;
	if (size && (data[0] & 1)) {
		ks->resuming = true;
		ks->saved_seq = 5;
		ks->saved_rt = kmsg_clock(CLOCK_REALTIME);
		ks->warm_us = 10000000;
		ks->have_pos = true;
		ks->pos_seq = 5;
	}
	const uint8_t *p = data, *end = data + size;
	while (p < end) {
		const uint8_t *sep = memchr(p, 0x1e, (size_t)(end - p));
		size_t n = (size_t)((sep ? sep : end) - p);
		if (n > KMSG_RECORD_MAX)
			n = KMSG_RECORD_MAX;	/* the kernel refuses (EINVAL) what does not fit */
		if (n && send(sv[1], p, n, 0) == (ssize_t)n)
			kmsg_on_io(NULL, sv[0], EPOLLIN, ks);
		p = sep ? sep + 1 : end;
	}
	/* whatever the socket still holds */
	kmsg_on_io(NULL, sv[0], EPOLLIN, ks);
	FUZZ_CHECK(!ks->dirty || ks->have_pos);
	free(ks);
	return 0;
}
