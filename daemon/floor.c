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

struct hist_ev {
	char *agent;
	uint64_t t;
	char *old_state, *new_state;
};

#define HOUR_MS 3600000ULL

struct floor {
	struct agent_row *rows;
	unsigned n, cap;
	uint64_t default_hb_ms;
	struct hist_ev *hist;           /* oldest first */
	unsigned nhist, caphist;
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
	for (i = 0; i < f->nhist; i++) {
		free(f->hist[i].agent);
		free(f->hist[i].old_state);
		free(f->hist[i].new_state);
	}
	free(f->hist);
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

/* Whether two snapshots differ in nothing but seen. */
static bool same_but_seen(cJSON *a, cJSON *b)
{
	cJSON *sa = cJSON_DetachItemFromObjectCaseSensitive(a, "seen");
	cJSON *sb = cJSON_DetachItemFromObjectCaseSensitive(b, "seen");
	bool same = cJSON_Compare(a, b, 1);

	if (sa)
		cJSON_AddItemToObject(a, "seen", sa);
	if (sb)
		cJSON_AddItemToObject(b, "seen", sb);
	return same;
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
	if (found && same_but_seen(r->snap, snap) &&
	    r->unreachable == is_unreachable(f, snap, now)) {
		/* a heartbeat: kept, but nothing a viewer would see */
		cJSON_Delete(r->snap);
		r->snap = snap;
		return 0;
	}
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

const char *floor_state(const struct floor *f, const char *key)
{
	bool found;
	unsigned i = find(f, key, &found);

	if (!found)
		return NULL;
	return f->rows[i].unreachable ? UNREACHABLE :
	       str(f->rows[i].snap, "state");
}

static void hist_drop(struct hist_ev *e)
{
	free(e->agent);
	free(e->old_state);
	free(e->new_state);
}

int floor_hist_add(struct floor *f, const char *agent, uint64_t t,
		   const char *old_state, const char *new_state)
{
	struct hist_ev *e;
	unsigned at, drop = 0;

	if (f->nhist == f->caphist) {
		unsigned cap = f->caphist ? f->caphist * 2 : 256;
		struct hist_ev *h = realloc(f->hist, cap * sizeof(*h));

		if (!h)
			return -ENOMEM;
		f->hist = h;
		f->caphist = cap;
	}
	/* the stream's order is each desk's; keep them by time */
	at = f->nhist;
	while (at > 0 && f->hist[at - 1].t > t)
		at--;
	memmove(&f->hist[at + 1], &f->hist[at],
		(f->nhist - at) * sizeof(*f->hist));
	e = &f->hist[at];
	e->agent = strdup(agent);
	e->t = t;
	e->old_state = strdup(old_state ? old_state : "");
	e->new_state = strdup(new_state ? new_state : "");
	f->nhist++;
	if (!e->agent || !e->old_state || !e->new_state) {
		hist_drop(e);
		memmove(&f->hist[at], &f->hist[at + 1],
			(f->nhist - at - 1) * sizeof(*f->hist));
		f->nhist--;
		return -ENOMEM;
	}
	while (drop < f->nhist &&
	       f->hist[drop].t + HOUR_MS + 60000 < f->hist[f->nhist - 1].t)
		hist_drop(&f->hist[drop++]);
	if (drop) {
		memmove(f->hist, f->hist + drop,
			(f->nhist - drop) * sizeof(*f->hist));
		f->nhist -= drop;
	}
	return 0;
}

static void count(cJSON *totals, const char *state)
{
	cJSON *v = cJSON_GetObjectItemCaseSensitive(totals, state);

	if (v)
		cJSON_SetNumberValue(v, v->valuedouble + 1);
	else
		cJSON_AddNumberToObject(totals, state, 1);
}

static const struct floor *sort_floor;

/* by agent, then time (the index keeps equal times in their order) */
static int by_agent(const void *a, const void *b)
{
	const struct hist_ev *x = &sort_floor->hist[*(const unsigned *)a];
	const struct hist_ev *y = &sort_floor->hist[*(const unsigned *)b];
	int c = strcmp(x->agent, y->agent);

	if (c)
		return c;
	if (x->t != y->t)
		return x->t < y->t ? -1 : 1;
	return *(const unsigned *)a < *(const unsigned *)b ? -1 : 1;
}

/* The state at t of the agent whose changes are idx[0..n): that of its
 * last change before t, else the old state of its first one after. */
static const char *state_at(const struct floor *f, const unsigned *idx,
			    unsigned n, uint64_t t)
{
	const char *s = f->hist[idx[0]].old_state;
	unsigned i;

	for (i = 0; i < n && f->hist[idx[i]].t <= t; i++)
		s = f->hist[idx[i]].new_state;
	return s;
}

cJSON *floor_hist_json(const struct floor *f, uint64_t now, unsigned minutes)
{
	cJSON *points = cJSON_CreateArray(), **tot;
	uint64_t t0 = now - now % 60000 - (uint64_t)(minutes - 1) * 60000;
	unsigned *idx = calloc(f->nhist + 1, sizeof(*idx));
	bool *has_hist = calloc(f->n + 1, sizeof(*has_hist));
	unsigned k, i, g;

	tot = calloc(minutes, sizeof(*tot));
	if (!points || !idx || !has_hist || !tot) {
		cJSON_Delete(points);
		points = NULL;
		goto out;
	}
	for (k = 0; k < minutes; k++) {
		cJSON *p = cJSON_CreateObject();

		uint64_t t = k + 1 == minutes ? now : t0 + (uint64_t)k * 60000;

		if (!p)
			break;
		json_add_int(p, "t", (long long)t);
		tot[k] = cJSON_AddObjectToObject(p, "totals");
		cJSON_AddItemToArray(points, p);
	}
	for (i = 0; i < f->nhist; i++)
		idx[i] = i;
	sort_floor = f;
	qsort(idx, f->nhist, sizeof(*idx), by_agent);
	/* each agent of the history, over every point */
	for (g = 0; g < f->nhist; ) {
		const char *name = f->hist[idx[g]].agent;
		unsigned end = g;

		while (end < f->nhist && strcmp(f->hist[idx[end]].agent,
						name) == 0)
			end++;
		for (i = 0; i < f->n; i++) {
			const char *a = str(f->rows[i].snap, "agent");

			if (strcmp(a ? a : f->rows[i].key, name) == 0)
				has_hist[i] = true;
		}
		for (k = 0; k < minutes && tot[k]; k++) {
			uint64_t t = k + 1 == minutes ? now :
				     t0 + (uint64_t)k * 60000;
			const char *s = state_at(f, idx + g, end - g, t);

			if (k + 1 == minutes) {
				/* the last point is now: the floor knows best */
				continue;
			}
			count(tot[k], *s ? s : "Unknown");
		}
		g = end;
	}
	/* the last point is the floor as it is; the agents without a change
	 * in the history were in their present state all along */
	for (i = 0; i < f->n; i++) {
		const char *s = floor_state(f, f->rows[i].key);

		for (k = 0; k < minutes && tot[k]; k++)
			if (k + 1 == minutes || !has_hist[i])
				count(tot[k], s && *s ? s : "Unknown");
	}
	/* agents of the history no longer on the floor, at the last point */
	for (g = 0; g < f->nhist; ) {
		const char *name = f->hist[idx[g]].agent;
		unsigned end = g;
		bool on_floor = false;

		while (end < f->nhist && strcmp(f->hist[idx[end]].agent,
						name) == 0)
			end++;
		for (i = 0; i < f->n && !on_floor; i++) {
			const char *a = str(f->rows[i].snap, "agent");

			on_floor = strcmp(a ? a : f->rows[i].key, name) == 0;
		}
		if (!on_floor && minutes && tot[minutes - 1])
			count(tot[minutes - 1],
			      f->hist[idx[end - 1]].new_state);
		g = end;
	}
out:
	free(tot);
	free(idx);
	free(has_hist);
	return points;
}
