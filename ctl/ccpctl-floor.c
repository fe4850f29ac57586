/* ccpctl-floor: the floor (every agent on the bus) as a live table, one
 * snapshot (--json) or its changes (--watch); and status with the bus's
 * state under the agent's. */
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "ccpctl-int.h"
#include "ccpctl-rpc.h"

static volatile sig_atomic_t stop_signal;

static void on_signal(int sig)
{
	if (sig != SIGALRM)
		stop_signal = sig;
}

static long long now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* "1:02:03" or "4:05" */
static void format_age(double since, char *buf, size_t size)
{
	long long s = since > 0 ? (now_ms() - (long long)since) / 1000 : -1;

	if (s < 0)
		snprintf(buf, size, "-");
	else if (s >= 3600)
		snprintf(buf, size, "%lld:%02lld:%02lld", s / 3600, s / 60 % 60,
		         s % 60);
	else
		snprintf(buf, size, "%lld:%02lld", s / 60, s % 60);
}

/* The first live contact's state and its time, or "-". */
static void contact_cell(const cJSON *agent, char *buf, size_t size)
{
	const cJSON *c = cJSON_GetArrayItem(
		cJSON_GetObjectItemCaseSensitive(agent, "contacts"), 0);
	char age[32];
	double since;

	if (!c) {
		snprintf(buf, size, "-");
		return;
	}
	if (!json_num(c, "since", &since))
		since = 0;
	format_age(since, age, sizeof(age));
	snprintf(buf, size, "%s %s", or_dash(json_str(c, "state")), age);
}

static void print_agent_row(const cJSON *a)
{
	char age[32], contact[96];
	const char *state = json_str(a, "state");
	double since;

	if (!json_num(a, "since", &since))
		since = 0;
	format_age(since, age, sizeof(age));
	contact_cell(a, contact, sizeof(contact));
	/* a desk's id is a UUID: its first 8 digits tell desks apart */
	if (cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(a, "unreachable")))
		printf("%-20.20s %-18.18s %9s  %-22.22s %.8s (last %s)\n",
		       or_dash(json_str(a, "agent")), or_dash(state), age,
		       contact, or_dash(json_str(a, "desk")),
		       or_dash(json_str(a, "lastState")));
	else
		printf("%-20.20s %-18.18s %9s  %-22.22s %.8s\n",
		       or_dash(json_str(a, "agent")), or_dash(state), age,
		       contact, or_dash(json_str(a, "desk")));
}

static void print_totals(const cJSON *totals)
{
	const cJSON *t;
	const char *sep = "";

	cJSON_ArrayForEach(t, totals) {
		printf("%s%s ", sep, t->string);
		print_number(stdout, t->valuedouble);
		sep = ", ";
	}
	putchar('\n');
}

static void print_table(const cJSON *floor)
{
	const cJSON *a;

	print_totals(cJSON_GetObjectItemCaseSensitive(floor, "totals"));
	printf("%-20s %-18s %9s  %-22s %s\n", "AGENT", "STATE", "TIME",
	       "CONTACT", "DESK");
	cJSON_ArrayForEach(a, cJSON_GetObjectItemCaseSensitive(floor, "agents"))
		print_agent_row(a);
}

/* Fold a floor.changed event into the table held here. */
static void apply_change(cJSON *floor, const cJSON *data)
{
	cJSON *agents = cJSON_GetObjectItemCaseSensitive(floor, "agents");
	const cJSON *a, *gone;

	if (cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(data, "full")))
		cJSON_DeleteItemFromObjectCaseSensitive(floor, "agents"),
		agents = cJSON_AddArrayToObject(floor, "agents");
	cJSON_ArrayForEach(gone, cJSON_GetObjectItemCaseSensitive(data, "removed")) {
		int i = 0;
		cJSON *x;

		cJSON_ArrayForEach(x, agents) {
			const char *k = json_str(x, "key");

			if (k && cJSON_IsString(gone) && strcmp(k, gone->valuestring) == 0) {
				cJSON_DeleteItemFromArray(agents, i);
				break;
			}
			i++;
		}
	}
	cJSON_ArrayForEach(a, cJSON_GetObjectItemCaseSensitive(data, "agents")) {
		const char *key = json_str(a, "key");
		cJSON *x, *copy = cJSON_Duplicate(a, 1);
		int i = 0, at = -1;

		cJSON_ArrayForEach(x, agents) {
			const char *k = json_str(x, "key");
			int c = k && key ? strcmp(k, key) : 1;

			if (c == 0) {
				cJSON_ReplaceItemInArray(agents, i, copy);
				copy = NULL;
				break;
			}
			if (c > 0 && at < 0)
				at = i;
			i++;
		}
		if (copy && at >= 0)
			cJSON_InsertItemInArray(agents, at, copy);
		else if (copy)
			cJSON_AddItemToArray(agents, copy);
	}
	cJSON_ReplaceItemInObjectCaseSensitive(floor, "totals",
		cJSON_Duplicate(cJSON_GetObjectItemCaseSensitive(data, "totals"), 1));
}

