/* libFuzzer harness for the screen pop's attributes (attrs.c): the input
 * is a caller's From URI, as any caller can make the ACD pass it on.
 * Whatever it holds, the attributes taken are within the limits, their
 * names are of the allowed characters and their values are text; the
 * URI given back holds no x-ccp- parameter after the host. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "attrs.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_text(const char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s < 0x20 || *s == 0x7f)
			abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *uri = malloc(size + 1), clean[2048];
	struct attrs_result r;
	const cJSON *a;
	const char *at, *p;
	int n = 0;

	if (!uri)
		return 0;
	memcpy(uri, data, size);
	uri[size] = '\0';
	if (attrs_from_uri(uri, clean, sizeof(clean), &r) != 0) {
		if (r.attrs)
			abort();
		free(uri);
		return 0;
	}
	cJSON_ArrayForEach(a, r.attrs) {
		size_t i, len = strlen(a->string);

		if (!cJSON_IsString(a) || len == 0 || len > ATTRS_NAME_MAX ||
		    strlen(a->valuestring) > ATTRS_VALUE_MAX)
			abort();
		for (i = 0; i < len; i++)
			if (!strchr("abcdefghijklmnopqrstuvwxyz"
				    "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-",
				    a->string[i]))
				abort();
		check_text(a->valuestring);
		n++;
	}
	if (n > ATTRS_MAX)
		abort();
	at = strchr(clean, '@');
	for (p = strchr(at ? at : clean, ';'); p; p = strchr(p + 1, ';')) {
		const char *q = strchr(clean, '?');

		if (q && p > q)
			break;
		if (strncasecmp(p + 1, "x-ccp-", 6) == 0)
			abort();
	}
	cJSON_Delete(r.attrs);
	free(uri);
	return 0;
}
