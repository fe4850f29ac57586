/* session.*: logging in and out, resuming a session on a new connection,
 * who is calling, passwords; and the sweep that ends expired sessions.
 * A user who may use the CCP takes the desk when they log in. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <re.h>

#include "admin.h"
#include "auth.h"
#include "ccpd-protocol.h"
#include "conf.h"
#include "desk.h"
#include "events.h"
#include "json.h"
#include "log.h"
#include "instance.h"
#include "rpc-int.h"
#include "store.h"
#include "util.h"

static cJSON *perms_json(perm_set set)
{
	cJSON *a = cJSON_CreateArray();
	int i;

	for (i = 0; a && i < PERM_COUNT; i++)
		if (set & PERM_BIT(i))
			cJSON_AddItemToArray(a, cJSON_CreateString(
				perm_name((enum perm)i)));
	return a;
}

static cJSON *session_json(struct rpc *rpc, const struct auth_session *s,
			   bool with_token)
{
	cJSON *o = cJSON_CreateObject();

	if (!o)
		return NULL;
	if (with_token)
		cJSON_AddStringToObject(o, "token", auth_session_token(s));
	cJSON_AddStringToObject(o, "username", auth_session_user(s));
	cJSON_AddStringToObject(o, "displayName", auth_session_display(s));
	cJSON_AddStringToObject(o, "profile", auth_session_profile(s));
	cJSON_AddItemToObject(o, "permissions",
			      perms_json(auth_session_perms(s)));
	cJSON_AddBoolToObject(o, "mustChangePassword",
			      auth_session_must_change(s));
	json_add_int(o, "expires", (long long)auth_session_expires(s));
	cJSON_AddNumberToObject(o, "sessionTimeout",
				rpc->conf->session_timeout);
	return o;
}

/* A user who may use the CCP takes the desk when they log in; the one who
 * had it is logged out. Refused while a contact is at the desk. */
static int take_desk(struct ctx *x, struct auth_session *s)
{
	struct rpc *rpc = x->peer->rpc;
	const char *user = auth_session_user(s), *prev = desk_user(rpc->desk);
	char before[65];
	int r;

	if (!(auth_session_perms(s) & PERM_BIT(PERM_CCP_USE)))
		return 0;
	/* hot-desking: one desk at a time, and never off a live call */
	if (rpc->inst && instance_user_busy_elsewhere(rpc->inst, user, NULL,
						       0))
		return rpc_refuse(x, CCPD_ERR_USER_ELSEWHERE, "'%s' is on a "
				  "contact at another desk; log in here once "
				  "it is over", user);
	snprintf(before, sizeof(before), "%s", prev ? prev : "");
	r = desk_set_user(rpc->desk, user, auth_session_display(s), &x->err);
	if (r < 0)
		return r;
	if (before[0] && strcmp(before, user) != 0) {
		log_info("rpc: '%s' took the desk from '%s', who is logged "
			 "out", user, before);
		auth_end_user(rpc->auth, before);
	}
	return 0;
}

static void end_own_session(struct ctx *x)
{
	struct rpc *rpc = x->peer->rpc;
	char user[128];

	if (!x->sess)
		return;
	snprintf(user, sizeof(user), "%s", auth_session_user(x->sess));
	auth_session_end(rpc->auth, x->sess);
	x->sess = NULL;
	x->peer->token[0] = '\0';
	admin_sessions_ended(rpc->admin, user);
}

/* Who tries a password, for throttling: NULL for an administrator by
 * its credentials, whom nothing a stranger does may keep out. */
static const char *throttle_name(const struct rpc_peer *p)
{
	return p->info.trusted ? NULL : p->info.name;
}

static int retry_later(struct ctx *x, unsigned retry, const char *what)
{
	x->err_data = cJSON_CreateObject();
	if (x->err_data)
		cJSON_AddNumberToObject(x->err_data, "retryAfter", retry);
	x->err.code = CCPD_ERR_UNAUTHORIZED;
	snprintf(x->err.reason, sizeof(x->err.reason), "too many %s; try "
		 "again in %u s", what, retry);
	return x->err.code;
}

int m_login(struct ctx *x)
{
	struct rpc_peer *p = x->peer;
	struct rpc *rpc = p->rpc;
	const char *user, *pw;
	struct auth_session *s;
	unsigned retry = 0;
	int r = rpc_get_str(x, "username", true, 64, &user);

	if (r == 0)
		r = rpc_get_str(x, "password", true, 256, &pw);
	if (r < 0)
		return r;
	r = auth_check_login(rpc->auth, user, pw, throttle_name(p),
			     util_now_ms(), &retry);
	if (r == -EAGAIN)
		return retry_later(x, retry, "failed logins");
	if (r < 0)
		return rpc_refuse(x, CCPD_ERR_UNAUTHORIZED,
				  "wrong user name or password");
	r = auth_session_open(rpc->auth, user, util_now_ms(), &s);
	if (r < 0)
		return rpc_refuse(x, CCPD_ERR_INTERNAL, "cannot open a "
				  "session: %s", strerror(-r));
	r = take_desk(x, s);
	if (r < 0) {
		auth_session_end(rpc->auth, s);
		return r;
	}
	/* a second login on a connection leaves the first session to the
	 * other connections that may share it */
	snprintf(p->token, sizeof(p->token), "%s", auth_session_token(s));
	log_info("rpc: '%s' logged in from %s", user, p->info.name);
	x->result = session_json(rpc, s, true);
	return 0;
}

