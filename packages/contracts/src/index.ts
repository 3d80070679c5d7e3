export * from './enums';
export * from './routes';
export * from './validation';
export * from './common.dto';
export * from './operation.dto';
export * from './worker.dto';
export * from './start.dto';
export * from './sweep.dto';
