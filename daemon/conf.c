/* ccpd's settings: a table of {name, kind, offset, bounds, default}, so the
 * file, -o and the man page stay one list. */
#include <ctype.h>
#include <stdbool.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>
#include <arpa/inet.h>

#include "conf.h"
#include "dburl.h"
#include "phone.h"

enum kind { K_STR, K_UINT, K_ADDR, K_MODE, K_BOOL };

struct setting {
	const char *name;
	enum kind kind;
	size_t offset;
	unsigned min, max;
	const char *def;
};

#define S(n, k, mn, mx, d) { #n, k, offsetof(struct conf, n), mn, mx, d }

static const struct setting settings[] = {
	S(socket,           K_STR,  0, 0, ""),
	S(socket_group,     K_STR,  0, 0, ""),
	S(socket_mode,      K_MODE, 0, 0777, "0660"),
	S(runtime_dir,      K_STR,  0, 0, ""),
	S(state_dir,        K_STR,  0, 0, ""),
	S(sip_listen,       K_ADDR, 0, 0, "127.0.0.1:5060"),
	S(net_interface,    K_STR,  0, 0, "127.0.0.1"),
	S(sip_user,         K_STR,  0, 0, "agent"),
	S(sip_display_name, K_STR,  0, 0, ""),
	S(sip_registrar,    K_STR,  0, 0, ""),
	S(sip_domain,       K_STR,  0, 0, ""),
	S(sip_password,     K_STR,  0, 0, ""),
	S(sip_auth_user,    K_STR,  0, 0, ""),
	S(reg_interval,     K_UINT, 30, 86400, "600"),
	S(ring_timeout,     K_UINT, 1, 600, "30"),
	S(acw_timeout,      K_UINT, 0, 86400, "0"),
	S(statuses,         K_STR,  0, 0, "Break,Lunch"),
	S(initial_status,   K_STR,  0, 0, "Offline"),
	S(audio_source,     K_STR,  0, 0, "auto"),
	S(audio_player,     K_STR,  0, 0, "auto"),
	S(audio_ringer,     K_STR,  0, 0, "auto"),
	S(audio_check_interval, K_UINT, 0, 3600, "2"),
	S(audio_test_duration, K_UINT, 1, 30, "3"),
	S(vu_interval,      K_UINT, 0, 60000, "500"),
	S(mic_silence_timeout, K_UINT, 0, 3600, "10"),
	S(stun_server,      K_STR,  0, 0, ""),
	S(turn_server,      K_STR,  0, 0, ""),
	S(turn_transport,   K_STR,  0, 0, "udp"),
	S(turn_user,        K_STR,  0, 0, ""),
	S(turn_password,    K_STR,  0, 0, ""),
	S(ice,              K_BOOL, 0, 0, "false"),
	S(srtp,             K_STR,  0, 0, "off"),
	S(srtp_policy,      K_STR,  0, 0, "offered"),
	S(sip_check_uri,    K_STR,  0, 0, ""),
	S(baresip,          K_STR,  0, 0, "/usr/bin/baresip"),
	S(baresip_modules,  K_STR,  0, 0, "/usr/lib/baresip/modules"),
	S(rtp_ports,        K_STR,  0, 0, "16384-32767"),
	S(agent_slot,       K_UINT, 0, 65535, "0"),
	S(sip_ports,        K_STR,  0, 0, "5060-5459"),
	S(http_ports,       K_STR,  0, 0, "8780-8979"),
	S(slot_rtp_ports,   K_UINT, 4, 16384, "40"),
	S(snd_path,         K_STR,  0, 0, ""),
	S(dial_template,    K_STR,  0, 0, ""),
	S(region,           K_STR,  0, 0, ""),
	S(agent_region,     K_STR,  0, 0, ""),
	S(dialable_countries, K_STR, 0, 0, ""),
	S(blocked_prefixes, K_STR,  0, 0, ""),
	S(allow_sip_uris,   K_BOOL, 0, 0, "true"),
	S(phone_numbers,    K_STR,  0, 0, ""),
	S(caller_id,        K_STR,  0, 0, ""),
	S(agent_caller_id,  K_STR,  0, 0, ""),
	S(quick_connects,   K_STR,  0, 0, ""),
	S(transfer_method,  K_STR,  0, 0, "bridge"),
	S(desk_phone_timeout, K_UINT, 1, 600, "20"),
	S(desk_phone_fallback, K_STR, 0, 0, "offer"),
	S(event_buffer,     K_UINT, 16, 1000000, "1024"),
	S(history_size,     K_UINT, 1, 100000, "200"),
	S(max_clients,      K_UINT, 1, 10000, "64"),
	S(media_timeout,    K_UINT, 1, 600, "5"),
	S(restart_max,      K_UINT, 1, 3600, "30"),
	S(log_level,        K_STR,  0, 0, "info"),
	S(database,         K_STR,  0, 0, ""),
	S(ccp_url,          K_STR,  0, 0, ""),
	S(session_timeout,  K_UINT, 1, 604800, "28800"),
	S(login_failures,   K_UINT, 1, 1000, "5"),
	S(login_lockout,    K_UINT, 1, 86400, "300"),
	S(login_timeout,    K_UINT, 0, 3600, "30"),
	S(password_min_length, K_UINT, 1, 256, "8"),
	S(http_listen,      K_STR,  0, 0, "127.0.0.1:8780"),
	S(http_tls_cert,    K_STR,  0, 0, ""),
	S(http_tls_key,     K_STR,  0, 0, ""),
	S(http_origin,      K_STR,  0, 0, ""),
	S(http_origins,     K_STR,  0, 0, ""),
	S(trusted_proxies,  K_STR,  0, 0, ""),
	S(web_root,         K_STR,  0, 0, ""),
	S(metrics_access,   K_STR,  0, 0, "loopback"),
	S(ws_max_clients,   K_UINT, 1, 10000, "256"),
	S(ws_max_message,   K_UINT, 1024, 16777216, "65536"),
	S(ws_max_queue,     K_UINT, 65536, 268435456, "1048576"),
	S(ws_ping_interval, K_UINT, 0, 3600, "30"),
	S(bus,              K_STR,  0, 0, ""),
	S(bus_credentials,  K_STR,  0, 0, ""),
	S(bus_tls_ca,       K_STR,  0, 0, ""),
	S(bus_heartbeat,    K_UINT, 1, 3600, "5"),
	S(bus_replicas,     K_UINT, 1, 5, "1"),
	S(bus_max_age,      K_UINT, 1, 87600, "168"),
	S(bus_max_mb,       K_UINT, 0, 1048576, "1024"),
	S(bus_dup_window,   K_UINT, 1, 86400, "600"),
	S(database_password_file, K_STR, 0, 0, ""),
	S(sip_secret_key_file, K_STR, 0, 0, ""),
	S(sip_account_template, K_STR, 0, 0, ""),
	S(presence,         K_BOOL, 0, 0, "false"),
	S(presence_uri,     K_STR,  0, 0, ""),
	S(presence_expires, K_UINT, 10, 86400, "300"),
};

