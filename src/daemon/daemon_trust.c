/* daemon_trust.c — what the daemon checks and gives up before it reads a
 * line an attacker shaped: its privileges (drop_privileges), who else can
 * write into its sources (sources_trusted: other network namespaces' kernel
 * log, other users' files) and whether its state directory is its own
 * (prepare_state_dir, state_dir_trusted). daemon.c calls these at start and
 * on reload. */
#include "daemon.h"
#include "daemon_trust.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <linux/capability.h>
#include <netinet/in.h>
#include <pwd.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <systemd/sd-daemon.h>
#include <systemd/sd-event.h>
#include <time.h>
#include <unistd.h>
#include "apply_conf.h"
#include "applier.h"
#include "fleet.h"
#include "control.h"
#include "engine.h"
#include "knock.h"
#include "log.h"
#include "metrics.h"
#include "onetime.h"
#include "perm.h"
#include "source.h"
#include "state.h"

/* ---- privileges --------------------------------------------------------------------- */

/* The process that reads attacker-shaped log lines keeps no privilege: once
 * the applier runs (it keeps what it needs) and the sources are open, a
 * daemon started as root becomes the configured user, and every capability
 * (effective, permitted, inheritable, ambient) is dropped — also the
 * CAP_NET_ADMIN a systemd unit grants as an ambient capability, which the
 * applier inherited. */
int daemon_drop_privileges(const struct config *cfg)
{
	if (geteuid() == 0 && cfg->user) {
		struct passwd *pw = getpwnam(cfg->user);
		if (!pw) {
			log_err("user %s: no such user", cfg->user);
			return -1;
		}
		if (pw->pw_uid == 0) {
			log_err("user %s: is root; name an unprivileged user", cfg->user);
			return -1;
		}
		if (initgroups(pw->pw_name, pw->pw_gid) < 0 || setgid(pw->pw_gid) < 0 || setuid(pw->pw_uid) < 0) {
			log_err("cannot become user %s: %s", cfg->user, strerror(errno));
			return -1;
		}
	} else if (geteuid() == 0) {
		log_warn("running as root: set 'user:' so that the process reading logs is not root");
	}
	prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0);
	struct __user_cap_header_struct h = {.version = _LINUX_CAPABILITY_VERSION_3};
	struct __user_cap_data_struct none[2] = {{0}};
	if (syscall(SYS_capset, &h, none) < 0) {
		log_err("cannot drop capabilities: %s", strerror(errno));
		return -1;
	}
	/* A restarted applier started through sudo needs new privileges. */
	if (!cfg->applier.command_argv)
		prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0);
	log_info("reading logs as uid %u with no capabilities", (unsigned)getuid());
	return 0;
}

/* ---- who else writes into the sources ------------------------------------------------- */

#define NF_LOG_ALL_NETNS "/proc/sys/net/netfilter/nf_log_all_netns"

/* net.netfilter.nf_log_all_netns: 0 or 1 (any other number is 1, as for
 * the kernel), or -1 with errno when it cannot be read: it is shown in the
 * initial network namespace only (ENOENT in any other). */
