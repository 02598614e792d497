import type { Config } from './config.ts';
import type { AccountRecord, Store } from './domain/ports.ts';
import { hashSecret } from './domain/secrets.ts';
import type { Services } from './http/route-kit.ts';

export interface DemoResult {
  domain: string;
  /** The key, when it is known to this process (just created, or given by DZVIN_DEMO_API_KEY). */
  apiKey: string | null;
  created: boolean;
}

/** A small living office: four employees, a ring group, an IVR, two trunks and a few contacts. */
async function furnish(s: Services, a: AccountRecord): Promise<void> {
  const emp = (displayName: string, ext: string, email: string) =>
    s.directory.employees.create(a, { displayName, ext, email });
  const olena = await emp('Олена Коваленко', '001', 'olena@demo.localhost');
  const andrii = await emp('Андрій Шевченко', '002', 'andrii@demo.localhost');
  const maria = await emp('Марія Бондаренко', '003', 'maria@demo.localhost');
  const taras = await emp('Тарас Мельник', '004', 'taras@demo.localhost');
  const sales = await s.directory.groups.create(a, {
    name: 'Продажі',
    ext: '100',
    strategy: 'simultaneous',
    ringTimeoutSec: 20,
    members: [olena.id, andrii.id, maria.id],
  });
  const menu = await s.directory.ivr.create(a, {
    name: 'Головне меню',
    greeting: 'Вітаємо! Натисніть 1 — відділ продажів, 2 — підтримка.',
    timeoutSec: 8,
    options: [
      { digit: '1', target: { type: 'group', id: sales.id } },
      { digit: '2', target: { type: 'employee', id: taras.id } },
    ],
    defaultTarget: { type: 'group', id: sales.id },
  });
  await s.directory.trunks.create(a, {
    number: '+380442246595',
    name: 'Головний',
    destination: { type: 'ivr', id: menu.id },
    isDefault: true,
  });
  await s.directory.trunks.create(a, {
    number: '+380800218500',
    name: 'Гаряча лінія',
    destination: { type: 'group', id: sales.id },
  });
  const updated = await s.accounts.update(a.id, { apiUserId: olena.id });
  const phone = (v: string) => ({ enumCode: 'Телефон', values: [{ enumValueCode: 'Рабочий', value: v }] });
  const text = (code: string, v: string) => ({ enumCode: code, values: [{ enumValueCode: code, value: v }] });
  await s.contacts.batch(updated, false, [
    {
      fields: [
        text('Имя', 'Анастасія'),
        text('Фамилия', 'Березкіна'),
        phone('+380 50 582 66 33'),
        text('Компания', 'Тестова компанія'),
      ],
    },
    {
      fields: [
        text('Имя', 'Ігор'),
        phone('0934434012'),
        text('Email', 'igor@example.com'),
        text('Категория', 'Потенційні клієнти'),
      ],
    },
    { fields: [text('Компания', 'Telecom company'), phone('+380442249895')] },
  ]);
}

/**
 * On a database without accounts, creates the demo account (spec: "a newcomer sees a living
 * office"). With DZVIN_DEMO_API_KEY set, an existing demo account is given that key.
 */
export async function ensureDemoAccount(
  s: Services,
  store: Store,
  demo: Config['demo'],
): Promise<DemoResult | null> {
  if (!demo.enabled) return null;
  const existing = await store.accounts.byDomain(demo.domain);
  if (existing) {
    if (demo.apiKey) await store.accounts.update(existing.id, { apiKeyHash: hashSecret(demo.apiKey) });
    return { domain: existing.domain, apiKey: demo.apiKey ?? null, created: false };
  }
  if ((await store.accounts.count()) > 0) return null;
  const { account, apiKey } = await s.accounts.create({
    domain: demo.domain,
    name: 'Demo office',
    defaultCountry: demo.country,
    apiKey: demo.apiKey,
  });
  await furnish(s, account);
  return { domain: account.domain, apiKey, created: true };
}
