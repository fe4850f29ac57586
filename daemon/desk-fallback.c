/* Falling back to the desk phone. The softphone's audio can fail the
 * agent: baresip's audio device error (in baresip 1.0.0 it also ends that
 * call), or the chosen microphone or speaker gone (a headset unplugged)
 * while a contact is offered or connected; audio says so. The clients are
 * told (agent.softphoneError). An agent with a desk phone extension is
 * offered the desk phone, and moved to it by agent.moveToDeskPhone, or at
 * once when desk_phone_fallback is auto. A connected call moves with the
 * agent (see desk-deskphone.c). */
#include <string.h>

#include "conf.h"
#include "desk-int.h"
#include "json.h"
#include "log.h"

/* A call lost with the audio device has nothing to carry over: the
 * agent is switched for the contacts to come. */
static void fallback_now(struct desk *d, const struct contact *lost)
{
	struct desk_err e = { 0 };

	if (lost) {
		deskphone_switch(d, " after the audio failed");
		return;
	}
	if (deskphone_move(d, callctl_bridged(d) || meeting_active(d), NULL,
			   0, &e) < 0) {
		log_warning("deskphone: cannot move to the desk phone: %s",
			    e.reason);
		deskphone_move_failed(d, e.reason);
	}
}

static cJSON *error_json(const struct desk *d, const struct desk_note *n,
			 bool offer)
{
	cJSON *data = cJSON_CreateObject(), *desk;

	if (!data)
		return NULL;
	cJSON_AddStringToObject(data, "errorType", n->error);
	cJSON_AddStringToObject(data, "errorMessage", n->message);
	json_add_str_or_null(data, "contactId", n->c ? contact_id(n->c) : NULL);
	if (offer && (desk = cJSON_AddObjectToObject(data, "deskPhone"))) {
		cJSON_AddStringToObject(desk, "extension",
					deskphone_extension(d));
		cJSON_AddStringToObject(desk, "fallback",
					d->conf->desk_phone_fallback);
	} else {
		cJSON_AddNullToObject(data, "deskPhone");
	}
	return data;
}

static void softphone_failed(struct desk *d, const struct desk_note *n)
{
	const char *mode = d->conf->desk_phone_fallback;
	bool offer = *deskphone_extension(d) && strcmp(mode, "off") != 0;
	const char *id = n->c ? contact_id(n->c) : NULL;

	/* with the desk phone on, the softphone's devices carry no call */
	if (deskphone_on(d))
		return;
	log_fields(LOG_WARNING, id, NULL, "audio: the softphone failed (%s): "
		   "%s%s", n->error, n->message, offer ?
		   "; the desk phone is offered" : "");
	status_publish(d, "agent.softphoneError", id, error_json(d, n, offer));
	if (offer && strcmp(mode, "auto") == 0)
		fallback_now(d, n->call_lost ? n->c : NULL);
}

static void on_note(struct desk *d, const struct desk_note *n, void *arg)
{
	(void)arg;
	if (n->type == DESK_NOTE_SOFTPHONE_FAILED)
		softphone_failed(d, n);
}

int fallback_new(struct desk *d)
{
	return desk_watch(d, on_note, NULL);
}
