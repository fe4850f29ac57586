/* The agent's desk. Every change goes the same way: feed the state machine,
 * update the contact, tell baresip, then publish events. Actions the agent
 * takes change state at once rather than waiting for baresip's echo, so a
 * client's answer already reflects what it did. */
#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <re.h>

#include "agent.h"
#include "ccpd-protocol.h"
#include "conf.h"
#include "contact.h"
#include "desk.h"
#include "events.h"
#include "jsonrpc.h"
#include "log.h"
#include "media.h"
#include "metrics.h"
#include "store.h"
#include "util.h"

enum reg_state { REG_NONE, REG_REGISTERING, REG_REGISTERED, REG_FAILED };

/* What the desk keeps per live contact. */
struct slot {
	struct desk *d;
	char id[24];
	struct tmr ring_tmr;
	struct tmr acw_tmr;
};

struct desk {
	const struct conf *conf;
	struct events *ev;
	struct agent *agent;
	struct contacts *contacts;
	struct media *media;
	desk_ready_h *ready_h;
	void *ready_arg;
	bool was_ready;
	enum reg_state reg;
	char reg_reason[160];
	char media_reason[160];
	/* agent.getState is the most frequent question: its answer is kept
	 * encoded until the agent changes */
	char *agent_text;
	struct store *st;
	/* the user logged in at the desk ("" for none) and who is acting */
	char user[65];
	char user_display[129];
	char actor[80];
	/* the time in each state and the counters since ccpd started */
	struct metrics *live;
	/* a new list of statuses, waiting for the agent to be free */
	char **pending;
	size_t n_pending;
	bool has_pending;
};

static int fail(struct desk_err *e, int code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static int fail(struct desk_err *e, int code, const char *fmt, ...)
{
	va_list ap;

	e->code = code;
	va_start(ap, fmt);
	vsnprintf(e->reason, sizeof(e->reason), fmt, ap);
	va_end(ap);
	return code;
}

/* ---- publishing ---- */

cJSON *desk_agent_json(const struct desk *d)
{
	const struct agent *a = d->agent;
	cJSON *o = cJSON_CreateObject();

	if (!o)
		return NULL;
	cJSON_AddStringToObject(o, "status", agent_status(a));
	cJSON_AddStringToObject(o, "state", agent_state(a));
	cJSON_AddStringToObject(o, "type",
				agent_type_name(agent_state_type(a)));
	jsonrpc_add_int(o, "since", (long long)agent_since(a));
	if (agent_next(a))
		cJSON_AddStringToObject(o, "next", agent_next(a));
	else
		cJSON_AddNullToObject(o, "next");
	cJSON_AddBoolToObject(o, "routable", agent_routable(a));
	return o;
}

const char *desk_agent_text(struct desk *d)
{
	if (!d->agent_text) {
		cJSON *o = desk_agent_json(d);

		d->agent_text = o ? cJSON_PrintUnformatted(o) : NULL;
		cJSON_Delete(o);
	}
	return d->agent_text;
}

struct agent_view {
	const char *state;
	int status;
	const char *next;
	uint64_t since;
};

static bool str_same(const char *a, const char *b)
{
	return a == b || (a && b && strcmp(a, b) == 0);
}

static struct agent_view view_of(const struct agent *a)
{
	struct agent_view v = {
		agent_state(a), agent_status_index(a), agent_next(a),
		agent_since(a),
	};
	return v;
}

const char *desk_journal_user(const struct desk *d)
{
	return d->user[0] ? d->user : "system";
}

/* The journal row of an event (or of a change that sends none), written
 * and synced before the event goes out, with the contact's record when
 * there is a contact. A store that fails is logged and does not stop the
 * desk: calls go on. */
static void record(struct desk *d, const char *type, uint64_t now,
		   bool has_event, const char *contact_id, const cJSON *data)
{
	const cJSON *contact = cJSON_GetObjectItemCaseSensitive(data,
								"contact");
	char *text = data ? cJSON_PrintUnformatted(data) : NULL;
	struct store_journal_row row = {
		.time = now,
		.instance = events_instance(d->ev),
		.event_seq = has_event ? events_last_seq(d->ev) + 1 : 0,
		.type = type,
		.username = desk_journal_user(d),
		.actor = d->actor[0] ? d->actor : "system",
		.state = strcmp(type, "daemon.stop") ? agent_state(d->agent)
						     : NULL,
		.status = agent_status(d->agent),
		.contact_id = contact_id,
		.data = text,
	};
	struct metrics_row mrow = {
		.time = now, .type = type, .user = row.username,
		.state = row.state, .instance = row.instance,
		.contact_id = contact_id,
	};
	int r;

	if (d->live)
		metrics_add(d->live, &mrow);
	if (!d->st) {
		free(text);
		return;
	}
	r = store_begin(d->st);
	if (r == 0)
		r = store_journal_add(d->st, &row);
	if (r == 0 && contact)
		r = store_contact_put(d->st, row.instance, row.username,
				      contact);
	if (r == 0)
		r = store_commit(d->st);
	if (r < 0) {
		store_rollback(d->st);
		log_error("store: cannot record %s: %s", type, strerror(-r));
	}
	free(text);
}

static void apply_pending_statuses(struct desk *d);

/* Feed the state machine and announce any visible change. */
static int feed(struct desk *d, enum agent_input in, int status,
		enum agent_action *act, const char *contact_id)
{
	struct agent_view before = view_of(d->agent), after;
	uint64_t now = util_now_ms();
	int r = agent_input(d->agent, in, status, now, act);
	cJSON *data;

	if (r < 0)
		return r;
	after = view_of(d->agent);
	free(d->agent_text);
	d->agent_text = NULL;
	if (before.state == after.state && before.status == after.status &&
	    before.next == after.next && before.since == after.since)
		return 0;
	log_fields(LOG_INFO, contact_id, after.state,
		   "agent: %s -> %s (status %s%s%s, on %s)", before.state,
		   after.state, agent_status(d->agent),
		   after.next ? ", next " : "", after.next ? after.next : "",
		   agent_input_name(in));
	data = cJSON_CreateObject();
	if (data) {
		cJSON_AddStringToObject(data, "oldState", before.state);
		cJSON_AddStringToObject(data, "newState", after.state);
		cJSON_AddItemToObject(data, "agent", desk_agent_json(d));
		record(d, "agent.stateChange", now, true, contact_id, data);
		events_emit_at(d->ev, "agent.stateChange", data, now);
	}
	if (d->has_pending)
		apply_pending_statuses(d);
	return 0;
}

static void publish(struct desk *d, const char *type, const struct contact *c)
{
	cJSON *data = cJSON_CreateObject();
	uint64_t now = util_now_ms();

	log_fields(LOG_INFO, contact_id(c), agent_state(d->agent),
		   "contact: %s %s (%s%s%s)", contact_id(c), type + 8,
		   contact_state_name(contact_state(c)),
		   contact_end_name(contact_end_reason(c)) ? ", " : "",
		   contact_end_name(contact_end_reason(c)) ?
		   contact_end_name(contact_end_reason(c)) : "");
	if (!data)
		return;
	cJSON_AddItemToObject(data, "contact", contact_to_json(c));
	record(d, type, now, true, contact_id(c), data);
	events_emit_at(d->ev, type, data, now);
}

/* ---- per-contact timers ---- */

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
	snprintf(s->id, sizeof(s->id), "%s", contact_id(c));
	tmr_init(&s->ring_tmr);
	tmr_init(&s->acw_tmr);
	contact_set_user(c, s);
	return 0;
}

