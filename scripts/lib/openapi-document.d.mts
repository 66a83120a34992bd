export function buildOpenApiDocument(): Promise<Record<string, unknown>>;
