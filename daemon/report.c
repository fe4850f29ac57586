/* The agents report: one SQL text for SQLite and PostgreSQL (but for the
 * few lines that pick the window's rows, and each desk's last row before
 * it), and the rows it returns made into JSON. The figures agree with metrics.get
 * (metrics.c), which computes the same from the journal in C:
 * - time in a state runs from the journal row that entered it to the
 *   desk's next row, clipped to [from, to); a row with no state (ccpd
 *   stopped) counts nothing; the last row counts up to min(now, to); the
 *   state the window opens in is the last row before it by time (metrics.c
 *   takes the last by id: they differ only if the clock went back);
 * - missed and refused: the journal's contact.missed and contact.refused
 *   rows in the window, for the user at the desk;
 * - handled: contacts whose contact.connected row is in the window, for
 *   the user who connected them;
 * - handle time (talk, hold included, plus after-contact work) and
 *   after-contact work: those contacts cleared (contact.destroyed) in the
 *   window, from the times of their events; rounded averages as
 *   metrics.c rounds them. The contact record's own timestamps are taken
 *   apart from the event's time and can be a millisecond off it, so the
 *   figures come from the journal's rows, which are the times clients
 *   saw;
 * - occupancy, as Amazon Connect defines it: time on contacts / (time on
 *   contacts + idle time), here (Busy + CallingCustomer +
 *   AfterContactWork) / (those + Available), in basis points.
 * Portable SQL only: CASE rather than MIN/MAX of two values or
 * LEAST/GREATEST, sums cast to BIGINT (PostgreSQL's SUM of bigint is
 * numeric, whose division does not truncate), parameters as $N (SQLite
 * takes them as names). */
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "report.h"
#include "store.h"

/* The text both back ends share: REPORT_HEAD, then each one's w (which
 * rows, and which desk wrote them), then REPORT_BODY. */
#define REPORT_HEAD \
	"WITH RECURSIVE p AS (" \
	"  SELECT CAST($1 AS BIGINT) AS t0, CAST($2 AS BIGINT) AS t1," \
	"         CAST($3 AS BIGINT) AS tnow),"

