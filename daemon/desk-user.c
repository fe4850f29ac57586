/* The user at the desk: who is logged in and who is acting, the region
 * their national numbers are read in, the caller ID they present, and
 * what an endpoint they type dials (the dial plan and quick connects). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ccpd-protocol.h"
#include "conf.h"
#include "desk-int.h"
#include "dialplan.h"
#include "phone.h"
#include "store.h"

struct desk_user {
	char name[65];          /* "" for none */
	char display[129];
	char actor[80];         /* who causes what comes next; "" system */
	char region[4];         /* the user's, from the store; "" none */
	char caller_id[PHONE_E164_MAX];
};

int user_new(struct desk *d)
{
	d->user = calloc(1, sizeof(*d->user));
	return d->user ? 0 : -ENOMEM;
}

void user_free(struct desk *d)
{
	free(d->user);
	d->user = NULL;
}

const char *user_name(const struct desk *d)
{
	return d->user->name;
}

const char *user_display(const struct desk *d)
{
	return d->user->display;
}

const char *user_actor(const struct desk *d)
{
	return d->user->actor;
}

void desk_set_actor(struct desk *d, const char *actor)
{
	snprintf(d->user->actor, sizeof(d->user->actor), "%s",
		 actor ? actor : "");
}

const char *desk_user(const struct desk *d)
{
	return d->user->name[0] ? d->user->name : NULL;
}

const char *desk_journal_user(const struct desk *d)
{
	return d->user->name[0] ? d->user->name : "system";
}

static const char *row_string(const cJSON *row, const char *key)
{
	return cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(row,
								     key));
}

void user_set(struct desk *d, const char *username, const char *display,
	      struct user_phone *phone)
{
	struct desk_user *u = d->user;
	const char *type = NULL, *ext = NULL, *region = NULL;
	cJSON *row = NULL;

	snprintf(u->name, sizeof(u->name), "%s", username ? username : "");
	snprintf(u->display, sizeof(u->display), "%s",
		 display && *display ? display : u->name);
	if (u->name[0] && d->st &&
	    store_get(d->st, &store_users, u->name, &row) == 0) {
		type = row_string(row, "phoneType");
		ext = row_string(row, "extension");
		region = row_string(row, "region");
	}
	snprintf(u->region, sizeof(u->region), "%s", region ? region : "");
	phone->deskphone = type && strcmp(type, "deskphone") == 0 && ext;
	snprintf(phone->extension, sizeof(phone->extension), "%s",
		 ext ? ext : "");
	cJSON_Delete(row);
}

/* National numbers are read in the region of the user at the desk, else
 * the agent's or the instance's setting. */
const char *user_region(const struct desk *d)
{
	return d->user->region[0] ? d->user->region
				  : conf_default_region(d->conf);
}

const char *desk_default_region(const struct desk *d)
{
	return user_region(d);
}

/* The number an outbound call presents: the one the admin gave the user
 * at the desk, else the instance's default (both from the store), else
 * the agent_caller_id and caller_id settings; NULL presents the agent's
 * own SIP address. The one place the choice is made. */
const char *user_caller_id(const struct desk *d)
{
	struct desk_user *u = d->user;

	if (store_caller_id_for(d->st, u->name, u->caller_id,
				sizeof(u->caller_id)) == 0)
		return u->caller_id;
	if (*d->conf->agent_caller_id)
		return d->conf->agent_caller_id;
	if (*d->conf->caller_id)
		return d->conf->caller_id;
	return NULL;
}

int user_endpoint_uri(struct desk *d, const char *endpoint, char *uri,
		      size_t size, char *e164, size_t e164_size,
		      struct desk_err *e)
{
	const struct conf *cf = d->conf;
	const struct dialplan plan = {
		.dial_template = cf->dial_template,
		.dialable_countries = cf->dialable_countries,
		.blocked_prefixes = cf->blocked_prefixes,
		.allow_sip_uris = cf->allow_sip_uris,
	};
	char quick[CCPD_MAX_ENDPOINT + 1];

	/* a quick connect's name stands for its endpoint */
	if (conf_quick_connect(cf->quick_connects, endpoint, quick,
			       sizeof(quick)) == 0)
		endpoint = quick;
	return dialplan_resolve(&plan, endpoint, user_region(d), uri, size,
				e164, e164_size, e);
}

cJSON *desk_endpoints_json(const struct desk *d)
{
	cJSON *a = cJSON_CreateArray();
	char **names = NULL, **values = NULL;
	size_t n = 0, i;

	if (!a || conf_split_quick_connects(d->conf->quick_connects, &names,
					    &values, &n) < 0)
		return a;
	for (i = 0; i < n; i++) {
		cJSON *o = cJSON_CreateObject();

		cJSON_AddStringToObject(o, "name", names[i]);
		cJSON_AddStringToObject(o, "endpoint", values[i]);
		cJSON_AddStringToObject(o, "type",
					values[i][0] == '+' ? "phone_number"
							    : "sip_uri");
		cJSON_AddItemToArray(a, o);
	}
	conf_free_statuses(names, n);
	conf_free_statuses(values, n);
	return a;
}
