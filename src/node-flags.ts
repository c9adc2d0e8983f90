// V8 flags and environment nodedns runs with. The flags only work on Node's command line and
// the environment only before the process starts: the CLI shebang, the Dockerfile, make run,
// the benchmark and the supervisor's workers (which inherit both) all pass them.
//
// --max-semi-space-size=2: a young generation of 2 MiB per semi-space (Node's default is
// 16) keeps a serving process about 25 MiB smaller (make bench: 103 -> 78 MiB with 20,000
// entries). Two nodedns side by side on one core, each with its own dnsperf, 5 rounds
// (Node 24, 2026-12-06): 16 against 2 answered hits at 0.993 of the cost, so the smaller
// young generation costs nothing measurable (mixed, 2026-12-07: 4, 8 and 16 against 2 read
// 0.999-1.021, a control 0.998); 1 against 2 saved 1.5 MiB idle but cost 2-3 % (hits 0.98,
// mixed 0.97).
//
// --no-maglev: V8's mid-tier compiler only speeds up the seconds before TurboFan takes a
// hot function over, and its code (1.6 MiB of the node binary) stays resident once used.
// Without it, the same way (6 rounds): hits 1.004 and mixed 1.004 of the cost, idle RSS
// 1-1.5 MiB lower. --optimize-for-size saved more (idle 2.5, full 7 MiB) but cost 2 % of
// hits and 4 % of misses, so it is not used.
//
// --expose-gc: for the one collection after start-up that gives start-up's memory back
// (src/run/settle-memory.ts): idle RSS 71.4 -> 66.8-67.6 MiB in make bench's at-rest run.
export const NODE_FLAGS = ['--max-semi-space-size=2', '--no-maglev', '--expose-gc'];

// MALLOC_ARENA_MAX=2: glibc gives each thread that allocates an arena of its own (64 MiB
// reserved, its touched pages resident); V8's and libuv's helper threads held about 2.9 MiB in
// three of them at idle. With two: idle RSS about 1 MiB lower, full 2.6 MiB lower (make bench's
// at-rest run, three each). The serving thread allocates in the main arena either way. The
// `nodedns` command (scripts/install-nodedns.sh) keeps a value already in the environment.
export const NODE_ENV_DEFAULTS: Readonly<Record<string, string>> = { MALLOC_ARENA_MAX: '2' };
