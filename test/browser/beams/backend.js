'use strict';
// Servers for beams.test.js:
//   startHerald()   builds ./cmd/herald (or uses HERALD_BIN) and runs it with a
//                   beams instance on a free loopback port (push endpoints on
//                   loopback allowed); its output goes to artifacts/beams/herald.log
//                   (a subdirectory: chat.test.js clears artifacts/*.log when it starts).
//   startBackend()  the customer's web app: a Node http server on 127.0.0.1
//                   serving the page (opened as http://localhost:<port>, a secure
//                   context and another origin than Herald's), the web SDK's
//                   browser bundle and service worker from node_modules, the
//                   Beams token endpoint (/beams-auth, server SDK generateToken)
//                   and /test/subscribe, the stand-in for the browser's push
//                   service subscription (PushService.subscribe, see page.js).

const { spawn, spawnSync } = require('node:child_process');
const fs = require('node:fs');
const http = require('node:http');
const net = require('node:net');
const os = require('node:os');
const path = require('node:path');

const REPO_ROOT = path.resolve(__dirname, '..', '..', '..');
const ARTIFACTS = path.join(__dirname, '..', 'artifacts', 'beams');
const WEB_SDK_DIR = path.dirname(require.resolve('@pusher/push-notifications-web/package.json'));

