/*
 * ws-fanout-client: the fast client of the WebSocket fan-out benchmark.
 *
 * One process, libwebsockets on libuv (epoll), holding N WebSocket
 * clients on each target. A round triggers one message on a target (an
 * agent.setState on ccpd's Unix socket, or a trigger line on the floor's)
 * and times, for every client, the arrival of the event from the moment
 * the trigger was written. Targets take turns in every round, starting
 * with a different one each time, so that the machine's drifts fall on
 * all of them alike. It also reads each server's VmRSS before its clients
 * attach and once they are all subscribed.
 *
 * usage: ws-fanout-client [-n CLIENTS] [-r ROUNDS] [-w WARMUP] [-t SECS]
 *                         [-g GAP_MS] [-k TOKEN] [-s SIZE] [-b] TARGET...
 *   TARGET   NAME:KIND:PORT:TRIGGER_SOCKET:PID[:TOKEN], KIND ccpd or
 *            floor; up to four targets, several of a kind (one ccpd
 *            measured twice, say); a ccpd target's clients resume the
 *            session TOKEN before subscribing
 *   -k       the session ccpd targets without a TOKEN of their own resume
 *   -s       size of the floor's message when no ccpd target gives one
 *            (with a ccpd target, the floor sends a copy of ccpd's event)
 *   -b       sleep in epoll_wait while a round is timed; by default the
 *            client spins on its CPU then, so that its own wake-ups (costly
 *            on a virtual machine) do not count against the servers
 *
 * Prints one line per target:
 *   RESULT target=NAME status=ok clients=N rounds=R deliveries=D
 *          p50_us=.. p99_us=.. max_us=.. last_p50_us=.. msg_bytes=..
 *          rss_before_kib=.. rss_with_kib=.. per_client_kib=..
 * Only 127.0.0.1. Exit status 0 when every target was measured, 1 when
 * not (a line on stderr says why), 2 on a usage error.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <getopt.h>
#include <poll.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <libwebsockets.h>
#include <uv.h>

#define MAX_TARGETS 4
#define MAX_MSG 65536
#define IN_FLIGHT 64            /* handshakes under way at once */
#define EVENT_MARK "\"agent.stateChange\""

enum conn_state { C_CONNECTING, C_SUBSCRIBING, C_READY, C_FAILED };

struct target;

struct conn {
	struct target *t;
	struct lws *wsi;
	enum conn_state state;
	unsigned sent;          /* requests written so far */
	bool has_event, has_snapshot;   /* in the message being received */
	unsigned long seen;     /* the round whose event came last */
};

struct target {
	char name[32];
	bool ccpd;
	int port;
	char trigger[108];
	long pid;
	char token[80];         /* the session its clients resume, or "" */
	int fd;                 /* the trigger socket */
	struct conn *conns;
	unsigned started, ready, failed;
	long rss0, rss1;
	unsigned long round;    /* rounds triggered */
	unsigned got;           /* deliveries in the current round */
	bool timed;
	uint64_t t0;
	uint64_t *lat, *last;   /* every delivery; each round's slowest */
	size_t n_lat, n_last;
	uint64_t round_max;
	bool odd_lunch;         /* ccpd: odd rounds set Lunch, not Available */
	bool spin;              /* a round is under way: poll without sleeping */
	char why[160];
};

static struct target targets[MAX_TARGETS];
static unsigned n_targets;
static unsigned n_clients = 500, rounds = 30, warmup = 2, gap_ms = 50;
static double limit_s = 120;
static size_t msg_size = 300;
static bool spin = true;
static const char *token;
static uint64_t deadline;
static uv_loop_t loop;
static struct lws_context *ctx;
static char origin[64];
/* the floor's message: a copy of ccpd's event once one has been seen */
static char floor_msg[MAX_MSG];
static size_t floor_len;

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static bool time_left(void)
{
	return now_ns() < deadline;
}

static long rss_kib(long pid)
{
	char path[64], buf[256];
	long kib = -1;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%ld/status", pid);
	f = fopen(path, "r");
	if (!f)
		return -1;
	while (fgets(buf, sizeof(buf), f))
		if (sscanf(buf, "VmRSS: %ld", &kib) == 1)
			break;
	fclose(f);
	return kib;
}

/* ---- the WebSocket clients ---- */

