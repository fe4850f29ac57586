/* admin.users.*: the users, their profile, phone and password. A new or
 * reset password is one-time unless said otherwise, and a changed
 * password logs out whoever knew the old one. */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "admin-int.h"
#include "auth.h"
#include "ccpd-protocol.h"
#include "conf.h"
#include "desk.h"
#include "log.h"
#include "sipaccount.h"
#include "sipsecret.h"
#include "store.h"
#include "util.h"

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


/* Changing a user who holds more than the caller (a new password, above
 * all) would hand the caller what that user holds. */
static int may_manage(struct admin *ad, const char *name, struct desk_err *e)
{
	const char *profile;
	char what[160];
	perm_set set = 0;
	cJSON *row;
	int r = store_get(ad->st, &store_users, name, &row);

	if (r < 0)
		return admin_store_error(e, r, "user", name);
	profile = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(
		row, "profile"));
	if (profile && auth_profile_perms(ad->auth, profile, &set) < 0)
		set = 0;
	snprintf(what, sizeof(what), "the user '%s', whose profile",
		 name);
	cJSON_Delete(row);
	return admin_may_grant(ad, set, what, e);
}

static bool valid_region(const char *s)
{
	return strlen(s) == 2 && isupper((unsigned char)s[0]) &&
	       isupper((unsigned char)s[1]);
}

static cJSON *user_public(struct admin *ad, cJSON *row)
{
	const cJSON *name = cJSON_GetObjectItemCaseSensitive(row, "username");
	const char *at = desk_user(ad->desk);

	cJSON_DeleteItemFromObjectCaseSensitive(row, "passwordHash");
	/* the SIP account without its password */
	sipaccount_public(row, ad->conf->sip_account_template);
	if (cJSON_IsString(name)) {
		cJSON_AddNumberToObject(row, "sessions", auth_user_sessions(
			ad->auth, name->valuestring));
		cJSON_AddBoolToObject(row, "atDesk", at &&
				      strcmp(at, name->valuestring) == 0);
	}
	return row;
}

int admin_users_list(struct admin *ad, const cJSON *params, cJSON **res,
		     struct desk_err *e)
{
	(void)params;
	return admin_list_public(ad, &store_users, "user", user_public, res, e);
}

int admin_users_get(struct admin *ad, const cJSON *params, cJSON **res,
		    struct desk_err *e)
{
	return admin_get_public(ad, params, "username", &store_users, "user",
				user_public, res, e);
}

/* The user's own SIP account: "sipAccount" (its address, null to remove
 * the account), "sipAuthUser", "sipRegistrar" and "sipPassword", each
 * null to remove it. What is not given stays as it was. The password is
 * stored only sealed (sipsecret), and refused without a key. */
static int sip_field(const cJSON *params, const char *key, size_t max,
		     bool (*valid)(const char *), const char *what,
		     char *out, size_t size, bool *given, struct desk_err *e)
{
	const char *v;
	bool present;
	int r = admin_param(params, key, false, true, max, &v, &present, e);

	if (r < 0)
		return r;
	if (!present)
		return 0;
	*given = true;
	if (v && !valid(v))
		return desk_fail(e, CCPD_ERR_INVALID_PARAMS, "\"%s\" is not %s",
				 key, what);
	snprintf(out, size, "%s", v ? v : "");
	return 0;
}

static bool valid_registrar(const char *s)
{
	return sipaccount_valid_uri(s) && strncmp(s, "sip:", 4) == 0;
}

