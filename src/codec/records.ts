import { Encoder } from 'cbor-x/encode'; // not 'cbor-x': see cbor.ts

/**
 * cbor-x's record structures, for a link whose two ends both offered them in the handshake
 * (`records`): an object's keys go on the wire once, the first time its shape is sent, and after
 * that a 3-byte reference stands for them (PROTOCOL.md, "Records"). A call with a nested object
 * encodes and decodes in about 60 % of the time it takes as maps (bench/codec.ts).
 *
 * The encoder keeps, per link, which shapes it has defined, trusting that the peer decodes
 * every frame it encodes, in the order it encoded them. So bytes that will not be sent as
 * encoded (an encode that threw half-way, a message refused after encoding, one held back behind
 * a large payload) must make it forget them all: a fresh encoder defines each shape again, and
 * the peer's decoder takes the new definition over the old one of the same number. Nothing is
 * referenced that the peer did not see defined.
 */
export class RecordsEncoder {
  #encoder = recordsEncoder();

  readonly encode = (message: unknown): Buffer => {
    try {
      return this.#encoder.encode(message);
    } catch (error) {
      this.forget();
      throw error;
    }
  };

  /** The bytes last encoded will not be sent as they are: define every shape again from now on. */
  forget(): void {
    this.#encoder = recordsEncoder();
  }
}

function recordsEncoder(): Encoder {
  // sequential: each shape is defined inline where first used, none agreed on beforehand.
  return new Encoder({ sequential: true, mapsAsObjects: true });
}
