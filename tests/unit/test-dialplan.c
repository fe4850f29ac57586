/* Unit tests for the dial plan: what each typed endpoint dials under a
 * set of rules, and why a refused one is refused. Table-driven; links the
 * dial plan and the phone module (libphonenumber) only. */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "ccpd-protocol.h"
#include "desk.h"
#include "dialplan.h"
#include "tap.h"

static const struct dialplan open_plan = {
	.dial_template = "sip:{number}@pbx.example;user=phone",
	.dialable_countries = "",
	.blocked_prefixes = "",
	.allow_sip_uris = true,
};

static const struct dialplan strict_plan = {
	.dial_template = "sip:{e164}@gw.example",
	.dialable_countries = "GB, ie",
	.blocked_prefixes = "+449, +4470 ,+3531",
	.allow_sip_uris = false,
};

static const struct dialplan no_template = {
	.dial_template = "",
	.dialable_countries = "",
	.blocked_prefixes = "",
	.allow_sip_uris = true,
};

struct resolve_case {
	const char *name;
	const struct dialplan *plan;
	const char *endpoint;
	const char *region;
	int code;               /* 0, or the CCPD_ERR_* expected */
	const char *uri;        /* expected when code is 0 */
	const char *e164;       /* expected ("" for no number) */
	const char *why;        /* a part of the reason when refused */
};

static const struct resolve_case cases[] = {
	{ "E.164 into the template", &open_plan, "+442079460000", "",
	  0, "sip:442079460000@pbx.example;user=phone", "+442079460000",
	  NULL },
	{ "national form read in the region", &open_plan, "020 7946 0000",
	  "GB", 0, "sip:442079460000@pbx.example;user=phone",
	  "+442079460000", NULL },
	{ "international prefix of the region", &open_plan,
	  "011 44 20 7946 0000", "US", 0,
	  "sip:442079460000@pbx.example;user=phone", "+442079460000", NULL },
	{ "national form with no region", &open_plan, "020 7946 0000", "",
	  CCPD_ERR_INVALID_PHONE_NUMBER, NULL, "", "not a valid phone" },
	{ "letters are no number", &open_plan, "call me", "GB",
	  CCPD_ERR_INVALID_PHONE_NUMBER, NULL, "", "not a valid phone" },
	{ "a SIP URI dialed as it is", &open_plan, "sip:bob@example.com", "",
	  0, "sip:bob@example.com", "", NULL },
	{ "a SIP URI naming a number goes through the plan", &open_plan,
	  "sip:+442079460000@example.com", "", 0,
	  "sip:442079460000@pbx.example;user=phone", "+442079460000", NULL },
	{ "a SIP URI with a blank", &open_plan, "sip:bob smith@example.com",
	  "", CCPD_ERR_INVALID_PHONE_NUMBER, NULL, "", "not a valid SIP URI" },
	{ "SIP URIs not allowed", &strict_plan, "sip:bob@example.com", "",
	  CCPD_ERR_FORBIDDEN, NULL, "", "allow_sip_uris" },
	{ "a dialable country", &strict_plan, "+35391123456", "", 0,
	  "sip:+35391123456@gw.example", "+35391123456", NULL },
	{ "a country that is not dialable", &strict_plan, "+12015550123", "",
	  CCPD_ERR_INVALID_PHONE_NUMBER, NULL, "+12015550123",
	  "not one of the dialable countries (GB, ie)" },
	{ "a blocked prefix", &strict_plan, "+449098790000", "",
	  CCPD_ERR_INVALID_PHONE_NUMBER, NULL, "+449098790000",
	  "starts with +449, a blocked prefix" },
	{ "a blocked prefix among blanks and commas", &strict_plan,
	  "+447012345678", "", CCPD_ERR_INVALID_PHONE_NUMBER, NULL,
	  "+447012345678", "starts with +4470" },
	{ "no template and a number", &no_template, "+442079460000", "",
	  CCPD_ERR_INVALID_PHONE_NUMBER, NULL, "+442079460000",
	  "no dial plan is configured" },
	{ "no template and a SIP URI naming a number", &no_template,
	  "sip:+442079460000@example.com", "", 0,
	  "sip:+442079460000@example.com", "+442079460000", NULL },
};

