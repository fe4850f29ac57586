/* The owner of a connection's far end, from the kernel's socket table.
 *
 * Both ends of a loopback connection are sockets of this host, and the
 * kernel records who created each (sk_uid). An inet_diag request for the
 * reversed 4-tuple finds the far end: its source is our peer address, its
 * destination our local address. Nothing here trusts the peer: the
 * answer comes from the kernel, and any doubt is an error for the caller
 * to treat as a refusal. */
#include <errno.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <linux/inet_diag.h>
#include <linux/netlink.h>
#include <linux/sock_diag.h>

#include "ctrlguard-uid.h"

struct diag_req {
	struct nlmsghdr nlh;
	struct inet_diag_req_v2 r;
};

/* Fill the request's id with the far end's view of the connection. */
static int far_end_id(int fd, struct inet_diag_req_v2 *r)
{
	struct sockaddr_storage loc, peer;
	socklen_t llen = sizeof(loc), plen = sizeof(peer);

	if (getsockname(fd, (struct sockaddr *)&loc, &llen) < 0 ||
	    getpeername(fd, (struct sockaddr *)&peer, &plen) < 0)
		return -errno;
	if (loc.ss_family != peer.ss_family)
		return -EAFNOSUPPORT;
	r->sdiag_family = (__u8)loc.ss_family;
	if (loc.ss_family == AF_INET) {
		const struct sockaddr_in *l = (const void *)&loc;
		const struct sockaddr_in *p = (const void *)&peer;

		r->id.idiag_sport = p->sin_port;
		r->id.idiag_dport = l->sin_port;
		memcpy(r->id.idiag_src, &p->sin_addr, 4);
		memcpy(r->id.idiag_dst, &l->sin_addr, 4);
	} else if (loc.ss_family == AF_INET6) {
		const struct sockaddr_in6 *l = (const void *)&loc;
		const struct sockaddr_in6 *p = (const void *)&peer;

		r->id.idiag_sport = p->sin6_port;
		r->id.idiag_dport = l->sin6_port;
		memcpy(r->id.idiag_src, &p->sin6_addr, 16);
		memcpy(r->id.idiag_dst, &l->sin6_addr, 16);
	} else {
		return -EAFNOSUPPORT;
	}
	return 0;
}

int ctrlguard_peer_uid(int fd, uid_t *uid)
{
	struct sockaddr_nl kernel = { .nl_family = AF_NETLINK };
	struct diag_req req = {
		.nlh = {
			.nlmsg_len = sizeof(req),
			.nlmsg_type = SOCK_DIAG_BY_FAMILY,
			.nlmsg_flags = NLM_F_REQUEST,
			.nlmsg_seq = 1,
		},
		.r = {
			.sdiag_protocol = IPPROTO_TCP,
			.idiag_states = ~0U,
			.id.idiag_cookie = { INET_DIAG_NOCOOKIE,
					     INET_DIAG_NOCOOKIE },
		},
	};
	/* a reply is one inet_diag_msg and a few attributes at most */
	union {
		struct nlmsghdr nlh;
		char buf[8192];
	} ans;
	struct timeval tv = { .tv_sec = 1 };
	const struct nlmsghdr *h;
	ssize_t n;
	int r, nl;

	r = far_end_id(fd, &req.r);
	if (r < 0)
		return r;
	nl = socket(AF_NETLINK, SOCK_DGRAM | SOCK_CLOEXEC, NETLINK_SOCK_DIAG);
	if (nl < 0)
		return -errno;
	/* the kernel answers at once; a bound keeps a caller from hanging */
	(void)setsockopt(nl, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	if (sendto(nl, &req, sizeof(req), 0, (struct sockaddr *)&kernel,
		   sizeof(kernel)) < 0) {
		r = -errno;
		goto out;
	}
	n = recv(nl, &ans, sizeof(ans), 0);
	if (n < 0) {
		r = -errno;
		goto out;
	}
	r = -ENOENT;
	for (h = &ans.nlh; NLMSG_OK(h, (size_t)n); h = NLMSG_NEXT(h, n)) {
		const struct inet_diag_msg *msg = NLMSG_DATA(h);

		if (h->nlmsg_type == NLMSG_ERROR) {
			const struct nlmsgerr *e = NLMSG_DATA(h);

			if (h->nlmsg_len >= NLMSG_LENGTH(sizeof(*e)) &&
			    e->error < 0)
				r = e->error;
			break;
		}
		if (h->nlmsg_type != SOCK_DIAG_BY_FAMILY ||
		    h->nlmsg_len < NLMSG_LENGTH(sizeof(*msg)))
			continue;
		/* the kernel found it by this tuple; check it all the same */
		if (msg->id.idiag_sport != req.r.id.idiag_sport ||
		    msg->id.idiag_dport != req.r.id.idiag_dport ||
		    memcmp(msg->id.idiag_src, req.r.id.idiag_src,
			   sizeof(msg->id.idiag_src)) != 0 ||
		    memcmp(msg->id.idiag_dst, req.r.id.idiag_dst,
			   sizeof(msg->id.idiag_dst)) != 0)
			continue;
		*uid = msg->idiag_uid;
		r = 0;
		break;
	}
out:
	close(nl);
	return r;
}
