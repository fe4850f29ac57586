/* Unit tests for the agent state machine: every phase with every input, then
 * the rules of PROTOCOL.md ("The agent"), as one table read top to bottom. */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "agent.h"
#include "tap.h"

/* Every row starts from agent_new(custom, 2, "Available", T0); the clock
 * then moves STEP ms before each input, so a since equal to the time of the
 * input under test means the effective state began with it. */
#define T0   1764194000000ULL
#define STEP 1000ULL

static const char *const custom[] = { "Break", "Lunch" };

/* status indices: Available and Offline are built in, then the custom ones */
enum { AV = 0, OFF = 1, BRK = 2, LUN = 3 };

struct step {
	enum agent_input in;
	int arg;
};

#define IN(x)  { AGENT_IN_##x, 0 }
#define SET(s) { AGENT_IN_SET_STATUS, (s) }
#define END    { AGENT_IN_COUNT, 0 }

/* The fixed sequences that bring a fresh agent to a phase. A fresh agent has
 * not heard from the media stack yet, so it starts in Error. */
static const struct step fresh[]     = { END };
static const struct step idle[]      = { IN(MEDIA_UP), END };
static const struct step ringing[]   = { IN(MEDIA_UP), IN(OFFER), END };
static const struct step accepting[] = { IN(MEDIA_UP), IN(OFFER), IN(ACCEPT), END };
static const struct step dialing[]   = { IN(MEDIA_UP), IN(DIAL), END };
static const struct step connected[] = { IN(MEDIA_UP), IN(OFFER), IN(ACCEPT), IN(CONNECTED), END };
static const struct step acw[]       = { IN(MEDIA_UP), IN(OFFER), IN(ACCEPT), IN(CONNECTED), IN(ENDED), END };
static const struct step failed[]    = { IN(MEDIA_UP), IN(DIAL), IN(DIAL_FAILED), END };
static const struct step agent_failed[] = { IN(MEDIA_UP), IN(OFFER), IN(ACCEPT), IN(AGENT_FAILED), END };

/* Sequences for the rules. */
static const struct step af_next[]      = { IN(MEDIA_UP), IN(OFFER), IN(ACCEPT), IN(AGENT_FAILED), SET(LUN), END };
static const struct step af_dial_next[] = { IN(MEDIA_UP), IN(DIAL), IN(AGENT_FAILED), SET(LUN), END };
static const struct step af_again[]     = { IN(MEDIA_UP), IN(OFFER), IN(ACCEPT), IN(AGENT_FAILED), IN(ACCEPT), END };
static const struct step busy_next[]    = { IN(MEDIA_UP), IN(OFFER), IN(ACCEPT), IN(CONNECTED), SET(LUN), END };
static const struct step acw_next[]     = { IN(MEDIA_UP), IN(OFFER), IN(ACCEPT), IN(CONNECTED), SET(LUN), IN(ENDED), END };
static const struct step acw_unnext[]   = { IN(MEDIA_UP), IN(OFFER), IN(ACCEPT), IN(CONNECTED), SET(LUN), IN(ENDED), IN(CLEAR_NEXT), END };
static const struct step acw_chose[]    = { IN(MEDIA_UP), IN(DIAL), IN(CONNECTED), IN(ENDED), SET(BRK), END };
static const struct step dial_next[]    = { IN(MEDIA_UP), IN(DIAL), SET(LUN), END };
static const struct step failed_next[]  = { IN(MEDIA_UP), IN(DIAL), SET(LUN), IN(DIAL_FAILED), END };
static const struct step ring_lunch[]   = { IN(MEDIA_UP), IN(OFFER), SET(LUN), END };
static const struct step ring_offline[] = { IN(MEDIA_UP), IN(OFFER), SET(OFF), END };
static const struct step ring_avail[]   = { IN(MEDIA_UP), IN(OFFER), SET(AV), END };
static const struct step missed[]       = { IN(MEDIA_UP), IN(OFFER), IN(RING_TIMEOUT), END };
static const struct step missed_down[]  = { IN(MEDIA_UP), IN(OFFER), IN(RING_TIMEOUT), IN(MEDIA_DOWN), END };
static const struct step missed_chose[] = { IN(MEDIA_UP), IN(OFFER), IN(RING_TIMEOUT), SET(AV), END };
static const struct step missed_dialed[] = { IN(MEDIA_UP), IN(OFFER), IN(RING_TIMEOUT), IN(DIAL), IN(CONNECTED), IN(ENDED), END };
static const struct step offline[]      = { IN(MEDIA_UP), SET(OFF), END };
static const struct step brk[]          = { IN(MEDIA_UP), SET(BRK), END };
static const struct step lunch[]        = { IN(MEDIA_UP), SET(LUN), END };
static const struct step down[]         = { IN(MEDIA_UP), IN(MEDIA_DOWN), END };
static const struct step down_chose[]   = { IN(MEDIA_UP), IN(MEDIA_DOWN), SET(BRK), END };
static const struct step call_down[]    = { IN(MEDIA_UP), IN(OFFER), IN(ACCEPT), IN(CONNECTED), IN(MEDIA_DOWN), END };
static const struct step call_next_down[] = { IN(MEDIA_UP), IN(OFFER), IN(ACCEPT), IN(CONNECTED), SET(LUN), IN(MEDIA_DOWN), END };
static const struct step acw_down[]     = { IN(MEDIA_UP), IN(DIAL), IN(CONNECTED), IN(ENDED), IN(MEDIA_DOWN), END };
static const struct step failed_down[]  = { IN(MEDIA_UP), IN(DIAL), IN(DIAL_FAILED), IN(MEDIA_DOWN), END };

enum since { KEPT, NEW };

struct row {
	const char *name;
	const struct step *path;
	enum agent_input in;
	int arg;
	int rc;
	enum agent_action act;
	const char *state;
	enum agent_type type;
	const char *status;
	const char *next;
	bool routable;
	enum since since;
	enum agent_phase phase;
};

