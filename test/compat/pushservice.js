'use strict';
// A loopback Web Push service for the Beams tests: it plays what a browser's
// push service does (docs: ../shared/spec/beams.md (beside the repository) §4.3), with Node's
// crypto only and no npm packages.
//
//   const ps = await new PushService().start();
//   const sub = ps.subscribe(vapidPublicKey);   // what pushManager.subscribe() makes
//   sub.token                                   // what the web SDK registers (btoa(JSON))
//   await ps.waitFor(() => ps.messagesFor(sub.id).length === 1, 10_000, 'one push');
//   ps.messagesFor(sub.id)[0].json              // the decrypted message
//   await ps.close();
//
// A subscription is an endpoint http://127.0.0.1:<port>/push/<id> with a fresh
// P-256 user-agent key pair (p256dh) and a 16-byte auth secret, bound to the
// VAPID public key it was made for. POST /push/<id> is checked like a real
// push service would (RFC 8030 headers, RFC 8292 VAPID, RFC 8291 aes128gcm):
//   404  unknown subscription            410  expired by the test (expire(id))
//   400  no/other Content-Encoding, bad TTL/Urgency/Topic, undecryptable body
//   401  missing or invalid VAPID JWT (signature, aud, exp, sub)
//   403  VAPID key k differs from the subscription's applicationServerKey
//   413  body over 4096 bytes
//   inject(id, [{status, retryAfter}])   answers the next requests with these
//   201  otherwise, with Location: /messages/<n>; the message is recorded
// Every request is recorded in `requests` ({id, status, reason, headers, …});
// accepted ones also in `messages` ({id, seq, headers, plaintext, json}).
//
// The crypto helpers (decryptAes128gcm, encryptAes128gcm, verifyVapid) are
// exported for the vector tests (tests/pushservice.test.js): this is an
// implementation of RFC 8291 written from the RFC, independent of the Go one.

const crypto = require('node:crypto');
const http = require('node:http');

const MAX_BODY = 4096; // push services need only accept 4096-byte bodies (RFC 8030 §7.2)
const MAX_VAPID_EXP_S = 24 * 3600; // RFC 8292 §2: exp no more than 24 hours away
const CLOCK_SKEW_S = 60;

// ---------------------------------------------------------------------------
// encoding helpers

function b64url(buf) {
  return Buffer.from(buf).toString('base64url');
}

/** Decodes base64url (or standard base64), with or without padding. */
function unb64(s) {
  if (typeof s !== 'string') throw new Error(`expected a base64 string, got ${typeof s}`);
  if (!/^[A-Za-z0-9_\-+/]*={0,2}$/.test(s)) throw new Error(`not base64: ${JSON.stringify(s.slice(0, 40))}`);
  return Buffer.from(s.replace(/-/g, '+').replace(/_/g, '/'), 'base64');
}

// ---------------------------------------------------------------------------
// HKDF (RFC 5869) with SHA-256, written out so the intermediates can be
// compared with the vectors. Only outputs up to one hash block are needed.

function hkdfExtract(salt, ikm) {
  return crypto.createHmac('sha256', salt).update(ikm).digest();
}

function hkdfExpand(prk, info, length) {
  if (length > 32) throw new Error('hkdfExpand: at most 32 bytes');
  return crypto.createHmac('sha256', prk).update(Buffer.concat([info, Buffer.from([1])])).digest().subarray(0, length);
}

/**
 * The RFC 8291 §3.3/§3.4 key schedule.
 * ecdhSecret: 32-byte shared X; authSecret: 16 bytes; uaPublic/asPublic: 65-byte points; salt: 16 bytes.
 */
function deriveKeys({ ecdhSecret, authSecret, uaPublic, asPublic, salt }) {
  const keyInfo = Buffer.concat([Buffer.from('WebPush: info\0', 'latin1'), uaPublic, asPublic]);
  const prkKey = hkdfExtract(authSecret, ecdhSecret);
  const ikm = hkdfExpand(prkKey, keyInfo, 32);
  const prk = hkdfExtract(salt, ikm);
  const cek = hkdfExpand(prk, Buffer.from('Content-Encoding: aes128gcm\0', 'latin1'), 16);
  const nonce = hkdfExpand(prk, Buffer.from('Content-Encoding: nonce\0', 'latin1'), 12);
  return { prkKey, ikm, prk, cek, nonce };
}

