'use strict';
// Webhooks: a Node http server on 127.0.0.1 receives Herald's webhooks and
// verifies EVERY request with the official `pusher` SDK
// (pusher.webhook({headers, rawBody}).isValid(), getEvents(), getTime()),
// while pusher-js clients and the SDK drive the server.
//
// Herald runs with its own config (webhooks.leave_delay 300ms, batch_window
// 20ms) and two apps:
//   wh1  client events on; endpoints
//          /all       every event type
//          /members   member_added only, with extra headers
//          /filtered  channel_occupied for presence-*-room channels only
//          /flaky     channel_occupied for flaky-* channels; first answer 503
//   wh2  enable_subscription_count; endpoint /counts
//
// Deliveries to one endpoint are ordered, so "nothing else arrived" is checked
// after a barrier: a marker channel is occupied and vacated (the vacate goes
// through the same leave delay as everything before it) and the test waits for
// the marker's webhooks on that endpoint.
//
// WEBHOOKS_DUMP=1 prints every request received (body included) at the end.

const assert = require('node:assert/strict');
const http = require('node:http');
const test = require('node:test');
const { describe, it } = test;
const {
  PusherSDK,
  collect,
  scenario,
  subscribed,
  uniq,
  useServer,
  waitFor,
  yamlString,
} = require('../harness');

const LEAVE_DELAY_MS = 300;
const WAIT_MS = 5000; // bound for one webhook to arrive

const WH1 = { id: '101', key: 'wh-key', secret: 'wh-secret' };
const WH2 = { id: '102', key: 'wh-key-2', secret: 'wh-secret-2' };

const ALL_TYPES = [
  'channel_occupied', 'channel_vacated', 'member_added', 'member_removed',
  'client_event', 'cache_miss', 'subscription_count',
];

const EXTRA_HEADERS = { 'X-Custom-Token': 's3cret-token', 'X-Tenant': 'herald-tests' };

// endpoint path → the app whose secret signs its webhooks
const ENDPOINT_APP = {
  '/all': WH1,
  '/members': WH1,
  '/filtered': WH1,
  '/flaky': WH1,
  '/counts': WH2,
};

function verifierFor(app) {
  return new PusherSDK({ appId: app.id, key: app.key, secret: app.secret });
}

// ---------------------------------------------------------------------------
// the receiving endpoint

class WebhookReceiver {
  constructor() {
    this.requests = []; // {seq, path, headers, rawHeaders, body, valid, events, time, receivedAt, problems}
    this.failNext = {}; // path → number of requests still to answer 503
    this.server = null;
    this.port = null;
    this.startedAt = Date.now();
  }

  start() {
    this.server = http.createServer((req, res) => {
      const chunks = [];
      req.on('data', (c) => chunks.push(c));
      req.on('end', () => {
        const receivedAt = Date.now();
        const body = Buffer.concat(chunks).toString('utf8');
        const path = req.url;
        const rec = {
          seq: this.requests.length + 1,
          method: req.method,
          path,
          headers: req.headers,
          rawHeaders: req.rawHeaders,
          body,
          receivedAt,
          valid: false,
          events: [],
          time: null,
          problems: [],
          status: 200,
        };
        this.check(rec);
        if (this.failNext[path] > 0) {
          this.failNext[path] -= 1;
          rec.status = 503;
        }
        this.requests.push(rec);
        res.writeHead(rec.status, { 'content-type': 'text/plain' });
        res.end(rec.status === 200 ? 'ok' : 'try again');
      });
    });
    return new Promise((resolve, reject) => {
      this.server.on('error', reject);
      this.server.listen(0, '127.0.0.1', () => {
        this.port = this.server.address().port;
        resolve(this);
      });
    });
  }

