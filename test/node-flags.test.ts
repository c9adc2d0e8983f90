// Every way nodedns is launched passes the same V8 flags (they only work on Node's command line).
import { strict as assert } from 'node:assert';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { it } from 'node:test';
import { NODE_FLAGS } from '../src/node-flags';

const root = join(__dirname, '..');
const read = (p: string) => readFileSync(join(root, p), 'utf8');

it('passes NODE_FLAGS from the CLI shebang, make run, the Dockerfile and the benchmark', () => {
  const flags = NODE_FLAGS.join(' ');
  assert.ok(read('src/cli.ts').split('\n')[0].endsWith(`node ${flags}`), 'src/cli.ts shebang');
  assert.ok(read('Makefile').includes(`node ${flags} dist/cli.js run`), 'Makefile run');
  // the image's /usr/local/bin/nodedns (its ENTRYPOINT) takes them from dist/node-flags.js: test/install.test.ts
  assert.match(read('daemonset/Dockerfile'), /install-nodedns\.sh "\$\(command -v node\)" \/app\/dist\/cli\.js \/usr\/local\/bin\/nodedns/, 'Dockerfile nodedns command');
  // the benchmark takes the list itself, for nodedns and the forwarder alike
  assert.match(read('scripts/bench/servers.ts'), /import \{ NODE_FLAGS \} from '\.\.\/\.\.\/src\/node-flags';/);
  assert.match(read('scripts/bench/servers.ts'), /export const NODEDNS_V8_FLAGS = NODE_FLAGS;/);
});
