/* The bus's worker thread: every libnats call happens here or on
 * libnats's own threads, never on the main loop, since connecting, making
 * the stream and starting a watch are request and reply. Nothing here
 * touches ccpd's state: what the main loop must know goes through the
 * mqueue as a struct busw_msg. */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <nats/nats.h>
#include <re.h>

#include "bus-int.h"

enum job_kind { JOB_PUB, JOB_KV, JOB_KV_DEL, JOB_WATCH, JOB_HISTORY };

struct job {
	struct job *next;
	enum job_kind kind;
	uint64_t seq;
	char *subject;
	char *msg_id;
	char *data;
};

struct busw {
	pthread_t thread;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	struct job *head, **tail;       /* under lock */
	bool stop;                      /* under lock */
	pthread_mutex_t nlock;
	struct busw_msg *notes, **ntail; /* under nlock */
	struct busw_conf c;
	struct mqueue *mq;
	/* the worker thread's own */
	natsConnection *nc;
	jsCtx *js;
	natsSubscription *watch;
	bool want_watch;
	bool closed;                    /* under lock: closed CB ran */
};

void busw_note_free(struct busw_msg *m)
{
	if (!m)
		return;
	free(m->key);
	free(m->text);
	free(m);
}

/* Queue a note for the loop, and wake it if the list was empty. */
static void send_note(struct busw *w, struct busw_msg *m)
{
	bool wake;

	pthread_mutex_lock(&w->nlock);
	wake = !w->notes;
	*w->ntail = m;
	w->ntail = &m->next;
	pthread_mutex_unlock(&w->nlock);
	if (wake)
		mqueue_push(w->mq, 0, w);
}

struct busw_msg *busw_notes_take(struct busw *w)
{
	struct busw_msg *list;

	if (!w)
		return NULL;
	pthread_mutex_lock(&w->nlock);
	list = w->notes;
	w->notes = NULL;
	w->ntail = &w->notes;
	pthread_mutex_unlock(&w->nlock);
	return list;
}

static void note(struct busw *w, enum busw_note id, uint64_t seq,
		 const char *key, const char *text, size_t text_len)
{
	struct busw_msg *m = calloc(1, sizeof(*m));

	if (!m)
		return;
	m->id = id;
	m->seq = seq;
	if (key)
		m->key = strdup(key);
	if (text) {
		m->text = malloc(text_len + 1);
		if (m->text) {
			memcpy(m->text, text, text_len);
			m->text[text_len] = '\0';
		}
	}
	send_note(w, m);
}

static void note_text(struct busw *w, enum busw_note id, const char *text)
{
	note(w, id, 0, NULL, text, strlen(text));
}

/* The words for a failed call: libnats's last error, else the status. */
static void describe(natsStatus s, jsErrCode jerr, char *out, size_t size)
{
	const char *last = nats_GetLastError(NULL), *end;

	/* libnats starts its text with "(file.c:line): ", ours not */
	if (last && *last == '(' && (end = strstr(last, "): ")))
		last = end + 3;
	if (last && *last)
		snprintf(out, size, "%s", last);
	else
		snprintf(out, size, "%s", natsStatus_GetText(s));
	if (jerr)
		snprintf(out + strlen(out), size - strlen(out),
			 " (JetStream error %d)", (int)jerr);
}

/* ---- libnats's threads ---- */

static void on_disconnected(natsConnection *nc, void *closure)
{
	(void)nc;
	note_text(closure, BUSW_DISCONNECTED, "the connection was lost");
}

/* The last callback libnats makes for a connection. */
static void on_closed(natsConnection *nc, void *closure)
{
	struct busw *w = closure;

	(void)nc;
	pthread_mutex_lock(&w->lock);
	w->closed = true;
	pthread_cond_broadcast(&w->cond);
	pthread_mutex_unlock(&w->lock);
}

static void on_reconnected(natsConnection *nc, void *closure)
{
	char url[256] = "";

	natsConnection_GetConnectedUrl(nc, url, sizeof(url));
	note_text(closure, BUSW_CONNECTED, url);
}

