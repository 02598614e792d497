import { t } from '../i18n.ts';

export function IntegrationsPage() {
  return <h1>{t('integrations')}</h1>;
}