/* The contact leaves the live list: clients drop it on contact.destroyed. */
static void retire(struct desk *d, struct contact *c)
{
	struct slot *s = slot_of(c);

	if (s) {
		tmr_cancel(&s->ring_tmr);
		tmr_cancel(&s->acw_tmr);
		free(s);
	}
	contacts_retire(d->contacts, c, util_now_ms());
	publish(d, "contact.destroyed", c);
}

/* ---- telling baresip ---- */

static void log_refusal(bool ok, const char *data, void *arg)
{
	char *what = arg;

	if (!ok)
		log_warning("media: %s failed: %s", what, data);
	free(what);
}

static int call_command(struct desk *d, const struct contact *c,
			const char *cmd)
{
	char what[96];

	snprintf(what, sizeof(what), "%s of %s", cmd, contact_id(c));
	if (!contact_call_id(c))
		return -ENOENT;
	return media_command(d->media, contact_call_id(c), cmd, NULL,
			     log_refusal, strdup(what));
}

/* ---- endings ---- */

static void end_live(struct desk *d, struct contact *c, enum contact_end why,
		     enum contact_by by, const char *cause)
{
	struct slot *s = slot_of(c);

	if (s)
		tmr_cancel(&s->ring_tmr);
	contact_set_end(c, why, by, cause, util_now_ms());
}

/* A connected (or answered-while-connecting) contact ended: the agent
 * wraps up. */
static void start_acw_timer(struct desk *d, struct contact *c);

static void to_acw(struct desk *d, struct contact *c, enum contact_end why,
		   enum contact_by by)
{
	end_live(d, c, why, by, NULL);
	contact_set_state(c, CONTACT_ENDED);
	feed(d, AGENT_IN_ENDED, 0, NULL, contact_id(c));
	publish(d, "contact.ended", c);
	publish(d, "contact.acw", c);
	start_acw_timer(d, c);
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
	retire(d, c);
	feed(d, AGENT_IN_CLEAR, 0, NULL, NULL);
}

static void start_acw_timer(struct desk *d, struct contact *c)
{
	struct slot *s = slot_of(c);

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
	(void)call_command(d, c, "hangup");
	end_live(d, c, CONTACT_END_MISSED, CONTACT_BY_SYSTEM, NULL);
	contact_set_state(c, CONTACT_MISSED);
	feed(d, AGENT_IN_RING_TIMEOUT, 0, NULL, contact_id(c));
	publish(d, "contact.missed", c);
	retire(d, c);
}

/* ---- media events ---- */

