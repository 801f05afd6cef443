import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadFailureMessage, parseLoadFailure, writeTerminationMessage } from './termination.ts';

describe('loadFailureMessage / parseLoadFailure', () => {
  it('round-trips the reason and message', () => {
    const line = loadFailureMessage('Sha256Mismatch', 'expected 00, got ab');
    expect(line).toBe('ModelLoadFailed (Sha256Mismatch): expected 00, got ab');
    expect(parseLoadFailure(line)).toEqual({ reason: 'Sha256Mismatch', message: 'expected 00, got ab' });
  });
  it('keeps it on one line', () => {
    expect(loadFailureMessage('InvalidModel', 'bad\n  protobuf\nat 3')).toBe(
      'ModelLoadFailed (InvalidModel): bad protobuf at 3',
    );
  });
  it('never carries URL credentials', () => {
    const line = loadFailureMessage('FetchFailed', 'GET https://bob:s3cret@models.example/m.onnx: 404');
    expect(line).not.toContain('s3cret');
    expect(line).toContain('https://***@models.example/m.onnx');
  });
  it('stays within the 4096 bytes the kubelet keeps, without splitting a character', () => {
    const line = loadFailureMessage('InvalidModel', 'é'.repeat(5000));
    expect(Buffer.byteLength(line)).toBeLessThanOrEqual(4096);
    expect(line.endsWith('é...')).toBe(true);
    expect(parseLoadFailure(line)?.reason).toBe('InvalidModel');
  });
  it('is undefined for anything else', () => {
    expect(parseLoadFailure(undefined)).toBeUndefined();
    expect(parseLoadFailure('')).toBeUndefined();
    expect(parseLoadFailure('panic: out of memory')).toBeUndefined();
    expect(parseLoadFailure('ModelLoadFailed: no reason')).toBeUndefined();
  });
});

describe('writeTerminationMessage', () => {
  it('writes into a file Kubernetes mounted and creates none where there is none', () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'ymera-term-'));
    const file = path.join(dir, 'termination-log');
    expect(writeTerminationMessage(file, 'x')).toBe(false);
    writeFileSync(file, '');
    expect(writeTerminationMessage(file, 'ModelLoadFailed (InvalidModel): m')).toBe(true);
    expect(readFileSync(file, 'utf8')).toBe('ModelLoadFailed (InvalidModel): m');
  });
});
