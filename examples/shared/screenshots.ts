/**
 * `pnpm report:screenshots [DIR]`: each section of DIR/index.html (default reports/example) and of
 * DIR/devices.html if present, as DIR/screenshots/NAME.png at 1300 px wide, in Debian's headless
 * chromium driven by playwright-core: the check that every chart reads at that width, kept
 * beside the report it shows.
 */
import { existsSync, mkdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { chromiumProblem, openChromium } from './chromium.js';

const dir = resolve(process.env.INIT_CWD ?? process.cwd(), process.argv[2] ?? 'reports/example');
if (chromiumProblem !== null) throw new Error(`report:screenshots: ${chromiumProblem}`);

const { context, close } = await openChromium();
try {
  const page = await context.newPage();
  const out = join(dir, 'screenshots');
  mkdirSync(out, { recursive: true });
  for (const [file, prefix] of [['index.html', ''], ['devices.html', 'devices-']] as const) {
    if (!existsSync(join(dir, file))) continue;
    await page.goto(pathToFileURL(join(dir, file)).href);
    // The page's head (title, settings, the verdict table), then each section.
    const first = await page.locator('section').first().boundingBox();
    if (first) await page.screenshot({ path: join(out, `${prefix}summary.png`), clip: { x: 0, y: 0, width: 1300, height: first.y } });
    for (const section of await page.locator('section').all()) {
      const id = await section.getAttribute('id');
      await section.screenshot({ path: join(out, `${prefix}${id}.png`) });
      process.stdout.write(`${join(out, `${prefix}${id}.png`)}\n`);
    }
  }
} finally {
  await close();
}
