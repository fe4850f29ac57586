/* Unit tests for JSON-RPC decoding and encoding: every error of PROTOCOL.md
 * ("Transport", "Errors"), the nesting bound, and the encoders' exact JSON. */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "ccpd-protocol.h"
#include "jsonrpc.h"
#include "tap.h"

/* A copy of exactly len bytes, without a terminating NUL, so that a read
 * past the message is caught by the address sanitizer. */
static char *exact_copy(const char *s, size_t len)
{
	char *p = malloc(len ? len : 1);

	if (p && len)
		memcpy(p, s, len);
	return p;
}

/* Compares an item with the JSON text want (NULL: the item must be NULL). */
static void check_json(struct tap_case *c, const char *what, const cJSON *got,
		       const char *want)
{
	cJSON *w;
	char *g;

	if (!want) {
		if (got) {
			g = cJSON_PrintUnformatted(got);
			tap_fail(c, "%s is %s, expected none\n", what,
				 g ? g : "?");
			free(g);
		}
		return;
	}
	if (!got) {
		tap_fail(c, "%s is missing, expected %s\n", what, want);
		return;
	}
	w = cJSON_Parse(want);
	if (!w) {
		tap_fail(c, "the expected %s is not JSON: %s\n", what, want);
		return;
	}
	if (!cJSON_Compare(got, w, true)) {
		g = cJSON_PrintUnformatted(got);
		tap_fail(c, "%s is %s, expected %s\n", what, g ? g : "?", want);
		free(g);
	}
	cJSON_Delete(w);
}

/* Decoding valid requests. */

struct ok_row {
	const char *name;
	const char *msg;
	const char *method;
	const char *id;       /* JSON text; NULL for a notification */
	const char *params;   /* JSON text; NULL when req.params is NULL */
};

static const struct ok_row ok_rows[] = {
	{ "valid: id string",
	  "{\"jsonrpc\":\"2.0\",\"method\":\"agent.getState\",\"id\":\"a-1\"}",
	  "agent.getState", "\"a-1\"", NULL },
	{ "valid: id number",
	  "{\"jsonrpc\":\"2.0\",\"method\":\"agent.getState\",\"id\":7}",
	  "agent.getState", "7", NULL },
	{ "valid: id zero",
	  "{\"jsonrpc\":\"2.0\",\"method\":\"contact.list\",\"id\":0}",
	  "contact.list", "0", NULL },
	{ "valid: id empty string",
	  "{\"jsonrpc\":\"2.0\",\"method\":\"contact.list\",\"id\":\"\"}",
	  "contact.list", "\"\"", NULL },
	{ "valid: id null is answered with null",
	  "{\"jsonrpc\":\"2.0\",\"method\":\"contact.list\",\"id\":null}",
	  "contact.list", "null", NULL },
	{ "valid: id absent (notification)",
	  "{\"jsonrpc\":\"2.0\",\"method\":\"events.unsubscribe\"}",
	  "events.unsubscribe", NULL, NULL },
	{ "valid: params absent",
	  "{\"jsonrpc\":\"2.0\",\"method\":\"agent.clearNextState\",\"id\":2}",
	  "agent.clearNextState", "2", NULL },
	{ "valid: params object",
	  "{\"jsonrpc\":\"2.0\",\"method\":\"agent.setState\","
	  "\"params\":{\"state\":\"Lunch\"},\"id\":3}",
	  "agent.setState", "3", "{\"state\":\"Lunch\"}" },
	{ "valid: params empty object",
	  "{\"jsonrpc\":\"2.0\",\"method\":\"contact.history\",\"params\":{},\"id\":4}",
	  "contact.history", "4", "{}" },
	{ "valid: params null",
	  "{\"jsonrpc\":\"2.0\",\"method\":\"agent.getState\",\"params\":null,\"id\":5}",
	  "agent.getState", "5", NULL },
	{ "valid: params object, notification",
	  "{\"jsonrpc\":\"2.0\",\"method\":\"agent.setState\","
	  "\"params\":{\"state\":\"Break\"}}",
	  "agent.setState", NULL, "{\"state\":\"Break\"}" },
	{ "valid: members in any order",
	  "{\"id\":\"z\",\"params\":{\"limit\":10},\"method\":\"contact.history\","
	  "\"jsonrpc\":\"2.0\"}",
	  "contact.history", "\"z\"", "{\"limit\":10}" },
	{ "valid: whitespace around and inside",
	  " \t{ \"jsonrpc\" : \"2.0\" ,\n \"method\" : \"daemon.getVersion\" ,"
	  " \"id\" : 9 } ",
	  "daemon.getVersion", "9", NULL },
	{ "valid: escaped method name",
	  "{\"jsonrpc\":\"2.0\",\"method\":\"agent\\u002egetState\",\"id\":1}",
	  "agent.getState", "1", NULL },
};

