'use strict';
// Shared by the cluster test files (tests/cluster*.test.js): the cluster
// config with the test apps, helpers for clients on given nodes, and a
// webhook receiver that verifies every request with the pusher SDK.

const assert = require('node:assert/strict');
const http = require('node:http');

const {
  APPS,
  PusherSDK,
  clusterScenario,
  configYAML,
  jsonResponse,
  safeJSON,
  subscribed,
  uniq,
  yamlString,
} = require('./harness');

const WAIT_MS = 5000; // bound for one cluster-wide effect (an event, a count)
const QUIET_MS = 500; // extra wait after the last expected event: no duplicate may follow
const LEAVE_DELAY_MS = 300; // webhooks.leave_delay in the cluster configs here
const MOVE_LEAVE_DELAY_MS = 1500; // … except the one test that re-joins within it
const NODE_DEATH_BOUND_MS = 15_000;
const OUTAGE_MS = 10_000;
const RECOVERY_BOUND_MS = 20_000;

// Apps added to the harness's three (configYAML) for the cluster tests.
const PRES_LIMIT = { id: '201', key: 'cl-pres-key', secret: 'cl-pres-secret' }; // max_presence_members: 2
const CONN_LIMIT = { id: '202', key: 'cl-conn-key', secret: 'cl-conn-secret' }; // max_connections: 2
const WH = { id: '203', key: 'cl-wh-key', secret: 'cl-wh-secret' }; // webhooks to the test's receiver; enable_subscription_count

/**
 * The harness config (apps 1, 2, 3) plus the cluster-test apps, short
 * webhook delays, and a webhook endpoint for app WH when `webhookURL` is set.
 * startCluster appends the redis section and node_id.
 */
function clusterConfig({ webhookURL = null, leaveDelayMs = LEAVE_DELAY_MS } = {}) {
  return ({ port }) => {
    const lines = [
      configYAML({ port }).replace(/\n*$/, ''), // ends inside the apps: list
      `  - id: ${yamlString(PRES_LIMIT.id)}`,
      `    key: ${PRES_LIMIT.key}`,
      `    secret: ${PRES_LIMIT.secret}`,
      '    max_presence_members: 2',
      `  - id: ${yamlString(CONN_LIMIT.id)}`,
      `    key: ${CONN_LIMIT.key}`,
      `    secret: ${CONN_LIMIT.secret}`,
      '    max_connections: 2',
      `  - id: ${yamlString(WH.id)}`,
      `    key: ${WH.key}`,
      `    secret: ${WH.secret}`,
      // its tests read subscription_count, answered only with the option on (as hosted Pusher)
      '    enable_subscription_count: true',
    ];
    if (webhookURL) {
      lines.push(
        '    webhooks:',
        `      - url: ${yamlString(webhookURL)}`,
        '        event_types: [channel_occupied, channel_vacated, member_added, member_removed]',
      );
    }
    lines.push('webhooks:', `  leave_delay: ${leaveDelayMs}ms`, '  batch_window: 20ms', '  timeout: 2s', '');
    return lines.join('\n');
  };
}

/** clusterScenario options for a test: own prefix, own log names. */
function opts(tag, extra = {}) {
  return { nodes: 3, name: `cluster-${tag}`, prefix: uniq(`herald-test-${tag}-`), config: clusterConfig(), ...extra };
}

// ---------------------------------------------------------------------------
// helpers

/** A connected pusher-js client on node i of the cluster. */
function onNode(s, i, o = {}) {
  return s.connectedClient({ ...o, server: s.cluster.node(i), label: o.label || `client@n${i}` });
}

function ids(members) {
  const out = [];
  members.each((m) => out.push(String(m.id)));
  return out.sort();
}

/**
 * Subscribes to a presence channel and records what pusher-js reports:
 * the member ids of pusher:subscription_succeeded, and every member_added /
 * member_removed (as user ids).
 */
async function joinPresence(c, name) {
  const ch = c.subscribe(name);
  const rec = { ch, initial: null, added: [], removed: [] };
  ch.bind('pusher:subscription_succeeded', (members) => {
    if (!rec.initial) rec.initial = ids(members);
  });
  ch.bind('pusher:member_added', (m) => rec.added.push(String(m.id)));
  ch.bind('pusher:member_removed', (m) => rec.removed.push(String(m.id)));
  await subscribed(c, name, WAIT_MS);
  return rec;
}

function count(list, x) {
  return list.filter((v) => v === x).length;
}

