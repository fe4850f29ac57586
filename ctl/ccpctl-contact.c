/* ccpctl-contact: the commands on contacts: dial, answer, hold, consult,
 * transfer, end; the live and past contacts; phone numbers. */
#include <ctype.h>
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

/* ---- phone numbers ------------------------------------------------------ */

static void show_phone(const cJSON *result)
{
	static const char *const keys[] = {
		"e164", "international", "national", "region", "type",
	};

	for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
		printf("%-14s %s\n", keys[i], or_dash(json_str(result, keys[i])));
}

static void show_formatted(const cJSON *result)
{
	puts(or_dash(json_str(result, "formatted")));
}

/* phone normalize NUMBER [REGION] | phone format NUMBER FORMAT [REGION] */
static int run_phone(struct ctl *ctl, const struct command *cmd,
                     int argc, char **argv)
{
	bool format = strcmp(argv[0], "format") == 0;
	int want = format ? 3 : 2;
	cJSON *params;
	char fmt[16];

	(void)cmd;
	if (!format && strcmp(argv[0], "normalize") != 0)
		return usage_error("phone: '%s' is neither normalize nor format",
		                   argv[0]);
	if (argc < want || argc > want + 1)
		return usage_error(format ? "phone format needs NUMBER FORMAT [REGION]"
		                          : "phone normalize needs NUMBER [REGION]");
	params = params_with_string("number", argv[1]);
	if (!params)
		return fail("out of memory");
	if (format) {
		size_t i;

		/* ccpd's names are upper case; e164 and national read as well */
		for (i = 0; argv[2][i] && i + 1 < sizeof(fmt); i++)
			fmt[i] = (char)toupper((unsigned char)argv[2][i]);
		fmt[i] = '\0';
		if (argv[2][i] || (strcmp(fmt, "E164") && strcmp(fmt, "INTERNATIONAL") &&
		    strcmp(fmt, "NATIONAL") && strcmp(fmt, "RFC3966"))) {
			cJSON_Delete(params);
			return usage_error("phone format: '%s' is not E164, "
			                   "INTERNATIONAL, NATIONAL or RFC3966", argv[2]);
		}
		cJSON_AddStringToObject(params, "format", fmt);
	}
	if (argc > want)
		cJSON_AddStringToObject(params, "region", argv[want]);
	return ctl_call_and_show(ctl, format ? "phone.format" : "phone.normalize",
	                         params, format ? show_formatted : show_phone);
}

/* ---- the table ---------------------------------------------------------- */

static void show_contact_id(const cJSON *result)
{
	puts(or_dash(json_str(result, "contactId")));
}

static const char *const states_incoming[] = { "incoming", NULL };
static const char *const states_live[] = { "connected", "connecting", NULL };
static const char *const states_done[] = { "ended", "error", NULL };
static const char *const states_connected[] = { "connected", NULL };

#define ACTION(states_, what_, done_) \
	(&(const struct contact_action){ states_, what_, done_ })

