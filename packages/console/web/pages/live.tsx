// Live: calls in progress (SSE), with hang up / transfer / answer, and employees' presence.
import type { ComponentChildren } from 'preact';
import { useState } from 'preact/hooks';
import { type Employee, type LiveCall, type OtherLeg, post } from '../api.ts';
import { directionLabel, fmtDuration, t } from '../i18n.ts';
import { live, tick } from '../live-store.ts';
import { linkOf } from '../route.ts';
import { useSignal } from '../signal.ts';
import { Action, Empty, ErrorBox, PhoneBadge } from '../ui.tsx';

/**
 * The external party of a card from `otherLegs` (ordered by CRM priority; the built-in contacts
 * book is one of them, its `url` a link into this console): the first entry with a name, else the
 * first with a link; the number is the other party's (never the trunk's: that is the company's
 * own number). Other entries with a link are offered too (another CRM, "add to contacts").
 */
function external(c: LiveCall) {
  const legs = c.otherLegs ?? [];
  const main = legs.find((x) => x.name) ?? legs.find((x) => linkOf(x.url)) ?? null;
  const num = main?.num ?? legs.find((x) => x.num)?.num ?? null;
  const more = legs.filter((x) => x !== main && linkOf(x.url));
  return { main, num, more };
}

/** A link from a call event: this console's own in this tab, a foreign CRM's in a new one. */
function LegLink({
  url,
  children,
  title,
}: {
  url: string | null;
  children: ComponentChildren;
  title?: string;
}) {
  const link = linkOf(url);
  if (!link) return <span class="ellipsis">{children}</span>;
  return link.own ? (
    <a href={link.href} class="ellipsis" title={title}>
      {children}
    </a>
  ) : (
    <a href={link.href} target="_blank" rel="noreferrer" class="ellipsis" title={title}>
      {children}
    </a>
  );
}

/** The words for a link beside the name: what the console link does, or the foreign CRM's host. */
const linkText = (x: OtherLeg) => {
  const l = linkOf(x.url);
  if (!l) return '';
  if (l.own) return l.href.includes('?new=') ? `+ ${t('addToContacts')}` : t('contacts');
  return new URL(l.href).hostname;
};

function CallCard({ call, onError }: { call: LiveCall; onError: (m: string | null) => void }) {
  const now = useSignal(tick);
  const [transferring, setTransferring] = useState(false);
  const [toExt, setToExt] = useState('');
  const ringing = call.bridgeAt === null;
  const inQueue = ringing && call.leg === null;
  const state = inQueue ? t('inIvr') : ringing ? t('ringing') : t('talking');
  const { main: o, num, more } = external(call);
  const since = call.bridgeAt ?? call.dialAt;
  const secs = Math.max(0, (Math.max(now, Date.now()) - since) / 1000);
  const dirClass = call.lgDirection === 4 ? 'in' : call.lgDirection === 2 ? 'out' : 'int';
  return (
    <li class={`call ${ringing ? 'ringing' : 'talking'}`} data-uuid={call.uuid} data-testid="live-call">
      <div class="call-top">
        <span class={`dir ${dirClass}`}>{directionLabel(call.lgDirection)}</span>
        <span class="state">{state}</span>
        <span class="timer" role="timer">
          {fmtDuration(secs)}
        </span>
      </div>
      <div class="call-who">
        <div class="party">
          <span class="muted small">{t('external')}</span>
          {o?.name || num ? (
            <LegLink url={o?.url ?? null} title={o && !o.name ? linkText(o) : undefined}>
              {o?.name ?? num}
            </LegLink>
          ) : (
            <span class="ellipsis">{t('none')}</span>
          )}
          <span class="muted small ellipsis">
            {o?.name && num ? num : ''} {o?.companyName ?? ''}
          </span>
          {more.length ? (
            <span class="small ellipsis">
              {more.map((x, k) => (
                <>
                  {k ? ' · ' : ''}
                  <LegLink url={x.url}>{linkText(x)}</LegLink>
                </>
              ))}
            </span>
          ) : null}
        </div>
        <div class="party">
          <span class="muted small">{t('employee')}</span>
          <span class="ellipsis">
            {call.leg ? `${call.leg.displayName} (${call.leg.ext ?? ''})` : t('none')}
            {call.leg2 ? ` → ${call.leg2.displayName} (${call.leg2.ext ?? ''})` : ''}
          </span>
          <span class="muted small ellipsis">
            {call.trunkName ?? ''} {call.trunkNum ?? ''}
          </span>
        </div>
      </div>
      <div class="call-actions">
        {ringing && call.leg?.ext ? (
          <Action
            kind="primary"
            onError={onError}
            onClick={() => post(`/api/v1/sim/calls/${call.uuid}/answer`, { ext: call.leg?.ext })}
          >
            {t('answer')}
          </Action>
        ) : null}
        {!ringing && !transferring ? (
          <button type="button" class="plain" onClick={() => setTransferring(true)}>
            {t('transfer')}
          </button>
        ) : null}
        {transferring ? (
          <form
            class="inline"
            onSubmit={async (e) => {
              e.preventDefault();
              onError(null);
              try {
                await post(`/api/v1/sim/calls/${call.parentUuid ?? call.uuid}/transfer`, {
                  toExt: toExt.trim(),
                });
                setTransferring(false);
              } catch (err) {
                onError((err as Error).message);
              }
            }}
          >
            <input
              aria-label={t('transferTo')}
              placeholder={t('ext')}
              size={5}
              value={toExt}
              onInput={(e) => setToExt(e.currentTarget.value)}
              // biome-ignore lint/a11y/noAutofocus: the field appears on the user's click
              autoFocus
            />
            <button type="submit" class="plain">
              OK
            </button>
          </form>
        ) : null}
        <Action
          kind="danger"
          onError={onError}
          onClick={() => post(`/rest/calls/active/${call.parentUuid ?? call.uuid}/hangup`)}
        >
          {t('hangUp')}
        </Action>
      </div>
    </li>
  );
}

