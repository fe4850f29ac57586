/* The media stack: baresip 1.0.0 run as a supervised child with a generated
 * configuration, controlled through its ctrl_tcp module (netstrings of JSON
 * on 127.0.0.1). ctrl_tcp takes a single connection and silently hands
 * control to whoever connects last, so an unexpected close of ours is taken
 * as a possible takeover: baresip is stopped and started again on a new
 * port, and the calls it carried end. */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/pidfd.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <poll.h>
#include <unistd.h>

#include <re.h>
#include <cjson/cJSON.h>

#include "conf.h"
#include "log.h"
#include "media.h"
#include "sound.h"
#include "netstring.h"
#include "resolve.h"
#include "util.h"

/* the silent path: aubridge devices nothing pairs with */
#define SILENT_SRC "aubridge,ccpd-silent-src"
#define SILENT_PLAY "aubridge,ccpd-silent-play"
#define CTRL_MAX_MSG (1024 * 1024)
#define CONNECT_RETRY_MS 50
#define START_DEADLINE_MS 10000
/* how long the accounts wait for the NAT server's name to resolve */
#define NAT_LOOKUP_MS 3000
#define STOP_GRACE_MS 2000
#define STABLE_MS 30000
#define MAX_CID_ACCOUNTS 16
#define MEDIA_AOR_MAX 512
#define TAKEOVER_GRACE_MS 300

/* Which account carries a call: baresip's call commands find a call only
 * among the calls of the current account, so a command on a call of the
 * consult account must select that account first. */
struct call_ua {
	struct call_ua *next;
	char *call_id;
	char *aor;
};

struct pending {
	struct pending *next;
	unsigned long token;
	uint64_t deadline;
	media_resp_h *h;
	void *arg;
};

struct media {
	const struct conf *conf;
	struct media_handlers h;
	void *arg;

	enum media_state state;
	pid_t pid;
	int pidfd;
	unsigned port;
	char dir[4096];
	char aor[512];
	char consult_aor[512];
	char idle_aor[512];
	/* the conference legs to ccpd's focus, one account each so that each
	 * leg's audio devices can be set on its own, and the desk phone's */
	char mix_aor[3][512];
	char desk_aor[512];
	char domain[300];
	/* caller-ID accounts: one more account per number presented, added
	 * to this run of baresip (see media_dial) */
	struct {
		char aor[MEDIA_AOR_MAX];
		enum { CID_PENDING, CID_ADDED, CID_FAILED } state;
	} cid[MAX_CID_ACCOUNTS];
	unsigned n_cid;
	char dial_aor[MEDIA_AOR_MAX];   /* the account of the last dial */
	char src[512];          /* the default audio devices */
	char play[512];
	/* the devices the desk chose, "" for the configured ones */
	char want_src[512];
	char want_play[512];
	struct call_ua *calls;
	bool registrar;
	char last_exit[128];
	unsigned restarts;
	unsigned failures;      /* consecutive, for back-off */
	uint64_t up_since;
	bool stopping;          /* we are killing it on purpose */
	bool shutdown;          /* for good */
	bool takeover;          /* the kill follows a takeover */
	char down_reason[160];

	int fd;                 /* control connection */
	bool connected;
	struct netstring *ns;
	char *out;
	size_t out_len;
	bool want_write;

	unsigned long next_token;
	struct pending *pending;

	struct tmr connect_tmr;
	struct tmr deadline_tmr;
	/* the STUN or TURN server as baresip gets it: its address when ccpd
	 * could resolve the name, else the setting */
	char nat_server[300];
	struct resolve *nat_res;
	struct tmr nat_tmr;
	bool nat_wait;          /* connected: the accounts wait for it */
	struct tmr restart_tmr;
	struct tmr kill_tmr;
	struct tmr resp_tmr;
	struct tmr reset_tmr;   /* deferred teardown after a protocol error */
	struct tmr takeover_tmr;
};

static void start_child(struct media *m);
static void ctrl_close(struct media *m);

const char *media_state_name(enum media_state st)
{
	switch (st) {
	case MEDIA_STATE_DOWN:     return "down";
	case MEDIA_STATE_STARTING: return "starting";
	case MEDIA_STATE_UP:       return "up";
	}
	return "down";
}

static void set_state(struct media *m, enum media_state st,
		      const char *reason, bool takeover)
{
	if (m->state == st)
		return;
	m->state = st;
	if (m->h.state)
		m->h.state(st, reason, takeover, m->arg);
}

/* ---- generated configuration ---- */

static bool module_exists(const struct media *m, const char *name)
{
	char path[4200];

	snprintf(path, sizeof(path), "%s/%s.so", m->conf->baresip_modules,
		 name);
	return access(path, R_OK) == 0;
}

/* "auto" picks ALSA's default device when the machine has a sound card,
 * else a silent path: aubridge devices that nothing pairs with, which are
 * paced and cost next to nothing. */
static void resolve_device(const struct media *m, const char *setting,
			   const char *silent, char *out, size_t size)
{
	if (strcmp(setting, "auto") != 0)
		snprintf(out, size, "%s", setting);
	else if (sound_card_present() && module_exists(m, "alsa"))
		snprintf(out, size, "alsa,default");
	else
		snprintf(out, size, "%s", silent);
}

static int add_driver_module(const struct media *m, FILE *f,
			     const char *device, char *loaded, size_t size)
{
	char drv[64];
	size_t n = strcspn(device, ",");

	if (n == 0 || n >= sizeof(drv))
		return -EINVAL;
	memcpy(drv, device, n);
	drv[n] = '\0';
	if (!module_exists(m, drv)) {
		log_error("media: audio driver '%s' has no module in %s",
			  drv, m->conf->baresip_modules);
		return -ENOENT;
	}
	if (strstr(loaded, drv))
		return 0;
	fprintf(f, "module\t\t\t%s.so\n", drv);
	snprintf(loaded + strlen(loaded), size - strlen(loaded), " %s ", drv);
	return 0;
}

static void make_aor(struct media *m)
{
	const struct conf *c = m->conf;
	const char *domain = c->sip_domain;
	char host[256];

	m->registrar = *c->sip_registrar != '\0';
	if (m->registrar && !*domain) {
		/* the registrar's host[:port] is the domain */
		snprintf(host, sizeof(host), "%s", c->sip_registrar + 4);
		host[strcspn(host, ";>")] = '\0';
		domain = host;
	} else if (!m->registrar) {
		domain = c->sip_listen;
	}
	snprintf(m->aor, sizeof(m->aor), "sip:%s@%s", c->sip_user, domain);
	snprintf(m->domain, sizeof(m->domain), "%s", domain);
	snprintf(m->consult_aor, sizeof(m->consult_aor),
		 "sip:%s-consult@%s", c->sip_user, domain);
	snprintf(m->idle_aor, sizeof(m->idle_aor), "sip:%s-idle@%s",
		 c->sip_user, domain);
	snprintf(m->mix_aor[0], sizeof(m->mix_aor[0]), "sip:%s-mixa@%s",
		 c->sip_user, domain);
	snprintf(m->mix_aor[1], sizeof(m->mix_aor[1]), "sip:%s-mixc@%s",
		 c->sip_user, domain);
	snprintf(m->mix_aor[2], sizeof(m->mix_aor[2]), "sip:%s-mixt@%s",
		 c->sip_user, domain);
	snprintf(m->desk_aor, sizeof(m->desk_aor), "sip:%s-desk@%s",
		 c->sip_user, domain);
}

