/* Contacts and their timestamps. A contact lives in the live list from its
 * offer (or dial) until it is cleared, then in a bounded history so that
 * clients can still read how it ended. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "contact.h"
#include "json.h"
#include "outbox.h"

enum mark { M_INITIATED, M_OFFERED, M_ACCEPTED, M_CONNECTED, M_ENDED,
	    M_ACW_ENDED, M_COUNT };

static const char *const mark_names[M_COUNT] = {
	"initiated", "offered", "accepted", "connected", "ended", "acwEnded",
};

struct conn {
	struct contact *c;
	unsigned idx;
	char id[CONTACT_ID_MAX + 4];    /* <contact id>-<index> */
	enum conn_type type;
	enum conn_party party;
	enum conn_state state;
	char *call_id;          /* third parties only */
	char *uri;
	char *reason;
	enum contact_by by;
	bool muted;
	unsigned holds;
	uint64_t hold_since, hold_ms;
};

struct contact {
	struct contact *prev, *next;
	struct conn conns[CONTACT_MAX_CONNS];
	unsigned n_conns;
	char id[CONTACT_ID_MAX];
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
	cJSON *attrs;           /* the screen pop's {name: value} */
	void *user;
};

struct contacts {
	struct contact *head, *tail;
	unsigned count;
	struct contact **hist;   /* ring, newest at hist_pos - 1 */
	unsigned hist_cap, hist_len, hist_pos;
};

static void contact_destroy(struct contact *c)
{
	unsigned i;

	if (!c)
		return;
	for (i = 0; i < c->n_conns; i++) {
		free(c->conns[i].call_id);
		free(c->conns[i].uri);
		free(c->conns[i].reason);
	}
	free(c->call_id);
	free(c->uri);
	free(c->name);
	free(c->international);
	free(c->sip_cause);
	cJSON_Delete(c->attrs);
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

const char *contact_uri(const struct contact *c)
{
	return c->uri;
}

const char *contact_caller_id(const struct contact *c)
{
	return c->caller_id[0] ? c->caller_id : NULL;
}

void contact_set_attributes(struct contact *c, cJSON *attrs)
{
	cJSON_Delete(c->attrs);
	c->attrs = attrs;
}

const cJSON *contact_attributes(const struct contact *c)
{
	return c->attrs;
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
	/* unique across the instance, not only this run: records of
	 * every desk meet in one database */
	outbox_uuid(c->id);
	snprintf(c->conns[0].id, sizeof(c->conns[0].id), "%s-0", c->id);
	snprintf(c->conns[1].id, sizeof(c->conns[1].id), "%s-1", c->id);
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
	for (c->n_conns = 0; c->n_conns < 2; c->n_conns++) {
		struct conn *k = &c->conns[c->n_conns];

		k->c = c;
		k->idx = c->n_conns;
		k->state = CONN_CONNECTING;
	}
	c->conns[0].type = CONN_AGENT;
	c->conns[0].party = PARTY_AGENT;
	c->conns[1].type = dir == CONTACT_INBOUND ? CONN_INBOUND
						  : CONN_OUTBOUND;
	c->conns[1].party = PARTY_CUSTOMER;
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
	for (unsigned i = 0; i < c->n_conns; i++)
		if (conn_is_live(&c->conns[i]))
			conn_set_state(&c->conns[i], CONN_DISCONNECTED,
				       now_ms);
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
	case CONTACT_END_TRANSFERRED:     return "transferred";
	case CONTACT_END_TRANSFER_FAILED: return "transfer_failed";
	}
	return NULL;
}

const char *contact_by_name(enum contact_by b)
{
	switch (b) {
	case CONTACT_BY_NONE:        return NULL;
	case CONTACT_BY_CUSTOMER:    return "customer";
	case CONTACT_BY_AGENT:       return "agent";
	case CONTACT_BY_SYSTEM:      return "system";
	case CONTACT_BY_THIRD_PARTY: return "thirdParty";
	}
	return NULL;
}

