// SIPp for `npm run bench:sip`: phones registering with digest, the scenarios (a phone that
// answers at once, a carrier placing calls to a DID), one bounded SIPp run in a temp directory
// (stopped by PID if it overstays) and its final statistics, read from SIPp's own -stf CSV.
import { type ChildProcess, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import dgram from 'node:dgram';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

export const SIPP = process.env.DZVIN_TEST_SIPP || '/usr/bin/sipp';

/**
 * Registers `exts` (one password for all) with digest from 127.0.0.1:`port`, the Contact of each
 * pointing there, then releases the port for the SIPp that answers their calls. Our own few lines
 * rather than SIPp: SIPp 3.6 cannot take the digest user from an injection file.
 */
export async function registerPhones(o: {
  port: number;
  kamailio: number;
  domain: string;
  exts: string[];
  password: string;
  expires: number;
  inFlight?: number;
}): Promise<void> {
  const socket = dgram.createSocket('udp4');
  await new Promise<void>((r) => socket.bind(o.port, '127.0.0.1', () => r()));
  const waiting = new Map<string, (msg: string) => void>();
  socket.on('message', (buf) => {
    const text = buf.toString('latin1');
    const callId = /^Call-ID:\s*(\S+)/im.exec(text)?.[1];
    if (callId) waiting.get(callId)?.(text);
  });
  const md5 = (s: string) => createHash('md5').update(s).digest('hex');
  const send = (text: string) =>
    new Promise<void>((r, j) =>
      socket.send(Buffer.from(text, 'latin1'), o.kamailio, '127.0.0.1', (e) => (e ? j(e) : r())),
    );
  const transact = async (callId: string, text: string): Promise<string> => {
    for (let attempt = 0; attempt < 6; attempt++) {
      const reply = new Promise<string | null>((r) => {
        const timer = setTimeout(() => r(null), 1000);
        waiting.set(callId, (m) => {
          if (/^SIP\/2\.0 1\d\d/.test(m)) return;
          clearTimeout(timer);
          r(m);
        });
      });
      await send(text);
      const m = await reply;
      if (m) return m;
    }
    throw new Error(`no answer to REGISTER ${callId}`);
  };
  const register = async (ext: string, k: number) => {
    const callId = `reg-${k}-${process.pid}@127.0.0.1`;
    const req = (cseq: number, auth: string) =>
      [
        `REGISTER sip:${o.domain} SIP/2.0`,
        `Via: SIP/2.0/UDP 127.0.0.1:${o.port};branch=z9hG4bK-reg-${k}-${cseq};rport`,
        'Max-Forwards: 70',
        `From: <sip:${ext}@${o.domain}>;tag=reg${k}`,
        `To: <sip:${ext}@${o.domain}>`,
        `Call-ID: ${callId}`,
        `CSeq: ${cseq} REGISTER`,
        `Contact: <sip:${ext}@127.0.0.1:${o.port}>`,
        `Expires: ${o.expires}`,
        ...(auth ? [auth] : []),
        'Content-Length: 0',
        '',
        '',
      ].join('\r\n');
    const challenge = await transact(callId, req(1, ''));
    const realm = /realm="([^"]+)"/.exec(challenge)?.[1];
    const nonce = /nonce="([^"]+)"/.exec(challenge)?.[1];
    if (!challenge.startsWith('SIP/2.0 401') || !realm || !nonce)
      throw new Error(`REGISTER ${ext}: expected a 401 challenge, got ${challenge.split('\r\n')[0]}`);
    const uri = `sip:${o.domain}`;
    const cnonce = `c${k}`;
    const ha1 = md5(`${ext}:${realm}:${o.password}`);
    const response = md5(`${ha1}:${nonce}:00000001:${cnonce}:auth:${md5(`REGISTER:${uri}`)}`);
    const auth = `Authorization: Digest username="${ext}", realm="${realm}", nonce="${nonce}", uri="${uri}", response="${response}", algorithm=MD5, qop=auth, nc=00000001, cnonce="${cnonce}"`;
    const ok = await transact(callId, req(2, auth));
    if (!ok.startsWith('SIP/2.0 200')) throw new Error(`REGISTER ${ext}: ${ok.split('\r\n')[0]}`);
    waiting.delete(callId);
  };
  try {
    let next = 0;
    const worker = async () => {
      while (next < o.exts.length) {
        const k = next++;
        await register(o.exts[k], k);
      }
    };
    await Promise.all(Array.from({ length: o.inFlight ?? 20 }, worker));
  } finally {
    await new Promise<void>((r) => socket.close(() => r()));
  }
}

