/* The agent's status: the state machine, the list of statuses, mute as
 * part of what the agent is, the journal every change is written to
 * before it goes out, and the live figures since ccpd started. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ccpd-protocol.h"
#include "conf.h"
#include "desk-int.h"
#include "events.h"
#include "json.h"
#include "log.h"
#include "metrics.h"
#include "store.h"
#include "util.h"

struct desk_status {
	struct agent *agent;
	/* agent.getState is the most frequent question: its answer is kept
	 * encoded until the agent changes */
	char *agent_text;
	bool muted;             /* what the agent asked for; authoritative */
	/* the time in each state and the counters since ccpd started */
	struct metrics *live;
	/* a new list of statuses, waiting for the agent to be free */
	char **pending;
	size_t n_pending;
	bool has_pending;
};

struct agent_view {
	const char *state;
	int status;
	const char *next;
	uint64_t since;
};

static void apply_pending_statuses(struct desk *d);

struct agent *status_agent(const struct desk *d)
{
	return d->status->agent;
}

void status_changed(struct desk *d)
{
	free(d->status->agent_text);
	d->status->agent_text = NULL;
}

bool status_muted(const struct desk *d)
{
	return d->status->muted;
}

void status_set_muted(struct desk *d, bool muted)
{
	d->status->muted = muted;
	status_changed(d);
}

cJSON *desk_agent_json(const struct desk *d)
{
	const struct agent *a = d->status->agent;
	cJSON *o = cJSON_CreateObject();

	if (!o)
		return NULL;
	cJSON_AddStringToObject(o, "status", agent_status(a));
	cJSON_AddStringToObject(o, "state", agent_state(a));
	cJSON_AddStringToObject(o, "type",
				agent_type_name(agent_state_type(a)));
	json_add_int(o, "since", (long long)agent_since(a));
	json_add_str_or_null(o, "next", agent_next(a));
	cJSON_AddBoolToObject(o, "routable", agent_routable(a));
	cJSON_AddBoolToObject(o, "muted", d->status->muted);
	return o;
}

const char *desk_agent_text(struct desk *d)
{
	if (!d->status->agent_text) {
		cJSON *o = desk_agent_json(d);

		d->status->agent_text = o ? cJSON_PrintUnformatted(o) : NULL;
		cJSON_Delete(o);
	}
	return d->status->agent_text;
}

cJSON *desk_states_json(const struct desk *d)
{
	const struct agent *a = d->status->agent;
	cJSON *arr = cJSON_CreateArray();
	size_t i;

	for (i = 0; arr && i < agent_status_count(a); i++) {
		cJSON *o = cJSON_CreateObject();

		cJSON_AddStringToObject(o, "name", agent_status_name(a, i));
		cJSON_AddStringToObject(o, "type",
			agent_type_name(agent_status_type(a, i)));
		cJSON_AddItemToArray(arr, o);
	}
	return arr;
}

static struct agent_view view_of(const struct agent *a)
{
	struct agent_view v = {
		agent_state(a), agent_status_index(a), agent_next(a),
		agent_since(a),
	};
	return v;
}

/* The journal row, and the contact's record when there is a contact,
 * written in one transaction. A store that fails is logged and does not
 * stop the desk: calls go on. */
void status_record(struct desk *d, const char *type, uint64_t now,
		   bool has_event, const char *contact_id, const cJSON *data)
{
	const struct agent *a = d->status->agent;
	const cJSON *contact = cJSON_GetObjectItemCaseSensitive(data,
								"contact");
	char *text = data ? cJSON_PrintUnformatted(data) : NULL;
	struct store_journal_row row = {
		.time = now,
		.instance = events_instance(d->ev),
		.event_seq = has_event ? events_last_seq(d->ev) + 1 : 0,
		.type = type,
		.username = desk_journal_user(d),
		.actor = *user_actor(d) ? user_actor(d) : "system",
		.state = strcmp(type, "daemon.stop") ? agent_state(a) : NULL,
		.status = agent_status(a),
		.contact_id = contact_id,
		.data = text,
	};
	const cJSON *hold = cJSON_GetObjectItemCaseSensitive(contact,
							     "holdDuration");
	struct metrics_row mrow = {
		.time = now, .type = type, .user = row.username,
		.state = row.state, .instance = row.instance,
		.contact_id = contact_id,
		/* integers are raw digits here (json_add_int) */
		.hold_ms = cJSON_IsRaw(hold) && hold->valuestring ?
			   strtoull(hold->valuestring, NULL, 10) : 0,
	};
	int r;

	if (d->status->live)
		metrics_add(d->status->live, &mrow);
	if (!d->st) {
		free(text);
		return;
	}
	r = store_begin(d->st);
	if (r == 0)
		r = store_journal_add(d->st, &row);
	if (r == 0 && contact)
		r = store_contact_put(d->st, row.instance, row.username,
				      contact);
	if (r == 0)
		r = store_commit(d->st);
	if (r < 0) {
		store_rollback(d->st);
		log_error("store: cannot record %s: %s", type, strerror(-r));
	}
	free(text);
}

