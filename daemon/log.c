/* Logging: structured journal entries when stderr is the journal, plain
 * "<N>" prefixed lines otherwise (systemd reads those too). */
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <systemd/sd-journal.h>

#include "log.h"

static int max_prio = LOG_INFO;
static bool to_journal;

/* $JOURNAL_STREAM names the device and inode of stderr when systemd
 * connected it to the journal; only then are native entries worth it. */
static bool stderr_is_journal(void)
{
	const char *e = getenv("JOURNAL_STREAM");
	unsigned long long dev, ino;
	struct stat st;

	if (!e || sscanf(e, "%llu:%llu", &dev, &ino) != 2)
		return false;
	if (fstat(STDERR_FILENO, &st) < 0)
		return false;
	return st.st_dev == dev && st.st_ino == ino;
}

void log_setup(int max_priority)
{
	max_prio = max_priority;
	to_journal = stderr_is_journal();
}

int log_parse_level(const char *name)
{
	static const struct { const char *n; int p; } levels[] = {
		{ "err", LOG_ERR }, { "error", LOG_ERR },
		{ "warning", LOG_WARNING }, { "notice", LOG_NOTICE },
		{ "info", LOG_INFO }, { "debug", LOG_DEBUG },
	};
	size_t i;

	for (i = 0; i < sizeof(levels) / sizeof(levels[0]); i++)
		if (strcmp(name, levels[i].n) == 0)
			return levels[i].p;
	return -1;
}

static void emit(int prio, const char *contact_id, const char *state,
		 const char *fmt, va_list ap)
{
	char msg[2048];

	if (prio > max_prio)
		return;
	vsnprintf(msg, sizeof(msg), fmt, ap);
	if (to_journal) {
		sd_journal_send("MESSAGE=%s", msg, "PRIORITY=%i", prio,
				"SYSLOG_IDENTIFIER=ccpd",
				contact_id ? "CONTACT_ID=%s" : "CCPD=%s",
				contact_id ? contact_id : "1",
				state ? "STATE=%s" : "CCPD=%s",
				state ? state : "1", NULL);
		return;
	}
	fprintf(stderr, "<%d>%s\n", prio, msg);
}

void log_msg(int prio, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	emit(prio, NULL, NULL, fmt, ap);
	va_end(ap);
}

void log_fields(int prio, const char *contact_id, const char *state,
		const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	emit(prio, contact_id, state, fmt, ap);
	va_end(ap);
}
