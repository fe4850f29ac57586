/*
 * echo-server: the floor of the control round-trip benchmark.
 *
 * A Unix-socket server that sends every line it receives straight back:
 * one thread, one poll loop, no parsing beyond finding the newline. What a
 * client measures against it is the cost of the socket round trip and two
 * wake-ups, the least any line-based control server can take.
 *
 * usage: echo-server SOCKPATH
 * Stops on SIGINT or SIGTERM and removes SOCKPATH.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#define MAX_CLIENTS 64
#define MAX_LINE 65536

struct client {
	int fd;
	size_t len;
	char buf[MAX_LINE];
};

static volatile sig_atomic_t stop;

static void on_signal(int sig)
{
	(void)sig;
	stop = 1;
}

static void drop(struct client *c)
{
	close(c->fd);
	c->fd = -1;
	c->len = 0;
}

/* Writes the whole buffer; the socket is non-blocking, so a client that
 * does not read its answers is dropped rather than waited for. */
static int write_all(int fd, const char *p, size_t n)
{
	while (n > 0) {
		ssize_t w = send(fd, p, n, MSG_NOSIGNAL);

		if (w < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

/* Reads what is there and echoes every complete line. */
static void serve(struct client *c)
{
	for (;;) {
		size_t room = sizeof(c->buf) - c->len, start = 0, i;
		ssize_t r = recv(c->fd, c->buf + c->len, room, 0);

		if (r < 0) {
			if (errno == EINTR)
				continue;
			if (errno != EAGAIN && errno != EWOULDBLOCK)
				drop(c);
			return;
		}
		if (r == 0) {
			drop(c);
			return;
		}
		for (i = c->len; i < c->len + (size_t)r; i++) {
			if (c->buf[i] != '\n')
				continue;
			if (write_all(c->fd, c->buf + start, i + 1 - start)) {
				drop(c);
				return;
			}
			start = i + 1;
		}
		c->len += (size_t)r;
		if (start > 0) {
			memmove(c->buf, c->buf + start, c->len - start);
			c->len -= start;
		}
		if (c->len == sizeof(c->buf)) {
			/* a line longer than the limit */
			drop(c);
			return;
		}
		if ((size_t)r < room)
			return; /* the kernel had no more */
	}
}

int main(int argc, char **argv)
{
	static struct client clients[MAX_CLIENTS];
	struct pollfd pfd[MAX_CLIENTS + 1];
	int map[MAX_CLIENTS + 1];
	struct sockaddr_un sa;
	struct sigaction sact;
	struct stat st;
	const char *path;
	int lfd, i;

	if (argc != 2) {
		fprintf(stderr, "usage: echo-server SOCKPATH\n");
		return 2;
	}
	path = argv[1];
	if (strlen(path) >= sizeof(sa.sun_path)) {
		fprintf(stderr, "echo-server: socket path too long\n");
		return 2;
	}

	memset(&sact, 0, sizeof(sact));
	sact.sa_handler = on_signal;
	sigemptyset(&sact.sa_mask);
	sigaction(SIGINT, &sact, NULL);
	sigaction(SIGTERM, &sact, NULL);
	signal(SIGPIPE, SIG_IGN);

	/* replace a stale socket, never any other kind of file */
	if (lstat(path, &st) == 0 && S_ISSOCK(st.st_mode))
		unlink(path);

	lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (lfd < 0) {
		perror("echo-server: socket");
		return 1;
	}
	memset(&sa, 0, sizeof(sa));
	sa.sun_family = AF_UNIX;
	memcpy(sa.sun_path, path, strlen(path) + 1);
	if (bind(lfd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		fprintf(stderr, "echo-server: bind %s: %s\n", path, strerror(errno));
		return 1;
	}
	if (listen(lfd, 16) < 0) {
		perror("echo-server: listen");
		unlink(path);
		return 1;
	}
	for (i = 0; i < MAX_CLIENTS; i++)
		clients[i].fd = -1;

	while (!stop) {
		int n = 0, ready;

		pfd[n].fd = lfd;
		pfd[n].events = POLLIN;
		map[n++] = -1;
		for (i = 0; i < MAX_CLIENTS; i++) {
			if (clients[i].fd < 0)
				continue;
			pfd[n].fd = clients[i].fd;
			pfd[n].events = POLLIN;
			map[n++] = i;
		}
		ready = poll(pfd, (nfds_t)n, -1);
		if (ready < 0) {
			if (errno == EINTR)
				continue;
			perror("echo-server: poll");
			break;
		}
		for (i = 1; i < n; i++)
			if (pfd[i].revents & (POLLIN | POLLHUP | POLLERR))
				serve(&clients[map[i]]);
		if (pfd[0].revents & POLLIN) {
			for (;;) {
				int fd = accept4(lfd, NULL, NULL,
						 SOCK_NONBLOCK | SOCK_CLOEXEC);
				int slot;

				if (fd < 0)
					break;
				for (slot = 0; slot < MAX_CLIENTS; slot++)
					if (clients[slot].fd < 0)
						break;
				if (slot == MAX_CLIENTS) {
					close(fd);
					continue;
				}
				clients[slot].fd = fd;
				clients[slot].len = 0;
			}
		}
	}

	for (i = 0; i < MAX_CLIENTS; i++)
		if (clients[i].fd >= 0)
			close(clients[i].fd);
	close(lfd);
	unlink(path);
	return 0;
}
