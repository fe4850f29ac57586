/* The instance: this desk's SQLite store kept in step with PostgreSQL.
 *
 * Out: every write of shared data, journal row and contact record at this
 * desk is put in the outbox (channel "store") by the store's watcher, in
 * the writer's own call, so that a kill -9 right after loses nothing. The
 * sender replays the channel in order, one record per statement; a
 * statement commits on its own, and only then is the record acknowledged.
 * Each statement is idempotent (journal rows by desk and outbox sequence,
 * contact records by their id, shared rows by their key), so a record
 * sent again after a crash between the commit and the acknowledgement
 * changes nothing.
 *
 * In: triggers NOTIFY ccp_changes; a change of a shared table re-reads
 * that table whole (they are small) into the local copy, a moment later so
 * that a burst is read once; a contact record of the user at this desk is
 * read alone. Notifications are lost while disconnected, so every table
 * is re-read after each reconnect, once this desk's own waiting records
 * have reached the server (else the re-read would undo them locally until
 * they arrive).
 *
 * Conflicts: the server wins. A record the server refuses for its data
 * (SQLSTATE classes 22 and 23: a row another desk deleted meanwhile, say)
 * is logged, dropped from the outbox, and its table re-read. Any other
 * refusal is retried. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <re.h>

#include "events.h"
#include "instance-int.h"
#include "instance.h"
#include "log.h"
#include "outbox.h"
#include "pg.h"
#include "store.h"

#define CHANNEL "store"
#define SCHEMA_LOCK "7261001"     /* pg_advisory_lock's key */
#define REREAD_DELAY_MS 10
#define RETRY_MS 2000
#define MAX_SHARED 8
#define HISTORY_PULL 200

struct slot {
	struct instance *in;
	size_t i;
};

struct instance {
	struct store *st;
	struct outbox *ob;
	struct events *ev;
	struct pg *pg;
	const char *desk;
	bool ready;               /* schema checked and LISTENing */
	bool synced;              /* every table re-read since connecting */
	bool resync_due;
	uint64_t resync_at;       /* ... once records up to this are acked */
	bool sending;
	uint64_t sent_seq;
	int sent_table;           /* a shared row's table, or -1 */
	unsigned dirty;           /* bit i: shared table i to re-read */
	unsigned unsynced;        /* bit i: not re-read since connecting */
	/* this desk's changes of table i not yet on the server: a re-read
	 * of i waits for them, else it would undo them here meanwhile */
	unsigned pending[MAX_SHARED];
	/* records in the channel: counted once at start, then kept, so that
	 * a long outage's backlog costs no count at every write */
	uint64_t waiting;
	unsigned reading;         /* re-reads in flight */
	bool read_bad;
	cJSON *fresh[MAX_SHARED];
	struct slot slots[MAX_SHARED];
	struct tmr reread_tmr;
	struct tmr retry_tmr;
	unsigned version;         /* the migration being applied */
	struct hotdesk *hd;       /* who is at which desk */
	char shown[80];           /* the last state told by store.status */
	instance_changed_h *wh;
	void *warg;
};

static void send_next(struct instance *in);
static void schedule_reread(struct instance *in, unsigned tables);
static void tell(struct instance *in, enum instance_change what,
		 const char *table, const char *key);
static void row_done(struct instance *in, int t);
static void acked(struct instance *in, uint64_t seq);

/* ---- the state, as shown ---- */

static const char *state_word(const struct instance *in)
{
	if (pg_state(in->pg) == PG_UP && in->ready)
		return "connected";
	if (pg_state(in->pg) == PG_DOWN)
		return "unreachable";
	return "connecting";
}

cJSON *instance_status_json(const struct instance *in)
{
	cJSON *o = cJSON_CreateObject();

	if (!o)
		return NULL;
	cJSON_AddStringToObject(o, "backend", "postgresql");
	cJSON_AddStringToObject(o, "state", state_word(in));
	cJSON_AddNumberToObject(o, "waiting",
				(double)in->waiting);
	cJSON_AddBoolToObject(o, "synced", in->synced);
	if (*pg_why(in->pg))
		cJSON_AddStringToObject(o, "reason", pg_why(in->pg));
	return o;
}

void instance_status_line(const struct instance *in, char *buf, size_t size)
{
	uint64_t n = in->waiting;

	if (strcmp(state_word(in), "connected") == 0 && n == 0)
		snprintf(buf, size, "connected");
	else
		snprintf(buf, size, "%s, %llu record%s waiting",
			 state_word(in), (unsigned long long)n,
			 n == 1 ? "" : "s");
}

/* store.status goes out when the state changes, or the outbox starts or
 * stops holding records. */
