/* store.getStatus: where the desk's records go, how many wait, and on
 * request ({"check": true}) a round trip to the instance's database,
 * answered when the server has answered (rpc_later). */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "ccpd-protocol.h"
#include "instance.h"
#include "pg.h"
#include "rpc-int.h"
#include "rpc.h"

void rpc_set_instance(struct rpc *rpc, struct instance *in)
{
	rpc->inst = in;
}

static unsigned long long mono_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (unsigned long long)ts.tv_sec * 1000000ULL +
	       (unsigned long long)ts.tv_nsec / 1000;
}

static cJSON *status_json(struct instance *in)
{
	char line[96];
	cJSON *o;

	if (!in) {
		o = cJSON_CreateObject();
		if (o) {
			cJSON_AddStringToObject(o, "backend", "sqlite");
			cJSON_AddStringToObject(o, "state", "local");
			cJSON_AddStringToObject(o, "summary", "local");
		}
		return o;
	}
	o = instance_status_json(in);
	instance_status_line(in, line, sizeof(line));
	if (o)
		cJSON_AddStringToObject(o, "summary", line);
	return o;
}


/* The server sent back the time the query left (µs): the round trip. */
static void checked(int err, const struct pg_res *res, void *arg)
{
	struct rpc_later *l = arg;
	struct instance *in = rpc_later_rpc(l)->inst;
	cJSON *o = status_json(in), *check;
	const char *sent = err == 0 ? pg_res_value(res, 0, 0) : NULL;

	check = o ? cJSON_AddObjectToObject(o, "check") : NULL;
	if (check) {
		cJSON_AddBoolToObject(check, "ok", sent != NULL);
		if (sent)
			cJSON_AddNumberToObject(check, "ms", (double)(
				mono_us() - strtoull(sent, NULL, 10)) / 1000.0);
		else
			cJSON_AddStringToObject(check, "reason", res ?
				pg_res_error(res) : "the connection was lost");
	}
	rpc_later_result(l, o);
}

int m_store_status(struct ctx *x)
{
	struct instance *in = x->peer->rpc->inst;
	const cJSON *check = cJSON_GetObjectItemCaseSensitive(x->params,
							      "check");
	struct rpc_later *l;
	char now[24];
	const char *p[1] = { now };

	if (check && !cJSON_IsBool(check))
		return rpc_bad_params(x, "\"check\" must be true or false");
	if (!cJSON_IsTrue(check) || !in ||
	    pg_state(instance_pg(in)) != PG_UP || !(l = rpc_later(x))) {
		x->result = status_json(in);
		return 0;
	}
	snprintf(now, sizeof(now), "%llu", mono_us());
	if (pg_query(instance_pg(in), "SELECT $1::bigint", p, 1, checked,
		     l) < 0)
		rpc_later_error(l, CCPD_ERR_INTERNAL, "cannot ask the database");
	return 0;
}
