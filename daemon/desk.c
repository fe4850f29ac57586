/* The agent's desk. Every change goes the same way: feed the state machine,
 * update the contact, tell baresip, then publish events. Actions the agent
 * takes change state at once rather than waiting for baresip's echo, so a
 * client's answer already reflects what it did. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <re.h>

#include "agent.h"
#include "ccpd-protocol.h"
#include "conf.h"
#include "contact.h"
#include "desk.h"
#include "events.h"
#include "focus.h"
#include "jsonrpc.h"
#include "log.h"
#include "media.h"
#include "phone.h"
#include "metrics.h"
#include "sound.h"
#include "store.h"
#include "util.h"

enum reg_state { REG_NONE, REG_REGISTERING, REG_REGISTERED, REG_FAILED };

/* How a transfer in progress is being made. */
enum xfer { XFER_NONE, XFER_REFER, XFER_BRIDGE };

/* What the desk keeps per live contact. */
struct slot {
	struct desk *d;
	char id[24];
	struct tmr ring_tmr;
	struct tmr acw_tmr;
	unsigned active;        /* the connection the agent talks to */
	bool left;              /* the agent left; the parties are bridged */
	bool conference;        /* the parties are joined in ccpd's focus */
	bool audio_failed;      /* baresip's audio device failed (ends it) */
	enum xfer xfer;
	char xfer_target[CCPD_MAX_ENDPOINT + 128];
};

/* A conference: the customer's and the third party's calls, each crossed
 * (aubridge) with a leg from baresip to ccpd's focus, and the agent's own
 * leg to the focus, which mixes the three. One at a time: it outlives its
 * contact when the agent leaves, until one of the parties hangs up. */
enum { LEG_AGENT, LEG_CUSTOMER, LEG_THIRD, LEG_COUNT };

struct meeting {
	struct desk *d;
	char contact[24];
	struct focus_room *room;
	unsigned seq;                   /* names its aubridge devices */
	char *party[2];                 /* the customer's and third's calls */
	char *leg[LEG_COUNT];           /* baresip's calls to the focus */
	bool leg_muted;
	bool left;                      /* the agent left: the two talk on */
	unsigned next_leg;              /* legs are dialed in order */
	struct tmr tmr;
};

static const char *const leg_who[LEG_COUNT] = { "agent", "customer", "third" };
static const enum media_account leg_account[LEG_COUNT] = {
	MEDIA_ACCOUNT_MIX_AGENT, MEDIA_ACCOUNT_MIX_CUSTOMER,
	MEDIA_ACCOUNT_MIX_THIRD,
};

/* The call to the agent's desk phone, serving one contact. */
enum line_state { LINE_IDLE, LINE_RINGING, LINE_UP };

struct line {
	enum line_state state;
	char contact[24];
	char *call_id;
	struct tmr tmr;
	bool move;      /* carries a connected call off the softphone */
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
	bool muted;             /* what the agent asked for; authoritative */
	/* the two calls joined after a leave: when one ends, so does the
	 * other. One bridge at a time (ausrc switches a whole account). */
	char *bridge[2];
	unsigned bridge_seq;
	struct store *st;
	char caller_id[PHONE_E164_MAX];
	/* the region of the user at the desk, from the store ("" for none) */
	char user_region[4];
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
	struct focus *focus;
	struct meeting *mtg;
	/* desk phone mode: agent.setConfiguration softphoneEnabled false */
	bool deskphone;
	char extension[PHONE_E164_MAX];
	char desk_uri[CCPD_MAX_ENDPOINT + 128];
	struct line line;
	/* audio devices: the user's choice (store), those in use */
	struct store_audio chosen;
	char active[3][128];    /* microphone, speaker, ringer; "" default */
	bool audio_known;
	struct tmr audio_tmr;
	struct sound_ring *ring;
	struct sound_test *test;
	uint64_t vu_last[2];    /* tx, rx: the last level event */
	uint64_t mic_heard;     /* the last time the microphone was heard */
	bool mic_silent;        /* said so already */
};

/* National numbers are read in the region of the user at the desk, else
 * the agent's or the instance's setting. */
static const char *desk_region(const struct desk *d)
{
	return d->user_region[0] ? d->user_region : conf_default_region(d->conf);
}

static void update_ringer(struct desk *d);
static void audio_level(struct desk *d, const struct media_event *ev);
static void on_audio_error(struct desk *d, const struct media_event *ev);
static void softphone_failed(struct desk *d, const char *type,
			     const char *message, const struct contact *c,
			     bool call_lost);
static void offer_devices_check(struct desk *d, const struct contact *c);
static void move_event(struct desk *d, const char *status,
		       const char *contact, const char *reason);

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

