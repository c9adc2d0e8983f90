// V8 flags nodedns runs with. A young generation of 2 MiB per semi-space (Node's default
// is 16) keeps a serving process about 25 MiB smaller (make bench: 103 -> 78 MiB with
// 20,000 entries) at the price of more frequent scavenges: about 5-10% of cache-hit QPS
// in make bench (0.72-0.76 of the ceiling against 0.80-0.85 with the default). It only works on Node's command line: the CLI shebang, the Dockerfile,
// make run, the benchmark, and the supervisor's workers all pass it.
export const NODE_FLAGS = ['--max-semi-space-size=2'];
