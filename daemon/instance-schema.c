/* The instance's schema on PostgreSQL, in one place: the migrations every
 * ccpd applies at start (under an advisory lock, so that many starting at
 * once apply each one once), and the statements that write a row of the
 * local store's tables there.
 *
 * The tables are the SQLite store's (store.c), with the same names,
 * columns and types (booleans are integers 0/1, times Unix ms in BIGINT),
 * so that one SQL text can read either; plus:
 *   - pos: the order rows were made in (SQLite's rowid);
 *   - journal.desk_id, journal.desk_seq: the desk (outbox_desk_id) and the
 *     sequence number its outbox gave the row (never reused, unlike a
 *     local row id once a desk's copy is made anew); together the row's
 *     idempotent key;
 *   - contacts.desk_id: the desk that wrote the record;
 *   - user_desks: the desk each user is active at (hot-desking);
 *   - ccp_schema: the versions applied;
 *   - triggers that NOTIFY ccp_changes with '<table>:<key>' on every
 *     change of shared data, and 'contacts:<desk_id>:<id>' of a record. */
#include <stdio.h>
#include <string.h>

#include "instance-int.h"

static const char *const migrations[] = {
	/* 0 -> 1 */
	"CREATE TABLE profiles ("
	"  name TEXT PRIMARY KEY,"
	"  permissions TEXT NOT NULL DEFAULT '',"
	"  description TEXT,"
	"  builtin INTEGER NOT NULL DEFAULT 0,"
	"  pos BIGSERIAL);"
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
	"  created BIGINT NOT NULL DEFAULT 0,"
	"  updated BIGINT NOT NULL DEFAULT 0,"
	"  pos BIGSERIAL);"
	"CREATE TABLE statuses ("
	"  name TEXT PRIMARY KEY,"
	"  pos BIGSERIAL);"
	"CREATE TABLE numbers ("
	"  number TEXT PRIMARY KEY,"
	"  description TEXT,"
	"  username TEXT REFERENCES users(username)"
	"    ON UPDATE CASCADE ON DELETE SET NULL,"
	"  pos BIGSERIAL);"
	"CREATE TABLE origins ("
	"  origin TEXT PRIMARY KEY,"
	"  description TEXT,"
	"  pos BIGSERIAL);"
	"CREATE TABLE quick_connects ("
	"  name TEXT PRIMARY KEY,"
	"  endpoint TEXT NOT NULL,"
	"  description TEXT,"
	"  pos BIGSERIAL);"
	"CREATE TABLE journal ("
	"  id BIGSERIAL PRIMARY KEY,"
	"  desk_id TEXT NOT NULL,"
	"  desk_seq BIGINT NOT NULL,"
	"  time BIGINT NOT NULL,"
	"  instance TEXT NOT NULL,"
	"  event_seq BIGINT,"
	"  type TEXT NOT NULL,"
	"  username TEXT NOT NULL,"
	"  actor TEXT,"
	"  state TEXT,"
	"  status TEXT,"
	"  contact_id TEXT,"
	"  data TEXT,"
	"  UNIQUE (desk_id, desk_seq));"
	"CREATE INDEX journal_time ON journal(time);"
	"CREATE INDEX journal_user_time ON journal(username, time);"
	"CREATE TABLE contacts ("
	"  id BIGSERIAL PRIMARY KEY,"
	"  desk_id TEXT NOT NULL,"
	"  instance TEXT NOT NULL,"
	"  contact_id TEXT NOT NULL,"
	"  username TEXT NOT NULL,"
	"  direction TEXT NOT NULL,"
	"  state TEXT NOT NULL,"
	"  caller TEXT,"
	"  caller_e164 TEXT,"
	"  initiated BIGINT,"
	"  offered BIGINT,"
	"  connected BIGINT,"
	"  ended BIGINT,"
	"  acw_ended BIGINT,"
	"  hold_ms BIGINT NOT NULL DEFAULT 0,"
	"  acw_ms BIGINT,"
	"  handle_ms BIGINT,"
	"  end_reason TEXT,"
	"  disconnected_by TEXT,"
	"  sip_cause TEXT,"
	"  transfers INTEGER NOT NULL DEFAULT 0,"
	"  data TEXT NOT NULL,"
	"  UNIQUE (instance, contact_id));"
	"CREATE INDEX contacts_user ON contacts(username, id);"
	/* hot-desking: the desk each user is active at, since when (Unix
	 * ms: a later claim wins, also one replayed after an outage), and
	 * whether they are on a live contact there */
	"CREATE TABLE user_desks ("
	"  username TEXT PRIMARY KEY,"
	"  desk_id TEXT NOT NULL,"
	"  since BIGINT NOT NULL,"
	"  on_contact INTEGER NOT NULL DEFAULT 0);"
	/* the key column is the trigger's argument */
	"CREATE FUNCTION ccp_notify() RETURNS trigger LANGUAGE plpgsql AS $$"
	" BEGIN"
	"  IF TG_OP <> 'INSERT' THEN"
	"   PERFORM pg_notify('ccp_changes', TG_TABLE_NAME || ':' ||"
	"     (to_jsonb(OLD) ->> TG_ARGV[0]));"
	"  END IF;"
	"  IF TG_OP <> 'DELETE' THEN"
	"   PERFORM pg_notify('ccp_changes', TG_TABLE_NAME || ':' ||"
	"     (to_jsonb(NEW) ->> TG_ARGV[0]));"
	"  END IF;"
	"  RETURN NULL;"
	" END $$;"
	"CREATE FUNCTION ccp_notify_contact() RETURNS trigger"
	" LANGUAGE plpgsql AS $$"
	" BEGIN"
	"  PERFORM pg_notify('ccp_changes', 'contacts:' || NEW.desk_id || ':'"
	"    || NEW.id);"
	"  RETURN NULL;"
	" END $$;"
	"CREATE TRIGGER profiles_notify AFTER INSERT OR UPDATE OR DELETE"
	" ON profiles FOR EACH ROW EXECUTE FUNCTION ccp_notify('name');"
	"CREATE TRIGGER users_notify AFTER INSERT OR UPDATE OR DELETE"
	" ON users FOR EACH ROW EXECUTE FUNCTION ccp_notify('username');"
	"CREATE TRIGGER statuses_notify AFTER INSERT OR UPDATE OR DELETE"
	" ON statuses FOR EACH ROW EXECUTE FUNCTION ccp_notify('name');"
	"CREATE TRIGGER numbers_notify AFTER INSERT OR UPDATE OR DELETE"
	" ON numbers FOR EACH ROW EXECUTE FUNCTION ccp_notify('number');"
	"CREATE TRIGGER origins_notify AFTER INSERT OR UPDATE OR DELETE"
	" ON origins FOR EACH ROW EXECUTE FUNCTION ccp_notify('origin');"
	"CREATE TRIGGER quick_connects_notify AFTER INSERT OR UPDATE OR DELETE"
	" ON quick_connects FOR EACH ROW EXECUTE FUNCTION ccp_notify('name');"
	"CREATE TRIGGER user_desks_notify AFTER INSERT OR UPDATE OR DELETE"
	" ON user_desks FOR EACH ROW EXECUTE FUNCTION ccp_notify('username');"
	"CREATE TRIGGER contacts_notify AFTER INSERT OR UPDATE"
	" ON contacts FOR EACH ROW EXECUTE FUNCTION ccp_notify_contact();",
};

