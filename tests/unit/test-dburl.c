/* Unit tests for the database setting: which values name PostgreSQL (and
 * so are never taken for a path), and the password kept out of
 * --dump-config. The expected texts are written here by hand. */
#include <stdio.h>
#include <string.h>

#include "dburl.h"
#include "tap.h"

static const struct {
	const char *value;
	bool pg;
	const char *masked;
} cases[] = {
	{ "/var/lib/ccpd/ccpd.db", false, "/var/lib/ccpd/ccpd.db" },
	{ "ccpd.db", false, "ccpd.db" },
	{ "./postgresql/ccpd.db", false, "./postgresql/ccpd.db" },
	{ "postgresql://ccp@db.example/ccp", true,
	  "postgresql://ccp@db.example/ccp" },
	{ "postgresql://ccp:s3cret@db.example:5432/ccp?sslmode=require", true,
	  "postgresql://ccp:***@db.example:5432/ccp?sslmode=require" },
	{ "postgres://ccp:p%40ss@[::1]/ccp", true,
	  "postgres://ccp:***@[::1]/ccp" },
	{ "POSTGRESQL://a:b@h/d", true, "POSTGRESQL://a:***@h/d" },
	{ "postgresql:///ccp?host=/run/pg&password=xyz&sslmode=disable", true,
	  "postgresql:///ccp?host=/run/pg&password=***&sslmode=disable" },
	{ "host=127.0.0.1 dbname=ccp user=ccp password=s3cret", true,
	  "host=127.0.0.1 dbname=ccp user=ccp password=***" },
	{ "dbname=ccp password = 'a b\\'c' sslmode=require", true,
	  "dbname=ccp password = *** sslmode=require" },
	{ "host=/run/postgresql", true, "host=/run/postgresql" },
	{ "postgresql:/db.example/ccp", true, "postgresql:***" },
	{ "postgres:ccp:pw@db/x", true, "postgres:***" },
	{ "", false, "" },
};

int main(void)
{
	size_t i;

	tap_plan((unsigned)ARRAY_SIZE(cases) + 1);
	for (i = 0; i < ARRAY_SIZE(cases); i++) {
		struct tap_case c = { 0 };
		char out[256], name[300];

		if (dburl_is_postgres(cases[i].value) != cases[i].pg)
			tap_fail(&c, "taken for %s\n", cases[i].pg ?
				 "a path" : "PostgreSQL");
		dburl_mask(cases[i].value, out, sizeof(out));
		if (strcmp(out, cases[i].masked) != 0)
			tap_fail(&c, "masked as '%s', not '%s'\n", out,
				 cases[i].masked);
		snprintf(name, sizeof(name), "'%s'", cases[i].value);
		tap_report(name, &c);
	}
	{
		struct tap_case c = { 0 };
		char small[12];
		size_t n = dburl_mask("postgresql://u:pw@host/db", small,
				      sizeof(small));

		if (n != strlen("postgresql://u:***@host/db") ||
		    strlen(small) != sizeof(small) - 1)
			tap_fail(&c, "length %zu, text '%s'\n", n, small);
		tap_report("a short buffer is cut, the length is whole", &c);
	}
	return tap_exit();
}