static uint64_t msg_seq(natsMsg *msg)
{
	const char *id = NULL, *colon;

	if (natsMsgHeader_Get(msg, "Nats-Msg-Id", &id) != NATS_OK || !id)
		return 0;
	colon = strrchr(id, ':');
	return colon ? strtoull(colon + 1, NULL, 10) : 0;
}

static void on_puback(jsCtx *js, natsMsg *msg, jsPubAck *pa,
		      jsPubAckErr *pae, void *closure)
{
	struct busw *w = closure;
	uint64_t seq = msg_seq(msg);
	char why[256];

	(void)js;
	/* the bucket's puts carry no id: a lost one is put again by the
	 * next heartbeat */
	if (seq) {
		if (pa)
			note(w, BUSW_ACK, seq, NULL, NULL, 0);
		else {
			snprintf(why, sizeof(why), "%s",
				 pae && pae->ErrText ? pae->ErrText :
				 natsStatus_GetText(pae ? pae->Err :
						    NATS_ERR));
			note(w, BUSW_NACK, seq, NULL, why, strlen(why));
		}
	}
	natsMsg_Destroy(msg);
}

static void on_kv(natsConnection *nc, natsSubscription *sub, natsMsg *msg,
		  void *closure)
{
	struct busw *w = closure;
	const char *subject = natsMsg_GetSubject(msg), *op = NULL;
	size_t plen = strlen("$KV." BUS_BUCKET ".");
	jsMsgMetaData *meta = NULL;
	struct busw_msg *m;

	(void)nc;
	(void)sub;
	if (!subject || strncmp(subject, "$KV." BUS_BUCKET ".", plen) != 0)
		goto out;
	m = calloc(1, sizeof(*m));
	if (!m)
		goto out;
	m->id = BUSW_KV;
	m->key = strdup(subject + plen);
	natsMsgHeader_Get(msg, "KV-Operation", &op);
	if (!op || (strcmp(op, "DEL") != 0 && strcmp(op, "PURGE") != 0)) {
		int len = natsMsg_GetDataLength(msg);

		m->text = malloc((size_t)len + 1);
		if (m->text) {
			memcpy(m->text, natsMsg_GetData(msg), (size_t)len);
			m->text[len] = '\0';
		}
	}
	if (natsMsg_GetMetaData(&meta, msg) == NATS_OK) {
		m->pending = meta->NumPending;
		jsMsgMetaData_Destroy(meta);
	}
	send_note(w, m);
out:
	natsMsg_Destroy(msg);
}

/* ---- the worker thread ---- */

static void job_free(struct job *j)
{
	free(j->subject);
	free(j->msg_id);
	free(j->data);
	free(j);
}

/* Wait up to ms for jobs or the stop; returns the jobs taken. */
static struct job *take_jobs(struct busw *w, unsigned ms, bool *stop)
{
	struct timespec ts;
	struct job *jobs;

	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += ms / 1000;
	ts.tv_nsec += (long)(ms % 1000) * 1000000L;
	if (ts.tv_nsec >= 1000000000L) {
		ts.tv_sec++;
		ts.tv_nsec -= 1000000000L;
	}
	pthread_mutex_lock(&w->lock);
	while (!w->head && !w->stop)
		if (pthread_cond_timedwait(&w->cond, &w->lock, &ts) ==
		    ETIMEDOUT)
			break;
	jobs = w->head;
	w->head = NULL;
	w->tail = &w->head;
	*stop = w->stop;
	pthread_mutex_unlock(&w->lock);
	return jobs;
}

/* "user:password", or a NATS .creds file whose JWT and seed libnats
 * reads itself. */
static natsStatus set_credentials(natsOptions *o, const char *path,
				  char *why, size_t size)
{
	char line[1024], *colon, *nl;
	FILE *f;

	if (!*path)
		return NATS_OK;
	f = fopen(path, "r");
	if (!f) {
		snprintf(why, size, "bus_credentials %s: %s", path,
			 strerror(errno));
		return NATS_INVALID_ARG;
	}
	if (!fgets(line, sizeof(line), f))
		line[0] = '\0';
	fclose(f);
	if (strstr(line, "BEGIN NATS USER JWT"))
		return natsOptions_SetUserCredentialsFromFiles(o, path, NULL);
	nl = strpbrk(line, "\r\n");
	if (nl)
		*nl = '\0';
	colon = strchr(line, ':');
	if (!colon) {
		snprintf(why, size, "bus_credentials %s: neither a NATS "
			 ".creds file nor a line user:password", path);
		return NATS_INVALID_ARG;
	}
	*colon = '\0';
	return natsOptions_SetUserInfo(o, line, colon + 1);
}

