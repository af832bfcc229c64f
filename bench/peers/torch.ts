import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

/**
 * The optional PyTorch peer: bench/peers/torch_peer.py in a Python child process, driven over
 * stdin/stdout with one JSON object per line (the protocol is documented at the top of the
 * script). Without a Python that imports torch the peer is unavailable, with the reason, and the
 * suites that use it skip it: PyTorch is never required.
 */
export interface TorchInfo {
  python: string;
  torch: string;
  threads: number;
  /** BLAS_INFO of torch's build, and the BLAS libraries the process has mapped (which one really runs). */
  blas: { build: string; libraries: string[] };
}

/** A case for torch_peer.py to build: its kind, shapes and settings, and for 'lm' the batch's tokens. */
export interface TorchBuild {
  name: string;
  kind: 'lm' | 'switch' | 'switchForward' | 'matmul';
  config: Record<string, unknown>;
  inputs?: number[];
  targets?: number[];
}

/** One JSON-lines request, as torch_peer.py reads it. */
type TorchRequest = ({ cmd: 'build' } & TorchBuild) | { cmd: 'run'; name: string; calls: number };

export interface TorchPeer {
  info: TorchInfo;
  /** Builds a case and runs it once untimed; resolves to its first loss (null for matmul). */
  build(req: TorchBuild): Promise<number | null>;
  /** Wall times in ms of `calls` calls, each timed inside Python (the pipe's latency is not in them). */
  run(name: string, calls: number): Promise<number[]>;
  close(): void;
}

export type TorchStart = { ok: true; peer: TorchPeer } | { ok: false; reason: string };

const script = fileURLToPath(new URL('./torch_peer.py', import.meta.url));

/**
 * Interpreters to try, in order: $TORCH_PYTHON alone when set; otherwise `python3` on PATH, then
 * /usr/bin/python3, because a distribution's torch (Debian's python3-torch) is installed for the
 * system Python, which need not be the first `python3` on PATH.
 */
export function torchPythons(env: NodeJS.ProcessEnv = process.env): string[] {
  return env.TORCH_PYTHON ? [env.TORCH_PYTHON] : ['python3', '/usr/bin/python3'];
}

/**
 * The child's environment. One thread for every pool (torch_peer.py sets the same before torch
 * loads; here too, in case a library reads them at process start). glibc's malloc is told to keep
 * freed memory instead of returning it to the kernel: by default every tensor above the mmap
 * threshold is a fresh mmap, and on this VM the page faults of touching fresh memory made a
 * SwitchLayer train step about ten times slower (186 ms against 11–17 ms, medians of 15 steps);
 * PyTorch deployments avoid the same with jemalloc or tcmalloc. The tuned peer is the fair one.
 */
function childEnv(): NodeJS.ProcessEnv {
  return {
    ...process.env,
    OMP_NUM_THREADS: '1', OPENBLAS_NUM_THREADS: '1', MKL_NUM_THREADS: '1',
    MALLOC_MMAP_THRESHOLD_: String(32 * 2 ** 20), // glibc's largest: arrays up to 32 MiB come from the heap
    MALLOC_TRIM_THRESHOLD_: String(2 ** 30), // never give the heap's top back
    MALLOC_TOP_PAD_: String(256 * 2 ** 20), // grow the heap in large steps
    PYTHONUNBUFFERED: '1',
  };
}

/** Starts one interpreter; resolves with its first line (the script's hello), or the reason it gave none. */
function startOne(python: string): Promise<TorchStart> {
  return new Promise((resolve) => {
    let child: ChildProcessWithoutNullStreams;
    try {
      child = spawn(python, [script], { env: childEnv(), stdio: ['pipe', 'pipe', 'pipe'] });
    } catch (e) {
      resolve({ ok: false, reason: `${python}: ${(e as Error).message}` });
      return;
    }
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => { stderr = (stderr + d.toString()).slice(-2000); });
    const lines = createInterface({ input: child.stdout });
    // Replies come in request order, one line each: a FIFO of waiting requests matches them up.
    const waiting: { resolve: (v: Record<string, unknown>) => void; reject: (e: Error) => void }[] = [];
    let hello: ((line: string) => void) | null = (line) => {
      hello = null;
      const msg = JSON.parse(line) as { ready: boolean; reason?: string } & TorchInfo;
      if (!msg.ready) {
        resolve({ ok: false, reason: `${python}: ${msg.reason}` });
        return;
      }
      const { ready: _ready, ...info } = msg;
      resolve({ ok: true, peer: makePeer(child, info, waiting) });
    };
    lines.on('line', (line) => {
      if (hello) { hello(line); return; }
      const msg = JSON.parse(line) as Record<string, unknown>;
      const next = waiting.shift();
      if (!next) return;
      if (typeof msg.error === 'string') next.reject(new Error(`torch peer: ${msg.error}`));
      else next.resolve(msg);
    });
    const fail = (why: string) => {
      const reason = `${python}: ${why}${stderr.trim() ? ` (${stderr.trim().split('\n').pop()})` : ''}`;
      if (hello) { hello = null; resolve({ ok: false, reason }); }
      for (const w of waiting.splice(0)) w.reject(new Error(`torch peer exited: ${reason}`));
    };
    child.on('error', (e) => fail(e.message)); // ENOENT: no such interpreter
    child.on('exit', (code, signal) => fail(`exited with ${signal ?? `code ${code}`} before answering`));
  });
}

function makePeer(child: ChildProcessWithoutNullStreams, info: TorchInfo, waiting: { resolve: (v: Record<string, unknown>) => void; reject: (e: Error) => void }[]): TorchPeer {
  const request = (req: TorchRequest) => new Promise<Record<string, unknown>>((resolve, reject) => {
    waiting.push({ resolve, reject });
    child.stdin.write(JSON.stringify(req) + '\n');
  });
  return {
    info,
    build: async (req) => (await request({ cmd: 'build', ...req })).loss as number | null,
    run: async (name, calls) => (await request({ cmd: 'run', name, calls })).ms as number[],
    close: () => { child.stdin.end(); },
  };
}

/** The first interpreter that imports torch, or why none did (every interpreter's reason). */
export async function startTorch(pythons: string[] = torchPythons()): Promise<TorchStart> {
  const reasons: string[] = [];
  for (const python of pythons) {
    const started = await startOne(python);
    if (started.ok) return started;
    reasons.push(started.reason);
  }
  return { ok: false, reason: reasons.join('; ') };
}
