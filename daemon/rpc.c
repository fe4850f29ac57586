/* The JSON-RPC method table: every method and the permission it needs,
 * the parameter helpers, who is calling, dispatch, and the peers with
 * their events. The methods live by family in rpc-*.c (see rpc-int.h);
 * each checks its parameters, calls the desk and answers at once, and
 * every refusal carries a reason in words. */
#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <re.h>

#include "admin.h"
#include "auth.h"
#include "ccpd-protocol.h"
#include "conf.h"
#include "desk.h"
#include "events.h"
#include "json.h"
#include "jsonrpc.h"
#include "log.h"
#include "netcheck.h"
#include "perms.h"
#include "rpc-int.h"
#include "util.h"

struct method {
	const char *name;
	method_h *h;
	int perm;               /* an enum perm, or PERM_PUBLIC */
};

/* ---- helpers for every method ---- */

int rpc_bad_params(struct ctx *x, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	desk_vfail(&x->err, CCPD_ERR_INVALID_PARAMS, fmt, ap);
	va_end(ap);
	return x->err.code;
}

int rpc_get_str(struct ctx *x, const char *name, bool required,
		size_t max, const char **out)
{
	const cJSON *v = x->params ?
		cJSON_GetObjectItemCaseSensitive(x->params, name) : NULL;

	*out = NULL;
	if (!v || cJSON_IsNull(v)) {
		if (required)
			return rpc_bad_params(x, "missing parameter \"%s\"",
					      name);
		return 0;
	}
	if (!cJSON_IsString(v))
		return rpc_bad_params(x, "\"%s\" must be a string", name);
	if (!v->valuestring[0])
		return rpc_bad_params(x, "\"%s\" must not be empty", name);
	if (strlen(v->valuestring) > max)
		return rpc_bad_params(x, "\"%s\" is longer than %zu bytes",
				      name, max);
	*out = v->valuestring;
	return 0;
}

int rpc_get_uint(struct ctx *x, const char *name, unsigned long long min,
		 unsigned long long max, bool *present,
		 unsigned long long *out)
{
	const cJSON *v = x->params ?
		cJSON_GetObjectItemCaseSensitive(x->params, name) : NULL;

	*present = false;
	if (!v || cJSON_IsNull(v))
		return 0;
	if (!cJSON_IsNumber(v) || v->valuedouble < (double)min ||
	    v->valuedouble > (double)max ||
	    v->valuedouble != (double)(unsigned long long)v->valuedouble)
		return rpc_bad_params(x, "\"%s\" must be an integer in "
				      "%llu..%llu", name, min, max);
	*present = true;
	*out = (unsigned long long)v->valuedouble;
	return 0;
}

int rpc_desk_result(struct ctx *x, int r)
{
	if (r < 0 && !x->err.code)
		x->err.code = CCPD_ERR_INTERNAL;
	return r < 0 ? x->err.code : 0;
}

int rpc_refuse(struct ctx *x, int code, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	desk_vfail(&x->err, code, fmt, ap);
	va_end(ap);
	return code;
}

bool rpc_may(const struct ctx *x, enum perm p)
{
	return perms_check(&x->who, p, false) == PERMS_OK;
}

int rpc_forbidden(struct ctx *x, enum perm p)
{
	x->err_data = cJSON_CreateObject();
	if (x->err_data)
		cJSON_AddStringToObject(x->err_data, "permission",
					perm_name(p));
	return rpc_refuse(x, CCPD_ERR_FORBIDDEN, "this needs the permission %s",
			  perm_name(p));
}

/* ---- events ---- */

/* Events go only to a peer that may still see them: one trusted by its
 * credentials and acting on them, or one whose session is live and may use
 * the CCP. A subscription does not outlive the session that made it. */
static bool may_see_events(struct rpc_peer *p)
{
	struct auth_session *s;

	if (!p->token[0])
		return p->info.trusted;
	s = auth_session_peek(p->rpc->auth, p->token, util_now_ms());
	return s && (auth_session_perms(s) & PERM_BIT(PERM_CCP_USE)) &&
	       !auth_session_must_change(s);
}

