// The SIP parser and serializer against RFC 4475's torture messages (written out here as
// fixtures, `<hex>` and `<repeat>` markers expanded by hand) and RFC 3261's grammar corners.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { createCancel, createNon2xxAck, createResponse } from '../src/engine/sip/build.ts';
import {
  formatNameAddr,
  formatVia,
  parseNameAddr,
  parseVia,
  splitList,
} from '../src/engine/sip/header-values.ts';
import {
  getCSeq,
  getHeader,
  getHeaders,
  getNameAddr,
  getTopVia,
  getVias,
  type ParseResult,
  parseMessage,
  type SipMessage,
  type SipRequest,
  serializeMessage,
} from '../src/engine/sip/message.ts';
import { callerIdentity } from '../src/engine/sip/sip-driver.ts';
import { formatUri, isSipUri, parseUri, type SipUri } from '../src/engine/sip/uri.ts';
import { letReportsDrainBeforeExit } from './support/sip-reports.ts';

letReportsDrainBeforeExit();

/** Lines joined with CRLF, as on the wire; a body gets its own CRLF line ends too. */
function wire(head: string, body = ''): Buffer {
  const crlf = (s: string) => s.replace(/\r?\n/g, '\r\n');
  return Buffer.from(`${crlf(head.replace(/^\n/, ''))}\r\n${crlf(body)}`, 'utf8');
}

function parsed(r: ParseResult): SipMessage {
  if (r.kind !== 'message') assert.fail(`expected a message, got ${JSON.stringify(r)}`);
  return r.message;
}

function request(r: ParseResult): SipRequest {
  const m = parsed(r);
  assert.equal(m.type, 'request');
  return m as SipRequest;
}

function sipUri(text: string): SipUri {
  const u = parseUri(text);
  assert.ok(u.ok, text);
  assert.ok(isSipUri(u.uri));
  return u.uri;
}

function assertRejected(r: ParseResult, status: number, reason: RegExp) {
  assert.equal(r.kind, 'reject', JSON.stringify(r));
  if (r.kind !== 'reject') return;
  assert.equal(r.status, status);
  assert.match(r.reason, reason);
}

function assertDropped(r: ParseResult, reason: RegExp) {
  assert.equal(r.kind, 'drop', JSON.stringify(r));
  if (r.kind === 'drop') assert.match(r.reason, reason);
}

const SDP = `v=0
o=mhandley 29739 7272939 IN IP4 192.0.2.3
s=-
c=IN IP4 192.0.2.4
t=0 0
m=audio 49217 RTP/AVP 0 12
m=video 3227 RTP/AVP 31
a=rtpmap:31 LPC
`;
const SDP_LEN = Buffer.byteLength(SDP.replace(/\n/g, '\r\n'));

