/* network.check: whether the SIP server, STUN and TURN can be reached from
 * here, each item timed and reported through events. */
#ifndef CCPD_NETCHECK_H
#define CCPD_NETCHECK_H

#include <stddef.h>

struct conf;
struct events;
struct netcheck;

/* How long one item may take before it fails with a timeout. */
#define NETCHECK_TIMEOUT_MS 5000
/* Checks running at once; more are refused. */
#define NETCHECK_MAX_RUNS 4

int netcheck_new(struct netcheck **ret, const struct conf *conf,
		 struct events *ev);
struct netcheck *netcheck_free(struct netcheck *nc);

/* Start a check; its id is written to id. The items are reported as
 * network.checkResult events and the whole as network.checkDone. Returns
 * -EBUSY when NETCHECK_MAX_RUNS are running. */
int netcheck_start(struct netcheck *nc, char *id, size_t idsz);

#endif
