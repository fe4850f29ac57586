// The CCP page and ccp.js in Debian's chromium, against a real ccpd and a
// real baresip caller. The page's state (body[data-state], the cards) is
// checked against the daemon's, read over its Unix socket, at every step.
import assert from "node:assert/strict";
import { test } from "node:test";
import { Helper, launch, shot, until } from "./lib.mjs";

const T = { timeout: 120000 };
const USER = { username: "alice", password: "alice-secret-1" };

// options: ccpd's settings, or an async function of the helper that
// makes them (files the settings name)
async function setup(options) {
	const h = new Helper();
	if (typeof options === "function") options = await options(h);
	const d = await h.call("start", { options });
	const methods = await h.rpc("daemon.listMethods");
	let user = null;
	if (methods.includes("admin.users.create")) {
		await h.call("add_user", USER);
		user = USER;
	}
	const browser = await launch();
	return { h, d, browser, user };
}

async function teardown({ h, browser }) {
	try {
		await browser.close();
	} finally {
		await h.shutdown();     // fails on an unclean ccpd exit
	}
}

async function openCcp(ctx) {
	const page = await ctx.browser.newPage();
	page.on("pageerror", (e) => { ctx.errors = (ctx.errors || []).concat(String(e)); });
	await page.goto(ctx.d.url + "/");
	// a daemon with sessions asks for a login first (a tab that holds a
	// session's token resumes it without asking)
	await page.waitForSelector('#login:not([hidden]), #panel:not([hidden])');
	const methods = await ctx.h.rpc("daemon.listMethods");
	ctx.methods = methods;
	if (await page.isVisible("#login")) {
		assert.ok(ctx.user, "this daemon has session.login: the test needs a user");
		await page.fill("#login-user", ctx.user.username);
		await page.fill("#login-pass", ctx.user.password);
		await shot(page, "login");
		await page.click("#login-submit");
	}
	await page.waitForSelector("#panel:not([hidden])");
	await page.waitForSelector('body[data-connection="connected"]');
	return page;
}

async function agree(ctx, page, state) {
	await page.waitForSelector(`body[data-state="${state}"]`);
	await until(async () => (await ctx.h.rpc("agent.getState")).state === state,
		`the daemon in ${state}`);
}

async function onlyContact(ctx) {
	const list = await ctx.h.rpc("contact.list");
	assert.equal(list.length, 1, JSON.stringify(list));
	return list[0];
}

test("an agent takes a call in the page from start to after-contact work", T, async () => {
	const ctx = await setup({});
	try {
		await ctx.h.call("peer", { name: "customer" });
		const page = await openCcp(ctx);
		await agree(ctx, page, "Offline");
		await shot(page, "connected-offline");

		await page.selectOption("#status-select", "Available");
		await agree(ctx, page, "Available");
		await shot(page, "available");

		await ctx.h.call("dial", { name: "customer" });
		await page.waitForSelector("#incoming:not([hidden])");
		await agree(ctx, page, "PendingBusy");
		const offered = await onlyContact(ctx);
		assert.equal(offered.state, "incoming");
		assert.equal(await page.getAttribute("body", "data-contact"), offered.contactId);
		assert.match(await page.textContent("#incoming-number"), /customer/);
		await shot(page, "incoming");

		await page.click("#accept");
		await page.waitForSelector('body[data-contact-state="connected"]');
		await ctx.h.call("peer_wait", { name: "customer", event: "CALL_ESTABLISHED" });
		await agree(ctx, page, "Busy");
		assert.equal((await onlyContact(ctx)).state, "connected");
		await shot(page, "connected");

		if (ctx.methods.includes("connection.hold") && ctx.methods.includes("connection.resume")) {
			await page.click("#hold");
			await page.waitForSelector('body[data-contact-state="hold"]');
			await until(async () => (await onlyContact(ctx)).connections.find((k) => k.party === "customer").state === "hold",
				"the daemon's connection on hold");
			await shot(page, "on-hold");
			await page.click("#resume");
			await page.waitForSelector('body[data-contact-state="connected"]');
			await until(async () => (await onlyContact(ctx)).connections.find((k) => k.party === "customer").state === "connected",
				"the daemon's connection resumed");
			await shot(page, "resumed");
		} else {
			// call control has not landed: the page offers no hold
			assert.equal(await page.isVisible("#hold"), false);
		}

		await page.click("#hangup");
		await ctx.h.call("peer_wait", { name: "customer", event: "CALL_CLOSED" });
		await page.waitForSelector("#acw:not([hidden])");
		await agree(ctx, page, "AfterContactWork");
		assert.equal((await onlyContact(ctx)).state, "ended");
		await shot(page, "after-contact-work");

		await page.click("#clear");
		await agree(ctx, page, "Available");
		assert.deepEqual(await ctx.h.rpc("contact.list"), []);
		assert.equal(await page.isVisible("#acw"), false);
		assert.equal(await page.isVisible("#call"), false);
		await shot(page, "cleared");
		assert.deepEqual(ctx.errors || [], []);
	} finally {
		await teardown(ctx);
	}
});

