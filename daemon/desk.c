/* The agent's desk, its hub: it makes the parts (desk-int.h lists them),
 * hands baresip's events and states to the part each concerns, fans news
 * from one part out to the others, tells audio the facts it depends on,
 * and carries out the actions that span parts. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ccpd-protocol.h"
#include "conf.h"
#include "desk-int.h"
#include "events.h"
#include "focus.h"
#include "json.h"
#include "log.h"
#include "util.h"

enum reg_state { REG_NONE, REG_REGISTERING, REG_REGISTERED, REG_FAILED };

#define MAX_WATCHERS 8

struct watcher {
	desk_watch_h *h;
	void *arg;
};

struct hub {
	desk_ready_h *ready_h;
	void *ready_arg;
	bool was_ready;
	bool made;              /* every part is there */
	/* the registration of the desk's own account, and of the user's
	 * while they are at the desk; the agent's is one of them */
	enum reg_state reg;
	char reg_reason[160];
	enum reg_state ureg;
	char ureg_reason[160];
	char media_reason[160];
	struct watcher watch[MAX_WATCHERS];
	unsigned n_watch;
};

/* ---- the fan-out ---- */

int desk_watch(struct desk *d, desk_watch_h *h, void *arg)
{
	struct hub *hb = d->hub;

	if (hb->n_watch == MAX_WATCHERS)
		return -ENOSPC;
	hb->watch[hb->n_watch].h = h;
	hb->watch[hb->n_watch++].arg = arg;
	return 0;
}

/* What audio depends on and does not own: whether an offer rings, the
 * agent's mute, and whether calls are joined through aubridge (a bridge,
 * the desk phone, a conference), whose devices must not change. */
static void tell_audio(struct desk *d)
{
	const struct contact *c;
	bool ringing = false;

	if (!d->hub->made)
		return;
	for (c = contacts_first(d->contacts); c; c = contacts_next(c))
		if (contact_state(c) == CONTACT_INCOMING)
			ringing = true;
	audio_facts(d, ringing, status_muted(d),
		    callctl_bridged(d) || deskphone_on(d) || meeting_active(d));
}

static void hangup_from_phone(struct desk *d, struct contact *c)
{
	struct desk_err e = { 0 };

	if (desk_hangup(d, contact_id(c), NULL, &e) < 0)
		log_warning("deskphone: hanging up %s after the desk phone: %s",
			    contact_id(c), e.reason);
}

void desk_notify(struct desk *d, const struct desk_note *n)
{
	struct hub *hb = d->hub;
	unsigned i;

	for (i = 0; i < hb->n_watch; i++)
		hb->watch[i].h(d, n, hb->watch[i].arg);
	if (n->type == DESK_NOTE_HANGUP)
		hangup_from_phone(d, n->c);
	tell_audio(d);
}

void desk_notify_contact(struct desk *d, enum desk_note_type type,
			 struct contact *c)
{
	struct desk_note n = { .type = type, .c = c };

	desk_notify(d, &n);
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

void desk_agent_account(const struct desk *d,
			struct media_agent_account *out)
{
	media_agent_account(d->media, out);
}

cJSON *desk_registration_json(const struct desk *d)
{
	const struct hub *hb = d->hub;
	bool user = media_user_account_on(d->media);
	const char *reason = user ? hb->ureg_reason : hb->reg_reason;
	const char *registrar = media_registrar(d->media);
	cJSON *o = cJSON_CreateObject();

	if (!o)
		return NULL;
	cJSON_AddStringToObject(o, "mode", media_registrar_mode(d->media) ?
				"registrar" : "direct");
	cJSON_AddStringToObject(o, "state", reg_name(user ? hb->ureg :
						      hb->reg));
	cJSON_AddStringToObject(o, "aor", media_aor(d->media));
	if (registrar)
		cJSON_AddStringToObject(o, "registrar", registrar);
	json_add_str_or_null(o, "reason", reason[0] ? reason : NULL);
	cJSON_AddStringToObject(o, "account", user ? "user" : "desk");
	return o;
}

void desk_registration_reset_user(struct desk *d)
{
	d->hub->ureg = REG_NONE;
	d->hub->ureg_reason[0] = '\0';
}

void desk_registration_changed(struct desk *d)
{
	if (d->hub->made)
		events_emit(d->ev, "registration.status",
			    desk_registration_json(d));
}

/* The state of one account's registration; an event when it is the
 * agent's. */
static void set_reg_of(struct desk *d, bool user, enum reg_state st,
		       const char *reason)
{
	struct hub *hb = d->hub;
	enum reg_state *now = user ? &hb->ureg : &hb->reg;
	char *why = user ? hb->ureg_reason : hb->reg_reason;
	const char *aor = user ? media_aor(d->media) : media_desk_aor(d->media);

	if (*now == st && !(reason && strcmp(reason, why)))
		return;
	*now = st;
	snprintf(why, sizeof(hb->reg_reason), "%s", reason ? reason : "");
	log_msg(st == REG_FAILED ? LOG_WARNING : LOG_INFO,
		"registration: %s %s%s%s", aor, reg_name(st),
		reason ? ": " : "", reason ? reason : "");
	if (user == media_user_account_on(d->media) &&
	    media_registrar_mode(d->media))
		desk_registration_changed(d);
}

/* A registration event: about the desk's own account, the user's, or
 * neither (an account that is leaving). */
static void reg_event(struct desk *d, const struct media_event *ev,
		      enum reg_state st)
{
	bool user;