const struct command cmd_dial = {
	.name = "dial", .args = "ENDPOINT",
	.summary = "call a phone number or sip: URI; print the contact id",
	.min_args = 1, .max_args = 1,
	.method = "agent.connect",
	.param = "endpoint",
	.print = show_contact_id,
};
const struct command cmd_accept = {
	.name = "accept", .args = "[CONTACT]",
	.summary = "answer a ringing contact",
	.min_args = 0, .max_args = 1,
	.run = run_on_contact,
	.method = "contact.accept",
	.data = ACTION(states_incoming, "incoming", "accepting"),
};
const struct command cmd_reject = {
	.name = "reject", .args = "[CONTACT]",
	.summary = "refuse a ringing contact",
	.min_args = 0, .max_args = 1,
	.run = run_on_contact,
	.method = "contact.reject",
	.data = ACTION(states_incoming, "incoming", "rejecting"),
};
const struct command cmd_hangup = {
	.name = "hangup", .args = "[CONTACT]",
	.summary = "hang up, or cancel a dial",
	.min_args = 0, .max_args = 1,
	.run = run_on_contact,
	.method = "connection.destroy",
	.data = ACTION(states_live, "connected or connecting", "hanging up"),
};
const struct command cmd_clear = {
	.name = "clear", .args = "[CONTACT]",
	.summary = "end after-contact work or clear a failed call",
	.min_args = 0, .max_args = 1,
	.run = run_on_contact,
	.method = "contact.clear",
	.data = ACTION(states_done, "ended or failed", "cleared"),
};
const struct command cmd_hold = {
	.name = "hold", .args = "[CONTACT]",
	.summary = "put the party the agent talks to on hold",
	.min_args = 0, .max_args = 1,
	.run = run_on_contact,
	.method = "connection.hold",
	.data = ACTION(states_connected, "connected", "holding"),
};
const struct command cmd_resume = {
	.name = "resume", .args = "[CONTACT]",
	.summary = "take the held party off hold",
	.min_args = 0, .max_args = 1,
	.run = run_on_contact,
	.method = "connection.resume",
	.data = ACTION(states_connected, "connected", "resuming"),
};
const struct command cmd_digits = {
	.name = "digits", .args = "DIGITS [CONTACT]",
	.summary = "send DTMF digits (0-9 * # A-D)",
	.min_args = 1, .max_args = 2,
	.run = run_on_contact,
	.method = "connection.sendDigits",
	.param = "digits",
	.data = ACTION(states_connected, "connected", "sent digits on"),
};
const struct command cmd_consult = {
	.name = "consult", .args = "ENDPOINT [CONTACT]",
	.summary = "hold the customer and call a third party; print its connection id",
	.min_args = 1, .max_args = 2,
	.run = run_on_contact,
	.method = "contact.addConnection",
	.param = "endpoint",
	.data = ACTION(states_connected, "connected", "consulting on"),
};
const struct command cmd_swap = {
	.name = "swap", .args = "[CONTACT]",
	.summary = "talk to the held party, hold the other",
	.min_args = 0, .max_args = 1,
	.run = run_on_contact,
	.method = "contact.toggleActiveConnections",
	.data = ACTION(states_connected, "connected", "swapped"),
};
const struct command cmd_join = {
	.name = "join", .args = "[CONTACT]",
	.summary = "conference the agent, the customer and the third party",
	.min_args = 0, .max_args = 1,
	.run = run_on_contact,
	.method = "contact.conferenceConnections",
	.data = ACTION(states_connected, "connected", "joined"),
};
const struct command cmd_leave = {
	.name = "leave", .args = "[CONTACT]",
	.summary = "drop out, leaving the parties talking",
	.min_args = 0, .max_args = 1,
	.run = run_on_contact,
	.method = "connection.destroy",
	.data = ACTION(states_connected, "connected", "leaving"),
};
const struct command cmd_transfer = {
	.name = "transfer", .args = "ENDPOINT [CONTACT]",
	.summary = "blind-transfer the customer",
	.min_args = 1, .max_args = 2,
	.run = run_on_contact,
	.method = "contact.transfer",
	.param = "endpoint",
	.data = ACTION(states_connected, "connected", "transferring"),
};
const struct command cmd_contacts = {
	.name = "contacts", .args = "",
	.summary = "list the live contacts",
	.min_args = 0, .max_args = 0,
	.method = "contact.list",
	.print = show_contacts,
};
const struct command cmd_history = {
	.name = "history", .args = "[N]",
	.summary = "list the N most recent contacts, newest first",
	.min_args = 0, .max_args = 1,
	.run = run_history,
};
/* The first of the two is the one that runs; the other is its help. */
const struct command cmd_phone_normalize = {
	.name = "phone", .args = "normalize NUMBER [REGION]",
	.summary = "show a number in E.164 and other forms, its region and type",
	.min_args = 2, .max_args = 4,
	.run = run_phone,
};
const struct command cmd_phone_format = {
	.name = "phone", .args = "format NUMBER FORMAT [REGION]",
	.summary = "write a number as E164, INTERNATIONAL, NATIONAL or RFC3966",
	.min_args = 2, .max_args = 4,
	.run = run_phone,
};
