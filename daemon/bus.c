/* The bus, the main loop's side: each agent and contact event goes into
 * the outbox (channel "bus") the moment it is emitted, and from there to
 * the worker (bus-nats.c) in order; a record is forgotten only when
 * JetStream acknowledged it. The agent's snapshot goes to the bucket on
 * every change and on a heartbeat. What the worker learns comes back
 * through a libre mqueue and is acted on here, on the loop. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <re.h>

#include "bus.h"
#include "bus-int.h"
#include "conf.h"
#include "desk.h"
#include "events.h"
#include "floor.h"
#include "json.h"
#include "log.h"
#include "outbox.h"
#include "util.h"

#define CHANNEL "bus"
/* events handed to the worker and not yet acknowledged, at most */
#define WINDOW 1024

enum bus_state { BUS_CONNECTING, BUS_CONNECTED, BUS_DISCONNECTED,
		 BUS_FAILED };

struct bus {
	const struct conf *conf;
	struct outbox *ob;
	struct events *ev;
	struct desk *desk;
	struct events_sub *sub;
	struct mqueue *mq;
	struct busw *w;
	enum bus_state state;
	char error[512];
	char server[256];
	uint64_t sent_seq;      /* the last record handed to the worker */
	unsigned inflight;
	struct tmr pump_tmr, snap_tmr, hb_tmr, floor_tmr;
	char agent[256];        /* the agent's name as a subject token */
	struct log_limit nack_limit, kv_limit;
	/* the floor */
	struct floor *floor;
	struct events *floor_ev;
	bool watching, floor_ready;
	enum { HIST_NONE, HIST_LOADING, HIST_READY } hist;
};

static const char *state_name(enum bus_state s)
{
	switch (s) {
	case BUS_CONNECTING:
		return "connecting";
	case BUS_CONNECTED:
		return "connected";
	case BUS_DISCONNECTED:
		return "disconnected";
	case BUS_FAILED:
		return "failed";
	}
	return "?";
}

void bus_token(const char *in, char *out, size_t size)
{
	static const char hex[] = "0123456789ABCDEF";
	size_t o = 0;

	for (; *in && o + 4 < size; in++) {
		unsigned char c = (unsigned char)*in;

		if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		    (c >= '0' && c <= '9') || c == '-' || c == '_') {
			out[o++] = (char)c;
		} else {
			out[o++] = '=';
			out[o++] = hex[c >> 4];
			out[o++] = hex[c & 15];
		}
	}
	out[o] = '\0';
}

/* The logged-in user, else the configured SIP user. */
static const char *agent_name(const struct bus *b)
{
	const char *u = desk_user(b->desk);

	return u && *u ? u : b->conf->sip_user;
}

/* ---- the state, for ccpctl status, the event and /metrics ---- */

cJSON *bus_status_json(const struct bus *b)
{
	cJSON *o = cJSON_CreateObject();

	if (!o)
		return NULL;
	cJSON_AddBoolToObject(o, "enabled", b != NULL);
	cJSON_AddStringToObject(o, "state", b ? state_name(b->state) : "off");
	cJSON_AddBoolToObject(o, "connected", b && b->state == BUS_CONNECTED);
	json_add_int(o, "waiting",
		     b ? (long long)outbox_waiting(b->ob, CHANNEL) : 0);
	json_add_str_or_null(o, "server", b && *b->server ? b->server : NULL);
	json_add_str_or_null(o, "error", b && *b->error ? b->error : NULL);
	json_add_str_or_null(o, "desk", b ? outbox_desk_id(b->ob) : NULL);
	json_add_str_or_null(o, "agent", b ? agent_name(b) : NULL);
	return o;
}

