/* The agent's status state machine: pure, no I/O, no clock of its own. */
#ifndef CCPD_AGENT_H
#define CCPD_AGENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum agent_type {
	AGENT_TYPE_ROUTABLE,
	AGENT_TYPE_NOT_ROUTABLE,
	AGENT_TYPE_OFFLINE,
	AGENT_TYPE_SYSTEM,
	AGENT_TYPE_ERROR,
};

/* Where the agent is with their (single) contact. */
enum agent_phase {
	AGENT_PHASE_IDLE,
	AGENT_PHASE_RINGING,     /* an offer rings */
	AGENT_PHASE_ACCEPTING,   /* accepted, not yet connected */
	AGENT_PHASE_DIALING,     /* outbound, not yet answered */
	AGENT_PHASE_CONNECTED,
	AGENT_PHASE_ACW,         /* after-contact work */
	AGENT_PHASE_FAILED,      /* outbound failed; cleared by the agent */
	AGENT_PHASE_AGENT_FAILED, /* the desk phone did not answer; the offer
				   * rings on */
};
#define AGENT_PHASE_COUNT 8

enum agent_input {
	AGENT_IN_SET_STATUS,     /* the agent chose a status (arg: index) */
	AGENT_IN_CLEAR_NEXT,     /* the agent withdrew their next status */
	AGENT_IN_OFFER,          /* an incoming contact */
	AGENT_IN_ACCEPT,
	AGENT_IN_REJECT,
	AGENT_IN_RING_TIMEOUT,
	AGENT_IN_ABANDONED,      /* the caller gave up before answer */
	AGENT_IN_DIAL,
	AGENT_IN_CONNECTED,
	AGENT_IN_DIAL_FAILED,
	AGENT_IN_ENDED,          /* a contact that was live has ended */
	AGENT_IN_CLEAR,          /* after-contact work or an error cleared */
	AGENT_IN_MEDIA_DOWN,
	AGENT_IN_MEDIA_UP,
	AGENT_IN_AGENT_FAILED,   /* the agent's desk phone did not answer */
};
#define AGENT_IN_COUNT 15

enum agent_action {
	AGENT_ACT_NONE,
	AGENT_ACT_RING,          /* ring the offer */
	AGENT_ACT_REFUSE,        /* refuse the offer at once */
};

struct agent;

/* The selectable statuses are Available, Offline, then the custom ones
 * (all not routable). initial names the starting status. */
int agent_new(struct agent **ret, const char *const *custom, size_t n_custom,
	      const char *initial, uint64_t now_ms);
struct agent *agent_free(struct agent *a);

/* Feed one input. Returns 0, -ENOENT for an unknown status index, or
 * -EINVAL when the input is not allowed in the current phase (the state is
 * then unchanged). *act says what the caller must do about an offer. */
int agent_input(struct agent *a, enum agent_input in, int status,
		uint64_t now_ms, enum agent_action *act);

const char *agent_state(const struct agent *a);
enum agent_type agent_state_type(const struct agent *a);
const char *agent_status(const struct agent *a);
int agent_status_index(const struct agent *a);
const char *agent_next(const struct agent *a);   /* NULL when none */
uint64_t agent_since(const struct agent *a);
bool agent_routable(const struct agent *a);
bool agent_media_up(const struct agent *a);
enum agent_phase agent_get_phase(const struct agent *a);

size_t agent_status_count(const struct agent *a);
const char *agent_status_name(const struct agent *a, size_t i);
enum agent_type agent_status_type(const struct agent *a, size_t i);
int agent_status_find(const struct agent *a, const char *name);

const char *agent_type_name(enum agent_type t);
const char *agent_input_name(enum agent_input in);
const char *agent_phase_name(enum agent_phase p);

#endif
