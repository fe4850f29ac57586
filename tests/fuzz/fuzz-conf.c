/* libFuzzer harness for the configuration file: any bytes as ccpd.conf go
 * through conf_load and conf_finish (the settings' parsers, the lists they
 * split, the phone numbers they normalise) without crashing or leaking.
 * A file that loads must dump (ccpd --dump-config) to one that loads
 * again, and dumps the same. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "conf.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* One memfd, rewritten for each input, read back through its path. */
static int file_fd = -1;
static char file_path[64];

static void put(const void *data, size_t size)
{
	if (ftruncate(file_fd, 0) < 0 ||
	    pwrite(file_fd, data, size, 0) != (ssize_t)size)
		abort();
}

/* conf_dump's text, malloc'd; *len its size. */
static char *dump(const struct conf *c, size_t *len)
{
	char *text = NULL;
	FILE *f = open_memstream(&text, len);

	if (!f)
		abort();
	conf_dump(c, f);
	if (fclose(f) != 0)
		abort();
	return text;
}

/* Loads the file as it stands; 0 when it is a whole configuration. */
static int load(struct conf *c)
{
	char err[512];
	int r;

	if (conf_init(c) < 0)
		abort();
	r = conf_load(c, file_path, err, sizeof(err));
	if (r == 0)
		r = conf_finish(c, err, sizeof(err));
	if (r < 0 && !err[0])
		abort();        /* every refusal says why */
	return r;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct conf a, b;
	char *first, *second;
	size_t first_len, second_len;

	if (size > 65536)
		return 0;
	if (file_fd < 0) {
		file_fd = memfd_create("ccpd.conf", MFD_CLOEXEC);
		if (file_fd < 0)
			abort();
		snprintf(file_path, sizeof(file_path), "/proc/self/fd/%d",
			 file_fd);
	}
	put(data, size);
	if (load(&a) < 0) {
		conf_clear(&a);
		return 0;
	}
	first = dump(&a, &first_len);
	conf_clear(&a);
	put(first, first_len);
	if (load(&b) < 0) {
		fprintf(stderr, "fuzz-conf: the dump does not load:\n%s\n",
			first);
		abort();
	}
	second = dump(&b, &second_len);
	conf_clear(&b);
	if (first_len != second_len || memcmp(first, second, first_len) != 0) {
		fprintf(stderr, "fuzz-conf: the dump changed:\n%s\n---\n%s\n",
			first, second);
		abort();
	}
	free(first);
	free(second);
	return 0;
}
