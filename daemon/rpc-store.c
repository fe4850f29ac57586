/* store.getStatus: where the desk's records go, and how many wait. */
#include "instance.h"
#include "rpc-int.h"
#include "rpc.h"

void rpc_set_instance(struct rpc *rpc, struct instance *in)
{
	rpc->inst = in;
}

int m_store_status(struct ctx *x)
{
	struct instance *in = x->peer->rpc->inst;
	char line[96];

	if (!in) {
		x->result = cJSON_CreateObject();
		if (x->result) {
			cJSON_AddStringToObject(x->result, "backend", "sqlite");
			cJSON_AddStringToObject(x->result, "state", "local");
			cJSON_AddStringToObject(x->result, "summary", "local");
		}
		return 0;
	}
	x->result = instance_status_json(in);
	instance_status_line(in, line, sizeof(line));
	if (x->result)
		cJSON_AddStringToObject(x->result, "summary", line);
	return 0;
}