  /** Verifies a request with the official SDK; records what is wrong with it. */
  check(rec) {
    const app = ENDPOINT_APP[rec.path];
    if (rec.method !== 'POST') rec.problems.push(`method ${rec.method}, want POST`);
    if (!app) {
      rec.problems.push(`unexpected path ${rec.path}`);
      return;
    }
    const webhook = verifierFor(app).webhook({ headers: rec.headers, rawBody: rec.body });
    rec.valid = webhook.isValid();
    if (!rec.valid) {
      rec.problems.push(
        `isValid() false (content-type ${JSON.stringify(rec.headers['content-type'])}, ` +
          `x-pusher-key ${JSON.stringify(rec.headers['x-pusher-key'])}, want ${JSON.stringify(app.key)})`,
      );
      return;
    }
    rec.events = webhook.getEvents();
    rec.time = webhook.getTime();
    const data = webhook.getData();
    if (!Number.isInteger(data.time_ms)) rec.problems.push(`time_ms is not an integer: ${JSON.stringify(data.time_ms)}`);
    const t = rec.time.getTime();
    if (!(t >= this.startedAt - 1000 && t <= rec.receivedAt + 1000)) {
      rec.problems.push(`getTime() ${rec.time.toISOString()} outside [receiver start, receipt]`);
    }
    if (!Array.isArray(rec.events) || rec.events.length === 0) {
      rec.problems.push(`events is not a non-empty array: ${JSON.stringify(rec.events)}`);
      rec.events = [];
    }
    // exact header spelling on the wire (pusher-http-php indexes by these keys)
    for (const h of ['X-Pusher-Key', 'X-Pusher-Signature']) {
      if (!rec.rawHeaders.includes(h)) {
        rec.problems.push(`header ${h} not sent with this exact capitalisation (raw: ${rec.rawHeaders.filter((_, i) => i % 2 === 0).join(', ')})`);
      }
    }
  }

  url(path) {
    return `http://127.0.0.1:${this.port}${path}`;
  }

  /** Flattened events received on an endpoint, each with its request. */
  events(path) {
    const out = [];
    for (const r of this.requests) {
      if (r.path !== path || !r.valid) continue;
      for (const e of r.events) out.push({ ...e, _req: r });
    }
    return out;
  }

  /** Events on `path` (for one channel, optionally one name), without `_req`. */
  eventsFor(path, channel, name) {
    return this.events(path)
      .filter((e) => e.channel === channel && (!name || e.name === name))
      .map(strip);
  }

  async waitEvent(path, pred, what, timeoutMs = WAIT_MS) {
    return waitFor(() => this.events(path).find(pred), timeoutMs, `webhook on ${path}: ${what}`);
  }

  problems() {
    return this.requests.filter((r) => r.problems.length > 0);
  }

  assertAllValid() {
    const bad = this.problems();
    assert.equal(
      bad.length,
      0,
      `webhook requests that failed verification:\n${bad.map((r) => `#${r.seq} ${r.path}: ${r.problems.join('; ')}\n  body: ${r.body}`).join('\n')}`,
    );
  }

  dump(last = 40) {
    return this.requests
      .slice(-last)
      .map((r) => {
        const custom = Object.keys(r.headers).filter((h) => h.startsWith('x-')).map((h) => `${h}: ${r.headers[h]}`);
        return (
          `#${r.seq} +${r.receivedAt - this.startedAt}ms ${r.method} ${r.path} -> ${r.status} valid=${r.valid}` +
          `${r.problems.length ? ` PROBLEMS: ${r.problems.join('; ')}` : ''}\n` +
          `    content-type: ${r.headers['content-type']}; ${custom.join('; ')}\n    ${r.body}`
        );
      })
      .join('\n');
  }

  close() {
    return new Promise((resolve) => {
      if (!this.server) return resolve();
      this.server.closeAllConnections?.();
      this.server.close(() => resolve());
    });
  }
}

function strip(e) {
  const { _req, ...rest } = e;
  return rest;
}

// ---------------------------------------------------------------------------
// config