static void run_ok_row(const struct ok_row *r)
{
	struct tap_case c = { .len = 0 };
	struct jsonrpc_req req;
	cJSON *err_id = (cJSON *)1;
	char reason[256] = "";
	size_t len = strlen(r->msg);
	char *buf = exact_copy(r->msg, len);
	int code;

	code = jsonrpc_decode(buf, len, &req, &err_id, reason, sizeof(reason));
	if (code != 0) {
		tap_fail(&c, "returned %d (%s), expected 0\n", code, reason);
		goto out;
	}
	if (err_id)
		tap_fail(&c, "err_id is set on success\n");
	if (!req.doc)
		tap_fail(&c, "req.doc is NULL\n");
	if (!req.method || strcmp(req.method, r->method) != 0)
		tap_fail(&c, "method is %s, expected %s\n",
			 req.method ? req.method : "(none)", r->method);
	check_json(&c, "id", req.id, r->id);
	check_json(&c, "params", req.params, r->params);
	jsonrpc_req_clear(&req);
	if (req.doc || req.method || req.id || req.params)
		tap_fail(&c, "jsonrpc_req_clear left fields set\n");
	jsonrpc_req_clear(&req);
out:
	if (code != 0)
		cJSON_Delete(err_id);
	free(buf);
	tap_report(r->name, &c);
}

/* Decoding errors. */

struct err_row {
	const char *name;
	const char *msg;
	size_t len;           /* 0: strlen(msg) */
	int code;
	const char *err_id;   /* JSON text of the id kept for the answer */
	const char *reason;   /* a word the reason must hold, or NULL */
};

/* a literal and its length, NULs included */
#define LIT(s) s, sizeof(s) - 1

#define PARSE   CCPD_ERR_PARSE
#define REQUEST CCPD_ERR_INVALID_REQUEST
#define PARAMS  CCPD_ERR_INVALID_PARAMS

static const struct err_row err_rows[] = {
	{ "not JSON: truncated", "{\"jsonrpc\":\"2.0\",\"method\":", 0,
	  PARSE, NULL, NULL },
	{ "not JSON: empty", "", 0, PARSE, NULL, NULL },
	{ "not JSON: only spaces", "   ", 0, PARSE, NULL, NULL },
	{ "not JSON: a word", "hello", 0, PARSE, NULL, NULL },
	{ "not JSON: single quotes", "{'jsonrpc':'2.0','method':'m','id':1}", 0,
	  PARSE, NULL, NULL },
	{ "not JSON: cut by len", "{\"jsonrpc\":\"2.0\",\"method\":\"m\",\"id\":1}",
	  20, PARSE, NULL, NULL },
	{ "empty batch", "[]", 0, REQUEST, NULL, "batch" },
	{ "empty batch with blanks", " [ ] ", 0, REQUEST, NULL, "batch" },
	{ "not an object: string", "\"agent.getState\"", 0, REQUEST, NULL, NULL },
	{ "not an object: number", "42", 0, REQUEST, NULL, NULL },
	{ "not an object: null", "null", 0, REQUEST, NULL, NULL },
	{ "not an object: true", "true", 0, REQUEST, NULL, NULL },
	{ "jsonrpc missing", "{\"method\":\"m\",\"id\":1}", 0,
	  REQUEST, "1", "jsonrpc" },
	{ "jsonrpc 1.0", "{\"jsonrpc\":\"1.0\",\"method\":\"m\",\"id\":\"x\"}", 0,
	  REQUEST, "\"x\"", "jsonrpc" },
	{ "jsonrpc a number", "{\"jsonrpc\":2.0,\"method\":\"m\",\"id\":1}", 0,
	  REQUEST, "1", "jsonrpc" },
	{ "jsonrpc null", "{\"jsonrpc\":null,\"method\":\"m\",\"id\":1}", 0,
	  REQUEST, "1", "jsonrpc" },
	{ "jsonrpc \"2.0 \"", "{\"jsonrpc\":\"2.0 \",\"method\":\"m\",\"id\":1}", 0,
	  REQUEST, "1", "jsonrpc" },
	{ "method missing", "{\"jsonrpc\":\"2.0\",\"id\":5}", 0,
	  REQUEST, "5", "method" },
	{ "method a number", "{\"jsonrpc\":\"2.0\",\"method\":1,\"id\":5}", 0,
	  REQUEST, "5", "method" },
	{ "method empty", "{\"jsonrpc\":\"2.0\",\"method\":\"\",\"id\":5}", 0,
	  REQUEST, "5", "method" },
	{ "method null", "{\"jsonrpc\":\"2.0\",\"method\":null,\"id\":5}", 0,
	  REQUEST, "5", "method" },
	{ "method an object", "{\"jsonrpc\":\"2.0\",\"method\":{},\"id\":\"s\"}", 0,
	  REQUEST, "\"s\"", "method" },
	{ "method missing, notification", "{\"jsonrpc\":\"2.0\"}", 0,
	  REQUEST, NULL, "method" },
	{ "method bad, id null kept", "{\"jsonrpc\":\"2.0\",\"method\":5,\"id\":null}", 0,
	  REQUEST, "null", "method" },
	{ "id an object", "{\"jsonrpc\":\"2.0\",\"method\":\"m\",\"id\":{\"a\":1}}", 0,
	  REQUEST, NULL, "id" },
	{ "id an array", "{\"jsonrpc\":\"2.0\",\"method\":\"m\",\"id\":[1]}", 0,
	  REQUEST, NULL, "id" },
	{ "id true", "{\"jsonrpc\":\"2.0\",\"method\":\"m\",\"id\":true}", 0,
	  REQUEST, NULL, "id" },
	{ "params an array", "{\"jsonrpc\":\"2.0\",\"method\":\"m\",\"params\":[1,2],\"id\":6}", 0,
	  PARAMS, "6", "params" },
	{ "params an empty array", "{\"jsonrpc\":\"2.0\",\"method\":\"m\",\"params\":[],\"id\":\"p\"}", 0,
	  PARAMS, "\"p\"", "params" },
	{ "params a string", "{\"jsonrpc\":\"2.0\",\"method\":\"m\",\"params\":\"x\",\"id\":6}", 0,
	  PARAMS, "6", "params" },
	{ "params a number", "{\"jsonrpc\":\"2.0\",\"method\":\"m\",\"params\":1,\"id\":6}", 0,
	  PARAMS, "6", "params" },
	{ "params false", "{\"jsonrpc\":\"2.0\",\"method\":\"m\",\"params\":false,\"id\":6}", 0,
	  PARAMS, "6", "params" },
	{ "params an array, notification", "{\"jsonrpc\":\"2.0\",\"method\":\"m\",\"params\":[]}", 0,
	  PARAMS, NULL, "params" },
};

