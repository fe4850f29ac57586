/* Hot-desking on the instance: the desk each user is active at
 * (user_desks), claimed and released through the outbox as the desk's
 * journal says who arrives and who leaves, and whether they are on a live
 * contact; the table as last read, to refuse a login while the user is on
 * a contact at another desk and to end the sessions of a user who took
 * another desk; and logouts passed on to the other desks. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "instance-int.h"
#include "instance.h"
#include "log.h"
#include "pg.h"

/* Who is active at which desk (user_desks), as last read. */
struct udesk {
	char user[65];
	char desk[40];
	bool on_contact;
};

struct hotdesk {
	struct instance *in;
	char user[65];            /* the user at this desk, "" none */
	bool on_contact;          /* ... on a live contact */
	struct udesk *ud;
	size_t n_ud;
};

int hotdesk_new(struct hotdesk **ret, struct instance *in)
{
	struct hotdesk *h = calloc(1, sizeof(*h));

	if (!h)
		return -ENOMEM;
	h->in = in;
	*ret = h;
	return 0;
}

struct hotdesk *hotdesk_free(struct hotdesk *h)
{
	if (!h)
		return NULL;
	free(h->ud);
	free(h);
	return NULL;
}

const char *hotdesk_user(const struct hotdesk *h)
{
	return h->user;
}

/* ---- out: claims, releases, contacts, logouts ---- */

static void put_user(struct hotdesk *h, const char *kind, const char *user,
		     uint64_t time, int on)
{
	cJSON *body = cJSON_CreateObject();

	if (!body)
		return;
	cJSON_AddStringToObject(body, "k", kind);
	cJSON_AddStringToObject(body, "username", user);
	cJSON_AddNumberToObject(body, "time", (double)time);
	cJSON_AddNumberToObject(body, "on", on);
	instance_put(h->in, body, -1);
}

static bool live_state(const char *state)
{
	static const char *const live[] = { "Busy", "PendingBusy",
		"CallingCustomer", "AfterContactWork" };
	size_t i;

	for (i = 0; state && i < sizeof(live) / sizeof(live[0]); i++)
		if (strcmp(state, live[i]) == 0)
			return true;
	return false;
}

/* The journal says who is at the desk (desk.user rows name the new
 * user, or "system" for nobody) and whether they are on a contact: the
 * instance's user_desks follows, through the outbox like every record. */
void hotdesk_journal(struct hotdesk *h, const struct store_journal_row *j)
{
	bool on;

	if (!j->username || !j->type)
		return;
	if (strcmp(j->type, "desk.user") == 0) {
		const char *now = strcmp(j->username, "system") ? j->username
								: "";

		if (strcmp(now, h->user) == 0)
			return;
		if (h->user[0])
			put_user(h, "release", h->user, j->time, 0);
		snprintf(h->user, sizeof(h->user), "%s", now);
		h->on_contact = false;
		if (h->user[0]) {
			put_user(h, "claim", h->user, j->time, 0);
			/* their history comes along */
			instance_pull_history(h->in);
		}
		return;
	}
	if (!h->user[0] || strcmp(j->username, h->user) != 0)
		return;
	on = live_state(j->state);
	if (on != h->on_contact) {
		h->on_contact = on;
		put_user(h, "busy", h->user, j->time, on);
	}
}

void hotdesk_logged_out(struct hotdesk *h, const char *username,
			uint64_t time)
{
	put_user(h, "logout", username, time, 0);
}

bool hotdesk_kind(const char *k)
{
	return strcmp(k, "claim") == 0 || strcmp(k, "release") == 0 ||
	       strcmp(k, "busy") == 0 || strcmp(k, "logout") == 0;
}

/* A claim wins over an older one (one replayed after an outage does not
 * take the user back); a release and "on a contact" touch only this
 * desk's claim; a logout is only a notification, heard at the commit. */
int hotdesk_send(struct hotdesk *h, const char *k, const cJSON *b,
		 pg_result_h *done, void *arg)
{
	struct pg *pg = instance_pg(h->in);
	char time[24], on[24];
	const char *user = instance_jstr(b, "username");
	const char *p[3] = { user, instance_desk(h->in), NULL };

	if (!user)
		return -EINVAL;
	if (strcmp(k, "release") == 0)
		return pg_query(pg, schema_release_sql(), p, 2, done, arg);
	p[2] = instance_jnum(b, strcmp(k, "busy") == 0 ? "on" : "time",
			     strcmp(k, "busy") == 0 ? on : time, sizeof(time));
	if (!p[2])
		return -EINVAL;
	if (strcmp(k, "claim") == 0)
		return pg_query(pg, schema_claim_sql(), p, 3, done, arg);
	if (strcmp(k, "busy") == 0)
		return pg_query(pg, schema_busy_sql(), p, 3, done, arg);
	if (strcmp(k, "logout") == 0)
		return pg_query(pg, "SELECT pg_notify('ccp_changes', 'logout:'"
				" || $2 || ':' || $3 || ':' || $1)", p, 3, done,
				arg);
	return -EINVAL;
}

