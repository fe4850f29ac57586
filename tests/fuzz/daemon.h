/* What the harnesses that link the daemon's objects set up alike: a
 * directory of their own under /tmp, removed with its contents when the
 * process ends short of a crash; a configuration that keeps everything
 * in it, with quiet logs; the store and the event stream. Header only:
 * each harness is one file. Exits on any failure. */
#ifndef CCPD_FUZZ_DAEMON_H
#define CCPD_FUZZ_DAEMON_H

#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>

#include <re.h>

#include "conf.h"
#include "events.h"
#include "log.h"
#include "store.h"

static char fuzz_dir[64];

static int fuzz_remove_one(const char *path, const struct stat *sb, int type,
			   struct FTW *ftw)
{
	(void)sb;
	(void)type;
	(void)ftw;
	return remove(path);
}

static void fuzz_remove_dir(void)
{
	nftw(fuzz_dir, fuzz_remove_one, 8, FTW_DEPTH | FTW_PHYS);
}

static void fuzz_die(const char *name, const char *what, const char *why)
{
	fprintf(stderr, "fuzz-%s: %s: %s\n", name, what, why);
	exit(1);
}

/* settings: more key, value pairs, ended by NULL. */
static inline void fuzz_daemon(const char *name, struct conf *conf,
			       const char *const *settings,
			       struct store **st, struct events **ev)
{
	char err[256], db[96];
	const char *base[] = {
		"state_dir", fuzz_dir, "runtime_dir", fuzz_dir,
		"database", db, "log_level", "crit", NULL,
	};
	const char *const *set[] = { base, settings };
	size_t i, k;

	snprintf(fuzz_dir, sizeof(fuzz_dir), "/tmp/ccpd-fuzz-%s.XXXXXX", name);
	if (!mkdtemp(fuzz_dir))
		fuzz_die(name, "mkdtemp", "failed");
	atexit(fuzz_remove_dir);
	snprintf(db, sizeof(db), "%s/ccpd.db", fuzz_dir);
	if (libre_init())
		fuzz_die(name, "libre_init", "failed");
	if (conf_init(conf) < 0)
		fuzz_die(name, "conf_init", "out of memory");
	for (k = 0; k < 2; k++)
		for (i = 0; set[k] && set[k][i]; i += 2)
			if (conf_set(conf, set[k][i], set[k][i + 1], err,
				     sizeof(err)) < 0)
				fuzz_die(name, set[k][i], err);
	if (conf_finish(conf, err, sizeof(err)) < 0)
		fuzz_die(name, "configuration", err);
	log_setup(LOG_CRIT);
	if (store_open(st, db, err, sizeof(err)) < 0)
		fuzz_die(name, "store_open", err);
	if (events_new(ev, conf->event_buffer) < 0)
		fuzz_die(name, "events_new", "out of memory");
}

#endif
