/* Unit tests for the phone module: every written form of libphonenumber's
 * own example numbers (a table generated at build time by gen-phone-cases,
 * so no numbering data is typed here), then inputs that must be refused,
 * each for its reason, and the smaller helpers. */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "phone.h"
#include "tap.h"

struct phone_case {
	const char *region;     /* whose example number */
	const char *type;       /* the example's kind */
	const char *form;       /* how it is written */
	const char *input;
	const char *read_in;    /* the region given to phone_parse */
	const char *e164;
	const char *number_region;
	const char *number_type;
};

#include "phone-cases.h"

static void check_example(const struct phone_case *pc)
{
	struct tap_case c = { 0 };
	struct phone_number *n = NULL;
	enum phone_error why = PHONE_OK;
	char name[160], buf[128];
	int r;

	snprintf(name, sizeof(name), "%s %s %s: %s", pc->region, pc->type,
		 pc->form, pc->input);
	r = phone_parse(pc->input, *pc->read_in ? pc->read_in : NULL, &n,
			&why);
	if (r < 0) {
		tap_fail(&c, "refused (%d): %s\n", r, phone_error_reason(why));
		tap_report(name, &c);
		return;
	}
	if (phone_format(n, PHONE_FMT_E164, buf, sizeof(buf)) < 0 ||
	    strcmp(buf, pc->e164) != 0)
		tap_fail(&c, "e164 %s, expected %s\n", buf, pc->e164);
	phone_region_of(n, buf, sizeof(buf));
	if (strcmp(buf, pc->number_region) != 0)
		tap_fail(&c, "region %s, expected %s\n", buf,
			 pc->number_region);
	if (strcmp(phone_type_of(n), pc->number_type) != 0)
		tap_fail(&c, "type %s, expected %s\n", phone_type_of(n),
			 pc->number_type);
	if (phone_format(n, PHONE_FMT_RFC3966, buf, sizeof(buf)) < 0 ||
	    strncmp(buf, "tel:+", 5) != 0)
		tap_fail(&c, "RFC 3966 form '%s'\n", buf);
	phone_number_free(n);
	tap_report(name, &c);
}

struct bad_case {
	const char *input;
	const char *region;
	enum phone_error why;
};

/* Each kind of refusal. The numbers here are not numbering data: they
 * are wrong on purpose, in ways any plan refuses. */
static const struct bad_case bad_cases[] = {
	{ "", NULL, PHONE_ERR_NOT_A_NUMBER },
	{ "hello", "US", PHONE_ERR_NOT_A_NUMBER },
	{ "call 020 7183 8750", "GB", PHONE_ERR_NOT_A_NUMBER },
	{ "sip:alice@example.com", "US", PHONE_ERR_NOT_A_NUMBER },
	{ "sip:example.com", "US", PHONE_ERR_NOT_A_NUMBER },
	{ "+", NULL, PHONE_ERR_NOT_A_NUMBER },
	{ "tel:", NULL, PHONE_ERR_NOT_A_NUMBER },
	{ "+999 1234 5678", NULL, PHONE_ERR_INVALID_COUNTRY_CODE },
	{ "+0 1234 5678", "US", PHONE_ERR_INVALID_COUNTRY_CODE },
	{ "tel:+999-1234-5678", NULL, PHONE_ERR_INVALID_COUNTRY_CODE },
	{ "020 7183 8750", NULL, PHONE_ERR_NO_REGION },
	{ "020 7183 8750", "", PHONE_ERR_NO_REGION },
	{ "020 7183 8750", "XX", PHONE_ERR_BAD_REGION },
	{ "020 7183 8750", "Britain", PHONE_ERR_BAD_REGION },
	{ "+44 20", NULL, PHONE_ERR_TOO_SHORT },
	{ "12", "US", PHONE_ERR_TOO_SHORT },
	{ "+1 201", NULL, PHONE_ERR_TOO_SHORT },
	{ "011 44", "US", PHONE_ERR_TOO_SHORT },
	{ "+44 20 7183 8750 1234 5678 9", NULL, PHONE_ERR_TOO_LONG },
	{ "+1 2015 5501 2345 6789", NULL, PHONE_ERR_TOO_LONG },
	{ "201 555 0123 4567 8901", "US", PHONE_ERR_TOO_LONG },
	{ "+1 123 456 7890", NULL, PHONE_ERR_NOT_VALID },
	{ "000 000 0000", "US", PHONE_ERR_NOT_VALID },
	{ "sip:+11234567890@carrier.example", NULL, PHONE_ERR_NOT_VALID },
	{ "+44 20 7183 8750 ext 2", NULL, PHONE_ERR_EXTENSION },
	{ "+1 201 555 0123;ext=7", NULL, PHONE_ERR_EXTENSION },
};

