/* JSON-RPC 2.0 messages: strict decoding with bounds, and the encoders. */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ccpd-protocol.h"
#include "json.h"
#include "jsonrpc.h"

static int depth_of(const cJSON *item, int limit)
{
	int max = 0;
	const cJSON *c;

	if (limit < 0)
		return 1;
	cJSON_ArrayForEach(c, item) {
		int d = depth_of(c, limit - 1);

		if (d > max)
			max = d;
		if (max > limit)
			break;
	}
	return (cJSON_IsArray(item) || cJSON_IsObject(item)) ? max + 1 : 0;
}

static bool valid_id(const cJSON *id)
{
	return cJSON_IsString(id) || cJSON_IsNumber(id) || cJSON_IsNull(id);
}

static int fail(char *reason, size_t size, int code, const char *text)
{
	snprintf(reason, size, "%s", text);
	return code;
}

/* One request object of a message; req points into item. */
int jsonrpc_check(const cJSON *item, struct jsonrpc_req *req,
		  cJSON **err_id, char *reason, size_t reason_size)
{
	const cJSON *v, *id, *method, *params;

	memset(req, 0, sizeof(*req));
	*err_id = NULL;

	if (!cJSON_IsObject(item))
		return fail(reason, reason_size, CCPD_ERR_INVALID_REQUEST,
			    cJSON_IsArray(item) ?
			    "a batch may not hold another batch" :
			    "a request must be a JSON object");

	id = cJSON_GetObjectItemCaseSensitive(item, "id");
	if (id && valid_id(id))
		*err_id = cJSON_Duplicate(id, false);

	if (depth_of(item, CCPD_MAX_DEPTH) > CCPD_MAX_DEPTH)
		return fail(reason, reason_size, CCPD_ERR_INVALID_REQUEST,
			    "JSON nesting is deeper than 16 levels");
	v = cJSON_GetObjectItemCaseSensitive(item, "jsonrpc");
	if (!cJSON_IsString(v) || strcmp(v->valuestring, "2.0") != 0)
		return fail(reason, reason_size, CCPD_ERR_INVALID_REQUEST,
			    "\"jsonrpc\" must be \"2.0\"");
	if (id && !valid_id(id))
		return fail(reason, reason_size, CCPD_ERR_INVALID_REQUEST,
			    "\"id\" must be a string, a number or null");
	method = cJSON_GetObjectItemCaseSensitive(item, "method");
	if (!cJSON_IsString(method) || !method->valuestring[0])
		return fail(reason, reason_size, CCPD_ERR_INVALID_REQUEST,
			    "\"method\" must be a non-empty string");
	params = cJSON_GetObjectItemCaseSensitive(item, "params");
	if (params && !cJSON_IsObject(params) && !cJSON_IsNull(params))
		return fail(reason, reason_size, CCPD_ERR_INVALID_PARAMS,
			    "\"params\" must be an object");

	req->method = method->valuestring;
	req->id = id;
	req->params = cJSON_IsObject(params) ? params : NULL;
	cJSON_Delete(*err_id);
	*err_id = NULL;
	return 0;
}

int jsonrpc_decode(const char *buf, size_t len, struct jsonrpc_req *req,
		   cJSON **err_id, char *reason, size_t reason_size)
{
	const char *end = NULL;
	cJSON *doc;
	int code, n;

	memset(req, 0, sizeof(*req));
	*err_id = NULL;

	doc = cJSON_ParseWithLengthOpts(buf, len, &end, false);
	if (!doc)
		return fail(reason, reason_size, CCPD_ERR_PARSE,
			    "the message is not valid JSON");
	/* one message is one value: anything but blanks after it is an
	 * error, not a second request to ignore */
	while (end < buf + len && strchr(" \t\r\n", *end) && *end)
		end++;
	if (end != buf + len) {
		cJSON_Delete(doc);
		return fail(reason, reason_size, CCPD_ERR_PARSE,
			    "unexpected data after the JSON value");
	}

	if (cJSON_IsArray(doc)) {
		/* counted before anything runs: a batch past the bound is
		 * refused whole, as an empty one is */
		n = cJSON_GetArraySize(doc);
		if (n == 0 || n > CCPD_MAX_BATCH) {
			snprintf(reason, reason_size, "%s; a batch holds 1 to "
				 "%d requests", n ? "too many requests" :
				 "an empty batch", CCPD_MAX_BATCH);
			cJSON_Delete(doc);
			return CCPD_ERR_INVALID_REQUEST;
		}
		req->doc = doc;
		return JSONRPC_BATCH;
	}

	code = jsonrpc_check(doc, req, err_id, reason, reason_size);
	if (code < 0) {
		cJSON_Delete(doc);
		return code;
	}
	req->doc = doc;
	return 0;
}

void jsonrpc_req_clear(struct jsonrpc_req *req)
{
	cJSON_Delete(req->doc);
	memset(req, 0, sizeof(*req));
}

const char *jsonrpc_error_message(int code)
{
	switch (code) {
	case CCPD_ERR_PARSE:                return "Parse error";
	case CCPD_ERR_INVALID_REQUEST:      return "Invalid Request";
	case CCPD_ERR_METHOD_NOT_FOUND:     return "Method not found";
	case CCPD_ERR_INVALID_PARAMS:       return "Invalid params";
	case CCPD_ERR_INTERNAL:             return "Internal error";
	case CCPD_ERR_UNAUTHORIZED:         return "Unauthorized";
	case CCPD_ERR_FORBIDDEN:            return "Forbidden";
	case CCPD_ERR_INVALID_STATE:        return "Invalid state";
	case CCPD_ERR_MEDIA_UNAVAILABLE:    return "Media unavailable";
	case CCPD_ERR_INVALID_PHONE_NUMBER: return "Invalid phone number";
	case CCPD_ERR_NOT_FOUND:            return "Not found";
	case CCPD_ERR_USER_ELSEWHERE:       return "User busy elsewhere";
	}
	return "Error";
}

