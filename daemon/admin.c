/* The admin.* methods. Each checks its parameters, writes the store, and
 * brings the live daemon in line: sessions follow their user's profile and
 * password, the desk follows the list of statuses. */
#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "admin.h"
#include "phone.h"
#include "auth.h"
#include "ccpd-protocol.h"
#include "conf.h"
#include "desk.h"
#include "log.h"
#include "store.h"
#include "util.h"

#define MAX_CUSTOM_STATUSES 30

struct admin {
	struct store *st;
	struct auth *auth;
	struct desk *desk;
	const struct conf *conf;
};

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

/* A string member: *present says whether it was given, *out is NULL when
 * it was given as null (and null is allowed). */
static int param(const cJSON *params, const char *name, bool required,
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

static int param_bool(const cJSON *params, const char *name, bool *out,
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

/* A store result in protocol terms. */
static int store_error(struct desk_err *e, int r, const char *what,
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

static bool valid_sip_uri(const char *s)
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
	return admin_valid_e164(s) || valid_sip_uri(s);
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

static bool valid_username(const char *s)
{
	size_t n = strlen(s), i;

	if (n < 1 || n > 64 || !isalnum((unsigned char)s[0]))
		return false;
	for (i = 0; i < n; i++)
		if (!isalnum((unsigned char)s[i]) && !strchr("._@-", s[i]))
			return false;
	/* the journal's name for "nobody at the desk" */
	return strcasecmp(s, "system") != 0;
}

static bool valid_profile_name(const char *s)
{
	size_t n = strlen(s), i;

	if (n < 1 || n > 64 || !isalpha((unsigned char)s[0]))
		return false;
	for (i = 0; i < n; i++)
		if (!isalnum((unsigned char)s[i]) && !strchr(" _-", s[i]))
			return false;
	return true;
}

static bool valid_region(const char *s)
{
	return strlen(s) == 2 && isupper((unsigned char)s[0]) &&
	       isupper((unsigned char)s[1]);
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

/* ---- users ---- */

static cJSON *user_public(struct admin *ad, cJSON *row)
{
	const cJSON *name = cJSON_GetObjectItemCaseSensitive(row, "username");
	const char *at = desk_user(ad->desk);

	cJSON_DeleteItemFromObjectCaseSensitive(row, "passwordHash");
	if (cJSON_IsString(name)) {
		cJSON_AddNumberToObject(row, "sessions", auth_user_sessions(
			ad->auth, name->valuestring));
		cJSON_AddBoolToObject(row, "atDesk", at &&
				      strcmp(at, name->valuestring) == 0);
	}
	return row;
}

/* list and get for a table whose rows are shown through a filter (users
 * lose their password hash, profiles gain their permission names) */
typedef cJSON *(public_fn)(struct admin *ad, cJSON *row);

static int list_public(struct admin *ad, const struct store_table *t,
		       const char *what, public_fn *pub, cJSON **res,
		       struct desk_err *e)
{
	cJSON *list, *row;
	int r = store_list(ad->st, t, &list);

	if (r < 0)
		return store_error(e, r, what, "");
	cJSON_ArrayForEach(row, list)
		pub(ad, row);
	*res = list;
	return 0;
}

static int get_public(struct admin *ad, const cJSON *params,
		      const char *key, const struct store_table *t,
		      const char *what, public_fn *pub, cJSON **res,
		      struct desk_err *e)
{
	const char *name;
	cJSON *row;
	int r = param(params, key, true, false, 64, &name, NULL, e);

	if (r < 0)
		return r;
	r = store_get(ad->st, t, name, &row);
	if (r < 0)
		return store_error(e, r, what, name);
	*res = pub(ad, row);
	return 0;
}

static int users_list(struct admin *ad, const cJSON *params, cJSON **res,
		      struct desk_err *e)
{
	(void)params;
	return list_public(ad, &store_users, "user", user_public, res, e);
}

static int users_get(struct admin *ad, const cJSON *params, cJSON **res,
		     struct desk_err *e)
{
	return get_public(ad, params, "username", &store_users, "user",
			  user_public, res, e);
}

/* The members a user may be given at creation or update, checked; added to
 * row as they will be stored. */
static int user_fields(struct admin *ad, const cJSON *params, cJSON *row,
		       bool creating, struct desk_err *e)
{
	const char *v, *phone = NULL, *ext = NULL;
	bool present, ext_present;
	cJSON *old = NULL;
	int r;

	r = param(params, "displayName", false, true, 128, &v, &present, e);
	if (r < 0)
		return r;
	if (present)
		cJSON_AddItemToObject(row, "displayName", v ?
				      cJSON_CreateString(v) : cJSON_CreateNull());
	r = param(params, "profile", creating, false, 64, &v, &present, e);
	if (r < 0)
		return r;
	if (present) {
		perm_set set;

		if (auth_profile_perms(ad->auth, v, &set) < 0)
			return desk_fail(e, CCPD_ERR_NOT_FOUND, "no security "
					 "profile '%s'", v);
		cJSON_AddStringToObject(row, "profile", v);
	}
	r = param(params, "phoneType", false, false, 16, &phone, &present, e);
	if (r < 0)
		return r;
	if (present && strcmp(phone, "softphone") != 0 &&
	    strcmp(phone, "deskphone") != 0)
		return desk_fail(e, CCPD_ERR_INVALID_PARAMS, "\"phoneType\" is "
				 "softphone or deskphone");
	r = param(params, "extension", false, true, 16, &ext, &ext_present, e);
	if (r < 0)
		return r;
	if (ext && !admin_valid_e164(ext))
		return desk_fail(e, CCPD_ERR_INVALID_PHONE_NUMBER, "\"extension\" "
				 "'%s' is not a number in E.164 form (+ and 7 to 15 "
				 "digits)", ext);
	/* a desk phone needs its number, whether given now or before */
	if (!creating && (!present || !ext_present)) {
		const cJSON *u = cJSON_GetObjectItemCaseSensitive(params,
								  "username");

		if (cJSON_IsString(u))
			store_get(ad->st, &store_users, u->valuestring, &old);
	}
	{
		const char *eff_phone = present ? phone : old ?
			cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(
				old, "phoneType")) : "softphone";
		const char *eff_ext = ext_present ? ext : old ?
			cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(
				old, "extension")) : NULL;

		if (eff_phone && strcmp(eff_phone, "deskphone") == 0 &&
		    !eff_ext) {
			cJSON_Delete(old);
			return desk_fail(e, CCPD_ERR_INVALID_PARAMS, "a desk phone "
					 "needs an \"extension\" (its E.164 "
					 "number)");
		}
	}
	cJSON_Delete(old);
	if (present)
		cJSON_AddStringToObject(row, "phoneType", phone);
	if (ext_present)
		cJSON_AddItemToObject(row, "extension", ext ?
				      cJSON_CreateString(ext) :
				      cJSON_CreateNull());
	r = param(params, "sipAccount", false, true, 256, &v, &present, e);
	if (r < 0)
		return r;
	if (v && !valid_sip_uri(v))
		return desk_fail(e, CCPD_ERR_INVALID_PARAMS, "\"sipAccount\" '%s' "
				 "is not a sip: or sips: URI", v);
	if (present)
		cJSON_AddItemToObject(row, "sipAccount", v ?
				      cJSON_CreateString(v) : cJSON_CreateNull());
	r = param(params, "region", false, true, 2, &v, &present, e);
	if (r < 0)
		return r;
	if (v && !valid_region(v))
		return desk_fail(e, CCPD_ERR_INVALID_PARAMS, "\"region\" is a "
				 "two-letter country code such as GB");
	if (present)
		cJSON_AddItemToObject(row, "region", v ?
				      cJSON_CreateString(v) : cJSON_CreateNull());
	return 0;
}

/* Sets the password members of row: the one given, or a one-time one
 * written into otp[] when none is given and generate is set. */
static int user_password(struct admin *ad, const cJSON *params, cJSON *row,
			 bool generate, char *otp, size_t otp_size,
			 struct desk_err *e)
{
	const char *pw;
	bool present, must = false, must_given;
	char *hash = NULL, why[160];
	int r;

	otp[0] = '\0';
	r = param(params, "password", false, false, 256, &pw, &present, e);
	if (r == 0)
		r = param_bool(params, "mustChangePassword", &must, &must_given,
			       e);
	if (r < 0)
		return r;
	if (!present && !generate) {
		if (must_given)
			cJSON_AddBoolToObject(row, "mustChangePassword", must);
		return 0;
	}
	if (present && auth_check_password(ad->auth, pw, why, sizeof(why)) < 0)
		return desk_fail(e, CCPD_ERR_INVALID_PARAMS, "%s", why);
	if (!present) {
		r = auth_random_password(otp, otp_size);
		if (r < 0)
			return desk_fail(e, CCPD_ERR_INTERNAL, "no randomness: %s",
					 strerror(-r));
		pw = otp;
		/* a password someone else has seen is for one login */
		must = true;
	} else if (!must_given) {
		/* set by an administrator: the user chooses their own at
		 * first login, unless told otherwise */
		must = true;
	}
	r = auth_hash_password(pw, &hash);
	if (r < 0)
		return desk_fail(e, CCPD_ERR_INTERNAL, "cannot hash the password: "
				 "%s", strerror(-r));
	cJSON_AddStringToObject(row, "passwordHash", hash);
	cJSON_AddBoolToObject(row, "mustChangePassword", must);
	free(hash);
	return 0;
}

static cJSON *created_answer(struct admin *ad, const char *name,
			     const char *otp)
{
	cJSON *o = cJSON_CreateObject(), *row = NULL;

	if (!o)
		return NULL;
	if (store_get(ad->st, &store_users, name, &row) == 0)
		cJSON_AddItemToObject(o, "user", user_public(ad, row));
	if (otp[0])
		cJSON_AddStringToObject(o, "oneTimePassword", otp);
	else
		cJSON_AddNullToObject(o, "oneTimePassword");
	cJSON_AddStringToObject(o, "ccpUrl", ad->conf->ccp_url);
	return o;
}

static int users_create(struct admin *ad, const cJSON *params, cJSON **res,
			struct desk_err *e)
{
	const char *name;
	char otp[32];
	cJSON *row;
	uint64_t now = util_now_ms();
	int r = param(params, "username", true, false, 64, &name, NULL, e);

	if (r < 0)
		return r;
	if (!valid_username(name))
		return desk_fail(e, CCPD_ERR_INVALID_PARAMS, "\"username\" '%s' is "
				 "not valid: a letter or digit, then letters, "
				 "digits, '.', '_', '@' or '-', at most 64; not "
				 "'system'", name);
	row = cJSON_CreateObject();
	if (!row)
		return desk_fail(e, CCPD_ERR_INTERNAL, "out of memory");
	cJSON_AddStringToObject(row, "username", name);
	r = user_fields(ad, params, row, true, e);
	if (r == 0)
		r = user_password(ad, params, row, true, otp, sizeof(otp), e);
	if (r < 0) {
		cJSON_Delete(row);
		return r;
	}
	if (!cJSON_GetObjectItemCaseSensitive(row, "displayName"))
		cJSON_AddStringToObject(row, "displayName", name);
	cJSON_AddNumberToObject(row, "created", (double)now);
	cJSON_AddNumberToObject(row, "updated", (double)now);
	r = store_insert(ad->st, &store_users, row);
	cJSON_Delete(row);
	if (r < 0)
		return store_error(e, r, "user", name);
	log_info("admin: user '%s' created", name);
	*res = created_answer(ad, name, otp);
	explicit_bzero(otp, sizeof(otp));
	return 0;
}

static int users_update(struct admin *ad, const cJSON *params, cJSON **res,
			struct desk_err *e)
{
	const char *name;
	char otp[32];
	bool reset = false, reset_given, new_password;
	cJSON *row, *cur;
	int r = param(params, "username", true, false, 64, &name, NULL, e);

	if (r == 0)
		r = param_bool(params, "resetPassword", &reset, &reset_given,
			       e);
	if (r < 0)
		return r;
	r = store_get(ad->st, &store_users, name, &cur);
	if (r < 0)
		return store_error(e, r, "user", name);
	cJSON_Delete(cur);
	row = cJSON_CreateObject();
	if (!row)
		return desk_fail(e, CCPD_ERR_INTERNAL, "out of memory");
	r = user_fields(ad, params, row, false, e);
	if (r == 0)
		r = user_password(ad, params, row, reset, otp, sizeof(otp), e);
	if (r < 0) {
		cJSON_Delete(row);
		return r;
	}
	new_password = cJSON_GetObjectItemCaseSensitive(row, "passwordHash");
	cJSON_AddNumberToObject(row, "updated", (double)util_now_ms());
	r = store_update(ad->st, &store_users, name, row);
	cJSON_Delete(row);
	if (r < 0)
		return store_error(e, r, "user", name);
	if (new_password) {
		/* whoever knew the old password is logged out */
		auth_end_user(ad->auth, name);
		admin_sessions_ended(ad, name);
	} else {
		auth_refresh(ad->auth);
	}
	log_info("admin: user '%s' updated", name);
	*res = created_answer(ad, name, otp);
	explicit_bzero(otp, sizeof(otp));
	return 0;
}

static int users_delete(struct admin *ad, const cJSON *params, cJSON **res,
			struct desk_err *e)
{
	const char *name;
	int r = param(params, "username", true, false, 64, &name, NULL, e);

	if (r < 0)
		return r;
	r = store_delete(ad->st, &store_users, name);
	if (r < 0)
		return store_error(e, r, "user", name);
	auth_end_user(ad->auth, name);
	admin_sessions_ended(ad, name);
	log_info("admin: user '%s' deleted", name);
	*res = cJSON_CreateObject();
	return 0;
}

/* ---- security profiles ---- */

static cJSON *profile_public(struct admin *ad, cJSON *row)
{
	const cJSON *name = cJSON_GetObjectItemCaseSensitive(row, "name");

	if (cJSON_IsString(name))
		cJSON_AddNumberToObject(row, "users", store_count(
			ad->st, &store_users, "profile", name->valuestring));
	return row;
}

static int profiles_list(struct admin *ad, const cJSON *params, cJSON **res,
			 struct desk_err *e)
{
	(void)params;
	return list_public(ad, &store_profiles, "profile", profile_public,
			   res, e);
}

static int profiles_get(struct admin *ad, const cJSON *params, cJSON **res,
			struct desk_err *e)
{
	return get_public(ad, params, "name", &store_profiles,
			  "security profile", profile_public, res, e);
}

/* "permissions": an array of known names, each once. */
static int profile_perms(const cJSON *params, bool required, cJSON *row,
			 struct desk_err *e)
{
	const cJSON *v = params ?
		cJSON_GetObjectItemCaseSensitive(params, "permissions") : NULL;
	const cJSON *p;
	perm_set seen = 0;
	cJSON *a;

	if (!v || cJSON_IsNull(v)) {
		if (required)
			return desk_fail(e, CCPD_ERR_INVALID_PARAMS,
					 "missing parameter \"permissions\"");
		return 0;
	}
	if (!cJSON_IsArray(v))
		return desk_fail(e, CCPD_ERR_INVALID_PARAMS, "\"permissions\" must "
				 "be an array of permission names");
	a = cJSON_AddArrayToObject(row, "permissions");
	cJSON_ArrayForEach(p, v) {
		int k = cJSON_IsString(p) ? perm_find(p->valuestring) : -1;

		if (k < 0)
			return desk_fail(e, CCPD_ERR_INVALID_PARAMS, "unknown "
					 "permission %s%s%s", cJSON_IsString(p) ?
					 "'" : "", cJSON_IsString(p) ?
					 p->valuestring : "(not a string)",
					 cJSON_IsString(p) ? "'" : "");
		if (seen & PERM_BIT(k))
			continue;
		seen |= PERM_BIT(k);
		cJSON_AddItemToArray(a, cJSON_CreateString(p->valuestring));
	}
	return 0;
}

static int profiles_create(struct admin *ad, const cJSON *params,
			   cJSON **res, struct desk_err *e)
{
	const char *name, *desc;
	bool present;
	cJSON *row;
	int r = param(params, "name", true, false, 64, &name, NULL, e);

	if (r == 0)
		r = param(params, "description", false, true, 256, &desc,
			  &present, e);
	if (r < 0)
		return r;
	if (!valid_profile_name(name))
		return desk_fail(e, CCPD_ERR_INVALID_PARAMS, "\"name\" '%s' is not "
				 "valid: a letter, then letters, digits, ' ', '_' "
				 "or '-', at most 64", name);
	row = cJSON_CreateObject();
	if (!row)
		return desk_fail(e, CCPD_ERR_INTERNAL, "out of memory");
	cJSON_AddStringToObject(row, "name", name);
	if (desc)
		cJSON_AddStringToObject(row, "description", desc);
	cJSON_AddBoolToObject(row, "builtin", false);
	r = profile_perms(params, true, row, e);
	if (r == 0) {
		r = store_insert(ad->st, &store_profiles, row);
		if (r < 0)
			r = store_error(e, r, "security profile", name);
	}
	cJSON_Delete(row);
	if (r < 0)
		return r;
	log_info("admin: security profile '%s' created", name);
	return profiles_get(ad, params, res, e);
}

/* Admin cannot change: it is the way back in. Built-in profiles keep
 * their names. */
static int profile_guard(struct admin *ad, const char *name, bool renaming,
			 bool deleting, struct desk_err *e)
{
	cJSON *row;
	bool builtin;
	int r = store_get(ad->st, &store_profiles, name, &row);

	if (r < 0)
		return store_error(e, r, "security profile", name);
	builtin = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(row,
								"builtin"));
	cJSON_Delete(row);
	if (strcmp(name, PERMS_ADMIN_PROFILE) == 0)
		return desk_fail(e, CCPD_ERR_INVALID_STATE, "the %s profile cannot "
				 "be changed or deleted", PERMS_ADMIN_PROFILE);
	if (builtin && (renaming || deleting))
		return desk_fail(e, CCPD_ERR_INVALID_STATE, "the built-in profile "
				 "'%s' cannot be %s", name,
				 deleting ? "deleted" : "renamed");
	return 0;
}

static int profiles_update(struct admin *ad, const cJSON *params,
			   cJSON **res, struct desk_err *e)
{
	const char *name, *new_name, *desc;
	bool present, renaming;
	cJSON *row, *key;
	int r = param(params, "name", true, false, 64, &name, NULL, e);

	if (r == 0)
		r = param(params, "newName", false, false, 64, &new_name,
			  &renaming, e);
	if (r == 0)
		r = param(params, "description", false, true, 256, &desc,
			  &present, e);
	if (r < 0)
		return r;
	if (renaming && !valid_profile_name(new_name))
		return desk_fail(e, CCPD_ERR_INVALID_PARAMS, "\"newName\" '%s' is "
				 "not a valid profile name", new_name);
	r = profile_guard(ad, name, renaming, false, e);
	if (r < 0)
		return r;
	row = cJSON_CreateObject();
	if (!row)
		return desk_fail(e, CCPD_ERR_INTERNAL, "out of memory");
	if (renaming)
		cJSON_AddStringToObject(row, "name", new_name);
	if (present)
		cJSON_AddItemToObject(row, "description", desc ?
				      cJSON_CreateString(desc) :
				      cJSON_CreateNull());
	r = profile_perms(params, false, row, e);
	if (r == 0) {
		r = store_update(ad->st, &store_profiles, name, row);
		if (r < 0)
			r = store_error(e, r, "security profile",
					r == -EEXIST ? new_name : name);
	}
	cJSON_Delete(row);
	if (r < 0)
		return r;
	auth_refresh(ad->auth);
	log_info("admin: security profile '%s' updated", name);
	key = cJSON_CreateObject();
	if (!key)
		return desk_fail(e, CCPD_ERR_INTERNAL, "out of memory");
	cJSON_AddStringToObject(key, "name", renaming ? new_name : name);
	r = profiles_get(ad, key, res, e);
	cJSON_Delete(key);
	return r;
}

static int profiles_delete(struct admin *ad, const cJSON *params,
			   cJSON **res, struct desk_err *e)
{
	const char *name;
	int n, r = param(params, "name", true, false, 64, &name, NULL, e);

	if (r < 0)
		return r;
	r = profile_guard(ad, name, false, true, e);
	if (r < 0)
		return r;
	n = store_count(ad->st, &store_users, "profile", name);
	if (n > 0)
		return desk_fail(e, CCPD_ERR_INVALID_STATE, "security profile '%s' "
				 "is given to %d user%s", name, n, n == 1 ? "" : "s");
	r = store_delete(ad->st, &store_profiles, name);
	if (r < 0)
		return store_error(e, r, "security profile", name);
	log_info("admin: security profile '%s' deleted", name);
	*res = cJSON_CreateObject();
	return 0;
}

/* ---- statuses ---- */

static cJSON *status_json(const char *name, const char *type, bool builtin)
{
	cJSON *o = cJSON_CreateObject();

	if (!o)
		return NULL;
	cJSON_AddStringToObject(o, "name", name);
	cJSON_AddStringToObject(o, "type", type);
	cJSON_AddBoolToObject(o, "builtin", builtin);
	return o;
}

static bool builtin_status(const char *name)
{
	return strcmp(name, "Available") == 0 || strcmp(name, "Offline") == 0;
}

static int statuses_list(struct admin *ad, const cJSON *params, cJSON **res,
			 struct desk_err *e)
{
	char **names;
	size_t n, i;
	cJSON *a;
	int r = store_status_names(ad->st, &names, &n);

	(void)params;
	if (r < 0)
		return store_error(e, r, "status", "");
	a = cJSON_CreateArray();
	if (a) {
		cJSON_AddItemToArray(a, status_json("Available", "routable",
						    true));
		cJSON_AddItemToArray(a, status_json("Offline", "offline",
						    true));
		for (i = 0; i < n; i++)
			cJSON_AddItemToArray(a, status_json(
				names[i], "not_routable", false));
	}
	store_free_names(names, n);
	if (!a)
		return desk_fail(e, CCPD_ERR_INTERNAL, "out of memory");
	*res = a;
	return 0;
}

static int statuses_get(struct admin *ad, const cJSON *params, cJSON **res,
			struct desk_err *e)
{
	const char *name;
	cJSON *row;
	int r = param(params, "name", true, false, 64, &name, NULL, e);

	if (r < 0)
		return r;
	if (builtin_status(name)) {
		*res = status_json(name, strcmp(name, "Available") == 0 ?
				   "routable" : "offline", true);
		return 0;
	}
	r = store_get(ad->st, &store_statuses, name, &row);
	if (r < 0)
		return store_error(e, r, "status", name);
	cJSON_Delete(row);
	*res = status_json(name, "not_routable", false);
	return 0;
}

/* The store's list goes to the desk, which applies it when it can. */
static int statuses_apply(struct admin *ad, const char *name, cJSON **res,
			  struct desk_err *e)
{
	char **names;
	size_t n;
	int r = store_status_names(ad->st, &names, &n);

	if (r < 0)
		return store_error(e, r, "status", "");
	r = desk_set_statuses(ad->desk, (const char *const *)names, n);
	store_free_names(names, n);
	if (r < 0)
		return desk_fail(e, CCPD_ERR_INTERNAL, "out of memory");
	*res = name ? status_json(name, "not_routable", false)
		    : cJSON_CreateObject();
	if (*res)
		cJSON_AddBoolToObject(*res, "applied", r == 0);
	return 0;
}

static int check_status_name(const char *field, const char *name,
			     struct desk_err *e)
{
	char why[160];

	if (conf_check_status_name(name, why, sizeof(why)) < 0)
		return desk_fail(e, CCPD_ERR_INVALID_PARAMS, "\"%s\": %s", field,
				 why);
	return 0;
}

static int statuses_create(struct admin *ad, const cJSON *params,
			   cJSON **res, struct desk_err *e)
{
	const char *name;
	char **names;
	size_t n;
	cJSON *row;
	int r = param(params, "name", true, false, 64, &name, NULL, e);

	if (r == 0)
		r = check_status_name("name", name, e);
	if (r < 0)
		return r;
	r = store_status_names(ad->st, &names, &n);
	if (r < 0)
		return store_error(e, r, "status", name);
	store_free_names(names, n);
	if (n >= MAX_CUSTOM_STATUSES)
		return desk_fail(e, CCPD_ERR_INVALID_STATE, "at most %d custom "
				 "statuses", MAX_CUSTOM_STATUSES);
	row = cJSON_CreateObject();
	if (!row)
		return desk_fail(e, CCPD_ERR_INTERNAL, "out of memory");
	cJSON_AddStringToObject(row, "name", name);
	r = store_insert(ad->st, &store_statuses, row);
	cJSON_Delete(row);
	if (r < 0)
		return store_error(e, r, "status", name);
	log_info("admin: status '%s' created", name);
	return statuses_apply(ad, name, res, e);
}

static int status_guard(struct admin *ad, const char *name,
			struct desk_err *e)
{
	if (builtin_status(name))
		return desk_fail(e, CCPD_ERR_INVALID_STATE, "%s is built in and "
				 "cannot change", name);
	if (desk_status_in_use(ad->desk, name))
		return desk_fail(e, CCPD_ERR_INVALID_STATE, "status '%s' is in use: "
				 "the agent's status or next status is %s", name,
				 name);
	return 0;
}

static int statuses_update(struct admin *ad, const cJSON *params,
			   cJSON **res, struct desk_err *e)
{
	const char *name, *new_name;
	cJSON *row;
	int r = param(params, "name", true, false, 64, &name, NULL, e);

	if (r == 0)
		r = param(params, "newName", true, false, 64, &new_name, NULL,
			  e);
	if (r == 0)
		r = check_status_name("newName", new_name, e);
	if (r == 0)
		r = status_guard(ad, name, e);
	if (r < 0)
		return r;
	row = cJSON_CreateObject();
	if (!row)
		return desk_fail(e, CCPD_ERR_INTERNAL, "out of memory");
	cJSON_AddStringToObject(row, "name", new_name);
	r = store_update(ad->st, &store_statuses, name, row);
	cJSON_Delete(row);
	if (r < 0)
		return store_error(e, r, "status", r == -EEXIST ? new_name
							      : name);
	log_info("admin: status '%s' renamed '%s'", name, new_name);
	return statuses_apply(ad, new_name, res, e);
}

static int statuses_delete(struct admin *ad, const cJSON *params,
			   cJSON **res, struct desk_err *e)
{
	const char *name;
	int r = param(params, "name", true, false, 64, &name, NULL, e);

	if (r == 0)
		r = status_guard(ad, name, e);
	if (r < 0)
		return r;
	r = store_delete(ad->st, &store_statuses, name);
	if (r < 0)
		return store_error(e, r, "status", name);
	log_info("admin: status '%s' deleted", name);
	return statuses_apply(ad, NULL, res, e);
}

/* ---- phone numbers, origins, quick connects: keyed rows ---- */

struct keyed {
	const struct store_table *table;
	const char *what;           /* in messages */
	const char *key;            /* the key member */
	size_t key_max;
	const char *new_key;        /* the rename member, or NULL */
	bool (*valid_key)(const char *s);
	const char *key_rule;       /* what a valid key is, in words */
	int key_code;               /* the error for a bad key */
};

static bool valid_qc_name(const char *s)
{
	return strlen(s) <= 64;
}

static const struct keyed numbers = {
	&store_numbers, "phone number", "number", 32, NULL,
	admin_valid_e164, "a valid number in E.164 form (+, the country code and the number, nothing else)",
	CCPD_ERR_INVALID_PHONE_NUMBER,
};
static const struct keyed origins = {
	&store_origins, "origin", "origin", 300, "newOrigin",
	admin_valid_origin, "scheme://host[:port], the scheme http or https, "
	"no path", CCPD_ERR_INVALID_PARAMS,
};
static const struct keyed quick_connects = {
	&store_quick_connects, "quick connect", "name", 64, "newName",
	valid_qc_name, "at most 64 characters", CCPD_ERR_INVALID_PARAMS,
};

/* Origins compare as browsers send them: scheme and host in lower case. */
static void normalize_key(const struct keyed *k, char *key)
{
	char *p;

	if (k != &origins)
		return;
	for (p = key; *p; p++)
		*p = (char)tolower((unsigned char)*p);
}

static int keyed_key(const struct keyed *k, const cJSON *params,
		     const char *member, bool required, char *out,
		     size_t size, bool *present, struct desk_err *e)
{
	const char *v;
	int r = param(params, member, required, false, k->key_max, &v,
		      present, e);

	if (r < 0 || !v)
		return r;
	snprintf(out, size, "%s", v);
	normalize_key(k, out);
	if (!k->valid_key(out))
		return desk_fail(e, k->key_code, "\"%s\" '%s' is not valid: %s",
				 member, v, k->key_rule);
	return 0;
}

/* The other members: description always, and per table. */
static int keyed_fields(struct admin *ad, const struct keyed *k,
			const cJSON *params, bool creating, cJSON *row,
			struct desk_err *e)
{
	const char *v;
	bool present;
	cJSON *u;
	int r = param(params, "description", false, true, 256, &v, &present,
		      e);

	if (r < 0)
		return r;
	if (present)
		cJSON_AddItemToObject(row, "description", v ?
				      cJSON_CreateString(v) : cJSON_CreateNull());
	if (k == &numbers) {
		r = param(params, "username", false, true, 64, &v, &present, e);
		if (r < 0)
			return r;
		if (v && store_get(ad->st, &store_users, v, &u) < 0)
			return desk_fail(e, CCPD_ERR_NOT_FOUND, "no user '%s'", v);
		if (v)
			cJSON_Delete(u);
		if (present)
			cJSON_AddItemToObject(row, "username", v ?
					      cJSON_CreateString(v) :
					      cJSON_CreateNull());
	} else if (k == &quick_connects) {
		r = param(params, "endpoint", creating, false,
			  CCPD_MAX_ENDPOINT, &v, &present, e);
		if (r < 0)
			return r;
		if (present && !admin_valid_endpoint(v))
			return desk_fail(e, CCPD_ERR_INVALID_PHONE_NUMBER,
					 "\"endpoint\" '%s' is neither a number in "
					 "E.164 form nor a sip: URI", v);
		if (present)
			cJSON_AddStringToObject(row, "endpoint", v);
	}
	return 0;
}

static int keyed_list(struct admin *ad, const struct keyed *k, cJSON **res,
		      struct desk_err *e)
{
	int r = store_list(ad->st, k->table, res);

	return r < 0 ? store_error(e, r, k->what, "") : 0;
}

static int keyed_get(struct admin *ad, const struct keyed *k,
		     const cJSON *params, cJSON **res, struct desk_err *e)
{
	char key[320];
	int r = keyed_key(k, params, k->key, true, key, sizeof(key), NULL, e);

	if (r < 0)
		return r;
	r = store_get(ad->st, k->table, key, res);
	return r < 0 ? store_error(e, r, k->what, key) : 0;
}

static int keyed_create(struct admin *ad, const struct keyed *k,
			const cJSON *params, cJSON **res, struct desk_err *e)
{
	char key[320];
	cJSON *row;
	int r = keyed_key(k, params, k->key, true, key, sizeof(key), NULL, e);

	if (r < 0)
		return r;
	row = cJSON_CreateObject();
	if (!row)
		return desk_fail(e, CCPD_ERR_INTERNAL, "out of memory");
	cJSON_AddStringToObject(row, k->key, key);
	r = keyed_fields(ad, k, params, true, row, e);
	if (r == 0) {
		r = store_insert(ad->st, k->table, row);
		if (r < 0)
			r = store_error(e, r, k->what, key);
	}
	cJSON_Delete(row);
	if (r < 0)
		return r;
	log_info("admin: %s '%s' created", k->what, key);
	r = store_get(ad->st, k->table, key, res);
	return r < 0 ? store_error(e, r, k->what, key) : 0;
}

static int keyed_update(struct admin *ad, const struct keyed *k,
			const cJSON *params, cJSON **res, struct desk_err *e)
{
	char key[320], new_key[320] = "";
	bool renaming = false;
	cJSON *row;
	int r = keyed_key(k, params, k->key, true, key, sizeof(key), NULL, e);

	if (r == 0 && k->new_key)
		r = keyed_key(k, params, k->new_key, false, new_key,
			      sizeof(new_key), &renaming, e);
	if (r < 0)
		return r;
	row = cJSON_CreateObject();
	if (!row)
		return desk_fail(e, CCPD_ERR_INTERNAL, "out of memory");
	if (renaming)
		cJSON_AddStringToObject(row, k->key, new_key);
	r = keyed_fields(ad, k, params, false, row, e);
	if (r == 0) {
		r = store_update(ad->st, k->table, key, row);
		if (r < 0)
			r = store_error(e, r, k->what, r == -EEXIST ? new_key
								    : key);
	}
	cJSON_Delete(row);
	if (r < 0)
		return r;
	log_info("admin: %s '%s' updated", k->what, key);
	r = store_get(ad->st, k->table, renaming ? new_key : key, res);
	return r < 0 ? store_error(e, r, k->what, key) : 0;
}

static int keyed_delete(struct admin *ad, const struct keyed *k,
			const cJSON *params, cJSON **res, struct desk_err *e)
{
	char key[320];
	int r = keyed_key(k, params, k->key, true, key, sizeof(key), NULL, e);

	if (r < 0)
		return r;
	r = store_delete(ad->st, k->table, key);
	if (r < 0)
		return store_error(e, r, k->what, key);
	log_info("admin: %s '%s' deleted", k->what, key);
	*res = cJSON_CreateObject();
	return 0;
}

/* ---- dispatch ---- */

typedef int (admin_h)(struct admin *ad, const cJSON *params, cJSON **res,
		      struct desk_err *e);

static const struct {
	const char *name;
	admin_h *h;
} plain[] = {
	{ "admin.users.list", users_list },
	{ "admin.users.get", users_get },
	{ "admin.users.create", users_create },
	{ "admin.users.update", users_update },
	{ "admin.users.delete", users_delete },
	{ "admin.profiles.list", profiles_list },
	{ "admin.profiles.get", profiles_get },
	{ "admin.profiles.create", profiles_create },
	{ "admin.profiles.update", profiles_update },
	{ "admin.profiles.delete", profiles_delete },
	{ "admin.statuses.list", statuses_list },
	{ "admin.statuses.get", statuses_get },
	{ "admin.statuses.create", statuses_create },
	{ "admin.statuses.update", statuses_update },
	{ "admin.statuses.delete", statuses_delete },
};

static const struct {
	const char *prefix;
	const struct keyed *k;
} keyed_tables[] = {
	{ "admin.numbers.", &numbers },
	{ "admin.origins.", &origins },
	{ "admin.quickConnects.", &quick_connects },
};

int admin_call(struct admin *ad, const char *method, const cJSON *params,
	       cJSON **result, struct desk_err *e)
{
	size_t i, n;
	int r = -1;

	*result = NULL;
	for (i = 0; i < sizeof(plain) / sizeof(plain[0]); i++)
		if (strcmp(plain[i].name, method) == 0) {
			r = plain[i].h(ad, params, result, e);
			goto out;
		}
	for (i = 0; i < sizeof(keyed_tables) / sizeof(keyed_tables[0]); i++) {
		const struct keyed *k = keyed_tables[i].k;
		const char *op;

		n = strlen(keyed_tables[i].prefix);
		if (strncmp(method, keyed_tables[i].prefix, n) != 0)
			continue;
		op = method + n;
		if (strcmp(op, "list") == 0)
			r = keyed_list(ad, k, result, e);
		else if (strcmp(op, "get") == 0)
			r = keyed_get(ad, k, params, result, e);
		else if (strcmp(op, "create") == 0)
			r = keyed_create(ad, k, params, result, e);
		else if (strcmp(op, "update") == 0)
			r = keyed_update(ad, k, params, result, e);
		else if (strcmp(op, "delete") == 0)
			r = keyed_delete(ad, k, params, result, e);
		else
			break;
		goto out;
	}
	return desk_fail(e, CCPD_ERR_METHOD_NOT_FOUND, "no method '%.100s'",
			 method);
out:
	if (r == 0 && !*result)
		return desk_fail(e, CCPD_ERR_INTERNAL, "out of memory");
	if (r < 0) {
		cJSON_Delete(*result);
		*result = NULL;
	}
	return r;
}
