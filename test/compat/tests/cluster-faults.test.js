'use strict';
// Cluster mode, faults: a node or Redis failing under three Herald nodes
// sharing one Redis (see cluster.test.js for the setup): the webhook lease
// holder and a node SIGKILLed, a Redis outage with an empty restart, a
// member leaving during the outage, a bad redis.url. Measured times are
// printed (console.log).

const assert = require('node:assert/strict');
const { isDeepStrictEqual } = require('node:util');
const { describe, it } = require('node:test');
const {
  HeraldServer,
  clusterConfigYAML,
  collect,
  safeJSON,
  signedIn,
  sleep,
  subscribed,
  uniq,
  waitFor,
} = require('../harness');
const {
  WAIT_MS,
  QUIET_MS,
  LEAVE_DELAY_MS,
  NODE_DEATH_BOUND_MS,
  OUTAGE_MS,
  RECOVERY_BOUND_MS,
  WH,
  clusterConfig,
  onNode,
  ids,
  joinPresence,
  count,
  apiGet,
  triggerStatus,
  stayedConnected,
  withReceiver,
} = require('../cluster-common');

describe('cluster mode, faults (3 nodes, one Redis)', () => {
  it('cluster: the node delivering an app\'s webhooks is SIGKILLed with webhooks still queued — another node delivers them once', withReceiver('whdeath', async (s, receiver, t, cluster) => {
    const app = WH;
    const pres = uniq('presence-cl-whd-');
    const pub = uniq('cl-whd-');
    // One node at a time holds an app's webhook lease and delivers its queue.
    const leaseKey = `${cluster.prefix}:{${app.id}}:whlease`;
    let holder = null;
    await waitFor(async () => (holder = await s.redis.command(['GET', leaseKey])) !== null, WAIT_MS, `a node holding ${leaseKey}`);
    const idx = cluster.nodes.findIndex((n) => n.nodeId === holder);
    assert.ok(idx >= 0, `lease holder ${holder} is one of the nodes`);
    const others = [0, 1, 2].filter((i) => i !== idx);

    receiver.failing = true; // nothing gets through: the holder keeps it all queued and retries
    const a = await onNode(s, others[0], { app, label: `u1@n${others[0]}`, user: { user_id: 'u1' } });
    const b = await onNode(s, others[1], { app, label: `u2@n${others[1]}`, user: { user_id: 'u2' } });
    await subscribed(a, pub, WAIT_MS);
    await subscribed(a, pres, WAIT_MS);
    await subscribed(b, pres, WAIT_MS);
    await waitFor(() => receiver.requests.some((r) => r.refused), WAIT_MS, 'a webhook attempt by the lease holder');

    const t0 = Date.now();
    await cluster.kill(idx);
    receiver.failing = false;
    const want = ['channel_occupied', 'channel_occupied', 'member_added:u1', 'member_added:u2'];
    await waitFor(() => receiver.names().length >= want.length, NODE_DEATH_BOUND_MS,
      () => `the dead holder's webhooks delivered by another node (so far ${safeJSON(receiver.names())})`);
    const took = Date.now() - t0;
    console.log(`# cluster webhook lease holder SIGKILLed: its queued webhooks delivered by another node after ${took} ms`);
    s.note(`queued webhooks of the dead holder delivered ${took} ms after the kill`);
    await sleep(QUIET_MS);
    assert.deepEqual(receiver.names().sort(), want, 'every queued webhook delivered exactly once');
    assert.deepEqual(receiver.names(pres).filter((n) => n.startsWith('member')), ['member_added:u1', 'member_added:u2'], 'member events in the order of the joins');
    const now = await s.redis.command(['GET', leaseKey]);
    assert.ok(now !== null && now !== holder, `another node holds the lease now (${now})`);
  }));

  it('cluster: a SIGKILLed node is reaped — members removed once, its channels gone', withReceiver('death', async (s, receiver, t, cluster) => {
    const app = WH; // with the webhook endpoint: the reaped transitions are reported once
    const room = uniq('presence-room-');
    const solo = uniq('cl-only-n2-');
    const u2 = await onNode(s, 0, { app, label: 'u2@n0', user: { user_id: 'u2' } });
    const u3 = await onNode(s, 1, { app, label: 'u3@n1', user: { user_id: 'u3' } });
    const u1 = await onNode(s, 2, { app, label: 'u1@n2', user: { user_id: 'u1' } });
    const r2 = await joinPresence(u2, room);
    const r3 = await joinPresence(u3, room);
    await joinPresence(u1, room);
    await subscribed(u1, solo, WAIT_MS);
    await waitFor(() => r2.added.includes('u1') && r3.added.includes('u1'), WAIT_MS, 'member_added for u1 (node 2) at nodes 0 and 1');
    await waitFor(() => receiver.names(room).includes('member_added:u1') && receiver.names(solo).includes('channel_occupied'), WAIT_MS,
      'webhooks for the joins on node 2');
    const before = await apiGet(cluster.node(0), '/channels', undefined, app);
    assert.ok(solo in before.body.channels, `${solo} (only on node 2) is listed before the kill: ${JSON.stringify(before.body)}`);

    const t0 = Date.now();
    await cluster.kill(2);
    const at = {};
    const mark = (k, ok) => {
      if (ok && at[k] === undefined) at[k] = Date.now() - t0;
      return at[k] !== undefined;
    };
    await waitFor(async () => {
      mark('member_removed@n0', r2.removed.includes('u1'));
      mark('member_removed@n1', r3.removed.includes('u1'));
      for (const i of [0, 1]) {
        if (at[`users@n${i}`] === undefined) {
          const { body } = await apiGet(cluster.node(i), `/channels/${room}/users`, undefined, app);
          mark(`users@n${i}`, !body.users.some((u) => u.id === 'u1'));
        }
        if (at[`channels@n${i}`] === undefined) {
          const { body } = await apiGet(cluster.node(i), '/channels', undefined, app);
          mark(`channels@n${i}`, !(solo in body.channels) && room in body.channels);
        }
      }
      return Object.keys(at).length === 6;
    }, NODE_DEATH_BOUND_MS, () => `the dead node's share removed within ${NODE_DEATH_BOUND_MS} ms (done so far: ${JSON.stringify(at)})`);
    console.log(`# cluster node death: SIGKILL → cleanup seen after ${JSON.stringify(at)} ms (max ${Math.max(...Object.values(at))} ms)`);
    await sleep(QUIET_MS);
    assert.deepEqual(r2.removed, ['u1'], 'exactly one member_removed for u1 at the client on node 0');
    assert.deepEqual(r3.removed, ['u1'], 'exactly one member_removed for u1 at the client on node 1');
    assert.deepEqual(ids(r2.ch.members), ['u2', 'u3']);
    const { body } = await apiGet(cluster.node(1), `/channels/${room}`, { info: 'user_count,subscription_count' }, app);
    assert.deepEqual(body, { occupied: true, user_count: 2, subscription_count: 2 }, 'counts without the dead node');
    // the survivors report the dead node's transitions once (after the leave delay)
    await waitFor(() => receiver.names(room).includes('member_removed:u1') && receiver.names(solo).includes('channel_vacated'),
      LEAVE_DELAY_MS + WAIT_MS, () => `member_removed / channel_vacated webhooks for the dead node's share (so far ${safeJSON(receiver.names())})`);
    await sleep(LEAVE_DELAY_MS + QUIET_MS);
    assert.equal(count(receiver.names(room), 'member_removed:u1'), 1, 'one member_removed webhook for u1');
    assert.deepEqual(receiver.names(solo), ['channel_occupied', 'channel_vacated'], `${solo}: one channel_vacated webhook`);
    assert.ok(!receiver.names(room).includes('channel_vacated'), `${room} still has members: not vacated`);
  }));

  it('cluster: Redis outage — 503 while down, recovery after an empty restart without duplicate events', withReceiver('outage', async (s, receiver, t, cluster) => {
    const app = WH; // the app with the webhook endpoint: no webhook may repeat either
    const room = uniq('presence-out-');
    const pub = uniq('cl-out-');
    const cs = [];
    const rs = [];
    const got = [];
    for (let i = 0; i < 3; i++) {
      const id = `u${i + 1}`;
      // u1 watches u2 (watchlist online/offline must not repeat either)
      cs[i] = await onNode(s, i, { app, label: `${id}@n${i}`, user: { user_id: id }, userData: i === 0 ? { id, watchlist: ['u2'] } : { id } });
      rs[i] = await joinPresence(cs[i], room);
      got[i] = collect(await subscribed(cs[i], pub, WAIT_MS), 'ev');
    }
    await signedIn(cs[1], 'u2');
    const watch = [];
    cs[0].user.watchlist.bind('online', (e) => watch.push(...(e.user_ids || []).map((u) => `online:${u}`)));
    cs[0].user.watchlist.bind('offline', (e) => watch.push(...(e.user_ids || []).map((u) => `offline:${u}`)));
    await signedIn(cs[0], 'u1');
    const toU2 = [];
    cs[1].user.bind('note', (d) => toU2.push(d));
    await waitFor(() => rs[0].added.length === 2 && rs[1].added.length === 1 && watch.length === 1, WAIT_MS,
      'member_added and the watchlist status before the outage');
    await cluster.node(2).sdk({ app }).trigger(pub, 'ev', { phase: 'before' });
    await waitFor(() => got.every((g) => g.length === 1), WAIT_MS, 'publish works before the outage');
    await waitFor(() => receiver.names(room).length === 4 && receiver.names(pub).length === 1, WAIT_MS,
      () => `webhooks before the outage (so far ${safeJSON(receiver.names())})`);
    const before = rs.map((r) => ({ added: [...r.added], removed: [...r.removed] }));
    const watchBefore = [...watch];
    const hooksBefore = receiver.names().length;

    const redis = s.redis;
    const t0 = Date.now();
    await redis.stop();
    const immediate = await triggerStatus(cluster.node(1).sdk({ app }), pub, 'ev', { phase: 'outage-immediate' });
    const downAt = [];
    await waitFor(async () => {
      for (let i = 0; i < 3; i++) {
        if (downAt[i] === undefined && (await cluster.node(i).rawRequest('GET', '/ready')).status === 503) downAt[i] = Date.now() - t0;
      }
      return downAt.filter((x) => x !== undefined).length === 3;
    }, 8000, () => `GET /ready answers 503 on every node during the outage (so far ${JSON.stringify(downAt)})`);
    const during = await triggerStatus(cluster.node(1).sdk({ app }), pub, 'ev', { phase: 'outage' });
    s.note(`outage: trigger right after the stop → ${immediate}; /ready 503 after ${JSON.stringify(downAt)} ms; trigger then → ${during}`);
    assert.equal(during, 503, 'an SDK trigger during the outage answers 503');
    assert.notEqual(immediate, 200, 'a trigger right after Redis stopped must not claim success');

    await sleep(Math.max(0, OUTAGE_MS - (Date.now() - t0)));
    const t1 = Date.now();
    await redis.start(); // same port, no data
    const at = {};
    const mark = (k, ok) => {
      if (ok && at[k] === undefined) at[k] = Date.now() - t1;
      return at[k] !== undefined;
    };
    let probe = 0;
    let lastProbeAt = 0;
    await waitFor(async () => {
      for (let i = 0; i < 3; i++) {
        if (at[`ready@n${i}`] === undefined) mark(`ready@n${i}`, (await cluster.node(i).rawRequest('GET', '/ready')).status === 200);
      }
      if (at.publish === undefined) {
        const seen = got.map((g) => new Set(g.filter((e) => e.data.phase === 'probe').map((e) => e.data.i)));
        if (probe > 0 && [...seen[0]].some((i) => seen[1].has(i) && seen[2].has(i))) mark('publish', true);
        else if (Date.now() - lastProbeAt > 300) {
          lastProbeAt = Date.now();
          await triggerStatus(cluster.node(2).sdk({ app }), pub, 'ev', { phase: 'probe', i: ++probe });
        }
      }
      if (at.presence === undefined) {
        const lists = await Promise.all(cluster.nodes.map(async (n) => {
          const { status, body } = await apiGet(n, `/channels/${room}/users`, undefined, app).catch(() => ({ status: 0, body: {} }));
          return status === 200 ? body.users.map((u) => u.id).sort().join(',') : `status ${status}`;
        }));
        mark('presence', lists.every((l) => l === 'u1,u2,u3'));
      }
      return Object.keys(at).length === 5;
    }, RECOVERY_BOUND_MS, () => `recovery after the Redis restart (recovered so far: ${JSON.stringify(at)})`);
    console.log(`# cluster redis outage: /ready 503 after ${JSON.stringify(downAt)} ms; restart → recovered after ${JSON.stringify(at)} ms (max ${Math.max(...Object.values(at))} ms)`);

    // publishing and send-to-user work exactly once again, from other nodes
    await cluster.node(0).sdk({ app }).trigger(pub, 'ev', { phase: 'after' });
    await cluster.node(2).sdk({ app }).sendToUser('u2', 'note', { after: true });
    const afters = () => got.map((g) => g.filter((e) => e.data.phase === 'after').length);
    await waitFor(() => afters().every((n) => n >= 1) && toU2.length >= 1, WAIT_MS, 'publish and sendToUser after recovery');
    const { body } = await apiGet(cluster.node(1), `/channels/${room}`, { info: 'user_count,subscription_count' }, app);
    await sleep(LEAVE_DELAY_MS + QUIET_MS);

    const problems = [];
    const check = (ok, what) => {
      if (!ok) problems.push(what);
    };
    check(JSON.stringify(afters()) === '[1,1,1]', `deliveries of one publish after recovery: ${afters()}, want 1,1,1`);
    check(toU2.length === 1, `sendToUser after recovery delivered ${toU2.length} times`);
    check(isDeepStrictEqual(body, { occupied: true, user_count: 3, subscription_count: 3 }),
      `GET /channels/${room} after recovery: ${JSON.stringify(body)}, want occupied, user_count 3, subscription_count 3`);
    const stayed = cs.map(stayedConnected);
    s.note(`clients that stayed connected through the outage: ${cs.filter((_, i) => stayed[i]).map((c) => c.label).join(', ') || 'none'}`);
    s.note(`events triggered during the outage that were delivered anyway: ${got.map((g) => g.filter((e) => String(e.data.phase).startsWith('outage')).length)}`);
    assert.ok(stayed.some(Boolean), `no client stayed connected (states: ${cs.map((c) => c.states.join(','))}): nothing to judge`);
    for (let i = 0; i < 3; i++) {
      if (!stayed[i]) continue;
      const extraAdded = rs[i].added.slice(before[i].added.length);
      const extraRemoved = rs[i].removed.slice(before[i].removed.length);
      check(extraAdded.length === 0, `${cs[i].label} (stayed connected) got member_added again for ${JSON.stringify(extraAdded)}`);
      check(extraRemoved.length === 0, `${cs[i].label} (stayed connected) got member_removed for ${JSON.stringify(extraRemoved)}`);
      check(ids(rs[i].ch.members).join() === 'u1,u2,u3', `${cs[i].label}: pusher-js members ${ids(rs[i].ch.members)}`);
    }
    if (stayed[0]) {
      check(watch.length === watchBefore.length, `u1 (watching u2) got watchlist events again: ${JSON.stringify(watch.slice(watchBefore.length))}`);
    }
    const newHooks = receiver.names().slice(hooksBefore);
    check(newHooks.length === 0, `webhooks sent again although nobody joined or left: ${JSON.stringify(receiver.events().slice(hooksBefore))}`);
    assert.deepEqual(problems, [], 'through a Redis outage, clients that stayed connected and webhook receivers see nothing new');
  }));

  it('cluster: a presence member who leaves during a Redis outage is announced gone after an empty restart', withReceiver('lostleave', async (s, receiver, t, cluster) => {
    const app = WH;
    const room = uniq('presence-lost-');
    const cs = [];
    const rs = [];
    for (let i = 0; i < 3; i++) {
      cs[i] = await onNode(s, i, { app, label: `u${i + 1}@n${i}`, user: { user_id: `u${i + 1}` } });
      rs[i] = await joinPresence(cs[i], room);
    }
    await waitFor(() => rs[0].added.length === 2 && rs[1].added.length === 1, WAIT_MS, 'member_added before the outage');
    await waitFor(() => receiver.names(room).filter((n) => n.startsWith('member_added')).length === 3, WAIT_MS,
      () => `member_added webhooks before the outage (so far ${safeJSON(receiver.names())})`);

    await s.redis.stop();
    await waitFor(async () => (await cluster.node(2).rawRequest('GET', '/ready')).status === 503, 8000, 'node 2 sees the outage');
    cs[2].disconnect(); // its leave cannot be recorded; the restarted Redis will not know u3 either
    await sleep(1000);
    const t1 = Date.now();
    await s.redis.start(); // same port, no data
    await waitFor(() => rs[0].removed.includes('u3') && rs[1].removed.includes('u3'), RECOVERY_BOUND_MS,
      () => `member_removed for u3 at u1 and u2 after the restart (so far ${JSON.stringify(rs.map((r) => r.removed))})`);
    const took = Date.now() - t1;
    console.log(`# cluster: member who left during the outage announced gone ${took} ms after the empty Redis restart`);
    s.note(`member_removed for the member who left during the outage: ${took} ms after the restart`);
    await waitFor(() => receiver.names(room).includes('member_removed:u3'), WAIT_MS + LEAVE_DELAY_MS,
      () => `member_removed webhook for u3 (so far ${safeJSON(receiver.names(room))})`);
    await sleep(LEAVE_DELAY_MS + QUIET_MS);
    assert.deepEqual(rs[0].removed, ['u3'], 'u1 got member_removed for u3 exactly once');
    assert.deepEqual(rs[1].removed, ['u3'], 'u2 got member_removed for u3 exactly once');
    assert.deepEqual(ids(rs[0].ch.members), ['u1', 'u2']);
    assert.equal(count(receiver.names(room), 'member_removed:u3'), 1, 'one member_removed webhook for u3');
    const { body } = await apiGet(cluster.node(0), `/channels/${room}/users`, undefined, app);
    assert.deepEqual(body.users.map((u) => u.id).sort(), ['u1', 'u2'], 'the member list without u3');
  }));

  it('cluster: a bad redis.url stops herald at start with a clear message on stderr', async (t) => {
    const secret = 'hunter2-topsecret';
    const cases = [
      { url: 'redis://127.0.0.1:1/0', want: [/redis/i, /127\.0\.0\.1:1\b/] },
      { url: 'http://x', want: [/redis\.url/, /redis:\/\//] },
      // with a password: named, never printed
      { url: `redis://herald:${secret}@127.0.0.1:1/0`, want: [/redis:\/\/herald:\*\*\*@127\.0\.0\.1:1\/0/] },
      { url: `redis://127.0.0.1:1/0?password=${secret}`, want: [/redis\.url/, /"password" is not supported/] },
    ];
    await Promise.all(cases.map(async ({ url, want }, i) => {
      const srv = new HeraldServer({
        name: `cluster-badurl-${i}`,
        config: clusterConfig(),
        extraConfig: clusterConfigYAML({ url, prefix: uniq('herald-test-bad-') }),
      });
      const t0 = Date.now();
      let startErr = null;
      try {
        await srv.start();
      } catch (err) {
        startErr = err;
      } finally {
        await srv.stop(1000);
      }
      const took = Date.now() - t0;
      const firstLines = srv.stderr.trim().split('\n').slice(0, 3).join(' | ');
      t.diagnostic(`${url}: exit ${safeJSON(srv.exited)} after ${took} ms; stderr: ${firstLines}`);
      assert.ok(startErr && /exited during start-up/.test(startErr.message),
        `${url}: herald must exit at start, not run (${startErr ? startErr.message.split('\n')[0] : 'it started'})`);
      assert.ok(srv.exited.signal === null && srv.exited.code > 0, `${url}: non-zero exit status (${safeJSON(srv.exited)})`);
      assert.ok(took < 10_000, `${url}: exited after ${took} ms`);
      for (const re of want) assert.match(srv.stderr, re, `${url}: stderr names the problem`);
      assert.doesNotMatch(srv.output, /Cluster mode:/, `${url}: no cluster banner`);
      assert.ok(!srv.output.includes(secret), `${url}: the password must not be printed:\n${srv.output}`);
    }));
  });
});

