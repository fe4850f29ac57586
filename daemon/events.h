/* The event stream: sequence numbers, a replay buffer, subscribers. */
#ifndef CCPD_EVENTS_H
#define CCPD_EVENTS_H

#include <stddef.h>
#include <stdint.h>
#include <cjson/cJSON.h>

struct events;
struct events_msg;
struct events_sub;

/* Room before every message's text for a transport's framing (WebSocket's
 * LWS_PRE), so that one buffer can be written to every client as is. */
#define EVENTS_HEADROOM 32

/* One encoded message, shared by reference: an event is encoded once and
 * the same buffer sits in the replay ring and in every client's queue.
 * events_msg_new copies len bytes of line; unref returns NULL. */
struct events_msg *events_msg_new(const char *line, size_t len);
struct events_msg *events_msg_ref(struct events_msg *m);
struct events_msg *events_msg_unref(struct events_msg *m);
/* The text, NUL-terminated, with EVENTS_HEADROOM writable bytes before it. */
char *events_msg_line(struct events_msg *m);
size_t events_msg_len(const struct events_msg *m);

/* Receives one encoded notification (no newline); take a reference to
 * keep it. The sink must not unsubscribe or free anything synchronously. */
typedef void (events_sink_h)(struct events_msg *msg, void *arg);

int events_new(struct events **ret, unsigned capacity);
struct events *events_free(struct events *ev);

/* Publish an event; data is consumed. Returns its sequence number, or 0
 * when it could not be encoded. */
uint64_t events_emit(struct events *ev, const char *type, cJSON *data);
/* The same with the event's time given (Unix ms), so that a record of it
 * written beforehand carries the very time clients see. */
uint64_t events_emit_at(struct events *ev, const char *type, cJSON *data,
			uint64_t time_ms);
uint64_t events_last_seq(const struct events *ev);
/* A random name for this run of the daemon. */
const char *events_instance(const struct events *ev);

int events_subscribe(struct events *ev, struct events_sub **ret,
		     events_sink_h *h, void *arg);
struct events_sub *events_unsubscribe(struct events_sub *sub);
/* The same for a part of ccpd that must have each event before any
 * client sees it (the bus puts it on the disk first); undone with
 * events_unsubscribe. */
int events_observe(struct events *ev, struct events_sub **ret,
		   events_sink_h *h, void *arg);

/* Send every held event after since through h. Returns how many, or
 * -ESPIPE when event since+1 has left the buffer (the client must take a
 * fresh snapshot). */
int events_replay(const struct events *ev, uint64_t since, events_sink_h *h,
		  void *arg);

#endif
