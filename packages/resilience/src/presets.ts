/** A preset name usable as `preset:` in the config. */
export type ResiliencePresetName = 'default' | 'aggressive' | 'conservative';

/** What a preset gives every operation: a breaker, a retry and a per-attempt timeout, in config form. */
export interface ResiliencePreset {
  readonly breaker: { readonly failure_threshold: number; readonly open_duration: string; readonly half_open_max: number };
  readonly retry: {
    readonly max_retries: number;
    readonly initial_delay: string;
    readonly max_delay: string;
    readonly multiplier: number;
    readonly jitter: boolean;
  };
  readonly timeout: string;
}

/**
 * The presets, with the seeds' numbers:
 *
 * | preset | breaker | retry | timeout | from |
 * |---|---|---|---|---|
 * | `default` | 5 failures, open 30 s, 3 probes | 3 retries, 100 ms → 1 s, × 2, jitter | 5 s | go-cachex production `resilience.yaml` |
 * | `aggressive` | 3 failures, open 30 s, 1 probe | 2 retries, 50 ms → 500 ms, × 2, jitter | 10 s | DWCP "aggressive (development)" breaker and timeout; go-cachex `development.yaml` retry and probes |
 * | `conservative` | 5 failures, open 60 s, 1 probe | 3 retries, 100 ms → 10 s, × 2, jitter | 30 s | DWCP "conservative (production)" breaker and timeout, its network retry; go-cachex's one probe for critical systems |
 *
 * `preset: none` starts every operation empty.
 *
 * @example
 * ```ts
 * resiliencePresets.conservative.breaker.open_duration; // '60s'
 * ```
 */
export const resiliencePresets: Readonly<Record<ResiliencePresetName, ResiliencePreset>> = /*#__PURE__*/ Object.freeze({
  default: {
    breaker: { failure_threshold: 5, open_duration: '30s', half_open_max: 3 },
    retry: { max_retries: 3, initial_delay: '100ms', max_delay: '1s', multiplier: 2, jitter: true },
    timeout: '5s',
  },
  aggressive: {
    breaker: { failure_threshold: 3, open_duration: '30s', half_open_max: 1 },
    retry: { max_retries: 2, initial_delay: '50ms', max_delay: '500ms', multiplier: 2, jitter: true },
    timeout: '10s',
  },
  conservative: {
    breaker: { failure_threshold: 5, open_duration: '60s', half_open_max: 1 },
    retry: { max_retries: 3, initial_delay: '100ms', max_delay: '10s', multiplier: 2, jitter: true },
    timeout: '30s',
  },
});
