// The URL hash is the console's router: `#/<page>?<params>`. Links from call events point into
// it (`#/contacts?id=5`, `#/contacts?new=%2B380501234567`), so the whole hash is a signal, kept
// through the sign-in screen (it is only read, never reset, until the user navigates).
import { signal } from './signal.ts';

/** `location.hash`, current. */
export const hash = signal(location.hash);
window.addEventListener('hashchange', () => hash.set(location.hash));

/** The page name of a hash (`contacts` of `#/contacts?id=5`). */
export const hashPage = (h: string) => h.replace(/^#\/?/, '').split('?')[0];

/**
 * The parameters of a hash. Values are percent-decoded but a `+` stays a `+` (URLSearchParams
 * would read it as a space, and `#/contacts?new=+380…` is what people type); a value that does
 * not decode is kept as written.
 */
export function hashParams(h: string): Record<string, string> {
  const q = h.indexOf('?');
  const out: Record<string, string> = {};
  if (q < 0) return out;
  for (const part of h.slice(q + 1).split('&')) {
    if (!part) continue;
    const eq = part.indexOf('=');
    const [k, v] = eq < 0 ? [part, ''] : [part.slice(0, eq), part.slice(eq + 1)];
    const dec = (s: string) => {
      try {
        return decodeURIComponent(s);
      } catch {
        return s;
      }
    };
    out[dec(k)] = dec(v);
  }
  return out;
}

/** Navigates within the console; `replace` keeps the current entry out of the back history. */
export function go(to: string, replace = false) {
  if (replace) {
    history.replaceState(history.state, '', to);
    hash.set(location.hash);
  } else location.hash = to;
}

let consoleHost: string | null = null;
/** The signed-in account's domain: its console origin (`http://<domain>:port/`) is this console. */
export function setConsoleHost(domain: string | null) {
  consoleHost = domain?.toLowerCase() ?? null;
}

/**
 * How to link a URL from a call's `otherLegs`: a link into this console (its origin or the
 * account's console host, path `/`, a `#/` route) becomes that route on this tab; any other http(s)
 * URL is a foreign CRM's, opened in a new tab; anything else (`javascript:` …) is no link at all.
 */
export function linkOf(url: string | null | undefined): { href: string; own: boolean } | null {
  if (!url) return null;
  let u: URL;
  try {
    u = new URL(url, location.href);
  } catch {
    return null;
  }
  if (u.protocol !== 'http:' && u.protocol !== 'https:') return null;
  const ours = u.origin === location.origin || (consoleHost !== null && u.hostname === consoleHost);
  if (ours && u.pathname === '/' && u.hash.startsWith('#/')) return { href: u.hash, own: true };
  return { href: u.href, own: false };
}
