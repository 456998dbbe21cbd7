import { packageBuild } from '../../tsup.base';

export default packageBuild({ index: 'src/index.ts', log: 'src/log.ts', cli: 'src/cli.ts' });
