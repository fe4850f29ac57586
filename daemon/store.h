/* The embedded SQLite database: instance data (users, security profiles,
 * statuses, phone numbers, quick connects, origins), the event journal and
 * the contact records. */
#ifndef CCPD_STORE_H
#define CCPD_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <cjson/cJSON.h>

struct store;

/* The schema version this build writes; older files are migrated. */
#define STORE_SCHEMA_VERSION 1

/* Open (creating if missing) the database at path and bring its schema up
 * to date. Returns 0, -EPROTO when the file comes from a newer ccpd, or a
 * negative errno; err[] says why in words. */
int store_open(struct store **ret, const char *path, char *err,
	       size_t err_size);
struct store *store_close(struct store *s);
int store_schema_version(struct store *s);

/* One transaction around several writes: one sync instead of several. */
int store_begin(struct store *s);
int store_commit(struct store *s);
void store_rollback(struct store *s);

/* Small named values (seeding flags). -ENOENT when absent. */
int store_meta_get(struct store *s, const char *key, char *out, size_t size);
int store_meta_set(struct store *s, const char *key, const char *value);

/* ---- the journal ---- */

/* One row. Strings may be NULL except type and username. */
struct store_journal_row {
	int64_t id;               /* set by the store */
	uint64_t time;            /* Unix ms */
	const char *instance;     /* the run of the daemon */
	uint64_t event_seq;       /* 0: no event was sent */
	const char *type;         /* event type, or session.login, ... */
	const char *username;     /* the desk's user, or "system" */
	const char *actor;        /* who caused it */
	const char *state;        /* the agent's effective state after it */
	const char *status;       /* the chosen status after it */
	const char *contact_id;
	const char *data;         /* the event's data as JSON text */
};

int store_journal_add(struct store *s, const struct store_journal_row *row);

typedef int (store_journal_h)(const struct store_journal_row *row,
			      void *arg);
/* Every row with from <= time < to, in the order written, and before them
 * enough earlier rows to know the state at from and the contacts that were
 * under way. A handler's negative return stops the scan and is returned. */
int store_journal_scan(struct store *s, uint64_t from, uint64_t to,
		       store_journal_h *h, void *arg);
/* How many rows the journal holds. */
int store_journal_count(struct store *s, int64_t *count);

/* ---- contact records ---- */

/* Create or update the record of a contact from its JSON form; username
 * is kept from the first write. */
int store_contact_put(struct store *s, const char *instance,
		      const char *username, const cJSON *contact);
/* The contact's JSON as last written, or NULL. */
cJSON *store_contact_get(struct store *s, const char *instance,
			 const char *contact_id);
/* Append to array the most recent records, newest first, skipping those
 * for which skip returns true, until array holds limit items. */
int store_contacts_recent(struct store *s, cJSON *array, unsigned limit,
			  bool (*skip)(const char *instance,
				       const char *contact_id, void *arg),
			  void *arg);

/* ---- instance data: tables of simple rows ----
 * Rows go in and out as JSON objects whose member names are the column's
 * json names; a missing member keeps the column (update) or leaves it
 * NULL (insert). */

enum store_kind { STORE_TEXT, STORE_INT, STORE_BOOL, STORE_LIST };

struct store_col {
	const char *json;
	const char *sql;
	enum store_kind kind;
};

struct store_table {
	const char *name;
	const char *order;        /* ORDER BY clause */
	const struct store_col *cols;   /* cols[0] is the key */
	size_t n_cols;
};

extern const struct store_table store_users;
extern const struct store_table store_profiles;
extern const struct store_table store_statuses;
extern const struct store_table store_numbers;
extern const struct store_table store_origins;
extern const struct store_table store_quick_connects;

int store_list(struct store *s, const struct store_table *t, cJSON **ret);
/* -ENOENT when there is no such row. */
int store_get(struct store *s, const struct store_table *t, const char *key,
	      cJSON **ret);
/* -EEXIST when the key is taken. */
int store_insert(struct store *s, const struct store_table *t,
		 const cJSON *row);
/* Members of changes replace columns; the key member renames the row.
 * -ENOENT, -EEXIST (a rename onto a taken key). */
int store_update(struct store *s, const struct store_table *t,
		 const char *key, const cJSON *changes);
/* -ENOENT, -EBUSY when other rows refer to it. */
int store_delete(struct store *s, const struct store_table *t,
		 const char *key);
/* How many rows have column json == value. */
int store_count(struct store *s, const struct store_table *t,
		const char *json, const char *value);

/* The custom statuses, in their order; free with store_free_names. */
int store_status_names(struct store *s, char ***names, size_t *n);
void store_free_names(char **names, size_t n);

/* The number a call placed by username presents as caller ID: the number
 * assigned to that user, else the instance's first unassigned number.
 * -ENOENT when there is none. */
int store_caller_id_for(struct store *s, const char *username, char *out,
			size_t size);

/* ---- changes, for a replica of the store (instance.c) ----
 * Told after each write of instance data, journal row and contact record
 * has succeeded (inside the writer's transaction, if any). */

enum store_change_kind {
	STORE_CHANGE_ROW,         /* store_insert, store_update, store_delete */
	STORE_CHANGE_JOURNAL,     /* store_journal_add */
	STORE_CHANGE_CONTACT,     /* store_contact_put */
};

struct store_change {
	enum store_change_kind kind;
	const struct store_table *table;          /* ROW */
	const char *key;          /* ROW: the row's key before the change */
	const char *new_key;      /* ROW: its key after; NULL: deleted */
	const struct store_journal_row *journal;  /* JOURNAL, id set */
	const char *instance;     /* CONTACT */
	const char *username;     /* CONTACT */
	const cJSON *contact;     /* CONTACT */
};

typedef void (store_change_h)(const struct store_change *c, void *arg);

/* One watcher (NULL: none). */
void store_watch(struct store *s, store_change_h *h, void *arg);
/* While quiet, writes are not told: a replica applying its server's rows
 * must not send them back. Returns the previous setting. */
bool store_set_quiet(struct store *s, bool quiet);

/* The number of rows changed by the last write. */
int store_changes(struct store *s);

/* A user's audio devices: ALSA device names, "" for the default. */
struct store_audio {
	char microphone[128];
	char speaker[128];
	char ringer[128];
};
int store_audio_get(struct store *s, const char *username,
		    struct store_audio *a);
int store_audio_set(struct store *s, const char *username,
		    const struct store_audio *a);

/* The record of a contact by its id alone, whatever run of ccpd wrote it
 * (ids are UUIDs, unique across the instance); NULL if there is none. */
cJSON *store_contact_find(struct store *s, const char *contact_id);

/* A read-only query whose parameters are named $1 .. $n (the form
 * PostgreSQL takes too), bound to params[0 .. n - 1]. h gets each row's
 * columns as text, NULL for SQL NULL; a negative return stops the scan
 * and is returned. */
typedef int (store_row_h)(const char *const *cols, int n, void *arg);
int store_select(struct store *s, const char *sql, const int64_t *params,
		 unsigned n_params, store_row_h *h, void *arg);

#endif
