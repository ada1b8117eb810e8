import type { Config, ProviderName } from '../config/schema.js';

/**
 * The providers to try, in order. A single GPU provider falls back to CPU only when
 * model.fallbackToCpu says so; a list is taken as written.
 */
export function providerList(model: Pick<Config['model'], 'executionProvider' | 'fallbackToCpu'>): ProviderName[] {
  const p = model.executionProvider;
  if (Array.isArray(p)) return [...new Set(p)];
  return p !== 'cpu' && model.fallbackToCpu ? [p, 'cpu'] : [p];
}
