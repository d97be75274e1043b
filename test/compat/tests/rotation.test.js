'use strict';
// Apps managed at run time through the admin HTTP API (SQLite app store in the
// server's --data-dir), and secret rotation without downtime, as the official
// clients see it:
//   * an app created with POST /admin/apps serves the `pusher` SDK and pusher-js
//   * POST /admin/apps/{id}/rotate-secret {"grace":"1h"}: the old and the new
//     secret both sign HTTP API calls, channel authorizations and sign-ins
//   * a second rotation with {"grace":"0s"}: the secret it replaces stops at
//     once (401 / subscription_error / 4009), the new primary works, and the
//     secret kept by the first rotation still works until its own expiry
//   * POST /admin/apps/{id}/disable: live connections get pusher:error 4003 and
//     are closed (pusher-js ends disconnected, no reconnect loop), the SDK 403
//
//   * a rotation reaches connections opened before it: they verify channel
//     authorizations and sign-ins against the app's current secrets
//
// Each test creates its own app (unique id and key), so the tests do not
// depend on each other's order.

const assert = require('node:assert/strict');
const http = require('node:http');
const test = require('node:test');
const { describe, it } = test;
const {
  collect,
  errorCode,
  rejection,
  safeJSON,
  scenario,
  sleep,
  subscribed,
  uniq,
  useServer,
  waitFor,
} = require('../harness');

const ADMIN_TOKEN = 'rotation-admin-token-0123456789';
const WAIT_MS = 5000; // bound for one event / state change

// ---------------------------------------------------------------------------
// admin API

function adminRequest(server, method, urlPath, body, token = ADMIN_TOKEN) {
  const payload = body === undefined ? null : JSON.stringify(body);
  return new Promise((resolve, reject) => {
    const headers = {};
    if (token) headers.authorization = `Bearer ${token}`;
    if (payload !== null) {
      headers['content-type'] = 'application/json';
      headers['content-length'] = Buffer.byteLength(payload);
    }
    const req = http.request(
      { host: '127.0.0.1', port: server.port, method, path: urlPath, headers, agent: false, timeout: 5000 },
      (res) => {
        let data = '';
        res.setEncoding('utf8');
        res.on('data', (c) => (data += c));
        res.on('end', () => {
          let json = null;
          try {
            json = JSON.parse(data);
          } catch {
            /* not JSON */
          }
          resolve({ status: res.statusCode, body: json, text: data });
        });
      },
    );
    req.on('timeout', () => req.destroy(new Error(`${method} ${urlPath}: request timed out`)));
    req.on('error', reject);
    if (payload !== null) req.write(payload);
    req.end();
  });
}

async function admin(s, method, urlPath, body, wantStatus) {
  const res = await adminRequest(s.server, method, urlPath, body);
  s.note(`admin ${method} ${urlPath} ${body === undefined ? '' : JSON.stringify(body)} → ${res.status} ${res.text.trim().slice(0, 500)}`);
  assert.equal(res.status, wantStatus, `${method} ${urlPath}: status (body ${res.text})`);
  assert.ok(res.body && typeof res.body === 'object', `${method} ${urlPath}: JSON body (got ${res.text})`);
  return res.body;
}

/** Creates an app through the admin API; returns {id, key, secret}. */
async function createApp(s, extra = {}) {
  const id = uniq('rot-');
  const key = `${id}-key`;
  const body = await admin(s, 'POST', '/admin/apps', { id, key, enable_client_messages: true, ...extra }, 201);
  assert.equal(body.id, id, 'created app id');
  assert.equal(body.key, key, 'created app key');
  assert.equal(typeof body.secret, 'string', `created app has a secret (body ${safeJSON(body)})`);
  assert.ok(body.secret.length >= 16, `secret looks random (${body.secret.length} chars)`);
  assert.equal(body.enabled, true, 'created app is enabled');
  return { id, key, secret: body.secret };
}

