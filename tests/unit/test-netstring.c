/* Unit tests for netstring framing: encoding, decoding across split reads,
 * and the framing errors that must leave the stream failed. */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "netstring.h"
#include "tap.h"

/* a literal and its length, NULs included */
#define LIT(s) s, sizeof(s) - 1

#define MAX_MSGS 8

/* The messages the decoder handed over, copied. */
struct rec {
	unsigned n;
	unsigned calls;
	char *msg[MAX_MSGS];
	size_t len[MAX_MSGS];
	bool unterminated;
};

static void on_msg(const char *msg, size_t len, void *arg)
{
	struct rec *r = arg;

	r->calls++;
	if (msg[len] != '\0')
		r->unterminated = true;
	if (r->n == MAX_MSGS)
		return;
	r->msg[r->n] = malloc(len + 1);
	if (r->msg[r->n])
		memcpy(r->msg[r->n], msg, len + 1);
	r->len[r->n] = len;
	r->n++;
}

static void rec_clear(struct rec *r)
{
	unsigned i;

	for (i = 0; i < r->n; i++)
		free(r->msg[i]);
	memset(r, 0, sizeof(*r));
}

/* Feeds len bytes in pieces of chunk bytes (0: all at once), each piece in
 * its own exact-size allocation. Returns the first error, or 0. */
static int feed(struct netstring *ns, const char *data, size_t len,
		size_t chunk, struct rec *r)
{
	size_t off = 0;

	if (!chunk || chunk > len)
		chunk = len ? len : 1;
	do {
		size_t n = len - off < chunk ? len - off : chunk;
		char *piece = malloc(n ? n : 1);
		int rc;

		if (!piece)
			return -ENOMEM;
		if (n)
			memcpy(piece, data + off, n);
		rc = netstring_feed(ns, piece, n, on_msg, r);
		free(piece);
		if (rc < 0)
			return rc;
		off += n;
	} while (off < len);
	return 0;
}

struct payload {
	const char *p;
	size_t n;
};

#define M(s) { s, sizeof(s) - 1 }

struct row {
	const char *name;
	size_t max_len;
	const char *in;
	size_t in_len;
	int rc;
	struct payload want[4];
	unsigned n_want;
};

static const struct row rows[] = {
	{ "one message", 64, LIT("5:hello,"), 0,
	  { M("hello") }, 1 },
	{ "empty message 0:,", 64, LIT("0:,"), 0,
	  { M("") }, 1 },
	{ "several messages in one feed", 64, LIT("3:abc,0:,12:hello, world,"), 0,
	  { M("abc"), M(""), M("hello, world") }, 3 },
	{ "payload holding : and , and digits", 64, LIT("7:1:a,2:,,"), 0,
	  { M("1:a,2:,") }, 1 },
	{ "payload holding NUL bytes", 64, LIT("3:a\0b,"), 0,
	  { M("a\0b") }, 1 },
	{ "JSON payload as baresip sends it", 256,
	  LIT("45:{\"event\":true,\"type\":\"CALL_RINGING\",\"id\":\"1\"},"), 0,
	  { M("{\"event\":true,\"type\":\"CALL_RINGING\",\"id\":\"1\"}") }, 1 },
	{ "incomplete: digits only", 64, LIT("12"), 0, { M("") }, 0 },
	{ "incomplete: no comma yet", 64, LIT("5:hello"), 0, { M("") }, 0 },
	{ "incomplete second message", 64, LIT("2:ab,3:c"), 0,
	  { M("ab") }, 1 },
	{ "length equal to the maximum", 5, LIT("5:hello,"), 0,
	  { M("hello") }, 1 },
	{ "maximum 0 allows only 0:,", 0, LIT("0:,0:,"), 0,
	  { M(""), M("") }, 2 },
	/* framing errors */
	{ "bad: no colon", 64, LIT("5hello,"), -EBADMSG, { M("") }, 0 },
	{ "bad: letter for a length", 64, LIT("x:abc,"), -EBADMSG, { M("") }, 0 },
	{ "bad: empty length", 64, LIT(":abc,"), -EBADMSG, { M("") }, 0 },
	{ "bad: negative length", 64, LIT("-1:a,"), -EBADMSG, { M("") }, 0 },
	{ "bad: plus sign", 64, LIT("+1:a,"), -EBADMSG, { M("") }, 0 },
	{ "bad: space before the length", 64, LIT(" 1:a,"), -EBADMSG, { M("") }, 0 },
	{ "bad: space after the length", 64, LIT("1 :a,"), -EBADMSG, { M("") }, 0 },
	{ "bad: missing comma", 64, LIT("3:abcd"), -EBADMSG, { M("") }, 0 },
	{ "bad: other byte for the comma", 64, LIT("3:abc;"), -EBADMSG, { M("") }, 0 },
	{ "bad: length too short", 64, LIT("2:abc,"), -EBADMSG, { M("") }, 0 },
	{ "bad: leading zero 01:a,", 64, LIT("01:a,"), -EBADMSG, { M("") }, 0 },
	{ "bad: leading zero 00:,", 64, LIT("00:,"), -EBADMSG, { M("") }, 0 },
	{ "bad: newline between messages", 64, LIT("1:a,\n1:b,"), -EBADMSG,
	  { M("a") }, 1 },
	{ "bad: after a good message", 64, LIT("3:abc,x"), -EBADMSG,
	  { M("abc") }, 1 },
	/* lengths over the maximum */
	{ "too long: 6 over a maximum of 5", 5, LIT("6:hello!,"), -EMSGSIZE,
	  { M("") }, 0 },
	{ "too long: told before the colon", 100, LIT("1000"), -EMSGSIZE,
	  { M("") }, 0 },
	{ "too long: 1 over a maximum of 0", 0, LIT("1:a,"), -EMSGSIZE,
	  { M("") }, 0 },
	{ "too long: after a good message", 5, LIT("1:a,99:"), -EMSGSIZE,
	  { M("a") }, 1 },
	{ "too long: 11 digits, no maximum", SIZE_MAX, LIT("12345678901:"),
	  -EMSGSIZE, { M("") }, 0 },
};

