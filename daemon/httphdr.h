/* What ccpd reads from and writes into HTTP headers itself, pure: the
 * client behind X-Forwarded-For when the peer is a trusted proxy, and the
 * origins a Content-Security-Policy frame-ancestors may name. libwebsockets
 * parses the request; these take its header values as text. */
#ifndef CCPD_HTTPHDR_H
#define CCPD_HTTPHDR_H

#include <stdbool.h>
#include <stddef.h>

/* Whether addr (IPv4 or IPv6, in any form inet_pton reads) is one of the
 * addresses in list (commas and blanks between them). */
bool httphdr_in_list(const char *list, const char *addr);

/* The client an X-Forwarded-For value names for a peer that is a trusted
 * proxy: read from the right past the trusted proxies, the first other
 * address; the last address read when all are trusted. Nothing before it
 * is believed: the client wrote it. addr is left as it is when the value
 * names no address. */
void httphdr_forwarded_for(const char *xff, const char *trusted, char *addr,
			   size_t size);

/* Append " origin" to a CSP being built, whole or not at all, and only
 * when it is made of what an origin is made of, so that nothing can end
 * the header or add a directive. */
void httphdr_add_ancestor(char *csp, size_t size, const char *origin);

#endif
