// A test's own metrics exporter for the local Prometheus: kwok's pods export
// nothing, so a test that needs series serves them itself, as known functions
// of what it reads from the API server.
import type { Server } from 'node:http';
import { createServer } from 'node:http';
import { rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { freePort, prometheusStack } from './support.ts';

export interface Exporter {
  /** Stops refreshing, removes the scrape target and closes the server. */
  stop(): Promise<void>;
}

/**
 * Serves `exposition()` (text format 0.0.4) on 127.0.0.1 and has the local
 * Prometheus scrape it as job `job` (a file_sd target); `refresh` runs every
 * second to update what the exposition reads (never two at once; a failed one
 * waits for the next).
 */
export async function startExporter(
  job: string,
  exposition: () => string,
  refresh: () => Promise<unknown>,
): Promise<Exporter> {
  const server: Server = createServer((_req, res) => {
    res.writeHead(200, { 'Content-Type': 'text/plain; version=0.0.4' });
    res.end(exposition());
  });
  const port = await freePort();
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
  let refreshing = false;
  const poll = setInterval(() => {
    if (refreshing) return;
    refreshing = true;
    void refresh()
      .catch(() => undefined)
      .finally(() => (refreshing = false));
  }, 1000);
  const targetFile = path.join(prometheusStack().targetsDir, `${job}.json`);
  writeFileSync(targetFile, JSON.stringify([{ targets: [`127.0.0.1:${port}`], labels: { job } }]));
  return {
    async stop() {
      clearInterval(poll);
      rmSync(targetFile, { force: true });
      await new Promise((resolve) => server.close(resolve));
    },
  };
}
