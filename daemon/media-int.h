/* What the media stack's own files share; media.h is the media stack for
 * everyone else.
 *
 * The media stack is split by concept, one file each:
 *
 *   media.c           baresip's life as a child: start, exit, restart
 *                     with back-off, stop; the state and its getters
 *   media-config.c    the configuration baresip is started with, the
 *                     account lines, the control port, the NAT server's
 *                     name as baresip gets it
 *   media-ctrl.c      the control connection (netstrings over TCP), the
 *                     requests waiting for an answer, baresip's events
 *   media-accounts.c  the accounts ccpd keeps in baresip (the agent's,
 *                     the helpers', caller-ID ones), which account carries
 *                     a call, audio devices, bridging and pairing calls
 *
 * struct media is one struct for all of them; each group of its fields
 * says which file owns it, and the others ask that file's functions. */
#ifndef CCPD_MEDIA_INT_H
#define CCPD_MEDIA_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <re.h>

#include "media.h"

struct conf;
struct netstring;
struct resolve;

/* the silent path: aubridge devices nothing pairs with */
#define SILENT_SRC "aubridge,ccpd-silent-src"
#define SILENT_PLAY "aubridge,ccpd-silent-play"
#define MAX_CID_ACCOUNTS 16
#define MEDIA_AOR_MAX 512
/* the library preloaded into baresip to guard its control port */
#define GUARD_NAME "ccpd-ctrlguard.so"

/* Which account carries a call: baresip's call commands find a call only
 * among the calls of the current account, so a command on a call of the
 * consult account must select that account first. */
struct call_ua {
	struct call_ua *next;
	char *call_id;
	char *aor;
};

/* A user's account on its way out of baresip: uadel sent, waiting for
 * its answer and for the unregistration to reach the registrar. */
struct leaving {
	struct leaving *next;
	struct media *m;
	char aor[MEDIA_AOR_MAX];
	bool unregistering;     /* baresip said it sent Expires: 0 */
	bool answered;
	struct tmr tmr;
};

/* A request waiting for baresip's answer. */
struct pending {
	struct pending *next;
	unsigned long token;
	uint64_t deadline;
	media_resp_h *h;
	void *arg;
};

struct media {
	const struct conf *conf;
	struct media_handlers h;
	void *arg;

	/* the child (media.c) */
	enum media_state state;
	pid_t pid;
	int pidfd;
	char last_exit[128];
	unsigned restarts;
	unsigned failures;      /* consecutive, for back-off */
	uint64_t up_since;
	bool stopping;          /* we are killing it on purpose */
	bool shutdown;          /* for good */
	bool takeover;          /* the kill follows a takeover */
	char down_reason[160];
	struct tmr deadline_tmr;
	struct tmr restart_tmr;
	struct tmr kill_tmr;

	/* the configuration (media-config.c) */
	unsigned port;
	char dir[4096];
	char guard[4200];       /* ccpd-ctrlguard.so, "" when missing */
	/* the STUN or TURN server as baresip gets it: its address when ccpd
	 * could resolve the name, else the setting */
	char nat_server[300];
	struct resolve *nat_res;
	struct tmr nat_tmr;
	bool nat_wait;          /* connected: the accounts wait for it */

	/* the accounts, the calls and the devices (media-accounts.c) */
	char aor[512];
	char consult_aor[512];
	char idle_aor[512];
	/* the conference legs to ccpd's focus, one account each so that each
	 * leg's audio devices can be set on its own, and the desk phone's */
	char mix_aor[3][512];
	char desk_aor[512];
	char domain[300];
	bool registrar;
	/* caller-ID accounts: one more account per number presented, added
	 * to this run of baresip (see media_dial) */
	struct {
		char aor[MEDIA_AOR_MAX];
		enum { CID_PENDING, CID_ADDED, CID_FAILED } state;
	} cid[MAX_CID_ACCOUNTS];
	unsigned n_cid;
	char dial_aor[MEDIA_AOR_MAX];   /* the account of the last dial */
	/* the user's account (media_set_user_account): "" none. user_line
	 * is its uanew line, password and all, wiped when it goes */
	char user_aor[MEDIA_AOR_MAX];
	char user_registrar[MEDIA_AOR_MAX];
	char user_auth[MEDIA_AOR_MAX];  /* the digest user name */
	char user_pass[256];            /* wiped when the account goes */
	char *user_line;
	bool user_added;        /* baresip has it in this run */
	struct leaving *leaving;        /* user accounts on their way out */
	char src[512];          /* the default audio devices */
	char play[512];
	/* the devices the desk chose, "" for the configured ones */
	char want_src[512];
	char want_play[512];
	struct call_ua *calls;

