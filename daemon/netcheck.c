/* network.check: one OPTIONS to the SIP server, one STUN binding and one
 * TURN allocation (over turn_transport: UDP, TCP or TLS), run side by
 * side, each bounded by NETCHECK_TIMEOUT_MS and reported as an event the
 * moment it ends. STUN and TURN servers given
 * by name are resolved first (resolve.c: /etc/hosts, then DNS), within the
 * same bound. */
#include <arpa/inet.h>
#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <re.h>

#include "conf.h"
#include "events.h"
#include "log.h"
#include "netcheck.h"
#include "resolve.h"

enum item_kind {
	ITEM_SIP,
	ITEM_STUN,
	ITEM_TURN,
	ITEM_COUNT,
};

static const char *const item_names[ITEM_COUNT] = {
	[ITEM_SIP] = "sip",
	[ITEM_STUN] = "stun",
	[ITEM_TURN] = "turn",
};

struct nc_run;

struct nc_item {
	struct nc_run *run;
	enum item_kind kind;
	uint64_t start;
	struct tmr tmr;
	bool done;
	/* stun and turn: the server's name being looked up, and where the
	 * server turned out to be */
	struct resolve *res;
	struct sa server;
};

struct nc_run {
	struct le le;
	struct netcheck *nc;
	char id[32];
	struct nc_item items[ITEM_COUNT];
	unsigned pending;
	bool failed;
	cJSON *results;
	struct tmr free_tmr;        /* starts the run, then frees it */
	/* sip */
	struct sip_request *req;
	/* stun */
	struct stun *stun;
	struct udp_sock *stun_us;
	struct stun_ctrans *ct;
	/* turn */
	struct udp_sock *turn_us;
	struct tcp_conn *turn_tc;
	struct tls *turn_tls;
	struct tls_conn *turn_tlsc;
	struct mbuf *turn_mb;       /* a TCP stream's unframed bytes */
	struct sa turn_srv;
	struct turnc *turnc;
};

struct netcheck {
	const struct conf *conf;
	struct events *ev;
	struct list runs;
	/* One SIP stack for every run: a request given up on by its run
	 * finishes inside it later, so it must outlive the run. */
	struct sip *sip;
	struct dnsc *dnsc;
};

static void run_destructor(void *arg)
{
	struct nc_run *run = arg;
	unsigned i;

	for (i = 0; i < ITEM_COUNT; i++) {
		tmr_cancel(&run->items[i].tmr);
		run->items[i].res = mem_deref(run->items[i].res);
	}
	tmr_cancel(&run->free_tmr);
	list_unlink(&run->le);
	/* the request's late answer must not reach this run */
	run->req = mem_deref(run->req);
	run->ct = mem_deref(run->ct);
	run->stun = mem_deref(run->stun);
	run->stun_us = mem_deref(run->stun_us);
	run->turnc = mem_deref(run->turnc);
	run->turn_us = mem_deref(run->turn_us);
	/* TLS is a helper on the TCP connection: off it first */
	run->turn_tlsc = mem_deref(run->turn_tlsc);
	run->turn_tc = mem_deref(run->turn_tc);
	run->turn_tls = mem_deref(run->turn_tls);
	run->turn_mb = mem_deref(run->turn_mb);
	if (run->results)
		cJSON_Delete(run->results);
}

static void run_free_later(void *arg)
{
	mem_deref(arg);
}

static void item_finish(struct nc_item *it, bool ok, bool skipped,
			const struct sa *addr, const char *fmt, ...)
	__attribute__((format(printf, 5, 6)));

/* Report one item; the last one reports the whole run and frees it once
 * the callback that got here has returned. */
