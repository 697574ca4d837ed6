/* state.c — atomic small files under the state directory. */
#include "state.h"

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
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
