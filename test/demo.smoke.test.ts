import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';

/** `pnpm demo`, run the way the README runs it: through tsx, from the repository root. */
function demo(...args: string[]): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync('npx', ['tsx', '--conditions=development', 'examples/demo/main.ts', ...args], { encoding: 'utf8', timeout: 600_000 });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

const runFields = [
  'name', 'seed', 'experiment', 'numExperts', 'topK', 'capacityFactor', 'balanceCoef', 'params', 'flopsPerToken', 'switchFlopsPerToken',
  'evalSwitchFlopsPerToken', 'evalDroppedFraction', 'finalLoss', 'tokensPerSecond', 'secondsPerStep', 'wallSeconds', 'droppedFraction', 'routerEntropy',
  'tokensPerExpert', 'stepLoadCV', 'stepLoadMaxOverMean', 'specialization', 'curve',
];
const tmp = mkdtempSync(join(tmpdir(), 'switch-demo-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

describe('pnpm demo --quick', () => {
  const out = join(tmp, 'report');
  let run: ReturnType<typeof demo>;

  // How long it takes is measured, not asserted (README: about half a minute on 2 quiet cores).
  it('finishes with exit code 0 and nothing on stderr', () => {
    run = demo('--quick', '--out', out);
    expect(run.stderr).toBe('');
    expect(run.status).toBe(0);
  }, 600_000);

  it('writes a self-contained index.html with inline SVG charts for every experiment', () => {
    const html = readFileSync(join(out, 'index.html'), 'utf8');
    expect(html).toMatch(/^<!doctype html>/);
    expect(html).toContain('<svg');
    expect(html).not.toMatch(/<script|<link |src="http/);
    for (const id of ['scaling', 'topk', 'balance', 'capacity', 'specialization']) expect(html).toContain(`<section id="${id}">`);
    // The routing study runs when asked for: not in the default set.
    expect(html).not.toContain('<section id="routing">');
  });

  it('says in a banner that a quick run checks the plumbing, not the claims, and judges no claim', () => {
    const html = readFileSync(join(out, 'index.html'), 'utf8');
    expect(html).toContain('<p class="banner"><b>Quick run:</b>');
    expect(html).toContain('checks that the demo works end to end (the plumbing), not the claims');
    expect(html).not.toMatch(/<span class="badge">(holds|does not hold)|<td class="(holds|fails)">/);
    expect(html.match(/not judged \(quick run\)/g)?.length).toBeGreaterThanOrEqual(2 * 7);
  });

  it('writes results.json with exactly the documented fields and finite losses for every run, and a CSV per run', () => {
    const results = JSON.parse(readFileSync(join(out, 'results.json'), 'utf8'));
    expect(results.version).toBe(2);
    expect(results.settings).toMatchObject({ quick: true, seeds: [0] });
    expect(results.machine).toBeTypeOf('object');
    expect(new Set(results.runs.map((r: { experiment: string }) => r.experiment))).toEqual(new Set(['scaling', 'topk', 'balance', 'capacity', 'specialization']));
    for (const r of results.runs) {
      expect(Object.keys(r).sort()).toEqual([...runFields].sort());
      expect(Number.isFinite(r.finalLoss)).toBe(true);
      expect(r.tokensPerExpert).toHaveLength(r.numExperts);
      for (const field of ['evalSwitchFlopsPerToken', 'stepLoadCV', 'stepLoadMaxOverMean']) expect(Number.isFinite(r[field]), field).toBe(true);
      expect(r.seed).toBe(0);
      expect(existsSync(join(out, 'runs', `${r.name}-s0.csv`))).toBe(true);
      const losses = readFileSync(join(out, 'runs', `${r.name}-s0.csv`), 'utf8').trim().split('\n').slice(1).map((line) => Number(line.split(',')[4]));
      expect(losses.every(Number.isFinite)).toBe(true);
    }
    const dense = results.runs.find((r: { name: string }) => r.name === 'dense');
    expect(dense).toMatchObject({ experiment: 'scaling', numExperts: 1 });
  });
});

describe('pnpm demo --quick --experiments routing', () => {
  const out = join(tmp, 'routing');
  let run: ReturnType<typeof demo>;
  const study = ['switch-aux', 'loss-free', 'loss-free-g0.01', 'expert-choice', 'fine-grained-shared', 'switch-aux-seq', 'global-batch', 'dropless'];

  it('finishes with exit code 0 and nothing on stderr', () => {
    run = demo('--quick', '--experiments', 'routing', '--out', out);
    expect(run.stderr).toBe('');
    expect(run.status).toBe(0);
  }, 600_000);

  it('renders the routing section alone: its verdicts unjudged, the expert-choice warning, the caveats beside the runs, a chart per measure', () => {
    const html = readFileSync(join(out, 'index.html'), 'utf8');
    const section = /<section id="routing">[\s\S]*?<\/section>/.exec(html)?.[0] ?? '';
    expect(section).not.toBe('');
    expect(html).not.toContain('<section id="scaling">');
    expect(section.match(/not judged \(quick run\)/g)).toHaveLength(7);
    expect(section).toContain('Expert choice is not causal');
    expect(section).toContain('not causal: in a decoder');
    for (const title of ['Held-out loss − switch-aux', 'Load imbalance: CV', 'Load imbalance: busiest expert', 'Fraction of tokens dropped', 'Profiled forward FLOPs per token', 'Training tokens per second']) {
      expect(section).toContain(title);
    }
    expect(existsSync(join(out, 'routing.svg'))).toBe(true);
  });

  it('writes results.json with the study\'s runs: the routed experts\' load, no drop when dropless, expert choice balanced', () => {
    const results = JSON.parse(readFileSync(join(out, 'results.json'), 'utf8'));
    const runs = new Map<string, Record<string, unknown> & { tokensPerExpert: number[] }>(results.runs.map((r: { name: string }) => [r.name, r]));
    expect([...runs.keys()]).toEqual(study);
    for (const r of runs.values()) {
      expect(Object.keys(r).sort()).toEqual([...runFields].sort());
      expect(r.experiment).toBe('routing');
      expect(Number.isFinite(r.finalLoss)).toBe(true);
    }
    // 4 segments of 8 experts, one of them shared: 31 routed experts.
    expect(runs.get('fine-grained-shared')!.tokensPerExpert).toHaveLength(31);
    expect(runs.get('dropless')!.droppedFraction).toBe(0);
    expect(runs.get('expert-choice')!.stepLoadCV).toBe(0);
  });
});

describe('pnpm demo: command-line errors are one line and exit code 2', () => {
  /** Bytes that are not UTF-8, as in an executable: an ELF header, then a seeded pseudo-random body. */
  const binary = Uint8Array.from({ length: 4096 }, (_, i) => (i < 4 ? [0x7f, 0x45, 0x4c, 0x46][i]! : (i * 2654435761) >>> 24));
  const cases: [string, string[], string | RegExp][] = [
    ['an unknown flag', ['--frobnicate'], "demo: Unknown option '--frobnicate'"],
    ['an unknown experiment', ['--experiments', 'scaling,nope'], "demo: --experiments: unknown 'nope'; choose from scaling, topk, balance, capacity, specialization, routing"],
    ['a non-integer step count', ['--steps', '1.5'], "demo: --steps must be an integer from 1 to 1000000, got '1.5'"],
    ['zero steps', ['--steps', '0'], "demo: --steps must be an integer from 1 to 1000000, got '0'"],
    ['a negative step count', ['--steps', '-3'], "demo: --steps must be an integer from 1 to 1000000, got '-3'"],
    ['an option where a value belongs, with the whole hint', ['--seed', '--quick'], "demo: Option '--seed' argument is ambiguous. Did you forget to specify the option argument for '--seed'? To specify an option argument starting with a dash use '--seed=-XYZ'."],
    ['an unreadable text file', ['--text', join(tmp, 'missing.txt')], /^demo: --text: cannot read .*missing\.txt: ENOENT/],
    ['an empty text', ['--text', join(tmp, 'empty.txt')], /^demo: --text: .*empty\.txt is empty/],
    ['a text too short for the model', ['--text', join(tmp, 'short.txt')], /^demo: --text: .*short\.txt: the text has 9 characters; at least 660 are needed/],
    ['a binary file (an executable)', ['--text', join(tmp, 'program')], /^demo: --text: .*program is not UTF-8 text/],
    ['UTF-8 that is mostly control characters', ['--text', join(tmp, 'controls.txt')], /^demo: --text: .*controls\.txt does not look like text: 50% of its characters are control characters/],
  ];
  writeFileSync(join(tmp, 'empty.txt'), '  \n');
  writeFileSync(join(tmp, 'short.txt'), 'too short');
  writeFileSync(join(tmp, 'program'), binary);
  writeFileSync(join(tmp, 'controls.txt'), 'ab\x01\0'.repeat(100));
  it.each(cases)('%s', (_name, args, message) => {
    const r = demo(...args, '--out', join(tmp, 'never'));
    expect(r.status).toBe(2);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    if (typeof message === 'string') expect(r.stderr.trim()).toBe(message);
    else expect(r.stderr.trim()).toMatch(message);
    expect(existsSync(join(tmp, 'never'))).toBe(false);
  });

  it('--help prints the usage and exits 0', () => {
    const r = demo('--help');
    expect(r.status).toBe(0);
    expect(r.stdout).toContain('--experiments');
  });
});