test("a page refresh in mid-call keeps the call and shows it again", T, async () => {
	const ctx = await setup({ initial_status: "Available" });
	try {
		await ctx.h.call("peer", { name: "customer" });
		let page = await openCcp(ctx);
		await page.selectOption("#status-select", "Available");
		await agree(ctx, page, "Available");
		await ctx.h.call("dial", { name: "customer" });
		await page.waitForSelector("#incoming:not([hidden])");
		await page.click("#accept");
		await page.waitForSelector('body[data-contact-state="connected"]');
		await ctx.h.call("peer_wait", { name: "customer", event: "CALL_ESTABLISHED" });
		const before = await onlyContact(ctx);
		await shot(page, "before-refresh");

		await page.reload();
		await page.waitForSelector('body[data-connection="connected"]');
		await page.waitForSelector('body[data-contact-state="connected"]');
		await page.waitForSelector("#call:not([hidden])");
		assert.equal(await page.getAttribute("body", "data-contact"), before.contactId);
		assert.equal(await page.getAttribute("body", "data-state"), "Busy");
		const after = await onlyContact(ctx);
		assert.equal(after.state, "connected");
		assert.equal(after.contactId, before.contactId);
		assert.ok(!(await ctx.h.call("peer_events", { name: "customer" })).includes("CALL_CLOSED"),
			"the refresh must not end the call");
		await shot(page, "after-refresh");

		// a closed tab does not end it either
		await page.close();
		page = await openCcp(ctx);
		await page.waitForSelector("#call:not([hidden])");
		assert.equal((await onlyContact(ctx)).state, "connected");

		await page.click("#hangup");
		await agree(ctx, page, "AfterContactWork");
		await page.click("#clear");
		await agree(ctx, page, "Available");
	} finally {
		await teardown(ctx);
	}
});

test("only allowlisted origins connect; the demo CRM pops the caller's record", T, async () => {
	const h = new Helper();
	let browser;
	try {
		const crm = await h.call("serve", { directory: "web" });
		const stranger = await h.call("serve", { directory: "web" });
		const d = await h.call("start", { options: { http_origins: crm.url } });
		await h.call("add_user", USER);
		await h.call("peer", { name: "customer" });
		browser = await launch();

		const bad = await browser.newPage();
		await bad.goto(`${stranger.url}/demo/crm.html?ccpd=${encodeURIComponent(d.url)}`);
		await bad.waitForFunction(() => window.ccp && document.body.dataset.connection &&
			document.body.dataset.connection !== "connecting");
		// never connected: it keeps retrying and is refused each time
		await new Promise((r) => setTimeout(r, 1500));
		assert.notEqual(await bad.getAttribute("body", "data-connection"), "connected");
		await shot(bad, "crm-refused-origin");
		await until(async () => /origin 'http:\/\/127\.0\.0\.1:\d+' is not allowed/.test(await h.call("log")),
			"the refusal in ccpd's log");
		await bad.close();

		const page = await browser.newPage();
		await page.goto(`${crm.url}/demo/crm.html?ccpd=${encodeURIComponent(d.url)}`);
		await page.waitForSelector("#login:not([hidden])");
		await page.fill("#user", USER.username);
		await page.fill("#password", USER.password);
		await page.click("#login button");
		await page.waitForSelector('body[data-connection="connected"]');
		await h.rpc("agent.setState", { state: "Available" });
		await page.waitForFunction(() => document.getElementById("agent-state").textContent === "Available");
		await shot(page, "crm-connected");

		await h.call("dial", { name: "customer" });
		await page.waitForSelector("#record:not([hidden])");
		assert.equal(await page.textContent("#rec-name"), "Alice Example");
		assert.equal(await page.textContent("#rec-account"), "ACME-1001");
		const [c] = await h.rpc("contact.list");
		assert.equal(await page.getAttribute("body", "data-popped"), c.contactId);
		await shot(page, "crm-popped-record");

		// the CRM can act too: accept from the embed
		await page.click("#accept");
		await until(async () => (await h.rpc("contact.list"))[0].state === "connected",
			"the call accepted from the CRM");
		await page.waitForFunction(() => document.getElementById("call-status").textContent === "Connected");
		await h.call("peer_hangup", { name: "customer" });
		await until(async () => (await h.rpc("agent.getState")).state === "AfterContactWork", "ACW");
		await page.waitForFunction((id) => document.getElementById("log").textContent.includes("acw " + id), c.contactId);
		await shot(page, "crm-after-call");
	} finally {
		if (browser) await browser.close();
		await h.shutdown();
	}
});

