/* Phone numbers: parsing, validation and formatting in E.164, done by
 * libphonenumber behind a small C API (phone.cc), and the dial plan's
 * checks that depend on them (dialable countries, blocked prefixes). */
#ifndef CCPD_PHONE_H
#define CCPD_PHONE_H

#include <stdbool.h>
#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Why a text is not a usable phone number. */
enum phone_error {
	PHONE_OK = 0,
	PHONE_ERR_NOT_A_NUMBER,
	PHONE_ERR_INVALID_COUNTRY_CODE,
	PHONE_ERR_NO_REGION,            /* national form, and no region given */
	PHONE_ERR_BAD_REGION,           /* the region is not a known one */
	PHONE_ERR_TOO_SHORT,
	PHONE_ERR_TOO_LONG,
	PHONE_ERR_INVALID_LENGTH,       /* neither too short nor too long,
					 * but no length the plan allows */
	PHONE_ERR_NOT_VALID,            /* possible, yet not valid for its
					 * region's numbering plan */
	PHONE_ERR_EXTENSION,            /* carries an extension ("ext 2"),
					 * which cannot be dialed */
};

enum phone_format {
	PHONE_FMT_E164,
	PHONE_FMT_INTERNATIONAL,
	PHONE_FMT_NATIONAL,
	PHONE_FMT_RFC3966,
};

/* A parsed, valid number. */
struct phone_number;

/* Parse text in any common written form: E.164, international with "+"
 * and punctuation, with the region's international call prefix (011 from
 * US, 00 from GB), national with the trunk prefix, a tel: URI, or a sip: /
 * sips: URI whose user part is a number. region (ISO 3166 alpha-2, e.g.
 * "GB") is how national forms are read; NULL or "" for none. Returns 0 and
 * sets *ret, or -EINVAL with *why set (-ENOMEM when out of memory). */
int phone_parse(const char *text, const char *region,
		struct phone_number **ret, enum phone_error *why);
struct phone_number *phone_number_free(struct phone_number *n);

/* Write the number in a format. Returns 0, or -ENOSPC when out is too
 * small. E.164 needs at most PHONE_E164_MAX bytes. */
int phone_format(const struct phone_number *n, enum phone_format fmt,
		 char *out, size_t size);
#define PHONE_E164_MAX 17

/* The region the number belongs to ("GB", "US"; "001" for non-geographic
 * numbers), and its type as libphonenumber names it ("FIXED_LINE",
 * "MOBILE", "TOLL_FREE", ...). Both static strings or copied into out. */
void phone_region_of(const struct phone_number *n, char *out, size_t size);
const char *phone_type_of(const struct phone_number *n);

/* A sentence fragment for an error: "too short", "not valid for the
 * region", ... */
const char *phone_error_reason(enum phone_error e);

/* A region libphonenumber knows ("GB"), in upper case. */
bool phone_region_known(const char *region);

/* Whether a SIP URI's user part should be read as a phone number: it
 * starts with '+', or the URI says user=phone, or it is a valid number
 * for the region. Such a URI parses with phone_parse. */
bool phone_sip_uri_is_number(const char *uri, const char *region);

/* A format's name ("E164", "INTERNATIONAL", "NATIONAL", "RFC3966") and
 * back; -1 when the name is unknown. */
int phone_format_from_name(const char *name);

#ifdef __cplusplus
}
#endif

#endif
