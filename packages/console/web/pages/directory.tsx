import { t } from '../i18n.ts';

export function DirectoryPage() {
  return <h1>{t('directory')}</h1>;
}