test("the ACD's attributes show as text in the CCP page and the CRM's screen pop", T, async () => {
	let crm;
	const ctx = await setup(async (h) => {
		crm = await h.call("serve", { directory: "web" });
		return { http_origins: crm.url };
	});
	const h = ctx.h;
	try {
		const d2 = ctx.d;
		const page = await openCcp(ctx);
		const crmPage = await ctx.browser.newPage();
		crmPage.on("pageerror", (e) => { ctx.errors = (ctx.errors || []).concat(String(e)); });
		await crmPage.goto(`${crm.url}/demo/crm.html?ccpd=${encodeURIComponent(d2.url)}`);
		await crmPage.waitForSelector("#login:not([hidden]), body[data-connection=\"connected\"]");
		if (await crmPage.isVisible("#login")) {
			await crmPage.fill("#user", ctx.user.username);
			await crmPage.fill("#password", ctx.user.password);
			await crmPage.click("#login button");
		}
		await crmPage.waitForSelector('body[data-connection="connected"]');
		// (a login at the desk sets the agent Offline: Available after both)
		await h.rpc("agent.setState", { state: "Available" });
		await agree(ctx, page, "Available");

		const markup = "<img src=x onerror=\"window.pwned=1\">";
		await h.call("invite_with_attributes", {
			attributes: { CustomerId: "C-1042", Queue: "billing & care", Note: markup },
		});
		await until(async () => (await h.rpc("contact.list")).length === 1, "the offer at ccpd");
		await page.waitForSelector("#incoming-attributes:not([hidden])");
		const rows = await page.$$eval("#incoming-attributes dt, #incoming-attributes dd",
			(els) => els.map((e) => e.textContent));
		assert.equal(rows.length, 6, rows.join(" | "));
		const pairs = {};
		for (let i = 0; i < rows.length; i += 2) pairs[rows[i]] = rows[i + 1];
		assert.deepEqual(pairs, { CustomerId: "C-1042", Queue: "billing & care", Note: markup });
		// the markup stayed text: no element was made of it
		assert.equal(await page.$$eval("#incoming-attributes img", (e) => e.length), 0);
		await shot(page, "attributes-incoming");

		// ccp.js offers them as Streams does, and the CRM pops its record
		const got = await crmPage.evaluate(() => {
			const c = window.ccp.getContacts()[0];
			return c.getAttributes();
		});
		assert.deepEqual(got.CustomerId, { name: "CustomerId", value: "C-1042" });
		await crmPage.waitForSelector("#pop:not([hidden])");
		assert.equal(await crmPage.textContent("#rec-name"), "Carol Caller");
		assert.equal(await crmPage.textContent('#pop dd[data-attribute="Note"]'), markup);
		assert.equal(await crmPage.$$eval("#pop img", (e) => e.length), 0);
		assert.equal(await crmPage.evaluate(() => window.pwned), undefined);
		assert.equal(await page.evaluate(() => window.pwned), undefined);
		await shot(crmPage, "attributes-crm-pop");

		await h.call("cancel_invite");
		await page.waitForSelector("#incoming", { state: "hidden" });
		assert.deepEqual(ctx.errors || [], []);
	} finally {
		await teardown(ctx);
	}
});

