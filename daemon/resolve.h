/* Host names resolved without blocking the event loop: getaddrinfo in a
 * thread of its own, the answer handed back to the loop's thread. */
#ifndef CCPD_RESOLVE_H
#define CCPD_RESOLVE_H

#include <stdint.h>

struct sa;
struct resolve;

/* Lookups running at once, all callers together; more fail at once. */
#define RESOLVE_MAX_RUNNING 8

/* Called on the loop's thread: err 0 and the address (IPv4 first), or an
 * errno and why, in words. */
typedef void (resolve_h)(int err, const char *why, const struct sa *addr,
			 void *arg);

/* Resolve host (a name, or an address in text) for UDP, the answer
 * carrying port. h is called once, never from inside resolve_start, and
 * not at all once *rp has been freed with mem_deref (which cancels). Names
 * under .invalid fail at once without asking anyone (RFC 6761). Returns 0,
 * or -ENAMETOOLONG, -EAGAIN (RESOLVE_MAX_RUNNING reached), -ENOMEM. */
int resolve_start(struct resolve **rp, const char *host, uint16_t port,
		  resolve_h *h, void *arg);

/* A server setting, "host:port" or "host" (defport), either maybe after
 * "stun:"/"turn:": host is a name, an IPv4 address or an IPv6 address
 * ("[::1]:3478", or "::1" without a port). 0, or -EINVAL. */
int resolve_split(const char *s, uint16_t defport, char *host, size_t size,
		  uint16_t *port);

#endif
