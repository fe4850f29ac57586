/* Small cJSON helpers shared by the modules that build JSON objects. */
#ifndef CCPD_JSON_H
#define CCPD_JSON_H

#include <cjson/cJSON.h>

/* Add an integer member printed as digits: cJSON prints numbers through
 * %g and reads them back to check, which costs more than the rest of an
 * answer, and rounds timestamps past 15 digits. */
cJSON *json_add_int(cJSON *o, const char *name, long long v);
/* Add a string member, or null when v is NULL. */
void json_add_str_or_null(cJSON *o, const char *name, const char *v);

#endif
