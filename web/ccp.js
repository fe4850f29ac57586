/* ccp.js: ccpd's Contact Control Panel for pages that embed it, in the
 * spirit of Amazon Connect Streams. One WebSocket to ccpd, JSON-RPC 2.0;
 * reconnects by itself and replays the events it missed by sequence
 * number, so a CRM sees every change even across a network blip.
 *
 *   ccp.init("https://ccp.example.com:8780", {username, password})
 *   ccp.agent(function (agent) { agent.onStateChange(...) })
 *   ccp.contact(function (contact) { contact.onIncoming(...) })
 *
 * Every action returns a Promise. See docs/embedding.md. */
(function (global) {
	"use strict";

	var RETRY_MS = [250, 500, 1000, 2000, 4000, 5000];
	var REQUEST_TIMEOUT_MS = 15000;

	function Emitter() { this.h = {}; }
	Emitter.prototype.on = function (name, fn) {
		(this.h[name] = this.h[name] || []).push(fn);
		var list = this.h[name];
		return function () {
			var i = list.indexOf(fn);
			if (i >= 0) list.splice(i, 1);
		};
	};
	Emitter.prototype.emit = function (name) {
		var args = Array.prototype.slice.call(arguments, 1);
		(this.h[name] || []).slice().forEach(function (fn) {
			try { fn.apply(null, args); } catch (e) {
				if (global.console) console.error("ccp.js: handler of " + name + " failed", e);
			}
		});
	};

	function RpcError(err) {
		var reason = err && err.data && err.data.reason;
		this.name = "RpcError";
		this.code = err ? err.code : -32603;
		this.message = reason || (err && err.message) || "request failed";
		this.data = err ? err.data : null;
	}
	RpcError.prototype = Object.create(Error.prototype);

	/* ---- the agent ---- */

	function Agent(core) {
		this.core = core;
		this.ev = new Emitter();
		this.data = null;
	}
	var A = Agent.prototype;
	A.getState = function () { return this.data; };
	A.getStatus = function () { return this.data ? this.data.status : null; };
	A.getName = function () { return this.core.session ? this.core.session.displayName || this.core.session.username : null; };
	A.setState = function (name) { return this.core.call("agent.setState", { state: name }); };
	A.clearNextState = function () { return this.core.call("agent.clearNextState"); };
	A.listStates = function () { return this.core.call("agent.listStates"); };
	A.getConfiguration = function () { return this.core.call("agent.getConfiguration"); };
	/* Resolves with {contactId} at once: the contact's id, before it rings. */
	A.connect = function (endpoint) { return this.core.call("agent.connect", { endpoint: endpoint }); };
	A.mute = function () { return this.core.call("agent.mute"); };
	A.unmute = function () { return this.core.call("agent.unmute"); };
	/* Off the softphone onto the desk phone, with the connected call. */
	A.moveToDeskPhone = function () { return this.core.call("agent.moveToDeskPhone"); };
	["onStateChange", "onRoutable", "onNotRoutable", "onOffline",
	 "onAfterCallWork", "onError", "onEnqueuedNextState", "onMuteToggle",
	 "onSoftphoneError", "onDeskPhoneMove"].forEach(function (n) {
		A[n] = function (fn) { return this.ev.on(n, fn); };
	});
	A._set = function (data, oldState) {
		var was = this.data;
		this.data = data;
		if (!was || was.state !== data.state || oldState !== undefined) {
			var change = { oldState: oldState !== undefined ? oldState : (was ? was.state : null),
				       newState: data.state, agent: data };
			this.ev.emit("onStateChange", change);
			if (data.type === "routable") this.ev.emit("onRoutable", data);
			else if (data.type === "offline") this.ev.emit("onOffline", data);
			else if (data.type === "not_routable") this.ev.emit("onNotRoutable", data);
			if (data.state === "AfterContactWork") this.ev.emit("onAfterCallWork", data);
			if (data.type === "error") this.ev.emit("onError", data);
		}
		if (was && was.next !== data.next && data.next) this.ev.emit("onEnqueuedNextState", data);
		if (was && data.muted !== undefined && was.muted !== data.muted) this.ev.emit("onMuteToggle", { muted: data.muted });
	};

	/* ---- contacts ---- */

	var STATE_EVENTS = {
		incoming: "onIncoming", connecting: "onConnecting", connected: "onConnected",
		missed: "onMissed", ended: "onEnded", rejected: "onEnded", error: "onError",
		destroyed: "onDestroy"
	};

	function Contact(core, data) {
		this.core = core;
		this.ev = new Emitter();
		this.data = data;
		this.id = data.contactId;
	}
	var C = Contact.prototype;
	C.getContactId = function () { return this.id; };
	C.getState = function () { return this.data.state; };
	C.getDirection = function () { return this.data.direction; };
	C.getCustomer = function () { return this.data.customer || {}; };
	/* The screen pop's attributes, shaped as Streams' getAttributes():
	 * {name: {name, value}}. Values are text from the caller's side: show
	 * them with textContent, never as markup. */
	C.getAttributes = function () {
		var a = this.data.attributes || {}, out = {};
		Object.keys(a).forEach(function (k) { out[k] = { name: k, value: a[k] }; });
		return out;
	};
	C.getConnections = function () { return this.data.connections || []; };
	C.isInbound = function () { return this.data.direction === "inbound"; };
	/* The connections by party: the agent's own, the customer's, and the
	 * third parties added by consult or transfer (as in Streams,
	 * getAgentConnection and getInitialConnection). */
	C._byParty = function (party) {
		return this.getConnections().filter(function (k) { return k.party === party; });
	};
	C.getAgentConnection = function () { return this._byParty("agent")[0]; };
	C.getInitialConnection = function () { return this._byParty("customer")[0]; };
	C.getThirdPartyConnections = function () { return this._byParty("thirdParty"); };
	C._p = function (extra) {
		var p = { contactId: this.id };
		for (var k in extra || {}) if (extra[k] !== undefined) p[k] = extra[k];
		return p;
	};
	C.accept = function () { return this.core.call("contact.accept", this._p()); };
	C.reject = function () { return this.core.call("contact.reject", this._p()); };
	C.clear = function () { return this.core.call("contact.clear", this._p()); };
	/* Hang up (or, on the agent's own connection in a conference, leave). */
	C.destroy = function (connectionId) { return this.core.call("connection.destroy", this._p({ connectionId: connectionId })); };
	C.hangup = C.destroy;
	C.hold = function (connectionId) { return this.core.call("connection.hold", this._p({ connectionId: connectionId })); };
	C.resume = function (connectionId) { return this.core.call("connection.resume", this._p({ connectionId: connectionId })); };
	C.sendDigits = function (digits) { return this.core.call("connection.sendDigits", this._p({ digits: digits })); };
	C.addConnection = function (endpoint) { return this.core.call("contact.addConnection", this._p({ endpoint: endpoint })); };
	C.toggleActiveConnections = function () { return this.core.call("contact.toggleActiveConnections", this._p()); };
	C.conferenceConnections = function () { return this.core.call("contact.conferenceConnections", this._p()); };
	["onIncoming", "onConnecting", "onAccepted", "onConnected", "onMissed",
	 "onEnded", "onACW", "onDestroy", "onError", "onRefresh"].forEach(function (n) {
		C[n] = function (fn) { return this.ev.on(n, fn); };
	});
	/* A new view of the contact: from an event (type) or a snapshot. */
	C._set = function (data, type) {
		var was = this.data;
		this.data = data;
		this.ev.emit("onRefresh", this);
		if (type === "contact.acw") { this.ev.emit("onACW", this); return; }
		if (was.state === data.state && type !== "contact.incoming") return;
		if (data.state === "connecting" && data.direction === "inbound")
			this.ev.emit("onAccepted", this);
		var n = STATE_EVENTS[data.state];
		if (n) this.ev.emit(n, this);
		if (data.state === "ended" && type === undefined && data.timestamps && !data.timestamps.acwEnded)
			this.ev.emit("onACW", this);
	};

	/* ---- the connection ---- */

	function Core() {
		this.ev = new Emitter();
		this.agentObj = new Agent(this);
		this.contacts = {};
		this.pending = {};
		this.nextId = 0;
		this.methods = null;
		this.session = null;
		this.seq = null;
		this.instance = null;
		this.status = "idle";
		this.tries = 0;
		this.queue = [];     /* what waits for the connection */
		this.agentCbs = [];
		this.contactCbs = [];
	}
	var P = Core.prototype;

	P._status = function (s, detail) {
		this.status = s;
		this.ev.emit("connection", s, detail);
	};

	P.init = function (url, options) {
		var self = this;
		this.options = options || {};
		this.base = String(url || global.location.origin).replace(/\/+$/, "");
		this.wsUrl = this.options.wsUrl || this.base.replace(/^http/, "ws") + "/ws";
		this.tokenKey = "ccpd.token " + this.base;
		if (this.ws && !this.stopped) return this.ready;
		this.stopped = false;
		this.tries = 0;
		this.ready = new Promise(function (resolve, reject) {
			self._resolveReady = resolve;
			self._rejectReady = reject;
		});
		this._open();
		return this.ready;
	};

	P._open = function () {
		var self = this, ws;
		this._status(this.tries ? "reconnecting" : "connecting");
		try {
			ws = new WebSocket(this.wsUrl);
		} catch (e) {
			this._closed(e);
			return;
		}
		this.ws = ws;
		ws.onopen = function () { self._opened(); };
		ws.onmessage = function (m) { self._message(m.data); };
		ws.onclose = function (e) { if (self.ws === ws) self._closed(e); };
		ws.onerror = function () { /* onclose follows */ };
	};

	P._send = function (method, params) {
		var self = this, id = ++this.nextId;
		var msg = { jsonrpc: "2.0", id: id, method: method };
		if (params !== undefined) msg.params = params;
		return new Promise(function (resolve, reject) {
			var t = setTimeout(function () {
				delete self.pending[id];
				reject(new RpcError({ code: -32603, data: { reason: method + ": no answer from ccpd" } }));
			}, REQUEST_TIMEOUT_MS);
			self.pending[id] = { resolve: resolve, reject: reject, t: t };
			self.ws.send(JSON.stringify(msg));
		});
	};

	P._opened = function () {
		var self = this;
		this._send("daemon.listMethods").then(function (m) {
			self.methods = m;
		}, function () {
			self.methods = [];
		}).then(function () {
			return self._authenticate();
		}).then(function () {
			var p = {};
			if (self.seq !== null) { p.since = self.seq; p.instance = self.instance; }
			return self._send("events.subscribe", p);
		}).then(function (sub) {
			self.tries = 0;
			self._snapshot(sub);
			self._status("connected");
			var q = self.queue; self.queue = [];
			q.forEach(function (f) { f(); });
			if (self._resolveReady) { self._resolveReady(self); self._resolveReady = null; }
		}).catch(function (e) {
			self._status("error", e);
			if (e && (e.code === -32001 || e.code === -32002) && self._rejectReady) {
				/* wrong credentials: retrying would not help */
				self._rejectReady(e);
				self._rejectReady = self._resolveReady = null;
				self.stop();
				return;
			}
			if (self.ws) self.ws.close();
		});
	};

	/* session.resume with the token this tab holds, else session.login
	 * with what the page gave; nothing when the daemon has no sessions. */
	P._authenticate = function () {
		var self = this, o = this.options, token;
		if (!this.has("session.login")) return Promise.resolve();
		try { token = global.sessionStorage.getItem(this.tokenKey); } catch (e) { token = null; }
		var login = function () {
			var creds = o.username ? Promise.resolve({ username: o.username, password: o.password })
				: o.login ? Promise.resolve(o.login()) : Promise.reject(new RpcError({ code: -32001, data: { reason: "log in first" } }));
			return creds.then(function (c) {
				return self._send("session.login", { username: c.username, password: c.password });
			}).then(function (s) {
				self.session = s;
				try { global.sessionStorage.setItem(self.tokenKey, s.token); } catch (e) { /* private mode */ }
				self.ev.emit("session", s);
				/* a one-time password: nothing else answers until the
				 * user has chosen their own (ccp.changePassword) */
				if (s.mustChangePassword)
					return new Promise(function (resolve) { self.pwWaiter = resolve; });
			});
		};
		if (token && this.has("session.resume"))
			return this._send("session.resume", { token: token }).then(function (s) {
				self.session = s;
				self.ev.emit("session", s);
			}, function () {
				try { global.sessionStorage.removeItem(self.tokenKey); } catch (e) { /* ignore */ }
				return login();
			});
		return login();
	};

	P._closed = function (e) {
		var self = this;
		this.ws = null;
		this.pwWaiter = null;
		for (var id in this.pending) {
			clearTimeout(this.pending[id].t);
			this.pending[id].reject(new RpcError({ code: -32603, data: { reason: "connection to ccpd lost" } }));
		}
		this.pending = {};
		if (this.stopped) { this._status("closed"); return; }
		this._status("disconnected", e && e.code);
		var wait = RETRY_MS[Math.min(this.tries, RETRY_MS.length - 1)];
		this.tries++;
		this.retryTimer = setTimeout(function () { self._open(); }, wait);
	};

	P._message = function (text) {
		var m;
		try { m = JSON.parse(text); } catch (e) { return; }
		if (m.method === "event") { this._event(m.params); return; }
		var p = this.pending[m.id];
		if (!p) return;
		delete this.pending[m.id];
		clearTimeout(p.t);
		if (m.error) p.reject(new RpcError(m.error));
		else p.resolve(m.result);
	};

	P._contact = function (data, type) {
		var c = this.contacts[data.contactId], self = this;
		if (!c) {
			if (data.state === "destroyed" || data.state === "refused") return null;
			c = this.contacts[data.contactId] = new Contact(this, { contactId: data.contactId, state: null });
			this.contactCbs.forEach(function (cb) { self._safe(cb, c); });
		}
		c._set(data, type);
		if (data.state === "destroyed" || type === "contact.destroyed") {
			if (data.state !== "destroyed") c.ev.emit("onDestroy", c);
			delete this.contacts[data.contactId];
		}
		return c;
	};

	P._snapshot = function (sub) {
		var self = this, snap = sub.snapshot, seen = {};
		this.instance = sub.instance;
		/* replayed events follow the answer; a resync or a first
		 * subscription takes the snapshot as the truth */
		if (this.seq === null || sub.resync || sub.replayed === 0) {
			(snap.contacts || []).forEach(function (d) {
				seen[d.contactId] = true;
				self._contact(d);
			});
			Object.keys(this.contacts).forEach(function (id) {
				if (!seen[id]) {
					var c = self.contacts[id];
					delete self.contacts[id];
					c.ev.emit("onDestroy", c);
				}
			});
			this.agentObj._set(snap.agent);
			this.seq = sub.seq;
		}
		this.ev.emit("snapshot", snap);
	};

	P._event = function (e) {
		/* the floor's events have numbers of their own (floor.get) */
		if (e.type === "floor.changed") { this.ev.emit("floor", e.data || {}); return; }
		if (this.seq !== null && e.seq <= this.seq) return;
		this.seq = e.seq;
		var d = e.data || {};
		if (e.type === "agent.stateChange") this.agentObj._set(d.agent, d.oldState);
		/* connection events (hold, resume, a third party joining or
		 * leaving) carry the whole contact too */
		else if ((e.type.indexOf("contact.") === 0 || e.type.indexOf("connection.") === 0) && d.contact)
			this._contact(d.contact, e.type);
		else if (e.type === "agent.muteToggle" && d.agent) this.agentObj._set(d.agent);
		else if (e.type === "agent.softphoneError") this.agentObj.ev.emit("onSoftphoneError", d);
		else if (e.type === "agent.deskPhoneMove") this.agentObj.ev.emit("onDeskPhoneMove", d);
		this.ev.emit("event", e);
	};

	P._safe = function (fn, arg) {
		try { fn(arg); } catch (e) { if (global.console) console.error("ccp.js: callback failed", e); }
	};

	/* ---- public ---- */

	P.call = function (method, params) {
		var self = this;
		if (this.status === "connected" && this.ws)
			return this._send(method, params);
		return new Promise(function (resolve, reject) {
			self.queue.push(function () { self._send(method, params).then(resolve, reject); });
		});
	};
	P.has = function (method) { return !!this.methods && this.methods.indexOf(method) >= 0; };
	P.agent = function (cb) {
		var self = this;
		this.agentCbs.push(cb);
		if (this.ready) this.ready.then(function () { self._safe(cb, self.agentObj); }, function () {});
		return this;
	};
	P.contact = function (cb) {
		var self = this;
		this.contactCbs.push(cb);
		Object.keys(this.contacts).forEach(function (id) { self._safe(cb, self.contacts[id]); });
		return this;
	};
	P.getContacts = function () {
		var self = this;
		return Object.keys(this.contacts).map(function (id) { return self.contacts[id]; });
	};
	P.onConnection = function (fn) { return this.ev.on("connection", fn); };
	P.onSession = function (fn) { return this.ev.on("session", fn); };
	P.onEvent = function (fn) { return this.ev.on("event", fn); };
	/* floor.changed, after floor.get: {agents, removed, totals, full} */
	P.onFloor = function (fn) { return this.ev.on("floor", fn); };
	/* A number as the daemon would dial it, formatted for people; the
	 * text as typed when the daemon has no phone.format. */
	P.formatNumber = function (number, format) {
		if (!this.has("phone.format") || !number) return Promise.resolve(number);
		return this.call("phone.format", { number: number, format: format || "INTERNATIONAL" })
			.then(function (r) { return r.formatted || number; }, function () { return number; });
	};
	P.changePassword = function (oldPassword, newPassword) {
		var self = this, p = { oldPassword: oldPassword, newPassword: newPassword };
		if (!this.pwWaiter || !this.ws) return this.call("session.changePassword", p);
		/* during the login itself, before the connection is up */
		return this._send("session.changePassword", p).then(function (s) {
			var w = self.pwWaiter;
			self.pwWaiter = null;
			if (self.session) self.session.mustChangePassword = false;
			w();
			return s;
		});
	};
	P.logout = function () {
		var self = this;
		try { global.sessionStorage.removeItem(this.tokenKey); } catch (e) { /* ignore */ }
		var done = function () { self.stop(); };
		if (!this.has("session.logout")) { done(); return Promise.resolve(); }
		return this.call("session.logout").then(done, done);
	};
	P.stop = function () {
		this.stopped = true;
		clearTimeout(this.retryTimer);
		if (this.ws) this.ws.close();
		else this._status("closed");
	};

	var core = new Core();
	var ccp = {
		init: function (url, options) { return core.init(url, options); },
		agent: function (cb) { core.agent(cb); return ccp; },
		contact: function (cb) { core.contact(cb); return ccp; },
		call: function (m, p) { return core.call(m, p); },
		has: function (m) { return core.has(m); },
		getAgent: function () { return core.agentObj; },
		getContacts: function () { return core.getContacts(); },
		onConnection: function (fn) { return core.onConnection(fn); },
		onSession: function (fn) { return core.onSession(fn); },
		onEvent: function (fn) { return core.onEvent(fn); },
		onFloor: function (fn) { return core.onFloor(fn); },
		formatNumber: function (n, f) { return core.formatNumber(n, f); },
		changePassword: function (o, n) { return core.changePassword(o, n); },
		logout: function () { return core.logout(); },
		stop: function () { core.stop(); },
		status: function () { return core.status; },
		session: function () { return core.session; },
		RpcError: RpcError
	};
	global.ccp = ccp;
})(typeof window !== "undefined" ? window : this);
