// The admission allow-lists (CEL + RE2 in schema.ts) read as JavaScript
// regular expressions: which paths they let through and which they refuse.
import { describe, expect, it } from 'vitest';
import { openAPIV3Schema } from '../../operator/schema/crd.ts';
import { collectValidations } from '../../operator/schema/openapi.ts';
import {
  crd,
  DEPLOYMENT_PATH_REGEX,
  INFERENCE_SERVICE_PATH_REGEX,
  INFERENCE_SERVICE_PATHS,
} from './schema.ts';
import { allowListRegExp } from './validate.ts';

describe('OptimizationLoop admission allow-lists', () => {
  const deployment = allowListRegExp(DEPLOYMENT_PATH_REGEX);
  const inferenceService = allowListRegExp(INFERENCE_SERVICE_PATH_REGEX);

  it('Deployment: replicas, container CPU/memory requests and limits, env values only', () => {
    for (const ok of [
      'spec.replicas',
      'spec.template.spec.containers[0].resources.requests.cpu',
      'spec.template.spec.containers[12].resources.limits.memory',
      'spec.template.spec.containers[0].env[3].value',
    ]) {
      expect(deployment.test(ok), ok).toBe(true);
    }
    for (const bad of [
      'spec.template.spec.containers[0].image',
      'spec.template.spec.containers[0].securityContext.privileged',
      'spec.template.spec.securityContext.runAsUser',
      'spec.template.spec.serviceAccountName',
      'spec.template.spec.containers[0].env[0].name',
      'spec.template.spec.containers[0].command[0]',
      'spec.template.spec.initContainers[0].resources.limits.cpu',
      'spec.replicasX',
      'xspec.replicas',
    ]) {
      expect(deployment.test(bad), bad).toBe(false);
    }
  });

  it('InferenceService: batching, threads and replica bounds only', () => {
    for (const ok of INFERENCE_SERVICE_PATHS) expect(inferenceService.test(ok), ok).toBe(true);
    for (const bad of ['spec.model.uri', 'spec.runtime.image', 'spec.rollout.canaryPercent']) {
      expect(inferenceService.test(bad), bad).toBe(false);
    }
  });

  it('puts both allow-lists on the spec as CEL rules reported on .parameters', () => {
    const rules = collectValidations(openAPIV3Schema(crd)).filter((v) => v.fieldPath === '.parameters');
    expect(rules.map((v) => v.rule)).toEqual([
      expect.stringContaining(DEPLOYMENT_PATH_REGEX),
      expect.stringContaining(INFERENCE_SERVICE_PATH_REGEX),
    ]);
    for (const v of rules) expect(v.message).toMatch(/each parameters\[\]\.path must be/);
  });
});
