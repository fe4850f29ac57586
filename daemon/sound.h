/* ccpd's own use of the sound system through libasound: the list of
 * devices, the ring tone on the ringer device, the microphone check. */
#ifndef CCPD_SOUND_H
#define CCPD_SOUND_H

#include <stdbool.h>
#include <cjson/cJSON.h>

struct sound_ring;
struct sound_test;

/* Whether the kernel knows a sound card (/proc/asound/cards). */
bool sound_card_present(void);
/* The ALSA PCM devices with hints, as [{id, description, direction}],
 * one entry per direction ("capture" or "playback"); "null" is left out.
 * NULL when out of memory. */
cJSON *sound_devices_json(void);
/* Whether id is listed for that direction ("default" is present when
 * there is a sound card). */
bool sound_device_present(const char *id, bool capture);

/* Play the ring cadence on an ALSA device until freed. */
int sound_ring_start(struct sound_ring **ret, const char *device);
struct sound_ring *sound_ring_free(struct sound_ring *r);

/* The microphone check: a short tone on the speaker while the microphone
 * is measured for ms; h gets the level of each 100 ms in dBFS (-96 for
 * silence), or a negative errno and a reason. */
typedef void (sound_test_h)(int r, const char *reason, const double *levels,
			    unsigned n, void *arg);
int sound_test_start(struct sound_test **ret, const char *microphone,
		     const char *speaker, unsigned ms, sound_test_h *h,
		     void *arg);
struct sound_test *sound_test_free(struct sound_test *t);

/* libasound's words for a negative errno */
const char *sound_strerror(int r);

#endif
