/* ccpctl-output: reading ccpd's answers, and the shapes every command writes
 * them in: numbers, times, JSON and the messages of a failure. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "ccpctl-int.h"

static void report(const char *fmt, va_list ap)
{
	fputs("ccpctl: ", stderr);
	vfprintf(stderr, fmt, ap);
}

int usage_error(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	report(fmt, ap);
	va_end(ap);
	fputs("\nTry 'ccpctl --help'.\n", stderr);
	return EXIT_USAGE;
}

int fail(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	report(fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	return EXIT_FAILURE;
}

/* ---- reading answers ---------------------------------------------------- */

const char *json_str(const cJSON *obj, const char *key)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);

	return cJSON_IsString(v) ? v->valuestring : NULL;
}

bool json_num(const cJSON *obj, const char *key, double *ret)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);

	if (!cJSON_IsNumber(v))
		return false;
	*ret = v->valuedouble;
	return true;
}

const char *or_dash(const char *s)
{
	return s ? s : "-";
}

/* ---- writing ------------------------------------------------------------ */

void print_number(FILE *f, double v)
{
	/* Counters and timestamps are integers; %g would turn them into 1e+12. */
	if (v > -9007199254740992.0 && v < 9007199254740992.0 &&
	    v == (double)(long long)v)
		fprintf(f, "%lld", (long long)v);
	else
		fprintf(f, "%g", v);
}

void print_json_line(FILE *f, const cJSON *v)
{
	char *text = cJSON_PrintUnformatted(v);

	if (!text) {
		fail("out of memory");
		return;
	}
	fprintf(f, "%s", text);
	cJSON_free(text);
}

void format_time(double ms, char *buf, size_t size)
{
	time_t t = (time_t)(ms / 1000), now = time(NULL);
	struct tm tm, today;

	if (!localtime_r(&t, &tm) || !localtime_r(&now, &today)) {
		snprintf(buf, size, "?");
		return;
	}
	if (tm.tm_year == today.tm_year && tm.tm_yday == today.tm_yday)
		strftime(buf, size, "%H:%M:%S", &tm);
	else
		strftime(buf, size, "%Y-%m-%d %H:%M:%S", &tm);
}

/* --json: one result, or one event, a line. */
void show_json(const cJSON *v)
{
	print_json_line(stdout, v);
	putchar('\n');
}

static void print_json_string(const char *s)
{
	putchar('"');
	for (; *s; s++) {
		unsigned char ch = (unsigned char)*s;

		if (ch == '"' || ch == '\\')
			printf("\\%c", ch);
		else if (ch < 0x20)
			printf("\\u%04x", ch);
		else
			putchar(ch);
	}
	putchar('"');
}

/* Two-space indentation: cJSON_Print's tabs after every colon read poorly. */
static void print_pretty(const cJSON *v, int indent)
{
	bool object = cJSON_IsObject(v);
	const cJSON *item;

	if ((!object && !cJSON_IsArray(v)) || !v->child) {
		print_json_line(stdout, v);
		return;
	}
	putchar(object ? '{' : '[');
	cJSON_ArrayForEach(item, v) {
		printf("\n%*s", indent + 2, "");
		if (object) {
			print_json_string(item->string ? item->string : "");
			fputs(": ", stdout);
		}
		print_pretty(item, indent + 2);
		if (item->next)
			putchar(',');
	}
	printf("\n%*s%c", indent, "", object ? '}' : ']');
}

void show_pretty(const cJSON *result)
{
	print_pretty(result, 0);
	putchar('\n');
}

/* For the calls whose success is all there is to say. */
void show_nothing(const cJSON *result)
{
	(void)result;
}
