/**
 * The robot in a real browser (Debian's Chromium, headless): the inspector page the Gateway
 * serves on its WebSocket door, driven as a person would, and the browser client (`/qiact.js`)
 * used from a page's own script. The robot is the demo's service tree with RobotMetrics and a
 * Gateway, in this process. Screenshots go to test/artifacts.
 */
import test from 'ava';
import { request } from 'node:https';
import type { Browser, Page } from 'playwright-core';
import { gateway, hashToken, start, type ActorRef, type GatewayOptions, type Node, type SupervisorRef } from '../src/index.js';
import { robotTree, type Battery } from '../src/demo.js';
import { robotMetrics } from '../actors/metrics/robot-metrics.js';
import { makeCerts } from './_support/certs.js';
import { artifact, freshContext, launchChromium } from './_support/browser.js';
import { freePort } from './_support/real-parts.js';
import { cliEnv, qiact, running } from './_support/cli.js';

const certs = makeCerts();
const PAGE_WAIT = 15_000;

interface Robot {
  node: Node;
  tree: SupervisorRef;
  door: ActorRef;
  options: GatewayOptions;
  /** The door's page: https://127.0.0.1:port */
  origin: string;
  url: string;
}

let robot: Robot;
let browser: Browser;

test.before(async () => {
  const node = await start({ machineId: 'browser', onWarning: () => {} });
  const tree = await node.supervise(robotTree, { id: 'robot' });
  await node.spawn(robotMetrics(node, { interval: 250 }), { name: 'RobotMetrics' });
  // A fixed port, so that the gateway can be stopped and started again where clients left it.
  const port = await freePort();
  const options: GatewayOptions = {
    listen: 'tls://127.0.0.1:0',
    webSocket: { listen: `wss://127.0.0.1:${port}` },
    cert: certs.server.cert,
    key: certs.server.key,
    tokens: { operator: hashToken('operator-token'), viewer: hashToken('viewer-token') },
    permissions: {
      operator: { allow: ['battery.*', 'motion.*', 'tts.*', 'RobotMetrics.*'] },
      viewer: { allow: ['battery.*', 'tts.*', 'RobotMetrics.samples', 'RobotMetrics.treesChanged'], readOnly: true },
    },
    // The demo's TextToSpeech declares no schemas; the operator may still call it.
    allowUndeclared: true,
    limits: { failureDelay: 50 },
  };
  const door = (await node.spawn(gateway(options), { name: 'Gateway' }))!;
  robot = { node, tree, door, options, origin: `https://127.0.0.1:${port}`, url: `wss://127.0.0.1:${port}` };
  browser = await launchChromium();
});

test.after.always(async () => {
  await browser?.close();
  await robot?.node.stop();
});

/** A fresh page of the inspector, logged in with `token`, its tree on screen. */
async function loggedIn(token: string): Promise<Page> {
  const page = await (await freshContext(browser)).newPage();
  await page.goto(`${robot.origin}/`);
  await page.fill('#token', token);
  await page.click('#login button[type=submit]');
  await page.waitForSelector('[data-child="battery"]', { timeout: PAGE_WAIT });
  return page;
}

async function restartsOf(id: string): Promise<number> {
  return (await robot.tree.whichChildren()).find((c) => c.id === id)!.restarts;
}

test.serial('the inspector logs in with a token, shows the demo tree, calls battery.drain, sees the level change live, and sees a crash and its restart', async (t) => {
  const battery = await robot.node.service<Battery>('battery');
  const before = await battery.level.get();
  const page = await loggedIn('operator-token');
  t.false(page.url().includes('operator-token'), 'the token is never in the URL');
  t.is(await page.textContent('#who'), 'as operator');
  for (const child of ['battery', 'motion', 'tts', 'RobotMetrics', 'Gateway']) t.true(await page.isVisible(`[data-child="${child}"]`), `${child} in the tree`);

  // A call from the page, and its result in the property's live value.
  await page.click('[data-service="battery"]');
  await page.fill('form[data-method="drain"] input', '10');
  await page.click('form[data-method="drain"] button.call');
  await page.waitForSelector(`[data-property="level"]:text-is("${before - 10}")`, { timeout: PAGE_WAIT });
  t.regex((await page.textContent('form[data-method="drain"] output'))!, new RegExp(`→ ${before - 10} `));
  // A change made elsewhere shows without a reload.
  await battery.drain(5);
  await page.waitForSelector(`[data-property="level"]:text-is("${before - 15}")`, { timeout: PAGE_WAIT });

  // A crash: the call fails on the page, and the tree shows the restart as it happens.
  const restarts = await restartsOf('tts');
  await page.click('[data-service="tts"]');
  await page.click('form[data-method="glitch"] button.call');
  await page.waitForSelector('form[data-method="glitch"] output.error', { timeout: PAGE_WAIT });
  t.regex((await page.textContent('form[data-method="glitch"] output'))!, /audio device lost/);
  await page.waitForSelector(`[data-child="tts"] [data-restarts="${restarts + 1}"]`, { timeout: PAGE_WAIT });
  await page.waitForSelector('#events li.restart', { timeout: PAGE_WAIT });
  t.regex((await page.textContent('#events li.restart'))!, /tts restarted/);
  await page.screenshot({ path: artifact('inspect-operator.png'), fullPage: true });
  await page.context().close();
});

