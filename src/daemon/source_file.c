/* source_file.c — follow one log file with inotify, inside the sd-event loop.
 *
 * Rotation strategy
 * -----------------
 * We hold a descriptor on the file we read (the "current" file) and watch,
 * with one inotify descriptor:
 *   - the inode of that file (IN_MODIFY: read more; IN_MOVE_SELF,
 *     IN_DELETE_SELF, IN_ATTRIB: the path may now name another file). The
 *     watch is added through /proc/self/fd/N, so it is on exactly the inode
 *     we read, whatever happens to the path meanwhile;
 *   - the parent directory (IN_CREATE, IN_MOVED_TO, IN_MOVED_FROM, IN_DELETE,
 *     IN_ATTRIB for our name; IN_DELETE_SELF, IN_MOVE_SELF for itself) or,
 *     while it does not exist, its nearest existing ancestor: we walk down as
 *     directories appear, and up again if one disappears.
 * On any event other than a plain IN_MODIFY we look at the path again:
 *   - it names the inode we read: nothing happened to us (a chmod, a file
 *     next to ours);
 *   - it names another file or nothing, and ours still has a link (renamed:
 *     logrotate "create", or "mv"): we read ours to its end, then keep it
 *     open as the "retired" file and go on reading it on IN_MODIFY, because a
 *     writer such as rsyslog appends to it until it is told to reopen (HUP).
 *     The retired file is closed once it is unlinked, or when the next
 *     rotation retires another one. A new file at the path is read from its
 *     start: all its lines are new;
 *   - ours has no link left (rm): read to its end, close it; a file that
 *     appears at the path later is read from its start;
 *   - copytruncate keeps the inode: a size below our read position (checked
 *     with fstat before every read) means truncation; we read from the start.
 * Nothing polls or sleeps. Reading happens on inotify events, and on a
 * one-shot defer event: once at start (warm lines, lines written while we
 * were down) and whenever a read budget ran out, so that a large backlog
 * never holds up the rest of the loop.
 *
 * Position: "dev ino offset warm_offset\n" under the state directory.
 * offset is the start of the first line not yet handed out (a partial last
 * line is read again after a restart); warm_offset the start of the lines
 * read less than warm_us ago, found in a small ring of (read time, start of
 * the batch) marks. It is marked changed after every batch of lines handed
 * out and saved (written and fsynced by the state store's writer thread,
 * off the loop) at most once a second, and at the end. */
#include "source.h"

#include <errno.h>
#include <fcntl.h>
#include <inotifytools/inotify.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "perm.h"
#include "state.h"

#define READ_BUF (64 * 1024)		/* bytes per read() */
#define LINE_MAX_LEN 8192		/* longer lines are skipped */
#define READ_BUDGET (1024 * 1024)	/* bytes per file per loop iteration */
#define WARM_RING 64			/* read-time marks kept for warm_offset */
/* A file that appears unreadable (logrotate creates it 0600, then chmods
 * or chowns it) is tried again on each change, quietly for this long;
 * then a warning. */
#define EACCES_GRACE_US (10 * 1000000ULL)

#define FILE_MASK (IN_MODIFY | IN_ATTRIB | IN_MOVE_SELF | IN_DELETE_SELF)
#define DIR_MASK                                                                                            \
	(IN_CREATE | IN_MOVED_TO | IN_MOVED_FROM | IN_DELETE | IN_ATTRIB | IN_DELETE_SELF | IN_MOVE_SELF | \
	 IN_ONLYDIR)

enum read_status { READ_DRAINED, READ_MORE, READ_EOF, READ_ERROR };

/* One open file being read. */
struct tail {
	int fd;			/* -1: none */
	int wd;			/* inotify watch on its inode; -1: none */
	dev_t dev;
	ino_t ino;
	off_t pos;		/* where the next read() starts */
	off_t offset;		/* start of the first line not yet handed out or skipped */
	size_t have;		/* bytes of that line already in buf */
	int skipping;		/* discarding up to the next newline */
	char *buf;		/* READ_BUF + 1 bytes, allocated once */
};

/* Lines from off on were read at first_us..last_us (CLOCK_MONOTONIC). */
struct warm_mark {
	int64_t first_us, last_us;
	off_t off;
};

struct file_source {
	struct source base;
	sd_event *ev;
	source_line_fn cb;
	void *ctx;
	enum source_format fmt;

	char *path;
	char *parent;		/* directory of path */
	const char *name;	/* last component of path (points into path) */
	char *walk;		/* scratch for the ancestor walk, as large as parent */
	int is_stdin;
	int stdin_flags;	/* fcntl flags of fd 0, restored at the end */

