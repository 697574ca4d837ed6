/* source_kmsg.c — read the kernel log buffer itself (/dev/kmsg).
 *
 * Each read() returns one record, "PRI,SEQ,TSUSEC,FLAGS[,...];MESSAGE\n"
 * followed by dictionary lines starting with a space. Only records of
 * facility 0 (kern) are handed out: the kernel forces every record written
 * by user space to /dev/kmsg to a non-zero facility (LOG_USER when none is
 * given), so a knock line cannot be forged from user space.
 *
 * Position: the boot id, and the sequence number and realtime stamp of the
 * last record handed out, in the state directory (see source.h). One beyond
 * the kernel's last record is dropped with a warning (kmsg_check_resume). All lines
 * are handed out from the event loop, never inside source_kmsg_new(). */
#include "source.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "state.h"

#define KMSG_PATH "/dev/kmsg"
#define KMSG_BOOT_ID "/proc/sys/kernel/random/boot_id"
#define KMSG_LINE_MAX 8192
#define KMSG_RECORD_MAX 16384	/* the kernel formats records into 8 KiB; room for the dictionary */
#define KMSG_BATCH 4096		/* records per wakeup; the descriptor stays readable for the rest */
#define KMSG_SKIP_MAX 1000000	/* records read at most to find the end at start-up */
#define KMSG_BOOT_ID_LEN 36
#define KMSG_WARN_US (10 * 1000000ULL)	/* at most one overrun warning this often */

struct kmsg_source {
	struct source base;
	sd_event *ev;
	int fd;
	sd_event_source *io;
	source_line_fn cb;
	void *ctx;

	struct state_file state;
	char boot_id[KMSG_BOOT_ID_LEN + 1];
	bool have_pos;
	uint64_t pos_seq, pos_rt;	/* last record handed out (or passed over) */
	bool dirty;		/* position moved since the last save */

	bool have_prev;
	uint64_t prev_seq, prev_rt;	/* last record read at all: to count losses */
	bool overrun;		/* read() said EPIPE: records were lost */
	uint64_t lost_unsaid;	/* lost since the last warning */
	uint64_t warned_at;	/* CLOCK_MONOTONIC of the last warning; 0: none yet */
	unsigned einval_run;

	/* After a restart in the same boot: records up to saved_seq were
	 * handed out before; those of the last warm_us again as warm. */
	bool resuming;
	uint64_t saved_seq, saved_rt;
	int64_t warm_us;

	char rec[KMSG_RECORD_MAX + 1];
	char line[KMSG_LINE_MAX + 1];
};

/* Checked decimal: digits only, no sign, no overflow. Advances *p. */
static int kmsg_u64(const char **p, const char *end, uint64_t *out)
{
	const char *s = *p;
	uint64_t v = 0;
	if (s >= end || *s < '0' || *s > '9')
		return -1;
	for (; s < end && *s >= '0' && *s <= '9'; s++) {
		unsigned d = (unsigned)(*s - '0');
		if (v > (UINT64_MAX - d) / 10)
			return -1;
		v = v * 10 + d;
	}
	*p = s;
	*out = v;
	return 0;
}

struct kmsg_record {
	unsigned facility, level;
	uint64_t seq, ts_us;
	const char *msg;
	size_t len;
};

/* Returns 0, or -1 if REC is not a well-formed record. */
static int kmsg_parse(const char *rec, size_t n, struct kmsg_record *r)
{
	const char *p = rec, *end = rec + n;
	uint64_t pri;
	if (kmsg_u64(&p, end, &pri) < 0 || p >= end || *p++ != ',' || pri > 2047)
		return -1;
	if (kmsg_u64(&p, end, &r->seq) < 0 || p >= end || *p++ != ',')
		return -1;
	if (kmsg_u64(&p, end, &r->ts_us) < 0 || p >= end || *p++ != ',')
		return -1;
	/* FLAGS and any further fields, up to ';' on the header line */
	const char *semi = NULL;
	for (const char *q = p; q < end && *q != '\n'; q++) {
		if (*q == ';') {
			semi = q;
			break;
		}
	}
	if (!semi || semi == p)
		return -1;
	r->facility = (unsigned)(pri >> 3);
	r->level = (unsigned)(pri & 7);
	r->msg = semi + 1;
	const char *nl = memchr(r->msg, '\n', (size_t)(end - r->msg));
	r->len = (size_t)((nl ? nl : end) - r->msg);
	if (memchr(r->msg, '\0', r->len))
		return -1;
	return 0;
}

static int kmsg_format_state(void *ctx, char *buf, size_t len)
{
	struct kmsg_source *ks = ctx;
	if (!ks->have_pos)
		return -1;
	return snprintf(buf, len, "%s\n%" PRIu64 " %" PRIu64 "\n", ks->boot_id, ks->pos_seq, ks->pos_rt);
}