/* NAT traversal and media encryption, as account parameters.
 * baresip 1.0.0 relays media over UDP only: its turn module and its ice
 * module both allocate with IPPROTO_UDP and look the server up with
 * stun_proto_udp (modules/ice/ice.c: cand_gather_relayed, session_alloc),
 * its STUN URI parser keeps no "?transport=" (src/stunuri.c), and ice
 * refuses a turns: URI with ENOTSUP, which fails every call. So a TCP or
 * TLS relay is not given to baresip (network.check still tests it over
 * its transport); ice then uses stun_server, if any. */
static bool turn_for_media(const struct conf *c)
{
	return *c->turn_server && strcmp(c->turn_transport, "udp") == 0;
}

static int media_nat_params(const struct conf *c, const char *server,
			    char *out, size_t size)
{
	bool turn_udp = turn_for_media(c);
	const char *nat = c->ice ? "ice" : turn_udp ? "turn" :
		*c->stun_server ? "stun" : NULL;
	const char *enc = NULL;
	bool req = strcmp(c->srtp_policy, "required") == 0;
	int n = 0;

	if (strcmp(c->srtp, "sdes") == 0)
		enc = req ? "srtp-mand" : "srtp";
	else if (strcmp(c->srtp, "dtls") == 0)
		enc = "dtls_srtp";
	if (nat) {
		n += snprintf(out, size, ";medianat=%s", nat);
		if (turn_udp)
			n += snprintf(out + n, size - (size_t)n,
				      ";stunserver=\"turn:%s\";stunuser=%s;"
				      "stunpass=%s", server, c->turn_user,
				      c->turn_password);
		else if (*c->stun_server)
			n += snprintf(out + n, size - (size_t)n,
				      ";stunserver=\"stun:%s\"", server);
	}
	if (enc)
		n += snprintf(out + n, size - (size_t)n, ";mediaenc=%s", enc);
	return n;
}

/* The account is added over ctrl_tcp once we are connected, not from
 * baresip's accounts file: an account from the file registers before any
 * controller is attached, and the outcome of that REGISTER would be lost. */
static int account_line(const struct media *m, const char *aor,
			bool main, bool local, char *out, size_t size)
{
	const struct conf *c = m->conf;
	int n;

	n = snprintf(out, size, "%s%s%s<%s>;answermode=manual",
		     *c->sip_display_name ? "\"" : "", c->sip_display_name,
		     *c->sip_display_name ? "\" " : "", aor);
	if (m->registrar && !local) {
		/* the helper accounts do not register: they only place calls
		 * through the same outbound proxy, with the agent's
		 * credentials */
		n += snprintf(out + n, size - (size_t)n,
			      ";outbound=\"%s\";regint=%u", c->sip_registrar,
			      main ? c->reg_interval : 0);
		if (*c->sip_password)
			n += snprintf(out + n, size - (size_t)n,
				      ";auth_pass=%s", c->sip_password);
		if (*c->sip_auth_user || !main)
			n += snprintf(out + n, size - (size_t)n,
				      ";auth_user=%s", *c->sip_auth_user ?
				      c->sip_auth_user : c->sip_user);
	} else {
		n += snprintf(out + n, size - (size_t)n, ";regint=0");
	}
	n += media_nat_params(c, m->nat_server, out + n, size - (size_t)n);
	return n < (int)size ? 0 : -ENAMETOOLONG;
}

static int write_accounts(struct media *m)
{
	char path[4200];
	FILE *f;

	/* baresip writes a template when the file is missing */
	snprintf(path, sizeof(path), "%s/accounts", m->dir);
	f = fopen(path, "we");
	if (!f)
		return -errno;
	fprintf(f, "# ccpd adds its account at run time\n");
	return fclose(f) == 0 ? 0 : -EIO;
}

static int write_config(struct media *m)
{
	const struct conf *c = m->conf;
	char path[4200], src[512], play[512], loaded[256] = "";
	FILE *f;
	int r = 0;

	resolve_device(m, *m->want_src ? m->want_src : c->audio_source,
		       SILENT_SRC, src, sizeof(src));
	resolve_device(m, *m->want_play ? m->want_play : c->audio_player,
		       SILENT_PLAY, play, sizeof(play));
	snprintf(m->src, sizeof(m->src), "%s", src);
	snprintf(m->play, sizeof(m->play), "%s", play);

	snprintf(path, sizeof(path), "%s/config", m->dir);
	f = fopen(path, "we");
	if (!f)
		return -errno;
	fprintf(f, "# written by ccpd at each start of baresip; not for editing\n"
		"poll_method\t\tepoll\n"
		"sip_listen\t\t%s\n"
		"call_local_timeout\t120\n"
		/* a conference: customer, third party, three legs to the
		 * focus, and a desk phone */
		"call_max_calls\t\t8\n"
		"audio_source\t\t%s\n"
		"audio_player\t\t%s\n"
		"audio_alert\t\t%s\n"
		/* ausine runs only at 48 kHz stereo; aubridge needs both
		 * directions alike */
		"ausrc_srate\t\t48000\n"
		"auplay_srate\t\t48000\n"
		"ausrc_channels\t\t2\n"
		"auplay_channels\t\t2\n"
		"rtp_ports\t\t%s\n"
		"module_path\t\t%s\n"
		"module\t\t\tg711.so\n",
		c->sip_listen, src, play, play, c->rtp_ports,
		c->baresip_modules);
	if (*c->net_interface)
		fprintf(f, "net_interface\t\t%s\n", c->net_interface);
	/* ccpd rings the ringer device itself: baresip finds no ring.wav
	 * to play on whatever device its last auplay left as the alert */
	fprintf(f, "audio_path\t\t%s/sounds\n", m->dir);
	if (c->vu_interval || c->mic_silence_timeout)
		fprintf(f, "module\t\t\tvumeter.so\n");
	if (strcmp(c->srtp, "sdes") == 0)
		fprintf(f, "module\t\t\tsrtp.so\n");
	else if (strcmp(c->srtp, "dtls") == 0)
		fprintf(f, "module\t\t\tdtls_srtp.so\n");
	if (*c->turn_server && !turn_for_media(c))
		log_warning("media: turn_transport is %s, but baresip 1.0.0 "
			    "relays media over UDP only: calls do not use "
			    "turn_server%s", c->turn_transport, c->ice ?
			    (*c->stun_server ? " (ice uses stun_server)" :
			     " (ice uses host candidates only)") : "");
	if (c->ice)
		fprintf(f, "module\t\t\tice.so\n");
	else if (turn_for_media(c))
		fprintf(f, "module\t\t\tturn.so\n");
	else if (*c->stun_server)
		fprintf(f, "module\t\t\tstun.so\n");
	r = add_driver_module(m, f, src, loaded, sizeof(loaded));
	if (r == 0)
		r = add_driver_module(m, f, play, loaded, sizeof(loaded));
	/* leave, warm transfer and the desk phone bridge two calls with it */
	if (r == 0)
		r = add_driver_module(m, f, "aubridge,", loaded,
				      sizeof(loaded));
	/* devices chosen later are ALSA devices */
	if (r == 0 && module_exists(m, "alsa"))
		r = add_driver_module(m, f, "alsa,", loaded, sizeof(loaded));
	if (*c->snd_path) {
		fprintf(f, "module\t\t\tsndfile.so\nsnd_path\t\t%s\n",
			c->snd_path);
	}
	fprintf(f, "module_app\t\taccount.so\n"
		"module_app\t\tmenu.so\n"
		"module_app\t\tctrl_tcp.so\n"
		"ctrl_tcp_listen\t\t127.0.0.1:%u\n", m->port);
	if (fclose(f) != 0 && r == 0)
		r = -EIO;
	if (r == 0)
		r = write_accounts(m);
	return r;
}

