'use strict';
// laravel-echo 2.5.0 (what a Laravel front end uses) on pusher-js 8.6.0, with
// the `pusher` and the `reverb` broadcasters, against Herald. Events are
// triggered with the `pusher` Node SDK, as Laravel's Pusher broadcaster does
// over the same HTTP API; channels are authorized by an `authorizer` shaped as
// in Laravel's documentation, calling the SDK's authorizeChannel (what
// /broadcasting/auth answers).
//
// laravel-echo 2.5.0 is an ES module package: require('laravel-echo') gives an
// empty object in Node 20, so it is loaded with import().

const assert = require('node:assert/strict');
const test = require('node:test');
const { describe, it } = test;
const nacl = require('tweetnacl');
const { APPS, PusherJS, deferred, safeJSON, scenario, sleep, uniq, useServer, waitFor } = require('../harness');

let Echo;
test.before(async () => {
  ({ default: Echo } = await import('laravel-echo'));
});

// A 32-byte end-to-end encryption key for the SDK (Herald never sees it).
const MASTER_KEY = Buffer.from('laravel-echo compat master key!!').toString('base64');

let echoSeq = 0;

/**
 * A connected Echo instance on app 1 (client events on).
 * opts.broadcaster 'pusher' (default) or 'reverb'
 * opts.user        presence channel_data ({user_id, user_info})
 * opts.signer      the SDK that authorizes (default: the right one)
 */
async function connectedEcho(s, opts = {}) {
  const broadcaster = opts.broadcaster || 'pusher';
  const signer = opts.signer || s.server.sdk({ encryptionMasterKeyBase64: MASTER_KEY });
  const options = {
    broadcaster,
    key: APPS.one.key,
    Pusher: PusherJS, // in a browser: window.Pusher
    wsHost: '127.0.0.1',
    wsPort: s.server.port,
    wssPort: s.server.port,
    forceTLS: false,
    enabledTransports: ['ws'],
    nacl,
    authorizer: (channel) => ({
      authorize: (socketId, callback) => {
        try {
          const data = channel.name.startsWith('presence-') ? opts.user : undefined;
          callback(null, signer.authorizeChannel(socketId, channel.name, data));
        } catch (err) {
          callback(err, null);
        }
      },
    }),
  };
  if (broadcaster === 'pusher') options.cluster = 'mt1';
  const echo = new Echo(options);
  // The pusher-js instance Echo made: the scenario disconnects it afterwards
  // and prints its state when a test fails.
  const client = echo.connector.pusher;
  client.label = `echo${++echoSeq}`;
  client.frames = [];
  client.connection.bind('state_change', ({ current }) => client.frames.push(`state ${current}`));
  s.clients.push(client);
  await waitFor(() => client.connection.state === 'connected', 10_000, `${client.label} connected`);
  assert.match(echo.socketId(), /^\d+\.\d+$/, 'Echo.socketId()');
  return echo;
}

/** Resolves when Echo's channel reports subscribed(). */
function subscribedEcho(channel, what) {
  const d = deferred();
  channel.subscribed(() => d.resolve());
  channel.error((status) => d.reject(new Error(`${what}: subscription error ${safeJSON(status)}`)));
  return d.promise;
}