	if (!ev->aor || strcmp(ev->aor, media_desk_aor(d->media)) == 0)
		user = false;   /* baresip names the account; older: the desk */
	else if (media_user_account_on(d->media) &&
		 strcmp(ev->aor, media_aor(d->media)) == 0)
		user = true;
	else
		return;
	if (!user && !media_registrar_mode(d->media) &&
	    !media_user_account_on(d->media))
		return;
	if (st == REG_REGISTERING && (user ? d->hub->ureg : d->hub->reg) ==
	    REG_REGISTERED)
		return;         /* a refresh */
	set_reg_of(d, user, st, st == REG_REGISTERING ? NULL : ev->param);
}

static void on_media_account(enum media_account_change what,
			     const char *aor, bool confirmed, void *arg)
{
	struct desk *d = arg;

	switch (what) {
	case MEDIA_ACCOUNT_ADDED:
		d->hub->ureg = REG_NONE;
		if (media_registrar_mode(d->media))
			set_reg_of(d, true, REG_REGISTERING, NULL);
		return;
	case MEDIA_ACCOUNT_REFUSED:
		/* the desk's own account is the agent's again */
		desk_registration_changed(d);
		return;
	case MEDIA_ACCOUNT_LEFT:
		sipacct_left(d, aor, confirmed);
		return;
	}
}

/* ---- baresip's events ---- */

static void media_event(struct desk *d, const struct media_event *ev)
{
	unsigned leg;

	/* the calls to the focus and to the desk phone are no contact's */
	if (meeting_leg_of(d, ev, &leg)) {
		meeting_leg_event(d, ev, leg);
		return;
	}
	if (ev->outgoing && media_event_on(d->media, ev, MEDIA_ACCOUNT_DESK)) {
		deskphone_event(d, ev);
		return;
	}
	switch (ev->type) {
	case MEDIA_EV_CALL_CLOSED:
	case MEDIA_EV_CALL_TRANSFER_FAILED:
		/* the contact hears of its party first, so that the
		 * conference's end finds that connection over */
		if (ev->call_id)
			callctl_call_closed(d, ev->call_id);
		live_media_event(d, ev);
		if (ev->call_id)
			meeting_party_closed(d, ev->call_id);
		sipacct_recheck(d);
		return;
	case MEDIA_EV_CALL_INCOMING:
	case MEDIA_EV_CALL_RINGING:
	case MEDIA_EV_CALL_PROGRESS:
	case MEDIA_EV_CALL_ESTABLISHED:
		live_media_event(d, ev);
		return;
	case MEDIA_EV_REGISTERING:
		reg_event(d, ev, REG_REGISTERING);
		return;
	case MEDIA_EV_REGISTER_OK:
		reg_event(d, ev, REG_REGISTERED);
		return;
	case MEDIA_EV_REGISTER_FAIL:
		reg_event(d, ev, REG_FAILED);
		return;
	case MEDIA_EV_VU_TX:
	case MEDIA_EV_VU_RX:
	case MEDIA_EV_AUDIO_ERROR:
		audio_event(d, ev);
		return;
	case MEDIA_EV_UNREGISTERING:
	case MEDIA_EV_CALL_TRANSFER:
	case MEDIA_EV_CALL_DTMF_START:
	case MEDIA_EV_CALL_DTMF_END:
	case MEDIA_EV_OTHER:
		/* nothing the desk acts on */
		return;
	}
}

static void on_media_event(const struct media_event *ev, void *arg)
{
	struct desk *d = arg;

	media_event(d, ev);
	if (ev->type != MEDIA_EV_VU_TX && ev->type != MEDIA_EV_VU_RX)
		tell_audio(d);
}

/* ---- the media stack's state ---- */

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
	json_add_str_or_null(o, "lastExit", media_last_exit(d->media)[0] ?
			     media_last_exit(d->media) : NULL);
	cJSON_AddStringToObject(o, "reason", d->hub->media_reason);
	return o;
}

