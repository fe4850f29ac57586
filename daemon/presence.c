/* The agent's presence for the ACD: a PUBLISH of a PIDF document at every
 * change of what the ACD should know (open or closed, the activity, the
 * state's name), a refresh before it expires, a fresh one after baresip
 * registers again, and closed at a clean stop.
 *
 * Why not baresip's presence module: its PIDF (1.0.0) has basic
 * open/closed and an empty <rpid:activities/>, with no way to put an
 * activity or a note in it. So ccpd has a small SIP stack of its own here,
 * as the conference focus does: libre's SIP with one dialog for the
 * PUBLISHes (Call-ID, CSeq, the outbound proxy as Route) and the agent's
 * digest credentials. It sends from its own UDP port; the ACD identifies
 * the agent by the presentity's URI and the credentials, not the port. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <re.h>
#include <cjson/cJSON.h>

#include "conf.h"
#include "desk.h"
#include "events.h"
#include "log.h"
#include "media.h"
#include "pidf.h"
#include "presence.h"

#define RETRY_MIN_MS 2000
#define RETRY_MAX_MS 60000
#define AUTH_TRIES 2

struct presence {
	const struct conf *conf;
	struct desk *desk;
	struct events_sub *sub;
	struct sip *sip;
	struct dnsc *dnsc;
	struct sip_dialog *dlg;
	struct sip_auth *auth;
	struct sip_request *req;        /* the one in flight, if any */
	struct tmr kick;                /* look at the desk again */
	struct tmr refresh;             /* refresh, or retry after a failure */
	char uri[256];
	/* the account the presentity is the agent's by: the user's own
	 * while they are logged in with one, else the desk's */
	char auth_user[128];
	char auth_pass[256];
	char route[256];
	bool switching;                 /* closing the old one first */
	char *etag;                     /* the server's name for our state */
	/* what the desk says now, and what was last sent */
	bool want_open;
	char want_activity[16];
	char want_note[48];
	bool sent_valid;
	bool in_flight_open;
	bool in_flight_body;
	bool registered;
	bool again;                     /* publish once the answer is in */
	bool stopping;
	bool stop_done;
	unsigned auth_tries;
	unsigned retry_ms;
	unsigned failures;
	char sent_activity[16];
	char sent_note[48];
	bool sent_open;
	char published[8];
};

static void send_publish(struct presence *p, bool body);
static void look(struct presence *p);
static bool follow_account(struct presence *p);

static void on_refresh(void *arg)
{
	struct presence *p = arg;

	/* The refresh carries the whole document again, with the entity tag
	 * (a modify, RFC 3903 4.4), not the bare refresh of 4.3: kamailio
	 * 5.6 with its presentities in memory (publ_cache 2) keeps an empty
	 * document after a bare refresh, and routes by it as not open. */
	send_publish(p, true);
}

static void schedule_refresh(struct presence *p, const struct sip_msg *msg)
{
	unsigned expires = p->conf->presence_expires;
	const struct sip_hdr *h = sip_msg_hdr(msg, SIP_HDR_EXPIRES);

	if (h) {
		uint32_t got = pl_u32(&h->val);

		if (got > 0 && got < expires)
			expires = got;
	}
	/* 90 % of the time granted, and never sooner than a second */
	tmr_start(&p->refresh, expires > 2 ? expires * 900ULL : 1000,
		  on_refresh, p);
}

/* The entity tag is kept: a publication made afresh beside the old one
 * would leave the server two documents for the agent until the old one
 * expires, one of them perhaps open. A server that forgot it says 412. */
static void failed(struct presence *p, const char *why)
{
	if (p->failures++ == 0)
		log_warning("presence: PUBLISH of %s failed: %s; retrying",
			    p->uri, why);
	if (p->stopping) {
		p->stop_done = true;
		re_cancel();
		return;
	}
	p->retry_ms = p->retry_ms ? p->retry_ms * 2 : RETRY_MIN_MS;
	if (p->retry_ms > RETRY_MAX_MS)
		p->retry_ms = RETRY_MAX_MS;
	tmr_start(&p->refresh, p->retry_ms, on_refresh, p);
}

