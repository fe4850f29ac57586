/* agent.*: the agent's status and configuration, dialling out, mute; and
 * the desk's devices: audio, the media and registration states, the
 * network check. Each method checks its parameters, calls the desk and
 * answers at once. */
#include <errno.h>
#include <stdio.h>

#include "ccpd-protocol.h"
#include "desk.h"
#include "netcheck.h"
#include "rpc-int.h"

int m_get_state(struct ctx *x)
{
	x->result_text = desk_agent_text(x->peer->rpc->desk);
	return 0;
}

int m_set_state(struct ctx *x)
{
	const char *name;
	int r = rpc_get_str(x, "state", true, 64, &name);

	if (r < 0)
		return r;
	r = desk_set_status(x->peer->rpc->desk, name, &x->err);
	if (r == 0)
		x->result = desk_agent_json(x->peer->rpc->desk);
	return rpc_desk_result(x, r);
}

int m_clear_next(struct ctx *x)
{
	int r = desk_clear_next(x->peer->rpc->desk, &x->err);

	if (r == 0)
		x->result = desk_agent_json(x->peer->rpc->desk);
	return rpc_desk_result(x, r);
}

int m_list_states(struct ctx *x)
{
	x->result = desk_states_json(x->peer->rpc->desk);
	return 0;
}

int m_get_config(struct ctx *x)
{
	x->result = desk_config_json(x->peer->rpc->desk);
	return 0;
}

int m_set_config(struct ctx *x)
{
	const cJSON *soft = x->params ? cJSON_GetObjectItemCaseSensitive(
		x->params, "softphoneEnabled") : NULL;
	const char *ext;
	int r;

	if (!cJSON_IsBool(soft))
		return rpc_bad_params(x, "\"softphoneEnabled\" must be true or "
				      "false");
	r = rpc_get_str(x, "extension", false, CCPD_MAX_ENDPOINT, &ext);
	if (r < 0)
		return r;
	r = desk_set_config(x->peer->rpc->desk, cJSON_IsTrue(soft), ext,
			    &x->err);
	if (r == 0)
		x->result = desk_config_json(x->peer->rpc->desk);
	return rpc_desk_result(x, r);
}

int m_move_to_desk(struct ctx *x)
{
	struct desk *d = x->peer->rpc->desk;
	char id[48];
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
	return rpc_desk_result(x, r);
}

int m_connect(struct ctx *x)
{
	const char *endpoint;
	char id[48];
	int r = rpc_get_str(x, "endpoint", true, CCPD_MAX_ENDPOINT, &endpoint);

	if (r < 0)
		return r;
	r = desk_dial(x->peer->rpc->desk, endpoint, id, sizeof(id), &x->err);
	if (r == 0) {
		x->result = cJSON_CreateObject();
		cJSON_AddStringToObject(x->result, "contactId", id);
	}
	return rpc_desk_result(x, r);
}

static int set_mute(struct ctx *x, bool muted)
{
	int r = desk_set_mute(x->peer->rpc->desk, muted, &x->err);

	if (r == 0)
		x->result = desk_agent_json(x->peer->rpc->desk);
	return rpc_desk_result(x, r);
}

int m_mute(struct ctx *x)
{
	return set_mute(x, true);
}

int m_unmute(struct ctx *x)
{
	return set_mute(x, false);
}

int m_get_endpoints(struct ctx *x)
{
	x->result = desk_endpoints_json(x->peer->rpc->desk);
	return 0;
}

int m_media_status(struct ctx *x)
{
	x->result = desk_media_json(x->peer->rpc->desk);
	return 0;
}

int m_audio_list(struct ctx *x)
{
	x->result = desk_audio_devices_json(x->peer->rpc->desk);
	return 0;
}

int m_audio_set(struct ctx *x)
{
	const char *mic, *spk, *ring;
	int r;

	r = rpc_get_str(x, "microphone", false, 127, &mic);
	if (r == 0)
		r = rpc_get_str(x, "speaker", false, 127, &spk);
	if (r == 0)
		r = rpc_get_str(x, "ringer", false, 127, &ring);
	if (r < 0)
		return r;
	if (!mic && !spk && !ring)
		return rpc_bad_params(x, "name at least one of microphone, "
				      "speaker and ringer");
	r = desk_set_audio(x->peer->rpc->desk, mic, spk, ring, &x->err);
	if (r == 0)
		x->result = desk_audio_devices_json(x->peer->rpc->desk);
	return rpc_desk_result(x, r);
}

int m_audio_test(struct ctx *x)
{
	unsigned ms = 0;
	int r = desk_audio_test(x->peer->rpc->desk, &ms, &x->err);

	if (r == 0) {
		x->result = cJSON_CreateObject();
		cJSON_AddNumberToObject(x->result, "durationMs", ms);
	}
	return rpc_desk_result(x, r);
}

/* Answers at once with the id; the items follow as events. */
int m_network_check(struct ctx *x)
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
		return rpc_desk_result(x, r);
	x->result = cJSON_CreateObject();
	cJSON_AddStringToObject(x->result, "checkId", id);
	return 0;
}

int m_registration(struct ctx *x)
{
	x->result = desk_registration_json(x->peer->rpc->desk);
	return 0;
}
