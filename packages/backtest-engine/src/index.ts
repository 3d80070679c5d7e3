export * from './types';
export * from './validate';
export * from './strategies';
export * from './metrics';
export * from './engine';
export { isoTime, parseIsoTime } from './iso';
export * from './trades';
