/* The agent's desk: binds the pure state machine to contacts, timers, the
 * media stack and the event stream. The RPC layer calls in here; media
 * events arrive here. */
#ifndef CCPD_DESK_H
#define CCPD_DESK_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <cjson/cJSON.h>

struct conf;
struct events;
struct desk;
struct store;

/* The outcome of an action: 0, or a ccpd_error code with a reason. */
struct desk_err {
	int code;
	char reason[256];
};

/* Fill e with code and a reason; returns code. The one way the desk and
 * the admin methods say why they refuse. */
int desk_fail(struct desk_err *e, int code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
int desk_vfail(struct desk_err *e, int code, const char *fmt, va_list ap)
	__attribute__((format(printf, 3, 0)));

typedef void (desk_ready_h)(void *arg);

/* st may be NULL: nothing is then recorded. */
int desk_new(struct desk **ret, const struct conf *conf, struct events *ev,
	     struct store *st, desk_ready_h *ready, void *arg);
struct desk *desk_free(struct desk *d);
int desk_start(struct desk *d);
void desk_shutdown(struct desk *d);

int desk_set_status(struct desk *d, const char *name, struct desk_err *e);
int desk_clear_next(struct desk *d, struct desk_err *e);
int desk_dial(struct desk *d, const char *endpoint, char *contact_id,
	      size_t id_size, struct desk_err *e);
int desk_accept(struct desk *d, const char *contact_id, struct desk_err *e);
int desk_reject(struct desk *d, const char *contact_id, struct desk_err *e);
int desk_hangup(struct desk *d, const char *contact_id,
		const char *connection_id, struct desk_err *e);
int desk_clear(struct desk *d, const char *contact_id, struct desk_err *e);
int desk_hold(struct desk *d, const char *contact_id,
	      const char *connection_id, struct desk_err *e);
int desk_resume(struct desk *d, const char *contact_id,
		const char *connection_id, struct desk_err *e);
int desk_swap(struct desk *d, const char *contact_id, struct desk_err *e);
int desk_set_mute(struct desk *d, bool muted, struct desk_err *e);
int desk_send_digits(struct desk *d, const char *contact_id,
		     const char *connection_id, const char *digits,
		     struct desk_err *e);
int desk_add_connection(struct desk *d, const char *contact_id,
			const char *endpoint, char *conn_id, size_t size,
			struct desk_err *e);
/* method: "refer", "bridge" or NULL for the transfer_method setting */
int desk_transfer(struct desk *d, const char *contact_id,
		  const char *endpoint, const char *method,
		  struct desk_err *e);
int desk_conference(struct desk *d, const char *contact_id,
		    struct desk_err *e);
cJSON *desk_endpoints_json(const struct desk *d);
/* Softphone, or a desk phone at extension (E.164; NULL keeps the last
 * one). */
int desk_set_config(struct desk *d, bool softphone, const char *extension,
		    struct desk_err *e);
/* Off the softphone onto the desk phone: at once with no call; with a
 * connected call, once the desk phone answers (contact_out names it,
 * "" for none). */
int desk_move_to_desk_phone(struct desk *d, char *contact_out, size_t size,
			    struct desk_err *e);

/* The region national numbers are read in ("" for none). */
const char *desk_default_region(const struct desk *d);

cJSON *desk_agent_json(const struct desk *d);
/* The same, encoded; valid until the next change of the desk. */
const char *desk_agent_text(struct desk *d);
cJSON *desk_states_json(const struct desk *d);
cJSON *desk_config_json(const struct desk *d);
cJSON *desk_contacts_json(const struct desk *d);
cJSON *desk_contact_json(const struct desk *d, const char *contact_id);
cJSON *desk_history_json(const struct desk *d, unsigned limit);
cJSON *desk_media_json(const struct desk *d);
cJSON *desk_registration_json(const struct desk *d);
/* The agent's SIP account now: the logged-in user's own when they have
 * one, else the desk's (see media_agent_account). */
struct media_agent_account;
void desk_agent_account(const struct desk *d,
			struct media_agent_account *out);
/* {agent, contacts}: what a subscriber starts from */
cJSON *desk_snapshot_json(const struct desk *d);

/* Who caused what the desk does next: a user name, "uid:N" for a peer
 * trusted by its credentials, or NULL for the system. Recorded in the
 * journal. */
void desk_set_actor(struct desk *d, const char *actor);
/* The user logged in at the desk, or NULL. The journal and the contact
 * records name this user ("system" when none). */
const char *desk_user(const struct desk *d);
const char *desk_journal_user(const struct desk *d);
/* Whether any contact is at the desk (ringing, live, in ACW, failed). */
bool desk_busy(const struct desk *d);
/* A user's own SIP account has left this desk: unregistered (Expires: 0)
 * and removed from baresip, or there was nothing to unregister
 * (unregistered false). username is NULL when not known. From then on this
 * desk does not ring for aor. */
typedef void (desk_sip_released_h)(const char *aor, const char *username,
				   bool unregistered, void *arg);
/* Hear of every user account that leaves (the instance waits for it before
 * another desk may register the user). -ENOSPC past a few watchers. */
int desk_sip_released_watch(struct desk *d, desk_sip_released_h *h,
			    void *arg);
/* An administrator changed username's SIP account: when they are at the
 * desk, it registers with the new one. */
void desk_user_account_changed(struct desk *d, const char *username);
/* Put a user at the desk (NULL: none). Refused with CCPD_ERR_INVALID_STATE
 * while a contact is at the desk and another user would take it. The
 * status becomes Offline (next, during a contact). The agent's SIP
 * account becomes the user's own, if they have one; the one of the user
 * who leaves is unregistered and removed. */
int desk_set_user(struct desk *d, const char *username, const char *display,
		  struct desk_err *e);
/* Whether the agent's status or next status is name. */
bool desk_status_in_use(const struct desk *d, const char *name);
/* A new list of custom statuses: applied at once when the agent is free
 * in a status they chose (returns 0), else as soon as they are (1). */
int desk_set_statuses(struct desk *d, const char *const *names, size_t n);
/* The live figures since ccpd started. */
int desk_prometheus(struct desk *d, char **ret);
cJSON *desk_live_metrics_json(struct desk *d);

/* Audio devices (see desk-audio.c): the list and the choice, kept per user */
void desk_audio_load(struct desk *d);
cJSON *desk_audio_devices_json(const struct desk *d);
/* NULL leaves a role as it is, "" returns it to the default */
int desk_set_audio(struct desk *d, const char *microphone,
		   const char *speaker, const char *ringer, struct desk_err *e);
/* The microphone check: the result comes as an audio.testResult event
 * after *ms. */
int desk_audio_test(struct desk *d, unsigned *ms, struct desk_err *e);

#endif
