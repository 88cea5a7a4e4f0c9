import { describe, expect, it } from 'vitest';
import { GroupCommit } from '../../lib/group-commit.js';

describe('GroupCommit', () => {
  it('puts what is submitted during a commit into the next one', async () => {
    const commits: number[][] = [];
    let release!: () => void;
    const first = new Promise<void>((resolve) => (release = resolve));
    const group = new GroupCommit<number>(async (items) => {
      commits.push(items);
      if (commits.length === 1) await first;
    });
    const settled = [group.submit(1), group.submit(2)];
    await Promise.resolve();
    settled.push(group.submit(3), group.submit(4));
    release();
    await Promise.all(settled);
    expect(commits).toEqual([[1], [2, 3, 4]]);
  });

  it('keeps a commit under maxWeight, and a heavier item goes alone', async () => {
    const commits: number[][] = [];
    const group = new GroupCommit<number>(async (items) => void commits.push(items), {
      maxWeight: 10,
      weigh: (n) => n,
    });
    await Promise.all([1, 4, 5, 3, 20, 2].map((n) => group.submit(n)));
    expect(commits).toEqual([[1], [4, 5], [3], [20], [2]]);
  });

  it('with minIntervalMs, what is submitted in the pause shares one commit, and idle() ends the pause', async () => {
    const commits: number[][] = [];
    const group = new GroupCommit<number>(async (items) => void commits.push(items), { minIntervalMs: 60_000 });
    await group.submit(1);
    const later = [group.submit(2), group.submit(3)];
    await new Promise((resolve) => setImmediate(resolve));
    expect(commits).toEqual([[1]]);
    await group.idle();
    await Promise.all(later);
    expect(commits).toEqual([[1], [2, 3]]);
  });

  it('rejects the callers of a failed commit and goes on with the next', async () => {
    let calls = 0;
    const group = new GroupCommit<string>(async () => {
      calls += 1;
      if (calls === 1) throw new Error('disk full');
    });
    const failed = group.submit('a');
    await expect(failed).rejects.toThrow('disk full');
    await expect(group.submit('b')).resolves.toBeUndefined();
  });
});
