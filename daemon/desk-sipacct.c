/* The agent's SIP identity follows the agent: the account of the user at
 * the desk (their own, or the instance's template with their name) is
 * given to the media stack when they arrive, and taken back, unregistered,
 * by every way their time at the desk ends: logout, expiry, another user
 * taking the desk, a clean stop, or the instance moving them elsewhere
 * (which ends their sessions here as a logout would). All of those go
 * through desk_set_user, and so through sipacct_apply. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <re.h>

#include "conf.h"
#include "desk-int.h"
#include "events.h"
#include "json.h"
#include "log.h"
#include "sipaccount.h"
#include "sipsecret.h"
#include "store.h"

/* Whose accounts the media stack holds or is letting go of, to name the
 * user when one has left; and who wants to hear of it. */
#define OWNERS 8
#define WATCHERS 4

struct desk_sipacct {
	struct {
		char aor[512];
		char user[65];
	} owners[OWNERS];
	struct {
		desk_sip_released_h *h;
		void *arg;
	} watch[WATCHERS];
	unsigned n_watch;
	/* the user left during a call on their account: it stays until the
	 * desk is free of it */
	bool deferred;
	struct tmr recheck;
};

static void on_note(struct desk *d, const struct desk_note *n, void *arg)
{
	(void)arg;
	if (n->type == DESK_NOTE_RETIRED)
		sipacct_recheck(d);
}

int sipacct_new(struct desk *d)
{
	d->sip = calloc(1, sizeof(*d->sip));
	if (!d->sip)
		return -ENOMEM;
	tmr_init(&d->sip->recheck);
	return desk_watch(d, on_note, NULL);
}

void sipacct_free(struct desk *d)
{
	if (d->sip)
		tmr_cancel(&d->sip->recheck);
	free(d->sip);
	d->sip = NULL;
}

/* baresip has a call on the user's account (ringing, live, or kept by a
 * bridge after its contact left): uadel would cut it. */
static bool in_use(const struct desk *d)
{
	return media_user_account_busy(d->media);
}

static void recheck(void *arg)
{
	struct desk *d = arg;

	if (!d->sip->deferred || in_use(d))
		return;
	d->sip->deferred = false;
	sipacct_apply(d);
}

void sipacct_recheck(struct desk *d)
{
	/* after the news is done with: a retired contact leaves the list
	 * only after its note */
	if (d->sip && d->sip->deferred)
		tmr_start(&d->sip->recheck, 0, recheck, d);
}

int desk_sip_released_watch(struct desk *d, desk_sip_released_h *h,
			    void *arg)
{
	struct desk_sipacct *s = d->sip;

	if (s->n_watch == WATCHERS)
		return -ENOSPC;
	s->watch[s->n_watch].h = h;
	s->watch[s->n_watch++].arg = arg;
	return 0;
}

static void own(struct desk *d, const char *aor, const char *user)
{
	struct desk_sipacct *s = d->sip;
	unsigned i, free_at = 0;

	for (i = 0; i < OWNERS; i++) {
		if (strcmp(s->owners[i].aor, aor) == 0) {
			free_at = i;
			break;
		}
		if (!s->owners[i].aor[0])
			free_at = i;
	}
	snprintf(s->owners[free_at].aor, sizeof(s->owners[free_at].aor), "%s",
		 aor);
	snprintf(s->owners[free_at].user, sizeof(s->owners[free_at].user),
		 "%s", user);
}

/* The user an account was given for; "" when unknown. Forgets it. */
static void owner_of(struct desk *d, const char *aor, char *user,
		     size_t size)
{
	struct desk_sipacct *s = d->sip;
	unsigned i;

	snprintf(user, size, "%s", "");
	for (i = 0; i < OWNERS; i++)
		if (strcmp(s->owners[i].aor, aor) == 0) {
			snprintf(user, size, "%s", s->owners[i].user);
			s->owners[i].aor[0] = '\0';
			return;
		}
}

/* The user's account as the media stack takes it; -ENOENT for none. The
 * password is opened into pw. */
static int user_account(struct desk *d, const char *name,
			struct sipaccount *a, char *pw, size_t size)
{
	const char *stored = NULL;
	bool tmpl = false;
	cJSON *row = NULL;
	int r;

