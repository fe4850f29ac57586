/* ccpd's own use of the sound system through libasound. Everything here is
 * non-blocking and driven by a libre timer on the one loop: a PCM is never
 * waited on, its free space or its waiting frames are serviced every
 * TICK_MS. */
#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <alsa/asoundlib.h>
#include <re.h>

#include "log.h"
#include "sound.h"

#define RATE 48000
#define TICK_MS 20
#define LATENCY_US 120000
#define RING_ON_MS 2000
#define RING_CYCLE_MS 6000
#define TEST_TONE_MS 1000
#define WINDOW_FRAMES (RATE / 10)
#define MAX_LEVELS 600

bool sound_card_present(void)
{
	char line[256];
	bool card = false;
	FILE *f = fopen("/proc/asound/cards", "re");

	if (!f)
		return false;
	if (fgets(line, sizeof(line), f) && !strstr(line, "no soundcards"))
		card = true;
	fclose(f);
	return card;
}

static void add_device(cJSON *a, const char *id, const char *desc,
		       const char *dir)
{
	cJSON *o = cJSON_CreateObject();

	if (!o)
		return;
	cJSON_AddStringToObject(o, "id", id);
	cJSON_AddStringToObject(o, "description", desc ? desc : id);
	cJSON_AddStringToObject(o, "direction", dir);
	cJSON_AddItemToArray(a, o);
}

cJSON *sound_devices_json(void)
{
	cJSON *a = cJSON_CreateArray();
	void **hints = NULL, **h;

	if (!a)
		return NULL;
	/* snd_device_name_hint reads the configuration again when its files
	 * changed: a device defined or removed since the last call is seen */
	if (snd_device_name_hint(-1, "pcm", &hints) < 0)
		return a;
	for (h = hints; *h; h++) {
		char *name = snd_device_name_get_hint(*h, "NAME");
		char *desc = snd_device_name_get_hint(*h, "DESC");
		char *io = snd_device_name_get_hint(*h, "IOID");

		if (name && strcmp(name, "null") != 0 &&
		    (strcmp(name, "default") != 0 || sound_card_present())) {
			/* the description may run over lines */
			if (desc)
				desc[strcspn(desc, "\n")] = '\0';
			if (!io || strcmp(io, "Input") == 0)
				add_device(a, name, desc, "capture");
			if (!io || strcmp(io, "Output") == 0)
				add_device(a, name, desc, "playback");
		}
		free(name);
		free(desc);
		free(io);
	}
	snd_device_name_free_hint(hints);
	return a;
}

bool sound_device_present(const char *id, bool capture)
{
	cJSON *a = sound_devices_json(), *o;
	bool found = false;

	cJSON_ArrayForEach(o, a) {
		const char *i = cJSON_GetStringValue(
			cJSON_GetObjectItemCaseSensitive(o, "id"));
		const char *dir = cJSON_GetStringValue(
			cJSON_GetObjectItemCaseSensitive(o, "direction"));

		if (i && dir && strcmp(i, id) == 0 &&
		    strcmp(dir, capture ? "capture" : "playback") == 0)
			found = true;
	}
	cJSON_Delete(a);
	return found;
}

static int open_pcm(snd_pcm_t **ret, const char *device, bool capture)
{
	snd_pcm_t *p;
	int r;

	r = snd_pcm_open(&p, device, capture ? SND_PCM_STREAM_CAPTURE :
			 SND_PCM_STREAM_PLAYBACK, SND_PCM_NONBLOCK);
	if (r < 0)
		return r;
	r = snd_pcm_set_params(p, SND_PCM_FORMAT_S16_LE,
			       SND_PCM_ACCESS_RW_INTERLEAVED, 1, RATE, 1,
			       LATENCY_US);
	if (r < 0) {
		snd_pcm_close(p);
		return r;
	}
	*ret = p;
	return 0;
}

/* Fill the free space of a playback PCM; gen makes the samples. */
static void feed(snd_pcm_t *p, int16_t (*gen)(void *arg), void *arg)
{
	int16_t buf[RATE / 10];
	snd_pcm_sframes_t avail = snd_pcm_avail_update(p), n, i;

	if (avail < 0) {
		(void)snd_pcm_recover(p, (int)avail, 1);
		avail = snd_pcm_avail_update(p);
		if (avail < 0)
			return;
	}
	n = avail < (snd_pcm_sframes_t)(sizeof(buf) / sizeof(buf[0])) ?
		avail : (snd_pcm_sframes_t)(sizeof(buf) / sizeof(buf[0]));
	for (i = 0; i < n; i++)
		buf[i] = gen(arg);
	if (n > 0 && snd_pcm_writei(p, buf, (snd_pcm_uframes_t)n) < 0)
		(void)snd_pcm_prepare(p);
}

/* ---- the ringer ---- */

struct sound_ring {
	snd_pcm_t *pcm;
	struct tmr tmr;
	uint64_t frame;
};

