/* Contacts and their timestamps. A contact lives in the live list from its
 * offer (or dial) until it is cleared, then in a bounded history so that
 * clients can still read how it ended. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "contact.h"
#include "jsonrpc.h"

enum mark { M_INITIATED, M_OFFERED, M_ACCEPTED, M_CONNECTED, M_ENDED,
	    M_ACW_ENDED, M_COUNT };

static const char *const mark_names[M_COUNT] = {
	"initiated", "offered", "accepted", "connected", "ended", "acwEnded",
};

struct contact {
	struct contact *prev, *next;
	char id[24];
	enum contact_dir dir;
	enum contact_state state;
	char *call_id;
	char *uri;
	char *name;
	char e164[20];
	char *international;
	char caller_id[20];
	uint64_t marks[M_COUNT];
	enum contact_end end;
	enum contact_by by;
	char *sip_cause;
	void *user;
};

struct contacts {
	struct contact *head, *tail;
	unsigned count;
	unsigned long next_id;
	struct contact **hist;   /* ring, newest at hist_pos - 1 */
	unsigned hist_cap, hist_len, hist_pos;
};

static void contact_destroy(struct contact *c)
{
	if (!c)
		return;
	free(c->call_id);
	free(c->uri);
	free(c->name);
	free(c->international);
	free(c->sip_cause);
	free(c);
}

int contacts_new(struct contacts **ret, unsigned history_size)
{
	struct contacts *cs = calloc(1, sizeof(*cs));

	if (!cs)
		return -ENOMEM;
	cs->hist = calloc(history_size, sizeof(*cs->hist));
	if (!cs->hist) {
		free(cs);
		return -ENOMEM;
	}
	cs->hist_cap = history_size;
	*ret = cs;
	return 0;
}

struct contacts *contacts_free(struct contacts *cs)
{
	unsigned i;

	if (!cs)
		return NULL;
	while (cs->head) {
		struct contact *c = cs->head;

		cs->head = c->next;
		contact_destroy(c);
	}
	for (i = 0; i < cs->hist_cap; i++)
		contact_destroy(cs->hist[i]);
	free(cs->hist);
	free(cs);
	return NULL;
}

static char *dup_or_null(const char *s)
{
	return s ? strdup(s) : NULL;
}

int contact_set_number(struct contact *c, const char *e164,
		       const char *international)
{
	char *intl = strdup(international);

	if (!intl)
		return -ENOMEM;
	snprintf(c->e164, sizeof(c->e164), "%s", e164);
	free(c->international);
	c->international = intl;
	return 0;
}

int contact_set_caller_id(struct contact *c, const char *e164)
{
	c->caller_id[0] = '\0';
	if (e164)
		snprintf(c->caller_id, sizeof(c->caller_id), "%s", e164);
	return 0;
}

int contact_new(struct contacts *cs, struct contact **ret,
		enum contact_dir dir, const char *call_id, const char *uri,
		const char *display_name, uint64_t now_ms)
{
	struct contact *c = calloc(1, sizeof(*c));

	if (!c)
		return -ENOMEM;
	snprintf(c->id, sizeof(c->id), "c-%lu", ++cs->next_id);
	c->dir = dir;
	c->state = dir == CONTACT_INBOUND ? CONTACT_INCOMING
					  : CONTACT_CONNECTING;
	c->call_id = dup_or_null(call_id);
	c->uri = dup_or_null(uri);
	c->name = dup_or_null(display_name && *display_name ? display_name
							    : NULL);
	if ((call_id && !c->call_id) || (uri && !c->uri)) {
		contact_destroy(c);
		return -ENOMEM;
	}
	c->marks[M_INITIATED] = now_ms;
	if (dir == CONTACT_INBOUND)
		c->marks[M_OFFERED] = now_ms;
	c->prev = cs->tail;
	if (cs->tail)
		cs->tail->next = c;
	else
		cs->head = c;
	cs->tail = c;
	cs->count++;
	*ret = c;
	return 0;
}

struct contact *contacts_find(const struct contacts *cs, const char *id)
{
	struct contact *c;
	unsigned i;

	for (c = cs->head; c; c = c->next)
		if (strcmp(c->id, id) == 0)
			return c;
	for (i = 0; i < cs->hist_cap; i++)
		if (cs->hist[i] && strcmp(cs->hist[i]->id, id) == 0)
			return cs->hist[i];
	return NULL;
}

struct contact *contacts_find_call(const struct contacts *cs,
				   const char *call_id)
{
	struct contact *c;

	if (!call_id)
		return NULL;
	for (c = cs->head; c; c = c->next)
		if (c->call_id && strcmp(c->call_id, call_id) == 0)
			return c;
	return NULL;
}