#define N_SETTINGS (sizeof(settings) / sizeof(settings[0]))

static const struct setting *find(const char *name)
{
	size_t i;

	for (i = 0; i < N_SETTINGS; i++)
		if (strcmp(settings[i].name, name) == 0)
			return &settings[i];
	return NULL;
}

static int parse_uint(const char *v, unsigned base, unsigned long *out)
{
	char *end;

	if (!*v || *v == '-' || isspace((unsigned char)*v))
		return -EINVAL;
	errno = 0;
	*out = strtoul(v, &end, base);
	if (errno || *end)
		return -EINVAL;
	return 0;
}

/* host:port or [v6]:port, with a port in 1..65535 */
static bool valid_addr(const char *v)
{
	const char *colon = strrchr(v, ':');
	unsigned long port;

	if (!colon || colon == v)
		return false;
	if (v[0] == '[' && colon[-1] != ']')
		return false;
	if (parse_uint(colon + 1, 10, &port) < 0 || port < 1 || port > 65535)
		return false;
	return true;
}

int conf_set(struct conf *c, const char *name, const char *value,
	     char *err, size_t err_size)
{
	const struct setting *s = find(name);
	unsigned long n;
	char *copy;

	if (!s) {
		snprintf(err, err_size, "unknown setting '%s'", name);
		return -ENOENT;
	}
	switch (s->kind) {
	case K_STR:
	case K_ADDR:
		if (s->kind == K_ADDR && !valid_addr(value)) {
			snprintf(err, err_size,
				 "%s: '%s' is not ADDRESS:PORT", name, value);
			return -EINVAL;
		}
		if (strlen(value) > 4096) {
			snprintf(err, err_size, "%s: value too long", name);
			return -EINVAL;
		}
		copy = strdup(value);
		if (!copy)
			return -ENOMEM;
		free(*(char **)((char *)c + s->offset));
		*(char **)((char *)c + s->offset) = copy;
		return 0;
	case K_UINT:
	case K_MODE:
		if (parse_uint(value, s->kind == K_MODE ? 8 : 10, &n) < 0 ||
		    n < s->min || n > s->max) {
			snprintf(err, err_size, s->kind == K_MODE ?
				 "%s: '%s' is not an octal mode" :
				 "%s: '%s' is not a number in %u..%u",
				 name, value, s->min, s->max);
			return -EINVAL;
		}
		*(unsigned *)((char *)c + s->offset) = (unsigned)n;
		return 0;
	case K_BOOL:
		if (!strcasecmp(value, "true") || !strcasecmp(value, "yes") ||
		    !strcasecmp(value, "on") || !strcmp(value, "1")) {
			*(bool *)((char *)c + s->offset) = true;
		} else if (!strcasecmp(value, "false") ||
			   !strcasecmp(value, "no") ||
			   !strcasecmp(value, "off") || !strcmp(value, "0")) {
			*(bool *)((char *)c + s->offset) = false;
		} else {
			snprintf(err, err_size, "%s: '%s' is neither true nor "
				 "false", name, value);
			return -EINVAL;
		}
		return 0;
	}
	return -EINVAL;
}

int conf_init(struct conf *c)
{
	char err[256];
	size_t i;
	int r;

	memset(c, 0, sizeof(*c));
	for (i = 0; i < N_SETTINGS; i++) {
		r = conf_set(c, settings[i].name, settings[i].def,
			     err, sizeof(err));
		if (r < 0)
			return r;
	}
	return 0;
}

void conf_clear(struct conf *c)
{
	size_t i;

	for (i = 0; i < N_SETTINGS; i++) {
		if (settings[i].kind == K_STR || settings[i].kind == K_ADDR) {
			char **p = (char **)((char *)c + settings[i].offset);

			free(*p);
			*p = NULL;
		}
	}
}

