// The browser as an employee's phone (issue 18): JsSIP registers the employee's ext over
// SIP-over-WebSocket at Kamailio (dzvin-websocket.cfg) and answers the B2BUA's INVITEs with
// WebRTC media, which rtpengine bridges to Dzvin's plain RTP (docs/webrtc.md). This module is the
// Phone page's engine and knows nothing of the page: it reports state and incoming calls, and a
// call is answered, rejected or hung up through the handle it gives.
//
// The console's Phone page (pages/phone.tsx) imports it lazily, in its own chunk: the other pages
// do not pay for JsSIP (~56 KB gzipped) until an employee signs in.
import { UA, WebSocketInterface } from 'jssip';
import type { DTMF_TRANSPORT } from 'jssip/lib/Constants';
import type { RTCSession } from 'jssip/lib/RTCSession';
import type { RTCSessionEvent } from 'jssip/lib/UA';

/**
 * `offline`: the WebSocket dropped (the network, Kamailio restarted); JsSIP reconnects by itself
 * with backoff and registers again, which brings `registered` back.
 */
export type PhoneState = 'connecting' | 'registered' | 'unregistered' | 'failed' | 'offline';

export interface SipPhoneOptions {
  /** Kamailio's WebSocket: ws://127.0.0.1:8088/ in development, wss://<console origin>/sip in production. */
  wsUrl: string;
  /** The employee's ext and the account's SIP domain: the AoR `ext@domain`. */
  ext: string;
  domain: string;
  /**
   * The employee's SIP password (the admin API's PUT /api/v1/employees/{id}/sip-password), or
   * its HA1 = MD5(ext:domain:password) (what the console's employee session hands the page:
   * `GET /api/v1/me`), with the domain as the realm.
   */
  password?: string;
  ha1?: string;
  displayName?: string;
  /** Where the other party is heard (its srcObject is set when a call has media). */
  audio?: HTMLAudioElement;
  onState?(state: PhoneState, reason?: string): void;
  onIncoming?(call: PhoneCall): void;
}

export interface PhoneCall {
  direction: 'incoming' | 'outgoing';
  /**
   * The INVITE's From: Dzvin's B2BUA puts the caller's name and number there (sip-driver.ts
   * `callerIdentity`); the Phone page takes the caller from the call's `otherLegs` (the event
   * stream), which also has the CRM link.
   */
  from: { user: string; displayName: string };
  /** Answers with the microphone; resolves once the call is confirmed (ACK) or rejects when it failed. */
  answer(): Promise<void>;
  /** Resolves once the call is up (an outgoing one: answered), rejects when it failed. */
  confirmed: Promise<void>;
  /**
   * Puts the call on hold (a re-INVITE offering sendonly: the other party hears nothing from us
   * and Dzvin pauses its media watch) or takes it off; resolves once the other side agreed.
   */
  hold(on: boolean): Promise<void>;
  /**
   * Restarts ICE (a re-INVITE offering new ICE credentials), what the page does when the network
   * changed under a call; resolves once the other side answered, rejects when the call ended
   * instead (JsSIP hangs up a call whose renegotiation failed).
   */
  restartIce(): Promise<void>;
  /**
   * The ICE username fragments of the call now: the page's and the other side's (rtpengine's).
   * Both change with an ICE restart (RFC 8839): a diagnostic for a call-quality view and tests.
   */
  iceUfrags(): { local: string; remote: string };
  /** Refuses a ringing call (486 Busy Here by default) or hangs up one in progress (BYE). */
  hangup(status?: number): void;
  /** Stops (or restarts) sending the microphone; the call stays up. */
  mute(on: boolean): void;
  /** Sends DTMF digits (RFC 4733 events in the RTP, as negotiated). */
  dtmf(tones: string): void;
  /**
   * Blind transfer (REFER): Dzvin rings `target` (an ext or a number) for the other party and
   * ends this phone's leg; resolves once Dzvin accepted the REFER (202), rejects when refused.
   */
  transfer(target: string): Promise<void>;
  /** Resolves when the call is over, whoever ended it, with JsSIP's cause. */
  ended: Promise<string>;
  /**
   * RTP packets of the call so far, from the peer connection's stats (0 before media), and where
   * its ICE and DTLS stand (`new`…`connected`/`failed`): what a call-quality badge would show.
   */
  packets(): Promise<{ sent: number; received: number; ice: string; connection: string }>;
}

export interface SipPhone {
  state(): PhoneState;
  /** Places a call (click-to-call) with the microphone: `ext`, a number, or a `sip:` URI. */
  call(target: string): PhoneCall;
  /** Unregisters and closes the WebSocket. */
  stop(): Promise<void>;
}

/** Connects and registers; incoming calls reach `onIncoming`. */
export function createSipPhone(opts: SipPhoneOptions): SipPhone {
  let state: PhoneState = 'connecting';
  const set = (s: PhoneState, reason?: string) => {
    state = s;
    opts.onState?.(s, reason);
  };
  const ua = new UA({
    sockets: [new WebSocketInterface(opts.wsUrl)],
    uri: `sip:${opts.ext}@${opts.domain}`,
    authorization_user: opts.ext,
    ...(opts.ha1 ? { ha1: opts.ha1, realm: opts.domain } : { password: opts.password }),
    display_name: opts.displayName,
    register: true,
    // Dzvin ends calls itself (BYE, media timeout); session timers would only add re-INVITEs.
    session_timers: false,
    user_agent: 'Dzvin console (JsSIP)',
  });
  ua.on('registered', () => set('registered'));
  ua.on('unregistered', () => set('unregistered'));
  ua.on('registrationFailed', (e: { cause?: string }) => set('failed', e.cause));
  // The socket dropped: JsSIP retries it (1 s doubling up to 30 s) and registers again once it is back.
  ua.on('disconnected', () => {
    if (started) set('offline');
  });
  ua.on('connected', () => {
    if (state === 'offline') set('connecting');
  });
  ua.on('newRTCSession', (e: RTCSessionEvent) => {
    if (e.originator !== 'remote') return;
    opts.onIncoming?.(phoneCall(e.session as RTCSession, 'incoming', opts.audio, opts.domain));
  });
  let started = true;
  ua.start();
  return {
    state: () => state,
    call(target) {
      const uri = target.startsWith('sip:') ? target : `sip:${target}@${opts.domain}`;
      const session = ua.call(uri, MEDIA) as RTCSession;
      return phoneCall(session, 'outgoing', opts.audio, opts.domain);
    },
    async stop() {
      started = false;
      if (!ua.isConnected()) {
        ua.stop();
        return;
      }
      await new Promise<void>((resolve) => {
        const done = () => resolve();
        ua.on('unregistered', done);
        ua.on('disconnected', done);
        setTimeout(done, 2000);
        ua.stop();
      });
    },
  };
}

