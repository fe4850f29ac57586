/* Unit tests for the permission checks: every permission against every
 * kind of caller (the three default profiles, a peer trusted by its
 * credentials, an anonymous peer, a session with a one-time password, a
 * profile without permissions), and the names. The expected matrix is
 * written here from the documented policy, not taken from perms.c. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "perms.h"
#include "tap.h"

enum who_kind { AGENT, MANAGER, ADMIN, PEER_ADMIN, ANON, ONE_TIME, EMPTY,
		WHO_COUNT };

static const char *const who_names[WHO_COUNT] = {
	"Agent", "CallCenterManager", "Admin", "root peer", "anonymous peer",
	"Agent with a one-time password", "empty profile",
};

#define O PERMS_OK
#define L PERMS_LOGIN_REQUIRED
#define F PERMS_FORBIDDEN
#define P PERMS_PASSWORD_CHANGE

/* rows: permissions (and PERM_PUBLIC last); columns: enum who_kind */
static const struct {
	int perm;
	enum perms_verdict v[WHO_COUNT];
} matrix[] = {
	{ PERM_CCP_USE,               { O, O, O, O, L, P, F } },
	{ PERM_OUTBOUND_CALL,         { O, O, O, O, L, P, F } },
	{ PERM_METRICS_VIEW,          { F, O, O, O, L, P, F } },
	{ PERM_METRICS_VIEW_ALL,      { F, O, O, O, L, P, F } },
	{ PERM_USERS_VIEW,            { F, O, O, O, L, P, F } },
	{ PERM_USERS_MANAGE,          { F, F, O, O, L, P, F } },
	{ PERM_PROFILES_MANAGE,       { F, F, O, O, L, P, F } },
	{ PERM_STATUSES_MANAGE,       { F, F, O, O, L, P, F } },
	{ PERM_NUMBERS_MANAGE,        { F, F, O, O, L, P, F } },
	{ PERM_ORIGINS_MANAGE,        { F, F, O, O, L, P, F } },
	{ PERM_QUICK_CONNECTS_MANAGE, { F, F, O, O, L, P, F } },
	{ PERM_FLOOR_VIEW,            { F, F, O, O, L, P, F } },
	{ PERM_PUBLIC,                { O, O, O, O, O, O, O } },
};

static const char *verdict_name(enum perms_verdict v)
{
	switch (v) {
	case PERMS_OK:              return "ok";
	case PERMS_LOGIN_REQUIRED:  return "login required";
	case PERMS_PASSWORD_CHANGE: return "password change";
	case PERMS_FORBIDDEN:       return "forbidden";
	}
	return "?";
}

static perm_set profile(const char *name)
{
	const struct perms_profile *p;
	size_t n, i;

	p = perms_defaults(&n);
	for (i = 0; i < n; i++)
		if (strcmp(p[i].name, name) == 0)
			return p[i].set;
	return 0;
}

static struct perms_who who_of(enum who_kind k)
{
	struct perms_who w = { 0 };

	switch (k) {
	case AGENT:
		w.logged_in = true;
		w.set = profile("Agent");
		break;
	case MANAGER:
		w.logged_in = true;
		w.set = profile("CallCenterManager");
		break;
	case ADMIN:
		w.logged_in = true;
		w.set = profile("Admin");
		break;
	case PEER_ADMIN:
		w.admin_peer = true;
		break;
	case ANON:
		break;
	case ONE_TIME:
		w.logged_in = true;
		w.must_change = true;
		w.set = profile("Agent");
		break;
	case EMPTY:
		w.logged_in = true;
		break;
	case WHO_COUNT:
		break;
	}
	return w;
}

static void test_matrix_row(size_t i)
{
	struct tap_case c = { 0 };
	char name[128];
	int k;

	for (k = 0; k < WHO_COUNT; k++) {
		struct perms_who w = who_of((enum who_kind)k);
		enum perms_verdict got = perms_check(&w, matrix[i].perm,
						     false);

		if (got != matrix[i].v[k])
			tap_fail(&c, "%s: got %s, expected %s\n", who_names[k],
				 verdict_name(got),
				 verdict_name(matrix[i].v[k]));
	}
	snprintf(name, sizeof(name), "check: %s",
		 matrix[i].perm == PERM_PUBLIC ? "a public method" :
		 perm_name((enum perm)matrix[i].perm));
	tap_report(name, &c);
}

