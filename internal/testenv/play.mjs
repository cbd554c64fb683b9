// play.mjs drives Debian's headless Chromium through playwright-core: it plays
// one HLS (hls.js) or DASH (dash.js) stream, or opens a page of ours that
// plays one, watches it for a while and prints what it measured as one JSON
// object on stdout. browser.go runs it; see PlayOptions/PlayResult there.
//
// Options arrive as JSON on stdin. Diagnostics go to stderr.
//
// Nothing leaves loopback: Chromium resolves no host but localhost, and every
// request to a non-loopback address is either answered from node_modules (the
// public CDN URLs of hls.js and dash.js, so that pages which load the players
// from a CDN work offline) or aborted and reported in `blocked`.

import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

const here = path.dirname(fileURLToPath(import.meta.url));
const modules = path.join(here, 'node_modules');

// Files the harness serves under /__livecdn/ on the page's origin.
const HARNESS = '/__livecdn/';
const LIBS = {
  'hls.min.js': path.join(modules, 'hls.js', 'dist', 'hls.min.js'),
  'dash.all.min.js': path.join(modules, 'dashjs', 'dist', 'modern', 'umd', 'dash.all.min.js'),
};

// Public CDN prefixes answered from node_modules, by package name.
const CDN_PACKAGES = ['hls.js', 'dashjs'];
const CDN_HOSTS = ['cdn.jsdelivr.net', 'unpkg.com'];

const MAX_REQUESTS = 5000;
const MAX_CONSOLE = 2000;

function pkgVersion(name) {
  return JSON.parse(fs.readFileSync(path.join(modules, name, 'package.json'), 'utf8')).version;
}

function contentType(file) {
  if (file.endsWith('.js') || file.endsWith('.mjs')) return 'text/javascript; charset=utf-8';
  if (file.endsWith('.html')) return 'text/html; charset=utf-8';
  if (file.endsWith('.map') || file.endsWith('.json')) return 'application/json';
  return 'application/octet-stream';
}

function isLoopback(u) {
  const h = u.hostname.replace(/^\[|\]$/g, '');
  return h === 'localhost' || h.endsWith('.localhost') || h === '::1' || /^127\.\d+\.\d+\.\d+$/.test(h);
}

// The built-in player page. playerMain runs in the page; cfg comes from an init script.
const PLAYER_HTML = `<!doctype html>
<html><head><meta charset="utf-8"><title>livecdn test player</title></head>
<body style="margin:0;background:#000">
<video id="v" muted autoplay playsinline style="width:640px;height:360px"></video>
<script src="${HARNESS}lib/hls.min.js"></script>
<script src="${HARNESS}lib/dash.all.min.js"></script>
<script src="${HARNESS}player.js"></script>
</body></html>`;

function playerMain(cfg) {
  const v = document.getElementById('v');
  const merge = (dst, src) => {
    for (const [k, val] of Object.entries(src || {})) {
      if (val && typeof val === 'object' && !Array.isArray(val) && dst[k] && typeof dst[k] === 'object') merge(dst[k], val);
      else dst[k] = val;
    }
    return dst;
  };
  if (cfg.player === 'dash') {
    const p = dashjs.MediaPlayer().create();
    const settings = {
      debug: { logLevel: dashjs.Debug.LOG_LEVEL_WARNING },
      streaming: {
        // Same-origin clock: the default timing source is a public host.
        utcSynchronization: {
          defaultTimingSource: { scheme: 'urn:mpeg:dash:utc:http-xsdate:2014', value: new URL('/__livecdn/time', location.href).href },
        },
      },
    };
    if (cfg.lowLatency) {
      settings.streaming.delay = { liveDelay: 2 };
      settings.streaming.liveCatchup = { enabled: true, mode: 'liveCatchupModeDefault' };
    }
    p.updateSettings(merge(settings, cfg.dashSettings));
    window.dashPlayer = p; // hooked by the collector before any event fires
    p.initialize(v, cfg.url, true);
  } else {
    if (!Hls.isSupported()) throw new Error('hls.js: MSE not supported');
    const hls = new Hls(merge({ lowLatencyMode: !!cfg.lowLatency }, cfg.hlsConfig));
    window.hls = hls;
    hls.on(Hls.Events.MANIFEST_PARSED, () => v.play().catch(() => {}));
    hls.attachMedia(v);
    hls.loadSource(cfg.url);
  }
}

