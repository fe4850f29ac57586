/* A user's own SIP account as the store keeps it in the users table's
 * sip_account column, the instance's template, and the view of it that
 * methods show (never the password). Pure: no I/O. */
#ifndef CCPD_SIPACCOUNT_H
#define CCPD_SIPACCOUNT_H

#include <stdbool.h>
#include <stddef.h>
#include <cjson/cJSON.h>

#define SIPACCOUNT_URI_MAX 256
#define SIPACCOUNT_USER_MAX 128
#define SIPACCOUNT_SEALED_MAX 512

/* The column holds either a bare sip: URI (the address only, as before
 * this structure), or a JSON object {"aor"?, "authUser"?, "registrar"?,
 * "password"?: sealed by sipsecret}; without "aor" the address comes from
 * the template. */
struct sipaccount {
	char aor[SIPACCOUNT_URI_MAX];           /* "": the template's */
	char auth_user[SIPACCOUNT_USER_MAX];
	char registrar[SIPACCOUNT_URI_MAX];
	char sealed[SIPACCOUNT_SEALED_MAX];     /* the sealed password */
};

/* Read the column (NULL or "": no account). -EINVAL when it is neither
 * form. */
int sipaccount_parse(const char *stored, struct sipaccount *a);
/* The column's text for a: a bare URI when it has only an address, NULL
 * when it has nothing at all. *out is malloc'd. */
int sipaccount_format(const struct sipaccount *a, char **out);
bool sipaccount_empty(const struct sipaccount *a);

/* The template's address for a user: {username} replaced. -EINVAL when
 * the name cannot stand in a SIP user part (an '@'). */
int sipaccount_expand(const char *tmpl, const char *username, char *out,
		      size_t size);
/* The account a user takes to the desk: theirs, its address from the
 * template when it has none of its own; -ENOENT when there is none. */
int sipaccount_resolve(const char *stored, const char *username,
		       const char *tmpl, struct sipaccount *a,
		       bool *from_template);

/* Whether a value may go into baresip's account line. */
bool sipaccount_valid_uri(const char *s);
bool sipaccount_valid_token(const char *s);

/* A users row as methods show it: "sipAccount" (the address, or null),
 * "sipAuthUser", "sipRegistrar", "sipPasswordSet" and "sipAccountFrom"
 * ("user", "template" or null), in place of the column's text. */
void sipaccount_public(cJSON *row, const char *tmpl);

#endif