/* floor.get until the watch has read every key (it starts at the first
 * call), within the timeout. */
static int get_ready(struct ctl *ctl, bool watch, cJSON **ret)
{
	int waited = 0, q;

	for (;;) {
		cJSON *params = cJSON_CreateObject(), *floor;

		if (!params || !cJSON_AddBoolToObject(params, "watch", watch)) {
			cJSON_Delete(params);
			return fail("out of memory");
		}
		q = ctl_call(ctl, "floor.get", params, &floor);
		if (!floor)
			return q;
		if (cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(floor, "ready")) ||
		    waited >= ctl->timeout_ms) {
			*ret = floor;
			return EXIT_SUCCESS;
		}
		cJSON_Delete(floor);
		usleep(100000);
		waited += 100;
	}
}

static void setup_signals(struct ctl *ctl, bool tick)
{
	struct sigaction sa = { .sa_handler = on_signal };
	sigset_t block;

	sigemptyset(&block);
	sigaddset(&block, SIGINT);
	sigaddset(&block, SIGTERM);
	sigaddset(&block, SIGALRM);
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGALRM, &sa, NULL);
	sigprocmask(SIG_BLOCK, &block, &ctl->orig_mask);
	ctl->sigmask = &ctl->orig_mask;
	if (ctl->rpc)
		rpc_set_sigmask(ctl->rpc, ctl->sigmask);
	if (tick) {
		/* the table's times tick once a second */
		struct itimerval it = { { 1, 0 }, { 1, 0 } };

		setitimer(ITIMER_REAL, &it, NULL);
	}
}

static void print_change_lines(const cJSON *event)
{
	const cJSON *data = cJSON_GetObjectItemCaseSensitive(event, "data");
	const cJSON *a, *gone;
	double seq;

	cJSON_ArrayForEach(a, cJSON_GetObjectItemCaseSensitive(data, "agents")) {
		if (json_num(event, "seq", &seq))
			print_number(stdout, seq);
		putchar(' ');
		print_agent_row(a);
	}
	cJSON_ArrayForEach(gone, cJSON_GetObjectItemCaseSensitive(data, "removed"))
		if (cJSON_IsString(gone))
			printf("- %s removed\n", gone->valuestring);
}

static int run_floor(struct ctl *ctl, const struct command *cmd,
                     int argc, char **argv)
{
	bool live = !ctl->json && !ctl->watch && isatty(STDOUT_FILENO);
	cJSON *floor = NULL;
	int q;

	(void)cmd; (void)argc; (void)argv;
	q = get_ready(ctl, ctl->watch || live, &floor);
	if (!floor)
		return q;
	if (!ctl->watch && !live) {
		(ctl->json ? show_json : print_table)(floor);
		cJSON_Delete(floor);
		return EXIT_SUCCESS;
	}
	setup_signals(ctl, live);
	if (live)
		fputs("\033[H\033[2J", stdout), print_table(floor);
	else if (!ctl->json)
		print_table(floor);
	fflush(stdout);
	for (;;) {
		cJSON *event;

		q = rpc_next_event(ctl->rpc, &event);
		if (q == -EINTR && !stop_signal) {
			if (live) {
				fputs("\033[H\033[2J", stdout);
				print_table(floor);
				fflush(stdout);
			}
			continue;
		}
		if (q < 0) {
			cJSON_Delete(floor);
			return ctl_rpc_failure(ctl, q);
		}
		if (strcmp(or_dash(json_str(event, "type")), "floor.changed") == 0) {
			const cJSON *data = cJSON_GetObjectItemCaseSensitive(event,
			                                                     "data");

			apply_change(floor, data);
			if (live) {
				fputs("\033[H\033[2J", stdout);
				print_table(floor);
			} else if (ctl->json) {
				show_json(event);
			} else {
				print_change_lines(event);
			}
		}
		cJSON_Delete(event);
		if (fflush(stdout) != 0) {
			cJSON_Delete(floor);
			return fail("cannot write output: %s", strerror(errno));
		}
	}
}

const struct command floor_commands[] = {
	{ "floor", "", "every agent on the bus: a live table (--json: one snapshot, --watch: the changes)", 0, 0, .run = run_floor },
	{ 0 },
};
