import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import { finishOpenApiDocument } from './openapi-document.ts';
import type { App } from './route-kit.ts';

/**
 * The OpenAPI document (`/openapi.json`) and its UI (`/docs`). On the root instance, before any
 * route: @fastify/swagger collects routes as they are added, from every plugin below it.
 */
export async function registerOpenApi(app: App): Promise<void> {
  await app.register(swagger, {
    openapi: {
      openapi: '3.0.3',
      info: {
        title: 'Dzvin — Phonet-compatible PBX API',
        version: '0.1.0',
        description:
          'Phonet REST API (under /rest/, session cookie JSESSIONID from POST /rest/security/authorize) and Dzvin’s admin API (under /api/v1/, the same session or Authorization: Bearer <apiKey>). Errors are plain text.',
      },
      components: {
        securitySchemes: {
          session: { type: 'apiKey', in: 'cookie', name: 'JSESSIONID' },
          apiKey: { type: 'http', scheme: 'bearer', description: 'The account API key (admin API only)' },
        },
      },
    },
    // operationIds, generator-friendly tags and 3.0 bounds (issue 17): http/openapi-document.ts
    transformObject: (documentObject) =>
      finishOpenApiDocument(
        'openapiObject' in documentObject ? documentObject.openapiObject : documentObject.swaggerObject,
      ),
  });
  await app.register(swaggerUi, { routePrefix: '/docs' });
  app.get('/openapi.json', { schema: { hide: true } }, () => app.swagger());
}
