/**
 * A set of non-negative integers below 2^53 in one Float64Array (open addressing, linear
 * probing, at most half full): 8-16 bytes a member, outside the JavaScript heap, against ~40
 * for a Set<number> of values too large to be small integers. Members should have random low
 * bits (they pick the slot), as fingerprints of random ids do.
 */
export class NumberSet {
  private slots = new Float64Array(1024);
  private count = 0;

  get size(): number {
    return this.count;
  }

  has(value: number): boolean {
    const stored = value + 1; // 0 marks an empty slot
    const mask = this.slots.length - 1;
    for (let i = (value >>> 0) & mask; ; i = (i + 1) & mask) {
      const slot = this.slots[i]!;
      if (slot === stored) return true;
      if (slot === 0) return false;
    }
  }

  add(value: number): void {
    if (!Number.isSafeInteger(value) || value < 0) throw new RangeError(`NumberSet holds integers in [0, 2^53): ${value}`);
    if (this.insert(this.slots, value + 1)) this.count++;
    if (this.count * 2 > this.slots.length) this.grow();
  }

  private insert(slots: Float64Array, stored: number): boolean {
    const mask = slots.length - 1;
    for (let i = ((stored - 1) >>> 0) & mask; ; i = (i + 1) & mask) {
      const slot = slots[i]!;
      if (slot === stored) return false;
      if (slot === 0) {
        slots[i] = stored;
        return true;
      }
    }
  }

  private grow(): void {
    const old = this.slots;
    this.slots = new Float64Array(old.length * 2);
    for (const stored of old) if (stored !== 0) this.insert(this.slots, stored);
  }
}
