// A protobuf wire-format reader for the tests: a message as its fields, each field number with
// the values it carried in order (varints as bigints, fixed64 as bigints, length-delimited as
// bytes to read further). Enough to walk an OTLP request without generated code.
export type WireValue = bigint | number | Uint8Array;
export type WireMessage = Map<number, WireValue[]>;

export function readMessage(bytes: Uint8Array): WireMessage {
  const fields: WireMessage = new Map();
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let at = 0;
  const varint = (): bigint => {
    let value = 0n;
    for (let shift = 0n; ; shift += 7n) {
      if (at >= bytes.length) throw new Error(`a varint runs past the end at ${at}`);
      const byte = bytes[at++] as number;
      value |= BigInt(byte & 0x7f) << shift;
      if (byte < 0x80) return value;
    }
  };
  while (at < bytes.length) {
    const key = Number(varint());
    const field = key >>> 3;
    let value: WireValue;
    switch (key & 7) {
      case 0:
        value = varint();
        break;
      case 1:
        value = view.getBigUint64(at, true);
        at += 8;
        break;
      case 2: {
        const length = Number(varint());
        if (at + length > bytes.length) throw new Error(`field ${field} runs past the end`);
        value = bytes.subarray(at, at + length);
        at += length;
        break;
      }
      case 5:
        value = view.getUint32(at, true);
        at += 4;
        break;
      default:
        throw new Error(`wire type ${key & 7} of field ${field} is not one OTLP uses`);
    }
    fields.set(field, [...(fields.get(field) ?? []), value]);
  }
  return fields;
}

/** The length-delimited values of `field`, each read as a message. */
export function messages(message: WireMessage, field: number): WireMessage[] {
  return (message.get(field) ?? []).map((value) => {
    if (!(value instanceof Uint8Array)) throw new Error(`field ${field} is not a message`);
    return readMessage(value);
  });
}

/** The first value of `field`, read as a message; throws when there is none. */
export function message(of: WireMessage, field: number): WireMessage {
  const [first] = messages(of, field);
  if (first === undefined) throw new Error(`field ${field} is missing`);
  return first;
}

/** The first value of `field` as UTF-8 text. */
export function text(message: WireMessage, field: number): string {
  const value = message.get(field)?.[0];
  if (!(value instanceof Uint8Array)) throw new Error(`field ${field} is not text`);
  return Buffer.from(value).toString('utf8');
}

/** The first value of `field` as hex (ids). */
export function hex(message: WireMessage, field: number): string {
  const value = message.get(field)?.[0];
  if (!(value instanceof Uint8Array)) throw new Error(`field ${field} is not bytes`);
  return Buffer.from(value).toString('hex');
}