static natsStatus make_options(struct busw *w, natsOptions **ret,
			       char *why, size_t size)
{
	const char *servers[16];
	char *list = strdup(w->c.servers), *tok, *save = NULL;
	natsOptions *o = NULL;
	natsStatus s;
	int n = 0;

	if (!list)
		return NATS_NO_MEMORY;
	for (tok = strtok_r(list, ", ", &save); tok && n < 16;
	     tok = strtok_r(NULL, ", ", &save))
		servers[n++] = tok;
	s = natsOptions_Create(&o);
	if (s == NATS_OK)
		s = natsOptions_SetServers(o, servers, n);
	if (s == NATS_OK)
		s = natsOptions_SetName(o, w->c.name);
	if (s == NATS_OK)
		s = natsOptions_SetTimeout(o, 2000);
	/* the servers in the order given: a desk names its own zone's
	 * node first */
	if (s == NATS_OK)
		s = natsOptions_SetNoRandomize(o, true);
	/* once connected, libnats reconnects for ever; what was not sent
	 * when the link broke is sent again from the outbox, in order, so
	 * libnats must not buffer it behind our back */
	if (s == NATS_OK)
		s = natsOptions_SetMaxReconnect(o, -1);
	if (s == NATS_OK)
		s = natsOptions_SetReconnectWait(o, 250);
	if (s == NATS_OK)
		s = natsOptions_SetReconnectBufSize(o, 0);
	if (s == NATS_OK)
		s = natsOptions_SetDisconnectedCB(o, on_disconnected, w);
	if (s == NATS_OK)
		s = natsOptions_SetReconnectedCB(o, on_reconnected, w);
	if (s == NATS_OK)
		s = natsOptions_SetClosedCB(o, on_closed, w);
	if (s == NATS_OK && *w->c.tls_ca)
		s = natsOptions_LoadCATrustedCertificates(o, w->c.tls_ca);
	if (s == NATS_OK && strstr(w->c.servers, "tls://"))
		s = natsOptions_SetSecure(o, true);
	if (s == NATS_OK)
		s = set_credentials(o, w->c.credentials, why, size);
	free(list);
	if (s != NATS_OK) {
		if (!*why)
			describe(s, 0, why, size);
		natsOptions_Destroy(o);
		return s;
	}
	*ret = o;
	return NATS_OK;
}

static bool has_subject(const jsStreamConfig *cfg, const char *subject)
{
	int i;

	for (i = 0; i < cfg->SubjectsLen; i++)
		if (strcmp(cfg->Subjects[i], subject) == 0)
			return true;
	return false;
}

/* CCP_EVENTS made if missing; one that exists must be ours: the subjects
 * and the replicas asked for (the limits are the operator's to change). */
