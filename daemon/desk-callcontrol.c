/* Call control on a connected contact: hold, resume, swap, mute, DTMF,
 * a consult call to a third party, blind transfer (REFER or a bridge),
 * and leave, where the agent drops out and the two parties are joined
 * inside baresip (aubridge). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ccpd-protocol.h"
#include "conf.h"
#include "desk-int.h"
#include "events.h"
#include "json.h"
#include "log.h"
#include "phone.h"
#include "util.h"

struct callctl {
	/* the two calls joined after a leave: when one ends, so does the
	 * other. One bridge at a time (ausrc switches a whole account). */
	char *bridge[2];
	unsigned seq;           /* names the bridges' aubridge devices */
};

bool callctl_bridged(const struct desk *d)
{
	return d->calls->bridge[0] || d->calls->bridge[1];
}

void callctl_reset(struct desk *d)
{
	struct callctl *cc = d->calls;

	free(cc->bridge[0]);
	free(cc->bridge[1]);
	cc->bridge[0] = cc->bridge[1] = NULL;
}

/* The other leg of a bridge ends with this one. */
void callctl_call_closed(struct desk *d, const char *call_id)
{
	struct callctl *cc = d->calls;
	int i;

	for (i = 0; i < 2; i++) {
		if (!cc->bridge[i] || strcmp(cc->bridge[i], call_id) != 0)
			continue;
		free(cc->bridge[i]);
		cc->bridge[i] = NULL;
		if (cc->bridge[!i]) {
			log_info("bridge: bridged call %s ended; hanging up %s",
				 call_id, cc->bridge[!i]);
			media_command(d->media, cc->bridge[!i], "hangup",
				      NULL, NULL, NULL);
		}
		desk_notify(d, &(struct desk_note){ .type = DESK_NOTE_JOINED });
	}
}

/* baresip's mute toggles one call's microphone, and a new call starts
 * unmuted: bring every party's call the agent speaks on to the agent's
 * choice. Calls of a bridge or a conference carry the parties' voices and
 * are never muted (the conference mutes the agent's own leg). */
static void sync_mute(struct desk *d)
{
	bool muted = status_muted(d);
	struct contact *c;
	unsigned i;

	for (c = contacts_first(d->contacts); c; c = contacts_next(c)) {
		bool want = muted && live_owned(c) && !live_left(c) &&
			    !live_conference(c);

		for (i = 1; i < contact_conn_count(c); i++) {
			struct conn *k = contact_conn(c, i);

			if (!conn_call_id(k) || !conn_is_live(k) ||
			    conn_state(k) == CONN_CONNECTING ||
			    conn_muted(k) == want)
				continue;
			if (live_conn_command(d, k, "mute", NULL) == 0)
				conn_set_muted(k, want);
		}
	}
}

int desk_set_mute(struct desk *d, bool muted, struct desk_err *e)
{
	cJSON *data;

	(void)e;
	if (status_muted(d) == muted)
		return 0;
	status_set_muted(d, muted);
	log_info("agent: %s", muted ? "muted" : "unmuted");
	desk_notify(d, &(struct desk_note){ .type = DESK_NOTE_MUTED });
	data = cJSON_CreateObject();
	if (data) {
		cJSON_AddBoolToObject(data, "muted", muted);
		cJSON_AddItemToObject(data, "agent", desk_agent_json(d));
		events_emit(d->ev, "agent.muteToggle", data);
	}
	return 0;
}

/* The connection an action on a party applies to: the one named, else
 * the one the agent talks to. */
static struct conn *party_conn(struct contact *c, const char *connection_id,
			       struct desk_err *e)
{
	struct conn *k;

	if (connection_id) {
		k = live_find_conn(c, connection_id, e);
		if (k && conn_party(k) == PARTY_AGENT) {
			desk_fail(e, CCPD_ERR_INVALID_STATE, "%s is the agent's "
				  "own connection; name a party's", conn_id(k));
			return NULL;
		}
		return k;
	}
	k = contact_conn(c, live_active(c));
	return k ? k : contact_conn(c, CONN_CUSTOMER_IDX);
}

static int not_in(struct desk_err *e, const struct conn *k,
		  const char *wanted)
{
	return desk_fail(e, CCPD_ERR_INVALID_STATE, "connection %s is %s, not "
			 "%s", conn_id(k), conn_state_name(conn_state(k)),
			 wanted);
}

