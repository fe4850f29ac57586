/* metrics.*: figures from the journal over a time range, one agent's or
 * everyone's, and the live figures in Prometheus's text format. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "bus.h"
#include "ccpd-protocol.h"
#include "desk.h"
#include "metrics.h"
#include "report.h"
#include "rpc-int.h"
#include "store.h"
#include "util.h"

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

int m_metrics(struct ctx *x)
{
	struct rpc *rpc = x->peer->rpc;
	unsigned long long from, to;
	uint64_t now = util_now_ms();
	bool has_from, has_to;
	const char *agent, *own = x->sess ? auth_session_user(x->sess) : NULL;
	struct metrics *m;
	int r;

	r = rpc_get_uint(x, "from", 0, 1ULL << 53, &has_from, &from);
	if (r == 0)
		r = rpc_get_uint(x, "to", 0, 1ULL << 53, &has_to, &to);
	if (r == 0)
		r = rpc_get_str(x, "agent", false, 64, &agent);
	if (r < 0)
		return r;
	if (!has_to)
		to = now;
	if (!has_from)
		from = to > 86400000ULL ? to - 86400000ULL : 0;
	if (from > to)
		return rpc_bad_params(x, "\"from\" is after \"to\"");
	/* one's own figures need metrics.view; anyone else's, or everyone's,
	 * metrics.viewAll */
	if (agent && !(own && strcmp(agent, own) == 0) &&
	    !rpc_may(x, PERM_METRICS_VIEW_ALL))
		return rpc_forbidden(x, PERM_METRICS_VIEW_ALL);
	if (!agent && !rpc_may(x, PERM_METRICS_VIEW_ALL))
		agent = own;
	r = metrics_new(&m, from, to, agent);
	if (r == 0)
		r = store_journal_scan(rpc->st, from, to, scan_row, m);
	if (r == 0)
		x->result = metrics_to_json(m, now);
	metrics_free(m);
	if (r < 0)
		return rpc_refuse(x, CCPD_ERR_INTERNAL, "cannot read the "
				  "journal: %s", strerror(-r));
	return 0;
}

int m_prometheus(struct ctx *x)
{
	char *text = NULL;
	int r = desk_prometheus(x->peer->rpc->desk, &text);

	/* the same text as /metrics: the bus's gauges after the desk's */
	if (r == 0)
		r = bus_prometheus(x->peer->rpc->bus, &text);
	if (r < 0)
		return rpc_refuse(x, CCPD_ERR_INTERNAL, "out of memory");
	x->result = cJSON_CreateObject();
	if (x->result) {
		cJSON_AddStringToObject(x->result, "contentType",
					"text/plain; version=0.0.4");
		cJSON_AddStringToObject(x->result, "text", text);
	}
	free(text);
	return 0;
}

/* report.agents: every agent's figures over [from, to), both required: a
 * report names its window. */
int m_report_agents(struct ctx *x)
{
	unsigned long long from, to;
	bool has_from, has_to;
	cJSON *result = NULL;
	int r;

	r = rpc_get_uint(x, "from", 0, 1ULL << 53, &has_from, &from);
	if (r == 0)
		r = rpc_get_uint(x, "to", 0, 1ULL << 53, &has_to, &to);
	if (r < 0)
		return r;
	if (!has_from || !has_to)
		return rpc_bad_params(x, "\"from\" and \"to\" are required "
				      "(Unix milliseconds)");
	if (from >= to)
		return rpc_bad_params(x, "\"from\" must be before \"to\"");
	if (!x->peer->rpc->st)
		return rpc_refuse(x, CCPD_ERR_INTERNAL, "no store: nothing "
				  "is recorded");
	r = report_agents(x->peer->rpc->st, from, to, util_now_ms(), &result);
	if (r < 0)
		return rpc_refuse(x, CCPD_ERR_INTERNAL, "cannot compute the "
				  "report: %s", strerror(-r));
	x->result = result;
	return 0;
}
