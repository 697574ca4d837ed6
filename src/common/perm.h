/* perm.h — who besides root (and one trusted user) may change a path.
 * One answer for the followed log files (a warning) and the state
 * directory (a refusal). */
#ifndef LOGKNOCK_PERM_H
#define LOGKNOCK_PERM_H

#include <limits.h>
#include <sys/types.h>

struct perm_report {
	char path[PATH_MAX];	/* the file or directory others may change */
	unsigned mode;		/* its permission bits */
	unsigned uid;		/* its owner */
	char who[64];		/* "any local user", "any member of group 4", "user 1000 (its owner)" */
};

/* 1 when PATH, or (with ANCESTORS) a directory above it, may be changed by
 * someone other than root and TRUSTED (a uid; (uid_t)-1: root only), and
 * *r says which and by whom; 0 when none; -1 when PATH cannot be looked at
 * (errno). Counted: a group or other write bit on PATH or any directory
 * above it, except on a directory above that is sticky and owned by root
 * (/tmp: nobody can rename or remove what is not theirs in it); and an
 * owner of a directory above (or of PATH, with OWNER_TOO) other than root
 * and TRUSTED, who could change its mode. Symbolic links are followed, as
 * opening the path does. */
int perm_others_may_write(const char *path, int ancestors, int owner_too, uid_t trusted, struct perm_report *r);

#endif
