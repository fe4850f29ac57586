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

const char *accounts_agent_aor(const struct media *m)
{
	return m->user_aor[0] ? m->user_aor : m->aor;
}

const char *media_aor(const struct media *m)
{
	return accounts_agent_aor(m);
}

const char *media_desk_aor(const struct media *m)
{
	return m->aor;
}

bool media_registrar_mode(const struct media *m)
{
	return m->user_aor[0] ? m->user_registrar[0] != '\0' : m->registrar;
}

const char *media_registrar(const struct media *m)
{
	if (m->user_aor[0])
		return m->user_registrar[0] ? m->user_registrar : NULL;
	return m->registrar ? m->conf->sip_registrar : NULL;
}

bool media_user_account_on(const struct media *m)
{
	return m->user_aor[0] != '\0';
}

void media_agent_account(const struct media *m,
			 struct media_agent_account *out)
{
	const struct conf *c = m->conf;

	out->user = m->user_aor[0] != '\0';
	if (out->user) {
		out->aor = m->user_aor;
		out->auth_user = m->user_auth;
		out->password = m->user_pass;
		out->registrar = m->user_registrar;
		return;
	}
	out->aor = m->aor;
	out->auth_user = *c->sip_auth_user ? c->sip_auth_user : c->sip_user;
	out->password = c->sip_password;
	out->registrar = m->registrar ? c->sip_registrar : "";
}

bool media_user_account_busy(const struct media *m)
{
	const struct call_ua *k;

	for (k = m->calls; k && m->user_aor[0]; k = k->next)
		if (strcmp(k->aor, m->user_aor) == 0)
			return true;
	return false;
}

