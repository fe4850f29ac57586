/* The three-way conference. The customer's and the third party's calls
 * are each crossed (aubridge) with a leg from baresip to ccpd's focus,
 * and the agent's own leg to the focus takes the agent's devices (or the
 * desk phone's call); the focus mixes the three. One at a time: it
 * outlives its contact when the agent leaves, until one of the parties
 * hangs up. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <re.h>

#include "ccpd-protocol.h"
#include "conf.h"
#include "desk-int.h"
#include "events.h"
#include "focus.h"
#include "log.h"
#include "util.h"

enum { LEG_AGENT, LEG_CUSTOMER, LEG_THIRD, LEG_COUNT };

/* The conference under way. */
struct room {
	char contact[DESK_ID_MAX];
	struct focus_room *room;
	unsigned seq;                   /* names its aubridge devices */
	char *party[2];                 /* the customer's and third's calls */
	char *leg[LEG_COUNT];           /* baresip's calls to the focus */
	char *desk_call;                /* the desk phone's, for the agent */
	bool leg_muted;
	bool left;                      /* the agent left: the two talk on */
	unsigned next_leg;              /* legs are dialed in order */
	struct tmr tmr;
};

struct meeting {
	struct room *g;                 /* NULL: none */
	unsigned seq;
};

static const char *const leg_who[LEG_COUNT] = { "agent", "customer", "third" };
static const enum media_account leg_account[LEG_COUNT] = {
	MEDIA_ACCOUNT_MIX_AGENT, MEDIA_ACCOUNT_MIX_CUSTOMER,
	MEDIA_ACCOUNT_MIX_THIRD,
};

bool meeting_active(const struct desk *d)
{
	return d->meeting->g != NULL;
}

bool meeting_leg_of(const struct desk *d, const struct media_event *ev,
		    unsigned *leg)
{
	unsigned i;

	if (!ev->outgoing)
		return false;
	for (i = 0; i < LEG_COUNT; i++)
		if (media_event_on(d->media, ev, leg_account[i])) {
			*leg = i;
			return true;
		}
	return false;
}

/* The room goes; the focus hangs up its members, and baresip closes the
 * legs. */
void meeting_reset(struct desk *d)
{
	struct room *g = d->meeting->g;
	int i;

	if (!g)
		return;
	tmr_cancel(&g->tmr);
	g->room = focus_room_free(g->room);
	for (i = 0; i < 2; i++)
		free(g->party[i]);
	for (i = 0; i < LEG_COUNT; i++)
		free(g->leg[i]);
	free(g->desk_call);
	free(g);
	d->meeting->g = NULL;
}

static void drop(struct desk *d)
{
	meeting_reset(d);
	desk_notify(d, &(struct desk_note){ .type = DESK_NOTE_JOINED });
}

/* In a conference the agent speaks on their own leg to the focus: mute
 * follows the agent there (the parties' calls carry the room). */
static void sync_mute(struct desk *d)
{
	struct room *g = d->meeting->g;
	bool muted = status_muted(d);

	if (g && !g->left && g->leg[LEG_AGENT] && g->leg_muted != muted &&
	    media_command(d->media, g->leg[LEG_AGENT], "mute", NULL,
			  live_log_refusal,
			  (void *)"mute of the agent's leg") == 0)
		g->leg_muted = muted;
}

/* The conference ends while its contact goes on (or ends): the legs go,
 * and a party still on talks to the agent's own devices again. */
static void meeting_end(struct desk *d)
{
	struct room *g = d->meeting->g;
	struct contact *c;
	int i;

	if (!g)
		return;
	c = contacts_find(d->contacts, g->contact);
	if (c)
		live_set_conference(c, false);
	for (i = 0; i < 2; i++)
		if (g->party[i] && c && contact_is_live(c))
			(void)media_call_devices(d->media, g->party[i], NULL,
						 NULL);
	log_fields(LOG_INFO, g->contact, NULL, "meeting: %s conference ended",
		   g->contact);
	drop(d);
}

/* Dial one leg to the focus. The party's account gets devices crossed
 * with the leg's, so the party hears the room and the room hears them;
 * the agent's leg takes the agent's own devices (or, with a desk phone,
 * is crossed with the desk phone's call). */
static int meeting_dial(struct desk *d, unsigned leg)
{
	struct room *g = d->meeting->g;
	char uri[256], ab[96], ba[96];
	const char *party;
	int r;

	if (focus_room_uri(g->room, leg_who[leg], uri, sizeof(uri)) < 0)
		return -ENAMETOOLONG;
	snprintf(ab, sizeof(ab), "aubridge,ccpd-mix-%u-%s-ab", g->seq,
		 leg_who[leg]);
	snprintf(ba, sizeof(ba), "aubridge,ccpd-mix-%u-%s-ba", g->seq,
		 leg_who[leg]);
	party = leg == LEG_AGENT ? g->desk_call : g->party[leg - 1];
	if (!party)
		return media_dial_from(d->media, leg_account[leg], NULL, NULL,
				       uri, live_log_refusal,
				       (void *)"dial of the agent's leg");
	r = media_call_devices(d->media, party, ba, ab);
	if (r == 0)
		r = media_dial_from(d->media, leg_account[leg], ab, ba, uri,
				    live_log_refusal, (void *)"dial of a leg");
	return r;
}

