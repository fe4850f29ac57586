/* The event stream. Each event is encoded once and kept, encoded, in a ring
 * so that a client that reconnects can be replayed what it missed; the
 * same buffer, counted by reference, goes to every subscriber. */
#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <sys/random.h>
#include <unistd.h>
#include <stdlib.h>
#include <string.h>

#include "events.h"
#include "jsonrpc.h"
#include "util.h"

struct events_msg {
	unsigned refs;
	size_t len;
	/* EVENTS_HEADROOM bytes, then the text and its NUL */
	_Alignas(max_align_t) char buf[];
};

struct held {
	uint64_t seq;
	struct events_msg *msg;
};

struct events_sub {
	struct events_sub *prev, *next;
	struct events *ev;
	bool observer;          /* on the observers' list */
	events_sink_h *h;
	void *arg;
};

struct events {
	char instance[17];
	struct held *ring;
	unsigned cap;
	uint64_t seq;
	struct events_sub *observers;   /* called before the subscribers */
	struct events_sub *subs;
};

struct events_msg *events_msg_new(const char *line, size_t len)
{
	struct events_msg *m = malloc(sizeof(*m) + EVENTS_HEADROOM + len + 1);

	if (!m)
		return NULL;
	m->refs = 1;
	m->len = len;
	memcpy(m->buf + EVENTS_HEADROOM, line, len);
	m->buf[EVENTS_HEADROOM + len] = '\0';
	return m;
}

struct events_msg *events_msg_ref(struct events_msg *m)
{
	m->refs++;
	return m;
}

struct events_msg *events_msg_unref(struct events_msg *m)
{
	if (m && --m->refs == 0)
		free(m);
	return NULL;
}

char *events_msg_line(struct events_msg *m)
{
	return m->buf + EVENTS_HEADROOM;
}

size_t events_msg_len(const struct events_msg *m)
{
	return m->len;
}

/* Sequence numbers start again at 1 when ccpd restarts; the instance tells
 * a client that its since belongs to another life of the daemon. */
static void make_instance(char *out, size_t size)
{
	uint64_t v = 0;

	if (getrandom(&v, sizeof(v), GRND_NONBLOCK) != sizeof(v))
		v = util_now_ms() ^ ((uint64_t)getpid() << 32);
	snprintf(out, size, "%016llx", (unsigned long long)v);
}

const char *events_instance(const struct events *ev)
{
	return ev->instance;
}

int events_new(struct events **ret, unsigned capacity)
{
	struct events *ev = calloc(1, sizeof(*ev));

	if (!ev)
		return -ENOMEM;
	ev->ring = calloc(capacity, sizeof(*ev->ring));
	if (!ev->ring) {
		free(ev);
		return -ENOMEM;
	}
	ev->cap = capacity;
	make_instance(ev->instance, sizeof(ev->instance));
	*ret = ev;
	return 0;
}

struct events *events_free(struct events *ev)
{
	unsigned i;

	if (!ev)
		return NULL;
	while (ev->subs)
		events_unsubscribe(ev->subs);
	while (ev->observers)
		events_unsubscribe(ev->observers);
	for (i = 0; i < ev->cap; i++)
		events_msg_unref(ev->ring[i].msg);
	free(ev->ring);
	free(ev);
	return NULL;
}

uint64_t events_emit(struct events *ev, const char *type, cJSON *data)
{
	return events_emit_at(ev, type, data, util_now_ms());
}

uint64_t events_emit_at(struct events *ev, const char *type, cJSON *data,
			uint64_t time_ms)
{
	struct events_sub *s, *next;
	struct events_msg *m = NULL;
	struct held *h;
	char *line;

	line = jsonrpc_event(ev->seq + 1, time_ms, type, data);
	cJSON_Delete(data);
	if (line)
		m = events_msg_new(line, strlen(line));
	free(line);
	if (!m)
		return 0;
	ev->seq++;
	h = &ev->ring[ev->seq % ev->cap];
	events_msg_unref(h->msg);
	h->seq = ev->seq;
	h->msg = m;
	for (s = ev->observers; s; s = next) {
		next = s->next;
		s->h(m, s->arg);
	}
	for (s = ev->subs; s; s = next) {
		next = s->next;
		s->h(m, s->arg);
	}
	return ev->seq;
}

uint64_t events_last_seq(const struct events *ev)
{
	return ev->seq;
}

static int add_sub(struct events *ev, struct events_sub **head,
		   struct events_sub **ret, events_sink_h *h, void *arg)
{
	struct events_sub *s = calloc(1, sizeof(*s));

	if (!s)
		return -ENOMEM;
	s->ev = ev;
	s->h = h;
	s->arg = arg;
	s->observer = head == &ev->observers;
	s->next = *head;
	if (*head)
		(*head)->prev = s;
	*head = s;
	*ret = s;
	return 0;
}

int events_subscribe(struct events *ev, struct events_sub **ret,
		     events_sink_h *h, void *arg)
{
	return add_sub(ev, &ev->subs, ret, h, arg);
}

int events_observe(struct events *ev, struct events_sub **ret,
		   events_sink_h *h, void *arg)
{
	return add_sub(ev, &ev->observers, ret, h, arg);
}

struct events_sub *events_unsubscribe(struct events_sub *s)
{
	if (!s)
		return NULL;
	if (s->prev)
		s->prev->next = s->next;
	else if (s->observer)
		s->ev->observers = s->next;
	else
		s->ev->subs = s->next;
	if (s->next)
		s->next->prev = s->prev;
	free(s);
	return NULL;
}

int events_replay(const struct events *ev, uint64_t since, events_sink_h *h,
		  void *arg)
{
	uint64_t first = ev->seq >= ev->cap ? ev->seq - ev->cap + 1 : 1;
	uint64_t seq;
	int n = 0;

	/* a since from the future means the daemon restarted */
	if (since > ev->seq)
		return -ESPIPE;
	if (since == ev->seq)
		return 0;
	if (since + 1 < first)
		return -ESPIPE;
	for (seq = since + 1; seq <= ev->seq; seq++) {
		h(ev->ring[seq % ev->cap].msg, arg);
		n++;
	}
	return n;
}