/**
 * Decrypts an RFC 8291 aes128gcm body (RFC 8188 header + exactly one record).
 * uaPrivateKey: 32-byte P-256 scalar; authSecret: 16 bytes.
 * Returns {plaintext (Buffer), salt, rs, keyid, derived}; throws with a reason otherwise.
 */
function decryptAes128gcm(body, uaPrivateKey, authSecret) {
  body = Buffer.from(body);
  if (body.length < 21) throw new Error(`body of ${body.length} bytes is shorter than the aes128gcm header`);
  const salt = body.subarray(0, 16);
  const rs = body.readUInt32BE(16);
  const idlen = body[20];
  if (idlen !== 65) throw new Error(`idlen ${idlen}: RFC 8291 requires the 65-byte sender public key as keyid`);
  if (body.length < 21 + idlen) throw new Error('body ends inside the keyid');
  const keyid = body.subarray(21, 21 + idlen);
  if (keyid[0] !== 0x04) throw new Error('keyid is not an uncompressed P-256 point');
  if (rs < 18) throw new Error(`record size ${rs} is below the minimum of 18 (RFC 8188 §2.1)`);
  const record = body.subarray(21 + idlen);
  if (record.length < 17) throw new Error(`record of ${record.length} bytes cannot hold a tag and a delimiter`);
  if (record.length > rs) {
    throw new Error(`${record.length} bytes after the header exceed rs=${rs}: more than one record (RFC 8291 §4 allows one)`);
  }

  const ecdh = crypto.createECDH('prime256v1');
  ecdh.setPrivateKey(uaPrivateKey);
  const uaPublic = ecdh.getPublicKey(); // uncompressed, 65 bytes
  const ecdhSecret = ecdh.computeSecret(keyid);
  const derived = { ecdhSecret, ...deriveKeys({ ecdhSecret, authSecret, uaPublic, asPublic: keyid, salt }) };

  // Record sequence number 0: the nonce is used as is (RFC 8188 §2.3).
  const tag = record.subarray(record.length - 16);
  const decipher = crypto.createDecipheriv('aes-128-gcm', derived.cek, derived.nonce);
  decipher.setAuthTag(tag);
  let padded;
  try {
    padded = Buffer.concat([decipher.update(record.subarray(0, record.length - 16)), decipher.final()]);
  } catch {
    throw new Error('AES-GCM authentication failed (wrong keys, salt or a corrupted body)');
  }
  let end = padded.length;
  while (end > 0 && padded[end - 1] === 0) end--;
  if (end === 0) throw new Error('record holds only padding: no delimiter');
  const delim = padded[end - 1];
  if (delim !== 0x02) throw new Error(`padding delimiter is 0x${delim.toString(16).padStart(2, '0')}, the last record needs 0x02`);
  return { plaintext: padded.subarray(0, end - 1), salt, rs, keyid, derived };
}

/**
 * Encrypts like an RFC 8291 sender (for the tests of this service itself).
 * uaPublic: 65 bytes; authSecret: 16; salt/asPrivateKey random unless given;
 * padTo: total record plaintext length (message + 0x02 + zeros), default no padding.
 */
function encryptAes128gcm({ plaintext, uaPublic, authSecret, salt, asPrivateKey, rs = 4096, padTo = 0 }) {
  const as = crypto.createECDH('prime256v1');
  if (asPrivateKey) as.setPrivateKey(asPrivateKey);
  else as.generateKeys();
  const asPublic = as.getPublicKey();
  salt = salt || crypto.randomBytes(16);
  const ecdhSecret = as.computeSecret(uaPublic);
  const { cek, nonce } = deriveKeys({ ecdhSecret, authSecret, uaPublic, asPublic, salt });
  const msg = Buffer.from(plaintext);
  const padLen = Math.max(0, padTo - msg.length - 1);
  const record = Buffer.concat([msg, Buffer.from([2]), Buffer.alloc(padLen)]);
  const cipher = crypto.createCipheriv('aes-128-gcm', cek, nonce);
  const ct = Buffer.concat([cipher.update(record), cipher.final(), cipher.getAuthTag()]);
  const header = Buffer.alloc(21);
  salt.copy(header, 0);
  header.writeUInt32BE(rs, 16);
  header[20] = asPublic.length;
  return Buffer.concat([header, asPublic, ct]);
}

// ---------------------------------------------------------------------------
// VAPID (RFC 8292)

