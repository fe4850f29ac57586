/* ccpctl-metrics: the metrics command: the agents' figures over a time, or
 * the live ones as Prometheus text. */
/* strptime; the top-level build defines it too. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif

#include <errno.h>
#include <stdlib.h>
#include <string.h>
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

/* {from, to} from --from and --to, as metrics and the report take them */
static int window_params(const struct ctl *ctl, cJSON **params)
{
	int q;

	*params = cJSON_CreateObject();
	if (!*params)
		return fail("out of memory");
	q = add_when(*params, "from", ctl->from);
	if (q == EXIT_SUCCESS)
		q = add_when(*params, "to", ctl->to);
	if (q != EXIT_SUCCESS) {
		cJSON_Delete(*params);
		*params = NULL;
	}
	return q;
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
	q = window_params(ctl, &params);
	if (q != EXIT_SUCCESS)
		return q;
	params_add_opt(params, "agent", ctl->agent);
	return ctl_call_and_show(ctl, "metrics.get", params, show_metrics);
}

/* ---- report agents ---- */

/* The figures of report.agents, in the order of the CSV's columns. */
static const struct {
	const char *key, *column;
} report_figures[] = {
	{ "handled", "handled" },
	{ "missed", "missed" },
	{ "refused", "refused" },
	{ "handleCount", "handle_count" },
	{ "averageHandleMs", "average_handle_ms" },
	{ "averageAcwMs", "average_acw_ms" },
	{ "onContactMs", "on_contact_ms" },
	{ "availableMs", "available_ms" },
};
#define N_REPORT_FIGURES (sizeof(report_figures) / sizeof(report_figures[0]))

static double figure(const cJSON *agent, const char *key)
{
	double v = 0;

	json_num(agent, key, &v);
	return v;
}

static void show_report(const cJSON *r)
{
	const cJSON *a, *e, *occ;

	cJSON_ArrayForEach(a, cJSON_GetObjectItemCaseSensitive(r, "agents")) {
		printf("%s\n  contacts: handled ", or_dash(json_str(a, "username")));
		print_number(stdout, figure(a, "handled"));
		fputs(", missed ", stdout);
		print_number(stdout, figure(a, "missed"));
		fputs(", refused ", stdout);
		print_number(stdout, figure(a, "refused"));
		fputs("\n  average handle time ", stdout);
		print_duration(figure(a, "averageHandleMs"));
		fputs(", after-contact work ", stdout);
		print_duration(figure(a, "averageAcwMs"));
		fputs(" (", stdout);
		print_number(stdout, figure(a, "handleCount"));
		fputs(" cleared)\n  occupancy ", stdout);
		occ = cJSON_GetObjectItemCaseSensitive(a, "occupancy");
		if (cJSON_IsNumber(occ))
			printf("%.2f%%", occ->valuedouble * 100);
		else
			fputs("-", stdout);
		fputs(" (on contacts ", stdout);
		print_duration(figure(a, "onContactMs"));
		fputs(", available ", stdout);
		print_duration(figure(a, "availableMs"));
		puts(")");
		cJSON_ArrayForEach(e, cJSON_GetObjectItemCaseSensitive(
			a, "timeInStateMs")) {
			printf("  %-22s ", e->string);
			print_duration(e->valuedouble);
			putchar('\n');
		}
	}
}

/* RFC 4180: quoted when it holds a comma, a quote or a line break. */
static void csv_field(const char *s)
{
	if (!strpbrk(s, ",\"\r\n")) {
		fputs(s, stdout);
		return;
	}
	putchar('"');
	for (; *s; s++) {
		if (*s == '"')
			putchar('"');
		putchar(*s);
	}
	putchar('"');
}

/* Every state any agent was in, sorted, as the columns after the figures. */
static int report_states(const cJSON *agents, const char ***ret, size_t *n_ret)
{
	const char **names = NULL, **more;
	const cJSON *a, *e;
	size_t n = 0, i, k;

	cJSON_ArrayForEach(a, agents) {
		cJSON_ArrayForEach(e, cJSON_GetObjectItemCaseSensitive(
			a, "timeInStateMs")) {
			for (i = 0; i < n && strcmp(names[i], e->string) < 0; i++)
				;
			if (i < n && strcmp(names[i], e->string) == 0)
				continue;
			more = realloc(names, (n + 1) * sizeof(*names));
			if (!more) {
				free(names);
				return -ENOMEM;
			}
			names = more;
			for (k = n; k > i; k--)
				names[k] = names[k - 1];
			names[i] = e->string;
			n++;
		}
	}
	*ret = names;
	*n_ret = n;
	return 0;
}

static void show_report_csv(const cJSON *r)
{
	const cJSON *agents = cJSON_GetObjectItemCaseSensitive(r, "agents"), *a;
	const cJSON *occ;
	const char **states;
	size_t n_states, i;

	if (report_states(agents, &states, &n_states) < 0) {
		fail("out of memory");
		return;
	}
	fputs("username", stdout);
	for (i = 0; i < N_REPORT_FIGURES; i++)
		printf(",%s", report_figures[i].column);
	fputs(",occupancy", stdout);
	for (i = 0; i < n_states; i++) {
		putchar(',');
		csv_field(states[i]);
		fputs("_ms", stdout);
	}
	putchar('\n');
	cJSON_ArrayForEach(a, agents) {
		csv_field(or_dash(json_str(a, "username")));
		for (i = 0; i < N_REPORT_FIGURES; i++)
			printf(",%.0f", figure(a, report_figures[i].key));
		occ = cJSON_GetObjectItemCaseSensitive(a, "occupancy");
		if (cJSON_IsNumber(occ))
			printf(",%.4f", occ->valuedouble);
		else
			putchar(',');
		for (i = 0; i < n_states; i++)
			printf(",%.0f", figure(cJSON_GetObjectItemCaseSensitive(
				a, "timeInStateMs"), states[i]));
		putchar('\n');
	}
	free(states);
}

static int run_report(struct ctl *ctl, const struct command *cmd,
                      int argc, char **argv)
{
	cJSON *params;
	int q;

	(void)cmd; (void)argc;
	if (strcmp(argv[0], "agents") != 0)
		return usage_error("report: unknown report '%s' (there is: agents)",
		                   argv[0]);
	if (!ctl->from || !ctl->to)
		return usage_error("report agents needs --from and --to");
	if (ctl->json && ctl->csv)
		return usage_error("--json and --csv do not go together");
	q = window_params(ctl, &params);
	if (q != EXIT_SUCCESS)
		return q;
	return ctl_call_and_show(ctl, "report.agents", params,
	                         ctl->csv ? show_report_csv : show_report);
}

const struct command metrics_commands[] = {
	{ "metrics", "", "show the agents' figures (--from, --to, --agent, --prometheus)", 0, 0, .run = run_metrics },
	{ "report", "agents", "every agent's figures over --from to --to (--json, --csv)", 1, 1, .run = run_report },
	{ 0 },
};
