/* The HTTP port: WebSocket JSON-RPC, the static web/ files, /metrics,
 * the origin allowlist and TLS, with libwebsockets on libre's loop. */
#ifndef CCPD_WS_H
#define CCPD_WS_H

struct conf;
struct rpc;
struct store;
struct ws;

/* More Prometheus text for /metrics: *text is malloc'd, the caller frees
 * it. Returns 0 or a negative errno. */
typedef int (ws_metrics_h)(char **text, void *arg);

/* fd: an inherited listening TCP socket (socket activation), or -1 to
 * listen on conf->http_listen. st: the instance's origin allowlist
 * (admin.origins.*), read at each handshake. */
int ws_new(struct ws **ret, const struct conf *conf, struct rpc *rpc,
	   struct store *st, int fd);
struct ws *ws_free(struct ws *ws);

void ws_set_metrics(struct ws *ws, ws_metrics_h *h, void *arg);

/* The origin of the pages ccpd serves itself, e.g. http://127.0.0.1:8780 */
const char *ws_origin(const struct ws *ws);

#endif