static void item_finish(struct nc_item *it, bool ok, bool skipped,
			const struct sa *addr, const char *fmt, ...)
{
	struct nc_run *run = it->run;
	char detail[256], addrbuf[64];
	cJSON *o, *d;
	va_list ap;
	uint64_t ms;

	if (it->done)
		return;
	it->done = true;
	tmr_cancel(&it->tmr);
	ms = skipped ? 0 : tmr_jiffies() - it->start;
	va_start(ap, fmt);
	vsnprintf(detail, sizeof(detail), fmt, ap);
	va_end(ap);
	/* a lookup still running is not waited for: its answer is dropped */
	it->res = mem_deref(it->res);

	o = cJSON_CreateObject();
	cJSON_AddStringToObject(o, "name", item_names[it->kind]);
	cJSON_AddBoolToObject(o, "ok", ok);
	cJSON_AddBoolToObject(o, "skipped", skipped);
	cJSON_AddNumberToObject(o, "ms", (double)ms);
	cJSON_AddStringToObject(o, "detail", detail);
	if (addr && sa_isset(addr, SA_ALL)) {
		re_snprintf(addrbuf, sizeof(addrbuf), "%J", addr);
		cJSON_AddStringToObject(o, "address", addrbuf);
	}
	if (sa_isset(&it->server, SA_ALL)) {
		re_snprintf(addrbuf, sizeof(addrbuf), "%J", &it->server);
		cJSON_AddStringToObject(o, "server", addrbuf);
	}
	log_msg(ok || skipped ? LOG_DEBUG : LOG_NOTICE,
		"netcheck: %s %s: %s in %llu ms: %s", run->id,
		item_names[it->kind], skipped ? "skipped" : ok ? "ok" : "failed",
		(unsigned long long)ms, detail);
	if (!ok && !skipped)
		run->failed = true;

	d = cJSON_Duplicate(o, true);
	cJSON_AddStringToObject(d, "checkId", run->id);
	events_emit(run->nc->ev, "network.checkResult", d);
	cJSON_AddItemToArray(run->results, o);

	if (--run->pending)
		return;
	d = cJSON_CreateObject();
	cJSON_AddStringToObject(d, "checkId", run->id);
	cJSON_AddBoolToObject(d, "ok", !run->failed);
	cJSON_AddItemToObject(d, "items", run->results);
	run->results = NULL;
	events_emit(run->nc->ev, "network.checkDone", d);
	tmr_start(&run->free_tmr, 0, run_free_later, run);
}

/* The setting that names an item's server. */
static const char *item_setting(const struct nc_item *it)
{
	return it->kind == ITEM_STUN ? "stun_server" : "turn_server";
}

static const char *item_server(const struct nc_item *it)
{
	const struct conf *conf = it->run->nc->conf;

	return it->kind == ITEM_STUN ? conf->stun_server : conf->turn_server;
}

static void item_timeout(void *arg)
{
	struct nc_item *it = arg;

	if (it->res)
		item_finish(it, false, false, NULL,
			    "%s %s did not resolve within %u ms (timeout)",
			    item_setting(it), item_server(it),
			    NETCHECK_TIMEOUT_MS);
	else
		item_finish(it, false, false, NULL,
			    "no answer within %u ms (timeout)",
			    NETCHECK_TIMEOUT_MS);
}

/* The item's time runs from the start of the run; from here it is
 * bounded. */
static void item_begin(struct nc_item *it)
{
	tmr_start(&it->tmr, NETCHECK_TIMEOUT_MS, item_timeout, it);
}

/* Loopback for a loopback server, so that a local check stays local. */
static void local_for(const struct sa *dst, struct sa *laddr)
{
	if (sa_is_loopback(dst))
		sa_set_str(laddr, sa_af(dst) == AF_INET6 ? "::1" : "127.0.0.1",
			   0);
	else
		sa_init(laddr, sa_af(dst));
}

/* --- SIP --- */

static void sip_resp(int err, const struct sip_msg *msg, void *arg)
{
	struct nc_run *run = arg;
	struct nc_item *it = &run->items[ITEM_SIP];

	if (err) {
		item_finish(it, false, false, NULL, "no answer: %s",
			    strerror(err));
		return;
	}
	if (msg->scode < 200)
		return;
	/* any final answer shows the server is there and speaks SIP */
	item_finish(it, true, false, NULL, "%u %.*s", msg->scode,
		    (int)msg->reason.l, msg->reason.p);
}

