/* ccpctl: the command line of ccpd: options, commands and their output. */
/* The top-level build defines it too; guarded so the two agree. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif

#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "ccpctl-rpc.h"
#include "ccpd-protocol.h"

#ifndef CCPCTL_VERSION
#define CCPCTL_VERSION "unknown"
#endif

#define EXIT_USAGE 2

#define DEFAULT_SOCKET "/run/ccpd/ccpd.sock"
#define DEFAULT_TIMEOUT_MS 5000
/* Keeps the milliseconds within an int and catches a misplaced argument. */
#define MAX_TIMEOUT_S 86400

struct ctl {
	const char *socket;
	bool json;
	int timeout_ms;
	long long since; /* -1: not given */
	/* a session to act in (--token or $CCPD_TOKEN) */
	const char *token;
	/* options of admin, metrics and login */
	const char *profile;
	const char *display_name;
	const char *password;
	const char *user;
	const char *description;
	const char *agent;
	const char *from;
	const char *to;
	bool reset_password;
	bool prometheus;
	struct rpc *rpc;
	/* Set by watch: the mask its waits run under, its signals blocked
	 * everywhere else. */
	const sigset_t *sigmask;
	sigset_t orig_mask;
};

struct command;
typedef int (*command_fn)(struct ctl *ctl, const struct command *cmd,
                          int argc, char **argv);

struct command {
	const char *name;
	const char *args;
	const char *summary;
	int min_args;
	int max_args;
	command_fn run;
	const void *data;
};

/* What accept, reject, hangup and clear need to find and name a contact. */
struct contact_action {
	const char *method;
	const char *const *states; /* NULL-terminated */
	const char *what;
	const char *done;
};

static volatile sig_atomic_t stop_signal;

static int usage_error(const char *fmt, ...)
	__attribute__((format(printf, 1, 2)));
static int fail(const char *fmt, ...)
	__attribute__((format(printf, 1, 2)));

static int usage_error(const char *fmt, ...)
{
	va_list ap;

	fputs("ccpctl: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputs("\nTry 'ccpctl --help'.\n", stderr);
	return EXIT_USAGE;
}

static int fail(const char *fmt, ...)
{
	va_list ap;

	fputs("ccpctl: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	return EXIT_FAILURE;
}

/* ---- reading answers ---------------------------------------------------- */

static const char *json_str(const cJSON *obj, const char *key)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);

	return cJSON_IsString(v) ? v->valuestring : NULL;
}

static bool json_num(const cJSON *obj, const char *key, double *ret)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);

	if (!cJSON_IsNumber(v))
		return false;
	*ret = v->valuedouble;
	return true;
}

static const char *or_dash(const char *s)
{
	return s ? s : "-";
}

static void print_number(FILE *f, double v)
{
	/* Counters and timestamps are integers; %g would turn them into 1e+12. */
	if (v > -9007199254740992.0 && v < 9007199254740992.0 &&
	    v == (double)(long long)v)
		fprintf(f, "%lld", (long long)v);
	else
		fprintf(f, "%g", v);
}

static void print_json_line(FILE *f, const cJSON *v)
{
	char *text = cJSON_PrintUnformatted(v);

	if (!text) {
		fail("out of memory");
		return;
	}
	fprintf(f, "%s", text);
	cJSON_free(text);
}

/* Today's times show as 12:03:04, older ones with their date. */
static void format_time(double ms, char *buf, size_t size)
{
	time_t t = (time_t)(ms / 1000), now = time(NULL);
	struct tm tm, today;

	if (!localtime_r(&t, &tm) || !localtime_r(&now, &today)) {
		snprintf(buf, size, "?");
		return;
	}
	if (tm.tm_year == today.tm_year && tm.tm_yday == today.tm_yday)
		strftime(buf, size, "%H:%M:%S", &tm);
	else
		strftime(buf, size, "%Y-%m-%d %H:%M:%S", &tm);
}

/* ---- talking to ccpd ---------------------------------------------------- */

static int report_rpc_failure(const struct ctl *ctl, int q)
{
	switch (q) {
	case -EINTR:
		/* Only watch blocks signals and lets them through here; being
		 * stopped is how it is meant to end. */
		return EXIT_SUCCESS;
	case -ETIMEDOUT:
		return fail("no answer from %s within %g s", ctl->socket,
		            ctl->timeout_ms / 1000.0);
	case -ECONNRESET:
		return fail("%s: ccpd closed the connection", ctl->socket);
	case -EBADMSG:
		return fail("%s: ccpd sent a line that is not a JSON-RPC answer",
		            ctl->socket);
	case -EMSGSIZE:
		return fail("%s: ccpd sent a line longer than %u bytes",
		            ctl->socket, RPC_LINE_MAX);
	default:
		return fail("%s: %s", ctl->socket, strerror(-q));
	}
}

static void print_error(const cJSON *error)
{
	const char *message = json_str(error, "message");
	const char *reason = json_str(cJSON_GetObjectItemCaseSensitive(error, "data"),
	                              "reason");
	double code;

	if (!message) {
		fputs("ccpctl: error", stderr);
		if (json_num(error, "code", &code)) {
			fputc(' ', stderr);
			print_number(stderr, code);
		}
	} else {
		fprintf(stderr, "ccpctl: %s", message);
	}
	if (reason)
		fprintf(stderr, ": %s", reason);
	fputc('\n', stderr);
}

static cJSON *params_with_string(const char *key, const char *value);

/*
 * Connects on first use, so that usage errors are found without a daemon.
 * Returns the exit status; *ret_result is set only on success, so a caller
 * that finds it NULL returns the status as it is.
 */
static int ctl_call(struct ctl *ctl, const char *method, cJSON *params,
                    cJSON **ret_result)
{
	cJSON *result = NULL, *error = NULL;
	int q;

	*ret_result = NULL;

	if (!ctl->rpc) {
		q = rpc_new(&ctl->rpc, ctl->socket, ctl->timeout_ms);
		if (q < 0) {
			cJSON_Delete(params);
			return fail("cannot connect to %s: %s", ctl->socket,
			            strerror(-q));
		}
		if (ctl->sigmask)
			rpc_set_sigmask(ctl->rpc, ctl->sigmask);
		/* a new connection acts in the session it is given */
		if (ctl->token && *ctl->token) {
			cJSON *p = params_with_string("token", ctl->token);

			q = rpc_call(ctl->rpc, "session.resume", p, &result,
			             &error);
			if (q < 0) {
				cJSON_Delete(params);
				return report_rpc_failure(ctl, q);
			}
			cJSON_Delete(result);
			result = NULL;
			if (error) {
				print_error(error);
				cJSON_Delete(error);
				cJSON_Delete(params);
				return EXIT_FAILURE;
			}
		}
	}

	q = rpc_call(ctl->rpc, method, params, &result, &error);
	if (q < 0)
		return report_rpc_failure(ctl, q);
	if (error) {
		print_error(error);
		cJSON_Delete(error);
		return EXIT_FAILURE;
	}
	*ret_result = result;
	return EXIT_SUCCESS;
}

static cJSON *params_with_string(const char *key, const char *value)
{
	cJSON *params = cJSON_CreateObject();

	if (params && !cJSON_AddStringToObject(params, key, value))
		params = (cJSON_Delete(params), NULL);
	return params;
}

