/* ccpctl-int: what the files of ccpctl share: the options of a run, the
 * command table's entry, calls to ccpd and the vocabulary of the output. */
#pragma once

#include <signal.h>
#include <stdbool.h>
#include <stdio.h>

#include <cjson/cJSON.h>

#define EXIT_USAGE 2

struct rpc;

/* The options of one run, and its connection to ccpd once there is one. */
struct ctl {
	const char *socket;
	/* -a NAME or $CCPD_INSTANCE: ccpd@NAME's socket */
	const char *instance;
	bool json;
	int timeout_ms;
	long long since; /* -1: not given */
	/* a session to act in (--token or $CCPD_TOKEN) */
	const char *token;
	/* options of admin, metrics and login */
	const char *profile;
	const char *display_name;
	const char *password;
	const char *user;
	const char *description;
	const char *agent;
	const char *from;
	const char *to;
	bool reset_password;
	bool prometheus;
	bool csv;               /* report: comma-separated values */
	bool watch;      /* floor --watch */
	/* admin users add/set: the user's own SIP account */
	const char *sip_account;
	const char *sip_auth_user;
	const char *sip_registrar;
	const char *sip_password_file;
	struct rpc *rpc;
	/* Set by watch: the mask its waits run under, its signals blocked
	 * everywhere else. */
	const sigset_t *sigmask;
	sigset_t orig_mask;
};

struct command;
typedef int (*command_fn)(struct ctl *ctl, const struct command *cmd,
                          int argc, char **argv);
/* Shows a result to a human; with --json the result is printed as it is. */
typedef void (*printer_fn)(const cJSON *result);

/*
 * One line of the help and what runs it. Most commands are one call and a
 * printout: they leave run NULL and name their method and printer, and
 * command_rpc serves them all. The others have a run of their own, which
 * may still use the fields below as it sees fit.
 */
struct command {
	const char *name;
	const char *args;
	const char *summary;
	int min_args;
	int max_args;
	command_fn run;
	const char *method;
	/* the key the first argument is sent under; NULL: the call has no
	 * params */
	const char *param;
	printer_fn print;
	/* what a run of its own needs besides (which contacts an action
	 * fits, and what it says when done) */
	const void *data;
};

/* ---- ccpctl-sip.c: users' own SIP accounts ---------------------------- */

/* The --sip-* options as admin.users.* members ("none": null). Returns
 * 0, or the exit status of a failure. */
int sip_add_options(const struct ctl *ctl, cJSON *params);
/* admin users import-sip FILE.csv: returns the exit status. */
int sip_import(struct ctl *ctl, const char *path);

/* ---- ccpctl-cmd.c: calls to ccpd on a command's behalf ------------------- */

/* The run of every command that leaves its own run NULL. */
int command_rpc(struct ctl *ctl, const struct command *cmd,
                int argc, char **argv);

/*
 * Connects on first use, so that usage errors are found without a daemon.
 * params is consumed. Returns the exit status; *ret_result is set only on
 * success, so a caller that finds it NULL returns the status as it is.
 */
int ctl_call(struct ctl *ctl, const char *method, cJSON *params,
             cJSON **ret_result);
/* Calls a method and shows its result: raw with --json, else through show. */
int ctl_call_and_show(struct ctl *ctl, const char *method, cJSON *params,
                      printer_fn show);
/* Says why an exchange with ccpd failed; returns the exit status. */
int ctl_rpc_failure(const struct ctl *ctl, int q);

/* {key: value}, or NULL when out of memory. */
cJSON *params_with_string(const char *key, const char *value);
/* Adds key only when the option was given; false when out of memory. */
bool params_add_opt(cJSON *params, const char *key, const char *value);
/* A decimal number between min and max, nothing before or after it. */
int parse_count(const char *s, long long min, long long max, long long *ret);

/* ---- ccpctl-output.c: reading answers and writing them out --------------- */

int usage_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
int fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

const char *json_str(const cJSON *obj, const char *key);
bool json_num(const cJSON *obj, const char *key, double *ret);
const char *or_dash(const char *s);

void print_number(FILE *f, double v);
void print_json_line(FILE *f, const cJSON *v);
/* Today's times show as 12:03:04, older ones with their date. */
void format_time(double ms, char *buf, size_t size);

/* printers */
void show_json(const cJSON *v);
void show_pretty(const cJSON *result);
void show_nothing(const cJSON *result);

/* ---- what one family lends to another ----------------------------------- */

/* "Busy (system) since 12:03:04", without a newline. */
void agent_print_line(const cJSON *agent);
/* The agent's state and what waits; the answer of status and of mute. */
void agent_show(const cJSON *agent);
/* The customer's number, else its URI, else "-". */
const char *contact_customer(const cJSON *contact);
/* "failed (486 Busy Here)", or NULL while the contact has not ended. */
const char *contact_end(const cJSON *contact, char *buf, size_t size);
/* "up, pid 1234, 2 restarts", without a newline. */
void media_print_line(const cJSON *media);
/* "registered (registrar) sip:1001@pbx.example.com", without a newline. */
void registration_print_line(const cJSON *reg);

/* ---- the families' tables, each ended by a row without a name ---------- */

/* ccpctl.c lists them in the order the help shows them, which is older than
 * the files: agent and daemon come back later in it. */
extern const struct command agent_state_commands[], agent_config_commands[],
	contact_commands[], daemon_status_commands[], daemon_tool_commands[],
	watch_commands[], session_commands[], admin_commands[],
	metrics_commands[], floor_commands[];

/* ccpctl-floor: status, the agent's state and the bus's. */
