/* The agent's desk phone. In desk phone mode, accepting an offer (or
 * dialing) rings the desk phone first, and once it answers, its call is
 * crossed (aubridge) with the party the agent talks to; a desk phone that
 * does not answer puts the agent in FailedConnectAgent and the offer
 * rings on. A connected call can also move off the softphone onto it
 * (agent.moveToDeskPhone, or the fallback when the softphone fails). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <re.h>

#include "ccpd-protocol.h"
#include "conf.h"
#include "desk-int.h"
#include "events.h"
#include "json.h"
#include "log.h"
#include "phone.h"
#include "util.h"

/* The call to the desk phone, serving one contact. */
enum line_state { LINE_IDLE, LINE_RINGING, LINE_UP };

struct deskphone {
	bool on;                /* agent.setConfiguration softphoneEnabled
				 * false, or moved here */
	char extension[PHONE_E164_MAX];
	char uri[CCPD_MAX_ENDPOINT + 128];
	enum line_state state;
	char contact[DESK_ID_MAX];
	char *call_id;
	struct tmr tmr;
	bool move;              /* carries a connected call off the softphone */
	unsigned seq;           /* names the aubridge devices */
};

bool deskphone_on(const struct desk *d)
{
	return d->phone->on;
}

const char *deskphone_extension(const struct desk *d)
{
	return d->phone->extension;
}

static bool line_serves(const struct deskphone *p, const struct contact *c)
{
	return p->state != LINE_IDLE && strcmp(p->contact, contact_id(c)) == 0;
}

const char *deskphone_call_for(const struct desk *d, const struct contact *c)
{
	const struct deskphone *p = d->phone;

	return p->state == LINE_UP && line_serves(p, c) ? p->call_id : NULL;
}

static void set_on(struct desk *d, bool on)
{
	if (d->phone->on == on)
		return;
	d->phone->on = on;
	desk_notify(d, &(struct desk_note){ .type = DESK_NOTE_JOINED });
}

void deskphone_reset(struct desk *d)
{
	struct deskphone *p = d->phone;

	tmr_cancel(&p->tmr);
	free(p->call_id);
	p->call_id = NULL;
	p->contact[0] = '\0';
	p->state = LINE_IDLE;
	p->move = false;
}

static void line_hangup(struct desk *d)
{
	if (d->phone->call_id)
		media_command(d->media, d->phone->call_id, "hangup", NULL,
			      NULL, NULL);
	else
		media_command_ua(d->media, MEDIA_ACCOUNT_DESK, "hangup", NULL,
				 NULL, NULL);
}

/* The contact no longer needs the desk phone. */
static void line_release(struct desk *d, const struct contact *c)
{
	if (!line_serves(d->phone, c))
		return;
	if (media_get_state(d->media) == MEDIA_STATE_UP)
		line_hangup(d);
	deskphone_reset(d);
}

/* The desk phone hears, and speaks to, the party the agent talks to. */
static void line_route(struct desk *d, struct contact *c)
{
	struct deskphone *p = d->phone;
	struct conn *k;
	char name[48];

	if (!live_owned(c) || live_left(c) || live_conference(c) ||
	    p->state != LINE_UP || !line_serves(p, c) || !p->call_id)
		return;
	k = contact_conn(c, live_active(c));
	if (!k || !conn_call_id(k) || !conn_is_live(k) ||
	    conn_state(k) == CONN_CONNECTING)
		return;
	snprintf(name, sizeof(name), "ccpd-desk-%u", ++p->seq);
	if (media_pair_calls(d->media, name, conn_call_id(k), p->call_id) < 0)
		log_warning("deskphone: could not connect the desk phone to "
			    "%s", conn_id(k));
}

/* The move's progress, journaled: who was moved off the softphone, when
 * and why matters when a supervisor asks about a call. */
static void move_event(struct desk *d, const char *status,
		       const char *contact, const char *reason)
{
	cJSON *data = cJSON_CreateObject();

	if (!data)
		return;
	cJSON_AddStringToObject(data, "status", status);
	json_add_str_or_null(data, "contactId", contact);
	cJSON_AddStringToObject(data, "extension", d->phone->extension);
	cJSON_AddBoolToObject(data, "softphoneEnabled", !d->phone->on);
	if (reason)
		cJSON_AddStringToObject(data, "reason", reason);
	status_publish(d, "agent.deskPhoneMove", contact, data);
}

