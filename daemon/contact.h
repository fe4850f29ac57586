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
};

enum contact_by { CONTACT_BY_NONE, CONTACT_BY_CUSTOMER, CONTACT_BY_AGENT,
		  CONTACT_BY_SYSTEM };

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

#endif
