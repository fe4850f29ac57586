/* The HTTP port: WebSocket JSON-RPC (one message per text frame), the
 * static files of web/, /metrics, the origin allowlist and TLS.
 *
 * libwebsockets runs on its libuv backend over a uv loop of our own, and
 * that loop is pumped from libre's: its epoll fd is watched with
 * fd_listen and its next timeout becomes a libre timer. Debian's lws has
 * no external-poll support, and this keeps everything on one thread.
 * Connections are accepted here, on libre's side, and handed to lws by
 * adoption, so that a socket inherited from systemd and one we opened
 * ourselves take the same path. */
#include <ctype.h>
#include <errno.h>
#include <netdb.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include <libwebsockets.h>
#include <uv.h>
#include <re.h>

#include "ccpd-protocol.h"
#include "conf.h"
#include "events.h"
#include "httphdr.h"
#include "log.h"
#include "rpc.h"
#include "store.h"
#include "util.h"
#include "ws.h"

#define MAX_ORIGIN 256
#define MAX_ORIGINS 64
/* messages one client may be written at once when its turn comes in a
 * flush; a longer backlog waits for the socket to be writable */
#define FLUSH_BURST 8

/* lws_write puts the frame header in the bytes before the payload */
_Static_assert(LWS_PRE <= EVENTS_HEADROOM, "EVENTS_HEADROOM < LWS_PRE");

/* One queued message: a reference to a buffer that an event shares with
 * every other client's queue. lws_write frames it in its headroom, which
 * is the same for every client (a server does not mask), and copies what
 * a socket does not take at once. */
struct out {
	struct out *next;
	struct events_msg *msg;
};

/* Per connection (lws allocates and zeroes it): a WebSocket client, or
 * one HTTP transaction of /metrics. */
struct conn {
	struct ws *ws;
	struct lws *wsi;
	struct conn *prev, *next;
	struct rpc_peer *peer;
	bool up;                /* established: counted and listed */
	bool dead;              /* being dropped; sends are refused */
	struct le ready;        /* in ws->ready: has a write to make */
	char name[96];          /* the peer's address, for the log */
	/* the message being assembled from fragments */
	char *rx;
	size_t rx_len, rx_cap;
	struct out *head, *tail;
	size_t queued;
	/* /metrics: the body, after LWS_PRE bytes of headroom */
	unsigned char *body;
	size_t body_len;
};

struct ws {
	const struct conf *conf;
	struct rpc *rpc;
	struct store *st;
	uv_loop_t loop;
	bool loop_up;
	int uv_fd;
	struct tmr pump_tmr;
	struct lws_context *ctx;
	struct lws_vhost *vh;
	int fd;                 /* the listening socket */
	bool inherited;
	bool tls;
	struct conn *conns;
	unsigned n_conns;
	struct list ready;      /* clients with messages for the next flush */
	bool flushing;
	unsigned long long dropped, refused_origin, refused_full;
	struct log_limit refusals;
	char *origins[MAX_ORIGINS];
	size_t n_origins;
	lws_retry_bo_t retry;
	struct lws_http_mount mount_files, mount_metrics;
	struct lws_protocol_vhost_options headers[3];
	char csp[4096];         /* headers[2]'s value */
	ws_metrics_h *metrics_h;
	void *metrics_arg;
};

/* ---- the loop ---- */

static void flush(struct ws *ws);

static void pump(void *arg)
{
	struct ws *ws = arg;
	int t;

	flush(ws);
	uv_run(&ws->loop, UV_RUN_NOWAIT);
	/* what lws's callbacks queued just now goes out on the next turn */
	t = list_isempty(&ws->ready) ? uv_backend_timeout(&ws->loop) : 0;
	if (t >= 0)
		tmr_start(&ws->pump_tmr, (uint64_t)t, pump, ws);
	else
		tmr_cancel(&ws->pump_tmr);
}

static void uv_fd_ready(int flags, void *arg)
{
	(void)flags;
	pump(arg);
}

/* After any lws call made from libre's side, libuv must look again. */
static void kick(struct ws *ws)
{
	tmr_start(&ws->pump_tmr, 0, pump, ws);
}

static void lws_log(int level, const char *line)
{
	size_t n = strlen(line);

	while (n && (line[n - 1] == '\n' || line[n - 1] == '\r'))
		n--;
	log_msg(level == LLL_ERR ? LOG_ERR : level == LLL_WARN ?
		LOG_WARNING : LOG_DEBUG, "ws: lws: %.*s", (int)n, line);
}

/* ---- origins ---- */

