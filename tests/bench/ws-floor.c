/*
 * ws-floor: the floor of the WebSocket fan-out benchmark.
 *
 * A libwebsockets server that does nothing but broadcast: every line that
 * arrives on its Unix trigger socket goes out as one text frame to every
 * WebSocket client, from one shared buffer, written when each client is
 * writable. That is the least any server on libwebsockets can do to fan
 * one message out, so what the benchmark's clients measure against it is
 * the cost of the sockets, the wake-ups and the clients themselves.
 *
 * To look like ccpd to the same clients, it answers every text frame it
 * receives with a JSON-RPC result: one that holds "snapshot" when the
 * request names events.subscribe, an empty one otherwise. A trigger line
 * is answered with "ok\n" once every client has been asked for a write.
 *
 * usage: ws-floor PORT TRIGGER_SOCKET
 * Listens on 127.0.0.1:PORT only. Stops on SIGINT or SIGTERM.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <libwebsockets.h>

#define MAX_MSG 65536
#define MAX_REPLIES 4

static const char reply_plain[] =
	"{\"jsonrpc\":\"2.0\",\"id\":0,\"result\":{}}";
static const char reply_snapshot[] =
	"{\"jsonrpc\":\"2.0\",\"id\":1,\"result\":{\"snapshot\":{}}}";

/* The message being broadcast, after LWS_PRE bytes of headroom; gen
 * counts triggers so that each client sends each message once. */
static unsigned char msg[LWS_PRE + MAX_MSG];
static size_t msg_len;
static unsigned long gen;

/* the trigger line being assembled */
static char line[MAX_MSG];
static size_t line_len;

static volatile int stop;
static struct lws_context *ctx;

struct client {
	unsigned long sent_gen;
	const char *replies[MAX_REPLIES];
	unsigned n_replies;
};

static int write_text(struct lws *wsi, const char *text)
{
	unsigned char buf[LWS_PRE + 128];
	size_t n = strlen(text);

	memcpy(buf + LWS_PRE, text, n);
	return lws_write(wsi, buf + LWS_PRE, n, LWS_WRITE_TEXT) < (int)n ?
		-1 : 0;
}

static int ws_cb(struct lws *wsi, enum lws_callback_reasons reason,
		 void *user, void *in, size_t len)
{
	struct client *c = user;

	switch (reason) {
	case LWS_CALLBACK_ESTABLISHED:
		c->sent_gen = gen;
		c->n_replies = 0;
		break;
	case LWS_CALLBACK_RECEIVE:
		if (!lws_is_final_fragment(wsi))
			break;
		if (c->n_replies == MAX_REPLIES)
			return -1;
		c->replies[c->n_replies++] =
			memmem(in, len, "events.subscribe", 16) ?
			reply_snapshot : reply_plain;
		lws_callback_on_writable(wsi);
		break;
	case LWS_CALLBACK_SERVER_WRITEABLE:
		if (c->n_replies) {
			if (write_text(wsi, c->replies[0]) < 0)
				return -1;
			memmove(c->replies, c->replies + 1,
				--c->n_replies * sizeof(c->replies[0]));
		} else if (c->sent_gen != gen) {
			c->sent_gen = gen;
			if (lws_write(wsi, msg + LWS_PRE, msg_len,
				      LWS_WRITE_TEXT) < (int)msg_len)
				return -1;
		}
		if (c->n_replies || c->sent_gen != gen)
			lws_callback_on_writable(wsi);
		break;
	default:
		break;
	}
	return 0;
}

static const struct lws_protocols ws_protocols[] = {
	{ "floor", ws_cb, sizeof(struct client), 16384, 0, NULL, 0 },
	{ NULL, NULL, 0, 0, 0, NULL, 0 }
};

static void broadcast(struct lws *wsi)
{
	memcpy(msg + LWS_PRE, line, line_len);
	msg_len = line_len;
	gen++;
	lws_callback_on_writable_all_protocol(ctx, &ws_protocols[0]);
	if (write(lws_get_socket_fd(wsi), "ok\n", 3) != 3)
		lwsl_warn("trigger: could not answer\n");
}

static int trigger_cb(struct lws *wsi, enum lws_callback_reasons reason,
		      void *user, void *in, size_t len)
{
	const char *p = in;
	size_t i;

	(void)user;
	if (reason != LWS_CALLBACK_RAW_RX)
		return 0;
	for (i = 0; i < len; i++) {
		if (p[i] != '\n') {
			if (line_len == sizeof(line))
				return -1;
			line[line_len++] = p[i];
			continue;
		}
		broadcast(wsi);
		line_len = 0;
	}
	return 0;
}

static const struct lws_protocols trigger_protocols[] = {
	{ "trigger", trigger_cb, 0, 0, 0, NULL, 0 },
	{ NULL, NULL, 0, 0, 0, NULL, 0 }
};

static void on_signal(int sig)
{
	(void)sig;
	stop = 1;
	lws_cancel_service(ctx);
}

int main(int argc, char **argv)
{
	struct lws_context_creation_info info;

	if (argc != 3) {
		fprintf(stderr, "usage: ws-floor PORT TRIGGER_SOCKET\n");
		return 2;
	}
	lws_set_log_level(LLL_ERR | LLL_WARN, NULL);
	memset(&info, 0, sizeof(info));
	info.options = LWS_SERVER_OPTION_EXPLICIT_VHOSTS;
	info.port = CONTEXT_PORT_NO_LISTEN_SERVER;
	ctx = lws_create_context(&info);
	if (!ctx)
		return 1;

	memset(&info, 0, sizeof(info));
	info.vhost_name = "ws";
	info.port = atoi(argv[1]);
	info.iface = "127.0.0.1";
	info.protocols = ws_protocols;
	if (!lws_create_vhost(ctx, &info)) {
		fprintf(stderr, "ws-floor: cannot listen on 127.0.0.1:%s\n",
			argv[1]);
		goto fail;
	}

	memset(&info, 0, sizeof(info));
	info.vhost_name = "trigger";
	info.options = LWS_SERVER_OPTION_UNIX_SOCK |
		LWS_SERVER_OPTION_ADOPT_APPLY_LISTEN_ACCEPT_CONFIG;
	info.iface = argv[2];
	info.listen_accept_role = "raw-skt";
	info.listen_accept_protocol = "trigger";
	info.protocols = trigger_protocols;
	unlink(argv[2]);
	if (!lws_create_vhost(ctx, &info)) {
		fprintf(stderr, "ws-floor: cannot listen on %s\n", argv[2]);
		goto fail;
	}

	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);
	while (!stop && lws_service(ctx, 0) >= 0)
		;
	lws_context_destroy(ctx);
	unlink(argv[2]);
	return 0;
fail:
	lws_context_destroy(ctx);
	return 1;
}
