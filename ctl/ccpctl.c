/* ccpctl: the command line of ccpd: its options, the list of commands in the
 * order the help shows them, and main. The commands live in ccpctl-*.c. */
/* The top-level build defines it too; guarded so the two agree. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif

#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ccpctl-int.h"
#include "ccpctl-rpc.h"

#ifndef CCPCTL_VERSION
#define CCPCTL_VERSION "unknown"
#endif

#define DEFAULT_SOCKET "/run/ccpd/ccpd.sock"
/* ccpd@NAME.service's socket (its unit gives it -o socket=) */
#define INSTANCE_SOCKET "/run/ccpd/%s/ccpd.sock"
#define DEFAULT_TIMEOUT_MS 5000
/* Keeps the milliseconds within an int and catches a misplaced argument. */
#define MAX_TIMEOUT_S 86400
/* parse_options: no option ended the run, go on to the command */
#define RUN_COMMAND (-1)

static const struct command *const tables[] = {
	agent_state_commands, contact_commands, daemon_status_commands,
	agent_config_commands, daemon_tool_commands, watch_commands,
	session_commands, admin_commands, metrics_commands, floor_commands,
};

#define N_TABLES (sizeof(tables) / sizeof(tables[0]))

/* The first of a name: audio, config and phone have more rows in the help,
 * and their first one takes every form of the command. */
static const struct command *find_command(const char *name)
{
	for (size_t i = 0; i < N_TABLES; i++)
		for (const struct command *c = tables[i]; c->name; c++)
			if (strcmp(c->name, name) == 0)
				return c;
	return NULL;
}

static void print_help(void)
{
	printf("Usage: ccpctl [OPTIONS] COMMAND [ARGUMENTS]\n"
	       "\n"
	       "Control ccpd, the contact-center softphone daemon.\n"
	       "\n"
	       "Commands:\n");
	for (size_t i = 0; i < N_TABLES; i++)
		for (const struct command *c = tables[i]; c->name; c++) {
			char head[64];

			snprintf(head, sizeof(head), "%s %s", c->name, c->args);
			printf("  %-28s %s\n", head, c->summary);
		}
	printf("\n"
	       "CONTACT defaults to the only contact the command can apply to.\n"
	       "\n"
	       "Options:\n"
	       "  -s, --socket PATH     the socket of ccpd\n"
	       "  -a, --instance NAME   the socket of ccpd@NAME (default $CCPD_INSTANCE)\n"
	       "      --json            print results, or events, as JSON, one a line\n"
	       "      --timeout SECONDS how long to wait for an answer (default 5)\n"
	       "      --since SEQ       watch: replay the events after SEQ first\n"
	       "      --token TOKEN     act in that session (default $CCPD_TOKEN)\n"
	       "      --password PW     login, passwd (old), admin users add/set\n"
	       "      --profile NAME    admin users add/set (default Agent)\n"
	       "      --display-name N  admin users add/set\n"
	       "      --reset-password  admin users set: a new one-time password\n"
	       "      --user NAME       admin numbers add/set: the number's user\n"
	       "      --description D   admin numbers, origins, quick-connects, profiles\n"
	       "      --from WHEN       metrics, report: start (ms or YYYY-MM-DD[THH:MM[:SS]])\n"
	       "      --to WHEN         metrics: end (default now; from: a day before); report: end\n"
	       "      --agent NAME      metrics: one user's figures\n"
	       "      --prometheus      metrics: the live figures as Prometheus text\n"
	       "      --csv             report: comma-separated values, a header first\n"
	       "      --watch           floor: print the changes, one agent a line\n"
	       "      --sip-account URI admin users add/set: the user's SIP address\n"
	       "      --sip-auth-user U admin users add/set: its digest user name\n"
	       "      --sip-registrar URI admin users add/set: its registrar\n"
	       "      --sip-password-file F admin users add/set: its password, the\n"
	       "                        first line of F (- for stdin); \"none\" removes\n"
	       "  -h, --help            show this help\n"
	       "      --version         show the version of ccpctl\n"
	       "\n"
	       "Exit status: 0 success, 1 ccpd failed or could not be reached,\n"
	       "2 usage error.\n");
}

/*
 * The same order in which ccpd picks its own default: $CCPD_SOCKET aside,
 * a daemon run by a user lives in $XDG_RUNTIME_DIR/ccpd, or in /tmp/ccpd-UID
 * without one, and the system daemon in /run/ccpd.
 */
