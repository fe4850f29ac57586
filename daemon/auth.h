/* Users, password hashes, sessions and login throttling. Users and
 * profiles live in the store; sessions and throttling live in memory. */
#ifndef CCPD_AUTH_H
#define CCPD_AUTH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "perms.h"

struct auth;
struct auth_session;
struct store;

struct auth_settings {
	unsigned session_timeout;    /* s without a request */
	unsigned login_failures;     /* failures before the first delay */
	unsigned login_lockout;      /* s: the longest delay */
	unsigned password_min;       /* shortest password accepted */
};

int auth_new(struct auth **ret, struct store *st,
	     const struct auth_settings *set);
struct auth *auth_free(struct auth *a);

/* Write the default profiles when the store has none. */
int auth_seed(struct auth *a);

/* A yescrypt hash of pw ("$y$..."); free() it. */
int auth_hash_password(const char *pw, char **ret);
bool auth_verify_password(const char *pw, const char *hash);
/* A random password for a first login: letters and digits. */
int auth_random_password(char *out, size_t size);
/* 0, or -EINVAL with why in err[]. */
int auth_check_password(const struct auth *a, const char *pw, char *err,
			size_t err_size);

/* Check a login. 0: *ret is a new session. -EACCES: wrong user name or
 * password. -EAGAIN: too many failures for this user from this peer, or
 * from this peer; *retry_after says in how many seconds to try again.
 * peer names who tries; NULL for a peer trusted by its credentials, which
 * is never throttled. */
int auth_login(struct auth *a, const char *username, const char *password,
	       const char *peer, uint64_t now_ms, struct auth_session **ret,
	       unsigned *retry_after);
/* Only check the credentials, throttled the same way (session.login's
 * first half, when the desk must agree before a session exists). */
int auth_check_login(struct auth *a, const char *username,
		     const char *password, const char *peer, uint64_t now_ms,
		     unsigned *retry_after);
int auth_session_open(struct auth *a, const char *username, uint64_t now_ms,
		      struct auth_session **ret);

/* The live session with that token, its idle time restarted; NULL when
 * there is none or it has expired. */
struct auth_session *auth_session_find(struct auth *a, const char *token,
				       uint64_t now_ms);
/* The same without restarting its idle time (for checks that are not
 * requests, such as delivering an event). */
struct auth_session *auth_session_peek(struct auth *a, const char *token,
				       uint64_t now_ms);
void auth_session_end(struct auth *a, struct auth_session *s);
/* End every session of username (deleted, password reset). */
void auth_end_user(struct auth *a, const char *username);
/* End the sessions of username opened at or before before_ms (a logout
 * at another desk, which a later login must outlive); how many. */
unsigned auth_end_user_before(struct auth *a, const char *username,
			      uint64_t before_ms);
/* How many live sessions username has. */
unsigned auth_user_sessions(const struct auth *a, const char *username);
/* Reload every session's permissions and flags from the store, after a
 * change of users or profiles. A session whose user is gone ends. */
void auth_refresh(struct auth *a);

typedef void (auth_ended_h)(const char *username, void *arg);
/* End expired sessions, telling h about each. */
void auth_sweep(struct auth *a, uint64_t now_ms, auth_ended_h *h, void *arg);

const char *auth_session_token(const struct auth_session *s);
const char *auth_session_user(const struct auth_session *s);
const char *auth_session_display(const struct auth_session *s);
const char *auth_session_profile(const struct auth_session *s);
perm_set auth_session_perms(const struct auth_session *s);
bool auth_session_must_change(const struct auth_session *s);
uint64_t auth_session_expires(const struct auth_session *s);

/* Change the session user's password; old must match, checked and
 * throttled as a login from peer is. 0, -EACCES (old wrong), -EAGAIN
 * (throttled, *retry_after in s), -EINVAL (new refused; err[] says
 * why). */
int auth_change_password(struct auth *a, struct auth_session *s,
			 const char *old, const char *pw, const char *peer,
			 uint64_t now_ms, unsigned *retry_after, char *err,
			 size_t err_size);

/* The permissions of a profile in the store; -ENOENT. */
int auth_profile_perms(struct auth *a, const char *profile, perm_set *out);

#endif
