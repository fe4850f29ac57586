/* ccpctl-contact: the commands on contacts: dial, answer, hold, mute,
 * consult, transfer, end; quick connects; the live and past contacts. */
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "ccpctl-int.h"

const char *contact_customer(const cJSON *contact)
{
	const cJSON *customer = cJSON_GetObjectItemCaseSensitive(contact, "customer");
	const char *e164 = json_str(customer, "e164");

	return e164 ? e164 : or_dash(json_str(customer, "uri"));
}

const char *contact_end(const cJSON *contact, char *buf, size_t size)
{
	const char *reason = json_str(contact, "endReason");
	const char *cause = json_str(contact, "sipCause");

	if (!reason && !cause)
		return NULL;
	if (reason && cause)
		snprintf(buf, size, "%s (%s)", reason, cause);
	else
		snprintf(buf, size, "%s", reason ? reason : cause);
	return buf;
}

/* ---- listing contacts --------------------------------------------------- */

#define CONTACT_COLS 6

/* The columns of one contact; history adds its start and how it ended. */
struct contact_row {
	char time[32];
	char end[128];
	const char *col[CONTACT_COLS];
	int n;
};

static void contact_row_fill(struct contact_row *row, const cJSON *contact,
                             bool history)
{
	const cJSON *ts = cJSON_GetObjectItemCaseSensitive(contact, "timestamps");
	double initiated;

	row->n = 0;
	row->col[row->n++] = or_dash(json_str(contact, "contactId"));
	if (history) {
		if (json_num(ts, "initiated", &initiated))
			format_time(initiated, row->time, sizeof(row->time));
		else
			snprintf(row->time, sizeof(row->time), "-");
		row->col[row->n++] = row->time;
	}
	row->col[row->n++] = or_dash(json_str(contact, "direction"));
	row->col[row->n++] = or_dash(json_str(contact, "state"));
	row->col[row->n++] = contact_customer(contact);
	if (history)
		row->col[row->n++] = or_dash(contact_end(contact, row->end,
		                                         sizeof(row->end)));
}

/* One contact a line, the columns aligned; the last one is not padded. */
static void print_contact_table(const cJSON *contacts, bool history)
{
	struct contact_row row;
	const cJSON *c;
	int width[CONTACT_COLS] = { 0 };

	cJSON_ArrayForEach(c, contacts) {
		contact_row_fill(&row, c, history);
		for (int i = 0; i < row.n; i++)
			if ((int)strlen(row.col[i]) > width[i])
				width[i] = (int)strlen(row.col[i]);
	}

	cJSON_ArrayForEach(c, contacts) {
		contact_row_fill(&row, c, history);
		for (int i = 0; i < row.n - 1; i++)
			printf("%-*s  ", width[i], row.col[i]);
		printf("%s\n", row.col[row.n - 1]);
	}
}

static void show_contacts(const cJSON *contacts)
{
	print_contact_table(contacts, false);
}

static void show_history(const cJSON *contacts)
{
	print_contact_table(contacts, true);
}

static int run_history(struct ctl *ctl, const struct command *cmd,
                       int argc, char **argv)
{
	cJSON *params = NULL;
	long long limit;

	(void)cmd;
	if (argc > 0) {
		/* The upper bound (1000 today) is ccpd's to enforce. */
		if (parse_count(argv[0], 1, INT_MAX, &limit) < 0)
			return usage_error("history: '%s' is not a positive number",
			                   argv[0]);
		params = cJSON_CreateObject();
		if (!params || !cJSON_AddNumberToObject(params, "limit", (double)limit)) {
			cJSON_Delete(params);
			return fail("out of memory");
		}
	}
	return ctl_call_and_show(ctl, "contact.history", params, show_history);
}

/* ---- acting on one contact ---------------------------------------------- */

/* How an action on a contact finds one when none is named, and what it
 * says when it is done. */
struct contact_action {
	const char *const *states; /* NULL-terminated */
	const char *what;
	const char *done;
};

static bool contact_fits(const cJSON *contact,
                         const struct contact_action *action)
{
	const char *state = json_str(contact, "state");

	if (!state || !json_str(contact, "contactId"))
		return false;
	for (const char *const *s = action->states; *s; s++)
		if (strcmp(state, *s) == 0)
			return true;
	return false;
}

/* Finds the one live contact the action can apply to; refuses to guess. */
static int pick_contact(struct ctl *ctl, const struct contact_action *action,
                        char **ret_id)
{
	cJSON *contacts;
	const cJSON *c;
	const char *id = NULL;
	int n = 0, q;

	q = ctl_call(ctl, "contact.list", NULL, &contacts);
	if (!contacts)
		return q;
	if (!cJSON_IsArray(contacts)) {
		cJSON_Delete(contacts);
		return fail("%s: contact.list did not answer a list", ctl->socket);
	}

	cJSON_ArrayForEach(c, contacts) {
		if (!contact_fits(c, action))
			continue;
		if (n++ == 0)
			id = json_str(c, "contactId");
	}

	if (n == 0) {
		q = fail("no %s contact", action->what);
	} else if (n > 1) {
		const char *sep = "";

		fprintf(stderr, "ccpctl: %d %s contacts (", n, action->what);
		cJSON_ArrayForEach(c, contacts) {
			if (!contact_fits(c, action))
				continue;
			fprintf(stderr, "%s%s", sep, json_str(c, "contactId"));
			sep = ", ";
		}
		fputs("); name one\n", stderr);
		q = EXIT_FAILURE;
	} else {
		*ret_id = strdup(id);
		q = *ret_id ? EXIT_SUCCESS : fail("out of memory");
	}
	cJSON_Delete(contacts);
	return q;
}

