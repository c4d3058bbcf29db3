/**
 * What tracing costs a call: the same call with no OpenTelemetry SDK and with one registered
 * (every call sampled, spans dropped by the exporter), interleaved in rounds, in this thread
 * (direct) and to a child process (unix: a plain Echo process beside one that registers the
 * SDK too). Prints a table, or JSON rows with --json. Asserts nothing.
 */
import { context, propagation, trace } from '@opentelemetry/api';
import { W3CTraceContextPropagator } from '@opentelemetry/core';
import { Echo, MODULE } from './services.js';
import { contextManager, MODULE as TRACED_MODULE, provider } from './traced-echo.js';
import { refreshTracing } from '../dist/src/observe/tracing.js';
import { start, type Remote } from '../dist/src/index.js';
import { machineState } from './machine-state.js';

const json = process.argv.includes('--json');
const quick = process.argv.includes('--quick');
const ROUNDS = quick ? 3 : 20;
const DIRECT_SAMPLES = quick ? 2_000 : 20_000;
const UNIX_SAMPLES = quick ? 300 : 2_000;

/** Tracing on or off in this process, as an application that registers the SDK or not. */
function tracing(on: boolean): void {
  trace.disable();
  context.disable();
  propagation.disable();
  if (on) {
    trace.setGlobalTracerProvider(provider);
    context.setGlobalContextManager(contextManager);
    propagation.setGlobalPropagator(propagationOf);
  }
  refreshTracing();
}
const propagationOf = new W3CTraceContextPropagator();

async function timeEach(samples: number, call: (i: number) => Promise<unknown>, out: number[]): Promise<void> {
  for (let i = 0; i < samples; i++) {
    const t0 = performance.now();
    await call(i);
    out.push(performance.now() - t0);
  }
}

const p50 = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]! * 1000;
const round = (x: number): number => Math.round(x * 1000) / 1000;

interface Row {
  measure: 'tracing';
  path: string;
  p50_no_sdk_us: number;
  p50_traced_us: number;
  cost_per_call_us: number;
  ratio: number;
}

async function row(path: string, plain: (i: number) => Promise<unknown>, traced: (i: number) => Promise<unknown>, samples: number): Promise<Row> {
  tracing(false);
  await timeEach(samples, plain, []);
  tracing(true);
  await timeEach(samples, traced, []);
  const off: number[] = [];
  const on: number[] = [];
  for (let r = 0; r < ROUNDS; r++) {
    tracing(false);
    await timeEach(samples, plain, off);
    tracing(true);
    await timeEach(samples, traced, on);
  }
  tracing(false);
  const a = p50(off);
  const b = p50(on);
  return { measure: 'tracing', path, p50_no_sdk_us: round(a), p50_traced_us: round(b), cost_per_call_us: round(b - a), ratio: Math.round((b / a) * 100) / 100 };
}

tracing(false);
const node = await start({ machineId: 'bench-tracing', onWarning: () => {} });
await node.spawn(Echo, { name: 'echo' });
await node.spawn(Echo, { name: 'echo-plain', in: 'process', module: MODULE });
await node.spawn(Echo, { name: 'echo-traced', in: 'process', module: TRACED_MODULE, export: 'Echo' });
const echo: Remote<Echo> = await node.service<Echo>('echo');
const plain = await node.service<Echo>('echo-plain');
const traced = await node.service<Echo>('echo-traced');
const rows = [await row('direct', (i) => echo.echo(i), (i) => echo.echo(i), DIRECT_SAMPLES), await row('unix', (i) => plain.echo(i), (i) => traced.echo(i), UNIX_SAMPLES)];
await node.stop();
if (json) for (const r of rows) console.log(JSON.stringify(r));
else {
  console.log(machineState());
  console.log(`qiact bench tracing: ${ROUNDS} interleaved rounds (no SDK, SDK with every call sampled)`);
  console.table(rows.map((r) => ({ path: r.path, 'p50 no SDK µs': r.p50_no_sdk_us, 'p50 traced µs': r.p50_traced_us, 'cost per call µs': r.cost_per_call_us, ratio: r.ratio })));
}
