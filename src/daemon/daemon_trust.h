/* daemon_trust.h — daemon_trust.c's checks, for daemon.c (internal to the
 * two). Each says why on failure. */
#ifndef LOGKNOCK_DAEMON_TRUST_H
#define LOGKNOCK_DAEMON_TRUST_H

#include <pwd.h>
#include <sys/types.h>

#include "config.h"

/* The state directory's lock file, held for the daemon's life. */
#define STATE_LOCK "lock"

/* Their short names, as when they were daemon.c's statics. */
#define drop_privileges(...) daemon_drop_privileges(__VA_ARGS__)
#define prepare_state_dir(...) daemon_prepare_state_dir(__VA_ARGS__)
#define sources_trusted(...) daemon_sources_trusted(__VA_ARGS__)
#define state_dir_trusted(...) daemon_state_dir_trusted(__VA_ARGS__)

int drop_privileges(const struct config *cfg);
int prepare_state_dir(const char *dir, const char *user, int *lock_fd, int *unclean);
int sources_trusted(const struct config *cfg, const char *what);
int state_dir_trusted(const char *dir, uid_t uid);

#endif
