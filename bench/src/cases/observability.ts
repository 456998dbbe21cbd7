import { AsyncLocalStorage } from 'node:async_hooks';
import { ROOT_CONTEXT, context, trace } from '@opentelemetry/api';
import type { Context, ContextManager } from '@opentelemetry/api';
import { MeterProvider } from '@opentelemetry/sdk-metrics';
import { AlwaysOffSampler, AlwaysOnSampler, BasicTracerProvider, NoopSpanProcessor } from '@opentelemetry/sdk-trace-base';
import { createBreaker } from '@x/breaker';
import { createEventBus } from '@x/core';
import { collectMetrics } from '@x/metrics';
import { logEvents } from '@x/metrics/log';
import { otelMetrics, traced } from '@x/otel';
import { Registry } from 'prom-client';
import type { Row } from '../harness.js';
import { work } from '../harness.js';

/**
 * The price of each observability bridge on a closed breaker call, each against the same call on
 * a bus with nothing attached (issue 16): the Prometheus exporter, @x/otel without a tracer (the
 * API's no-op, with otelMetrics on a real MeterProvider), with a tracer sampling nothing and with
 * one sampling everything, and the log bridge at info. Run them together:
 * `pnpm bench -- --only=observability`.
 */

/**
 * The context manager the Node SDK registers (AsyncLocalStorage), so span activation costs what it
 * costs in a service. Written here because @opentelemetry/context-async-hooks is not a bench
 * dependency; it does the same: one AsyncLocalStorage, `with` = `run`.
 */
class AlsContextManager implements ContextManager {
  readonly #storage = new AsyncLocalStorage<Context>();
  active(): Context {
    return this.#storage.getStore() ?? ROOT_CONTEXT;
  }
  with<A extends unknown[], F extends (...args: A) => ReturnType<F>>(ctx: Context, fn: F, thisArg?: ThisParameterType<F>, ...args: A): ReturnType<F> {
    return this.#storage.run(ctx, () => fn.call(thisArg, ...args));
  }
  bind<T>(_ctx: Context, target: T): T {
    return target;
  }
  enable(): this {
    return this;
  }
  disable(): this {
    this.#storage.disable();
    return this;
  }
}

let registered = false;
function contextManager(): void {
  if (registered) return;
  registered = true;
  context.setGlobalContextManager(new AlsContextManager());
}

type Setup = (bus: ReturnType<typeof createEventBus>) => {
  run: (breaker: ReturnType<typeof createBreaker>) => () => Promise<unknown>;
  dispose?: () => void;
};

function row(operation: string, setup: Setup, target?: number): () => Row {
  return () => {
    const quiet = createBreaker({ name: 'quiet', events: createEventBus() });
    const bus = createEventBus();
    const observed = createBreaker({ name: 'observed', events: bus });
    const { run, dispose } = setup(bus);
    return {
      operation,
      ...(target !== undefined && { target }),
      baseline: () => quiet.execute(work),
      baselineLabel: 'same call, nothing attached',
      ops: { x: run(observed) },
      verify: (_column, result) => {
        if (result !== 1) throw new Error(`expected 1, got ${String(result)}`);
      },
      ...(dispose !== undefined && { dispose }),
    };
  };
}

const direct = (breaker: ReturnType<typeof createBreaker>) => () => breaker.execute(work);

export const rows: [string, () => Row][] = [
  [
    'observability-prometheus',
    row('breaker call, @x/metrics Prometheus exporter', (bus) => {
      const collector = collectMetrics({ registry: new Registry(), bus });
      return { run: direct, dispose: () => collector.stop() };
    }),
  ],
  [
    'observability-otel-no-tracer',
    row(
      'breaker call, @x/otel: traced() with no SDK tracer + otelMetrics',
      (bus) => {
        contextManager();
        const metrics = otelMetrics({ meter: new MeterProvider().getMeter('bench'), bus });
        const tracer = trace.getTracer('bench'); // no provider registered: the API's no-op
        return { run: (breaker) => { const policy = traced(breaker, tracer, { events: bus }); return () => policy.execute(work); }, dispose: () => metrics.stop() };
      },
      1.1,
    ),
  ],
  [
    'observability-otel-sample-none',
    row('breaker call, @x/otel: traced(), tracer sampling nothing', (bus) => {
      contextManager();
      const tracer = new BasicTracerProvider({ sampler: new AlwaysOffSampler() }).getTracer('bench');
      return { run: (breaker) => { const policy = traced(breaker, tracer, { events: bus }); return () => policy.execute(work); } };
    }),
  ],
  [
    'observability-otel-sample-all',
    row('breaker call, @x/otel: traced(), tracer sampling everything (no-op processor)', (bus) => {
      contextManager();
      const tracer = new BasicTracerProvider({ sampler: new AlwaysOnSampler(), spanProcessors: [new NoopSpanProcessor()] }).getTracer('bench');
      return { run: (breaker) => { const policy = traced(breaker, tracer, { events: bus }); return () => policy.execute(work); } };
    }),
  ],
  [
    'observability-log-info',
    row('breaker call, @x/metrics/log logEvents at info', (bus) => {
      const lines: unknown[] = [];
      const logger = { info: (...a: unknown[]) => lines.push(a), warn: (...a: unknown[]) => lines.push(a), error: (...a: unknown[]) => lines.push(a), debug: () => {} };
      const stop = logEvents(bus, logger, { level: 'info' });
      return { run: direct, dispose: stop };
    }),
  ],
];
