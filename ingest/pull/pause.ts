/**
 * The pause between a puller's runs, which `wake()` cuts short (stop, or an event that asks for
 * a run at once). One of these per puller loop.
 */
export interface Pause {
  /** Resolves after `ms`, or as soon as `wake()` is called. */
  wait(ms: number): Promise<void>;
  /** Ends the pause in progress, if any. */
  wake(): void;
}

export function createPause(): Pause {
  let wake: (() => void) | undefined;
  return {
    wait(ms) {
      return new Promise((resolve) => {
        const done = () => {
          clearTimeout(timer);
          wake = undefined;
          resolve();
        };
        const timer = setTimeout(done, ms);
        wake = done;
      });
    },
    wake: () => wake?.(),
  };
}
