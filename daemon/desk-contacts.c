/* The desk's live contacts: offers and how they ring, accept, reject,
 * hang up, clear, dial, and every way a contact ends. Every change goes
 * the same way: feed the state machine, update the contact, tell baresip,
 * then publish. Actions the agent takes change state at once rather than
 * waiting for baresip's echo, so a client's answer already reflects what
 * it did. The other parts hear of contacts through the hub's fan-out;
 * this file names none of them. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <re.h>

#include "attrs.h"
#include "ccpd-protocol.h"
#include "conf.h"
#include "desk-int.h"
#include "events.h"
#include "json.h"
#include "log.h"
#include "phone.h"
#include "store.h"
#include "util.h"

/* What the desk keeps per live contact. */
struct slot {
	struct desk *d;
	char id[DESK_ID_MAX];
	struct tmr ring_tmr;
	struct tmr acw_tmr;
	unsigned active;        /* the connection the agent talks to */
	bool left;              /* the agent left; the parties are joined */
	bool conference;        /* the parties are joined in ccpd's focus */
	bool audio_failed;      /* baresip's audio device failed (ends it) */
	enum desk_xfer xfer;
	char xfer_target[CCPD_MAX_ENDPOINT + 128];
};

/* How a contact ends before after-contact work. */
struct ending {
	enum contact_end why;
	enum contact_by by;
	enum contact_state state;       /* CONTACT_DESTROYED: as it is */
	int input;                      /* the agent's input; -1 for none */
	const char *event;
	const char *conn_reason;        /* NULL: connections stay; "": the
					 * cause */
	bool retire;
};

static const struct ending end_abandoned = {
	.why = CONTACT_END_ABANDONED, .by = CONTACT_BY_CUSTOMER,
	.state = CONTACT_DESTROYED, .input = AGENT_IN_ABANDONED,
	.event = "contact.ended", .retire = true,
};
static const struct ending end_missed = {
	.why = CONTACT_END_MISSED, .by = CONTACT_BY_SYSTEM,
	.state = CONTACT_MISSED, .input = AGENT_IN_RING_TIMEOUT,
	.event = "contact.missed", .retire = true,
};
static const struct ending end_rejected = {
	.why = CONTACT_END_REJECTED, .by = CONTACT_BY_AGENT,
	.state = CONTACT_REJECTED, .input = AGENT_IN_REJECT,
	.event = "contact.rejected", .retire = true,
};
static const struct ending end_refused = {
	.why = CONTACT_END_REFUSED, .by = CONTACT_BY_SYSTEM,
	.state = CONTACT_REFUSED, .input = -1,
	.event = "contact.refused", .retire = true,
};
static const struct ending end_dial_failed = {
	.why = CONTACT_END_FAILED, .by = CONTACT_BY_SYSTEM,
	.state = CONTACT_ERROR, .input = AGENT_IN_DIAL_FAILED,
	.event = "contact.error", .conn_reason = "",
};
/* the dial never left: no connection to end */
static const struct ending end_dial_refused = {
	.why = CONTACT_END_FAILED, .by = CONTACT_BY_SYSTEM,
	.state = CONTACT_ERROR, .input = AGENT_IN_DIAL_FAILED,
	.event = "contact.error",
};
static const struct ending end_agent_failed = {
	.why = CONTACT_END_FAILED, .by = CONTACT_BY_SYSTEM,
	.state = CONTACT_ERROR, .input = AGENT_IN_AGENT_FAILED,
	.event = "contact.error", .conn_reason = "",
};
static const struct ending end_media_failure = {
	.why = CONTACT_END_MEDIA_FAILURE, .by = CONTACT_BY_SYSTEM,
	.state = CONTACT_ERROR, .input = -1,
	.event = "contact.error", .conn_reason = "media_failure",
	.retire = true,
};

static void ring_expired(void *arg);

/* ---- what the desk keeps per contact ---- */

static struct slot *slot_of(const struct contact *c)
{
	return contact_user(c);
}

static int attach_slot(struct desk *d, struct contact *c)
{
	struct slot *s = calloc(1, sizeof(*s));

	if (!s)
		return -ENOMEM;
	s->d = d;
	s->active = CONN_CUSTOMER_IDX;
	snprintf(s->id, sizeof(s->id), "%s", contact_id(c));
	tmr_init(&s->ring_tmr);
	tmr_init(&s->acw_tmr);
	contact_set_user(c, s);
	return 0;
}

static void detach_slot(struct contact *c)
{
	struct slot *s = slot_of(c);

	if (!s)
		return;
	tmr_cancel(&s->ring_tmr);
	tmr_cancel(&s->acw_tmr);
	free(s);
	contact_set_user(c, NULL);
}

bool live_owned(const struct contact *c)
{
	return slot_of(c) != NULL;
}

unsigned live_active(const struct contact *c)
{
	return slot_of(c) ? slot_of(c)->active : CONN_CUSTOMER_IDX;
}

void live_set_active(struct contact *c, unsigned idx)
{
	if (slot_of(c))
		slot_of(c)->active = idx;
}

bool live_left(const struct contact *c)
{
	return slot_of(c) && slot_of(c)->left;
}

void live_set_left(struct contact *c)
{
	if (slot_of(c))
		slot_of(c)->left = true;
}