/** GET path on a node with the SDK: {status, body}. */
async function apiGet(node, path, params, app = APPS.one) {
  const res = await node.sdk({ app }).get({ path, params });
  return jsonResponse(res, `GET ${path} ${params ? JSON.stringify(params) : ''} on ${node.name}`);
}

/** The HTTP status of an SDK trigger (the SDK rejects on non-2xx; that is a status too). */
async function triggerStatus(sdk, channel, event, data) {
  try {
    const res = await sdk.trigger(channel, event, data);
    return res.status;
  } catch (err) {
    if (err && err.status) return err.status;
    return `error: ${err && err.message}`;
  }
}

/** Whether a client stayed on its first connection (never reconnected). */
function stayedConnected(c) {
  return c.connection.state === 'connected' && c.states.filter((st) => st === 'connected').length === 1;
}

// ---------------------------------------------------------------------------
// webhook receiver (signatures verified with the pusher SDK, as in webhooks.test.js)

class Receiver {
  constructor(app) {
    this.app = app;
    this.verifier = new PusherSDK({ appId: app.id, key: app.key, secret: app.secret });
    this.requests = [];
    this.failing = false;
  }

  start() {
    this.server = http.createServer((req, res) => {
      const chunks = [];
      req.on('data', (c) => chunks.push(c));
      req.on('end', () => {
        const body = Buffer.concat(chunks).toString('utf8');
        const webhook = this.verifier.webhook({ headers: req.headers, rawBody: body });
        const valid = webhook.isValid();
        // While `failing`, requests are answered 503: recorded, but their
        // events do not count as received (the sender must try again).
        const refused = this.failing;
        this.requests.push({ at: Date.now(), path: req.url, body, valid, refused, events: valid ? webhook.getEvents() : [] });
        res.writeHead(refused ? 503 : 200, { 'content-type': 'text/plain' });
        res.end(refused ? 'try later' : 'ok');
      });
    });
    return new Promise((resolve, reject) => {
      this.server.on('error', reject);
      this.server.listen(0, '127.0.0.1', () => resolve(this));
    });
  }

  get url() {
    return `http://127.0.0.1:${this.server.address().port}/hook`;
  }

  events(channel) {
    return this.requests.filter((r) => !r.refused).flatMap((r) => r.events).filter((e) => !channel || e.channel === channel);
  }

  /** "name" or "name:user_id" for each event on channel, in arrival order. */
  names(channel) {
    return this.events(channel).map((e) => (e.user_id !== undefined ? `${e.name}:${e.user_id}` : e.name));
  }

  dump() {
    return this.requests.map((r) => `+${r.at % 100000}ms ${r.path} valid=${r.valid}${r.refused ? ' refused(503)' : ''} ${r.body}`).join('\n');
  }

  close() {
    return new Promise((resolve) => {
      if (!this.server) return resolve();
      this.server.closeAllConnections?.();
      this.server.close(() => resolve());
    });
  }
}

/**
 * A cluster test with a webhook receiver for app WH:
 * body(s, receiver, t, cluster). Every request must pass the SDK's isValid().
 */
function withReceiver(tag, body, { leaveDelayMs = LEAVE_DELAY_MS } = {}) {
  return async (t) => {
    const receiver = await new Receiver(WH).start();
    try {
      await clusterScenario({ ...opts(tag), config: clusterConfig({ webhookURL: receiver.url, leaveDelayMs }) }, async (s, cluster) => {
        try {
          await body(s, receiver, t, cluster);
          const bad = receiver.requests.filter((r) => !r.valid);
          assert.equal(bad.length, 0, `webhook requests failing the SDK's isValid(): ${safeJSON(bad)}`);
        } catch (err) {
          if (err && typeof err.stack === 'string') err.stack += `\n--- webhook requests received ---\n${receiver.dump()}`;
          throw err;
        }
      })(t);
    } finally {
      await receiver.close();
    }
  };
}

// ---------------------------------------------------------------------------


module.exports = {
  WAIT_MS,
  QUIET_MS,
  LEAVE_DELAY_MS,
  MOVE_LEAVE_DELAY_MS,
  NODE_DEATH_BOUND_MS,
  OUTAGE_MS,
  RECOVERY_BOUND_MS,
  PRES_LIMIT,
  CONN_LIMIT,
  WH,
  clusterConfig,
  opts,
  onNode,
  ids,
  joinPresence,
  count,
  apiGet,
  triggerStatus,
  stayedConnected,
  Receiver,
  withReceiver,
};