	pw[0] = '\0';
	if (d->st && store_get(d->st, &store_users, name, &row) == 0)
		stored = cJSON_GetStringValue(
			cJSON_GetObjectItemCaseSensitive(row, "sipAccount"));
	r = sipaccount_resolve(stored, name, d->conf->sip_account_template,
			       a, &tmpl);
	if (r == -EINVAL)
		log_error("registration: '%s' has a SIP account ccpd cannot "
			  "read%s; the desk's own account is used", name,
			  tmpl ? " (the template does not fit the name)" : "");
	if (r == 0 && a->sealed[0]) {
		r = sipsecret_open(name, a->sealed, pw, size);
		if (r < 0)
			log_error("registration: the SIP password of '%s' "
				  "cannot be opened: %s; the desk's own account "
				  "is used", name, r == -ENOKEY ?
				  "sip_secret_key_file is not set" :
				  "it was sealed under another key");
	}
	cJSON_Delete(row);
	return r;
}

void sipacct_apply(struct desk *d)
{
	const char *name = desk_user(d);
	struct sipaccount a;
	char pw[SIPACCOUNT_USER_MAX];
	struct media_user_account ua = { 0 };
	bool had = media_user_account_on(d->media);
	char before[512];
	int r = -ENOENT;

	snprintf(before, sizeof(before), "%s", had ? media_aor(d->media) : "");
	/* a call on the leaving user's account is not cut by its removal:
	 * the account goes when the call is over */
	if (had && in_use(d)) {
		if (!d->sip->deferred)
			log_info("registration: %s stays until the call on it "
				 "is over", before);
		d->sip->deferred = true;
		return;
	}
	d->sip->deferred = false;
	if (name)
		r = user_account(d, name, &a, pw, sizeof(pw));
	if (r == 0) {
		ua.aor = a.aor;
		ua.auth_user = a.auth_user;
		ua.password = pw;
		ua.registrar = a.registrar;
		ua.display = user_display(d);
		/* another address starts with no registration */
		if (strcmp(before, a.aor) != 0)
			desk_registration_reset_user(d);
		r = media_set_user_account(d->media, &ua);
		if (r < 0)
			log_error("registration: the SIP account %s of '%s' "
				  "cannot be used (%s); the desk's own account "
				  "is used", a.aor, name, strerror(-r));
		else
			own(d, a.aor, name);
	}
	explicit_bzero(pw, sizeof(pw));
	explicit_bzero(&a, sizeof(a));
	if (r < 0)
		media_set_user_account(d->media, NULL);
	if (r == 0 || had)
		log_info("registration: the agent's account is %s%s%s%s",
			 media_aor(d->media), r == 0 ? " ('" : " (the desk's)",
			 r == 0 ? name : "", r == 0 ? "')" : "");
	desk_registration_changed(d);
}

void desk_user_account_changed(struct desk *d, const char *username)
{
	const char *at = desk_user(d);

	if (at && username && strcmp(at, username) == 0)
		sipacct_apply(d);
}

void sipacct_left(struct desk *d, const char *aor, bool confirmed)
{
	struct desk_sipacct *s = d->sip;
	cJSON *data = cJSON_CreateObject();
	char user[65];
	unsigned i;

	/* a changed account of the same address: the user keeps it */
	owner_of(d, aor, user, sizeof(user));
	if (user[0] && media_user_account_on(d->media) &&
	    strcmp(media_aor(d->media), aor) == 0)
		own(d, aor, user);
	for (i = 0; i < s->n_watch; i++)
		s->watch[i].h(aor, user[0] ? user : NULL, confirmed,
			      s->watch[i].arg);
	if (!data)
		return;
	cJSON_AddStringToObject(data, "aor", aor);
	json_add_str_or_null(data, "username", user[0] ? user : NULL);
	cJSON_AddBoolToObject(data, "unregistered", confirmed);
	events_emit(d->ev, "registration.released", data);
}

void sipacct_stop(struct desk *d)
{
	/* a clean stop unregisters the user's account first */
	if (media_user_account_on(d->media))
		media_set_user_account(d->media, NULL);
}
