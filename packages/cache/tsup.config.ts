import { packageBuild } from '../../tsup.base';

export default packageBuild({ index: 'src/index.ts', redis: 'src/redis.ts' });
