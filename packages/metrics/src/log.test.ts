// pino and winston are not dependencies: loggers of their shapes are reproduced here (pino:
// `level(fields, msg)` and `bindings()`; winston and console: `level(msg, fields)`).
import { createBreaker } from '@x/breaker';
import { createEventBus } from '@x/core';
import type { XEvent } from '@x/core';
import { createVirtualClock } from '@x/core/testing';
import { createErrorBudget, createHealthMonitor } from '@x/health';
import { createRetry } from '@x/retry';
import { describe, expect, it } from 'vitest';
import { LOGGED_EVENTS, logEvents } from './log.js';
import type { LogLevel } from './log.js';

type Line = { level: LogLevel; args: unknown[] };

function recorder(extra: object = {}) {
  const lines: Line[] = [];
  const logger = Object.assign(
    Object.fromEntries((['debug', 'info', 'warn', 'error'] as const).map((level) => [level, (...args: unknown[]) => void lines.push({ level, args })])),
    extra,
  ) as Record<LogLevel, (...args: unknown[]) => void>;
  return { lines, logger };
}

const pinoShaped = () => recorder({ bindings: () => ({}) });
const fail = () => Promise.reject(Object.assign(new Error('connection refused'), { code: 'ECONNREFUSED' }));

describe('logEvents', () => {
  it('writes breaker state changes to a pino-shaped logger as (fields, message), open at warn, with the error as err', async () => {
    const clock = createVirtualClock({ now: 0 });
    const bus = createEventBus();
    const { lines, logger } = pinoShaped();
    const stop = logEvents(bus, logger, { level: 'info' });
    const breaker = createBreaker({ name: 'pricing', failureThreshold: 1, successThreshold: 1, openMs: 1_000, clock, events: bus });
    await breaker.execute(fail).catch(() => {});
    await breaker.execute(() => 1).catch(() => {}); // rejected: debug, not written at info
    await clock.advance(1_000);
    await breaker.execute(() => 1);
    expect(lines.map((l) => l.level)).toEqual(['warn', 'info', 'info']);
    const [fields, message] = lines[0]?.args as [Record<string, unknown>, string];
    expect(message).toMatch(/^breaker pricing: closed → open \(/);
    expect(fields).toMatchObject({ event: 'breaker.state_change', source: 'breaker', name: 'pricing', from: 'closed', to: 'open' });
    expect(fields).not.toHaveProperty('time');
    expect(JSON.parse(JSON.stringify(fields))).toEqual(fields); // plain, serialisable record
    expect(lines[2]?.args[1]).toMatch(/half_open → closed/);
    stop();
    await breaker.execute(fail).catch(() => {});
    expect(lines).toHaveLength(3);
  });

  it('does not even subscribe to per-call rejections at info, and writes them at debug', async () => {
    const clock = createVirtualClock({ now: 0 });
    const bus = createEventBus();
    const stop = logEvents(bus, console, { level: 'info' });
    expect(bus.hasListeners('breaker.rejected')).toBe(false);
    expect(bus.hasListeners('breaker.state_change')).toBe(true);
    stop();
    expect(bus.hasListeners('breaker.state_change')).toBe(false);
    const { lines, logger } = recorder();
    logEvents(bus, logger, { level: 'debug' });
    const breaker = createBreaker({ name: 'pricing', failureThreshold: 1, clock, events: bus });
    await breaker.execute(fail).catch(() => {});
    await breaker.execute(() => 1).catch(() => {});
    const rejected = lines.find((l) => (l.args[1] as { event: string }).event === 'breaker.rejected');
    expect(rejected).toMatchObject({ level: 'debug', args: ['breaker pricing rejected a call (open)', expect.objectContaining({ reason: 'open' })] });
  });

  it('writes retries given up at warn to a winston/console-shaped logger as (message, fields)', async () => {
    const clock = createVirtualClock({ now: 0 });
    const bus = createEventBus();
    const { lines, logger } = recorder();
    logEvents(bus, logger);
    const retry = createRetry({ name: 'pricing', maxAttempts: 2, backoff: 10, clock, events: bus });
    const pending = retry.execute(fail).catch(() => {});
    await clock.advance(10);
    await pending;
    const gaveUp = lines.find((l) => l.args[0] === 'retry pricing gave up (exhausted)');
    expect(gaveUp?.level).toBe('warn');
    expect(gaveUp?.args[1]).toMatchObject({ event: 'retry.gave_up', source: 'retry', name: 'pricing', reason: 'exhausted' });
    const error = (gaveUp?.args[1] as { error?: unknown }).error;
    if (error !== undefined) expect(error).toMatchObject({ message: expect.any(String) });
  });

  it('writes store degradation, health, budgets and listener errors with their levels', async () => {
    const clock = createVirtualClock({ now: 0 });
    const bus = createEventBus({ onUnhandledListenerError: () => {} });
    const { lines, logger } = pinoShaped();
    logEvents(bus, logger, { level: 'info' });
    bus.emit({ type: 'ratelimit.store_degraded', source: 'ratelimit', name: 'redis', time: 0, mode: 'local', consecutiveFailures: 3, cooldownMs: 1_000 } as unknown as XEvent);
    bus.emit({ type: 'lock.store_recovered', source: 'lock', name: 'redis', time: 0, mode: 'fail', degradedForMs: 5 } as unknown as XEvent);
    const monitor = createHealthMonitor({ name: 'api', clock, events: bus });
    monitor.register({ name: 'db', check: () => false });
    monitor.register({ name: 'budget', check: () => false, critical: false });
    await monitor.runOnce();
    const budget = createErrorBudget({ name: 'api', slo: 0.9, windowMs: 60_000, clock, events: bus });
    budget.recordMany(1, 9);
    bus.on('breaker.state_change', () => {
      throw new Error('user listener bug');
    });
    bus.emit({ type: 'breaker.state_change', source: 'breaker', name: 'x', time: 0, from: 'closed', to: 'open', reason: 'forced' } as unknown as XEvent);
    const by = (event: string) => lines.filter((l) => (l.args[0] as { event: string }).event === event).map((l) => [l.level, l.args[1]]);
    expect(by('ratelimit.store_degraded')).toEqual([['warn', 'ratelimit store redis degraded after 3 failures: working without it (local)']]);
    expect(by('lock.store_recovered')).toEqual([['info', 'lock store redis recovered']]);
    expect(by('health.status_change').map(([level]) => level).sort()).toEqual(['error', 'warn']);
    expect(by('health.error_budget_exhausted')).toEqual([['warn', 'error budget api exhausted']]);
    const listenerError = lines.find((l) => (l.args[0] as { event: string }).event === 'core.listener_error');
    expect(listenerError?.level).toBe('error');
    expect(listenerError?.args[0]).toMatchObject({ eventType: 'breaker.state_change', err: { name: 'Error', message: 'user listener bug' } });
  });

  it('a logger that throws never changes the outcome of the call that emitted the event; the failure is itself logged', async () => {
    const clock = createVirtualClock({ now: 0 });
    const bus = createEventBus({ onUnhandledListenerError: () => {} });
    const errors: unknown[][] = [];
    const broken = {
      warn: () => {
        throw new Error('disk full');
      },
      error: (...args: unknown[]) => void errors.push(args),
    };
    logEvents(bus, broken);
    const breaker = createBreaker({ name: 'pricing', failureThreshold: 1, clock, events: bus });
    await expect(breaker.execute(fail)).rejects.toMatchObject({ message: 'connection refused' });
    expect(breaker.state).toBe('open');
    expect(errors).toEqual([
      ['an event listener for breaker.state_change threw', expect.objectContaining({ eventType: 'breaker.state_change', error: expect.objectContaining({ message: 'disk full' }) })],
    ]);
  });

  it('honours per-type levels, falls back to a more severe method, and validates its arguments', () => {
    const bus = createEventBus();
    const lines: unknown[][] = [];
    const noDebug = { warn: (...args: unknown[]) => void lines.push(['warn', ...args]), error: (...args: unknown[]) => void lines.push(['error', ...args]) };
    logEvents(bus, noDebug, { level: 'debug', levels: { 'breaker.rejected': 'info' } });
    bus.emit({ type: 'breaker.rejected', source: 'breaker', name: 'p', time: 0, reason: 'open' } as unknown as XEvent);
    expect(lines).toEqual([['warn', 'breaker p rejected a call (open)', { event: 'breaker.rejected', source: 'breaker', name: 'p', reason: 'open' }]]);
    expect(() => logEvents(bus, noDebug, { level: 'verbose' as LogLevel })).toThrow(/level/);
    expect(() => logEvents(bus, {} as never)).toThrow(/logger/);
    expect(() => logEvents(bus, noDebug, { levels: { 'breaker.rejected': 'loud' as LogLevel } })).toThrow(/levels\.breaker\.rejected/);
    expect(() => logEvents(bus, noDebug, { style: 'json' as never })).toThrow(/style/);
    expect(() => logEvents(bus, noDebug, { lvl: 'info' } as never)).toThrow(expect.objectContaining({ code: 'INVALID_OPTIONS' }));
    expect(LOGGED_EVENTS).toEqual(expect.arrayContaining(['breaker.state_change', 'retry.gave_up', 'ratelimit.store_degraded', 'core.listener_error']));
  });
});
