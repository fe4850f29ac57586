/* The conference focus: each member is a SIP session (sipsess) with one
 * G.711 stream, mixed by librem's aumix (every member hears the sum of the
 * others). aumix runs its own thread and calls a member's frame handler
 * there, with the mixer's lock held; the handler only copies the frame
 * into a ring under a mutex and wakes the loop through an eventfd, and the
 * loop encodes and sends. (libre's mqueue would do the hand-over too, but
 * frames still in its pipe at shutdown would be lost allocations.) */
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <re.h>
#include <rem.h>

#include "focus.h"
#include "log.h"

#define SRATE 8000
#define PTIME 20
#define FRAME_SAMPLES (SRATE * PTIME / 1000)
#define RING_FRAMES 256
#define MAX_PACKET_SAMPLES 960          /* 120 ms of G.711 */

struct frame {
	uint32_t member;
	int16_t s[FRAME_SAMPLES];
};

struct focus {
	struct sip *sip;
	struct sipsess_sock *sock;
	struct sa laddr;
	struct sa peer;
	bool have_peer;
	struct list rooms;
	uint32_t next_id;
	int efd;
	/* filled by the mixer threads, emptied by the loop */
	pthread_mutex_t lock;
	struct frame ring[RING_FRAMES];
	unsigned head, count;
	bool woken;
	unsigned long dropped;
};

struct focus_room {
	struct le le;
	struct focus *f;
	char name[24];
	struct aumix *mix;
	struct list members;
};

struct member {
	struct le le;
	struct focus_room *room;
	struct focus *f;         /* read by the mixer thread */
	uint32_t id;             /* read by the mixer thread */
	struct sipsess *sess;
	struct sdp_session *sdp;
	struct sdp_media *sdpm;
	struct udp_sock *rtp;
	struct aumix_source *src;
	struct sa raddr;
	int pt;                  /* 0 PCMU, 8 PCMA, -1 none agreed */
	bool send;               /* the peer wants our audio */
	uint16_t seq;
	uint32_t ts;
	uint32_t ssrc;
	bool marker;
	char who[64];
};

/* ---- the mixer's side ---- */

static void mix_frame(const int16_t *sampv, size_t sampc, void *arg)
{
	struct member *m = arg;
	struct focus *f = m->f;
	struct frame *fr;
	bool wake = false;
	uint64_t one = 1;

	if (sampc != FRAME_SAMPLES)
		return;
	pthread_mutex_lock(&f->lock);
	if (f->count == RING_FRAMES) {
		f->dropped++;
	} else {
		fr = &f->ring[(f->head + f->count) % RING_FRAMES];
		f->count++;
		fr->member = m->id;
		memcpy(fr->s, sampv, sizeof(fr->s));
		wake = !f->woken;
		f->woken = true;
	}
	pthread_mutex_unlock(&f->lock);
	/* the counter cannot overflow at this rate: a failed write loses
	 * nothing, the next frame wakes the loop */
	if (wake)
		(void)!write(f->efd, &one, sizeof(one));
}

/* ---- the loop's side ---- */

static struct member *find_member(const struct focus *f, uint32_t id)
{
	struct le *le, *me;

	for (le = f->rooms.head; le; le = le->next) {
		struct focus_room *r = le->data;

		for (me = r->members.head; me; me = me->next) {
			struct member *m = me->data;

			if (m->id == id)
				return m;
		}
	}
	return NULL;
}

static void send_frame(struct member *m, const int16_t *s, size_t n)
{
	struct rtp_header h = {
		.ver = RTP_VERSION, .pt = (uint8_t)m->pt, .ssrc = m->ssrc,
	};
	struct mbuf *mb;
	size_t i;

	h.m = m->marker;
	h.seq = m->seq++;
	h.ts = m->ts;
	m->ts += (uint32_t)n;
	m->marker = false;
	mb = mbuf_alloc(RTP_HEADER_SIZE + n);
	if (!mb)
		return;
	if (rtp_hdr_encode(mb, &h) == 0) {
		for (i = 0; i < n; i++)
			mbuf_write_u8(mb, m->pt == 8 ? g711_pcm2alaw(s[i]) :
				      g711_pcm2ulaw(s[i]));
		mb->pos = 0;
		(void)udp_send(m->rtp, &m->raddr, mb);
	}
	mem_deref(mb);
}

