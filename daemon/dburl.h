/* What the database setting names: a file for SQLite, or a PostgreSQL
 * instance (a URI or a libpq keyword string), and that setting shown with
 * its password hidden. Pure: no I/O. */
#ifndef CCPD_DBURL_H
#define CCPD_DBURL_H

#include <stdbool.h>
#include <stddef.h>

/* Whether value names a PostgreSQL instance rather than a file:
 * postgresql:// or postgres:// (or either scheme with a typo after the
 * colon, for libpq to refuse), or a keyword string with host=, hostaddr=,
 * dbname= or service=. Such a value is never taken for a path. */
bool dburl_is_postgres(const char *value);

/* value with any password replaced by ***: the user:password@ of a URI,
 * a password= parameter of its query, and a password= keyword. Writes at
 * most size bytes, NUL-terminated; returns the full length wanted. */
size_t dburl_mask(const char *value, char *out, size_t size);

#endif