int bus_prometheus(const struct bus *b, char **text)
{
	char *old = *text, *t;
	int n;

	n = asprintf(&t,
		     "%s# HELP ccpd_bus_connected Whether ccpd is connected "
		     "to the bus (NATS JetStream); 0 when the bus is off.\n"
		     "# TYPE ccpd_bus_connected gauge\n"
		     "ccpd_bus_connected %d\n"
		     "# HELP ccpd_bus_waiting Events in the outbox that "
		     "JetStream has not acknowledged yet.\n"
		     "# TYPE ccpd_bus_waiting gauge\n"
		     "ccpd_bus_waiting %llu\n",
		     old ? old : "", b && b->state == BUS_CONNECTED,
		     b ? (unsigned long long)outbox_waiting(b->ob, CHANNEL)
		       : 0ULL);
	if (n < 0)
		return -ENOMEM;
	free(old);
	*text = t;
	return 0;
}

static void set_state(struct bus *b, enum bus_state s, const char *error)
{
	bool changed = s != b->state ||
		       strcmp(error ? error : "", b->error) != 0;

	b->state = s;
	snprintf(b->error, sizeof(b->error), "%s", error ? error : "");
	if (changed)
		events_emit(b->ev, "bus.status", bus_status_json(b));
}

/* ---- publishing, in the outbox's order ---- */

struct pump_ctx {
	struct bus *b;
	unsigned room;
};

static int send_one(const struct outbox_rec *rec, void *arg)
{
	struct pump_ctx *p = arg;
	struct bus *b = p->b;
	const char *nl = strchr(rec->body, '\n');
	char subject[512], msg_id[80];
	size_t len;

	b->sent_seq = rec->seq;
	if (!nl || (len = (size_t)(nl - rec->body)) >= sizeof(subject)) {
		/* not ours to fix: drop it rather than block the rest */
		log_warning("bus: outbox record %llu is not a subject and a "
			    "payload, dropping it",
			    (unsigned long long)rec->seq);
		outbox_ack(b->ob, CHANNEL, rec->seq);
		return 0;
	}
	memcpy(subject, rec->body, len);
	subject[len] = '\0';
	snprintf(msg_id, sizeof(msg_id), "%s:%llu", outbox_desk_id(b->ob),
		 (unsigned long long)rec->seq);
	if (busw_publish(b->w, rec->seq, subject, msg_id, nl + 1) < 0)
		return -ENOMEM;
	b->inflight++;
	return --p->room ? 0 : 1;
}

static void pump(struct bus *b)
{
	struct pump_ctx p = { b, 0 };

	if (b->state != BUS_CONNECTED || b->inflight >= WINDOW)
		return;
	p.room = WINDOW - b->inflight;
	outbox_scan(b->ob, CHANNEL, b->sent_seq, p.room, send_one, &p);
}

static void pump_later(void *arg)
{
	pump(arg);
}

/* Send again from the oldest record that waits: the stream drops what it
 * already holds by its Nats-Msg-Id. */
static void resend(struct bus *b, unsigned delay_ms)
{
	b->sent_seq = 0;
	b->inflight = 0;
	tmr_start(&b->pump_tmr, delay_ms, pump_later, b);
}

/* ---- the snapshot in the bucket ---- */

static uint64_t contact_since(const cJSON *c)
{
	const cJSON *ts = cJSON_GetObjectItemCaseSensitive(c, "timestamps"),
		    *v;
	double best = 0;

	cJSON_ArrayForEach(v, ts)
		if (cJSON_IsNumber(v) && v->valuedouble > best)
			best = v->valuedouble;
	return (uint64_t)best;
}

static cJSON *snapshot(struct bus *b, const char *agent)
{
	cJSON *o = desk_agent_json(b->desk);
	cJSON *live = desk_contacts_json(b->desk), *c, *list;

	if (!o)
		goto out;
	cJSON_AddStringToObject(o, "agent", agent);
	cJSON_AddStringToObject(o, "desk", outbox_desk_id(b->ob));
	list = cJSON_AddArrayToObject(o, "contacts");
	cJSON_ArrayForEach(c, live) {
		const cJSON *id = cJSON_GetObjectItemCaseSensitive(c,
								   "contactId");
		const cJSON *st = cJSON_GetObjectItemCaseSensitive(c, "state");
		cJSON *e = cJSON_CreateObject();

		if (!e)
			continue;
		cJSON_AddItemToObject(e, "contactId",
				      cJSON_Duplicate(id, 0));
		cJSON_AddItemToObject(e, "state", cJSON_Duplicate(st, 0));
		json_add_int(e, "since", (long long)contact_since(c));
		cJSON_AddItemToArray(list, e);
	}
	json_add_int(o, "seen", (long long)util_now_ms());
	json_add_int(o, "heartbeat", (long long)b->conf->bus_heartbeat * 1000);
out:
	cJSON_Delete(live);
	return o;
}

