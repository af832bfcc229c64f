/**
 * `pnpm demo:devices`: expert parallelism at its two extremes, for E = 4 equal experts — four
 * experts on four devices and on one — Switch (top-1) against the dense MoE (top-4), and a skewed
 * router against a balanced one. Writes DIR/devices.json and DIR/devices.html; see docs/devices.md.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { machine } from '../shared/machine.js';
import { model, runCase, type CaseResult, type CaseSpec, type Settings } from './cases.js';
import { page } from './report.js';

export const usage = `Usage: pnpm demo:devices [options]

Runs the Switch layer's experts on worker threads ("devices") and measures expert parallelism:
4 experts on 4 devices and on 1, Switch top-1 against the dense MoE, a skewed router against a
balanced one. Writes devices.json and devices.html (see docs/devices.md).

Options:
  --quick      a smoke run: fewer steps, well under a minute
  --out DIR    where to write devices.json and devices.html (default reports/latest)
  --help       this text`;

export const specs: CaseSpec[] = [
  { name: '4 devices, Switch top-1', devices: 4, topK: 1, balanceCoef: 0.01 },
  { name: '4 devices, dense MoE top-4', devices: 4, topK: 4, balanceCoef: 0.01 },
  { name: '1 device, Switch top-1', devices: 1, topK: 1, balanceCoef: 0.01 },
  { name: '1 device, dense MoE top-4', devices: 1, topK: 4, balanceCoef: 0.01 },
  { name: '4 devices, skewed router (α = 0)', devices: 4, topK: 1, balanceCoef: 0, offsetInputs: 'skewed' },
  { name: '4 devices, balanced router (α = 0.01)', devices: 4, topK: 1, balanceCoef: 0.01, offsetInputs: 'initial' },
];

const defaultOut = fileURLToPath(new URL('../../reports/latest', import.meta.url));

/** Runs the demo for `argv` (without node and the script) and returns the exit code. */
export async function main(argv: string[], out: NodeJS.WriteStream = process.stdout, err: NodeJS.WriteStream = process.stderr): Promise<number> {
  let values;
  try {
    ({ values } = parseArgs({ args: argv, strict: true, allowPositionals: false, options: { quick: { type: 'boolean' }, out: { type: 'string' }, help: { type: 'boolean', short: 'h' } } }));
    if (values.out === '') throw new Error('--out: needs a directory');
  } catch (e) {
    err.write(`demo:devices: ${(e as Error).message.split('\n')[0]}\n`);
    return 2;
  }
  if (values.help) {
    out.write(usage + '\n');
    return 0;
  }
  const settings: Settings = values.quick ? { steps: 1, quick: true } : { steps: 5, quick: false };
  const dir = values.out === undefined ? defaultOut : resolve(process.env.INIT_CWD ?? process.cwd(), values.out);
  const started = performance.now();
  out.write(`demo:devices: ${specs.length} cases, E = ${model.numExperts}, ${model.groups * model.groupSize} tokens, dModel ${model.dModel}, dFF ${model.dFF}, ${availableParallelism()} cores\n`);
  const cases: CaseResult[] = [];
  for (const spec of specs) {
    const result = await runCase(spec, settings, (line) => err.write(`  ${line}\n`));
    cases.push(result);
    out.write(`${spec.name.padEnd(40)} step ${(result.stepSeconds * 1000).toFixed(0).padStart(5)} ms measured, ${(result.modelledStepSeconds * 1000).toFixed(0).padStart(5)} ms modelled, tokens per device ${result.perDevice.map((d) => Math.round(d.tokens)).join('/')}\n`);
  }
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'devices.json'), JSON.stringify({ cases }, null, 2) + '\n');
  writeFileSync(join(dir, 'devices.html'), page(cases, { ...machine(), settings, model }));
  out.write(`report in ${dir}/devices.html (${((performance.now() - started) / 1000).toFixed(0)} s)\n`);
  return 0;
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const args = process.argv.slice(2);
  process.exitCode = await main(args[0] === '--' ? args.slice(1) : args);
}
