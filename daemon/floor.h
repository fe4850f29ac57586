/* The floor: every agent's latest snapshot as the key-value bucket holds
 * it, with the totals per state and the agents gone quiet. Pure: the
 * values and the clock come in as arguments. */
#ifndef CCPD_FLOOR_H
#define CCPD_FLOOR_H

#include <stdint.h>
#include <cjson/cJSON.h>

struct floor;

/* A snapshot without a heartbeat of its own is judged by default_hb_ms. */
int floor_new(struct floor **ret, uint64_t default_hb_ms);
struct floor *floor_free(struct floor *f);

/* A new value of key (NULL: deleted). Returns 1 and appends the agent's
 * view to changed (or its name to removed) when the floor changed, 0 when
 * not (a heartbeat: only seen is new, and it is kept), -EINVAL when the value is not a JSON object (the floor keeps what
 * it had). */
int floor_update(struct floor *f, const char *key, const char *value,
		 uint64_t now_ms, cJSON *changed, cJSON *removed);
/* An agent whose `seen` is older than three of its heartbeats is
 * unreachable. Appends the views that flipped; returns how many. */
int floor_tick(struct floor *f, uint64_t now_ms, cJSON *changed);
/* {agents: [views, by name], totals: {state: n}} */
cJSON *floor_json(const struct floor *f);
cJSON *floor_totals_json(const struct floor *f);
/* [views, by name] */
cJSON *floor_agents_json(const struct floor *f);
unsigned floor_count(const struct floor *f);
/* The state key shows now (Unreachable included), or NULL. */
const char *floor_state(const struct floor *f, const char *key);

/* The history: one agent's change of state at t (Unix ms). Changes older
 * than an hour before the newest are dropped. */
int floor_hist_add(struct floor *f, const char *agent, uint64_t t,
		   const char *old_state, const char *new_state);
/* [{t, totals}] at each minute of the last minutes before now: each
 * agent in the state of its last change before t, else the old state of
 * its first change after t, else (no change in the history) its state
 * now. */
cJSON *floor_hist_json(const struct floor *f, uint64_t now,
		       unsigned minutes);

#endif