const char *media_account_aor(const struct media *m, enum media_account acc)
{
	switch (acc) {
	case MEDIA_ACCOUNT_AGENT:   return accounts_agent_aor(m);
	case MEDIA_ACCOUNT_CONSULT: return m->consult_aor;
	case MEDIA_ACCOUNT_IDLE:    return m->idle_aor;
	case MEDIA_ACCOUNT_MIX_AGENT:    return m->mix_aor[0];
	case MEDIA_ACCOUNT_MIX_CUSTOMER: return m->mix_aor[1];
	case MEDIA_ACCOUNT_MIX_THIRD:    return m->mix_aor[2];
	case MEDIA_ACCOUNT_DESK:    return m->desk_aor;
	case MEDIA_ACCOUNT_DIALED:
		return m->dial_aor[0] ? m->dial_aor : accounts_agent_aor(m);
	}
	return accounts_agent_aor(m);
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
	/* the user's account goes with baresip; the next start adds it */
	m->user_added = false;
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
	if (strcmp(aor, accounts_agent_aor(m)) == 0 || cid_find(m, aor) >= 0)
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
	snprintf(aor, sizeof(aor), "%s", accounts_agent_aor(m));
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
	return pair_accounts(m, name, accounts_call_aor(m, customer_call_id,
						       accounts_agent_aor(m)),
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
	r = ctrl_send(m, accounts_agent_aor(m), NULL, "ausrc", src, NULL,
		      NULL);
	if (r == 0)
		r = ctrl_send(m, NULL, NULL, "auplay", play, NULL, NULL);
	for (k = m->calls; k && r == 0; k = k->next) {
		/* the caller-ID accounts, the desk's own account while a user's
		 * is the agent's, and the agent's conference leg speak for the
		 * agent; the helper accounts' calls do not */
		if (strcmp(k->aor, accounts_agent_aor(m)) == 0 ||
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

static int user_add(struct media *m);

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
	/* a user logged in: their account comes back with baresip */
	if (m->state == MEDIA_STATE_UP && user_add(m) < 0)
		log_warning("media: could not add the account %s again",
			    m->user_aor);
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

/* ---- the user's own account ----
 *
 * A user with a SIP account of their own takes it to the desk they log in
 * at: ccpd adds it to baresip (uanew), where it registers, and it becomes
 * the agent's account (offers, dial-out, caller ID, presence). When they
 * go it leaves by uadel: baresip 1.0.0 sends the REGISTER with Expires: 0
 * as it destroys the account, says UNREGISTERING first, and reports no
 * answer to it (the account is gone). So an account has left once uadel
 * is answered and the registrar has had a moment to take the
 * unregistration, or at the deadline. */

/* how long a registrar on the network is given to take Expires: 0 after
 * baresip sent it */
#define LEAVE_GRACE_MS 300

/* Characters that would end a value in baresip's account line. */
static bool line_safe(const char *s, const char *bad)
{
	return !s || !*s || !strpbrk(s, bad);
}

/* The uanew line of a user's account: the one place it is built (the
 * presence of the agent's account adds its parameters here). */
static int accounts_user_line(const struct media *m,
			      const struct media_user_account *a,
			      const char *registrar, char *out, size_t size)
{
	const struct conf *c = m->conf;
	const char *display = a->display && *a->display ? a->display :
		c->sip_display_name;
	int n;

	n = snprintf(out, size, "%s%s%s<%s>;answermode=manual",
		     *display ? "\"" : "", display, *display ? "\" " : "",
		     a->aor);
	if (*registrar) {
		n += snprintf(out + n, size - (size_t)n,
			      ";outbound=\"%s\";regint=%u", registrar,
			      c->reg_interval);
		if (a->auth_user && *a->auth_user)
			n += snprintf(out + n, size - (size_t)n,
				      ";auth_user=%s", a->auth_user);
		if (a->password && *a->password)
			n += snprintf(out + n, size - (size_t)n,
				      ";auth_pass=%s", a->password);
	} else {
		n += snprintf(out + n, size - (size_t)n, ";regint=0");
	}
	if (n < (int)size)
		n += config_nat_params(m, out + n, size - (size_t)n);
	return n < (int)size ? 0 : -ENAMETOOLONG;
}

static void tell_account(struct media *m, enum media_account_change what,
			 const char *aor, bool confirmed)
{
	if (m->h.account)
		m->h.account(what, aor, confirmed, m->arg);
}

static void leaving_free(struct media *m, struct leaving *l)
{
	struct leaving **pp;

	tmr_cancel(&l->tmr);
	for (pp = &m->leaving; *pp; pp = &(*pp)->next)
		if (*pp == l) {
			*pp = l->next;
			break;
		}
	free(l);
}

static void leaving_done(void *arg)
{
	struct leaving *l = arg;
	struct media *m = l->m;
	char aor[MEDIA_AOR_MAX];
	bool confirmed = l->unregistering;

	snprintf(aor, sizeof(aor), "%s", l->aor);
	leaving_free(m, l);
	log_info("media: account %s has left baresip%s", aor, confirmed ?
		 " (unregistered)" : " (no unregistration was sent)");
	tell_account(m, MEDIA_ACCOUNT_LEFT, aor, confirmed);
}

static void leaving_answer(bool ok, const char *data, void *arg)
{
	struct leaving *l = arg;

	if (l->answered)
		return;
	l->answered = true;
	if (!ok)
		log_warning("media: uadel of %s got no answer from baresip (%s)",
			    l->aor, data ? data : "");
	/* from the answer on, give the registrar its moment */
	tmr_start(&l->tmr, ok && l->unregistering ? LEAVE_GRACE_MS : 0,
		  leaving_done, l);
}

void accounts_note_register(struct media *m, const struct media_event *ev)
{
	struct leaving *l;

	for (l = m->leaving; l && ev->aor; l = l->next)
		if (strcmp(l->aor, ev->aor) == 0)
			l->unregistering = true;
}

unsigned media_accounts_leaving(const struct media *m)
{
	const struct leaving *l;
	unsigned n = 0;

	for (l = m->leaving; l; l = l->next)
		n++;
	return n;
}

/* The user's account leaves baresip: uadel, which unregisters it. */
static void user_leave(struct media *m)
{
	struct leaving *l;
	bool added = m->user_added;
	int r = -ENOTCONN;

	if (!m->user_aor[0])
		return;
	l = calloc(1, sizeof(*l));
	if (!l)
		goto gone;
	l->m = m;
	snprintf(l->aor, sizeof(l->aor), "%s", m->user_aor);
	tmr_init(&l->tmr);
	l->next = m->leaving;
	m->leaving = l;
	if (added && m->state == MEDIA_STATE_UP)
		r = ctrl_send(m, NULL, NULL, "uadel", l->aor, leaving_answer,
			      l);
	/* sent: its answer, or the request's own timeout (media_timeout),
	 * or baresip's end, calls leaving_answer exactly once */
	if (r < 0)      /* not in baresip: nothing to unregister */
		tmr_start(&l->tmr, 0, leaving_done, l);
gone:
	m->user_aor[0] = '\0';
	m->user_registrar[0] = '\0';
	m->user_auth[0] = '\0';
	explicit_bzero(m->user_pass, sizeof(m->user_pass));
	m->user_added = false;
	if (m->user_line) {
		explicit_bzero(m->user_line, strlen(m->user_line));
		free(m->user_line);
		m->user_line = NULL;
	}
}

struct user_cookie {
	struct media *m;
	char aor[MEDIA_AOR_MAX];
};

static void user_added(bool ok, const char *data, void *arg)
{
	struct user_cookie *ck = arg;
	struct media *m = ck->m;
	char aor[MEDIA_AOR_MAX];

	/* the answer repeats the account line, password and all: it is
	 * never logged */
	(void)data;
	snprintf(aor, sizeof(aor), "%s", ck->aor);
	free(ck);
	if (strcmp(m->user_aor, aor) != 0)
		return;         /* an account that has gone since */
	if (!ok && !m->connected) {
		/* no answer: baresip went, and its next run adds it again */
		m->user_added = false;
		return;
	}
	if (ok) {
		log_info("media: account %s added", aor);
		tell_account(m, MEDIA_ACCOUNT_ADDED, aor, true);
		return;
	}
	log_error("media: baresip refused the account %s; the desk's own "
		  "account %s is the agent's", aor, m->aor);
	m->user_added = false;
	user_leave(m);
	tell_account(m, MEDIA_ACCOUNT_REFUSED, aor, false);
}

/* uanew the user's account; user_added is set from the moment it is
 * sent, so that a uadel follows it on the same connection. */
static int user_add(struct media *m)
{
	struct user_cookie *ck;
	int r;

	if (!m->user_line || m->user_added)
		return 0;
	ck = calloc(1, sizeof(*ck));
	if (!ck)
		return -ENOMEM;
	ck->m = m;
	snprintf(ck->aor, sizeof(ck->aor), "%s", m->user_aor);
	r = ctrl_send(m, NULL, NULL, "uanew", m->user_line, user_added, ck);
	if (r < 0)
		free(ck);
	else
		m->user_added = true;
	return r;
}

int media_set_user_account(struct media *m,
			   const struct media_user_account *a)
{
	const char *registrar;
	char line[2048];
	int r;

	if (a) {
		registrar = a->registrar && *a->registrar ? a->registrar :
			m->conf->sip_registrar;
		if (strncmp(a->aor, "sip:", 4) != 0 ||
		    !line_safe(a->aor, " \t;,\"<>") ||
		    !line_safe(a->auth_user, " \t;,\"<>") ||
		    !line_safe(a->password, " \t;,\"<>") ||
		    !line_safe(registrar, " \t\"<>") ||
		    !line_safe(a->display, "\"<>\\") ||
		    strlen(a->aor) >= MEDIA_AOR_MAX ||
		    (a->password && strlen(a->password) >=
		     sizeof(m->user_pass)) ||
		    (a->auth_user && strlen(a->auth_user) >= MEDIA_AOR_MAX) ||
		    strlen(registrar) >= MEDIA_AOR_MAX)
			return -EINVAL;
		if (m->user_aor[0] && strcmp(m->user_aor, a->aor) == 0 &&
		    m->user_line && accounts_user_line(m, a, registrar, line,
						       sizeof(line)) == 0 &&
		    strcmp(line, m->user_line) == 0) {
			explicit_bzero(line, sizeof(line));
			return 0;       /* the same account, unchanged */
		}
		r = accounts_user_line(m, a, registrar, line, sizeof(line));
		if (r < 0) {
			explicit_bzero(line, sizeof(line));
			return r;
		}
	}
	user_leave(m);
	if (!a)
		return 0;
	m->user_line = strdup(line);
	explicit_bzero(line, sizeof(line));
	if (!m->user_line)
		return -ENOMEM;
	snprintf(m->user_aor, sizeof(m->user_aor), "%s", a->aor);
	snprintf(m->user_registrar, sizeof(m->user_registrar), "%s",
		 registrar);
	snprintf(m->user_pass, sizeof(m->user_pass), "%s",
		 a->password ? a->password : "");
	/* digest's user name: the one given, else the address's user part */
	if (a->auth_user && *a->auth_user)
		snprintf(m->user_auth, sizeof(m->user_auth), "%s",
			 a->auth_user);
	else
		snprintf(m->user_auth, sizeof(m->user_auth), "%.*s",
			 (int)strcspn(a->aor + 4, "@"), a->aor + 4);
	/* a leaving account of the same address must be gone first, or
	 * baresip refuses a second account of that address: uadel and
	 * uanew go in this order on the one connection */
	r = m->state == MEDIA_STATE_UP ? user_add(m) : 0;
	if (r < 0)
		log_warning("media: cannot add the account %s now (%s); it is "
			    "added when baresip is up", a->aor, strerror(-r));
	return 0;
}

void accounts_free_user(struct media *m)
{
	user_leave(m);
	while (m->leaving)
		leaving_free(m, m->leaving);
}
