/* Permissions: a bit per name, the default security profiles, and the one
 * decision every method goes through. */
#include <errno.h>
#include <string.h>

#include "perms.h"

static const char *const names[PERM_COUNT] = {
	[PERM_CCP_USE] = "ccp.use",
	[PERM_OUTBOUND_CALL] = "outbound.call",
	[PERM_METRICS_VIEW] = "metrics.view",
	[PERM_METRICS_VIEW_ALL] = "metrics.viewAll",
	[PERM_USERS_VIEW] = "users.view",
	[PERM_USERS_MANAGE] = "users.manage",
	[PERM_PROFILES_MANAGE] = "profiles.manage",
	[PERM_STATUSES_MANAGE] = "statuses.manage",
	[PERM_NUMBERS_MANAGE] = "numbers.manage",
	[PERM_ORIGINS_MANAGE] = "origins.manage",
	[PERM_QUICK_CONNECTS_MANAGE] = "quickConnects.manage",
	[PERM_FLOOR_VIEW] = "floor.view",
};

const char *perm_name(enum perm p)
{
	return (unsigned)p < PERM_COUNT ? names[p] : "?";
}

int perm_find(const char *name)
{
	int i;

	for (i = 0; i < PERM_COUNT; i++)
		if (strcmp(names[i], name) == 0)
			return i;
	return -ENOENT;
}

int perms_parse(const char *const *list, size_t n, perm_set *out,
		const char **bad)
{
	perm_set set = 0;
	size_t i;

	for (i = 0; i < n; i++) {
		int p = perm_find(list[i]);

		if (p < 0) {
			if (bad)
				*bad = list[i];
			return -ENOENT;
		}
		set |= PERM_BIT(p);
	}
	*out = set;
	return 0;
}

static const struct perms_profile defaults[] = {
	{ "Agent", "Use the CCP and make outbound calls",
	  PERM_BIT(PERM_CCP_USE) | PERM_BIT(PERM_OUTBOUND_CALL) },
	{ "CallCenterManager", "An agent who also sees every agent's "
	  "metrics and the users",
	  PERM_BIT(PERM_CCP_USE) | PERM_BIT(PERM_OUTBOUND_CALL) |
	  PERM_BIT(PERM_METRICS_VIEW) | PERM_BIT(PERM_METRICS_VIEW_ALL) |
	  PERM_BIT(PERM_USERS_VIEW) },
	{ PERMS_ADMIN_PROFILE, "Everything", PERMS_ALL },
	{ "Supervisor", "An agent who also sees the whole floor live",
	  PERM_BIT(PERM_CCP_USE) | PERM_BIT(PERM_OUTBOUND_CALL) |
	  PERM_BIT(PERM_FLOOR_VIEW) },
};

const struct perms_profile *perms_defaults(size_t *n)
{
	*n = sizeof(defaults) / sizeof(defaults[0]);
	return defaults;
}

enum perms_verdict perms_check(const struct perms_who *who, int needed,
			       bool session_ok)
{
	if (needed == PERM_PUBLIC)
		return PERMS_OK;
	if (who->logged_in) {
		if (who->must_change && !session_ok)
			return PERMS_PASSWORD_CHANGE;
		if (needed < 0 || needed >= PERM_COUNT)
			return PERMS_FORBIDDEN;
		return who->set & PERM_BIT(needed) ? PERMS_OK
						   : PERMS_FORBIDDEN;
	}
	if (who->admin_peer)
		return PERMS_OK;
	return PERMS_LOGIN_REQUIRED;
}