static const char *default_socket(char *buf, size_t size)
{
	const char *env = getenv("CCPD_SOCKET");
	const char *xdg = getenv("XDG_RUNTIME_DIR");
	struct stat st;
	int n;

	if (env && *env)
		return env;
	if (geteuid() == 0)
		return DEFAULT_SOCKET;

	if (xdg && *xdg) {
		n = snprintf(buf, size, "%s/ccpd/ccpd.sock", xdg);
		if (n > 0 && (size_t)n < size && access(buf, F_OK) == 0)
			return buf;
		return DEFAULT_SOCKET;
	}

	/* Anyone may create a directory in /tmp: trust only one that is ours
	 * and that nobody else can write to, as ccpd made it. */
	n = snprintf(buf, size, "/tmp/ccpd-%u", (unsigned)geteuid());
	if (n > 0 && (size_t)n < size && lstat(buf, &st) == 0 &&
	    S_ISDIR(st.st_mode) && st.st_uid == geteuid() &&
	    !(st.st_mode & (S_IWGRP | S_IWOTH))) {
		n = snprintf(buf, size, "/tmp/ccpd-%u/ccpd.sock", (unsigned)geteuid());
		if (n > 0 && (size_t)n < size && access(buf, F_OK) == 0)
			return buf;
	}
	return DEFAULT_SOCKET;
}

/* An instance name becomes one path component. */
static int instance_socket(const char *name, char *buf, size_t size)
{
	int n;

	if (!*name || *name == '.' || strchr(name, '/'))
		return -EINVAL;
	n = snprintf(buf, size, INSTANCE_SOCKET, name);
	return n > 0 && (size_t)n < size ? 0 : -EINVAL;
}

static int parse_timeout(const char *s, int *ret_ms)
{
	char *end;
	double v;

	/* Decimal only: strtod would also take blanks, a sign, "inf" and
	 * hexadecimal ("0x10" for 16 seconds). */
	if (!(isdigit((unsigned char)*s) || *s == '.') || strpbrk(s, "xXpP"))
		return -EINVAL;
	errno = 0;
	v = strtod(s, &end);
	/* Written so that NaN fails too. */
	if (errno || end == s || *end || !(v > 0 && v <= MAX_TIMEOUT_S))
		return -EINVAL;
	/* Rounded up, so that a tiny timeout still waits a little. */
	*ret_ms = (int)(v * 1000);
	if (*ret_ms < v * 1000)
		(*ret_ms)++;
	return 0;
}

enum {
	OPT_JSON = 0x100,
	OPT_TIMEOUT,
	OPT_SINCE,
	OPT_VERSION,
	OPT_TOKEN,
	OPT_PASSWORD,
	OPT_PROFILE,
	OPT_DISPLAY_NAME,
	OPT_RESET_PASSWORD,
	OPT_USER,
	OPT_DESCRIPTION,
	OPT_FROM,
	OPT_TO,
	OPT_AGENT,
	OPT_PROMETHEUS,
	OPT_CSV,
	OPT_WATCH,
	OPT_SIP_ACCOUNT,
	OPT_SIP_AUTH_USER,
	OPT_SIP_REGISTRAR,
	OPT_SIP_PASSWORD_FILE,
};

