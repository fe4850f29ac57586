/* libFuzzer harness for the netstring decoder: the first byte picks the size
 * of the pieces (1 to 32 bytes) the rest is fed in. Whatever the pieces, the
 * decoder must hand over the same messages and end with the same result as
 * when the whole input comes at once, and stay failed after an error. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "netstring.h"

#define MAX_LEN 1024

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* What came out, folded: the count and an FNV-1a hash over lengths and bytes. */
struct seen {
	size_t n;
	uint64_t hash;
};

static void fold(struct seen *s, const void *p, size_t len)
{
	const unsigned char *b = p;
	size_t i;

	for (i = 0; i < len; i++) {
		s->hash ^= b[i];
		s->hash *= 0x100000001b3ULL;
	}
}

static void on_msg(const char *msg, size_t len, void *arg)
{
	struct seen *s = arg;

	if (len > MAX_LEN || msg[len] != '\0')
		abort();
	s->n++;
	fold(s, &len, sizeof(len));
	fold(s, msg, len);
}

/* Feeds the input in pieces of chunk bytes, each in its own allocation so
 * that a read past a piece is caught. Returns the first error, or 0. */
static int run(const uint8_t *data, size_t size, size_t chunk,
	       struct seen *s)
{
	struct netstring *ns = NULL;
	size_t off = 0;
	int r = 0;

	if (netstring_new(&ns, MAX_LEN) < 0)
		abort();
	while (off < size) {
		size_t n = size - off < chunk ? size - off : chunk;
		char *piece = malloc(n);

		if (!piece)
			abort();
		memcpy(piece, data + off, n);
		r = netstring_feed(ns, piece, n, on_msg, s);
		free(piece);
		off += n;
		if (r < 0)
			break;
	}
	if (r < 0) {
		size_t before = s->n;

		/* a failed stream stays failed, with the same error */
		if (netstring_feed(ns, "1:a,", 4, on_msg, s) != r ||
		    s->n != before)
			abort();
	}
	netstring_free(ns);
	return r;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct seen whole = { 0, 0xcbf29ce484222325ULL };
	struct seen split = { 0, 0xcbf29ce484222325ULL };
	size_t chunk;
	int r_whole, r_split;

	if (size < 1)
		return 0;
	chunk = 1 + (data[0] & 31);
	data++;
	size--;

	r_whole = run(data, size, size ? size : 1, &whole);
	r_split = run(data, size, chunk, &split);
	if (r_whole != r_split || whole.n != split.n ||
	    whole.hash != split.hash)
		abort();
	return 0;
}