static void accepted(struct presence *p, const struct sip_msg *msg)
{
	const struct sip_hdr *etag = sip_msg_xhdr(msg, "SIP-ETag");

	p->etag = mem_deref(p->etag);
	if (etag)
		(void)pl_strdup(&p->etag, &etag->val);
	if (p->failures)
		log_info("presence: PUBLISH of %s accepted again after %u "
			 "failures", p->uri, p->failures);
	p->failures = 0;
	p->retry_ms = 0;
	snprintf(p->published, sizeof(p->published), "%s",
		 p->in_flight_open ? "open" : "closed");
	log_debug("presence: %s is %s", p->uri, p->published);
	if (p->stopping) {
		p->stop_done = true;
		re_cancel();
		return;
	}
	schedule_refresh(p, msg);
}

/* libre refuses a second challenge for a realm it knows unless it says
 * stale; a server that restarted (a new secret) says no such thing, so
 * the realm starts over once before the credentials count as wrong. */
static bool answer_challenge(struct presence *p, const struct sip_msg *msg)
{
	if (sip_auth_authenticate(p->auth, msg) == 0)
		return true;
	sip_auth_reset(p->auth);
	return sip_auth_authenticate(p->auth, msg) == 0;
}

static void on_response(int err, const struct sip_msg *msg, void *arg)
{
	struct presence *p = arg;
	char why[64];

	/* at a final answer libre has already cleared p->req */
	if (err) {
		snprintf(why, sizeof(why), "%s", strerror(err));
		failed(p, why);
		goto next;
	}
	if (msg->scode < 200)
		return;
	if (msg->scode < 300) {
		p->auth_tries = 0;
		accepted(p, msg);
		goto next;
	}
	if ((msg->scode == 401 || msg->scode == 407) &&
	    p->auth_tries++ < AUTH_TRIES && answer_challenge(p, msg)) {
		send_publish(p, p->in_flight_body);
		return;
	}
	/* a challenge answered: the tries start again for what comes next */
	p->auth_tries = 0;
	if (msg->scode == 412 && p->etag) {
		/* the server forgot us (restarted, or it expired): start
		 * over with the whole document */
		p->etag = mem_deref(p->etag);
		send_publish(p, true);
		return;
	}
	snprintf(why, sizeof(why), "%u %.*s", msg->scode,
		 (int)(msg->reason.l > 40 ? 40 : msg->reason.l),
		 msg->reason.p);
	failed(p, why);
next:
	if (p->switching && !p->stopping && !p->req) {
		/* the old presentity is closed (or could not be told): the
		 * agent's new account takes over */
		p->switching = false;
		p->again = false;
		look(p);
		return;
	}
	if (p->again && !p->stopping && !p->req) {
		p->again = false;
		send_publish(p, true);
	}
}

/* ---- sending ---- */

static int print_etag(struct re_printf *pf, const char *etag)
{
	return etag ? re_hprintf(pf, "SIP-If-Match: %s\r\n", etag) : 0;
}

static void send_publish(struct presence *p, bool body)
{
	struct pidf_view v = {
		.open = p->want_open,
		.activity = p->want_activity[0] ? p->want_activity : NULL,
		.note = p->want_note,
	};
	char doc[2048];
	int n = 0, err;

	if (p->req) {
		p->again = true;
		return;
	}
	tmr_cancel(&p->refresh);
	if (body) {
		n = pidf_build(&v, p->uri, doc, sizeof(doc));
		if (n < 0) {
			log_error("presence: the document does not fit");
			return;
		}
		p->in_flight_open = v.open;
		p->sent_valid = true;
		p->sent_open = v.open;
		snprintf(p->sent_activity, sizeof(p->sent_activity), "%s",
			 p->want_activity);
		snprintf(p->sent_note, sizeof(p->sent_note), "%s",
			 p->want_note);
	}
	p->in_flight_body = body;
	err = sip_drequestf(&p->req, p->sip, true, "PUBLISH", p->dlg, 0,
			    p->auth, NULL, on_response, p,
			    "Event: presence\r\n"
			    "Expires: %u\r\n"
			    "%H"
			    "%s"
			    "Content-Length: %d\r\n"
			    "\r\n"
			    "%b",
			    p->conf->presence_expires, print_etag, p->etag,
			    body ? "Content-Type: application/pidf+xml\r\n" : "",
			    n, doc, (size_t)n);
	if (err) {
		p->req = NULL;
		failed(p, strerror(err));
	}
}

