/* ccpctl-daemon: the commands about ccpd itself: its media stack, SIP
 * registration, the network and audio checks, its phone number service, its
 * version, and any method by name. */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "ccpctl-int.h"
#include "ccpctl-rpc.h"
#include "ccpd-protocol.h"

/* ---- media and registration --------------------------------------------- */

void media_print_line(const cJSON *media)
{
	double pid, restarts;

	fputs(or_dash(json_str(media, "state")), stdout);
	if (json_num(media, "pid", &pid)) {
		fputs(", pid ", stdout);
		print_number(stdout, pid);
	}
	if (json_num(media, "restarts", &restarts)) {
		fputs(", ", stdout);
		print_number(stdout, restarts);
		fputs(restarts == 1 ? " restart" : " restarts", stdout);
	}
}

static void show_media(const cJSON *media)
{
	const cJSON *last = cJSON_GetObjectItemCaseSensitive(media, "lastExit");

	media_print_line(media);
	putchar('\n');
	if (last && !cJSON_IsNull(last)) {
		/* The protocol leaves its shape open; a string reads best. */
		fputs("last exit: ", stdout);
		if (cJSON_IsString(last))
			fputs(last->valuestring, stdout);
		else
			print_json_line(stdout, last);
		putchar('\n');
	}
}

void registration_print_line(const cJSON *reg)
{
	const char *mode = json_str(reg, "mode");
	const char *aor = json_str(reg, "aor");

	fputs(or_dash(json_str(reg, "state")), stdout);
	if (mode)
		printf(" (%s)", mode);
	if (aor)
		printf(" %s", aor);
	/* the logged-in user's own account, not the desk's */
	if (json_str(reg, "account") && strcmp(json_str(reg, "account"),
					       "user") == 0)
		fputs(" (the user's own account)", stdout);
}

static void show_registration(const cJSON *reg)
{
	const char *reason = json_str(reg, "reason");

	registration_print_line(reg);
	putchar('\n');
	if (reason)
		printf("reason: %s\n", reason);
}

/* ---- checks that answer with an event ----------------------------------- */

/* A check that ccpd runs in the background and reports in one event. */
struct check {
	const char *method;
	const char *event;
	/* the member that names the check in the start's answer and in its
	 * event; NULL: there is only ever one check of its kind */
	const char *id_key;
	printer_fn print;
};

/*
 * Subscribes, starts the check, waits for its event (ccpd bounds every
 * check, so the wait ends) and prints the event's data. The exit status
 * says whether the check failed.
 */
static int run_check(struct ctl *ctl, const struct check *check)
{
	cJSON *got, *event = NULL;
	const cJSON *data = NULL;
	char id[64];
	bool ok;
	int q;

	q = ctl_call(ctl, "events.subscribe", NULL, &got);
	if (!got)
		return q;
	cJSON_Delete(got);
	q = ctl_call(ctl, check->method, NULL, &got);
	if (!got)
		return q;
	snprintf(id, sizeof(id), "%s",
	         check->id_key ? or_dash(json_str(got, check->id_key)) : "");
	cJSON_Delete(got);

	for (;;) {
		q = rpc_next_event(ctl->rpc, &event);
		if (q < 0)
			return ctl_rpc_failure(ctl, q);
		data = cJSON_GetObjectItemCaseSensitive(event, "data");
		if (strcmp(or_dash(json_str(event, "type")), check->event) == 0 &&
		    (!check->id_key ||
		     strcmp(or_dash(json_str(data, check->id_key)), id) == 0))
			break;
		cJSON_Delete(event);
	}

	ok = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(data, "ok"));
	(ctl->json ? show_json : check->print)(data);
	cJSON_Delete(event);
	return ok ? EXIT_SUCCESS : EXIT_FAILURE;
}

/* network check: one row per item, with its result and time */
static void show_network_check(const cJSON *data)
{
	const cJSON *item;

	printf("%-5s %-7s %6s  %s\n", "ITEM", "RESULT", "MS", "DETAIL");
	cJSON_ArrayForEach(item, cJSON_GetObjectItemCaseSensitive(data, "items")) {
		const cJSON *ms = cJSON_GetObjectItemCaseSensitive(item, "ms");
		const char *res = "failed";

		if (cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(item, "skipped")))
			res = "skipped";
		else if (cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(item, "ok")))
			res = "ok";
		printf("%-5s %-7s %6.0f  %s\n", or_dash(json_str(item, "name")),
		       res, cJSON_IsNumber(ms) ? ms->valuedouble : 0.0,
		       or_dash(json_str(item, "detail")));
	}
}

static const struct check network_check = {
	"network.check", "network.checkDone", "checkId", show_network_check,
};

static int run_network(struct ctl *ctl, const struct command *cmd,
                       int argc, char **argv)
{
	(void)cmd; (void)argc;
	if (strcmp(argv[0], "check") != 0)
		return usage_error("network: '%s' is not check", argv[0]);
	return run_check(ctl, &network_check);
}

