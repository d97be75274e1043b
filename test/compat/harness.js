'use strict';
// Test harness for the compatibility suite: builds Herald, starts it with a
// generated config on a free loopback port, and creates pusher-js clients and
// `pusher` SDK instances pointed at it.
//
// Environment:
//   HERALD_BIN        use this binary instead of building one (run.js sets it,
//                     so the server is built once per `npm test`)
//   HERALD_COMPAT_LOG set to 1 to echo server output live

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
 * is returned. Throws `message` (or a generic one) after timeoutMs.
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
      const what = message || `condition ${fn.toString().slice(0, 120)}`;
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

// Servers still running when this process exits (a crash, a forced exit) are
// killed so no herald outlives the test run.
const liveServers = new Set();
process.on('exit', () => {
  for (const srv of liveServers) {
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
   */
  constructor({ tls = false, name = 'herald', config = null, env = null } = {}) {
    this.wantTLS = tls;
    this.name = name;
    this.makeConfig = config;
    this.extraEnv = env;
    this.output = '';
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
    fs.writeFileSync(this.configFile, makeConfig({ port: this.port, tls: this.tls, dataDir: this.dataDir }));

    // No admin listener: its default address is fixed (127.0.0.1:9601), and tests use free ports only.
    const args = ['serve', '--config', this.configFile, '--data-dir', this.dataDir, '--admin-listen', 'off'];
    this.proc = spawn(bin, args, {
      cwd: this.dir,
      stdio: ['ignore', 'pipe', 'pipe'],
      env: this.extraEnv ? { ...process.env, ...this.extraEnv } : process.env,
    });
    liveServers.add(this);
    const onData = (chunk) => {
      const s = chunk.toString();
      this.output += s;
      if (this.output.length > 2_000_000) this.output = this.output.slice(-1_000_000);
      if (process.env.HERALD_COMPAT_LOG === '1') process.stderr.write(`[${this.name}] ${s}`);
    };
    this.proc.stdout.on('data', onData);
    this.proc.stderr.on('data', onData);
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

  async stop() {
    if (!this.proc) return;
    this.stopping = true;
    if (!this.exited) {
      this.proc.kill('SIGTERM');
      const killer = setTimeout(() => {
        if (!this.exited) this.proc.kill('SIGKILL');
      }, 5000);
      await this.exitPromise;
      clearTimeout(killer);
    }
    this.saveLog();
    if (this.dir) fs.rmSync(this.dir, { recursive: true, force: true });
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
 * message.
 */
class Scenario {
  constructor(server) {
    this.server = server;
    this.clients = [];
    this.notes = [];
  }

  client(opts) {
    const c = makeClient(this.server, opts);
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
 * Wraps a test body: `it(name, scenario(server, async (s) => {...}))`.
 * `getServer` is a function so the server can be created in a before() hook.
 */
function scenario(getServer, body) {
  return async (t) => {
    const server = getServer();
    if (!server) throw new Error('server was not started (see the before() hook error above)');
    const s = new Scenario(server);
    try {
      await body(s, t);
      server.assertAlive();
    } catch (err) {
      const diag = s.dump();
      const alive = server.exited ? `\n--- herald died: ${inspect(server.exited)} ---\n${server.output.slice(-4000)}` : '';
      if (err && typeof err === 'object') {
        // Reporters print err.stack (which already holds the message), so add
        // the client transcripts there.
        const extra = `\n--- client transcripts (last frames) ---\n${diag}${alive}`;
        if (typeof err.stack === 'string') err.stack += extra;
        else err.message = `${err.message}${extra}`;
        throw err;
      }
      throw new Error(`${String(err)}\n${diag}${alive}`);
    } finally {
      await s.cleanup();
    }
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

module.exports = {
  APPS,
  REPO_ROOT,
  HeraldServer,
  PusherJS,
  PusherSDK,
  Scenario,
  buildHerald,
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
  rejection,
  safeJSON,
  scenario,
  yamlString,
  sleep,
  subscribed,
  uniq,
  useServer,
  waitFor,
};