/* Whatever follows the first value makes the message unreadable. */
static const struct err_row trailing_rows[] = {
	{ "not JSON: garbage after the object",
	  "{\"jsonrpc\":\"2.0\",\"method\":\"agent.getState\",\"id\":1} x", 0,
	  PARSE, NULL, NULL },
	{ "not JSON: two objects in one message",
	  "{\"jsonrpc\":\"2.0\",\"method\":\"a\",\"id\":1}"
	  "{\"jsonrpc\":\"2.0\",\"method\":\"b\",\"id\":2}", 0,
	  PARSE, NULL, NULL },
	{ "not JSON: a NUL and garbage after the object",
	  LIT("{\"jsonrpc\":\"2.0\",\"method\":\"m\",\"id\":1}\0garbage"),
	  PARSE, NULL, NULL },
};

static void check_error(struct tap_case *c, const char *msg, size_t len,
			int want_code, const char *want_id,
			const char *want_word, size_t reason_size)
{
	struct jsonrpc_req req;
	cJSON *err_id = (cJSON *)1;
	char reason[256];
	char *buf = exact_copy(msg, len);
	int code;

	memset(reason, 'X', sizeof(reason));
	memset(&req, 0x55, sizeof(req));
	code = jsonrpc_decode(buf, len, &req, &err_id, reason, reason_size);
	if (code == 0) {
		tap_fail(c, "decoded, expected %d\n", want_code);
		jsonrpc_req_clear(&req);
		free(buf);
		return;
	}
	if (code != want_code)
		tap_fail(c, "returned %d, expected %d\n", code, want_code);
	if (req.doc || req.method || req.id || req.params)
		tap_fail(c, "req is not cleared on failure\n");
	check_json(c, "err_id", err_id, want_id);
	if (!memchr(reason, '\0', reason_size))
		tap_fail(c, "reason is not NUL-terminated\n");
	else if (!reason[0])
		tap_fail(c, "reason is empty\n");
	else if (want_word && !strstr(reason, want_word))
		tap_fail(c, "reason \"%s\" does not mention %s\n", reason,
			 want_word);
	cJSON_Delete(err_id);
	free(buf);
}