#define ROW(name, path, in, arg, rc, act, state, type, status, next, rt, since, phase) \
	{ name, path, AGENT_IN_##in, arg, rc, AGENT_ACT_##act, state,            \
	  AGENT_TYPE_##type, status, next, rt, since, AGENT_PHASE_##phase }

/* The unused arg of inputs other than set-status. */
#define NA 0

/* A row: from a fresh agent, walk path, then feed input (arg) and expect rc
 * and act, then the agent: state and type (effective), status (chosen), next
 * (NULL for none), rt (routable), since (NEW: the input's time, KEPT: as it
 * was) and the phase it is in. The first 120 rows are every phase with every
 * input, in enum order. */
static const struct row rows[] = {
	/*  name                                           path            input         arg  rc       act     state                    type          status       next     rt since phase */
	/* idle: Available, media up */
	ROW("idle + set-status",                           idle,           SET_STATUS,   LUN, 0,       NONE,   "Lunch",                 NOT_ROUTABLE, "Lunch",     NULL,    0, NEW,  IDLE),
	ROW("idle + clear-next",                           idle,           CLEAR_NEXT,   NA,  0,       NONE,   "Available",             ROUTABLE,     "Available", NULL,    1, KEPT, IDLE),
	ROW("idle + offer",                                idle,           OFFER,        NA,  0,       RING,   "PendingBusy",           SYSTEM,       "Available", NULL,    0, NEW,  RINGING),
	ROW("idle + accept",                               idle,           ACCEPT,       NA,  -EINVAL, NONE,   "Available",             ROUTABLE,     "Available", NULL,    1, KEPT, IDLE),
	ROW("idle + reject",                               idle,           REJECT,       NA,  -EINVAL, NONE,   "Available",             ROUTABLE,     "Available", NULL,    1, KEPT, IDLE),
	ROW("idle + ring-timeout",                         idle,           RING_TIMEOUT, NA,  -EINVAL, NONE,   "Available",             ROUTABLE,     "Available", NULL,    1, KEPT, IDLE),
	ROW("idle + abandoned",                            idle,           ABANDONED,    NA,  -EINVAL, NONE,   "Available",             ROUTABLE,     "Available", NULL,    1, KEPT, IDLE),
	ROW("idle + dial",                                 idle,           DIAL,         NA,  0,       NONE,   "CallingCustomer",       SYSTEM,       "Available", NULL,    0, NEW,  DIALING),
	ROW("idle + connected",                            idle,           CONNECTED,    NA,  -EINVAL, NONE,   "Available",             ROUTABLE,     "Available", NULL,    1, KEPT, IDLE),
	ROW("idle + dial-failed",                          idle,           DIAL_FAILED,  NA,  -EINVAL, NONE,   "Available",             ROUTABLE,     "Available", NULL,    1, KEPT, IDLE),
	ROW("idle + ended",                                idle,           ENDED,        NA,  -EINVAL, NONE,   "Available",             ROUTABLE,     "Available", NULL,    1, KEPT, IDLE),
	ROW("idle + clear",                                idle,           CLEAR,        NA,  -EINVAL, NONE,   "Available",             ROUTABLE,     "Available", NULL,    1, KEPT, IDLE),
	ROW("idle + media-down",                           idle,           MEDIA_DOWN,   NA,  0,       NONE,   "Error",                 ERROR,        "Available", NULL,    0, NEW,  IDLE),
	ROW("idle + media-up",                             idle,           MEDIA_UP,     NA,  0,       NONE,   "Available",             ROUTABLE,     "Available", NULL,    1, KEPT, IDLE),
	ROW("idle + agent-failed",                           idle,           AGENT_FAILED, NA,  -EINVAL, NONE,   "Available",             ROUTABLE,     "Available", NULL,    1, KEPT, IDLE),
	/* ringing: an offer rings */
	ROW("ringing + set-status",                        ringing,        SET_STATUS,   LUN, 0,       NONE,   "PendingBusy",           SYSTEM,       "Available", "Lunch", 0, KEPT, RINGING),
	ROW("ringing + clear-next",                        ringing,        CLEAR_NEXT,   NA,  0,       NONE,   "PendingBusy",           SYSTEM,       "Available", NULL,    0, KEPT, RINGING),
	ROW("ringing + offer",                             ringing,        OFFER,        NA,  0,       REFUSE, "PendingBusy",           SYSTEM,       "Available", NULL,    0, KEPT, RINGING),
	ROW("ringing + accept",                            ringing,        ACCEPT,       NA,  0,       NONE,   "PendingBusy",           SYSTEM,       "Available", NULL,    0, KEPT, ACCEPTING),
	ROW("ringing + reject",                            ringing,        REJECT,       NA,  0,       NONE,   "Available",             ROUTABLE,     "Available", NULL,    1, NEW,  IDLE),
	ROW("ringing + ring-timeout",                      ringing,        RING_TIMEOUT, NA,  0,       NONE,   "MissedCallAgent",       ERROR,        "Available", NULL,    0, NEW,  IDLE),
	ROW("ringing + abandoned",                         ringing,        ABANDONED,    NA,  0,       NONE,   "Available",             ROUTABLE,     "Available", NULL,    1, NEW,  IDLE),
	ROW("ringing + dial",                              ringing,        DIAL,         NA,  -EINVAL, NONE,   "PendingBusy",           SYSTEM,       "Available", NULL,    0, KEPT, RINGING),
	ROW("ringing + connected",                         ringing,        CONNECTED,    NA,  0,       NONE,   "Busy",                  SYSTEM,       "Available", NULL,    0, NEW,  CONNECTED),
	ROW("ringing + dial-failed",                       ringing,        DIAL_FAILED,  NA,  -EINVAL, NONE,   "PendingBusy",           SYSTEM,       "Available", NULL,    0, KEPT, RINGING),
	ROW("ringing + ended",                             ringing,        ENDED,        NA,  -EINVAL, NONE,   "PendingBusy",           SYSTEM,       "Available", NULL,    0, KEPT, RINGING),
	ROW("ringing + clear",                             ringing,        CLEAR,        NA,  -EINVAL, NONE,   "PendingBusy",           SYSTEM,       "Available", NULL,    0, KEPT, RINGING),
	ROW("ringing + media-down",                        ringing,        MEDIA_DOWN,   NA,  0,       NONE,   "Error",                 ERROR,        "Available", NULL,    0, NEW,  IDLE),
	ROW("ringing + media-up",                          ringing,        MEDIA_UP,     NA,  0,       NONE,   "PendingBusy",           SYSTEM,       "Available", NULL,    0, KEPT, RINGING),
	ROW("ringing + agent-failed",                        ringing,        AGENT_FAILED, NA,  -EINVAL, NONE,   "PendingBusy",           SYSTEM,       "Available", NULL,    0, KEPT, RINGING),
	/* accepting: accepted, not yet connected */
	ROW("accepting + set-status",                      accepting,      SET_STATUS,   LUN, 0,       NONE,   "PendingBusy",           SYSTEM,       "Available", "Lunch", 0, KEPT, ACCEPTING),
	ROW("accepting + clear-next",                      accepting,      CLEAR_NEXT,   NA,  0,       NONE,   "PendingBusy",           SYSTEM,       "Available", NULL,    0, KEPT, ACCEPTING),
	ROW("accepting + offer",                           accepting,      OFFER,        NA,  0,       REFUSE, "PendingBusy",           SYSTEM,       "Available", NULL,    0, KEPT, ACCEPTING),
	ROW("accepting + accept",                          accepting,      ACCEPT,       NA,  -EINVAL, NONE,   "PendingBusy",           SYSTEM,       "Available", NULL,    0, KEPT, ACCEPTING),
	ROW("accepting + reject",                          accepting,      REJECT,       NA,  -EINVAL, NONE,   "PendingBusy",           SYSTEM,       "Available", NULL,    0, KEPT, ACCEPTING),
	ROW("accepting + ring-timeout",                    accepting,      RING_TIMEOUT, NA,  -EINVAL, NONE,   "PendingBusy",           SYSTEM,       "Available", NULL,    0, KEPT, ACCEPTING),
	ROW("accepting + abandoned",                       accepting,      ABANDONED,    NA,  0,       NONE,   "Available",             ROUTABLE,     "Available", NULL,    1, NEW,  IDLE),
	ROW("accepting + dial",                            accepting,      DIAL,         NA,  -EINVAL, NONE,   "PendingBusy",           SYSTEM,       "Available", NULL,    0, KEPT, ACCEPTING),
	ROW("accepting + connected",                       accepting,      CONNECTED,    NA,  0,       NONE,   "Busy",                  SYSTEM,       "Available", NULL,    0, NEW,  CONNECTED),
	ROW("accepting + dial-failed",                     accepting,      DIAL_FAILED,  NA,  -EINVAL, NONE,   "PendingBusy",           SYSTEM,       "Available", NULL,    0, KEPT, ACCEPTING),
	ROW("accepting + ended",                           accepting,      ENDED,        NA,  0,       NONE,   "AfterContactWork",      SYSTEM,       "Available", NULL,    0, NEW,  ACW),
	ROW("accepting + clear",                           accepting,      CLEAR,        NA,  -EINVAL, NONE,   "PendingBusy",           SYSTEM,       "Available", NULL,    0, KEPT, ACCEPTING),
	ROW("accepting + media-down",                      accepting,      MEDIA_DOWN,   NA,  0,       NONE,   "Error",                 ERROR,        "Available", NULL,    0, NEW,  IDLE),
	ROW("accepting + media-up",                        accepting,      MEDIA_UP,     NA,  0,       NONE,   "PendingBusy",           SYSTEM,       "Available", NULL,    0, KEPT, ACCEPTING),
	ROW("accepting + agent-failed",                      accepting,      AGENT_FAILED, NA,  0,       NONE,   "FailedConnectAgent",    ERROR,        "Available", NULL,    0, NEW, AGENT_FAILED),
	/* dialing: outbound, not yet answered */
	ROW("dialing + set-status",                        dialing,        SET_STATUS,   LUN, 0,       NONE,   "CallingCustomer",       SYSTEM,       "Available", "Lunch", 0, KEPT, DIALING),
	ROW("dialing + clear-next",                        dialing,        CLEAR_NEXT,   NA,  0,       NONE,   "CallingCustomer",       SYSTEM,       "Available", NULL,    0, KEPT, DIALING),
	ROW("dialing + offer",                             dialing,        OFFER,        NA,  0,       REFUSE, "CallingCustomer",       SYSTEM,       "Available", NULL,    0, KEPT, DIALING),
	ROW("dialing + accept",                            dialing,        ACCEPT,       NA,  -EINVAL, NONE,   "CallingCustomer",       SYSTEM,       "Available", NULL,    0, KEPT, DIALING),
	ROW("dialing + reject",                            dialing,        REJECT,       NA,  -EINVAL, NONE,   "CallingCustomer",       SYSTEM,       "Available", NULL,    0, KEPT, DIALING),
	ROW("dialing + ring-timeout",                      dialing,        RING_TIMEOUT, NA,  -EINVAL, NONE,   "CallingCustomer",       SYSTEM,       "Available", NULL,    0, KEPT, DIALING),
	ROW("dialing + abandoned",                         dialing,        ABANDONED,    NA,  -EINVAL, NONE,   "CallingCustomer",       SYSTEM,       "Available", NULL,    0, KEPT, DIALING),
	ROW("dialing + dial",                              dialing,        DIAL,         NA,  -EINVAL, NONE,   "CallingCustomer",       SYSTEM,       "Available", NULL,    0, KEPT, DIALING),
	ROW("dialing + connected",                         dialing,        CONNECTED,    NA,  0,       NONE,   "Busy",                  SYSTEM,       "Available", NULL,    0, NEW,  CONNECTED),
	ROW("dialing + dial-failed",                       dialing,        DIAL_FAILED,  NA,  0,       NONE,   "FailedConnectCustomer", ERROR,        "Available", NULL,    0, NEW,  FAILED),
	ROW("dialing + ended",                             dialing,        ENDED,        NA,  0,       NONE,   "AfterContactWork",      SYSTEM,       "Available", NULL,    0, NEW,  ACW),
	ROW("dialing + clear",                             dialing,        CLEAR,        NA,  -EINVAL, NONE,   "CallingCustomer",       SYSTEM,       "Available", NULL,    0, KEPT, DIALING),
	ROW("dialing + media-down",                        dialing,        MEDIA_DOWN,   NA,  0,       NONE,   "Error",                 ERROR,        "Available", NULL,    0, NEW,  IDLE),
	ROW("dialing + media-up",                          dialing,        MEDIA_UP,     NA,  0,       NONE,   "CallingCustomer",       SYSTEM,       "Available", NULL,    0, KEPT, DIALING),
	ROW("dialing + agent-failed",                          dialing,        AGENT_FAILED, NA,  0,       NONE,   "FailedConnectAgent",    ERROR,        "Available", NULL,    0, NEW,  AGENT_FAILED),
	/* connected */
	ROW("connected + set-status",                      connected,      SET_STATUS,   LUN, 0,       NONE,   "Busy",                  SYSTEM,       "Available", "Lunch", 0, KEPT, CONNECTED),
	ROW("connected + clear-next",                      connected,      CLEAR_NEXT,   NA,  0,       NONE,   "Busy",                  SYSTEM,       "Available", NULL,    0, KEPT, CONNECTED),
	ROW("connected + offer",                           connected,      OFFER,        NA,  0,       REFUSE, "Busy",                  SYSTEM,       "Available", NULL,    0, KEPT, CONNECTED),
	ROW("connected + accept",                          connected,      ACCEPT,       NA,  -EINVAL, NONE,   "Busy",                  SYSTEM,       "Available", NULL,    0, KEPT, CONNECTED),
	ROW("connected + reject",                          connected,      REJECT,       NA,  -EINVAL, NONE,   "Busy",                  SYSTEM,       "Available", NULL,    0, KEPT, CONNECTED),
	ROW("connected + ring-timeout",                    connected,      RING_TIMEOUT, NA,  -EINVAL, NONE,   "Busy",                  SYSTEM,       "Available", NULL,    0, KEPT, CONNECTED),
	ROW("connected + abandoned",                       connected,      ABANDONED,    NA,  -EINVAL, NONE,   "Busy",                  SYSTEM,       "Available", NULL,    0, KEPT, CONNECTED),
	ROW("connected + dial",                            connected,      DIAL,         NA,  -EINVAL, NONE,   "Busy",                  SYSTEM,       "Available", NULL,    0, KEPT, CONNECTED),
	ROW("connected + connected",                       connected,      CONNECTED,    NA,  -EINVAL, NONE,   "Busy",                  SYSTEM,       "Available", NULL,    0, KEPT, CONNECTED),
	ROW("connected + dial-failed",                     connected,      DIAL_FAILED,  NA,  -EINVAL, NONE,   "Busy",                  SYSTEM,       "Available", NULL,    0, KEPT, CONNECTED),
	ROW("connected + ended",                           connected,      ENDED,        NA,  0,       NONE,   "AfterContactWork",      SYSTEM,       "Available", NULL,    0, NEW,  ACW),
	ROW("connected + clear",                           connected,      CLEAR,        NA,  -EINVAL, NONE,   "Busy",                  SYSTEM,       "Available", NULL,    0, KEPT, CONNECTED),
	ROW("connected + media-down",                      connected,      MEDIA_DOWN,   NA,  0,       NONE,   "Error",                 ERROR,        "Available", NULL,    0, NEW,  IDLE),
	ROW("connected + media-up",                        connected,      MEDIA_UP,     NA,  0,       NONE,   "Busy",                  SYSTEM,       "Available", NULL,    0, KEPT, CONNECTED),
	ROW("connected + agent-failed",                      connected,      AGENT_FAILED, NA,  -EINVAL, NONE,   "Busy",                  SYSTEM,       "Available", NULL,    0, KEPT, CONNECTED),
	/* acw: after-contact work */
	ROW("acw + set-status",                            acw,            SET_STATUS,   LUN, 0,       NONE,   "AfterContactWork",      SYSTEM,       "Available", "Lunch", 0, KEPT, ACW),
	ROW("acw + clear-next",                            acw,            CLEAR_NEXT,   NA,  0,       NONE,   "AfterContactWork",      SYSTEM,       "Available", NULL,    0, KEPT, ACW),
	ROW("acw + offer",                                 acw,            OFFER,        NA,  0,       REFUSE, "AfterContactWork",      SYSTEM,       "Available", NULL,    0, KEPT, ACW),
	ROW("acw + accept",                                acw,            ACCEPT,       NA,  -EINVAL, NONE,   "AfterContactWork",      SYSTEM,       "Available", NULL,    0, KEPT, ACW),
	ROW("acw + reject",                                acw,            REJECT,       NA,  -EINVAL, NONE,   "AfterContactWork",      SYSTEM,       "Available", NULL,    0, KEPT, ACW),
	ROW("acw + ring-timeout",                          acw,            RING_TIMEOUT, NA,  -EINVAL, NONE,   "AfterContactWork",      SYSTEM,       "Available", NULL,    0, KEPT, ACW),
	ROW("acw + abandoned",                             acw,            ABANDONED,    NA,  -EINVAL, NONE,   "AfterContactWork",      SYSTEM,       "Available", NULL,    0, KEPT, ACW),
	ROW("acw + dial",                                  acw,            DIAL,         NA,  -EINVAL, NONE,   "AfterContactWork",      SYSTEM,       "Available", NULL,    0, KEPT, ACW),
	ROW("acw + connected",                             acw,            CONNECTED,    NA,  -EINVAL, NONE,   "AfterContactWork",      SYSTEM,       "Available", NULL,    0, KEPT, ACW),
	ROW("acw + dial-failed",                           acw,            DIAL_FAILED,  NA,  -EINVAL, NONE,   "AfterContactWork",      SYSTEM,       "Available", NULL,    0, KEPT, ACW),
	ROW("acw + ended",                                 acw,            ENDED,        NA,  -EINVAL, NONE,   "AfterContactWork",      SYSTEM,       "Available", NULL,    0, KEPT, ACW),
	ROW("acw + clear",                                 acw,            CLEAR,        NA,  0,       NONE,   "Available",             ROUTABLE,     "Available", NULL,    1, NEW,  IDLE),
	ROW("acw + media-down",                            acw,            MEDIA_DOWN,   NA,  0,       NONE,   "Error",                 ERROR,        "Available", NULL,    0, NEW,  ACW),
	ROW("acw + media-up",                              acw,            MEDIA_UP,     NA,  0,       NONE,   "AfterContactWork",      SYSTEM,       "Available", NULL,    0, KEPT, ACW),
	ROW("acw + agent-failed",                            acw,            AGENT_FAILED, NA,  -EINVAL, NONE,   "AfterContactWork",      SYSTEM,       "Available", NULL,    0, KEPT, ACW),
	/* failed: an outbound call failed */
	ROW("failed + set-status",                         failed,         SET_STATUS,   LUN, 0,       NONE,   "Lunch",                 NOT_ROUTABLE, "Lunch",     NULL,    0, NEW,  IDLE),
	ROW("failed + clear-next",                         failed,         CLEAR_NEXT,   NA,  0,       NONE,   "FailedConnectCustomer", ERROR,        "Available", NULL,    0, KEPT, FAILED),
	ROW("failed + offer",                              failed,         OFFER,        NA,  0,       REFUSE, "FailedConnectCustomer", ERROR,        "Available", NULL,    0, KEPT, FAILED),
	ROW("failed + accept",                             failed,         ACCEPT,       NA,  -EINVAL, NONE,   "FailedConnectCustomer", ERROR,        "Available", NULL,    0, KEPT, FAILED),
	ROW("failed + reject",                             failed,         REJECT,       NA,  -EINVAL, NONE,   "FailedConnectCustomer", ERROR,        "Available", NULL,    0, KEPT, FAILED),
	ROW("failed + ring-timeout",                       failed,         RING_TIMEOUT, NA,  -EINVAL, NONE,   "FailedConnectCustomer", ERROR,        "Available", NULL,    0, KEPT, FAILED),
	ROW("failed + abandoned",                          failed,         ABANDONED,    NA,  -EINVAL, NONE,   "FailedConnectCustomer", ERROR,        "Available", NULL,    0, KEPT, FAILED),
	ROW("failed + dial",                               failed,         DIAL,         NA,  -EINVAL, NONE,   "FailedConnectCustomer", ERROR,        "Available", NULL,    0, KEPT, FAILED),
	ROW("failed + connected",                          failed,         CONNECTED,    NA,  -EINVAL, NONE,   "FailedConnectCustomer", ERROR,        "Available", NULL,    0, KEPT, FAILED),
	ROW("failed + dial-failed",                        failed,         DIAL_FAILED,  NA,  -EINVAL, NONE,   "FailedConnectCustomer", ERROR,        "Available", NULL,    0, KEPT, FAILED),
	ROW("failed + ended",                              failed,         ENDED,        NA,  -EINVAL, NONE,   "FailedConnectCustomer", ERROR,        "Available", NULL,    0, KEPT, FAILED),
	ROW("failed + clear",                              failed,         CLEAR,        NA,  0,       NONE,   "Available",             ROUTABLE,     "Available", NULL,    1, NEW,  IDLE),
	ROW("failed + media-down",                         failed,         MEDIA_DOWN,   NA,  0,       NONE,   "Error",                 ERROR,        "Available", NULL,    0, NEW,  FAILED),
	ROW("failed + media-up",                           failed,         MEDIA_UP,     NA,  0,       NONE,   "FailedConnectCustomer", ERROR,        "Available", NULL,    0, KEPT, FAILED),
	ROW("failed + agent-failed",                         failed,         AGENT_FAILED, NA,  -EINVAL, NONE,   "FailedConnectCustomer", ERROR,        "Available", NULL,    0, KEPT, FAILED),
	/* agent failed: the desk phone did not answer; the offer rings on */
	ROW("agent-failed + set-status",                     agent_failed,   SET_STATUS,   LUN, 0,       NONE,   "FailedConnectAgent",    ERROR,        "Available", "Lunch", 0, KEPT, AGENT_FAILED),
	ROW("agent-failed + clear-next",                     agent_failed,   CLEAR_NEXT,   NA,  0,       NONE,   "FailedConnectAgent",    ERROR,        "Available", NULL,    0, KEPT, AGENT_FAILED),
	ROW("agent-failed + offer",                          agent_failed,   OFFER,        NA,  0,       REFUSE, "FailedConnectAgent",    ERROR,        "Available", NULL,    0, KEPT, AGENT_FAILED),
	ROW("agent-failed + accept",                         agent_failed,   ACCEPT,       NA,  0,       NONE,   "PendingBusy",           SYSTEM,       "Available", NULL,    0, NEW, ACCEPTING),
	ROW("agent-failed + reject",                         agent_failed,   REJECT,       NA,  0,       NONE,   "Available",             ROUTABLE,     "Available", NULL,    1, NEW, IDLE),
	ROW("agent-failed + ring-timeout",                   agent_failed,   RING_TIMEOUT, NA,  0,       NONE,   "MissedCallAgent",       ERROR,        "Available", NULL,    0, NEW, IDLE),
	ROW("agent-failed + abandoned",                      agent_failed,   ABANDONED,    NA,  0,       NONE,   "Available",             ROUTABLE,     "Available", NULL,    1, NEW, IDLE),
	ROW("agent-failed + dial",                           agent_failed,   DIAL,         NA,  -EINVAL, NONE,   "FailedConnectAgent",    ERROR,        "Available", NULL,    0, KEPT, AGENT_FAILED),
	ROW("agent-failed + connected",                      agent_failed,   CONNECTED,    NA,  -EINVAL, NONE,   "FailedConnectAgent",    ERROR,        "Available", NULL,    0, KEPT, AGENT_FAILED),
	ROW("agent-failed + dial-failed",                    agent_failed,   DIAL_FAILED,  NA,  -EINVAL, NONE,   "FailedConnectAgent",    ERROR,        "Available", NULL,    0, KEPT, AGENT_FAILED),
	ROW("agent-failed + ended",                          agent_failed,   ENDED,        NA,  -EINVAL, NONE,   "FailedConnectAgent",    ERROR,        "Available", NULL,    0, KEPT, AGENT_FAILED),
	ROW("agent-failed + clear",                            agent_failed,   CLEAR,        NA,  0,       NONE,   "Available",             ROUTABLE,     "Available", NULL,    1, NEW,  IDLE),
	ROW("agent-failed + media-down",                     agent_failed,   MEDIA_DOWN,   NA,  0,       NONE,   "Error",                 ERROR,        "Available", NULL,    0, NEW, IDLE),
	ROW("agent-failed + media-up",                       agent_failed,   MEDIA_UP,     NA,  0,       NONE,   "FailedConnectAgent",    ERROR,        "Available", NULL,    0, KEPT, AGENT_FAILED),
	ROW("agent-failed + agent-failed",                   agent_failed,   AGENT_FAILED, NA,  -EINVAL, NONE,   "FailedConnectAgent",    ERROR,        "Available", NULL,    0, KEPT, AGENT_FAILED),

	/* A status chosen during a contact becomes next, applied when the agent is free. */
	ROW("next: kept when the call ends",               busy_next,      ENDED,        NA,  0,       NONE,   "AfterContactWork",      SYSTEM,       "Available", "Lunch", 0, NEW,  ACW),
	ROW("next: applied when ACW is cleared",           acw_next,       CLEAR,        NA,  0,       NONE,   "Lunch",                 NOT_ROUTABLE, "Lunch",     NULL,    0, NEW,  IDLE),
	ROW("next: chosen in ACW, applied at clear",       acw_chose,      CLEAR,        NA,  0,       NONE,   "Break",                 NOT_ROUTABLE, "Break",     NULL,    0, NEW,  IDLE),
	ROW("next: a later choice replaces it",            acw_next,       SET_STATUS,   BRK, 0,       NONE,   "AfterContactWork",      SYSTEM,       "Available", "Break", 0, KEPT, ACW),
	ROW("next: cleared while busy",                    busy_next,      CLEAR_NEXT,   NA,  0,       NONE,   "Busy",                  SYSTEM,       "Available", NULL,    0, KEPT, CONNECTED),
	ROW("next: cleared in ACW, clear keeps status",    acw_unnext,     CLEAR,        NA,  0,       NONE,   "Available",             ROUTABLE,     "Available", NULL,    1, NEW,  IDLE),
	ROW("next: kept when the dial fails",              dial_next,      DIAL_FAILED,  NA,  0,       NONE,   "FailedConnectCustomer", ERROR,        "Available", "Lunch", 0, NEW,  FAILED),
	ROW("next: applied when a failed dial is cleared", failed_next,    CLEAR,        NA,  0,       NONE,   "Lunch",                 NOT_ROUTABLE, "Lunch",     NULL,    0, NEW,  IDLE),
	ROW("next: a choice after a failed dial wins",     failed_next,    SET_STATUS,   BRK, 0,       NONE,   "Break",                 NOT_ROUTABLE, "Break",     NULL,    0, NEW,  IDLE),
	ROW("next: applied when the caller abandons",      ring_lunch,     ABANDONED,    NA,  0,       NONE,   "Lunch",                 NOT_ROUTABLE, "Lunch",     NULL,    0, NEW,  IDLE),
	ROW("next: applied when the offer is rejected",    ring_lunch,     REJECT,       NA,  0,       NONE,   "Lunch",                 NOT_ROUTABLE, "Lunch",     NULL,    0, NEW,  IDLE),
	ROW("next: unknown index leaves next alone",       busy_next,      SET_STATUS,   4,   -ENOENT, NONE,   "Busy",                  SYSTEM,       "Available", "Lunch", 0, KEPT, CONNECTED),

	/* Missed: an offer rang out; not routable until the agent chooses a status. */
	ROW("missed: offers are refused",                  missed,         OFFER,        NA,  0,       REFUSE, "MissedCallAgent",       ERROR,        "Available", NULL,    0, KEPT, IDLE),
	ROW("missed: clear-next does not end it",          missed,         CLEAR_NEXT,   NA,  0,       NONE,   "MissedCallAgent",       ERROR,        "Available", NULL,    0, KEPT, IDLE),
	ROW("missed: clear does not end it",               missed,         CLEAR,        NA,  -EINVAL, NONE,   "MissedCallAgent",       ERROR,        "Available", NULL,    0, KEPT, IDLE),
	ROW("missed: media down shows Error",              missed,         MEDIA_DOWN,   NA,  0,       NONE,   "Error",                 ERROR,        "Available", NULL,    0, NEW,  IDLE),
	ROW("missed: still missed when media is back",     missed_down,    MEDIA_UP,     NA,  0,       NONE,   "MissedCallAgent",       ERROR,        "Available", NULL,    0, NEW,  IDLE),
	ROW("missed: choosing Available ends it",          missed,         SET_STATUS,   AV,  0,       NONE,   "Available",             ROUTABLE,     "Available", NULL,    1, NEW,  IDLE),
	ROW("missed: choosing Break ends it",              missed,         SET_STATUS,   BRK, 0,       NONE,   "Break",                 NOT_ROUTABLE, "Break",     NULL,    0, NEW,  IDLE),
	ROW("missed: offers ring once a status is chosen", missed_chose,   OFFER,        NA,  0,       RING,   "PendingBusy",           SYSTEM,       "Available", NULL,    0, NEW,  RINGING),
	ROW("missed: unknown index does not end it",       missed,         SET_STATUS,   4,   -ENOENT, NONE,   "MissedCallAgent",       ERROR,        "Available", NULL,    0, KEPT, IDLE),
	ROW("missed: a dial ends it",                      missed,         DIAL,         NA,  0,       NONE,   "CallingCustomer",       SYSTEM,       "Available", NULL,    0, NEW,  DIALING),
	ROW("missed: after that dial, Available",          missed_dialed,  CLEAR,        NA,  0,       NONE,   "Available",             ROUTABLE,     "Available", NULL,    1, NEW,  IDLE),
	ROW("missed: next Lunch applied at the timeout",   ring_lunch,     RING_TIMEOUT, NA,  0,       NONE,   "Lunch",                 NOT_ROUTABLE, "Lunch",     NULL,    0, NEW,  IDLE),
	ROW("missed: next Offline applied at the timeout", ring_offline,   RING_TIMEOUT, NA,  0,       NONE,   "Offline",               OFFLINE,      "Offline",   NULL,    0, NEW,  IDLE),
	ROW("missed: next Available, still missed",        ring_avail,     RING_TIMEOUT, NA,  0,       NONE,   "MissedCallAgent",       ERROR,        "Available", NULL,    0, NEW,  IDLE),

	/* Offline and custom statuses refuse offers; the media stack must be up. */
	ROW("offline: offer refused",                      offline,        OFFER,        NA,  0,       REFUSE, "Offline",               OFFLINE,      "Offline",   NULL,    0, KEPT, IDLE),
	ROW("break: offer refused",                        brk,            OFFER,        NA,  0,       REFUSE, "Break",                 NOT_ROUTABLE, "Break",     NULL,    0, KEPT, IDLE),
	ROW("lunch: offer refused",                        lunch,          OFFER,        NA,  0,       REFUSE, "Lunch",                 NOT_ROUTABLE, "Lunch",     NULL,    0, KEPT, IDLE),
	ROW("media down: offer refused",                   down,           OFFER,        NA,  0,       REFUSE, "Error",                 ERROR,        "Available", NULL,    0, KEPT, IDLE),
	ROW("fresh: offer refused before media is up",     fresh,          OFFER,        NA,  0,       REFUSE, "Error",                 ERROR,        "Available", NULL,    0, KEPT, IDLE),

	/* Dialing out needs a status other than Offline and the media stack. */
	ROW("offline: dial refused",                       offline,        DIAL,         NA,  -EINVAL, NONE,   "Offline",               OFFLINE,      "Offline",   NULL,    0, KEPT, IDLE),
	ROW("media down: dial refused",                    down,           DIAL,         NA,  -EINVAL, NONE,   "Error",                 ERROR,        "Available", NULL,    0, KEPT, IDLE),
	ROW("fresh: dial refused before media is up",      fresh,          DIAL,         NA,  -EINVAL, NONE,   "Error",                 ERROR,        "Available", NULL,    0, KEPT, IDLE),
	ROW("break: dial allowed",                         brk,            DIAL,         NA,  0,       NONE,   "CallingCustomer",       SYSTEM,       "Break",     NULL,    0, NEW,  DIALING),

	/* Media down: Error, offers refused; media up: back to the chosen status. */
	ROW("fresh: media up",                             fresh,          MEDIA_UP,     NA,  0,       NONE,   "Available",             ROUTABLE,     "Available", NULL,    1, NEW,  IDLE),
	ROW("call, media down: offer refused",             call_down,      OFFER,        NA,  0,       REFUSE, "Error",                 ERROR,        "Available", NULL,    0, KEPT, IDLE),
	ROW("call, media down: media up, Available",       call_down,      MEDIA_UP,     NA,  0,       NONE,   "Available",             ROUTABLE,     "Available", NULL,    1, NEW,  IDLE),
	ROW("call with next, media down: next taken",      busy_next,      MEDIA_DOWN,   NA,  0,       NONE,   "Error",                 ERROR,        "Lunch",     NULL,    0, NEW,  IDLE),
	ROW("call with next, media down: media up, next",  call_next_down, MEDIA_UP,     NA,  0,       NONE,   "Lunch",                 NOT_ROUTABLE, "Lunch",     NULL,    0, NEW,  IDLE),
	ROW("media down: a status chosen is kept",         down,           SET_STATUS,   BRK, 0,       NONE,   "Error",                 ERROR,        "Break",     NULL,    0, KEPT, IDLE),
	ROW("media down: the kept status on media up",     down_chose,     MEDIA_UP,     NA,  0,       NONE,   "Break",                 NOT_ROUTABLE, "Break",     NULL,    0, NEW,  IDLE),
	ROW("media down twice: since kept",                down,           MEDIA_DOWN,   NA,  0,       NONE,   "Error",                 ERROR,        "Available", NULL,    0, KEPT, IDLE),
	ROW("acw, media down: media up resumes ACW",       acw_down,       MEDIA_UP,     NA,  0,       NONE,   "AfterContactWork",      SYSTEM,       "Available", NULL,    0, NEW,  ACW),
	ROW("acw, media down: clear",                      acw_down,       CLEAR,        NA,  0,       NONE,   "Error",                 ERROR,        "Available", NULL,    0, KEPT, IDLE),
	ROW("failed, media down: media up resumes it",     failed_down,    MEDIA_UP,     NA,  0,       NONE,   "FailedConnectCustomer", ERROR,        "Available", NULL,    0, NEW,  FAILED),

	/* FailedConnectAgent: a chosen status waits; accepting again rings the
	 * desk phone again; the chosen status applies when the offer ends. */
	ROW("agent failed: next applied at the timeout",   af_next,        RING_TIMEOUT, NA,  0,       NONE,   "Lunch",                 NOT_ROUTABLE, "Lunch",     NULL,    0, NEW,  IDLE),
	ROW("agent failed: accepted again, connected",     af_again,       CONNECTED,    NA,  0,       NONE,   "Busy",                  SYSTEM,       "Available", NULL,    0, NEW,  CONNECTED),
	ROW("agent failed: dialing out, cleared, next",    af_dial_next,   CLEAR,        NA,  0,       NONE,   "Lunch",                 NOT_ROUTABLE, "Lunch",     NULL,    0, NEW,  IDLE),
	ROW("agent failed: accepted again, fails again",   af_again,       AGENT_FAILED, NA,  0,       NONE,   "FailedConnectAgent",    ERROR,        "Available", NULL,    0, NEW,  AGENT_FAILED),

	/* Unknown status index. */
	ROW("unknown status 4 when idle",                  idle,           SET_STATUS,   4,   -ENOENT, NONE,   "Available",             ROUTABLE,     "Available", NULL,    1, KEPT, IDLE),
	ROW("unknown status -1 when idle",                 idle,           SET_STATUS,   -1,  -ENOENT, NONE,   "Available",             ROUTABLE,     "Available", NULL,    1, KEPT, IDLE),
	ROW("unknown status when ringing",                 ringing,        SET_STATUS,   4,   -ENOENT, NONE,   "PendingBusy",           SYSTEM,       "Available", NULL,    0, KEPT, RINGING),
	ROW("unknown status in FailedConnectCustomer",     failed,         SET_STATUS,   99,  -ENOENT, NONE,   "FailedConnectCustomer", ERROR,        "Available", NULL,    0, KEPT, FAILED),
	ROW("unknown status when media is down",           down,           SET_STATUS,   4,   -ENOENT, NONE,   "Error",                 ERROR,        "Available", NULL,    0, KEPT, IDLE),

	/* Custom statuses and since. */
	ROW("custom: Break",                               idle,           SET_STATUS,   BRK, 0,       NONE,   "Break",                 NOT_ROUTABLE, "Break",     NULL,    0, NEW,  IDLE),
	ROW("custom: Break to Lunch",                      brk,            SET_STATUS,   LUN, 0,       NONE,   "Lunch",                 NOT_ROUTABLE, "Lunch",     NULL,    0, NEW,  IDLE),
	ROW("custom: Break again keeps since",             brk,            SET_STATUS,   BRK, 0,       NONE,   "Break",                 NOT_ROUTABLE, "Break",     NULL,    0, KEPT, IDLE),
	ROW("Offline to Available",                        offline,        SET_STATUS,   AV,  0,       NONE,   "Available",             ROUTABLE,     "Available", NULL,    1, NEW,  IDLE),
};

#undef NA

static bool same_str(const char *a, const char *b)
{
	if (!a || !b)
		return a == b;
	return strcmp(a, b) == 0;
}

static const char *show(const char *s)
{
	return s ? s : "(none)";
}

static const char *act_name(enum agent_action act)
{
	switch (act) {
	case AGENT_ACT_NONE:   return "none";
	case AGENT_ACT_RING:   return "ring";
	case AGENT_ACT_REFUSE: return "refuse";
	}
	return "?";
}

/* since must move to now exactly when the effective state's name changed. */
static void check_since(struct tap_case *v, const char *when,
			const char *before, uint64_t since_before,
			const struct agent *a, uint64_t now)
{
	bool changed = strcmp(before, agent_state(a)) != 0;
	uint64_t want = changed ? now : since_before;

	if (agent_since(a) != want)
		tap_fail(v, "%s: state %s -> %s, since is %llu, expected %llu\n",
			 when, before, agent_state(a),
			 (unsigned long long)agent_since(a),
			 (unsigned long long)want);
}

static void run_row(const struct row *r)
{
	struct tap_case v = { .len = 0 };
	struct agent *a = NULL;
	enum agent_action act = AGENT_ACT_REFUSE;
	uint64_t now = T0, since_before;
	const char *before;
	const struct step *s;
	int rc;

	rc = agent_new(&a, custom, ARRAY_SIZE(custom), "Available", T0);
	if (rc < 0) {
		tap_fail(&v, "agent_new failed: %s\n", strerror(-rc));
		goto out;
	}
	if (agent_since(a) != T0)
		tap_fail(&v, "agent_new: since is %llu, expected %llu\n",
			 (unsigned long long)agent_since(a),
			 (unsigned long long)T0);

	for (s = r->path; s->in != AGENT_IN_COUNT; s++) {
		before = agent_state(a);
		since_before = agent_since(a);
		now += STEP;
		rc = agent_input(a, s->in, s->arg, now, NULL);
		if (rc < 0) {
			tap_fail(&v, "path step %s(%d) in %s failed: %s\n",
				 agent_input_name(s->in), s->arg, before,
				 strerror(-rc));
			goto out;
		}
		check_since(&v, agent_input_name(s->in), before, since_before,
			    a, now);
	}

	before = agent_state(a);
	since_before = agent_since(a);
	now += STEP;
	rc = agent_input(a, r->in, r->arg, now, &act);

	if (rc != r->rc)
		tap_fail(&v, "returned %d, expected %d\n", rc, r->rc);
	if (act != r->act)
		tap_fail(&v, "action %s, expected %s\n", act_name(act),
			 act_name(r->act));
	if (!same_str(agent_state(a), r->state))
		tap_fail(&v, "state %s, expected %s\n", agent_state(a), r->state);
	if (agent_state_type(a) != r->type)
		tap_fail(&v, "type %s, expected %s\n",
			 agent_type_name(agent_state_type(a)),
			 agent_type_name(r->type));
	if (!same_str(agent_status(a), r->status))
		tap_fail(&v, "status %s, expected %s\n", agent_status(a),
			 r->status);
	if (!same_str(agent_next(a), r->next))
		tap_fail(&v, "next %s, expected %s\n", show(agent_next(a)),
			 show(r->next));
	if (agent_routable(a) != r->routable)
		tap_fail(&v, "routable %d, expected %d\n", agent_routable(a),
			 r->routable);
	if (agent_get_phase(a) != r->phase)
		tap_fail(&v, "phase %s, expected %s\n",
			 agent_phase_name(agent_get_phase(a)),
			 agent_phase_name(r->phase));
	if (agent_since(a) != (r->since == NEW ? now : since_before))
		tap_fail(&v, "since %llu, expected %s (%llu)\n",
			 (unsigned long long)agent_since(a),
			 r->since == NEW ? "the input's time" : "unchanged",
			 (unsigned long long)(r->since == NEW ? now
							       : since_before));
	check_since(&v, agent_input_name(r->in), before, since_before, a, now);

out:
	agent_free(a);
	tap_report(r->name, &v);
}

/* agent_new and the name lookups, outside the table. */

static void test_statuses(void)
{
	static const struct {
		const char *name;
		enum agent_type type;
	} want[] = {
		{ "Available", AGENT_TYPE_ROUTABLE },
		{ "Offline",   AGENT_TYPE_OFFLINE },
		{ "Break",     AGENT_TYPE_NOT_ROUTABLE },
		{ "Lunch",     AGENT_TYPE_NOT_ROUTABLE },
	};
	struct tap_case v = { .len = 0 };
	struct agent *a = NULL;
	size_t i;
	int r;

	r = agent_new(&a, custom, ARRAY_SIZE(custom), "Available", T0);
	if (r < 0) {
		tap_fail(&v, "agent_new failed: %s\n", strerror(-r));
		goto out;
	}
	if (agent_status_count(a) != ARRAY_SIZE(want))
		tap_fail(&v, "%zu statuses, expected %zu\n",
			 agent_status_count(a), ARRAY_SIZE(want));
	for (i = 0; i < ARRAY_SIZE(want); i++) {
		if (!same_str(agent_status_name(a, i), want[i].name))
			tap_fail(&v, "status %zu is %s, expected %s\n", i,
				 show(agent_status_name(a, i)), want[i].name);
		if (agent_status_type(a, i) != want[i].type)
			tap_fail(&v, "status %zu has type %s, expected %s\n", i,
				 agent_type_name(agent_status_type(a, i)),
				 agent_type_name(want[i].type));
		if (agent_status_find(a, want[i].name) != (int)i)
			tap_fail(&v, "find(%s) is %d, expected %zu\n",
				 want[i].name,
				 agent_status_find(a, want[i].name), i);
	}
	if (agent_status_name(a, ARRAY_SIZE(want)) != NULL)
		tap_fail(&v, "a status past the end has a name\n");
	if (agent_status_find(a, "Nope") != -1)
		tap_fail(&v, "find(Nope) is %d, expected -1\n",
			 agent_status_find(a, "Nope"));
	if (agent_status_find(a, "lunch") != -1)
		tap_fail(&v, "find is not case-sensitive\n");
out:
	agent_free(a);
	tap_report("new: Available, Offline, Break, Lunch", &v);
}

static void test_new_initial(const char *name, const char *initial,
			     const char *status, int index)
{
	struct tap_case v = { .len = 0 };
	struct agent *a = NULL;
	int r;

	r = agent_new(&a, custom, ARRAY_SIZE(custom), initial, T0);
	if (r < 0) {
		tap_fail(&v, "agent_new failed: %s\n", strerror(-r));
		goto out;
	}
	if (!same_str(agent_status(a), status))
		tap_fail(&v, "status %s, expected %s\n", agent_status(a), status);
	if (agent_status_index(a) != index)
		tap_fail(&v, "status index %d, expected %d\n",
			 agent_status_index(a), index);
	if (!same_str(agent_state(a), "Error") ||
	    agent_state_type(a) != AGENT_TYPE_ERROR)
		tap_fail(&v, "state %s, expected Error until media is up\n",
			 agent_state(a));
	if (agent_media_up(a) || agent_routable(a))
		tap_fail(&v, "media up or routable before media-up\n");
	if (agent_next(a) != NULL)
		tap_fail(&v, "next %s, expected none\n", agent_next(a));
	if (agent_since(a) != T0)
		tap_fail(&v, "since %llu, expected %llu\n",
			 (unsigned long long)agent_since(a),
			 (unsigned long long)T0);
	if (agent_get_phase(a) != AGENT_PHASE_IDLE)
		tap_fail(&v, "phase %s, expected idle\n",
			 agent_phase_name(agent_get_phase(a)));

	r = agent_input(a, AGENT_IN_MEDIA_UP, 0, T0 + STEP, NULL);
	if (r != 0)
		tap_fail(&v, "media-up returned %d\n", r);
	if (!same_str(agent_state(a), status))
		tap_fail(&v, "state %s after media-up, expected %s\n",
			 agent_state(a), status);
	if (agent_since(a) != T0 + STEP)
		tap_fail(&v, "since did not move with media-up\n");
out:
	agent_free(a);
	tap_report(name, &v);
}

static void test_new_fails(const char *name, const char *const *cust,
			   size_t n, const char *initial, int want)
{
	struct tap_case v = { .len = 0 };
	static char mark;
	struct agent *const sentinel = (struct agent *)(void *)&mark;
	struct agent *a = sentinel;
	int r;

	r = agent_new(&a, cust, n, initial, T0);
	if (r != want)
		tap_fail(&v, "agent_new returned %d, expected %d\n", r, want);
	if (r == 0)
		a = agent_free(a);
	else if (a != sentinel)
		tap_fail(&v, "agent_new wrote *ret on failure\n");
	tap_report(name, &v);
}

static void test_many_custom(void)
{
	static char names[31][16];
	const char *list[31];
	struct tap_case v = { .len = 0 };
	struct agent *a = NULL;
	int r;
	size_t i;

	for (i = 0; i < ARRAY_SIZE(list); i++) {
		snprintf(names[i], sizeof(names[i]), "Custom%zu", i);
		list[i] = names[i];
	}
	/* 32 statuses in all: Available, Offline and 30 custom ones */
	r = agent_new(&a, list, 30, "Custom29", T0);
	if (r != 0)
		tap_fail(&v, "30 custom statuses: agent_new returned %d\n", r);
	else if (agent_status_count(a) != 32 ||
		 agent_status_find(a, "Custom29") != 31)
		tap_fail(&v, "30 custom statuses: count %zu\n",
			 agent_status_count(a));
	a = agent_free(a);

	r = agent_new(&a, list, 31, "Available", T0);
	if (r != -E2BIG)
		tap_fail(&v, "31 custom statuses: agent_new returned %d, expected %d\n",
			 r, -E2BIG);
	if (r == 0)
		a = agent_free(a);
	tap_report("new: at most 30 custom statuses", &v);
}

static void test_names(void)
{
	struct tap_case v = { .len = 0 };
	int i;

	if (agent_free(NULL) != NULL)
		tap_fail(&v, "agent_free(NULL) is not NULL\n");
	for (i = 0; i < AGENT_IN_COUNT; i++)
		if (!strcmp(agent_input_name((enum agent_input)i), "?"))
			tap_fail(&v, "input %d has no name\n", i);
	for (i = 0; i < AGENT_PHASE_COUNT; i++)
		if (!strcmp(agent_phase_name((enum agent_phase)i), "?"))
			tap_fail(&v, "phase %d has no name\n", i);
	if (strcmp(agent_type_name(AGENT_TYPE_ROUTABLE), "routable") ||
	    strcmp(agent_type_name(AGENT_TYPE_NOT_ROUTABLE), "not_routable") ||
	    strcmp(agent_type_name(AGENT_TYPE_OFFLINE), "offline") ||
	    strcmp(agent_type_name(AGENT_TYPE_SYSTEM), "system") ||
	    strcmp(agent_type_name(AGENT_TYPE_ERROR), "error"))
		tap_fail(&v, "type names differ from PROTOCOL.md\n");
	tap_report("names of types, inputs and phases", &v);
}

/* The table must hold one row for each phase and input, in that order. */
static void test_table_complete(void)
{
	static const struct step *const by_phase[AGENT_PHASE_COUNT] = {
		idle, ringing, accepting, dialing, connected, acw, failed,
		agent_failed,
	};
	struct tap_case v = { .len = 0 };
	int p, i;

	for (p = 0; p < AGENT_PHASE_COUNT; p++)
		for (i = 0; i < AGENT_IN_COUNT; i++) {
			const struct row *r = &rows[p * AGENT_IN_COUNT + i];

			if (r->path != by_phase[p] || (int)r->in != i)
				tap_fail(&v, "row %d is %s, expected %s + %s\n",
					 p * AGENT_IN_COUNT + i, r->name,
					 agent_phase_name((enum agent_phase)p),
					 agent_input_name((enum agent_input)i));
		}
	tap_report("table covers every phase and input", &v);
}

int main(void)
{
	static const char *const dup[] = { "Break", "Break" };
	static const char *const builtin_again[] = { "Available" };
	size_t i;
	const unsigned n_other = 10;

	tap_plan((unsigned)ARRAY_SIZE(rows) + n_other);

	test_table_complete();
	for (i = 0; i < ARRAY_SIZE(rows); i++)
		run_row(&rows[i]);

	test_statuses();
	test_new_initial("new: initial Lunch", "Lunch", "Lunch", LUN);
	test_new_initial("new: initial Available", "Available", "Available", AV);
	test_new_initial("new: no initial status means Offline", NULL,
			 "Offline", OFF);
	test_new_fails("new: unknown initial status fails", custom,
		       ARRAY_SIZE(custom), "Dinner", -ENOENT);
	test_new_fails("new: duplicate custom status fails", dup,
		       ARRAY_SIZE(dup), "Available", -EEXIST);
	test_new_fails("new: custom status named Available fails",
		       builtin_again, ARRAY_SIZE(builtin_again), "Available",
		       -EEXIST);
	test_many_custom();
	test_names();

	return tap_exit();
}
