/* Unit tests for the metrics arithmetic, on journals built by hand: a day
 * of one agent with every kind of contact and a restart of ccpd, ranges
 * that cut through it, one user's figures, a clock set back, and the
 * Prometheus rendering. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "metrics.h"
#include "tap.h"

#define T0 1764194000000ULL

struct r {
	unsigned long long t;      /* ms after T0 */
	const char *type, *user, *state, *instance, *cid;
};

#define SC(t, u, s)       { t, "agent.stateChange", u, s, "i1", NULL }
#define EV(t, ty, u, s, c) { t, "contact." ty, u, s, "i1", c }

/* alice's day. The comments give the effective state that follows. */
static const struct r day[] = {
	{ 0, "daemon.start", "system", "Error", "i1", NULL },
	SC(1000, "system", "Offline"),
	{ 5000, "desk.user", "alice", "Offline", "i1", NULL },
	SC(6000, "alice", "Available"),
	/* c-1: inbound, accepted, 30 s of talk, 10 s of ACW */
	SC(10000, "alice", "PendingBusy"),
	EV(10000, "incoming", "alice", "PendingBusy", "c-1"),
	EV(12000, "connecting", "alice", "PendingBusy", "c-1"),
	SC(12500, "alice", "Busy"),
	EV(12500, "connected", "alice", "Busy", "c-1"),
	SC(42500, "alice", "AfterContactWork"),
	EV(42500, "ended", "alice", "AfterContactWork", "c-1"),
	EV(42500, "acw", "alice", "AfterContactWork", "c-1"),
	EV(52500, "destroyed", "alice", "AfterContactWork", "c-1"),
	SC(52500, "alice", "Available"),
	/* c-2: rings out */
	SC(60000, "alice", "PendingBusy"),
	EV(60000, "incoming", "alice", "PendingBusy", "c-2"),
	SC(90000, "alice", "MissedCallAgent"),
	EV(90000, "missed", "alice", "MissedCallAgent", "c-2"),
	EV(90000, "destroyed", "alice", "MissedCallAgent", "c-2"),
	SC(95000, "alice", "Available"),
	/* c-3: rejected */
	SC(100000, "alice", "PendingBusy"),
	EV(100000, "incoming", "alice", "PendingBusy", "c-3"),
	SC(103000, "alice", "Available"),
	EV(103000, "rejected", "alice", "Available", "c-3"),
	EV(103000, "destroyed", "alice", "Available", "c-3"),
	/* c-4: a dial, 20 s of talk, 5 s of ACW */
	SC(110000, "alice", "CallingCustomer"),
	EV(110000, "connecting", "alice", "CallingCustomer", "c-4"),
	SC(115000, "alice", "Busy"),
	EV(115000, "connected", "alice", "Busy", "c-4"),
	SC(135000, "alice", "AfterContactWork"),
	EV(135000, "ended", "alice", "AfterContactWork", "c-4"),
	EV(135000, "acw", "alice", "AfterContactWork", "c-4"),
	EV(140000, "destroyed", "alice", "AfterContactWork", "c-4"),
	SC(140000, "alice", "Available"),
	SC(145000, "alice", "Break"),
	/* c-5: refused, never rang */
	EV(150000, "refused", "alice", "Break", "c-5"),
	EV(150000, "destroyed", "alice", "Break", "c-5"),
	/* ccpd stops; the time until it starts again is nobody's */
	{ 200000, "daemon.stop", "alice", NULL, "i1", NULL },
	{ 300000, "daemon.start", "system", "Error", "i2", NULL },
	{ 301000, "agent.stateChange", "system", "Offline", "i2", NULL },
};

#define NOW (T0 + 400000)

static struct metrics *run(const struct r *rows, size_t n,
			   unsigned long long from, unsigned long long to,
			   const char *user)
{
	struct metrics *m;
	size_t i;

	if (metrics_new(&m, T0 + from, T0 + to, user) < 0)
		return NULL;
	for (i = 0; i < n; i++) {
		struct metrics_row row = {
			.time = T0 + rows[i].t, .type = rows[i].type,
			.user = rows[i].user, .state = rows[i].state,
			.instance = rows[i].instance,
			.contact_id = rows[i].cid,
		};

		metrics_add(m, &row);
	}
	return m;
}