void deskphone_move_failed(struct desk *d, const char *reason)
{
	move_event(d, "failed", NULL, reason);
}

/* The desk phone did not answer: an offer rings on, a dial fails, a call
 * being moved stays on the softphone. */
static void line_failed(struct desk *d, const char *reason)
{
	struct deskphone *p = d->phone;
	struct contact *c = contacts_find(d->contacts, p->contact);
	const char *id = c ? contact_id(c) : NULL;
	bool move = p->move;

	deskphone_reset(d);
	if (move) {
		log_fields(LOG_NOTICE, id, NULL, "deskphone: the desk phone %s "
			   "did not answer; the call stays on the softphone: "
			   "%s", p->extension, reason);
		move_event(d, "failed", id, reason);
		return;
	}
	if (!c || !live_owned(c))
		return;
	log_fields(LOG_NOTICE, id, NULL, "deskphone: the desk phone %s did "
		   "not answer for %s: %s", p->extension, id, reason);
	live_agent_failed(d, c);
}

static void line_timeout(void *arg)
{
	struct desk *d = arg;

	if (d->phone->state != LINE_RINGING)
		return;
	line_hangup(d);
	line_failed(d, "no answer");
}

/* The desk phone answered to take over a connected call: the agent is on
 * the desk phone from now on, and the customer hears it. */
static void line_moved(struct desk *d, struct contact *c)
{
	d->phone->move = false;
	if (!c || contact_state(c) != CONTACT_CONNECTED) {
		line_hangup(d);
		deskphone_reset(d);
		move_event(d, "failed", c ? contact_id(c) : NULL,
			   "the contact ended first");
		return;
	}
	set_on(d, true);
	line_route(d, c);
	log_fields(LOG_NOTICE, contact_id(c), NULL, "deskphone: %s moved to "
		   "the desk phone %s", contact_id(c), d->phone->extension);
	move_event(d, "moved", contact_id(c), NULL);
}

/* The agent is on the line: answer the customer, or dial them. */
static void line_connect_customer(void *arg)
{
	struct desk *d = arg;
	struct contact *c = contacts_find(d->contacts, d->phone->contact);

	if (d->phone->state != LINE_UP || !c ||
	    contact_state(c) != CONTACT_CONNECTING)
		return;
	if (contact_dir(c) == CONTACT_INBOUND)
		(void)live_command(d, c, "accept");
	else if (live_dial_place(d, c) < 0)
		line_failed(d, "the media stack refused the dial");
}

static void line_answered(struct desk *d, struct contact *c)
{
	struct deskphone *p = d->phone;

	if (p->state != LINE_RINGING)
		return;
	tmr_cancel(&p->tmr);
	p->state = LINE_UP;
	log_fields(LOG_INFO, p->contact, NULL, "deskphone: the desk phone "
		   "answered for %s", p->contact);
	if (p->move) {
		line_moved(d, c);
		return;
	}
	if (!c || contact_state(c) != CONTACT_CONNECTING)
		return;
	/* the customer's recording must not share the desk call's second
	 * (see util_ms_to_next_second) */
	if (*d->conf->snd_path)
		tmr_start(&p->tmr, util_ms_to_next_second(),
			  line_connect_customer, d);
	else
		line_connect_customer(d);
}

/* The agent put the handset down: their hang-up (or leave, with two
 * parties on), which the hub carries out. */
static void line_closed(struct desk *d, struct contact *c, const char *param)
{
	struct deskphone *p = d->phone;

	if (p->state == LINE_RINGING) {
		line_failed(d, param && *param ? param : "closed");
		return;
	}
	free(p->call_id);
	p->call_id = NULL;
	p->state = LINE_IDLE;
	if (c && contact_state(c) == CONTACT_CONNECTED && live_owned(c) &&
	    !live_left(c)) {
		log_fields(LOG_INFO, contact_id(c), NULL, "deskphone: the desk "
			   "phone hung up %s", contact_id(c));
		desk_notify_contact(d, DESK_NOTE_HANGUP, c);
	}
	deskphone_reset(d);
}

