/* What the desk's own files share; desk.h is the desk for everyone else.
 *
 * The desk is split by concept, one file each. A part calls only the parts
 * listed below it; news travels up through the hub's fan-out (desk_notify),
 * never through a call back up.
 *
 *   desk.c              the hub: handles, baresip's events and states,
 *                       the fan-out, the actions that span parts
 *   desk-fallback.c     the softphone's audio failed: offer the desk phone
 *   desk-miccheck.c     the microphone check
 *   desk-callcontrol.c  hold, resume, swap, mute, DTMF, consult, transfer,
 *                       leave (the parties bridged)
 *   desk-conference.c   the three-way conference in ccpd's focus
 *   desk-deskphone.c    the desk phone, and moving a call onto it
 *   desk-audio.c        audio devices, the ringer, levels, device errors
 *   desk-contacts.c     live contacts: offers, accept, reject, hang up,
 *                       clear, dial, how they end, history
 *   desk-user.c         the user at the desk, their region, caller ID and
 *                       what an endpoint dials (dialplan.c)
 *   desk-status.c       the agent's status, the journal, live metrics
 *   desk-sipacct.c      the user's own SIP account: given to the media
 *                       stack when they arrive, unregistered when they go
 *
 * Each part's state is a struct defined in its own file alone. */
#ifndef CCPD_DESK_INT_H
#define CCPD_DESK_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <cjson/cJSON.h>

#include "agent.h"
#include "contact.h"
#include "desk.h"
#include "media.h"

struct conf;
struct events;
struct store;
struct focus;
struct hub;
struct desk_status;
struct desk_user;
struct callctl;
struct meeting;
struct deskphone;
struct desk_audio;
struct miccheck;
struct desk_sipacct;

/* Room for a contact's id (c-N today; a UUID fits). */
#define DESK_ID_MAX 40

/* Handles only: to what the desk uses, and to its parts. */
struct desk {
	const struct conf *conf;
	struct events *ev;
	struct store *st;               /* NULL: nothing is recorded */
	struct media *media;
	struct contacts *contacts;
	struct focus *focus;            /* NULL when it did not start */
	struct hub *hub;
	struct desk_status *status;
	struct desk_user *user;
	struct callctl *calls;
	struct meeting *meeting;
	struct deskphone *phone;
	struct desk_audio *audio;
	struct miccheck *mic;
	struct desk_sipacct *sip;
};

/* ---- the fan-out (desk.c) ---- */

enum desk_note_type {
	DESK_NOTE_CONTACT,      /* a contact event went out (event names it) */
	DESK_NOTE_OFFERED,      /* a new offer rings for c */
	DESK_NOTE_ROUTED,       /* a party of c came on, or the agent talks
				 * to another one */
	DESK_NOTE_THIRD_UP,     /* c's third party answered */
	DESK_NOTE_ENDED,        /* c went to after-contact work */
	DESK_NOTE_RETIRED,      /* c leaves the live list */
	DESK_NOTE_MUTED,        /* the agent muted or unmuted */
	DESK_NOTE_JOINED,       /* calls were joined or parted: a bridge, the
				 * desk phone, a conference */
	DESK_NOTE_SOFTPHONE_FAILED, /* the softphone's audio failed the agent */
	DESK_NOTE_HANGUP,       /* the agent hung up c on their own phone */
};

struct desk_note {
	enum desk_note_type type;
	struct contact *c;
	const char *event;      /* CONTACT: the event's type */
	const char *error;      /* SOFTPHONE_FAILED: device_lost or
				 * audio_device_error, and what happened */
	const char *message;
	bool call_lost;         /* SOFTPHONE_FAILED: baresip ended c's call */
};

typedef void (desk_watch_h)(struct desk *d, const struct desk_note *n,
			    void *arg);

/* Parts subscribe at start, in the order they are made. */
int desk_watch(struct desk *d, desk_watch_h *h, void *arg);
/* Tell every subscriber, then the facts audio depends on. */
void desk_notify(struct desk *d, const struct desk_note *n);
void desk_notify_contact(struct desk *d, enum desk_note_type type,
			 struct contact *c);

/* ---- the agent's status, the journal, metrics (desk-status.c) ---- */

int status_new(struct desk *d);
void status_free(struct desk *d);
struct agent *status_agent(const struct desk *d);
/* Feed the state machine and announce any visible change. */
int status_feed(struct desk *d, enum agent_input in, int status,
		enum agent_action *act, const char *contact_id);
/* The journal row of an event (or of a change that sends none), written
 * before the event goes out; the contact's record when data holds one. */
void status_record(struct desk *d, const char *type, uint64_t now,
		   bool has_event, const char *contact_id, const cJSON *data);
