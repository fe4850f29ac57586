/* The agent's status state machine. Inputs arrive with the time; outputs are
 * the new state and what to do about an offer. Nothing here does I/O, so the
 * unit tests can walk every phase and input. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "agent.h"

#define MAX_STATUSES 32

struct status {
	char *name;
	enum agent_type type;
};

struct agent {
	struct status statuses[MAX_STATUSES];
	size_t n_statuses;
	int status;             /* the chosen status */
	int next;               /* chosen during a contact; -1 for none */
	enum agent_phase phase;
	bool missed;            /* an offer rang out; cleared by a choice */
	bool media_up;
	const char *state;      /* last effective state, for since */
	uint64_t since;
};

static const char *const builtin[] = { "Available", "Offline" };

static int add_status(struct agent *a, const char *name, enum agent_type t)
{
	if (a->n_statuses == MAX_STATUSES)
		return -E2BIG;
	if (agent_status_find(a, name) >= 0)
		return -EEXIST;
	a->statuses[a->n_statuses].name = strdup(name);
	if (!a->statuses[a->n_statuses].name)
		return -ENOMEM;
	a->statuses[a->n_statuses].type = t;
	a->n_statuses++;
	return 0;
}

static const char *effective(const struct agent *a, enum agent_type *type)
{
	enum agent_type t = AGENT_TYPE_SYSTEM;
	const char *s = NULL;

	if (!a->media_up) {
		t = AGENT_TYPE_ERROR;
		s = "Error";
	} else {
		switch (a->phase) {
		case AGENT_PHASE_RINGING:
		case AGENT_PHASE_ACCEPTING:
			s = "PendingBusy";
			break;
		case AGENT_PHASE_DIALING:
			s = "CallingCustomer";
			break;
		case AGENT_PHASE_CONNECTED:
			s = "Busy";
			break;
		case AGENT_PHASE_ACW:
			s = "AfterContactWork";
			break;
		case AGENT_PHASE_FAILED:
			t = AGENT_TYPE_ERROR;
			s = "FailedConnectCustomer";
			break;
		case AGENT_PHASE_AGENT_FAILED:
			t = AGENT_TYPE_ERROR;
			s = "FailedConnectAgent";
			break;
		case AGENT_PHASE_IDLE:
			if (a->missed) {
				t = AGENT_TYPE_ERROR;
				s = "MissedCallAgent";
			} else {
				t = a->statuses[a->status].type;
				s = a->statuses[a->status].name;
			}
			break;
		}
	}
	if (type)
		*type = t;
	return s;
}

static void update_since(struct agent *a, uint64_t now)
{
	const char *s = effective(a, NULL);

	if (!a->state || strcmp(a->state, s) != 0) {
		a->state = s;
		a->since = now;
	}
}

int agent_new(struct agent **ret, const char *const *custom, size_t n_custom,
	      const char *initial, uint64_t now_ms)
{
	struct agent *a = calloc(1, sizeof(*a));
	int r = 0;
	size_t i;

	if (!a)
		return -ENOMEM;
	r |= add_status(a, builtin[0], AGENT_TYPE_ROUTABLE);
	r |= add_status(a, builtin[1], AGENT_TYPE_OFFLINE);
	for (i = 0; i < n_custom && r == 0; i++)
		r = add_status(a, custom[i], AGENT_TYPE_NOT_ROUTABLE);
	if (r < 0)
		goto fail;
	a->status = agent_status_find(a, initial ? initial : "Offline");
	if (a->status < 0) {
		r = -ENOENT;
		goto fail;
	}
	a->next = -1;
	a->phase = AGENT_PHASE_IDLE;
	update_since(a, now_ms);
	*ret = a;
	return 0;
fail:
	agent_free(a);
	return r;
}

struct agent *agent_free(struct agent *a)
{
	size_t i;

	if (!a)
		return NULL;
	for (i = 0; i < a->n_statuses; i++)
		free(a->statuses[i].name);
	free(a);
	return NULL;
}

static bool is_live(enum agent_phase p)
{
	return p == AGENT_PHASE_RINGING || p == AGENT_PHASE_ACCEPTING ||
	       p == AGENT_PHASE_DIALING || p == AGENT_PHASE_CONNECTED ||
	       p == AGENT_PHASE_AGENT_FAILED;
}

/* The agent is free again: the next status, if any, takes effect. */
static void to_idle(struct agent *a)
{
	a->phase = AGENT_PHASE_IDLE;
	if (a->next >= 0) {
		a->status = a->next;
		a->next = -1;
		a->missed = false;
	}
}

static int set_status(struct agent *a, int s)
{
	if (s < 0 || (size_t)s >= a->n_statuses)
		return -ENOENT;
	switch (a->phase) {
	case AGENT_PHASE_IDLE:
		a->status = s;
		a->next = -1;
		a->missed = false;
		return 0;
	case AGENT_PHASE_FAILED:
		/* choosing a status is how the agent dismisses the error */
		a->status = s;
		a->next = -1;
		a->phase = AGENT_PHASE_IDLE;
		return 0;
	case AGENT_PHASE_RINGING:
	case AGENT_PHASE_ACCEPTING:
	case AGENT_PHASE_DIALING:
	case AGENT_PHASE_CONNECTED:
	case AGENT_PHASE_ACW:
	case AGENT_PHASE_AGENT_FAILED:
		/* the offer still rings: the choice waits for its end */
		a->next = s;
		return 0;
	}
	return -EINVAL;
}