/* Calls a method and shows its result: raw with --json, else through show. */
static int call_and_show(struct ctl *ctl, const char *method, cJSON *params,
                         void (*show)(const cJSON *result))
{
	cJSON *result;
	int q;

	q = ctl_call(ctl, method, params, &result);
	if (!result)
		return q;
	if (ctl->json) {
		print_json_line(stdout, result);
		putchar('\n');
	} else {
		show(result);
	}
	cJSON_Delete(result);
	return EXIT_SUCCESS;
}

/* ---- human output ------------------------------------------------------- */

/* "Busy (system) since 12:03:04", without a newline. */
static void print_agent_line(const cJSON *agent)
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

static void show_agent(const cJSON *agent)
{
	const char *state = json_str(agent, "state");
	const char *status = json_str(agent, "status");
	const char *next = json_str(agent, "next");

	print_agent_line(agent);
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

static const char *contact_customer(const cJSON *contact)
{
	const cJSON *customer = cJSON_GetObjectItemCaseSensitive(contact, "customer");
	const char *e164 = json_str(customer, "e164");

	return e164 ? e164 : or_dash(json_str(customer, "uri"));
}

/* "failed (486 Busy Here)", or NULL while the contact has not ended. */
static const char *contact_end(const cJSON *contact, char *buf, size_t size)
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

/* "up, pid 1234, 2 restarts", without a newline. */
static void print_media_line(const cJSON *media)
{
	double pid, restarts;

	fputs(or_dash(json_str(media, "state")), stdout);
	if (json_num(media, "pid", &pid)) {
		fputs(", pid ", stdout);
		print_number(stdout, pid);
	}
	if (json_num(media, "restarts", &restarts)) {
		fputs(", ", stdout);
		print_number(stdout, restarts);
		fputs(restarts == 1 ? " restart" : " restarts", stdout);
	}
}

static void show_media(const cJSON *media)
{
	const cJSON *last = cJSON_GetObjectItemCaseSensitive(media, "lastExit");

	print_media_line(media);
	putchar('\n');
	if (last && !cJSON_IsNull(last)) {
		/* The protocol leaves its shape open; a string reads best. */
		fputs("last exit: ", stdout);
		if (cJSON_IsString(last))
			fputs(last->valuestring, stdout);
		else
			print_json_line(stdout, last);
		putchar('\n');
	}
}

/* "registered (registrar) sip:1001@pbx.example.com", without a newline. */
static void print_registration_line(const cJSON *reg)
{
	const char *mode = json_str(reg, "mode");
	const char *aor = json_str(reg, "aor");

	fputs(or_dash(json_str(reg, "state")), stdout);
	if (mode)
		printf(" (%s)", mode);
	if (aor)
		printf(" %s", aor);
}

static void show_registration(const cJSON *reg)
{
	const char *reason = json_str(reg, "reason");

	print_registration_line(reg);
	putchar('\n');
	if (reason)
		printf("reason: %s\n", reason);
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

static void show_version(const cJSON *version)
{
	double protocol;
	bool has_protocol = json_num(version, "protocol", &protocol);

	printf("%s %s", or_dash(json_str(version, "name")),
	       or_dash(json_str(version, "version")));
	if (has_protocol) {
		fputs(" (protocol ", stdout);
		print_number(stdout, protocol);
		putchar(')');
	}
	putchar('\n');
	/* Not an error: most methods survive a protocol bump unchanged. */
	if (has_protocol && protocol != CCPD_PROTOCOL_VERSION)
		fprintf(stderr, "ccpctl: warning: ccpctl was written for protocol %d\n",
		        CCPD_PROTOCOL_VERSION);
}

static void print_json_string(const char *s)
{
	putchar('"');
	for (; *s; s++) {
		unsigned char ch = (unsigned char)*s;

		if (ch == '"' || ch == '\\')
			printf("\\%c", ch);
		else if (ch < 0x20)
			printf("\\u%04x", ch);
		else
			putchar(ch);
	}
	putchar('"');
}

/* Two-space indentation: cJSON_Print's tabs after every colon read poorly. */
static void print_pretty(const cJSON *v, int indent)
{
	bool object = cJSON_IsObject(v);
	const cJSON *item;

	if ((!object && !cJSON_IsArray(v)) || !v->child) {
		print_json_line(stdout, v);
		return;
	}
	putchar(object ? '{' : '[');
	cJSON_ArrayForEach(item, v) {
		printf("\n%*s", indent + 2, "");
		if (object) {
			print_json_string(item->string ? item->string : "");
			fputs(": ", stdout);
		}
		print_pretty(item, indent + 2);
		if (item->next)
			putchar(',');
	}
	printf("\n%*s%c", indent, "", object ? '}' : ']');
}

static void show_pretty(const cJSON *result)
{
	print_pretty(result, 0);
	putchar('\n');
}

/* ---- commands ----------------------------------------------------------- */

static int cmd_status(struct ctl *ctl, const struct command *cmd,
                      int argc, char **argv)
{
	(void)cmd; (void)argc; (void)argv;
	return call_and_show(ctl, "agent.getState", NULL, show_agent);
}

static int cmd_states(struct ctl *ctl, const struct command *cmd,
                      int argc, char **argv)
{
	(void)cmd; (void)argc; (void)argv;
	return call_and_show(ctl, "agent.listStates", NULL, show_states);
}

static int cmd_set_state(struct ctl *ctl, const struct command *cmd,
                         int argc, char **argv)
{
	cJSON *params = params_with_string("state", argv[0]);

	(void)cmd; (void)argc;
	if (!params)
		return fail("out of memory");
	return call_and_show(ctl, "agent.setState", params, show_agent);
}

static int cmd_clear_next(struct ctl *ctl, const struct command *cmd,
                          int argc, char **argv)
{
	(void)cmd; (void)argc; (void)argv;
	return call_and_show(ctl, "agent.clearNextState", NULL, show_agent);
}

static void show_contact_id(const cJSON *result)
{
	puts(or_dash(json_str(result, "contactId")));
}

static int cmd_dial(struct ctl *ctl, const struct command *cmd,
                    int argc, char **argv)
{
	cJSON *params = params_with_string("endpoint", argv[0]);

	(void)cmd; (void)argc;
	if (!params)
		return fail("out of memory");
	return call_and_show(ctl, "agent.connect", params, show_contact_id);
}

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
static int cmd_phone(struct ctl *ctl, const struct command *cmd,
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
	return call_and_show(ctl, format ? "phone.format" : "phone.normalize",
	                     params, format ? show_formatted : show_phone);
}

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

static int cmd_contact_action(struct ctl *ctl, const struct command *cmd,
                              int argc, char **argv)
{
	const struct contact_action *action = cmd->data;
	char *picked = NULL;
	const char *id;
	cJSON *params, *result;
	int q;

	if (argc > 0) {
		id = argv[0];
	} else {
		q = pick_contact(ctl, action, &picked);
		if (!picked)
			return q;
		id = picked;
	}

	params = params_with_string("contactId", id);
	if (!params) {
		q = fail("out of memory");
		goto out;
	}
	q = ctl_call(ctl, action->method, params, &result);
	if (!result)
		goto out;
	if (ctl->json) {
		print_json_line(stdout, result);
		putchar('\n');
	} else {
		printf("%s %s\n", action->done, id);
	}
	cJSON_Delete(result);

out:
	free(picked);
	return q;
}

/* What digits, consult and transfer send along with the contact. */
struct contact_param {
	const char *method;
	const char *key;
	const char *done;
};

static const char *const states_connected[] = { "connected", NULL };
static const struct contact_action action_connected = {
	NULL, states_connected, "connected", NULL,
};

static int cmd_contact_param(struct ctl *ctl, const struct command *cmd,
                             int argc, char **argv)
{
	const struct contact_param *cp = cmd->data;
	char *picked = NULL;
	const char *id;
	cJSON *params, *result;
	int q;

	if (argc > 1) {
		id = argv[1];
	} else {
		q = pick_contact(ctl, &action_connected, &picked);
		if (!picked)
			return q;
		id = picked;
	}
	params = params_with_string("contactId", id);
	if (!params || !cJSON_AddStringToObject(params, cp->key, argv[0])) {
		cJSON_Delete(params);
		q = fail("out of memory");
		goto out;
	}
	q = ctl_call(ctl, cp->method, params, &result);
	if (!result)
		goto out;
	if (ctl->json) {
		print_json_line(stdout, result);
		putchar('\n');
	} else if (json_str(result, "connectionId")) {
		puts(json_str(result, "connectionId"));
	} else {
		printf("%s %s\n", cp->done, id);
	}
	cJSON_Delete(result);
out:
	free(picked);
	return q;
}

static int cmd_mute(struct ctl *ctl, const struct command *cmd,
                    int argc, char **argv)
{
	(void)argc; (void)argv;
	return call_and_show(ctl, cmd->data, NULL, show_agent);
}

static int cmd_call_simple(struct ctl *ctl, const struct command *cmd,
                           int argc, char **argv);

static int cmd_contacts(struct ctl *ctl, const struct command *cmd,
                        int argc, char **argv)
{
	(void)cmd; (void)argc; (void)argv;
	return call_and_show(ctl, "contact.list", NULL, show_contacts);
}

static int parse_count(const char *s, long long min, long long max,
                       long long *ret)
{
	char *end;
	long long v;

	/* strtoll would also take leading blanks and a sign: " 5" and "+5"
	 * are as malformed as "5 ". */
	if (!isdigit((unsigned char)*s))
		return -EINVAL;
	errno = 0;
	v = strtoll(s, &end, 10);
	if (errno || end == s || *end || v < min || v > max)
		return -EINVAL;
	*ret = v;
	return 0;
}

static int cmd_history(struct ctl *ctl, const struct command *cmd,
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
	return call_and_show(ctl, "contact.history", params, show_history);
}

static int cmd_media(struct ctl *ctl, const struct command *cmd,
                     int argc, char **argv)
{
	(void)cmd; (void)argc; (void)argv;
	return call_and_show(ctl, "media.getStatus", NULL, show_media);
}

static int cmd_registration(struct ctl *ctl, const struct command *cmd,
                            int argc, char **argv)
{
	(void)cmd; (void)argc; (void)argv;
	return call_and_show(ctl, "registration.getStatus", NULL, show_registration);
}

/* network check: starts network.check and waits for its network.checkDone
 * (ccpd bounds every item, so the wait ends), then prints one row per
 * item. The exit status says whether an item failed. */
static int cmd_network(struct ctl *ctl, const struct command *cmd,
                       int argc, char **argv)
{
	cJSON *subscribed, *started, *event = NULL;
	const cJSON *data = NULL, *item;
	char id[64];
	bool ok;
	int q;

	(void)cmd; (void)argc;
	if (strcmp(argv[0], "check") != 0)
		return usage_error("network: '%s' is not check", argv[0]);
	q = ctl_call(ctl, "events.subscribe", NULL, &subscribed);
	if (!subscribed)
		return q;
	cJSON_Delete(subscribed);
	q = ctl_call(ctl, "network.check", NULL, &started);
	if (!started)
		return q;
	snprintf(id, sizeof(id), "%s", or_dash(json_str(started, "checkId")));
	cJSON_Delete(started);

	for (;;) {
		q = rpc_next_event(ctl->rpc, &event);
		if (q < 0)
			return report_rpc_failure(ctl, q);
		data = cJSON_GetObjectItemCaseSensitive(event, "data");
		if (strcmp(or_dash(json_str(event, "type")),
		           "network.checkDone") == 0 &&
		    strcmp(or_dash(json_str(data, "checkId")), id) == 0)
			break;
		cJSON_Delete(event);
	}

	ok = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(data, "ok"));
	if (ctl->json) {
		print_json_line(stdout, data);
		putchar('\n');
	} else {
		printf("%-5s %-7s %6s  %s\n", "ITEM", "RESULT", "MS", "DETAIL");
		cJSON_ArrayForEach(item,
		                   cJSON_GetObjectItemCaseSensitive(data, "items")) {
			const cJSON *ms = cJSON_GetObjectItemCaseSensitive(item, "ms");
			const char *res = "failed";

			if (cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(item, "skipped")))
				res = "skipped";
			else if (cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(item, "ok")))
				res = "ok";
			printf("%-5s %-7s %6.0f  %s\n", or_dash(json_str(item, "name")),
			       res, cJSON_IsNumber(ms) ? ms->valuedouble : 0.0,
			       or_dash(json_str(item, "detail")));
		}
	}
	cJSON_Delete(event);
	return ok ? EXIT_SUCCESS : EXIT_FAILURE;
}

