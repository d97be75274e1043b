const ot = global.setTimeout;
global.setTimeout = function (fn, ms, ...a) { if (ms >= 20000) console.log('TIMER', ms, new Error().stack.split('\n').slice(2,7).join(' | ')); return ot(fn, ms, ...a); };
const test = require('node:test');
const { describe, it } = test;
const h = require('/work/main/test/compat/harness');
describe('x', () => {
  const server = h.useServer(test, { name: 'dbg' });
  it('t', h.scenario(server, async (s) => {
    const c = await s.connectedClient({ userData: { id: 'user-term' } });
    c.signin();
    await h.waitFor(() => c.user.user_data, 3000);
    await s.server.sdk().terminateUserConnections('user-term');
    await h.waitFor(() => c.connection.state === 'disconnected', 3000);
  }));
  
});