static natsStatus ensure_stream(struct busw *w, char *why, size_t size,
				bool *fatal)
{
	const char *subjects[] = { BUS_SUBJECTS };
	jsStreamInfo *si = NULL;
	jsStreamConfig sc;
	jsErrCode jerr = 0;
	natsStatus s;

	s = js_GetStreamInfo(&si, w->js, BUS_STREAM, NULL, &jerr);
	if (s == NATS_OK) {
		const jsStreamConfig *cfg = si->Config;

		if (!has_subject(cfg, BUS_SUBJECTS) ||
		    cfg->Replicas != (int64_t)w->c.replicas) {
			snprintf(why, size, "stream " BUS_STREAM " exists "
				 "with other settings (%d subjects, the first "
				 "%s; %lld replicas); ccpd wants subject "
				 BUS_SUBJECTS " and %u replicas: change "
				 "bus_replicas, or delete the stream",
				 cfg->SubjectsLen, cfg->SubjectsLen ?
				 cfg->Subjects[0] : "none",
				 (long long)cfg->Replicas, w->c.replicas);
			*fatal = true;
			s = NATS_ERR;
		}
		jsStreamInfo_Destroy(si);
		return s;
	}
	if (s != NATS_NOT_FOUND && jerr != JSStreamNotFoundErr) {
		describe(s, jerr, why, size);
		return s;
	}
	jsStreamConfig_Init(&sc);
	sc.Name = BUS_STREAM;
	sc.Description = "ccpd: every agent's and contact's events";
	sc.Subjects = subjects;
	sc.SubjectsLen = 1;
	sc.Storage = js_FileStorage;
	sc.Replicas = w->c.replicas;
	sc.MaxAge = (int64_t)w->c.max_age_s * 1000000000LL;
	sc.MaxBytes = w->c.max_bytes ? (int64_t)w->c.max_bytes : -1;
	sc.Duplicates = (int64_t)w->c.dup_window_s * 1000000000LL;
	jerr = 0;
	s = js_AddStream(&si, w->js, &sc, NULL, &jerr);
	if (s != NATS_OK) {
		describe(s, jerr, why, size);
		snprintf(why + strlen(why), size - strlen(why),
			 ": cannot create stream " BUS_STREAM);
		/* while a cluster elects its leaders this fails for a
		 * while: try again; but another stream on our subjects,
		 * or replicas on a server without a cluster, will not go
		 * away by themselves */
		*fatal = jerr == JSStreamSubjectOverlapErr ||
			 jerr == JSStreamReplicasNotSupportedErr;
		return s;
	}
	jsStreamInfo_Destroy(si);
	return NATS_OK;
}

static natsStatus ensure_bucket(struct busw *w, char *why, size_t size,
				bool *fatal)
{
	kvStore *kv = NULL;
	jsErrCode jerr = 0;
	kvConfig kc;
	natsStatus s;

	s = js_KeyValue(&kv, w->js, BUS_BUCKET);
	if (s == NATS_NOT_FOUND) {
		kvConfig_Init(&kc);
		kc.Bucket = BUS_BUCKET;
		kc.Description = "ccpd: every agent's snapshot";
		kc.History = 1;
		kc.Replicas = (int)w->c.replicas;
		kc.StorageType = js_FileStorage;
		s = js_CreateKeyValue(&kv, w->js, &kc);
	}
	if (s != NATS_OK) {
		describe(s, jerr, why, size);
		snprintf(why + strlen(why), size - strlen(why),
			 ": cannot open bucket " BUS_BUCKET);
		*fatal = s == NATS_NOT_PERMITTED;
		return s;
	}
	kvStore_Destroy(kv);
	return NATS_OK;
}

static void disconnect(struct busw *w)
{
	if (w->watch) {
		natsSubscription_Unsubscribe(w->watch);
		natsSubscription_Destroy(w->watch);
		w->watch = NULL;
	}
	jsCtx_Destroy(w->js);
	w->js = NULL;
	if (w->nc) {
		struct timespec ts;

		/* close, and wait for libnats's last callback, so that none
		 * runs once w is gone */
		pthread_mutex_lock(&w->lock);
		w->closed = false;
		pthread_mutex_unlock(&w->lock);
		natsConnection_Close(w->nc);
		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_sec += 3;
		pthread_mutex_lock(&w->lock);
		while (!w->closed)
			if (pthread_cond_timedwait(&w->cond, &w->lock, &ts) ==
			    ETIMEDOUT)
				break;
		pthread_mutex_unlock(&w->lock);
		natsConnection_Destroy(w->nc);
		w->nc = NULL;
	}
}

