/* A paced virtual sound card for the tests: an ALSA ioplug PCM that
 * consumes (playback) or produces (capture) frames at the real rate of the
 * stream, timed by a timerfd, records what it plays into a file and plays
 * a sine tone (or silence) into whoever captures from it.
 *
 * ALSA's own null and file plugins are not paced: a player writing to them
 * never blocks and burns a whole core. This one blocks like a sound card.
 *
 *   pcm_type.ccpdtest { lib "/path/libasound_module_pcm_ccpdtest.so" }
 *   pcm.headset {
 *       type ccpdtest
 *       record "/tmp/dir/headset"   # playback goes to headset.<n>.raw
 *       tone 880                    # capture: a sine of 880 Hz; 0: silence
 *       hint { show on description "Test headset" }
 *   }
 *
 * Each playback open writes <record>.<pid>-<n>.raw (signed 16-bit,
 * interleaved) and <record>.<pid>-<n>.fmt ("<rate> <channels>"). */
#include <errno.h>
#include <math.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#include <alsa/asoundlib.h>
#include <alsa/pcm_external.h>

struct ccpdtest {
	snd_pcm_ioplug_t io;
	char *record;
	double tone;
	FILE *out;
	unsigned opened;
	int tfd;
	snd_pcm_uframes_t hw;      /* frames consumed or produced */
	double t0;                 /* time of hw's last update */
	double phase;
};

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void advance(struct ccpdtest *t)
{
	snd_pcm_ioplug_t *io = &t->io;
	double now = now_s();
	snd_pcm_uframes_t n = (snd_pcm_uframes_t)((now - t->t0) * io->rate);
	snd_pcm_uframes_t room;

	if (io->state != SND_PCM_STATE_RUNNING &&
	    io->state != SND_PCM_STATE_DRAINING)
		return;
	if (io->stream == SND_PCM_STREAM_PLAYBACK)
		room = io->appl_ptr - t->hw;        /* queued frames */
	else
		room = io->buffer_size - (t->hw - io->appl_ptr);
	if (n > room)
		n = room;
	t->hw += n;
	t->t0 += (double)n / io->rate;
	if (n == room)
		t->t0 = now;      /* under/overrun: the clock does not bank */
}

static int ct_start(snd_pcm_ioplug_t *io)
{
	struct ccpdtest *t = io->private_data;
	struct itimerspec its = { .it_interval = { 0, 5000000 },
				  .it_value = { 0, 5000000 } };

	t->t0 = now_s();
	timerfd_settime(t->tfd, 0, &its, NULL);
	return 0;
}

static int ct_stop(snd_pcm_ioplug_t *io)
{
	struct ccpdtest *t = io->private_data;
	struct itimerspec its = { { 0, 0 }, { 0, 0 } };

	timerfd_settime(t->tfd, 0, &its, NULL);
	return 0;
}

static int ct_prepare(snd_pcm_ioplug_t *io)
{
	struct ccpdtest *t = io->private_data;
	char path[4096];

	t->hw = 0;
	if (io->stream == SND_PCM_STREAM_PLAYBACK && t->record && !t->out) {
		FILE *f;

		t->opened++;
		snprintf(path, sizeof(path), "%s.%d-%u.fmt", t->record,
			 (int)getpid(), t->opened);
		f = fopen(path, "w");
		if (f) {
			fprintf(f, "%u %u\n", io->rate, io->channels);
			fclose(f);
		}
		snprintf(path, sizeof(path), "%s.%d-%u.raw", t->record,
			 (int)getpid(), t->opened);
		t->out = fopen(path, "w");
	}
	return 0;
}

static snd_pcm_sframes_t ct_pointer(snd_pcm_ioplug_t *io)
{
	struct ccpdtest *t = io->private_data;

	advance(t);
	return (snd_pcm_sframes_t)(t->hw % io->buffer_size);
}

static snd_pcm_sframes_t ct_transfer(snd_pcm_ioplug_t *io,
				     const snd_pcm_channel_area_t *areas,
				     snd_pcm_uframes_t offset,
				     snd_pcm_uframes_t size)
{
	struct ccpdtest *t = io->private_data;
	int16_t *buf = (int16_t *)((char *)areas->addr +
				   (areas->first + areas->step * offset) / 8);
	snd_pcm_uframes_t i;
	unsigned c;

	if (io->stream == SND_PCM_STREAM_PLAYBACK) {
		if (t->out) {
			fwrite(buf, 2 * io->channels, size, t->out);
			fflush(t->out);
		}
		return (snd_pcm_sframes_t)size;
	}
	for (i = 0; i < size; i++) {
		int16_t v = 0;

		if (t->tone > 0) {
			v = (int16_t)(12000 * sin(t->phase));
			t->phase += 2 * M_PI * t->tone / io->rate;
			if (t->phase > 2 * M_PI)
				t->phase -= 2 * M_PI;
		}
		for (c = 0; c < io->channels; c++)
			buf[i * io->channels + c] = v;
	}
	return (snd_pcm_sframes_t)size;
}

