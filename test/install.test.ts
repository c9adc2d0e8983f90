// make install: the `nodedns` command runs this tree's CLI on the given Node.js with
// nodedns' V8 flags (src/node-flags.ts), from any directory.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { NODE_FLAGS } from '../src/node-flags';
import { CLI, REPO_ROOT } from './helpers/agent';

const dir = mkdtempSync(join(tmpdir(), 'nodedns-install-'));
after(() => rmSync(dir, { recursive: true, force: true }));
const install = (...args: string[]) => execFileSync(join(REPO_ROOT, 'scripts/install-nodedns.sh'), args, { encoding: 'utf8', stdio: 'pipe' });

describe('scripts/install-nodedns.sh (make install)', () => {
  it('writes an executable nodedns that runs the CLI with the V8 flags, from any directory', () => {
    const dest = join(dir, 'bin', 'nodedns');
    install(process.execPath, CLI, dest);
    assert.equal(statSync(dest).mode & 0o777, 0o755);
    const text = readFileSync(dest, 'utf8');
    assert.ok(text.includes(`exec '${process.execPath}' ${NODE_FLAGS.join(' ')} '${CLI}' "$@"`), text);
    const version = execFileSync(dest, ['version'], { cwd: '/', encoding: 'utf8' });
    assert.equal(version, `nodedns ${JSON.parse(readFileSync(join(REPO_ROOT, 'package.json'), 'utf8')).version}\n`);
    assert.match(execFileSync(dest, ['doctor', '--help'], { cwd: '/', encoding: 'utf8' }), /nodedns doctor/);
  });

  it('refuses relative paths and a missing CLI, naming the fix', () => {
    assert.throws(() => install('node', CLI, join(dir, 'x')), /give an absolute path/);
    assert.throws(() => install(process.execPath, join(dir, 'nope.js'), join(dir, 'x')), /does not exist \(run make build\)/);
  });
});

describe('Makefile', () => {
  const make = readFileSync(join(REPO_ROOT, 'Makefile'), 'utf8');
  it('make run installs the command first, with the project\'s own Node.js', () => {
    assert.match(make, /^run: run-deps install$/m);
    assert.match(make, /^install: build\n\tscripts\/install-nodedns\.sh \$\(CURDIR\)\/node_modules\/\.bin\/node \$\(CURDIR\)\/dist\/cli\.js /m);
  });
});