static void frames_ready(int flags, void *arg)
{
	struct focus *f = arg;
	static struct frame batch[RING_FRAMES];
	unsigned n, i;
	uint64_t v;

	(void)flags;
	if (read(f->efd, &v, sizeof(v)) < 0)
		return;
	pthread_mutex_lock(&f->lock);
	for (n = 0; n < f->count; n++)
		batch[n] = f->ring[(f->head + n) % RING_FRAMES];
	f->head = (f->head + f->count) % RING_FRAMES;
	f->count = 0;
	f->woken = false;
	pthread_mutex_unlock(&f->lock);
	for (i = 0; i < n; i++) {
		struct member *m = find_member(f, batch[i].member);

		if (m && m->pt >= 0 && m->send && sa_isset(&m->raddr, SA_ALL))
			send_frame(m, batch[i].s, FRAME_SAMPLES);
	}
}

static void rtp_recv(const struct sa *src, struct mbuf *mb, void *arg)
{
	struct member *m = arg;
	int16_t s[MAX_PACKET_SAMPLES];
	struct rtp_header h;
	size_t n, i;

	(void)src;
	if (rtp_hdr_decode(&h, mb) || h.ver != RTP_VERSION)
		return;
	if (h.ext) {
		if (mbuf_get_left(mb) < (size_t)h.x.len * 4)
			return;
		mbuf_advance(mb, (ssize_t)h.x.len * 4);
	}
	if (h.pt != 0 && h.pt != 8)
		return;         /* telephone events, comfort noise, RTCP */
	n = mbuf_get_left(mb);
	if (n > MAX_PACKET_SAMPLES)
		n = MAX_PACKET_SAMPLES;
	for (i = 0; i < n; i++)
		s[i] = h.pt == 8 ? g711_alaw2pcm(mb->buf[mb->pos + i]) :
			g711_ulaw2pcm(mb->buf[mb->pos + i]);
	(void)aumix_source_put(m->src, s, n);
}

/* ---- members ---- */

static void member_destructor(void *arg)
{
	struct member *m = arg;

	/* the source first: its destructor waits for the mixer thread, so
	 * no frame handler runs on this member afterwards */
	m->src = mem_deref(m->src);
	list_unlink(&m->le);
	m->sess = mem_deref(m->sess);
	m->rtp = mem_deref(m->rtp);
	m->sdp = mem_deref(m->sdp);
}

/* Take the peer's SDP: where to send, which codec, whether to send. */
static void apply_sdp(struct member *m)
{
	const struct sdp_format *fmt = sdp_media_rformat(m->sdpm, NULL);
	enum sdp_dir dir = sdp_media_rdir(m->sdpm);

	m->pt = fmt ? fmt->pt : -1;
	m->raddr = *sdp_media_raddr(m->sdpm);
	m->send = (dir & SDP_RECVONLY) && sa_port(&m->raddr);
}

static int on_offer(struct mbuf **descp, const struct sip_msg *msg, void *arg)
{
	struct member *m = arg;
	int err = sdp_decode(m->sdp, msg->mb, true);

	if (err)
		return err;
	apply_sdp(m);
	return sdp_encode(descp, m->sdp, false);
}

static int on_answer(const struct sip_msg *msg, void *arg)
{
	struct member *m = arg;
	int err = sdp_decode(m->sdp, msg->mb, false);

	if (!err)
		apply_sdp(m);
	return err;
}

static void on_estab(const struct sip_msg *msg, void *arg)
{
	struct member *m = arg;

	(void)msg;
	log_debug("focus: %s joined room %s (%s)", m->who, m->room->name,
		  m->pt == 8 ? "PCMA" : "PCMU");
}

