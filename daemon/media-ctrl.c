/* The control connection to baresip's ctrl_tcp: netstrings of JSON on
 * 127.0.0.1, the requests waiting for their answer, and baresip's events.
 * ctrl_tcp takes a single connection and silently hands control to
 * whoever connects last, so an unexpected close of ours is taken as a
 * possible takeover. */
#include <errno.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <re.h>
#include <cjson/cJSON.h>

#include "conf.h"
#include "ctrlguard-uid.h"
#include "log.h"
#include "media-int.h"
#include "netstring.h"
#include "util.h"

#define CTRL_MAX_MSG (1024 * 1024)
#define CONNECT_RETRY_MS 50
#define TAKEOVER_GRACE_MS 300

/* ---- pending requests ---- */

void ctrl_fail_pending(struct media *m, const char *reason)
{
	while (m->pending) {
		struct pending *p = m->pending;

		m->pending = p->next;
		if (p->h)
			p->h(false, reason, p->arg);
		free(p);
	}
	tmr_cancel(&m->resp_tmr);
}

static void resp_timeout(void *arg)
{
	struct media *m = arg;
	uint64_t now = util_mono_ms();
	struct pending **pp = &m->pending, *expired = NULL, **tail = &expired;

	/* take the expired requests off the list first: a handler may close
	 * the connection, which frees every request still on it */
	while (*pp) {
		struct pending *p = *pp;

		if (p->deadline <= now) {
			*pp = p->next;
			p->next = NULL;
			*tail = p;
			tail = &p->next;
		} else {
			pp = &p->next;
		}
	}
	if (m->pending)
		tmr_start(&m->resp_tmr, 200, resp_timeout, m);
	while (expired) {
		struct pending *p = expired;

		expired = p->next;
		log_warning("media: baresip did not answer request %lu",
			    p->token);
		if (p->h)
			p->h(false, "baresip did not answer", p->arg);
		free(p);
	}
}

static void handle_response(struct media *m, const cJSON *msg)
{
	const cJSON *tok = cJSON_GetObjectItemCaseSensitive(msg, "token");
	const cJSON *ok = cJSON_GetObjectItemCaseSensitive(msg, "ok");
	const cJSON *data = cJSON_GetObjectItemCaseSensitive(msg, "data");
	struct pending **pp;
	unsigned long token;

	if (!cJSON_IsString(tok) || tok->valuestring[0] != 't')
		return;
	token = strtoul(tok->valuestring + 1, NULL, 10);
	for (pp = &m->pending; *pp; pp = &(*pp)->next) {
		struct pending *p = *pp;

		if (p->token != token)
			continue;
		*pp = p->next;
		if (p->h)
			p->h(cJSON_IsTrue(ok),
			     cJSON_IsString(data) ? data->valuestring : "",
			     p->arg);
		free(p);
		return;
	}
}

/* ---- events ---- */

static const struct {
	const char *name;
	enum media_ev_type type;
} ev_names[] = {
	{ "CALL_INCOMING",        MEDIA_EV_CALL_INCOMING },
	{ "CALL_RINGING",         MEDIA_EV_CALL_RINGING },
	{ "CALL_PROGRESS",        MEDIA_EV_CALL_PROGRESS },
	{ "CALL_ESTABLISHED",     MEDIA_EV_CALL_ESTABLISHED },
	{ "CALL_CLOSED",          MEDIA_EV_CALL_CLOSED },
	{ "TRANSFER",             MEDIA_EV_CALL_TRANSFER },
	{ "TRANSFER_FAILED",      MEDIA_EV_CALL_TRANSFER_FAILED },
	{ "CALL_DTMF_START",      MEDIA_EV_CALL_DTMF_START },
	{ "CALL_DTMF_END",        MEDIA_EV_CALL_DTMF_END },
	{ "REGISTERING",          MEDIA_EV_REGISTERING },
	{ "REGISTER_OK",          MEDIA_EV_REGISTER_OK },
	{ "REGISTER_FAIL",        MEDIA_EV_REGISTER_FAIL },
	{ "UNREGISTERING",        MEDIA_EV_UNREGISTERING },
	{ "VU_TX_REPORT",         MEDIA_EV_VU_TX },
	{ "VU_RX_REPORT",         MEDIA_EV_VU_RX },
	{ "AUDIO_ERROR",          MEDIA_EV_AUDIO_ERROR },
};