static void tell_status(struct instance *in)
{
	char now[80];

	snprintf(now, sizeof(now), "%s%s%s", state_word(in),
		 in->waiting ? " waiting" : "",
		 in->synced ? " synced" : "");
	if (strcmp(now, in->shown) == 0)
		return;
	snprintf(in->shown, sizeof(in->shown), "%s", now);
	if (in->ev)
		events_emit(in->ev, "store.status", instance_status_json(in));
}

int instance_prometheus(const struct instance *in, char **ret)
{
	char *text = NULL;
	int n = asprintf(&text,
		"# HELP ccpd_outbox_waiting Records in the outbox waiting for"
		" their server.\n"
		"# TYPE ccpd_outbox_waiting gauge\n"
		"ccpd_outbox_waiting{channel=\"store\"} %llu\n"
		"# HELP ccpd_database_connected Whether the instance's"
		" database is connected (1) or not (0).\n"
		"# TYPE ccpd_database_connected gauge\n"
		"ccpd_database_connected %d\n",
		(unsigned long long)in->waiting,
		strcmp(state_word(in), "connected") == 0);

	if (n < 0)
		return -ENOMEM;
	*ret = text;
	return 0;
}

/* ---- rows between JSON and text parameters ---- */

/* The member as libpq's text, or NULL; *tmp holds what must be freed. */
static const char *param_of(const struct store_col *c, const cJSON *v,
			    char **tmp)
{
	const cJSON *e;
	size_t len = 1;

	*tmp = NULL;
	if (!v || cJSON_IsNull(v))
		return NULL;
	switch (c->kind) {
	case STORE_TEXT:
		return cJSON_IsString(v) ? v->valuestring : NULL;
	case STORE_INT:
		if (asprintf(tmp, "%lld", (long long)v->valuedouble) < 0)
			*tmp = NULL;
		return *tmp;
	case STORE_BOOL:
		return cJSON_IsTrue(v) ? "1" : "0";
	case STORE_LIST:
		cJSON_ArrayForEach(e, v)
			if (cJSON_IsString(e))
				len += strlen(e->valuestring) + 1;
		*tmp = calloc(1, len);
		cJSON_ArrayForEach(e, v) {
			if (!*tmp || !cJSON_IsString(e))
				continue;
			if (**tmp)
				strcat(*tmp, ",");
			strcat(*tmp, e->valuestring);
		}
		return *tmp;
	}
	return NULL;
}

/* A value read from the server as the store shows it (store.c's
 * column_to_json). */
static void add_value(cJSON *o, const struct store_col *c, const char *v)
{
	char *copy, *tok, *save = NULL;
	cJSON *a;

	if (!v && c->kind != STORE_LIST) {
		cJSON_AddNullToObject(o, c->json);
		return;
	}
	switch (c->kind) {
	case STORE_TEXT:
		cJSON_AddStringToObject(o, c->json, v);
		return;
	case STORE_INT:
		cJSON_AddNumberToObject(o, c->json, (double)strtoll(v, NULL,
								   10));
		return;
	case STORE_BOOL:
		cJSON_AddBoolToObject(o, c->json, strtol(v, NULL, 10) != 0);
		return;
	case STORE_LIST:
		a = cJSON_AddArrayToObject(o, c->json);
		copy = strdup(v ? v : "");
		for (tok = copy ? strtok_r(copy, ",", &save) : NULL; tok;
		     tok = strtok_r(NULL, ",", &save))
			cJSON_AddItemToArray(a, cJSON_CreateString(tok));
		free(copy);
		return;
	}
}

/* Queue the upsert of row (key: its key before the change). */
static int send_row(struct instance *in, const struct store_table *t,
		    const char *key, const cJSON *row, bool keep,
		    pg_result_h *h)
{
	const char *params[16];
	char *tmp[16] = { 0 }, sql[2048];
	size_t i;
	int r;

	if (t->n_cols + 1 > 16 || schema_upsert_sql(t, keep, sql,
						    sizeof(sql)) < 0)
		return -ENAMETOOLONG;
	params[0] = key;
	for (i = 0; i < t->n_cols; i++)
		params[i + 1] = param_of(&t->cols[i],
			cJSON_GetObjectItemCaseSensitive(row, t->cols[i].json),
			&tmp[i]);
	r = pg_query(in->pg, sql, params, (int)t->n_cols + 1, h, in);
	for (i = 0; i < t->n_cols; i++)
		free(tmp[i]);
	return r;
}

/* ---- out: the outbox, filled by the store's watcher ---- */

void instance_put(struct instance *in, cJSON *body, int table)
{
	char key[37], *text = body ? cJSON_PrintUnformatted(body) : NULL;
	int r;

	outbox_uuid(key);
	r = text ? outbox_put(in->ob, CHANNEL, key, text, NULL) : -ENOMEM;
	if (r == 0)
		in->waiting++;
	if (r == 0 && table >= 0)
		in->pending[table]++;
	if (r < 0)
		log_error("instance: cannot keep a record for the database: "
			  "%s; it is in the local store only", strerror(-r));
	cJSON_free(text);
	cJSON_Delete(body);
	tell_status(in);
	send_next(in);
}