/* ---- what the desk says ---- */

static bool want_changed(const struct presence *p)
{
	return !p->sent_valid || p->sent_open != p->want_open ||
	       strcmp(p->sent_activity, p->want_activity) ||
	       strcmp(p->sent_note, p->want_note);
}

static void look_desk(struct presence *p)
{
	cJSON *agent = desk_agent_json(p->desk);
	cJSON *reg = desk_registration_json(p->desk);
	const char *state = cJSON_GetStringValue(
		cJSON_GetObjectItemCaseSensitive(agent, "state"));
	const char *type = cJSON_GetStringValue(
		cJSON_GetObjectItemCaseSensitive(agent, "type"));
	const char *mode = cJSON_GetStringValue(
		cJSON_GetObjectItemCaseSensitive(reg, "mode"));
	const char *rstate = cJSON_GetStringValue(
		cJSON_GetObjectItemCaseSensitive(reg, "state"));
	bool routable = cJSON_IsTrue(
		cJSON_GetObjectItemCaseSensitive(agent, "routable"));
	bool registered = !mode || strcmp(mode, "registrar") ||
			  (rstate && strcmp(rstate, "registered") == 0);
	struct pidf_view v = pidf_view_of(state, type, routable);
	bool again = registered && !p->registered;

	/* no one can ring an agent whose softphone is not registered */
	p->want_open = v.open && registered;
	snprintf(p->want_activity, sizeof(p->want_activity), "%s",
		 v.activity ? v.activity : (registered ? "" : "away"));
	snprintf(p->want_note, sizeof(p->want_note), "%s",
		 v.note ? v.note : "");
	p->registered = registered;
	cJSON_Delete(agent);
	cJSON_Delete(reg);
	/* a new registration is a new life of the softphone: say it all
	 * again even when nothing changed */
	if (want_changed(p) || again)
		send_publish(p, true);
}

static void look(struct presence *p)
{
	if (follow_account(p))
		look_desk(p);
}

static void on_kick(void *arg)
{
	struct presence *p = arg;

	/* once stopping, what goes is closed, whatever the desk says */
	if (!p->stopping)
		look(p);
}

static void on_event(struct events_msg *msg, void *arg)
{
	struct presence *p = arg;
	const char *line = events_msg_line(msg);

	/* the sink runs inside the desk's emit: look once it returns, once
	 * per burst */
	if (strstr(line, "\"type\":\"agent.stateChange\"") ||
	    strstr(line, "\"type\":\"registration.status\"") ||
	    strstr(line, "\"type\":\"media.status\""))
		tmr_start(&p->kick, 0, on_kick, p);
}

/* ---- life ---- */

static int auth_h(char **user, char **pass, const char *realm, void *arg)
{
	const struct presence *p = arg;
	int err;

	(void)realm;
	err = str_dup(user, p->auth_user);
	err |= str_dup(pass, p->auth_pass);
	return err;
}

static void default_uri(const struct conf *c, char *out, size_t size)
{
	char host[160];

	if (*c->sip_domain) {
		snprintf(out, size, "sip:%.80s@%.160s", c->sip_user,
			 c->sip_domain);
		return;
	}
	snprintf(host, sizeof(host), "%s", *c->sip_registrar ?
		 c->sip_registrar + 4 : c->sip_listen);
	host[strcspn(host, ";>")] = '\0';
	snprintf(out, size, "sip:%.80s@%s", c->sip_user, host);
}

