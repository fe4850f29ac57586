/* The embedded SQLite database. One connection, used from the event loop's
 * thread only. WAL with synchronous=FULL: every commit is on disk before
 * the call returns, so a row the daemon has acknowledged survives a kill
 * of the process and a power loss alike (docs/admin-guide.md). */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sqlite3.h>

#include "json.h"
#include "log.h"
#include "store.h"

struct store {
	sqlite3 *db;
	sqlite3_stmt *journal_add;
	sqlite3_stmt *contact_put;
	int depth;                /* store_begin nesting */
	store_change_h *watch_h;  /* a replica's (instance.c) */
	void *watch_arg;
	bool quiet;
};

void store_watch(struct store *s, store_change_h *h, void *arg)
{
	s->watch_h = h;
	s->watch_arg = arg;
}

bool store_set_quiet(struct store *s, bool quiet)
{
	bool was = s->quiet;

	s->quiet = quiet;
	return was;
}

int store_changes(struct store *s)
{
	return sqlite3_changes(s->db);
}

static void tell(struct store *s, const struct store_change *c)
{
	if (s->watch_h && !s->quiet)
		s->watch_h(c, s->watch_arg);
}

static void tell_row(struct store *s, const struct store_table *t,
		     const char *key, const char *new_key)
{
	const struct store_change c = { .kind = STORE_CHANGE_ROW, .table = t,
					.key = key, .new_key = new_key };

	tell(s, &c);
}

/* Each entry takes the schema from version i to i + 1. A migration never
 * changes once released: later changes are new entries. */
static const char *const migrations[] = {
	/* 0 -> 1 */
	"CREATE TABLE meta ("
	"  key TEXT PRIMARY KEY,"
	"  value TEXT NOT NULL);"
	"CREATE TABLE profiles ("
	"  name TEXT PRIMARY KEY,"
	"  permissions TEXT NOT NULL DEFAULT '',"
	"  description TEXT,"
	"  builtin INTEGER NOT NULL DEFAULT 0);"
	"CREATE TABLE users ("
	"  username TEXT PRIMARY KEY,"
	"  display_name TEXT,"
	"  password_hash TEXT NOT NULL,"
	"  profile TEXT NOT NULL REFERENCES profiles(name)"
	"    ON UPDATE CASCADE ON DELETE RESTRICT,"
	"  phone_type TEXT NOT NULL DEFAULT 'softphone',"
	"  extension TEXT,"
	"  sip_account TEXT,"
	"  region TEXT,"
	"  must_change INTEGER NOT NULL DEFAULT 0,"
	"  created INTEGER NOT NULL DEFAULT 0,"
	"  updated INTEGER NOT NULL DEFAULT 0);"
	"CREATE TABLE statuses ("
	"  name TEXT PRIMARY KEY);"
	"CREATE TABLE numbers ("
	"  number TEXT PRIMARY KEY,"
	"  description TEXT,"
	"  username TEXT REFERENCES users(username)"
	"    ON UPDATE CASCADE ON DELETE SET NULL);"
	"CREATE TABLE origins ("
	"  origin TEXT PRIMARY KEY,"
	"  description TEXT);"
	"CREATE TABLE quick_connects ("
	"  name TEXT PRIMARY KEY,"
	"  endpoint TEXT NOT NULL,"
	"  description TEXT);"
	"CREATE TABLE journal ("
	"  id INTEGER PRIMARY KEY AUTOINCREMENT,"
	"  time INTEGER NOT NULL,"
	"  instance TEXT NOT NULL,"
	"  event_seq INTEGER,"
	"  type TEXT NOT NULL,"
	"  username TEXT NOT NULL,"
	"  actor TEXT,"
	"  state TEXT,"
	"  status TEXT,"
	"  contact_id TEXT,"
	"  data TEXT);"
	"CREATE INDEX journal_time ON journal(time);"
	"CREATE TABLE contacts ("
	"  id INTEGER PRIMARY KEY AUTOINCREMENT,"
	"  instance TEXT NOT NULL,"
	"  contact_id TEXT NOT NULL,"
	"  username TEXT NOT NULL,"
	"  direction TEXT NOT NULL,"
	"  state TEXT NOT NULL,"
	"  caller TEXT,"
	"  caller_e164 TEXT,"
	"  initiated INTEGER,"
	"  offered INTEGER,"
	"  connected INTEGER,"
	"  ended INTEGER,"
	"  acw_ended INTEGER,"
	"  hold_ms INTEGER NOT NULL DEFAULT 0,"
	"  acw_ms INTEGER,"
	"  handle_ms INTEGER,"
	"  end_reason TEXT,"
	"  disconnected_by TEXT,"
	"  sip_cause TEXT,"
	"  transfers INTEGER NOT NULL DEFAULT 0,"
	"  data TEXT NOT NULL,"
	"  UNIQUE (instance, contact_id));",
	/* 1 -> 2: each user's audio devices ("" for the desk without a
	 * login); NULL keeps the configured default */
	"CREATE TABLE audio_devices ("
	"  username TEXT PRIMARY KEY,"
	"  microphone TEXT,"
	"  speaker TEXT,"
	"  ringer TEXT);",
};

#define N_MIGRATIONS (sizeof(migrations) / sizeof(migrations[0]))

