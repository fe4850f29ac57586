/* Unit tests for users' SIP accounts at rest: sipsecret (the key file's
 * checks, sealing and opening, what must not open) and sipaccount (the
 * column's two forms, the template, the public view). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "sipaccount.h"
#include "sipsecret.h"
#include "tap.h"

static char dir[] = "/tmp/test-sipsecret-XXXXXX";

static int write_key(const char *name, const char *text, size_t n,
		     mode_t mode, char *path, size_t size)
{
	FILE *f;

	snprintf(path, size, "%s/%s", dir, name);
	f = fopen(path, "w");
	if (!f)
		return -errno;
	fwrite(text, 1, n, f);
	fclose(f);
	return chmod(path, mode) < 0 ? -errno : 0;
}

static void key_files(void)
{
	struct tap_case c = { 0 };
	char path[256], err[512];
	const char *hex = "00112233445566778899aabbccddeeff"
			  "00112233445566778899aabbccddeeff\n";
	unsigned char raw[32];

	memset(raw, 7, sizeof(raw));
	write_key("open", hex, strlen(hex), 0644, path, sizeof(path));
	err[0] = '\0';
	if (sipsecret_load(path, err, sizeof(err)) != -EPERM ||
	    !strstr(err, "chmod 600") || sipsecret_ready())
		tap_fail(&c, "a key others may read was taken (%s)\n", err);
	write_key("group", hex, strlen(hex), 0640, path, sizeof(path));
	if (sipsecret_load(path, err, sizeof(err)) != -EPERM)
		tap_fail(&c, "a key the group may read was taken\n");
	write_key("short", "abc", 3, 0600, path, sizeof(path));
	if (sipsecret_load(path, err, sizeof(err)) != -EINVAL ||
	    !strstr(err, "holds no key"))
		tap_fail(&c, "a short key was taken (%s)\n", err);
	write_key("raw", (const char *)raw, sizeof(raw), 0600, path,
		  sizeof(path));
	if (sipsecret_load(path, err, sizeof(err)) != 0 || !sipsecret_ready())
		tap_fail(&c, "32 raw bytes refused: %s\n", err);
	write_key("hex", hex, strlen(hex), 0400, path, sizeof(path));
	if (sipsecret_load(path, err, sizeof(err)) != 0 || !sipsecret_ready())
		tap_fail(&c, "64 hex digits refused: %s\n", err);
	if (sipsecret_load("/nonexistent/key", err, sizeof(err)) >= 0 ||
	    sipsecret_ready())
		tap_fail(&c, "a missing file was taken, or the old key kept\n");
	if (sipsecret_load("", err, sizeof(err)) != 0 || sipsecret_ready())
		tap_fail(&c, "no setting is not 'no key'\n");
	tap_report("the key file: mode, owner, form", &c);
}

static void seal_and_open(void)
{
	struct tap_case c = { 0 };
	char path[256], err[512], out[256];
	char *a = NULL, *b = NULL;
	const char *hex = "ffeeddccbbaa99887766554433221100"
			  "ffeeddccbbaa99887766554433221100";

	if (sipsecret_seal("alice", "pw", &a) != -ENOKEY)
		tap_fail(&c, "sealed without a key\n");
	write_key("k", hex, strlen(hex), 0600, path, sizeof(path));
	sipsecret_load(path, err, sizeof(err));
	if (sipsecret_seal("alice", "s3cret-Pa55", &a) < 0 ||
	    sipsecret_seal("alice", "s3cret-Pa55", &b) < 0) {
		tap_fail(&c, "cannot seal\n");
		goto out;
	}
	if (strncmp(a, SIPSECRET_PREFIX, strlen(SIPSECRET_PREFIX)) != 0 ||
	    strstr(a, "s3cret"))
		tap_fail(&c, "sealed as '%s'\n", a);
	if (strcmp(a, b) == 0)
		tap_fail(&c, "the same password sealed twice alike: the nonce "
			 "repeats\n");
	if (sipsecret_open("alice", a, out, sizeof(out)) != 0 ||
	    strcmp(out, "s3cret-Pa55") != 0)
		tap_fail(&c, "did not open to the password\n");
	if (sipsecret_open("bob", a, out, sizeof(out)) != -EBADMSG)
		tap_fail(&c, "opened under another user's name\n");
	a[strlen(a) - 3] ^= 1;
	if (sipsecret_open("alice", a, out, sizeof(out)) != -EBADMSG)
		tap_fail(&c, "a changed seal opened\n");
	if (sipsecret_open("alice", "gcm1:!!!!", out, sizeof(out)) !=
	    -EBADMSG || sipsecret_open("alice", "plain", out, sizeof(out)) !=
	    -EBADMSG)
		tap_fail(&c, "garbage opened\n");
	if (sipsecret_open("alice", b, out, 4) != -ENOSPC)
		tap_fail(&c, "a short buffer overflowed\n");
	/* another key does not open it */
	write_key("k2", "0123456789abcdef0123456789abcdef0123456789abcdef"
		  "0123456789abcdef", 64, 0600, path, sizeof(path));
	sipsecret_load(path, err, sizeof(err));
	if (sipsecret_open("alice", b, out, sizeof(out)) != -EBADMSG)
		tap_fail(&c, "opened under another key\n");
	free(a);
	a = NULL;
	if (sipsecret_seal("alice", "", &a) == 0) {
		free(b);
		b = a;
		a = NULL;
		if (sipsecret_open("alice", b, out, sizeof(out)) != 0 || *out)
			tap_fail(&c, "the empty password did not come back\n");
	}
