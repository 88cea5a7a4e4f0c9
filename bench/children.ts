/**
 * The benchmark's child processes: the product (`sessionflow run`, or one Kafka stage), the
 * Fastify baseline, the load generator, the bulk loader. Every child is tracked so that it is
 * killed when the benchmark exits, fails or is interrupted (Ctrl-C, SIGTERM).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { projectRoot } from '../lib/paths.js';

const children = new Set<ChildProcess>();
const cleanups = new Set<() => void>();

function killAll(): void {
  for (const child of children) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  children.clear();
  for (const cleanup of cleanups) {
    try {
      cleanup();
    } catch {
      // best effort on the way out
    }
  }
  cleanups.clear();
}

/** Runs `cleanup` when the benchmark exits or is interrupted, unless the returned function is called first. */
export function onExit(cleanup: () => void): () => void {
  cleanups.add(cleanup);
  return () => cleanups.delete(cleanup);
}

let installed = false;
/** Kills every child on exit, on an uncaught error and on Ctrl-C / SIGTERM. */
export function installCleanup(): void {
  if (installed) return;
  installed = true;
  process.on('exit', killAll);
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    process.on(signal, () => {
      process.stderr.write(`\nbench: ${signal}, stopping every child process\n`);
      killAll();
      process.exit(130);
    });
  }
}

function track(child: ChildProcess): ChildProcess {
  children.add(child);
  child.on('exit', () => children.delete(child));
  return child;
}

export const distPath = (...parts: string[]): string => join(projectRoot(), 'dist', ...parts);

export interface Server {
  name: string;
  url: string;
  proc: ChildProcess;
  output(): string;
  /** Max VmRSS seen by the sampler, in MiB. */
  maxRssMiB(): number;
  /** SIGTERM, then SIGKILL after `graceMs`; settles when the process is gone. */
  stop(graceMs?: number): Promise<void>;
}

export interface ServerOptions {
  name: string;
  /** Arguments to node: the script and its arguments. */
  args: string[];
  env: Record<string, string>;
  cwd: string;
  /** How long to wait for the start line (60 s). */
  startTimeoutMs?: number;
  /** Find the URL in the process output; the default reads sessionflow's "sessionflow is running" JSON line. */
  parseUrl?: (line: string) => string | undefined;
}

const sessionflowUrl = (line: string): string | undefined => {
  if (!line.includes('"sessionflow is running"')) return undefined;
  return (JSON.parse(line) as { url: string }).url;
};

/** Starts a long-running child (the product or a baseline server), resolves once it prints its URL. */
export async function startServer(options: ServerOptions): Promise<Server> {
  const proc = track(
    spawn(process.execPath, options.args, {
      cwd: options.cwd,
      env: { PATH: process.env.PATH ?? '', ...options.env },
      stdio: ['ignore', 'pipe', 'pipe'],
    }),
  );
  let out = '';
  // Keep the head and the tail of what it prints: enough to explain a failure, bounded in memory.
  const keep = (chunk: Buffer) => {
    out += chunk.toString();
    if (out.length > 200_000) out = `${out.slice(0, 20_000)}\n…\n${out.slice(-100_000)}`;
  };
  proc.stdout!.on('data', keep);
  proc.stderr!.on('data', keep);
  const exited = new Promise<void>((resolve) => proc.on('exit', () => resolve()));
  const parse = options.parseUrl ?? sessionflowUrl;
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => {
      proc.kill('SIGKILL');
      reject(
        new Error(`${options.name} did not start within ${options.startTimeoutMs ?? 60_000} ms:\n${out.slice(-4000)}`),
      );
    }, options.startTimeoutMs ?? 60_000);
    let buffer = '';
    proc.stdout!.on('data', (chunk: Buffer) => {
      buffer += chunk.toString();
      const lines = buffer.split('\n');
      buffer = lines.pop() ?? '';
      for (const line of lines) {
        const found = parse(line);
        if (found) {
          clearTimeout(timer);
          resolve(found);
        }
      }
    });
    void exited.then(() => {
      clearTimeout(timer);
      reject(new Error(`${options.name} exited (${proc.exitCode ?? proc.signalCode}):\n${out.slice(-4000)}`));
    });
  });
  let maxRss = 0;
  const sample = () => {
    const rss = vmRssKiB(proc.pid);
    if (rss > maxRss) maxRss = rss;
  };
  sample();
  const sampler = setInterval(sample, 250);
  sampler.unref();
  void exited.then(() => clearInterval(sampler));
  return {
    name: options.name,
    url,
    proc,
    output: () => out,
    maxRssMiB: () => maxRss / 1024,
    async stop(graceMs = 60_000) {
      clearInterval(sampler);
      if (proc.exitCode !== null || proc.signalCode !== null) return;
      proc.kill('SIGTERM');
      const timer = setTimeout(() => proc.kill('SIGKILL'), graceMs);
      await exited;
      clearTimeout(timer);
    },
  };
}

/** VmRSS of a process from /proc (KiB), 0 when it is gone or /proc is not there. */
export function vmRssKiB(pid: number | undefined): number {
  if (pid === undefined) return 0;
  try {
    const m = /^VmRSS:\s+(\d+)\s+kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) : 0;
  } catch {
    return 0;
  }
}

/** Runs a node script to its end and returns its stdout; killed after `timeoutMs`. */
export async function runScript(
  args: string[],
  options: { env?: Record<string, string>; cwd?: string; timeoutMs: number; onStderr?: (text: string) => void },
): Promise<string> {
  const proc = track(
    spawn(process.execPath, args, {
      cwd: options.cwd ?? projectRoot(),
      env: { PATH: process.env.PATH ?? '', ...options.env },
      stdio: ['ignore', 'pipe', 'pipe'],
    }),
  );
  let stdout = '';
  let stderr = '';
  proc.stdout!.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
  proc.stderr!.on('data', (chunk: Buffer) => {
    const text = chunk.toString();
    stderr = (stderr + text).slice(-8000);
    options.onStderr?.(text);
  });
  const timer = setTimeout(() => proc.kill('SIGKILL'), options.timeoutMs);
  const code = await new Promise<number | null>((resolve, reject) => {
    proc.on('error', reject);
    proc.on('close', (c) => resolve(c));
  });
  clearTimeout(timer);
  if (code !== 0) throw new Error(`${args.join(' ')} exited with ${code}:\n${stderr}`);
  return stdout;
}