/* Pieces each row is fed in: all at once, byte by byte, and in between. */
static const size_t chunks[] = { 0, 1, 2, 3, 5 };

static void check_row(struct tap_case *c, const struct row *r, size_t chunk)
{
	static const char more[] = "3:abc,";
	struct netstring *ns = NULL;
	struct rec rec;
	unsigned i;
	int rc;

	memset(&rec, 0, sizeof(rec));
	rc = netstring_new(&ns, r->max_len);
	if (rc < 0) {
		tap_fail(c, "netstring_new failed: %d\n", rc);
		return;
	}
	rc = feed(ns, r->in, r->in_len, chunk, &rec);
	if (rc != r->rc)
		tap_fail(c, "pieces of %zu: returned %d, expected %d\n", chunk,
			 rc, r->rc);
	if (rec.calls != r->n_want)
		tap_fail(c, "pieces of %zu: %u messages, expected %u\n", chunk,
			 rec.calls, r->n_want);
	for (i = 0; i < rec.n && i < r->n_want; i++)
		if (rec.len[i] != r->want[i].n ||
		    memcmp(rec.msg[i], r->want[i].p, r->want[i].n) != 0)
			tap_fail(c, "pieces of %zu: message %u is \"%.*s\" (%zu), expected \"%.*s\" (%zu)\n",
				 chunk, i, (int)rec.len[i], rec.msg[i],
				 rec.len[i], (int)r->want[i].n, r->want[i].p,
				 r->want[i].n);
	if (rec.unterminated)
		tap_fail(c, "pieces of %zu: a message is not NUL-terminated\n",
			 chunk);

	/* after an error the stream stays failed, with the same error */
	if (rc < 0) {
		unsigned before = rec.calls;
		int again = netstring_feed(ns, more, sizeof(more) - 1, on_msg,
					   &rec);

		if (again != rc)
			tap_fail(c, "pieces of %zu: a later feed returned %d, expected %d\n",
				 chunk, again, rc);
		if (rec.calls != before)
			tap_fail(c, "pieces of %zu: a message after the error\n",
				 chunk);
	}
	rec_clear(&rec);
	netstring_free(ns);
}

static void run_row(const struct row *r)
{
	struct tap_case c = { .len = 0 };
	size_t i;

	for (i = 0; i < ARRAY_SIZE(chunks); i++)
		check_row(&c, r, chunks[i]);
	tap_report(r->name, &c);
}

/* Encoding. */

struct enc_row {
	const char *name;
	const char *msg;
	size_t len;
	const char *want;
	size_t want_len;
};

