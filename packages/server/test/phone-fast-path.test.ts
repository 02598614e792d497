// The phone fast path (domain/phone.ts) answers the everyday shapes of the default country's
// numbers without libphonenumber. These properties prove it gives exactly libphonenumber's answer
// on every input it handles, and that it does handle the shapes searchByOLNum sees in practice
// (`+380 44 224-65-95`, `0442246595`, `380442246595`), so it is not vacuously "correct".
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import {
  FAST_PATH_COUNTRIES,
  fastNormalize,
  normalizePhone,
  normalizeWithLibphonenumber,
} from '../src/domain/phone.ts';

const digit = fc.constantFrom(...'0123456789');
const digitsOf = (n: number) => fc.array(digit, { minLength: n, maxLength: n }).map((d) => d.join(''));
const separator = fc.constantFrom(' ', '-', '.', '(', ')', '  ', ' - ', ') ', ' (');

/** Digits with separators sprinkled between them, maybe a leading `(`, maybe outer spaces. */
const sprinkled = (digits: string) =>
  fc
    .tuple(
      fc.array(fc.option(separator, { freq: 2 }), { minLength: digits.length, maxLength: digits.length }),
      fc.boolean(),
      fc.constantFrom('', ' ', '  '),
      fc.constantFrom('', ' '),
    )
    .map(([seps, paren, lead, trail]) => {
      let out = paren ? '(' : '';
      for (let i = 0; i < digits.length; i++)
        out += digits[i] + (i < digits.length - 1 ? (seps[i] ?? '') : '');
      return lead + out + trail;
    });

for (const [country, plan] of Object.entries(FAST_PATH_COUNTRIES)) {
  /** The shapes the fast path is meant for, around any national significant number. */
  const shaped = fc
    .tuple(digitsOf(plan.nsn), fc.constantFrom('+cc', 'cc', 'prefix', '+prefix', '00cc', 'cc0'))
    .chain(([nsn, shape]) => {
      const digits =
        shape === '+cc' || shape === 'cc'
          ? plan.cc + nsn
          : shape === '00cc'
            ? `00${plan.cc}${nsn}`
            : shape === 'cc0'
              ? `${plan.cc}0${nsn}`
              : plan.prefix + nsn;
      return sprinkled(digits).map((s) => (shape.startsWith('+') ? `+${s}` : s));
    });

  describe(`phone fast path for ${country} (+${plan.cc})`, () => {
    test('answers exactly what libphonenumber answers, on every input it handles', () => {
      fc.assert(
        fc.property(shaped, (input) => {
          const fast = fastNormalize(input, country);
          if (fast !== undefined) assert.equal(fast, normalizeWithLibphonenumber(input, country), input);
        }),
        { numRuns: 20_000 },
      );
    });

    test('also on arbitrary text made of digits, separators, + and letters', () => {
      const text = fc
        .array(
          fc.constantFrom(...'0123456789', '0', '3', '8', ' ', '-', '+', '(', ')', '.', 'x', '\t', '/'),
          {
            maxLength: 20,
          },
        )
        .map((cs) => cs.join(''));
      const seeded = fc
        .tuple(fc.constantFrom(`+${plan.cc}`, plan.cc, plan.prefix, ''), text)
        .map(([a, b]) => a + b);
      fc.assert(
        fc.property(fc.oneof(text, seeded), (input) => {
          const fast = fastNormalize(input, country);
          if (fast !== undefined) assert.equal(fast, normalizeWithLibphonenumber(input, country), input);
        }),
        { numRuns: 20_000 },
      );
    });

    test('handles the everyday shapes (international, national, country code without +)', () => {
      fc.assert(
        fc.property(
          digit.filter((d) => d !== '0'),
          digitsOf(plan.nsn - 1),
          (d0, rest) => {
            const nsn = d0 + rest;
            const want = `+${plan.cc}${nsn}`;
            const spaced = `+${plan.cc} ${nsn.slice(0, 2)} ${nsn.slice(2, 5)}-${nsn.slice(5, 7)}-${nsn.slice(7)}`;
            for (const input of [want, plan.cc + nsn, plan.prefix + nsn, spaced, ` ${plan.prefix}${nsn} `]) {
              assert.equal(fastNormalize(input, country), want, input);
              assert.equal(normalizeWithLibphonenumber(input, country), want, input);
            }
          },
        ),
        { numRuns: 2_000 },
      );
    });
  });
}

describe('normalizePhone', () => {
  test('is normalizeWithLibphonenumber, with or without the fast path and the cache', () => {
    const text = fc
      .array(fc.constantFrom(...'0123456789', ' ', '-', '+', '(', ')', 'x'), { maxLength: 16 })
      .map((cs) => cs.join(''));
    fc.assert(
      fc.property(text, fc.constantFrom('UA', 'PL', 'US', 'DE'), (input, country) => {
        const want = normalizeWithLibphonenumber(input, country);
        assert.equal(normalizePhone(input, country), want, input);
        assert.equal(normalizePhone(input, country), want, `${input} (again, from the cache)`);
      }),
      { numRuns: 5_000 },
    );
  });

  test('countries without a fast path always go to libphonenumber', () => {
    assert.equal(fastNormalize('0442246595', 'PL'), undefined);
    assert.equal(fastNormalize('+380442246595', 'US'), undefined);
    assert.equal(normalizePhone('+380 44 224-65-95', 'US'), '+380442246595');
  });
});