static int add_origin(struct ws *ws, const char *o)
{
	size_t i;

	for (i = 0; i < ws->n_origins; i++)
		if (strcasecmp(ws->origins[i], o) == 0)
			return 0;
	if (ws->n_origins == MAX_ORIGINS)
		return -E2BIG;
	ws->origins[ws->n_origins] = strdup(o);
	if (!ws->origins[ws->n_origins])
		return -ENOMEM;
	ws->n_origins++;
	return 0;
}

/* scheme://host[:port] as a browser writes it: no port when it is the
 * scheme's default. */
static int add_own(struct ws *ws, const char *host, unsigned port)
{
	const char *scheme = ws->tls ? "https" : "http";
	bool dflt = port == (ws->tls ? 443u : 80u);
	bool v6 = strchr(host, ':') != NULL;
	char o[MAX_ORIGIN];

	snprintf(o, sizeof(o), "%s://%s%s%s", scheme, v6 ? "[" : "", host,
		 v6 ? "]" : "");
	if (!dflt)
		snprintf(o + strlen(o), sizeof(o) - strlen(o), ":%u", port);
	return add_origin(ws, o);
}

static int add_list(struct ws *ws, const char *list)
{
	char *copy = strdup(list), *tok, *save = NULL;
	int r = 0;

	if (!copy)
		return -ENOMEM;
	for (tok = strtok_r(copy, ", \t", &save); tok && r == 0;
	     tok = strtok_r(NULL, ", \t", &save))
		r = add_origin(ws, tok);
	free(copy);
	return r;
}

/* By default only ccpd's own origin: the page it serves. On loopback
 * that is the address and its usual names. Matched exactly on scheme,
 * host and port, never on the Host header (DNS rebinding). */
static int make_origins(struct ws *ws, unsigned port)
{
	char host[256];
	unsigned p;
	int r = 0;

	if (conf_split_addr(ws->conf->http_listen, host, sizeof(host),
			    &p) == 0) {
		if (conf_host_is_loopback(host)) {
			r = add_own(ws, "127.0.0.1", port);
			if (r == 0)
				r = add_own(ws, "localhost", port);
			if (r == 0)
				r = add_own(ws, "::1", port);
			if (r == 0 && strcmp(host, "127.0.0.1") != 0 &&
			    strcmp(host, "localhost") != 0 &&
			    strcmp(host, "::1") != 0)
				r = add_own(ws, host, port);
		} else if (strcmp(host, "0.0.0.0") != 0 &&
			   strcmp(host, "::") != 0) {
			r = add_own(ws, host, port);
		}
	}
	if (r == 0 && ws->n_origins == 0)
		r = add_own(ws, "127.0.0.1", port);
	if (r == 0)
		r = add_list(ws, ws->conf->http_origin);
	if (r == 0)
		r = add_list(ws, ws->conf->http_origins);
	return r;
}

/* The fixed list (own origin, settings), then the instance's allowlist in
 * the store (admin.origins.*), which keeps origins in lower case. */
static bool origin_allowed(const struct ws *ws, const char *o)
{
	char lower[MAX_ORIGIN];
	cJSON *row = NULL;
	size_t i;

	if (!*o)
		return false;
	for (i = 0; i < ws->n_origins; i++)
		if (strcasecmp(ws->origins[i], o) == 0)
			return true;
	if (!ws->st)
		return false;
	for (i = 0; o[i] && i < sizeof(lower) - 1; i++)
		lower[i] = (char)tolower((unsigned char)o[i]);
	lower[i] = '\0';
	if (store_get(ws->st, &store_origins, lower, &row) < 0)
		return false;
	cJSON_Delete(row);
	return true;
}

/* Pages that may frame the CCP: those allowed to open its WebSocket.
 * Any other page (a lookalike that would overlay its buttons) gets a
 * frame the browser will not fill. lws sends the vhost's headers with
 * every answer, this one among them; it is written again before each
 * request, since the store's origins change while ccpd runs. */
static void update_csp(struct ws *ws)
{
	const cJSON *row;
	cJSON *list = NULL;
	size_t i;

	snprintf(ws->csp, sizeof(ws->csp), "frame-ancestors 'self'");
	for (i = 0; i < ws->n_origins; i++)
		httphdr_add_ancestor(ws->csp, sizeof(ws->csp), ws->origins[i]);
	if (ws->st && store_list(ws->st, &store_origins, &list) == 0)
		cJSON_ArrayForEach(row, list) {
			const char *o = cJSON_GetStringValue(
				cJSON_GetObjectItemCaseSensitive(row,
								 "origin"));

			if (o)
				httphdr_add_ancestor(ws->csp, sizeof(ws->csp), o);
		}
	cJSON_Delete(list);
}

const char *ws_origin(const struct ws *ws)
{
	return ws->n_origins ? ws->origins[0] : "";
}

