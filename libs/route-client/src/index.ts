export * from './route-client';