static int ct_poll_revents(snd_pcm_ioplug_t *io, struct pollfd *pfd,
			   unsigned int nfds, unsigned short *revents)
{
	struct ccpdtest *t = io->private_data;
	uint64_t ticks;
	snd_pcm_sframes_t avail;

	(void)nfds;
	if (pfd[0].revents & POLLIN)
		(void)!read(t->tfd, &ticks, sizeof(ticks));
	advance(t);
	if (io->stream == SND_PCM_STREAM_PLAYBACK)
		avail = (snd_pcm_sframes_t)(io->buffer_size -
					    (io->appl_ptr - t->hw));
	else
		avail = (snd_pcm_sframes_t)(t->hw - io->appl_ptr);
	*revents = 0;
	if ((io->state != SND_PCM_STATE_RUNNING &&
	     io->state != SND_PCM_STATE_DRAINING) ||
	    avail >= (snd_pcm_sframes_t)io->period_size)
		*revents = io->stream == SND_PCM_STREAM_PLAYBACK ? POLLOUT :
			POLLIN;
	return 0;
}

static int ct_close(snd_pcm_ioplug_t *io)
{
	struct ccpdtest *t = io->private_data;

	if (t->out)
		fclose(t->out);
	close(t->tfd);
	free(t->record);
	free(t);
	return 0;
}

static const snd_pcm_ioplug_callback_t callbacks = {
	.start = ct_start,
	.stop = ct_stop,
	.prepare = ct_prepare,
	.pointer = ct_pointer,
	.transfer = ct_transfer,
	.poll_revents = ct_poll_revents,
	.close = ct_close,
};

SND_PCM_PLUGIN_DEFINE_FUNC(ccpdtest)
{
	static const unsigned int formats[] = { SND_PCM_FORMAT_S16_LE };
	static const unsigned int access[] = {
		SND_PCM_ACCESS_RW_INTERLEAVED };
	snd_config_iterator_t i, next;
	struct ccpdtest *t;
	int err;

	(void)root;
	t = calloc(1, sizeof(*t));
	if (!t)
		return -ENOMEM;
	snd_config_for_each(i, next, conf) {
		snd_config_t *n = snd_config_iterator_entry(i);
		const char *id, *s;
		long l;

		if (snd_config_get_id(n, &id) < 0)
			continue;
		if (!strcmp(id, "comment") || !strcmp(id, "type") ||
		    !strcmp(id, "hint"))
			continue;
		if (!strcmp(id, "record") && snd_config_get_string(n, &s) == 0) {
			t->record = strdup(s);
			continue;
		}
		if (!strcmp(id, "tone") && snd_config_get_integer(n, &l) == 0) {
			t->tone = (double)l;
			continue;
		}
		SNDERR("ccpdtest: unknown field %s", id);
		free(t->record);
		free(t);
		return -EINVAL;
	}
	t->tfd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
	if (t->tfd < 0) {
		free(t->record);
		free(t);
		return -errno;
	}
	t->io.version = SND_PCM_IOPLUG_VERSION;
	t->io.name = "ccpd test sound card";
	t->io.poll_fd = t->tfd;
	t->io.poll_events = POLLIN;
	t->io.mmap_rw = 0;
	t->io.callback = &callbacks;
	t->io.private_data = t;
	err = snd_pcm_ioplug_create(&t->io, name, stream, mode);
	if (err < 0) {
		close(t->tfd);
		free(t->record);
		free(t);
		return err;
	}
	snd_pcm_ioplug_set_param_list(&t->io, SND_PCM_IOPLUG_HW_ACCESS, 1,
				      access);
	snd_pcm_ioplug_set_param_list(&t->io, SND_PCM_IOPLUG_HW_FORMAT, 1,
				      formats);
	snd_pcm_ioplug_set_param_minmax(&t->io, SND_PCM_IOPLUG_HW_CHANNELS,
					1, 2);
	snd_pcm_ioplug_set_param_minmax(&t->io, SND_PCM_IOPLUG_HW_RATE,
					8000, 48000);
	snd_pcm_ioplug_set_param_minmax(&t->io,
					SND_PCM_IOPLUG_HW_PERIOD_BYTES,
					64, 64 * 1024);
	snd_pcm_ioplug_set_param_minmax(&t->io, SND_PCM_IOPLUG_HW_PERIODS,
					2, 64);
	*pcmp = t->io.pcm;
	return 0;
}

SND_PCM_PLUGIN_SYMBOL(ccpdtest);
