import { packageProject } from '../../vitest.shared';

export default packageProject('demo', { testTimeout: 60_000 });