static void run_err_row(const struct err_row *r, bool todo)
{
	struct tap_case c = { .len = 0 };
	size_t len = r->len ? r->len : strlen(r->msg);

	check_error(&c, r->msg, len, r->code, r->err_id, r->reason, 256);
	if (todo)
		tap_report_todo(r->name, "jsonrpc_decode ignores what follows the first value", &c);
	else
		tap_report(r->name, &c);
}

static void test_reason_cut(void)
{
	struct tap_case c = { .len = 0 };
	static const char msg[] = "1";
	struct jsonrpc_req req;
	cJSON *err_id = NULL;
	char reason[8];
	int code;

	memset(reason, 'X', sizeof(reason));
	code = jsonrpc_decode(msg, strlen(msg), &req, &err_id, reason,
			      sizeof(reason));
	if (code != CCPD_ERR_INVALID_REQUEST)
		tap_fail(&c, "returned %d\n", code);
	if (strnlen(reason, sizeof(reason)) != sizeof(reason) - 1)
		tap_fail(&c, "reason is %zu bytes, expected %zu\n",
			 strnlen(reason, sizeof(reason)), sizeof(reason) - 1);
	cJSON_Delete(err_id);
	tap_report("reason is cut to its buffer", &c);
}

/* Nesting: the request object is level 1, its params level 2. */

enum nest { NEST_OBJECTS, NEST_ARRAYS };

static char *nested_request(int depth, enum nest kind, bool with_id)
{
	const char *head = with_id ?
		"{\"jsonrpc\":\"2.0\",\"method\":\"m\",\"id\":11,\"params\":" :
		"{\"jsonrpc\":\"2.0\",\"method\":\"m\",\"params\":";
	size_t cap = strlen(head) + (size_t)depth * 6 + 16;
	char *s = malloc(cap), *p;
	int i;

	if (!s)
		return NULL;
	p = s + sprintf(s, "%s", head);
	if (kind == NEST_OBJECTS) {
		for (i = 0; i < depth - 2; i++)
			p += sprintf(p, "{\"a\":");
		p += sprintf(p, "{}");
		for (i = 0; i < depth - 2; i++)
			*p++ = '}';
	} else {
		p += sprintf(p, "{\"a\":");
		for (i = 0; i < depth - 2; i++)
			*p++ = '[';
		for (i = 0; i < depth - 2; i++)
			*p++ = ']';
		*p++ = '}';
	}
	*p++ = '}';
	*p = '\0';
	return s;
}

static void test_nesting(const char *name, int depth, enum nest kind,
			 bool with_id, int want, bool todo)
{
	struct tap_case c = { .len = 0 };
	char *msg = nested_request(depth, kind, with_id);
	struct jsonrpc_req req;
	cJSON *err_id = NULL;
	char reason[256] = "";
	int code;

	if (!msg) {
		tap_fail(&c, "out of memory\n");
		goto out;
	}
	if (want != 0) {
		check_error(&c, msg, strlen(msg), want, with_id ? "11" : NULL,
			    NULL, sizeof(reason));
		goto out;
	}
	code = jsonrpc_decode(msg, strlen(msg), &req, &err_id, reason,
			      sizeof(reason));
	if (code != 0) {
		tap_fail(&c, "returned %d (%s), expected 0\n", code, reason);
		cJSON_Delete(err_id);
	} else {
		if (!req.params)
			tap_fail(&c, "params missing\n");
		jsonrpc_req_clear(&req);
	}
out:
	free(msg);
	if (todo)
		tap_report_todo(name, "cJSON's own nesting limit answers Parse error", &c);
	else
		tap_report(name, &c);
}

static void test_id_round_trip(void)
{
	struct tap_case c = { .len = 0 };
	static const char msg[] =
		"{\"jsonrpc\":\"2.0\",\"method\":\"agent.getState\",\"id\":\"a-1\"}";
	struct jsonrpc_req req;
	cJSON *err_id = NULL, *parsed;
	char reason[64];
	char *line;

	if (jsonrpc_decode(msg, strlen(msg), &req, &err_id, reason,
			   sizeof(reason)) != 0) {
		tap_fail(&c, "decode failed: %s\n", reason);
		cJSON_Delete(err_id);
		goto out;
	}
	line = jsonrpc_result(req.id, NULL);
	jsonrpc_req_clear(&req);
	parsed = line ? cJSON_Parse(line) : NULL;
	check_json(&c, "answer", parsed,
		   "{\"jsonrpc\":\"2.0\",\"id\":\"a-1\",\"result\":{}}");
	cJSON_Delete(parsed);
	free(line);
out:
	tap_report("the decoded id answers through jsonrpc_result", &c);
}

