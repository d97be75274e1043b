'use strict';
// Builds and starts Herald (examples/chat/herald.yaml on a free port, with a
// random secret) and the examples/chat backend (free port), and stops them.

const { spawn, spawnSync } = require('node:child_process');
const crypto = require('node:crypto');
const fs = require('node:fs');
const net = require('node:net');
const os = require('node:os');
const path = require('node:path');

const REPO_ROOT = path.resolve(__dirname, '..', '..');
const CHAT_DIR = path.join(REPO_ROOT, 'examples', 'chat');
const ARTIFACTS = path.join(__dirname, 'artifacts');

// Debian's Chromium (never a downloaded browser) and its flags for every
// browser test.
const CHROMIUM = process.env.CHROMIUM_PATH || '/usr/bin/chromium';
const CHROMIUM_ARGS = [
  '--no-sandbox', // runs as root in CI
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--no-first-run',
  '--disable-gpu',
  '--disable-quic',
];

function sleep(ms) {
  return new Promise((resolve) => setTimeout(resolve, ms));
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

// goBuild builds pkg in the module at cwd (the repository root by default;
// examples/chat is a module of its own).
function goBuild(pkg, out, cwd = REPO_ROOT) {
  const res = spawnSync('go', ['build', '-o', out, pkg], {
    cwd,
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  if (res.error || res.status !== 0) {
    throw new Error(`go build ${pkg} failed (exit ${res.status}): ${res.error ? res.error.message : ''}\n${res.stdout}${res.stderr}`);
  }
  return out;
}

// Processes still running when this process exits (a crash, a forced exit)
// are killed, so nothing outlives the test run.
const live = new Set();
function killLive() {
  for (const p of live) {
    try {
      p.proc.kill('SIGKILL');
    } catch {
      /* already gone */
    }
  }
}
process.on('exit', killLive);
// node --test stops a file that timed out with a signal, which skips the
// 'exit' handlers: kill the servers on the way out then too.
for (const sig of ['SIGTERM', 'SIGINT', 'SIGHUP']) {
  process.on(sig, () => {
    killLive();
    process.exit(128 + (sig === 'SIGHUP' ? 1 : sig === 'SIGINT' ? 2 : 15));
  });
}

class Proc {
  constructor(name, bin, args, opts) {
    this.name = name;
    this.output = '';
    this.exited = null;
    this.proc = spawn(bin, args, { ...opts, stdio: ['ignore', 'pipe', 'pipe'] });
    live.add(this);
    const onData = (chunk) => {
      this.output += chunk.toString();
      if (this.output.length > 2_000_000) this.output = this.output.slice(-1_000_000);
      if (process.env.BROWSER_TEST_LOG === '1') process.stderr.write(`[${name}] ${chunk}`);
    };
    this.proc.stdout.on('data', onData);
    this.proc.stderr.on('data', onData);
    this.exitPromise = new Promise((resolve) => {
      this.proc.on('exit', (code, signal) => {
        live.delete(this);
        this.exited = { code, signal };
        resolve(this.exited);
      });
      this.proc.on('error', (err) => {
        live.delete(this);
        this.output += `\n[spawn error] ${err.message}\n`;
        this.exited = { error: err.message };
        resolve(this.exited);
      });
    });
  }

  /** Polls url until it answers 200 (bounded); throws with the output otherwise. */
  async waitReady(url, timeoutMs = 20_000) {
    const deadline = Date.now() + timeoutMs;
    let last = 'no answer';
    for (;;) {
      if (this.exited) {
        throw new Error(`${this.name} exited during start-up (${JSON.stringify(this.exited)})\n--- output ---\n${this.output}`);
      }
      try {
        const res = await fetch(url, { signal: AbortSignal.timeout(2000) });
        await res.arrayBuffer();
        if (res.status === 200) return;
        last = `status ${res.status}`;
      } catch (err) {
        last = err.message;
      }
      if (Date.now() > deadline) {
        throw new Error(`${this.name} did not answer 200 on ${url} within ${timeoutMs} ms (last: ${last})\n--- output ---\n${this.output}`);
      }
      await sleep(100);
    }
  }

  async stop() {
    if (!this.exited) {
      this.proc.kill('SIGTERM');
      const killer = setTimeout(() => {
        if (!this.exited) this.proc.kill('SIGKILL');
      }, 5000);
      await this.exitPromise;
      clearTimeout(killer);
    }
    fs.mkdirSync(ARTIFACTS, { recursive: true });
    fs.writeFileSync(path.join(ARTIFACTS, `${this.name}.log`), this.output);
  }
}

/**
 * Builds both binaries and starts Herald and the chat app. Returns
 * {heraldPort, chatURL, secret, stop()}; stop() is safe to call more than
 * once and after a failed start.
 */
async function startServers() {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'herald-browser-'));
  const procs = [];
  const stop = async () => {
    await Promise.all(procs.map((p) => p.stop()));
    fs.rmSync(dir, { recursive: true, force: true });
  };
  try {
    const heraldBin = goBuild('./cmd/herald', path.join(dir, 'herald'));
    const chatBin = goBuild('.', path.join(dir, 'chat'), CHAT_DIR);

    // The example's config, on a free port and with a secret only this run
    // knows (so finding it in the browser would be a real leak).
    const heraldPort = await freePort();
    const secret = `s3cret-${crypto.randomBytes(12).toString('hex')}`;
    const orig = fs.readFileSync(path.join(CHAT_DIR, 'herald.yaml'), 'utf8');
    const config = orig.replace(/^port: \d+$/m, `port: ${heraldPort}`).replace(/^(\s+secret:) app-secret$/m, `$1 ${secret}`);
    if (!config.includes(`port: ${heraldPort}`) || !config.includes(secret) || !/enable_client_messages: true/.test(config)) {
      throw new Error(`examples/chat/herald.yaml has an unexpected shape:\n${orig}`);
    }
    const configFile = path.join(dir, 'herald.yaml');
    fs.writeFileSync(configFile, config);
    const herald = new Proc('herald', heraldBin, ['serve', '--config', configFile, '--data-dir', path.join(dir, 'data'), '--admin-listen', 'off'], { cwd: dir });
    procs.push(herald);
    await herald.waitReady(`http://127.0.0.1:${heraldPort}/ready`);

    const chatPort = await freePort();
    const chatURL = `http://127.0.0.1:${chatPort}`;
    const chat = new Proc(
      'chat',
      chatBin,
      ['-addr', `127.0.0.1:${chatPort}`, '-herald-url', `http://app-key:${secret}@127.0.0.1:${heraldPort}/apps/app-id`],
      { cwd: CHAT_DIR, env: { ...process.env, HERALD_URL: '' } },
    );
    procs.push(chat);
    await chat.waitReady(`${chatURL}/static/pusher.min.js`);
    return { heraldPort, chatURL, secret, procs, stop };
  } catch (err) {
    await stop();
    throw err;
  }
}

module.exports = { startServers, ARTIFACTS, REPO_ROOT, CHROMIUM, CHROMIUM_ARGS, Proc, goBuild, freePort, sleep };