int conf_set_option(struct conf *c, const char *opt, char *err,
		    size_t err_size)
{
	const char *eq = strchr(opt, '=');
	char name[64];

	if (!eq || eq == opt || (size_t)(eq - opt) >= sizeof(name)) {
		snprintf(err, err_size, "'%s' is not NAME=VALUE", opt);
		return -EINVAL;
	}
	memcpy(name, opt, (size_t)(eq - opt));
	name[eq - opt] = '\0';
	return conf_set(c, name, eq + 1, err, err_size);
}

static char *trim(char *s)
{
	char *e;

	while (isspace((unsigned char)*s))
		s++;
	e = s + strlen(s);
	while (e > s && isspace((unsigned char)e[-1]))
		*--e = '\0';
	return s;
}

static char *unquote(char *v)
{
	size_t n = strlen(v);

	if (n >= 2 && ((v[0] == '"' && v[n - 1] == '"') ||
		       (v[0] == '\'' && v[n - 1] == '\''))) {
		v[n - 1] = '\0';
		return v + 1;
	}
	return v;
}

int conf_load(struct conf *c, const char *path, char *err, size_t err_size)
{
	char line[8192], msg[256];
	unsigned lineno = 0;
	FILE *f = fopen(path, "re");
	int r = 0;

	if (!f) {
		r = -errno;
		snprintf(err, err_size, "%s: %s", path, strerror(errno));
		return r;
	}
	while (fgets(line, sizeof(line), f)) {
		char *p, *eq, *name, *value;

		lineno++;
		p = strchr(line, '#');
		if (p)
			*p = '\0';
		p = trim(line);
		if (!*p)
			continue;
		eq = strchr(p, '=');
		if (!eq) {
			snprintf(err, err_size, "%s:%u: expected 'name = value'",
				 path, lineno);
			r = -EINVAL;
			break;
		}
		*eq = '\0';
		name = trim(p);
		value = unquote(trim(eq + 1));
		r = conf_set(c, name, value, msg, sizeof(msg));
		if (r < 0) {
			snprintf(err, err_size, "%s:%u: %s", path, lineno, msg);
			break;
		}
	}
	fclose(f);
	return r;
}

static int set_default_dir(char **dir, const char *env, const char *root_dir,
			   const char *user_env, const char *user_suffix)
{
	const char *e = getenv(env);
	char buf[4096];

	if (**dir)
		return 0;
	if (e && *e) {
		/* systemd may pass several directories; ours is the first */
		snprintf(buf, sizeof(buf), "%s", e);
		buf[strcspn(buf, ":")] = '\0';
	} else if (geteuid() == 0) {
		snprintf(buf, sizeof(buf), "%s", root_dir);
	} else if ((e = getenv(user_env)) && *e) {
		snprintf(buf, sizeof(buf), "%s/ccpd", e);
	} else {
		snprintf(buf, sizeof(buf), "/tmp/ccpd-%u%s",
			 (unsigned)geteuid(), user_suffix);
	}
	free(*dir);
	*dir = strdup(buf);
	return *dir ? 0 : -ENOMEM;
}

void conf_free_list(char **items, size_t n)
{
	conf_free_statuses(items, n);
}

int conf_split_list(const char *list, char ***out, size_t *n)
{
	return conf_split_statuses(list, out, n);
}

const char *conf_default_region(const struct conf *c)
{
	return *c->agent_region ? c->agent_region : c->region;
}

void conf_free_statuses(char **names, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		free(names[i]);
	free(names);
}

int conf_split_statuses(const char *list, char ***out, size_t *n)
{
	char *copy = strdup(list), *tok, *save = NULL;
	char **v = NULL;
	size_t count = 0;

	if (!copy)
		return -ENOMEM;
	for (tok = strtok_r(copy, ",", &save); tok;
	     tok = strtok_r(NULL, ",", &save)) {
		char **nv;

		tok = trim(tok);
		if (!*tok)
			continue;
		nv = realloc(v, (count + 1) * sizeof(*v));
		if (!nv || !(nv[count] = strdup(tok))) {
			free(copy);
			conf_free_statuses(nv ? nv : v, count);
			return -ENOMEM;
		}
		v = nv;
		count++;
	}
	free(copy);
	*out = v;
	*n = count;
	return 0;
}

int conf_split_quick_connects(const char *list, char ***names,
			      char ***values, size_t *n)
{
	char **entries = NULL, **nv = NULL, **vv = NULL;
	size_t count = 0, i;
	int r = conf_split_statuses(list, &entries, &count);

	if (r < 0)
		return r;
	nv = calloc(count + 1, sizeof(*nv));
	vv = calloc(count + 1, sizeof(*vv));
	if (!nv || !vv) {
		r = -ENOMEM;
		goto out;
	}
	for (i = 0; i < count; i++) {
		char *eq = strchr(entries[i], '=');

		if (!eq || eq == entries[i]) {
			r = -EINVAL;
			goto out;
		}
		*eq = '\0';
		nv[i] = strdup(trim(entries[i]));
		vv[i] = strdup(trim(eq + 1));
		if (!nv[i] || !vv[i]) {
			r = -ENOMEM;
			goto out;
		}
	}
out:
	conf_free_statuses(entries, count);
	if (r < 0) {
		conf_free_statuses(nv, count);
		conf_free_statuses(vv, count);
		return r;
	}
	*names = nv;
	*values = vv;
	*n = count;
	return 0;
}