static const char *str_item(const cJSON *o, const char *name)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, name);

	return cJSON_IsString(v) ? v->valuestring : NULL;
}

static void handle_event(struct media *m, const cJSON *msg)
{
	struct media_event ev = { .type = MEDIA_EV_OTHER };
	const char *dir;
	size_t i;

	ev.name = str_item(msg, "type");
	if (!ev.name)
		return;
	for (i = 0; i < sizeof(ev_names) / sizeof(ev_names[0]); i++)
		if (strcmp(ev.name, ev_names[i].name) == 0)
			ev.type = ev_names[i].type;
	ev.call_id = str_item(msg, "id");
	dir = str_item(msg, "direction");
	ev.outgoing = dir && strcmp(dir, "outgoing") == 0;
	ev.peer_uri = str_item(msg, "peeruri");
	ev.peer_name = str_item(msg, "peerdisplayname");
	ev.param = str_item(msg, "param");
	ev.aor = str_item(msg, "accountaor");
	if (ev.type != MEDIA_EV_VU_TX && ev.type != MEDIA_EV_VU_RX)
		log_debug("media: event %s call=%s param=%s", ev.name,
		  ev.call_id ? ev.call_id : "-", ev.param ? ev.param : "-");
	if (ev.type != MEDIA_EV_CALL_CLOSED &&
	    ev.type != MEDIA_EV_CALL_TRANSFER_FAILED)
		accounts_note_call(m, &ev);
	if (ev.type == MEDIA_EV_UNREGISTERING)
		accounts_note_register(m, &ev);
	if (m->h.event)
		m->h.event(&ev, m->arg);
	if (ev.type == MEDIA_EV_CALL_CLOSED ||
	    ev.type == MEDIA_EV_CALL_TRANSFER_FAILED)
		accounts_note_call(m, &ev);
}

static void on_message(const char *buf, size_t len, void *arg)
{
	ctrl_message(arg, buf, len);
}

void ctrl_message(struct media *m, const char *buf, size_t len)
{
	cJSON *msg;

	/* a handler closed the connection: the rest of this read is from a
	 * connection that is gone */
	if (m->ns_closed)
		return;
	msg = cJSON_ParseWithLength(buf, len);

	if (!msg) {
		log_warning("media: baresip sent a message that is not JSON");
		return;
	}
	if (cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(msg, "response")))
		handle_response(m, msg);
	else if (cJSON_GetObjectItemCaseSensitive(msg, "event"))
		handle_event(m, msg);
	cJSON_Delete(msg);
}

/* ---- the control connection ---- */

void ctrl_close(struct media *m)
{
	tmr_cancel(&m->connect_tmr);
	tmr_cancel(&m->reset_tmr);
	if (m->fd >= 0) {
		fd_close(m->fd);
		close(m->fd);
		m->fd = -1;
	}
	m->connected = false;
	m->want_write = false;
	free(m->out);
	m->out = NULL;
	m->out_len = 0;
	if (m->feeding && m->ns) {
		/* called from a handler inside netstring_feed: ctrl_fd frees
		 * the decoder once the feed has returned */
		m->ns_closed = m->ns;
		m->ns = NULL;
	} else {
		m->ns = netstring_free(m->ns);
	}
}

static void takeover_check(void *arg)
{
	struct media *m = arg;

	if (m->stopping || m->shutdown || m->pid <= 0)
		return;
	log_error("media: control connection to baresip lost while it runs: "
		  "taking it as a possible takeover, killing baresip and "
		  "restarting it on a new port");
	child_stop(m, "control connection lost: possible takeover", true);
}

/* ctrl_tcp holds one connection and drops the old one when another
 * comes: ours closing while baresip lives means someone else may hold
 * the port, and every moment baresip lives they may command it. So
 * unless the child is already on its way out (a crash closes the
 * connection a moment before the exit shows on the pidfd), it is killed
 * at once. Nothing is sent to baresip meanwhile. */
void ctrl_lost(struct media *m, const char *why)
{
	if (m->stopping || m->shutdown)
		return;
	log_warning("media: control connection to baresip lost (%s)", why);
	ctrl_close(m);
	ctrl_fail_pending(m, "control connection lost");
	if (m->stopping || m->shutdown)
		return;
	if (!child_exiting(m)) {
		takeover_check(m);
		return;
	}
	/* the exit is near; should it not come, it is a takeover after all */
	tmr_start(&m->takeover_tmr, TAKEOVER_GRACE_MS, takeover_check, m);
}