/**
 * A phone (or, for Kamailio alone, the answering side in the B2BUA's place) that answers every
 * INVITE at once (an auto-answer phone): 200 with a G.711 SDP on SIPp's echo port (-mp;
 * -rtp_echo sends each packet back to where it came from), then waits for the caller's BYE. No
 * 180 first: sent back to back, Kamailio's two UDP workers sometimes relay the 200 ahead of the
 * 180, and the carrier SIPp counts the late 180 as a failed call (a load-generator artefact).
 */
export const answerXml = `<?xml version="1.0" encoding="ISO-8859-1" ?>
<scenario name="answer">
  <recv request="INVITE" crlf="true"/>
  <send retrans="500">
    <![CDATA[
      SIP/2.0 200 OK
      [last_Via:]
      [last_Record-Route:]
      [last_From:]
      [last_To:];tag=[pid]SIPpTag01[call_number]
      [last_Call-ID:]
      [last_CSeq:]
      Contact: <sip:phone@[local_ip]:[local_port]>
      Content-Type: application/sdp
      Content-Length: [len]

      v=0
      o=phone 53655765 2353687637 IN IP[local_ip_type] [local_ip]
      s=-
      c=IN IP[media_ip_type] [media_ip]
      t=0 0
      m=audio [media_port] RTP/AVP 8 0
      a=rtpmap:8 PCMA/8000
      a=rtpmap:0 PCMU/8000
    ]]>
  </send>
  <recv request="ACK" crlf="true"/>
  <recv request="BYE"/>
  <send>
    <![CDATA[
      SIP/2.0 200 OK
      [last_Via:]
      [last_From:]
      [last_To:]
      [last_Call-ID:]
      [last_CSeq:]
      Contact: <sip:phone@[local_ip]:[local_port]>
      Content-Length: 0
    ]]>
  </send>
</scenario>`;

/**
 * The carrier: INVITE to a DID (field 0 of the injection file, taken in turn) from a caller number, ACK the 200 along its route set,
 * hold `holdMs` (playing `audio` — raw A-law, looped — as RTP when given), BYE. A call not
 * answered within 10 s, or a BYE not answered, counts as failed.
 */
export function carrierXml(holdMs: number, audio: string | null): string {
  const play = audio ? `<nop><action><exec rtp_stream="${audio},-1,8"/></action></nop>` : '';
  return `<?xml version="1.0" encoding="ISO-8859-1" ?>
<scenario name="carrier">
  <send retrans="500">
    <![CDATA[
      INVITE sip:[field0]@[remote_ip]:[remote_port] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
      From: <sip:38050[call_number]@[local_ip]:[local_port]>;tag=[pid]SIPpTag00[call_number]
      To: <sip:[field0]@[remote_ip]:[remote_port]>
      Call-ID: [call_id]
      CSeq: 1 INVITE
      Contact: <sip:carrier@[local_ip]:[local_port]>
      Max-Forwards: 70
      Content-Type: application/sdp
      Content-Length: [len]

      v=0
      o=carrier 53655765 2353687637 IN IP[local_ip_type] [local_ip]
      s=-
      c=IN IP[media_ip_type] [media_ip]
      t=0 0
      m=audio [rtpstream_audio_port] RTP/AVP 8
      a=rtpmap:8 PCMA/8000
    ]]>
  </send>
  <recv response="100" optional="true"/>
  <recv response="180" optional="true"/>
  <recv response="183" optional="true"/>
  <recv response="200" rtd="true" rrs="true" timeout="10000"/>
  <send>
    <![CDATA[
      ACK [next_url] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
      [routes]
      From: <sip:38050[call_number]@[local_ip]:[local_port]>;tag=[pid]SIPpTag00[call_number]
      [last_To:]
      Call-ID: [call_id]
      CSeq: 1 ACK
      Max-Forwards: 70
      Content-Length: 0
    ]]>
  </send>
  ${play}
  <pause milliseconds="${holdMs}"/>
  <send retrans="500">
    <![CDATA[
      BYE [next_url] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
      [routes]
      From: <sip:38050[call_number]@[local_ip]:[local_port]>;tag=[pid]SIPpTag00[call_number]
      [last_To:]
      Call-ID: [call_id]
      CSeq: 2 BYE
      Max-Forwards: 70
      Content-Length: 0
    ]]>
  </send>
  <recv response="200" timeout="10000"/>
</scenario>`;
}

