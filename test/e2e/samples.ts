// Reads config/samples/ and re-targets the namespaced ones at a test's own
// namespace, so test files do not share objects.
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { parseAllDocuments, stringify } from 'yaml';
import { repo } from './support.ts';

export interface Sample {
  file: string;
  kind: string;
  name: string;
  namespaced: boolean;
  object: Record<string, unknown> & { metadata: { name: string; namespace?: string } };
}

type SampleTopics = {
  logging?: { kafka?: { topic: string } };
  triggers?: { kafka?: { topic: string } };
};

export function loadSamples(namespace: string, suffix = ''): Sample[] {
  const dir = path.join(repo, 'config/samples');
  const samples: Sample[] = [];
  for (const file of readdirSync(dir)
    .filter((f) => f.endsWith('.yaml'))
    .sort()) {
    for (const doc of parseAllDocuments(readFileSync(path.join(dir, file), 'utf8'))) {
      const object = doc.toJS() as Sample['object'] & { kind: string };
      if (!object) continue;
      const namespaced = object.metadata.namespace !== undefined;
      object.metadata.name = `${object.metadata.name}${suffix}`;
      if (namespaced) object.metadata.namespace = namespace;
      // topic names are cluster-wide in Kafka and start with the namespace (the name policy):
      // "ymera-demo.fraud-logs" becomes "<test namespace>.fraud-logs<suffix>"
      const retarget = (topic: string) => `${namespace}.${topic.slice(topic.indexOf('.') + 1)}${suffix}`;
      const spec = (object as { spec?: SampleTopics }).spec;
      if (spec?.logging?.kafka) spec.logging.kafka.topic = retarget(spec.logging.kafka.topic);
      if (spec?.triggers?.kafka) spec.triggers.kafka.topic = retarget(spec.triggers.kafka.topic);
      samples.push({ file, kind: object.kind, name: object.metadata.name, namespaced, object });
    }
  }
  return samples;
}

export const toYaml = (objects: unknown[]): string => objects.map((o) => stringify(o)).join('---\n');

/** kubectl resource argument for a sample, e.g. inferenceservices.ymera.io/name. */
export function resourceRef(sample: Sample): string[] {
  const ref = `${sample.kind.toLowerCase()}.ymera.io/${sample.name}`;
  return sample.namespaced ? ['-n', sample.object.metadata.namespace ?? '', ref] : [ref];
}
