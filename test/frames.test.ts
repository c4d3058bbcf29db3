import test from 'ava';
import { random } from './_support/seeded.js';
import { BadFrameError } from '../src/errors.js';
import { createCodec } from '../src/codec/cbor.js';
import { encodeFrame, FrameDecoder, HEADER_BYTES, LAST_SLICE_BIT, SLICE_BIT, windowUpdate } from '../src/codec/frames.js';
import { encodeParts } from '../src/codec/large-bytes.js';
import { OutgoingSlices, SLICE_BYTES } from '../src/transport/outgoing-slices.js';

function decoderFor(max?: number) {
  const frames: Buffer[] = [];
  const errors: BadFrameError[] = [];
  const decoder = new FrameDecoder((f) => frames.push(Buffer.from(f)), (e) => errors.push(e), max);
  return { decoder, frames, errors };
}

test('frames come out whole and in order however the stream is cut', (t) => {
  const payloads = [Buffer.from('a'), Buffer.from('hello robot'), Buffer.alloc(300, 7), Buffer.from([0, 1, 2])];
  const stream = Buffer.concat(payloads.map(encodeFrame));
  for (let cut = 1; cut < stream.length; cut++) {
    const { decoder, frames, errors } = decoderFor();
    decoder.push(stream.subarray(0, cut));
    decoder.push(stream.subarray(cut));
    decoder.end();
    t.deepEqual(frames, payloads, `cut at ${cut}`);
    t.deepEqual(errors, []);
  }
  const { decoder, frames } = decoderFor();
  for (const byte of stream) decoder.push(Buffer.from([byte]));
  t.deepEqual(frames, payloads, 'one byte at a time');
});

test('a frame that arrives in one chunk is handed out as a view, not a copy', (t) => {
  const chunk = encodeFrame(Buffer.from('no copy'));
  let seen: Buffer | undefined;
  new FrameDecoder((f) => (seen = f), () => t.fail()).push(chunk);
  t.is(seen!.buffer, chunk.buffer);
});

test('an oversized length is refused from the header alone, before anything is buffered', (t) => {
  const { decoder, frames, errors } = decoderFor(1024);
  const header = Buffer.alloc(HEADER_BYTES);
  header.writeUInt32BE(1025);
  decoder.push(header);
  t.is(errors.length, 1);
  t.is(errors[0]!.reason, 'too-large');
  t.is(errors[0]!.limit, 1024);
  t.is(errors[0]!.code, 'BAD_FRAME');
  t.is(decoder.buffered, 0);
  decoder.push(encodeFrame(Buffer.from('after the error')));
  decoder.end();
  t.is(errors.length, 1, 'reported once; later input ignored');
  t.deepEqual(frames, []);
});

test('an empty frame and a stream that ends inside a frame are refused', (t) => {
  const empty = decoderFor();
  empty.decoder.push(Buffer.alloc(HEADER_BYTES));
  t.is(empty.errors[0]!.reason, 'empty');
  const cut = decoderFor();
  cut.decoder.push(encodeFrame(Buffer.from('truncated')).subarray(0, 7));
  cut.decoder.end();
  t.is(cut.errors[0]!.reason, 'truncated');
  t.regex(cut.errors[0]!.message, /3 of 9 payload bytes/);
  const clean = decoderFor();
  clean.decoder.push(encodeFrame(Buffer.from('x')));
  clean.decoder.end();
  t.deepEqual(clean.errors, [], 'a clean end between frames is fine');
});

test('a laser scan that spans reads comes out whole, in its place, in memory of exactly its size; a stream that ends inside it says how much came', (t) => {
  const scan = Buffer.from(Float32Array.from({ length: 16 * 1024 }, (_, i) => Math.sin(i)).buffer);
  const payloads = [Buffer.from('before'), scan, Buffer.from('after'), Buffer.alloc(5000, 9)];
  const stream = Buffer.concat(payloads.map(encodeFrame));
  const rng = random(7);
  for (const transient of [false, true]) {
    for (let round = 0; round < 20; round++) {
      const frames: Buffer[] = [];
      const decoder = new FrameDecoder((f) => frames.push(f), (e) => t.fail(e.message));
      const shared = Buffer.alloc(16 * 1024); // a TLS record's worth, used again for every read
      for (let at = 0; at < stream.length; ) {
        const n = Math.min(shared.length, stream.length - at, 1 + Math.floor(rng() * shared.length));
        if (transient) {
          stream.copy(shared, 0, at, at + n);
          decoder.push(shared.subarray(0, n), true);
          shared.fill(0xee);
        } else decoder.push(Buffer.from(stream.subarray(at, at + n)));
        at += n;
      }
      decoder.end();
      t.true(frames.length === payloads.length && frames.every((f, i) => f.equals(payloads[i]!)), `transient ${transient}, round ${round}: intact, in order`);
      t.is(frames[1]!.buffer.byteLength, scan.length, 'the scan is a buffer of its own, of its size');
    }
  }
  const { decoder, errors } = decoderFor();
  decoder.push(encodeFrame(scan).subarray(0, HEADER_BYTES + 40_000));
  decoder.end();
  t.is(errors[0]!.reason, 'truncated');
  t.regex(errors[0]!.message, /40000 of 65536 payload bytes/);
});