int conf_quick_connect(const char *list, const char *name, char *out,
		       size_t size)
{
	char **names, **values;
	size_t n, i;
	int r = conf_split_quick_connects(list, &names, &values, &n);

	if (r < 0)
		return r;
	r = -ENOENT;
	for (i = 0; i < n && r < 0; i++)
		if (strcmp(names[i], name) == 0) {
			snprintf(out, size, "%s", values[i]);
			r = 0;
		}
	conf_free_statuses(names, n);
	conf_free_statuses(values, n);
	return r;
}

/* Names the agent may not take for a status: the built-in ones and every
 * system or error state, so that a state name always means one thing. */
static const char *const reserved[] = {
	"Available", "Offline", "PendingBusy", "CallingCustomer", "Busy",
	"AfterContactWork", "MissedCallAgent", "FailedConnectCustomer",
	"FailedConnectAgent", "Error",
};

static bool valid_status_name(const char *n)
{
	size_t i;

	if (!isalpha((unsigned char)n[0]) || strlen(n) > 32)
		return false;
	for (i = 0; n[i]; i++)
		if (!isalnum((unsigned char)n[i]) && n[i] != '_' &&
		    n[i] != '-')
			return false;
	return true;
}

int conf_check_status_name(const char *name, char *err, size_t err_size)
{
	size_t j;

	if (!valid_status_name(name)) {
		snprintf(err, err_size, "'%s' is not a valid status name (a "
			 "letter, then letters, digits, _ or -; at most 32)",
			 name);
		return -EINVAL;
	}
	for (j = 0; j < sizeof(reserved) / sizeof(reserved[0]); j++) {
		if (strcasecmp(name, reserved[j]) == 0) {
			snprintf(err, err_size, "'%s' is a state of its own",
				 name);
			return -EINVAL;
		}
	}
	return 0;
}

static int check_statuses(const struct conf *c, char *err, size_t err_size)
{
	char **names;
	size_t n, i, j;
	bool initial_found = false;
	int r = conf_split_statuses(c->statuses, &names, &n);

	if (r < 0)
		return r;
	if (n > 30) {
		snprintf(err, err_size, "statuses: at most 30 custom statuses");
		r = -EINVAL;
	}
	for (i = 0; i < n && r == 0; i++) {
		if (!valid_status_name(names[i])) {
			snprintf(err, err_size, "statuses: '%s' is not a valid "
				 "name (a letter, then letters, digits, _ or -; "
				 "at most 32)", names[i]);
			r = -EINVAL;
		}
		for (j = 0; j < sizeof(reserved) / sizeof(reserved[0]) &&
		     r == 0; j++)
			if (strcasecmp(names[i], reserved[j]) == 0) {
				snprintf(err, err_size, "statuses: '%s' is a "
					 "state of its own", names[i]);
				r = -EINVAL;
			}
		for (j = 0; j < i && r == 0; j++)
			if (strcmp(names[i], names[j]) == 0) {
				snprintf(err, err_size, "statuses: '%s' is "
					 "listed twice", names[i]);
				r = -EINVAL;
			}
		if (strcmp(names[i], c->initial_status) == 0)
			initial_found = true;
	}
	if (r == 0 && !initial_found &&
	    strcmp(c->initial_status, "Available") != 0 &&
	    strcmp(c->initial_status, "Offline") != 0) {
		snprintf(err, err_size, "initial_status: '%s' is neither "
			 "Available, Offline nor one of statuses",
			 c->initial_status);
		r = -EINVAL;
	}
	conf_free_statuses(names, n);
	return r;
}

/* Values that go into baresip's account line verbatim cannot hold what
 * that line uses as syntax. */
static int check_account_text(const char *name, const char *v,
			      const char *bad, char *err, size_t err_size)
{
	const char *p;

	for (p = v; *p; p++) {
		if ((unsigned char)*p < 0x20 || *p == 0x7f ||
		    strchr(bad, *p)) {
			snprintf(err, err_size, "%s: the character '%c' is not "
				 "allowed here", name,
				 (unsigned char)*p >= 0x20 ? *p : '?');
			return -EINVAL;
		}
	}
	return 0;
}

static int check_region(const char *name, char *v, char *err,
			size_t err_size)
{
	char *p;

	if (!*v)
		return 0;
	if (!phone_region_known(v)) {
		snprintf(err, err_size, "%s: '%s' is not a region (an ISO "
			 "3166 code such as US or GB)", name, v);
		return -EINVAL;
	}
	for (p = v; *p; p++)
		*p = (char)toupper((unsigned char)*p);
	return 0;
}

/* A number setting in any written form becomes its E.164 form. */
static int normalise_number(const struct conf *c, const char *name,
			    const char *v, char *out, size_t size, char *err,
			    size_t err_size)
{
	struct phone_number *n = NULL;
	enum phone_error why;
	int r = phone_parse(v, conf_default_region(c), &n, &why);

	if (r == -EINVAL)
		snprintf(err, err_size, "%s: '%s' is %s", name, v,
			 phone_error_reason(why));
	if (r < 0)
		return r;
	r = phone_format(n, PHONE_FMT_E164, out, size);
	phone_number_free(n);
	return r;
}

