/* The outbox: see outbox.h. */
#include <errno.h>
#include <fcntl.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>
#include <sqlite3.h>

#include "outbox.h"
#include "util.h"

struct outbox {
	sqlite3 *db;
	sqlite3_stmt *put, *find, *scan, *ack, *count, *count_all;
	char desk_id[37];
};

static int ob_errno(int rc)
{
	switch (rc & 0xff) {
	case SQLITE_OK: case SQLITE_DONE: case SQLITE_ROW: return 0;
	case SQLITE_NOMEM: return -ENOMEM;
	case SQLITE_FULL: return -ENOSPC;
	case SQLITE_BUSY: case SQLITE_LOCKED: return -EBUSY;
	case SQLITE_CONSTRAINT: return -EEXIST;
	default: return -EIO;
	}
}

/* Created here with mode 0600: bodies may hold contact records. The -wal
 * and -shm files that SQLite makes take the main file's mode. */
static int create_private(const char *path)
{
	int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);

	if (fd < 0)
		return -errno;
	if (fchmod(fd, 0600) < 0) {
		int r = -errno;

		close(fd);
		return r;
	}
	close(fd);
	return 0;
}

static const char schema[] =
	"CREATE TABLE IF NOT EXISTS outbox ("
	" seq INTEGER PRIMARY KEY AUTOINCREMENT,"
	" channel TEXT NOT NULL, key TEXT NOT NULL, body TEXT NOT NULL,"
	" queued INTEGER NOT NULL, UNIQUE (channel, key));"
	"CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY,"
	" value TEXT NOT NULL);";

void outbox_uuid(char out[37])
{
	uint8_t b[16];
	size_t got = 0;

	while (got < sizeof(b)) {
		ssize_t n = getrandom(b + got, sizeof(b) - got, 0);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			abort();   /* the kernel has no randomness: no ids */
		got += (size_t)n;
	}
	b[6] = (uint8_t)((b[6] & 0x0f) | 0x40);
	b[8] = (uint8_t)((b[8] & 0x3f) | 0x80);
	snprintf(out, 37, "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-"
		 "%02x%02x%02x%02x%02x%02x", b[0], b[1], b[2], b[3], b[4],
		 b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12], b[13],
		 b[14], b[15]);
}

/* The desk id is made once, in the same file as the records it names. */
static int load_desk_id(struct outbox *ob)
{
	sqlite3_stmt *st = NULL;
	char id[37];
	int rc;

	rc = sqlite3_prepare_v2(ob->db, "SELECT value FROM meta WHERE"
				" key = 'desk_id'", -1, &st, NULL);
	if (rc == SQLITE_OK && sqlite3_step(st) == SQLITE_ROW) {
		snprintf(ob->desk_id, sizeof(ob->desk_id), "%s",
			 (const char *)sqlite3_column_text(st, 0));
		sqlite3_finalize(st);
		return 0;
	}
	sqlite3_finalize(st);
	outbox_uuid(id);
	rc = sqlite3_prepare_v2(ob->db, "INSERT INTO meta (key, value)"
				" VALUES ('desk_id', ?1)", -1, &st, NULL);
	if (rc == SQLITE_OK) {
		sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
		rc = sqlite3_step(st);
	}
	sqlite3_finalize(st);
	if (rc != SQLITE_DONE)
		return ob_errno(rc) ? ob_errno(rc) : -EIO;
	memcpy(ob->desk_id, id, sizeof(id));
	return 0;
}

static int prepare_all(struct outbox *ob)
{
	static const struct {
		size_t off;
		const char *sql;
	} q[] = {
		{ offsetof(struct outbox, put), "INSERT INTO outbox (channel,"
		  " key, body, queued) VALUES (?1, ?2, ?3, ?4)" },
		{ offsetof(struct outbox, find), "SELECT seq FROM outbox"
		  " WHERE channel = ?1 AND key = ?2" },
		{ offsetof(struct outbox, scan), "SELECT seq, key, body,"
		  " queued FROM outbox WHERE channel = ?1 AND seq > ?2"
		  " ORDER BY seq LIMIT ?3" },
		{ offsetof(struct outbox, ack), "DELETE FROM outbox WHERE"
		  " channel = ?1 AND seq = ?2" },
		{ offsetof(struct outbox, count), "SELECT count(*) FROM"
		  " outbox WHERE channel = ?1" },
		{ offsetof(struct outbox, count_all), "SELECT count(*) FROM"
		  " outbox" },
	};
	size_t i;

	for (i = 0; i < sizeof(q) / sizeof(q[0]); i++) {
		sqlite3_stmt **st = (sqlite3_stmt **)((char *)ob + q[i].off);
		int rc = sqlite3_prepare_v3(ob->db, q[i].sql, -1,
					    SQLITE_PREPARE_PERSISTENT, st,
					    NULL);

		if (rc != SQLITE_OK)
			return ob_errno(rc) ? ob_errno(rc) : -EIO;
	}
	return 0;
}

