/* admin.profiles.*: the security profiles, each a named set of
 * permissions. Admin never changes, and built-in profiles keep their
 * names; sessions follow a changed profile at once. */
#include <ctype.h>
#include <errno.h>
#include <string.h>

#include "admin-int.h"
#include "auth.h"
#include "ccpd-protocol.h"
#include "desk.h"
#include "log.h"
#include "perms.h"
#include "store.h"

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

static cJSON *profile_public(struct admin *ad, cJSON *row)
{
	const cJSON *name = cJSON_GetObjectItemCaseSensitive(row, "name");

	if (cJSON_IsString(name))
		cJSON_AddNumberToObject(row, "users", store_count(
			ad->st, &store_users, "profile", name->valuestring));
	return row;
}

int admin_profiles_list(struct admin *ad, const cJSON *params, cJSON **res,
			struct desk_err *e)
{
	(void)params;
	return admin_list_public(ad, &store_profiles, "profile", profile_public,
				 res, e);
}

int admin_profiles_get(struct admin *ad, const cJSON *params, cJSON **res,
		       struct desk_err *e)
{
	return admin_get_public(ad, params, "name", &store_profiles,
				"security profile", profile_public, res, e);
}

/* "permissions": an array of known names, each once, all of them held
 * by the caller (else a profile of one's own would grow into Admin). */
static int profile_perms(struct admin *ad, const cJSON *params,
			 bool required, cJSON *row, struct desk_err *e)
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
	return admin_may_grant(ad, seen, "the profile", e);
}

int admin_profiles_create(struct admin *ad, const cJSON *params,
			  cJSON **res, struct desk_err *e)
{
	const char *name, *desc;
	bool present;
	cJSON *row;
	int r = admin_param(params, "name", true, false, 64, &name, NULL, e);

	if (r == 0)
		r = admin_param(params, "description", false, true, 256, &desc,
				&present, e);
	if (r < 0)
		return r;
	if (!valid_profile_name(name))
		return desk_fail(e, CCPD_ERR_INVALID_PARAMS, "\"name\" '%s' is not "
				 "valid: a letter, then letters, digits, ' ', '_' "
				 "or '-', at most 64", name);
	row = admin_row("name", name, e);
	if (!row)
		return e->code;
	if (desc)
		cJSON_AddStringToObject(row, "description", desc);
	cJSON_AddBoolToObject(row, "builtin", false);
	r = profile_perms(ad, params, true, row, e);
	if (r == 0) {
		r = store_insert(ad->st, &store_profiles, row);
		if (r < 0)
			r = admin_store_error(e, r, "security profile", name);
	}
	cJSON_Delete(row);
	if (r < 0)
		return r;
	log_info("admin: security profile '%s' created", name);
	return admin_profiles_get(ad, params, res, e);
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
		return admin_store_error(e, r, "security profile", name);
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

int admin_profiles_update(struct admin *ad, const cJSON *params,
			  cJSON **res, struct desk_err *e)
{
	const char *name, *new_name, *desc;
	bool present, renaming;
	cJSON *row, *key;
	int r = admin_param(params, "name", true, false, 64, &name, NULL, e);

	if (r == 0)
		r = admin_param(params, "newName", false, false, 64, &new_name,
				&renaming, e);
	if (r == 0)
		r = admin_param(params, "description", false, true, 256, &desc,
				&present, e);
	if (r < 0)
		return r;
	if (renaming && !valid_profile_name(new_name))
		return desk_fail(e, CCPD_ERR_INVALID_PARAMS, "\"newName\" '%s' is "
				 "not a valid profile name", new_name);
	r = profile_guard(ad, name, renaming, false, e);
	if (r < 0)
		return r;
	row = admin_row("name", renaming ? new_name : NULL, e);
	if (!row)
		return e->code;
	if (present)
		cJSON_AddItemToObject(row, "description", desc ?
				      cJSON_CreateString(desc) :
				      cJSON_CreateNull());
	r = profile_perms(ad, params, false, row, e);
	if (r == 0) {
		r = store_update(ad->st, &store_profiles, name, row);
		if (r < 0)
			r = admin_store_error(e, r, "security profile",
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
	r = admin_profiles_get(ad, key, res, e);
	cJSON_Delete(key);
	return r;
}

int admin_profiles_delete(struct admin *ad, const cJSON *params,
			  cJSON **res, struct desk_err *e)
{
	const char *name;
	int n, r = admin_param(params, "name", true, false, 64, &name, NULL, e);

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
		return admin_store_error(e, r, "security profile", name);
	log_info("admin: security profile '%s' deleted", name);
	*res = cJSON_CreateObject();
	return 0;
}