static const cJSON *agent(const cJSON *res, const char *user)
{
	const cJSON *a;

	cJSON_ArrayForEach(a, cJSON_GetObjectItem(res, "agents"))
		if (strcmp(cJSON_GetStringValue(cJSON_GetObjectItem(
				a, "username")), user) == 0)
			return a;
	return NULL;
}

static double num(const cJSON *o, const char *path)
{
	char buf[128], *tok, *save = NULL;
	const cJSON *v = o;

	snprintf(buf, sizeof(buf), "%s", path);
	for (tok = strtok_r(buf, ".", &save); tok && v;
	     tok = strtok_r(NULL, ".", &save))
		v = cJSON_GetObjectItemCaseSensitive(v, tok);
	return cJSON_IsNumber(v) ? v->valuedouble : -1;
}

struct want {
	const char *path;
	double v;
};

static void expect(struct tap_case *c, const cJSON *a, const char *user,
		   const struct want *w, size_t n)
{
	size_t i;

	if (!a) {
		tap_fail(c, "no figures for %s\n", user);
		return;
	}
	for (i = 0; i < n; i++) {
		double got = num(a, w[i].path);

		if (got != w[i].v)
			tap_fail(c, "%s %s = %.0f, expected %.0f\n", user,
				 w[i].path, got, w[i].v);
	}
}

static void test_day(void)
{
	static const struct want alice[] = {
		{ "timeInStateMs.Offline", 1000 },
		{ "timeInStateMs.Available", 4000 + 7500 + 5000 + 7000 + 5000 },
		{ "timeInStateMs.PendingBusy", 2500 + 30000 + 3000 },
		{ "timeInStateMs.Busy", 30000 + 20000 },
		{ "timeInStateMs.AfterContactWork", 10000 + 5000 },
		{ "timeInStateMs.MissedCallAgent", 5000 },
		{ "timeInStateMs.CallingCustomer", 5000 },
		{ "timeInStateMs.Break", 55000 },
		{ "contacts.offered", 3 },
		{ "contacts.handled", 2 },
		{ "contacts.missed", 1 },
		{ "contacts.rejected", 1 },
		{ "contacts.refused", 1 },
		{ "contacts.abandoned", 0 },
		{ "contacts.outbound", 1 },
		{ "contacts.transferred", 0 },
		{ "handleTime.count", 2 },
		{ "handleTime.totalMs", 40000 + 25000 },
		{ "handleTime.averageMs", 32500 },
		{ "handleTime.maxMs", 40000 },
		{ "talkTime.averageMs", 25000 },
		{ "acwTime.averageMs", 7500 },
		{ "acwTime.maxMs", 10000 },
		{ "holdTime.count", 2 },
		{ "holdTime.maxMs", 0 },
	};
	static const struct want system_[] = {
		{ "timeInStateMs.Error", 1000 + 1000 },
		{ "timeInStateMs.Offline", 4000 + 99000 },
		{ "contacts.offered", 0 },
	};
	struct tap_case c = { 0 };
	struct metrics *m = run(day, ARRAY_SIZE(day), 0, 1000000, NULL);
	cJSON *res = m ? metrics_to_json(m, NOW) : NULL;
	const cJSON *a = agent(res, "alice"), *h;

	expect(&c, a, "alice", alice, ARRAY_SIZE(alice));
	expect(&c, agent(res, "system"), "system", system_,
	       ARRAY_SIZE(system_));
	/* the history: every change of alice's effective state, in order */
	h = cJSON_GetObjectItem(a, "history");
	if (cJSON_GetArraySize(h) != 15)
		tap_fail(&c, "alice's history has %d changes, expected 15\n",
			 cJSON_GetArraySize(h));
	else if (num(cJSON_GetArrayItem(h, 0), "time") != T0 + 6000 ||
		 strcmp(cJSON_GetStringValue(cJSON_GetObjectItem(
			 cJSON_GetArrayItem(h, 0), "oldState")), "Offline") ||
		 strcmp(cJSON_GetStringValue(cJSON_GetObjectItem(
			 cJSON_GetArrayItem(h, 14), "newState")), "Break"))
		tap_fail(&c, "alice's history starts or ends wrong\n");
	cJSON_Delete(res);
	metrics_free(m);
	tap_report("a day: time in states, counters, handle and ACW", &c);
}

