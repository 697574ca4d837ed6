/* control.h — the control socket (doc/logknockd.8, "CONTROL SOCKET"): a
 * Unix stream socket in the daemon's sd-event loop that `logknockctl`
 * talks to. One request line per connection (control_proto.h), one reply,
 * then the daemon closes it; `watch` streams decisions until the client
 * goes. Access is decided per connection from the peer's credentials
 * (SO_PEERCRED, SO_PEERGROUPS). Every socket is nonblocking and every
 * buffer bounded: a client that stalls or floods costs the knock path
 * nothing but a bounded copy. */
#ifndef LOGKNOCK_CONTROL_H
#define LOGKNOCK_CONTROL_H

#include <stddef.h>
#include <stdint.h>
#include <systemd/sd-event.h>

#include "config.h"
#include "metrics.h"

#define CONTROL_MAX_CONNS 32
#define CONTROL_MAX_STRANGERS 8	/* of them, peers that may do nothing (they only learn "denied") */
#define CONTROL_OUT_MAX (256 * 1024)	/* pending output per connection */
#define CONTROL_REQUEST_US (5 * 1000000ULL)	/* the request line must come within this */
#define CONTROL_REPLY_US (60 * 1000000ULL)	/* a reply not read by then is dropped */

struct engine;

/* What the server needs of the daemon. */
struct control_host {
	void *ctx;
	struct engine *engine;
	/* status and metrics */
	metrics_snapshot_fn snapshot;
	/* SIGHUP's reload: 0, or -1 with ERR (the running configuration kept) */
	int (*reload)(void *ctx, char *err, size_t errlen);
	/* the grants table changed by hand: on disk now */
	void (*grants_save)(void *ctx);
};

/* Binds PATH (a stale socket there is removed; any other kind of file is
 * refused), mode 0666. NULL after logging why. */
struct control *control_new(sd_event *ev, const char *path, const struct control_host *host);
/* The groups of CC (control.group, control.read_group); again after a reload. */
void control_set_access(struct control *c, const struct control_conf *cc);
/* Watch clients cut off because their buffer was full. */
uint64_t control_dropped(const struct control *c);
/* Closes every connection and removes the socket. */
void control_free(struct control *c);

#endif
