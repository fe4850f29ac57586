/* The outbox: one durable queue in state_dir for records bound for a
 * shared server (the PostgreSQL instance, the NATS bus). A record is
 * written here first and forgotten only when its server has acknowledged
 * it, so a server that is down, or a kill -9 of ccpd, loses nothing that
 * was acknowledged to a client.
 *
 * Records travel on channels ("store", "bus", ...). Each has an idempotent
 * key chosen by its producer, unique within the channel, which the server
 * side uses to drop a second delivery; and a sequence number, increasing
 * across restarts and never reused, which gives the order. SQLite in WAL
 * mode with synchronous=FULL: a put that returned 0 is on the disk. */
#ifndef CCPD_OUTBOX_H
#define CCPD_OUTBOX_H

#include <stddef.h>
#include <stdint.h>

struct outbox;

/* Open (creating if missing, mode 0600) the outbox at path. err[] says
 * why in words on failure. */
int outbox_open(struct outbox **ret, const char *path, char *err,
		size_t err_size);
struct outbox *outbox_close(struct outbox *ob);

/* Queue body on channel under key. 0 and *seqp (may be NULL) set when it
 * is on the disk; -EALREADY when channel already holds key (the first one
 * is kept, *seqp is its sequence number); or a negative errno. */
int outbox_put(struct outbox *ob, const char *channel, const char *key,
	       const char *body, uint64_t *seqp);

struct outbox_rec {
	uint64_t seq;
	const char *channel;
	const char *key;
	const char *body;
	uint64_t queued;          /* Unix ms when put */
};

typedef int (outbox_each_h)(const struct outbox_rec *rec, void *arg);

/* The records of channel with seq > after, oldest first, at most max (0:
 * all). A handler's non-zero return stops the scan and is returned. The
 * strings live only for the call. */
int outbox_scan(struct outbox *ob, const char *channel, uint64_t after,
		unsigned max, outbox_each_h *h, void *arg);

/* The server has the record: forget it. -ENOENT when it is not there. */
int outbox_ack(struct outbox *ob, const char *channel, uint64_t seq);

/* How many records wait on channel (NULL: on every channel). */
uint64_t outbox_waiting(struct outbox *ob, const char *channel);

/* The sequence number the next put will take (the last ever given + 1). */
uint64_t outbox_next_seq(struct outbox *ob);

/* A new random (version 4) UUID, as 36 characters and a NUL. */
void outbox_uuid(char out[37]);

/* This desk's stable id: a UUID made at the outbox's first open and kept
 * in it, so that it survives restarts and names the desk on every shared
 * server. */
const char *outbox_desk_id(const struct outbox *ob);

#endif
