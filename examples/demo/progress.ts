import type { Progress } from './train.js';

const seconds = (s: number): string => (s >= 60 ? `${Math.floor(s / 60)}m${String(Math.round(s % 60)).padStart(2, '0')}s` : `${s.toFixed(0)}s`);

function describe(name: string, p: Progress): string {
  const eta = p.step > 0 ? (p.elapsedSeconds / p.step) * (p.steps - p.step) : 0;
  return `${name.padEnd(10)} step ${String(p.step).padStart(4)}/${p.steps}  loss ${p.loss.toFixed(3)}  ${Math.round(p.tokensPerSecond)} tok/s  ETA ${seconds(eta)}`;
}

/**
 * Progress of the runs in flight: on a TTY one redrawn bar per run, otherwise a plain line per
 * run every `every` steps and at its last step (logs and CI stay readable).
 */
export class ProgressView {
  private readonly active = new Map<string, Progress>();
  private readonly printed = new Map<string, number>();
  private drawnLines = 0;

  constructor(private readonly out: NodeJS.WriteStream, private readonly every: number) {}

  private get tty(): boolean {
    return this.out.isTTY === true;
  }

  update(name: string, p: Progress): void {
    this.active.set(name, p);
    if (this.tty) this.redraw();
    else if (p.step - (this.printed.get(name) ?? -Infinity) >= this.every || p.step === p.steps) {
      this.printed.set(name, p.step);
      this.out.write(describe(name, p) + '\n');
    }
  }

  /** Prints a permanent line (a finished run, a warning) above the bars. */
  log(line: string, finished?: string): void {
    if (finished) this.active.delete(finished);
    if (!this.tty) return void this.out.write(line + '\n');
    this.clear();
    this.out.write(line + '\n');
    this.redraw();
  }

  private clear(): void {
    if (this.drawnLines > 0) this.out.write(`\x1b[${this.drawnLines}A\x1b[0J`);
    this.drawnLines = 0;
  }

  private redraw(): void {
    this.clear();
    const width = 24;
    for (const [name, p] of this.active) {
      const filled = Math.round((width * p.step) / p.steps);
      this.out.write(`[${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${describe(name, p)}\n`);
    }
    this.drawnLines = this.active.size;
  }
}
