/* state.c — atomic small files under the state directory. */
#include "state.h"

#include "log.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
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

/* ---- the store: a timer on the loop, a writer thread --------------------- */

#define STATE_FILES_MAX 128	/* the grants, and a position per source (at most 64) */
#define STATE_DEFAULT_MAX 1024

struct state_store {
	sd_event *ev;
	char *dir;
	sd_event_source *timer;
	int armed;		/* the loop's: the timer will fire */
	struct state_file *files;	/* registration order; changed by the loop under mu */
	pthread_t thread;
	int started;
	pthread_mutex_t mu;
	pthread_cond_t work, done;
	uint64_t submitted, written;	/* snapshots handed over / written (under mu) */
	int stop;
};

static void state_file_write(struct state_file *f, const char *buf, size_t len)
{
	if (state_write(f->dir, f->name, buf, len, 1) < 0) {
		if (!f->failed)
			log_warn("%s: cannot save the state in %s/%s: %s (still reading; after a restart lines "
				 "may be read twice or missed)",
				 f->what, f->dir, f->name, strerror(errno));
		f->failed = 1;
		return;
	}
	if (f->failed)
		log_info("%s: saving the state works again", f->what);
	f->failed = 0;
}

static void *state_writer(void *arg)
{
	struct state_store *st = arg;
	struct state_file *job[STATE_FILES_MAX];
	pthread_mutex_lock(&st->mu);
	for (;;) {
		while (st->written == st->submitted && !st->stop)
			pthread_cond_wait(&st->work, &st->mu);
		if (st->written == st->submitted)
			break;	/* stopping, nothing left */
		uint64_t gen = st->submitted;
		size_t n = 0;
		for (struct state_file *f = st->files; f && n < STATE_FILES_MAX; f = f->next) {
			if (!f->has_pending)
				continue;
			char *b = f->writing;
			f->writing = f->pending;
			f->pending = b;
			f->writing_len = f->pending_len;
			f->has_pending = 0;
			f->busy = 1;
			job[n++] = f;
		}
		pthread_mutex_unlock(&st->mu);
		for (size_t i = 0; i < n; i++)
			state_file_write(job[i], job[i]->writing, job[i]->writing_len);
		pthread_mutex_lock(&st->mu);
		for (size_t i = 0; i < n; i++)
			job[i]->busy = 0;
		st->written = gen;
		pthread_cond_broadcast(&st->done);
	}
	pthread_mutex_unlock(&st->mu);
	return NULL;
}

/* On the loop: every changed state formatted, then all handed over at once
 * (one consistent moment). */
static void state_store_snapshot(struct state_store *st)
{
	int any = 0;
	for (struct state_file *f = st->files; f; f = f->next) {
		if (!f->dirty)
			continue;
		f->dirty = 0;
		int n = f->format(f->ctx, f->fill, f->max);
		if (n < 0)
			continue;
		if ((size_t)n >= f->max) {
			if (!f->too_large)
				log_warn("%s: the state is too large to save (more than %zu bytes); the saved one "
					 "stays as it was", f->what, f->max - 1);
			f->too_large = 1;
			continue;
		}
		f->too_large = 0;
		f->fill_len = (size_t)n;
		f->filled = any = 1;
	}
	if (!any)
		return;
	pthread_mutex_lock(&st->mu);
	for (struct state_file *f = st->files; f; f = f->next) {
		if (!f->filled)
			continue;
		char *b = f->pending;
		f->pending = f->fill;
		f->fill = b;
		f->pending_len = f->fill_len;
		f->has_pending = 1;
		f->filled = 0;
	}
	st->submitted++;
	pthread_cond_signal(&st->work);
	pthread_mutex_unlock(&st->mu);
}

static int state_store_on_timer(sd_event_source *s, uint64_t usec, void *userdata)
{
	struct state_store *st = userdata;
	st->armed = 0;
	state_store_snapshot(st);
	return 0;
}