test('fuzz: random and mutated streams never throw, never buffer past the limit, fail at most once', (t) => {
  const next = random(0x5eed);
  const max = 4096;
  for (let run = 0; run < 2000; run++) {
    const parts: Buffer[] = [];
    const count = 1 + Math.floor(next() * 5);
    for (let i = 0; i < count; i++) {
      const payload = Buffer.alloc(1 + Math.floor(next() * 600));
      for (let j = 0; j < payload.length; j++) payload[j] = Math.floor(next() * 256);
      parts.push(encodeFrame(payload));
    }
    let stream = Buffer.concat(parts);
    const mutation = Math.floor(next() * 4);
    if (mutation === 1) stream[Math.floor(next() * stream.length)]! ^= 1 << Math.floor(next() * 8); // flip a bit
    if (mutation === 2) stream = stream.subarray(0, Math.floor(next() * stream.length)); // truncate
    if (mutation === 3) for (let j = 0; j < stream.length; j++) stream[j] = Math.floor(next() * 256); // garbage
    const { decoder, frames, errors } = decoderFor(max);
    let maxBuffered = 0;
    for (let at = 0; at < stream.length; ) {
      const size = 1 + Math.floor(next() * 700);
      decoder.push(stream.subarray(at, at + size));
      maxBuffered = Math.max(maxBuffered, decoder.buffered);
      at += size;
    }
    decoder.end();
    t.true(errors.length <= 1, `run ${run}: at most one error`);
    t.true(errors.every((e) => e instanceof BadFrameError));
    t.true(maxBuffered <= max + HEADER_BYTES + 700, `run ${run}: buffered ${maxBuffered}`);
    t.true(frames.reduce((n, f) => n + f.length + HEADER_BYTES, 0) <= stream.length);
    if (mutation === 0) t.deepEqual(frames.map(encodeFrame), parts, `run ${run}: an intact stream decodes exactly`);
  }
});

test('the CBOR codec round-trips messages; results stay valid after later encodes; garbage is a typed error', (t) => {
  const codec = createCodec();
  const call = { kind: 'call', id: 7, to: 'head/1/0/5', method: 'say', args: ['hello', { rate: 1.5 }, [1, 2, 3], null, true] };
  const first = codec.encode(call);
  const second = codec.encode({ kind: 'reply', id: 7, value: 300 });
  t.deepEqual(codec.decode(first), call);
  t.deepEqual(codec.decode(second), { kind: 'reply', id: 7, value: 300 });
  t.deepEqual(codec.decode(codec.encode(new Uint8Array([1, 2]))), new Uint8Array([1, 2]));
  const error = t.throws(() => codec.decode(Buffer.from([0xff, 0xff, 0x1c])), { instanceOf: BadFrameError });
  t.is(error?.reason, 'undecodable');
});

/** The frames OutgoingSlices writes for `payloads` (large ones sliced, small ones whole behind them), as one stream. */
function slicedStream(payloads: Buffer[]): Buffer {
  const held = new OutgoingSlices();
  for (const p of payloads) held.add([p], p.length, 'to one', p.length > SLICE_BYTES);
  const chunks: Uint8Array[] = [];
  for (let frame = held.nextFrame(); frame !== null; frame = held.nextFrame()) chunks.push(...frame.chunks);
  return Buffer.concat(chunks);
}

