/**
 * `pnpm demo`: trains dense and Switch Transformer language models and writes a report that
 * checks the paper's claims at toy scale. See `--help` and docs/guide.md.
 */
import { pathToFileURL } from 'node:url';
import { parseOptions, usage, UsageError } from './cli.js';

/** Runs the demo for `argv` (without node and the script) and returns the exit code. */
export async function main(argv: string[], out: NodeJS.WriteStream = process.stdout, err: NodeJS.WriteStream = process.stderr): Promise<number> {
  try {
    const options = parseOptions(argv);
    if (options === null) {
      out.write(usage + '\n');
      return 0;
    }
    // Training, the tensor library and the chart library load only now: the charts alone take
    // seconds, which --help and a mistyped flag should not wait for.
    const { runDemo } = await import('./session.js');
    return await runDemo(options, out);
  } catch (e) {
    if (!(e instanceof UsageError)) throw e;
    err.write(`demo: ${e.message}\n`);
    return 2;
  }
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  // `pnpm demo -- --quick` passes the `--` through; it separates nothing here.
  const args = process.argv.slice(2);
  process.exitCode = await main(args[0] === '--' ? args.slice(1) : args);
}
