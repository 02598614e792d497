// The seeded SIP fuzzer of the `sip` part of `npm run proof`: real messages (the requests a phone,
// a carrier or Kamailio's relay would send, and responses to nothing) mutated the ways broken or
// hostile peers break them — truncated start lines, bad or lying Content-Length, missing and
// duplicated headers, huge headers and Via chains, bad URIs and numbers, bare LF, folding,
// NUL and non-UTF-8 bytes, binary garbage — one to three mutations a case. The same seed draws
// the same cases, so a case that hurts can be replayed.
import { buildRequest, sdpOffer, token } from './sip-raw.ts';

export interface FuzzCase {
  kind: string;
  data: Buffer;
}

export interface FuzzTarget {
  /** The domain of the proof's account (so some cases reach real routing). */
  domain: string;
  /** A trunk's number (an INVITE to it from a source that is not its peer: a 403 path). */
  did: string;
  /** Headers a case for the B2BUA may carry (what Kamailio adds), `{src}` replaced by the source. */
  extraHeaders?: string[];
}

type Rand = () => number;

const METHODS = [
  'INVITE',
  'REGISTER',
  'OPTIONS',
  'BYE',
  'CANCEL',
  'ACK',
  'MESSAGE',
  'REFER',
  'NOTIFY',
  'INFO',
  'UPDATE',
  'SUBSCRIBE',
  'PRACK',
];

function base(
  rand: Rand,
  t: FuzzTarget,
  src: { address: string; port: number },
): { kind: string; text: string } {
  const pick = <T>(xs: readonly T[]) => xs[Math.floor(rand() * xs.length)];
  const extra = (t.extraHeaders ?? []).map((h) => h.replaceAll('{src}', `${src.address}:${src.port}`));
  const r = rand();
  if (r < 0.12) {
    // A response nobody asked for (a reflected or spoofed answer).
    const status = pick([100, 180, 183, 200, 202, 401, 407, 481, 487, 500, 503, 603]);
    return {
      kind: `response ${status}`,
      text: [
        `SIP/2.0 ${status} Whatever`,
        `Via: SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bK${token()}`,
        `From: <sip:001@${t.domain}>;tag=${token(4)}`,
        `To: <sip:002@${t.domain}>;tag=${token(4)}`,
        `Call-ID: ${token()}@127.0.0.1`,
        `CSeq: 1 ${pick(['INVITE', 'BYE', 'OPTIONS'])}`,
        ...(status === 200
          ? [`Contact: <sip:x@${src.address}:${src.port}>`, 'Content-Type: application/sdp']
          : []),
        ...(status === 200 ? [] : ['Content-Length: 0']),
        '',
        status === 200 ? sdpOffer(src.address) : '',
      ].join('\r\n'),
    };
  }
  const method = pick(METHODS);
  const user = pick(['001', '002', '0501234567', '+380501234567', t.did, '00380441112233', 'anonymous', '']);
  const fromUser = pick(['001', 'carrier', '+380671234567', 'anonymous', '999']);
  const inDialog =
    ['BYE', 'ACK', 'CANCEL', 'REFER', 'NOTIFY', 'INFO', 'UPDATE', 'PRACK'].includes(method) && rand() < 0.7;
  const text = buildRequest({
    method,
    uri: method === 'REGISTER' ? `sip:${t.domain}` : `sip:${user}@${t.domain}`,
    from: `sip:${fromUser}@${pick([t.domain, 'evil.example', src.address])}`,
    to: method === 'REGISTER' ? `sip:${fromUser}@${t.domain}` : `sip:${user}@${t.domain}`,
    src,
    toTag: inDialog ? token(4) : undefined,
    cseq: Math.floor(rand() * 1000) + 1,
    headers: [
      ...extra,
      ...(method === 'REFER'
        ? [`Refer-To: <sip:002@${t.domain}?Replaces=${token()}%3Bto-tag%3Dx%3Bfrom-tag%3Dy>`]
        : []),
      ...(method === 'REGISTER' ? ['Expires: 600'] : []),
      ...(method === 'NOTIFY' ? ['Event: refer', 'Subscription-State: active'] : []),
    ],
    body:
      method === 'INVITE' || method === 'UPDATE' || (method === 'ACK' && rand() < 0.3)
        ? sdpOffer(src.address)
        : '',
  });
  return { kind: method, text };
}

