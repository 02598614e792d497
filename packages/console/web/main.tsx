// The Dzvin web console: sign in with the account domain and API key (the documented Phonet
// session, JSESSIONID), then the pages below, routed by the URL hash.
import './style.css';
import { render } from 'preact';
import { useEffect, useState } from 'preact/hooks';
import { type Account, ApiError, get, post, rotatedKey, setRotatedKey, whenSignedOut } from './api.ts';
import { type Labels, lang, setLang, t } from './i18n.ts';
import { live } from './live-store.ts';
import { ContactsPage } from './pages/contacts.tsx';
import { DirectoryPage } from './pages/directory.tsx';
import { HistoryPage } from './pages/history.tsx';
import { IntegrationsPage } from './pages/integrations.tsx';
import { LivePage } from './pages/live.tsx';
import { OverviewPage } from './pages/overview.tsx';
import { SimulatorPage } from './pages/simulator.tsx';
import { hash, hashPage, setConsoleHost } from './route.ts';
import { signal, useSignal } from './signal.ts';
import { ErrorBox, errText, Loading } from './ui.tsx';

const PAGES = {
  live: LivePage,
  history: HistoryPage,
  contacts: ContactsPage,
  integrations: IntegrationsPage,
  directory: DirectoryPage,
  simulator: SimulatorPage,
  overview: OverviewPage,
} as const;
type PageName = keyof typeof PAGES;

const account = signal<Account | null | undefined>(undefined);
account.subscribe(() => setConsoleHost(account.get()?.domain ?? null));

/** The page of the hash; the hash itself (with its parameters) survives the sign-in screen. */
function pageOf(h: string): PageName {
  const name = hashPage(h) as PageName;
  return name in PAGES ? name : 'live';
}
whenSignedOut(() => {
  live.stop();
  account.set(null);
});

async function loadAccount() {
  try {
    account.set(await get<Account>('/api/v1/account'));
  } catch (e) {
    if (e instanceof ApiError && (e.status === 403 || e.status === 401)) account.set(null);
    else account.set(null);
  }
}

function SignIn() {
  const [domain, setDomain] = useState(() => localStorage.getItem('dzvin.domain') ?? location.hostname);
  const [apiKey, setApiKey] = useState(rotatedKey ?? '');
  const [shownKey] = useState(() => {
    const k = rotatedKey;
    setRotatedKey(null);
    return k;
  });
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  return (
    <main class="signin">
      <form
        class="card"
        aria-label={t('signIn')}
        onSubmit={async (e) => {
          e.preventDefault();
          setBusy(true);
          setError(null);
          try {
            await post('/rest/security/authorize', { domain: domain.trim(), apiKey: apiKey.trim() });
            localStorage.setItem('dzvin.domain', domain.trim());
            await loadAccount();
          } catch (err) {
            setError(errText(err));
          } finally {
            setBusy(false);
          }
        }}
      >
        <h1>{t('appName')}</h1>
        <label>
          {t('domain')}
          <input name="domain" value={domain} onInput={(e) => setDomain(e.currentTarget.value)} required />
        </label>
        <label>
          {t('apiKey')}
          <input
            name="apiKey"
            type="password"
            autocomplete="current-password"
            value={apiKey}
            onInput={(e) => setApiKey(e.currentTarget.value)}
            required
          />
        </label>
        <p class="muted small">{t('signInHint')}</p>
        {shownKey ? (
          <div class="stack" role="status">
            <span>{t('newKey')}</span>
            <code class="key">{shownKey}</code>
          </div>
        ) : null}
        <ErrorBox error={error} />
        <button class="primary" type="submit" disabled={busy}>
          {t('signIn')}
        </button>
        <LangSwitch />
      </form>
    </main>
  );
}

function LangSwitch() {
  const l = useSignal(lang);
  return (
    <button type="button" class="plain lang" onClick={() => setLang(l === 'uk' ? 'en' : 'uk')}>
      {t('language')}
    </button>
  );
}

function Shell({ acc }: { acc: Account }) {
  const page = pageOf(useSignal(hash));
  useSignal(lang);
  useEffect(() => {
    live.start();
    return () => live.stop();
  }, []);
  const Page = PAGES[page];
  return (
    <div class="shell">
      <header>
        <a class="brand" href="#/live">
          Dzvin
        </a>
        <nav aria-label="Pages">
          {(Object.keys(PAGES) as PageName[]).map((p) => (
            <a href={`#/${p}`} aria-current={p === page ? 'page' : undefined}>
              {t(p as keyof Labels)}
            </a>
          ))}
        </nav>
        <div class="who">
          <span class="muted small" title={acc.name}>
            {acc.domain}
          </span>
          <LangSwitch />
          <button
            type="button"
            class="plain"
            onClick={async () => {
              await post('/api/v1/session/sign-out').catch(() => {});
              live.stop();
              account.set(null);
            }}
          >
            {t('signOut')}
          </button>
        </div>
      </header>
      <main id="page" data-page={page}>
        <Page />
      </main>
    </div>
  );
}

function App() {
  const acc = useSignal(account);
  useSignal(lang);
  if (acc === undefined) return <Loading />;
  return acc ? <Shell acc={acc} /> : <SignIn />;
}

document.documentElement.lang = lang.get();
void loadAccount();
render(<App />, document.getElementById('app')!);
