'use strict';
// Authorization failures: bad channel signatures and bad REST credentials.

const assert = require('node:assert/strict');
const test = require('node:test');
const { describe, it } = test;
const { APPS, collect, deferred, rejection, safeJSON, scenario, sleep, subscribed, uniq, useServer, waitFor } = require('../harness');

/** Subscribes and resolves with the pusher:subscription_error payload (rejects on success). */
async function subscriptionError(client, name, timeoutMs = 3000) {
  const ch = client.subscribe(name);
  const d = deferred();
  ch.bind('pusher:subscription_error', (err) => d.resolve(err));
  ch.bind('pusher:subscription_succeeded', () => d.reject(new Error(`${name}: subscription unexpectedly succeeded`)));
  const timer = setTimeout(() => d.reject(new Error(`${name}: no pusher:subscription_error within ${timeoutMs} ms`)), timeoutMs);
  try {
    return { channel: ch, error: await d.promise };
  } finally {
    clearTimeout(timer);
  }
}

describe('authorization failures', () => {
  const server = useServer(test, { name: 'auth-failures' });

  it('private subscribe signed with the wrong secret → pusher:subscription_error', scenario(server, async (s) => {
    const wrong = s.server.sdk({ secret: 'not-the-secret' });
    const c = await s.connectedClient({ signer: wrong });
    const name = uniq('private-bad-');
    const { channel, error } = await subscriptionError(c, name);
    assert.ok(error && typeof error === 'object', `subscription_error payload: ${safeJSON(error)}`);
    assert.equal(channel.subscribed, false, 'channel must not be subscribed');
    await sleep(200);
    assert.equal(c.connection.state, 'connected', 'a bad signature must not close the connection');

    // The connection is still usable afterwards.
    const ok = await subscribed(c, uniq('public-after-'));
    assert.equal(ok.subscribed, true, 'a public subscription on the same connection still works');
  }));

  it('a signature minted for another socket_id is refused', scenario(server, async (s) => {
    const c = await s.connectedClient({
      authHook: ({ channelName, signer }) => signer.authorizeChannel('1234.5678', channelName),
    });
    const { error } = await subscriptionError(c, uniq('private-other-socket-'));
    assert.ok(error, 'subscription_error');
    assert.equal(c.connection.state, 'connected');
  }));

  it('a presence subscribe with tampered channel_data is refused', scenario(server, async (s) => {
    const c = await s.connectedClient({
      authHook: ({ socketId, channelName, signer }) => {
        const auth = signer.authorizeChannel(socketId, channelName, { user_id: 'me', user_info: { role: 'user' } });
        return { ...auth, channel_data: JSON.stringify({ user_id: 'me', user_info: { role: 'admin' } }) };
      },
    });
    const { error } = await subscriptionError(c, uniq('presence-tamper-'));
    assert.ok(error, 'subscription_error');
  }));

  it('a private subscribe with the key part of auth from another app is refused', scenario(server, async (s) => {
    const c = await s.connectedClient({
      authHook: ({ socketId, channelName, signer }) => {
        const { auth } = signer.authorizeChannel(socketId, channelName);
        return { auth: `app-key-2:${auth.split(':')[1]}` };
      },
    });
    const { error } = await subscriptionError(c, uniq('private-wrongkey-'));
    assert.ok(error, 'subscription_error');
  }));

  it('a private subscribe with an empty auth is refused and nothing is delivered', scenario(server, async (s) => {
    const c = await s.connectedClient({ authHook: () => ({ auth: '' }) });
    const name = uniq('private-empty-');
    const { channel } = await subscriptionError(c, name);
    const got = collect(channel, 'ev');
    await s.server.sdk().trigger(name, 'ev', { leaked: true });
    await sleep(300);
    assert.equal(got.length, 0, 'no events on a channel whose subscription was refused');
  }));

  it('SDK with a wrong secret: trigger rejects with status 401', scenario(server, async (s) => {
    const err = await rejection(s.server.sdk({ secret: 'wrong-secret' }).trigger(uniq('x-'), 'ev', { a: 1 }), 'trigger with wrong secret');
    assert.equal(err.status, 401, `RequestError.status (message ${err.message}, body ${err.body})`);
  }));

  it('SDK with a wrong key: trigger rejects with status 401', scenario(server, async (s) => {
    const err = await rejection(s.server.sdk({ key: 'nope-key' }).trigger(uniq('x-'), 'ev', { a: 1 }), 'trigger with wrong key');
    assert.equal(err.status, 401, `RequestError.status (message ${err.message}, body ${err.body})`);
  }));

  it("SDK with app 2's credentials against app 1's id: 401", scenario(server, async (s) => {
    const err = await rejection(
      s.server.sdk({ appId: APPS.one.id, key: APPS.two.key, secret: APPS.two.secret }).trigger(uniq('x-'), 'ev', {}),
      'cross-app credentials',
    );
    assert.equal(err.status, 401, `RequestError.status (body ${err.body})`);
  }));

  it('SDK with a wrong app id: trigger rejects with status 404', scenario(server, async (s) => {
    const err = await rejection(s.server.sdk({ appId: '999' }).trigger(uniq('x-'), 'ev', { a: 1 }), 'trigger with unknown app id');
    assert.equal(err.status, 404, `RequestError.status (message ${err.message}, body ${err.body})`);
  }));

  it('SDK GET with a wrong secret: 401', scenario(server, async (s) => {
    const err = await rejection(s.server.sdk({ secret: 'wrong' }).get({ path: '/channels' }), 'GET with wrong secret');
    assert.equal(err.status, 401, `RequestError.status (body ${err.body})`);
  }));
});