/* *dst becomes a copy of v */
static int replace_str(char **dst, const char *v)
{
	char *copy = strdup(v);

	if (!copy)
		return -ENOMEM;
	free(*dst);
	*dst = copy;
	return 0;
}

static int check_number_setting(struct conf *c, const char *name,
				char **value, char **numbers, size_t n,
				char *err, size_t err_size)
{
	char e164[PHONE_E164_MAX];
	size_t i;
	int r;

	if (!**value)
		return 0;
	r = normalise_number(c, name, *value, e164, sizeof(e164), err,
			     err_size);
	if (r < 0)
		return r;
	for (i = 0; i < n && strcmp(numbers[i], e164) != 0; i++)
		;
	if (n && i == n) {
		snprintf(err, err_size, "%s: %s is not one of phone_numbers",
			 name, e164);
		return -EINVAL;
	}
	return replace_str(value, e164);
}

/* Settings read by the dial plan, checked with libphonenumber at start so
 * that a typo stops ccpd instead of refusing calls later. Numbers are
 * rewritten in E.164. */
static int check_phone_settings(struct conf *c, char *err, size_t err_size)
{
	char **items = NULL, e164[PHONE_E164_MAX], *joined = NULL;
	size_t n = 0, i, len = 0;
	int r;

	if ((r = check_region("region", c->region, err, err_size)) < 0 ||
	    (r = check_region("agent_region", c->agent_region, err,
			      err_size)) < 0)
		return r;
	r = conf_split_list(c->dialable_countries, &items, &n);
	if (r == 0 && !(joined = calloc(1, n * 4 + 1)))
		r = -ENOMEM;
	for (i = 0; r == 0 && i < n; i++) {
		r = check_region("dialable_countries", items[i], err,
				 err_size);
		if (r == 0)
			len += (size_t)sprintf(joined + len, "%s%.3s",
					       i ? "," : "", items[i]);
	}
	conf_free_list(items, n);
	if (r == 0) {
		/* upper case and no spaces, as agent.getConfiguration shows */
		free(c->dialable_countries);
		c->dialable_countries = joined;
	} else {
		free(joined);
	}
	joined = NULL;
	len = 0;
	if (r < 0)
		return r;
	r = conf_split_list(c->blocked_prefixes, &items, &n);
	for (i = 0; r == 0 && i < n; i++) {
		size_t d = strspn(items[i] + 1, "0123456789");

		if (items[i][0] != '+' || d < 1 || d > 15 || items[i][d + 1]) {
			snprintf(err, err_size, "blocked_prefixes: '%s' is not "
				 "an E.164 prefix (+ and 1 to 15 digits)",
				 items[i]);
			r = -EINVAL;
		}
	}
	conf_free_list(items, n);
	if (r < 0)
		return r;
	r = conf_split_list(c->phone_numbers, &items, &n);
	if (r < 0)
		return r;
	joined = calloc(1, n * sizeof(e164) + 1);
	if (!joined)
		r = -ENOMEM;
	for (i = 0; r == 0 && i < n; i++) {
		r = normalise_number(c, "phone_numbers", items[i], e164,
				     sizeof(e164), err, err_size);
		if (r == 0) {
			free(items[i]);
			items[i] = strdup(e164);
			if (!items[i])
				r = -ENOMEM;
		}
		if (r == 0)
			len += (size_t)sprintf(joined + len, "%s%s",
					       i ? "," : "", e164);
	}
	if (r == 0) {
		free(c->phone_numbers);
		c->phone_numbers = joined;
		joined = NULL;
	}
	if (r == 0)
		r = check_number_setting(c, "caller_id", &c->caller_id, items,
					 n, err, err_size);
	if (r == 0)
		r = check_number_setting(c, "agent_caller_id",
					 &c->agent_caller_id, items, n, err,
					 err_size);
	free(joined);
	conf_free_list(items, n);
	return r;
}

/* Each entry "Name=endpoint": a name of letters, digits, spaces, _ and -
 * that is no endpoint itself, and a +number or sip:/sips: URI. */
static int check_quick_connects(const struct conf *c, char *err,
				size_t err_size)
{
	char **names, **values;
	size_t n, i, j;
	int r = conf_split_quick_connects(c->quick_connects, &names, &values,
					  &n);

	if (r == -EINVAL) {
		snprintf(err, err_size, "quick_connects: expected "
			 "'Name=endpoint, Name=endpoint'");
		return r;
	}
	if (r < 0)
		return r;
	for (i = 0; i < n && r == 0; i++) {
		const char *p;

		if (!*names[i] || strlen(names[i]) > 64 ||
		    !isalpha((unsigned char)names[i][0]))
			r = -EINVAL;
		for (p = names[i]; *p && r == 0; p++)
			if (!isalnum((unsigned char)*p) &&
			    !strchr(" _-", *p))
				r = -EINVAL;
		if (r == 0 && values[i][0] != '+' &&
		    strncmp(values[i], "sip:", 4) != 0 &&
		    strncmp(values[i], "sips:", 5) != 0)
			r = -EINVAL;
		if (r == 0 && strlen(values[i]) > 256)
			r = -EINVAL;
		for (j = 0; j < i && r == 0; j++)
			if (strcmp(names[i], names[j]) == 0)
				r = -EINVAL;
		if (r < 0)
			snprintf(err, err_size, "quick_connects: '%s=%s' needs "
				 "a unique name (a letter, then letters, "
				 "digits, spaces, _ or -) and a +number or "
				 "sip: URI", names[i], values[i]);
	}
	conf_free_statuses(names, n);
	conf_free_statuses(values, n);
	return r;
}

