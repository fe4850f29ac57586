/* libFuzzer harness for dispatch: any message, one request or a batch,
 * goes through rpc_peer_input to the real method table, each method's
 * parameter checks, the admin validators and the desk, built from the
 * daemon's objects minus main. The desk is made but never started, so
 * no baresip runs: calls that need media are refused as they would be
 * before it is up. The first byte picks the peer: an administrator by its
 * credentials (every method is reachable) or an anonymous one (only the
 * public methods are). Whatever comes in, every message out must be one
 * JSON-RPC answer, or an array of them, or an event, on one line. */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <re.h>
#include <cjson/cJSON.h>

#include "admin.h"
#include "auth.h"
#include "ccpd-protocol.h"
#include "conf.h"
#include "desk.h"
#include "events.h"
#include "log.h"
#include "rpc.h"
#include "store.h"

#include "daemon.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct conf conf;
static struct store *st;
static struct auth *auth;
static struct events *ev;
static struct desk *desk;
static struct admin *admin;
static struct rpc *rpc;
static struct rpc_peer *peers[2];

static bool answer_ok(const cJSON *a)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(a, "jsonrpc");
	const cJSON *e = cJSON_GetObjectItemCaseSensitive(a, "error");

	if (!cJSON_IsObject(a) || !cJSON_IsString(v) ||
	    strcmp(v->valuestring, "2.0") != 0)
		return false;
	if (cJSON_GetObjectItemCaseSensitive(a, "method"))
		return true;    /* an event */
	if (!cJSON_HasObjectItem(a, "id"))
		return false;
	if (e)
		return cJSON_IsNumber(cJSON_GetObjectItemCaseSensitive(e,
								       "code"))
		       && cJSON_IsObject(cJSON_GetObjectItemCaseSensitive(
					  e, "data"));
	return cJSON_HasObjectItem(a, "result");
}

static int sink(void *t, const char *msg, size_t len)
{
	cJSON *doc, *a;
	int n = 0;

	(void)t;
	if (memchr(msg, '\n', len))
		abort();
	doc = cJSON_ParseWithLength(msg, len);
	if (!doc)
		abort();
	if (cJSON_IsArray(doc)) {
		cJSON_ArrayForEach(a, doc) {
			if (!answer_ok(a) || cJSON_HasObjectItem(a, "method"))
				abort();
			n++;
		}
		if (n < 1 || n > CCPD_MAX_BATCH)
			abort();
	} else if (!answer_ok(doc)) {
		abort();
	}
	cJSON_Delete(doc);
	return 0;
}

static const struct rpc_transport transport = { .send = sink };

static void ready(void *arg)
{
	(void)arg;
}

static void die(const char *what, int r)
{
	fprintf(stderr, "fuzz-rpc: %s failed: %d\n", what, r);
	exit(1);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	const struct auth_settings as = {
		.session_timeout = 3600, .login_failures = 5,
		.login_lockout = 1, .password_min = 8,
	};
	struct rpc_peer_info admin_peer = { .trusted = true, .uid = 0,
					    .name = "uid:0" };
	struct rpc_peer_info anon = { .uid = (unsigned)-1,
				      .name = "ws:192.0.2.1" };
	int r;

	(void)argc;
	(void)argv;
	fuzz_daemon("rpc", &conf, NULL, &st, &ev);
	if ((r = auth_new(&auth, st, &as)) < 0 || (r = auth_seed(auth)) < 0)
		die("auth", r);
	if ((r = desk_new(&desk, &conf, ev, st, ready, NULL)) < 0)
		die("desk_new", r);
	if ((r = admin_new(&admin, st, auth, desk, &conf)) < 0)
		die("admin_new", r);
	if ((r = rpc_new(&rpc, &conf, desk, ev, st, auth, admin)) < 0)
		die("rpc_new", r);
	if (rpc_peer_new(&peers[0], rpc, &transport, NULL, &admin_peer) < 0 ||
	    rpc_peer_new(&peers[1], rpc, &transport, NULL, &anon) < 0)
		die("rpc_peer_new", -1);
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	/* the transports never hand over more than one bounded message */
	if (size < 1 || size > CCPD_MAX_MESSAGE)
		return 0;
	rpc_peer_input(peers[data[0] & 1], (const char *)data + 1, size - 1);
	return 0;
}