static void peer_event(struct events_msg *msg, void *arg)
{
	struct rpc_peer *p = arg;

	if (!may_see_events(p))
		return;
	if (p->tp->send_shared)
		p->tp->send_shared(p->t, msg);
	else
		p->tp->send(p->t, events_msg_line(msg), events_msg_len(msg));
}

static void count_line(struct events_msg *msg, void *arg)
{
	(void)msg;
	(*(int *)arg)++;
}

static int m_subscribe(struct ctx *x)
{
	struct rpc_peer *p = x->peer;
	unsigned long long since = 0;
	bool present, resync = false;
	const char *instance;
	int n = 0, r;

	r = rpc_get_uint(x, "since", 0, 1ULL << 53, &present, &since);
	if (r == 0)
		r = rpc_get_str(x, "instance", false, 64, &instance);
	if (r < 0)
		return r;
	/* a since from another run of the daemon means nothing here */
	if (present && instance &&
	    strcmp(instance, events_instance(p->rpc->ev)) != 0) {
		resync = true;
	} else if (present) {
		r = events_replay(p->rpc->ev, since, count_line, &n);
		resync = r == -ESPIPE;
		x->replay = !resync && n > 0;
		x->since = since;
	}
	if (!p->sub) {
		r = events_subscribe(p->rpc->ev, &p->sub, peer_event, p);
		if (r < 0) {
			x->err.code = CCPD_ERR_INTERNAL;
			snprintf(x->err.reason, sizeof(x->err.reason),
				 "out of memory");
			return x->err.code;
		}
	}
	x->result = cJSON_CreateObject();
	cJSON_AddItemToObject(x->result, "snapshot",
			      desk_snapshot_json(p->rpc->desk));
	json_add_int(x->result, "seq",
			(long long)events_last_seq(p->rpc->ev));
	cJSON_AddNumberToObject(x->result, "replayed", resync ? 0 : n);
	cJSON_AddStringToObject(x->result, "instance",
				events_instance(p->rpc->ev));
	cJSON_AddBoolToObject(x->result, "resync", resync);
	return 0;
}

static int m_unsubscribe(struct ctx *x)
{
	x->peer->sub = events_unsubscribe(x->peer->sub);
	x->peer->floor_sub = events_unsubscribe(x->peer->floor_sub);
	x->result = cJSON_CreateObject();
	return 0;
}

/* ---- the daemon ---- */

static int m_version(struct ctx *x)
{
	x->result = cJSON_CreateObject();
	cJSON_AddStringToObject(x->result, "name", "ccpd");
	cJSON_AddStringToObject(x->result, "version", CCPD_VERSION);
	cJSON_AddNumberToObject(x->result, "protocol", CCPD_PROTOCOL_VERSION);
	return 0;
}

/* admin.c runs the admin.* methods; the table below checks who may. */
static int m_admin(struct ctx *x)
{
	return admin_call(x->peer->rpc->admin, x->m->name, x->params,
			  x->who.admin_peer ? PERMS_ALL : x->who.set,
			  &x->result, &x->err);
}

/* ---- the table ---- */

static int m_list_methods(struct ctx *x);

/* Every method and the permission it needs; PERM_PUBLIC ones may be called
 * by anyone, before logging in too, and while a one-time password waits to
 * be changed. */