static void check_bad(const struct bad_case *bc)
{
	struct tap_case c = { 0 };
	struct phone_number *n = NULL;
	enum phone_error why = PHONE_OK;
	char name[160];
	int r;

	snprintf(name, sizeof(name), "refused as %s: '%s' in %s",
		 phone_error_reason(bc->why), bc->input,
		 bc->region ? bc->region : "no region");
	r = phone_parse(bc->input, bc->region, &n, &why);
	if (r == 0) {
		tap_fail(&c, "accepted\n");
		phone_number_free(n);
	} else if (r != -EINVAL) {
		tap_fail(&c, "returned %d, not -EINVAL\n", r);
	} else if (why != bc->why) {
		tap_fail(&c, "refused as '%s'\n", phone_error_reason(why));
	}
	tap_report(name, &c);
}

struct uri_case {
	const char *uri;
	const char *region;
	bool number;
};

static const struct uri_case uri_cases[] = {
	{ "sip:+442071838750@carrier.example", NULL, true },
	{ "sips:+442071838750@carrier.example", NULL, true },
	{ "sip:02071838750@pbx.example", "GB", true },
	{ "sip:02071838750@pbx.example;user=phone", NULL, true },
	{ "\"Bob\" <sip:+12015550123@pbx.example>", NULL, true },
	{ "sip:1001@pbx.example", "US", false },
	{ "sip:alice@example.com", "US", false },
	{ "sip:example.com", NULL, false },
	{ "tel:+442071838750", NULL, false },
};

static void check_uri(const struct uri_case *uc)
{
	struct tap_case c = { 0 };
	char name[160];

	snprintf(name, sizeof(name), "%s %s a number", uc->uri,
		 uc->number ? "is" : "is not");
	if (phone_sip_uri_is_number(uc->uri, uc->region) != uc->number)
		tap_fail(&c, "answered the opposite\n");
	tap_report(name, &c);
}

static void check_helpers(void)
{
	struct tap_case c = { 0 };
	struct phone_number *n = NULL;
	enum phone_error why;
	char small[8], buf[64];
	int e;

	if (!phone_region_known("GB") || !phone_region_known("gb") ||
	    phone_region_known("XX") || phone_region_known("") ||
	    phone_region_known(NULL) || phone_region_known("GBR"))
		tap_fail(&c, "phone_region_known is wrong\n");
	tap_report("regions are known case-insensitively", &c);

	memset(&c, 0, sizeof(c));
	if (phone_format_from_name("E164") != PHONE_FMT_E164 ||
	    phone_format_from_name("INTERNATIONAL") != PHONE_FMT_INTERNATIONAL ||
	    phone_format_from_name("NATIONAL") != PHONE_FMT_NATIONAL ||
	    phone_format_from_name("RFC3966") != PHONE_FMT_RFC3966 ||
	    phone_format_from_name("e164") != -1 ||
	    phone_format_from_name("") != -1)
		tap_fail(&c, "phone_format_from_name is wrong\n");
	tap_report("format names", &c);

	memset(&c, 0, sizeof(c));
	if (phone_parse(phone_cases[0].e164, NULL, &n, &why) < 0) {
		tap_fail(&c, "first example refused\n");
	} else {
		if (phone_format(n, PHONE_FMT_INTERNATIONAL, small,
				 sizeof(small)) != -ENOSPC)
			tap_fail(&c, "no -ENOSPC for a small buffer\n");
		if (phone_format(n, PHONE_FMT_E164, buf, PHONE_E164_MAX) < 0)
			tap_fail(&c, "E.164 does not fit PHONE_E164_MAX\n");
	}
	n = phone_number_free(n);
	if (n || phone_number_free(NULL))
		tap_fail(&c, "phone_number_free does not return NULL\n");
	tap_report("formatting bounds and freeing", &c);

	memset(&c, 0, sizeof(c));
	for (e = PHONE_OK; e <= PHONE_ERR_EXTENSION; e++) {
		const char *r = phone_error_reason((enum phone_error)e);

		if (!r || !*r)
			tap_fail(&c, "no reason for %d\n", e);
	}
	tap_report("every error has a reason in words", &c);

	memset(&c, 0, sizeof(c));
	if (PHONE_CASE_REGIONS < 30 || ARRAY_SIZE(phone_cases) < 300)
		tap_fail(&c, "only %u regions, %zu cases\n",
			 (unsigned)PHONE_CASE_REGIONS,
			 ARRAY_SIZE(phone_cases));
	tap_report("the example table covers 30 regions and 300 cases", &c);
}

int main(void)
{
	size_t i;

	tap_plan((unsigned)(ARRAY_SIZE(phone_cases) + ARRAY_SIZE(bad_cases) +
			    ARRAY_SIZE(uri_cases) + 5));
	for (i = 0; i < ARRAY_SIZE(phone_cases); i++)
		check_example(&phone_cases[i]);
	for (i = 0; i < ARRAY_SIZE(bad_cases); i++)
		check_bad(&bad_cases[i]);
	for (i = 0; i < ARRAY_SIZE(uri_cases); i++)
		check_uri(&uri_cases[i]);
	check_helpers();
	printf("# %zu example cases from %u regions\n",
	       ARRAY_SIZE(phone_cases), (unsigned)PHONE_CASE_REGIONS);
	return tap_exit();
}