static enum agent_action offer(struct agent *a)
{
	if (!agent_routable(a))
		return AGENT_ACT_REFUSE;
	a->phase = AGENT_PHASE_RINGING;
	return AGENT_ACT_RING;
}

/* Moves allowed from one phase to another; anything not listed is -EINVAL.
 * Read it as: in phase P, input I leads to phase N. */
struct move {
	enum agent_phase from;
	enum agent_input in;
	enum agent_phase to;
};

static const struct move moves[] = {
	{ AGENT_PHASE_RINGING,   AGENT_IN_ACCEPT,       AGENT_PHASE_ACCEPTING },
	{ AGENT_PHASE_RINGING,   AGENT_IN_REJECT,       AGENT_PHASE_IDLE },
	{ AGENT_PHASE_RINGING,   AGENT_IN_RING_TIMEOUT, AGENT_PHASE_IDLE },
	{ AGENT_PHASE_RINGING,   AGENT_IN_ABANDONED,    AGENT_PHASE_IDLE },
	{ AGENT_PHASE_RINGING,   AGENT_IN_CONNECTED,    AGENT_PHASE_CONNECTED },
	{ AGENT_PHASE_ACCEPTING, AGENT_IN_CONNECTED,    AGENT_PHASE_CONNECTED },
	{ AGENT_PHASE_ACCEPTING, AGENT_IN_ABANDONED,    AGENT_PHASE_IDLE },
	{ AGENT_PHASE_ACCEPTING, AGENT_IN_ENDED,        AGENT_PHASE_ACW },
	{ AGENT_PHASE_IDLE,      AGENT_IN_DIAL,         AGENT_PHASE_DIALING },
	{ AGENT_PHASE_DIALING,   AGENT_IN_CONNECTED,    AGENT_PHASE_CONNECTED },
	{ AGENT_PHASE_DIALING,   AGENT_IN_DIAL_FAILED,  AGENT_PHASE_FAILED },
	{ AGENT_PHASE_DIALING,   AGENT_IN_ENDED,        AGENT_PHASE_ACW },
	{ AGENT_PHASE_CONNECTED, AGENT_IN_ENDED,        AGENT_PHASE_ACW },
	{ AGENT_PHASE_ACW,       AGENT_IN_CLEAR,        AGENT_PHASE_IDLE },
	{ AGENT_PHASE_FAILED,    AGENT_IN_CLEAR,        AGENT_PHASE_IDLE },
	/* a desk phone that does not answer: the offer rings on, and the
	 * agent may accept again (the desk phone rings again) or let it go */
	{ AGENT_PHASE_ACCEPTING, AGENT_IN_AGENT_FAILED, AGENT_PHASE_AGENT_FAILED },
	{ AGENT_PHASE_AGENT_FAILED, AGENT_IN_ACCEPT,    AGENT_PHASE_ACCEPTING },
	{ AGENT_PHASE_AGENT_FAILED, AGENT_IN_REJECT,    AGENT_PHASE_IDLE },
	{ AGENT_PHASE_AGENT_FAILED, AGENT_IN_RING_TIMEOUT, AGENT_PHASE_IDLE },
	{ AGENT_PHASE_AGENT_FAILED, AGENT_IN_ABANDONED, AGENT_PHASE_IDLE },
	/* dialing out, the desk phone is rung first: the failed contact is
	 * cleared as a failed dial is */
	{ AGENT_PHASE_DIALING,   AGENT_IN_AGENT_FAILED, AGENT_PHASE_AGENT_FAILED },
	{ AGENT_PHASE_AGENT_FAILED, AGENT_IN_CLEAR,     AGENT_PHASE_IDLE },
};

static const struct move *find_move(enum agent_phase p, enum agent_input in)
{
	size_t i;

	for (i = 0; i < sizeof(moves) / sizeof(moves[0]); i++)
		if (moves[i].from == p && moves[i].in == in)
			return &moves[i];
	return NULL;
}

static int apply_move(struct agent *a, enum agent_input in)
{
	const struct move *m = find_move(a->phase, in);

	if (!m)
		return -EINVAL;
	if (in == AGENT_IN_DIAL &&
	    (!a->media_up ||
	     a->statuses[a->status].type == AGENT_TYPE_OFFLINE))
		return -EINVAL;
	if (in == AGENT_IN_DIAL)
		a->missed = false;
	if (m->to == AGENT_PHASE_IDLE) {
		to_idle(a);
		/* only an agent who was taking calls misses one */
		if (in == AGENT_IN_RING_TIMEOUT &&
		    a->statuses[a->status].type == AGENT_TYPE_ROUTABLE)
			a->missed = true;
	} else {
		a->phase = m->to;
	}
	return 0;
}