/* An integer id must come back exactly as the client wrote it. */
static void test_id_echo(const char *name, const char *id, bool todo)
{
	struct tap_case c = { .len = 0 };
	struct jsonrpc_req req;
	cJSON *err_id = NULL;
	char msg[128], want[64], reason[64];
	char *line = NULL;

	snprintf(msg, sizeof(msg),
		 "{\"jsonrpc\":\"2.0\",\"method\":\"m\",\"id\":%s}", id);
	snprintf(want, sizeof(want), "\"id\":%s,", id);
	if (jsonrpc_decode(msg, strlen(msg), &req, &err_id, reason,
			   sizeof(reason)) != 0) {
		tap_fail(&c, "decode failed: %s\n", reason);
		cJSON_Delete(err_id);
		goto out;
	}
	line = jsonrpc_result(req.id, NULL);
	jsonrpc_req_clear(&req);
	if (!line || !strstr(line, want))
		tap_fail(&c, "answered %s, expected it to hold %s\n",
			 line ? line : "(nothing)", want);
out:
	free(line);
	if (todo)
		tap_report_todo(name, "cJSON prints numbers with 15 significant digits", &c);
	else
		tap_report(name, &c);
}

/* Encoders. */

enum enc { ENC_RESULT, ENC_ERROR, ENC_EVENT };

struct enc_row {
	const char *name;
	enum enc kind;
	const char *id;        /* JSON text, NULL for no id */
	int code;              /* ERROR */
	const char *reason;    /* ERROR */
	const char *payload;   /* result, extra data or event data; may be NULL */
	unsigned long long seq, time;  /* EVENT */
	const char *type;      /* EVENT */
	const char *want;      /* the line, compared as JSON */
	const char *text;      /* a piece the line must hold verbatim, or NULL */
};

static const struct enc_row enc_rows[] = {
	{ "result: string id", ENC_RESULT, "\"a-1\"", 0, NULL,
	  "{\"state\":\"Available\",\"routable\":true}", 0, 0, NULL,
	  "{\"jsonrpc\":\"2.0\",\"id\":\"a-1\","
	  "\"result\":{\"state\":\"Available\",\"routable\":true}}", NULL },
	{ "result: number id", ENC_RESULT, "7", 0, NULL, "{\"contactId\":\"c-5\"}",
	  0, 0, NULL,
	  "{\"jsonrpc\":\"2.0\",\"id\":7,\"result\":{\"contactId\":\"c-5\"}}",
	  "\"id\":7," },
	{ "result: no id encodes null", ENC_RESULT, NULL, 0, NULL, "{}", 0, 0, NULL,
	  "{\"jsonrpc\":\"2.0\",\"id\":null,\"result\":{}}", "\"id\":null" },
	{ "result: none encodes {}", ENC_RESULT, "1", 0, NULL, NULL, 0, 0, NULL,
	  "{\"jsonrpc\":\"2.0\",\"id\":1,\"result\":{}}", NULL },
	{ "result: an array", ENC_RESULT, "\"l\"", 0, NULL,
	  "[{\"name\":\"Available\",\"type\":\"routable\"}]", 0, 0, NULL,
	  "{\"jsonrpc\":\"2.0\",\"id\":\"l\","
	  "\"result\":[{\"name\":\"Available\",\"type\":\"routable\"}]}", NULL },
	{ "error: the example of PROTOCOL.md", ENC_ERROR, "7", CCPD_ERR_INVALID_STATE,
	  "contact c-3 is connected, not incoming", NULL, 0, 0, NULL,
	  "{\"jsonrpc\":\"2.0\",\"id\":7,\"error\":{\"code\":-32003,"
	  "\"message\":\"Invalid state\","
	  "\"data\":{\"reason\":\"contact c-3 is connected, not incoming\"}}}",
	  "\"code\":-32003," },
	{ "error: parse error, no id", ENC_ERROR, NULL, CCPD_ERR_PARSE,
	  "the message is not valid JSON", NULL, 0, 0, NULL,
	  "{\"jsonrpc\":\"2.0\",\"id\":null,\"error\":{\"code\":-32700,"
	  "\"message\":\"Parse error\","
	  "\"data\":{\"reason\":\"the message is not valid JSON\"}}}", NULL },
	{ "error: extra data keeps its members", ENC_ERROR, "\"q\"",
	  CCPD_ERR_FORBIDDEN, "the client lacks contact.accept",
	  "{\"permission\":\"contact.accept\"}", 0, 0, NULL,
	  "{\"jsonrpc\":\"2.0\",\"id\":\"q\",\"error\":{\"code\":-32002,"
	  "\"message\":\"Forbidden\",\"data\":{\"permission\":\"contact.accept\","
	  "\"reason\":\"the client lacks contact.accept\"}}}", NULL },
	{ "error: no reason encodes \"\"", ENC_ERROR, "2", CCPD_ERR_INTERNAL, NULL,
	  NULL, 0, 0, NULL,
	  "{\"jsonrpc\":\"2.0\",\"id\":2,\"error\":{\"code\":-32603,"
	  "\"message\":\"Internal error\",\"data\":{\"reason\":\"\"}}}", NULL },
	{ "error: unknown code", ENC_ERROR, "3", -32099, "why", NULL, 0, 0, NULL,
	  "{\"jsonrpc\":\"2.0\",\"id\":3,\"error\":{\"code\":-32099,"
	  "\"message\":\"Error\",\"data\":{\"reason\":\"why\"}}}", NULL },
	{ "error: reason with quotes and newline", ENC_ERROR, "4",
	  CCPD_ERR_INVALID_PARAMS, "\"state\" is\nmissing", NULL, 0, 0, NULL,
	  "{\"jsonrpc\":\"2.0\",\"id\":4,\"error\":{\"code\":-32602,"
	  "\"message\":\"Invalid params\","
	  "\"data\":{\"reason\":\"\\\"state\\\" is\\nmissing\"}}}", NULL },
	{ "event: agent.stateChange", ENC_EVENT, NULL, 0, NULL,
	  "{\"oldState\":\"Available\",\"newState\":\"Busy\"}",
	  42, 1764194000123ULL, "agent.stateChange",
	  "{\"jsonrpc\":\"2.0\",\"method\":\"event\",\"params\":{\"seq\":42,"
	  "\"type\":\"agent.stateChange\",\"time\":1764194000123,"
	  "\"data\":{\"oldState\":\"Available\",\"newState\":\"Busy\"}}}",
	  "\"time\":1764194000123," },
	{ "event: no data encodes {}", ENC_EVENT, NULL, 0, NULL, NULL,
	  1, 1764194000000ULL, "media.status",
	  "{\"jsonrpc\":\"2.0\",\"method\":\"event\",\"params\":{\"seq\":1,"
	  "\"type\":\"media.status\",\"time\":1764194000000,\"data\":{}}}",
	  "\"seq\":1," },
	{ "event: seq past 32 bits", ENC_EVENT, NULL, 0, NULL, "{}",
	  4294967296ULL, 1764194000001ULL, "contact.acw",
	  "{\"jsonrpc\":\"2.0\",\"method\":\"event\",\"params\":{"
	  "\"seq\":4294967296,\"type\":\"contact.acw\","
	  "\"time\":1764194000001,\"data\":{}}}",
	  "\"seq\":4294967296," },
};