static int sip_stack(struct netcheck *nc, const struct sa *dst, bool named)
{
	struct sa laddr, srvv[4];
	uint32_t n = ARRAY_SIZE(srvv);
	char domain[64];
	int err = 0;

	if (named && !nc->dnsc) {
		err = dns_srv_get(domain, sizeof(domain), srvv, &n);
		if (!err)
			err = dnsc_alloc(&nc->dnsc, NULL, srvv, n);
		if (err)
			return -err;
	}
	if (nc->sip)
		return 0;
	err = sip_alloc(&nc->sip, nc->dnsc, 4, 4, 4, "ccpd " CCPD_VERSION,
			NULL, NULL);
	if (err)
		return -err;
	if (dst && sa_is_loopback(dst)) {
		sa_set_str(&laddr, "127.0.0.1", 0);
	} else {
		err = net_default_source_addr_get(AF_INET, &laddr);
		if (err)
			goto out;
		sa_set_port(&laddr, 0);
	}
	err = sip_transp_add(nc->sip, SIP_TRANSP_UDP, &laddr);
 out:
	if (err)
		nc->sip = mem_deref(nc->sip);
	return -err;
}

static void sip_start(struct nc_run *run)
{
	struct netcheck *nc = run->nc;
	struct nc_item *it = &run->items[ITEM_SIP];
	const char *target = nc->conf->sip_registrar;
	char uri[512];
	struct uri u;
	struct pl pl;
	struct sa dst;
	bool named;
	int r;

	if (!target || !*target)
		target = nc->conf->sip_check_uri;
	if (!target || !*target) {
		item_finish(it, false, true, NULL,
			    "neither sip_registrar nor sip_check_uri is set");
		return;
	}
	snprintf(uri, sizeof(uri), "%s%s",
		 strncmp(target, "sip:", 4) && strncmp(target, "sips:", 5) ?
		 "sip:" : "", target);
	pl_set_str(&pl, uri);
	if (uri_decode(&u, &pl)) {
		item_finish(it, false, false, NULL, "%s is not a SIP URI", uri);
		return;
	}
	named = sa_set(&dst, &u.host, u.port ? u.port : SIP_PORT) != 0;
	r = sip_stack(nc, named ? NULL : &dst, named);
	if (r < 0) {
		item_finish(it, false, false, NULL,
			    "cannot start the SIP stack: %s", strerror(-r));
		return;
	}
	item_begin(it);
	r = sip_requestf(&run->req, nc->sip, true, "OPTIONS", uri, NULL, NULL,
			 NULL, sip_resp, run,
			 "To: <%s>\r\n"
			 "From: <sip:ccpd@localhost>;tag=%016llx\r\n"
			 "Call-ID: %016llx\r\n"
			 "CSeq: 1 OPTIONS\r\n"
			 "Accept: application/sdp\r\n"
			 "Content-Length: 0\r\n\r\n",
			 uri, (unsigned long long)rand_u64(),
			 (unsigned long long)rand_u64());
	if (r)
		item_finish(it, false, false, NULL,
			    "cannot send OPTIONS to %s: %s", uri, strerror(r));
}

/* --- STUN --- */

static void stun_udp_recv(const struct sa *src, struct mbuf *mb, void *arg)
{
	struct nc_run *run = arg;

	(void)src;
	(void)stun_recv(run->stun, mb);
}

static void stun_resp(int err, uint16_t scode, const char *reason,
		      const struct stun_msg *msg, void *arg)
{
	struct nc_run *run = arg;
	struct nc_item *it = &run->items[ITEM_STUN];
	struct stun_attr *a;
	char buf[64];

	if (err) {
		item_finish(it, false, false, NULL, "no answer: %s",
			    strerror(err));
		return;
	}
	if (scode) {
		item_finish(it, false, false, NULL, "%u %s", scode, reason);
		return;
	}
	a = stun_msg_attr(msg, STUN_ATTR_XOR_MAPPED_ADDR);
	if (!a)
		a = stun_msg_attr(msg, STUN_ATTR_MAPPED_ADDR);
	if (!a) {
		item_finish(it, false, false, NULL,
			    "the answer carries no mapped address");
		return;
	}
	re_snprintf(buf, sizeof(buf), "%J", &a->v.sa);
	item_finish(it, true, false, &a->v.sa, "mapped address %s", buf);
}

