/* JSON-RPC 2.0 messages: decoding requests, encoding answers and events. */
#ifndef CCPD_JSONRPC_H
#define CCPD_JSONRPC_H

#include <stdbool.h>
#include <stddef.h>
#include <cjson/cJSON.h>

struct jsonrpc_req {
	cJSON *doc;           /* owns everything below */
	const char *method;
	const cJSON *id;      /* NULL for a notification */
	const cJSON *params;  /* an object, or NULL */
};

/* What jsonrpc_decode returns for a batch (an array of 1 to
 * CCPD_MAX_BATCH values): req->doc holds the array and nothing else is
 * set; the caller checks each entry with jsonrpc_check. */
#define JSONRPC_BATCH 1

/* Decode one message. On success returns 0 and fills *req, or
 * JSONRPC_BATCH (free either with jsonrpc_req_clear). On failure returns
 * one of the JSON-RPC error codes (negative), writes a reason into
 * reason[], and, when the id could be read, leaves a copy in *err_id (or
 * NULL); the caller frees it. An empty batch, or one past
 * CCPD_MAX_BATCH, is one Invalid Request. Invalid params comes only for
 * a request otherwise valid: without an id it was a notification, and
 * gets no answer. */
int jsonrpc_decode(const char *buf, size_t len, struct jsonrpc_req *req,
		   cJSON **err_id, char *reason, size_t reason_size);
/* The same checks for one entry of a batch; req points into item and
 * req->doc stays NULL. */
int jsonrpc_check(const cJSON *item, struct jsonrpc_req *req,
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

/* The answers to a batch, joined into one array as they come; start it
 * zeroed. */
struct jsonrpc_batch {
	char *buf;
	size_t len, cap;
	bool failed;          /* an answer was lost to out of memory */
};

/* Takes line, an encoder's result (NULL: out of memory). */
void jsonrpc_batch_add(struct jsonrpc_batch *b, char *line);
/* The array as a malloc'd line, or NULL when no answer was added; b is
 * zeroed for the next batch. */
char *jsonrpc_batch_end(struct jsonrpc_batch *b);

#endif
