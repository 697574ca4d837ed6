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
#include <sys/mman.h>
#include <sys/pidfd.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define STDERR_KEEP 200		/* bytes of a command's stderr kept */
#define OUTPUT_MAX (64 * 1024 * 1024)	/* stdout kept: `iptables -S` of a chain of ~500 000 rules */
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

/* ---- running a command ------------------------------------------------------ */

struct sink {
	char *buf;
	size_t len, cap, max;	/* max: bytes kept; the rest is read and dropped */
	bool overflow;
};

/* Reads what is there; 0 at EOF or on error, 1 while the pipe stays open. */
static int sink_read(int fd, struct sink *s)
{
	char chunk[8192];
	for (;;) {
		ssize_t r = read(fd, chunk, sizeof chunk);
		if (r < 0) {
			if (errno == EINTR)
				continue;
			return errno == EAGAIN || errno == EWOULDBLOCK;
		}
		if (r == 0)
			return 0;
		size_t keep = (size_t)r;
		if (keep > s->max - s->len) {
			keep = s->max - s->len;
			s->overflow = true;
		}
		if (s->len + keep + 1 > s->cap) {
			size_t ncap = s->cap ? s->cap : 4096;
			while (ncap < s->len + keep + 1)
				ncap *= 2;
			char *nb = realloc(s->buf, ncap);
			if (!nb) {
				s->overflow = true;
				continue;
			}
			s->buf = nb;
			s->cap = ncap;
		}
		memcpy(s->buf + s->len, chunk, keep);
		s->len += keep;
		s->buf[s->len] = '\0';
	}
}

/* IN (INLEN bytes) as the command's stdin: a memfd written before the
 * fork, so that no pipe can fill while we wait for it. -1 with msg. */
static int input_fd(const char *in, size_t inlen, char *msg, size_t msglen)
{
	int fd = memfd_create("logknock-apply-input", MFD_CLOEXEC);
	if (fd < 0) {
		snprintf(msg, msglen, "cannot create the command's input: %s", strerror(errno));
		return -1;
	}
	for (size_t off = 0; off < inlen;) {
		ssize_t w = write(fd, in + off, inlen - off);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0) {
			snprintf(msg, msglen, "cannot write the command's input: %s", strerror(errno));
			close(fd);
			return -1;
		}
		off += (size_t)w;
	}
	if (lseek(fd, 0, SEEK_SET) < 0) {
		snprintf(msg, msglen, "cannot write the command's input: %s", strerror(errno));
		close(fd);
		return -1;
	}
	return fd;
}

static int run_full(char *const argv[], const char *in, size_t inlen, int timeout_ms, char **out, char *msg,
		    size_t msglen);

int apply_run_output(char *const argv[], int timeout_ms, char **out, char *msg, size_t msglen)
{
	return run_full(argv, NULL, 0, timeout_ms, out, msg, msglen);
}

int apply_run_input(char *const argv[], const char *in, size_t inlen, int timeout_ms, char *msg, size_t msglen)
{
	return run_full(argv, in, inlen, timeout_ms, NULL, msg, msglen) == 0 ? 0 : -1;
}