bool live_conference(const struct contact *c)
{
	return slot_of(c) && slot_of(c)->conference;
}

void live_set_conference(struct contact *c, bool on)
{
	if (slot_of(c))
		slot_of(c)->conference = on;
}

enum desk_xfer live_xfer(const struct contact *c)
{
	return slot_of(c) ? slot_of(c)->xfer : XFER_NONE;
}

const char *live_xfer_target(const struct contact *c)
{
	return slot_of(c) && slot_of(c)->xfer_target[0] ?
	       slot_of(c)->xfer_target : NULL;
}

void live_set_xfer(struct contact *c, enum desk_xfer x, const char *target)
{
	struct slot *s = slot_of(c);

	if (!s)
		return;
	s->xfer = x;
	if (target)
		snprintf(s->xfer_target, sizeof(s->xfer_target), "%s",
			 target);
}

void live_set_audio_failed(struct contact *c)
{
	if (slot_of(c))
		slot_of(c)->audio_failed = true;
}

/* ---- finding contacts, and saying why not ---- */

struct contact *live_find(struct desk *d, const char *id, struct desk_err *e)
{
	struct contact *c = contacts_find(d->contacts, id);
	enum contact_state st;

	if (!c) {
		desk_fail(e, CCPD_ERR_NOT_FOUND, "no contact '%s'", id);
		return NULL;
	}
	st = contact_state(c);
	if (st == CONTACT_DESTROYED || st == CONTACT_MISSED ||
	    st == CONTACT_REJECTED || st == CONTACT_REFUSED ||
	    (st == CONTACT_ERROR && !slot_of(c))) {
		desk_fail(e, CCPD_ERR_INVALID_STATE, "contact %s is over (%s)",
			  id, contact_state_name(st));
		return NULL;
	}
	return c;
}

struct contact *live_find_connected(struct desk *d, const char *id,
				    struct desk_err *e)
{
	struct contact *c = live_find(d, id, e);

	if (c && (contact_state(c) != CONTACT_CONNECTED || !slot_of(c) ||
		  slot_of(c)->left)) {
		live_wrong_state(e, c, "connected");
		return NULL;
	}
	return c;
}

struct contact *live_find_offer(struct desk *d, const char *id,
				struct desk_err *e)
{
	struct contact *c = live_find(d, id, e);

	if (c && contact_state(c) != CONTACT_INCOMING) {
		live_wrong_state(e, c, "incoming");
		return NULL;
	}
	return c;
}

struct conn *live_find_conn(struct contact *c, const char *id,
			    struct desk_err *e)
{
	struct conn *k = contact_conn_find(c, id);

	if (!k)
		desk_fail(e, CCPD_ERR_NOT_FOUND, "contact %s has no connection "
			  "'%s'", contact_id(c), id);
	return k;
}

int live_wrong_state(struct desk_err *e, const struct contact *c,
		     const char *wanted)
{
	return desk_fail(e, CCPD_ERR_INVALID_STATE, "contact %s is %s, not %s",
			 contact_id(c), contact_state_name(contact_state(c)),
			 wanted);
}

int live_media_error(struct desk *d, struct desk_err *e, int r)
{
	if (r == -ENOTCONN)
		return desk_fail(e, CCPD_ERR_MEDIA_UNAVAILABLE,
				 "the media stack is %s",
				 media_state_name(media_get_state(d->media)));
	return desk_fail(e, CCPD_ERR_INTERNAL, "media command failed: %s",
			 strerror(-r));
}

/* ---- telling baresip ---- */

void live_log_refusal(bool ok, const char *data, void *arg)
{
	if (!ok)
		log_warning("media: %s failed: %s", (const char *)arg, data);
}

/* The same for a command on one contact's call: what names it. */
static void log_call_refusal(bool ok, const char *data, void *arg)
{
	live_log_refusal(ok, data, arg);
	free(arg);
}

/* A command on a call; its refusal is logged, naming what it was. */
static int call_command(struct desk *d, const char *call_id,
			const char *cmd, const char *params, const char *on)
{
	char *what;
	int r;

	if (!call_id)
		return -ENOENT;
	if (asprintf(&what, "%s of %s", cmd, on) < 0)
		return -ENOMEM;
	r = media_command(d->media, call_id, cmd, params, log_call_refusal,
			  what);
	/* refused at once: the handler will not run */
	if (r < 0)
		free(what);
	return r;
}

int live_command(struct desk *d, const struct contact *c, const char *cmd)
{
	return call_command(d, contact_call_id(c), cmd, NULL, contact_id(c));
}

int live_conn_command(struct desk *d, const struct conn *k, const char *cmd,
		      const char *params)
{
	return call_command(d, conn_call_id(k), cmd, params, conn_id(k));
}

/* ---- publishing ---- */

void live_publish(struct desk *d, const char *type, struct contact *c)
{
	cJSON *data = cJSON_CreateObject();
	struct desk_note n = { .type = DESK_NOTE_CONTACT, .c = c,
			       .event = type };
	const char *end = contact_end_name(contact_end_reason(c));

	log_fields(LOG_INFO, contact_id(c), agent_state(status_agent(d)),
		   "contact: %s %s (%s%s%s)", contact_id(c), type + 8,
		   contact_state_name(contact_state(c)), end ? ", " : "",
		   end ? end : "");
	if (data) {
		cJSON_AddItemToObject(data, "contact", contact_to_json(c));
		status_publish(d, type, contact_id(c), data);
	}
	desk_notify(d, &n);
}

