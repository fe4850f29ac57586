/* The admin.* methods. Each checks its parameters, writes the store, and
 * brings the live daemon in line: sessions follow their user's profile and
 * password, the desk follows the list of statuses. This file dispatches
 * them to their families in admin-*.c (see admin-int.h) and holds what the
 * families share. */
#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "admin-int.h"
#include "phone.h"
#include "auth.h"
#include "ccpd-protocol.h"
#include "desk.h"
#include "store.h"

int admin_new(struct admin **ret, struct store *st, struct auth *auth,
	      struct desk *d, const struct conf *conf)
{
	struct admin *ad = calloc(1, sizeof(*ad));

	if (!ad)
		return -ENOMEM;
	ad->st = st;
	ad->auth = auth;
	ad->desk = d;
	ad->conf = conf;
	*ret = ad;
	return 0;
}

struct admin *admin_free(struct admin *ad)
{
	free(ad);
	return NULL;
}

/* ---- parameters ---- */

int admin_param(const cJSON *params, const char *name, bool required,
		bool nullable, size_t max, const char **out, bool *present,
		struct desk_err *e)
{
	const cJSON *v = params ?
		cJSON_GetObjectItemCaseSensitive(params, name) : NULL;
	const char *p;

	*out = NULL;
	if (present)
		*present = false;
	if (!v || (cJSON_IsNull(v) && !nullable)) {
		if (required)
			return desk_fail(e, CCPD_ERR_INVALID_PARAMS,
					 "missing parameter \"%s\"", name);
		return 0;
	}
	if (present)
		*present = true;
	if (cJSON_IsNull(v))
		return 0;
	if (!cJSON_IsString(v))
		return desk_fail(e, CCPD_ERR_INVALID_PARAMS,
				 "\"%s\" must be a string", name);
	if (!v->valuestring[0])
		return desk_fail(e, CCPD_ERR_INVALID_PARAMS,
				 "\"%s\" must not be empty", name);
	if (strlen(v->valuestring) > max)
		return desk_fail(e, CCPD_ERR_INVALID_PARAMS,
				 "\"%s\" is longer than %zu bytes", name, max);
	for (p = v->valuestring; *p; p++)
		if ((unsigned char)*p < 0x20 || *p == 0x7f)
			return desk_fail(e, CCPD_ERR_INVALID_PARAMS, "\"%s\" holds "
					 "a control character", name);
	*out = v->valuestring;
	return 0;
}

int admin_param_bool(const cJSON *params, const char *name, bool *out,
		     bool *present, struct desk_err *e)
{
	const cJSON *v = params ?
		cJSON_GetObjectItemCaseSensitive(params, name) : NULL;

	*present = false;
	if (!v || cJSON_IsNull(v))
		return 0;
	if (!cJSON_IsBool(v))
		return desk_fail(e, CCPD_ERR_INVALID_PARAMS,
				 "\"%s\" must be true or false", name);
	*present = true;
	*out = cJSON_IsTrue(v);
	return 0;
}

cJSON *admin_row(const char *key, const char *value, struct desk_err *e)
{
	cJSON *row = cJSON_CreateObject();

	if (!row)
		desk_fail(e, CCPD_ERR_INTERNAL, "out of memory");
	else if (value)
		cJSON_AddStringToObject(row, key, value);
	return row;
}

int admin_store_error(struct desk_err *e, int r, const char *what,
		      const char *key)
{
	switch (r) {
	case -ENOENT:
		return desk_fail(e, CCPD_ERR_NOT_FOUND, "no %s '%s'", what, key);
	case -EEXIST:
		return desk_fail(e, CCPD_ERR_INVALID_STATE, "%s '%s' already "
				 "exists", what, key);
	case -EBUSY:
		return desk_fail(e, CCPD_ERR_INVALID_STATE, "%s '%s' is in use",
				 what, key);
	default:
		return desk_fail(e, CCPD_ERR_INTERNAL, "the store failed: %s",
				 strerror(-r));
	}
}

/* ---- validation ---- */

/* A number in E.164 form that libphonenumber finds valid, written
 * exactly as its E.164 form (no spaces, no punctuation). */
bool admin_valid_e164(const char *s)
{
	struct phone_number *n = NULL;
	enum phone_error why;
	char e164[PHONE_E164_MAX];
	bool ok;

	if (*s != '+' || phone_parse(s, NULL, &n, &why) < 0)
		return false;
	ok = phone_format(n, PHONE_FMT_E164, e164, sizeof(e164)) == 0 &&
	     strcmp(e164, s) == 0;
	phone_number_free(n);
	return ok;
}

bool admin_valid_sip_uri(const char *s)
{
	const char *p;

	if (strncmp(s, "sip:", 4) != 0 && strncmp(s, "sips:", 5) != 0)
		return false;
	for (p = s; *p; p++)
		if ((unsigned char)*p <= ' ' || *p == '"' || *p == '<' ||
		    *p == '>' || *p == 0x7f)
			return false;
	p = strchr(s, ':') + 1;
	return *p && *p != '@' && strlen(s) <= CCPD_MAX_ENDPOINT;
}

