/* ccpd: arguments, configuration, systemd readiness and watchdog, signals,
 * and the start-up and shut-down order of the modules. */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <netdb.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <re.h>
#include <systemd/sd-daemon.h>

#include "admin.h"
#include "auth.h"
#include "bus.h"
#include "conf.h"
#include "dburl.h"
#include "desk.h"
#include "events.h"
#include "instance.h"
#include "ipc.h"
#include "log.h"
#include "rpc.h"
#include "outbox.h"
#include "pg.h"
#include "presence.h"
#include "sipsecret.h"
#include "store.h"
#include "util.h"
#include "ws.h"

struct daemon {
	struct conf conf;
	struct store *store;
	struct outbox *outbox;
	struct bus *bus;
	struct instance *instance;    /* database= names PostgreSQL */
	char store_path[4200];        /* the SQLite file: the store or its copy */
	struct presence *presence;
	struct auth *auth;
	struct admin *admin;
	struct events *ev;
	struct desk *desk;
	struct rpc *rpc;
	struct ipc *ipc;
	struct ws *ws;
	struct tmr watchdog_tmr;
	uint64_t watchdog_usec;
	bool ipc_ready;
	bool media_ready;
};

static void usage(FILE *f)
{
	fprintf(f,
		"Usage: ccpd [OPTIONS]\n"
		"Headless contact-center softphone daemon.\n\n"
		"  -c, --config FILE     read settings from FILE (repeatable;"
		" a later file wins)\n"
		"  -o, --option NAME=VALUE\n"
		"                        set one setting (repeatable; wins over"
		" the file)\n"
		"      --dump-config     print the effective settings and exit\n"
		"  -v, --verbose         log at debug level\n"
		"  -h, --help            show this help\n"
		"      --version         show the version\n\n"
		"See ccpd(8) and ccpd.conf(5).\n");
}

static volatile sig_atomic_t caught_signal;

/* Runs in signal context (libre calls it from its own handler): only
 * async-signal-safe work here; the loop logs once it has returned. */
static void signal_handler(int sig)
{
	caught_signal = sig;
	re_cancel();
}

static void notify_ready(struct daemon *dm)
{
	if (!dm->ipc_ready || !dm->media_ready)
		return;
	sd_notify(0, "READY=1\nSTATUS=Ready");
	log_info("main: ready");
}

static void on_ready(void *arg)
{
	struct daemon *dm = arg;

	dm->media_ready = true;
	notify_ready(dm);
}

static void watchdog_ping(void *arg)
{
	struct daemon *dm = arg;

	sd_notify(0, "WATCHDOG=1");
	tmr_start(&dm->watchdog_tmr, dm->watchdog_usec / 2000, watchdog_ping,
		  dm);
}

/* The Unix socket and the HTTP port may come from systemd (ccpd.socket):
 * the first listening Unix stream socket and the first listening TCP
 * socket among the inherited fds. */
static void inherited_sockets(int *unix_fd, int *tcp_fd)
{
	int n = sd_listen_fds(1), i;

	*unix_fd = *tcp_fd = -1;
	for (i = 0; i < n; i++) {
		int fd = SD_LISTEN_FDS_START + i;

		if (*unix_fd < 0 &&
		    sd_is_socket_unix(fd, SOCK_STREAM, 1, NULL, 0) > 0)
			*unix_fd = fd;
		else if (*tcp_fd < 0 &&
			 sd_is_socket_inet(fd, AF_UNSPEC, SOCK_STREAM, 1, 0) > 0)
			*tcp_fd = fd;
		else
			log_warning("main: inherited fd %d is neither a "
				    "listening Unix stream socket nor a "
				    "listening TCP socket, ignoring", fd);
	}
}

