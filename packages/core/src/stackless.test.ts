import { inspect } from 'node:util';
import { describe, expect, it } from 'vitest';
import { XError, isXError, stacklessPrototype } from './index.js';
import type { Writable } from './index.js';

class QueueFullError extends XError<'QUEUE_FULL'> {
  override name = 'QueueFullError';
  readonly queue: string;
  readonly size: number;
  constructor(queue: string, size: number) {
    super('QUEUE_FULL', fullMessage(queue, size));
    this.queue = queue;
    this.size = size;
  }
}

function fullMessage(queue: string, size: number): string {
  return `queue "${queue}" is full (${size})`;
}

let messages = 0;
function queueFull(queue: string, size: number): QueueFullError {
  const prototype = stacklessPrototype(QueueFullError, 'QueueFullError', (e) => {
    messages++;
    return fullMessage(e.queue, e.size);
  });
  const error = Object.create(prototype) as Writable<QueueFullError>;
  error.code = 'QUEUE_FULL';
  error.queue = queue;
  error.size = size;
  return error;
}

describe('stacklessPrototype', () => {
  it('makes instances that pass instanceof, the brand and the code check', () => {
    const error = queueFull('jobs', 10);
    expect(error).toBeInstanceOf(QueueFullError);
    expect(error).toBeInstanceOf(Error);
    expect(isXError(error, 'QUEUE_FULL')).toBe(true);
    expect(error.code).toBe('QUEUE_FULL');
  });

  it('computes name, message and stack from the fields only when read', () => {
    messages = 0;
    const error = queueFull('jobs', 10);
    expect(messages).toBe(0);
    expect(error.name).toBe('QueueFullError');
    expect(error.message).toBe('queue "jobs" is full (10)');
    expect(messages).toBe(1);
    expect(error.stack).toBe('QueueFullError: queue "jobs" is full (10)\n    (no stack: built without one, as a cheap rejection)');
    expect(String(error)).toBe('QueueFullError: queue "jobs" is full (10)');
    expect(inspect(error)).toContain('queue "jobs" is full (10)');
  });

  it('stores an assigned message or stack on that instance only', () => {
    const a = queueFull('a', 1);
    const b = queueFull('b', 2);
    a.message = 'custom';
    a.stack = 'custom stack';
    expect(a.message).toBe('custom');
    expect(a.stack).toBe('custom stack');
    expect(b.message).toBe('queue "b" is full (2)');
    expect(b.stack).toContain('queue "b" is full (2)');
  });

  it('leaves instances made by the constructor as they were', () => {
    queueFull('warm', 1);
    const error = new QueueFullError('jobs', 3);
    expect(Object.hasOwn(error, 'message')).toBe(true);
    expect(error.message).toBe('queue "jobs" is full (3)');
    expect(error.stack).toMatch(/^QueueFullError: queue "jobs" is full \(3\)\n\s+at /);
  });

  it('prepares a prototype once, keeping the first message function', () => {
    const prototype = stacklessPrototype(QueueFullError, 'QueueFullError', () => 'first');
    expect(stacklessPrototype(QueueFullError, 'Other', () => 'second')).toBe(prototype);
    expect(queueFull('x', 1).name).toBe('QueueFullError');
  });
});
