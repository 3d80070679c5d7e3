import { RequestMethod, type INestApplication } from '@nestjs/common';
import type { NestExpressApplication } from '@nestjs/platform-express';
import { DocumentBuilder, SwaggerModule, type OpenAPIObject } from '@nestjs/swagger';
import { API_PREFIX, REGISTRATION_TOKEN_HEADER } from '@ktrdr/contracts';
import { REGISTRATION_TOKEN_SCHEME } from './common/api-errors.decorator';
import { WireExceptionFilter } from './common/wire-exception.filter';
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
        'offending field or resource. Prometheus metrics are served at `/metrics` (no prefix).',
    )
    .setVersion(backendVersion())
    .addApiKey(
      {
        type: 'apiKey',
        in: 'header',
        name: REGISTRATION_TOKEN_HEADER,
        description:
          'Worker registration token; required on register, heartbeat, progress and complete only when KTRDR_WORKER_REGISTRATION_TOKEN is set',
      },
      REGISTRATION_TOKEN_SCHEME,
    )
    .build();
  const document = SwaggerModule.createDocument(app, config, {
    operationIdFactory: (controllerKey, methodKey) =>
      `${controllerKey.replace(/Controller$/, '')}_${methodKey}`,
  });
  documentRootHealth(document);
  return document;
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

/** Global prefix, validation, the error envelope, HTTP metrics and Swagger: shared by main and tests. */
export function configureApp(app: INestApplication): OpenAPIObject {
  // Registered before init, so Nest skips its default 100 kB JSON parser.
  (app as NestExpressApplication).useBodyParser('json', { limit: JSON_BODY_LIMIT });
  applyGlobalPrefix(app);
  app.useGlobalPipes(new WireValidationPipe());
  app.useGlobalFilters(new WireExceptionFilter());
  app.use(rootHealthAlias);
  app.use(app.get(MetricsService).httpMiddleware());
  const document = buildOpenApiDocument(app);
  SwaggerModule.setup(SWAGGER_PATH, app, document, { jsonDocumentUrl: SWAGGER_JSON_PATH });
  return document;
}
