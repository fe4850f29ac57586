/* The Unix-socket transport: one JSON message per line. */
#ifndef CCPD_IPC_H
#define CCPD_IPC_H

struct conf;
struct rpc;
struct ipc;

/* fd: an inherited listening socket (socket activation), or -1 to create
 * one at conf->socket. */
int ipc_new(struct ipc **ret, const struct conf *conf, struct rpc *rpc,
	    int fd);
struct ipc *ipc_free(struct ipc *ipc);

#endif
