// The Dzvin web console: sign in with the account domain and API key (the documented Phonet
// session, JSESSIONID), then the pages below, routed by the URL hash. An employee signs in with
// their ext and SIP password instead: their console is the Phone (the browser registers as their
// ext), their own history and the contacts book.
import './style.css';
import { type ComponentChildren, render } from 'preact';
import { useEffect, useState } from 'preact/hooks';
import {
  type Account,
  ApiError,
  employeeSession,
  get,
  type Me,
  post,
  rotatedKey,
  setRotatedKey,
  whenSignedOut,
} from './api.ts';
import { type Labels, lang, setLang, t } from './i18n.ts';
import { live } from './live-store.ts';
import { ContactsPage } from './pages/contacts.tsx';
import { DirectoryPage } from './pages/directory.tsx';
import { HistoryPage } from './pages/history.tsx';
import { IntegrationsPage } from './pages/integrations.tsx';
import { LivePage } from './pages/live.tsx';
import { OverviewPage } from './pages/overview.tsx';
import { PhonePage } from './pages/phone.tsx';
import { SimulatorPage } from './pages/simulator.tsx';
import * as phone from './phone/phone-store.ts';
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

/** What an employee's session shows: their phone, their calls, the contacts book. */
const EMPLOYEE_PAGES = { phone: PhonePage, history: HistoryPage, contacts: ContactsPage } as const;
type EmployeePage = keyof typeof EMPLOYEE_PAGES;

const account = signal<Account | null | undefined>(undefined);
const employee = employeeSession;
account.subscribe(() => setConsoleHost(account.get()?.domain ?? null));

/** The page of the hash; the hash itself (with its parameters) survives the sign-in screen. */
function pageOf(h: string): PageName {
  const name = hashPage(h) as PageName;
  return name in PAGES ? name : 'live';
}
whenSignedOut(() => {
  live.stop();
  void phone.stopPhone();
  employee.set(null);
  account.set(null);
});

async function loadAccount() {
  try {
    const me = await get<Me>('/api/v1/me');
    if (me.employee) {
      employee.set(me);
      account.set({ domain: me.domain, name: me.name } as Account);
      return;
    }
    employee.set(null);
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
  const [as, setAs] = useState<'account' | 'employee'>(() =>
    localStorage.getItem('dzvin.signInAs') === 'employee' ? 'employee' : 'account',
  );
  const [ext, setExt] = useState(() => localStorage.getItem('dzvin.ext') ?? '');
  const [password, setPassword] = useState('');
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
            if (as === 'employee') {
              await post('/api/v1/session/employee', { domain: domain.trim(), ext: ext.trim(), password });
              localStorage.setItem('dzvin.ext', ext.trim());
            } else await post('/rest/security/authorize', { domain: domain.trim(), apiKey: apiKey.trim() });
            localStorage.setItem('dzvin.signInAs', as);
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
        <fieldset class="signin-as">
          <legend>{t('signInAs')}</legend>
          <label class="check">
            <input type="radio" name="as" checked={as === 'account'} onChange={() => setAs('account')} />
            {t('asAccount')}
          </label>
          <label class="check">
            <input type="radio" name="as" checked={as === 'employee'} onChange={() => setAs('employee')} />
            {t('asEmployee')}
          </label>
        </fieldset>
        <label>
          {t('domain')}
          <input name="domain" value={domain} onInput={(e) => setDomain(e.currentTarget.value)} required />
        </label>
        {as === 'employee' ? (
          <>
            <label>
              {t('ext')}
              <input
                name="ext"
                autocomplete="username"
                value={ext}
                onInput={(e) => setExt(e.currentTarget.value)}
                required
              />
            </label>
            <label>
              {t('sipPassword')}
              <input
                name="password"
                type="password"
                autocomplete="current-password"
                value={password}
                onInput={(e) => setPassword(e.currentTarget.value)}
                required
              />
            </label>
            <p class="muted small">{t('employeeHint')}</p>
          </>
        ) : (
          <>
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
          </>
        )}
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

/** The header of both consoles: the brand, the pages, who is signed in, language, sign-out. */
function Header(props: {
  pages: readonly string[];
  page: string;
  who: ComponentChildren;
  whoTitle?: string;
  onSignOut: () => Promise<void>;
}) {
  return (
    <header>
      <a class="brand" href={`#/${props.pages[0]}`}>
        Dzvin
      </a>
      <nav aria-label="Pages">
        {props.pages.map((p) => (
          <a href={`#/${p}`} aria-current={p === props.page ? 'page' : undefined}>
            {t(p as keyof Labels)}
          </a>
        ))}
      </nav>
      <div class="who">
        <span class="muted small" title={props.whoTitle} data-testid="signed-in-as">
          {props.who}
        </span>
        <LangSwitch />
        <button
          type="button"
          class="plain"
          onClick={async () => {
            await props.onSignOut();
            await post('/api/v1/session/sign-out').catch(() => {});
            employee.set(null);
            account.set(null);
          }}
        >
          {t('signOut')}
        </button>
      </div>
    </header>
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
      <Header
        pages={Object.keys(PAGES)}
        page={page}
        who={acc.domain}
        whoTitle={acc.name}
        onSignOut={async () => live.stop()}
      />
      <main id="page" data-page={page}>
        <Page />
      </main>
    </div>
  );
}

/** An employee's console: the Phone (registered while the tab is open), their history, contacts. */
function EmployeeShell({ me }: { me: Me }) {
  const h = useSignal(hash);
  const name = hashPage(h) as EmployeePage;
  const page: EmployeePage = name in EMPLOYEE_PAGES ? name : 'phone';
  useSignal(lang);
  useEffect(() => {
    const audio = document.getElementById('phone-audio') as HTMLAudioElement;
    void phone.startPhone(me, audio);
    // Closing the tab unregisters (Kamailio would otherwise ring it until the binding expires).
    const bye = () => void phone.stopPhone();
    window.addEventListener('pagehide', bye);
    return () => {
      window.removeEventListener('pagehide', bye);
      void phone.stopPhone();
    };
  }, [me]);
  const Page = EMPLOYEE_PAGES[page];
  const who = me.employee;
  return (
    <div class="shell">
      <Header
        pages={Object.keys(EMPLOYEE_PAGES)}
        page={page}
        who={`${who?.displayName} (${who?.ext}) · ${me.domain}`}
        onSignOut={phone.stopPhone}
      />
      {/* biome-ignore lint/a11y/useMediaCaption: the other party of a phone call; no captions */}
      <audio id="phone-audio" autoplay />
      <main id="page" data-page={page}>
        <Page />
      </main>
    </div>
  );
}

function App() {
  const acc = useSignal(account);
  const me = useSignal(employee);
  useSignal(lang);
  if (acc === undefined) return <Loading />;
  if (acc && me) return <EmployeeShell me={me} />;
  return acc ? <Shell acc={acc} /> : <SignIn />;
}

document.documentElement.lang = lang.get();
void loadAccount();
render(<App />, document.getElementById('app')!);
