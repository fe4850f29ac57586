/* ccpd-ctrlguard.so: preloaded into baresip by ccpd, it keeps every other
 * user away from baresip's control port.
 *
 * baresip's ctrl_tcp module takes any connection to its port and hands
 * the calls to whoever connected last; it has no authentication. So this
 * library wraps accept() and accept4() (libre 1.1.0's TCP listener calls
 * accept()) and, on the control port only (CCPD_CTRLGUARD_PORT, set by
 * ccpd), asks the kernel who owns the connecting socket. A connection
 * whose owner is not baresip's own user, or whose owner cannot be learnt,
 * is closed before libre or ctrl_tcp ever see it: the intruder gets a
 * reset, no command of theirs runs, and ccpd's connection stays the one
 * ctrl_tcp holds. */
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

#include "ctrlguard-uid.h"

#define GUARD_EXPORT __attribute__((visibility("default")))
/* rejected connections handled in one call before the loop gets a turn */
#define MAX_REJECTS 64

typedef int (accept_fn)(int, struct sockaddr *, socklen_t *);
typedef int (accept4_fn)(int, struct sockaddr *, socklen_t *, int);

static accept_fn *real_accept;
static accept4_fn *real_accept4;
static unsigned guard_port;
static unsigned long refused;

__attribute__((constructor))
static void guard_init(void)
{
	const char *port = getenv("CCPD_CTRLGUARD_PORT");
	char *end;
	unsigned long v;

	real_accept = (accept_fn *)dlsym(RTLD_NEXT, "accept");
	real_accept4 = (accept4_fn *)dlsym(RTLD_NEXT, "accept4");
	if (!port)
		return;
	v = strtoul(port, &end, 10);
	if (*end == '\0' && v > 0 && v < 65536)
		guard_port = (unsigned)v;
}

/* Is fd the listening control port? */
static int is_ctrl(int fd)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);

	if (!guard_port ||
	    getsockname(fd, (struct sockaddr *)&ss, &len) < 0)
		return 0;
	if (ss.ss_family == AF_INET)
		return ntohs(((struct sockaddr_in *)&ss)->sin_port) ==
			guard_port;
	if (ss.ss_family == AF_INET6)
		return ntohs(((struct sockaddr_in6 *)&ss)->sin6_port) ==
			guard_port;
	return 0;
}

static int allowed(int c)
{
	uid_t uid;
	int r = ctrlguard_peer_uid(c, &uid);

	if (r == 0 && uid == geteuid())
		return 1;
	/* stderr is ccpd's log when it debugs, else /dev/null; keep it
	 * short when someone hammers the port */
	refused++;
	if (refused <= 3 || refused % 1000 == 0) {
		if (r == 0)
			fprintf(stderr, "ccpd-ctrlguard: refused a control "
				"connection from uid %u (%lu refused)\n",
				(unsigned)uid, refused);
		else
			fprintf(stderr, "ccpd-ctrlguard: refused a control "
				"connection whose owner is unknown (errno %d, "
				"%lu refused)\n", -r, refused);
	}
	return 0;
}

static int guarded(int fd, struct sockaddr *addr, socklen_t *len, int flags,
		   int four)
{
	socklen_t len0 = len ? *len : 0;
	int ctrl = is_ctrl(fd);
	int i, c;

	if ((four && !real_accept4) || (!four && !real_accept)) {
		errno = ENOSYS;
		return -1;
	}
	for (i = 0;; i++) {
		if (len)
			*len = len0;
		c = four ? real_accept4(fd, addr, len, flags) :
			real_accept(fd, addr, len);
		if (c < 0 || !ctrl || allowed(c))
			return c;
		close(c);
		/* a blocking listener waits for the next connection, as its
		 * caller expects; a non-blocking one (libre's) lets its loop
		 * run between bursts and is called again while more wait */
		if (i + 1 >= MAX_REJECTS && (fcntl(fd, F_GETFL) & O_NONBLOCK)) {
			errno = EAGAIN;
			return -1;
		}
	}
}

GUARD_EXPORT int accept(int fd, struct sockaddr *addr, socklen_t *len)
{
	return guarded(fd, addr, len, 0, 0);
}

GUARD_EXPORT int accept4(int fd, struct sockaddr *addr, socklen_t *len,
			 int flags)
{
	return guarded(fd, addr, len, flags, 1);
}
