/* The admin.* methods: users, security profiles, statuses, phone numbers,
 * allowed origins and quick connects, checked and kept in the store. */
#ifndef CCPD_ADMIN_H
#define CCPD_ADMIN_H

#include <stdbool.h>
#include <cjson/cJSON.h>

#include "perms.h"

struct admin;
struct auth;
struct conf;
struct desk;
struct desk_err;
struct store;

int admin_new(struct admin **ret, struct store *st, struct auth *auth,
	      struct desk *d, const struct conf *conf);
struct admin *admin_free(struct admin *ad);

/* Run one admin.* method (its permission already checked) for a caller
 * who holds caller. 0 with *result, or a ccpd error code with e filled
 * in. */
int admin_call(struct admin *ad, const char *method, const cJSON *params,
	       perm_set caller, cJSON **result, struct desk_err *e);

/* username's sessions may have ended: when none is left and that user is
 * at the desk, nobody is any more. */
void admin_sessions_ended(struct admin *ad, const char *username);

/* Whether a string is a valid phone number (+, 7 to 15 digits, the first
 * not 0), an allowed origin (scheme://host[:port]) or a quick-connect
 * endpoint (a phone number or a sip:/sips: URI). */
bool admin_valid_e164(const char *s);
bool admin_valid_origin(const char *s);
bool admin_valid_endpoint(const char *s);

#endif