/* SQLite's result codes become negative errnos at this boundary. */
static int sql_errno(int rc)
{
	switch (rc & 0xff) {
	case SQLITE_OK:
	case SQLITE_DONE:
	case SQLITE_ROW:
		return 0;
	case SQLITE_NOMEM:
		return -ENOMEM;
	case SQLITE_BUSY:
	case SQLITE_LOCKED:
		return -EBUSY;
	case SQLITE_READONLY:
	case SQLITE_PERM:
	case SQLITE_AUTH:
		return -EACCES;
	case SQLITE_FULL:
		return -ENOSPC;
	case SQLITE_CANTOPEN:
		return -ENOENT;
	case SQLITE_CORRUPT:
	case SQLITE_NOTADB:
		return -EUCLEAN;
	case SQLITE_CONSTRAINT:
		if (rc == SQLITE_CONSTRAINT_FOREIGNKEY)
			return -EBUSY;
		return -EEXIST;
	default:
		return -EIO;
	}
}

static int exec(struct store *s, const char *sql)
{
	char *msg = NULL;
	int rc = sqlite3_exec(s->db, sql, NULL, NULL, &msg);

	if (rc != SQLITE_OK) {
		log_error("store: %s failed: %s", sql[0] == 'P' ? sql : "a statement",
			  msg ? msg : sqlite3_errstr(rc));
		sqlite3_free(msg);
		return sql_errno(rc) ? sql_errno(rc) : -EIO;
	}
	return 0;
}

static int prepare(struct store *s, const char *sql, sqlite3_stmt **st)
{
	int rc = sqlite3_prepare_v2(s->db, sql, -1, st, NULL);

	if (rc != SQLITE_OK) {
		log_error("store: cannot prepare '%.80s': %s", sql,
			  sqlite3_errmsg(s->db));
		return sql_errno(rc) ? sql_errno(rc) : -EIO;
	}
	return 0;
}

/* Step a statement that returns no rows, and reset it for its next use. */
static int step_done(struct store *s, sqlite3_stmt *st)
{
	int rc = sqlite3_step(st);
	int r = rc == SQLITE_DONE ? 0 : sql_errno(sqlite3_extended_errcode(s->db));

	if (rc != SQLITE_DONE && r == 0)
		r = -EIO;
	if (r < 0 && r != -EEXIST && r != -EBUSY)
		log_error("store: write failed: %s", sqlite3_errmsg(s->db));
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	return r;
}

static void bind_text(sqlite3_stmt *st, int i, const char *v)
{
	if (v)
		sqlite3_bind_text(st, i, v, -1, SQLITE_TRANSIENT);
	else
		sqlite3_bind_null(st, i);
}

int store_begin(struct store *s)
{
	if (s->depth++ > 0)
		return 0;
	return exec(s, "BEGIN IMMEDIATE");
}

int store_commit(struct store *s)
{
	if (s->depth == 0 || --s->depth > 0)
		return 0;
	return exec(s, "COMMIT");
}

void store_rollback(struct store *s)
{
	if (s->depth == 0)
		return;
	s->depth = 0;
	if (!sqlite3_get_autocommit(s->db))
		exec(s, "ROLLBACK");
}

static int user_version(struct store *s)
{
	sqlite3_stmt *st;
	int v = -EIO;

	if (prepare(s, "PRAGMA user_version", &st) < 0)
		return -EIO;
	if (sqlite3_step(st) == SQLITE_ROW)
		v = sqlite3_column_int(st, 0);
	sqlite3_finalize(st);
	return v;
}

int store_schema_version(struct store *s)
{
	return user_version(s);
}

static int migrate(struct store *s, char *err, size_t err_size)
{
	int v = user_version(s), r;
	char sql[64];

	if (v < 0) {
		snprintf(err, err_size, "cannot read the schema version");
		return v;
	}
	if (v > (int)N_MIGRATIONS) {
		snprintf(err, err_size, "the database has schema version %d; "
			 "this ccpd knows up to %d", v, (int)N_MIGRATIONS);
		return -EPROTO;
	}
	for (; v < (int)N_MIGRATIONS; v++) {
		r = store_begin(s);
		if (r == 0)
			r = exec(s, migrations[v]);
		snprintf(sql, sizeof(sql), "PRAGMA user_version = %d", v + 1);
		if (r == 0)
			r = exec(s, sql);
		if (r == 0)
			r = store_commit(s);
		if (r < 0) {
			store_rollback(s);
			snprintf(err, err_size, "migration to schema version %d "
				 "failed", v + 1);
			return r;
		}
		/* a new file is not news; a migrated one is */
		log_msg(v == 0 ? LOG_DEBUG : LOG_INFO,
			"store: schema now at version %d", v + 1);
	}
	return 0;
}

/* The file (made if create) readable by its owner only. One left
 * readable by others, by an older ccpd, a copy or a restore, is
 * corrected: its hashes must not stay open to every local user. */