/* A port the kernel just handed out is very likely still free a moment
 * later; ctrl_tcp cannot take an fd, so this is the best there is. */
static int pick_port(unsigned *port)
{
	struct sockaddr_in sin = { .sin_family = AF_INET };
	socklen_t len = sizeof(sin);
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), r = 0;

	if (fd < 0)
		return -errno;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (bind(fd, (struct sockaddr *)&sin, sizeof(sin)) < 0 ||
	    getsockname(fd, (struct sockaddr *)&sin, &len) < 0)
		r = -errno;
	else
		*port = ntohs(sin.sin_port);
	close(fd);
	return r;
}

/* ---- pending requests ---- */

static void fail_pending(struct media *m, const char *reason)
{
	while (m->pending) {
		struct pending *p = m->pending;

		m->pending = p->next;
		if (p->h)
			p->h(false, reason, p->arg);
		free(p);
	}
	tmr_cancel(&m->resp_tmr);
}

static void resp_timeout(void *arg)
{
	struct media *m = arg;
	uint64_t now = util_mono_ms();
	struct pending **pp = &m->pending;

	while (*pp) {
		struct pending *p = *pp;

		if (p->deadline <= now) {
			*pp = p->next;
			log_warning("media: baresip did not answer request %lu",
				    p->token);
			if (p->h)
				p->h(false, "baresip did not answer", p->arg);
			free(p);
		} else {
			pp = &p->next;
		}
	}
	if (m->pending)
		tmr_start(&m->resp_tmr, 200, resp_timeout, m);
}

static void handle_response(struct media *m, const cJSON *msg)
{
	const cJSON *tok = cJSON_GetObjectItemCaseSensitive(msg, "token");
	const cJSON *ok = cJSON_GetObjectItemCaseSensitive(msg, "ok");
	const cJSON *data = cJSON_GetObjectItemCaseSensitive(msg, "data");
	struct pending **pp;
	unsigned long token;

	if (!cJSON_IsString(tok) || tok->valuestring[0] != 't')
		return;
	token = strtoul(tok->valuestring + 1, NULL, 10);
	for (pp = &m->pending; *pp; pp = &(*pp)->next) {
		struct pending *p = *pp;

		if (p->token != token)
			continue;
		*pp = p->next;
		if (p->h)
			p->h(cJSON_IsTrue(ok),
			     cJSON_IsString(data) ? data->valuestring : "",
			     p->arg);
		free(p);
		return;
	}
}

/* ---- events ---- */

static const struct {
	const char *name;
	enum media_ev_type type;
} ev_names[] = {
	{ "CALL_INCOMING",        MEDIA_EV_CALL_INCOMING },
	{ "CALL_RINGING",         MEDIA_EV_CALL_RINGING },
	{ "CALL_PROGRESS",        MEDIA_EV_CALL_PROGRESS },
	{ "CALL_ESTABLISHED",     MEDIA_EV_CALL_ESTABLISHED },
	{ "CALL_CLOSED",          MEDIA_EV_CALL_CLOSED },
	{ "TRANSFER",             MEDIA_EV_CALL_TRANSFER },
	{ "TRANSFER_FAILED",      MEDIA_EV_CALL_TRANSFER_FAILED },
	{ "CALL_DTMF_START",      MEDIA_EV_CALL_DTMF_START },
	{ "CALL_DTMF_END",        MEDIA_EV_CALL_DTMF_END },
	{ "REGISTERING",          MEDIA_EV_REGISTERING },
	{ "REGISTER_OK",          MEDIA_EV_REGISTER_OK },
	{ "REGISTER_FAIL",        MEDIA_EV_REGISTER_FAIL },
	{ "UNREGISTERING",        MEDIA_EV_UNREGISTERING },
	{ "VU_TX_REPORT",         MEDIA_EV_VU_TX },
	{ "VU_RX_REPORT",         MEDIA_EV_VU_RX },
	{ "AUDIO_ERROR",          MEDIA_EV_AUDIO_ERROR },
};

static const char *str_item(const cJSON *o, const char *name)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, name);

	return cJSON_IsString(v) ? v->valuestring : NULL;
}

static struct call_ua *find_call_ua(const struct media *m,
				    const char *call_id)
{
	struct call_ua *k;

	for (k = m->calls; k; k = k->next)
		if (strcmp(k->call_id, call_id) == 0)
			return k;
	return NULL;
}

static void forget_call(struct media *m, const char *call_id)
{
	struct call_ua **pp;

	for (pp = &m->calls; *pp; pp = &(*pp)->next) {
		struct call_ua *k = *pp;

		if (strcmp(k->call_id, call_id) != 0)
			continue;
		*pp = k->next;
		free(k->call_id);
		free(k->aor);
		free(k);
		return;
	}
}

static void forget_calls(struct media *m)
{
	while (m->calls) {
		struct call_ua *k = m->calls;

		m->calls = k->next;
		free(k->call_id);
		free(k->aor);
		free(k);
	}
}

static void note_call(struct media *m, const struct media_event *ev)
{
	struct call_ua *k;

	if (!ev->call_id || !ev->aor)
		return;
	/* baresip destroys the call after these two without another word */
	if (ev->type == MEDIA_EV_CALL_CLOSED ||
	    ev->type == MEDIA_EV_CALL_TRANSFER_FAILED) {
		forget_call(m, ev->call_id);
		return;
	}
	if (find_call_ua(m, ev->call_id))
		return;
	k = calloc(1, sizeof(*k));
	if (!k)
		return;
	k->call_id = strdup(ev->call_id);
	k->aor = strdup(ev->aor);
	if (!k->call_id || !k->aor) {
		free(k->call_id);
		free(k->aor);
		free(k);
		return;
	}
	k->next = m->calls;
	m->calls = k;
}

