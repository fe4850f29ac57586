/* The CCP page: a view of ccpd's agent and contacts through ccp.js. The
 * daemon owns the call; this page may be closed or reloaded at any time
 * and shows the same state again when it comes back. */
(function () {
	"use strict";

	var $ = function (id) { return document.getElementById(id); };
	var agent = ccp.getAgent();
	var ringer = null, audio = null, notified = {};
	var dialTimer = null;

	function text(id, t) { $(id).textContent = t == null ? "" : t; }
	function show(id, on) { $(id).hidden = !on; }
	function err(id) {
		return function (e) { text(id, e && e.message ? e.message : String(e)); };
	}
	function clearErr(id) { text(id, ""); }

	/* ---- connection ---- */

	var CONN_TEXT = {
		idle: "Not connected", connecting: "Connecting…", connected: "Connected",
		reconnecting: "Reconnecting…", disconnected: "Disconnected: reconnecting…",
		error: "Connection problem", closed: "Logged out"
	};
	ccp.onConnection(function (s) {
		document.body.dataset.connection = s;
		text("conn-text", CONN_TEXT[s] || s);
	});
	ccp.onSession(function (s) {
		text("who", s.displayName || s.username);
		show("logout", true);
		if (s.mustChangePassword) { show("pwchange", true); $("pw-old").focus(); }
	});

	/* ---- sound and notifications (started from a click, as browsers
	 * require) ---- */

	function unlockAudio() {
		if (!audio && window.AudioContext) audio = new AudioContext();
		if (audio && audio.state === "suspended") audio.resume();
		if (window.Notification && Notification.permission === "default")
			Notification.requestPermission();
	}
	document.addEventListener("click", unlockAudio);
	document.addEventListener("keydown", unlockAudio);

	function ring(on) {
		if (!on) {
			if (ringer) { clearInterval(ringer); ringer = null; }
			return;
		}
		if (ringer || !audio) return;
		var burst = function () {
			var t = audio.currentTime;
			[0, 0.5].forEach(function (off) {
				var o = audio.createOscillator(), g = audio.createGain();
				o.frequency.value = 440;
				g.gain.setValueAtTime(0.15, t + off);
				g.gain.setValueAtTime(0, t + off + 0.4);
				o.connect(g); g.connect(audio.destination);
				o.start(t + off); o.stop(t + off + 0.4);
			});
		};
		burst();
		ringer = setInterval(burst, 3000);
	}

	/* ---- numbers ---- */

	function userPart(uri) {
		var m = /^sips?:([^@;]+)@/.exec(uri || "");
		return m ? decodeURIComponent(m[1]) : uri || "";
	}
	function showNumber(id, contact) {
		var c = contact.getCustomer();
		var raw = c.e164 || userPart(c.uri);
		text(id, raw);
		if (c.e164) ccp.formatNumber(c.e164).then(function (f) { text(id, f); });
		return raw;
	}

	/* The contact's attributes as name/value rows; text only (they come
	 * from the caller's side through the ACD). */
	function showAttributes(id, contact) {
		var dl = $(id), attrs = contact.getAttributes(), names = Object.keys(attrs);
		var key = contact.getContactId() + ":" + names.length;
		if (dl.dataset.shown === key) return;
		dl.dataset.shown = key;
		while (dl.firstChild) dl.removeChild(dl.firstChild);
		names.forEach(function (n) {
			var dt = document.createElement("dt"), dd = document.createElement("dd");
			dt.textContent = n;
			dd.textContent = attrs[n].value;
			dl.appendChild(dt);
			dl.appendChild(dd);
		});
		dl.hidden = names.length === 0;
	}

	/* ---- what is on screen ---- */

	function since(ms) {
		if (!ms) return "";
		var s = Math.max(0, Math.round((Date.now() - ms) / 1000));
		var m = Math.floor(s / 60);
		return m + ":" + String(s % 60).padStart(2, "0");
	}

	function find(pred) {
		return ccp.getContacts().filter(pred)[0] || null;
	}

	function render() {
		var a = agent.getState();
		if (!a) return;
		document.body.dataset.state = a.state;
		document.body.dataset.status = a.status;
		text("state", a.state);
		$("state").className = "state " + a.type;
		if ($("status-select").value !== a.status) $("status-select").value = a.status;
		show("next", !!a.next);
		text("next-state", a.next);

		var inc = find(function (c) { return c.getState() === "incoming"; });
		show("incoming", !!inc);
		if (inc) {
			showNumber("incoming-number", inc);
			text("incoming-name", inc.getCustomer().displayName);
			showAttributes("incoming-attributes", inc);
			document.body.dataset.contact = inc.getContactId();
		}
		ring(!!inc);

		var call = find(function (c) { return c.getState() === "connecting" || c.getState() === "connected"; });
		show("call", !!call);
		if (call) {
			showNumber("call-number", call);
			text("call-name", call.getCustomer().displayName);
			showAttributes("call-attributes", call);
			var conn = call.getInitialConnection() || {};
			var held = conn.state === "hold";
			text("call-state", held ? "On hold" : call.getState() === "connected" ? "Connected" : "Connecting…");
			document.body.dataset.contact = call.getContactId();
			document.body.dataset.contactState = held ? "hold" : call.getState();
			$("hold").hidden = !ccp.has("connection.hold") || held;
			$("resume").hidden = !ccp.has("connection.resume") || !held;
			$("mute").hidden = !ccp.has("agent.mute") || !!a.muted;
			$("unmute").hidden = !ccp.has("agent.unmute") || !a.muted;
			$("leave").hidden = !ccp.has("contact.addConnection") ||
				call.getThirdPartyConnections().every(function (k) { return k.state === "disconnected"; });
		}

		var wrap = find(function (c) { return c.getState() === "ended" || c.getState() === "error"; });
		show("acw", !!wrap);
		if (wrap) {
			showNumber("acw-number", wrap);
			text("acw-title", wrap.getState() === "error" ? "Call failed" : "After-contact work");
			document.body.dataset.contact = wrap.getContactId();
			document.body.dataset.contactState = wrap.getState();
		}
		if (!inc && !call && !wrap) {
			delete document.body.dataset.contact;
			delete document.body.dataset.contactState;
		} else if (inc) {
			document.body.dataset.contactState = "incoming";
		}
		tick();
	}

	function tick() {
		var a = agent.getState();
		if (a) text("since", since(a.since));
		var call = find(function (c) { return c.getState() === "connected"; });
		if (call) text("call-timer", since(call.data.timestamps && call.data.timestamps.connected));
		var wrap = find(function (c) { return c.getState() === "ended"; });
		if (wrap) text("acw-timer", since(wrap.data.timestamps && wrap.data.timestamps.ended));
	}
	setInterval(tick, 1000);

	agent.onStateChange(render);
	ccp.contact(function (c) {
		c.onRefresh(render);
		c.onDestroy(render);
		c.onIncoming(function () {
			render();
			if (document.hidden && window.Notification && Notification.permission === "granted" &&
			    !notified[c.getContactId()]) {
				notified[c.getContactId()] = true;
				var n = new Notification("Incoming call", { body: $("incoming-number").textContent, tag: c.getContactId() });
				n.onclick = function () { window.focus(); $("accept").focus(); n.close(); };
			}
		});
	});

	/* ---- actions ---- */

	function current(states) {
		return find(function (c) { return states.indexOf(c.getState()) >= 0; });
	}
	function act(errId, states, fn) {
		return function () {
			clearErr(errId);
			var c = current(states);
			if (c) fn(c).catch(err(errId));
		};
	}

	$("status-select").addEventListener("change", function () {
		clearErr("agent-error");
		agent.setState(this.value).catch(err("agent-error"));
	});
	$("clear-next").addEventListener("click", function () {
		agent.clearNextState().catch(err("agent-error"));
	});
	/* ---- the softphone's audio failed: offer the desk phone ---- */

	var MOVE_TEXT = {
		ringing: "Ringing your desk phone; the call moves when you pick it up.",
		moved: "You are on the desk phone.",
		failed: "The desk phone did not take the call"
	};
	agent.onSoftphoneError(function (e) {
		text("softphone-error-text", e.errorMessage);
		text("desk-move", "");
		text("desk-extension", e.deskPhone ? e.deskPhone.extension : "");
		show("desk-offer", !!e.deskPhone && e.deskPhone.fallback === "offer");
		show("softphone-error", true);
	});
	agent.onDeskPhoneMove(function (e) {
		show("desk-offer", e.status === "failed");
		text("desk-move", MOVE_TEXT[e.status] + (e.reason ? ": " + e.reason : ""));
		show("softphone-error", true);
	});
	$("move-to-desk").addEventListener("click", function () {
		show("desk-offer", false);
		agent.moveToDeskPhone().catch(function (e) {
			show("desk-offer", true);
			text("desk-move", e && e.message ? e.message : String(e));
		});
	});

	$("accept").addEventListener("click", act("call-error", ["incoming"], function (c) { return c.accept(); }));
	$("reject").addEventListener("click", act("call-error", ["incoming"], function (c) { return c.reject(); }));
	$("hangup").addEventListener("click", act("call-error", ["connecting", "connected"], function (c) { return c.destroy(); }));
	$("hold").addEventListener("click", act("call-error", ["connected"], function (c) { return c.hold(); }));
	$("resume").addEventListener("click", act("call-error", ["connected"], function (c) { return c.resume(); }));
	$("mute").addEventListener("click", function () { agent.mute().catch(err("call-error")); });
	$("unmute").addEventListener("click", function () { agent.unmute().catch(err("call-error")); });
	$("clear").addEventListener("click", act("agent-error", ["ended", "error"], function (c) { return c.clear(); }));
	$("consult").addEventListener("click", act("call-error", ["connected"], function (c) { return c.addConnection($("transfer-to").value.trim()); }));
	$("swap").addEventListener("click", act("call-error", ["connected"], function (c) { return c.toggleActiveConnections(); }));
	$("join").addEventListener("click", act("call-error", ["connected"], function (c) { return c.conferenceConnections(); }));
	$("leave").addEventListener("click", act("call-error", ["connected"], function (c) {
		var own = c.getAgentConnection();
		return c.destroy(own && own.connectionId);
	}));

	function pad(id, onKey) {
		"123456789*0#".split("").forEach(function (k) {
			var b = document.createElement("button");
			b.type = "button";
			b.textContent = k;
			b.setAttribute("aria-label", k === "*" ? "star" : k === "#" ? "pound" : k);
			b.addEventListener("click", function () { onKey(k); });
			$(id).appendChild(b);
		});
	}
	pad("keypad", function (k) {
		var c = current(["connected"]);
		if (c) c.sendDigits(k).catch(err("call-error"));
	});
	pad("dialpad", function (k) {
		var i = $("dial-input");
		i.value += k;
		formatDial();
	});

	/* as the agent types: the number as the daemon reads it */
	function formatDial() {
		clearTimeout(dialTimer);
		var v = $("dial-input").value.trim();
		dialTimer = setTimeout(function () {
			if (!v || /^sips?:/.test(v)) { text("dial-formatted", ""); return; }
			ccp.formatNumber(v).then(function (f) {
				if ($("dial-input").value.trim() === v) text("dial-formatted", f === v ? "" : f);
			});
		}, 150);
	}
	$("dial-input").addEventListener("input", formatDial);
	$("dial-input").addEventListener("keydown", function (e) {
		if (e.key === "Enter") { e.preventDefault(); dial(); }
	});
	function dial() {
		var v = $("dial-input").value.trim();
		clearErr("dial-error");
		if (!v) return;
		var endpoint = Promise.resolve(v);
		if (!/^sips?:/.test(v) && ccp.has("phone.normalize"))
			endpoint = ccp.call("phone.normalize", { number: v }).then(function (r) { return r.e164 || v; }, function () { return v; });
		endpoint.then(function (e) { return agent.connect(e); }).then(function () {
			$("dial-input").value = "";
			text("dial-formatted", "");
		}, err("dial-error"));
	}
	$("dial").addEventListener("click", dial);

	$("logout").addEventListener("click", function () {
		ccp.logout().then(function () { location.reload(); });
	});


	/* ---- the floor (floor.view, and ccpd on the bus) ---- */

	var floor = { on: false, agents: {}, totals: {}, sort: "agent", dir: 1, hist: null };
	var COLORS = ["#1a7f37", "#0b5cad", "#b42318", "#9a6700", "#8250df", "#57606a",
		"#bf3989", "#1b7c83", "#953800", "#24292f"];
	var colorOf = {};
	function stateColor(s) {
		if (!colorOf[s]) colorOf[s] = COLORS[Object.keys(colorOf).length % COLORS.length];
		return colorOf[s];
	}
	function el(tag, attrs, textContent) {
		var e = document.createElement(tag);
		Object.keys(attrs || {}).forEach(function (k) { e.setAttribute(k, attrs[k]); });
		if (textContent != null) e.textContent = textContent;
		return e;
	}
	function floorContact(a) {
		var c = (a.contacts || [])[0];
		return c ? c.state : "";
	}
	function floorKey(a) {
		switch (floor.sort) {
		case "state": return a.state || "";
		case "since": return -(a.since || 0);
		case "contact": return floorContact(a);
		case "desk": return a.desk || "";
		default: return (a.agent || "").toLowerCase();
		}
	}
	function renderFloor() {
		var box = $("floor-totals");
		box.innerHTML = "";
		Object.keys(floor.totals).sort().forEach(function (s) {
			var span = el("span", { "data-state": s });
			span.appendChild(el("strong", null, floor.totals[s]));
			span.appendChild(document.createTextNode(" " + s));
			box.appendChild(span);
		});
		var rows = Object.keys(floor.agents).map(function (k) { return floor.agents[k]; });
		rows.sort(function (x, y) {
			var a = floorKey(x), b = floorKey(y);
			if (a === b) return (x.agent || "") < (y.agent || "") ? -1 : 1;
			return (a < b ? -1 : 1) * floor.dir;
		});
		var body = $("floor-rows");
		body.innerHTML = "";
		rows.forEach(function (a) {
			var tr = el("tr", { "data-agent": a.agent, "data-state": a.state,
				"data-unreachable": a.unreachable ? "true" : "false" });
			tr.appendChild(el("td", null, a.agent));
			tr.appendChild(el("td", null, a.unreachable ? "Unreachable (last " + (a.lastState || "?") + ")" : a.state));
			tr.appendChild(el("td", { "class": "time", "data-since": a.since || 0 }, since(a.since)));
			tr.appendChild(el("td", null, floorContact(a)));
			tr.appendChild(el("td", { title: a.desk || "" }, (a.desk || "").slice(0, 8)));
			body.appendChild(tr);
		});
		document.querySelectorAll("#floor-table th").forEach(function (th) {
			if (th.dataset.sort === floor.sort)
				th.setAttribute("aria-sort", floor.dir > 0 ? "ascending" : "descending");
			else th.removeAttribute("aria-sort");
		});
	}
	function tickFloor() {
		document.querySelectorAll("#floor-rows td.time").forEach(function (td) {
			td.textContent = since(Number(td.dataset.since));
		});
	}
	setInterval(tickFloor, 1000);
	document.querySelectorAll("#floor-table th button").forEach(function (b) {
		b.addEventListener("click", function () {
			var key = b.parentNode.dataset.sort;
			floor.dir = floor.sort === key ? -floor.dir : 1;
			floor.sort = key;
			renderFloor();
		});
	});

	/* the counts per state over the last hour, one line per state */
	function renderChart(points) {
		var svg = $("floor-chart"), ns = "http://www.w3.org/2000/svg";
		var states = {}, max = 1;
		points.forEach(function (p) {
			Object.keys(p.totals).forEach(function (s) {
				states[s] = true;
				if (p.totals[s] > max) max = p.totals[s];
			});
		});
		svg.innerHTML = "";
		svg.dataset.points = points.length;
		var legend = $("floor-legend");
		legend.innerHTML = "";
		Object.keys(states).sort().forEach(function (s) {
			var line = document.createElementNS(ns, "polyline");
			line.setAttribute("data-state", s);
			line.setAttribute("fill", "none");
			line.setAttribute("stroke", stateColor(s));
			line.setAttribute("stroke-width", "2");
			line.setAttribute("points", points.map(function (p, i) {
				var x = points.length > 1 ? i * 600 / (points.length - 1) : 0;
				var y = 125 - (p.totals[s] || 0) * 115 / max;
				return x.toFixed(1) + "," + y.toFixed(1);
			}).join(" "));
			line.setAttribute("data-last", points.length ? (points[points.length - 1].totals[s] || 0) : 0);
			svg.appendChild(line);
			var key = el("span", { "data-state": s, style: "color:" + stateColor(s) }, "— " + s + " ");
			legend.appendChild(key);
		});
	}
	function loadHistory() {
		clearTimeout(floor.hist);
		ccp.call("floor.history").then(function (h) {
			if (!h.ready) { floor.hist = setTimeout(loadHistory, 1000); return; }
			renderChart(h.points);
			document.body.dataset.floorHistory = "ready";
			floor.hist = setTimeout(loadHistory, 60000);
		}, err("floor-error"));
	}
	function floorStart() {
		ccp.call("floor.get").then(function (f) {
			floor.on = true;
			floor.agents = {};
			f.agents.forEach(function (a) { floor.agents[a.key] = a; });
			floor.totals = f.totals;
			document.body.dataset.floor = f.ready ? "ready" : "loading";
			show("floor", true);
			renderFloor();
			loadHistory();
		}, function () {
			/* no floor.view, or the bus is off: no floor */
			show("floor", false);
		});
	}
	ccp.onFloor(function (d) {
		if (d.full) floor.agents = {};
		(d.agents || []).forEach(function (a) { floor.agents[a.key] = a; });
		(d.removed || []).forEach(function (k) { delete floor.agents[k]; });
		floor.totals = d.totals || {};
		document.body.dataset.floor = "ready";
		renderFloor();
	});
	/* a new connection must ask for the floor again */
	ccp.onConnection(function (s) {
		if (s === "connected" && floor.on) floorStart();
	});

	/* ---- start ---- */

	function offerMethods() {
		document.querySelectorAll("[data-method]").forEach(function (el) {
			if (!ccp.has(el.dataset.method)) el.hidden = true;
		});
	}

	function loadStates() {
		return agent.listStates().then(function (states) {
			var sel = $("status-select");
			sel.innerHTML = "";
			states.forEach(function (s) {
				var o = document.createElement("option");
				o.value = o.textContent = s.name;
				sel.appendChild(o);
			});
			return ccp.call("agent.getConfiguration").then(function (cfg) {
				var list = $("quick-connects");
				(cfg.quickConnects || []).forEach(function (q) {
					var o = document.createElement("option");
					o.value = q.endpoint || q.number || q.uri || "";
					o.label = q.name || o.value;
					list.appendChild(o);
				});
			}, function () {});
		});
	}

	var pendingLogin = null;
	function askLogin() {
		show("login", true);
		$("login-user").focus();
		return new Promise(function (resolve) { pendingLogin = resolve; });
	}
	$("login").addEventListener("submit", function (e) {
		e.preventDefault();
		clearErr("login-error");
		if (pendingLogin) {
			var p = pendingLogin;
			pendingLogin = null;
			p({ username: $("login-user").value, password: $("login-pass").value });
		}
	});
	$("pwchange").addEventListener("submit", function (e) {
		e.preventDefault();
		clearErr("pw-error");
		ccp.changePassword($("pw-old").value, $("pw-new").value).then(function () {
			show("pwchange", false);
		}, err("pw-error"));
	});

	function start() {
		ccp.init(location.origin, { login: askLogin }).then(function () {
			show("login", false);
			$("login-pass").value = "";
			offerMethods();
			show("panel", true);
			if (ccp.has("floor.get")) floorStart();
			return loadStates();
		}).then(render).catch(function (e) {
			text("login-error", e && e.message ? e.message : String(e));
			start();
		});
	}
	start();
})();