static void add_str(cJSON *o, const char *k, const char *v)
{
	if (v)
		cJSON_AddStringToObject(o, k, v);
}


static void on_store_change(const struct store_change *c, void *arg)
{
	struct instance *in = arg;
	const struct store_journal_row *j = c->journal;
	cJSON *body = cJSON_CreateObject(), *row = NULL;

	if (!body)
		return;
	switch (c->kind) {
	case STORE_CHANGE_ROW:
		if (schema_shared_find(c->table->name) < 0) {
			cJSON_Delete(body);
			return;
		}
		cJSON_AddStringToObject(body, "k", "row");
		cJSON_AddStringToObject(body, "t", c->table->name);
		cJSON_AddStringToObject(body, "key", c->key);
		if (c->new_key && store_get(in->st, c->table, c->new_key,
					    &row) == 0)
			cJSON_AddItemToObject(body, "row", row);
		break;
	case STORE_CHANGE_JOURNAL:
		cJSON_AddStringToObject(body, "k", "journal");
		cJSON_AddNumberToObject(body, "id", (double)j->id);
		cJSON_AddNumberToObject(body, "time", (double)j->time);
		add_str(body, "instance", j->instance);
		if (j->event_seq)
			cJSON_AddNumberToObject(body, "eventSeq",
						(double)j->event_seq);
		add_str(body, "type", j->type);
		add_str(body, "username", j->username);
		add_str(body, "actor", j->actor);
		add_str(body, "state", j->state);
		add_str(body, "status", j->status);
		add_str(body, "contactId", j->contact_id);
		add_str(body, "data", j->data);
		instance_put(in, body, -1);
		hotdesk_journal(in->hd, j);
		return;
	case STORE_CHANGE_CONTACT:
		cJSON_AddStringToObject(body, "k", "contact");
		add_str(body, "instance", c->instance);
		add_str(body, "username", c->username);
		cJSON_AddItemToObject(body, "contact",
				      cJSON_Duplicate(c->contact, true));
		break;
	}
	instance_put(in, body, c->kind == STORE_CHANGE_ROW ?
	    schema_shared_find(c->table->name) : -1);
}

const char *instance_jstr(const cJSON *o, const char *k)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);

	return cJSON_IsString(v) ? v->valuestring : NULL;
}

const char *instance_jnum(const cJSON *o, const char *k, char *buf,
			  size_t size)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);

	if (!cJSON_IsNumber(v))
		return NULL;
	snprintf(buf, size, "%lld", (long long)v->valuedouble);
	return buf;
}

static void sent(int err, const struct pg_res *res, void *arg);

/* One record as its statement. -EINVAL: a body this build cannot read. */
static int send_record(struct instance *in, const struct outbox_rec *rec)
{
	cJSON *b = cJSON_Parse(rec->body);
	const char *k = instance_jstr(b, "k");
	char seq[24], time[24], evseq[24], *text;
	int r = -EINVAL, t;

	in->sent_table = -1;
	snprintf(seq, sizeof(seq), "%llu", (unsigned long long)rec->seq);
	if (k && strcmp(k, "row") == 0 &&
	    (t = schema_shared_find(instance_jstr(b, "t") ? instance_jstr(b, "t") : "")) >= 0 &&
	    instance_jstr(b, "key")) {
		const cJSON *row = cJSON_GetObjectItemCaseSensitive(b, "row");
		const struct store_table *tab = schema_shared(t);

		in->sent_table = t;
		if (cJSON_IsObject(row)) {
			r = send_row(in, tab, instance_jstr(b, "key"), row, false,
				     sent);
		} else {
			char sql[256];
			const char *p[1] = { instance_jstr(b, "key") };

			snprintf(sql, sizeof(sql), "DELETE FROM %s WHERE %s ="
				 " $1", tab->name, tab->cols[0].sql);
			r = pg_query(in->pg, sql, p, 1, sent, in);
		}
	} else if (k && strcmp(k, "journal") == 0) {
		const char *p[12] = {
			in->desk, seq, instance_jnum(b, "time", time, sizeof(time)),
			instance_jstr(b, "instance"),
			instance_jnum(b, "eventSeq", evseq, sizeof(evseq)),
			instance_jstr(b, "type"), instance_jstr(b, "username"), instance_jstr(b, "actor"),
			instance_jstr(b, "state"), instance_jstr(b, "status"),
			instance_jstr(b, "contactId"), instance_jstr(b, "data"),
		};

		if (p[2] && p[3] && p[5] && p[6])
			r = pg_query(in->pg, schema_journal_sql(), p, 12, sent,
				     in);
	} else if (k && hotdesk_kind(k)) {
		r = hotdesk_send(in->hd, k, b, sent, in);
	} else if (k && strcmp(k, "contact") == 0) {
		const cJSON *c = cJSON_GetObjectItemCaseSensitive(b,
								  "contact");

		text = cJSON_IsObject(c) ? cJSON_PrintUnformatted(c) : NULL;
		if (text && instance_jstr(b, "instance") && instance_jstr(b, "username")) {
			const char *p[4] = { in->desk, instance_jstr(b, "instance"),
					     instance_jstr(b, "username"), text };

			r = pg_query(in->pg, schema_contact_sql(), p, 4, sent,
				     in);
		}
		cJSON_free(text);
	}
	cJSON_Delete(b);
	return r;
}