/* A range that starts in the middle of a call and ends during its ACW. */
static void test_range_cuts(void)
{
	static const struct want alice[] = {
		{ "timeInStateMs.Busy", 42500 - 20000 },
		{ "timeInStateMs.AfterContactWork", 50000 - 42500 },
		{ "contacts.handled", 0 },
		{ "contacts.offered", 0 },
		{ "handleTime.count", 0 },
	};
	struct tap_case c = { 0 };
	struct metrics *m = run(day, ARRAY_SIZE(day), 20000, 50000, NULL);
	cJSON *res = m ? metrics_to_json(m, NOW) : NULL;
	const cJSON *a = agent(res, "alice");

	expect(&c, a, "alice", alice, ARRAY_SIZE(alice));
	if (a && num(a, "timeInStateMs.Available") != -1)
		tap_fail(&c, "time outside the range was counted\n");
	if (agent(res, "system"))
		tap_fail(&c, "system has figures inside alice's range\n");
	cJSON_Delete(res);
	metrics_free(m);
	tap_report("a range cutting through a call", &c);
}

/* Handle time counts where the contact is cleared; a range holding the
 * clearing but not the start still knows the start. */
static void test_range_clearing(void)
{
	static const struct want alice[] = {
		{ "handleTime.count", 1 },
		{ "handleTime.totalMs", 40000 },
		{ "acwTime.totalMs", 10000 },
		{ "contacts.handled", 0 },
	};
	struct tap_case c = { 0 };
	struct metrics *m = run(day, ARRAY_SIZE(day), 50000, 55000, NULL);
	cJSON *res = m ? metrics_to_json(m, NOW) : NULL;

	expect(&c, agent(res, "alice"), "alice", alice, ARRAY_SIZE(alice));
	cJSON_Delete(res);
	metrics_free(m);
	tap_report("handle time counted at the clearing", &c);
}

static void test_one_user(void)
{
	struct tap_case c = { 0 };
	struct metrics *m = run(day, ARRAY_SIZE(day), 0, 1000000, "alice");
	cJSON *res = m ? metrics_to_json(m, NOW) : NULL;

	if (cJSON_GetArraySize(cJSON_GetObjectItem(res, "agents")) != 1 ||
	    !agent(res, "alice"))
		tap_fail(&c, "the figures are not alice's alone\n");
	cJSON_Delete(res);
	metrics_free(m);
	tap_report("one user's figures", &c);
}

/* The open state counts up to now, and reading does not count it twice. */
static void test_open_state(void)
{
	static const struct r rows[] = {
		{ 0, "desk.user", "bob", "Available", "i1", NULL },
	};
	struct tap_case c = { 0 };
	struct metrics *m = run(rows, 1, 0, 1000000, NULL);
	cJSON *a = m ? metrics_to_json(m, T0 + 3000) : NULL;
	cJSON *b = m ? metrics_to_json(m, T0 + 5000) : NULL;
	struct metrics_row later = { T0 + 6000, "agent.stateChange", "bob",
				     "Break", "i1", NULL };
	cJSON *d;

	if (num(agent(a, "bob"), "timeInStateMs.Available") != 3000 ||
	    num(agent(b, "bob"), "timeInStateMs.Available") != 5000)
		tap_fail(&c, "open state read as %.0f then %.0f\n",
			 num(agent(a, "bob"), "timeInStateMs.Available"),
			 num(agent(b, "bob"), "timeInStateMs.Available"));
	if (m)
		metrics_add(m, &later);
	d = m ? metrics_to_json(m, T0 + 7000) : NULL;
	if (num(agent(d, "bob"), "timeInStateMs.Available") != 6000 ||
	    num(agent(d, "bob"), "timeInStateMs.Break") != 1000)
		tap_fail(&c, "after a later row: Available %.0f, Break %.0f\n",
			 num(agent(d, "bob"), "timeInStateMs.Available"),
			 num(agent(d, "bob"), "timeInStateMs.Break"));
	cJSON_Delete(a);
	cJSON_Delete(b);
	cJSON_Delete(d);
	metrics_free(m);
	tap_report("the open state, read twice, then continued", &c);
}

