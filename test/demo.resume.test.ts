import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';

/**
 * Runs survive a kill at any moment: the demo writes each run to disk when it finishes, and
 * `--resume` picks the finished ones up. The demo is started as one node process (tsx as a loader,
 * not tsx's CLI, which would put a second process between the test and the demo), so that
 * SIGKILL reaches the demo itself, as it would from the OOM killer or a closed terminal.
 */
const tmp = mkdtempSync(join(tmpdir(), 'switch-resume-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

const args = ['--quick', '--experiments', 'topk'];
/** A quick run has one seed, 0: each run is NAME-s0. */
const runNames = ['e4-cf1-s0', 'e4-top2-s0', 'e4-top4-s0'];

interface Exit { code: number | null; signal: NodeJS.Signals | null; stdout: string; stderr: string }

/** Starts the demo; `finished` settles when it exits (or after 240 s, killed). */
function demo(extra: string[]): { finished: Promise<Exit>; kill: () => void } {
  const child = spawn(process.execPath, ['--import', 'tsx', '--conditions=development', 'examples/demo/main.ts', ...args, ...extra], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '', stderr = '';
  child.stdout.on('data', (d: Buffer) => { stdout += d; });
  child.stderr.on('data', (d: Buffer) => { stderr += d; });
  const timer = setTimeout(() => child.kill('SIGKILL'), 240_000);
  // 'close', not 'exit': it waits for every process that holds the pipes, the training processes too.
  const finished = new Promise<Exit>((resolve) => child.on('close', (code, signal) => {
    clearTimeout(timer);
    resolve({ code, signal, stdout, stderr });
  }));
  return { finished, kill: () => child.kill('SIGKILL') };
}

const finishedRuns = (out: string): string[] =>
  existsSync(join(out, 'runs')) ? readdirSync(join(out, 'runs')).filter((name) => existsSync(join(out, 'runs', name, 'run.json'))).sort() : [];

/** results.json without what depends on the clock and the machine. */
function results(out: string): unknown {
  const r = JSON.parse(readFileSync(join(out, 'results.json'), 'utf8'));
  delete r.machine;
  for (const run of r.runs) {
    delete run.tokensPerSecond;
    delete run.wallSeconds;
    delete run.secondsPerStep;
    for (const point of run.curve) point[1] = 0;
  }
  return r;
}

/** A run's CSV without its seconds column. */
const csv = (out: string, name: string): string[][] =>
  readFileSync(join(out, 'runs', `${name}.csv`), 'utf8').trim().split('\n').map((line) => line.split(',').filter((_, i) => i !== 2));

describe('pnpm demo: durable runs and --resume', () => {
  const whole = join(tmp, 'whole'), killed = join(tmp, 'killed');
  let survivors: string[] = [];
  let before = new Map<string, { mtimeMs: number; bytes: Buffer }>();

  it('runs uninterrupted, for comparison', async () => {
    const r = await demo(['--out', whole]).finished;
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(finishedRuns(whole)).toEqual([...runNames].sort());
  }, 300_000);

  it('killed with SIGKILL the moment a run has finished, leaves that run on disk, and a report of no other', async () => {
    const started = demo(['--out', killed]);
    for (let waited = 0; finishedRuns(killed).length === 0; waited += 20) {
      if (waited > 240_000) throw new Error('no run finished within 240 s');
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    started.kill();
    const r = await started.finished;
    expect(r.signal).toBe('SIGKILL');
    // Its training processes noticed that it is gone, and ended quietly without finishing their runs.
    expect(r.stderr).toBe('');
    survivors = finishedRuns(killed);
    expect(survivors.length).toBeGreaterThan(0);
    expect(survivors.length).toBeLessThan(runNames.length);
    // The report follows each run within a second; the kill may land before it.
    if (existsSync(join(killed, 'results.json'))) {
      const report = JSON.parse(readFileSync(join(killed, 'results.json'), 'utf8'));
      for (const run of report.runs) expect(survivors).toContain(`${run.name}-s${run.seed}`);
      expect(report.settings.pending.length).toBeGreaterThan(0);
    }
    before = new Map(survivors.flatMap((name) => ['run.json', 'model.safetensors'].map((file) => {
      const path = join(killed, 'runs', name, file);
      return [path, { mtimeMs: statSync(path).mtimeMs, bytes: readFileSync(path) }];
    })));
  }, 300_000);

  it('--resume reuses the finished runs untouched, trains the rest, and completes a report equal to the uninterrupted one but for timings', async () => {
    const r = await demo(['--out', killed, '--resume']).finished;
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    for (const name of survivors) expect(r.stdout).toMatch(new RegExp(`^resumed ${name} `, 'm'));
    for (const name of runNames.filter((n) => !survivors.includes(n))) expect(r.stdout).not.toMatch(new RegExp(`^resumed ${name} `, 'm'));
    for (const [path, { mtimeMs, bytes }] of before) {
      expect(statSync(path).mtimeMs, path).toBe(mtimeMs);
      expect(readFileSync(path).equals(bytes), path).toBe(true);
    }
    expect(finishedRuns(killed)).toEqual([...runNames].sort());
    expect(results(killed)).toEqual(results(whole));
    for (const name of runNames) expect(csv(killed, name), name).toEqual(csv(whole, name));
    expect(readFileSync(join(killed, 'index.html'), 'utf8')).not.toContain('class="warn"');
  }, 300_000);

  it('--resume with different settings retrains instead of reusing', async () => {
    const r = await demo(['--out', killed, '--resume', '--steps', '3']).finished;
    expect(r.code).toBe(0);
    expect(r.stdout).not.toMatch(/^resumed /m);
  }, 300_000);
});
