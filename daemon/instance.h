/* The instance on PostgreSQL, shared by every ccpd of a contact center.
 *
 * Local first: the daemon keeps reading and writing its SQLite store
 * (store.h), which is then this desk's copy of the instance. This module
 * keeps the two in step: what is written here goes through the outbox
 * (channel "store") to PostgreSQL, exactly once and in order; what other
 * desks change comes back by LISTEN/NOTIFY and is written into the local
 * copy, whose watchers hear of it (instance_watch). While the server is
 * unreachable the desk goes on from its copy and the outbox fills. */
#ifndef CCPD_INSTANCE_H
#define CCPD_INSTANCE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <cjson/cJSON.h>

struct instance;
struct store;
struct outbox;
struct events;
struct pg;

enum instance_change {
	INSTANCE_TABLE,           /* rows of a shared table changed */
	INSTANCE_PASSWORD,        /* key's password hash changed */
	INSTANCE_USER_GONE,       /* key was deleted */
	INSTANCE_USER_MOVED,      /* key, the user at this desk, took
				   * another desk */
	INSTANCE_LOGGED_OUT,      /* key logged out at another desk at time:
				   * their sessions opened before end */
};

/* Rows of table (store_users.name, ...) changed on another desk and are
 * now in the local copy. key: the user, for the others; time: for
 * INSTANCE_LOGGED_OUT, else 0. */
typedef void (instance_changed_h)(enum instance_change what,
				  const char *table, const char *key,
				  uint64_t time, void *arg);

/* Start keeping store in step with the PostgreSQL instance at conninfo.
 * Returns at once: the connection is made on the loop. */
int instance_new(struct instance **ret, const char *conninfo,
		 const char *passfile, struct store *st, struct outbox *ob,
		 struct events *ev);
struct instance *instance_free(struct instance *in);

/* One watcher of changes from other desks. */
void instance_watch(struct instance *in, instance_changed_h *h, void *arg);

/* The state as store.getStatus and the store.status event show it:
 * {"backend", "state", "waiting", "reason"?, "synced"}. */
cJSON *instance_status_json(const struct instance *in);
/* "connected" or "unreachable, N records waiting" */
void instance_status_line(const struct instance *in, char *buf, size_t size);
/* Prometheus lines: the outbox's records waiting, the connection. */
int instance_prometheus(const struct instance *in, char **ret);

/* username logged out here at time (Unix ms): their sessions at the other
 * desks opened before then end too. */
void instance_logged_out(struct instance *in, const char *username,
			 uint64_t time);

/* Whether username is active at another desk and on a live contact
 * there, as the local copy says; desk (may be NULL) gets that desk's id. */
bool instance_user_busy_elsewhere(const struct instance *in,
				  const char *username, char *desk,
				  size_t size);

/* The connection, for modules that read the instance themselves. */
struct pg *instance_pg(struct instance *in);

#endif