/* cJSON prints large integers with 15 significant digits; an id must come
 * back exactly as the client sent it. */
static bool exact_int(const cJSON *v)
{
	return cJSON_IsNumber(v) &&
	       v->valuedouble <= 9007199254740992.0 &&
	       v->valuedouble >= -9007199254740992.0 &&
	       v->valuedouble == (double)(long long)v->valuedouble;
}

static cJSON *copy_id(const cJSON *id)
{
	char num[32];

	if (!id)
		return cJSON_CreateNull();
	if (exact_int(id)) {
		snprintf(num, sizeof(num), "%lld", (long long)id->valuedouble);
		return cJSON_CreateRaw(num);
	}
	return cJSON_Duplicate(id, true);
}

static cJSON *envelope(const cJSON *id)
{
	cJSON *o = cJSON_CreateObject();

	if (!o)
		return NULL;
	cJSON_AddStringToObject(o, "jsonrpc", "2.0");
	cJSON_AddItemToObject(o, "id", copy_id(id));
	return o;
}

static char *print_and_free(cJSON *o)
{
	char *s = o ? cJSON_PrintUnformatted(o) : NULL;

	cJSON_Delete(o);
	return s;
}

char *jsonrpc_result(const cJSON *id, cJSON *result)
{
	cJSON *o = envelope(id);

	if (!o) {
		cJSON_Delete(result);
		return NULL;
	}
	cJSON_AddItemToObject(o, "result",
			      result ? result : cJSON_CreateObject());
	return print_and_free(o);
}

static int print_id(const cJSON *id, char *out, size_t size)
{
	char *s;
	int n;

	if (!id || cJSON_IsNull(id))
		return snprintf(out, size, "null");
	if (exact_int(id))
		return snprintf(out, size, "%lld", (long long)id->valuedouble);
	s = cJSON_PrintUnformatted(id);
	if (!s)
		return -1;
	n = snprintf(out, size, "%s", s);
	cJSON_free(s);
	return n;
}

char *jsonrpc_result_raw(const cJSON *id, const char *result)
{
	static const char head[] = "{\"jsonrpc\":\"2.0\",\"id\":";
	char idbuf[320], *line;
	size_t rlen = strlen(result), hlen = sizeof(head) - 1;
	int ilen = print_id(id, idbuf, sizeof(idbuf));

	if (ilen < 0 || (size_t)ilen >= sizeof(idbuf))
		return jsonrpc_error(id, CCPD_ERR_INTERNAL,
				     "the id is too long to echo", NULL);
	line = malloc(hlen + (size_t)ilen + 10 + rlen + 2);
	if (!line)
		return NULL;
	memcpy(line, head, hlen);
	memcpy(line + hlen, idbuf, (size_t)ilen);
	memcpy(line + hlen + ilen, ",\"result\":", 10);
	memcpy(line + hlen + ilen + 10, result, rlen);
	line[hlen + ilen + 10 + rlen] = '}';
	line[hlen + ilen + 10 + rlen + 1] = '\0';
	return line;
}

char *jsonrpc_error(const cJSON *id, int code, const char *reason,
		    cJSON *extra_data)
{
	cJSON *o = envelope(id), *e, *d;

	if (!o) {
		cJSON_Delete(extra_data);
		return NULL;
	}
	e = cJSON_AddObjectToObject(o, "error");
	d = extra_data ? extra_data : cJSON_CreateObject();
	cJSON_AddNumberToObject(e, "code", code);
	cJSON_AddStringToObject(e, "message", jsonrpc_error_message(code));
	cJSON_AddStringToObject(d, "reason", reason ? reason : "");
	cJSON_AddItemToObject(e, "data", d);
	return print_and_free(o);
}

char *jsonrpc_event(unsigned long long seq, unsigned long long time_ms,
		    const char *type, const cJSON *data)
{
	cJSON *o = cJSON_CreateObject(), *p;

	if (!o)
		return NULL;
	cJSON_AddStringToObject(o, "jsonrpc", "2.0");
	cJSON_AddStringToObject(o, "method", "event");
	p = cJSON_AddObjectToObject(o, "params");
	json_add_int(p, "seq", (long long)seq);
	cJSON_AddStringToObject(p, "type", type);
	json_add_int(p, "time", (long long)time_ms);
	cJSON_AddItemToObject(p, "data", data ? cJSON_Duplicate(data, true)
					      : cJSON_CreateObject());
	return print_and_free(o);
}

void jsonrpc_batch_add(struct jsonrpc_batch *b, char *line)
{
	size_t len, need;
	char *p;

	if (!line) {
		b->failed = true;
		return;
	}
	len = strlen(line);
	/* a comma or the opening bracket, and room for the closing one */
	need = b->len + 1 + len + 2;
	if (need > b->cap) {
		size_t cap = b->cap ? b->cap : 1024;

		while (cap < need)
			cap *= 2;
		p = realloc(b->buf, cap);
		if (!p) {
			b->failed = true;
			free(line);
			return;
		}
		b->buf = p;
		b->cap = cap;
	}
	b->buf[b->len] = b->len ? ',' : '[';
	b->len++;
	memcpy(b->buf + b->len, line, len);
	b->len += len;
	b->buf[b->len] = '\0';
	free(line);
}

char *jsonrpc_batch_end(struct jsonrpc_batch *b)
{
	char *s = b->buf;

	if (s) {
		s[b->len] = ']';
		s[b->len + 1] = '\0';
	}
	memset(b, 0, sizeof(*b));
	return s;
}