/* A contact event with more to say than the contact (data holds it, and
 * is consumed): journaled like every other before it goes out. */
void live_publish_data(struct desk *d, const char *type, struct contact *c,
		       cJSON *data)
{
	if (!data)
		return;
	if (!cJSON_GetObjectItemCaseSensitive(data, "contact"))
		cJSON_AddItemToObject(data, "contact", contact_to_json(c));
	status_publish(d, type, contact_id(c), data);
}

static void emit_conn_change(struct desk *d, struct contact *c,
			     struct conn *k, const char *old)
{
	cJSON *data = cJSON_CreateObject();

	if (!data)
		return;
	cJSON_AddStringToObject(data, "contactId", contact_id(c));
	cJSON_AddStringToObject(data, "connectionId", conn_id(k));
	cJSON_AddStringToObject(data, "party", conn_party_name(conn_party(k)));
	if (old)
		cJSON_AddStringToObject(data, "oldState", old);
	else
		cJSON_AddNullToObject(data, "oldState");
	cJSON_AddStringToObject(data, "newState",
				conn_state_name(conn_state(k)));
	cJSON_AddItemToObject(data, "connection", conn_to_json(k));
	cJSON_AddItemToObject(data, "contact", contact_to_json(c));
	events_emit(d->ev, "connection.stateChange", data);
}

/* A connection changed state: tell clients which one, who it is, why and
 * who ended it. */
void live_conn_change(struct desk *d, struct contact *c, struct conn *k,
		      enum conn_state st, const char *reason,
		      enum contact_by by)
{
	enum conn_state old;

	if (st == CONN_DISCONNECTED && conn_is_live(k))
		conn_set_end(k, reason, by);
	old = conn_set_state(k, st, util_now_ms());
	if (old == st)
		return;
	log_fields(LOG_INFO, contact_id(c), agent_state(status_agent(d)),
		   "contact: %s connection %s (%s) %s -> %s%s%s", contact_id(c),
		   conn_id(k), conn_party_name(conn_party(k)),
		   conn_state_name(old), conn_state_name(st),
		   reason ? ": " : "", reason ? reason : "");
	emit_conn_change(d, c, k, conn_state_name(old));
}

void live_conn_new(struct desk *d, struct contact *c, struct conn *k)
{
	emit_conn_change(d, c, k, NULL);
}

/* Every live connection of the contact ends (the agent's included). */
static void disconnect_all(struct desk *d, struct contact *c,
			   const char *reason, enum contact_by by)
{
	unsigned i;

	for (i = 0; i < contact_conn_count(c); i++) {
		struct conn *k = contact_conn(c, i);

		if (conn_is_live(k))
			live_conn_change(d, c, k, CONN_DISCONNECTED, reason,
					 by);
	}
}

void live_transfer_failed(struct desk *d, struct contact *c,
			  const char *reason)
{
	const char *target = live_xfer_target(c);
	cJSON *data = cJSON_CreateObject();

	log_fields(LOG_NOTICE, contact_id(c), agent_state(status_agent(d)),
		   "contact: %s transfer to %s failed: %s", contact_id(c),
		   target ? target : "?", reason ? reason : "?");
	if (!data)
		return;
	json_add_str_or_null(data, "endpoint", target);
	json_add_str_or_null(data, "reason", reason);
	live_publish_data(d, "contact.transferFailed", c, data);
}

/* ---- endings ---- */

static void end_live(struct contact *c, enum contact_end why,
		     enum contact_by by, const char *cause)
{
	struct slot *s = slot_of(c);

	if (s)
		tmr_cancel(&s->ring_tmr);
	contact_set_end(c, why, by, cause, util_now_ms());
}

/* The contact leaves the live list: clients drop it on contact.destroyed.
 * Parties the agent left talking keep talking: a bridge outlives the
 * contact's place in the live list. */
void live_retire(struct desk *d, struct contact *c)
{
	desk_notify_contact(d, DESK_NOTE_RETIRED, c);
	detach_slot(c);
	contacts_retire(d->contacts, c, util_now_ms());
	live_publish(d, "contact.destroyed", c);
}

static void finish(struct desk *d, struct contact *c,
		   const struct ending *how, const char *cause)
{
	end_live(c, how->why, how->by, cause);
	if (how->state != CONTACT_DESTROYED)
		contact_set_state(c, how->state);
	if (how->conn_reason)
		disconnect_all(d, c, *how->conn_reason ? how->conn_reason :
			       cause, how->by);
	if (how->input >= 0)
		status_feed(d, (enum agent_input)how->input, 0, NULL,
			    contact_id(c));
	live_publish(d, how->event, c);
	if (how->retire)
		live_retire(d, c);
}

static void acw_expired(void *arg)
{
	struct slot *s = arg;
	struct desk *d = s->d;
	struct contact *c = contacts_find(d->contacts, s->id);

	if (!c || contact_state(c) != CONTACT_ENDED)
		return;
	log_fields(LOG_INFO, s->id, NULL,
		   "contact: %s after-contact work timed out", s->id);
	live_retire(d, c);
	status_feed(d, AGENT_IN_CLEAR, 0, NULL, NULL);
}

