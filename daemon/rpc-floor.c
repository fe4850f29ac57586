/* floor.get and bus.getStatus: the floor as the bus's bucket shows it,
 * and the bus's own state. A peer that asked for the floor gets
 * floor.changed events on the floor's own stream (its own sequence
 * numbers) for as long as its session may view the floor. */
#include <string.h>

#include "auth.h"
#include "bus.h"
#include "ccpd-protocol.h"
#include "events.h"
#include "json.h"
#include "rpc-int.h"
#include "util.h"

static bool may_see_floor(struct rpc_peer *p)
{
	struct auth_session *s;

	if (!p->token[0])
		return p->info.trusted;
	s = auth_session_peek(p->rpc->auth, p->token, util_now_ms());
	return s && (auth_session_perms(s) & PERM_BIT(PERM_FLOOR_VIEW)) &&
	       !auth_session_must_change(s);
}

static void floor_event(struct events_msg *msg, void *arg)
{
	struct rpc_peer *p = arg;

	if (!may_see_floor(p))
		return;
	if (p->tp->send_shared)
		p->tp->send_shared(p->t, msg);
	else
		p->tp->send(p->t, events_msg_line(msg), events_msg_len(msg));
}

int m_floor_get(struct ctx *x)
{
	struct rpc_peer *p = x->peer;
	struct events *fev = bus_floor_events(p->rpc->bus);
	const cJSON *watch = x->params ?
		cJSON_GetObjectItemCaseSensitive(x->params, "watch") : NULL;
	cJSON *o;

	if (watch && !cJSON_IsBool(watch))
		return rpc_bad_params(x, "\"watch\" must be true or false");
	if (!fev)
		return rpc_refuse(x, CCPD_ERR_INVALID_STATE, "the bus is off: "
				  "the floor needs the bus setting (NATS "
				  "JetStream)");
	o = bus_floor_json(p->rpc->bus);
	if (!o)
		return rpc_refuse(x, CCPD_ERR_INTERNAL, "out of memory");
	if (!watch || cJSON_IsTrue(watch)) {
		if (!p->floor_sub &&
		    events_subscribe(fev, &p->floor_sub, floor_event, p) < 0) {
			cJSON_Delete(o);
			return rpc_refuse(x, CCPD_ERR_INTERNAL,
					  "out of memory");
		}
	} else {
		p->floor_sub = events_unsubscribe(p->floor_sub);
	}
	json_add_int(o, "seq", (long long)events_last_seq(fev));
	x->result = o;
	return 0;
}

int m_floor_history(struct ctx *x)
{
	unsigned long long minutes = 60;
	bool present;
	int r = rpc_get_uint(x, "minutes", 1, 60, &present, &minutes);

	if (r < 0)
		return r;
	if (!x->peer->rpc->bus)
		return rpc_refuse(x, CCPD_ERR_INVALID_STATE, "the bus is off: "
				  "the floor needs the bus setting (NATS "
				  "JetStream)");
	x->result = bus_floor_history(x->peer->rpc->bus, (unsigned)minutes);
	return x->result ? 0 : rpc_refuse(x, CCPD_ERR_INTERNAL,
					  "out of memory");
}

int m_bus_status(struct ctx *x)
{
	x->result = bus_status_json(x->peer->rpc->bus);
	return x->result ? 0 : rpc_refuse(x, CCPD_ERR_INTERNAL,
					  "out of memory");
}
