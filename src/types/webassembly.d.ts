/**
 * The part of the WebAssembly JS API the node uses (src/imaging/resize.ts). Node has it
 * built in, but TypeScript declares it only in the DOM libraries, which this project leaves out.
 */
declare namespace WebAssembly {
  class Module {
    constructor(bytes: Uint8Array);
  }
  class Instance {
    constructor(module: Module);
    readonly exports: Record<string, unknown>;
  }
  class Memory {
    readonly buffer: ArrayBuffer;
    grow(pages: number): number;
  }
}
