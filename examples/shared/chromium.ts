import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type BrowserContext } from 'playwright-core';

/**
 * Debian's chromium, headless, driven by playwright-core, which never downloads a browser of its
 * own: what the report screenshots and the playground's browser tests run in.
 */
export const chromiumPath = '/usr/bin/chromium';

/** Why chromium cannot run here, or null if it can. */
export const chromiumProblem: string | null = existsSync(chromiumPath) ? null : `${chromiumPath} is missing (Debian: apt-get install chromium)`;

/**
 * A fresh profile in a 1300 × 900 window. The flags keep chromium off the network it would call
 * at start (this machine refuses those connections) and off the GPU (there is none).
 */
export async function openChromium(): Promise<{ context: BrowserContext; close(): Promise<void> }> {
  const profile = mkdtempSync(join(tmpdir(), 'switch-ts-chromium-'));
  const removeProfile = (): void => rmSync(profile, { recursive: true, force: true });
  let context: BrowserContext;
  try {
    context = await chromium.launchPersistentContext(profile, {
      executablePath: chromiumPath,
      headless: true,
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
      viewport: { width: 1300, height: 900 },
    });
  } catch (e) {
    removeProfile();
    throw e;
  }
  return { context, close: async () => { await context.close(); removeProfile(); } };
}