static void check_resolve(const struct resolve_case *rc)
{
	struct tap_case c = { 0 };
	char uri[CCPD_MAX_ENDPOINT + 128] = "", e164[32] = "x";
	struct desk_err e = { 0 };
	const char *why = e.reason;
	int r = dialplan_resolve(rc->plan, rc->endpoint, rc->region, uri,
				 sizeof(uri), e164, sizeof(e164), &e);

	if (r != rc->code)
		tap_fail(&c, "returned %d (%s), expected %d\n", r, why,
			 rc->code);
	if (r == 0 && rc->code == 0 && strcmp(uri, rc->uri) != 0)
		tap_fail(&c, "dials %s, expected %s\n", uri, rc->uri);
	if (strcmp(e164, rc->e164) != 0)
		tap_fail(&c, "E.164 '%s', expected '%s'\n", e164, rc->e164);
	if (rc->why && !strstr(why, rc->why))
		tap_fail(&c, "reason '%s' does not say '%s'\n", why, rc->why);
	tap_report(rc->name, &c);
}

static void check_long_endpoint(void)
{
	struct tap_case c = { 0 };
	char endpoint[CCPD_MAX_ENDPOINT + 2], uri[64], e164[32];
	struct desk_err e = { 0 };
	const char *why = e.reason;
	int r;

	memset(endpoint, '1', sizeof(endpoint) - 1);
	endpoint[sizeof(endpoint) - 1] = '\0';
	r = dialplan_resolve(&open_plan, endpoint, "GB", uri, sizeof(uri),
			     e164, sizeof(e164), &e);
	if (r != CCPD_ERR_INVALID_PHONE_NUMBER || !strstr(why, "longer than"))
		tap_fail(&c, "an endpoint past the bound: %d (%s)\n", r, why);
	r = dialplan_resolve(&open_plan, "+442079460000", "", uri, 10, e164,
			     sizeof(e164), &e);
	if (r != CCPD_ERR_INVALID_PHONE_NUMBER || !strstr(why, "too long"))
		tap_fail(&c, "a URI past the buffer: %d (%s)\n", r, why);
	tap_report("bounds", &c);
}

static void check_expand(void)
{
	struct tap_case c = { 0 };
	char out[32];

	if (dialplan_expand("{e164}/{number}/{x}", "+44123", out,
			    sizeof(out)) != 0 ||
	    strcmp(out, "+44123/44123/{x}") != 0)
		tap_fail(&c, "expanded to '%s'\n", out);
	if (dialplan_expand("sip:{e164}@a-much-longer-host.example", "+44123", out,
			    sizeof(out)) != -ENAMETOOLONG)
		tap_fail(&c, "no error for a result past the buffer\n");
	tap_report("template expansion", &c);
}

static void check_sip_uris(void)
{
	static const struct {
		const char *uri;
		bool ok;
	} t[] = {
		{ "sip:a@b", true }, { "SIPS:a@b", true }, { "sip:b", true },
		{ "sip:", false }, { "sip:@b", false }, { "tel:+441", false },
		{ "sip:a\"b@c", false }, { "sip:<a@b>", false },
		{ "sip:a\tb", false }, { "sip:a\x7f", false },
	};
	struct tap_case c = { 0 };
	size_t i;

	for (i = 0; i < ARRAY_SIZE(t); i++)
		if (dialplan_valid_sip_uri(t[i].uri) != t[i].ok)
			tap_fail(&c, "'%s' taken as %s\n", t[i].uri,
				 t[i].ok ? "invalid" : "valid");
	tap_report("SIP URIs fit to dial", &c);
}

int main(void)
{
	size_t i;

	tap_plan(ARRAY_SIZE(cases) + 3);
	for (i = 0; i < ARRAY_SIZE(cases); i++)
		check_resolve(&cases[i]);
	check_long_endpoint();
	check_expand();
	check_sip_uris();
	return tap_exit();
}
