'use strict';
// The loopback Web Push service (../pushservice.js) checked against the Beams
// spec vectors (testdata/beams-vectors.json, a copy of the shared spec's):
// RFC 8291 Appendix A byte for byte, one real webpush-go request, and its
// HTTP behaviour (status codes a push service answers). No Herald here.

const assert = require('node:assert/strict');
const crypto = require('node:crypto');
const fs = require('node:fs');
const path = require('node:path');
const { after, before, describe, it } = require('node:test');
const {
  PushService,
  b64url,
  decryptAes128gcm,
  encryptAes128gcm,
  parseVapidAuthorization,
  unb64,
  verifyVapid,
} = require('../pushservice');

const VECTORS = JSON.parse(fs.readFileSync(path.join(__dirname, '..', '..', '..', 'testdata', 'beams-vectors.json'), 'utf8'));
const A = VECTORS.webPush.rfc8291AppendixA;
const GO = VECTORS.webPush.webpushGoDecryptVector;

describe('push service crypto vs the spec vectors', () => {
  it('decrypts RFC 8291 Appendix A, intermediates included', () => {
    const body = unb64(A.body);
    const out = decryptAes128gcm(body, unb64(A.uaPrivateKey), unb64(A.authSecret));
    assert.equal(out.plaintext.toString('utf8'), A.plaintext);
    assert.equal(b64url(out.salt), A.salt);
    assert.equal(out.rs, A.recordSize);
    assert.equal(b64url(out.keyid), A.asPublicKey);
    const d = out.derived;
    assert.equal(b64url(d.ecdhSecret), A.derived.ecdh_secret, 'ecdh_secret');
    assert.equal(b64url(d.prkKey), A.derived.prk_key, 'PRK_key');
    assert.equal(b64url(d.ikm), A.derived.ikm, 'IKM');
    assert.equal(b64url(d.prk), A.derived.prk, 'PRK');
    assert.equal(b64url(d.cek), A.derived.cek, 'CEK');
    assert.equal(b64url(d.nonce), A.derived.nonce, 'NONCE');
  });

  it('encrypts RFC 8291 Appendix A byte for byte (fixed salt and sender key)', () => {
    const body = encryptAes128gcm({
      plaintext: A.plaintext,
      uaPublic: unb64(A.uaPublicKey),
      authSecret: unb64(A.authSecret),
      salt: unb64(A.salt),
      asPrivateKey: unb64(A.asPrivateKey),
      rs: A.recordSize,
    });
    assert.equal(b64url(body), A.body);
  });

  it('refuses a tampered body and a wrong auth secret', () => {
    const body = unb64(A.body);
    const bad = Buffer.from(body);
    bad[bad.length - 20] ^= 1;
    assert.throws(() => decryptAes128gcm(bad, unb64(A.uaPrivateKey), unb64(A.authSecret)), /authentication failed/);
    assert.throws(() => decryptAes128gcm(body, unb64(A.uaPrivateKey), crypto.randomBytes(16)), /authentication failed/);
  });

  it('decrypts the webpush-go request and verifies its VAPID JWT (frozen clock)', () => {
    const body = unb64(GO.request.bodyBase64url);
    assert.equal(body.length, GO.request.bodyLength);
    const out = decryptAes128gcm(body, unb64(VECTORS.webSdk.subscription.uaPrivateKey), unb64(VECTORS.webSdk.subscription.auth));
    assert.equal(out.plaintext.toString('utf8'), GO.expectedPlaintext);
    assert.equal(out.rs, GO.bodyHeaderFields.rs);
    assert.equal(out.keyid.length, GO.bodyHeaderFields.idlen);
    assert.equal(out.salt.length, GO.bodyHeaderFields.saltBytes);

    const { t, k } = parseVapidAuthorization(GO.request.headers.Authorization);
    assert.equal(k, VECTORS.webSdk.vapidKeyPairServedAsWebVapidPublicKey.vapidPublicKey);
    const frozen = GO.vapidJwtClaims.exp - 3600;
    const { header, claims } = verifyVapid(t, k, { audience: GO.audience, nowS: frozen });
    assert.deepEqual(header, GO.vapidJwtHeader);
    assert.deepEqual(claims, GO.vapidJwtClaims);
    // The same token is refused once exp passed, for another origin, under another key.
    assert.throws(() => verifyVapid(t, k, { audience: GO.audience, nowS: GO.vapidJwtClaims.exp + 1 }), /has passed/);
    assert.throws(() => verifyVapid(t, k, { audience: 'http://127.0.0.1:1', nowS: frozen }), /aud/);
    assert.throws(() => verifyVapid(t, VECTORS.webPush.rfc8291AppendixA.uaPublicKey, { audience: GO.audience, nowS: frozen }), /signature/);
  });
});

