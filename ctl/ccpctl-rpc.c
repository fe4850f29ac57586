/* ccpctl-rpc: the socket, line framing and id matching of ccpctl's requests. */
/* The top-level build defines it too; guarded so the two agree. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif

#include <errno.h>
#include <poll.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "ccpctl-rpc.h"

/* Enough for every answer but history and big snapshots, which grow it. */
#define RPC_BUF_INITIAL (64u * 1024)

/* How long to wait before retrying a connect refused by a full listen queue. */
#define RPC_CONNECT_RETRY_MS 10

struct rpc {
	int fd;
	int timeout_ms;
	const sigset_t *sigmask;
	long long next_id;
	/* Unconsumed input is buf[start, len); buf[start, start + scanned) is
	 * known to hold no newline, so a long line is searched only once. */
	char *buf;
	size_t start;
	size_t len;
	size_t scanned;
	size_t cap;
};

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* deadline < 0 means no limit. */
static int rpc_wait(struct rpc *r, short events, int64_t deadline)
{
	struct pollfd pfd = { .fd = r->fd, .events = events };

	for (;;) {
		struct timespec ts, *tsp = NULL;
		int n;

		if (deadline >= 0) {
			int64_t left = deadline - now_ms();

			if (left <= 0)
				return -ETIMEDOUT;
			ts.tv_sec = left / 1000;
			ts.tv_nsec = (left % 1000) * 1000000;
			tsp = &ts;
		}

		n = ppoll(&pfd, 1, tsp, r->sigmask);
		if (n < 0) {
			if (errno == EINTR && !r->sigmask)
				continue;
			return -errno;
		}
		if (n == 0)
			return -ETIMEDOUT;
		/* POLLHUP and POLLERR are left for read() or send() to report. */
		return 0;
	}
}

static int rpc_connect(struct rpc *r, const struct sockaddr_un *sa)
{
	int64_t deadline = now_ms() + r->timeout_ms;

	for (;;) {
		int err;
		socklen_t errlen = sizeof(err);
		int q;

		if (connect(r->fd, (const struct sockaddr *)sa, sizeof(*sa)) == 0)
			return 0;
		if (errno == EINTR)
			continue;
		if (errno != EAGAIN && errno != EINPROGRESS)
			return -errno;

		/* EAGAIN: the daemon's listen queue is full; it may drain. */
		if (errno == EAGAIN) {
			struct timespec ts = { 0, RPC_CONNECT_RETRY_MS * 1000000L };

			if (now_ms() + RPC_CONNECT_RETRY_MS > deadline)
				return -ETIMEDOUT;
			nanosleep(&ts, NULL);
			continue;
		}

		q = rpc_wait(r, POLLOUT, deadline);
		if (q < 0)
			return q;
		if (getsockopt(r->fd, SOL_SOCKET, SO_ERROR, &err, &errlen) < 0)
			return -errno;
		return err ? -err : 0;
	}
}

int rpc_new(struct rpc **ret, const char *path, int timeout_ms)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct rpc *r;
	int q;

	/* Without room for the terminating NUL the kernel would read past a
	 * name we cannot vouch for; refuse rather than truncate. */
	if (strlen(path) >= sizeof(sa.sun_path))
		return -ENAMETOOLONG;
	memcpy(sa.sun_path, path, strlen(path) + 1);

	r = calloc(1, sizeof(*r));
	if (!r)
		return -ENOMEM;
	r->timeout_ms = timeout_ms;
	r->next_id = 1;

	/* Non-blocking so that every wait goes through poll and its deadline. */
	r->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (r->fd < 0) {
		q = -errno;
		goto fail;
	}

	q = rpc_connect(r, &sa);
	if (q < 0)
		goto fail;

	*ret = r;
	return 0;

fail:
	rpc_free(r);
	return q;
}

struct rpc *rpc_free(struct rpc *r)
{
	if (!r)
		return NULL;
	if (r->fd >= 0)
		close(r->fd);
	free(r->buf);
	free(r);
	return NULL;
}

void rpc_set_sigmask(struct rpc *r, const sigset_t *mask)
{
	r->sigmask = mask;
}

static int rpc_send(struct rpc *r, const char *data, size_t len,
                    int64_t deadline)
{
	while (len > 0) {
		ssize_t n;
		int q;

		/* MSG_NOSIGNAL: a daemon that went away is an error to report,
		 * not a reason to die of SIGPIPE. */
		n = send(r->fd, data, len, MSG_NOSIGNAL);
		if (n >= 0) {
			data += n;
			len -= (size_t)n;
			continue;
		}
		if (errno == EINTR)
			continue;
		if (errno != EAGAIN)
			return errno == EPIPE ? -ECONNRESET : -errno;
		q = rpc_wait(r, POLLOUT, deadline);
		if (q < 0)
			return q;
	}
	return 0;
}