bool contacts_retired_call(const struct contacts *cs, const char *call_id)
{
	unsigned i;

	for (i = 0; call_id && i < cs->hist_cap; i++)
		if (cs->hist[i] && cs->hist[i]->call_id &&
		    strcmp(cs->hist[i]->call_id, call_id) == 0)
			return true;
	return false;
}

struct contact *contacts_find_unbound_outbound(const struct contacts *cs)
{
	struct contact *c;

	for (c = cs->head; c; c = c->next)
		if (c->dir == CONTACT_OUTBOUND && !c->call_id &&
		    c->state == CONTACT_CONNECTING)
			return c;
	return NULL;
}

struct contact *contacts_first(const struct contacts *cs)
{
	return cs->head;
}

struct contact *contacts_next(const struct contact *c)
{
	return c->next;
}

unsigned contacts_count(const struct contacts *cs)
{
	return cs->count;
}

void contacts_retire(struct contacts *cs, struct contact *c, uint64_t now_ms)
{
	if (c->prev)
		c->prev->next = c->next;
	else
		cs->head = c->next;
	if (c->next)
		c->next->prev = c->prev;
	else
		cs->tail = c->prev;
	c->prev = c->next = NULL;
	cs->count--;
	if (c->state == CONTACT_ENDED) {
		c->marks[M_ACW_ENDED] = now_ms;
		c->state = CONTACT_DESTROYED;
	} else if (c->state == CONTACT_INCOMING ||
		   c->state == CONTACT_CONNECTING ||
		   c->state == CONTACT_CONNECTED) {
		c->state = CONTACT_DESTROYED;
	}
	c->user = NULL;
	contact_destroy(cs->hist[cs->hist_pos]);
	cs->hist[cs->hist_pos] = c;
	cs->hist_pos = (cs->hist_pos + 1) % cs->hist_cap;
	if (cs->hist_len < cs->hist_cap)
		cs->hist_len++;
}

const char *contact_id(const struct contact *c)
{
	return c->id;
}

const char *contact_call_id(const struct contact *c)
{
	return c->call_id;
}

int contact_bind_call(struct contact *c, const char *call_id)
{
	char *s = strdup(call_id);

	if (!s)
		return -ENOMEM;
	free(c->call_id);
	c->call_id = s;
	return 0;
}

enum contact_dir contact_dir(const struct contact *c)
{
	return c->dir;
}

enum contact_state contact_state(const struct contact *c)
{
	return c->state;
}

bool contact_is_live(const struct contact *c)
{
	return c->state == CONTACT_INCOMING ||
	       c->state == CONTACT_CONNECTING ||
	       c->state == CONTACT_CONNECTED;
}

void contact_set_state(struct contact *c, enum contact_state st)
{
	c->state = st;
}

void contact_set_end(struct contact *c, enum contact_end why,
		     enum contact_by by, const char *sip_cause,
		     uint64_t now_ms)
{
	c->end = why;
	c->by = by;
	free(c->sip_cause);
	c->sip_cause = sip_cause && *sip_cause ? strdup(sip_cause) : NULL;
	c->marks[M_ENDED] = now_ms;
}

enum contact_end contact_end_reason(const struct contact *c)
{
	return c->end;
}

void contact_mark(struct contact *c, const char *which, uint64_t now_ms)
{
	int i;

	for (i = 0; i < M_COUNT; i++)
		if (strcmp(mark_names[i], which) == 0)
			c->marks[i] = now_ms;
}

void *contact_user(const struct contact *c)
{
	return c->user;
}

void contact_set_user(struct contact *c, void *user)
{
	c->user = user;
}

const char *contact_state_name(enum contact_state st)
{
	switch (st) {
	case CONTACT_INCOMING:   return "incoming";
	case CONTACT_CONNECTING: return "connecting";
	case CONTACT_CONNECTED:  return "connected";
	case CONTACT_ENDED:      return "ended";
	case CONTACT_MISSED:     return "missed";
	case CONTACT_REJECTED:   return "rejected";
	case CONTACT_REFUSED:    return "refused";
	case CONTACT_ERROR:      return "error";
	case CONTACT_DESTROYED:  return "destroyed";
	}
	return "error";
}

