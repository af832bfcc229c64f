import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { startTorch, torchPythons } from '../bench/peers/torch.js';

/**
 * The PyTorch peer's plumbing only, no timings: a missing interpreter or a Python without torch
 * makes the peer unavailable with its reason (the bench then skips it), and where torch is
 * installed a small case builds and runs over the JSON-lines protocol.
 */
describe('bench: the PyTorch peer', () => {
  it('tries $TORCH_PYTHON alone when set, else python3 then /usr/bin/python3', () => {
    expect(torchPythons({ TORCH_PYTHON: '/opt/py' })).toEqual(['/opt/py']);
    expect(torchPythons({})).toEqual(['python3', '/usr/bin/python3']);
  });

  it('is unavailable, with the reason, when the interpreter does not exist', async () => {
    const started = await startTorch(['/nonexistent/python3']);
    expect(started.ok).toBe(false);
    if (!started.ok) expect(started.reason).toMatch(/nonexistent.*ENOENT/);
  });

  it('is unavailable, with the reason, when Python cannot import torch', async () => {
    // `python3 -S` skips site-packages, where an installed torch lives: a Python without torch.
    const dir = mkdtempSync(join(tmpdir(), 'torch-peer-'));
    const python = join(dir, 'python-without-torch');
    writeFileSync(python, '#!/bin/sh\nexec python3 -S "$@"\n', { mode: 0o755 });
    try {
      const started = await startTorch([python]);
      expect(started.ok).toBe(false);
      // Without any python3 on PATH the wrapper exits 127 instead: unavailable all the same.
      if (!started.ok) expect(started.reason).toMatch(/No module named 'torch'|exited with code 127/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('builds and runs a case when torch is installed', { timeout: 20_000 }, async (ctx) => {
    const started = await startTorch();
    // Where torch is missing (CI installs none), the test says why it did not run.
    if (!started.ok) ctx.skip(started.reason);
    if (!started.ok) return;
    const { peer } = started;
    try {
      expect(peer.info.threads).toBe(1);
      expect(await peer.build({ name: 'mm', kind: 'matmul', config: { n: 8 } })).toBeNull();
      const ms = await peer.run('mm', 3);
      expect(ms).toHaveLength(3);
      expect(ms.every((t) => Number.isFinite(t) && t >= 0)).toBe(true);
      const layer = { groups: 2, groupSize: 8, dModel: 4, dFF: 8, numExperts: 4, capacity: 2, balanceCoef: 0.01, zLossCoef: 0.001, seed: 1 };
      expect(await peer.build({ name: 'fwd', kind: 'switchForward', config: layer })).toBeNull();
      expect(await peer.run('fwd', 2)).toHaveLength(2);
      await expect(peer.run('no such case', 1)).rejects.toThrow(/torch peer: KeyError/);
    } finally {
      peer.close();
    }
  });
});
