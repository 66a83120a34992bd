/**
 * The OpenAPI document of every route, /openapi.json. Never part of the Worker: it is built
 * with API_DOCS = true (the routes' docs present) by scripts/lib/openapi-document.mjs, at
 * build time, and served as a static asset. The client's types are generated from it too.
 */
import { openApiDocument } from './openapi';
import { routers } from './routers';
import { metaRouter, openApiRoute } from './routes/meta';

export const apiDocument = () =>
  openApiDocument(routers.flatMap((r) => (r === metaRouter ? [...r.specs, openApiRoute] : r.specs)));
