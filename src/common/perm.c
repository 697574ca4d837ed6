/* perm.c — who besides root (and one trusted user) may change a path. */
#include "perm.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* 1 and *r filled when others may change P (TOP: the path itself). */
static int check_one(const char *p, int top, int owner_too, uid_t trusted, struct perm_report *r)
{
	struct stat st;
	if (stat(p, &st) < 0)
		return -1;
	int sticky_root = !top && S_ISDIR(st.st_mode) && (st.st_mode & S_ISVTX) && st.st_uid == 0;
	if ((st.st_mode & (S_IWGRP | S_IWOTH)) && !sticky_root) {
		if (st.st_mode & S_IWOTH)
			snprintf(r->who, sizeof r->who, "any local user");
		else
			snprintf(r->who, sizeof r->who, "any member of group %u", (unsigned)st.st_gid);
	} else if ((!top || owner_too) && st.st_uid != 0 && st.st_uid != trusted) {
		snprintf(r->who, sizeof r->who, "user %u (its owner)", (unsigned)st.st_uid);
	} else {
		return 0;
	}
	snprintf(r->path, sizeof r->path, "%s", p);
	r->mode = (unsigned)(st.st_mode & 07777);
	r->uid = (unsigned)st.st_uid;
	return 1;
}

/* Checks the absolute path P, then (ANCESTORS) each directory above it,
 * cutting P as it goes. */
static int walk(char *p, int ancestors, int owner_too, uid_t trusted, struct perm_report *r)
{
	int rc = check_one(p, 1, owner_too, trusted, r);
	while (rc == 0 && ancestors && strcmp(p, "/") != 0) {
		size_t n = strlen(p);
		while (n > 1 && p[n - 1] == '/')
			n--;
		while (n > 1 && p[n - 1] != '/')
			n--;
		while (n > 1 && p[n - 1] == '/')
			n--;
		p[n] = '\0';
		rc = check_one(p, 0, owner_too, trusted, r);
	}
	return rc;
}

int perm_others_may_write(const char *path, int ancestors, int owner_too, uid_t trusted, struct perm_report *r)
{
	char abs[PATH_MAX], real[PATH_MAX];
	size_t n = 0;
	if (path[0] != '/') {
		if (!getcwd(abs, sizeof abs))
			return -1;
		n = strlen(abs);
		if (n + 1 < sizeof abs)
			abs[n++] = '/';
	}
	if (n + strlen(path) >= sizeof abs) {
		errno = ENAMETOOLONG;
		return -1;
	}
	strcpy(abs + n, path);
	/* The path as written (a symbolic link's directory is one of its
	 * prefixes), then as resolved (the directories it leads to). */
	int rc = walk(abs, ancestors, owner_too, trusted, r);
	if (rc != 0 || !ancestors)
		return rc;
	if (!realpath(path, real))
		return -1;
	return walk(real, 1, owner_too, trusted, r);
}