struct first {
	uint64_t seq;
	char *body;
	char *key;
};

static int take_first(const struct outbox_rec *rec, void *arg)
{
	struct first *f = arg;

	f->seq = rec->seq;
	f->body = strdup(rec->body);
	f->key = strdup(rec->key);
	return 1;
}

/* Every table is re-read after connecting, once the records that waited
 * when it connected are on the server. */
static void maybe_resync(struct instance *in, uint64_t first_waiting)
{
	if (!in->ready || !in->resync_due)
		return;
	if (first_waiting && first_waiting <= in->resync_at)
		return;
	in->resync_due = false;
	in->unsynced = (1u << schema_n_shared()) - 1;
	hotdesk_resync(in->hd);
	schedule_reread(in, (1u << schema_n_shared()) - 1);
}

static void send_next(struct instance *in)
{
	struct first f = { 0 };
	struct outbox_rec rec;
	int r;

	if (!in->ready || in->sending || tmr_isrunning(&in->retry_tmr))
		return;
	for (;;) {
		free(f.body);
		free(f.key);
		memset(&f, 0, sizeof(f));
		r = outbox_scan(in->ob, CHANNEL, 0, 1, take_first, &f);
		if (r < 0 || !f.seq || !f.body || !f.key) {
			maybe_resync(in, 0);
			break;
		}
		maybe_resync(in, f.seq);
		rec = (struct outbox_rec){ .seq = f.seq, .channel = CHANNEL,
					   .key = f.key, .body = f.body };
		r = send_record(in, &rec);
		if (r == 0) {
			in->sending = true;
			in->sent_seq = f.seq;
			break;
		}
		if (r == -ENOTCONN || r == -ENOMEM)
			break;
		log_error("instance: record %llu cannot be read (%s), "
			  "dropped: %.200s", (unsigned long long)f.seq,
			  strerror(-r), f.body);
		acked(in, f.seq);
		row_done(in, in->sent_table);
	}
	free(f.body);
	free(f.key);
	tell_status(in);
}

static void acked(struct instance *in, uint64_t seq)
{
	if (outbox_ack(in->ob, CHANNEL, seq) < 0)
		log_warning("instance: record %llu was not in the outbox",
			    (unsigned long long)seq);
	else if (in->waiting > 0)
		in->waiting--;
}

/* A row of table t left the outbox: a re-read that waited may run. */
static void row_done(struct instance *in, int t)
{
	if (t < 0 || in->pending[t] == 0)
		return;
	if (--in->pending[t] == 0 && (in->dirty & (1u << t)))
		schedule_reread(in, 0);
}

static void retry_send(void *arg)
{
	send_next(arg);
}

static void sent(int err, const struct pg_res *res, void *arg)
{
	struct instance *in = arg;
	const char *state = pg_res_sqlstate(res);

	in->sending = false;
	if (err == -ECONNRESET)
		return;
	if (err == -EPROTO && (strncmp(state, "22", 2) == 0 ||
			       strncmp(state, "23", 2) == 0)) {
		log_warning("instance: the database refused record %llu "
			    "(SQLSTATE %s), dropped; the server's copy stands:"
			    " %s", (unsigned long long)in->sent_seq, state,
			    pg_res_error(res));
		if (in->sent_table >= 0)
			schedule_reread(in, 1u << in->sent_table);
		err = 0;
	} else if (err < 0) {
		log_warning("instance: record %llu not written, trying again "
			    "in %d s: %s", (unsigned long long)in->sent_seq,
			    RETRY_MS / 1000, res ? pg_res_error(res) :
			    strerror(-err));
		tmr_start(&in->retry_tmr, RETRY_MS, retry_send, in);
		return;
	}
	acked(in, in->sent_seq);
	row_done(in, in->sent_table);
	send_next(in);
}

/* ---- in: other desks' changes into the local copy ---- */

void instance_tell(struct instance *in, enum instance_change what,
		   const char *table, const char *key, uint64_t time)
{
	if (in->wh)
		in->wh(what, table, key, time, in->warg);
}

static void tell(struct instance *in, enum instance_change what,
		 const char *table, const char *key)
{
	instance_tell(in, what, table, key, 0);
}

