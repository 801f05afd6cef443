// The transport ceiling for bench/inference.ts: a node:http server that reads
// and JSON-parses each request and answers a fixed v2 response, with no
// model. What the runtime reaches relative to this is the cost of inference,
// validation and batching; the rest is HTTP + JSON on this machine.
//
//   node bench/http-ceiling.ts <port>
import http from 'node:http';

const port = Number(process.argv[2]);
const answer = JSON.stringify({
  model_name: 'fraud',
  model_version: '1',
  outputs: [{ name: 'probabilities', datatype: 'FP32', shape: [1, 2], data: [0.5, 0.5] }],
});
http
  .createServer({ keepAliveTimeout: 65_000 }, (req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      JSON.parse(Buffer.concat(chunks).toString('utf8'));
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(answer) });
      res.end(answer);
    });
  })
  .listen(port, '127.0.0.1');
process.once('SIGTERM', () => process.exit(0));
