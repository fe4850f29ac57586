/* Audio devices: each user chooses a microphone, a speaker and a ringer
 * among the ALSA devices; the choice is kept in the store. A chosen device
 * that is not there (unplugged) gives way to the configured default with
 * an event, and is taken again when it comes back: the list is read again
 * every audio_check_interval seconds. Also the ring tone, the level
 * reports and the microphone that stays silent in a call, and baresip's
 * audio device errors. What the rest of the desk does (an offer rings,
 * the agent is muted, calls are joined) audio is told as facts. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <re.h>

#include "ccpd-protocol.h"
#include "conf.h"
#include "desk-int.h"
#include "events.h"
#include "json.h"
#include "log.h"
#include "sound.h"
#include "store.h"
#include "util.h"

enum { ROLE_MIC, ROLE_SPEAKER, ROLE_RINGER, ROLE_COUNT };

struct desk_audio {
	struct store_audio chosen;      /* the user's choice (store) */
	char active[ROLE_COUNT][128];   /* those in use; "" the default */
	bool known;
	struct tmr tmr;
	struct sound_ring *ring;
	uint64_t vu_last[2];            /* tx, rx: the last level event */
	uint64_t mic_heard;     /* the last time the microphone was heard */
	bool mic_silent;        /* said so already */
	/* told by the hub */
	bool ringing;
	bool muted;
	bool joined;
};

static const char *const roles[ROLE_COUNT] = {
	"microphone", "speaker", "ringer",
};

static void update_ringer(struct desk *d);

static const char *chosen_of(const struct desk_audio *au, int i)
{
	return i == ROLE_MIC ? au->chosen.microphone :
	       i == ROLE_SPEAKER ? au->chosen.speaker : au->chosen.ringer;
}

const char *audio_device(const struct desk *d, int role)
{
	return d->audio->active[role][0] ? d->audio->active[role] : NULL;
}

/* What baresip is given for a role: "alsa,<name>", or the setting */
static void baresip_device(const struct desk *d, int i, char *out,
			   size_t size)
{
	const char *setting = i == ROLE_MIC ? d->conf->audio_source :
		d->conf->audio_player;

	if (d->audio->active[i][0])
		snprintf(out, size, "alsa,%s", d->audio->active[i]);
	else
		snprintf(out, size, "%s", setting);
}

static cJSON *audio_state_json(const struct desk_audio *au)
{
	cJSON *o = cJSON_CreateObject(), *ch, *ac;
	int i;

	if (!o)
		return NULL;
	cJSON_AddBoolToObject(o, "soundCard", sound_card_present());
	ch = cJSON_AddObjectToObject(o, "chosen");
	ac = cJSON_AddObjectToObject(o, "active");
	for (i = 0; i < ROLE_COUNT; i++) {
		const char *c = chosen_of(au, i);

		json_add_str_or_null(ch, roles[i], *c ? c : NULL);
		json_add_str_or_null(ac, roles[i], au->active[i][0] ?
				     au->active[i] : NULL);
	}
	return o;
}

static void softphone_failed(struct desk *d, const char *error,
			     const char *message, struct contact *c,
			     bool call_lost)
{
	struct desk_note n = {
		.type = DESK_NOTE_SOFTPHONE_FAILED, .c = c, .error = error,
		.message = message, .call_lost = call_lost,
	};

	desk_notify(d, &n);
}

/* A chosen microphone or speaker went away under an offered or connected
 * contact. */
static void devices_lost(struct desk *d, const bool lost[2])
{
	struct contact *c, *hit = NULL;
	char msg[320];
	int i;

	for (c = contacts_first(d->contacts); c && !hit; c = contacts_next(c))
		if (live_owned(c) && !live_left(c) &&
		    (contact_state(c) == CONTACT_INCOMING ||
		     contact_state(c) == CONTACT_CONNECTED))
			hit = c;
	if (!hit)
		return;
	i = lost[ROLE_MIC] ? ROLE_MIC : ROLE_SPEAKER;
	snprintf(msg, sizeof(msg), "the %s '%.127s' is gone%s", roles[i],
		 chosen_of(d->audio, i), lost[0] && lost[1] ?
		 ", and the speaker too" : "");
	softphone_failed(d, "device_lost", msg, hit, false);
}

