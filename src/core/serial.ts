/**
 * Runs async jobs one at a time, in call order; a job that fails does not stop the ones after it. The one helper
 * for "never two of these at once" (the stores and membership each grew their own copy of these three lines;
 * new code uses this).
 */
export type Serial = <T>(job: () => Promise<T>) => Promise<T>;

export function serialQueue(): Serial {
  let tail: Promise<unknown> = Promise.resolve();
  return <T>(job: () => Promise<T>): Promise<T> => {
    const run = tail.then(job, job);
    tail = run.catch(() => undefined);
    return run;
  };
}