static void on_incoming(struct desk *d, const struct media_event *ev)
{
	enum agent_action act = AGENT_ACT_NONE;
	struct contact *c;
	const char *why;

	if (!ev->call_id || contacts_find_call(d->contacts, ev->call_id))
		return;
	if (contact_new(d->contacts, &c, CONTACT_INBOUND, ev->call_id,
			ev->peer_uri, ev->peer_name, util_now_ms()) < 0 ||
	    attach_slot(d, c) < 0) {
		log_error("desk: out of memory; refusing call %s",
			  ev->call_id);
		media_command(d->media, ev->call_id, "hangup", NULL, NULL,
			      NULL);
		return;
	}
	why = agent_state(d->agent);
	feed(d, AGENT_IN_OFFER, 0, &act, contact_id(c));
	if (act == AGENT_ACT_RING) {
		struct slot *s = slot_of(c);

		publish(d, "contact.incoming", c);
		tmr_start(&s->ring_tmr, d->conf->ring_timeout * 1000ULL,
			  ring_expired, s);
		return;
	}
	/* not routable or already on a contact: a final answer at once, so
	 * the caller's side can route elsewhere instead of ringing out */
	log_fields(LOG_NOTICE, contact_id(c), why,
		   "desk: refusing offer %s from %s: agent is %s",
		   contact_id(c), ev->peer_uri ? ev->peer_uri : "?", why);
	(void)call_command(d, c, "hangup");
	end_live(d, c, CONTACT_END_REFUSED, CONTACT_BY_SYSTEM, NULL);
	contact_set_state(c, CONTACT_REFUSED);
	publish(d, "contact.refused", c);
	retire(d, c);
}

/* Outbound calls learn their Call-ID from the first event baresip sends
 * about them: its dial command does not return one. */
static struct contact *find_for_event(struct desk *d,
				      const struct media_event *ev)
{
	struct contact *c = contacts_find_call(d->contacts, ev->call_id);

	if (c || !ev->outgoing || !ev->call_id)
		return c;
	/* a late event about a call already finished (its CALL_CLOSED after
	 * an agent hang-up) must not be taken for the new dial's */
	if (contacts_retired_call(d->contacts, ev->call_id))
		return NULL;
	c = contacts_find_unbound_outbound(d->contacts);
	if (c && contact_bind_call(c, ev->call_id) < 0)
		return NULL;
	return c;
}

static void on_established(struct desk *d, struct contact *c)
{
	enum contact_state st = contact_state(c);

	if (st != CONTACT_INCOMING && st != CONTACT_CONNECTING)
		return;
	if (slot_of(c))
		tmr_cancel(&slot_of(c)->ring_tmr);
	contact_set_state(c, CONTACT_CONNECTED);
	contact_mark(c, "connected", util_now_ms());
	feed(d, AGENT_IN_CONNECTED, 0, NULL, contact_id(c));
	publish(d, "contact.connected", c);
}

