export const COMPANION_CONFIG: string;
/** The `-c` arguments for `wrangler dev` (run in the repository root). */
export function legacyHashesDevConfigs(): string[];
