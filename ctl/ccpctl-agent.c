/* ccpctl-agent: the agent's commands: its state and its configuration. */
#include <stdlib.h>
#include <string.h>

#include "ccpctl-int.h"
#include "ccpctl-rpc.h"

void agent_print_line(const cJSON *agent)
{
	const char *state = json_str(agent, "state");
	const char *type = json_str(agent, "type");
	double since;

	fputs(state ? state : "?", stdout);
	if (type)
		printf(" (%s)", type);
	if (json_num(agent, "since", &since)) {
		char when[64];

		format_time(since, when, sizeof(when));
		printf(" since %s", when);
	}
}

void agent_show(const cJSON *agent)
{
	const char *state = json_str(agent, "state");
	const char *status = json_str(agent, "status");
	const char *next = json_str(agent, "next");

	agent_print_line(agent);
	putchar('\n');
	/* The chosen status only tells something when the system overrides it. */
	if (status && (!state || strcmp(status, state) != 0))
		printf("status: %s\n", status);
	if (next)
		printf("next: %s\n", next);
}

static void show_states(const cJSON *states)
{
	const cJSON *s;
	int width = 0;

	cJSON_ArrayForEach(s, states) {
		const char *name = json_str(s, "name");

		if (name && (int)strlen(name) > width)
			width = (int)strlen(name);
	}
	cJSON_ArrayForEach(s, states)
		printf("%-*s  %s\n", width, or_dash(json_str(s, "name")),
		       or_dash(json_str(s, "type")));
}

/* Nested objects become dotted keys so that every line stands alone for grep. */
static void print_flat(const cJSON *obj, const char *prefix)
{
	const cJSON *v;

	cJSON_ArrayForEach(v, obj) {
		char key[256];

		snprintf(key, sizeof(key), "%s%s", prefix, v->string ? v->string : "?");
		if (cJSON_IsObject(v) && v->child) {
			char sub[sizeof(key) + 1];

			snprintf(sub, sizeof(sub), "%s.", key);
			print_flat(v, sub);
			continue;
		}
		printf("%s: ", key);
		if (cJSON_IsString(v))
			fputs(v->valuestring, stdout);
		else if (cJSON_IsNumber(v))
			print_number(stdout, v->valuedouble);
		else if (cJSON_IsNull(v))
			fputs("-", stdout);
		else
			print_json_line(stdout, v);
		putchar('\n');
	}
}

static void show_config(const cJSON *config)
{
	print_flat(config, "");
}

/* agent.moveToDeskPhone: moved at once, or the desk phone rings to take
 * over a call */
static void show_move(const cJSON *res)
{
	const char *contact = json_str(res, "contactId");

	if (contact)
		printf("ringing the desk phone %s to take over %s\n",
		       or_dash(json_str(res, "extension")), contact);
	else
		printf("on the desk phone %s\n",
		       or_dash(json_str(res, "extension")));
}

/* config; config set softphone; config set deskphone EXTENSION;
 * config move-to-desk */
static int run_config(struct ctl *ctl, const struct command *cmd,
                      int argc, char **argv)
{
	cJSON *params;
	bool soft;

	(void)cmd;
	if (argc == 0)
		return ctl_call_and_show(ctl, "agent.getConfiguration", NULL,
		                         show_config);
	if (strcmp(argv[0], "move-to-desk") == 0 && argc == 1)
		return ctl_call_and_show(ctl, "agent.moveToDeskPhone", NULL,
		                         show_move);
	if (strcmp(argv[0], "set") != 0 || argc < 2)
		return usage_error("config: expected 'config', 'config set "
		                   "softphone', 'config set deskphone EXTENSION' "
		                   "or 'config move-to-desk'");
	soft = strcmp(argv[1], "softphone") == 0;
	if (!soft && strcmp(argv[1], "deskphone") != 0)
		return usage_error("config set: '%s' is neither softphone nor "
		                   "deskphone", argv[1]);
	if (!soft && argc != 3)
		return usage_error("config set deskphone needs the EXTENSION, "
		                   "an E.164 number");
	if (soft && argc != 2)
		return usage_error("config set softphone takes no more arguments");
	params = cJSON_CreateObject();
	if (!params || !cJSON_AddBoolToObject(params, "softphoneEnabled", soft) ||
	    (!soft && !cJSON_AddStringToObject(params, "extension", argv[2]))) {
		cJSON_Delete(params);
		return fail("out of memory");
	}
	return ctl_call_and_show(ctl, "agent.setConfiguration", params,
	                         show_config);
}