/* audio devices: the ALSA devices, then the chosen and active ones */
static void show_audio_devices(const cJSON *res)
{
	static const char *const roles[] = { "microphone", "speaker",
					     "ringer" };
	const cJSON *chosen = cJSON_GetObjectItemCaseSensitive(res, "chosen");
	const cJSON *active = cJSON_GetObjectItemCaseSensitive(res, "active");
	const cJSON *dev;
	size_t i;

	if (!cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(res, "soundCard")))
		printf("no sound card\n");
	printf("%-20s %-9s %s\n", "DEVICE", "DIRECTION", "DESCRIPTION");
	cJSON_ArrayForEach(dev, cJSON_GetObjectItemCaseSensitive(res,
								 "devices"))
		printf("%-20s %-9s %s\n", or_dash(json_str(dev, "id")),
		       or_dash(json_str(dev, "direction")),
		       or_dash(json_str(dev, "description")));
	for (i = 0; i < sizeof(roles) / sizeof(roles[0]); i++)
		printf("%-10s chosen %s, active %s\n", roles[i],
		       json_str(chosen, roles[i]) ? json_str(chosen, roles[i]) :
		       "default", json_str(active, roles[i]) ?
		       json_str(active, roles[i]) : "default");
}

/* audio devices; audio set ROLE=DEVICE...; audio test */
static int cmd_audio(struct ctl *ctl, const struct command *cmd,
                     int argc, char **argv)
{
	cJSON *params, *got, *event = NULL;
	const cJSON *data = NULL, *lv;
	bool ok;
	int i, q;

	(void)cmd;
	if (strcmp(argv[0], "devices") == 0) {
		if (argc != 1)
			return usage_error("audio devices takes no argument");
		return call_and_show(ctl, "audio.listDevices", NULL,
				     show_audio_devices);
	}
	if (strcmp(argv[0], "set") == 0) {
		if (argc < 2)
			return usage_error("audio set: give ROLE=DEVICE");
		params = cJSON_CreateObject();
		if (!params)
			return fail("out of memory");
		for (i = 1; i < argc; i++) {
			char *eq = strchr(argv[i], '=');

			if (!eq || eq == argv[i] || !eq[1] ||
			    (strncmp(argv[i], "microphone=", 11) != 0 &&
			     strncmp(argv[i], "speaker=", 8) != 0 &&
			     strncmp(argv[i], "ringer=", 7) != 0)) {
				cJSON_Delete(params);
				return usage_error("audio set: '%s' is not "
						   "microphone=, speaker= or "
						   "ringer=DEVICE", argv[i]);
			}
			*eq = '\0';
			cJSON_DeleteItemFromObjectCaseSensitive(params,
								argv[i]);
			if (!cJSON_AddStringToObject(params, argv[i], eq + 1)) {
				cJSON_Delete(params);
				return fail("out of memory");
			}
		}
		return call_and_show(ctl, "audio.setDevices", params,
				     show_audio_devices);
	}
	if (strcmp(argv[0], "test") != 0 || argc != 1)
		return usage_error("audio: '%s' is not devices, set or test",
				   argv[0]);
	q = ctl_call(ctl, "events.subscribe", NULL, &got);
	if (!got)
		return q;
	cJSON_Delete(got);
	q = ctl_call(ctl, "audio.test", NULL, &got);
	if (!got)
		return q;
	cJSON_Delete(got);
	for (;;) {
		q = rpc_next_event(ctl->rpc, &event);
		if (q < 0)
			return report_rpc_failure(ctl, q);
		if (strcmp(or_dash(json_str(event, "type")),
		           "audio.testResult") == 0)
			break;
		cJSON_Delete(event);
	}
	data = cJSON_GetObjectItemCaseSensitive(event, "data");
	ok = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(data, "ok"));
	if (ctl->json) {
		print_json_line(stdout, data);
		putchar('\n');
	} else {
		double peak;

		printf("result      %s%s%s\n", ok ? "ok" : "failed",
		       json_str(data, "reason") ? ": " : "",
		       json_str(data, "reason") ? json_str(data, "reason") : "");
		printf("microphone  %s\n", or_dash(json_str(data,
							    "microphone")));
		printf("silent      %s\n", cJSON_IsTrue(
			cJSON_GetObjectItemCaseSensitive(data, "silent")) ?
		       "yes" : "no");
		printf("peak        ");
		if (json_num(data, "peak", &peak))
			printf("%.1f dBFS\n", peak);
		else
			printf("-\n");
		printf("levels     ");
		cJSON_ArrayForEach(lv, cJSON_GetObjectItemCaseSensitive(data,
									"levels"))
			printf(" %.0f", cJSON_IsNumber(lv) ? lv->valuedouble :
			       0.0);
		putchar('\n');
	}
	cJSON_Delete(event);
	return ok ? EXIT_SUCCESS : EXIT_FAILURE;
}

