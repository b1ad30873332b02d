/**
 * The kit's NATS request and event helpers without Nest, pino or prom-client
 * (`@postern/service-kit/client`): for a process that talks to the services without being one (the
 * `postern` command line), whose start-up time is the operator's wait: the full kit loads Nest, a
 * fifth of a second before anything runs. The config stream and bucket are `@postern/config-store`.
 */
export { publishEvent, requestReply } from './nats-rpc';