static void stun_check(struct nc_run *run, const struct sa *dst)
{
	struct nc_item *it = &run->items[ITEM_STUN];
	struct sa laddr;
	int err;

	local_for(dst, &laddr);
	err = stun_alloc(&run->stun, NULL, NULL, NULL);
	if (!err)
		err = udp_listen(&run->stun_us, &laddr, stun_udp_recv, run);
	if (!err)
		err = stun_request(&run->ct, run->stun, IPPROTO_UDP,
				   run->stun_us, dst, 0, STUN_METHOD_BINDING,
				   NULL, 0, false, stun_resp, run, 0);
	if (err)
		item_finish(it, false, false, NULL,
			    "cannot send the binding request: %s",
			    strerror(err));
}

/* --- TURN --- */

static void turn_handler(int err, uint16_t scode, const char *reason,
			 const struct sa *relay_addr,
			 const struct sa *mapped_addr,
			 const struct stun_msg *msg, void *arg)
{
	struct nc_run *run = arg;
	struct nc_item *it = &run->items[ITEM_TURN];
	char buf[64];

	(void)mapped_addr;
	(void)msg;
	if (err) {
		item_finish(it, false, false, NULL, "no allocation: %s",
			    strerror(err));
		return;
	}
	if (scode == 401) {
		item_finish(it, false, false, NULL,
			    "401 %s: the server refused turn_user and "
			    "turn_password", reason ? reason : "Unauthorized");
		return;
	}
	if (scode) {
		item_finish(it, false, false, NULL, "%u %s", scode,
			    reason ? reason : "");
		return;
	}
	re_snprintf(buf, sizeof(buf), "%J", relay_addr);
	item_finish(it, true, false, relay_addr, "relay address %s over %s",
		    buf, run->turn_tlsc ? "TLS (server certificate not "
		    "verified)" : run->turn_tc ? "TCP" : "UDP");
}

/* Over TCP (and TLS) the TURN client gets no socket of its own: the
 * stream is cut here into STUN messages (20-byte header plus length) and
 * ChannelData (4 plus length, padded to 4), each handed to turnc_recv. */
static void turn_tcp_recv(struct mbuf *mb, void *arg)
{
	struct nc_run *run = arg;
	struct nc_item *it = &run->items[ITEM_TURN];
	struct mbuf *b;
	int err = 0;

	if (!run->turn_mb) {
		run->turn_mb = mbuf_alloc(mbuf_get_left(mb));
		if (!run->turn_mb)
			return;
	}
	b = run->turn_mb;
	b->pos = b->end;
	if (mbuf_write_mem(b, mbuf_buf(mb), mbuf_get_left(mb)))
		return;
	b->pos = 0;
	while (!it->done && mbuf_get_left(b) >= 4) {
		uint16_t type = ntohs(mbuf_read_u16(b));
		size_t len = ntohs(mbuf_read_u16(b)), end = b->end, at;

		b->pos -= 4;
		if (type < 0x4000)
			len += 20;
		else if (type < 0x8000)
			len += 4;
		else {
			err = EBADMSG;
			break;
		}
		if (mbuf_get_left(b) < len)
			break;
		at = b->pos;
		b->end = at + len;
		if (run->turnc) {
			struct sa src = run->turn_srv;

			/* may end the item, but the run outlives this call */
			err = turnc_recv(run->turnc, &src, b);
		}
		b->end = end;
		if (err)
			break;
		while (len & 3)
			len++;
		b->pos = at + len < end ? at + len : end;
	}
	if (err) {
		item_finish(it, false, false, NULL, "bad data from the server "
			    "over %s: %s", run->turn_tlsc ? "TLS" : "TCP",
			    strerror(err));
		return;
	}
	/* keep only what is left over */
	if (b->pos >= b->end) {
		mbuf_reset(b);
	} else if (b->pos) {
		memmove(b->buf, mbuf_buf(b), mbuf_get_left(b));
		b->end -= b->pos;
		b->pos = 0;
	}
}

