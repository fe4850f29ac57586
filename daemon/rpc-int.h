/* What the rpc files share; rpc.h is the method table for everyone else.
 *
 * The methods are split by family, one file each; rpc.c holds the one
 * table that names them all, so the permission every method needs is read
 * in one place.
 *
 *   rpc.c          the table, parameter helpers, who is calling and what
 *                  they may do, dispatch, peers and their events, the
 *                  daemon.* methods and the hand-over to admin.c
 *   rpc-agent.c    agent.*: status, configuration, dialling, mute; and the
 *                  desk's devices: audio, media, registration, network
 *   rpc-contact.c  contact.* and connection.*
 *   rpc-phone.c    phone.normalize and phone.format
 *   rpc-session.c  session.*: login, resume, logout, whoami, passwords;
 *                  the sweep of expired sessions
 *   rpc-metrics.c  metrics.get and metrics.getPrometheus
 */
#ifndef CCPD_RPC_INT_H
#define CCPD_RPC_INT_H

#include <stdbool.h>
#include <stddef.h>

#include <re.h>

#include "auth.h"
#include "desk.h"
#include "perms.h"
#include "rpc.h"

struct rpc {
	const struct conf *conf;
	struct desk *desk;
	struct events *ev;
	struct store *st;
	struct auth *auth;
	struct admin *admin;
	struct netcheck *netcheck;
	struct tmr sweep_tmr;
	struct bus *bus;                /* NULL: the bus is off */
	struct instance *inst;      /* the PostgreSQL instance, or NULL */
	struct rpc_later *laters;   /* answers still to come (rpc-later.c) */
};

struct rpc_peer {
	struct rpc *rpc;
	const struct rpc_transport *tp;
	void *t;
	struct events_sub *sub;
	struct events_sub *floor_sub;   /* floor.changed (rpc-floor.c) */
	struct rpc_peer_info info;
	/* the session this connection acts in, "" for none */
	char token[65];
	struct tmr login_tmr;   /* a stranger who does not log in goes */
	bool in_batch;          /* serving a batch: answers come at once */
};

struct method;

/* One call of a method: what came in, what goes back. */
struct ctx {
	struct rpc_peer *peer;
	const struct method *m;
	const cJSON *params;
	cJSON *result;
	const char *result_text;   /* already encoded, not owned */
	struct desk_err err;
	cJSON *err_data;           /* more members of error.data */
	/* who is calling */
	struct auth_session *sess;
	struct perms_who who;
	/* events.subscribe: replay after the answer */
	bool replay;
	unsigned long long since;
	/* the answer comes later (rpc_later) */
	struct rpc_later *later;
};

/* A method: 0 with x->result (or x->result_text), or a ccpd error code
 * with x->err filled in. */
typedef int (method_h)(struct ctx *x);

/* ---- helpers for every method (rpc.c) ---- */

int rpc_bad_params(struct ctx *x, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
int rpc_refuse(struct ctx *x, int code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* A string parameter; NULL when absent and optional. */
int rpc_get_str(struct ctx *x, const char *name, bool required, size_t max,
		const char **out);
int rpc_get_uint(struct ctx *x, const char *name, unsigned long long min,
		 unsigned long long max, bool *present,
		 unsigned long long *out);
/* The desk's answer r as the method's: its refusal, or an internal error
 * when it gave none. */
int rpc_desk_result(struct ctx *x, int r);

/* Whether the caller holds p, and the refusal when they do not. */
bool rpc_may(const struct ctx *x, enum perm p);
int rpc_forbidden(struct ctx *x, enum perm p);

/* ---- answers that come later (rpc-later.c) ----
 *
 * A method that must wait for a server (a query to the PostgreSQL
 * instance) takes an rpc_later, returns 0 without a result, and answers
 * through it from its handler, once. Requests after it on the connection
 * are served meanwhile; JSON-RPC matches answers by id. In a batch, whose
 * answers go out together, rpc_later gives NULL: answer at once. If the
 * peer goes first the answer is dropped; rpc_free drops what is left. */
struct rpc_later;
struct rpc_later *rpc_later(struct ctx *x);
void rpc_later_result(struct rpc_later *l, cJSON *result);
void rpc_later_error(struct rpc_later *l, int code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/* The rpc a later answer belongs to. */
struct rpc *rpc_later_rpc(const struct rpc_later *l);
/* rpc.c: the request's id (NULL: a notification, no answer) */
void rpc_later_arm(struct rpc_later *l, const cJSON *id);
void rpc_later_drop(struct rpc_later *l);
void rpc_later_peer_gone(struct rpc *rpc, struct rpc_peer *p);
void rpc_later_free_all(struct rpc *rpc);
/* rpc.c: one encoded line to the peer */
void rpc_send_line(struct rpc_peer *p, char *line);

/* The handlers below are m_ names, not rpc_ ones: that is how the table
 * in rpc.c names them, and tests/integration (test_auth.py, test_schema.py)
 * read the table from rpc.c by that pattern. Only rpc.c calls them. */

/* ---- agent.* and the desk's devices (rpc-agent.c) ---- */

method_h m_get_state;
method_h m_set_state;
method_h m_clear_next;
method_h m_list_states;
method_h m_get_config;
method_h m_set_config;
method_h m_move_to_desk;
method_h m_connect;
method_h m_mute;
method_h m_unmute;
method_h m_get_endpoints;
method_h m_media_status;
method_h m_registration;
method_h m_audio_list;
method_h m_audio_set;
method_h m_audio_test;
method_h m_network_check;

/* ---- contact.* and connection.* (rpc-contact.c) ---- */

method_h m_contact_list;
method_h m_contact_get;
method_h m_contact_history;
method_h m_accept;
method_h m_reject;
method_h m_clear;
method_h m_add_connection;
method_h m_transfer;
method_h m_swap;
method_h m_conference;
method_h m_destroy;
method_h m_hold;
method_h m_resume;
method_h m_send_digits;

/* ---- phone.* (rpc-phone.c) ---- */

method_h m_phone_normalize;
method_h m_phone_format;

/* ---- session.* (rpc-session.c) ---- */

method_h m_login;
method_h m_session_resume;
method_h m_logout;
method_h m_whoami;
method_h m_change_password;

/* Expired sessions end on a timer that runs from rpc_new to rpc_free. */
void rpc_session_sweep_start(struct rpc *rpc);
void rpc_session_sweep_stop(struct rpc *rpc);

/* ---- metrics.* (rpc-metrics.c) ---- */

method_h m_metrics;
method_h m_prometheus;
method_h m_report_agents;

/* ---- floor.* and bus.* (rpc-floor.c) ---- */

method_h m_floor_get;
method_h m_floor_history;
method_h m_bus_status;
/* rpc-store.c */
method_h m_store_status;

#endif
