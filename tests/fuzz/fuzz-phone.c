/* libFuzzer harness for phone-number input (phone.cc over libphonenumber):
 * the first two bytes are a region (or none when the first is 0), the rest
 * the number as an agent would type it. A number that parses must format
 * in every form, and its E.164 form (unless past PHONE_E164_MAX) must parse again, with no region, to
 * the same E.164. SIP URIs take the same text. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "phone.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const enum phone_format formats[] = {
	PHONE_FMT_E164, PHONE_FMT_INTERNATIONAL, PHONE_FMT_NATIONAL,
	PHONE_FMT_RFC3966,
};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char region[3] = "", text[512], out[128], e164[PHONE_E164_MAX],
	     again[PHONE_E164_MAX];
	struct phone_number *n = NULL, *m = NULL;
	enum phone_error why;
	size_t i;

	if (size < 2 || size - 2 >= sizeof(text))
		return 0;
	if (data[0]) {
		region[0] = (char)data[0];
		region[1] = (char)data[1];
	}
	memcpy(text, data + 2, size - 2);
	text[size - 2] = '\0';

	(void)phone_region_known(region);
	(void)phone_sip_uri_is_number(text, region);
	(void)phone_format_from_name(text);
	if (phone_parse(text, region, &n, &why) < 0) {
		if (n || !phone_error_reason(why)[0])
			abort();
		return 0;
	}
	for (i = 0; i < sizeof(formats) / sizeof(formats[0]); i++)
		if (phone_format(n, formats[i], out, sizeof(out)) < 0 ||
		    !memchr(out, '\0', sizeof(out)))
			abort();
	phone_region_of(n, out, sizeof(out));
	(void)phone_type_of(n);
	/* libphonenumber takes numbers longer than E.164's 15 digits (some
	 * German ones); ccpd refuses those, so only that may not fit */
	if (phone_format(n, PHONE_FMT_E164, e164, sizeof(e164)) < 0) {
		if (phone_format(n, PHONE_FMT_E164, out, sizeof(out)) < 0 ||
		    strlen(out) < sizeof(e164))
			abort();
		phone_number_free(n);
		return 0;
	}
	if (e164[0] != '+')
		abort();
	if (phone_parse(e164, "", &m, &why) < 0 ||
	    phone_format(m, PHONE_FMT_E164, again, sizeof(again)) < 0 ||
	    strcmp(e164, again) != 0) {
		fprintf(stderr, "fuzz-phone: %s (%s) gave %s, which gives %s\n",
			text, region, e164, m ? again : "an error");
		abort();
	}
	phone_number_free(m);
	phone_number_free(n);
	return 0;
}
