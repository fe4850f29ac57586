/* The Unix-socket transport: lines in, lines out, with bounded buffers in
 * both directions so that no client can make the daemon grow or wait. */
#include <errno.h>
#include <grp.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <re.h>

#include "ccpd-protocol.h"
#include "conf.h"
#include "ipc.h"
#include "log.h"
#include "rpc.h"
#include "util.h"

/* A client that lets this much pile up unread is dropped. */
#define MAX_QUEUED (4 * 1024 * 1024)

struct client {
	struct client *prev, *next;
	struct ipc *ipc;
	int fd;
	struct ucred cred;
	struct rpc_peer *peer;
	char in[CCPD_MAX_MESSAGE];
	size_t in_len;
	bool discarding;        /* inside an over-long line */
	char *out;
	size_t out_len, out_cap;
	bool dead;
	int listening;          /* the fd_listen flags now in force */
	bool trusted;           /* root or ccpd's user: not counted */
};

struct ipc {
	const struct conf *conf;
	struct rpc *rpc;
	int fd;
	bool own_path;          /* we created the socket file */
	struct client *clients;
	unsigned n_clients;
	unsigned n_trusted;     /* of n_clients */
	struct tmr reap_tmr;
	struct log_limit refusals;
};

static int client_send(void *t, const char *msg, size_t len);

static void client_drop(void *t, const char *why);
static const struct rpc_transport transport = {
	.send = client_send,
	.drop = client_drop,
};

static void client_free(struct client *c)
{
	struct ipc *ipc = c->ipc;

	if (c->prev)
		c->prev->next = c->next;
	else
		ipc->clients = c->next;
	if (c->next)
		c->next->prev = c->prev;
	ipc->n_clients--;
	if (c->trusted)
		ipc->n_trusted--;
	rpc_peer_free(c->peer);
	fd_close(c->fd);
	close(c->fd);
	free(c->out);
	free(c);
}

static void reap(void *arg)
{
	struct ipc *ipc = arg;
	struct client *c = ipc->clients, *next;

	for (; c; c = next) {
		next = c->next;
		if (c->dead)
			client_free(c);
	}
}

/* Never free a client from inside a callback that may be iterating. */
static void client_kill(struct client *c, const char *why)
{
	if (c->dead)
		return;
	log_debug("ipc: dropping client pid %d: %s", (int)c->cred.pid, why);
	c->dead = true;
	fd_close(c->fd);
	tmr_start(&c->ipc->reap_tmr, 0, reap, c->ipc);
}

static void client_drop(void *t, const char *why)
{
	client_kill(t, why);
}

static void client_fd(int flags, void *arg);

/* epoll_ctl only when the interest changes: most answers leave in one
 * send and never need FD_WRITE. */
static void update_listen(struct client *c)
{
	int flags = FD_READ | (c->out_len ? FD_WRITE : 0);
	int err;

	if (flags == c->listening)
		return;
	err = fd_listen(c->fd, flags, client_fd, c);
	if (err) {
		client_kill(c, "fd_listen failed");
		return;
	}
	c->listening = flags;
}

static void flush(struct client *c)
{
	size_t done = 0;

	while (done < c->out_len) {
		ssize_t n = send(c->fd, c->out + done, c->out_len - done,
				 MSG_NOSIGNAL);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN)
			break;
		if (n < 0) {
			client_kill(c, strerror(errno));
			return;
		}
		done += (size_t)n;
	}
	memmove(c->out, c->out + done, c->out_len - done);
	c->out_len -= done;
	update_listen(c);
}

static int client_send(void *t, const char *msg, size_t len)
{
	struct client *c = t;
	bool was_empty = c->out_len == 0;

	if (c->dead)
		return -EPIPE;
	if (c->out_len + len + 1 > MAX_QUEUED) {
		client_kill(c, "too slow: output queue full");
		return -ENOBUFS;
	}
	if (c->out_len + len + 1 > c->out_cap) {
		size_t cap = c->out_cap ? c->out_cap : 8192;
		char *p;

		while (cap < c->out_len + len + 1)
			cap *= 2;
		p = realloc(c->out, cap);
		if (!p) {
			client_kill(c, "out of memory");
			return -ENOMEM;
		}
		c->out = p;
		c->out_cap = cap;
	}
	memcpy(c->out + c->out_len, msg, len);
	c->out[c->out_len + len] = '\n';
	c->out_len += len + 1;
	if (was_empty)
		flush(c);
	return 0;
}

