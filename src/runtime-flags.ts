/**
 * The V8 flags Firkin's processes run with. V8 reads them only when a process starts,
 * so they are on the command lines that start Firkin: the `firkin` command
 * (bin/firkin, a shell script: the installed command, systemd's ExecStart), `npm start`,
 * and the primary's command line for the workers it forks (added here when the primary
 * was started without them). test/process/runtime-flags.test.ts keeps those places in
 * step. A value the operator gives, on the command line or in NODE_OPTIONS, wins.
 *
 * --max-semi-space-size=8: V8 lets its young generation grow to 2 × 32 MiB under load
 * on a machine with this much memory; a request's short-lived objects die young in
 * 2 × 8 MiB as well, at no throughput cost the benchmark can find, and about 40 MiB
 * less resident memory per process (docs/benchmarks.md).
 */
export const V8_FLAGS: readonly string[] = ['--max-semi-space-size=8'];

/**
 * `execArgv` with each of V8_FLAGS that neither it nor `nodeOptions` (the NODE_OPTIONS
 * the process will see, which the command line would override) sets already.
 */
export function withV8Flags(execArgv: readonly string[], nodeOptions = process.env.NODE_OPTIONS ?? ''): string[] {
  // V8 takes --a_b for --a-b.
  const nameOf = (arg: string): string => arg.split('=')[0]!.replaceAll('_', '-');
  const given = new Set([...execArgv, ...nodeOptions.split(/\s+/)].map(nameOf));
  const missing = V8_FLAGS.filter((flag) => !given.has(nameOf(flag)));
  return [...missing, ...execArgv];
}
