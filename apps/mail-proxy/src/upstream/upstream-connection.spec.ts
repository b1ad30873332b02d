import { EventEmitter } from 'node:events';
import type { Socket } from 'node:net';
import { ErrorCode } from '@postern/contracts';
import { Deadline } from '@postern/service-kit';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { UpstreamConnection, type ResponseReader } from './upstream-connection';

/** An upstream socket's events, no network: what the connection listens to, and destroy(). */
function fakeSocket(): Socket & EventEmitter {
  return Object.assign(new EventEmitter(), { destroy: vi.fn(), write: vi.fn() }) as unknown as Socket & EventEmitter;
}

/** Each chunk is one event: its text. */
const lines: ResponseReader<{ text: string; raw: Uint8Array }> = {
  push: (chunk) => [{ text: Buffer.from(chunk).toString(), raw: chunk }],
  drainBuffered: () => new Uint8Array(),
};

describe('UpstreamConnection.next', () => {
  afterEach(() => vi.useRealTimers());

  it('waits for each event under one deadline with one timer, and leaves none once released', async () => {
    vi.useFakeTimers();
    const socket = fakeSocket();
    const upstream = new UpstreamConnection(socket, lines);
    const deadline = new Deadline(10_000);
    const first = upstream.next(deadline, 'greeting');
    await vi.advanceTimersByTimeAsync(0);
    expect(vi.getTimerCount()).toBe(1);
    socket.emit('data', Buffer.from('one'));
    expect(await first).toMatchObject({ text: 'one' });
    const second = upstream.next(deadline, 'reply');
    await vi.advanceTimersByTimeAsync(0);
    expect(vi.getTimerCount()).toBe(1);
    socket.emit('data', Buffer.from('two'));
    expect(await second).toMatchObject({ text: 'two' });
    upstream.release();
    expect(vi.getTimerCount()).toBe(0);
  });

  it('fails a wait when its deadline passes, a second wait under the same deadline included', async () => {
    vi.useFakeTimers();
    const upstream = new UpstreamConnection(fakeSocket(), lines);
    const deadline = new Deadline(100);
    const waiting = upstream.next(deadline, 'greeting').catch((error: unknown) => error);
    await vi.advanceTimersByTimeAsync(100);
    expect(await waiting).toMatchObject({ code: ErrorCode.Unavailable, message: 'greeting: upstream did not answer in time' });
    await expect(upstream.next(deadline, 'reply')).rejects.toMatchObject({ code: ErrorCode.Unavailable });
  });

  it('re-arms for a new deadline, so a later wait is bounded by its own', async () => {
    vi.useFakeTimers();
    const socket = fakeSocket();
    const upstream = new UpstreamConnection(socket, lines);
    const first = upstream.next(new Deadline(10_000), 'greeting');
    await vi.advanceTimersByTimeAsync(0);
    socket.emit('data', Buffer.from('one'));
    await first;
    const waiting = upstream.next(new Deadline(50), 'reply').catch((error: unknown) => error);
    await vi.advanceTimersByTimeAsync(50);
    expect(await waiting).toMatchObject({ message: 'reply: upstream did not answer in time' });
  });
});
