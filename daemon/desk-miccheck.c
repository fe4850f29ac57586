/* The microphone check: between contacts, the agent's microphone is
 * recorded for a few seconds while a tone plays on the speaker, and the
 * levels come back as an audio.testResult event. */
#include <errno.h>
#include <stdlib.h>

#include "ccpd-protocol.h"
#include "conf.h"
#include "desk-int.h"
#include "events.h"
#include "sound.h"

struct miccheck {
	struct sound_test *test;        /* NULL: none under way */
};

static const char *mic_of(const struct desk *d)
{
	const char *mic = audio_device(d, 0);

	return mic ? mic : "default";
}

static void test_done(int r, const char *reason, const double *levels,
		      unsigned n, void *arg)
{
	struct desk *d = arg;
	cJSON *data = cJSON_CreateObject(), *a;
	double peak = -96.0;
	unsigned i;

	if (data) {
		cJSON_AddBoolToObject(data, "ok", r == 0);
		if (r < 0)
			cJSON_AddStringToObject(data, "reason", reason);
		a = cJSON_AddArrayToObject(data, "levels");
		for (i = 0; i < n; i++) {
			cJSON_AddItemToArray(a, cJSON_CreateNumber(levels[i]));
			if (levels[i] > peak)
				peak = levels[i];
		}
		cJSON_AddNumberToObject(data, "peak", peak);
		cJSON_AddBoolToObject(data, "silent",
				      peak <= AUDIO_SILENCE_DB);
		cJSON_AddStringToObject(data, "microphone", mic_of(d));
		events_emit(d->ev, "audio.testResult", data);
	}
	d->mic->test = sound_test_free(d->mic->test);
}

int desk_audio_test(struct desk *d, unsigned *ms, struct desk_err *e)
{
	const char *spk = audio_device(d, 1);
	const struct contact *c;
	int r;

	if (d->mic->test)
		return desk_fail(e, CCPD_ERR_INVALID_STATE, "a microphone "
				 "check is already under way");
	for (c = contacts_first(d->contacts); c; c = contacts_next(c))
		if (contact_state(c) == CONTACT_CONNECTED ||
		    contact_state(c) == CONTACT_CONNECTING)
			return desk_fail(e, CCPD_ERR_INVALID_STATE, "contact "
					 "%s uses the devices; check the "
					 "microphone between contacts",
					 contact_id(c));
	if (!audio_device(d, 0) && !sound_card_present())
		return desk_fail(e, CCPD_ERR_MEDIA_UNAVAILABLE, "no sound card "
				 "and no microphone chosen: nothing to check");
	*ms = d->conf->audio_test_duration * 1000;
	r = sound_test_start(&d->mic->test, mic_of(d), spk ? spk : "default",
			     *ms, test_done, d);
	if (r < 0)
		return desk_fail(e, CCPD_ERR_MEDIA_UNAVAILABLE, "cannot open "
				 "the microphone %s: %s", mic_of(d),
				 sound_strerror(r));
	return 0;
}

int miccheck_new(struct desk *d)
{
	d->mic = calloc(1, sizeof(*d->mic));
	return d->mic ? 0 : -ENOMEM;
}

void miccheck_stop(struct desk *d)
{
	if (d->mic)
		d->mic->test = sound_test_free(d->mic->test);
}

void miccheck_free(struct desk *d)
{
	miccheck_stop(d);
	free(d->mic);
	d->mic = NULL;
}
