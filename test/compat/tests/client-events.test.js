'use strict';
// Client events (channel.trigger('client-…')) relayed between pusher-js clients.

const assert = require('node:assert/strict');
const crypto = require('node:crypto');
const test = require('node:test');
const { describe, it } = test;
const { APPS, collect, errorCode, scenario, sleep, subscribed, uniq, useServer, waitFor, safeJSON } = require('../harness');

describe('client events', () => {
  const server = useServer(test, { name: 'client-events' });

  it('private channel: reaches the other subscriber, not the sender', scenario(server, async (s) => {
    const name = uniq('private-chat-');
    const a = await s.connectedClient();
    const b = await s.connectedClient();
    const cha = await subscribed(a, name);
    const chb = await subscribed(b, name);
    const ga = collect(cha, 'client-hello');
    const gb = collect(chb, 'client-hello');
    const ok = cha.trigger('client-hello', { msg: 'hi', n: 1 });
    assert.equal(ok, true, 'pusher-js accepted the client event');
    await waitFor(() => gb.length === 1, 3000, 'client event at the other subscriber');
    assert.deepEqual(gb[0].data, { msg: 'hi', n: 1 }, 'client event data');
    assert.equal(gb[0].metadata.user_id, undefined, 'no user_id on a private channel');
    await sleep(300);
    assert.equal(ga.length, 0, 'client events must not be echoed to the sender');
    assert.equal(a.errors.length, 0, `sender got no error: ${safeJSON(a.errors)}`);
  }));

  it('presence channel: handler metadata carries the sender user_id', scenario(server, async (s) => {
    const name = uniq('presence-room-');
    const a = await s.connectedClient({ user: { user_id: 'sender-1', user_info: { name: 'S' } } });
    const b = await s.connectedClient({ user: { user_id: 'receiver-2', user_info: { name: 'R' } } });
    const cha = await subscribed(a, name);
    const chb = await subscribed(b, name);
    const gb = collect(chb, 'client-typing');
    const ga = collect(cha, 'client-typing');
    cha.trigger('client-typing', { typing: true });
    await waitFor(() => gb.length === 1, 3000, 'client event on the presence channel');
    assert.deepEqual(gb[0].data, { typing: true });
    assert.equal(gb[0].metadata.user_id, 'sender-1', `metadata.user_id must be the sender's presence id, metadata=${safeJSON(gb[0].metadata)}`);
    await sleep(300);
    assert.equal(ga.length, 0, 'not echoed on presence either');
  }));

  it('client event with a string payload', scenario(server, async (s) => {
    const name = uniq('private-str-');
    const a = await s.connectedClient();
    const b = await s.connectedClient();
    const cha = await subscribed(a, name);
    const gb = collect(await subscribed(b, name), 'client-s');
    cha.trigger('client-s', 'just a string');
    await waitFor(() => gb.length === 1, 3000, 'string client event');
    assert.equal(gb[0].data, 'just a string');
  }));

  it('app with client messages disabled: not relayed, sender gets an error', scenario(server, async (s) => {
    const name = uniq('private-nope-');
    const a = await s.connectedClient({ app: APPS.two });
    const b = await s.connectedClient({ app: APPS.two });
    const cha = await subscribed(a, name);
    const gb = collect(await subscribed(b, name), 'client-x');
    cha.trigger('client-x', { should: 'not arrive' });
    await waitFor(() => a.errors.length > 0, 3000, 'an error event on the sender connection');
    await sleep(500);
    assert.equal(gb.length, 0, `the other client must not receive a client event when the app disables them, got ${safeJSON(gb)}`);
    assert.equal(a.connection.state, 'connected', 'the sender stays connected after the rejection');
  }));

  it('client event on a public channel is not relayed', scenario(server, async (s) => {
    const name = uniq('public-ce-');
    const a = await s.connectedClient();
    const b = await s.connectedClient();
    const cha = await subscribed(a, name);
    const gb = collect(await subscribed(b, name), 'client-x');
    cha.trigger('client-x', { nope: true });
    await waitFor(() => a.errors.length > 0, 3000, 'a pusher:error on the sender: the server handled the frame');
    await sleep(500);
    assert.equal(gb.length, 0, 'client events are only for private and presence channels');
    assert.equal(a.connection.state, 'connected', 'the sender stays connected');
  }));

  it('client event from a non-subscriber is not relayed', scenario(server, async (s) => {
    const name = uniq('private-ns-');
    const a = await s.connectedClient();
    const b = await s.connectedClient();
    const gb = collect(await subscribed(b, name), 'client-x');
    // Send a raw client event for a channel `a` never subscribed to.
    a.send_event('client-x', { sneaky: true }, name);
    await waitFor(() => a.errors.length > 0, 3000, 'a pusher:error on the sender: the server handled the frame');
    await sleep(500);
    assert.equal(gb.length, 0, 'a connection that is not subscribed must not be able to inject client events');
    assert.equal(a.connection.state, 'connected');
  }));
  it('client event on an encrypted channel is refused, not relayed', scenario(server, async (s) => {
    const name = uniq('private-encrypted-ce-');
    const sdk = s.server.sdk({ encryptionMasterKeyBase64: crypto.randomBytes(32).toString('base64') });
    const a = await s.connectedClient({ signer: sdk });
    const b = await s.connectedClient({ signer: sdk });
    const cha = await subscribed(a, name);
    const gb = collect(await subscribed(b, name), 'client-x');
    assert.throws(() => cha.trigger('client-x', { a: 1 }), /encrypted/i, 'pusher-js itself refuses client events on encrypted channels');
    // A hand-written client could still send one (it would be plaintext): the server must not relay it.
    a.send_event('client-x', { plaintext: true }, name);
    await waitFor(() => a.errors.length > 0, 3000, 'a pusher:error on the sender: the server handled the frame');
    await sleep(500);
    assert.equal(gb.length, 0, 'client events on private-encrypted- channels must not be relayed');
    assert.equal(a.connection.state, 'connected');
  }));
  it('rate limit: over 10 client events per second → pusher:error 4301, connection kept', scenario(server, async (s) => {
    const name = uniq('private-rate-');
    const a = await s.connectedClient();
    const b = await s.connectedClient();
    const cha = await subscribed(a, name);
    const gb = collect(await subscribed(b, name), 'client-burst');
    for (let i = 0; i < 25; i++) cha.trigger('client-burst', { i });
    await waitFor(() => a.errors.some((e) => errorCode(e) === 4301), 3000, 'pusher:error with code 4301 at the sender');
    await sleep(500);
    assert.ok(gb.length >= 1, 'events within the limit are relayed');
    assert.ok(gb.length < 25, `a burst of 25 must not be relayed in full (got ${gb.length})`);
    assert.equal(a.connection.state, 'connected', 'the rate limit does not close the connection');
  }));
});
