/* ccpctl-rpc: one JSON-RPC connection to ccpd over its Unix socket. */
#pragma once

#include <signal.h>

#include <cjson/cJSON.h>

struct rpc;

/*
 * Connects to the socket at path. timeout_ms bounds the connect and every
 * later wait for an answer. Returns 0 or a negative errno (-ENAMETOOLONG
 * when path does not fit in sun_path, -ETIMEDOUT when the listen queue stayed
 * full).
 */
int rpc_new(struct rpc **ret, const char *path, int timeout_ms);
struct rpc *rpc_free(struct rpc *r);

/*
 * With a mask set, every wait runs under that signal mask (ppoll) and a
 * delivered signal ends it with -EINTR, so the caller can keep its signals
 * blocked everywhere else and never lose one. Without a mask, waits that
 * are interrupted simply resume.
 */
void rpc_set_sigmask(struct rpc *r, const sigset_t *mask);

/*
 * Sends one request and waits for its answer, skipping notifications that
 * arrive in between. params is consumed (NULL for none). On 0 exactly one of
 * *ret_result and *ret_error is set and owned by the caller. Negative errno
 * when the exchange failed: -ETIMEDOUT, -ECONNRESET (ccpd closed the
 * connection), -EBADMSG (the answer is not JSON-RPC), -EMSGSIZE (a line
 * longer than RPC_LINE_MAX), -EINTR (see rpc_set_sigmask), or what the
 * socket reported.
 */
int rpc_call(struct rpc *r, const char *method, cJSON *params,
             cJSON **ret_result, cJSON **ret_error);

/*
 * Waits, without a time limit, for the next "event" notification and hands
 * over its params object. Other lines are skipped. Errors as for rpc_call.
 */
int rpc_next_event(struct rpc *r, cJSON **ret_event);

/*
 * Requests are bounded by the protocol at 64 KiB per line, but answers are
 * not (a contact.history of 1000 contacts is larger), so answers may grow up
 * to this many bytes before the connection is given up.
 */
#define RPC_LINE_MAX (16u * 1024 * 1024)
