/* The agents report: per agent over [from, to), the contacts handled,
 * missed and refused, average handle and after-contact-work times, time
 * in each effective state and occupancy, computed in SQL from the journal's
 * state changes and contact events. One query text, but for a few lines, serves
 * SQLite and PostgreSQL;
 * the rows it returns are turned into JSON here, whichever ran it. */
#ifndef CCPD_REPORT_H
#define CCPD_REPORT_H

#include <stdint.h>
#include <cjson/cJSON.h>

struct store;
struct report;

/* The query, for each back end. Parameters: $1 from, $2 to (Unix ms),
 * $3 now (the state a desk is in counts up to min(now, to)). Each row is
 * (username, figure, name, value): figure "state" with the state's name,
 * or one of the figures of report_add_row, value an integer or NULL.
 * The PostgreSQL text reads journal.desk_id, the desk that wrote the row,
 * and journal.desk_seq, its order at that desk (rows of other desks
 * interleave, and a desk's rows from an outage arrive late), besides the
 * journal's columns that the SQLite store has. */
extern const char report_agents_sql_sqlite[];
extern const char report_agents_sql_pg[];

int report_new(struct report **ret, uint64_t from, uint64_t to);
struct report *report_free(struct report *r);

/* One row of the query, its columns as text (NULL for SQL NULL), as both
 * sqlite3_column_text and PQgetvalue give them. -EINVAL for a row the
 * query cannot have made. */
int report_add_row(struct report *r, const char *username,
		   const char *figure, const char *name, const char *value);

/* {"from", "to", "agents": [...]}, agents sorted by username. */
cJSON *report_to_json(const struct report *r);

/* The report from the embedded store. */
int report_agents(struct store *st, uint64_t from, uint64_t to, uint64_t now,
		  cJSON **ret);

#endif