static cJSON *find_key(const cJSON *rows, const char *json, const char *key)
{
	const cJSON *r;

	cJSON_ArrayForEach(r, rows) {
		const char *k = instance_jstr(r, json);

		if (k && strcmp(k, key) == 0)
			return (cJSON *)r;
	}
	return NULL;
}

/* The statuses' order is their list's order: rebuilt whole when it
 * differs. */
static bool apply_statuses(struct instance *in, const cJSON *fresh)
{
	const struct store_table *t = &store_statuses;
	cJSON *local = NULL, *r;
	bool same;

	if (store_list(in->st, t, &local) < 0)
		return false;
	same = cJSON_Compare(local, fresh, true);
	if (!same) {
		cJSON_ArrayForEach(r, local)
			store_delete(in->st, t, instance_jstr(r, "name"));
		cJSON_ArrayForEach(r, fresh)
			store_insert(in->st, t, r);
	}
	cJSON_Delete(local);
	return !same;
}

/* Make rows as fresh says; true when something changed. Users whose hash
 * changed go in pw (up to n_pw). */
static bool apply_upserts(struct instance *in, size_t i, const cJSON *fresh,
			  char pw[][65], size_t *n_pw)
{
	const struct store_table *t = schema_shared(i);
	const cJSON *row;
	bool changed = false;

	cJSON_ArrayForEach(row, fresh) {
		const char *key = instance_jstr(row, t->cols[0].json);
		cJSON *old = NULL;
		int r;

		if (!key)
			continue;
		r = store_get(in->st, t, key, &old);
		if (r == -ENOENT) {
			r = store_insert(in->st, t, row);
			changed = true;
		} else if (r == 0 && !cJSON_Compare(old, row, true)) {
			if (t == &store_users && *n_pw < 64 &&
			    !cJSON_Compare(
				    cJSON_GetObjectItemCaseSensitive(
					    old, "passwordHash"),
				    cJSON_GetObjectItemCaseSensitive(
					    row, "passwordHash"), true))
				snprintf(pw[(*n_pw)++], 65, "%s", key);
			r = store_update(in->st, t, key, row);
			changed = true;
		}
		if (r < 0)
			log_warning("instance: %s '%s' not copied: %s", t->name,
				    key, strerror(-r));
		cJSON_Delete(old);
	}
	return changed;
}

static bool apply_deletes(struct instance *in, size_t i, const cJSON *fresh,
			  char gone[][65], size_t *n_gone)
{
	const struct store_table *t = schema_shared(i);
	cJSON *local = NULL, *row;
	bool changed = false;

	if (store_list(in->st, t, &local) < 0)
		return false;
	cJSON_ArrayForEach(row, local) {
		const char *key = instance_jstr(row, t->cols[0].json);
		int r;

		if (!key || find_key(fresh, t->cols[0].json, key))
			continue;
		r = store_delete(in->st, t, key);
		if (r < 0) {
			log_warning("instance: %s '%s' not removed: %s",
				    t->name, key, strerror(-r));
			continue;
		}
		changed = true;
		if (t == &store_users && *n_gone < 64)
			snprintf(gone[(*n_gone)++], 65, "%s", key);
	}
	cJSON_Delete(local);
	return changed;
}

static void apply_fresh(struct instance *in)
{
	static char pw[64][65], gone[64][65];
	size_t n = schema_n_shared(), i, n_pw = 0, n_gone = 0;
	bool changed[MAX_SHARED] = { false }, was;
	int r;

	was = store_set_quiet(in->st, true);
	r = store_begin(in->st);
	for (i = 0; r == 0 && i < n; i++) {
		if (!in->fresh[i])
			continue;
		if (schema_shared(i) == &store_statuses)
			changed[i] = apply_statuses(in, in->fresh[i]);
		else
			changed[i] = apply_upserts(in, i, in->fresh[i], pw,
						   &n_pw);
	}
	for (i = n; r == 0 && i-- > 0;)
		if (in->fresh[i] && schema_shared(i) != &store_statuses)
			changed[i] |= apply_deletes(in, i, in->fresh[i], gone,
						    &n_gone);
	if (r == 0)
		r = store_commit(in->st);
	if (r < 0) {
		store_rollback(in->st);
		log_error("instance: cannot update the local copy: %s",
			  strerror(-r));
	}
	store_set_quiet(in->st, was);
	if (r < 0)
		return;
	for (i = 0; i < n; i++)
		if (changed[i]) {
			log_debug("instance: %s changed on the instance",
				  schema_shared(i)->name);
			tell(in, INSTANCE_TABLE, schema_shared(i)->name, NULL);
		}
	for (i = 0; i < n_pw; i++)
		tell(in, INSTANCE_PASSWORD, store_users.name, pw[i]);
	for (i = 0; i < n_gone; i++)
		tell(in, INSTANCE_USER_GONE, store_users.name, gone[i]);
}

static void start_reread(void *arg);

