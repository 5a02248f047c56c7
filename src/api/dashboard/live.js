// Work that live events ask for, done once per burst.

/**
 * `work` run for a burst of calls once: a call while it runs asks for one more run after it, and
 * runs are at least `gapMs` apart, so a replay of fifty events reads the API twice, not fifty times.
 * Every call's promise settles when the run that covers it has finished.
 */
export function coalesced(work, gapMs = 250) {
  let running = null;
  let again = false;
  return () => {
    again = true;
    running ??= (async () => {
      try {
        while (again) {
          again = false;
          await work();
          if (again) await new Promise((resolve) => setTimeout(resolve, gapMs));
        }
      } finally {
        running = null;
      }
    })();
    return running;
  };
}
