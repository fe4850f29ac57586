/* A conference focus of ccpd's own: SIP sessions and RTP from libre, a
 * mix-minus from librem's aumix, G.711 only. Only ccpd's own baresip
 * talks to it, on 127.0.0.1. */
#ifndef CCPD_FOCUS_H
#define CCPD_FOCUS_H

#include <stdbool.h>
#include <stddef.h>

struct focus;
struct focus_room;

/* Listen for SIP on 127.0.0.1, on a port the kernel chooses. Calls are
 * taken only from `peer` (host:port, the address baresip sends SIP
 * from); NULL takes them from anyone on the host. */
int focus_new(struct focus **ret, const char *peer);
struct focus *focus_free(struct focus *f);

/* A room with a name no one can guess; a call to
 * sip:<name>-<anything>@127.0.0.1:<port> joins it. */
int focus_room_new(struct focus *f, struct focus_room **ret);
/* Hangs up every member (BYE) and stops the mixer. */
struct focus_room *focus_room_free(struct focus_room *r);
/* The URI a member dials; `who` (letters and digits) tells the members
 * apart in baresip's events (they carry the dialed URI). */
int focus_room_uri(const struct focus_room *r, const char *who, char *buf,
		   size_t size);
unsigned focus_room_members(const struct focus_room *r);
unsigned focus_port(const struct focus *f);

#endif