/* config; config set softphone; config set deskphone EXTENSION;
 * config move-to-desk */
static int cmd_config(struct ctl *ctl, const struct command *cmd,
                      int argc, char **argv)
{
	cJSON *params;
	bool soft;

	(void)cmd;
	if (argc == 0)
		return call_and_show(ctl, "agent.getConfiguration", NULL,
		                     show_config);
	if (strcmp(argv[0], "move-to-desk") == 0 && argc == 1)
		return call_and_show(ctl, "agent.moveToDeskPhone", NULL,
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
	return call_and_show(ctl, "agent.setConfiguration", params, show_config);
}

static int cmd_version(struct ctl *ctl, const struct command *cmd,
                       int argc, char **argv)
{
	(void)cmd; (void)argc; (void)argv;
	return call_and_show(ctl, "daemon.getVersion", NULL, show_version);
}

static int cmd_call(struct ctl *ctl, const struct command *cmd,
                    int argc, char **argv)
{
	cJSON *params = NULL;

	(void)cmd;
	if (!*argv[0])
		return usage_error("call: the method name is empty");
	if (argc > 1) {
		const char *end = NULL;

		/* Whether params fit the method is ccpd's to judge; call is
		 * also for trying out what it says to bad ones. */
		params = cJSON_ParseWithOpts(argv[1], &end, true);
		if (!params) {
			size_t at = end ? (size_t)(end - argv[1]) : 0;

			return usage_error("call: params are not valid JSON (near byte %zu)",
			                   at);
		}
	}
	return call_and_show(ctl, argv[0], params, show_pretty);
}

static void show_endpoints(const cJSON *endpoints)
{
	const cJSON *e;

	cJSON_ArrayForEach(e, endpoints)
		printf("%-24s %s\n", or_dash(json_str(e, "name")),
		       or_dash(json_str(e, "endpoint")));
}

static int cmd_call_simple(struct ctl *ctl, const struct command *cmd,
                           int argc, char **argv)
{
	(void)argc; (void)argv;
	return call_and_show(ctl, cmd->data, NULL, show_endpoints);
}

/* ---- watch -------------------------------------------------------------- */

static void on_stop_signal(int sig)
{
	stop_signal = sig;
}

static void print_contact_summary(const cJSON *contact)
{
	char end[128];
	const char *ended = contact_end(contact, end, sizeof(end));

	printf(" %s %s %s", or_dash(json_str(contact, "contactId")),
	       or_dash(json_str(contact, "direction")), contact_customer(contact));
	if (ended)
		printf(" %s", ended);
}

static void print_agent_extras(const cJSON *agent, const char *state)
{
	const char *status = json_str(agent, "status");
	const char *next = json_str(agent, "next");

	if (status && (!state || strcmp(status, state) != 0))
		printf(", status %s", status);
	if (next)
		printf(", next %s", next);
}

static void print_event(const cJSON *event)
{
	const char *type = or_dash(json_str(event, "type"));
	const cJSON *data = cJSON_GetObjectItemCaseSensitive(event, "data");
	double seq;

	if (json_num(event, "seq", &seq))
		print_number(stdout, seq);
	else
		fputs("-", stdout);
	printf(" %s", type);

	if (strcmp(type, "agent.stateChange") == 0) {
		const char *from = json_str(data, "oldState");
		const char *to = json_str(data, "newState");

		if (from && to && strcmp(from, to) != 0)
			printf(" %s -> %s", from, to);
		else
			printf(" %s", or_dash(to));
		print_agent_extras(cJSON_GetObjectItemCaseSensitive(data, "agent"), to);
	} else if (strncmp(type, "contact.", 8) == 0 &&
	           cJSON_IsObject(cJSON_GetObjectItemCaseSensitive(data, "contact"))) {
		print_contact_summary(cJSON_GetObjectItemCaseSensitive(data, "contact"));
	} else if (strcmp(type, "media.status") == 0) {
		const char *reason = json_str(data, "reason");

		putchar(' ');
		print_media_line(data);
		if (reason)
			printf(" (%s)", reason);
	} else if (strcmp(type, "media.takeover") == 0) {
		printf(" %s", or_dash(json_str(data, "reason")));
	} else if (strcmp(type, "registration.status") == 0) {
		const char *reason = json_str(data, "reason");

		putchar(' ');
		print_registration_line(data);
		if (reason)
			printf(" (%s)", reason);
	} else if (data && !cJSON_IsNull(data)) {
		/* A type newer than this client: show it rather than hide it. */
		putchar(' ');
		print_json_line(stdout, data);
	}
	putchar('\n');
}

/* "42 snapshot Busy (system) since 12:03:04, next Lunch; c-5 connected" */
static void print_snapshot(const cJSON *subscribed)
{
	const cJSON *snapshot = cJSON_GetObjectItemCaseSensitive(subscribed, "snapshot");
	const cJSON *agent = cJSON_GetObjectItemCaseSensitive(snapshot, "agent");
	const cJSON *contacts = cJSON_GetObjectItemCaseSensitive(snapshot, "contacts");
	const cJSON *c;
	const char *sep = "; ";
	double seq;

	if (json_num(subscribed, "seq", &seq))
		print_number(stdout, seq);
	else
		fputs("-", stdout);
	fputs(" snapshot ", stdout);
	print_agent_line(agent);
	print_agent_extras(agent, json_str(agent, "state"));
	cJSON_ArrayForEach(c, contacts) {
		printf("%s%s %s", sep, or_dash(json_str(c, "contactId")),
		       or_dash(json_str(c, "state")));
		sep = ", ";
	}
	putchar('\n');
}

static int cmd_watch(struct ctl *ctl, const struct command *cmd,
                     int argc, char **argv)
{
	struct sigaction sa = { .sa_handler = on_stop_signal };
	cJSON *params = NULL, *subscribed;
	const cJSON *resync;
	sigset_t block;
	int q;

	(void)cmd; (void)argc; (void)argv;

	if (ctl->since >= 0) {
		params = cJSON_CreateObject();
		if (!params || !cJSON_AddNumberToObject(params, "since", (double)ctl->since)) {
			cJSON_Delete(params);
			return fail("out of memory");
		}
	}

	/* The signals stay blocked except inside the wait for the daemon, so
	 * one that arrives while an event is printed is not lost, and a line
	 * is never cut in half. */
	sigemptyset(&block);
	sigaddset(&block, SIGINT);
	sigaddset(&block, SIGTERM);
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sigprocmask(SIG_BLOCK, &block, &ctl->orig_mask);
	ctl->sigmask = &ctl->orig_mask;

	q = ctl_call(ctl, "events.subscribe", params, &subscribed);
	if (!subscribed)
		return q;

	resync = cJSON_GetObjectItemCaseSensitive(subscribed, "resync");
	if (ctl->since >= 0 && cJSON_IsTrue(resync))
		fprintf(stderr, "ccpctl: events after %lld are no longer held; "
		        "some were missed\n", ctl->since);
	if (!ctl->json)
		print_snapshot(subscribed);
	cJSON_Delete(subscribed);
	fflush(stdout);

	for (;;) {
		cJSON *event;

		q = rpc_next_event(ctl->rpc, &event);
		if (q == -EINTR && !stop_signal)
			continue;
		if (q < 0)
			return report_rpc_failure(ctl, q);
		if (ctl->json) {
			print_json_line(stdout, event);
			putchar('\n');
		} else {
			print_event(event);
		}
		cJSON_Delete(event);
		/* Whoever reads a pipe wants each event when it happens. */
		if (fflush(stdout) != 0)
			return fail("cannot write output: %s", strerror(errno));
	}
}

/* ---- sessions ------------------------------------------------------------ */

/* A password from --password, else $CCPD_PASSWORD, else one line of
 * standard input (without echo on a terminal). */
static int read_secret(const char *prompt, const char *given, char *buf,
                       size_t size)
{
	const char *env = getenv("CCPD_PASSWORD");
	struct termios old, quiet;
	bool tty = isatty(STDIN_FILENO);
	size_t n;

	if (given) {
		snprintf(buf, size, "%s", given);
		return 0;
	}
	if (env && *env && strcmp(prompt, "New password") != 0) {
		snprintf(buf, size, "%s", env);
		return 0;
	}
	if (tty) {
		fprintf(stderr, "%s: ", prompt);
		tcgetattr(STDIN_FILENO, &old);
		quiet = old;
		quiet.c_lflag &= ~(tcflag_t)ECHO;
		tcsetattr(STDIN_FILENO, TCSAFLUSH, &quiet);
	}
	if (!fgets(buf, (int)size, stdin))
		buf[0] = '\0';
	if (tty) {
		tcsetattr(STDIN_FILENO, TCSAFLUSH, &old);
		fputc('\n', stderr);
	}
	n = strlen(buf);
	while (n && (buf[n - 1] == '\n' || buf[n - 1] == '\r'))
		buf[--n] = '\0';
	return n ? 0 : -ENODATA;
}

static int cmd_login(struct ctl *ctl, const struct command *cmd,
                     int argc, char **argv)
{
	char pw[512];
	cJSON *params, *result;
	const cJSON *must;
	int q;

	(void)cmd; (void)argc;
	if (read_secret("Password", ctl->password, pw, sizeof(pw)) < 0)
		return usage_error("login: no password given");
	params = params_with_string("username", argv[0]);
	if (!params || !cJSON_AddStringToObject(params, "password", pw)) {
		cJSON_Delete(params);
		return fail("out of memory");
	}
	explicit_bzero(pw, sizeof(pw));
	q = ctl_call(ctl, "session.login", params, &result);
	if (!result)
		return q;
	if (ctl->json) {
		print_json_line(stdout, result);
		putchar('\n');
	} else {
		/* the token alone, for CCPD_TOKEN=$(ccpctl login NAME) */
		puts(or_dash(json_str(result, "token")));
	}
	must = cJSON_GetObjectItemCaseSensitive(result, "mustChangePassword");
	if (cJSON_IsTrue(must))
		fprintf(stderr, "ccpctl: this is a one-time password; choose "
		        "your own with: CCPD_TOKEN=... ccpctl passwd\n");
	cJSON_Delete(result);
	return EXIT_SUCCESS;
}

static void show_nothing(const cJSON *result)
{
	(void)result;
}

static int cmd_logout(struct ctl *ctl, const struct command *cmd,
                      int argc, char **argv)
{
	(void)cmd; (void)argc; (void)argv;
	if (!ctl->token)
		return usage_error("logout: give the session with --token or "
		                   "CCPD_TOKEN");
	return call_and_show(ctl, "session.logout", NULL, show_nothing);
}

static void show_whoami(const cJSON *r)
{
	const char *user = json_str(r, "username");
	const char *via = json_str(r, "via");
	const char *desk = json_str(r, "deskUser");
	const cJSON *p;
	const char *sep = "";
	double uid;

	if (user)
		printf("%s (%s)", user, or_dash(json_str(r, "profile")));
	else if (via && strcmp(via, "peerCredentials") == 0)
		fputs("administrator (peer credentials)", stdout);
	else
		fputs("not logged in", stdout);
	if (json_num(r, "uid", &uid)) {
		fputs(", uid ", stdout);
		print_number(stdout, uid);
	}
	putchar('\n');
	fputs("permissions: ", stdout);
	cJSON_ArrayForEach(p, cJSON_GetObjectItemCaseSensitive(r, "permissions")) {
		printf("%s%s", sep, cJSON_IsString(p) ? p->valuestring : "?");
		sep = ", ";
	}
	if (!*sep)
		fputs("-", stdout);
	putchar('\n');
	printf("at the desk: %s\n", or_dash(desk));
	if (cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(r, "mustChangePassword")))
		puts("the password must be changed (ccpctl passwd)");
}