/* An event that is journaled first; data is consumed. */
void status_publish(struct desk *d, const char *type,
		    const char *contact_id, cJSON *data);
int status_set(struct desk *d, const char *name, struct desk_err *e);
bool status_muted(const struct desk *d);
void status_set_muted(struct desk *d, bool muted);
/* The cached agent JSON is stale. */
void status_changed(struct desk *d);

/* ---- the user at the desk (desk-user.c) ---- */

/* What the admin recorded for a user's phone. */
struct user_phone {
	bool deskphone;
	char extension[32];     /* "" for none */
};

int user_new(struct desk *d);
void user_free(struct desk *d);
/* "" when nobody is logged in. */
const char *user_name(const struct desk *d);
const char *user_display(const struct desk *d);
const char *user_actor(const struct desk *d);
/* Put a user at the desk (NULL: none) and read their region and phone
 * from the store. */
void user_set(struct desk *d, const char *username, const char *display,
	      struct user_phone *phone);
const char *user_region(const struct desk *d);
/* The number an outbound call presents; NULL for the SIP address. */
const char *user_caller_id(const struct desk *d);
/* What the agent (or a CRM) typed, as the URI to dial, and its E.164
 * number when it is one ("" otherwise). */
int user_endpoint_uri(struct desk *d, const char *endpoint, char *uri,
		      size_t size, char *e164, size_t e164_size,
		      struct desk_err *e);

/* ---- the user's SIP account (desk-sipacct.c) ---- */

int sipacct_new(struct desk *d);
void sipacct_free(struct desk *d);
/* The user at the desk changed (or their account did): the agent's account
 * becomes theirs, or the desk's own again. */
void sipacct_apply(struct desk *d);
/* A contact or a call has ended: a user's account kept for it may go. */
void sipacct_recheck(struct desk *d);
/* A user's account has left the media stack: registration.released. */
void sipacct_left(struct desk *d, const char *aor, bool confirmed);
/* A clean stop: the user's account is unregistered first. */
void sipacct_stop(struct desk *d);
/* The agent's account or its registration changed: tell the clients. */
void desk_registration_changed(struct desk *d);
/* A user's account with another address: its registration starts anew. */
void desk_registration_reset_user(struct desk *d);

/* ---- live contacts (desk-contacts.c) ---- */

/* How a transfer in progress is being made. */
enum desk_xfer { XFER_NONE, XFER_REFER, XFER_BRIDGE };

/* What the desk keeps per live contact, asked through these. A contact
 * that never rang (refused on arrival) has none of it. */
bool live_owned(const struct contact *c);
unsigned live_active(const struct contact *c);
void live_set_active(struct contact *c, unsigned idx);
bool live_left(const struct contact *c);
void live_set_left(struct contact *c);
bool live_conference(const struct contact *c);
void live_set_conference(struct contact *c, bool on);
enum desk_xfer live_xfer(const struct contact *c);
const char *live_xfer_target(const struct contact *c);
void live_set_xfer(struct contact *c, enum desk_xfer x, const char *target);
void live_set_audio_failed(struct contact *c);

struct contact *live_find(struct desk *d, const char *id,
			  struct desk_err *e);
/* A contact the agent talks on: connected and not left. */
struct contact *live_find_connected(struct desk *d, const char *id,
				    struct desk_err *e);
struct conn *live_find_conn(struct contact *c, const char *id,
			    struct desk_err *e);
int live_wrong_state(struct desk_err *e, const struct contact *c,
		     const char *wanted);
int live_media_error(struct desk *d, struct desk_err *e, int r);

/* Commands to baresip about a contact's call, or one connection's. */
int live_command(struct desk *d, const struct contact *c, const char *cmd);
int live_conn_command(struct desk *d, const struct conn *k, const char *cmd,
		      const char *params);
/* A handler for a command whose refusal is only logged: arg is a string
 * that says what the command was, and outlives it (a literal). */
void live_log_refusal(bool ok, const char *data, void *arg);

/* Contact events: journaled, sent, and told to the parts. */
void live_publish(struct desk *d, const char *type, struct contact *c);
void live_publish_data(struct desk *d, const char *type, struct contact *c,
		       cJSON *data);
void live_conn_change(struct desk *d, struct contact *c, struct conn *k,
		      enum conn_state st, const char *reason,
		      enum contact_by by);
/* A connection that starts connecting: conn_change speaks only of
 * changes. */
void live_conn_new(struct desk *d, struct contact *c, struct conn *k);
void live_transfer_failed(struct desk *d, struct contact *c,
			  const char *reason);

/* Endings. */
void live_to_acw(struct desk *d, struct contact *c, enum contact_end why,
		 enum contact_by by);
