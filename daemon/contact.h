/* Contacts: the calls an agent is offered or makes, with their timestamps,
 * kept live until cleared and then in a bounded history. */
#ifndef CCPD_CONTACT_H
#define CCPD_CONTACT_H

#include <stdbool.h>
#include <stdint.h>
#include <cjson/cJSON.h>

enum contact_dir { CONTACT_INBOUND, CONTACT_OUTBOUND };

enum contact_state {
	CONTACT_INCOMING,
	CONTACT_CONNECTING,
	CONTACT_CONNECTED,
	CONTACT_ENDED,          /* after-contact work */
	CONTACT_MISSED,
	CONTACT_REJECTED,
	CONTACT_REFUSED,
	CONTACT_ERROR,
	CONTACT_DESTROYED,
};

enum contact_end {
	CONTACT_END_NONE,
	CONTACT_END_CUSTOMER_HANGUP,
	CONTACT_END_AGENT_HANGUP,
	CONTACT_END_ABANDONED,
	CONTACT_END_MISSED,
	CONTACT_END_REJECTED,
	CONTACT_END_REFUSED,
	CONTACT_END_FAILED,
	CONTACT_END_MEDIA_FAILURE,
	CONTACT_END_TRANSFERRED,
	CONTACT_END_TRANSFER_FAILED,
};

enum contact_by { CONTACT_BY_NONE, CONTACT_BY_CUSTOMER, CONTACT_BY_AGENT,
		  CONTACT_BY_SYSTEM, CONTACT_BY_THIRD_PARTY };

/* A contact's connections (legs), as in Streams: the agent's own, the
 * customer's, and third parties added for consult or transfer. */
enum conn_type { CONN_AGENT, CONN_INBOUND, CONN_OUTBOUND };
enum conn_state { CONN_CONNECTING, CONN_CONNECTED, CONN_HOLD,
		  CONN_DISCONNECTED };
enum conn_party { PARTY_AGENT, PARTY_CUSTOMER, PARTY_THIRD_PARTY };

/* The agent, the customer and two third parties. */
#define CONTACT_MAX_CONNS 4
#define CONN_AGENT_IDX 0
#define CONN_CUSTOMER_IDX 1

/* Room for a contact's id and its NUL: a UUID (version 4, lower case)
 * since ids must be unique across the instance; records written before
 * that keep their c-N ids. */
#define CONTACT_ID_MAX 37

struct conn;

struct contact;
struct contacts;

int contacts_new(struct contacts **ret, unsigned history_size);
struct contacts *contacts_free(struct contacts *cs);

/* A new live contact; uri and name may be NULL. */
int contact_new(struct contacts *cs, struct contact **ret,
		enum contact_dir dir, const char *call_id, const char *uri,
		const char *display_name, uint64_t now_ms);

struct contact *contacts_find(const struct contacts *cs, const char *id);
struct contact *contacts_find_call(const struct contacts *cs,
				   const char *call_id);
/* Whether a retired contact (in the history) had this Call-ID: baresip's
 * events for a call can arrive after ccpd has finished with it. */
bool contacts_retired_call(const struct contacts *cs, const char *call_id);
/* The outbound contact still waiting to learn its Call-ID. */
struct contact *contacts_find_unbound_outbound(const struct contacts *cs);
/* Live contacts, in order of creation; NULL ends. */
struct contact *contacts_first(const struct contacts *cs);
struct contact *contacts_next(const struct contact *c);
unsigned contacts_count(const struct contacts *cs);

/* Move a contact out of the live list into the history (state destroyed
 * unless it is already final: missed, rejected, refused, error). */
void contacts_retire(struct contacts *cs, struct contact *c, uint64_t now_ms);

const char *contact_id(const struct contact *c);
const char *contact_call_id(const struct contact *c);
int contact_bind_call(struct contact *c, const char *call_id);
enum contact_dir contact_dir(const struct contact *c);
enum contact_state contact_state(const struct contact *c);
bool contact_is_live(const struct contact *c);
void contact_set_state(struct contact *c, enum contact_state st);
void contact_set_end(struct contact *c, enum contact_end why,
		     enum contact_by by, const char *sip_cause,
		     uint64_t now_ms);
enum contact_end contact_end_reason(const struct contact *c);
void contact_mark(struct contact *c, const char *which, uint64_t now_ms);

/* Timers and flags the owner keeps per contact. */
void *contact_user(const struct contact *c);
void contact_set_user(struct contact *c, void *user);

/* Connections: index 0 is the agent's, 1 the customer's; third parties
 * follow in the order they were added. */
unsigned contact_conn_count(const struct contact *c);
struct conn *contact_conn(const struct contact *c, unsigned i);
struct conn *contact_conn_find(const struct contact *c, const char *id);
/* The connection carried by this SIP call (the customer's or a third
 * party's), in any live contact. */
struct conn *contacts_find_conn_call(const struct contacts *cs,
				     const char *call_id,
				     struct contact **ret);
/* The third-party connection still waiting to learn its Call-ID. */
struct conn *contacts_find_unbound_third(const struct contacts *cs,
					 struct contact **ret);
int contact_add_third(struct contact *c, const char *uri,
		      struct conn **ret);
/* Live connections other than the agent's (connecting, connected, hold). */
unsigned contact_live_parties(const struct contact *c);
/* Total time the customer spent on hold, and how often, so far. */
uint64_t contact_hold_ms(const struct contact *c, uint64_t now_ms);

const char *conn_id(const struct conn *k);
unsigned conn_index(const struct conn *k);
enum conn_type conn_type(const struct conn *k);
enum conn_party conn_party(const struct conn *k);
enum conn_state conn_state(const struct conn *k);
/* The call: the contact's own for the customer, NULL for the agent. */
const char *conn_call_id(const struct conn *k);
int conn_bind_call(struct conn *k, const char *call_id);
const char *conn_endpoint(const struct conn *k);
bool conn_is_live(const struct conn *k);
/* Returns the state it had. Hold time is counted here. */
enum conn_state conn_set_state(struct conn *k, enum conn_state st,
			       uint64_t now_ms);
void conn_set_end(struct conn *k, const char *reason, enum contact_by by);
const char *conn_reason(const struct conn *k);
enum contact_by conn_ended_by(const struct conn *k);
/* What baresip's mute is for this call (its mute command toggles). */
bool conn_muted(const struct conn *k);
void conn_set_muted(struct conn *k, bool muted);
struct contact *conn_contact(const struct conn *k);

cJSON *conn_to_json(const struct conn *k);
const char *conn_state_name(enum conn_state st);
const char *conn_party_name(enum conn_party p);
const char *contact_by_name(enum contact_by b);

cJSON *contact_to_json(const struct contact *c);
cJSON *contacts_list_json(const struct contacts *cs);
cJSON *contacts_history_json(const struct contacts *cs, unsigned limit);

const char *contact_state_name(enum contact_state st);
const char *contact_end_name(enum contact_end e);

/* The customer's phone number, in E.164 and international format. */
int contact_set_number(struct contact *c, const char *e164,
		       const char *international);
/* The number an outbound contact presents to the called party; NULL for
 * none (the agent's SIP account). */
int contact_set_caller_id(struct contact *c, const char *e164);
/* The screen pop's attributes ({name: value} of text, see attrs.h);
 * attrs is consumed. */
void contact_set_attributes(struct contact *c, cJSON *attrs);
const cJSON *contact_attributes(const struct contact *c);
const char *contact_caller_id(const struct contact *c);
/* The customer's URI: the caller's, or the one dialed. */
const char *contact_uri(const struct contact *c);

#endif
