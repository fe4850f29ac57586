/* ccpctl-metrics: the metrics command: the agents' figures over a time, or
 * the live ones as Prometheus text. */
/* strptime; the top-level build defines it too. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif

#include <errno.h>
#include <stdlib.h>
#include <time.h>

#include "ccpctl-int.h"

/* Unix milliseconds, or a local date and time: YYYY-MM-DD[THH:MM[:SS]]. */
static int parse_when(const char *s, double *ret)
{
	struct tm tm = { 0 };
	const char *end;
	long long ms;

	if (parse_count(s, 0, 1LL << 53, &ms) == 0) {
		*ret = (double)ms;
		return 0;
	}
	end = strptime(s, "%Y-%m-%d", &tm);
	if (end && *end == 'T')
		end = strptime(end + 1, "%H:%M", &tm);
	if (end && *end == ':')
		end = strptime(end + 1, "%S", &tm);
	if (!end || *end)
		return -EINVAL;
	tm.tm_isdst = -1;
	*ret = (double)mktime(&tm) * 1000.0;
	return 0;
}

static void print_duration(double ms)
{
	long long s = (long long)(ms / 1000 + 0.5);

	if (s >= 3600)
		printf("%lldh%02lldm%02llds", s / 3600, s / 60 % 60, s % 60);
	else if (s >= 60)
		printf("%lldm%02llds", s / 60, s % 60);
	else
		printf("%llds", s);
}

static void show_stat(const char *name, const cJSON *st)
{
	double n = 0, avg = 0, max = 0;

	json_num(st, "count", &n);
	json_num(st, "averageMs", &avg);
	json_num(st, "maxMs", &max);
	printf("  %s: average ", name);
	print_duration(avg);
	fputs(", longest ", stdout);
	print_duration(max);
	fputs(" (", stdout);
	print_number(stdout, n);
	puts(")");
}

static void show_metrics(const cJSON *r)
{
	const cJSON *a, *e;

	cJSON_ArrayForEach(a, cJSON_GetObjectItemCaseSensitive(r, "agents")) {
		printf("%s\n", or_dash(json_str(a, "username")));
		cJSON_ArrayForEach(e, cJSON_GetObjectItemCaseSensitive(
			a, "timeInStateMs")) {
			printf("  %-22s ", e->string);
			print_duration(e->valuedouble);
			putchar('\n');
		}
		fputs("  contacts:", stdout);
		cJSON_ArrayForEach(e, cJSON_GetObjectItemCaseSensitive(a, "contacts")) {
			printf(" %s ", e->string);
			print_number(stdout, e->valuedouble);
		}
		putchar('\n');
		show_stat("handle time", cJSON_GetObjectItemCaseSensitive(a, "handleTime"));
		show_stat("hold time", cJSON_GetObjectItemCaseSensitive(a, "holdTime"));
		show_stat("after-contact work", cJSON_GetObjectItemCaseSensitive(a, "acwTime"));
	}
}

static void show_prometheus(const cJSON *r)
{
	fputs(or_dash(json_str(r, "text")), stdout);
}

/* --from and --to: given as key, or left to ccpd's default */
static int add_when(cJSON *params, const char *key, const char *value)
{
	double v;

	if (!value)
		return EXIT_SUCCESS;
	if (parse_when(value, &v) < 0)
		return usage_error("--%s: '%s' is neither milliseconds "
		                   "nor YYYY-MM-DD[THH:MM[:SS]]", key, value);
	cJSON_AddNumberToObject(params, key, v);
	return EXIT_SUCCESS;
}

static int run_metrics(struct ctl *ctl, const struct command *cmd,
                       int argc, char **argv)
{
	cJSON *params;
	int q;

	(void)cmd; (void)argc; (void)argv;
	if (ctl->prometheus)
		return ctl_call_and_show(ctl, "metrics.getPrometheus", NULL,
		                         show_prometheus);
	params = cJSON_CreateObject();
	if (!params)
		return fail("out of memory");
	q = add_when(params, "from", ctl->from);
	if (q == EXIT_SUCCESS)
		q = add_when(params, "to", ctl->to);
	if (q != EXIT_SUCCESS) {
		cJSON_Delete(params);
		return q;
	}
	params_add_opt(params, "agent", ctl->agent);
	return ctl_call_and_show(ctl, "metrics.get", params, show_metrics);
}

const struct command metrics_commands[] = {
	{ "metrics", "", "show the agents' figures (--from, --to, --agent, --prometheus)", 0, 0, .run = run_metrics },
	{ 0 },
};
