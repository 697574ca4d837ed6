/* apply_run.c — running a firewall command safely: fork and execve with an
 * argument vector (never a shell), a minimal environment, a time limit, the
 * exit status checked and the first line of its stderr kept for the reply. */
#include "apply_backend.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/pidfd.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define STDERR_KEEP 200		/* bytes of a command's stderr kept */
#define KILL_GRACE_MS 1000	/* SIGTERM → SIGKILL */

static char *const child_env[] = {"PATH=/usr/sbin:/usr/bin:/sbin:/bin", NULL};

static int64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Replaces control characters, so that a message stays one protocol line. */
void apply_sanitize(char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s < 0x20 || (unsigned char)*s == 0x7f)
			*s = '?';
}


/* The command line for the log, shell-like quoting only for readability. */
void apply_describe_argv(char *const *argv, char *buf, size_t buflen)
{
	size_t len = 0;
	buf[0] = '\0';
	for (size_t i = 0; argv[i]; i++) {
		const char *a = argv[i];
		bool quote = !*a || strpbrk(a, " \t'\"\\$;&|<>()`*?~") != NULL;
		int n = snprintf(buf + len, buflen - len, "%s%s%s%s", i ? " " : "", quote ? "'" : "", a,
				 quote ? "'" : "");
		if (n < 0 || (size_t)n >= buflen - len) {
			if (buflen >= 4)
				memcpy(buf + buflen - 4, "...", 4);
			break;
		}
		len += (size_t)n;
	}
	apply_sanitize(buf);
}

/* ---- running a command ---------------------------------------------------- */

struct capture {
	char buf[STDERR_KEEP + 1];
	size_t len;
};

/* Reads what is there; returns 0 at EOF or on error, 1 if the pipe stays open. */
static int capture_read(int fd, struct capture *cap)
{
	char chunk[1024];
	for (;;) {
		ssize_t r = read(fd, chunk, sizeof chunk);
		if (r < 0) {
			if (errno == EINTR)
				continue;
			return errno == EAGAIN || errno == EWOULDBLOCK;
		}
		if (r == 0)
			return 0;
		size_t keep = STDERR_KEEP - cap->len;
		if ((size_t)r < keep)
			keep = (size_t)r;
		memcpy(cap->buf + cap->len, chunk, keep);
		cap->len += keep;
		cap->buf[cap->len] = '\0';
	}
}

/* Waits for pid until deadline (ms, monotonic). 1 when reaped, 0 at the
 * deadline. Reads errfd meanwhile while *errfd >= 0. */
static int wait_child(pid_t pid, int pidfd, int *errfd, struct capture *cap, int64_t deadline, int *status)
{
	for (;;) {
		pid_t w = waitpid(pid, status, WNOHANG);
		if (w == pid)
			return 1;
		if (w < 0 && errno != EINTR) {
			*status = 0;
			return 1;	/* cannot happen for our own child */
		}
		int64_t left = deadline - now_ms();
		if (left <= 0)
			return 0;
		struct pollfd pfd[2];
		nfds_t nfd = 0;
		if (*errfd >= 0)
			pfd[nfd++] = (struct pollfd){.fd = *errfd, .events = POLLIN};
		if (pidfd >= 0)
			pfd[nfd++] = (struct pollfd){.fd = pidfd, .events = POLLIN};
		int slice = (int)(left > INT_MAX ? INT_MAX : left);
		if (pidfd < 0 && slice > 10)
			slice = 10;	/* no pidfd: look at the child every 10 ms */
		int r = poll(pfd, nfd, slice);
		if (r < 0 && errno != EINTR)
			return 0;
		if (r > 0 && *errfd >= 0 && pfd[0].revents) {
			if (!capture_read(*errfd, cap)) {
				close(*errfd);
				*errfd = -1;
			}
		}
	}
}

/* Runs argv; 0 on exit status 0, else -1 with msg set. */
int apply_run(char *const argv[], int timeout_ms, char *msg, size_t msglen)
{
	int errp[2];
	if (pipe2(errp, O_CLOEXEC) < 0) {
		snprintf(msg, msglen, "cannot create pipe: %s", strerror(errno));
		return -1;
	}
	pid_t pid = fork();
	if (pid < 0) {
		snprintf(msg, msglen, "cannot fork: %s", strerror(errno));
		close(errp[0]);
		close(errp[1]);
		return -1;
	}
	if (pid == 0) {
		/* Its own process group, so that a timeout kills what it started too. */
		setpgid(0, 0);
		sigset_t none;
		sigemptyset(&none);
		sigprocmask(SIG_SETMASK, &none, NULL);
		signal(SIGPIPE, SIG_DFL);
		int nul = open("/dev/null", O_RDWR);
		if (nul < 0 || dup2(nul, STDIN_FILENO) < 0 || dup2(nul, STDOUT_FILENO) < 0 ||
		    dup2(errp[1], STDERR_FILENO) < 0)
			_exit(127);
		close_range(3, ~0U, 0);
		execve(argv[0], argv, child_env);
		int e = errno;
		static const char pre[] = "cannot execute: ";
		const char *es = strerror(e);
		(void)!write(STDERR_FILENO, pre, sizeof pre - 1);
		(void)!write(STDERR_FILENO, es, strlen(es));
		_exit(127);
	}
	setpgid(pid, pid);	/* also here, against the race; may fail after exec */
	close(errp[1]);
	int errfd = errp[0];
	fcntl(errfd, F_SETFL, fcntl(errfd, F_GETFL) | O_NONBLOCK);
	int pidfd = pidfd_open(pid, 0);

	struct capture cap = {.len = 0};
	cap.buf[0] = '\0';
	int status = 0;
	bool timed_out = false;
	if (!wait_child(pid, pidfd, &errfd, &cap, now_ms() + timeout_ms, &status)) {
		timed_out = true;
		if (kill(-pid, SIGTERM) < 0)
			kill(pid, SIGTERM);
		if (!wait_child(pid, pidfd, &errfd, &cap, now_ms() + KILL_GRACE_MS, &status)) {
			if (kill(-pid, SIGKILL) < 0)
				kill(pid, SIGKILL);
			while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
				;
		}
		kill(-pid, SIGKILL);	/* whatever else is left of its group */
	}
	if (errfd >= 0) {
		capture_read(errfd, &cap);	/* what is left; never blocks */
		close(errfd);
	}
	if (pidfd >= 0)
		close(pidfd);

	if (timed_out) {
		snprintf(msg, msglen, "command timed out after %d ms", timeout_ms);
		return -1;
	}
	if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
		return 0;

	/* First line of stderr, trimmed. */
	char *nl = strchr(cap.buf, '\n');
	if (nl)
		*nl = '\0';
	size_t l = strlen(cap.buf);
	while (l > 0 && (cap.buf[l - 1] == ' ' || cap.buf[l - 1] == '\r' || cap.buf[l - 1] == '\t'))
		cap.buf[--l] = '\0';
	apply_sanitize(cap.buf);
	const char *sep = l ? ": " : "";
	if (WIFEXITED(status))
		snprintf(msg, msglen, "%s exited with status %d%s%s", argv[0], WEXITSTATUS(status), sep, cap.buf);
	else if (WIFSIGNALED(status))
		snprintf(msg, msglen, "%s killed by signal %d%s%s", argv[0], WTERMSIG(status), sep, cap.buf);
	else
		snprintf(msg, msglen, "%s failed%s%s", argv[0], sep, cap.buf);
	return -1;
}

