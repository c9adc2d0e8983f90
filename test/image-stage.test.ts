// What the image carries (scripts/image/stage.sh): dist/cli.js and the one package it
// requires, run here from a directory outside this repository, where Node.js cannot fall back
// to the repository's node_modules. A package the script needs and the stage leaves out fails
// here; one the stage adds that nothing loads is a heavier image (and more code for a security
// review) for every node.
import { strict as assert } from 'node:assert';
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, it } from 'node:test';

const root = join(__dirname, '..');
const dir = mkdtempSync(join(tmpdir(), 'nodedns-stage-'));
after(() => rmSync(dir, { recursive: true, force: true }));

it('the image stage holds the one script and netlink, and runs on its own', () => {
  const app = join(dir, 'app');
  execFileSync(join(root, 'scripts/image/stage.sh'), [app], { stdio: 'pipe' });
  assert.deepEqual(readdirSync(app).sort(), ['dist', 'node_modules', 'package.json']);
  assert.deepEqual(readdirSync(join(app, 'dist')).sort(), ['cli.js', 'cli.js.map', 'node-flags.js']);
  assert.deepEqual(readdirSync(join(app, 'node_modules')).sort(), ['netlink', 'node-gyp-build']);
  assert.ok(!readdirSync(join(app, 'node_modules', 'netlink')).includes('node_modules'), 'netlink\'s own node_modules (build-time types) stays out');
  const run = (...args: string[]) => spawnSync(process.execPath, [join(app, 'dist', 'cli.js'), ...args], { cwd: dir, encoding: 'utf8' });
  const version = run('version');
  assert.equal(version.status, 0, version.stderr);
  assert.match(version.stdout, /^nodedns \d+\.\d+\.\d+\n$/);
  // node setup as a dry run loads netlink (route and raw netlink) and its prebuilt binary
  const setup = run('setup', '--dry-run');
  assert.equal(setup.status, 0, `nodedns setup --dry-run from the stage: ${setup.stderr}`);
  assert.match(setup.stdout, /add rule inet nodedns/);
  // the install script reads the flags from the staged dist/node-flags.js
  const flags = spawnSync(process.execPath, ['-p', 'require(process.argv[1]).NODE_FLAGS.join(" ")', join(app, 'dist', 'node-flags.js')], { encoding: 'utf8' });
  assert.equal(flags.status, 0, flags.stderr);
  assert.match(flags.stdout, /--max-semi-space-size=/);
});