static void reset_later(void *arg)
{
	ctrl_lost(arg, "protocol error");
}

static int flush_out(struct media *m);

/* A read takes a few events at a time: each may write the journal
 * (synced) before it goes out, so a burst from baresip (a flood of
 * INVITEs) read whole would keep the loop from the clients for all of
 * it. With small reads the loop serves the other sockets between them. */
#define CTRL_READ 4096

static void ctrl_fd(int flags, void *arg)
{
	struct media *m = arg;
	char buf[CTRL_READ];
	ssize_t n;
	int r;

	if (flags & FD_WRITE) {
		if (flush_out(m) < 0) {
			ctrl_lost(m, "write failed");
			return;
		}
	}
	if (!(flags & (FD_READ | FD_EXCEPT)))
		return;
	n = read(m->fd, buf, sizeof(buf));
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n <= 0) {
		ctrl_lost(m, n == 0 ? "closed by baresip" : strerror(errno));
		return;
	}
	m->feeding = true;
	r = netstring_feed(m->ns, buf, (size_t)n, on_message, m);
	m->feeding = false;
	if (m->ns_closed) {
		/* the connection was closed under the feed */
		m->ns_closed = netstring_free(m->ns_closed);
		return;
	}
	if (r < 0) {
		log_error("media: bad framing from baresip (%s)", strerror(-r));
		tmr_start(&m->reset_tmr, 0, reset_later, m);
	}
}

int ctrl_listen(struct media *m)
{
	int flags = FD_READ | (m->out_len ? FD_WRITE : 0);
	int err = fd_listen(m->fd, flags, ctrl_fd, m);

	return err ? -err : 0;
}

static int flush_out(struct media *m)
{
	while (m->out_len) {
		ssize_t n = send(m->fd, m->out, m->out_len, MSG_NOSIGNAL);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN)
			break;
		if (n < 0)
			return -errno;
		memmove(m->out, m->out + n, m->out_len - (size_t)n);
		m->out_len -= (size_t)n;
	}
	return ctrl_listen(m);
}

static int queue_out(struct media *m, const char *data, size_t len)
{
	char *p = realloc(m->out, m->out_len + len);

	if (!p)
		return -ENOMEM;
	m->out = p;
	memcpy(m->out + m->out_len, data, len);
	m->out_len += len;
	return 0;
}

static int queue_command(struct media *m, const char *cmd, const char *params,
			 unsigned long token)
{
	cJSON *o = cJSON_CreateObject();
	char tok[32], *json, *frame;
	size_t flen;
	int r;

	if (!o)
		return -ENOMEM;
	snprintf(tok, sizeof(tok), "t%lu", token);
	cJSON_AddStringToObject(o, "command", cmd);
	if (params)
		cJSON_AddStringToObject(o, "params", params);
	cJSON_AddStringToObject(o, "token", tok);
	json = cJSON_PrintUnformatted(o);
	cJSON_Delete(o);
	if (!json)
		return -ENOMEM;
	r = netstring_encode(&frame, &flen, json, strlen(json));
	free(json);
	if (r < 0)
		return r;
	r = queue_out(m, frame, flen);
	free(frame);
	return r;
}

int ctrl_send(struct media *m, const char *aor, const char *call_id,
	      const char *cmd, const char *params, media_resp_h *h,
	      void *arg)
{
	struct pending *p;
	int r;

	if (!m->connected)
		return -ENOTCONN;
	if (aor) {
		/* callfind looks among the calls of the current account only */
		r = queue_command(m, "uafind", aor, ++m->next_token);
		if (r < 0)
			return r;
	}
	if (call_id) {
		/* baresip's call commands act on the "current" call: select
		 * ours in the same write */
		r = queue_command(m, "callfind", call_id, ++m->next_token);
		if (r < 0)
			return r;
	}
	p = calloc(1, sizeof(*p));
	if (!p)
		return -ENOMEM;
	p->token = ++m->next_token;
	p->deadline = util_mono_ms() + m->conf->media_timeout * 1000ULL;
	p->h = h;
	p->arg = arg;
	r = queue_command(m, cmd, params, p->token);
	if (r < 0) {
		free(p);
		return r;
	}
	p->next = m->pending;
	m->pending = p;
	if (!tmr_isrunning(&m->resp_tmr))
		tmr_start(&m->resp_tmr, 200, resp_timeout, m);
	/* the account line may carry a password */
	log_debug("media: -> %s %s%s%s", cmd,
		  strcmp(cmd, "uanew") == 0 ? "(account)" :
		  params ? params : "", call_id ? " on " : "",
		  call_id ? call_id : "");
	r = flush_out(m);
	if (r < 0)
		ctrl_lost(m, "write failed");
	return 0;
}

