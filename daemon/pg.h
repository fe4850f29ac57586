/* One connection to the PostgreSQL instance, on the main loop: libpq in
 * non-blocking mode, its socket watched by libre's fd_listen, queries
 * queued and answered in order through handlers, notifications handed
 * on, and a reconnect with back-off whenever the server goes away.
 * Nothing here ever waits for the server. */
#ifndef CCPD_PG_H
#define CCPD_PG_H

#include <stdbool.h>
#include <stddef.h>

struct pg;
struct pg_res;

enum pg_state {
	PG_DOWN,          /* not connected; a reconnect is due */
	PG_CONNECTING,
	PG_UP,
};

struct pg_handlers {
	/* the connection came up or went down; why in words when down */
	void (*state)(enum pg_state st, const char *why, void *arg);
	/* a NOTIFY on a channel this connection LISTENs to */
	void (*notify)(const char *channel, const char *payload, void *arg);
};

/* Whether libpq can read conninfo: 0, or -EINVAL with why in err[]. */
int pg_check_conninfo(const char *conninfo, char *err, size_t err_size);

/* Start connecting to conninfo (a URI or keyword string) at once. passfile
 * may be NULL or "" (libpq then reads PGPASSFILE or ~/.pgpass). */
int pg_new(struct pg **ret, const char *conninfo, const char *passfile,
	   const struct pg_handlers *h, void *arg);
struct pg *pg_free(struct pg *pg);

enum pg_state pg_state(const struct pg *pg);
const char *pg_state_name(enum pg_state st);
/* Why the connection is down, in words ("" when up). */
const char *pg_why(const struct pg *pg);
/* Queries waiting or in flight. */
unsigned pg_pending(const struct pg *pg);

/* Called with the result of a query: err 0 and res, or a negative errno
 * (-ECONNRESET: the connection went down first; -EPROTO: the server
 * refused it, pg_res_error says why and res is still given). res lives
 * only for the call. */
typedef void (pg_result_h)(int err, const struct pg_res *res, void *arg);

/* Queue one statement with text parameters ($1 ... $n; NULL is SQL
 * NULL); with n 0, sql may hold several statements, run as one
 * transaction (the simple protocol). -ENOTCONN when the connection is not up; the handler (may be
 * NULL) is called later, exactly once, unless pg_cancel_arg took it. */
int pg_query(struct pg *pg, const char *sql, const char *const *params,
	     int n, pg_result_h *h, void *arg);
/* Forget the handler of every queued query whose arg is arg (the owner
 * of arg is going away); the queries still run. */
void pg_cancel_arg(struct pg *pg, void *arg);

/* Drop the connection now and reconnect after the back-off. */
void pg_reset(struct pg *pg, const char *why);

int pg_res_rows(const struct pg_res *res);
int pg_res_cols(const struct pg_res *res);
/* NULL for SQL NULL */
const char *pg_res_value(const struct pg_res *res, int row, int col);
const char *pg_res_error(const struct pg_res *res);
/* The five-character SQLSTATE of an error, "" if none. */
const char *pg_res_sqlstate(const struct pg_res *res);
/* Rows changed by an INSERT, UPDATE or DELETE. */
unsigned long pg_res_affected(const struct pg_res *res);

#endif
