export * from './rest-url';