static int cmd_whoami(struct ctl *ctl, const struct command *cmd,
                      int argc, char **argv)
{
	(void)cmd; (void)argc; (void)argv;
	return call_and_show(ctl, "session.whoami", NULL, show_whoami);
}

static int cmd_passwd(struct ctl *ctl, const struct command *cmd,
                      int argc, char **argv)
{
	char old[512], pw[512];
	cJSON *params;
	int q;

	(void)cmd; (void)argc; (void)argv;
	if (!ctl->token)
		return usage_error("passwd: give the session with --token or "
		                   "CCPD_TOKEN");
	if (read_secret("Old password", ctl->password, old, sizeof(old)) < 0 ||
	    read_secret("New password", NULL, pw, sizeof(pw)) < 0)
		return usage_error("passwd: the old and the new password are "
		                   "read from standard input, one a line");
	params = params_with_string("oldPassword", old);
	if (!params || !cJSON_AddStringToObject(params, "newPassword", pw)) {
		cJSON_Delete(params);
		return fail("out of memory");
	}
	explicit_bzero(old, sizeof(old));
	explicit_bzero(pw, sizeof(pw));
	q = call_and_show(ctl, "session.changePassword", params, show_nothing);
	if (q == EXIT_SUCCESS && !ctl->json)
		puts("password changed");
	return q;
}