static void turn_tcp_estab(void *arg)
{
	struct nc_run *run = arg;
	const struct conf *conf = run->nc->conf;
	int err;

	err = turnc_alloc(&run->turnc, NULL, IPPROTO_TCP, run->turn_tc, 0,
			  &run->turn_srv, conf->turn_user, conf->turn_password,
			  600, turn_handler, run);
	if (err)
		item_finish(&run->items[ITEM_TURN], false, false, NULL,
			    "cannot send the allocation request: %s",
			    strerror(err));
}

static void turn_tcp_close(int err, void *arg)
{
	struct nc_run *run = arg;
	const char *tr = run->turn_tlsc ? "TLS" : "TCP";

	item_finish(&run->items[ITEM_TURN], false, false, NULL,
		    "%s connection %s: %s", tr, run->turnc ? "closed" :
		    "failed", err ? strerror(err) : "closed by the server");
}

static int turn_tcp_start(struct nc_run *run, bool tls)
{
	int err;

	if (tls) {
		/* the check is whether an allocation works; the certificate
		 * is not checked (there is no setting for a CA yet) */
		err = tls_alloc(&run->turn_tls, TLS_METHOD_SSLV23, NULL, NULL);
		if (err)
			return err;
	}
	err = tcp_connect(&run->turn_tc, &run->turn_srv, turn_tcp_estab,
			  turn_tcp_recv, turn_tcp_close, run);
	if (!err && tls)
		err = tls_start_tcp(&run->turn_tlsc, run->turn_tls,
				    run->turn_tc, 0);
	return err;
}

static void turn_check(struct nc_run *run, const struct sa *dst)
{
	const struct conf *conf = run->nc->conf;
	struct nc_item *it = &run->items[ITEM_TURN];
	struct sa laddr;
	int err;

	run->turn_srv = *dst;
	if (strcmp(conf->turn_transport, "udp") != 0) {
		err = turn_tcp_start(run,
				     strcmp(conf->turn_transport, "tls") == 0);
	} else {
		local_for(dst, &laddr);
		err = udp_listen(&run->turn_us, &laddr, NULL, NULL);
		if (!err)
			err = turnc_alloc(&run->turnc, NULL, IPPROTO_UDP,
					  run->turn_us, 0, dst,
					  conf->turn_user, conf->turn_password,
					  600, turn_handler, run);
	}
	if (err)
		item_finish(it, false, false, NULL,
			    "cannot send the allocation request: %s",
			    strerror(err));
}

/* --- where the STUN or TURN server is --- */

static void server_resolved(int err, const char *why, const struct sa *addr,
			    void *arg)
{
	struct nc_item *it = arg;
	char reason[128];

	/* why and addr live in the lookup, which goes now */
	snprintf(reason, sizeof(reason), "%s", why ? why : "");
	if (!err)
		it->server = *addr;
	it->res = mem_deref(it->res);
	if (err) {
		item_finish(it, false, false, NULL, "%s %s does not resolve: %s",
			    item_setting(it), item_server(it), reason);
		return;
	}
	re_snprintf(reason, sizeof(reason), "%J", &it->server);
	log_debug("netcheck: %s %s: %s is %s", it->run->id,
		  item_names[it->kind], item_server(it), reason);
	if (it->kind == ITEM_STUN)
		stun_check(it->run, &it->server);
	else
		turn_check(it->run, &it->server);
}