static int open_stack(struct presence *p)
{
	const struct conf *c = p->conf;
	struct sa nsv[4], laddr;
	uint32_t nsn = 4;
	int err;

	/* names resolve on the loop; a registrar given by address needs no
	 * resolver */
	if (dns_srv_get(NULL, 0, nsv, &nsn) == 0 && nsn > 0)
		(void)dnsc_alloc(&p->dnsc, NULL, nsv, nsn);
	err = sip_alloc(&p->sip, p->dnsc, 4, 4, 4, "ccpd presence", NULL,
			NULL);
	if (err)
		return err;
	/* net_interface is an address or an interface's name, as for
	 * baresip; failing both, the address the default route leaves by */
	if (sa_set_str(&laddr, c->net_interface, 0) != 0 &&
	    net_if_getaddr(c->net_interface, AF_INET, &laddr) != 0 &&
	    net_default_source_addr_get(AF_INET, &laddr) != 0)
		sa_set_str(&laddr, "127.0.0.1", 0);
	sa_set_port(&laddr, 0);
	err = sip_transp_add(p->sip, SIP_TRANSP_UDP, &laddr);
	if (err)
		return err;
	return sip_auth_alloc(&p->auth, auth_h, p, true);
}

/* Whom the agent's presence is published as, and with which
 * credentials: the logged-in user's own account while there is one (its
 * address is the presentity), else the desk's (presence_uri, or the
 * desk's address). */
struct target {
	char uri[256];
	char route[256];
	char auth_user[128];
	char auth_pass[256];
};

static void target_now(const struct presence *p, struct target *t)
{
	const struct conf *c = p->conf;
	struct media_agent_account a = { 0 };

	desk_agent_account(p->desk, &a);
	if (a.user && a.aor && *a.aor)
		snprintf(t->uri, sizeof(t->uri), "%s", a.aor);
	else if (*c->presence_uri)
		snprintf(t->uri, sizeof(t->uri), "%s", c->presence_uri);
	else
		default_uri(c, t->uri, sizeof(t->uri));
	snprintf(t->route, sizeof(t->route), "%s",
		 a.user && a.registrar && *a.registrar ? a.registrar :
		 c->sip_registrar);
	snprintf(t->auth_user, sizeof(t->auth_user), "%s",
		 a.auth_user ? a.auth_user : "");
	snprintf(t->auth_pass, sizeof(t->auth_pass), "%s",
		 a.password ? a.password : "");
}

static bool target_same(const struct presence *p, const struct target *t)
{
	return !strcmp(t->uri, p->uri) && !strcmp(t->route, p->route) &&
	       !strcmp(t->auth_user, p->auth_user) &&
	       !strcmp(t->auth_pass, p->auth_pass);
}

/* A new presentity (or new credentials): a dialog of its own, no entity
 * tag, nothing sent yet. */
static int set_target(struct presence *p, const struct target *t)
{
	const char *routev[1] = { t->route };
	struct sip_dialog *dlg = NULL;
	int err;

	err = sip_dialog_alloc(&dlg, t->uri, t->uri, NULL, t->uri,
			       *t->route ? routev : NULL, *t->route ? 1 : 0);
	if (err)
		return err;
	mem_deref(p->dlg);
	p->dlg = dlg;
	memcpy(p->uri, t->uri, sizeof(p->uri));
	memcpy(p->route, t->route, sizeof(p->route));
	memcpy(p->auth_user, t->auth_user, sizeof(p->auth_user));
	memcpy(p->auth_pass, t->auth_pass, sizeof(p->auth_pass));
	p->etag = mem_deref(p->etag);
	if (p->auth)
		sip_auth_reset(p->auth);
	p->sent_valid = false;
	p->published[0] = '\0';
	p->failures = 0;
	p->retry_ms = 0;
	tmr_cancel(&p->refresh);
	return 0;
}

