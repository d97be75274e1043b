'use strict';
// Client events (channel.trigger('client-…')) relayed between pusher-js clients.

const assert = require('node:assert/strict');
const test = require('node:test');
const { describe, it } = test;
const { APPS, collect, scenario, sleep, subscribed, uniq, useServer, waitFor, safeJSON } = require('../harness');

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
    await sleep(500);
    assert.equal(gb.length, 0, 'a connection that is not subscribed must not be able to inject client events');
    assert.equal(a.connection.state, 'connected');
  }));
});
