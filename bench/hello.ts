/**
 * The HTTP baseline: a Fastify hello-world POST route with the project's own Fastify, in a
 * process of its own, under the same load generator as the product. It parses the JSON body
 * (as every route that reads a webhook does) and answers 200, storing nothing.
 *
 *   node dist/bench/hello.js   → prints {"msg":"hello is running","url":"http://127.0.0.1:<port>"}
 */
import Fastify from 'fastify';

const app = Fastify({ logger: false, bodyLimit: 1 << 20 });
app.post('/webhooks/:provider', async () => ({ ok: true }));
const url = await app.listen({ port: 0, host: '127.0.0.1' });
process.stdout.write(`${JSON.stringify({ msg: 'hello is running', url })}\n`);
for (const signal of ['SIGTERM', 'SIGINT'] as const)
  process.on(signal, () => void app.close().then(() => process.exit(0)));
