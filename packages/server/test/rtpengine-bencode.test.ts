// Bencode as rtpengine's NG protocol carries it: values round-trip, dictionaries are written with
// sorted keys, and every malformed or truncated input is a BencodeError (never a hang, a crash
// or a partial value), since these bytes arrive over UDP.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { BencodeError, type BencodeValue, decode, encode } from '../src/engine/sip/media/bencode.ts';

const enc = (v: BencodeValue) => encode(v).toString('latin1');

/** Asserts that decoding `input` fails with this code. */
function rejects(input: string | Buffer, code: BencodeError['code']) {
  assert.throws(
    () => decode(input),
    (e: unknown) => e instanceof BencodeError && e.code === code,
    `${JSON.stringify(input.toString())} → ${code}`,
  );
}

describe('bencode encoding', () => {
  test('strings, Buffers, integers, lists and dictionaries have their bencode forms', () => {
    assert.equal(enc('pong'), '4:pong');
    assert.equal(enc(''), '0:');
    assert.deepEqual(
      encode('ї'),
      Buffer.concat([Buffer.from('2:'), Buffer.from('ї')]),
      'length in UTF-8 bytes',
    );
    assert.equal(enc(Buffer.from([0, 255])), '2:\x00\xff');
    assert.equal(enc(0), 'i0e');
    assert.equal(enc(-42), 'i-42e');
    assert.equal(enc(2n ** 64n), 'i18446744073709551616e');
    assert.equal(enc(['a', 1, []]), 'l1:ai1elee');
    assert.equal(enc({ command: 'ping' }), 'd7:command4:pinge');
  });

  test('dictionary keys are written sorted by their bytes, whatever the insertion order', () => {
    assert.equal(
      enc({ sdp: 'x', 'call-id': 'c', ICE: 'remove', 'from-tag': 'f' }),
      'd3:ICE6:remove7:call-id1:c8:from-tag1:f3:sdp1:xe',
    );
    assert.equal(enc({ b: { z: 1, a: 2 }, a: 0 }), 'd1:ai0e1:bd1:ai2e1:zi1eee');
  });

  test('undefined members of a dictionary are left out (optional NG options)', () => {
    assert.equal(enc({ command: 'delete', 'to-tag': undefined }), 'd7:command6:deletee');
  });

  test('values bencode has no form for are an UNENCODABLE error', () => {
    for (const v of [1.5, Number.NaN, 2 ** 53, null, true, () => 1, Symbol('s')]) {
      assert.throws(
        () => encode(v as unknown as BencodeValue),
        (e: unknown) => e instanceof BencodeError && e.code === 'UNENCODABLE',
        String(v),
      );
    }
    const cycle: unknown[] = [];
    cycle.push(cycle);
    assert.throws(() => encode(cycle as BencodeValue), BencodeError);
  });
});