static int parse_args(struct daemon *dm, int argc, char **argv, bool *exit_now)
{
	enum { OPT_VERSION = 256, OPT_DUMP };
	static const struct option opts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "option", required_argument, NULL, 'o' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, OPT_VERSION },
		{ "dump-config", no_argument, NULL, OPT_DUMP },
		{ 0 }
	};
	char **files = calloc((size_t)argc + 1, sizeof(char *));
	char **overrides = calloc((size_t)argc + 1, sizeof(char *));
	bool dump = false, verbose = false;
	char err[512];
	int n = 0, nfiles = 0, c, i, r = 0;

	if (!overrides || !files) {
		r = -ENOMEM;
		goto out;
	}
	*exit_now = false;
	while ((c = getopt_long(argc, argv, "c:o:vh", opts, NULL)) != -1) {
		switch (c) {
		case 'c':
			files[nfiles++] = optarg;
			break;
		case 'o':
			overrides[n++] = optarg;
			break;
		case 'v':
			verbose = true;
			break;
		case 'h':
			usage(stdout);
			*exit_now = true;
			goto out;
		case OPT_VERSION:
			printf("ccpd %s\n", CCPD_VERSION);
			*exit_now = true;
			goto out;
		case OPT_DUMP:
			dump = true;
			break;
		default:
			usage(stderr);
			r = -EINVAL;
			goto out;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "ccpd: unexpected argument '%s'\n",
			argv[optind]);
		r = -EINVAL;
		goto out;
	}
	/* the files in order (a per-agent drop-in after the shared file),
	 * then -o, so the command line wins */
	for (i = 0; i < nfiles; i++)
		if ((r = conf_load(&dm->conf, files[i], err, sizeof(err))) < 0)
			goto bad;
	for (i = 0; i < n; i++)
		if ((r = conf_set_option(&dm->conf, overrides[i], err,
					 sizeof(err))) < 0)
			goto bad;
	if (verbose)
		conf_set(&dm->conf, "log_level", "debug", err, sizeof(err));
	if ((r = conf_finish(&dm->conf, err, sizeof(err))) < 0)
		goto bad;
	if (log_parse_level(dm->conf.log_level) < 0) {
		snprintf(err, sizeof(err), "log_level: unknown level '%s'",
			 dm->conf.log_level);
		r = -EINVAL;
		goto bad;
	}
	if (dump) {
		conf_dump(&dm->conf, stdout);
		*exit_now = true;
	}
	goto out;
bad:
	fprintf(stderr, "ccpd: %s\n", err);
out:
	free(overrides);
	free(files);
	return r;
}

/* libpq's reason may quote the value: it is shown with its password
 * masked, as --dump-config shows it. */
static void bad_database(const char *value, const char *why)
{
	char masked[1024], shown[2300];
	const char *at = strstr(why, value);

	dburl_mask(value, masked, sizeof(masked));
	if (at)
		snprintf(shown, sizeof(shown), "%.*s%s%.256s",
			 (int)(at - why) < 1024 ? (int)(at - why) : 1024, why,
			 masked, at + strlen(value));
	else
		snprintf(shown, sizeof(shown), "%s", why);
	log_error("main: database: not a PostgreSQL URI or connection string "
		  "libpq can read: %s", shown);
}

static int open_store(struct daemon *dm)
{
	const struct auth_settings as = {
		.session_timeout = dm->conf.session_timeout,
		.login_failures = dm->conf.login_failures,
		.login_lockout = dm->conf.login_lockout,
		.password_min = dm->conf.password_min_length,
	};
	char err[512] = "", dir[4200], *slash;
	int r;

	/* PostgreSQL: the SQLite file in state_dir is this desk's copy of
	 * the instance; a URI is never taken for a path */
	if (dburl_is_postgres(dm->conf.database)) {
		r = pg_check_conninfo(dm->conf.database, err, sizeof(err));
		if (r < 0) {
			bad_database(dm->conf.database, err);
			return r;
		}
		snprintf(dm->store_path, sizeof(dm->store_path),
			 "%s/instance-cache.db", dm->conf.state_dir);
	} else {
		snprintf(dm->store_path, sizeof(dm->store_path), "%s",
			 dm->conf.database);
	}
	/* the database's directory: state_dir unless database says else */
	snprintf(dir, sizeof(dir), "%s", dm->store_path);
	slash = strrchr(dir, '/');
	if (slash && slash != dir) {
		*slash = '\0';
		r = util_mkdir_p(dir, 0700);
		if (r < 0) {
			log_error("main: cannot create %s: %s", dir,
				  strerror(-r));
			return r;
		}
	}
	r = store_open(&dm->store, dm->store_path, err, sizeof(err));
	if (r < 0) {
		log_error("store: cannot open the database: %s", err);
		return r;
	}
	log_debug("store: %s, schema version %d", dm->store_path,
		  store_schema_version(dm->store));
	r = auth_new(&dm->auth, dm->store, &as);
	if (r == 0)
		r = auth_seed(dm->auth);
	if (r < 0)
		log_error("auth: cannot start: %s", strerror(-r));
	return r;
}