#define REPORT_BODY \
	" seg AS (" \
	"  SELECT username, state, time AS a," \
	"         LEAD(time) OVER (PARTITION BY desk ORDER BY id) AS b" \
	"   FROM w)," \
	" clip AS (" \
	"  SELECT s.username, s.state," \
	"         CASE WHEN s.a < p.t0 THEN p.t0 ELSE s.a END AS a," \
	"         CASE WHEN s.b IS NULL THEN" \
	"                CASE WHEN p.tnow < p.t1 THEN p.tnow ELSE p.t1 END" \
	"              WHEN s.b > p.t1 THEN p.t1 ELSE s.b END AS b" \
	"   FROM seg s, p WHERE s.state IS NOT NULL)," \
	" st AS (" \
	"  SELECT username, state, CAST(SUM(b - a) AS BIGINT) AS ms" \
	"   FROM clip WHERE b > a GROUP BY username, state)," \
	" occ AS (" \
	"  SELECT username," \
	"   CAST(SUM(CASE WHEN state IN ('Busy', 'CallingCustomer'," \
	"                                'AfterContactWork')" \
	"                 THEN ms ELSE 0 END) AS BIGINT) AS busy," \
	"   CAST(SUM(CASE WHEN state = 'Available' THEN ms ELSE 0 END)" \
	"        AS BIGINT) AS idle" \
	"   FROM st GROUP BY username)," \
	" ev AS (" \
	"  SELECT j.username, j.type, COUNT(*) AS n FROM journal j, p" \
	"   WHERE j.type IN ('contact.missed', 'contact.refused')" \
	"     AND j.time >= p.t0 AND j.time < p.t1" \
	"   GROUP BY j.username, j.type)," \
	/* each contact's events, from a day before the window (as metrics.c \
	 * looks back for the contacts it counts) */ \
	" cj AS (" \
	"  SELECT j.instance, j.contact_id," \
	"   MAX(CASE WHEN j.type = 'contact.connected' THEN j.username END)" \
	"     AS username," \
	"   MIN(CASE WHEN j.type = 'contact.connected' THEN j.time END)" \
	"     AS conn," \
	"   COALESCE(MAX(CASE WHEN j.type = 'contact.ended' THEN j.time END)," \
	"            MIN(CASE WHEN j.type = 'contact.error' THEN j.time END))" \
	"     AS ended," \
	"   MAX(CASE WHEN j.type = 'contact.acw' THEN 1 ELSE 0 END) AS acw," \
	"   MAX(CASE WHEN j.type = 'contact.destroyed' THEN j.time END)" \
	"     AS gone" \
	"   FROM journal j, p" \
	"   WHERE j.contact_id IS NOT NULL" \
	"     AND j.time >= p.t0 - 86400000 AND j.time < p.t1" \
	"   GROUP BY j.instance, j.contact_id)," \
	" hd AS (" \
	"  SELECT username, COUNT(*) AS n FROM cj, p" \
	"   WHERE cj.conn >= p.t0 AND cj.conn < p.t1 GROUP BY username)," \
	/* cleared in the window: talk, and after-contact work if it had \
	 * any, up to the clearing */ \
	" ht AS (" \
	"  SELECT username, COUNT(*) AS n," \
	"   CAST(SUM(ended - conn + CASE WHEN acw = 1 THEN gone - ended" \
	"                                ELSE 0 END) AS BIGINT) AS handle," \
	"   CAST(SUM(CASE WHEN acw = 1 THEN gone - ended ELSE 0 END)" \
	"        AS BIGINT) AS acw" \
	"   FROM cj, p" \
	"   WHERE cj.conn IS NOT NULL AND cj.ended >= cj.conn" \
	"     AND cj.gone >= cj.ended" \
	"     AND cj.gone >= p.t0 AND cj.gone < p.t1" \
	"   GROUP BY username)" \
	" SELECT username, 'state' AS figure, state AS name, ms AS value" \
	"   FROM st" \
	" UNION ALL SELECT username, 'onContactMs', NULL, busy FROM occ" \
	" UNION ALL SELECT username, 'availableMs', NULL, idle FROM occ" \
	" UNION ALL SELECT username, 'occupancyBp', NULL," \
	"   CASE WHEN busy + idle > 0" \
	"        THEN (10000 * busy + (busy + idle) / 2) / (busy + idle) END" \
	"   FROM occ" \
	" UNION ALL SELECT username, CASE type WHEN 'contact.missed'" \
	"   THEN 'missed' ELSE 'refused' END, NULL, n FROM ev" \
	" UNION ALL SELECT username, 'handled', NULL, n FROM hd" \
	" UNION ALL SELECT username, 'handleCount', NULL, n FROM ht" \
	" UNION ALL SELECT username, 'averageHandleMs', NULL," \
	"   (handle + n / 2) / n FROM ht" \
	" UNION ALL SELECT username, 'averageAcwMs', NULL," \
	"   (acw + n / 2) / n FROM ht"

/* w: the window's rows, and the last row before it of each desk (the
 * state the window opens in), found through the index on time. A desk's
 * own store is one desk. */
const char report_agents_sql_sqlite[] = REPORT_HEAD
	" w AS ("
	"  SELECT id, time, username, state, '' AS desk FROM journal, p"
	"   WHERE time >= p.t0 AND time < p.t1"
	"  UNION ALL"
	"  SELECT * FROM (SELECT id, time, username, state, '' AS desk"
	"   FROM journal, p WHERE time < p.t0"
	"   ORDER BY time DESC, id DESC LIMIT 1) o),"
	REPORT_BODY;

/* In an instance every desk writes to one journal: desk_id names the
 * desk that wrote a row and desk_seq its order there (rows a desk kept
 * in its outbox through an outage reach the table late). The desks are
 * found by skipping from one desk_id to the next, and each one's last row
 * before the window by one probe: with an index on journal (desk_id,
 * time), a few lookups per desk however long the journal. */