/* Connect, then make sure the stream and the bucket are there. */
static natsStatus setup(struct busw *w, char *why, size_t size, bool *fatal)
{
	natsOptions *o = NULL;
	jsOptions jo;
	natsStatus s;

	*fatal = false;
	why[0] = '\0';
	s = make_options(w, &o, why, size);
	if (s != NATS_OK) {
		*fatal = true;
		return s;
	}
	s = natsConnection_Connect(&w->nc, o);
	natsOptions_Destroy(o);
	if (s != NATS_OK) {
		describe(s, 0, why, size);
		*fatal = s == NATS_CONNECTION_AUTH_FAILED ||
			 s == NATS_NOT_PERMITTED;
		w->nc = NULL;
		return s;
	}
	jsOptions_Init(&jo);
	jo.Wait = 5000;
	jo.PublishAsync.MaxPending = 4096;
	jo.PublishAsync.AckHandler = on_puback;
	jo.PublishAsync.AckHandlerClosure = w;
	s = natsConnection_JetStream(&w->js, w->nc, &jo);
	if (s == NATS_OK)
		s = ensure_stream(w, why, size, fatal);
	if (s == NATS_OK)
		s = ensure_bucket(w, why, size, fatal);
	if (s != NATS_OK) {
		if (!*why)
			describe(s, 0, why, size);
		disconnect(w);
	}
	return s;
}

/* An ordered consumer of the bucket's stream from each key's last value:
 * what kvStore_Watch does, but with a callback instead of a thread that
 * waits on Next. */
static void start_watch(struct busw *w)
{
	jsConsumerInfo *ci = NULL;
	jsSubOptions so;
	jsErrCode jerr = 0;
	natsStatus s;
	char why[256];

	if (w->watch || !w->js)
		return;
	jsSubOptions_Init(&so);
	so.Stream = "KV_" BUS_BUCKET;
	so.Ordered = true;
	so.Config.DeliverPolicy = js_DeliverLastPerSubject;
	s = js_Subscribe(&w->watch, w->js, "$KV." BUS_BUCKET ".>", on_kv, w,
			 NULL, &so, &jerr);
	if (s != NATS_OK) {
		describe(s, jerr, why, sizeof(why));
		note_text(w, BUSW_NACK, why);
		w->watch = NULL;
		return;
	}
	/* an empty bucket delivers nothing: ask whether anything waits */
	if (natsSubscription_GetConsumerInfo(&ci, w->watch, NULL, &jerr) ==
	    NATS_OK) {
		if (ci->NumPending == 0)
			note(w, BUSW_WATCH_READY, 0, NULL, NULL, 0);
		jsConsumerInfo_Destroy(ci);
	}
}

/* The stream's state changes since since_ms, read at once on this
 * thread (an hour of a floor is a few thousand messages); the worker's
 * other jobs wait meanwhile. */
static void read_history(struct busw *w, uint64_t since_ms)
{
	natsSubscription *sub = NULL;
	jsMsgMetaData *meta = NULL;
	jsConsumerInfo *ci = NULL;
	jsErrCode jerr = 0;
	jsSubOptions so;
	natsMsg *msg;
	natsStatus s;
	char why[256] = "";
	uint64_t pending = 1;
	unsigned n = 0;

	if (!w->js) {
		note_text(w, BUSW_HIST_DONE, "not connected");
		return;
	}
	jsSubOptions_Init(&so);
	so.Stream = BUS_STREAM;
	so.Ordered = true;
	so.Config.DeliverPolicy = js_DeliverByStartTime;
	so.Config.OptStartTime = (int64_t)since_ms * 1000000LL;
	s = js_SubscribeSync(&sub, w->js, "ccp.agent.*.agent.stateChange",
			     NULL, &so, &jerr);
	if (s == NATS_OK &&
	    natsSubscription_GetConsumerInfo(&ci, sub, NULL, &jerr) ==
	    NATS_OK) {
		pending = ci->NumPending + ci->Delivered.Consumer;
		jsConsumerInfo_Destroy(ci);
	}
	while (s == NATS_OK && pending > 0 && n < 1000000) {
		s = natsSubscription_NextMsg(&msg, sub, 3000);
		if (s != NATS_OK)
			break;
		note(w, BUSW_HIST, 0, NULL, natsMsg_GetData(msg),
		     (size_t)natsMsg_GetDataLength(msg));
		n++;
		if (natsMsg_GetMetaData(&meta, msg) == NATS_OK) {
			pending = meta->NumPending;
			jsMsgMetaData_Destroy(meta);
		}
		natsMsg_Destroy(msg);
	}
	if (s != NATS_OK)
		describe(s, jerr, why, sizeof(why));
	if (sub) {
		natsSubscription_Unsubscribe(sub);
		natsSubscription_Destroy(sub);
	}
	note_text(w, BUSW_HIST_DONE, why);
}