/* /metrics: the desk's live figures after the transport's own, then the
 * bus's, then the instance's database */
static int metrics_text(char **text, void *arg)
{
	struct daemon *dm = arg;
	char *desk = NULL, *db = NULL;
	int r = desk_prometheus(dm->desk, &desk);

	if (r == 0)
		r = bus_prometheus(dm->bus, &desk);
	if (r < 0 || !dm->instance) {
		*text = desk;
		return r;
	}
	r = instance_prometheus(dm->instance, &db);
	if (r == 0 && asprintf(text, "%s%s", desk, db) < 0)
		r = -ENOMEM;
	free(desk);
	free(db);
	return r;
}

/* The user's sessions end because of another desk; the clients are told
 * (session.ended), then the desk is nobody's as after a logout. */
static void session_ended(struct daemon *dm, const char *user,
			  const char *reason)
{
	cJSON *data = cJSON_CreateObject();

	if (auth_user_sessions(dm->auth, user) == 0 &&
	    (!desk_user(dm->desk) || strcmp(desk_user(dm->desk), user))) {
		cJSON_Delete(data);
		return;
	}
	if (data) {
		cJSON_AddStringToObject(data, "username", user);
		cJSON_AddStringToObject(data, "reason", reason);
		events_emit(dm->ev, "session.ended", data);
	}
	auth_end_user(dm->auth, user);
	admin_sessions_ended(dm->admin, user);
}

/* The user logged out at another desk: the sessions they had here before
 * then end too (one opened since, after the logout, stays). */
static void logged_out(struct daemon *dm, const char *user, uint64_t time)
{
	cJSON *data;

	if (auth_end_user_before(dm->auth, user, time) == 0)
		return;
	log_info("main: '%s' logged out at another desk: their sessions here "
		 "end", user);
	data = cJSON_CreateObject();
	if (data) {
		cJSON_AddStringToObject(data, "username", user);
		cJSON_AddStringToObject(data, "reason", "logout");
		events_emit(dm->ev, "session.ended", data);
	}
	admin_sessions_ended(dm->admin, user);
}

/* Another desk changed the instance, and the local copy now says so: the
 * parts that keep settings in memory take them again. */
static void instance_changed(enum instance_change what, const char *table,
			     const char *key, uint64_t time, void *arg)
{
	struct daemon *dm = arg;
	char **names;
	size_t n;

	switch (what) {
	case INSTANCE_TABLE:
		if (strcmp(table, "users") == 0 ||
		    strcmp(table, "profiles") == 0)
			auth_refresh(dm->auth);
		if (strcmp(table, "statuses") == 0 &&
		    store_status_names(dm->store, &names, &n) == 0) {
			desk_set_statuses(dm->desk,
					  (const char *const *)names, n);
			store_free_names(names, n);
		}
		break;
	case INSTANCE_PASSWORD:
	case INSTANCE_USER_GONE:
	case INSTANCE_USER_MOVED:
		/* a new password, no user, or the user took another desk:
		 * their sessions here end, as when that happens here */
		log_info("main: '%s' %s: their sessions here end", key,
			 what == INSTANCE_PASSWORD ?
			 "was given a new password at another desk" :
			 what == INSTANCE_USER_GONE ?
			 "was deleted at another desk" :
			 "logged in at another desk");
		session_ended(dm, key, what == INSTANCE_PASSWORD ? "password" :
			      what == INSTANCE_USER_GONE ? "deleted" :
			      "elsewhere");
		break;
	case INSTANCE_LOGGED_OUT:
		logged_out(dm, key, time);
		break;
	}
}

static int open_instance(struct daemon *dm)
{
	int r;

	if (!dburl_is_postgres(dm->conf.database))
		return 0;
	r = instance_new(&dm->instance, dm->conf.database,
			 dm->conf.database_password_file, dm->store,
			 dm->outbox, dm->ev);
	if (r < 0) {
		log_error("instance: cannot start: %s", strerror(-r));
		return r;
	}
	instance_watch(dm->instance, instance_changed, dm);
	rpc_set_instance(dm->rpc, dm->instance);
	return 0;
}

/* Whether one of the ports baresip is about to open (UDP and TCP on
 * sip_listen's port, TCP on the next for SIP over TLS) is taken: 0, or
 * -EADDRINUSE. Only a numeric address is probed; baresip reports the
 * rest. */