int media_command(struct media *m, const char *call_id, const char *cmd,
		  const char *params, media_resp_h *h, void *arg)
{
	if (m->state != MEDIA_STATE_UP)
		return -ENOTCONN;
	return ctrl_send(m, accounts_call_aor(m, call_id,
						   accounts_agent_aor(m)), call_id,
			 cmd, params, h, arg);
}

/* ---- connecting ---- */

static void try_connect(void *arg);

/* Did baresip's guard load? Without it ctrl_tcp is open to everyone. */
static bool guard_loaded(const struct media *m)
{
	char path[64], line[4608];
	bool found = false;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/maps", (int)m->pid);
	f = fopen(path, "re");
	if (!f)
		return false;
	while (!found && fgets(line, sizeof(line), f))
		found = strstr(line, "/" GUARD_NAME) != NULL;
	fclose(f);
	return found;
}

/* Before any command (the account lines carry the SIP password): the
 * port ccpd chose was free a moment before baresip bound it, and another
 * user may have bound it first; the kernel tells who owns the listening
 * end. And baresip must carry the guard. */
static int check_peer(struct media *m)
{
	uid_t uid;
	int r = ctrlguard_peer_uid(m->fd, &uid);

	if (r < 0) {
		log_error("media: cannot learn who holds the control port "
			  "127.0.0.1:%u: %s", m->port, strerror(-r));
		return -EPERM;
	}
	if (uid != geteuid()) {
		log_error("media: the control port 127.0.0.1:%u is held by "
			  "uid %u, not by baresip: not talking to it",
			  m->port, (unsigned)uid);
		return -EPERM;
	}
	if (!guard_loaded(m)) {
		log_error("media: baresip (pid %d) runs without %s: its "
			  "control port is open to every local user",
			  (int)m->pid, GUARD_NAME);
		return -ENOENT;
	}
	return 0;
}

static void connect_done(int flags, void *arg)
{
	struct media *m = arg;
	int soerr = 0, r;
	socklen_t len = sizeof(soerr);

	(void)flags;
	getsockopt(m->fd, SOL_SOCKET, SO_ERROR, &soerr, &len);
	if (soerr) {
		/* not listening yet: try again shortly */
		ctrl_close(m);
		tmr_start(&m->connect_tmr, CONNECT_RETRY_MS, try_connect, m);
		return;
	}
	r = check_peer(m);
	if (r < 0) {
		child_stop(m, r == -EPERM ?
			   "control port held by another user" :
			   "control port guard missing", r == -EPERM);
		return;
	}
	m->connected = true;
	if (config_nat_waiting(m))
		return;
	accounts_add(m);
}

static void try_connect(void *arg)
{
	struct media *m = arg;
	struct sockaddr_in sin = { .sin_family = AF_INET };
	int err;

	if (m->pid <= 0 || m->stopping)
		return;
	m->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (m->fd < 0)
		goto retry;
	if (netstring_new(&m->ns, CTRL_MAX_MSG) < 0)
		goto retry;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	sin.sin_port = htons((uint16_t)m->port);
	if (connect(m->fd, (struct sockaddr *)&sin, sizeof(sin)) < 0 &&
	    errno != EINPROGRESS)
		goto retry;
	err = fd_listen(m->fd, FD_WRITE, connect_done, m);
	if (err)
		goto retry;
	return;
retry:
	ctrl_close(m);
	tmr_start(&m->connect_tmr, CONNECT_RETRY_MS, try_connect, m);
}

void ctrl_start(struct media *m)
{
	tmr_start(&m->connect_tmr, CONNECT_RETRY_MS, try_connect, m);
}
