'use strict';
// User authentication (pusher.signin()), server-to-user messages, watchlists,
// terminate_connections and presence joined as the signed-in user.

const assert = require('node:assert/strict');
const test = require('node:test');
const { describe, it } = test;
const { collect, errorCode, safeJSON, scenario, sleep, subscribed, uniq, useServer, waitFor } = require('../harness');

async function signedIn(client, id) {
  client.signin();
  await waitFor(() => client.user.user_data && client.user.user_data.id === id, 3000,
    `${client.label}: pusher:signin_success for ${id} (pusher.user.user_data set)`);
  await waitFor(() => client.user.serverToUserChannel && client.user.serverToUserChannel.subscribed, 3000,
    `${client.label}: subscription to #server-to-user-${id} succeeded`);
  return client;
}

describe('users', () => {
  const server = useServer(test, { name: 'users' });

  it('signin succeeds and pusher.user.user_data is the signed user_data', scenario(server, async (s) => {
    const id = uniq('user-');
    const c = await s.connectedClient({ userData: { id, user_info: { name: 'Ada' } } });
    await signedIn(c, id);
    assert.deepEqual(c.user.user_data, { id, user_info: { name: 'Ada' } });
    assert.equal(c.errors.length, 0, `no errors: ${safeJSON(c.errors)}`);
  }));

  it('signin with a bad signature → pusher:error 4009', scenario(server, async (s) => {
    const c = await s.connectedClient({ signer: s.server.sdk({ secret: 'wrong' }), userData: { id: 'bad-user' } });
    c.signin();
    await waitFor(() => c.errors.some((e) => errorCode(e) === 4009), 3000, 'an error with code 4009');
    assert.equal(c.user.user_data, null, 'not signed in');
  }));

  it('sendToUser delivers to every connection of the signed-in user, and only to them', scenario(server, async (s) => {
    const id = uniq('user-');
    const tab1 = await signedIn(await s.connectedClient({ userData: { id } }), id);
    const tab2 = await signedIn(await s.connectedClient({ userData: { id } }), id);
    const other = await signedIn(await s.connectedClient({ userData: { id: `${id}-other` } }), `${id}-other`);
    const got = [[], [], []];
    [tab1, tab2, other].forEach((c, i) => c.user.bind('my-event', (data) => got[i].push(data)));
    const res = await s.server.sdk().sendToUser(id, 'my-event', { hello: 'user' });
    assert.equal(res.status, 200);
    await waitFor(() => got[0].length === 1 && got[1].length === 1, 3000, 'delivery to both connections of the user');
    assert.deepEqual(got[0][0], { hello: 'user' });
    await sleep(300);
    assert.equal(got[2].length, 0, 'another user must not receive it');
  }));

  it("a connection cannot subscribe to another user's #server-to-user- channel", scenario(server, async (s) => {
    const victim = uniq('victim-');
    const v = await signedIn(await s.connectedClient({ userData: { id: victim } }), victim);
    const vgot = [];
    v.user.bind('secret', (d) => vgot.push(d));
    const attacker = await s.connectedClient({ userData: { id: uniq('attacker-') } });
    const seen = [];
    attacker.bind_global((event, data) => seen.push({ event, data }));
    attacker.send_event('pusher:subscribe', { auth: '', channel: `#server-to-user-${victim}` });
    await waitFor(() => attacker.frames.some((f) => f.includes('S->C') && f.includes('pusher:subscription_error') && f.includes(`#server-to-user-${victim}`)),
      3000, `pusher:subscription_error for #server-to-user-${victim}`);
    await s.server.sdk().sendToUser(victim, 'secret', { s: 1 });
    await waitFor(() => vgot.length === 1, 3000, 'the victim receives its message');
    await sleep(300);
    assert.ok(!seen.some((e) => e.event === 'secret'), `the attacker must not receive the victim's messages: ${safeJSON(seen)}`);
    assert.ok(!attacker.frames.some((f) => f.includes('subscription_succeeded') && f.includes('#server-to-user-')),
      'no subscription_succeeded for a foreign user channel');
  }));

  it('presence without channel_data uses the signed-in user', scenario(server, async (s) => {
    const name = uniq('presence-signed-');
    const other = await s.connectedClient({ user: { user_id: 'other', user_info: { n: 0 } } });
    const cho = await subscribed(other, name);
    const added = collect(cho, 'pusher:member_added');

    const id = uniq('user-');
    const c = await s.connectedClient({ user: null, userData: { id, user_info: { name: 'Signed' } } });
    await signedIn(c, id);
    const ch = await subscribed(c, name);
    assert.deepEqual(ch.members.me, { id, info: { name: 'Signed' } }, 'members.me from the sign-in');
    assert.equal(ch.members.count, 2);
    await waitFor(() => added.length === 1, 3000, 'member_added at the other member');
    assert.deepEqual(added[0].data, { id, info: { name: 'Signed' } }, 'member_added carries the signed-in user');
  }));

  it('presence without channel_data and without sign-in is refused', scenario(server, async (s) => {
    const c = await s.connectedClient();
    // pusher-js would wait for a sign-in that never comes; send the frame it
    // would then send (2-part signature, no channel_data) by hand.
    const name = uniq('presence-nosignin-');
    const { auth } = s.server.sdk().authorizeChannel(c.connection.socket_id, name);
    c.send_event('pusher:subscribe', { auth, channel: name });
    await waitFor(() => c.frames.some((f) => f.includes('S->C') && f.includes('pusher:subscription_error') && f.includes(name)), 3000,
      `pusher:subscription_error for ${name}`);
    assert.ok(!c.frames.some((f) => f.includes('subscription_succeeded') && f.includes(name)),
      'a presence subscription without channel_data needs a signed-in connection');
  }));

  it('watchlist: online/offline events for watched users', scenario(server, async (s) => {
    const target = uniq('target-');
    const watcherId = uniq('watcher-');
    const w = await s.connectedClient({ userData: { id: watcherId, watchlist: [target] } });
    const online = [];
    const offline = [];
    w.user.watchlist.bind('online', (e) => online.push(e));
    w.user.watchlist.bind('offline', (e) => offline.push(e));
    await signedIn(w, watcherId);

    const t = await s.connectedClient({ userData: { id: target } });
    await signedIn(t, target);
    await waitFor(() => online.some((e) => (e.user_ids || []).includes(target)), 3000, `online event for ${target}`);
    t.disconnect();
    await waitFor(() => offline.some((e) => (e.user_ids || []).includes(target)), 5000, `offline event for ${target}`);
  }));

  it('terminateUserConnections disconnects the signed-in user without reconnect', scenario(server, async (s) => {
    const id = uniq('user-term-');
    const c = await signedIn(await s.connectedClient({ userData: { id } }), id);
    const other = await signedIn(await s.connectedClient({ userData: { id: `${id}-stays` } }), `${id}-stays`);
    const res = await s.server.sdk().terminateUserConnections(id);
    assert.equal(res.status, 200);
    await waitFor(() => c.connection.state === 'disconnected', 3000, `terminated client disconnected (states: ${c.states.join(',')})`);
    const connectingBefore = c.states.filter((st) => st === 'connecting').length;
    await sleep(1500);
    assert.equal(c.states.filter((st) => st === 'connecting').length, connectingBefore, 'no automatic reconnect after termination');
    assert.equal(other.connection.state, 'connected', 'another user is unaffected');
  }));
});
