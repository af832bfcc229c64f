import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { listKernels, type KernelListing } from '@switch-ts/tensor';

/**
 * "What runs where" is the registry's own answer, and the package README shows it: the table
 * below is generated from `listKernels`, so the README cannot drift from the code.
 */
const cell = (k: KernelListing): string => (k.runs === 'cpu fallback' ? 'CPU fallback' : k.note ? `✓ (${k.note})` : '✓');

function kernelTable(): string {
  const cpu = listKernels('cpu'), gpu = listKernels('gpu');
  const rows = cpu.map((k, i) => `| \`${k.kernel}\` | ${cell(k)} | ${cell(gpu[i]!)} |`);
  return ['| kernel | cpu | gpu |', '|---|---|---|', ...rows].join('\n');
}

describe('the kernel table', () => {
  it('the CPU backend implements every kernel, so every other backend can fall back to it', () => {
    expect(listKernels('cpu').every((k) => k.runs === 'backend')).toBe(true);
  });

  it('packages/tensor/README.md shows the table listKernels gives', () => {
    const readme = readFileSync(new URL('../packages/tensor/README.md', import.meta.url), 'utf8');
    expect(readme, `replace the README's kernel table by:\n${kernelTable()}`).toContain(kernelTable());
  });

  it('asking for an unknown backend names the registered ones', () => {
    expect(() => listKernels('tpu')).toThrow(/listKernels: no kernels registered for backend 'tpu'; registered: .*cpu/);
  });
});