describe('RFC 4475 valid messages parse to the right values', () => {
  test('wsinv: a short tortuous INVITE (folding, LWS everywhere, compact forms, odd case)', () => {
    const r = request(
      parseMessage(
        wire(
          `
INVITE sip:vivekg@chair-dnrc.example.com;unknownparam SIP/2.0
TO :
 sip:vivekg@chair-dnrc.example.com ;   tag    = 1918181833n
from   : "J Rosenberg \\\\\\""       <sip:jdrosen@example.com>
  ;
  tag = 98asjd8
MaX-fOrWaRdS: 0068
Call-ID: wsinv.ndaksdj@192.0.2.1
Content-Length   : ${SDP_LEN}
cseq: 0009
  INVITE
Via  : SIP  /   2.0
 /UDP
    192.0.2.2;branch=390skdjuw
s :
NewFangledHeader:   newfangled value
 continued newfangled value
UnknownHeaderWithUnusualValue: ;;,,;;,;
Content-Type: application/sdp
Route:
 <sip:services.example.com;lr;unknownwith=value;unknown-no-value>
v:  SIP  / 2.0  / TCP     spindle.example.com   ;
  branch  =   z9hG4bK9ikj8  ,
 SIP  /    2.0   / UDP  192.168.255.111   ; branch=
 z9hG4bK30239
m:"Quoted string \\"\\"" <sip:jdrosen@example.com> ; newparam =
      newvalue ;
  secondparam ; q = 0.33
`,
          SDP,
        ),
      ),
    );
    assert.equal(r.method, 'INVITE');
    assert.deepEqual(sipUri(r.uri).params, { unknownparam: null });
    const to = getNameAddr(r, 'To')!;
    assert.equal((to.uri as SipUri).user, 'vivekg');
    assert.equal(to.params.tag, '1918181833n');
    const from = getNameAddr(r, 'From')!;
    assert.equal(from.displayName, 'J Rosenberg \\"');
    assert.equal(from.params.tag, '98asjd8');
    assert.equal(getHeader(r, 'Max-Forwards'), '0068');
    assert.deepEqual(getCSeq(r), { seq: 9, method: 'INVITE' });
    assert.equal(getHeader(r, 'Subject'), '');
    assert.equal(getHeader(r, 'NewFangledHeader'), 'newfangled value continued newfangled value');
    assert.equal(getHeader(r, 'UnknownHeaderWithUnusualValue'), ';;,,;;,;');
    const vias = getVias(r);
    assert.equal(vias.length, 3);
    assert.deepEqual(
      vias.map((v) => [v.transport, v.host, v.params.branch]),
      [
        ['UDP', '192.0.2.2', '390skdjuw'],
        ['TCP', 'spindle.example.com', 'z9hG4bK9ikj8'],
        ['UDP', '192.168.255.111', 'z9hG4bK30239'],
      ],
    );
    const contact = parseNameAddr(getHeader(r, 'Contact')!);
    assert.ok(contact.ok);
    assert.equal(contact.value.displayName, 'Quoted string ""');
    assert.deepEqual(contact.value.params, { newparam: 'newvalue', secondparam: null, q: '0.33' });
    const route = parseNameAddr(getHeader(r, 'Route')!);
    assert.ok(route.ok);
    assert.deepEqual((route.value.uri as SipUri).params, {
      lr: null,
      unknownwith: 'value',
      'unknown-no-value': null,
    });
    assert.equal(r.body.length, SDP_LEN);
    assert.equal(getHeader(r, 'Content-Type'), 'application/sdp');
  });

  test('intmeth: a wide range of valid characters in method, URI, tags and header names', () => {
    const method = "!interesting-Method0123456789_*+`.%indeed'~";
    const ruri =
      "sip:1_unusual.URI~(to-be!sure)&isn't+it$/crazy?,/;;*:&it+has=1,weird!*pas$wo~d_too.(doesn't-it)@example.com";
    const r = request(
      parseMessage(
        wire(`
${method} ${ruri} SIP/2.0
Via: SIP/2.0/TCP host1.example.com;branch=z9hG4bK-.!%66*_+\`'~
To: "BEL:\\\x07 NUL:\\\x00 DEL:\\\x7F" <sip:1_unusual.URI~(to-be!sure)&isn't+it$/crazy?,/;;*@example.com>
From: token1~\` token2'+_ token3*%!.- <sip:mundane@example.com>;fromParam''~+*_!.-%="\u0440\u0430\u0431\u043e\u0442\u0430\u044e\u0449\u0438\u0439";tag=_token~1'+\`*%!-.
Call-ID: intmeth.word%ZK-!.*_+'@word\`~)(><:\\/"][?}{
CSeq: 139122385 ${method}
Max-Forwards: 255
extensionHeader-!.%*+_\`'~: \uFEFF\u5927\u505C\u96FB
Content-Length: 0
`),
      ),
    );
    assert.equal(r.method, method);
    const u = sipUri(r.uri);
    assert.equal(u.user, "1_unusual.URI~(to-be!sure)&isn't+it$/crazy?,/;;*");
    assert.equal(u.password, "&it+has=1,weird!*pas$wo~d_too.(doesn't-it)");
    assert.equal(u.host, 'example.com');
    assert.equal(getTopVia(r)!.params.branch, "z9hG4bK-.!%66*_+`'~");
    assert.equal(getNameAddr(r, 'To')!.displayName, 'BEL:\x07 NUL:\x00 DEL:\x7F');
    const from = getNameAddr(r, 'From')!;
    assert.equal(from.displayName, "token1~` token2'+_ token3*%!.-");
    assert.equal(from.params.tag, "_token~1'+`*%!-.");
    assert.equal(from.params["fromparam''~+*_!.-%"], '"работающий"');
    assert.equal(getHeader(r, 'Call-ID'), 'intmeth.word%ZK-!.*_+\'@word`~)(><:\\/"][?}{');
    assert.deepEqual(getCSeq(r), { seq: 139122385, method });
    assert.equal(getHeader(r, "extensionHeader-!.%*+_`'~"), '\uFEFF大停電');
  });

  test('esc01: %-escapes in user parts and URI parameters decode', () => {
    const r = request(
      parseMessage(
        wire(
          `
INVITE sip:sips%3Auser%40example.com@example.net SIP/2.0
To: sip:%75se%72@example.com
From: <sip:I%20have%20spaces@example.net>;tag=938
Max-Forwards: 87
i: esc01.239409asdfakjkn23onasd0-3234
CSeq: 234234 INVITE
Via: SIP/2.0/UDP host5.example.net;branch=z9hG4bKkdjuw
C: application/sdp
Contact:
  <sip:cal%6Cer@host5.example.net;%6C%72;n%61me=v%61lue%25%34%31>
Content-Length: ${SDP_LEN}
`,
          SDP,
        ),
      ),
    );
    assert.equal(sipUri(r.uri).user, 'sips:user@example.com');
    assert.equal((getNameAddr(r, 'To')!.uri as SipUri).user, 'user');
    assert.equal((getNameAddr(r, 'From')!.uri as SipUri).user, 'I have spaces');
    assert.equal(getHeader(r, 'Call-ID'), 'esc01.239409asdfakjkn23onasd0-3234');
    const contact = parseNameAddr(getHeader(r, 'Contact')!);
    assert.ok(contact.ok);
    const cu = contact.value.uri as SipUri;
    assert.equal(cu.user, 'caller');
    assert.deepEqual(cu.params, { lr: null, name: 'value%41' });
    // Formatting re-escapes what must be escaped and nothing else.
    assert.equal(formatUri(cu), 'sip:caller@host5.example.net;lr;name=value%2541');
    // ':' and '@' are not user-unreserved (§25.1), so they go back escaped.
    assert.equal(formatUri(sipUri(r.uri)), 'sip:sips%3Auser%40example.com@example.net');
  });

  test('escnull: escaped NULs in URIs decode to NUL characters', () => {
    const r = request(
      parseMessage(
        wire(`
REGISTER sip:example.com SIP/2.0
To: sip:null-%00-null@example.com
From: sip:null-%00-null@example.com;tag=839923423
Max-Forwards: 70
Call-ID: escnull.39203ndfvkjdasfkq3w4otrq0adsfdfnavd
CSeq: 14398234 REGISTER
Via: SIP/2.0/UDP host5.example.com;branch=z9hG4bKkdjuw
Contact: <sip:%00@host5.example.com>
Contact: <sip:%00%00@host5.example.com>
L:0
`),
      ),
    );
    assert.equal((getNameAddr(r, 'To')!.uri as SipUri).user, 'null-\0-null');
    assert.equal(getNameAddr(r, 'From')!.params.tag, '839923423');
    const contacts = getHeaders(r, 'Contact').map((c) => parseNameAddr(c));
    assert.deepEqual(
      contacts.map((c) => (c.ok ? (c.value.uri as SipUri).user : undefined)),
      ['\0', '\0\0'],
    );
  });

  test('esc02: a % that is not an escape is kept in methods and display names', () => {
    const r = request(
      parseMessage(
        wire(`
RE%47IST%45R sip:registrar.example.com SIP/2.0
To: "%Z%45" <sip:resource@example.com>
From: "%Z%45" <sip:resource@example.com>;tag=f232jadfj23
Call-ID: esc02.asdfnqwo34rq23i34jrjasdcnl23nrlknsdf
Via: SIP/2.0/TCP host.example.com;branch=z9hG4bK209%fzsnel234
CSeq: 29344 RE%47IST%45R
Max-Forwards: 70
Contact: <sip:alias1@host1.example.com>
C%6Fntact: <sip:alias2@host2.example.com>
Contact: <sip:alias3@host3.example.com>
l: 0
`),
      ),
    );
    assert.equal(r.method, 'RE%47IST%45R');
    assert.equal(getNameAddr(r, 'To')!.displayName, '%Z%45');
    assert.equal(getHeaders(r, 'Contact').length, 2);
    assert.equal(getHeader(r, 'C%6Fntact'), '<sip:alias2@host2.example.com>');
  });

  test('lwsdisp: no whitespace between display name and <', () => {
    const r = request(
      parseMessage(
        wire(`
OPTIONS sip:user@example.com SIP/2.0
To: sip:user@example.com
From: caller<sip:caller@example.com>;tag=323
Max-Forwards: 70
Call-ID: lwsdisp.1234abcd@funky.example.com
CSeq: 60 OPTIONS
Via: SIP/2.0/UDP funky.example.com;branch=z9hG4bKkdjuw
l: 0
`),
      ),
    );
    const from = getNameAddr(r, 'From')!;
    assert.equal(from.displayName, 'caller');
    assert.equal((from.uri as SipUri).user, 'caller');
    assert.equal(from.params.tag, '323');
  });

  test('longreq: long values in header fields', () => {
    const longUser = `user${'name'.repeat(50)}`;
    const vias = Array.from(
      { length: 34 },
      (_, i) => `Via: SIP/2.0/TCP sip${i}.example.com:5060;branch=z9hG4bK${'very'.repeat(60)}longbranch${i}`,
    ).join('\n');
    const r = request(
      parseMessage(
        wire(`
INVITE sip:${longUser}@example.com SIP/2.0
To: "I have a user name of ${'extreme'.repeat(10)} proportion" <sip:${longUser}@example.com:6000;unknownparam1=very${'long'.repeat(20)}value;longparam${'name'.repeat(25)}=shortvalue;very${'long'.repeat(25)}ParameterNameWithNoValue>
F: sip:${'amazinglylongcallername'.repeat(5)}@example.net;tag=12${'982'.repeat(50)}424;unknownheaderparam${'name'.repeat(20)}=unknowheaderparam${'value'.repeat(15)};unknownValueless${'paramname'.repeat(10)}
Call-ID: longreq.one${'really'.repeat(20)}longcallid
CSeq: 3882340 INVITE
Unknown-${'Long'.repeat(20)}-Name: unknown-${'long'.repeat(20)}-value; unknown-${'long'.repeat(20)}-parameter-name = unknown-${'long'.repeat(20)}-parameter-value
${vias}
Max-Forwards: 70
Contact: <sip:${'amazinglylongcallername'.repeat(5)}@host5.example.net>
Content-Type: application/sdp
l: 0
`),
      ),
    );
    assert.equal(sipUri(r.uri).user, longUser);
    assert.equal(getVias(r).length, 34);
    assert.equal(getVias(r)[33].params.branch, `z9hG4bK${'very'.repeat(60)}longbranch33`);
    const to = getNameAddr(r, 'To')!;
    assert.equal(to.displayName, `I have a user name of ${'extreme'.repeat(10)} proportion`);
    assert.equal((to.uri as SipUri).port, 6000);
    assert.equal(getNameAddr(r, 'From')!.params.tag, `12${'982'.repeat(50)}424`);
  });

  test('dblreq: octets after Content-Length in a datagram are ignored', () => {
    const r = request(
      parseMessage(
        wire(`
REGISTER sip:example.com SIP/2.0
To: sip:j.user@example.com
From: sip:j.user@example.com;tag=43251j3j324
Max-Forwards: 8
I: dblreq.0ha0isndaksdj99sdfafnl3lk233412
Contact: sip:j.user@host.example.com
CSeq: 8 REGISTER
Via: SIP/2.0/UDP 192.0.2.125;branch=z9hG4bKkdjuw23492
Content-Length: 0


INVITE sip:joe@example.com SIP/2.0
t: sip:joe@example.com
From: sip:caller@example.net;tag=141334
Max-Forwards: 8
Call-ID: dblreq.0ha0isnda977644900765@192.0.2.15
CSeq: 8 INVITE
Via: SIP/2.0/UDP 192.0.2.15;branch=z9hG4bKkdjuw380234
Content-Type: application/sdp
Content-Length: 0
`),
      ),
    );
    assert.equal(r.method, 'REGISTER');
    assert.equal(r.body.length, 0);
    assert.equal(getHeader(r, 'Call-ID'), 'dblreq.0ha0isndaksdj99sdfafnl3lk233412');
  });

  test('semiuri: a semicolon-separated parameter in the user part', () => {
    const r = request(
      parseMessage(
        wire(`
OPTIONS sip:user;par=u%40example.net@example.com SIP/2.0
To: sip:j_user@example.com
From: sip:caller@example.org;tag=33242
Max-Forwards: 3
Call-ID: semiuri.0ha0isndaksdj
CSeq: 8 OPTIONS
Accept: application/sdp, application/pkcs7-mime,
        multipart/mixed, multipart/signed,
        message/sip, message/sipfrag
Via: SIP/2.0/UDP 192.0.2.1;branch=z9hG4bKkdjuw
l: 0
`),
      ),
    );
    const u = sipUri(r.uri);
    assert.equal(u.user, 'user;par=u@example.net');
    assert.equal(u.host, 'example.com');
    assert.deepEqual(u.params, {});
    assert.equal(getHeaders(r, 'Accept').length, 6);
  });

  test('transports: varied and unknown transport types in Via', () => {
    const r = request(
      parseMessage(
        wire(`
OPTIONS sip:user@example.com SIP/2.0
To: sip:user@example.com
From: <sip:caller@example.com>;tag=323
Max-Forwards: 70
Call-ID:  transports.kijh4akdnaqjkwendsasfdj
Accept: application/sdp
CSeq: 60 OPTIONS
Via: SIP/2.0/UDP t1.example.com;branch=z9hG4bKkdjuw
Via: SIP/2.0/SCTP t2.example.com;branch=z9hG4bKklasjdhf
Via: SIP/2.0/TLS t3.example.com;branch=z9hG4bK2980unddj
Via: SIP/2.0/UNKNOWN t4.example.com;branch=z9hG4bKasd0f3en
Via: SIP/2.0/TCP t5.example.com;branch=z9hG4bK0a9idfnee
l: 0
`),
      ),
    );
    assert.deepEqual(
      getVias(r).map((v) => v.transport),
      ['UDP', 'SCTP', 'TLS', 'UNKNOWN', 'TCP'],
    );
    assert.equal(getHeader(r, 'Call-ID'), 'transports.kijh4akdnaqjkwendsasfdj');
  });

  test('unreason: an unusual UTF-8 reason phrase', () => {
    const body = 'v=0\no=origin 12345 67890 IN IP4 192.0.2.1\n';
    const m = parsed(
      parseMessage(
        wire(
          `
SIP/2.0 200 = 2**3 * 5**2 \u043d\u043e \u0441\u0442\u043e \u0434\u0435\u0432\u044f\u043d\u043e\u0441\u0442\u043e \u0434\u0435\u0432\u044f\u0442\u044c - \u043f\u0440\u043e\u0441\u0442\u043e\u0435
Via: SIP/2.0/UDP 192.0.2.198;branch=z9hG4bK1324923
Call-ID: unreason.1234ksdfak3j2erwedfsASdf
CSeq: 35 INVITE
From: sip:user@example.com;tag=11141343
To: sip:user@example.edu;tag=2229
Content-Length: ${Buffer.byteLength(body.replace(/\n/g, '\r\n'))}
Content-Type: application/sdp
Contact: <sip:user@host198.example.com>
`,
          body,
        ),
      ),
    );
    assert.equal(m.type, 'response');
    if (m.type !== 'response') return;
    assert.equal(m.status, 200);
    assert.equal(m.reason, '= 2**3 * 5**2 но сто девяносто девять - простое');
  });

  test('noreason: an empty reason phrase', () => {
    const m = parsed(
      parseMessage(
        wire(`
SIP/2.0 100 \nVia: SIP/2.0/UDP 192.0.2.105;branch=z9hG4bK2398ndaoe
Call-ID: noreason.asndj203insdf99223ndf
CSeq: 35 INVITE
From: <sip:user@example.com>;tag=39ansfi3
To: <sip:user@example.edu>;tag=902jndnke3
Content-Length: 0
Contact: <sip:user@host105.example.com>
`),
      ),
    );
    assert.ok(m.type === 'response' && m.status === 100 && m.reason === '');
  });

  test('unkscm / unksm2 / novelsc: unknown schemes are carried opaque, not rejected', () => {
    const r = request(
      parseMessage(
        wire(`
OPTIONS nobodyKnowsThisScheme:totallyopaquecontent SIP/2.0
To: isbn:2983792873
From: <http://www.example.com>;tag=3234233
Call-ID: unkscm.2987934ddf
CSeq: 1 OPTIONS
Max-Forwards: 70
Via: SIP/2.0/TCP host9.example.com;branch=z9hG4bKkdjuw
Contact: <name:John_Smith>
l: 0
`),
      ),
    );
    assert.deepEqual(parseUri(r.uri), {
      ok: true,
      uri: { scheme: 'nobodyknowsthisscheme', opaque: 'totallyopaquecontent' },
    });
    assert.equal(getNameAddr(r, 'To')!.uri.scheme, 'isbn');
    assert.equal(getNameAddr(r, 'From')!.params.tag, '3234233');
  });

  test('zeromf: Max-Forwards of zero parses (it is for proxies to act on)', () => {
    const r = request(
      parseMessage(
        wire(`
OPTIONS sip:user@example.com SIP/2.0
Call-ID: zeromf.23i4ndsf@192.0.2.1
CSeq: 3923239 OPTIONS
From: <sip:caller@example.com>;tag=3ghsd41
To: <sip:user@example.com>
Via: SIP/2.0/UDP 192.0.2.1;branch=z9hG4bKkdjuw
Max-Forwards: 0
Content-Length: 0
`),
      ),
    );
    assert.equal(getHeader(r, 'Max-Forwards'), '0');
  });

  test('bcast: a 200 OK whose second Via is a broadcast address parses (the UA drops it: two Vias)', () => {
    const m = parsed(
      parseMessage(
        wire(`
SIP/2.0 200 OK
Via: SIP/2.0/UDP 192.0.2.198;branch=z9hG4bK1324923
Via: SIP/2.0/UDP 255.255.255.255;branch=z9hG4bK1saber23
Call-ID: bcast.0384840201234ksdfak3j2erwedfsASdf
CSeq: 35 INVITE
From: sip:user@example.com;tag=11141343
To: sip:user@example.edu;tag=2229
Content-Length: 0
Contact: <sip:user@host28.example.com>
`),
      ),
    );
    assert.equal(getVias(m)[1].host, '255.255.255.255');
  });

  test('inv2543: an RFC 2543 INVITE without a branch parses', () => {
    const r = request(
      parseMessage(
        wire(`
INVITE sip:UserB@example.com SIP/2.0
Via: SIP/2.0/UDP iftgw.example.com
From: <sip:+13035551111@ift.client.example.net;user=phone>
Record-Route: <sip:UserB@example.com;maddr=ss1.example.com>
To: sip:+16505552222@ss1.example.net;user=phone
Call-ID: inv2543.1717@ift.client.example.com
CSeq: 56 INVITE
Content-Length: 0
`),
      ),
    );
    assert.equal(getTopVia(r)!.params.branch, undefined);
    assert.deepEqual(getNameAddr(r, 'To')!.params as object, { user: 'phone' });
  });
});

