// Operator mistakes get an answer that names the fix: --help on every command, and a
// NODEDNS_ variable, flag or file key that matches no setting is refused with the closest name.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { describe, it } from 'node:test';
import { loadConfig } from '../src/config/load';
import { ConfigError } from '../src/config/types';
import { CLI } from './helpers/agent';

function cli(args: string[], env: NodeJS.ProcessEnv = {}): Promise<{ code: number; out: string; err: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [CLI, ...args], { env: { PATH: process.env.PATH, ...env }, timeout: 60_000 }, (e, out, err) => {
      resolve({ code: e ? (typeof e.code === 'number' ? e.code : -1) : 0, out, err });
    });
  });
}

// Should --help ever be ignored again, these keep the command off this machine's network
// setup: no interface, no firewall, loopback only, no listeners but DNS.
const HARMLESS = ['--no-setup-interface', '--firewall', 'none', '--local-ip', '127.31.41.59', '--upstream', '127.31.41.59:9',
  '--metrics-addr', '', '--health-addr', '', '--control-socket', ''];

describe('nodedns <command> --help', () => {
  for (const cmd of ['run', 'setup', 'teardown', 'doctor', 'explain', 'query', 'kubelet']) {
    it(`${cmd} --help prints its usage and exits 0`, async () => {
      const r = await cli(['run', 'setup', 'teardown'].includes(cmd) ? [cmd, ...HARMLESS, '--help'] : [cmd, '--help']);
      assert.equal(r.code, 0, r.err);
      assert.match(r.out, new RegExp(`nodedns ${cmd}\\b`));
      assert.equal(r.err, '');
    });
  }

  it('run --help lists the flags, with --config', async () => {
    const r = await cli(['run', '--upstream', '127.0.0.1', '-h']);
    assert.equal(r.code, 0, r.err);
    assert.match(r.out, /--config FILE/);
    assert.match(r.out, /--local-ip .*169\.254\.20\.10/);
  });
});

describe('a setting that does not exist', () => {
  it('a NODEDNS_ variable is refused with the closest valid name', () => {
    assert.throws(() => loadConfig([], { NODEDNS_CLUSTERDNS: '10.96.0.10' }),
      (e: Error) => e instanceof ConfigError && /NODEDNS_CLUSTERDNS \(environment\): no such setting; did you mean NODEDNS_CLUSTER_DNS\?/.test(e.message));
    assert.throws(() => loadConfig([], { NODEDNS_CACHESIZE: '10' }), /did you mean NODEDNS_CACHE_SIZE\?/);
  });

  it('the variables that are not settings, and other programs\' variables, pass', () => {
    const { config } = loadConfig([], { NODEDNS_WORKER_SLOT: '0', NODEDNS_PORT: '1053', NODE_NAME: 'n1', NODEDNSX: 'y' });
    assert.equal(config.port, 1053);
  });

  it('the command line says the same, and exits 2', async () => {
    const r = await cli(['setup', '--dry-run', ...HARMLESS], { NODEDNS_CLUSTERDNS: '10.96.0.10' });
    assert.equal(r.code, 2);
    assert.match(r.err, /NODEDNS_CLUSTERDNS.*did you mean NODEDNS_CLUSTER_DNS\?/);
  });

  it('a flag or a file key gets the closest name too', () => {
    assert.throws(() => loadConfig(['--clusterdns', '1.2.3.4'], {}), /unknown flag --clusterdns; did you mean --cluster-dns\?/);
  });
});
