/**
 * Global setup of the e2e project: finds Chromium once for every browser test file. A system
 * Chromium wins when there is one; otherwise the build shipped inside the npm package
 * `@sparticuz/chromium`, which `executablePath()` unpacks into the temporary directory. Doing
 * it here, once, keeps parallel test files from unpacking it over each other.
 */
import { existsSync } from 'node:fs';
import type { TestProject } from 'vitest/node';

const SYSTEM_CHROMIUM = ['/usr/bin/chromium', '/usr/bin/chromium-browser'];

declare module 'vitest' {
  export interface ProvidedContext {
    chromiumPath: string;
  }
}

export default async function setup(project: TestProject) {
  let executable = process.env.CHROMIUM_PATH || SYSTEM_CHROMIUM.find((file) => existsSync(file));
  // Only its executablePath(): the package's `args` are made for AWS Lambda and include
  // --disable-web-security and --single-process (see test/e2e/browser.ts).
  executable ??= await (await import('@sparticuz/chromium')).default.executablePath();
  project.provide('chromiumPath', executable);
}