/* The party's connection a leg carries: the customer's, or the third
 * party's, the last live one. */
static struct conn *leg_conn(struct contact *c, unsigned leg)
{
	struct conn *k = contact_conn(c, leg == LEG_CUSTOMER ?
				      CONN_CUSTOMER_IDX :
				      CONN_CUSTOMER_IDX + 1);
	unsigned i;

	if (leg == LEG_THIRD)
		for (i = 2; i < contact_conn_count(c); i++)
			if (conn_is_live(contact_conn(c, i)))
				k = contact_conn(c, i);
	return k;
}

/* Bring one party into the room: its leg, then off hold. */
static void meeting_step(struct desk *d)
{
	struct room *g = d->meeting->g;
	struct contact *c = g ? contacts_find(d->contacts, g->contact) : NULL;
	struct conn *k;
	unsigned leg;

	if (!g || g->next_leg >= LEG_COUNT)
		return;
	leg = g->next_leg++;
	if (meeting_dial(d, leg) < 0)
		log_warning("meeting: could not dial the %s's leg of the "
			    "conference", leg_who[leg]);
	if (leg == LEG_AGENT || !c)
		return;
	k = leg_conn(c, leg);
	if (k && conn_state(k) == CONN_HOLD &&
	    live_conn_command(d, k, "resume", NULL) == 0)
		live_conn_change(d, c, k, CONN_CONNECTED, "conference",
				 CONTACT_BY_NONE);
}

/* sndfile names its recordings by the second a call's audio starts: with
 * snd_path set, legs starting in the same second would write one file.
 * The legs then start a second apart. */
static void meeting_next(void *arg)
{
	struct desk *d = arg;
	struct room *g;

	meeting_step(d);
	g = d->meeting->g;
	if (!g || g->next_leg >= LEG_COUNT)
		return;
	tmr_start(&g->tmr, util_ms_to_next_second(), meeting_next, d);
}

/* The third party to join: every party connected or held, none still
 * connecting. */
static int third_of(struct contact *c, struct conn **ret, struct desk_err *e)
{
	struct conn *third = NULL;
	unsigned i;

	for (i = 1; i < contact_conn_count(c); i++) {
		struct conn *k = contact_conn(c, i);

		if (conn_state(k) == CONN_CONNECTING)
			return desk_fail(e, CCPD_ERR_INVALID_STATE, "connection "
					 "%s is still connecting", conn_id(k));
		if (i > CONN_CUSTOMER_IDX && conn_is_live(k))
			third = k;
	}
	if (!third || !conn_call_id(third) ||
	    !conn_call_id(contact_conn(c, CONN_CUSTOMER_IDX)))
		return desk_fail(e, CCPD_ERR_INVALID_STATE, "contact %s has no "
				 "third party to join", contact_id(c));
	*ret = third;
	return 0;
}

static int open_room(struct desk *d, struct contact *c, struct conn *third,
		     const char *desk_call, struct desk_err *e)
{
	struct room *g = calloc(1, sizeof(*g));
	int r;

	if (!g)
		return desk_fail(e, CCPD_ERR_INTERNAL, "out of memory");
	d->meeting->g = g;
	tmr_init(&g->tmr);
	snprintf(g->contact, sizeof(g->contact), "%s", contact_id(c));
	g->seq = ++d->meeting->seq;
	g->party[0] = strdup(conn_call_id(contact_conn(c, CONN_CUSTOMER_IDX)));
	g->party[1] = strdup(conn_call_id(third));
	g->desk_call = desk_call ? strdup(desk_call) : NULL;
	r = focus_room_new(d->focus, &g->room);
	if (r < 0 || !g->party[0] || !g->party[1] ||
	    (desk_call && !g->desk_call)) {
		meeting_reset(d);
		return desk_fail(e, CCPD_ERR_INTERNAL, "cannot open a "
				 "conference room: %s",
				 strerror(r < 0 ? -r : ENOMEM));
	}
	return 0;
}

