'use strict';
// Beams: the official server SDK @pusher/push-notifications-server 1.2.7
// publishing through a real Herald, which delivers Web Push to the loopback
// push service of ../pushservice.js (decrypting every message, verifying its
// VAPID JWT). Devices register over raw HTTP exactly like the web SDK 2.1.0
// does (spec docs: ../shared/spec/beams.md (beside the repository) §2.3): GET the VAPID key,
// subscribe at the push service, POST /devices/web with the btoa() token,
// then interests and the user association (Bearer Beams token from the SDK's
// generateToken).
//
// Herald runs with the usual generated config plus a beams section (one
// instance, loopback push endpoints allowed). Every wait is bounded (WAIT).
// A failing test prints the device-API transcript, what the push service saw
// and the tail of Herald's output.

const assert = require('node:assert/strict');
const test = require('node:test');
const { after, before, describe, it } = test;
const PushNotifications = require('@pusher/push-notifications-server');
const { sleep, uniq, useServer, waitFor } = require('../harness');
const { PushService, unb64 } = require('../pushservice');

const INSTANCE = '00000000-0000-0000-0000-000000000001';
const SECRET = 'beams-secret-key';
const WAIT = 10_000; // bound on every wait for a delivery or a deletion
const SETTLE = 500; // after the expected pushes arrived: time for unexpected ones to show up

const BEAMS_CONFIG = [
  'beams:',
  '  allow_private_endpoints: true',
  '  instances:',
  `    - id: ${INSTANCE}`,
  `      secret_key: ${SECRET}`,
].join('\n');