function sleep(ms) {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

function freePort() {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

// Herald processes still running when this process exits are killed.
const live = new Set();
process.on('exit', () => {
  for (const p of live) {
    try {
      p.kill('SIGKILL');
    } catch {
      /* already gone */
    }
  }
});

/**
 * Starts Herald with `beamsYAML` appended to a minimal config. Returns
 * {port, origin, output(), exited(), stop()}; stop() is safe to call twice.
 */
async function startHerald({ beamsYAML, name = 'herald' }) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'herald-beams-browser-'));
  let proc = null;
  let output = '';
  let exited = null;
  let exitPromise = Promise.resolve();
  const stop = async () => {
    if (proc && !exited) {
      proc.kill('SIGTERM');
      const killer = setTimeout(() => {
        if (!exited) proc.kill('SIGKILL');
      }, 5000);
      await exitPromise;
      clearTimeout(killer);
    }
    try {
      fs.mkdirSync(ARTIFACTS, { recursive: true });
      fs.writeFileSync(path.join(ARTIFACTS, `${name}.log`), output);
    } catch {
      /* best effort */
    }
    fs.rmSync(dir, { recursive: true, force: true });
  };
  try {
    let bin = process.env.HERALD_BIN;
    if (!bin) {
      bin = path.join(dir, 'herald');
      const res = spawnSync('go', ['build', '-o', bin, './cmd/herald'], { cwd: REPO_ROOT, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
      if (res.error || res.status !== 0) {
        throw new Error(`go build ./cmd/herald failed (exit ${res.status}): ${res.error ? res.error.message : ''}\n${res.stdout}${res.stderr}`);
      }
    }
    const port = await freePort();
    const config = [
      'host: 127.0.0.1',
      `port: ${port}`,
      'apps:',
      '  - id: "1"',
      '    key: app-key',
      '    secret: app-secret',
      beamsYAML.replace(/\n*$/, ''),
      '',
    ].join('\n');
    const configFile = path.join(dir, 'herald.yaml');
    fs.writeFileSync(configFile, config);
    fs.mkdirSync(path.join(dir, 'data'));
    proc = spawn(bin, ['serve', '--config', configFile, '--data-dir', path.join(dir, 'data'), '--admin-listen', 'off'], {
      cwd: dir,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    live.add(proc);
    const onData = (chunk) => {
      output += chunk.toString();
      if (output.length > 2_000_000) output = output.slice(-1_000_000);
      if (process.env.BROWSER_TEST_LOG === '1') process.stderr.write(`[beams-${name}] ${chunk}`);
    };
    proc.stdout.on('data', onData);
    proc.stderr.on('data', onData);
    exitPromise = new Promise((resolve) => {
      proc.on('exit', (code, signal) => {
        live.delete(proc);
        exited = { code, signal };
        resolve();
      });
      proc.on('error', (err) => {
        live.delete(proc);
        output += `\n[spawn error] ${err.message}\n`;
        exited = { error: err.message };
        resolve();
      });
    });
    const origin = `http://127.0.0.1:${port}`;
    const deadline = Date.now() + 20_000;
    let last = 'no answer';
    for (;;) {
      if (exited) throw new Error(`herald exited during start-up (${JSON.stringify(exited)})\n--- output ---\n${output}`);
      try {
        const res = await fetch(`${origin}/ready`, { signal: AbortSignal.timeout(2000) });
        await res.arrayBuffer();
        if (res.status === 200) break;
        last = `status ${res.status}`;
      } catch (err) {
        last = err.message;
      }
      if (Date.now() > deadline) throw new Error(`herald did not answer 200 on /ready within 20 s (last: ${last})\n--- output ---\n${output}`);
      await sleep(100);
    }
    return { port, origin, output: () => output, exited: () => exited, stop };
  } catch (err) {
    await stop();
    throw err;
  }
}

/**
 * The service worker the page registers, assembled from the SDK's own source
 * (src/service-worker.js with its two imports inlined). The npm package ships
 * /service-worker.js as `importScripts('/dist/service-worker.js')` but not the
 * built dist/service-worker.js, so this serves that path; ES module syntax is
 * the only thing removed (a classic service worker cannot import).
 */
function assembledServiceWorker() {
  const src = (f) => fs.readFileSync(path.join(WEB_SDK_DIR, 'src', f), 'utf8');
  const doRequest = src('do-request.js').replace(/^export default function doRequest\(/m, 'function doRequest(');
  const store = src('device-state-store.js').replace(/^export default class DeviceStateStore /m, 'class DeviceStateStore ');
  const sw = src('service-worker.js').replace(/^import .*;\n/gm, '');
  for (const [name, text] of [['do-request.js', doRequest], ['device-state-store.js', store], ['service-worker.js', sw]]) {
    if (/^\s*(import|export)\s/m.test(text)) throw new Error(`@pusher/push-notifications-web src/${name}: unexpected module syntax left`);
  }
  return [
    `// @pusher/push-notifications-web ${require(path.join(WEB_SDK_DIR, 'package.json')).version}: src/do-request.js, src/device-state-store.js, src/service-worker.js`,
    doRequest,
    store,
    sw,
  ].join('\n');
}

/**
 * Appended to the customer's service worker: reports every
 * self.registration.showNotification call the SDK's push handler makes, once
 * it resolved (or failed), as a console line `beams-test:showNotification
 * <JSON>` that the test reads. The call itself is passed through unchanged.
 * (registration.getNotifications() is not used: in headless Chromium it
 * sometimes misses a notification that was shown.)
 */
const SW_OBSERVER = `
(() => {
  const reg = self.registration;
  const show = reg.showNotification.bind(reg);
  reg.showNotification = (title, options) => show(title, options).then(
    (v) => { console.log('beams-test:showNotification ' + JSON.stringify({ title, options, ok: true })); return v; },
    (err) => { console.log('beams-test:showNotification ' + JSON.stringify({ title, options, ok: false, error: String(err) })); throw err; });
})();
`;

/**
 * Starts the customer's backend. opts: {heraldOrigin, instanceId, beams (a
 * server SDK instance for generateToken), pushService}. Returns {port, url
 * (http://localhost:<port>), log (requests seen), subscriptions (made through
 * /test/subscribe), close()}.
 */
async function startBackend({ heraldOrigin, instanceId, beams, pushService }) {
  const pageDir = __dirname;
  const files = {
    '/': { type: 'text/html; charset=utf-8', body: () => fs.readFileSync(path.join(pageDir, 'index.html'), 'utf8') },
    '/page.js': { type: 'text/javascript', body: () => fs.readFileSync(path.join(pageDir, 'page.js'), 'utf8') },
    '/config.js': {
      type: 'text/javascript',
      body: () => `window.BEAMS_TEST_CONFIG = ${JSON.stringify({ instanceId, endpointOverride: heraldOrigin })};\n`,
    },
    '/push-notifications-cdn.js': {
      type: 'text/javascript',
      body: () => fs.readFileSync(path.join(WEB_SDK_DIR, 'dist', 'push-notifications-cdn.js'), 'utf8'),
    },
    // The package's own service-worker.js, plus what a customer's worker adds
    // to point the SDK's worker at another server (spec §1.1), plus an
    // observer of showNotification (SW_OBSERVER).
    '/service-worker.js': {
      type: 'text/javascript',
      body: () => `${fs.readFileSync(path.join(WEB_SDK_DIR, 'service-worker.js'), 'utf8').trim()}\n` +
        `self.PusherPushNotifications.endpointOverride = ${JSON.stringify(heraldOrigin)};\n${SW_OBSERVER}`,
    },
    '/dist/service-worker.js': { type: 'text/javascript', body: assembledServiceWorker },
  };
  const log = [];
  const subscriptions = [];
  const tokenRequests = [];

  const server = http.createServer((req, res) => {
    const url = new URL(req.url, 'http://localhost');
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => {
      const send = (status, type, body) => {
        log.push(`${req.method} ${req.url} -> ${status}`);
        res.writeHead(status, { 'Content-Type': type, 'Cache-Control': 'no-store' });
        res.end(body);
      };
      try {
        if (req.method === 'GET' && files[url.pathname]) {
          const f = files[url.pathname];
          return send(200, f.type, f.body());
        }
        if (req.method === 'GET' && url.pathname === '/beams-auth') {
          // A real app checks its own session first (spec §3.3).
          const userId = url.searchParams.get('user_id');
          tokenRequests.push({ userId, query: url.search });
          if (!userId) return send(400, 'application/json', JSON.stringify({ error: 'user_id missing' }));
          return send(200, 'application/json', JSON.stringify(beams.generateToken(userId)));
        }
        if (req.method === 'POST' && url.pathname === '/test/subscribe') {
          const { applicationServerKey } = JSON.parse(Buffer.concat(chunks).toString('utf8'));
          const sub = pushService.subscribe(applicationServerKey);
          subscriptions.push({ ...sub, applicationServerKey });
          return send(200, 'application/json', JSON.stringify(sub.subscription));
        }
        return send(404, 'text/plain', 'not found');
      } catch (err) {
        return send(500, 'text/plain', String(err && err.stack));
      }
    });
  });
  await new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', resolve);
  });
  const { port } = server.address();
  return {
    port,
    url: `http://localhost:${port}`,
    log,
    subscriptions,
    tokenRequests,
    close: () => new Promise((resolve) => {
      server.close(() => resolve());
      server.closeAllConnections();
    }),
  };
}

module.exports = { ARTIFACTS, assembledServiceWorker, startBackend, startHerald };