/** Rotates the app's secret; returns the admin API's answer (secret = new primary). */
async function rotate(s, app, grace) {
  const t0 = Date.now();
  const body = await admin(s, 'POST', `/admin/apps/${app.id}/rotate-secret`, { grace }, 200);
  assert.equal(body.id, app.id, 'rotated app id');
  assert.equal(body.key, app.key, 'the key does not change on rotation');
  assert.equal(typeof body.secret, 'string', `rotation returns the new primary secret (body ${safeJSON(body)})`);
  assert.ok(Array.isArray(body.previous_secrets), `previous_secrets is an array (body ${safeJSON(body)})`);
  for (const p of body.previous_secrets) {
    assert.deepEqual(Object.keys(p), ['expires_at'], `previous secrets show only their expiry: ${safeJSON(p)}`);
  }
  body.calledAt = t0;
  return body;
}

/** Expiry times (ms since epoch) of the previous secrets in an admin answer. */
function expiries(body) {
  return body.previous_secrets.map((p) => Date.parse(p.expires_at));
}

// ---------------------------------------------------------------------------
// client helpers

/** SDK instance for `app` signing with `secret`. */
function sdkWith(s, app, secret) {
  return s.server.sdk({ app: { id: app.id, key: app.key, secret } });
}

/**
 * A pusher-js client for `app` whose channel authorizations are signed by
 * signers[channelName] (or signers.default), looked up when pusher-js asks,
 * and sign-ins by signers.signin (or signers.default).
 */
function rotClient(s, app, signers, extra = {}) {
  const pick = (channelName) => signers[channelName] || signers.default;
  const current = () => signers.signin || signers.default;
  const client = s.client({
    app,
    signer: {
      authenticateUser: (...args) => current().authenticateUser(...args),
      authorizeChannel: (...args) => current().authorizeChannel(...args),
    },
    authHook: ({ socketId, channelName }) => pick(channelName).authorizeChannel(socketId, channelName),
    ...extra,
  });
  client.signers = signers; // mutable: add per-channel signers later
  return client;
}

/** SDK trigger that must succeed with 200; returns the response. */
async function triggerOK(sdk, channel, event, data, what) {
  let res;
  try {
    res = await sdk.trigger(channel, event, data);
  } catch (err) {
    throw new Error(`${what}: trigger rejected (status ${err.status}, body ${err.body}): ${err.message}`);
  }
  assert.equal(res.status, 200, `${what}: trigger status`);
  return res;
}

/** Triggers `data` with `sdk` and waits until `got` (from collect()) holds it. */
async function triggerAndReceive(sdk, channel, got, data, what) {
  await triggerOK(sdk, channel, 'ev', data, what);
  await waitFor(() => got.some((g) => g.data && g.data.n === data.n), WAIT_MS, `${what}: event ${data.n} delivered on ${channel}`);
}

async function triggerStatus(sdk, channel, what) {
  const err = await rejection(sdk.trigger(channel, 'ev', { denied: true }), what);
  assert.ok(err.status !== undefined, `${what}: a RequestError with a status, got ${err && err.stack}`);
  return err;
}

/** Subscribes and expects pusher:subscription_error; returns its payload. */
async function subscriptionRefused(client, channelName, timeoutMs = WAIT_MS) {
  const channel = client.subscribe(channelName);
  let error = null;
  let ok = false;
  channel.bind('pusher:subscription_error', (e) => (error = e));
  channel.bind('pusher:subscription_succeeded', () => (ok = true));
  await waitFor(() => error || ok, timeoutMs, `${client.label}: subscription_error or _succeeded on ${channelName}`);
  assert.ok(!ok, `${client.label}: subscription to ${channelName} should have been refused`);
  return error;
}

async function signedIn(client, id) {
  client.signin();
  await waitFor(
    () => client.user.user_data && client.user.user_data.id === id,
    WAIT_MS,
    `${client.label}: pusher:signin_success for ${id}`,
  );
}