static int private_file(const char *path, bool create)
{
	struct stat st;
	int fd = open(path, O_RDWR | O_CLOEXEC | O_NOFOLLOW |
		      (create ? O_CREAT : 0), 0600);
	int r = 0;

	if (fd < 0)
		return !create && errno == ENOENT ? 0 : -errno;
	if (fstat(fd, &st) < 0) {
		r = -errno;
	} else if (st.st_mode & 077) {
		if (fchmod(fd, st.st_mode & 0700) < 0)
			r = -errno;
		else
			log_notice("store: %s was mode %04o, readable by "
				   "others; now %04o", path,
				   (unsigned)(st.st_mode & 07777),
				   (unsigned)(st.st_mode & 0700));
	}
	close(fd);
	return r;
}

int store_open(struct store **ret, const char *path, char *err,
	       size_t err_size)
{
	struct store *s = calloc(1, sizeof(*s));
	sqlite3_stmt *st = NULL;
	char side[4200];
	int i, rc, r;

	if (!s)
		return -ENOMEM;
	/* created here so that it is never readable by others: it holds
	 * password hashes; the -wal and -shm files take its mode */
	r = private_file(path, true);
	for (i = 0; r == 0 && i < 2; i++) {
		snprintf(side, sizeof(side), "%s%s", path, i ? "-shm" :
			 "-wal");
		r = private_file(side, false);
	}
	if (r < 0) {
		snprintf(err, err_size, "%s: %s", path, strerror(-r));
		goto fail;
	}
	rc = sqlite3_open_v2(path, &s->db, SQLITE_OPEN_READWRITE |
			     SQLITE_OPEN_NOMUTEX, NULL);
	if (rc != SQLITE_OK) {
		snprintf(err, err_size, "%s: %s", path, s->db ?
			 sqlite3_errmsg(s->db) : sqlite3_errstr(rc));
		r = sql_errno(rc) ? sql_errno(rc) : -EIO;
		goto fail;
	}
	sqlite3_extended_result_codes(s->db, 1);
	sqlite3_busy_timeout(s->db, 5000);
	/* journal_mode answers with a row: the mode now in force */
	r = prepare(s, "PRAGMA journal_mode = WAL", &st);
	if (r == 0 && (sqlite3_step(st) != SQLITE_ROW ||
		       strcmp((const char *)sqlite3_column_text(st, 0),
			      "wal") != 0)) {
		snprintf(err, err_size, "%s: cannot use write-ahead logging: "
			 "%s", path, sqlite3_errmsg(s->db));
		r = -EIO;
	}
	sqlite3_finalize(st);
	if (r < 0) {
		if (!err[0])
			snprintf(err, err_size, "%s: %s", path,
				 sqlite3_errmsg(s->db));
		goto fail;
	}
	r = exec(s, "PRAGMA synchronous = FULL");
	if (r == 0)
		r = exec(s, "PRAGMA foreign_keys = ON");
	if (r < 0) {
		snprintf(err, err_size, "%s: %s", path, sqlite3_errmsg(s->db));
		goto fail;
	}
	r = migrate(s, err, err_size);
	if (r < 0)
		goto fail;
	r = prepare(s, "INSERT INTO journal (time, instance, event_seq, type,"
		    " username, actor, state, status, contact_id, data) VALUES"
		    " (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
		    &s->journal_add);
	if (r == 0)
		r = prepare(s, "INSERT INTO contacts (instance, contact_id,"
			    " username, direction, state, caller, caller_e164,"
			    " initiated, offered, connected, ended, acw_ended,"
			    " hold_ms, acw_ms, handle_ms, end_reason,"
			    " disconnected_by, sip_cause, transfers, data)"
			    " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10,"
			    " ?11, ?12, ?19, ?13, ?14, ?15, ?16, ?17, ?20, ?18)"
			    " ON CONFLICT (instance, contact_id) DO UPDATE SET"
			    " direction = excluded.direction,"
			    " state = excluded.state, caller = excluded.caller,"
			    " caller_e164 = excluded.caller_e164,"
			    " initiated = excluded.initiated,"
			    " offered = excluded.offered,"
			    " connected = excluded.connected,"
			    " ended = excluded.ended,"
			    " acw_ended = excluded.acw_ended,"
			    " acw_ms = excluded.acw_ms,"
			    " handle_ms = excluded.handle_ms,"
			    " end_reason = excluded.end_reason,"
			    " disconnected_by = excluded.disconnected_by,"
			    " sip_cause = excluded.sip_cause,"
			    " hold_ms = excluded.hold_ms,"
			    " transfers = excluded.transfers,"
			    " data = excluded.data", &s->contact_put);
	if (r < 0) {
		snprintf(err, err_size, "%s: %s", path, sqlite3_errmsg(s->db));
		goto fail;
	}
	*ret = s;
	return 0;
fail:
	store_close(s);
	return r;
}

struct store *store_close(struct store *s)
{
	if (!s)
		return NULL;
	store_rollback(s);
	sqlite3_finalize(s->journal_add);
	sqlite3_finalize(s->contact_put);
	/* closing the last connection checkpoints the WAL into the file */
	if (s->db)
		sqlite3_close(s->db);
	free(s);
	return NULL;
}

/* ---- meta ---- */

int store_meta_get(struct store *s, const char *key, char *out, size_t size)
{
	sqlite3_stmt *st;
	int r = prepare(s, "SELECT value FROM meta WHERE key = ?1", &st);

	if (r < 0)
		return r;
	bind_text(st, 1, key);
	if (sqlite3_step(st) == SQLITE_ROW) {
		snprintf(out, size, "%s",
			 (const char *)sqlite3_column_text(st, 0));
		r = 0;
	} else {
		r = -ENOENT;
	}
	sqlite3_finalize(st);
	return r;
}

