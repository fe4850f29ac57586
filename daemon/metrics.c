/* Metrics as arithmetic over the journal. Time in a state runs from the
 * row that entered it to the next row, clipped to the range, and belongs
 * to the user the desk had at its start. Contacts are counted by the row
 * of the event (offered at contact.incoming, handled at contact.connected,
 * ...); handle, hold and after-contact-work times are counted when the
 * contact is cleared (contact.destroyed), for the user who connected it:
 * handle = talk (connected to ended, hold included) + after-contact work
 * (ended to cleared). Hold is 0 until call control can hold a call. */
#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "metrics.h"

#define MAX_HISTORY 1000

enum counter {
	C_OFFERED, C_HANDLED, C_MISSED, C_REJECTED, C_REFUSED, C_ABANDONED,
	C_TRANSFERRED, C_OUTBOUND, C_FAILED, C_COUNT
};

static const char *const counter_names[C_COUNT] = {
	"offered", "handled", "missed", "rejected", "refused", "abandoned",
	"transferred", "outbound", "failed",
};

struct stat {
	unsigned long n;
	uint64_t sum, max;
};

struct state_time {
	char *state;
	uint64_t ms;
};

struct change {
	uint64_t time;
	char *old;
	char *new;
};

struct agent_m {
	char *user;
	struct state_time *states;
	size_t n_states;
	unsigned long c[C_COUNT];
	struct stat handle, hold, acw, talk;
	struct change *hist;
	size_t n_hist;
	bool hist_truncated;
};

struct contact_m {
	char *key;
	char *user;             /* who connected it */
	uint64_t connected, ended;
	bool inbound, acw;
};

struct metrics {
	uint64_t from, to;
	char *only;
	struct agent_m *agents;
	size_t n_agents;
	struct contact_m *contacts;
	size_t n_contacts;
	bool have_cur;
	uint64_t cur_time;
	char *cur_state;
	char *cur_user;
};

int metrics_new(struct metrics **ret, uint64_t from, uint64_t to,
		const char *user)
{
	struct metrics *m = calloc(1, sizeof(*m));

	if (!m)
		return -ENOMEM;
	m->from = from;
	m->to = to;
	if (user && !(m->only = strdup(user))) {
		free(m);
		return -ENOMEM;
	}
	*ret = m;
	return 0;
}

static void agent_clear(struct agent_m *a)
{
	size_t i;

	free(a->user);
	for (i = 0; i < a->n_states; i++)
		free(a->states[i].state);
	free(a->states);
	for (i = 0; i < a->n_hist; i++) {
		free(a->hist[i].old);
		free(a->hist[i].new);
	}
	free(a->hist);
}

static void contact_clear(struct contact_m *c)
{
	free(c->key);
	free(c->user);
}

struct metrics *metrics_free(struct metrics *m)
{
	size_t i;

	if (!m)
		return NULL;
	for (i = 0; i < m->n_agents; i++)
		agent_clear(&m->agents[i]);
	free(m->agents);
	for (i = 0; i < m->n_contacts; i++)
		contact_clear(&m->contacts[i]);
	free(m->contacts);
	free(m->only);
	free(m->cur_state);
	free(m->cur_user);
	free(m);
	return NULL;
}

static bool str_eq(const char *a, const char *b)
{
	return a == b || (a && b && strcmp(a, b) == 0);
}

static int set_str(char **dst, const char *src)
{
	char *s = src ? strdup(src) : NULL;

	if (src && !s)
		return -ENOMEM;
	free(*dst);
	*dst = s;
	return 0;
}

/* The figures of one user; NULL for a user left out (or out of memory). */
static struct agent_m *agent_of(struct metrics *m, const char *user)
{
	struct agent_m *a;
	size_t i;

	if (!user || (m->only && strcmp(m->only, user) != 0))
		return NULL;
	for (i = 0; i < m->n_agents; i++)
		if (strcmp(m->agents[i].user, user) == 0)
			return &m->agents[i];
	a = realloc(m->agents, (m->n_agents + 1) * sizeof(*a));
	if (!a)
		return NULL;
	m->agents = a;
	a = &m->agents[m->n_agents];
	memset(a, 0, sizeof(*a));
	a->user = strdup(user);
	if (!a->user)
		return NULL;
	m->n_agents++;
	return a;
}

