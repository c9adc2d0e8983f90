#!/usr/bin/env -S MALLOC_ARENA_MAX=2 node --max-semi-space-size=2 --no-maglev --expose-gc
// nodedns command line: `nodedns <command> [flags]`.
import { OPTIONS, envName } from './config/options';
import { ConfigError } from './config/types';
import { bindFailureCause } from './node/capabilities';
import { BindError } from './serve/listen-errors';

// `synopsis`: the command takes the agent's flags, and cli.ts answers its --help (the other
// commands parse their own flags and print their own usage).
type Command = { help: string; run: (argv: string[]) => Promise<number>; synopsis?: string };

const COMMANDS: Record<string, Command> = {
  run: { help: 'serve DNS on the local addresses (the DaemonSet runs this)', run: (a) => import('./run').then((m) => m.runCommand(a)), synopsis: 'run [flags]' },
  kubelet: { help: 'point kubelet clusterDNS at nodedns (set) or put it back (restore)', run: (a) => import('./kubelet/command').then((m) => m.kubeletCommand(a)) },
  setup: { help: 'put the interface, addresses and fallback rules in place (--dry-run: print the rules)', run: (a) => import('./node/command').then((m) => m.setupCommand(a)), synopsis: 'setup [--dry-run] [--notrack] [flags]' },
  teardown: { help: 'remove every rule, address and interface nodedns installed (uninstall)', run: (a) => import('./node/command').then((m) => m.teardownCommand(a)), synopsis: 'teardown [flags]' },
  doctor: { help: 'check this node\'s DNS path: PASS/WARN/FAIL with evidence and the fix (--json)', run: (a) => import('./diagnose/doctor').then((m) => m.doctorCommand(a)) },
  explain: { help: 'every query a pod sends for NAME, where nodedns sends each, and what to change', run: (a) => import('./diagnose/explain').then((m) => m.explainCommand(a)) },
  top: { help: 'this node\'s pods by query rate, NXDOMAIN share and top names, live (--once, --json)', run: (a) => import('./diagnose/top').then((m) => m.topCommand(a)) },
  query: { help: 'NAME [TYPE] through nodedns\' routing: zone, cache hit or miss, upstream, latency', run: (a) => import('./diagnose/query').then((m) => m.queryCommand(a)) },
  help: { help: 'this text', run: async () => { process.stdout.write(usage()); return 0; } },
  version: { help: 'print the version', run: async () => { process.stdout.write(`nodedns ${require('../package.json').version}\n`); return 0; } },
};

function usage(): string {
  const lines = ['usage: nodedns <command> [flags]', '', 'commands:'];
  for (const [name, c] of Object.entries(COMMANDS)) lines.push(`  ${name.padEnd(10)} ${c.help}`);
  return [...lines, ...flagLines()].join('\n');
}

function commandUsage(name: string, c: Command): string {
  return [`usage: nodedns ${c.synopsis}`, '', `  ${c.help}`, ...flagLines()].join('\n');
}

function flagLines(): string[] {
  const lines = ['', 'flags (also YAML keys in --config FILE, and environment NODEDNS_<FLAG>):'];
  lines.push(`  ${'--config FILE'.padEnd(30)} settings from a YAML file (flag names as keys)`);
  for (const o of OPTIONS) {
    const flag = o.bool ? `--[no-]${o.name}` : `--${o.name}`;
    lines.push(`  ${flag.padEnd(30)} ${o.help}${o.def ? ` (default: ${o.def})` : ''}`);
  }
  lines.push('', `example: ${envName('local-ip')}=169.254.20.10 nodedns run --cluster-dns 10.96.0.10`, '');
  return lines;
}

async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined || name === '--help' || name === '-h') {
    process.stdout.write(usage());
    return name === undefined ? 2 : 0;
  }
  const cmd = COMMANDS[name];
  if (!cmd) {
    process.stderr.write(`nodedns: unknown command "${name}"; run "nodedns help" for the list\n`);
    return 2;
  }
  if (cmd.synopsis && rest.some((a) => a === '--help' || a === '-h')) {
    process.stdout.write(commandUsage(name, cmd));
    return 0;
  }
  return cmd.run(rest);
}

main(process.argv.slice(2)).then(
  (code) => { if (code !== undefined) process.exitCode = code; },
  (e: unknown) => {
    if (e instanceof ConfigError) {
      process.stderr.write(`nodedns: invalid configuration: ${e.message}\n`);
      process.exit(2);
    }
    if (e instanceof BindError) {
      const cause = bindFailureCause(e.message);
      process.stderr.write(`nodedns: ${e.message}\n${cause ? `nodedns: cause: ${cause}\n` : ''}`);
      process.exit(1);
    }
    process.stderr.write(`nodedns: ${(e as Error).stack ?? String(e)}\n`);
    process.exit(1);
  },
);

export { COMMANDS };
