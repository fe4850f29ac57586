/* libFuzzer harness for the header logic ccpd owns (httphdr.c): the input
 * is an X-Forwarded-For value, a trusted-proxy list and an origin, split
 * at newlines. Whatever they hold, the client found is the peer's address
 * or an address written in the header, and the policy built never holds
 * a byte that could end the header or add a directive. */
#include <arpa/inet.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "httphdr.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char *next_part(char **p)
{
	char *part = *p, *nl = strchr(part, '\n');

	if (nl) {
		*nl = '\0';
		*p = nl + 1;
	} else {
		*p = part + strlen(part);
	}
	return part;
}

static void check_client(const char *xff, const char *trusted)
{
	char addr[64] = "peer";
	unsigned char buf[16];

	httphdr_forwarded_for(xff, trusted, addr, sizeof(addr));
	if (strcmp(addr, "peer") == 0)
		return;
	if ((inet_pton(AF_INET, addr, buf) != 1 &&
	     inet_pton(AF_INET6, addr, buf) != 1) || !strstr(xff, addr))
		abort();
}

static void check_policy(const char *origin)
{
	char csp[96] = "frame-ancestors 'self'";

	httphdr_add_ancestor(csp, sizeof(csp), origin);
	if (strpbrk(csp + 22, "\r\n;,'\"") || strlen(csp) >= sizeof(csp))
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *text = malloc(size + 1), *p;

	if (!text)
		return 0;
	memcpy(text, data, size);
	text[size] = '\0';
	p = text;
	{
		const char *xff = next_part(&p);
		const char *trusted = next_part(&p);

		check_client(xff, trusted);
		check_policy(next_part(&p));
	}
	free(text);
	return 0;
}