int outbox_open(struct outbox **ret, const char *path, char *err,
		size_t err_size)
{
	struct outbox *ob = calloc(1, sizeof(*ob));
	int rc, r;

	if (!ob)
		return -ENOMEM;
	r = create_private(path);
	if (r < 0) {
		snprintf(err, err_size, "%s: %s", path, strerror(-r));
		goto fail;
	}
	rc = sqlite3_open_v2(path, &ob->db, SQLITE_OPEN_READWRITE |
			     SQLITE_OPEN_NOMUTEX, NULL);
	if (rc == SQLITE_OK) {
		sqlite3_busy_timeout(ob->db, 5000);
		rc = sqlite3_exec(ob->db, "PRAGMA journal_mode = WAL;"
				  "PRAGMA synchronous = FULL;", NULL, NULL,
				  NULL);
	}
	if (rc == SQLITE_OK)
		rc = sqlite3_exec(ob->db, schema, NULL, NULL, NULL);
	if (rc != SQLITE_OK) {
		snprintf(err, err_size, "%s: %s", path, ob->db ?
			 sqlite3_errmsg(ob->db) : sqlite3_errstr(rc));
		r = ob_errno(rc) ? ob_errno(rc) : -EIO;
		goto fail;
	}
	r = load_desk_id(ob);
	if (r == 0)
		r = prepare_all(ob);
	if (r < 0) {
		snprintf(err, err_size, "%s: %s", path,
			 sqlite3_errmsg(ob->db));
		goto fail;
	}
	*ret = ob;
	return 0;
fail:
	outbox_close(ob);
	return r;
}

struct outbox *outbox_close(struct outbox *ob)
{
	if (!ob)
		return NULL;
	sqlite3_finalize(ob->put);
	sqlite3_finalize(ob->find);
	sqlite3_finalize(ob->scan);
	sqlite3_finalize(ob->ack);
	sqlite3_finalize(ob->count);
	sqlite3_finalize(ob->count_all);
	sqlite3_close(ob->db);
	free(ob);
	return NULL;
}

static int find_key(struct outbox *ob, const char *channel, const char *key,
		    uint64_t *seqp)
{
	sqlite3_stmt *st = ob->find;
	int rc;

	sqlite3_bind_text(st, 1, channel, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, key, -1, SQLITE_STATIC);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW && seqp)
		*seqp = (uint64_t)sqlite3_column_int64(st, 0);
	sqlite3_reset(st);
	return rc == SQLITE_ROW ? 0 : -ENOENT;
}

int outbox_put(struct outbox *ob, const char *channel, const char *key,
	       const char *body, uint64_t *seqp)
{
	sqlite3_stmt *st = ob->put;
	int rc;

	if (!channel || !key || !body)
		return -EINVAL;
	sqlite3_bind_text(st, 1, channel, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, key, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 3, body, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 4, (sqlite3_int64)util_now_ms());
	rc = sqlite3_step(st);
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	if (rc == SQLITE_DONE) {
		if (seqp)
			*seqp = (uint64_t)sqlite3_last_insert_rowid(ob->db);
		return 0;
	}
	if ((rc & 0xff) == SQLITE_CONSTRAINT) {
		find_key(ob, channel, key, seqp);
		return -EALREADY;
	}
	return ob_errno(rc) ? ob_errno(rc) : -EIO;
}

int outbox_scan(struct outbox *ob, const char *channel, uint64_t after,
		unsigned max, outbox_each_h *h, void *arg)
{
	sqlite3_stmt *st = ob->scan;
	struct outbox_rec rec = { .channel = channel };
	int rc, r = 0;

	sqlite3_bind_text(st, 1, channel, -1, SQLITE_TRANSIENT);
	sqlite3_bind_int64(st, 2, (sqlite3_int64)after);
	sqlite3_bind_int64(st, 3, max ? (sqlite3_int64)max : -1);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		rec.seq = (uint64_t)sqlite3_column_int64(st, 0);
		rec.key = (const char *)sqlite3_column_text(st, 1);
		rec.body = (const char *)sqlite3_column_text(st, 2);
		rec.queued = (uint64_t)sqlite3_column_int64(st, 3);
		r = h(&rec, arg);
		if (r)
			break;
	}
	if (!r && rc != SQLITE_DONE)
		r = ob_errno(rc) ? ob_errno(rc) : -EIO;
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	return r;
}

int outbox_ack(struct outbox *ob, const char *channel, uint64_t seq)
{
	sqlite3_stmt *st = ob->ack;
	int rc;

	sqlite3_bind_text(st, 1, channel, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, (sqlite3_int64)seq);
	rc = sqlite3_step(st);
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	if (rc != SQLITE_DONE)
		return ob_errno(rc) ? ob_errno(rc) : -EIO;
	return sqlite3_changes(ob->db) ? 0 : -ENOENT;
}

uint64_t outbox_waiting(struct outbox *ob, const char *channel)
{
	sqlite3_stmt *st = channel ? ob->count : ob->count_all;
	uint64_t n = 0;

	if (channel)
		sqlite3_bind_text(st, 1, channel, -1, SQLITE_STATIC);
	if (sqlite3_step(st) == SQLITE_ROW)
		n = (uint64_t)sqlite3_column_int64(st, 0);
	sqlite3_reset(st);
	return n;
}

uint64_t outbox_next_seq(struct outbox *ob)
{
	sqlite3_stmt *st = NULL;
	uint64_t n = 1;

	/* AUTOINCREMENT keeps the largest seq ever given in sqlite_sequence,
	 * even after its row is acknowledged and deleted */
	if (sqlite3_prepare_v2(ob->db, "SELECT seq FROM sqlite_sequence"
			       " WHERE name = 'outbox'", -1, &st,
			       NULL) == SQLITE_OK &&
	    sqlite3_step(st) == SQLITE_ROW)
		n = (uint64_t)sqlite3_column_int64(st, 0) + 1;
	sqlite3_finalize(st);
	return n;
}

const char *outbox_desk_id(const struct outbox *ob)
{
	return ob->desk_id;
}
