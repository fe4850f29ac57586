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

/* Control characters but tab come as \xNN: a user name or a header with
 * a newline must not be able to write a line of its own into the log. */
static void escape_controls(char *msg, size_t size)
{
	char out[2048];
	size_t i, o = 0;

	for (i = 0; msg[i] && o + 5 < sizeof(out); i++) {
		unsigned char ch = (unsigned char)msg[i];

		if ((ch < 0x20 && ch != '\t') || ch == 0x7f)
			o += (size_t)snprintf(out + o, sizeof(out) - o,
					      "\\x%02x", ch);
		else
			out[o++] = (char)ch;
	}
	out[o] = '\0';
	snprintf(msg, size, "%s", out);
}

static bool has_controls(const char *s)
{
	for (; *s; s++)
		if (((unsigned char)*s < 0x20 && *s != '\t') || *s == 0x7f)
			return true;
	return false;
}

static void emit(int prio, const char *contact_id, const char *state,
		 const char *fmt, va_list ap)
{
	char msg[2048];

	if (prio > max_prio)
		return;
	vsnprintf(msg, sizeof(msg), fmt, ap);
	if (has_controls(msg))
		escape_controls(msg, sizeof(msg));
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

bool log_limit_pass(struct log_limit *l, uint64_t now_ms, char *note,
		    size_t size)
{
	note[0] = '\0';
	if (now_ms >= l->window_end) {
		l->window_end = now_ms + LOG_LIMIT_WINDOW_MS;
		l->in_window = 0;
		if (l->skipped)
			snprintf(note, size, " (and %u more not logged)",
				 l->skipped);
		l->skipped = 0;
	}
	if (l->in_window >= LOG_LIMIT_BURST) {
		l->skipped++;
		return false;
	}
	l->in_window++;
	return true;
}