describe('bencode decoding', () => {
  test('reads what rtpengine writes, keys in any order (rtpengine does not sort them)', () => {
    assert.deepEqual(decode('d6:result4:ponge'), { result: 'pong' });
    assert.deepEqual(decode('d6:result2:ok3:sdp3:v=0e'), { result: 'ok', sdp: 'v=0' });
    assert.deepEqual(decode('d1:bi1e1:ai-2ee'), { b: 1, a: -2 });
    assert.deepEqual(decode('l0:i0eldeee'), ['', 0, [{}]]);
  });

  test('byte strings are UTF-8 text by default and Buffers on request', () => {
    assert.equal(decode(Buffer.concat([Buffer.from('6:'), Buffer.from('дзвін').subarray(0, 6)])), 'дзв');
    assert.deepEqual(decode('2:\x00\x01', { strings: 'buffer' }), Buffer.from([0, 1]));
    assert.deepEqual(
      decode(Buffer.from([0x32, 0x3a, 0xff, 0xfe]), { strings: 'buffer' }),
      Buffer.from([0xff, 0xfe]),
    );
  });

  test('integers beyond 2^53 come back as bigints, not rounded numbers', () => {
    assert.equal(decode('i9007199254740991e'), Number.MAX_SAFE_INTEGER);
    assert.equal(decode('i9007199254740993e'), 9007199254740993n);
    assert.equal(decode('i-9007199254740993e'), -9007199254740993n);
  });

  test('a key named __proto__ stays a plain member and does not change the prototype', () => {
    const d = decode('d9:__proto__d7:pollutei1eee') as Record<string, unknown>;
    assert.equal(Object.getPrototypeOf(d), Object.prototype);
    assert.deepEqual(Object.keys(d), ['__proto__']);
    assert.equal(({} as Record<string, unknown>).pollute, undefined);
  });

  test('truncated input is TRUNCATED, at every cut of a real reply', () => {
    const whole = encode({ result: 'ok', sdp: 'v=0\r\n', totals: { RTP: { packets: 12 } }, flags: ['a'] });
    for (let n = 0; n < whole.length; n++) rejects(whole.subarray(0, n), 'TRUNCATED');
    rejects('5:abc', 'TRUNCATED');
    rejects('99999999999999999999999:x', 'TRUNCATED');
    rejects('i12', 'TRUNCATED');
  });

  test('non-canonical or malformed integers and lengths are BAD_INTEGER', () => {
    for (const s of ['i03e', 'i-0e', 'ie', 'i-e', 'i1-2e', 'i1.5e', 'i+1e', 'i 1e', '01:a', '1a:b', '1-:a']) {
      rejects(s, 'BAD_INTEGER');
    }
  });

  test('bytes that cannot start a value, and non-string keys, are INVALID', () => {
    for (const s of ['x', 'e', ':', '-1:a', 'di1ei2ee', 'dlee', 'd1:a']) {
      assert.throws(() => decode(s), BencodeError, s);
    }
    rejects('x', 'INVALID');
    rejects('di1ei2ee', 'INVALID');
    rejects('', 'TRUNCATED');
  });

  test('a key twice in one dictionary is DUPLICATE_KEY', () => {
    rejects('d1:ai1e1:ai2ee', 'DUPLICATE_KEY');
  });

  test('bytes after the value are TRAILING_DATA', () => {
    rejects('4:pongx', 'TRAILING_DATA');
    rejects('i1ei2e', 'TRAILING_DATA');
  });

  test('deep nesting is TOO_DEEP instead of a stack overflow, even in a whole datagram of it', () => {
    rejects('l'.repeat(65_000), 'TOO_DEEP');
    rejects('d1:a'.repeat(16_000), 'TOO_DEEP');
    assert.deepEqual(
      decode(`${'l'.repeat(64)}${'e'.repeat(64)}`),
      decode(`${'l'.repeat(64)}${'e'.repeat(64)}`),
    );
    assert.throws(() => decode('lllee', { maxDepth: 2 }), BencodeError);
  });

  const value: fc.Arbitrary<BencodeValue> = fc.letrec<{ v: BencodeValue }>((tie) => ({
    v: fc.oneof(
      { depthSize: 'small' },
      fc.string({ unit: 'grapheme' }),
      fc.integer(),
      fc.bigInt({ min: -(2n ** 70n), max: 2n ** 70n }).filter((n) => n > 2n ** 53n || n < -(2n ** 53n)),
      fc.array(tie('v'), { maxLength: 4 }),
      fc
        .dictionary(fc.string({ unit: 'grapheme' }), tie('v'), { maxKeys: 4 })
        .map((d) => Object.fromEntries(Object.entries(d)) as BencodeValue),
    ),
  })).v;

  test('every value round-trips: decode(encode(v)) equals v', () => {
    fc.assert(
      fc.property(value, (v) => {
        assert.deepEqual(decode(encode(v)), v);
      }),
      { numRuns: 500 },
    );
  });

  test('random bytes, and corrupted encodings, never throw anything but a BencodeError', () => {
    const onlyBencodeErrors = (input: Uint8Array) => {
      try {
        decode(input);
      } catch (e) {
        if (!(e instanceof BencodeError)) throw e;
      }
    };
    fc.assert(fc.property(fc.uint8Array({ maxLength: 200 }), onlyBencodeErrors), { numRuns: 2000 });
    fc.assert(
      fc.property(value, fc.nat(), fc.integer({ min: 0, max: 255 }), (v, at, byte) => {
        const bytes = Buffer.from(encode(v));
        if (bytes.length > 0) bytes[at % bytes.length] = byte;
        onlyBencodeErrors(bytes);
      }),
      { numRuns: 1000 },
    );
  });
});