const HEAD = `Via: SIP/2.0/UDP 192.0.2.1;branch=z9hG4bKtorture
From: <sip:caller@example.net>;tag=1
To: <sip:user@example.com>
Call-ID: torture.1@192.0.2.1
Max-Forwards: 70`;

describe('RFC 4475 invalid messages are rejected with the right outcome', () => {
  test('clerr: Content-Length larger than the datagram → 400', () => {
    const r = parseMessage(
      wire(
        `
INVITE sip:user@example.com SIP/2.0
Max-Forwards: 80
To: sip:j.user@example.com
From: sip:caller@example.net;tag=93942939o2
Contact: <sip:caller@hungry.example.net>
Call-ID: clerr.0ha0isndaksdjweiafasdk3
CSeq: 8 INVITE
Via: SIP/2.0/UDP host5.example.com;branch=z9hG4bK-39234-23523
Content-Type: application/sdp
Content-Length: 9999
`,
        SDP,
      ),
    );
    assertRejected(r, 400, /Content-Length larger/);
    if (r.kind === 'reject') {
      // The 400 goes back through the request's own headers.
      const res = createResponse(r.request, r.status, r.reason, { toTag: 'x' });
      assert.equal(getHeader(res, 'Via'), 'SIP/2.0/UDP host5.example.com;branch=z9hG4bK-39234-23523');
      assert.equal(getHeader(res, 'To'), 'sip:j.user@example.com;tag=x');
      assert.equal(getHeader(res, 'CSeq'), '8 INVITE');
    }
  });

  test('ncl: negative Content-Length → 400', () => {
    assertRejected(
      parseMessage(
        wire(
          `
INVITE sip:user@example.com SIP/2.0
Max-Forwards: 254
To: sip:j.user@example.com
From: sip:caller@example.net;tag=32394234
Call-ID: ncl.0ha0isndaksdj2193423r542w35
CSeq: 0 INVITE
Via: SIP/2.0/UDP 192.0.2.53;branch=z9hG4bKkdjuw
Contact: <sip:caller@example53.example.net>
Content-Type: application/sdp
Content-Length: -999
`,
          SDP,
        ),
      ),
      400,
      /Content-Length/,
    );
  });

  test('mcl01: multiple Content-Length values → 400', () => {
    assertRejected(
      parseMessage(
        wire(
          `
OPTIONS sip:user@example.com SIP/2.0
Via: SIP/2.0/UDP host5.example.net;branch=z9hG4bK293423
To: sip:user@example.com
From: sip:other@example.net;tag=3923942
Call-ID: mcl01.fhn2323orihawfdoa3o4r52o3irsdf
CSeq: 15932 OPTIONS
Content-Length: 13
Max-Forwards: 60
Content-Length: 5
Content-Type: text/plain
`,
          "There's no way to know how many octets are supposed to be here.\n",
        ),
      ),
      400,
      /Multiple Content-Length/,
    );
  });

  test('scalar02: overlarge CSeq and Max-Forwards in a request → 400', () => {
    assertRejected(
      parseMessage(
        wire(`
REGISTER sip:example.com SIP/2.0
Via: SIP/2.0/TCP host129.example.com;branch=z9hG4bK342sdfoi3
To: <sip:user@example.com>
From: <sip:user@example.com>;tag=239232jh3
CSeq: 36893488147419103232 REGISTER
Call-ID: scalar02.23o0pd9vanlq3wnrlnewofjas9ui32
Max-Forwards: 300
Expires: 1${'0'.repeat(18)}
Contact: <sip:user@host129.example.com>
  ;expires=280297596632815
Content-Length: 0
`),
      ),
      400,
      /CSeq/,
    );
  });

  test('scalarlg: a response with overlarge scalar fields is dropped', () => {
    assertDropped(
      parseMessage(
        wire(`
SIP/2.0 503 Service Unavailable
Via: SIP/2.0/TCP host129.example.com;branch=z9hG4bKzzxdiwo34sw;received=192.0.2.129
To: <sip:user@example.com>
From: <sip:other@example.net>;tag=2easdjfejw
CSeq: 9292394834772304023312 OPTIONS
Call-ID: scalarlg.noase0of0234hn2qofoaf0232aewf2394r
Retry-After: 949302838503028349304023988
Warning: 1812 overture "In Progress"
Content-Length: 0
`),
      ),
      /CSeq/,
    );
  });

  test('badinv01: extraneous header field separators in the top Via → dropped (no Via to answer to)', () => {
    assertDropped(
      parseMessage(
        wire(
          `
INVITE sip:user@example.com SIP/2.0
To: sip:j.user@example.com
From: sip:caller@example.net;tag=134161461246
Max-Forwards: 7
Call-ID: badinv01.0ha0isndaksdjasdf3234nas
CSeq: 8 INVITE
Via: SIP/2.0/UDP 192.0.2.15;;,;,,
Contact: "Joe" <sip:joe@example.org>;;;;
Content-Length: ${SDP_LEN}
Content-Type: application/sdp
`,
          SDP,
        ),
      ),
      /Via/,
    );
  });

  test('quotbal: an unterminated quoted display name → 400', () => {
    assertRejected(
      parseMessage(
        wire(`
INVITE sip:user@example.com SIP/2.0
To: "Mr. J. User <sip:j.user@example.com>
From: sip:caller@example.net;tag=93334
Max-Forwards: 10
Call-ID: quotbal.aksdj
Contact: <sip:caller@host59.example.net>
CSeq: 8 INVITE
Via: SIP/2.0/UDP 192.0.2.59:5050;branch=z9hG4bKkdjuw39234
Content-Type: application/sdp
Content-Length: 0
`),
      ),
      400,
      /Bad To/,
    );
  });

  for (const [name, line, reason] of [
    ['ltgtruri: <> around the Request-URI', 'INVITE <sip:user@example.com> SIP/2.0', /Request-URI/],
    ['lwsruri: whitespace inside the Request-URI', 'INVITE sip:user@example.com; lr SIP/2.0', /Request-Line/],
    [
      'lwsstart: several spaces between request-line elements',
      'INVITE  sip:user@example.com  SIP/2.0',
      /Request-Line/,
    ],
    [
      'trws: spaces after the request line',
      'OPTIONS sip:remote-target@example.com SIP/2.0  ',
      /Request-Line/,
    ],
    [
      'escruri: escaped headers in the Request-URI',
      'INVITE sip:user@example.com?Route=%3Csip:example.com%3E SIP/2.0',
      /Headers in Request-URI/,
    ],
  ] as const) {
    test(`${name} → 400`, () => {
      const method = line.split(' ')[0];
      assertRejected(parseMessage(wire(`${line}\n${HEAD}\nCSeq: 1 ${method}\nl: 0\n`)), 400, reason);
    });
  }

  test('badaspec: whitespace inside <> → 400', () => {
    assertRejected(
      parseMessage(
        wire(`
OPTIONS sip:user@example.org SIP/2.0
Via: SIP/2.0/UDP host4.example.com:5060;branch=z9hG4bKkdju43234
Max-Forwards: 70
From: "Bell, Alexander" <sip:a.g.bell@example.com>;tag=433423
To: "Watson, Thomas" < sip:t.watson@example.org >
Call-ID: badaspec.sdf0234n2nds0a099u23h3hnnw009cdkne3
Accept: application/sdp
CSeq: 3923239 OPTIONS
l: 0
`),
      ),
      400,
      /Bad To/,
    );
  });

  test('baddn: a display name that is neither tokens nor quoted → 400', () => {
    assertRejected(
      parseMessage(
        wire(`
OPTIONS sip:t.watson@example.org SIP/2.0
Via:     SIP/2.0/UDP c.example.com:5060;branch=z9hG4bKkdjuw
Max-Forwards:      70
From:    Bell, Alexander <sip:a.g.bell@example.com>;tag=43
To:      Watson, Thomas <sip:t.watson@example.org>
Call-ID: baddn.31415@c.example.com
Accept: application/sdp
CSeq:    3923239 OPTIONS
l: 0
`),
      ),
      400,
      /Bad From/,
    );
  });

  test('regbadct: a URI with headers not enclosed in <> → 400', () => {
    assertRejected(
      parseMessage(
        wire(`
REGISTER sip:example.com SIP/2.0
To: sip:user@example.com
From: sip:user@example.com;tag=998332
Max-Forwards: 70
Call-ID: regbadct.k345asrl3fdbv@10.0.0.1
CSeq: 1 REGISTER
Via: SIP/2.0/UDP 135.180.130.133:5060;branch=z9hG4bKkdjuw
Contact: sip:user@example.com?Route=%3Csip:sip.example.com%3E
l: 0
`),
      ),
      400,
      /Bad Contact/,
    );
  });

  test('badvers: an unknown protocol version → 505', () => {
    assertRejected(
      parseMessage(
        wire(`
OPTIONS sip:t.watson@example.org SIP/7.0
Via:     SIP/7.0/UDP c.example.com;branch=z9hG4bKkdjuw
Max-Forwards:     70
From:    A. Bell <sip:a.g.bell@example.com>;tag=qweoiqpe
To:      T. Watson <sip:t.watson@example.org>
Call-ID: badvers.31417@c.example.com
CSeq:    1 OPTIONS
l: 0
`),
      ),
      505,
      /Version Not Supported/,
    );
  });

  test('mismatch01 / mismatch02: CSeq method differing from the request method → 400', () => {
    for (const method of ['OPTIONS', 'NEWMETHOD']) {
      assertRejected(
        parseMessage(wire(`${method} sip:user@example.com SIP/2.0\n${HEAD}\nCSeq: 8 INVITE\nl: 0\n`)),
        400,
        /CSeq method/,
      );
    }
  });

  test('bigcode: an overlarge response code is dropped', () => {
    assertDropped(
      parseMessage(
        wire(`
SIP/2.0 4294967301 better not break the receiver
Via: SIP/2.0/UDP 192.0.2.105;branch=z9hG4bK2398ndaoe
Call-ID: bigcode.asdof3uj203asdnf3429uasdhfas3ehjasdfas9i
CSeq: 353494 INVITE
From: <sip:user@example.com>;tag=39ansfi3
To: <sip:user@example.edu>;tag=902jndnke3
Content-Length: 0
Contact: <sip:user@host105.example.com>
`),
      ),
      /Status-Line/,
    );
  });

  test('insuf: missing required header fields → 400', () => {
    assertRejected(
      parseMessage(
        wire(`
INVITE sip:user@example.com SIP/2.0
CSeq: 193942 INVITE
Via: SIP/2.0/UDP 192.0.2.95;branch=z9hG4bKkdj.insuf
Content-Type: application/sdp
l: 0
`),
      ),
      400,
      /Missing From/,
    );
  });

  test('multi01: several values in single-value header fields → 400', () => {
    assertRejected(
      parseMessage(
        wire(`
INVITE sip:user@company.com SIP/2.0
Contact: <sip:caller@host25.example.net>
Via: SIP/2.0/UDP 192.0.2.25;branch=z9hG4bKkdjuw
Max-Forwards: 70
CSeq: 5 INVITE
Call-ID: multi01.98asdh@192.0.2.1
CSeq: 59 INVITE
Call-ID: multi01.98asdh@192.0.2.2
From: sip:caller@example.com;tag=3413415
To: sip:user@example.com
To: sip:other@example.net
From: sip:caller@example.net;tag=2923420123
Content-Type: application/sdp
l: 0
`),
      ),
      400,
      /Multiple/,
    );
  });

  test('a bad ACK is dropped, never answered', () => {
    assertDropped(
      parseMessage(wire(`ACK sip:user@example.com SIP/2.0\n${HEAD}\nCSeq: 1 ACK\nContent-Length: 10\n`)),
      /Content-Length/,
    );
  });

  test('garbage and keep-alives never throw', () => {
    assert.deepEqual(parseMessage(Buffer.from('\r\n\r\n')), { kind: 'keepalive' });
    assertDropped(parseMessage(Buffer.from('hello world')), /Via/);
    assertDropped(parseMessage(Buffer.from([0xff, 0xfe, 0x00, 0x0d, 0x0a])), /Via/);
    const kinds = ['message', 'reject', 'drop', 'keepalive'];
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 600 }), (bytes) =>
        kinds.includes(parseMessage(Buffer.from(bytes)).kind),
      ),
      { numRuns: 3000 },
    );
    // Valid messages with a few bytes overwritten: every outcome is one of the four, never a throw.
    const valid = Buffer.from(
      `INVITE sip:a@b SIP/2.0\r\n${HEAD.replace(/\n/g, '\r\n')}\r\nCSeq: 1 INVITE\r\n\r\n`,
    );
    fc.assert(
      fc.property(
        fc.array(fc.tuple(fc.nat(valid.length - 1), fc.integer({ min: 0, max: 255 })), { maxLength: 4 }),
        (edits) => {
          const bytes = Buffer.from(valid);
          for (const [at, b] of edits) bytes[at] = b;
          return kinds.includes(parseMessage(bytes).kind);
        },
      ),
      { numRuns: 3000 },
    );
  });

  test('regaut01 / cparam02: auth headers are not split on their commas; quoted contact params keep theirs', () => {
    const r = request(
      parseMessage(
        wire(`
REGISTER sip:example.com SIP/2.0
To: sip:j.user@example.com
From: sip:j.user@example.com;tag=87321hj23128
Max-Forwards: 8
Call-ID: regaut01.0ha0isndaksdj
CSeq: 9338 REGISTER
Via: SIP/2.0/TCP 192.0.2.253;branch=z9hG4bKkdjuw
Authorization: NoOneKnowsThisScheme opaque-data=here, more="a, b"
Contact: <sip:+19725552222@gw1.example.net;unknownparam>;expires="Thu, 01 Dec 2040 16:00:00 GMT", <sip:x@y>
Content-Length:0
`),
      ),
    );
    assert.deepEqual(getHeaders(r, 'Authorization'), ['NoOneKnowsThisScheme opaque-data=here, more="a, b"']);
    const contacts = getHeaders(r, 'Contact');
    assert.equal(contacts.length, 2);
    const c = parseNameAddr(contacts[0]);
    assert.ok(c.ok);
    assert.equal(c.value.params.expires, '"Thu, 01 Dec 2040 16:00:00 GMT"');
  });
});

