'use strict';
// TLS: Herald serving wss:// and https:// with a self-signed certificate.
// The clients run in a child process started with NODE_EXTRA_CA_CERTS so that
// only that process trusts the test certificate.

const assert = require('node:assert/strict');
const { spawn } = require('node:child_process');
const path = require('node:path');
const test = require('node:test');
const { describe, it } = test;
const { APPS, jsonResponse, scenario, uniq, useServer } = require('../harness');

function runChild(env, timeoutMs = 25_000) {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [path.join(__dirname, '..', 'tls-child.js')], {
      env: { ...process.env, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c) => (stdout += c));
    child.stderr.on('data', (c) => (stderr += c));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('exit', (code, signal) => {
      clearTimeout(timer);
      const steps = stdout
        .split('\n')
        .filter(Boolean)
        .map((l) => {
          try {
            return JSON.parse(l);
          } catch {
            return { raw: l };
          }
        });
      resolve({ code, signal, steps, stdout, stderr });
    });
  });
}

describe('TLS', () => {
  const server = useServer(test, { name: 'tls', tls: true });

  it('serves /ready over https', scenario(server, async (s) => {
    const res = await s.server.rawRequest('GET', '/ready');
    assert.equal(res.status, 200);
  }));

  it('pusher-js over wss:// receives an event triggered by the SDK over https://', scenario(server, async (s) => {
    const channel = uniq('tls-');
    const r = await runChild({
      NODE_EXTRA_CA_CERTS: s.server.tls.certFile,
      HERALD_TLS_CHILD: JSON.stringify({ port: s.server.port, channel, appId: APPS.one.id, key: APPS.one.key, secret: APPS.one.secret }),
    });
    const report = `exit=${r.code} signal=${r.signal}\nstdout:\n${r.stdout}\nstderr:\n${r.stderr}`;
    assert.equal(r.code, 0, `child failed:\n${report}`);
    const connectedStep = r.steps.find((x) => x.step === 'connected');
    assert.ok(connectedStep, `connected step missing:\n${report}`);
    assert.match(connectedStep.socket_id, /^\d+\.\d+$/);
    assert.equal(connectedStep.usingTLS, true, 'pusher-js used TLS');
    const received = r.steps.filter((x) => x.step === 'received');
    assert.deepEqual(
      received.map((x) => x.data),
      [{ over: 'tls', channel }, { over: 'tls', channel: `private-${channel}` }],
      `events received over wss:\n${report}`,
    );
  }));

  it('the SDK in this process (https agent trusting the cert) gets 200 + JSON', scenario(server, async (s) => {
    const res = await s.server.sdk().get({ path: '/channels' });
    const { status, body } = await jsonResponse(res, 'GET /channels over https');
    assert.equal(status, 200);
    assert.ok(body.channels && typeof body.channels === 'object');
  }));
});
