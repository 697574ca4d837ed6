/* daemon.h — the live daemon (everything but --replay and --check-config). */
#ifndef LOGKNOCK_DAEMON_H
#define LOGKNOCK_DAEMON_H

#include "config.h"

struct daemon_opts {
	const char *config;		/* path, for reloads */
	const char *state_dir;		/* --state-dir, or NULL: the configuration's */
	const char *applier_path;	/* logknock-apply */
	const char *control;		/* --control: the control socket ("" none); NULL: the configuration's */
};

/* Runs until SIGTERM or SIGINT. Takes CFG over (and frees it).
 * Returns the exit status: 0, 1 runtime failure, 2 configuration error. */
int daemon_run(struct config *cfg, const struct daemon_opts *o);

/* The applier's command line for CFG (REPLAY: the log backend, started
 * directly), with the doors' open: ports as --guard. One allocation: free()
 * it; its strings point into CFG. NULL when out of memory. */
char **daemon_applier_argv(const struct config *cfg, const char *path, int replay);

/* With applier.config, readable: warns of each door's port that file does
 * not guard (the applier would refuse its grants). */
void daemon_check_applier_conf(const struct config *cfg);

#endif