/* ---- admin --------------------------------------------------------------- */

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

static bool add_opt(cJSON *params, const char *key, const char *value)
{
	return !value || cJSON_AddStringToObject(params, key, value);
}

static int cmd_admin(struct ctl *ctl, const struct command *cmd,
                     int argc, char **argv)
{
	const struct admin_table *t = NULL;
	const char *verb = argc > 1 ? argv[1] : "list";
	void (*show)(const cJSON *) = show_pretty;
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
	} else if (strcmp(verb, "del") == 0 || strcmp(verb, "delete") == 0) {
		need = 1;
		snprintf(method, sizeof(method), "admin.%s.delete", t->method);
		show = show_nothing;
	} else {
		cJSON_Delete(params);
		return usage_error("admin %s: unknown action '%s' (list, get, "
		                   "add, set, rename, del)", t->word, verb);
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
			add_opt(params, "profile", ctl->profile ? ctl->profile
			                                       : "Agent");
		else
			add_opt(params, "profile", ctl->profile);
		add_opt(params, "displayName", ctl->display_name);
		add_opt(params, "password", ctl->password);
		if (ctl->reset_password)
			cJSON_AddBoolToObject(params, "resetPassword", true);
		show = show_created_user;
	}
	if (strcmp(t->word, "numbers") == 0)
		add_opt(params, "username", ctl->user);
	if (strcmp(t->word, "numbers") == 0 || strcmp(t->word, "origins") == 0 ||
	    strcmp(t->word, "quick-connects") == 0 ||
	    strcmp(t->word, "profiles") == 0)
		add_opt(params, "description", ctl->description);
	return call_and_show(ctl, method, params, show);
}

/* ---- metrics ------------------------------------------------------------- */

/* Unix milliseconds, or a local date and time: YYYY-MM-DD[THH:MM[:SS]]. */
static int parse_when(const char *s, double *ret)
{
	struct tm tm = { 0 };
	const char *end;
	long long ms;

	if (parse_count(s, 0, 1LL << 53, &ms) == 0) {
		*ret = (double)ms;
		return 0;
	}
	end = strptime(s, "%Y-%m-%d", &tm);
	if (end && *end == 'T')
		end = strptime(end + 1, "%H:%M", &tm);
	if (end && *end == ':')
		end = strptime(end + 1, "%S", &tm);
	if (!end || *end)
		return -EINVAL;
	tm.tm_isdst = -1;
	*ret = (double)mktime(&tm) * 1000.0;
	return 0;
}

static void print_duration(double ms)
{
	long long s = (long long)(ms / 1000 + 0.5);

	if (s >= 3600)
		printf("%lldh%02lldm%02llds", s / 3600, s / 60 % 60, s % 60);
	else if (s >= 60)
		printf("%lldm%02llds", s / 60, s % 60);
	else
		printf("%llds", s);
}

static void show_stat(const char *name, const cJSON *st)
{
	double n = 0, avg = 0, max = 0;

	json_num(st, "count", &n);
	json_num(st, "averageMs", &avg);
	json_num(st, "maxMs", &max);
	printf("  %s: average ", name);
	print_duration(avg);
	fputs(", longest ", stdout);
	print_duration(max);
	fputs(" (", stdout);
	print_number(stdout, n);
	puts(")");
}

static void show_metrics(const cJSON *r)
{
	const cJSON *a, *e;

	cJSON_ArrayForEach(a, cJSON_GetObjectItemCaseSensitive(r, "agents")) {
		printf("%s\n", or_dash(json_str(a, "username")));
		cJSON_ArrayForEach(e, cJSON_GetObjectItemCaseSensitive(
			a, "timeInStateMs")) {
			printf("  %-22s ", e->string);
			print_duration(e->valuedouble);
			putchar('\n');
		}
		fputs("  contacts:", stdout);
		cJSON_ArrayForEach(e, cJSON_GetObjectItemCaseSensitive(a, "contacts")) {
			printf(" %s ", e->string);
			print_number(stdout, e->valuedouble);
		}
		putchar('\n');
		show_stat("handle time", cJSON_GetObjectItemCaseSensitive(a, "handleTime"));
		show_stat("hold time", cJSON_GetObjectItemCaseSensitive(a, "holdTime"));
		show_stat("after-contact work", cJSON_GetObjectItemCaseSensitive(a, "acwTime"));
	}
}

static void show_prometheus(const cJSON *r)
{
	fputs(or_dash(json_str(r, "text")), stdout);
}

static int cmd_metrics(struct ctl *ctl, const struct command *cmd,
                       int argc, char **argv)
{
	cJSON *params;
	double v;

	(void)cmd; (void)argc; (void)argv;
	if (ctl->prometheus)
		return call_and_show(ctl, "metrics.getPrometheus", NULL,
		                     show_prometheus);
	params = cJSON_CreateObject();
	if (!params)
		return fail("out of memory");
	if (ctl->from) {
		if (parse_when(ctl->from, &v) < 0) {
			cJSON_Delete(params);
			return usage_error("--from: '%s' is neither milliseconds "
			                   "nor YYYY-MM-DD[THH:MM[:SS]]", ctl->from);
		}
		cJSON_AddNumberToObject(params, "from", v);
	}
	if (ctl->to) {
		if (parse_when(ctl->to, &v) < 0) {
			cJSON_Delete(params);
			return usage_error("--to: '%s' is neither milliseconds "
			                   "nor YYYY-MM-DD[THH:MM[:SS]]", ctl->to);
		}
		cJSON_AddNumberToObject(params, "to", v);
	}
	add_opt(params, "agent", ctl->agent);
	return call_and_show(ctl, "metrics.get", params, show_metrics);
}

/* ---- command line ------------------------------------------------------- */

static const char *const states_incoming[] = { "incoming", NULL };
static const char *const states_live[] = { "connected", "connecting", NULL };
static const char *const states_done[] = { "ended", "error", NULL };

static const struct contact_action action_accept = {
	"contact.accept", states_incoming, "incoming", "accepting",
};
static const struct contact_action action_reject = {
	"contact.reject", states_incoming, "incoming", "rejecting",
};
static const struct contact_action action_hangup = {
	"connection.destroy", states_live, "connected or connecting", "hanging up",
};
static const struct contact_action action_clear = {
	"contact.clear", states_done, "ended or failed", "cleared",
};

static const struct contact_action action_hold = {
	"connection.hold", states_connected, "connected", "holding",
};
static const struct contact_action action_resume = {
	"connection.resume", states_connected, "connected", "resuming",
};
static const struct contact_action action_swap = {
	"contact.toggleActiveConnections", states_connected, "connected",
	"swapped",
};
static const struct contact_action action_join = {
	"contact.conferenceConnections", states_connected, "connected",
	"joined",
};
static const struct contact_action action_leave = {
	"connection.destroy", states_connected, "connected", "leaving",
};
static const struct contact_param param_digits = {
	"connection.sendDigits", "digits", "sent digits on",
};
static const struct contact_param param_consult = {
	"contact.addConnection", "endpoint", "consulting on",
};
static const struct contact_param param_transfer = {
	"contact.transfer", "endpoint", "transferring",
};

