/* The JSON-RPC method table: parameter checks and dispatch, the same for
 * every transport. */
#ifndef CCPD_RPC_H
#define CCPD_RPC_H

#include <stdbool.h>
#include <stddef.h>

struct admin;
struct auth;
struct bus;
struct conf;
struct desk;
struct events;
struct events_msg;
struct rpc;
struct rpc_peer;
struct store;

/* What the transport knows of a peer. */
struct rpc_peer_info {
	bool trusted;           /* an administrator by its credentials */
	unsigned uid;           /* -1 when unknown */
	char name[48];          /* for throttling and the journal: uid:N */
};

struct rpc_transport {
	/* Queue one message for the peer (no framing). Returns <0 when the
	 * peer cannot take it; the transport then drops the peer later. */
	int (*send)(void *t, const char *msg, size_t len);
	/* Optional: queue an event, shared with every other peer; the
	 * transport takes its own reference. Without it, send() gets a copy. */
	int (*send_shared)(void *t, struct events_msg *msg);
	/* Optional: close the peer. A peer that is not an administrator by
	 * its credentials and has not logged in login_timeout seconds after
	 * it came (or after its last check) is closed so; without drop, the
	 * transport keeps its peers. */
	void (*drop)(void *t, const char *why);
};

int rpc_new(struct rpc **ret, const struct conf *conf, struct desk *d,
	    struct events *ev, struct store *st, struct auth *auth,
	    struct admin *admin);
struct rpc *rpc_free(struct rpc *rpc);
/* The bus, for floor.get and bus.getStatus (NULL: off). */
void rpc_set_bus(struct rpc *rpc, struct bus *bus);

int rpc_peer_new(struct rpc_peer **ret, struct rpc *rpc,
		 const struct rpc_transport *tp, void *t,
		 const struct rpc_peer_info *info);
struct rpc_peer *rpc_peer_free(struct rpc_peer *p);

/* Whether the peer is an administrator by its credentials or acts in a
 * live session: a transport drops peers that stay strangers too long. */
bool rpc_peer_logged_in(struct rpc_peer *p);

/* One whole message from the peer. */
void rpc_peer_input(struct rpc_peer *p, const char *msg, size_t len);
/* A framing problem the transport found (e.g. a message too large). */
void rpc_peer_reject(struct rpc_peer *p, int code, const char *reason);

/* The instance's database, for store.getStatus (rpc-store.c); NULL: the
 * store is the desk's own SQLite file. */
struct instance;
void rpc_set_instance(struct rpc *rpc, struct instance *in);

#endif