static void run_enc_row(const struct enc_row *r)
{
	struct tap_case c = { .len = 0 };
	cJSON *id = r->id ? cJSON_Parse(r->id) : NULL;
	cJSON *payload = r->payload ? cJSON_Parse(r->payload) : NULL;
	cJSON *parsed = NULL;
	char *line = NULL;

	if ((r->id && !id) || (r->payload && !payload)) {
		tap_fail(&c, "the row's id or payload is not JSON\n");
		goto out;
	}
	switch (r->kind) {
	case ENC_RESULT:
		line = jsonrpc_result(id, payload);
		payload = NULL;   /* consumed */
		break;
	case ENC_ERROR:
		line = jsonrpc_error(id, r->code, r->reason, payload);
		payload = NULL;   /* consumed */
		break;
	case ENC_EVENT:
		line = jsonrpc_event(r->seq, r->time, r->type, payload);
		break;
	}
	if (!line) {
		tap_fail(&c, "the encoder returned NULL\n");
		goto out;
	}
	if (strchr(line, '\n'))
		tap_fail(&c, "the line holds a newline: %s\n", line);
	parsed = cJSON_Parse(line);
	if (!parsed)
		tap_fail(&c, "the line is not JSON: %s\n", line);
	else
		check_json(&c, "the line", parsed, r->want);
	if (r->text && !strstr(line, r->text))
		tap_fail(&c, "the line %s does not hold %s\n", line, r->text);
out:
	cJSON_Delete(parsed);
	cJSON_Delete(payload);
	cJSON_Delete(id);   /* copied by the encoders, still ours */
	free(line);
	tap_report(r->name, &c);
}