static void on_close(int err, const struct sip_msg *msg, void *arg)
{
	struct member *m = arg;

	(void)msg;
	log_debug("focus: %s left room %s%s%s", m->who, m->room->name,
		  err ? ": " : "", err ? strerror(err) : "");
	mem_deref(m);
}

static struct focus_room *find_room(struct focus *f, const struct pl *user)
{
	struct le *le;

	for (le = f->rooms.head; le; le = le->next) {
		struct focus_room *r = le->data;
		size_t n = strlen(r->name);

		if (user->l > n && user->p[n] == '-' &&
		    memcmp(user->p, r->name, n) == 0)
			return r;
	}
	return NULL;
}

static int member_new(struct focus_room *r, const struct sip_msg *msg,
		      struct mbuf **answer, struct member **ret)
{
	struct focus *f = r->f;
	struct sa laddr;
	struct member *m;
	int err;

	m = mem_zalloc(sizeof(*m), member_destructor);
	if (!m)
		return ENOMEM;
	m->room = r;
	m->f = f;
	m->id = ++f->next_id;
	m->pt = -1;
	m->ssrc = rand_u32();
	m->seq = rand_u16();
	m->ts = rand_u32();
	m->marker = true;
	(void)pl_strcpy(&msg->uri.user, m->who, sizeof(m->who));
	sa_set_str(&laddr, "127.0.0.1", 0);
	err = udp_listen(&m->rtp, &laddr, rtp_recv, m);
	if (err)
		goto out;
	err = udp_local_get(m->rtp, &laddr);
	if (err)
		goto out;
	err = sdp_session_alloc(&m->sdp, &laddr);
	if (err)
		goto out;
	err = sdp_media_add(&m->sdpm, m->sdp, "audio", sa_port(&laddr),
			    "RTP/AVP");
	if (err)
		goto out;
	/* RTCP is not read; sent to our RTP port it is dropped there
	 * instead of landing on whatever owns the next port */
	sdp_media_set_lport_rtcp(m->sdpm, sa_port(&laddr));
	err = sdp_format_add(NULL, m->sdpm, false, "0", "PCMU", SRATE, 1,
			     NULL, NULL, NULL, false, NULL);
	err |= sdp_format_add(NULL, m->sdpm, false, "8", "PCMA", SRATE, 1,
			      NULL, NULL, NULL, false, NULL);
	if (err)
		goto out;
	err = sdp_decode(m->sdp, msg->mb, true);
	if (err)
		goto out;
	apply_sdp(m);
	if (m->pt < 0) {
		err = EPROTONOSUPPORT;
		goto out;
	}
	err = sdp_encode(answer, m->sdp, false);
	if (err)
		goto out;
	err = aumix_source_alloc(&m->src, r->mix, mix_frame, m);
	if (err)
		goto out;
	list_append(&r->members, &m->le, m);
out:
	if (err)
		mem_deref(m);
	else
		*ret = m;
	return err;
}

static void on_connect(const struct sip_msg *msg, void *arg)
{
	struct focus *f = arg;
	struct focus_room *r;
	struct mbuf *answer = NULL;
	struct member *m = NULL;
	int err;

	if (f->have_peer && !sa_cmp(&msg->src, &f->peer, SA_ADDR)) {
		log_warning("focus: refusing a call from another address");
		(void)sip_treply(NULL, f->sip, msg, 403, "Forbidden");
		return;
	}
	r = find_room(f, &msg->uri.user);
	if (!r) {
		(void)sip_treply(NULL, f->sip, msg, 404, "Not Found");
		return;
	}
	if (!mbuf_get_left(msg->mb)) {
		(void)sip_treply(NULL, f->sip, msg, 488,
				 "Not Acceptable Here");
		return;
	}
	err = member_new(r, msg, &answer, &m);
	if (err) {
		log_warning("focus: cannot take a member into room %s: %s",
			    r->name, strerror(err));
		(void)sip_treply(NULL, f->sip, msg,
				 err == EPROTONOSUPPORT ? 488 : 500,
				 err == EPROTONOSUPPORT ?
				 "Not Acceptable Here" : "Server Error");
		return;
	}
	err = sipsess_accept(&m->sess, f->sock, msg, 200, "OK", "focus",
			     "application/sdp", answer, NULL, NULL, false,
			     on_offer, on_answer, on_estab, NULL, NULL,
			     on_close, m, "Allow: INVITE, ACK, BYE, CANCEL\r\n");
	mem_deref(answer);
	if (err) {
		log_warning("focus: cannot answer %s: %s", m->who,
			    strerror(err));
		mem_deref(m);
		return;
	}
	aumix_source_enable(m->src, true);
}

