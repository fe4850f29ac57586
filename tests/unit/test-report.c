/* Unit tests for the agents report: the query over rows written by the
 * store's own writers (store_journal_add, store_contact_put) into a real
 * SQLite file, and the rows-to-JSON half that serves both back ends:
 * malformed rows refused, users and states in byte order. Links the
 * report, the store and what the store needs. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "report.h"
#include "store.h"
#include "tap.h"

#define T0 1767600000000ULL     /* 2026-01-05 08:00:00 UTC */
#define SEC 1000ULL

static char dir[] = "/tmp/ccpd-report-XXXXXX";
static char path[256];

static void journal(struct tap_case *c, struct store *st, uint64_t t,
		    const char *type, const char *state, const char *cid)
{
	struct store_journal_row row = {
		.time = T0 + t, .instance = "00c0ffee00c0ffee", .type = type,
		.username = "alice", .actor = "alice", .state = state,
		.status = "Available", .contact_id = cid,
	};
	int r = store_journal_add(st, &row);

	if (r < 0)
		tap_fail(c, "store_journal_add %s: %d\n", type, r);
}

static double num(const cJSON *o, const char *k)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);

	return cJSON_IsNumber(v) ? v->valuedouble : -1;
}

static void expect(struct tap_case *c, const cJSON *o, const char *k,
		   double want)
{
	double got = num(o, k);

	if (got != want)
		tap_fail(c, "%s: %.4f, expected %.4f\n", k, got, want);
}

/* Available 0-10 s, PendingBusy 10-20 s, Busy 20-80 s, AfterContactWork
 * 80-100 s, Available 100-200 s; window [0, 200 s). Available 110 s, on
 * contacts 80 s: occupancy 80 / 190 = 0.42105 -> 0.4211 (basis points
 * (800000000 + 95000) / 190000 = 4211). Handle 60 + 20 = 80 s, ACW 20 s. */
static void test_rows_of_the_store(void)
{
	const char *id = "3f2b8c1e-9d4a-4e7b-a1c2-5d6e7f809a1b";
	struct tap_case c = { 0 };
	struct store *st = NULL;
	char err[256] = "";
	cJSON *contact, *rep = NULL, *a, *states;
	int r;

	if (store_open(&st, path, err, sizeof(err)) < 0) {
		printf("Bail out! cannot open %s: %s\n", path, err);
		exit(1);
	}
	journal(&c, st, 0, "agent.stateChange", "Available", NULL);
	journal(&c, st, 10 * SEC, "contact.incoming", "PendingBusy", id);
	journal(&c, st, 20 * SEC, "contact.connected", "Busy", id);
	journal(&c, st, 80 * SEC, "contact.ended", "AfterContactWork", id);
	journal(&c, st, 80 * SEC, "contact.acw", "AfterContactWork", id);
	journal(&c, st, 100 * SEC, "contact.destroyed", "Available", id);
	contact = cJSON_Parse("{\"contactId\": \"3f2b8c1e-9d4a-4e7b-a1c2-"
			      "5d6e7f809a1b\", \"direction\": \"inbound\","
			      " \"state\": \"destroyed\", \"holdDuration\": 0,"
			      " \"customer\": {\"uri\": \"sip:c@127.0.0.1\"},"
			      " \"timestamps\": {}}");
	cJSON *ts = cJSON_GetObjectItemCaseSensitive(contact, "timestamps");
	cJSON_AddNumberToObject(ts, "initiated", (double)(T0 + 10 * SEC));
	cJSON_AddNumberToObject(ts, "offered", (double)(T0 + 10 * SEC));
	cJSON_AddNumberToObject(ts, "connected", (double)(T0 + 20 * SEC));
	cJSON_AddNumberToObject(ts, "ended", (double)(T0 + 80 * SEC));
	cJSON_AddNumberToObject(ts, "acwEnded", (double)(T0 + 100 * SEC));
	r = store_contact_put(st, "00c0ffee00c0ffee", "alice", contact);
	if (r < 0)
		tap_fail(&c, "store_contact_put: %d\n", r);
	cJSON_Delete(contact);

	r = report_agents(st, T0, T0 + 200 * SEC, T0 + 1000 * SEC, &rep);
	if (r < 0) {
		tap_fail(&c, "report_agents: %d\n", r);
	} else if (cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(
			   rep, "agents")) != 1) {
		tap_fail(&c, "not one agent\n");
	} else {
		a = cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(
			rep, "agents"), 0);
		states = cJSON_GetObjectItemCaseSensitive(a, "timeInStateMs");
		expect(&c, a, "handled", 1);
		expect(&c, a, "missed", 0);
		expect(&c, a, "handleCount", 1);
		expect(&c, a, "averageHandleMs", 80 * SEC);
		expect(&c, a, "averageAcwMs", 20 * SEC);
		expect(&c, a, "onContactMs", 80 * SEC);
		expect(&c, a, "availableMs", 110 * SEC);
		expect(&c, a, "occupancy", 0.4211);
		expect(&c, states, "Available", 110 * SEC);
		expect(&c, states, "PendingBusy", 10 * SEC);
		expect(&c, states, "Busy", 60 * SEC);
		expect(&c, states, "AfterContactWork", 20 * SEC);
		if (cJSON_GetArraySize(states) != 4)
			tap_fail(&c, "%d states\n", cJSON_GetArraySize(states));
	}
	cJSON_Delete(rep);
	/* the state a desk is in now counts up to now, not to the window's
	 * end: at 150 s, Available 10 + 50 s */
	r = report_agents(st, T0, T0 + 200 * SEC, T0 + 150 * SEC, &rep);
	a = r < 0 ? NULL : cJSON_GetArrayItem(
		cJSON_GetObjectItemCaseSensitive(rep, "agents"), 0);
	if (!a)
		tap_fail(&c, "report up to now: %d\n", r);
	else
		expect(&c, a, "availableMs", 60 * SEC);
	cJSON_Delete(rep);
	store_close(st);
	tap_report("the query over rows the store's writers wrote", &c);
}