/* ---- WebSocket clients ---- */

static void drop(struct conn *c, const char *why)
{
	if (c->dead)
		return;
	log_info("ws: dropping client %s: %s", c->name, why);
	c->dead = true;
	/* it may never become writable again: close from lws's side */
	lws_set_timeout(c->wsi, PENDING_TIMEOUT_USER_OK, LWS_TO_KILL_ASYNC);
	kick(c->ws);
}

/* ---- writing: a burst of messages goes out in one flush ---- */

static void ready_add(struct conn *c)
{
	struct ws *ws = c->ws;

	if (c->ready.list)
		return;
	/* the first of a burst schedules the flush */
	if (list_isempty(&ws->ready))
		kick(ws);
	list_append(&ws->ready, &c->ready, c);
}

/* Every listed client's queue goes out now, through lws's own POLLOUT
 * handling: lws first sends what it holds for the connection (a partial
 * frame, a pong, a close), then calls SERVER_WRITEABLE, where writeable()
 * makes the one lws_write. Asking lws_callback_on_writable() for each
 * client instead costs four epoll_ctl calls per client and message on
 * libuv, whose uv_poll_start deletes the fd from epoll and adds it back
 * each time lws turns POLLOUT on and again when it turns it off: with
 * hundreds of clients, that was most of a fan-out. A socket that does not
 * take a whole frame leaves the rest with lws, which then waits for POLLOUT
 * itself; so does a backlog longer than FLUSH_BURST. */
static void flush(struct ws *ws)
{
	struct conn *c;
	unsigned n;

	ws->flushing = true;
	while (!list_isempty(&ws->ready)) {
		c = list_ledata(list_head(&ws->ready));
		list_unlink(&c->ready);
		for (n = 0; n < FLUSH_BURST && c->head && !c->dead &&
		     !lws_partial_buffered(c->wsi); n++)
			if (lws_handle_POLLOUT_event(c->wsi, NULL))
				drop(c, "cannot write");
		if (c->head && !c->dead)
			lws_callback_on_writable(c->wsi);
	}
	ws->flushing = false;
}

static int enqueue(struct conn *c, struct events_msg *m)
{
	size_t len = events_msg_len(m);
	struct out *o;

	if (c->dead)
		return -EPIPE;
	/* one message of any size may wait; a backlog past the bound means
	 * the client cannot keep up */
	if (c->queued && c->queued + len > c->ws->conf->ws_max_queue) {
		c->ws->dropped++;
		drop(c, "too slow: send queue full");
		return -ENOBUFS;
	}
	o = malloc(sizeof(*o));
	if (!o) {
		drop(c, "out of memory");
		return -ENOMEM;
	}
	o->next = NULL;
	o->msg = events_msg_ref(m);
	if (c->tail)
		c->tail->next = o;
	else
		c->head = o;
	c->tail = o;
	c->queued += len;
	ready_add(c);
	return 0;
}

/* An answer, for this client alone. */
static int conn_send(void *t, const char *msg, size_t len)
{
	struct events_msg *m = events_msg_new(msg, len);
	int r;

	if (!m) {
		drop(t, "out of memory");
		return -ENOMEM;
	}
	r = enqueue(t, m);
	events_msg_unref(m);
	return r;
}

/* An event, in the buffer every subscriber shares. */
static int conn_send_shared(void *t, struct events_msg *m)
{
	return enqueue(t, m);
}

static void drop_peer(void *t, const char *why);

static const struct rpc_transport transport = {
	.send = conn_send,
	.send_shared = conn_send_shared,
	.drop = drop_peer,
};

static void conn_clear(struct conn *c)
{
	struct out *o, *next;

	list_unlink(&c->ready);
	for (o = c->head; o; o = next) {
		next = o->next;
		events_msg_unref(o->msg);
		free(o);
	}
	c->head = c->tail = NULL;
	c->queued = 0;
	free(c->rx);
	c->rx = NULL;
	c->rx_len = c->rx_cap = 0;
	free(c->body);
	c->body = NULL;
}

static void peer_name(struct lws *wsi, char *buf, size_t size)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);
	char host[64], serv[16];

	snprintf(buf, size, "?");
	if (getpeername(lws_get_socket_fd(wsi), (struct sockaddr *)&ss,
			&len) < 0)
		return;
	if (getnameinfo((struct sockaddr *)&ss, len, host, sizeof(host), serv,
			sizeof(serv), NI_NUMERICHOST | NI_NUMERICSERV) == 0)
		snprintf(buf, size, "%s:%s", host, serv);
}

/* ---- who the client is: its address, or behind a trusted proxy the
 * one the proxy names ---- */

