/* The JSON-RPC method table. Each method checks its parameters, calls the
 * desk and answers at once; every refusal carries a reason in words. */
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
#include "jsonrpc.h"
#include "log.h"
#include "phone.h"
#include "metrics.h"
#include "netcheck.h"
#include "perms.h"
#include "rpc.h"
#include "store.h"
#include "util.h"

#define MAX_STRING 4096

struct rpc {
	const struct conf *conf;
	struct desk *desk;
	struct events *ev;
	struct store *st;
	struct auth *auth;
	struct admin *admin;
	struct netcheck *netcheck;
	struct tmr sweep_tmr;
};

struct rpc_peer {
	struct rpc *rpc;
	const struct rpc_transport *tp;
	void *t;
	struct events_sub *sub;
	struct rpc_peer_info info;
	/* the session this connection acts in, "" for none */
	char token[65];
};

struct method;

struct ctx {
	struct rpc_peer *peer;
	const struct method *m;
	const cJSON *params;
	cJSON *result;
	const char *result_text;   /* already encoded, not owned */
	struct desk_err err;
	cJSON *err_data;           /* more members of error.data */
	/* who is calling */
	struct auth_session *sess;
	struct perms_who who;
	/* events.subscribe: replay after the answer */
	bool replay;
	unsigned long long since;
};

typedef int (method_h)(struct ctx *x);

struct method {
	const char *name;
	method_h *h;
	int perm;               /* an enum perm, or PERM_PUBLIC */
};