static void on_closed(struct desk *d, struct contact *c, const char *param)
{
	switch (contact_state(c)) {
	case CONTACT_INCOMING:
		end_live(d, c, CONTACT_END_ABANDONED, CONTACT_BY_CUSTOMER,
			 NULL);
		feed(d, AGENT_IN_ABANDONED, 0, NULL, contact_id(c));
		publish(d, "contact.ended", c);
		retire(d, c);
		return;
	case CONTACT_CONNECTING:
		if (contact_dir(c) == CONTACT_INBOUND) {
			end_live(d, c, CONTACT_END_ABANDONED,
				 CONTACT_BY_CUSTOMER, NULL);
			feed(d, AGENT_IN_ABANDONED, 0, NULL, contact_id(c));
			publish(d, "contact.ended", c);
			retire(d, c);
			return;
		}
		end_live(d, c, CONTACT_END_FAILED, CONTACT_BY_SYSTEM, param);
		contact_set_state(c, CONTACT_ERROR);
		feed(d, AGENT_IN_DIAL_FAILED, 0, NULL, contact_id(c));
		publish(d, "contact.error", c);
		return;
	case CONTACT_CONNECTED:
		to_acw(d, c, CONTACT_END_CUSTOMER_HANGUP, CONTACT_BY_CUSTOMER);
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

static void set_reg(struct desk *d, enum reg_state st, const char *reason);

static void on_media_event(const struct media_event *ev, void *arg)
{
	struct desk *d = arg;
	struct contact *c;

	switch (ev->type) {
	case MEDIA_EV_CALL_INCOMING:
		on_incoming(d, ev);
		return;
	case MEDIA_EV_CALL_RINGING:
	case MEDIA_EV_CALL_PROGRESS:
		(void)find_for_event(d, ev);
		return;
	case MEDIA_EV_CALL_ESTABLISHED:
		c = find_for_event(d, ev);
		if (c)
			on_established(d, c);
		return;
	case MEDIA_EV_CALL_CLOSED:
		c = find_for_event(d, ev);
		if (c)
			on_closed(d, c, ev->param);
		return;
	case MEDIA_EV_REGISTERING:
		if (d->reg != REG_REGISTERED)
			set_reg(d, REG_REGISTERING, NULL);
		return;
	case MEDIA_EV_REGISTER_OK:
		set_reg(d, REG_REGISTERED, ev->param);
		return;
	case MEDIA_EV_REGISTER_FAIL:
		set_reg(d, REG_FAILED, ev->param);
		return;
	case MEDIA_EV_UNREGISTERING:
	case MEDIA_EV_CALL_TRANSFER:
	case MEDIA_EV_CALL_TRANSFER_FAILED:
	case MEDIA_EV_CALL_DTMF_START:
	case MEDIA_EV_CALL_DTMF_END:
	case MEDIA_EV_OTHER:
		return;
	}
}

/* ---- registration ---- */

static const char *reg_name(enum reg_state st)
{
	switch (st) {
	case REG_NONE:        return "none";
	case REG_REGISTERING: return "registering";
	case REG_REGISTERED:  return "registered";
	case REG_FAILED:      return "failed";
	}
	return "none";
}

cJSON *desk_registration_json(const struct desk *d)
{
	cJSON *o = cJSON_CreateObject();

	if (!o)
		return NULL;
	cJSON_AddStringToObject(o, "mode", media_registrar_mode(d->media) ?
				"registrar" : "direct");
	cJSON_AddStringToObject(o, "state", reg_name(d->reg));
	cJSON_AddStringToObject(o, "aor", media_aor(d->media));
	if (d->conf->sip_registrar[0])
		cJSON_AddStringToObject(o, "registrar",
					d->conf->sip_registrar);
	if (d->reg_reason[0])
		cJSON_AddStringToObject(o, "reason", d->reg_reason);
	else
		cJSON_AddNullToObject(o, "reason");
	return o;
}

static void set_reg(struct desk *d, enum reg_state st, const char *reason)
{
	if (!media_registrar_mode(d->media))
		return;
	if (d->reg == st && !(reason && strcmp(reason, d->reg_reason)))
		return;
	d->reg = st;
	snprintf(d->reg_reason, sizeof(d->reg_reason), "%s",
		 reason ? reason : "");
	log_msg(st == REG_FAILED ? LOG_WARNING : LOG_INFO,
		"registration: %s %s%s%s", media_aor(d->media), reg_name(st),
		reason ? ": " : "", reason ? reason : "");
	events_emit(d->ev, "registration.status", desk_registration_json(d));
}

/* ---- media state ---- */

cJSON *desk_media_json(const struct desk *d)
{
	cJSON *o = cJSON_CreateObject();

	if (!o)
		return NULL;
	cJSON_AddStringToObject(o, "state",
				media_state_name(media_get_state(d->media)));
	if (media_pid(d->media) > 0)
		cJSON_AddNumberToObject(o, "pid", media_pid(d->media));
	else
		cJSON_AddNullToObject(o, "pid");
	cJSON_AddNumberToObject(o, "restarts", media_restarts(d->media));
	/* shown so that an operator can see who holds it (ss -tnp) */
	cJSON_AddNumberToObject(o, "ctrlPort", media_ctrl_port(d->media));
	if (media_last_exit(d->media)[0])
		cJSON_AddStringToObject(o, "lastExit",
					media_last_exit(d->media));
	else
		cJSON_AddNullToObject(o, "lastExit");
	cJSON_AddStringToObject(o, "reason", d->media_reason);
	return o;
}

/* Calls cannot survive their media stack: end every live contact as a
 * failure, so that nothing is left looking connected. */
static void fail_live_contacts(struct desk *d)
{
	struct contact *c = contacts_first(d->contacts), *next;

	for (; c; c = next) {
		next = contacts_next(c);
		if (!contact_is_live(c))
			continue;
		end_live(d, c, CONTACT_END_MEDIA_FAILURE, CONTACT_BY_SYSTEM,
			 d->media_reason);
		contact_set_state(c, CONTACT_ERROR);
		publish(d, "contact.error", c);
		retire(d, c);
	}
}

static void on_media_state(enum media_state st, const char *reason,
			   bool takeover, void *arg)
{
	struct desk *d = arg;

	snprintf(d->media_reason, sizeof(d->media_reason), "%s",
		 reason ? reason : "");
	switch (st) {
	case MEDIA_STATE_UP:
		feed(d, AGENT_IN_MEDIA_UP, 0, NULL, NULL);
		if (media_registrar_mode(d->media))
			set_reg(d, REG_REGISTERING, NULL);
		break;
	case MEDIA_STATE_DOWN:
		fail_live_contacts(d);
		feed(d, AGENT_IN_MEDIA_DOWN, 0, NULL, NULL);
		if (media_registrar_mode(d->media))
			set_reg(d, REG_FAILED, "media stack down");
		break;
	case MEDIA_STATE_STARTING:
		break;
	}
	events_emit(d->ev, "media.status", desk_media_json(d));
	if (takeover) {
		cJSON *data = cJSON_CreateObject();

		if (data) {
			cJSON_AddStringToObject(data, "reason", reason);
			events_emit(d->ev, "media.takeover", data);
		}
	}
	if (st == MEDIA_STATE_UP && !d->was_ready) {
		d->was_ready = true;
		if (d->ready_h)
			d->ready_h(d->ready_arg);
	}
}

/* ---- agent actions ---- */

/* Choosing a status dismisses a failed outbound contact, as clearing it
 * would: it must not linger in the live list. */
static void retire_failed(struct desk *d)
{
	struct contact *c = contacts_first(d->contacts), *next;

	for (; c; c = next) {
		next = contacts_next(c);
		if (contact_state(c) == CONTACT_ERROR)
			retire(d, c);
	}
}

int desk_set_status(struct desk *d, const char *name, struct desk_err *e)
{
	int idx = agent_status_find(d->agent, name);
	bool failed = agent_get_phase(d->agent) == AGENT_PHASE_FAILED;

	if (idx < 0)
		return fail(e, CCPD_ERR_NOT_FOUND,
			    "no status named '%s'; see agent.listStates",
			    name);
	if (feed(d, AGENT_IN_SET_STATUS, idx, NULL, NULL) < 0)
		return fail(e, CCPD_ERR_INTERNAL, "the state machine refused "
			    "status '%s'", name);
	if (failed)
		retire_failed(d);
	return 0;
}

int desk_clear_next(struct desk *d, struct desk_err *e)
{
	(void)e;
	return feed(d, AGENT_IN_CLEAR_NEXT, 0, NULL, NULL);
}

static struct contact *find_live(struct desk *d, const char *id,
				 struct desk_err *e)
{
	struct contact *c = contacts_find(d->contacts, id);

	if (!c)
		fail(e, CCPD_ERR_NOT_FOUND, "no contact '%s'", id);
	else if (contact_state(c) == CONTACT_DESTROYED ||
		 contact_state(c) == CONTACT_MISSED ||
		 contact_state(c) == CONTACT_REJECTED ||
		 contact_state(c) == CONTACT_REFUSED ||
		 (contact_state(c) == CONTACT_ERROR && !slot_of(c))) {
		fail(e, CCPD_ERR_INVALID_STATE, "contact %s is over (%s)", id,
		     contact_state_name(contact_state(c)));
		return NULL;
	}
	return c;
}

static int media_error(struct desk *d, struct desk_err *e, int r)
{
	if (r == -ENOTCONN)
		return fail(e, CCPD_ERR_MEDIA_UNAVAILABLE,
			    "the media stack is %s",
			    media_state_name(media_get_state(d->media)));
	return fail(e, CCPD_ERR_INTERNAL, "media command failed: %s",
		    strerror(-r));
}

static int wrong_state(struct desk_err *e, const struct contact *c,
		       const char *wanted)
{
	return fail(e, CCPD_ERR_INVALID_STATE, "contact %s is %s, not %s",
		    contact_id(c), contact_state_name(contact_state(c)),
		    wanted);
}

int desk_accept(struct desk *d, const char *contact_id_, struct desk_err *e)
{
	struct contact *c = find_live(d, contact_id_, e);
	int r;

	if (!c)
		return e->code;
	if (contact_state(c) != CONTACT_INCOMING)
		return wrong_state(e, c, "incoming");
	r = call_command(d, c, "accept");
	if (r < 0)
		return media_error(d, e, r);
	tmr_cancel(&slot_of(c)->ring_tmr);
	contact_set_state(c, CONTACT_CONNECTING);
	contact_mark(c, "accepted", util_now_ms());
	feed(d, AGENT_IN_ACCEPT, 0, NULL, contact_id(c));
	publish(d, "contact.connecting", c);
	return 0;
}

int desk_reject(struct desk *d, const char *contact_id_, struct desk_err *e)
{
	struct contact *c = find_live(d, contact_id_, e);
	int r;

	if (!c)
		return e->code;
	if (contact_state(c) != CONTACT_INCOMING)
		return wrong_state(e, c, "incoming");
	r = call_command(d, c, "hangup");
	if (r < 0)
		return media_error(d, e, r);
	end_live(d, c, CONTACT_END_REJECTED, CONTACT_BY_AGENT, NULL);
	contact_set_state(c, CONTACT_REJECTED);
	feed(d, AGENT_IN_REJECT, 0, NULL, contact_id(c));
	publish(d, "contact.rejected", c);
	retire(d, c);
	return 0;
}

int desk_hangup(struct desk *d, const char *contact_id_,
		const char *connection_id, struct desk_err *e)
{
	struct contact *c = find_live(d, contact_id_, e);
	char own[40];
	int r;

	if (!c)
		return e->code;
	snprintf(own, sizeof(own), "%s-1", contact_id(c));
	if (connection_id && strcmp(connection_id, own) != 0)
		return fail(e, CCPD_ERR_NOT_FOUND,
			    "contact %s has no connection '%s'",
			    contact_id(c), connection_id);
	switch (contact_state(c)) {
	case CONTACT_INCOMING:
		return desk_reject(d, contact_id_, e);
	case CONTACT_CONNECTING:
	case CONTACT_CONNECTED:
		break;
	case CONTACT_ENDED:
	case CONTACT_MISSED:
	case CONTACT_REJECTED:
	case CONTACT_REFUSED:
	case CONTACT_ERROR:
	case CONTACT_DESTROYED:
		return wrong_state(e, c, "connected or connecting");
	}
	/* an outbound call may not have its Call-ID yet: baresip's current
	 * call is then the one being dialed */
	if (contact_call_id(c))
		r = call_command(d, c, "hangup");
	else
		r = media_command(d->media, NULL, "hangup", NULL, NULL, NULL);
	if (r < 0)
		return media_error(d, e, r);
	to_acw(d, c, CONTACT_END_AGENT_HANGUP, CONTACT_BY_AGENT);
	return 0;
}

int desk_clear(struct desk *d, const char *contact_id_, struct desk_err *e)
{
	struct contact *c = find_live(d, contact_id_, e);

	if (!c)
		return e->code;
	if (contact_state(c) != CONTACT_ENDED &&
	    contact_state(c) != CONTACT_ERROR)
		return wrong_state(e, c, "in after-contact work or failed");
	retire(d, c);
	feed(d, AGENT_IN_CLEAR, 0, NULL, contact_id_);
	return 0;
}

/* ---- dialing ---- */

/* Until the phone-number module lands, a number is dialable in strict
 * E.164 form; common punctuation is dropped first. */
static bool to_e164(const char *in, char *out, size_t size)
{
	size_t n = 0;
	const char *p;

	if (*in != '+')
		return false;
	out[n++] = '+';
	for (p = in + 1; *p; p++) {
		if (strchr(" -.()/", *p))
			continue;
		if (!isdigit((unsigned char)*p) || n + 1 >= size)
			return false;
		out[n++] = *p;
	}
	out[n] = '\0';
	return n >= 8 && n <= 16 && out[1] != '0';
}

static bool valid_sip_uri(const char *s)
{
	const char *p;

	if (strncmp(s, "sip:", 4) != 0 && strncmp(s, "sips:", 5) != 0)
		return false;
	for (p = s; *p; p++)
		if ((unsigned char)*p <= ' ' || *p == '"' || *p == '<' ||
		    *p == '>' || *p == 0x7f)
			return false;
	p = strchr(s, ':') + 1;
	return *p && *p != '@';
}

static int expand_template(const char *tmpl, const char *e164, char *out,
			   size_t size)
{
	size_t n = 0;
	const char *p = tmpl;

	while (*p && n + 1 < size) {
		const char *val = NULL;
		size_t skip = 0;

		if (strncmp(p, "{e164}", 6) == 0) {
			val = e164;
			skip = 6;
		} else if (strncmp(p, "{number}", 8) == 0) {
			val = e164 + 1;
			skip = 8;
		}
		if (val) {
			size_t l = strlen(val);

			if (n + l >= size)
				return -ENAMETOOLONG;
			memcpy(out + n, val, l);
			n += l;
			p += skip;
		} else {
			out[n++] = *p++;
		}
	}
	out[n] = '\0';
	return *p ? -ENAMETOOLONG : 0;
}

static int endpoint_uri(struct desk *d, const char *endpoint, char *uri,
			size_t size, struct desk_err *e)
{
	char e164[20];

	if (strlen(endpoint) > CCPD_MAX_ENDPOINT)
		return fail(e, CCPD_ERR_INVALID_PHONE_NUMBER,
			    "endpoint longer than %d characters",
			    CCPD_MAX_ENDPOINT);
	if (strncmp(endpoint, "sip:", 4) == 0 ||
	    strncmp(endpoint, "sips:", 5) == 0) {
		if (!valid_sip_uri(endpoint))
			return fail(e, CCPD_ERR_INVALID_PHONE_NUMBER,
				    "'%s' is not a valid SIP URI", endpoint);
		snprintf(uri, size, "%s", endpoint);
		return 0;
	}
	if (!to_e164(endpoint, e164, sizeof(e164)))
		return fail(e, CCPD_ERR_INVALID_PHONE_NUMBER,
			    "'%s' is neither a number in E.164 form (+ and 7 "
			    "to 15 digits) nor a sip: URI", endpoint);
	if (!d->conf->dial_template[0])
		return fail(e, CCPD_ERR_INVALID_PHONE_NUMBER,
			    "cannot dial %s: no dial plan is configured "
			    "(set dial_template)", e164);
	if (expand_template(d->conf->dial_template, e164, uri, size) < 0)
		return fail(e, CCPD_ERR_INVALID_PHONE_NUMBER,
			    "the dialed URI would be too long");
	return 0;
}

static void dial_answered(bool ok, const char *data, void *arg)
{
	char *id = arg;
	struct desk *d = *(struct desk **)id;
	struct contact *c = contacts_find(d->contacts, id + sizeof(d));

	if (!ok && c && contact_state(c) == CONTACT_CONNECTING &&
	    !contact_call_id(c)) {
		end_live(d, c, CONTACT_END_FAILED, CONTACT_BY_SYSTEM,
			 data && *data ? data : "dial failed");
		contact_set_state(c, CONTACT_ERROR);
		feed(d, AGENT_IN_DIAL_FAILED, 0, NULL, contact_id(c));
		publish(d, "contact.error", c);
	}
	free(id);
}

int desk_dial(struct desk *d, const char *endpoint, char *out_id,
	      size_t id_size, struct desk_err *e)
{
	char uri[CCPD_MAX_ENDPOINT + 128];
	struct contact *c;
	char *cookie;
	int r;

	r = endpoint_uri(d, endpoint, uri, sizeof(uri), e);
	if (r < 0)
		return r;
	if (media_get_state(d->media) != MEDIA_STATE_UP)
		return media_error(d, e, -ENOTCONN);
	if (agent_get_phase(d->agent) != AGENT_PHASE_IDLE)
		return fail(e, CCPD_ERR_INVALID_STATE,
			    "the agent is %s; finish the current contact "
			    "first", agent_state(d->agent));
	if (agent_state_type(d->agent) == AGENT_TYPE_OFFLINE)
		return fail(e, CCPD_ERR_INVALID_STATE,
			    "the agent is Offline; choose another status to "
			    "dial");
	r = contact_new(d->contacts, &c, CONTACT_OUTBOUND, NULL, uri, NULL,
			util_now_ms());
	if (r < 0 || attach_slot(d, c) < 0)
		return fail(e, CCPD_ERR_INTERNAL, "out of memory");
	/* the answer handler finds the contact by id, not by pointer: the
	 * contact may be gone by then */
	cookie = malloc(sizeof(d) + strlen(contact_id(c)) + 1);
	if (cookie) {
		memcpy(cookie, &d, sizeof(d));
		strcpy(cookie + sizeof(d), contact_id(c));
	}
	r = media_command(d->media, NULL, "dial", uri, dial_answered, cookie);
	if (r < 0) {
		free(cookie);
		contact_set_state(c, CONTACT_ERROR);
		retire(d, c);
		return media_error(d, e, r);
	}
	feed(d, AGENT_IN_DIAL, 0, NULL, contact_id(c));
	publish(d, "contact.connecting", c);
	snprintf(out_id, id_size, "%s", contact_id(c));
	return 0;
}

/* ---- views ---- */

cJSON *desk_states_json(const struct desk *d)
{
	cJSON *a = cJSON_CreateArray();
	size_t i;

	for (i = 0; a && i < agent_status_count(d->agent); i++) {
		cJSON *o = cJSON_CreateObject();

		cJSON_AddStringToObject(o, "name",
					agent_status_name(d->agent, i));
		cJSON_AddStringToObject(o, "type",
			agent_type_name(agent_status_type(d->agent, i)));
		cJSON_AddItemToArray(a, o);
	}
	return a;
}

cJSON *desk_config_json(const struct desk *d)
{
	cJSON *o = cJSON_CreateObject();

	if (!o)
		return NULL;
	/* the desk takes the name of the user logged in at it */
	cJSON_AddStringToObject(o, "name", d->user[0] ? d->user_display
						      : d->conf->sip_user);
	if (d->user[0])
		cJSON_AddStringToObject(o, "username", d->user);
	else
		cJSON_AddNullToObject(o, "username");
	cJSON_AddStringToObject(o, "sipAddress", media_aor(d->media));
	cJSON_AddBoolToObject(o, "softphoneEnabled", true);
	cJSON_AddNullToObject(o, "extension");
	cJSON_AddNumberToObject(o, "ringTimeout", d->conf->ring_timeout);
	cJSON_AddNumberToObject(o, "acwTimeout", d->conf->acw_timeout);
	cJSON_AddItemToObject(o, "states", desk_states_json(d));
	if (d->conf->dial_template[0])
		cJSON_AddStringToObject(o, "dialTemplate",
					d->conf->dial_template);
	else
		cJSON_AddNullToObject(o, "dialTemplate");
	cJSON_AddItemToObject(o, "registration", desk_registration_json(d));
	return o;
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
	/* gone from the history in memory: the store still has it */
	return d->st ? store_contact_get(d->st, events_instance(d->ev), id)
		     : NULL;
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

/* ---- users, statuses, metrics ---- */

void desk_set_actor(struct desk *d, const char *actor)
{
	snprintf(d->actor, sizeof(d->actor), "%s", actor ? actor : "");
}

const char *desk_user(const struct desk *d)
{
	return d->user[0] ? d->user : NULL;
}

bool desk_busy(const struct desk *d)
{
	return contacts_count(d->contacts) > 0;
}

int desk_set_user(struct desk *d, const char *username, const char *display,
		  struct desk_err *e)
{
	const struct contact *c = contacts_first(d->contacts);
	struct desk_err ignored;
	cJSON *data;
	uint64_t now;

	if (str_same(username, d->user[0] ? d->user : NULL))
		return 0;
	if (username && c)
		return fail(e, CCPD_ERR_INVALID_STATE, "contact %s is under "
			    "way at this desk; '%s' can log in once it is "
			    "cleared", contact_id(c), username);
	/* the agent who leaves, or the one who arrives, is not taking calls
	 * until they choose to (during a contact: once it is over) */
	desk_set_status(d, "Offline", &ignored);
	data = cJSON_CreateObject();
	if (data) {
		if (d->user[0])
			cJSON_AddStringToObject(data, "previous", d->user);
		else
			cJSON_AddNullToObject(data, "previous");
	}
	snprintf(d->user, sizeof(d->user), "%s", username ? username : "");
	snprintf(d->user_display, sizeof(d->user_display), "%s",
		 display && *display ? display : d->user);
	if (data) {
		if (username)
			cJSON_AddStringToObject(data, "username", username);
		else
			cJSON_AddNullToObject(data, "username");
	}
	log_info("desk: %s%s", username ? "user now at the desk: " :
		 "no user at the desk any more", username ? username : "");
	now = util_now_ms();
	record(d, "desk.user", now, false, NULL, data);
	cJSON_Delete(data);
	free(d->agent_text);
	d->agent_text = NULL;
	return 0;
}

bool desk_status_in_use(const struct desk *d, const char *name)
{
	const char *next = agent_next(d->agent);

	return strcmp(agent_status(d->agent), name) == 0 ||
	       (next && strcmp(next, name) == 0);
}

static void free_pending(struct desk *d)
{
	size_t i;

	for (i = 0; i < d->n_pending; i++)
		free(d->pending[i]);
	free(d->pending);
	d->pending = NULL;
	d->n_pending = 0;
	d->has_pending = false;
}

/* A new list of statuses means a new state machine. It is built only
 * while the agent is free and in a status they chose, carrying over the
 * status, whether media is up and since when. */
static void apply_pending_statuses(struct desk *d)
{
	struct agent *na;
	uint64_t since = agent_since(d->agent);
	int r;

	if (agent_get_phase(d->agent) != AGENT_PHASE_IDLE ||
	    strcmp(agent_state(d->agent), agent_status(d->agent)) != 0 ||
	    agent_next(d->agent))
		return;
	r = agent_new(&na, (const char *const *)d->pending, d->n_pending,
		      agent_status(d->agent), since);
	if (r < 0) {
		log_error("desk: cannot apply the new statuses: %s",
			  strerror(-r));
		free_pending(d);
		return;
	}
	if (agent_media_up(d->agent))
		agent_input(na, AGENT_IN_MEDIA_UP, 0, since, NULL);
	agent_free(d->agent);
	d->agent = na;
	free(d->agent_text);
	d->agent_text = NULL;
	free_pending(d);
	log_info("desk: the list of statuses changed (%zu custom)",
		 agent_status_count(d->agent) - 2);
}

int desk_set_statuses(struct desk *d, const char *const *names, size_t n)
{
	size_t i;

	free_pending(d);
	d->pending = calloc(n ? n : 1, sizeof(char *));
	if (!d->pending)
		return -ENOMEM;
	for (i = 0; i < n; i++) {
		d->pending[i] = strdup(names[i]);
		if (!d->pending[i]) {
			d->n_pending = i;
			free_pending(d);
			return -ENOMEM;
		}
	}
	d->n_pending = n;
	d->has_pending = true;
	apply_pending_statuses(d);
	return d->has_pending ? 1 : 0;
}

int desk_prometheus(struct desk *d, char **ret)
{
	return metrics_prometheus(d->live, util_now_ms(), ret);
}

cJSON *desk_live_metrics_json(struct desk *d)
{
	return metrics_to_json(d->live, util_now_ms());
}

cJSON *desk_snapshot_json(const struct desk *d)
{
	cJSON *o = cJSON_CreateObject();

	if (!o)
		return NULL;
	cJSON_AddItemToObject(o, "agent", desk_agent_json(d));
	cJSON_AddItemToObject(o, "contacts", desk_contacts_json(d));
	cJSON_AddItemToObject(o, "media", desk_media_json(d));
	cJSON_AddItemToObject(o, "registration", desk_registration_json(d));
	return o;
}

/* ---- life cycle ---- */

/* The custom statuses come from the store; the statuses setting seeds it
 * at the first start and is not read again. */
static int load_statuses(struct desk *d, char ***names, size_t *n)
{
	char seeded[8];
	size_t i;
	int r;

	if (!d->st)
		return conf_split_statuses(d->conf->statuses, names, n);
	if (store_meta_get(d->st, "statuses_seeded", seeded,
			   sizeof(seeded)) == 0)
		return store_status_names(d->st, names, n);
	r = conf_split_statuses(d->conf->statuses, names, n);
	if (r < 0)
		return r;
	r = store_begin(d->st);
	for (i = 0; i < *n && r == 0; i++) {
		cJSON *row = cJSON_CreateObject();

		if (!row) {
			r = -ENOMEM;
			break;
		}
		cJSON_AddStringToObject(row, "name", (*names)[i]);
		r = store_insert(d->st, &store_statuses, row);
		cJSON_Delete(row);
	}
	if (r == 0)
		r = store_meta_set(d->st, "statuses_seeded", "1");
	if (r == 0)
		r = store_commit(d->st);
	if (r < 0) {
		store_rollback(d->st);
		conf_free_statuses(*names, *n);
		return r;
	}
	log_debug("desk: statuses seeded into the store from the setting");
	return 0;
}

int desk_new(struct desk **ret, const struct conf *conf, struct events *ev,
	     struct store *st, desk_ready_h *ready, void *arg)
{
	static const struct media_handlers mh = {
		.event = on_media_event,
		.state = on_media_state,
	};
	struct desk *d = calloc(1, sizeof(*d));
	char **custom = NULL;
	size_t n = 0;
	int r;

	if (!d)
		return -ENOMEM;
	d->conf = conf;
	d->ev = ev;
	d->st = st;
	d->ready_h = ready;
	d->ready_arg = arg;
	r = metrics_new(&d->live, util_now_ms(), UINT64_MAX, NULL);
	if (r < 0)
		goto fail;
	r = load_statuses(d, &custom, &n);
	if (r == 0) {
		r = agent_new(&d->agent, (const char *const *)custom, n,
			      conf->initial_status, util_now_ms());
		if (r == -ENOENT) {
			log_warning("desk: initial_status '%s' is not among "
				    "the statuses in the store; starting "
				    "Offline", conf->initial_status);
			r = agent_new(&d->agent, (const char *const *)custom,
				      n, "Offline", util_now_ms());
		}
		conf_free_statuses(custom, n);
	}
	if (r < 0) {
		log_error("desk: bad statuses '%s' or initial_status '%s': %s",
			  conf->statuses, conf->initial_status,
			  strerror(-r));
		goto fail;
	}
	r = contacts_new(&d->contacts, conf->history_size);
	if (r < 0)
		goto fail;
	r = media_new(&d->media, conf, &mh, d);
	if (r < 0)
		goto fail;
	*ret = d;
	return 0;
fail:
	desk_free(d);
	return r;
}

int desk_start(struct desk *d)
{
	/* the journal marks each run: time before it belongs to no state */
	record(d, "daemon.start", util_now_ms(), false, NULL, NULL);
	return media_start(d->media);
}

void desk_shutdown(struct desk *d)
{
	if (!d)
		return;
	media_shutdown(d->media);
	record(d, "daemon.stop", util_now_ms(), false, NULL, NULL);
}

struct desk *desk_free(struct desk *d)
{
	struct contact *c;

	if (!d)
		return NULL;
	d->media = media_free(d->media);
	if (d->contacts) {
		for (c = contacts_first(d->contacts); c; c = contacts_next(c)) {
			struct slot *s = slot_of(c);

			if (s) {
				tmr_cancel(&s->ring_tmr);
				tmr_cancel(&s->acw_tmr);
				free(s);
				contact_set_user(c, NULL);
			}
		}
	}
	d->contacts = contacts_free(d->contacts);
	d->agent = agent_free(d->agent);
	d->live = metrics_free(d->live);
	free_pending(d);
	free(d->agent_text);
	free(d);
	return NULL;
}
