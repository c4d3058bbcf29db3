import { Decoder, Encoder } from 'cbor-x';
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
 * wire protocol promises. cbor-x's record structures are faster but need state kept in step
 * on both ends of a connection: a later optimisation, measured first.
 */
export function createCodec(): Codec {
  const encoder = new Encoder({ useRecords: false, mapsAsObjects: true });
  const decoder = new Decoder({ useRecords: false, mapsAsObjects: true });
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
