// The byte-level JSON writer behind the OTLP export: what it writes must read back as what
// JSON.stringify would have written, whichever of its paths (byte loop, native write, escaping,
// pre-encoded fragments) a value takes.
import { describe, expect, it } from 'vitest';
import { fragment, JsonBytes } from '../../src/observe/json-bytes.js';

const text = (out: JsonBytes) => out.bytes().toString('utf8');

describe('JsonBytes', () => {
  it('writes strings, short and long, plain or needing escapes, as JSON.stringify does', () => {
    const values = [
      '',
      'bench',
      'x'.repeat(23),
      'y'.repeat(24),
      '01JDEXAMPLEEVENTID0000000000',
      'say "hi"',
      `${'long enough to be written natively '.repeat(2)}"quoted"`,
      'tab\tand\nnewline',
      'back\\slash in a string long enough for the native path',
      'café ☕ 😀',
      `${'native path '.repeat(3)}café`,
      'lone \ud800 surrogate',
      '\u007f delete',
    ];
    for (const value of values) {
      const out = new JsonBytes(16);
      out.string(value);
      expect(text(out)).toBe(JSON.stringify(value));
      expect(JSON.parse(text(out))).toBe(JSON.parse(JSON.stringify(value)));
    }
  });

  it('writes ASCII text, short and long, byte for byte', () => {
    const out = new JsonBytes(16);
    const long = '0af7651916cd43dd8448eb211c80319c';
    out.ascii('"').ascii(long).ascii('","').ascii('b7ad6b7169203331').ascii('"');
    expect(text(out)).toBe(`"${long}","b7ad6b7169203331"`);
  });

  it('copies fragments in, and refuses to make one of text that is not ASCII', () => {
    const out = new JsonBytes(16);
    out.raw(fragment('{"name":')).string('deliver').raw(fragment('}'));
    expect(JSON.parse(text(out))).toEqual({ name: 'deliver' });
    expect(() => fragment('café')).toThrow('a JSON fragment must be ASCII: café');
  });

  it('writes numbers as JSON does', () => {
    for (const value of [0, 7, 10, 1_234_567_890, Number.MAX_SAFE_INTEGER, -3, 0.25, 1e21]) {
      const out = new JsonBytes(16);
      out.number(value);
      expect(text(out)).toBe(JSON.stringify(value));
    }
  });

  it('writes HrTimes as nanoseconds since the epoch, zero-padded, across changing seconds', () => {
    const times: Array<[number, number]> = [
      [1_764_166_931, 123_456_789],
      [1_764_166_931, 5],
      [1_764_166_932, 0],
      [1_764_166_931, 999_999_999],
      [0, 42],
    ];
    const out = new JsonBytes(16);
    times.forEach(([seconds, nanos], i) => {
      if (i > 0) out.ascii(',');
      out.unixNanos(seconds, nanos);
    });
    const expected = times.map(([s, n]) => String(BigInt(s) * 1_000_000_000n + BigInt(n)));
    expect(JSON.parse(`[${text(out)}]`)).toEqual(expected);
  });

  it('grows past its first capacity, and starts over on reset keeping what it grew to', () => {
    const out = new JsonBytes(1_024);
    const chunk = 'z'.repeat(100);
    for (let i = 0; i < 50; i++) out.string(chunk);
    expect(out.size).toBe(50 * 102);
    expect(text(out)).toBe(JSON.stringify(chunk).repeat(50));
    out.reset().string('again');
    expect(text(out)).toBe('"again"');
  });
});
