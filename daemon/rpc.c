/* The JSON-RPC method table. Each method checks its parameters, calls the
 * desk and answers at once; every refusal carries a reason in words. */
#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ccpd-protocol.h"
#include "desk.h"
#include "events.h"
#include "jsonrpc.h"
#include "log.h"
#include "phone.h"
#include "rpc.h"

#define MAX_STRING 4096

struct rpc {
	struct desk *desk;
	struct events *ev;
};

struct rpc_peer {
	struct rpc *rpc;
	const struct rpc_transport *tp;
	void *t;
	struct events_sub *sub;
};

struct ctx {
	struct rpc_peer *peer;
	const cJSON *params;
	cJSON *result;
	const char *result_text;   /* already encoded, not owned */
	struct desk_err err;
	/* events.subscribe: replay after the answer */
	bool replay;
	unsigned long long since;
};

typedef int (method_h)(struct ctx *x);

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

static void count_line(const char *line, size_t len, void *arg)
{
	(void)line;
	(void)len;
	(*(int *)arg)++;
}

static void peer_event(const char *line, size_t len, void *arg);

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

static const struct method {
	const char *name;
	method_h *h;
} methods[] = {
	{ "agent.getState",          m_get_state },
	{ "agent.setState",          m_set_state },
	{ "agent.clearNextState",    m_clear_next },
	{ "agent.listStates",        m_list_states },
	{ "agent.getConfiguration",  m_get_config },
	{ "agent.setConfiguration",  m_set_config },
	{ "agent.connect",           m_connect },
	{ "contact.list",            m_contact_list },
	{ "contact.get",             m_contact_get },
	{ "contact.history",         m_contact_history },
	{ "contact.accept",          m_accept },
	{ "contact.reject",          m_reject },
	{ "contact.clear",           m_clear },
	{ "connection.destroy",      m_destroy },
	{ "connection.hold",         m_hold },
	{ "connection.resume",       m_resume },
	{ "connection.sendDigits",   m_send_digits },
	{ "contact.addConnection",   m_add_connection },
	{ "contact.toggleActiveConnections", m_swap },
	{ "contact.conferenceConnections", m_conference },
	{ "contact.transfer",        m_transfer },
	{ "agent.mute",              m_mute },
	{ "agent.unmute",            m_unmute },
	{ "agent.getEndpoints",      m_get_endpoints },
	{ "events.subscribe",        m_subscribe },
	{ "events.unsubscribe",      m_unsubscribe },
	{ "media.getStatus",         m_media_status },
	{ "registration.getStatus",  m_registration },
	{ "phone.normalize",         m_phone_normalize },
	{ "phone.format",            m_phone_format },
	{ "daemon.getVersion",       m_version },
};

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

static void peer_event(const char *line, size_t len, void *arg)
{
	struct rpc_peer *p = arg;

	p->tp->send(p->t, line, len);
}

int rpc_peer_new(struct rpc_peer **ret, struct rpc *rpc,
		 const struct rpc_transport *tp, void *t)
{
	struct rpc_peer *p = calloc(1, sizeof(*p));

	if (!p)
		return -ENOMEM;
	p->rpc = rpc;
	p->tp = tp;
	p->t = t;
	*ret = p;
	return 0;
}

struct rpc_peer *rpc_peer_free(struct rpc_peer *p)
{
	if (!p)
		return NULL;
	events_unsubscribe(p->sub);
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
	if (!m) {
		x.err.code = CCPD_ERR_METHOD_NOT_FOUND;
		snprintf(x.err.reason, sizeof(x.err.reason),
			 "no method '%.100s'", req.method);
		r = x.err.code;
	} else {
		r = m->h(&x);
		if (r == 0 && !x.result && !x.result_text) {
			r = x.err.code = CCPD_ERR_INTERNAL;
			snprintf(x.err.reason, sizeof(x.err.reason),
				 "out of memory");
		}
	}
	if (req.id) {
		if (r < 0)
			send_line(p, jsonrpc_error(req.id, r, x.err.reason,
						   NULL));
		else if (x.result_text)
			send_line(p, jsonrpc_result_raw(req.id,
							x.result_text));
		else
			send_line(p, jsonrpc_result(req.id, x.result));
		x.result = NULL;
	}
	cJSON_Delete(x.result);
	if (r == 0 && x.replay)
		events_replay(p->rpc->ev, x.since, peer_event, p);
	jsonrpc_req_clear(&req);
}

int rpc_new(struct rpc **ret, struct desk *d, struct events *ev)
{
	struct rpc *rpc = calloc(1, sizeof(*rpc));

	if (!rpc)
		return -ENOMEM;
	rpc->desk = d;
	rpc->ev = ev;
	*ret = rpc;
	return 0;
}

struct rpc *rpc_free(struct rpc *rpc)
{
	free(rpc);
	return NULL;
}
