export * from './bars';
export * from './timeframe';
export * from './time';
export * from './csv';
export * from './synth';
export * from './indicators';
export * from './cache';