/* Returns RUN_COMMAND, or the exit status when the options end the run. */
static int parse_options(struct ctl *ctl, int argc, char **argv)
{
	static const struct option options[] = {
		{ "socket", required_argument, NULL, 's' },
		{ "instance", required_argument, NULL, 'a' },
		{ "json", no_argument, NULL, OPT_JSON },
		{ "timeout", required_argument, NULL, OPT_TIMEOUT },
		{ "since", required_argument, NULL, OPT_SINCE },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, OPT_VERSION },
		{ "token", required_argument, NULL, OPT_TOKEN },
		{ "password", required_argument, NULL, OPT_PASSWORD },
		{ "profile", required_argument, NULL, OPT_PROFILE },
		{ "display-name", required_argument, NULL, OPT_DISPLAY_NAME },
		{ "reset-password", no_argument, NULL, OPT_RESET_PASSWORD },
		{ "user", required_argument, NULL, OPT_USER },
		{ "description", required_argument, NULL, OPT_DESCRIPTION },
		{ "from", required_argument, NULL, OPT_FROM },
		{ "to", required_argument, NULL, OPT_TO },
		{ "agent", required_argument, NULL, OPT_AGENT },
		{ "prometheus", no_argument, NULL, OPT_PROMETHEUS },
		{ "csv", no_argument, NULL, OPT_CSV },
		{ "watch", no_argument, NULL, OPT_WATCH },
		{ "sip-account", required_argument, NULL, OPT_SIP_ACCOUNT },
		{ "sip-auth-user", required_argument, NULL, OPT_SIP_AUTH_USER },
		{ "sip-registrar", required_argument, NULL, OPT_SIP_REGISTRAR },
		{ "sip-password-file", required_argument, NULL,
		  OPT_SIP_PASSWORD_FILE },
		{ NULL, 0, NULL, 0 },
	};
	int c;

	/* Our own messages: getopt's would name argv[0], a path at times. */
	opterr = 0;
	/* Options may follow the command ("ccpctl status --json"); "--" ends
	 * them, for a state name or params starting with '-'. */
	while ((c = getopt_long(argc, argv, ":s:a:h", options, NULL)) != -1) {
		switch (c) {
		case 's':
			if (!*optarg)
				return usage_error("--socket needs a path");
			ctl->socket = optarg;
			break;
		case 'a':
			if (!*optarg)
				return usage_error("--instance needs a name");
			ctl->instance = optarg;
			break;
		case OPT_JSON:
			ctl->json = true;
			break;
		case OPT_TIMEOUT:
			if (parse_timeout(optarg, &ctl->timeout_ms) < 0)
				return usage_error("--timeout: '%s' is not a number of seconds "
				                   "between 0 and %d", optarg, MAX_TIMEOUT_S);
			break;
		case OPT_SINCE:
			if (parse_count(optarg, 0, LLONG_MAX, &ctl->since) < 0)
				return usage_error("--since: '%s' is not an event sequence number",
				                   optarg);
			break;
		case 'h':
			print_help();
			return EXIT_SUCCESS;
		case OPT_VERSION:
			printf("ccpctl %s\n", CCPCTL_VERSION);
			return EXIT_SUCCESS;
		case OPT_TOKEN:
			ctl->token = optarg;
			break;
		case OPT_PASSWORD:
			ctl->password = optarg;
			break;
		case OPT_PROFILE:
			ctl->profile = optarg;
			break;
		case OPT_DISPLAY_NAME:
			ctl->display_name = optarg;
			break;
		case OPT_RESET_PASSWORD:
			ctl->reset_password = true;
			break;
		case OPT_USER:
			ctl->user = optarg;
			break;
		case OPT_DESCRIPTION:
			ctl->description = optarg;
			break;
		case OPT_FROM:
			ctl->from = optarg;
			break;
		case OPT_TO:
			ctl->to = optarg;
			break;
		case OPT_AGENT:
			ctl->agent = optarg;
			break;
		case OPT_PROMETHEUS:
			ctl->prometheus = true;
			break;
		case OPT_CSV:
			ctl->csv = true;
			break;
		case OPT_WATCH:
			ctl->watch = true;
			break;
		case OPT_SIP_ACCOUNT:
			ctl->sip_account = optarg;
			break;
		case OPT_SIP_AUTH_USER:
			ctl->sip_auth_user = optarg;
			break;
		case OPT_SIP_REGISTRAR:
			ctl->sip_registrar = optarg;
			break;
		case OPT_SIP_PASSWORD_FILE:
			ctl->sip_password_file = optarg;
			break;
		case ':':
			return usage_error("option '%s' needs an argument", argv[optind - 1]);
		case '?':
			if (optopt && optopt < 0x100)
				return usage_error("unknown option '-%c'", optopt);
			return usage_error("unknown option '%s'", argv[optind - 1]);
		}
	}

	return RUN_COMMAND;
}

int main(int argc, char **argv)
{
	struct ctl ctl = { .timeout_ms = DEFAULT_TIMEOUT_MS, .since = -1 };
	char socket_buf[PATH_MAX];
	const struct command *cmd;
	int nargs, q;

	q = parse_options(&ctl, argc, argv);
	if (q != RUN_COMMAND)
		return q;
	if (optind >= argc)
		return usage_error("no command given");
	cmd = find_command(argv[optind]);
	if (!cmd)
		return usage_error("unknown command '%s'", argv[optind]);
	nargs = argc - optind - 1;
	if (nargs < cmd->min_args)
		return usage_error("%s needs %s", cmd->name, cmd->args);
	if (nargs > cmd->max_args)
		return usage_error("too many arguments for %s", cmd->name);
	if (ctl.since >= 0 && cmd != watch_commands)
		return usage_error("--since is only for watch");
	if (ctl.watch && cmd != floor_commands)
		return usage_error("--watch is only for floor");

	/* the command line before the environment, and a path before a
	 * name at each level */
	if (ctl.socket && ctl.instance)
		return usage_error("--socket and --instance exclude each other");
	if (!ctl.socket && !ctl.instance && !(getenv("CCPD_SOCKET") &&
	                                      *getenv("CCPD_SOCKET")))
		ctl.instance = getenv("CCPD_INSTANCE");
	if (!ctl.socket && ctl.instance && *ctl.instance) {
		if (instance_socket(ctl.instance, socket_buf, sizeof(socket_buf)) < 0)
			return usage_error("'%s' is not an instance name", ctl.instance);
		ctl.socket = socket_buf;
	}
	if (!ctl.socket)
		ctl.socket = default_socket(socket_buf, sizeof(socket_buf));
	if (!ctl.token && getenv("CCPD_TOKEN") && *getenv("CCPD_TOKEN"))
		ctl.token = getenv("CCPD_TOKEN");

	q = (cmd->run ? cmd->run : command_rpc)(&ctl, cmd, nargs,
	                                       argv + optind + 1);
	ctl.rpc = rpc_free(ctl.rpc);

	/* Output that did not reach its reader is a failure, not a success. */
	if (fflush(stdout) != 0 || ferror(stdout)) {
		fail("cannot write output: %s", strerror(errno));
		if (q == EXIT_SUCCESS)
			q = EXIT_FAILURE;
	}
	return q;
}
