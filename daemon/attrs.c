/* Contact attributes from the caller's From URI: names of letters,
 * digits, '_' and '-'; values in base64url (no '%' may reach baresip
 * 1.0.0, which takes the caller's URI as a format string), UTF-8 text
 * without control characters, length-limited. Anything else is dropped, counted and
 * named, never passed on. */
#include <ctype.h>
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "attrs.h"

#define PREFIX "x-ccp-"
#define PREFIX_LEN 6

static int b64val(char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '-')
		return 62;
	if (c == '_')
		return 63;
	return -1;
}

/* base64url without padding (RFC 4648, section 5), strictly: any other
 * character, a dangling sixth of a byte or leftover bits are refused
 * (libre's base64_decode reads unknown characters as zeros). -1 on a bad
 * value or overflow. */
static int decode(const char *s, size_t len, char *out, size_t size)
{
	uint32_t acc = 0;
	unsigned bits = 0;
	size_t i, n = 0;

	if (len % 4 == 1)
		return -1;
	for (i = 0; i < len; i++) {
		int v = b64val(s[i]);

		if (v < 0)
			return -1;
		acc = (acc << 6) | (uint32_t)v;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			if (n + 1 >= size)
				return -1;
			out[n] = (char)((acc >> bits) & 0xff);
			if (out[n] == '\0')
				return -1;      /* would end the text early */
			n++;
		}
	}
	if (acc & ((1u << bits) - 1))
		return -1;
	out[n] = '\0';
	return (int)n;
}

/* Well-formed UTF-8, no C0 or C1 control character, no DEL. */
static bool is_text(const unsigned char *s)
{
	while (*s) {
		unsigned c = *s, need, cp, i;

		if (c < 0x20 || c == 0x7f)
			return false;
		if (c < 0x80) {
			s++;
			continue;
		}
		if ((c & 0xe0) == 0xc0) {
			need = 1;
			cp = c & 0x1f;
		} else if ((c & 0xf0) == 0xe0) {
			need = 2;
			cp = c & 0x0f;
		} else if ((c & 0xf8) == 0xf0) {
			need = 3;
			cp = c & 0x07;
		} else {
			return false;
		}
		for (i = 1; i <= need; i++) {
			if ((s[i] & 0xc0) != 0x80)
				return false;
			cp = (cp << 6) | (s[i] & 0x3f);
		}
		if ((need == 1 && cp < 0x80) || (need == 2 && cp < 0x800) ||
		    (need == 3 && (cp < 0x10000 || cp > 0x10ffff)) ||
		    (cp >= 0xd800 && cp <= 0xdfff) ||
		    (cp >= 0x80 && cp < 0xa0))
			return false;
		s += need + 1;
	}
	return true;
}

static bool good_name(const char *s, size_t len)
{
	size_t i;

	if (len == 0 || len > ATTRS_NAME_MAX)
		return false;
	for (i = 0; i < len; i++)
		if (!isalnum((unsigned char)s[i]) && s[i] != '_' &&
		    s[i] != '-')
			return false;
	return true;
}

static void refuse(struct attrs_result *r, const char *what,
		   const char *name, size_t len)
{
	if (r->dropped++ == 0)
		snprintf(r->why, sizeof(r->why), "'%.*s': %s",
			 (int)(len > ATTRS_NAME_MAX ? ATTRS_NAME_MAX : len),
			 name, what);
}

/* One parameter (without its ';'); true when it is an attribute, taken
 * or refused. */
static bool take(const char *p, size_t len, struct attrs_result *r)
{
	const char *eq = memchr(p, '=', len);
	const char *name = p + PREFIX_LEN;
	size_t nlen = (eq ? (size_t)(eq - p) : len) - PREFIX_LEN;
	char value[ATTRS_VALUE_MAX + 1], key[ATTRS_NAME_MAX + 1];

	if (len < PREFIX_LEN || strncasecmp(p, PREFIX, PREFIX_LEN) != 0)
		return false;
	if (!good_name(name, nlen)) {
		refuse(r, "a bad name", name, nlen);
		return true;
	}
	if (!eq || decode(eq + 1, len - (size_t)(eq + 1 - p), value,
			  sizeof(value)) < 0) {
		refuse(r, "no value, not base64url or too long", name,
		       nlen);
		return true;
	}
	if (!is_text((const unsigned char *)value)) {
		refuse(r, "not text", name, nlen);
		return true;
	}
	memcpy(key, name, nlen);
	key[nlen] = '\0';
	if (cJSON_GetObjectItemCaseSensitive(r->attrs, key)) {
		refuse(r, "given twice", name, nlen);
		return true;
	}
	if (cJSON_GetArraySize(r->attrs) >= ATTRS_MAX) {
		refuse(r, "too many attributes", name, nlen);
		return true;
	}
	cJSON_AddStringToObject(r->attrs, key, value);
	return true;
}

int attrs_from_uri(const char *uri, char *clean, size_t size,
		   struct attrs_result *r)
{
	const char *at, *params, *end, *p;
	size_t n;

	memset(r, 0, sizeof(*r));
	r->attrs = cJSON_CreateObject();
	if (!r->attrs)
		return -ENOMEM;
	if (!uri)
		uri = "";
	/* the URI's own parameters follow the host: ';' in the user part
	 * (a number's ;isub=) belongs to the user */
	at = strchr(uri, '@');
	params = strchr(at ? at : uri, ';');
	end = params ? params + strcspn(params, "?") : uri + strlen(uri);
	n = params ? (size_t)(params - uri) : strlen(uri);
	if (n >= size)
		goto nospace;
	memcpy(clean, uri, n);
	clean[n] = '\0';
	for (p = params; p && p < end;) {
		const char *q = p + 1;
		size_t len = strcspn(q, ";?");

		if (q + len > end)
			len = (size_t)(end - q);
		if (!take(q, len, r)) {
			if (n + 1 + len >= size)
				goto nospace;
			clean[n++] = ';';
			memcpy(clean + n, q, len);
			n += len;
			clean[n] = '\0';
		}
		p = q + len;
		if (p >= end || *p != ';')
			break;
	}
	if (*end) {
		if (n + strlen(end) >= size)
			goto nospace;
		strcpy(clean + n, end);
	}
	return 0;
nospace:
	cJSON_Delete(r->attrs);
	r->attrs = NULL;
	return -ENOSPC;
}
