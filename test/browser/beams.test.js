'use strict';
// The Beams web SDK (@pusher/push-notifications-web 2.1.0) in Debian's
// Chromium (playwright-core) against a real Herald, with the official server
// SDK (@pusher/push-notifications-server 1.2.7) publishing from Node.
//
// The page (beams/index.html, opened as http://localhost:<backend port>)
// runs the SDK's browser bundle and registers the SDK's service worker; Herald
// listens on http://127.0.0.1:<port>, another origin, so every device-API
// call is a real cross-origin request (preflights for PUT/DELETE, JSON and
// Authorization). Only PushManager.prototype.subscribe/getSubscription are
// replaced (beams/page.js): the subscription is made at the loopback push
// service of test/compat/pushservice.js, which then receives, verifies and
// decrypts what Herald sends. The decrypted messages are finally handed to
// the SDK's service worker (DevTools ServiceWorker.deliverPushMessage), which
// shows them as notifications (observed by wrapping showNotification in the
// customer's part of the worker, see beams/backend.js) and reports each
// delivery to Herald's reporting API.
//
// Steps run in order and share one page. Every wait is bounded; a failing
// step prints the page console, the backend's requests, the push service's
// view and Herald's output. Herald's log and the page console are kept in
// artifacts/beams/. BROWSER_TEST_LOG=1 echoes Herald's output live.

const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');
const { after, before, describe, it } = require('node:test');
const { chromium } = require('playwright-core');
const PushNotifications = require('@pusher/push-notifications-server');
const { PushService } = require('../compat/pushservice');
const { ARTIFACTS, startBackend, startHerald } = require('./beams/backend');
const { CHROMIUM, CHROMIUM_ARGS } = require('./servers');

const WAIT = 10_000; // bound on every wait
const INSTANCE = '00000000-0000-0000-0000-000000000001';
const SECRET = 'beams-secret-key';
const BEAMS_YAML = [
  'beams:',
  '  allow_private_endpoints: true',
  '  instances:',
  `    - id: ${INSTANCE}`,
  `      secret_key: ${SECRET}`,
].join('\n');

const WEB = {
  notification: { title: 'Hello from Herald', body: 'Hello, world!', deep_link: 'https://example.com/x' },
  data: { k: 'v' },
};

