/* What the bus files share; bus.h is the bus for everyone else.
 *
 *   bus.c        the main loop's side: events from the outbox to the
 *                worker in order, acknowledgements, the agent's snapshot
 *                and heartbeat, the bus's state, the floor's updates
 *   bus-nats.c   the worker thread: every libnats call, so that none
 *                blocks the main loop; it talks back only through a
 *                libre mqueue
 *   floor.c      the floor: every agent's latest snapshot, read from the
 *                key-value bucket, with totals and the unreachable mark
 */
#ifndef CCPD_BUS_INT_H
#define CCPD_BUS_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct mqueue;
struct busw;

#define BUS_STREAM "CCP_EVENTS"
#define BUS_SUBJECTS "ccp.agent.>"
#define BUS_BUCKET "CCP_AGENTS"

/* What the worker needs to know, copied at start. */
struct busw_conf {
	char *servers;           /* comma-separated URLs */
	char *credentials;       /* a file: .creds, or "user:password" */
	char *tls_ca;            /* CA file for tls:// ("" for the system's) */
	unsigned replicas;
	uint64_t max_age_s;
	uint64_t max_bytes;
	uint64_t dup_window_s;
	char *name;              /* the connection's name (the desk) */
};

/* What the worker tells the main loop. */
enum busw_note {
	BUSW_CONNECTED,         /* text: the server's URL; streams ready */
	BUSW_DISCONNECTED,      /* text: why */
	BUSW_FAILED,            /* text: why; the worker gave up for good */
	BUSW_ACK,               /* seq: the stream holds it */
	BUSW_NACK,              /* seq, text: it was refused or lost */
	BUSW_KV,                /* key, text (NULL: deleted), pending */
	BUSW_WATCH_READY,       /* the watch delivered every key */
	BUSW_HIST,              /* text: one agent.stateChange payload */
	BUSW_HIST_DONE,         /* the history is read (text: an error) */
};

/* One note; the receiver frees it with busw_note_free. */
struct busw_msg {
	struct busw_msg *next;
	enum busw_note id;
	uint64_t seq;
	uint64_t pending;       /* BUSW_KV: how many more the watch holds */
	char *key;
	char *text;
};

void busw_note_free(struct busw_msg *m);
/* The notes so far, oldest first (the worker pushes mq once when the list
 * turns non-empty); NULL is fine for w. */
struct busw_msg *busw_notes_take(struct busw *w);

/* Start the worker thread; it connects in the background. */
int busw_start(struct busw **ret, const struct busw_conf *c,
	       struct mqueue *mq);
/* Stop it and wait for its thread; NULL is fine. Returns NULL. */
struct busw *busw_stop(struct busw *w);

/* Queue one event for the stream. The worker publishes in the order of
 * the calls; seq comes back with its acknowledgement. */
int busw_publish(struct busw *w, uint64_t seq, const char *subject,
		 const char *msg_id, const char *payload);
/* Queue a new value of key in the bucket (the latest wins). */
int busw_kv_put(struct busw *w, const char *key, const char *value);
/* Delete key from the bucket (a marker the watchers see). */
int busw_kv_delete(struct busw *w, const char *key);
/* Start watching the bucket (once); BUSW_KV notes follow. */
int busw_watch(struct busw *w);
/* Read the stream's agent.stateChange events since since_ms: BUSW_HIST
 * notes, then BUSW_HIST_DONE. */
int busw_history(struct busw *w, uint64_t since_ms);

/* A name that is one token of a subject and a valid key: letters, digits,
 * '-' and '_' as they are, every other byte as "=XX". */
void bus_token(const char *in, char *out, size_t size);

#endif