int store_meta_set(struct store *s, const char *key, const char *value)
{
	sqlite3_stmt *st;
	int r = prepare(s, "INSERT OR REPLACE INTO meta (key, value) VALUES "
			"(?1, ?2)", &st);

	if (r < 0)
		return r;
	bind_text(st, 1, key);
	bind_text(st, 2, value);
	r = step_done(s, st);
	sqlite3_finalize(st);
	return r;
}

/* ---- the journal ---- */

int store_journal_add(struct store *s, const struct store_journal_row *row)
{
	sqlite3_stmt *st = s->journal_add;
	int r;

	sqlite3_bind_int64(st, 1, (sqlite3_int64)row->time);
	bind_text(st, 2, row->instance);
	if (row->event_seq)
		sqlite3_bind_int64(st, 3, (sqlite3_int64)row->event_seq);
	else
		sqlite3_bind_null(st, 3);
	bind_text(st, 4, row->type);
	bind_text(st, 5, row->username);
	bind_text(st, 6, row->actor);
	bind_text(st, 7, row->state);
	bind_text(st, 8, row->status);
	bind_text(st, 9, row->contact_id);
	bind_text(st, 10, row->data);
	r = step_done(s, st);
	if (r == 0) {
		struct store_journal_row copy = *row;
		const struct store_change c = { .kind = STORE_CHANGE_JOURNAL,
						.journal = &copy };

		copy.id = sqlite3_last_insert_rowid(s->db);
		tell(s, &c);
	}
	return r;
}

static const char *col_text(sqlite3_stmt *st, int i)
{
	return (const char *)sqlite3_column_text(st, i);
}

int store_journal_scan(struct store *s, uint64_t from, uint64_t to,
		       store_journal_h *h, void *arg)
{
	/* A day before from catches contacts that began earlier; the last
	 * row at or before from gives the state the range starts in. */
	static const char sql[] =
		"SELECT id, time, instance, event_seq, type, username, actor,"
		" state, status, contact_id, data FROM journal"
		" WHERE id >= MIN("
		"   COALESCE((SELECT MAX(id) FROM journal WHERE time <= ?1),"
		"            1 << 62),"
		"   COALESCE((SELECT MIN(id) FROM journal WHERE time >= ?2),"
		"            1 << 62))"
		" AND time < ?3 ORDER BY id";
	uint64_t day = 86400000ULL;
	sqlite3_stmt *st;
	int r = prepare(s, sql, &st), rc;

	if (r < 0)
		return r;
	sqlite3_bind_int64(st, 1, (sqlite3_int64)from);
	sqlite3_bind_int64(st, 2, (sqlite3_int64)(from > day ? from - day : 0));
	sqlite3_bind_int64(st, 3, (sqlite3_int64)(to > (uint64_t)INT64_MAX ?
						  (uint64_t)INT64_MAX : to));
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		struct store_journal_row row = {
			.id = sqlite3_column_int64(st, 0),
			.time = (uint64_t)sqlite3_column_int64(st, 1),
			.instance = col_text(st, 2),
			.event_seq = (uint64_t)sqlite3_column_int64(st, 3),
			.type = col_text(st, 4),
			.username = col_text(st, 5),
			.actor = col_text(st, 6),
			.state = col_text(st, 7),
			.status = col_text(st, 8),
			.contact_id = col_text(st, 9),
			.data = col_text(st, 10),
		};

		r = h(&row, arg);
		if (r < 0)
			break;
	}
	if (r == 0 && rc != SQLITE_DONE)
		r = sql_errno(rc) ? sql_errno(rc) : -EIO;
	sqlite3_finalize(st);
	return r;
}

int store_journal_count(struct store *s, int64_t *count)
{
	sqlite3_stmt *st;
	int r = prepare(s, "SELECT COUNT(*) FROM journal", &st);

	if (r < 0)
		return r;
	if (sqlite3_step(st) == SQLITE_ROW)
		*count = sqlite3_column_int64(st, 0);
	else
		r = -EIO;
	sqlite3_finalize(st);
	return r;
}

/* ---- contact records ---- */

static const char *obj_str(const cJSON *o, const char *k)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);

	return cJSON_IsString(v) ? v->valuestring : NULL;
}

static int64_t obj_ms(const cJSON *o, const char *k)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);

	/* timestamps are written as raw digits (json_add_int) */
	if (cJSON_IsRaw(v) && v->valuestring)
		return strtoll(v->valuestring, NULL, 10);
	return cJSON_IsNumber(v) ? (int64_t)v->valuedouble : 0;
}

static void bind_ms(sqlite3_stmt *st, int i, int64_t v)
{
	if (v)
		sqlite3_bind_int64(st, i, v);
	else
		sqlite3_bind_null(st, i);
}