static void handle_event(struct media *m, const cJSON *msg)
{
	struct media_event ev = { .type = MEDIA_EV_OTHER };
	const char *dir;
	size_t i;

	ev.name = str_item(msg, "type");
	if (!ev.name)
		return;
	for (i = 0; i < sizeof(ev_names) / sizeof(ev_names[0]); i++)
		if (strcmp(ev.name, ev_names[i].name) == 0)
			ev.type = ev_names[i].type;
	ev.call_id = str_item(msg, "id");
	dir = str_item(msg, "direction");
	ev.outgoing = dir && strcmp(dir, "outgoing") == 0;
	ev.peer_uri = str_item(msg, "peeruri");
	ev.peer_name = str_item(msg, "peerdisplayname");
	ev.param = str_item(msg, "param");
	ev.aor = str_item(msg, "accountaor");
	if (ev.type != MEDIA_EV_VU_TX && ev.type != MEDIA_EV_VU_RX)
		log_debug("media: event %s call=%s param=%s", ev.name,
		  ev.call_id ? ev.call_id : "-", ev.param ? ev.param : "-");
	if (ev.type != MEDIA_EV_CALL_CLOSED &&
	    ev.type != MEDIA_EV_CALL_TRANSFER_FAILED)
		note_call(m, &ev);
	if (m->h.event)
		m->h.event(&ev, m->arg);
	if (ev.type == MEDIA_EV_CALL_CLOSED ||
	    ev.type == MEDIA_EV_CALL_TRANSFER_FAILED)
		note_call(m, &ev);
}

static void on_message(const char *buf, size_t len, void *arg)
{
	struct media *m = arg;
	cJSON *msg = cJSON_ParseWithLength(buf, len);

	if (!msg) {
		log_warning("media: baresip sent a message that is not JSON");
		return;
	}
	if (cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(msg, "response")))
		handle_response(m, msg);
	else if (cJSON_GetObjectItemCaseSensitive(msg, "event"))
		handle_event(m, msg);
	cJSON_Delete(msg);
}

/* ---- the control connection ---- */

static void ctrl_close(struct media *m)
{
	tmr_cancel(&m->connect_tmr);
	tmr_cancel(&m->reset_tmr);
	if (m->fd >= 0) {
		fd_close(m->fd);
		close(m->fd);
		m->fd = -1;
	}
	m->connected = false;
	m->want_write = false;
	free(m->out);
	m->out = NULL;
	m->out_len = 0;
	m->ns = netstring_free(m->ns);
}

static void kill_timeout(void *arg)
{
	struct media *m = arg;

	if (m->pid > 0) {
		log_warning("media: baresip (pid %d) did not stop, killing it",
			    (int)m->pid);
		kill(m->pid, SIGKILL);
	}
}

/* Stop the child on purpose; its exit (seen on the pidfd) restarts it
 * unless we are shutting down. */
static void stop_child(struct media *m, const char *reason, bool takeover)
{
	snprintf(m->down_reason, sizeof(m->down_reason), "%s", reason);
	m->takeover = takeover;
	ctrl_close(m);
	fail_pending(m, reason);
	set_state(m, MEDIA_STATE_DOWN, reason, takeover);
	if (m->pid > 0 && !m->stopping) {
		m->stopping = true;
		kill(m->pid, SIGTERM);
		tmr_start(&m->kill_tmr, STOP_GRACE_MS, kill_timeout, m);
	}
}

static void takeover_check(void *arg)
{
	struct media *m = arg;

	if (m->stopping || m->shutdown || m->pid <= 0)
		return;
	log_error("media: control connection to baresip lost while it runs: "
		  "taking it as a possible takeover, restarting baresip on a "
		  "new port");
	stop_child(m, "control connection lost: possible takeover", true);
}

/* A crash also closes the connection, often a moment before the exit can
 * be seen on the pidfd: wait briefly for the exit before calling it a
 * takeover. Nothing is sent to baresip meanwhile. */
static void ctrl_lost(struct media *m, const char *why)
{
	if (m->stopping || m->shutdown)
		return;
	log_warning("media: control connection to baresip lost (%s)", why);
	ctrl_close(m);
	fail_pending(m, "control connection lost");
	tmr_start(&m->takeover_tmr, TAKEOVER_GRACE_MS, takeover_check, m);
}

static void reset_later(void *arg)
{
	ctrl_lost(arg, "protocol error");
}

static int flush_out(struct media *m);

static void ctrl_fd(int flags, void *arg)
{
	struct media *m = arg;
	char buf[65536];
	ssize_t n;
	int r;

	if (flags & FD_WRITE) {
		if (flush_out(m) < 0) {
			ctrl_lost(m, "write failed");
			return;
		}
	}
	if (!(flags & (FD_READ | FD_EXCEPT)))
		return;
	n = read(m->fd, buf, sizeof(buf));
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n <= 0) {
		ctrl_lost(m, n == 0 ? "closed by baresip" : strerror(errno));
		return;
	}
	r = netstring_feed(m->ns, buf, (size_t)n, on_message, m);
	if (r < 0) {
		log_error("media: bad framing from baresip (%s)", strerror(-r));
		tmr_start(&m->reset_tmr, 0, reset_later, m);
	}
}

static int update_listen(struct media *m)
{
	int flags = FD_READ | (m->out_len ? FD_WRITE : 0);
	int err = fd_listen(m->fd, flags, ctrl_fd, m);

	return err ? -err : 0;
}

static int flush_out(struct media *m)
{
	while (m->out_len) {
		ssize_t n = send(m->fd, m->out, m->out_len, MSG_NOSIGNAL);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN)
			break;
		if (n < 0)
			return -errno;
		memmove(m->out, m->out + n, m->out_len - (size_t)n);
		m->out_len -= (size_t)n;
	}
	return update_listen(m);
}

static int queue_out(struct media *m, const char *data, size_t len)
{
	char *p = realloc(m->out, m->out_len + len);

	if (!p)
		return -ENOMEM;
	m->out = p;
	memcpy(m->out + m->out_len, data, len);
	m->out_len += len;
	return 0;
}

static int queue_command(struct media *m, const char *cmd, const char *params,
			 unsigned long token)
{
	cJSON *o = cJSON_CreateObject();
	char tok[32], *json, *frame;
	size_t flen;
	int r;

	if (!o)
		return -ENOMEM;
	snprintf(tok, sizeof(tok), "t%lu", token);
	cJSON_AddStringToObject(o, "command", cmd);
	if (params)
		cJSON_AddStringToObject(o, "params", params);
	cJSON_AddStringToObject(o, "token", tok);
	json = cJSON_PrintUnformatted(o);
	cJSON_Delete(o);
	if (!json)
		return -ENOMEM;
	r = netstring_encode(&frame, &flen, json, strlen(json));
	free(json);
	if (r < 0)
		return r;
	r = queue_out(m, frame, flen);
	free(frame);
	return r;
}

