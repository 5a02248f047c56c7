import { describe, expect, it } from 'vitest';
import { closeDatabase, createDatabase } from '../../src/db/prisma.js';

const serverUrl = process.env.TEST_DATABASE_SERVER_URL!;

/** Both the pool's own statements and Prisma's run on the pool's sessions: each must have JIT off. */
async function settings(url: string, names: string[]): Promise<Record<string, string>> {
  const database = createDatabase(url);
  try {
    const values: Record<string, string> = {};
    for (const name of names) {
      const [row] = (await database.pool.query<{ value: string }>(`SELECT current_setting($1) AS value`, [name])).rows;
      values[name] = row!.value;
    }
    const [viaPrisma] = await database.prisma.$queryRawUnsafe<{ value: string }[]>(`SELECT current_setting('jit') AS value`);
    values['jit (prisma)'] = viaPrisma!.value;
    return values;
  } finally {
    await closeDatabase(database);
  }
}

describe('database sessions', () => {
  it('run without JIT compilation, on the pool and through Prisma', async () => {
    expect(await settings(serverUrl, ['jit'])).toEqual({ jit: 'off', 'jit (prisma)': 'off' });
  });

  it("keep the options DATABASE_URL gives, and turn JIT off even when they turn it on", async () => {
    const url = new URL(serverUrl);
    url.searchParams.set('options', '-c statement_timeout=4321 -c jit=on');
    expect(await settings(url.toString(), ['jit', 'statement_timeout'])).toEqual({ jit: 'off', statement_timeout: '4321ms', 'jit (prisma)': 'off' });
  });
});
