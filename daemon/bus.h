/* The bus: this desk's events on NATS JetStream (stream CCP_EVENTS), its
 * agent's snapshot in the key-value bucket CCP_AGENTS, and the floor read
 * back from that bucket. Off unless the bus setting names a server. */
#ifndef CCPD_BUS_H
#define CCPD_BUS_H

#include <stdbool.h>
#include <cjson/cJSON.h>

struct bus;
struct conf;
struct desk;
struct events;
struct outbox;

/* *ret is NULL (and 0 returned) when the bus is off. Never fails for
 * want of a server: that is a state, shown by bus_status_json. */
int bus_new(struct bus **ret, const struct conf *c, struct outbox *ob,
	    struct events *ev, struct desk *d);
struct bus *bus_free(struct bus *b);

/* {enabled, state, connected, waiting, server, error, desk, agent};
 * b may be NULL (the bus is off). */
cJSON *bus_status_json(const struct bus *b);
/* The Prometheus gauges, appended to *text (malloc'd); b may be NULL. */
int bus_prometheus(const struct bus *b, char **text);

/* The floor: starts the bucket's watch at the first call. NULL when the
 * bus is off. {agents, totals, ready} */
cJSON *bus_floor_json(struct bus *b);
/* floor.history: {ready, step, points: [{t, totals}]} over the last
 * minutes; the first call reads the last hour of the stream. NULL when
 * the bus is off. */
cJSON *bus_floor_history(struct bus *b, unsigned minutes);
/* floor.changed events go out on this stream (its own numbering). */
struct events *bus_floor_events(struct bus *b);

#endif
