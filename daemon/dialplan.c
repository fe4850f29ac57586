/* The dial plan, pure: what a typed endpoint dials. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "ccpd-protocol.h"
#include "desk.h"
#include "dialplan.h"
#include "phone.h"

bool dialplan_valid_sip_uri(const char *s)
{
	const char *p;

	if (strncasecmp(s, "sip:", 4) != 0 && strncasecmp(s, "sips:", 5) != 0)
		return false;
	for (p = s; *p; p++)
		if ((unsigned char)*p <= ' ' || *p == '"' || *p == '<' ||
		    *p == '>' || *p == 0x7f)
			return false;
	p = strchr(s, ':') + 1;
	return *p && *p != '@';
}

int dialplan_expand(const char *tmpl, const char *e164, char *out,
		    size_t size)
{
	size_t n = 0;
	const char *p = tmpl;

	while (*p && n + 1 < size) {
		const char *val = NULL;
		size_t skip = 0;

		if (strncmp(p, "{e164}", 6) == 0) {
			val = e164;
			skip = 6;
		} else if (strncmp(p, "{number}", 8) == 0) {
			val = e164 + 1;
			skip = 8;
		}
		if (val) {
			size_t l = strlen(val);

			if (n + l >= size)
				return -ENAMETOOLONG;
			memcpy(out + n, val, l);
			n += l;
			p += skip;
		} else {
			out[n++] = *p++;
		}
	}
	out[n] = '\0';
	return *p ? -ENAMETOOLONG : 0;
}

static bool in_list(const char *list, const char *item, size_t item_len)
{
	const char *p = list;

	while (*p) {
		size_t n;

		p += strspn(p, " \t,");
		n = strcspn(p, ",");
		while (n && (p[n - 1] == ' ' || p[n - 1] == '\t'))
			n--;
		if (n && n == item_len && strncasecmp(p, item, n) == 0)
			return true;
		p += strcspn(p, ",");
	}
	return false;
}

/* The first blocked prefix the number starts with, into out; false when
 * none does. */
static bool blocked_prefix(const char *list, const char *e164, char *out,
			   size_t size)
{
	const char *p = list;

	while (*p) {
		size_t n;

		p += strspn(p, " \t,");
		n = strcspn(p, ", \t");
		if (n && strncmp(e164, p, n) == 0) {
			snprintf(out, size, "%.*s", (int)n, p);
			return true;
		}
		p += strcspn(p, ",");
	}
	return false;
}

/* A number that may be dialed: in the dialable countries and under no
 * blocked prefix. The refusal names the rule. */
static int check_number(const struct dialplan *p, const struct phone_number *n,
			const char *e164, struct desk_err *w)
{
	char region[8], prefix[24];

	phone_region_of(n, region, sizeof(region));
	if (*p->dialable_countries &&
	    !in_list(p->dialable_countries, region, strlen(region)))
		return desk_fail(w, CCPD_ERR_INVALID_PHONE_NUMBER,
			      "%s is a number of %s, which is not one of the "
			      "dialable countries (%s)", e164,
			      strcmp(region, "001") == 0 ? "no country (a "
			      "non-geographic number)" : region,
			      p->dialable_countries);
	if (blocked_prefix(p->blocked_prefixes, e164, prefix, sizeof(prefix)))
		return desk_fail(w, CCPD_ERR_INVALID_PHONE_NUMBER,
			      "%s starts with %s, a blocked prefix", e164,
			      prefix);
	return 0;
}

static int bad_number(struct desk_err *w, const char *endpoint,
		      enum phone_error why, const char *region)
{
	if (why == PHONE_ERR_NOT_VALID && *region)
		return desk_fail(w, CCPD_ERR_INVALID_PHONE_NUMBER,
			      "'%s' is not a valid phone number: not valid "
			      "for the region (read in %s)", endpoint, region);
	return desk_fail(w, CCPD_ERR_INVALID_PHONE_NUMBER,
		      "'%s' is not a valid phone number: %s", endpoint,
		      phone_error_reason(why));
}

/* The number, in E.164, checked against the plan's rules. */
static int to_e164(const struct dialplan *p, const char *endpoint,
		   const char *region, char *e164, size_t e164_size,
		   struct desk_err *w)
{
	struct phone_number *n = NULL;
	enum phone_error why;
	int r = phone_parse(endpoint, region, &n, &why);

	if (r == -ENOMEM)
		return desk_fail(w, CCPD_ERR_INTERNAL, "out of memory");
	if (r < 0)
		return bad_number(w, endpoint, why, region);
	r = phone_format(n, PHONE_FMT_E164, e164, e164_size);
	if (r < 0)
		r = desk_fail(w, CCPD_ERR_INVALID_PHONE_NUMBER, "'%s' is too "
			   "long to write in E.164 here", endpoint);
	else
		r = check_number(p, n, e164, w);
	phone_number_free(n);
	return r;
}

int dialplan_resolve(const struct dialplan *p, const char *endpoint,
		     const char *region, char *uri, size_t size, char *e164,
		     size_t e164_size, struct desk_err *w)
{
	bool sip;
	int r;

	e164[0] = '\0';
	if (strlen(endpoint) > CCPD_MAX_ENDPOINT)
		return desk_fail(w, CCPD_ERR_INVALID_PHONE_NUMBER,
			      "endpoint longer than %d characters",
			      CCPD_MAX_ENDPOINT);
	sip = strncasecmp(endpoint, "sip:", 4) == 0 ||
	      strncasecmp(endpoint, "sips:", 5) == 0;
	if (sip && !dialplan_valid_sip_uri(endpoint))
		return desk_fail(w, CCPD_ERR_INVALID_PHONE_NUMBER,
			      "'%s' is not a valid SIP URI", endpoint);
	if (sip && !phone_sip_uri_is_number(endpoint, region)) {
		if (!p->allow_sip_uris)
			return desk_fail(w, CCPD_ERR_FORBIDDEN, "dialing SIP "
				      "URIs is not allowed here "
				      "(allow_sip_uris); dial a phone number");
		snprintf(uri, size, "%s", endpoint);
		return 0;
	}
	r = to_e164(p, endpoint, region, e164, e164_size, w);
	if (r < 0)
		return r;
	if (!p->dial_template[0]) {
		/* no dial plan: a SIP URI naming a number still says where to
		 * send it */
		if (sip && p->allow_sip_uris) {
			snprintf(uri, size, "%s", endpoint);
			return 0;
		}
		return desk_fail(w, CCPD_ERR_INVALID_PHONE_NUMBER,
			      "cannot dial %s: no dial plan is configured "
			      "(set dial_template)", e164);
	}
	if (dialplan_expand(p->dial_template, e164, uri, size) < 0)
		return desk_fail(w, CCPD_ERR_INVALID_PHONE_NUMBER,
			      "the dialed URI would be too long");
	return 0;
}