int desk_hold(struct desk *d, const char *contact_id_,
	      const char *connection_id, struct desk_err *e)
{
	struct contact *c = live_find_connected(d, contact_id_, e);
	struct conn *k;
	int r;

	if (!c || !(k = party_conn(c, connection_id, e)))
		return e->code;
	if (conn_state(k) == CONN_HOLD)
		return 0;
	if (conn_state(k) != CONN_CONNECTED)
		return not_in(e, k, "connected");
	r = live_conn_command(d, k, "hold", NULL);
	if (r < 0)
		return live_media_error(d, e, r);
	live_conn_change(d, c, k, CONN_HOLD, "agent", CONTACT_BY_NONE);
	return 0;
}

int desk_resume(struct desk *d, const char *contact_id_,
		const char *connection_id, struct desk_err *e)
{
	struct contact *c = live_find_connected(d, contact_id_, e);
	struct conn *k;
	unsigned i;
	int r;

	if (!c || !(k = party_conn(c, connection_id, e)))
		return e->code;
	if (conn_state(k) == CONN_CONNECTED)
		return 0;
	if (conn_state(k) != CONN_HOLD)
		return not_in(e, k, "on hold");
	/* outside a conference the agent talks to one party at a time */
	for (i = 1; i < contact_conn_count(c) && !live_conference(c); i++) {
		struct conn *o = contact_conn(c, i);

		if (o != k && conn_state(o) == CONN_CONNECTED)
			return desk_fail(e, CCPD_ERR_INVALID_STATE, "the agent "
					 "is talking with %s; hold it or swap "
					 "(contact.toggleActiveConnections)",
					 conn_id(o));
	}
	r = live_conn_command(d, k, "resume", NULL);
	if (r < 0)
		return live_media_error(d, e, r);
	live_set_active(c, conn_index(k));
	live_conn_change(d, c, k, CONN_CONNECTED, "agent", CONTACT_BY_NONE);
	desk_notify_contact(d, DESK_NOTE_ROUTED, c);
	return 0;
}

int desk_swap(struct desk *d, const char *contact_id_, struct desk_err *e)
{
	struct contact *c = live_find_connected(d, contact_id_, e);
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
		return desk_fail(e, CCPD_ERR_INVALID_STATE, "contact %s has no "
				 "connected and held party to swap between",
				 contact_id(c));
	r = live_conn_command(d, on, "hold", NULL);
	if (r == 0)
		r = live_conn_command(d, held, "resume", NULL);
	if (r < 0)
		return live_media_error(d, e, r);
	live_conn_change(d, c, on, CONN_HOLD, "swap", CONTACT_BY_NONE);
	live_conn_change(d, c, held, CONN_CONNECTED, "swap", CONTACT_BY_NONE);
	live_set_active(c, conn_index(held));
	desk_notify_contact(d, DESK_NOTE_ROUTED, c);
	return 0;
}

int desk_send_digits(struct desk *d, const char *contact_id_,
		     const char *connection_id, const char *digits,
		     struct desk_err *e)
{
	struct contact *c = live_find_connected(d, contact_id_, e);
	struct conn *k;
	const char *p;
	char one[2] = "";
	int r = 0;

	if (!c || !(k = party_conn(c, connection_id, e)))
		return e->code;
	if (conn_state(k) != CONN_CONNECTED)
		return not_in(e, k, "connected");
	/* one sndcode per digit: each is a press and a release, queued by
	 * baresip's telephone-event sender in order */
	for (p = digits; *p && r == 0; p++) {
		one[0] = *p;
		r = live_conn_command(d, k, "sndcode", one);
	}
	if (r < 0)
		return live_media_error(d, e, r);
	log_fields(LOG_INFO, contact_id(c), NULL, "contact: %s sent %zu "
		   "digits on %s", contact_id(c), strlen(digits), conn_id(k));
	return 0;
}

/* Dial a third party from the consult account, with the customer held. */
static int dial_third(struct desk *d, struct contact *c, const char *uri,
		      struct conn **ret, struct desk_err *e)
{
	struct conn *cust = contact_conn(c, CONN_CUSTOMER_IDX), *k;
	int r;

