/* onetime.c — knockd-compatible one-time sequence files (see onetime.h). */
#include "onetime.h"

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#define MAX_SEQUENCES 100000

struct ot_seq {
	off_t at;		/* offset of the line's first byte */
	size_t first;		/* index of its first step */
	uint8_t n;
	bool used;
};

struct onetime {
	char *path;
	struct ot_seq *seq;
	size_t nseq;
	struct port_spec *steps;
	size_t next;		/* first unused sequence; nseq: none left */
};

static bool blank(char c)
{
	return c == ' ' || c == '\t';
}

int onetime_parse_sequence(const char *s, size_t len, struct port_spec *out, size_t max, size_t *n, size_t *at,
			   const char **why)
{
	size_t i = 0;
	*n = 0;
	for (;;) {
		while (i < len && blank(s[i]))
			i++;
		*at = i;
		unsigned long port = 0;
		size_t digits = 0;
		while (i < len && s[i] >= '0' && s[i] <= '9' && digits < 6) {
			port = port * 10 + (unsigned long)(s[i++] - '0');
			digits++;
		}
		if (digits == 0 || port < 1 || port > 65535) {
			*why = "expected a port from 1 to 65535";
			return -1;
		}
		uint8_t proto = IPPROTO_TCP;
		while (i < len && blank(s[i]))
			i++;
		if (i < len && s[i] == ':') {
			i++;
			while (i < len && blank(s[i]))
				i++;
			if (len - i >= 3 && strncasecmp(s + i, "tcp", 3) == 0) {
				i += 3;
			} else if (len - i >= 3 && strncasecmp(s + i, "udp", 3) == 0) {
				proto = IPPROTO_UDP;
				i += 3;
			} else {
				*at = i;
				*why = "expected tcp or udp after ':'";
				return -1;
			}
			while (i < len && blank(s[i]))
				i++;
		}
		if (*n == max) {
			*why = "too many steps (at most 32)";
			return -1;
		}
		out[*n].proto = proto;
		out[(*n)++].port = (uint16_t)port;
		if (i == len)
			return 0;
		if (s[i] != ',') {
			*at = i;
			*why = "expected ',' between steps";
			return -1;
		}
		i++;
	}
}

void onetime_free(struct onetime *ot)
{
	if (!ot)
		return;
	free(ot->path);
	free(ot->seq);
	free(ot->steps);
	free(ot);
}

static char *read_all(const char *path, size_t *len, char *err, size_t errlen)
{
	struct stat st;
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	if (fd < 0) {
		snprintf(err, errlen, "%s: cannot open: %s", path, strerror(errno));
		return NULL;
	}
	char *buf = NULL;
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		snprintf(err, errlen, "%s: not a regular file", path);
	} else if (st.st_mode & 077) {
		snprintf(err, errlen, "%s: the sequences may be read or written by others (mode %04o): chmod 600 %s",
			 path, (unsigned)(st.st_mode & 07777), path);
	} else if (st.st_size > ONETIME_MAX_BYTES) {
		snprintf(err, errlen, "%s: larger than %d bytes", path, ONETIME_MAX_BYTES);
	} else if (!(buf = malloc((size_t)st.st_size + 1))) {
		snprintf(err, errlen, "%s: out of memory", path);
	} else {
		size_t got = 0;
		ssize_t r;
		while (got < (size_t)st.st_size && (r = read(fd, buf + got, (size_t)st.st_size - got)) > 0)
			got += (size_t)r;
		*len = got;
		buf[got] = '\0';
	}
	close(fd);
	return buf;
}