static void kmsg_batch_done(struct kmsg_source *ks)
{
	if (!ks->dirty)
		return;
	ks->dirty = false;
	state_file_changed(&ks->state);
}

static uint64_t kmsg_clock(clockid_t id)
{
	struct timespec ts;
	if (clock_gettime(id, &ts) < 0)
		return 0;
	return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

/* One read(). 1: a record in ks->rec (*n bytes); 0: nothing more now; -1: error (logged). */
static int kmsg_read1(struct kmsg_source *ks, size_t *n)
{
	for (;;) {
		ssize_t r = read(ks->fd, ks->rec, KMSG_RECORD_MAX);
		if (r > 0) {
			ks->einval_run = 0;
			ks->rec[r] = '\0';
			*n = (size_t)r;
			return 1;
		}
		if (r == 0)
			return 0;
		switch (errno) {
		case EINTR:
			continue;
		case EAGAIN:
			return 0;
		case EPIPE:
			/* our position was overwritten; the kernel moved us to
			 * the oldest record left: count the gap on the next one */
			ks->overrun = true;
			continue;
		case EINVAL:
			/* a record larger than the buffer: the kernel skips it */
			log_debug("kmsg: skipped a record larger than %d bytes", KMSG_RECORD_MAX);
			if (++ks->einval_run > 64) {
				log_warn("kmsg: unreadable records; skipping to the end of the buffer");
				ks->einval_run = 0;
				lseek(ks->fd, 0, SEEK_END);
				return 0;
			}
			continue;
		default:
			log_warn("kmsg: read: %s", strerror(errno));
			return -1;
		}
	}
}

/* N records were lost (0: a number not known): counted in base.lost, said
 * at once, then at most every KMSG_WARN_US with the sum since (a flood that
 * keeps overrunning the buffer must not also flood the log). */
static void kmsg_lost(struct kmsg_source *ks, uint64_t n, const char *why)
{
	ks->base.lost += n;
	ks->lost_unsaid += n;
	uint64_t now = kmsg_clock(CLOCK_MONOTONIC);
	if (ks->warned_at && now - ks->warned_at < KMSG_WARN_US && n)
		return;
	if (ks->lost_unsaid || !n)
		log_warn("kmsg: %s: %" PRIu64 " records lost%s (%" PRIu64 " in all since the start)", why,
			 ks->lost_unsaid, n ? "" : " and more, not counted", ks->base.lost);
	ks->lost_unsaid = 0;
	ks->warned_at = now ? now : 1;
}

/* Counts records lost before REC: overwritten while we lagged behind. */
static void kmsg_check_gap(struct kmsg_source *ks, uint64_t seq)
{
	if (ks->overrun) {
		kmsg_lost(ks, ks->have_prev && seq > ks->prev_seq + 1 ? seq - ks->prev_seq - 1 : 0,
			  "kernel log buffer overran");
		ks->overrun = false;
	}
	ks->have_prev = true;
	ks->prev_seq = seq;
}

/* Every record of the buffer was read and none came after the saved one:
 * if the kernel has not even reached it, the position was not saved in
 * this boot (a forged or copied file; the boot id is no secret). Kept, it
 * would pass over every record, knocks included, until the kernel's count
 * got there: dropped, and reading goes on from here, the end. */
static void kmsg_check_resume(struct kmsg_source *ks)
{
	if (ks->have_prev && ks->prev_seq >= ks->saved_seq)
		return;	/* the saved record is the last one: a restart with nothing new */
	if (ks->have_prev)
		log_warn("kmsg: the saved position (record %" PRIu64 ") is beyond the kernel's last record (%" PRIu64
			 "): it was not saved in this boot (forged or copied?); dropped, reading from the end",
			 ks->saved_seq, ks->prev_seq);
	else
		log_warn("kmsg: the saved position (record %" PRIu64 ") is beyond the kernel's records: it was not "
			 "saved in this boot (forged or copied?); dropped, reading from the end",
			 ks->saved_seq);
	ks->resuming = false;
	ks->have_pos = ks->have_prev;
	ks->pos_seq = ks->prev_seq;
	ks->pos_rt = ks->prev_rt;
	ks->dirty = ks->have_prev;
}

static int kmsg_on_io(sd_event_source *s, int fd, uint32_t revents, void *userdata)
{
	struct kmsg_source *ks = userdata;
	/* printk stamps follow the local clock, which like CLOCK_MONOTONIC
	 * stands still during suspend. */
	uint64_t now_rt = kmsg_clock(CLOCK_REALTIME);
	uint64_t now_mono = kmsg_clock(CLOCK_MONOTONIC);
	int64_t offset = (int64_t)(now_rt - now_mono);

	for (int i = 0; i < KMSG_BATCH; i++) {
		size_t n;
		int r = kmsg_read1(ks, &n);
		if (r <= 0) {
			if (r < 0 && s)
				sd_event_source_set_enabled(s, SD_EVENT_OFF);	/* do not spin on a broken descriptor */
			else if (r == 0 && ks->resuming)
				kmsg_check_resume(ks);
			break;
		}
		struct kmsg_record rec;
		if (kmsg_parse(ks->rec, n, &rec) < 0) {
			log_debug("kmsg: skipped a malformed record");
			continue;
		}
		kmsg_check_gap(ks, rec.seq);
		uint64_t rt = rec.ts_us + (uint64_t)offset;
		if (rt > now_rt)
			rt = now_rt;
		ks->prev_rt = rt;

		int warm = 0;
		if (ks->resuming) {
			if (rec.seq <= ks->saved_seq) {
				if (ks->warm_us <= 0 || rt + (uint64_t)ks->warm_us < ks->saved_rt)
					continue;
				warm = 1;
			} else {
				if (rec.seq > ks->saved_seq + 1)
					kmsg_lost(ks, rec.seq - ks->saved_seq - 1,
						  "records overwritten while not running");
				ks->resuming = false;
			}
		}
		if (!warm) {
			ks->have_pos = true;
			ks->pos_seq = rec.seq;
			ks->pos_rt = rt;
			ks->dirty = true;
		}
		if (rec.facility != 0) {
			log_debug("kmsg: skipped a record from user space (facility %u)", rec.facility);
			continue;
		}
		if (rec.len > KMSG_LINE_MAX) {
			ks->base.too_long++;
			log_debug("kmsg: skipped a record of %zu bytes", rec.len);
			continue;
		}
		memcpy(ks->line, rec.msg, rec.len);
		ks->line[rec.len] = '\0';
		ks->cb(ks->ctx, ks->line, rec.len, FORMAT_SYSLOG, (int64_t)rt, warm);
	}
	kmsg_batch_done(ks);
	return 0;
}

/* Start at the end: read through what is there (handing out nothing) to
 * learn the last sequence number, so that even a restart before the first
 * new record resumes from here. */
static void kmsg_skip_to_end(struct kmsg_source *ks)
{
	uint64_t offset = kmsg_clock(CLOCK_REALTIME) - kmsg_clock(CLOCK_MONOTONIC);
	for (long i = 0;; i++) {
		size_t n;
		if (i >= KMSG_SKIP_MAX) {
			lseek(ks->fd, 0, SEEK_END);
			break;
		}
		if (kmsg_read1(ks, &n) <= 0)
			break;
		struct kmsg_record rec;
		if (kmsg_parse(ks->rec, n, &rec) < 0)
			continue;
		ks->have_prev = true;
		ks->prev_seq = rec.seq;
		ks->have_pos = true;
		ks->pos_seq = rec.seq;
		ks->pos_rt = rec.ts_us + offset;
		ks->dirty = true;
	}
	ks->overrun = false;
}

static int kmsg_read_boot_id(char out[KMSG_BOOT_ID_LEN + 1])
{
	int fd = open(KMSG_BOOT_ID, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	char buf[64];
	ssize_t n = read(fd, buf, sizeof buf - 1);
	int e = errno;
	close(fd);
	if (n < 0) {
		errno = e;
		return -1;
	}
	if (n < KMSG_BOOT_ID_LEN) {
		errno = EINVAL;
		return -1;
	}
	for (int i = 0; i < KMSG_BOOT_ID_LEN; i++) {
		char c = buf[i];
		if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || c == '-')) {
			errno = EINVAL;
			return -1;
		}
	}
	memcpy(out, buf, KMSG_BOOT_ID_LEN);
	out[KMSG_BOOT_ID_LEN] = '\0';
	return 0;
}

