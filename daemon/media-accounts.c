/* The accounts ccpd keeps in baresip: the agent's own, the helpers
 * (consult, idle, the desk phone, the conference's legs) and one per
 * caller ID presented; which account carries each call; and the audio
 * devices of the accounts' calls, bridged or paired through aubridge. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conf.h"
#include "log.h"
#include "media-int.h"

/* ---- the accounts' addresses ---- */

void accounts_init(struct media *m)
{
	const struct conf *c = m->conf;
	const char *domain = c->sip_domain;
	char host[256];

	m->registrar = *c->sip_registrar != '\0';
	if (m->registrar && !*domain) {
		/* the registrar's host[:port] is the domain */
		snprintf(host, sizeof(host), "%s", c->sip_registrar + 4);
		host[strcspn(host, ";>")] = '\0';
		domain = host;
	} else if (!m->registrar) {
		domain = c->sip_listen;
	}
	snprintf(m->aor, sizeof(m->aor), "sip:%s@%s", c->sip_user, domain);
	snprintf(m->domain, sizeof(m->domain), "%s", domain);
	snprintf(m->consult_aor, sizeof(m->consult_aor),
		 "sip:%s-consult@%s", c->sip_user, domain);
	snprintf(m->idle_aor, sizeof(m->idle_aor), "sip:%s-idle@%s",
		 c->sip_user, domain);
	snprintf(m->mix_aor[0], sizeof(m->mix_aor[0]), "sip:%s-mixa@%s",
		 c->sip_user, domain);
	snprintf(m->mix_aor[1], sizeof(m->mix_aor[1]), "sip:%s-mixc@%s",
		 c->sip_user, domain);
	snprintf(m->mix_aor[2], sizeof(m->mix_aor[2]), "sip:%s-mixt@%s",
		 c->sip_user, domain);
	snprintf(m->desk_aor, sizeof(m->desk_aor), "sip:%s-desk@%s",
		 c->sip_user, domain);
}

const char *media_account_aor(const struct media *m, enum media_account acc)
{
	switch (acc) {
	case MEDIA_ACCOUNT_AGENT:   return m->aor;
	case MEDIA_ACCOUNT_CONSULT: return m->consult_aor;
	case MEDIA_ACCOUNT_IDLE:    return m->idle_aor;
	case MEDIA_ACCOUNT_MIX_AGENT:    return m->mix_aor[0];
	case MEDIA_ACCOUNT_MIX_CUSTOMER: return m->mix_aor[1];
	case MEDIA_ACCOUNT_MIX_THIRD:    return m->mix_aor[2];
	case MEDIA_ACCOUNT_DESK:    return m->desk_aor;
	case MEDIA_ACCOUNT_DIALED:
		return m->dial_aor[0] ? m->dial_aor : m->aor;
	}
	return m->aor;
}

bool media_event_on(const struct media *m, const struct media_event *ev,
		    enum media_account acc)
{
	return ev->aor && strcmp(ev->aor, media_account_aor(m, acc)) == 0;
}

bool media_event_on_helper(const struct media *m,
			   const struct media_event *ev)
{
	static const enum media_account helpers[] = {
		MEDIA_ACCOUNT_CONSULT, MEDIA_ACCOUNT_IDLE, MEDIA_ACCOUNT_DESK,
		MEDIA_ACCOUNT_MIX_AGENT, MEDIA_ACCOUNT_MIX_CUSTOMER,
		MEDIA_ACCOUNT_MIX_THIRD,
	};
	size_t i;

	for (i = 0; i < sizeof(helpers) / sizeof(helpers[0]); i++)
		if (media_event_on(m, ev, helpers[i]))
			return true;
	return false;
}

/* ---- which account carries a call ---- */

static struct call_ua *find_call_ua(const struct media *m,
				    const char *call_id)
{
	struct call_ua *k;

	for (k = m->calls; k; k = k->next)
		if (strcmp(k->call_id, call_id) == 0)
			return k;
	return NULL;
}

const char *accounts_call_aor(const struct media *m, const char *call_id,
			      const char *fallback)
{
	const struct call_ua *k = call_id ? find_call_ua(m, call_id) : NULL;

	return k ? k->aor : fallback;
}

static void forget_call(struct media *m, const char *call_id)
{
	struct call_ua **pp;

	for (pp = &m->calls; *pp; pp = &(*pp)->next) {
		struct call_ua *k = *pp;

		if (strcmp(k->call_id, call_id) != 0)
			continue;
		*pp = k->next;
		free(k->call_id);
		free(k->aor);
		free(k);
		return;
	}
}

