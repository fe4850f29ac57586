/* Users, passwords, sessions and login throttling. Passwords are kept as
 * yescrypt hashes (crypt(3) from libcrypt); session tokens are 256 random
 * bits from getrandom(2), held in memory only, so a restart of ccpd ends
 * every session. */
#include <crypt.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include <cjson/cJSON.h>

#include "auth.h"
#include "log.h"
#include "store.h"

#define MAX_SESSIONS 1024
#define MAX_THROTTLE 1024

struct auth_session {
	struct auth_session *prev, *next;
	char token[65];
	char *user;
	char *display;
	char *profile;
	perm_set perms;
	bool must_change;
	uint64_t expires;
	uint64_t opened;          /* Unix ms */
};

/* "'user' from peer": a user name of 64 and a peer name of 48 */
#define THROTTLE_KEY 128

struct throttle {
	char key[THROTTLE_KEY];
	unsigned failures;
	uint64_t last;
	uint64_t until;         /* no attempt before */
};

struct auth {
	struct store *st;
	struct auth_settings set;
	struct auth_session *sessions;
	unsigned n_sessions;
	struct throttle *thr;
	size_t n_thr;
	/* checked against when the user does not exist, so that a wrong
	 * name costs as much time as a wrong password */
	char *dummy_hash;
};

static int random_bytes(void *buf, size_t n)
{
	size_t done = 0;

	while (done < n) {
		ssize_t r = getrandom((char *)buf + done, n - done, 0);

		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return -errno;
		done += (size_t)r;
	}
	return 0;
}

int auth_hash_password(const char *pw, char **ret)
{
	struct crypt_data *cd = calloc(1, sizeof(*cd));
	char *salt, *h;
	int r = 0;

	if (!cd)
		return -ENOMEM;
	/* count 0: libcrypt's default cost for yescrypt */
	salt = crypt_gensalt_ra("$y$", 0, NULL, 0);
	if (!salt) {
		r = errno ? -errno : -EINVAL;
		goto out;
	}
	h = crypt_r(pw, salt, cd);
	if (!h || h[0] == '*') {
		r = -EINVAL;
		goto out;
	}
	*ret = strdup(h);
	if (!*ret)
		r = -ENOMEM;
out:
	free(salt);
	explicit_bzero(cd, sizeof(*cd));
	free(cd);
	return r;
}

bool auth_verify_password(const char *pw, const char *hash)
{
	struct crypt_data *cd = calloc(1, sizeof(*cd));
	unsigned char diff = 0;
	size_t n, i;
	char *h;

	if (!cd)
		return false;
	h = crypt_r(pw, hash, cd);
	if (!h || h[0] == '*' || (n = strlen(h)) != strlen(hash)) {
		diff = 1;
	} else {
		for (i = 0; i < n; i++)
			diff |= (unsigned char)(h[i] ^ hash[i]);
	}
	explicit_bzero(cd, sizeof(*cd));
	free(cd);
	return diff == 0;
}

int auth_random_password(char *out, size_t size)
{
	/* no 0/O, 1/l/I: it is read off a screen and typed */
	static const char alphabet[] =
		"abcdefghijkmnopqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789";
	unsigned char b[64];
	size_t n = size - 1 < 16 ? size - 1 : 16, i;
	int r;

	if (size < 2)
		return -EINVAL;
	r = random_bytes(b, n);
	if (r < 0)
		return r;
	for (i = 0; i < n; i++)
		out[i] = alphabet[b[i] % (sizeof(alphabet) - 1)];
	out[n] = '\0';
	return 0;
}

int auth_check_password(const struct auth *a, const char *pw, char *err,
			size_t err_size)
{
	size_t n = strlen(pw);

	if (n < a->set.password_min) {
		snprintf(err, err_size, "a password needs at least %u "
			 "characters", a->set.password_min);
		return -EINVAL;
	}
	if (n > 256) {
		snprintf(err, err_size, "a password has at most 256 "
			 "characters");
		return -EINVAL;
	}
	return 0;
}