/* A connected (or answered-while-connecting) contact ended: the agent
 * wraps up. */
void live_to_acw(struct desk *d, struct contact *c, enum contact_end why,
		 enum contact_by by)
{
	struct slot *s = slot_of(c);

	desk_notify_contact(d, DESK_NOTE_ENDED, c);
	if (!s || !s->left)
		disconnect_all(d, c, contact_end_name(why), by);
	else
		live_conn_change(d, c, contact_conn(c, CONN_AGENT_IDX),
				 CONN_DISCONNECTED, contact_end_name(why), by);
	end_live(c, why, by, NULL);
	contact_set_state(c, CONTACT_ENDED);
	status_feed(d, AGENT_IN_ENDED, 0, NULL, contact_id(c));
	live_publish(d, "contact.ended", c);
	live_publish(d, "contact.acw", c);
	if (s && d->conf->acw_timeout)
		tmr_start(&s->acw_tmr, d->conf->acw_timeout * 1000ULL,
			  acw_expired, s);
}

static void ring_expired(void *arg)
{
	struct slot *s = arg;
	struct desk *d = s->d;
	struct contact *c = contacts_find(d->contacts, s->id);

	if (!c || contact_state(c) != CONTACT_INCOMING)
		return;
	(void)live_command(d, c, "hangup");
	finish(d, c, &end_missed, NULL);
}

static void start_ringing(struct desk *d, struct contact *c)
{
	struct slot *s = slot_of(c);

	tmr_start(&s->ring_tmr, d->conf->ring_timeout * 1000ULL,
		  ring_expired, s);
}

/* An inbound offer rings on after the desk phone did not answer, with
 * the agent in FailedConnectAgent until they accept again, reject, or it
 * rings out; a dial fails. */
void live_agent_failed(struct desk *d, struct contact *c)
{
	if (!slot_of(c) || contact_state(c) != CONTACT_CONNECTING)
		return;
	if (contact_dir(c) == CONTACT_INBOUND) {
		contact_set_state(c, CONTACT_INCOMING);
		status_feed(d, AGENT_IN_AGENT_FAILED, 0, NULL, contact_id(c));
		start_ringing(d, c);
		live_publish(d, "contact.incoming", c);
		return;
	}
	finish(d, c, &end_agent_failed, "desk phone did not answer");
}

/* Calls cannot survive their media stack: end every live contact as a
 * failure, so that nothing is left looking connected. */
void live_fail_all(struct desk *d, const char *reason)
{
	struct contact *c = contacts_first(d->contacts), *next;

	for (; c; c = next) {
		next = contacts_next(c);
		if (contact_is_live(c))
			finish(d, c, &end_media_failure, reason);
	}
}

void live_retire_failed(struct desk *d)
{
	struct contact *c = contacts_first(d->contacts), *next;

	for (; c; c = next) {
		next = contacts_next(c);
		if (contact_state(c) == CONTACT_ERROR)
			live_retire(d, c);
	}
}

/* ---- baresip's events ---- */

/* The customer's number, in E.164 and international format, when the
 * text (a SIP URI's user part, or a number) is one; national forms are read
 * in the default region. */
static int set_customer_number(struct desk *d, struct contact *c,
			       const char *text)
{
	char e164[PHONE_E164_MAX], intl[64];
	struct phone_number *n = NULL;
	enum phone_error why;
	int r;

	if (!text)
		return 0;
	r = phone_parse(text, user_region(d), &n, &why);
	if (r == -EINVAL)
		return 0;
	if (r < 0)
		return r;
	r = phone_format(n, PHONE_FMT_E164, e164, sizeof(e164));
	if (r == 0)
		r = phone_format(n, PHONE_FMT_INTERNATIONAL, intl,
				 sizeof(intl));
	phone_number_free(n);
	if (r < 0)
		return 0;
	return contact_set_number(c, e164, intl);
}

/* An offer's contact: the caller's URI without the screen pop's
 * parameters, which become its attributes. A refused attribute is logged
 * (the ACD passes on what callers send: rate-limited) and goes no
 * further. */
static int offer_new(struct desk *d, struct contact **ret,
		     const struct media_event *ev, const char *call_id)
{
	static struct log_limit limit;
	struct attrs_result ar;
	char clean[1024], note[64];
	const char *uri = ev->peer_uri;
	int r = attrs_from_uri(uri, clean, sizeof(clean), &ar);

	if (r == -ENOMEM)
		return r;
	if (r == 0 && uri)
		uri = clean;
	r = contact_new(d->contacts, ret, CONTACT_INBOUND, call_id, uri,
			ev->peer_name, util_now_ms());
	if (r < 0) {
		cJSON_Delete(ar.attrs);
		return r;
	}
	/* a URI too long to split keeps its parameters and gives none */
	contact_set_attributes(*ret, ar.attrs ? ar.attrs :
			       cJSON_CreateObject());
	if (ar.dropped && log_limit_pass(&limit, util_now_ms(), note,
					 sizeof(note)))
		log_fields(LOG_WARNING, contact_id(*ret), NULL,
			   "contact: %u attribute(s) of %s dropped, first: "
			   "%s%s", ar.dropped, contact_id(*ret), ar.why, note);
	return set_customer_number(d, *ret, uri);
}