void status_publish(struct desk *d, const char *type, const char *contact_id,
		    cJSON *data)
{
	uint64_t now = util_now_ms();

	if (!data)
		return;
	status_record(d, type, now, true, contact_id, data);
	events_emit_at(d->ev, type, data, now);
}

int status_feed(struct desk *d, enum agent_input in, int status,
		enum agent_action *act, const char *contact_id)
{
	struct desk_status *s = d->status;
	struct agent_view before = view_of(s->agent), after;
	uint64_t now = util_now_ms();
	int r = agent_input(s->agent, in, status, now, act);
	cJSON *data;

	if (r < 0)
		return r;
	after = view_of(s->agent);
	status_changed(d);
	if (before.state == after.state && before.status == after.status &&
	    before.next == after.next && before.since == after.since)
		return 0;
	log_fields(LOG_INFO, contact_id, after.state,
		   "agent: %s -> %s (status %s%s%s, on %s)", before.state,
		   after.state, agent_status(s->agent),
		   after.next ? ", next " : "", after.next ? after.next : "",
		   agent_input_name(in));
	data = cJSON_CreateObject();
	if (data) {
		cJSON_AddStringToObject(data, "oldState", before.state);
		cJSON_AddStringToObject(data, "newState", after.state);
		cJSON_AddItemToObject(data, "agent", desk_agent_json(d));
		status_record(d, "agent.stateChange", now, true, contact_id,
			      data);
		events_emit_at(d->ev, "agent.stateChange", data, now);
	}
	if (s->has_pending)
		apply_pending_statuses(d);
	return 0;
}

int status_set(struct desk *d, const char *name, struct desk_err *e)
{
	int idx = agent_status_find(d->status->agent, name);

	if (idx < 0)
		return desk_fail(e, CCPD_ERR_NOT_FOUND, "no status named '%s'; "
				 "see agent.listStates", name);
	if (status_feed(d, AGENT_IN_SET_STATUS, idx, NULL, NULL) < 0)
		return desk_fail(e, CCPD_ERR_INTERNAL, "the state machine "
				 "refused status '%s'", name);
	return 0;
}

int desk_clear_next(struct desk *d, struct desk_err *e)
{
	(void)e;
	return status_feed(d, AGENT_IN_CLEAR_NEXT, 0, NULL, NULL);
}

bool desk_status_in_use(const struct desk *d, const char *name)
{
	const char *next = agent_next(d->status->agent);

	return strcmp(agent_status(d->status->agent), name) == 0 ||
	       (next && strcmp(next, name) == 0);
}

static void free_pending(struct desk_status *s)
{
	size_t i;

	for (i = 0; i < s->n_pending; i++)
		free(s->pending[i]);
	free(s->pending);
	s->pending = NULL;
	s->n_pending = 0;
	s->has_pending = false;
}

/* A new list of statuses means a new state machine. It is built only
 * while the agent is free and in a status they chose, carrying over the
 * status, whether media is up and since when. */