static bool is_trusted_proxy(const struct ws *ws, const char *addr)
{
	return httphdr_in_list(ws->conf->trusted_proxies, addr);
}

/* X-Forwarded-For lists the client, then each proxy it went through;
 * every proxy appends the address it saw (see httphdr.c). */
static void forwarded_for(const struct ws *ws, struct lws *wsi, char *addr,
			  size_t size)
{
	int len = lws_hdr_total_length(wsi, WSI_TOKEN_X_FORWARDED_FOR);
	char *xff;

	if (len <= 0 || !(xff = malloc((size_t)len + 1)))
		return;
	if (lws_hdr_copy(wsi, xff, len + 1, WSI_TOKEN_X_FORWARDED_FOR) >= 0)
		httphdr_forwarded_for(xff, ws->conf->trusted_proxies, addr,
				      size);
	free(xff);
}

/* The client's address for throttling and the log: the peer's, or the
 * one a trusted proxy forwarded for. */
static void client_address(const struct ws *ws, struct lws *wsi,
			   char *addr, size_t size)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);

	snprintf(addr, size, "?");
	if (getpeername(lws_get_socket_fd(wsi), (struct sockaddr *)&ss,
			&len) < 0 ||
	    getnameinfo((struct sockaddr *)&ss, len, addr, (socklen_t)size,
			NULL, 0, NI_NUMERICHOST) != 0)
		return;
	if (is_trusted_proxy(ws, addr))
		forwarded_for(ws, wsi, addr, size);
}

static bool peer_is_loopback(struct lws *wsi)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);

	if (getpeername(lws_get_socket_fd(wsi), (struct sockaddr *)&ss,
			&len) < 0)
		return false;
	if (ss.ss_family == AF_INET) {
		const struct sockaddr_in *in = (const void *)&ss;

		return (ntohl(in->sin_addr.s_addr) >> 24) == 127;
	}
	if (ss.ss_family == AF_INET6) {
		const struct sockaddr_in6 *in6 = (const void *)&ss;
		const uint8_t *a = in6->sin6_addr.s6_addr;

		if (IN6_IS_ADDR_LOOPBACK(&in6->sin6_addr))
			return true;
		return IN6_IS_ADDR_V4MAPPED(&in6->sin6_addr) && a[12] == 127;
	}
	return false;
}

/* rpc's verdict on a client that did not log in in time. */
static void drop_peer(void *t, const char *why)
{
	struct conn *c = t;

	if (!c->up)
		return;
	drop(c, why);
	/* from a timer of ours lws's own timeout may wait for its next
	 * wake-up; asked to write, it finds the client dead and closes */
	lws_callback_on_writable(c->wsi);
}

static int established(struct ws *ws, struct conn *c, struct lws *wsi)
{
	/* no credentials here: a WebSocket client must log in before
	 * anything but the public methods; throttled per address */
	struct rpc_peer_info info = { .trusted = false, .uid = (unsigned)-1 };
	char addr[INET6_ADDRSTRLEN + 8];

	c->ws = ws;
	c->wsi = wsi;
	peer_name(wsi, c->name, sizeof(c->name));
	client_address(ws, wsi, addr, sizeof(addr));
	snprintf(info.name, sizeof(info.name), "ws:%.44s", addr);
	if (strncmp(c->name, addr, strlen(addr)) != 0)
		snprintf(c->name + strlen(c->name),
			 sizeof(c->name) - strlen(c->name), " for %s", addr);
	if (rpc_peer_new(&c->peer, ws->rpc, &transport, c, &info) < 0)
		return -1;
	c->up = true;
	c->next = ws->conns;
	if (ws->conns)
		ws->conns->prev = c;
	ws->conns = c;
	ws->n_conns++;
	log_debug("ws: client %s connected (%u now)", c->name, ws->n_conns);
	return 0;
}

static void closed(struct ws *ws, struct conn *c)
{
	if (!c->up)
		return;
	c->up = false;
	if (c->prev)
		c->prev->next = c->next;
	else
		ws->conns = c->next;
	if (c->next)
		c->next->prev = c->prev;
	ws->n_conns--;
	c->peer = rpc_peer_free(c->peer);
	conn_clear(c);
	log_debug("ws: client %s gone (%u now)", c->name, ws->n_conns);
}