void accounts_reset(struct media *m)
{
	while (m->calls) {
		struct call_ua *k = m->calls;

		m->calls = k->next;
		free(k->call_id);
		free(k->aor);
		free(k);
	}
	m->n_cid = 0;
	m->dial_aor[0] = '\0';
}

void accounts_note_call(struct media *m, const struct media_event *ev)
{
	struct call_ua *k;

	if (!ev->call_id || !ev->aor)
		return;
	/* baresip destroys the call after these two without another word */
	if (ev->type == MEDIA_EV_CALL_CLOSED ||
	    ev->type == MEDIA_EV_CALL_TRANSFER_FAILED) {
		forget_call(m, ev->call_id);
		return;
	}
	if (find_call_ua(m, ev->call_id))
		return;
	k = calloc(1, sizeof(*k));
	if (!k)
		return;
	k->call_id = strdup(ev->call_id);
	k->aor = strdup(ev->aor);
	if (!k->call_id || !k->aor) {
		free(k->call_id);
		free(k->aor);
		free(k);
		return;
	}
	k->next = m->calls;
	m->calls = k;
}

/* ---- caller ID ----
 *
 * baresip 1.0.0 puts the account's address in the From header of an
 * INVITE and has no way, over ctrl_tcp, to set another From or to add a
 * P-Asserted-Identity header. So a call that presents a number is placed
 * from an account of its own whose address has that number for its user
 * part (sip:+15551234567@domain), selected with uafind before the dial. */

static int cid_find(const struct media *m, const char *aor)
{
	unsigned i;

	for (i = 0; i < m->n_cid; i++)
		if (strcmp(m->cid[i].aor, aor) == 0)
			return (int)i;
	return -1;
}

struct cid_cookie {
	struct media *m;
	char aor[MEDIA_AOR_MAX];
};

static void cid_added(bool ok, const char *data, void *arg)
{
	struct cid_cookie *ck = arg;
	struct media *m = ck->m;
	int i = cid_find(m, ck->aor);

	if (i >= 0) {
		m->cid[i].state = ok ? CID_ADDED : CID_FAILED;
		if (!ok)
			log_error("media: baresip refused the caller-ID "
				  "account %s: %s", ck->aor, data);
		else
			log_debug("media: caller-ID account %s added",
				  ck->aor);
	}
	free(ck);
}

static int add_cid_account(struct media *m, const char *number)
{
	char aor[MEDIA_AOR_MAX], account[2048];
	struct cid_cookie *cookie;
	int r, i;

	snprintf(aor, sizeof(aor), "sip:%s@%s", number, m->domain);
	if (strcmp(aor, m->aor) == 0 || cid_find(m, aor) >= 0)
		return 0;
	if (m->n_cid == MAX_CID_ACCOUNTS)
		return -ENOSPC;
	if (config_account_line(m, aor, false, false, account,
				sizeof(account)) < 0)
		return -ENAMETOOLONG;
	cookie = calloc(1, sizeof(*cookie));
	if (!cookie)
		return -ENOMEM;
	i = (int)m->n_cid++;
	snprintf(m->cid[i].aor, sizeof(m->cid[i].aor), "%s", aor);
	m->cid[i].state = CID_PENDING;
	cookie->m = m;
	snprintf(cookie->aor, sizeof(cookie->aor), "%s", aor);
	r = ctrl_send(m, NULL, NULL, "uanew", account, cid_added, cookie);
	if (r < 0) {
		m->n_cid--;
		free(cookie);
	}
	return r;
}

int media_dial(struct media *m, const char *caller_id, const char *uri,
	       media_resp_h *h, void *arg)
{
	char aor[MEDIA_AOR_MAX];
	int r, i;

	if (m->state != MEDIA_STATE_UP)
		return -ENOTCONN;
	snprintf(aor, sizeof(aor), "%s", m->aor);
	if (caller_id) {
		snprintf(aor, sizeof(aor), "sip:%s@%s", caller_id, m->domain);
		/* a number not configured at start gets its account now:
		 * baresip runs the commands of one write in order */
		r = add_cid_account(m, caller_id);
		if (r < 0)
			return r;
		i = cid_find(m, aor);
		if (i >= 0 && m->cid[i].state == CID_FAILED)
			return -EADDRNOTAVAIL;
	}
	snprintf(m->dial_aor, sizeof(m->dial_aor), "%s", aor);
	return ctrl_send(m, aor, NULL, "dial", uri, h, arg);
}

