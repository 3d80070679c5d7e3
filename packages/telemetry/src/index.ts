export * from './attributes';
export * from './sdk';
export * from './spans';
export * from './logger';