/* The session a target's clients resume; NULL: none. */
static const char *session_of(const struct target *t)
{
	if (!t->ccpd)
		return NULL;
	return t->token[0] ? t->token : token;
}

static int send_request(struct conn *c)
{
	unsigned char buf[LWS_PRE + 256];
	char *p = (char *)buf + LWS_PRE;
	const char *session = session_of(c->t);
	bool resume = session && c->sent == 0;
	int n;

	if (resume)
		n = snprintf(p, 200, "{\"jsonrpc\":\"2.0\",\"id\":0,\"method\":"
			     "\"session.resume\",\"params\":{\"token\":\"%s\"}}",
			     session);
	else
		n = snprintf(p, 200, "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":"
			     "\"events.subscribe\"}");
	if (n < 0 || n >= 200)
		return -1;
	if (lws_write(c->wsi, buf + LWS_PRE, (size_t)n, LWS_WRITE_TEXT) < n)
		return -1;
	c->sent++;
	if (resume)
		lws_callback_on_writable(c->wsi);
	return 0;
}

static void got_message(struct conn *c, const char *in, size_t len,
			bool whole)
{
	struct target *t = c->t;
	uint64_t now = now_ns(), d;

	if (c->has_snapshot && c->state == C_SUBSCRIBING) {
		c->state = C_READY;
		t->ready++;
	}
	if (!c->has_event || c->state != C_READY || c->seen == t->round)
		return;
	c->seen = t->round;
	t->got++;
	d = now - t->t0;
	if (d > t->round_max)
		t->round_max = d;
	if (t->timed)
		t->lat[t->n_lat++] = d;
	if (t->ccpd && !floor_len && whole && len < sizeof(floor_msg)) {
		memcpy(floor_msg, in, len);
		floor_len = len;
	}
}

static void fail_conn(struct conn *c, const char *why)
{
	struct target *t = c->t;

	if (c->state == C_FAILED)
		return;
	if (!t->why[0])
		snprintf(t->why, sizeof(t->why), "a client %s (%s)",
			 c->state == C_CONNECTING ? "could not connect" :
			 "was dropped", why ? why : "closed");
	c->state = C_FAILED;
	c->wsi = NULL;
	t->failed++;
}

static int callback(struct lws *wsi, enum lws_callback_reasons reason,
		    void *user, void *in, size_t len)
{
	struct conn *c = user;

	switch (reason) {
	case LWS_CALLBACK_CLIENT_CONNECTION_ERROR:
		if (c)
			fail_conn(c, in ? (const char *)in : "connection error");
		break;
	case LWS_CALLBACK_CLIENT_ESTABLISHED:
		c->state = C_SUBSCRIBING;
		lws_callback_on_writable(wsi);
		break;
	case LWS_CALLBACK_CLIENT_WRITEABLE:
		if (c->state == C_SUBSCRIBING &&
		    c->sent < (session_of(c->t) ? 2u : 1u))
			return send_request(c);
		break;
	case LWS_CALLBACK_CLIENT_RECEIVE:
		if (lws_is_first_fragment(wsi))
			c->has_event = c->has_snapshot = false;
		if (memmem(in, len, EVENT_MARK, sizeof(EVENT_MARK) - 1))
			c->has_event = true;
		if (memmem(in, len, "\"snapshot\"", 10))
			c->has_snapshot = true;
		if (lws_is_final_fragment(wsi))
			got_message(c, in, len, lws_is_first_fragment(wsi));
		break;
	case LWS_CALLBACK_CLIENT_CLOSED:
		if (c)
			fail_conn(c, "closed by the server");
		break;
	default:
		break;
	}
	return 0;
}

static const struct lws_protocols protocols[] = {
	{ "fanout", callback, 0, MAX_MSG, 0, NULL, 0 },
	{ NULL, NULL, 0, 0, 0, NULL, 0 }
};

static void start_some(struct target *t)
{
	struct lws_client_connect_info ci;
	struct conn *c;

	while (t->started < n_clients &&
	       t->started - t->ready - t->failed < IN_FLIGHT) {
		c = &t->conns[t->started++];
		c->t = t;
		c->state = C_CONNECTING;
		snprintf(origin, sizeof(origin), "http://127.0.0.1:%d",
			 t->port);
		memset(&ci, 0, sizeof(ci));
		ci.context = ctx;
		ci.address = "127.0.0.1";
		ci.port = t->port;
		ci.path = "/";
		ci.host = "127.0.0.1";
		ci.origin = origin;
		ci.userdata = c;
		ci.pwsi = &c->wsi;
		ci.local_protocol_name = "fanout";
		if (!lws_client_connect_via_info(&ci))
			fail_conn(c, "lws_client_connect_via_info failed");
	}
}