static void run_job(struct busw *w, struct job *j)
{
	natsMsg *msg = NULL;
	natsStatus s;
	char why[256];

	switch (j->kind) {
	case JOB_WATCH:
		w->want_watch = true;
		start_watch(w);
		return;
	case JOB_HISTORY:
		read_history(w, j->seq);
		return;
	case JOB_KV:
	case JOB_KV_DEL:
		if (!w->js)
			return;
		s = natsMsg_Create(&msg, j->subject, NULL, j->data,
				   (int)strlen(j->data));
		/* what kvStore_Delete sends: a marker the watchers see */
		if (s == NATS_OK && j->kind == JOB_KV_DEL)
			s = natsMsgHeader_Set(msg, "KV-Operation", "DEL");
		if (s == NATS_OK)
			s = js_PublishMsgAsync(w->js, &msg, NULL);
		natsMsg_Destroy(msg);
		return;
	case JOB_PUB:
		if (!w->js) {
			note(w, BUSW_NACK, j->seq, NULL, "not connected",
			     strlen("not connected"));
			return;
		}
		s = natsMsg_Create(&msg, j->subject, NULL, j->data,
				   (int)strlen(j->data));
		if (s == NATS_OK)
			s = natsMsgHeader_Set(msg, "Nats-Msg-Id", j->msg_id);
		if (s == NATS_OK)
			s = js_PublishMsgAsync(w->js, &msg, NULL);
		natsMsg_Destroy(msg);
		if (s != NATS_OK) {
			describe(s, 0, why, sizeof(why));
			note(w, BUSW_NACK, j->seq, NULL, why, strlen(why));
		}
		return;
	}
}

static void *worker(void *arg)
{
	struct busw *w = arg;
	unsigned backoff = 250;
	char why[512], last[512] = "";
	struct job *jobs, *j;
	bool stop = false, fatal;

	while (!stop) {
		if (!w->js) {
			if (setup(w, why, sizeof(why), &fatal) == NATS_OK) {
				char url[256] = "";

				backoff = 250;
				last[0] = '\0';
				natsConnection_GetConnectedUrl(w->nc, url,
							       sizeof(url));
				note_text(w, BUSW_CONNECTED, url);
				if (w->want_watch)
					start_watch(w);
			} else if (fatal) {
				note_text(w, BUSW_FAILED, why);
				/* wait for the stop, dropping the jobs */
				while (!stop) {
					jobs = take_jobs(w, 1000, &stop);
					for (; jobs; jobs = j) {
						j = jobs->next;
						job_free(jobs);
					}
				}
				break;
			} else {
				/* say it once per cause, not every retry */
				if (strcmp(why, last) != 0)
					note_text(w, BUSW_DISCONNECTED, why);
				snprintf(last, sizeof(last), "%s", why);
			}
		}
		jobs = take_jobs(w, w->js ? 1000 : backoff, &stop);
		if (!w->js && backoff < 4000)
			backoff *= 2;
		/* what was queued before the stop still goes out: the last
		 * events, the agent leaving the floor */
		for (; jobs; jobs = j) {
			j = jobs->next;
			if (!stop || jobs->kind != JOB_HISTORY)
				run_job(w, jobs);
			job_free(jobs);
		}
	}
	if (w->js) {
		jsPubOptions po;

		jsPubOptions_Init(&po);
		po.MaxWait = 1000;
		js_PublishAsyncComplete(w->js, &po);
	}
	disconnect(w);
	return NULL;
}

/* ---- the main loop's side ---- */

static int push(struct busw *w, struct job *j)
{
	pthread_mutex_lock(&w->lock);
	*w->tail = j;
	w->tail = &j->next;
	pthread_cond_signal(&w->cond);
	pthread_mutex_unlock(&w->lock);
	return 0;
}

