// A minimal observable value, and a Preact hook that re-renders when it changes.
import { useLayoutEffect, useState } from 'preact/hooks';

export interface Signal<T> {
  get(): T;
  set(v: T): void;
  subscribe(fn: () => void): () => void;
}

export function signal<T>(initial: T): Signal<T> {
  let value = initial;
  const subs = new Set<() => void>();
  return {
    get: () => value,
    set(v) {
      if (v === value) return;
      value = v;
      for (const fn of [...subs]) fn();
    },
    subscribe(fn) {
      subs.add(fn);
      return () => subs.delete(fn);
    },
  };
}

/**
 * Re-renders the component when `s` changes; returns its value. The subscription is made in the
 * same task as the render (a layout effect), and a change between the render and the subscription
 * is caught by comparing again: a plain `useEffect` subscribes only after the paint, and a change
 * in that gap (an SSE event landing as the page mounts) was never shown.
 */
export function useSignal<T>(s: Signal<T>): T {
  const [, bump] = useState(0);
  const rendered = s.get();
  useLayoutEffect(() => {
    const off = s.subscribe(() => bump((n) => n + 1));
    if (s.get() !== rendered) bump((n) => n + 1);
    return off;
  }, [s]);
  return rendered;
}
