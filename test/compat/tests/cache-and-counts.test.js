'use strict';
// Cache channels (pusher:cache_miss / last event on subscribe) and
// pusher:subscription_count (app 3 opts in).

const assert = require('node:assert/strict');
const test = require('node:test');
const { describe, it } = test;
const { APPS, collect, jsonResponse, scenario, sleep, subscribed, uniq, useServer, waitFor } = require('../harness');

describe('cache channels and subscription counts', () => {
  const server = useServer(test, { name: 'cache-and-counts' });

  it('cache channel without a cached event → pusher:cache_miss', scenario(server, async (s) => {
    const c = await s.connectedClient();
    const name = uniq('cache-empty-');
    const ch = c.subscribe(name);
    const misses = collect(ch, 'pusher:cache_miss');
    await subscribed(c, name);
    await waitFor(() => misses.length === 1, 3000, 'pusher:cache_miss after subscription_succeeded');
  }));

  it('cache channel: a new subscriber gets the last event right away', scenario(server, async (s) => {
    const name = uniq('cache-prices-');
    const sdk = s.server.sdk();
    await sdk.trigger(name, 'price', { v: 1 });
    await sdk.trigger(name, 'price', { v: 2 });
    const c = await s.connectedClient();
    const ch = c.subscribe(name);
    const got = collect(ch, 'price');
    const misses = collect(ch, 'pusher:cache_miss');
    await subscribed(c, name);
    await waitFor(() => got.length === 1, 3000, 'the cached event after subscribing');
    assert.deepEqual(got[0].data, { v: 2 }, 'the last published event is cached');
    assert.equal(misses.length, 0, 'no cache_miss when something is cached');

    const { status, body } = await jsonResponse(await sdk.get({ path: `/channels/${name}`, params: { info: 'cache' } }), 'GET info=cache');
    assert.equal(status, 200);
    assert.ok(body.cache && typeof body.cache === 'object', `cache attribute: ${JSON.stringify(body)}`);
    assert.deepEqual(JSON.parse(body.cache.data), { v: 2 }, 'cache.data is the event data string');
    assert.ok(body.cache.ttl > 0 && body.cache.ttl <= 1800, `cache.ttl in seconds: ${body.cache.ttl}`);
  }));

  it('private-cache channel works with authorization', scenario(server, async (s) => {
    const name = uniq('private-cache-');
    await s.server.sdk().trigger(name, 'state', { s: 'x' });
    const c = await s.connectedClient();
    const ch = c.subscribe(name);
    const got = collect(ch, 'state');
    await subscribed(c, name);
    await waitFor(() => got.length === 1, 3000, 'cached event on a private-cache channel');
    assert.deepEqual(got[0].data, { s: 'x' });
  }));

  it('a channel merely containing "cache-" is not a cache channel', scenario(server, async (s) => {
    const name = uniq('not-cache-');
    await s.server.sdk().trigger(name, 'ev', { old: true });
    const c = await s.connectedClient();
    const ch = c.subscribe(name);
    const got = collect(ch, 'ev');
    const misses = collect(ch, 'pusher:cache_miss');
    await subscribed(c, name);
    await sleep(300);
    assert.equal(got.length, 0, 'no replay on a normal channel');
    assert.equal(misses.length, 0, 'no cache_miss on a normal channel');
  }));

  it('subscription_count (app with the option on) reaches pusher-js', scenario(server, async (s) => {
    const name = uniq('counted-');
    const a = await s.connectedClient({ app: APPS.three });
    const cha = await subscribed(a, name);
    const b = await s.connectedClient({ app: APPS.three });
    const chb = await subscribed(b, name);
    await waitFor(() => cha.subscriptionCount === 2 && chb.subscriptionCount === 2, 3000,
      `channel.subscriptionCount 2 on both (a=${cha.subscriptionCount}, b=${chb.subscriptionCount})`);
    b.unsubscribe(name);
    await waitFor(() => cha.subscriptionCount === 1, 3000, `subscriptionCount back to 1 (now ${cha.subscriptionCount})`);
  }));

  it('no subscription_count for an app without the option', scenario(server, async (s) => {
    const name = uniq('uncounted-');
    const a = await s.connectedClient();
    const cha = await subscribed(a, name);
    const counts = collect(cha, 'pusher:subscription_count');
    const b = await s.connectedClient();
    await subscribed(b, name);
    await sleep(300);
    assert.equal(counts.length, 0, 'subscription_count is opt-in per app');
  }));
});