static const struct method methods[] = {
	{ "agent.getState",          m_get_state,   PERM_CCP_USE },
	{ "agent.setState",          m_set_state,   PERM_CCP_USE },
	{ "agent.clearNextState",    m_clear_next,  PERM_CCP_USE },
	{ "agent.listStates",        m_list_states, PERM_CCP_USE },
	{ "agent.getConfiguration",  m_get_config,  PERM_CCP_USE },
	{ "agent.setConfiguration",  m_set_config,  PERM_CCP_USE },
	{ "agent.moveToDeskPhone",   m_move_to_desk, PERM_CCP_USE },
	{ "agent.connect",           m_connect,     PERM_OUTBOUND_CALL },
	{ "contact.list",            m_contact_list, PERM_CCP_USE },
	{ "contact.get",             m_contact_get, PERM_CCP_USE },
	{ "contact.history",         m_contact_history, PERM_CCP_USE },
	{ "contact.accept",          m_accept,      PERM_CCP_USE },
	{ "contact.reject",          m_reject,      PERM_CCP_USE },
	{ "contact.clear",           m_clear,       PERM_CCP_USE },
	{ "connection.destroy",      m_destroy,     PERM_CCP_USE },
	{ "connection.hold",         m_hold,        PERM_CCP_USE },
	{ "connection.resume",       m_resume,      PERM_CCP_USE },
	{ "connection.sendDigits",   m_send_digits, PERM_CCP_USE },
	/* these two dial a third party */
	{ "contact.addConnection",   m_add_connection, PERM_OUTBOUND_CALL },
	{ "contact.transfer",        m_transfer,    PERM_OUTBOUND_CALL },
	{ "contact.toggleActiveConnections", m_swap, PERM_CCP_USE },
	{ "contact.conferenceConnections", m_conference, PERM_CCP_USE },
	{ "agent.mute",              m_mute,        PERM_CCP_USE },
	{ "agent.unmute",            m_unmute,      PERM_CCP_USE },
	{ "agent.getEndpoints",      m_get_endpoints, PERM_CCP_USE },
	{ "phone.normalize",         m_phone_normalize, PERM_CCP_USE },
	{ "phone.format",            m_phone_format, PERM_CCP_USE },
	{ "events.subscribe",        m_subscribe,   PERM_CCP_USE },
	{ "events.unsubscribe",      m_unsubscribe, PERM_PUBLIC },
	{ "media.getStatus",         m_media_status, PERM_CCP_USE },
	{ "registration.getStatus",  m_registration, PERM_CCP_USE },
	{ "audio.listDevices",       m_audio_list,  PERM_CCP_USE },
	{ "audio.setDevices",        m_audio_set,   PERM_CCP_USE },
	{ "audio.test",              m_audio_test,  PERM_CCP_USE },
	{ "network.check",           m_network_check, PERM_CCP_USE },
	{ "daemon.getVersion",       m_version,     PERM_PUBLIC },
	{ "daemon.listMethods",      m_list_methods, PERM_PUBLIC },
	{ "session.login",           m_login,       PERM_PUBLIC },
	{ "session.resume",          m_session_resume, PERM_PUBLIC },
	{ "session.logout",          m_logout,      PERM_PUBLIC },
	{ "session.whoami",          m_whoami,      PERM_PUBLIC },
	{ "session.changePassword",  m_change_password, PERM_PUBLIC },
	{ "metrics.get",             m_metrics,     PERM_METRICS_VIEW },
	{ "metrics.getPrometheus",   m_prometheus,  PERM_METRICS_VIEW_ALL },
	{ "report.agents",           m_report_agents, PERM_METRICS_VIEW_ALL },
	{ "store.getStatus",         m_store_status, PERM_CCP_USE },
	{ "admin.users.list",        m_admin,       PERM_USERS_VIEW },
	{ "admin.users.get",         m_admin,       PERM_USERS_VIEW },
	{ "admin.users.create",      m_admin,       PERM_USERS_MANAGE },
	{ "admin.users.update",      m_admin,       PERM_USERS_MANAGE },
	{ "admin.users.delete",      m_admin,       PERM_USERS_MANAGE },
	{ "admin.profiles.list",     m_admin,       PERM_USERS_VIEW },
	{ "admin.profiles.get",      m_admin,       PERM_USERS_VIEW },
	{ "admin.profiles.create",   m_admin,       PERM_PROFILES_MANAGE },
	{ "admin.profiles.update",   m_admin,       PERM_PROFILES_MANAGE },
	{ "admin.profiles.delete",   m_admin,       PERM_PROFILES_MANAGE },
	{ "admin.statuses.list",     m_admin,       PERM_STATUSES_MANAGE },
	{ "admin.statuses.get",      m_admin,       PERM_STATUSES_MANAGE },
	{ "admin.statuses.create",   m_admin,       PERM_STATUSES_MANAGE },
	{ "admin.statuses.update",   m_admin,       PERM_STATUSES_MANAGE },
	{ "admin.statuses.delete",   m_admin,       PERM_STATUSES_MANAGE },
	{ "admin.numbers.list",      m_admin,       PERM_NUMBERS_MANAGE },
	{ "admin.numbers.get",       m_admin,       PERM_NUMBERS_MANAGE },
	{ "admin.numbers.create",    m_admin,       PERM_NUMBERS_MANAGE },
	{ "admin.numbers.update",    m_admin,       PERM_NUMBERS_MANAGE },
	{ "admin.numbers.delete",    m_admin,       PERM_NUMBERS_MANAGE },
	{ "admin.origins.list",      m_admin,       PERM_ORIGINS_MANAGE },
	{ "admin.origins.get",       m_admin,       PERM_ORIGINS_MANAGE },
	{ "admin.origins.create",    m_admin,       PERM_ORIGINS_MANAGE },
	{ "admin.origins.update",    m_admin,       PERM_ORIGINS_MANAGE },
	{ "admin.origins.delete",    m_admin,       PERM_ORIGINS_MANAGE },
	{ "admin.quickConnects.list", m_admin,      PERM_QUICK_CONNECTS_MANAGE },
	{ "admin.quickConnects.get", m_admin,       PERM_QUICK_CONNECTS_MANAGE },
	{ "admin.quickConnects.create", m_admin,    PERM_QUICK_CONNECTS_MANAGE },
	{ "admin.quickConnects.update", m_admin,    PERM_QUICK_CONNECTS_MANAGE },
	{ "admin.quickConnects.delete", m_admin,    PERM_QUICK_CONNECTS_MANAGE },
	{ "floor.get",               m_floor_get,   PERM_FLOOR_VIEW },
	{ "floor.history",           m_floor_history, PERM_FLOOR_VIEW },
	{ "bus.getStatus",           m_bus_status,  PERM_CCP_USE },
};

