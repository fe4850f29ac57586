/* What ccpd reads from and writes into HTTP headers itself, pure. */
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "httphdr.h"

/* An address as 16 bytes (IPv4 mapped into IPv6), so that 127.0.0.1 and
 * ::ffff:127.0.0.1 compare equal. */
static bool ip_bytes(const char *s, unsigned char out[16])
{
	unsigned char v4[4];

	if (inet_pton(AF_INET6, s, out) == 1)
		return true;
	if (inet_pton(AF_INET, s, v4) != 1)
		return false;
	memset(out, 0, 10);
	out[10] = out[11] = 0xff;
	memcpy(out + 12, v4, 4);
	return true;
}

bool httphdr_in_list(const char *list, const char *addr)
{
	unsigned char a[16], b[16];
	char item[64];
	const char *p = list;

	if (!ip_bytes(addr, a))
		return false;
	while (*p) {
		size_t n;

		p += strspn(p, " \t,");
		n = strcspn(p, " \t,");
		if (n && n < sizeof(item)) {
			memcpy(item, p, n);
			item[n] = '\0';
			if (ip_bytes(item, b) && memcmp(a, b, 16) == 0)
				return true;
		}
		p += n;
	}
	return false;
}

void httphdr_forwarded_for(const char *xff, const char *trusted, char *addr,
			   size_t size)
{
	char *copy = strdup(xff), *comma, *tok;
	unsigned char scratch[16];

	if (!copy)
		return;
	for (;;) {
		comma = strrchr(copy, ',');
		tok = comma ? comma + 1 : copy;
		tok += strspn(tok, " \t");
		tok[strcspn(tok, " \t")] = '\0';
		if (!ip_bytes(tok, scratch))
			break;
		snprintf(addr, size, "%s", tok);
		if (!comma || !httphdr_in_list(trusted, tok))
			break;
		*comma = '\0';
	}
	free(copy);
}

void httphdr_add_ancestor(char *csp, size_t size, const char *o)
{
	size_t n = strlen(csp);

	/* whole or not at all: a cut one would be another origin */
	if (!*o || n + 1 + strlen(o) >= size ||
	    o[strspn(o, "abcdefghijklmnopqrstuvwxyz"
		     "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789:/.-[]")])
		return;
	snprintf(csp + n, size - n, " %s", o);
}