describe('SIP values and serialization', () => {
  test('any message we build parses back to the same start line, headers and body', () => {
    const token = fc.stringMatching(/^[A-Za-z0-9\-.!%*_+`'~]{1,12}$/);
    const text = fc.stringMatching(/^[A-Za-z0-9 .;=:@<>"/-]{0,30}$/).map((v) => v.trim());
    fc.assert(
      fc.property(
        token,
        fc.array(fc.tuple(token, text), { maxLength: 6 }),
        fc.uint8Array({ maxLength: 64 }),
        (method, extra, body) => {
          const headers = [
            { name: 'Via', value: 'SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bKprop' },
            { name: 'From', value: '<sip:a@127.0.0.1>;tag=1' },
            { name: 'To', value: '<sip:b@127.0.0.1>' },
            { name: 'Call-ID', value: 'prop@127.0.0.1' },
            { name: 'CSeq', value: `1 ${method}` },
            // X- names are never list headers, so each value comes back whole.
            ...extra.map(([n, v]) => ({ name: `X-${n}`, value: v })),
          ];
          const req: SipRequest = {
            type: 'request',
            method,
            uri: 'sip:b@127.0.0.1',
            headers,
            body: Buffer.from(body),
          };
          const back = request(parseMessage(serializeMessage(req)));
          assert.equal(back.method, method);
          assert.deepEqual(back.body, Buffer.from(body));
          assert.deepEqual(
            back.headers.filter((h) => h.name !== 'Content-Length'),
            headers,
          );
        },
      ),
      { numRuns: 500 },
    );
  });

  test('lists split on commas outside quotes and <>', () => {
    assert.deepEqual(splitList('"Doe, John" <sip:a@b;x=1,2>;q=1, <sip:c@d>, sip:e@f'), [
      '"Doe, John" <sip:a@b;x=1,2>;q=1',
      '<sip:c@d>',
      'sip:e@f',
    ]);
  });

  test('SIP URIs: user, password, host, port, params, headers and IPv6 references', () => {
    assert.deepEqual(
      sipUri('sips:alice:secret@[2001:DB8::10]:5061;transport=tcp;lr?subject=hi%20there&x=y'),
      {
        scheme: 'sips',
        user: 'alice',
        password: 'secret',
        host: '[2001:db8::10]',
        port: 5061,
        params: { transport: 'tcp', lr: null },
        headers: { subject: 'hi there', x: 'y' },
      },
    );
    assert.deepEqual(sipUri('SIP:Example.COM'), {
      scheme: 'sip',
      host: 'example.com',
      params: {},
      headers: {},
    });
    for (const bad of [
      'sip:',
      'sip:user@',
      'sip:host:0',
      'sip:host:70000',
      'sip:[::1',
      'sip:a b@c',
      'sip:h;;x',
    ])
      assert.equal(parseUri(bad).ok, false, bad);
  });

  test('Via: received and rport, formatting back', () => {
    const v = parseVia('SIP/2.0/UDP [::1]:5070;branch=z9hG4bK77;rport;received=192.0.2.1');
    assert.ok(v.ok);
    assert.deepEqual(v.value, {
      protocol: 'SIP/2.0',
      transport: 'UDP',
      host: '[::1]',
      port: 5070,
      params: { branch: 'z9hG4bK77', rport: null, received: '192.0.2.1' },
    });
    assert.equal(formatVia(v.value), 'SIP/2.0/UDP [::1]:5070;branch=z9hG4bK77;rport;received=192.0.2.1');
    assert.equal(parseVia('SIP/2.0/UDP h;rport=99999').ok, false);
  });

  test('name-addr formats with a quoted display name', () => {
    const n = parseNameAddr('Bob <sip:bob@biloxi.example.com>;tag=a6c85cf');
    assert.ok(n.ok);
    assert.equal(formatNameAddr(n.value), '"Bob" <sip:bob@biloxi.example.com>;tag=a6c85cf');
    const q = parseNameAddr('"A \\"B\\"" <sip:a@b>');
    assert.ok(q.ok);
    assert.equal(formatNameAddr(q.value), '"A \\"B\\"" <sip:a@b>');
  });

  test('a serialized message parses back to the same message, Content-Length from the body', () => {
    const body = Buffer.from('v=0\r\n');
    const req: SipRequest = {
      type: 'request',
      method: 'INVITE',
      uri: 'sip:bob@127.0.0.1:5080',
      headers: [
        { name: 'Via', value: 'SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bKabc;rport' },
        { name: 'Max-Forwards', value: '70' },
        { name: 'From', value: '<sip:alice@127.0.0.1>;tag=1' },
        { name: 'To', value: '<sip:bob@127.0.0.1>' },
        { name: 'Call-ID', value: 'c1@127.0.0.1' },
        { name: 'CSeq', value: '1 INVITE' },
        { name: 'Content-Length', value: '999' },
      ],
      body,
    };
    const back = request(parseMessage(serializeMessage(req)));
    assert.equal(getHeader(back, 'Content-Length'), '5');
    assert.deepEqual(back.body, body);
    assert.deepEqual(
      back.headers.filter((h) => h.name !== 'Content-Length'),
      req.headers.filter((h) => h.name !== 'Content-Length'),
    );

    const cancel = createCancel(req);
    assert.equal(getHeader(cancel, 'CSeq'), '1 CANCEL');
    assert.equal(getHeader(cancel, 'Via'), getHeader(req, 'Via'));
    const res = createResponse(req, 486, 'Busy Here', { toTag: 'bt' });
    const ack = createNon2xxAck(req, res);
    assert.equal(getHeader(ack, 'To'), '<sip:bob@127.0.0.1>;tag=bt');
    assert.equal(getHeader(ack, 'CSeq'), '1 ACK');
    assert.equal(request(parseMessage(serializeMessage(ack))).method, 'ACK');
  });
});

describe("the caller shown on a ringing phone (the From of Dzvin's INVITE)", () => {
  test('a name and a number: the display name and the user; a colleague: their ext', () => {
    assert.equal(
      callerIdentity({ name: 'Петро Шевченко', number: '+380501234567' }, 'acme.localhost'),
      '"Петро Шевченко" <sip:+380501234567@acme.localhost>',
    );
    assert.equal(
      callerIdentity({ name: null, number: '+380501234567' }, 'd'),
      '"+380501234567" <sip:+380501234567@d>',
    );
    assert.equal(callerIdentity({ name: 'Андрій', number: '002' }, 'd'), '"Андрій" <sip:002@d>');
    assert.equal(callerIdentity(undefined, 'd'), '"Dzvin" <sip:dzvin@d>');
  });

  test("a CRM's hostile name cannot add a header or break the quoting; a number that is not a SIP user is not used", () => {
    const from = callerIdentity({ name: 'Evil"\r\nVia: SIP/2.0/UDP x\\', number: '+380 50;tag=1' }, 'd');
    assert.doesNotMatch(from, /[\r\n]/);
    const parsed = parseNameAddr(from);
    assert.ok(parsed.ok, from);
    assert.equal(formatUri(parsed.value.uri), 'sip:dzvin@d');
    assert.match(String(parsed.value.displayName), /^"?Evil\\?" Via: SIP\/2\.0\/UDP x/);
    assert.ok(callerIdentity({ name: 'x'.repeat(500), number: null }, 'd').length < 100);
  });
});