/* Calls cannot survive their media stack: every live contact fails, and
 * every join goes with them. */
static void media_down(struct desk *d)
{
	live_fail_all(d, d->hub->media_reason);
	callctl_reset(d);
	meeting_reset(d);
	deskphone_reset(d);
	tell_audio(d);
	status_feed(d, AGENT_IN_MEDIA_DOWN, 0, NULL, NULL);
	/* both accounts went with baresip */
	if (media_user_account_on(d->media))
		set_reg_of(d, true, REG_FAILED, "media stack down");
	if (d->conf->sip_registrar[0])
		set_reg_of(d, false, REG_FAILED, "media stack down");
}

static void emit_takeover(struct desk *d, const char *reason)
{
	cJSON *data = cJSON_CreateObject();

	if (!data)
		return;
	cJSON_AddStringToObject(data, "reason", reason);
	events_emit(d->ev, "media.takeover", data);
}

static void on_media_state(enum media_state st, const char *reason,
			   bool takeover, void *arg)
{
	struct desk *d = arg;
	struct hub *hb = d->hub;

	snprintf(hb->media_reason, sizeof(hb->media_reason), "%s",
		 reason ? reason : "");
	switch (st) {
	case MEDIA_STATE_UP:
		status_feed(d, AGENT_IN_MEDIA_UP, 0, NULL, NULL);
		if (d->conf->sip_registrar[0])
			set_reg_of(d, false, REG_REGISTERING, NULL);
		break;
	case MEDIA_STATE_DOWN:
		media_down(d);
		break;
	case MEDIA_STATE_STARTING:
		break;
	}
	events_emit(d->ev, "media.status", desk_media_json(d));
	if (takeover)
		emit_takeover(d, reason);
	if (st == MEDIA_STATE_UP && !hb->was_ready) {
		hb->was_ready = true;
		if (hb->ready_h)
			hb->ready_h(hb->ready_arg);
	}
}

/* ---- actions that span parts ---- */

int desk_set_status(struct desk *d, const char *name, struct desk_err *e)
{
	bool failed = agent_get_phase(status_agent(d)) == AGENT_PHASE_FAILED;
	int r = status_set(d, name, e);

	/* choosing a status dismisses a failed outbound contact, as
	 * clearing it would: it must not linger in the live list */
	if (r == 0 && failed)
		live_retire_failed(d);
	return r;
}

int desk_accept(struct desk *d, const char *contact_id_, struct desk_err *e)
{
	struct contact *c = live_find_offer(d, contact_id_, e);
	int r;

	if (!c)
		return e->code;
	/* with a desk phone the customer is answered once it answers */
	r = deskphone_on(d) ? deskphone_ring(d, c, e) : live_answer(d, c, e);
	if (r < 0)
		return r;
	live_accepted(d, c);
	return 0;
}

int desk_reject(struct desk *d, const char *contact_id_, struct desk_err *e)
{
	struct contact *c = live_find_offer(d, contact_id_, e);

	return c ? live_reject(d, c, e) : e->code;
}

/* The agent's own connection with two parties on: leave, the parties
 * staying joined in the conference or bridged. */
static int leave(struct desk *d, struct contact *c, struct desk_err *e)
{
	if (live_conference(c) && meeting_active(d)) {
		if (media_get_state(d->media) != MEDIA_STATE_UP)
			return live_media_error(d, e, -ENOTCONN);
		meeting_leave(d, c);
		return 0;
	}
	if (meeting_active(d))
		return desk_fail(e, CCPD_ERR_INVALID_STATE, "the parties of an "
				 "earlier contact are still bridged; hang up "
				 "instead");
	return callctl_leave(d, c, e);
}

int desk_hangup(struct desk *d, const char *contact_id_,
		const char *connection_id, struct desk_err *e)
{
	struct contact *c = live_find(d, contact_id_, e);
	struct conn *k = NULL;

	if (!c)
		return e->code;
	if (connection_id && !(k = live_find_conn(c, connection_id, e)))
		return e->code;
	if (contact_state(c) == CONTACT_INCOMING)
		return live_reject(d, c, e);
	if (contact_state(c) != CONTACT_CONNECTING &&
	    contact_state(c) != CONTACT_CONNECTED)
		return live_wrong_state(e, c, "connected or connecting");
	if (k && !conn_is_live(k))
		return desk_fail(e, CCPD_ERR_INVALID_STATE, "connection %s is "
				 "already disconnected", conn_id(k));
	if ((!k || conn_party(k) == PARTY_AGENT) &&
	    contact_live_parties(c) > 1)
		return leave(d, c, e);
	return live_hangup(d, c, k, e);
}

