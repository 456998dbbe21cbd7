export { createResilience } from './manager.js';
export type {
  AppliedChange,
  CacheWiring,
  CheckImplementation,
  FallbackDefinition,
  ReloadReport,
  Resilience,
  ResilienceExecuteOptions,
  ResilienceHealth,
  ResilienceInstances,
  ResilienceOptions,
  ResilienceStats,
  SkippedChange,
} from './manager.js';
export { loadResilienceConfig, resolveResilienceConfig, applyEnvOverrides } from './config.js';
export type {
  BreakerGroupSettings,
  BreakerSettings,
  BulkheadSettings,
  CheckSettingsResolved,
  ErrorBudgetSettings,
  HealthSettings,
  LayerKind,
  LoadResilienceConfigOptions,
  NotApplied,
  OperationPlan,
  RateLimitSettings,
  ResolvedResilienceConfig,
  ResolveOptions,
  RetrySettings,
  TimeoutSettings,
} from './config.js';
export { validateResilienceConfig, checkStructure, ResilienceConfigError } from './validate.js';
export type { ConfigIssue } from './validate.js';
export { resilienceJsonSchema, RESILIENCE_CONFIG, LAYER_KINDS } from './schema.js';
export type { SchemaNode, ObjectNode, MapNode } from './schema.js';
export { parseDuration, formatDuration } from './duration.js';
export { resiliencePresets } from './presets.js';
export type { ResiliencePreset, ResiliencePresetName } from './presets.js';
export type {
  ChangeMode,
  InstanceKind,
  ResilienceChangeAppliedEvent,
  ResilienceChangeSkippedEvent,
  ResilienceEvent,
  ResilienceReloadedEvent,
  ResilienceReloadFailedEvent,
} from './events.js';