static void table_read(int err, const struct pg_res *res, void *arg)
{
	struct slot *sl = arg;
	struct instance *in = sl->in;
	const struct store_table *t = schema_shared(sl->i);
	cJSON *rows;
	int i, c;

	in->reading--;
	if (err < 0 || !res) {
		if (err != -ECONNRESET)
			log_warning("instance: cannot read %s: %s", t->name,
				    res ? pg_res_error(res) : strerror(-err));
		in->read_bad = true;
	} else if ((rows = cJSON_CreateArray())) {
		for (i = 0; i < pg_res_rows(res); i++) {
			cJSON *o = cJSON_CreateObject();

			for (c = 0; o && c < (int)t->n_cols; c++)
				add_value(o, &t->cols[c],
					  pg_res_value(res, i, c));
			cJSON_AddItemToArray(rows, o);
		}
		cJSON_Delete(in->fresh[sl->i]);
		in->fresh[sl->i] = rows;
	}
	if (in->reading > 0)
		return;
	/* a table with changes of ours still on the way is read again
	 * once they have arrived */
	for (i = 0; i < (int)schema_n_shared(); i++)
		if (in->fresh[i] && in->pending[i]) {
			in->fresh[i] = (cJSON_Delete(in->fresh[i]), NULL);
			in->dirty |= 1u << i;
		}
	if (!in->read_bad) {
		for (i = 0; i < (int)schema_n_shared(); i++)
			if (in->fresh[i])
				in->unsynced &= ~(1u << i);
		apply_fresh(in);
	} else if (pg_state(in->pg) == PG_UP) {
		in->dirty |= (1u << schema_n_shared()) - 1;
	}
	for (i = 0; i < MAX_SHARED; i++)
		in->fresh[i] = (cJSON_Delete(in->fresh[i]), NULL);
	if (!in->read_bad && !in->resync_due && !in->unsynced &&
	    !in->synced && in->ready) {
		in->synced = true;
		log_info("instance: the local copy is in step with the "
			 "instance");
	}
	tell_status(in);
	if (in->dirty)
		tmr_start(&in->reread_tmr, in->read_bad ? RETRY_MS :
			  REREAD_DELAY_MS, start_reread, in);
}

static void start_reread(void *arg)
{
	struct instance *in = arg;
	char sql[1024];
	size_t i;

	if (!in->ready || in->reading > 0)
		return;
	in->read_bad = false;
	for (i = 0; i < schema_n_shared(); i++) {
		if (!(in->dirty & (1u << i)) || in->pending[i])
			continue;
		if (schema_select_sql(schema_shared(i), sql, sizeof(sql)) < 0 ||
		    pg_query(in->pg, sql, NULL, 0, table_read,
			     &in->slots[i]) < 0)
			continue;
		in->dirty &= ~(1u << i);
		in->reading++;
	}
}

static void schedule_reread(struct instance *in, unsigned tables)
{
	in->dirty |= tables;
	if (in->reading == 0 && !tmr_isrunning(&in->reread_tmr))
		tmr_start(&in->reread_tmr, REREAD_DELAY_MS, start_reread, in);
}

/* Contact records of the desk's user, written at other desks. */
static void contacts_read(int err, const struct pg_res *res, void *arg)
{
	struct instance *in = arg;
	bool was;
	int i;

	if (err < 0) {
		if (err != -ECONNRESET)
			log_warning("instance: cannot read contact records: "
				    "%s", pg_res_error(res));
		return;
	}
	was = store_set_quiet(in->st, true);
	/* oldest first, so that the newest is the last one written */
	for (i = pg_res_rows(res); i-- > 0;) {
		cJSON *c = cJSON_Parse(pg_res_value(res, i, 2) ?
				       pg_res_value(res, i, 2) : "");

		if (c && pg_res_value(res, i, 0) && pg_res_value(res, i, 1))
			store_contact_put(in->st, pg_res_value(res, i, 0),
					  pg_res_value(res, i, 1), c);
		cJSON_Delete(c);
	}
	store_set_quiet(in->st, was);
}

void instance_pull_history(struct instance *in)
{
	const char *user = hotdesk_user(in->hd);
	char limit[16];
	const char *p[3] = { user, in->desk, limit };

	if (!in->ready || !user[0])
		return;
	snprintf(limit, sizeof(limit), "%d", HISTORY_PULL);
	pg_query(in->pg, "SELECT instance, username, data FROM contacts"
		 " WHERE username = $1 AND desk_id <> $2"
		 " ORDER BY id DESC LIMIT $3::int", p, 3, contacts_read, in);
}

