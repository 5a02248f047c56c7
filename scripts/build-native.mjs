// npm install's hook for native/: builds the OpenBLAS kernels (an N-API addon, ABI-stable across
// Node versions) with npm's own node-gyp when Debian's libopenblas-dev is installed. Without it, or
// when the build fails, the install still succeeds: workers then train on wasm and say so.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.dirname(path.dirname(fileURLToPath(import.meta.url)));
const native = path.join(root, 'native');
const say = (line) => console.log(`native kernels: ${line}`);

const header = ['/usr/include/x86_64-linux-gnu/cblas.h', '/usr/include/cblas.h', '/usr/include/openblas/cblas.h'].find(existsSync);
if (!header) {
  say('skipped (no cblas.h: apt-get install libopenblas-dev, then npm rebuild trainyard or npm install)');
  process.exit(0);
}

// npm tells scripts where its bundled node-gyp is; outside npm, look next to npm itself.
const require = createRequire(import.meta.url);
let nodeGyp = process.env.npm_config_node_gyp;
if (!nodeGyp || !existsSync(nodeGyp)) {
  try {
    nodeGyp = require.resolve('node-gyp/bin/node-gyp.js', { paths: [path.join(path.dirname(process.execPath), '../lib/node_modules/npm')] });
  } catch {
    say('skipped (node-gyp not found)');
    process.exit(0);
  }
}
// Node's headers: npm's nodedir setting (this machine: /usr); outside npm, the headers installed beside
// this node (<prefix>/include/node), which need no network; else node-gyp's own download.
const besideNode = path.dirname(path.dirname(process.execPath));
const nodedir = process.env.npm_config_nodedir ?? (existsSync(path.join(besideNode, 'include/node/node_api.h')) ? besideNode : undefined);
const result = spawnSync(process.execPath, [nodeGyp, 'rebuild', ...(nodedir ? [`--nodedir=${nodedir}`] : [])], {
  cwd: native,
  stdio: ['ignore', 'pipe', 'pipe'],
  encoding: 'utf8',
});
if (result.status === 0 && existsSync(path.join(native, 'build/Release/trainyard_native.node'))) {
  say(`built native/build/Release/trainyard_native.node against ${header}`);
} else {
  const tail = `${result.stdout ?? ''}${result.stderr ?? ''}`.trim().split('\n').slice(-5).join('\n  ');
  say(`build failed; training falls back to wasm. Last lines:\n  ${tail}`);
}
process.exit(0);