static int run_full(char *const argv[], const char *in, size_t inlen, int timeout_ms, char **out, char *msg,
		    size_t msglen)
{
	int outp[2], errp[2];
	if (out)
		*out = NULL;
	int infd = -1;
	if (in && (infd = input_fd(in, inlen, msg, msglen)) < 0)
		return -1;
	if (pipe2(outp, O_CLOEXEC) < 0) {
		snprintf(msg, msglen, "cannot create pipe: %s", strerror(errno));
		if (infd >= 0)
			close(infd);
		return -1;
	}
	if (pipe2(errp, O_CLOEXEC) < 0) {
		snprintf(msg, msglen, "cannot create pipe: %s", strerror(errno));
		close(outp[0]);
		close(outp[1]);
		if (infd >= 0)
			close(infd);
		return -1;
	}
	pid_t pid = fork();
	if (pid < 0) {
		snprintf(msg, msglen, "cannot fork: %s", strerror(errno));
		close(outp[0]);
		close(outp[1]);
		close(errp[0]);
		close(errp[1]);
		if (infd >= 0)
			close(infd);
		return -1;
	}
	if (pid == 0) {
		setpgid(0, 0);
		sigset_t none;
		sigemptyset(&none);
		sigprocmask(SIG_SETMASK, &none, NULL);
		signal(SIGPIPE, SIG_DFL);
		int nul = infd >= 0 ? infd : open("/dev/null", O_RDONLY);
		if (nul < 0 || dup2(nul, STDIN_FILENO) < 0 || dup2(outp[1], STDOUT_FILENO) < 0 ||
		    dup2(errp[1], STDERR_FILENO) < 0)
			_exit(127);
		close_range(3, ~0U, 0);
		execve(argv[0], argv, child_env);
		static const char pre[] = "cannot execute: ";
		const char *es = strerror(errno);
		(void)!write(STDERR_FILENO, pre, sizeof pre - 1);
		(void)!write(STDERR_FILENO, es, strlen(es));
		_exit(127);
	}
	setpgid(pid, pid);
	close(outp[1]);
	close(errp[1]);
	if (infd >= 0)
		close(infd);
	int fds[2] = {outp[0], errp[0]};
	for (int i = 0; i < 2; i++)
		fcntl(fds[i], F_SETFL, fcntl(fds[i], F_GETFL) | O_NONBLOCK);
	int pidfd = pidfd_open(pid, 0);

	struct sink so = {.max = out ? OUTPUT_MAX : 0}, se = {.max = STDERR_KEEP};	/* no OUT: stdout is read and dropped */
	int status = 0, stage = 0;	/* stage: 0 running, 1 SIGTERM sent */
	bool timed_out = false;
	int64_t deadline = now_ms() + timeout_ms;
	for (;;) {
		if (fds[0] < 0 && fds[1] < 0) {
			pid_t w = waitpid(pid, &status, WNOHANG);
			if (w == pid)
				break;
			if (w < 0 && errno != EINTR) {
				status = 0;
				break;
			}
		}
		int64_t left = deadline - now_ms();
		if (left <= 0) {
			timed_out = true;
			if (stage == 0) {
				if (kill(-pid, SIGTERM) < 0)
					kill(pid, SIGTERM);
				stage = 1;
				deadline = now_ms() + KILL_GRACE_MS;
				continue;
			}
			if (kill(-pid, SIGKILL) < 0)
				kill(pid, SIGKILL);
			while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
				;
			break;
		}
		struct pollfd pfd[3];
		int idx[3];
		nfds_t n = 0;
		for (int i = 0; i < 2; i++)
			if (fds[i] >= 0) {
				idx[n] = i;
				pfd[n++] = (struct pollfd){.fd = fds[i], .events = POLLIN};
			}
		/* The pidfd only once the pipes are closed: it stays readable. */
		if (n == 0 && pidfd >= 0) {
			idx[n] = -1;
			pfd[n++] = (struct pollfd){.fd = pidfd, .events = POLLIN};
		}
		int slice = (int)(left > INT_MAX ? INT_MAX : left);
		if (n == 0 && slice > 10)
			slice = 10;
		int r = poll(pfd, n, slice);
		if (r < 0)
			continue;	/* EINTR; the deadline still holds */
		for (nfds_t i = 0; r > 0 && i < n; i++) {
			if (idx[i] < 0 || !pfd[i].revents)
				continue;
			if (!sink_read(fds[idx[i]], idx[i] == 0 ? &so : &se)) {
				close(fds[idx[i]]);
				fds[idx[i]] = -1;
			}
		}
	}
	if (stage == 1)
		kill(-pid, SIGKILL);	/* whatever is left of its group */
	for (int i = 0; i < 2; i++)
		if (fds[i] >= 0) {
			sink_read(fds[i], i == 0 ? &so : &se);
			close(fds[i]);
		}
	if (pidfd >= 0)
		close(pidfd);

	int ret;
	if (timed_out) {
		snprintf(msg, msglen, "command timed out after %d ms", timeout_ms);
		ret = -1;
	} else if (so.overflow && out) {
		snprintf(msg, msglen, "%s: output longer than %d bytes or out of memory", argv[0], OUTPUT_MAX);
		ret = -1;
	} else if (WIFEXITED(status) && WEXITSTATUS(status) == 0) {
		ret = 0;
	} else {
		char *e = se.buf ? se.buf : "";
		char *nl = strchr(e, '\n');
		if (nl)
			*nl = '\0';
		size_t l = strlen(e);
		while (l > 0 && (e[l - 1] == ' ' || e[l - 1] == '\r' || e[l - 1] == '\t'))
			e[--l] = '\0';
		apply_sanitize(e);
		const char *sep = l ? ": " : "";
		if (WIFEXITED(status)) {
			ret = WEXITSTATUS(status);
			snprintf(msg, msglen, "%s exited with status %d%s%s", argv[0], ret, sep, e);
		} else {
			ret = -1;
			snprintf(msg, msglen, "%s killed by signal %d%s%s", argv[0],
				 WIFSIGNALED(status) ? WTERMSIG(status) : 0, sep, e);
		}
	}
	free(se.buf);
	if (ret == 0 && out) {
		*out = so.buf ? so.buf : strdup("");
		if (!*out) {
			snprintf(msg, msglen, "out of memory");
			return -1;
		}
	} else {
		free(so.buf);
	}
	return ret;
}

int apply_run(char *const argv[], int timeout_ms, char *msg, size_t msglen)
{
	return apply_run_output(argv, timeout_ms, NULL, msg, msglen) == 0 ? 0 : -1;
}
