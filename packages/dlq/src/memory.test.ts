import { memoryDlqStore } from './index.js';
import { contractSuite } from './test-contract.js';

contractSuite('memory store', () => memoryDlqStore());