/* ---- audio --------------------------------------------------------------- */

/* audio devices: the ALSA devices, then the chosen and active ones */
static void show_audio_devices(const cJSON *res)
{
	static const char *const roles[] = { "microphone", "speaker",
					     "ringer" };
	const cJSON *chosen = cJSON_GetObjectItemCaseSensitive(res, "chosen");
	const cJSON *active = cJSON_GetObjectItemCaseSensitive(res, "active");
	const cJSON *dev;
	size_t i;

	if (!cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(res, "soundCard")))
		printf("no sound card\n");
	printf("%-20s %-9s %s\n", "DEVICE", "DIRECTION", "DESCRIPTION");
	cJSON_ArrayForEach(dev, cJSON_GetObjectItemCaseSensitive(res,
								 "devices"))
		printf("%-20s %-9s %s\n", or_dash(json_str(dev, "id")),
		       or_dash(json_str(dev, "direction")),
		       or_dash(json_str(dev, "description")));
	for (i = 0; i < sizeof(roles) / sizeof(roles[0]); i++)
		printf("%-10s chosen %s, active %s\n", roles[i],
		       json_str(chosen, roles[i]) ? json_str(chosen, roles[i]) :
		       "default", json_str(active, roles[i]) ?
		       json_str(active, roles[i]) : "default");
}

/* audio test: the tone's result and the levels the microphone heard */
static void show_audio_test(const cJSON *data)
{
	const cJSON *lv;
	double peak;

	printf("result      %s%s%s\n",
	       cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(data, "ok")) ?
	       "ok" : "failed",
	       json_str(data, "reason") ? ": " : "",
	       json_str(data, "reason") ? json_str(data, "reason") : "");
	printf("microphone  %s\n", or_dash(json_str(data, "microphone")));
	printf("silent      %s\n", cJSON_IsTrue(
		cJSON_GetObjectItemCaseSensitive(data, "silent")) ? "yes" : "no");
	printf("peak        ");
	if (json_num(data, "peak", &peak))
		printf("%.1f dBFS\n", peak);
	else
		printf("-\n");
	printf("levels     ");
	cJSON_ArrayForEach(lv, cJSON_GetObjectItemCaseSensitive(data, "levels"))
		printf(" %.0f", cJSON_IsNumber(lv) ? lv->valuedouble : 0.0);
	putchar('\n');
}

static const struct check audio_test = {
	"audio.test", "audio.testResult", NULL, show_audio_test,
};

/* ROLE=DEVICE..., each role at most once (the last one counts) */
static int audio_set(struct ctl *ctl, int argc, char **argv)
{
	cJSON *params;
	int i;

	if (argc < 2)
		return usage_error("audio set: give ROLE=DEVICE");
	params = cJSON_CreateObject();
	if (!params)
		return fail("out of memory");
	for (i = 1; i < argc; i++) {
		char *eq = strchr(argv[i], '=');

		if (!eq || eq == argv[i] || !eq[1] ||
		    (strncmp(argv[i], "microphone=", 11) != 0 &&
		     strncmp(argv[i], "speaker=", 8) != 0 &&
		     strncmp(argv[i], "ringer=", 7) != 0)) {
			cJSON_Delete(params);
			return usage_error("audio set: '%s' is not "
			                   "microphone=, speaker= or "
			                   "ringer=DEVICE", argv[i]);
		}
		*eq = '\0';
		cJSON_DeleteItemFromObjectCaseSensitive(params, argv[i]);
		if (!cJSON_AddStringToObject(params, argv[i], eq + 1)) {
			cJSON_Delete(params);
			return fail("out of memory");
		}
	}
	return ctl_call_and_show(ctl, "audio.setDevices", params,
	                         show_audio_devices);
}

/* audio devices; audio set ROLE=DEVICE...; audio test */
static int run_audio(struct ctl *ctl, const struct command *cmd,
                     int argc, char **argv)
{
	(void)cmd;
	if (strcmp(argv[0], "devices") == 0) {
		if (argc != 1)
			return usage_error("audio devices takes no argument");
		return ctl_call_and_show(ctl, "audio.listDevices", NULL,
		                         show_audio_devices);
	}
	if (strcmp(argv[0], "set") == 0)
		return audio_set(ctl, argc, argv);
	if (strcmp(argv[0], "test") != 0 || argc != 1)
		return usage_error("audio: '%s' is not devices, set or test",
		                   argv[0]);
	return run_check(ctl, &audio_test);
}

/* ---- version and raw calls ---------------------------------------------- */

