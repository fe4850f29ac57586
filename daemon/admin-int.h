/* What the admin files share; admin.h is the admin.* methods for everyone
 * else.
 *
 *   admin.c           dispatch, parameters, store errors in protocol
 *                     terms, the validators admin.h offers, sessions
 *                     following their users
 *   admin-users.c     admin.users.*
 *   admin-profiles.c  admin.profiles.*
 *   admin-statuses.c  admin.statuses.*
 *   admin-keyed.c     admin.numbers.*, admin.origins.* and
 *                     admin.quickConnects.*: rows found by one key
 */
#ifndef CCPD_ADMIN_INT_H
#define CCPD_ADMIN_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <cjson/cJSON.h>

#include "admin.h"
#include "perms.h"

struct store_table;

struct admin {
	struct store *st;
	struct auth *auth;
	struct desk *desk;
	const struct conf *conf;
	perm_set caller;        /* what the caller of this call holds */
};

/* One admin.* method: 0 with *res, or a ccpd error code with e filled
 * in. */
typedef int (admin_h)(struct admin *ad, const cJSON *params, cJSON **res,
		      struct desk_err *e);

/* ---- parameters and store results (admin.c) ---- */

/* A string member: *present says whether it was given, *out is NULL when
 * it was given as null (and null is allowed). */
int admin_param(const cJSON *params, const char *name, bool required,
		bool nullable, size_t max, const char **out, bool *present,
		struct desk_err *e);
int admin_param_bool(const cJSON *params, const char *name, bool *out,
		     bool *present, struct desk_err *e);
/* A store result in protocol terms. */
/* A new row, with key set to value when value is not NULL; NULL, with e
 * filled, when out of memory. */
cJSON *admin_row(const char *key, const char *value, struct desk_err *e);
int admin_store_error(struct desk_err *e, int r, const char *what,
		      const char *key);
/* Nobody hands out what they do not hold: 0 when the caller holds every
 * permission in set, else -32002 naming one that is missing and what
 * would have carried it. */
int admin_may_grant(struct admin *ad, perm_set set, const char *what,
		    struct desk_err *e);

/* A sip: or sips: URI with a host, nothing a header could not carry. */
bool admin_valid_sip_uri(const char *s);

/* list and get for a table whose rows are shown through a filter (users
 * lose their password hash, profiles gain their permission names) */
typedef cJSON *(admin_public_fn)(struct admin *ad, cJSON *row);

int admin_list_public(struct admin *ad, const struct store_table *t,
		      const char *what, admin_public_fn *pub, cJSON **res,
		      struct desk_err *e);
int admin_get_public(struct admin *ad, const cJSON *params, const char *key,
		     const struct store_table *t, const char *what,
		     admin_public_fn *pub, cJSON **res, struct desk_err *e);

/* ---- admin.users.* (admin-users.c) ---- */

admin_h admin_users_list;
admin_h admin_users_get;
admin_h admin_users_create;
admin_h admin_users_update;
admin_h admin_users_delete;

/* ---- admin.profiles.* (admin-profiles.c) ---- */

admin_h admin_profiles_list;
admin_h admin_profiles_get;
admin_h admin_profiles_create;
admin_h admin_profiles_update;
admin_h admin_profiles_delete;

/* ---- admin.statuses.* (admin-statuses.c) ---- */

admin_h admin_statuses_list;
admin_h admin_statuses_get;
admin_h admin_statuses_create;
admin_h admin_statuses_update;
admin_h admin_statuses_delete;

/* ---- keyed rows (admin-keyed.c) ---- */

/* Runs an admin.numbers.*, admin.origins.* or admin.quickConnects.*
 * method; any other name is refused as no method. */
int admin_keyed_call(struct admin *ad, const char *method,
		     const cJSON *params, cJSON **res, struct desk_err *e);

#endif