void live_retire(struct desk *d, struct contact *c);
/* The desk phone did not answer for c (see desk-deskphone.c). */
void live_agent_failed(struct desk *d, struct contact *c);
/* Every live contact fails with the media stack. */
void live_fail_all(struct desk *d, const char *reason);
/* Choosing a status dismisses a failed outbound contact. */
void live_retire_failed(struct desk *d);
/* The desk goes: what it kept per contact goes too. */
void live_free_all(struct desk *d);

/* Actions. */
struct contact *live_find_offer(struct desk *d, const char *id,
				struct desk_err *e);
int live_answer(struct desk *d, struct contact *c, struct desk_err *e);
void live_accepted(struct desk *d, struct contact *c);
int live_reject(struct desk *d, struct contact *c, struct desk_err *e);
/* The agent hangs up on a contact with one party left (or names one of
 * several). */
int live_hangup(struct desk *d, struct contact *c, struct conn *k,
		struct desk_err *e);
int live_dial_new(struct desk *d, const char *endpoint, struct contact **ret,
		  struct desk_err *e);
/* Place c's call to the customer (desk phone off: at once). */
int live_dial_place(struct desk *d, struct contact *c);
void live_dial_abandon(struct desk *d, struct contact *c);
void live_dialing(struct desk *d, struct contact *c);

/* baresip's events about the contacts' calls. */
void live_media_event(struct desk *d, const struct media_event *ev);

/* ---- call control (desk-callcontrol.c) ---- */

int callctl_new(struct desk *d);
void callctl_free(struct desk *d);
/* The parties of a contact the agent left are bridged inside baresip. */
bool callctl_bridged(const struct desk *d);
/* One of baresip's calls ended: a bridge ends with either of its legs. */
void callctl_call_closed(struct desk *d, const char *call_id);
void callctl_reset(struct desk *d);
/* The agent leaves c: its two parties are joined. */
int callctl_leave(struct desk *d, struct contact *c, struct desk_err *e);

/* ---- the conference (desk-conference.c) ---- */

int meeting_new(struct desk *d);
void meeting_free(struct desk *d);
bool meeting_active(const struct desk *d);
/* bridged: an earlier contact's parties are still joined; desk_call:
 * the desk phone's call serving this contact, or NULL. */
int meeting_start(struct desk *d, const char *contact_id, bool bridged,
		  const char *desk_call, struct desk_err *e);
void meeting_leave(struct desk *d, struct contact *c);
void meeting_leg_event(struct desk *d, const struct media_event *ev,
		       unsigned leg);
/* Which of the focus accounts an event is about; false for none. */
bool meeting_leg_of(const struct desk *d, const struct media_event *ev,
		    unsigned *leg);
void meeting_party_closed(struct desk *d, const char *call_id);
void meeting_reset(struct desk *d);

/* ---- the desk phone (desk-deskphone.c) ---- */

int deskphone_new(struct desk *d);
void deskphone_free(struct desk *d);
/* The agent takes calls on the desk phone. */
bool deskphone_on(const struct desk *d);
const char *deskphone_extension(const struct desk *d);
/* The desk phone's call when it is up for c, else NULL. */
const char *deskphone_call_for(const struct desk *d, const struct contact *c);
int deskphone_ring(struct desk *d, struct contact *c, struct desk_err *e);
void deskphone_event(struct desk *d, const struct media_event *ev);
/* The agent moves onto the desk phone; busy: calls are joined elsewhere
 * (a bridge or a conference), which the desk phone cannot take over. */
int deskphone_move(struct desk *d, bool busy, char *contact_out,
		   size_t size, struct desk_err *e);
/* No call to carry over: offers ring the desk phone from now on. */
void deskphone_switch(struct desk *d, const char *why);
/* The move failed before it began; journaled as such. */
void deskphone_move_failed(struct desk *d, const char *reason);
void deskphone_reset(struct desk *d);

/* ---- audio (desk-audio.c) ---- */

int audio_new(struct desk *d);
void audio_free(struct desk *d);
/* Facts the hub tells: an offer rings, the agent is muted, calls are
 * joined through aubridge (devices then change after the join). */
void audio_facts(struct desk *d, bool ringing, bool muted, bool joined);
void audio_load(struct desk *d);
void audio_event(struct desk *d, const struct media_event *ev);
/* The microphone (0) or speaker (1) in use; NULL for the default. */
const char *audio_device(const struct desk *d, int role);
void audio_stop(struct desk *d);

/* A level at or below this is no sound (dBov). */
#define AUDIO_SILENCE_DB -60.0

/* ---- the microphone check (desk-miccheck.c) ---- */

int miccheck_new(struct desk *d);
void miccheck_stop(struct desk *d);
void miccheck_free(struct desk *d);

/* ---- the softphone fallback (desk-fallback.c) ---- */

int fallback_new(struct desk *d);

#endif
