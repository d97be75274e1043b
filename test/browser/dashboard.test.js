'use strict';
// The web dashboard in a real browser: Debian's Chromium driven by
// playwright-core against a real Herald (the embedded default: SQLite app
// store, admin listener with the dashboard) and a real pusher-js client in a
// second page. Steps run in order and share the browser; a screenshot of
// every page goes to artifacts/dashboard/.

const assert = require('node:assert/strict');
const crypto = require('node:crypto');
const fs = require('node:fs');
const http = require('node:http');
const os = require('node:os');
const path = require('node:path');
const { after, before, describe, it } = require('node:test');
const { chromium } = require('playwright-core');
const { ARTIFACTS, REPO_ROOT, CHROMIUM, CHROMIUM_ARGS, Proc, goBuild, freePort, sleep } = require('./servers');

const WAIT = 10_000; // bound on every wait for something to show up
// The charts get a point per 10-second sampling interval: a change shows
// within two intervals and the page's next poll.
const CHART_WAIT = 45_000;
const OUT = path.join(ARTIFACTS, 'dashboard');
// The official Node server SDK, as a customer's backend uses it (installed
// for the compatibility tests).
const Pusher = require(path.join(REPO_ROOT, 'test', 'compat', 'node_modules', 'pusher'));
const PUSHER_JS = path.join(REPO_ROOT, 'examples', 'chat', 'node_modules', 'pusher-js', 'dist', 'web', 'pusher.min.js');
const APP_ID = 'browser-app';

// The client page: pusher-js connected to Herald with the key in the query,
// subscribed to "news", showing every "greeting" in #events. Its state, its
// socket id and every subscription error are in data attributes for the
// test to read. subscribeBad() subscribes to a private channel with a made-up
// signature (a customHandler stands in for the customer's auth endpoint).
const CLIENT_HTML = `<!doctype html>
<html><head><meta charset="utf-8"><title>pusher-js client</title>
<script src="/pusher.min.js"></script></head>
<body>
<h1>pusher-js client</h1>
<p>State: <strong id="state">initialized</strong> · socket <code id="socket"></code></p>
<ul id="events"></ul>
<ul id="errors"></ul>
<script src="/client.js"></script>
</body></html>`;

const CLIENT_JS = `
(function () {
  var q = new URLSearchParams(location.search);
  var key = q.get('key');
  var pusher = new Pusher(key, {
    cluster: 'mt1', wsHost: '127.0.0.1', wsPort: Number(q.get('port')), forceTLS: false,
    enabledTransports: ['ws'], disableStats: true,
    channelAuthorization: {
      customHandler: function (params, cb) {
        cb(null, { auth: key + ':' + '0'.repeat(64) });
      }
    }
  });
  window.pusher = pusher;
  var stateEl = document.getElementById('state');
  pusher.connection.bind('state_change', function (s) {
    stateEl.textContent = s.current;
    document.getElementById('socket').textContent = pusher.connection.socket_id || '';
  });
  pusher.subscribe('news').bind('greeting', function (data) {
    var li = document.createElement('li');
    li.textContent = JSON.stringify(data);
    document.getElementById('events').appendChild(li);
  });
  window.subscribeBad = function () {
    var ch = pusher.subscribe('private-orders');
    ch.bind('pusher:subscription_error', function (err) {
      var li = document.createElement('li');
      li.textContent = 'subscription_error ' + JSON.stringify(err);
      document.getElementById('errors').appendChild(li);
    });
  };
}());
`;

/** Serves the client page and pusher-js on a free loopback port. */
async function startClientSite() {
  const pusherJS = fs.readFileSync(PUSHER_JS);
  const port = await freePort();
  const webhooks = []; // {headers, body} of every POST /webhook
  const srv = http.createServer((req, res) => {
    const p = new URL(req.url, 'http://localhost').pathname;
    if (req.method === 'POST' && p === '/webhook') {
      const chunks = [];
      req.on('data', (c) => chunks.push(c));
      req.on('end', () => {
        webhooks.push({ headers: req.headers, body: Buffer.concat(chunks).toString('utf8') });
        res.writeHead(200, { 'Content-Type': 'application/json' }).end('{"received":true}');
      });
      return;
    }
    const files = {
      '/client.html': ['text/html; charset=utf-8', CLIENT_HTML],
      '/client.js': ['text/javascript', CLIENT_JS],
      '/pusher.min.js': ['text/javascript', pusherJS],
    };
    const f = files[p];
    if (!f) {
      res.writeHead(404).end();
      return;
    }
    res.writeHead(200, { 'Content-Type': f[0] }).end(f[1]);
  });
  await new Promise((resolve) => srv.listen(port, '127.0.0.1', resolve));
  return { url: `http://localhost:${port}`, webhooks, close: () => new Promise((resolve) => srv.close(resolve)) };
}

