/** `/metrics` (Prometheus text format) and `/health` (readiness with per-dependency status). */
import { Controller, Get, Header, HttpCode, Inject, Res } from '@nestjs/common';
import type { Registry } from 'prom-client';
import { HealthChecks } from './health';
import { METRICS_REGISTRY } from './tokens';

interface ResponseLike {
  status(code: number): ResponseLike;
  json(body: unknown): void;
}

@Controller()
export class ObservabilityController {
  constructor(
    @Inject(METRICS_REGISTRY) private readonly registry: Registry,
    private readonly checks: HealthChecks,
  ) {}

  @Get('metrics')
  @Header('Content-Type', 'text/plain; version=0.0.4; charset=utf-8')
  metrics(): Promise<string> {
    return this.registry.metrics();
  }

  @Get('health')
  @HttpCode(200)
  async health(@Res() res: ResponseLike): Promise<void> {
    const report = await this.checks.run();
    res.status(report.healthy ? 200 : 503).json(report);
  }
}