static int sip_port_taken(const char *host, unsigned port, int type,
			  unsigned *busy)
{
	struct addrinfo hints = { .ai_flags = AI_NUMERICHOST,
				  .ai_socktype = type }, *ai;
	char service[8];
	int fd, one = 1, r = 0;

	snprintf(service, sizeof(service), "%u", port);
	if (getaddrinfo(host, service, &hints, &ai) != 0)
		return 0;
	fd = socket(ai->ai_family, type | SOCK_CLOEXEC, 0);
	/* a TCP port left in TIME_WAIT by our own last run is free */
	if (fd >= 0 && type == SOCK_STREAM)
		setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (fd >= 0 && bind(fd, ai->ai_addr, ai->ai_addrlen) < 0 &&
	    errno == EADDRINUSE) {
		*busy = port;
		r = -EADDRINUSE;
	}
	if (fd >= 0)
		close(fd);
	freeaddrinfo(ai);
	return r;
}

/* Two instances given the same agent_slot (or another SIP program on the
 * port) would leave baresip failing to start over and over: say so and
 * stop instead. */
static int check_sip_ports(const struct conf *c)
{
	char host[256];
	unsigned port, busy = 0;
	int r;

	if (conf_split_addr(c->sip_listen, host, sizeof(host), &port) < 0)
		return 0;
	if ((r = sip_port_taken(host, port, SOCK_DGRAM, &busy)) < 0 ||
	    (r = sip_port_taken(host, port, SOCK_STREAM, &busy)) < 0 ||
	    (port < 65535 &&
	     (r = sip_port_taken(host, port + 1, SOCK_STREAM, &busy)) < 0)) {
		if (c->agent_slot)
			log_error("main: sip_listen %s: port %u is in use; is "
				  "agent_slot %u given to another instance "
				  "too?", c->sip_listen, busy, c->agent_slot);
		else
			log_error("main: sip_listen %s: port %u is in use",
				  c->sip_listen, busy);
	}
	return r;
}

/* The one durable queue for records bound for shared servers (the
 * instance's database, the bus): state_dir/outbox.db. */
static int open_outbox(struct daemon *dm)
{
	char err[512] = "", path[4200];
	int r;

	r = util_mkdir_p(dm->conf.state_dir, 0700);
	if (r < 0) {
		log_error("main: cannot create %s: %s", dm->conf.state_dir,
			  strerror(-r));
		return r;
	}
	snprintf(path, sizeof(path), "%s/outbox.db", dm->conf.state_dir);
	r = outbox_open(&dm->outbox, path, err, sizeof(err));
	if (r < 0) {
		log_error("outbox: cannot open: %s", err);
		return r;
	}
	log_debug("outbox: %s, desk %s, %llu records waiting", path,
		  outbox_desk_id(dm->outbox),
		  (unsigned long long)outbox_waiting(dm->outbox, NULL));
	return 0;
}

/* The key that seals users' SIP passwords: a key file anyone else may
 * read is refused, so that ccpd never starts believing they are safe. */
static int load_sip_key(const struct daemon *dm)
{
	char err[512];
	int r = sipsecret_load(dm->conf.sip_secret_key_file, err, sizeof(err));

	if (r < 0)
		log_error("main: %s", err);
	else if (sipsecret_ready())
		log_debug("main: SIP passwords are sealed with the key in %s",
			  dm->conf.sip_secret_key_file);
	return r;
}

