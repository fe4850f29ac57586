/* libFuzzer harness for jsonrpc_decode: any bytes must decode, as one
 * request or a batch, or fail with a JSON-RPC code and a reason, without
 * crashing or leaking, and what comes out must encode back to JSON. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include <cjson/cJSON.h>

#include "ccpd-protocol.h"
#include "jsonrpc.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* An encoded line must be one line of JSON. */
static void check_line(char *line)
{
	cJSON *back;

	if (!line)
		return;   /* out of memory is allowed */
	for (const char *p = line; *p; p++)
		if (*p == '\n')
			abort();
	back = cJSON_Parse(line);
	if (!back)
		abort();
	cJSON_Delete(back);
	free(line);
}

/* A batch: 1 to CCPD_MAX_BATCH entries, each checked alone, and the
 * answers joined into one array of as many. */
static void check_batch(struct jsonrpc_req *req)
{
	struct jsonrpc_batch answers = { .buf = NULL };
	struct jsonrpc_req one;
	const cJSON *item;
	cJSON *err_id, *back;
	char reason[128], *line;
	int n = 0, code;

	if (!cJSON_IsArray(req->doc) || req->method || req->id || req->params)
		abort();
	cJSON_ArrayForEach(item, req->doc) {
		code = jsonrpc_check(item, &one, &err_id, reason,
				     sizeof(reason));
		if (code == 0 && (err_id || one.doc || !one.method))
			abort();
		if (code < 0 && (one.method || !reason[0]))
			abort();
		jsonrpc_batch_add(&answers, code == 0 ?
				  jsonrpc_result(one.id, NULL) :
				  jsonrpc_error(err_id, code, reason, NULL));
		cJSON_Delete(err_id);
		n++;
	}
	if (n < 1 || n > CCPD_MAX_BATCH)
		abort();
	line = jsonrpc_batch_end(&answers);
	back = line ? cJSON_Parse(line) : NULL;
	if (line && (!cJSON_IsArray(back) || cJSON_GetArraySize(back) != n))
		abort();
	cJSON_Delete(back);
	free(line);
	jsonrpc_req_clear(req);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct jsonrpc_req req;
	cJSON *err_id = NULL;
	char reason[128];
	int code;

	/* the transport never hands over more than one line */
	if (size > CCPD_MAX_MESSAGE)
		return 0;

	code = jsonrpc_decode((const char *)data, size, &req, &err_id, reason,
			      sizeof(reason));
	if (code == JSONRPC_BATCH) {
		check_batch(&req);
		return 0;
	}
	if (code == 0) {
		if (err_id || !req.doc || !req.method || !req.method[0])
			abort();
		if (req.params && !cJSON_IsObject(req.params))
			abort();
		if (req.id && !cJSON_IsString(req.id) &&
		    !cJSON_IsNumber(req.id) && !cJSON_IsNull(req.id))
			abort();
		check_line(jsonrpc_result(req.id, NULL));
		jsonrpc_req_clear(&req);
		return 0;
	}

	if (code != CCPD_ERR_PARSE && code != CCPD_ERR_INVALID_REQUEST &&
	    code != CCPD_ERR_INVALID_PARAMS)
		abort();
	if (req.doc || req.method || req.id || req.params)
		abort();
	if (!reason[0])
		abort();
	check_line(jsonrpc_error(err_id, code, reason, NULL));
	cJSON_Delete(err_id);
	return 0;
}
