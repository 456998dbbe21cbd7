import { packageBuild } from '../../tsup.base';

export default packageBuild({ index: 'src/index.ts', node: 'src/node.ts' });
