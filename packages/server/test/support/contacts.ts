import type { Contact } from '@dzvin/protocol';

/** A contact as the store takes it: a first name and nothing else, at time 1. */
export const bareContact = (firstName: string): Omit<Contact, 'id'> => ({
  firstName,
  lastName: null,
  companyTitle: null,
  lastModified: 1,
  responsibleUserId: null,
  dateCreate: 1,
  createUserId: null,
  fields: [],
});