for (const broadcaster of ['pusher', 'reverb']) {
  describe(`laravel-echo 2.5.0, broadcaster ${broadcaster}`, () => {
    const server = useServer(test, { name: `laravel-echo-${broadcaster}` });

    it('Echo.channel().listen() receives events triggered by the SDK', scenario(server, async (s) => {
      const echo = await connectedEcho(s, { broadcaster });
      const name = uniq('orders-');
      const dotted = [];
      const namespaced = [];
      const ch = echo.channel(name)
        .listen('.OrderShipped', (e) => dotted.push(e))
        .listen('OrderShipped', (e) => namespaced.push(e)); // App\Events\OrderShipped
      await subscribedEcho(ch, name);

      const sdk = s.server.sdk();
      await sdk.trigger(name, 'OrderShipped', { order: { id: 1 } });
      // Laravel's broadcaster sends the event class name, backslashes and all.
      await sdk.trigger(name, 'App\\Events\\OrderShipped', { order: { id: 2 } });
      await waitFor(() => dotted.length === 1 && namespaced.length === 1, 3000, 'both events');
      assert.deepEqual(dotted[0], { order: { id: 1 } });
      assert.deepEqual(namespaced[0], { order: { id: 2 } });

      // Excluding the sender's socket (Laravel's ->toOthers(), X-Socket-ID).
      await sdk.trigger(name, 'OrderShipped', { order: { id: 3 } }, { socket_id: echo.socketId() });
      await sdk.trigger(name, 'OrderShipped', { order: { id: 4 } });
      await waitFor(() => dotted.length === 2, 3000, 'the event after the excluded one');
      assert.deepEqual(dotted[1], { order: { id: 4 } }, 'toOthers(): the excluded socket got nothing');
    }));

    it('Echo.private() with an authorizer, listen() and notification()', scenario(server, async (s) => {
      const echo = await connectedEcho(s, { broadcaster });
      const name = `orders.${uniq('')}`;
      const got = [];
      const notes = [];
      const ch = echo.private(name)
        .listen('.OrderStatus', (e) => got.push(e))
        .notification((n) => notes.push(n));
      await subscribedEcho(ch, `private-${name}`);

      const sdk = s.server.sdk();
      await sdk.trigger(`private-${name}`, 'OrderStatus', { status: 'packed' });
      await sdk.trigger(`private-${name}`, 'Illuminate\\Notifications\\Events\\BroadcastNotificationCreated',
        { id: 'n-1', type: 'App\\Notifications\\Shipped', title: 'Shipped' });
      await waitFor(() => got.length === 1 && notes.length === 1, 3000, 'private event and notification');
      assert.deepEqual(got[0], { status: 'packed' });
      assert.equal(notes[0].id, 'n-1');
    }));

    it('Echo.encryptedPrivate(): the SDK encrypts, pusher-js decrypts', scenario(server, async (s) => {
      const echo = await connectedEcho(s, { broadcaster });
      const name = `secret.${uniq('')}`;
      const got = [];
      const ch = echo.encryptedPrivate(name).listen('.Secret', (e) => got.push(e));
      await subscribedEcho(ch, `private-encrypted-${name}`);
      await s.server.sdk({ encryptionMasterKeyBase64: MASTER_KEY }).trigger(`private-encrypted-${name}`, 'Secret', { code: 42 });
      await waitFor(() => got.length === 1, 3000, 'decrypted event');
      assert.deepEqual(got[0], { code: 42 });
    }));

    it('Echo.join(): here, joining, leaving', scenario(server, async (s) => {
      const name = `room.${uniq('')}`;
      const ada = await connectedEcho(s, { broadcaster, user: { user_id: '1', user_info: { id: 1, name: 'Ada' } } });
      const bob = await connectedEcho(s, { broadcaster, user: { user_id: '2', user_info: { id: 2, name: 'Bob' } } });

      const adaHere = deferred();
      const joining = [];
      const leaving = [];
      ada.join(name)
        .here((members) => adaHere.resolve(members))
        .joining((m) => joining.push(m))
        .leaving((m) => leaving.push(m));
      assert.deepEqual(await adaHere.promise, [{ id: 1, name: 'Ada' }], 'here() for the first member');

      const bobHere = deferred();
      bob.join(name).here((members) => bobHere.resolve(members));
      const members = await bobHere.promise;
      assert.deepEqual(members.map((m) => m.name).sort(), ['Ada', 'Bob'], 'here() lists both members');
      await waitFor(() => joining.length === 1, 3000, 'joining()');
      assert.deepEqual(joining[0], { id: 2, name: 'Bob' });

      bob.leave(name);
      await waitFor(() => leaving.length === 1, 3000, 'leaving()');
      assert.deepEqual(leaving[0], { id: 2, name: 'Bob' });
    }));

    it('whisper() reaches listenForWhisper() on private and presence channels', scenario(server, async (s) => {
      const a = await connectedEcho(s, { broadcaster, user: { user_id: 'a', user_info: { name: 'A' } } });
      const b = await connectedEcho(s, { broadcaster, user: { user_id: 'b', user_info: { name: 'B' } } });
      for (const [kind, join] of [
        ['private', (echo, n) => echo.private(n)],
        ['presence', (echo, n) => echo.join(n)],
      ]) {
        const name = `chat.${uniq('')}`;
        const atA = [];
        const atB = [];
        const chA = join(a, name).listenForWhisper('typing', (e) => atA.push(e));
        const chB = join(b, name).listenForWhisper('typing', (e) => atB.push(e));
        await Promise.all([subscribedEcho(chA, `${kind} ${name} (a)`), subscribedEcho(chB, `${kind} ${name} (b)`)]);
        chA.whisper('typing', { name: 'A', typing: true });
        await waitFor(() => atB.length === 1, 3000, `${kind}: whisper at the other client`);
        assert.deepEqual(atB[0], { name: 'A', typing: true });
        await sleep(200);
        assert.equal(atA.length, 0, `${kind}: a whisper is not echoed to its sender`);
      }
    }));

    it('.error() is called when Herald refuses a private channel', scenario(server, async (s) => {
      const echo = await connectedEcho(s, { broadcaster, signer: s.server.sdk({ secret: 'not-the-secret' }) });
      const name = `orders.${uniq('')}`;
      const d = deferred();
      echo.private(name)
        .subscribed(() => d.reject(new Error('subscription unexpectedly succeeded')))
        .error((status) => d.resolve(status));
      const timer = setTimeout(() => d.reject(new Error('no .error() within 3 s')), 3000);
      let status;
      try {
        status = await d.promise;
      } finally {
        clearTimeout(timer);
      }
      assert.ok(status && typeof status === 'object', `.error() payload: ${safeJSON(status)}`);
      await sleep(100);
      assert.equal(echo.connector.pusher.connection.state, 'connected', 'the connection stays open');

      // The connection still works.
      const got = [];
      const ch = echo.channel(uniq('after-')).listen('.Ping', (e) => got.push(e));
      await subscribedEcho(ch, 'public channel after the refusal');
      await s.server.sdk().trigger(ch.name, 'Ping', {});
      await waitFor(() => got.length === 1, 3000, 'event after the refusal');
    }));
  });
}
