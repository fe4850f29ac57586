/* A directory of a harness's own under /tmp, removed with its contents
 * when the process ends short of a crash. Header only: each harness is
 * one file. */
#ifndef CCPD_FUZZ_TMPDIR_H
#define CCPD_FUZZ_TMPDIR_H

#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>

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

/* name: the harness's; returns the directory, or NULL. */
static inline const char *fuzz_tmpdir(const char *name)
{
	snprintf(fuzz_dir, sizeof(fuzz_dir), "/tmp/ccpd-fuzz-%s.XXXXXX", name);
	if (!mkdtemp(fuzz_dir))
		return NULL;
	atexit(fuzz_remove_dir);
	return fuzz_dir;
}

#endif
