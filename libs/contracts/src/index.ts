export * from './common';
export * from './envelope';
export * from './errors';
export * from './route-lookup';
export * from './subjects';
export * from './throttle';
export * from './secret';
export * from './config-events';