static void add_time(struct metrics *m, const char *user, const char *state,
		     uint64_t start, uint64_t end)
{
	struct agent_m *a;
	struct state_time *st;
	size_t i;

	if (start < m->from)
		start = m->from;
	if (end > m->to)
		end = m->to;
	if (end <= start)
		return;
	a = agent_of(m, user);
	if (!a)
		return;
	for (i = 0; i < a->n_states; i++) {
		if (strcmp(a->states[i].state, state) == 0) {
			a->states[i].ms += end - start;
			return;
		}
	}
	st = realloc(a->states, (a->n_states + 1) * sizeof(*st));
	if (!st)
		return;
	a->states = st;
	st[a->n_states].state = strdup(state);
	if (!st[a->n_states].state)
		return;
	st[a->n_states].ms = end - start;
	a->n_states++;
}

static bool in_range(const struct metrics *m, uint64_t t)
{
	return t >= m->from && t < m->to;
}

static void stat_add(struct stat *s, uint64_t v)
{
	s->n++;
	s->sum += v;
	if (v > s->max)
		s->max = v;
}

static void count(struct metrics *m, const struct metrics_row *row,
		  const char *user, enum counter c)
{
	struct agent_m *a;

	if (!in_range(m, row->time))
		return;
	a = agent_of(m, user);
	if (a)
		a->c[c]++;
}

static void history(struct metrics *m, const struct metrics_row *row)
{
	struct agent_m *a;
	struct change *h;

	if (!row->state || str_eq(row->state, m->cur_state) ||
	    !in_range(m, row->time))
		return;
	a = agent_of(m, row->user);
	if (!a)
		return;
	if (a->n_hist == MAX_HISTORY) {
		a->hist_truncated = true;
		return;
	}
	h = realloc(a->hist, (a->n_hist + 1) * sizeof(*h));
	if (!h)
		return;
	a->hist = h;
	h = &a->hist[a->n_hist];
	h->time = row->time;
	h->old = m->cur_state ? strdup(m->cur_state) : NULL;
	h->new = strdup(row->state);
	a->n_hist++;
}

static struct contact_m *contact_of(struct metrics *m,
				    const struct metrics_row *row,
				    bool create)
{
	char key[256];
	struct contact_m *c;
	size_t i;

	if (!row->contact_id)
		return NULL;
	snprintf(key, sizeof(key), "%s/%s", row->instance ? row->instance : "",
		 row->contact_id);
	for (i = 0; i < m->n_contacts; i++)
		if (strcmp(m->contacts[i].key, key) == 0)
			return &m->contacts[i];
	if (!create)
		return NULL;
	c = realloc(m->contacts, (m->n_contacts + 1) * sizeof(*c));
	if (!c)
		return NULL;
	m->contacts = c;
	c = &m->contacts[m->n_contacts];
	memset(c, 0, sizeof(*c));
	c->key = strdup(key);
	if (!c->key)
		return NULL;
	m->n_contacts++;
	return c;
}

static void contact_drop(struct metrics *m, struct contact_m *c)
{
	size_t i = (size_t)(c - m->contacts);

	contact_clear(c);
	m->contacts[i] = m->contacts[--m->n_contacts];
}

static void finish_contact(struct metrics *m, const struct metrics_row *row,
			   struct contact_m *c)
{
	struct agent_m *a;
	uint64_t talk, acw = 0;

	if (c->connected && c->ended >= c->connected && in_range(m, row->time) &&
	    (a = agent_of(m, c->user))) {
		talk = c->ended - c->connected;
		if (c->acw && row->time >= c->ended)
			acw = row->time - c->ended;
		stat_add(&a->talk, talk);
		stat_add(&a->hold, 0);
		stat_add(&a->acw, acw);
		stat_add(&a->handle, talk + acw);
	}
	contact_drop(m, c);
}

