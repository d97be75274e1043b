'use strict';
// Test harness for the compatibility suite: builds Herald, starts it with a
// generated config on a free loopback port, and creates pusher-js clients and
// `pusher` SDK instances pointed at it. For cluster mode it also runs a
// throw-away redis-server and several Herald nodes sharing it (startRedis,
// startCluster, clusterScenario).
//
// Environment:
//   HERALD_BIN        use this binary instead of building one (run.js sets it,
//                     so the server is built once per `npm test`)
//   HERALD_COMPAT_LOG set to 1 to echo server (and redis-server) output live
//   HERALD_REDIS_BIN  redis-server to run (default /usr/bin/redis-server)

const { spawn, spawnSync, execFileSync } = require('node:child_process');
const crypto = require('node:crypto');
const fs = require('node:fs');
const http = require('node:http');
const https = require('node:https');
const net = require('node:net');
const os = require('node:os');
const path = require('node:path');
const { inspect } = require('node:util');

const PusherJS = require('pusher-js');
const PusherSDK = require('pusher');
const nacl = require('tweetnacl');

PusherJS.logToConsole = false;

const REPO_ROOT = path.resolve(__dirname, '..', '..');
const ARTIFACTS = path.join(__dirname, 'artifacts');

const APPS = {
  one: { id: '1', key: 'app-key', secret: 'app-secret' },
  two: { id: '2', key: 'app-key-2', secret: 'app-secret-2' },
  // app 3 only opts in to pusher_internal:subscription_count
  three: { id: '3', key: 'app-key-3', secret: 'app-secret-3' },
};

// ---------------------------------------------------------------------------
// small utilities

