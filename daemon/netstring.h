/* Netstring framing (<length>:<bytes>,) as spoken by baresip's ctrl_tcp. */
#ifndef CCPD_NETSTRING_H
#define CCPD_NETSTRING_H

#include <stddef.h>

struct netstring;

/* Called once per complete message; the bytes are valid for the call only
 * and are NUL-terminated for convenience. */
typedef void (netstring_msg_h)(const char *msg, size_t len, void *arg);

int netstring_new(struct netstring **ret, size_t max_len);
struct netstring *netstring_free(struct netstring *ns);

/* Feed received bytes; the handler must not free ns (a caller whose
 * handlers may close the connection frees it after this returns, as
 * media-ctrl.c does). Returns 0, or -EBADMSG on a framing error or
 * -EMSGSIZE when a length exceeds max_len; after an error the stream is
 * unusable and the caller must reset the connection. */
int netstring_feed(struct netstring *ns, const char *data, size_t len,
		   netstring_msg_h *h, void *arg);

/* Encode one message; *ret is malloc'd and not NUL-terminated. */
int netstring_encode(char **ret, size_t *ret_len, const char *msg,
		     size_t len);

#endif