/** Parses `vapid t=<jwt>, k=<key>` (parameters in any order). Returns {t, k} or throws. */
function parseVapidAuthorization(value) {
  if (!value) throw new Error('no Authorization header');
  const m = /^vapid\s+(.*)$/i.exec(value.trim());
  if (!m) throw new Error(`Authorization scheme is not "vapid": ${JSON.stringify(value.slice(0, 40))}`);
  const params = {};
  for (const part of m[1].split(',')) {
    const eq = part.indexOf('=');
    if (eq < 0) throw new Error(`malformed vapid parameter ${JSON.stringify(part.trim())}`);
    params[part.slice(0, eq).trim().toLowerCase()] = part.slice(eq + 1).trim();
  }
  if (!params.t || !params.k) throw new Error('vapid Authorization needs both t= and k=');
  return { t: params.t, k: params.k };
}

/** A KeyObject for a 65-byte uncompressed P-256 point. */
function p256PublicKey(raw) {
  if (raw.length !== 65 || raw[0] !== 0x04) throw new Error(`not a 65-byte uncompressed P-256 point (${raw.length} bytes)`);
  return crypto.createPublicKey({
    key: { kty: 'EC', crv: 'P-256', x: b64url(raw.subarray(1, 33)), y: b64url(raw.subarray(33)) },
    format: 'jwk',
  });
}

/**
 * Verifies a VAPID JWT: ES256 with a raw r‖s signature under the public key
 * k (base64url point), aud === audience, now < exp ≤ now + 24 h, sub mailto:/https:.
 * nowS: the clock (epoch seconds). Returns {header, claims}; throws with a reason.
 */
function verifyVapid(jwt, k, { audience, nowS = Math.floor(Date.now() / 1000) } = {}) {
  const parts = String(jwt).split('.');
  if (parts.length !== 3) throw new Error('VAPID JWT does not have three parts');
  let header;
  let claims;
  try {
    header = JSON.parse(unb64(parts[0]).toString('utf8'));
    claims = JSON.parse(unb64(parts[1]).toString('utf8'));
  } catch (err) {
    throw new Error(`VAPID JWT header/claims are not base64url JSON: ${err.message}`);
  }
  if (header.alg !== 'ES256') throw new Error(`VAPID JWT alg ${JSON.stringify(header.alg)}, want ES256`);
  const sig = unb64(parts[2]);
  if (sig.length !== 64) throw new Error(`VAPID signature is ${sig.length} bytes, want 64 (raw r||s, not DER)`);
  const key = p256PublicKey(unb64(k));
  const ok = crypto.verify('sha256', Buffer.from(`${parts[0]}.${parts[1]}`, 'latin1'), { key, dsaEncoding: 'ieee-p1363' }, sig);
  if (!ok) throw new Error('VAPID JWT signature does not verify with k');
  if (audience !== undefined && claims.aud !== audience) {
    throw new Error(`VAPID aud ${JSON.stringify(claims.aud)}, want the push service origin ${JSON.stringify(audience)}`);
  }
  if (typeof claims.exp !== 'number' || !Number.isFinite(claims.exp)) throw new Error('VAPID exp missing or not a number');
  if (claims.exp <= nowS) throw new Error(`VAPID exp ${claims.exp} has passed (now ${nowS})`);
  if (claims.exp > nowS + MAX_VAPID_EXP_S + CLOCK_SKEW_S) {
    throw new Error(`VAPID exp ${claims.exp} is ${claims.exp - nowS} s ahead, more than 24 h`);
  }
  if (typeof claims.sub !== 'string' || !/^(mailto:|https:)/.test(claims.sub)) {
    throw new Error(`VAPID sub ${JSON.stringify(claims.sub)} must start with mailto: or https:`);
  }
  return { header, claims };
}

// ---------------------------------------------------------------------------
// the service

class PushError extends Error {
  constructor(status, reason) {
    super(reason);
    this.status = status;
  }
}

class PushService {
  /** opts.now: () => epoch ms (default Date.now), for VAPID exp checks. */
  constructor({ now = Date.now } = {}) {
    this.now = now;
    this.subs = new Map(); // id -> subscription record
    this.requests = []; // every POST: {id, status, reason, headers, at}
    this.messages = []; // accepted: {id, seq, headers, plaintext, json, at}
    this.server = null;
    this.port = null;
    this.seq = 0;
  }

  get origin() {
    return `http://127.0.0.1:${this.port}`;
  }