int store_contact_put(struct store *s, const char *instance,
		      const char *username, const cJSON *contact)
{
	const cJSON *ts = cJSON_GetObjectItemCaseSensitive(contact,
							    "timestamps");
	const cJSON *cust = cJSON_GetObjectItemCaseSensitive(contact,
							      "customer");
	sqlite3_stmt *st = s->contact_put;
	int64_t connected = obj_ms(ts, "connected"), ended = obj_ms(ts, "ended");
	int64_t acw_ended = obj_ms(ts, "acwEnded"), acw = 0;
	char *text = cJSON_PrintUnformatted(contact);
	int r;

	if (!text)
		return -ENOMEM;
	bind_text(st, 1, instance);
	bind_text(st, 2, obj_str(contact, "contactId"));
	bind_text(st, 3, username);
	bind_text(st, 4, obj_str(contact, "direction"));
	bind_text(st, 5, obj_str(contact, "state"));
	bind_text(st, 6, obj_str(cust, "uri"));
	bind_text(st, 7, obj_str(cust, "e164"));
	bind_ms(st, 8, obj_ms(ts, "initiated"));
	bind_ms(st, 9, obj_ms(ts, "offered"));
	bind_ms(st, 10, connected);
	bind_ms(st, 11, ended);
	bind_ms(st, 12, acw_ended);
	/* after-contact work runs from the end of the call to its clearing;
	 * handle time is the talk (hold included) plus that work */
	if (ended && acw_ended >= ended) {
		acw = acw_ended - ended;
		sqlite3_bind_int64(st, 13, acw);
	} else {
		sqlite3_bind_null(st, 13);
	}
	if (connected && ended >= connected)
		sqlite3_bind_int64(st, 14, ended - connected + acw);
	else
		sqlite3_bind_null(st, 14);
	bind_text(st, 15, obj_str(contact, "endReason"));
	bind_text(st, 16, obj_str(contact, "disconnectedBy"));
	bind_text(st, 17, obj_str(contact, "sipCause"));
	sqlite3_bind_text(st, 18, text, -1, SQLITE_TRANSIENT);
	sqlite3_bind_int64(st, 19, obj_ms(contact, "holdDuration"));
	sqlite3_bind_int64(st, 20, strcmp(obj_str(contact, "endReason") ?
				obj_str(contact, "endReason") : "",
				"transferred") == 0);
	r = step_done(s, st);
	cJSON_free(text);
	if (r == 0) {
		const struct store_change c = {
			.kind = STORE_CHANGE_CONTACT, .instance = instance,
			.username = username, .contact = contact };

		tell(s, &c);
	}
	return r;
}

cJSON *store_contact_get(struct store *s, const char *instance,
			 const char *contact_id)
{
	sqlite3_stmt *st;
	cJSON *c = NULL;

	if (prepare(s, "SELECT data FROM contacts WHERE instance = ?1 AND "
		    "contact_id = ?2", &st) < 0)
		return NULL;
	bind_text(st, 1, instance);
	bind_text(st, 2, contact_id);
	if (sqlite3_step(st) == SQLITE_ROW) {
		c = cJSON_Parse(col_text(st, 0));
		if (c)
			cJSON_AddStringToObject(c, "instance", instance);
	}
	sqlite3_finalize(st);
	return c;
}

int store_contacts_recent(struct store *s, cJSON *array, unsigned limit,
			  bool (*skip)(const char *instance,
				       const char *contact_id, void *arg),
			  void *arg)
{
	sqlite3_stmt *st;
	int r = prepare(s, "SELECT instance, contact_id, data FROM contacts "
			"ORDER BY id DESC", &st);

	if (r < 0)
		return r;
	while ((unsigned)cJSON_GetArraySize(array) < limit &&
	       sqlite3_step(st) == SQLITE_ROW) {
		cJSON *c;

		if (skip && skip(col_text(st, 0), col_text(st, 1), arg))
			continue;
		c = cJSON_Parse(col_text(st, 2));
		if (!c)
			continue;
		cJSON_AddStringToObject(c, "instance", col_text(st, 0));
		cJSON_AddItemToArray(array, c);
	}
	sqlite3_finalize(st);
	return 0;
}

/* ---- instance data ---- */

#define COLS(a) a, sizeof(a) / sizeof(a[0])

static const struct store_col user_cols[] = {
	{ "username", "username", STORE_TEXT },
	{ "displayName", "display_name", STORE_TEXT },
	{ "passwordHash", "password_hash", STORE_TEXT },
	{ "profile", "profile", STORE_TEXT },
	{ "phoneType", "phone_type", STORE_TEXT },
	{ "extension", "extension", STORE_TEXT },
	{ "sipAccount", "sip_account", STORE_TEXT },
	{ "region", "region", STORE_TEXT },
	{ "mustChangePassword", "must_change", STORE_BOOL },
	{ "created", "created", STORE_INT },
	{ "updated", "updated", STORE_INT },
};
const struct store_table store_users = {
	"users", "username", COLS(user_cols)
};

static const struct store_col profile_cols[] = {
	{ "name", "name", STORE_TEXT },
	{ "permissions", "permissions", STORE_LIST },
	{ "description", "description", STORE_TEXT },
	{ "builtin", "builtin", STORE_BOOL },
};
const struct store_table store_profiles = {
	"profiles", "rowid", COLS(profile_cols)
};

static const struct store_col status_cols[] = {
	{ "name", "name", STORE_TEXT },
};
const struct store_table store_statuses = {
	"statuses", "rowid", COLS(status_cols)
};