test.serial('a read-only identity sees the tree and the values, and no call buttons or setters', async (t) => {
  const page = await loggedIn('viewer-token');
  t.is(await page.textContent('#who'), 'as viewer');
  await page.click('[data-service="battery"]');
  await page.waitForSelector('[data-property="level"]:not(:text-is("…"))', { timeout: PAGE_WAIT });
  t.true(await page.isVisible('#read-only'));
  t.is(await page.locator('button.call').count(), 0, 'no call buttons');
  t.is(await page.locator('form.set').count(), 0, 'no property setters');
  t.is(await page.locator('button.watch').count(), 1, 'it may watch battery.low');
  t.false(await page.isVisible('[data-service="motion"]'), 'a service it may not use is not listed');
  await page.screenshot({ path: artifact('inspect-viewer.png'), fullPage: true });
  await page.context().close();
});

test.serial('a wrong token is refused on the page with the reason, and nothing else happens', async (t) => {
  const page = await (await freshContext(browser)).newPage();
  await page.goto(`${robot.origin}/`);
  await page.fill('#token', 'not-a-token');
  await page.click('#login button[type=submit]');
  await page.waitForSelector('#login-error:not(:empty)', { timeout: PAGE_WAIT });
  t.regex((await page.textContent('#login-error'))!, /token/i);
  t.true(await page.isHidden('#app'));
  t.is(await page.inputValue('#token'), '', 'the token field is cleared');
  await page.context().close();
});

/** Runs in the page: the shared state of the browser-client test. */
interface PageGlobals {
  session: { connected: boolean; identity: string; service(name: string): Promise<Record<string, unknown>>; close(): Promise<void> };
  levels: number[];
  warnings: string[];
}

test.serial('the browser client from /qiact.js calls, subscribes, and after the gateway restarts reconnects with its subscription back', async (t) => {
  const page = await (await freshContext(browser)).newPage();
  await page.goto(`${robot.origin}/`);
  const first = await page.evaluate(async (url) => {
    const client = '/qiact.js';
    const { connect } = (await import(client)) as { connect(url: string, options: object): Promise<PageGlobals['session']> };
    const g = globalThis as unknown as PageGlobals;
    g.levels = [];
    g.warnings = [];
    g.session = await connect(url, { token: 'operator-token', reconnect: { firstDelay: 50, maxDelay: 250 }, onWarning: (m: string) => g.warnings.push(m) });
    const battery = (await g.session.service('battery')) as { drain(p: number): Promise<number>; level: { connect(f: (v: number) => void): Promise<unknown> } };
    await battery.level.connect((v) => g.levels.push(v));
    return { identity: g.session.identity, drained: await battery.drain(1) };
  }, robot.url);
  t.is(first.identity, 'operator');
  await page.waitForFunction((level) => (globalThis as unknown as PageGlobals).levels.includes(level), first.drained, { timeout: PAGE_WAIT });

  // The gateway goes away and comes back on the same door.
  await robot.door.stop();
  await page.waitForFunction(() => !(globalThis as unknown as PageGlobals).session.connected, undefined, { timeout: PAGE_WAIT });
  robot.door = (await robot.node.spawn(gateway(robot.options), { name: 'Gateway' }))!;
  await page.waitForFunction(() => (globalThis as unknown as PageGlobals).session.connected, undefined, { timeout: PAGE_WAIT });

  // The subscription is back: a change made inside the robot reaches the page's listener.
  const battery = await robot.node.service<Battery>('battery');
  const level = await battery.drain(2);
  await page.waitForFunction((l) => (globalThis as unknown as PageGlobals).levels.includes(l), level, { timeout: PAGE_WAIT });
  const after = await page.evaluate(async () => {
    const g = globalThis as unknown as PageGlobals;
    const b = (await g.session.service('battery')) as { level: { get(): Promise<number> } };
    return { level: await b.level.get(), warnings: g.warnings };
  });
  t.is(after.level, level);
  t.true(after.warnings.some((w) => w.startsWith('lost')) && after.warnings.some((w) => w.startsWith('reconnected')), after.warnings.join('; '));
  await page.evaluate(() => (globalThis as unknown as PageGlobals).session.close());
  await page.context().close();
});