static bool one_of(const char *v, const char *a, const char *b,
		   const char *c3)
{
	return strcmp(v, a) == 0 || strcmp(v, b) == 0 ||
		(c3 && strcmp(v, c3) == 0);
}

/* The network settings end up inside baresip's account line: no
 * separators there, and the choices named. */
static int check_network(const struct conf *c, char *err, size_t err_size)
{
	int r;

	if (!one_of(c->turn_transport, "udp", "tcp", "tls")) {
		snprintf(err, err_size, "turn_transport: '%s' is not udp, tcp "
			 "or tls", c->turn_transport);
		return -EINVAL;
	}
	if (!one_of(c->srtp, "off", "sdes", "dtls")) {
		snprintf(err, err_size, "srtp: '%s' is not off, sdes or dtls",
			 c->srtp);
		return -EINVAL;
	}
	if (!one_of(c->srtp_policy, "offered", "required", NULL)) {
		snprintf(err, err_size, "srtp_policy: '%s' is neither offered "
			 "nor required", c->srtp_policy);
		return -EINVAL;
	}
	if ((r = check_account_text("stun_server", c->stun_server,
				    " \t\";<>?", err, err_size)) < 0 ||
	    (r = check_account_text("turn_server", c->turn_server,
				    " \t\";<>?", err, err_size)) < 0 ||
	    (r = check_account_text("turn_user", c->turn_user,
				    " \t\";<>", err, err_size)) < 0 ||
	    (r = check_account_text("turn_password", c->turn_password,
				    " \t\";<>", err, err_size)) < 0)
		return r;
	return 0;
}

static int check_http(struct conf *c, char *err, size_t err_size);

/* "LOW-HIGH", two ports with LOW <= HIGH */
static int parse_range(const char *v, unsigned *low, unsigned *high)
{
	unsigned long a, b;
	const char *dash = strchr(v, '-');
	char first[8];

	if (!dash || dash == v || (size_t)(dash - v) >= sizeof(first))
		return -EINVAL;
	memcpy(first, v, (size_t)(dash - v));
	first[dash - v] = '\0';
	if (parse_uint(first, 10, &a) < 0 || parse_uint(dash + 1, 10, &b) < 0 ||
	    a < 1 || b > 65535 || a > b)
		return -EINVAL;
	*low = (unsigned)a;
	*high = (unsigned)b;
	return 0;
}

/* The slot-th share of a range, each share `width` ports wide: its first
 * port, or -ERANGE when the range holds fewer slots. */
static int slot_share(const char *name, const char *range, unsigned slot,
		      unsigned width, unsigned *first, char *err,
		      size_t err_size)
{
	unsigned low, high;

	if (parse_range(range, &low, &high) < 0) {
		snprintf(err, err_size, "%s: '%s' is not a port range "
			 "LOW-HIGH", name, range);
		return -EINVAL;
	}
	if ((unsigned long)(slot - 1) * width + width - 1 > high - low) {
		snprintf(err, err_size, "agent_slot %u is beyond %s %s: it "
			 "holds %u slots of %u port%s", slot, name, range,
			 (high - low + 1) / width, width, width > 1 ? "s" : "");
		return -ERANGE;
	}
	*first = low + (slot - 1) * width;
	return 0;
}

/* addr with its port replaced */
static int set_port(char **addr, unsigned port)
{
	char buf[300];
	size_t n = (size_t)(strrchr(*addr, ':') - *addr);

	snprintf(buf, sizeof(buf), "%.*s:%u", (int)n, *addr, port);
	return replace_str(addr, buf);
}

/* agent_slot N gives an instance SIP ports 2N-2 and 2N-1 of sip_ports
 * (baresip opens SIP over TLS on the port after sip_listen's), port N-1
 * of http_ports and the N-th block of slot_rtp_ports in rtp_ports: two
 * slots never share a port. */
static int apply_slot(struct conf *c, char *err, size_t err_size)
{
	unsigned sip, http = 0, rtp;
	char buf[32];
	bool web = *c->http_listen && strcmp(c->http_listen, "off") != 0;
	int r;

	if (!c->agent_slot)
		return 0;
	if ((r = slot_share("sip_ports", c->sip_ports, c->agent_slot, 2, &sip,
			    err, err_size)) < 0 ||
	    (web && (r = slot_share("http_ports", c->http_ports,
				    c->agent_slot, 1, &http, err,
				    err_size)) < 0) ||
	    (r = slot_share("rtp_ports", c->rtp_ports, c->agent_slot,
			    c->slot_rtp_ports, &rtp, err, err_size)) < 0)
		return r;
	if (web && !strrchr(c->http_listen, ':')) {
		snprintf(err, err_size, "http_listen: '%s' is not "
			 "ADDRESS:PORT (or off)", c->http_listen);
		return -EINVAL;
	}
	snprintf(buf, sizeof(buf), "%u-%u", rtp, rtp + c->slot_rtp_ports - 1);
	r = replace_str(&c->rtp_ports, buf);
	if (r == 0)
		r = set_port(&c->sip_listen, sip);
	if (r == 0 && web)
		r = set_port(&c->http_listen, http);
	return r;
}