static int start(struct daemon *dm)
{
	int unix_fd, tcp_fd, r;

	/* before any port of ours is open, so that a slot given twice is
	 * named as such */
	r = check_sip_ports(&dm->conf);
	if (r < 0)
		return r;
	r = util_mkdir_p(dm->conf.runtime_dir, 0755);
	if (r < 0) {
		log_error("main: cannot create %s: %s", dm->conf.runtime_dir,
			  strerror(-r));
		return r;
	}
	r = open_outbox(dm);
	if (r < 0)
		return r;
	r = load_sip_key(dm);
	if (r < 0)
		return r;
	r = open_store(dm);
	if (r < 0)
		return r;
	r = events_new(&dm->ev, dm->conf.event_buffer);
	if (r < 0)
		return r;
	r = desk_new(&dm->desk, &dm->conf, dm->ev, dm->store, on_ready, dm);
	if (r < 0)
		return r;
	r = admin_new(&dm->admin, dm->store, dm->auth, dm->desk, &dm->conf);
	if (r < 0)
		return r;
	r = rpc_new(&dm->rpc, &dm->conf, dm->desk, dm->ev, dm->store,
		    dm->auth, dm->admin);
	if (r < 0)
		return r;
	/* off when the bus setting is empty; a server that cannot be
	 * reached is a state of the bus, not a failure to start */
	r = bus_new(&dm->bus, &dm->conf, dm->outbox, dm->ev, dm->desk);
	if (r < 0)
		return r;
	rpc_set_bus(dm->rpc, dm->bus);
	/* after every part that seeds the store: the first desk of a new
	 * instance seeds it from there */
	r = open_instance(dm);
	if (r < 0)
		return r;
	inherited_sockets(&unix_fd, &tcp_fd);
	r = ipc_new(&dm->ipc, &dm->conf, dm->rpc, unix_fd);
	if (r < 0)
		return r;
	/* an inherited HTTP socket is served even with http_listen off:
	 * systemd's unit says where to listen then */
	if (tcp_fd >= 0 || (*dm->conf.http_listen &&
			    strcmp(dm->conf.http_listen, "off") != 0)) {
		r = ws_new(&dm->ws, &dm->conf, dm->rpc, dm->store, tcp_fd);
		if (r < 0)
			return r;
		ws_set_metrics(dm->ws, metrics_text, dm);
	}
	r = presence_new(&dm->presence, &dm->conf, dm->ev, dm->desk);
	if (r < 0)
		return r;
	dm->ipc_ready = true;
	r = desk_start(dm->desk);
	if (r < 0)
		return r;
	if (sd_watchdog_enabled(0, &dm->watchdog_usec) > 0 &&
	    dm->watchdog_usec >= 2000)
		watchdog_ping(dm);
	return 0;
}

static void stop(struct daemon *dm)
{
	/* already stopping: a second SIGTERM (systemd's, or an impatient
	 * operator's) must not cut the orderly stop short and leave baresip
	 * behind */
	signal(SIGTERM, SIG_IGN);
	signal(SIGINT, SIG_IGN);
	signal(SIGHUP, SIG_IGN);
	sd_notify(0, "STOPPING=1");
	tmr_cancel(&dm->watchdog_tmr);
	/* the sockets go first so that no client acts on a dying desk */
	dm->ws = ws_free(dm->ws);
	dm->ipc = ipc_free(dm->ipc);
	/* the ACD hears that the agent is gone before baresip stops */
	presence_stop(dm->presence, 1000);
	desk_shutdown(dm->desk);
	dm->bus = bus_free(dm->bus);
	dm->rpc = rpc_free(dm->rpc);
	dm->admin = admin_free(dm->admin);
	dm->presence = presence_free(dm->presence);
	dm->desk = desk_free(dm->desk);
	/* the last records of the desk are in the outbox by now */
	dm->instance = instance_free(dm->instance);
	dm->ev = events_free(dm->ev);
	dm->auth = auth_free(dm->auth);
	dm->store = store_close(dm->store);
	dm->outbox = outbox_close(dm->outbox);
	sipsecret_forget();
}

int main(int argc, char **argv)
{
	struct daemon dm = { 0 };
	bool exit_now;
	int r, err;

	r = conf_init(&dm.conf);
	if (r < 0)
		return 1;
	r = parse_args(&dm, argc, argv, &exit_now);
	if (r < 0 || exit_now) {
		conf_clear(&dm.conf);
		return r < 0 ? 2 : 0;
	}
	log_setup(log_parse_level(dm.conf.log_level));
	signal(SIGPIPE, SIG_IGN);

	err = libre_init();
	if (err) {
		log_error("main: libre_init failed: %s", strerror(err));
		conf_clear(&dm.conf);
		return 1;
	}
	tmr_init(&dm.watchdog_tmr);
	log_info("main: ccpd %s starting", CCPD_VERSION);
	r = start(&dm);
	if (r == 0) {
		/* no reload yet: a hang-up stops cleanly rather than killing
		 * ccpd and leaving baresip behind */
		signal(SIGHUP, signal_handler);
		err = re_main(signal_handler);
		if (err)
			log_error("main: event loop failed: %s", strerror(err));
		if (caught_signal)
			log_info("main: caught signal %d (%s), shutting down",
				 (int)caught_signal,
				 strsignal((int)caught_signal));
	} else {
		log_error("main: start-up failed: %s", strerror(-r));
	}
	stop(&dm);
	libre_close();
	conf_clear(&dm.conf);
	return r < 0 ? 1 : 0;
}
