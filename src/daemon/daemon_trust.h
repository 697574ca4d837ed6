/* daemon_trust.h — daemon_trust.c's checks, for daemon.c (internal to the
 * two). Each says why on failure. */
#ifndef LOGKNOCK_DAEMON_TRUST_H
#define LOGKNOCK_DAEMON_TRUST_H

#include <pwd.h>
#include <sys/types.h>

#include "config.h"

/* The state directory's lock file, held for the daemon's life. */
#define STATE_LOCK "lock"

int daemon_drop_privileges(const struct config *cfg);
int daemon_prepare_state_dir(const char *dir, const char *user, int *lock_fd, int *unclean);
int daemon_sources_trusted(const struct config *cfg, const char *what);
int daemon_state_dir_trusted(const char *dir, uid_t uid);

#endif
