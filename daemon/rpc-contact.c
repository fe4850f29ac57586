/* contact.* and connection.*: the contacts at the desk and each of their
 * parties. Each method checks its parameters, calls the desk and answers
 * at once. */
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "ccpd-protocol.h"
#include "desk.h"
#include "rpc-int.h"

static int with_contact(struct ctx *x,
			int (*fn)(struct desk *, const char *,
				  struct desk_err *))
{
	const char *id;
	int r = rpc_get_str(x, "contactId", true, 64, &id);

	if (r < 0)
		return r;
	r = fn(x->peer->rpc->desk, id, &x->err);
	if (r == 0)
		x->result = cJSON_CreateObject();
	return rpc_desk_result(x, r);
}

/* contactId and an optional connectionId */
static int get_contact_conn(struct ctx *x, const char **id, const char **conn)
{
	int r = rpc_get_str(x, "contactId", true, 64, id);

	if (r == 0)
		r = rpc_get_str(x, "connectionId", false, 64, conn);
	return r;
}

/* The same, with an action on them. */
static int with_connection(struct ctx *x,
			   int (*fn)(struct desk *, const char *, const char *,
				     struct desk_err *))
{
	const char *id, *conn;
	int r = get_contact_conn(x, &id, &conn);

	if (r < 0)
		return r;
	r = fn(x->peer->rpc->desk, id, conn, &x->err);
	if (r == 0)
		x->result = cJSON_CreateObject();
	return rpc_desk_result(x, r);
}

int m_contact_list(struct ctx *x)
{
	x->result = desk_contacts_json(x->peer->rpc->desk);
	return 0;
}

int m_contact_get(struct ctx *x)
{
	const char *id;
	int r = rpc_get_str(x, "contactId", true, 64, &id);

	if (r < 0)
		return r;
	x->result = desk_contact_json(x->peer->rpc->desk, id);
	if (!x->result)
		return desk_fail(&x->err, CCPD_ERR_NOT_FOUND,
				 "no contact '%s'", id);
	return 0;
}

int m_contact_history(struct ctx *x)
{
	unsigned long long limit = 50;
	bool present;
	int r = rpc_get_uint(x, "limit", 1, 1000, &present, &limit);

	if (r < 0)
		return r;
	x->result = desk_history_json(x->peer->rpc->desk, (unsigned)limit);
	return 0;
}

int m_accept(struct ctx *x)
{
	return with_contact(x, desk_accept);
}

int m_reject(struct ctx *x)
{
	return with_contact(x, desk_reject);
}

int m_clear(struct ctx *x)
{
	return with_contact(x, desk_clear);
}

int m_destroy(struct ctx *x)
{
	return with_connection(x, desk_hangup);
}

int m_hold(struct ctx *x)
{
	return with_connection(x, desk_hold);
}

int m_resume(struct ctx *x)
{
	return with_connection(x, desk_resume);
}

int m_swap(struct ctx *x)
{
	return with_contact(x, desk_swap);
}

int m_conference(struct ctx *x)
{
	return with_contact(x, desk_conference);
}

int m_send_digits(struct ctx *x)
{
	const char *id, *conn, *digits;
	int r = get_contact_conn(x, &id, &conn);

	if (r == 0)
		r = rpc_get_str(x, "digits", true, CCPD_MAX_DIGITS, &digits);
	if (r < 0)
		return r;
	if (strspn(digits, "0123456789*#ABCD") != strlen(digits))
		return rpc_bad_params(x, "\"digits\" may hold only 0-9, *, # "
				      "and A-D");
	r = desk_send_digits(x->peer->rpc->desk, id, conn, digits, &x->err);
	if (r == 0)
		x->result = cJSON_CreateObject();
	return rpc_desk_result(x, r);
}

int m_add_connection(struct ctx *x)
{
	const char *id, *endpoint;
	char conn[48];
	int r = rpc_get_str(x, "contactId", true, 64, &id);

	if (r == 0)
		r = rpc_get_str(x, "endpoint", true, CCPD_MAX_ENDPOINT,
				&endpoint);
	if (r < 0)
		return r;
	r = desk_add_connection(x->peer->rpc->desk, id, endpoint, conn,
				sizeof(conn), &x->err);
	if (r == 0) {
		x->result = cJSON_CreateObject();
		cJSON_AddStringToObject(x->result, "connectionId", conn);
	}
	return rpc_desk_result(x, r);
}

int m_transfer(struct ctx *x)
{
	const char *id, *endpoint, *method;
	int r = rpc_get_str(x, "contactId", true, 64, &id);

	if (r == 0)
		r = rpc_get_str(x, "endpoint", true, CCPD_MAX_ENDPOINT,
				&endpoint);
	if (r == 0)
		r = rpc_get_str(x, "method", false, 16, &method);
	if (r < 0)
		return r;
	r = desk_transfer(x->peer->rpc->desk, id, endpoint, method, &x->err);
	if (r == 0)
		x->result = cJSON_CreateObject();
	return rpc_desk_result(x, r);
}