	/* the control connection (media-ctrl.c) */
	int fd;
	bool connected;
	struct netstring *ns;
	/* a close while ctrl_fd feeds the decoder leaves the decoder to it:
	 * the handlers it calls may close the connection */
	bool feeding;
	struct netstring *ns_closed;
	char *out;
	size_t out_len;
	bool want_write;
	unsigned long next_token;
	struct pending *pending;
	struct tmr connect_tmr;
	struct tmr resp_tmr;
	struct tmr reset_tmr;   /* deferred teardown after a protocol error */
	struct tmr takeover_tmr;
};

/* ---- the child (media.c) ---- */

/* Tell the desk of a new state; nothing when it is the same. */
void child_set_state(struct media *m, enum media_state st,
		     const char *reason, bool takeover);
/* baresip took the agent's account: it is up. */
void child_up(struct media *m);
/* The child has exited or is exiting (a crash, not a takeover). */
bool child_exiting(const struct media *m);
/* Stop the child on purpose; its exit restarts it unless we are shutting
 * down. */
void child_stop(struct media *m, const char *reason, bool takeover);

/* ---- the configuration (media-config.c) ---- */

/* Write baresip's config and accounts files for the next start, with the
 * devices chosen (m->src and m->play are set from them). */
int config_write(struct media *m);
/* A free port on 127.0.0.1 for ctrl_tcp. */
int config_pick_port(unsigned *port);
/* Find ccpd-ctrlguard.so (m->guard): beside ccpd, else in its library
 * directory; -ENOENT when there is none. */
int config_find_guard(struct media *m);
/* A device setting as baresip takes it: "auto" is ALSA's default when
 * there is a sound card, else silent. */
void config_device(const struct media *m, const char *setting,
		   const char *silent, char *out, size_t size);
/* The account line of an address for uanew; local: no outbound proxy. */
int config_account_line(const struct media *m, const char *aor, bool main,
			bool local, char *out, size_t size);
/* The NAT traversal and media encryption parameters of an account line,
 * appended at out; the number of characters written. */
int config_nat_params(const struct media *m, char *out, size_t size);
/* Look the NAT server's name up; the accounts wait for the answer. */
void config_nat_lookup(struct media *m);
/* The control connection is up: true when the accounts must wait for the
 * name (they are added when it resolves or times out). */
bool config_nat_waiting(struct media *m);
void config_nat_stop(struct media *m);

/* ---- the control connection (media-ctrl.c) ---- */

/* Connect to ctrl_tcp once the child has had a moment to listen. */
void ctrl_start(struct media *m);
void ctrl_close(struct media *m);
/* The connection closed while baresip may still run. */
void ctrl_lost(struct media *m, const char *why);
/* Every request waiting for an answer fails with reason. */
void ctrl_fail_pending(struct media *m, const char *reason);
/* One message from baresip, as the control connection hands it over
 * (tests/fuzz/fuzz-media.c drives the desk through it). */
void ctrl_message(struct media *m, const char *buf, size_t len);
/* Read and write on the connection (after the connect). */
int ctrl_listen(struct media *m);
/* Send a command, the account aor made current and call_id selected
 * first when they are set. */
int ctrl_send(struct media *m, const char *aor, const char *call_id,
	      const char *cmd, const char *params, media_resp_h *h,
	      void *arg);

/* ---- the accounts (media-accounts.c) ---- */

/* The accounts' addresses, from the configuration. */
void accounts_init(struct media *m);
/* The connection is up: add the accounts to baresip. */
void accounts_add(struct media *m);
/* Learn or forget which account carries an event's call. */
void accounts_note_call(struct media *m, const struct media_event *ev);
/* The account a call is on, else the fallback. */
const char *accounts_call_aor(const struct media *m, const char *call_id,
			      const char *fallback);
/* baresip exited: its calls and the accounts added at run time went with
 * it. */
void accounts_reset(struct media *m);
/* The agent's account: the user's, else the desk's. */
const char *accounts_agent_aor(const struct media *m);
/* An event about the user accounts' registration (UNREGISTERING). */
void accounts_note_register(struct media *m, const struct media_event *ev);
/* Forget every user account, leaving or not (the media stack goes). */
void accounts_free_user(struct media *m);

#endif
