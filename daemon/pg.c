/* The connection to the PostgreSQL instance: libpq driven by libre's loop.
 *
 * libpq in non-blocking mode does no waiting of its own once connected:
 * PQconnectPoll says which way the socket must become ready, PQflush
 * whether output is still waiting, PQconsumeInput reads what arrived and
 * PQisBusy whether a result is whole. The socket can change while a
 * connection is made (another host of a list, a retry without TLS), so
 * it is looked up after every step. One query is on the wire at a time;
 * the rest wait in order. Host names are resolved by libpq itself with
 * getaddrinfo, which blocks: give an address (hostaddr=, or a numeric
 * host) where a slow resolver is a risk. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libpq-fe.h>
#include <re.h>

#include "log.h"
#include "pg.h"

#define BACKOFF_MIN_MS 250
#define BACKOFF_MAX_MS 5000
#define CONNECT_TIMEOUT_MS 10000

struct pg_res {
	PGresult *r;
};

struct query {
	struct query *next;
	char *sql;
	char **params;
	int n;
	pg_result_h *h;
	void *arg;
};

struct pg {
	PGconn *conn;
	enum pg_state st;
	int fd;                   /* the socket fd_listen watches, or -1 */
	int fd_flags;
	char *conninfo;
	char *passfile;
	struct query *head, *tail;
	unsigned n_queued;
	bool in_flight;           /* head is on the wire */
	PGresult *result;         /* head's result so far */
	struct tmr retry_tmr;
	struct tmr connect_tmr;
	unsigned backoff_ms;
	struct pg_handlers h;
	void *arg;
	char why[256];
	char warned[256];         /* the last reason said at warning level */
};

static void io_fd(int flags, void *arg);
static void connect_fd(int flags, void *arg);
static void start_connect(void *arg);

const char *pg_state_name(enum pg_state st)
{
	switch (st) {
	case PG_DOWN:
		return "unreachable";
	case PG_CONNECTING:
		return "connecting";
	case PG_UP:
		return "connected";
	}
	return "?";
}

static void query_free(struct query *q)
{
	int i;

	for (i = 0; i < q->n; i++)
		free(q->params[i]);
	free(q->params);
	free(q->sql);
	free(q);
}

/* The head leaves the queue before its handler runs: the handler may
 * queue more. */
static struct query *pop(struct pg *pg)
{
	struct query *q = pg->head;

	if (!q)
		return NULL;
	pg->head = q->next;
	if (!pg->head)
		pg->tail = NULL;
	pg->n_queued--;
	pg->in_flight = false;
	return q;
}

static void watch(struct pg *pg, int flags, fd_h *h)
{
	int fd = pg->conn ? PQsocket(pg->conn) : -1;

	if (pg->fd >= 0 && (pg->fd != fd || flags == 0)) {
		fd_close(pg->fd);
		pg->fd = -1;
	}
	if (fd < 0 || flags == 0)
		return;
	if (fd_listen(fd, flags, h, pg) == 0) {
		pg->fd = fd;
		pg->fd_flags = flags;
	}
}

/* Everything queued fails; the connection is gone and a new one is due
 * after the back-off. */
static void go_down(struct pg *pg, const char *why)
{
	struct query *q;
	size_t n;

	snprintf(pg->why, sizeof(pg->why), "%s", why && *why ? why :
		 "the connection was lost");
	/* libpq's messages end with a newline */
	n = strlen(pg->why);
	while (n > 0 && (pg->why[n - 1] == '\n' || pg->why[n - 1] == ' '))
		pg->why[--n] = '\0';
	watch(pg, 0, NULL);
	tmr_cancel(&pg->connect_tmr);
	if (pg->result)
		PQclear(pg->result);
	pg->result = NULL;
	if (pg->conn)
		PQfinish(pg->conn);
	pg->conn = NULL;
	/* said once at warning level, then quietly while it does not
	 * change: a server that stays down must not flood the journal */
	if (pg->st == PG_UP)
		log_warning("pg: connection lost: %s", pg->why);
	else if (strcmp(pg->why, pg->warned) != 0)
		log_warning("pg: cannot connect: %s; trying again", pg->why);
	else
		log_debug("pg: cannot connect: %s", pg->why);
	snprintf(pg->warned, sizeof(pg->warned), "%s", pg->why);
	pg->st = PG_DOWN;
	tmr_start(&pg->retry_tmr, pg->backoff_ms, start_connect, pg);
	pg->backoff_ms = pg->backoff_ms * 2 > BACKOFF_MAX_MS ?
		BACKOFF_MAX_MS : pg->backoff_ms * 2;
	while ((q = pop(pg))) {
		if (q->h)
			q->h(-ECONNRESET, NULL, q->arg);
		query_free(q);
	}
	if (pg->h.state)
		pg->h.state(PG_DOWN, pg->why, pg->arg);
}