/* The agent's account changed (a user logged in or out): the old
 * presentity is told closed first, if it was open, then the new one takes
 * over. False while that is under way. */
static bool follow_account(struct presence *p)
{
	struct target t;
	int err;

	target_now(p, &t);
	if (target_same(p, &t))
		return true;
	if (p->req) {
		p->switching = true;    /* once the answer is in */
		return false;
	}
	if (strcmp(t.uri, p->uri) && p->sent_valid && p->sent_open) {
		p->switching = true;
		p->want_open = false;
		snprintf(p->want_activity, sizeof(p->want_activity), "away");
		p->want_note[0] = '\0';
		send_publish(p, true);
		return false;
	}
	err = set_target(p, &t);
	if (err) {
		log_error("presence: cannot publish as %s: %s", t.uri,
			  strerror(err));
		return false;
	}
	log_info("presence: publishing %s", p->uri);
	return true;
}

int presence_new(struct presence **ret, const struct conf *conf,
		 struct events *ev, struct desk *d)
{
	struct presence *p;
	int err, r;

	*ret = NULL;
	if (!conf->presence)
		return 0;
	p = calloc(1, sizeof(*p));
	if (!p)
		return -ENOMEM;
	p->conf = conf;
	p->desk = d;
	tmr_init(&p->kick);
	tmr_init(&p->refresh);
	err = open_stack(p);
	if (!err) {
		struct target t;

		target_now(p, &t);
		err = set_target(p, &t);
	}
	if (err) {
		log_error("presence: cannot start SIP for %s: %s", p->uri,
			  strerror(err));
		presence_free(p);
		return -err;
	}
	r = events_subscribe(ev, &p->sub, on_event, p);
	if (r < 0) {
		presence_free(p);
		return r;
	}
	log_info("presence: publishing %s through %s", p->uri,
		 *conf->sip_registrar ? conf->sip_registrar : "its domain");
	/* the first document says what the agent is at start (closed) */
	tmr_start(&p->kick, 0, on_kick, p);
	*ret = p;
	return 0;
}

static void stop_deadline(void *arg)
{
	(void)arg;
	re_cancel();
}

void presence_stop(struct presence *p, unsigned wait_ms)
{
	struct tmr deadline;

	if (!p || p->stopping)
		return;
	p->stopping = true;
	tmr_cancel(&p->kick);
	tmr_cancel(&p->refresh);
	if (p->req) {
		/* its answer no longer matters: what goes now is closed */
		p->req = mem_deref(p->req);
	}
	p->again = false;
	p->want_open = false;
	snprintf(p->want_activity, sizeof(p->want_activity), "away");
	snprintf(p->want_note, sizeof(p->want_note), "Offline");
	send_publish(p, true);
	if (!p->req)
		return;
	tmr_init(&deadline);
	tmr_start(&deadline, wait_ms, stop_deadline, NULL);
	while (!p->stop_done && tmr_isrunning(&deadline)) {
		if (re_main(NULL) != 0)
			break;
	}
	tmr_cancel(&deadline);
	if (!p->stop_done)
		log_warning("presence: no answer to the closing PUBLISH of %s "
			    "within %u ms", p->uri, wait_ms);
}

struct presence *presence_free(struct presence *p)
{
	if (!p)
		return NULL;
	p->sub = events_unsubscribe(p->sub);
	tmr_cancel(&p->kick);
	tmr_cancel(&p->refresh);
	p->req = mem_deref(p->req);
	p->auth = mem_deref(p->auth);
	p->dlg = mem_deref(p->dlg);
	p->etag = mem_deref(p->etag);
	if (p->sip)
		sip_close(p->sip, true);
	p->sip = mem_deref(p->sip);
	p->dnsc = mem_deref(p->dnsc);
	free(p);
	return NULL;
}

const char *presence_published(const struct presence *p)
{
	return p ? p->published : "";
}