static int send_command(struct media *m, const char *aor,
			const char *call_id, const char *cmd,
			const char *params, media_resp_h *h, void *arg)
{
	struct pending *p;
	int r;

	if (!m->connected)
		return -ENOTCONN;
	if (aor) {
		/* callfind looks among the calls of the current account only */
		r = queue_command(m, "uafind", aor, ++m->next_token);
		if (r < 0)
			return r;
	}
	if (call_id) {
		/* baresip's call commands act on the "current" call: select
		 * ours in the same write */
		r = queue_command(m, "callfind", call_id, ++m->next_token);
		if (r < 0)
			return r;
	}
	p = calloc(1, sizeof(*p));
	if (!p)
		return -ENOMEM;
	p->token = ++m->next_token;
	p->deadline = util_mono_ms() + m->conf->media_timeout * 1000ULL;
	p->h = h;
	p->arg = arg;
	r = queue_command(m, cmd, params, p->token);
	if (r < 0) {
		free(p);
		return r;
	}
	p->next = m->pending;
	m->pending = p;
	if (!tmr_isrunning(&m->resp_tmr))
		tmr_start(&m->resp_tmr, 200, resp_timeout, m);
	/* the account line may carry a password */
	log_debug("media: -> %s %s%s%s", cmd,
		  strcmp(cmd, "uanew") == 0 ? "(account)" :
		  params ? params : "", call_id ? " on " : "",
		  call_id ? call_id : "");
	r = flush_out(m);
	if (r < 0)
		ctrl_lost(m, "write failed");
	return 0;
}

int media_command(struct media *m, const char *call_id, const char *cmd,
		  const char *params, media_resp_h *h, void *arg)
{
	const struct call_ua *k = call_id ? find_call_ua(m, call_id) : NULL;

	if (m->state != MEDIA_STATE_UP)
		return -ENOTCONN;
	return send_command(m, k ? k->aor : m->aor, call_id, cmd, params, h,
			    arg);
}

/* ---- caller ID ----
 *
 * baresip 1.0.0 puts the account's address in the From header of an
 * INVITE and has no way, over ctrl_tcp, to set another From or to add a
 * P-Asserted-Identity header. So a call that presents a number is placed
 * from an account of its own whose address has that number for its user
 * part (sip:+15551234567@domain), selected with uafind before the dial. */

static int cid_find(const struct media *m, const char *aor)
{
	unsigned i;

	for (i = 0; i < m->n_cid; i++)
		if (strcmp(m->cid[i].aor, aor) == 0)
			return (int)i;
	return -1;
}

struct cid_cookie {
	struct media *m;
	char aor[MEDIA_AOR_MAX];
};

static void cid_added(bool ok, const char *data, void *arg)
{
	struct cid_cookie *ck = arg;
	struct media *m = ck->m;
	int i = cid_find(m, ck->aor);

	if (i >= 0) {
		m->cid[i].state = ok ? CID_ADDED : CID_FAILED;
		if (!ok)
			log_error("media: baresip refused the caller-ID "
				  "account %s: %s", ck->aor, data);
		else
			log_debug("media: caller-ID account %s added",
				  ck->aor);
	}
	free(ck);
}

static int add_cid_account(struct media *m, const char *number)
{
	char aor[MEDIA_AOR_MAX], account[2048];
	struct cid_cookie *cookie;
	int r, i;

	snprintf(aor, sizeof(aor), "sip:%s@%s", number, m->domain);
	if (strcmp(aor, m->aor) == 0 || cid_find(m, aor) >= 0)
		return 0;
	if (m->n_cid == MAX_CID_ACCOUNTS)
		return -ENOSPC;
	if (account_line(m, aor, false, false, account, sizeof(account)) < 0)
		return -ENAMETOOLONG;
	cookie = calloc(1, sizeof(*cookie));
	if (!cookie)
		return -ENOMEM;
	i = (int)m->n_cid++;
	snprintf(m->cid[i].aor, sizeof(m->cid[i].aor), "%s", aor);
	m->cid[i].state = CID_PENDING;
	cookie->m = m;
	snprintf(cookie->aor, sizeof(cookie->aor), "%s", aor);
	r = send_command(m, NULL, NULL, "uanew", account, cid_added, cookie);
	if (r < 0) {
		m->n_cid--;
		free(cookie);
	}
	return r;
}

int media_dial(struct media *m, const char *caller_id, const char *uri,
	       media_resp_h *h, void *arg)
{
	char aor[MEDIA_AOR_MAX];
	int r, i;

	if (m->state != MEDIA_STATE_UP)
		return -ENOTCONN;
	snprintf(aor, sizeof(aor), "%s", m->aor);
	if (caller_id) {
		snprintf(aor, sizeof(aor), "sip:%s@%s", caller_id, m->domain);
		/* a number not configured at start gets its account now:
		 * baresip runs the commands of one write in order */
		r = add_cid_account(m, caller_id);
		if (r < 0)
			return r;
		i = cid_find(m, aor);
		if (i >= 0 && m->cid[i].state == CID_FAILED)
			return -EADDRNOTAVAIL;
	}
	snprintf(m->dial_aor, sizeof(m->dial_aor), "%s", aor);
	return send_command(m, aor, NULL, "dial", uri, h, arg);
}

int media_command_ua(struct media *m, enum media_account acc,
		     const char *cmd, const char *params, media_resp_h *h,
		     void *arg)
{
	if (m->state != MEDIA_STATE_UP)
		return -ENOTCONN;
	return send_command(m, media_account_aor(m, acc), NULL, cmd, params,
			    h, arg);
}

const char *media_account_aor(const struct media *m, enum media_account acc)
{
	switch (acc) {
	case MEDIA_ACCOUNT_AGENT:   return m->aor;
	case MEDIA_ACCOUNT_CONSULT: return m->consult_aor;
	case MEDIA_ACCOUNT_IDLE:    return m->idle_aor;
	case MEDIA_ACCOUNT_MIX_AGENT:    return m->mix_aor[0];
	case MEDIA_ACCOUNT_MIX_CUSTOMER: return m->mix_aor[1];
	case MEDIA_ACCOUNT_MIX_THIRD:    return m->mix_aor[2];
	case MEDIA_ACCOUNT_DESK:    return m->desk_aor;
	case MEDIA_ACCOUNT_DIALED:
		return m->dial_aor[0] ? m->dial_aor : m->aor;
	}
	return m->aor;
}

bool media_event_on(const struct media *m, const struct media_event *ev,
		    enum media_account acc)
{
	return ev->aor && strcmp(ev->aor, media_account_aor(m, acc)) == 0;
}

bool media_event_on_helper(const struct media *m,
			   const struct media_event *ev)
{
	static const enum media_account helpers[] = {
		MEDIA_ACCOUNT_CONSULT, MEDIA_ACCOUNT_IDLE, MEDIA_ACCOUNT_DESK,
		MEDIA_ACCOUNT_MIX_AGENT, MEDIA_ACCOUNT_MIX_CUSTOMER,
		MEDIA_ACCOUNT_MIX_THIRD,
	};
	size_t i;

	for (i = 0; i < sizeof(helpers) / sizeof(helpers[0]); i++)
		if (media_event_on(m, ev, helpers[i]))
			return true;
	return false;
}

/* Cross the audio of the agent account's calls with the consult
 * account's: each call's player feeds the other's source. The default
 * devices for later calls are put back through the idle account, which
 * has no calls for the switch to touch. */