describe('Beams with @pusher/push-notifications-server 1.2.7', () => {
  const server = useServer(test, { name: 'beams', extraConfig: BEAMS_CONFIG });
  let ps;
  before(async () => {
    ps = await new PushService().start();
  });
  after(async () => {
    if (ps) await ps.close();
  });

  // --- helpers ---------------------------------------------------------------

  let transcript = [];

  function note(line) {
    transcript.push(line);
    if (transcript.length > 200) transcript = transcript.slice(-150);
  }

  /** Wraps a test body: on failure adds the transcript, the push service's view and Herald's output. */
  function beamsTest(body) {
    return async (t) => {
      const srv = server();
      if (!srv) throw new Error('server was not started (see the before() hook error above)');
      transcript = [];
      try {
        await body(t);
        srv.assertAlive();
      } catch (err) {
        const diag = [
          '--- device/publish API transcript ---',
          ...transcript.slice(-60),
          ps ? ps.describe() : '(no push service)',
          `--- herald output (tail) ---\n${srv.output.slice(-5000)}`,
        ].join('\n');
        if (err && typeof err.stack === 'string') err.stack += `\n${diag}`;
        else if (err && typeof err === 'object') err.message += `\n${diag}`;
        throw err;
      }
    };
  }

  /** The official SDK pointed at Herald (plain HTTP: spec §1.1). */
  function sdk(over = {}) {
    return new PushNotifications({ instanceId: INSTANCE, secretKey: SECRET, endpoint: '127.0.0.1', port: server().port, ...over });
  }

  /** Publishes through the SDK; logs the request and the publishId. */
  async function publish(kind, targets, body, client = sdk()) {
    const res = kind === 'interests' ? await client.publishToInterests(targets, body) : await client.publishToUsers(targets, body);
    note(`SDK publishTo${kind === 'interests' ? 'Interests' : 'Users'}(${JSON.stringify(targets)}) -> ${JSON.stringify(res)}`);
    assert.ok(res && typeof res.publishId === 'string', `publish resolves {publishId}: ${JSON.stringify(res)}`);
    assert.match(res.publishId, /^pubid-[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/, 'pubid-<uuid v4> (spec §1.6)');
    return res.publishId;
  }

  /** A raw request to Herald: {status, headers, text, json}. */
  async function raw(method, urlPath, { body, headers = {}, quiet = false } = {}) {
    const h = { ...headers };
    let payload;
    if (body !== undefined) {
      payload = typeof body === 'string' ? body : JSON.stringify(body);
      if (!Object.keys(h).some((k) => k.toLowerCase() === 'content-type')) h['Content-Type'] = 'application/json';
    }
    const res = await fetch(`${server().baseURL}${urlPath}`, { method, headers: h, body: payload, signal: AbortSignal.timeout(5000) });
    const text = await res.text();
    let json;
    try {
      json = text ? JSON.parse(text) : undefined;
    } catch {
      json = undefined;
    }
    if (!quiet) note(`${method} ${urlPath}${payload ? ` ${payload.slice(0, 200)}` : ''} -> ${res.status} ${text.slice(0, 300)}`);
    return { status: res.status, headers: Object.fromEntries(res.headers), text, json };
  }

  const dev = (p = '') => `/device_api/v1/instances/${INSTANCE}${p}`;

  async function vapidKey() {
    const res = await raw('GET', dev('/web-vapid-public-key'));
    assert.equal(res.status, 200, `GET web-vapid-public-key: ${res.status} ${res.text}`);
    return res.json.vapidPublicKey;
  }

  /**
   * Registers a web device the way the web SDK does, subscribed at the push
   * service, then adds interests and (with userId) associates the user.
   * Returns {id, sub}.
   */
  async function device({ interests = [], userId = null } = {}) {
    const sub = ps.subscribe(await vapidKey());
    const res = await raw('POST', dev('/devices/web'), { body: { token: sub.token, metadata: { sdkVersion: '2.1.0' } } });
    assert.equal(res.status, 200, `register: ${res.status} ${res.text}`);
    assert.match(res.json && res.json.id, /^web-/, `device id: ${res.text}`);
    const id = res.json.id;
    for (const interest of interests) {
      const r = await raw('POST', dev(`/devices/web/${id}/interests/${encodeURIComponent(interest)}`));
      assert.equal(r.status, 200, `add interest ${interest}: ${r.status} ${r.text}`);
    }
    if (userId !== null) await setUser(id, userId);
    return { id, sub };
  }

  async function setUser(deviceId, userId, client = sdk()) {
    const { token } = client.generateToken(userId);
    const r = await raw('PUT', dev(`/devices/web/${deviceId}/user`), { headers: { Authorization: `Bearer ${token}` } });
    assert.equal(r.status, 200, `PUT user ${userId}: ${r.status} ${r.text}`);
  }

  async function getDevice(id) {
    return raw('GET', dev(`/devices/web/${id}`));
  }

  /** Polls GET device (10 per second, not logged) until it answers 404; bounded by WAIT. */
  async function deviceGone(id, why) {
    let last = null;
    await waitFor(async () => {
      last = await raw('GET', dev(`/devices/web/${id}`), { quiet: true });
      if (last.status === 404) return true;
      await sleep(100);
      return false;
    }, WAIT, () => `${why} (last GET device: ${last ? `${last.status} ${last.text}` : 'none'})`);
  }

  const received = (d) => ps.messagesFor(d.sub.id);

  /** Waits until each device has `n` messages (default 1), then SETTLE ms for extra ones. */
  async function delivered(devices, n = 1) {
    await ps.waitFor(
      () => devices.every((d) => received(d).length >= n),
      WAIT,
      () => `${n} message(s) at each of ${devices.map((d) => d.id).join(', ')} (now ${devices.map((d) => received(d).length).join(', ')})`,
    );
    await sleep(SETTLE);
  }

  /** Asserts the decrypted message is the spec's plaintext (§4.2) for this publish. */
  function assertMessage(msg, { publishId, notification, data }) {
    assert.ok(msg.json, `message is JSON: ${msg.plaintext}`);
    assert.deepEqual(Object.keys(msg.json).sort(), ['data', 'notification'], `top-level keys: ${msg.plaintext}`);
    assert.deepEqual(msg.json.notification, notification, 'notification passed through unchanged');
    const { pusher, ...rest } = msg.json.data || {};
    assert.deepEqual(rest, data, 'custom data passed through unchanged');
    assert.ok(pusher && typeof pusher === 'object', `data.pusher present: ${msg.plaintext}`);
    assert.equal(pusher.instanceId, INSTANCE, 'data.pusher.instanceId');
    assert.equal(pusher.publishId, publishId, 'data.pusher.publishId is the SDK\'s publishId');
    for (const flag of ['hasDisplayableContent', 'hasData']) {
      if (flag in pusher) assert.equal(typeof pusher[flag], 'boolean', `data.pusher.${flag} is a boolean`);
    }
  }

  const WEB = {
    notification: { title: 'Hello', body: 'Hello, world!', deep_link: 'https://example.com/x', icon: 'https://example.com/i.png' },
    data: { k: 'v', n: 1, nested: { list: [1, 'two'] } },
  };

  // --- tests -----------------------------------------------------------------

  it('serves a persistent VAPID public key (65-byte P-256 point, base64url)', beamsTest(async () => {
    const k1 = await vapidKey();
    assert.match(k1, /^[A-Za-z0-9_-]+$/, 'base64url without padding');
    const raw1 = unb64(k1);
    assert.equal(raw1.length, 65);
    assert.equal(raw1[0], 4, 'uncompressed point');
    assert.equal(await vapidKey(), k1, 'same key on every call');
    const res = await raw('GET', `/device_api/v1/instances/11111111-2222-3333-4444-555555555555/web-vapid-public-key`);
    assert.equal(res.status, 404, 'unknown instance');
    assert.ok(res.json && res.json.error && res.json.description, `error JSON: ${res.text}`);
  }));

  it('device API answers CORS (preflight, real responses, errors); publish API does not', beamsTest(async () => {
    const origin = 'http://localhost:5555';
    const pre = await raw('OPTIONS', dev('/devices/web/web-x/user'), {
      headers: { Origin: origin, 'Access-Control-Request-Method': 'PUT', 'Access-Control-Request-Headers': 'authorization,content-type' },
    });
    assert.ok(pre.status === 204 || pre.status === 200, `preflight status ${pre.status}`);
    assert.ok(['*', origin].includes(pre.headers['access-control-allow-origin']), `preflight allow-origin: ${JSON.stringify(pre.headers)}`);
    const methods = (pre.headers['access-control-allow-methods'] || '').toUpperCase();
    for (const m of ['GET', 'POST', 'PUT', 'DELETE']) assert.ok(methods.includes(m), `allow-methods has ${m}: ${methods}`);
    const allowHeaders = (pre.headers['access-control-allow-headers'] || '').toLowerCase();
    for (const h of ['authorization', 'content-type']) assert.ok(allowHeaders.includes(h) || allowHeaders === '*', `allow-headers has ${h}: ${allowHeaders}`);

    const ok = await raw('GET', dev('/web-vapid-public-key'), { headers: { Origin: origin } });
    assert.ok(['*', origin].includes(ok.headers['access-control-allow-origin']), 'allow-origin on a success');
    const missing = await raw('GET', dev('/devices/web/web-00000000-0000-4000-8000-000000000000'), { headers: { Origin: origin } });
    assert.equal(missing.status, 404, 'unknown device');
    assert.ok(missing.json && missing.json.error && missing.json.description, `error JSON: ${missing.text}`);
    assert.ok(['*', origin].includes(missing.headers['access-control-allow-origin']), 'allow-origin on an error');

    const pub = await raw('OPTIONS', `/publish_api/v1/instances/${INSTANCE}/publishes/interests`, {
      headers: { Origin: origin, 'Access-Control-Request-Method': 'POST', 'Access-Control-Request-Headers': 'authorization,content-type' },
    });
    assert.equal(pub.headers['access-control-allow-origin'], undefined, `no CORS on the publish API (secret key): ${pub.status} ${JSON.stringify(pub.headers)}`);
  }));

  it('publishToInterests: every subscribed device gets exactly one decrypted message', beamsTest(async () => {
    const i1 = uniq('news-');
    const i2 = uniq('sport-');
    const other = uniq('other-');
    const a = await device({ interests: [i1] });
    const b = await device({ interests: [i1, i2] }); // in both: still one message
    const c = await device({ interests: [i2] });
    const d = await device({ interests: [other] }); // not targeted
    const publishId = await publish('interests', [i1, i2], { web: WEB });
    await delivered([a, b, c]);
    for (const x of [a, b, c]) {
      assert.equal(received(x).length, 1, `${x.id}: exactly one message, got ${received(x).length}`);
      const msg = received(x)[0];
      assertMessage(msg, { publishId, ...WEB });
      assert.equal(msg.headers['content-encoding'], 'aes128gcm');
      assert.equal(msg.headers.ttl, '2419200', 'TTL defaults to 4 weeks (spec §1.9)');
      assert.match(msg.headers.authorization, /^vapid t=/);
    }
    assert.equal(received(d).length, 0, 'device in another interest got nothing');

    // time_to_live becomes the TTL header.
    const publishId2 = await publish('interests', [other], { web: { ...WEB, time_to_live: 3600 } });
    await delivered([d]);
    assert.equal(received(d).length, 1);
    assertMessage(received(d)[0], { publishId: publishId2, ...WEB });
    assert.equal(received(d)[0].headers.ttl, '3600', 'TTL from web.time_to_live');
    for (const x of [a, b, c]) assert.equal(received(x).length, 1, `${x.id} got nothing more`);
  }));

  it('publishToUsers reaches only that user\'s devices', beamsTest(async () => {
    const alice = uniq('alice-');
    const bob = uniq('bob-');
    const shared = uniq('shared-');
    const a1 = await device({ userId: alice });
    const a2 = await device({ interests: [shared], userId: alice });
    const b1 = await device({ interests: [shared], userId: bob });
    const anon = await device({ interests: [shared] });
    const got = await getDevice(a1.id);
    assert.equal(got.status, 200, `GET device: ${got.text}`);
    assert.equal(got.json && got.json.userId, alice, `device JSON carries userId: ${got.text}`);

    const publishId = await publish('users', [alice], { web: WEB });
    await delivered([a1, a2]);
    for (const x of [a1, a2]) {
      assert.equal(received(x).length, 1, `${x.id}: one message`);
      assertMessage(received(x)[0], { publishId, ...WEB });
    }
    assert.equal(received(b1).length, 0, 'bob got nothing');
    assert.equal(received(anon).length, 0, 'device without a user got nothing');

    // Several users, one of them unknown (skipped silently).
    const publishId2 = await publish('users', [alice, bob, uniq('nobody-')], { web: WEB });
    await delivered([a1, a2], 2);
    await delivered([b1]);
    assertMessage(received(a1)[1], { publishId: publishId2, ...WEB });
    assertMessage(received(b1)[0], { publishId: publishId2, ...WEB });
    assert.equal(received(anon).length, 0);
  }));

  it('PUT …/user refuses a token signed with another key (401)', beamsTest(async () => {
    const d = await device();
    const { token } = sdk({ secretKey: 'not-the-secret' }).generateToken('mallory');
    const r = await raw('PUT', dev(`/devices/web/${d.id}/user`), { headers: { Authorization: `Bearer ${token}` } });
    assert.equal(r.status, 401, `${r.status} ${r.text}`);
    assert.ok(r.json && r.json.error && r.json.description, `error JSON: ${r.text}`);
    const none = await raw('PUT', dev(`/devices/web/${d.id}/user`));
    assert.equal(none.status, 401, `without Authorization: ${none.status} ${none.text}`);
  }));

  it('deleteUser removes the user\'s devices: later publishes reach nobody', beamsTest(async () => {
    const carol = uniq('carol-');
    const topic = uniq('carol-topic-');
    const c1 = await device({ interests: [topic], userId: carol });
    const c2 = await device({ userId: carol });
    const keep = await device({ interests: [topic] });
    assert.equal((await getDevice(c1.id)).status, 200);

    const res = await sdk().deleteUser(carol);
    note(`SDK deleteUser(${carol}) -> ${JSON.stringify(res)}`);
    assert.equal(res, undefined, 'deleteUser resolves with no body (spec §3.4)');
    for (const x of [c1, c2]) {
      const g = await getDevice(x.id);
      assert.equal(g.status, 404, `device ${x.id} gone after deleteUser: ${g.status} ${g.text}`);
    }
    await publish('users', [carol], { web: WEB });
    await publish('interests', [topic], { web: WEB });
    await delivered([keep]);
    assert.equal(received(c1).length + received(c2).length, 0, 'the deleted user\'s devices got nothing');

    // Idempotent for an unknown user; IDs are percent-decoded (node encodeURIComponent).
    assert.equal(await sdk().deleteUser(uniq('never-existed-')), undefined);
    const odd = `dave bob/ü@x+y ${uniq('')}`;
    const o = await device({ userId: odd });
    assert.equal((await getDevice(o.id)).json.userId, odd);
    await sdk().deleteUser(odd);
    assert.equal((await getDevice(o.id)).status, 404, `device of ${JSON.stringify(odd)} deleted`);
  }));

  it('the SDK surfaces Herald\'s errors: wrong secret 401, unknown instance 404', beamsTest(async () => {
    const bad = sdk({ secretKey: 'wrong-secret' });
    for (const [what, call] of [
      ['publishToInterests', () => bad.publishToInterests(['x'], { web: WEB })],
      ['publishToUsers', () => bad.publishToUsers(['u'], { web: WEB })],
      ['deleteUser', () => bad.deleteUser('u')],
    ]) {
      const err = await call().then(() => null, (e) => e);
      note(`wrong secret ${what} -> ${err && err.message}`);
      assert.ok(err, `${what} with a wrong secret must reject`);
      assert.match(err.message, /^401 \S.* - \S/, `${what}: "<status> <error> - <description>" with 401, got ${JSON.stringify(err.message)}`);
    }
    const unknown = sdk({ instanceId: '11111111-2222-3333-4444-555555555555' });
    const err = await unknown.publishToInterests(['x'], { web: WEB }).then(() => null, (e) => e);
    note(`unknown instance -> ${err && err.message}`);
    assert.ok(err, 'unknown instance must reject');
    assert.match(err.message, /^404 \S.* - \S/, `unknown instance: ${JSON.stringify(err.message)}`);
  }));

  it('invalid interest names: refused by the SDK (no request), 422 from Herald', beamsTest(async () => {
    const client = sdk();
    let requests = 0;
    const orig = client._doRequest.bind(client);
    client._doRequest = (opts) => {
      requests++;
      return orig(opts);
    };
    for (const name of ['bad:name', 'has space', 'x'.repeat(165)]) {
      await assert.rejects(client.publishToInterests([name], { web: WEB }), /forbidden character|longer than the maximum/, name);
    }
    assert.equal(requests, 0, 'the SDK sent nothing');

    const auth = { Authorization: `Bearer ${SECRET}` };
    const url = `/publish_api/v1/instances/${INSTANCE}/publishes/interests`;
    for (const interests of [['bad:name'], ['has space'], ['x'.repeat(165)], [''], []]) {
      const r = await raw('POST', url, { headers: auth, body: { interests, web: WEB } });
      assert.equal(r.status, 422, `interests ${JSON.stringify(interests).slice(0, 40)}: ${r.status} ${r.text}`);
      assert.ok(r.json && typeof r.json.error === 'string' && r.json.error && typeof r.json.description === 'string' && r.json.description,
        `error JSON with error and description: ${r.text}`);
    }
    // The same refusal through the device API (interest in the path).
    const d = await device();
    const r = await raw('POST', dev(`/devices/web/${d.id}/interests/${encodeURIComponent('bad:name')}`));
    assert.ok(r.status === 400 || r.status === 422, `device interest with a bad name: ${r.status} ${r.text}`);
    assert.ok(r.json && r.json.error && r.json.description, `error JSON: ${r.text}`);
  }));

  it('a subscription the push service reports gone (410 or 404) is deleted', beamsTest(async () => {
    const topic = uniq('gone-');
    const g410 = await device({ interests: [topic] });
    const g404 = await device({ interests: [topic] });
    const live = await device({ interests: [topic] });
    ps.expire(g410.sub.id, 410);
    ps.expire(g404.sub.id, 404);
    await publish('interests', [topic], { web: WEB });
    await delivered([live]);
    await ps.waitFor(() => ps.requestsFor(g410.sub.id).some((r) => r.status === 410) && ps.requestsFor(g404.sub.id).some((r) => r.status === 404),
      WAIT, 'Herald to push to both expired subscriptions');
    for (const x of [g410, g404]) {
      await deviceGone(x.id, `device ${x.id} deleted after its push service answered ${x === g410 ? 410 : 404}`);
    }
    assert.equal((await getDevice(live.id)).status, 200, 'the live device stays');
  }));

  it('429 with Retry-After is retried: delivered once', beamsTest(async () => {
    const topic = uniq('retry-');
    const d = await device({ interests: [topic] });
    ps.inject(d.sub.id, [{ status: 429, retryAfter: 1 }]);
    const publishId = await publish('interests', [topic], { web: WEB });
    await delivered([d]);
    assert.equal(received(d).length, 1);
    assertMessage(received(d)[0], { publishId, ...WEB });
    const attempts = ps.requestsFor(d.sub.id);
    assert.equal(attempts.length, 2, `one refused and one accepted attempt: ${attempts.map((a) => a.status).join(',')}`);
    assert.ok(attempts[1].at - attempts[0].at >= 900, `retry waited for Retry-After: 1 (${attempts[1].at - attempts[0].at} ms)`);
    assert.equal((await getDevice(d.id)).status, 200, 'a 429 does not delete the device');
  }));
});