static void handle_lines(struct client *c)
{
	size_t start = 0, i;

	for (i = 0; i < c->in_len && !c->dead; i++) {
		if (c->in[i] != '\n')
			continue;
		if (c->discarding) {
			c->discarding = false;
		} else if (i > start) {
			size_t end = i;

			if (c->in[end - 1] == '\r')
				end--;
			if (end > start)
				rpc_peer_input(c->peer, c->in + start,
					       end - start);
		}
		start = i + 1;
	}
	memmove(c->in, c->in + start, c->in_len - start);
	c->in_len -= start;
	if (c->in_len == sizeof(c->in)) {
		/* the line cannot fit: answer once, then skip to its end */
		if (!c->discarding)
			rpc_peer_reject(c->peer, -32600,
					"message exceeds 65536 bytes");
		c->discarding = true;
		c->in_len = 0;
	}
}

static void client_fd(int flags, void *arg)
{
	struct client *c = arg;
	ssize_t n;

	if (c->dead)
		return;
	if (flags & FD_WRITE)
		flush(c);
	if (c->dead || !(flags & (FD_READ | FD_EXCEPT)))
		return;
	n = recv(c->fd, c->in + c->in_len, sizeof(c->in) - c->in_len, 0);
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n <= 0) {
		client_kill(c, n == 0 ? "closed" : strerror(errno));
		return;
	}
	c->in_len += (size_t)n;
	handle_lines(c);
}

/* Root and ccpd's own user have max_clients slots of their own, so that
 * other users who fill theirs never lock an administrator out. */
static bool refuse(struct ipc *ipc, int fd, bool trusted)
{
	static const char full[] =
		"{\"jsonrpc\":\"2.0\",\"id\":null,\"error\":{\"code\":"
		"-32603,\"message\":\"Internal error\",\"data\":{"
		"\"reason\":\"too many clients\"}}}\n";
	unsigned taken = trusted ? ipc->n_trusted :
		ipc->n_clients - ipc->n_trusted;
	char note[64];

	if (taken < ipc->conf->max_clients)
		return false;
	/* strangers can repeat this at will: not a line each time */
	if (log_limit_pass(&ipc->refusals, util_now_ms(), note, sizeof(note)))
		log_warning("ipc: refusing a client: %u clients already%s",
			    ipc->n_clients, note);
	(void)!send(fd, full, sizeof(full) - 1, MSG_NOSIGNAL);
	close(fd);
	return true;
}

static void accept_fd(int flags, void *arg)
{
	struct ipc *ipc = arg;
	socklen_t len = sizeof(struct ucred);
	struct rpc_peer_info info = { .uid = (unsigned)-1 };
	struct ucred cred = { .pid = 0 };
	struct client *c;
	int fd;

	(void)flags;
	fd = accept4(ipc->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
	if (fd < 0)
		return;
	/* the credentials of the process that connected, taken by the
	 * kernel at connect(2): root and ccpd's own user are administrators
	 * without logging in; anyone else must log in */
	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) == 0) {
		info.uid = cred.uid;
		info.trusted = cred.uid == 0 || cred.uid == geteuid();
		snprintf(info.name, sizeof(info.name), "uid:%u",
			 (unsigned)cred.uid);
	} else {
		snprintf(info.name, sizeof(info.name), "uid:?");
	}
	if (refuse(ipc, fd, info.trusted))
		return;
	c = calloc(1, sizeof(*c));
	if (!c) {
		close(fd);
		return;
	}
	c->ipc = ipc;
	c->fd = fd;
	c->cred = cred;
	c->trusted = info.trusted;
	if (rpc_peer_new(&c->peer, ipc->rpc, &transport, c, &info) < 0) {
		close(fd);
		free(c);
		return;
	}
	c->next = ipc->clients;
	if (ipc->clients)
		ipc->clients->prev = c;
	ipc->clients = c;
	ipc->n_clients++;
	if (c->trusted)
		ipc->n_trusted++;
	update_listen(c);
	log_debug("ipc: client pid %d uid %d connected", (int)c->cred.pid,
		  (int)c->cred.uid);
}