/*
 * [CONTACT], or with a param (digits, consult, transfer) VALUE [CONTACT]:
 * calls the method on the named contact, or on the only one it fits.
 */
static int run_on_contact(struct ctl *ctl, const struct command *cmd,
                          int argc, char **argv)
{
	const struct contact_action *action = cmd->data;
	int at = cmd->param ? 1 : 0;
	char *picked = NULL;
	const char *id;
	cJSON *params, *result;
	int q;

	if (argc > at) {
		id = argv[at];
	} else {
		q = pick_contact(ctl, action, &picked);
		if (!picked)
			return q;
		id = picked;
	}
	params = params_with_string("contactId", id);
	if (!params ||
	    (cmd->param && !cJSON_AddStringToObject(params, cmd->param, argv[0]))) {
		cJSON_Delete(params);
		q = fail("out of memory");
		goto out;
	}
	q = ctl_call(ctl, cmd->method, params, &result);
	if (!result)
		goto out;
	if (ctl->json)
		show_json(result);
	else if (cmd->param && json_str(result, "connectionId"))
		/* consult: the new party's connection, for what follows */
		puts(json_str(result, "connectionId"));
	else
		printf("%s %s\n", action->done, id);
	cJSON_Delete(result);
out:
	free(picked);
	return q;
}

/* ---- the table ---------------------------------------------------------- */

static void show_contact_id(const cJSON *result)
{
	puts(or_dash(json_str(result, "contactId")));
}

static void show_endpoints(const cJSON *endpoints)
{
	const cJSON *e;

	cJSON_ArrayForEach(e, endpoints)
		printf("%-24s %s\n", or_dash(json_str(e, "name")),
		       or_dash(json_str(e, "endpoint")));
}

static const char *const states_incoming[] = { "incoming", NULL };
static const char *const states_live[] = { "connected", "connecting", NULL };
static const char *const states_done[] = { "ended", "error", NULL };
static const char *const states_connected[] = { "connected", NULL };

static const struct contact_action act_accept = { states_incoming, "incoming", "accepting" };
static const struct contact_action act_reject = { states_incoming, "incoming", "rejecting" };
static const struct contact_action act_hangup = { states_live, "connected or connecting", "hanging up" };
static const struct contact_action act_clear = { states_done, "ended or failed", "cleared" };
static const struct contact_action act_hold = { states_connected, "connected", "holding" };
static const struct contact_action act_resume = { states_connected, "connected", "resuming" };
static const struct contact_action act_digits = { states_connected, "connected", "sent digits on" };
static const struct contact_action act_consult = { states_connected, "connected", "consulting on" };
static const struct contact_action act_swap = { states_connected, "connected", "swapped" };
static const struct contact_action act_join = { states_connected, "connected", "joined" };
static const struct contact_action act_leave = { states_connected, "connected", "leaving" };
static const struct contact_action act_transfer = { states_connected, "connected", "transferring" };

/* Mute answers with the agent's state, as status shows it. */
const struct command contact_commands[] = {
	{ "dial", "ENDPOINT", "call a phone number or sip: URI; print the contact id", 1, 1, .method = "agent.connect", .param = "endpoint", .print = show_contact_id },
	{ "accept", "[CONTACT]", "answer a ringing contact", 0, 1, run_on_contact, "contact.accept", .data = &act_accept },
	{ "reject", "[CONTACT]", "refuse a ringing contact", 0, 1, run_on_contact, "contact.reject", .data = &act_reject },
	{ "hangup", "[CONTACT]", "hang up, or cancel a dial", 0, 1, run_on_contact, "connection.destroy", .data = &act_hangup },
	{ "clear", "[CONTACT]", "end after-contact work or clear a failed call", 0, 1, run_on_contact, "contact.clear", .data = &act_clear },
	{ "hold", "[CONTACT]", "put the party the agent talks to on hold", 0, 1, run_on_contact, "connection.hold", .data = &act_hold },
	{ "resume", "[CONTACT]", "take the held party off hold", 0, 1, run_on_contact, "connection.resume", .data = &act_resume },
	{ "mute", "", "mute the agent on every call", 0, 0, .method = "agent.mute", .print = agent_show },
	{ "unmute", "", "unmute the agent", 0, 0, .method = "agent.unmute", .print = agent_show },
	{ "digits", "DIGITS [CONTACT]", "send DTMF digits (0-9 * # A-D)", 1, 2, run_on_contact, "connection.sendDigits", "digits", .data = &act_digits },
	{ "consult", "ENDPOINT [CONTACT]", "hold the customer and call a third party; print its connection id", 1, 2, run_on_contact, "contact.addConnection", "endpoint", .data = &act_consult },
	{ "swap", "[CONTACT]", "talk to the held party, hold the other", 0, 1, run_on_contact, "contact.toggleActiveConnections", .data = &act_swap },
	{ "join", "[CONTACT]", "conference the agent, the customer and the third party", 0, 1, run_on_contact, "contact.conferenceConnections", .data = &act_join },
	{ "leave", "[CONTACT]", "drop out, leaving the parties talking", 0, 1, run_on_contact, "connection.destroy", .data = &act_leave },
	{ "transfer", "ENDPOINT [CONTACT]", "blind-transfer the customer", 1, 2, run_on_contact, "contact.transfer", "endpoint", .data = &act_transfer },
	{ "endpoints", "", "list the quick connects", 0, 0, .method = "agent.getEndpoints", .print = show_endpoints },
	{ "contacts", "", "list the live contacts", 0, 0, .method = "contact.list", .print = show_contacts },
	{ "history", "[N]", "list the N most recent contacts, newest first", 0, 1, .run = run_history },
	{ 0 },
};
