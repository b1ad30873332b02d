/**
 * The drill's load: C clients in a loop, each login a whole session through HAProxy (connect,
 * greeting, login, logout) over IMAP, IMAPS, POP3 and POP3S in turn, every attempt recorded with
 * its start, end and outcome; and one abuser guessing an account's password from an address of its
 * own, whose every guess is recorded as let through to the mailbox server or refused by the throttle.
 *
 * Each read has a bound (a hang becomes a failure, not a stuck drill); no outcome depends on one.
 */
import { LineClient } from '../harness';
import { IP_MESSAGE, PROTOCOLS, type DrillAccount, type Protocol } from './cluster';

export interface Attempt {
  readonly protocol: Protocol;
  /** performance.now() at connect and when the session ended. */
  readonly start: number;
  readonly end: number;
  /** Undefined for a login that succeeded. */
  readonly error: string | undefined;
}

export type Guess = { readonly at: number; readonly outcome: 'let through' | 'refused' | 'failed'; readonly detail?: string };

export interface LoadTarget {
  readonly front: Readonly<Record<Protocol, number>>;
  readonly caPem: string;
  readonly accounts: readonly DrillAccount[];
  readonly victim: DrillAccount;
  readonly wrongPassword: string;
}

/** Longest wait for one line: a bound on a hang, far above any answer the drill expects. */
const LINE_TIMEOUT_MS = 30_000;
/** The abuser's pause between guesses. */
const GUESS_INTERVAL_MS = 200;
/** The address the abuser connects from (loopback: any 127.x.y.z). */
export const ABUSER_ADDRESS = '127.0.9.9';

function expectLine(line: string, pattern: RegExp, step: string): void {
  if (!pattern.test(line)) throw new Error(`${step}: ${line}`);
}

/** One whole session: greeting, login, logout. Throws with what went wrong. */
export async function session(target: LoadTarget, protocol: Protocol, account: DrillAccount): Promise<void> {
  const tls = protocol === 'imaps' || protocol === 'pop3s';
  const client = await LineClient.connect({ port: target.front[protocol], tls, ca: target.caPem, servername: 'postern.test', timeoutMs: LINE_TIMEOUT_MS });
  try {
    if (protocol === 'imap' || protocol === 'imaps') {
      expectLine(await client.line(), /^\* OK/, 'greeting');
      client.send(`a LOGIN ${account.user} ${account.password}\r\n`);
      expectLine((await client.until('a ')).at(-1)!, /^a OK/, 'LOGIN');
      client.send('b LOGOUT\r\n');
      expectLine((await client.until('b ')).at(-1)!, /^b OK/, 'LOGOUT');
    } else {
      expectLine(await client.line(), /^\+OK/, 'greeting');
      client.send(`USER ${account.user}\r\n`);
      expectLine(await client.line(), /^\+OK/, 'USER');
      client.send(`PASS ${account.password}\r\n`);
      expectLine(await client.line(), /^\+OK/, 'PASS');
      client.send('QUIT\r\n');
      expectLine(await client.line(), /^\+OK/, 'QUIT');
    }
  } finally {
    client.close();
  }
}

/** One guess of the abuser's: plain IMAP from {@link ABUSER_ADDRESS}. */
async function guess(target: LoadTarget): Promise<Guess['outcome']> {
  const client = await LineClient.connect({ port: target.front.imap, localAddress: ABUSER_ADDRESS, timeoutMs: LINE_TIMEOUT_MS });
  try {
    const greeting = await client.line();
    if (greeting.includes(IP_MESSAGE)) return 'refused';
    expectLine(greeting, /^\* OK/, 'greeting');
    client.send(`x LOGIN ${target.victim.user} ${target.wrongPassword}\r\n`);
    const lines = await client.until('x ');
    if (lines.some((line) => line.includes(IP_MESSAGE))) return 'refused';
    expectLine(lines.at(-1)!, /^x NO/, 'LOGIN with a wrong password');
    return 'let through';
  } finally {
    client.close();
  }
}

export class DrillLoad {
  readonly attempts: Attempt[] = [];
  readonly guesses: Guess[] = [];
  private running = true;
  private readonly loops: Promise<void>[] = [];

  constructor(
    private readonly target: LoadTarget,
    clients: number,
  ) {
    let next = 0;
    for (let c = 0; c < clients; c++) {
      this.loops.push(
        (async () => {
          while (this.running) {
            const n = next++;
            const protocol = PROTOCOLS[n % PROTOCOLS.length]!;
            const account = target.accounts[n % target.accounts.length]!;
            const start = performance.now();
            let error: string | undefined;
            try {
              await session(target, protocol, account);
            } catch (e) {
              error = (e as Error).message;
            }
            this.attempts.push({ protocol, start, end: performance.now(), error });
          }
        })(),
      );
    }
    this.loops.push(this.abuse());
  }

  private async abuse(): Promise<void> {
    while (this.running) {
      const at = performance.now();
      try {
        this.guesses.push({ at, outcome: await guess(this.target) });
      } catch (e) {
        this.guesses.push({ at, outcome: 'failed', detail: (e as Error).message });
      }
      await new Promise((r) => setTimeout(r, GUESS_INTERVAL_MS));
    }
  }

  /** Lets every session in progress finish, then resolves. */
  async stop(): Promise<void> {
    this.running = false;
    await Promise.all(this.loops);
  }
}