test('sliced frames: a large payload comes out whole, once, in its place among whole frames, however the stream is cut', (t) => {
  const large = Buffer.from(Array.from({ length: 2 * SLICE_BYTES + 12345 }, (_, i) => (i * 13) & 0xff));
  const payloads = [Buffer.from('before'), large, Buffer.from('after')];
  const stream = slicedStream(payloads);
  t.is(stream.length, 11 + large.length + 2 * HEADER_BYTES + 3 * HEADER_BYTES + HEADER_BYTES, 'two whole frames, three slices, the first with the length');
  const rng = random(17);
  for (let round = 0; round < 50; round++) {
    const { decoder, frames, errors } = decoderFor(4 * SLICE_BYTES);
    decoder.sliced = true;
    let read = 0;
    let lastAt = -1;
    decoder.onSliceRead = (bytes, last) => {
      read += bytes;
      if (last) lastAt = read;
    };
    for (let at = 0; at < stream.length; ) {
      const n = 1 + Math.floor(rng() * 100_000);
      decoder.push(stream.subarray(at, at + n));
      at += n;
    }
    decoder.end();
    t.deepEqual(errors, []);
    t.is(frames.length, 3);
    t.true(frames[1]!.equals(large) && frames[0]!.equals(payloads[0]!) && frames[2]!.equals(payloads[2]!), `round ${round}`);
    t.is(lastAt, large.length, 'every byte of the slices is reported read (for the window), the last with the payload whole');
  }
  // A payload of exactly the limit in one slice: the frame is 4 bytes longer (the payload's length).
  const whole = Buffer.alloc(1000, 9);
  const oneSlice = Buffer.alloc(12);
  oneSlice.writeUInt32BE((SLICE_BIT | LAST_SLICE_BIT | 1004) >>> 0);
  oneSlice.writeUInt32BE(1000, 4);
  const atLimit = decoderFor(1000);
  atLimit.decoder.sliced = true;
  atLimit.decoder.push(Buffer.concat([oneSlice.subarray(0, 8), whole]));
  t.deepEqual(atLimit.errors, []);
  t.true(atLimit.frames[0]?.equals(whole), 'a sliced payload at the limit is taken');
  // The other way: a window update says how much of our slices the peer read.
  const { decoder } = decoderFor();
  decoder.sliced = true;
  const updates: number[] = [];
  decoder.onWindow = (bytes) => updates.push(bytes);
  decoder.push(Buffer.concat([windowUpdate(262_144), encodeFrame(Buffer.from('x')), windowUpdate(7)]));
  t.deepEqual(updates, [262_144, 7]);
});

test('frames read from one buffer used again for every read (a socket\'s shared reads) come out intact: what the decoder hands out or keeps is its own', (t) => {
  const large = Buffer.from(Array.from({ length: 2 * SLICE_BYTES + 777 }, (_, i) => (i * 7) & 0xff));
  const payloads = [Buffer.from('a'), Buffer.alloc(300, 5), large, Buffer.from(Array.from({ length: 40_000 }, (_, i) => i & 0xff)), Buffer.from('last')];
  const stream = slicedStream(payloads);
  const shared = Buffer.alloc(64 * 1024);
  const rng = random(23);
  for (let round = 0; round < 40; round++) {
    const frames: Buffer[] = []; // as handed out: not copied, so a view of `shared` would show
    const decoder = new FrameDecoder((f) => frames.push(f), (e) => t.fail(e.message), 4 * SLICE_BYTES);
    decoder.sliced = true;
    for (let at = 0; at < stream.length; ) {
      const n = Math.min(shared.length, stream.length - at, 1 + Math.floor(rng() * (round % 2 === 0 ? 20 : shared.length)));
      stream.copy(shared, 0, at, at + n);
      decoder.push(shared.subarray(0, n), true);
      shared.fill(0xee); // the next read writes over it
      at += n;
    }
    decoder.end();
    t.is(frames.length, payloads.length, `round ${round}`);
    t.true(frames.every((f, i) => f.equals(payloads[i]!) && f.buffer !== shared.buffer), `round ${round}: every payload intact, in memory of its own`);
  }
});