static void on_notify(const char *channel, const char *payload, void *arg)
{
	struct instance *in = arg;
	const char *colon = strchr(payload, ':');
	char table[64];
	int i;

	if (!colon || (size_t)(colon - payload) >= sizeof(table))
		return;
	snprintf(table, sizeof(table), "%.*s", (int)(colon - payload),
		 payload);
	if (strcmp(table, "contacts") == 0) {
		const char *id = strrchr(payload, ':') + 1;
		size_t dl = strlen(in->desk);
		const char *p[3] = { id, hotdesk_user(in->hd), in->desk };

		/* our own, or nobody's at this desk */
		if (strncmp(colon + 1, in->desk, dl) == 0 &&
		    colon[1 + dl] == ':')
			return;
		if (!*hotdesk_user(in->hd))
			return;
		pg_query(in->pg, "SELECT instance, username, data FROM contacts"
			 " WHERE id = $1::bigint AND username = $2 AND"
			 " desk_id <> $3", p, 3, contacts_read, in);
		return;
	}
	if (hotdesk_notify(in->hd, table, colon + 1))
		return;
	i = schema_shared_find(table);
	if (i >= 0)
		schedule_reread(in, 1u << i);
	(void)channel;
}

/* ---- the schema, at each connection ---- */

static void failed(struct instance *in, const char *what,
		   const struct pg_res *res, int err)
{
	if (err == -ECONNRESET)
		return;
	log_error("instance: %s: %s", what, res ? pg_res_error(res) :
		  strerror(-err));
	pg_reset(in->pg, what);
}

static void listening(int err, const struct pg_res *res, void *arg)
{
	struct instance *in = arg;

	if (err < 0) {
		failed(in, "cannot LISTEN", res, err);
		return;
	}
	in->ready = true;
	in->resync_due = true;
	in->resync_at = outbox_next_seq(in->ob) - 1;
	hotdesk_connected(in->hd);
	log_debug("instance: schema ready, %llu records to send",
		  (unsigned long long)in->waiting);
	send_next(in);
	instance_pull_history(in);
}

static void finish_schema(struct instance *in)
{
	pg_query(in->pg, "SELECT pg_advisory_unlock(" SCHEMA_LOCK ")", NULL,
		 0, NULL, NULL);
	pg_query(in->pg, "LISTEN ccp_changes", NULL, 0, listening, in);
}

static void seeded(int err, const struct pg_res *res, void *arg)
{
	if (err < 0 && err != -ECONNRESET)
		log_warning("instance: a default row was not seeded: %s",
			    pg_res_error(res));
}

/* The first desk of a new instance gives it its default profiles and
 * statuses (still under the lock, so only one does). */
static void counted(int err, const struct pg_res *res, void *arg)
{
	struct instance *in = arg;
	const struct store_table *t[] = { &store_profiles, &store_statuses };
	cJSON *rows, *row;
	size_t i;

	if (err < 0) {
		failed(in, "cannot count the profiles", res, err);
		return;
	}
	if (strcmp(pg_res_value(res, 0, 0) ? pg_res_value(res, 0, 0) : "",
		   "0") == 0) {
		log_info("instance: a new instance: seeding its profiles and "
			 "statuses from this desk");
		for (i = 0; i < 2; i++) {
			if (store_list(in->st, t[i], &rows) < 0)
				continue;
			cJSON_ArrayForEach(row, rows)
				send_row(in, t[i], instance_jstr(row,
					 t[i]->cols[0].json), row, true,
					 seeded);
			cJSON_Delete(rows);
		}
	}
	finish_schema(in);
}

static void migrated(int err, const struct pg_res *res, void *arg);

static void migrate_from(struct instance *in, unsigned v)
{
	char *sql = NULL;

	in->version = v;
	if (v >= schema_count()) {
		pg_query(in->pg, "SELECT count(*) FROM profiles", NULL, 0,
			 counted, in);
		return;
	}
	if (asprintf(&sql, "%s; INSERT INTO ccp_schema (version) VALUES (%u)",
		     schema_migration(v), v + 1) < 0) {
		pg_reset(in->pg, "out of memory");
		return;
	}
	log_info("instance: migrating the instance's schema to version %u",
		 v + 1);
	pg_query(in->pg, sql, NULL, 0, migrated, in);
	free(sql);
}

static void migrated(int err, const struct pg_res *res, void *arg)
{
	struct instance *in = arg;

	if (err < 0) {
		failed(in, "the schema's migration failed", res, err);
		return;
	}
	migrate_from(in, in->version + 1);
}

static void versioned(int err, const struct pg_res *res, void *arg)
{
	struct instance *in = arg;
	unsigned long v;

	if (err < 0) {
		failed(in, "cannot read the schema's version", res, err);
		return;
	}
	v = strtoul(pg_res_value(res, 0, 0) ? pg_res_value(res, 0, 0) : "0",
		    NULL, 10);
	if (v > schema_count()) {
		log_error("instance: the instance's schema is at version %lu; "
			  "this ccpd knows up to %u: working from the local "
			  "copy", v, schema_count());
		pg_query(in->pg, "SELECT pg_advisory_unlock(" SCHEMA_LOCK ")",
			 NULL, 0, NULL, NULL);
		return;
	}
	migrate_from(in, (unsigned)v);
}