/* A logged-in session acts as its user even on a trusted peer: rpc.c
 * never sets both, and a session's set decides. */
static void test_session_wins(void)
{
	struct tap_case c = { 0 };
	struct perms_who w = { .admin_peer = false, .logged_in = true,
			       .set = profile("Agent") };

	if (perms_check(&w, PERM_USERS_MANAGE, false) != PERMS_FORBIDDEN)
		tap_fail(&c, "an Agent session may manage users\n");
	w.admin_peer = true;
	if (perms_check(&w, PERM_USERS_MANAGE, false) != PERMS_FORBIDDEN)
		tap_fail(&c, "a session on a root peer gained the peer's "
			 "rights\n");
	w.must_change = true;
	if (perms_check(&w, PERM_CCP_USE, true) != PERMS_OK)
		tap_fail(&c, "a method allowed before the change was "
			 "refused\n");
	tap_report("a session's permissions decide, not the peer's", &c);
}

static void test_names(void)
{
	struct tap_case c = { 0 };
	const char *list[] = { "ccp.use", "metrics.viewAll" };
	const char *bad_list[] = { "ccp.use", "ccp.fly" };
	const char *bad = NULL;
	perm_set set = 0;
	int i;

	for (i = 0; i < PERM_COUNT; i++) {
		const char *n = perm_name((enum perm)i);

		if (!n || !strchr(n, '.'))
			tap_fail(&c, "permission %d has no dotted name\n", i);
		else if (perm_find(n) != i)
			tap_fail(&c, "perm_find(%s) = %d\n", n, perm_find(n));
	}
	if (perm_find("users.Manage") != -ENOENT)
		tap_fail(&c, "names are case-sensitive\n");
	if (perms_parse(list, 2, &set, &bad) != 0 ||
	    set != (PERM_BIT(PERM_CCP_USE) | PERM_BIT(PERM_METRICS_VIEW_ALL)))
		tap_fail(&c, "parse of two names: %#x\n", (unsigned)set);
	if (perms_parse(bad_list, 2, &set, &bad) != -ENOENT || !bad ||
	    strcmp(bad, "ccp.fly") != 0)
		tap_fail(&c, "an unknown name is not reported\n");
	tap_report("permission names", &c);
}

static void test_defaults(void)
{
	struct tap_case c = { 0 };
	const struct perms_profile *p;
	size_t n;

	p = perms_defaults(&n);
	if (n != 4 || strcmp(p[0].name, "Agent") ||
	    strcmp(p[1].name, "CallCenterManager") ||
	    strcmp(p[2].name, PERMS_ADMIN_PROFILE) ||
	    strcmp(p[3].name, "Supervisor"))
		tap_fail(&c, "the defaults are not Agent, "
			 "CallCenterManager, Admin, Supervisor\n");
	else if (p[3].set != (p[0].set | PERM_BIT(PERM_FLOOR_VIEW)))
		tap_fail(&c, "Supervisor is not an agent who views the "
			 "floor\n");
	else if (p[0].set != (PERM_BIT(PERM_CCP_USE) |
			      PERM_BIT(PERM_OUTBOUND_CALL)))
		tap_fail(&c, "Agent is more than ccp.use and outbound.call\n");
	else if ((p[1].set & p[0].set) != p[0].set)
		tap_fail(&c, "a manager cannot do what an agent does\n");
	else if (p[2].set != PERMS_ALL)
		tap_fail(&c, "Admin lacks a permission\n");
	tap_report("default profiles", &c);
}

int main(void)
{
	size_t i;

	tap_plan((unsigned)ARRAY_SIZE(matrix) + 3);
	for (i = 0; i < ARRAY_SIZE(matrix); i++)
		test_matrix_row(i);
	test_session_wins();
	test_names();
	test_defaults();
	return tap_exit();
}
