/* The media stack: baresip as a supervised child, driven over ctrl_tcp. */
#ifndef CCPD_MEDIA_H
#define CCPD_MEDIA_H

#include <stdbool.h>
#include <sys/types.h>

struct conf;
struct media;

enum media_state {
	MEDIA_STATE_DOWN,
	MEDIA_STATE_STARTING,
	MEDIA_STATE_UP,
};

enum media_ev_type {
	MEDIA_EV_CALL_INCOMING,
	MEDIA_EV_CALL_RINGING,
	MEDIA_EV_CALL_PROGRESS,
	MEDIA_EV_CALL_ESTABLISHED,
	MEDIA_EV_CALL_CLOSED,
	MEDIA_EV_CALL_TRANSFER,
	MEDIA_EV_CALL_TRANSFER_FAILED,
	MEDIA_EV_CALL_DTMF_START,
	MEDIA_EV_CALL_DTMF_END,
	MEDIA_EV_REGISTERING,
	MEDIA_EV_REGISTER_OK,
	MEDIA_EV_REGISTER_FAIL,
	MEDIA_EV_UNREGISTERING,
	MEDIA_EV_VU_TX,         /* param: the level in dBov */
	MEDIA_EV_VU_RX,
	MEDIA_EV_AUDIO_ERROR,   /* param: "<errno>,<reason>" */
	MEDIA_EV_OTHER,
};

/* A typed event from baresip; the strings live for the call only. */
struct media_event {
	enum media_ev_type type;
	const char *name;       /* baresip's own type name */
	const char *call_id;    /* SIP Call-ID, or NULL */
	bool outgoing;
	const char *peer_uri;
	const char *peer_name;
	const char *param;
	const char *aor;
};

/* What became of the user's account (media_set_user_account). */
enum media_account_change {
	MEDIA_ACCOUNT_ADDED,    /* baresip took it; it registers */
	MEDIA_ACCOUNT_REFUSED,  /* baresip refused it: the desk's is used */
	/* it was unregistered (Expires: 0) and removed; confirmed is false
	 * when baresip never said it sent the unregistration (it was not
	 * registered, or was not running) */
	MEDIA_ACCOUNT_LEFT,
};

struct media_handlers {
	void (*event)(const struct media_event *ev, void *arg);
	/* takeover: the control connection closed while baresip lived */
	void (*state)(enum media_state st, const char *reason, bool takeover,
		      void *arg);
	/* the user's account was added, refused or has left (may be NULL) */
	void (*account)(enum media_account_change what, const char *aor,
			bool confirmed, void *arg);
};

/* Called with baresip's answer, or ok=false and a reason when there was
 * none (timeout, restart). A command refused at once (its function returns
 * < 0) never calls it: arg stays the caller's. */
typedef void (media_resp_h)(bool ok, const char *data, void *arg);

int media_new(struct media **ret, const struct conf *conf,
	      const struct media_handlers *h, void *arg);
struct media *media_free(struct media *m);

int media_start(struct media *m);
/* Stop baresip for good, waiting a little for it to send its BYEs. */
void media_shutdown(struct media *m);

/* Send a command. With call_id set, the command acts on that call (the
 * selection and the command reach baresip in one write, so no SIP event
 * can come between them). Returns 0, or -ENOTCONN while media is not up. */
int media_command(struct media *m, const char *call_id, const char *cmd,
		  const char *params, media_resp_h *h, void *arg);

/* The accounts ccpd keeps in baresip: the agent's own, one that places
 * consult calls (so that the two calls can be given different audio
 * devices and bridged), and one that never has calls (so that switching
 * the default devices touches no live call). */
enum media_account {
	MEDIA_ACCOUNT_AGENT,
	MEDIA_ACCOUNT_CONSULT,
	MEDIA_ACCOUNT_IDLE,
	/* the account of the last customer dial: the agent's own or a
	 * caller-ID account (see media_dial) */
	MEDIA_ACCOUNT_DIALED,
	/* the three legs of a conference to ccpd's focus: the agent's, the
	 * customer's, the third party's */
	MEDIA_ACCOUNT_MIX_AGENT,
	MEDIA_ACCOUNT_MIX_CUSTOMER,
	MEDIA_ACCOUNT_MIX_THIRD,
	/* the call to the agent's desk phone */
	MEDIA_ACCOUNT_DESK,
};

/* Dial a URI. With caller_id (an E.164 number) the call is placed from an
 * account whose address has that number for its user part, so the called
 * party sees it in From; NULL dials from the agent's account. Returns as
 * media_command, or -EADDRNOTAVAIL when baresip refused that account. */