/* An offer that arrives with the agent's chosen microphone or speaker
 * missing cannot be answered as the agent expects. */
static void offer_devices_check(struct desk *d, struct contact *c)
{
	const struct desk_audio *au = d->audio;
	char msg[320];
	int i;

	for (i = ROLE_MIC; i <= ROLE_SPEAKER; i++) {
		if (!*chosen_of(au, i) || au->active[i][0])
			continue;
		snprintf(msg, sizeof(msg), "the %s '%.127s' is missing",
			 roles[i], chosen_of(au, i));
		softphone_failed(d, "device_lost", msg, c, false);
		return;
	}
}

/* The devices in use now; true when they changed. fallback: a chosen
 * device is missing; lost: a chosen microphone or speaker that was in use
 * is gone. */
static bool resolve(struct desk_audio *au, const char *reason,
		    bool *fallback, bool lost[2])
{
	char active[ROLE_COUNT][128];
	bool changed = !au->known;
	int i;

	for (i = 0; i < ROLE_COUNT; i++) {
		const char *c = chosen_of(au, i);

		active[i][0] = '\0';
		if (*c && sound_device_present(c, i == ROLE_MIC))
			snprintf(active[i], sizeof(active[i]), "%.127s", c);
		else if (*c)
			*fallback = true;
		if (strcmp(active[i], au->active[i]) != 0)
			changed = true;
	}
	if (!changed)
		return false;
	for (i = 0; i < ROLE_COUNT; i++) {
		if (i < ROLE_RINGER && au->known && au->active[i][0] &&
		    !active[i][0])
			lost[i] = true;
		if (au->known && strcmp(active[i], au->active[i]) != 0)
			log_notice("audio: %s now %s (%s)", roles[i],
				   active[i][0] ? active[i] : "the default",
				   reason);
		memcpy(au->active[i], active[i], sizeof(au->active[i]));
	}
	au->known = true;
	return true;
}

/* Work out the devices in use; tell baresip and the clients of a change.
 * reason: why, for the event. */
static void audio_apply(struct desk *d, const char *reason)
{
	struct desk_audio *au = d->audio;
	bool fallback = false, lost[2] = { false, false };
	char src[160], play[160];
	cJSON *data;

	if (!resolve(au, reason, &fallback, lost))
		return;
	baresip_device(d, ROLE_MIC, src, sizeof(src));
	baresip_device(d, ROLE_SPEAKER, play, sizeof(play));
	/* while calls are joined through aubridge (leave, a desk phone, a
	 * conference) their devices stay; the change applies after */
	if (media_set_devices(d->media, src, play, !au->joined) < 0)
		log_warning("audio: cannot switch baresip's audio devices, "
			    "ignoring");
	/* a ring under way moves to the new ringer */
	au->ring = sound_ring_free(au->ring);
	update_ringer(d);
	data = audio_state_json(au);
	if (data) {
		cJSON_AddStringToObject(data, "reason", reason);
		cJSON_AddBoolToObject(data, "fallback", fallback);
		events_emit(d->ev, "audio.devices", data);
	}
	if (lost[ROLE_MIC] || lost[ROLE_SPEAKER])
		devices_lost(d, lost);
}

static void audio_check(void *arg)
{
	struct desk *d = arg;

	audio_apply(d, "device list changed");
	tmr_start(&d->audio->tmr, d->conf->audio_check_interval * 1000ULL,
		  audio_check, d);
}

void desk_audio_load(struct desk *d)
{
	struct desk_audio *au = d->audio;

	memset(&au->chosen, 0, sizeof(au->chosen));
	if (d->st)
		(void)store_audio_get(d->st, user_name(d), &au->chosen);
	audio_apply(d, "user's choice loaded");
	if (d->conf->audio_check_interval && !tmr_isrunning(&au->tmr))
		tmr_start(&au->tmr, d->conf->audio_check_interval * 1000ULL,
			  audio_check, d);
}