static void put_now(void *arg)
{
	struct bus *b = arg;
	const char *name = agent_name(b);
	cJSON *o;
	char key[256], *text;

	bus_token(name, key, sizeof(key));
	if (b->state != BUS_CONNECTED)
		return;
	/* a user who logged out of this desk leaves the floor */
	if (*b->agent && strcmp(b->agent, key) != 0)
		busw_kv_delete(b->w, b->agent);
	snprintf(b->agent, sizeof(b->agent), "%s", key);
	o = snapshot(b, name);
	text = o ? cJSON_PrintUnformatted(o) : NULL;
	if (text)
		busw_kv_put(b->w, key, text);
	free(text);
	cJSON_Delete(o);
}

static void heartbeat(void *arg)
{
	struct bus *b = arg;

	put_now(b);
	tmr_start(&b->hb_tmr, (uint64_t)b->conf->bus_heartbeat * 1000,
		  heartbeat, b);
}

/* ---- the events, as they are emitted ---- */

static bool published_type(const char *type)
{
	return strncmp(type, "agent.", 6) == 0 ||
	       strncmp(type, "contact.", 8) == 0 ||
	       strncmp(type, "connection.", 11) == 0;
}

/* The protocol's event object plus agent, desk and ts; stored as the
 * subject, a newline and the payload. */
static void on_event(struct events_msg *msg, void *arg)
{
	struct bus *b = arg;
	cJSON *root = cJSON_Parse(events_msg_line(msg)), *params, *type, *seq;
	char token[256], key[64], *payload = NULL, *body = NULL;
	const char *name = agent_name(b);
	int r;

	params = cJSON_GetObjectItemCaseSensitive(root, "params");
	type = cJSON_GetObjectItemCaseSensitive(params, "type");
	seq = cJSON_GetObjectItemCaseSensitive(params, "seq");
	if (!cJSON_IsString(type) || !cJSON_IsNumber(seq) ||
	    !published_type(type->valuestring))
		goto out;
	cJSON_AddStringToObject(params, "agent", name);
	cJSON_AddStringToObject(params, "desk", outbox_desk_id(b->ob));
	json_add_int(params, "ts", (long long)util_now_ms());
	payload = cJSON_PrintUnformatted(params);
	bus_token(name, token, sizeof(token));
	if (!payload || asprintf(&body, "ccp.agent.%s.%s\n%s", token,
				 type->valuestring, payload) < 0) {
		body = NULL;
		log_error("bus: out of memory, event %s not published",
			  type->valuestring);
		goto out;
	}
	snprintf(key, sizeof(key), "%s:%.0f", events_instance(b->ev),
		 seq->valuedouble);
	r = outbox_put(b->ob, CHANNEL, key, body, NULL);
	if (r < 0 && r != -EALREADY)
		log_error("bus: cannot queue event %s in the outbox: %s",
			  type->valuestring, strerror(-r));
	pump(b);
	tmr_start(&b->snap_tmr, 0, put_now, b);
out:
	free(body);
	free(payload);
	cJSON_Delete(root);
}

/* ---- the floor ---- */