test("the page works from the keyboard and labels its controls", T, async () => {
	const ctx = await setup({});
	try {
		const page = await openCcp(ctx);
		// every visible control has an accessible name
		const unnamed = await page.evaluate(() => [...document.querySelectorAll("button, input, select")]
			.filter((el) => el.offsetParent !== null)
			.filter((el) => !(el.labels && el.labels.length) && !el.getAttribute("aria-label") &&
				!el.textContent.trim())
			.map((el) => el.id || el.outerHTML));
		assert.deepEqual(unnamed, []);
		await page.focus("#status-select");
		await page.keyboard.press("ArrowDown");     // Offline -> next status in the list
		await until(async () => (await ctx.h.rpc("agent.getState")).status !== "Offline",
			"a status chosen with the keyboard");
		const st = await ctx.h.rpc("agent.getState");
		await page.waitForSelector(`body[data-status="${st.status}"]`);
		// the dial pad types into the number field
		await page.click('#dialpad button[aria-label="1"]');
		await page.click('#dialpad button[aria-label="2"]');
		assert.equal(await page.inputValue("#dial-input"), "12");
		await shot(page, "keyboard");
	} finally {
		await teardown(ctx);
	}
});

test("a first login asks for a new password before the panel", T, async () => {
	const h = new Helper();
	let browser;
	try {
		const d = await h.call("start", {});
		await h.rpc("admin.users.create", { username: "bob", profile: "Agent",
			password: "one-time-pass-1", mustChangePassword: true });
		browser = await launch();
		const page = await browser.newPage();
		await page.goto(d.url + "/");
		await page.waitForSelector("#login:not([hidden])");
		await page.fill("#login-user", "bob");
		await page.fill("#login-pass", "one-time-pass-1");
		await page.click("#login-submit");
		await page.waitForSelector("#pwchange:not([hidden])");
		await shot(page, "first-login-password");
		await page.fill("#pw-old", "one-time-pass-1");
		await page.fill("#pw-new", "bobs-own-secret-2");
		await page.click("#pw-submit");
		await page.waitForSelector("#pwchange", { state: "hidden" });
		// the new password is the one that works now
		const who = await page.evaluate(() => ccp.call("session.whoami"));
		assert.equal(who.username, "bob");
		assert.equal(who.mustChangePassword, false);
		await page.selectOption("#status-select", "Available");
		await until(async () => (await h.rpc("agent.getState")).state === "Available",
			"the daemon in Available after the password change");
	} finally {
		if (browser) await browser.close();
		await h.shutdown();
	}
});

test("an audio failure offers the desk phone, and one click moves the agent", T, async () => {
	// baresip's aufile source ends after a second of audio and reports an
	// audio device error, which ends the call (baresip 1.0.0)
	const ctx = await setup(async (h) => ({
		audio_source: "aufile," + await h.call("tone_wav", { seconds: 1.0 }),
		dial_template: "sip:{number}@127.0.0.1:9" }));
	try {
		await ctx.h.call("peer", { name: "customer" });
		const page = await openCcp(ctx);
		await ctx.h.rpc("agent.setConfiguration", { softphoneEnabled: true, extension: "+442071838750" });
		await page.selectOption("#status-select", "Available");
		await agree(ctx, page, "Available");
		assert.equal(await page.isVisible("#softphone-error"), false);
		await ctx.h.call("dial", { name: "customer" });
		await page.waitForSelector("#incoming:not([hidden])");
		await page.click("#accept");
		await ctx.h.call("peer_wait", { name: "customer", event: "CALL_ESTABLISHED" });
		await page.waitForSelector("#softphone-error:not([hidden])", { timeout: 15000 });
		assert.match(await page.textContent("#softphone-error-text"), /end of file/);
		assert.equal(await page.textContent("#desk-extension"), "+442071838750");
		await page.waitForSelector("#desk-offer:not([hidden])");
		await shot(page, "softphone-error");
		// the daemon has not moved the agent by itself (fallback: offer)
		assert.equal((await ctx.h.rpc("agent.getConfiguration")).softphoneEnabled, true);
		await page.click("#move-to-desk");
		await page.waitForFunction(() => /on the desk phone/.test(document.getElementById("desk-move").textContent));
		assert.equal((await ctx.h.rpc("agent.getConfiguration")).softphoneEnabled, false);
		assert.equal(await page.isVisible("#desk-offer"), false);
		await shot(page, "moved-to-desk");
		assert.deepEqual(ctx.errors || [], []);
	} finally {
		await teardown(ctx);
	}
});
