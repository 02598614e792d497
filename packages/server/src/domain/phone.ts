import { type CountryCode, getCountryCallingCode, parsePhoneNumberFromString } from 'libphonenumber-js';

/**
 * The key a phone number is indexed and searched by: E.164 when the input is a possible phone
 * number (national forms use the account's default country, `380…` without `+` is recognised),
 * otherwise its digits (extensions, short codes) so exact matches still work. `null` when the
 * input has fewer than two digits.
 * @example normalizePhone('0442246595', 'UA') === '+380442246595'
 */
export function normalizePhone(input: string, defaultCountry: string): string | null {
  const key = `${defaultCountry}|${input}`;
  const hit = cache.get(key);
  if (hit !== undefined) return hit;
  const out = parse(input, defaultCountry);
  // Parsing costs ~50 µs; lookups repeat the same numbers (callers, imports), so remember the
  // most recent ones (a Map iterates in insertion order: the first key is the oldest).
  if (cache.size >= CACHE_MAX) cache.delete(cache.keys().next().value as string);
  cache.set(key, out);
  return out;
}

const CACHE_MAX = 50_000;
const cache = new Map<string, string | null>();

function parse(input: string, defaultCountry: string): string | null {
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

/** True when `country` is a region libphonenumber knows (ISO 3166-1 alpha-2). */
export function isKnownCountry(country: string): boolean {
  try {
    getCountryCallingCode(country as CountryCode);
    return true;
  } catch {
    return false;
  }
}
