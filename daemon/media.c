/* The media stack: baresip 1.0.0 run as a supervised child with a generated
 * configuration (media-config.c), controlled through its ctrl_tcp module
 * (media-ctrl.c) with the accounts ccpd keeps in it (media-accounts.c).
 * This file is the child's life: start, exit, restart with back-off, stop.
 * A possible takeover of the control connection stops baresip and starts
 * it again on a new port, and the calls it carried end. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/pidfd.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <poll.h>
#include <unistd.h>

#include <re.h>

#include "conf.h"
#include "log.h"
#include "media-int.h"
#include "util.h"

#define START_DEADLINE_MS 10000
#define STOP_GRACE_MS 2000
#define STABLE_MS 30000

static void start_child(struct media *m);

const char *media_state_name(enum media_state st)
{
	switch (st) {
	case MEDIA_STATE_DOWN:     return "down";
	case MEDIA_STATE_STARTING: return "starting";
	case MEDIA_STATE_UP:       return "up";
	}
	return "down";
}

void child_set_state(struct media *m, enum media_state st,
		     const char *reason, bool takeover)
{
	if (m->state == st)
		return;
	m->state = st;
	if (m->h.state)
		m->h.state(st, reason, takeover, m->arg);
}

static void kill_timeout(void *arg)
{
	struct media *m = arg;

	if (m->pid > 0) {
		log_warning("media: baresip (pid %d) did not stop, killing it",
			    (int)m->pid);
		kill(m->pid, SIGKILL);
	}
}

/* Its exit is seen on the pidfd. */
void child_stop(struct media *m, const char *reason, bool takeover)
{
	snprintf(m->down_reason, sizeof(m->down_reason), "%s", reason);
	m->takeover = takeover;
	ctrl_close(m);
	ctrl_fail_pending(m, reason);
	child_set_state(m, MEDIA_STATE_DOWN, reason, takeover);
	if (m->pid > 0 && !m->stopping) {
		m->stopping = true;
		/* after a takeover, every moment baresip lives is a moment
		 * someone else may command it: no grace */
		kill(m->pid, takeover ? SIGKILL : SIGTERM);
		tmr_start(&m->kill_tmr, STOP_GRACE_MS, kill_timeout, m);
	}
}

/* Is the child on its way out? A crash closes the control connection
 * while the kernel tears the process down, a moment before the exit can
 * be seen on the pidfd; the kernel marks the task as exiting (PF_EXITING
 * in /proc/<pid>/stat's flags) before it closes any of its files. */