static int receive(struct conn *c, struct lws *wsi, const char *in,
		   size_t len)
{
	size_t max = c->ws->conf->ws_max_message;
	char reason[64];

	if (c->dead)
		return -1;
	if (lws_frame_is_binary(wsi)) {
		lws_close_reason(wsi, LWS_CLOSE_STATUS_UNACCEPTABLE_OPCODE,
				 (unsigned char *)"text frames only", 16);
		return -1;
	}
	if (c->rx_len + len > max) {
		/* no whole-message bound in lws 4.1: ours, with 1009 */
		snprintf(reason, sizeof(reason), "message exceeds %zu bytes",
			 max);
		log_debug("ws: client %s: %s", c->name, reason);
		lws_close_reason(wsi, LWS_CLOSE_STATUS_MESSAGE_TOO_LARGE,
				 (unsigned char *)reason, strlen(reason));
		return -1;
	}
	if (!c->rx_len && lws_is_final_fragment(wsi)) {
		/* the usual case, a message in one piece: read in place */
		if (len)
			rpc_peer_input(c->peer, in, len);
		return c->dead ? -1 : 0;
	}
	if (c->rx_len + len > c->rx_cap) {
		size_t cap = c->rx_cap ? c->rx_cap : 4096;
		char *p;

		while (cap < c->rx_len + len)
			cap *= 2;
		if (cap > max)
			cap = max;
		p = realloc(c->rx, cap);
		if (!p)
			return -1;
		c->rx = p;
		c->rx_cap = cap;
	}
	memcpy(c->rx + c->rx_len, in, len);
	c->rx_len += len;
	if (!lws_is_final_fragment(wsi))
		return 0;
	rpc_peer_input(c->peer, c->rx, c->rx_len);
	/* kept only while a message is in pieces: idle clients are many */
	free(c->rx);
	c->rx = NULL;
	c->rx_len = c->rx_cap = 0;
	return c->dead ? -1 : 0;
}

static int writeable(struct conn *c, struct lws *wsi)
{
	struct out *o = c->head;
	size_t len;

	if (c->dead)
		return -1;
	if (!o)
		return 0;
	/* one lws_write per callback; lws holds what the socket refuses */
	len = events_msg_len(o->msg);
	if (lws_write(wsi, (unsigned char *)events_msg_line(o->msg), len,
		      LWS_WRITE_TEXT) < (int)len)
		return -1;
	c->head = o->next;
	if (!c->head)
		c->tail = NULL;
	c->queued -= len;
	events_msg_unref(o->msg);
	free(o);
	/* in a flush, the flush decides whether to wait for POLLOUT */
	if (c->head && !c->ws->flushing)
		lws_callback_on_writable(wsi);
	return 0;
}

/* ---- HTTP ---- */

/* 0 to let the upgrade go on; >0 when a status was answered. */
static int confirm_upgrade(struct ws *ws, struct lws *wsi, const char *proto)
{
	char origin[MAX_ORIGIN] = "", name[96], note[64];

	if (!proto || strcmp(proto, "websocket") != 0)
		return -1;
	if (lws_hdr_total_length(wsi, WSI_TOKEN_ORIGIN) >= (int)sizeof(origin)
	    || lws_hdr_copy(wsi, origin, sizeof(origin),
			    WSI_TOKEN_ORIGIN) < 0)
		origin[0] = '\0';
	/* anyone can repeat a refusal at will: not a line each time */
	if (!origin_allowed(ws, origin)) {
		peer_name(wsi, name, sizeof(name));
		if (log_limit_pass(&ws->refusals, util_now_ms(), note,
				   sizeof(note)))
			log_notice("ws: refusing %s: origin '%s' is not "
				   "allowed%s", name, origin[0] ? origin :
				   "(none)", note);
		ws->refused_origin++;
		lws_return_http_status(wsi, HTTP_STATUS_FORBIDDEN,
				       "origin not allowed");
		return 1;
	}
	if (ws->n_conns >= ws->conf->ws_max_clients) {
		if (log_limit_pass(&ws->refusals, util_now_ms(), note,
				   sizeof(note)))
			log_warning("ws: refusing a client: %u clients "
				    "already%s", ws->n_conns, note);
		ws->refused_full++;
		lws_return_http_status(wsi, HTTP_STATUS_SERVICE_UNAVAILABLE,
				       "too many clients");
		return 1;
	}
	return 0;
}