struct state_store *state_store_new(sd_event *ev, const char *dir)
{
	struct state_store *st = calloc(1, sizeof *st);
	if (!st || !(st->dir = strdup(dir))) {
		free(st);
		log_err("state directory %s: out of memory", dir);
		return NULL;
	}
	st->ev = sd_event_ref(ev);
	pthread_mutex_init(&st->mu, NULL);
	pthread_cond_init(&st->work, NULL);
	pthread_cond_init(&st->done, NULL);
	int r = sd_event_add_time(ev, &st->timer, CLOCK_MONOTONIC, 0, 10000, state_store_on_timer, st);
	if (r >= 0)
		r = sd_event_source_set_enabled(st->timer, SD_EVENT_OFF);
	if (r >= 0)
		sd_event_source_set_description(st->timer, "state-save");
	if (r < 0) {
		log_err("state directory %s: cannot set up saving: %s", dir, strerror(-r));
		state_store_free(st);
		return NULL;
	}
	/* The writer takes no signal: the loop's signalfd gets them all. */
	sigset_t all, old;
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, &old);
	r = pthread_create(&st->thread, NULL, state_writer, st);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (r != 0) {
		log_err("state directory %s: cannot start the writer thread: %s", dir, strerror(r));
		state_store_free(st);
		return NULL;
	}
	st->started = 1;
	return st;
}

const char *state_store_dir(const struct state_store *st)
{
	return st ? st->dir : NULL;
}

void state_store_save_now(struct state_store *st)
{
	if (!st)
		return;
	state_store_snapshot(st);
	if (st->armed) {
		sd_event_source_set_enabled(st->timer, SD_EVENT_OFF);
		st->armed = 0;
	}
}

void state_store_flush(struct state_store *st)
{
	if (!st)
		return;
	state_store_save_now(st);
	if (!st->started)
		return;
	pthread_mutex_lock(&st->mu);
	uint64_t want = st->submitted;
	while (st->written < want)
		pthread_cond_wait(&st->done, &st->mu);
	pthread_mutex_unlock(&st->mu);
}

void state_store_free(struct state_store *st)
{
	if (!st)
		return;
	if (st->started) {
		state_store_flush(st);
		pthread_mutex_lock(&st->mu);
		st->stop = 1;
		pthread_cond_signal(&st->work);
		pthread_mutex_unlock(&st->mu);
		pthread_join(st->thread, NULL);
	}
	st->timer = sd_event_source_disable_unref(st->timer);
	sd_event_unref(st->ev);
	pthread_mutex_destroy(&st->mu);
	pthread_cond_destroy(&st->work);
	pthread_cond_destroy(&st->done);
	free(st->dir);
	free(st);
}

int state_file_init(struct state_file *f, struct state_store *store, const char *prefix, const char *key,
		    const char *what, size_t max, int (*format)(void *ctx, char *buf, size_t len), void *ctx)
{
	*f = (struct state_file){.format = format, .ctx = ctx, .max = max ? max : STATE_DEFAULT_MAX};
	snprintf(f->what, sizeof f->what, "%s", what);
	if (key)
		state_name(f->name, prefix, key);
	else
		snprintf(f->name, sizeof f->name, "%s", prefix);
	if (!store)
		return 0;
	if (!(f->fill = malloc(f->max)) || !(f->pending = malloc(f->max)) || !(f->writing = malloc(f->max))) {
		free(f->fill);
		free(f->pending);
		free(f->writing);
		f->fill = f->pending = f->writing = NULL;
		log_err("%s: out of memory", what);
		return -1;
	}
	f->store = store;
	f->dir = store->dir;
	pthread_mutex_lock(&store->mu);
	struct state_file **p = &store->files;
	while (*p)
		p = &(*p)->next;
	*p = f;
	pthread_mutex_unlock(&store->mu);
	return 0;
}

void state_file_changed(struct state_file *f)
{
	struct state_store *st = f->store;
	if (!st)
		return;
	f->dirty = 1;
	if (st->armed)
		return;
	uint64_t now;
	if (sd_event_now(st->ev, CLOCK_MONOTONIC, &now) >= 0 &&
	    sd_event_source_set_time(st->timer, now + STATE_SAVE_US) >= 0 &&
	    sd_event_source_set_enabled(st->timer, SD_EVENT_ONESHOT) >= 0)
		st->armed = 1;
}

void state_file_close(struct state_file *f)
{
	struct state_store *st = f->store;
	if (!st)
		return;
	pthread_mutex_lock(&st->mu);
	while (f->busy)
		pthread_cond_wait(&st->done, &st->mu);
	struct state_file **p = &st->files;
	while (*p && *p != f)
		p = &(*p)->next;
	if (*p)
		*p = f->next;
	pthread_mutex_unlock(&st->mu);
	int n = f->format(f->ctx, f->fill, f->max);
	if (n >= 0 && (size_t)n < f->max)
		state_file_write(f, f->fill, (size_t)n);
	else if (n >= 0)
		log_warn("%s: the state is too large to save (%d bytes)", f->what, n);
	free(f->fill);
	free(f->pending);
	free(f->writing);
	f->fill = f->pending = f->writing = NULL;
	f->store = NULL;
	f->dir = NULL;
}