static void test_clock_back(void)
{
	static const struct r rows[] = {
		{ 10000, "desk.user", "bob", "Available", "i1", NULL },
		{ 5000, "agent.stateChange", "bob", "Break", "i1", NULL },
		{ 12000, "agent.stateChange", "bob", "Offline", "i1", NULL },
	};
	struct tap_case c = { 0 };
	struct metrics *m = run(rows, ARRAY_SIZE(rows), 0, 12000, NULL);
	cJSON *res = m ? metrics_to_json(m, T0 + 20000) : NULL;
	const cJSON *a = agent(res, "bob");

	/* Available got no time; Break runs from 10000 (the clock never
	 * goes back for the arithmetic) to 12000 */
	if (num(a, "timeInStateMs.Break") != 2000 ||
	    num(a, "timeInStateMs.Available") != -1)
		tap_fail(&c, "Break %.0f, Available %.0f\n",
			 num(a, "timeInStateMs.Break"),
			 num(a, "timeInStateMs.Available"));
	cJSON_Delete(res);
	metrics_free(m);
	tap_report("a clock set back counts nothing twice", &c);
}

static void test_prometheus(void)
{
	static const struct r rows[] = {
		{ 0, "desk.user", "a\"b\\c", "Available", "i1", NULL },
		SC(1500, "a\"b\\c", "Busy"),
	};
	static const char *const lines[] = {
		"# TYPE ccpd_agent_state gauge\n",
		"ccpd_agent_state{agent=\"a\\\"b\\\\c\",state=\"Busy\"} 1\n",
		"# TYPE ccpd_agent_state_seconds_total counter\n",
		"ccpd_agent_state_seconds_total{agent=\"a\\\"b\\\\c\","
		"state=\"Available\"} 1.500\n",
		"ccpd_agent_state_seconds_total{agent=\"a\\\"b\\\\c\","
		"state=\"Busy\"} 0.250\n",
		"ccpd_contacts_total{agent=\"a\\\"b\\\\c\",outcome=\"handled\"} "
		"0\n",
		"# TYPE ccpd_contact_handle_seconds summary\n",
		"ccpd_contact_handle_seconds_count{agent=\"a\\\"b\\\\c\"} 0\n",
		"ccpd_contact_acw_seconds_max{agent=\"a\\\"b\\\\c\"} 0.000\n",
	};
	struct tap_case c = { 0 };
	struct metrics *m = run(rows, ARRAY_SIZE(rows), 0, 1000000, NULL);
	char *text = NULL, *p;
	size_t i;

	if (!m || metrics_prometheus(m, T0 + 1750, &text) < 0 || !text) {
		tap_fail(&c, "no text\n");
	} else {
		for (i = 0; i < ARRAY_SIZE(lines); i++)
			if (!strstr(text, lines[i]))
				tap_fail(&c, "missing: %s", lines[i]);
		/* every line is a comment or "name{labels} value" */
		for (p = text; *p; p = strchr(p, '\n') + 1) {
			if (*p != '#' && !strstr(p, "} "))
				tap_fail(&c, "malformed line: %.60s\n", p);
			if (!strchr(p, '\n'))
				break;
		}
	}
	free(text);
	metrics_free(m);
	tap_report("Prometheus text, labels escaped", &c);
}

int main(void)
{
	tap_plan(7);
	test_day();
	test_range_cuts();
	test_range_clearing();
	test_one_user();
	test_open_state();
	test_clock_back();
	test_prometheus();
	return tap_exit();
}