/* The bus's line, when it is on: its state, its server, what waits. */
static void print_bus(const cJSON *bus)
{
	double waiting = 0;

	json_num(bus, "waiting", &waiting);
	printf("bus: %s", or_dash(json_str(bus, "state")));
	if (json_str(bus, "server"))
		printf(" to %s", json_str(bus, "server"));
	printf(", %.0f waiting", waiting);
	if (json_str(bus, "error"))
		printf(" (%s)", json_str(bus, "error"));
	putchar('\n');
}

/* Answers of a method an older ccpd may lack, or NULL. */
static cJSON *quiet_call(struct ctl *ctl, const char *method)
{
	cJSON *res = NULL, *err = NULL;

	if (rpc_call(ctl->rpc, method, NULL, &res, &err) < 0)
		res = NULL;
	cJSON_Delete(err);
	return res;
}

/* The agent's state, and the instance's database when ccpd has one (its
 * state and the records waiting for it, from store.getStatus), and the
 * bus when it is on (bus.getStatus). A ccpd without the methods, or with
 * its own SQLite file and no bus, adds nothing. */
static int run_status(struct ctl *ctl, const struct command *cmd, int argc,
                      char **argv)
{
	cJSON *agent, *db, *bus;
	const char *summary;
	int q = ctl_call(ctl, "agent.getState", NULL, &agent);

	(void)cmd;
	(void)argc;
	(void)argv;
	if (!agent)
		return q;
	db = quiet_call(ctl, "store.getStatus");
	/* a desk's own SQLite file is not news: the output stays as it was */
	if (db && strcmp(or_dash(json_str(db, "backend")), "postgresql")) {
		cJSON_Delete(db);
		db = NULL;
	}
	bus = quiet_call(ctl, "bus.getStatus");
	if (bus && !cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(bus,
								  "enabled"))) {
		cJSON_Delete(bus);
		bus = NULL;
	}
	summary = json_str(db, "summary");
	if (ctl->json) {
		if (db)
			cJSON_AddItemToObject(agent, "database", db);
		if (bus)
			cJSON_AddItemToObject(agent, "bus", bus);
		show_json(agent);
	} else {
		agent_show(agent);
		if (summary)
			printf("database: %s\n", summary);
		if (bus)
			print_bus(bus);
		cJSON_Delete(db);
		cJSON_Delete(bus);
	}
	cJSON_Delete(agent);
	return EXIT_SUCCESS;
}

const struct command agent_state_commands[] = {
	{ "status", "", "show the agent state (and the instance's database and the bus, when ccpd has them)", 0, 0, .run = run_status },
	{ "states", "", "list the statuses the agent may choose", 0, 0, .method = "agent.listStates", .print = show_states },
	{ "set-state", "NAME", "choose a status (next one while on a contact)", 1, 1, .method = "agent.setState", .param = "state", .print = agent_show },
	{ "clear-next", "", "drop the status waiting for the end of a contact", 0, 0, .method = "agent.clearNextState", .print = agent_show },
	{ 0 },
};

/* The first row is the one that runs; the others are its help. */
const struct command agent_config_commands[] = {
	{ "config", "", "show the agent configuration", 0, 3, .run = run_config },
	{ "config", "set softphone|deskphone [EXTENSION]", "use the softphone, or the desk phone at EXTENSION (E.164)", 2, 3, .run = run_config },
	{ "config", "move-to-desk", "move to the desk phone, with the connected call", 1, 1, .run = run_config },
	{ 0 },
};
