import { t } from '../i18n.ts';

export function ContactsPage() {
  return <h1>{t('contacts')}</h1>;
}
