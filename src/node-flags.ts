// V8 flags nodedns runs with. A young generation of 4 MiB per semi-space (Node's default
// is 16) keeps a serving process about 20 MiB smaller with no measurable cost to hit QPS
// (make bench). It only works on Node's command line: the CLI shebang, the Dockerfile,
// make run, the benchmark, and the supervisor's workers all pass it.
export const NODE_FLAGS = ['--max-semi-space-size=4'];