static char *render_metrics(struct ws *ws, size_t *len)
{
	char *extra = NULL, *text = NULL;
	size_t n;
	int r;

	if (ws->metrics_h && ws->metrics_h(&extra, ws->metrics_arg) < 0)
		log_warning("ws: /metrics: the store's figures failed, "
			    "ignoring");
	r = asprintf(&text,
		"# HELP ccpd_ws_clients WebSocket clients attached.\n"
		"# TYPE ccpd_ws_clients gauge\n"
		"ccpd_ws_clients %u\n"
		"# HELP ccpd_ws_dropped_total WebSocket clients dropped for "
		"not reading their messages.\n"
		"# TYPE ccpd_ws_dropped_total counter\n"
		"ccpd_ws_dropped_total %llu\n"
		"# HELP ccpd_ws_refused_total WebSocket handshakes refused.\n"
		"# TYPE ccpd_ws_refused_total counter\n"
		"ccpd_ws_refused_total{reason=\"origin\"} %llu\n"
		"ccpd_ws_refused_total{reason=\"capacity\"} %llu\n%s",
		ws->n_conns, ws->dropped, ws->refused_origin,
		ws->refused_full, extra ? extra : "");
	free(extra);
	if (r < 0)
		return NULL;
	/* room for lws's headroom in front */
	n = (size_t)r;
	extra = malloc(LWS_PRE + n);
	if (extra)
		memcpy(extra + LWS_PRE, text, n);
	free(text);
	*len = n;
	return extra;
}

static int http_done(struct lws *wsi)
{
	return lws_http_transaction_completed(wsi) ? -1 : 0;
}

static int metrics_request(struct ws *ws, struct conn *c, struct lws *wsi,
			   const char *rest)
{
	unsigned char hdr[LWS_PRE + 512], *start = hdr + LWS_PRE, *p = start,
		      *end = hdr + sizeof(hdr) - 1;
	const char *access = ws->conf->metrics_access;

	if ((rest && *rest && strcmp(rest, "/") != 0) ||
	    strcmp(access, "off") == 0) {
		lws_return_http_status(wsi, HTTP_STATUS_NOT_FOUND, NULL);
		return http_done(wsi);
	}
	if (strcmp(access, "loopback") == 0 && !peer_is_loopback(wsi)) {
		lws_return_http_status(wsi, HTTP_STATUS_FORBIDDEN,
				       "metrics are for loopback clients");
		return http_done(wsi);
	}
	c->body = (unsigned char *)render_metrics(ws, &c->body_len);
	if (!c->body) {
		lws_return_http_status(wsi, HTTP_STATUS_INTERNAL_SERVER_ERROR,
				       NULL);
		return http_done(wsi);
	}
	if (lws_add_http_common_headers(wsi, HTTP_STATUS_OK,
			"text/plain; version=0.0.4; charset=utf-8",
			c->body_len, &p, end) ||
	    lws_add_http_header_by_token(wsi, WSI_TOKEN_HTTP_CACHE_CONTROL,
			(const unsigned char *)"no-store", 8, &p, end) ||
	    lws_finalize_write_http_header(wsi, start, &p, end))
		return -1;
	lws_callback_on_writable(wsi);
	return 0;
}

static int metrics_write(struct conn *c, struct lws *wsi)
{
	int n;

	if (!c->body)
		return 0;
	n = lws_write(wsi, c->body + LWS_PRE, c->body_len,
		      LWS_WRITE_HTTP_FINAL);
	free(c->body);
	c->body = NULL;
	if (n < (int)c->body_len)
		return -1;
	return http_done(wsi);
}

static int callback(struct lws *wsi, enum lws_callback_reasons reason,
		    void *user, void *in, size_t len)
{
	struct ws *ws = lws_context_user(lws_get_context(wsi));
	struct conn *c = user;

	switch (reason) {
	case LWS_CALLBACK_HTTP_CONFIRM_UPGRADE:
		return confirm_upgrade(ws, wsi, in);
	case LWS_CALLBACK_FILTER_HTTP_CONNECTION:
		update_csp(ws);
		break;
	case LWS_CALLBACK_HTTP:
		/* only the /metrics mount comes here; files are lws's */
		c->ws = ws;
		c->wsi = wsi;
		return metrics_request(ws, c, wsi, in);
	case LWS_CALLBACK_HTTP_WRITEABLE:
		if (c && c->body)
			return metrics_write(c, wsi);
		break;
	case LWS_CALLBACK_HTTP_DROP_PROTOCOL:
	case LWS_CALLBACK_CLOSED_HTTP:
		if (c && !c->up) {
			free(c->body);
			c->body = NULL;
		}
		break;
	case LWS_CALLBACK_ESTABLISHED:
		return established(ws, c, wsi);
	case LWS_CALLBACK_RECEIVE:
		/* lws closes it now: nothing more is written to it */
		if (receive(c, wsi, in, len) < 0)
			c->dead = true;
		return c->dead ? -1 : 0;
	case LWS_CALLBACK_SERVER_WRITEABLE:
		return writeable(c, wsi);
	case LWS_CALLBACK_CLOSED:
		closed(ws, c);
		return 0;
	default:
		break;
	}
	return lws_callback_http_dummy(wsi, reason, user, in, len);
}

