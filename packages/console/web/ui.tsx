// Small shared pieces: error and empty states, a busy-aware action button, tabs.
import type { ComponentChildren } from 'preact';
import { useState } from 'preact/hooks';
import type { Employee } from './api.ts';
import { t } from './i18n.ts';

export function ErrorBox({ error }: { error: string | null }) {
  return error ? (
    <p class="error" role="alert">
      {error}
    </p>
  ) : null;
}

export function Empty({ children }: { children: ComponentChildren }) {
  return <p class="empty">{children}</p>;
}

export const errText = (e: unknown) => (e instanceof Error ? e.message : String(e));

/** Runs `fn`, reporting failure through `onError`; disabled while it runs. */
export function Action(props: {
  onClick: () => Promise<unknown> | unknown;
  onError?: (msg: string | null) => void;
  children: ComponentChildren;
  kind?: 'primary' | 'danger' | 'plain';
  label?: string;
  testid?: string;
}) {
  const [busy, setBusy] = useState(false);
  return (
    <button
      type="button"
      class={props.kind ?? 'plain'}
      aria-label={props.label}
      data-testid={props.testid}
      disabled={busy}
      onClick={async () => {
        setBusy(true);
        props.onError?.(null);
        try {
          await props.onClick();
        } catch (e) {
          props.onError?.(errText(e));
        } finally {
          setBusy(false);
        }
      }}
    >
      {props.children}
    </button>
  );
}

export function Tabs<K extends string>(props: {
  value: K;
  options: [K, string][];
  onChange: (k: K) => void;
  label: string;
}) {
  return (
    <div class="tabs" role="tablist" aria-label={props.label}>
      {props.options.map(([k, text]) => (
        <button
          type="button"
          role="tab"
          aria-selected={props.value === k}
          class={props.value === k ? 'tab active' : 'tab'}
          onClick={() => props.onChange(k)}
        >
          {text}
        </button>
      ))}
    </div>
  );
}

export const Loading = () => <p class="muted">{t('loading')}</p>;

/** `yyyy-mm-dd` of a local date (for date inputs). */
export const isoDay = (d: Date) =>
  `${d.getFullYear()}-${String(d.getMonth() + 1).padStart(2, '0')}-${String(d.getDate()).padStart(2, '0')}`;
/** Local midnight of a `yyyy-mm-dd` (the browser's time zone). */
export const dayStart = (s: string) => {
  const [y, m, d] = s.split('-').map(Number);
  return new Date(y, m - 1, d).getTime();
};

/**
 * Whether the employee's SIP phone is registered now (issue 15: presence from registration):
 * nothing when the server runs no SIP engine (every phone simulated).
 */
export function PhoneBadge({ phone }: { phone: Employee['phone'] }) {
  if (!phone) return null;
  return phone.registered ? (
    <span
      class="status-pill registered"
      data-testid="phone-badge"
      data-registered="true"
      title={`${t('phoneContacts')}: ${phone.contacts}`}
    >
      {t('phoneRegistered')}
      {phone.contacts > 1 ? ` ×${phone.contacts}` : ''}
    </span>
  ) : (
    <span class="status-pill unregistered" data-testid="phone-badge" data-registered="false">
      {t('phoneOffline')}
    </span>
  );
}