static const struct enc_row enc_rows[] = {
	{ "encode: empty", LIT(""), LIT("0:,") },
	{ "encode: hello", LIT("hello"), LIT("5:hello,") },
	{ "encode: NUL bytes", LIT("a\0b"), LIT("3:a\0b,") },
	{ "encode: ten bytes", LIT("0123456789"), LIT("10:0123456789,") },
	{ "encode: : and , inside", LIT("1:,"), LIT("3:1:,,") },
};

static void run_enc_row(const struct enc_row *r)
{
	struct tap_case c = { .len = 0 };
	char *out = NULL;
	size_t len = 0;
	int rc;

	rc = netstring_encode(&out, &len, r->msg, r->len);
	if (rc != 0)
		tap_fail(&c, "returned %d\n", rc);
	else if (len != r->want_len || memcmp(out, r->want, len) != 0)
		tap_fail(&c, "encoded \"%.*s\" (%zu), expected \"%.*s\" (%zu)\n",
			 (int)len, out, len, (int)r->want_len, r->want,
			 r->want_len);
	free(out);
	tap_report(r->name, &c);
}

/* Round trips: what is encoded decodes to the same bytes, however the stream
 * is cut. */

static char *pattern(size_t n)
{
	char *p = malloc(n ? n : 1);
	size_t i;

	if (!p)
		return NULL;
	for (i = 0; i < n; i++)
		p[i] = (char)(i * 7 + i / 251);   /* every byte value, NULs too */
	return p;
}

static void test_round_trip(const char *name, const size_t *sizes, size_t n,
			    size_t max_len, size_t chunk)
{
	struct tap_case c = { .len = 0 };
	struct netstring *ns = NULL;
	struct rec rec;
	char *stream = NULL, *msgs[MAX_MSGS] = { NULL };
	size_t stream_len = 0, i;
	int rc;

	memset(&rec, 0, sizeof(rec));
	for (i = 0; i < n; i++) {
		char *enc, *grown;
		size_t enc_len;

		msgs[i] = pattern(sizes[i]);
		if (!msgs[i] ||
		    netstring_encode(&enc, &enc_len, msgs[i], sizes[i]) < 0) {
			tap_fail(&c, "out of memory\n");
			goto out;
		}
		grown = realloc(stream, stream_len + enc_len);
		if (!grown) {
			free(enc);
			tap_fail(&c, "out of memory\n");
			goto out;
		}
		stream = grown;
		memcpy(stream + stream_len, enc, enc_len);
		stream_len += enc_len;
		free(enc);
	}
	if (netstring_new(&ns, max_len) < 0) {
		tap_fail(&c, "netstring_new failed\n");
		goto out;
	}
	rc = feed(ns, stream, stream_len, chunk, &rec);
	if (rc != 0)
		tap_fail(&c, "feed returned %d\n", rc);
	if (rec.calls != n)
		tap_fail(&c, "%u messages, expected %zu\n", rec.calls, n);
	for (i = 0; i < rec.n && i < n; i++)
		if (rec.len[i] != sizes[i] ||
		    memcmp(rec.msg[i], msgs[i], sizes[i]) != 0)
			tap_fail(&c, "message %zu (%zu bytes) differs\n", i,
				 sizes[i]);
	if (rec.unterminated)
		tap_fail(&c, "a message is not NUL-terminated\n");
out:
	for (i = 0; i < n; i++)
		free(msgs[i]);
	free(stream);
	rec_clear(&rec);
	netstring_free(ns);
	tap_report(name, &c);
}

/* Two messages cut at every byte. */
static void test_every_split(void)
{
	static const char in[] = "12:hello, world,0:,3:abc,";
	struct tap_case c = { .len = 0 };
	size_t len = sizeof(in) - 1, k;

	for (k = 0; k <= len; k++) {
		struct netstring *ns = NULL;
		struct rec rec;
		int r1, r2;

		memset(&rec, 0, sizeof(rec));
		if (netstring_new(&ns, 64) < 0) {
			tap_fail(&c, "netstring_new failed\n");
			break;
		}
		r1 = feed(ns, in, k, 0, &rec);
		r2 = feed(ns, in + k, len - k, 0, &rec);
		if (r1 || r2 || rec.n != 3 ||
		    rec.len[0] != 12 || memcmp(rec.msg[0], "hello, world", 12) ||
		    rec.len[1] != 0 ||
		    rec.len[2] != 3 || memcmp(rec.msg[2], "abc", 3))
			tap_fail(&c, "cut at %zu: returned %d, %d with %u messages\n",
				 k, r1, r2, rec.n);
		rec_clear(&rec);
		netstring_free(ns);
	}
	tap_report("three messages cut at every byte", &c);
}

