/* ccpctl-admin: the admin command: the tables of the instance (users,
 * profiles, statuses, numbers, origins, quick connects). */
#include <stdlib.h>
#include <string.h>

#include "ccpctl-int.h"

/* How each table of the instance is shown and addressed. */
struct admin_table {
	const char *word;       /* on the command line */
	const char *method;     /* admin.<method>.* */
	const char *key;        /* the key member */
	const char *cols[4];    /* shown by list, NULL-terminated */
};

static const struct admin_table admin_tables[] = {
	{ "users", "users", "username",
	  { "username", "profile", "displayName", NULL } },
	{ "profiles", "profiles", "name", { "name", "permissions", NULL } },
	{ "statuses", "statuses", "name", { "name", "type", NULL } },
	{ "numbers", "numbers", "number",
	  { "number", "username", "description", NULL } },
	{ "origins", "origins", "origin", { "origin", "description", NULL } },
	{ "quick-connects", "quickConnects", "name",
	  { "name", "endpoint", "description", NULL } },
};

static const struct admin_table *admin_shown;

/* A member as one word: strings as they are, arrays joined by commas. */
static void print_cell(const cJSON *v)
{
	const cJSON *e;
	const char *sep = "";

	if (cJSON_IsString(v)) {
		fputs(v->valuestring, stdout);
	} else if (cJSON_IsNumber(v)) {
		print_number(stdout, v->valuedouble);
	} else if (cJSON_IsArray(v)) {
		cJSON_ArrayForEach(e, v) {
			printf("%s%s", sep, cJSON_IsString(e) ? e->valuestring : "?");
			sep = ",";
		}
		if (!*sep)
			fputs("-", stdout);
	} else if (cJSON_IsBool(v)) {
		fputs(cJSON_IsTrue(v) ? "yes" : "no", stdout);
	} else {
		fputs("-", stdout);
	}
}

static void show_admin_list(const cJSON *list)
{
	const cJSON *row;

	cJSON_ArrayForEach(row, list) {
		for (int i = 0; admin_shown->cols[i]; i++) {
			if (i)
				fputs("  ", stdout);
			print_cell(cJSON_GetObjectItemCaseSensitive(
				row, admin_shown->cols[i]));
		}
		putchar('\n');
	}
}

static void show_created_user(const cJSON *r)
{
	const cJSON *user = cJSON_GetObjectItemCaseSensitive(r, "user");
	const char *otp = json_str(r, "oneTimePassword");

	printf("user %s (%s)\n", or_dash(json_str(user, "username")),
	       or_dash(json_str(user, "profile")));
	printf("CCP: %s\n", or_dash(json_str(r, "ccpUrl")));
	if (otp)
		printf("one-time password: %s (to be changed at the first "
		       "login)\n", otp);
}

