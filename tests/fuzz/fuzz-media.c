/* libFuzzer harness for what baresip says: any bytes, read as the control
 * connection reads them (netstrings of JSON), go through the media
 * stack's event parsing to the real desk, whose contacts, call control,
 * conference, desk phone, audio and fallback react as they would to
 * baresip. The desk is built from the daemon's objects minus main, fresh
 * for every input, and told that its media stack is up; no baresip runs,
 * so the commands the desk sends back are refused as to a closed
 * connection. The first byte sets the scene: the agent's status, and
 * the softphone or a desk phone. */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <re.h>
#include <cjson/cJSON.h>

#include "conf.h"
#include "desk-int.h"
#include "events.h"
#include "log.h"
#include "media-int.h"
#include "netstring.h"
#include "store.h"

#include "daemon.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct conf conf;
static struct store *st;
static struct events *ev;

static void die(const char *what, int r)
{
	fprintf(stderr, "fuzz-media: %s failed (%d)\n", what, r);
	exit(1);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	static const char *const settings[] = {
		"dial_template", "sip:{e164}@127.0.0.1", "statuses", "Break",
		NULL,
	};

	(void)argc;
	(void)argv;
	fuzz_daemon("media", &conf, settings, &st, &ev);
	return 0;
}

static void on_message(const char *msg, size_t len, void *arg)
{
	struct desk *d = arg;

	ctrl_message(d->media, msg, len);
}

static void set_scene(struct desk *d, uint8_t scene)
{
	static const char *const statuses[] = {
		"Available", "Offline", "Break", "Available",
	};
	struct desk_err e;

	/* as media.c would on baresip's first answer */
	d->media->h.state(MEDIA_STATE_UP, NULL, false, d->media->arg);
	(void)desk_set_status(d, statuses[scene & 3], &e);
	if (scene & 4)
		(void)desk_set_config(d, false, "+442079460000", &e);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct netstring *ns = NULL;
	struct desk *d = NULL;

	/* the control connection bounds what it reads the same way */
	if (size < 1 || size > 1024 * 1024)
		return 0;
	if (desk_new(&d, &conf, ev, st, NULL, NULL) < 0 ||
	    netstring_new(&ns, 1024 * 1024) < 0)
		die("desk_new", -1);
	set_scene(d, data[0]);
	(void)netstring_feed(ns, (const char *)data + 1, size - 1, on_message,
			     d);
	netstring_free(ns);
	desk_free(d);
	return 0;
}