static void on_incoming(struct desk *d, const struct media_event *ev)
{
	static struct log_limit refusals;
	char note[64];
	enum agent_action act = AGENT_ACT_NONE;
	struct contact *c;
	const char *why;

	if (!ev->call_id || contacts_find_call(d->contacts, ev->call_id))
		return;
	if (offer_new(d, &c, ev, ev->call_id) < 0 ||
	    attach_slot(d, c) < 0) {
		log_error("contact: out of memory; refusing call %s",
			  ev->call_id);
		media_command(d->media, ev->call_id, "hangup", NULL, NULL,
			      NULL);
		return;
	}
	why = agent_state(status_agent(d));
	status_feed(d, AGENT_IN_OFFER, 0, &act, contact_id(c));
	if (act == AGENT_ACT_RING) {
		start_ringing(d, c);
		live_publish(d, "contact.incoming", c);
		desk_notify_contact(d, DESK_NOTE_OFFERED, c);
		return;
	}
	/* not routable or already on a contact: a final answer at once, so
	 * the caller's side can route elsewhere instead of ringing out. Any
	 * caller can repeat this at will (a flood of INVITEs): the line is
	 * rate-limited, the journal still records each refusal */
	if (log_limit_pass(&refusals, util_now_ms(), note, sizeof(note)))
		log_fields(LOG_NOTICE, contact_id(c), why,
			   "desk: refusing offer %s from %s: agent is %s%s",
			   contact_id(c), ev->peer_uri ? ev->peer_uri : "?",
			   why, note);
	(void)live_command(d, c, "hangup");
	finish(d, c, &end_refused, NULL);
}

/* Outbound calls learn their Call-ID from the first event baresip sends
 * about them: its dial command does not return one. A call of the consult
 * account is a third party's; any other is the customer's. */
static struct conn *find_for_event(struct desk *d,
				   const struct media_event *ev,
				   struct contact **ret)
{
	struct conn *k = contacts_find_conn_call(d->contacts, ev->call_id,
						 ret);
	struct contact *c;

	if (k || !ev->outgoing || !ev->call_id)
		return k;
	/* a late event about a call already finished (its CALL_CLOSED after
	 * an agent hang-up) must not be taken for a new dial's */
	if (contacts_retired_call(d->contacts, ev->call_id))
		return NULL;
	if (media_event_on(d->media, ev, MEDIA_ACCOUNT_CONSULT)) {
		k = contacts_find_unbound_third(d->contacts, ret);
		if (k && conn_bind_call(k, ev->call_id) < 0)
			return NULL;
		return k;
	}
	c = contacts_find_unbound_outbound(d->contacts);
	if (!c || contact_bind_call(c, ev->call_id) < 0)
		return NULL;
	*ret = c;
	return contact_conn(c, CONN_CUSTOMER_IDX);
}

static void on_established(struct desk *d, struct contact *c, struct conn *k)
{
	enum contact_state st = contact_state(c);

	if (conn_party(k) == PARTY_THIRD_PARTY) {
		if (conn_state(k) != CONN_CONNECTING)
			return;
		live_conn_change(d, c, k, CONN_CONNECTED, NULL,
				 CONTACT_BY_NONE);
		desk_notify_contact(d, DESK_NOTE_ROUTED, c);
		desk_notify_contact(d, DESK_NOTE_THIRD_UP, c);
		return;
	}
	if (st != CONTACT_INCOMING && st != CONTACT_CONNECTING)
		return;
	if (slot_of(c))
		tmr_cancel(&slot_of(c)->ring_tmr);
	contact_set_state(c, CONTACT_CONNECTED);
	contact_mark(c, "connected", util_now_ms());
	live_conn_change(d, c, contact_conn(c, CONN_AGENT_IDX), CONN_CONNECTED,
			 NULL, CONTACT_BY_NONE);
	live_conn_change(d, c, k, CONN_CONNECTED, NULL, CONTACT_BY_NONE);
	status_feed(d, AGENT_IN_CONNECTED, 0, NULL, contact_id(c));
	live_publish(d, "contact.connected", c);
	desk_notify_contact(d, DESK_NOTE_ROUTED, c);
}

/* A party's call ended while others remain: the contact goes on. */
static void party_closed(struct desk *d, struct contact *c, struct conn *k,
			 const char *param)
{
	struct slot *s = slot_of(c);
	enum contact_by by = conn_party(k) == PARTY_CUSTOMER ?
		CONTACT_BY_CUSTOMER : CONTACT_BY_THIRD_PARTY;
	bool was_connecting = conn_state(k) == CONN_CONNECTING;

	if (!conn_is_live(k))
		return;
	live_conn_change(d, c, k, CONN_DISCONNECTED,
			 param && *param ? param : "hangup",
			 was_connecting ? CONTACT_BY_SYSTEM : by);
	if (s && s->active == conn_index(k))
		s->active = CONN_CUSTOMER_IDX;
	if (s && was_connecting && s->xfer == XFER_BRIDGE) {
		s->xfer = XFER_NONE;
		live_transfer_failed(d, c, param && *param ? param
							   : "no answer");
	}
	if (contact_state(c) == CONTACT_CONNECTED &&
	    !contact_live_parties(c))
		live_to_acw(d, c, by == CONTACT_BY_CUSTOMER ?
			    CONTACT_END_CUSTOMER_HANGUP :
			    CONTACT_END_AGENT_HANGUP, by);
}