int agent_input(struct agent *a, enum agent_input in, int status,
		uint64_t now_ms, enum agent_action *act)
{
	enum agent_action action = AGENT_ACT_NONE;
	int r = 0;

	switch (in) {
	case AGENT_IN_SET_STATUS:
		r = set_status(a, status);
		break;
	case AGENT_IN_CLEAR_NEXT:
		a->next = -1;
		break;
	case AGENT_IN_OFFER:
		action = offer(a);
		break;
	case AGENT_IN_MEDIA_DOWN:
		a->media_up = false;
		if (is_live(a->phase))
			to_idle(a);
		break;
	case AGENT_IN_MEDIA_UP:
		a->media_up = true;
		break;
	case AGENT_IN_ACCEPT:
	case AGENT_IN_REJECT:
	case AGENT_IN_RING_TIMEOUT:
	case AGENT_IN_ABANDONED:
	case AGENT_IN_DIAL:
	case AGENT_IN_CONNECTED:
	case AGENT_IN_DIAL_FAILED:
	case AGENT_IN_ENDED:
	case AGENT_IN_CLEAR:
	case AGENT_IN_AGENT_FAILED:
		r = apply_move(a, in);
		break;
	}
	if (r == 0)
		update_since(a, now_ms);
	if (act)
		*act = action;
	return r;
}

const char *agent_state(const struct agent *a)
{
	return effective(a, NULL);
}

enum agent_type agent_state_type(const struct agent *a)
{
	enum agent_type t;

	effective(a, &t);
	return t;
}

const char *agent_status(const struct agent *a)
{
	return a->statuses[a->status].name;
}

int agent_status_index(const struct agent *a)
{
	return a->status;
}

const char *agent_next(const struct agent *a)
{
	return a->next >= 0 ? a->statuses[a->next].name : NULL;
}

uint64_t agent_since(const struct agent *a)
{
	return a->since;
}

bool agent_routable(const struct agent *a)
{
	return a->media_up && a->phase == AGENT_PHASE_IDLE && !a->missed &&
	       a->statuses[a->status].type == AGENT_TYPE_ROUTABLE;
}

bool agent_media_up(const struct agent *a)
{
	return a->media_up;
}

enum agent_phase agent_get_phase(const struct agent *a)
{
	return a->phase;
}

size_t agent_status_count(const struct agent *a)
{
	return a->n_statuses;
}

const char *agent_status_name(const struct agent *a, size_t i)
{
	return i < a->n_statuses ? a->statuses[i].name : NULL;
}

enum agent_type agent_status_type(const struct agent *a, size_t i)
{
	return i < a->n_statuses ? a->statuses[i].type : AGENT_TYPE_ERROR;
}

int agent_status_find(const struct agent *a, const char *name)
{
	size_t i;

	for (i = 0; i < a->n_statuses; i++)
		if (strcmp(a->statuses[i].name, name) == 0)
			return (int)i;
	return -1;
}

const char *agent_type_name(enum agent_type t)
{
	switch (t) {
	case AGENT_TYPE_ROUTABLE:     return "routable";
	case AGENT_TYPE_NOT_ROUTABLE: return "not_routable";
	case AGENT_TYPE_OFFLINE:      return "offline";
	case AGENT_TYPE_SYSTEM:       return "system";
	case AGENT_TYPE_ERROR:        return "error";
	}
	return "error";
}

const char *agent_input_name(enum agent_input in)
{
	switch (in) {
	case AGENT_IN_SET_STATUS:   return "set-status";
	case AGENT_IN_CLEAR_NEXT:   return "clear-next";
	case AGENT_IN_OFFER:        return "offer";
	case AGENT_IN_ACCEPT:       return "accept";
	case AGENT_IN_REJECT:       return "reject";
	case AGENT_IN_RING_TIMEOUT: return "ring-timeout";
	case AGENT_IN_ABANDONED:    return "abandoned";
	case AGENT_IN_DIAL:         return "dial";
	case AGENT_IN_CONNECTED:    return "connected";
	case AGENT_IN_DIAL_FAILED:  return "dial-failed";
	case AGENT_IN_ENDED:        return "ended";
	case AGENT_IN_CLEAR:        return "clear";
	case AGENT_IN_MEDIA_DOWN:   return "media-down";
	case AGENT_IN_MEDIA_UP:     return "media-up";
	case AGENT_IN_AGENT_FAILED: return "agent-failed";
	}
	return "?";
}

const char *agent_phase_name(enum agent_phase p)
{
	switch (p) {
	case AGENT_PHASE_IDLE:      return "idle";
	case AGENT_PHASE_RINGING:   return "ringing";
	case AGENT_PHASE_ACCEPTING: return "accepting";
	case AGENT_PHASE_DIALING:   return "dialing";
	case AGENT_PHASE_CONNECTED: return "connected";
	case AGENT_PHASE_ACW:       return "acw";
	case AGENT_PHASE_FAILED:    return "failed";
	case AGENT_PHASE_AGENT_FAILED: return "agent-failed";
	}
	return "?";
}