static const struct lws_protocols protocols[] = {
	{
		.name = "ccpd",
		.callback = callback,
		.per_session_data_size = sizeof(struct conn),
		.rx_buffer_size = 4096,
	},
	{ 0 }
};

/* ---- the listening socket ---- */

static void accept_ready(int flags, void *arg)
{
	struct ws *ws = arg;
	int i, fd;

	(void)flags;
	for (i = 0; i < 32; i++) {
		fd = accept4(ws->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd < 0)
			break;
		/* lws closes the fd itself when adoption fails */
		if (!lws_adopt_socket_vhost(ws->vh, fd))
			log_warning("ws: could not take a connection, "
				    "ignoring");
	}
	kick(ws);
}

static int listen_on(const char *addr, unsigned *port)
{
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM,
				  .ai_flags = AI_PASSIVE };
	struct addrinfo *res = NULL;
	char host[256], serv[8];
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);
	int fd = -1, one = 1, r;

	if (conf_split_addr(addr, host, sizeof(host), port) < 0)
		return -EINVAL;
	snprintf(serv, sizeof(serv), "%u", *port);
	r = getaddrinfo(host, serv, &hints, &res);
	if (r != 0)
		return r == EAI_SYSTEM ? -errno : -EADDRNOTAVAIL;
	fd = socket(res->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC,
		    0);
	if (fd < 0) {
		r = -errno;
		goto out;
	}
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(fd, res->ai_addr, res->ai_addrlen) < 0 ||
	    listen(fd, 128) < 0) {
		r = -errno;
		close(fd);
		fd = -1;
		goto out;
	}
	if (getsockname(fd, (struct sockaddr *)&ss, &sl) == 0)
		*port = ntohs(ss.ss_family == AF_INET6 ?
			      ((struct sockaddr_in6 *)&ss)->sin6_port :
			      ((struct sockaddr_in *)&ss)->sin_port);
	r = fd;
out:
	freeaddrinfo(res);
	return r;
}

static unsigned socket_port(int fd)
{
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);

	if (getsockname(fd, (struct sockaddr *)&ss, &sl) < 0)
		return 0;
	return ntohs(ss.ss_family == AF_INET6 ?
		     ((struct sockaddr_in6 *)&ss)->sin6_port :
		     ((struct sockaddr_in *)&ss)->sin_port);
}

/* ---- life ---- */

static int make_context(struct ws *ws)
{
	const struct conf *conf = ws->conf;
	struct lws_context_creation_info info;
	void *loops[1] = { &ws->loop };

	memset(&info, 0, sizeof(info));
	info.options = LWS_SERVER_OPTION_LIBUV |
		LWS_SERVER_OPTION_EXPLICIT_VHOSTS |
		LWS_SERVER_OPTION_VALIDATE_UTF8 |
		(ws->tls ? LWS_SERVER_OPTION_DO_SSL_GLOBAL_INIT : 0);
	info.foreign_loops = loops;
	info.user = ws;
	info.port = CONTEXT_PORT_NO_LISTEN_SERVER;
	info.pcontext = &ws->ctx;
	ws->ctx = lws_create_context(&info);
	if (!ws->ctx)
		return -EIO;

	/* the files of web/ at /, /metrics from us (longest match wins) */
	ws->mount_files.mountpoint = "/";
	ws->mount_files.mountpoint_len = 1;
	ws->mount_files.origin = conf->web_root;
	ws->mount_files.def = "index.html";
	ws->mount_files.origin_protocol = LWSMPRO_FILE;
	ws->mount_files.cache_max_age = 0;
	ws->mount_files.cache_revalidate = 1;
	ws->mount_files.mount_next = &ws->mount_metrics;
	ws->mount_metrics.mountpoint = "/metrics";
	ws->mount_metrics.mountpoint_len = 8;
	ws->mount_metrics.origin = "ccpd";
	ws->mount_metrics.protocol = "ccpd";
	ws->mount_metrics.origin_protocol = LWSMPRO_CALLBACK;

	ws->headers[0].name = "x-content-type-options:";
	ws->headers[0].value = "nosniff";
	ws->headers[0].next = &ws->headers[1];
	ws->headers[1].name = "referrer-policy:";
	ws->headers[1].value = "no-referrer";
	ws->headers[1].next = &ws->headers[2];
	ws->headers[2].name = "content-security-policy:";
	ws->headers[2].value = ws->csp;
	update_csp(ws);

	/* a ping after ws_ping_interval quiet seconds; no answer within as
	 * long again and the peer is dropped */
	ws->retry.secs_since_valid_ping = (uint16_t)conf->ws_ping_interval;
	ws->retry.secs_since_valid_hangup =
		(uint16_t)(conf->ws_ping_interval * 2);

	memset(&info, 0, sizeof(info));
	info.vhost_name = "ccpd";
	info.port = CONTEXT_PORT_NO_LISTEN_SERVER;
	info.protocols = protocols;
	info.mounts = &ws->mount_files;
	info.headers = &ws->headers[0];
	info.retry_and_idle_policy = conf->ws_ping_interval ? &ws->retry :
		NULL;
	info.timeout_secs = 20;
	info.alpn = "http/1.1";
	if (ws->tls) {
		info.options = LWS_SERVER_OPTION_DO_SSL_GLOBAL_INIT;
		info.ssl_cert_filepath = conf->http_tls_cert;
		info.ssl_private_key_filepath = conf->http_tls_key;
	}
	ws->vh = lws_create_vhost(ws->ctx, &info);
	if (!ws->vh) {
		log_error("ws: cannot create the HTTP service%s",
			  ws->tls ? " (check http_tls_cert and "
			  "http_tls_key)" : "");
		return -EINVAL;
	}
	return 0;
}

