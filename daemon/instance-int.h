/* What the instance's files share: the schema (instance-schema.c) for the
 * sync engine (instance.c). Nothing else includes this. */
#ifndef CCPD_INSTANCE_INT_H
#define CCPD_INSTANCE_INT_H

#include <stdbool.h>
#include <stddef.h>

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

#endif
