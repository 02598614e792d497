// Auto-pagination as the document prescribes for call lists: ask with offset = what was read so
// far, until a page comes back shorter than the limit (stripe-node's auto-pagination shape).

/**
 * A lazily fetched list: iterate with `for await`, or collect with `toArray()`. Nothing is
 * requested until iteration starts; each iteration starts from the first page again.
 * @example
 * ```ts
 * for await (const call of client.calls.company({ from, to })) console.log(call.uuid);
 * const all = await client.calls.missed({ from, to }).toArray();
 * ```
 */
export interface Paginated<T> extends AsyncIterable<T> {
  /** Every item (stops after `max` when given). */
  toArray(max?: number): Promise<T[]>;
  /** The pages as the server returned them. */
  pages(): AsyncIterable<T[]>;
}

/**
 * Wraps a page fetcher into a {@link Paginated}.
 * @example
 * ```ts
 * const list = paginate(50, (offset, limit) => fetchPage(offset, limit));
 * ```
 */
export function paginate<T>(
  pageSize: number,
  fetchPage: (offset: number, limit: number) => Promise<T[]>,
  startOffset = 0,
): Paginated<T> {
  async function* pages(): AsyncGenerator<T[]> {
    let offset = startOffset;
    for (;;) {
      const page = await fetchPage(offset, pageSize);
      if (page.length > 0) yield page;
      if (page.length < pageSize || pageSize === 0) return;
      offset += page.length;
    }
  }
  async function* items(): AsyncGenerator<T> {
    for await (const page of pages()) yield* page;
  }
  return {
    [Symbol.asyncIterator]: items,
    pages,
    async toArray(max = Number.POSITIVE_INFINITY) {
      const out: T[] = [];
      for await (const page of pages()) {
        for (const item of page) {
          if (out.length >= max) return out;
          out.push(item);
        }
        if (out.length >= max) return out;
      }
      return out;
    },
  };
}
