/* Metrics from the journal: per agent user, the time in each effective
 * state, contact counters, handle, hold and after-contact-work times and
 * the history of state changes; and the same rendered for Prometheus.
 * Pure arithmetic over rows handed in order: no I/O, no clock. */
#ifndef CCPD_METRICS_H
#define CCPD_METRICS_H

#include <stdint.h>
#include <cjson/cJSON.h>

/* One journal row, as much of it as the arithmetic needs. */
struct metrics_row {
	uint64_t time;          /* Unix ms */
	const char *type;       /* agent.stateChange, contact.connected, ... */
	const char *user;       /* the desk's user after the row */
	const char *state;      /* the effective state after it; NULL: ccpd
				 * stopped (the time until the next row is
				 * not counted) */
	const char *instance;   /* with contact_id, names a contact */
	const char *contact_id;
};

struct metrics;

/* Figures over [from, to); user NULL for every user. */
int metrics_new(struct metrics **ret, uint64_t from, uint64_t to,
		const char *user);
struct metrics *metrics_free(struct metrics *m);

/* Rows must come in the order they were written, starting at or before
 * from (the last row before from gives the state the range opens in). */
int metrics_add(struct metrics *m, const struct metrics_row *row);

/* {"from", "to", "agents": [...]}. The state the last row left open is
 * counted up to min(now, to) first, so rows added later count from there
 * (a live accumulator can be read at any time). */
cJSON *metrics_to_json(struct metrics *m, uint64_t now);

/* The figures in the Prometheus text exposition format (version 0.0.4),
 * with the current state from the last row; counts the open state as
 * metrics_to_json does. free() the text. */
int metrics_prometheus(struct metrics *m, uint64_t now, char **ret);

#endif