/** Rejects after ms with `what` unless promise settles first. */
function within(promise, ms, what) {
  let timer;
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms: ${what}`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/**
 * Calls fn (sync or async) every 50 ms until it returns a truthy value, which
 * is returned; throws after ms naming `what` (a string or a function called then).
 */
async function poll(fn, what, ms = WAIT) {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() >= deadline) throw new Error(`timed out after ${ms} ms waiting for: ${typeof what === 'function' ? what() : what}`);
    await new Promise((res) => setTimeout(res, 50));
  }
}

describe('Beams web SDK 2.1.0 in Chromium against Herald', () => {
  let ps;
  let herald;
  let backend;
  let browser;
  let context;
  let page;
  let beams; // server SDK
  const consoleLines = [];
  const pageErrors = [];
  const heraldResponses = []; // responses the page got from Herald
  const shownBySW = []; // showNotification calls of the service worker ({title, options, ok})
  const state = {}; // shared between steps

  function diagnostics() {
    return [
      '--- page console ---',
      ...consoleLines.slice(-80),
      ...(pageErrors.length ? ['--- page errors ---', ...pageErrors] : []),
      '--- responses from Herald seen by the browser ---',
      ...heraldResponses.slice(-40).map((r) => `${r.method} ${r.url} -> ${r.status} (allow-origin ${r.allowOrigin})${r.body ? ` ${r.body.slice(0, 200)}` : ''}`),
      '--- backend requests ---',
      ...(backend ? backend.log.slice(-40) : []),
      ps ? ps.describe() : '',
      `--- herald output (tail) ---\n${herald ? herald.output().slice(-5000) : '(not started)'}`,
    ].join('\n');
  }

  /** A test step: on failure the error carries the diagnostics. */
  function step(body) {
    return async () => {
      if (!page) throw new Error('the page was not set up (see the before() hook error above)');
      try {
        await body();
        if (herald.exited()) throw new Error(`herald exited: ${JSON.stringify(herald.exited())}`);
      } catch (err) {
        if (err && typeof err.stack === 'string') err.stack += `\n${diagnostics()}`;
        throw err;
      }
    };
  }

  /** Runs fn in the page (bounded); errors thrown there come back as rejections with their message. */
  function inPage(fn, arg, what = fn.toString().slice(0, 80)) {
    return within(page.evaluate(fn, arg), WAIT, `page: ${what}`);
  }

  async function heraldGet(urlPath) {
    const res = await fetch(`${herald.origin}${urlPath}`, { signal: AbortSignal.timeout(5000) });
    const text = await res.text();
    let json;
    try {
      json = JSON.parse(text);
    } catch {
      json = undefined;
    }
    return { status: res.status, text, json };
  }

  const devicePath = (id) => `/device_api/v1/instances/${INSTANCE}/devices/web/${id}`;

  before(async () => {
    fs.rmSync(ARTIFACTS, { recursive: true, force: true });
    fs.mkdirSync(ARTIFACTS, { recursive: true });
    ps = await new PushService().start();
    try {
      herald = await startHerald({ beamsYAML: BEAMS_YAML });
      beams = new PushNotifications({ instanceId: INSTANCE, secretKey: SECRET, endpoint: '127.0.0.1', port: herald.port });
      backend = await startBackend({ heraldOrigin: herald.origin, instanceId: INSTANCE, beams, pushService: ps });
      browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: CHROMIUM_ARGS, timeout: 30_000 });
      context = await browser.newContext({ permissions: ['notifications'] });
      context.setDefaultTimeout(WAIT);
      context.on('response', (res) => {
        if (!res.url().startsWith(herald.origin)) return;
        heraldResponses.push({
          method: res.request().method(),
          body: res.request().postData(),
          url: res.url().slice(herald.origin.length),
          status: res.status(),
          allowOrigin: res.headers()['access-control-allow-origin'],
        });
      });
      // Console of the page and of the SDK's service worker.
      context.on('console', (m) => {
        if (m.text().startsWith('beams-test:showNotification ')) {
          shownBySW.push(JSON.parse(m.text().slice('beams-test:showNotification '.length)));
          return;
        }
        const w = m.worker && m.worker();
        consoleLines.push(`[${m.type()}]${w ? ` (worker ${w.url().replace(/^.*\//, '')})` : ''} ${m.text()}`);
      });
      context.on('weberror', (e) => pageErrors.push(e.error().message));
      page = await context.newPage();
    } catch (err) {
      // after() stops whatever started; keep Herald's output with the error.
      if (herald && err && typeof err.stack === 'string') err.stack += `\n--- herald output ---\n${herald.output().slice(-5000)}`;
      throw err;
    }
  }, { timeout: 180_000 });

  after(async () => {
    try {
      fs.writeFileSync(path.join(ARTIFACTS, 'page-console.log'), `${[...consoleLines, ...pageErrors.map((e) => `[pageerror] ${e}`)].join('\n')}\n`);
    } catch {
      /* best effort */
    }
    try {
      if (browser) await browser.close();
    } finally {
      if (backend) await backend.close();
      if (herald) await herald.stop();
      if (ps) await ps.close();
    }
  });

  it('start(): the SDK subscribes with Herald\'s VAPID key and registers a web- device', step(async () => {
    await page.goto(backend.url);
    assert.equal(await page.evaluate(() => window.isSecureContext), true, 'the page is a secure context');
    const deviceId = await inPage(async () => {
      await window.beamsClient.start();
      return window.beamsClient.getDeviceId();
    }, undefined, 'start()');
    assert.match(deviceId, /^web-/, `device id ${deviceId}`);
    state.deviceId = deviceId;

    // The SDK subscribed once, with the key Herald serves, through the stand-in.
    const vapid = await heraldGet(`/device_api/v1/instances/${INSTANCE}/web-vapid-public-key`);
    assert.equal(vapid.status, 200);
    assert.equal(backend.subscriptions.length, 1, 'one push subscription');
    const sub = backend.subscriptions[0];
    assert.equal(sub.applicationServerKey, vapid.json.vapidPublicKey, 'subscribed with Herald\'s VAPID key');
    state.sub = sub;
    const calls = await page.evaluate(() => window.pushStandIn.calls.filter((c) => c.call === 'subscribe'));
    assert.deepEqual(calls, [{ call: 'subscribe', userVisibleOnly: true, keyLength: 65 }]);

    // Herald knows the device; the SDK's service worker is active; the SDK reports its state.
    const dev = await heraldGet(devicePath(deviceId));
    assert.equal(dev.status, 200, `GET device: ${dev.text}`);
    const sw = await inPage(async () => {
      const reg = await navigator.serviceWorker.ready;
      return reg.active && reg.active.scriptURL;
    }, undefined, 'service worker ready');
    assert.match(sw, /\/service-worker\.js\?pusherBeamsWebSDKVersion=2\.1\.0$/);
    assert.equal(await inPage(() => window.beamsClient.getRegistrationState()), 'PERMISSION_GRANTED_REGISTERED_WITH_BEAMS');
  }));

  it('interests: addDeviceInterest, setDeviceInterests, getDeviceInterests, removeDeviceInterest', step(async () => {
    const got = await inPage(async () => {
      const c = window.beamsClient;
      const out = {};
      await c.addDeviceInterest('hello');
      out.afterAdd = (await c.getDeviceInterests()).interests.slice().sort();
      await c.setDeviceInterests(['donuts', 'hello', 'donuts', 'news@x.y;z=1,_-']);
      out.afterSet = (await c.getDeviceInterests()).interests.slice().sort();
      await c.removeDeviceInterest('donuts');
      out.afterRemove = (await c.getDeviceInterests()).interests.slice().sort();
      try {
        await c.addDeviceInterest('bad:name');
        out.bad = 'accepted';
      } catch (e) {
        out.bad = e.message;
      }
      return out;
    }, undefined, 'interest calls');
    assert.deepEqual(got.afterAdd, ['hello']);
    assert.deepEqual(got.afterSet, ['donuts', 'hello', 'news@x.y;z=1,_-']);
    assert.deepEqual(got.afterRemove, ['hello', 'news@x.y;z=1,_-']);
    assert.match(got.bad, /forbidden character/, 'the SDK refuses a bad name itself');
    // Herald's own view agrees.
    const res = await heraldGet(`${devicePath(state.deviceId)}/interests`);
    assert.equal(res.status, 200, res.text);
    assert.deepEqual(res.json.interests.slice().sort(), ['hello', 'news@x.y;z=1,_-']);
  }));

  it('setUserId(\'alice\') with a TokenProvider: token from /beams-auth, device associated', step(async () => {
    const userId = await inPage(async () => {
      await window.beamsClient.setUserId('alice', window.beamsTokenProvider);
      return window.beamsClient.getUserId();
    }, undefined, 'setUserId');
    assert.equal(userId, 'alice');
    assert.deepEqual(backend.tokenRequests.map((r) => r.userId), ['alice'], 'the token provider asked the backend once');
    const dev = await heraldGet(devicePath(state.deviceId));
    assert.equal(dev.status, 200, dev.text);
    assert.equal(dev.json.userId, 'alice', `device JSON: ${dev.text}`);
  }));

  it('publishes from the server SDK reach the push service, decrypted, with the right publishIds', step(async () => {
    const id = state.sub.id;
    const { publishId: toInterest } = await within(beams.publishToInterests(['hello'], { web: WEB }), WAIT, 'publishToInterests');
    await ps.waitFor(() => ps.messagesFor(id).length >= 1, WAIT, 'the interest publish at the push service');
    const { publishId: toUser } = await within(beams.publishToUsers(['alice'], { web: WEB }), WAIT, 'publishToUsers');
    await ps.waitFor(() => ps.messagesFor(id).length >= 2, WAIT, 'the user publish at the push service');
    await new Promise((r) => setTimeout(r, 300)); // nothing else may follow
    const msgs = ps.messagesFor(id);
    assert.equal(msgs.length, 2, 'one message per publish');
    const byPublish = Object.fromEntries(msgs.map((m) => [m.json && m.json.data && m.json.data.pusher && m.json.data.pusher.publishId, m.json]));
    for (const publishId of [toInterest, toUser]) {
      const m = byPublish[publishId];
      assert.ok(m, `a message for ${publishId}: ${msgs.map((x) => x.plaintext).join(' | ')}`);
      assert.deepEqual(m.notification, WEB.notification);
      assert.equal(m.data.k, 'v');
      assert.equal(m.data.pusher.instanceId, INSTANCE);
    }
    state.messages = msgs;
  }));

  it('the SDK\'s service worker shows the delivered messages as notifications', step(async () => {
    // Hand the decrypted payloads to the service worker as push events.
    const cdp = await context.newCDPSession(page);
    try {
      const regs = new Map();
      cdp.on('ServiceWorker.workerRegistrationUpdated', ({ registrations }) => {
        for (const r of registrations) regs.set(r.registrationId, r);
      });
      await cdp.send('ServiceWorker.enable');
      const origin = new URL(backend.url).origin;
      const reg = await poll(() => [...regs.values()].find((x) => !x.isDeleted && x.scopeURL.startsWith(origin)),
        'the service worker registration over DevTools');
      for (const m of state.messages) {
        await within(cdp.send('ServiceWorker.deliverPushMessage', { origin, registrationId: reg.registrationId, data: m.plaintext }), WAIT, 'deliverPushMessage');
      }
      const shownFor = (publishId) => shownBySW.filter((n) => n.options && n.options.data && n.options.data.pusher &&
        n.options.data.pusher.pusherMetadata && n.options.data.pusher.pusherMetadata.publishId === publishId);
      const publishIds = state.messages.map((m) => m.json.data.pusher.publishId);
      await poll(() => publishIds.every((id) => shownFor(id).length > 0),
        () => `showNotification for each of ${publishIds.join(', ')} (seen: ${JSON.stringify(shownBySW).slice(0, 800)})`);
      assert.equal(shownBySW.length, state.messages.length, 'one notification per push');
      // The worker reports each delivery to Herald's reporting API (spec §2.5: accept, 200).
      const reportsFor = (publishId) => heraldResponses.filter((r) => r.method === 'POST' && r.url.startsWith(`/reporting_api/v2/instances/${INSTANCE}/events`) &&
        r.body && JSON.parse(r.body).publishId === publishId);
      await poll(() => publishIds.every((id) => reportsFor(id).length > 0), `the worker's delivery reports for ${publishIds.join(', ')}`);
      for (const id of publishIds) {
        const [r] = reportsFor(id);
        assert.equal(r.status, 200, `POST reporting_api events for ${id}: ${r.status}`);
        const ev = JSON.parse(r.body);
        assert.equal(ev.event, 'delivery');
        assert.equal(ev.deviceId, state.deviceId);
        assert.equal(ev.userId, 'alice');
      }
      for (const n of shownBySW) {
        assert.equal(n.ok, true, `showNotification resolved: ${JSON.stringify(n)}`);
        assert.equal(n.title, WEB.notification.title);
        assert.equal(n.options.body, WEB.notification.body);
        assert.deepEqual(n.options.data.pusher.customerPayload.notification, WEB.notification);
        assert.deepEqual(n.options.data.pusher.customerPayload.data, WEB.data, 'the worker strips data.pusher for the customer');
        assert.equal(n.options.data.pusher.pusherMetadata.instanceId, INSTANCE);
      }
    } finally {
      await cdp.detach().catch(() => {});
    }
  }));

  it('stop(): the device is deleted in Herald', step(async () => {
    const after = await inPage(async () => {
      await window.beamsClient.stop();
      return { deviceId: await window.beamsClient.getDeviceId(), state: await window.beamsClient.getRegistrationState() };
    }, undefined, 'stop()');
    assert.equal(after.deviceId, null);
    assert.equal(after.state, 'PERMISSION_GRANTED_NOT_REGISTERED_WITH_BEAMS');
    const dev = await heraldGet(devicePath(state.deviceId));
    assert.equal(dev.status, 404, `GET device after stop(): ${dev.status} ${dev.text}`);
  }));

  it('cross-origin calls worked: CORS headers on every Herald response, no page errors', step(async () => {
    assert.deepEqual(pageErrors, [], 'uncaught errors in the page');
    const errors = consoleLines.filter((l) => l.startsWith('[error]'));
    assert.deepEqual(errors, [], 'console errors (a CORS failure shows up here)');
    const seen = heraldResponses.map((r) => `${r.method} ${r.url.replace(/web-[0-9a-f-]+/, 'web-{id}').replace(/\?.*$/, '')}`);
    for (const want of [
      'GET /device_api/v1/instances/{i}/web-vapid-public-key',
      'POST /device_api/v1/instances/{i}/devices/web',
      'POST /device_api/v1/instances/{i}/devices/web/web-{id}/interests/hello',
      'PUT /device_api/v1/instances/{i}/devices/web/web-{id}/interests',
      'GET /device_api/v1/instances/{i}/devices/web/web-{id}/interests',
      'DELETE /device_api/v1/instances/{i}/devices/web/web-{id}/interests/donuts',
      'PUT /device_api/v1/instances/{i}/devices/web/web-{id}/user',
      'DELETE /device_api/v1/instances/{i}/devices/web/web-{id}',
    ]) {
      assert.ok(seen.includes(want.replace('{i}', INSTANCE)), `the page called ${want} (saw ${[...new Set(seen)].join(', ')})`);
    }
    const failed = heraldResponses.filter((r) => r.status >= 400);
    assert.deepEqual(failed, [], 'Herald refused none of the SDK\'s calls');
    const origin = new URL(backend.url).origin;
    const noCors = heraldResponses.filter((r) => r.allowOrigin !== '*' && r.allowOrigin !== origin);
    assert.deepEqual(noCors, [], 'every response allows the page\'s origin');
  }));
});