int desk_dial(struct desk *d, const char *endpoint, char *out_id,
	      size_t id_size, struct desk_err *e)
{
	struct contact *c;
	int r = live_dial_new(d, endpoint, &c, e);

	if (r < 0)
		return r;
	/* with a desk phone, the agent's desk phone first; the customer
	 * once it answers */
	r = deskphone_on(d) ? deskphone_ring(d, c, e) : live_dial_place(d, c);
	if (r < 0) {
		live_dial_abandon(d, c);
		return deskphone_on(d) ? r : live_media_error(d, e, r);
	}
	live_dialing(d, c);
	snprintf(out_id, id_size, "%s", contact_id(c));
	return 0;
}

int desk_conference(struct desk *d, const char *contact_id_,
		    struct desk_err *e)
{
	struct contact *c = contacts_find(d->contacts, contact_id_);

	return meeting_start(d, contact_id_, callctl_bridged(d),
			     c ? deskphone_call_for(d, c) : NULL, e);
}

int desk_move_to_desk_phone(struct desk *d, char *contact_out, size_t size,
			    struct desk_err *e)
{
	return deskphone_move(d, callctl_bridged(d) || meeting_active(d),
			      contact_out, size, e);
}

/* The desk takes on what the admin recorded for the user who arrives:
 * their phone (a desk phone and its extension, or the softphone). When
 * nobody is at the desk it is a softphone again. */
static void apply_phone(struct desk *d, const struct user_phone *phone)
{
	const char *ext = phone->extension[0] ? phone->extension : NULL;
	struct desk_err e = { 0 };

	if (phone->deskphone) {
		if (desk_set_config(d, false, ext, &e) < 0)
			log_warning("desk: cannot use %s's desk phone %s: %s",
				    user_name(d), ext ? ext : "", e.reason);
	} else if ((deskphone_on(d) || ext) &&
		   desk_set_config(d, true, ext, &e) < 0) {
		/* a softphone user's extension is where the desk phone
		 * fallback rings */
		log_warning("desk: cannot go back to the softphone%s%s: %s",
			    ext ? " with the extension " : "", ext ? ext : "",
			    e.reason);
	}
}

static cJSON *user_change_json(const char *previous, const char *username)
{
	cJSON *data = cJSON_CreateObject();

	if (data) {
		json_add_str_or_null(data, "previous", previous);
		json_add_str_or_null(data, "username", username);
	}
	return data;
}

int desk_set_user(struct desk *d, const char *username, const char *display,
		  struct desk_err *e)
{
	const struct contact *c = contacts_first(d->contacts);
	const char *now_at = desk_user(d);
	struct user_phone phone;
	struct desk_err ignored;
	cJSON *data;

	if (now_at == username ||
	    (now_at && username && strcmp(now_at, username) == 0))
		return 0;
	if (username && c)
		return desk_fail(e, CCPD_ERR_INVALID_STATE, "contact %s is "
				 "under way at this desk; '%s' can log in once "
				 "it is cleared", contact_id(c), username);
	/* the agent who leaves, or the one who arrives, is not taking calls
	 * until they choose to (during a contact: once it is over) */
	desk_set_status(d, "Offline", &ignored);
	data = user_change_json(now_at, username);
	user_set(d, username, display, &phone);
	log_info("desk: %s%s", username ? "user now at the desk: " :
		 "no user at the desk any more", username ? username : "");
	status_record(d, "desk.user", util_now_ms(), false, NULL, data);
	cJSON_Delete(data);
	/* the one path by which the user's SIP account comes and goes */
	sipacct_apply(d);
	apply_phone(d, &phone);
	desk_audio_load(d);
	status_changed(d);
	return 0;
}

/* ---- views ---- */