static const struct command commands[] = {
	{ "status", "", "show the agent state", 0, 0, cmd_status, NULL },
	{ "states", "", "list the statuses the agent may choose", 0, 0, cmd_states, NULL },
	{ "set-state", "NAME", "choose a status (next one while on a contact)", 1, 1, cmd_set_state, NULL },
	{ "clear-next", "", "drop the status waiting for the end of a contact", 0, 0, cmd_clear_next, NULL },
	{ "dial", "ENDPOINT", "call a phone number or sip: URI; print the contact id", 1, 1, cmd_dial, NULL },
	{ "accept", "[CONTACT]", "answer a ringing contact", 0, 1, cmd_contact_action, &action_accept },
	{ "reject", "[CONTACT]", "refuse a ringing contact", 0, 1, cmd_contact_action, &action_reject },
	{ "hangup", "[CONTACT]", "hang up, or cancel a dial", 0, 1, cmd_contact_action, &action_hangup },
	{ "clear", "[CONTACT]", "end after-contact work or clear a failed call", 0, 1, cmd_contact_action, &action_clear },
	{ "hold", "[CONTACT]", "put the party the agent talks to on hold", 0, 1, cmd_contact_action, &action_hold },
	{ "resume", "[CONTACT]", "take the held party off hold", 0, 1, cmd_contact_action, &action_resume },
	{ "mute", "", "mute the agent on every call", 0, 0, cmd_mute, "agent.mute" },
	{ "unmute", "", "unmute the agent", 0, 0, cmd_mute, "agent.unmute" },
	{ "digits", "DIGITS [CONTACT]", "send DTMF digits (0-9 * # A-D)", 1, 2, cmd_contact_param, &param_digits },
	{ "consult", "ENDPOINT [CONTACT]", "hold the customer and call a third party; print its connection id", 1, 2, cmd_contact_param, &param_consult },
	{ "swap", "[CONTACT]", "talk to the held party, hold the other", 0, 1, cmd_contact_action, &action_swap },
	{ "join", "[CONTACT]", "conference the agent, the customer and the third party", 0, 1, cmd_contact_action, &action_join },
	{ "leave", "[CONTACT]", "drop out, leaving the parties talking", 0, 1, cmd_contact_action, &action_leave },
	{ "transfer", "ENDPOINT [CONTACT]", "blind-transfer the customer", 1, 2, cmd_contact_param, &param_transfer },
	{ "endpoints", "", "list the quick connects", 0, 0, cmd_call_simple, "agent.getEndpoints" },
	{ "contacts", "", "list the live contacts", 0, 0, cmd_contacts, NULL },
	{ "history", "[N]", "list the N most recent contacts, newest first", 0, 1, cmd_history, NULL },
	{ "media", "", "show the state of the media stack", 0, 0, cmd_media, NULL },
	{ "registration", "", "show the SIP registration", 0, 0, cmd_registration, NULL },
	{ "network", "check", "check the SIP server, STUN and TURN; print each item's result and time", 1, 1, cmd_network, NULL },
	{ "audio", "devices", "list the capture and playback devices, and the chosen ones", 1, 4, cmd_audio, NULL },
	{ "audio", "set ROLE=DEVICE...", "choose the microphone, speaker or ringer (DEVICE \"default\": the configured one)", 2, 4, cmd_audio, NULL },
	{ "audio", "test", "play a tone and measure the microphone; print the levels", 1, 1, cmd_audio, NULL },
	{ "config", "", "show the agent configuration", 0, 3, cmd_config, NULL },
	{ "config", "set softphone|deskphone [EXTENSION]", "use the softphone, or the desk phone at EXTENSION (E.164)", 2, 3, cmd_config, NULL },
	{ "config", "move-to-desk", "move to the desk phone, with the connected call", 1, 1, cmd_config, NULL },
	{ "phone", "normalize NUMBER [REGION]", "show a number in E.164 and other forms, its region and type", 2, 4, cmd_phone, NULL },
	{ "phone", "format NUMBER FORMAT [REGION]", "write a number as E164, INTERNATIONAL, NATIONAL or RFC3966", 2, 4, cmd_phone, NULL },
	{ "version", "", "show the version of ccpd", 0, 0, cmd_version, NULL },
	{ "call", "METHOD [JSON-PARAMS]", "call any method and print its result", 1, 2, cmd_call, NULL },
	{ "watch", "", "print events until interrupted", 0, 0, cmd_watch, NULL },
	{ "login", "USER", "log in; print the session's token", 1, 1, cmd_login, NULL },
	{ "logout", "", "end the session of --token", 0, 0, cmd_logout, NULL },
	{ "whoami", "", "show who ccpd takes this client for", 0, 0, cmd_whoami, NULL },
	{ "passwd", "", "change the password of --token's user", 0, 0, cmd_passwd, NULL },
	{ "admin", "TABLE [ACTION [ARGS]]", "manage users, profiles, statuses, numbers, origins, quick-connects", 1, 64, cmd_admin, NULL },
	{ "metrics", "", "show the agents' figures (--from, --to, --agent, --prometheus)", 0, 0, cmd_metrics, NULL },
};

static const struct command *find_command(const char *name)
{
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		if (strcmp(commands[i].name, name) == 0)
			return &commands[i];
	return NULL;
}

static void print_help(void)
{
	printf("Usage: ccpctl [OPTIONS] COMMAND [ARGUMENTS]\n"
	       "\n"
	       "Control ccpd, the contact-center softphone daemon.\n"
	       "\n"
	       "Commands:\n");
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++) {
		char head[64];

		snprintf(head, sizeof(head), "%s %s", commands[i].name, commands[i].args);
		printf("  %-28s %s\n", head, commands[i].summary);
	}
	printf("\n"
	       "CONTACT defaults to the only contact the command can apply to.\n"
	       "\n"
	       "Options:\n"
	       "  -s, --socket PATH     the socket of ccpd\n"
	       "      --json            print results, or events, as JSON, one a line\n"
	       "      --timeout SECONDS how long to wait for an answer (default 5)\n"
	       "      --since SEQ       watch: replay the events after SEQ first\n"
	       "      --token TOKEN     act in that session (default $CCPD_TOKEN)\n"
	       "      --password PW     login, passwd (old), admin users add/set\n"
	       "      --profile NAME    admin users add/set (default Agent)\n"
	       "      --display-name N  admin users add/set\n"
	       "      --reset-password  admin users set: a new one-time password\n"
	       "      --user NAME       admin numbers add/set: the number's user\n"
	       "      --description D   admin numbers, origins, quick-connects, profiles\n"
	       "      --from WHEN       metrics: start (ms or YYYY-MM-DD[THH:MM[:SS]])\n"
	       "      --to WHEN         metrics: end (default now; from: a day before)\n"
	       "      --agent NAME      metrics: one user's figures\n"
	       "      --prometheus      metrics: the live figures as Prometheus text\n"
	       "  -h, --help            show this help\n"
	       "      --version         show the version of ccpctl\n"
	       "\n"
	       "Exit status: 0 success, 1 ccpd failed or could not be reached,\n"
	       "2 usage error.\n");
}

/*
 * The same order in which ccpd picks its own default: $CCPD_SOCKET aside,
 * a daemon run by a user lives in $XDG_RUNTIME_DIR/ccpd, or in /tmp/ccpd-UID
 * without one, and the system daemon in /run/ccpd.
 */
