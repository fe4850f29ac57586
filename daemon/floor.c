/* The floor: the bucket's latest value of every agent, the totals per
 * state, and the unreachable mark for an agent whose heartbeat is old.
 * A few hundred agents: a sorted array, found by binary search. */
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "floor.h"
#include "json.h"

#define UNREACHABLE "Unreachable"

struct agent_row {
	char *key;
	cJSON *snap;            /* the value, parsed */
	bool unreachable;
};

struct floor {
	struct agent_row *rows;
	unsigned n, cap;
	uint64_t default_hb_ms;
};

int floor_new(struct floor **ret, uint64_t default_hb_ms)
{
	struct floor *f = calloc(1, sizeof(*f));

	if (!f)
		return -ENOMEM;
	f->default_hb_ms = default_hb_ms;
	*ret = f;
	return 0;
}

struct floor *floor_free(struct floor *f)
{
	unsigned i;

	if (!f)
		return NULL;
	for (i = 0; i < f->n; i++) {
		free(f->rows[i].key);
		cJSON_Delete(f->rows[i].snap);
	}
	free(f->rows);
	free(f);
	return NULL;
}

unsigned floor_count(const struct floor *f)
{
	return f->n;
}

/* The index of key, or where it would go (*found false). */
static unsigned find(const struct floor *f, const char *key, bool *found)
{
	unsigned lo = 0, hi = f->n;

	while (lo < hi) {
		unsigned mid = (lo + hi) / 2;
		int c = strcmp(f->rows[mid].key, key);

		if (c == 0) {
			*found = true;
			return mid;
		}
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	*found = false;
	return lo;
}

static double num(const cJSON *o, const char *name, double def)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, name);

	return cJSON_IsNumber(v) ? v->valuedouble : def;
}

static const char *str(const cJSON *o, const char *name)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, name);

	return cJSON_IsString(v) ? v->valuestring : NULL;
}

static bool is_unreachable(const struct floor *f, const cJSON *snap,
			   uint64_t now)
{
	double hb = num(snap, "heartbeat", (double)f->default_hb_ms);
	double seen = num(snap, "seen", 0);

	if (hb <= 0)
		hb = (double)f->default_hb_ms;
	return (double)now > seen + 3 * hb;
}

/* What a client sees of one agent: the snapshot, named, with the
 * unreachable mark; an unreachable agent's state is Unreachable and the
 * last one it told is lastState. */
static cJSON *view(const struct agent_row *r)
{
	cJSON *o = cJSON_Duplicate(r->snap, 1);
	const char *state;

	if (!o)
		return NULL;
	if (!cJSON_GetObjectItemCaseSensitive(o, "agent"))
		cJSON_AddStringToObject(o, "agent", r->key);
	cJSON_AddStringToObject(o, "key", r->key);
	cJSON_AddBoolToObject(o, "unreachable", r->unreachable);
	if (r->unreachable) {
		state = str(r->snap, "state");
		json_add_str_or_null(o, "lastState", state);
		cJSON_DeleteItemFromObjectCaseSensitive(o, "state");
		cJSON_AddStringToObject(o, "state", UNREACHABLE);
	}
	return o;
}

int floor_update(struct floor *f, const char *key, const char *value,
		 uint64_t now, cJSON *changed, cJSON *removed)
{
	struct agent_row *r;
	cJSON *snap = NULL;
	bool found;
	unsigned i;

	if (value) {
		snap = cJSON_Parse(value);
		if (!cJSON_IsObject(snap)) {
			cJSON_Delete(snap);
			return -EINVAL;
		}
	}
	i = find(f, key, &found);
	if (!snap) {
		if (!found)
			return 0;
		free(f->rows[i].key);
		cJSON_Delete(f->rows[i].snap);
		memmove(&f->rows[i], &f->rows[i + 1],
			(f->n - i - 1) * sizeof(*f->rows));
		f->n--;
		cJSON_AddItemToArray(removed, cJSON_CreateString(key));
		return 1;
	}
	if (!found) {
		if (f->n == f->cap) {
			unsigned cap = f->cap ? f->cap * 2 : 64;
			struct agent_row *rows = realloc(f->rows,
							 cap * sizeof(*rows));

			if (!rows) {
				cJSON_Delete(snap);
				return -ENOMEM;
			}
			f->rows = rows;
			f->cap = cap;
		}
		memmove(&f->rows[i + 1], &f->rows[i],
			(f->n - i) * sizeof(*f->rows));
		f->n++;
		f->rows[i].key = strdup(key);
		f->rows[i].snap = NULL;
		if (!f->rows[i].key) {
			memmove(&f->rows[i], &f->rows[i + 1],
				(f->n - i - 1) * sizeof(*f->rows));
			f->n--;
			cJSON_Delete(snap);
			return -ENOMEM;
		}
	}
	r = &f->rows[i];
	cJSON_Delete(r->snap);
	r->snap = snap;
	r->unreachable = is_unreachable(f, snap, now);
	cJSON_AddItemToArray(changed, view(r));
	return 1;
}

int floor_tick(struct floor *f, uint64_t now, cJSON *changed)
{
	unsigned i;
	int n = 0;

	for (i = 0; i < f->n; i++) {
		struct agent_row *r = &f->rows[i];
		bool u = is_unreachable(f, r->snap, now);

		if (u == r->unreachable)
			continue;
		r->unreachable = u;
		cJSON_AddItemToArray(changed, view(r));
		n++;
	}
	return n;
}

cJSON *floor_totals_json(const struct floor *f)
{
	cJSON *t = cJSON_CreateObject();
	unsigned i;

	for (i = 0; t && i < f->n; i++) {
		const char *state = f->rows[i].unreachable ? UNREACHABLE :
				    str(f->rows[i].snap, "state");
		cJSON *v;

		if (!state)
			state = "Unknown";
		v = cJSON_GetObjectItemCaseSensitive(t, state);
		if (v)
			cJSON_SetNumberValue(v, v->valuedouble + 1);
		else
			cJSON_AddNumberToObject(t, state, 1);
	}
	return t;
}

cJSON *floor_agents_json(const struct floor *f)
{
	cJSON *a = cJSON_CreateArray();
	unsigned i;

	for (i = 0; a && i < f->n; i++)
		cJSON_AddItemToArray(a, view(&f->rows[i]));
	return a;
}

cJSON *floor_json(const struct floor *f)
{
	cJSON *o = cJSON_CreateObject();

	if (!o)
		return NULL;
	cJSON_AddItemToObject(o, "agents", floor_agents_json(f));
	cJSON_AddItemToObject(o, "totals", floor_totals_json(f));
	return o;
}