/* baresip's events about the desk phone's call. */
void deskphone_event(struct desk *d, const struct media_event *ev)
{
	struct deskphone *p = d->phone;
	struct contact *c;

	if (p->state == LINE_IDLE || !ev->call_id)
		return;
	/* periodic reports (RTCP, levels) of an earlier desk call must not
	 * be taken for this one */
	if (!p->call_id && (ev->type == MEDIA_EV_CALL_RINGING ||
			    ev->type == MEDIA_EV_CALL_PROGRESS ||
			    ev->type == MEDIA_EV_CALL_ESTABLISHED ||
			    ev->type == MEDIA_EV_CALL_CLOSED))
		p->call_id = strdup(ev->call_id);
	if (!p->call_id || strcmp(p->call_id, ev->call_id) != 0)
		return;
	c = contacts_find(d->contacts, p->contact);
	if (ev->type == MEDIA_EV_CALL_ESTABLISHED)
		line_answered(d, c);
	else if (ev->type == MEDIA_EV_CALL_CLOSED)
		line_closed(d, c, ev->param);
}

/* Ring the desk phone for a contact; its devices stay unpaired (silent)
 * until the customer is on. */
int deskphone_ring(struct desk *d, struct contact *c, struct desk_err *e)
{
	struct deskphone *p = d->phone;
	int r;

	if (p->state != LINE_IDLE)
		return desk_fail(e, CCPD_ERR_INVALID_STATE, "the desk phone is "
				 "still on %s", p->contact);
	r = media_dial_from(d->media, MEDIA_ACCOUNT_DESK,
			    "aubridge,ccpd-desk-wait-src",
			    "aubridge,ccpd-desk-wait-play", p->uri,
			    live_log_refusal,
			    (void *)"dial of the desk phone");
	if (r < 0)
		return live_media_error(d, e, r);
	p->state = LINE_RINGING;
	snprintf(p->contact, sizeof(p->contact), "%s", contact_id(c));
	tmr_start(&p->tmr, d->conf->desk_phone_timeout * 1000ULL,
		  line_timeout, d);
	log_fields(LOG_INFO, contact_id(c), NULL, "deskphone: ringing the desk "
		   "phone %s for %s", p->uri, contact_id(c));
	return 0;
}

void deskphone_switch(struct desk *d, const char *why)
{
	set_on(d, true);
	log_notice("deskphone: the agent moved to the desk phone %s%s",
		   d->phone->extension, why);
	move_event(d, "moved", NULL, NULL);
}

/* The agent's call on the softphone, if any: connected, or being set up
 * (which cannot move yet). */
static struct contact *softphone_call(struct desk *d, bool *connecting)
{
	struct contact *c;

	*connecting = false;
	for (c = contacts_first(d->contacts); c; c = contacts_next(c)) {
		if (!live_owned(c) || live_left(c))
			continue;
		if (contact_state(c) == CONTACT_CONNECTING)
			*connecting = true;
		if (contact_state(c) == CONTACT_CONNECTED)
			return c;
	}
	return NULL;
}

static int can_move(const struct desk *d, struct desk_err *e)
{
	const struct deskphone *p = d->phone;

	if (p->on)
		return desk_fail(e, CCPD_ERR_INVALID_STATE, "the agent is on "
				 "the desk phone %s already", p->extension);
	if (!p->extension[0])
		return desk_fail(e, CCPD_ERR_INVALID_STATE, "the agent has no "
				 "desk phone extension (agent.setConfiguration, "
				 "or the user's extension)");
	if (p->state != LINE_IDLE)
		return desk_fail(e, CCPD_ERR_INVALID_STATE, "the desk phone is "
				 "being rung for %s already", p->contact);
	return 0;
}

int deskphone_move(struct desk *d, bool busy, char *contact_out, size_t size,
		   struct desk_err *e)
{
	struct contact *c;
	bool connecting;
	int r = can_move(d, e);