#define N_MIGRATIONS (sizeof(migrations) / sizeof(migrations[0]))

unsigned schema_count(void)
{
	return (unsigned)N_MIGRATIONS;
}

const char *schema_migration(unsigned from)
{
	return from < N_MIGRATIONS ? migrations[from] : NULL;
}

/* The shared tables in the order their rows may refer to each other:
 * users name a profile, numbers a user. */
static const struct store_table *const shared[] = {
	&store_profiles, &store_users, &store_statuses, &store_numbers,
	&store_origins, &store_quick_connects,
};

size_t schema_n_shared(void)
{
	return sizeof(shared) / sizeof(shared[0]);
}

const struct store_table *schema_shared(size_t i)
{
	return i < schema_n_shared() ? shared[i] : NULL;
}

int schema_shared_find(const char *name)
{
	size_t i;

	for (i = 0; i < schema_n_shared(); i++)
		if (strcmp(shared[i]->name, name) == 0)
			return (int)i;
	return -1;
}

static const char *cast(const struct store_col *c)
{
	switch (c->kind) {
	case STORE_TEXT:
	case STORE_LIST:
		return "text";
	case STORE_INT:
		return "bigint";
	case STORE_BOOL:
		return "integer";
	}
	return "text";
}

#define ADD(...) do { \
	if (n < size) \
		n += (size_t)snprintf(buf + n, size - n, __VA_ARGS__); \
} while (0)

/* $1 the old key, $2... the columns. A rename moves the row (and, by the
 * foreign keys, what refers to it); a row not there yet is made; one made
 * meanwhile by another desk is overwritten: the last write wins. */
int schema_upsert_sql(const struct store_table *t, bool keep, char *buf,
		      size_t size)
{
	size_t n = 0, i;

	ADD("WITH u AS (UPDATE %s SET ", t->name);
	for (i = 0; i < t->n_cols; i++)
		ADD("%s%s = $%zu::%s", i ? ", " : "", t->cols[i].sql, i + 2,
		    cast(&t->cols[i]));
	ADD(" WHERE %s = $1 RETURNING 1) INSERT INTO %s (", t->cols[0].sql,
	    t->name);
	for (i = 0; i < t->n_cols; i++)
		ADD("%s%s", i ? ", " : "", t->cols[i].sql);
	ADD(") SELECT ");
	for (i = 0; i < t->n_cols; i++)
		ADD("%s$%zu::%s", i ? ", " : "", i + 2, cast(&t->cols[i]));
	ADD(" WHERE NOT EXISTS (SELECT 1 FROM u) ON CONFLICT (%s) DO ",
	    t->cols[0].sql);
	if (keep || t->n_cols == 1) {
		ADD("NOTHING");
	} else {
		ADD("UPDATE SET ");
		for (i = 1; i < t->n_cols; i++)
			ADD("%s%s = EXCLUDED.%s", i > 1 ? ", " : "",
			    t->cols[i].sql, t->cols[i].sql);
	}
	return n < size ? 0 : -1;
}

