// make install: the `nodedns` command runs this tree's CLI on the given Node.js with
// nodedns' V8 flags and environment defaults (src/node-flags.ts), from any directory.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { after, describe, it } from 'node:test';
import { NODE_ENV_DEFAULTS, NODE_FLAGS } from '../src/node-flags';
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

  it('gives the CLI the environment defaults, and an operator\'s own value wins', () => {
    // a CLI beside the built node-flags.js that prints what it was given
    const cli = join(dir, 'probe', 'cli.js');
    mkdirSync(dirname(cli), { recursive: true });
    copyFileSync(join(REPO_ROOT, 'dist', 'node-flags.js'), join(dir, 'probe', 'node-flags.js'));
    writeFileSync(cli, 'console.log(JSON.stringify({ env: process.env, flags: process.execArgv }))\n');
    const dest = join(dir, 'bin', 'probe');
    install(process.execPath, cli, dest);
    const run = (env: NodeJS.ProcessEnv) => JSON.parse(execFileSync(dest, [], { encoding: 'utf8', env })) as { env: NodeJS.ProcessEnv; flags: string[] };
    const clean = { ...process.env };
    for (const k of Object.keys(NODE_ENV_DEFAULTS)) delete clean[k];
    const got = run(clean);
    assert.deepEqual(got.flags, NODE_FLAGS);
    for (const [k, v] of Object.entries(NODE_ENV_DEFAULTS)) {
      assert.equal(got.env[k], v, k);
      assert.equal(run({ ...clean, [k]: '7' }).env[k], '7', `${k} from the environment`);
    }
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
