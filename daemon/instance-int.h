/* What the instance's files share: the schema (instance-schema.c), the
 * sync engine (instance.c) and hot-desking (instance-hotdesk.c). Nothing
 * else includes this. */
#ifndef CCPD_INSTANCE_INT_H
#define CCPD_INSTANCE_INT_H

#include <stdbool.h>
#include <stddef.h>

#include <stdint.h>
#include <cjson/cJSON.h>

#include "instance.h"
#include "pg.h"
#include "store.h"

/* The migrations: schema_migration(v) takes the schema from version v
 * to v + 1; NULL past the last. */
unsigned schema_count(void);
const char *schema_migration(unsigned from);

/* The shared tables, in the order their rows may refer to each other. */
size_t schema_n_shared(void);
const struct store_table *schema_shared(size_t i);
int schema_shared_find(const char *name);

/* Statements: 0, or -1 when buf is too small. The upsert takes $1 the
 * row's key before the change and $2... its columns, in the table's
 * order; keep leaves a row that is there as it is (seeding). */
int schema_upsert_sql(const struct store_table *t, bool keep, char *buf,
		      size_t size);
/* Every row of t, in the order they were made. */
int schema_select_sql(const struct store_table *t, char *buf, size_t size);
/* $1 desk, $2 the outbox's sequence number, $3... the journal row's
 * columns from time on. */
const char *schema_journal_sql(void);
/* $1 desk, $2 instance, $3 username, $4 the record's JSON. */
const char *schema_contact_sql(void);

/* Hot-desking. Claim: $1 user, $2 desk, $3 since (a later claim wins).
 * Release: $1 user, $2 desk (only this desk's claim). Busy: $1 user, $2
 * desk, $3 on a live contact (0/1). */
const char *schema_claim_sql(void);
const char *schema_release_sql(void);
const char *schema_busy_sql(void);

/* ---- the engine, for its parts (instance.c) ---- */

/* Queue body (consumed) in the outbox for the server; table: the shared
 * table whose row it is, or -1. */
void instance_put(struct instance *in, cJSON *body, int table);
/* Tell the watcher (main.c) of a change from another desk. */
void instance_tell(struct instance *in, enum instance_change what,
		   const char *table, const char *key, uint64_t time);
/* Read the contact records of the user at this desk made elsewhere. */
void instance_pull_history(struct instance *in);
/* This desk's id (outbox_desk_id). */
const char *instance_desk(const struct instance *in);
/* A member of a record's body: a string, or an integer as text in buf. */
const char *instance_jstr(const cJSON *o, const char *k);
const char *instance_jnum(const cJSON *o, const char *k, char *buf,
			  size_t size);

/* ---- hot-desking (instance-hotdesk.c) ---- */

struct hotdesk;

int hotdesk_new(struct hotdesk **ret, struct instance *in);
struct hotdesk *hotdesk_free(struct hotdesk *h);
/* The user at this desk as the journal says, "" for nobody. */
const char *hotdesk_user(const struct hotdesk *h);
/* Each journal row of this desk: who arrives, leaves, is on a contact. */
void hotdesk_journal(struct hotdesk *h, const struct store_journal_row *j);
void hotdesk_logged_out(struct hotdesk *h, const char *username,
			uint64_t time);
/* Whether a record's kind is the hot-desk's, and its statement. */
bool hotdesk_kind(const char *k);
int hotdesk_send(struct hotdesk *h, const char *k, const cJSON *body,
		 pg_result_h *done, void *arg);
/* Connected: drop this desk's stale claims. Resync: read user_desks. */
void hotdesk_connected(struct hotdesk *h);
void hotdesk_resync(struct hotdesk *h);
/* A notification of table with the rest of its payload: true when it was
 * the hot-desk's (user_desks, logout). */
bool hotdesk_notify(struct hotdesk *h, const char *table, const char *rest);
bool hotdesk_busy_elsewhere(const struct hotdesk *h, const char *username,
			    char *desk, size_t size);

#endif
