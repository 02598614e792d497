// A reader of `text/event-stream` (the WHATWG server-sent events format): fields `event`, `data`
// (several lines joined with \n), `id` and `retry`; comments (`:`) ignored; a blank line ends an
// event. Fed chunk by chunk, so events are handed out as soon as they are complete.

/** One server-sent event. `event` is 'message' when the server named none. */
export interface SseEvent {
  event: string;
  data: string;
  id: string | undefined;
}

/**
 * @example
 * const parse = createSseParser((e) => console.log(e.event, e.data));
 * parse('event: call.dial\ndata: {"uuid":"…"}\n\n');
 */
export function createSseParser(
  onEvent: (e: SseEvent) => void,
  onRetry: (ms: number) => void = () => {},
): (chunk: string) => void {
  let buffer = '';
  let event = '';
  let data: string[] = [];
  let id: string | undefined;
  let first = true;
  const dispatch = () => {
    if (data.length > 0) onEvent({ event: event || 'message', data: data.join('\n'), id });
    event = '';
    data = [];
  };
  const line = (l: string) => {
    if (l === '') return dispatch();
    if (l.startsWith(':')) return;
    const colon = l.indexOf(':');
    const field = colon === -1 ? l : l.slice(0, colon);
    let value = colon === -1 ? '' : l.slice(colon + 1);
    if (value.startsWith(' ')) value = value.slice(1);
    if (field === 'event') event = value;
    else if (field === 'data') data.push(value);
    else if (field === 'id' && !value.includes('\0')) id = value;
    else if (field === 'retry' && /^[0-9]+$/.test(value)) onRetry(Number(value));
  };
  return (chunk) => {
    buffer += chunk;
    if (first && buffer.length > 0) {
      if (buffer.charCodeAt(0) === 0xfeff) buffer = buffer.slice(1);
      first = false;
    }
    for (;;) {
      const m = /\r\n|\r|\n/.exec(buffer);
      // A lone \r at the end may be the first half of \r\n: wait for more.
      if (!m || (m[0] === '\r' && m.index === buffer.length - 1)) return;
      line(buffer.slice(0, m.index));
      buffer = buffer.slice(m.index + m[0].length);
    }
  };
}