cJSON *desk_audio_devices_json(const struct desk *d)
{
	cJSON *o = audio_state_json(d->audio);

	if (o)
		cJSON_AddItemToObject(o, "devices", sound_devices_json());
	return o;
}

int desk_set_audio(struct desk *d, const char *microphone,
		   const char *speaker, const char *ringer, struct desk_err *e)
{
	const char *want[ROLE_COUNT] = { microphone, speaker, ringer };
	struct store_audio a = d->audio->chosen;
	char *slot[ROLE_COUNT] = { a.microphone, a.speaker, a.ringer };
	int i;

	for (i = 0; i < ROLE_COUNT; i++) {
		if (!want[i])
			continue;
		if (strcmp(want[i], "default") == 0)
			want[i] = "";
		if (*want[i] && !sound_device_present(want[i], i == ROLE_MIC))
			return desk_fail(e, CCPD_ERR_NOT_FOUND, "no %s device "
					 "'%s' (audio.listDevices lists them)",
					 i == ROLE_MIC ? "capture" : "playback",
					 want[i]);
		snprintf(slot[i], sizeof(a.microphone), "%.127s", want[i]);
	}
	if (d->st && store_audio_set(d->st, user_name(d), &a) < 0)
		return desk_fail(e, CCPD_ERR_INTERNAL, "cannot keep the choice "
				 "in the store");
	d->audio->chosen = a;
	audio_apply(d, "chosen");
	return 0;
}

/* The ring tone plays on the ringer while a contact is offered. */
static void update_ringer(struct desk *d)
{
	struct desk_audio *au = d->audio;
	const char *dev;
	int r;

	if (!au->ringing) {
		au->ring = sound_ring_free(au->ring);
		return;
	}
	if (au->ring)
		return;
	dev = au->active[ROLE_RINGER][0] ? au->active[ROLE_RINGER]
					 : au->active[ROLE_SPEAKER];
	if (!*dev) {
		/* no device chosen: a sound card's default, else nothing */
		if (!sound_card_present())
			return;
		dev = "default";
	}
	r = sound_ring_start(&au->ring, dev);
	if (r < 0)
		log_warning("audio: cannot ring on %s: %s, ignoring", dev,
			    sound_strerror(r));
}

void audio_facts(struct desk *d, bool ringing, bool muted, bool joined)
{
	struct desk_audio *au = d->audio;

	au->muted = muted;
	au->joined = joined;
	if (au->ringing == ringing && (!ringing || au->ring))
		return;
	au->ringing = ringing;
	update_ringer(d);
}

/* The level of a call's audio, one event per vu_interval and direction
 * (baresip's vumeter sends ten a second). */
static void report_level(struct desk *d, bool tx, double level,
			 const struct contact *c, uint64_t now)
{
	cJSON *data;

	if (!d->conf->vu_interval ||
	    now - d->audio->vu_last[tx ? 0 : 1] < d->conf->vu_interval)
		return;
	d->audio->vu_last[tx ? 0 : 1] = now;
	data = cJSON_CreateObject();
	if (!data)
		return;
	cJSON_AddStringToObject(data, "direction",
				tx ? "microphone" : "speaker");
	cJSON_AddNumberToObject(data, "level", level);
	if (c)
		cJSON_AddStringToObject(data, "contactId", contact_id(c));
	events_emit(d->ev, "audio.level", data);
}

static void mic_silent(struct desk *d, const struct contact *c, uint64_t now)
{
	struct desk_audio *au = d->audio;
	cJSON *data = cJSON_CreateObject();

	au->mic_silent = true;
	log_notice("audio: the microphone has been silent for %u s in "
		   "contact %s", d->conf->mic_silence_timeout, contact_id(c));
	if (!data)
		return;
	cJSON_AddStringToObject(data, "contactId", contact_id(c));
	cJSON_AddNumberToObject(data, "seconds",
				(double)(now - au->mic_heard) / 1000.0);
	cJSON_AddStringToObject(data, "microphone", au->active[ROLE_MIC][0] ?
				au->active[ROLE_MIC] : "default");
	events_emit(d->ev, "audio.microphoneSilent", data);
}