function sleep(ms) {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/**
 * Polls fn (sync or async) every 10 ms until it returns a truthy value, which
 * is returned. Throws `message` (or a generic one) after timeoutMs; `message`
 * may be a function, called then (to show the state at the timeout).
 */
async function waitFor(fn, timeoutMs = 5000, message) {
  const deadline = Date.now() + timeoutMs;
  let lastErr;
  for (;;) {
    try {
      const v = await fn();
      if (v) return v;
    } catch (err) {
      lastErr = err;
    }
    if (Date.now() >= deadline) {
      const what = (typeof message === 'function' ? message() : message) || `condition ${fn.toString().slice(0, 120)}`;
      const extra = lastErr ? ` (last error: ${lastErr && lastErr.message})` : '';
      throw new Error(`timed out after ${timeoutMs} ms waiting for: ${what}${extra}`);
    }
    await sleep(10);
  }
}

/** Resolves to the value of the first call to the returned callback. */
function deferred() {
  let resolve;
  let reject;
  const promise = new Promise((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
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

function uniq(prefix) {
  return `${prefix}${crypto.randomBytes(4).toString('hex')}`;
}

// ---------------------------------------------------------------------------
// building

let builtBin = null;

/** Returns the path of a Herald binary, building it (once per process) if needed. */
function heraldBinary() {
  if (process.env.HERALD_BIN) return process.env.HERALD_BIN;
  if (builtBin) return builtBin;
  builtBin = buildHerald(fs.mkdtempSync(path.join(os.tmpdir(), 'herald-build-')));
  return builtBin;
}

function buildHerald(dir) {
  const out = path.join(dir, 'herald');
  const res = spawnSync('go', ['build', '-o', out, './cmd/herald'], {
    cwd: REPO_ROOT,
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  if (res.error || res.status !== 0) {
    throw new Error(
      `go build ./cmd/herald failed (exit ${res.status}): ${res.error ? res.error.message : ''}\n${res.stdout}${res.stderr}`,
    );
  }
  return out;
}

// ---------------------------------------------------------------------------
// config + TLS material

function yamlString(s) {
  return JSON.stringify(String(s)); // JSON strings are valid YAML double-quoted scalars
}

function configYAML({ port, tls }) {
  const lines = [
    'host: 127.0.0.1',
    `port: ${port}`,
  ];
  if (tls) {
    lines.push('tls:', `  cert_file: ${yamlString(tls.certFile)}`, `  key_file: ${yamlString(tls.keyFile)}`);
  }
  lines.push(
    'apps:',
    '  - id: "1"',
    '    key: app-key',
    '    secret: app-secret',
    '    enable_client_messages: true',
    '    max_presence_members: 100',
    '    max_event_payload_kb: 10',
    '  - id: "2"',
    '    key: app-key-2',
    '    secret: app-secret-2',
    '    enable_client_messages: false',
    '  - id: "3"',
    '    key: app-key-3',
    '    secret: app-secret-3',
    '    enable_subscription_count: true',
    '',
  );
  return lines.join('\n');
}

/** Generates a self-signed certificate for 127.0.0.1 with openssl. */
function makeSelfSignedCert(dir) {
  const certFile = path.join(dir, 'cert.pem');
  const keyFile = path.join(dir, 'key.pem');
  try {
    execFileSync(
      'openssl',
      [
        'req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '1',
        '-subj', '/CN=127.0.0.1',
        '-addext', 'subjectAltName=IP:127.0.0.1',
        '-keyout', keyFile, '-out', certFile,
      ],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
  } catch (err) {
    throw new Error(`openssl could not create a test certificate: ${err.message}\n${err.stderr || ''}`);
  }
  return { certFile, keyFile, ca: fs.readFileSync(certFile) };
}

// ---------------------------------------------------------------------------
// server process

/**
 * Appends proc's stdout and stderr to holder.output (interleaved; when it
 * grows past max, the older half is dropped), echoed on our stderr as
 * `[holder.name] …` with HERALD_COMPAT_LOG=1.
 */
function captureOutput(holder, proc, max) {
  const onData = (chunk) => {
    const s = chunk.toString();
    holder.output += s;
    if (holder.output.length > max) holder.output = holder.output.slice(-max / 2);
    if (process.env.HERALD_COMPAT_LOG === '1') process.stderr.write(`[${holder.name}] ${s}`);
  };
  proc.stdout.on('data', onData);
  proc.stderr.on('data', onData);
}

// Servers still running when this process exits (a crash, a forced exit) are
// killed so no herald outlives the test run.
// The same goes for redis-server processes (liveRedis, see RedisServer).
const liveServers = new Set();
const liveRedis = new Set();
process.on('exit', () => {
  for (const srv of [...liveServers, ...liveRedis]) {
    try {
      srv.proc.kill('SIGKILL');
      fs.rmSync(srv.dir, { recursive: true, force: true });
    } catch {
      /* already gone */
    }
  }
});

class HeraldServer {
  /**
   * opts.tls    serve HTTPS/WSS with a self-signed certificate
   * opts.name   log file name (artifacts/<name>.log)
   * opts.config ({port, tls, dataDir}) => YAML text replacing the default config
   *             (configYAML); each server still gets its own temp --data-dir
   * opts.env    extra environment variables for the server process (merged
   *             over this process's environment)
   * opts.extraConfig YAML text appended to the config (top-level keys, e.g.
   *             the redis section of a cluster node; see startCluster)
   */
  constructor({ tls = false, name = 'herald', config = null, env = null, extraConfig = '' } = {}) {
    this.wantTLS = tls;
    this.name = name;
    this.makeConfig = config;
    this.extraEnv = env;
    this.extraConfig = extraConfig;
    this.output = ''; // stdout and stderr, interleaved
    this.stderr = ''; // stderr alone
    this.proc = null;
    this.exited = null; // {code, signal} once the process ended
    this.stopping = false;
  }

  get scheme() {
    return this.tls ? 'https' : 'http';
  }

  get baseURL() {
    return `${this.scheme}://127.0.0.1:${this.port}`;
  }

  async start() {
    const bin = heraldBinary();
    this.dir = fs.mkdtempSync(path.join(os.tmpdir(), 'herald-compat-'));
    this.dataDir = path.join(this.dir, 'data');
    fs.mkdirSync(this.dataDir);
    this.tls = this.wantTLS ? makeSelfSignedCert(this.dir) : null;
    this.port = await freePort();
    this.configFile = path.join(this.dir, 'herald.yaml');
    const makeConfig = this.makeConfig || configYAML;
    let yaml = makeConfig({ port: this.port, tls: this.tls, dataDir: this.dataDir });
    if (this.extraConfig) yaml = `${yaml.replace(/\n*$/, '\n')}${this.extraConfig.replace(/\n*$/, '\n')}`;
    fs.writeFileSync(this.configFile, yaml);

    // No admin listener: its default address is fixed (127.0.0.1:9601), and tests use free ports only.
    const args = ['serve', '--config', this.configFile, '--data-dir', this.dataDir, '--admin-listen', 'off'];
    this.proc = spawn(bin, args, {
      cwd: this.dir,
      stdio: ['ignore', 'pipe', 'pipe'],
      env: this.extraEnv ? { ...process.env, ...this.extraEnv } : process.env,
    });
    liveServers.add(this);
    captureOutput(this, this.proc, 2_000_000);
    this.proc.stderr.on('data', (chunk) => {
      if (this.stderr.length < 1_000_000) this.stderr += chunk.toString();
    });
    this.exitPromise = new Promise((resolve) => {
      this.proc.on('exit', (code, signal) => {
        liveServers.delete(this);
        this.exited = { code, signal };
        resolve(this.exited);
      });
      this.proc.on('error', (err) => {
        this.output += `\n[spawn error] ${err.message}\n`;
        this.exited = { code: null, signal: null, error: err };
        resolve(this.exited);
      });
    });

    const deadline = Date.now() + 20_000;
    let last = 'no answer';
    for (;;) {
      if (this.exited) {
        throw new Error(
          `herald exited during start-up (${inspect(this.exited)}); command: ${bin} ${args.join(' ')}\n` +
            `--- server output ---\n${this.output}`,
        );
      }
      try {
        const res = await this.rawRequest('GET', '/ready');
        if (res.status === 200) break;
        last = `status ${res.status}: ${res.body.slice(0, 200)}`;
      } catch (err) {
        last = err.message;
      }
      if (Date.now() > deadline) {
        const out = this.output;
        await this.stop();
        throw new Error(
          `herald did not answer 200 on GET /ready within 20 s (last: ${last}); command: ${bin} ${args.join(' ')}\n` +
            `--- server output ---\n${out}`,
        );
      }
      await sleep(100);
    }
    return this;
  }

  /** Plain HTTP(S) request to the server (no signing). */
  rawRequest(method, urlPath, body) {
    const mod = this.tls ? https : http;
    return new Promise((resolve, reject) => {
      const req = mod.request(
        {
          host: '127.0.0.1',
          port: this.port,
          method,
          path: urlPath,
          ca: this.tls ? this.tls.ca : undefined,
          agent: false,
          timeout: 2000,
          headers: body ? { 'content-type': 'application/json' } : {},
        },
        (res) => {
          let data = '';
          res.setEncoding('utf8');
          res.on('data', (c) => (data += c));
          res.on('end', () => resolve({ status: res.statusCode, headers: res.headers, body: data }));
        },
      );
      req.on('timeout', () => req.destroy(new Error('request timed out')));
      req.on('error', reject);
      if (body) req.write(body);
      req.end();
    });
  }

  /** Throws (with the server's output) if the process is no longer running. */
  assertAlive() {
    if (this.exited && !this.stopping) {
      throw new Error(
        `herald process died unexpectedly (${inspect(this.exited)})\n--- server output (tail) ---\n${this.output.slice(-8000)}`,
      );
    }
  }

  /** SIGTERM, SIGKILL after graceMs; saves the log and removes the temp dir. */
  async stop(graceMs = 5000) {
    if (!this.proc) return;
    this.stopping = true;
    if (!this.exited) {
      this.proc.kill('SIGTERM');
      const killer = setTimeout(() => {
        if (!this.exited) this.proc.kill('SIGKILL');
      }, graceMs);
      await this.exitPromise;
      clearTimeout(killer);
    }
    this.saveLog();
    if (this.dir) fs.rmSync(this.dir, { recursive: true, force: true });
  }

  /** SIGKILL (a crash: no graceful shutdown) and waits for the exit; stop() still cleans up. */
  async kill() {
    if (!this.proc) return;
    this.stopping = true;
    if (!this.exited) {
      this.proc.kill('SIGKILL');
      await this.exitPromise;
    }
  }

  /** Waits until `re` (a RegExp) matches the server's output; returns the match. */
  async waitOutput(re, timeoutMs = 5000) {
    return waitFor(() => this.output.match(re), timeoutMs, `${this.name}: output matching ${re}`);
  }

  saveLog() {
    try {
      fs.mkdirSync(ARTIFACTS, { recursive: true });
      fs.writeFileSync(path.join(ARTIFACTS, `${this.name}.log`), this.output);
    } catch {
      /* best effort */
    }
  }

  // -- clients -------------------------------------------------------------

  /** A `pusher` server SDK instance for this server. */
  sdk(overrides = {}) {
    const app = overrides.app || APPS.one;
    const opts = {
      appId: app.id,
      key: app.key,
      secret: app.secret,
      host: '127.0.0.1',
      port: String(this.port),
      useTLS: !!this.tls,
      timeout: 5000,
      ...overrides,
    };
    delete opts.app;
    if (this.tls && !opts.agent) opts.agent = new https.Agent({ ca: this.tls.ca });
    return new PusherSDK(opts);
  }
}

// ---------------------------------------------------------------------------
// pusher-js clients with frame recording

let clientSeq = 0;

/**
 * Creates a pusher-js client.
 * opts.app      which app (APPS.one default) — the key the client connects with
 * opts.key      override the key only
 * opts.signer   `pusher` SDK instance used by the customHandler (default: correct SDK for the app)
 * opts.user     presence channel_data ({user_id, user_info}) passed to authorizeChannel
 *               (default {user_id: <label>}; null = none, pusher-js then uses the sign-in)
 * opts.userData user data for pusher.signin() ({id, user_info, ...})
 * opts.authHook (params) => authData|undefined to override authorization per channel
 */
function makeClient(server, opts = {}) {
  const app = opts.app || APPS.one;
  const signer = opts.signer || server.sdk({ app });
  const label = opts.label || `client${++clientSeq}`;
  const frames = [];
  const states = [];
  const errors = [];

  const pusherOpts = {
    cluster: 'mt1',
    wsHost: '127.0.0.1',
    wsPort: server.port,
    wssPort: server.port,
    forceTLS: false,
    enabledTransports: ['ws'],
    nacl,
    channelAuthorization: {
      customHandler: ({ socketId, channelName }, callback) => {
        try {
          if (opts.authHook) {
            const custom = opts.authHook({ socketId, channelName, signer });
            if (custom) return callback(null, custom);
          }
          // opts.user === null: no channel_data (presence as the signed-in user)
          const presence = opts.user === null ? undefined : opts.user || { user_id: label };
          const data = channelName.startsWith('presence-') ? presence : undefined;
          callback(null, signer.authorizeChannel(socketId, channelName, data));
        } catch (err) {
          callback(err, null);
        }
      },
    },
    userAuthentication: {
      customHandler: ({ socketId }, callback) => {
        try {
          callback(null, signer.authenticateUser(socketId, opts.userData || { id: 'user-1' }));
        } catch (err) {
          callback(err, null);
        }
      },
    },
    ...(opts.pusherOptions || {}),
  };

  const client = new PusherJS(opts.key || app.key, pusherOpts);
  client.label = label;
  client.frames = frames;
  client.states = states;
  client.errors = errors;

  // Transcript: state changes, errors and the raw frames on the wire (hooked
  // into pusher-js' transport once connected; the handshake frame is summarised
  // by the socket_id in the "connected" line).
  const t0 = Date.now();
  const stamp = () => `${String(Date.now() - t0).padStart(5)}ms`;
  let hooked = null;
  client.connection.bind('state_change', ({ previous, current }) => {
    states.push(current);
    const sid = current === 'connected' ? ` (socket_id ${client.connection.socket_id})` : '';
    frames.push(`${stamp()} state ${previous} -> ${current}${sid}`);
    const transport = current === 'connected' && client.connection.connection && client.connection.connection.transport;
    if (transport && transport !== hooked) {
      hooked = transport;
      transport.bind('message', (m) => frames.push(`${stamp()} S->C ${m && m.data}`));
      const origSend = transport.send.bind(transport);
      transport.send = (data) => {
        frames.push(`${stamp()} C->S ${data}`);
        return origSend(data);
      };
    }
  });
  client.connection.bind('error', (err) => {
    errors.push(err);
    frames.push(`${stamp()} error event ${safeJSON(err)}`);
  });
  return client;
}

function safeJSON(v) {
  try {
    const s = JSON.stringify(v, (_k, x) => (x instanceof Error ? { error: x.name, message: x.message } : x));
    return s && s.length > 2000 ? `${s.slice(0, 2000)}…` : s;
  } catch {
    return inspect(v, { depth: 4 });
  }
}

/** Waits until the client's connection state is `connected`. */
async function connected(client, timeoutMs = 10_000) {
  await waitFor(
    () => client.connection.state === 'connected',
    timeoutMs,
    `${client.label} to reach state "connected" (now "${client.connection.state}", states so far: ${client.states.join(',')})`,
  );
  return client;
}

/**
 * Subscribes and resolves once pusher:subscription_succeeded fired; rejects on
 * pusher:subscription_error.
 */
async function subscribed(client, channelName, timeoutMs = 5000) {
  const channel = client.subscribe(channelName);
  if (channel.subscribed) return channel;
  const d = deferred();
  const ok = (data) => d.resolve(data);
  const fail = (err) => d.reject(new Error(`${client.label}: subscription_error on ${channelName}: ${safeJSON(err)}`));
  channel.bind('pusher:subscription_succeeded', ok);
  channel.bind('pusher:subscription_error', fail);
  const timer = setTimeout(
    () => d.reject(new Error(`${client.label}: no pusher:subscription_succeeded for ${channelName} within ${timeoutMs} ms`)),
    timeoutMs,
  );
  try {
    await d.promise;
  } finally {
    clearTimeout(timer);
    channel.unbind('pusher:subscription_succeeded', ok);
    channel.unbind('pusher:subscription_error', fail);
  }
  return channel;
}

/**
 * Calls client.signin() and waits for pusher:signin_success as user `id`
 * and for the #server-to-user-<id> subscription; returns the client.
 */
async function signedIn(client, id, timeoutMs = 5000) {
  client.signin();
  await waitFor(() => client.user.user_data && client.user.user_data.id === id, timeoutMs,
    `${client.label}: pusher:signin_success for ${id} (pusher.user.user_data set)`);
  await waitFor(() => client.user.serverToUserChannel && client.user.serverToUserChannel.subscribed, timeoutMs,
    `${client.label}: subscription to #server-to-user-${id} succeeded`);
  return client;
}

/** Records every (data, metadata) that reaches `eventName` on `channel`. */
function collect(channel, eventName) {
  const got = [];
  channel.bind(eventName, (data, metadata) => got.push({ data, metadata }));
  return got;
}

/** Extracts the pusher error code from a pusher-js connection `error` event. */
function errorCode(err) {
  if (!err) return undefined;
  if (err.data && err.data.code !== undefined) return err.data.code;
  if (err.error && err.error.data && err.error.data.code !== undefined) return err.error.data.code;
  return undefined;
}

// ---------------------------------------------------------------------------
// scenario wrapper: cleanup + diagnostics

/**
 * Context handed to each test body: tracks clients so they are disconnected
 * afterwards, and adds the recorded frames of every client to the failure
 * message. In a cluster scenario `s.server` is node 0 and `s.cluster` the
 * cluster; `s.client({server: node, ...})` connects to another node.
 */
class Scenario {
  constructor(server) {
    this.server = server;
    this.cluster = null;
    this.clients = [];
    this.notes = [];
  }

  /** opts as for makeClient, plus opts.server: the server (cluster node) to connect to. */
  client(opts = {}) {
    const c = makeClient(opts.server || this.server, opts);
    this.clients.push(c);
    return c;
  }

  async connectedClient(opts) {
    return connected(this.client(opts));
  }

  note(s) {
    this.notes.push(s);
  }

  dump() {
    const parts = [];
    for (const c of this.clients) {
      parts.push(`--- ${c.label} (socket_id ${c.connection.socket_id}, state ${c.connection.state}) ---`);
      parts.push(...c.frames.slice(-60));
    }
    if (this.notes.length) parts.push('--- notes ---', ...this.notes);
    return parts.join('\n');
  }

  async cleanup() {
    for (const c of this.clients) {
      try {
        c.disconnect();
      } catch {
        /* ignore */
      }
    }
    this.clients = [];
  }
}

/**
 * Runs body(s, t) and, when it fails, appends the client transcripts and
 * `extra()` (server output) to the error; always disconnects the clients.
 * `check()` runs after a successful body (e.g. "the server is still alive").
 */
async function runScenario(s, body, t, { check = () => {}, extra = () => '' } = {}) {
  try {
    await body(s, t);
    check();
  } catch (err) {
    const diag = s.dump();
    let more = '';
    try {
      more = extra();
    } catch (e) {
      more = `\n(diagnostics failed: ${e.message})`;
    }
    if (err && typeof err === 'object') {
      // Reporters print err.stack (which already holds the message), so add
      // the client transcripts there.
      const add = `\n--- client transcripts (last frames) ---\n${diag}${more}`;
      if (typeof err.stack === 'string') err.stack += add;
      else err.message = `${err.message}${add}`;
      throw err;
    }
    throw new Error(`${String(err)}\n${diag}${more}`);
  } finally {
    await s.cleanup();
  }
}

/**
 * Wraps a test body: `it(name, scenario(server, async (s) => {...}))`.
 * `getServer` is a function so the server can be created in a before() hook.
 */
function scenario(getServer, body) {
  return async (t) => {
    const server = getServer();
    if (!server) throw new Error('server was not started (see the before() hook error above)');
    const s = new Scenario(server);
    await runScenario(s, body, t, {
      check: () => server.assertAlive(),
      extra: () => (server.exited ? `\n--- herald died: ${inspect(server.exited)} ---\n${server.output.slice(-4000)}` : ''),
    });
  };
}

/**
 * Registers before/after hooks that start and stop one server for the
 * enclosing describe block, and returns a getter for it.
 */
function useServer(hooks, opts = {}) {
  let server = null;
  hooks.before(async () => {
    server = await new HeraldServer(opts).start();
  });
  hooks.after(async () => {
    if (server) await server.stop();
  });
  return () => server;
}

/** Reads a node-fetch Response from the pusher SDK as {status, body(json)}. */
async function jsonResponse(res, what) {
  const text = await res.text();
  let body;
  try {
    body = JSON.parse(text);
  } catch {
    throw new Error(`${what}: response body is not JSON (status ${res.status}): ${JSON.stringify(text)}`);
  }
  return { status: res.status, body, text };
}

/** Awaits a promise expected to reject with a pusher SDK RequestError. */
async function rejection(promise, what) {
  try {
    const res = await promise;
    let text = '';
    try {
      text = await res.text();
    } catch {
      /* ignore */
    }
    throw Object.assign(new Error(`${what}: expected the request to fail, but got status ${res.status} body ${text}`), {
      unexpectedSuccess: true,
    });
  } catch (err) {
    if (err.unexpectedSuccess) throw err;
    return err;
  }
}

// ---------------------------------------------------------------------------
// redis-server (cluster mode)

const REDIS_BIN = process.env.HERALD_REDIS_BIN || '/usr/bin/redis-server';

/**
 * Sends PING over a fresh connection (RESP spoken by hand) and resolves once
 * `+PONG` came back; rejects on any other answer, an error or timeoutMs.
 */
function redisPing(port, timeoutMs = 1000) {
  return new Promise((resolve, reject) => {
    const sock = net.connect({ host: '127.0.0.1', port });
    let buf = '';
    let settled = false;
    const done = (err) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      sock.destroy();
      if (err) reject(err);
      else resolve();
    };
    const timer = setTimeout(() => done(new Error(`no answer to PING within ${timeoutMs} ms`)), timeoutMs);
    sock.setEncoding('utf8');
    sock.on('connect', () => sock.write('*1\r\n$4\r\nPING\r\n'));
    sock.on('data', (d) => {
      buf += d;
      if (!buf.includes('\r\n')) return;
      if (buf.startsWith('+PONG\r\n')) done();
      else done(new Error(`PING answered ${JSON.stringify(buf.trim())}`));
    });
    sock.on('error', (err) => done(err));
    sock.on('close', () => done(new Error('connection closed before +PONG')));
  });
}

/**
 * Sends one command (an array of strings) to the Redis server on port and
 * resolves with its reply when it is a simple string, an integer, a bulk
 * string or nil (null); rejects on an error reply, another reply type, an
 * error or timeoutMs. For reading a key or two in tests, nothing more.
 */
function redisCommand(port, args, timeoutMs = 2000) {
  return new Promise((resolve, reject) => {
    const sock = net.connect({ host: '127.0.0.1', port });
    let buf = Buffer.alloc(0);
    let settled = false;
    const done = (err, value) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      sock.destroy();
      if (err) reject(err);
      else resolve(value);
    };
    const timer = setTimeout(() => done(new Error(`no answer to ${args[0]} within ${timeoutMs} ms`)), timeoutMs);
    sock.on('connect', () => {
      const parts = [`*${args.length}\r\n`];
      for (const a of args) parts.push(`$${Buffer.byteLength(String(a))}\r\n${a}\r\n`);
      sock.write(parts.join(''));
    });
    sock.on('data', (d) => {
      buf = Buffer.concat([buf, d]);
      const eol = buf.indexOf('\r\n');
      if (eol < 0) return;
      const head = buf.subarray(1, eol).toString('utf8');
      switch (String.fromCharCode(buf[0])) {
        case '+': return done(null, head);
        case ':': return done(null, Number(head));
        case '-': return done(new Error(`${args[0]}: ${head}`));
        case '$': {
          const n = Number(head);
          if (n < 0) return done(null, null);
          if (buf.length < eol + 2 + n + 2) return; // more to come
          return done(null, buf.subarray(eol + 2, eol + 2 + n).toString('utf8'));
        }
        default: return done(new Error(`${args[0]}: unsupported reply ${JSON.stringify(buf.toString('utf8').slice(0, 80))}`));
      }
    });
    sock.on('error', (err) => done(err));
    sock.on('close', () => done(new Error(`connection closed before the answer to ${args[0]}`)));
  });
}

/**
 * A throw-away redis-server on 127.0.0.1: no config file, no persistence
 * (`--save "" --appendonly no`), its own temp dir. stop()/kill() end the
 * process but keep the port, restart() starts an empty server on the same
 * port again, close() stops it for good and removes its files.
 */
class RedisServer {
  constructor({ name = 'redis' } = {}) {
    this.name = name;
    this.port = null;
    this.dir = null;
    this.proc = null;
    this.exited = null;
    this.output = '';
    this.runs = 0;
    this.dependents = new Set(); // clusters on this server: stopped before it closes
  }

  get url() {
    return `redis://127.0.0.1:${this.port}/0`;
  }

  get running() {
    return !!this.proc && !this.exited;
  }

  /** Starts redis-server (on `port`, the previous port, or a free one) and waits ≤ 5 s for PONG. */
  async start(port) {
    if (this.running) throw new Error(`${this.name}: already running on port ${this.port}`);
    if (!fs.existsSync(REDIS_BIN)) {
      throw new Error(`${REDIS_BIN} not found: run scripts/install-deps.sh (installs Debian's redis-server), or set HERALD_REDIS_BIN`);
    }
    this.port = port || this.port || (await freePort());
    if (!this.dir) this.dir = fs.mkdtempSync(path.join(os.tmpdir(), 'herald-redis-'));
    this.runs += 1;
    const runDir = path.join(this.dir, `run-${this.runs}`); // empty for every run: no data carried over
    fs.mkdirSync(runDir);
    const args = ['--save', '', '--appendonly', 'no', '--port', String(this.port), '--bind', '127.0.0.1', '--dir', runDir];
    this.output += `\n[harness] start #${this.runs}: ${REDIS_BIN} ${args.map((a) => (a === '' ? '""' : a)).join(' ')}\n`;
    const proc = spawn(REDIS_BIN, args, { cwd: runDir, stdio: ['ignore', 'pipe', 'pipe'] });
    this.proc = proc;
    this.exited = null;
    liveRedis.add(this);
    captureOutput(this, proc, 1_000_000);
    this.exitPromise = new Promise((resolve) => {
      proc.on('exit', (code, signal) => {
        if (this.proc === proc) {
          liveRedis.delete(this);
          this.exited = { code, signal };
        }
        resolve({ code, signal });
      });
      proc.on('error', (err) => {
        this.output += `\n[spawn error] ${err.message}\n`;
        if (this.proc === proc) this.exited = { code: null, signal: null, error: err };
        resolve(this.exited);
      });
    });

    const t0 = Date.now();
    let last = 'no answer';
    for (;;) {
      if (this.exited) {
        throw new Error(`redis-server exited during start-up (${inspect(this.exited)}) on port ${this.port}\n--- output ---\n${this.output}`);
      }
      try {
        await redisPing(this.port, 500);
        break;
      } catch (err) {
        last = err.message;
      }
      if (Date.now() - t0 > 5000) {
        await this.kill();
        throw new Error(`redis-server did not answer PING within 5 s on port ${this.port} (last: ${last})\n--- output ---\n${this.output}`);
      }
      await sleep(20);
    }
    this.startedIn = Date.now() - t0;
    return this;
  }

  /** One command's reply (see redisCommand). */
  command(args, timeoutMs) {
    return redisCommand(this.port, args, timeoutMs);
  }

  /** SIGTERM (SIGKILL after 5 s), waits for the exit. Keeps the port for restart(). */
  async stop() {
    if (!this.running) return;
    this.proc.kill('SIGTERM');
    const killer = setTimeout(() => {
      if (this.running) this.proc.kill('SIGKILL');
    }, 5000);
    await this.exitPromise;
    clearTimeout(killer);
  }

  /** SIGKILL, waits for the exit. Keeps the port for restart(). */
  async kill() {
    if (!this.running) return;
    this.proc.kill('SIGKILL');
    await this.exitPromise;
  }

  /** Stops the server if it runs, then starts an empty one on the same port. */
  async restart() {
    await this.stop();
    return this.start(this.port);
  }

  /**
   * Stops for good (the clusters started on it first, so they do not shut
   * down without their Redis): saves artifacts/<name>.log, removes the temp dir.
   */
  async close() {
    for (const c of this.dependents) await c.stop();
    this.dependents.clear();
    await this.stop();
    try {
      fs.mkdirSync(ARTIFACTS, { recursive: true });
      fs.writeFileSync(path.join(ARTIFACTS, `${this.name}.log`), this.output);
    } catch {
      /* best effort */
    }
    if (this.dir) fs.rmSync(this.dir, { recursive: true, force: true });
    this.dir = null;
  }
}

/**
 * Starts a RedisServer (see there). With opts.t (a node:test context, or the
 * `test` module for a describe block) it is closed by t.after(); otherwise the
 * caller (e.g. clusterScenario) must close() it.
 */
async function startRedis(opts = {}) {
  const { t = null, ...rest } = opts;
  const redis = new RedisServer(rest);
  if (t) t.after(() => redis.close());
  return redis.start();
}

// ---------------------------------------------------------------------------
// Herald clusters

/** The YAML added to a cluster node's config. */
function clusterConfigYAML({ url, prefix, nodeId }) {
  const lines = ['redis:', `  url: ${yamlString(url)}`, `  prefix: ${yamlString(prefix)}`];
  if (nodeId) lines.push(`node_id: ${yamlString(nodeId)}`);
  return `${lines.join('\n')}\n`;
}

/** Several HeraldServer nodes sharing one Redis (see startCluster). */
class HeraldCluster {
  constructor({ nodes, redis, prefix, name }) {
    this.nodes = nodes;
    this.redis = redis;
    this.prefix = prefix;
    this.name = name;
    this.killed = new Set();
  }

  get size() {
    return this.nodes.length;
  }

  node(i) {
    return this.nodes[i];
  }

  /** SIGKILLs node i (no graceful shutdown: its lease must expire) and waits for its exit. */
  async kill(i) {
    this.killed.add(i);
    await this.nodes[i].kill();
  }

  /** Throws if a node that was not killed on purpose died. */
  assertAlive() {
    this.nodes.forEach((n, i) => {
      if (!this.killed.has(i)) n.assertAlive();
    });
  }

  /** Tail of every node's and the Redis server's output, for failure messages. */
  diagnostics(tail = 3000) {
    const parts = [];
    for (const n of this.nodes) {
      const state = n.exited ? `exited ${inspect(n.exited)}` : 'running';
      parts.push(`\n--- ${n.name} (port ${n.port}, ${state}), output tail ---\n${n.output.slice(-tail)}`);
    }
    if (this.redis && typeof this.redis === 'object') {
      parts.push(`\n--- ${this.redis.name} (port ${this.redis.port}), output tail ---\n${this.redis.output.slice(-1500)}`);
    }
    return parts.join('');
  }

  /** Stops every node (SIGTERM, SIGKILL after graceMs), in parallel. */
  async stop(graceMs = 3000) {
    await Promise.all(this.nodes.map((n) => n.stop(graceMs)));
  }
}

/**
 * Starts `nodes` Herald processes, each on its own free port with its own data
 * dir, sharing `redis` (a RedisServer or a redis:// URL): the config of each
 * is the usual one (opts.config, default configYAML, plus opts.extraConfig)
 * plus `redis: {url, prefix}` and a distinct `node_id` (node-a, node-b, …).
 * Other opts go to HeraldServer (tls, env). Waits until every node answers
 * /ready and printed "Cluster mode:". Returns a HeraldCluster, stopped by
 * opts.t.after() when opts.t (a node:test context) is given, else the caller
 * must stop() it.
 */
async function startCluster(opts = {}) {
  const { nodes: count = 3, redis, prefix = uniq('herald-test-'), name = 'cluster', extraConfig = '', nodeIds = null, t = null,
    ...serverOpts } = opts;
  if (!redis) throw new Error('startCluster: opts.redis (a RedisServer from startRedis, or a URL) is required');
  const url = typeof redis === 'string' ? redis : redis.url;
  const nodes = [];
  for (let i = 0; i < count; i++) {
    const nodeId = (nodeIds && nodeIds[i]) || `node-${String.fromCharCode(97 + i)}`;
    const extra = [extraConfig, clusterConfigYAML({ url, prefix, nodeId })].filter(Boolean).join('\n');
    const node = new HeraldServer({ ...serverOpts, name: `${name}-${nodeId}`, extraConfig: extra });
    node.nodeId = nodeId;
    node.index = i;
    nodes.push(node);
  }
  const cluster = new HeraldCluster({ nodes, redis, prefix, name });
  if (t) t.after(() => cluster.stop());
  if (redis instanceof RedisServer) redis.dependents.add(cluster);
  try {
    const results = await Promise.allSettled(nodes.map((n) => n.start()));
    const failed = results.find((r) => r.status === 'rejected');
    if (failed) throw failed.reason;
    // A node that silently ran alone would make every cluster test meaningless.
    await Promise.all(nodes.map((n) => n.waitOutput(/Cluster mode:/, 5000)));
  } catch (err) {
    await cluster.stop(1000);
    throw err;
  }
  return cluster;
}

/**
 * Wraps a cluster test body: `it(name, clusterScenario(opts, async (s, cluster, t) => {...}))`.
 * Starts its own redis-server (s.redis) and a cluster on it
 * (startCluster(opts)), runs the body with a Scenario whose s.server is node
 * 0 (s.client({server: cluster.node(i)}) for the others), and always
 * disconnects the clients, stops the nodes and the redis-server afterwards.
 * Failures carry the client transcripts and every node's output.
 */
function clusterScenario(opts, body) {
  return async (t) => {
    const name = opts.name || 'cluster';
    const redis = await startRedis({ name: `${name}-redis` });
    let cluster = null;
    try {
      cluster = await startCluster({ ...opts, name, redis });
      const s = new Scenario(cluster.node(0));
      s.cluster = cluster;
      s.redis = redis;
      await runScenario(s, (sc, tt) => body(sc, cluster, tt), t, {
        check: () => cluster.assertAlive(),
        extra: () => cluster.diagnostics(),
      });
    } finally {
      if (cluster) await cluster.stop();
      await redis.close();
    }
  };
}

module.exports = {
  APPS,
  REPO_ROOT,
  HeraldCluster,
  HeraldServer,
  PusherJS,
  PusherSDK,
  RedisServer,
  Scenario,
  buildHerald,
  clusterConfigYAML,
  clusterScenario,
  collect,
  configYAML,
  connected,
  deferred,
  errorCode,
  freePort,
  heraldBinary,
  jsonResponse,
  makeClient,
  makeSelfSignedCert,
  redisPing,
  rejection,
  runScenario,
  safeJSON,
  scenario,
  signedIn,
  yamlString,
  sleep,
  startCluster,
  startRedis,
  subscribed,
  uniq,
  useServer,
  waitFor,
};
