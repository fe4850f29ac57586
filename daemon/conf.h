/* ccpd's settings: one table, read from a file and from -o NAME=VALUE. */
#ifndef CCPD_CONF_H
#define CCPD_CONF_H

#include <stdbool.h>
#include <stddef.h>

struct conf {
	char *socket;
	char *socket_group;
	unsigned socket_mode;
	char *runtime_dir;
	char *state_dir;
	char *sip_listen;
	char *net_interface;
	char *sip_user;
	char *sip_display_name;
	char *sip_registrar;
	char *sip_domain;
	char *sip_password;
	char *sip_auth_user;
	unsigned reg_interval;
	unsigned ring_timeout;
	unsigned acw_timeout;
	char *statuses;
	char *initial_status;
	char *audio_source;
	char *audio_player;
	char *audio_ringer;             /* "auto": the speaker */
	unsigned audio_check_interval;  /* s between device checks, 0: off */
	unsigned audio_test_duration;   /* s of the microphone check */
	unsigned vu_interval;           /* ms between level events, 0: off */
	unsigned mic_silence_timeout;   /* s of a silent microphone, 0: off */
	char *stun_server;              /* host[:port] */
	char *turn_server;              /* host[:port] */
	char *turn_transport;           /* udp, tcp, tls */
	char *turn_user;
	char *turn_password;
	bool ice;
	char *srtp;                     /* off, sdes, dtls */
	char *srtp_policy;              /* offered, required */
	char *sip_check_uri;            /* network.check's OPTIONS target */
	char *baresip;
	char *baresip_modules;
	char *rtp_ports;
	/* one agent's share of a shared host (ccpd@.service): 0, or the
	 * slot that picks sip_listen's and http_listen's port and the
	 * rtp_ports block from the ranges below */
	unsigned agent_slot;
	char *sip_ports;
	char *http_ports;
	unsigned slot_rtp_ports;
	char *snd_path;
	char *dial_template;
	char *region;
	char *agent_region;
	char *dialable_countries;
	char *blocked_prefixes;
	bool allow_sip_uris;
	char *phone_numbers;
	char *caller_id;
	char *agent_caller_id;
	char *quick_connects;
	char *transfer_method;
	unsigned desk_phone_timeout;
	char *desk_phone_fallback;      /* off, offer, auto */
	unsigned event_buffer;
	unsigned history_size;
	unsigned max_clients;
	unsigned media_timeout;
	unsigned restart_max;
	char *log_level;
	char *database;
	char *ccp_url;
	unsigned session_timeout;
	unsigned login_failures;
	unsigned login_lockout;         /* s: the longest delay */
	unsigned login_timeout;         /* s to log in after connecting */
	unsigned password_min_length;
	/* HTTP and WebSocket (ws.c) */
	char *http_listen;          /* "" or "off": no HTTP port */
	char *http_tls_cert;
	char *http_tls_key;
	char *http_origin;          /* the public origin(s) of the page */
	char *http_origins;         /* more origins allowed to connect */
	char *trusted_proxies;      /* whose X-Forwarded-For is believed */
	char *web_root;
	char *metrics_access;       /* off, loopback, any */
	unsigned ws_max_clients;
	unsigned ws_max_message;
	unsigned ws_max_queue;
	unsigned ws_ping_interval;
	/* the bus: NATS JetStream (bus.c) */
	char *bus;                  /* "": off */
	char *bus_credentials;      /* .creds, or a file "user:password" */
	char *bus_tls_ca;
	unsigned bus_heartbeat;     /* s */
	unsigned bus_replicas;
	unsigned bus_max_age;       /* h the stream keeps events */
	unsigned bus_max_mb;        /* MiB the stream keeps, 0: no limit */
	unsigned bus_dup_window;    /* s the stream drops a resend */
	/* the PostgreSQL instance (instance.c): libpq's passfile */
	char *database_password_file;
	char *sip_secret_key_file;      /* the key sealing SIP passwords */
	char *sip_account_template;     /* a user's SIP address, {username} */
	/* presence for the ACD (presence.c) */
	bool presence;
	char *presence_uri;             /* "": the agent's address */
	unsigned presence_expires;      /* s a PUBLISH lasts */
};

/* Fill every setting with its default. */
int conf_init(struct conf *c);
void conf_clear(struct conf *c);

/* Set one setting from text. Returns 0, -ENOENT for an unknown name or
 * -EINVAL for a bad value; err[] says which in words. */
int conf_set(struct conf *c, const char *name, const char *value,
	     char *err, size_t err_size);
/* "NAME=VALUE", as given to -o. */
int conf_set_option(struct conf *c, const char *opt, char *err,
		    size_t err_size);
/* Read a file of "name = value" lines; '#' starts a comment. */
int conf_load(struct conf *c, const char *path, char *err, size_t err_size);
/* Fill in what depends on other settings or on the environment. */
int conf_finish(struct conf *c, char *err, size_t err_size);

/* The custom statuses, split on commas and trimmed; free with
 * conf_free_statuses. */
int conf_split_statuses(const char *list, char ***out, size_t *n);
void conf_free_statuses(char **names, size_t n);
/* Any comma-separated setting (dialable_countries, phone_numbers, ...),
 * the same way. */
int conf_split_list(const char *list, char ***out, size_t *n);
void conf_free_list(char **items, size_t n);

/* The region national numbers are read in: the agent's, else the
 * instance's; "" when neither is set. */
const char *conf_default_region(const struct conf *c);

/* quick_connects: "Name=endpoint, Name=endpoint". Split into names and
 * endpoints (free both with conf_free_statuses), or look one name up. */
int conf_split_quick_connects(const char *list, char ***names,
			      char ***values, size_t *n);
int conf_quick_connect(const char *list, const char *name, char *out,
		       size_t size);

/* Whether name may be a custom status: 0, or -EINVAL with why in err[]. */
int conf_check_status_name(const char *name, char *err, size_t err_size);
/* Whether host (an address or name, IPv6 with or without brackets) is on
 * the loopback interface: 127.0.0.0/8, ::1 or localhost. */
bool conf_host_is_loopback(const char *host);
/* Split "host:port" or "[v6]:port"; host without brackets. */
int conf_split_addr(const char *addr, char *host, size_t host_size,
		    unsigned *port);

/* Print every setting as the file would hold it (for ccpd --dump-config). */
void conf_dump(const struct conf *c, void *file);

#endif
