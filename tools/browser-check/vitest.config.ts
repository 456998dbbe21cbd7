import { packageProject } from '../../vitest.shared';

// Launching Chromium and bundling take a few seconds on a cold machine.
export default packageProject('browser-check', { testTimeout: 60_000 });