int m_session_resume(struct ctx *x)
{
	struct rpc_peer *p = x->peer;
	struct auth_session *s;
	const char *token;
	int r = rpc_get_str(x, "token", true, 128, &token);

	if (r < 0)
		return r;
	s = auth_session_find(p->rpc->auth, token, util_now_ms());
	if (!s)
		return rpc_refuse(x, CCPD_ERR_UNAUTHORIZED, "no such session: "
				  "it expired or was ended; log in again");
	r = take_desk(x, s);
	if (r < 0)
		return r;
	snprintf(p->token, sizeof(p->token), "%s", auth_session_token(s));
	x->result = session_json(p->rpc, s, true);
	return 0;
}

int m_logout(struct ctx *x)
{
	char user[128] = "";

	if (x->sess) {
		snprintf(user, sizeof(user), "%s", auth_session_user(x->sess));
		log_info("rpc: '%s' logged out", user);
	}
	end_own_session(x);
	/* and at every other desk of the instance */
	if (user[0] && x->peer->rpc->inst)
		instance_logged_out(x->peer->rpc->inst, user, util_now_ms());
	x->peer->token[0] = '\0';
	if (!x->peer->info.trusted) {
		x->peer->sub = events_unsubscribe(x->peer->sub);
		x->peer->floor_sub = events_unsubscribe(x->peer->floor_sub);
	}
	x->result = cJSON_CreateObject();
	return 0;
}

int m_whoami(struct ctx *x)
{
	struct rpc_peer *p = x->peer;
	struct rpc *rpc = p->rpc;
	const char *at = desk_user(rpc->desk), *user = NULL;
	char caller[32];
	cJSON *o;

	o = x->sess ? session_json(rpc, x->sess, false) : cJSON_CreateObject();
	if (!o)
		return 0;
	if (x->sess) {
		user = auth_session_user(x->sess);
		cJSON_AddStringToObject(o, "via", "session");
	} else {
		cJSON_AddNullToObject(o, "username");
		cJSON_AddNullToObject(o, "displayName");
		cJSON_AddNullToObject(o, "profile");
		cJSON_AddItemToObject(o, "permissions", perms_json(
			p->info.trusted ? PERMS_ALL : 0));
		cJSON_AddBoolToObject(o, "mustChangePassword", false);
		cJSON_AddNullToObject(o, "expires");
		cJSON_AddStringToObject(o, "via", p->info.trusted ?
					"peerCredentials" : "none");
	}
	cJSON_AddBoolToObject(o, "administrator", !x->sess && p->info.trusted);
	if (p->info.uid != (unsigned)-1)
		cJSON_AddNumberToObject(o, "uid", p->info.uid);
	else
		cJSON_AddNullToObject(o, "uid");
	if (at)
		cJSON_AddStringToObject(o, "deskUser", at);
	else
		cJSON_AddNullToObject(o, "deskUser");
	/* the number a call of this user would show (store_caller_id_for) */
	if (user && store_caller_id_for(rpc->st, user, caller,
					sizeof(caller)) == 0)
		cJSON_AddStringToObject(o, "callerId", caller);
	else
		cJSON_AddNullToObject(o, "callerId");
	x->result = o;
	return 0;
}

int m_change_password(struct ctx *x)
{
	struct rpc *rpc = x->peer->rpc;
	const char *old, *pw;
	unsigned retry = 0;
	int r;

	if (!x->sess)
		return rpc_refuse(x, CCPD_ERR_UNAUTHORIZED, "log in first "
				  "(session.login): a password belongs to a "
				  "user");
	r = rpc_get_str(x, "oldPassword", true, 256, &old);
	if (r == 0)
		r = rpc_get_str(x, "newPassword", true, 256, &pw);
	if (r < 0)
		return r;
	r = auth_change_password(rpc->auth, x->sess, old, pw,
				 throttle_name(x->peer), util_now_ms(), &retry,
				 x->err.reason, sizeof(x->err.reason));
	if (r == -EAGAIN)
		return retry_later(x, retry, "wrong passwords");
	if (r == -EACCES)
		return x->err.code = CCPD_ERR_UNAUTHORIZED;
	if (r == -EINVAL)
		return x->err.code = CCPD_ERR_INVALID_PARAMS;
	if (r < 0)
		return rpc_refuse(x, CCPD_ERR_INTERNAL, "cannot store the "
				  "password: %s", strerror(-r));
	log_info("rpc: '%s' changed their password",
		 auth_session_user(x->sess));
	x->result = session_json(rpc, x->sess, false);
	return 0;
}

bool rpc_peer_logged_in(struct rpc_peer *p)
{
	return p->info.trusted || (p->token[0] && auth_session_peek(
		p->rpc->auth, p->token, util_now_ms()));
}

/* Expired sessions end on their own, and with the last one of the user at
 * the desk, the desk is nobody's. */
static void session_expired(const char *username, void *arg)
{
	struct rpc *rpc = arg;

	admin_sessions_ended(rpc->admin, username);
}

static unsigned sweep_period_ms(const struct rpc *rpc)
{
	unsigned ms = rpc->conf->session_timeout * 500;

	return ms < 1000 ? 1000 : ms > 60000 ? 60000 : ms;
}

static void sweep(void *arg)
{
	struct rpc *rpc = arg;

	auth_sweep(rpc->auth, util_now_ms(), session_expired, rpc);
	tmr_start(&rpc->sweep_tmr, sweep_period_ms(rpc), sweep, rpc);
}


void rpc_session_sweep_start(struct rpc *rpc)
{
	tmr_init(&rpc->sweep_tmr);
	tmr_start(&rpc->sweep_tmr, sweep_period_ms(rpc), sweep, rpc);
}

void rpc_session_sweep_stop(struct rpc *rpc)
{
	tmr_cancel(&rpc->sweep_tmr);
}
