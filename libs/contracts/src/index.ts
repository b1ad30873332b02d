export * from './common';
export * from './config-events';
export * from './envelope';
export * from './errors';
export * from './route-invalidate';
export * from './route-lookup';
export * from './subjects';
export * from './throttle';