// collector runs in every page before its scripts: it records media element
// events in the capture phase (they do not bubble) and hooks a player object
// as soon as the page stores it in window.hls or window.dashPlayer.
function collector(cfg) {
  const now = () => performance.now();
  const S = (window.__livecdn = {
    errors: [], stalls: 0, stallMs: 0, stallStart: null, firstPlaying: null,
    startCT: null, latency: [], levelSwitches: 0, player: null,
  });
  const err = (source, type, details, fatal, message) =>
    S.errors.push({ source, type: String(type || ''), details: String(details || ''), fatal: !!fatal, message: String(message || ''), atMs: Math.round(now()) });
  S.err = err;
  const onMedia = (e) => {
    const v = e.target;
    if (!(v instanceof HTMLMediaElement)) return;
    if (e.type === 'playing') {
      if (S.firstPlaying === null) { S.firstPlaying = now(); S.startCT = v.currentTime; }
      if (S.stallStart !== null) { S.stallMs += now() - S.stallStart; S.stallStart = null; }
    } else if (e.type === 'waiting') {
      if (S.firstPlaying !== null && S.stallStart === null) { S.stalls++; S.stallStart = now(); }
    } else if (e.type === 'error') {
      err('video', 'MediaError', v.error ? v.error.code : '', true, v.error ? v.error.message : '');
    }
  };
  for (const t of ['playing', 'waiting', 'error']) document.addEventListener(t, onMedia, true);

  const hook = (name, p) => {
    if (!p || typeof p.on !== 'function') return;
    S.player = name;
    if (name === 'hls') {
      p.on('hlsError', (_, d) => err('hls', d.type, d.details, d.fatal, (d.error && d.error.message) || d.reason || ''));
      p.on('hlsLevelSwitched', () => { S.levelSwitches++; });
    } else {
      p.on('error', (e) => err('dash', 'error', e.error && e.error.code, true, e.error && e.error.message));
      p.on('playbackError', (e) => err('dash', 'playbackError', '', true, e.error && (e.error.message || e.error)));
      p.on('qualityChangeRendered', (e) => { if (e.mediaType === 'video') S.levelSwitches++; });
    }
  };
  for (const name of ['hls', 'dashPlayer']) {
    let val;
    Object.defineProperty(window, name, {
      configurable: true,
      get() { return val; },
      set(x) { val = x; try { hook(name === 'hls' ? 'hls' : 'dash', x); } catch (e) { err('harness', 'hook', name, false, e.message); } },
    });
  }
  const video = () => document.querySelector('video');
  const latency = () => {
    try {
      if (window.hls) return window.hls.latency;
      if (window.dashPlayer) return window.dashPlayer.getCurrentLiveLatency();
    } catch (e) { /* not ready */ }
    return NaN;
  };
  setInterval(() => {
    if (S.firstPlaying === null) return;
    const l = latency();
    if (Number.isFinite(l) && l > 0) S.latency.push(l);
  }, 250);

  S.snapshot = () => {
    const v = video();
    const out = {
      player: S.player, errors: S.errors, stalls: S.stalls,
      stallMs: S.stallMs + (S.stallStart !== null ? now() - S.stallStart : 0),
      startMs: S.firstPlaying, nowMs: now(), latencySamples: S.latency.length, levelSwitches: S.levelSwitches,
      latency: S.latency.length ? S.latency[S.latency.length - 1] : 0,
      latencyAvg: S.latency.length ? S.latency.reduce((a, b) => a + b, 0) / S.latency.length : 0,
      latencyMax: S.latency.length ? Math.max(...S.latency) : 0,
      levels: [], level: -1, currentTime: 0, advance: 0, played: 0, buffer: 0,
      paused: true, readyState: 0, droppedFrames: 0, totalFrames: 0,
    };
    if (v) {
      out.currentTime = v.currentTime;
      out.paused = v.paused;
      out.readyState = v.readyState;
      if (S.startCT !== null) out.advance = v.currentTime - S.startCT;
      for (let i = 0; i < v.played.length; i++) out.played += v.played.end(i) - v.played.start(i);
      for (let i = 0; i < v.buffered.length; i++) {
        if (v.buffered.start(i) <= v.currentTime + 0.1 && v.currentTime < v.buffered.end(i)) out.buffer = v.buffered.end(i) - v.currentTime;
      }
      if (v.getVideoPlaybackQuality) {
        const q = v.getVideoPlaybackQuality();
        out.droppedFrames = q.droppedVideoFrames;
        out.totalFrames = q.totalVideoFrames;
      }
    }
    try {
      if (window.hls && window.hls.levels) {
        out.levels = window.hls.levels.map((l, i) => ({
          index: i, id: String(l.id ?? i), width: l.width || 0, height: l.height || 0, bitrate: l.bitrate || 0,
          codecs: [l.videoCodec, l.audioCodec].filter(Boolean).join(','), name: l.name || '',
        }));
        out.level = window.hls.currentLevel;
      } else if (window.dashPlayer && window.dashPlayer.isReady && window.dashPlayer.isReady()) {
        const reps = window.dashPlayer.getRepresentationsByType('video') || [];
        out.levels = reps.map((r, i) => ({
          index: i, id: String(r.id), width: r.width || 0, height: r.height || 0, bitrate: r.bandwidth || 0, codecs: r.codecs || '', name: '',
        }));
        const cur = window.dashPlayer.getCurrentRepresentationForType('video');
        out.level = cur ? reps.findIndex((r) => r.id === cur.id) : -1;
      }
    } catch (e) { err('harness', 'levels', '', false, e.message); }
    return out;
  };
}

