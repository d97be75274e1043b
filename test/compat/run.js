'use strict';
// `npm test`: builds Herald once, then runs every tests/*.test.js file with
// Node's built-in test runner against that binary (HERALD_BIN).
// Extra arguments are passed to `node --test` (e.g. --test-name-pattern=presence).

const { spawnSync } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { buildHerald } = require('./harness');

let bin = process.env.HERALD_BIN;
let buildDir = null;
if (!bin) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'herald-build-'));
  buildDir = dir;
  const t0 = Date.now();
  try {
    bin = buildHerald(dir);
  } catch (err) {
    console.error(err.message);
    console.error('0 passed, 1 failed');
    process.exit(1);
  }
  console.log(`built ${bin} in ${Date.now() - t0} ms`);
}

const testDir = path.join(__dirname, 'tests');
const files = fs
  .readdirSync(testDir)
  .filter((f) => f.endsWith('.test.js'))
  .sort()
  .map((f) => path.join('tests', f));

const args = [
  '--test',
  '--test-concurrency=1',
  // per test file: the cluster fault tests wait out 10 s leases several times
  '--test-timeout=120000',
  '--test-force-exit',
  '--test-reporter=spec',
  ...process.argv.slice(2),
  ...files,
];
const res = spawnSync(process.execPath, args, {
  cwd: __dirname,
  stdio: 'inherit',
  env: { ...process.env, HERALD_BIN: bin },
});
if (buildDir) fs.rmSync(buildDir, { recursive: true, force: true });
if (res.error) {
  console.error(res.error.message);
  process.exit(1);
}
process.exit(res.status === null ? 1 : res.status);