struct onetime *onetime_load(const char *path, char *err, size_t errlen)
{
	size_t len = 0;
	char *buf = read_all(path, &len, err, errlen);
	if (!buf)
		return NULL;
	struct onetime *ot = calloc(1, sizeof *ot);
	size_t cap = 0, scap = 0;
	if (!ot || !(ot->path = strdup(path)))
		goto oom;
	size_t line = 0;
	for (size_t pos = 0; pos < len; line++) {
		size_t end = pos;
		while (end < len && buf[end] != '\n')
			end++;
		size_t stop = end > pos && buf[end - 1] == '\r' ? end - 1 : end;
		if (memchr(buf + pos, '\0', stop - pos)) {
			snprintf(err, errlen, "%s:%zu:%zu: NUL byte", path, line + 1,
				 (size_t)((char *)memchr(buf + pos, '\0', stop - pos) - (buf + pos)) + 1);
			goto fail;
		}
		size_t lead = pos;
		while (lead < stop && blank(buf[lead]))
			lead++;
		bool used = lead < stop && buf[lead] == '#';
		if (lead < stop && (!used || lead == pos)) {
			/* A '#' after blanks is a comment; at the first position
			 * it also marks a used sequence (knockd writes it there). */
			if (ot->nseq == MAX_SEQUENCES) {
				snprintf(err, errlen, "%s:%zu:1: more than %d sequences", path, line + 1, MAX_SEQUENCES);
				goto fail;
			}
			if (ot->nseq == cap) {
				cap = cap ? 2 * cap : 64;
				struct ot_seq *s = realloc(ot->seq, cap * sizeof *s);
				if (!s)
					goto oom;
				ot->seq = s;
			}
			size_t first = ot->nseq ? ot->seq[ot->nseq - 1].first + ot->seq[ot->nseq - 1].n : 0;
			if (first + ONETIME_MAX_STEPS > scap) {
				size_t want = scap ? 2 * scap : 256;
				struct port_spec *p = realloc(ot->steps, want * sizeof *p);
				if (!p)
					goto oom;
				ot->steps = p;
				scap = want;
			}
			struct ot_seq *s = &ot->seq[ot->nseq];
			s->at = (off_t)pos;
			s->first = first;
			s->used = used;
			size_t n = 0, at = 0;
			const char *why = NULL;
			if (used) {
				s->n = 0;
			} else if (onetime_parse_sequence(buf + lead, stop - lead, ot->steps + s->first,
							  ONETIME_MAX_STEPS, &n, &at, &why) < 0) {
				snprintf(err, errlen, "%s:%zu:%zu: %s", path, line + 1, lead - pos + at + 1, why);
				goto fail;
			} else {
				s->n = (uint8_t)n;
			}
			ot->nseq++;
		}
		pos = end + 1;
	}
	free(buf);
	while (ot->next < ot->nseq && ot->seq[ot->next].used)
		ot->next++;
	return ot;
oom:
	snprintf(err, errlen, "%s: out of memory", path);
fail:
	free(buf);
	onetime_free(ot);
	return NULL;
}

const struct port_spec *onetime_current(const struct onetime *ot, size_t *n, uint32_t *index)
{
	if (ot->next >= ot->nseq)
		return NULL;
	*n = ot->seq[ot->next].n;
	*index = (uint32_t)ot->next;
	return ot->steps + ot->seq[ot->next].first;
}

size_t onetime_left(const struct onetime *ot)
{
	size_t left = 0;
	for (size_t i = ot->next; i < ot->nseq; i++)
		left += !ot->seq[i].used;
	return left;
}

size_t onetime_longest(const struct onetime *ot)
{
	size_t longest = 0;
	for (size_t i = ot->next; i < ot->nseq; i++)
		if (!ot->seq[i].used && ot->seq[i].n > longest)
			longest = ot->seq[i].n;
	return longest;
}

const char *onetime_path(const struct onetime *ot)
{
	return ot->path;
}

int onetime_use(struct onetime *ot, uint32_t index, int persist, char *err, size_t errlen)
{
	if (index >= ot->nseq || ot->seq[index].used) {
		snprintf(err, errlen, "%s: sequence %u was used already", ot->path, index + 1);
		return -1;
	}
	if (persist) {
		/* One byte inside one sector: the write is all or nothing, and
		 * it is on the disk before the door opens. */
		int fd = open(ot->path, O_WRONLY | O_CLOEXEC | O_NOFOLLOW | O_NOCTTY);
		if (fd < 0 || pwrite(fd, "#", 1, ot->seq[index].at) != 1 || fdatasync(fd) < 0) {
			snprintf(err, errlen, "%s: cannot mark the used sequence: %s", ot->path,
				 strerror(errno ? errno : EIO));
			if (fd >= 0)
				close(fd);
			return -1;
		}
		if (close(fd) < 0) {
			snprintf(err, errlen, "%s: cannot mark the used sequence: %s", ot->path, strerror(errno));
			return -1;
		}
	}
	ot->seq[index].used = true;
	while (ot->next < ot->nseq && ot->seq[ot->next].used)
		ot->next++;
	return 0;
}