/* Hands out the next line, without its newline, valid until the next call. */
static int rpc_read_line(struct rpc *r, int64_t deadline,
                         char **ret_line, size_t *ret_len)
{
	for (;;) {
		char *from = r->buf + r->start + r->scanned;
		char *nl = r->buf ? memchr(from, '\n', r->len - r->start - r->scanned)
		                  : NULL;
		ssize_t n;
		int q;

		if (nl) {
			*ret_line = r->buf + r->start;
			*ret_len = (size_t)(nl - *ret_line);
			r->start += *ret_len + 1;
			r->scanned = 0;
			return 0;
		}
		r->scanned = r->len - r->start;
		if (r->scanned >= RPC_LINE_MAX)
			return -EMSGSIZE;

		if (r->start > 0) {
			memmove(r->buf, r->buf + r->start, r->len - r->start);
			r->len -= r->start;
			r->start = 0;
		}
		if (r->len == r->cap) {
			size_t cap = r->cap ? r->cap * 2 : RPC_BUF_INITIAL;
			char *buf;

			if (cap > RPC_LINE_MAX + 1)
				cap = RPC_LINE_MAX + 1;
			buf = realloc(r->buf, cap);
			if (!buf)
				return -ENOMEM;
			r->buf = buf;
			r->cap = cap;
		}

		n = read(r->fd, r->buf + r->len, r->cap - r->len);
		if (n > 0) {
			r->len += (size_t)n;
			continue;
		}
		if (n == 0)
			return -ECONNRESET;
		if (errno == EINTR)
			continue;
		if (errno != EAGAIN)
			return -errno;
		q = rpc_wait(r, POLLIN, deadline);
		if (q < 0)
			return q;
	}
}

static bool is_blank(const char *s, size_t len)
{
	for (size_t i = 0; i < len; i++)
		if (s[i] != ' ' && s[i] != '\t' && s[i] != '\r')
			return false;
	return true;
}

static bool is_answer_to(const cJSON *msg, long long id)
{
	const cJSON *jid = cJSON_GetObjectItemCaseSensitive(msg, "id");

	if (cJSON_HasObjectItem(msg, "method"))
		return false;
	if (cJSON_IsNumber(jid))
		return jid->valuedouble == (double)id;
	/* A request ccpd could not read (too long, say) is answered with a
	 * null id; with one request in flight it can only be ours. */
	return cJSON_IsNull(jid) &&
	       cJSON_IsObject(cJSON_GetObjectItemCaseSensitive(msg, "error"));
}

static bool is_event(const cJSON *msg)
{
	const cJSON *method = cJSON_GetObjectItemCaseSensitive(msg, "method");

	return cJSON_IsString(method) && strcmp(method->valuestring, "event") == 0 &&
	       cJSON_IsObject(cJSON_GetObjectItemCaseSensitive(msg, "params"));
}

/*
 * Reads lines until one is the answer to id, or, with id 0, an event.
 * Everything else is dropped: events are only wanted by watch, which asks
 * for them after its subscribe is answered.
 */
static int rpc_receive(struct rpc *r, long long id, int64_t deadline,
                       cJSON **ret_msg)
{
	for (;;) {
		char *line = NULL;
		size_t len = 0;
		cJSON *msg;
		int q;

		q = rpc_read_line(r, deadline, &line, &len);
		if (q < 0)
			return q;
		if (is_blank(line, len))
			continue;

		msg = cJSON_ParseWithLength(line, len);
		if (!cJSON_IsObject(msg)) {
			cJSON_Delete(msg);
			return -EBADMSG;
		}
		if (id > 0 ? is_answer_to(msg, id) : is_event(msg)) {
			*ret_msg = msg;
			return 0;
		}
		cJSON_Delete(msg);
	}
}

int rpc_call(struct rpc *r, const char *method, cJSON *params,
             cJSON **ret_result, cJSON **ret_error)
{
	int64_t deadline = now_ms() + r->timeout_ms;
	long long id = r->next_id++;
	cJSON *req, *msg = NULL, *error, *result;
	char *text = NULL;
	size_t len;
	int q;

	req = cJSON_CreateObject();
	if (!req) {
		cJSON_Delete(params);
		return -ENOMEM;
	}
	if (params && !cJSON_AddItemToObject(req, "params", params)) {
		cJSON_Delete(params);
		q = -ENOMEM;
		goto out;
	}
	if (!cJSON_AddStringToObject(req, "jsonrpc", "2.0") ||
	    !cJSON_AddNumberToObject(req, "id", (double)id) ||
	    !cJSON_AddStringToObject(req, "method", method)) {
		q = -ENOMEM;
		goto out;
	}

	text = cJSON_PrintUnformatted(req);
	if (!text) {
		q = -ENOMEM;
		goto out;
	}
	/* cJSON never emits a raw newline, so this one ends the request. */
	len = strlen(text);
	text[len] = '\n';
	q = rpc_send(r, text, len + 1, deadline);
	if (q < 0)
		goto out;

	q = rpc_receive(r, id, deadline, &msg);
	if (q < 0)
		goto out;

	error = cJSON_GetObjectItemCaseSensitive(msg, "error");
	result = cJSON_GetObjectItemCaseSensitive(msg, "result");
	if (cJSON_IsObject(error)) {
		*ret_result = NULL;
		*ret_error = cJSON_DetachItemViaPointer(msg, error);
	} else if (result && !error) {
		*ret_result = cJSON_DetachItemViaPointer(msg, result);
		*ret_error = NULL;
	} else {
		q = -EBADMSG;
	}

out:
	cJSON_Delete(msg);
	cJSON_free(text);
	cJSON_Delete(req);
	return q;
}

int rpc_next_event(struct rpc *r, cJSON **ret_event)
{
	cJSON *msg = NULL;
	int q;

	q = rpc_receive(r, 0, -1, &msg);
	if (q < 0)
		return q;
	*ret_event = cJSON_DetachItemViaPointer(msg,
			cJSON_GetObjectItemCaseSensitive(msg, "params"));
	cJSON_Delete(msg);
	return 0;
}