/* "BOOTID\nSEQ RT\n" → 0, or -1 if malformed. */
static int kmsg_parse_state(const char *buf, size_t n, char boot[KMSG_BOOT_ID_LEN + 1], uint64_t *seq, uint64_t *rt)
{
	const char *p = buf, *end = buf + n;
	if (n < KMSG_BOOT_ID_LEN + 1 || buf[KMSG_BOOT_ID_LEN] != '\n')
		return -1;
	memcpy(boot, buf, KMSG_BOOT_ID_LEN);
	boot[KMSG_BOOT_ID_LEN] = '\0';
	p += KMSG_BOOT_ID_LEN + 1;
	if (kmsg_u64(&p, end, seq) < 0 || p >= end || *p++ != ' ')
		return -1;
	if (kmsg_u64(&p, end, rt) < 0)
		return -1;
	if (p < end && *p == '\n')
		p++;
	return p == end ? 0 : -1;
}

static void kmsg_free(struct source *s)
{
	struct kmsg_source *ks = (struct kmsg_source *)s;
	if (!ks)
		return;
	if (ks->lost_unsaid)
		log_warn("kmsg: kernel log buffer overran: %" PRIu64 " more records lost (%" PRIu64
			 " in all since the start)", ks->lost_unsaid, ks->base.lost);
	state_file_close(&ks->state);
	sd_event_source_disable_unref(ks->io);
	if (ks->fd >= 0)
		close(ks->fd);
	sd_event_unref(ks->ev);
	free(ks);
}

