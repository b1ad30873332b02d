export * from './process';
export * from './memcached';
export * from './nats';
export * from './slapd';
export * from './services';
