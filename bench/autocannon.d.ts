// autocannon ships no types; the part the benchmark uses.
declare module 'autocannon' {
  interface Request { method?: string; path?: string; body?: string; headers?: Record<string, string> }
  interface Options {
    url: string;
    duration?: number;
    connections?: number;
    requests?: Array<Request & { setupRequest?: (request: Request) => Request }>;
  }
  interface Result {
    requests: { average: number };
    latency: { p50: number; p99: number };
    non2xx: number;
    errors: number;
  }
  function autocannon(options: Options): Promise<Result>;
  export default autocannon;
}