static int pair_accounts(struct media *m, const char *name,
			 const char *aor_a, const char *aor_b)
{
	char ab[160], ba[160];
	int r;

	if (m->state != MEDIA_STATE_UP)
		return -ENOTCONN;
	snprintf(ab, sizeof(ab), "aubridge,%s-ab", name);
	snprintf(ba, sizeof(ba), "aubridge,%s-ba", name);
	r = send_command(m, aor_a, NULL, "ausrc", ba, NULL, NULL);
	if (r == 0)
		r = send_command(m, NULL, NULL, "auplay", ab, NULL, NULL);
	if (r == 0)
		r = send_command(m, aor_b, NULL, "ausrc", ab, NULL, NULL);
	if (r == 0)
		r = send_command(m, NULL, NULL, "auplay", ba, NULL, NULL);
	if (r == 0)
		r = media_restore_devices(m);
	return r;
}

/* The account a call is on, else the fallback. */
static const char *call_aor(const struct media *m, const char *call_id,
			    const char *fallback)
{
	const struct call_ua *k = call_id ? find_call_ua(m, call_id) : NULL;

	return k ? k->aor : fallback;
}

int media_bridge(struct media *m, const char *name,
		 const char *customer_call_id)
{
	/* the customer's call may be on a caller-ID account */
	return pair_accounts(m, name, call_aor(m, customer_call_id, m->aor),
			     m->consult_aor);
}

int media_pair_calls(struct media *m, const char *name, const char *call_a,
		     const char *call_b)
{
	const char *a = call_aor(m, call_a, NULL);
	const char *b = call_aor(m, call_b, NULL);

	if (!a || !b)
		return -ENOENT;
	return pair_accounts(m, name, a, b);
}

int media_call_devices(struct media *m, const char *call_id,
		       const char *src, const char *play)
{
	const char *aor = call_aor(m, call_id, NULL);
	int r;

	if (m->state != MEDIA_STATE_UP)
		return -ENOTCONN;
	if (!aor)
		return -ENOENT;
	r = send_command(m, aor, NULL, "ausrc", src ? src : m->src, NULL,
			 NULL);
	if (r == 0)
		r = send_command(m, NULL, NULL, "auplay", play ? play : m->play,
				 NULL, NULL);
	if (r == 0 && (src || play))
		r = media_restore_devices(m);
	return r;
}

int media_set_devices(struct media *m, const char *src, const char *play,
		      bool live)
{
	const struct call_ua *k;
	char src_dev[512], play_dev[512];
	int r = 0;

	snprintf(m->want_src, sizeof(m->want_src), "%s", src);
	snprintf(m->want_play, sizeof(m->want_play), "%s", play);
	if (m->state != MEDIA_STATE_UP)
		return 0;  /* the next start writes them in the configuration */
	/* a role back on its default may be "auto", which baresip does not
	 * know: it kept the device that had gone */
	resolve_device(m, src, SILENT_SRC, src_dev, sizeof(src_dev));
	resolve_device(m, play, SILENT_PLAY, play_dev, sizeof(play_dev));
	src = src_dev;
	play = play_dev;
	if (!live) {
		/* calls joined through aubridge keep their devices: later
		 * calls, and the restore after the join, take the new ones */
		snprintf(m->src, sizeof(m->src), "%s", src);
		snprintf(m->play, sizeof(m->play), "%s", play);
		return 0;
	}
	snprintf(m->src, sizeof(m->src), "%s", src);
	snprintf(m->play, sizeof(m->play), "%s", play);
	/* the agent's own calls and those of the caller-ID accounts; the
	 * consult account's calls keep their bridge devices */
	r = send_command(m, m->aor, NULL, "ausrc", src, NULL, NULL);
	if (r == 0)
		r = send_command(m, NULL, NULL, "auplay", play, NULL, NULL);
	for (k = m->calls; k && r == 0; k = k->next) {
		/* the caller-ID accounts and the agent's conference leg speak
		 * for the agent; the helper accounts' calls do not */
		if (strcmp(k->aor, m->aor) == 0 ||
		    strcmp(k->aor, m->consult_aor) == 0 ||
		    strcmp(k->aor, m->idle_aor) == 0 ||
		    strcmp(k->aor, m->mix_aor[1]) == 0 ||
		    strcmp(k->aor, m->mix_aor[2]) == 0 ||
		    strcmp(k->aor, m->desk_aor) == 0)
			continue;
		r = send_command(m, k->aor, NULL, "ausrc", src, NULL, NULL);
		if (r == 0)
			r = send_command(m, NULL, NULL, "auplay", play, NULL,
					 NULL);
	}
	if (r == 0)
		r = media_restore_devices(m);
	return r;
}

int media_dial_from(struct media *m, enum media_account acc,
		    const char *src, const char *play, const char *uri,
		    media_resp_h *h, void *arg)
{
	int r;

	if (m->state != MEDIA_STATE_UP)
		return -ENOTCONN;
	/* baresip takes a call's devices from the defaults when it creates
	 * the call: set them, dial, and put them back, in one write */
	r = send_command(m, media_account_aor(m, acc), NULL, "ausrc",
			 src ? src : m->src, NULL, NULL);
	if (r == 0)
		r = send_command(m, NULL, NULL, "auplay", play ? play : m->play,
				 NULL, NULL);
	if (r == 0)
		r = send_command(m, NULL, NULL, "dial", uri, h, arg);
	if (r == 0 && (src || play))
		r = media_restore_devices(m);
	return r;
}

const char *media_device(const struct media *m, bool source)
{
	return source ? m->src : m->play;
}

int media_restore_devices(struct media *m)
{
	int r;

	if (m->state != MEDIA_STATE_UP)
		return -ENOTCONN;
	r = send_command(m, m->idle_aor, NULL, "ausrc", m->src, NULL, NULL);
	if (r == 0)
		r = send_command(m, NULL, NULL, "auplay", m->play, NULL, NULL);
	return r;
}

static void account_added(bool ok, const char *data, void *arg)
{
	struct media *m = arg;

	if (m->state != MEDIA_STATE_STARTING)
		return;
	if (!ok) {
		log_error("media: baresip refused the account: %s", data);
		stop_child(m, "baresip refused the SIP account", false);
		return;
	}
	tmr_cancel(&m->deadline_tmr);
	m->up_since = util_mono_ms();
	log_info("media: baresip (pid %d) is up, control on 127.0.0.1:%u",
		 (int)m->pid, m->port);
	set_state(m, MEDIA_STATE_UP, "baresip answers", false);
}

static void helper_added(bool ok, const char *data, void *arg)
{
	(void)arg;
	if (!ok)
		log_warning("media: baresip refused a helper account (%s); "
			    "consult, transfer and the desk phone will fail",
			    data);
}

static void try_connect(void *arg);

static void add_accounts(struct media *m);

static void connect_done(int flags, void *arg)
{
	struct media *m = arg;
	int soerr = 0;
	socklen_t len = sizeof(soerr);

	(void)flags;
	getsockopt(m->fd, SOL_SOCKET, SO_ERROR, &soerr, &len);
	if (soerr) {
		/* not listening yet: try again shortly */
		ctrl_close(m);
		tmr_start(&m->connect_tmr, CONNECT_RETRY_MS, try_connect, m);
		return;
	}
	m->connected = true;
	if (m->nat_res) {
		m->nat_wait = true;
		return;
	}
	add_accounts(m);
}

