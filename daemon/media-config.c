/* The configuration baresip is started with: its config and accounts
 * files, written again at each start, the account lines added over
 * ctrl_tcp, the control port, and the NAT server's name as baresip gets
 * it. */
#include <errno.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <re.h>

#include "conf.h"
#include "log.h"
#include "media-int.h"
#include "resolve.h"
#include "sound.h"

/* how long the accounts wait for the NAT server's name to resolve */
#define NAT_LOOKUP_MS 3000

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
void config_device(const struct media *m, const char *setting,
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

static int nat_params(const struct conf *c, const char *server, char *out,
		      size_t size)
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
int config_account_line(const struct media *m, const char *aor, bool main,
			bool local, char *out, size_t size)
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
	n += nat_params(c, m->nat_server, out + n, size - (size_t)n);
	return n < (int)size ? 0 : -ENAMETOOLONG;
}

int config_nat_params(const struct media *m, char *out, size_t size)
{
	return nat_params(m->conf, m->nat_server, out, size);
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

int config_write(struct media *m)
{
	const struct conf *c = m->conf;
	char path[4200], src[512], play[512], loaded[256] = "";
	FILE *f;
	int r = 0;

	config_device(m, *m->want_src ? m->want_src : c->audio_source,
		       SILENT_SRC, src, sizeof(src));
	config_device(m, *m->want_play ? m->want_play : c->audio_player,
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
int config_pick_port(unsigned *port)
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

/* ---- the control port's guard ----
 *
 * ctrl_tcp lets anyone who reaches the port run commands. baresip runs
 * with ccpd-ctrlguard.so preloaded (daemon/ctrlguard.c), which refuses
 * every connection to the port from another user. A ccpd run from its
 * build tree takes the one built beside it; an installed one, the one in
 * its library directory, found from where ccpd itself is (so that a tree
 * unpacked elsewhere takes its own), else where it was installed. Without
 * it baresip is not started at all. */
static bool guard_in(struct media *m, const char *dir, const char *sub)
{
	snprintf(m->guard, sizeof(m->guard), "%s%s%s/%s", dir, *sub ? "/" : "",
		 sub, GUARD_NAME);
	return access(m->guard, R_OK) == 0;
}

int config_find_guard(struct media *m)
{
	char self[4096];
	ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	char *slash = NULL;

	if (n > 0) {
		self[n] = '\0';
		slash = strrchr(self, '/');
	}
	if (slash) {
		*slash = '\0';
		if (guard_in(m, self, "") ||
		    (*CCPD_GUARD_REL && guard_in(m, self, CCPD_GUARD_REL)))
			return 0;
	}
	if (guard_in(m, CCPD_GUARD_DIR, ""))
		return 0;
	m->guard[0] = '\0';
	return -ENOENT;
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
	bool wait = m->nat_wait;

	tmr_cancel(&m->nat_tmr);
	m->nat_res = mem_deref(m->nat_res);
	m->nat_wait = false;
	if (wait && m->connected)
		accounts_add(m);
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

void config_nat_lookup(struct media *m)
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

bool config_nat_waiting(struct media *m)
{
	if (!m->nat_res)
		return false;
	m->nat_wait = true;
	return true;
}

void config_nat_stop(struct media *m)
{
	tmr_cancel(&m->nat_tmr);
	m->nat_res = mem_deref(m->nat_res);
}