int conf_finish(struct conf *c, char *err, size_t err_size)
{
	int r;

	r = set_default_dir(&c->runtime_dir, "RUNTIME_DIRECTORY", "/run/ccpd",
			    "XDG_RUNTIME_DIR", "");
	if (r < 0)
		return r;
	r = set_default_dir(&c->state_dir, "STATE_DIRECTORY", "/var/lib/ccpd",
			    "XDG_STATE_HOME", "/state");
	if (r < 0)
		return r;
	if (!*c->socket) {
		char buf[4200];

		snprintf(buf, sizeof(buf), "%s/ccpd.sock", c->runtime_dir);
		free(c->socket);
		c->socket = strdup(buf);
		if (!c->socket)
			return -ENOMEM;
	}
	if (*c->sip_registrar && strncmp(c->sip_registrar, "sip:", 4) != 0) {
		snprintf(err, err_size,
			 "sip_registrar: '%s' is not a sip: URI",
			 c->sip_registrar);
		return -EINVAL;
	}
	if (!*c->sip_user) {
		snprintf(err, err_size, "sip_user: must not be empty");
		return -EINVAL;
	}
	if ((r = check_account_text("sip_user", c->sip_user,
				    " \t;,\"<>@:?&=", err, err_size)) < 0 ||
	    (r = check_account_text("sip_password", c->sip_password,
				    " \t;,\"<>", err, err_size)) < 0 ||
	    (r = check_account_text("sip_auth_user", c->sip_auth_user,
				    " \t;,\"<>", err, err_size)) < 0 ||
	    (r = check_account_text("sip_display_name", c->sip_display_name,
				    "\"<>\\", err, err_size)) < 0 ||
	    (r = check_account_text("sip_registrar", c->sip_registrar,
				    " \t\"<>", err, err_size)) < 0)
		return r;
	if (*c->sip_account_template &&
	    (strncmp(c->sip_account_template, "sip:", 4) != 0 ||
	     !strstr(c->sip_account_template, "{username}") ||
	     strpbrk(c->sip_account_template, " \t;,\"<>"))) {
		snprintf(err, err_size, "sip_account_template: '%s' is not a "
			 "sip: URI with {username} in it",
			 c->sip_account_template);
		return -EINVAL;
	}
	if (*c->presence_uri && (strncmp(c->presence_uri, "sip:", 4) != 0 ||
				 strpbrk(c->presence_uri, " \t\"<>&"))) {
		snprintf(err, err_size, "presence_uri: '%s' is not a sip: URI",
			 c->presence_uri);
		return -EINVAL;
	}
	r = check_statuses(c, err, err_size);
	if (r < 0)
		return r;
	r = check_phone_settings(c, err, err_size);
	if (r < 0)
		return r;
	if (!one_of(c->desk_phone_fallback, "off", "offer", "auto")) {
		snprintf(err, err_size, "desk_phone_fallback: '%s' is not off, "
			 "offer or auto", c->desk_phone_fallback);
		return -EINVAL;
	}
	if (strcmp(c->transfer_method, "bridge") != 0 &&
	    strcmp(c->transfer_method, "refer") != 0) {
		snprintf(err, err_size, "transfer_method: '%s' is neither "
			 "bridge nor refer", c->transfer_method);
		return -EINVAL;
	}
	r = check_network(c, err, err_size);
	if (r < 0)
		return r;
	r = check_quick_connects(c, err, err_size);
	if (r < 0)
		return r;
	r = apply_slot(c, err, err_size);
	if (r < 0)
		return r;
	r = check_http(c, err, err_size);
	if (r < 0)
		return r;
	if (!*c->database) {
		char buf[4200];

		snprintf(buf, sizeof(buf), "%s/ccpd.db", c->state_dir);
		free(c->database);
		c->database = strdup(buf);
		if (!c->database)
			return -ENOMEM;
	}
	if (!*c->ccp_url) {
		free(c->ccp_url);
		c->ccp_url = strdup("http://127.0.0.1:8780/");
		if (!c->ccp_url)
			return -ENOMEM;
	}
	if (strncmp(c->ccp_url, "http://", 7) != 0 &&
	    strncmp(c->ccp_url, "https://", 8) != 0) {
		snprintf(err, err_size, "ccp_url: '%s' is not an http:// or "
			 "https:// URL", c->ccp_url);
		return -EINVAL;
	}
	if (*c->dial_template && !strstr(c->dial_template, "{e164}") &&
	    !strstr(c->dial_template, "{number}")) {
		snprintf(err, err_size,
			 "dial_template: '%s' has no {e164} placeholder",
			 c->dial_template);
		return -EINVAL;
	}
	return 0;
}

int conf_split_addr(const char *addr, char *host, size_t host_size,
		    unsigned *port)
{
	const char *colon = strrchr(addr, ':');
	const char *h = addr;
	size_t n;
	unsigned long p;

	if (!colon || colon == addr)
		return -EINVAL;
	n = (size_t)(colon - addr);
	if (addr[0] == '[') {
		if (colon[-1] != ']' || n < 3)
			return -EINVAL;
		h = addr + 1;
		n -= 2;
	}
	if (n >= host_size || parse_uint(colon + 1, 10, &p) < 0 || p < 1 ||
	    p > 65535)
		return -EINVAL;
	memcpy(host, h, n);
	host[n] = '\0';
	*port = (unsigned)p;
	return 0;
}