static struct job *job_new(enum job_kind kind, const char *subject,
			   const char *msg_id, const char *data)
{
	struct job *j = calloc(1, sizeof(*j));

	if (!j)
		return NULL;
	j->kind = kind;
	j->subject = subject ? strdup(subject) : NULL;
	j->msg_id = msg_id ? strdup(msg_id) : NULL;
	j->data = data ? strdup(data) : NULL;
	if ((subject && !j->subject) || (msg_id && !j->msg_id) ||
	    (data && !j->data)) {
		job_free(j);
		return NULL;
	}
	return j;
}

int busw_publish(struct busw *w, uint64_t seq, const char *subject,
		 const char *msg_id, const char *payload)
{
	struct job *j = job_new(JOB_PUB, subject, msg_id, payload);

	if (!j)
		return -ENOMEM;
	j->seq = seq;
	return push(w, j);
}

int busw_kv_put(struct busw *w, const char *key, const char *value)
{
	char subject[512];
	struct job *j;

	snprintf(subject, sizeof(subject), "$KV." BUS_BUCKET ".%s", key);
	j = job_new(JOB_KV, subject, NULL, value);
	if (!j)
		return -ENOMEM;
	return push(w, j);
}

int busw_kv_delete(struct busw *w, const char *key)
{
	char subject[512];
	struct job *j;

	snprintf(subject, sizeof(subject), "$KV." BUS_BUCKET ".%s", key);
	j = job_new(JOB_KV_DEL, subject, NULL, "");
	if (!j)
		return -ENOMEM;
	return push(w, j);
}

int busw_watch(struct busw *w)
{
	struct job *j = job_new(JOB_WATCH, NULL, NULL, NULL);

	if (!j)
		return -ENOMEM;
	return push(w, j);
}

int busw_history(struct busw *w, uint64_t since_ms)
{
	struct job *j = job_new(JOB_HISTORY, NULL, NULL, NULL);

	if (!j)
		return -ENOMEM;
	j->seq = since_ms;
	return push(w, j);
}

static void conf_free(struct busw_conf *c)
{
	free(c->servers);
	free(c->credentials);
	free(c->tls_ca);
	free(c->name);
}

int busw_start(struct busw **ret, const struct busw_conf *c,
	       struct mqueue *mq)
{
	struct busw *w = calloc(1, sizeof(*w));
	int r;

	if (!w)
		return -ENOMEM;
	w->c = *c;
	w->c.servers = strdup(c->servers);
	w->c.credentials = strdup(c->credentials);
	w->c.tls_ca = strdup(c->tls_ca);
	w->c.name = strdup(c->name);
	w->mq = mq;
	w->tail = &w->head;
	w->ntail = &w->notes;
	if (!w->c.servers || !w->c.credentials || !w->c.tls_ca ||
	    !w->c.name) {
		conf_free(&w->c);
		free(w);
		return -ENOMEM;
	}
	pthread_mutex_init(&w->lock, NULL);
	pthread_mutex_init(&w->nlock, NULL);
	pthread_cond_init(&w->cond, NULL);
	r = -pthread_create(&w->thread, NULL, worker, w);
	if (r < 0) {
		pthread_mutex_destroy(&w->nlock);
		pthread_cond_destroy(&w->cond);
		pthread_mutex_destroy(&w->lock);
		conf_free(&w->c);
		free(w);
		return r;
	}
	*ret = w;
	return 0;
}

struct busw *busw_stop(struct busw *w)
{
	struct busw_msg *m, *next;
	struct job *j;

	if (!w)
		return NULL;
	pthread_mutex_lock(&w->lock);
	w->stop = true;
	pthread_cond_signal(&w->cond);
	pthread_mutex_unlock(&w->lock);
	pthread_join(w->thread, NULL);
	while ((j = w->head)) {
		w->head = j->next;
		job_free(j);
	}
	/* no nats_Close: it cleans OpenSSL up, and OpenSSL's own exit
	 * handler then does it again (a crash at exit after tls://); the
	 * connection's last callback has run (disconnect) */
	for (m = busw_notes_take(w); m; m = next) {
		next = m->next;
		busw_note_free(m);
	}
	pthread_mutex_destroy(&w->nlock);
	pthread_cond_destroy(&w->cond);
	pthread_mutex_destroy(&w->lock);
	conf_free(&w->c);
	free(w);
	return NULL;
}
