// Copies uPlot's built files from node_modules into ../assets/vendor/, where
// the Go binary embeds them (go:embed): the copies are committed, so `go
// build` needs no Node. Run by `go generate ./internal/dashboard/`, after
// `npm ci` in this folder installs the version package-lock.json pins.
//
// It refuses to copy a uPlot other than the one package.json pins, so the
// committed files always match the pin.
'use strict';

const fs = require('node:fs');
const path = require('node:path');

const pkg = require('./package.json');
const want = pkg.devDependencies.uplot;
const src = path.join(__dirname, 'node_modules', 'uplot');
const dst = path.join(__dirname, '..', 'assets', 'vendor');

let got;
try {
  got = JSON.parse(fs.readFileSync(path.join(src, 'package.json'), 'utf8')).version;
} catch (err) {
  console.error(`build.js: uplot is not installed (${err.message}); run npm ci in ${__dirname} first`);
  process.exit(1);
}
if (got !== want) {
  console.error(`build.js: node_modules holds uplot ${got}, package.json pins ${want}; run npm ci in ${__dirname}`);
  process.exit(1);
}

// [from (under the package), to (under assets/vendor/)]
const files = [
  ['dist/uPlot.iife.min.js', 'uPlot.iife.min.js'],
  ['dist/uPlot.min.css', 'uPlot.min.css'],
  ['LICENSE', 'uPlot.LICENSE.txt'], // MIT: the notice travels with the copies, and is served with them
];

fs.mkdirSync(dst, { recursive: true });
for (const [from, to] of files) {
  fs.copyFileSync(path.join(src, from), path.join(dst, to));
  console.log(`build.js: uplot ${got} ${from} -> assets/vendor/${to}`);
}
