/* The presence document (PIDF, RFC 3863, with an RPID activity, RFC 4480)
 * that tells an ACD whether the agent can take a call. Pure: text in,
 * text out. */
#ifndef CCPD_PIDF_H
#define CCPD_PIDF_H

#include <stdbool.h>
#include <stddef.h>

/* What the agent object of an agent.stateChange event says, seen as
 * presence. */
struct pidf_view {
	bool open;              /* basic: open only when Available and free */
	const char *activity;   /* RPID: "on-the-phone", "busy", "away" or
				 * NULL for none */
	const char *note;       /* the state's name */
};

/* From the agent's effective state, its type ("routable", "offline",
 * ...) and whether it is routable; the strings are kept by reference. */
struct pidf_view pidf_view_of(const char *state, const char *type,
			      bool routable);

/* The document for entity (a sip: URI). Returns its length, or -ENOSPC
 * when size is too small; markup in the note or entity is escaped. */
int pidf_build(const struct pidf_view *v, const char *entity, char *out,
	       size_t size);

#endif