describe('the dashboard in Chromium', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'herald-dashboard-'));
  const token = `tok-${crypto.randomBytes(16).toString('hex')}`;
  let herald;
  let site;
  let browser;
  let admin; // the dashboard's base URL
  let publicPort;
  let dash; // the operator's page
  let client; // the pusher-js page
  let dashCtx;
  let app = {}; // id, key, secret as read from the App keys page
  let socketBefore = '';
  const received = []; // the dashboard's responses, checked for leaks at the end

  async function shot(name, page = dash) {
    await page.screenshot({ path: path.join(OUT, `${name}.png`), fullPage: true });
  }

  async function clientState() {
    return client.locator('#state').textContent();
  }

  /** Reloads page until fn() (in the test) is true, bounded. */
  async function reloadUntil(page, fn, what, timeoutMs = WAIT) {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      if (await fn()) return;
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
      await sleep(500);
      await page.reload();
    }
  }

  /** The app's chart data as the charts page fetches it, for the last hour. */
  async function chartData(appID) {
    return dash.evaluate(async (u) => {
      const res = await fetch(u, { credentials: 'same-origin', headers: { Accept: 'application/json' } });
      return res.json();
    }, `${admin}/stats/data?app=${encodeURIComponent(appID)}&range=1h`);
  }

  /** The largest value of a chart's line in data (0 when missing). */
  function maxOf(data, chartID, lineKey) {
    const ch = data.charts.find((c) => c.id === chartID);
    if (!ch) return 0;
    let m = 0;
    for (const l of ch.lines) {
      if (lineKey && l.key !== lineKey) continue;
      for (const v of l.values) if (v != null && v > m) m = v;
    }
    return m;
  }

  // The environment of Herald: the admin token, and nothing of the
  // caller's that would change the embedded default.
  function heraldEnv() {
    const env = { ...process.env, HERALD_ADMIN_TOKEN: token };
    for (const k of Object.keys(env)) {
      if (k.startsWith('HERALD_') && k !== 'HERALD_ADMIN_TOKEN') delete env[k];
    }
    return env;
  }

  before(async () => {
    fs.rmSync(OUT, { recursive: true, force: true });
    fs.mkdirSync(OUT, { recursive: true });
    const bin = goBuild('./cmd/herald', path.join(dir, 'herald'));
    publicPort = await freePort();
    const adminPort = await freePort();
    admin = `http://127.0.0.1:${adminPort}`;
    herald = new Proc(
      'dashboard/herald',
      bin,
      ['serve', '--host', '127.0.0.1', '--port', String(publicPort), '--admin-listen', `127.0.0.1:${adminPort}`, '--data-dir', path.join(dir, 'data')],
      { cwd: dir, env: heraldEnv() },
    );
    await herald.waitReady(`http://127.0.0.1:${publicPort}/ready`);
    await herald.waitReady(`${admin}/login`);
    site = await startClientSite();
    browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: CHROMIUM_ARGS, timeout: 30_000 });
    dashCtx = await browser.newContext({ viewport: { width: 1200, height: 800 } });
    dashCtx.setDefaultTimeout(WAIT);
    dashCtx.on('response', (res) => {
      // A console's event stream never ends: its body is not awaited (the
      // events it carried are checked in the page).
      if ((res.headers()['content-type'] || '').startsWith('text/event-stream')) return;
      received.push(
        res.body().then(
          (body) => ({ url: res.url(), body: body.toString('latin1') }),
          () => ({ url: res.url(), body: '' }),
        ),
      );
    });
    dash = await dashCtx.newPage();
    dash.on('pageerror', (err) => received.push({ url: 'pageerror', body: '', error: err.message }));
    const clientCtx = await browser.newContext({ viewport: { width: 800, height: 500 } });
    clientCtx.setDefaultTimeout(WAIT);
    client = await clientCtx.newPage();
  }, { timeout: 300_000 });

  after(async () => {
    if (browser) await browser.close().catch(() => {});
    if (site) await site.close();
    if (herald) await herald.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('a wrong token is refused; the admin token logs in', async () => {
    await dash.goto(`${admin}/`);
    await dash.waitForURL('**/login**');
    await shot('01-login');
    await dash.locator('#token').fill('not-the-token-0123456789');
    await dash.locator('form button[type=submit]').click();
    await dash.locator('p.error[role=alert]').waitFor();
    assert.match(await dash.locator('p.error').textContent(), /token/i);
    await shot('02-login-refused');

    await dash.locator('#token').fill(token);
    await Promise.all([dash.waitForURL(`${admin}/`), dash.locator('form button[type=submit]').click()]);
    await dash.locator('h1', { hasText: 'Apps' }).waitFor();
    const cookies = await dashCtx.cookies(admin);
    assert.ok(cookies.length >= 1, 'a session cookie');
    for (const c of cookies.filter((c) => c.name.includes('session'))) {
      assert.equal(c.httpOnly, true, `${c.name} HttpOnly`);
      assert.equal(c.sameSite, 'Strict', `${c.name} SameSite`);
      assert.ok(!c.value.includes(token), 'the cookie is not the token');
    }
    await shot('03-apps');
  });

  it('lists the generated default app as the config file\'s, read-only', async () => {
    // No config file: the embedded default's app, printed in the banner,
    // is a config app; its credentials are in <data_dir>/default-app.json.
    const def = JSON.parse(fs.readFileSync(path.join(dir, 'data', 'default-app.json'), 'utf8'));
    assert.ok(def.id && def.key, 'default-app.json has an id and a key');
    const row = dash.locator('#config-apps tr', { has: dash.locator(`a:text-is("${def.id}")`) });
    await row.waitFor();
    assert.equal((await row.locator('code').textContent()).trim(), def.key);
    assert.equal((await row.locator('.badge.config').textContent()).trim(), 'config file');
    assert.equal(await row.locator('a', { hasText: 'Console' }).count(), 1, 'a console link');

    await Promise.all([dash.waitForURL(`**/apps/${def.id}`), row.locator(`a:text-is("${def.id}")`).click()]);
    await dash.locator('#config-note', { hasText: 'Defined in the config file' }).waitFor();
    assert.equal(await dash.locator('#app-key').textContent(), def.key);
    assert.equal(await dash.locator('a[href$="/edit"], form[action$="/rotate"], form[action$="/disable"], a[href$="/delete"]').count(), 0,
      'no form that changes it');
    await shot('03b-default-app');
    await dash.goto(`${admin}/`);
  });

  it('creates an app and shows its keys, the secret only when revealed', async () => {
    await dash.locator('a', { hasText: 'New app' }).click();
    await dash.locator('#id').fill(APP_ID);
    await dash.locator('input[name=enable_client_messages]').check();
    await shot('04-new-app');
    await Promise.all([dash.waitForURL(`**/apps/${APP_ID}?notice=created`), dash.locator('button', { hasText: 'Create app' }).click()]);
    await dash.locator('p.notice', { hasText: 'App created' }).waitFor();
    assert.equal(await dash.locator('#app-id').textContent(), APP_ID);
    app.id = APP_ID;
    app.key = (await dash.locator('#app-key').textContent()).trim();
    assert.match(app.key, /^[A-Za-z0-9_.-]{8,}$/);
    assert.equal(await dash.locator('#app-secret').count(), 0, 'the secret is hidden until revealed');
    const snippet = await dash.locator('#snippet-js').textContent();
    assert.ok(snippet.includes(app.key) && snippet.includes(String(publicPort)), `pusher-js snippet: ${snippet}`);
    await shot('05-app-keys');

    await dash.locator('form[action$="/reveal"] button').click();
    await dash.locator('#app-secret').waitFor();
    app.secret = (await dash.locator('#app-secret').textContent()).trim();
    assert.ok(app.secret.length >= 16, 'a generated secret');
    assert.ok((await dash.locator('#snippet-node').textContent()).includes(app.secret), 'the Node snippet has the revealed secret');
    await shot('06-app-keys-revealed');
  });

  it('a pusher-js client connects with those keys: the connection count and the chart move', async () => {
    await client.goto(`${site.url}/client.html?key=${encodeURIComponent(app.key)}&port=${publicPort}`);
    await client.locator('#state', { hasText: 'connected' }).waitFor();
    socketBefore = (await client.locator('#socket').textContent()).trim();
    assert.match(socketBefore, /^\d+\.\d+$/);
    await shot('07-client-connected', client);

    await dash.goto(`${admin}/`);
    const row = dash.locator('tr', { has: dash.locator(`a:text-is("${APP_ID}")`) });
    await reloadUntil(dash, async () => (await row.locator('td.num').first().textContent()).trim() === '1', 'the app list to count 1 connection');
    await shot('08-apps-one-connection');

    await dash.goto(`${admin}/apps/${APP_ID}/stats`);
    await dash.locator('#charts[data-state=ok]').waitFor();
    // The connection shows in the next sampling interval's point.
    const deadline = Date.now() + CHART_WAIT;
    while (maxOf(await chartData(APP_ID), 'connections') < 1) {
      assert.ok(Date.now() < deadline, 'the connections chart never showed the client');
      await sleep(1000);
    }
    await dash.reload();
    await dash.locator('#chart-connections:not([data-points="0"])').waitFor();
    await dash.locator('#chart-new_connections:not([data-points="0"])').waitFor();
    await shot('09-app-charts');
  });

  it('the event creator publishes through the API path: the client gets it and the console shows it', async () => {
    await dash.goto(`${admin}/apps/${APP_ID}/console`);
    await dash.locator('#console-status', { hasText: 'Live' }).waitFor();
    await dash.locator('#trigger-channel').fill('news');
    await dash.locator('#trigger-event').fill('greeting');
    await dash.locator('#trigger-data').fill('{"hello":"from the dashboard"}');
    await dash.locator('#console-trigger button[type=submit]').click();
    await dash.locator('#trigger-result', { hasText: 'Published.' }).waitFor();
    await client.locator('#events li', { hasText: 'from the dashboard' }).waitFor();
    await dash.locator('#console-events tr.type-api_message', { hasText: 'news' }).first().waitFor();
    await shot('10-console-event-creator');
    await shot('11-client-got-event', client);
  });

  it('a bad subscription signature shows in the console (reason, address, no signature) and on the chart', async () => {
    await client.evaluate(() => window.subscribeBad());
    await client.locator('#errors li', { hasText: 'subscription_error' }).waitFor();
    const row = dash.locator('#console-events tr.type-auth_failed', { hasText: 'private-orders' }).first();
    await row.waitFor();
    const text = await row.textContent();
    assert.match(text, /bad_signature/);
    assert.match(text, /127\.0\.0\.1/);
    assert.ok(!text.includes('0'.repeat(64)), 'the console shows no signature');
    assert.ok(!text.includes(app.secret), 'the console shows no secret');
    await shot('12-console-auth-failed');

    const deadline = Date.now() + CHART_WAIT;
    while (maxOf(await chartData(APP_ID), 'auth_failures', 'bad_signature') < 1) {
      assert.ok(Date.now() < deadline, 'the failed-authorizations chart never showed the bad signature');
      await sleep(1000);
    }
    await dash.goto(`${admin}/apps/${APP_ID}/stats`);
    await dash.locator('#chart-auth_failures:not([data-points="0"])').waitFor();
    await dash.locator('#chart-auth_failures').scrollIntoViewIfNeeded();
    await shot('13-app-charts-auth-failure');
  });

  it('rotating the secret keeps the client connected and receiving', async () => {
    await dash.goto(`${admin}/apps/${APP_ID}`);
    await dash.locator('#grace').fill('1h');
    await Promise.all([dash.waitForURL('**notice=rotated'), dash.locator('form[action$="/rotate"] button').click()]);
    await dash.locator('p.notice', { hasText: 'Secret rotated' }).waitFor();
    await dash.locator('ul.previous li').first().waitFor();
    await dash.locator('form[action$="/reveal"] button').click();
    const secret2 = (await dash.locator('#app-secret').textContent()).trim();
    assert.notEqual(secret2, app.secret, 'a new secret');
    app.secret2 = secret2;
    await shot('14-secret-rotated');

    assert.equal(await clientState(), 'connected');
    assert.equal((await client.locator('#socket').textContent()).trim(), socketBefore, 'the same connection');
    await dash.goto(`${admin}/apps/${APP_ID}/console`);
    await dash.locator('#console-status', { hasText: 'Live' }).waitFor();
    await dash.locator('#trigger-channel').fill('news');
    await dash.locator('#trigger-event').fill('greeting');
    await dash.locator('#trigger-data').fill('{"hello":"after the rotation"}');
    await dash.locator('#console-trigger button[type=submit]').click();
    await dash.locator('#trigger-result', { hasText: 'Published.' }).waitFor();
    await client.locator('#events li', { hasText: 'after the rotation' }).waitFor();

    // A backend not yet updated signs with the old secret: accepted during
    // the grace period, and counted as the previous secret's use.
    const backend = new Pusher({ appId: APP_ID, key: app.key, secret: app.secret, host: '127.0.0.1', port: String(publicPort), useTLS: false });
    const res = await backend.trigger('news', 'greeting', { hello: 'signed with the old secret' });
    assert.equal(res.status, 200);
    await client.locator('#events li', { hasText: 'signed with the old secret' }).waitFor();
    assert.equal((await client.locator('#socket').textContent()).trim(), socketBefore, 'still the same connection');
    await shot('15-client-after-rotation', client);

    await dash.goto(`${admin}/apps/${APP_ID}`);
    const uses = async (gen) => Number((await dash.locator('table.uses tr', { has: dash.locator(`td:text-is("${gen}")`) }).locator('td.num').textContent()).trim());
    assert.ok((await uses('previous')) >= 1, 'the old secret shows as used');
    assert.ok((await uses('primary')) >= 1, 'the new secret shows as used');
    await dash.locator('table.uses').scrollIntoViewIfNeeded();
    await shot('16-secret-uses');
  });

  it('edits settings, sends a test webhook, and shows the server-wide charts and the Beams pages', async () => {
    await dash.goto(`${admin}/apps/${APP_ID}/edit`);
    await dash.locator('#allowed_origins').fill(site.url);
    await dash.locator('#webhook_0_url').fill(`${site.url}/webhook`);
    await dash.locator('input[name=webhook_0_event_types][value=channel_occupied]').check();
    await shot('17-edit-settings');
    await Promise.all([dash.waitForURL('**notice=saved'), dash.locator('button', { hasText: 'Save settings' }).click()]);
    await dash.locator('dd code', { hasText: site.url }).first().waitFor();
    await shot('18-settings-saved');
    // The client's origin is allowed: it is still connected.
    assert.equal(await clientState(), 'connected');

    // "Send test webhook": one signed request to the saved URL, and the
    // receiver's answer on the page.
    await dash.goto(`${admin}/apps/${APP_ID}/edit`);
    await dash.locator('button', { hasText: 'Send test webhook' }).click();
    await dash.locator('#webhook-test-result', { hasText: '200' }).waitFor();
    assert.match(await dash.locator('#webhook-test-body').textContent(), /"received":true/);
    assert.equal(site.webhooks.length, 1, 'one test webhook');
    const hook = site.webhooks[0];
    assert.equal(hook.headers['x-pusher-key'], app.key);
    const want = crypto.createHmac('sha256', app.secret2).update(hook.body).digest('hex');
    assert.equal(hook.headers['x-pusher-signature'], want, 'signed with the current secret');
    assert.equal(JSON.parse(hook.body).events[0].name, 'channel_occupied');
    await shot('19-webhook-test');

    await dash.goto(`${admin}/stats`);
    await dash.locator('#charts[data-state=ok]').waitFor();
    await dash.locator('#chart-connections:not([data-points="0"])').waitFor();
    await shot('20-server-charts');

    await dash.goto(`${admin}/beams`);
    await dash.locator('h1').waitFor();
    await shot('21-beams');
  });

  it('deletes the app after a typed confirmation; its client is disconnected', async () => {
    await dash.goto(`${admin}/apps/${APP_ID}`);
    await dash.locator('a', { hasText: 'Delete…' }).click();
    await dash.locator('#confirm').fill(APP_ID);
    await shot('22-delete-confirm');
    await Promise.all([dash.waitForURL('**notice=deleted'), dash.locator('button.danger', { hasText: 'Delete app' }).click()]);
    await dash.locator('p.notice', { hasText: 'App deleted' }).waitFor();
    assert.equal(await dash.locator(`a:text-is("${APP_ID}")`).count(), 0, 'gone from the list');
    await shot('23-app-deleted');
    await client.waitForFunction(() => window.pusher.connection.state !== 'connected', null, { timeout: WAIT });
  });

  it('logs out; the session no longer works; nothing leaked the admin token', async () => {
    await Promise.all([dash.waitForURL('**/login**'), dash.locator('form.logout button').click()]);
    await dash.goto(`${admin}/apps/new`);
    await dash.waitForURL('**/login**');
    await shot('24-logged-out');
    const all = await Promise.all(received);
    const pageErrors = all.filter((r) => r.error).map((r) => r.error);
    assert.deepEqual(pageErrors, [], 'uncaught errors in the dashboard');
    const leaks = all.filter((r) => r.body.includes(token) || r.url.includes(token));
    assert.deepEqual(leaks.map((r) => r.url), [], 'responses containing the admin token');
    assert.ok(all.length > 30, `only ${all.length} responses captured`);
  });
});