/* SRTP that must be used: SDES with the policy required, or DTLS-SRTP,
 * which always encrypts */
static bool srtp_required(const struct conf *conf)
{
	return strcmp(conf->srtp, "dtls") == 0 ||
		(strcmp(conf->srtp, "sdes") == 0 &&
		 strcmp(conf->srtp_policy, "required") == 0);
}

static const char *srtp_name(const struct conf *conf)
{
	return strcmp(conf->srtp, "dtls") == 0 ? "DTLS-SRTP" : "SDES SRTP";
}

/* A 488 to our INVITE when SRTP is required most likely means that the
 * peer takes no encrypted media: say so in the contact's sipCause. */
static const char *dial_cause(const struct desk *d, const char *param,
			      char *buf, size_t size)
{
	if (!param || strncmp(param, "488", 3) != 0 ||
	    !srtp_required(d->conf))
		return param;
	snprintf(buf, size, "%s (SRTP required: the peer does not accept "
		 "%s)", param, srtp_name(d->conf));
	return buf;
}

/* The customer's side says the REFER's target answered: baresip's words
 * for that NOTIFY are "transfered". */
static void referred(struct desk *d, struct contact *c, struct conn *k)
{
	cJSON *data = cJSON_CreateObject();

	live_set_xfer(c, XFER_NONE, NULL);
	if (data) {
		cJSON_AddStringToObject(data, "method", "refer");
		cJSON_AddStringToObject(data, "endpoint",
					slot_of(c)->xfer_target);
		live_publish_data(d, "contact.transferred", c, data);
	}
	live_conn_change(d, c, k, CONN_DISCONNECTED, "transferred",
			 CONTACT_BY_AGENT);
	live_to_acw(d, c, CONTACT_END_TRANSFERRED, CONTACT_BY_AGENT);
}

static void on_closed(struct desk *d, struct contact *c, struct conn *k,
		      const char *param)
{
	struct slot *s = slot_of(c);
	char why[256];

	if (s && s->xfer == XFER_REFER && conn_party(k) == PARTY_CUSTOMER &&
	    param && strstr(param, "transfered")) {
		referred(d, c, k);
		return;
	}
	if (conn_party(k) == PARTY_THIRD_PARTY ||
	    (contact_state(c) == CONTACT_CONNECTED &&
	     contact_live_parties(c) > 1) ||
	    contact_state(c) == CONTACT_ENDED) {
		party_closed(d, c, k, param);
		return;
	}
	switch (contact_state(c)) {
	case CONTACT_INCOMING:
		finish(d, c, &end_abandoned, NULL);
		return;
	case CONTACT_CONNECTING:
		if (contact_dir(c) == CONTACT_INBOUND)
			finish(d, c, &end_abandoned, NULL);
		else
			finish(d, c, &end_dial_failed,
			       dial_cause(d, param, why, sizeof(why)));
		return;
	case CONTACT_CONNECTED:
		/* baresip 1.0.0 ends a call whose audio device failed */
		if (s && s->audio_failed)
			live_to_acw(d, c, CONTACT_END_MEDIA_FAILURE,
				    CONTACT_BY_SYSTEM);
		else
			live_to_acw(d, c, CONTACT_END_CUSTOMER_HANGUP,
				    CONTACT_BY_CUSTOMER);
		return;
	case CONTACT_ENDED:
	case CONTACT_MISSED:
	case CONTACT_REJECTED:
	case CONTACT_REFUSED:
	case CONTACT_ERROR:
	case CONTACT_DESTROYED:
		/* our own hangup coming back, or already handled */
		return;
	}
}

/* baresip 1.0.0 reports a failed REFER and then drops the call at once,
 * without a CALL_CLOSED: the customer is gone. */
static void on_transfer_failed(struct desk *d, struct contact *c,
			       struct conn *k, const char *param)
{
	struct slot *s = slot_of(c);

	if (!s || s->xfer != XFER_REFER || conn_party(k) != PARTY_CUSTOMER)
		return;
	s->xfer = XFER_NONE;
	live_transfer_failed(d, c, param);
	live_conn_change(d, c, k, CONN_DISCONNECTED, param, CONTACT_BY_SYSTEM);
	if (contact_state(c) == CONTACT_CONNECTED && !contact_live_parties(c))
		live_to_acw(d, c, CONTACT_END_TRANSFER_FAILED,
			    CONTACT_BY_SYSTEM);
}

static void refusal_cause(const struct desk *d, const char *param,
			  char *cause, size_t size)
{
	if (strcmp(param, "No audio codecs") == 0 && srtp_required(d->conf))
		snprintf(cause, size, "488 Not Acceptable Here (SRTP "
			 "required: the caller offered no %s, or no codec in "
			 "common)", srtp_name(d->conf));
	else if (strcmp(param, "No audio codecs") == 0)
		snprintf(cause, size, "488 Not Acceptable Here (no audio "
			 "codec in common)");
	else if (strcmp(param, "Wrong address family") == 0)
		snprintf(cause, size, "488 Not Acceptable Here (the offer's "
			 "address family is not the one in use here)");
	else
		snprintf(cause, size, "refused by baresip: %s",
			 *param ? param : "no reason given");
}

