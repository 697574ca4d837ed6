/* fleet.h — appliers on other hosts (issue 16): one long-lived `ssh`
 * process per appliers: host, its remote end logknock-apply as a forced
 * command, speaking the applier protocol (applier.c does the rest: the
 * process, the pipes, the protocol, restarts with back-off).
 * The fleet knows hosts and links; the engine knows which grant is where. */
#ifndef LOGKNOCK_FLEET_H
#define LOGKNOCK_FLEET_H

#include <stddef.h>
#include <stdint.h>
#include <systemd/sd-event.h>

#include "apply_proto.h"
#include "config.h"

struct fleet;
struct engine;

/* The ssh command line for host H (NULL-terminated, to be freed with
 * fleet_argv_free), SSH the ssh binary (an absolute path). NULL: out of memory. */
char **fleet_ssh_argv(const char *ssh, const struct fleet_host_conf *h);
void fleet_argv_free(char **argv);

/* Starts one ssh per host of CFG->hosts (none: NULL without error, *err
 * 0). Never waits for a link: a host that is down is connected to in the
 * background, with back-off. Each starts with a flush (what a previous
 * run left there). NULL with *err 1: could not start (logged). */
struct fleet *fleet_new(sd_event *ev, const struct config *cfg, int *err);
/* The engine whose grants the links carry: told to send a host's grants
 * again when its link comes back, and of grants a host refused. */
void fleet_set_engine(struct fleet *f, struct engine *e);
/* engine_host_send_fn: one request for HOST. 0 sent; -1 not (the link is
 * down: the grant stays, and is sent when it is up again). */
int fleet_send(void *f, const char *host, const struct apply_cmd *cmd);

size_t fleet_nhosts(const struct fleet *f);
struct fleet_link_info {
	const char *name;
	const char *state;	/* "up", "connecting", "down" */
	long pid;		/* ssh's; 0 when down */
	uint64_t ups;		/* times the link came up */
	uint64_t requests, errors;
	unsigned pending;
	int64_t last_up_us;	/* CLOCK_REALTIME when it last came up; 0 never */
};
void fleet_link_info(const struct fleet *f, size_t i, struct fleet_link_info *out);
/* "web1 up, web2 down" into BUF (truncated). */
void fleet_summary(const struct fleet *f, char *buf, size_t len);

/* Waits for what is pending (the daemon stops), at most TIMEOUT_MS in all. */
void fleet_drain(struct fleet *f, int timeout_ms);
void fleet_free(struct fleet *f);

#endif
