/* ccpctl-session: logging in and out, who ccpd takes the client for, and a
 * user's own password. */
/* explicit_bzero; the top-level build defines it too. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

#include "ccpctl-int.h"

/* A password from --password, else $CCPD_PASSWORD, else one line of
 * standard input (without echo on a terminal). */
static int read_secret(const char *prompt, const char *given, char *buf,
                       size_t size)
{
	const char *env = getenv("CCPD_PASSWORD");
	struct termios old, quiet;
	bool tty = isatty(STDIN_FILENO);
	size_t n;

	if (given) {
		snprintf(buf, size, "%s", given);
		return 0;
	}
	if (env && *env && strcmp(prompt, "New password") != 0) {
		snprintf(buf, size, "%s", env);
		return 0;
	}
	if (tty) {
		fprintf(stderr, "%s: ", prompt);
		tcgetattr(STDIN_FILENO, &old);
		quiet = old;
		quiet.c_lflag &= ~(tcflag_t)ECHO;
		tcsetattr(STDIN_FILENO, TCSAFLUSH, &quiet);
	}
	if (!fgets(buf, (int)size, stdin))
		buf[0] = '\0';
	if (tty) {
		tcsetattr(STDIN_FILENO, TCSAFLUSH, &old);
		fputc('\n', stderr);
	}
	n = strlen(buf);
	while (n && (buf[n - 1] == '\n' || buf[n - 1] == '\r'))
		buf[--n] = '\0';
	return n ? 0 : -ENODATA;
}

static int run_login(struct ctl *ctl, const struct command *cmd,
                     int argc, char **argv)
{
	char pw[512];
	cJSON *params, *result;
	const cJSON *must;
	int q;

	(void)cmd; (void)argc;
	if (read_secret("Password", ctl->password, pw, sizeof(pw)) < 0)
		return usage_error("login: no password given");
	params = params_with_string("username", argv[0]);
	if (!params || !cJSON_AddStringToObject(params, "password", pw)) {
		cJSON_Delete(params);
		return fail("out of memory");
	}
	explicit_bzero(pw, sizeof(pw));
	q = ctl_call(ctl, "session.login", params, &result);
	if (!result)
		return q;
	if (ctl->json)
		show_json(result);
	else
		/* the token alone, for CCPD_TOKEN=$(ccpctl login NAME) */
		puts(or_dash(json_str(result, "token")));
	must = cJSON_GetObjectItemCaseSensitive(result, "mustChangePassword");
	if (cJSON_IsTrue(must))
		fprintf(stderr, "ccpctl: this is a one-time password; choose "
		        "your own with: CCPD_TOKEN=... ccpctl passwd\n");
	cJSON_Delete(result);
	return EXIT_SUCCESS;
}

static int run_logout(struct ctl *ctl, const struct command *cmd,
                      int argc, char **argv)
{
	(void)cmd; (void)argc; (void)argv;
	if (!ctl->token)
		return usage_error("logout: give the session with --token or "
		                   "CCPD_TOKEN");
	return ctl_call_and_show(ctl, "session.logout", NULL, show_nothing);
}

static void show_whoami(const cJSON *r)
{
	const char *user = json_str(r, "username");
	const char *via = json_str(r, "via");
	const char *desk = json_str(r, "deskUser");
	const cJSON *p;
	const char *sep = "";
	double uid;

	if (user)
		printf("%s (%s)", user, or_dash(json_str(r, "profile")));
	else if (via && strcmp(via, "peerCredentials") == 0)
		fputs("administrator (peer credentials)", stdout);
	else
		fputs("not logged in", stdout);
	if (json_num(r, "uid", &uid)) {
		fputs(", uid ", stdout);
		print_number(stdout, uid);
	}
	putchar('\n');
	fputs("permissions: ", stdout);
	cJSON_ArrayForEach(p, cJSON_GetObjectItemCaseSensitive(r, "permissions")) {
		printf("%s%s", sep, cJSON_IsString(p) ? p->valuestring : "?");
		sep = ", ";
	}
	if (!*sep)
		fputs("-", stdout);
	putchar('\n');
	printf("at the desk: %s\n", or_dash(desk));
	if (cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(r, "mustChangePassword")))
		puts("the password must be changed (ccpctl passwd)");
}

static int run_passwd(struct ctl *ctl, const struct command *cmd,
                      int argc, char **argv)
{
	char old[512], pw[512];
	cJSON *params;
	int q;

	(void)cmd; (void)argc; (void)argv;
	if (!ctl->token)
		return usage_error("passwd: give the session with --token or "
		                   "CCPD_TOKEN");
	if (read_secret("Old password", ctl->password, old, sizeof(old)) < 0 ||
	    read_secret("New password", NULL, pw, sizeof(pw)) < 0)
		return usage_error("passwd: the old and the new password are "
		                   "read from standard input, one a line");
	params = params_with_string("oldPassword", old);
	if (!params || !cJSON_AddStringToObject(params, "newPassword", pw)) {
		cJSON_Delete(params);
		return fail("out of memory");
	}
	explicit_bzero(old, sizeof(old));
	explicit_bzero(pw, sizeof(pw));
	q = ctl_call_and_show(ctl, "session.changePassword", params, show_nothing);
	if (q == EXIT_SUCCESS && !ctl->json)
		puts("password changed");
	return q;
}

const struct command session_commands[] = {
	{ "login", "USER", "log in; print the session's token", 1, 1, .run = run_login },
	{ "logout", "", "end the session of --token", 0, 0, .run = run_logout },
	{ "whoami", "", "show who ccpd takes this client for", 0, 0, .method = "session.whoami", .print = show_whoami },
	{ "passwd", "", "change the password of --token's user", 0, 0, .run = run_passwd },
	{ 0 },
};