/* Who is calling, and may they call this method? */
static int authorize(struct ctx *x)
{
	struct rpc_peer *p = x->peer;
	bool had_session = p->token[0] != '\0';

	if (had_session) {
		x->sess = auth_session_find(p->rpc->auth, p->token,
					    util_now_ms());
		if (!x->sess) {
			/* the connection falls back to its peer identity,
			 * after saying so once */
			p->token[0] = '\0';
			if (x->m->perm != PERM_PUBLIC)
				return rpc_refuse(x, CCPD_ERR_UNAUTHORIZED,
						  "the session has expired or "
						  "was ended; log in again");
		}
	}
	if (x->sess) {
		x->who.logged_in = true;
		x->who.must_change = auth_session_must_change(x->sess);
		x->who.set = auth_session_perms(x->sess);
	} else {
		x->who.admin_peer = p->info.trusted;
	}
	switch (perms_check(&x->who, x->m->perm, false)) {
	case PERMS_OK:
		return 0;
	case PERMS_LOGIN_REQUIRED:
		return rpc_refuse(x, CCPD_ERR_UNAUTHORIZED, "log in first "
				  "(session.login)");
	case PERMS_PASSWORD_CHANGE:
		x->err_data = cJSON_CreateObject();
		if (x->err_data)
			cJSON_AddBoolToObject(x->err_data,
					      "mustChangePassword", true);
		return rpc_refuse(x, CCPD_ERR_UNAUTHORIZED, "the one-time "
				  "password must be changed first "
				  "(session.changePassword)");
	case PERMS_FORBIDDEN:
		return rpc_forbidden(x, (enum perm)x->m->perm);
	}
	return rpc_refuse(x, CCPD_ERR_INTERNAL, "no verdict");
}

/* Clients (the CCP page) offer the controls whose methods this daemon
 * has, so one page serves daemons of different releases. Public, so that
 * a page knows before logging in whether there is a login. */
