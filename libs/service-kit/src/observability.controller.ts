/** `/metrics` (Prometheus text format) and `/health` (readiness with per-dependency status). */
import { Controller, Get, Header, HttpCode, Inject, Res } from '@nestjs/common';
import type { Registry } from 'prom-client';
import { runHealthChecks, type HealthCheck } from './health';

/** Injection tokens shared by every service. */
export const METRICS_REGISTRY = Symbol('METRICS_REGISTRY');
export const HEALTH_CHECKS = Symbol('HEALTH_CHECKS');
export const LOGGER = Symbol('LOGGER');

interface ResponseLike {
  status(code: number): ResponseLike;
  json(body: unknown): void;
}

@Controller()
export class ObservabilityController {
  constructor(
    @Inject(METRICS_REGISTRY) private readonly registry: Registry,
    @Inject(HEALTH_CHECKS) private readonly checks: HealthCheck[],
  ) {}

  @Get('metrics')
  @Header('Content-Type', 'text/plain; version=0.0.4; charset=utf-8')
  metrics(): Promise<string> {
    return this.registry.metrics();
  }

  @Get('health')
  @HttpCode(200)
  async health(@Res() res: ResponseLike): Promise<void> {
    const report = await runHealthChecks(this.checks);
    res.status(report.healthy ? 200 : 503).json(report);
  }
}