test('sliced frames that break the rules close the link with BAD_FRAME, once', (t) => {
  const word = (n: number): Buffer => {
    const b = Buffer.alloc(4);
    b.writeUInt32BE(n >>> 0);
    return b;
  };
  const cases: [string, Buffer, BadFrameError['reason']][] = [
    ['a window update that is not 4 bytes', Buffer.concat([word(LAST_SLICE_BIT | 5), Buffer.alloc(5)]), 'slice'],
    ['a first slice with no room for its length', Buffer.concat([word(SLICE_BIT | 3), Buffer.alloc(3)]), 'slice'],
    ['a sliced payload over the limit', Buffer.concat([word(SLICE_BIT | 8), word(1_000_000), Buffer.alloc(4)]), 'too-large'],
    ['slices longer than their payload', Buffer.concat([word(SLICE_BIT | 8), word(6), Buffer.alloc(4), word(SLICE_BIT | LAST_SLICE_BIT | 4), Buffer.alloc(4)]), 'slice'],
    ['a last slice that ends the payload short', Buffer.concat([word(SLICE_BIT | 8), word(20), Buffer.alloc(4), word(SLICE_BIT | LAST_SLICE_BIT | 4), Buffer.alloc(4)]), 'slice'],
  ];
  for (const [what, stream, reason] of cases) {
    const { decoder, frames, errors } = decoderFor(1024);
    decoder.sliced = true;
    decoder.push(stream);
    decoder.push(encodeFrame(Buffer.from('ignored after the error')));
    t.is(frames.length, 0, what);
    t.is(errors.length, 1, what);
    t.is(errors[0]!.reason, reason, what);
  }
  const { decoder, errors } = decoderFor(1024);
  decoder.sliced = true;
  decoder.push(Buffer.concat([word(SLICE_BIT | 8), word(20), Buffer.alloc(4)]));
  decoder.end();
  t.is(errors[0]?.reason, 'truncated', 'a stream that ends inside a sliced payload');
  t.regex(errors[0]!.message, /4 of a sliced payload's 20 bytes/);
});

test('large bytes and typed arrays are encoded as views, without copying them, and decoded in place: the first typed array of a message at a multiple of its element size', (t) => {
  const codec = createCodec();
  const frame = new Uint8Array(100_000).map((_, i) => i & 0xff);
  const laser = new Float32Array(20_000).map((_, i) => i / 3);
  const scan = new Float64Array(10_000).map((_, i) => i * 1.5);
  const depth = new Uint16Array(70_000).map((_, i) => i);
  const messages = [
    { kind: 'call', id: 1, args: [1, 'small'] },
    { kind: 'call', id: 2, args: [frame, { image: { data: Buffer.from(frame), more: [laser, frame.buffer] } }, frame.subarray(5, 50_000)] },
    { kind: 'reply', id: 3, value: laser },
    { kind: 'signal', sub: 4, value: { scan, stamp: 5, depth, again: scan.subarray(1) } },
    { kind: 'call', id: 123456, to: 'machine/1/2/3', args: [{ header: 'x'.repeat(13) }, laser.subarray(1)] },
  ];
  const owned = [null, frame.buffer, laser.buffer, scan.buffer, laser.buffer];
  for (const [i, message] of messages.entries()) {
    const parts = encodeParts(codec.encode, message);
    // As a receiver holds a payload that came in several reads: in a buffer of its own.
    const payload = Buffer.concat(Buffer.isBuffer(parts) ? [parts] : parts.parts);
    const decoded = codec.decode(payload) as Record<string, unknown>;
    const { pad, ...rest } = decoded;
    t.deepEqual(rest, codec.decode(codec.encode(message)), `message ${i}: what its whole encoding gives`);
    if (Buffer.isBuffer(parts)) continue;
    t.is(parts.length, payload.length);
    t.true(parts.parts.some((p) => p.buffer === owned[i]), "the caller's memory itself is among the parts");
    t.true(pad === undefined || (Buffer.isBuffer(pad) && pad.length < 8), 'a pad is a byte string of 0-7 bytes');
    const arrays: ArrayBufferView[] = [];
    const collect = (v: unknown): void => {
      if (ArrayBuffer.isView(v) && !Buffer.isBuffer(v) && !(v instanceof Uint8Array)) arrays.push(v);
      else if (typeof v === 'object' && v !== null && !ArrayBuffer.isView(v)) Object.values(v).forEach(collect);
    };
    collect(rest);
    // The first always (a pad puts it there); the others where the widths of their heads can.
    // (Message 1's Float32Array is deeper than views are looked for: cbor-x writes it inline.)
    if (i !== 1) t.is(arrays[0]?.buffer, payload.buffer, `message ${i}: its first ${arrays[0]?.constructor.name} is read in place`);
  }
  t.true(Buffer.isBuffer(encodeParts(codec.encode, messages[0])), "a message with nothing large is the encoder's own buffer");
  t.deepEqual(messages[1]!.args![1], { image: { data: Buffer.from(frame), more: [laser, frame.buffer] } }, "the caller's objects are untouched");
});
