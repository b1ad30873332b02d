export * from './bootstrap';
export * from './bootstrap-origins';
export * from './entry-validation';
export * from './resolve';
export * from './setting';
export * from './settings';
export * from './login-limits';