/* baresip 1.0.0 answers an offer it cannot take with 488 before the offer
 * becomes a call (src/call.c, call_accept): no CALL_INCOMING, only a
 * CALL_CLOSED without a Call-ID whose param is "No audio codecs" (what an
 * offer without SRTP is when SRTP is required: the only profile left is
 * RTP/SAVP) or "Wrong address family". The caller still reached this
 * agent's line, so the offer becomes a refused contact, with the reason in
 * sipCause: in the events, the history, the journal and the metrics, like
 * an offer refused because the agent was not routable (whose sipCause is
 * null). The agent's state does not change: the agent never saw it. */
static void on_offer_refused(struct desk *d, const struct media_event *ev)
{
	const char *param = ev->param ? ev->param : "";
	struct contact *c;
	char cause[320];

	/* a dial that failed before its INVITE went out looks the same */
	if (ev->outgoing)
		return;
	if (media_event_on_helper(d->media, ev)) {
		log_notice("desk: baresip refused an offer to %s: %s",
			   ev->aor, param);
		return;
	}
	refusal_cause(d, param, cause, sizeof(cause));
	if (offer_new(d, &c, ev, NULL) < 0) {
		log_error("desk: out of memory; baresip refused an offer from "
			  "%s: %s", ev->peer_uri ? ev->peer_uri : "?", cause);
		return;
	}
	log_fields(LOG_WARNING, contact_id(c), agent_state(status_agent(d)),
		   "desk: baresip refused offer %s from %s: %s", contact_id(c),
		   ev->peer_uri ? ev->peer_uri : "?", cause);
	finish(d, c, &end_refused, cause);
}

/* The events about calls that may be contacts' (the hub has taken those
 * of the conference's legs and the desk phone, and any other kind). */
void live_media_event(struct desk *d, const struct media_event *ev)
{
	struct contact *c = NULL;
	struct conn *k;

	if (ev->type == MEDIA_EV_CALL_INCOMING) {
		if (media_event_on_helper(d->media, ev))
			/* the helper accounts place calls, never take them */
			media_command(d->media, ev->call_id, "hangup", NULL,
				      NULL, NULL);
		else
			on_incoming(d, ev);
		return;
	}
	if (ev->type == MEDIA_EV_CALL_CLOSED && !ev->call_id)
		on_offer_refused(d, ev);
	k = find_for_event(d, ev, &c);
	if (!k)
		return;
	if (ev->type == MEDIA_EV_CALL_ESTABLISHED)
		on_established(d, c, k);
	else if (ev->type == MEDIA_EV_CALL_CLOSED)
		on_closed(d, c, k, ev->param);
	else if (ev->type == MEDIA_EV_CALL_TRANSFER_FAILED)
		on_transfer_failed(d, c, k, ev->param);
}

/* ---- the agent's actions ---- */

int live_answer(struct desk *d, struct contact *c, struct desk_err *e)
{
	int r = live_command(d, c, "accept");

	return r < 0 ? live_media_error(d, e, r) : 0;
}

void live_accepted(struct desk *d, struct contact *c)
{
	tmr_cancel(&slot_of(c)->ring_tmr);
	contact_set_state(c, CONTACT_CONNECTING);
	contact_mark(c, "accepted", util_now_ms());
	status_feed(d, AGENT_IN_ACCEPT, 0, NULL, contact_id(c));
	live_publish(d, "contact.connecting", c);
}

int live_reject(struct desk *d, struct contact *c, struct desk_err *e)
{
	int r = live_command(d, c, "hangup");

	if (r < 0)
		return live_media_error(d, e, r);
	finish(d, c, &end_rejected, NULL);
	return 0;
}

/* Hang up one party's call. A third party still being dialed has no
 * Call-ID yet: it is the consult account's current call. */
static int hangup_conn(struct desk *d, struct conn *k)
{
	if (conn_call_id(k))
		return live_conn_command(d, k, "hangup", NULL);
	return media_command_ua(d->media, conn_party(k) == PARTY_CUSTOMER ?
				MEDIA_ACCOUNT_DIALED : MEDIA_ACCOUNT_CONSULT,
				"hangup", NULL, NULL, NULL);
}

int live_hangup(struct desk *d, struct contact *c, struct conn *k,
		struct desk_err *e)
{
	unsigned i;
	int r;

	/* one party among several: only that one goes */
	if (k && conn_party(k) != PARTY_AGENT && contact_live_parties(c) > 1) {
		r = hangup_conn(d, k);
		if (r < 0)
			return live_media_error(d, e, r);
		live_conn_change(d, c, k, CONN_DISCONNECTED, "agent_hangup",
				 CONTACT_BY_AGENT);
		if (slot_of(c) && slot_of(c)->active == conn_index(k))
			slot_of(c)->active = CONN_CUSTOMER_IDX;
		return 0;
	}
	if (!k || conn_party(k) == PARTY_AGENT) {
		/* the one party left, whichever it is */
		for (i = 1; i < contact_conn_count(c); i++)
			if (conn_is_live(contact_conn(c, i)))
				k = contact_conn(c, i);
	}
	if (!k || conn_party(k) == PARTY_AGENT)
		k = contact_conn(c, CONN_CUSTOMER_IDX);
	r = hangup_conn(d, k);
	if (r < 0)
		return live_media_error(d, e, r);
	live_to_acw(d, c, CONTACT_END_AGENT_HANGUP, CONTACT_BY_AGENT);
	return 0;
}