static void floor_emit(struct bus *b, cJSON *changed, cJSON *removed,
		       bool full)
{
	cJSON *data;

	if (!b->floor_ready || (!full && cJSON_GetArraySize(changed) == 0 &&
				cJSON_GetArraySize(removed) == 0)) {
		cJSON_Delete(changed);
		cJSON_Delete(removed);
		return;
	}
	data = cJSON_CreateObject();
	if (!data) {
		cJSON_Delete(changed);
		cJSON_Delete(removed);
		return;
	}
	cJSON_AddItemToObject(data, "agents", changed);
	cJSON_AddItemToObject(data, "removed", removed);
	cJSON_AddItemToObject(data, "totals", floor_totals_json(b->floor));
	cJSON_AddBoolToObject(data, "full", full);
	events_emit(b->floor_ev, "floor.changed", data);
}

static void floor_tick_h(void *arg)
{
	struct bus *b = arg;
	cJSON *changed = cJSON_CreateArray();

	if (changed && floor_tick(b->floor, util_now_ms(), changed) > 0)
		floor_emit(b, changed, cJSON_CreateArray(), false);
	else
		cJSON_Delete(changed);
	tmr_start(&b->floor_tmr, 1000, floor_tick_h, b);
}

/* A change seen live goes into the history too. */
static void hist_live(struct bus *b, const char *key, const char *was,
		      const cJSON *changed)
{
	const char *now = floor_state(b->floor, key);
	const cJSON *v = cJSON_GetArrayItem(changed, 0);
	const cJSON *name = cJSON_GetObjectItemCaseSensitive(v, "agent");

	if (!now || !cJSON_IsString(name) || strcmp(now, was) == 0)
		return;
	floor_hist_add(b->floor, name->valuestring, util_now_ms(), was, now);
}

/* One agent.stateChange from the stream. */
static void hist_event(struct bus *b, const char *text)
{
	cJSON *p = text ? cJSON_Parse(text) : NULL, *data;
	const cJSON *agent, *time, *from, *to;

	data = cJSON_GetObjectItemCaseSensitive(p, "data");
	agent = cJSON_GetObjectItemCaseSensitive(p, "agent");
	time = cJSON_GetObjectItemCaseSensitive(p, "time");
	from = cJSON_GetObjectItemCaseSensitive(data, "oldState");
	to = cJSON_GetObjectItemCaseSensitive(data, "newState");
	if (cJSON_IsString(agent) && cJSON_IsNumber(time) &&
	    cJSON_IsString(from) && cJSON_IsString(to) &&
	    strcmp(from->valuestring, to->valuestring) != 0)
		floor_hist_add(b->floor, agent->valuestring,
			       (uint64_t)time->valuedouble, from->valuestring,
			       to->valuestring);
	cJSON_Delete(p);
}

static void on_kv(struct bus *b, struct busw_msg *m)
{
	cJSON *changed = cJSON_CreateArray(), *removed = cJSON_CreateArray();
	const char *before;
	char note[64], was[64];
	int r;

	if (!m->key || !changed || !removed) {
		cJSON_Delete(changed);
		cJSON_Delete(removed);
		return;
	}
	before = floor_state(b->floor, m->key);
	snprintf(was, sizeof(was), "%s", before ? before : "");
	r = floor_update(b->floor, m->key, m->text, util_now_ms(), changed,
			 removed);
	/* an agent new to the floor has no change to tell */
	if (r == 1 && b->hist != HIST_NONE && *was)
		hist_live(b, m->key, was, changed);
	if (r == -EINVAL &&
	    log_limit_pass(&b->kv_limit, util_now_ms(), note, sizeof(note)))
		log_warning("bus: bucket " BUS_BUCKET " key %s holds no JSON "
			    "object, ignoring it%s", m->key, note);
	if (!b->floor_ready && m->pending == 0) {
		b->floor_ready = true;
		cJSON_Delete(changed);
		cJSON_Delete(removed);
		floor_emit(b, floor_agents_json(b->floor),
			   cJSON_CreateArray(), true);
		return;
	}
	floor_emit(b, changed, removed, false);
}

cJSON *bus_floor_json(struct bus *b)
{
	cJSON *o;

	if (!b)
		return NULL;
	if (!b->watching && b->w) {
		b->watching = true;
		busw_watch(b->w);
		tmr_start(&b->floor_tmr, 1000, floor_tick_h, b);
	}
	o = floor_json(b->floor);
	if (o)
		cJSON_AddBoolToObject(o, "ready", b->floor_ready);
	return o;
}

