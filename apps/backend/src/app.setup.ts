import { Logger, RequestMethod, type INestApplication } from '@nestjs/common';
import type { NestExpressApplication } from '@nestjs/platform-express';
import { DocumentBuilder, SwaggerModule, type OpenAPIObject } from '@nestjs/swagger';
import {
  API_PREFIX,
  ARTIFACT_CHUNK_MEDIA_TYPE,
  BACKEND_ROUTES,
  type BinaryWrite,
  ErrorEnvelopeFilter,
  jsonBodyParserOptions,
  jsonOnlyWrites,
  MAX_ARTIFACT_CHUNK_BYTES,
  mediaTypeOf,
  REGISTRATION_TOKEN_HEADER,
} from '@ktrdr/contracts';
import { ACCESS_EXTENSION, defaultRoleFor, type AccessLevel } from './auth/access.decorators';
import { REGISTRATION_TOKEN_SCHEME } from './common/api-errors.decorator';
import { ShutdownState } from './common/shutdown-state';
import { WireValidationPipe } from './common/wire-validation.pipe';
import { MetricsService } from './metrics/metrics.service';
import { backendVersion } from './version';

export const SWAGGER_PATH = 'api/docs';
export const SWAGGER_JSON_PATH = 'api/docs-json';

/** The OpenAPI document of the app (no listener or database needed). */
export function buildOpenApiDocument(app: INestApplication): OpenAPIObject {
  const config = new DocumentBuilder()
    .setTitle('KTRDR backend')
    .setDescription(
      'Worker registry, health monitoring, operations (backtests and trainings), dispatch with leases, ' +
        'metrics. Errors use one envelope: `{ statusCode, error, message }`, where `message` names the ' +
        'offending field or resource. Prometheus metrics are served at `/metrics` (no prefix).\n\n' +
        'Authentication: user routes need an API key, `Authorization: Bearer <key>` (scheme `api-key`); ' +
        'each operation names the role it needs in `x-ktrdr-access`: `read` (GET and HEAD) or `operate` ' +
        '(writes). Worker routes take the registration token instead (`x-ktrdr-worker-token`). `/metrics` ' +
        'and the health routes are public unless KTRDR_API_PUBLIC_METRICS / KTRDR_API_PUBLIC_HEALTH is ' +
        'false. 401: no or unknown key; 403: the key’s role is not enough; 415: the body is not JSON. ' +
        'See docs/security.md.',
    )
    .setVersion(backendVersion())
    .addApiKey(
      {
        type: 'apiKey',
        in: 'header',
        name: REGISTRATION_TOKEN_HEADER,
        description:
          'Worker registration token, required on register, heartbeat, progress, complete and artifact uploads: KTRDR_WORKER_REGISTRATION_TOKEN, or outside production the generated `{data dir}/dev-worker-token`',
      },
      REGISTRATION_TOKEN_SCHEME,
    )
    .addBearerAuth(
      {
        type: 'http',
        scheme: 'bearer',
        description:
          'API key: `Authorization: Bearer <key>`. Roles: `read` (GET/HEAD routes) and `operate` (also writes). Development: the key is in `{data dir}/dev-api-key`.',
      },
      API_KEY_SCHEME,
    )
    .build();
  const document = SwaggerModule.createDocument(app, config, {
    operationIdFactory: (controllerKey, methodKey) =>
      `${controllerKey.replace(/Controller$/, '')}_${methodKey}`,
  });
  documentRootHealth(document);
  annotateAccess(document);
  return document;
}

/** Name of the OpenAPI security scheme of user API keys. */
export const API_KEY_SCHEME = 'api-key';

const ERROR_SCHEMA = { $ref: '#/components/schemas/ErrorResponseDto' };

/**
 * Every operation states who may call it (`x-ktrdr-access`, the level the global AccessGuard applies)
 * and its security requirement; key-protected ones document 401 and 403.
 */
export function annotateAccess(document: OpenAPIObject): void {
  for (const item of Object.values(document.paths)) {
    for (const method of ['get', 'head', 'post', 'put', 'patch', 'delete'] as const) {
      const op = item[method] as (Record<string, unknown> & { responses?: object }) | undefined;
      if (!op) continue;
      const level = (op[ACCESS_EXTENSION] as AccessLevel | undefined) ?? defaultRoleFor(method);
      op[ACCESS_EXTENSION] = level;
      const responses = (op.responses ?? {}) as Record<string, unknown>;
      if (level === 'worker') {
        op.security = [{ [REGISTRATION_TOKEN_SCHEME]: [] }];
      } else if (level === 'public-metrics' || level === 'public-health') {
        op.security = [{}, { [API_KEY_SCHEME]: [] }];
      } else {
        op.security = [{ [API_KEY_SCHEME]: [] }];
        responses['401'] ??= {
          description: 'No API key, or not a configured key',
          content: { 'application/json': { schema: ERROR_SCHEMA } },
        };
        if (level === 'operate')
          responses['403'] ??= {
            description: 'The API key has the read role; this route needs operate',
            content: { 'application/json': { schema: ERROR_SCHEMA } },
          };
      }
      op.responses = responses;
    }
  }
}