function webhookConfig(receiver) {
  return ({ port }) => {
    const u = (p) => yamlString(receiver.url(p));
    const lines = [
      'host: 127.0.0.1',
      `port: ${port}`,
      'webhooks:',
      `  leave_delay: ${LEAVE_DELAY_MS}ms`,
      '  batch_window: 20ms',
      '  timeout: 2s',
      '  retry_window: 30s',
      'apps:',
      `  - id: ${yamlString(WH1.id)}`,
      `    key: ${WH1.key}`,
      `    secret: ${WH1.secret}`,
      '    enable_client_messages: true',
      '    webhooks:',
      `      - url: ${u('/all')}`,
      `        event_types: [${ALL_TYPES.join(', ')}]`,
      `      - url: ${u('/members')}`,
      '        event_types: [member_added]',
      '        headers:',
      ...Object.entries(EXTRA_HEADERS).map(([k, v]) => `          ${k}: ${yamlString(v)}`),
      `      - url: ${u('/filtered')}`,
      '        event_types: [channel_occupied]',
      '        filter:',
      '          channel_name_starts_with: "presence-"',
      '          channel_name_ends_with: "-room"',
      `      - url: ${u('/flaky')}`,
      '        event_types: [channel_occupied]',
      '        filter:',
      '          channel_name_starts_with: "flaky-"',
      `  - id: ${yamlString(WH2.id)}`,
      `    key: ${WH2.key}`,
      `    secret: ${WH2.secret}`,
      '    enable_subscription_count: true',
      '    webhooks:',
      `      - url: ${u('/counts')}`,
      '        event_types: [subscription_count, channel_occupied, channel_vacated]',
      '',
    ];
    return lines.join('\n');
  };
}

// ---------------------------------------------------------------------------