int meeting_start(struct desk *d, const char *contact_id_, bool bridged,
		  const char *desk_call, struct desk_err *e)
{
	struct contact *c = live_find_connected(d, contact_id_, e);
	struct conn *third = NULL;
	int r;

	if (!c)
		return e->code;
	if (contact_live_parties(c) < 2)
		return desk_fail(e, CCPD_ERR_INVALID_STATE, "contact %s has no "
				 "third party to join", contact_id(c));
	if (live_conference(c))
		return 0;
	r = third_of(c, &third, e);
	if (r < 0)
		return r;
	if (!d->focus)
		return desk_fail(e, CCPD_ERR_MEDIA_UNAVAILABLE, "the "
				 "conference focus did not start; see the "
				 "journal");
	if (media_get_state(d->media) != MEDIA_STATE_UP)
		return live_media_error(d, e, -ENOTCONN);
	/* baresip switches devices per account: the calls of an earlier
	 * join on the same accounts would be switched too */
	if (meeting_active(d) || bridged)
		return desk_fail(e, CCPD_ERR_INVALID_STATE, "the parties of an "
				 "earlier contact are still joined; wait until "
				 "they hang up");
	if (live_xfer(c) != XFER_NONE)
		return desk_fail(e, CCPD_ERR_INVALID_STATE, "a transfer of %s is "
				 "under way", contact_id(c));
	r = open_room(d, c, third, desk_call, e);
	if (r < 0)
		return r;
	live_set_conference(c, true);
	if (*d->conf->snd_path) {
		meeting_next(d);
	} else {
		meeting_step(d);
		meeting_step(d);
		meeting_step(d);
	}
	desk_notify(d, &(struct desk_note){ .type = DESK_NOTE_JOINED });
	desk_notify_contact(d, DESK_NOTE_ROUTED, c);
	log_fields(LOG_INFO, contact_id(c), NULL, "meeting: %s conference "
		   "of the agent, %s and %s", contact_id(c),
		   conn_id(contact_conn(c, CONN_CUSTOMER_IDX)), conn_id(third));
	return 0;
}

/* baresip's events about the legs. */
void meeting_leg_event(struct desk *d, const struct media_event *ev,
		       unsigned leg)
{
	struct room *g = d->meeting->g;

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
	if (ev->type == MEDIA_EV_CALL_ESTABLISHED && leg == LEG_AGENT) {
		/* a new call starts unmuted */
		g->leg_muted = false;
		sync_mute(d);
	} else if (ev->type == MEDIA_EV_CALL_CLOSED) {
		free(g->leg[leg]);
		g->leg[leg] = NULL;
		if (!g->left && leg != LEG_AGENT)
			log_warning("meeting: the %s's leg of the conference "
				    "closed (%s)", leg_who[leg],
				    ev->param ? ev->param : "?");
	}
}

/* The agent now talks to the one left. */
static void talk_to_the_rest(struct desk *d, struct contact *c,
			     const char *gone)
{
	unsigned k;

	for (k = 1; k < contact_conn_count(c); k++) {
		struct conn *o = contact_conn(c, k);

		if (conn_is_live(o) && conn_call_id(o) &&
		    strcmp(conn_call_id(o), gone) != 0)
			live_set_active(c, k);
	}
	desk_notify_contact(d, DESK_NOTE_ROUTED, c);
}

/* A party of the conference hung up. With the agent gone, the other
 * party's call goes too; with the agent on, the conference ends and the
 * contact goes on with the one left. */
void meeting_party_closed(struct desk *d, const char *call_id)
{
	struct room *g = d->meeting->g;
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
		log_info("meeting: conference party %s hung up; hanging up %s",
			 call_id, g->party[other] ? g->party[other] : "-");
		if (g->party[other])
			media_command(d->media, g->party[other], "hangup",
				      NULL, NULL, NULL);
		drop(d);
		return;
	}
	free(g->party[i]);
	g->party[i] = NULL;
	c = contacts_find(d->contacts, g->contact);
	meeting_end(d);
	if (c && live_owned(c))
		talk_to_the_rest(d, c, call_id);
}

/* The agent leaves a conference: their leg goes, the room stays with the
 * two parties, who keep hearing each other. */
void meeting_leave(struct desk *d, struct contact *c)
{
	struct room *g = d->meeting->g;
	cJSON *data;

	if (g->leg[LEG_AGENT])
		media_command(d->media, g->leg[LEG_AGENT], "hangup", NULL,
			      NULL, NULL);
	else
		media_command_ua(d->media, MEDIA_ACCOUNT_MIX_AGENT, "hangup",
				 NULL, NULL, NULL);
	g->left = true;
	live_set_left(c);
	data = cJSON_CreateObject();
	if (data) {
		cJSON_AddStringToObject(data, "method", "conference");
		cJSON_AddNullToObject(data, "endpoint");
		cJSON_AddItemToObject(data, "contact", contact_to_json(c));
		events_emit(d->ev, "contact.transferred", data);
	}
	live_to_acw(d, c, CONTACT_END_TRANSFERRED, CONTACT_BY_AGENT);
}

/* A contact that ends with the agent still in its conference ends the
 * conference; mute follows the agent onto their leg. */
static void on_note(struct desk *d, const struct desk_note *n, void *arg)
{
	struct room *g = d->meeting->g;

	(void)arg;
	if (n->type == DESK_NOTE_ENDED && g && !g->left &&
	    strcmp(g->contact, contact_id(n->c)) == 0)
		meeting_end(d);
	else if (n->type == DESK_NOTE_ROUTED || n->type == DESK_NOTE_MUTED)
		sync_mute(d);
}

int meeting_new(struct desk *d)
{
	d->meeting = calloc(1, sizeof(*d->meeting));
	if (!d->meeting)
		return -ENOMEM;
	return desk_watch(d, on_note, NULL);
}

void meeting_free(struct desk *d)
{
	if (d->meeting)
		meeting_reset(d);
	free(d->meeting);
	d->meeting = NULL;
}
