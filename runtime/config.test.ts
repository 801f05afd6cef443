import { describe, expect, it } from 'vitest';
import { ConfigError, DEFAULT_INFERENCE_THREAD, nameFromUri, parseFlags, resolveConfig } from './config.ts';

const sha = 'a'.repeat(64);

describe('resolveConfig', () => {
  it('reads the operator runtime.json', () => {
    const c = resolveConfig(
      {
        model: {
          name: 'fraud',
          uri: 's3://m/fraud.onnx',
          format: 'onnx',
          version: '3',
          sha256: sha.toUpperCase(),
        },
        batching: { maxBatchSize: 16, maxDelayMs: 4 },
        threads: 2,
      },
      {},
      { YMERA_NAMESPACE: 'ml', YMERA_INFERENCESERVICE: 'fraud-svc', YMERA_REVISION: 'canary' },
    );
    expect(c.model).toEqual({
      name: 'fraud',
      uri: 's3://m/fraud.onnx',
      format: 'onnx',
      version: '3',
      sha256: sha,
    });
    expect(c.batching).toEqual({ maxBatchSize: 16, maxDelayMs: 4, maxConcurrentBatches: 2 });
    expect(c.threads).toBe(2);
    expect(c.labels).toEqual({ namespace: 'ml', inferenceservice: 'fraud-svc', revision: 'canary' });
    expect(c.host).toBe('127.0.0.1');
    expect(c.maxBodyBytes).toBe(16 * 1024 * 1024);
  });

  it('flags beat env beat file; a config without batching disables it', () => {
    const file = { model: { uri: 'file:///a/b.onnx' } };
    expect(resolveConfig(file, {}, {}).batching.maxBatchSize).toBe(1);
    const c = resolveConfig(
      file,
      { port: '9000', 'max-batch-size': '8' },
      { YMERA_PORT: '7000', YMERA_HOST: '0.0.0.0' },
    );
    expect(c.port).toBe(9000);
    expect(c.host).toBe('0.0.0.0');
    expect(c.batching.maxBatchSize).toBe(8);
    expect(c.model.name).toBe('b');
  });

  it('flags alone, with defaults and kafka', () => {
    const c = resolveConfig(
      undefined,
      parseFlags(['--model', 'http://h/m.onnx', '--kafka-brokers', 'a:1, b:2', '--kafka-topic', 't']),
      {},
    );
    expect(c.batching.maxBatchSize).toBe(32);
    expect(c.kafka).toEqual({ brokers: ['a:1', 'b:2'], topic: 't', sampleRate: 1, bufferSize: 1000 });
  });

  it.each([
    [{}, {}, /no model/],
    [{ model: { uri: 'file:///m', format: 'pt' } }, {}, /format/],
    [{ model: { uri: 'file:///m', sha256: 'xyz' } }, {}, /sha256/],
    [{ model: { uri: 'file:///m' } }, { port: '70000' }, /port/],
    [{ model: { uri: 'file:///m' } }, { 'max-batch-size': '0' }, /maxBatchSize/],
    [{ model: { uri: 'file:///m' } }, { 'max-batch-size': '1.5' }, /integer/],
    [
      { model: { uri: 'file:///m' } },
      { 'kafka-sample-rate': '2', 'kafka-brokers': 'a:1', 'kafka-topic': 't' },
      /sampleRate/,
    ],
    [{ model: { uri: 'file:///m', name: 'a b' } }, {}, /model name/],
  ])('rejects %j %j', (file, flags, re) => {
    expect(() => resolveConfig(file, flags, {})).toThrow(ConfigError);
    expect(() => resolveConfig(file, flags, {})).toThrow(re);
  });

  it('inferenceThread: runtime.json, YMERA_INFERENCE_THREAD, --inference-thread; default from the bench', () => {
    const file = { model: { uri: 'file:///m.onnx' }, inferenceThread: 'main' };
    expect(resolveConfig({ model: file.model }, {}, {}).inferenceThread).toBe(DEFAULT_INFERENCE_THREAD);
    expect(resolveConfig(file, {}, {}).inferenceThread).toBe('main');
    expect(resolveConfig(file, {}, { YMERA_INFERENCE_THREAD: 'worker' }).inferenceThread).toBe('worker');
    expect(resolveConfig(file, {}, { YMERA_INFERENCE_THREAD: '' }).inferenceThread).toBe('main');
    expect(
      resolveConfig(file, parseFlags(['--inference-thread', 'main']), { YMERA_INFERENCE_THREAD: 'worker' })
        .inferenceThread,
    ).toBe('main');
    const allowed = /inferenceThread must be one of "worker", "main" \(got "gpu"\)/;
    expect(() => resolveConfig(file, { 'inference-thread': 'gpu' }, {})).toThrow(ConfigError);
    expect(() => resolveConfig(file, { 'inference-thread': 'gpu' }, {})).toThrow(allowed);
    expect(() => resolveConfig(file, {}, { YMERA_INFERENCE_THREAD: 'gpu' })).toThrow(allowed);
    expect(() => resolveConfig({ ...file, inferenceThread: 1 }, {}, {})).toThrow(
      /inferenceThread .*\(got 1\)/,
    );
  });

  it('maxConcurrentBatches: 2 with a worker, 1 on the event loop, unless configured', () => {
    const model = { uri: 'file:///m.onnx' };
    expect(resolveConfig({ model, inferenceThread: 'worker' }, {}, {}).batching.maxConcurrentBatches).toBe(2);
    expect(resolveConfig({ model, inferenceThread: 'main' }, {}, {}).batching.maxConcurrentBatches).toBe(1);
    expect(
      resolveConfig({ model, inferenceThread: 'worker', batching: { maxConcurrentBatches: 1 } }, {}, {})
        .batching.maxConcurrentBatches,
    ).toBe(1);
    expect(
      resolveConfig(
        { model },
        parseFlags(['--inference-thread', 'worker', '--max-concurrent-batches', '3']),
        {},
      ).batching.maxConcurrentBatches,
    ).toBe(3);
    expect(() => resolveConfig({ model, batching: { maxConcurrentBatches: 0 } }, {}, {})).toThrow(
      /maxConcurrentBatches/,
    );
  });

  it('executionProvider: cpu unless runtime.json, YMERA_EXECUTION_PROVIDER or the flag says cuda', () => {
    const model = { uri: 'file:///m.onnx' };
    expect(resolveConfig({ model }, {}, {}).executionProvider).toBe('cpu');
    expect(resolveConfig({ model, executionProvider: 'cuda' }, {}, {}).executionProvider).toBe('cuda');
    expect(resolveConfig({ model }, {}, { YMERA_EXECUTION_PROVIDER: 'cuda' }).executionProvider).toBe('cuda');
    expect(
      resolveConfig({ model, executionProvider: 'cuda' }, parseFlags(['--execution-provider', 'cpu']), {})
        .executionProvider,
    ).toBe('cpu');
    expect(() => resolveConfig({ model, executionProvider: 'rocm' }, {}, {})).toThrow(
      /executionProvider must be one of "cpu", "cuda" \(got "rocm"\)/,
    );
  });

  it('exits on a load failure with a termination message unless told to stay', () => {
    const model = { uri: 'file:///m.onnx' };
    const c = resolveConfig({ model }, {}, {});
    expect(c.onLoadFailure).toBe('exit');
    expect(c.terminationLog).toBe('/dev/termination-log');
    expect(resolveConfig({ model }, parseFlags(['--on-load-failure', 'stay']), {}).onLoadFailure).toBe(
      'stay',
    );
    expect(resolveConfig({ model }, {}, { YMERA_TERMINATION_LOG: '/tmp/t' }).terminationLog).toBe('/tmp/t');
    expect(() => resolveConfig({ model }, {}, { YMERA_ON_LOAD_FAILURE: 'retry' })).toThrow(
      /onLoadFailure must be one of "exit", "stay"/,
    );
  });

  it('binds to loopback unless in a pod or told otherwise', () => {
    const file = { model: { uri: 'file:///m.onnx' } };
    expect(resolveConfig(file, {}, {}).host).toBe('127.0.0.1');
    expect(resolveConfig(file, {}, { KUBERNETES_SERVICE_HOST: '10.0.0.1' }).host).toBe('0.0.0.0');
    expect(resolveConfig(file, { host: '127.0.0.1' }, { KUBERNETES_SERVICE_HOST: '10.0.0.1' }).host).toBe(
      '127.0.0.1',
    );
  });

  it('rejects unknown flags', () => {
    expect(() => parseFlags(['--nope'])).toThrow();
  });

  it('names a model after its file', () => {
    expect(nameFromUri('s3://bucket/models/fraud.onnx')).toBe('fraud');
    expect(nameFromUri('https://h/x/model.ONNX?sig=1')).toBe('model');
  });
});

describe('grpcPort', () => {
  it('is off by default; --grpc-port beats YMERA_GRPC_PORT; out of range is refused', () => {
    const m = { model: 'file:///m.onnx' };
    expect(resolveConfig(undefined, m, {}).grpcPort).toBeUndefined();
    expect(resolveConfig(undefined, m, { YMERA_GRPC_PORT: '8081' }).grpcPort).toBe(8081);
    expect(
      resolveConfig(undefined, parseFlags(['--model', 'file:///m.onnx', '--grpc-port', '0']), {
        YMERA_GRPC_PORT: '8081',
      }).grpcPort,
    ).toBe(0);
    expect(() => resolveConfig(undefined, m, { YMERA_GRPC_PORT: '70000' })).toThrow(
      /grpc port must be a number in \[0, 65535\]/,
    );
  });
});
