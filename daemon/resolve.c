/* Host names resolved off the event loop. libre 1.1.0's DNS client asks
 * DNS servers only: it reads neither /etc/hosts nor nsswitch.conf, so it
 * cannot find localhost or a name an administrator put in /etc/hosts.
 * getaddrinfo can, but blocks for as long as a DNS server keeps it
 * waiting; so it runs in a detached thread of its own and its answer comes
 * back to the loop through a libre mqueue (a pipe the loop watches).
 *
 * The thread and the loop share one job, counted by references under a
 * lock. Freeing the lookup on the loop marks the job cancelled under that
 * lock before the mqueue goes, and the thread pushes only while it holds
 * the lock and the job is not cancelled: so a thread that outlives its
 * lookup (a slow DNS server) never touches a freed mqueue. */
#include <errno.h>
#include <netdb.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>

#include <re.h>

#include "resolve.h"

struct job {
	pthread_mutex_t lock;
	unsigned refs;
	bool cancelled;
	struct mqueue *mq;      /* the lookup's; valid while not cancelled */
	char host[256];
	uint16_t port;
	/* the answer, written by the thread before it pushes */
	int err;
	char why[128];
	struct sa addr;
};

struct resolve {
	struct job *job;        /* NULL when answered without a thread */
	struct mqueue *mq;
	struct tmr tmr;         /* answers given at once */
	int err;
	char why[128];
	struct sa addr;
	resolve_h *h;
	void *arg;
};

static atomic_uint running;

static void job_put(struct job *j)
{
	unsigned left;

	pthread_mutex_lock(&j->lock);
	left = --j->refs;
	pthread_mutex_unlock(&j->lock);
	if (left)
		return;
	pthread_mutex_destroy(&j->lock);
	free(j);
}

/* getaddrinfo's first IPv4 answer, else its first one: ccpd's SIP and
 * media sockets are IPv4 unless given an IPv6 address, and localhost is
 * often ::1 first. */
static void lookup(struct job *j)
{
	struct addrinfo hints = { .ai_family = AF_UNSPEC,
				  .ai_socktype = SOCK_DGRAM };
	struct addrinfo *res = NULL, *ai, *pick = NULL;
	int r = getaddrinfo(j->host, NULL, &hints, &res);

	if (r) {
		j->err = r == EAI_MEMORY ? ENOMEM : r == EAI_SYSTEM ? errno :
			 ENOENT;
		snprintf(j->why, sizeof(j->why), "%s",
			 r == EAI_SYSTEM ? strerror(j->err) : gai_strerror(r));
		return;
	}
	for (ai = res; ai; ai = ai->ai_next)
		if (ai->ai_family == AF_INET || ai->ai_family == AF_INET6) {
			if (!pick || (pick->ai_family != AF_INET &&
				      ai->ai_family == AF_INET))
				pick = ai;
		}
	if (!pick) {
		j->err = ENOENT;
		snprintf(j->why, sizeof(j->why), "no IPv4 or IPv6 address");
	} else {
		sa_set_sa(&j->addr, pick->ai_addr);
		sa_set_port(&j->addr, j->port);
	}
	freeaddrinfo(res);
}

static void *lookup_thread(void *arg)
{
	struct job *j = arg;

	lookup(j);
	pthread_mutex_lock(&j->lock);
	if (!j->cancelled && mqueue_push(j->mq, 0, j) != 0)
		j->cancelled = true;    /* nobody will hear: never happens */
	pthread_mutex_unlock(&j->lock);
	job_put(j);
	atomic_fetch_sub(&running, 1);
	return NULL;
}

static void answer(struct resolve *r, int err, const char *why,
		   const struct sa *addr)
{
	/* the handler may free r: nothing touches it afterwards */
	r->h(err, why, err ? NULL : addr, r->arg);
}

static void on_mqueue(int id, void *data, void *arg)
{
	struct resolve *r = arg;
	struct job *j = data;

	(void)id;
	/* pairs with the thread's unlock after it wrote the answer */
	pthread_mutex_lock(&j->lock);
	pthread_mutex_unlock(&j->lock);
	answer(r, j->err, j->why, &j->addr);
}

static void on_timer(void *arg)
{
	struct resolve *r = arg;

	answer(r, r->err, r->why, &r->addr);
}

