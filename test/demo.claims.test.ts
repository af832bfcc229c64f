import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';

/**
 * The paper's claims, checked on a full `pnpm demo` run (about 5 minutes), so not in the default
 * test run: `DEMO_CLAIMS=1 pnpm test test/demo.claims`. DEMO_REPORT=DIR checks an existing report
 * instead of running the demo.
 */
const enabled = process.env.DEMO_CLAIMS === '1';

interface Run { name: string; experiment: string; numExperts: number; topK: number; balanceCoef: number | null; flopsPerToken: number; finalLoss: number; tokensPerExpert: number[] }
interface Results { runs: Run[]; switchFlopsPerToken: Record<string, number> }

describe.skipIf(!enabled)('the Switch Transformer claims at toy scale (DEMO_CLAIMS=1; skipped by default: a full demo takes ~5 minutes)', () => {
  const tmp = mkdtempSync(join(tmpdir(), 'switch-claims-'));
  afterAll(() => rmSync(tmp, { recursive: true, force: true }));
  let results: Results;
  const run = (experiment: string, pick: (r: Run) => boolean): Run => {
    const found = results.runs.find((r) => r.experiment === experiment && pick(r));
    if (!found) throw new Error(`no ${experiment} run matches`);
    return found;
  };

  it('runs the full demo', () => {
    let dir = process.env.DEMO_REPORT;
    if (!dir) {
      dir = join(tmp, 'report');
      const r = spawnSync('npx', ['tsx', '--conditions=development', 'examples/demo/main.ts', '--out', dir], { encoding: 'utf8', timeout: 900_000 });
      expect(r.status, r.stderr).toBe(0);
    }
    results = JSON.parse(readFileSync(join(dir, 'results.json'), 'utf8'));
  }, 900_000);

  it('Switch E = 8 reaches a lower loss than the dense baseline with FLOPs per token within 10%', () => {
    const dense = run('scaling', (r) => r.name === 'dense'), e8 = run('scaling', (r) => r.numExperts === 8);
    expect(e8.finalLoss).toBeLessThan(dense.finalLoss);
    expect(Math.abs(e8.flopsPerToken / dense.flopsPerToken - 1)).toBeLessThanOrEqual(0.1);
  });

  // Seeds 0, 1, 2 put every Switch run below dense, and E = 8 and 16 0.09–0.18 nats below it; the
  // order among E = 2…16 is within run-to-run noise (about ±0.05), so it is not asserted.
  it('every Switch run of the scaling experiment beats dense, and E = 8 and 16 by at least 0.05 nats', () => {
    const dense = run('scaling', (r) => r.name === 'dense');
    const switches = results.runs.filter((r) => r.experiment === 'scaling' && r.numExperts > 1);
    expect(switches.map((r) => r.numExperts)).toEqual([2, 4, 8, 16]);
    for (const r of switches) expect(r.finalLoss, r.name).toBeLessThan(dense.finalLoss);
    for (const r of switches.filter((r) => r.numExperts >= 8)) expect(r.finalLoss, r.name).toBeLessThan(dense.finalLoss - 0.05);
  });

  it('top-1 costs at most 0.3 of the dense ensemble\'s expert-layer FLOPs (E = 4)', () => {
    const top1 = run('topk', (r) => r.topK === 1), all = run('topk', (r) => r.topK === r.numExperts);
    expect(results.switchFlopsPerToken[top1.name]! / results.switchFlopsPerToken[all.name]!).toBeLessThanOrEqual(0.3);
  });

  it('α = 0 puts more tokens on its busiest expert than α = 0.01', () => {
    const share = (r: Run): number => Math.max(...r.tokensPerExpert) / r.tokensPerExpert.reduce((a, b) => a + b, 0);
    expect(share(run('balance', (r) => r.balanceCoef === 0))).toBeGreaterThan(share(run('balance', (r) => r.balanceCoef === 0.01)));
  });
});