const BAD_CONTENT_LENGTH = [
  '-1',
  '99999999',
  'abc',
  '',
  '1e3',
  '0x10',
  '4294967296',
  '18446744073709551616',
  ' 5 5',
];
const BAD_START = [
  (s: string) => s.slice(0, Math.max(1, Math.floor(s.indexOf('\r\n') / 2))),
  (s: string) => s.replace(/ SIP\/2\.0\r\n/, '\r\n'),
  (s: string) => s.replace(/SIP\/2\.0/, 'SIP/3.0'),
  (s: string) => s.replace(/^(\S+) /, '$1  '),
  (s: string) => s.replace(/^(\S+)/, (m) => m.toLowerCase()),
  (s: string) => s.replace(/^(\S+)/, 'IN\u0000VITE'),
  (s: string) => s.replace(/^(\S+) \S+/, '$1 '),
  (s: string) => s.replace(/^SIP\/2\.0 \d{3}/, 'SIP/2.0 abc').replace(/^(\S+) (\S+)/, '$1 sip:'),
  (s: string) => s.replace(/^SIP\/2\.0 \d{3}/, 'SIP/2.0 999').replace(/^(\S+) (\S+)/, '$1 sip:[::1'),
  (s: string) => s.replace(/^(\S+) (\S+)/, '$1 sip:a@b:99999;;;=='),
  (s: string) => s.replace(/^(\S+) (\S+)/, '$1 tel:'),
  (s: string) => s.replace(/^(\S+) (\S+)/, `$1 sip:${'%'.repeat(300)}@x`),
];
const BAD_VALUES: [RegExp, string[]][] = [
  [
    /^CSeq:.*$/m,
    ['CSeq: abc INVITE', 'CSeq: 4294967296 INVITE', 'CSeq: 1', 'CSeq: -5 BYE', 'CSeq: 1 INVITE INVITE'],
  ],
  [
    /^Via:.*$/m,
    [
      'Via: SIP/2.0/UDP',
      'Via: SIP/2.0/XYZ 1.2.3.4',
      'Via: SIP/2.0/UDP 127.0.0.1:0;branch=',
      'Via: SIP/2.0/UDP [::1;rport',
      'Via: garbage',
    ],
  ],
  [
    /^From:.*$/m,
    [
      'From: <sip:x@y>',
      'From: <<<',
      'From: "unterminated <sip:x@y>;tag=1',
      'From:',
      'From: sip:x@y;tag=;tag=;tag=',
    ],
  ],
  [/^To:.*$/m, ['To: <', 'To: <sip:@>', 'To: <sip:001@>;tag=', 'To: "\u00ff\u00fe" <sip:x@y>']],
  [
    /^Max-Forwards:.*$/m,
    ['Max-Forwards: -1', 'Max-Forwards: 0', 'Max-Forwards: 99999999999', 'Max-Forwards: x'],
  ],
  [
    /^Contact:.*$/m,
    [
      'Contact: *',
      'Contact: <sip:x@1.2.3.4:70000>',
      'Contact: <>',
      `Contact: <sip:x@y>;expires=${'9'.repeat(40)}`,
    ],
  ],
  [/^Call-ID:.*$/m, ['Call-ID:', 'Call-ID: \u0000\u0001\u0002', `Call-ID: ${'x'.repeat(5000)}`]],
];
const MANDATORY = ['Via', 'From', 'To', 'Call-ID', 'CSeq', 'Max-Forwards', 'Content-Length', 'Contact'];