async function readStdin() {
  const chunks = [];
  for await (const c of process.stdin) chunks.push(c);
  return JSON.parse(Buffer.concat(chunks).toString('utf8') || '{}');
}

// harnessFile answers a request for a /__livecdn/ path: [status, type, body].
function harnessFile(cfg, pathname) {
  const rel = pathname.slice(HARNESS.length);
  if (rel === 'player.html') return [200, contentType('.html'), PLAYER_HTML];
  if (rel === 'player.js') return [200, contentType('.js'), `(${playerMain.toString()})(window.__livecdnConfig);`];
  if (rel === 'time') return [200, 'text/plain', new Date().toISOString()];
  if (rel.startsWith('lib/') && LIBS[rel.slice(4)]) {
    const f = LIBS[rel.slice(4)];
    return [200, contentType(f), fs.readFileSync(f)];
  }
  return [404, 'text/plain', 'not found'];
}

// cdnFile maps https://cdn.jsdelivr.net/npm/hls.js@1.7.4/dist/hls.min.js (or
// unpkg's https://unpkg.com/hls.js@1.7.4/...) to node_modules when the
// version matches the installed one. It returns {file} or {error}, or null
// for URLs that are not a known package on a known CDN.
function cdnFile(u) {
  if (!CDN_HOSTS.includes(u.hostname)) return null;
  const p = decodeURIComponent(u.pathname).replace(/^\/npm\//, '/');
  const m = /^\/((?:@[^/]+\/)?[^/@]+)@([^/]+)\/(.+)$/.exec(p);
  if (!m || !CDN_PACKAGES.includes(m[1])) return null;
  const [, name, version, rel] = m;
  const have = pkgVersion(name);
  if (version !== have) return { error: `${u.href}: page wants ${name}@${version}, node_modules has ${have}` };
  const root = path.join(modules, name);
  const file = path.resolve(root, rel);
  if (!file.startsWith(root + path.sep) || !fs.existsSync(file)) return { error: `${u.href}: no ${rel} in ${name}@${have}` };
  return { file };
}

async function main() {
  const opts = await readStdin();
  const durationMs = opts.durationMs || 5000;
  const startTimeoutMs = opts.startTimeoutMs || 20000;
  const maxWatchMs = opts.maxWatchMs || 2 * durationMs + 10000;
  const cfg = {
    player: opts.player || 'hls', url: opts.url || '', lowLatency: !!opts.lowLatency,
    hlsConfig: opts.hlsConfig || {}, dashSettings: opts.dashSettings || {},
  };
  const result = { requests: [], blocked: [], console: [], harnessErrors: [] };
  const record = (r) => { if (result.requests.length < MAX_REQUESTS) result.requests.push(r); };

  // Cross-origin mode: a real loopback server on another port serves the
  // built-in page, so the stream server's CORS headers are exercised.
  let server = null;
  let pageURL;
  if (opts.pageURL) {
    pageURL = opts.pageURL;
  } else if (opts.crossOrigin) {
    server = http.createServer((req, res) => {
      const [status, type, body] = harnessFile(cfg, new URL(req.url, 'http://x').pathname);
      res.writeHead(status, { 'Content-Type': type, 'Cache-Control': 'no-store' });
      res.end(body);
    });
    await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
    pageURL = `http://127.0.0.1:${server.address().port}${HARNESS}player.html`;
  } else {
    if (!cfg.url) throw new Error('url or pageURL is required');
    pageURL = new URL(`${HARNESS}player.html`, cfg.url).href;
  }
  const harnessOrigin = opts.pageURL || opts.crossOrigin ? null : new URL(pageURL).origin;

  const profileDir = opts.profileDir || fs.mkdtempSync(path.join(os.tmpdir(), 'livecdn-chromium-'));
  const context = await chromium.launchPersistentContext(profileDir, {
    executablePath: opts.executablePath || '/usr/bin/chromium',
    headless: true,
    viewport: { width: 800, height: 450 },
    args: [
      '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync',
      '--autoplay-policy=no-user-gesture-required',
      // MAP * also catches IP literals: loopback must be excluded by name.
      '--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE localhost , EXCLUDE 127.0.0.1',
    ],
  });
  try {
    await context.route(
      (u) => !isLoopback(u) || (harnessOrigin !== null && u.origin === harnessOrigin && u.pathname.startsWith(HARNESS)),
      async (route) => {
        const u = new URL(route.request().url());
        if (isLoopback(u)) {
          const [status, contentType, body] = harnessFile(cfg, u.pathname);
          return route.fulfill({ status, contentType, body, headers: { 'Cache-Control': 'no-store' } });
        }
        const hit = cdnFile(u);
        if (hit && hit.file) {
          return route.fulfill({
            status: 200, body: fs.readFileSync(hit.file), contentType: contentType(hit.file),
            headers: { 'Access-Control-Allow-Origin': '*', 'Cache-Control': 'public, max-age=31536000, immutable' },
          });
        }
        if (hit && hit.error) result.harnessErrors.push(hit.error);
        result.blocked.push(u.href);
        return route.abort('blockedbyclient');
      },
    );
    await context.addInitScript((c) => { window.__livecdnConfig = c; }, cfg);
    await context.addInitScript(collector);

    const page = context.pages()[0] || (await context.newPage());
    page.on('console', (m) => { if (result.console.length < MAX_CONSOLE) result.console.push(`${m.type()}: ${m.text()}`); });
    page.on('pageerror', (e) => { result.harnessErrors.push(`page error: ${e.message}`); });
    page.on('requestfinished', async (req) => {
      const resp = await req.response().catch(() => null);
      record({ method: req.method(), url: req.url(), status: resp ? resp.status() : 0 });
    });
    page.on('requestfailed', (req) => {
      record({ method: req.method(), url: req.url(), status: 0, failure: (req.failure() || {}).errorText || 'failed' });
    });

    await page.goto(pageURL, { waitUntil: 'domcontentloaded', timeout: startTimeoutMs });

    const snap = () => page.evaluate(() => window.__livecdn.snapshot());
    const deadline = Date.now() + startTimeoutMs;
    let s = await snap();
    while (s.startMs === null && Date.now() < deadline && !s.errors.some((e) => e.fatal && e.source === 'video')) {
      await page.waitForTimeout(100);
      s = await snap();
    }
    if (s.startMs !== null) {
      // Watch until Duration of media has played and currentTime has moved
      // as far: on a loaded machine the playback clock runs late, so wall
      // time alone would under-play; and dash.js's live start can leave a
      // played range behind that currentTime never covered, so played
      // alone can be reached early.
      const stop = Date.now() + maxWatchMs;
      while (Math.min(s.played, s.advance) < durationMs / 1000 && Date.now() < stop) {
        await page.waitForTimeout(Math.min(250, Math.max(1, stop - Date.now())));
        s = await snap();
      }
    }
    if (opts.eval) {
      try {
        result.eval = await page.evaluate(opts.eval);
      } catch (e) {
        result.harnessErrors.push(`eval: ${e.message}`);
      }
    }
    if (opts.screenshot) await page.screenshot({ path: opts.screenshot });
    Object.assign(result, await snap());
  } finally {
    await context.close().catch(() => {});
    if (server) server.close();
    if (!opts.profileDir) fs.rmSync(profileDir, { recursive: true, force: true });
  }
  process.stdout.write(JSON.stringify(result) + '\n');
}

main().catch((e) => {
  process.stderr.write(`play.mjs: ${e.stack || e}\n`);
  process.exit(1);
});