int ws_new(struct ws **ret, const struct conf *conf, struct rpc *rpc,
	   struct store *st, int fd)
{
	struct ws *ws = calloc(1, sizeof(*ws));
	unsigned port = 0;
	int r, err;

	if (!ws)
		return -ENOMEM;
	ws->conf = conf;
	ws->rpc = rpc;
	ws->st = st;
	ws->fd = -1;
	ws->uv_fd = -1;
	ws->tls = *conf->http_tls_cert != '\0';
	tmr_init(&ws->pump_tmr);
	lws_set_log_level(LLL_ERR | LLL_WARN |
			  (log_parse_level(conf->log_level) >= LOG_DEBUG ?
			   LLL_NOTICE : 0), lws_log);

	if (fd >= 0) {
		/* inherited fds arrive blocking and without close-on-exec */
		r = util_set_nonblock_cloexec(fd);
		if (r < 0)
			goto fail;
		ws->fd = fd;
		ws->inherited = true;
		port = socket_port(fd);
	} else {
		ws->fd = listen_on(conf->http_listen, &port);
		if (ws->fd < 0) {
			r = ws->fd;
			log_error("ws: cannot listen on %s: %s",
				  conf->http_listen, strerror(-r));
			goto fail;
		}
	}
	r = make_origins(ws, port);
	if (r < 0)
		goto fail;

	r = uv_loop_init(&ws->loop);
	if (r < 0) {
		r = -EIO;
		goto fail;
	}
	ws->loop_up = true;
	r = make_context(ws);
	if (r < 0)
		goto fail;
	ws->uv_fd = uv_backend_fd(&ws->loop);
	err = fd_listen(ws->uv_fd, FD_READ, uv_fd_ready, ws);
	if (!err)
		err = fd_listen(ws->fd, FD_READ, accept_ready, ws);
	if (err) {
		r = -err;
		goto fail;
	}
	kick(ws);
	log_info("ws: serving %s on %s%s (%s), origins: %s%s",
		 conf->web_root, ws->inherited ? "inherited socket " : "",
		 ws->inherited ? "" : conf->http_listen,
		 ws->tls ? "https, wss" : "http, ws", ws_origin(ws),
		 ws->n_origins > 3 ? " and more" : "");
	*ret = ws;
	return 0;
fail:
	ws_free(ws);
	return r;
}

void ws_set_metrics(struct ws *ws, ws_metrics_h *h, void *arg)
{
	ws->metrics_h = h;
	ws->metrics_arg = arg;
}

struct ws *ws_free(struct ws *ws)
{
	size_t i;
	int n;

	if (!ws)
		return NULL;
	if (ws->fd >= 0) {
		fd_close(ws->fd);
		/* an inherited socket stays open for systemd to hand on */
		if (!ws->inherited)
			close(ws->fd);
	}
	if (ws->ctx) {
		lws_context_destroy(ws->ctx);
		/* with a foreign loop the context finishes going once libuv
		 * has closed its handles */
		for (n = 0; n < 1000 && uv_run(&ws->loop, UV_RUN_NOWAIT); n++)
			;
		if (ws->ctx)
			lws_context_destroy(ws->ctx);
	}
	tmr_cancel(&ws->pump_tmr);
	if (ws->uv_fd >= 0)
		fd_close(ws->uv_fd);
	if (ws->loop_up) {
		uv_run(&ws->loop, UV_RUN_NOWAIT);
		if (uv_loop_close(&ws->loop) != 0)
			log_warning("ws: the uv loop still had handles at "
				    "exit, ignoring");
	}
	for (i = 0; i < ws->n_origins; i++)
		free(ws->origins[i]);
	free(ws);
	return NULL;
}