function Presence({ busyExts }: { busyExts: Set<string> }) {
  const employees = useSignal(live.employees);
  const [error, setError] = useState<string | null>(null);
  const state = (e: Employee) =>
    busyExts.has(e.ext) ? 'oncall' : e.paused ? 'paused' : e.presence === 'online' ? 'online' : 'offline';
  const label = { oncall: t('onCall'), paused: t('paused'), online: t('online'), offline: t('offline') };
  return (
    <section aria-labelledby="presence-h" class="presence">
      <h2 id="presence-h">{t('presence')}</h2>
      <ErrorBox error={error} />
      <ul>
        {employees.map((e) => {
          const s = state(e);
          return (
            <li data-ext={e.ext}>
              <span class={`dot ${s}`} aria-hidden="true" />
              <span class="ellipsis">
                {e.displayName} <span class="muted">({e.ext})</span> <PhoneBadge phone={e.phone} />
              </span>
              <span class="muted small">{label[s]}</span>
              <Action
                onError={setError}
                onClick={async () => {
                  await post(`/api/v1/sim/employees/${e.ext}/${e.paused ? 'unpause' : 'pause'}`);
                  await live.loadEmployees();
                }}
              >
                {e.paused ? t('unpause') : t('pause')}
              </Action>
            </li>
          );
        })}
      </ul>
    </section>
  );
}

export function LivePage() {
  useSignal(live.version);
  const status = useSignal(live.status);
  const loadError = useSignal(live.error);
  const [error, setError] = useState<string | null>(null);
  const calls = live.visible();
  const busy = new Set<string>();
  for (const c of calls) {
    if (c.leg?.ext && c.bridgeAt) busy.add(c.leg.ext);
    if (c.leg2?.ext && c.bridgeAt) busy.add(c.leg2.ext);
  }
  return (
    <div class="live-layout">
      <section aria-labelledby="live-h">
        <div class="page-head">
          <h1 id="live-h">
            {t('callsInProgress')} <span class="count">{calls.length}</span>
          </h1>
          <span class={`conn ${status}`} role="status">
            {status === 'open' ? t('connected') : t('reconnecting')}
          </span>
        </div>
        <ErrorBox error={error ?? loadError} />
        {calls.length === 0 ? (
          <Empty>{t('noLiveCalls')}</Empty>
        ) : (
          <ul class="calls" aria-live="polite">
            {calls.map((c) => (
              <CallCard key={c.uuid} call={c} onError={setError} />
            ))}
          </ul>
        )}
      </section>
      <Presence busyExts={busy} />
    </div>
  );
}