int media_dial(struct media *m, const char *caller_id, const char *uri,
	       media_resp_h *h, void *arg);

/* A command that is no call command, with that account made current. */
int media_command_ua(struct media *m, enum media_account acc,
		     const char *cmd, const char *params, media_resp_h *h,
		     void *arg);
const char *media_account_aor(const struct media *m, enum media_account acc);
/* Whether an event is about a call of this account. */
bool media_event_on(const struct media *m, const struct media_event *ev,
		    enum media_account acc);
/* Whether it is about a call of an account ccpd uses for itself (consult,
 * idle, desk phone, the conference's legs): they place calls and never
 * take an offer. */
bool media_event_on_helper(const struct media *m,
			   const struct media_event *ev);
/* Join the audio of the agent account's calls and the consult account's
 * calls (aubridge devices named after name), then put the default devices
 * for later calls back. */
int media_bridge(struct media *m, const char *name,
		 const char *customer_call_id);
int media_restore_devices(struct media *m);
/* Cross the audio of the accounts of two calls (-ENOENT when baresip
 * has not spoken of one of them yet). */
int media_pair_calls(struct media *m, const char *name, const char *call_a,
		     const char *call_b);
/* Give the account of a call these devices (NULL: the defaults). */
int media_call_devices(struct media *m, const char *call_id,
		       const char *src, const char *play);
/* Dial from an account, the new call taking these devices (NULL: the
 * defaults). */
int media_dial_from(struct media *m, enum media_account acc,
		    const char *src, const char *play, const char *uri,
		    media_resp_h *h, void *arg);
/* Choose the audio devices ("alsa,<name>", "aubridge,<name>", ...) of the
 * agent's calls, live ones included unless live is false (calls joined
 * through aubridge must keep theirs), and of every later call; kept for
 * the next start of baresip too. */
int media_set_devices(struct media *m, const char *src, const char *play,
		      bool live);
/* The devices in use: the source (true) or the player. */
const char *media_device(const struct media *m, bool source);

enum media_state media_get_state(const struct media *m);
const char *media_state_name(enum media_state st);
pid_t media_pid(const struct media *m);
unsigned media_restarts(const struct media *m);
const char *media_last_exit(const struct media *m);
unsigned media_ctrl_port(const struct media *m);
/* The agent's account: the logged-in user's when they have one (see
 * media_set_user_account), else the desk's configured one. Offers on it,
 * dial-out, caller ID and presence use it. Its address of record, e.g.
 * sip:agent@127.0.0.1:5060, and whether it registers, with which
 * registrar (NULL in direct mode). */
const char *media_aor(const struct media *m);
bool media_registrar_mode(const struct media *m);
const char *media_registrar(const struct media *m);
/* The desk's configured account, whoever is logged in. */
const char *media_desk_aor(const struct media *m);

/* A user's own SIP account. The strings are copied; password is kept in
 * memory only (to add the account again after a restart of baresip). */
struct media_user_account {
	const char *aor;        /* sip:alice@pbx.example */
	const char *auth_user;  /* NULL or "": the address's user part */
	const char *password;   /* NULL or "": none */
	const char *registrar;  /* NULL or "": the desk's sip_registrar */
	const char *display;    /* NULL or "": sip_display_name */
};

/* Make a's account the agent's (a NULL: the desk's own again). Whatever
 * user account was there before is unregistered (Expires: 0) and removed
 * from baresip, and the account handler hears MEDIA_ACCOUNT_LEFT once
 * that is done. The new one is added to baresip now, and again after
 * each restart of baresip. -EINVAL when a field cannot go into an
 * account line. */
int media_set_user_account(struct media *m,
			   const struct media_user_account *a);
/* Whether the agent is on a user's account. */
bool media_user_account_on(const struct media *m);

/* The agent's account as another SIP client of ccpd's (presence's
 * PUBLISH) must use it: the user's own, or the desk's. The strings stay
 * valid until the agent's account changes (registration.status says so);
 * password is "" for none and must never be logged. */
struct media_agent_account {
	const char *aor;
	const char *auth_user;  /* never NULL */
	const char *password;
	const char *registrar;  /* "" in direct mode */
	bool user;              /* the logged-in user's own */
};
void media_agent_account(const struct media *m,
			 struct media_agent_account *out);
/* Whether baresip has a call on the user's account (one a bridge may keep
 * after its contact left the desk). */
bool media_user_account_busy(const struct media *m);
/* Whether a user's account is still on its way out (unregistering). */
unsigned media_accounts_leaving(const struct media *m);

#endif
