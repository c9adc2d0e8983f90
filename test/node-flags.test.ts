// Every way nodedns is launched passes the same V8 flags (they only work on Node's command
// line) and environment defaults (they only work before the process starts).
import { strict as assert } from 'node:assert';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { it } from 'node:test';
import { NODE_ENV_DEFAULTS, NODE_FLAGS } from '../src/node-flags';

const root = join(__dirname, '..');
const read = (p: string) => readFileSync(join(root, p), 'utf8');

it('passes NODE_FLAGS and NODE_ENV_DEFAULTS from the CLI shebang, make run, the Dockerfile and the benchmark', () => {
  const flags = NODE_FLAGS.join(' ');
  const env = Object.entries(NODE_ENV_DEFAULTS).map(([k, v]) => `${k}=${v} `).join('');
  assert.ok(env.length > 0);
  assert.equal(read('src/cli.ts').split('\n')[0], `#!/usr/bin/env -S ${env}node ${flags}`, 'src/cli.ts shebang');
  assert.ok(read('Makefile').includes(`\t${env}node ${flags} dist/cli.js run`), 'Makefile run');
  // the image's /usr/local/bin/nodedns (its ENTRYPOINT) takes them from dist/node-flags.js: test/install.test.ts
  assert.match(read('daemonset/Dockerfile'), /install-nodedns\.sh "\$\(command -v node\)" \/app\/dist\/cli\.js \/usr\/local\/bin\/nodedns/, 'Dockerfile nodedns command');
  // the benchmark takes the list itself, for nodedns and the forwarder alike
  assert.match(read('scripts/bench/servers.ts'), /import \{ NODE_ENV_DEFAULTS, NODE_FLAGS \} from '\.\.\/\.\.\/src\/node-flags';/);
  assert.match(read('scripts/bench/servers.ts'), /export const NODEDNS_V8_FLAGS = NODE_FLAGS;/);
  assert.match(read('scripts/bench/servers.ts'), /return \{ \.\.\.cleanEnv\(\), \.\.\.NODE_ENV_DEFAULTS \};/);
  assert.match(read('scripts/bench/footprint.ts'), /const env = \{ \.\.\.nodednsEnv\(\),/);
});
