/**
 * The order test files start in. Vitest starts the longest first (by the last run's durations,
 * else by file size), which put every e2e file before every workers file: the e2e files mostly
 * wait on their children (wrangler, Chromium, npm) and left a core idle, then the workers files
 * kept both busy. Starting one e2e file for every two workers files keeps both cores busy
 * throughout, and the longest e2e files start first so none is left running alone at the end.
 */
import { BaseSequencer, type TestSpecification } from 'vitest/node';

/** The e2e files that take longest on 2 cores, longest first; the rest follow by size. */
const LONGEST_E2E = [
  'import-users',
  'quick-start',
  'client-package',
  'quiet-run',
  'demo-app',
  'oidc-client',
  'wrangler-dev',
  'docs-run',
];

const rank = (spec: TestSpecification) => {
  const index = LONGEST_E2E.findIndex((name) => spec.moduleId.endsWith(`/e2e/${name}.test.ts`));
  return index === -1 ? LONGEST_E2E.length : index;
};

export default class InterleavingSequencer extends BaseSequencer {
  override async sort(files: TestSpecification[]): Promise<TestSpecification[]> {
    const sorted = await super.sort(files);
    const e2e = sorted.filter((spec) => spec.project.name === 'e2e').sort((a, b) => rank(a) - rank(b));
    const workers = sorted.filter((spec) => spec.project.name !== 'e2e');
    const order: TestSpecification[] = [];
    while (e2e.length > 0 || workers.length > 0) {
      order.push(...e2e.splice(0, 1), ...workers.splice(0, 2));
    }
    return order;
  }
}
