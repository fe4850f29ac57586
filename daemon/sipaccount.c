/* A user's own SIP account: the column's two forms (a bare URI, or a JSON
 * object whose password is sealed), the instance's template, and the
 * public view, which says whether a password is set and never shows it.
 * One column, so that the instance's database holds it as it is. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sipaccount.h"

bool sipaccount_valid_uri(const char *s)
{
	return s && (strncmp(s, "sip:", 4) == 0 ||
		     strncmp(s, "sips:", 5) == 0) && strlen(s) > 5 &&
	       strlen(s) < SIPACCOUNT_URI_MAX && !strpbrk(s, " \t;,\"<>\\");
}

bool sipaccount_valid_token(const char *s)
{
	return s && *s && strlen(s) < SIPACCOUNT_USER_MAX &&
	       !strpbrk(s, " \t;,\"<>\\");
}

bool sipaccount_empty(const struct sipaccount *a)
{
	return !a->aor[0] && !a->auth_user[0] && !a->registrar[0] &&
	       !a->sealed[0];
}

static int take(const cJSON *o, const char *key, char *out, size_t size)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);

	if (!v || cJSON_IsNull(v))
		return 0;
	if (!cJSON_IsString(v) || strlen(v->valuestring) >= size)
		return -EINVAL;
	snprintf(out, size, "%s", v->valuestring);
	return 0;
}

int sipaccount_parse(const char *stored, struct sipaccount *a)
{
	cJSON *o;
	int r;

	memset(a, 0, sizeof(*a));
	if (!stored || !*stored)
		return 0;
	if (stored[0] != '{') {
		if (!sipaccount_valid_uri(stored))
			return -EINVAL;
		snprintf(a->aor, sizeof(a->aor), "%s", stored);
		return 0;
	}
	o = cJSON_Parse(stored);
	if (!cJSON_IsObject(o)) {
		cJSON_Delete(o);
		return -EINVAL;
	}
	r = take(o, "aor", a->aor, sizeof(a->aor));
	if (r == 0)
		r = take(o, "authUser", a->auth_user, sizeof(a->auth_user));
	if (r == 0)
		r = take(o, "registrar", a->registrar, sizeof(a->registrar));
	if (r == 0)
		r = take(o, "password", a->sealed, sizeof(a->sealed));
	cJSON_Delete(o);
	if (r < 0)
		memset(a, 0, sizeof(*a));
	return r;
}

int sipaccount_format(const struct sipaccount *a, char **out)
{
	cJSON *o;

	*out = NULL;
	if (sipaccount_empty(a))
		return 0;
	if (a->aor[0] && !a->auth_user[0] && !a->registrar[0] &&
	    !a->sealed[0]) {
		*out = strdup(a->aor);
		return *out ? 0 : -ENOMEM;
	}
	o = cJSON_CreateObject();
	if (!o)
		return -ENOMEM;
	if (a->aor[0])
		cJSON_AddStringToObject(o, "aor", a->aor);
	if (a->auth_user[0])
		cJSON_AddStringToObject(o, "authUser", a->auth_user);
	if (a->registrar[0])
		cJSON_AddStringToObject(o, "registrar", a->registrar);
	if (a->sealed[0])
		cJSON_AddStringToObject(o, "password", a->sealed);
	*out = cJSON_PrintUnformatted(o);
	cJSON_Delete(o);
	return *out ? 0 : -ENOMEM;
}

int sipaccount_expand(const char *tmpl, const char *username, char *out,
		      size_t size)
{
	const char *at = strstr(tmpl, "{username}");
	int n;

	if (!at || strchr(username, '@'))
		return -EINVAL;
	n = snprintf(out, size, "%.*s%s%s", (int)(at - tmpl), tmpl, username,
		     at + strlen("{username}"));
	if (n < 0 || (size_t)n >= size || !sipaccount_valid_uri(out))
		return -EINVAL;
	return 0;
}

int sipaccount_resolve(const char *stored, const char *username,
		       const char *tmpl, struct sipaccount *a,
		       bool *from_template)
{
	int r = sipaccount_parse(stored, a);

	*from_template = false;
	if (r < 0)
		return r;
	if (a->aor[0])
		return 0;
	if (!tmpl || !*tmpl)
		return -ENOENT;
	*from_template = true;
	return sipaccount_expand(tmpl, username, a->aor, sizeof(a->aor));
}

static void put_str(cJSON *row, const char *key, const char *v)
{
	cJSON_DeleteItemFromObjectCaseSensitive(row, key);
	if (v && *v)
		cJSON_AddStringToObject(row, key, v);
	else
		cJSON_AddNullToObject(row, key);
}

void sipaccount_public(cJSON *row, const char *tmpl)
{
	const char *name = cJSON_GetStringValue(
		cJSON_GetObjectItemCaseSensitive(row, "username"));
	const char *stored = cJSON_GetStringValue(
		cJSON_GetObjectItemCaseSensitive(row, "sipAccount"));
	struct sipaccount a;
	bool tmpl_used = false;
	const char *from = NULL;
	int r;

	r = sipaccount_resolve(stored, name ? name : "", tmpl, &a,
			       &tmpl_used);
	if (r == 0)
		from = tmpl_used ? "template" : "user";
	else
		sipaccount_parse(stored, &a);   /* what there is of it */
	put_str(row, "sipAccount", r == 0 ? a.aor : NULL);
	put_str(row, "sipAuthUser", a.auth_user);
	put_str(row, "sipRegistrar", a.registrar);
	cJSON_DeleteItemFromObjectCaseSensitive(row, "sipPasswordSet");
	cJSON_AddBoolToObject(row, "sipPasswordSet", a.sealed[0] != '\0');
	put_str(row, "sipAccountFrom", from);
	memset(&a, 0, sizeof(a));
}