static void apply_pending_statuses(struct desk *d)
{
	struct desk_status *s = d->status;
	uint64_t since = agent_since(s->agent);
	struct agent *na;
	int r;

	if (agent_get_phase(s->agent) != AGENT_PHASE_IDLE ||
	    strcmp(agent_state(s->agent), agent_status(s->agent)) != 0 ||
	    agent_next(s->agent))
		return;
	r = agent_new(&na, (const char *const *)s->pending, s->n_pending,
		      agent_status(s->agent), since);
	if (r < 0) {
		log_error("agent: cannot apply the new statuses: %s",
			  strerror(-r));
		free_pending(s);
		return;
	}
	if (agent_media_up(s->agent))
		agent_input(na, AGENT_IN_MEDIA_UP, 0, since, NULL);
	agent_free(s->agent);
	s->agent = na;
	status_changed(d);
	free_pending(s);
	log_info("agent: the list of statuses changed (%zu custom)",
		 agent_status_count(s->agent) - 2);
}

int desk_set_statuses(struct desk *d, const char *const *names, size_t n)
{
	struct desk_status *s = d->status;
	size_t i;

	free_pending(s);
	s->pending = calloc(n ? n : 1, sizeof(char *));
	if (!s->pending)
		return -ENOMEM;
	for (i = 0; i < n; i++) {
		s->pending[i] = strdup(names[i]);
		if (!s->pending[i]) {
			s->n_pending = i;
			free_pending(s);
			return -ENOMEM;
		}
	}
	s->n_pending = n;
	s->has_pending = true;
	apply_pending_statuses(d);
	return s->has_pending ? 1 : 0;
}

int desk_prometheus(struct desk *d, char **ret)
{
	return metrics_prometheus(d->status->live, util_now_ms(), ret);
}

cJSON *desk_live_metrics_json(struct desk *d)
{
	return metrics_to_json(d->status->live, util_now_ms());
}

/* The custom statuses come from the store; the statuses setting seeds it
 * at the first start and is not read again. */
static int seed_statuses(struct desk *d, char **names, size_t n)
{
	size_t i;
	int r = store_begin(d->st);

	for (i = 0; i < n && r == 0; i++) {
		cJSON *row = cJSON_CreateObject();

		if (!row) {
			r = -ENOMEM;
			break;
		}
		cJSON_AddStringToObject(row, "name", names[i]);
		r = store_insert(d->st, &store_statuses, row);
		cJSON_Delete(row);
	}
	if (r == 0)
		r = store_meta_set(d->st, "statuses_seeded", "1");
	if (r == 0)
		r = store_commit(d->st);
	if (r < 0)
		store_rollback(d->st);
	return r;
}

static int load_statuses(struct desk *d, char ***names, size_t *n)
{
	char seeded[8];
	int r;

	if (!d->st)
		return conf_split_statuses(d->conf->statuses, names, n);
	if (store_meta_get(d->st, "statuses_seeded", seeded,
			   sizeof(seeded)) == 0)
		return store_status_names(d->st, names, n);
	r = conf_split_statuses(d->conf->statuses, names, n);
	if (r < 0)
		return r;
	r = seed_statuses(d, *names, *n);
	if (r < 0) {
		conf_free_statuses(*names, *n);
		return r;
	}
	log_debug("agent: statuses seeded into the store from the setting");
	return 0;
}

int status_new(struct desk *d)
{
	const char *initial = d->conf->initial_status;
	struct desk_status *s = calloc(1, sizeof(*s));
	char **custom = NULL;
	size_t n = 0;
	int r;

	if (!s)
		return -ENOMEM;
	d->status = s;
	r = metrics_new(&s->live, util_now_ms(), UINT64_MAX, NULL);
	if (r < 0)
		return r;
	r = load_statuses(d, &custom, &n);
	if (r == 0) {
		r = agent_new(&s->agent, (const char *const *)custom, n,
			      initial, util_now_ms());
		if (r == -ENOENT) {
			log_warning("agent: initial_status '%s' is not among "
				    "the statuses in the store; starting "
				    "Offline", initial);
			r = agent_new(&s->agent, (const char *const *)custom,
				      n, "Offline", util_now_ms());
		}
		conf_free_statuses(custom, n);
	}
	if (r < 0)
		log_error("agent: bad statuses '%s' or initial_status '%s': "
			  "%s", d->conf->statuses, initial, strerror(-r));
	return r;
}

void status_free(struct desk *d)
{
	struct desk_status *s = d->status;

	if (!s)
		return;
	s->agent = agent_free(s->agent);
	s->live = metrics_free(s->live);
	free_pending(s);
	free(s->agent_text);
	free(s);
	d->status = NULL;
}