const char *contact_end_name(enum contact_end e)
{
	switch (e) {
	case CONTACT_END_NONE:            return NULL;
	case CONTACT_END_CUSTOMER_HANGUP: return "customer_hangup";
	case CONTACT_END_AGENT_HANGUP:    return "agent_hangup";
	case CONTACT_END_ABANDONED:       return "abandoned";
	case CONTACT_END_MISSED:          return "missed";
	case CONTACT_END_REJECTED:        return "rejected";
	case CONTACT_END_REFUSED:         return "refused";
	case CONTACT_END_FAILED:          return "failed";
	case CONTACT_END_MEDIA_FAILURE:   return "media_failure";
	}
	return NULL;
}

static const char *by_name(enum contact_by b)
{
	switch (b) {
	case CONTACT_BY_NONE:     return NULL;
	case CONTACT_BY_CUSTOMER: return "customer";
	case CONTACT_BY_AGENT:    return "agent";
	case CONTACT_BY_SYSTEM:   return "system";
	}
	return NULL;
}

static void add_str_or_null(cJSON *o, const char *k, const char *v)
{
	if (v)
		cJSON_AddStringToObject(o, k, v);
	else
		cJSON_AddNullToObject(o, k);
}

static const char *connection_state(const struct contact *c)
{
	switch (c->state) {
	case CONTACT_INCOMING:
	case CONTACT_CONNECTING:
		return "connecting";
	case CONTACT_CONNECTED:
		return "connected";
	case CONTACT_ENDED:
	case CONTACT_MISSED:
	case CONTACT_REJECTED:
	case CONTACT_REFUSED:
	case CONTACT_ERROR:
	case CONTACT_DESTROYED:
		return "disconnected";
	}
	return "disconnected";
}

cJSON *contact_to_json(const struct contact *c)
{
	cJSON *o = cJSON_CreateObject(), *cust, *conns, *conn, *ts;
	char conn_id[32];
	int i;

	if (!o)
		return NULL;
	cJSON_AddStringToObject(o, "contactId", c->id);
	cJSON_AddStringToObject(o, "type", "voice");
	cJSON_AddStringToObject(o, "direction",
				c->dir == CONTACT_INBOUND ? "inbound"
							  : "outbound");
	cJSON_AddStringToObject(o, "state", contact_state_name(c->state));
	cust = cJSON_AddObjectToObject(o, "customer");
	add_str_or_null(cust, "uri", c->uri);
	add_str_or_null(cust, "e164", c->e164[0] ? c->e164 : NULL);
	add_str_or_null(cust, "international", c->international);
	add_str_or_null(cust, "displayName", c->name);
	conns = cJSON_AddArrayToObject(o, "connections");
	conn = cJSON_CreateObject();
	snprintf(conn_id, sizeof(conn_id), "%s-1", c->id);
	cJSON_AddStringToObject(conn, "connectionId", conn_id);
	cJSON_AddStringToObject(conn, "type", c->dir == CONTACT_INBOUND ?
				"inbound" : "outbound");
	cJSON_AddStringToObject(conn, "state", connection_state(c));
	add_str_or_null(conn, "callId", c->call_id);
	cJSON_AddItemToArray(conns, conn);
	ts = cJSON_AddObjectToObject(o, "timestamps");
	for (i = 0; i < M_COUNT; i++) {
		if (c->marks[i])
			jsonrpc_add_int(ts, mark_names[i],
					(long long)c->marks[i]);
		else
			cJSON_AddNullToObject(ts, mark_names[i]);
	}
	add_str_or_null(o, "endReason", contact_end_name(c->end));
	add_str_or_null(o, "disconnectedBy", by_name(c->by));
	add_str_or_null(o, "sipCause", c->sip_cause);
	add_str_or_null(o, "callerId", c->caller_id[0] ? c->caller_id : NULL);
	return o;
}

cJSON *contacts_list_json(const struct contacts *cs)
{
	cJSON *a = cJSON_CreateArray();
	const struct contact *c;

	for (c = cs->head; c && a; c = c->next)
		cJSON_AddItemToArray(a, contact_to_json(c));
	return a;
}

cJSON *contacts_history_json(const struct contacts *cs, unsigned limit)
{
	cJSON *a = cJSON_CreateArray();
	const struct contact *c;
	unsigned n = 0, i;

	if (!a)
		return NULL;
	/* live ones first: they are the newest */
	for (c = cs->tail; c && n < limit; c = c->prev, n++)
		cJSON_AddItemToArray(a, contact_to_json(c));
	for (i = 0; i < cs->hist_len && n < limit; i++, n++) {
		unsigned pos = (cs->hist_pos + cs->hist_cap - 1 - i) %
			       cs->hist_cap;

		cJSON_AddItemToArray(a, contact_to_json(cs->hist[pos]));
	}
	return a;
}
