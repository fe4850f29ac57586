/* The agent's presence for the ACD: SIP PUBLISH (RFC 3903) of a PIDF
 * document, sent from a small SIP stack of ccpd's own (libre), since
 * baresip 1.0.0's presence module cannot carry the activity or a note.
 * It watches the event stream; nothing calls it from below. */
#ifndef CCPD_PRESENCE_H
#define CCPD_PRESENCE_H

#include <stdbool.h>

struct conf;
struct desk;
struct events;
struct presence;

/* *ret is NULL when the presence setting is off. */
int presence_new(struct presence **ret, const struct conf *conf,
		 struct events *ev, struct desk *d);
/* Publish closed and wait up to wait_ms for the server's answer (runs
 * the loop: call it after re_main returned, during the stop). */
void presence_stop(struct presence *p, unsigned wait_ms);
struct presence *presence_free(struct presence *p);

/* What was last accepted by the server: "open", "closed" or "" (none). */
const char *presence_published(const struct presence *p);

#endif