int desk_clear(struct desk *d, const char *contact_id_, struct desk_err *e)
{
	struct contact *c = live_find(d, contact_id_, e);

	if (!c)
		return e->code;
	if (contact_state(c) != CONTACT_ENDED &&
	    contact_state(c) != CONTACT_ERROR)
		return live_wrong_state(e, c, "in after-contact work or "
					"failed");
	live_retire(d, c);
	status_feed(d, AGENT_IN_CLEAR, 0, NULL, contact_id_);
	return 0;
}

/* ---- dialing ---- */

/* The answer handler finds the contact by id, not by pointer: the
 * contact may be gone by then. */
struct dial_cookie {
	struct desk *d;
	char id[DESK_ID_MAX];
};

static void dial_answered(bool ok, const char *data, void *arg)
{
	struct dial_cookie *k = arg;
	struct contact *c = contacts_find(k->d->contacts, k->id);

	if (!ok && c && contact_state(c) == CONTACT_CONNECTING &&
	    !contact_call_id(c))
		finish(k->d, c, &end_dial_refused,
		       data && *data ? data : "dial failed");
	free(k);
}

int live_dial_place(struct desk *d, struct contact *c)
{
	struct dial_cookie *k = calloc(1, sizeof(*k));
	int r;

	if (!k)
		return -ENOMEM;
	k->d = d;
	snprintf(k->id, sizeof(k->id), "%s", contact_id(c));
	r = media_dial(d->media, contact_caller_id(c), contact_uri(c),
		       dial_answered, k);
	if (r < 0)
		free(k);
	return r;
}

int live_dial_new(struct desk *d, const char *endpoint, struct contact **ret,
		  struct desk_err *e)
{
	char uri[CCPD_MAX_ENDPOINT + 128], e164[PHONE_E164_MAX];
	const struct agent *a = status_agent(d);
	struct contact *c;
	int r;

	r = user_endpoint_uri(d, endpoint, uri, sizeof(uri), e164,
			      sizeof(e164), e);
	if (r < 0)
		return r;
	if (media_get_state(d->media) != MEDIA_STATE_UP)
		return live_media_error(d, e, -ENOTCONN);
	if (agent_get_phase(a) != AGENT_PHASE_IDLE)
		return desk_fail(e, CCPD_ERR_INVALID_STATE, "the agent is %s; "
				 "finish the current contact first",
				 agent_state(a));
	if (agent_state_type(a) == AGENT_TYPE_OFFLINE)
		return desk_fail(e, CCPD_ERR_INVALID_STATE, "the agent is "
				 "Offline; choose another status to dial");
	r = contact_new(d->contacts, &c, CONTACT_OUTBOUND, NULL, uri, NULL,
			util_now_ms());
	if (r < 0 || attach_slot(d, c) < 0 ||
	    set_customer_number(d, c, *e164 ? e164 : uri) < 0 ||
	    contact_set_caller_id(c, user_caller_id(d)) < 0) {
		if (r == 0)
			live_dial_abandon(d, c);
		return desk_fail(e, CCPD_ERR_INTERNAL, "out of memory");
	}
	*ret = c;
	return 0;
}

/* A dial that could not begin leaves no trace but the history. */
void live_dial_abandon(struct desk *d, struct contact *c)
{
	contact_set_state(c, CONTACT_ERROR);
	live_retire(d, c);
}

void live_dialing(struct desk *d, struct contact *c)
{
	status_feed(d, AGENT_IN_DIAL, 0, NULL, contact_id(c));
	live_publish(d, "contact.connecting", c);
}

/* ---- views ---- */

bool desk_busy(const struct desk *d)
{
	return contacts_count(d->contacts) > 0;
}

cJSON *desk_contacts_json(const struct desk *d)
{
	return contacts_list_json(d->contacts);
}

cJSON *desk_contact_json(const struct desk *d, const char *id)
{
	const struct contact *c = contacts_find(d->contacts, id);

	if (c)
		return contact_to_json(c);
	/* gone from the history in memory: the store still has it. A UUID
	 * names one contact whatever run wrote it; an old c-N id only
	 * within this run. */
	if (!d->st)
		return NULL;
	if (strncmp(id, "c-", 2) == 0)
		return store_contact_get(d->st, events_instance(d->ev), id);
	return store_contact_find(d->st, id);
}

static bool held_in_memory(const char *instance, const char *id, void *arg)
{
	const struct desk *d = arg;

	return strcmp(instance, events_instance(d->ev)) == 0 &&
	       contacts_find(d->contacts, id) != NULL;
}

cJSON *desk_history_json(const struct desk *d, unsigned limit)
{
	cJSON *a = contacts_history_json(d->contacts, limit);

	/* older contacts, and those of earlier runs, come from the store */
	if (a && d->st && (unsigned)cJSON_GetArraySize(a) < limit)
		store_contacts_recent(d->st, a, limit, held_in_memory,
				      (void *)d);
	return a;
}

void live_free_all(struct desk *d)
{
	struct contact *c;

	for (c = contacts_first(d->contacts); c; c = contacts_next(c))
		detach_slot(c);
}
