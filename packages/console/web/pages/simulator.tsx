import { t } from '../i18n.ts';

export function SimulatorPage() {
  return <h1>{t('simulator')}</h1>;
}