function mutate(rand: Rand, text: string): { what: string; text: string } {
  const pick = <T>(xs: readonly T[]) => xs[Math.floor(rand() * xs.length)];
  const r = Math.floor(rand() * 12);
  switch (r) {
    case 0:
      return { what: 'truncated', text: text.slice(0, Math.floor(rand() * text.length)) };
    case 1:
      return {
        what: 'bad Content-Length',
        text: text.replace(/^Content-Length:.*$/m, `Content-Length: ${pick(BAD_CONTENT_LENGTH)}`),
      };
    case 2: {
      const h = pick(MANDATORY);
      return { what: `no ${h}`, text: text.replace(new RegExp(`^${h}:.*\\r\\n`, 'm'), '') };
    }
    case 3: {
      const h = pick(['Call-ID', 'CSeq', 'Content-Length', 'From', 'To']);
      const m = new RegExp(`^${h}:.*$`, 'm').exec(text);
      const dup = h === 'Content-Length' ? 'Content-Length: 7' : `${h}: ${token()}`;
      return { what: `two ${h}`, text: m ? text.replace(m[0], `${m[0]}\r\n${dup}`) : text };
    }
    case 4: {
      const n = Math.floor(1000 + rand() * 60_000);
      return {
        what: `huge header (${n} B)`,
        text: text.replace(/\r\n/, `\r\nX-Junk: ${'A'.repeat(n)}\r\n`),
      };
    }
    case 5: {
      const n = Math.floor(50 + rand() * 600);
      const vias = Array.from(
        { length: n },
        (_, i) => `Via: SIP/2.0/UDP 10.0.${i >> 8}.${i & 255}:5060;branch=z9hG4bK${i}`,
      );
      return { what: `${n} Vias`, text: text.replace(/\r\n/, `\r\n${vias.join('\r\n')}\r\n`) };
    }
    case 6: {
      const bytes = Buffer.alloc(1 + Math.floor(rand() * 1400));
      for (let i = 0; i < bytes.length; i++) bytes[i] = Math.floor(rand() * 256);
      return { what: 'binary garbage', text: bytes.toString('latin1') };
    }
    case 7: {
      const chars = text.split('');
      const flips = 1 + Math.floor(rand() * 20);
      for (let i = 0; i < flips && chars.length; i++)
        chars[Math.floor(rand() * chars.length)] = String.fromCharCode(Math.floor(rand() * 256));
      return { what: `${flips} bytes flipped`, text: chars.join('') };
    }
    case 8:
      return { what: 'broken start line', text: pick(BAD_START)(text) };
    case 9: {
      const [re, values] = pick(BAD_VALUES);
      return { what: `bad ${String(re).slice(2, 8)}`, text: text.replace(re, pick(values)) };
    }
    case 10:
      return {
        what: pick(['bare LF', 'no blank line', 'folded headers']),
        text:
          rand() < 0.34
            ? text.replaceAll('\r\n', '\n')
            : rand() < 0.5
              ? text.replace('\r\n\r\n', '\r\n')
              : text.replace(/\r\n(From|To|Via):/g, '\r\n $1:'),
      };
    default: {
      // A body that lies about itself: an SDP with hostile fields.
      const sdp = pick([
        'v=0\r\nm=audio 99999 RTP/AVP 8\r\n',
        `v=0\r\nc=IN IP4 999.1.1.1\r\nm=audio 4000 RTP/AVP ${Array.from({ length: 400 }, (_, i) => i % 128).join(' ')}\r\n`,
        'v=0\r\nm=audio -1 RTP/AVP\r\na=rtpmap:8\r\n',
        `v=0\r\n${'a=x\r\n'.repeat(3000)}`,
        '\u0000\u0000\u0000',
      ]);
      const head = text
        .split('\r\n\r\n')[0]
        .replace(/^Content-Length:.*$/m, `Content-Length: ${Buffer.byteLength(sdp, 'latin1')}`);
      return {
        what: 'hostile SDP',
        text: `${head}${/Content-Type/i.test(head) ? '' : '\r\nContent-Type: application/sdp'}\r\n\r\n${sdp}`,
      };
    }
  }
}

/** Case `i` of the run seeded `rand`: one base message with 1–3 mutations. */
export function fuzzCase(rand: Rand, t: FuzzTarget, src: { address: string; port: number }): FuzzCase {
  const b = base(rand, t, src);
  let text = b.text;
  const whats: string[] = [];
  const n = 1 + Math.floor(rand() * rand() * 3);
  for (let i = 0; i < n; i++) {
    const m = mutate(rand, text);
    text = m.text;
    whats.push(m.what);
  }
  // UDP carries at most 65,507 bytes: larger cases are cut there (the cut is a truncation too).
  const data = Buffer.from(text, 'latin1').subarray(0, 65_000);
  return { kind: `${b.kind}: ${whats.join(' + ')}`, data };
}
