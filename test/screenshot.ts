/**
 * `npx tsx test/screenshot.ts [out.png]`: the README's picture of the console. Starts `npm run demo`'s script
 * (test/demo.ts) with 60 apps, waits for its ready line, opens the page in Debian's chromium with one app's
 * detail open, and saves a PNG (default docs/console.png). Stops the demo with SIGINT.
 */
import { spawn } from 'node:child_process';
import { resolve } from 'node:path';
import { launchBrowser } from './helpers/browser.js';

const root = resolve(new URL('..', import.meta.url).pathname);
const out = resolve(process.argv[2] ?? `${root}/docs/console.png`);
const api = Number(process.env.DEMO_API_PORT ?? 18000);
const demo = spawn(process.execPath, ['--import', 'tsx', `${root}/test/demo.ts`, '--apps', '60'], {
  env: { ...process.env, DEMO_API_PORT: String(api), DEMO_HTTP_PORT: String(api + 80), DEMO_MARATHON_PORT: String(api + 90), CULM_DATA_DIR: `/tmp/culm-screenshot-${process.pid}` },
  stdio: ['ignore', 'pipe', 'pipe'],
});
let output = '';
await new Promise<void>((ready, fail) => {
  const timer = setTimeout(() => fail(new Error(`no ready line in 120 s:\n${output}`)), 120_000);
  const read = (chunk: Buffer): void => {
    output += chunk.toString();
    if (/^ready/m.test(output)) {
      clearTimeout(timer);
      ready();
    }
  };
  demo.stdout!.on('data', read);
  demo.stderr!.on('data', read);
});
const browser = await launchBrowser();
try {
  const page = await browser.newPage({ viewport: { width: 1200, height: 820 } });
  await page.goto(`http://127.0.0.1:${api}/?q=web&open=%2Fweb`);
  await page.waitForTimeout(2500); // the live stream connects, the detail reads HAProxy's state
  await page.screenshot({ path: out });
  console.log(`saved ${out}`);
} finally {
  await browser.close();
  demo.kill('SIGINT');
}