static void contact_event(struct metrics *m, const struct metrics_row *row)
{
	const char *ev = row->type + strlen("contact.");
	struct contact_m *c = contact_of(m, row, strcmp(ev, "incoming") == 0 ||
					 strcmp(ev, "refused") == 0 ||
					 strcmp(ev, "connecting") == 0);

	if (!c)
		return;
	if (strcmp(ev, "incoming") == 0) {
		c->inbound = true;
		count(m, row, row->user, C_OFFERED);
	} else if (strcmp(ev, "refused") == 0) {
		c->inbound = true;
		count(m, row, row->user, C_REFUSED);
	} else if (strcmp(ev, "connecting") == 0) {
		/* an inbound contact is known from its offer: a connecting
		 * contact seen first is a dial */
		if (!c->inbound && !c->connected && !c->user) {
			count(m, row, row->user, C_OUTBOUND);
			set_str(&c->user, row->user);
		}
	} else if (strcmp(ev, "connected") == 0) {
		if (!c->connected) {
			c->connected = row->time;
			set_str(&c->user, row->user);
			count(m, row, row->user, C_HANDLED);
		}
	} else if (strcmp(ev, "missed") == 0) {
		count(m, row, row->user, C_MISSED);
	} else if (strcmp(ev, "rejected") == 0) {
		count(m, row, row->user, C_REJECTED);
	} else if (strcmp(ev, "ended") == 0) {
		c->ended = row->time;
		if (!c->connected && c->inbound)
			count(m, row, row->user, C_ABANDONED);
	} else if (strcmp(ev, "acw") == 0) {
		c->acw = true;
	} else if (strcmp(ev, "error") == 0) {
		if (!c->ended)
			c->ended = row->time;
		if (!c->connected)
			count(m, row, row->user, C_FAILED);
	} else if (strcmp(ev, "transferred") == 0) {
		count(m, row, c->user ? c->user : row->user, C_TRANSFERRED);
	} else if (strcmp(ev, "destroyed") == 0) {
		finish_contact(m, row, c);
	}
}

int metrics_add(struct metrics *m, const struct metrics_row *row)
{
	if (m->have_cur && m->cur_state && m->cur_user &&
	    row->time > m->cur_time)
		add_time(m, m->cur_user, m->cur_state, m->cur_time, row->time);
	history(m, row);
	if (row->type && strncmp(row->type, "contact.", 8) == 0)
		contact_event(m, row);
	/* a clock set back must not make time run twice */
	if (!m->have_cur || row->time > m->cur_time)
		m->cur_time = row->time;
	m->have_cur = true;
	if (set_str(&m->cur_state, row->state) < 0 ||
	    set_str(&m->cur_user, row->user) < 0)
		return -ENOMEM;
	return 0;
}

/* The open state counts up to now, and from now on the next row. */
static void close_at(struct metrics *m, uint64_t now)
{
	if (m->have_cur && m->cur_state && m->cur_user && now > m->cur_time) {
		add_time(m, m->cur_user, m->cur_state, m->cur_time, now);
		m->cur_time = now;
	}
}

static void add_ms(cJSON *o, const char *k, uint64_t v)
{
	cJSON_AddNumberToObject(o, k, (double)v);
}

static cJSON *stat_json(const struct stat *s)
{
	cJSON *o = cJSON_CreateObject();

	if (!o)
		return NULL;
	cJSON_AddNumberToObject(o, "count", (double)s->n);
	add_ms(o, "totalMs", s->sum);
	add_ms(o, "averageMs", s->n ? (s->sum + s->n / 2) / s->n : 0);
	add_ms(o, "maxMs", s->max);
	return o;
}

static cJSON *agent_json(const struct agent_m *a)
{
	cJSON *o = cJSON_CreateObject(), *t, *c, *h;
	size_t i;

	if (!o)
		return NULL;
	cJSON_AddStringToObject(o, "username", a->user);
	t = cJSON_AddObjectToObject(o, "timeInStateMs");
	for (i = 0; i < a->n_states; i++)
		add_ms(t, a->states[i].state, a->states[i].ms);
	c = cJSON_AddObjectToObject(o, "contacts");
	for (i = 0; i < C_COUNT; i++)
		cJSON_AddNumberToObject(c, counter_names[i], (double)a->c[i]);
	cJSON_AddItemToObject(o, "handleTime", stat_json(&a->handle));
	cJSON_AddItemToObject(o, "talkTime", stat_json(&a->talk));
	cJSON_AddItemToObject(o, "holdTime", stat_json(&a->hold));
	cJSON_AddItemToObject(o, "acwTime", stat_json(&a->acw));
	h = cJSON_AddArrayToObject(o, "history");
	for (i = 0; h && i < a->n_hist; i++) {
		cJSON *e = cJSON_CreateObject();

		add_ms(e, "time", a->hist[i].time);
		if (a->hist[i].old)
			cJSON_AddStringToObject(e, "oldState", a->hist[i].old);
		else
			cJSON_AddNullToObject(e, "oldState");
		cJSON_AddStringToObject(e, "newState", a->hist[i].new);
		cJSON_AddItemToArray(h, e);
	}
	cJSON_AddBoolToObject(o, "historyTruncated", a->hist_truncated);
	return o;
}

cJSON *metrics_to_json(struct metrics *m, uint64_t now)
{
	cJSON *o = cJSON_CreateObject(), *a;
	size_t i;

	if (!o)
		return NULL;
	close_at(m, now < m->to ? now : m->to);
	add_ms(o, "from", m->from);
	add_ms(o, "to", m->to);
	a = cJSON_AddArrayToObject(o, "agents");
	for (i = 0; a && i < m->n_agents; i++)
		cJSON_AddItemToArray(a, agent_json(&m->agents[i]));
	return o;
}

