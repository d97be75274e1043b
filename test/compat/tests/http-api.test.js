'use strict';
// The REST API as driven by the `pusher` Node SDK 5.x.

const assert = require('node:assert/strict');
const test = require('node:test');
const { describe, it } = test;
const { APPS, collect, jsonResponse, rejection, scenario, subscribed, uniq, useServer, waitFor } = require('../harness');

/** Sets up a public channel with 2 subscribers and a presence channel with 2 users on 3 connections. */
async function populate(s, app = APPS.one) {
  const pub = uniq('api-pub-');
  const pres = uniq('presence-api-');
  const a = await s.connectedClient({ app, user: { user_id: 'u1', user_info: { n: 1 } } });
  const b = await s.connectedClient({ app, user: { user_id: 'u2', user_info: { n: 2 } } });
  const c = await s.connectedClient({ app, user: { user_id: 'u2', user_info: { n: 2 } } });
  const gPub = [collect(await subscribed(a, pub), 'ev'), collect(await subscribed(b, pub), 'ev')];
  const gPres = [
    collect(await subscribed(a, pres), 'ev'),
    collect(await subscribed(b, pres), 'ev'),
    collect(await subscribed(c, pres), 'ev'),
  ];
  return { pub, pres, gPub, gPres };
}

describe('HTTP API with the pusher SDK', () => {
  const server = useServer(test, { name: 'http-api' });

  it('trigger to several channels with info returns counts', scenario(server, async (s) => {
    const { pub, pres, gPub, gPres } = await populate(s);
    const res = await s.server.sdk().trigger([pub, pres], 'ev', { hi: 1 }, { info: 'subscription_count,user_count' });
    const { status, body } = await jsonResponse(res, 'trigger with info');
    assert.equal(status, 200, 'status');
    assert.equal(typeof body.channels, 'object', `body.channels must be an object: ${JSON.stringify(body)}`);
    assert.ok(body.channels && !Array.isArray(body.channels), 'channels is an object, not an array');
    assert.equal(body.channels[pub] && body.channels[pub].subscription_count, 2, `public subscription_count in ${JSON.stringify(body)}`);
    assert.equal(body.channels[pub].user_count, undefined, 'no user_count for a public channel');
    assert.equal(body.channels[pres] && body.channels[pres].user_count, 2, `presence user_count in ${JSON.stringify(body)}`);
    assert.equal(body.channels[pres].subscription_count, 3, `presence subscription_count in ${JSON.stringify(body)}`);
    await waitFor(() => gPub.every((g) => g.length === 1) && gPres.every((g) => g.length === 1), 3000, 'delivery to all 5 subscriptions');
  }));

  it('trigger without info returns 200 and an empty object', scenario(server, async (s) => {
    const res = await s.server.sdk().trigger(uniq('nobody-'), 'ev', { x: 1 });
    const { status, body } = await jsonResponse(res, 'trigger');
    assert.equal(status, 200);
    assert.deepEqual(body, {}, 'fire-and-forget trigger answers {}');
  }));

  it('triggerBatch without info: 200 {} and every event delivered', scenario(server, async (s) => {
    const { pub, pres, gPub, gPres } = await populate(s);
    const res = await s.server.sdk().triggerBatch([
      { channel: pub, name: 'ev', data: { n: 1 } },
      { channel: pres, name: 'ev', data: 'two' },
    ]);
    const { status, body } = await jsonResponse(res, 'triggerBatch');
    assert.equal(status, 200);
    assert.deepEqual(body, {}, 'batch without info answers {}');
    await waitFor(() => gPub[0].length === 1 && gPres[2].length === 1, 3000, 'batch delivery');
    assert.deepEqual(gPub[0][0].data, { n: 1 });
    assert.equal(gPres[2][0].data, 'two');
  }));

  it('triggerBatch with info: batch is an array in request order', scenario(server, async (s) => {
    const { pub, pres } = await populate(s);
    const res = await s.server.sdk().triggerBatch([
      { channel: pub, name: 'ev', data: { n: 1 }, info: 'subscription_count' },
      { channel: pres, name: 'ev', data: { n: 2 }, info: 'user_count,subscription_count' },
      { channel: pub, name: 'ev', data: { n: 3 } },
    ]);
    const { status, body } = await jsonResponse(res, 'triggerBatch with info');
    assert.equal(status, 200);
    assert.ok(Array.isArray(body.batch), `body.batch must be an array: ${JSON.stringify(body)}`);
    assert.equal(body.batch.length, 3, 'one entry per item');
    assert.equal(body.batch[0].subscription_count, 2, `item 0: ${JSON.stringify(body.batch[0])}`);
    assert.equal(body.batch[1].user_count, 2, `item 1: ${JSON.stringify(body.batch[1])}`);
    assert.equal(body.batch[1].subscription_count, 3, `item 1: ${JSON.stringify(body.batch[1])}`);
    assert.deepEqual(body.batch[2], {}, 'item without info is {}');
  }));

  it('GET /channels lists occupied channels', scenario(server, async (s) => {
    const { pub, pres } = await populate(s);
    const res = await s.server.sdk().get({ path: '/channels' });
    const { status, body } = await jsonResponse(res, 'GET /channels');
    assert.equal(status, 200);
    assert.ok(body.channels && typeof body.channels === 'object' && !Array.isArray(body.channels), `channels object: ${JSON.stringify(body)}`);
    assert.ok(pub in body.channels, `${pub} listed in ${JSON.stringify(body)}`);
    assert.ok(pres in body.channels, `${pres} listed`);
    assert.deepEqual(body.channels[pub], {}, 'no attributes without info');
    assert.ok(!Object.keys(body.channels).some((k) => k.startsWith('#')), 'internal # channels are not listed');
  }));

  it('GET /channels?filter_by_prefix=presence-&info=user_count', scenario(server, async (s) => {
    const { pub, pres } = await populate(s);
    const res = await s.server.sdk().get({ path: '/channels', params: { filter_by_prefix: 'presence-', info: 'user_count' } });
    const { status, body } = await jsonResponse(res, 'GET /channels filtered');
    assert.equal(status, 200);
    assert.ok(body.channels && !Array.isArray(body.channels), `channels object: ${JSON.stringify(body)}`);
    assert.deepEqual(body.channels[pres], { user_count: 2 }, `presence channel entry in ${JSON.stringify(body)}`);
    assert.ok(!(pub in body.channels), 'public channel filtered out');
    for (const k of Object.keys(body.channels)) assert.ok(k.startsWith('presence-'), `${k} does not match the prefix`);
  }));

  it('GET /channels with a prefix matching nothing returns {"channels":{}}', scenario(server, async (s) => {
    const res = await s.server.sdk().get({ path: '/channels', params: { filter_by_prefix: uniq('nothing-here-') } });
    const { status, body, text } = await jsonResponse(res, 'GET /channels empty');
    assert.equal(status, 200);
    assert.deepEqual(body, { channels: {} }, `an empty listing must be an object, got ${text}`);
  }));

  it('GET /channels?info=user_count without a presence prefix is 400', scenario(server, async (s) => {
    const err = await rejection(s.server.sdk().get({ path: '/channels', params: { info: 'user_count' } }), 'GET /channels?info=user_count');
    assert.equal(err.status, 400, `status (body: ${err.body})`);
  }));

  it('GET /channels/<name>?info=subscription_count', scenario(server, async (s) => {
    // app 3 has enable_subscription_count, without which (as on hosted Pusher) it is not answered
    const { pub, pres } = await populate(s, APPS.three);
    const sdk = s.server.sdk({ app: APPS.three });
    let { status, body } = await jsonResponse(await sdk.get({ path: `/channels/${pub}`, params: { info: 'subscription_count' } }), 'GET channel');
    assert.equal(status, 200);
    assert.equal(body.occupied, true, `occupied in ${JSON.stringify(body)}`);
    assert.equal(body.subscription_count, 2, `subscription_count in ${JSON.stringify(body)}`);

    ({ status, body } = await jsonResponse(await sdk.get({ path: `/channels/${pres}`, params: { info: 'user_count,subscription_count' } }), 'GET presence channel'));
    assert.equal(status, 200);
    assert.equal(body.occupied, true);
    assert.equal(body.user_count, 2, `user_count in ${JSON.stringify(body)}`);
    assert.equal(body.subscription_count, 3, `subscription_count in ${JSON.stringify(body)}`);

    ({ status, body } = await jsonResponse(await sdk.get({ path: `/channels/${uniq('empty-')}` }), 'GET unoccupied channel'));
    assert.equal(status, 200);
    assert.equal(body.occupied, false, `unoccupied channel: ${JSON.stringify(body)}`);

    // app 1 has not the option: the attribute is left out, the rest answered
    const one = await populate(s);
    ({ status, body } = await jsonResponse(await s.server.sdk().get({ path: `/channels/${one.pres}`, params: { info: 'user_count,subscription_count' } }), 'GET channel, option off'));
    assert.equal(status, 200);
    assert.deepEqual(body, { occupied: true, user_count: 2 }, 'no subscription_count without enable_subscription_count');
  }));

  it('GET /channels/<public>?info=user_count is 400', scenario(server, async (s) => {
    const err = await rejection(s.server.sdk().get({ path: `/channels/${uniq('pub-')}`, params: { info: 'user_count' } }), 'user_count on a public channel');
    assert.equal(err.status, 400, `status (body: ${err.body})`);
  }));

  it('GET /channels/presence-x/users', scenario(server, async (s) => {
    const { pres } = await populate(s);
    const sdk = s.server.sdk();
    const { status, body } = await jsonResponse(await sdk.get({ path: `/channels/${pres}/users` }), 'GET users');
    assert.equal(status, 200);
    assert.ok(Array.isArray(body.users), `users array: ${JSON.stringify(body)}`);
    assert.deepEqual(body.users.map((u) => u.id).sort(), ['u1', 'u2'], 'distinct user ids');
    for (const u of body.users) assert.equal(typeof u.id, 'string');

    const empty = await jsonResponse(await sdk.get({ path: `/channels/${uniq('presence-empty-')}/users` }), 'GET users of an empty channel');
    assert.equal(empty.status, 200);
    assert.deepEqual(empty.body, { users: [] }, 'empty presence channel → {"users":[]}');
  }));

  it('GET /channels/<public>/users is 400', scenario(server, async (s) => {
    const err = await rejection(s.server.sdk().get({ path: `/channels/${uniq('pub-')}/users` }), 'users of a public channel');
    assert.equal(err.status, 400, `status (body: ${err.body})`);
  }));

  it('event data over 10 KB is rejected with 413', scenario(server, async (s) => {
    const err = await rejection(s.server.sdk().trigger(uniq('big-'), 'ev', 'x'.repeat(10 * 1024 + 1)), 'oversized trigger');
    assert.equal(err.status, 413, `status (body: ${err.body})`);
    const ok = await s.server.sdk().trigger(uniq('big-'), 'ev', 'x'.repeat(10 * 1024 - 10));
    assert.equal(ok.status, 200, 'data just under 10 KB is accepted');
  }));

  it('a batch of more than 10 events is rejected with 400', scenario(server, async (s) => {
    const batch = Array.from({ length: 11 }, (_, i) => ({ channel: 'b', name: 'ev', data: { i } }));
    const err = await rejection(s.server.sdk().triggerBatch(batch), 'batch of 11');
    assert.equal(err.status, 400, `status (body: ${err.body})`);
  }));
});
