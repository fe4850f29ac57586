/* Unit tests for the floor: values in, views and totals out; deletion;
 * a value that is not JSON; the unreachable mark after three heartbeats,
 * on a tick with no message, and its end when the agent speaks again. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "floor.h"
#include "tap.h"

#define HB 5000

static const char *state_of(const cJSON *views, const char *agent)
{
	const cJSON *v;

	cJSON_ArrayForEach(v, views) {
		const cJSON *a = cJSON_GetObjectItemCaseSensitive(v, "agent");
		const cJSON *s = cJSON_GetObjectItemCaseSensitive(v, "state");

		if (cJSON_IsString(a) && strcmp(a->valuestring, agent) == 0)
			return cJSON_IsString(s) ? s->valuestring : "?";
	}
	return NULL;
}

static double total(const struct floor *f, const char *state)
{
	cJSON *t = floor_totals_json(f);
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(t, state);
	double n = cJSON_IsNumber(v) ? v->valuedouble : 0;

	cJSON_Delete(t);
	return n;
}

static int put(struct floor *f, const char *key, const char *state,
	       unsigned long long seen, unsigned long long now, cJSON **ch)
{
	char text[256];
	cJSON *removed = cJSON_CreateArray();
	int r;

	snprintf(text, sizeof(text), "{\"agent\":\"%s\",\"state\":\"%s\","
		 "\"seen\":%llu,\"heartbeat\":%d}", key, state, seen, HB);
	*ch = cJSON_CreateArray();
	r = floor_update(f, key, text, now, *ch, removed);
	cJSON_Delete(removed);
	return r;
}

static void test_values_views_totals(void)
{
	struct tap_case c = { 0 };
	struct floor *f = NULL;
	cJSON *ch, *all;

	floor_new(&f, HB);
	if (put(f, "bob", "Available", 1000, 1000, &ch) != 1 ||
	    !state_of(ch, "bob"))
		tap_fail(&c, "a new agent is not a change\n");
	cJSON_Delete(ch);
	put(f, "alice", "Busy", 1000, 1000, &ch);
	cJSON_Delete(ch);
	put(f, "carol", "Available", 1000, 1000, &ch);
	cJSON_Delete(ch);
	if (floor_count(f) != 3)
		tap_fail(&c, "%u agents, expected 3\n", floor_count(f));
	if (total(f, "Available") != 2 || total(f, "Busy") != 1)
		tap_fail(&c, "totals wrong\n");
	all = floor_agents_json(f);
	/* by name */
	if (strcmp(cJSON_GetObjectItemCaseSensitive(cJSON_GetArrayItem(all, 0),
						    "agent")->valuestring,
		   "alice") != 0)
		tap_fail(&c, "agents not sorted by name\n");
	cJSON_Delete(all);
	put(f, "alice", "AfterContactWork", 1000, 1000, &ch);
	if (strcmp(state_of(ch, "alice") ? state_of(ch, "alice") : "",
		   "AfterContactWork") != 0 || cJSON_GetArraySize(ch) != 1)
		tap_fail(&c, "an update is not one changed view\n");
	cJSON_Delete(ch);
	if (total(f, "Busy") != 0 || total(f, "AfterContactWork") != 1)
		tap_fail(&c, "totals not moved by an update\n");
	/* a heartbeat (only seen is new) is no change */
	if (put(f, "alice", "AfterContactWork", 6000, 6000, &ch) != 0 ||
	    cJSON_GetArraySize(ch) != 0)
		tap_fail(&c, "a heartbeat is a change\n");
	cJSON_Delete(ch);
	floor_free(f);
	tap_report("values become views, by name, with totals", &c);
}

static void test_delete_and_garbage(void)
{
	struct tap_case c = { 0 };
	struct floor *f = NULL;
	cJSON *ch = cJSON_CreateArray(), *rm = cJSON_CreateArray(), *x;

	floor_new(&f, HB);
	put(f, "bob", "Available", 1000, 1000, &x);
	cJSON_Delete(x);
	if (floor_update(f, "bob", "not json", 1000, ch, rm) != -EINVAL)
		tap_fail(&c, "a value that is not JSON was taken\n");
	if (floor_update(f, "bob", "[1,2]", 1000, ch, rm) != -EINVAL)
		tap_fail(&c, "a value that is not an object was taken\n");
	if (total(f, "Available") != 1)
		tap_fail(&c, "a bad value changed what the floor had\n");
	if (floor_update(f, "nobody", NULL, 1000, ch, rm) != 0)
		tap_fail(&c, "deleting an unknown key is a change\n");
	if (floor_update(f, "bob", NULL, 1000, ch, rm) != 1 ||
	    cJSON_GetArraySize(rm) != 1 || floor_count(f) != 0)
		tap_fail(&c, "a deletion did not remove the agent\n");
	cJSON_Delete(ch);
	cJSON_Delete(rm);
	floor_free(f);
	tap_report("deletions, and values that are not JSON objects", &c);
}

static void test_unreachable(void)
{
	struct tap_case c = { 0 };
	struct floor *f = NULL;
	cJSON *ch;

	floor_new(&f, HB);
	put(f, "bob", "Available", 10000, 10000, &ch);
	cJSON_Delete(ch);
	ch = cJSON_CreateArray();
	/* three heartbeats is still reachable */
	if (floor_tick(f, 10000 + 3 * HB, ch) != 0)
		tap_fail(&c, "unreachable at exactly three heartbeats\n");
	if (floor_tick(f, 10001 + 3 * HB, ch) != 1 ||
	    strcmp(state_of(ch, "bob") ? state_of(ch, "bob") : "",
		   "Unreachable") != 0)
		tap_fail(&c, "not unreachable past three heartbeats\n");
	cJSON_Delete(ch);
	if (total(f, "Unreachable") != 1 || total(f, "Available") != 0)
		tap_fail(&c, "an unreachable agent counted in its last state\n");
	ch = floor_agents_json(f);
	if (!cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(
		    cJSON_GetArrayItem(ch, 0), "unreachable")) ||
	    strcmp(cJSON_GetObjectItemCaseSensitive(cJSON_GetArrayItem(ch, 0),
						    "lastState")->valuestring,
		   "Available") != 0)
		tap_fail(&c, "the view has no mark or last state\n");
	cJSON_Delete(ch);
	ch = cJSON_CreateArray();
	if (floor_tick(f, 20000 + 3 * HB, ch) != 0)
		tap_fail(&c, "a second tick flipped again\n");
	cJSON_Delete(ch);
	/* it speaks again */
	put(f, "bob", "Break", 40000, 40000, &ch);
	if (strcmp(state_of(ch, "bob") ? state_of(ch, "bob") : "", "Break"))
		tap_fail(&c, "a fresh value left it unreachable\n");
	cJSON_Delete(ch);
	floor_free(f);
	tap_report("unreachable after three heartbeats, on a tick", &c);
}

int main(void)
{
	tap_plan(3);
	test_values_views_totals();
	test_delete_and_garbage();
	test_unreachable();
	return tap_exit();
}
