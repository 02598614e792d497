import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { CALL_DIRECTIONS, DIRECTION, parseDirections } from '../src/index.ts';

describe('parseDirections accepts every encoding real clients send (spec #7)', () => {
  test('absent or empty selects every call direction', () => {
    for (const input of [undefined, null, '', []])
      assert.deepEqual(parseDirections(input), [1, 2, 4], String(input));
    assert.deepEqual(CALL_DIRECTIONS, [DIRECTION.internal, DIRECTION.outgoing, DIRECTION.incoming]);
  });

  test('a bitmask: 6 is outgoing + incoming, 7 is all, a single bit is itself', () => {
    assert.deepEqual(parseDirections('6'), [2, 4]);
    assert.deepEqual(parseDirections(6), [2, 4]);
    assert.deepEqual(parseDirections('7'), [1, 2, 4]);
    assert.deepEqual(parseDirections('1'), [1]);
    assert.deepEqual(parseDirections('4'), [4]);
    assert.deepEqual(parseDirections('3'), [1, 2]);
  });

  test('repeated keys arrive as an array: [2, 4]', () => {
    assert.deepEqual(parseDirections(['2', '4']), [2, 4]);
    assert.deepEqual(parseDirections([2, 4]), [2, 4]);
    assert.deepEqual(parseDirections(['4', '2', '4']), [2, 4], 'order and duplicates do not matter');
  });

  test('PHP style (directions[]=2, directions[0]=4) is folded by the query parser into the same array', () => {
    assert.deepEqual(parseDirections(['2']), [2]);
    assert.deepEqual(parseDirections(['1', '4']), [1, 4]);
    assert.deepEqual(parseDirections(['6', '1']), [1, 2, 4], 'bitmasks inside an array are OR-ed');
  });

  test("comma lists: '2,4', with spaces, inside repeated keys", () => {
    assert.deepEqual(parseDirections('2,4'), [2, 4]);
    assert.deepEqual(parseDirections(' 2 , 4 '), [2, 4]);
    assert.deepEqual(parseDirections(['1,2', '4']), [1, 2, 4]);
    assert.deepEqual(parseDirections('2,,4,'), [2, 4], 'empty parts are ignored');
  });

  test('the result is always in the documented order 1, 2, 4', () => {
    assert.deepEqual(parseDirections('4,1'), [1, 4]);
  });

  test('invalid values are a RangeError naming the bad part', () => {
    const bad: Array<string | number | string[]> = [
      'abc',
      'x,2',
      '0',
      0,
      '8',
      '32',
      '64',
      '-2',
      '2.5',
      '1e1',
      '9999',
      ['2', 'in'],
      '0x2',
    ];
    for (const input of bad) {
      assert.throws(
        () => parseDirections(input),
        (e: unknown) => e instanceof RangeError && /directions/.test(e.message),
        JSON.stringify(input),
      );
    }
    assert.throws(() => parseDirections('abc'), /'abc'/);
    assert.throws(() => parseDirections('8'), /8/);
  });
});
