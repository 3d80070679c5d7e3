/**
 * The decorator-free part of the contracts (enums, routes, event names): `@ktrdr/contracts/constants`
 * loads in milliseconds, without Nest or class-validator, for command-line clients. Its DTO types come
 * from `import type { … } from '@ktrdr/contracts'`.
 */
export * from './enums';
export * from './routes';
export * from './events';
export * from './error-text';
export * from './http-exchange';