	if (contact_live_parties(c) > 1)
		return desk_fail(e, CCPD_ERR_INVALID_STATE, "contact %s already "
				 "has a third party", contact_id(c));
	if (!conn_is_live(cust))
		return desk_fail(e, CCPD_ERR_INVALID_STATE, "the customer of "
				 "%s has left", contact_id(c));
	if (media_get_state(d->media) != MEDIA_STATE_UP)
		return live_media_error(d, e, -ENOTCONN);
	r = contact_add_third(c, uri, &k);
	if (r == -E2BIG)
		return desk_fail(e, CCPD_ERR_INVALID_STATE, "contact %s has had "
				 "as many connections as it may (%d)",
				 contact_id(c), CONTACT_MAX_CONNS);
	if (r < 0)
		return desk_fail(e, CCPD_ERR_INTERNAL, "out of memory");
	if (conn_state(cust) == CONN_CONNECTED) {
		r = live_conn_command(d, cust, "hold", NULL);
		if (r < 0)
			goto media_failed;
		live_conn_change(d, c, cust, CONN_HOLD, "consult",
				 CONTACT_BY_NONE);
	}
	r = media_command_ua(d->media, MEDIA_ACCOUNT_CONSULT, "dial", uri,
			     live_log_refusal, (void *)"dial of a third party");
	if (r < 0)
		goto media_failed;
	live_set_active(c, conn_index(k));
	live_conn_change(d, c, k, CONN_CONNECTING, NULL, CONTACT_BY_NONE);
	live_conn_new(d, c, k);
	*ret = k;
	return 0;
media_failed:
	conn_set_state(k, CONN_DISCONNECTED, util_now_ms());
	conn_set_end(k, "media unavailable", CONTACT_BY_SYSTEM);
	return live_media_error(d, e, r);
}

int desk_add_connection(struct desk *d, const char *contact_id_,
			const char *endpoint, char *conn_id_out,
			size_t size, struct desk_err *e)
{
	char uri[CCPD_MAX_ENDPOINT + 128], e164[PHONE_E164_MAX];
	struct contact *c = live_find_connected(d, contact_id_, e);
	struct conn *k;
	int r;

	if (!c)
		return e->code;
	r = user_endpoint_uri(d, endpoint, uri, sizeof(uri), e164,
			      sizeof(e164), e);
	if (r < 0)
		return r;
	r = dial_third(d, c, uri, &k, e);
	if (r < 0)
		return r;
	snprintf(conn_id_out, size, "%s", conn_id(k));
	return 0;
}

/* The agent drops out and the two parties are joined: their calls'
 * audio crosses through aubridge devices, both off hold and unmuted. */
static void leave(struct desk *d, struct contact *c)
{
	struct callctl *cc = d->calls;
	char name[48];
	unsigned i, n = 0;
	cJSON *data;

	snprintf(name, sizeof(name), "ccpd-bridge-%u", ++cc->seq);
	if (media_bridge(d->media, name,
			 conn_call_id(contact_conn(c, CONN_CUSTOMER_IDX))) < 0)
		log_warning("bridge: could not bridge the parties of %s",
			    contact_id(c));
	live_set_left(c);
	for (i = 1; i < contact_conn_count(c); i++) {
		struct conn *k = contact_conn(c, i);

		if (!conn_is_live(k))
			continue;
		if (n < 2) {
			free(cc->bridge[n]);
			cc->bridge[n++] = conn_call_id(k) ?
				strdup(conn_call_id(k)) : NULL;
		}
		if (conn_state(k) == CONN_HOLD &&
		    live_conn_command(d, k, "resume", NULL) == 0)
			live_conn_change(d, c, k, CONN_CONNECTED, "bridged",
					 CONTACT_BY_NONE);
	}
	sync_mute(d);
	desk_notify(d, &(struct desk_note){ .type = DESK_NOTE_JOINED });
	data = cJSON_CreateObject();
	if (data) {
		cJSON_AddStringToObject(data, "method", "bridge");
		json_add_str_or_null(data, "endpoint", live_xfer_target(c));
		live_publish_data(d, "contact.transferred", c, data);
	}
	live_to_acw(d, c, CONTACT_END_TRANSFERRED, CONTACT_BY_AGENT);
}