/* ---- the loop ---- */

static void tick(uv_timer_t *h)
{
	(void)h;        /* only there to wake uv_run up now and then */
}

/* Runs the loop until done() or the deadline; false at the deadline.
 * While a round is timed the loop spins instead of sleeping, so that no
 * wake-up of this process is counted against the server. */
static bool run_until(bool (*done)(struct target *), struct target *t)
{
	uv_run_mode mode = t->spin ? UV_RUN_NOWAIT : UV_RUN_ONCE;

	while (!done(t)) {
		if (!time_left())
			return false;
		uv_run(&loop, mode);
	}
	return true;
}

static bool gap_over(struct target *t)
{
	return now_ns() >= t->t0;
}

static void run_for(unsigned ms)
{
	struct target until = { .t0 = now_ns() + (uint64_t)ms * 1000000u };

	run_until(gap_over, &until);
}

static bool all_up(struct target *t)
{
	start_some(t);
	return t->failed || t->ready == n_clients;
}

static bool all_got(struct target *t)
{
	return t->failed || t->got == n_clients;
}

/* ---- triggers ---- */

static int trigger_connect(struct target *t)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };

	t->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (t->fd < 0)
		return -errno;
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", t->trigger);
	if (connect(t->fd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
		return -errno;
	return 0;
}

static int write_all(int fd, const char *p, size_t n)
{
	while (n) {
		ssize_t w = write(fd, p, n);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return -1;
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

/* The trigger's answer: one line, kept in buf. */
static int read_answer_in(struct target *t, char *buf, size_t size)
{
	struct pollfd pfd = { .fd = t->fd, .events = POLLIN };
	size_t have = 0;
	ssize_t n;

	while (!memchr(buf, '\n', have)) {
		if (have + 1 >= size || poll(&pfd, 1, 5000) <= 0)
			return -1;
		n = read(t->fd, buf + have, size - 1 - have);
		if (n <= 0)
			return -1;
		have += (size_t)n;
	}
	buf[have] = '\0';
	if (strstr(buf, "\"error\"")) {
		snprintf(t->why, sizeof(t->why), "the trigger failed: %.*s",
			 (int)strcspn(buf, "\n"), buf);
		return -1;
	}
	return 0;
}

static int read_answer(struct target *t)
{
	char buf[4096];

	return read_answer_in(t, buf, sizeof(buf));
}

/* Every round must change ccpd's state: start from the other one. */
static int first_state(struct target *t)
{
	static const char req[] = "{\"jsonrpc\":\"2.0\",\"id\":0,"
		"\"method\":\"agent.getState\"}\n";
	char buf[16384];

	if (write_all(t->fd, req, sizeof(req) - 1) < 0 ||
	    read_answer_in(t, buf, sizeof(buf)) < 0) {
		if (!t->why[0])
			snprintf(t->why, sizeof(t->why), "agent.getState "
				 "failed");
		return -1;
	}
	t->odd_lunch = strstr(buf, "\"state\":\"Available\"") != NULL;
	return 0;
}

static void make_floor_msg(void)
{
	int n;

	if (floor_len)
		return;
	n = snprintf(floor_msg, sizeof(floor_msg), "{\"jsonrpc\":\"2.0\","
		     "\"method\":\"event\",\"params\":{\"type\":"
		     "\"agent.stateChange\",\"seq\":1,\"data\":{\"pad\":\"");
	while ((size_t)n + 4 < msg_size && (size_t)n + 4 < sizeof(floor_msg))
		floor_msg[n++] = 'x';
	memcpy(floor_msg + n, "\"}}}", 4);
	floor_len = (size_t)n + 4;
}

static int trigger(struct target *t)
{
	char line[MAX_MSG + 1];
	size_t n;

	if (t->ccpd) {
		n = (size_t)snprintf(line, sizeof(line), "{\"jsonrpc\":\"2.0\","
			"\"id\":%lu,\"method\":\"agent.setState\",\"params\":"
			"{\"state\":\"%s\"}}\n", t->round,
			(t->round % 2 == 1) != t->odd_lunch ? "Available" :
			"Lunch");
	} else {
		make_floor_msg();
		memcpy(line, floor_msg, floor_len);
		line[floor_len] = '\n';
		n = floor_len + 1;
	}
	t->t0 = now_ns();
	return write_all(t->fd, line, n);
}

/* ---- figures ---- */

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

static double pct_us(uint64_t *v, size_t n, double p)
{
	long i = (long)(p / 100.0 * (double)n + 0.5) - 1;

	if (!n)
		return 0;
	if (i < 0)
		i = 0;
	if (i > (long)n - 1)
		i = (long)n - 1;
	return (double)v[i] / 1000.0;
}

static void report(struct target *t)
{
	qsort(t->lat, t->n_lat, sizeof(*t->lat), cmp_u64);
	qsort(t->last, t->n_last, sizeof(*t->last), cmp_u64);
	printf("RESULT target=%s status=ok clients=%u rounds=%zu "
	       "deliveries=%zu p50_us=%.0f p99_us=%.0f max_us=%.0f "
	       "last_p50_us=%.0f msg_bytes=%zu rss_before_kib=%ld "
	       "rss_with_kib=%ld per_client_kib=%.1f\n",
	       t->name, n_clients, t->n_last, t->n_lat,
	       pct_us(t->lat, t->n_lat, 50), pct_us(t->lat, t->n_lat, 99),
	       pct_us(t->lat, t->n_lat, 100), pct_us(t->last, t->n_last, 50),
	       floor_len, t->rss0, t->rss1,
	       (double)(t->rss1 - t->rss0) / n_clients);
}

/* ---- setup ---- */

static int parse_target(const char *arg)
{
	struct target *t = &targets[n_targets];
	char kind[16];
	int n = 0;

	if (n_targets == MAX_TARGETS)
		return -1;
	if (sscanf(arg, "%31[^:]:%15[^:]:%d:%107[^:]:%ld%n", t->name, kind,
		   &t->port, t->trigger, &t->pid, &n) != 5)
		return -1;
	if (arg[n] == ':' && strlen(arg + n + 1) < sizeof(t->token) &&
	    !strchr(arg + n + 1, ':'))
		snprintf(t->token, sizeof(t->token), "%s", arg + n + 1);
	else if (arg[n])
		return -1;
	if (strcmp(kind, "ccpd") != 0 && strcmp(kind, "floor") != 0)
		return -1;
	t->ccpd = strcmp(kind, "ccpd") == 0;
	t->fd = -1;
	n_targets++;
	return 0;
}

static int usage(void)
{
	fprintf(stderr, "usage: ws-fanout-client [-n CLIENTS] [-r ROUNDS] "
		"[-w WARMUP] [-t SECS] [-g GAP_MS] [-k TOKEN] [-s SIZE] [-b] "
		"NAME:KIND:PORT:TRIGGER_SOCKET:PID[:TOKEN]...\n");
	return 2;
}

static int setup(void)
{
	struct lws_context_creation_info info;
	void *loops[1] = { &loop };
	struct rlimit rl;
	unsigned i;

	/* every client is a descriptor */
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
	if (uv_loop_init(&loop) < 0)
		return -1;
	memset(&info, 0, sizeof(info));
	info.options = LWS_SERVER_OPTION_LIBUV |
		LWS_SERVER_OPTION_JUST_USE_RAW_ORIGIN;
	info.foreign_loops = loops;
	info.port = CONTEXT_PORT_NO_LISTEN;
	info.protocols = protocols;
	info.fd_limit_per_thread = n_clients * n_targets + 64;
	info.timeout_secs = 20;
	ctx = lws_create_context(&info);
	if (!ctx)
		return -1;
	for (i = 0; i < n_targets; i++) {
		targets[i].conns = calloc(n_clients, sizeof(struct conn));
		targets[i].lat = calloc((size_t)n_clients * rounds,
					sizeof(uint64_t));
		targets[i].last = calloc(rounds, sizeof(uint64_t));
		if (!targets[i].conns || !targets[i].lat || !targets[i].last)
			return -1;
	}
	return 0;
}

static bool attach_all(void)
{
	unsigned i;

	for (i = 0; i < n_targets; i++) {
		struct target *t = &targets[i];

		if (trigger_connect(t) < 0) {
			snprintf(t->why, sizeof(t->why), "cannot connect to its "
				 "trigger socket: %s", strerror(errno));
			return false;
		}
		if (t->ccpd && first_state(t) < 0)
			return false;
		t->rss0 = rss_kib(t->pid);
		if (!run_until(all_up, t)) {
			snprintf(t->why, sizeof(t->why), "only %u of %u clients "
				 "subscribed in time", t->ready, n_clients);
			return false;
		}
		if (t->failed)
			return false;
	}
	/* let the servers settle before their memory is read */
	run_for(500);
	for (i = 0; i < n_targets; i++)
		targets[i].rss1 = rss_kib(targets[i].pid);
	return true;
}

static bool one_round(struct target *t, bool timed)
{
	bool ok;

	t->round++;
	t->got = 0;
	t->round_max = 0;
	t->timed = timed;
	if (trigger(t) < 0) {
		snprintf(t->why, sizeof(t->why), "cannot write the trigger");
		return false;
	}
	t->spin = spin;
	ok = run_until(all_got, t);
	t->spin = false;
	if (!ok) {
		snprintf(t->why, sizeof(t->why), "round %lu: %u of %u events "
			 "in time", t->round, t->got, n_clients);
		return false;
	}
	if (t->failed || read_answer(t) < 0) {
		if (!t->why[0])
			snprintf(t->why, sizeof(t->why), "no answer to the "
				 "trigger");
		return false;
	}
	if (timed)
		t->last[t->n_last++] = t->round_max;
	run_for(gap_ms);
	return true;
}

int main(int argc, char **argv)
{
	uv_timer_t tmr;
	unsigned r, k, i;
	int opt, rc = 0;
	bool ok;

	while ((opt = getopt(argc, argv, "n:r:w:t:g:k:s:b")) != -1) {
		switch (opt) {
		case 'n': n_clients = (unsigned)atoi(optarg); break;
		case 'r': rounds = (unsigned)atoi(optarg); break;
		case 'w': warmup = (unsigned)atoi(optarg); break;
		case 't': limit_s = atof(optarg); break;
		case 'g': gap_ms = (unsigned)atoi(optarg); break;
		case 'k': token = optarg; break;
		case 's': msg_size = (size_t)atol(optarg); break;
		case 'b': spin = false; break;
		default: return usage();
		}
	}
	if (optind == argc || !n_clients || !rounds)
		return usage();
	for (; optind < argc; optind++)
		if (parse_target(argv[optind]) < 0)
			return usage();
	/* warm-up first on ccpd, so that the floor sends a copy of its event */
	for (i = 1; i < n_targets; i++)
		if (targets[i].ccpd && !targets[0].ccpd) {
			struct target tmp = targets[0];

			targets[0] = targets[i];
			targets[i] = tmp;
		}
	deadline = now_ns() + (uint64_t)(limit_s * 1e9);
	/* BENCH_WS_DEBUG=1: lws says why a connection failed */
	lws_set_log_level(getenv("BENCH_WS_DEBUG") ? LLL_ERR | LLL_WARN |
			  LLL_NOTICE | LLL_INFO | LLL_CLIENT : LLL_ERR, NULL);
	if (setup() < 0) {
		fprintf(stderr, "ws-fanout-client: cannot set up\n");
		return 1;
	}
	uv_timer_init(&loop, &tmr);
	uv_timer_start(&tmr, tick, 50, 50);

	ok = attach_all();
	for (r = 0; ok && r < warmup + rounds; r++)
		for (k = 0; ok && k < n_targets; k++)
			ok = one_round(&targets[(k + r) % n_targets],
				       r >= warmup);
	for (i = 0; i < n_targets; i++) {
		struct target *t = &targets[i];

		if (t->why[0]) {
			printf("RESULT target=%s status=fail\n", t->name);
			fprintf(stderr, "ws-fanout-client: %s: %s\n", t->name,
				t->why);
			rc = 1;
		} else if (ok) {
			report(t);
		}
	}
	if (!ok && !rc) {
		fprintf(stderr, "ws-fanout-client: time limit reached\n");
		rc = 1;
	}
	fflush(stdout);
	/* no orderly teardown of a thousand connections: the process ends */
	_exit(rc);
}
