// open.mjs opens one page (a file:// path or a loopback URL) in Debian's
// headless Chromium with every network request off the page's own file or
// loopback origin aborted, waits for the load event, evaluates an optional
// expression and prints {console, errors, blocked, eval} as JSON. page.go
// runs it (OpenPage); it is for checking our own self-contained pages, such
// as the bench HTML report, for console errors and content.

import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { chromium } from 'playwright-core';

async function readStdin() {
  const chunks = [];
  for await (const c of process.stdin) chunks.push(c);
  return JSON.parse(Buffer.concat(chunks).toString('utf8') || '{}');
}

const local = (u) => {
  try {
    const x = new URL(u);
    return x.protocol === 'file:' || x.protocol === 'data:' || x.protocol === 'about:' ||
      ((x.protocol === 'http:' || x.protocol === 'https:') && (x.hostname === 'localhost' || x.hostname === '127.0.0.1'));
  } catch (e) { return false; }
};

async function main() {
  const opts = await readStdin();
  const result = { console: [], errors: [], blocked: [], eval: null };
  const profileDir = fs.mkdtempSync(path.join(os.tmpdir(), 'livecdn-chromium-'));
  const context = await chromium.launchPersistentContext(profileDir, {
    executablePath: opts.executablePath || '/usr/bin/chromium',
    headless: true,
    viewport: { width: 1000, height: 800 },
    args: ['--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking',
      '--disable-component-update', '--disable-sync', '--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE localhost , EXCLUDE 127.0.0.1'],
  });
  try {
    await context.route((u) => !local(u.href), (route) => {
      result.blocked.push(route.request().url());
      return route.abort('blockedbyclient');
    });
    const page = context.pages()[0] || (await context.newPage());
    page.on('console', (m) => {
      result.console.push(`${m.type()}: ${m.text()}`);
      if (m.type() === 'error') result.errors.push(`console: ${m.text()}`);
    });
    page.on('pageerror', (e) => result.errors.push(`page error: ${e.message}`));
    page.on('requestfailed', (r) => result.errors.push(`request failed: ${r.url()} ${(r.failure() || {}).errorText || ''}`));
    await page.goto(opts.url, { waitUntil: 'load', timeout: opts.timeoutMs || 20000 });
    await page.waitForTimeout(200); // late console messages
    if (opts.eval) {
      try {
        result.eval = await page.evaluate(opts.eval);
      } catch (e) {
        result.errors.push(`eval: ${e.message}`);
      }
    }
  } finally {
    await context.close().catch(() => {});
    fs.rmSync(profileDir, { recursive: true, force: true });
  }
  process.stdout.write(JSON.stringify(result) + '\n');
}

main().catch((e) => {
  process.stderr.write(`open.mjs: ${e.stack || e}\n`);
  process.exit(1);
});
