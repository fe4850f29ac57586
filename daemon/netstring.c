/* Netstring framing: an incremental decoder that survives split reads. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "netstring.h"

struct netstring {
	char *buf;
	size_t len;
	size_t cap;
	size_t max_len;
	int err;
};

int netstring_new(struct netstring **ret, size_t max_len)
{
	struct netstring *ns = calloc(1, sizeof(*ns));

	if (!ns)
		return -ENOMEM;
	ns->max_len = max_len;
	*ret = ns;
	return 0;
}

struct netstring *netstring_free(struct netstring *ns)
{
	if (!ns)
		return NULL;
	free(ns->buf);
	free(ns);
	return NULL;
}

static int append(struct netstring *ns, const char *data, size_t len)
{
	if (ns->len + len + 1 > ns->cap) {
		size_t cap = ns->cap ? ns->cap : 4096;
		char *p;

		while (cap < ns->len + len + 1)
			cap *= 2;
		p = realloc(ns->buf, cap);
		if (!p)
			return -ENOMEM;
		ns->buf = p;
		ns->cap = cap;
	}
	memcpy(ns->buf + ns->len, data, len);
	ns->len += len;
	return 0;
}

/* Parse one frame at the head of the buffer. Returns the frame's total size,
 * 0 when more bytes are needed, or a negative error. */
static long parse_one(struct netstring *ns, size_t *payload_len)
{
	size_t i, n = 0;

	for (i = 0; i < ns->len; i++) {
		char c = ns->buf[i];

		if (c == ':')
			break;
		if (c < '0' || c > '9')
			return -EBADMSG;
		/* a leading zero is only valid for the empty string */
		if (i == 1 && ns->buf[0] == '0')
			return -EBADMSG;
		n = n * 10 + (size_t)(c - '0');
		if (n > ns->max_len)
			return -EMSGSIZE;
		if (i >= 10)
			return -EMSGSIZE;
	}
	if (i == ns->len)
		return 0;
	if (i == 0)
		return -EBADMSG;
	if (ns->len < i + 1 + n + 1)
		return 0;
	if (ns->buf[i + 1 + n] != ',')
		return -EBADMSG;
	*payload_len = n;
	return (long)(i + 1 + n + 1);
}

int netstring_feed(struct netstring *ns, const char *data, size_t len,
		   netstring_msg_h *h, void *arg)
{
	int r;

	if (ns->err)
		return ns->err;
	r = append(ns, data, len);
	if (r < 0)
		return r;

	for (;;) {
		size_t plen = 0, colon;
		long total = parse_one(ns, &plen);
		char saved;

		if (total < 0) {
			ns->err = (int)total;
			return ns->err;
		}
		if (total == 0)
			break;
		colon = (size_t)total - plen - 2;
		/* NUL-terminate in place over the trailing comma */
		saved = ns->buf[colon + 1 + plen];
		ns->buf[colon + 1 + plen] = '\0';
		h(ns->buf + colon + 1, plen, arg);
		ns->buf[colon + 1 + plen] = saved;
		memmove(ns->buf, ns->buf + total, ns->len - (size_t)total);
		ns->len -= (size_t)total;
	}
	return 0;
}

int netstring_encode(char **ret, size_t *ret_len, const char *msg, size_t len)
{
	char head[24];
	int hl = snprintf(head, sizeof(head), "%zu:", len);
	char *out = malloc((size_t)hl + len + 1);

	if (!out)
		return -ENOMEM;
	memcpy(out, head, (size_t)hl);
	memcpy(out + hl, msg, len);
	out[hl + len] = ',';
	*ret = out;
	*ret_len = (size_t)hl + len + 1;
	return 0;
}