  async start() {
    this.server = http.createServer((req, res) => this.handle(req, res));
    // No keep-alive lingering past close(): close() also drops idle sockets.
    this.server.keepAliveTimeout = 1000;
    await new Promise((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(0, '127.0.0.1', () => {
        this.server.off('error', reject);
        resolve();
      });
    });
    this.port = this.server.address().port;
    return this;
  }

  async close() {
    if (!this.server) return;
    const srv = this.server;
    this.server = null;
    await new Promise((resolve) => {
      srv.close(() => resolve());
      srv.closeAllConnections();
    });
  }

  /**
   * Creates a subscription for applicationServerKey vapidPublicKey (base64url
   * point), as pushManager.subscribe() would. Returns
   * {id, endpoint, keys: {p256dh, auth}, subscription (the PushSubscription
   * JSON), token (what the web SDK registers: standard base64 with padding)}.
   */
  subscribe(vapidPublicKey) {
    if (!this.port) throw new Error('PushService.subscribe: start() the service first');
    const serverKey = unb64(vapidPublicKey);
    p256PublicKey(serverKey); // a real push service refuses an invalid applicationServerKey
    const ecdh = crypto.createECDH('prime256v1');
    ecdh.generateKeys();
    const auth = crypto.randomBytes(16);
    const id = `sub-${crypto.randomBytes(8).toString('hex')}`;
    const endpoint = `${this.origin}/push/${id}`;
    const keys = { p256dh: b64url(ecdh.getPublicKey()), auth: b64url(auth) };
    const subscription = { endpoint, expirationTime: null, keys };
    const token = Buffer.from(JSON.stringify(subscription), 'utf8').toString('base64');
    this.subs.set(id, {
      id,
      endpoint,
      serverKey: b64url(serverKey),
      privateKey: ecdh.getPrivateKey(),
      auth,
      expired: null,
      injected: [],
    });
    return { id, endpoint, keys, subscription, token };
  }

  /** Marks a subscription expired: later pushes get `status` (410 Gone, or 404). */
  expire(id, status = 410) {
    this.sub(id).expired = status;
  }

  /** Answers the next requests to id with these, in order: [{status, retryAfter?}]. */
  inject(id, answers) {
    this.sub(id).injected.push(...answers);
  }

  sub(id) {
    const s = this.subs.get(id);
    if (!s) throw new Error(`PushService: no subscription ${id}`);
    return s;
  }

  /** Accepted messages for subscription id (in arrival order). */
  messagesFor(id) {
    return this.messages.filter((m) => m.id === id);
  }

  /** Every request to subscription id, accepted or not. */
  requestsFor(id) {
    return this.requests.filter((r) => r.id === id);
  }

  /**
   * Polls predicate (sync or async) every 20 ms until it returns a truthy
   * value, which is returned; throws after timeoutMs, naming `what` and the
   * requests this service saw.
   */
  async waitFor(predicate, timeoutMs = 10_000, what = 'a condition on the push service') {
    const deadline = Date.now() + timeoutMs;
    let lastErr = null;
    for (;;) {
      try {
        const v = await predicate(this);
        if (v) return v;
      } catch (err) {
        lastErr = err;
      }
      if (Date.now() >= deadline) {
        const extra = lastErr ? ` (last error: ${lastErr.message})` : '';
        throw new Error(`timed out after ${timeoutMs} ms waiting for: ${typeof what === 'function' ? what() : what}${extra}\n${this.describe()}`);
      }
      await new Promise((r) => setTimeout(r, 20));
    }
  }

  /** Summary of what arrived, for failure messages. */
  describe() {
    const lines = [`--- push service ${this.origin}: ${this.requests.length} request(s), ${this.messages.length} accepted ---`];
    for (const r of this.requests.slice(-30)) {
      lines.push(`${r.id} -> ${r.status}${r.reason ? ` (${r.reason})` : ''}${r.plaintext ? ` ${r.plaintext.slice(0, 300)}` : ''}`);
    }
    return lines.join('\n');
  }