int auth_new(struct auth **ret, struct store *st,
	     const struct auth_settings *set)
{
	struct auth *a = calloc(1, sizeof(*a));
	char pw[24];
	int r;

	if (!a)
		return -ENOMEM;
	a->st = st;
	a->set = *set;
	r = auth_random_password(pw, sizeof(pw));
	if (r == 0)
		r = auth_hash_password(pw, &a->dummy_hash);
	if (r < 0) {
		free(a);
		return r;
	}
	*ret = a;
	return 0;
}

static void session_free(struct auth *a, struct auth_session *s)
{
	if (s->prev)
		s->prev->next = s->next;
	else
		a->sessions = s->next;
	if (s->next)
		s->next->prev = s->prev;
	a->n_sessions--;
	explicit_bzero(s->token, sizeof(s->token));
	free(s->user);
	free(s->display);
	free(s->profile);
	free(s);
}

struct auth *auth_free(struct auth *a)
{
	if (!a)
		return NULL;
	while (a->sessions)
		session_free(a, a->sessions);
	free(a->thr);
	free(a->dummy_hash);
	free(a);
	return NULL;
}

int auth_seed(struct auth *a)
{
	const struct perms_profile *p;
	size_t n, i;
	int r, k;

	p = perms_defaults(&n);
	r = store_begin(a->st);
	for (i = 0; i < n && r == 0; i++) {
		cJSON *row, *perms;

		/* a database made before a default profile was added gets
		 * it too; one that exists is the operator's */
		if (store_get(a->st, &store_profiles, p[i].name, &row) == 0) {
			cJSON_Delete(row);
			continue;
		}
		row = cJSON_CreateObject();
		if (!row) {
			r = -ENOMEM;
			break;
		}
		cJSON_AddStringToObject(row, "name", p[i].name);
		cJSON_AddStringToObject(row, "description", p[i].description);
		cJSON_AddBoolToObject(row, "builtin", true);
		perms = cJSON_AddArrayToObject(row, "permissions");
		for (k = 0; k < PERM_COUNT; k++)
			if (p[i].set & PERM_BIT(k))
				cJSON_AddItemToArray(perms, cJSON_CreateString(
					perm_name((enum perm)k)));
		r = store_insert(a->st, &store_profiles, row);
		cJSON_Delete(row);
	}
	if (r == 0)
		r = store_commit(a->st);
	else
		store_rollback(a->st);
	if (r == 0)
		log_debug("auth: created the default security profiles");
	return r;
}

int auth_profile_perms(struct auth *a, const char *profile, perm_set *out)
{
	const cJSON *e, *list;
	cJSON *row;
	perm_set set = 0;
	int r = store_get(a->st, &store_profiles, profile, &row);

	if (r < 0)
		return r;
	/* Admin holds every permission, those added since it was made too */
	if (strcmp(profile, PERMS_ADMIN_PROFILE) == 0) {
		cJSON_Delete(row);
		*out = PERMS_ALL;
		return 0;
	}
	list = cJSON_GetObjectItemCaseSensitive(row, "permissions");
	cJSON_ArrayForEach(e, list) {
		int p = cJSON_IsString(e) ? perm_find(e->valuestring) : -1;

		if (p >= 0)
			set |= PERM_BIT(p);
	}
	cJSON_Delete(row);
	*out = set;
	return 0;
}

/* ---- throttling ----
 *
 * Failures are counted per (user, peer) and per peer, never per user
 * alone: a stranger who guesses at a name delays only their own next
 * guesses, not the user's own login from elsewhere. Past login_failures
 * failures each further one doubles the wait (1 s, 2 s, 4 s ...) up to
 * login_lockout. A peer trusted by its credentials is never throttled. */