static int nf_log_all_netns(void)
{
	int fd = open(NF_LOG_ALL_NETNS, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (fd < 0)
		return -1;
	char buf[32];
	ssize_t n = read(fd, buf, sizeof buf - 1);
	int e = errno;
	close(fd);
	if (n <= 0) {
		errno = n < 0 ? e : EINVAL;
		return -1;
	}
	buf[n] = '\0';
	char *end;
	errno = 0;
	long v = strtol(buf, &end, 10);
	if (end == buf || errno || (*end != '\n' && *end != '\0')) {
		errno = EINVAL;
		return -1;
	}
	return v != 0;
}

static const char *source_name(const struct source_conf *s, char *buf, size_t len)
{
	switch (s->kind) {
	case SOURCE_KMSG: return "kmsg";
	case SOURCE_JOURNAL: return "journal: kernel";
	case SOURCE_FILE: break;
	}
	snprintf(buf, len, "file: %s", s->arg);
	return buf;
}

/* Whether only the firewall can write knock lines into the sources of CFG
 * (issue 11): with net.netfilter.nf_log_all_netns at 1 the kernel logs the
 * packets of every network namespace, and any local user can make one of
 * their own (unshare -Urn) with a log rule and send packets from any source
 * address: no field of the line tells which namespace logged it. A source
 * that reads the kernel's log is refused then, unless the configuration
 * accepts that (a warning each time). A syslog file not stated kernel_only
 * may hold what any user sent to /dev/log: warned. WHAT begins each message
 * ("" or "reload: "). 0, or -1 after saying why. */
int daemon_sources_trusted(const struct config *cfg, const char *what)
{
	const struct source_conf *kern = NULL;
	char name[PATH_MAX + 8];
	if (!cfg->sources)
		return 0;	/* none: nothing is read */
	for (size_t i = 0; i < cfg->nsources; i++) {
		const struct source_conf *s = &cfg->sources[i];
		if (config_source_forgeable(s))
			log_warn("%s%s:%d:%d: %s: a syslog file not stated kernel_only: any local user can send "
				 "\"<4>kernel: KNOCK IN=... SRC=...\" to /dev/log and rsyslog files it under kern (as "
				 "Debian's /var/log/kern.log), a knock from any address. Write the file from the "
				 "kernel's log only (imkmsg, contrib/rsyslog-logknock.conf) and say so with "
				 "'kernel_only: true', or read 'kmsg: true' or 'journal: kernel'",
				 what, cfg->path, s->line, s->col, s->kind == SOURCE_FILE && strcmp(s->arg, "-") == 0 ?
				 "file: - (standard input)" : source_name(s, name, sizeof name));
		if (s->forwarded && !s->kernel_only && s->kind == SOURCE_FILE)
			log_warn("%s%s:%d:%d: %s: forwarded lines: the collector cannot tell a line the sending "
				 "host's kernel wrote from one any user there sent to its /dev/log, nor is the "
				 "HOSTNAME field proof of the sender. Forward only the kernel's log (imklog/imkmsg "
				 "with a rule of its own), over RELP with TLS or a private network, and say so with "
				 "'kernel_only: true'", what, cfg->path, s->line, s->col,
				 source_name(s, name, sizeof name));
		if (!kern && config_source_reads_kernel_log(s))
			kern = s;
	}
	if (!kern)
		return 0;
	int v = nf_log_all_netns();
	if (v == 0)
		return 0;
	const char *src = source_name(kern, name, sizeof name);
	if (v > 0 && cfg->accept_nf_log_all_netns) {
		log_warn("%snet.netfilter.nf_log_all_netns is 1 and %s reads the kernel's log: any local user can "
			 "log knock lines with any source address from a network namespace of their own "
			 "(unshare -Urn), and they open doors like real ones; accepted by "
			 "'accept_nf_log_all_netns: true' in %s", what, src, cfg->path);
		return 0;
	}
	if (v < 0 && cfg->accept_nf_log_all_netns) {
		log_warn("%scannot read %s (%s; it exists in the initial network namespace only): if the host sets "
			 "it to 1, any local user can log knock lines with any source address from a network "
			 "namespace of their own, and %s reads them; accepted by 'accept_nf_log_all_netns: true' in %s",
			 what, NF_LOG_ALL_NETNS, strerror(errno), src, cfg->path);
		return 0;
	}
	if (v > 0)
		log_err("%s%s:%d:%d: %s reads the kernel's log, and net.netfilter.nf_log_all_netns is 1: the kernel "
			"logs the packets of every network namespace, and any local user can make one of their own "
			"(unshare -Urn), add a log rule with the knock prefix and send packets from any source "
			"address: knocks that open doors. Refused. Set the sysctl to 0 (sysctl -w "
			"net.netfilter.nf_log_all_netns=0, and in /etc/sysctl.d), or log knocks with NFLOG through "
			"ulogd2 (per namespace; a 'format: ulogd' file source), or accept the risk with "
			"'accept_nf_log_all_netns: true'", what, cfg->path, kern->line, kern->col, src);
	else
		log_err("%s%s:%d:%d: %s reads the kernel's log, and %s cannot be read (%s): it exists in the "
			"initial network namespace only. In another one the kernel's log holds this namespace's "
			"packets only when the host sets it to 1, and then any local user's namespace (unshare -Urn) "
			"can log knocks from any source address too. Refused. Run logknockd in the host's network "
			"namespace, or log knocks with NFLOG through ulogd2 (a 'format: ulogd' file source), or "
			"accept the risk with 'accept_nf_log_all_netns: true'", what, cfg->path, kern->line,
			kern->col, src, NF_LOG_ALL_NETNS, strerror(errno));
	return -1;
}

/* ---- the state directory ---------------------------------------------------------- */

/* The state directory says which grants are opened again at start, where
 * each source resumes and which codes are spent: whoever may change it can
 * open doors or make knocks go unseen. Nobody but root and the daemon's
 * user may change it, nor any directory above it (as for followed files,
 * src/common/perm.c), and nothing in it may belong to another user. 0, or -1
 * after saying why. */
int daemon_state_dir_trusted(const char *dir, uid_t uid)
{
	struct perm_report r;
	int rc = perm_others_may_write(dir, 1, 1, uid, &r);
	if (rc < 0) {
		log_err("state directory %s: %s", dir, strerror(errno));
		return -1;
	}
	if (rc == 1) {
		log_err("state directory %s: %s can be changed by %s (mode %04o, owner %u): they could plant "
			"grants and positions that open doors or hide knocks; refusing it. Make it owned by the "
			"daemon's user (uid %u) with mode 0700, under directories only root may change",
			dir, r.path, r.who, r.mode, r.uid, (unsigned)uid);
		return -1;
	}
	DIR *dp = opendir(dir);
	if (!dp) {
		log_err("state directory %s: %s", dir, strerror(errno));
		return -1;
	}
	struct dirent *de;
	struct stat st;
	rc = 0;
	while (rc == 0 && (de = readdir(dp))) {
		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		if (fstatat(dirfd(dp), de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0 || (st.st_uid != uid && st.st_uid != 0)) {
			log_err("state directory %s: %s is owned by uid %u, neither root nor the daemon's user (uid %u): "
				"someone else put it there; refusing the directory. Look at it, then remove it",
				dir, de->d_name, (unsigned)st.st_uid, (unsigned)uid);
			rc = -1;
		}
	}
	closedir(dp);
	return rc;
}

/* One daemon per state directory: two would resume the same positions,
 * restore (and flush) the same grants. The lock is held until the daemon
 * exits (the descriptor survives the privilege drop; the applier does not
 * inherit it) and the file holds the holder's pid. The descriptor, or -1
 * after saying why. */
static int state_dir_lock(const char *dir, const struct passwd *pw, int *unclean)
{
	char path[PATH_MAX];
	if ((size_t)snprintf(path, sizeof path, "%s/" STATE_LOCK, dir) >= sizeof path) {
		log_err("state directory %s: path too long", dir);
		return -1;
	}
	int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW | O_NOCTTY, 0600);
	if (fd < 0) {
		log_err("state directory %s: cannot open its lock %s: %s", dir, path, strerror(errno));
		return -1;
	}
	if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
		int e = errno;
		char buf[24] = "";
		ssize_t n = e == EWOULDBLOCK ? pread(fd, buf, sizeof buf - 1, 0) : -1;
		long pid = 0;
		if (n > 0) {
			buf[n] = '\0';
			char *end;
			pid = strtol(buf, &end, 10);
			if (end == buf || *end != '\n' || pid <= 0)
				pid = 0;
		}
		if (e != EWOULDBLOCK)
			log_err("state directory %s: cannot lock %s: %s", dir, path, strerror(e));
		else if (pid)
			log_err("state directory %s is in use by another logknockd (pid %ld, holding %s): one daemon "
				"per state directory; stop that one, or give this one its own --state-dir",
				dir, pid, path);
		else
			log_err("state directory %s is in use by another logknockd (holding %s, pid not known): one "
				"daemon per state directory; stop that one, or give this one its own --state-dir",
				dir, path);
		close(fd);
		return -1;
	}
	/* A pid left in it: that daemon did not stop (kill -9, a crash). */
	char old[24];
	*unclean = pread(fd, old, sizeof old - 1, 0) > 0;
	char buf[24];
	int n = snprintf(buf, sizeof buf, "%ld\n", (long)getpid());
	if ((pw && fchown(fd, pw->pw_uid, pw->pw_gid) < 0) || ftruncate(fd, 0) < 0 || pwrite(fd, buf, (size_t)n, 0) != n)
		log_warn("state directory %s: cannot write our pid into %s: %s", dir, path, strerror(errno));
	return fd;
}