static const char *default_socket(char *buf, size_t size)
{
	const char *env = getenv("CCPD_SOCKET");
	const char *xdg = getenv("XDG_RUNTIME_DIR");
	struct stat st;
	int n;

	if (env && *env)
		return env;
	if (geteuid() == 0)
		return DEFAULT_SOCKET;

	if (xdg && *xdg) {
		n = snprintf(buf, size, "%s/ccpd/ccpd.sock", xdg);
		if (n > 0 && (size_t)n < size && access(buf, F_OK) == 0)
			return buf;
		return DEFAULT_SOCKET;
	}

	/* Anyone may create a directory in /tmp: trust only one that is ours
	 * and that nobody else can write to, as ccpd made it. */
	n = snprintf(buf, size, "/tmp/ccpd-%u", (unsigned)geteuid());
	if (n > 0 && (size_t)n < size && lstat(buf, &st) == 0 &&
	    S_ISDIR(st.st_mode) && st.st_uid == geteuid() &&
	    !(st.st_mode & (S_IWGRP | S_IWOTH))) {
		n = snprintf(buf, size, "/tmp/ccpd-%u/ccpd.sock", (unsigned)geteuid());
		if (n > 0 && (size_t)n < size && access(buf, F_OK) == 0)
			return buf;
	}
	return DEFAULT_SOCKET;
}

static int parse_timeout(const char *s, int *ret_ms)
{
	char *end;
	double v;

	/* Decimal only: strtod would also take blanks, a sign, "inf" and
	 * hexadecimal ("0x10" for 16 seconds). */
	if (!(isdigit((unsigned char)*s) || *s == '.') || strpbrk(s, "xXpP"))
		return -EINVAL;
	errno = 0;
	v = strtod(s, &end);
	/* Written so that NaN fails too. */
	if (errno || end == s || *end || !(v > 0 && v <= MAX_TIMEOUT_S))
		return -EINVAL;
	/* Rounded up, so that a tiny timeout still waits a little. */
	*ret_ms = (int)(v * 1000);
	if (*ret_ms < v * 1000)
		(*ret_ms)++;
	return 0;
}

enum {
	OPT_JSON = 0x100,
	OPT_TIMEOUT,
	OPT_SINCE,
	OPT_VERSION,
	OPT_TOKEN,
	OPT_PASSWORD,
	OPT_PROFILE,
	OPT_DISPLAY_NAME,
	OPT_RESET_PASSWORD,
	OPT_USER,
	OPT_DESCRIPTION,
	OPT_FROM,
	OPT_TO,
	OPT_AGENT,
	OPT_PROMETHEUS,
};

int main(int argc, char **argv)
{
	static const struct option options[] = {
		{ "socket", required_argument, NULL, 's' },
		{ "json", no_argument, NULL, OPT_JSON },
		{ "timeout", required_argument, NULL, OPT_TIMEOUT },
		{ "since", required_argument, NULL, OPT_SINCE },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, OPT_VERSION },
		{ "token", required_argument, NULL, OPT_TOKEN },
		{ "password", required_argument, NULL, OPT_PASSWORD },
		{ "profile", required_argument, NULL, OPT_PROFILE },
		{ "display-name", required_argument, NULL, OPT_DISPLAY_NAME },
		{ "reset-password", no_argument, NULL, OPT_RESET_PASSWORD },
		{ "user", required_argument, NULL, OPT_USER },
		{ "description", required_argument, NULL, OPT_DESCRIPTION },
		{ "from", required_argument, NULL, OPT_FROM },
		{ "to", required_argument, NULL, OPT_TO },
		{ "agent", required_argument, NULL, OPT_AGENT },
		{ "prometheus", no_argument, NULL, OPT_PROMETHEUS },
		{ NULL, 0, NULL, 0 },
	};
	struct ctl ctl = { .timeout_ms = DEFAULT_TIMEOUT_MS, .since = -1 };
	char socket_buf[PATH_MAX];
	const struct command *cmd;
	int c, nargs, q;

	/* Our own messages: getopt's would name argv[0], a path at times. */
	opterr = 0;
	/* Options may follow the command ("ccpctl status --json"); "--" ends
	 * them, for a state name or params starting with '-'. */
	while ((c = getopt_long(argc, argv, ":s:h", options, NULL)) != -1) {
		switch (c) {
		case 's':
			if (!*optarg)
				return usage_error("--socket needs a path");
			ctl.socket = optarg;
			break;
		case OPT_JSON:
			ctl.json = true;
			break;
		case OPT_TIMEOUT:
			if (parse_timeout(optarg, &ctl.timeout_ms) < 0)
				return usage_error("--timeout: '%s' is not a number of seconds "
				                   "between 0 and %d", optarg, MAX_TIMEOUT_S);
			break;
		case OPT_SINCE:
			if (parse_count(optarg, 0, LLONG_MAX, &ctl.since) < 0)
				return usage_error("--since: '%s' is not an event sequence number",
				                   optarg);
			break;
		case 'h':
			print_help();
			return EXIT_SUCCESS;
		case OPT_VERSION:
			printf("ccpctl %s\n", CCPCTL_VERSION);
			return EXIT_SUCCESS;
		case OPT_TOKEN:
			ctl.token = optarg;
			break;
		case OPT_PASSWORD:
			ctl.password = optarg;
			break;
		case OPT_PROFILE:
			ctl.profile = optarg;
			break;
		case OPT_DISPLAY_NAME:
			ctl.display_name = optarg;
			break;
		case OPT_RESET_PASSWORD:
			ctl.reset_password = true;
			break;
		case OPT_USER:
			ctl.user = optarg;
			break;
		case OPT_DESCRIPTION:
			ctl.description = optarg;
			break;
		case OPT_FROM:
			ctl.from = optarg;
			break;
		case OPT_TO:
			ctl.to = optarg;
			break;
		case OPT_AGENT:
			ctl.agent = optarg;
			break;
		case OPT_PROMETHEUS:
			ctl.prometheus = true;
			break;
		case ':':
			return usage_error("option '%s' needs an argument", argv[optind - 1]);
		case '?':
			if (optopt && optopt < 0x100)
				return usage_error("unknown option '-%c'", optopt);
			return usage_error("unknown option '%s'", argv[optind - 1]);
		}
	}

	if (optind >= argc)
		return usage_error("no command given");
	cmd = find_command(argv[optind]);
	if (!cmd)
		return usage_error("unknown command '%s'", argv[optind]);
	nargs = argc - optind - 1;
	if (nargs < cmd->min_args)
		return usage_error("%s needs %s", cmd->name, cmd->args);
	if (nargs > cmd->max_args)
		return usage_error("too many arguments for %s", cmd->name);
	if (ctl.since >= 0 && cmd->run != cmd_watch)
		return usage_error("--since is only for watch");

	if (!ctl.socket)
		ctl.socket = default_socket(socket_buf, sizeof(socket_buf));
	if (!ctl.token && getenv("CCPD_TOKEN") && *getenv("CCPD_TOKEN"))
		ctl.token = getenv("CCPD_TOKEN");

	q = cmd->run(&ctl, cmd, nargs, argv + optind + 1);
	ctl.rpc = rpc_free(ctl.rpc);

	/* Output that did not reach its reader is a failure, not a success. */
	if (fflush(stdout) != 0 || ferror(stdout)) {
		fail("cannot write output: %s", strerror(errno));
		if (q == EXIT_SUCCESS)
			q = EXIT_FAILURE;
	}
	return q;
}
