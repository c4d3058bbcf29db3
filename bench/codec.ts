/**
 * What a message costs to cross a process boundary before any socket: CBOR encode + decode and
 * framing, per message size. The DESIGN names the codec as the bound on cross-process
 * throughput; this is its table, as plain CBOR maps and as the records two qiact nodes write
 * to each other (the same message again and again: its shapes defined once). Asserts nothing.
 *
 *   node --import=tsx bench/codec.ts [--json]
 */
import { createCodec } from '../dist/src/codec/cbor.js';
import { RecordsEncoder } from '../dist/src/codec/records.js';
import { encodeFrame, FrameDecoder } from '../dist/src/codec/frames.js';

const json = process.argv.includes('--json');
const codec = createCodec();

const messages: Record<string, unknown> = {
  'small call': { kind: 'call', id: 1234, to: 'head/4242/0/17', method: 'say', args: ['hello'] },
  'call, nested object ~100 B': {
    kind: 'call',
    id: 1234,
    to: 'head/4242/0/17',
    from: 'body/4243/0/3',
    method: 'track',
    args: [{ name: 'person', pose: { x: 1.25, y: -0.5, theta: 0.75 }, confidence: 0.93, stamp: 1764700000123, tags: ['face', 'tracked'] }],
    timeout: 30000,
  },
  'reply, 1 KiB string': { kind: 'reply', id: 1234, value: 'x'.repeat(1024) },
  'signal, 64 floats': { kind: 'signal', sub: 9, value: Array.from({ length: 64 }, (_, i) => i / 3) },
  'reply, 64 KiB bytes': { kind: 'reply', id: 1, value: new Uint8Array(64 * 1024) },
};

function perOp(fn: () => void, minMs = 300): number {
  for (let i = 0; i < 1000; i++) fn();
  let n = 0;
  const t0 = performance.now();
  while (performance.now() - t0 < minMs) {
    for (let i = 0; i < 1000; i++) fn();
    n += 1000;
  }
  return ((performance.now() - t0) * 1000) / n; // µs
}

const rows = Object.entries(messages).map(([name, message]) => {
  const bytes = codec.encode(message).length;
  const roundTrip = perOp(() => codec.decode(codec.encode(message)));
  const framed = encodeFrame(codec.encode(message));
  const decoder = new FrameDecoder(() => {}, (e) => {
    throw e;
  });
  const framing = perOp(() => decoder.push(framed));
  const records = new RecordsEncoder();
  const reader = createCodec({ records: true });
  reader.decode(records.encode(message)); // its shapes defined: what every later message costs
  const steady = records.encode(message);
  reader.decode(steady);
  const recordsBytes = steady.length;
  const recordsRoundTrip = perOp(() => reader.decode(records.encode(message)));
  const us = (x: number) => Math.round(x * 1000) / 1000;
  return { message: name, bytes, encode_decode_us: us(roundTrip), records_bytes: recordsBytes, records_encode_decode_us: us(recordsRoundTrip), deframe_us: us(framing) };
});

if (json) for (const r of rows) console.log(JSON.stringify(r));
else {
  console.log(`qiact codec bench: cbor-x encode + decode, and deframing, per message (node ${process.version})`);
  console.table(rows);
}
