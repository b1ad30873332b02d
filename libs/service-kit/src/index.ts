export * from './bootstrap';
export * from './deadline';
export * from './health';
export * from './logger';
export * from './metrics';
export * from './nats-connection';
export * from './nats-rpc';
export * from './observability.controller';
