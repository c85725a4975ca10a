/**
 * Run-time polyfills, loaded before anything else by every entry point (CLI, tests, benchmarks).
 *
 * libp2p 3 (through `it-queue` and friends) calls `Promise.withResolvers`, which Node 22 has but
 * Node 20 does not: without this, the first dial crashes with
 * `TypeError: Promise.withResolvers is not a function`. We support Node 20.19+, so we add it here.
 * The module must be evaluated before libp2p is imported, hence its own entry in every launcher.
 */
interface PromiseWithResolversShim<T> {
  promise: Promise<T>
  resolve: (value: T | PromiseLike<T>) => void
  reject: (reason?: unknown) => void
}

const P = Promise as unknown as { withResolvers?: <T>() => PromiseWithResolversShim<T> }

if (typeof P.withResolvers !== 'function') {
  Object.defineProperty(Promise, 'withResolvers', {
    configurable: true,
    writable: true,
    value: function withResolvers<T> (): PromiseWithResolversShim<T> {
      let resolve!: (value: T | PromiseLike<T>) => void
      let reject!: (reason?: unknown) => void
      const promise = new Promise<T>((res, rej) => { resolve = res; reject = rej })
      return { promise, resolve, reject }
    }
  })
}

export {}