/* Claims this desk left behind (a restart forgets who was logged in; a
 * kill -9 in mid-call left "on a contact") would keep their users from
 * other desks: all go but the user here now. Claims still in the outbox
 * are sent after this. */
void hotdesk_connected(struct hotdesk *h)
{
	const char *p[2] = { instance_desk(h->in), h->user };

	pg_query(instance_pg(h->in), "DELETE FROM user_desks WHERE desk_id ="
		 " $1 AND username <> $2", p, 2, NULL, NULL);
}

/* ---- in: user_desks as last read ---- */

static struct udesk *udesk_find(const struct hotdesk *h, const char *user)
{
	size_t i;

	for (i = 0; i < h->n_ud; i++)
		if (strcmp(h->ud[i].user, user) == 0)
			return &h->ud[i];
	return NULL;
}

/* One row of user_desks as read (desk NULL: no row). The user at this
 * desk who is now active at another has moved: their sessions here end. */
static void udesk_set(struct hotdesk *h, const char *user, const char *desk,
		      bool on_contact)
{
	struct udesk *u = udesk_find(h, user), *grown;

	if (!desk) {
		if (u) {
			log_debug("instance: '%s' is at no desk", user);
			*u = h->ud[--h->n_ud];
		}
		return;
	}
	if (!u) {
		grown = realloc(h->ud, (h->n_ud + 1) * sizeof(*grown));
		if (!grown)
			return;
		h->ud = grown;
		u = &h->ud[h->n_ud++];
		snprintf(u->user, sizeof(u->user), "%s", user);
	}
	snprintf(u->desk, sizeof(u->desk), "%s", desk);
	u->on_contact = on_contact;
	log_debug("instance: '%s' is at desk %s%s", user, desk,
		  on_contact ? ", on a contact" : "");
	if (h->user[0] && strcmp(h->user, user) == 0 &&
	    strcmp(desk, instance_desk(h->in)) != 0) {
		log_info("instance: '%s' logged in at desk %s", user, desk);
		h->user[0] = '\0';
		h->on_contact = false;
		instance_tell(h->in, INSTANCE_USER_MOVED, store_users.name,
			      user, 0);
	}
}

/* rows of (username, desk_id, on_contact); all: every row there is */
static void udesks_read(int err, const struct pg_res *res, bool all,
			struct hotdesk *h)
{
	int i;

	if (err < 0) {
		if (err != -ECONNRESET)
			log_warning("instance: cannot read user_desks: %s",
				    pg_res_error(res));
		return;
	}
	if (all)
		h->n_ud = 0;
	for (i = 0; i < pg_res_rows(res); i++)
		if (pg_res_value(res, i, 0))
			udesk_set(h, pg_res_value(res, i, 0),
				  pg_res_value(res, i, 1),
				  pg_res_value(res, i, 2) &&
				  strcmp(pg_res_value(res, i, 2), "0") != 0);
}

static void udesks_all(int err, const struct pg_res *res, void *arg)
{
	udesks_read(err, res, true, arg);
}

static void udesks_one(int err, const struct pg_res *res, void *arg)
{
	udesks_read(err, res, false, arg);
}

void hotdesk_resync(struct hotdesk *h)
{
	pg_query(instance_pg(h->in), "SELECT username, desk_id, on_contact"
		 " FROM user_desks", NULL, 0, udesks_all, h);
}

/* "<desk>:<time>:<user>": a logout at another desk. One replayed after an
 * outage ends only the sessions older than it. */
static void on_logout(struct hotdesk *h, const char *rest)
{
	const char *desk = instance_desk(h->in);
	const char *t = strchr(rest, ':'), *u = t ? strchr(t + 1, ':') : NULL;
	size_t dl = strlen(desk);

	if (!u || !u[1])
		return;
	if ((size_t)(t - rest) == dl && strncmp(rest, desk, dl) == 0)
		return;
	instance_tell(h->in, INSTANCE_LOGGED_OUT, store_users.name, u + 1,
		      strtoull(t + 1, NULL, 10));
}

bool hotdesk_notify(struct hotdesk *h, const char *table, const char *rest)
{
	const char *p[1] = { rest };

	if (strcmp(table, "logout") == 0) {
		on_logout(h, rest);
		return true;
	}
	if (strcmp(table, "user_desks") != 0)
		return false;
	pg_query(instance_pg(h->in), "SELECT $1::text, d.desk_id,"
		 " d.on_contact FROM (SELECT 1) AS one LEFT JOIN user_desks d"
		 " ON d.username = $1", p, 1, udesks_one, h);
	return true;
}

bool hotdesk_busy_elsewhere(const struct hotdesk *h, const char *username,
			    char *desk, size_t size)
{
	const struct udesk *u = udesk_find(h, username);

	if (!u || !u->on_contact ||
	    strcmp(u->desk, instance_desk(h->in)) == 0)
		return false;
	if (desk)
		snprintf(desk, size, "%s", u->desk);
	return true;
}
