/* The dial plan, pure: what a typed endpoint dials. Numbers in any written
 * form become E.164, are checked against the dialable countries and the
 * blocked prefixes, and are put into the dial template; SIP URIs are
 * dialed as they are, where allowed. No I/O, no state. */
#ifndef CCPD_DIALPLAN_H
#define CCPD_DIALPLAN_H

#include <stdbool.h>
#include <stddef.h>

struct desk_err;

struct dialplan {
	const char *dial_template;      /* {e164}, {number}; "" for none */
	const char *dialable_countries; /* "GB, IE"; "" for any */
	const char *blocked_prefixes;   /* "+44 9, +1900"; "" for none */
	bool allow_sip_uris;
};

/* Resolve endpoint; national forms are read in region ("" for none).
 * Returns 0 with uri (and e164, "" when the endpoint is no number), or a
 * CCPD_ERR_* code, with e filled. */
int dialplan_resolve(const struct dialplan *p, const char *endpoint,
		     const char *region, char *uri, size_t size, char *e164,
		     size_t e164_size, struct desk_err *e);

/* Whether s is a SIP or SIPS URI fit to dial (no blanks, quotes or angle
 * brackets, something after the scheme). */
bool dialplan_valid_sip_uri(const char *s);
/* The template with {e164} and {number} (E.164 without '+') filled in;
 * -ENAMETOOLONG when out is too small. */
int dialplan_expand(const char *tmpl, const char *e164, char *out,
		    size_t size);

#endif
