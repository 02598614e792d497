// Bencode, the encoding of rtpengine's NG control protocol (BitTorrent's BEP 3 format: byte strings,
// integers, lists, dictionaries).
//
// The decoder is strict because what it reads arrives over UDP: every malformed, truncated or
// oversized input ends in a BencodeError (never a hang, a stack overflow or a partial value).
// Two leniencies, both because rtpengine itself needs them: dictionary keys may come in any
// order (rtpengine's encoder writes them in insertion order, not sorted), and byte strings may be
// returned as UTF-8 text (SDP, tags and reasons are text; `strings: 'buffer'` keeps raw bytes).

/** A bencoded value as this module produces and accepts it. */
export type BencodeValue = string | Buffer | number | bigint | BencodeValue[] | BencodeDict;

/** A dictionary; `undefined` members are left out when encoding (handy for optional NG options). */
export interface BencodeDict {
  [key: string]: BencodeValue | undefined;
}

export type BencodeErrorCode =
  | 'TRUNCATED' // the input ends inside a value
  | 'INVALID' // a byte that cannot start or continue a value here
  | 'BAD_INTEGER' // `i…e` or a string length that is not a canonical integer
  | 'DUPLICATE_KEY' // a dictionary names one key twice
  | 'TOO_DEEP' // more nested lists/dictionaries than `maxDepth`
  | 'TRAILING_DATA' // bytes left after the one top-level value
  | 'UNENCODABLE'; // encode() was given something bencode has no form for

/** Why an input is not bencode (or a value cannot be encoded); `offset` is where decoding stopped. */
export class BencodeError extends Error {
  override readonly name = 'BencodeError';
  constructor(
    readonly code: BencodeErrorCode,
    message: string,
    readonly offset?: number,
  ) {
    super(offset === undefined ? message : `${message} (at byte ${offset})`);
  }
}

export interface DecodeOptions {
  /** Byte strings as UTF-8 `string`s (default) or as `Buffer`s. */
  strings?: 'utf8' | 'buffer';
  /** Deepest nesting of lists and dictionaries accepted (default 64: NG replies nest 4–5 deep). */
  maxDepth?: number;
}

const I = 0x69; // 'i'
const L = 0x6c; // 'l'
const D = 0x64; // 'd'
const E = 0x65; // 'e'
const COLON = 0x3a;
const MINUS = 0x2d;
const ZERO = 0x30;
const NINE = 0x39;

/**
 * Decodes exactly one bencoded value filling all of `input`.
 *
 * @example decode(Buffer.from('d6:result4:ponge')) // { result: 'pong' }
 */
