/* Who owns the other end of a TCP connection on this host, asked of the
 * kernel through NETLINK_SOCK_DIAG; shared by the control port's guard in
 * baresip (ctrlguard.c) and ccpd's own check of the port it connects to. */
#ifndef CCPD_CTRLGUARD_UID_H
#define CCPD_CTRLGUARD_UID_H

#include <sys/types.h>

/* The owner uid of the socket at the far end of the connected TCP socket
 * fd, when that socket lives in this network namespace (loopback).
 * Returns 0, or a negative errno: -ENOENT when the kernel knows no such
 * socket (it closed meanwhile, or it is not local), -EAFNOSUPPORT for a
 * socket that is not TCP over IPv4 or IPv6. */
int ctrlguard_peer_uid(int fd, uid_t *uid);

#endif