/* Label values escape backslash, double quote and newline. */
static void label(FILE *f, const char *v)
{
	for (; *v; v++) {
		if (*v == '\\' || *v == '"')
			fprintf(f, "\\%c", *v);
		else if (*v == '\n')
			fputs("\\n", f);
		else
			fputc(*v, f);
	}
}

static void secs(FILE *f, uint64_t ms)
{
	fprintf(f, "%llu.%03llu", (unsigned long long)(ms / 1000),
		(unsigned long long)(ms % 1000));
}

static void prom_stat(FILE *f, const struct metrics *m, const char *name,
		      const char *help, size_t off)
{
	size_t i;

	fprintf(f, "# HELP ccpd_%s_seconds %s\n# TYPE ccpd_%s_seconds "
		"summary\n", name, help, name);
	for (i = 0; i < m->n_agents; i++) {
		const struct stat *s = (const struct stat *)
			((const char *)&m->agents[i] + off);

		fprintf(f, "ccpd_%s_seconds_sum{agent=\"", name);
		label(f, m->agents[i].user);
		fputs("\"} ", f);
		secs(f, s->sum);
		fprintf(f, "\nccpd_%s_seconds_count{agent=\"", name);
		label(f, m->agents[i].user);
		fprintf(f, "\"} %lu\n", s->n);
	}
	fprintf(f, "# HELP ccpd_%s_seconds_max The longest, per agent.\n"
		"# TYPE ccpd_%s_seconds_max gauge\n", name, name);
	for (i = 0; i < m->n_agents; i++) {
		const struct stat *s = (const struct stat *)
			((const char *)&m->agents[i] + off);

		fprintf(f, "ccpd_%s_seconds_max{agent=\"", name);
		label(f, m->agents[i].user);
		fputs("\"} ", f);
		secs(f, s->max);
		fputc('\n', f);
	}
}

int metrics_prometheus(struct metrics *m, uint64_t now, char **ret)
{
	char *buf = NULL;
	size_t len = 0, i, k;
	FILE *f = open_memstream(&buf, &len);

	if (!f)
		return -ENOMEM;
	close_at(m, now < m->to ? now : m->to);
	fputs("# HELP ccpd_agent_state The agent's effective state now "
	      "(1), with the user logged in at the desk.\n"
	      "# TYPE ccpd_agent_state gauge\n", f);
	if (m->cur_state && m->cur_user) {
		fputs("ccpd_agent_state{agent=\"", f);
		label(f, m->cur_user);
		fputs("\",state=\"", f);
		label(f, m->cur_state);
		fputs("\"} 1\n", f);
	}
	fputs("# HELP ccpd_agent_state_seconds_total Time spent in each "
	      "effective state, per agent.\n"
	      "# TYPE ccpd_agent_state_seconds_total counter\n", f);
	for (i = 0; i < m->n_agents; i++) {
		for (k = 0; k < m->agents[i].n_states; k++) {
			fputs("ccpd_agent_state_seconds_total{agent=\"", f);
			label(f, m->agents[i].user);
			fputs("\",state=\"", f);
			label(f, m->agents[i].states[k].state);
			fputs("\"} ", f);
			secs(f, m->agents[i].states[k].ms);
			fputc('\n', f);
		}
	}
	fputs("# HELP ccpd_contacts_total Contacts by outcome, per agent.\n"
	      "# TYPE ccpd_contacts_total counter\n", f);
	for (i = 0; i < m->n_agents; i++) {
		for (k = 0; k < C_COUNT; k++) {
			fputs("ccpd_contacts_total{agent=\"", f);
			label(f, m->agents[i].user);
			fprintf(f, "\",outcome=\"%s\"} %lu\n", counter_names[k],
				m->agents[i].c[k]);
		}
	}
	prom_stat(f, m, "contact_handle", "Handle time of cleared contacts "
		  "(talk, hold included, plus after-contact work).",
		  offsetof(struct agent_m, handle));
	prom_stat(f, m, "contact_hold", "Hold time of cleared contacts.",
		  offsetof(struct agent_m, hold));
	prom_stat(f, m, "contact_acw", "After-contact work of cleared "
		  "contacts.", offsetof(struct agent_m, acw));
	if (fclose(f) != 0) {
		free(buf);
		return -ENOMEM;
	}
	*ret = buf;
	return 0;
}