static struct throttle *throttle_get(struct auth *a, const char *key,
				     uint64_t now, bool create)
{
	struct throttle *t, *oldest = NULL;
	size_t i;

	for (i = 0; i < a->n_thr; i++) {
		t = &a->thr[i];
		if (strcmp(t->key, key) == 0)
			return t;
		if (!oldest || t->last < oldest->last)
			oldest = t;
	}
	if (!create)
		return NULL;
	if (a->n_thr < MAX_THROTTLE) {
		t = realloc(a->thr, (a->n_thr + 1) * sizeof(*t));
		if (!t)
			return oldest;
		a->thr = t;
		t = &a->thr[a->n_thr++];
	} else {
		/* full: forget the one idle longest */
		t = oldest;
	}
	memset(t, 0, sizeof(*t));
	snprintf(t->key, sizeof(t->key), "%s", key);
	t->last = now;
	return t;
}

static unsigned wait_for(struct auth *a, const char *key, uint64_t now)
{
	struct throttle *t = throttle_get(a, key, now, false);

	if (!t || t->until <= now)
		return 0;
	return (unsigned)((t->until - now + 999) / 1000);
}

/* The wait after a failure: none for the first login_failures - 1, then
 * doubling up to login_lockout. */
static unsigned delay_after(const struct auth *a, unsigned failures)
{
	unsigned past, max = a->set.login_lockout;

	if (failures < a->set.login_failures)
		return 0;
	past = failures - a->set.login_failures;
	return past >= 31 || (1u << past) > max ? max : 1u << past;
}

static void note_failure(struct auth *a, const char *key, uint64_t now)
{
	struct throttle *t = throttle_get(a, key, now, true);
	uint64_t forget = (uint64_t)a->set.login_lockout * 1000;
	unsigned delay;

	if (!t)
		return;
	/* failures long ago, their wait long over, are forgiven */
	if (t->last + forget < now && t->until + forget < now)
		t->failures = 0;
	t->last = now;
	if (t->failures < UINT32_MAX)
		t->failures++;
	delay = delay_after(a, t->failures);
	if (delay) {
		t->until = now + (uint64_t)delay * 1000;
		log_notice("auth: %u failed logins for %s; the next is "
			   "refused for %u s", t->failures, key, delay);
	}
}

static void note_success(struct auth *a, const char *key)
{
	struct throttle *t = throttle_get(a, key, 0, false);

	if (t) {
		t->failures = 0;
		t->until = 0;
	}
}

static int throttled(struct auth *a, const char *username, const char *peer,
		     uint64_t now_ms, unsigned *retry_after)
{
	char ukey[THROTTLE_KEY], pkey[THROTTLE_KEY];
	unsigned wait_user, wait_peer;

	if (!peer)
		return 0;
	snprintf(ukey, sizeof(ukey), "'%s' from %s", username, peer);
	snprintf(pkey, sizeof(pkey), "%s", peer);
	wait_user = wait_for(a, ukey, now_ms);
	wait_peer = wait_for(a, pkey, now_ms);
	if (!wait_user && !wait_peer)
		return 0;
	*retry_after = wait_user > wait_peer ? wait_user : wait_peer;
	return -EAGAIN;
}

static void note_attempt(struct auth *a, const char *username,
			 const char *peer, bool ok, uint64_t now_ms)
{
	char ukey[THROTTLE_KEY];

	if (!peer)
		return;
	snprintf(ukey, sizeof(ukey), "'%s' from %s", username, peer);
	if (ok) {
		note_success(a, ukey);
		note_success(a, peer);
	} else {
		note_failure(a, ukey, now_ms);
		note_failure(a, peer, now_ms);
	}
}

int auth_check_login(struct auth *a, const char *username,
		     const char *password, const char *peer, uint64_t now_ms,
		     unsigned *retry_after)
{
	const char *hash = a->dummy_hash;
	cJSON *row = NULL;
	bool ok;
	int r = throttled(a, username, peer, now_ms, retry_after);

	if (r < 0)
		return r;
	if (store_get(a->st, &store_users, username, &row) == 0) {
		const cJSON *h = cJSON_GetObjectItemCaseSensitive(
			row, "passwordHash");

		if (cJSON_IsString(h))
			hash = h->valuestring;
	}
	ok = auth_verify_password(password, hash) && hash != a->dummy_hash;
	cJSON_Delete(row);
	note_attempt(a, username, peer, ok, now_ms);
	if (!ok) {
		log_notice("auth: failed login for '%s' from %s", username,
			   peer ? peer : "a trusted peer");
		return -EACCES;
	}
	return 0;
}

