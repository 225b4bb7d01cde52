// Start and stop a real crierd for the JavaScript tests (loopback only).
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, existsSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

export async function startCrierd(settings = []) {
  const bin = process.env.CRIERD;
  if (!bin) throw new Error('CRIERD is not set (run through meson test)');
  const dir = mkdtempSync(join(tmpdir(), 'crierd-js-'));
  const portFile = join(dir, 'ports');
  const args = ['--port-file', portFile, '--set', 'server.listen=127.0.0.1:0',
    '--set', `admin.socket=${join(dir, 'admin.sock')}`];
  for (const s of settings) args.push('--set', s);
  const proc = spawn(bin, args, { stdio: ['ignore', 'inherit', 'pipe'] });
  let log = '';
  proc.stderr.on('data', (d) => { log += d; });
  const exited = new Promise((resolve) => proc.on('exit', (code, signal) => resolve({ code, signal })));
  for (let i = 0; i < 200 && !existsSync(portFile); i++) await sleep(25);
  if (!existsSync(portFile)) {
    proc.kill('SIGKILL');
    throw new Error(`crierd did not start:\n${log}`);
  }
  const port = parseInt(readFileSync(portFile, 'utf8').split('\n')[0], 10);
  return {
    port,
    pid: proc.pid,
    adminSocket: join(dir, 'admin.sock'),
    url: (scheme, path) => `${scheme}://127.0.0.1:${port}${path}`,
    log: () => log,
    exited,
    async stop(signal = 'SIGTERM') {
      if (proc.exitCode === null && proc.signalCode === null) proc.kill(signal);
      const r = await exited;
      rmSync(dir, { recursive: true, force: true });
      return r;
    },
  };
}

export function hasModule(name) {
  try {
    return existsSync(join(new URL('.', import.meta.url).pathname, 'node_modules', name));
  } catch {
    return false;
  }
}