export interface SippStats {
  created: number;
  successful: number;
  failed: number;
  /** Mean time from INVITE to 200 over the run, ms (SIPp's ResponseTime1). */
  setup_ms_mean: number | null;
}

export interface SippRun {
  child: ChildProcess;
  dir: string;
  /** SIPp's exit code (0: every call succeeded), its output, and its final statistics. */
  done: Promise<{ code: number | null; output: string; stats: SippStats | null }>;
  stop(): void;
}

const running = new Set<ChildProcess>();
process.on('exit', () => {
  for (const c of running) c.kill('SIGKILL');
});

/** One SIPp on 127.0.0.1, in its own temp dir, hard-stopped after `killAfterMs`. */
export function runSipp(o: {
  xml: string;
  args: string[];
  killAfterMs: number;
  files?: Record<string, string>;
  name: string;
}): SippRun {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), `dzvin-bench-sipp-${o.name}-`));
  fs.writeFileSync(path.join(dir, 'scenario.xml'), o.xml);
  for (const [f, text] of Object.entries(o.files ?? {})) fs.writeFileSync(path.join(dir, f), text);
  const args = [
    '-sf',
    'scenario.xml',
    '-i',
    '127.0.0.1',
    '-nostdin',
    '-trace_err',
    '-trace_stat',
    '-stf',
    'stats.csv',
    '-fd',
    '1',
    ...o.args,
  ];
  const child = spawn(SIPP, args, { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] });
  running.add(child);
  let output = '';
  const keep = (d: Buffer) => {
    output = (output + d.toString('utf8')).slice(-20_000);
  };
  child.stdout?.on('data', keep);
  child.stderr?.on('data', keep);
  const killer = setTimeout(() => child.kill('SIGKILL'), o.killAfterMs);
  const done = new Promise<{ code: number | null; output: string; stats: SippStats | null }>((resolve) => {
    child.once('exit', (code) => {
      clearTimeout(killer);
      running.delete(child);
      const stats = readStats(path.join(dir, 'stats.csv'));
      for (const f of fs.readdirSync(dir))
        if (f.endsWith('errors.log') || f.endsWith('messages.log'))
          output += `\n--- ${f}:\n${fs.readFileSync(path.join(dir, f), 'utf8').slice(0, 4000)}`;
      fs.rmSync(dir, { recursive: true, force: true });
      resolve({ code, output, stats });
    });
  });
  return { child, dir, done, stop: () => child.kill('SIGUSR1') };
}

/** The last line of SIPp's statistics CSV: cumulative counters. */
export function readStats(file: string): SippStats | null {
  if (!fs.existsSync(file)) return null;
  const lines = fs
    .readFileSync(file, 'utf8')
    .split('\n')
    .filter((l) => l.trim());
  if (lines.length < 2) return null;
  const head = lines[0].split(';');
  const last = lines[lines.length - 1].split(';');
  const col = (name: string) => last[head.indexOf(name)];
  const num = (name: string) => Number(col(name) ?? Number.NaN);
  // hh:mm:ss:uuuuuu
  const rt = col('ResponseTime1(C)');
  const m = rt ? /^(\d+):(\d+):(\d+):(\d+)$/.exec(rt) : null;
  return {
    created: num('TotalCallCreated'),
    successful: num('SuccessfulCall(C)'),
    failed: num('FailedCall(C)'),
    setup_ms_mean: m
      ? (Number(m[1]) * 3600 + Number(m[2]) * 60 + Number(m[3])) * 1000 + Number(m[4]) / 1000
      : null,
  };
}
