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
  test.after(() => setTimeout(() => { console.log(process._getActiveHandles().map(x => x.constructor.name + ' ' + (x.remotePort||'') + ' ' + (x._idleTimeout||''))); }, 2000));
});