static int bad_params(struct ctx *x, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static int bad_params(struct ctx *x, const char *fmt, ...)
{
	va_list ap;

	x->err.code = CCPD_ERR_INVALID_PARAMS;
	va_start(ap, fmt);
	vsnprintf(x->err.reason, sizeof(x->err.reason), fmt, ap);
	va_end(ap);
	return x->err.code;
}

/* A string parameter; NULL when absent and optional. */
static int get_str(struct ctx *x, const char *name, bool required,
		   size_t max, const char **out)
{
	const cJSON *v = x->params ?
		cJSON_GetObjectItemCaseSensitive(x->params, name) : NULL;

	*out = NULL;
	if (!v || cJSON_IsNull(v)) {
		if (required)
			return bad_params(x, "missing parameter \"%s\"", name);
		return 0;
	}
	if (!cJSON_IsString(v))
		return bad_params(x, "\"%s\" must be a string", name);
	if (!v->valuestring[0])
		return bad_params(x, "\"%s\" must not be empty", name);
	if (strlen(v->valuestring) > max)
		return bad_params(x, "\"%s\" is longer than %zu bytes", name,
				  max);
	*out = v->valuestring;
	return 0;
}

static int get_uint(struct ctx *x, const char *name, unsigned long long min,
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
		return bad_params(x, "\"%s\" must be an integer in %llu..%llu",
				  name, min, max);
	*present = true;
	*out = (unsigned long long)v->valuedouble;
	return 0;
}

static int desk_result(struct ctx *x, int r)
{
	if (r < 0 && !x->err.code)
		x->err.code = CCPD_ERR_INTERNAL;
	return r < 0 ? x->err.code : 0;
}

static int with_contact(struct ctx *x,
			int (*fn)(struct desk *, const char *,
				  struct desk_err *))
{
	const char *id;
	int r = get_str(x, "contactId", true, 64, &id);

	if (r < 0)
		return r;
	r = fn(x->peer->rpc->desk, id, &x->err);
	if (r == 0)
		x->result = cJSON_CreateObject();
	return desk_result(x, r);
}

/* ---- methods ---- */

static int m_get_state(struct ctx *x)
{
	x->result_text = desk_agent_text(x->peer->rpc->desk);
	return 0;
}

static int m_set_state(struct ctx *x)
{
	const char *name;
	int r = get_str(x, "state", true, 64, &name);

	if (r < 0)
		return r;
	r = desk_set_status(x->peer->rpc->desk, name, &x->err);
	if (r == 0)
		x->result = desk_agent_json(x->peer->rpc->desk);
	return desk_result(x, r);
}

static int m_clear_next(struct ctx *x)
{
	int r = desk_clear_next(x->peer->rpc->desk, &x->err);

	if (r == 0)
		x->result = desk_agent_json(x->peer->rpc->desk);
	return desk_result(x, r);
}

static int m_list_states(struct ctx *x)
{
	x->result = desk_states_json(x->peer->rpc->desk);
	return 0;
}

static int m_get_config(struct ctx *x)
{
	x->result = desk_config_json(x->peer->rpc->desk);
	return 0;
}

static int m_set_config(struct ctx *x)
{
	const cJSON *soft = x->params ? cJSON_GetObjectItemCaseSensitive(
		x->params, "softphoneEnabled") : NULL;
	const char *ext;
	int r;

	if (!cJSON_IsBool(soft))
		return bad_params(x, "\"softphoneEnabled\" must be true or "
				  "false");
	r = get_str(x, "extension", false, CCPD_MAX_ENDPOINT, &ext);
	if (r < 0)
		return r;
	r = desk_set_config(x->peer->rpc->desk, cJSON_IsTrue(soft), ext,
			    &x->err);
	if (r == 0)
		x->result = desk_config_json(x->peer->rpc->desk);
	return desk_result(x, r);
}

static int m_move_to_desk(struct ctx *x)
{
	struct desk *d = x->peer->rpc->desk;
	char id[32];
	int r = desk_move_to_desk_phone(d, id, sizeof(id), &x->err);

	if (r == 0) {
		cJSON *conf = desk_config_json(d);

		x->result = cJSON_CreateObject();
		cJSON_AddStringToObject(x->result, "status",
					id[0] ? "ringing" : "moved");
		if (id[0])
			cJSON_AddStringToObject(x->result, "contactId", id);
		else
			cJSON_AddNullToObject(x->result, "contactId");
		cJSON_AddItemToObject(x->result, "extension", cJSON_Duplicate(
			cJSON_GetObjectItemCaseSensitive(conf, "extension"),
			true));
		cJSON_AddItemToObject(x->result, "configuration", conf);
	}
	return desk_result(x, r);
}

static int m_connect(struct ctx *x)
{
	const char *endpoint;
	char id[32];
	int r = get_str(x, "endpoint", true, CCPD_MAX_ENDPOINT, &endpoint);

	if (r < 0)
		return r;
	r = desk_dial(x->peer->rpc->desk, endpoint, id, sizeof(id), &x->err);
	if (r == 0) {
		x->result = cJSON_CreateObject();
		cJSON_AddStringToObject(x->result, "contactId", id);
	}
	return desk_result(x, r);
}

static int m_contact_list(struct ctx *x)
{
	x->result = desk_contacts_json(x->peer->rpc->desk);
	return 0;
}

static int m_contact_get(struct ctx *x)
{
	const char *id;
	int r = get_str(x, "contactId", true, 64, &id);

	if (r < 0)
		return r;
	x->result = desk_contact_json(x->peer->rpc->desk, id);
	if (!x->result) {
		x->err.code = CCPD_ERR_NOT_FOUND;
		snprintf(x->err.reason, sizeof(x->err.reason),
			 "no contact '%s'", id);
		return x->err.code;
	}
	return 0;
}

static int m_contact_history(struct ctx *x)
{
	unsigned long long limit = 50;
	bool present;
	int r = get_uint(x, "limit", 1, 1000, &present, &limit);

	if (r < 0)
		return r;
	x->result = desk_history_json(x->peer->rpc->desk, (unsigned)limit);
	return 0;
}

static int m_accept(struct ctx *x)
{
	return with_contact(x, desk_accept);
}

static int m_reject(struct ctx *x)
{
	return with_contact(x, desk_reject);
}

static int m_clear(struct ctx *x)
{
	return with_contact(x, desk_clear);
}

static int m_destroy(struct ctx *x)
{
	const char *id, *conn;
	int r = get_str(x, "contactId", true, 64, &id);

	if (r == 0)
		r = get_str(x, "connectionId", false, 64, &conn);
	if (r < 0)
		return r;
	r = desk_hangup(x->peer->rpc->desk, id, conn, &x->err);
	if (r == 0)
		x->result = cJSON_CreateObject();
	return desk_result(x, r);
}

/* contactId and an optional connectionId */
static int get_contact_conn(struct ctx *x, const char **id, const char **conn)
{
	int r = get_str(x, "contactId", true, 64, id);

	if (r == 0)
		r = get_str(x, "connectionId", false, 64, conn);
	return r;
}

static int m_hold(struct ctx *x)
{
	const char *id, *conn;
	int r = get_contact_conn(x, &id, &conn);

	if (r < 0)
		return r;
	r = desk_hold(x->peer->rpc->desk, id, conn, &x->err);
	if (r == 0)
		x->result = cJSON_CreateObject();
	return desk_result(x, r);
}

static int m_resume(struct ctx *x)
{
	const char *id, *conn;
	int r = get_contact_conn(x, &id, &conn);

	if (r < 0)
		return r;
	r = desk_resume(x->peer->rpc->desk, id, conn, &x->err);
	if (r == 0)
		x->result = cJSON_CreateObject();
	return desk_result(x, r);
}

static int m_swap(struct ctx *x)
{
	return with_contact(x, desk_swap);
}

static int m_conference(struct ctx *x)
{
	return with_contact(x, desk_conference);
}

static int set_mute(struct ctx *x, bool muted)
{
	int r = desk_set_mute(x->peer->rpc->desk, muted, &x->err);

	if (r == 0)
		x->result = desk_agent_json(x->peer->rpc->desk);
	return desk_result(x, r);
}

static int m_mute(struct ctx *x)
{
	return set_mute(x, true);
}

static int m_unmute(struct ctx *x)
{
	return set_mute(x, false);
}

static int m_send_digits(struct ctx *x)
{
	const char *id, *conn, *digits;
	int r = get_contact_conn(x, &id, &conn);

	if (r == 0)
		r = get_str(x, "digits", true, CCPD_MAX_DIGITS, &digits);
	if (r < 0)
		return r;
	if (strspn(digits, "0123456789*#ABCD") != strlen(digits))
		return bad_params(x, "\"digits\" may hold only 0-9, *, # and "
				  "A-D");
	r = desk_send_digits(x->peer->rpc->desk, id, conn, digits, &x->err);
	if (r == 0)
		x->result = cJSON_CreateObject();
	return desk_result(x, r);
}

static int m_add_connection(struct ctx *x)
{
	const char *id, *endpoint;
	char conn[40];
	int r = get_str(x, "contactId", true, 64, &id);

	if (r == 0)
		r = get_str(x, "endpoint", true, CCPD_MAX_ENDPOINT, &endpoint);
	if (r < 0)
		return r;
	r = desk_add_connection(x->peer->rpc->desk, id, endpoint, conn,
				sizeof(conn), &x->err);
	if (r == 0) {
		x->result = cJSON_CreateObject();
		cJSON_AddStringToObject(x->result, "connectionId", conn);
	}
	return desk_result(x, r);
}

static int m_transfer(struct ctx *x)
{
	const char *id, *endpoint, *method;
	int r = get_str(x, "contactId", true, 64, &id);

	if (r == 0)
		r = get_str(x, "endpoint", true, CCPD_MAX_ENDPOINT, &endpoint);
	if (r == 0)
		r = get_str(x, "method", false, 16, &method);
	if (r < 0)
		return r;
	r = desk_transfer(x->peer->rpc->desk, id, endpoint, method, &x->err);
	if (r == 0)
		x->result = cJSON_CreateObject();
	return desk_result(x, r);
}

static int m_get_endpoints(struct ctx *x)
{
	x->result = desk_endpoints_json(x->peer->rpc->desk);
	return 0;
}

static void count_line(struct events_msg *msg, void *arg)
{
	(void)msg;
	(*(int *)arg)++;
}

static void peer_event(struct events_msg *msg, void *arg);

static int m_subscribe(struct ctx *x)
{
	struct rpc_peer *p = x->peer;
	unsigned long long since = 0;
	bool present, resync = false;
	const char *instance;
	int n = 0, r;

	r = get_uint(x, "since", 0, 1ULL << 53, &present, &since);
	if (r == 0)
		r = get_str(x, "instance", false, 64, &instance);
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
	jsonrpc_add_int(x->result, "seq",
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
	x->result = cJSON_CreateObject();
	return 0;
}

static int m_media_status(struct ctx *x)
{
	x->result = desk_media_json(x->peer->rpc->desk);
	return 0;
}

static int m_audio_list(struct ctx *x)
{
	x->result = desk_audio_devices_json(x->peer->rpc->desk);
	return 0;
}

static int m_audio_set(struct ctx *x)
{
	const char *mic, *spk, *ring;
	int r;

	r = get_str(x, "microphone", false, 127, &mic);
	if (r == 0)
		r = get_str(x, "speaker", false, 127, &spk);
	if (r == 0)
		r = get_str(x, "ringer", false, 127, &ring);
	if (r < 0)
		return r;
	if (!mic && !spk && !ring)
		return bad_params(x, "name at least one of microphone, "
				  "speaker and ringer");
	r = desk_set_audio(x->peer->rpc->desk, mic, spk, ring, &x->err);
	if (r == 0)
		x->result = desk_audio_devices_json(x->peer->rpc->desk);
	return desk_result(x, r);
}

static int m_audio_test(struct ctx *x)
{
	unsigned ms = 0;
	int r = desk_audio_test(x->peer->rpc->desk, &ms, &x->err);

	if (r == 0) {
		x->result = cJSON_CreateObject();
		cJSON_AddNumberToObject(x->result, "durationMs", ms);
	}
	return desk_result(x, r);
}

/* Answers at once with the id; the items follow as events. */
static int m_network_check(struct ctx *x)
{
	char id[32];
	int r = netcheck_start(x->peer->rpc->netcheck, id, sizeof(id));

	if (r == -EBUSY) {
		x->err.code = CCPD_ERR_INVALID_STATE;
		snprintf(x->err.reason, sizeof(x->err.reason),
			 "%d network checks are running already; wait for "
			 "one to end", NETCHECK_MAX_RUNS);
		return x->err.code;
	}
	if (r < 0)
		return desk_result(x, r);
	x->result = cJSON_CreateObject();
	cJSON_AddStringToObject(x->result, "checkId", id);
	return 0;
}

static int m_registration(struct ctx *x)
{
	x->result = desk_registration_json(x->peer->rpc->desk);
	return 0;
}

/* phone.normalize and phone.format: the number read in the given region,
 * else the agent's, else the instance's. */
static int parse_number(struct ctx *x, struct phone_number **n)
{
	const char *number, *region;
	enum phone_error why;
	int r = get_str(x, "number", true, CCPD_MAX_ENDPOINT, &number);

	if (r == 0)
		r = get_str(x, "region", false, 8, &region);
	if (r < 0)
		return r;
	if (region && !phone_region_known(region))
		return bad_params(x, "\"region\" must be a region such as "
				  "\"US\" or \"GB\" (ISO 3166 alpha-2); "
				  "'%s' is not one", region);
	if (!region)
		region = desk_default_region(x->peer->rpc->desk);
	r = phone_parse(number, region, n, &why);
	if (r == -EINVAL) {
		x->err.code = CCPD_ERR_INVALID_PHONE_NUMBER;
		snprintf(x->err.reason, sizeof(x->err.reason),
			 "'%s' is not a valid phone number: %s%s%s%s",
			 number, phone_error_reason(why),
			 why == PHONE_ERR_NOT_VALID && *region ?
			 " (read in " : "",
			 why == PHONE_ERR_NOT_VALID && *region ? region : "",
			 why == PHONE_ERR_NOT_VALID && *region ? ")" : "");
		return x->err.code;
	}
	if (r < 0) {
		x->err.code = CCPD_ERR_INTERNAL;
		snprintf(x->err.reason, sizeof(x->err.reason),
			 "out of memory");
		return x->err.code;
	}
	return 0;
}

static void add_format(cJSON *o, const char *name,
		       const struct phone_number *n, enum phone_format f)
{
	char buf[128];

	if (phone_format(n, f, buf, sizeof(buf)) == 0)
		cJSON_AddStringToObject(o, name, buf);
	else
		cJSON_AddNullToObject(o, name);
}

static int m_phone_normalize(struct ctx *x)
{
	struct phone_number *n = NULL;
	char region[8];
	int r = parse_number(x, &n);

	if (r < 0)
		return r;
	x->result = cJSON_CreateObject();
	if (x->result) {
		add_format(x->result, "e164", n, PHONE_FMT_E164);
		add_format(x->result, "international", n,
			   PHONE_FMT_INTERNATIONAL);
		add_format(x->result, "national", n, PHONE_FMT_NATIONAL);
		phone_region_of(n, region, sizeof(region));
		cJSON_AddStringToObject(x->result, "region", region);
		cJSON_AddStringToObject(x->result, "type", phone_type_of(n));
	}
	phone_number_free(n);
	return 0;
}

static int m_phone_format(struct ctx *x)
{
	struct phone_number *n = NULL;
	const char *fname;
	int f = PHONE_FMT_E164, r;

	r = get_str(x, "format", false, 32, &fname);
	if (r < 0)
		return r;
	if (fname && (f = phone_format_from_name(fname)) < 0)
		return bad_params(x, "\"format\" must be \"E164\", "
				  "\"INTERNATIONAL\", \"NATIONAL\" or "
				  "\"RFC3966\"");
	r = parse_number(x, &n);
	if (r < 0)
		return r;
	x->result = cJSON_CreateObject();
	if (x->result) {
		add_format(x->result, "formatted", n, (enum phone_format)f);
		add_format(x->result, "e164", n, PHONE_FMT_E164);
	}
	phone_number_free(n);
	return 0;
}

static int m_version(struct ctx *x)
{
	x->result = cJSON_CreateObject();
	cJSON_AddStringToObject(x->result, "name", "ccpd");
	cJSON_AddStringToObject(x->result, "version", CCPD_VERSION);
	cJSON_AddNumberToObject(x->result, "protocol", CCPD_PROTOCOL_VERSION);
	return 0;
}

/* ---- sessions ---- */

static int refuse(struct ctx *x, int code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static int refuse(struct ctx *x, int code, const char *fmt, ...)
{
	va_list ap;

	x->err.code = code;
	va_start(ap, fmt);
	vsnprintf(x->err.reason, sizeof(x->err.reason), fmt, ap);
	va_end(ap);
	return code;
}

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
	jsonrpc_add_int(o, "expires", (long long)auth_session_expires(s));
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

static int m_login(struct ctx *x)
{
	struct rpc_peer *p = x->peer;
	struct rpc *rpc = p->rpc;
	const char *user, *pw;
	struct auth_session *s;
	unsigned retry = 0;
	int r = get_str(x, "username", true, 64, &user);

	if (r == 0)
		r = get_str(x, "password", true, 256, &pw);
	if (r < 0)
		return r;
	r = auth_check_login(rpc->auth, user, pw, p->info.name, util_now_ms(),
			     &retry);
	if (r == -EAGAIN) {
		x->err_data = cJSON_CreateObject();
		if (x->err_data)
			cJSON_AddNumberToObject(x->err_data, "retryAfter",
						retry);
		return refuse(x, CCPD_ERR_UNAUTHORIZED, "too many failed "
			      "logins; try again in %u s", retry);
	}
	if (r < 0)
		return refuse(x, CCPD_ERR_UNAUTHORIZED,
			      "wrong user name or password");
	r = auth_session_open(rpc->auth, user, util_now_ms(), &s);
	if (r < 0)
		return refuse(x, CCPD_ERR_INTERNAL, "cannot open a session: %s",
			      strerror(-r));
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

static int m_session_resume(struct ctx *x)
{
	struct rpc_peer *p = x->peer;
	struct auth_session *s;
	const char *token;
	int r = get_str(x, "token", true, 128, &token);

	if (r < 0)
		return r;
	s = auth_session_find(p->rpc->auth, token, util_now_ms());
	if (!s)
		return refuse(x, CCPD_ERR_UNAUTHORIZED, "no such session: it "
			      "expired or was ended; log in again");
	r = take_desk(x, s);
	if (r < 0)
		return r;
	snprintf(p->token, sizeof(p->token), "%s", auth_session_token(s));
	x->result = session_json(p->rpc, s, true);
	return 0;
}

static int m_logout(struct ctx *x)
{
	if (x->sess)
		log_info("rpc: '%s' logged out", auth_session_user(x->sess));
	end_own_session(x);
	x->peer->token[0] = '\0';
	if (!x->peer->info.trusted)
		x->peer->sub = events_unsubscribe(x->peer->sub);
	x->result = cJSON_CreateObject();
	return 0;
}

static int m_whoami(struct ctx *x)
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

static int m_change_password(struct ctx *x)
{
	struct rpc *rpc = x->peer->rpc;
	const char *old, *pw;
	int r;

	if (!x->sess)
		return refuse(x, CCPD_ERR_UNAUTHORIZED, "log in first "
			      "(session.login): a password belongs to a user");
	r = get_str(x, "oldPassword", true, 256, &old);
	if (r == 0)
		r = get_str(x, "newPassword", true, 256, &pw);
	if (r < 0)
		return r;
	r = auth_change_password(rpc->auth, x->sess, old, pw, x->err.reason,
				 sizeof(x->err.reason));
	if (r == -EACCES)
		return x->err.code = CCPD_ERR_UNAUTHORIZED;
	if (r == -EINVAL)
		return x->err.code = CCPD_ERR_INVALID_PARAMS;
	if (r < 0)
		return refuse(x, CCPD_ERR_INTERNAL, "cannot store the "
			      "password: %s", strerror(-r));
	log_info("rpc: '%s' changed their password",
		 auth_session_user(x->sess));
	x->result = session_json(rpc, x->sess, false);
	return 0;
}

/* ---- metrics ---- */

static int scan_row(const struct store_journal_row *row, void *arg)
{
	struct metrics_row m = {
		.time = row->time, .type = row->type, .user = row->username,
		.state = row->state, .instance = row->instance,
		.contact_id = row->contact_id,
	};
	int r;

	/* the hold time is in the contact the row recorded */
	if (row->data && strcmp(row->type, "contact.destroyed") == 0) {
		cJSON *data = cJSON_Parse(row->data);
		const cJSON *hold = cJSON_GetObjectItemCaseSensitive(
			cJSON_GetObjectItemCaseSensitive(data, "contact"),
			"holdDuration");

		if (cJSON_IsNumber(hold) && hold->valuedouble > 0)
			m.hold_ms = (uint64_t)hold->valuedouble;
		cJSON_Delete(data);
	}
	r = metrics_add(arg, &m);
	return r;
}

static bool may(const struct ctx *x, enum perm p)
{
	return perms_check(&x->who, p, false) == PERMS_OK;
}

static int forbidden(struct ctx *x, enum perm p)
{
	x->err_data = cJSON_CreateObject();
	if (x->err_data)
		cJSON_AddStringToObject(x->err_data, "permission",
					perm_name(p));
	return refuse(x, CCPD_ERR_FORBIDDEN, "this needs the permission %s",
		      perm_name(p));
}

static int m_metrics(struct ctx *x)
{
	struct rpc *rpc = x->peer->rpc;
	unsigned long long from, to;
	uint64_t now = util_now_ms();
	bool has_from, has_to;
	const char *agent, *own = x->sess ? auth_session_user(x->sess) : NULL;
	struct metrics *m;
	int r;

	r = get_uint(x, "from", 0, 1ULL << 53, &has_from, &from);
	if (r == 0)
		r = get_uint(x, "to", 0, 1ULL << 53, &has_to, &to);
	if (r == 0)
		r = get_str(x, "agent", false, 64, &agent);
	if (r < 0)
		return r;
	if (!has_to)
		to = now;
	if (!has_from)
		from = to > 86400000ULL ? to - 86400000ULL : 0;
	if (from > to)
		return bad_params(x, "\"from\" is after \"to\"");
	/* one's own figures need metrics.view; anyone else's, or everyone's,
	 * metrics.viewAll */
	if (agent && !(own && strcmp(agent, own) == 0) &&
	    !may(x, PERM_METRICS_VIEW_ALL))
		return forbidden(x, PERM_METRICS_VIEW_ALL);
	if (!agent && !may(x, PERM_METRICS_VIEW_ALL))
		agent = own;
	r = metrics_new(&m, from, to, agent);
	if (r == 0)
		r = store_journal_scan(rpc->st, from, to, scan_row, m);
	if (r == 0)
		x->result = metrics_to_json(m, now);
	metrics_free(m);
	if (r < 0)
		return refuse(x, CCPD_ERR_INTERNAL, "cannot read the journal: "
			      "%s", strerror(-r));
	return 0;
}

static int m_prometheus(struct ctx *x)
{
	char *text = NULL;
	int r = desk_prometheus(x->peer->rpc->desk, &text);

	if (r < 0)
		return refuse(x, CCPD_ERR_INTERNAL, "out of memory");
	x->result = cJSON_CreateObject();
	if (x->result) {
		cJSON_AddStringToObject(x->result, "contentType",
					"text/plain; version=0.0.4");
		cJSON_AddStringToObject(x->result, "text", text);
	}
	free(text);
	return 0;
}

/* ---- administration ---- */

static int m_admin(struct ctx *x)
{
	return admin_call(x->peer->rpc->admin, x->m->name, x->params,
			  &x->result, &x->err);
}

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
				return refuse(x, CCPD_ERR_UNAUTHORIZED,
					      "the session has expired or was "
					      "ended; log in again");
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
		return refuse(x, CCPD_ERR_UNAUTHORIZED, "log in first "
			      "(session.login)");
	case PERMS_PASSWORD_CHANGE:
		x->err_data = cJSON_CreateObject();
		if (x->err_data)
			cJSON_AddBoolToObject(x->err_data,
					      "mustChangePassword", true);
		return refuse(x, CCPD_ERR_UNAUTHORIZED, "the one-time password "
			      "must be changed first "
			      "(session.changePassword)");
	case PERMS_FORBIDDEN:
		return forbidden(x, (enum perm)x->m->perm);
	}
	return refuse(x, CCPD_ERR_INTERNAL, "no verdict");
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
	*ret = p;
	return 0;
}

struct rpc_peer *rpc_peer_free(struct rpc_peer *p)
{
	if (!p)
		return NULL;
	events_unsubscribe(p->sub);
	explicit_bzero(p->token, sizeof(p->token));
	free(p);
	return NULL;
}

void rpc_peer_reject(struct rpc_peer *p, int code, const char *reason)
{
	send_line(p, jsonrpc_error(NULL, code, reason, NULL));
}

void rpc_peer_input(struct rpc_peer *p, const char *msg, size_t len)
{
	struct ctx x = { .peer = p };
	struct jsonrpc_req req;
	const struct method *m;
	cJSON *err_id = NULL;
	char reason[160];
	int r;

	r = jsonrpc_decode(msg, len, &req, &err_id, reason, sizeof(reason));
	if (r < 0) {
		log_debug("rpc: rejected message: %s", reason);
		send_line(p, jsonrpc_error(err_id, r, reason, NULL));
		cJSON_Delete(err_id);
		return;
	}
	x.params = req.params;
	m = find_method(req.method);
	x.m = m;
	if (!m) {
		x.err.code = CCPD_ERR_METHOD_NOT_FOUND;
		snprintf(x.err.reason, sizeof(x.err.reason),
			 "no method '%.100s'", req.method);
		r = x.err.code;
	} else if ((r = authorize(&x)) == 0) {
		desk_set_actor(p->rpc->desk, x.sess ?
			       auth_session_user(x.sess) :
			       p->info.trusted ? p->info.name : "anonymous");
		r = m->h(&x);
		desk_set_actor(p->rpc->desk, NULL);
		if (r == 0 && !x.result && !x.result_text) {
			r = x.err.code = CCPD_ERR_INTERNAL;
			snprintf(x.err.reason, sizeof(x.err.reason),
				 "out of memory");
		}
	}
	if (req.id) {
		if (r < 0) {
			send_line(p, jsonrpc_error(req.id, r, x.err.reason,
						   x.err_data));
			x.err_data = NULL;
		}
		else if (x.result_text)
			send_line(p, jsonrpc_result_raw(req.id,
							x.result_text));
		else
			send_line(p, jsonrpc_result(req.id, x.result));
		x.result = NULL;
	}
	cJSON_Delete(x.result);
	cJSON_Delete(x.err_data);
	if (r == 0 && x.replay)
		events_replay(p->rpc->ev, x.since, peer_event, p);
	jsonrpc_req_clear(&req);
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
	tmr_init(&rpc->sweep_tmr);
	tmr_start(&rpc->sweep_tmr, sweep_period_ms(rpc), sweep, rpc);
	*ret = rpc;
	return 0;
}

struct rpc *rpc_free(struct rpc *rpc)
{
	if (!rpc)
		return NULL;
	tmr_cancel(&rpc->sweep_tmr);
	rpc->netcheck = netcheck_free(rpc->netcheck);
	free(rpc);
	return NULL;
}