static void test_error_messages(void)
{
	static const struct {
		int code;
		const char *message;
	} want[] = {
		{ CCPD_ERR_PARSE,                "Parse error" },
		{ CCPD_ERR_INVALID_REQUEST,      "Invalid Request" },
		{ CCPD_ERR_METHOD_NOT_FOUND,     "Method not found" },
		{ CCPD_ERR_INVALID_PARAMS,       "Invalid params" },
		{ CCPD_ERR_INTERNAL,             "Internal error" },
		{ CCPD_ERR_UNAUTHORIZED,         "Unauthorized" },
		{ CCPD_ERR_FORBIDDEN,            "Forbidden" },
		{ CCPD_ERR_INVALID_STATE,        "Invalid state" },
		{ CCPD_ERR_MEDIA_UNAVAILABLE,    "Media unavailable" },
		{ CCPD_ERR_INVALID_PHONE_NUMBER, "Invalid phone number" },
		{ CCPD_ERR_NOT_FOUND,            "Not found" },
	};
	struct tap_case c = { .len = 0 };
	size_t i;

	for (i = 0; i < ARRAY_SIZE(want); i++)
		if (strcmp(jsonrpc_error_message(want[i].code),
			   want[i].message) != 0)
			tap_fail(&c, "%d is \"%s\", expected \"%s\"\n",
				 want[i].code,
				 jsonrpc_error_message(want[i].code),
				 want[i].message);
	tap_report("error messages match PROTOCOL.md", &c);
}

static void test_event_data_copied(void)
{
	struct tap_case c = { .len = 0 };
	cJSON *data = cJSON_Parse("{\"contact\":{\"contactId\":\"c-1\"}}");
	char *a, *b;

	a = jsonrpc_event(1, 2, "contact.incoming", data);
	b = jsonrpc_event(1, 2, "contact.incoming", data);
	if (!a || !b || strcmp(a, b) != 0)
		tap_fail(&c, "two encodings of the same data differ\n");
	if (!cJSON_GetObjectItemCaseSensitive(data, "contact"))
		tap_fail(&c, "the caller's data was changed\n");
	free(a);
	free(b);
	cJSON_Delete(data);
	tap_report("event data stays the caller's", &c);
}

/* Batches: jsonrpc_decode hands over the array, jsonrpc_check each entry. */

struct batch_row {
	const char *name;
	const char *msg;
	int codes[4];         /* jsonrpc_check's answer for each entry */
	int n;
};

static const struct batch_row batch_rows[] = {
	{ "batch: one request",
	  "[{\"jsonrpc\":\"2.0\",\"method\":\"agent.getState\",\"id\":1}]",
	  { 0 }, 1 },
	{ "batch: entries that are not requests",
	  "[1,\"x\",null,{\"foo\":\"boo\"}]",
	  { REQUEST, REQUEST, REQUEST, REQUEST }, 4 },
	{ "batch: a batch inside a batch",
	  "[[{\"jsonrpc\":\"2.0\",\"method\":\"m\",\"id\":1}],"
	  "{\"jsonrpc\":\"2.0\",\"method\":\"m\",\"params\":[7]}]",
	  { REQUEST, PARAMS }, 2 },
};

static void run_batch_row(const struct batch_row *r)
{
	struct tap_case c = { .len = 0 };
	struct jsonrpc_req req, one;
	cJSON *err_id = NULL;
	const cJSON *item;
	char reason[128];
	int code, i = 0;

	code = jsonrpc_decode(r->msg, strlen(r->msg), &req, &err_id, reason,
			      sizeof(reason));
	if (code != JSONRPC_BATCH || !cJSON_IsArray(req.doc) || req.method ||
	    req.id || req.params || err_id) {
		tap_fail(&c, "returned %d, expected a batch\n", code);
		cJSON_Delete(err_id);
		goto out;
	}
	cJSON_ArrayForEach(item, req.doc) {
		code = jsonrpc_check(item, &one, &err_id, reason,
				     sizeof(reason));
		if (i < r->n && code != r->codes[i])
			tap_fail(&c, "entry %d: %d, expected %d\n", i, code,
				 r->codes[i]);
		if (code == 0 && one.doc)
			tap_fail(&c, "entry %d owns a doc\n", i);
		cJSON_Delete(err_id);
		i++;
	}
	if (i != r->n)
		tap_fail(&c, "%d entries, expected %d\n", i, r->n);
out:
	jsonrpc_req_clear(&req);
	tap_report(r->name, &c);
}

/* n copies of a notification in an array */
static char *batch_of(int n)
{
	static const char one[] = "{\"jsonrpc\":\"2.0\",\"method\":\"m\"}";
	char *s = malloc((size_t)n * sizeof(one) + 3), *p = s;
	int i;

	if (!s)
		return NULL;
	*p++ = '[';
	for (i = 0; i < n; i++)
		p += sprintf(p, "%s%s", i ? "," : "", one);
	strcpy(p, "]");
	return s;
}