static void resolve_destructor(void *arg)
{
	struct resolve *r = arg;

	tmr_cancel(&r->tmr);
	if (r->job) {
		pthread_mutex_lock(&r->job->lock);
		r->job->cancelled = true;
		pthread_mutex_unlock(&r->job->lock);
		job_put(r->job);
	}
	r->mq = mem_deref(r->mq);
}

static bool under_invalid(const char *host)
{
	size_t n = strlen(host);

	if (n && host[n - 1] == '.')
		n--;
	return (n == 7 && !strncasecmp(host, "invalid", 7)) ||
	       (n > 8 && !strncasecmp(host + n - 8, ".invalid", 8));
}

/* The thread starts with every signal blocked: libre's handlers must run
 * on the loop's thread. */
static int spawn(struct job *j)
{
	pthread_attr_t attr;
	sigset_t all, old;
	pthread_t t;
	int r;

	if (atomic_fetch_add(&running, 1) >= RESOLVE_MAX_RUNNING) {
		atomic_fetch_sub(&running, 1);
		return EAGAIN;
	}
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	r = pthread_attr_init(&attr);
	if (!r)
		r = pthread_attr_setdetachstate(&attr,
						PTHREAD_CREATE_DETACHED);
	if (!r)
		r = pthread_create(&t, &attr, lookup_thread, j);
	pthread_attr_destroy(&attr);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (r)
		atomic_fetch_sub(&running, 1);
	return r;
}

static int start_thread(struct resolve *r, const char *host, uint16_t port)
{
	struct job *j = calloc(1, sizeof(*j));
	int err;

	if (!j)
		return ENOMEM;
	pthread_mutex_init(&j->lock, NULL);
	j->refs = 2;            /* the lookup's and the thread's */
	j->mq = r->mq;
	j->port = port;
	snprintf(j->host, sizeof(j->host), "%s", host);
	r->job = j;
	err = spawn(j);
	if (err)
		j->refs = 1;    /* no thread: the destructor frees it */
	return err;
}

int resolve_start(struct resolve **rp, const char *host, uint16_t port,
		  resolve_h *h, void *arg)
{
	struct resolve *r;
	int err = 0;

	if (strlen(host) >= sizeof(((struct job *)0)->host))
		return -ENAMETOOLONG;
	r = mem_zalloc(sizeof(*r), resolve_destructor);
	if (!r)
		return -ENOMEM;
	tmr_init(&r->tmr);
	r->h = h;
	r->arg = arg;
	if (!sa_set_str(&r->addr, host, port)) {
		tmr_start(&r->tmr, 0, on_timer, r);
	} else if (under_invalid(host)) {
		r->err = ENOENT;
		snprintf(r->why, sizeof(r->why), "names under .invalid never "
			 "resolve (RFC 6761)");
		tmr_start(&r->tmr, 0, on_timer, r);
	} else {
		err = mqueue_alloc(&r->mq, on_mqueue, r);
		if (!err)
			err = start_thread(r, host, port);
	}
	if (err) {
		mem_deref(r);
		return -err;
	}
	*rp = r;
	return 0;
}

int resolve_split(const char *s, uint16_t defport, char *host, size_t size,
		  uint16_t *port)
{
	const char *colon, *end;
	unsigned long n;
	char *stop;

	if (!strncmp(s, "stun:", 5) || !strncmp(s, "turn:", 5))
		s += 5;
	*port = defport;
	if (*s == '[') {
		end = strchr(s, ']');
		if (!end || (end[1] && end[1] != ':'))
			return -EINVAL;
		colon = end[1] ? end + 1 : NULL;
		s++;
	} else {
		colon = strchr(s, ':');
		if (colon && strchr(colon + 1, ':'))
			colon = NULL;   /* an IPv6 address without a port */
		end = colon ? colon : s + strlen(s);
	}
	if (end == s || (size_t)(end - s) >= size)
		return -EINVAL;
	memcpy(host, s, (size_t)(end - s));
	host[end - s] = '\0';
	if (!colon)
		return 0;
	n = strtoul(colon + 1, &stop, 10);
	if (!colon[1] || *stop || n == 0 || n > 65535)
		return -EINVAL;
	*port = (uint16_t)n;
	return 0;
}