bool child_exiting(const struct media *m)
{
	char path[64], buf[1024], *p;
	unsigned long flags = 0;
	ssize_t n;
	int fd;

	if (m->pid <= 0)
		return true;
	snprintf(path, sizeof(path), "/proc/%d/stat", (int)m->pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return true;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return true;
	buf[n] = '\0';
	/* state ppid pgrp session tty_nr tpgid flags, after the name */
	p = strrchr(buf, ')');
	if (!p || sscanf(p + 1, " %*c %*d %*d %*d %*d %*d %lu", &flags) != 1)
		return true;
	if (p[2] == 'Z' || p[2] == 'X')
		return true;
	return (flags & 0x4) != 0;      /* PF_EXITING */
}

void child_up(struct media *m)
{
	tmr_cancel(&m->deadline_tmr);
	m->up_since = util_mono_ms();
	log_info("media: baresip (pid %d) is up, control on 127.0.0.1:%u",
		 (int)m->pid, m->port);
	child_set_state(m, MEDIA_STATE_UP, "baresip answers", false);
}

static void schedule_restart(struct media *m);

static void start_deadline(void *arg)
{
	struct media *m = arg;

	log_error("media: baresip did not answer within %u s, restarting it",
		  START_DEADLINE_MS / 1000);
	child_stop(m, "baresip did not start", false);
}

static void child_exited(int flags, void *arg)
{
	struct media *m = arg;
	siginfo_t si = { 0 };

	(void)flags;
	if (waitid(P_PIDFD, (id_t)m->pidfd, &si, WEXITED | WNOHANG) < 0 ||
	    si.si_pid == 0)
		return;
	if (si.si_code == CLD_EXITED)
		snprintf(m->last_exit, sizeof(m->last_exit),
			 "exited with status %d", si.si_status);
	else
		snprintf(m->last_exit, sizeof(m->last_exit),
			 "killed by signal %d (%s)", si.si_status,
			 strsignal(si.si_status));
	fd_close(m->pidfd);
	close(m->pidfd);
	m->pidfd = -1;
	tmr_cancel(&m->kill_tmr);
	tmr_cancel(&m->deadline_tmr);
	tmr_cancel(&m->takeover_tmr);

	if (m->stopping)
		log_info("media: baresip (pid %d) %s", (int)m->pid,
			 m->last_exit);
	else
		log_error("media: baresip (pid %d) %s", (int)m->pid,
			  m->last_exit);
	m->pid = 0;
	accounts_reset(m);
	if (!m->stopping)
		snprintf(m->down_reason, sizeof(m->down_reason),
			 "baresip %s", m->last_exit);
	m->stopping = false;
	ctrl_close(m);
	ctrl_fail_pending(m, "baresip exited");
	child_set_state(m, MEDIA_STATE_DOWN, m->down_reason, m->takeover);
	m->takeover = false;
	if (!m->shutdown)
		schedule_restart(m);
}

static void restart_now(void *arg)
{
	start_child(arg);
}

static void schedule_restart(struct media *m)
{
	uint64_t delay = 500;
	unsigned i;

	/* a child that stayed up a while earns a fresh back-off */
	if (m->up_since && util_mono_ms() - m->up_since > STABLE_MS)
		m->failures = 0;
	m->up_since = 0;
	for (i = 0; i < m->failures && delay < m->conf->restart_max * 1000ULL;
	     i++)
		delay *= 2;
	if (delay > m->conf->restart_max * 1000ULL)
		delay = m->conf->restart_max * 1000ULL;
	m->failures++;
	log_info("media: restarting baresip in %llu ms",
		 (unsigned long long)delay);
	tmr_start(&m->restart_tmr, delay, restart_now, m);
}

extern char **environ;

/* ccpd's environment for baresip, with the guard preloaded first and the
 * port it guards. Made before the fork: the child only execs. */
static char **guard_env(const struct media *m)
{
	const char *pre = getenv("LD_PRELOAD");
	char *preload = NULL, *port = NULL, **env = NULL;
	size_t n = 0, i, j = 0;

	while (environ[n])
		n++;
	if (asprintf(&preload, "LD_PRELOAD=%s%s%s", m->guard,
		     pre && *pre ? ":" : "", pre ? pre : "") < 0) {
		preload = NULL;
		goto fail;
	}
	if (asprintf(&port, "CCPD_CTRLGUARD_PORT=%u", m->port) < 0) {
		port = NULL;
		goto fail;
	}
	env = calloc(n + 3, sizeof(*env));
	if (!env)
		goto fail;
	env[j++] = preload;
	env[j++] = port;
	for (i = 0; i < n; i++)
		if (strncmp(environ[i], "LD_PRELOAD=", 11) != 0 &&
		    strncmp(environ[i], "CCPD_CTRLGUARD_PORT=", 20) != 0)
			env[j++] = environ[i];
	return env;
fail:
	free(preload);
	free(port);
	return NULL;
}

static void free_guard_env(char **env)
{
	if (!env)
		return;
	free(env[0]);
	free(env[1]);
	free(env);
}

static void exec_baresip(const struct media *m, pid_t parent, char **env)
{
	int null = open("/dev/null", O_RDWR);
	bool verbose = strcmp(m->conf->log_level, "debug") == 0;
	sigset_t none;

	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	/* baresip must not outlive ccpd, even a ccpd killed with SIGKILL: it
	 * would hold the SIP port and the calls with nobody in control */
	prctl(PR_SET_PDEATHSIG, SIGTERM);
	if (getppid() != parent)
		_exit(0);
	if (null >= 0) {
		dup2(null, STDIN_FILENO);
		/* baresip is chatty on stdout; keep it only when debugging */
		if (!verbose)
			dup2(null, STDOUT_FILENO);
	}
	if (!verbose && null >= 0)
		dup2(null, STDERR_FILENO);
	execle(m->conf->baresip, "baresip", "-f", m->dir, (char *)NULL, env);
	_exit(127);
}

static void start_child(struct media *m)
{
	int r, err;
	pid_t pid, parent;
	char **env;

	if (m->shutdown || m->pid > 0)
		return;
	child_set_state(m, MEDIA_STATE_STARTING, "starting baresip", false);
	if (config_find_guard(m) < 0) {
		log_error("media: %s is neither beside ccpd nor in %s: "
			  "baresip's control port would be open to every "
			  "local user, not starting it", GUARD_NAME,
			  CCPD_GUARD_DIR);
		snprintf(m->down_reason, sizeof(m->down_reason),
			 "%s is missing", GUARD_NAME);
		child_set_state(m, MEDIA_STATE_DOWN, m->down_reason, false);
		schedule_restart(m);
		return;
	}
	r = config_pick_port(&m->port);
	if (r == 0)
		r = config_write(m);
	if (r < 0) {
		log_error("media: cannot prepare baresip's configuration in "
			  "%s: %s", m->dir, strerror(-r));
		snprintf(m->down_reason, sizeof(m->down_reason),
			 "configuration failed: %s", strerror(-r));
		child_set_state(m, MEDIA_STATE_DOWN, m->down_reason, false);
		schedule_restart(m);
		return;
	}
	env = guard_env(m);
	if (!env) {
		log_error("media: no memory for baresip's environment");
		child_set_state(m, MEDIA_STATE_DOWN, "out of memory", false);
		schedule_restart(m);
		return;
	}
	parent = getpid();
	pid = fork();
	if (pid == 0)
		exec_baresip(m, parent, env);
	free_guard_env(env);
	if (pid < 0) {
		log_error("media: fork failed: %s", strerror(errno));
		child_set_state(m, MEDIA_STATE_DOWN, "fork failed", false);
		schedule_restart(m);
		return;
	}
	config_nat_lookup(m);
	m->pid = pid;
	m->pidfd = pidfd_open(pid, 0);
	if (m->pidfd < 0) {
		log_error("media: pidfd_open failed: %s", strerror(errno));
		kill(pid, SIGKILL);
		waitpid(pid, NULL, 0);
		m->pid = 0;
		child_set_state(m, MEDIA_STATE_DOWN, "pidfd_open failed", false);
		schedule_restart(m);
		return;
	}
	err = fd_listen(m->pidfd, FD_READ, child_exited, m);
	if (err)
		log_error("media: cannot watch baresip: %s", strerror(err));
	if (m->restarts || m->failures)
		m->restarts++;
	log_info("media: started baresip (pid %d), control port %u",
		 (int)pid, m->port);
	tmr_start(&m->deadline_tmr, START_DEADLINE_MS, start_deadline, m);
	ctrl_start(m);
}

int media_new(struct media **ret, const struct conf *conf,
	      const struct media_handlers *h, void *arg)
{
	struct media *m = calloc(1, sizeof(*m));
	int r;

	if (!m)
		return -ENOMEM;
	m->conf = conf;
	m->h = *h;
	m->arg = arg;
	m->fd = -1;
	m->pidfd = -1;
	m->state = MEDIA_STATE_DOWN;
	tmr_init(&m->connect_tmr);
	tmr_init(&m->deadline_tmr);
	tmr_init(&m->nat_tmr);
	tmr_init(&m->restart_tmr);
	tmr_init(&m->kill_tmr);
	tmr_init(&m->resp_tmr);
	tmr_init(&m->reset_tmr);
	tmr_init(&m->takeover_tmr);
	snprintf(m->dir, sizeof(m->dir), "%s/baresip", conf->runtime_dir);
	r = util_mkdir_p(m->dir, 0700);
	if (r < 0) {
		log_error("media: cannot create %s: %s", m->dir, strerror(-r));
		free(m);
		return r;
	}
	accounts_init(m);
	*ret = m;
	return 0;
}

int media_start(struct media *m)
{
	start_child(m);
	return 0;
}

/* Wait for the child synchronously: at exit there is no loop to wait on. */
static void reap(struct media *m, int ms)
{
	struct pollfd pfd = { .fd = m->pidfd, .events = POLLIN };

	if (m->pidfd < 0)
		return;
	if (poll(&pfd, 1, ms) == 1) {
		siginfo_t si;

		waitid(P_PIDFD, (id_t)m->pidfd, &si, WEXITED);
		m->pid = 0;
	}
}

void media_shutdown(struct media *m)
{
	if (!m)
		return;
	m->shutdown = true;
	tmr_cancel(&m->restart_tmr);
	tmr_cancel(&m->takeover_tmr);
	ctrl_close(m);
	ctrl_fail_pending(m, "shutting down");
	if (m->pid > 0) {
		kill(m->pid, SIGTERM);
		reap(m, STOP_GRACE_MS);
		if (m->pid > 0) {
			kill(m->pid, SIGKILL);
			reap(m, STOP_GRACE_MS);
		}
	}
	if (m->pidfd >= 0) {
		fd_close(m->pidfd);
		close(m->pidfd);
		m->pidfd = -1;
	}
}

struct media *media_free(struct media *m)
{
	if (!m)
		return NULL;
	media_shutdown(m);
	tmr_cancel(&m->connect_tmr);
	tmr_cancel(&m->deadline_tmr);
	tmr_cancel(&m->restart_tmr);
	tmr_cancel(&m->kill_tmr);
	tmr_cancel(&m->resp_tmr);
	tmr_cancel(&m->reset_tmr);
	tmr_cancel(&m->takeover_tmr);
	config_nat_stop(m);
	accounts_reset(m);
	accounts_free_user(m);
	free(m);
	return NULL;
}

enum media_state media_get_state(const struct media *m)
{
	return m->state;
}

pid_t media_pid(const struct media *m)
{
	return m->pid;
}

unsigned media_restarts(const struct media *m)
{
	return m->restarts;
}

const char *media_last_exit(const struct media *m)
{
	return m->last_exit;
}

unsigned media_ctrl_port(const struct media *m)
{
	return m->port;
}


