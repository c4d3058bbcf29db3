/**
 * The inspector page: logs in to a robot's Gateway with a token, then shows what its session may
 * see — every node's supervision tree with restarts as they happen, each actor's mailbox and
 * message rate, the services with their methods, signals and properties — and lets an identity
 * allowed to call try a method, watch a signal or set a property. Everything goes through one
 * gateway session, under that identity's permissions. Values from the robot are only ever put
 * in the page as text, never as HTML.
 */
import uPlot from 'uplot';
import 'uplot/dist/uPlot.min.css';
import './inspect.css';
import { connect, describeOf, type Remote, type ServiceDescription, type Session, type Subscription } from '../../browser/index.js';
import type { NodeTree, RobotMetricsService } from '../../../actors/metrics/robot-metrics.js';
import type { ActorMetrics, NodeMetrics } from '../../observe/metrics.js';
import type { TreeNode } from '../../supervision/supervisor.js';

const ROBOT_METRICS = 'RobotMetrics';
/** Seconds of message rates the chart keeps. */
const CHART_SECONDS = 120;
const MAX_EVENTS = 200;

type Child = Node | string | null | undefined | false;

/** An element with attributes and children; strings become text nodes (never parsed as HTML). */
function h<K extends keyof HTMLElementTagNameMap>(tag: K, attributes: Record<string, string | boolean> = {}, ...children: Child[]): HTMLElementTagNameMap[K] {
  const element = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) {
    if (value === false) continue;
    element.setAttribute(name, value === true ? '' : value);
  }
  for (const child of children) if (child !== null && child !== undefined && child !== false) element.append(child);
  return element;
}

function byId<T extends HTMLElement = HTMLElement>(id: string): T {
  return document.getElementById(id) as T;
}

/** A value from the robot, shown as JSON text (cut short when long). */
function show(value: unknown): string {
  const text = value === undefined ? 'undefined' : JSON.stringify(value);
  return text.length > 400 ? `${text.slice(0, 400)}…` : text;
}

function time(): string {
  return new Date().toLocaleTimeString();
}

// ---- Recent events -------------------------------------------------------------------------

function event(kind: 'restart' | 'failure' | 'call' | 'error' | 'link' | 'signal', text: string): void {
  const list = byId('events');
  list.prepend(h('li', { class: kind, 'data-kind': kind }, h('time', {}, time()), ' ', text));
  while (list.childElementCount > MAX_EVENTS) list.lastElementChild!.remove();
}

// ---- Rates ---------------------------------------------------------------------------------

/** Messages handled per second of each actor, from the difference between two samples. */
class Rates {
  #previous = new Map<string, { handled: number; at: number }>();
  readonly perActor = new Map<string, number>();
  /** What each actor looked like in the latest sample. */
  readonly actors = new Map<string, ActorMetrics>();
  /** Failures and restarts seen per actor, to report what is new. */
  #seen = new Map<string, { failures: number; restarts: number }>();
  total = 0;

  update(samples: readonly NodeMetrics[]): void {
    this.total = 0;
    const next = new Map<string, { handled: number; at: number }>();
    for (const node of samples) {
      for (const actor of node.actors) {
        this.actors.set(actor.address, actor);
        const before = this.#previous.get(actor.address);
        const rate = before === undefined || node.at <= before.at ? 0 : Math.max(0, ((actor.handled - before.handled) * 1000) / (node.at - before.at));
        this.perActor.set(actor.address, rate);
        this.total += rate;
        next.set(actor.address, { handled: actor.handled, at: node.at });
        this.#noteFailures(actor);
      }
    }
    this.#previous = next;
  }

  #noteFailures(actor: ActorMetrics): void {
    const failures = Object.values(actor.failures).reduce((a, b) => a + b, 0);
    const seen = this.#seen.get(actor.address);
    this.#seen.set(actor.address, { failures, restarts: actor.restarts });
    if (seen === undefined) return;
    const who = actor.name ?? actor.label;
    if (failures > seen.failures) {
      const codes = Object.entries(actor.failures).map(([code, n]) => `${code} ${n}`).join(', ');
      event('failure', `${who}: ${failures - seen.failures} more failed message(s) (${codes})`);
    }
  }
}

