import test from 'ava';
import { random } from './_support/seeded.js';
import { BadFrameError } from '../src/errors.js';
import { createCodec } from '../src/codec/cbor.js';
import { encodeFrame, FrameDecoder, HEADER_BYTES } from '../src/codec/frames.js';

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