export function decode(input: Buffer | Uint8Array | string, options: DecodeOptions = {}): BencodeValue {
  // Read in place (what is returned is copied out of it: strings, and `Buffer.from` for bytes).
  const buf =
    typeof input === 'string'
      ? Buffer.from(input, 'utf8')
      : Buffer.isBuffer(input)
        ? input
        : Buffer.from(input.buffer, input.byteOffset, input.byteLength);
  const asText = (options.strings ?? 'utf8') === 'utf8';
  const maxDepth = options.maxDepth ?? 64;
  let pos = 0;

  const fail = (code: BencodeErrorCode, message: string, at = pos): never => {
    throw new BencodeError(code, message, at);
  };
  const need = (what: string) => {
    if (pos >= buf.length) fail('TRUNCATED', `input ends before ${what}`);
  };

  /** Digits (with an optional minus) up to `end`; canonical: no leading zeros, no `-0`. */
  const readInteger = (end: number, what: string, signed: boolean): number | bigint => {
    const start = pos;
    // The value is summed while scanning (a string length is an integer: thousands per reply);
    // the text is made only for a failure or a value past 2^53.
    let n = 0;
    for (;;) {
      if (pos >= buf.length) need(`the end of ${what}`);
      const c = buf[pos];
      if (c === end) break;
      const digit = c >= ZERO && c <= NINE;
      if (!digit && !(signed && c === MINUS && pos === start))
        fail('BAD_INTEGER', `unexpected byte in ${what}`);
      if (digit) n = n * 10 + (c - ZERO);
      pos++;
    }
    // Canonical: ^(0|-?[1-9][0-9]*)$ — digits, no leading zero but a lone 0, no -0.
    const negative = buf[start] === MINUS;
    const first = negative ? start + 1 : start;
    const canonical = pos > first && (buf[first] !== ZERO || (pos === first + 1 && !negative));
    if (!canonical)
      fail('BAD_INTEGER', `${what} "${buf.toString('latin1', start, pos)}" is not canonical`, start);
    pos++; // the terminator
    if (Number.isSafeInteger(n)) return negative ? -n : n;
    const text = buf.toString('latin1', start, pos - 1);
    const big = Number(text);
    return Number.isSafeInteger(big) ? big : BigInt(text);
  };

  const readString = (): string | Buffer => {
    const at = pos;
    const len = readInteger(COLON, 'a string length', false);
    // A length beyond what is left is truncation (a bigint length always is).
    if (typeof len === 'bigint' || len > buf.length - pos) {
      fail('TRUNCATED', `a string of ${len} bytes runs past the end of the input`, at);
    }
    const n = len as number;
    const bytes = buf.subarray(pos, pos + n);
    pos += n;
    return asText ? bytes.toString('utf8') : Buffer.from(bytes);
  };

  const readValue = (depth: number): BencodeValue => {
    need('a value');
    const c = buf[pos];
    if (c === I) {
      pos++;
      return readInteger(E, 'an integer', true);
    }
    if (c >= ZERO && c <= NINE) return readString();
    if (c === L || c === D) {
      if (depth >= maxDepth) fail('TOO_DEEP', `more than ${maxDepth} nested lists/dictionaries`);
      pos++;
      if (c === L) {
        const list: BencodeValue[] = [];
        for (;;) {
          need('the end of a list');
          if (buf[pos] === E) break;
          list.push(readValue(depth + 1));
        }
        pos++;
        return list;
      }
      const dict: BencodeDict = {};
      for (;;) {
        need('the end of a dictionary');
        if (buf[pos] === E) break;
        const at = pos;
        if (buf[pos] < ZERO || buf[pos] > NINE) fail('INVALID', 'a dictionary key must be a string');
        const raw = readString();
        const key = typeof raw === 'string' ? raw : raw.toString('utf8');
        if (Object.hasOwn(dict, key)) fail('DUPLICATE_KEY', `the key "${key}" appears twice`, at);
        // defineProperty, not assignment: a key "__proto__" must stay a plain member.
        Object.defineProperty(dict, key, {
          value: readValue(depth + 1),
          enumerable: true,
          writable: true,
          configurable: true,
        });
      }
      pos++;
      return dict;
    }
    return fail('INVALID', `unexpected byte 0x${c.toString(16).padStart(2, '0')}`);
  };

  const value = readValue(0);
  if (pos !== buf.length) fail('TRAILING_DATA', `${buf.length - pos} bytes after the value`);
  return value;
}

/**
 * Encodes a value: strings as UTF-8 byte strings, Buffers as they are, integers (safe `number`s or
 * `bigint`s), lists, and dictionaries with their keys sorted by their bytes, as bencode requires.
 *
 * @example encode({ command: 'ping' }).toString() // 'd7:command4:pinge'
 */
export function encode(value: BencodeValue): Buffer {
  const parts: Buffer[] = [];
  write(value, parts, 0);
  return Buffer.concat(parts);
}

function write(value: unknown, out: Buffer[], depth: number): void {
  if (depth > 64) throw new BencodeError('UNENCODABLE', 'more than 64 nested lists/dictionaries (a cycle?)');
  if (typeof value === 'string') {
    const bytes = Buffer.from(value, 'utf8');
    out.push(Buffer.from(`${bytes.length}:`, 'latin1'), bytes);
  } else if (Buffer.isBuffer(value) || value instanceof Uint8Array) {
    out.push(Buffer.from(`${value.length}:`, 'latin1'), Buffer.from(value));
  } else if (typeof value === 'number') {
    if (!Number.isSafeInteger(value)) throw new BencodeError('UNENCODABLE', `${value} is not a safe integer`);
    out.push(Buffer.from(`i${value}e`, 'latin1'));
  } else if (typeof value === 'bigint') {
    out.push(Buffer.from(`i${value}e`, 'latin1'));
  } else if (Array.isArray(value)) {
    out.push(Buffer.from('l'));
    for (const item of value) write(item, out, depth + 1);
    out.push(Buffer.from('e'));
  } else if (value !== null && typeof value === 'object') {
    const entries = Object.entries(value)
      .filter(([, v]) => v !== undefined)
      .map(([k, v]) => [Buffer.from(k, 'utf8'), v] as const)
      .sort(([a], [b]) => Buffer.compare(a, b));
    out.push(Buffer.from('d'));
    for (const [k, v] of entries) {
      out.push(Buffer.from(`${k.length}:`, 'latin1'), k);
      write(v, out, depth + 1);
    }
    out.push(Buffer.from('e'));
  } else {
    throw new BencodeError(
      'UNENCODABLE',
      `bencode has no form for ${value === null ? 'null' : typeof value}`,
    );
  }
}
