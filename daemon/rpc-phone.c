/* phone.normalize and phone.format: numbers read and written as
 * libphonenumber does, in the caller's region or the desk's. */
#include <errno.h>
#include <stdio.h>

#include "ccpd-protocol.h"
#include "desk.h"
#include "phone.h"
#include "rpc-int.h"

/* The number read in the given region, else the agent's, else the
 * instance's. */
static int parse_number(struct ctx *x, struct phone_number **n)
{
	const char *number, *region;
	enum phone_error why;
	int r = rpc_get_str(x, "number", true, CCPD_MAX_ENDPOINT, &number);

	if (r == 0)
		r = rpc_get_str(x, "region", false, 8, &region);
	if (r < 0)
		return r;
	if (region && !phone_region_known(region))
		return rpc_bad_params(x, "\"region\" must be a region such as "
				      "\"US\" or \"GB\" (ISO 3166 alpha-2); "
				      "'%s' is not one", region);
	if (!region)
		region = desk_default_region(x->peer->rpc->desk);
	r = phone_parse(number, region, n, &why);
	if (r == -EINVAL) {
		x->err.code = CCPD_ERR_INVALID_PHONE_NUMBER;
		snprintf(x->err.reason, sizeof(x->err.reason),
			 "'%s' is not a valid phone number: %s%s%s%s",
			 number, phone_error_reason(why),
			 why == PHONE_ERR_NOT_VALID && *region ?
			 " (read in " : "",
			 why == PHONE_ERR_NOT_VALID && *region ? region : "",
			 why == PHONE_ERR_NOT_VALID && *region ? ")" : "");
		return x->err.code;
	}
	if (r < 0) {
		x->err.code = CCPD_ERR_INTERNAL;
		snprintf(x->err.reason, sizeof(x->err.reason),
			 "out of memory");
		return x->err.code;
	}
	return 0;
}

static void add_format(cJSON *o, const char *name,
		       const struct phone_number *n, enum phone_format f)
{
	char buf[128];

	if (phone_format(n, f, buf, sizeof(buf)) == 0)
		cJSON_AddStringToObject(o, name, buf);
	else
		cJSON_AddNullToObject(o, name);
}

int m_phone_normalize(struct ctx *x)
{
	struct phone_number *n = NULL;
	char region[8];
	int r = parse_number(x, &n);

	if (r < 0)
		return r;
	x->result = cJSON_CreateObject();
	if (x->result) {
		add_format(x->result, "e164", n, PHONE_FMT_E164);
		add_format(x->result, "international", n,
			   PHONE_FMT_INTERNATIONAL);
		add_format(x->result, "national", n, PHONE_FMT_NATIONAL);
		phone_region_of(n, region, sizeof(region));
		cJSON_AddStringToObject(x->result, "region", region);
		cJSON_AddStringToObject(x->result, "type", phone_type_of(n));
	}
	phone_number_free(n);
	return 0;
}

int m_phone_format(struct ctx *x)
{
	struct phone_number *n = NULL;
	const char *fname;
	int f = PHONE_FMT_E164, r;

	r = rpc_get_str(x, "format", false, 32, &fname);
	if (r < 0)
		return r;
	if (fname && (f = phone_format_from_name(fname)) < 0)
		return rpc_bad_params(x, "\"format\" must be \"E164\", "
				      "\"INTERNATIONAL\", \"NATIONAL\" or "
				      "\"RFC3966\"");
	r = parse_number(x, &n);
	if (r < 0)
		return r;
	x->result = cJSON_CreateObject();
	if (x->result) {
		add_format(x->result, "formatted", n, (enum phone_format)f);
		add_format(x->result, "e164", n, PHONE_FMT_E164);
	}
	phone_number_free(n);
	return 0;
}