int media_command_ua(struct media *m, enum media_account acc,
		     const char *cmd, const char *params, media_resp_h *h,
		     void *arg)
{
	if (m->state != MEDIA_STATE_UP)
		return -ENOTCONN;
	return ctrl_send(m, media_account_aor(m, acc), NULL, cmd, params, h,
			 arg);
}

/* ---- audio devices: bridging, pairing, choosing ---- */

/* Cross the audio of the agent account's calls with the consult
 * account's: each call's player feeds the other's source. The default
 * devices for later calls are put back through the idle account, which
 * has no calls for the switch to touch. */
static int pair_accounts(struct media *m, const char *name,
			 const char *aor_a, const char *aor_b)
{
	char ab[160], ba[160];
	int r;

	if (m->state != MEDIA_STATE_UP)
		return -ENOTCONN;
	snprintf(ab, sizeof(ab), "aubridge,%s-ab", name);
	snprintf(ba, sizeof(ba), "aubridge,%s-ba", name);
	r = ctrl_send(m, aor_a, NULL, "ausrc", ba, NULL, NULL);
	if (r == 0)
		r = ctrl_send(m, NULL, NULL, "auplay", ab, NULL, NULL);
	if (r == 0)
		r = ctrl_send(m, aor_b, NULL, "ausrc", ab, NULL, NULL);
	if (r == 0)
		r = ctrl_send(m, NULL, NULL, "auplay", ba, NULL, NULL);
	if (r == 0)
		r = media_restore_devices(m);
	return r;
}

int media_bridge(struct media *m, const char *name,
		 const char *customer_call_id)
{
	/* the customer's call may be on a caller-ID account */
	return pair_accounts(m, name, accounts_call_aor(m, customer_call_id, m->aor),
			     m->consult_aor);
}

int media_pair_calls(struct media *m, const char *name, const char *call_a,
		     const char *call_b)
{
	const char *a = accounts_call_aor(m, call_a, NULL);
	const char *b = accounts_call_aor(m, call_b, NULL);

	if (!a || !b)
		return -ENOENT;
	return pair_accounts(m, name, a, b);
}

int media_call_devices(struct media *m, const char *call_id,
		       const char *src, const char *play)
{
	const char *aor = accounts_call_aor(m, call_id, NULL);
	int r;

	if (m->state != MEDIA_STATE_UP)
		return -ENOTCONN;
	if (!aor)
		return -ENOENT;
	r = ctrl_send(m, aor, NULL, "ausrc", src ? src : m->src, NULL, NULL);
	if (r == 0)
		r = ctrl_send(m, NULL, NULL, "auplay", play ? play : m->play,
			      NULL, NULL);
	if (r == 0 && (src || play))
		r = media_restore_devices(m);
	return r;
}

int media_set_devices(struct media *m, const char *src, const char *play,
		      bool live)
{
	const struct call_ua *k;
	char src_dev[512], play_dev[512];
	int r = 0;

	snprintf(m->want_src, sizeof(m->want_src), "%s", src);
	snprintf(m->want_play, sizeof(m->want_play), "%s", play);
	if (m->state != MEDIA_STATE_UP)
		return 0;  /* the next start writes them in the configuration */
	/* a role back on its default may be "auto", which baresip does not
	 * know: it kept the device that had gone */
	config_device(m, src, SILENT_SRC, src_dev, sizeof(src_dev));
	config_device(m, play, SILENT_PLAY, play_dev, sizeof(play_dev));
	src = src_dev;
	play = play_dev;
	if (!live) {
		/* calls joined through aubridge keep their devices: later
		 * calls, and the restore after the join, take the new ones */
		snprintf(m->src, sizeof(m->src), "%s", src);
		snprintf(m->play, sizeof(m->play), "%s", play);
		return 0;
	}
	snprintf(m->src, sizeof(m->src), "%s", src);
	snprintf(m->play, sizeof(m->play), "%s", play);
	/* the agent's own calls and those of the caller-ID accounts; the
	 * consult account's calls keep their bridge devices */
	r = ctrl_send(m, m->aor, NULL, "ausrc", src, NULL, NULL);
	if (r == 0)
		r = ctrl_send(m, NULL, NULL, "auplay", play, NULL, NULL);
	for (k = m->calls; k && r == 0; k = k->next) {
		/* the caller-ID accounts and the agent's conference leg speak
		 * for the agent; the helper accounts' calls do not */
		if (strcmp(k->aor, m->aor) == 0 ||
		    strcmp(k->aor, m->consult_aor) == 0 ||
		    strcmp(k->aor, m->idle_aor) == 0 ||
		    strcmp(k->aor, m->mix_aor[1]) == 0 ||
		    strcmp(k->aor, m->mix_aor[2]) == 0 ||
		    strcmp(k->aor, m->desk_aor) == 0)
			continue;
		r = ctrl_send(m, k->aor, NULL, "ausrc", src, NULL, NULL);
		if (r == 0)
			r = ctrl_send(m, NULL, NULL, "auplay", play, NULL,
				      NULL);
	}
	if (r == 0)
		r = media_restore_devices(m);
	return r;
}