/* The accounts go to baresip once the control connection is up and the
 * NAT server's name has resolved (or could not be). */
static void add_accounts(struct media *m)
{
	char account[2048], consult[2048], idle[2048], extra[2048];
	unsigned i;

	m->nat_wait = false;
	if (account_line(m, m->aor, true, false, account,
			 sizeof(account)) < 0 ||
	    account_line(m, m->consult_aor, false, false, consult,
			 sizeof(consult)) < 0 ||
	    account_line(m, m->idle_aor, false, false, idle,
			 sizeof(idle)) < 0) {
		stop_child(m, "SIP account settings too long", false);
		return;
	}
	/* the helper accounts first: the agent's answer means all are in */
	if (update_listen(m) < 0 ||
	    send_command(m, NULL, NULL, "uanew", consult, helper_added,
			 m) < 0 ||
	    send_command(m, NULL, NULL, "uanew", idle, helper_added, m) < 0 ||
	    account_line(m, m->desk_aor, false, false, extra,
			 sizeof(extra)) < 0 ||
	    send_command(m, NULL, NULL, "uanew", extra, helper_added, m) < 0 ||
	    send_command(m, NULL, NULL, "uanew", account, account_added,
			 m) < 0) {
		ctrl_lost(m, "could not talk to baresip");
		return;
	}
	/* the legs to the focus stay on this host: no outbound proxy */
	for (i = 0; i < 3; i++)
		if (account_line(m, m->mix_aor[i], false, true, extra,
				 sizeof(extra)) < 0 ||
		    send_command(m, NULL, NULL, "uanew", extra, helper_added,
				 m) < 0)
			log_warning("media: could not add a conference account");
	/* the configured caller IDs are ready before the first dial */
	if (*m->conf->caller_id)
		(void)add_cid_account(m, m->conf->caller_id);
	if (*m->conf->agent_caller_id)
		(void)add_cid_account(m, m->conf->agent_caller_id);
}

static void try_connect(void *arg)
{
	struct media *m = arg;
	struct sockaddr_in sin = { .sin_family = AF_INET };
	int err;

	if (m->pid <= 0 || m->stopping)
		return;
	m->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (m->fd < 0)
		goto retry;
	if (netstring_new(&m->ns, CTRL_MAX_MSG) < 0)
		goto retry;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	sin.sin_port = htons((uint16_t)m->port);
	if (connect(m->fd, (struct sockaddr *)&sin, sizeof(sin)) < 0 &&
	    errno != EINPROGRESS)
		goto retry;
	err = fd_listen(m->fd, FD_WRITE, connect_done, m);
	if (err)
		goto retry;
	return;
retry:
	ctrl_close(m);
	tmr_start(&m->connect_tmr, CONNECT_RETRY_MS, try_connect, m);
}

/* ---- the child ---- */

static void schedule_restart(struct media *m);

static void start_deadline(void *arg)
{
	struct media *m = arg;

	log_error("media: baresip did not answer within %u s, restarting it",
		  START_DEADLINE_MS / 1000);
	stop_child(m, "baresip did not start", false);
}

static void child_exited(int flags, void *arg)
{
	struct media *m = arg;
	siginfo_t si = { 0 };

	(void)flags;
	if (waitid(P_PIDFD, (id_t)m->pidfd, &si, WEXITED | WNOHANG) < 0 ||
	    si.si_pid == 0)
		return;
	if (si.si_code == CLD_EXITED)
		snprintf(m->last_exit, sizeof(m->last_exit),
			 "exited with status %d", si.si_status);
	else
		snprintf(m->last_exit, sizeof(m->last_exit),
			 "killed by signal %d (%s)", si.si_status,
			 strsignal(si.si_status));
	fd_close(m->pidfd);
	close(m->pidfd);
	m->pidfd = -1;
	tmr_cancel(&m->kill_tmr);
	tmr_cancel(&m->deadline_tmr);
	tmr_cancel(&m->takeover_tmr);

	if (m->stopping)
		log_info("media: baresip (pid %d) %s", (int)m->pid,
			 m->last_exit);
	else
		log_error("media: baresip (pid %d) %s", (int)m->pid,
			  m->last_exit);
	m->pid = 0;
	forget_calls(m);
	m->n_cid = 0;
	m->dial_aor[0] = '\0';
	if (!m->stopping)
		snprintf(m->down_reason, sizeof(m->down_reason),
			 "baresip %s", m->last_exit);
	m->stopping = false;
	ctrl_close(m);
	fail_pending(m, "baresip exited");
	set_state(m, MEDIA_STATE_DOWN, m->down_reason, m->takeover);
	m->takeover = false;
	if (!m->shutdown)
		schedule_restart(m);
}

static void restart_now(void *arg)
{
	start_child(arg);
}

static void schedule_restart(struct media *m)
{
	uint64_t delay = 500;
	unsigned i;

	/* a child that stayed up a while earns a fresh back-off */
	if (m->up_since && util_mono_ms() - m->up_since > STABLE_MS)
		m->failures = 0;
	m->up_since = 0;
	for (i = 0; i < m->failures && delay < m->conf->restart_max * 1000ULL;
	     i++)
		delay *= 2;
	if (delay > m->conf->restart_max * 1000ULL)
		delay = m->conf->restart_max * 1000ULL;
	m->failures++;
	log_info("media: restarting baresip in %llu ms",
		 (unsigned long long)delay);
	tmr_start(&m->restart_tmr, delay, restart_now, m);
}

static void exec_baresip(const struct media *m, pid_t parent)
{
	int null = open("/dev/null", O_RDWR);
	bool verbose = strcmp(m->conf->log_level, "debug") == 0;
	sigset_t none;

	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	/* baresip must not outlive ccpd, even a ccpd killed with SIGKILL: it
	 * would hold the SIP port and the calls with nobody in control */
	prctl(PR_SET_PDEATHSIG, SIGTERM);
	if (getppid() != parent)
		_exit(0);
	if (null >= 0) {
		dup2(null, STDIN_FILENO);
		/* baresip is chatty on stdout; keep it only when debugging */
		if (!verbose)
			dup2(null, STDOUT_FILENO);
	}
	if (!verbose && null >= 0)
		dup2(null, STDERR_FILENO);
	execl(m->conf->baresip, "baresip", "-f", m->dir, (char *)NULL);
	_exit(127);
}

/* ---- the NAT server's name ----
 *
 * baresip 1.0.0 looks the STUN or TURN server's name up through DNS
 * servers only (libre's DNS client reads neither /etc/hosts nor
 * nsswitch.conf): a name from /etc/hosts, or one the system resolves some
 * other way, failed every call's media setup, and the offer never rang.
 * So ccpd resolves the name as the rest of the system would, and gives
 * baresip the address. A name that does not resolve in time is given as
 * it is. */

static const char *nat_setting(const struct conf *c)
{
	return turn_for_media(c) ? c->turn_server : c->stun_server;
}

static void nat_done(struct media *m)
{
	tmr_cancel(&m->nat_tmr);
	m->nat_res = mem_deref(m->nat_res);
	if (m->nat_wait && m->connected)
		add_accounts(m);
}

