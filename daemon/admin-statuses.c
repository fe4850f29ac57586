/* admin.statuses.*: the custom statuses beside the built-in Available and
 * Offline. The desk takes the new list when the agent's status allows. */
#include <errno.h>
#include <stdbool.h>
#include <string.h>

#include "admin-int.h"
#include "ccpd-protocol.h"
#include "conf.h"
#include "desk.h"
#include "log.h"
#include "store.h"

#define MAX_CUSTOM_STATUSES 30

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

int admin_statuses_list(struct admin *ad, const cJSON *params, cJSON **res,
			struct desk_err *e)
{
	char **names;
	size_t n, i;
	cJSON *a;
	int r = store_status_names(ad->st, &names, &n);

	(void)params;
	if (r < 0)
		return admin_store_error(e, r, "status", "");
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

int admin_statuses_get(struct admin *ad, const cJSON *params, cJSON **res,
		       struct desk_err *e)
{
	const char *name;
	cJSON *row;
	int r = admin_param(params, "name", true, false, 64, &name, NULL, e);

	if (r < 0)
		return r;
	if (builtin_status(name)) {
		*res = status_json(name, strcmp(name, "Available") == 0 ?
				   "routable" : "offline", true);
		return 0;
	}
	r = store_get(ad->st, &store_statuses, name, &row);
	if (r < 0)
		return admin_store_error(e, r, "status", name);
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
		return admin_store_error(e, r, "status", "");
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

int admin_statuses_create(struct admin *ad, const cJSON *params,
			  cJSON **res, struct desk_err *e)
{
	const char *name;
	char **names;
	size_t n;
	cJSON *row;
	int r = admin_param(params, "name", true, false, 64, &name, NULL, e);

	if (r == 0)
		r = check_status_name("name", name, e);
	if (r < 0)
		return r;
	r = store_status_names(ad->st, &names, &n);
	if (r < 0)
		return admin_store_error(e, r, "status", name);
	store_free_names(names, n);
	if (n >= MAX_CUSTOM_STATUSES)
		return desk_fail(e, CCPD_ERR_INVALID_STATE, "at most %d custom "
				 "statuses", MAX_CUSTOM_STATUSES);
	row = admin_row("name", name, e);
	if (!row)
		return e->code;
	r = store_insert(ad->st, &store_statuses, row);
	cJSON_Delete(row);
	if (r < 0)
		return admin_store_error(e, r, "status", name);
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

int admin_statuses_update(struct admin *ad, const cJSON *params,
			  cJSON **res, struct desk_err *e)
{
	const char *name, *new_name;
	cJSON *row;
	int r = admin_param(params, "name", true, false, 64, &name, NULL, e);

	if (r == 0)
		r = admin_param(params, "newName", true, false, 64, &new_name,
				NULL, e);
	if (r == 0)
		r = check_status_name("newName", new_name, e);
	if (r == 0)
		r = status_guard(ad, name, e);
	if (r < 0)
		return r;
	row = admin_row("name", new_name, e);
	if (!row)
		return e->code;
	r = store_update(ad->st, &store_statuses, name, row);
	cJSON_Delete(row);
	if (r < 0)
		return admin_store_error(e, r, "status",
					 r == -EEXIST ? new_name : name);
	log_info("admin: status '%s' renamed '%s'", name, new_name);
	return statuses_apply(ad, new_name, res, e);
}

int admin_statuses_delete(struct admin *ad, const cJSON *params,
			  cJSON **res, struct desk_err *e)
{
	const char *name;
	int r = admin_param(params, "name", true, false, 64, &name, NULL, e);

	if (r == 0)
		r = status_guard(ad, name, e);
	if (r < 0)
		return r;
	r = store_delete(ad->st, &store_statuses, name);
	if (r < 0)
		return admin_store_error(e, r, "status", name);
	log_info("admin: status '%s' deleted", name);
	return statuses_apply(ad, NULL, res, e);
}