/* A microphone heard nothing from for mic_silence_timeout in a connected
 * call is told once, and told again when it is heard. */
static void audio_level(struct desk *d, const struct media_event *ev)
{
	struct desk_audio *au = d->audio;
	bool tx = ev->type == MEDIA_EV_VU_TX;
	double level = ev->param ? strtod(ev->param, NULL) : -96.0;
	uint64_t now = util_now_ms();
	const struct contact *c = ev->call_id ?
		contacts_find_call(d->contacts, ev->call_id) : NULL;

	report_level(d, tx, level, c, now);
	if (!tx || !d->conf->mic_silence_timeout)
		return;
	if (level > AUDIO_SILENCE_DB || au->muted || !c ||
	    contact_state(c) != CONTACT_CONNECTED || !au->mic_heard) {
		if (au->mic_silent && level > AUDIO_SILENCE_DB) {
			cJSON *data = cJSON_CreateObject();

			if (data)
				events_emit(d->ev, "audio.microphoneActive",
					    data);
		}
		if (level > AUDIO_SILENCE_DB)
			au->mic_silent = false;
		au->mic_heard = now;
		return;
	}
	if (!au->mic_silent &&
	    now - au->mic_heard >= d->conf->mic_silence_timeout * 1000ULL)
		mic_silent(d, c, now);
}

/* baresip 1.0.0 stops the call whose audio device failed and hangs it
 * up (its audio_error_handler): the contact ends as a media failure, and
 * the agent is offered the desk phone for what follows. */
static void on_audio_error(struct desk *d, const struct media_event *ev)
{
	struct contact *c = ev->call_id ?
		contacts_find_call(d->contacts, ev->call_id) : NULL;
	cJSON *data = cJSON_CreateObject();
	const char *reason = ev->param ? ev->param : "";

	/* "<errno>,<text>": the text says it */
	if (strchr(reason, ','))
		reason = strchr(reason, ',') + 1;
	log_fields(LOG_ERR, c ? contact_id(c) : NULL, NULL, "audio: baresip's "
		   "audio device failed: %s", *reason ? reason : "?");
	if (c)
		live_set_audio_failed(c);
	if (data) {
		cJSON_AddStringToObject(data, "reason", reason);
		if (c)
			cJSON_AddStringToObject(data, "contactId",
						contact_id(c));
		events_emit(d->ev, "audio.error", data);
	}
	if (c)
		softphone_failed(d, "audio_device_error", *reason ? reason :
				 "the audio device failed", c, true);
}

void audio_event(struct desk *d, const struct media_event *ev)
{
	if (ev->type == MEDIA_EV_VU_TX || ev->type == MEDIA_EV_VU_RX)
		audio_level(d, ev);
	else if (ev->type == MEDIA_EV_AUDIO_ERROR)
		on_audio_error(d, ev);
}

static void on_note(struct desk *d, const struct desk_note *n, void *arg)
{
	(void)arg;
	if (n->type == DESK_NOTE_OFFERED)
		offer_devices_check(d, n->c);
}

void audio_stop(struct desk *d)
{
	if (!d->audio)
		return;
	tmr_cancel(&d->audio->tmr);
	d->audio->ring = sound_ring_free(d->audio->ring);
}

int audio_new(struct desk *d)
{
	d->audio = calloc(1, sizeof(*d->audio));
	if (!d->audio)
		return -ENOMEM;
	tmr_init(&d->audio->tmr);
	return desk_watch(d, on_note, NULL);
}

void audio_free(struct desk *d)
{
	audio_stop(d);
	free(d->audio);
	d->audio = NULL;
}