static void nat_resolved(int err, const char *why, const struct sa *addr,
			 void *arg)
{
	struct media *m = arg;
	const char *setting = nat_setting(m->conf);

	if (err) {
		log_warning("media: %s does not resolve (%s); baresip gets the "
			    "name", setting, why ? why : strerror(err));
	} else {
		re_snprintf(m->nat_server, sizeof(m->nat_server), "%J", addr);
		log_info("media: %s is %s", setting, m->nat_server);
	}
	nat_done(m);
}

static void nat_timeout(void *arg)
{
	struct media *m = arg;

	log_warning("media: %s did not resolve within %u ms; baresip gets "
		    "the name", nat_setting(m->conf), NAT_LOOKUP_MS);
	nat_done(m);
}

static void nat_lookup(struct media *m)
{
	const char *setting = nat_setting(m->conf);
	char host[256];
	struct sa sa;
	uint16_t port;
	int r;

	m->nat_res = mem_deref(m->nat_res);
	tmr_cancel(&m->nat_tmr);
	m->nat_wait = false;
	snprintf(m->nat_server, sizeof(m->nat_server), "%s", setting);
	if (!*setting || resolve_split(setting, STUN_PORT, host, sizeof(host),
				       &port) < 0 ||
	    sa_set_str(&sa, host, port) == 0)
		return;         /* nothing to look up: an address already */
	r = resolve_start(&m->nat_res, host, port, nat_resolved, m);
	if (r < 0) {
		log_warning("media: cannot look %s up: %s; baresip gets the "
			    "name", host, strerror(-r));
		return;
	}
	tmr_start(&m->nat_tmr, NAT_LOOKUP_MS, nat_timeout, m);
}

static void start_child(struct media *m)
{
	int r, err;
	pid_t pid, parent;

	if (m->shutdown || m->pid > 0)
		return;
	set_state(m, MEDIA_STATE_STARTING, "starting baresip", false);
	r = pick_port(&m->port);
	if (r == 0)
		r = write_config(m);
	if (r < 0) {
		log_error("media: cannot prepare baresip's configuration in "
			  "%s: %s", m->dir, strerror(-r));
		snprintf(m->down_reason, sizeof(m->down_reason),
			 "configuration failed: %s", strerror(-r));
		set_state(m, MEDIA_STATE_DOWN, m->down_reason, false);
		schedule_restart(m);
		return;
	}
	parent = getpid();
	pid = fork();
	if (pid < 0) {
		log_error("media: fork failed: %s", strerror(errno));
		set_state(m, MEDIA_STATE_DOWN, "fork failed", false);
		schedule_restart(m);
		return;
	}
	if (pid == 0)
		exec_baresip(m, parent);
	nat_lookup(m);
	m->pid = pid;
	m->pidfd = pidfd_open(pid, 0);
	if (m->pidfd < 0) {
		log_error("media: pidfd_open failed: %s", strerror(errno));
		kill(pid, SIGKILL);
		waitpid(pid, NULL, 0);
		m->pid = 0;
		set_state(m, MEDIA_STATE_DOWN, "pidfd_open failed", false);
		schedule_restart(m);
		return;
	}
	err = fd_listen(m->pidfd, FD_READ, child_exited, m);
	if (err)
		log_error("media: cannot watch baresip: %s", strerror(err));
	if (m->restarts || m->failures)
		m->restarts++;
	log_info("media: started baresip (pid %d), control port %u",
		 (int)pid, m->port);
	tmr_start(&m->deadline_tmr, START_DEADLINE_MS, start_deadline, m);
	tmr_start(&m->connect_tmr, CONNECT_RETRY_MS, try_connect, m);
}

int media_new(struct media **ret, const struct conf *conf,
	      const struct media_handlers *h, void *arg)
{
	struct media *m = calloc(1, sizeof(*m));
	int r;

	if (!m)
		return -ENOMEM;
	m->conf = conf;
	m->h = *h;
	m->arg = arg;
	m->fd = -1;
	m->pidfd = -1;
	m->state = MEDIA_STATE_DOWN;
	tmr_init(&m->connect_tmr);
	tmr_init(&m->deadline_tmr);
	tmr_init(&m->nat_tmr);
	tmr_init(&m->restart_tmr);
	tmr_init(&m->kill_tmr);
	tmr_init(&m->resp_tmr);
	tmr_init(&m->reset_tmr);
	tmr_init(&m->takeover_tmr);
	snprintf(m->dir, sizeof(m->dir), "%s/baresip", conf->runtime_dir);
	r = util_mkdir_p(m->dir, 0700);
	if (r < 0) {
		log_error("media: cannot create %s: %s", m->dir, strerror(-r));
		free(m);
		return r;
	}
	make_aor(m);
	*ret = m;
	return 0;
}

int media_start(struct media *m)
{
	start_child(m);
	return 0;
}

/* Wait for the child synchronously: at exit there is no loop to wait on. */
static void reap(struct media *m, int ms)
{
	struct pollfd pfd = { .fd = m->pidfd, .events = POLLIN };

	if (m->pidfd < 0)
		return;
	if (poll(&pfd, 1, ms) == 1) {
		siginfo_t si;

		waitid(P_PIDFD, (id_t)m->pidfd, &si, WEXITED);
		m->pid = 0;
	}
}

void media_shutdown(struct media *m)
{
	if (!m)
		return;
	m->shutdown = true;
	tmr_cancel(&m->restart_tmr);
	tmr_cancel(&m->takeover_tmr);
	ctrl_close(m);
	fail_pending(m, "shutting down");
	if (m->pid > 0) {
		kill(m->pid, SIGTERM);
		reap(m, STOP_GRACE_MS);
		if (m->pid > 0) {
			kill(m->pid, SIGKILL);
			reap(m, STOP_GRACE_MS);
		}
	}
	if (m->pidfd >= 0) {
		fd_close(m->pidfd);
		close(m->pidfd);
		m->pidfd = -1;
	}
}

struct media *media_free(struct media *m)
{
	if (!m)
		return NULL;
	media_shutdown(m);
	tmr_cancel(&m->connect_tmr);
	tmr_cancel(&m->deadline_tmr);
	tmr_cancel(&m->restart_tmr);
	tmr_cancel(&m->kill_tmr);
	tmr_cancel(&m->resp_tmr);
	tmr_cancel(&m->reset_tmr);
	tmr_cancel(&m->takeover_tmr);
	tmr_cancel(&m->nat_tmr);
	m->nat_res = mem_deref(m->nat_res);
	forget_calls(m);
	free(m);
	return NULL;
}

enum media_state media_get_state(const struct media *m)
{
	return m->state;
}

pid_t media_pid(const struct media *m)
{
	return m->pid;
}

unsigned media_restarts(const struct media *m)
{
	return m->restarts;
}

const char *media_last_exit(const struct media *m)
{
	return m->last_exit;
}

unsigned media_ctrl_port(const struct media *m)
{
	return m->port;
}

const char *media_aor(const struct media *m)
{
	return m->aor;
}

bool media_registrar_mode(const struct media *m)
{
	return m->registrar;
}