cJSON *desk_config_json(const struct desk *d)
{
	const char *ext = deskphone_extension(d);
	cJSON *o = cJSON_CreateObject(), *a;
	char **items = NULL;
	size_t n = 0, i;

	if (!o)
		return NULL;
	/* the desk takes the name of the user logged in at it */
	cJSON_AddStringToObject(o, "name", desk_user(d) ? user_display(d)
							 : d->conf->sip_user);
	json_add_str_or_null(o, "username", desk_user(d));
	json_add_str_or_null(o, "region", *user_region(d) ? user_region(d)
							   : NULL);
	json_add_str_or_null(o, "callerId", user_caller_id(d));
	a = cJSON_AddArrayToObject(o, "dialableCountries");
	if (a && conf_split_list(d->conf->dialable_countries, &items,
				 &n) == 0) {
		for (i = 0; i < n; i++)
			cJSON_AddItemToArray(a, cJSON_CreateString(items[i]));
		conf_free_list(items, n);
	}
	cJSON_AddStringToObject(o, "sipAddress", media_aor(d->media));
	cJSON_AddBoolToObject(o, "softphoneEnabled", !deskphone_on(d));
	json_add_str_or_null(o, "extension", *ext ? ext : NULL);
	cJSON_AddNumberToObject(o, "deskPhoneTimeout",
				d->conf->desk_phone_timeout);
	cJSON_AddStringToObject(o, "deskPhoneFallback",
				d->conf->desk_phone_fallback);
	cJSON_AddNumberToObject(o, "ringTimeout", d->conf->ring_timeout);
	cJSON_AddNumberToObject(o, "acwTimeout", d->conf->acw_timeout);
	cJSON_AddItemToObject(o, "states", desk_states_json(d));
	json_add_str_or_null(o, "dialTemplate", d->conf->dial_template[0] ?
			     d->conf->dial_template : NULL);
	cJSON_AddItemToObject(o, "registration", desk_registration_json(d));
	return o;
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

/* The parts, made in this order: those that watch subscribe in it. */
static int make_parts(struct desk *d)
{
	static int (*const make[])(struct desk *d) = {
		user_new, status_new, callctl_new, meeting_new,
		deskphone_new, audio_new, miccheck_new, fallback_new,
		sipacct_new,
	};
	size_t i;
	int r = 0;

	for (i = 0; i < sizeof(make) / sizeof(make[0]) && r == 0; i++)
		r = make[i](d);
	return r;
}

int desk_new(struct desk **ret, const struct conf *conf, struct events *ev,
	     struct store *st, desk_ready_h *ready, void *arg)
{
	static const struct media_handlers mh = {
		.event = on_media_event,
		.state = on_media_state,
		.account = on_media_account,
	};
	struct desk *d = calloc(1, sizeof(*d));
	int r;

	if (!d)
		return -ENOMEM;
	d->conf = conf;
	d->ev = ev;
	d->st = st;
	d->hub = calloc(1, sizeof(*d->hub));
	if (!d->hub) {
		r = -ENOMEM;
		goto fail;
	}
	d->hub->ready_h = ready;
	d->hub->ready_arg = arg;
	r = make_parts(d);
	if (r == 0)
		r = contacts_new(&d->contacts, conf->history_size);
	if (r == 0)
		r = media_new(&d->media, conf, &mh, d);
	if (r < 0)
		goto fail;
	d->hub->made = true;
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
	status_record(d, "daemon.start", util_now_ms(), false, NULL, NULL);
	r = focus_new(&d->focus, d->conf->sip_listen);
	if (r < 0)
		log_warning("meeting: the conference focus did not start: %s; "
			    "conferences are refused", strerror(-r));
	else
		log_debug("meeting: conference focus on 127.0.0.1:%u",
			  focus_port(d->focus));
	desk_audio_load(d);
	return media_start(d->media);
}

void desk_shutdown(struct desk *d)
{
	if (!d)
		return;
	audio_stop(d);
	miccheck_stop(d);
	sipacct_stop(d);
	media_shutdown(d->media);
	status_record(d, "daemon.stop", util_now_ms(), false, NULL, NULL);
}

struct desk *desk_free(struct desk *d)
{
	if (!d)
		return NULL;
	/* nothing is told any more, and the media stack goes first: its
	 * pending answers fail now, while the parts they reach are there */
	if (d->hub) {
		d->hub->made = false;
		d->hub->n_watch = 0;
	}
	d->media = media_free(d->media);
	if (d->meeting)
		meeting_free(d);
	d->focus = focus_free(d->focus);
	if (d->phone)
		deskphone_free(d);
	audio_free(d);
	miccheck_free(d);
	if (d->contacts)
		live_free_all(d);
	d->contacts = contacts_free(d->contacts);
	if (d->calls)
		callctl_free(d);
	status_free(d);
	user_free(d);
	sipacct_free(d);
	free(d->hub);
	free(d);
	return NULL;
}
