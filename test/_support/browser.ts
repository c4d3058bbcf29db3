import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { chromium, type Browser, type BrowserContext } from 'playwright-core';
import { ensureDebianPackage } from './real-parts.js';

const CHROMIUM = '/usr/bin/chromium';

/** Where tests write what a person may want to look at afterwards (screenshots): test/artifacts. */
export function artifact(name: string): string {
  const folder = join(import.meta.dirname, '..', 'artifacts');
  mkdirSync(folder, { recursive: true });
  return join(folder, name);
}

/**
 * Debian's Chromium, headless, driven by playwright-core (which downloads nothing). One per test
 * file (closed by the file's `after.always`): it is heavy on two cores. As root it needs --no-sandbox.
 */
export function launchChromium(): Promise<Browser> {
  ensureDebianPackage('chromium', CHROMIUM);
  return chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox', '--disable-dev-shm-usage'], timeout: 60_000 });
}

/**
 * A browser context (a fresh profile) that accepts the test CA's gateway certificate: the tests'
 * CA is not in Chromium's trust store, and the gateway's own origin check is what is tested.
 */
export async function freshContext(browser: Browser): Promise<BrowserContext> {
  const context = await browser.newContext({ ignoreHTTPSErrors: true, viewport: { width: 1280, height: 900 } });
  // Functions a test passes to page.evaluate are compiled by tsx, which names them with a helper
  // `__name` the page does not have.
  await context.addInitScript('globalThis.__name = (f) => f;');
  return context;
}