static int run_admin(struct ctl *ctl, const struct command *cmd,
                     int argc, char **argv)
{
	const struct admin_table *t = NULL;
	const char *verb = argc > 1 ? argv[1] : "list";
	printer_fn show = show_pretty;
	char method[64];
	cJSON *params;
	size_t i;
	int need;

	(void)cmd;
	for (i = 0; i < sizeof(admin_tables) / sizeof(admin_tables[0]); i++)
		if (strcmp(admin_tables[i].word, argv[0]) == 0)
			t = &admin_tables[i];
	if (!t)
		return usage_error("admin: unknown table '%s' (users, profiles, "
		                   "statuses, numbers, origins, quick-connects)",
		                   argv[0]);
	admin_shown = t;
	params = cJSON_CreateObject();
	if (!params)
		return fail("out of memory");
	/* verb, the words it takes after the table, and the method */
	if (strcmp(verb, "list") == 0) {
		need = 0;
		snprintf(method, sizeof(method), "admin.%s.list", t->method);
		show = show_admin_list;
	} else if (strcmp(verb, "get") == 0) {
		need = 1;
		snprintf(method, sizeof(method), "admin.%s.get", t->method);
	} else if (strcmp(verb, "add") == 0) {
		need = strcmp(t->word, "quick-connects") == 0 ? 2 :
		       strcmp(t->word, "profiles") == 0 ? -1 : 1;
		snprintf(method, sizeof(method), "admin.%s.create", t->method);
	} else if (strcmp(verb, "set") == 0 || strcmp(verb, "rename") == 0) {
		need = strcmp(verb, "rename") == 0 ? 2 :
		       strcmp(t->word, "quick-connects") == 0 ? 2 :
		       strcmp(t->word, "profiles") == 0 ? -1 : 1;
		snprintf(method, sizeof(method), "admin.%s.update", t->method);
	} else if (strcmp(verb, "import-sip") == 0 &&
	           strcmp(t->word, "users") == 0) {
		cJSON_Delete(params);
		if (argc != 3)
			return usage_error("admin users import-sip FILE.csv");
		return sip_import(ctl, argv[2]);
	} else if (strcmp(verb, "del") == 0 || strcmp(verb, "delete") == 0) {
		need = 1;
		snprintf(method, sizeof(method), "admin.%s.delete", t->method);
		show = show_nothing;
	} else {
		cJSON_Delete(params);
		return usage_error("admin %s: unknown action '%s' (list, get, "
		                   "add, set, rename, del; users: import-sip)",
		                   t->word, verb);
	}
	/* -1: a key, then any number of words (a profile's permissions) */
	if ((need >= 0 && (argc > 1 ? argc - 2 : 0) != need) ||
	    (need < 0 && argc < 3)) {
		cJSON_Delete(params);
		return usage_error("admin %s %s: wrong number of arguments",
		                   t->word, verb);
	}
	if (argc > 2)
		cJSON_AddStringToObject(params, t->key, argv[2]);
	if (strcmp(verb, "rename") == 0)
		cJSON_AddStringToObject(params, strcmp(t->word, "origins") == 0 ?
		                        "newOrigin" : "newName", argv[3]);
	else if (strcmp(t->word, "quick-connects") == 0 && argc > 3)
		cJSON_AddStringToObject(params, "endpoint", argv[3]);
	if (strcmp(t->word, "profiles") == 0 && need < 0) {
		cJSON *perms = cJSON_AddArrayToObject(params, "permissions");

		for (int k = 3; k < argc; k++)
			cJSON_AddItemToArray(perms, cJSON_CreateString(argv[k]));
	}
	if (strcmp(t->word, "users") == 0 &&
	    (strcmp(verb, "add") == 0 || strcmp(verb, "set") == 0)) {
		if (strcmp(verb, "add") == 0)
			params_add_opt(params, "profile",
			               ctl->profile ? ctl->profile : "Agent");
		else
			params_add_opt(params, "profile", ctl->profile);
		params_add_opt(params, "displayName", ctl->display_name);
		params_add_opt(params, "password", ctl->password);
		if (ctl->reset_password)
			cJSON_AddBoolToObject(params, "resetPassword", true);
		need = sip_add_options(ctl, params);
		if (need) {
			cJSON_Delete(params);
			return need;
		}
		show = show_created_user;
	}
	if (strcmp(t->word, "numbers") == 0)
		params_add_opt(params, "username", ctl->user);
	if (strcmp(t->word, "numbers") == 0 || strcmp(t->word, "origins") == 0 ||
	    strcmp(t->word, "quick-connects") == 0 ||
	    strcmp(t->word, "profiles") == 0)
		params_add_opt(params, "description", ctl->description);
	return ctl_call_and_show(ctl, method, params, show);
}

const struct command admin_commands[] = {
	{ "admin", "TABLE [ACTION [ARGS]]", "manage users, profiles, statuses, numbers, origins, quick-connects", 1, 64, .run = run_admin },
	{ 0 },
};
