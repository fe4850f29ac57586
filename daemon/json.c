/* Small cJSON helpers shared by the modules that build JSON objects. */
#include <stdio.h>

#include "json.h"

cJSON *json_add_int(cJSON *o, const char *name, long long v)
{
	char num[24];
	cJSON *item;

	snprintf(num, sizeof(num), "%lld", v);
	item = cJSON_CreateRaw(num);
	if (item && !cJSON_AddItemToObject(o, name, item)) {
		cJSON_Delete(item);
		return NULL;
	}
	return item;
}

void json_add_str_or_null(cJSON *o, const char *name, const char *v)
{
	if (v)
		cJSON_AddStringToObject(o, name, v);
	else
		cJSON_AddNullToObject(o, name);
}