static int user_sip(struct admin *ad, const cJSON *params, cJSON *row,
		    bool creating, struct desk_err *e)
{
	const char *name = cJSON_GetStringValue(
		cJSON_GetObjectItemCaseSensitive(params, "username"));
	struct sipaccount a, now;
	char aor[SIPACCOUNT_URI_MAX] = "", pw[SIPACCOUNT_USER_MAX] = "";
	bool aor_given = false, pw_given = false, other = false;
	cJSON *old = NULL;
	char *text = NULL;
	int r;

	memset(&now, 0, sizeof(now));
	r = sip_field(params, "sipAccount", SIPACCOUNT_URI_MAX - 1,
		      sipaccount_valid_uri, "a sip: or sips: URI without "
		      "spaces, ';', ',', quotes or angle brackets", aor,
		      sizeof(aor), &aor_given, e);
	if (r == 0)
		r = sip_field(params, "sipAuthUser", SIPACCOUNT_USER_MAX - 1,
			      sipaccount_valid_token, "a user name without "
			      "spaces, ';', ',', quotes or angle brackets",
			      now.auth_user, sizeof(now.auth_user), &other, e);
	if (r == 0)
		r = sip_field(params, "sipRegistrar", SIPACCOUNT_URI_MAX - 1,
			      valid_registrar, "a sip: URI such as "
			      "sip:pbx.example:5060", now.registrar,
			      sizeof(now.registrar), &other, e);
	if (r == 0)
		r = sip_field(params, "sipPassword", SIPACCOUNT_USER_MAX - 1,
			      sipaccount_valid_token, "a password without "
			      "spaces, ';', ',', quotes or angle brackets (at "
			      "most 127 characters)", pw, sizeof(pw), &pw_given,
			      e);
	if (r < 0 || (!aor_given && !other && !pw_given))
		goto out;
	if (pw_given && pw[0] && !sipsecret_ready()) {
		r = desk_fail(e, CCPD_ERR_INVALID_PARAMS, "ccpd stores SIP "
			      "passwords only encrypted, and has no key: set "
			      "sip_secret_key_file (ccpd.conf(5))");
		goto out;
	}
	/* start from what is stored, unless the account goes as a whole */
	memset(&a, 0, sizeof(a));
	if (!creating && name && !(aor_given && !aor[0]) &&
	    store_get(ad->st, &store_users, name, &old) == 0 &&
	    sipaccount_parse(cJSON_GetStringValue(
		cJSON_GetObjectItemCaseSensitive(old, "sipAccount")), &a) < 0)
		memset(&a, 0, sizeof(a));
	if (aor_given)
		snprintf(a.aor, sizeof(a.aor), "%s", aor);
	if (cJSON_GetObjectItemCaseSensitive(params, "sipAuthUser"))
		snprintf(a.auth_user, sizeof(a.auth_user), "%s", now.auth_user);
	if (cJSON_GetObjectItemCaseSensitive(params, "sipRegistrar"))
		snprintf(a.registrar, sizeof(a.registrar), "%s", now.registrar);
	if (pw_given) {
		char *sealed = NULL;

		a.sealed[0] = '\0';
		if (pw[0]) {
			r = sipsecret_seal(name ? name : "", pw, &sealed);
			if (r < 0 || strlen(sealed) >= sizeof(a.sealed)) {
				free(sealed);
				r = desk_fail(e, CCPD_ERR_INTERNAL, "cannot "
					      "encrypt the SIP password: %s",
					      strerror(r < 0 ? -r : E2BIG));
				goto out;
			}
			snprintf(a.sealed, sizeof(a.sealed), "%s", sealed);
			free(sealed);
		}
	}
	r = sipaccount_format(&a, &text);
	if (r < 0) {
		r = desk_fail(e, CCPD_ERR_INTERNAL, "out of memory");
		goto out;
	}
	cJSON_AddItemToObject(row, "sipAccount", text ?
			      cJSON_CreateString(text) : cJSON_CreateNull());
out:
	explicit_bzero(pw, sizeof(pw));
	explicit_bzero(&a, sizeof(a));
	free(text);
	cJSON_Delete(old);
	return r;
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

	r = admin_param(params, "displayName", false, true, 128, &v, &present,
			e);
	if (r < 0)
		return r;
	if (present)
		cJSON_AddItemToObject(row, "displayName", v ?
				      cJSON_CreateString(v) : cJSON_CreateNull());
	r = admin_param(params, "profile", creating, false, 64, &v, &present,
			e);
	if (r < 0)
		return r;
	if (present) {
		perm_set set;

		char what[96];

		if (auth_profile_perms(ad->auth, v, &set) < 0)
			return desk_fail(e, CCPD_ERR_NOT_FOUND, "no security "
					 "profile '%s'", v);
		snprintf(what, sizeof(what), "the security profile '%s'", v);
		r = admin_may_grant(ad, set, what, e);
		if (r < 0)
			return r;
		cJSON_AddStringToObject(row, "profile", v);
	}
	r = admin_param(params, "phoneType", false, false, 16, &phone, &present,
			e);
	if (r < 0)
		return r;
	if (present && strcmp(phone, "softphone") != 0 &&
	    strcmp(phone, "deskphone") != 0)
		return desk_fail(e, CCPD_ERR_INVALID_PARAMS, "\"phoneType\" is "
				 "softphone or deskphone");
	r = admin_param(params, "extension", false, true, 16, &ext,
			&ext_present, e);
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
	r = user_sip(ad, params, row, creating, e);
	if (r < 0)
		return r;
	r = admin_param(params, "region", false, true, 2, &v, &present, e);
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
	r = admin_param(params, "password", false, false, 256, &pw, &present,
			e);
	if (r == 0)
		r = admin_param_bool(params, "mustChangePassword", &must,
				     &must_given, e);
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

int admin_users_create(struct admin *ad, const cJSON *params, cJSON **res,
		       struct desk_err *e)
{
	const char *name;
	char otp[32];
	cJSON *row;
	uint64_t now = util_now_ms();
	int r = admin_param(params, "username", true, false, 64, &name, NULL,
			    e);

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
		return admin_store_error(e, r, "user", name);
	log_info("admin: user '%s' created", name);
	*res = created_answer(ad, name, otp);
	explicit_bzero(otp, sizeof(otp));
	return 0;
}

int admin_users_update(struct admin *ad, const cJSON *params, cJSON **res,
		       struct desk_err *e)
{
	const char *name;
	char otp[32];
	bool reset = false, reset_given, new_password, sip_changed;
	cJSON *row;
	int r = admin_param(params, "username", true, false, 64, &name, NULL,
			    e);

	if (r == 0)
		r = admin_param_bool(params, "resetPassword", &reset,
				     &reset_given, e);
	if (r < 0)
		return r;
	r = may_manage(ad, name, e);
	if (r < 0)
		return r;
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
	sip_changed = cJSON_GetObjectItemCaseSensitive(row, "sipAccount");
	cJSON_AddNumberToObject(row, "updated", (double)util_now_ms());
	r = store_update(ad->st, &store_users, name, row);
	cJSON_Delete(row);
	if (r < 0)
		return admin_store_error(e, r, "user", name);
	if (new_password) {
		/* whoever knew the old password is logged out */
		auth_end_user(ad->auth, name);
		admin_sessions_ended(ad, name);
	} else {
		auth_refresh(ad->auth);
	}
	/* the user at the desk registers with their new SIP account */
	if (sip_changed)
		desk_user_account_changed(ad->desk, name);
	log_info("admin: user '%s' updated", name);
	*res = created_answer(ad, name, otp);
	explicit_bzero(otp, sizeof(otp));
	return 0;
}

int admin_users_delete(struct admin *ad, const cJSON *params, cJSON **res,
		       struct desk_err *e)
{
	const char *name;
	int r = admin_param(params, "username", true, false, 64, &name, NULL,
			    e);

	if (r == 0)
		r = may_manage(ad, name, e);
	if (r < 0)
		return r;
	r = store_delete(ad->st, &store_users, name);
	if (r < 0)
		return admin_store_error(e, r, "user", name);
	auth_end_user(ad->auth, name);
	admin_sessions_ended(ad, name);
	log_info("admin: user '%s' deleted", name);
	*res = cJSON_CreateObject();
	return 0;
}