cJSON *bus_floor_history(struct bus *b, unsigned minutes)
{
	cJSON *o, *f;

	if (!b)
		return NULL;
	f = bus_floor_json(b);     /* the present comes from the watch */
	cJSON_Delete(f);
	if (b->hist == HIST_NONE && b->w) {
		b->hist = HIST_LOADING;
		busw_history(b->w, util_now_ms() - 3600000ULL);
	}
	o = cJSON_CreateObject();
	if (!o)
		return NULL;
	cJSON_AddBoolToObject(o, "ready", b->hist == HIST_READY &&
			      b->floor_ready);
	json_add_int(o, "step", 60000);
	cJSON_AddItemToObject(o, "points", floor_hist_json(b->floor,
							   util_now_ms(),
							   minutes));
	return o;
}

struct events *bus_floor_events(struct bus *b)
{
	return b ? b->floor_ev : NULL;
}

/* ---- what the worker says ---- */

static void on_note(struct bus *b, struct busw_msg *m)
{
	char note[64];

	switch (m->id) {
	case BUSW_CONNECTED:
		snprintf(b->server, sizeof(b->server), "%s",
			 m->text ? m->text : "");
		log_info("bus: connected to %s; stream " BUS_STREAM
			 " and bucket " BUS_BUCKET " ready, %llu events "
			 "waiting", b->server, (unsigned long long)
			 outbox_waiting(b->ob, CHANNEL));
		set_state(b, BUS_CONNECTED, NULL);
		resend(b, 0);
		tmr_start(&b->snap_tmr, 0, put_now, b);
		break;
	case BUSW_DISCONNECTED:
		log_warning("bus: %s: %s; events wait in the outbox",
			    b->conf->bus, m->text ? m->text : "");
		set_state(b, BUS_DISCONNECTED, m->text);
		b->inflight = 0;
		break;
	case BUSW_FAILED:
		log_error("bus: %s: %s; ccpd runs on without the bus",
			  b->conf->bus, m->text ? m->text : "");
		set_state(b, BUS_FAILED, m->text);
		break;
	case BUSW_ACK:
		if (outbox_ack(b->ob, CHANNEL, m->seq) == 0 && b->inflight)
			b->inflight--;
		pump(b);
		break;
	case BUSW_NACK:
		if (log_limit_pass(&b->nack_limit, util_now_ms(), note,
				   sizeof(note)))
			log_warning("bus: event %llu not taken: %s; sending "
				    "again%s", (unsigned long long)m->seq,
				    m->text ? m->text : "", note);
		if (m->seq)
			resend(b, 1000);
		break;
	case BUSW_KV:
		on_kv(b, m);
		break;
	case BUSW_HIST:
		hist_event(b, m->text);
		break;
	case BUSW_HIST_DONE:
		if (m->text && *m->text) {
			log_warning("bus: cannot read the floor's history "
				    "from " BUS_STREAM ": %s", m->text);
			b->hist = HIST_NONE;
		} else {
			b->hist = HIST_READY;
		}
		break;
	case BUSW_WATCH_READY:
		if (!b->floor_ready) {
			b->floor_ready = true;
			floor_emit(b, floor_agents_json(b->floor),
				   cJSON_CreateArray(), true);
		}
		break;
	}
}

/* The worker wakes the loop once for every batch of notes. */
static void on_wake(int id, void *data, void *arg)
{
	struct bus *b = arg;
	struct busw_msg *list, *m;

	(void)id;
	(void)data;
	list = busw_notes_take(b->w);
	while ((m = list)) {
		list = m->next;
		if (b->w)
			on_note(b, m);
		busw_note_free(m);
	}
}

/* ---- life ---- */

