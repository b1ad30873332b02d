/** Readiness: each dependency says whether it can serve; /health answers 200 only when all can. */
import { Injectable } from '@nestjs/common';

export interface HealthCheck {
  readonly name: string;
  /** Resolves true when healthy; must answer quickly (it is polled by orchestrators). */
  check(): Promise<boolean> | boolean;
}

export async function runHealthChecks(checks: readonly HealthCheck[]): Promise<{ healthy: boolean; checks: Record<string, boolean> }> {
  const results: Record<string, boolean> = {};
  await Promise.all(
    checks.map(async (c) => {
      try {
        results[c.name] = await c.check();
      } catch {
        results[c.name] = false;
      }
    }),
  );
  return { healthy: Object.values(results).every(Boolean), checks: results };
}

/** The checks /health runs: the service kit adds its own (NATS, not stopping), each service its. */
@Injectable()
export class HealthChecks {
  private readonly checks: HealthCheck[] = [];

  add(check: HealthCheck): void {
    this.checks.push(check);
  }

  run(): ReturnType<typeof runHealthChecks> {
    return runHealthChecks(this.checks);
  }
}