static void send_next(struct pg *pg)
{
	struct query *q = pg->head;
	int r;

	if (pg->st != PG_UP || pg->in_flight || !q)
		return;
	/* without parameters, the simple protocol: a migration is several
	 * statements in one implicit transaction */
	if (q->n == 0 ? !PQsendQuery(pg->conn, q->sql) :
	    !PQsendQueryParams(pg->conn, q->sql, q->n, NULL,
			       (const char *const *)q->params, NULL, NULL, 0)) {
		go_down(pg, PQerrorMessage(pg->conn));
		return;
	}
	pg->in_flight = true;
	r = PQflush(pg->conn);
	if (r < 0)
		go_down(pg, PQerrorMessage(pg->conn));
	else if (r > 0 && !(pg->fd_flags & FD_WRITE))
		watch(pg, FD_READ | FD_WRITE, io_fd);
}

/* The head's whole answer is in: hand it over. A failed statement on a
 * connection that broke is the connection's failure, not the
 * statement's. Returns false when the connection went down. */
static bool deliver(struct pg *pg)
{
	PGresult *res = pg->result;
	struct pg_res wrap = { res };
	struct query *q;
	int err = 0;

	pg->result = NULL;
	if (!res || PQresultStatus(res) == PGRES_FATAL_ERROR ||
	    PQresultStatus(res) == PGRES_BAD_RESPONSE) {
		if (PQstatus(pg->conn) == CONNECTION_BAD) {
			PQclear(res);
			go_down(pg, PQerrorMessage(pg->conn));
			return false;
		}
		err = -EPROTO;
	}
	q = pop(pg);
	if (q && q->h)
		q->h(err, res ? &wrap : NULL, q->arg);
	if (q)
		query_free(q);
	PQclear(res);
	return pg->st == PG_UP;
}

static void notifies(struct pg *pg)
{
	PGnotify *n;

	while (pg->st == PG_UP && (n = PQnotifies(pg->conn))) {
		if (pg->h.notify)
			pg->h.notify(n->relname, n->extra, pg->arg);
		PQfreemem(n);
	}
}

static void io_fd(int flags, void *arg)
{
	struct pg *pg = arg;
	int r;

	if (flags & FD_WRITE) {
		r = PQflush(pg->conn);
		if (r < 0) {
			go_down(pg, PQerrorMessage(pg->conn));
			return;
		}
		if (r == 0)
			watch(pg, FD_READ, io_fd);
	}
	if (flags & (FD_READ | FD_EXCEPT)) {
		if (!PQconsumeInput(pg->conn)) {
			go_down(pg, PQerrorMessage(pg->conn));
			return;
		}
		while (pg->in_flight && !PQisBusy(pg->conn)) {
			PGresult *res = PQgetResult(pg->conn);

			if (res) {
				/* one statement: keep its last result */
				if (pg->result)
					PQclear(pg->result);
				pg->result = res;
				continue;
			}
			if (!deliver(pg))
				return;
			send_next(pg);
			if (pg->st != PG_UP)
				return;
		}
		notifies(pg);
	}
	if (pg->st == PG_UP)
		send_next(pg);
}

static void up(struct pg *pg)
{
	tmr_cancel(&pg->connect_tmr);
	if (PQsetnonblocking(pg->conn, 1) != 0) {
		go_down(pg, PQerrorMessage(pg->conn));
		return;
	}
	pg->st = PG_UP;
	pg->why[0] = '\0';
	pg->warned[0] = '\0';
	pg->backoff_ms = BACKOFF_MIN_MS;
	log_info("pg: connected to %s at %s, server %d%s",
		 PQdb(pg->conn), PQhost(pg->conn), PQserverVersion(pg->conn),
		 PQsslInUse(pg->conn) ? ", TLS" : "");
	watch(pg, FD_READ, io_fd);
	if (pg->h.state)
		pg->h.state(PG_UP, "", pg->arg);
	send_next(pg);
}

static void poll_step(struct pg *pg, PostgresPollingStatusType ps)
{
	switch (ps) {
	case PGRES_POLLING_READING:
		watch(pg, FD_READ, connect_fd);
		return;
	case PGRES_POLLING_WRITING:
		watch(pg, FD_WRITE, connect_fd);
		return;
	case PGRES_POLLING_OK:
		up(pg);
		return;
	case PGRES_POLLING_FAILED:
	case PGRES_POLLING_ACTIVE:
		go_down(pg, PQerrorMessage(pg->conn));
		return;
	}
}

static void connect_fd(int flags, void *arg)
{
	struct pg *pg = arg;

	(void)flags;
	poll_step(pg, PQconnectPoll(pg->conn));
}

static void connect_timeout(void *arg)
{
	go_down(arg, "timed out connecting");
}

static void start_connect(void *arg)
{
	struct pg *pg = arg;
	/* ours first: the setting's own keywords, expanded from dbname,
	 * come later and win */
	const char *kw[] = { "keepalives_idle", "keepalives_interval",
			     "keepalives_count", "fallback_application_name",
			     "dbname", "passfile", NULL };
	const char *val[] = { "15", "5", "3", "ccpd", pg->conninfo,
			      pg->passfile, NULL };

	if (!pg->passfile)
		kw[5] = NULL;
	pg->st = PG_CONNECTING;
	pg->conn = PQconnectStartParams(kw, val, 1);
	if (!pg->conn) {
		go_down(pg, "out of memory");
		return;
	}
	if (PQstatus(pg->conn) == CONNECTION_BAD) {
		go_down(pg, PQerrorMessage(pg->conn));
		return;
	}
	tmr_start(&pg->connect_tmr, CONNECT_TIMEOUT_MS, connect_timeout, pg);
	if (pg->h.state)
		pg->h.state(PG_CONNECTING, "", pg->arg);
	/* as if PQconnectPoll had said: wait until writable */
	poll_step(pg, PGRES_POLLING_WRITING);
}