/* Only a new instance needs the right to create tables: a desk whose
 * role may only read and write the rows (the least privileges) finds the
 * table of versions there. */
static void have_schema(int err, const struct pg_res *res, void *arg)
{
	struct instance *in = arg;

	if (err < 0) {
		failed(in, "cannot look for the schema", res, err);
		return;
	}
	if (strcmp(pg_res_value(res, 0, 0) ? pg_res_value(res, 0, 0) : "",
		   "t") != 0)
		pg_query(in->pg, "CREATE TABLE ccp_schema ("
			 " version INTEGER PRIMARY KEY,"
			 " applied TIMESTAMPTZ NOT NULL DEFAULT now())",
			 NULL, 0, NULL, NULL);
	pg_query(in->pg, "SELECT COALESCE(MAX(version), 0) FROM ccp_schema",
		 NULL, 0, versioned, in);
}

static void on_state(enum pg_state st, const char *why, void *arg)
{
	struct instance *in = arg;

	switch (st) {
	case PG_UP:
		/* several ccpd may start at once: one migrates, the others
		 * wait for the lock and find the work done */
		pg_query(in->pg, "SELECT pg_advisory_lock(" SCHEMA_LOCK ")",
			 NULL, 0, NULL, NULL);
		pg_query(in->pg, "SELECT to_regclass('ccp_schema') IS NOT NULL",
			 NULL, 0, have_schema, in);
		break;
	case PG_DOWN:
		if (in->ready)
			log_warning("instance: the database is unreachable "
				    "(%s); working from the local copy, new "
				    "records wait in the outbox", why);
		in->ready = false;
		in->synced = false;
		in->sending = false;
		in->reading = 0;
		tmr_cancel(&in->retry_tmr);
		break;
	case PG_CONNECTING:
		break;
	}
	tell_status(in);
}

/* ---- life ---- */

/* Records of shared rows left in the outbox by an earlier run. */
static int count_pending(const struct outbox_rec *rec, void *arg)
{
	struct instance *in = arg;
	cJSON *b = cJSON_Parse(rec->body);
	const char *k = instance_jstr(b, "k"), *t = instance_jstr(b, "t");
	int i = k && t && strcmp(k, "row") == 0 ? schema_shared_find(t) : -1;

	if (i >= 0)
		in->pending[i]++;
	cJSON_Delete(b);
	return 0;
}

int instance_new(struct instance **ret, const char *conninfo,
		 const char *passfile, struct store *st, struct outbox *ob,
		 struct events *ev)
{
	static const struct pg_handlers h = { on_state, on_notify };
	struct instance *in = calloc(1, sizeof(*in));
	size_t i;
	int r;

	if (!in)
		return -ENOMEM;
	in->st = st;
	in->ob = ob;
	in->ev = ev;
	in->desk = outbox_desk_id(ob);
	for (i = 0; i < MAX_SHARED; i++)
		in->slots[i] = (struct slot){ in, i };
	tmr_init(&in->reread_tmr);
	tmr_init(&in->retry_tmr);
	r = hotdesk_new(&in->hd, in);
	if (r < 0) {
		free(in);
		return r;
	}
	outbox_scan(ob, CHANNEL, 0, 0, count_pending, in);
	in->waiting = outbox_waiting(ob, CHANNEL);
	store_watch(st, on_store_change, in);
	r = pg_new(&in->pg, conninfo, passfile, &h, in);
	if (r < 0) {
		store_watch(st, NULL, NULL);
		hotdesk_free(in->hd);
		free(in);
		return r;
	}
	*ret = in;
	return 0;
}

struct instance *instance_free(struct instance *in)
{
	size_t i;

	if (!in)
		return NULL;
	store_watch(in->st, NULL, NULL);
	tmr_cancel(&in->reread_tmr);
	tmr_cancel(&in->retry_tmr);
	in->pg = pg_free(in->pg);
	for (i = 0; i < MAX_SHARED; i++)
		cJSON_Delete(in->fresh[i]);
	in->hd = hotdesk_free(in->hd);
	free(in);
	return NULL;
}

void instance_watch(struct instance *in, instance_changed_h *h, void *arg)
{
	in->wh = h;
	in->warg = arg;
}

void instance_logged_out(struct instance *in, const char *username,
			 uint64_t time)
{
	hotdesk_logged_out(in->hd, username, time);
}

bool instance_user_busy_elsewhere(const struct instance *in,
				  const char *username, char *desk,
				  size_t size)
{
	return hotdesk_busy_elsewhere(in->hd, username, desk, size);
}

const char *instance_desk(const struct instance *in)
{
	return in->desk;
}

struct pg *instance_pg(struct instance *in)
{
	return in->pg;
}