static int m_list_methods(struct ctx *x)
{
	size_t i;

	x->result = cJSON_CreateArray();
	for (i = 0; x->result && i < sizeof(methods) / sizeof(methods[0]);
	     i++)
		cJSON_AddItemToArray(x->result,
				     cJSON_CreateString(methods[i].name));
	return 0;
}

static const struct method *find_method(const char *name)
{
	size_t i;

	for (i = 0; i < sizeof(methods) / sizeof(methods[0]); i++)
		if (strcmp(methods[i].name, name) == 0)
			return &methods[i];
	return NULL;
}

/* ---- peers ---- */

static void send_line(struct rpc_peer *p, char *line)
{
	if (!line) {
		log_error("rpc: out of memory encoding an answer");
		return;
	}
	p->tp->send(p->t, line, strlen(line));
	free(line);
}

void rpc_send_line(struct rpc_peer *p, char *line)
{
	send_line(p, line);
}

/* A peer that is not logged in when its time is up goes; one that is is
 * checked again as long after, so that logging out does not keep a slot
 * either. */
static void login_due(void *arg)
{
	struct rpc_peer *p = arg;

	if (rpc_peer_logged_in(p)) {
		tmr_start(&p->login_tmr, p->rpc->conf->login_timeout * 1000ULL,
			  login_due, p);
		return;
	}
	p->tp->drop(p->t, "not logged in in time");
}

int rpc_peer_new(struct rpc_peer **ret, struct rpc *rpc,
		 const struct rpc_transport *tp, void *t,
		 const struct rpc_peer_info *info)
{
	struct rpc_peer *p = calloc(1, sizeof(*p));

	if (!p)
		return -ENOMEM;
	p->rpc = rpc;
	p->tp = tp;
	p->t = t;
	p->info = *info;
	tmr_init(&p->login_tmr);
	if (!info->trusted && tp->drop && rpc->conf->login_timeout)
		tmr_start(&p->login_tmr, rpc->conf->login_timeout * 1000ULL,
			  login_due, p);
	*ret = p;
	return 0;
}

struct rpc_peer *rpc_peer_free(struct rpc_peer *p)
{
	if (!p)
		return NULL;
	tmr_cancel(&p->login_tmr);
	rpc_later_peer_gone(p->rpc, p);
	events_unsubscribe(p->sub);
	events_unsubscribe(p->floor_sub);
	explicit_bzero(p->token, sizeof(p->token));
	free(p);
	return NULL;
}

void rpc_peer_reject(struct rpc_peer *p, int code, const char *reason)
{
	send_line(p, jsonrpc_error(NULL, code, reason, NULL));
}

/* What waits until the answers have gone out: events.subscribe's
 * replay. */
struct after {
	bool replay;
	unsigned long long since;
};

/* Carries out one request that decoded (r 0), and encodes its answer, or
 * the answer to one that did not (r < 0: err_id and reason). Returns
 * false for a notification, which gets no answer, errors included. */
static bool serve(struct rpc_peer *p, int r, const struct jsonrpc_req *req,
		  const cJSON *err_id, const char *reason,
		  struct after *after, char **line)
{
	struct ctx x = { .peer = p, .params = req->params };
	const struct method *m;