/* ---- sessions ---- */

static int load_user(struct auth *a, struct auth_session *s)
{
	const cJSON *v;
	cJSON *row;
	perm_set set = 0;
	int r = store_get(a->st, &store_users, s->user, &row);

	if (r < 0)
		return r;
	free(s->display);
	free(s->profile);
	v = cJSON_GetObjectItemCaseSensitive(row, "displayName");
	s->display = strdup(cJSON_IsString(v) ? v->valuestring : s->user);
	v = cJSON_GetObjectItemCaseSensitive(row, "profile");
	s->profile = strdup(cJSON_IsString(v) ? v->valuestring : "");
	s->must_change = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(
		row, "mustChangePassword"));
	cJSON_Delete(row);
	if (!s->display || !s->profile)
		return -ENOMEM;
	if (auth_profile_perms(a, s->profile, &set) < 0)
		set = 0;
	s->perms = set;
	return 0;
}

int auth_session_open(struct auth *a, const char *username, uint64_t now_ms,
		      struct auth_session **ret)
{
	struct auth_session *s;
	unsigned char b[32];
	int r, i;

	/* the bound on sessions: the one that would expire first goes */
	if (a->n_sessions >= MAX_SESSIONS) {
		struct auth_session *old = a->sessions, *it;

		for (it = a->sessions; it; it = it->next)
			if (it->expires < old->expires)
				old = it;
		session_free(a, old);
	}
	s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	s->user = strdup(username);
	s->opened = now_ms;
	r = s->user ? random_bytes(b, sizeof(b)) : -ENOMEM;
	if (r == 0)
		r = load_user(a, s);
	if (r < 0) {
		free(s->user);
		free(s->display);
		free(s->profile);
		free(s);
		return r;
	}
	for (i = 0; i < 32; i++)
		snprintf(s->token + 2 * i, 3, "%02x", b[i]);
	explicit_bzero(b, sizeof(b));
	s->expires = now_ms + (uint64_t)a->set.session_timeout * 1000;
	s->next = a->sessions;
	if (a->sessions)
		a->sessions->prev = s;
	a->sessions = s;
	a->n_sessions++;
	*ret = s;
	return 0;
}

int auth_login(struct auth *a, const char *username, const char *password,
	       const char *peer, uint64_t now_ms, struct auth_session **ret,
	       unsigned *retry_after)
{
	int r = auth_check_login(a, username, password, peer, now_ms,
				 retry_after);

	return r < 0 ? r : auth_session_open(a, username, now_ms, ret);
}

/* Tokens compared in constant time: how long a lookup takes tells nothing
 * about how much of a guess was right. */
static bool token_eq(const char *a, const char *b)
{
	unsigned char diff = 0;
	size_t i;

	if (strlen(b) != 64)
		return false;
	for (i = 0; i < 64; i++)
		diff |= (unsigned char)(a[i] ^ b[i]);
	return diff == 0;
}

struct auth_session *auth_session_peek(struct auth *a, const char *token,
				       uint64_t now_ms)
{
	struct auth_session *s;

	for (s = a->sessions; s; s = s->next)
		if (token_eq(s->token, token))
			return s->expires > now_ms ? s : NULL;
	return NULL;
}

struct auth_session *auth_session_find(struct auth *a, const char *token,
				       uint64_t now_ms)
{
	struct auth_session *s = auth_session_peek(a, token, now_ms);

	if (s)
		s->expires = now_ms + (uint64_t)a->set.session_timeout * 1000;
	return s;
}

void auth_session_end(struct auth *a, struct auth_session *s)
{
	if (s)
		session_free(a, s);
}

