// V8 flags nodedns runs with. A young generation of 2 MiB per semi-space (Node's default
// is 16) keeps a serving process about 25 MiB smaller (make bench: 103 -> 78 MiB with
// 20,000 entries). Two nodedns side by side on one core, each with its own dnsperf, 5 rounds
// (Node 24, 2026-12-06): 16 against 2 answered hits at 0.993 of the cost, so the smaller
// young generation costs nothing measurable; 1 against 2 saved 1.5 MiB idle but cost 2-3 %
// (hits 0.98, mixed 0.97). It only works on Node's command line: the CLI shebang, the
// Dockerfile, make run, the benchmark, and the supervisor's workers all pass it.
export const NODE_FLAGS = ['--max-semi-space-size=2'];
