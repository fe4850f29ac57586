/* Unit tests for the outbox: order, idempotent keys, acknowledgement,
 * sequence numbers that survive a reopen, the desk id, and nothing lost
 * that a put acknowledged when the writer is killed with SIGKILL. Links
 * the outbox and SQLite only. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "outbox.h"
#include "tap.h"

static char dir[] = "/tmp/ccpd-outbox-XXXXXX";
static char path[256];

static struct outbox *open_or_die(void)
{
	struct outbox *ob = NULL;
	char err[256] = "";

	if (outbox_open(&ob, path, err, sizeof(err)) < 0) {
		printf("Bail out! cannot open %s: %s\n", path, err);
		exit(1);
	}
	return ob;
}

struct seen {
	uint64_t seq[64];
	char key[64][16];
	unsigned n;
};

static int collect(const struct outbox_rec *rec, void *arg)
{
	struct seen *s = arg;

	if (s->n < 64) {
		s->seq[s->n] = rec->seq;
		snprintf(s->key[s->n], sizeof(s->key[0]), "%s", rec->key);
		s->n++;
	}
	return 0;
}

static void check_order_and_keys(void)
{
	struct tap_case c = { 0 };
	struct outbox *ob = open_or_die();
	struct seen s = { 0 };
	uint64_t a = 0, b = 0, again = 0;
	int r;

	outbox_put(ob, "store", "k1", "{}", &a);
	outbox_put(ob, "bus", "k1", "{}", NULL);
	outbox_put(ob, "store", "k2", "{\"x\":1}", &b);
	r = outbox_put(ob, "store", "k1", "{\"other\":1}", &again);
	if (r != -EALREADY || again != a)
		tap_fail(&c, "a second k1 gave %d, seq %llu (first %llu)\n", r,
			 (unsigned long long)again, (unsigned long long)a);
	if (!(b > a))
		tap_fail(&c, "seq not increasing: %llu then %llu\n",
			 (unsigned long long)a, (unsigned long long)b);
	outbox_scan(ob, "store", 0, 0, collect, &s);
	if (s.n != 2 || strcmp(s.key[0], "k1") || strcmp(s.key[1], "k2"))
		tap_fail(&c, "scan gave %u records\n", s.n);
	if (outbox_waiting(ob, "store") != 2 || outbox_waiting(ob, NULL) != 3)
		tap_fail(&c, "waiting: store %llu, all %llu\n",
			 (unsigned long long)outbox_waiting(ob, "store"),
			 (unsigned long long)outbox_waiting(ob, NULL));
	if (outbox_ack(ob, "store", a) != 0 ||
	    outbox_ack(ob, "store", a) != -ENOENT)
		tap_fail(&c, "ack twice did not give 0 then -ENOENT\n");
	memset(&s, 0, sizeof(s));
	outbox_scan(ob, "store", 0, 1, collect, &s);
	if (s.n != 1 || s.seq[0] != b)
		tap_fail(&c, "after the ack the scan gave %u records\n", s.n);
	outbox_close(ob);
	tap_report("order, idempotent keys and acknowledgement", &c);
}

static void check_reopen(void)
{
	struct tap_case c = { 0 };
	struct outbox *ob = open_or_die();
	char id[37];
	uint64_t next, seq = 0;

	snprintf(id, sizeof(id), "%s", outbox_desk_id(ob));
	next = outbox_next_seq(ob);
	outbox_close(ob);
	ob = open_or_die();
	if (strcmp(id, outbox_desk_id(ob)) || strlen(id) != 36 || id[14] != '4')
		tap_fail(&c, "desk id %s then %s\n", id, outbox_desk_id(ob));
	outbox_put(ob, "bus", "after-reopen", "{}", &seq);
	if (seq != next)
		tap_fail(&c, "after a reopen seq %llu, expected %llu\n",
			 (unsigned long long)seq, (unsigned long long)next);
	outbox_close(ob);
	tap_report("the desk id and the sequence survive a reopen", &c);
}

/* A child puts records and says each one's number down a pipe once its
 * put has returned; it is killed with SIGKILL mid-stream. Every record it
 * reported must be there. */
static void check_kill9(void)
{
	struct tap_case c = { 0 };
	struct outbox *ob;
	int fds[2];
	unsigned acked = 0, i, n;
	pid_t pid;

	if (pipe(fds) < 0)
		exit(1);
	pid = fork();
	if (pid == 0) {
		char key[16];

		close(fds[0]);
		ob = open_or_die();
		for (i = 1; i <= 100000; i++) {
			snprintf(key, sizeof(key), "kill-%u", i);
			if (outbox_put(ob, "kill", key, "{}", NULL) != 0)
				_exit(1);
			if (write(fds[1], &i, sizeof(i)) != sizeof(i))
				_exit(1);
		}
		_exit(0);
	}
	close(fds[1]);
	while (acked < 50 && read(fds[0], &n, sizeof(n)) == sizeof(n))
		acked = n;
	kill(pid, SIGKILL);
	while (read(fds[0], &n, sizeof(n)) == sizeof(n))
		acked = n;
	waitpid(pid, NULL, 0);
	close(fds[0]);
	ob = open_or_die();
	if (outbox_waiting(ob, "kill") < acked)
		tap_fail(&c, "%u acknowledged, %llu found\n", acked,
			 (unsigned long long)outbox_waiting(ob, "kill"));
	outbox_close(ob);
	tap_report("a kill -9 loses nothing that a put acknowledged", &c);
}

int main(void)
{
	if (!mkdtemp(dir))
		return 1;
	snprintf(path, sizeof(path), "%s/outbox.db", dir);
	tap_plan(3);
	check_order_and_keys();
	check_reopen();
	check_kill9();
	for (const char *ext = ""; ext; ext = *ext ? NULL : "-wal") {
		char f[300];

		snprintf(f, sizeof(f), "%s%s", path, ext);
		unlink(f);
	}
	snprintf(path + strlen(path), 8, "-shm");
	unlink(path);
	rmdir(dir);
	return tap_exit();
}
