/* admin.numbers.*, admin.origins.* and admin.quickConnects.*: rows found
 * by one key, alike enough to share one set of methods that a table of
 * their differences drives. */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "admin-int.h"
#include "ccpd-protocol.h"
#include "desk.h"
#include "log.h"
#include "store.h"

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
	int r = admin_param(params, member, required, false, k->key_max, &v,
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
	int r = admin_param(params, "description", false, true, 256, &v,
			    &present, e);

	if (r < 0)
		return r;
	if (present)
		cJSON_AddItemToObject(row, "description", v ?
				      cJSON_CreateString(v) : cJSON_CreateNull());
	if (k == &numbers) {
		r = admin_param(params, "username", false, true, 64, &v,
				&present, e);
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
		r = admin_param(params, "endpoint", creating, false,
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

	return r < 0 ? admin_store_error(e, r, k->what, "") : 0;
}

static int keyed_get(struct admin *ad, const struct keyed *k,
		     const cJSON *params, cJSON **res, struct desk_err *e)
{
	char key[320];
	int r = keyed_key(k, params, k->key, true, key, sizeof(key), NULL, e);

	if (r < 0)
		return r;
	r = store_get(ad->st, k->table, key, res);
	return r < 0 ? admin_store_error(e, r, k->what, key) : 0;
}

static int keyed_create(struct admin *ad, const struct keyed *k,
			const cJSON *params, cJSON **res, struct desk_err *e)
{
	char key[320];
	cJSON *row;
	int r = keyed_key(k, params, k->key, true, key, sizeof(key), NULL, e);

	if (r < 0)
		return r;
	row = admin_row(k->key, key, e);
	if (!row)
		return e->code;
	r = keyed_fields(ad, k, params, true, row, e);
	if (r == 0) {
		r = store_insert(ad->st, k->table, row);
		if (r < 0)
			r = admin_store_error(e, r, k->what, key);
	}
	cJSON_Delete(row);
	if (r < 0)
		return r;
	log_info("admin: %s '%s' created", k->what, key);
	r = store_get(ad->st, k->table, key, res);
	return r < 0 ? admin_store_error(e, r, k->what, key) : 0;
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
	row = admin_row(k->key, renaming ? new_key : NULL, e);
	if (!row)
		return e->code;
	r = keyed_fields(ad, k, params, false, row, e);
	if (r == 0) {
		r = store_update(ad->st, k->table, key, row);
		if (r < 0)
			r = admin_store_error(e, r, k->what,
					      r == -EEXIST ? new_key : key);
	}
	cJSON_Delete(row);
	if (r < 0)
		return r;
	log_info("admin: %s '%s' updated", k->what, key);
	r = store_get(ad->st, k->table, renaming ? new_key : key, res);
	return r < 0 ? admin_store_error(e, r, k->what, key) : 0;
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
		return admin_store_error(e, r, k->what, key);
	log_info("admin: %s '%s' deleted", k->what, key);
	*res = cJSON_CreateObject();
	return 0;
}

static const struct {
	const char *prefix;
	const struct keyed *k;
} keyed_tables[] = {
	{ "admin.numbers.", &numbers },
	{ "admin.origins.", &origins },
	{ "admin.quickConnects.", &quick_connects },
};

int admin_keyed_call(struct admin *ad, const char *method,
		     const cJSON *params, cJSON **res, struct desk_err *e)
{
	size_t i, n;

	for (i = 0; i < sizeof(keyed_tables) / sizeof(keyed_tables[0]); i++) {
		const struct keyed *k = keyed_tables[i].k;
		const char *op;

		n = strlen(keyed_tables[i].prefix);
		if (strncmp(method, keyed_tables[i].prefix, n) != 0)
			continue;
		op = method + n;
		if (strcmp(op, "list") == 0)
			return keyed_list(ad, k, res, e);
		if (strcmp(op, "get") == 0)
			return keyed_get(ad, k, params, res, e);
		if (strcmp(op, "create") == 0)
			return keyed_create(ad, k, params, res, e);
		if (strcmp(op, "update") == 0)
			return keyed_update(ad, k, params, res, e);
		if (strcmp(op, "delete") == 0)
			return keyed_delete(ad, k, params, res, e);
		break;
	}
	return desk_fail(e, CCPD_ERR_METHOD_NOT_FOUND, "no method '%.100s'",
			 method);
}