/* The item's time, and its bound, include the lookup of a name. */
static void server_lookup(struct nc_item *it)
{
	/* TURN over TLS listens on its own port by default */
	bool tls = it->kind == ITEM_TURN &&
		strcmp(it->run->nc->conf->turn_transport, "tls") == 0;
	char host[256];
	uint16_t port;
	int r;

	if (resolve_split(item_server(it), tls ? STUNS_PORT : STUN_PORT, host,
			 sizeof(host), &port) < 0) {
		item_finish(it, false, false, NULL,
			    "%s %s is not host[:port] (a name or an IP "
			    "address)", item_setting(it), item_server(it));
		return;
	}
	item_begin(it);
	r = resolve_start(&it->res, host, port, server_resolved, it);
	if (r < 0)
		item_finish(it, false, false, NULL,
			    "cannot look up %s: %s", host, r == -EAGAIN ?
			    "too many lookups running" : strerror(-r));
}

static void stun_start(struct nc_run *run)
{
	const char *srv = run->nc->conf->stun_server;
	struct nc_item *it = &run->items[ITEM_STUN];

	if (!srv || !*srv) {
		item_finish(it, false, true, NULL, "stun_server is not set");
		return;
	}
	server_lookup(it);
}

static void turn_start(struct nc_run *run)
{
	const struct conf *conf = run->nc->conf;
	struct nc_item *it = &run->items[ITEM_TURN];

	if (!conf->turn_server || !*conf->turn_server) {
		item_finish(it, false, true, NULL, "turn_server is not set");
		return;
	}
	if (!conf->turn_user || !*conf->turn_user || !conf->turn_password) {
		item_finish(it, false, false, NULL,
			    "turn_user and turn_password must be set");
		return;
	}
	server_lookup(it);
}

/* --- the module --- */

static void run_begin(void *arg)
{
	struct nc_run *run = arg;
	uint64_t now = tmr_jiffies();
	unsigned i;

	for (i = 0; i < ITEM_COUNT; i++)
		run->items[i].start = now;
	/* every item may end here (skipped); the last one reuses free_tmr,
	 * which frees the run after this returns */
	sip_start(run);
	stun_start(run);
	turn_start(run);
}

int netcheck_new(struct netcheck **ret, const struct conf *conf,
		 struct events *ev)
{
	struct netcheck *nc = mem_zalloc(sizeof(*nc), NULL);

	if (!nc)
		return -ENOMEM;
	nc->conf = conf;
	nc->ev = ev;
	list_init(&nc->runs);
	*ret = nc;
	return 0;
}

struct netcheck *netcheck_free(struct netcheck *nc)
{
	if (!nc)
		return NULL;
	list_flush(&nc->runs);
	if (nc->sip)
		sip_close(nc->sip, true);
	nc->sip = mem_deref(nc->sip);
	nc->dnsc = mem_deref(nc->dnsc);
	mem_deref(nc);
	return NULL;
}

int netcheck_start(struct netcheck *nc, char *id, size_t idsz)
{
	struct nc_run *run;
	unsigned i;

	if (list_count(&nc->runs) >= NETCHECK_MAX_RUNS)
		return -EBUSY;
	run = mem_zalloc(sizeof(*run), run_destructor);
	if (!run)
		return -ENOMEM;
	run->results = cJSON_CreateArray();
	if (!run->results) {
		mem_deref(run);
		return -ENOMEM;
	}
	run->nc = nc;
	snprintf(run->id, sizeof(run->id), "nc-%016llx",
		 (unsigned long long)rand_u64());
	tmr_init(&run->free_tmr);
	for (i = 0; i < ITEM_COUNT; i++) {
		run->items[i].run = run;
		run->items[i].kind = i;
		tmr_init(&run->items[i].tmr);
	}
	run->pending = ITEM_COUNT;
	list_append(&nc->runs, &run->le, run);
	snprintf(id, idsz, "%s", run->id);
	log_debug("netcheck: %s started", run->id);
	/* from the loop, so that the answer with the id goes out before
	 * any event of the run */
	tmr_start(&run->free_tmr, 0, run_begin, run);
	return 0;
}
