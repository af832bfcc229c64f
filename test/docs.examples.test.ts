import { mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';

// Every ```ts block of the READMEs and docs runs here, as a module of its own (written under
// test/.docs-examples/ so that '@switch-ts/*' resolve to the sources like the other tests), and a
// line ending in `// → value` must evaluate to that value. A block that cannot run alone says so in
// its info string, ```ts fragment: <reason>, and is counted but not run.

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const scratch = join(root, 'test', '.docs-examples');
const stated = /^(\s*)(.+?);?\s*\/\/ → (.+)$/;

interface Block { doc: string; line: number; info: string; code: string }

function docs(): string[] {
  const inDir = (dir: string) => readdirSync(join(root, dir)).filter((f) => f.endsWith('.md')).map((f) => join(dir, f));
  const packages = readdirSync(join(root, 'packages')).map((p) => join('packages', p, 'README.md'));
  return ['README.md', ...packages, ...inDir('docs')];
}

function tsBlocks(doc: string): Block[] {
  const lines = readFileSync(join(root, doc), 'utf8').split('\n');
  const blocks: Block[] = [];
  for (let i = 0; i < lines.length; i++) {
    const open = /^```((?:ts|typescript)\b.*)$/.exec(lines[i]!);
    if (!open) continue;
    const end = lines.indexOf('```', i + 1);
    blocks.push({ doc, line: i + 2, info: open[1]!, code: lines.slice(i + 1, end).join('\n') });
    i = end;
  }
  return blocks;
}

/** The block as a module: each `expr; // → value` line becomes a check of expr against value. */
function instrument(block: Block): { source: string; checks: number } {
  let checks = 0;
  const lines = block.code.split('\n').map((text, i) => {
    const m = stated.exec(text);
    if (!m) return text;
    checks++;
    return `${m[1]}__checkStated(${m[2]}, ${m[3]}, ${JSON.stringify(`${block.doc}:${block.line + i}`)});`;
  });
  // Import declarations hoist, so this one at the end keeps the block's line numbers.
  lines.push(`import { checkStated as __checkStated } from ${JSON.stringify(pathToFileURL(join(root, 'test', 'stated.ts')).href)};`);
  return { source: lines.join('\n'), checks };
}

const blocks = docs().flatMap(tsBlocks);
const runnable = blocks.filter((b) => b.info === 'ts');
const fragments = blocks.filter((b) => b.info !== 'ts');

mkdirSync(scratch, { recursive: true });
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

describe('docs: ts code blocks', () => {
  it(`${runnable.length} blocks run, ${fragments.length} are marked as fragments with a reason`, () => {
    expect(runnable.length).toBeGreaterThan(0);
    for (const b of fragments) {
      expect(b.info, `${b.doc}:${b.line - 1}: a ts block is \`ts\` or \`ts fragment: <reason>\``).toMatch(/^ts fragment: \S/);
    }
  });

  it('README.md states outputs that the test checks', () => {
    expect(runnable.filter((b) => b.doc === 'README.md').reduce((n, b) => n + instrument(b).checks, 0)).toBeGreaterThan(0);
  });

  it.each(runnable.map((b) => [`${b.doc}:${b.line}`, b] as const))('%s runs and gives the outputs it states', async (_, block) => {
    const file = join(scratch, `${block.doc.replace(/[/.]/g, '_')}_${block.line}.ts`);
    writeFileSync(file, instrument(block).source);
    await import(pathToFileURL(file).href);
  });
});
