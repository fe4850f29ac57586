/* Logging: to the journal with structured fields, or to stderr. */
#ifndef CCPD_LOG_H
#define CCPD_LOG_H

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

#define log_debug(...)   log_msg(LOG_DEBUG, __VA_ARGS__)
#define log_info(...)    log_msg(LOG_INFO, __VA_ARGS__)
#define log_notice(...)  log_msg(LOG_NOTICE, __VA_ARGS__)
#define log_warning(...) log_msg(LOG_WARNING, __VA_ARGS__)
#define log_error(...)   log_msg(LOG_ERR, __VA_ARGS__)

#endif
