import { describe, expect, it } from 'vitest';
import { LiveSessions } from './live-sessions';
import { endReason } from '../session/session-control';

function session(id: string, user: string, accountName: string, kicked: string[]) {
  return {
    info: { id, protocol: 'imap' as const, user, accountName, clientIp: '192.0.2.1', upstream: 'm1:143', since: '2026-12-01T00:00:00.000Z' },
    kick: (text: string) => kicked.push(`${id}: ${text}`),
  };
}

describe('LiveSessions', () => {
  it('lists and kicks by login or account name, any case, and forgets a session that ended', () => {
    const kicked: string[] = [];
    const live = new LiveSessions('node1', 42);
    live.add(session('s1', 'Al@Example.com', 'alice@example.com', kicked));
    const forget = live.add(session('s2', 'bob', 'bob@example.com', kicked));
    expect(live.list().map((s) => [s.id, s.node, s.pid])).toEqual([
      ['s1', 'node1', 42],
      ['s2', 'node1', 42],
    ]);
    expect(live.list('ALICE@example.com').map((s) => s.id)).toEqual(['s1']);
    expect(live.list('al@example.com').map((s) => s.id)).toEqual(['s1']);
    forget();
    expect(live.list('bob@example.com')).toEqual([]);
    expect(live.kick(['alice@example.com', 'nobody'], 'bye').map((s) => s.id)).toEqual(['s1']);
    expect(kicked).toEqual(['s1: bye']);
  });
});

describe('endReason', () => {
  const base = { accountNames: ['a@x'], logins: ['a@x'] };
  it('ends the sessions of an account that is not active or deleted by default, of a moved one only when asked', () => {
    expect(endReason({ ...base, reason: 'status', status: 'closed' }, true, false)).toBe('inactive');
    expect(endReason({ ...base, reason: 'status', status: 'locked' }, false, false)).toBeUndefined();
    expect(endReason({ ...base, reason: 'status', status: 'active' }, true, true)).toBeUndefined();
    expect(endReason({ ...base, reason: 'deleted' }, true, false)).toBe('deleted');
    expect(endReason({ ...base, reason: 'moved', status: 'active' }, true, false)).toBeUndefined();
    expect(endReason({ ...base, reason: 'moved', status: 'active' }, true, true)).toBe('moved');
    expect(endReason({ ...base, reason: 'alias', status: 'active' }, true, true)).toBeUndefined();
  });
});
