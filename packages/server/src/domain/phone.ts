import { type CountryCode, getCountryCallingCode, parsePhoneNumberFromString } from 'libphonenumber-js';

/**
 * The key a phone number is indexed and searched by: E.164 when the input is a possible phone
 * number (national forms use the account's default country, `380…` without `+` is recognised),
 * otherwise its digits (extensions, short codes) so exact matches still work. `null` when the
 * input has fewer than two digits.
 * @example normalizePhone('0442246595', 'UA') === '+380442246595'
 */
export function normalizePhone(input: string, defaultCountry: string): string | null {
  const fast = fastNormalize(input, defaultCountry);
  if (fast !== undefined) return fast;
  const key = `${defaultCountry}|${input}`;
  const hit = cache.get(key);
  if (hit !== undefined) return hit;
  const out = normalizeWithLibphonenumber(input, defaultCountry);
  // Parsing costs ~25–50 µs; lookups repeat the same numbers (callers, imports), so remember the
  // most recent ones (a Map iterates in insertion order: the first key is the oldest).
  if (cache.size >= CACHE_MAX) cache.delete(cache.keys().next().value as string);
  cache.set(key, out);
  return out;
}

const CACHE_MAX = 50_000;
const cache = new Map<string, string | null>();

/**
 * What `normalizePhone` answers, always through libphonenumber (no fast path, no cache): the
 * definition the fast path is tested against.
 */
export function normalizeWithLibphonenumber(input: string, defaultCountry: string): string | null {
  const text = input.trim();
  const digits = text.replace(/\D/g, '');
  if (digits.length < 2 || digits.length > 20) return null;
  const parsed = parsePhoneNumberFromString(text, defaultCountry as CountryCode);
  if (parsed?.isPossible()) return parsed.number;
  if (text.startsWith('+') || text.startsWith('00')) {
    const intl = parsePhoneNumberFromString(`+${text.startsWith('00') ? digits.slice(2) : digits}`);
    if (intl?.isPossible()) return intl.number;
  }
  return digits;
}

/**
 * Countries whose everyday number shapes are normalized without libphonenumber (its parse costs
 * ≈25 µs, a third of a `searchByOLNum` request). For each: the calling code, the national
 * (trunk) prefix and the length of the national significant number. The shapes handled are
 * exactly these (digits may be separated by spaces, `-`, `.`, `(`, `)`; a leading `(` too):
 * - `+<cc><nsn>` and `<cc><nsn>`           → `+<cc><nsn>`
 * - `<prefix><nsn>`, nsn not starting with 0 → `+<cc><nsn>` (`00…` is the international prefix)
 * Anything else (other lengths, letters, `00…`, other countries) goes to libphonenumber.
 * test/phone-fast-path.test.ts proves with fast-check that every answer given here is the one
 * `normalizeWithLibphonenumber` gives; a country is added here only with that test covering it.
 */
export const FAST_PATH_COUNTRIES: Readonly<Record<string, { cc: string; prefix: string; nsn: number }>> = {
  UA: { cc: '380', prefix: '0', nsn: 9 },
};

/** The fast path: the answer, or `undefined` when the input is not one of the shapes handled. */
export function fastNormalize(input: string, defaultCountry: string): string | null | undefined {
  const plan = FAST_PATH_COUNTRIES[defaultCountry];
  if (plan === undefined) return undefined;
  let start = 0;
  let end = input.length;
  while (start < end && input.charCodeAt(start) === 32) start++;
  while (end > start && input.charCodeAt(end - 1) === 32) end--;
  if (start === end) return undefined;
  const plus = input.charCodeAt(start) === 43; // '+'
  if (plus) start++;
  // The first character is a digit or `(`, the last a digit; in between, digits and separators.
  const first = input.charCodeAt(start);
  if ((!isDigit(first) && first !== 40) || !isDigit(input.charCodeAt(end - 1))) return undefined;
  let digits = '';
  for (let i = start; i < end; i++) {
    const c = input.charCodeAt(i);
    if (isDigit(c)) digits += input[i];
    else if (c !== 32 && c !== 45 && c !== 46 && c !== 40 && c !== 41) return undefined; // ' ' - . ( )
  }
  const { cc, prefix, nsn } = plan;
  if (digits.length === cc.length + nsn && digits.startsWith(cc)) return `+${digits}`;
  if (
    !plus &&
    digits.length === prefix.length + nsn &&
    digits.startsWith(prefix) &&
    digits.charCodeAt(prefix.length) !== 48 // '0'
  )
    return `+${cc}${digits.slice(prefix.length)}`;
  return undefined;
}

const isDigit = (c: number) => c >= 48 && c <= 57;

/** True when `country` is a region libphonenumber knows (ISO 3166-1 alpha-2). */
export function isKnownCountry(country: string): boolean {
  try {
    getCountryCallingCode(country as CountryCode);
    return true;
  } catch {
    return false;
  }
}