static void add_str(cJSON *o, const char *k, const char *v)
{
	if (v)
		cJSON_AddStringToObject(o, k, v);
	else
		cJSON_AddNullToObject(o, k);
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
	cJSON_AddBoolToObject(o, "muted", d->muted);
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
	const cJSON *hold = cJSON_GetObjectItemCaseSensitive(contact,
							     "holdDuration");
	struct metrics_row mrow = {
		.time = now, .type = type, .user = row.username,
		.state = row.state, .instance = row.instance,
		.contact_id = contact_id,
		/* integers are raw digits here (jsonrpc_add_int) */
		.hold_ms = cJSON_IsRaw(hold) && hold->valuestring ?
			   strtoull(hold->valuestring, NULL, 10) : 0,
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
	update_ringer(d);
}

/* A contact event with more to say than the contact (data holds it, and
 * is consumed): journaled like every other before it goes out. */
static void publish_data(struct desk *d, const char *type,
			 const struct contact *c, cJSON *data)
{
	uint64_t now = util_now_ms();

	if (!data)
		return;
	if (!cJSON_GetObjectItemCaseSensitive(data, "contact"))
		cJSON_AddItemToObject(data, "contact", contact_to_json(c));
	record(d, type, now, true, contact_id(c), data);
	events_emit_at(d->ev, type, data, now);
}

/* A connection changed state: tell clients which one, who it is, why and
 * who ended it. */
static void conn_change(struct desk *d, struct contact *c, struct conn *k,
			enum conn_state st, const char *reason,
			enum contact_by by)
{
	enum conn_state old;
	cJSON *data;

	if (st == CONN_DISCONNECTED && conn_is_live(k))
		conn_set_end(k, reason, by);
	old = conn_set_state(k, st, util_now_ms());
	if (old == st)
		return;
	log_fields(LOG_INFO, contact_id(c), agent_state(d->agent),
		   "contact: %s connection %s (%s) %s -> %s%s%s", contact_id(c),
		   conn_id(k), conn_party_name(conn_party(k)),
		   conn_state_name(old), conn_state_name(st),
		   reason ? ": " : "", reason ? reason : "");
	data = cJSON_CreateObject();
	if (!data)
		return;
	cJSON_AddStringToObject(data, "contactId", contact_id(c));
	cJSON_AddStringToObject(data, "connectionId", conn_id(k));
	cJSON_AddStringToObject(data, "party", conn_party_name(conn_party(k)));
	cJSON_AddStringToObject(data, "oldState", conn_state_name(old));
	cJSON_AddStringToObject(data, "newState", conn_state_name(st));
	cJSON_AddItemToObject(data, "connection", conn_to_json(k));
	cJSON_AddItemToObject(data, "contact", contact_to_json(c));
	events_emit(d->ev, "connection.stateChange", data);
}

/* Every live connection of the contact ends (the agent's included). */
static void disconnect_all(struct desk *d, struct contact *c,
			   const char *reason, enum contact_by by)
{
	unsigned i;

	for (i = 0; i < contact_conn_count(c); i++) {
		struct conn *k = contact_conn(c, i);

		if (conn_is_live(k))
			conn_change(d, c, k, CONN_DISCONNECTED, reason, by);
	}
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
	s->active = CONN_CUSTOMER_IDX;
	snprintf(s->id, sizeof(s->id), "%s", contact_id(c));
	tmr_init(&s->ring_tmr);
	tmr_init(&s->acw_tmr);
	contact_set_user(c, s);
	return 0;
}

/* The contact leaves the live list: clients drop it on contact.destroyed. */
static void line_release(struct desk *d, const struct contact *c);

static void retire(struct desk *d, struct contact *c)
{
	struct slot *s = slot_of(c);

	line_release(d, c);

	if (s) {
		tmr_cancel(&s->ring_tmr);
		tmr_cancel(&s->acw_tmr);
		free(s);
		contact_set_user(c, NULL);
	}
	/* parties the agent left talking keep talking: the bridge outlives
	 * the contact's place in the live list */
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

static int conn_command(struct desk *d, const struct conn *k,
			const char *cmd, const char *params)
{
	char what[96];

	snprintf(what, sizeof(what), "%s of %s", cmd, conn_id(k));
	if (!conn_call_id(k))
		return -ENOENT;
	return media_command(d->media, conn_call_id(k), cmd, params,
			     log_refusal, strdup(what));
}

/* baresip's mute toggles one call's microphone, and a new call starts
 * unmuted: bring every call the agent speaks on to the agent's choice.
 * Calls of a bridge carry the parties' voices and are never muted. */
static void sync_mute(struct desk *d)
{
	struct meeting *g = d->mtg;
	struct contact *c;
	unsigned i;

	/* in a conference the agent speaks on their own leg to the focus;
	 * the parties' calls carry the room */
	if (g && !g->left && g->leg[LEG_AGENT] && g->leg_muted != d->muted &&
	    media_command(d->media, g->leg[LEG_AGENT], "mute", NULL,
			  log_refusal, strdup("mute of the agent's leg")) == 0)
		g->leg_muted = d->muted;
	for (c = contacts_first(d->contacts); c; c = contacts_next(c)) {
		struct slot *s = slot_of(c);

		for (i = 1; i < contact_conn_count(c); i++) {
			struct conn *k = contact_conn(c, i);
			bool want = d->muted && s && !s->left && !s->conference;

			if (!conn_call_id(k) || !conn_is_live(k) ||
			    conn_state(k) == CONN_CONNECTING ||
			    conn_muted(k) == want)
				continue;
			if (conn_command(d, k, "mute", NULL) == 0)
				conn_set_muted(k, want);
		}
	}
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

static void meeting_end(struct desk *d);

static void to_acw(struct desk *d, struct contact *c, enum contact_end why,
		   enum contact_by by)
{
	struct slot *s = slot_of(c);

	if (d->mtg && !d->mtg->left &&
	    strcmp(d->mtg->contact, contact_id(c)) == 0)
		meeting_end(d);
	line_release(d, c);
	if (!s || !s->left)
		disconnect_all(d, c, contact_end_name(why), by);
	else
		conn_change(d, c, contact_conn(c, CONN_AGENT_IDX),
			    CONN_DISCONNECTED, contact_end_name(why), by);
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
	r = phone_parse(text, desk_region(d), &n, &why);
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

static void on_incoming(struct desk *d, const struct media_event *ev)
{
	enum agent_action act = AGENT_ACT_NONE;
	struct contact *c;
	const char *why;

	if (!ev->call_id || contacts_find_call(d->contacts, ev->call_id))
		return;
	if (contact_new(d->contacts, &c, CONTACT_INBOUND, ev->call_id,
			ev->peer_uri, ev->peer_name, util_now_ms()) < 0 ||
	    attach_slot(d, c) < 0 ||
	    set_customer_number(d, c, ev->peer_uri) < 0) {
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
		offer_devices_check(d, c);
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

static bool on_account(const struct desk *d, const struct media_event *ev,
		       enum media_account acc)
{
	return ev->aor &&
	       strcmp(ev->aor, media_account_aor(d->media, acc)) == 0;
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
	if (on_account(d, ev, MEDIA_ACCOUNT_CONSULT)) {
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

static void leave(struct desk *d, struct contact *c);
static void transfer_failed(struct desk *d, struct contact *c,
			    const char *reason);
static void line_route(struct desk *d, struct contact *c);
static void line_event(struct desk *d, const struct media_event *ev);
static void line_reset(struct desk *d);
static int line_ring(struct desk *d, struct contact *c, struct desk_err *e);
static void meeting_free(struct desk *d);
static void meeting_party_closed(struct desk *d, const char *call_id);
static void meeting_leave(struct desk *d, struct contact *c);
static void meeting_leg_event(struct desk *d, const struct media_event *ev,
			      unsigned leg);

static void on_established(struct desk *d, struct contact *c, struct conn *k)
{
	enum contact_state st = contact_state(c);
	struct slot *s = slot_of(c);

	if (conn_party(k) == PARTY_THIRD_PARTY) {
		if (conn_state(k) != CONN_CONNECTING)
			return;
		conn_change(d, c, k, CONN_CONNECTED, NULL, CONTACT_BY_NONE);
		sync_mute(d);
		line_route(d, c);
		if (s && s->xfer == XFER_BRIDGE) {
			/* a transfer: the agent drops out once the target
			 * answers, and the two parties talk */
			s->xfer = XFER_NONE;
			leave(d, c);
		}
		return;
	}
	if (st != CONTACT_INCOMING && st != CONTACT_CONNECTING)
		return;
	if (s)
		tmr_cancel(&s->ring_tmr);
	contact_set_state(c, CONTACT_CONNECTED);
	contact_mark(c, "connected", util_now_ms());
	conn_change(d, c, contact_conn(c, CONN_AGENT_IDX), CONN_CONNECTED,
		    NULL, CONTACT_BY_NONE);
	conn_change(d, c, k, CONN_CONNECTED, NULL, CONTACT_BY_NONE);
	feed(d, AGENT_IN_CONNECTED, 0, NULL, contact_id(c));
	publish(d, "contact.connected", c);
	sync_mute(d);
	line_route(d, c);
}

/* The other leg of a bridge ends with this one. */
static void bridge_leg_closed(struct desk *d, const char *call_id)
{
	int i;

	for (i = 0; i < 2; i++) {
		if (!d->bridge[i] || strcmp(d->bridge[i], call_id) != 0)
			continue;
		free(d->bridge[i]);
		d->bridge[i] = NULL;
		if (d->bridge[!i]) {
			log_info("desk: bridged call %s ended; hanging up %s",
				 call_id, d->bridge[!i]);
			media_command(d->media, d->bridge[!i], "hangup", NULL,
				      NULL, NULL);
		}
	}
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
	conn_change(d, c, k, CONN_DISCONNECTED,
		    param && *param ? param : "hangup",
		    was_connecting ? CONTACT_BY_SYSTEM : by);
	if (s && s->active == conn_index(k))
		s->active = CONN_CUSTOMER_IDX;
	if (s && was_connecting && s->xfer == XFER_BRIDGE) {
		s->xfer = XFER_NONE;
		transfer_failed(d, c, param && *param ? param : "no answer");
	}
	if (contact_state(c) == CONTACT_CONNECTED &&
	    !contact_live_parties(c))
		to_acw(d, c, by == CONTACT_BY_CUSTOMER ?
		       CONTACT_END_CUSTOMER_HANGUP : CONTACT_END_AGENT_HANGUP,
		       by);
}

/* SRTP that must be used: SDES with the policy required, or DTLS-SRTP,
 * which always encrypts */
static bool srtp_required(const struct conf *conf)
{
	return strcmp(conf->srtp, "dtls") == 0 ||
		(strcmp(conf->srtp, "sdes") == 0 &&
		 strcmp(conf->srtp_policy, "required") == 0);
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
		 "%s)", param, strcmp(d->conf->srtp, "dtls") == 0 ?
		 "DTLS-SRTP" : "SDES SRTP");
	return buf;
}

static void on_closed(struct desk *d, struct contact *c, struct conn *k,
		      const char *param)
{
	struct slot *s = slot_of(c);
	char why[256];

	if (s && s->xfer == XFER_REFER && conn_party(k) == PARTY_CUSTOMER &&
	    param && strstr(param, "transfered")) {
		/* baresip's words for the NOTIFY that says the target
		 * answered */
		cJSON *data = cJSON_CreateObject();

		s->xfer = XFER_NONE;
		if (data) {
			cJSON_AddStringToObject(data, "method", "refer");
			cJSON_AddStringToObject(data, "endpoint",
						s->xfer_target);
			cJSON_AddItemToObject(data, "contact",
					      contact_to_json(c));
			publish_data(d, "contact.transferred", c, data);
		}
		conn_change(d, c, k, CONN_DISCONNECTED, "transferred",
			    CONTACT_BY_AGENT);
		to_acw(d, c, CONTACT_END_TRANSFERRED, CONTACT_BY_AGENT);
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
		param = dial_cause(d, param, why, sizeof(why));
		end_live(d, c, CONTACT_END_FAILED, CONTACT_BY_SYSTEM, param);
		contact_set_state(c, CONTACT_ERROR);
		disconnect_all(d, c, param, CONTACT_BY_SYSTEM);
		feed(d, AGENT_IN_DIAL_FAILED, 0, NULL, contact_id(c));
		publish(d, "contact.error", c);
		return;
	case CONTACT_CONNECTED:
		/* baresip 1.0.0 ends a call whose audio device failed */
		if (s && s->audio_failed)
			to_acw(d, c, CONTACT_END_MEDIA_FAILURE,
			       CONTACT_BY_SYSTEM);
		else
			to_acw(d, c, CONTACT_END_CUSTOMER_HANGUP,
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
	transfer_failed(d, c, param);
	conn_change(d, c, k, CONN_DISCONNECTED, param, CONTACT_BY_SYSTEM);
	if (contact_state(c) == CONTACT_CONNECTED && !contact_live_parties(c))
		to_acw(d, c, CONTACT_END_TRANSFER_FAILED, CONTACT_BY_SYSTEM);
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
	static const enum media_account helpers[] = {
		MEDIA_ACCOUNT_CONSULT, MEDIA_ACCOUNT_IDLE, MEDIA_ACCOUNT_DESK,
		MEDIA_ACCOUNT_MIX_AGENT, MEDIA_ACCOUNT_MIX_CUSTOMER,
		MEDIA_ACCOUNT_MIX_THIRD,
	};
	const char *param = ev->param ? ev->param : "";
	const char *enc = strcmp(d->conf->srtp, "dtls") == 0 ? "DTLS-SRTP"
							    : "SDES SRTP";
	struct contact *c;
	char cause[320];
	size_t i;

	/* a dial that failed before its INVITE went out looks the same */
	if (ev->outgoing)
		return;
	for (i = 0; i < sizeof(helpers) / sizeof(helpers[0]); i++)
		if (on_account(d, ev, helpers[i])) {
			log_notice("desk: baresip refused an offer to %s: %s",
				   ev->aor, param);
			return;
		}
	if (strcmp(param, "No audio codecs") == 0 && srtp_required(d->conf))
		snprintf(cause, sizeof(cause), "488 Not Acceptable Here (SRTP "
			 "required: the caller offered no %s, or no codec in "
			 "common)", enc);
	else if (strcmp(param, "No audio codecs") == 0)
		snprintf(cause, sizeof(cause), "488 Not Acceptable Here (no "
			 "audio codec in common)");
	else if (strcmp(param, "Wrong address family") == 0)
		snprintf(cause, sizeof(cause), "488 Not Acceptable Here (the "
			 "offer's address family is not the one in use here)");
	else
		snprintf(cause, sizeof(cause), "refused by baresip: %s",
			 *param ? param : "no reason given");
	if (contact_new(d->contacts, &c, CONTACT_INBOUND, NULL, ev->peer_uri,
			ev->peer_name, util_now_ms()) < 0 ||
	    set_customer_number(d, c, ev->peer_uri) < 0) {
		log_error("desk: out of memory; baresip refused an offer from "
			  "%s: %s", ev->peer_uri ? ev->peer_uri : "?", cause);
		return;
	}
	log_fields(LOG_WARNING, contact_id(c), agent_state(d->agent),
		   "desk: baresip refused offer %s from %s: %s", contact_id(c),
		   ev->peer_uri ? ev->peer_uri : "?", cause);
	end_live(d, c, CONTACT_END_REFUSED, CONTACT_BY_SYSTEM, cause);
	contact_set_state(c, CONTACT_REFUSED);
	publish(d, "contact.refused", c);
	retire(d, c);
}

static void set_reg(struct desk *d, enum reg_state st, const char *reason);

static void media_event(const struct media_event *ev, void *arg)
{
	struct desk *d = arg;
	struct contact *c = NULL;
	struct conn *k;

	unsigned leg;

	/* the calls to the focus and to the desk phone are no contact's */
	for (leg = 0; leg < LEG_COUNT; leg++)
		if (ev->outgoing && on_account(d, ev, leg_account[leg])) {
			meeting_leg_event(d, ev, leg);
			return;
		}
	if (ev->outgoing && on_account(d, ev, MEDIA_ACCOUNT_DESK)) {
		line_event(d, ev);
		return;
	}
	switch (ev->type) {
	case MEDIA_EV_CALL_INCOMING:
		if (on_account(d, ev, MEDIA_ACCOUNT_CONSULT) ||
		    on_account(d, ev, MEDIA_ACCOUNT_IDLE) ||
		    on_account(d, ev, MEDIA_ACCOUNT_DESK) ||
		    on_account(d, ev, MEDIA_ACCOUNT_MIX_AGENT) ||
		    on_account(d, ev, MEDIA_ACCOUNT_MIX_CUSTOMER) ||
		    on_account(d, ev, MEDIA_ACCOUNT_MIX_THIRD)) {
			/* the helper accounts place calls, never take them */
			media_command(d->media, ev->call_id, "hangup", NULL,
				      NULL, NULL);
			return;
		}
		on_incoming(d, ev);
		return;
	case MEDIA_EV_CALL_RINGING:
	case MEDIA_EV_CALL_PROGRESS:
		(void)find_for_event(d, ev, &c);
		return;
	case MEDIA_EV_CALL_ESTABLISHED:
		k = find_for_event(d, ev, &c);
		if (k)
			on_established(d, c, k);
		return;
	case MEDIA_EV_CALL_CLOSED:
		if (ev->call_id) {
			bridge_leg_closed(d, ev->call_id);
			meeting_party_closed(d, ev->call_id);
		} else {
			on_offer_refused(d, ev);
		}
		k = find_for_event(d, ev, &c);
		if (k)
			on_closed(d, c, k, ev->param);
		return;
	case MEDIA_EV_CALL_TRANSFER_FAILED:
		if (ev->call_id) {
			bridge_leg_closed(d, ev->call_id);
			meeting_party_closed(d, ev->call_id);
		}
		k = find_for_event(d, ev, &c);
		if (k)
			on_transfer_failed(d, c, k, ev->param);
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
	case MEDIA_EV_VU_TX:
	case MEDIA_EV_VU_RX:
		audio_level(d, ev);
		return;
	case MEDIA_EV_AUDIO_ERROR:
		on_audio_error(d, ev);
		return;
	case MEDIA_EV_UNREGISTERING:
	case MEDIA_EV_CALL_TRANSFER:
	case MEDIA_EV_CALL_DTMF_START:
	case MEDIA_EV_CALL_DTMF_END:
	case MEDIA_EV_OTHER:
		return;
	}
}

static void on_media_event(const struct media_event *ev, void *arg)
{
	struct desk *d = arg;

	media_event(ev, arg);
	if (ev->type != MEDIA_EV_VU_TX && ev->type != MEDIA_EV_VU_RX)
		update_ringer(d);
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
		disconnect_all(d, c, "media_failure", CONTACT_BY_SYSTEM);
		publish(d, "contact.error", c);
		retire(d, c);
	}
	free(d->bridge[0]);
	free(d->bridge[1]);
	d->bridge[0] = d->bridge[1] = NULL;
	meeting_free(d);
	line_reset(d);
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
	/* with a desk phone the customer is answered once it answers */
	if (d->deskphone)
		r = line_ring(d, c, e);
	else
		r = call_command(d, c, "accept");
	if (r < 0)
		return d->deskphone ? r : media_error(d, e, r);
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

/* Hang up one party's call. A third party still being dialed has no
 * Call-ID yet: it is the consult account's current call. */
static int hangup_conn(struct desk *d, struct conn *k)
{
	if (conn_call_id(k))
		return conn_command(d, k, "hangup", NULL);
	return media_command_ua(d->media, conn_party(k) == PARTY_CUSTOMER ?
				MEDIA_ACCOUNT_DIALED : MEDIA_ACCOUNT_CONSULT,
				"hangup", NULL, NULL, NULL);
}

static struct conn *find_conn(struct contact *c, const char *id,
			      struct desk_err *e)
{
	struct conn *k = contact_conn_find(c, id);

	if (!k)
		fail(e, CCPD_ERR_NOT_FOUND, "contact %s has no connection '%s'",
		     contact_id(c), id);
	return k;
}

int desk_hangup(struct desk *d, const char *contact_id_,
		const char *connection_id, struct desk_err *e)
{
	struct contact *c = find_live(d, contact_id_, e);
	struct conn *k = NULL;
	int r;

	if (!c)
		return e->code;
	if (connection_id && !(k = find_conn(c, connection_id, e)))
		return e->code;
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
	if (k && !conn_is_live(k))
		return fail(e, CCPD_ERR_INVALID_STATE,
			    "connection %s is already disconnected",
			    conn_id(k));
	/* the agent's own connection with two parties on: leave */
	if ((!k || conn_party(k) == PARTY_AGENT) &&
	    contact_live_parties(c) > 1 && slot_of(c)->conference &&
	    d->mtg) {
		if (media_get_state(d->media) != MEDIA_STATE_UP)
			return media_error(d, e, -ENOTCONN);
		meeting_leave(d, c);
		return 0;
	}
	if ((!k || conn_party(k) == PARTY_AGENT) &&
	    contact_live_parties(c) > 1) {
		if (d->bridge[0] || d->bridge[1] || d->mtg)
			return fail(e, CCPD_ERR_INVALID_STATE,
				    "the parties of an earlier contact are "
				    "still bridged; hang up instead");
		for (unsigned i = 1; i < contact_conn_count(c); i++)
			if (conn_state(contact_conn(c, i)) == CONN_CONNECTING)
				return fail(e, CCPD_ERR_INVALID_STATE,
					    "connection %s is still connecting",
					    conn_id(contact_conn(c, i)));
		if (media_get_state(d->media) != MEDIA_STATE_UP)
			return media_error(d, e, -ENOTCONN);
		leave(d, c);
		return 0;
	}
	/* one party among several: only that one goes */
	if (k && conn_party(k) != PARTY_AGENT && contact_live_parties(c) > 1) {
		r = hangup_conn(d, k);
		if (r < 0)
			return media_error(d, e, r);
		conn_change(d, c, k, CONN_DISCONNECTED, "agent_hangup",
			    CONTACT_BY_AGENT);
		if (slot_of(c) && slot_of(c)->active == conn_index(k))
			slot_of(c)->active = CONN_CUSTOMER_IDX;
		return 0;
	}
	if (!k || conn_party(k) == PARTY_AGENT) {
		unsigned i;

		/* the one party left, whichever it is */
		for (i = 1; i < contact_conn_count(c); i++)
			if (conn_is_live(contact_conn(c, i)))
				k = contact_conn(c, i);
	}
	if (!k || conn_party(k) == PARTY_AGENT)
		k = contact_conn(c, CONN_CUSTOMER_IDX);
	r = hangup_conn(d, k);
	if (r < 0)
		return media_error(d, e, r);
	to_acw(d, c, CONTACT_END_AGENT_HANGUP, CONTACT_BY_AGENT);
	return 0;
}

/* ---- call control ---- */

/* The connection an action on a party applies to: the one named, else
 * the one the agent talks to. */
static struct conn *party_conn(struct desk *d, struct contact *c,
			       const char *connection_id, struct desk_err *e)
{
	struct conn *k;

	(void)d;
	if (connection_id) {
		k = find_conn(c, connection_id, e);
		if (k && conn_party(k) == PARTY_AGENT) {
			fail(e, CCPD_ERR_INVALID_STATE, "%s is the agent's own "
			     "connection; name a party's", conn_id(k));
			return NULL;
		}
		return k;
	}
	k = contact_conn(c, slot_of(c) ? slot_of(c)->active :
			 CONN_CUSTOMER_IDX);
	if (!k)
		k = contact_conn(c, CONN_CUSTOMER_IDX);
	return k;
}

static struct contact *find_connected(struct desk *d, const char *id,
				      struct desk_err *e)
{
	struct contact *c = find_live(d, id, e);

	if (c && (contact_state(c) != CONTACT_CONNECTED || !slot_of(c) ||
		  slot_of(c)->left)) {
		wrong_state(e, c, "connected");
		return NULL;
	}
	return c;
}

int desk_hold(struct desk *d, const char *contact_id_,
	      const char *connection_id, struct desk_err *e)
{
	struct contact *c = find_connected(d, contact_id_, e);
	struct conn *k;
	int r;

	if (!c || !(k = party_conn(d, c, connection_id, e)))
		return e->code;
	if (conn_state(k) == CONN_HOLD)
		return 0;
	if (conn_state(k) != CONN_CONNECTED)
		return fail(e, CCPD_ERR_INVALID_STATE,
			    "connection %s is %s, not connected", conn_id(k),
			    conn_state_name(conn_state(k)));
	r = conn_command(d, k, "hold", NULL);
	if (r < 0)
		return media_error(d, e, r);
	conn_change(d, c, k, CONN_HOLD, "agent", CONTACT_BY_NONE);
	return 0;
}

int desk_resume(struct desk *d, const char *contact_id_,
		const char *connection_id, struct desk_err *e)
{
	struct contact *c = find_connected(d, contact_id_, e);
	struct conn *k;
	unsigned i;
	int r;

	if (!c || !(k = party_conn(d, c, connection_id, e)))
		return e->code;
	if (conn_state(k) == CONN_CONNECTED)
		return 0;
	if (conn_state(k) != CONN_HOLD)
		return fail(e, CCPD_ERR_INVALID_STATE,
			    "connection %s is %s, not on hold", conn_id(k),
			    conn_state_name(conn_state(k)));
	/* outside a conference the agent talks to one party at a time */
	for (i = 1; i < contact_conn_count(c) && !slot_of(c)->conference;
	     i++) {
		struct conn *o = contact_conn(c, i);

		if (o != k && conn_state(o) == CONN_CONNECTED)
			return fail(e, CCPD_ERR_INVALID_STATE,
				    "the agent is talking with %s; hold it or "
				    "swap (contact.toggleActiveConnections)",
				    conn_id(o));
	}
	r = conn_command(d, k, "resume", NULL);
	if (r < 0)
		return media_error(d, e, r);
	slot_of(c)->active = conn_index(k);
	conn_change(d, c, k, CONN_CONNECTED, "agent", CONTACT_BY_NONE);
	sync_mute(d);
	line_route(d, c);
	return 0;
}

int desk_swap(struct desk *d, const char *contact_id_, struct desk_err *e)
{
	struct contact *c = find_connected(d, contact_id_, e);
	struct conn *on = NULL, *held = NULL;
	unsigned i;
	int r;

	if (!c)
		return e->code;
	for (i = 1; i < contact_conn_count(c); i++) {
		struct conn *k = contact_conn(c, i);

		if (conn_state(k) == CONN_CONNECTED)
			on = k;
		else if (conn_state(k) == CONN_HOLD)
			held = k;
	}
	if (!on || !held)
		return fail(e, CCPD_ERR_INVALID_STATE,
			    "contact %s has no connected and held party to "
			    "swap between", contact_id(c));
	r = conn_command(d, on, "hold", NULL);
	if (r == 0)
		r = conn_command(d, held, "resume", NULL);
	if (r < 0)
		return media_error(d, e, r);
	conn_change(d, c, on, CONN_HOLD, "swap", CONTACT_BY_NONE);
	conn_change(d, c, held, CONN_CONNECTED, "swap", CONTACT_BY_NONE);
	slot_of(c)->active = conn_index(held);
	sync_mute(d);
	line_route(d, c);
	return 0;
}

int desk_set_mute(struct desk *d, bool muted, struct desk_err *e)
{
	cJSON *data;

	(void)e;
	if (d->muted == muted)
		return 0;
	d->muted = muted;
	free(d->agent_text);
	d->agent_text = NULL;
	sync_mute(d);
	log_info("agent: %s", muted ? "muted" : "unmuted");
	data = cJSON_CreateObject();
	if (data) {
		cJSON_AddBoolToObject(data, "muted", muted);
		cJSON_AddItemToObject(data, "agent", desk_agent_json(d));
		events_emit(d->ev, "agent.muteToggle", data);
	}
	return 0;
}

int desk_send_digits(struct desk *d, const char *contact_id_,
		     const char *connection_id, const char *digits,
		     struct desk_err *e)
{
	struct contact *c = find_connected(d, contact_id_, e);
	struct conn *k;
	const char *p;
	char one[2] = "";
	int r = 0;

	if (!c || !(k = party_conn(d, c, connection_id, e)))
		return e->code;
	if (conn_state(k) != CONN_CONNECTED)
		return fail(e, CCPD_ERR_INVALID_STATE,
			    "connection %s is %s, not connected", conn_id(k),
			    conn_state_name(conn_state(k)));
	/* one sndcode per digit: each is a press and a release, queued by
	 * baresip's telephone-event sender in order */
	for (p = digits; *p && r == 0; p++) {
		one[0] = *p;
		r = conn_command(d, k, "sndcode", one);
	}
	if (r < 0)
		return media_error(d, e, r);
	log_fields(LOG_INFO, contact_id(c), NULL, "contact: %s sent %zu "
		   "digits on %s", contact_id(c), strlen(digits), conn_id(k));
	return 0;
}

static int endpoint_uri(struct desk *d, const char *endpoint, char *uri,
			size_t size, char *e164, size_t e164_size,
			struct desk_err *e);

/* Dial a third party from the consult account, with the customer held. */
static int dial_third(struct desk *d, struct contact *c, const char *uri,
		      struct conn **ret, struct desk_err *e)
{
	struct conn *cust = contact_conn(c, CONN_CUSTOMER_IDX), *k;
	int r;

	if (contact_live_parties(c) > 1)
		return fail(e, CCPD_ERR_INVALID_STATE,
			    "contact %s already has a third party",
			    contact_id(c));
	if (!conn_is_live(cust))
		return fail(e, CCPD_ERR_INVALID_STATE,
			    "the customer of %s has left", contact_id(c));
	if (media_get_state(d->media) != MEDIA_STATE_UP)
		return media_error(d, e, -ENOTCONN);
	r = contact_add_third(c, uri, &k);
	if (r == -E2BIG)
		return fail(e, CCPD_ERR_INVALID_STATE, "contact %s has had as "
			    "many connections as it may (%d)", contact_id(c),
			    CONTACT_MAX_CONNS);
	if (r < 0)
		return fail(e, CCPD_ERR_INTERNAL, "out of memory");
	if (conn_state(cust) == CONN_CONNECTED) {
		r = conn_command(d, cust, "hold", NULL);
		if (r < 0)
			goto media_failed;
		conn_change(d, c, cust, CONN_HOLD, "consult", CONTACT_BY_NONE);
	}
	r = media_command_ua(d->media, MEDIA_ACCOUNT_CONSULT, "dial", uri,
			     log_refusal, strdup("dial of a third party"));
	if (r < 0)
		goto media_failed;
	slot_of(c)->active = conn_index(k);
	conn_change(d, c, k, CONN_CONNECTING, NULL, CONTACT_BY_NONE);
	/* conn_change only speaks of changes: a new one starts connecting */
	{
		cJSON *data = cJSON_CreateObject();

		if (data) {
			cJSON_AddStringToObject(data, "contactId",
						contact_id(c));
			cJSON_AddStringToObject(data, "connectionId",
						conn_id(k));
			cJSON_AddStringToObject(data, "party", "thirdParty");
			cJSON_AddNullToObject(data, "oldState");
			cJSON_AddStringToObject(data, "newState",
						"connecting");
			cJSON_AddItemToObject(data, "connection",
					      conn_to_json(k));
			cJSON_AddItemToObject(data, "contact",
					      contact_to_json(c));
			events_emit(d->ev, "connection.stateChange", data);
		}
	}
	*ret = k;
	return 0;
media_failed:
	conn_set_state(k, CONN_DISCONNECTED, util_now_ms());
	conn_set_end(k, "media unavailable", CONTACT_BY_SYSTEM);
	return media_error(d, e, r);
}

int desk_add_connection(struct desk *d, const char *contact_id_,
			const char *endpoint, char *conn_id_out,
			size_t size, struct desk_err *e)
{
	char uri[CCPD_MAX_ENDPOINT + 128], e164[PHONE_E164_MAX];
	struct contact *c = find_connected(d, contact_id_, e);
	struct conn *k;
	int r;

	if (!c)
		return e->code;
	r = endpoint_uri(d, endpoint, uri, sizeof(uri), e164, sizeof(e164),
			 e);
	if (r < 0)
		return r;
	r = dial_third(d, c, uri, &k, e);
	if (r < 0)
		return r;
	snprintf(conn_id_out, size, "%s", conn_id(k));
	return 0;
}

static void transfer_failed(struct desk *d, struct contact *c,
			    const char *reason)
{
	struct slot *s = slot_of(c);
	cJSON *data = cJSON_CreateObject();

	log_fields(LOG_NOTICE, contact_id(c), agent_state(d->agent),
		   "contact: %s transfer to %s failed: %s", contact_id(c),
		   s ? s->xfer_target : "?", reason ? reason : "?");
	if (!data)
		return;
	add_str(data, "endpoint", s ? s->xfer_target : NULL);
	add_str(data, "reason", reason);
	cJSON_AddItemToObject(data, "contact", contact_to_json(c));
	publish_data(d, "contact.transferFailed", c, data);
}

/* The agent drops out and the two parties are joined: their calls'
 * audio crosses through aubridge devices, both off hold and unmuted. */
static void leave(struct desk *d, struct contact *c)
{
	struct slot *s = slot_of(c);
	char name[48];
	unsigned i, n = 0;
	cJSON *data;

	snprintf(name, sizeof(name), "ccpd-bridge-%u", ++d->bridge_seq);
	if (media_bridge(d->media, name,
			 conn_call_id(contact_conn(c, CONN_CUSTOMER_IDX))) < 0)
		log_warning("desk: could not bridge the parties of %s",
			    contact_id(c));
	s->left = true;
	for (i = 1; i < contact_conn_count(c); i++) {
		struct conn *k = contact_conn(c, i);

		if (!conn_is_live(k))
			continue;
		if (n < 2) {
			free(d->bridge[n]);
			d->bridge[n++] = conn_call_id(k) ?
				strdup(conn_call_id(k)) : NULL;
		}
		if (conn_state(k) == CONN_HOLD &&
		    conn_command(d, k, "resume", NULL) == 0)
			conn_change(d, c, k, CONN_CONNECTED, "bridged",
				    CONTACT_BY_NONE);
	}
	sync_mute(d);
	data = cJSON_CreateObject();
	if (data) {
		cJSON_AddStringToObject(data, "method", "bridge");
		add_str(data, "endpoint", s->xfer_target[0] ?
			s->xfer_target : NULL);
		cJSON_AddItemToObject(data, "contact", contact_to_json(c));
		publish_data(d, "contact.transferred", c, data);
	}
	to_acw(d, c, CONTACT_END_TRANSFERRED, CONTACT_BY_AGENT);
}

int desk_transfer(struct desk *d, const char *contact_id_,
		  const char *endpoint, const char *method,
		  struct desk_err *e)
{
	char uri[CCPD_MAX_ENDPOINT + 128], e164[PHONE_E164_MAX];
	struct contact *c = find_connected(d, contact_id_, e);
	struct conn *cust, *k;
	bool refer;
	int r;

	if (!c)
		return e->code;
	if (!method)
		method = d->conf->transfer_method;
	if (strcmp(method, "refer") != 0 && strcmp(method, "bridge") != 0)
		return fail(e, CCPD_ERR_INVALID_PARAMS, "\"method\" must be "
			    "\"refer\" or \"bridge\", not \"%s\"", method);
	refer = strcmp(method, "refer") == 0;
	r = endpoint_uri(d, endpoint, uri, sizeof(uri), e164, sizeof(e164),
			 e);
	if (r < 0)
		return r;
	if (slot_of(c)->xfer != XFER_NONE)
		return fail(e, CCPD_ERR_INVALID_STATE,
			    "a transfer of %s is already under way",
			    contact_id(c));
	cust = contact_conn(c, CONN_CUSTOMER_IDX);
	if (!conn_is_live(cust) || contact_live_parties(c) > 1)
		return fail(e, CCPD_ERR_INVALID_STATE, "contact %s must have "
			    "the customer alone on it to transfer; to hand "
			    "over a consult, leave (connection.destroy)",
			    contact_id(c));
	if (!refer && (d->bridge[0] || d->bridge[1]))
		return fail(e, CCPD_ERR_INVALID_STATE,
			    "the parties of an earlier contact are still "
			    "bridged; use \"method\": \"refer\"");
	snprintf(slot_of(c)->xfer_target, sizeof(slot_of(c)->xfer_target),
		 "%s", uri);
	if (refer) {
		r = conn_command(d, cust, "transfer", uri);
		if (r < 0)
			return media_error(d, e, r);
		slot_of(c)->xfer = XFER_REFER;
	} else {
		r = dial_third(d, c, uri, &k, e);
		if (r < 0)
			return r;
		slot_of(c)->xfer = XFER_BRIDGE;
	}
	log_fields(LOG_INFO, contact_id(c), NULL, "contact: %s transfer to %s "
		   "by %s", contact_id(c), uri, method);
	return 0;
}


/* ---- conference ---- */


static bool line_serves(const struct desk *d, const struct contact *c)
{
	return d->line.state != LINE_IDLE &&
	       strcmp(d->line.contact, contact_id(c)) == 0;
}

static void meeting_free(struct desk *d)
{
	struct meeting *g = d->mtg;
	int i;

	if (!g)
		return;
	tmr_cancel(&g->tmr);
	/* the focus hangs up its members: baresip closes the legs */
	g->room = focus_room_free(g->room);
	for (i = 0; i < 2; i++)
		free(g->party[i]);
	for (i = 0; i < LEG_COUNT; i++)
		free(g->leg[i]);
	free(g);
	d->mtg = NULL;
}

/* The conference ends while its contact goes on (or ends): the legs go,
 * and a party still on talks to the agent's own devices again. */
static void meeting_end(struct desk *d)
{
	struct meeting *g = d->mtg;
	struct contact *c;
	struct slot *s;
	int i;

	if (!g)
		return;
	c = contacts_find(d->contacts, g->contact);
	s = c ? slot_of(c) : NULL;
	if (s)
		s->conference = false;
	for (i = 0; i < 2; i++)
		if (g->party[i] && c && contact_is_live(c))
			(void)media_call_devices(d->media, g->party[i], NULL,
						 NULL);
	log_fields(LOG_INFO, g->contact, NULL, "contact: %s conference ended",
		   g->contact);
	meeting_free(d);
}

static void line_route(struct desk *d, struct contact *c);

/* Dial one leg to the focus. The party's account gets devices crossed
 * with the leg's, so the party hears the room and the room hears them;
 * the agent's leg takes the agent's own devices (or, with a desk phone,
 * is crossed with the desk phone's call). */
static int meeting_dial(struct desk *d, unsigned leg)
{
	struct meeting *g = d->mtg;
	char uri[256], ab[96], ba[96];
	const char *party = NULL;
	int r;

	if (focus_room_uri(g->room, leg_who[leg], uri, sizeof(uri)) < 0)
		return -ENAMETOOLONG;
	snprintf(ab, sizeof(ab), "aubridge,ccpd-mix-%u-%s-ab", g->seq,
		 leg_who[leg]);
	snprintf(ba, sizeof(ba), "aubridge,ccpd-mix-%u-%s-ba", g->seq,
		 leg_who[leg]);
	if (leg == LEG_AGENT)
		party = d->line.state == LINE_UP &&
			strcmp(d->line.contact, g->contact) == 0 ?
			d->line.call_id : NULL;
	else
		party = g->party[leg - 1];
	if (!party)
		return media_dial_from(d->media, leg_account[leg], NULL, NULL,
				       uri, log_refusal,
				       strdup("dial of the agent's leg"));
	r = media_call_devices(d->media, party, ba, ab);
	if (r == 0)
		r = media_dial_from(d->media, leg_account[leg], ab, ba, uri,
				    log_refusal, strdup("dial of a leg"));
	return r;
}

/* Bring one party into the room: its leg, then off hold. */
static void meeting_step(struct desk *d)
{
	struct meeting *g = d->mtg;
	struct contact *c = g ? contacts_find(d->contacts, g->contact) : NULL;
	unsigned leg;

	if (!g || g->next_leg >= LEG_COUNT)
		return;
	leg = g->next_leg++;
	if (meeting_dial(d, leg) < 0)
		log_warning("desk: could not dial the %s's leg of the "
			    "conference", leg_who[leg]);
	if (leg != LEG_AGENT && c) {
		struct conn *k = contact_conn(c, leg == LEG_CUSTOMER ?
					      CONN_CUSTOMER_IDX :
					      CONN_CUSTOMER_IDX + 1);
		unsigned i;

		/* the third party's connection is the last live one */
		if (leg == LEG_THIRD)
			for (i = 2; i < contact_conn_count(c); i++)
				if (conn_is_live(contact_conn(c, i)))
					k = contact_conn(c, i);
		if (k && conn_state(k) == CONN_HOLD &&
		    conn_command(d, k, "resume", NULL) == 0)
			conn_change(d, c, k, CONN_CONNECTED, "conference",
				    CONTACT_BY_NONE);
	}
}

/* A little past the start of the next second of the wall clock. */
static uint64_t next_second_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return 1000 - (uint64_t)ts.tv_nsec / 1000000 + 150;
}

/* sndfile names its recordings by the second a call's audio starts: with
 * snd_path set, legs starting in the same second would write one file.
 * The legs then start a second apart. */
static void meeting_next(void *arg)
{
	struct desk *d = arg;

	meeting_step(d);
	if (!d->mtg || d->mtg->next_leg >= LEG_COUNT)
		return;
	tmr_start(&d->mtg->tmr, next_second_ms(), meeting_next, d);
}

static int meeting_start(struct desk *d, struct contact *c,
			 struct conn *third, struct desk_err *e)
{
	struct meeting *g = calloc(1, sizeof(*g));
	int r;

	if (!g)
		return fail(e, CCPD_ERR_INTERNAL, "out of memory");
	g->d = d;
	tmr_init(&g->tmr);
	snprintf(g->contact, sizeof(g->contact), "%s", contact_id(c));
	g->seq = ++d->bridge_seq;
	g->party[0] = strdup(conn_call_id(contact_conn(c, CONN_CUSTOMER_IDX)));
	g->party[1] = strdup(conn_call_id(third));
	r = focus_room_new(d->focus, &g->room);
	if (r < 0 || !g->party[0] || !g->party[1]) {
		d->mtg = g;
		meeting_free(d);
		return fail(e, CCPD_ERR_INTERNAL, "cannot open a conference "
			    "room: %s", strerror(r < 0 ? -r : ENOMEM));
	}
	d->mtg = g;
	slot_of(c)->conference = true;
	if (*d->conf->snd_path) {
		meeting_next(d);
	} else {
		meeting_step(d);
		meeting_step(d);
		meeting_step(d);
	}
	sync_mute(d);
	log_fields(LOG_INFO, contact_id(c), NULL, "contact: %s conference "
		   "of the agent, %s and %s", contact_id(c),
		   conn_id(contact_conn(c, CONN_CUSTOMER_IDX)), conn_id(third));
	return 0;
}

/* baresip's events about the legs. */
static void meeting_leg_event(struct desk *d, const struct media_event *ev,
			      unsigned leg)
{
	struct meeting *g = d->mtg;

	if (!g || !ev->call_id)
		return;
	/* a leg learns its Call-ID from its answer: late reports about the
	 * legs of an earlier conference must not be taken for it */
	if (!g->leg[leg] && (ev->type == MEDIA_EV_CALL_RINGING ||
			     ev->type == MEDIA_EV_CALL_PROGRESS ||
			     ev->type == MEDIA_EV_CALL_ESTABLISHED))
		g->leg[leg] = strdup(ev->call_id);
	if (!g->leg[leg] || strcmp(g->leg[leg], ev->call_id) != 0)
		return;
	switch (ev->type) {
	case MEDIA_EV_CALL_ESTABLISHED:
		if (leg == LEG_AGENT) {
			g->leg_muted = false;
			sync_mute(d);
		}
		return;
	case MEDIA_EV_CALL_CLOSED:
		free(g->leg[leg]);
		g->leg[leg] = NULL;
		if (!g->left && leg != LEG_AGENT)
			log_warning("desk: the %s's leg of the conference "
				    "closed (%s)", leg_who[leg],
				    ev->param ? ev->param : "?");
		return;
	case MEDIA_EV_CALL_INCOMING:
	case MEDIA_EV_CALL_RINGING:
	case MEDIA_EV_CALL_PROGRESS:
	case MEDIA_EV_CALL_TRANSFER:
	case MEDIA_EV_CALL_TRANSFER_FAILED:
	case MEDIA_EV_CALL_DTMF_START:
	case MEDIA_EV_CALL_DTMF_END:
	case MEDIA_EV_REGISTERING:
	case MEDIA_EV_REGISTER_OK:
	case MEDIA_EV_REGISTER_FAIL:
	case MEDIA_EV_UNREGISTERING:
	case MEDIA_EV_VU_TX:
	case MEDIA_EV_VU_RX:
	case MEDIA_EV_AUDIO_ERROR:
	case MEDIA_EV_OTHER:
		return;
	}
}

/* A party of the conference hung up. With the agent gone, the other
 * party's call goes too; with the agent on, the conference ends and the
 * contact goes on with the one left. */
static void meeting_party_closed(struct desk *d, const char *call_id)
{
	struct meeting *g = d->mtg;
	struct contact *c;
	int i, other;

	if (!g)
		return;
	for (i = 0; i < 2; i++)
		if (g->party[i] && strcmp(g->party[i], call_id) == 0)
			break;
	if (i == 2)
		return;
	other = !i;
	if (g->left) {
		log_info("desk: conference party %s hung up; hanging up %s",
			 call_id, g->party[other] ? g->party[other] : "-");
		if (g->party[other])
			media_command(d->media, g->party[other], "hangup",
				      NULL, NULL, NULL);
		meeting_free(d);
		return;
	}
	free(g->party[i]);
	g->party[i] = NULL;
	c = contacts_find(d->contacts, g->contact);
	meeting_end(d);
	if (c && slot_of(c)) {
		unsigned k;

		/* the agent now talks to the one left */
		for (k = 1; k < contact_conn_count(c); k++) {
			struct conn *o = contact_conn(c, k);

			if (conn_is_live(o) && conn_call_id(o) &&
			    strcmp(conn_call_id(o), call_id) != 0)
				slot_of(c)->active = k;
		}
		line_route(d, c);
	}
}

/* The agent leaves a conference: their leg goes, the room stays with the
 * two parties, who keep hearing each other. */
static void meeting_leave(struct desk *d, struct contact *c)
{
	struct meeting *g = d->mtg;
	struct slot *s = slot_of(c);
	cJSON *data;

	if (g->leg[LEG_AGENT])
		media_command(d->media, g->leg[LEG_AGENT], "hangup", NULL,
			      NULL, NULL);
	else
		media_command_ua(d->media, MEDIA_ACCOUNT_MIX_AGENT, "hangup",
				 NULL, NULL, NULL);
	g->left = true;
	s->left = true;
	data = cJSON_CreateObject();
	if (data) {
		cJSON_AddStringToObject(data, "method", "conference");
		cJSON_AddNullToObject(data, "endpoint");
		cJSON_AddItemToObject(data, "contact", contact_to_json(c));
		events_emit(d->ev, "contact.transferred", data);
	}
	to_acw(d, c, CONTACT_END_TRANSFERRED, CONTACT_BY_AGENT);
}

/* ---- desk phone ---- */

static void line_reset(struct desk *d)
{
	tmr_cancel(&d->line.tmr);
	free(d->line.call_id);
	d->line.call_id = NULL;
	d->line.contact[0] = '\0';
	d->line.state = LINE_IDLE;
	d->line.move = false;
}

static void line_hangup(struct desk *d)
{
	if (d->line.call_id)
		media_command(d->media, d->line.call_id, "hangup", NULL, NULL,
			      NULL);
	else
		media_command_ua(d->media, MEDIA_ACCOUNT_DESK, "hangup", NULL,
				 NULL, NULL);
}

/* The contact no longer needs the desk phone. */
static void line_release(struct desk *d, const struct contact *c)
{
	if (!line_serves(d, c))
		return;
	if (media_get_state(d->media) == MEDIA_STATE_UP)
		line_hangup(d);
	line_reset(d);
}

/* The desk phone hears, and speaks to, the party the agent talks to. */
static void line_route(struct desk *d, struct contact *c)
{
	struct slot *s = slot_of(c);
	struct conn *k;
	char name[48];

	if (!s || s->left || s->conference || d->line.state != LINE_UP ||
	    !line_serves(d, c) || !d->line.call_id)
		return;
	k = contact_conn(c, s->active);
	if (!k || !conn_call_id(k) || !conn_is_live(k) ||
	    conn_state(k) == CONN_CONNECTING)
		return;
	snprintf(name, sizeof(name), "ccpd-desk-%u", ++d->bridge_seq);
	if (media_pair_calls(d->media, name, conn_call_id(k),
			     d->line.call_id) < 0)
		log_warning("desk: could not connect the desk phone to %s",
			    conn_id(k));
}

static void ring_expired(void *arg);

/* The desk phone did not answer: the offer rings on, and the agent is in
 * FailedConnectAgent until they accept again, reject, or it rings out. */
static void line_failed(struct desk *d, const char *reason)
{
	struct contact *c = contacts_find(d->contacts, d->line.contact);
	struct slot *s = c ? slot_of(c) : NULL;
	bool move = d->line.move;

	line_reset(d);
	if (move) {
		/* the call stays on the softphone, and the agent with it */
		log_fields(LOG_NOTICE, c ? contact_id(c) : NULL, NULL,
			   "desk: the desk phone %s did not answer; the call "
			   "stays on the softphone: %s", d->extension, reason);
		move_event(d, "failed", c ? contact_id(c) : NULL, reason);
		return;
	}
	if (!c || !s)
		return;
	log_fields(LOG_NOTICE, contact_id(c), NULL, "desk: the desk phone "
		   "%s did not answer for %s: %s", d->extension, contact_id(c),
		   reason);
	if (contact_state(c) == CONTACT_CONNECTING &&
	    contact_dir(c) == CONTACT_INBOUND) {
		contact_set_state(c, CONTACT_INCOMING);
		feed(d, AGENT_IN_AGENT_FAILED, 0, NULL, contact_id(c));
		tmr_start(&s->ring_tmr, d->conf->ring_timeout * 1000ULL,
			  ring_expired, s);
		publish(d, "contact.incoming", c);
	} else if (contact_state(c) == CONTACT_CONNECTING) {
		end_live(d, c, CONTACT_END_FAILED, CONTACT_BY_SYSTEM,
			 "desk phone did not answer");
		contact_set_state(c, CONTACT_ERROR);
		disconnect_all(d, c, "desk phone did not answer",
			       CONTACT_BY_SYSTEM);
		feed(d, AGENT_IN_AGENT_FAILED, 0, NULL, contact_id(c));
		publish(d, "contact.error", c);
	}
}

static void line_timeout(void *arg)
{
	struct desk *d = arg;

	if (d->line.state != LINE_RINGING)
		return;
	line_hangup(d);
	line_failed(d, "no answer");
}

static void dial_answered(bool ok, const char *data, void *arg);
static char *dial_cookie(struct desk *d, const struct contact *c);

/* The desk phone answered to take over a connected call: the agent is on
 * the desk phone from now on, and the customer hears it. */
static void line_moved(struct desk *d, struct contact *c)
{
	d->line.move = false;
	if (!c || contact_state(c) != CONTACT_CONNECTED) {
		line_hangup(d);
		line_reset(d);
		move_event(d, "failed", c ? contact_id(c) : NULL,
			   "the contact ended first");
		return;
	}
	d->deskphone = true;
	line_route(d, c);
	log_fields(LOG_NOTICE, contact_id(c), NULL, "desk: %s moved to the "
		   "desk phone %s", contact_id(c), d->extension);
	move_event(d, "moved", contact_id(c), NULL);
}

/* The agent is on the line: answer the customer, or dial them. */
static void line_connect_customer(void *arg)
{
	struct desk *d = arg;
	struct contact *c = contacts_find(d->contacts, d->line.contact);
	char *cookie;

	if (d->line.state != LINE_UP || !c ||
	    contact_state(c) != CONTACT_CONNECTING)
		return;
	if (contact_dir(c) == CONTACT_INBOUND) {
		(void)call_command(d, c, "accept");
		return;
	}
	cookie = dial_cookie(d, c);
	if (media_dial(d->media, contact_caller_id(c), contact_uri(c),
		       dial_answered, cookie) < 0) {
		free(cookie);
		line_failed(d, "the media stack refused the dial");
	}
}

/* baresip's events about the desk phone's call. */
static void line_event(struct desk *d, const struct media_event *ev)
{
	struct contact *c;

	if (d->line.state == LINE_IDLE || !ev->call_id)
		return;
	/* periodic reports (RTCP, levels) of an earlier desk call must not
	 * be taken for this one */
	if (!d->line.call_id && (ev->type == MEDIA_EV_CALL_RINGING ||
				 ev->type == MEDIA_EV_CALL_PROGRESS ||
				 ev->type == MEDIA_EV_CALL_ESTABLISHED ||
				 ev->type == MEDIA_EV_CALL_CLOSED))
		d->line.call_id = strdup(ev->call_id);
	if (!d->line.call_id || strcmp(d->line.call_id, ev->call_id) != 0)
		return;
	c = contacts_find(d->contacts, d->line.contact);
	switch (ev->type) {
	case MEDIA_EV_CALL_ESTABLISHED:
		if (d->line.state != LINE_RINGING)
			return;
		tmr_cancel(&d->line.tmr);
		d->line.state = LINE_UP;
		log_fields(LOG_INFO, d->line.contact, NULL, "desk: the desk "
			   "phone answered for %s", d->line.contact);
		if (d->line.move) {
			line_moved(d, c);
			return;
		}
		if (!c || contact_state(c) != CONTACT_CONNECTING)
			return;
		/* the customer's recording must not share the desk call's
		 * second (see meeting_next) */
		if (*d->conf->snd_path)
			tmr_start(&d->line.tmr, next_second_ms(),
				  line_connect_customer, d);
		else
			line_connect_customer(d);
		return;
	case MEDIA_EV_CALL_CLOSED:
		if (d->line.state == LINE_RINGING) {
			line_failed(d, ev->param && *ev->param ? ev->param :
				    "closed");
			return;
		}
		/* the agent put the handset down: their hang-up (or leave,
		 * with two parties on) */
		free(d->line.call_id);
		d->line.call_id = NULL;
		d->line.state = LINE_IDLE;
		if (c && contact_state(c) == CONTACT_CONNECTED &&
		    slot_of(c) && !slot_of(c)->left) {
			struct desk_err e = { 0 };

			log_fields(LOG_INFO, contact_id(c), NULL, "desk: the "
				   "desk phone hung up %s", contact_id(c));
			if (desk_hangup(d, contact_id(c), NULL, &e) < 0)
				log_warning("desk: hanging up %s after the "
					    "desk phone: %s", contact_id(c),
					    e.reason);
		}
		line_reset(d);
		return;
	case MEDIA_EV_CALL_INCOMING:
	case MEDIA_EV_CALL_RINGING:
	case MEDIA_EV_CALL_PROGRESS:
	case MEDIA_EV_CALL_TRANSFER:
	case MEDIA_EV_CALL_TRANSFER_FAILED:
	case MEDIA_EV_CALL_DTMF_START:
	case MEDIA_EV_CALL_DTMF_END:
	case MEDIA_EV_REGISTERING:
	case MEDIA_EV_REGISTER_OK:
	case MEDIA_EV_REGISTER_FAIL:
	case MEDIA_EV_UNREGISTERING:
	case MEDIA_EV_VU_TX:
	case MEDIA_EV_VU_RX:
	case MEDIA_EV_AUDIO_ERROR:
	case MEDIA_EV_OTHER:
		return;
	}
}

/* Ring the desk phone for a contact; its devices stay unpaired (silent)
 * until the customer is on. */
static int line_ring(struct desk *d, struct contact *c, struct desk_err *e)
{
	int r;

	if (d->line.state != LINE_IDLE)
		return fail(e, CCPD_ERR_INVALID_STATE, "the desk phone is "
			    "still on %s", d->line.contact);
	r = media_dial_from(d->media, MEDIA_ACCOUNT_DESK,
			    "aubridge,ccpd-desk-wait-src",
			    "aubridge,ccpd-desk-wait-play", d->desk_uri,
			    log_refusal, strdup("dial of the desk phone"));
	if (r < 0)
		return media_error(d, e, r);
	d->line.state = LINE_RINGING;
	snprintf(d->line.contact, sizeof(d->line.contact), "%s",
		 contact_id(c));
	tmr_start(&d->line.tmr, d->conf->desk_phone_timeout * 1000ULL,
		  line_timeout, d);
	log_fields(LOG_INFO, contact_id(c), NULL, "desk: ringing the desk "
		   "phone %s for %s", d->desk_uri, contact_id(c));
	return 0;
}

int desk_conference(struct desk *d, const char *contact_id_,
		    struct desk_err *e)
{
	struct contact *c = find_connected(d, contact_id_, e);
	struct conn *third = NULL;
	unsigned i;

	if (!c)
		return e->code;
	if (contact_live_parties(c) < 2)
		return fail(e, CCPD_ERR_INVALID_STATE,
			    "contact %s has no third party to join",
			    contact_id(c));
	if (slot_of(c)->conference)
		return 0;
	for (i = 1; i < contact_conn_count(c); i++) {
		struct conn *k = contact_conn(c, i);

		if (conn_state(k) == CONN_CONNECTING)
			return fail(e, CCPD_ERR_INVALID_STATE,
				    "connection %s is still connecting",
				    conn_id(k));
		if (i > CONN_CUSTOMER_IDX && conn_is_live(k))
			third = k;
	}
	if (!third || !conn_call_id(third) ||
	    !conn_call_id(contact_conn(c, CONN_CUSTOMER_IDX)))
		return fail(e, CCPD_ERR_INVALID_STATE,
			    "contact %s has no third party to join",
			    contact_id(c));
	if (!d->focus)
		return fail(e, CCPD_ERR_MEDIA_UNAVAILABLE, "the conference "
			    "focus did not start; see the journal");
	if (media_get_state(d->media) != MEDIA_STATE_UP)
		return media_error(d, e, -ENOTCONN);
	/* baresip switches devices per account: the calls of an earlier
	 * join on the same accounts would be switched too */
	if (d->mtg || d->bridge[0] || d->bridge[1])
		return fail(e, CCPD_ERR_INVALID_STATE,
			    "the parties of an earlier contact are still "
			    "joined; wait until they hang up");
	if (slot_of(c)->xfer != XFER_NONE)
		return fail(e, CCPD_ERR_INVALID_STATE,
			    "a transfer of %s is under way", contact_id(c));
	return meeting_start(d, c, third, e);
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

static bool valid_sip_uri(const char *s)
{
	const char *p;

	if (strncasecmp(s, "sip:", 4) != 0 && strncasecmp(s, "sips:", 5) != 0)
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

/* The number an outbound call presents to the called party: the agent's
 * own caller ID, else the instance's default; NULL to present the agent's
 * SIP account as it is. The one place the choice is made, so that numbers
 * kept elsewhere (the instance's store) can come in here. */
/* The number an outbound call presents: the one the admin gave the user
 * at the desk, else the instance's default (both from the store), else
 * the agent_caller_id and caller_id settings; NULL presents the agent's
 * own SIP address. */
static const char *caller_id_for(const struct desk *d)
{
	struct desk *w = (struct desk *)d;

	if (store_caller_id_for(d->st, d->user, w->caller_id,
				sizeof(w->caller_id)) == 0)
		return d->caller_id;
	if (*d->conf->agent_caller_id)
		return d->conf->agent_caller_id;
	if (*d->conf->caller_id)
		return d->conf->caller_id;
	return NULL;
}

static bool in_list(const char *list, const char *item, size_t item_len)
{
	const char *p = list;

	while (*p) {
		size_t n;

		p += strspn(p, " \t,");
		n = strcspn(p, ",");
		while (n && (p[n - 1] == ' ' || p[n - 1] == '\t'))
			n--;
		if (n && n == item_len && strncasecmp(p, item, n) == 0)
			return true;
		p += strcspn(p, ",");
	}
	return false;
}

/* The first blocked prefix the number starts with, into out; false when
 * none does. */
static bool blocked_prefix(const char *list, const char *e164, char *out,
			   size_t size)
{
	const char *p = list;

	while (*p) {
		size_t n;

		p += strspn(p, " \t,");
		n = strcspn(p, ", \t");
		if (n && strncmp(e164, p, n) == 0) {
			snprintf(out, size, "%.*s", (int)n, p);
			return true;
		}
		p += strcspn(p, ",");
	}
	return false;
}

/* A number that may be dialed: in the dialable countries and under no
 * blocked prefix. The refusal names the rule. */
static int check_number(struct desk *d, const struct phone_number *n,
			const char *e164, struct desk_err *e)
{
	char region[8], prefix[24];

	phone_region_of(n, region, sizeof(region));
	if (*d->conf->dialable_countries &&
	    !in_list(d->conf->dialable_countries, region, strlen(region)))
		return fail(e, CCPD_ERR_INVALID_PHONE_NUMBER,
			    "%s is a number of %s, which is not one of the "
			    "dialable countries (%s)", e164,
			    strcmp(region, "001") == 0 ? "no country (a "
			    "non-geographic number)" : region,
			    d->conf->dialable_countries);
	if (blocked_prefix(d->conf->blocked_prefixes, e164, prefix,
			   sizeof(prefix)))
		return fail(e, CCPD_ERR_INVALID_PHONE_NUMBER,
			    "%s starts with %s, a blocked prefix", e164,
			    prefix);
	return 0;
}

static int bad_number(struct desk_err *e, const char *endpoint,
		      enum phone_error why, const char *region)
{
	if (why == PHONE_ERR_NOT_VALID && *region)
		return fail(e, CCPD_ERR_INVALID_PHONE_NUMBER,
			    "'%s' is not a valid phone number: not valid for "
			    "the region (read in %s)", endpoint, region);
	return fail(e, CCPD_ERR_INVALID_PHONE_NUMBER,
		    "'%s' is not a valid phone number: %s", endpoint,
		    phone_error_reason(why));
}

/* Turn what the agent (or a CRM) typed into the URI to dial. Numbers, in
 * any written form, become E.164 and go through the dial plan; plain SIP
 * URIs are dialed as they are, when allowed. */
static int endpoint_uri(struct desk *d, const char *endpoint, char *uri,
			size_t size, char *e164, size_t e164_size,
			struct desk_err *e)
{
	const char *region = desk_region(d);
	struct phone_number *n = NULL;
	char quick[CCPD_MAX_ENDPOINT + 1];
	enum phone_error why;
	bool sip;
	int r;

	e164[0] = '\0';
	/* a quick connect's name stands for its endpoint */
	if (conf_quick_connect(d->conf->quick_connects, endpoint, quick,
			       sizeof(quick)) == 0)
		endpoint = quick;
	if (strlen(endpoint) > CCPD_MAX_ENDPOINT)
		return fail(e, CCPD_ERR_INVALID_PHONE_NUMBER,
			    "endpoint longer than %d characters",
			    CCPD_MAX_ENDPOINT);
	sip = strncasecmp(endpoint, "sip:", 4) == 0 ||
	      strncasecmp(endpoint, "sips:", 5) == 0;
	if (sip && !valid_sip_uri(endpoint))
		return fail(e, CCPD_ERR_INVALID_PHONE_NUMBER,
			    "'%s' is not a valid SIP URI", endpoint);
	if (sip && !phone_sip_uri_is_number(endpoint, region)) {
		if (!d->conf->allow_sip_uris)
			return fail(e, CCPD_ERR_FORBIDDEN, "dialing SIP URIs "
				    "is not allowed here (allow_sip_uris); "
				    "dial a phone number");
		snprintf(uri, size, "%s", endpoint);
		return 0;
	}
	r = phone_parse(endpoint, region, &n, &why);
	if (r == -ENOMEM)
		return fail(e, CCPD_ERR_INTERNAL, "out of memory");
	if (r < 0)
		return bad_number(e, endpoint, why, region);
	r = phone_format(n, PHONE_FMT_E164, e164, e164_size);
	if (r == 0)
		r = check_number(d, n, e164, e);
	phone_number_free(n);
	if (r < 0)
		return r;
	if (!d->conf->dial_template[0]) {
		/* no dial plan: a SIP URI naming a number still says where to
		 * send it */
		if (sip && d->conf->allow_sip_uris) {
			snprintf(uri, size, "%s", endpoint);
			return 0;
		}
		return fail(e, CCPD_ERR_INVALID_PHONE_NUMBER,
			    "cannot dial %s: no dial plan is configured "
			    "(set dial_template)", e164);
	}
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

/* The answer handler finds the contact by id, not by pointer: the
 * contact may be gone by then. */
static char *dial_cookie(struct desk *d, const struct contact *c)
{
	char *cookie = malloc(sizeof(d) + strlen(contact_id(c)) + 1);

	if (cookie) {
		memcpy(cookie, &d, sizeof(d));
		strcpy(cookie + sizeof(d), contact_id(c));
	}
	return cookie;
}

int desk_dial(struct desk *d, const char *endpoint, char *out_id,
	      size_t id_size, struct desk_err *e)
{
	char uri[CCPD_MAX_ENDPOINT + 128], e164[PHONE_E164_MAX];
	const char *cid = caller_id_for(d);
	struct contact *c;
	char *cookie;
	int r;

	r = endpoint_uri(d, endpoint, uri, sizeof(uri), e164, sizeof(e164), e);
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
	if (r < 0 || attach_slot(d, c) < 0 ||
	    set_customer_number(d, c, *e164 ? e164 : uri) < 0 ||
	    contact_set_caller_id(c, cid) < 0) {
		if (r == 0) {
			contact_set_state(c, CONTACT_ERROR);
			retire(d, c);
		}
		return fail(e, CCPD_ERR_INTERNAL, "out of memory");
	}
	if (d->deskphone) {
		/* the agent's desk phone first; the customer once it
		 * answers */
		r = line_ring(d, c, e);
		if (r < 0) {
			contact_set_state(c, CONTACT_ERROR);
			retire(d, c);
			return r;
		}
		goto dialing;
	}
	cookie = dial_cookie(d, c);
	r = media_dial(d->media, cid, uri, dial_answered, cookie);
	if (r < 0) {
		free(cookie);
		contact_set_state(c, CONTACT_ERROR);
		retire(d, c);
		return media_error(d, e, r);
	}
dialing:
	feed(d, AGENT_IN_DIAL, 0, NULL, contact_id(c));
	publish(d, "contact.connecting", c);
	snprintf(out_id, id_size, "%s", contact_id(c));
	return 0;
}

/* ---- views ---- */

const char *desk_default_region(const struct desk *d)
{
	return desk_region(d);
}

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

static void add_str_or_null(cJSON *o, const char *k, const char *v)
{
	if (v)
		cJSON_AddStringToObject(o, k, v);
	else
		cJSON_AddNullToObject(o, k);
}

static cJSON *list_json(const char *list)
{
	cJSON *a = cJSON_CreateArray();
	char **items = NULL;
	size_t n = 0, i;

	if (a && conf_split_list(list, &items, &n) == 0) {
		for (i = 0; i < n; i++)
			cJSON_AddItemToArray(a, cJSON_CreateString(items[i]));
		conf_free_list(items, n);
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
	add_str_or_null(o, "region", *desk_region(d) ?
			desk_region(d) : NULL);
	add_str_or_null(o, "callerId", caller_id_for(d));
	cJSON_AddItemToObject(o, "dialableCountries",
			      list_json(d->conf->dialable_countries));
	cJSON_AddStringToObject(o, "sipAddress", media_aor(d->media));
	cJSON_AddBoolToObject(o, "softphoneEnabled", !d->deskphone);
	add_str_or_null(o, "extension", d->extension[0] ? d->extension : NULL);
	cJSON_AddNumberToObject(o, "deskPhoneTimeout",
				d->conf->desk_phone_timeout);
	cJSON_AddStringToObject(o, "deskPhoneFallback",
				d->conf->desk_phone_fallback);
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

int desk_set_config(struct desk *d, bool softphone, const char *extension,
		    struct desk_err *e)
{
	char uri[CCPD_MAX_ENDPOINT + 128], e164[PHONE_E164_MAX];
	enum agent_phase ph = agent_get_phase(d->agent);
	int r;

	/* not while a call of the agent's is being set up or talking */
	if (ph == AGENT_PHASE_ACCEPTING || ph == AGENT_PHASE_DIALING ||
	    ph == AGENT_PHASE_CONNECTED || d->line.state != LINE_IDLE)
		return fail(e, CCPD_ERR_INVALID_STATE, "the agent is %s; change "
			    "the phone between contacts (agent.moveToDeskPhone "
			    "carries a connected call over)",
			    agent_state(d->agent));
	if (!softphone && !extension && !d->extension[0])
		return fail(e, CCPD_ERR_INVALID_PARAMS, "a desk phone needs "
			    "\"extension\", its number in E.164");
	if (extension) {
		if (strncasecmp(extension, "sip:", 4) == 0 ||
		    strncasecmp(extension, "sips:", 5) == 0 ||
		    strncasecmp(extension, "tel:", 4) == 0 ||
		    extension[0] != '+')
			return fail(e, CCPD_ERR_INVALID_PHONE_NUMBER,
				    "the extension must be a phone number in "
				    "E.164 (+ and the country code), not "
				    "'%s'", extension);
		r = endpoint_uri(d, extension, uri, sizeof(uri), e164,
				 sizeof(e164), e);
		if (r < 0)
			return r;
		if (!e164[0])
			return fail(e, CCPD_ERR_INVALID_PHONE_NUMBER, "'%s' is "
				    "not a phone number", extension);
		snprintf(d->extension, sizeof(d->extension), "%s", e164);
		snprintf(d->desk_uri, sizeof(d->desk_uri), "%s", uri);
	}
	d->deskphone = !softphone;
	log_info("agent: %s%s", softphone ? "softphone" : "desk phone ",
		 softphone ? "" : d->extension);
	return 0;
}

cJSON *desk_endpoints_json(const struct desk *d)
{
	cJSON *a = cJSON_CreateArray();
	char **names = NULL, **values = NULL;
	size_t n = 0, i;

	if (!a || conf_split_quick_connects(d->conf->quick_connects, &names,
					    &values, &n) < 0)
		return a;
	for (i = 0; i < n; i++) {
		cJSON *o = cJSON_CreateObject();

		cJSON_AddStringToObject(o, "name", names[i]);
		cJSON_AddStringToObject(o, "endpoint", values[i]);
		cJSON_AddStringToObject(o, "type",
					values[i][0] == '+' ? "phone_number"
							    : "sip_uri");
		cJSON_AddItemToArray(a, o);
	}
	conf_free_statuses(names, n);
	conf_free_statuses(values, n);
	return a;
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

/* The desk takes on what the admin recorded for the user who arrives:
 * their region, and their phone (a desk phone and its extension, or the
 * softphone). When nobody is at the desk it is a softphone again. */
static void apply_user(struct desk *d)
{
	const char *phone = NULL, *ext = NULL, *region = NULL;
	struct desk_err e = { 0 };
	cJSON *row = NULL;

	if (d->user[0] && d->st &&
	    store_get(d->st, &store_users, d->user, &row) == 0) {
		phone = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(
			row, "phoneType"));
		ext = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(
			row, "extension"));
		region = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(
			row, "region"));
	}
	snprintf(d->user_region, sizeof(d->user_region), "%s",
		 region ? region : "");
	if (phone && strcmp(phone, "deskphone") == 0 && ext) {
		if (desk_set_config(d, false, ext, &e) < 0)
			log_warning("desk: cannot use %s's desk phone %s: %s",
				    d->user, ext, e.reason);
	} else if ((d->deskphone || ext) &&
		   desk_set_config(d, true, ext, &e) < 0) {
		/* a softphone user's extension is where the desk phone
		 * fallback rings */
		log_warning("desk: cannot go back to the softphone%s%s: %s",
			    ext ? " with the extension " : "", ext ? ext : "",
			    e.reason);
	}
	cJSON_Delete(row);
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
	apply_user(d);
	desk_audio_load(d);
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
	tmr_init(&d->line.tmr);
	tmr_init(&d->audio_tmr);
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
	int r;

	/* the journal marks each run: time before it belongs to no state */
	record(d, "daemon.start", util_now_ms(), false, NULL, NULL);
	r = focus_new(&d->focus, d->conf->sip_listen);
	if (r < 0)
		log_warning("desk: the conference focus did not start: %s; "
			    "conferences are refused", strerror(-r));
	else
		log_debug("desk: conference focus on 127.0.0.1:%u",
			  focus_port(d->focus));
	desk_audio_load(d);
	return media_start(d->media);
}

void desk_shutdown(struct desk *d)
{
	if (!d)
		return;
	tmr_cancel(&d->audio_tmr);
	d->ring = sound_ring_free(d->ring);
	d->test = sound_test_free(d->test);
	media_shutdown(d->media);
	record(d, "daemon.stop", util_now_ms(), false, NULL, NULL);
}

struct desk *desk_free(struct desk *d)
{
	struct contact *c;

	if (!d)
		return NULL;
	meeting_free(d);
	d->focus = focus_free(d->focus);
	line_reset(d);
	tmr_cancel(&d->audio_tmr);
	d->ring = sound_ring_free(d->ring);
	d->test = sound_test_free(d->test);
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
	free(d->bridge[0]);
	free(d->bridge[1]);
	free(d);
	return NULL;
}

/* ---- audio devices ----
 *
 * Each user chooses a microphone, a speaker and a ringer among the ALSA
 * devices; the choice is kept in the store. A chosen device that is not
 * there (unplugged) gives way to the configured default with an event,
 * and is taken again when it comes back: the list is read again every
 * audio_check_interval seconds. */

static const char *const roles[3] = { "microphone", "speaker", "ringer" };

static const char *chosen_of(const struct desk *d, int i)
{
	return i == 0 ? d->chosen.microphone : i == 1 ? d->chosen.speaker :
		d->chosen.ringer;
}

/* What baresip is given for a role: "alsa,<name>", or the setting */
static void baresip_device(const struct desk *d, int i, char *out,
			   size_t size)
{
	const char *setting = i == 0 ? d->conf->audio_source :
		d->conf->audio_player;

	if (d->active[i][0])
		snprintf(out, size, "alsa,%s", d->active[i]);
	else
		snprintf(out, size, "%s", setting);
}

static cJSON *audio_state_json(const struct desk *d)
{
	cJSON *o = cJSON_CreateObject(), *ch, *ac;
	int i;

	if (!o)
		return NULL;
	cJSON_AddBoolToObject(o, "soundCard", sound_card_present());
	ch = cJSON_AddObjectToObject(o, "chosen");
	ac = cJSON_AddObjectToObject(o, "active");
	for (i = 0; i < 3; i++) {
		const char *c = chosen_of(d, i);

		if (*c)
			cJSON_AddStringToObject(ch, roles[i], c);
		else
			cJSON_AddNullToObject(ch, roles[i]);
		if (d->active[i][0])
			cJSON_AddStringToObject(ac, roles[i], d->active[i]);
		else
			cJSON_AddNullToObject(ac, roles[i]);
	}
	return o;
}

static void devices_lost(struct desk *d, const bool lost[2]);

/* Work out the devices in use; tell baresip and the clients of a change.
 * reason: why, for the event. */
static void audio_apply(struct desk *d, const char *reason)
{
	char active[3][128], src[160], play[160];
	bool changed = !d->audio_known, fallback = false;
	bool lost[2] = { false, false };
	int i;

	for (i = 0; i < 3; i++) {
		const char *c = chosen_of(d, i);

		active[i][0] = '\0';
		if (*c && sound_device_present(c, i == 0))
			snprintf(active[i], sizeof(active[i]), "%.127s", c);
		else if (*c)
			fallback = true;
		if (strcmp(active[i], d->active[i]) != 0)
			changed = true;
	}
	if (!changed)
		return;
	for (i = 0; i < 3; i++) {
		/* a chosen microphone or speaker that was in use is gone */
		if (i < 2 && d->audio_known && d->active[i][0] &&
		    !active[i][0])
			lost[i] = true;
		if (d->audio_known && strcmp(active[i], d->active[i]) != 0)
			log_notice("desk: %s now %s (%s)", roles[i],
				   active[i][0] ? active[i] : "the default",
				   reason);
		memcpy(d->active[i], active[i], sizeof(d->active[i]));
	}
	d->audio_known = true;
	baresip_device(d, 0, src, sizeof(src));
	baresip_device(d, 1, play, sizeof(play));
	/* while calls are joined through aubridge (leave, a desk phone, a
	 * conference) their devices stay; the change applies after */
	if (media_set_devices(d->media, src, play,
			      !(d->bridge[0] || d->bridge[1] || d->deskphone ||
				d->mtg)) < 0)
		log_warning("desk: cannot switch baresip's audio devices, "
			    "ignoring");
	/* a ring under way moves to the new ringer */
	d->ring = sound_ring_free(d->ring);
	update_ringer(d);
	{
		cJSON *data = audio_state_json(d);

		if (data) {
			cJSON_AddStringToObject(data, "reason", reason);
			cJSON_AddBoolToObject(data, "fallback", fallback);
			events_emit(d->ev, "audio.devices", data);
		}
	}
	if (lost[0] || lost[1])
		devices_lost(d, lost);
}

static void audio_check(void *arg)
{
	struct desk *d = arg;

	audio_apply(d, "device list changed");
	tmr_start(&d->audio_tmr, d->conf->audio_check_interval * 1000ULL,
		  audio_check, d);
}

void desk_audio_load(struct desk *d)
{
	memset(&d->chosen, 0, sizeof(d->chosen));
	if (d->st)
		(void)store_audio_get(d->st, d->user, &d->chosen);
	audio_apply(d, "user's choice loaded");
	if (d->conf->audio_check_interval && !tmr_isrunning(&d->audio_tmr))
		tmr_start(&d->audio_tmr,
			  d->conf->audio_check_interval * 1000ULL,
			  audio_check, d);
}

cJSON *desk_audio_devices_json(const struct desk *d)
{
	cJSON *o = audio_state_json(d);

	if (o)
		cJSON_AddItemToObject(o, "devices", sound_devices_json());
	return o;
}

int desk_set_audio(struct desk *d, const char *microphone,
		   const char *speaker, const char *ringer, struct desk_err *e)
{
	const char *want[3] = { microphone, speaker, ringer };
	struct store_audio a = d->chosen;
	char *slot[3] = { a.microphone, a.speaker, a.ringer };
	int i;

	for (i = 0; i < 3; i++) {
		if (!want[i])
			continue;
		if (strcmp(want[i], "default") == 0)
			want[i] = "";
		if (*want[i] && !sound_device_present(want[i], i == 0))
			return fail(e, CCPD_ERR_NOT_FOUND, "no %s device '%s' "
				    "(audio.listDevices lists them)",
				    i == 0 ? "capture" : "playback", want[i]);
		snprintf(slot[i], sizeof(a.microphone), "%.127s", want[i]);
	}
	if (d->st && store_audio_set(d->st, d->user, &a) < 0)
		return fail(e, CCPD_ERR_INTERNAL, "cannot keep the choice in "
			    "the store");
	d->chosen = a;
	audio_apply(d, "chosen");
	return 0;
}

/* The ring tone plays on the ringer while a contact is offered. */
static void update_ringer(struct desk *d)
{
	const struct contact *c;
	bool offered = false;
	const char *dev;
	int r;

	for (c = contacts_first(d->contacts); c; c = contacts_next(c))
		if (contact_state(c) == CONTACT_INCOMING)
			offered = true;
	if (!offered) {
		d->ring = sound_ring_free(d->ring);
		return;
	}
	if (d->ring)
		return;
	dev = d->active[2][0] ? d->active[2] : d->active[1];
	if (!*dev) {
		/* no device chosen: a sound card's default, else nothing */
		if (!sound_card_present())
			return;
		dev = "default";
	}
	r = sound_ring_start(&d->ring, dev);
	if (r < 0)
		log_warning("desk: cannot ring on %s: %s, ignoring", dev,
			    sound_strerror(r));
}

/* VU reports: baresip's vumeter sends ten a second per direction; the
 * clients get one per vu_interval. A microphone heard nothing from for
 * mic_silence_timeout in a connected call is told once. */
#define MIC_SILENCE_DB -60.0

static void audio_level(struct desk *d, const struct media_event *ev)
{
	bool tx = ev->type == MEDIA_EV_VU_TX;
	double level = ev->param ? strtod(ev->param, NULL) : -96.0;
	uint64_t now = util_now_ms();
	const struct contact *c = ev->call_id ?
		contacts_find_call(d->contacts, ev->call_id) : NULL;

	if (d->conf->vu_interval &&
	    now - d->vu_last[tx ? 0 : 1] >= d->conf->vu_interval) {
		cJSON *data = cJSON_CreateObject();

		d->vu_last[tx ? 0 : 1] = now;
		if (data) {
			cJSON_AddStringToObject(data, "direction",
						tx ? "microphone" : "speaker");
			cJSON_AddNumberToObject(data, "level", level);
			if (c)
				cJSON_AddStringToObject(data, "contactId",
							contact_id(c));
			events_emit(d->ev, "audio.level", data);
		}
	}
	if (!tx || !d->conf->mic_silence_timeout)
		return;
	if (level > MIC_SILENCE_DB || d->muted || !c ||
	    contact_state(c) != CONTACT_CONNECTED || !d->mic_heard) {
		if (d->mic_silent && level > MIC_SILENCE_DB) {
			cJSON *data = cJSON_CreateObject();

			if (data)
				events_emit(d->ev, "audio.microphoneActive",
					    data);
		}
		if (level > MIC_SILENCE_DB)
			d->mic_silent = false;
		d->mic_heard = now;
		return;
	}
	if (!d->mic_silent &&
	    now - d->mic_heard >= d->conf->mic_silence_timeout * 1000ULL) {
		cJSON *data = cJSON_CreateObject();

		d->mic_silent = true;
		log_notice("desk: the microphone has been silent for %u s in "
			   "contact %s", d->conf->mic_silence_timeout,
			   contact_id(c));
		if (data) {
			cJSON_AddStringToObject(data, "contactId",
						contact_id(c));
			cJSON_AddNumberToObject(data, "seconds",
				(double)(now - d->mic_heard) / 1000.0);
			cJSON_AddStringToObject(data, "microphone",
				d->active[0][0] ? d->active[0] : "default");
			events_emit(d->ev, "audio.microphoneSilent", data);
		}
	}
}

/* baresip 1.0.0 stops the call whose audio device failed and hangs it
 * up (its audio_error_handler): the contact ends as a media failure, and
 * the agent is offered the desk phone for what follows. */
static void on_audio_error(struct desk *d, const struct media_event *ev)
{
	struct contact *c = ev->call_id ?
		contacts_find_call(d->contacts, ev->call_id) : NULL;
	cJSON *data = cJSON_CreateObject();
	const char *reason = ev->param ? ev->param : "";

	/* "<errno>,<text>": the text says it */
	if (strchr(reason, ','))
		reason = strchr(reason, ',') + 1;
	log_fields(LOG_ERR, c ? contact_id(c) : NULL, NULL, "desk: baresip's "
		   "audio device failed: %s", *reason ? reason : "?");
	if (c && slot_of(c))
		slot_of(c)->audio_failed = true;
	if (data) {
		cJSON_AddStringToObject(data, "reason", reason);
		if (c)
			cJSON_AddStringToObject(data, "contactId",
						contact_id(c));
		events_emit(d->ev, "audio.error", data);
	}
	if (c)
		softphone_failed(d, "audio_device_error", *reason ? reason :
				 "the audio device failed", c, true);
}

/* ---- the microphone check ---- */

static void test_done(int r, const char *reason, const double *levels,
		      unsigned n, void *arg)
{
	struct desk *d = arg;
	cJSON *data = cJSON_CreateObject(), *a;
	double peak = -96.0;
	unsigned i;

	if (data) {
		cJSON_AddBoolToObject(data, "ok", r == 0);
		if (r < 0)
			cJSON_AddStringToObject(data, "reason", reason);
		a = cJSON_AddArrayToObject(data, "levels");
		for (i = 0; i < n; i++) {
			cJSON_AddItemToArray(a, cJSON_CreateNumber(levels[i]));
			if (levels[i] > peak)
				peak = levels[i];
		}
		cJSON_AddNumberToObject(data, "peak", peak);
		cJSON_AddBoolToObject(data, "silent", peak <= MIC_SILENCE_DB);
		cJSON_AddStringToObject(data, "microphone",
			d->active[0][0] ? d->active[0] : "default");
		events_emit(d->ev, "audio.testResult", data);
	}
	d->test = sound_test_free(d->test);
}

int desk_audio_test(struct desk *d, unsigned *ms, struct desk_err *e)
{
	const char *mic = d->active[0][0] ? d->active[0] : "default";
	const char *spk = d->active[1][0] ? d->active[1] : "default";
	const struct contact *c;
	int r;

	if (d->test)
		return fail(e, CCPD_ERR_INVALID_STATE, "a microphone check is "
			    "already under way");
	for (c = contacts_first(d->contacts); c; c = contacts_next(c))
		if (contact_state(c) == CONTACT_CONNECTED ||
		    contact_state(c) == CONTACT_CONNECTING)
			return fail(e, CCPD_ERR_INVALID_STATE, "contact %s "
				    "uses the devices; check the microphone "
				    "between contacts", contact_id(c));
	if (!d->active[0][0] && !sound_card_present())
		return fail(e, CCPD_ERR_MEDIA_UNAVAILABLE, "no sound card and "
			    "no microphone chosen: nothing to check");
	*ms = d->conf->audio_test_duration * 1000;
	r = sound_test_start(&d->test, mic, spk, *ms, test_done, d);
	if (r < 0)
		return fail(e, CCPD_ERR_MEDIA_UNAVAILABLE, "cannot open the "
			    "microphone %s: %s", mic, sound_strerror(r));
	return 0;
}

/* ---- falling back to the desk phone ----
 *
 * The softphone's audio can fail the agent: baresip's audio device error
 * (in baresip 1.0.0 it also ends that call), or the chosen microphone or
 * speaker gone (a headset unplugged) while a contact is offered or
 * connected. The clients are told (agent.softphoneError). An agent with a
 * desk phone extension is offered the desk phone, and moved to it by
 * agent.moveToDeskPhone, or at once when desk_phone_fallback is auto. A
 * connected call moves with the agent: the desk phone is rung and, once
 * it answers, joined to the customer; until then, or if it does not
 * answer, the call stays on the softphone. */

/* The move's progress, journaled: who was moved off the softphone, when
 * and why matters when a supervisor asks about a call. */
static void move_event(struct desk *d, const char *status,
		       const char *contact, const char *reason)
{
	cJSON *data = cJSON_CreateObject();
	uint64_t now = util_now_ms();

	if (!data)
		return;
	cJSON_AddStringToObject(data, "status", status);
	add_str_or_null(data, "contactId", contact);
	cJSON_AddStringToObject(data, "extension", d->extension);
	cJSON_AddBoolToObject(data, "softphoneEnabled", !d->deskphone);
	if (reason)
		cJSON_AddStringToObject(data, "reason", reason);
	record(d, "agent.deskPhoneMove", now, true, contact, data);
	events_emit_at(d->ev, "agent.deskPhoneMove", data, now);
}

/* No call to carry over: the agent is on the desk phone from now on. */
static void switch_to_desk(struct desk *d, const char *why)
{
	d->deskphone = true;
	log_notice("desk: the agent moved to the desk phone %s%s",
		   d->extension, why);
	move_event(d, "moved", NULL, NULL);
}

/* The agent's call on the softphone, if any: connected, or being set up
 * (which cannot move yet). */
static struct contact *softphone_call(struct desk *d, bool *connecting)
{
	struct contact *c;

	*connecting = false;
	for (c = contacts_first(d->contacts); c; c = contacts_next(c)) {
		struct slot *s = slot_of(c);

		if (!s || s->left)
			continue;
		if (contact_state(c) == CONTACT_CONNECTING)
			*connecting = true;
		if (contact_state(c) == CONTACT_CONNECTED)
			return c;
	}
	return NULL;
}

int desk_move_to_desk_phone(struct desk *d, char *contact_out, size_t size,
			    struct desk_err *e)
{
	struct contact *c;
	struct slot *s;
	bool connecting;
	int r;

	if (d->deskphone)
		return fail(e, CCPD_ERR_INVALID_STATE, "the agent is on the "
			    "desk phone %s already", d->extension);
	if (!d->extension[0])
		return fail(e, CCPD_ERR_INVALID_STATE, "the agent has no desk "
			    "phone extension (agent.setConfiguration, or the "
			    "user's extension)");
	if (d->line.state != LINE_IDLE)
		return fail(e, CCPD_ERR_INVALID_STATE, "the desk phone is "
			    "being rung for %s already", d->line.contact);
	c = softphone_call(d, &connecting);
	if (!c && connecting)
		return fail(e, CCPD_ERR_INVALID_STATE, "a call is being set "
			    "up; move it once it is connected");
	if (contact_out && size)
		contact_out[0] = '\0';
	if (!c) {
		/* nothing to carry over: offers ring the desk phone now */
		switch_to_desk(d, "");
		return 0;
	}
	s = slot_of(c);
	if (s->conference || d->mtg || s->xfer != XFER_NONE ||
	    d->bridge[0] || d->bridge[1])
		return fail(e, CCPD_ERR_INVALID_STATE, "contact %s is in a "
			    "conference or a transfer, which the desk phone "
			    "cannot take over", contact_id(c));
	r = line_ring(d, c, e);
	if (r < 0)
		return r;
	d->line.move = true;
	if (contact_out && size)
		snprintf(contact_out, size, "%s", contact_id(c));
	move_event(d, "ringing", contact_id(c), NULL);
	return 0;
}

/* A call lost with the audio device has nothing to carry over: the
 * agent is switched for the contacts to come. */
static void fallback_now(struct desk *d, const struct contact *lost)
{
	struct desk_err e = { 0 };

	if (lost) {
		switch_to_desk(d, " after the audio failed");
		return;
	}
	if (desk_move_to_desk_phone(d, NULL, 0, &e) < 0) {
		log_warning("desk: cannot move to the desk phone: %s",
			    e.reason);
		move_event(d, "failed", NULL, e.reason);
	}
}

/* type: audio_device_error or device_lost; c: the contact it hit;
 * call_lost: baresip ended c's call. */
static void softphone_failed(struct desk *d, const char *type,
			     const char *message, const struct contact *c,
			     bool call_lost)
{
	const char *mode = d->conf->desk_phone_fallback;
	bool offer = d->extension[0] && strcmp(mode, "off") != 0;
	uint64_t now = util_now_ms();
	cJSON *data, *desk;

	/* with the desk phone on, the softphone's devices carry no call */
	if (d->deskphone)
		return;
	log_fields(LOG_WARNING, c ? contact_id(c) : NULL, NULL, "desk: the "
		   "softphone failed (%s): %s%s", type, message, offer ?
		   "; the desk phone is offered" : "");
	data = cJSON_CreateObject();
	if (data) {
		cJSON_AddStringToObject(data, "errorType", type);
		cJSON_AddStringToObject(data, "errorMessage", message);
		add_str_or_null(data, "contactId", c ? contact_id(c) : NULL);
		if (offer && (desk = cJSON_AddObjectToObject(data,
							     "deskPhone"))) {
			cJSON_AddStringToObject(desk, "extension",
						d->extension);
			cJSON_AddStringToObject(desk, "fallback", mode);
		} else {
			cJSON_AddNullToObject(data, "deskPhone");
		}
		record(d, "agent.softphoneError", now, true,
		       c ? contact_id(c) : NULL, data);
		events_emit_at(d->ev, "agent.softphoneError", data, now);
	}
	if (offer && strcmp(mode, "auto") == 0)
		fallback_now(d, call_lost ? c : NULL);
}

static const char *role_device(const struct desk *d, int i)
{
	return i == 0 ? d->chosen.microphone : d->chosen.speaker;
}

/* A chosen microphone or speaker went away under an offered or connected
 * contact. */
static void devices_lost(struct desk *d, const bool lost[2])
{
	const struct contact *c, *hit = NULL;
	char msg[320];
	int i;

	for (c = contacts_first(d->contacts); c && !hit;
	     c = contacts_next(c))
		if (slot_of(c) && !slot_of(c)->left &&
		    (contact_state(c) == CONTACT_INCOMING ||
		     contact_state(c) == CONTACT_CONNECTED))
			hit = c;
	if (!hit)
		return;
	i = lost[0] ? 0 : 1;
	snprintf(msg, sizeof(msg), "the %s '%.127s' is gone%s", roles[i],
		 role_device(d, i), lost[0] && lost[1] ?
		 ", and the speaker too" : "");
	softphone_failed(d, "device_lost", msg, hit, false);
}

/* An offer that arrives with the agent's chosen microphone or speaker
 * missing cannot be answered as the agent expects. */
static void offer_devices_check(struct desk *d, const struct contact *c)
{
	char msg[320];
	int i;

	for (i = 0; i < 2; i++) {
		if (!*role_device(d, i) || d->active[i][0])
			continue;
		snprintf(msg, sizeof(msg), "the %s '%.127s' is missing",
			 roles[i], role_device(d, i));
		softphone_failed(d, "device_lost", msg, c, false);
		return;
	}
}