/* nats://host:port or tls://host:port, comma-separated */
static int check_urls(const char *list, char *err, size_t size)
{
	const char *p = list;
	unsigned n = 0;

	while (*p) {
		size_t len = strcspn(p, ", ");

		if (len) {
			if ((strncmp(p, "nats://", 7) != 0 &&
			     strncmp(p, "tls://", 6) != 0) ||
			    len <= 7 || len > 255) {
				snprintf(err, size, "bus %.*s: not a URL "
					 "nats://host:port or tls://host:port",
					 (int)(len > 200 ? 200 : len), p);
				return -EINVAL;
			}
			n++;
		}
		p += len;
		p += strspn(p, ", ");
	}
	if (n > 16) {
		snprintf(err, size, "bus: %u servers, at most 16", n);
		return -EINVAL;
	}
	return 0;
}

int bus_new(struct bus **ret, const struct conf *c, struct outbox *ob,
	    struct events *ev, struct desk *d)
{
	struct busw_conf wc = {
		.servers = c->bus,
		.credentials = c->bus_credentials,
		.tls_ca = c->bus_tls_ca,
		.replicas = c->bus_replicas,
		.max_age_s = (uint64_t)c->bus_max_age * 3600,
		.max_bytes = (uint64_t)c->bus_max_mb << 20,
		.dup_window_s = c->bus_dup_window,
	};
	char name[128];
	struct bus *b;
	int r, err;

	*ret = NULL;
	if (!*c->bus)
		return 0;
	b = calloc(1, sizeof(*b));
	if (!b)
		return -ENOMEM;
	b->conf = c;
	b->ob = ob;
	b->ev = ev;
	b->desk = d;
	b->state = BUS_CONNECTING;
	tmr_init(&b->pump_tmr);
	tmr_init(&b->snap_tmr);
	tmr_init(&b->hb_tmr);
	tmr_init(&b->floor_tmr);
	r = floor_new(&b->floor, (uint64_t)c->bus_heartbeat * 1000);
	if (r == 0)
		r = events_new(&b->floor_ev, 256);
	if (r < 0)
		goto fail;
	err = mqueue_alloc(&b->mq, on_wake, b);
	if (err) {
		r = -err;
		goto fail;
	}
	if (check_urls(c->bus, b->error, sizeof(b->error)) < 0) {
		/* ccpd runs on without the bus; the state says why */
		log_error("bus: %s; ccpd runs on without the bus", b->error);
		b->state = BUS_FAILED;
		*ret = b;
		return 0;
	}
	snprintf(name, sizeof(name), "ccpd %s", outbox_desk_id(ob));
	wc.name = name;
	r = busw_start(&b->w, &wc, b->mq);
	if (r < 0)
		goto fail;
	/* on the disk before any client hears of it */
	r = events_observe(ev, &b->sub, on_event, b);
	if (r < 0)
		goto fail;
	tmr_start(&b->hb_tmr, (uint64_t)c->bus_heartbeat * 1000, heartbeat,
		  b);
	log_info("bus: publishing to %s as desk %s, %llu events waiting",
		 c->bus, outbox_desk_id(ob),
		 (unsigned long long)outbox_waiting(ob, CHANNEL));
	*ret = b;
	return 0;
fail:
	log_error("bus: cannot start: %s", strerror(-r));
	bus_free(b);
	return r;
}

struct bus *bus_free(struct bus *b)
{
	if (!b)
		return NULL;
	b->sub = events_unsubscribe(b->sub);
	/* an orderly stop: the agent leaves the floor (a desk that dies
	 * goes quiet and shows as unreachable instead) */
	if (b->w && b->state == BUS_CONNECTED && *b->agent)
		busw_kv_delete(b->w, b->agent);
	/* the worker's notes go with it */
	b->w = busw_stop(b->w);
	tmr_cancel(&b->pump_tmr);
	tmr_cancel(&b->snap_tmr);
	tmr_cancel(&b->hb_tmr);
	tmr_cancel(&b->floor_tmr);
	b->mq = mem_deref(b->mq);
	b->floor_ev = events_free(b->floor_ev);
	b->floor = floor_free(b->floor);
	free(b);
	return NULL;
}
