/* JSON-RPC 2.0 messages: decoding requests, encoding answers and events. */
#ifndef CCPD_JSONRPC_H
#define CCPD_JSONRPC_H

#include <stddef.h>
#include <cjson/cJSON.h>

struct jsonrpc_req {
	cJSON *doc;           /* owns everything below */
	const char *method;
	const cJSON *id;      /* NULL for a notification */
	const cJSON *params;  /* an object, or NULL */
};

/* Decode one message. On success returns 0 and fills *req (free with
 * jsonrpc_req_clear). On failure returns one of the JSON-RPC error codes
 * (negative), writes a reason into reason[], and, when the id could be
 * read, leaves a copy in *err_id (or NULL); the caller frees it. */
int jsonrpc_decode(const char *buf, size_t len, struct jsonrpc_req *req,
		   cJSON **err_id, char *reason, size_t reason_size);
void jsonrpc_req_clear(struct jsonrpc_req *req);

/* Encoders return a malloc'd line without the newline, or NULL when out of
 * memory. result is consumed; id is copied (NULL encodes as null). */
char *jsonrpc_result(const cJSON *id, cJSON *result);
char *jsonrpc_error(const cJSON *id, int code, const char *reason,
		    cJSON *extra_data);
char *jsonrpc_event(unsigned long long seq, unsigned long long time_ms,
		    const char *type, const cJSON *data);

/* The same with a result already encoded as JSON text (not consumed). */
char *jsonrpc_result_raw(const cJSON *id, const char *result);

const char *jsonrpc_error_message(int code);

#endif
