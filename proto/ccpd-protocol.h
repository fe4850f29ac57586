/* Names shared by ccpd and its clients: error codes and protocol limits. */
#ifndef CCPD_PROTOCOL_H
#define CCPD_PROTOCOL_H

#define CCPD_PROTOCOL_VERSION 1

/* Largest message on the Unix socket, newline included. */
#define CCPD_MAX_MESSAGE 65536
/* Deepest JSON nesting accepted in a request. */
#define CCPD_MAX_DEPTH 16
/* Most requests in one batch (a JSON array of requests). */
#define CCPD_MAX_BATCH 32
/* Longest endpoint (phone number or SIP URI) accepted. */
#define CCPD_MAX_ENDPOINT 256
/* Most DTMF digits in one connection.sendDigits. */
#define CCPD_MAX_DIGITS 64

enum ccpd_error {
	/* JSON-RPC 2.0 */
	CCPD_ERR_PARSE = -32700,
	CCPD_ERR_INVALID_REQUEST = -32600,
	CCPD_ERR_METHOD_NOT_FOUND = -32601,
	CCPD_ERR_INVALID_PARAMS = -32602,
	CCPD_ERR_INTERNAL = -32603,
	/* the project's own */
	CCPD_ERR_UNAUTHORIZED = -32001,
	CCPD_ERR_FORBIDDEN = -32002,
	CCPD_ERR_INVALID_STATE = -32003,
	CCPD_ERR_MEDIA_UNAVAILABLE = -32004,
	CCPD_ERR_INVALID_PHONE_NUMBER = -32005,
	CCPD_ERR_NOT_FOUND = -32006,
	/* the user is on a live contact at another desk of the instance */
	CCPD_ERR_USER_ELSEWHERE = -32011,
};

#endif