/* Byte by byte, a message is handed over with its last byte, not before. */
static void test_byte_by_byte(void)
{
	static const char in[] = "12:hello, world,";
	struct tap_case c = { .len = 0 };
	struct netstring *ns = NULL;
	struct rec rec;
	size_t i, len = sizeof(in) - 1;

	memset(&rec, 0, sizeof(rec));
	if (netstring_new(&ns, 64) < 0) {
		tap_fail(&c, "netstring_new failed\n");
		goto out;
	}
	for (i = 0; i < len; i++) {
		int rc = netstring_feed(ns, in + i, 1, on_msg, &rec);

		if (rc != 0)
			tap_fail(&c, "byte %zu: returned %d\n", i, rc);
		if (rec.calls != (i == len - 1 ? 1u : 0u))
			tap_fail(&c, "byte %zu: %u messages\n", i, rec.calls);
	}
	if (rec.n == 1 && (rec.len[0] != 12 ||
			   memcmp(rec.msg[0], "hello, world", 12) != 0))
		tap_fail(&c, "the message differs\n");
out:
	rec_clear(&rec);
	netstring_free(ns);
	tap_report("byte by byte: handed over with the last byte", &c);
}

static void test_empty_feeds(void)
{
	struct tap_case c = { .len = 0 };
	struct netstring *ns = NULL;
	struct rec rec;
	int rc;

	memset(&rec, 0, sizeof(rec));
	if (netstring_new(&ns, 64) < 0) {
		tap_fail(&c, "netstring_new failed\n");
		goto out;
	}
	rc = netstring_feed(ns, "", 0, on_msg, &rec);
	rc |= netstring_feed(ns, "2:", 2, on_msg, &rec);
	rc |= netstring_feed(ns, "", 0, on_msg, &rec);
	rc |= netstring_feed(ns, "ok,", 3, on_msg, &rec);
	rc |= netstring_feed(ns, "", 0, on_msg, &rec);
	if (rc != 0)
		tap_fail(&c, "a feed failed\n");
	if (rec.calls != 1 || rec.len[0] != 2 || memcmp(rec.msg[0], "ok", 2))
		tap_fail(&c, "%u messages, expected \"ok\"\n", rec.calls);
out:
	rec_clear(&rec);
	netstring_free(ns);
	tap_report("empty feeds change nothing", &c);
}

static void test_free_null(void)
{
	struct tap_case c = { .len = 0 };

	if (netstring_free(NULL) != NULL)
		tap_fail(&c, "netstring_free(NULL) is not NULL\n");
	tap_report("netstring_free(NULL)", &c);
}

int main(void)
{
	static const size_t small[] = { 0, 1, 5, 9, 10, 99, 100 };
	static const size_t buffer_edges[] = { 4090, 4091, 4092, 4093, 4094,
					       4095, 4096, 4097 };
	static const size_t big[] = { 100000, 3, 65536 };
	size_t i;
	const unsigned n_other = 11;

	tap_plan((unsigned)(ARRAY_SIZE(rows) + ARRAY_SIZE(enc_rows)) +
		 n_other);

	for (i = 0; i < ARRAY_SIZE(enc_rows); i++)
		run_enc_row(&enc_rows[i]);
	for (i = 0; i < ARRAY_SIZE(rows); i++)
		run_row(&rows[i]);

	test_round_trip("round trip: small sizes, one feed", small,
			ARRAY_SIZE(small), 100, 0);
	test_round_trip("round trip: small sizes, byte by byte", small,
			ARRAY_SIZE(small), 100, 1);
	test_round_trip("round trip: around 4096, one feed", buffer_edges,
			ARRAY_SIZE(buffer_edges), 4097, 0);
	test_round_trip("round trip: around 4096, pieces of 7", buffer_edges,
			ARRAY_SIZE(buffer_edges), 4097, 7);
	test_round_trip("round trip: 100000 bytes, one feed", big,
			ARRAY_SIZE(big), 100000, 0);
	test_round_trip("round trip: 100000 bytes, pieces of 1000", big,
			ARRAY_SIZE(big), 100000, 1000);
	test_round_trip("round trip: 100000 bytes, byte by byte", big,
			ARRAY_SIZE(big), 100000, 1);
	test_every_split();
	test_byte_by_byte();
	test_empty_feeds();
	test_free_null();

	return tap_exit();
}