	*line = NULL;
	if (r < 0) {
		log_debug("rpc: rejected message: %s", reason);
		/* Invalid params comes only for a request otherwise valid,
		 * and an id would have been kept */
		if (r == CCPD_ERR_INVALID_PARAMS && !err_id)
			return false;
		*line = jsonrpc_error(err_id, r, reason, NULL);
		return true;
	}
	m = find_method(req->method);
	x.m = m;
	if (!m) {
		x.err.code = CCPD_ERR_METHOD_NOT_FOUND;
		snprintf(x.err.reason, sizeof(x.err.reason),
			 "no method '%.100s'", req->method);
		r = x.err.code;
	} else if ((r = authorize(&x)) == 0) {
		desk_set_actor(p->rpc->desk, x.sess ?
			       auth_session_user(x.sess) :
			       p->info.trusted ? p->info.name : "anonymous");
		r = m->h(&x);
		desk_set_actor(p->rpc->desk, NULL);
		if (r == 0 && !x.later && !x.result && !x.result_text) {
			r = x.err.code = CCPD_ERR_INTERNAL;
			snprintf(x.err.reason, sizeof(x.err.reason),
				 "out of memory");
		}
	}
	if (r < 0 && x.later) {
		/* it took a later answer, then refused at once */
		rpc_later_drop(x.later);
		x.later = NULL;
	}
	if (r == 0 && x.later) {
		/* the method answers later, through x.later */
		rpc_later_arm(x.later, req->id);
		cJSON_Delete(x.result);
		cJSON_Delete(x.err_data);
		return false;
	}
	if (r == 0 && x.replay) {
		after->replay = true;
		after->since = x.since;
	}
	if (req->id) {
		if (r < 0) {
			*line = jsonrpc_error(req->id, r, x.err.reason,
					      x.err_data);
			x.err_data = NULL;
		} else if (x.result_text) {
			*line = jsonrpc_result_raw(req->id, x.result_text);
		} else {
			*line = jsonrpc_result(req->id, x.result);
		}
		x.result = NULL;
	}
	cJSON_Delete(x.result);
	cJSON_Delete(x.err_data);
	return req->id != NULL;
}

/* A batch's requests run in order, each as if it came alone, and their
 * answers go out together as one array; when every one was a
 * notification nothing goes out. */
static void serve_batch(struct rpc_peer *p, const cJSON *batch,
			struct after *after)
{
	struct jsonrpc_batch answers = { .buf = NULL };
	struct jsonrpc_req req;
	const cJSON *item;
	cJSON *err_id;
	char reason[160], *line;
	int r;

	p->in_batch = true;
	cJSON_ArrayForEach(item, batch) {
		r = jsonrpc_check(item, &req, &err_id, reason, sizeof(reason));
		if (serve(p, r, &req, err_id, reason, after, &line))
			jsonrpc_batch_add(&answers, line);
		cJSON_Delete(err_id);
	}
	p->in_batch = false;
	if (answers.failed)
		log_error("rpc: out of memory encoding an answer in a batch");
	line = jsonrpc_batch_end(&answers);
	if (line)
		send_line(p, line);
}

void rpc_peer_input(struct rpc_peer *p, const char *msg, size_t len)
{
	struct after after = { .replay = false };
	struct jsonrpc_req req;
	cJSON *err_id = NULL;
	char reason[160], *line;
	int r;

	r = jsonrpc_decode(msg, len, &req, &err_id, reason, sizeof(reason));
	if (r == JSONRPC_BATCH)
		serve_batch(p, req.doc, &after);
	else if (serve(p, r, &req, err_id, reason, &after, &line))
		send_line(p, line);
	cJSON_Delete(err_id);
	jsonrpc_req_clear(&req);
	if (after.replay)
		events_replay(p->rpc->ev, after.since, peer_event, p);
}

int rpc_new(struct rpc **ret, const struct conf *conf, struct desk *d,
	    struct events *ev, struct store *st, struct auth *auth,
	    struct admin *admin)
{
	struct rpc *rpc = calloc(1, sizeof(*rpc));
	int r;

	if (!rpc)
		return -ENOMEM;
	r = netcheck_new(&rpc->netcheck, conf, ev);
	if (r < 0) {
		free(rpc);
		return r;
	}
	rpc->conf = conf;
	rpc->desk = d;
	rpc->ev = ev;
	rpc->st = st;
	rpc->auth = auth;
	rpc->admin = admin;
	rpc_session_sweep_start(rpc);
	*ret = rpc;
	return 0;
}

void rpc_set_bus(struct rpc *rpc, struct bus *bus)
{
	rpc->bus = bus;
}

struct rpc *rpc_free(struct rpc *rpc)
{
	if (!rpc)
		return NULL;
	rpc_session_sweep_stop(rpc);
	rpc_later_free_all(rpc);
	rpc->netcheck = netcheck_free(rpc->netcheck);
	free(rpc);
	return NULL;
}
