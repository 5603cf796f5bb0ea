/**
 * Values loaded once per key and shared: concurrent callers of the same key wait for the same
 * load. A load that fails is forgotten, so the next call tries again (a file fixed on disk, a
 * build that ran out of memory once).
 */
export class OnceCache<K, V> {
  private readonly entries = new Map<K, Promise<V>>();

  /** The value of `key`, loaded by `load` the first time. */
  get(key: K, load: () => Promise<V>): Promise<V> {
    let entry = this.entries.get(key);
    if (!entry) {
      const loading = load();
      entry = loading;
      this.entries.set(key, loading);
      loading.catch(() => this.entries.get(key) === loading && this.entries.delete(key));
    }
    return entry;
  }
}
