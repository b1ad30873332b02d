/** One time budget shared by every step of a request: nothing waits past it. */
import { ErrorCode, PosternError } from '@postern/contracts';

export class Deadline {
  private readonly expiresAt: number;
  constructor(
    budgetMs: number,
    private readonly now: () => number = Date.now,
  ) {
    this.expiresAt = now() + budgetMs;
  }
  /** Milliseconds left (0 when expired). */
  remaining(): number {
    return Math.max(0, this.expiresAt - this.now());
  }
  get expired(): boolean {
    return this.remaining() === 0;
  }
  /**
   * Races `work` against the deadline. On expiry rejects with `TIMEOUT` naming `what`; the work
   * itself is not cancelled here (pass it a timeout of {@link remaining} where it takes one).
   */
  run<T>(what: string, work: Promise<T>): Promise<T> {
    const left = this.remaining();
    if (left === 0) return Promise.reject(new PosternError(ErrorCode.Timeout, `${what}: deadline passed`));
    return new Promise<T>((resolve, reject) => {
      const timer = setTimeout(() => reject(new PosternError(ErrorCode.Timeout, `${what}: no answer within ${left} ms`)), left);
      // Settled straight from the work's outcome: a finally() in between cost a promise and a turn of the microtask queue per race.
      work.then(
        (value) => {
          clearTimeout(timer);
          resolve(value);
        },
        (error: unknown) => {
          clearTimeout(timer);
          // The work's own rejection, passed on as it is (as finally() did).
          // eslint-disable-next-line @typescript-eslint/prefer-promise-reject-errors
          reject(error);
        },
      );
    });
  }
}
