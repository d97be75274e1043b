'use strict';
// The examples/chat app in a real browser: Debian's Chromium driven by
// playwright-core, against a real Herald and the example's Go backend.
// Steps run in order and share the browser; screenshots go to artifacts/.

const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');
const { after, before, describe, it } = require('node:test');
const { chromium } = require('playwright-core');
const { startServers, ARTIFACTS, CHROMIUM, CHROMIUM_ARGS } = require('./servers');

const WAIT = 10_000; // bound on every wait for something to show up

describe('examples/chat in Chromium', () => {
  let servers;
  let browser;
  const contexts = {};
  const pages = {};
  // Everything the browser received, checked for the secret at the end.
  const received = [];

  async function newUserPage(who) {
    const ctx = await browser.newContext({ viewport: { width: 1000, height: 620 } });
    contexts[who] = ctx;
    ctx.setDefaultTimeout(WAIT);
    ctx.on('response', (res) => {
      received.push(
        res.body().then(
          (body) => ({ url: res.url(), headers: JSON.stringify(res.headers()), body: body.toString('latin1') }),
          () => ({ url: res.url(), headers: JSON.stringify(res.headers()), body: '' }), // redirects have no body
        ),
      );
    });
    ctx.on('page', (page) => {
      page.on('websocket', (ws) => {
        ws.on('framereceived', ({ payload }) => received.push({ url: `${ws.url()} frame`, headers: '', body: String(payload) }));
      });
      page.on('pageerror', (err) => received.push({ url: 'pageerror', headers: '', body: '', error: err.message }));
    });
    const page = await ctx.newPage();
    pages[who] = page;
    return page;
  }

  async function signIn(page, name, room = 'lobby') {
    await page.goto(`${servers.chatURL}/?room=${room}`);
    await page.locator('#signin input[name=username]').fill(name);
    await Promise.all([page.waitForURL(`**/?room=${room}`), page.locator('#signin button').click()]);
    await expectText(page, '#me', name);
    await page.locator('#join-status[data-status=joined]').waitFor();
  }

  async function expectText(page, selector, text) {
    await page.locator(selector, { hasText: text }).first().waitFor();
  }

  async function shot(name, page) {
    await page.screenshot({ path: path.join(ARTIFACTS, `${name}.png`), fullPage: true });
  }

  before(async () => {
    fs.mkdirSync(ARTIFACTS, { recursive: true });
    for (const f of fs.readdirSync(ARTIFACTS)) {
      if (f.endsWith('.png') || f.endsWith('.log')) fs.rmSync(path.join(ARTIFACTS, f));
    }
    servers = await startServers();
    browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: CHROMIUM_ARGS, timeout: 30_000 });
  }, { timeout: 300_000 });

  after(async () => {
    try {
      if (browser) await browser.close();
    } finally {
      if (servers) await servers.stop();
    }
  });

  it('alice signs in and joins #lobby', async () => {
    const alice = await newUserPage('alice');
    await signIn(alice, 'alice');
    await alice.locator('#members li[data-user=alice]', { hasText: 'alice (you)' }).waitFor();
    assert.equal(await alice.locator('#conn-state').textContent(), 'connected');
    await shot('01-alice-joined', alice);
  });

  it('bob joins, and each sees the other in the presence list', async () => {
    const bob = await newUserPage('bob');
    await signIn(bob, 'bob');
    await bob.locator('#members li[data-user=alice]').waitFor();
    await pages.alice.locator('#members li[data-user=bob]').waitFor();
    await expectText(pages.alice, '#member-count', '2');
    await expectText(bob, '#member-count', '2');
    await shot('02-alice-sees-bob', pages.alice);
    await shot('02-bob-sees-alice', bob);
  });

  it('typing at alice shows at bob (client-typing client event)', async () => {
    await pages.alice.locator('#text').pressSequentially('hello @bo', { delay: 20 });
    await expectText(pages.bob, '#typing', 'alice is typing');
    // Client events are not echoed to the sender.
    assert.equal(await pages.alice.locator('#typing').textContent(), '');
    await shot('03-bob-sees-alice-typing', pages.bob);
  });

  it('a message from alice appears at bob, with an @mention notice', async () => {
    await pages.alice.locator('#text').pressSequentially('b, welcome!');
    const posted = pages.alice.waitForResponse((r) => r.url().endsWith('/messages'));
    await pages.alice.locator('#send button').click();
    assert.equal((await posted).status(), 204);
    await pages.bob.locator('#messages li[data-user=alice]', { hasText: 'alice: hello @bob, welcome!' }).waitFor();
    await pages.alice.locator('#messages li[data-user=alice]', { hasText: 'hello @bob, welcome!' }).waitFor();
    // Server-to-user event: bob signed in with pusher.signin() through /pusher/user-auth.
    await expectText(pages.bob, '#notices li', 'alice mentioned you in #lobby: hello @bob, welcome!');
    // A message ends the typing indicator.
    await pages.bob.waitForFunction(() => document.getElementById('typing').textContent === '');
    await shot('04-bob-receives-message', pages.bob);
  });

  it('an anonymous visitor is refused: 403 from /pusher/auth and pusher:subscription_error', async () => {
    const anon = await newUserPage('anonymous');
    const authResponse = anon.waitForResponse((r) => r.url().endsWith('/pusher/auth'));
    await anon.goto(`${servers.chatURL}/?room=lobby`);
    assert.equal((await authResponse).status(), 403);
    await anon.locator('#join-error[data-status="403"]').waitFor();
    await expectText(anon, '#join-error', 'Could not join #lobby: 403 (sign in first)');
    await expectText(anon, '#join-status', 'refused');
    assert.equal(await anon.locator('#members li').count(), 0);
    assert.equal(await anon.locator('#send').isVisible(), false, 'no message form for a refused visitor');
    // The refused visitor never showed up at alice.
    assert.equal(await pages.alice.locator('#members li').count(), 2);
    await shot('05-anonymous-refused', anon);
  });

  it('bob is refused the restricted #staff room (403)', async () => {
    const staff = await contexts.bob.newPage();
    const authResponse = staff.waitForResponse((r) => r.url().endsWith('/pusher/auth'));
    await staff.goto(`${servers.chatURL}/?room=staff`);
    assert.equal((await authResponse).status(), 403);
    await staff.locator('#join-error[data-status="403"]').waitFor();
    await expectText(staff, '#join-error', 'Could not join #staff: 403 (you may not enter this room)');
    await shot('06-bob-refused-staff', staff);
    await staff.close();
  });

  it('bob closes his page and disappears from alice’s list', async () => {
    await pages.bob.close();
    await pages.alice.locator('#members li[data-user=bob]').waitFor({ state: 'detached' });
    await expectText(pages.alice, '#member-count', '1');
    await shot('07-alice-after-bob-left', pages.alice);
  });

  it('the app secret never reached the browser', async () => {
    const sources = [];
    for (const [who, page] of Object.entries(pages)) {
      if (!page.isClosed()) sources.push({ url: `${who} page source`, headers: '', body: await page.content() });
    }
    const all = [...(await Promise.all(received)), ...sources];
    const pageErrors = all.filter((r) => r.error).map((r) => r.error);
    assert.deepEqual(pageErrors, [], 'uncaught errors in the page');
    const urls = all.map((r) => r.url);
    assert.ok(urls.some((u) => u.includes('/static/pusher.min.js')), 'pusher-js served by the app');
    assert.ok(urls.some((u) => u.endsWith('/pusher/auth')), 'auth responses captured');
    assert.ok(urls.some((u) => u.endsWith('/pusher/user-auth')), 'user-auth responses captured');
    assert.ok(urls.some((u) => u.endsWith(' frame')), 'WebSocket frames captured');
    assert.ok(all.length > 20, `only ${all.length} responses captured`);
    const leaks = all.filter((r) => r.body.includes(servers.secret) || r.headers.includes(servers.secret) || r.url.includes(servers.secret));
    assert.deepEqual(leaks.map((r) => r.url), [], 'responses containing the app secret');
  });
});