int callctl_leave(struct desk *d, struct contact *c, struct desk_err *e)
{
	unsigned i;

	if (callctl_bridged(d))
		return desk_fail(e, CCPD_ERR_INVALID_STATE, "the parties of an "
				 "earlier contact are still bridged; hang up "
				 "instead");
	for (i = 1; i < contact_conn_count(c); i++)
		if (conn_state(contact_conn(c, i)) == CONN_CONNECTING)
			return desk_fail(e, CCPD_ERR_INVALID_STATE, "connection "
					 "%s is still connecting",
					 conn_id(contact_conn(c, i)));
	if (media_get_state(d->media) != MEDIA_STATE_UP)
		return live_media_error(d, e, -ENOTCONN);
	leave(d, c);
	return 0;
}

static int transfer_begin(struct desk *d, struct contact *c, const char *uri,
			  bool refer, struct desk_err *e)
{
	struct conn *k;
	int r;

	live_set_xfer(c, XFER_NONE, uri);
	if (refer) {
		r = live_conn_command(d, contact_conn(c, CONN_CUSTOMER_IDX),
				      "transfer", uri);
		if (r < 0)
			return live_media_error(d, e, r);
		live_set_xfer(c, XFER_REFER, NULL);
		return 0;
	}
	r = dial_third(d, c, uri, &k, e);
	if (r < 0)
		return r;
	live_set_xfer(c, XFER_BRIDGE, NULL);
	return 0;
}

int desk_transfer(struct desk *d, const char *contact_id_,
		  const char *endpoint, const char *method,
		  struct desk_err *e)
{
	char uri[CCPD_MAX_ENDPOINT + 128], e164[PHONE_E164_MAX];
	struct contact *c = live_find_connected(d, contact_id_, e);
	bool refer;
	int r;

	if (!c)
		return e->code;
	if (!method)
		method = d->conf->transfer_method;
	if (strcmp(method, "refer") != 0 && strcmp(method, "bridge") != 0)
		return desk_fail(e, CCPD_ERR_INVALID_PARAMS, "\"method\" must "
				 "be \"refer\" or \"bridge\", not \"%s\"",
				 method);
	refer = strcmp(method, "refer") == 0;
	r = user_endpoint_uri(d, endpoint, uri, sizeof(uri), e164,
			      sizeof(e164), e);
	if (r < 0)
		return r;
	if (live_xfer(c) != XFER_NONE)
		return desk_fail(e, CCPD_ERR_INVALID_STATE, "a transfer of %s is "
				 "already under way", contact_id(c));
	if (!conn_is_live(contact_conn(c, CONN_CUSTOMER_IDX)) ||
	    contact_live_parties(c) > 1)
		return desk_fail(e, CCPD_ERR_INVALID_STATE, "contact %s must "
				 "have the customer alone on it to transfer; "
				 "to hand over a consult, leave "
				 "(connection.destroy)", contact_id(c));
	if (!refer && callctl_bridged(d))
		return desk_fail(e, CCPD_ERR_INVALID_STATE, "the parties of an "
				 "earlier contact are still bridged; use "
				 "\"method\": \"refer\"");
	r = transfer_begin(d, c, uri, refer, e);
	if (r < 0)
		return r;
	log_fields(LOG_INFO, contact_id(c), NULL, "contact: %s transfer to %s "
		   "by %s", contact_id(c), uri, method);
	return 0;
}

/* Who the agent talks to changed, or the agent muted: the party calls
 * follow. A third party that answers a transfer by bridge ends the
 * agent's part: the two parties talk. */
static void on_note(struct desk *d, const struct desk_note *n, void *arg)
{
	(void)arg;
	if (n->type == DESK_NOTE_ROUTED || n->type == DESK_NOTE_MUTED) {
		sync_mute(d);
	} else if (n->type == DESK_NOTE_THIRD_UP &&
		   live_xfer(n->c) == XFER_BRIDGE) {
		live_set_xfer(n->c, XFER_NONE, NULL);
		leave(d, n->c);
	}
}

int callctl_new(struct desk *d)
{
	d->calls = calloc(1, sizeof(*d->calls));
	if (!d->calls)
		return -ENOMEM;
	return desk_watch(d, on_note, NULL);
}

void callctl_free(struct desk *d)
{
	if (d->calls)
		callctl_reset(d);
	free(d->calls);
	d->calls = NULL;
}
