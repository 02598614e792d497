import { t } from '../i18n.ts';

export function OverviewPage() {
  return <h1>{t('overview')}</h1>;
}