static const struct store_col number_cols[] = {
	{ "number", "number", STORE_TEXT },
	{ "description", "description", STORE_TEXT },
	{ "username", "username", STORE_TEXT },
};
const struct store_table store_numbers = {
	"numbers", "number", COLS(number_cols)
};

static const struct store_col origin_cols[] = {
	{ "origin", "origin", STORE_TEXT },
	{ "description", "description", STORE_TEXT },
};
const struct store_table store_origins = {
	"origins", "origin", COLS(origin_cols)
};

static const struct store_col qc_cols[] = {
	{ "name", "name", STORE_TEXT },
	{ "endpoint", "endpoint", STORE_TEXT },
	{ "description", "description", STORE_TEXT },
};
const struct store_table store_quick_connects = {
	"quick_connects", "name", COLS(qc_cols)
};

static void column_to_json(cJSON *o, const struct store_col *c,
			   sqlite3_stmt *st, int i)
{
	const char *text;
	char *copy, *tok, *save = NULL;
	cJSON *a;

	if (sqlite3_column_type(st, i) == SQLITE_NULL && c->kind != STORE_LIST) {
		cJSON_AddNullToObject(o, c->json);
		return;
	}
	switch (c->kind) {
	case STORE_TEXT:
		cJSON_AddStringToObject(o, c->json, col_text(st, i));
		return;
	case STORE_INT:
		cJSON_AddNumberToObject(o, c->json,
					(double)sqlite3_column_int64(st, i));
		return;
	case STORE_BOOL:
		cJSON_AddBoolToObject(o, c->json, sqlite3_column_int(st, i));
		return;
	case STORE_LIST:
		a = cJSON_AddArrayToObject(o, c->json);
		text = col_text(st, i);
		copy = strdup(text ? text : "");
		for (tok = copy ? strtok_r(copy, ",", &save) : NULL; tok;
		     tok = strtok_r(NULL, ",", &save))
			cJSON_AddItemToArray(a, cJSON_CreateString(tok));
		free(copy);
		return;
	}
}

static cJSON *row_to_json(const struct store_table *t, sqlite3_stmt *st)
{
	cJSON *o = cJSON_CreateObject();
	size_t i;

	for (i = 0; o && i < t->n_cols; i++)
		column_to_json(o, &t->cols[i], st, (int)i);
	return o;
}

/* "SELECT a, b, c FROM t" into buf. */
static int select_sql(const struct store_table *t, char *buf, size_t size)
{
	size_t n = 0, i;

	n += (size_t)snprintf(buf + n, size - n, "SELECT ");
	for (i = 0; i < t->n_cols && n < size; i++)
		n += (size_t)snprintf(buf + n, size - n, "%s%s", i ? ", " : "",
				      t->cols[i].sql);
	if (n < size)
		n += (size_t)snprintf(buf + n, size - n, " FROM %s", t->name);
	return n < size ? 0 : -ENAMETOOLONG;
}

int store_list(struct store *s, const struct store_table *t, cJSON **ret)
{
	char sql[1024];
	size_t n;
	sqlite3_stmt *st;
	cJSON *a;
	int r = select_sql(t, sql, sizeof(sql));

	if (r < 0)
		return r;
	n = strlen(sql);
	snprintf(sql + n, sizeof(sql) - n, " ORDER BY %s", t->order);
	r = prepare(s, sql, &st);
	if (r < 0)
		return r;
	a = cJSON_CreateArray();
	while (a && sqlite3_step(st) == SQLITE_ROW)
		cJSON_AddItemToArray(a, row_to_json(t, st));
	sqlite3_finalize(st);
	if (!a)
		return -ENOMEM;
	*ret = a;
	return 0;
}

int store_get(struct store *s, const struct store_table *t, const char *key,
	      cJSON **ret)
{
	char sql[1024];
	size_t n;
	sqlite3_stmt *st;
	int r = select_sql(t, sql, sizeof(sql));

	if (r < 0)
		return r;
	n = strlen(sql);
	snprintf(sql + n, sizeof(sql) - n, " WHERE %s = ?1", t->cols[0].sql);
	r = prepare(s, sql, &st);
	if (r < 0)
		return r;
	bind_text(st, 1, key);
	if (sqlite3_step(st) == SQLITE_ROW) {
		*ret = row_to_json(t, st);
		r = *ret ? 0 : -ENOMEM;
	} else {
		r = -ENOENT;
	}
	sqlite3_finalize(st);
	return r;
}

/* Bind one JSON member as the column's kind; a list is joined with
 * commas. */
static int bind_member(sqlite3_stmt *st, int i, const struct store_col *c,
		       const cJSON *v)
{
	const cJSON *e;
	char *joined;
	size_t len = 0;

	if (!v || cJSON_IsNull(v)) {
		sqlite3_bind_null(st, i);
		return 0;
	}
	switch (c->kind) {
	case STORE_TEXT:
		if (!cJSON_IsString(v))
			return -EINVAL;
		sqlite3_bind_text(st, i, v->valuestring, -1, SQLITE_TRANSIENT);
		return 0;
	case STORE_INT:
		if (!cJSON_IsNumber(v))
			return -EINVAL;
		sqlite3_bind_int64(st, i, (sqlite3_int64)v->valuedouble);
		return 0;
	case STORE_BOOL:
		if (!cJSON_IsBool(v))
			return -EINVAL;
		sqlite3_bind_int(st, i, cJSON_IsTrue(v));
		return 0;
	case STORE_LIST:
		if (!cJSON_IsArray(v))
			return -EINVAL;
		cJSON_ArrayForEach(e, v) {
			if (!cJSON_IsString(e))
				return -EINVAL;
			len += strlen(e->valuestring) + 1;
		}
		joined = calloc(1, len + 1);
		if (!joined)
			return -ENOMEM;
		cJSON_ArrayForEach(e, v) {
			if (joined[0])
				strcat(joined, ",");
			strcat(joined, e->valuestring);
		}
		sqlite3_bind_text(st, i, joined, -1, SQLITE_TRANSIENT);
		free(joined);
		return 0;
	}
	return -EINVAL;
}