int media_dial_from(struct media *m, enum media_account acc,
		    const char *src, const char *play, const char *uri,
		    media_resp_h *h, void *arg)
{
	int r;

	if (m->state != MEDIA_STATE_UP)
		return -ENOTCONN;
	/* baresip takes a call's devices from the defaults when it creates
	 * the call: set them, dial, and put them back, in one write */
	r = ctrl_send(m, media_account_aor(m, acc), NULL, "ausrc",
		      src ? src : m->src, NULL, NULL);
	if (r == 0)
		r = ctrl_send(m, NULL, NULL, "auplay", play ? play : m->play,
			      NULL, NULL);
	if (r == 0)
		r = ctrl_send(m, NULL, NULL, "dial", uri, h, arg);
	if (r == 0 && (src || play))
		r = media_restore_devices(m);
	return r;
}

const char *media_device(const struct media *m, bool source)
{
	return source ? m->src : m->play;
}

int media_restore_devices(struct media *m)
{
	int r;

	if (m->state != MEDIA_STATE_UP)
		return -ENOTCONN;
	r = ctrl_send(m, m->idle_aor, NULL, "ausrc", m->src, NULL, NULL);
	if (r == 0)
		r = ctrl_send(m, NULL, NULL, "auplay", m->play, NULL, NULL);
	return r;
}

/* ---- adding the accounts at each start ---- */

static void account_added(bool ok, const char *data, void *arg)
{
	struct media *m = arg;

	if (m->state != MEDIA_STATE_STARTING)
		return;
	if (!ok) {
		log_error("media: baresip refused the account: %s", data);
		child_stop(m, "baresip refused the SIP account", false);
		return;
	}
	child_up(m);
}

static void helper_added(bool ok, const char *data, void *arg)
{
	(void)arg;
	if (!ok)
		log_warning("media: baresip refused a helper account (%s); "
			    "consult, transfer and the desk phone will fail",
			    data);
}

/* The accounts go to baresip once the control connection is up and the
 * NAT server's name has resolved (or could not be). */
void accounts_add(struct media *m)
{
	char account[2048], consult[2048], idle[2048], extra[2048];
	unsigned i;

	if (config_account_line(m, m->aor, true, false, account,
				sizeof(account)) < 0 ||
	    config_account_line(m, m->consult_aor, false, false, consult,
				sizeof(consult)) < 0 ||
	    config_account_line(m, m->idle_aor, false, false, idle,
				sizeof(idle)) < 0) {
		child_stop(m, "SIP account settings too long", false);
		return;
	}
	/* the helper accounts first: the agent's answer means all are in */
	if (ctrl_listen(m) < 0 ||
	    ctrl_send(m, NULL, NULL, "uanew", consult, helper_added, m) < 0 ||
	    ctrl_send(m, NULL, NULL, "uanew", idle, helper_added, m) < 0 ||
	    config_account_line(m, m->desk_aor, false, false, extra,
				sizeof(extra)) < 0 ||
	    ctrl_send(m, NULL, NULL, "uanew", extra, helper_added, m) < 0 ||
	    ctrl_send(m, NULL, NULL, "uanew", account, account_added,
		      m) < 0) {
		ctrl_lost(m, "could not talk to baresip");
		return;
	}
	/* the legs to the focus stay on this host: no outbound proxy */
	for (i = 0; i < 3; i++)
		if (config_account_line(m, m->mix_aor[i], false, true,
					extra, sizeof(extra)) < 0 ||
		    ctrl_send(m, NULL, NULL, "uanew", extra, helper_added,
			      m) < 0)
			log_warning("media: could not add a conference account");
	/* the configured caller IDs are ready before the first dial */
	if (*m->conf->caller_id)
		(void)add_cid_account(m, m->conf->caller_id);
	if (*m->conf->agent_caller_id)
		(void)add_cid_account(m, m->conf->agent_caller_id);
}
