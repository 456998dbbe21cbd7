import { defineConfig, type Options } from 'tsup';

/**
 * The one build every package shares: ESM + CJS + declarations with sourcemaps.
 * A package passes only its entry points (the main one plus subpath adapters).
 */
export function packageBuild(entry: Record<string, string>, extra: Partial<Options> = {}) {
  return defineConfig({
    entry,
    format: ['esm', 'cjs'],
    dts: true,
    sourcemap: true,
    clean: true,
    target: 'es2022',
    platform: 'neutral',
    splitting: true,
    treeshake: true,
    ...extra,
  });
}