	if (r < 0)
		return r;
	c = softphone_call(d, &connecting);
	if (!c && connecting)
		return desk_fail(e, CCPD_ERR_INVALID_STATE, "a call is being "
				 "set up; move it once it is connected");
	if (contact_out && size)
		contact_out[0] = '\0';
	if (!c) {
		/* nothing to carry over: offers ring the desk phone now */
		deskphone_switch(d, "");
		return 0;
	}
	if (live_conference(c) || busy || live_xfer(c) != XFER_NONE)
		return desk_fail(e, CCPD_ERR_INVALID_STATE, "contact %s is in a "
				 "conference or a transfer, which the desk "
				 "phone cannot take over", contact_id(c));
	r = deskphone_ring(d, c, e);
	if (r < 0)
		return r;
	d->phone->move = true;
	if (contact_out && size)
		snprintf(contact_out, size, "%s", contact_id(c));
	move_event(d, "ringing", contact_id(c), NULL);
	return 0;
}

/* The extension must be a number in E.164 and pass the dial plan. */
static int set_extension(struct desk *d, const char *extension,
			 struct desk_err *e)
{
	char uri[CCPD_MAX_ENDPOINT + 128], e164[PHONE_E164_MAX];
	int r;

	if (strncasecmp(extension, "sip:", 4) == 0 ||
	    strncasecmp(extension, "sips:", 5) == 0 ||
	    strncasecmp(extension, "tel:", 4) == 0 || extension[0] != '+')
		return desk_fail(e, CCPD_ERR_INVALID_PHONE_NUMBER, "the "
				 "extension must be a phone number in E.164 (+ "
				 "and the country code), not '%s'", extension);
	r = user_endpoint_uri(d, extension, uri, sizeof(uri), e164,
			      sizeof(e164), e);
	if (r < 0)
		return r;
	if (!e164[0])
		return desk_fail(e, CCPD_ERR_INVALID_PHONE_NUMBER, "'%s' is not "
				 "a phone number", extension);
	snprintf(d->phone->extension, sizeof(d->phone->extension), "%s", e164);
	snprintf(d->phone->uri, sizeof(d->phone->uri), "%s", uri);
	return 0;
}

int desk_set_config(struct desk *d, bool softphone, const char *extension,
		    struct desk_err *e)
{
	const struct agent *a = status_agent(d);
	enum agent_phase ph = agent_get_phase(a);
	int r;

	/* not while a call of the agent's is being set up or talking */
	if (ph == AGENT_PHASE_ACCEPTING || ph == AGENT_PHASE_DIALING ||
	    ph == AGENT_PHASE_CONNECTED || d->phone->state != LINE_IDLE)
		return desk_fail(e, CCPD_ERR_INVALID_STATE, "the agent is %s; "
				 "change the phone between contacts "
				 "(agent.moveToDeskPhone carries a connected "
				 "call over)", agent_state(a));
	if (!softphone && !extension && !d->phone->extension[0])
		return desk_fail(e, CCPD_ERR_INVALID_PARAMS, "a desk phone "
				 "needs \"extension\", its number in E.164");
	if (extension) {
		r = set_extension(d, extension, e);
		if (r < 0)
			return r;
	}
	set_on(d, !softphone);
	log_info("agent: %s%s", softphone ? "softphone" : "desk phone ",
		 softphone ? "" : d->phone->extension);
	return 0;
}

/* The desk phone follows the contact it serves: released when its
 * contact ends or leaves, connected to whoever the agent talks to. */
static void on_note(struct desk *d, const struct desk_note *n, void *arg)
{
	(void)arg;
	if (n->type == DESK_NOTE_ENDED || n->type == DESK_NOTE_RETIRED)
		line_release(d, n->c);
	else if (n->type == DESK_NOTE_ROUTED)
		line_route(d, n->c);
}

int deskphone_new(struct desk *d)
{
	d->phone = calloc(1, sizeof(*d->phone));
	if (!d->phone)
		return -ENOMEM;
	tmr_init(&d->phone->tmr);
	return desk_watch(d, on_note, NULL);
}

void deskphone_free(struct desk *d)
{
	if (d->phone)
		deskphone_reset(d);
	free(d->phone);
	d->phone = NULL;
}