bool conf_host_is_loopback(const char *host)
{
	if (strcasecmp(host, "localhost") == 0 || strcmp(host, "::1") == 0 ||
	    strcmp(host, "[::1]") == 0)
		return true;
	/* 127.0.0.0/8, written as a dotted quad */
	if (strncmp(host, "127.", 4) == 0) {
		unsigned a, b, c, d;
		char end;

		return sscanf(host, "%u.%u.%u.%u%c", &a, &b, &c, &d, &end) == 4
			&& b < 256 && c < 256 && d < 256;
	}
	return false;
}

/* Whether path names a directory holding index.html. */
static bool has_index(const char *dir)
{
	char buf[4200];

	snprintf(buf, sizeof(buf), "%s/index.html", dir);
	return access(buf, R_OK) == 0;
}

static bool is_ip(const char *s)
{
	unsigned char buf[sizeof(struct in6_addr)];

	return inet_pton(AF_INET, s, buf) == 1 ||
	       inet_pton(AF_INET6, s, buf) == 1;
}

/* Addresses only: a name would be resolved once, and a proxy that moved
 * would hand its trust to whoever took its old address. */
static int check_trusted_proxies(const struct conf *c, char *err,
				 size_t err_size)
{
	char **items;
	size_t n, i;
	int r = conf_split_list(c->trusted_proxies, &items, &n);

	if (r < 0)
		return r;
	for (i = 0; i < n && r == 0; i++)
		if (!is_ip(items[i])) {
			snprintf(err, err_size, "trusted_proxies: '%s' is not "
				 "an IPv4 or IPv6 address", items[i]);
			r = -EINVAL;
		}
	conf_free_list(items, n);
	return r;
}

static int check_http(struct conf *c, char *err, size_t err_size)
{
	char host[256];
	unsigned port;
	int r = check_trusted_proxies(c, err, err_size);

	if (r < 0)
		return r;

	if (!*c->web_root) {
		/* installed pages first, then the source tree's, so that a
		 * build tree serves the page without an install */
		const char *dir = has_index(CCPD_WEB_DIR) ? CCPD_WEB_DIR :
			CCPD_SOURCE_WEB_DIR;

		free(c->web_root);
		c->web_root = strdup(dir);
		if (!c->web_root)
			return -ENOMEM;
	}
	if (strcmp(c->metrics_access, "off") != 0 &&
	    strcmp(c->metrics_access, "loopback") != 0 &&
	    strcmp(c->metrics_access, "any") != 0) {
		snprintf(err, err_size, "metrics_access: '%s' is not off, "
			 "loopback or any", c->metrics_access);
		return -EINVAL;
	}
	if (!*c->http_listen || strcmp(c->http_listen, "off") == 0)
		return 0;
	if (conf_split_addr(c->http_listen, host, sizeof(host), &port) < 0) {
		snprintf(err, err_size, "http_listen: '%s' is not "
			 "ADDRESS:PORT (or off)", c->http_listen);
		return -EINVAL;
	}
	if (!*c->ccp_url) {
		/* where agents find the page: the public origin, else the
		 * listening address */
		char buf[600];
		bool v6 = strchr(host, ':') != NULL;

		if (*c->http_origin)
			snprintf(buf, sizeof(buf), "%.*s/",
				 (int)strcspn(c->http_origin, ", \t"),
				 c->http_origin);
		else
			snprintf(buf, sizeof(buf), "%s://%s%s%s:%u/",
				 *c->http_tls_cert ? "https" : "http",
				 v6 ? "[" : "", host, v6 ? "]" : "", port);
		free(c->ccp_url);
		c->ccp_url = strdup(buf);
		if (!c->ccp_url)
			return -ENOMEM;
	}
	if (!*c->http_tls_cert != !*c->http_tls_key) {
		snprintf(err, err_size, "http_tls_cert and http_tls_key go "
			 "together: set both or neither");
		return -EINVAL;
	}
	/* plain HTTP carries passwords and session tokens: only where no
	 * other host can listen */
	if (!*c->http_tls_cert && !conf_host_is_loopback(host)) {
		snprintf(err, err_size, "http_listen: %s is not a loopback "
			 "address, so http_tls_cert and http_tls_key are "
			 "required", c->http_listen);
		return -EINVAL;
	}
	return 0;
}

void conf_dump(const struct conf *c, void *file)
{
	FILE *f = file;
	size_t i;

	for (i = 0; i < N_SETTINGS; i++) {
		const struct setting *s = &settings[i];
		const char *p = (const char *)c + s->offset;

		switch (s->kind) {
		case K_STR:
		case K_ADDR:
			if (strcmp(s->name, "database") == 0) {
				char masked[4200];

				dburl_mask(c->database, masked, sizeof(masked));
				fprintf(f, "%s = %s\n", s->name, masked);
				break;
			}
			fprintf(f, "%s = %s\n", s->name,
				strcmp(s->name, "sip_password") == 0 &&
				**(char *const *)p ? "(set)" :
				*(char *const *)p);
			break;
		case K_UINT:
			fprintf(f, "%s = %u\n", s->name, *(const unsigned *)p);
			break;
		case K_MODE:
			fprintf(f, "%s = %04o\n", s->name, *(const unsigned *)p);
			break;
		case K_BOOL:
			fprintf(f, "%s = %s\n", s->name,
				*(const bool *)p ? "true" : "false");
			break;
		}
	}
}