int pg_check_conninfo(const char *conninfo, char *err, size_t err_size)
{
	char *msg = NULL;
	PQconninfoOption *o = PQconninfoParse(conninfo, &msg);
	size_t n;

	if (o) {
		PQconninfoFree(o);
		return 0;
	}
	snprintf(err, err_size, "%s", msg ? msg : "out of memory");
	n = strlen(err);
	while (n > 0 && err[n - 1] == '\n')
		err[--n] = '\0';
	PQfreemem(msg);
	return -EINVAL;
}

int pg_new(struct pg **ret, const char *conninfo, const char *passfile,
	   const struct pg_handlers *h, void *arg)
{
	struct pg *pg = calloc(1, sizeof(*pg));

	if (!pg)
		return -ENOMEM;
	pg->fd = -1;
	pg->conninfo = strdup(conninfo);
	pg->passfile = passfile && *passfile ? strdup(passfile) : NULL;
	if (!pg->conninfo || (passfile && *passfile && !pg->passfile)) {
		pg_free(pg);
		return -ENOMEM;
	}
	tmr_init(&pg->retry_tmr);
	tmr_init(&pg->connect_tmr);
	pg->backoff_ms = BACKOFF_MIN_MS;
	if (h)
		pg->h = *h;
	pg->arg = arg;
	snprintf(pg->why, sizeof(pg->why), "not connected yet");
	*ret = pg;
	start_connect(pg);
	return 0;
}

struct pg *pg_free(struct pg *pg)
{
	struct query *q;

	if (!pg)
		return NULL;
	tmr_cancel(&pg->retry_tmr);
	tmr_cancel(&pg->connect_tmr);
	watch(pg, 0, NULL);
	while ((q = pop(pg)))
		query_free(q);
	if (pg->result)
		PQclear(pg->result);
	if (pg->conn)
		PQfinish(pg->conn);
	free(pg->conninfo);
	free(pg->passfile);
	free(pg);
	return NULL;
}

enum pg_state pg_state(const struct pg *pg)
{
	return pg ? pg->st : PG_DOWN;
}

const char *pg_why(const struct pg *pg)
{
	return pg && pg->st != PG_UP ? pg->why : "";
}

unsigned pg_pending(const struct pg *pg)
{
	return pg ? pg->n_queued : 0;
}

int pg_query(struct pg *pg, const char *sql, const char *const *params,
	     int n, pg_result_h *h, void *arg)
{
	struct query *q;
	int i;

	if (pg->st != PG_UP)
		return -ENOTCONN;
	q = calloc(1, sizeof(*q));
	if (!q)
		return -ENOMEM;
	q->sql = strdup(sql);
	q->params = n ? calloc((size_t)n, sizeof(char *)) : NULL;
	q->n = n;
	if (!q->sql || (n && !q->params))
		goto nomem;
	for (i = 0; i < n; i++)
		if (params[i] && !(q->params[i] = strdup(params[i])))
			goto nomem;
	q->h = h;
	q->arg = arg;
	if (pg->tail)
		pg->tail->next = q;
	else
		pg->head = q;
	pg->tail = q;
	pg->n_queued++;
	send_next(pg);
	return 0;
nomem:
	query_free(q);
	return -ENOMEM;
}

void pg_cancel_arg(struct pg *pg, void *arg)
{
	struct query *q;

	for (q = pg ? pg->head : NULL; q; q = q->next)
		if (q->arg == arg)
			q->h = NULL;
}

void pg_reset(struct pg *pg, const char *why)
{
	if (pg->st != PG_DOWN)
		go_down(pg, why);
}

int pg_res_rows(const struct pg_res *res)
{
	return res ? PQntuples(res->r) : 0;
}

int pg_res_cols(const struct pg_res *res)
{
	return res ? PQnfields(res->r) : 0;
}

const char *pg_res_value(const struct pg_res *res, int row, int col)
{
	if (!res || PQgetisnull(res->r, row, col))
		return NULL;
	return PQgetvalue(res->r, row, col);
}

const char *pg_res_error(const struct pg_res *res)
{
	return res ? PQresultErrorMessage(res->r) : "";
}

const char *pg_res_sqlstate(const struct pg_res *res)
{
	const char *s = res ? PQresultErrorField(res->r, PG_DIAG_SQLSTATE)
			    : NULL;

	return s ? s : "";
}

unsigned long pg_res_affected(const struct pg_res *res)
{
	const char *s = res ? PQcmdTuples(res->r) : "";

	return *s ? strtoul(s, NULL, 10) : 0;
}
