/*
 * rtt: control round-trip benchmark client.
 *
 * Sends one request at a time to a control socket, waits for the matching
 * answer, and times each round trip with CLOCK_MONOTONIC. After a warm-up
 * it takes a fixed number of samples (bounded in count and in time) and
 * prints one result line:
 *
 *   RESULT label=L mode=M target=T status=ok count=N warmup=W p50_us=.. \
 *          p90_us=.. p99_us=.. mean_us=.. min_us=.. max_us=.. errors=E \
 *          elapsed_s=..
 *
 * Modes:
 *   line-json SOCKPATH   ccpd's framing: one JSON-RPC request per line,
 *                        the answer is the line carrying the same "id".
 *   linphone SOCKPATH    linphone-daemon --pipe: a text command, the answer
 *                        is one "Status: ..." block (see below).
 *   netstring HOST:PORT  baresip ctrl_tcp: JSON in netstrings, the answer is
 *                        the netstring with "response":true and our token.
 *
 * Other commands:
 *   free-port [N]        print N TCP+UDP ports free on 127.0.0.1 (and whose
 *                        next port is free too, since baresip puts SIP TLS
 *                        on sip_listen's port + 1).
 *   cpus                 print the CPUs this process may run on.
 *   summarize [-l LABEL] FILE...
 *                        one result line over the samples that runs with
 *                        -o FILE saved (several rounds of one target).
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <limits.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#define BUF_SIZE (256 * 1024)
#define MAX_COUNT 10000000L
#define REQ_TIMEOUT_MS 5000

enum mode { MODE_LINE_JSON, MODE_LINPHONE, MODE_NETSTRING };

struct opts {
	enum mode mode;
	const char *mode_name;
	const char *target;
	const char *label;
	const char *method;     /* line-json */
	const char *command;    /* linphone */
	const char *ns_command; /* netstring */
	const char *samples_out;
	long count;
	long warmup;
	double time_limit;      /* seconds, whole run */
	double connect_wait;    /* seconds to retry connecting */
	int probe;
	int verbose;
};

struct conn {
	int fd;
	char *buf;
	size_t len;               /* bytes held in buf */
	size_t linphone_len;      /* learned size of a linphone answer */
	char last_reason[256];
};

static const char *result_label = "?";
static const char *result_mode = "?";
static const char *result_target = "?";

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* Prints the failure result line (parseable like the success line). */
static void fail_result(const char *fmt, ...)
	__attribute__((format(printf, 1, 2)));

static void fail_result(const char *fmt, ...)
{
	char reason[512];
	va_list ap;
	size_t i;

	va_start(ap, fmt);
	vsnprintf(reason, sizeof(reason), fmt, ap);
	va_end(ap);
	for (i = 0; reason[i]; i++)
		if (reason[i] == '"' || reason[i] == '\n')
			reason[i] = '\'';
	printf("RESULT label=%s mode=%s target=%s status=fail reason=\"%s\"\n",
	       result_label, result_mode, result_target, reason);
	fflush(stdout);
}

static void usage(FILE *f)
{
	fprintf(f,
		"usage: rtt [options] line-json SOCKPATH\n"
		"       rtt [options] linphone SOCKPATH\n"
		"       rtt [options] netstring HOST:PORT\n"
		"       rtt free-port [N]\n"
		"       rtt cpus\n"
		"       rtt summarize [-l LABEL] FILE...\n"
		"options:\n"
		"  -n COUNT    measured round trips (default 5000)\n"
		"  -w COUNT    warm-up round trips (default 500)\n"
		"  -t SECONDS  time limit for warm-up plus measurement (default 60)\n"
		"  -c SECONDS  keep retrying to connect for this long (default 0)\n"
		"  -l LABEL    label of the result line (default: the mode)\n"
		"  -m METHOD   line-json method (default agent.getState)\n"
		"  -L COMMAND  linphone command (default call-status)\n"
		"  -N COMMAND  netstring command (default reginfo)\n"
		"  -o FILE     also write each measured sample (ns, one a line) to FILE\n"
		"  -p          probe: connect, one round trip, exit 0 if answered\n"
		"  -v          print each answer of the warm-up's first round trip\n");
}

