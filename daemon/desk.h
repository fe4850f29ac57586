/* The agent's desk: binds the pure state machine to contacts, timers, the
 * media stack and the event stream. The RPC layer calls in here; media
 * events arrive here. */
#ifndef CCPD_DESK_H
#define CCPD_DESK_H

#include <stdbool.h>
#include <stddef.h>
#include <cjson/cJSON.h>

struct conf;
struct events;
struct desk;

/* The outcome of an action: 0, or a ccpd_error code with a reason. */
struct desk_err {
	int code;
	char reason[256];
};

typedef void (desk_ready_h)(void *arg);

int desk_new(struct desk **ret, const struct conf *conf, struct events *ev,
	     desk_ready_h *ready, void *arg);
struct desk *desk_free(struct desk *d);
int desk_start(struct desk *d);
void desk_shutdown(struct desk *d);

int desk_set_status(struct desk *d, const char *name, struct desk_err *e);
int desk_clear_next(struct desk *d, struct desk_err *e);
int desk_dial(struct desk *d, const char *endpoint, char *contact_id,
	      size_t id_size, struct desk_err *e);
int desk_accept(struct desk *d, const char *contact_id, struct desk_err *e);
int desk_reject(struct desk *d, const char *contact_id, struct desk_err *e);
int desk_hangup(struct desk *d, const char *contact_id,
		const char *connection_id, struct desk_err *e);
int desk_clear(struct desk *d, const char *contact_id, struct desk_err *e);
int desk_hold(struct desk *d, const char *contact_id,
	      const char *connection_id, struct desk_err *e);
int desk_resume(struct desk *d, const char *contact_id,
		const char *connection_id, struct desk_err *e);
int desk_swap(struct desk *d, const char *contact_id, struct desk_err *e);
int desk_set_mute(struct desk *d, bool muted, struct desk_err *e);
int desk_send_digits(struct desk *d, const char *contact_id,
		     const char *connection_id, const char *digits,
		     struct desk_err *e);
int desk_add_connection(struct desk *d, const char *contact_id,
			const char *endpoint, char *conn_id, size_t size,
			struct desk_err *e);
/* method: "refer", "bridge" or NULL for the transfer_method setting */
int desk_transfer(struct desk *d, const char *contact_id,
		  const char *endpoint, const char *method,
		  struct desk_err *e);
int desk_conference(struct desk *d, const char *contact_id,
		    struct desk_err *e);
cJSON *desk_endpoints_json(const struct desk *d);
/* Softphone, or a desk phone at extension (E.164; NULL keeps the last
 * one). */
int desk_set_config(struct desk *d, bool softphone, const char *extension,
		    struct desk_err *e);

/* The region national numbers are read in ("" for none). */
const char *desk_default_region(const struct desk *d);

cJSON *desk_agent_json(const struct desk *d);
/* The same, encoded; valid until the next change of the desk. */
const char *desk_agent_text(struct desk *d);
cJSON *desk_states_json(const struct desk *d);
cJSON *desk_config_json(const struct desk *d);
cJSON *desk_contacts_json(const struct desk *d);
cJSON *desk_contact_json(const struct desk *d, const char *contact_id);
cJSON *desk_history_json(const struct desk *d, unsigned limit);
cJSON *desk_media_json(const struct desk *d);
cJSON *desk_registration_json(const struct desk *d);
/* {agent, contacts}: what a subscriber starts from */
cJSON *desk_snapshot_json(const struct desk *d);

#endif