static void test_rows_to_json(void)
{
	struct tap_case c = { 0 };
	struct report *rep = NULL;
	const char *bad[][4] = {
		{ "amy", "nonsense", NULL, "1" },
		{ "amy", "handled", NULL, "1x" },
		{ "amy", "handled", NULL, "-1" },
		{ "amy", "handled", NULL, NULL },
		{ "amy", "state", NULL, "5" },
		{ NULL, "handled", NULL, "1" },
	};
	cJSON *o, *agents, *s;
	char *text;
	size_t i;

	if (report_new(&rep, 1, 2) < 0) {
		printf("Bail out! out of memory\n");
		exit(1);
	}
	for (i = 0; i < ARRAY_SIZE(bad); i++)
		if (report_add_row(rep, bad[i][0], bad[i][1], bad[i][2],
				   bad[i][3]) != -EINVAL)
			tap_fail(&c, "row %zu was taken\n", i);
	/* out of order, as a back end may give them */
	if (report_add_row(rep, "zed", "state", "Lunch", "5") < 0 ||
	    report_add_row(rep, "amy", "state", "Offline", "3") < 0 ||
	    report_add_row(rep, "amy", "state", "Available", "4") < 0 ||
	    report_add_row(rep, "amy", "state", "Busy", "2") < 0 ||
	    report_add_row(rep, "Zoe", "missed", NULL, "2") < 0 ||
	    report_add_row(rep, "amy", "occupancyBp", NULL, "3333") < 0 ||
	    report_add_row(rep, "zed", "occupancyBp", NULL, NULL) < 0)
		tap_fail(&c, "a good row was refused\n");
	o = report_to_json(rep);
	text = cJSON_PrintUnformatted(o);
	agents = cJSON_GetObjectItemCaseSensitive(o, "agents");
	if (cJSON_GetArraySize(agents) != 3 ||
	    strcmp(cJSON_GetArrayItem(agents, 0)->child->valuestring,
		   "Zoe") != 0 ||
	    strcmp(cJSON_GetArrayItem(agents, 1)->child->valuestring,
		   "amy") != 0 ||
	    strcmp(cJSON_GetArrayItem(agents, 2)->child->valuestring,
		   "zed") != 0)
		tap_fail(&c, "agents not in byte order: %s\n", text);
	s = cJSON_GetObjectItemCaseSensitive(cJSON_GetArrayItem(agents, 1),
					     "timeInStateMs");
	if (!s || !s->child || strcmp(s->child->string, "Available") ||
	    !s->child->next || strcmp(s->child->next->string, "Busy") ||
	    !s->child->next->next ||
	    strcmp(s->child->next->next->string, "Offline"))
		tap_fail(&c, "states not in byte order: %s\n", text);
	expect(&c, cJSON_GetArrayItem(agents, 1), "occupancy", 0.3333);
	if (!cJSON_IsNull(cJSON_GetObjectItemCaseSensitive(
		    cJSON_GetArrayItem(agents, 2), "occupancy")))
		tap_fail(&c, "zed's occupancy is not null: %s\n", text);
	expect(&c, cJSON_GetArrayItem(agents, 0), "missed", 2);
	cJSON_free(text);
	cJSON_Delete(o);
	report_free(rep);
	tap_report("rows to JSON: bad rows refused, byte order", &c);
}

int main(void)
{
	char side[300];

	if (!mkdtemp(dir)) {
		printf("Bail out! mkdtemp: %s\n", strerror(errno));
		return 1;
	}
	snprintf(path, sizeof(path), "%s/ccpd.db", dir);
	tap_plan(2);
	test_rows_of_the_store();
	test_rows_to_json();
	unlink(path);
	snprintf(side, sizeof(side), "%s-wal", path);
	unlink(side);
	snprintf(side, sizeof(side), "%s-shm", path);
	unlink(side);
	rmdir(dir);
	return tap_exit();
}
