/* TAP output for the unit tests: numbered ok / not ok lines that name the
 * case, the reasons as diagnostics, and the exit code. Header only, so each
 * test executable still links nothing but the module it tests. */
#ifndef CCPD_TEST_TAP_H
#define CCPD_TEST_TAP_H

#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

/* What went wrong in one case, one line per complaint. */
struct tap_case {
	char text[4096];
	size_t len;
	bool bad;
};

static struct {
	unsigned planned;
	unsigned run;
	unsigned failed;
} tap;

static inline void tap_plan(unsigned n)
{
	tap.planned = n;
	printf("1..%u\n", n);
}

static inline void tap_fail(struct tap_case *c, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static inline void tap_fail(struct tap_case *c, const char *fmt, ...)
{
	va_list ap;
	int n;

	c->bad = true;
	if (c->len + 1 >= sizeof(c->text))
		return;
	va_start(ap, fmt);
	n = vsnprintf(c->text + c->len, sizeof(c->text) - c->len, fmt, ap);
	va_end(ap);
	if (n > 0)
		c->len += (size_t)n;
	if (c->len >= sizeof(c->text))
		c->len = sizeof(c->text) - 1;
}

static inline void tap_diag(const char *name, const struct tap_case *c)
{
	const char *p = c->text;

	while (*p) {
		const char *nl = strchr(p, '\n');
		int len = nl ? (int)(nl - p) : (int)strlen(p);

		printf("#   %s: %.*s\n", name, len, p);
		p += len + (nl ? 1 : 0);
	}
}

static inline void tap_report(const char *name, const struct tap_case *c)
{
	tap.run++;
	if (!c->bad) {
		printf("ok %u - %s\n", tap.run, name);
		return;
	}
	tap.failed++;
	printf("not ok %u - %s\n", tap.run, name);
	tap_diag(name, c);
}

/* A known defect of the module under test: reported, not counted as a
 * failure. When it starts passing, the TODO must go. */
static inline void tap_report_todo(const char *name, const char *why,
				   const struct tap_case *c)
{
	tap.run++;
	printf("%s %u - %s # TODO %s\n", c->bad ? "not ok" : "ok", tap.run,
	       name, why);
	tap_diag(name, c);
}

static inline int tap_exit(void)
{
	if (tap.run != tap.planned) {
		printf("# ran %u cases, planned %u\n", tap.run, tap.planned);
		return 1;
	}
	return tap.failed ? 1 : 0;
}

#endif