/** The chart of the robot's messages per second, and of the selected service's. */
class RateChart {
  readonly #plot: uPlot;
  readonly #data: [number[], number[], number[]] = [[], [], []];

  constructor(container: HTMLElement) {
    const width = Math.max(320, container.clientWidth - 8);
    this.#plot = new uPlot(
      {
        width,
        height: 180,
        legend: { show: true },
        scales: { x: { time: true }, y: { range: (_u, _min, max) => [0, Math.max(10, max * 1.2)] } },
        series: [{}, { label: 'robot', stroke: '#2f7ed8', width: 2 }, { label: 'selected', stroke: '#e4572e', width: 2 }],
        axes: [{}, { size: 50 }],
      },
      this.#data,
      container,
    );
    new ResizeObserver(() => this.#plot.setSize({ width: Math.max(320, container.clientWidth - 8), height: 180 })).observe(container);
  }

  push(at: number, robot: number, selected: number | null): void {
    this.#data[0].push(at / 1000);
    this.#data[1].push(robot);
    this.#data[2].push(selected ?? Number.NaN);
    if (this.#data[0].length > CHART_SECONDS) for (const column of this.#data) column.shift();
    this.#plot.setData(this.#data);
  }
}

// ---- Supervision trees ---------------------------------------------------------------------

/** Restart counts last shown, per node and child id path, to flash and report new restarts. */
const restartsSeen = new Map<string, number>();

function renderTrees(trees: readonly NodeTree[], rates: Rates): void {
  const container = byId('trees');
  const cards = trees.map((n) => {
    const rows = h('ul', { class: 'tree' });
    addChildren(rows, n.node, '', n.tree.children ?? [], rates);
    return h(
      'article',
      { class: 'node', 'data-node': n.node },
      h('h3', {}, `node ${n.node}`, h('span', { class: 'muted' }, ` ${n.endpoints.join(' ') || 'no endpoints'}`)),
      h('div', { class: 'node-stats', 'data-node-stats': n.node }),
      rows,
    );
  });
  container.replaceChildren(...cards);
  updateMetrics(rates);
}

function addChildren(list: HTMLElement, node: string, path: string, children: readonly TreeNode[], rates: Rates): void {
  for (const child of children) {
    const key = `${node} ${path}/${child.id}`;
    const before = restartsSeen.get(key);
    restartsSeen.set(key, child.restarts);
    const restarted = before !== undefined && child.restarts > before;
    if (restarted) event('restart', `${child.name ?? child.id} restarted (${child.restarts} restart${child.restarts === 1 ? '' : 's'})`);
    const running = child.address !== null;
    const row = h(
      'li',
      { class: `child ${child.type}${restarted ? ' flash' : ''}`, 'data-child': child.name ?? child.id, ...(child.address === null ? {} : { 'data-address': child.address }) },
      h('span', { class: `dot ${running ? 'up' : 'down'}`, title: running ? 'running' : 'not running' }),
      h('span', { class: 'id' }, child.name ?? child.id),
      h('span', { class: 'label muted' }, child.label),
      child.in !== 'thread' && h('span', { class: 'badge in' }, child.in),
      h('span', { class: `badge restarts${child.restarts > 0 ? ' warn' : ''}`, 'data-restarts': String(child.restarts), title: 'restarts' }, `↻ ${child.restarts}`),
      h('span', { class: 'metric mailbox', title: 'mailbox depth' }),
      h('span', { class: 'metric rate', title: 'messages per second' }),
    );
    list.append(row);
    if (child.children !== undefined && child.children.length > 0) {
      const sub = h('ul', { class: 'tree' });
      addChildren(sub, node, `${path}/${child.id}`, child.children, rates);
      if (child.childCount !== undefined) sub.append(h('li', { class: 'child muted' }, `… ${child.childCount - child.children.length} more children (${child.childCount} in all)`));
      list.append(h('li', { class: 'subtree' }, sub));
    }
  }
}

/** Puts the latest mailbox depth and rate in each row, and each node's loop and memory. */
function updateMetrics(rates: Rates, samples: readonly NodeMetrics[] = []): void {
  for (const row of document.querySelectorAll<HTMLElement>('li.child[data-address]')) {
    const address = row.dataset.address!;
    const actor = rates.actors.get(address);
    const rate = rates.perActor.get(address);
    row.querySelector('.mailbox')!.textContent = actor === undefined ? '' : `✉ ${actor.mailbox}`;
    row.querySelector('.rate')!.textContent = rate === undefined ? '' : `${rate.toFixed(rate < 10 ? 1 : 0)}/s`;
    row.classList.toggle('busy', actor !== undefined && actor.mailbox > actor.mailboxCapacity / 2);
  }
  for (const node of samples) {
    const stats = document.querySelector<HTMLElement>(`[data-node-stats="${CSS.escape(node.node)}"]`);
    if (stats === null) continue;
    const mib = (bytes: number): string => `${(bytes / 1048576).toFixed(1)} MiB`;
    stats.textContent = `${node.actorCount} actors · loop ${(node.eventLoop.utilization * 100).toFixed(0)}% busy, p99 delay ${node.eventLoop.delayP99Ms.toFixed(1)} ms · heap ${mib(node.memory.heapUsed)} · rss ${mib(node.memory.rss)}`;
  }
}

// ---- Services ------------------------------------------------------------------------------

type AnyRemote = Record<string, unknown>;
type RemoteFn = (...args: unknown[]) => Promise<unknown>;
type RemoteWatchable = { connect(listener: (value: unknown) => void): Promise<Subscription> };
type RemoteProp = RemoteWatchable & { get(): Promise<unknown>; set(value: unknown): Promise<void> };

/** Subscriptions of the service shown now, ended when another is shown. */
let shownSubscriptions: Subscription[] = [];
let selectedService: string | null = null;

function parseArgs(text: string, params: readonly string[]): unknown[] {
  const trimmed = text.trim();
  if (trimmed === '') return [];
  const value = JSON.parse(trimmed) as unknown;
  // One parameter: its value as it is (`5`), or a list of all arguments (`[5]`).
  if (Array.isArray(value)) return value;
  if (params.length <= 1) return [value];
  throw new Error(`give the ${params.length} arguments as a JSON list, e.g. [${params.map(() => '…').join(', ')}]`);
}

async function showService(session: Session, name: string): Promise<void> {
  for (const s of shownSubscriptions) s.off();
  shownSubscriptions = [];
  selectedService = name;
  for (const button of document.querySelectorAll<HTMLElement>('#services button')) button.classList.toggle('selected', button.dataset.service === name);
  byId('rate-of').textContent = `(robot, and ${name})`;
  const panel = byId('service');
  panel.replaceChildren(h('p', { class: 'muted' }, `asking ${name} what it offers…`));
  let handle: AnyRemote;
  let description: ServiceDescription;
  try {
    const remote = await session.service<Record<string, never>>(name);
    handle = remote as unknown as AnyRemote;
    description = describeOf(remote as Remote<unknown> & object);
  } catch (error) {
    panel.replaceChildren(h('p', { class: 'error' }, `${name}: ${(error as Error).message}`));
    return;
  }
  if (selectedService !== name) return;
  const writable = new Set(description.writable ?? []);
  const sections: HTMLElement[] = [];

  if (description.methods.length > 0) {
    sections.push(
      h('h3', {}, 'Methods'),
      ...description.methods.map((m) => {
        const args = h('input', { class: 'args', placeholder: m.params.length === 0 ? 'no arguments' : `JSON: ${m.params.length === 1 ? m.params[0]! : `[${m.params.join(', ')}]`}`, spellcheck: 'false', 'aria-label': `arguments of ${m.name}` });
        const result = h('output', { class: 'result' });
        const call = h('button', { type: 'submit', class: 'call', 'data-method': m.name }, 'Call');
        const form = h('form', { class: 'method', 'data-method': m.name }, h('code', {}, m.signature === undefined ? `${m.name}(${m.params.join(', ')})` : `${m.name}${m.signature}`), args, call, result);
        form.addEventListener('submit', (e) => {
          e.preventDefault();
          void (async () => {
            result.className = 'result';
            result.textContent = '…';
            const started = performance.now();
            try {
              const value = await (handle[m.name] as RemoteFn)(...parseArgs(args.value, m.params));
              const ms = (performance.now() - started).toFixed(1);
              result.textContent = `→ ${show(value)} (${ms} ms)`;
              event('call', `${name}.${m.name}(${args.value.trim()}) → ${show(value)} in ${ms} ms`);
            } catch (error) {
              result.className = 'result error';
              result.textContent = `✗ ${(error as Error).message}`;
              event('error', `${name}.${m.name}(${args.value.trim()}) failed: ${(error as Error).message}`);
            }
          })();
        });
        return form;
      }),
    );
  }

  if (description.properties.length > 0) {
    sections.push(
      h('h3', {}, 'Properties'),
      ...description.properties.map((p) => {
        const prop = handle[p] as RemoteProp;
        const value = h('output', { class: 'value', 'data-property': p }, '…');
        const row = h('div', { class: 'property', 'data-property-row': p }, h('code', {}, p), value);
        const showValue = (v: unknown): void => {
          value.textContent = show(v);
          value.classList.remove('flash');
          void value.offsetWidth; // restart the animation
          value.classList.add('flash');
        };
        prop.get().then(showValue, (error: unknown) => (value.textContent = `✗ ${(error as Error).message}`));
        prop.connect(showValue).then(
          (s) => (selectedService === name ? shownSubscriptions.push(s) : s.off()),
          () => {},
        );
        if (writable.has(p)) {
          const input = h('input', { class: 'args', placeholder: 'new value (JSON)', spellcheck: 'false', 'aria-label': `new value of ${p}` });
          const form = h('form', { class: 'set' }, input, h('button', { type: 'submit' }, 'Set'));
          form.addEventListener('submit', (e) => {
            e.preventDefault();
            void (async () => {
              try {
                await prop.set(JSON.parse(input.value) as unknown);
                event('call', `${name}.${p} set to ${input.value.trim()}`);
              } catch (error) {
                event('error', `setting ${name}.${p} failed: ${(error as Error).message}`);
              }
            })();
          });
          row.append(form);
        }
        return row;
      }),
    );
  }

  if (description.signals.length > 0) {
    sections.push(
      h('h3', {}, 'Signals'),
      ...description.signals.map((s) => {
        const log = h('ol', { class: 'signal-log', 'data-signal': s });
        const button = h('button', { type: 'button', class: 'watch' }, 'Watch');
        let subscription: Subscription | null = null;
        button.addEventListener('click', () => {
          void (async () => {
            if (subscription !== null) {
              subscription.off();
              subscription = null;
              button.textContent = 'Watch';
              return;
            }
            button.disabled = true;
            try {
              subscription = await (handle[s] as RemoteWatchable).connect((v) => {
                log.prepend(h('li', {}, h('time', {}, time()), ' ', show(v)));
                while (log.childElementCount > 20) log.lastElementChild!.remove();
              });
              shownSubscriptions.push(subscription);
              button.textContent = 'Stop watching';
            } catch (error) {
              event('error', `watching ${name}.${s} failed: ${(error as Error).message}`);
            } finally {
              button.disabled = false;
            }
          })();
        });
        return h('div', { class: 'signal' }, h('code', {}, s), button, log);
      }),
    );
  }

  if (sections.length === 0) sections.push(h('p', { class: 'muted' }, `${name} offers nothing this identity may use.`));
  else if (description.methods.length === 0 && writable.size === 0) sections.unshift(h('p', { class: 'hint', id: 'read-only' }, 'This identity may look, not act: no calls, no property writes.'));
  panel.replaceChildren(...sections);
}

// ---- Session -------------------------------------------------------------------------------

function setState(text: string, on: boolean): void {
  const state = byId('state');
  state.textContent = text;
  state.className = `state ${on ? 'on' : 'off'}`;
}

async function open(url: string, token: string): Promise<void> {
  const session = await connect(url, {
    token,
    onWarning: (message) => {
      const lost = message.startsWith('lost');
      if (lost || message.startsWith('reconnected')) {
        setState(lost ? 'reconnecting…' : 'connected', !lost);
        event('link', message);
      }
    },
  });
  setState('connected', true);
  byId('who').textContent = `as ${session.identity}`;
  byId('where').textContent = url;
  byId('login').hidden = true;
  byId('app').hidden = false;
  event('link', `connected to ${url} as ${session.identity}`);

  const names = (await session.services()).sort();
  const nav = byId('services');
  nav.replaceChildren(
    ...names.map((name) => {
      const button = h('button', { type: 'button', 'data-service': name }, name);
      button.addEventListener('click', () => void showService(session, name));
      return button;
    }),
  );

  const rates = new Rates();
  const chart = new RateChart(byId('chart'));
  if (!names.includes(ROBOT_METRICS)) {
    byId('trees-note').textContent = `This identity may not watch ${ROBOT_METRICS}, so the trees and rates are not shown. Allow it ${ROBOT_METRICS}.samples and ${ROBOT_METRICS}.treesChanged.`;
    return;
  }
  const metrics = await session.service<RobotMetricsService>(ROBOT_METRICS);
  byId('trees-note').textContent = 'Live: restarts flash as they happen.';
  let trees: readonly NodeTree[] = [];
  await metrics.treesChanged.connect((next) => {
    trees = next;
    renderTrees(trees, rates);
  });
  await metrics.samples.connect((samples) => {
    rates.update(samples);
    updateMetrics(rates, samples);
    const selected = selectedService === null ? null : selectedRate(trees, rates, selectedService);
    chart.push(samples[0]?.at ?? Date.now(), rates.total, selected);
  });
}

/** The selected service's rate: its actor's, found by name in the trees. */
function selectedRate(trees: readonly NodeTree[], rates: Rates, name: string): number | null {
  const find = (children: readonly TreeNode[]): string | null => {
    for (const c of children) {
      if (c.name === name && c.address !== null) return c.address;
      const inner = find(c.children ?? []);
      if (inner !== null) return inner;
    }
    return null;
  };
  for (const n of trees) {
    const address = find(n.tree.children ?? []);
    if (address !== null) return rates.perActor.get(address) ?? 0;
  }
  return null;
}

async function main(): Promise<void> {
  let gateway = `wss://${location.host}`;
  try {
    const config = (await (await fetch('config.json')).json()) as { gateway: string | null };
    if (config.gateway !== null) gateway = config.gateway;
  } catch {
    // Served without a config: this door.
  }
  const form = byId<HTMLFormElement>('login');
  byId<HTMLInputElement>('gateway').value = gateway;
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    const button = form.querySelector('button')!;
    const token = byId<HTMLInputElement>('token');
    button.disabled = true;
    byId('login-error').textContent = '';
    open(byId<HTMLInputElement>('gateway').value.trim(), token.value)
      .catch((error: unknown) => {
        byId('login-error').textContent = (error as Error).message;
        setState('not connected', false);
      })
      .finally(() => {
        token.value = '';
        button.disabled = false;
      });
  });
}

void main();