int store_insert(struct store *s, const struct store_table *t,
		 const cJSON *row)
{
	char sql[1024], vals[256];
	size_t n, nv = 0, i;
	sqlite3_stmt *st;
	int r, k = 0;

	n = (size_t)snprintf(sql, sizeof(sql), "INSERT INTO %s (", t->name);
	for (i = 0; i < t->n_cols; i++) {
		if (!cJSON_GetObjectItemCaseSensitive(row, t->cols[i].json))
			continue;
		n += (size_t)snprintf(sql + n, sizeof(sql) - n, "%s%s",
				      k ? ", " : "", t->cols[i].sql);
		nv += (size_t)snprintf(vals + nv, sizeof(vals) - nv, "%s?%d",
				       k ? ", " : "", k + 1);
		k++;
	}
	snprintf(sql + n, sizeof(sql) - n, ") VALUES (%s)", vals);
	r = prepare(s, sql, &st);
	if (r < 0)
		return r;
	for (i = 0, k = 0; i < t->n_cols && r == 0; i++) {
		const cJSON *v = cJSON_GetObjectItemCaseSensitive(
			row, t->cols[i].json);

		if (v)
			r = bind_member(st, ++k, &t->cols[i], v);
	}
	if (r == 0)
		r = step_done(s, st);
	sqlite3_finalize(st);
	if (r == 0) {
		const cJSON *key = cJSON_GetObjectItemCaseSensitive(
			row, t->cols[0].json);

		if (cJSON_IsString(key))
			tell_row(s, t, key->valuestring, key->valuestring);
	}
	return r;
}

int store_update(struct store *s, const struct store_table *t,
		 const char *key, const cJSON *changes)
{
	char sql[1024];
	size_t n, i;
	sqlite3_stmt *st;
	int r, k = 0;

	n = (size_t)snprintf(sql, sizeof(sql), "UPDATE %s SET ", t->name);
	for (i = 0; i < t->n_cols; i++) {
		if (!cJSON_GetObjectItemCaseSensitive(changes, t->cols[i].json))
			continue;
		n += (size_t)snprintf(sql + n, sizeof(sql) - n, "%s%s = ?%d",
				      k ? ", " : "", t->cols[i].sql, k + 1);
		k++;
	}
	if (k == 0) {
		/* nothing to change: only say whether the row exists */
		cJSON *row;

		r = store_get(s, t, key, &row);
		cJSON_Delete(row);
		return r;
	}
	snprintf(sql + n, sizeof(sql) - n, " WHERE %s = ?%d", t->cols[0].sql,
		 k + 1);
	r = prepare(s, sql, &st);
	if (r < 0)
		return r;
	for (i = 0, k = 0; i < t->n_cols && r == 0; i++) {
		const cJSON *v = cJSON_GetObjectItemCaseSensitive(
			changes, t->cols[i].json);

		if (v)
			r = bind_member(st, ++k, &t->cols[i], v);
	}
	bind_text(st, k + 1, key);
	if (r == 0)
		r = step_done(s, st);
	if (r == 0 && sqlite3_changes(s->db) == 0)
		r = -ENOENT;
	sqlite3_finalize(st);
	if (r == 0) {
		const cJSON *nk = cJSON_GetObjectItemCaseSensitive(
			changes, t->cols[0].json);

		tell_row(s, t, key, cJSON_IsString(nk) ? nk->valuestring : key);
	}
	return r;
}

int store_delete(struct store *s, const struct store_table *t,
		 const char *key)
{
	char sql[256];
	sqlite3_stmt *st;
	int r;

	snprintf(sql, sizeof(sql), "DELETE FROM %s WHERE %s = ?1", t->name,
		 t->cols[0].sql);
	r = prepare(s, sql, &st);
	if (r < 0)
		return r;
	bind_text(st, 1, key);
	r = step_done(s, st);
	if (r == 0 && sqlite3_changes(s->db) == 0)
		r = -ENOENT;
	sqlite3_finalize(st);
	if (r == 0)
		tell_row(s, t, key, NULL);
	return r;
}

int store_count(struct store *s, const struct store_table *t,
		const char *json, const char *value)
{
	const char *col = NULL;
	char sql[256];
	sqlite3_stmt *st;
	size_t i;
	int r;

	for (i = 0; i < t->n_cols; i++)
		if (strcmp(t->cols[i].json, json) == 0)
			col = t->cols[i].sql;
	if (!col)
		return -EINVAL;
	snprintf(sql, sizeof(sql), "SELECT COUNT(*) FROM %s WHERE %s = ?1",
		 t->name, col);
	r = prepare(s, sql, &st);
	if (r < 0)
		return r;
	bind_text(st, 1, value);
	r = sqlite3_step(st) == SQLITE_ROW ? sqlite3_column_int(st, 0) : -EIO;
	sqlite3_finalize(st);
	return r;
}