/* A socket file left by a daemon that died is removed; one that still
 * answers belongs to a running ccpd and is left alone. */
static int clear_stale(const char *path)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	struct stat st;
	int fd, r;

	if (lstat(path, &st) < 0)
		return errno == ENOENT ? 0 : -errno;
	if (!S_ISSOCK(st.st_mode))
		return -EEXIST;
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	snprintf(sun.sun_path, sizeof(sun.sun_path), "%s", path);
	r = connect(fd, (struct sockaddr *)&sun, sizeof(sun));
	close(fd);
	if (r == 0)
		return -EADDRINUSE;
	return unlink(path) < 0 ? -errno : 0;
}

static int make_socket(struct ipc *ipc)
{
	const struct conf *conf = ipc->conf;
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	char dir[sizeof(sun.sun_path)], *slash;
	mode_t old_mask;
	int fd, r;

	if (strlen(conf->socket) >= sizeof(sun.sun_path))
		return -ENAMETOOLONG;
	snprintf(dir, sizeof(dir), "%s", conf->socket);
	slash = strrchr(dir, '/');
	if (slash && slash != dir) {
		*slash = '\0';
		r = util_mkdir_p(dir, 0755);
		if (r < 0)
			return r;
	}
	r = clear_stale(conf->socket);
	if (r < 0)
		return r;
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	snprintf(sun.sun_path, sizeof(sun.sun_path), "%s", conf->socket);
	/* the file is born with socket_mode: a chmod after bind would
	 * leave a moment in which anyone may connect */
	old_mask = umask(~conf->socket_mode & 0777);
	r = bind(fd, (struct sockaddr *)&sun, sizeof(sun));
	umask(old_mask);
	if (r < 0)
		goto fail;
	ipc->own_path = true;
	if (chmod(conf->socket, conf->socket_mode) < 0)
		goto fail;
	if (conf->socket_group[0]) {
		struct group *g = getgrnam(conf->socket_group);

		if (!g) {
			errno = ENOENT;
			log_error("ipc: no group '%s'", conf->socket_group);
			goto fail;
		}
		if (chown(conf->socket, (uid_t)-1, g->gr_gid) < 0)
			goto fail;
	}
	if (listen(fd, 64) < 0)
		goto fail;
	return fd;
fail:
	r = -errno;
	close(fd);
	return r;
}

int ipc_new(struct ipc **ret, const struct conf *conf, struct rpc *rpc,
	    int fd)
{
	struct ipc *ipc = calloc(1, sizeof(*ipc));
	int r, err;

	if (!ipc)
		return -ENOMEM;
	ipc->conf = conf;
	ipc->rpc = rpc;
	tmr_init(&ipc->reap_tmr);
	if (fd >= 0) {
		/* inherited fds arrive blocking and without close-on-exec */
		r = util_set_nonblock_cloexec(fd);
		if (r < 0)
			goto fail;
		ipc->fd = fd;
	} else {
		ipc->fd = make_socket(ipc);
		if (ipc->fd < 0) {
			r = ipc->fd;
			log_error("ipc: cannot listen on %s: %s", conf->socket,
				  strerror(-r));
			goto fail;
		}
	}
	err = fd_listen(ipc->fd, FD_READ, accept_fd, ipc);
	if (err) {
		r = -err;
		goto fail;
	}
	log_info("ipc: listening on %s%s", fd >= 0 ? "inherited socket " : "",
		 fd >= 0 ? "" : conf->socket);
	*ret = ipc;
	return 0;
fail:
	if (ipc->fd > 0 && fd < 0)
		close(ipc->fd);
	free(ipc);
	return r;
}

struct ipc *ipc_free(struct ipc *ipc)
{
	if (!ipc)
		return NULL;
	while (ipc->clients)
		client_free(ipc->clients);
	tmr_cancel(&ipc->reap_tmr);
	fd_close(ipc->fd);
	close(ipc->fd);
	if (ipc->own_path)
		unlink(ipc->conf->socket);
	free(ipc);
	return NULL;
}