/* ---- rooms ---- */

static void room_destructor(void *arg)
{
	struct focus_room *r = arg;

	list_flush(&r->members);
	list_unlink(&r->le);
	r->mix = mem_deref(r->mix);
}

int focus_room_new(struct focus *f, struct focus_room **ret)
{
	struct focus_room *r = mem_zalloc(sizeof(*r), room_destructor);
	int err;

	if (!r)
		return -ENOMEM;
	r->f = f;
	snprintf(r->name, sizeof(r->name), "%016llx",
		 (unsigned long long)rand_u64());
	err = aumix_alloc(&r->mix, SRATE, 1, PTIME);
	if (err) {
		mem_deref(r);
		return -err;
	}
	list_append(&f->rooms, &r->le, r);
	*ret = r;
	return 0;
}

struct focus_room *focus_room_free(struct focus_room *r)
{
	mem_deref(r);
	return NULL;
}

int focus_room_uri(const struct focus_room *r, const char *who, char *buf,
		   size_t size)
{
	int n = snprintf(buf, size, "sip:%s-%s@%s:%u", r->name, who,
			 "127.0.0.1", sa_port(&r->f->laddr));

	return n > 0 && (size_t)n < size ? 0 : -ENAMETOOLONG;
}

unsigned focus_room_members(const struct focus_room *r)
{
	return list_count(&r->members);
}

unsigned focus_port(const struct focus *f)
{
	return sa_port(&f->laddr);
}

/* ---- the focus ---- */

int focus_new(struct focus **ret, const char *peer)
{
	struct focus *f = calloc(1, sizeof(*f));
	struct sa laddr;
	int err;

	if (!f)
		return -ENOMEM;
	f->efd = -1;
	pthread_mutex_init(&f->lock, NULL);
	if (peer && sa_decode(&f->peer, peer, strlen(peer)) == 0)
		f->have_peer = true;
	f->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (f->efd < 0) {
		err = errno;
		goto out;
	}
	err = fd_listen(f->efd, FD_READ, frames_ready, f);
	if (err)
		goto out;
	err = sip_alloc(&f->sip, NULL, 16, 16, 16, "ccpd focus", NULL, NULL);
	if (err)
		goto out;
	sa_set_str(&laddr, "127.0.0.1", 0);
	err = sip_transp_add(f->sip, SIP_TRANSP_UDP, &laddr);
	if (err)
		goto out;
	err = sip_transp_laddr(f->sip, &f->laddr, SIP_TRANSP_UDP, NULL);
	if (err)
		goto out;
	err = sipsess_listen(&f->sock, f->sip, 16, on_connect, f);
out:
	if (err) {
		focus_free(f);
		return -err;
	}
	*ret = f;
	return 0;
}

struct focus *focus_free(struct focus *f)
{
	if (!f)
		return NULL;
	while (f->rooms.head)
		mem_deref(f->rooms.head->data);
	f->sock = mem_deref(f->sock);
	if (f->sip)
		sip_close(f->sip, true);
	f->sip = mem_deref(f->sip);
	if (f->efd >= 0) {
		fd_close(f->efd);
		close(f->efd);
	}
	if (f->dropped)
		log_warning("focus: %lu frames dropped", f->dropped);
	pthread_mutex_destroy(&f->lock);
	free(f);
	return NULL;
}
