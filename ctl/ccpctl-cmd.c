/* ccpctl-cmd: calls to ccpd on a command's behalf, their params, and the one
 * run that serves every command which is a call and a printout. */
#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "ccpctl-int.h"
#include "ccpctl-rpc.h"

int ctl_rpc_failure(const struct ctl *ctl, int q)
{
	switch (q) {
	case -EINTR:
		/* Only watch blocks signals and lets them through here; being
		 * stopped is how it is meant to end. */
		return EXIT_SUCCESS;
	case -ETIMEDOUT:
		return fail("no answer from %s within %g s", ctl->socket,
		            ctl->timeout_ms / 1000.0);
	case -ECONNRESET:
		return fail("%s: ccpd closed the connection", ctl->socket);
	case -EBADMSG:
		return fail("%s: ccpd sent a line that is not a JSON-RPC answer",
		            ctl->socket);
	case -EMSGSIZE:
		return fail("%s: ccpd sent a line longer than %u bytes",
		            ctl->socket, RPC_LINE_MAX);
	default:
		return fail("%s: %s", ctl->socket, strerror(-q));
	}
}

static void print_error(const cJSON *error)
{
	const char *message = json_str(error, "message");
	const char *reason = json_str(cJSON_GetObjectItemCaseSensitive(error, "data"),
	                              "reason");
	double code;

	if (!message) {
		fputs("ccpctl: error", stderr);
		if (json_num(error, "code", &code)) {
			fputc(' ', stderr);
			print_number(stderr, code);
		}
	} else {
		fprintf(stderr, "ccpctl: %s", message);
	}
	if (reason)
		fprintf(stderr, ": %s", reason);
	fputc('\n', stderr);
}

/* One exchange; an error answer is printed here. As for ctl_call,
 * *ret_result is set only on success. */
static int call_once(struct ctl *ctl, const char *method, cJSON *params,
                     cJSON **ret_result)
{
	cJSON *result = NULL, *error = NULL;
	int q;

	*ret_result = NULL;
	q = rpc_call(ctl->rpc, method, params, &result, &error);
	if (q < 0)
		return ctl_rpc_failure(ctl, q);
	if (error) {
		print_error(error);
		cJSON_Delete(error);
		return EXIT_FAILURE;
	}
	*ret_result = result;
	return EXIT_SUCCESS;
}

int ctl_call(struct ctl *ctl, const char *method, cJSON *params,
             cJSON **ret_result)
{
	cJSON *resumed;
	int q;

	*ret_result = NULL;
	if (!ctl->rpc) {
		q = rpc_new(&ctl->rpc, ctl->socket, ctl->timeout_ms);
		if (q < 0) {
			cJSON_Delete(params);
			return fail("cannot connect to %s: %s", ctl->socket,
			            strerror(-q));
		}
		if (ctl->sigmask)
			rpc_set_sigmask(ctl->rpc, ctl->sigmask);
		/* a new connection acts in the session it is given */
		if (ctl->token && *ctl->token) {
			q = call_once(ctl, "session.resume",
			              params_with_string("token", ctl->token),
			              &resumed);
			if (!resumed) {
				cJSON_Delete(params);
				return q;
			}
			cJSON_Delete(resumed);
		}
	}
	return call_once(ctl, method, params, ret_result);
}

int ctl_call_and_show(struct ctl *ctl, const char *method, cJSON *params,
                      printer_fn show)
{
	cJSON *result;
	int q;

	q = ctl_call(ctl, method, params, &result);
	if (!result)
		return q;
	(ctl->json ? show_json : show)(result);
	cJSON_Delete(result);
	return EXIT_SUCCESS;
}

int command_rpc(struct ctl *ctl, const struct command *cmd,
                int argc, char **argv)
{
	cJSON *params = NULL;

	(void)argc;
	if (cmd->param) {
		params = params_with_string(cmd->param, argv[0]);
		if (!params)
			return fail("out of memory");
	}
	return ctl_call_and_show(ctl, cmd->method, params, cmd->print);
}

cJSON *params_with_string(const char *key, const char *value)
{
	cJSON *params = cJSON_CreateObject();

	if (params && !cJSON_AddStringToObject(params, key, value))
		params = (cJSON_Delete(params), NULL);
	return params;
}

bool params_add_opt(cJSON *params, const char *key, const char *value)
{
	return !value || cJSON_AddStringToObject(params, key, value);
}

int parse_count(const char *s, long long min, long long max, long long *ret)
{
	char *end;
	long long v;

	/* strtoll would also take leading blanks and a sign: " 5" and "+5"
	 * are as malformed as "5 ". */
	if (!isdigit((unsigned char)*s))
		return -EINVAL;
	errno = 0;
	v = strtoll(s, &end, 10);
	if (errno || end == s || *end || v < min || v > max)
		return -EINVAL;
	*ret = v;
	return 0;
}