// ---------------------------------------------------------------------------

describe('admin API apps and secret rotation', () => {
  const server = useServer(test, {
    name: 'rotation',
    env: { HERALD_ADMIN_TOKEN: ADMIN_TOKEN },
  });

  it('admin API: no bearer token → 401, a wrong one → 403, nothing created', scenario(server, async (s) => {
    const id = uniq('rot-noauth-');
    for (const [token, want] of [[null, 401], ['wrong-token-wrong-token', 403]]) {
      const res = await adminRequest(s.server, 'POST', '/admin/apps', { id, key: `${id}-key` }, token);
      assert.equal(res.status, want, `token ${token}: status (body ${res.text})`);
    }
    const show = await adminRequest(s.server, 'GET', `/admin/apps/${id}`);
    assert.equal(show.status, 404, `the app was not created (body ${show.text})`);
  }));

  it('an app created through the admin API serves the SDK and pusher-js (private channel, S1)', scenario(server, async (s) => {
    const app = await createApp(s);
    const sdk1 = sdkWith(s, app, app.secret);
    const c = rotClient(s, app, { default: sdk1 });
    await waitFor(() => c.connection.state === 'connected', 10_000,
      `${c.label} connected with the new app's key (state ${c.connection.state}, states ${c.states.join(',')})`);
    const ch = await subscribed(c, 'private-rot');
    const got = collect(ch, 'ev');
    await triggerAndReceive(sdk1, 'private-rot', got, { n: 1 }, 'SDK with S1');
    assert.equal(got.length, 1, 'exactly one event');
    assert.deepEqual(got[0].data, { n: 1 });

    // a wrong secret is refused for this app as for config apps
    const err = await triggerStatus(sdkWith(s, app, `${app.secret}x`), 'private-rot', 'SDK with a wrong secret');
    assert.equal(err.status, 401, `wrong secret: RequestError.status (body ${err.body})`);
  }));

  it('rotate with grace 1h: S1 and S2 both sign triggers, channel authorizations and sign-ins', scenario(server, async (s) => {
    const app = await createApp(s);
    const S1 = app.secret;
    const sdk1 = sdkWith(s, app, S1);

    // a client connected and subscribed before the rotation
    const c = rotClient(s, app, { default: sdk1 });
    await waitFor(() => c.connection.state === 'connected', 10_000, `${c.label} connected`);
    const ch = await subscribed(c, 'private-rot');
    const got = collect(ch, 'ev');
    await triggerAndReceive(sdk1, 'private-rot', got, { n: 1 }, 'before rotation, S1');

    const rot = await rotate(s, app, '1h');
    const S2 = rot.secret;
    assert.notEqual(S2, S1, 'rotation makes a new secret');
    assert.equal(rot.previous_secrets.length, 1, `one previous secret (${safeJSON(rot.previous_secrets)})`);
    const exp = expiries(rot)[0];
    assert.ok(Math.abs(exp - (rot.calledAt + 3600_000)) < 60_000,
      `S1 expires about 1h after the rotation (expires_at ${rot.previous_secrets[0].expires_at})`);
    const sdk2 = sdkWith(s, app, S2);

    // HTTP API: old and new secret
    await triggerAndReceive(sdk1, 'private-rot', got, { n: 2 }, 'after rotation, OLD secret S1');
    await triggerAndReceive(sdk2, 'private-rot', got, { n: 3 }, 'after rotation, NEW secret S2');
    const res = await sdk1.get({ path: '/channels' });
    assert.equal(res.status, 200, 'GET /channels signed with S1');
    const res2 = await sdk2.get({ path: '/channels' });
    assert.equal(res2.status, 200, 'GET /channels signed with S2');
    assert.deepEqual(got.map((g) => g.data.n), [1, 2, 3], 'every event arrived once, in order');
    assert.equal(c.connection.state, 'connected', 'the rotation did not disturb the live connection');

    // channel authorization: a new private channel with S1, another with S2,
    // on the existing connection and on a connection made after the rotation
    const chS1 = uniq('private-rot-s1-');
    const chS2 = uniq('private-rot-s2-');
    const c2 = rotClient(s, app, { default: sdk2, [chS1]: sdk1, [chS2]: sdk2 });
    await waitFor(() => c2.connection.state === 'connected', 10_000, `${c2.label} connected`);
    // (the S2 case on the connection opened before the rotation is the
    // todo test below)
    const a = uniq('private-rot-a-');
    c.signers[a] = sdk1;
    const x = await subscribed(c, a).catch((e) => { throw new Error(`existing connection, channel authorized with S1: ${e.message}`); });
    const gx = collect(x, 'ev');
    await triggerAndReceive(sdk2, a, gx, { n: 10 }, `existing connection: event on ${a} (authorized with S1)`);
    for (const [via, name] of [['S1', chS1], ['S2', chS2]]) {
      const y = await subscribed(c2, name).catch((e) => { throw new Error(`new connection, channel authorized with ${via}: ${e.message}`); });
      const gy = collect(y, 'ev');
      await triggerAndReceive(via === 'S1' ? sdk2 : sdk1, name, gy, { n: 11 }, `new connection: event on ${name} (authorized with ${via})`);
    }

    // sign-in: user authentication signed with S1, and with S2
    const u1 = rotClient(s, app, { default: sdk1 }, { userData: { id: 'rot-user-1', user_info: { via: 'S1' } } });
    await waitFor(() => u1.connection.state === 'connected', 10_000, `${u1.label} connected`);
    await signedIn(u1, 'rot-user-1');
    assert.deepEqual(u1.user.user_data, { id: 'rot-user-1', user_info: { via: 'S1' } });
    const u2 = rotClient(s, app, { default: sdk2 }, { userData: { id: 'rot-user-2' } });
    await waitFor(() => u2.connection.state === 'connected', 10_000, `${u2.label} connected`);
    await signedIn(u2, 'rot-user-2');
    // a server-to-user message reaches the user signed in with the old secret
    const toUser = [];
    u1.user.bind('rot-notice', (d) => toUser.push(d));
    await sdk2.sendToUser('rot-user-1', 'rot-notice', { hello: 1 });
    await waitFor(() => toUser.length === 1, WAIT_MS, 'sendToUser to the user signed in with S1');
  }));

  it('second rotation with grace 0s: S2 stops at once (401), S3 works, S1 still works until its own expiry', scenario(server, async (s) => {
    const app = await createApp(s);
    const S1 = app.secret;
    const rot1 = await rotate(s, app, '1h');
    const S2 = rot1.secret;
    const s1Expiry = expiries(rot1)[0];
    const sdk1 = sdkWith(s, app, S1);
    const sdk2 = sdkWith(s, app, S2);
    await triggerOK(sdk2, 'private-rot', 'ev', {}, 'S2 before the second rotation');

    const c = rotClient(s, app, { default: sdk2 });
    await waitFor(() => c.connection.state === 'connected', 10_000, `${c.label} connected`);
    const ch = await subscribed(c, 'private-rot');
    const got = collect(ch, 'ev');

    const rot2 = await rotate(s, app, '0s');
    const S3 = rot2.secret;
    assert.ok(S3 !== S1 && S3 !== S2, 'a third, new secret');
    const sdk3 = sdkWith(s, app, S3);
    const live = expiries(rot2).filter((t) => t > Date.now());
    assert.ok(live.some((t) => Math.abs(t - s1Expiry) < 1000),
      `S1 keeps its expiry from the first rotation (${rot1.previous_secrets[0].expires_at}); previous_secrets now ${safeJSON(rot2.previous_secrets)}`);
    assert.equal(live.length, 1, `only S1 is still valid (previous_secrets ${safeJSON(rot2.previous_secrets)})`);

    // HTTP API
    const err = await triggerStatus(sdk2, 'private-rot', 'SDK with S2 after a 0s rotation');
    assert.equal(err.status, 401, `S2: RequestError.status (body ${err.body})`);
    const errGet = await rejection(sdk2.get({ path: '/channels' }), 'GET with S2 after a 0s rotation');
    assert.equal(errGet.status, 401, `S2 GET: RequestError.status (body ${errGet.body})`);
    await triggerAndReceive(sdk3, 'private-rot', got, { n: 1 }, 'new primary S3');
    await triggerAndReceive(sdk1, 'private-rot', got, { n: 2 }, 'S1 (kept 1h by the first rotation)');
    await sleep(200);
    assert.deepEqual(got.map((g) => g.data.n), [1, 2], 'nothing from the refused S2 trigger arrived');
    assert.equal(c.connection.state, 'connected', 'a channel authorized with S2 before the rotation stays subscribed');

    // channel authorization and sign-in with S2 are refused; S1 and S3 accepted
    const chS1 = uniq('private-rot-s1-');
    const chS2 = uniq('private-rot-s2-');
    const chS3 = uniq('private-rot-s3-');
    const c2 = rotClient(s, app, { default: sdk3, [chS1]: sdk1, [chS2]: sdk2, [chS3]: sdk3 });
    await waitFor(() => c2.connection.state === 'connected', 10_000, `${c2.label} connected`);
    await subscribed(c2, chS1);
    await subscribed(c2, chS3);
    const refused = await subscriptionRefused(c2, chS2);
    s.note(`subscription_error for S2: ${safeJSON(refused)}`);

    const bad = rotClient(s, app, { default: sdk2 }, { userData: { id: 'rot-user-s2' } });
    await waitFor(() => bad.connection.state === 'connected', 10_000, `${bad.label} connected`);
    bad.signin();
    await waitFor(() => bad.errors.some((e) => errorCode(e) === 4009), WAIT_MS, 'sign-in with S2: pusher:error 4009');
    assert.equal(bad.user.user_data, null, 'not signed in with S2');

    const u1 = rotClient(s, app, { default: sdk1 }, { userData: { id: 'rot-user-s1' } });
    await waitFor(() => u1.connection.state === 'connected', 10_000, `${u1.label} connected`);
    await signedIn(u1, 'rot-user-s1');
    const u3 = rotClient(s, app, { default: sdk3 }, { userData: { id: 'rot-user-s3' } });
    await waitFor(() => u3.connection.state === 'connected', 10_000, `${u3.label} connected`);
    await signedIn(u3, 'rot-user-s3');
  }));

  // A live connection must verify against the app's current secrets, not a
  // snapshot taken when it connected.

  it('a connection opened BEFORE a rotation accepts channel auth and sign-in signed with the new primary', scenario(server, async (s) => {
    const app = await createApp(s);
    const sdk1 = sdkWith(s, app, app.secret);
    const c = rotClient(s, app, { default: sdk1 });
    await waitFor(() => c.connection.state === 'connected', 10_000, `${c.label} connected`);
    await subscribed(c, 'private-rot');

    const rot = await rotate(s, app, '1h');
    c.signers.default = sdkWith(s, app, rot.secret); // the backend now signs with the new primary S2
    const problems = [];
    await subscribed(c, uniq('private-rot-s2-')).catch((e) => problems.push(`channel authorization signed with S2 refused: ${e.message}`));
    c.signin();
    await waitFor(() => c.user.user_data || c.errors.some((e) => errorCode(e) === 4009), WAIT_MS, 'an answer to the sign-in');
    if (!c.user.user_data) problems.push(`sign-in signed with S2 refused: ${safeJSON(c.errors.filter((e) => errorCode(e) === 4009))}`);
    assert.deepEqual(problems, [], 'the new primary must work on connections opened before the rotation');
  }));

  it('a connection opened BEFORE a 0s rotation refuses channel auth and sign-in signed with the revoked secret', scenario(server, async (s) => {
    const app = await createApp(s);
    const rot1 = await rotate(s, app, '1h');
    const sdk2 = sdkWith(s, app, rot1.secret);
    const c = rotClient(s, app, { default: sdk2 });
    await waitFor(() => c.connection.state === 'connected', 10_000, `${c.label} connected`);
    await subscribed(c, 'private-rot');

    await rotate(s, app, '0s'); // S2 is revoked at once
    const err = await triggerStatus(sdk2, 'private-rot', 'SDK with the revoked S2');
    assert.equal(err.status, 401, 'the HTTP API refuses S2');
    const problems = [];
    await subscriptionRefused(c, uniq('private-rot-revoked-')).catch((e) => problems.push(`channel authorization signed with revoked S2 accepted (${e.message})`));
    c.signin();
    await waitFor(() => c.user.user_data || c.errors.some((e) => errorCode(e) === 4009), WAIT_MS, 'an answer to the sign-in');
    if (c.user.user_data) problems.push(`sign-in signed with revoked S2 accepted: ${safeJSON(c.user.user_data)}`);
    assert.deepEqual(problems, [], 'a revoked secret must stop working on connections opened before the rotation too');
  }));

  it('disabling the app closes its connections with 4003 and the SDK gets 403', scenario(server, async (s) => {
    const app = await createApp(s);
    const sdk = sdkWith(s, app, app.secret);
    const c = rotClient(s, app, { default: sdk });
    await waitFor(() => c.connection.state === 'connected', 10_000, `${c.label} connected`);
    const ch = await subscribed(c, 'private-rot');
    const got = collect(ch, 'ev');
    await triggerAndReceive(sdk, 'private-rot', got, { n: 1 }, 'before disable');

    // a config app on the same server is not affected
    const other = s.client({ label: 'config-app' });
    await waitFor(() => other.connection.state === 'connected', 10_000, 'config-app client connected');

    const body = await admin(s, 'POST', `/admin/apps/${app.id}/disable`, {}, 200);
    assert.equal(body.enabled, false, `disable answer: enabled false (${safeJSON(body)})`);
    assert.equal(body.secret, undefined, 'disable does not return the secret');

    await waitFor(
      () => ['disconnected', 'unavailable', 'failed'].includes(c.connection.state),
      WAIT_MS,
      `${c.label} closed after disable (state ${c.connection.state}, states ${c.states.join(',')})`,
    );
    await waitFor(() => c.errors.some((e) => errorCode(e) === 4003), 1000,
      `pusher:error 4003 observed on the connection (errors ${safeJSON(c.errors)})`);
    const connectingBefore = c.states.filter((st) => st === 'connecting').length;
    await sleep(1500); // pusher-js would reconnect after ~1 s on a retry/backoff close
    const connectingAfter = c.states.filter((st) => st === 'connecting').length;
    assert.equal(connectingAfter, connectingBefore, `pusher-js does not reconnect after 4003 (states ${c.states.join(',')})`);
    assert.ok(['disconnected', 'unavailable', 'failed'].includes(c.connection.state), `final state ${c.connection.state}`);

    const err = await triggerStatus(sdk, 'private-rot', 'SDK trigger for a disabled app');
    assert.equal(err.status, 403, `disabled app: RequestError.status (body ${err.body})`);

    // a new connection for the disabled app is refused too
    const late = rotClient(s, app, { default: sdk }, { label: 'after-disable' });
    await waitFor(() => ['disconnected', 'unavailable', 'failed'].includes(late.connection.state), 10_000,
      `new connection to a disabled app refused (states ${late.states.join(',')})`);
    assert.equal(late.connection.socket_id, undefined, 'no socket_id for a disabled app');

    assert.equal(other.connection.state, 'connected', 'the config app\'s client is untouched');
  }));
});