/** JsSIP's name for RFC 4733 (its `DTMF_TRANSPORT` is a declared enum: its value, typed). */
const RFC4733 = 'RFC2833' as unknown as DTMF_TRANSPORT;

/** Audio only, no STUN/TURN (rtpengine is reached directly; its candidates come in the SDP). */
const MEDIA = { mediaConstraints: { audio: true, video: false }, pcConfig: { iceServers: [] } };

function phoneCall(
  session: RTCSession,
  direction: PhoneCall['direction'],
  audio: HTMLAudioElement | undefined,
  domain: string,
): PhoneCall {
  const confirmed = new Promise<void>((resolve, reject) => {
    session.on('confirmed', () => resolve());
    session.on('failed', (e: { cause?: string }) => reject(new Error(`call failed: ${e.cause}`)));
  });
  // Nobody may wait for it (a call refused before anyone asked): no unhandled rejection.
  confirmed.catch(() => undefined);
  const ended = new Promise<string>((resolve) => {
    session.on('ended', (e) => resolve(e.cause ?? 'ended'));
    session.on('failed', (e) => resolve(e.cause ?? 'failed'));
  });
  const hear = (pc: RTCPeerConnection) => {
    if (!audio) return;
    pc.addEventListener('track', (ev) => {
      audio.srcObject = ev.streams[0] ?? new MediaStream([ev.track]);
      audio.play().catch(() => undefined);
    });
  };
  // An incoming call's peer connection is made at answer; an outgoing one's already exists.
  session.on('peerconnection', (e) => hear(e.peerconnection as unknown as RTCPeerConnection));
  if (session.connection) hear(session.connection as unknown as RTCPeerConnection);
  const from = session.remote_identity;
  return {
    from: { user: from.uri.user, displayName: from.display_name ?? '' },
    direction,
    answer() {
      if (direction === 'incoming' && !session.isEstablished()) session.answer(MEDIA);
      return confirmed;
    },
    confirmed,
    hold: (on: boolean) =>
      new Promise<void>((resolve, reject) => {
        const sent = on ? session.hold({}, () => resolve()) : session.unhold({}, () => resolve());
        if (!sent) reject(new Error(on ? 'cannot hold now' : 'cannot resume now'));
      }),
    restartIce: () =>
      new Promise<void>((resolve, reject) => {
        const sent = session.renegotiate({ rtcOfferConstraints: { iceRestart: true } }, () => resolve());
        if (!sent) reject(new Error('cannot restart ICE now'));
        else ended.then((cause) => reject(new Error(`the call ended: ${cause}`)));
      }),
    iceUfrags() {
      const pc = session.connection as unknown as RTCPeerConnection | undefined;
      const ufrag = (d: RTCSessionDescription | null | undefined) =>
        /a=ice-ufrag:(\S+)/.exec(d?.sdp ?? '')?.[1] ?? '';
      return { local: ufrag(pc?.localDescription), remote: ufrag(pc?.remoteDescription) };
    },
    hangup: (status?: number) => {
      if (session.isEnded()) return;
      session.terminate(status && !session.isEstablished() ? { status_code: status } : undefined);
    },
    mute: (on: boolean) => (on ? session.mute({ audio: true }) : session.unmute({ audio: true })),
    // RFC 4733 events in the RTP (JsSIP's default would be SIP INFO, which Dzvin does not relay).
    dtmf: (tones: string) =>
      session.sendDTMF(tones, { duration: 120, interToneGap: 80, transportType: RFC4733 }),
    transfer: (target: string) =>
      new Promise<void>((resolve, reject) => {
        const uri = target.startsWith('sip:') ? target : `sip:${target}@${domain}`;
        session.refer(uri, {
          eventHandlers: {
            requestSucceeded: () => resolve(),
            requestFailed: (e: { cause?: string; response?: { status_code?: number } }) =>
              reject(new Error(`transfer refused: ${e.response?.status_code ?? ''} ${e.cause ?? ''}`.trim())),
          },
        });
      }),
    ended,
    async packets() {
      const pc = session.connection as unknown as RTCPeerConnection | undefined;
      const out = {
        sent: 0,
        received: 0,
        ice: pc?.iceConnectionState ?? 'none',
        connection: pc?.connectionState ?? 'none',
      };
      if (!pc) return out;
      (await pc.getStats()).forEach(
        (r: { type: string; kind?: string; packetsSent?: number; packetsReceived?: number }) => {
          if (r.kind !== 'audio') return;
          if (r.type === 'outbound-rtp') out.sent += r.packetsSent ?? 0;
          if (r.type === 'inbound-rtp') out.received += r.packetsReceived ?? 0;
        },
      );
      return out;
    },
  };
}