const char report_agents_sql_pg[] = REPORT_HEAD
	" desks AS ("
	"  SELECT MIN(desk_id) AS d FROM journal"
	"  UNION ALL"
	"  SELECT (SELECT MIN(n.desk_id) FROM journal n WHERE n.desk_id > desks.d)"
	"   FROM desks WHERE desks.d IS NOT NULL),"
	" w AS ("
	"  SELECT desk_seq AS id, time, username, state, desk_id AS desk"
	"   FROM journal, p WHERE time >= p.t0 AND time < p.t1"
	"  UNION ALL"
	"  SELECT o.* FROM desks, p, LATERAL (SELECT desk_seq AS id, time,"
	"   username, state, desk_id AS desk FROM journal b"
	"   WHERE b.desk_id = desks.d AND b.time < p.t0"
	"   ORDER BY b.time DESC, b.desk_seq DESC LIMIT 1) o),"
	REPORT_BODY;

/* The figures report_add_row takes, besides "state". */
static const char *const figures[] = {
	"handled", "missed", "refused", "handleCount", "averageHandleMs",
	"averageAcwMs", "onContactMs", "availableMs",
};
#define N_FIGURES (sizeof(figures) / sizeof(figures[0]))

struct state_r {
	char *name;
	long long ms;
};

struct agent_r {
	char *username;
	long long fig[N_FIGURES];
	long long occupancy_bp;         /* -1: no time on contacts or idle */
	struct state_r *states;         /* sorted by name */
	size_t n_states;
};

struct report {
	uint64_t from, to;
	struct agent_r *agents;
	size_t n_agents;
};

int report_new(struct report **ret, uint64_t from, uint64_t to)
{
	struct report *r = calloc(1, sizeof(*r));

	if (!r)
		return -ENOMEM;
	r->from = from;
	r->to = to;
	*ret = r;
	return 0;
}

struct report *report_free(struct report *r)
{
	size_t i;

	if (!r)
		return NULL;
	for (i = 0; i < r->n_agents; i++) {
		struct agent_r *a = &r->agents[i];
		size_t k;

		free(a->username);
		for (k = 0; k < a->n_states; k++)
			free(a->states[k].name);
		free(a->states);
	}
	free(r->agents);
	free(r);
	return NULL;
}

/* The agent's place, made in username order (strcmp: both back ends
 * give the same report whatever their collation). */
static struct agent_r *agent_of(struct report *r, const char *username)
{
	struct agent_r *a;
	size_t i;
	int c = 1;

	for (i = 0; i < r->n_agents; i++) {
		c = strcmp(r->agents[i].username, username);
		if (c >= 0)
			break;
	}
	if (i < r->n_agents && c == 0)
		return &r->agents[i];
	a = realloc(r->agents, (r->n_agents + 1) * sizeof(*a));
	if (!a)
		return NULL;
	r->agents = a;
	memmove(&a[i + 1], &a[i], (r->n_agents - i) * sizeof(*a));
	memset(&a[i], 0, sizeof(*a));
	a[i].occupancy_bp = -1;
	a[i].username = strdup(username);
	if (!a[i].username)
		return NULL;
	r->n_agents++;
	return &a[i];
}

static int parse_value(const char *value, long long *ret)
{
	char *end;

	if (!value || !*value)
		return -EINVAL;
	errno = 0;
	*ret = strtoll(value, &end, 10);
	return errno || *end || *ret < 0 ? -EINVAL : 0;
}