out:
	free(a);
	free(b);
	sipsecret_forget();
	tap_report("sealing: a nonce each, bound to the user and the key", &c);
}

static void accounts(void)
{
	struct tap_case c = { 0 };
	struct sipaccount a;
	bool tmpl;
	char *text = NULL, out[256];
	cJSON *row;

	if (sipaccount_parse("sip:alice@pbx", &a) != 0 ||
	    strcmp(a.aor, "sip:alice@pbx") != 0 || a.sealed[0])
		tap_fail(&c, "the older bare form not read\n");
	if (sipaccount_format(&a, &text) != 0 || !text ||
	    strcmp(text, "sip:alice@pbx") != 0)
		tap_fail(&c, "an address alone not written bare: %s\n", text);
	free(text);
	text = NULL;
	snprintf(a.sealed, sizeof(a.sealed), "gcm1:AAAA");
	snprintf(a.auth_user, sizeof(a.auth_user), "2001");
	if (sipaccount_format(&a, &text) != 0 || !text || text[0] != '{' ||
	    sipaccount_parse(text, &a) != 0 || strcmp(a.auth_user, "2001") ||
	    strcmp(a.sealed, "gcm1:AAAA") || strcmp(a.aor, "sip:alice@pbx"))
		tap_fail(&c, "the object form does not come back: %s\n", text);
	if (sipaccount_parse("{\"aor\": 3}", &a) != -EINVAL ||
	    sipaccount_parse("alice@pbx", &a) != -EINVAL ||
	    sipaccount_parse("sip:a;b@pbx", &a) != -EINVAL)
		tap_fail(&c, "a bad column was read\n");
	if (sipaccount_expand("sip:{username}@pbx.example:5060", "alice", out,
			      sizeof(out)) != 0 ||
	    strcmp(out, "sip:alice@pbx.example:5060") != 0)
		tap_fail(&c, "template gave '%s'\n", out);
	if (sipaccount_expand("sip:{username}@pbx", "a@b", out,
			      sizeof(out)) != -EINVAL)
		tap_fail(&c, "a name with '@' filled the template\n");
	if (sipaccount_resolve(NULL, "bob", "sip:{username}@pbx", &a,
			       &tmpl) != 0 || !tmpl ||
	    strcmp(a.aor, "sip:bob@pbx") != 0 ||
	    sipaccount_resolve(NULL, "bob", "", &a, &tmpl) != -ENOENT)
		tap_fail(&c, "the template was not the fallback\n");
	row = cJSON_CreateObject();
	cJSON_AddStringToObject(row, "username", "alice");
	cJSON_AddStringToObject(row, "sipAccount", text);
	sipaccount_public(row, "");
	{
		char *shown = cJSON_PrintUnformatted(row);

		if (!shown || strstr(shown, "gcm1") ||
		    !strstr(shown, "\"sipPasswordSet\":true") ||
		    !strstr(shown, "\"sipAccount\":\"sip:alice@pbx\"") ||
		    !strstr(shown, "\"sipAccountFrom\":\"user\""))
			tap_fail(&c, "shown as %s\n", shown);
		free(shown);
	}
	cJSON_Delete(row);
	free(text);
	tap_report("the column, the template, the public view", &c);
}

int main(void)
{
	char cmd[128];

	if (!mkdtemp(dir)) {
		perror("mkdtemp");
		return 1;
	}
	tap_plan(3);
	key_files();
	seal_and_open();
	accounts();
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	if (system(cmd) != 0)
		printf("# could not remove %s\n", dir);
	return tap_exit();
}
