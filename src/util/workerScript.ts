/**
 * The worker script `name` beside the calling module (`callerUrl`: its import.meta.url). When the
 * caller runs from TypeScript source (vitest), the worker is the compiled one in dist/ (`npm test`
 * builds first): Node 20 applies no loader hooks inside worker threads, so a .ts worker cannot load.
 */
export function workerScript(callerUrl: string, name: string): URL {
  const beside = new URL(`./${name}.js`, callerUrl);
  if (!callerUrl.endsWith('.ts')) return beside;
  const at = beside.pathname.lastIndexOf('/src/');
  return new URL(`${beside.pathname.slice(0, at)}/dist/${beside.pathname.slice(at + '/src/'.length)}`, beside);
}
