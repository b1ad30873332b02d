export * from './bootstrap';
export * from './resolve';
export * from './setting';
export * from './settings';
export * from './login-limits';