describe('webhooks (verified with the pusher SDK)', () => {
  const receiver = new WebhookReceiver();
  test.before(() => receiver.start());
  const server = useServer(test, { name: 'webhooks', config: webhookConfig(receiver) });
  test.after(() => receiver.close());

  /** scenario() plus the receiver's log in the failure message and a validity check. */
  const wh = (body) =>
    scenario(server, async (s, t) => {
      try {
        await body(s, t);
        receiver.assertAllValid();
      } catch (err) {
        const extra = `\n--- webhook requests received (last 40) ---\n${receiver.dump()}`;
        if (err && typeof err.stack === 'string') err.stack += extra;
        throw err;
      }
    });

  /**
   * Waits until every webhook generated so far on app `app` has reached
   * `path` (see the file comment). `vacate` = the endpoint receives
   * channel_vacated too, so delayed leaves are covered.
   */
  async function barrier(s, { app = WH1, path = '/all', prefix = 'presence-barrier-', suffix = '', vacate = true } = {}) {
    const m = await s.connectedClient({ app, label: `barrier${receiver.requests.length}` });
    const name = uniq(prefix) + suffix;
    await subscribed(m, name);
    await receiver.waitEvent(path, (e) => e.name === 'channel_occupied' && e.channel === name, `barrier channel_occupied ${name}`);
    m.disconnect();
    if (vacate) {
      await receiver.waitEvent(path, (e) => e.name === 'channel_vacated' && e.channel === name, `barrier channel_vacated ${name}`);
    }
  }

  it('channel_occupied / channel_vacated once each with two clients, vacated after the leave delay', wh(async (s) => {
    const name = uniq('room-');
    const a = await s.connectedClient({ app: WH1 });
    const b = await s.connectedClient({ app: WH1 });

    await subscribed(a, name);
    const occ = await receiver.waitEvent('/all', (e) => e.name === 'channel_occupied' && e.channel === name, `channel_occupied ${name}`);
    assert.deepEqual(strip(occ), { name: 'channel_occupied', channel: name });
    assert.equal(occ._req.headers['x-pusher-key'], WH1.key, 'X-Pusher-Key is the app key');
    assert.equal(occ._req.headers['content-type'], 'application/json');

    await subscribed(b, name);
    a.unsubscribe(name); // b still subscribed: no vacate
    await waitFor(() => !a.channel(name), 2000, 'a unsubscribed');
    const leftAt = Date.now();
    b.disconnect(); // last subscriber gone
    const vac = await receiver.waitEvent('/all', (e) => e.name === 'channel_vacated' && e.channel === name, `channel_vacated ${name}`);
    assert.deepEqual(strip(vac), { name: 'channel_vacated', channel: name });
    const delay = vac._req.receivedAt - leftAt;
    assert.ok(delay >= LEAVE_DELAY_MS - 20, `channel_vacated arrived ${delay} ms after the last subscriber left (leave_delay ${LEAVE_DELAY_MS} ms)`);

    await barrier(s);
    assert.deepEqual(
      receiver.eventsFor('/all', name).map((e) => e.name),
      ['channel_occupied', 'channel_vacated'],
      'exactly one occupied and one vacated, in that order',
    );
  }));

  it('a single client: unsubscribe vacates, disconnect vacates', wh(async (s) => {
    const n1 = uniq('solo-unsub-');
    const n2 = uniq('solo-disc-');
    const a = await s.connectedClient({ app: WH1 });
    await subscribed(a, n1);
    await subscribed(a, n2);
    await receiver.waitEvent('/all', (e) => e.name === 'channel_occupied' && e.channel === n2, `channel_occupied ${n2}`);
    a.unsubscribe(n1);
    await receiver.waitEvent('/all', (e) => e.name === 'channel_vacated' && e.channel === n1, `channel_vacated ${n1} after unsubscribe`);
    a.disconnect();
    await receiver.waitEvent('/all', (e) => e.name === 'channel_vacated' && e.channel === n2, `channel_vacated ${n2} after disconnect`);
    await barrier(s);
    for (const n of [n1, n2]) {
      assert.deepEqual(receiver.eventsFor('/all', n).map((e) => e.name), ['channel_occupied', 'channel_vacated'], n);
    }
  }));

  it('re-subscribing within the leave delay sends neither vacated nor a second occupied', wh(async (s, t) => {
    const name = uniq('flap-');
    const a = await s.connectedClient({ app: WH1 });
    await subscribed(a, name);
    await receiver.waitEvent('/all', (e) => e.name === 'channel_occupied' && e.channel === name, `channel_occupied ${name}`);
    const t0 = Date.now();
    a.unsubscribe(name);
    await subscribed(a, name);
    const took = Date.now() - t0;
    if (took > LEAVE_DELAY_MS / 2) {
      t.skip(`re-subscribe took ${took} ms, too close to the ${LEAVE_DELAY_MS} ms leave delay to judge`);
      return;
    }
    await barrier(s);
    assert.deepEqual(receiver.eventsFor('/all', name).map((e) => e.name), ['channel_occupied'], `re-subscribed after ${took} ms`);
    a.disconnect();
    await receiver.waitEvent('/all', (e) => e.name === 'channel_vacated' && e.channel === name, `channel_vacated ${name}`);
    await barrier(s);
    assert.deepEqual(receiver.eventsFor('/all', name).map((e) => e.name), ['channel_occupied', 'channel_vacated']);
  }));

  it('presence: member_added / member_removed once per user id, user_id a string', wh(async (s) => {
    const name = uniq('presence-team-');
    const u1a = await s.connectedClient({ app: WH1, user: { user_id: 'u-1', user_info: { tab: 'a' } } });
    const u1b = await s.connectedClient({ app: WH1, user: { user_id: 'u-1', user_info: { tab: 'b' } } });
    const u2 = await s.connectedClient({ app: WH1, user: { user_id: '42' } });

    await subscribed(u1a, name);
    const add1 = await receiver.waitEvent('/all', (e) => e.name === 'member_added' && e.channel === name, 'member_added u-1');
    assert.deepEqual(strip(add1), { name: 'member_added', channel: name, user_id: 'u-1' });

    await subscribed(u1b, name); // same user, second connection: no webhook
    await subscribed(u2, name);
    const add2 = await receiver.waitEvent('/all', (e) => e.name === 'member_added' && e.channel === name && e.user_id === '42', 'member_added 42');
    assert.deepEqual(strip(add2), { name: 'member_added', channel: name, user_id: '42' });
    assert.equal(typeof add2.user_id, 'string');

    u1a.unsubscribe(name); // u-1 still there through u1b
    await waitFor(() => !u1a.channel(name), 2000, 'u1a unsubscribed');
    u1b.disconnect(); // last connection of u-1
    const rem1 = await receiver.waitEvent('/all', (e) => e.name === 'member_removed' && e.channel === name, 'member_removed u-1');
    assert.deepEqual(strip(rem1), { name: 'member_removed', channel: name, user_id: 'u-1' });

    u2.unsubscribe(name);
    await receiver.waitEvent('/all', (e) => e.name === 'channel_vacated' && e.channel === name, `channel_vacated ${name}`);
    await barrier(s);

    const got = receiver.eventsFor('/all', name);
    const members = got.filter((e) => e.name.startsWith('member_')).map((e) => `${e.name}:${e.user_id}`);
    assert.deepEqual(members, ['member_added:u-1', 'member_added:42', 'member_removed:u-1', 'member_removed:42']);
    assert.deepEqual(got.filter((e) => e.name.startsWith('channel_')).map((e) => e.name), ['channel_occupied', 'channel_vacated']);
    for (const e of got) if ('user_id' in e) assert.equal(typeof e.user_id, 'string', JSON.stringify(e));
  }));

  it('client_event on a private channel: name, channel, event, data (a string), socket_id of the sender', wh(async (s) => {
    const name = uniq('private-chat-');
    const sender = await s.connectedClient({ app: WH1 });
    const other = await s.connectedClient({ app: WH1 });
    const chS = await subscribed(sender, name);
    const chO = await subscribed(other, name);
    const relayed = collect(chO, 'client-x');

    assert.equal(chS.trigger('client-x', { a: 1 }), true, 'pusher-js accepted the client event');
    await waitFor(() => relayed.length === 1, 3000, 'client event relayed to the other subscriber');
    const ev = await receiver.waitEvent('/all', (e) => e.name === 'client_event' && e.channel === name, `client_event on ${name}`);
    assert.deepEqual(strip(ev), {
      name: 'client_event',
      channel: name,
      event: 'client-x',
      data: '{"a":1}',
      socket_id: sender.connection.socket_id,
    });

    // string data is passed through as it is, not JSON-encoded again
    assert.equal(chS.trigger('client-y', 'plain text'), true);
    const ev2 = await receiver.waitEvent('/all', (e) => e.name === 'client_event' && e.channel === name && e.event === 'client-y', 'client_event client-y');
    assert.equal(ev2.data, 'plain text');
    assert.equal(ev2.socket_id, sender.connection.socket_id);
  }));

  it('client_event on a presence channel carries the sender\'s user_id', wh(async (s) => {
    const name = uniq('presence-chat-');
    const sender = await s.connectedClient({ app: WH1, user: { user_id: 'typist-7' } });
    const other = await s.connectedClient({ app: WH1, user: { user_id: 'reader-8' } });
    const ch = await subscribed(sender, name);
    await subscribed(other, name);
    assert.equal(ch.trigger('client-typing', { typing: true }), true);
    const ev = await receiver.waitEvent('/all', (e) => e.name === 'client_event' && e.channel === name, `client_event on ${name}`);
    assert.deepEqual(strip(ev), {
      name: 'client_event',
      channel: name,
      event: 'client-typing',
      data: '{"typing":true}',
      socket_id: sender.connection.socket_id,
      user_id: 'typist-7',
    });
  }));

  it('cache_miss when subscribing to a cache channel with nothing cached', wh(async (s) => {
    const name = uniq('cache-x-');
    const c = await s.connectedClient({ app: WH1 });
    const ch = c.subscribe(name);
    const misses = collect(ch, 'pusher:cache_miss');
    await subscribed(c, name);
    await waitFor(() => misses.length === 1, 3000, 'pusher:cache_miss on the client');
    const ev = await receiver.waitEvent('/all', (e) => e.name === 'cache_miss' && e.channel === name, `cache_miss ${name}`);
    assert.deepEqual(strip(ev), { name: 'cache_miss', channel: name });

    // once something is cached, a new subscriber causes no cache_miss webhook
    const cached = uniq('cache-y-');
    await s.server.sdk({ app: WH1 }).trigger(cached, 'price', { v: 1 });
    await subscribed(c, cached);
    await barrier(s);
    assert.deepEqual(receiver.eventsFor('/all', name, 'cache_miss').length, 1, 'one cache_miss for one subscriber');
    assert.deepEqual(receiver.eventsFor('/all', cached, 'cache_miss'), [], 'no cache_miss for a channel with a cached event');
  }));

  it('cache_miss is de-duplicated across simultaneous subscribers', wh(async (s) => {
    const name = uniq('cache-both-');
    const a = await s.connectedClient({ app: WH1 });
    const b = await s.connectedClient({ app: WH1 });
    const missA = collect(a.subscribe(name), 'pusher:cache_miss');
    const missB = collect(b.subscribe(name), 'pusher:cache_miss');
    await Promise.all([subscribed(a, name), subscribed(b, name)]);
    await waitFor(() => missA.length === 1 && missB.length === 1, 3000, 'pusher:cache_miss on both clients');
    await receiver.waitEvent('/all', (e) => e.name === 'cache_miss' && e.channel === name, `cache_miss ${name}`);
    await barrier(s);
    assert.equal(receiver.eventsFor('/all', name, 'cache_miss').length, 1, 'one cache_miss webhook for two simultaneous subscribers');
  }));

  it('subscription_count on an app with enable_subscription_count', wh(async (s) => {
    const name = uniq('counted-');
    const a = await s.connectedClient({ app: WH2 });
    const b = await s.connectedClient({ app: WH2 });
    const counts = () => receiver.eventsFor('/counts', name, 'subscription_count').map((e) => e.subscription_count);

    await subscribed(a, name);
    await waitFor(() => counts().includes(1), WAIT_MS, `subscription_count 1 (so far ${JSON.stringify(counts())})`);
    await subscribed(b, name);
    await waitFor(() => counts().includes(2), WAIT_MS, `subscription_count 2 (so far ${JSON.stringify(counts())})`);
    b.unsubscribe(name);
    await waitFor(() => counts().length >= 3, WAIT_MS, `subscription_count after b left (so far ${JSON.stringify(counts())})`);
    await barrier(s, { app: WH2, path: '/counts', prefix: 'counts-barrier-' });

    assert.deepEqual(counts(), [1, 2, 1], 'subscription_count webhooks (JSON numbers) in order');
    const ev = receiver.events('/counts').find((e) => e.name === 'subscription_count' && e.channel === name);
    assert.deepEqual(strip(ev), { name: 'subscription_count', channel: name, subscription_count: 1 });
    assert.equal(ev._req.headers['x-pusher-key'], WH2.key);

    // app wh1 lists subscription_count on /all but has the feature off: none sent
    await barrier(s);
    assert.deepEqual(receiver.events('/all').filter((e) => e.name === 'subscription_count').map(strip), [],
      'no subscription_count webhooks for an app without enable_subscription_count');
  }));

  it('an endpoint with extra headers and event_types [member_added] gets only member_added, with the headers', wh(async (s) => {
    const name = uniq('presence-hdr-');
    const a = await s.connectedClient({ app: WH1, user: { user_id: 'hdr-1' } });
    await subscribed(a, name);
    const ev = await receiver.waitEvent('/members', (e) => e.channel === name, `member_added ${name} on /members`);
    assert.deepEqual(strip(ev), { name: 'member_added', channel: name, user_id: 'hdr-1' });
    for (const [k, v] of Object.entries(EXTRA_HEADERS)) {
      assert.equal(ev._req.headers[k.toLowerCase()], v, `extra header ${k}`);
    }
    assert.equal(ev._req.headers['content-type'], 'application/json');
    assert.equal(ev._req.headers['x-pusher-key'], WH1.key);

    a.disconnect();
    await receiver.waitEvent('/all', (e) => e.name === 'member_removed' && e.channel === name, 'member_removed on /all');
    await receiver.waitEvent('/all', (e) => e.name === 'channel_vacated' && e.channel === name, 'channel_vacated on /all');
    // barrier on /members itself: a marker user's member_added (ordered after everything above)
    const m = await s.connectedClient({ app: WH1, user: { user_id: 'marker' } });
    const marker = uniq('presence-marker-');
    await subscribed(m, marker);
    await receiver.waitEvent('/members', (e) => e.channel === marker, 'marker member_added on /members');

    const onMembers = receiver.events('/members');
    assert.ok(onMembers.length >= 2);
    assert.deepEqual([...new Set(onMembers.map((e) => e.name))], ['member_added'], 'only member_added on /members');
    for (const r of receiver.requests.filter((x) => x.path === '/members')) {
      for (const [k, v] of Object.entries(EXTRA_HEADERS)) assert.equal(r.headers[k.toLowerCase()], v, `#${r.seq} header ${k}`);
    }
    // the other endpoints do not get the extra headers
    for (const r of receiver.requests.filter((x) => x.path !== '/members')) {
      assert.equal(r.headers['x-custom-token'], undefined, `#${r.seq} ${r.path} has no X-Custom-Token`);
    }
  }));

  it('channel name filter: only presence-*-room channels reach the filtered endpoint', wh(async (s) => {
    const id = uniq('');
    const match = `presence-${id}-room`;
    const wrongEnd = `presence-${id}-hall`;
    const wrongStart = `private-${id}-room`;
    const c = await s.connectedClient({ app: WH1, user: { user_id: 'filter-1' } });
    await subscribed(c, wrongEnd);
    await subscribed(c, wrongStart);
    await subscribed(c, match);
    const ev = await receiver.waitEvent('/filtered', (e) => e.channel === match, `channel_occupied ${match} on /filtered`);
    assert.deepEqual(strip(ev), { name: 'channel_occupied', channel: match });
    await barrier(s, { path: '/filtered', prefix: 'presence-fbarrier-', suffix: '-room', vacate: false });
    const chans = receiver.events('/filtered').map((e) => e.channel);
    assert.ok(!chans.includes(wrongEnd) && !chans.includes(wrongStart), `filtered endpoint got ${JSON.stringify(chans)}`);
    for (const e of receiver.events('/filtered')) {
      assert.equal(e.name, 'channel_occupied');
      assert.ok(e.channel.startsWith('presence-') && e.channel.endsWith('-room'), `unexpected channel ${e.channel} in ${e._req.body}`);
    }
    // the unfiltered endpoint saw all three
    for (const n of [match, wrongEnd, wrongStart]) {
      assert.equal(receiver.eventsFor('/all', n, 'channel_occupied').length, 1, `/all channel_occupied ${n}`);
    }
  }));

  it('a failed delivery (503) is retried with the identical body and signature', wh(async (s) => {
    const name = uniq('flaky-');
    receiver.failNext['/flaky'] = 1;
    const c = await s.connectedClient({ app: WH1 });
    await subscribed(c, name);
    const reqs = () => receiver.requests.filter((r) => r.path === '/flaky' && r.events.some((e) => e.channel === name));
    await waitFor(() => reqs().some((r) => r.status === 200), 15_000, 'a successful retry on /flaky');
    const [first, second] = reqs();
    assert.equal(first.status, 503);
    assert.equal(second.status, 200);
    assert.equal(second.body, first.body, 'same body bytes (same time_ms) on retry');
    assert.equal(second.headers['x-pusher-signature'], first.headers['x-pusher-signature'], 'same signature');
    assert.ok(second.receivedAt > first.receivedAt);
  }));

  it('isValid() is false for a tampered request (the verification is real)', wh(async (s) => {
    const name = uniq('tamper-');
    const c = await s.connectedClient({ app: WH1 });
    await subscribed(c, name);
    const ev = await receiver.waitEvent('/all', (e) => e.name === 'channel_occupied' && e.channel === name, `channel_occupied ${name}`);
    const { headers, body } = ev._req;
    const sdk = verifierFor(WH1);
    const valid = (h, b) => sdk.webhook({ headers: h, rawBody: b }).isValid();

    assert.equal(valid(headers, body), true, 'the untouched request is valid');
    assert.ok(body.includes(name));
    assert.equal(valid(headers, body.replace(name, `${name}x`)), false, 'tampered channel name');
    assert.equal(valid(headers, body.replace('channel_occupied', 'channel_vacated')), false, 'tampered event name');
    assert.equal(valid(headers, body.replace(/"time_ms":\d+/, '"time_ms":1')), false, 'tampered time_ms');
    assert.equal(valid(headers, `${body} `), false, 'extra byte');
    const sig = headers['x-pusher-signature'];
    const flipped = (sig[0] === '0' ? '1' : '0') + sig.slice(1);
    assert.equal(valid({ ...headers, 'x-pusher-signature': flipped }, body), false, 'tampered signature');
    assert.equal(valid({ ...headers, 'x-pusher-key': WH2.key }, body), false, 'other key header');
    assert.equal(valid({ ...headers, 'content-type': 'application/json; charset=utf-8' }, body), false, 'charset parameter');
    assert.equal(verifierFor({ ...WH1, secret: 'not-the-secret' }).webhook({ headers, rawBody: body }).isValid(), false, 'wrong secret');
  }));

  it('every webhook request received was valid', wh(async () => {
    assert.ok(receiver.requests.length > 20, `received ${receiver.requests.length} requests`);
    receiver.assertAllValid();
    if (process.env.WEBHOOKS_DUMP === '1') console.log(receiver.dump(1000));
    const posted = new Set(receiver.requests.map((r) => r.path));
    for (const p of Object.keys(ENDPOINT_APP)) assert.ok(posted.has(p), `something arrived on ${p}`);
  }));
});
