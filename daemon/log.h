/* Logging: to the journal with structured fields, or to stderr. */
#ifndef CCPD_LOG_H
#define CCPD_LOG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <syslog.h>

void log_setup(int max_priority);
int log_parse_level(const char *name);

/* Every message names its subsystem at the start ("media: ..."). */
void log_msg(int prio, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
/* The same, with CONTACT_ID= and STATE= journal fields (either may be
 * NULL). */
void log_fields(int prio, const char *contact_id, const char *state,
		const char *fmt, ...) __attribute__((format(printf, 4, 5)));

/* A line that a stranger can make ccpd write at will (a refused client)
 * is written at most LOG_LIMIT_BURST times per LOG_LIMIT_WINDOW_MS; the
 * first one after a quiet spell says how many were held back. */
#define LOG_LIMIT_WINDOW_MS 10000
#define LOG_LIMIT_BURST 5

struct log_limit {
	uint64_t window_end;
	unsigned in_window;
	unsigned skipped;
};

/* Whether to write the line now; note[] ends it: "", or how many were
 * held back before it. */
bool log_limit_pass(struct log_limit *l, uint64_t now_ms, char *note,
		    size_t size);

#define log_debug(...)   log_msg(LOG_DEBUG, __VA_ARGS__)
#define log_info(...)    log_msg(LOG_INFO, __VA_ARGS__)
#define log_notice(...)  log_msg(LOG_NOTICE, __VA_ARGS__)
#define log_warning(...) log_msg(LOG_WARNING, __VA_ARGS__)
#define log_error(...)   log_msg(LOG_ERR, __VA_ARGS__)

#endif
