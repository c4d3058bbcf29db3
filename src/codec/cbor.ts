// Not from 'cbor-x' itself: in Node that entry loads cbor-x's native string helper, cbor-extract,
// which scans a payload ahead for strings and gives up at a byte or text string whose length is
// written in 8 bytes: valid CBOR that other languages' libraries may write, refused as
// 'undecodable'. These entries are cbor-x without it (the same code, in JavaScript only). What it
// saved: half the decode time of payloads of many strings, ~1 ms on a 150 KB listing of 1,000
// services; nothing on small messages, where cbor-x does not call it. (The helper is set on the
// decoder module that every entry shares: an application that imports 'cbor-x' itself in the same
// process turns it back on for qiact too.)
import { Decoder } from 'cbor-x/decode';
import { Encoder } from 'cbor-x/encode';
import { BadFrameError } from '../errors.js';

/** Encodes and decodes the payload of one frame. One codec per link. */
export interface Codec {
  /**
   * The CBOR bytes of `message`. The result stays valid after later encodes (cbor-x writes each
   * result after the previous one in its buffer), so it can be queued on a socket as it is.
   */
  encode(message: unknown): Buffer;
  /** The message in `payload`; a payload that is not CBOR fails with BadFrameError('undecodable'). */
  decode(payload: Uint8Array): unknown;
}

/**
 * Plain CBOR maps (`useRecords: false`): any peer with a CBOR library can read them, which the
 * wire protocol promises. Two nodes that both offer it send records instead (records.ts).
 *
 * 64-bit CBOR integers (how other languages write 2^32 and above) decode as numbers, not BigInt:
 * a `uint` field is good up to 2^53−1 as the protocol page says, and a service gets a number as
 * a JavaScript caller would have sent it (beyond 2^53 as the nearest double, as JSON does).
 */
export function createCodec(options: { records?: boolean } = {}): Codec {
  const encoder = new Encoder({ useRecords: false, mapsAsObjects: true });
  // `records`: the decoder also reads cbor-x's record structures (records.ts), keeping the shapes
  // the peer defined for the life of the link. Plain maps decode the same either way.
  // (`int64AsNumber` is read by cbor-x's decoder but missing from its type declarations.)
  const decoderOptions: Record<string, unknown> = { mapsAsObjects: true, int64AsNumber: true, ...(options.records ? { structures: [] } : { useRecords: false }) };
  const decoder = new Decoder(decoderOptions as ConstructorParameters<typeof Decoder>[0]);
  return {
    encode: (message) => encoder.encode(message),
    decode(payload) {
      try {
        return decoder.decode(payload);
      } catch (error) {
        throw new BadFrameError('undecodable', `the payload is not valid CBOR (${error instanceof Error ? error.message : String(error)})`, undefined, { cause: error });
      }
    },
  };
}
