/** Types of build-assets.mjs, for vitest.config.ts. */
export const ASSETS_DIR: string;
export function buildAssets(): Promise<string[]>;
