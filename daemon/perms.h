/* Permissions and security profiles: the names, the default profiles and
 * the decision whether a caller may run a method. Pure: no I/O. */
#ifndef CCPD_PERMS_H
#define CCPD_PERMS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum perm {
	PERM_CCP_USE,
	PERM_OUTBOUND_CALL,
	PERM_METRICS_VIEW,
	PERM_METRICS_VIEW_ALL,
	PERM_USERS_VIEW,
	PERM_USERS_MANAGE,
	PERM_PROFILES_MANAGE,
	PERM_STATUSES_MANAGE,
	PERM_NUMBERS_MANAGE,
	PERM_ORIGINS_MANAGE,
	PERM_QUICK_CONNECTS_MANAGE,
	PERM_FLOOR_VIEW,
};
#define PERM_COUNT 12
/* A method anyone may call, logged in or not. */
#define PERM_PUBLIC (-1)

typedef uint32_t perm_set;

#define PERM_BIT(p) ((perm_set)1 << (p))
#define PERMS_ALL (PERM_BIT(PERM_COUNT) - 1)

const char *perm_name(enum perm p);
/* The permission of that name, or -ENOENT. */
int perm_find(const char *name);

/* Parse names into a set; on an unknown name returns -ENOENT and points
 * *bad at it. */
int perms_parse(const char *const *names, size_t n, perm_set *out,
		const char **bad);

struct perms_profile {
	const char *name;
	const char *description;
	perm_set set;
};

/* Agent, CallCenterManager, Admin, Supervisor. */
const struct perms_profile *perms_defaults(size_t *n);
/* The profile that may never change or go: Admin. */
#define PERMS_ADMIN_PROFILE "Admin"

/* Who is calling. */
struct perms_who {
	bool admin_peer;        /* trusted by peer credentials, no session */
	bool logged_in;         /* has a live session */
	bool must_change;       /* the session's password is a one-time one */
	perm_set set;           /* the session's permissions */
};

enum perms_verdict {
	PERMS_OK,
	PERMS_LOGIN_REQUIRED,   /* -32001 */
	PERMS_PASSWORD_CHANGE,  /* -32001: only the password change may run */
	PERMS_FORBIDDEN,        /* -32002 naming the permission */
};

/* needed is an enum perm or PERM_PUBLIC; session_ok marks the methods
 * that a session with a one-time password may still call. */
enum perms_verdict perms_check(const struct perms_who *who, int needed,
			       bool session_ok);

#endif
