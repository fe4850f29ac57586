// Shared pieces of the browser tests: Debian's chromium through
// playwright-core, the python helper that runs ccpd and the SIP peers,
// screenshots into the run's artifacts directory.
import { spawn } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import readline from "node:readline";
import { fileURLToPath } from "node:url";
import { chromium } from "playwright-core";

const here = path.dirname(fileURLToPath(import.meta.url));
export const top = path.resolve(here, "..", "..");
export const artifacts = process.env.CCPD_ARTIFACTS ||
	path.join(top, "build", "browser-artifacts");
mkdirSync(artifacts, { recursive: true });

export const CHROMIUM = process.env.CHROMIUM || "/usr/bin/chromium";

export async function launch() {
	const profile = mkdtempSync(path.join(tmpdir(), "ccpd-chromium-"));
	const context = await chromium.launchPersistentContext(profile, {
		executablePath: CHROMIUM,
		headless: true,
		args: ["--no-sandbox", "--headless", "--disable-gpu",
			"--disable-background-networking", "--disable-component-update",
			"--disable-sync", "--no-first-run"],
		viewport: { width: 480, height: 900 },
	});
	context.profileDir = profile;
	const close = context.close.bind(context);
	context.close = async () => {
		await close();
		rmSync(profile, { recursive: true, force: true });
	};
	return context;
}

export class Helper {
	constructor() {
		this.proc = spawn("python3", [path.join(here, "helper.py")], {
			stdio: ["pipe", "pipe", "inherit"],
			env: process.env,
		});
		this.next = 0;
		this.waiting = new Map();
		this.exited = new Promise((resolve) => this.proc.on("exit", resolve));
		readline.createInterface({ input: this.proc.stdout }).on("line", (line) => {
			const msg = JSON.parse(line);
			const w = this.waiting.get(msg.id);
			if (!w) return;
			this.waiting.delete(msg.id);
			if ("error" in msg) {
				const e = new Error(msg.error);
				e.trace = msg.trace;
				w.reject(e);
			} else {
				w.resolve(msg.result);
			}
		});
		this.proc.on("exit", (code) => {
			for (const w of this.waiting.values())
				w.reject(new Error(`helper exited (${code})`));
			this.waiting.clear();
		});
	}

	call(cmd, args = {}) {
		const id = ++this.next;
		return new Promise((resolve, reject) => {
			this.waiting.set(id, { resolve, reject });
			this.proc.stdin.write(JSON.stringify({ id, cmd, args }) + "\n");
		});
	}

	rpc(method, params) {
		return this.call("rpc", params === undefined ? { method } : { method, params });
	}

	async shutdown() {
		try {
			await this.call("shutdown");
		} finally {
			this.proc.stdin.end();
			await this.exited;
		}
	}
}

let shots = 0;
export async function shot(page, name) {
	shots++;
	const file = path.join(artifacts, `${String(shots).padStart(2, "0")}-${name}.png`);
	await page.screenshot({ path: file, fullPage: true });
	return file;
}

// Poll until fn() is truthy (for the daemon's side, seen over the Unix
// socket); fails with what it last saw.
export async function until(fn, what, timeout = 10000) {
	const end = Date.now() + timeout;
	let last;
	for (;;) {
		last = await fn();
		if (last) return last;
		if (Date.now() > end)
			throw new Error(`timed out waiting for ${what}; last: ${JSON.stringify(last)}`);
		await new Promise((r) => setTimeout(r, 100));
	}
}