/** `/api/v1` for every route except the Prometheus endpoint `GET /metrics`. */
export function applyGlobalPrefix(app: INestApplication): void {
  app.setGlobalPrefix(API_PREFIX, { exclude: [{ path: 'metrics', method: RequestMethod.GET }] });
}

/** `GET /health` at the root answers exactly like `GET /api/v1/health` (load balancers, probes). */
export const ROOT_HEALTH_PATH = '/health';

function rootHealthAlias(
  req: { method: string; url: string },
  _res: unknown,
  next: () => void,
): void {
  if (
    (req.method === 'GET' || req.method === 'HEAD') &&
    (req.url === ROOT_HEALTH_PATH || req.url.startsWith(`${ROOT_HEALTH_PATH}?`))
  ) {
    req.url = `/${API_PREFIX}${req.url}`;
  }
  next();
}

/** Documents the root alias next to /api/v1/health. */
function documentRootHealth(document: OpenAPIObject): void {
  const prefixed = document.paths[`/${API_PREFIX}/health`];
  if (prefixed?.get) {
    document.paths[ROOT_HEALTH_PATH] = {
      get: {
        ...prefixed.get,
        operationId: 'Health_rootLiveness',
        summary: 'Liveness at the root (same answer as /api/v1/health)',
      },
    };
  }
}

/**
 * Largest JSON body accepted. Completion reports carry a whole result (equity curve, trades, per-epoch
 * losses): Express's 100 kB default would turn a large but legitimate result into a 413.
 */
export const JSON_BODY_LIMIT = '16mb';

/** The one write with a binary body: `PUT /api/v1/operations/{id}/artifacts/{kind}/chunks/{index}`. */
const ARTIFACT_CHUNK_WRITE: BinaryWrite = {
  method: 'PUT',
  path: new RegExp(
    `^/${API_PREFIX}/${BACKEND_ROUTES.operationArtifactChunk.replace(/:[a-z]+/g, '[^/]+')}$`,
  ),
  mediaType: ARTIFACT_CHUNK_MEDIA_TYPE,
};

/** Global prefix, validation, the error envelope, HTTP metrics and Swagger: shared by main and tests. */
export function configureApp(app: INestApplication): OpenAPIObject {
  const shutdown = app.get(ShutdownState);
  // While shutting down, every answer asks the client to close its connection.
  app.use((_req: unknown, res: { setHeader(n: string, v: string): void }, next: () => void) => {
    if (shutdown.isShuttingDown) res.setHeader('connection', 'close');
    next();
  });
  // No ETag on API answers: Express would hash every JSON body (a sha1 of the whole worker list on
  // each GET /workers) for conditional requests no client makes; live changes come as events.
  // (The dashboard's static files keep theirs: serve-static sets them itself.)
  (app as NestExpressApplication).set('etag', false);
  // JSON only on writes (415 otherwise), before any body parser; binary artifact chunks on their route.
  app.use(jsonOnlyWrites([ARTIFACT_CHUNK_WRITE]));
  // Registered before init, so Nest skips its default 100 kB JSON parser.
  (app as NestExpressApplication).useBodyParser(
    'json',
    jsonBodyParserOptions({ limit: JSON_BODY_LIMIT }),
  );
  (app as NestExpressApplication).useBodyParser('raw', {
    limit: MAX_ARTIFACT_CHUNK_BYTES,
    type: (req: { headers: Record<string, string | string[] | undefined> }) =>
      mediaTypeOf(String(req.headers['content-type'] ?? '')) === ARTIFACT_CHUNK_MEDIA_TYPE,
  });
  applyGlobalPrefix(app);
  app.useGlobalPipes(new WireValidationPipe());
  const http = new Logger('HTTP');
  app.useGlobalFilters(new ErrorEnvelopeFilter((message, stack) => http.error(message, stack)));
  app.use(rootHealthAlias);
  app.use(app.get(MetricsService).httpMiddleware());
  const document = buildOpenApiDocument(app);
  SwaggerModule.setup(SWAGGER_PATH, app, document, { jsonDocumentUrl: SWAGGER_JSON_PATH });
  return document;
}
