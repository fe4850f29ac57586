/* Answers that come later: a method waiting for a server answers its
 * request from the server's handler. Each rpc_later is on its rpc's list
 * until it answers; a peer that goes away leaves its laters without a
 * peer, so that their answer is dropped, not sent to freed memory. An
 * answer given before rpc.c has armed the later (a handler called from
 * inside the method, a connection failing at once) waits for the arming:
 * the request's id is known only then. */
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>

#include "ccpd-protocol.h"
#include "jsonrpc.h"
#include "log.h"
#include "rpc-int.h"

struct rpc_later {
	struct rpc_later *next;
	struct rpc *rpc;
	struct rpc_peer *peer;    /* NULL once the peer has gone */
	cJSON *id;                /* NULL: a notification */
	bool armed;
	/* an answer that came before the arming */
	bool early;
	cJSON *early_result;
	int early_code;
	char early_reason[256];
};

struct rpc_later *rpc_later(struct ctx *x)
{
	struct rpc *rpc = x->peer->rpc;
	struct rpc_later *l;

	if (x->peer->in_batch || x->later)
		return NULL;
	l = calloc(1, sizeof(*l));
	if (!l)
		return NULL;
	l->rpc = rpc;
	l->peer = x->peer;
	l->next = rpc->laters;
	rpc->laters = l;
	x->later = l;
	return l;
}

struct rpc *rpc_later_rpc(const struct rpc_later *l)
{
	return l->rpc;
}

static void unlink_later(struct rpc_later *l)
{
	struct rpc_later **pp;

	for (pp = &l->rpc->laters; *pp; pp = &(*pp)->next)
		if (*pp == l) {
			*pp = l->next;
			break;
		}
	cJSON_Delete(l->id);
	cJSON_Delete(l->early_result);
	free(l);
}

static void send_result(struct rpc_later *l, cJSON *result)
{
	if (l->peer && l->id)
		rpc_send_line(l->peer, jsonrpc_result(l->id, result));
	else
		cJSON_Delete(result);
	unlink_later(l);
}

static void send_error(struct rpc_later *l, int code, const char *reason)
{
	if (l->peer && l->id)
		rpc_send_line(l->peer, jsonrpc_error(l->id, code, reason,
						     NULL));
	unlink_later(l);
}

void rpc_later_arm(struct rpc_later *l, const cJSON *id)
{
	l->id = id ? cJSON_Duplicate(id, true) : NULL;
	l->armed = true;
	if (!l->early)
		return;
	if (l->early_result) {
		cJSON *r = l->early_result;

		l->early_result = NULL;
		send_result(l, r);
	} else {
		send_error(l, l->early_code, l->early_reason);
	}
}

void rpc_later_result(struct rpc_later *l, cJSON *result)
{
	if (!result) {
		rpc_later_error(l, CCPD_ERR_INTERNAL, "out of memory");
		return;
	}
	if (!l->armed) {
		l->early = true;
		l->early_result = result;
		return;
	}
	send_result(l, result);
}

void rpc_later_error(struct rpc_later *l, int code, const char *fmt, ...)
{
	char reason[256];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(reason, sizeof(reason), fmt, ap);
	va_end(ap);
	if (!l->armed) {
		l->early = true;
		l->early_code = code;
		snprintf(l->early_reason, sizeof(l->early_reason), "%s",
			 reason);
		return;
	}
	send_error(l, code, reason);
}

void rpc_later_drop(struct rpc_later *l)
{
	unlink_later(l);
}

void rpc_later_peer_gone(struct rpc *rpc, struct rpc_peer *p)
{
	struct rpc_later *l;

	for (l = rpc ? rpc->laters : NULL; l; l = l->next)
		if (l->peer == p)
			l->peer = NULL;
}

void rpc_later_free_all(struct rpc *rpc)
{
	while (rpc->laters) {
		log_debug("rpc: an answer still to come is dropped");
		unlink_later(rpc->laters);
	}
}
