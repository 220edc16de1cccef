// Navigation state shared by the router and the pages: which render is current, and what
// to stop (polling timers) when the user leaves a page.

let generation = 0;
let cleanups = [];

// Starts a new page render; returns its generation number.
export function enter() {
  for (const fn of cleanups) fn();
  cleanups = [];
  generation += 1;
  return generation;
}

export function current() {
  return generation;
}

// Runs `fn` when the user leaves the page that `gen` rendered (at once if already left).
export function onLeave(fn, gen = generation) {
  if (gen !== generation) fn();
  else cleanups.push(fn);
}

export function go(hash) {
  if (location.hash === hash) window.dispatchEvent(new HashChangeEvent("hashchange"));
  else location.hash = hash;
}

// Calls `tick` now and then every `ms` until the page is left or `tick` returns true.
export function poll(tick, ms) {
  const gen = generation;
  let timer = null;
  let stopped = false;
  const run = async () => {
    if (stopped || gen !== generation) return;
    let done = false;
    try {
      done = await tick();
    } catch (err) {
      console.warn("poll failed", err);
    }
    if (!done && !stopped && gen === generation) timer = setTimeout(run, ms);
  };
  onLeave(() => {
    stopped = true;
    clearTimeout(timer);
  }, gen);
  run();
  return () => {
    stopped = true;
    clearTimeout(timer);
  };
}
