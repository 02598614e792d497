import {
  BatchRequest,
  BatchResult,
  Contact,
  ContactIdParams,
  ContactInput,
  ContactList,
  ContactListQuery,
  Note,
  NoteInput,
  NoteList,
  NoteParams,
  One,
  SearchByNumberQuery,
} from '@dzvin/protocol';
import type { FastifyReply } from 'fastify';
import { type App, errorResponses, type Services } from '../route-kit.ts';

const BASE = '/rest/crm/contacts/v2';
const tags = ['Phonet: contacts (CRM Teler)'];

/** The built-in contacts book with notes, exactly at the documented paths. */
export function contactRoutes(app: App, s: Services) {
  app.get(
    `${BASE}/searchByOLNum`,
    {
      schema: {
        tags,
        summary: 'Contacts having this phone number (any format: +380 44…, 044…, 380…)',
        querystring: SearchByNumberQuery,
        response: { 200: ContactList, ...errorResponses(400, 403) },
      },
    },
    // The hottest read (every call's lookup): the store answers the list as JSON text, sent as
    // it is (a string sent as application/json skips the response serializer). The reply is
    // widened to FastifyReply: its typed send() expects the contacts as objects.
    async (request, reply) => {
      const q = request.query;
      const json = await s.contacts.byNumberJson(request.account, q.otherLegNum, q.offset, q.limit);
      return (reply as FastifyReply).type('application/json; charset=utf-8').send(json);
    },
  );
  app.get(
    `${BASE}/`,
    {
      schema: {
        tags,
        summary: 'List contacts (field, offset, limit 0..60, searchText, searchNoteText, filterBy + from/to)',
        querystring: ContactListQuery,
        response: { 200: ContactList, ...errorResponses(400, 403) },
      },
    },
    (request) => s.contacts.list(request.account, request.query),
  );
  app.get(
    `${BASE}/:id`,
    {
      schema: {
        tags,
        summary: 'One contact',
        params: ContactIdParams,
        response: { 200: Contact, ...errorResponses(400, 403, 404) },
      },
    },
    (request) => s.contacts.get(request.account, request.params.id),
  );
  app.post(
    `${BASE}/`,
    {
      schema: {
        tags,
        summary: 'Update a contact (id required); answers 1',
        body: ContactInput,
        response: { 200: One, ...errorResponses(400, 403, 404, 413) },
      },
    },
    (request) => s.contacts.update(request.account, request.body),
  );
  app.delete(
    `${BASE}/:id`,
    {
      schema: {
        tags,
        summary: 'Delete a contact and its notes; answers 1',
        params: ContactIdParams,
        response: { 200: One, ...errorResponses(400, 403, 404) },
      },
    },
    (request) => s.contacts.delete(request.account, request.params.id),
  );
  app.post(
    `${BASE}/batch`,
    {
      schema: {
        tags,
        summary: 'Upload contacts (merge 0/1); each succeeds or fails on its own; answers 201',
        body: BatchRequest,
        response: { 201: BatchResult, ...errorResponses(400, 403, 413) },
      },
    },
    async (request, reply) => {
      const merge = request.body.merge === 1 || request.body.merge === true;
      const result = await s.contacts.batch(request.account, merge, request.body.contacts);
      return reply.code(201).send(result);
    },
  );

  app.get(
    `${BASE}/:id/notes`,
    {
      schema: {
        tags,
        summary: 'Notes of a contact',
        params: ContactIdParams,
        response: { 200: NoteList, ...errorResponses(400, 403, 404) },
      },
    },
    (request) => s.contacts.notes.list(request.account, request.params.id),
  );
  app.post(
    `${BASE}/:id/notes`,
    {
      schema: {
        tags,
        summary: 'Add a note; answers the saved note with its ids',
        params: ContactIdParams,
        body: NoteInput,
        response: { 200: Note, ...errorResponses(400, 403, 404) },
      },
    },
    (request) => s.contacts.notes.create(request.account, request.params.id, request.body),
  );
  app.put(
    `${BASE}/:id/notes`,
    {
      schema: {
        tags,
        summary: 'Update a note (body id required); answers 1',
        params: ContactIdParams,
        body: NoteInput,
        response: { 200: One, ...errorResponses(400, 403, 404) },
      },
    },
    (request) => s.contacts.notes.update(request.account, request.params.id, request.body),
  );
  app.delete(
    `${BASE}/:id/notes/:noteId`,
    {
      schema: {
        tags,
        summary: 'Delete a note; answers 1',
        params: NoteParams,
        response: { 200: One, ...errorResponses(400, 403, 404) },
      },
    },
    (request) => s.contacts.notes.delete(request.account, request.params.id, request.params.noteId),
  );
}
