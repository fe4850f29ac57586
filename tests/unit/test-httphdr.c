/* Unit tests for the header logic ccpd owns: who a trusted proxy says the
 * client is, and which origins a frame-ancestors policy may name. */
#include <stdio.h>
#include <string.h>

#include "httphdr.h"
#include "tap.h"

static const struct {
	const char *name;
	const char *xff;
	const char *trusted;
	const char *client;     /* what addr holds after ("peer": unchanged) */
} xff_cases[] = {
	{ "one proxy, the client before it", "203.0.113.7", "10.0.0.1",
	  "203.0.113.7" },
	{ "a forged entry before the real client is not believed",
	  "198.51.100.9, 203.0.113.7", "10.0.0.1", "203.0.113.7" },
	{ "a chain of trusted proxies is walked past",
	  "203.0.113.7, 10.0.0.2", "10.0.0.1, 10.0.0.2", "203.0.113.7" },
	{ "the last untrusted address stops the walk",
	  "198.51.100.9,203.0.113.7,10.0.0.2", "10.0.0.2", "203.0.113.7" },
	{ "IPv6 and mapped IPv4 compare equal",
	  "2001:db8::7, ::ffff:10.0.0.2", "10.0.0.2", "2001:db8::7" },
	{ "garbage names nobody", "not-an-address", "10.0.0.1", "peer" },
	{ "an empty header names nobody", "", "10.0.0.1", "peer" },
	{ "garbage past the client stops the walk",
	  "203.0.113.7, junk", "10.0.0.1", "peer" },
	{ "all trusted: the leftmost is taken", "10.0.0.2, 10.0.0.3",
	  "10.0.0.2 10.0.0.3", "10.0.0.2" },
};

static void check_xff(void)
{
	size_t i;

	for (i = 0; i < ARRAY_SIZE(xff_cases); i++) {
		struct tap_case c = { 0 };
		char addr[64] = "peer";

		httphdr_forwarded_for(xff_cases[i].xff, xff_cases[i].trusted,
				      addr, sizeof(addr));
		if (strcmp(addr, xff_cases[i].client) != 0)
			tap_fail(&c, "'%s' gave %s, expected %s\n",
				 xff_cases[i].xff, addr, xff_cases[i].client);
		tap_report(xff_cases[i].name, &c);
	}
}

static void check_list(void)
{
	struct tap_case c = { 0 };

	if (!httphdr_in_list(" 10.0.0.1 ,2001:db8::1", "2001:DB8:0::1"))
		tap_fail(&c, "an IPv6 address in another form not found\n");
	if (httphdr_in_list("10.0.0.1", "10.0.0.10"))
		tap_fail(&c, "a prefix taken for the address\n");
	if (httphdr_in_list("", "10.0.0.1") || httphdr_in_list("x", "x"))
		tap_fail(&c, "an empty list or a name matched\n");
	tap_report("trusted proxy lists", &c);
}

static void check_ancestors(void)
{
	struct tap_case c = { 0 };
	char csp[48] = "frame-ancestors 'self'";

	httphdr_add_ancestor(csp, sizeof(csp), "https://crm.example");
	httphdr_add_ancestor(csp, sizeof(csp), "https://x; script-src *");
	httphdr_add_ancestor(csp, sizeof(csp), "https://evil\r\nSet-Cookie:");
	httphdr_add_ancestor(csp, sizeof(csp), "https://far-too-long.example");
	httphdr_add_ancestor(csp, sizeof(csp), "");
	if (strcmp(csp, "frame-ancestors 'self' https://crm.example") != 0)
		tap_fail(&c, "built '%s'\n", csp);
	tap_report("frame-ancestors takes whole, clean origins only", &c);
}

int main(void)
{
	tap_plan(ARRAY_SIZE(xff_cases) + 2);
	check_xff();
	check_list();
	check_ancestors();
	return tap_exit();
}