bool admin_valid_endpoint(const char *s)
{
	return admin_valid_e164(s) || admin_valid_sip_uri(s);
}

/* scheme://host[:port], the scheme http or https, the host a DNS name, an
 * IPv4 address or [an IPv6 address]; no path. Browsers send Origin so. */
bool admin_valid_origin(const char *s)
{
	const char *h, *p;
	unsigned long port;
	char *end;

	if (strncmp(s, "https://", 8) == 0)
		h = s + 8;
	else if (strncmp(s, "http://", 7) == 0)
		h = s + 7;
	else
		return false;
	if (*h == '[') {
		p = strchr(h, ']');
		if (!p || p == h + 1)
			return false;
		for (h++; h < p; h++)
			if (!isxdigit((unsigned char)*h) && *h != ':' &&
			    *h != '.')
				return false;
		p++;
	} else {
		for (p = h; *p && *p != ':'; p++)
			if (!isalnum((unsigned char)*p) && *p != '-' &&
			    *p != '.')
				return false;
		if (p == h || *h == '.' || *h == '-' || p - h > 253)
			return false;
	}
	if (!*p)
		return true;
	if (*p != ':' || !isdigit((unsigned char)p[1]))
		return false;
	port = strtoul(p + 1, &end, 10);
	return !*end && port >= 1 && port <= 65535 && strlen(p + 1) <= 5;
}

/* ---- sessions follow the users ---- */

void admin_sessions_ended(struct admin *ad, const char *username)
{
	const char *at = desk_user(ad->desk);
	struct desk_err e = { 0 };

	if (at && strcmp(at, username) == 0 &&
	    auth_user_sessions(ad->auth, username) == 0)
		desk_set_user(ad->desk, NULL, NULL, &e);
}

/* ---- rows shown through a filter ---- */

int admin_list_public(struct admin *ad, const struct store_table *t,
		      const char *what, admin_public_fn *pub, cJSON **res,
		      struct desk_err *e)
{
	cJSON *list, *row;
	int r = store_list(ad->st, t, &list);

	if (r < 0)
		return admin_store_error(e, r, what, "");
	cJSON_ArrayForEach(row, list)
		pub(ad, row);
	*res = list;
	return 0;
}

int admin_get_public(struct admin *ad, const cJSON *params,
		     const char *key, const struct store_table *t,
		     const char *what, admin_public_fn *pub, cJSON **res,
		     struct desk_err *e)
{
	const char *name;
	cJSON *row;
	int r = admin_param(params, key, true, false, 64, &name, NULL, e);

	if (r < 0)
		return r;
	r = store_get(ad->st, t, name, &row);
	if (r < 0)
		return admin_store_error(e, r, what, name);
	*res = pub(ad, row);
	return 0;
}

/* ---- dispatch ---- */

static const struct {
	const char *name;
	admin_h *h;
} plain[] = {
	{ "admin.users.list", admin_users_list },
	{ "admin.users.get", admin_users_get },
	{ "admin.users.create", admin_users_create },
	{ "admin.users.update", admin_users_update },
	{ "admin.users.delete", admin_users_delete },
	{ "admin.profiles.list", admin_profiles_list },
	{ "admin.profiles.get", admin_profiles_get },
	{ "admin.profiles.create", admin_profiles_create },
	{ "admin.profiles.update", admin_profiles_update },
	{ "admin.profiles.delete", admin_profiles_delete },
	{ "admin.statuses.list", admin_statuses_list },
	{ "admin.statuses.get", admin_statuses_get },
	{ "admin.statuses.create", admin_statuses_create },
	{ "admin.statuses.update", admin_statuses_update },
	{ "admin.statuses.delete", admin_statuses_delete },
};

int admin_may_grant(struct admin *ad, perm_set set, const char *what,
		    struct desk_err *e)
{
	perm_set lacking = set & ~ad->caller;
	int k;

	for (k = 0; k < PERM_COUNT; k++)
		if (lacking & PERM_BIT(k))
			return desk_fail(e, CCPD_ERR_FORBIDDEN, "%s holds the "
					 "permission %s, which the caller "
					 "does not", what,
					 perm_name((enum perm)k));
	return 0;
}

int admin_call(struct admin *ad, const char *method, const cJSON *params,
	       perm_set caller, cJSON **result, struct desk_err *e)
{
	size_t i;
	int r;

	*result = NULL;
	ad->caller = caller;
	for (i = 0; i < sizeof(plain) / sizeof(plain[0]); i++)
		if (strcmp(plain[i].name, method) == 0) {
			r = plain[i].h(ad, params, result, e);
			goto out;
		}
	r = admin_keyed_call(ad, method, params, result, e);
out:
	if (r == 0 && !*result)
		return desk_fail(e, CCPD_ERR_INTERNAL, "out of memory");
	if (r < 0) {
		cJSON_Delete(*result);
		*result = NULL;
	}
	return r;
}