static void show_version(const cJSON *version)
{
	double protocol;
	bool has_protocol = json_num(version, "protocol", &protocol);

	printf("%s %s", or_dash(json_str(version, "name")),
	       or_dash(json_str(version, "version")));
	if (has_protocol) {
		fputs(" (protocol ", stdout);
		print_number(stdout, protocol);
		putchar(')');
	}
	putchar('\n');
	/* Not an error: most methods survive a protocol bump unchanged. */
	if (has_protocol && protocol != CCPD_PROTOCOL_VERSION)
		fprintf(stderr, "ccpctl: warning: ccpctl was written for protocol %d\n",
		        CCPD_PROTOCOL_VERSION);
}

static int run_call(struct ctl *ctl, const struct command *cmd,
                    int argc, char **argv)
{
	cJSON *params = NULL;

	(void)cmd;
	if (!*argv[0])
		return usage_error("call: the method name is empty");
	if (argc > 1) {
		const char *end = NULL;

		/* Whether params fit the method is ccpd's to judge; call is
		 * also for trying out what it says to bad ones. */
		params = cJSON_ParseWithOpts(argv[1], &end, true);
		if (!params) {
			size_t at = end ? (size_t)(end - argv[1]) : 0;

			return usage_error("call: params are not valid JSON (near byte %zu)",
			                   at);
		}
	}
	return ctl_call_and_show(ctl, argv[0], params, show_pretty);
}

/* ---- phone numbers ------------------------------------------------------ */

static void show_phone(const cJSON *result)
{
	static const char *const keys[] = {
		"e164", "international", "national", "region", "type",
	};

	for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
		printf("%-14s %s\n", keys[i], or_dash(json_str(result, keys[i])));
}

static void show_formatted(const cJSON *result)
{
	puts(or_dash(json_str(result, "formatted")));
}

/* phone normalize NUMBER [REGION] | phone format NUMBER FORMAT [REGION] */
static int run_phone(struct ctl *ctl, const struct command *cmd,
                     int argc, char **argv)
{
	bool format = strcmp(argv[0], "format") == 0;
	int want = format ? 3 : 2;
	cJSON *params;
	char fmt[16];

	(void)cmd;
	if (!format && strcmp(argv[0], "normalize") != 0)
		return usage_error("phone: '%s' is neither normalize nor format",
		                   argv[0]);
	if (argc < want || argc > want + 1)
		return usage_error(format ? "phone format needs NUMBER FORMAT [REGION]"
		                          : "phone normalize needs NUMBER [REGION]");
	params = params_with_string("number", argv[1]);
	if (!params)
		return fail("out of memory");
	if (format) {
		size_t i;

		/* ccpd's names are upper case; e164 and national read as well */
		for (i = 0; argv[2][i] && i + 1 < sizeof(fmt); i++)
			fmt[i] = (char)toupper((unsigned char)argv[2][i]);
		fmt[i] = '\0';
		if (argv[2][i] || (strcmp(fmt, "E164") && strcmp(fmt, "INTERNATIONAL") &&
		    strcmp(fmt, "NATIONAL") && strcmp(fmt, "RFC3966"))) {
			cJSON_Delete(params);
			return usage_error("phone format: '%s' is not E164, "
			                   "INTERNATIONAL, NATIONAL or RFC3966", argv[2]);
		}
		cJSON_AddStringToObject(params, "format", fmt);
	}
	if (argc > want)
		cJSON_AddStringToObject(params, "region", argv[want]);
	return ctl_call_and_show(ctl, format ? "phone.format" : "phone.normalize",
	                         params, format ? show_formatted : show_phone);
}

/* ---- the tables ---------------------------------------------------------- */

/* Of audio, the first row is the one that runs; the others are its help. */
const struct command daemon_status_commands[] = {
	{ "media", "", "show the state of the media stack", 0, 0, .method = "media.getStatus", .print = show_media },
	{ "registration", "", "show the SIP registration", 0, 0, .method = "registration.getStatus", .print = show_registration },
	{ "network", "check", "check the SIP server, STUN and TURN; print each item's result and time", 1, 1, .run = run_network },
	{ "audio", "devices", "list the capture and playback devices, and the chosen ones", 1, 4, .run = run_audio },
	{ "audio", "set ROLE=DEVICE...", "choose the microphone, speaker or ringer (DEVICE \"default\": the configured one)", 2, 4, .run = run_audio },
	{ "audio", "test", "play a tone and measure the microphone; print the levels", 1, 1, .run = run_audio },
	{ 0 },
};

/* Of phone, the first row is the one that runs; the other is its help. */
const struct command daemon_tool_commands[] = {
	{ "phone", "normalize NUMBER [REGION]", "show a number in E.164 and other forms, its region and type", 2, 4, .run = run_phone },
	{ "phone", "format NUMBER FORMAT [REGION]", "write a number as E164, INTERNATIONAL, NATIONAL or RFC3966", 2, 4, .run = run_phone },
	{ "version", "", "show the version of ccpd", 0, 0, .method = "daemon.getVersion", .print = show_version },
	{ "call", "METHOD [JSON-PARAMS]", "call any method and print its result", 1, 2, .run = run_call },
	{ 0 },
};
