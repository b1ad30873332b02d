/**
 * The listeners of a frontend kept as its settings say: opened at start, and on a settings change
 * a listener moved to its new port, one switched off closed, one switched on opened, the others
 * untouched. One algorithm for the mail and the web frontends; what a listener is (a TCP server, an
 * HTTP/2 one) and how one that closes lets its connections finish stay with each frontend.
 */

/** The log lines a listener set writes (pino's call shape; any logger with it will do). */
export interface ListenerLog {
  info(fields: Record<string, unknown>, message: string): void;
  error(fields: Record<string, unknown>, message: string): void;
}

/** A listener as the settings want it: one per name, on the port asked for. */
export interface ListenerSpec {
  readonly name: string;
  readonly port: number;
}

/** A listener that is open: the spec it was opened for, its frontend's server, and the port it bound. */
export interface OpenListener<Spec extends ListenerSpec, Server> {
  readonly spec: Spec;
  readonly server: Server;
  /** The port actually bound (differs from `spec.port` when that was 0). */
  readonly boundPort: number;
}

export interface ListenerSetOptions<Spec extends ListenerSpec, Server> {
  /** Creates the listener of `spec` and binds it on `host`; rejects when the port cannot be bound. */
  open(spec: Spec, host: string): Promise<{ readonly server: Server; readonly boundPort: number }>;
  /** Stops a listener that a settings change moved or switched off from accepting; its connections are its frontend's to finish. */
  close(listener: OpenListener<Spec, Server>): void;
  readonly logger: ListenerLog;
  /** Put before every log text (`web: ` for the web frontend), so each frontend's lines are told apart. */
  readonly logPrefix?: string;
  /** The fields a failure to bind is logged with; default `{ err: error }`. */
  readonly errorFields?: (error: unknown) => Record<string, unknown>;
}

export class ListenerSet<Spec extends ListenerSpec, Server> {
  private readonly open = new Map<string, OpenListener<Spec, Server>>();
  private host = '';
  private changing: Promise<void> = Promise.resolve();
  private stopping = false;

  constructor(private readonly options: ListenerSetOptions<Spec, Server>) {}

  /** The listeners open now. */
  get listeners(): OpenListener<Spec, Server>[] {
    return [...this.open.values()];
  }

  /** Opens the listeners of `specs` on `host`, in order; a port that cannot be bound fails the start. */
  async start(specs: readonly Spec[], host: string): Promise<void> {
    this.host = host;
    for (const spec of specs) this.open.set(spec.name, await this.listen(spec));
  }

  /**
   * Re-opens what the settings changed, and only that (a listener switched on or off, or moved to
   * another port); `wanted` is read when the change is made. Changes are made one after another;
   * a new port that cannot be bound is logged and the listener stays where it was. After
   * {@link stop}, nothing changes.
   */
  reopen(wanted: () => readonly Spec[]): Promise<void> {
    this.changing = this.changing.then(async () => {
      if (this.stopping) return;
      const specs = new Map(wanted().map((spec) => [spec.name, spec]));
      for (const [name, current] of [...this.open]) {
        const spec = specs.get(name);
        if (spec && spec.port === current.spec.port) continue;
        if (spec) {
          try {
            this.open.set(name, await this.listen(spec));
          } catch (error) {
            this.failed(error, name, spec.port, 'cannot move the listener; it stays on its port');
            continue;
          }
        } else this.open.delete(name);
        this.options.close(current);
        this.log('info', { listener: name, port: current.boundPort }, 'listener closed (settings changed)');
      }
      for (const [name, spec] of specs) {
        if (this.open.has(name)) continue;
        try {
          this.open.set(name, await this.listen(spec));
        } catch (error) {
          this.failed(error, name, spec.port, 'cannot open the listener');
        }
      }
    });
    return this.changing;
  }

  /** Ends changes: waits for the one under way and gives the listeners open now, for their frontend to close and drain. */
  async stop(): Promise<OpenListener<Spec, Server>[]> {
    this.stopping = true;
    await this.changing;
    return this.listeners;
  }

  private async listen(spec: Spec): Promise<OpenListener<Spec, Server>> {
    const { server, boundPort } = await this.options.open(spec, this.host);
    this.log('info', { listener: spec.name, host: this.host, port: boundPort }, 'listening');
    return { spec, server, boundPort };
  }

  private failed(error: unknown, name: string, port: number, message: string): void {
    const fields = this.options.errorFields ? this.options.errorFields(error) : { err: error };
    this.log('error', { listener: name, port, ...fields }, message);
  }

  private log(level: 'info' | 'error', fields: Record<string, unknown>, message: string): void {
    this.options.logger[level](fields, `${this.options.logPrefix ?? ''}${message}`);
  }
}
