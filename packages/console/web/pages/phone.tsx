// The employee's browser phone (issue 18): its registration, the calls ringing it (with the caller
// from the call's otherLegs and the CRM link), answer / reject, hang up, hold, mute, a DTMF
// keypad, blind transfer, and a dialler. The phone itself lives in phone/phone-store.ts, so it
// keeps running while the employee is on another page.
import { useEffect, useState } from 'preact/hooks';
import { fmtDuration, t } from '../i18n.ts';
import * as phone from '../phone/phone-store.ts';
import { hash, hashParams, linkOf } from '../route.ts';
import { useSignal } from '../signal.ts';
import { ErrorBox, errText } from '../ui.tsx';

const KEYS = ['1', '2', '3', '4', '5', '6', '7', '8', '9', '*', '0', '#'];

function StatusLine() {
  const s = useSignal(phone.status);
  const cfg = useSignal(phone.settings);
  const [text, cls] =
    s.kind === 'registered'
      ? [`${t('phoneReady')} ${cfg?.ext ?? ''}`, 'ok']
      : s.kind === 'connecting'
        ? [t('phoneConnecting'), 'warn']
        : s.kind === 'offline'
          ? [t('phoneReconnecting'), 'warn']
          : s.kind === 'failed'
            ? [`${t('phoneFailed')}${s.reason ? `: ${s.reason}` : ''}`, 'bad']
            : s.kind === 'unregistered'
              ? [t('phoneUnregistered'), 'bad']
              : s.kind === 'loading'
                ? [t('phoneLoading'), 'warn']
                : s.kind === 'unavailable'
                  ? [`${t('phoneUnavailable')}: ${s.reason}`, 'bad']
                  : [t('phoneOff'), 'bad'];
  return (
    <p class={`phone-state ${cls}`} data-testid="phone-state" data-state={s.kind} role="status">
      {text}
    </p>
  );
}

function Who({ c }: { c: phone.CallView }) {
  const p = c.party;
  const link = linkOf(p?.url);
  return (
    <div class="who-calls">
      <strong data-testid="call-party">{p?.name || p?.num || c.target}</strong>
      {p?.name && p.num ? <span class="muted"> {p.num}</span> : null}
      {link ? (
        <a
          data-testid="crm-link"
          href={link.href}
          {...(link.own ? {} : { target: '_blank', rel: 'noopener noreferrer' })}
        >
          {' '}
          {t('openInCrm')}
        </a>
      ) : null}
    </div>
  );
}

function Timer({ since }: { since: number }) {
  const [, tick] = useState(0);
  useEffect(() => {
    const id = setInterval(() => tick((n) => n + 1), 1000);
    return () => clearInterval(id);
  }, []);
  return <span class="muted">{fmtDuration(Math.floor((Date.now() - since) / 1000))}</span>;
}

function ActiveCall({ c }: { c: phone.CallView }) {
  const [to, setTo] = useState('');
  const [error, setError] = useState<string | null>(null);
  const [pad, setPad] = useState(false);
  const up = c.status === 'talking';
  const act = (fn: () => Promise<unknown> | unknown) => async () => {
    setError(null);
    try {
      await fn();
    } catch (e) {
      setError(errText(e));
    }
  };
  return (
    <div
      class="card phone-call"
      data-testid="active-call"
      data-status={c.status}
      data-held={c.held}
      data-muted={c.muted}
    >
      <div class="row">
        <Who c={c} />
        {c.status === 'dialing' ? <span class="muted">{t('calling')}</span> : null}
        {up && c.answeredAt ? <Timer since={c.answeredAt} /> : null}
        {c.held ? <span class="pill warn">{t('onHold')}</span> : null}
        {c.muted ? <span class="pill warn">{t('muted')}</span> : null}
        {c.status === 'ended' ? (
          <span class="muted" data-testid="call-ended">
            {t('callEnded')}
            {c.cause ? ` (${c.cause})` : ''}
          </span>
        ) : null}
      </div>
      {c.status === 'ended' ? null : (
        <div class="row">
          <button type="button" class="danger" onClick={() => phone.hangup(c.id)}>
            {t('hangUp')}
          </button>
          <button type="button" disabled={!up} onClick={act(() => phone.hold(c.id, !c.held))}>
            {c.held ? t('resume') : t('hold')}
          </button>
          <button type="button" disabled={!up} onClick={() => phone.mute(c.id, !c.muted)}>
            {c.muted ? t('unmute') : t('mute')}
          </button>
          <button type="button" disabled={!up} aria-expanded={pad} onClick={() => setPad(!pad)}>
            {t('keypad')}
          </button>
        </div>
      )}
      {pad && up ? (
        <fieldset class="keypad">
          <legend>{t('keypad')}</legend>
          {KEYS.map((k) => (
            <button type="button" onClick={() => phone.dtmf(c.id, k)}>
              {k}
            </button>
          ))}
          <output data-testid="dtmf-sent">{c.digits}</output>
        </fieldset>
      ) : null}
      {up ? (
        <form
          class="row"
          onSubmit={async (e) => {
            e.preventDefault();
            await act(() => phone.transfer(c.id, to))();
          }}
        >
          <input
            aria-label={t('transferTarget')}
            placeholder={t('transferTarget')}
            value={to}
            onInput={(e) => setTo(e.currentTarget.value)}
            required
          />
          <button type="submit">{t('transfer')}</button>
        </form>
      ) : null}
      <ErrorBox error={error} />
    </div>
  );
}

function Ringing({ c }: { c: phone.CallView }) {
  return (
    <div class="card phone-call ringing" data-testid="incoming" role="alert">
      <div class="muted small">{t('incomingCall')}</div>
      <Who c={c} />
      <div class="row">
        <button type="button" class="primary" onClick={() => phone.answer(c.id)}>
          {t('answer')}
        </button>
        <button type="button" class="danger" onClick={() => phone.reject(c.id)}>
          {t('reject')}
        </button>
      </div>
    </div>
  );
}

export function PhonePage() {
  const list = useSignal(phone.calls);
  const mic = useSignal(phone.micProblem);
  const s = useSignal(phone.status);
  const h = useSignal(hash);
  const [number, setNumber] = useState('');
  const [error, setError] = useState<string | null>(null);
  // `#/phone?call=<number>` (a contact's or a history row's button) fills the dialler.
  const asked = hashParams(h).call;
  useEffect(() => {
    if (asked) setNumber(asked);
  }, [asked]);
  const place = async (to: string) => {
    setError(null);
    if (!(await phone.dial(to))) setError(phone.micProblem.get() ?? null);
  };
  return (
    <section aria-labelledby="phone-h" class="phone">
      <div class="page-head">
        <h1 id="phone-h">{t('phone')}</h1>
        <StatusLine />
      </div>
      {mic ? (
        <p class="error" role="alert" data-testid="mic-problem">
          {mic}
        </p>
      ) : null}
      {list.map((c) =>
        c.status === 'ringing' ? <Ringing key={c.id} c={c} /> : <ActiveCall key={c.id} c={c} />,
      )}
      <form
        class="card row dialler"
        onSubmit={async (e) => {
          e.preventDefault();
          await place(number);
        }}
      >
        <input
          name="dial"
          aria-label={t('numberOrExt')}
          placeholder={t('numberOrExt')}
          value={number}
          inputMode="tel"
          onInput={(e) => setNumber(e.currentTarget.value)}
          required
        />
        <button type="submit" class="primary" disabled={s.kind !== 'registered'}>
          {t('call')}
        </button>
      </form>
      <ErrorBox error={error} />
    </section>
  );
}
