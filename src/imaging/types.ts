/** The model's input contract (ich.windows and ich.input), as the imaging functions need it. */
export interface WindowSpec {
  name: string;
  center: number;
  width: number;
}

export interface InputSpec {
  /** Output is [windows.length, size, size] float32, channel-major (NCHW without N). */
  size: number;
  windows: readonly WindowSpec[];
}