static void kmsg_status(struct source *s, struct source_status *out)
{
	struct kmsg_source *ks = (struct kmsg_source *)s;
	if (ks->have_pos)
		snprintf(out->pos, sizeof out->pos, "seq %" PRIu64, ks->pos_seq);
}

static const struct source_ops kmsg_ops = {.free = kmsg_free, .status = kmsg_status};

struct source *source_kmsg_new(sd_event *ev, const struct source_conf *sc, struct state_store *store, int64_t warm_us,
			       source_line_fn cb, void *ctx)
{
	struct kmsg_source *ks = calloc(1, sizeof *ks);
	if (!ks) {
		log_err("kmsg: out of memory");
		return NULL;
	}
	ks->base.ops = &kmsg_ops;
	ks->ev = sd_event_ref(ev);
	ks->cb = cb;
	ks->ctx = ctx;
	ks->warm_us = warm_us;
	ks->fd = open(KMSG_PATH, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
	if (ks->fd < 0) {
		if (errno == EPERM || errno == EACCES)
			log_err("kmsg: cannot open " KMSG_PATH ": %s; with kernel.dmesg_restrict=1 reading the kernel "
				"log needs CAP_SYSLOG, so the daemon must open " KMSG_PATH
				" before it drops its privileges",
				strerror(errno));
		else
			log_err("kmsg: cannot open " KMSG_PATH ": %s", strerror(errno));
		goto fail;
	}

	bool resume = false;
	const char *state_dir = state_store_dir(store);
	if (state_dir && kmsg_read_boot_id(ks->boot_id) < 0) {
		log_warn("kmsg: cannot read the boot id from " KMSG_BOOT_ID ": %s; the position is not kept",
			 strerror(errno));
		state_dir = NULL;
		store = NULL;
	}
	if (state_file_init(&ks->state, store, "kmsg", "kmsg", "kmsg", 0, kmsg_format_state, ks) < 0)
		goto fail;
	if (state_dir) {
		char buf[256], boot[KMSG_BOOT_ID_LEN + 1];
		uint64_t seq, rt;
		ssize_t n = state_read(state_dir, ks->state.name, buf, sizeof buf);
		if (n < 0) {
			if (errno != ENOENT)
				log_warn("kmsg: cannot read the saved position %s/%s: %s; starting at the end",
					 state_dir, ks->state.name, strerror(errno));
		} else if (kmsg_parse_state(buf, (size_t)n, boot, &seq, &rt) < 0) {
			log_warn("kmsg: malformed saved position in %s/%s; starting at the end", state_dir,
				 ks->state.name);
		} else if (strcmp(boot, ks->boot_id) != 0) {
			log_info("kmsg: the saved position is from another boot; starting at the end");
		} else {
			resume = true;
			ks->resuming = true;
			ks->saved_seq = seq;
			ks->saved_rt = rt;
			ks->have_pos = true;	/* until something newer: the saved position */
			ks->pos_seq = seq;
			ks->pos_rt = rt;
		}
	}
	if (resume) {
		if (lseek(ks->fd, 0, SEEK_SET) < 0) {
			log_err("kmsg: cannot seek to the start of " KMSG_PATH ": %s", strerror(errno));
			goto fail;
		}
	} else {
		kmsg_skip_to_end(ks);
	}

	int r = sd_event_add_io(ev, &ks->io, ks->fd, EPOLLIN, kmsg_on_io, ks);
	if (r < 0) {
		log_err("kmsg: cannot add event sources: %s", strerror(-r));
		goto fail;
	}
	sd_event_source_set_description(ks->io, "kmsg");
	ks->dirty = true;
	kmsg_batch_done(ks);	/* the end position of a first start, at once */
	return &ks->base;

fail:
	ks->have_pos = false;	/* nothing to save */
	kmsg_free(&ks->base);
	return NULL;
}
