/* Unit tests for the screen pop's attributes: what a From URI's x-ccp-*
 * parameters give, what is refused and why, and what the URI keeps.
 * Table-driven; links attrs.c and cJSON only. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "attrs.h"
#include "tap.h"

struct attrs_case {
	const char *name;
	const char *uri;
	const char *clean;      /* the URI without the attributes */
	const char *json;       /* the attributes, unformatted */
	unsigned dropped;
};

/* values are base64url without padding: Qy0xMDQy is "C-1042" */
static const struct attrs_case cases[] = {
	{ "no parameters", "sip:+15551234@acd.example",
	  "sip:+15551234@acd.example", "{}", 0 },
	{ "two attributes, other parameters kept",
	  "sip:alice@acd.example;user=phone;x-ccp-CustomerId=Qy0xMDQy;"
	  "x-ccp-Queue=YmlsbGluZw",
	  "sip:alice@acd.example;user=phone",
	  "{\"CustomerId\":\"C-1042\",\"Queue\":\"billing\"}", 0 },
	{ "UTF-8 kept", "sip:a@h;x-ccp-Name=UmVuw6llIE3DvGxsZXI",
	  "sip:a@h", "{\"Name\":\"Renée Müller\"}", 0 },
	{ "markup is text, passed as text",
	  "sip:a@h;x-ccp-Note=PGltZyBzcmM9eD4",
	  "sip:a@h", "{\"Note\":\"<img src=x>\"}", 0 },
	{ "an empty value", "sip:a@h;x-ccp-Empty=", "sip:a@h",
	  "{\"Empty\":\"\"}", 0 },
	{ "prefix in any case", "sip:a@h;X-CCP-ivr=Mg",
	  "sip:a@h", "{\"ivr\":\"2\"}", 0 },
	{ "a ';' in the user part is the user's",
	  "sip:+15551234;isub=12@h;x-ccp-a=MQ",
	  "sip:+15551234;isub=12@h", "{\"a\":\"1\"}", 0 },
	{ "headers part kept", "sip:a@h;x-ccp-a=MQ?subject=x",
	  "sip:a@h?subject=x", "{\"a\":\"1\"}", 0 },
	{ "control characters refused", "sip:a@h;x-ccp-a=eAp5;x-ccp-b=b2s",
	  "sip:a@h", "{\"b\":\"ok\"}", 1 },
	{ "NUL refused", "sip:a@h;x-ccp-a=eAB5", "sip:a@h", "{}", 1 },
	{ "bad UTF-8 refused", "sip:a@h;x-ccp-a=wyg", "sip:a@h", "{}", 1 },
	{ "percent escapes refused", "sip:a@h;x-ccp-a=%41", "sip:a@h", "{}",
	  1 },
	{ "padding and other alphabets refused",
	  "sip:a@h;x-ccp-a=MQ==;x-ccp-b=a+b/", "sip:a@h", "{}", 2 },
	{ "a dangling character refused", "sip:a@h;x-ccp-a=MQQ", "sip:a@h",
	  "{}", 1 },
	{ "no value refused", "sip:a@h;x-ccp-a", "sip:a@h", "{}", 1 },
	{ "bad name refused", "sip:a@h;x-ccp-a.b=MQ;x-ccp-=Mg", "sip:a@h", "{}",
	  2 },
	{ "repeated name refused", "sip:a@h;x-ccp-a=MQ;x-ccp-a=Mg", "sip:a@h",
	  "{\"a\":\"1\"}", 1 },
};

static char long_uri[4096];

static void check(const char *name, const char *uri, const char *clean,
		  const char *json, unsigned dropped)
{
	struct tap_case c = { 0 };
	struct attrs_result r;
	char out[2048];
	char *text;
	int rc = attrs_from_uri(uri, out, sizeof(out), &r);

	if (rc != 0) {
		tap_fail(&c, "returned %d\n", rc);
		tap_report(name, &c);
		return;
	}
	text = cJSON_PrintUnformatted(r.attrs);
	if (strcmp(out, clean))
		tap_fail(&c, "URI '%s', expected '%s'\n", out, clean);
	if (!text || strcmp(text, json))
		tap_fail(&c, "attributes %s, expected %s\n", text, json);
	if (r.dropped != dropped)
		tap_fail(&c, "%u dropped (%s), expected %u\n", r.dropped,
			 r.why, dropped);
	if (dropped && !r.why[0])
		tap_fail(&c, "dropped without a reason\n");
	cJSON_free(text);
	cJSON_Delete(r.attrs);
	tap_report(name, &c);
}

int main(void)
{
	struct tap_case c = { 0 };
	struct attrs_result r;
	char out[64], clean[2048], json[64];
	size_t i, n;

	tap_plan(ARRAY_SIZE(cases) + 3);
	for (i = 0; i < ARRAY_SIZE(cases); i++)
		check(cases[i].name, cases[i].uri, cases[i].clean,
		      cases[i].json, cases[i].dropped);

	/* a value of exactly the limit passes, one more byte does not: 3
	 * bytes of "xxx" are "eHh4"; 256 = 85 * 3 + 1, and one "x" is "eA" */
	n = (size_t)snprintf(long_uri, sizeof(long_uri), "sip:a@h;x-ccp-v=");
	for (i = 0; i < ATTRS_VALUE_MAX / 3; i++)
		n += (size_t)snprintf(long_uri + n, sizeof(long_uri) - n, "eHh4");
	strcpy(long_uri + n, "eA");
	if (attrs_from_uri(long_uri, clean, sizeof(clean), &r) != 0 ||
	    cJSON_GetArraySize(r.attrs) != 1 || r.dropped)
		tap_fail(&c, "a value of %d bytes refused\n", ATTRS_VALUE_MAX);
	cJSON_Delete(r.attrs);
	strcpy(long_uri + n, "eHg");    /* "xx": 257 bytes */
	if (attrs_from_uri(long_uri, clean, sizeof(clean), &r) != 0 ||
	    cJSON_GetArraySize(r.attrs) != 0 || r.dropped != 1)
		tap_fail(&c, "a value of %d bytes taken\n",
			 ATTRS_VALUE_MAX + 1);
	cJSON_Delete(r.attrs);
	tap_report("values are limited to ATTRS_VALUE_MAX bytes", &c);

	/* more than ATTRS_MAX: the first ones are kept */
	memset(&c, 0, sizeof(c));
	n = (size_t)snprintf(long_uri, sizeof(long_uri), "sip:a@h");
	for (i = 0; i < ATTRS_MAX + 3; i++)
		n += (size_t)snprintf(long_uri + n, sizeof(long_uri) - n,
				      ";x-ccp-a%zu=MQ", i);
	if (attrs_from_uri(long_uri, clean, sizeof(clean), &r) != 0 ||
	    cJSON_GetArraySize(r.attrs) != ATTRS_MAX || r.dropped != 3 ||
	    strcmp(clean, "sip:a@h"))
		tap_fail(&c, "%d kept, %u dropped\n",
			 cJSON_GetArraySize(r.attrs), r.dropped);
	cJSON_Delete(r.attrs);
	tap_report("at most ATTRS_MAX attributes", &c);

	/* a URI that does not fit is refused whole, nothing leaks */
	memset(&c, 0, sizeof(c));
	if (attrs_from_uri("sip:someone-with-a-long-name@h;x-ccp-a=1;"
			   "user=phone;more=parameters-than-fit", out,
			   sizeof(out), &r) != -ENOSPC || r.attrs)
		tap_fail(&c, "an overlong URI was not refused\n");
	(void)json;
	tap_report("a URI longer than the room is refused", &c);
	return tap_exit();
}
