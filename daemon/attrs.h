/* Contact attributes for the screen pop: what the ACD knows of the caller
 * (customer id, queue, IVR choice), handed to ccpd as
 * ;x-ccp-<Name>=<base64url of the value> parameters of the caller's From
 * URI (see docs/admin-guide.md, "Screen
 * pop attributes", for why there and not in headers). Pure. */
#ifndef CCPD_ATTRS_H
#define CCPD_ATTRS_H

#include <stddef.h>
#include <cjson/cJSON.h>

#define ATTRS_MAX 16            /* attributes per contact */
#define ATTRS_NAME_MAX 32       /* bytes of a name */
#define ATTRS_VALUE_MAX 256     /* bytes of a value, decoded */

struct attrs_result {
	cJSON *attrs;           /* {name: value}; never NULL on success */
	unsigned dropped;       /* parameters refused: bad name or value,
				 * too long, too many, repeated */
	char why[128];          /* the first refusal, in words */
};

/* Split the x-ccp-* parameters off uri: clean gets the URI without them
 * (the rest as it was). Returns 0, -ENOMEM, or -ENOSPC when clean is too
 * small. The caller frees r->attrs. */
int attrs_from_uri(const char *uri, char *clean, size_t size,
		   struct attrs_result *r);

#endif