  handle(req, res) {
    const chunks = [];
    let size = 0;
    req.on('data', (c) => {
      size += c.length;
      if (size <= MAX_BODY + 1) chunks.push(c);
    });
    req.on('error', () => {});
    req.on('end', () => {
      const rec = { id: null, method: req.method, url: req.url, headers: { ...req.headers }, status: 0, reason: '', at: Date.now() };
      let status;
      let extraHeaders = {};
      try {
        const out = this.process(req, Buffer.concat(chunks), size, rec);
        status = out.status;
        extraHeaders = out.headers || {};
      } catch (err) {
        // A bug here must not crash the test process: answer 500 and record it.
        status = err instanceof PushError ? err.status : 500;
        rec.reason = err instanceof PushError ? err.message : `push service bug: ${err && err.stack}`;
        extraHeaders = err.headers || {};
      }
      rec.status = status;
      this.requests.push(rec); // unknown ids and refusals too
      const body = status >= 400 ? JSON.stringify({ error: rec.reason || http.STATUS_CODES[status] }) : '';
      res.writeHead(status, {
        ...extraHeaders,
        ...(body ? { 'Content-Type': 'application/json' } : {}),
        'Content-Length': Buffer.byteLength(body),
      });
      res.end(body);
    });
  }

  process(req, body, size, rec) {
    const m = /^\/push\/([A-Za-z0-9_-]+)$/.exec(req.url);
    if (!m) throw new PushError(404, `no such resource ${req.url}`);
    rec.id = m[1];
    if (req.method !== 'POST') throw new PushError(405, `method ${req.method} not allowed`);
    const sub = this.subs.get(m[1]);
    if (!sub) throw new PushError(404, 'unknown subscription');
    if (sub.expired) throw new PushError(sub.expired, 'subscription expired');

    // RFC 8030 §5: TTL is required; §5.3 Urgency; §5.4 Topic.
    const h = req.headers;
    if ((h['content-encoding'] || '').toLowerCase() !== 'aes128gcm') {
      throw new PushError(400, `Content-Encoding ${JSON.stringify(h['content-encoding'] || null)}, want aes128gcm`);
    }
    if (h.ttl === undefined || !/^\d+$/.test(h.ttl.trim())) throw new PushError(400, `TTL header ${JSON.stringify(h.ttl ?? null)} is not a non-negative integer`);
    // An empty Urgency (webpush-go sends one) counts as absent.
    if (h.urgency && !['very-low', 'low', 'normal', 'high'].includes(h.urgency)) throw new PushError(400, `invalid Urgency ${JSON.stringify(h.urgency)}`);
    if (h.topic !== undefined && h.topic !== '' && !/^[A-Za-z0-9_-]{1,32}$/.test(h.topic)) throw new PushError(400, `invalid Topic ${JSON.stringify(h.topic)}`);
    if (size > MAX_BODY) throw new PushError(413, `body of ${size} bytes exceeds ${MAX_BODY}`);

    // RFC 8292: the key must be the subscription's applicationServerKey, the JWT valid for us.
    let vapid;
    try {
      vapid = parseVapidAuthorization(h.authorization);
    } catch (err) {
      throw new PushError(401, err.message);
    }
    let k;
    try {
      k = b64url(unb64(vapid.k));
    } catch (err) {
      throw new PushError(401, `vapid k: ${err.message}`);
    }
    if (k !== sub.serverKey) throw new PushError(403, `vapid k ${vapid.k} is not the subscription's applicationServerKey ${sub.serverKey}`);
    try {
      rec.vapid = verifyVapid(vapid.t, vapid.k, { audience: this.origin, nowS: Math.floor(this.now() / 1000) });
    } catch (err) {
      throw new PushError(401, err.message);
    }

    let plain;
    try {
      plain = decryptAes128gcm(body, sub.privateKey, sub.auth);
    } catch (err) {
      throw new PushError(400, `cannot decrypt: ${err.message}`);
    }
    rec.bodyLength = body.length;
    rec.rs = plain.rs;
    rec.plaintext = plain.plaintext.toString('utf8');

    if (sub.injected.length) {
      const a = sub.injected.shift();
      rec.injected = true;
      const headers = a.retryAfter !== undefined ? { 'Retry-After': String(a.retryAfter) } : {};
      throw Object.assign(new PushError(a.status, `injected ${a.status}`), { headers });
    }

    let json = null;
    try {
      json = JSON.parse(rec.plaintext);
    } catch {
      /* recorded as null: the test decides whether that is a failure */
    }
    const seq = ++this.seq;
    this.messages.push({ id: sub.id, seq, headers: rec.headers, plaintext: rec.plaintext, json, at: rec.at });
    return { status: 201, headers: { Location: `/messages/${seq}` } };
  }
}

module.exports = {
  PushService,
  b64url,
  unb64,
  decryptAes128gcm,
  deriveKeys,
  encryptAes128gcm,
  hkdfExpand,
  hkdfExtract,
  parseVapidAuthorization,
  p256PublicKey,
  verifyVapid,
};
