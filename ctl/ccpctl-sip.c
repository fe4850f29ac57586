/* ccpctl-sip: users' own SIP accounts: the --sip-* options of
 * "admin users add/set", and "admin users import-sip FILE.csv", which
 * reads a PBX's export of its extensions and gives each existing user
 * their account. */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "ccpctl-int.h"

#define SIP_PW_MAX 128

/* "none" (or an empty string) removes a member: null. */
static bool add_or_null(cJSON *params, const char *key, const char *value)
{
	if (!value)
		return true;
	if (!*value || strcmp(value, "none") == 0)
		return cJSON_AddNullToObject(params, key) != NULL;
	return cJSON_AddStringToObject(params, key, value) != NULL;
}

/* The first line of a file ("-": standard input), without its newline,
 * so that a password never stands on a command line. */
static int read_secret(const char *path, char *out, size_t size)
{
	FILE *f = strcmp(path, "-") == 0 ? stdin : fopen(path, "re");
	size_t n;

	if (!f)
		return -errno;
	if (!fgets(out, (int)size, f))
		out[0] = '\0';
	if (f != stdin)
		fclose(f);
	n = strcspn(out, "\r\n");
	out[n] = '\0';
	return 0;
}

int sip_add_options(const struct ctl *ctl, cJSON *params)
{
	char pw[SIP_PW_MAX];
	int r;

	if (!add_or_null(params, "sipAccount", ctl->sip_account) ||
	    !add_or_null(params, "sipAuthUser", ctl->sip_auth_user) ||
	    !add_or_null(params, "sipRegistrar", ctl->sip_registrar))
		return fail("out of memory");
	if (!ctl->sip_password_file)
		return 0;
	if (strcmp(ctl->sip_password_file, "none") == 0)
		return add_or_null(params, "sipPassword", "none") ? 0 :
			fail("out of memory");
	r = read_secret(ctl->sip_password_file, pw, sizeof(pw));
	if (r < 0)
		return fail("--sip-password-file %s: %s",
			    ctl->sip_password_file, strerror(-r));
	r = add_or_null(params, "sipPassword", pw) ? 0 : fail("out of memory");
	explicit_bzero(pw, sizeof(pw));
	return r;
}

/* ---- the CSV import ---- */

enum col { C_USER, C_AOR, C_AUTH, C_PASS, C_REG, N_COLS };

/* The names a PBX's export may give each column, in lower case. */
static const char *const col_names[N_COLS][6] = {
	[C_USER] = { "username", "user", "agent", "login", NULL },
	[C_AOR]  = { "sipaccount", "sip_account", "aor", "sip_uri", "uri",
		     NULL },
	[C_AUTH] = { "authuser", "auth_user", "authname", "auth_username",
		     "extension", NULL },
	[C_PASS] = { "password", "secret", "sip_password", "sippassword",
		     NULL },
	[C_REG]  = { "registrar", "proxy", "outbound", "outbound_proxy",
		     NULL },
};

/* Split one CSV line in place (RFC 4180 quotes, "" inside them); at
 * most max fields. Returns the count, or -1 for an open quote. */
static int split_csv(char *line, char **fields, int max)
{
	char *r = line, *w = line;
	int n = 0;

	while (n < max) {
		bool quoted = *r == '"';

		fields[n++] = w;
		if (quoted) {
			r++;
			for (;;) {
				if (!*r)
					return -1;
				if (*r == '"' && r[1] == '"') {
					*w++ = '"';
					r += 2;
				} else if (*r == '"') {
					r++;
					break;
				} else {
					*w++ = *r++;
				}
			}
		}
		while (*r && *r != ',')
			*w++ = *r++;
		if (!*r) {
			*w = '\0';
			return n;
		}
		*w++ = '\0';
		r++;
	}
	return n;
}

static char *trim(char *s)
{
	char *e;

	while (isspace((unsigned char)*s))
		s++;
	e = s + strlen(s);
	while (e > s && isspace((unsigned char)e[-1]))
		*--e = '\0';
	return s;
}

static int header_cols(char **fields, int n, int *at)
{
	int i, c, k;

	for (c = 0; c < N_COLS; c++)
		at[c] = -1;
	for (i = 0; i < n; i++)
		for (c = 0; c < N_COLS; c++)
			for (k = 0; col_names[c][k]; k++)
				if (at[c] < 0 &&
				    strcasecmp(trim(fields[i]), col_names[c][k]) == 0)
					at[c] = i;
	if (at[C_USER] < 0)
		return usage_error("import-sip: the first line names no user "
		                   "column (username)");
	if (at[C_AOR] < 0 && at[C_PASS] < 0)
		return usage_error("import-sip: the first line names neither a "
		                   "sipAccount (aor) nor a password column");
	return 0;
}

static const char *field(char **fields, int n, int at)
{
	return at >= 0 && at < n ? trim(fields[at]) : "";
}

int sip_import(struct ctl *ctl, const char *path)
{
	FILE *f = strcmp(path, "-") == 0 ? stdin : fopen(path, "re");
	char line[4096], *fields[32];
	int at[N_COLS], n, lineno = 0, done = 0, failed = 0, q = 0;

	if (!f)
		return fail("import-sip: %s: %s", path, strerror(errno));
	while (fgets(line, sizeof(line), f)) {
		const char *user;
		cJSON *params, *res = NULL;

		lineno++;
		line[strcspn(line, "\r\n")] = '\0';
		if (!*trim(line))
			continue;
		n = split_csv(line, fields, 32);
		if (lineno == 1) {
			q = n < 0 ? usage_error("import-sip: line 1 is not CSV") :
				header_cols(fields, n, at);
			if (q)
				break;
			continue;
		}
		user = field(fields, n, at[C_USER]);
		if (n < 0 || !*user) {
			fprintf(stderr, "ccpctl: import-sip: line %d: no user "
			        "name, skipped\n", lineno);
			failed++;
			continue;
		}
		params = params_with_string("username", user);
		if (!params) {
			q = fail("out of memory");
			break;
		}
		if (*field(fields, n, at[C_AOR]))
			cJSON_AddStringToObject(params, "sipAccount",
			                        field(fields, n, at[C_AOR]));
		if (*field(fields, n, at[C_AUTH]))
			cJSON_AddStringToObject(params, "sipAuthUser",
			                        field(fields, n, at[C_AUTH]));
		if (*field(fields, n, at[C_PASS]))
			cJSON_AddStringToObject(params, "sipPassword",
			                        field(fields, n, at[C_PASS]));
		if (*field(fields, n, at[C_REG]))
			cJSON_AddStringToObject(params, "sipRegistrar",
			                        field(fields, n, at[C_REG]));
		explicit_bzero(line, sizeof(line));
		/* the daemon says why a row is refused; the rest go on */
		q = ctl_call(ctl, "admin.users.update", params, &res);
		if (res) {
			printf("%s: SIP account %s\n", user,
			       or_dash(json_str(cJSON_GetObjectItemCaseSensitive(
			               res, "user"), "sipAccount")));
			cJSON_Delete(res);
			done++;
		} else {
			fprintf(stderr, "ccpctl: import-sip: line %d (%s) was "
			        "not imported\n", lineno, user);
			failed++;
			if (!ctl->rpc)
				break;  /* no daemon: nothing more will do */
		}
		q = 0;
	}
	explicit_bzero(line, sizeof(line));
	if (f != stdin)
		fclose(f);
	if (q)
		return q;
	printf("%d imported, %d not\n", done, failed);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
