'use strict';
// Child process for tests/tls.test.js. Run with NODE_EXTRA_CA_CERTS=<self-signed cert>
// so that both pusher-js (faye-websocket) and the pusher SDK (node-fetch) trust
// the test server. Input: env HERALD_TLS_CHILD = {"port":N,"channel":"…","appId","key","secret"}.
// Output: one JSON line per step on stdout; exit code 0 on success.

const PusherJS = require('pusher-js');
const PusherSDK = require('pusher');

const cfg = JSON.parse(process.env.HERALD_TLS_CHILD || '{}');
const out = (obj) => process.stdout.write(`${JSON.stringify(obj)}\n`);
const frames = [];

function fail(msg) {
  out({ step: 'error', error: msg, frames });
  process.exit(1);
}

setTimeout(() => fail('tls child timed out after 20 s'), 20_000).unref();

const sdk = new PusherSDK({
  appId: cfg.appId,
  key: cfg.key,
  secret: cfg.secret,
  host: '127.0.0.1',
  port: String(cfg.port),
  useTLS: true,
  timeout: 5000,
});

const client = new PusherJS(cfg.key, {
  cluster: 'mt1',
  wsHost: '127.0.0.1',
  wsPort: cfg.port,
  wssPort: cfg.port,
  forceTLS: true,
  // With forceTLS pusher-js connects through its "ws" transport using wss://;
  // the separate "wss" transport is only the fallback used when TLS is not forced.
  enabledTransports: ['ws', 'wss'],
  channelAuthorization: {
    customHandler: ({ socketId, channelName }, cb) => cb(null, sdk.authorizeChannel(socketId, channelName)),
  },
});
client.connection.bind('state_change', ({ previous, current }) => frames.push(`state ${previous} -> ${current}`));
client.connection.bind('message', (m) => frames.push(`S->C ${JSON.stringify(m)}`));
client.connection.bind('error', (e) => frames.push(`error ${JSON.stringify(e)}`));

function waitEvent(channel, name) {
  return new Promise((resolve) => channel.bind(name, (data) => resolve(data)));
}

(async () => {
  await new Promise((resolve) => {
    if (client.connection.state === 'connected') resolve();
    client.connection.bind('connected', resolve);
  });
  out({ step: 'connected', socket_id: client.connection.socket_id, usingTLS: client.connection.usingTLS });

  const channels = [cfg.channel, `private-${cfg.channel}`];
  for (const name of channels) {
    const ch = client.subscribe(name);
    await new Promise((resolve, reject) => {
      ch.bind('pusher:subscription_succeeded', resolve);
      ch.bind('pusher:subscription_error', (e) => reject(new Error(`subscription_error on ${name}: ${JSON.stringify(e)}`)));
    });
    out({ step: 'subscribed', channel: name });
    const arrived = waitEvent(ch, 'tls-event');
    let res;
    try {
      res = await sdk.trigger(name, 'tls-event', { over: 'tls', channel: name });
    } catch (err) {
      fail(`SDK trigger over https failed: ${err.message} status=${err.status} cause=${err.error && err.error.message} body=${err.body}`);
    }
    out({ step: 'triggered', channel: name, status: res.status });
    const data = await arrived;
    out({ step: 'received', channel: name, data });
  }
  client.disconnect();
  out({ step: 'done' });
  process.exit(0);
})().catch((err) => fail(err.message));