/** One HTTPS request to the door, as a program (no browser) would make it. */
function fetchDoor(path: string, method = 'GET'): Promise<{ status: number; headers: Record<string, string | string[] | undefined>; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request(`${robot.origin}${path}`, { method, ca: certs.ca }, (response) => {
      let body = '';
      response.on('data', (chunk: Buffer) => (body += chunk.toString()));
      response.on('end', () => resolve({ status: response.statusCode!, headers: response.headers, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

test.serial('the door serves the page with strict headers, and nothing but its files', async (t) => {
  const page = await fetchDoor('/');
  t.is(page.status, 200);
  t.regex(String(page.headers['content-type']), /^text\/html/);
  t.regex(String(page.headers['content-security-policy']), /script-src 'self'.*connect-src 'self'.*frame-ancestors 'none'/);
  t.is(page.headers['x-content-type-options'], 'nosniff');
  t.is((await fetchDoor('/qiact.js')).status, 200);
  t.is((await fetchDoor('/../package.json')).status, 404);
  t.is((await fetchDoor('/etc/passwd')).status, 404);
  t.is((await fetchDoor('/', 'POST')).status, 405);
  t.deepEqual(JSON.parse((await fetchDoor('/config.json')).body), { gateway: null });
});

test.serial('qiact inspect serves the page on loopback, and the robot lets that page in only once its gateway lists the origin', async (t) => {
  const refused = await qiact(cliEnv(), 'inspect', '--listen', '0.0.0.0:8080', '--gateway', robot.url);
  t.is(refused.code, 2);
  t.regex(refused.stderr, /loopback only/);
  const injected = await qiact(cliEnv(), 'inspect', '--gateway', "wss://robot;script-src *:9444");
  t.is(injected.code, 2, 'a gateway URL that is not a host and port never reaches the CSP header');
  t.regex(injected.stderr, /--gateway takes the robot's WebSocket door/);

  const inspector = running(t, cliEnv(), 'inspect', '--listen', '127.0.0.1:0', '--gateway', robot.url, '--json');
  const { url, origin } = JSON.parse(await inspector.line('stdout', /"listening"/)) as { url: string; origin: string };
  t.regex(url, /^http:\/\/127\.0\.0\.1:\d+\/$/);
  const page = await (await freshContext(browser)).newPage();
  await page.goto(url);
  await page.waitForFunction((gw) => (globalThis as unknown as { document: { querySelector(s: string): { value: string } } }).document.querySelector('#gateway').value === gw, robot.url, { timeout: PAGE_WAIT });
  const login = async (): Promise<void> => {
    await page.fill('#token', 'operator-token');
    await page.click('#login button[type=submit]');
  };

  // The gateway does not know this origin: the browser's WebSocket is refused at the upgrade.
  await login();
  await page.waitForSelector('#login-error:not(:empty)', { timeout: PAGE_WAIT });
  t.regex((await page.textContent('#login-error'))!, /could not open the WebSocket/);

  // Listed in webSocket.origins, the same page gets in.
  await robot.door.stop();
  robot.options = { ...robot.options, webSocket: { ...robot.options.webSocket!, origins: [origin] } };
  robot.door = (await robot.node.spawn(gateway(robot.options), { name: 'Gateway' }))!;
  await login();
  await page.waitForSelector('[data-child="battery"]', { timeout: PAGE_WAIT });
  t.is(await page.textContent('#who'), 'as operator');
  await page.context().close();
  t.is(await inspector.stop(), 0);
});