void auth_end_user(struct auth *a, const char *username)
{
	struct auth_session *s = a->sessions, *next;

	for (; s; s = next) {
		next = s->next;
		if (strcmp(s->user, username) == 0)
			session_free(a, s);
	}
}

unsigned auth_end_user_before(struct auth *a, const char *username,
			      uint64_t before_ms)
{
	struct auth_session *s = a->sessions, *next;
	unsigned n = 0;

	for (; s; s = next) {
		next = s->next;
		if (strcmp(s->user, username) == 0 && s->opened <= before_ms) {
			session_free(a, s);
			n++;
		}
	}
	return n;
}

unsigned auth_user_sessions(const struct auth *a, const char *username)
{
	const struct auth_session *s;
	unsigned n = 0;

	for (s = a->sessions; s; s = s->next)
		if (strcmp(s->user, username) == 0)
			n++;
	return n;
}

void auth_refresh(struct auth *a)
{
	struct auth_session *s = a->sessions, *next;

	for (; s; s = next) {
		next = s->next;
		if (load_user(a, s) < 0)
			session_free(a, s);
	}
}

void auth_sweep(struct auth *a, uint64_t now_ms, auth_ended_h *h, void *arg)
{
	struct auth_session *s = a->sessions, *next;
	char user[128];

	for (; s; s = next) {
		next = s->next;
		if (s->expires > now_ms)
			continue;
		snprintf(user, sizeof(user), "%s", s->user);
		log_info("auth: session of '%s' expired", user);
		session_free(a, s);
		if (h)
			h(user, arg);
	}
}

const char *auth_session_token(const struct auth_session *s)
{
	return s->token;
}

const char *auth_session_user(const struct auth_session *s)
{
	return s->user;
}

const char *auth_session_display(const struct auth_session *s)
{
	return s->display;
}

const char *auth_session_profile(const struct auth_session *s)
{
	return s->profile;
}

perm_set auth_session_perms(const struct auth_session *s)
{
	return s->perms;
}

bool auth_session_must_change(const struct auth_session *s)
{
	return s->must_change;
}

uint64_t auth_session_expires(const struct auth_session *s)
{
	return s->expires;
}

int auth_change_password(struct auth *a, struct auth_session *s,
			 const char *old, const char *pw, const char *peer,
			 uint64_t now_ms, unsigned *retry_after, char *err,
			 size_t err_size)
{
	const cJSON *h;
	cJSON *row = NULL, *changes;
	char *hash = NULL;
	bool ok;
	int r;

	/* a stolen session must not make the old password cheap to guess:
	 * the same budget as logging in as that user from that peer */
	r = throttled(a, s->user, peer, now_ms, retry_after);
	if (r < 0)
		return r;
	r = store_get(a->st, &store_users, s->user, &row);
	if (r < 0)
		return r;
	h = cJSON_GetObjectItemCaseSensitive(row, "passwordHash");
	ok = cJSON_IsString(h) && auth_verify_password(old, h->valuestring);
	cJSON_Delete(row);
	note_attempt(a, s->user, peer, ok, now_ms);
	if (!ok) {
		log_notice("auth: wrong old password for '%s' from %s",
			   s->user, peer ? peer : "a trusted peer");
		snprintf(err, err_size, "the old password is wrong");
		return -EACCES;
	}
	r = auth_check_password(a, pw, err, err_size);
	if (r < 0)
		return r;
	if (strcmp(old, pw) == 0) {
		snprintf(err, err_size, "the new password must differ from "
			 "the old one");
		return -EINVAL;
	}
	r = auth_hash_password(pw, &hash);
	if (r < 0)
		return r;
	changes = cJSON_CreateObject();
	if (!changes) {
		free(hash);
		return -ENOMEM;
	}
	cJSON_AddStringToObject(changes, "passwordHash", hash);
	cJSON_AddBoolToObject(changes, "mustChangePassword", false);
	r = store_update(a->st, &store_users, s->user, changes);
	cJSON_Delete(changes);
	free(hash);
	if (r == 0)
		auth_refresh(a);
	return r;
}