static void test_batch_bound(void)
{
	struct tap_case c = { .len = 0 };
	char *at = batch_of(CCPD_MAX_BATCH), *past = batch_of(CCPD_MAX_BATCH + 1);
	struct jsonrpc_req req;
	cJSON *err_id = NULL;
	char reason[128];
	int code;

	if (!at || !past) {
		tap_fail(&c, "out of memory\n");
		goto out;
	}
	code = jsonrpc_decode(at, strlen(at), &req, &err_id, reason,
			      sizeof(reason));
	if (code != JSONRPC_BATCH ||
	    cJSON_GetArraySize(req.doc) != CCPD_MAX_BATCH)
		tap_fail(&c, "%d requests: returned %d\n", CCPD_MAX_BATCH, code);
	jsonrpc_req_clear(&req);
	check_error(&c, past, strlen(past), REQUEST, NULL, "1 to 32", 128);
out:
	free(at);
	free(past);
	tap_report("batch: 32 requests taken, 33 refused whole", &c);
}

static void test_batch_answers(void)
{
	struct tap_case c = { .len = 0 };
	struct jsonrpc_batch b = { .buf = NULL };
	char *line;

	line = jsonrpc_batch_end(&b);
	if (line)
		tap_fail(&c, "no answer gave %s\n", line);
	free(line);
	jsonrpc_batch_add(&b, strdup("{\"a\":1}"));
	line = jsonrpc_batch_end(&b);
	if (!line || strcmp(line, "[{\"a\":1}]") != 0)
		tap_fail(&c, "one answer gave %s\n", line ? line : "NULL");
	free(line);
	jsonrpc_batch_add(&b, strdup("{\"a\":1}"));
	jsonrpc_batch_add(&b, NULL);
	if (!b.failed)
		tap_fail(&c, "a lost answer is not marked\n");
	jsonrpc_batch_add(&b, strdup("2"));
	line = jsonrpc_batch_end(&b);
	if (!line || strcmp(line, "[{\"a\":1},2]") != 0)
		tap_fail(&c, "two answers gave %s\n", line ? line : "NULL");
	if (b.buf || b.len || b.failed)
		tap_fail(&c, "the batch is not reset\n");
	free(line);
	tap_report("batch: answers joined into one array", &c);
}

int main(void)
{
	size_t i;
	const unsigned n_other = 17;

	tap_plan((unsigned)(ARRAY_SIZE(ok_rows) + ARRAY_SIZE(err_rows) +
			    ARRAY_SIZE(batch_rows) +
			    ARRAY_SIZE(trailing_rows) + ARRAY_SIZE(enc_rows)) +
		 n_other);

	for (i = 0; i < ARRAY_SIZE(ok_rows); i++)
		run_ok_row(&ok_rows[i]);
	for (i = 0; i < ARRAY_SIZE(err_rows); i++)
		run_err_row(&err_rows[i], false);

	test_nesting("nesting: 16 levels of objects accepted", 16,
		     NEST_OBJECTS, true, 0, false);
	test_nesting("nesting: 16 levels of arrays accepted", 16,
		     NEST_ARRAYS, true, 0, false);
	test_nesting("nesting: 17 levels of objects refused, id kept", 17,
		     NEST_OBJECTS, true, REQUEST, false);
	test_nesting("nesting: 17 levels of arrays refused, id kept", 17,
		     NEST_ARRAYS, true, REQUEST, false);
	test_nesting("nesting: 17 levels, notification", 17,
		     NEST_OBJECTS, false, REQUEST, false);
	test_nesting("nesting: 900 levels refused", 900,
		     NEST_ARRAYS, true, REQUEST, false);
	/* past cJSON's own limit (1000) the message cannot be read at all */
	test_nesting("nesting: 2000 levels is a parse error",
		     2000, NEST_ARRAYS, false, PARSE, false);
	test_reason_cut();
	for (i = 0; i < ARRAY_SIZE(batch_rows); i++)
		run_batch_row(&batch_rows[i]);
	test_batch_bound();
	test_batch_answers();
	test_id_round_trip();
	test_id_echo("id 123456789012345 echoed exactly", "123456789012345",
		     false);
	test_id_echo("id -42 echoed exactly", "-42", false);
	test_id_echo("id 1234567890123456 echoed exactly", "1234567890123456",
		     false);
	test_id_echo("id 9007199254740991 echoed exactly", "9007199254740991",
		     false);

	for (i = 0; i < ARRAY_SIZE(trailing_rows); i++)
		run_err_row(&trailing_rows[i], false);

	for (i = 0; i < ARRAY_SIZE(enc_rows); i++)
		run_enc_row(&enc_rows[i]);
	test_error_messages();
	test_event_data_copied();

	return tap_exit();
}