void store_free_names(char **names, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		free(names[i]);
	free(names);
}

int store_status_names(struct store *s, char ***out, size_t *n_out)
{
	sqlite3_stmt *st;
	char **v = NULL;
	size_t n = 0;
	int r = prepare(s, "SELECT name FROM statuses ORDER BY rowid", &st);

	if (r < 0)
		return r;
	while (sqlite3_step(st) == SQLITE_ROW) {
		char **nv = realloc(v, (n + 1) * sizeof(*v));

		if (!nv || !(nv[n] = strdup(col_text(st, 0)))) {
			store_free_names(nv ? nv : v, n);
			sqlite3_finalize(st);
			return -ENOMEM;
		}
		v = nv;
		n++;
	}
	sqlite3_finalize(st);
	*out = v;
	*n_out = n;
	return 0;
}

int store_caller_id_for(struct store *s, const char *username, char *out,
			size_t size)
{
	sqlite3_stmt *st;
	int r = prepare(s, "SELECT number FROM numbers WHERE username = ?1 "
			"OR username IS NULL ORDER BY username IS NULL, rowid "
			"LIMIT 1", &st);

	if (r < 0)
		return r;
	bind_text(st, 1, username);
	if (sqlite3_step(st) == SQLITE_ROW) {
		snprintf(out, size, "%s", col_text(st, 0));
		r = 0;
	} else {
		r = -ENOENT;
	}
	sqlite3_finalize(st);
	return r;
}

int store_audio_get(struct store *s, const char *username,
		    struct store_audio *a)
{
	sqlite3_stmt *st;
	int r = prepare(s, "SELECT microphone, speaker, ringer FROM "
			"audio_devices WHERE username = ?1", &st);

	memset(a, 0, sizeof(*a));
	if (r < 0)
		return r;
	bind_text(st, 1, username);
	if (sqlite3_step(st) == SQLITE_ROW) {
		snprintf(a->microphone, sizeof(a->microphone), "%s",
			 col_text(st, 0) ? col_text(st, 0) : "");
		snprintf(a->speaker, sizeof(a->speaker), "%s",
			 col_text(st, 1) ? col_text(st, 1) : "");
		snprintf(a->ringer, sizeof(a->ringer), "%s",
			 col_text(st, 2) ? col_text(st, 2) : "");
		r = 0;
	} else {
		r = -ENOENT;
	}
	sqlite3_finalize(st);
	return r;
}

int store_audio_set(struct store *s, const char *username,
		    const struct store_audio *a)
{
	sqlite3_stmt *st;
	int r = prepare(s, "INSERT OR REPLACE INTO audio_devices (username, "
			"microphone, speaker, ringer) VALUES (?1, NULLIF(?2, ''), "
			"NULLIF(?3, ''), NULLIF(?4, ''))", &st);

	if (r < 0)
		return r;
	bind_text(st, 1, username);
	bind_text(st, 2, a->microphone);
	bind_text(st, 3, a->speaker);
	bind_text(st, 4, a->ringer);
	r = sqlite3_step(st) == SQLITE_DONE ? 0 : -EIO;
	sqlite3_finalize(st);
	return r;
}

cJSON *store_contact_find(struct store *s, const char *contact_id)
{
	sqlite3_stmt *st;
	cJSON *c = NULL;

	if (prepare(s, "SELECT instance, data FROM contacts WHERE "
		    "contact_id = ?1 ORDER BY id DESC LIMIT 1", &st) < 0)
		return NULL;
	bind_text(st, 1, contact_id);
	if (sqlite3_step(st) == SQLITE_ROW) {
		c = cJSON_Parse(col_text(st, 1));
		if (c)
			cJSON_AddStringToObject(c, "instance", col_text(st, 0));
	}
	sqlite3_finalize(st);
	return c;
}

int store_select(struct store *s, const char *sql, const int64_t *params,
		 unsigned n_params, store_row_h *h, void *arg)
{
	const char *cols[16];
	sqlite3_stmt *st;
	char name[16];
	unsigned i;
	int r = prepare(s, sql, &st), rc, n, k;

	if (r < 0)
		return r;
	for (i = 0; i < n_params; i++) {
		snprintf(name, sizeof(name), "$%u", i + 1);
		k = sqlite3_bind_parameter_index(st, name);
		if (k > 0)
			sqlite3_bind_int64(st, k, params[i]);
	}
	n = sqlite3_column_count(st);
	if (n > (int)(sizeof(cols) / sizeof(cols[0]))) {
		sqlite3_finalize(st);
		return -E2BIG;
	}
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		for (k = 0; k < n; k++)
			cols[k] = col_text(st, k);
		r = h(cols, n, arg);
		if (r < 0)
			break;
	}
	if (r == 0 && rc != SQLITE_DONE) {
		log_error("store: query failed: %s", sqlite3_errmsg(s->db));
		r = sql_errno(rc) ? sql_errno(rc) : -EIO;
	}
	sqlite3_finalize(st);
	return r;
}