	int ifd;		/* inotify */
	int dir_wd;		/* parent directory, or nearest existing ancestor */
	int dir_is_parent;
	sd_event_source *io;	/* inotify fd, or stdin */
	sd_event_source *kick;	/* one-shot defer: read (more) */
	sd_event_source *eacces_timer;	/* armed while a file that appeared cannot be opened (EACCES) */

	struct tail cur;	/* the file at the path */
	struct tail old;	/* the file rotated away, still read while written to */

	struct state_file state;
	int64_t warm_us;
	off_t warm_start, warm_end;	/* start-up: [warm_start, warm_end) is handed out with warm=1 */
	struct warm_mark ring[WARM_RING];
	unsigned ring_head, ring_len;

	/* so that a failure is logged once, not once per event */
	int open_errno, watch_errno, read_errno, inotify_errno;
	int file_perm_checked;
	int started;		/* source_file_new() has returned */
};

static void pump(struct file_source *fs);
static void follow_path(struct file_source *fs);

static int64_t now_us(clockid_t clk)
{
	struct timespec ts;
	clock_gettime(clk, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* ---- tails ---------------------------------------------------------------- */

static void tail_reset(struct tail *t)
{
	t->fd = -1;
	t->wd = -1;
	t->dev = 0;
	t->ino = 0;
	t->pos = t->offset = 0;
	t->have = 0;
	t->skipping = 0;
}

static void tail_close(struct file_source *fs, struct tail *t)
{
	if (t->wd >= 0)
		inotify_rm_watch(fs->ifd, t->wd);
	if (t->fd >= 0 && !fs->is_stdin)
		close(t->fd);
	tail_reset(t);
}

static void tail_seek(struct tail *t, off_t off)
{
	if (lseek(t->fd, off, SEEK_SET) < 0)
		off = lseek(t->fd, 0, SEEK_CUR);
	t->pos = t->offset = off;
	t->have = 0;
	t->skipping = 0;
}

static int same_file(const struct tail *t, const struct stat *st)
{
	return t->fd >= 0 && t->dev == st->st_dev && t->ino == st->st_ino;
}

/* ---- warm marks ---------------------------------------------------------- */

static void warm_reset(struct file_source *fs)
{
	fs->ring_head = fs->ring_len = 0;
	fs->warm_start = fs->warm_end = 0;
}

/* A batch of lines starting at off was just read. Marks closer together than
 * warm_us / WARM_RING share one entry, so the ring spans all of warm_us. */
static void warm_note(struct file_source *fs, off_t off)
{
	if (fs->warm_us <= 0)
		return;
	int64_t now = now_us(CLOCK_MONOTONIC);
	if (fs->ring_len > 0) {
		struct warm_mark *last = &fs->ring[(fs->ring_head + fs->ring_len - 1) % WARM_RING];
		if (now - last->first_us < fs->warm_us / WARM_RING) {
			last->last_us = now;
			return;
		}
	}
	if (fs->ring_len == WARM_RING) {
		fs->ring_head = (fs->ring_head + 1) % WARM_RING;
		fs->ring_len--;
	}
	fs->ring[(fs->ring_head + fs->ring_len) % WARM_RING] = (struct warm_mark){now, now, off};
	fs->ring_len++;
}

/* Start of the oldest batch read less than warm_us ago; offset if none. */
static off_t warm_offset(struct file_source *fs)
{
	int64_t limit = now_us(CLOCK_MONOTONIC) - fs->warm_us;
	while (fs->ring_len > 0 && fs->ring[fs->ring_head].last_us < limit) {
		fs->ring_head = (fs->ring_head + 1) % WARM_RING;
		fs->ring_len--;
	}
	off_t w = fs->ring_len > 0 ? fs->ring[fs->ring_head].off : fs->cur.offset;
	return w < fs->cur.offset ? w : fs->cur.offset;
}

/* ---- position ------------------------------------------------------------- */

static int format_position(void *ctx, char *buf, size_t len)
{
	struct file_source *fs = ctx;
	if (fs->is_stdin || fs->cur.fd < 0)
		return -1;
	off_t off = fs->cur.offset, warm = warm_offset(fs);
	if (off < fs->warm_end) {	/* still reading the warm lines again */
		off = fs->warm_end;
		warm = fs->warm_start;
	}
	return snprintf(buf, len, "%ju %ju %jd %jd\n", (uintmax_t)fs->cur.dev, (uintmax_t)fs->cur.ino,
			(intmax_t)off, (intmax_t)warm);
}

/* The position changed: saved within a second (state.h). */
static void position_changed(struct file_source *fs)
{
	state_file_changed(&fs->state);
}

/* Parses "dev ino offset warm_offset\n". 0, or -1 if malformed. */
static int parse_position(const char *s, uintmax_t v[4])
{
	for (int i = 0; i < 4; i++) {
		while (*s == ' ')
			s++;
		if (*s < '0' || *s > '9')
			return -1;
		char *end;
		errno = 0;
		v[i] = strtoumax(s, &end, 10);
		if (errno)
			return -1;
		s = end;
	}
	while (*s == ' ' || *s == '\n')
		s++;
	return *s || v[2] > INT64_MAX || v[3] > INT64_MAX ? -1 : 0;
}

/* 1 and v filled when a saved position exists, 0 otherwise. */
static int load_position(struct file_source *fs, uintmax_t v[4])
{
	if (!fs->state.dir)
		return 0;
	char buf[256];
	if (state_read(fs->state.dir, fs->state.name, buf, sizeof buf) < 0) {
		if (errno != ENOENT)
			log_warn("%s: cannot read the saved position %s/%s: %s; starting at the end of the file",
				 fs->path, fs->state.dir, fs->state.name, strerror(errno));
		return 0;
	}
	if (parse_position(buf, v) < 0) {
		log_warn("%s: malformed saved position in %s/%s; starting at the end of the file", fs->path,
			 fs->state.dir, fs->state.name);
		return 0;
	}
	if (v[3] > v[2])
		v[3] = v[2];
	return 1;
}

/* ---- reading -------------------------------------------------------------- */

static void warn_overlong(struct file_source *fs, off_t at)
{
	fs->base.too_long++;
	log_warn("%s: line at offset %jd is longer than %d bytes: skipped", fs->is_stdin ? "stdin" : fs->path,
		 (intmax_t)at, LINE_MAX_LEN);
}

/* n new bytes were read after the t->have kept ones: hand out the complete
 * lines, keep a partial last one for the next read. */
static void consume(struct file_source *fs, struct tail *t, size_t n)
{
	int track = t == &fs->cur && !fs->is_stdin;
	char *p = t->buf, *end = t->buf + t->have + n;
	off_t base = t->pos - (off_t)(t->have + n);	/* file offset of buf[0] */
	off_t before = t->offset;
	int64_t ref = now_us(CLOCK_REALTIME);
	int handed = 0;
	char *nl;

	while ((nl = memchr(p, '\n', (size_t)(end - p)))) {
		size_t len = (size_t)(nl - p);
		off_t at = base + (p - t->buf);
		if (t->skipping) {
			t->skipping = 0;
		} else if (len > LINE_MAX_LEN) {
			warn_overlong(fs, at);
		} else {
			*nl = '\0';
			fs->cb(fs->ctx, p, len, fs->fmt, ref, track && at < fs->warm_end);
			handed = 1;
		}
		p = nl + 1;
		t->offset = base + (p - t->buf);
	}
	size_t rest = (size_t)(end - p);
	if (!t->skipping && rest > LINE_MAX_LEN) {
		warn_overlong(fs, base + (p - t->buf));
		t->skipping = 1;
	}
	if (t->skipping)
		rest = 0;
	memmove(t->buf, p, rest);
	t->have = rest;

	if (track && t->offset != before) {
		if (handed)
			warm_note(fs, before);
		position_changed(fs);
	}
}

/* A size below our read position: the file was truncated (copytruncate). */
static void truncated(struct file_source *fs, struct tail *t, off_t size)
{
	log_info("%s: truncated (size %jd, we had read %jd bytes; copytruncate?): reading from its start",
		 fs->path, (intmax_t)size, (intmax_t)t->pos);
	tail_seek(t, 0);
	if (t == &fs->cur) {
		warm_reset(fs);
		position_changed(fs);
	}
}

/* Reads and hands out lines until EOF or until budget bytes were read. */
static enum read_status read_available(struct file_source *fs, struct tail *t, size_t budget)
{
	struct stat st;
	if (t->fd < 0)
		return READ_DRAINED;
	if (!fs->is_stdin && fstat(t->fd, &st) == 0 && st.st_size < t->pos)
		truncated(fs, t, st.st_size);
	size_t done = 0;
	while (done < budget) {
		ssize_t n = read(t->fd, t->buf + t->have, READ_BUF - t->have);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return READ_DRAINED;
		if (n < 0) {
			if (fs->read_errno != errno)
				log_err("%s: read: %s", fs->is_stdin ? "stdin" : fs->path, strerror(errno));
			fs->read_errno = errno;
			return READ_ERROR;
		}
		if (n == 0)
			return READ_EOF;
		fs->read_errno = 0;
		t->pos += n;
		done += (size_t)n;
		consume(fs, t, (size_t)n);
	}
	return READ_MORE;
}

static void kick(struct file_source *fs)
{
	if (fs->kick)
		sd_event_source_set_enabled(fs->kick, SD_EVENT_ONESHOT);
}

/* Reads what is there: the retired file first (its lines are older). */
static void pump(struct file_source *fs)
{
	int more = 0;
	if (fs->old.fd >= 0)
		more |= read_available(fs, &fs->old, READ_BUDGET) == READ_MORE;
	if (fs->cur.fd >= 0)
		more |= read_available(fs, &fs->cur, READ_BUDGET) == READ_MORE;
	if (more)
		kick(fs);
}

/* ---- opening and watching ------------------------------------------------- */

/* Watches the inode open as fd (through /proc, so that it is that inode). */
static int watch_fd(struct file_source *fs, int fd, const struct stat *st)
{
	char proc[64];
	snprintf(proc, sizeof proc, "/proc/self/fd/%d", fd);
	int wd = inotify_add_watch(fs->ifd, proc, FILE_MASK);
	if (wd >= 0 || errno != ENOENT)
		return wd;
	/* No /proc: watch the path, and make sure it still names our file. */
	wd = inotify_add_watch(fs->ifd, fs->path, FILE_MASK);
	struct stat now;
	if (wd >= 0 && (stat(fs->path, &now) < 0 || now.st_dev != st->st_dev || now.st_ino != st->st_ino)) {
		inotify_rm_watch(fs->ifd, wd);
		errno = ESTALE;
		return -1;
	}
	return wd;
}

#define EFTYPE_NOT_REGULAR (-1)	/* open_failed(): not an errno, not a regular file */

static void open_failed(struct file_source *fs, const char *what, int err)
{
	if (fs->open_errno != err)
		log_err("%s: %s: %s%s", fs->path, what,
			err == EFTYPE_NOT_REGULAR ? "not a regular file" : strerror(err),
			fs->started ? " (tried again when its directory changes)" : "");
	fs->open_errno = err;
}

static int on_eacces_timer(sd_event_source *s, uint64_t usec, void *userdata)
{
	struct file_source *fs = userdata;
	if (fs->cur.fd >= 0)
		return 0;
	int fd = open(fs->path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	if (fd >= 0) {	/* readable now, and no event said so: look again */
		close(fd);
		follow_path(fs);
	} else if (errno == EACCES) {
		log_warn("%s: still not readable %llu s after it appeared: %s (tried again whenever it changes)",
			 fs->path, EACCES_GRACE_US / 1000000, strerror(errno));
		fs->open_errno = EACCES;
	}
	return 0;
}

/* A file that appeared cannot be opened yet: 1 while within the grace
 * period (said at -v -v only; retried on each change of the file), 0 when
 * it is over (or cannot be timed) and the failure should be said. */
static int eacces_wait(struct file_source *fs)
{
	int on = SD_EVENT_OFF;
	uint64_t now;
	if (fs->eacces_timer && sd_event_source_get_enabled(fs->eacces_timer, &on) >= 0 && on != SD_EVENT_OFF)
		return 1;	/* waiting */
	if (sd_event_now(fs->ev, CLOCK_MONOTONIC, &now) < 0)
		return 0;
	if (!fs->eacces_timer &&
	    sd_event_add_time(fs->ev, &fs->eacces_timer, CLOCK_MONOTONIC, 0, 100000, on_eacces_timer, fs) < 0)
		return 0;
	if (sd_event_source_set_time(fs->eacces_timer, now + EACCES_GRACE_US) < 0 ||
	    sd_event_source_set_enabled(fs->eacces_timer, SD_EVENT_ONESHOT) < 0)
		return 0;
	log_debug("%s: appeared but not readable yet (permission denied); trying again when it changes", fs->path);
	return 1;
}

/* Opens the file at the path as the current file, at start (-1: at its
 * end). 0; 1 if it is the retired file, moved back (it then goes on where it
 * was); -1 after logging why (once per cause; not at all if it is missing). */
static int open_current(struct file_source *fs, off_t start)
{
	int fd = open(fs->path, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
	if (fd < 0) {
		if (errno == EACCES && fs->started && fs->open_errno != EACCES && eacces_wait(fs))
			return -1;	/* just appeared: its mode may change in a moment */
		if (errno != ENOENT)
			open_failed(fs, "cannot open", errno);
		return -1;
	}
	if (fs->eacces_timer)
		sd_event_source_set_enabled(fs->eacces_timer, SD_EVENT_OFF);
	struct stat st;
	int err = fstat(fd, &st) < 0 ? errno : S_ISREG(st.st_mode) ? 0 : EFTYPE_NOT_REGULAR;
	if (err) {
		open_failed(fs, "cannot follow it", err);
		close(fd);
		return -1;
	}
	if (same_file(&fs->old, &st)) {	/* the retired file was moved back */
		close(fd);
		struct tail t = fs->cur;
		fs->cur = fs->old;
		fs->old = t;
		warm_reset(fs);
		return 1;
	}
	int wd = watch_fd(fs, fd, &st);
	if (wd < 0) {
		open_failed(fs, "cannot watch", errno);
		close(fd);
		return -1;
	}
	fs->open_errno = 0;
	int skip = 0;
	if (start < 0) {
		/* At the end; a partial last line there is history too. */
		char c;
		start = st.st_size;
		skip = start > 0 && pread(fd, &c, 1, start - 1) == 1 && c != '\n';
	}
	struct tail *t = &fs->cur;
	t->fd = fd;
	t->wd = wd;
	t->dev = st.st_dev;
	t->ino = st.st_ino;
	tail_seek(t, start);
	t->skipping = skip;
	warm_reset(fs);
	return 0;
}

/* Shortens a path by its last component: "a/b" → "a", "a" → ".", "/a" → "/".
 * p has room for at least 2 bytes. */
static void cut_last(char *p)
{
	size_t n = strlen(p);
	while (n > 1 && p[n - 1] == '/')
		n--;
	while (n > 0 && p[n - 1] != '/')
		n--;
	if (n == 0) {
		strcpy(p, ".");
		return;
	}
	while (n > 1 && p[n - 1] == '/')
		n--;
	p[n] = '\0';
}

/* Fills fs->walk with the deepest existing directory on the way to the
 * parent; returns how many levels above the parent it is. */
static unsigned deepest_dir(struct file_source *fs)
{
	unsigned up = 0;
	struct stat st;
	strcpy(fs->walk, fs->parent);
	while (strcmp(fs->walk, "/") != 0 && strcmp(fs->walk, ".") != 0) {
		if (stat(fs->walk, &st) == 0) {
			if (S_ISDIR(st.st_mode))
				break;
			errno = ENOTDIR;
		}
		if (errno != ENOENT && errno != ENOTDIR && fs->watch_errno != errno) {
			log_err("%s: %s: %s", fs->path, fs->walk, strerror(errno));
			fs->watch_errno = errno;
		}
		cut_last(fs->walk);
		up++;
	}
	return up;
}

/* Watches the parent directory, or its nearest existing ancestor. */
static int watch_dirs(struct file_source *fs)
{
	for (int tries = 0; tries < 64; tries++) {
		unsigned up = deepest_dir(fs);
		int wd = inotify_add_watch(fs->ifd, fs->walk, DIR_MASK);
		if (wd < 0) {
			if (errno == ENOENT || errno == ENOTDIR)
				continue;	/* vanished meanwhile: walk again */
			if (fs->watch_errno != errno)
				log_err("%s: cannot watch directory %s: %s", fs->path, fs->walk, strerror(errno));
			fs->watch_errno = errno;
			return -1;
		}
		fs->watch_errno = 0;
		if (fs->dir_wd >= 0 && fs->dir_wd != wd)
			inotify_rm_watch(fs->ifd, fs->dir_wd);
		fs->dir_wd = wd;
		fs->dir_is_parent = up == 0;
		/* A deeper directory may have appeared before the watch was on. */
		if (up == 0 || deepest_dir(fs) == up)
			return 0;
	}
	return 0;
}

/* A file (or a directory above it) that others may write lets them forge
 * knock lines: said once, when the file (or, while it is missing, its
 * directory) is first seen. The same check refuses a state directory. */
static void warn_if_writable(struct file_source *fs, const char *p)
{
	struct perm_report r;
	if (perm_others_may_write(p, 1, 0, geteuid(), &r) != 1)
		return;
	if (strcmp(r.path, fs->path) == 0)
		log_warn("%s: writable by %s (mode %04o): they could write forged kernel lines into it that open "
			 "doors; make it writable by its owner only (see contrib/rsyslog-logknock.conf)",
			 fs->path, r.who, r.mode);
	else
		log_warn("%s: the directory %s can be changed by %s (mode %04o, owner %u): they could replace the "
			 "file with forged kernel lines that open doors; make it writable by root only (see "
			 "contrib/rsyslog-logknock.conf)",
			 fs->path, r.path, r.who, r.mode, r.uid);
}

/* ---- rotation ------------------------------------------------------------- */

/* The retired file is closed once unlinked (or its watch is gone). */
static void check_retired(struct file_source *fs)
{
	struct stat st;
	if (fs->old.fd < 0)
		return;
	if (fs->old.wd >= 0 && fstat(fs->old.fd, &st) == 0 && st.st_nlink > 0)
		return;
	read_available(fs, &fs->old, SIZE_MAX);
	tail_close(fs, &fs->old);
}

/* The path no longer names the current file: read it to its end, then
 * close it (deleted) or keep reading it as the retired file (renamed). */
static void handle_rotation(struct file_source *fs)
{
	struct stat st;
	read_available(fs, &fs->cur, SIZE_MAX);
	if (fstat(fs->cur.fd, &st) < 0 || st.st_nlink == 0) {
		log_info("%s: deleted; a new file at this path will be read from its start", fs->path);
		tail_close(fs, &fs->cur);
	} else {
		log_info("%s: rotated; the new file will be read from its start, the old one as long as it "
			 "grows",
			 fs->path);
		if (fs->old.fd >= 0) {
			read_available(fs, &fs->old, SIZE_MAX);
			tail_close(fs, &fs->old);
		}
		struct tail t = fs->old;
		fs->old = fs->cur;
		fs->cur = t;
	}
	warm_reset(fs);
}

/* Something happened to the path or its directories: catch up with it. */
static void follow_path(struct file_source *fs)
{
	struct stat st;
	watch_dirs(fs);
	check_retired(fs);
	int exists = stat(fs->path, &st) == 0;
	if (fs->cur.fd >= 0) {
		if (exists && same_file(&fs->cur, &st)) {
			if (fs->cur.wd < 0)
				fs->cur.wd = watch_fd(fs, fs->cur.fd, &st);
			return;
		}
		handle_rotation(fs);
	}
	int r = exists ? open_current(fs, 0) : -1;
	if (r < 0)
		return;
	if (r == 1)
		log_info("%s: the rotated file was moved back; going on where we were", fs->path);
	else
		log_info("%s: appeared; reading it from its start", fs->path);
	if (!fs->file_perm_checked) {
		warn_if_writable(fs, fs->path);
		fs->file_perm_checked = 1;
	}
	position_changed(fs);
	pump(fs);
}

/* ---- inotify -------------------------------------------------------------- */

/* Notes what one event means; sets *recheck when the path must be looked at. */
static void note_event(struct file_source *fs, const struct inotify_event *ev, int *recheck)
{
	if (ev->mask & IN_Q_OVERFLOW) {
		log_warn("%s: inotify queue overflow; looking at the file again", fs->path);
		*recheck = 1;
		return;
	}
	if (ev->wd == fs->dir_wd) {
		if (ev->mask & IN_IGNORED)
			fs->dir_wd = -1;
		if (ev->len == 0 || !fs->dir_is_parent || strcmp(ev->name, fs->name) == 0)
			*recheck = 1;
		return;
	}
	struct tail *t = ev->wd == fs->cur.wd ? &fs->cur : ev->wd == fs->old.wd ? &fs->old : NULL;
	if (!t)
		return;
	if (ev->mask & IN_IGNORED)
		t->wd = -1;
	if (ev->mask & (IN_ATTRIB | IN_MOVE_SELF | IN_DELETE_SELF | IN_IGNORED))
		*recheck = 1;
}

static int on_inotify(sd_event_source *s, int fd, uint32_t revents, void *userdata)
{
	struct file_source *fs = userdata;
	char buf[4096] __attribute__((aligned(__alignof__(struct inotify_event))));
	int recheck = 0;
	for (;;) {
		ssize_t n = read(fs->ifd, buf, sizeof buf);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			if (n < 0 && errno != EAGAIN && fs->inotify_errno != errno) {
				log_err("%s: reading inotify events: %s", fs->path, strerror(errno));
				fs->inotify_errno = errno;
			}
			break;
		}
		for (char *p = buf; p < buf + n;) {
			const struct inotify_event *ev = (const struct inotify_event *)(void *)p;
			note_event(fs, ev, &recheck);
			p += sizeof *ev + ev->len;
		}
	}
	pump(fs);
	if (recheck)
		follow_path(fs);
	return 0;
}

/* ---- stdin ---------------------------------------------------------------- */

static void stdin_eof(struct file_source *fs)
{
	struct tail *t = &fs->cur;
	if (t->have > 0 && !t->skipping) {	/* no newline will come: hand it out */
		t->buf[t->have] = '\0';
		fs->cb(fs->ctx, t->buf, t->have, fs->fmt, now_us(CLOCK_REALTIME), 0);
	}
	t->have = 0;
	/* Nothing more will come: a pipe's writer (journalctl -f, tail -F) has
	 * gone. Stop as on SIGTERM, so that a service manager restarts the pair
	 * rather than a daemon idling on a dead input. */
	log_warn("stdin: end of input: stopping");
	if (fs->io)
		sd_event_source_set_enabled(fs->io, SD_EVENT_OFF);
	fcntl(0, F_SETFL, fs->stdin_flags);
	t->fd = -1;
	sd_event_exit(fs->ev, 0);
}

static void stdin_read(struct file_source *fs)
{
	enum read_status st = read_available(fs, &fs->cur, READ_BUDGET);
	if (st == READ_EOF || st == READ_ERROR)
		stdin_eof(fs);
	else if (!fs->io)	/* not pollable (a regular file, /dev/null): always readable */
		kick(fs);
}

static int on_stdin(sd_event_source *s, int fd, uint32_t revents, void *userdata)
{
	stdin_read(userdata);
	return 0;
}

static int on_kick(sd_event_source *s, void *userdata)
{
	struct file_source *fs = userdata;
	if (fs->is_stdin)
		stdin_read(fs);
	else
		pump(fs);
	return 0;
}

static int start_stdin(struct file_source *fs)
{
	int fl = fcntl(0, F_GETFL);
	if (fl < 0 || fcntl(0, F_SETFL, fl | O_NONBLOCK) < 0) {
		log_err("stdin: %s", strerror(errno));
		return -1;
	}
	fs->stdin_flags = fl;
	fs->cur.fd = 0;
	int r = sd_event_add_io(fs->ev, &fs->io, 0, EPOLLIN, on_stdin, fs);
	if (r == -EPERM)	/* epoll refuses regular files: read it on defer events */
		r = sd_event_add_defer(fs->ev, &fs->kick, on_kick, fs);
	if (r < 0) {
		log_err("stdin: cannot watch it: %s", strerror(-r));
		return -1;
	}
	return 0;
}

/* ---- start and end -------------------------------------------------------- */

/* Opens the file where the saved position (or its absence) says. */
static int start_file(struct file_source *fs)
{
	uintmax_t v[4];
	int saved = load_position(fs, v);
	struct stat st;
	if (stat(fs->path, &st) < 0) {
		if (errno != ENOENT && errno != ENOTDIR) {
			log_err("%s: %s", fs->path, strerror(errno));
			return -1;
		}
		log_info("%s: does not exist yet; it will be read from its start when it appears", fs->path);
		return 0;
	}
	if (open_current(fs, saved ? 0 : -1) < 0)
		return -1;	/* exists but cannot be read: logged */
	if (!saved)
		return 0;
	off_t off = (off_t)v[2], warm = fs->warm_us > 0 ? (off_t)v[3] : off;
	if (fstat(fs->cur.fd, &st) < 0)
		st.st_size = 0;
	if (fs->cur.dev != (dev_t)v[0] || fs->cur.ino != (ino_t)v[1]) {
		log_warn("%s: replaced while we were not running (rotated?): reading the new file from its "
			 "start; lines written to the old file after offset %jd were not read",
			 fs->path, (intmax_t)off);
	} else if (st.st_size < off) {
		log_warn("%s: shorter than the saved offset %jd (truncated while we were not running): reading "
			 "it from its start",
			 fs->path, (intmax_t)off);
	} else {
		tail_seek(&fs->cur, warm);
		fs->warm_start = warm;
		fs->warm_end = off;
		log_info("%s: resuming at offset %jd (%jd bytes before it read again as warm lines)", fs->path,
			 (intmax_t)off, (intmax_t)(off - warm));
	}
	return 0;
}

static void file_source_free(struct source *s)
{
	struct file_source *fs = (struct file_source *)s;
	state_file_close(&fs->state);
	sd_event_source_disable_unref(fs->io);
	sd_event_source_disable_unref(fs->kick);
	sd_event_source_disable_unref(fs->eacces_timer);
	if (fs->is_stdin && fs->cur.fd >= 0)
		fcntl(0, F_SETFL, fs->stdin_flags);
	tail_close(fs, &fs->old);
	tail_close(fs, &fs->cur);
	if (fs->ifd >= 0)
		close(fs->ifd);
	free(fs->cur.buf);
	free(fs->old.buf);
	free(fs->path);
	free(fs->parent);
	free(fs->walk);
	sd_event_unref(fs->ev);
	free(fs);
}

static void file_source_status(struct source *s, struct source_status *out)
{
	struct file_source *fs = (struct file_source *)s;
	struct stat st;
	if (fs->cur.fd < 0)
		return;
	if (fs->is_stdin) {
		snprintf(out->pos, sizeof out->pos, "stdin");
		return;
	}
	snprintf(out->pos, sizeof out->pos, "%ju:%jd", (uintmax_t)fs->cur.ino, (intmax_t)fs->cur.offset);
	/* Bytes written and not yet read (of a file rotated away and still
	 * being read too). */
	if (fstat(fs->cur.fd, &st) == 0 && S_ISREG(st.st_mode)) {
		out->lag = st.st_size > fs->cur.offset ? (int64_t)(st.st_size - fs->cur.offset) : 0;
		if (fs->old.fd >= 0 && fstat(fs->old.fd, &st) == 0 && st.st_size > fs->old.offset)
			out->lag += (int64_t)(st.st_size - fs->old.offset);
	}
}

static const struct source_ops file_source_ops = {.free = file_source_free, .status = file_source_status};

/* Everything that does not touch the file yet. */
static struct file_source *file_source_alloc(sd_event *ev, const struct source_conf *sc, struct state_store *store,
					     int64_t warm_us, source_line_fn cb, void *ctx)
{
	struct file_source *fs = calloc(1, sizeof *fs);
	if (!fs)
		return NULL;
	fs->base.ops = &file_source_ops;
	fs->ev = sd_event_ref(ev);
	fs->cb = cb;
	fs->ctx = ctx;
	fs->fmt = sc->format;
	fs->warm_us = warm_us > 0 ? warm_us : 0;
	fs->ifd = fs->dir_wd = -1;
	tail_reset(&fs->cur);
	tail_reset(&fs->old);
	fs->is_stdin = strcmp(sc->arg, "-") == 0;
	size_t len = strlen(sc->arg);
	fs->path = strdup(sc->arg);
	fs->parent = malloc(len + 2);
	fs->walk = malloc(len + 2);
	fs->cur.buf = malloc(READ_BUF + 1);
	fs->old.buf = fs->is_stdin ? NULL : malloc(READ_BUF + 1);
	if (!fs->path || !fs->parent || !fs->walk || !fs->cur.buf || (!fs->is_stdin && !fs->old.buf) ||
	    state_file_init(&fs->state, fs->is_stdin ? NULL : store, "file", sc->arg, sc->arg, 0, format_position,
			    fs) < 0) {
		file_source_free(&fs->base);
		return NULL;
	}
	strcpy(fs->parent, fs->path);
	cut_last(fs->parent);
	const char *slash = strrchr(fs->path, '/');
	fs->name = slash ? slash + 1 : fs->path;
	return fs;
}

struct source *source_file_new(sd_event *ev, const struct source_conf *sc, struct state_store *store, int64_t warm_us,
			       source_line_fn cb, void *ctx)
{
	if (!sc->arg || !*sc->arg) {
		log_err("file source: no path");
		return NULL;
	}
	struct file_source *fs = file_source_alloc(ev, sc, store, warm_us, cb, ctx);
	if (!fs) {
		log_err("%s: out of memory", sc->arg);
		return NULL;
	}
	if (fs->is_stdin) {
		if (start_stdin(fs) < 0)
			goto fail;
		return &fs->base;
	}
	if (!*fs->name || strcmp(fs->name, ".") == 0 || strcmp(fs->name, "..") == 0) {
		log_err("%s: not a file path", fs->path);
		goto fail;
	}
	int r;
	fs->ifd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
	if (fs->ifd < 0) {
		log_err("%s: inotify_init1: %s", fs->path, strerror(errno));
		goto fail;
	}
	if ((r = sd_event_add_io(ev, &fs->io, fs->ifd, EPOLLIN, on_inotify, fs)) < 0 ||
	    (r = sd_event_add_defer(ev, &fs->kick, on_kick, fs)) < 0) {	/* first read, from the loop */
		log_err("%s: sd-event: %s", fs->path, strerror(-r));
		goto fail;
	}
	if (watch_dirs(fs) < 0 || start_file(fs) < 0)
		goto fail;
	if (fs->cur.fd >= 0) {
		warn_if_writable(fs, fs->path);
		fs->file_perm_checked = 1;
		position_changed(fs);
	} else if (fs->dir_is_parent) {
		warn_if_writable(fs, fs->parent);
	}
	fs->started = 1;
	return &fs->base;
fail:
	file_source_free(&fs->base);
	return NULL;
}