/* Kept in name order, so the two back ends list states alike. */
static int add_state(struct agent_r *a, const char *name, long long ms)
{
	struct state_r *st;
	size_t i;

	for (i = 0; i < a->n_states && strcmp(a->states[i].name, name) < 0;
	     i++)
		;
	if (i < a->n_states && strcmp(a->states[i].name, name) == 0)
		return -EINVAL;         /* the query gives a state once */
	st = realloc(a->states, (a->n_states + 1) * sizeof(*st));
	if (!st)
		return -ENOMEM;
	a->states = st;
	memmove(&st[i + 1], &st[i], (a->n_states - i) * sizeof(*st));
	st[i].name = strdup(name);
	if (!st[i].name) {
		memmove(&st[i], &st[i + 1], (a->n_states - i) * sizeof(*st));
		return -ENOMEM;
	}
	st[i].ms = ms;
	a->n_states++;
	return 0;
}

int report_add_row(struct report *r, const char *username,
		   const char *figure, const char *name, const char *value)
{
	struct agent_r *a;
	long long v = -1;
	size_t i;

	if (!username || !figure)
		return -EINVAL;
	/* occupancy is NULL without time on contacts or idle */
	if (!(value == NULL && strcmp(figure, "occupancyBp") == 0) &&
	    parse_value(value, &v) < 0)
		return -EINVAL;
	if (strcmp(figure, "state") == 0 && !name)
		return -EINVAL;
	a = agent_of(r, username);
	if (!a)
		return -ENOMEM;
	if (strcmp(figure, "state") == 0)
		return add_state(a, name, v);
	if (strcmp(figure, "occupancyBp") == 0) {
		a->occupancy_bp = v;
		return 0;
	}
	for (i = 0; i < N_FIGURES; i++) {
		if (strcmp(figure, figures[i]) == 0) {
			a->fig[i] = v;
			return 0;
		}
	}
	return -EINVAL;
}

static cJSON *agent_json(const struct agent_r *a)
{
	cJSON *o = cJSON_CreateObject(), *t;
	size_t i;

	if (!o)
		return NULL;
	cJSON_AddStringToObject(o, "username", a->username);
	for (i = 0; i < N_FIGURES; i++)
		cJSON_AddNumberToObject(o, figures[i], (double)a->fig[i]);
	t = cJSON_AddObjectToObject(o, "timeInStateMs");
	for (i = 0; t && i < a->n_states; i++)
		cJSON_AddNumberToObject(t, a->states[i].name,
					(double)a->states[i].ms);
	if (a->occupancy_bp < 0)
		cJSON_AddNullToObject(o, "occupancy");
	else
		cJSON_AddNumberToObject(o, "occupancy",
					(double)a->occupancy_bp / 10000.0);
	return o;
}

cJSON *report_to_json(const struct report *r)
{
	cJSON *o = cJSON_CreateObject(), *agents;
	size_t i;

	if (!o)
		return NULL;
	cJSON_AddNumberToObject(o, "from", (double)r->from);
	cJSON_AddNumberToObject(o, "to", (double)r->to);
	agents = cJSON_AddArrayToObject(o, "agents");
	for (i = 0; agents && i < r->n_agents; i++) {
		cJSON *a = agent_json(&r->agents[i]);

		if (!a || !cJSON_AddItemToArray(agents, a)) {
			cJSON_Delete(a);
			cJSON_Delete(o);
			return NULL;
		}
	}
	if (!agents) {
		cJSON_Delete(o);
		return NULL;
	}
	return o;
}

static int on_row(const char *const *cols, int n, void *arg)
{
	if (n != 4)
		return -EINVAL;
	return report_add_row(arg, cols[0], cols[1], cols[2], cols[3]);
}

int report_agents(struct store *st, uint64_t from, uint64_t to, uint64_t now,
		  cJSON **ret)
{
	const int64_t params[] = { (int64_t)from, (int64_t)to, (int64_t)now };
	struct report *r;
	cJSON *o = NULL;
	int e = report_new(&r, from, to);

	if (e < 0)
		return e;
	e = store_select(st, report_agents_sql_sqlite, params, 3, on_row, r);
	if (e == 0) {
		o = report_to_json(r);
		if (!o)
			e = -ENOMEM;
	}
	report_free(r);
	if (e == 0)
		*ret = o;
	return e;
}