// --- the HTTP service --------------------------------------------------------

function vapidKeys() {
  const { privateKey, publicKey } = crypto.generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const jwk = publicKey.export({ format: 'jwk' });
  const raw = Buffer.concat([Buffer.from([4]), unb64(jwk.x), unb64(jwk.y)]);
  return { privateKey, publicKey: b64url(raw) };
}

function vapidJWT(keys, claims, { der = false } = {}) {
  const enc = (o) => b64url(Buffer.from(JSON.stringify(o)));
  const input = `${enc({ typ: 'JWT', alg: 'ES256' })}.${enc(claims)}`;
  const sig = crypto.sign('sha256', Buffer.from(input), { key: keys.privateKey, dsaEncoding: der ? 'der' : 'ieee-p1363' });
  return `${input}.${b64url(sig)}`;
}

describe('push service over HTTP', () => {
  let ps;
  const keys = vapidKeys();
  before(async () => {
    ps = await new PushService().start();
  });
  after(async () => {
    if (ps) await ps.close();
  });

  function claims(over = {}) {
    return { aud: ps.origin, exp: Math.floor(Date.now() / 1000) + 12 * 3600, sub: 'mailto:test@example.com', ...over };
  }

  /** POSTs a message to sub like a Web Push sender; `over` replaces headers (undefined: drop), `body` the body. */
  async function send(sub, message, { headers = {}, jwt, k = keys.publicKey, body } = {}) {
    const payload = body || encryptAes128gcm({ plaintext: message, uaPublic: unb64(sub.keys.p256dh), authSecret: unb64(sub.keys.auth), padTo: 3994 });
    const h = {
      'Content-Encoding': 'aes128gcm',
      'Content-Type': 'application/octet-stream',
      TTL: '60',
      Authorization: `vapid t=${jwt || vapidJWT(keys, claims())}, k=${k}`,
      ...headers,
    };
    for (const [name, v] of Object.entries(h)) if (v === undefined) delete h[name];
    const res = await fetch(sub.endpoint, { method: 'POST', headers: h, body: payload, signal: AbortSignal.timeout(5000) });
    return { status: res.status, headers: Object.fromEntries(res.headers), text: await res.text() };
  }

  it('subscribe() returns the PushSubscription JSON and the web SDK token (std base64, padded)', () => {
    const sub = ps.subscribe(keys.publicKey);
    assert.match(sub.endpoint, new RegExp(`^${ps.origin}/push/${sub.id}$`));
    assert.equal(unb64(sub.keys.p256dh).length, 65);
    assert.equal(unb64(sub.keys.auth).length, 16);
    assert.doesNotMatch(sub.token, /[-_]/, 'standard alphabet');
    assert.equal(sub.token.length % 4, 0, 'padded');
    assert.equal(sub.token, btoa(JSON.stringify({ endpoint: sub.endpoint, expirationTime: null, keys: sub.keys })));
    assert.throws(() => ps.subscribe('not-a-key'), /P-256|base64/);
  });

  it('accepts a correct push: 201 with Location, message decrypted and recorded', async () => {
    const sub = ps.subscribe(keys.publicKey);
    const res = await send(sub, '{"hello":"world"}');
    assert.equal(res.status, 201, res.text);
    assert.match(res.headers.location, /^\/messages\/\d+$/);
    const got = ps.messagesFor(sub.id);
    assert.equal(got.length, 1);
    assert.equal(got[0].plaintext, '{"hello":"world"}');
    assert.deepEqual(got[0].json, { hello: 'world' });
    assert.equal(got[0].headers.ttl, '60');
    assert.equal(ps.requestsFor(sub.id)[0].bodyLength, 4096);
    await ps.waitFor(() => ps.messagesFor(sub.id).length === 1, 1000, 'the recorded message');
  });

  it('refuses what a push service refuses', async () => {
    const sub = ps.subscribe(keys.publicKey);
    const cases = [
      [400, { headers: { 'Content-Encoding': 'aesgcm' } }, /Content-Encoding/],
      [400, { headers: { 'Content-Encoding': undefined } }, /Content-Encoding/],
      [400, { headers: { TTL: undefined } }, /TTL/],
      [400, { headers: { TTL: 'soon' } }, /TTL/],
      [400, { headers: { Urgency: 'urgent' } }, /Urgency/],
      [400, { headers: { Topic: 'x'.repeat(33) } }, /Topic/],
      [401, { headers: { Authorization: undefined } }, /Authorization/],
      [401, { headers: { Authorization: `WebPush ${vapidJWT(keys, claims())}` } }, /vapid/],
      [403, { k: vapidKeys().publicKey }, /applicationServerKey/],
      [401, { jwt: vapidJWT(vapidKeys(), claims()) }, /signature/],
      [401, { jwt: vapidJWT(keys, claims(), { der: true }) }, /64/],
      [401, { jwt: vapidJWT(keys, claims({ aud: `${ps.origin}/push/${sub.id}` })) }, /aud/],
      [401, { jwt: vapidJWT(keys, claims({ exp: Math.floor(Date.now() / 1000) - 10 })) }, /passed/],
      [401, { jwt: vapidJWT(keys, claims({ exp: Math.floor(Date.now() / 1000) + 25 * 3600 })) }, /24 h/],
      [401, { jwt: vapidJWT(keys, claims({ sub: 'test@example.com' })) }, /sub/],
      [400, { body: crypto.randomBytes(200) }, /decrypt/],
      [413, { body: crypto.randomBytes(4097) }, /exceeds/],
    ];
    for (const [want, opts, reason] of cases) {
      const res = await send(sub, 'x', opts);
      assert.equal(res.status, want, `${JSON.stringify(opts).slice(0, 200)} -> ${res.status} ${res.text}`);
      assert.match(JSON.parse(res.text).error, reason);
    }
    // Two records in one body (rs smaller than the content).
    const twoRecords = encryptAes128gcm({ plaintext: 'x'.repeat(100), uaPublic: unb64(sub.keys.p256dh), authSecret: unb64(sub.keys.auth), rs: 64 });
    const res = await send(sub, '', { body: twoRecords });
    assert.equal(res.status, 400);
    assert.match(res.text, /more than one record/);
    assert.equal(ps.messagesFor(sub.id).length, 0, 'nothing refused was recorded as a message');
    assert.equal(ps.requestsFor(sub.id).length, cases.length + 1);
  });

  it('injected answers, expired and unknown subscriptions', async () => {
    const sub = ps.subscribe(keys.publicKey);
    ps.inject(sub.id, [{ status: 429, retryAfter: 2 }, { status: 500 }]);
    let res = await send(sub, 'one');
    assert.equal(res.status, 429);
    assert.equal(res.headers['retry-after'], '2');
    res = await send(sub, 'two');
    assert.equal(res.status, 500);
    assert.equal(res.headers['retry-after'], undefined);
    res = await send(sub, 'three');
    assert.equal(res.status, 201);
    assert.deepEqual(ps.messagesFor(sub.id).map((m) => m.plaintext), ['three']);
    ps.expire(sub.id);
    assert.equal((await send(sub, 'four')).status, 410);
    ps.expire(sub.id, 404);
    assert.equal((await send(sub, 'five')).status, 404);
    assert.equal((await send({ ...sub, endpoint: `${ps.origin}/push/sub-unknown` }, 'six')).status, 404);
    await assert.rejects(ps.waitFor(() => false, 100, 'never'), /timed out after 100 ms waiting for: never/);
  });
});
