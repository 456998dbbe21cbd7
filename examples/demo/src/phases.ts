/** The three acts of the scenario, in order. */
export const PHASE_NAMES = ['healthy', 'failing', 'recovering'] as const;
export type PhaseName = (typeof PHASE_NAMES)[number];

/** Share of the run each phase takes; normalised, so `{ 1, 1, 1 }` means thirds. */
export type PhaseFractions = Readonly<Record<PhaseName, number>>;

export const DEFAULT_FRACTIONS: PhaseFractions = { healthy: 0.3, failing: 0.35, recovering: 0.35 };

/** Where a moment of the run falls: which phase, and how far into it (0…1). */
export interface PhasePosition {
  readonly phase: PhaseName;
  readonly index: number;
  readonly progress: number;
}

/**
 * The run's timeline. Everything that depends on "what is going on now" (the downstream's
 * behaviour, which phase a request is counted in) asks this one object, so they always agree.
 */
export class Timeline {
  readonly durationMs: number;
  /** Start offset of each phase in ms, plus the end of the run. */
  readonly bounds: readonly number[];

  constructor(durationMs: number, fractions: PhaseFractions = DEFAULT_FRACTIONS) {
    for (const name of PHASE_NAMES) {
      const f = fractions[name];
      if (!(Number.isFinite(f) && f > 0)) throw new RangeError(`phase fraction "${name}" must be a finite number > 0, got ${f}`);
    }
    const total = PHASE_NAMES.reduce((sum, name) => sum + fractions[name], 0);
    this.durationMs = durationMs;
    const bounds = [0];
    let acc = 0;
    for (const name of PHASE_NAMES) {
      acc += fractions[name];
      bounds.push(Math.round((durationMs * acc) / total));
    }
    this.bounds = bounds;
  }

  /** The phase at `elapsedMs` since the start; times past the end belong to the last phase. */
  at(elapsedMs: number): PhasePosition {
    const bounds = this.bounds;
    let index = 0;
    while (index < PHASE_NAMES.length - 1 && elapsedMs >= (bounds[index + 1] as number)) index++;
    const start = bounds[index] as number;
    const end = bounds[index + 1] as number;
    const progress = Math.min(1, Math.max(0, (elapsedMs - start) / (end - start)));
    return { phase: PHASE_NAMES[index] as PhaseName, index, progress };
  }
}