cJSON *contact_to_json(const struct contact *c)
{
	cJSON *o = cJSON_CreateObject(), *cust, *conns, *ts;
	unsigned k;
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
	json_add_str_or_null(cust, "uri", c->uri);
	json_add_str_or_null(cust, "e164", c->e164[0] ? c->e164 : NULL);
	json_add_str_or_null(cust, "international", c->international);
	json_add_str_or_null(cust, "displayName", c->name);
	conns = cJSON_AddArrayToObject(o, "connections");
	for (k = 0; k < c->n_conns; k++)
		cJSON_AddItemToArray(conns, conn_to_json(&c->conns[k]));
	json_add_int(o, "holdCount", c->conns[CONN_CUSTOMER_IDX].holds);
	json_add_int(o, "holdDuration",
			(long long)contact_hold_ms(c, 0));
	ts = cJSON_AddObjectToObject(o, "timestamps");
	for (i = 0; i < M_COUNT; i++) {
		if (c->marks[i])
			json_add_int(ts, mark_names[i],
					(long long)c->marks[i]);
		else
			cJSON_AddNullToObject(ts, mark_names[i]);
	}
	json_add_str_or_null(o, "endReason", contact_end_name(c->end));
	json_add_str_or_null(o, "disconnectedBy", contact_by_name(c->by));
	json_add_str_or_null(o, "sipCause", c->sip_cause);
	json_add_str_or_null(o, "callerId", c->caller_id[0] ? c->caller_id : NULL);
	cJSON_AddItemToObject(o, "attributes", c->attrs ?
			      cJSON_Duplicate(c->attrs, true) :
			      cJSON_CreateObject());
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

/* ---- connections ---- */

unsigned contact_conn_count(const struct contact *c)
{
	return c->n_conns;
}

struct conn *contact_conn(const struct contact *c, unsigned i)
{
	return i < c->n_conns ? (struct conn *)&c->conns[i] : NULL;
}

struct conn *contact_conn_find(const struct contact *c, const char *id)
{
	unsigned i;

	for (i = 0; i < c->n_conns; i++)
		if (strcmp(c->conns[i].id, id) == 0)
			return (struct conn *)&c->conns[i];
	return NULL;
}

struct conn *contacts_find_conn_call(const struct contacts *cs,
				     const char *call_id,
				     struct contact **ret)
{
	struct contact *c;
	unsigned i;

	if (!call_id)
		return NULL;
	for (c = cs->head; c; c = c->next) {
		if (c->call_id && strcmp(c->call_id, call_id) == 0) {
			*ret = c;
			return &c->conns[CONN_CUSTOMER_IDX];
		}
		for (i = 2; i < c->n_conns; i++)
			if (c->conns[i].call_id &&
			    strcmp(c->conns[i].call_id, call_id) == 0) {
				*ret = c;
				return &c->conns[i];
			}
	}
	return NULL;
}

struct conn *contacts_find_unbound_third(const struct contacts *cs,
					 struct contact **ret)
{
	struct contact *c;
	unsigned i;

	for (c = cs->head; c; c = c->next)
		for (i = 2; i < c->n_conns; i++)
			if (!c->conns[i].call_id &&
			    c->conns[i].state == CONN_CONNECTING) {
				*ret = c;
				return &c->conns[i];
			}
	return NULL;
}

int contact_add_third(struct contact *c, const char *uri, struct conn **ret)
{
	struct conn *k;

	if (c->n_conns == CONTACT_MAX_CONNS)
		return -E2BIG;
	k = &c->conns[c->n_conns];
	memset(k, 0, sizeof(*k));
	k->uri = uri ? strdup(uri) : NULL;
	if (uri && !k->uri)
		return -ENOMEM;
	k->c = c;
	k->idx = c->n_conns;
	snprintf(k->id, sizeof(k->id), "%s-%u", c->id, c->n_conns);
	k->type = CONN_OUTBOUND;
	k->party = PARTY_THIRD_PARTY;
	k->state = CONN_CONNECTING;
	c->n_conns++;
	*ret = k;
	return 0;
}

unsigned contact_live_parties(const struct contact *c)
{
	unsigned i, n = 0;

	for (i = 1; i < c->n_conns; i++)
		if (conn_is_live(&c->conns[i]))
			n++;
	return n;
}

uint64_t contact_hold_ms(const struct contact *c, uint64_t now_ms)
{
	const struct conn *k = &c->conns[CONN_CUSTOMER_IDX];
	uint64_t ms = k->hold_ms;

	if (k->state == CONN_HOLD && now_ms > k->hold_since)
		ms += now_ms - k->hold_since;
	return ms;
}

const char *conn_id(const struct conn *k)
{
	return k->id;
}

unsigned conn_index(const struct conn *k)
{
	return k->idx;
}

enum conn_type conn_type(const struct conn *k)
{
	return k->type;
}

enum conn_party conn_party(const struct conn *k)
{
	return k->party;
}

enum conn_state conn_state(const struct conn *k)
{
	return k->state;
}

const char *conn_call_id(const struct conn *k)
{
	switch (k->party) {
	case PARTY_AGENT:       return NULL;
	case PARTY_CUSTOMER:    return k->c->call_id;
	case PARTY_THIRD_PARTY: return k->call_id;
	}
	return NULL;
}

int conn_bind_call(struct conn *k, const char *call_id)
{
	char *s;

	if (k->party == PARTY_CUSTOMER)
		return contact_bind_call(k->c, call_id);
	s = strdup(call_id);
	if (!s)
		return -ENOMEM;
	free(k->call_id);
	k->call_id = s;
	return 0;
}

const char *conn_endpoint(const struct conn *k)
{
	switch (k->party) {
	case PARTY_AGENT:       return NULL;
	case PARTY_CUSTOMER:    return k->c->uri;
	case PARTY_THIRD_PARTY: return k->uri;
	}
	return NULL;
}

bool conn_is_live(const struct conn *k)
{
	return k->state != CONN_DISCONNECTED;
}

enum conn_state conn_set_state(struct conn *k, enum conn_state st,
			       uint64_t now_ms)
{
	enum conn_state old = k->state;

	if (old == st)
		return old;
	if (st == CONN_HOLD) {
		k->holds++;
		k->hold_since = now_ms;
	} else if (old == CONN_HOLD && now_ms > k->hold_since) {
		k->hold_ms += now_ms - k->hold_since;
	}
	k->state = st;
	return old;
}

void conn_set_end(struct conn *k, const char *reason, enum contact_by by)
{
	free(k->reason);
	k->reason = reason && *reason ? strdup(reason) : NULL;
	k->by = by;
}

const char *conn_reason(const struct conn *k)
{
	return k->reason;
}

enum contact_by conn_ended_by(const struct conn *k)
{
	return k->by;
}

bool conn_muted(const struct conn *k)
{
	return k->muted;
}

void conn_set_muted(struct conn *k, bool muted)
{
	k->muted = muted;
}

struct contact *conn_contact(const struct conn *k)
{
	return k->c;
}

const char *conn_state_name(enum conn_state st)
{
	switch (st) {
	case CONN_CONNECTING:   return "connecting";
	case CONN_CONNECTED:    return "connected";
	case CONN_HOLD:         return "hold";
	case CONN_DISCONNECTED: return "disconnected";
	}
	return "disconnected";
}

const char *conn_party_name(enum conn_party p)
{
	switch (p) {
	case PARTY_AGENT:       return "agent";
	case PARTY_CUSTOMER:    return "customer";
	case PARTY_THIRD_PARTY: return "thirdParty";
	}
	return "agent";
}

static const char *conn_type_name(enum conn_type t)
{
	switch (t) {
	case CONN_AGENT:    return "agent";
	case CONN_INBOUND:  return "inbound";
	case CONN_OUTBOUND: return "outbound";
	}
	return "agent";
}

cJSON *conn_to_json(const struct conn *k)
{
	cJSON *o = cJSON_CreateObject();

	if (!o)
		return NULL;
	cJSON_AddStringToObject(o, "connectionId", k->id);
	cJSON_AddStringToObject(o, "type", conn_type_name(k->type));
	cJSON_AddStringToObject(o, "party", conn_party_name(k->party));
	cJSON_AddStringToObject(o, "state", conn_state_name(k->state));
	json_add_str_or_null(o, "endpoint", conn_endpoint(k));
	json_add_str_or_null(o, "callId", conn_call_id(k));
	json_add_int(o, "holdDuration", (long long)k->hold_ms);
	json_add_str_or_null(o, "reason", k->reason);
	json_add_str_or_null(o, "disconnectedBy", contact_by_name(k->by));
	return o;
}
