export * from './proxy-protocol';
