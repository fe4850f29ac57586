// The Floor view of the CCP page in Debian's chromium: a supervisor's
// page against a real ccpd on a real nats-server, with two other agents'
// desks on the same bus. What the page shows is checked against what the
// desks do, read over their Unix sockets.
import assert from "node:assert/strict";
import { test } from "node:test";
import { Helper, launch, shot, until } from "./lib.mjs";

const T = { timeout: 120000 };
const SUP = { username: "sue", password: "sue-secret-1" };
const AGENT = { username: "ann", password: "ann-secret-1" };

async function login(ctx, page, who) {
	await page.goto(ctx.d.url + "/");
	await page.waitForSelector('#login:not([hidden]), #panel:not([hidden])');
	if (await page.isVisible("#login")) {
		await page.fill("#login-user", who.username);
		await page.fill("#login-pass", who.password);
		await page.click("#login-submit");
	}
	await page.waitForSelector('body[data-connection="connected"]');
}

async function rowState(page, agent) {
	return page.$eval(`#floor-rows tr[data-agent="${agent}"]`,
		(tr) => tr.dataset.state).catch(() => null);
}

test("a supervisor sees the floor live, sorts it, and its chart survives a reload", T, async () => {
	const h = new Helper();
	let browser = null;
	try {
		const bus = await h.call("nats");
		const opts = (user) => ({ bus: bus.url, bus_heartbeat: "1", sip_user: user });
		const alice = await h.call("start_agent", { options: opts("alice") });
		const bob = await h.call("start_agent", { options: opts("bob") });
		const d = await h.call("start", { options: opts("sup") });
		await h.call("add_user", { ...SUP, profile: "Supervisor" });
		await h.call("add_user", { ...AGENT, profile: "Agent" });
		await h.call("agent_rpc", { i: alice, method: "agent.setState", params: { state: "Available" } });
		await h.call("agent_rpc", { i: bob, method: "agent.setState", params: { state: "Lunch" } });
		const ctx = { h, d };
		browser = await launch();

		// an agent without floor.view sees no floor
		const plain = await browser.newPage();
		await login(ctx, plain, AGENT);
		await plain.waitForSelector("#panel:not([hidden])");
		await new Promise((r) => setTimeout(r, 500));
		assert.equal(await plain.isVisible("#floor"), false);
		await plain.close();

		const page = await browser.newPage();
		const errors = [];
		page.on("pageerror", (e) => errors.push(String(e)));
		await login(ctx, page, SUP);
		await page.waitForSelector("#floor:not([hidden])");
		await page.waitForSelector('#floor-rows tr[data-agent="alice"][data-state="Available"]');
		await page.waitForSelector('#floor-rows tr[data-agent="bob"][data-state="Lunch"]');
		await shot(page, "floor");

		// counts per state agree with the daemon's floor
		const floor = await h.rpc("floor.get");
		for (const [state, n] of Object.entries(floor.totals)) {
			const shown = await page.$eval(`#floor-totals span[data-state="${state}"] strong`,
				(e) => Number(e.textContent));
			assert.equal(shown, n, state);
		}

		// a change on alice's desk reaches the page
		await h.call("agent_rpc", { i: alice, method: "agent.setState", params: { state: "Break" } });
		await page.waitForSelector('#floor-rows tr[data-agent="alice"][data-state="Break"]');

		// time in state ticks every second
		const t1 = await page.$eval('#floor-rows tr[data-agent="bob"] td.time', (e) => e.textContent);
		await until(async () => (await page.$eval('#floor-rows tr[data-agent="bob"] td.time',
			(e) => e.textContent)) !== t1, "bob's time ticking", 5000);

		// sortable: by agent, then reversed
		const names = async () => page.$$eval("#floor-rows tr", (rows) => rows.map((r) => r.dataset.agent));
		// (the supervisor's desk was sup's, then ann's, now sue's: the
		// user at a desk is its agent, and one who leaves leaves the floor)
		await until(async () => (await names()).join() === "alice,bob,sue",
			"the floor of alice, bob and sue");
		await page.click('#floor-table th[data-sort="agent"] button');
		assert.deepEqual(await names(), ["sue", "bob", "alice"]);
		assert.equal(await page.getAttribute('#floor-table th[data-sort="agent"]', "aria-sort"), "descending");
		await page.click('#floor-table th[data-sort="state"] button');
		const states = await page.$$eval("#floor-rows tr", (rows) => rows.map((r) => r.dataset.state));
		assert.deepEqual(states, [...states].sort());

		// the chart: an hour, a minute apart, rebuilt from the stream
		await page.waitForSelector('body[data-floor-history="ready"]');
		assert.equal(await page.$eval("#floor-chart", (s) => s.dataset.points), "60");
		const lastBreak = async () => page.$eval('#floor-chart polyline[data-state="Break"]',
			(l) => Number(l.dataset.last)).catch(() => null);
		assert.equal(await lastBreak(), 1);
		await page.reload();
		await page.waitForSelector('body[data-floor-history="ready"]');
		assert.equal(await page.$eval("#floor-chart", (s) => s.dataset.points), "60");
		assert.equal(await lastBreak(), 1);
		await page.waitForSelector('#floor-rows tr[data-agent="alice"][data-state="Break"]');

		// bob's desk dies: after three heartbeats he is marked unreachable
		await h.call("kill_agent", { i: bob });
		await page.waitForSelector('#floor-rows tr[data-agent="bob"][data-unreachable="true"]',
			{ timeout: 10000 });
		assert.match(await page.$eval('#floor-rows tr[data-agent="bob"]', (r) => r.textContent),
			/Unreachable \(last Lunch\)/);
		await shot(page, "floor-unreachable");
		assert.deepEqual(errors, []);
	} finally {
		if (browser) await browser.close();
		await h.shutdown();
	}
});