/* Creates, checks and locks the state directory. 1: use it (*lock_fd
 * holds the lock); 0: keep no state (it cannot be created or written:
 * said); -1: refused, others may change it; -2: cannot lock it, another
 * daemon uses it (both said). */
int daemon_prepare_state_dir(const char *dir, const char *user, int *lock_fd, int *unclean)
{
	*lock_fd = -1;
	if (!dir)
		return 0;
	/* Missing parents (a /usr/local build's /usr/local/var/lib) are made
	 * 0755, owned by whoever starts the daemon; the trust check below
	 * then judges the whole chain. */
	char parent[PATH_MAX];
	size_t dl = strlen(dir);
	if (dir[0] == '/' && dl < sizeof parent) {
		memcpy(parent, dir, dl + 1);
		for (char *s = parent + 1; (s = strchr(s, '/')) && s[1]; s++) {
			*s = '\0';
			if (mkdir(parent, 0755) < 0 && errno != EEXIST)
				break;	/* the mkdir of dir below says why */
			*s = '/';
		}
	}
	if (mkdir(dir, 0700) < 0 && errno != EEXIST) {
		log_warn("state directory %s: %s: positions will not be kept across restarts", dir, strerror(errno));
		return 0;
	}
	/* Started as root, the daemon writes its state as the user it becomes. */
	struct passwd *pw = user && geteuid() == 0 ? getpwnam(user) : NULL;
	if (daemon_state_dir_trusted(dir, pw ? pw->pw_uid : geteuid()) < 0)
		return -1;
	if (pw && chown(dir, pw->pw_uid, pw->pw_gid) < 0)
		log_warn("state directory %s: chown: %s", dir, strerror(errno));
	if (!pw && access(dir, W_OK) < 0) {
		log_warn("state directory %s is not writable: positions will not be kept across restarts", dir);
		return 0;
	}
	return (*lock_fd = state_dir_lock(dir, pw, unclean)) < 0 ? -2 : 1;
}