static int parse_long(const char *s, long min, long max, long *out)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (errno || end == s || *end || v < min || v > max)
		return -1;
	*out = v;
	return 0;
}

static int parse_seconds(const char *s, double *out)
{
	char *end;
	double v;

	errno = 0;
	v = strtod(s, &end);
	if (errno || end == s || *end || !(v >= 0.0) || v > 86400.0)
		return -1;
	*out = v;
	return 0;
}

/* ---- connecting ---- */

static int connect_unix(const char *path, char *why, size_t whylen)
{
	struct sockaddr_un sa;
	int fd;

	if (strlen(path) >= sizeof(sa.sun_path)) {
		snprintf(why, whylen, "socket path too long: %s", path);
		return -2;
	}
	memset(&sa, 0, sizeof(sa));
	sa.sun_family = AF_UNIX;
	memcpy(sa.sun_path, path, strlen(path) + 1);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		snprintf(why, whylen, "socket: %s", strerror(errno));
		return -2;
	}
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		snprintf(why, whylen, "connect %s: %s", path, strerror(errno));
		close(fd);
		return -1;
	}
	return fd;
}

static int connect_tcp(const char *hostport, char *why, size_t whylen)
{
	char host[256];
	const char *colon = strrchr(hostport, ':');
	struct addrinfo hints, *res = NULL;
	size_t hl;
	int fd, rc, one = 1;

	if (!colon || colon == hostport || !colon[1]) {
		snprintf(why, whylen, "expected HOST:PORT, got %s", hostport);
		return -2;
	}
	hl = (size_t)(colon - hostport);
	if (hl >= sizeof(host)) {
		snprintf(why, whylen, "host name too long");
		return -2;
	}
	memcpy(host, hostport, hl);
	host[hl] = '\0';
	if (hl >= 2 && host[0] == '[' && host[hl - 1] == ']') {
		memmove(host, host + 1, hl - 2);
		host[hl - 2] = '\0';
	}
	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_NUMERICHOST | AI_NUMERICSERV;
	rc = getaddrinfo(host, colon + 1, &hints, &res);
	if (rc != 0) {
		snprintf(why, whylen, "address %s: %s", hostport, gai_strerror(rc));
		return -2;
	}
	fd = socket(res->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		snprintf(why, whylen, "socket: %s", strerror(errno));
		freeaddrinfo(res);
		return -2;
	}
	if (connect(fd, res->ai_addr, res->ai_addrlen) < 0) {
		snprintf(why, whylen, "connect %s: %s", hostport, strerror(errno));
		close(fd);
		freeaddrinfo(res);
		return -1;
	}
	freeaddrinfo(res);
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	return fd;
}

static int open_conn(const struct opts *o, char *why, size_t whylen)
{
	int fd;
	struct timeval tv;

	if (o->mode == MODE_NETSTRING)
		fd = connect_tcp(o->target, why, whylen);
	else
		fd = connect_unix(o->target, why, whylen);
	if (fd < 0)
		return fd;
	/* A bound on each wait for an answer; the run's limit is checked
	 * between round trips. */
	tv.tv_sec = REQ_TIMEOUT_MS / 1000;
	tv.tv_usec = (REQ_TIMEOUT_MS % 1000) * 1000;
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	return fd;
}

/* ---- small JSON scanning helpers (enough to match our own answers) ---- */

static const char *skip_ws(const char *p, const char *end)
{
	while (p < end && (*p == ' ' || *p == '\t' || *p == '\r' || *p == '\n'))
		p++;
	return p;
}

/*
 * Finds member "key" in [p, end) and returns a pointer to its value (after
 * the colon and blanks), or NULL. A plain scan: it does not track nesting,
 * which is fine for the short answers measured here.
 */
static const char *json_member(const char *p, const char *end, const char *key)
{
	size_t kl = strlen(key);

	while (p < end) {
		const char *q = memchr(p, '"', (size_t)(end - p));

		if (!q)
			return NULL;
		if ((size_t)(end - q) > kl + 1 && !memcmp(q + 1, key, kl) &&
		    q[kl + 1] == '"') {
			const char *v = skip_ws(q + kl + 2, end);

			if (v < end && *v == ':')
				return skip_ws(v + 1, end);
		}
		p = q + 1;
	}
	return NULL;
}

