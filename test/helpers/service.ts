import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { projectRoot } from '../../lib/paths.js';

/** The CLI commands that start a long-running service (bin/commands/run.ts). */
export type ServiceCommand = 'run' | 'ingest' | 'process' | 'warehouse';

export interface Service {
  url: string;
  proc: ChildProcess;
  /** The command the process runs. */
  command: ServiceCommand;
  /** Everything the process printed so far. */
  output(): string;
  /** Settles with the exit code (or null when a signal ended it) once the process has exited. */
  readonly exited: Promise<number | null>;
  /** SIGTERM, then the exit code. */
  stop(): Promise<number | null>;
  /** kill -9, no chance to flush anything. */
  kill9(): Promise<void>;
}

export interface StartOptions {
  /** `run` by default; `ingest`, `process` and `warehouse` start one stage (Kafka mode). */
  command?: ServiceCommand;
  /** How long to wait for "sessionflow is running" (30 s by default). */
  startTimeoutMs?: number;
}

/** Starts the built CLI (`sessionflow run`, or the stage `options.command`) as a real process on a free port. */
export async function startService(
  dataDir: string,
  env: Record<string, string> = {},
  options: StartOptions = {},
): Promise<Service> {
  const command = options.command ?? 'run';
  const proc = spawn(process.execPath, [join(projectRoot(), 'dist/bin/sessionflow.js'), command], {
    cwd: dataDir,
    env: {
      PATH: process.env.PATH,
      NODE_ENV: 'development',
      DATA_DIR: dataDir,
      PORT: '0',
      HOST: '127.0.0.1',
      LOG_LEVEL: 'info',
      ...env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  proc.stdout!.on('data', (chunk: Buffer) => (out += chunk.toString()));
  proc.stderr!.on('data', (chunk: Buffer) => (out += chunk.toString()));
  const exited = new Promise<number | null>((resolve) => proc.on('exit', (code) => resolve(code)));
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => {
      proc.kill('SIGKILL');
      reject(new Error(`${command} did not start:\n${out}`));
    }, options.startTimeoutMs ?? 30_000);
    const check = () => {
      const line = out.split('\n').find((l) => l.includes('"sessionflow is running"'));
      if (line) {
        clearTimeout(timer);
        resolve((JSON.parse(line) as { url: string }).url);
      }
    };
    proc.stdout!.on('data', check);
    void exited.then((code) => {
      clearTimeout(timer);
      reject(new Error(`${command} exited with ${code}:\n${out}`));
    });
  });
  return {
    url,
    proc,
    command,
    exited,
    output: () => out,
    async stop() {
      if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGTERM');
      return exited;
    },
    async kill9() {
      if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGKILL');
      await exited;
    },
  };
}

/** Polls `check` until it returns a value (not undefined) or the time is up. */
export async function eventually<T>(
  check: () => Promise<T | undefined>,
  ms = 20_000,
  what = 'condition',
  intervalMs = 100,
): Promise<T> {
  const deadline = Date.now() + ms;
  let last: unknown;
  while (Date.now() < deadline) {
    try {
      const value = await check();
      if (value !== undefined) return value;
    } catch (err) {
      last = err;
    }
    await new Promise((r) => setTimeout(r, intervalMs));
  }
  throw new Error(`timed out waiting for ${what}${last ? `: ${String(last)}` : ''}`);
}

export interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/**
 * Runs the built CLI once (`sessionflow <args>`) to its end, in `cwd` (so no .env of the repo is
 * read) with only PATH, NODE_ENV development and `env`; killed after `timeoutMs`.
 */
export async function runCli(
  args: string[],
  env: Record<string, string>,
  cwd: string,
  timeoutMs = 60_000,
): Promise<CliResult> {
  const proc = spawn(process.execPath, [join(projectRoot(), 'dist/bin/sessionflow.js'), ...args], {
    cwd,
    env: { PATH: process.env.PATH, NODE_ENV: 'development', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  proc.stdout!.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
  proc.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const timer = setTimeout(() => proc.kill('SIGKILL'), timeoutMs);
  const code = await new Promise<number | null>((resolve, reject) => {
    proc.on('error', reject);
    proc.on('close', (exitCode) => resolve(exitCode));
  });
  clearTimeout(timer);
  return { code, stdout, stderr };
}