int schema_select_sql(const struct store_table *t, char *buf, size_t size)
{
	size_t n = 0, i;

	ADD("SELECT ");
	for (i = 0; i < t->n_cols; i++)
		ADD("%s%s", i ? ", " : "", t->cols[i].sql);
	ADD(" FROM %s ORDER BY pos", t->name);
	return n < size ? 0 : -1;
}

const char *schema_journal_sql(void)
{
	return "INSERT INTO journal (desk_id, desk_seq, time, instance,"
	       " event_seq, type, username, actor, state, status, contact_id,"
	       " data) VALUES ($1, $2::bigint, $3::bigint, $4, $5::bigint, $6,"
	       " $7, $8, $9, $10, $11, $12)"
	       " ON CONFLICT (desk_id, desk_seq) DO NOTHING";
}

/* The record's columns come from its JSON ($4) as store.c derives them:
 * handle time is the talk (hold included) plus the after-contact work. */
const char *schema_contact_sql(void)
{
	return "WITH j AS (SELECT $4::jsonb AS c),"
	       " v AS (SELECT c,"
	       "  NULLIF((c->'timestamps'->>'initiated')::bigint, 0) AS ini,"
	       "  NULLIF((c->'timestamps'->>'offered')::bigint, 0) AS off,"
	       "  NULLIF((c->'timestamps'->>'connected')::bigint, 0) AS con,"
	       "  NULLIF((c->'timestamps'->>'ended')::bigint, 0) AS end_,"
	       "  NULLIF((c->'timestamps'->>'acwEnded')::bigint, 0) AS acw"
	       "  FROM j),"
	       " w AS (SELECT *, CASE WHEN end_ IS NOT NULL AND acw >= end_"
	       "  THEN acw - end_ END AS acw_ms FROM v)"
	       " INSERT INTO contacts (desk_id, instance, contact_id, username,"
	       " direction, state, caller, caller_e164, initiated, offered,"
	       " connected, ended, acw_ended, hold_ms, acw_ms, handle_ms,"
	       " end_reason, disconnected_by, sip_cause, transfers, data)"
	       " SELECT $1, $2, c->>'contactId', $3, c->>'direction',"
	       " c->>'state', c->'customer'->>'uri', c->'customer'->>'e164',"
	       " ini, off, con, end_, acw,"
	       " COALESCE((c->>'holdDuration')::bigint, 0), acw_ms,"
	       " CASE WHEN con IS NOT NULL AND end_ >= con"
	       "  THEN end_ - con + COALESCE(acw_ms, 0) END,"
	       " c->>'endReason', c->>'disconnectedBy', c->>'sipCause',"
	       " CASE WHEN c->>'endReason' = 'transferred' THEN 1 ELSE 0 END,"
	       " $4 FROM w"
	       " ON CONFLICT (instance, contact_id) DO UPDATE SET"
	       " direction = EXCLUDED.direction, state = EXCLUDED.state,"
	       " caller = EXCLUDED.caller, caller_e164 = EXCLUDED.caller_e164,"
	       " initiated = EXCLUDED.initiated, offered = EXCLUDED.offered,"
	       " connected = EXCLUDED.connected, ended = EXCLUDED.ended,"
	       " acw_ended = EXCLUDED.acw_ended, hold_ms = EXCLUDED.hold_ms,"
	       " acw_ms = EXCLUDED.acw_ms, handle_ms = EXCLUDED.handle_ms,"
	       " end_reason = EXCLUDED.end_reason,"
	       " disconnected_by = EXCLUDED.disconnected_by,"
	       " sip_cause = EXCLUDED.sip_cause,"
	       " transfers = EXCLUDED.transfers, data = EXCLUDED.data";
}

const char *schema_claim_sql(void)
{
	return "INSERT INTO user_desks (username, desk_id, since, on_contact)"
	       " VALUES ($1, $2, $3::bigint, 0) ON CONFLICT (username) DO"
	       " UPDATE SET desk_id = EXCLUDED.desk_id, since = EXCLUDED.since,"
	       " on_contact = 0 WHERE user_desks.since <= EXCLUDED.since";
}

const char *schema_release_sql(void)
{
	return "DELETE FROM user_desks WHERE username = $1 AND desk_id = $2";
}

const char *schema_busy_sql(void)
{
	return "UPDATE user_desks SET on_contact = $3::integer"
	       " WHERE username = $1 AND desk_id = $2";
}