/* 440 Hz and 480 Hz, two seconds on, four off: the North American ring */
static int16_t ring_sample(void *arg)
{
	struct sound_ring *r = arg;
	uint64_t ms = r->frame * 1000 / RATE;
	double t = (double)r->frame / RATE;

	r->frame++;
	if (ms % RING_CYCLE_MS >= RING_ON_MS)
		return 0;
	return (int16_t)(6000 * (sin(2 * M_PI * 440 * t) +
				 sin(2 * M_PI * 480 * t)));
}

static void ring_tick(void *arg)
{
	struct sound_ring *r = arg;

	feed(r->pcm, ring_sample, r);
	tmr_start(&r->tmr, TICK_MS, ring_tick, r);
}

int sound_ring_start(struct sound_ring **ret, const char *device)
{
	struct sound_ring *r = calloc(1, sizeof(*r));
	int e;

	if (!r)
		return -ENOMEM;
	tmr_init(&r->tmr);
	e = open_pcm(&r->pcm, device, false);
	if (e < 0) {
		free(r);
		return e;
	}
	ring_tick(r);
	*ret = r;
	return 0;
}

struct sound_ring *sound_ring_free(struct sound_ring *r)
{
	if (!r)
		return NULL;
	tmr_cancel(&r->tmr);
	(void)snd_pcm_drop(r->pcm);
	snd_pcm_close(r->pcm);
	free(r);
	return NULL;
}

/* ---- the microphone check ---- */

struct sound_test {
	snd_pcm_t *mic;
	snd_pcm_t *spk;
	struct tmr tmr;
	uint64_t frame;         /* of the tone played */
	uint64_t captured;
	uint64_t want;
	double sum;             /* of squares in the current window */
	unsigned in_window;
	double levels[MAX_LEVELS];
	unsigned n;
	sound_test_h *h;
	void *arg;
};

static int16_t test_sample(void *arg)
{
	struct sound_test *t = arg;
	double s = 0;

	if (t->frame * 1000 / RATE < TEST_TONE_MS)
		s = 8000 * sin(2 * M_PI * 660 * (double)t->frame / RATE);
	t->frame++;
	return (int16_t)s;
}

static void test_tick(void *arg)
{
	struct sound_test *t = arg;
	int16_t buf[RATE / 10];
	snd_pcm_sframes_t n, i;

	if (t->spk)
		feed(t->spk, test_sample, t);
	for (;;) {
		n = snd_pcm_readi(t->mic, buf, sizeof(buf) / sizeof(buf[0]));
		if (n == -EAGAIN || n == 0)
			break;
		if (n < 0) {
			if (snd_pcm_recover(t->mic, (int)n, 1) < 0) {
				t->h(-EIO, "the microphone stopped", NULL, 0,
				     t->arg);
				return;
			}
			(void)snd_pcm_start(t->mic);
			break;
		}
		for (i = 0; i < n && t->captured < t->want; i++) {
			double v = buf[i] / 32768.0;

			t->sum += v * v;
			t->captured++;
			if (++t->in_window == WINDOW_FRAMES) {
				double rms = sqrt(t->sum / WINDOW_FRAMES);
				double db = rms > 1.6e-5 ? 20 * log10(rms) :
					-96.0;

				if (t->n < MAX_LEVELS)
					t->levels[t->n++] =
						round(db * 10) / 10;
				t->sum = 0;
				t->in_window = 0;
			}
		}
	}
	if (t->captured >= t->want) {
		/* the handler may free t */
		t->h(0, NULL, t->levels, t->n, t->arg);
		return;
	}
	tmr_start(&t->tmr, TICK_MS, test_tick, t);
}

int sound_test_start(struct sound_test **ret, const char *microphone,
		     const char *speaker, unsigned ms, sound_test_h *h,
		     void *arg)
{
	struct sound_test *t = calloc(1, sizeof(*t));
	int e;

	if (!t)
		return -ENOMEM;
	tmr_init(&t->tmr);
	t->h = h;
	t->arg = arg;
	t->want = (uint64_t)ms * RATE / 1000;
	e = open_pcm(&t->mic, microphone, true);
	if (e < 0) {
		free(t);
		return e;
	}
	/* a speaker that cannot play still leaves the microphone to test */
	if (speaker && open_pcm(&t->spk, speaker, false) < 0) {
		log_warning("sound: cannot open %s for the test tone, "
			    "ignoring", speaker);
		t->spk = NULL;
	}
	(void)snd_pcm_start(t->mic);
	tmr_start(&t->tmr, TICK_MS, test_tick, t);
	*ret = t;
	return 0;
}

struct sound_test *sound_test_free(struct sound_test *t)
{
	if (!t)
		return NULL;
	tmr_cancel(&t->tmr);
	snd_pcm_close(t->mic);
	if (t->spk) {
		(void)snd_pcm_drop(t->spk);
		snd_pcm_close(t->spk);
	}
	free(t);
	return NULL;
}

const char *sound_strerror(int r)
{
	return snd_strerror(r);
}
