'use strict';
// Subscriptions and delivery of events published with the `pusher` Node SDK.

const assert = require('node:assert/strict');
const crypto = require('node:crypto');
const test = require('node:test');
const { describe, it } = test;
const { collect, scenario, sleep, subscribed, uniq, useServer, waitFor } = require('../harness');

describe('channels', () => {
  const server = useServer(test, { name: 'channels' });

  it('public channel: subscribe, then SDK trigger delivers object and string data', scenario(server, async (s) => {
    const c = await s.connectedClient();
    const name = uniq('public-');
    const ch = await subscribed(c, name);
    assert.equal(ch.subscribed, true, 'channel.subscribed after subscription_succeeded');
    const got = collect(ch, 'my-event');

    const sdk = s.server.sdk();
    const res = await sdk.trigger(name, 'my-event', { message: 'hello', n: 1, nested: { ok: true } });
    assert.equal(res.status, 200, 'trigger status');
    await waitFor(() => got.length >= 1, 3000, 'object event delivery');
    assert.deepEqual(got[0].data, { message: 'hello', n: 1, nested: { ok: true } }, 'object data arrives as the same object');

    await sdk.trigger(name, 'my-event', 'plain text');
    await waitFor(() => got.length >= 2, 3000, 'string event delivery');
    assert.equal(got[1].data, 'plain text', 'a plain (non-JSON) string arrives unchanged');

    await sdk.trigger(name, 'my-event', '{"already":"json"}');
    await waitFor(() => got.length >= 3, 3000, 'JSON-string event delivery');
    assert.deepEqual(got[2].data, { already: 'json' }, 'a JSON string from the SDK is forwarded verbatim (pusher-js parses it)');

    await sdk.trigger(name, 'my-event', 'ünïcödé ✓ "quoted" \\ back');
    await waitFor(() => got.length >= 4, 3000, 'unicode event delivery');
    assert.equal(got[3].data, 'ünïcödé ✓ "quoted" \\ back', 'unicode/escaped string data survives');
    assert.equal(got.length, 4, 'each trigger delivered exactly once');
  }));

  it('public channel: several subscribers all receive; unsubscribed ones do not', scenario(server, async (s) => {
    const name = uniq('fanout-');
    const a = await s.connectedClient();
    const b = await s.connectedClient();
    const c = await s.connectedClient();
    const ga = collect(await subscribed(a, name), 'ev');
    const gb = collect(await subscribed(b, name), 'ev');
    const chc = await subscribed(c, name);
    const gc = collect(chc, 'ev');
    c.unsubscribe(name);
    await sleep(200); // let the unsubscribe frame reach the server
    await s.server.sdk().trigger(name, 'ev', { x: 1 });
    await waitFor(() => ga.length === 1 && gb.length === 1, 3000, 'both subscribers receive the event');
    await sleep(300);
    assert.equal(gc.length, 0, 'an unsubscribed client must not receive the event');
  }));

  it('private channel: SDK authorizeChannel signature accepted, trigger delivered', scenario(server, async (s) => {
    const c = await s.connectedClient();
    const name = uniq('private-');
    const ch = await subscribed(c, name);
    const got = collect(ch, 'secret');
    await s.server.sdk().trigger(name, 'secret', { a: [1, 2, 3] });
    await waitFor(() => got.length === 1, 3000, 'private event delivery');
    assert.deepEqual(got[0].data, { a: [1, 2, 3] });
  }));

  it('presence: members, member_added and member_removed between two users', scenario(server, async (s) => {
    const name = uniq('presence-');
    const a = await s.connectedClient({ user: { user_id: 'alice', user_info: { name: 'Alice' } } });
    const cha = await subscribed(a, name);
    assert.equal(cha.members.count, 1, 'first member sees count 1');
    assert.deepEqual(cha.members.me, { id: 'alice', info: { name: 'Alice' } }, 'members.me of the first member');
    const added = collect(cha, 'pusher:member_added');
    const removed = collect(cha, 'pusher:member_removed');

    const b = await s.connectedClient({ user: { user_id: 'bob', user_info: { name: 'Bob' } } });
    const chb = await subscribed(b, name);
    assert.equal(chb.members.count, 2, 'second member sees count 2');
    assert.deepEqual(chb.members.me, { id: 'bob', info: { name: 'Bob' } }, 'members.me of the second member');
    const seen = {};
    chb.members.each((m) => {
      seen[m.id] = m.info;
    });
    assert.deepEqual(seen, { alice: { name: 'Alice' }, bob: { name: 'Bob' } }, 'members.each lists both users with their info');

    await waitFor(() => added.length === 1, 3000, 'pusher:member_added at the first member');
    assert.deepEqual(added[0].data, { id: 'bob', info: { name: 'Bob' } }, 'member_added payload');
    assert.equal(cha.members.count, 2, 'count after member_added');

    b.unsubscribe(name);
    await waitFor(() => removed.length === 1, 3000, 'pusher:member_removed after unsubscribe');
    assert.deepEqual(removed[0].data, { id: 'bob', info: { name: 'Bob' } }, 'member_removed payload (info from the stored member)');
    assert.equal(cha.members.count, 1, 'count after member_removed');

    // Disconnect (not unsubscribe) also removes the member.
    const b2 = await s.connectedClient({ user: { user_id: 'bob', user_info: { name: 'Bob' } } });
    await subscribed(b2, name);
    await waitFor(() => added.length === 2, 3000, 'member_added on re-join');
    b2.disconnect();
    await waitFor(() => removed.length === 2, 3000, 'member_removed after the member disconnected');
    assert.equal(cha.members.count, 1, 'count after the disconnect');
  }));

  it('presence: the same user on two connections counts once', scenario(server, async (s) => {
    const name = uniq('presence-');
    const watcher = await s.connectedClient({ user: { user_id: 'w', user_info: { name: 'Watcher' } } });
    const chw = await subscribed(watcher, name);
    const added = collect(chw, 'pusher:member_added');
    const removed = collect(chw, 'pusher:member_removed');

    const tab1 = await s.connectedClient({ user: { user_id: 'same', user_info: { name: 'Same' } } });
    await subscribed(tab1, name);
    await waitFor(() => added.length === 1, 3000, 'member_added for the first tab');
    const tab2 = await s.connectedClient({ user: { user_id: 'same', user_info: { name: 'Same' } } });
    const ch2 = await subscribed(tab2, name);
    assert.equal(ch2.members.count, 2, 'second tab sees 2 distinct users (w, same)');
    await sleep(300);
    assert.equal(added.length, 1, 'no second member_added for the same user id');
    assert.equal(chw.members.count, 2, 'watcher still counts 2');

    const res = await s.server.sdk().get({ path: `/channels/${name}/users` });
    const body = await res.json();
    assert.deepEqual(body.users.map((u) => u.id).sort(), ['same', 'w'], 'users endpoint lists each user once');

    tab1.disconnect();
    await sleep(300);
    assert.equal(removed.length, 0, 'no member_removed while another connection of the user remains');
    tab2.disconnect();
    await waitFor(() => removed.length === 1, 3000, 'member_removed once the last connection left');
    assert.equal(removed[0].data.id, 'same');
  }));

  it('presence: numeric user_id from the SDK ({user_id: 10})', scenario(server, async (s) => {
    const name = uniq('presence-');
    const other = await s.connectedClient({ user: { user_id: 'other', user_info: { name: 'Other' } } });
    const cho = await subscribed(other, name);
    const added = collect(cho, 'pusher:member_added');

    const num = await s.connectedClient({ user: { user_id: 10, user_info: { name: 'Ten' } } });
    const chn = await subscribed(num, name);
    assert.equal(chn.members.count, 2, 'count with a numeric user id');
    assert.equal(String(chn.members.me.id), '10', 'members.me.id');
    assert.deepEqual(chn.members.me.info, { name: 'Ten' }, 'members.me.info is found under the stringified id');
    await waitFor(() => added.length === 1, 3000, 'member_added for the numeric id');
    assert.equal(added[0].data.id, '10', 'member_added carries the user id as the string "10"');
    assert.deepEqual(added[0].data.info, { name: 'Ten' });

    const res = await s.server.sdk().get({ path: `/channels/${name}/users` });
    const body = await res.json();
    assert.deepEqual(body.users.map((u) => u.id).sort(), ['10', 'other'], 'users endpoint returns ids as strings');
  }));

  it('presence: member without user_info', scenario(server, async (s) => {
    const name = uniq('presence-');
    const a = await s.connectedClient({ user: { user_id: 'noinfo' } });
    const cha = await subscribed(a, name);
    assert.equal(cha.members.count, 1);
    const b = await s.connectedClient({ user: { user_id: 'b', user_info: { n: 1 } } });
    const chb = await subscribed(b, name);
    const ids = [];
    chb.members.each((m) => ids.push(m.id));
    assert.deepEqual(ids.sort(), ['b', 'noinfo'], 'a member without user_info is still listed (hash must have its key)');
  }));

  it('encrypted channel: SDK-encrypted trigger arrives decrypted', scenario(server, async (s) => {
    const masterKey = crypto.randomBytes(32).toString('base64');
    const sdk = s.server.sdk({ encryptionMasterKeyBase64: masterKey });
    const c = await s.connectedClient({ signer: sdk });
    const name = uniq('private-encrypted-');
    const ch = await subscribed(c, name);
    const got = collect(ch, 'secret-event');
    await sdk.trigger(name, 'secret-event', { message: 'top secret', n: 42 });
    await waitFor(() => got.length === 1, 3000, 'encrypted event delivery');
    assert.deepEqual(got[0].data, { message: 'top secret', n: 42 }, 'pusher-js decrypted the payload');
  }));

  it('socket_id exclusion: trigger with {socket_id} skips that client only', scenario(server, async (s) => {
    const name = uniq('excl-');
    const a = await s.connectedClient();
    const b = await s.connectedClient();
    const ga = collect(await subscribed(a, name), 'ev');
    const gb = collect(await subscribed(b, name), 'ev');
    const res = await s.server.sdk().trigger(name, 'ev', { n: 1 }, { socket_id: a.connection.socket_id });
    assert.equal(res.status, 200);
    await waitFor(() => gb.length === 1, 3000, 'the other client receives the event');
    await sleep(300);
    assert.equal(ga.length, 0, 'the excluded socket must not receive the event');

    // An exclusion id that matches nobody excludes nobody.
    await s.server.sdk().trigger(name, 'ev', { n: 2 }, { socket_id: '1.1' });
    await waitFor(() => ga.length === 1 && gb.length === 2, 3000, 'an unknown socket_id excludes nobody');
  }));

  it('Laravel-style event name App\\Events\\OrderShipped is delivered', scenario(server, async (s) => {
    const c = await s.connectedClient();
    const name = uniq('orders-');
    const ch = await subscribed(c, name);
    const eventName = 'App\\Events\\OrderShipped';
    const got = collect(ch, eventName);
    const res = await s.server.sdk().trigger(name, eventName, { order: { id: 7 } });
    assert.equal(res.status, 200);
    await waitFor(() => got.length === 1, 3000, `delivery of ${eventName}`);
    assert.deepEqual(got[0].data, { order: { id: 7 } });
  }));

  it('multi-channel trigger reaches each channel once', scenario(server, async (s) => {
    const c = await s.connectedClient();
    const n1 = uniq('multi-a-');
    const n2 = uniq('private-multi-b-');
    const g1 = collect(await subscribed(c, n1), 'ev');
    const g2 = collect(await subscribed(c, n2), 'ev');
    await s.server.sdk().trigger([n1, n2], 'ev', { both: true });
    await waitFor(() => g1.length === 1 && g2.length === 1, 3000, 'one delivery per channel');
    await sleep(200);
    assert.equal(g1.length + g2.length, 2, 'no duplicates');
  }));

  it('events are delivered in publish order', scenario(server, async (s) => {
    const c = await s.connectedClient();
    const name = uniq('order-');
    const got = collect(await subscribed(c, name), 'seq');
    const sdk = s.server.sdk();
    for (let i = 0; i < 20; i++) {
      await sdk.trigger(name, 'seq', { i });
    }
    await waitFor(() => got.length === 20, 5000, '20 events');
    assert.deepEqual(got.map((g) => g.data.i), [...Array(20).keys()], 'order preserved');
  }));
});