static int json_value_is(const char *v, const char *end, const char *lit)
{
	size_t l = strlen(lit);

	return v && (size_t)(end - v) >= l && !memcmp(v, lit, l);
}

static int json_int_is(const char *v, const char *end, long want)
{
	char tmp[32];
	size_t n = 0;

	if (!v)
		return 0;
	while (v + n < end && n < sizeof(tmp) - 1 &&
	       ((v[n] >= '0' && v[n] <= '9') || (n == 0 && v[n] == '-')))
		n++;
	if (n == 0)
		return 0;
	memcpy(tmp, v, n);
	tmp[n] = '\0';
	return strtol(tmp, NULL, 10) == want;
}

/* ---- one round trip ---- */

static int send_all(int fd, const char *p, size_t n, char *why, size_t whylen)
{
	while (n > 0) {
		ssize_t w = send(fd, p, n, MSG_NOSIGNAL);

		if (w < 0) {
			if (errno == EINTR)
				continue;
			snprintf(why, whylen, "send: %s", strerror(errno));
			return -1;
		}
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

/* Reads more bytes into the buffer. Returns -1 with a reason on error/EOF. */
static int read_more(struct conn *c, char *why, size_t whylen)
{
	ssize_t r;

	if (c->len >= BUF_SIZE) {
		snprintf(why, whylen, "answer larger than %d bytes", BUF_SIZE);
		return -1;
	}
	for (;;) {
		r = recv(c->fd, c->buf + c->len, BUF_SIZE - c->len, 0);
		if (r > 0) {
			c->len += (size_t)r;
			return 0;
		}
		if (r == 0) {
			snprintf(why, whylen, "connection closed by the server");
			return -1;
		}
		if (errno == EINTR)
			continue;
		if (errno == EAGAIN || errno == EWOULDBLOCK)
			snprintf(why, whylen, "no answer within %d ms", REQ_TIMEOUT_MS);
		else
			snprintf(why, whylen, "recv: %s", strerror(errno));
		return -1;
	}
}

static void consume(struct conn *c, size_t n)
{
	memmove(c->buf, c->buf + n, c->len - n);
	c->len -= n;
}

/* line-json: returns 1 if the answer is an error object, 0 if not, -1 on failure */
static int rt_line_json(const struct opts *o, struct conn *c, long id,
			char *why, size_t whylen)
{
	char req[512];
	int n = snprintf(req, sizeof(req),
			 "{\"jsonrpc\":\"2.0\",\"id\":%ld,\"method\":\"%s\"}\n",
			 id, o->method);

	if (n < 0 || (size_t)n >= sizeof(req)) {
		snprintf(why, whylen, "request too long");
		return -1;
	}
	if (send_all(c->fd, req, (size_t)n, why, whylen))
		return -1;
	for (;;) {
		char *nl;

		while ((nl = memchr(c->buf, '\n', c->len)) != NULL) {
			const char *end = nl;
			size_t linelen = (size_t)(nl - c->buf) + 1;
			int is_err;

			if (json_int_is(json_member(c->buf, end, "id"), end, id)) {
				is_err = json_member(c->buf, end, "error") != NULL;
				if (is_err)
					snprintf(c->last_reason, sizeof(c->last_reason),
						 "%.*s", (int)(end - c->buf), c->buf);
				if (o->verbose)
					fprintf(stderr, "answer: %.*s\n",
						(int)(end - c->buf), c->buf);
				consume(c, linelen);
				return is_err;
			}
			/* a notification or an unrelated line: skip it */
			consume(c, linelen);
		}
		if (read_more(c, why, whylen))
			return -1;
	}
}

/*
 * linphone-daemon answers a command with one write of
 *   "Status: Ok|Error\n" ["Reason: ...\n"] ["\n" body]
 * with no terminator of its own. The first answer on a connection is read
 * until the socket stays quiet for a moment, which teaches its size; every
 * later answer to the same command must have that size.
 */
static int rt_linphone(const struct opts *o, struct conn *c,
		       char *why, size_t whylen)
{
	char req[512];
	int n = snprintf(req, sizeof(req), "%s\n", o->command);

	if (n < 0 || (size_t)n >= sizeof(req)) {
		snprintf(why, whylen, "command too long");
		return -1;
	}
	if (send_all(c->fd, req, (size_t)n, why, whylen))
		return -1;
	if (c->linphone_len == 0) {
		struct pollfd pfd = { .fd = c->fd, .events = POLLIN };

		if (read_more(c, why, whylen))
			return -1;
		while (poll(&pfd, 1, 100) > 0) {
			if (read_more(c, why, whylen))
				return -1;
		}
		if (c->len < 8 || memcmp(c->buf, "Status: ", 8) ||
		    c->buf[c->len - 1] != '\n') {
			snprintf(why, whylen, "unexpected answer: %.*s",
				 (int)(c->len > 200 ? 200 : c->len), c->buf);
			return -1;
		}
		if (o->verbose)
			fprintf(stderr, "answer (%zu bytes): %.*s", c->len,
				(int)c->len, c->buf);
		c->linphone_len = c->len;
		c->len = 0;
		return 0;
	}
	while (c->len < c->linphone_len)
		if (read_more(c, why, whylen))
			return -1;
	if (c->len != c->linphone_len || memcmp(c->buf, "Status: ", 8)) {
		snprintf(why, whylen,
			 "answer of %zu bytes, expected %zu starting with 'Status: '",
			 c->len, c->linphone_len);
		return -1;
	}
	c->len = 0;
	return 0;
}

/* netstring: returns 1 if "ok" is not true, 0 if it is, -1 on failure */
static int rt_netstring(const struct opts *o, struct conn *c, long token,
			char *why, size_t whylen)
{
	char json[512], req[560];
	int jn, n;
	char tok[32];

	jn = snprintf(json, sizeof(json),
		      "{\"command\":\"%s\",\"token\":\"%ld\"}", o->ns_command, token);
	if (jn < 0 || (size_t)jn >= sizeof(json)) {
		snprintf(why, whylen, "command too long");
		return -1;
	}
	n = snprintf(req, sizeof(req), "%d:%s,", jn, json);
	if (n < 0 || (size_t)n >= sizeof(req)) {
		snprintf(why, whylen, "command too long");
		return -1;
	}
	snprintf(tok, sizeof(tok), "\"%ld\"", token);
	if (send_all(c->fd, req, (size_t)n, why, whylen))
		return -1;
	for (;;) {
		/* parse as many complete netstrings as the buffer holds */
		for (;;) {
			size_t i = 0, len = 0, total;
			const char *p, *end;

			while (i < c->len && i < 10 && c->buf[i] >= '0' &&
			       c->buf[i] <= '9') {
				len = len * 10 + (size_t)(c->buf[i] - '0');
				i++;
			}
			if (i == c->len)
				break; /* need more */
			if (i == 0 || c->buf[i] != ':') {
				snprintf(why, whylen, "bad netstring header: %.*s",
					 (int)(c->len > 40 ? 40 : c->len), c->buf);
				return -1;
			}
			total = i + 1 + len + 1;
			if (total > BUF_SIZE) {
				snprintf(why, whylen, "netstring of %zu bytes", len);
				return -1;
			}
			if (c->len < total)
				break; /* need more */
			if (c->buf[total - 1] != ',') {
				snprintf(why, whylen, "netstring without ','");
				return -1;
			}
			p = c->buf + i + 1;
			end = p + len;
			if (json_value_is(json_member(p, end, "response"), end, "true") &&
			    json_value_is(json_member(p, end, "token"), end, tok)) {
				int not_ok = !json_value_is(json_member(p, end, "ok"),
							    end, "true");

				if (not_ok)
					snprintf(c->last_reason, sizeof(c->last_reason),
						 "%.*s", (int)len, p);
				if (o->verbose)
					fprintf(stderr, "answer: %.*s\n", (int)len, p);
				consume(c, total);
				return not_ok;
			}
			consume(c, total); /* an event: skip it */
		}
		if (read_more(c, why, whylen))
			return -1;
	}
}

static int round_trip(const struct opts *o, struct conn *c, long seq,
		      char *why, size_t whylen)
{
	switch (o->mode) {
	case MODE_LINE_JSON:
		return rt_line_json(o, c, seq, why, whylen);
	case MODE_LINPHONE:
		return rt_linphone(o, c, why, whylen);
	case MODE_NETSTRING:
		return rt_netstring(o, c, seq, why, whylen);
	}
	return -1;
}

/*
 * Connects and completes a first round trip, retrying until the deadline.
 * linphone-daemon serves one client at a time and closes a second one, so
 * a connection accepted before the previous client's close was noticed is
 * simply retried.
 */
static int establish(const struct opts *o, struct conn *c, long *seq,
		     char *why, size_t whylen)
{
	uint64_t deadline = now_ns() + (uint64_t)(o->connect_wait * 1e9);
	int verbose_first = 1;

	for (;;) {
		int fd = open_conn(o, why, whylen);
		int rc;

		if (fd == -2)
			return -1;
		if (fd >= 0) {
			struct opts oo = *o;

			c->fd = fd;
			c->len = 0;
			c->linphone_len = 0;
			oo.verbose = o->verbose && verbose_first;
			verbose_first = 0;
			rc = round_trip(&oo, c, (*seq)++, why, whylen);
			if (rc >= 0)
				return 0;
			close(fd);
			c->fd = -1;
		}
		if (now_ns() >= deadline)
			return -1;
		{
			struct timespec ts = { 0, 10 * 1000 * 1000 };

			nanosleep(&ts, NULL);
		}
	}
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

/* nearest-rank percentile of sorted samples */
static double pct_us(const uint64_t *s, long n, double p)
{
	long rank = (long)(p / 100.0 * (double)n + 0.999999);

	if (rank < 1)
		rank = 1;
	if (rank > n)
		rank = n;
	return (double)s[rank - 1] / 1000.0;
}

/* Sorts the samples and prints the result line. */
static void print_result(const char *label, const char *mode,
			 const char *target, const char *status,
			 uint64_t *samples, long n, long warmup, long errors,
			 double elapsed)
{
	double sum_us = 0.0;
	long i;

	for (i = 0; i < n; i++)
		sum_us += (double)samples[i] / 1000.0;
	qsort(samples, (size_t)n, sizeof(*samples), cmp_u64);
	printf("RESULT label=%s mode=%s target=%s status=%s count=%ld warmup=%ld "
	       "p50_us=%.1f p90_us=%.1f p99_us=%.1f mean_us=%.1f min_us=%.1f "
	       "max_us=%.1f errors=%ld elapsed_s=%.3f\n",
	       label, mode, target, status, n, warmup,
	       pct_us(samples, n, 50), pct_us(samples, n, 90),
	       pct_us(samples, n, 99), sum_us / (double)n,
	       (double)samples[0] / 1000.0, (double)samples[n - 1] / 1000.0,
	       errors, elapsed);
	fflush(stdout);
}

static int write_samples(const char *path, const uint64_t *samples, long n)
{
	FILE *f = fopen(path, "w");
	long i;

	if (!f)
		return -1;
	for (i = 0; i < n; i++)
		fprintf(f, "%llu\n", (unsigned long long)samples[i]);
	return fclose(f);
}

static int summarize(int argc, char **argv)
{
	const char *label = "summary";
	uint64_t *samples = NULL;
	long n = 0, cap = 0;
	int i = 1;

	if (i + 1 < argc && !strcmp(argv[i], "-l")) {
		label = argv[i + 1];
		i += 2;
	}
	result_label = label;
	result_mode = "summary";
	if (i >= argc) {
		usage(stderr);
		return 2;
	}
	for (; i < argc; i++) {
		FILE *f = fopen(argv[i], "r");
		unsigned long long v;

		if (!f) {
			fail_result("%s: %s", argv[i], strerror(errno));
			return 1;
		}
		while (fscanf(f, "%llu", &v) == 1) {
			if (n == cap) {
				long ncap = cap ? cap * 2 : 4096;
				uint64_t *ns;

				if (ncap > MAX_COUNT) {
					fclose(f);
					fail_result("more than %ld samples", MAX_COUNT);
					return 1;
				}
				ns = realloc(samples, (size_t)ncap * sizeof(*ns));
				if (!ns) {
					fclose(f);
					fail_result("out of memory");
					return 1;
				}
				samples = ns;
				cap = ncap;
			}
			samples[n++] = (uint64_t)v;
		}
		fclose(f);
	}
	if (n == 0) {
		fail_result("no samples");
		return 1;
	}
	print_result(label, "summary", "-", "ok", samples, n, 0, 0, 0.0);
	free(samples);
	return 0;
}

/* ---- free-port ---- */

static int bind_lo(int type, int port)
{
	struct sockaddr_in sa;
	int fd = socket(AF_INET, type | SOCK_CLOEXEC, 0);

	if (fd < 0)
		return -1;
	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	sa.sin_port = htons((uint16_t)port);
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		close(fd);
		return -1;
	}
	return fd;
}

static int free_ports(long n)
{
	int held[4 * 64];
	int nheld = 0, attempts = 0;
	long found = 0;
	int ports[64];

	if (n < 1 || n > 64)
		return 2;
	while (found < n && attempts++ < 500) {
		struct sockaddr_in sa;
		socklen_t sl = sizeof(sa);
		int t0 = bind_lo(SOCK_STREAM, 0), u0, t1, u1, port;

		if (t0 < 0)
			break;
		if (getsockname(t0, (struct sockaddr *)&sa, &sl) < 0) {
			close(t0);
			break;
		}
		port = ntohs(sa.sin_port);
		if (port >= 65535) {
			close(t0);
			continue;
		}
		u0 = bind_lo(SOCK_DGRAM, port);
		t1 = bind_lo(SOCK_STREAM, port + 1);
		u1 = bind_lo(SOCK_DGRAM, port + 1);
		if (u0 < 0 || t1 < 0 || u1 < 0) {
			/* keep t0 bound so that it is not handed out again */
			if (u0 >= 0)
				close(u0);
			if (t1 >= 0)
				close(t1);
			if (u1 >= 0)
				close(u1);
			if (nheld < (int)(sizeof(held) / sizeof(held[0])))
				held[nheld++] = t0;
			else
				close(t0);
			continue;
		}
		if (nheld + 4 > (int)(sizeof(held) / sizeof(held[0]))) {
			close(t0);
			close(u0);
			close(t1);
			close(u1);
			break;
		}
		held[nheld++] = t0;
		held[nheld++] = u0;
		held[nheld++] = t1;
		held[nheld++] = u1;
		ports[found++] = port;
	}
	while (nheld > 0)
		close(held[--nheld]);
	if (found < n) {
		fprintf(stderr, "rtt: could not find %ld free ports\n", n);
		return 1;
	}
	for (long i = 0; i < n; i++)
		printf("%d\n", ports[i]);
	return 0;
}

static int print_cpus(void)
{
	cpu_set_t set;
	int cpu, first = 1;

	if (sched_getaffinity(0, sizeof(set), &set) < 0) {
		perror("rtt: sched_getaffinity");
		return 1;
	}
	for (cpu = 0; cpu < CPU_SETSIZE; cpu++) {
		if (!CPU_ISSET(cpu, &set))
			continue;
		printf(first ? "%d" : " %d", cpu);
		first = 0;
	}
	printf("\n");
	return 0;
}

/* ---- main ---- */

int main(int argc, char **argv)
{
	struct opts o = {
		.method = "agent.getState",
		.command = "call-status",
		.ns_command = "reginfo",
		.count = 5000,
		.warmup = 500,
		.time_limit = 60.0,
		.connect_wait = 0.0,
	};
	struct conn c = { .fd = -1 };
	char why[512] = "";
	uint64_t *samples, t_start, t_deadline, t_meas;
	long seq = 1, done = 0, errors = 0, i;
	int opt, partial = 0;
	double elapsed;

	signal(SIGPIPE, SIG_IGN);
	if (argc >= 2 && !strcmp(argv[1], "free-port")) {
		long n = 1;

		if (argc > 3 || (argc == 3 && parse_long(argv[2], 1, 64, &n))) {
			usage(stderr);
			return 2;
		}
		return free_ports(n);
	}
	if (argc == 2 && !strcmp(argv[1], "cpus"))
		return print_cpus();
	if (argc >= 2 && !strcmp(argv[1], "summarize"))
		return summarize(argc - 1, argv + 1);
	while ((opt = getopt(argc, argv, "+n:w:t:c:l:m:L:N:o:pvh")) != -1) {
		switch (opt) {
		case 'n':
			if (parse_long(optarg, 1, MAX_COUNT, &o.count))
				goto bad;
			break;
		case 'w':
			if (parse_long(optarg, 0, MAX_COUNT, &o.warmup))
				goto bad;
			break;
		case 't':
			if (parse_seconds(optarg, &o.time_limit) || o.time_limit <= 0)
				goto bad;
			break;
		case 'c':
			if (parse_seconds(optarg, &o.connect_wait))
				goto bad;
			break;
		case 'l':
			o.label = optarg;
			break;
		case 'm':
			o.method = optarg;
			break;
		case 'L':
			o.command = optarg;
			break;
		case 'N':
			o.ns_command = optarg;
			break;
		case 'o':
			o.samples_out = optarg;
			break;
		case 'p':
			o.probe = 1;
			break;
		case 'v':
			o.verbose = 1;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			goto bad;
		}
	}
	if (argc - optind != 2)
		goto bad;
	o.mode_name = argv[optind];
	o.target = argv[optind + 1];
	if (!strcmp(o.mode_name, "line-json"))
		o.mode = MODE_LINE_JSON;
	else if (!strcmp(o.mode_name, "linphone"))
		o.mode = MODE_LINPHONE;
	else if (!strcmp(o.mode_name, "netstring"))
		o.mode = MODE_NETSTRING;
	else
		goto bad;
	if (!o.label)
		o.label = o.mode_name;
	result_label = o.label;
	result_mode = o.mode_name;
	result_target = o.target;

	c.buf = malloc(BUF_SIZE);
	samples = malloc((size_t)o.count * sizeof(*samples));
	if (!c.buf || !samples) {
		fail_result("out of memory");
		return 1;
	}

	t_start = now_ns();
	if (establish(&o, &c, &seq, why, sizeof(why))) {
		if (o.probe) {
			fprintf(stderr, "rtt: %s: %s\n", o.label, why);
			return 1;
		}
		fail_result("%s", why);
		return 1;
	}
	if (o.probe) {
		close(c.fd);
		return 0;
	}

	/* the time limit counts from the first answer */
	t_start = now_ns();
	t_deadline = t_start + (uint64_t)(o.time_limit * 1e9);

	for (i = 0; i < o.warmup; i++) {
		if (round_trip(&o, &c, seq++, why, sizeof(why)) < 0) {
			fail_result("warm-up round trip %ld: %s", i + 1, why);
			return 1;
		}
		if (now_ns() >= t_deadline) {
			fail_result("time limit of %gs reached during warm-up",
				    o.time_limit);
			return 1;
		}
	}

	t_meas = now_ns();
	for (done = 0; done < o.count; done++) {
		uint64_t t0, t1;
		int rc;

		t0 = now_ns();
		rc = round_trip(&o, &c, seq++, why, sizeof(why));
		t1 = now_ns();
		if (rc < 0) {
			fail_result("round trip %ld: %s", done + 1, why);
			return 1;
		}
		if (rc > 0)
			errors++;
		samples[done] = t1 - t0;
		if (t1 >= t_deadline && done + 1 < o.count) {
			done++;
			partial = 1;
			break;
		}
	}
	elapsed = (double)(now_ns() - t_meas) / 1e9;
	close(c.fd);

	if (o.samples_out && write_samples(o.samples_out, samples, done)) {
		fail_result("writing %s: %s", o.samples_out, strerror(errno));
		return 1;
	}
	print_result(o.label, o.mode_name, o.target, partial ? "partial" : "ok",
		     samples, done, o.warmup, errors, elapsed);
	if (errors)
		fprintf(stderr, "rtt: %s: %ld error answers, last: %s\n", o.label,
			errors, c.last_reason);
	free(samples);
	free(c.buf);
	return 0;
bad:
	usage(stderr);
	return 2;
}
