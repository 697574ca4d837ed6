/* state.c — atomic small files under the state directory. */
#include "state.h"

#include "log.h"

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int state_write(const char *dir, const char *name, const void *data, size_t len, int sync)
{
	char path[4096], tmp[4096];
	if ((size_t)snprintf(path, sizeof path, "%s/%s", dir, name) >= sizeof path ||
	    (size_t)snprintf(tmp, sizeof tmp, "%s/.%s.tmp", dir, name) >= sizeof tmp) {
		errno = ENAMETOOLONG;
		return -1;
	}
	int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0)
		return -1;
	const char *p = data;
	size_t left = len;
	while (left) {
		ssize_t n = write(fd, p, left);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			int e = n < 0 ? errno : EIO;
			close(fd);
			unlink(tmp);
			errno = e;
			return -1;
		}
		p += n;
		left -= (size_t)n;
	}
	if ((sync && fsync(fd) < 0) || close(fd) < 0) {
		int e = errno;
		unlink(tmp);
		errno = e;
		return -1;
	}
	if (rename(tmp, path) < 0) {
		int e = errno;
		unlink(tmp);
		errno = e;
		return -1;
	}
	if (sync) {
		int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (dfd >= 0) {
			fsync(dfd);
			close(dfd);
		}
	}
	return 0;
}

ssize_t state_read(const char *dir, const char *name, char *buf, size_t len)
{
	char path[4096];
	if (len == 0 || (size_t)snprintf(path, sizeof path, "%s/%s", dir, name) >= sizeof path) {
		errno = ENAMETOOLONG;
		return -1;
	}
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0)
		return -1;
	size_t have = 0;
	while (have < len - 1) {
		ssize_t n = read(fd, buf + have, len - 1 - have);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			int e = errno;
			close(fd);
			errno = e;
			return -1;
		}
		if (n == 0)
			break;
		have += (size_t)n;
	}
	close(fd);
	buf[have] = '\0';
	return (ssize_t)have;
}

void state_name(char out[STATE_NAME_MAX], const char *prefix, const char *key)
{
	uint32_t h = 2166136261u;	/* FNV-1a */
	for (const unsigned char *k = (const unsigned char *)key; *k; k++)
		h = (h ^ *k) * 16777619u;
	size_t n = (size_t)snprintf(out, STATE_NAME_MAX, "%s-", prefix);
	const char *k = key;
	while (*k == '/')
		k++;
	for (; *k && n < STATE_NAME_MAX - 12; k++) {
		unsigned char c = (unsigned char)*k;
		out[n++] = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
					   c == '-'
				   ? (char)c
				   : '_';
	}
	snprintf(out + n, STATE_NAME_MAX - n, "-%08x", h);
}

#define STATE_SYNC_US 1000000ULL	/* fsync a changed position at most this often */

static void state_file_save(struct state_file *f, int sync)
{
	char buf[1024];
	int n = f->format(f->ctx, buf, sizeof buf);
	if (!f->dir || n < 0)
		return;
	if ((size_t)n >= sizeof buf || state_write(f->dir, f->name, buf, (size_t)n, sync) < 0) {
		if (!f->failed)
			log_warn("%s: cannot save the position in %s/%s: %s (still reading; after a restart lines "
				 "may be read twice or missed)",
				 f->what, f->dir, f->name, (size_t)n >= sizeof buf ? "too long" : strerror(errno));
		f->failed = 1;
		return;
	}
	if (f->failed)
		log_info("%s: saving the position works again", f->what);
	f->failed = 0;
}

static int state_file_on_timer(sd_event_source *s, uint64_t usec, void *userdata)
{
	state_file_save(userdata, 1);
	return 0;
}

int state_file_init(struct state_file *f, sd_event *ev, const char *dir, const char *prefix, const char *key,
		    const char *what, int (*format)(void *ctx, char *buf, size_t len), void *ctx)
{
	*f = (struct state_file){.format = format, .ctx = ctx};
	snprintf(f->what, sizeof f->what, "%s", what);
	state_name(f->name, prefix, key);
	if (!dir)
		return 0;
	if (!(f->dir = strdup(dir))) {
		log_err("%s: out of memory", what);
		return -1;
	}
	int r = sd_event_add_time(ev, &f->timer, CLOCK_MONOTONIC, 0, 100000, state_file_on_timer, f);
	if (r >= 0)
		r = sd_event_source_set_enabled(f->timer, SD_EVENT_OFF);
	if (r < 0) {
		log_err("%s: cannot set up saving the position: %s", what, strerror(-r));
		return -1;
	}
	return 0;
}

void state_file_changed(struct state_file *f)
{
	if (!f->dir)
		return;
	state_file_save(f, 0);
	int on = SD_EVENT_OFF;
	uint64_t now;
	if (f->timer && sd_event_source_get_enabled(f->timer, &on) >= 0 && on == SD_EVENT_OFF &&
	    sd_event_now(sd_event_source_get_event(f->timer), CLOCK_MONOTONIC, &now) >= 0) {
		sd_event_source_set_time(f->timer, now + STATE_SYNC_US);
		sd_event_source_set_enabled(f->timer, SD_EVENT_ONESHOT);
	}
}

void state_file_close(struct state_file *f)
{
	if (f->dir)
		state_file_save(f, 1);
	f->timer = sd_event_source_disable_unref(f->timer);
	free(f->dir);
	f->dir = NULL;
}
