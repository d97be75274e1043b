'use strict';
// Connection establishment and rejection, as pusher-js 8 sees it.

const assert = require('node:assert/strict');
const test = require('node:test');
const { describe, it } = test;
const { APPS, errorCode, scenario, sleep, useServer, waitFor, safeJSON } = require('../harness');

describe('connection', () => {
  const server = useServer(test, { name: 'connection' });

  it('reaches "connected" with a socket_id of the form 123.456', scenario(server, async (s) => {
    const c = await s.connectedClient();
    assert.match(c.connection.socket_id, /^\d+\.\d+$/, `socket_id ${JSON.stringify(c.connection.socket_id)} must match /^\\d+\\.\\d+$/ (server SDKs refuse anything else)`);
    assert.deepEqual(c.states.filter((st) => st !== 'connecting' && st !== 'connected'), [], `unexpected state changes: ${c.states.join(',')}`);
  }));

  it('gives distinct socket_ids to concurrent connections', scenario(server, async (s) => {
    const a = await s.connectedClient();
    const b = await s.connectedClient();
    assert.notEqual(a.connection.socket_id, b.connection.socket_id, 'two live connections must not share a socket_id');
  }));

  it('stays connected across a client pusher:ping (answered with pusher:pong)', scenario(server, async (s) => {
    const c = await s.connectedClient();
    // pusher-js pings after activity_timeout of silence; force one now.
    c.connection.send_event('pusher:ping', {});
    await waitFor(() => c.frames.some((f) => f.includes('"event":"pusher:pong"')), 3000,
      'a pusher:pong reply to pusher:ping');
    assert.equal(c.connection.state, 'connected', 'still connected after ping/pong');
  }));

  it('unknown app key: pusher:error 4001, then disconnected without reconnecting', scenario(server, async (s) => {
    const c = s.client({ key: 'no-such-key' });
    await waitFor(
      () => c.connection.state === 'disconnected' || c.connection.state === 'failed',
      10_000,
      `state disconnected/failed for an unknown key (states: ${c.states.join(',')})`,
    );
    assert.ok(c.errors.some((e) => errorCode(e) === 4001),
      `expected an error with code 4001 (app does not exist), got ${safeJSON(c.errors)}`);
    const connectingBefore = c.states.filter((st) => st === 'connecting').length;
    await sleep(1500); // pusher-js would retry after ~1 s on a non-4001..4099 close
    const connectingAfter = c.states.filter((st) => st === 'connecting').length;
    assert.equal(connectingAfter, connectingBefore, `pusher-js must not reconnect after 4001 (states: ${c.states.join(',')})`);
    assert.ok(['disconnected', 'failed'].includes(c.connection.state), `final state ${c.connection.state}`);
    assert.equal(c.connection.socket_id, undefined, 'no socket_id for a refused connection');
  }));

  it('a second app (key app-key-2) connects independently', scenario(server, async (s) => {
    const c = await s.connectedClient({ app: APPS.two });
    assert.match(c.connection.socket_id, /^\d+\.\d+$/);
  }));
});
