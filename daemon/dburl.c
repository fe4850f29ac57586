/* The database setting: a file or a PostgreSQL instance, and its password
 * kept out of what ccpd prints. */
#include <ctype.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "dburl.h"

static bool is_uri(const char *v)
{
	return strncasecmp(v, "postgresql://", 13) == 0 ||
	       strncasecmp(v, "postgres://", 11) == 0;
}

/* A keyword of libpq's key=value form at p: word characters, then
 * optional spaces and '='. */
static bool keyword_at(const char *start, const char *p, const char *kw)
{
	size_t n = strlen(kw);

	if (p != start && !isspace((unsigned char)p[-1]))
		return false;
	if (strncasecmp(p, kw, n) != 0)
		return false;
	p += n;
	while (*p == ' ' || *p == '\t')
		p++;
	return *p == '=';
}

static bool has_keyword(const char *v, const char *kw)
{
	const char *p;

	for (p = v; *p; p++)
		if (keyword_at(v, p, kw))
			return true;
	return false;
}

bool dburl_is_postgres(const char *v)
{
	if (!v || !*v)
		return false;
	/* "postgresql:" and "postgres:" alone too: a URI with a typo must be
	 * refused by libpq's parser, not become a file named after it */
	if (is_uri(v) || strncasecmp(v, "postgresql:", 11) == 0 ||
	    strncasecmp(v, "postgres:", 9) == 0)
		return true;
	/* a path never starts with a keyword; "dbname=x" is libpq's */
	return has_keyword(v, "host") || has_keyword(v, "dbname") ||
	       has_keyword(v, "hostaddr") || has_keyword(v, "service");
}

struct out {
	char *buf;
	size_t size, len;
};

static void put(struct out *o, const char *s, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++, o->len++)
		if (o->len + 1 < o->size)
			o->buf[o->len] = s[i];
}

static void mask_uri(const char *v, struct out *o)
{
	const char *auth = strstr(v, "://") + 3;
	const char *end = auth + strcspn(auth, "/?#");
	const char *at = NULL, *p, *colon;

	/* the last @ before the host: user names may hold an encoded @ only */
	for (p = auth; p < end; p++)
		if (*p == '@')
			at = p;
	colon = at ? memchr(auth, ':', (size_t)(at - auth)) : NULL;
	if (colon) {
		put(o, v, (size_t)(colon + 1 - v));
		put(o, "***", 3);
		p = at;
	} else {
		p = v;
	}
	/* the query: password=... becomes password=*** */
	while (*p) {
		if ((*p == '?' || *p == '&') &&
		    strncasecmp(p + 1, "password=", 9) == 0) {
			put(o, p, 10);
			put(o, "***", 3);
			p += 10;
			p += strcspn(p, "&#");
			continue;
		}
		put(o, p, 1);
		p++;
	}
}

/* key=value words; a value may be 'quoted' with \ escapes */
static void mask_keywords(const char *v, struct out *o)
{
	const char *p = v;

	while (*p) {
		if (keyword_at(v, p, "password")) {
			const char *eq = strchr(p, '=') + 1;

			while (*eq == ' ' || *eq == '\t')
				eq++;
			put(o, p, (size_t)(eq - p));
			p = eq;
			if (*p == '\'') {
				for (p++; *p && *p != '\''; p++)
					if (*p == '\\' && p[1])
						p++;
				if (*p)
					p++;
			} else {
				p += strcspn(p, " \t");
			}
			put(o, "***", 3);
			continue;
		}
		put(o, p, 1);
		p++;
	}
}

/* A scheme without //: where a password would be is unsure, so nothing
 * after the scheme is shown. */
static void mask_scheme_only(const char *v, struct out *o)
{
	put(o, v, (size_t)(strchr(v, ':') + 1 - v));
	put(o, "***", 3);
}

size_t dburl_mask(const char *v, char *buf, size_t size)
{
	struct out o = { buf, size, 0 };

	if (dburl_is_postgres(v) && is_uri(v))
		mask_uri(v, &o);
	else if (strncasecmp(v, "postgresql:", 11) == 0 ||
		 strncasecmp(v, "postgres:", 9) == 0)
		mask_scheme_only(v, &o);
	else if (dburl_is_postgres(v))
		mask_keywords(v, &o);
	else
		put(&o, v, strlen(v));
	if (size)
		buf[o.len < size ? o.len : size - 1] = '\0';
	return o.len;
}
