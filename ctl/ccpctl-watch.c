/* ccpctl-watch: the watch command: ccpd's events, one a line, until a
 * signal ends it. */
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>

#include "ccpctl-int.h"
#include "ccpctl-rpc.h"

static volatile sig_atomic_t stop_signal;

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

/* " down (crash)": a status line and, when there is one, its reason */
static void print_status(const cJSON *data, void (*print_line)(const cJSON *))
{
	const char *reason = json_str(data, "reason");

	putchar(' ');
	print_line(data);
	if (reason)
		printf(" (%s)", reason);
}

/* Every line starts with the sequence number of what it shows. */
static void print_seq(const cJSON *obj)
{
	double seq;

	if (json_num(obj, "seq", &seq))
		print_number(stdout, seq);
	else
		fputs("-", stdout);
}

static void print_event(const cJSON *event)
{
	const char *type = or_dash(json_str(event, "type"));
	const cJSON *data = cJSON_GetObjectItemCaseSensitive(event, "data");

	print_seq(event);
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
		print_status(data, media_print_line);
	} else if (strcmp(type, "media.takeover") == 0) {
		printf(" %s", or_dash(json_str(data, "reason")));
	} else if (strcmp(type, "registration.status") == 0) {
		print_status(data, registration_print_line);
	} else if (data && !cJSON_IsNull(data)) {
		/* A type newer than this client: show it rather than hide it. */
		putchar(' ');
		print_json_line(stdout, data);
	}
	putchar('\n');
}

/* "42 snapshot Busy (system) since 12:03:04, next Lunch; <id> connected" */
static void print_snapshot(const cJSON *subscribed)
{
	const cJSON *snapshot = cJSON_GetObjectItemCaseSensitive(subscribed, "snapshot");
	const cJSON *agent = cJSON_GetObjectItemCaseSensitive(snapshot, "agent");
	const cJSON *contacts = cJSON_GetObjectItemCaseSensitive(snapshot, "contacts");
	const cJSON *c;
	const char *sep = "; ";

	print_seq(subscribed);
	fputs(" snapshot ", stdout);
	agent_print_line(agent);
	print_agent_extras(agent, json_str(agent, "state"));
	cJSON_ArrayForEach(c, contacts) {
		printf("%s%s %s", sep, or_dash(json_str(c, "contactId")),
		       or_dash(json_str(c, "state")));
		sep = ", ";
	}
	putchar('\n');
}

/* The signals stay blocked except inside the wait for the daemon, so one
 * that arrives while an event is printed is not lost, and a line is never
 * cut in half. */
static void block_stop_signals(struct ctl *ctl)
{
	struct sigaction sa = { .sa_handler = on_stop_signal };
	sigset_t block;

	sigemptyset(&block);
	sigaddset(&block, SIGINT);
	sigaddset(&block, SIGTERM);
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sigprocmask(SIG_BLOCK, &block, &ctl->orig_mask);
	ctl->sigmask = &ctl->orig_mask;
}

static int run_watch(struct ctl *ctl, const struct command *cmd,
                     int argc, char **argv)
{
	cJSON *params = NULL, *subscribed;
	const cJSON *resync;
	int q;

	(void)cmd; (void)argc; (void)argv;

	if (ctl->since >= 0) {
		params = cJSON_CreateObject();
		if (!params || !cJSON_AddNumberToObject(params, "since", (double)ctl->since)) {
			cJSON_Delete(params);
			return fail("out of memory");
		}
	}

	block_stop_signals(ctl);
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
			return ctl_rpc_failure(ctl, q);
		(ctl->json ? show_json : print_event)(event);
		cJSON_Delete(event);
		/* Whoever reads a pipe wants each event when it happens. */
		if (fflush(stdout) != 0)
			return fail("cannot write output: %s", strerror(errno));
	}
}

const struct command watch_commands[] = {
	{ "watch", "", "print events until interrupted", 0, 0, .run = run_watch },
	{ 0 },
};
